//! Entra ID: the v2.0 token endpoint (client credentials and authorization
//! code with PKCE), OpenID discovery and the tenant's signing keys.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use actix_web::{HttpRequest, HttpResponse, web};
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use serde_json::{Value, json};

use crate::keys::{AccessClaims, now_secs};
use crate::state::{AuthCode, Emulator};
use crate::wire::{header, now_rfc3339};

pub const GRAPH_AUDIENCE: &str = "https://graph.microsoft.com";
pub const BOT_AUDIENCE: &str = "https://api.botframework.com";
const BOT_TENANT: &str = "botframework.com";

pub fn routes(config: &mut web::ServiceConfig) {
    config
        .route("/{tenant}/oauth2/v2.0/token", web::post().to(token))
        .route(
            "/{tenant}/oauth2/v2.0/authorize",
            web::get().to(authorize_page),
        )
        .route(
            "/{tenant}/oauth2/v2.0/authorize",
            web::post().to(authorize_choice),
        )
        .route("/{tenant}/oauth2/v2.0/logout", web::get().to(logout))
        .route(
            "/{tenant}/v2.0/.well-known/openid-configuration",
            web::get().to(discovery),
        )
        .route("/{tenant}/discovery/v2.0/keys", web::get().to(keys));
}

/// Entra's error body: an OAuth error plus AADSTS details.
pub(crate) fn oauth_error(
    status: u16,
    error: &str,
    aadsts: u32,
    description: &str,
) -> HttpResponse {
    let status = actix_web::http::StatusCode::from_u16(status)
        .unwrap_or(actix_web::http::StatusCode::BAD_REQUEST);
    let trace = uuid::Uuid::new_v4().to_string();
    HttpResponse::build(status).json(json!({
        "error": error,
        "error_description": format!("AADSTS{aadsts}: {description} Trace ID: {trace}"),
        "error_codes": [aadsts],
        "timestamp": now_rfc3339(),
        "trace_id": trace,
        "correlation_id": uuid::Uuid::new_v4().to_string(),
    }))
}

pub(crate) fn issuer(emulator: &Emulator, tenant: &str) -> String {
    format!("{}/{tenant}/v2.0", emulator.urls.base)
}

fn known_tenant(emulator: &Emulator, tenant: &str) -> bool {
    tenant == emulator.tenant_id() || tenant == BOT_TENANT
}

async fn token(
    emulator: web::Data<Emulator>,
    tenant: web::Path<String>,
    request: HttpRequest,
    form: web::Form<HashMap<String, String>>,
) -> HttpResponse {
    if let Some(scope) = form.get("scope") {
        emulator.stats.update(|s| {
            *s.token_requests_by_scope.entry(scope.clone()).or_default() += 1;
        });
        let latency = emulator.behaviour().token_latency_ms.for_scope(scope);
        if !latency.is_zero() {
            tokio::time::sleep(latency).await;
        }
    }
    let response = issue_token(&emulator, &tenant, &request, &form);
    emulator.stats.request(
        "POST /{tenant}/oauth2/v2.0/token",
        response.status().as_u16(),
    );
    response
}

fn issue_token(
    emulator: &Emulator,
    tenant: &str,
    request: &HttpRequest,
    form: &HashMap<String, String>,
) -> HttpResponse {
    if !known_tenant(emulator, tenant) {
        return oauth_error(
            400,
            "invalid_request",
            90002,
            &format!(
                "Tenant '{tenant}' not found. Check to make sure you have the correct tenant ID."
            ),
        );
    }
    let (client_id, client_secret) = client_credentials(request, form);
    let Some(client_id) = client_id else {
        return oauth_error(
            400,
            "invalid_request",
            900144,
            "The request body must contain the following parameter: 'client_id'.",
        );
    };
    if client_id != emulator.app_id() {
        if let Some(app) = crate::apps::client_apps(emulator.app_id())
            .into_iter()
            .find(|app| app.app_id == client_id)
        {
            return client_app_token(emulator, tenant, form, &app, client_secret.as_deref());
        }
        return oauth_error(
            400,
            "unauthorized_client",
            700016,
            &format!(
                "Application with identifier '{client_id}' was not found in the directory '{tenant}'."
            ),
        );
    }
    if client_secret.as_deref() != Some(emulator.app_secret.as_str()) {
        return oauth_error(
            401,
            "invalid_client",
            7000215,
            "Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID.",
        );
    }
    match form.get("grant_type").map(String::as_str) {
        Some("client_credentials") => client_credentials_grant(emulator, tenant, form),
        Some("authorization_code") => authorization_code_grant(emulator, tenant, form),
        Some(other) => oauth_error(
            400,
            "unsupported_grant_type",
            70003,
            &format!("The app requested an unsupported grant type '{other}'."),
        ),
        None => oauth_error(
            400,
            "invalid_request",
            900144,
            "The request body must contain the following parameter: 'grant_type'.",
        ),
    }
}

