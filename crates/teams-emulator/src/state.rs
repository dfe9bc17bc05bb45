//! The emulator's shared state: the directory and conversations behind one
//! lock, the adjustable behaviour, the counters, and the pieces of
//! behaviour every Microsoft surface shares (latency, faults, tokens).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Mutex, MutexGuard, RwLock};
use std::time::{Duration, Instant};

use actix_web::web::Bytes;
use serde::{Deserialize, Serialize};

use crate::directory::Directory;
use crate::keys::{Keys, TOKEN_LIFETIME_SECS};
use crate::limits::{ArrivalRate, CostBucket, SlidingLog};
use crate::rng::SharedRandom;
use crate::{EmulatorConfig, EmulatorUrls};

/// What can change while the emulator runs.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Behaviour {
    /// Bot Connector requests per second per app and tenant; 0 turns it off.
    pub global_rps: u32,
    /// The per-conversation windows of teams-platform.md §3.
    pub thread_limits: bool,
    /// Graph's install, read and directory-cost limits.
    pub graph_limits: bool,
    /// Added latency `[p50, p99]` in milliseconds (log-normal); `[0, 0]` is none.
    pub latency_ms: [u64; 2],
    /// Share of Graph and Bot Connector requests answered 502, 503 or 504.
    pub fault_rate: f64,
    /// Where installs are reported as signed activities (Herald's
    /// `/api/messages`); empty for nowhere.
    pub bot_endpoint: String,
    /// Whether the app is in the tenant's catalog; without it installs get 404.
    pub app_in_catalog: bool,
    /// How long a delta token stays usable before Graph answers 410.
    pub delta_token_lifetime_secs: u64,
    /// Channels the Bot Framework signing key endorses. Microsoft's keys
    /// endorse many channels (`msteams`, `webchat`, ...); the default is
    /// Teams alone, and tests widen it to check that a bot serving Teams
    /// ignores what other channels send with a valid signature.
    pub bot_key_endorsements: Vec<String>,
    /// Time Entra ID takes to answer a token request, per scope.
    pub token_latency_ms: TokenLatency,
    /// Lifetime of the access tokens Entra ID issues (an hour, unless a
    /// token lifetime policy says otherwise); tests shorten it to watch
    /// refreshes happen.
    pub token_lifetime_secs: u64,
    /// Whether and when people read the bot's 1:1 messages, which Teams
    /// reports to the bot as read receipts (teams-platform.md §8).
    pub reads: ReadBehaviour,
}

/// When emulated people read their chat with the bot. Delays are
/// log-normal, as human response times are: most people read within a few
/// medians, a long tail reads hours later, and some never do.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ReadBehaviour {
    /// Off by default: receipts are extra traffic to the bot endpoint.
    pub enabled: bool,
    /// Share of people who never read (or turned read receipts off); the
    /// same people every time, chosen by their user id.
    pub never_share: f64,
    /// Median time from delivery to reading.
    pub median_delay_ms: u64,
    /// Sigma of the log-normal delay: 0 reads exactly at the median, 1
    /// puts the 99th percentile at about ten medians.
    pub spread: f64,
}

/// No read waits longer than a day, so a long tail cannot pile up tasks.
pub const MAX_READ_DELAY_MS: u64 = 24 * 3600 * 1000;
/// A sigma beyond this puts the tail past any plausible reading time.
const MAX_READ_SPREAD: f64 = 3.0;
/// Token lifetimes the emulator issues: from a second (tests shorten
/// them to watch a client renew its token without waiting minutes) to a
/// day. Entra's own policies allow ten minutes at least.
const MIN_TOKEN_LIFETIME_SECS: u64 = 1;
const MAX_TOKEN_LIFETIME_SECS: u64 = 24 * 3600;

impl Default for ReadBehaviour {
    fn default() -> Self {
        Self {
            enabled: false,
            never_share: 0.25,
            median_delay_ms: 60_000,
            spread: 1.0,
        }
    }
}

impl ReadBehaviour {
    fn validate(&self) -> Result<(), String> {
        if !(0.0..=1.0).contains(&self.never_share) {
            return Err(format!(
                "reads.never_share must be between 0 and 1, got {}",
                self.never_share
            ));
        }
        if !(1..=MAX_READ_DELAY_MS).contains(&self.median_delay_ms) {
            return Err(format!(
                "reads.median_delay_ms must be between 1 and {MAX_READ_DELAY_MS}, got {}",
                self.median_delay_ms
            ));
        }
        if !(0.0..=MAX_READ_SPREAD).contains(&self.spread) {
            return Err(format!(
                "reads.spread must be between 0 and {MAX_READ_SPREAD}, got {}",
                self.spread
            ));
        }
        Ok(())
    }
}

