//! Herald's Teams emulator: one actix-web server standing in for Entra ID,
//! Microsoft Graph and the Bot Connector, as teams-platform.md describes
//! them, down to field names, status codes, error bodies and rate limits.
//!
//! It must never depend on a Herald crate: Herald talks to it exactly as it
//! talks to Microsoft, over HTTP, so nothing in Herald may know it is here.

pub mod apps;
mod botframework;
mod connector;
mod control;
pub mod directory;
mod entra;
mod graph;
mod keys;
pub mod limits;
mod reads;
mod rng;
mod search;
mod state;
mod teams_client;
mod wire;

use std::net::{SocketAddr, TcpListener};

use actix_web::{App, HttpServer, dev::ServerHandle, web};
use serde::{Deserialize, Serialize};

pub use directory::DirectorySpec;
pub use state::{Behaviour, BehaviourPatch, ReadBehaviour};

/// Everything fixed at start. Limits, latency and faults can change later
/// through `POST /_emulator/config`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EmulatorConfig {
    pub listen: SocketAddr,
    /// The base URL clients use, when it differs from `http://{listen}`.
    pub public_url: Option<String>,
    pub tenant_id: String,
    pub app_id: String,
    pub app_secret: String,
    /// The `id` of the app manifest, which Graph calls `externalId`.
    pub manifest_id: String,
    pub directory: DirectorySpec,
    pub behaviour: Behaviour,
    /// actix-web worker threads.
    pub workers: usize,
}

pub const DEFAULT_TENANT_ID: &str = "9f3c1b6e-2a47-4d8e-b5f0-7e21c4a9d001";
pub const DEFAULT_APP_ID: &str = "3b8e5d7a-6c41-4f2e-9a1d-2c7f4b8e6a01";
/// Not a secret: the emulator prints it for anyone to configure Herald with.
pub const DEFAULT_APP_SECRET: &str = "emulator-app-secret";

impl Default for EmulatorConfig {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 3978)),
            public_url: None,
            tenant_id: DEFAULT_TENANT_ID.to_owned(),
            app_id: DEFAULT_APP_ID.to_owned(),
            app_secret: DEFAULT_APP_SECRET.to_owned(),
            manifest_id: DEFAULT_APP_ID.to_owned(),
            directory: DirectorySpec::default(),
            behaviour: Behaviour::default(),
            workers: 2,
        }
    }
}

/// The addresses and credentials Herald needs to use a running emulator.
#[derive(Debug, Clone, Serialize)]
pub struct EmulatorUrls {
    pub base: String,
    /// Replaces `https://login.microsoftonline.com`.
    pub login: String,
    pub tenant_openid: String,
    /// Replaces `https://graph.microsoft.com`.
    pub graph: String,
    /// The Bot Connector `serviceUrl`.
    pub service_url: String,
    pub bot_openid: String,
    pub control: String,
    pub tenant_id: String,
    pub app_id: String,
    pub app_secret: String,
    pub manifest_id: String,
    /// Other applications of the tenant, which call Herald's API.
    pub client_apps: Vec<apps::ClientApp>,
    /// The page that plays the Teams client (`teams_client.rs`), on a host
    /// name other than Herald's when both run on this machine
    /// (`localhost` for `127.0.0.1`), so that a tab framed in it is
    /// really cross-site, as Herald is inside Teams.
    pub teams_client: String,
    /// The origins that page is served from: a tab trusts them as Teams.
    pub teams_client_origins: Vec<String>,
}

