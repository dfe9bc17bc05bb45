//! Signing staff in with OpenID Connect (authorization code with PKCE)
//! against Entra ID, through the `openidconnect` crate, and out again.
//! The provider's metadata and signing keys are discovered at the first
//! sign-in, so Herald starts even while Entra ID cannot be reached, and
//! kept fresh by the same `KeyCache` as the Bot Framework's keys: fetched
//! again after a day, and when an ID token names a key they lack (Entra
//! rolls its keys).

use std::collections::HashSet;
use std::sync::Arc;

use actix_web::cookie::{Cookie, SameSite, time::Duration as CookieDuration};
use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use openidconnect::core::{CoreAuthenticationFlow, CoreClient, CoreProviderMetadata};
use openidconnect::{
    AuthorizationCode, ClientId, ClientSecret, CsrfToken, DiscoveryError, EndpointMaybeSet,
    EndpointNotSet, EndpointSet, IssuerUrl, JsonWebKey, Nonce, PkceCodeChallenge, PkceCodeVerifier,
    RedirectUrl, Scope, TokenResponse,
};
use secrecy::ExposeSecret;
use serde::Deserialize;

use super::error::UiError;
use super::session::{SESSION_COOKIE, Staff, random_token, token_hash};
use super::shared::{html, see_other};
use super::views::{Chrome, SignInPage};
use super::{SignInSettings, Ui};
use crate::keys::{KeyCache, KeySource};

type Client = CoreClient<
    EndpointSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointMaybeSet,
    EndpointMaybeSet,
>;

pub struct SignIn {
    settings: SignInSettings,
    /// Never follows redirects: a provider's answer is taken as it is.
    http: reqwest::Client,
    provider: Arc<KeyCache<EntraProvider>>,
}

/// Entra ID's OpenID configuration, its signing keys among it, as one
/// discovery read them.
pub struct Provider {
    metadata: CoreProviderMetadata,
    key_ids: HashSet<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum ProviderError {
    #[error("the issuer URL {0:?} is not valid")]
    Issuer(String),
    #[error("cannot read Entra ID's OpenID configuration")]
    Discovery(#[source] DiscoveryError<reqwest::Error>),
}

/// Where Entra ID's configuration and keys come from.
pub struct EntraProvider {
    issuer: String,
    http: reqwest::Client,
}

impl KeySource for EntraProvider {
    type Set = Provider;
    type Error = ProviderError;

    fn whose(&self) -> &'static str {
        "Entra ID's"
    }

    async fn fetch(&self) -> Result<Provider, ProviderError> {
        let issuer = IssuerUrl::new(self.issuer.clone())
            .map_err(|_| ProviderError::Issuer(self.issuer.clone()))?;
        // Each request's future owns its client: one borrowing `self` does
        // not meet openidconnect's client bound inside the cache's task.
        let http = &|request| {
            let http = self.http.clone();
            async move { send(&http, request).await }
        };
        let metadata = CoreProviderMetadata::discover_async(issuer, http)
            .await
            .map_err(ProviderError::Discovery)?;
        let key_ids = metadata
            .jwks()
            .keys()
            .iter()
            .filter_map(|key| key.key_id())
            .map(|id| id.as_str().to_owned())
            .collect();
        Ok(Provider { metadata, key_ids })
    }

    fn knows(provider: &Provider, kid: &str) -> bool {
        provider.key_ids.contains(kid)
    }
}

impl SignIn {
    pub fn new(settings: SignInSettings) -> Self {
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(std::time::Duration::from_secs(15))
            .build()
            .unwrap_or_default();
        let source = EntraProvider {
            issuer: settings.issuer.clone(),
            http: http.clone(),
        };
        Self {
            provider: Arc::new(KeyCache::new(source, settings.key_refresh.clone())),
            settings,
            http,
        }
    }

    /// The provider's configuration, holding the key named `kid` if one is
    /// named.
    async fn provider(&self, kid: Option<&str>) -> Result<Arc<Provider>, UiError> {
        self.provider.set_with(kid).await.ok_or_else(|| {
            UiError::SignIn(match kid {
                None => "cannot read Entra ID's OpenID configuration; try again in a moment"
                    .to_owned(),
                Some(kid) => format!(
                    "the ID token is signed with a key Entra ID does not publish ({kid}); try again in a moment"
                ),
            })
        })
    }