/// Milliseconds Entra ID takes to issue a token, by scope: a slow identity
/// service is one of the things a client must survive.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TokenLatency {
    /// `https://graph.microsoft.com/.default`
    pub graph: u64,
    /// `https://api.botframework.com/.default`
    pub bot: u64,
}

impl TokenLatency {
    pub fn for_scope(&self, scope: &str) -> Duration {
        let millis = match scope {
            "https://graph.microsoft.com/.default" => self.graph,
            "https://api.botframework.com/.default" => self.bot,
            _ => 0,
        };
        Duration::from_millis(millis)
    }
}

impl Default for Behaviour {
    fn default() -> Self {
        Self {
            global_rps: 50,
            thread_limits: true,
            graph_limits: true,
            latency_ms: [0, 0],
            fault_rate: 0.0,
            bot_endpoint: String::new(),
            app_in_catalog: true,
            delta_token_lifetime_secs: 7 * 24 * 3600,
            bot_key_endorsements: vec!["msteams".to_owned()],
            token_latency_ms: TokenLatency::default(),
            token_lifetime_secs: TOKEN_LIFETIME_SECS,
            reads: ReadBehaviour::default(),
        }
    }
}

impl Behaviour {
    pub fn validate(&self) -> Result<(), String> {
        if !(MIN_TOKEN_LIFETIME_SECS..=MAX_TOKEN_LIFETIME_SECS).contains(&self.token_lifetime_secs)
        {
            return Err(format!(
                "token_lifetime_secs must be from {MIN_TOKEN_LIFETIME_SECS} to {MAX_TOKEN_LIFETIME_SECS}, got {}",
                self.token_lifetime_secs
            ));
        }
        if !(0.0..=1.0).contains(&self.fault_rate) {
            return Err(format!(
                "fault_rate must be between 0 and 1, got {}",
                self.fault_rate
            ));
        }
        let [p50, p99] = self.latency_ms;
        if p50 > p99 {
            return Err(format!(
                "latency_ms is [p50, p99] and p50 ({p50}) must not exceed p99 ({p99})"
            ));
        }
        if p50 == 0 && p99 > 0 {
            return Err("latency_ms needs a p50 above zero when p99 is set".to_owned());
        }
        if self
            .bot_key_endorsements
            .iter()
            .any(|c| c.trim().is_empty())
        {
            return Err("bot_key_endorsements must not contain empty channel ids".to_owned());
        }
        if !self.bot_endpoint.is_empty() {
            let url = url::Url::parse(&self.bot_endpoint)
                .map_err(|e| format!("bot_endpoint {:?} is not a URL: {e}", self.bot_endpoint))?;
            if !matches!(url.scheme(), "http" | "https") {
                return Err("bot_endpoint must be an http or https URL".to_owned());
            }
        }
        self.reads.validate()
    }
}

/// A partial `Behaviour` for `POST /_emulator/config`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BehaviourPatch {
    pub global_rps: Option<u32>,
    pub thread_limits: Option<bool>,
    pub graph_limits: Option<bool>,
    pub latency_ms: Option<[u64; 2]>,
    pub fault_rate: Option<f64>,
    pub bot_endpoint: Option<String>,
    pub app_in_catalog: Option<bool>,
    pub delta_token_lifetime_secs: Option<u64>,
    pub bot_key_endorsements: Option<Vec<String>>,
    pub token_latency_ms: Option<TokenLatency>,
    pub token_lifetime_secs: Option<u64>,
    /// Replaces all of `reads`; keys left out take their defaults.
    pub reads: Option<ReadBehaviour>,
}

impl BehaviourPatch {
    pub fn apply(self, to: &Behaviour) -> Result<Behaviour, String> {
        let mut next = to.clone();
        macro_rules! take {
            ($($field:ident),*) => { $( if let Some(v) = self.$field { next.$field = v; } )* };
        }
        take!(
            global_rps,
            thread_limits,
            graph_limits,
            latency_ms,
            fault_rate,
            bot_endpoint,
            app_in_catalog,
            delta_token_lifetime_secs,
            bot_key_endorsements,
            token_latency_ms,
            token_lifetime_secs,
            reads
        );
        next.validate()?;
        Ok(next)
    }
}

