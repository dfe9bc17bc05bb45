//! OAuth2 client credentials against Entra ID, cached and refreshed five
//! minutes before they expire: while one caller waits for the next token,
//! everyone else goes on with the current one. Tokens and secrets are
//! never logged.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

#[derive(Clone)]
pub struct Credentials {
    /// `https://login.microsoftonline.com`, or the emulator's base URL.
    pub login_url: String,
    pub tenant_id: String,
    pub app_id: String,
    pub app_secret: SecretString,
    /// The tenant that issues Bot Framework tokens: `botframework.com` for a
    /// multi-tenant bot, the tenant id for a single-tenant one.
    pub bot_token_tenant: String,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("login_url", &self.login_url)
            .field("tenant_id", &self.tenant_id)
            .field("app_id", &self.app_id)
            .finish_non_exhaustive()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Scope {
    Graph,
    BotFramework,
}

impl Scope {
    fn value(self) -> &'static str {
        match self {
            Self::Graph => "https://graph.microsoft.com/.default",
            Self::BotFramework => "https://api.botframework.com/.default",
        }
    }
}

#[derive(Debug, Clone, thiserror::Error)]
pub enum AuthError {
    #[error(
        "Entra ID refused Herald's credentials ({error}): {description}. Check microsoft.app_id and microsoft.app_secret (an expired client secret must be renewed in the app registration)."
    )]
    Refused { error: String, description: String },
    #[error("cannot reach Entra ID at {url}: {message}")]
    Unreachable { url: String, message: String },
}

struct Cached {
    token: String,
    /// From here on one caller asks for the next token.
    refresh_at: Instant,
    /// Not sent after this: a request takes a while to arrive, and a token
    /// that expires on the way is refused.
    usable_until: Instant,
}

/// What a scope's slot holds right now.
enum Held {
    /// A token with time to spare.
    Good(String),
    /// A token that still works, whose successor is due.
    Due(String),
    /// Nothing usable; how many refreshes have finished so far.
    Missing(u64),
}

/// After a failed early refresh, the next one is tried this much later
/// (while the current token still works).
const RETRY_AHEAD: Duration = Duration::from_secs(10);

/// One scope's token.
///
/// Two locks, on purpose. `state` is a `std::sync::Mutex`: it is held only
/// to copy a token out or store one, never across an `.await`, so an async
/// mutex would add cost and no safety (the reasoning of mini-redis'
/// `db.rs`). `refreshing` is a `tokio::sync::Mutex`, held across the token
/// request (up to 30 s): it keeps one request per scope in flight, and
/// callers that queue behind it take its outcome instead of asking again.
/// Each scope has its own pair, so a slow Graph token never holds up the
/// Bot Framework token that every send needs, nor the other way round.
#[derive(Default)]
struct Slot {
    state: Mutex<SlotState>,
    refreshing: tokio::sync::Mutex<()>,
}

#[derive(Default)]
struct SlotState {
    cached: Option<Cached>,
    /// Token requests finished, so that a caller that waited for one can
    /// tell that it happened.
    refreshes: u64,
    /// Why the latest request failed, for the callers that waited on it.
    failure: Option<AuthError>,
}

impl Slot {
    fn state(&self) -> std::sync::MutexGuard<'_, SlotState> {
        // Nothing panics while holding it; a poisoned lock still holds a
        // consistent token.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn held(&self) -> Held {
        let state = self.state();
        let now = Instant::now();
        match &state.cached {
            Some(cached) if now < cached.refresh_at => Held::Good(cached.token.clone()),
            Some(cached) if now < cached.usable_until => Held::Due(cached.token.clone()),
            _ => Held::Missing(state.refreshes),
        }
    }

    /// The outcome of a refresh that finished after `seen`, if one did.
    fn refreshed_since(&self, seen: u64) -> Option<Result<String, AuthError>> {
        let state = self.state();
        if state.refreshes == seen {
            return None;
        }
        match (&state.failure, &state.cached) {
            (Some(failure), _) => Some(Err(failure.clone())),
            (None, Some(cached)) => Some(Ok(cached.token.clone())),
            (None, None) => None,
        }
    }

    fn store(&self, outcome: &Result<(String, Duration), AuthError>) {
        let mut state = self.state();
        state.refreshes += 1;
        match outcome {
            Ok((token, lifetime)) => {
                let now = Instant::now();
                let margin = Duration::from_secs(300).min(*lifetime / 2);
                let slack = Duration::from_secs(30).min(*lifetime / 4);
                state.cached = Some(Cached {
                    token: token.clone(),
                    refresh_at: now + *lifetime - margin,
                    usable_until: now + *lifetime - slack,
                });
                state.failure = None;
            }
            Err(error) => {
                state.failure = Some(error.clone());
                if let Some(cached) = &mut state.cached {
                    let retry = (Instant::now() + RETRY_AHEAD).min(cached.usable_until);
                    cached.refresh_at = cached.refresh_at.max(retry);
                }
            }
        }
    }
}

