//! Test support shared by Herald's integration tests: a fresh PostgreSQL
//! database and queue prefix per test, a Teams emulator on port 0, and the
//! real roles started through `herald-app`. Waiting is always on a
//! condition with a deadline, never a fixed sleep.
#![allow(clippy::unwrap_used, clippy::expect_used)]

pub mod api;
pub mod contract;
pub mod images;
pub mod web;

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;

use herald_config::Settings;
use herald_domain::audience::Target;
use herald_domain::{Audience, ChangeStatus, Content, NotificationId, RecipientId, Title};
use herald_store::{Person, Progress, Store};
use secrecy::ExposeSecret;
use serde_json::Value;
use sqlx::Connection;
use teams_emulator::{EmulatorConfig, RunningEmulator};

/// An emulator config for tests: port 0, `users` people, no flaky users
/// unless a test asks for them.
pub fn emulator_config(users: usize) -> EmulatorConfig {
    let mut config = EmulatorConfig {
        listen: "127.0.0.1:0".parse().unwrap(),
        ..EmulatorConfig::default()
    };
    config.directory.users = users;
    config.directory.installed_fraction = 1.0;
    config.directory.blocked_fraction = 0.0;
    config.directory.departing_fraction = 0.0;
    config.directory.guest_fraction = 0.0;
    config.directory.disabled_fraction = 0.0;
    config
}

/// Herald's settings as its binary reads them: defaults, then the file
/// `HERALD_CONFIG` names (or ./herald.toml), then `HERALD_*` variables. So
/// tests and benchmarks run against whichever PostgreSQL and RabbitMQ
/// those name, as every role does.
pub fn configured() -> anyhow::Result<Settings> {
    let file = std::env::var_os("HERALD_CONFIG").map(PathBuf::from);
    let variables =
        std::env::vars().filter(|(name, _)| !HARNESS_VARIABLES.contains(&name.as_str()));
    herald_config::load(file.as_deref(), variables).context("loading Herald's settings")
}

/// Variables that steer the tests, not Herald: the settings loader, which
/// refuses unknown `HERALD_*` names to catch typos, never sees them.
const HARNESS_VARIABLES: [&str; 1] = ["HERALD_SCREENSHOTS"];

/// The configured settings with a database and a queue prefix of their
/// own (`herald_{purpose}_{uuid}`, `{purpose}-{uuid}`) on the configured
/// servers, so runs side by side never meet.
pub fn own_settings(purpose: &str) -> anyhow::Result<Settings> {
    let mut settings = configured()?;
    let unique = uuid::Uuid::new_v4().simple();
    settings.database.url = database_url(&settings, &format!("herald_{purpose}_{unique}"))?.into();
    settings.broker.prefix = format!("{purpose}-{unique}");
    Ok(settings)
}

/// The configured database URL with another database named in it.
fn database_url(settings: &Settings, database: &str) -> anyhow::Result<String> {
    let mut url =
        url::Url::parse(settings.database.url.expose_secret()).context("reading database.url")?;
    url.set_path(&format!("/{database}"));
    Ok(url.into())
}

/// The configured server's `postgres` database, where databases are made
/// and dropped.
pub fn admin_url(settings: &Settings) -> String {
    database_url(settings, "postgres").expect("database.url is checked when it is loaded")
}

/// Settings for a test: its own database and queue prefix, Microsoft at
/// the emulator, health on port 0.
pub fn settings(urls: &teams_emulator::EmulatorUrls) -> Settings {
    let mut settings = own_settings("test").expect("Herald's settings for a test");
    settings.database.max_connections = 5;
    settings.ops.listen = "127.0.0.1:0".parse().unwrap();
    settings.web.listen = "127.0.0.1:0".parse().unwrap();
    herald_app::use_emulator(&mut settings, urls);
    settings
}

/// Logs to the test's output when `RUST_LOG` is set.
pub fn init_logs() {
    if std::env::var("RUST_LOG").is_ok() {
        let _ = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
            .with_test_writer()
            .try_init();
    }
}

pub struct TestHerald {
    pub emulator: RunningEmulator,
    pub settings: Settings,
    pub running: Option<herald_app::Running>,
    pub http: reqwest::Client,
}