pub enum ConversationKind {
    Personal {
        user: usize,
    },
    /// A channel, or a thread in one (`{channel};messageid={id}`).
    Channel {
        group: usize,
    },
}

pub struct StoredActivity {
    pub id: String,
    pub body: Bytes,
    pub updated: bool,
    pub deleted: bool,
    /// 1 as posted, one more for each update.
    pub version: u32,
}

pub struct Conversation {
    pub kind: ConversationKind,
    pub activities: Vec<StoredActivity>,
    pub content_hashes: HashSet<u64>,
    pub sends: SlidingLog,
    pub creates: SlidingLog,
    pub reads: SlidingLog,
    /// The newest activity id the person has read in a 1:1 chat (0 for
    /// none), so that reading twice without news sends no second receipt.
    pub read_up_to: u64,
}

impl Conversation {
    pub fn new(kind: ConversationKind) -> Self {
        Self {
            kind,
            activities: Vec::new(),
            content_hashes: HashSet::new(),
            sends: SlidingLog::default(),
            creates: SlidingLog::default(),
            reads: SlidingLog::default(),
            read_up_to: 0,
        }
    }
}

pub struct GraphLimits {
    pub installs: SlidingLog,
    pub installed_app_reads: SlidingLog,
    pub team_reads: SlidingLog,
    pub per_team: HashMap<String, SlidingLog>,
    pub directory_cost: CostBucket,
}

pub struct AuthCode {
    pub client_id: String,
    pub redirect_uri: String,
    pub code_challenge: String,
    pub scope: String,
    pub nonce: Option<String>,
    pub user: usize,
    pub expires: Instant,
}

pub struct World {
    pub directory: Directory,
    pub conversations: HashMap<String, Conversation>,
    pub global: SlidingLog,
    /// Every Bot Connector request the tenant limit applies to, accepted
    /// or not, for `connector_peak_per_second`.
    pub arrivals: ArrivalRate,
    pub graph: GraphLimits,
    pub auth_codes: HashMap<String, AuthCode>,
    /// Activity bodies by content hash: a broadcast posts one card to many
    /// conversations, and keeping it once keeps the emulator small.
    pub bodies: HashMap<u64, Bytes>,
    pub next_activity_id: u64,
}

impl World {
    pub fn intern(&mut self, hash: u64, body: Bytes) -> Bytes {
        self.bodies.entry(hash).or_insert(body).clone()
    }

    pub fn new_activity_id(&mut self) -> String {
        self.next_activity_id += 1;
        self.next_activity_id.to_string()
    }
}

#[derive(Debug, Default, Clone, Serialize)]
pub struct StatsSnapshot {
    /// Requests per endpoint, as `METHOD /path/{pattern}`.
    pub requests: BTreeMap<String, u64>,
    /// 429 answers in all.
    pub throttled: u64,
    pub throttled_by_endpoint: BTreeMap<String, u64>,
    /// The most Bot Connector requests that arrived for the tenant within
    /// any one second (a sliding window), refused ones included: what the
    /// tenant limit `global_rps` is measured against, as the client asked.
    pub connector_peak_per_second: u64,
    /// Responses by status code.
    pub responses_by_status: BTreeMap<u16, u64>,
    /// Activities accepted by the Bot Connector (POST).
    pub activities_received: u64,
    pub activities_updated: u64,
    pub activities_deleted: u64,
    /// Activities whose exact content was already posted to that conversation.
    pub duplicate_activities: u64,
    pub conversations_created: u64,
    pub installs: u64,
    pub uninstalls: u64,
    /// Signed activities posted to the bot endpoint, and those that failed.
    pub bot_activities_sent: u64,
    pub bot_activities_failed: u64,
    /// Read receipts the bot endpoint accepted (also in `bot_activities_sent`).
    pub read_receipts_sent: u64,
    pub faults_injected: u64,
    pub graph_requests: u64,
    pub connector_requests: u64,
    /// Token requests by the scope they asked for.
    pub token_requests_by_scope: BTreeMap<String, u64>,
}

#[derive(Default)]
pub struct Stats(Mutex<StatsSnapshot>);

impl Stats {
    pub fn update(&self, change: impl FnOnce(&mut StatsSnapshot)) {
        let mut guard = self.0.lock().unwrap_or_else(|p| p.into_inner());
        change(&mut guard);
    }