/// `client_secret_post` or `client_secret_basic`.
fn client_credentials(
    request: &HttpRequest,
    form: &HashMap<String, String>,
) -> (Option<String>, Option<String>) {
    let basic = header(request, "Authorization")
        .and_then(|h| h.strip_prefix("Basic "))
        .and_then(|b| STANDARD.decode(b.trim()).ok())
        .and_then(|b| String::from_utf8(b).ok())
        .and_then(|s| {
            s.split_once(':')
                .map(|(id, secret)| (id.to_owned(), secret.to_owned()))
        });
    match basic {
        Some((id, secret)) => (Some(id), Some(secret)),
        None => (
            form.get("client_id").cloned(),
            form.get("client_secret").cloned(),
        ),
    }
}

fn client_credentials_grant(
    emulator: &Emulator,
    tenant: &str,
    form: &HashMap<String, String>,
) -> HttpResponse {
    let scope = form.get("scope").map(String::as_str).unwrap_or_default();
    let audience = match scope {
        "https://graph.microsoft.com/.default" if tenant != BOT_TENANT => GRAPH_AUDIENCE,
        "https://api.botframework.com/.default" => BOT_AUDIENCE,
        _ => {
            return oauth_error(
                400,
                "invalid_scope",
                1002012,
                &format!(
                    "The provided value for scope {scope} is not valid. Client credential flows must have a scope value with /.default suffixed to the resource identifier (application ID URI)."
                ),
            );
        }
    };
    let claims = access_claims(
        emulator,
        tenant,
        audience,
        emulator.app_id(),
        Vec::new(),
        None,
    );
    let lifetime = claims.exp - claims.iat;
    let token = emulator.keys.entra_sign(&claims);
    HttpResponse::Ok().json(json!({
        "token_type": "Bearer",
        "expires_in": lifetime,
        "ext_expires_in": lifetime,
        "access_token": token,
    }))
}

/// A token another application of the tenant asks for, to call Herald's
/// API: audience Herald's app id, with the app roles it was granted.
fn client_app_token(
    emulator: &Emulator,
    tenant: &str,
    form: &HashMap<String, String>,
    app: &crate::apps::ClientApp,
    secret: Option<&str>,
) -> HttpResponse {
    if secret != Some(app.secret.as_str()) {
        return oauth_error(
            401,
            "invalid_client",
            7000215,
            "Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID.",
        );
    }
    if form.get("grant_type").map(String::as_str) != Some("client_credentials") {
        return oauth_error(
            400,
            "unsupported_grant_type",
            70003,
            "The app requested an unsupported grant type; this application may use client_credentials only.",
        );
    }
    let herald = emulator.app_id();
    let scope = form.get("scope").map(String::as_str).unwrap_or_default();
    let known = [
        format!("api://{herald}/.default"),
        format!("{herald}/.default"),
    ];
    if tenant == BOT_TENANT || !known.iter().any(|k| k == scope) {
        return oauth_error(
            400,
            "invalid_scope",
            1002012,
            &format!(
                "The provided value for scope {scope} is not valid. Client credential flows must have a scope value with /.default suffixed to the resource identifier (application ID URI)."
            ),
        );
    }
    let mut claims = access_claims(
        emulator,
        tenant,
        herald,
        &app.service_principal_id,
        app.roles.clone(),
        None,
    );
    claims.appid = app.app_id.clone();
    claims.azp = app.app_id.clone();
    let lifetime = claims.exp - claims.iat;
    let token = emulator.keys.entra_sign(&claims);
    HttpResponse::Ok().json(json!({
        "token_type": "Bearer",
        "expires_in": lifetime,
        "ext_expires_in": lifetime,
        "access_token": token,
    }))
}

