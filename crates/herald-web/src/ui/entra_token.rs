//! Checking an Entra ID access token: signed by one of Entra's published
//! keys (fetched again when a token names a key the cache lacks, as Entra
//! rolls them), issued by the organisation's tenant, for one of Herald's
//! audiences, within its lifetime. Programs calling the API (`v1::programs`)
//! and the Teams tab's single sign-on (`teams_tab`) each check their own
//! claims on top.

use std::sync::Arc;

use jsonwebtoken::{Algorithm, Validation};
use serde::de::DeserializeOwned;

use crate::keys::{KeyCache, OpenIdKeys};

/// Clock skew allowed on a token's `exp` and `nbf`.
const CLOCK_SKEW_SECS: u64 = 300;

/// Why a token was refused, in words for the caller.
#[derive(Debug, thiserror::Error)]
pub enum Refusal {
    /// Not a JWT at all.
    #[error("it is not a JSON Web Token")]
    NotJwt,
    #[error("{0}")]
    Invalid(String),
}

/// The token's claims, once its signature, issuer, audience and lifetime
/// hold.
pub async fn verify<C: DeserializeOwned>(
    keys: &Arc<KeyCache<OpenIdKeys>>,
    token: &str,
    issuer: &str,
    audiences: &[String],
) -> Result<C, Refusal> {
    let header = jsonwebtoken::decode_header(token).map_err(|_| Refusal::NotJwt)?;
    if !matches!(header.alg, Algorithm::RS256) {
        return Err(Refusal::Invalid(
            "Entra ID signs with RS256 only".to_owned(),
        ));
    }
    let kid = header
        .kid
        .ok_or_else(|| Refusal::Invalid("it names no signing key".to_owned()))?;
    let key = keys
        .set_with(Some(&kid))
        .await
        .and_then(|keys| keys.get(&kid).cloned())
        .ok_or_else(|| {
            Refusal::Invalid(format!(
                "its key {kid} is not among Entra ID's signing keys"
            ))
        })?;
    let mut validation = Validation::new(Algorithm::RS256);
    validation.leeway = CLOCK_SKEW_SECS;
    validation.validate_nbf = true;
    validation.set_issuer(&[issuer]);
    validation.set_audience(audiences);
    validation.set_required_spec_claims(&["exp", "iss", "aud"]);
    jsonwebtoken::decode::<C>(token, &key.decoding, &validation)
        .map(|data| data.claims)
        .map_err(|e| Refusal::Invalid(e.to_string()))
}
