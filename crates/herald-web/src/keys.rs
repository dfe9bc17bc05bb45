//! Signing keys of Microsoft's identity services, fetched and cached: the
//! Bot Framework's (teams-platform.md §1), which sign the tokens on every
//! activity, and Entra ID's, which sign staff's ID tokens at sign-in. One
//! cache, `KeyCache`, keeps either fresh; a `KeySource` says how its keys
//! are fetched.
//!
//! Anyone can send Herald a token naming a key id nobody knows, so an
//! unknown key id must never be able to make Herald hammer Microsoft's
//! endpoints or wait on them: at most one fetch is in flight, attempts are
//! at least `min_interval` apart whatever their outcome (further apart,
//! doubling, while the endpoint fails), and a request that cannot start a
//! fetch is answered at once with what is cached. A known key id is
//! answered from the cache; keys older than `max_age` are fetched again
//! while the old ones serve.

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use jsonwebtoken::DecodingKey;
use serde::Deserialize;
use tokio::sync::watch;
/// How the keys are kept fresh.
#[derive(Debug, Clone)]
pub struct KeyRefresh {
    /// Keys older than this are fetched again (Microsoft asks for at least
    /// once a day); the old ones serve until new ones arrive.
    pub max_age: Duration,
    /// At most one attempt per this long, whatever its outcome.
    pub min_interval: Duration,
    /// The longest wait between attempts while the endpoint keeps failing.
    pub max_backoff: Duration,
    /// How long a request with an unknown key id waits for a fetch that is
    /// already in flight.
    pub wait: Duration,
    /// The time limit of one fetch (metadata and keys together).
    pub timeout: Duration,
}

impl Default for KeyRefresh {
    fn default() -> Self {
        Self {
            max_age: Duration::from_secs(24 * 3600),
            min_interval: Duration::from_secs(10),
            max_backoff: Duration::from_secs(10 * 60),
            wait: Duration::from_secs(5),
            timeout: Duration::from_secs(20),
        }
    }
}

impl KeyRefresh {
    /// The wait after an attempt: `min_interval` after a success or a first
    /// failure, then doubling with each failure in a row up to `max_backoff`.
    fn pause_after(&self, failures: u32) -> Duration {
        let doubling = 2u32.saturating_pow(failures.saturating_sub(1));
        self.min_interval
            .saturating_mul(doubling)
            .min(self.max_backoff)
            .max(self.min_interval)
    }
}

/// Where a cache's keys come from.
pub trait KeySource: Send + Sync + 'static {
    /// The keys of one fetch.
    type Set: Send + Sync + 'static;
    type Error: std::error::Error + Send + 'static;
    /// Whose keys they are, for the logs.
    fn whose(&self) -> &'static str;

    fn fetch(&self) -> impl Future<Output = Result<Self::Set, Self::Error>> + Send;

    /// Whether the set holds the key named `kid`.
    fn knows(set: &Self::Set, kid: &str) -> bool;
}

#[derive(Debug, thiserror::Error)]
enum Failure<E: std::error::Error + 'static> {
    #[error(transparent)]
    Fetch(E),
    #[error("no answer within {0:?}")]
    Timeout(Duration),
}

struct KeyState<T> {
    set: Option<Arc<T>>,
    /// When the keys were last fetched successfully.
    fetched_at: Option<Instant>,
    in_flight: bool,
    /// No attempt before this.
    next_attempt: Option<Instant>,
    /// Failed attempts in a row.
    failures: u32,
}

impl<T> Default for KeyState<T> {
    fn default() -> Self {
        Self {
            set: None,
            fetched_at: None,
            in_flight: false,
            next_attempt: None,
            failures: 0,
        }
    }
}

pub struct KeyCache<S: KeySource> {
    source: S,
    refresh: KeyRefresh,
    // A std mutex: it is held only to read or change the state, never
    // across an await, so a slow fetch never blocks a request.
    state: Mutex<KeyState<S::Set>>,
    /// Counts finished fetches, so that requests can wait for one.
    finished: watch::Sender<u64>,
}

impl<S: KeySource> KeyCache<S> {
    pub fn new(source: S, refresh: KeyRefresh) -> Self {
        Self {
            source,
            refresh,
            state: Mutex::new(KeyState::default()),
            finished: watch::Sender::new(0),
        }
    }

    /// The key set, when it holds the key named `kid` (any set, for
    /// `None`). A key id the set lacks (or old keys, or none yet) starts a
    /// fetch when one is allowed; a request whose key is missing waits a
    /// bounded time for a fetch in flight, and gets `None` at once when
    /// there is none.
    pub async fn set_with(self: &Arc<Self>, kid: Option<&str>) -> Option<Arc<S::Set>> {
        let holds = |set: &Arc<S::Set>| kid.is_none_or(|kid| S::knows(set, kid));
        let mut finished = {
            let mut state = self.lock();
            let known = state.set.clone().filter(holds);
            let old = state
                .fetched_at
                .is_none_or(|at| at.elapsed() >= self.refresh.max_age);
            if known.is_some() && !old {
                return known;
            }
            let allowed = state.next_attempt.is_none_or(|at| Instant::now() >= at);
            if !state.in_flight && allowed {
                self.start_fetch(&mut state);
            }
            // A known key serves while the set is refreshed.
            if known.is_some() || !state.in_flight {
                return known;
            }
            // Subscribed under the lock, so the end of this fetch cannot be missed.
            self.finished.subscribe()
        };
        let _ = tokio::time::timeout(self.refresh.wait, finished.changed()).await;
        self.lock().set.clone().filter(holds)
    }