fn access_claims(
    emulator: &Emulator,
    tenant: &str,
    audience: &str,
    subject: &str,
    roles: Vec<String>,
    scope: Option<String>,
) -> AccessClaims {
    let now = now_secs();
    let tenant_id = if tenant == BOT_TENANT {
        // Bot Framework's own tenant id, as real tokens carry it.
        "d6d49420-f39b-4df7-a1dc-d59a935871db".to_owned()
    } else {
        tenant.to_owned()
    };
    AccessClaims {
        aud: audience.to_owned(),
        iss: issuer(emulator, tenant),
        tid: tenant_id,
        appid: emulator.app_id().to_owned(),
        azp: emulator.app_id().to_owned(),
        sub: subject.to_owned(),
        oid: subject.to_owned(),
        iat: now,
        nbf: now,
        exp: now + emulator.behaviour().token_lifetime_secs,
        roles,
        scp: scope,
    }
}

fn authorization_code_grant(
    emulator: &Emulator,
    tenant: &str,
    form: &HashMap<String, String>,
) -> HttpResponse {
    let code = form.get("code").cloned().unwrap_or_default();
    let Some(grant) = emulator.world().auth_codes.remove(&code) else {
        return oauth_error(
            400,
            "invalid_grant",
            70000,
            "The provided authorization code is invalid, expired or was already redeemed.",
        );
    };
    if grant.expires < Instant::now() {
        return oauth_error(
            400,
            "invalid_grant",
            70008,
            "The provided authorization code or refresh token has expired due to inactivity.",
        );
    }
    if form.get("redirect_uri") != Some(&grant.redirect_uri)
        || form.get("client_id").is_some_and(|c| *c != grant.client_id)
    {
        return oauth_error(
            400,
            "invalid_grant",
            50148,
            "The redirect_uri does not match the one used in the authorization request.",
        );
    }
    let verifier = form.get("code_verifier").cloned().unwrap_or_default();
    if pkce_challenge(&verifier) != grant.code_challenge {
        return oauth_error(
            400,
            "invalid_grant",
            501481,
            "The Code_Verifier does not match the code_challenge supplied in the authorization request.",
        );
    }
    let (user_id, name, upn, roles) = {
        let world = emulator.world();
        let user = world.directory.user(grant.user);
        (
            user.id.to_string(),
            user.display_name.clone(),
            user.user_principal_name.clone(),
            user.staff_roles.clone(),
        )
    };
    let app_audience = format!("api://{}", emulator.app_id());
    let audience = if grant.scope.contains(&app_audience) {
        app_audience.as_str()
    } else {
        GRAPH_AUDIENCE
    };
    let access = access_claims(
        emulator,
        tenant,
        audience,
        &user_id,
        roles.clone(),
        Some(grant.scope.clone()),
    );
    let (now, lifetime) = (access.iat, access.exp - access.iat);
    let id_token = json!({
        "aud": grant.client_id,
        "iss": issuer(emulator, tenant),
        "iat": now, "nbf": now, "exp": now + lifetime,
        "sub": user_id, "oid": user_id, "tid": tenant,
        "name": name, "preferred_username": upn,
        "roles": roles,
        "nonce": grant.nonce,
        "ver": "2.0",
    });
    HttpResponse::Ok().json(json!({
        "token_type": "Bearer",
        "scope": grant.scope,
        "expires_in": lifetime,
        "ext_expires_in": lifetime,
        "access_token": emulator.keys.entra_sign(&access),
        "id_token": emulator.keys.entra_sign(&id_token),
    }))
}

pub fn pkce_challenge(verifier: &str) -> String {
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, verifier.as_bytes());
    URL_SAFE_NO_PAD.encode(digest.as_ref())
}

/// The parameters of an authorization request, checked.
struct AuthorizeRequest {
    client_id: String,
    redirect_uri: String,
    redirect: url::Url,
    scope: String,
    state: Option<String>,
    nonce: Option<String>,
    code_challenge: String,
}

