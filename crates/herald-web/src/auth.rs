//! Authenticating requests from the Bot Connector (teams-platform.md §1).
//!
//! In two steps, so that nothing of an unauthenticated body is read: first
//! the token alone (a Bearer JWT signed RS256/384/512 by a key from the Bot
//! Framework's JWKS, issued by the configured cloud's Bot Framework to this
//! bot, within its `nbf`..`exp` with 5 minutes of skew), then, once the
//! body has been parsed, what the token says of the activity (its
//! `serviceurl` claim, and a key that endorses its channel).

use std::sync::Arc;

use jsonwebtoken::{Algorithm, Validation};
use serde::Deserialize;

use crate::keys::{Key, KeyCache, KeyRefresh, OpenIdKeys};

/// The Bot Framework's issuer in Microsoft's public cloud.
pub const PUBLIC_CLOUD_ISSUER: &str = "https://api.botframework.com";
/// Clocks differ; Microsoft's SDKs allow five minutes either way.
const CLOCK_SKEW_SECS: u64 = 300;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthFailure {
    /// 401: not a valid token for this bot.
    #[error("unauthorized: {0}")]
    Unauthorized(String),
    /// 403: a valid token whose key does not endorse the channel.
    #[error("forbidden: {0}")]
    Forbidden(String),
}

#[derive(Deserialize)]
struct Claims {
    #[serde(default)]
    serviceurl: Option<String>,
}

/// A token that passed every check that needs only the token.
pub struct VerifiedToken {
    service_url: Option<String>,
    key: Arc<Key>,
}

impl VerifiedToken {
    /// The checks that need the activity: the token was issued for its
    /// serviceUrl, and its key endorses its channel.
    pub fn admits(&self, service_url: &str, channel_id: &str) -> Result<(), AuthFailure> {
        let claimed = self.service_url.as_deref().map(|u| u.trim_end_matches('/'));
        if claimed != Some(service_url.trim_end_matches('/')) {
            return Err(AuthFailure::Unauthorized(
                "the token's serviceurl is not the activity's serviceUrl".to_owned(),
            ));
        }
        if !self.key.endorsements.iter().any(|e| e == channel_id) {
            return Err(AuthFailure::Forbidden(format!(
                "the signing key does not endorse channel {channel_id}"
            )));
        }
        Ok(())
    }
}

pub struct BotAuthenticator {
    app_id: String,
    issuer: String,
    keys: Arc<KeyCache<OpenIdKeys>>,
}

impl BotAuthenticator {
    /// `issuer` is the Bot Framework's in the bot's cloud
    /// ([`PUBLIC_CLOUD_ISSUER`], or e.g. `https://api.botframework.us`).
    pub fn new(
        http: reqwest::Client,
        metadata_url: String,
        app_id: String,
        issuer: String,
    ) -> Self {
        Self {
            app_id,
            issuer,
            keys: Arc::new(KeyCache::new(
                OpenIdKeys {
                    http,
                    metadata_url,
                    whose: "the Bot Framework's",
                },
                KeyRefresh::default(),
            )),
        }
    }

    /// The same with other key refresh timings (tests shorten them).
    pub fn with_key_refresh(self, refresh: KeyRefresh) -> Self {
        Self {
            keys: Arc::new(self.keys.with_refresh(refresh)),
            ..self
        }
    }

    /// Checks the `Authorization` header's token: scheme, algorithm,
    /// signature, issuer, audience, `exp` and `nbf`.
    pub async fn verify(&self, authorization: Option<&str>) -> Result<VerifiedToken, AuthFailure> {
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
        let key = self
            .keys
            .set_with(Some(&kid))
            .await
            .and_then(|keys| keys.get(&kid).cloned())
            .ok_or_else(|| unauthorized("the token's key is not among the Bot Framework's keys"))?;
        let mut validation = Validation::new(header.alg);
        validation.leeway = CLOCK_SKEW_SECS;
        validation.validate_nbf = true;
        validation.set_issuer(&[self.issuer.as_str()]);
        validation.set_audience(&[self.app_id.as_str()]);
        validation.set_required_spec_claims(&["exp", "iss", "aud"]);
        let claims = jsonwebtoken::decode::<Claims>(token, &key.decoding, &validation)
            .map_err(|e| AuthFailure::Unauthorized(format!("the token is not valid: {e}")))?
            .claims;
        Ok(VerifiedToken {
            service_url: claims.serviceurl,
            key,
        })
    }
}
