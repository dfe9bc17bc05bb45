//! Herald's typed settings.
//!
//! Layers, later ones winning: the defaults below, then a TOML file
//! (`herald.toml` in the working directory, or the one `--config` names),
//! then `HERALD_*` environment variables, where a double underscore
//! separates a section from a key (`HERALD_EMULATOR__USERS=5000`). Unknown
//! keys are an error in every layer, and the error names the layer.
//! Secrets are `SecretString`s, which never print.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct Settings {
    pub log: LogSettings,
    pub database: DatabaseSettings,
    pub broker: BrokerSettings,
    pub microsoft: MicrosoftSettings,
    pub prepare: PrepareSettings,
    pub graph: GraphSettings,
    pub send: SendSettings,
    pub ops: OpsSettings,
    pub web: WebSettings,
    pub bot: BotSettings,
    pub emulator: EmulatorSettings,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WebSettings {
    /// Where `herald web` serves the pages and the bot endpoint `/api/messages`.
    pub listen: SocketAddr,
    /// The address people open Herald at (`https://herald.contoso.com`):
    /// sign-in returns there, and https makes session cookies Secure.
    /// Unset: `http://` and the listen address.
    pub public_url: Option<String>,
    /// A session ends after this many minutes without a request.
    pub session_idle_minutes: u32,
    /// A session ends this many hours after sign-in, however busy.
    pub session_hours: u32,
    /// Fallback for tokens without Herald's app roles: user principal
    /// names, or Entra group ids from the token's `groups` claim, that are
    /// authors or admins.
    pub authors: Vec<String>,
    pub admins: Vec<String>,
    /// Who to ask for access, shown to people without a role.
    pub access_contact: String,
    /// Origins allowed to frame the pages (CSP `frame-ancestors`): Teams.
    pub frame_ancestors: Vec<String>,
    /// Origins of Teams clients the tab trusts besides those the Teams
    /// JavaScript library knows itself (Teams, Outlook, Microsoft 365),
    /// e.g. a sovereign cloud's; each must also be in `frame_ancestors`.
    /// `herald up` adds the embedded emulator's, and only it.
    pub teams_host_origins: Vec<String>,
    /// Requests each API key or Entra application may make to `/api/v1`
    /// per minute (a burst of that many, refilled evenly); more get 429.
    pub api_requests_per_minute: u32,
    /// Seconds before a failed webhook is tried again; the wait doubles
    /// after each failure (at most an hour), for a day.
    pub webhook_retry_seconds: u32,
    /// Seconds a webhook's receiver has to answer before the attempt
    /// counts as failed.
    pub webhook_timeout_seconds: u32,
}

impl Default for WebSettings {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            public_url: None,
            session_idle_minutes: 8 * 60,
            session_hours: 24,
            authors: Vec::new(),
            admins: Vec::new(),
            access_contact: "your Microsoft 365 administrator".to_owned(),
            frame_ancestors: [
                "https://teams.microsoft.com",
                "https://*.teams.microsoft.com",
                "https://*.cloud.microsoft",
                "https://*.office.com",
                "https://teams.live.com",
            ]
            .map(str::to_owned)
            .to_vec(),
            teams_host_origins: Vec::new(),
            api_requests_per_minute: 600,
            webhook_retry_seconds: 10,
            webhook_timeout_seconds: 10,
        }
    }
}