fn check_authorize(
    emulator: &Emulator,
    tenant: &str,
    params: &HashMap<String, String>,
) -> Result<AuthorizeRequest, String> {
    if tenant != emulator.tenant_id() {
        return Err(format!("AADSTS90002: Tenant '{tenant}' not found."));
    }
    let get = |name: &str| params.get(name).filter(|v| !v.is_empty()).cloned();
    let client_id =
        get("client_id").ok_or("AADSTS900144: The request must contain 'client_id'.")?;
    if client_id != emulator.app_id() {
        return Err(format!(
            "AADSTS700016: Application with identifier '{client_id}' was not found in the directory."
        ));
    }
    if get("response_type").as_deref() != Some("code") {
        return Err("AADSTS700054: response_type must be 'code'.".to_owned());
    }
    let redirect_uri =
        get("redirect_uri").ok_or("AADSTS900144: The request must contain 'redirect_uri'.")?;
    let redirect = url::Url::parse(&redirect_uri).map_err(|_| {
        format!(
            "AADSTS90102: 'redirect_uri' value must be a valid absolute URI, got '{redirect_uri}'."
        )
    })?;
    if !matches!(redirect.scheme(), "http" | "https") {
        return Err("AADSTS50011: The redirect URI must be http or https.".to_owned());
    }
    let code_challenge = get("code_challenge")
        .ok_or("AADSTS9002325: Proof Key for Code Exchange is required: send code_challenge.")?;
    if get("code_challenge_method").as_deref() != Some("S256") {
        return Err("AADSTS5000541: code_challenge_method must be 'S256'.".to_owned());
    }
    Ok(AuthorizeRequest {
        client_id,
        redirect_uri,
        redirect,
        scope: get("scope").unwrap_or_else(|| "openid profile".to_owned()),
        state: get("state"),
        nonce: get("nonce"),
        code_challenge,
    })
}

async fn authorize_page(
    emulator: web::Data<Emulator>,
    tenant: web::Path<String>,
    params: web::Query<HashMap<String, String>>,
) -> HttpResponse {
    let request = match check_authorize(&emulator, &tenant, &params) {
        Ok(request) => request,
        Err(message) => return error_page(&message),
    };
    if let Some(hint) = params.get("login_hint") {
        let user = emulator.world().directory.find_user(hint);
        if let Some(user) = user {
            return redirect_with_code(&emulator, request, user);
        }
    }
    account_picker(&emulator, &params)
}

async fn authorize_choice(
    emulator: web::Data<Emulator>,
    tenant: web::Path<String>,
    form: web::Form<Vec<(String, String)>>,
) -> HttpResponse {
    // A browser posts both `account` fields: the pressed staff button's and
    // the free-text field's (empty unless typed into). The one given wins.
    let account = form
        .iter()
        .filter(|(name, value)| name == "account" && !value.trim().is_empty())
        .map(|(_, value)| value.as_str())
        .next()
        .unwrap_or_default();
    let params: HashMap<String, String> = form
        .iter()
        .filter(|(name, _)| name != "account")
        .cloned()
        .collect();
    let request = match check_authorize(&emulator, &tenant, &params) {
        Ok(request) => request,
        Err(message) => return error_page(&message),
    };
    let user = {
        let world = emulator.world();
        world
            .directory
            .find_user(account.trim())
            .filter(|&u| world.directory.user(u).account_enabled)
    };
    match user {
        Some(user) => redirect_with_code(&emulator, request, user),
        None => error_page(&format!(
            "AADSTS50034: The user account {account} does not exist in this directory or is disabled."
        )),
    }
}

fn redirect_with_code(emulator: &Emulator, request: AuthorizeRequest, user: usize) -> HttpResponse {
    let code = URL_SAFE_NO_PAD.encode(uuid::Uuid::new_v4().as_bytes());
    let mut location = request.redirect.clone();
    location.query_pairs_mut().append_pair("code", &code);
    if let Some(state) = &request.state {
        location.query_pairs_mut().append_pair("state", state);
    }
    emulator.world().auth_codes.insert(
        code,
        AuthCode {
            client_id: request.client_id,
            redirect_uri: request.redirect_uri,
            code_challenge: request.code_challenge,
            scope: request.scope,
            nonce: request.nonce,
            user,
            expires: Instant::now() + Duration::from_secs(600),
        },
    );
    HttpResponse::Found()
        .insert_header(("Location", location.to_string()))
        .finish()
}