impl TestHerald {
    /// An emulator and every role, the emulator posting its install
    /// activities to Herald's bot endpoint. `tweak` adjusts the settings.
    pub async fn start(config: EmulatorConfig, tweak: impl FnOnce(&mut Settings)) -> Self {
        init_logs();
        let emulator = teams_emulator::start(config).await.unwrap();
        let mut settings = settings(&emulator.urls);
        settings.send.rate_per_second = 1_000.0;
        tweak(&mut settings);
        let running = herald_app::start(&settings, herald_app::Roles::ALL)
            .await
            .unwrap();
        let endpoint = format!(
            "http://{}/api/messages",
            running.web.as_ref().unwrap().address
        );
        let herald = Self {
            emulator,
            settings,
            running: Some(running),
            http: reqwest::Client::new(),
        };
        herald
            .configure_emulator(serde_json::json!({"bot_endpoint": endpoint}))
            .await;
        herald
    }

    /// The same, with only the roles asked for in this process.
    pub async fn start_roles(
        config: EmulatorConfig,
        roles: herald_app::Roles,
        tweak: impl FnOnce(&mut Settings),
    ) -> Self {
        let emulator = teams_emulator::start(config).await.unwrap();
        let mut settings = settings(&emulator.urls);
        tweak(&mut settings);
        let running = herald_app::start(&settings, roles).await.unwrap();
        Self {
            emulator,
            settings,
            running: Some(running),
            http: reqwest::Client::new(),
        }
    }

    /// Where the web UI is served.
    pub fn web_base(&self) -> String {
        format!(
            "http://{}",
            self.running().web.as_ref().expect("web role").address
        )
    }

    /// The emulator's staff accounts: (upn, id) of the admin and two authors.
    pub async fn staff(&self) -> Vec<(String, String)> {
        self.directory_users().await[..3]
            .iter()
            .map(|u| {
                (
                    u["userPrincipalName"].as_str().unwrap().to_owned(),
                    u["id"].as_str().unwrap().to_owned(),
                )
            })
            .collect()
    }

    pub fn running(&self) -> &herald_app::Running {
        self.running.as_ref().expect("running")
    }

    pub fn store(&self) -> &Store {
        &self.running().infrastructure.store
    }

    pub fn broker(&self) -> &herald_queue::Broker {
        &self.running().infrastructure.broker
    }

    /// Submits an announcement to these people (UPNs or object ids).
    pub async fn send_to(
        &self,
        content: &Content,
        people: &[String],
    ) -> Result<NotificationId, herald_prepare::SubmitError> {
        let target = Target::users_from_csv("test.csv", &people.join("\n")).unwrap();
        let audience = Audience::new(vec![target]).unwrap();
        herald_prepare::submit(self.store(), self.broker(), content, &audience, "tests").await
    }

    pub async fn progress(&self, id: NotificationId) -> Progress {
        self.store().progress(id).await.unwrap().unwrap()
    }

