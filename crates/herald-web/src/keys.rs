//! The Bot Framework's signing keys (teams-platform.md §1), fetched from
//! the OpenID metadata's `jwks_uri` and cached.
//!
//! Anyone can send Herald a token naming a key id nobody knows, so an
//! unknown key id must never be able to make Herald hammer Microsoft's
//! endpoints or wait on them: at most one fetch is in flight, attempts are
//! at least `min_interval` apart whatever their outcome (further apart,
//! doubling, while the endpoint fails), and a request that cannot start a
//! fetch is answered at once with what is cached.

use std::collections::HashMap;
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

/// A signing key and the channels it endorses.
pub struct Key {
    pub decoding: DecodingKey,
    pub endorsements: Vec<String>,
}

#[derive(Debug, thiserror::Error)]
enum FetchError {
    #[error("cannot fetch {url}: {source}")]
    Http { url: String, source: reqwest::Error },
    #[error("no answer within {0:?}")]
    Timeout(Duration),
}

#[derive(Default)]
struct KeyState {
    keys: HashMap<String, Arc<Key>>,
    /// When the keys were last fetched successfully.
    fetched_at: Option<Instant>,
    in_flight: bool,
    /// No attempt before this.
    next_attempt: Option<Instant>,
    /// Failed attempts in a row.
    failures: u32,
}

pub struct KeyCache {
    http: reqwest::Client,
    metadata_url: String,
    refresh: KeyRefresh,
    // A std mutex: it is held only to read or change the state, never
    // across an await, so a slow fetch never blocks a request.
    state: Mutex<KeyState>,
    /// Counts finished fetches, so that requests can wait for one.
    finished: watch::Sender<u64>,
}

impl KeyCache {
    pub fn new(http: reqwest::Client, metadata_url: String, refresh: KeyRefresh) -> Self {
        Self {
            http,
            metadata_url,
            refresh,
            state: Mutex::new(KeyState::default()),
            finished: watch::Sender::new(0),
        }
    }

    /// A cache of the same keys, empty, with other timings.
    pub fn with_refresh(&self, refresh: KeyRefresh) -> Self {
        Self::new(self.http.clone(), self.metadata_url.clone(), refresh)
    }

    /// The key named `kid`. An unknown kid (or old keys) starts a fetch
    /// when one is allowed; a request with an unknown kid waits a bounded
    /// time for a fetch in flight, and gets `None` at once when there is
    /// none.
    pub async fn key(self: &Arc<Self>, kid: &str) -> Option<Arc<Key>> {
        let mut finished = {
            let mut state = self.lock();
            let known = state.keys.get(kid).cloned();
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
        self.lock().keys.get(kid).cloned()
    }

    fn lock(&self) -> MutexGuard<'_, KeyState> {
        // The state stays consistent even if a holder panicked: every
        // change is a plain assignment.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Fetches in a task of its own, so that a request given up by its
    /// client cannot abandon the fetch half way.
    fn start_fetch(self: &Arc<Self>, state: &mut KeyState) {
        state.in_flight = true;
        let cache = self.clone();
        tokio::spawn(async move {
            let outcome = tokio::time::timeout(cache.refresh.timeout, cache.fetch())
                .await
                .unwrap_or(Err(FetchError::Timeout(cache.refresh.timeout)));
            cache.finish(outcome);
        });
    }

    fn finish(&self, outcome: Result<HashMap<String, Arc<Key>>, FetchError>) {
        let mut state = self.lock();
        let now = Instant::now();
        match outcome {
            Ok(keys) => {
                tracing::info!(keys = keys.len(), "fetched the Bot Framework keys");
                state.keys = keys;
                state.fetched_at = Some(now);
                state.failures = 0;
            }
            Err(error) => {
                state.failures = state.failures.saturating_add(1);
                tracing::warn!(%error, url = %self.metadata_url, failures = state.failures, "cannot fetch the Bot Framework keys");
            }
        }
        state.in_flight = false;
        state.next_attempt = Some(now + self.refresh.pause_after(state.failures));
        self.finished.send_modify(|count| *count += 1);
    }

    async fn fetch(&self) -> Result<HashMap<String, Arc<Key>>, FetchError> {
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

    async fn get<T: serde::de::DeserializeOwned>(&self, url: &str) -> Result<T, FetchError> {
        let http = |source| FetchError::Http {
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