fn account_picker(emulator: &Emulator, params: &HashMap<String, String>) -> HttpResponse {
    let staff: Vec<(String, String, String)> = {
        let world = emulator.world();
        world
            .directory
            .present_users()
            .filter(|(_, u)| !u.staff_roles.is_empty())
            .map(|(_, u)| {
                (
                    u.display_name.clone(),
                    u.user_principal_name.clone(),
                    u.staff_roles.join(", "),
                )
            })
            .collect()
    };
    let hidden: String = params
        .iter()
        .filter(|(k, _)| k.as_str() != "account")
        .map(|(k, v)| {
            format!(
                r#"<input type="hidden" name="{}" value="{}">"#,
                escape(k),
                escape(v)
            )
        })
        .collect();
    let buttons: String = staff
        .iter()
        .map(|(name, upn, roles)| {
            format!(
                r#"<li><button name="account" value="{upn}">{name}</button> <small>{upn} ({roles})</small></li>"#,
                upn = escape(upn),
                name = escape(name),
                roles = escape(roles)
            )
        })
        .collect();
    HttpResponse::Ok().content_type("text/html; charset=utf-8").body(format!(
        r#"<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Sign in (Teams emulator)</title></head>
<body><h1>Pick an account</h1><p>This is Herald's Teams emulator standing in for Microsoft Entra ID.</p>
<form method="post">{hidden}<ul>{buttons}</ul>
<p><label>Or any account's user principal name <input name="account" type="email"></label> <button>Sign in</button></p></form></body></html>"#
    ))
}

fn error_page(message: &str) -> HttpResponse {
    HttpResponse::BadRequest()
        .content_type("text/html; charset=utf-8")
        .body(format!(
            "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Sign-in error</title></head><body><h1>Sorry, but we're having trouble signing you in.</h1><p>{}</p></body></html>",
            escape(message)
        ))
}

pub(crate) fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

async fn logout(params: web::Query<HashMap<String, String>>) -> HttpResponse {
    match params.get("post_logout_redirect_uri") {
        Some(uri) => HttpResponse::Found().insert_header(("Location", uri.as_str())).finish(),
        None => HttpResponse::Ok()
            .content_type("text/html; charset=utf-8")
            .body("<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Signed out</title></head><body><p>You signed out of your account.</p></body></html>"),
    }
}

async fn discovery(emulator: web::Data<Emulator>, tenant: web::Path<String>) -> HttpResponse {
    if !known_tenant(&emulator, &tenant) {
        return oauth_error(
            400,
            "invalid_tenant",
            90002,
            &format!("Tenant '{tenant}' not found."),
        );
    }
    let base = format!("{}/{tenant}", emulator.urls.base);
    let document: Value = json!({
        "issuer": issuer(&emulator, &tenant),
        "authorization_endpoint": format!("{base}/oauth2/v2.0/authorize"),
        "token_endpoint": format!("{base}/oauth2/v2.0/token"),
        "end_session_endpoint": format!("{base}/oauth2/v2.0/logout"),
        "jwks_uri": format!("{base}/discovery/v2.0/keys"),
        "response_types_supported": ["code"],
        "response_modes_supported": ["query", "form_post"],
        "subject_types_supported": ["pairwise"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "token_endpoint_auth_methods_supported": ["client_secret_post", "client_secret_basic"],
        "code_challenge_methods_supported": ["S256"],
        "scopes_supported": ["openid", "profile", "email", "offline_access"],
        "claims_supported": ["sub", "iss", "aud", "exp", "iat", "nonce", "name", "preferred_username", "oid", "tid", "roles"],
        "tenant_region_scope": "EU",
    });
    HttpResponse::Ok().json(document)
}

async fn keys(emulator: web::Data<Emulator>, tenant: web::Path<String>) -> HttpResponse {
    if !known_tenant(&emulator, &tenant) {
        return oauth_error(
            400,
            "invalid_tenant",
            90002,
            &format!("Tenant '{tenant}' not found."),
        );
    }
    HttpResponse::Ok().json(json!({"keys": emulator.keys.entra_jwks()}))
}