    fn client(&self, provider: &Provider, public_url: &str) -> Result<Client, UiError> {
        let redirect = RedirectUrl::new(format!("{public_url}/auth/callback"))
            .map_err(|e| UiError::SignIn(format!("web.public_url is not valid: {e}")))?;
        Ok(CoreClient::from_provider_metadata(
            provider.metadata.clone(),
            ClientId::new(self.settings.client_id.clone()),
            Some(ClientSecret::new(
                self.settings.client_secret.expose_secret().to_owned(),
            )),
        )
        .set_redirect_uri(redirect))
    }
}

/// The HTTP client `openidconnect` calls, on Herald's reqwest.
async fn send(
    http: &reqwest::Client,
    request: openidconnect::HttpRequest,
) -> Result<openidconnect::HttpResponse, reqwest::Error> {
    let (parts, body) = request.into_parts();
    let response = http
        .request(parts.method, parts.uri.to_string())
        .headers(parts.headers)
        .body(body)
        .send()
        .await?;
    let mut answer = openidconnect::http::Response::builder().status(response.status());
    for (name, value) in response.headers() {
        answer = answer.header(name, value);
    }
    let body = response.bytes().await?.to_vec();
    Ok(answer
        .body(body)
        .unwrap_or_else(|_| openidconnect::http::Response::new(Vec::new())))
}

#[derive(Deserialize)]
pub struct ReturnTo {
    #[serde(default)]
    return_to: Option<String>,
    #[serde(default)]
    signed_out: Option<String>,
}

/// Only a path on this site: `/drafts/1`, never `//evil.example` or
/// `https://evil.example`, which would make sign-in an open redirect.
pub fn safe_return_to(text: Option<&str>) -> Result<String, UiError> {
    let Some(text) = text.filter(|t| !t.is_empty()) else {
        return Ok("/".to_owned());
    };
    let local = text.starts_with('/')
        && !text.starts_with("//")
        && !text.starts_with("/\\")
        && !text.contains(['\\', '\r', '\n'])
        && !text.chars().any(char::is_control);
    if local {
        Ok(text.to_owned())
    } else {
        Err(UiError::SignIn(format!(
            "after signing in Herald only goes back to its own pages, not to {text:?}"
        )))
    }
}

/// `GET /sign-in`: the page with the button.
pub async fn page(query: web::Query<ReturnTo>) -> Result<HttpResponse, UiError> {
    let return_to = safe_return_to(query.return_to.as_deref())?;
    let page = SignInPage {
        chrome: Chrome::bare("Sign in"),
        return_to,
        signed_out: query.signed_out.is_some(),
    };
    html(&page)
}

/// `GET /sign-in/start`: off to Entra ID, with PKCE and a nonce.
pub async fn start(
    ui: web::Data<Ui>,
    query: web::Query<ReturnTo>,
) -> Result<HttpResponse, UiError> {
    let return_to = safe_return_to(query.return_to.as_deref())?;
    begin(&ui, return_to, false, None).await
}

/// Starts a sign-in at Entra ID. `for_teams`: it runs in the Teams tab's
/// pop-up, and ends by handing the person to the tab (see `callback`).
pub(super) async fn begin(
    ui: &Ui,
    return_to: String,
    for_teams: bool,
    login_hint: Option<&str>,
) -> Result<HttpResponse, UiError> {
    let provider = ui.sign_in.provider(None).await?;
    let client = ui.sign_in.client(&provider, &ui.settings.public_url)?;
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let mut request = client
        .authorize_url(
            CoreAuthenticationFlow::AuthorizationCode,
            CsrfToken::new_random,
            Nonce::new_random,
        )
        .add_scope(Scope::new("profile".to_owned()))
        .add_scope(Scope::new("email".to_owned()))
        .set_pkce_challenge(challenge);
    if let Some(hint) = login_hint.filter(|h| !h.is_empty()) {
        request = request.add_extra_param("login_hint", hint.to_owned());
    }
    let (url, state, nonce) = request.url();
    let pending = herald_store::PendingSignIn {
        pkce_verifier: verifier.secret().clone(),
        nonce: nonce.secret().clone(),
        return_to,
        for_teams,
    };
    ui.store.start_sign_in(state.secret(), &pending).await?;
    Ok(see_other(url.as_str()))
}

#[derive(Deserialize)]
pub struct Callback {
    code: Option<String>,
    state: Option<String>,
    error: Option<String>,
    error_description: Option<String>,
}

/// What Herald reads from a verified ID token (or the Teams tab's access
/// token) besides the standard claims.
#[derive(Deserialize, Default)]
pub(super) struct EntraClaims {
    oid: Option<uuid::Uuid>,
    name: Option<String>,
    preferred_username: Option<String>,
    #[serde(default)]
    roles: Vec<String>,
    #[serde(default)]
    groups: Vec<String>,
}

/// `GET /auth/callback`: checks the state, redeems the code with the PKCE
/// verifier, verifies the ID token (signature, issuer, audience, expiry,
/// nonce), and starts a new session whatever cookie came in.
pub async fn callback(
    ui: web::Data<Ui>,
    query: web::Query<Callback>,
    request: HttpRequest,
) -> Result<HttpResponse, UiError> {
    if let Some(error) = &query.error {
        let detail = query.error_description.as_deref().unwrap_or_default();
        return Err(UiError::SignIn(format!("Entra ID said {error}: {detail}")));
    }
    let (Some(code), Some(state)) = (&query.code, &query.state) else {
        return Err(UiError::SignIn(
            "the answer from Entra ID had no code; start again from the sign-in page".to_owned(),
        ));
    };
    let pending = ui.store.finish_sign_in(state).await?.ok_or_else(|| {
        UiError::SignIn(
            "this sign-in has expired or was already used; start again from the sign-in page"
                .to_owned(),
        )
    })?;
    let claims = redeem(&ui, code, &pending).await?;
    let staff = staff_of(&ui, claims)?;
    if pending.for_teams {
        return super::teams_tab::hand_off(&ui, &staff).await;
    }
    let token = start_session(&ui, &request, &staff, false).await?;
    let mut response = see_other(&pending.return_to);
    set_session_cookie(&mut response, &ui, &token, false);
    Ok(response)
}

/// A new session for `staff`, whatever cookie came in (a token planted
/// before signing in is worthless); returns the cookie's token.
pub(super) async fn start_session(
    ui: &Ui,
    request: &HttpRequest,
    staff: &Staff,
    in_teams: bool,
) -> Result<String, UiError> {
    let token = random_token();
    let now = time::OffsetDateTime::now_utc();
    let session = herald_store::StaffSession {
        user_id: staff.id,
        user_name: staff.name.clone(),
        user_principal_name: staff.upn.clone(),
        roles: staff.role_names(),
        csrf_token: random_token(),
        created_at: now,
        last_seen_at: now,
        in_teams,
    };
    if let Some(old) = request.cookie(SESSION_COOKIE) {
        ui.store.delete_session(&token_hash(old.value())).await?;
    }
    ui.store.purge_sessions(ui.settings.lifetime).await?;
    ui.store
        .create_session(&token_hash(&token), &session)
        .await?;
    tracing::info!(user = %staff.upn, role = ?staff.role, in_teams, "signed in");
    Ok(token)
}

async fn redeem(
    ui: &Ui,
    code: &str,
    pending: &herald_store::PendingSignIn,
) -> Result<EntraClaims, UiError> {
    let sign_in = &ui.sign_in;
    let public_url = &ui.settings.public_url;
    let client = sign_in.client(&*sign_in.provider(None).await?, public_url)?;
    let refused =
        |e: &dyn std::fmt::Display| UiError::SignIn(format!("Entra ID refused the sign-in: {e}"));
    let tokens = client
        .exchange_code(AuthorizationCode::new(code.to_owned()))
        .map_err(|e| refused(&e))?
        .set_pkce_verifier(PkceCodeVerifier::new(pending.pkce_verifier.clone()))
        .request_async(&|request| send(&sign_in.http, request))
        .await
        .map_err(|e| refused(&e))?;
    let id_token = tokens
        .id_token()
        .ok_or_else(|| UiError::SignIn("Entra ID sent no ID token".to_owned()))?;
    // Verified with the keys that name the token's key: a key Entra has
    // rolled over to since the last fetch is fetched now.
    let kid = jsonwebtoken::decode_header(id_token.to_string())
        .ok()
        .and_then(|header| header.kid);
    let verifier = sign_in.client(&*sign_in.provider(kid.as_deref()).await?, public_url)?;
    id_token
        .claims(
            &verifier.id_token_verifier(),
            &Nonce::new(pending.nonce.clone()),
        )
        .map_err(|e| refused(&e))?;
    // Verified above; the payload is read again for Entra's own claims.
    let payload = id_token
        .to_string()
        .split('.')
        .nth(1)
        .and_then(|part| URL_SAFE_NO_PAD.decode(part).ok())
        .unwrap_or_default();
    Ok(serde_json::from_slice(&payload).unwrap_or_default())
}

/// The person and their role: Herald's app roles in the token, else the
/// configured lists of people and groups.
pub(super) fn staff_of(ui: &Ui, claims: EntraClaims) -> Result<Staff, UiError> {
    let id = claims
        .oid
        .ok_or_else(|| UiError::SignIn("the ID token names no Entra object id (oid)".to_owned()))?;
    let upn = claims.preferred_username.unwrap_or_default();
    let listed = |list: &[String]| {
        list.iter().any(|entry| {
            entry.eq_ignore_ascii_case(&upn)
                || claims.groups.iter().any(|g| g.eq_ignore_ascii_case(entry))
        })
    };
    let has = |role: &str| claims.roles.iter().any(|r| r == role);
    let role = if has("Herald.Admin") || listed(&ui.settings.admins) {
        Some(super::Role::Admin)
    } else if has("Herald.Author") || listed(&ui.settings.authors) {
        Some(super::Role::Author)
    } else {
        None
    };
    Ok(Staff {
        id,
        name: claims.name.unwrap_or_else(|| upn.clone()),
        upn,
        role,
        csrf_token: String::new(),
        program: None,
        in_teams: false,
    })
}

/// The session's cookie. A browser's is `SameSite=Lax`. The Teams tab's
/// lives in a cross-site frame, where browsers send only a cookie that is
/// `SameSite=None; Secure` and, with third-party cookies blocked, only one
/// that is also `Partitioned` (kept for Herald-inside-this-top-site
/// alone). actix's cookie type has no `Partitioned`, so that one is
/// written by hand.
pub(super) fn set_session_cookie(
    response: &mut HttpResponse,
    ui: &Ui,
    token: &str,
    in_teams: bool,
) {
    let max_age = if token.is_empty() {
        0
    } else {
        ui.settings.lifetime.absolute.whole_seconds()
    };
    let value = if in_teams {
        format!(
            "{SESSION_COOKIE}={token}; Path=/; Max-Age={max_age}; HttpOnly; Secure; SameSite=None; Partitioned"
        )
    } else {
        Cookie::build(SESSION_COOKIE, token.to_owned())
            .path("/")
            .http_only(true)
            .secure(ui.settings.secure_cookies())
            .same_site(SameSite::Lax)
            .max_age(CookieDuration::seconds(max_age))
            .finish()
            .to_string()
    };
    if let Ok(value) = header::HeaderValue::from_str(&value) {
        response.headers_mut().append(header::SET_COOKIE, value);
    }
}

/// `POST /sign-out`: the session ends here and now. Both kinds of cookie
/// are removed: the request does not say which one it came with.
pub async fn sign_out(ui: web::Data<Ui>, request: HttpRequest) -> Result<HttpResponse, UiError> {
    if let Some(cookie) = request.cookie(SESSION_COOKIE) {
        ui.store.delete_session(&token_hash(cookie.value())).await?;
    }
    let mut response = if super::teams_tab::in_frame(&request) {
        see_other("/teams?signed_out=1")
    } else {
        see_other("/sign-in?signed_out=1")
    };
    set_session_cookie(&mut response, &ui, "", false);
    set_session_cookie(&mut response, &ui, "", true);
    Ok(response)
}
