//! OAuth2 client credentials against Entra ID, cached and refreshed five
//! minutes before they expire. Tokens and secrets are never logged.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use tokio::sync::Mutex;

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
    refresh_at: Instant,
}

pub struct TokenCache {
    http: reqwest::Client,
    credentials: Credentials,
    cache: Mutex<HashMap<Scope, Cached>>,
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
            cache: Mutex::new(HashMap::new()),
        }
    }

    pub fn credentials(&self) -> &Credentials {
        &self.credentials
    }

    pub async fn token(&self, scope: Scope) -> Result<String, AuthError> {
        let mut cache = self.cache.lock().await;
        if let Some(cached) = cache.get(&scope)
            && cached.refresh_at > Instant::now()
        {
            return Ok(cached.token.clone());
        }
        let (token, lifetime) = self.fetch(scope).await?;
        let margin = Duration::from_secs(300).min(lifetime / 2);
        cache.insert(
            scope,
            Cached {
                token: token.clone(),
                refresh_at: Instant::now() + lifetime - margin,
            },
        );
        Ok(token)
    }

    /// Forgets a token the service refused, so the next call fetches anew.
    pub async fn invalidate(&self, scope: Scope) {
        self.cache.lock().await.remove(&scope);
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
            return Ok((
                body.access_token,
                Duration::from_secs(body.expires_in.max(60)),
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