pub struct TokenCache {
    http: reqwest::Client,
    credentials: Credentials,
    graph: Slot,
    bot_framework: Slot,
}

#[derive(Deserialize)]
struct TokenResponse {
    access_token: String,
    expires_in: u64,
}

#[derive(Deserialize)]
struct TokenError {
    error: String,
    #[serde(default)]
    error_description: String,
}

impl TokenCache {
    pub fn new(http: reqwest::Client, credentials: Credentials) -> Self {
        Self {
            http,
            credentials,
            graph: Slot::default(),
            bot_framework: Slot::default(),
        }
    }

    pub fn credentials(&self) -> &Credentials {
        &self.credentials
    }

    fn slot(&self, scope: Scope) -> &Slot {
        match scope {
            Scope::Graph => &self.graph,
            Scope::BotFramework => &self.bot_framework,
        }
    }

    /// A token for the scope: the cached one while it works, otherwise
    /// the outcome of one token request shared by everyone asking now.
    pub async fn token(&self, scope: Scope) -> Result<String, AuthError> {
        let slot = self.slot(scope);
        let seen = match slot.held() {
            Held::Good(token) => return Ok(token),
            Held::Due(token) => return Ok(self.refresh_ahead(scope, token).await),
            Held::Missing(refreshes) => refreshes,
        };
        let _refreshing = slot.refreshing.lock().await;
        if let Some(outcome) = slot.refreshed_since(seen) {
            return outcome;
        }
        let outcome = self.fetch(scope).await;
        slot.store(&outcome);
        outcome.map(|(token, _)| token)
    }

    /// The current token still works and its successor is due: the first
    /// caller to notice asks for it and waits, everyone else goes on with
    /// the current one meanwhile, so a slow Entra ID delays one request
    /// instead of every send. A failure keeps the current token until
    /// its end and tries again a little later.
    async fn refresh_ahead(&self, scope: Scope, current: String) -> String {
        let slot = self.slot(scope);
        let Ok(_refreshing) = slot.refreshing.try_lock() else {
            return current;
        };
        // Another caller may have finished a refresh since the look.
        if !matches!(slot.held(), Held::Due(_)) {
            return current;
        }
        let outcome = self.fetch(scope).await;
        slot.store(&outcome);
        match outcome {
            Ok((token, _)) => token,
            Err(error) => {
                tracing::warn!(error = %herald_domain::chain(&error), ?scope, "could not renew a token early; the current one is used while it lasts");
                current
            }
        }
    }

    /// Forgets a token the service refused, so the next call fetches anew.
    pub async fn invalidate(&self, scope: Scope) {
        self.slot(scope).state().cached = None;
    }

    async fn fetch(&self, scope: Scope) -> Result<(String, Duration), AuthError> {
        let credentials = &self.credentials;
        let tenant = match scope {
            Scope::Graph => credentials.tenant_id.as_str(),
            Scope::BotFramework => credentials.bot_token_tenant.as_str(),
        };
        let url = format!(
            "{}/{tenant}/oauth2/v2.0/token",
            credentials.login_url.trim_end_matches('/')
        );
        let unreachable = |e: reqwest::Error| AuthError::Unreachable {
            url: url.clone(),
            message: e.to_string(),
        };
        let response = self
            .http
            .post(&url)
            .form(&[
                ("grant_type", "client_credentials"),
                ("client_id", credentials.app_id.as_str()),
                ("client_secret", credentials.app_secret.expose_secret()),
                ("scope", scope.value()),
            ])
            .send()
            .await
            .map_err(unreachable)?;
        if response.status().is_success() {
            let body: TokenResponse = response.json().await.map_err(unreachable)?;
            // Taken as Entra says: a token held longer than its life would
            // be refused. Only a zero is raised, so that it cannot make
            // every call ask again.
            return Ok((
                body.access_token,
                Duration::from_secs(body.expires_in.max(1)),
            ));
        }
        let status = response.status();
        let refused = match response.json::<TokenError>().await {
            Ok(body) => AuthError::Refused {
                error: body.error,
                description: body.error_description,
            },
            Err(_) => AuthError::Refused {
                error: format!("HTTP {status}"),
                description: "no error body".to_owned(),
            },
        };
        Err(refused)
    }
}
