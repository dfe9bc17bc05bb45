//! Authenticating requests from the Bot Connector (teams-platform.md §1):
//! a Bearer JWT signed RS256/384/512 by a key from the Bot Framework's
//! JWKS, issued by `https://api.botframework.com` to this bot, not expired
//! (5 minutes of skew), whose `serviceurl` claim is the activity's
//! serviceUrl, with a key that endorses the activity's channel.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::Deserialize;
use tokio::sync::RwLock;

pub const BOT_ISSUER: &str = "https://api.botframework.com";
const KEYS_MAX_AGE: Duration = Duration::from_secs(24 * 3600);
/// An unknown key id fetches the keys again, but not more often than this.
const REFRESH_AT_MOST_EVERY: Duration = Duration::from_secs(10);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthFailure {
    /// 401: not a valid token for this bot.
    #[error("unauthorized: {0}")]
    Unauthorized(String),
    /// 403: a valid token whose key does not endorse the channel.
    #[error("forbidden: {0}")]
    Forbidden(String),
}

struct Key {
    decoding: DecodingKey,
    endorsements: Vec<String>,
}

#[derive(Default)]
struct KeySet {
    keys: HashMap<String, Key>,
    fetched: Option<Instant>,
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

#[derive(Deserialize)]
struct Claims {
    #[serde(default)]
    serviceurl: Option<String>,
}

pub struct BotAuthenticator {
    http: reqwest::Client,
    metadata_url: String,
    app_id: String,
    keys: RwLock<KeySet>,
}

impl BotAuthenticator {
    pub fn new(http: reqwest::Client, metadata_url: String, app_id: String) -> Self {
        Self {
            http,
            metadata_url,
            app_id,
            keys: RwLock::new(KeySet::default()),
        }
    }

    pub async fn authenticate(
        &self,
        authorization: Option<&str>,
        service_url: &str,
        channel_id: &str,
    ) -> Result<(), AuthFailure> {
        let unauthorized = |why: &str| AuthFailure::Unauthorized(why.to_owned());
        let token = authorization
            .and_then(|h| h.strip_prefix("Bearer "))
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .ok_or_else(|| unauthorized("no Bearer token"))?;
        let header = jsonwebtoken::decode_header(token)
            .map_err(|_| unauthorized("the token is not a JWT"))?;
        if !matches!(
            header.alg,
            Algorithm::RS256 | Algorithm::RS384 | Algorithm::RS512
        ) {
            return Err(unauthorized(
                "only RS256, RS384 and RS512 tokens are accepted",
            ));
        }
        let kid = header
            .kid
            .ok_or_else(|| unauthorized("the token names no key"))?;
        self.ensure_key(&kid).await;
        let keys = self.keys.read().await;
        let key = keys
            .keys
            .get(&kid)
            .ok_or_else(|| unauthorized("the token's key is not among the Bot Framework's keys"))?;
        let mut validation = Validation::new(header.alg);
        validation.leeway = 300;
        validation.set_issuer(&[BOT_ISSUER]);
        validation.set_audience(&[self.app_id.as_str()]);
        validation.set_required_spec_claims(&["exp", "iss", "aud"]);
        let claims = jsonwebtoken::decode::<Claims>(token, &key.decoding, &validation)
            .map_err(|e| AuthFailure::Unauthorized(format!("the token is not valid: {e}")))?
            .claims;
        if claims
            .serviceurl
            .as_deref()
            .map(|u| u.trim_end_matches('/'))
            != Some(service_url.trim_end_matches('/'))
        {
            return Err(unauthorized(
                "the token's serviceurl is not the activity's serviceUrl",
            ));
        }
        if !key.endorsements.iter().any(|e| e == channel_id) {
            return Err(AuthFailure::Forbidden(format!(
                "the signing key does not endorse channel {channel_id}"
            )));
        }
        Ok(())
    }

    /// Fetches the keys when they are old, or when `kid` is unknown (once,
    /// not more often than every few seconds, so forged kids cannot make
    /// Herald hammer the metadata endpoint).
    async fn ensure_key(&self, kid: &str) {
        {
            let keys = self.keys.read().await;
            let fresh = keys.fetched.is_some_and(|f| f.elapsed() < KEYS_MAX_AGE);
            let recent = keys
                .fetched
                .is_some_and(|f| f.elapsed() < REFRESH_AT_MOST_EVERY);
            if fresh && (keys.keys.contains_key(kid) || recent) {
                return;
            }
        }
        match self.fetch().await {
            Ok(keys) => {
                let mut set = self.keys.write().await;
                set.keys = keys;
                set.fetched = Some(Instant::now());
            }
            Err(error) => {
                tracing::warn!(%error, url = %self.metadata_url, "cannot fetch the Bot Framework keys")
            }
        }
    }

    async fn fetch(&self) -> Result<HashMap<String, Key>, reqwest::Error> {
        let metadata: Metadata = self
            .http
            .get(&self.metadata_url)
            .send()
            .await?
            .error_for_status()?
            .json()
            .await?;
        let jwks: Jwks = self
            .http
            .get(&metadata.jwks_uri)
            .send()
            .await?
            .error_for_status()?
            .json()
            .await?;
        Ok(jwks
            .keys
            .into_iter()
            .filter(|k| k.kty == "RSA")
            .filter_map(|k| {
                let decoding = DecodingKey::from_rsa_components(&k.n, &k.e).ok()?;
                Some((
                    k.kid,
                    Key {
                        decoding,
                        endorsements: k.endorsements,
                    },
                ))
            })
            .collect())
    }
}