impl WebSettings {
    fn check(&self) -> Result<(), String> {
        if let Some(url) = &self.public_url {
            let parsed = url::Url::parse(url).map_err(|e| {
                format!("web.public_url {url:?} is not a URL ({e}); write it like https://herald.contoso.com")
            })?;
            if !matches!(parsed.scheme(), "http" | "https") || parsed.host_str().is_none() {
                return Err(format!(
                    "web.public_url {url:?} must be an http or https address with a host"
                ));
            }
        }
        if self.webhook_timeout_seconds == 0 {
            return Err(
                "web.webhook_timeout_seconds must be at least 1 (10 is the default)".to_owned(),
            );
        }
        if self.webhook_retry_seconds == 0 {
            return Err(
                "web.webhook_retry_seconds must be at least 1 (10 is the default)".to_owned(),
            );
        }
        if self.api_requests_per_minute == 0 {
            return Err(
                "web.api_requests_per_minute must be at least 1 (600 lets a program make 10 requests a second)"
                    .to_owned(),
            );
        }
        if self.session_idle_minutes == 0 || self.session_hours == 0 {
            return Err(
                "web.session_idle_minutes and web.session_hours must be at least 1".to_owned(),
            );
        }
        if let Some(bad) = self
            .frame_ancestors
            .iter()
            .find(|o| o.contains([' ', ';', ',', '\'', '"']))
        {
            return Err(format!(
                "web.frame_ancestors entry {bad:?} is not an origin: give one origin per entry, like https://teams.microsoft.com"
            ));
        }
        for origin in &self.teams_host_origins {
            let parsed = url::Url::parse(origin).ok().filter(|u| {
                matches!(u.scheme(), "http" | "https")
                    && u.host_str().is_some()
                    && u.path() == "/"
                    && u.query().is_none()
            });
            if parsed.is_none() || origin.ends_with('/') {
                return Err(format!(
                    "web.teams_host_origins entry {origin:?} is not an origin: write scheme and host only, like https://teams.microsoft.us"
                ));
            }
            if !self.frame_ancestors.contains(origin) {
                return Err(format!(
                    "web.teams_host_origins entry {origin:?} may not frame Herald: add it to web.frame_ancestors too"
                ));
            }
        }
        Ok(())
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BotSettings {
    /// Welcome people who install the app themselves, and teams it is added to.
    pub welcome: bool,
}

impl Default for BotSettings {
    fn default() -> Self {
        Self { welcome: true }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DatabaseSettings {
    /// A PostgreSQL URL; the database is created when missing.
    pub url: SecretString,
    pub max_connections: u32,
}

impl Default for DatabaseSettings {
    fn default() -> Self {
        Self {
            url: "postgres://postgres:postgres@127.0.0.1:5432/herald".into(),
            max_connections: 10,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BrokerSettings {
    /// One AMQP URL, or the URLs of a cluster's nodes.
    pub url: BrokerUrls,
    /// Prefix of every exchange and queue name.
    pub prefix: String,
}

impl Default for BrokerSettings {
    fn default() -> Self {
        Self {
            url: BrokerUrls(vec!["amqp://guest:guest@127.0.0.1:5672/%2f".into()]),
            prefix: "herald".to_owned(),
        }
    }
}

/// The broker's nodes: never none, each an amqp or amqps URL with a host.
/// Written as one URL (`url = "amqp://..."`) or a list (`url = ["amqp://...",
/// "amqp://..."]`), so that a later layer replaces the whole setting and no
/// separator can clash with a character of a password.
#[derive(Debug, Clone)]
pub struct BrokerUrls(Vec<SecretString>);

impl BrokerUrls {
    /// Checks each URL; errors name `broker.url` and the entry, never the URL.
    pub fn new(urls: Vec<SecretString>) -> Result<Self, String> {
        if urls.is_empty() {
            return Err(
                "broker.url is an empty list: give one AMQP URL, or one per node of the cluster"
                    .to_owned(),
            );
        }
        for (index, url) in urls.iter().enumerate() {
            check_amqp_url(url.expose_secret()).map_err(|problem| {
                let entry = match urls.len() {
                    1 => String::new(),
                    n => format!(" entry {} of {n}", index + 1),
                };
                format!(
                    "broker.url{entry} {problem}; write it like amqp://user:password@host:5672/%2f"
                )
            })?;
        }
        Ok(Self(urls))
    }

    pub fn as_slice(&self) -> &[SecretString] {
        &self.0
    }
}

/// Why `url` is no AMQP URL, in words that never repeat it (it holds a password).
fn check_amqp_url(url: &str) -> Result<(), String> {
    let parsed = url::Url::parse(url).map_err(|e| format!("is not a URL ({e})"))?;
    if !matches!(parsed.scheme(), "amqp" | "amqps") {
        return Err(format!(
            "has the scheme {:?}, not amqp or amqps",
            parsed.scheme()
        ));
    }
    if parsed.host_str().is_none_or(str::is_empty) {
        return Err("has no host".to_owned());
    }
    Ok(())
}

impl<'de> Deserialize<'de> for BrokerUrls {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum OneOrMany {
            One(SecretString),
            Many(Vec<SecretString>),
        }
        let urls = match OneOrMany::deserialize(deserializer).map_err(|_| {
            serde::de::Error::custom("broker.url must be an AMQP URL or a list of AMQP URLs")
        })? {
            OneOrMany::One(url) => vec![url],
            OneOrMany::Many(urls) => urls,
        };
        Self::new(urls).map_err(serde::de::Error::custom)
    }
}

/// Keys are fetched at least this often when tokens name unknown keys, so
/// that a rotation is seen within the hour.
const MAX_KEY_REFETCH_SECONDS: u64 = 3600;

/// Where Microsoft is. Without a tenant id, app id and secret, `herald up`
/// runs the Teams emulator and points these at it.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MicrosoftSettings {
    pub tenant_id: Option<String>,
    pub app_id: Option<String>,
    pub app_secret: Option<SecretString>,
    /// The Teams app manifest's id; defaults to the app id.
    pub manifest_id: Option<String>,
    /// Single-tenant bots get Bot Framework tokens from their own tenant.
    pub single_tenant_bot: bool,
    pub login_url: String,
    pub graph_url: String,
    pub bot_openid_url: String,
    /// The issuer of the Bot Framework's tokens in the bot's cloud: public
    /// `https://api.botframework.com`, US Government `https://api.botframework.us`.
    pub bot_issuer: String,
    /// The Bot Connector URL for conversations found through Graph.
    pub service_url: String,
    /// The least time between two fetches of a signing key set (the Bot
    /// Framework's, Entra ID's) when a token names a key Herald does not
    /// know: tokens anyone can forge must not make Herald hammer Microsoft.
    /// Tests set 0 to see a key rotation at once.
    pub key_refetch_seconds: u64,
}

impl Default for MicrosoftSettings {
    fn default() -> Self {
        Self {
            tenant_id: None,
            app_id: None,
            app_secret: None,
            manifest_id: None,
            single_tenant_bot: false,
            login_url: "https://login.microsoftonline.com".to_owned(),
            graph_url: "https://graph.microsoft.com".to_owned(),
            bot_openid_url: "https://login.botframework.com/v1/.well-known/openidconfiguration"
                .to_owned(),
            bot_issuer: "https://api.botframework.com".to_owned(),
            service_url: "https://smba.trafficmanager.net/teams/".to_owned(),
            key_refetch_seconds: 10,
        }
    }
}

impl MicrosoftSettings {
    /// Whether real credentials are configured.
    pub fn has_credentials(&self) -> bool {
        self.tenant_id.is_some() && self.app_id.is_some() && self.app_secret.is_some()
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PrepareSettings {
    /// Graph requests in flight at once.
    pub graph_concurrency: usize,
    /// Send messages published per batch.
    pub publish_batch: usize,
    /// Users per page of Graph's users/delta (`Prefer: odata.maxpagesize`):
    /// Graph's largest, 999, syncs 100,000 people in about 101 calls.
    pub delta_page_size: u16,
}

/// The largest page Graph serves.
pub const GRAPH_MAX_PAGE: u16 = 999;

impl Default for PrepareSettings {
    fn default() -> Self {
        Self {
            graph_concurrency: 8,
            publish_batch: 1_000,
            delta_page_size: GRAPH_MAX_PAGE,
        }
    }
}

/// Graph's limits per app and tenant (teams-platform.md §3), shared by all
/// prepare-workers; Herald paces each kind of call under its limit.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct GraphSettings {
    pub installs_per_second: f64,
    /// GET installedApps and their chat.
    pub app_reads_per_second: f64,
    pub team_reads_per_second: f64,
    pub team_member_reads_per_second: f64,
    /// Directory reads weigh 1 to 5 units; the budget is 3,500, 5,000 or
    /// 8,000 units per 10 s by tenant size (under 50, up to 500, more).
    pub directory_units_per_second: f64,
    /// Share of each limit left unused.
    pub headroom: f64,
}

impl Default for GraphSettings {
    fn default() -> Self {
        Self {
            installs_per_second: 30.0,
            app_reads_per_second: 30.0,
            team_reads_per_second: 30.0,
            team_member_reads_per_second: 60.0,
            directory_units_per_second: 800.0,
            headroom: 0.01,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SendSettings {
    /// Teams' limit per app and tenant, shared by all send-workers.
    pub rate_per_second: f64,
    /// Share of the limit left unused (0.03 = send at 97 %).
    pub headroom: f64,
    pub max_attempts: u32,
    /// Posts in flight per worker.
    pub concurrency: usize,
    /// Unacknowledged messages per worker.
    pub prefetch: u16,
    /// Outcomes committed per transaction.
    pub batch: usize,
}

impl Default for SendSettings {
    fn default() -> Self {
        Self {
            rate_per_second: 50.0,
            headroom: 0.03,
            max_attempts: 6,
            concurrency: 256,
            prefetch: 500,
            batch: 200,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct OpsSettings {
    /// Where `/healthz`, `/readyz` and `/metrics` are served (port 0 picks one).
    pub listen: SocketAddr,
}

impl Default for OpsSettings {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 9464)),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable lines, for a terminal.
    #[default]
    Pretty,
    /// One JSON object per line, for log collectors.
    Json,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogSettings {
    /// A `tracing` filter such as `info` or `herald=debug,actix_web=warn`.
    pub filter: String,
    pub format: LogFormat,
}

impl Default for LogSettings {
    fn default() -> Self {
        Self {
            filter: "info".to_owned(),
            format: LogFormat::Pretty,
        }
    }
}

/// The Teams emulator that `herald emulator` starts.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EmulatorSettings {
    pub listen: SocketAddr,
    pub users: usize,
    pub teams: usize,
    pub groups: usize,
    pub seed: u64,
    pub tenant_id: Option<String>,
    pub app_id: Option<String>,
    pub app_secret: Option<SecretString>,
    /// Where the emulator posts install activities (Herald's `/api/messages`).
    pub bot_endpoint: Option<String>,
    /// Bot Connector requests per second per tenant; 0 turns the limit off.
    pub global_rps: u32,
    /// Added latency `[p50, p99]` in milliseconds; `[0, 0]` for none.
    pub latency_ms: [u64; 2],
    /// Share of requests answered 502/503/504.
    pub fault_rate: f64,
    /// Emulated people read their 1:1 chats by themselves and Teams sends
    /// read receipts, so demos show a read curve.
    pub reads: bool,
    /// Median seconds from delivery to reading.
    pub read_median_seconds: f64,
    /// Share of people who never read (or turned receipts off).
    pub never_read_share: f64,
}

impl Default for EmulatorSettings {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 3978)),
            users: 1_000,
            teams: 5,
            groups: 5,
            seed: 1,
            tenant_id: None,
            app_id: None,
            app_secret: None,
            bot_endpoint: None,
            global_rps: 50,
            latency_ms: [0, 0],
            fault_rate: 0.0,
            reads: true,
            read_median_seconds: 30.0,
            never_read_share: 0.25,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read the config file {path}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("the config file {path} is not valid TOML")]
    Syntax {
        path: PathBuf,
        source: Box<toml::de::Error>,
    },
    #[error("the config file {path} has a wrong setting: {message}")]
    File { path: PathBuf, message: String },
    #[error("the settings do not work together: {0}")]
    Invalid(String),
    #[error(
        "the environment variable {variable} is not a valid setting: {message} (use HERALD_SECTION__KEY, e.g. HERALD_EMULATOR__USERS=5000)"
    )]
    Environment { variable: String, message: String },
}

/// The file read when no path is given, if it exists.
pub const DEFAULT_FILE: &str = "herald.toml";

/// Loads the settings from an optional explicit file and the given
/// environment (pass `std::env::vars()`).
pub fn load(
    file: Option<&Path>,
    environment: impl IntoIterator<Item = (String, String)>,
) -> Result<Settings, ConfigError> {
    let mut table = match file {
        Some(path) => read_file(path)?,
        None if Path::new(DEFAULT_FILE).exists() => read_file(Path::new(DEFAULT_FILE))?,
        None => toml::Table::new(),
    };
    let mut variables: Vec<(String, String)> = environment
        .into_iter()
        .filter(|(name, _)| name.starts_with("HERALD_") && name != "HERALD_CONFIG")
        .collect();
    variables.sort();
    for (variable, value) in variables {
        overlay(&mut table, &variable, &value)
            .and_then(|()| parse(&table).map(drop))
            .map_err(|message| ConfigError::Environment {
                variable: variable.clone(),
                message,
            })?;
    }
    let settings = parse(&table).map_err(|message| ConfigError::Environment {
        variable: "HERALD_*".to_owned(),
        message,
    })?;
    settings.check().map_err(ConfigError::Invalid)?;
    Ok(settings)
}

/// Whether one `HERALD_SECTION__KEY` variable names a setting and its value
/// has that setting's type, taken alone: the checks that weigh several
/// settings together (credentials that go in threes, say) are `load`'s.
/// For tools that check deployment files, whose variables are spread over
/// several files. `HERALD_CONFIG` names the file and passes.
pub fn check_variable(variable: &str, value: &str) -> Result<(), ConfigError> {
    if variable == "HERALD_CONFIG" {
        return Ok(());
    }
    let error = |message: String| ConfigError::Environment {
        variable: variable.to_owned(),
        message,
    };
    if !variable.starts_with("HERALD_") {
        return Err(error(
            "not a Herald variable: they start with HERALD_".to_owned(),
        ));
    }
    let mut table = toml::Table::new();
    overlay(&mut table, variable, value).map_err(error)?;
    parse(&table).map(drop).map_err(error)
}

impl GraphSettings {
    fn check(&self) -> Result<(), String> {
        let rates = [
            ("installs_per_second", self.installs_per_second),
            ("app_reads_per_second", self.app_reads_per_second),
            ("team_reads_per_second", self.team_reads_per_second),
            (
                "team_member_reads_per_second",
                self.team_member_reads_per_second,
            ),
            (
                "directory_units_per_second",
                self.directory_units_per_second,
            ),
        ];
        for (name, rate) in rates {
            if !rate.is_finite() || rate <= 0.0 {
                return Err(format!("graph.{name} must be above 0, got {rate}"));
            }
        }
        if !(0.0..0.9).contains(&self.headroom) {
            return Err(format!(
                "graph.headroom must be from 0 up to 0.9, got {}",
                self.headroom
            ));
        }
        Ok(())
    }
}

impl Settings {
    /// Values that parse but cannot work.
    fn check(&self) -> Result<(), String> {
        self.web.check()?;
        let send = &self.send;
        if !send.rate_per_second.is_finite() || send.rate_per_second <= 0.0 {
            return Err(format!(
                "send.rate_per_second must be above 0, got {}",
                send.rate_per_second
            ));
        }
        if !(0.0..0.9).contains(&send.headroom) {
            return Err(format!(
                "send.headroom must be from 0 up to 0.9, got {}",
                send.headroom
            ));
        }
        if send.max_attempts == 0 || send.concurrency == 0 || send.prefetch == 0 || send.batch == 0
        {
            return Err("send.max_attempts, send.concurrency, send.prefetch and send.batch must be at least 1".to_owned());
        }
        if self.prepare.graph_concurrency == 0 || self.prepare.publish_batch == 0 {
            return Err(
                "prepare.graph_concurrency and prepare.publish_batch must be at least 1".to_owned(),
            );
        }
        if !(1..=GRAPH_MAX_PAGE).contains(&self.prepare.delta_page_size) {
            return Err(format!(
                "prepare.delta_page_size must be from 1 to {GRAPH_MAX_PAGE} (Graph's largest page), got {}",
                self.prepare.delta_page_size
            ));
        }
        self.graph.check()?;
        let issuer = &self.microsoft.bot_issuer;
        // Compared with the tokens' `iss` as is, so a trailing slash would refuse them all.
        if !issuer.starts_with("https://")
            || issuer.ends_with('/')
            || issuer.contains(char::is_whitespace)
        {
            return Err(format!(
                "microsoft.bot_issuer must be an https URL without a trailing slash, such as https://api.botframework.com, got {issuer:?}"
            ));
        }
        if self.microsoft.key_refetch_seconds > MAX_KEY_REFETCH_SECONDS {
            return Err(format!(
                "microsoft.key_refetch_seconds must be at most {MAX_KEY_REFETCH_SECONDS} (an hour), got {}",
                self.microsoft.key_refetch_seconds
            ));
        }
        if self.broker.prefix.trim().is_empty() {
            return Err("broker.prefix must not be empty".to_owned());
        }
        let partial = [
            self.microsoft.tenant_id.is_some(),
            self.microsoft.app_id.is_some(),
            self.microsoft.app_secret.is_some(),
        ];
        if partial.iter().any(|set| *set) && !partial.iter().all(|set| *set) {
            return Err("microsoft.tenant_id, microsoft.app_id and microsoft.app_secret go together: set all three, or none to use the emulator".to_owned());
        }
        Ok(())
    }
}

fn read_file(path: &Path) -> Result<toml::Table, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        path: path.to_owned(),
        source,
    })?;
    let table: toml::Table = text.parse().map_err(|source| ConfigError::Syntax {
        path: path.to_owned(),
        source: Box::new(source),
    })?;
    parse(&table).map_err(|message| ConfigError::File {
        path: path.to_owned(),
        message,
    })?;
    Ok(table)
}

fn parse(table: &toml::Table) -> Result<Settings, String> {
    toml::Value::Table(table.clone())
        .try_into::<Settings>()
        .map_err(|e| e.message().to_owned())
}

/// Puts `HERALD_A__B=value` at `a.b`. The value is read as TOML when it is
/// valid TOML (numbers, booleans, arrays) and as a plain string otherwise.
fn overlay(table: &mut toml::Table, variable: &str, raw: &str) -> Result<(), String> {
    let path: Vec<String> = variable["HERALD_".len()..]
        .split("__")
        .map(str::to_lowercase)
        .collect();
    if path.iter().any(String::is_empty) {
        return Err("empty section or key name".to_owned());
    }
    let value = format!("value = {raw}")
        .parse::<toml::Table>()
        .ok()
        .and_then(|mut t| t.remove("value"))
        .unwrap_or_else(|| toml::Value::String(raw.to_owned()));
    let (key, sections) = path.split_last().ok_or("no key")?;
    let mut current = table;
    for section in sections {
        current = current
            .entry(section.clone())
            .or_insert_with(|| toml::Value::Table(toml::Table::new()))
            .as_table_mut()
            .ok_or_else(|| format!("`{section}` is a value, not a section"))?;
    }
    current.insert(key.clone(), value);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    fn file(text: &str) -> tempfile_path::TempFile {
        tempfile_path::TempFile::with(text)
    }

    /// A file under the target directory, removed on drop.
    mod tempfile_path {
        pub struct TempFile(pub std::path::PathBuf);
        impl TempFile {
            pub fn with(text: &str) -> Self {
                let path = std::env::temp_dir().join(format!(
                    "herald-config-{}-{}.toml",
                    std::process::id(),
                    text.len() ^ (text.as_ptr() as usize)
                ));
                std::fs::write(&path, text).unwrap();
                Self(path)
            }
        }
        impl Drop for TempFile {
            fn drop(&mut self) {
                let _ = std::fs::remove_file(&self.0);
            }
        }
    }

    #[test]
    fn defaults_apply_without_file_or_environment() {
        let settings = load(None, env(&[])).unwrap();
        assert_eq!(settings.emulator.users, 1_000);
        assert_eq!(settings.log.format, LogFormat::Pretty);
        assert_eq!(settings.prepare.delta_page_size, 999);
    }

    #[test]
    fn environment_wins_over_file_and_file_over_defaults() {
        let f = file("[emulator]\nusers = 20\nteams = 3\n[log]\nformat = \"json\"\n");
        let settings = load(Some(&f.0), env(&[("HERALD_EMULATOR__USERS", "40")])).unwrap();
        assert_eq!(settings.emulator.users, 40);
        assert_eq!(settings.emulator.teams, 3);
        assert_eq!(settings.log.format, LogFormat::Json);
    }

    #[test]
    fn environment_values_can_be_arrays_and_strings() {
        let settings = load(
            None,
            env(&[
                ("HERALD_EMULATOR__LATENCY_MS", "[150, 1000]"),
                ("HERALD_EMULATOR__TENANT_ID", "contoso-tenant"),
                ("PATH", "/usr/bin"),
            ]),
        )
        .unwrap();
        assert_eq!(settings.emulator.latency_ms, [150, 1000]);
        assert_eq!(
            settings.emulator.tenant_id.as_deref(),
            Some("contoso-tenant")
        );
    }

    #[test]
    fn unknown_keys_are_errors_that_name_their_source() {
        let f = file("[emulator]\nuserz = 20\n");
        let error = load(Some(&f.0), env(&[])).unwrap_err().to_string();
        assert!(
            error.contains("userz") && error.contains(".toml"),
            "{error}"
        );

        let error = load(None, env(&[("HERALD_EMULATOR__USERZ", "1")]))
            .unwrap_err()
            .to_string();
        assert!(
            error.contains("HERALD_EMULATOR__USERZ") && error.contains("userz"),
            "{error}"
        );

        let error = load(None, env(&[("HERALD_NOPE", "1")]))
            .unwrap_err()
            .to_string();
        assert!(error.contains("HERALD_NOPE"), "{error}");
    }

    #[test]
    fn wrong_types_and_bad_toml_are_explained() {
        let error = load(None, env(&[("HERALD_EMULATOR__USERS", "many")]))
            .unwrap_err()
            .to_string();
        assert!(error.contains("HERALD_EMULATOR__USERS"), "{error}");
        let f = file("[emulator\nusers = 1");
        assert!(matches!(
            load(Some(&f.0), env(&[])),
            Err(ConfigError::Syntax { .. })
        ));
        let missing = Path::new("/nonexistent/herald.toml");
        assert!(matches!(
            load(Some(missing), env(&[])),
            Err(ConfigError::Read { .. })
        ));
    }

    #[test]
    fn impossible_values_are_refused() {
        let error = load(None, env(&[("HERALD_SEND__HEADROOM", "2.0")]))
            .unwrap_err()
            .to_string();
        assert!(error.contains("send.headroom"), "{error}");
        let error = load(None, env(&[("HERALD_GRAPH__INSTALLS_PER_SECOND", "0")]))
            .unwrap_err()
            .to_string();
        assert!(error.contains("graph.installs_per_second"), "{error}");
        let error = load(None, env(&[("HERALD_MICROSOFT__TENANT_ID", "t")]))
            .unwrap_err()
            .to_string();
        assert!(error.contains("all three"), "{error}");
        for size in ["0", "1000"] {
            let error = load(None, env(&[("HERALD_PREPARE__DELTA_PAGE_SIZE", size)]))
                .unwrap_err()
                .to_string();
            assert!(
                error.contains("prepare.delta_page_size must be from 1 to 999"),
                "{error}"
            );
        }
    }

    #[test]
    fn the_bot_issuer_defaults_to_the_public_cloud_and_follows_the_configured_one() {
        let settings = load(None, env(&[])).unwrap();
        assert_eq!(
            settings.microsoft.bot_issuer,
            "https://api.botframework.com"
        );
        let f = file("[microsoft]\nbot_issuer = \"https://api.botframework.us\"\n");
        let settings = load(Some(&f.0), env(&[])).unwrap();
        assert_eq!(settings.microsoft.bot_issuer, "https://api.botframework.us");
        let error = load(
            None,
            env(&[(
                "HERALD_MICROSOFT__BOT_ISSUER",
                "https://api.botframework.us/",
            )]),
        )
        .unwrap_err()
        .to_string();
        assert!(error.contains("microsoft.bot_issuer"), "{error}");
    }

    #[test]
    fn key_refetches_are_ten_seconds_apart_unless_set_and_at_most_an_hour() {
        let settings = load(None, env(&[])).unwrap();
        assert_eq!(settings.microsoft.key_refetch_seconds, 10);
        let settings = load(None, env(&[("HERALD_MICROSOFT__KEY_REFETCH_SECONDS", "0")])).unwrap();
        assert_eq!(settings.microsoft.key_refetch_seconds, 0);
        let error = load(
            None,
            env(&[("HERALD_MICROSOFT__KEY_REFETCH_SECONDS", "3601")]),
        )
        .unwrap_err()
        .to_string();
        assert!(error.contains("microsoft.key_refetch_seconds"), "{error}");
    }

    fn broker_urls(settings: &Settings) -> Vec<&str> {
        settings
            .broker
            .url
            .as_slice()
            .iter()
            .map(|u| u.expose_secret())
            .collect()
    }

    #[test]
    fn the_broker_is_one_url_or_a_list_of_nodes() {
        let settings = load(None, env(&[])).unwrap();
        assert_eq!(
            broker_urls(&settings),
            ["amqp://guest:guest@127.0.0.1:5672/%2f"]
        );
        let one = "amqp://herald:s3cret@rabbit-1:5672/%2f";
        let settings = load(None, env(&[("HERALD_BROKER__URL", one)])).unwrap();
        assert_eq!(broker_urls(&settings), [one]);

        let f = file(
            "[broker]\nurl = [\"amqp://a:p@rabbit-1/%2f\", \"amqps://a:p@rabbit-2:5671/%2f\"]\n",
        );
        let settings = load(Some(&f.0), env(&[])).unwrap();
        assert_eq!(
            broker_urls(&settings),
            ["amqp://a:p@rabbit-1/%2f", "amqps://a:p@rabbit-2:5671/%2f"]
        );
        let list = r#"["amqp://a:p@rabbit-1/%2f", "amqp://a:p@rabbit-3/%2f"]"#;
        let settings = load(Some(&f.0), env(&[("HERALD_BROKER__URL", list)])).unwrap();
        assert_eq!(
            broker_urls(&settings),
            ["amqp://a:p@rabbit-1/%2f", "amqp://a:p@rabbit-3/%2f"]
        );
    }

    #[test]
    fn bad_broker_urls_are_refused_without_printing_them() {
        let error = load(None, env(&[("HERALD_BROKER__URL", "[]")]))
            .unwrap_err()
            .to_string();
        assert!(
            error.contains("HERALD_BROKER__URL") && error.contains("broker.url is an empty list"),
            "{error}"
        );
        let list = r#"["amqp://a:hunter2@rabbit-1/%2f", "http://a:hunter2@rabbit-2/"]"#;
        let error = load(None, env(&[("HERALD_BROKER__URL", list)]))
            .unwrap_err()
            .to_string();
        assert!(
            error.contains("broker.url entry 2 of 2 has the scheme \"http\""),
            "{error}"
        );
        assert!(!error.contains("hunter2"), "{error}");
        let f = file("[broker]\nurl = \"rabbit-1:5672\"\n");
        let error = load(Some(&f.0), env(&[])).unwrap_err().to_string();
        assert!(
            error.contains(".toml") && error.contains("broker.url has the scheme"),
            "{error}"
        );
        let error = load(None, env(&[("HERALD_BROKER__URL", "5672")]))
            .unwrap_err()
            .to_string();
        assert!(
            error.contains("broker.url must be an AMQP URL or a list"),
            "{error}"
        );
        let error = load(None, env(&[("HERALD_BROKER__URL", "amqp://a:hunter2@/x")]))
            .unwrap_err()
            .to_string();
        assert!(error.contains("broker.url"), "{error}");
        assert!(!error.contains("hunter2"), "{error}");
    }

    #[test]
    fn single_variables_are_checked_alone() {
        check_variable("HERALD_DATABASE__URL", "postgres://h:p@db/herald").unwrap();
        check_variable("HERALD_OPS__LISTEN", "0.0.0.0:9464").unwrap();
        check_variable("HERALD_CONFIG", "/etc/herald/herald.toml").unwrap();
        // Alone, without the app id and secret that `load` wants beside it.
        check_variable("HERALD_MICROSOFT__TENANT_ID", "contoso").unwrap();
        let error = check_variable("HERALD_DATABSE__URL", "postgres://db/herald")
            .unwrap_err()
            .to_string();
        assert!(error.contains("HERALD_DATABSE__URL"), "{error}");
        assert!(check_variable("HERALD_OPS__LISTEN", "9464").is_err());
        assert!(check_variable("HERALD_SEND__CONCURRENCY", "many").is_err());
        assert!(check_variable("DATABASE__URL", "x").is_err());
    }

    #[test]
    fn secrets_never_print() {
        let settings = load(
            None,
            env(&[("HERALD_EMULATOR__APP_SECRET", "hunter2-very-secret")]),
        )
        .unwrap();
        let secret = settings.emulator.app_secret.as_ref().unwrap();
        assert_eq!(secret.expose_secret(), "hunter2-very-secret");
        assert!(!format!("{settings:?}").contains("hunter2"));
    }
}