    fn lock(&self) -> MutexGuard<'_, KeyState<S::Set>> {
        // The state stays consistent even if a holder panicked: every
        // change is a plain assignment.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Fetches in a task of its own, so that a request given up by its
    /// client cannot abandon the fetch half way.
    fn start_fetch(self: &Arc<Self>, state: &mut KeyState<S::Set>) {
        state.in_flight = true;
        let cache = self.clone();
        tokio::spawn(async move {
            let outcome =
                match tokio::time::timeout(cache.refresh.timeout, cache.source.fetch()).await {
                    Ok(fetched) => fetched.map_err(Failure::Fetch),
                    Err(_) => Err(Failure::Timeout(cache.refresh.timeout)),
                };
            cache.finish(outcome);
        });
    }

    fn finish(&self, outcome: Result<S::Set, Failure<S::Error>>) {
        let mut state = self.lock();
        let now = Instant::now();
        match outcome {
            Ok(set) => {
                tracing::info!("fetched {} signing keys", self.source.whose());
                state.set = Some(Arc::new(set));
                state.fetched_at = Some(now);
                state.failures = 0;
            }
            Err(error) => {
                state.failures = state.failures.saturating_add(1);
                tracing::warn!(error = %herald_domain::chain(&error), failures = state.failures, "cannot fetch {} signing keys", self.source.whose());
            }
        }
        state.in_flight = false;
        state.next_attempt = Some(now + self.refresh.pause_after(state.failures));
        self.finished.send_modify(|count| *count += 1);
    }
}

impl<S: KeySource + Clone> KeyCache<S> {
    /// A cache of the same keys, empty, with other timings.
    pub fn with_refresh(&self, refresh: KeyRefresh) -> Self {
        Self::new(self.source.clone(), refresh)
    }
}

/// A Bot Framework signing key and the channels it endorses.
pub struct Key {
    pub decoding: DecodingKey,
    pub endorsements: Vec<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum BotKeysError {
    #[error("cannot fetch {url}")]
    Http {
        url: String,
        #[source]
        source: reqwest::Error,
    },
}

/// Signing keys found through OpenID metadata, which names the
/// `jwks_uri`: the Bot Framework's, and Entra ID's for the access tokens
/// programs bring to the API.
#[derive(Clone)]
pub struct OpenIdKeys {
    pub http: reqwest::Client,
    pub metadata_url: String,
    /// Whose keys they are, for the logs: "the Bot Framework's".
    pub whose: &'static str,
}

impl KeySource for OpenIdKeys {
    type Set = HashMap<String, Arc<Key>>;
    type Error = BotKeysError;

    fn whose(&self) -> &'static str {
        self.whose
    }

    async fn fetch(&self) -> Result<Self::Set, BotKeysError> {
        let metadata: Metadata = self.get(&self.metadata_url).await?;
        let jwks: Jwks = self.get(&metadata.jwks_uri).await?;
        Ok(jwks
            .keys
            .into_iter()
            .filter(|k| k.kty == "RSA")
            .filter_map(|k| {
                let decoding = DecodingKey::from_rsa_components(&k.n, &k.e).ok()?;
                let endorsements = k.endorsements;
                Some((
                    k.kid,
                    Arc::new(Key {
                        decoding,
                        endorsements,
                    }),
                ))
            })
            .collect())
    }

    fn knows(set: &Self::Set, kid: &str) -> bool {
        set.contains_key(kid)
    }
}

impl OpenIdKeys {
    async fn get<T: serde::de::DeserializeOwned>(&self, url: &str) -> Result<T, BotKeysError> {
        let http = |source| BotKeysError::Http {
            url: url.to_owned(),
            source,
        };
        self.http
            .get(url)
            .send()
            .await
            .and_then(reqwest::Response::error_for_status)
            .map_err(http)?
            .json()
            .await
            .map_err(http)
    }
}

#[derive(Deserialize)]
struct Metadata {
    jwks_uri: String,
}

#[derive(Deserialize)]
struct Jwks {
    keys: Vec<Jwk>,
}

#[derive(Deserialize)]
struct Jwk {
    kid: String,
    #[serde(default)]
    kty: String,
    #[serde(default)]
    n: String,
    #[serde(default)]
    e: String,
    #[serde(default)]
    endorsements: Vec<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attempts_are_spaced_by_the_minimum_then_doubling_up_to_the_cap() {
        let refresh = KeyRefresh::default();
        let seconds: Vec<u64> = (0..9)
            .map(|failures| refresh.pause_after(failures).as_secs())
            .collect();
        assert_eq!(seconds, [10, 10, 20, 40, 80, 160, 320, 600, 600]);
        assert_eq!(refresh.pause_after(u32::MAX).as_secs(), 600);
    }
}
