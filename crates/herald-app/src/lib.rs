//! Herald's composition root: turns settings into running roles. The
//! `herald` binary and the tests start Herald through here, so both run the
//! same wiring. No business logic lives here.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use futures_util::FutureExt;
use herald_config::{MicrosoftSettings, Settings};
use herald_microsoft::{
    BotConnector, Credentials, Graph, GraphLimits, GraphPacing, Throttles, TokenCache,
};
use herald_ops::{Metrics, OpsServer, ReadinessCheck};
use herald_prepare::{PrepareSettings, Preparer};
use herald_queue::{Broker, Topology};
use herald_send::{SendSettings, SendWorker};
use herald_store::Store;
use secrecy::ExposeSecret;
use tokio::sync::watch;
use tokio::task::JoinHandle;

pub mod rates;
pub mod report;

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error(
        "Microsoft credentials are not configured: set microsoft.tenant_id, microsoft.app_id and microsoft.app_secret, or run `herald up`, which starts the Teams emulator"
    )]
    NoCredentials,
    #[error("cannot open the database")]
    Database(#[from] herald_store::StoreError),
    #[error("cannot reach RabbitMQ")]
    Broker(#[from] herald_queue::QueueError),
    #[error("cannot start the Teams emulator")]
    Emulator(#[from] teams_emulator::StartError),
    #[error("cannot serve the bot endpoint on {address}")]
    Web {
        address: SocketAddr,
        source: std::io::Error,
    },
    #[error("cannot serve health and metrics on {address}")]
    Ops {
        address: SocketAddr,
        source: std::io::Error,
    },
}

/// PostgreSQL and RabbitMQ, connected, migrated and declared.
#[derive(Clone)]
pub struct Infrastructure {
    pub store: Store,
    pub broker: Arc<Broker>,
}

pub async fn infrastructure(settings: &Settings) -> Result<Infrastructure, AppError> {
    let store = Store::connect(
        settings.database.url.expose_secret(),
        settings.database.max_connections,
    )
    .await?;
    store.migrate().await?;
    let urls = settings.broker.url.as_slice();
    let broker = Broker::new(
        urls.iter()
            .map(|url| url.expose_secret().to_owned())
            .collect(),
        Topology::new(settings.broker.prefix.clone()),
    );
    broker.wait_until_ready(Duration::from_secs(60)).await?;
    Ok(Infrastructure { store, broker })
}

/// The Microsoft clients, sharing one HTTP client and one token cache.
#[derive(Clone)]
pub struct Microsoft {
    pub graph: Arc<Graph>,
    /// The Graph client's throttles, shared between prepare-workers.
    pub graph_throttles: Arc<Throttles>,
    pub connector: Arc<BotConnector>,
    pub prepare: PrepareSettings,
}

pub fn microsoft(settings: &Settings) -> Result<Microsoft, AppError> {
    let ms = &settings.microsoft;
    let (Some(tenant_id), Some(app_id), Some(secret)) = (&ms.tenant_id, &ms.app_id, &ms.app_secret)
    else {
        return Err(AppError::NoCredentials);
    };
    let http = herald_microsoft::http_client();
    let credentials = Credentials {
        login_url: ms.login_url.clone(),
        tenant_id: tenant_id.clone(),
        app_id: app_id.clone(),
        app_secret: secret.clone(),
        bot_token_tenant: if ms.single_tenant_bot {
            tenant_id.clone()
        } else {
            "botframework.com".to_owned()
        },
    };
    let tokens = Arc::new(TokenCache::new(http.clone(), credentials));
    let graph_throttles = Arc::new(Throttles::default());
    let pacing = GraphPacing {
        throttles: graph_throttles.clone(),
        limits: graph_limits(&settings.graph),
        tenant: tenant_id.clone(),
    };
    Ok(Microsoft {
        graph: Arc::new(Graph::new(
            http.clone(),
            tokens.clone(),
            &ms.graph_url,
            pacing,
        )),
        graph_throttles,
        connector: Arc::new(BotConnector::new(http, tokens)),
        prepare: PrepareSettings {
            manifest_id: ms.manifest_id.clone().unwrap_or_else(|| app_id.clone()),
            service_url: ms.service_url.clone(),
            tenant_id: tenant_id.clone(),
            graph_concurrency: settings.prepare.graph_concurrency,
            publish_batch: settings.prepare.publish_batch,
            delta_page_size: settings.prepare.delta_page_size,
        },
    })
}

fn graph_limits(graph: &herald_config::GraphSettings) -> GraphLimits {
    GraphLimits {
        installs: graph.installs_per_second,
        app_reads: graph.app_reads_per_second,
        team_reads: graph.team_reads_per_second,
        team_member_reads: graph.team_member_reads_per_second,
        directory_units: graph.directory_units_per_second,
        headroom: graph.headroom,
        // Graph's fixed per-team limit, not a setting: it is the same for
        // every tenant (teams-platform.md §3).
        ..GraphLimits::default()
    }
}

/// The web UI's settings: staff sign in with the app's own registration.
pub fn ui_settings(
    settings: &Settings,
    address: std::net::SocketAddr,
) -> Result<herald_web::ui::UiSettings, AppError> {
    let ms = &settings.microsoft;
    let (Some(tenant_id), Some(app_id), Some(secret)) = (&ms.tenant_id, &ms.app_id, &ms.app_secret)
    else {
        return Err(AppError::NoCredentials);
    };
    let web = &settings.web;
    Ok(herald_web::ui::UiSettings {
        public_url: match &web.public_url {
            Some(url) => url.trim_end_matches('/').to_owned(),
            None => format!("http://{address}"),
        },
        lifetime: herald_store::SessionLifetime {
            idle: time::Duration::minutes(i64::from(web.session_idle_minutes)),
            absolute: time::Duration::hours(i64::from(web.session_hours)),
        },
        authors: web.authors.clone(),
        admins: web.admins.clone(),
        access_contact: web.access_contact.clone(),
        frame_ancestors: web.frame_ancestors.clone(),
        teams_host_origins: web.teams_host_origins.clone(),
        sign_in: herald_web::ui::SignInSettings {
            issuer: format!("{}/{tenant_id}/v2.0", ms.login_url.trim_end_matches('/')),
            tenant_id: tenant_id.clone(),
            client_id: app_id.clone(),
            client_secret: secret.clone(),
            key_refresh: key_refresh(ms),
        },
        send_rate_per_second: settings.send.rate_per_second * (1.0 - settings.send.headroom),
        api_requests_per_minute: web.api_requests_per_minute,
        teams_manifest_id: ms.manifest_id.clone().unwrap_or_else(|| app_id.clone()),
    })
}

/// How the Bot Framework's and Entra ID's signing keys are kept fresh.
fn key_refresh(settings: &MicrosoftSettings) -> herald_web::KeyRefresh {
    herald_web::KeyRefresh {
        min_interval: Duration::from_secs(settings.key_refetch_seconds),
        ..herald_web::KeyRefresh::default()
    }
}

/// Points the Microsoft settings at a running emulator, and lets its page
/// that plays the Teams client frame the web UI as Teams does.
pub fn use_emulator(settings: &mut Settings, urls: &teams_emulator::EmulatorUrls) {
    let web = &mut settings.web;
    for origin in &urls.teams_client_origins {
        if !web.teams_host_origins.contains(origin) {
            web.teams_host_origins.push(origin.clone());
        }
        if !web.frame_ancestors.contains(origin) {
            web.frame_ancestors.push(origin.clone());
        }
    }
    let settings = &mut settings.microsoft;
    settings.tenant_id = Some(urls.tenant_id.clone());
    settings.app_id = Some(urls.app_id.clone());
    settings.app_secret = Some(urls.app_secret.clone().into());
    settings.manifest_id = Some(urls.manifest_id.clone());
    settings.login_url = urls.login.clone();
    settings.graph_url = urls.graph.clone();
    settings.bot_openid_url = urls.bot_openid.clone();
    settings.service_url = urls.service_url.clone();
}

/// The environment that gives another `herald` process these settings'
/// database, queues, Microsoft endpoints and send rate (for workers started
/// as processes by benchmarks and tests).
pub fn worker_environment(settings: &Settings) -> Vec<(&'static str, String)> {
    let ms = &settings.microsoft;
    let mut environment = vec![
        (
            "HERALD_DATABASE__URL",
            settings.database.url.expose_secret().to_owned(),
        ),
        ("HERALD_BROKER__PREFIX", settings.broker.prefix.clone()),
        ("HERALD_MICROSOFT__LOGIN_URL", ms.login_url.clone()),
        ("HERALD_MICROSOFT__GRAPH_URL", ms.graph_url.clone()),
        ("HERALD_MICROSOFT__SERVICE_URL", ms.service_url.clone()),
        (
            "HERALD_SEND__RATE_PER_SECOND",
            settings.send.rate_per_second.to_string(),
        ),
    ];
    let credentials = [
        ("HERALD_MICROSOFT__TENANT_ID", ms.tenant_id.clone()),
        ("HERALD_MICROSOFT__APP_ID", ms.app_id.clone()),
        (
            "HERALD_MICROSOFT__APP_SECRET",
            ms.app_secret.as_ref().map(|s| s.expose_secret().to_owned()),
        ),
    ];
    environment.extend(
        credentials
            .into_iter()
            .filter_map(|(name, value)| Some((name, value?))),
    );
    environment
}

pub fn send_settings(settings: &Settings) -> SendSettings {
    let send = &settings.send;
    SendSettings {
        tenant_rate: send.rate_per_second,
        headroom: send.headroom,
        max_attempts: send.max_attempts,
        concurrency: send.concurrency,
        prefetch: send.prefetch,
        batch: send.batch,
    }
}

/// Ready when the database and the broker answer.
pub fn readiness(infrastructure: &Infrastructure) -> ReadinessCheck {
    let infrastructure = infrastructure.clone();
    Arc::new(move || {
        let infrastructure = infrastructure.clone();
        async move {
            infrastructure
                .store
                .ping()
                .await
                .map_err(|e| format!("database: {}", herald_domain::chain(&e)))?;
            if !infrastructure.broker.is_connected().await {
                return Err("RabbitMQ: not connected".to_owned());
            }
            Ok(())
        }
        .boxed()
    })
}

/// Which roles a process runs.
#[derive(Debug, Clone, Copy)]
pub struct Roles {
    pub prepare: bool,
    pub send: bool,
    /// The bot endpoint (and, later, the UI).
    pub web: bool,
}

impl Roles {
    pub const ALL: Roles = Roles {
        prepare: true,
        send: true,
        web: true,
    };
    /// Only the database (migrated) and the queues (declared): what
    /// submitting an announcement needs, as a benchmark or tool does.
    pub const NONE: Roles = Roles {
        prepare: false,
        send: false,
        web: false,
    };
}

/// Running roles, stopped together.
pub struct Running {
    pub infrastructure: Infrastructure,
    pub metrics: Arc<Metrics>,
    pub ops: OpsServer,
    pub web: Option<herald_web::WebServer>,
    pub emulator: Option<teams_emulator::RunningEmulator>,
    shutdown: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
}

impl Running {
    /// Stops taking work, lets the posts in flight finish, and stops.
    pub async fn stop(self) {
        let _ = self.shutdown.send(true);
        for task in self.tasks {
            let _ = tokio::time::timeout(Duration::from_secs(30), task).await;
        }
        self.ops.stop().await;
        if let Some(web) = self.web {
            web.stop().await;
        }
        self.infrastructure.broker.close().await;
        if let Some(emulator) = self.emulator {
            emulator.stop().await;
        }
    }
}

/// Starts the given roles against the configured Microsoft endpoints.
pub async fn start(settings: &Settings, roles: Roles) -> Result<Running, AppError> {
    let microsoft = microsoft(settings)?;
    let infrastructure = infrastructure(settings).await?;
    let metrics = Metrics::new();
    let (shutdown, stop) = watch::channel(false);
    let mut tasks = Vec::new();
    if roles.prepare {
        let sharing = rates::RateSharing::new(
            infrastructure.store.clone(),
            microsoft.graph_throttles.clone(),
            "prepare",
            metrics.clone(),
        );
        sharing.join().await;
        tasks.push(tokio::spawn(sharing.run(stop.clone())));
        let preparer = Arc::new(Preparer {
            store: infrastructure.store.clone(),
            broker: infrastructure.broker.clone(),
            graph: microsoft.graph.clone(),
            settings: microsoft.prepare.clone(),
            bot_misses: Default::default(),
            catalog: Default::default(),
            publishing: Default::default(),
        });
        tasks.push(tokio::spawn(herald_prepare::authoring::run_scheduler(
            infrastructure.store.clone(),
            infrastructure.broker.clone(),
            stop.clone(),
        )));
        let mut subscription = infrastructure
            .broker
            .subscribe(infrastructure.broker.topology().prepare_queue(), 4);
        let mut stop = stop.clone();
        tasks.push(tokio::spawn(async move {
            tokio::select! {
                () = preparer.run(&mut subscription) => {}
                _ = stop.wait_for(|s| *s) => {}
            }
            subscription.close().await;
        }));
    }
    if roles.send {
        let throttles = Arc::new(Throttles::default());
        let sharing = rates::RateSharing::new(
            infrastructure.store.clone(),
            throttles.clone(),
            "send",
            metrics.clone(),
        );
        // Take this worker's share before the first post, once the other
        // workers have taken their smaller ones, and keep it until the posts
        // in flight at shutdown are done.
        sharing.join().await;
        let (sharing_stop, sharing_stopped) = watch::channel(false);
        tasks.push(tokio::spawn(sharing.run(sharing_stopped)));
        let worker = SendWorker::new(
            infrastructure.store.clone(),
            infrastructure.broker.clone(),
            microsoft.connector.clone(),
            throttles,
            send_settings(settings),
            metrics.clone(),
        );
        tasks.push(tokio::spawn(herald_send::run_sweep(
            infrastructure.store.clone(),
            infrastructure.broker.clone(),
            stop.clone(),
        )));
        let stop = stop.clone();
        tasks.push(tokio::spawn(async move {
            worker.run(stop).await;
            let _ = sharing_stop.send(true);
        }));
    }
    let web = if roles.web {
        let bot = Arc::new(herald_web::Bot {
            auth: herald_web::BotAuthenticator::new(
                herald_microsoft::http_client(),
                settings.microsoft.bot_openid_url.clone(),
                settings.microsoft.app_id.clone().unwrap_or_default(),
                settings.microsoft.bot_issuer.clone(),
            )
            .with_key_refresh(key_refresh(&settings.microsoft)),
            store: infrastructure.store.clone(),
            receipts: herald_web::Receipts::start(infrastructure.store.clone()),
            connector: microsoft.connector.clone(),
            settings: herald_web::BotSettings {
                welcome: settings.bot.welcome,
                tenant_id: microsoft.prepare.tenant_id.clone(),
            },
        });
        let web_error = |source| AppError::Web {
            address: settings.web.listen,
            source,
        };
        // Bound first, so that sign-in knows the port when it was 0.
        let listener = std::net::TcpListener::bind(settings.web.listen).map_err(web_error)?;
        let address = listener.local_addr().map_err(web_error)?;
        let ui = Arc::new(herald_web::ui::Ui::new(
            infrastructure.store.clone(),
            infrastructure.broker.clone(),
            microsoft.graph.clone(),
            ui_settings(settings, address)?,
        ));
        let server = herald_web::serve(listener, bot, Some(ui)).map_err(web_error)?;
        tasks.push(tokio::spawn(herald_web::webhooks::run(
            infrastructure.store.clone(),
            herald_web::webhooks::WebhookSettings {
                first_retry: Duration::from_secs(u64::from(settings.web.webhook_retry_seconds)),
                timeout: Duration::from_secs(u64::from(settings.web.webhook_timeout_seconds)),
            },
            stop.clone(),
        )));
        Some(server)
    } else {
        None
    };
    let ops = herald_ops::serve(
        settings.ops.listen,
        metrics.clone(),
        readiness(&infrastructure),
    )
    .map_err(|source| AppError::Ops {
        address: settings.ops.listen,
        source,
    })?;
    Ok(Running {
        infrastructure,
        metrics,
        ops,
        web,
        emulator: None,
        shutdown,
        tasks,
    })
}

/// `herald up`: every role in one process, with the embedded emulator
/// when no Microsoft credentials are configured.
pub async fn up(
    mut settings: Settings,
    emulator: teams_emulator::EmulatorConfig,
) -> Result<Running, AppError> {
    let mut started = None;
    if !settings.microsoft.has_credentials() {
        let running = teams_emulator::start(emulator).await?;
        use_emulator(&mut settings, &running.urls);
        started = Some(running);
    }
    let mut running = start(&settings, Roles::ALL).await?;
    if let (Some(emulator), Some(web)) = (&started, &running.web) {
        // Teams posts install activities to the bot endpoint; so does the
        // emulator once it knows where that is.
        let endpoint = format!("http://{}/api/messages", web.address);
        let _ = reqwest::Client::new()
            .post(format!("{}/config", emulator.urls.control))
            .json(&serde_json::json!({"bot_endpoint": endpoint}))
            .send()
            .await;
    }
    running.emulator = started;
    Ok(running)
}

#[cfg(test)]
mod tests {
    use std::error::Error;

    use herald_domain::chain;

    use super::AppError;

    fn disk_full() -> std::io::Error {
        std::io::Error::other("disk full")
    }

    fn store_error() -> herald_store::StoreError {
        sqlx::Error::Io(disk_full()).into()
    }

    fn bad_json() -> serde_json::Error {
        serde_json::from_str::<u8>("x").unwrap_err()
    }

    /// Each boundary's error names its own step and leaves its causes to
    /// the reporter, so the log line holds every cause exactly once.
    #[test]
    fn every_boundarys_error_prints_its_causes_once() {
        let json = bad_json().to_string();
        let address = "127.0.0.1:1".parse().unwrap();
        let errors: Vec<(Box<dyn Error + 'static>, &str)> = vec![
            (Box::new(store_error()), "disk full"),
            (Box::new(AppError::Database(store_error())), "disk full"),
            (
                Box::new(herald_prepare::SubmitError::Store(store_error())),
                "disk full",
            ),
            (Box::new(herald_queue::QueueError::from(bad_json())), &json),
            (
                Box::new(herald_prepare::SubmitError::Queue(bad_json().into())),
                &json,
            ),
            (
                Box::new(AppError::Web {
                    address,
                    source: disk_full(),
                }),
                "disk full",
            ),
            (
                Box::new(AppError::Emulator(teams_emulator::StartError::Bind {
                    address,
                    source: disk_full(),
                })),
                "disk full",
            ),
            (
                Box::new(herald_config::ConfigError::Read {
                    path: "/etc/herald.toml".into(),
                    source: disk_full(),
                }),
                "disk full",
            ),
        ];
        for (error, cause) in errors {
            let line = chain(error.as_ref()).to_string();
            assert_eq!(line.matches(cause).count(), 1, "{line}");
            assert!(!line.contains(": :"), "{line}");
        }
    }
}