    pub fn snapshot(&self) -> StatsSnapshot {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    pub fn reset(&self) {
        *self.0.lock().unwrap_or_else(|p| p.into_inner()) = StatsSnapshot::default();
    }

    pub fn request(&self, endpoint: &str, status: u16) {
        self.update(|s| {
            *s.requests.entry(endpoint.to_owned()).or_default() += 1;
            *s.responses_by_status.entry(status).or_default() += 1;
            if status == 429 {
                s.throttled += 1;
                *s.throttled_by_endpoint
                    .entry(endpoint.to_owned())
                    .or_default() += 1;
            }
            if endpoint.contains(" /graph/") {
                s.graph_requests += 1;
            } else if endpoint.contains(" /teams/") {
                s.connector_requests += 1;
            }
        });
    }
}

pub struct Emulator {
    pub urls: EmulatorUrls,
    pub app_secret: String,
    pub keys: Keys,
    pub behaviour: RwLock<Behaviour>,
    pub world: Mutex<World>,
    pub stats: Stats,
    pub random: SharedRandom,
    pub http: reqwest::Client,
    /// The token on activities to the bot, and when it was signed: the
    /// Bot Connector reuses one for many requests, as every client of a
    /// token service does, rather than signing each request anew.
    pub connector_token: Mutex<Option<(u64, String)>>,
}

/// A failure the emulator injects on purpose.
pub struct Fault(pub u16);

impl Emulator {
    pub fn new(config: &EmulatorConfig, urls: EmulatorUrls) -> Self {
        let directory = Directory::generate(&config.directory, &config.tenant_id, &config.app_id);
        let users = directory.users.len();
        let world = World {
            directory,
            conversations: HashMap::new(),
            global: SlidingLog::default(),
            arrivals: ArrivalRate::default(),
            graph: GraphLimits {
                installs: SlidingLog::default(),
                installed_app_reads: SlidingLog::default(),
                team_reads: SlidingLog::default(),
                per_team: HashMap::new(),
                directory_cost: CostBucket::for_tenant_size(users),
            },
            auth_codes: HashMap::new(),
            bodies: HashMap::new(),
            next_activity_id: 1_795_746_600_000,
        };
        Self {
            urls,
            app_secret: config.app_secret.clone(),
            keys: Keys::bundled(),
            behaviour: RwLock::new(config.behaviour.clone()),
            world: Mutex::new(world),
            stats: Stats::default(),
            random: SharedRandom::new(config.directory.seed),
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(30))
                .build()
                .unwrap_or_default(),
            connector_token: Mutex::new(None),
        }
    }

    /// One lock for the directory and the conversations. A poisoned lock
    /// means a handler panicked mid-change; the emulator carries on with the
    /// data as it is rather than failing every later request.
    pub fn world(&self) -> MutexGuard<'_, World> {
        self.world.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn behaviour(&self) -> Behaviour {
        self.behaviour
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    pub fn tenant_id(&self) -> &str {
        &self.urls.tenant_id
    }

    pub fn app_id(&self) -> &str {
        &self.urls.app_id
    }

    /// Waits the configured latency, then maybe fails on purpose.
    pub async fn simulate_network(&self) -> Result<(), Fault> {
        let (latency, fault_rate) = {
            let behaviour = self.behaviour.read().unwrap_or_else(|p| p.into_inner());
            (behaviour.latency_ms, behaviour.fault_rate)
        };
        if let [p50, p99] = latency
            && p50 > 0
        {
            tokio::time::sleep(self.sample_latency(p50, p99)).await;
        }
        if fault_rate > 0.0 && self.random.next_f64() < fault_rate {
            self.stats.update(|s| s.faults_injected += 1);
            let status = [502, 503, 504][(self.random.next_f64() * 3.0) as usize % 3];
            return Err(Fault(status));
        }
        Ok(())
    }

    /// Log-normal with the given median and 99th percentile.
    fn sample_latency(&self, p50: u64, p99: u64) -> Duration {
        let sigma = ((p99 as f64).ln() - (p50 as f64).ln()) / 2.326_348;
        Duration::from_secs_f64(self.log_normal(p50 as f64, sigma) / 1000.0)
    }

    /// A log-normal sample with the given median and sigma.
    pub fn log_normal(&self, median: f64, sigma: f64) -> f64 {
        // Box-Muller from two uniforms.
        let u1 = self.random.next_f64().max(f64::MIN_POSITIVE);
        let u2 = self.random.next_f64();
        let normal = (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos();
        (median.ln() + sigma * normal).exp()
    }
}

pub fn content_hash(bytes: &[u8]) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    bytes.hash(&mut hasher);
    hasher.finish()
}
