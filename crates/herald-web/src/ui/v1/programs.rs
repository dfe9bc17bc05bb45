//! Programs calling `/api/v1`: who they are and how fast they may go.
//! A program brings `Authorization: Bearer` with either an API key an
//! admin made (`herald_...`) or an Entra ID access token of its own app
//! registration (client credentials), whose app roles `Herald.Send` /
//! `Herald.Read` say what it may do. Either way it becomes a `Staff`
//! with `program` set, named as admins named it, never a person.

use std::num::NonZeroU32;
use std::sync::Arc;

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use serde::Deserialize;

use super::problem::ApiError;
use crate::keys::{KeyCache, OpenIdKeys};
use crate::ui::entra_token::{self, Refusal};
use crate::ui::session::{Role, Scope, Staff, token_hash};
use crate::ui::{Ui, UiSettings};

/// Every API key starts so, which tells it from an Entra token.
pub const KEY_PREFIX: &str = "herald_";

/// App roles of Herald's app registration that programs are given.
pub const SEND_ROLE: &str = "Herald.Send";
pub const READ_ROLE: &str = "Herald.Read";

pub struct Programs {
    limiter: DefaultKeyedRateLimiter<String>,
    /// Entra ID's signing keys; the Teams tab's tokens are checked with them too.
    pub(crate) entra: Arc<KeyCache<OpenIdKeys>>,
    /// Issuer and audiences an access token must carry.
    issuer: String,
    audiences: Vec<String>,
}

impl Programs {
    pub fn new(settings: &UiSettings) -> Self {
        let per_minute =
            NonZeroU32::new(settings.api_requests_per_minute).unwrap_or(NonZeroU32::MIN);
        let sign_in = &settings.sign_in;
        let app_id = &sign_in.client_id;
        Self {
            limiter: RateLimiter::keyed(Quota::per_minute(per_minute)),
            entra: Arc::new(KeyCache::new(
                OpenIdKeys {
                    http: reqwest::Client::builder()
                        .timeout(std::time::Duration::from_secs(15))
                        .build()
                        .unwrap_or_default(),
                    metadata_url: format!("{}/.well-known/openid-configuration", sign_in.issuer),
                    whose: "Entra ID's",
                },
                sign_in.key_refresh.clone(),
            )),
            issuer: sign_in.issuer.clone(),
            audiences: vec![app_id.clone(), format!("api://{app_id}")],
        }
    }

    /// Refuses a caller over its rate, saying how long to wait.
    fn check_rate(&self, caller: &str) -> Result<(), ApiError> {
        self.limiter
            .check_key(&caller.to_owned())
            .map_err(|not_until| {
                let wait = not_until.wait_time_from(DefaultClock::default().now());
                ApiError::RateLimited {
                    retry_after: wait.as_secs() + u64::from(wait.subsec_nanos() > 0),
                }
            })
    }
}

/// The program behind an `Authorization` header, within its rate.
pub async fn authenticate(ui: &Ui, authorization: &str) -> Result<Staff, ApiError> {
    let token = authorization
        .strip_prefix("Bearer ")
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .ok_or_else(|| {
            ApiError::Unauthorized(
                "the Authorization header must be `Bearer ` followed by an API key or an Entra ID access token"
                    .to_owned(),
            )
        })?;
    let program = if token.starts_with(KEY_PREFIX) {
        by_key(ui, token).await?
    } else {
        by_entra_token(&ui.programs, token).await?
    };
    ui.programs.check_rate(&program.upn)?;
    Ok(program)
}

async fn by_key(ui: &Ui, token: &str) -> Result<Staff, ApiError> {
    let key = ui.store.use_api_key(&token_hash(token)).await?.ok_or_else(|| {
        ApiError::Unauthorized(
            "this API key is not known, has expired or was revoked; ask a Herald admin for a new one (Admin > API keys)"
                .to_owned(),
        )
    })?;
    let scope = Scope::parse(&key.scope).unwrap_or(Scope::Read);
    Ok(program(key.id, &key.name, format!("key:{}", key.id), scope))
}

fn program(id: uuid::Uuid, name: &str, upn: String, scope: Scope) -> Staff {
    Staff {
        id,
        name: name.to_owned(),
        upn,
        role: Some(Role::Author),
        csrf_token: String::new(),
        program: Some(scope),
        in_teams: false,
    }
}

fn refused(why: String) -> ApiError {
    ApiError::Unauthorized(format!("the access token was refused: {why}"))
}

#[derive(Deserialize)]
struct AppClaims {
    /// The calling application's client id (`appid` in v1 tokens).
    #[serde(default)]
    azp: Option<String>,
    #[serde(default)]
    appid: Option<String>,
    /// The caller's service principal.
    oid: uuid::Uuid,
    #[serde(default)]
    roles: Vec<String>,
    /// Delegated tokens carry scopes; an application's carries none.
    #[serde(default)]
    scp: Option<String>,
}

async fn by_entra_token(programs: &Programs, token: &str) -> Result<Staff, ApiError> {
    let claims: AppClaims =
        entra_token::verify(&programs.entra, token, &programs.issuer, &programs.audiences)
            .await
            .map_err(|refusal| match refusal {
                Refusal::NotJwt => ApiError::Unauthorized(
                    "the Bearer token is neither a Herald API key (herald_...) nor an Entra ID access token (a JWT)"
                        .to_owned(),
                ),
                Refusal::Invalid(why) => refused(why),
            })?;
    if claims.scp.is_some() {
        return Err(refused(
            "it was issued to a person (delegated); programs use the client credentials flow"
                .to_owned(),
        ));
    }
    let app = claims
        .azp
        .or(claims.appid)
        .unwrap_or_else(|| claims.oid.to_string());
    let has = |role: &str| claims.roles.iter().any(|r| r == role);
    let scope = if has(SEND_ROLE) {
        Scope::Send
    } else if has(READ_ROLE) {
        Scope::Read
    } else {
        return Err(ApiError::Scope(format!(
            "application {app} holds neither of Herald's app roles {SEND_ROLE} and {READ_ROLE}; an Entra admin grants one to it in Herald's app registration (API permissions, application permission, admin consent)"
        )));
    };
    Ok(program(
        claims.oid,
        &format!("Entra app {app}"),
        format!("app:{app}"),
        scope,
    ))
}