    /// Waits until `done` holds for the notification's progress.
    pub async fn wait_for(
        &self,
        id: NotificationId,
        within: Duration,
        done: impl Fn(&Progress) -> bool,
    ) -> Progress {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            let progress = self.progress(id).await;
            if done(&progress) {
                return progress;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "timed out; last progress: {progress:?}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Waits until the announcement's latest edit or recall is complete.
    pub async fn wait_for_change(&self, id: NotificationId, within: Duration) {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            let changes = self.store().changes(id).await.unwrap();
            if changes.last().is_some_and(|c| c.completed_at.is_some()) {
                return;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "the change did not complete: {:?}",
                self.store().change_counts(id).await.unwrap()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// How many deliveries the latest change left in this state.
    pub async fn change_count(&self, id: NotificationId, status: ChangeStatus) -> i64 {
        self.store()
            .change_counts(id)
            .await
            .unwrap()
            .iter()
            .find(|(s, _)| *s == status)
            .map_or(0, |(_, n)| *n)
    }

    /// Waits until the notification has ended.
    pub async fn wait_until_ended(&self, id: NotificationId, within: Duration) -> Progress {
        self.wait_for(id, within, |p| p.notification.status.is_final())
            .await
    }

    pub async fn emulator_get(&self, path: &str) -> Value {
        let url = format!("{}{path}", self.emulator.urls.control);
        self.http
            .get(url)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    pub async fn emulator_stats(&self) -> Value {
        self.emulator_get("/stats").await
    }

    /// UPNs of `count` people who are not staff, from the `skip`th on.
    pub async fn people(&self, skip: usize, count: usize) -> Vec<String> {
        self.directory_users().await[3 + skip..3 + skip + count]
            .iter()
            .map(|u| u["userPrincipalName"].as_str().unwrap().to_owned())
            .collect()
    }

    /// The Entra object id of the person with this user principal name.
    pub async fn user_id(&self, upn: &str) -> String {
        self.directory_users()
            .await
            .iter()
            .find(|u| u["userPrincipalName"] == upn)
            .unwrap_or_else(|| panic!("{upn} is not in the directory"))["id"]
            .as_str()
            .unwrap()
            .to_owned()
    }

    pub async fn directory_users(&self) -> Vec<Value> {
        self.emulator_get("/directory").await["users"]
            .as_array()
            .unwrap()
            .clone()
    }

    /// The emulated person writes `text` to the bot in their chat; the
    /// bot must take it.
    pub async fn say(&self, user_id: &str, text: &str) {
        let response = self
            .http
            .post(format!(
                "{}/users/{user_id}/say",
                self.emulator.urls.control
            ))
            .json(&serde_json::json!({ "text": text }))
            .send()
            .await
            .unwrap();
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["delivered"], true, "the bot accepted {text:?}");
    }

    pub async fn messages(&self, user_id: &str) -> Vec<Value> {
        self.emulator_get(&format!("/users/{user_id}/messages"))
            .await["messages"]
            .as_array()
            .unwrap()
            .clone()
    }

    pub async fn configure_emulator(&self, change: Value) {
        let url = format!("{}/config", self.emulator.urls.control);
        let response = self.http.post(url).json(&change).send().await.unwrap();
        assert_eq!(response.status(), 200, "{}", response.text().await.unwrap());
    }

    /// Stops everything and removes the test's database and queues.
    pub async fn stop(mut self) {
        if let Some(running) = self.running.take() {
            let broker = running.infrastructure.broker.clone();
            running.stop().await;
            let _ = broker.delete_topology().await;
        }
        drop_database(&self.settings).await;
        self.emulator.stop().await;
    }
}

/// Removes the settings' database, as the role that made it.
pub async fn drop_database(settings: &Settings) {
    let Ok(url) = url::Url::parse(settings.database.url.expose_secret()) else {
        return;
    };
    let name = url.path().trim_start_matches('/').replace('"', "\"\"");
    if let Ok(mut admin) = sqlx::PgConnection::connect(&admin_url(settings)).await {
        let _ = sqlx::query(sqlx::AssertSqlSafe(format!(
            "drop database if exists \"{name}\" with (force)"
        )))
        .execute(&mut admin)
        .await;
    }
}

/// Stores everyone's chat, as after an earlier broadcast, so the figures
/// are about sending.
pub async fn seed_known_conversations(
    store: &Store,
    urls: &teams_emulator::EmulatorUrls,
    count: usize,
) -> anyhow::Result<Vec<String>> {
    let directory: Value = reqwest::get(format!("{}/directory", urls.control))
        .await?
        .json()
        .await?;
    let users = directory["users"]
        .as_array()
        .context("directory without users")?;
    let mut people = Vec::with_capacity(count);
    let mut ids = Vec::with_capacity(count);
    for user in users.iter().filter(|u| u["chatId"].is_string()).take(count) {
        let id: uuid::Uuid = user["id"].as_str().context("user id")?.parse()?;
        ids.push(id.to_string());
        people.push(Person {
            id: RecipientId(id),
            user_principal_name: user["userPrincipalName"]
                .as_str()
                .unwrap_or_default()
                .to_owned(),
            display_name: user["displayName"].as_str().unwrap_or_default().to_owned(),
            user_type: "Member".to_owned(),
            account_enabled: true,
            tenant_id: urls.tenant_id.clone(),
            conversation_id: user["chatId"].as_str().map(str::to_owned),
            service_url: Some(urls.service_url.clone()),
        });
    }
    for chunk in people.chunks(5_000) {
        store.upsert_people(chunk).await?;
    }
    Ok(ids)
}

pub fn content(title: &str) -> Content {
    let mut content = Content::new(Title::parse(title).unwrap());
    content.summary = Some("Sent by Herald's tests.".to_owned());
    content
}