impl EmulatorUrls {
    fn new(base: &str, config: &EmulatorConfig) -> Self {
        Self {
            base: base.to_owned(),
            login: base.to_owned(),
            tenant_openid: format!(
                "{base}/{}/v2.0/.well-known/openid-configuration",
                config.tenant_id
            ),
            graph: format!("{base}/graph"),
            service_url: format!("{base}/teams/"),
            bot_openid: format!("{base}/botframework/v1/.well-known/openidconfiguration"),
            control: format!("{base}/_emulator"),
            tenant_id: config.tenant_id.clone(),
            app_id: config.app_id.clone(),
            app_secret: config.app_secret.clone(),
            manifest_id: config.manifest_id.clone(),
            client_apps: apps::client_apps(&config.app_id),
            teams_client: format!("{}/_emulator/teams-client", other_site(base)),
            teams_client_origins: [base.to_owned(), other_site(base)]
                .into_iter()
                .collect::<std::collections::BTreeSet<_>>()
                .into_iter()
                .collect(),
        }
    }
}

/// The same server under `localhost` when it is addressed as `127.0.0.1`:
/// browsers count the two as different sites.
fn other_site(base: &str) -> String {
    base.replacen("://127.0.0.1:", "://localhost:", 1)
}

/// A started emulator. Dropping it does not stop it; call `stop`.
pub struct RunningEmulator {
    pub urls: EmulatorUrls,
    pub local_addr: SocketAddr,
    state: web::Data<state::Emulator>,
    handle: ServerHandle,
    server: tokio::task::JoinHandle<std::io::Result<()>>,
}

/// An account that signs in to Herald's web UI.
#[derive(Debug, Clone)]
pub struct StaffAccount {
    pub user_principal_name: String,
    pub display_name: String,
    pub roles: Vec<String>,
}

impl RunningEmulator {
    /// The seeded accounts with Herald's app roles, for signing in.
    pub fn staff_accounts(&self) -> Vec<StaffAccount> {
        let world = self.state.world();
        world
            .directory
            .present_users()
            .filter(|(_, user)| !user.staff_roles.is_empty())
            .map(|(_, user)| StaffAccount {
                user_principal_name: user.user_principal_name.clone(),
                display_name: user.display_name.clone(),
                roles: user.staff_roles.clone(),
            })
            .collect()
    }

    pub async fn stop(self) {
        self.handle.stop(true).await;
        let _ = self.server.await;
    }
}

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("cannot listen on {address}")]
    Bind {
        address: SocketAddr,
        source: std::io::Error,
    },
    #[error("invalid emulator setting: {0}")]
    Invalid(String),
}

/// Binds (port 0 picks a free port), generates the directory and serves.
pub async fn start(config: EmulatorConfig) -> Result<RunningEmulator, StartError> {
    config.behaviour.validate().map_err(StartError::Invalid)?;
    let listener = TcpListener::bind(config.listen).map_err(|source| StartError::Bind {
        address: config.listen,
        source,
    })?;
    let local_addr = listener.local_addr().map_err(|source| StartError::Bind {
        address: config.listen,
        source,
    })?;
    let base = config
        .public_url
        .clone()
        .unwrap_or_else(|| format!("http://{local_addr}"))
        .trim_end_matches('/')
        .to_owned();
    let urls = EmulatorUrls::new(&base, &config);
    let shared = web::Data::new(state::Emulator::new(&config, urls.clone()));
    let workers = config.workers.max(1);
    let state = shared.clone();
    let server = HttpServer::new(move || {
        App::new()
            .app_data(shared.clone())
            .app_data(web::PayloadConfig::new(4 * 1024 * 1024))
            .configure(entra::routes)
            .configure(botframework::routes)
            .configure(graph::routes)
            .configure(connector::routes)
            // Before `control`, whose `/_emulator` scope would take its paths.
            .configure(teams_client::routes)
            .configure(control::routes)
    })
    .workers(workers)
    .disable_signals()
    .listen(listener)
    .map_err(|source| StartError::Bind {
        address: local_addr,
        source,
    })?
    .run();
    let handle = server.handle();
    let server = tokio::spawn(server);
    tracing::info!(%base, "teams emulator listening");
    Ok(RunningEmulator {
        urls,
        local_addr,
        state,
        handle,
        server,
    })
}
