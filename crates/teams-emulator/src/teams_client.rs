//! `/_emulator/teams-client`: a page that plays the Microsoft Teams web
//! client for one person of the directory, with Herald's personal tab
//! framed in it.
//!
//! Herald's web UI runs as a Teams tab and talks to Teams only through
//! Microsoft's own library, `@microsoft/teams-js`, over `postMessage`. To
//! test that tab without Teams, something has to answer the library as the
//! Teams client does: this page (its script is `teams_client.js`) frames
//! the tab, answers `initialize`, `getContext`, `authentication.getAuthToken`
//! and `authentication.authenticate` (with a real pop-up), and sends theme
//! changes. It speaks the library's protocol itself, with nothing injected
//! into the tab, so the tab that works here works in Teams, and the other
//! way round.
//!
//! The single sign-on token comes from `POST /_emulator/teams-client/token`,
//! an Entra ID v2 access token as Entra issues to the Teams web client for
//! the tab's `webApplicationInfo.resource`, signed with the emulator's Entra
//! keys, so Herald verifies it exactly as it verifies a real one.
//!
//! Nothing here exists at Microsoft under these paths; Herald never calls
//! them.

use std::collections::HashMap;

use actix_web::{HttpResponse, http::StatusCode, web};
use serde::Deserialize;
use serde_json::json;

use crate::entra::{escape, issuer, oauth_error};
use crate::keys::now_secs;
use crate::state::Emulator;

const PAGE: &str = include_str!("teams_client.html");
const SCRIPT: &str = include_str!("teams_client.js");

/// The Microsoft Teams web client's application id: Entra names it as the
/// authorized party (`azp`) of every tab SSO token it obtains.
pub const TEAMS_WEB_CLIENT_ID: &str = "5e3ce6c0-2b1f-4285-8d4b-75ee78787346";
/// The app as the page shows it and the tab's `entityId` (`page.id`), as
/// Herald's manifest declares its static tab.
const APP_NAME: &str = "Herald";
const ENTITY_ID: &str = "herald";
/// The scope Herald's app registration exposes for Teams SSO.
const SSO_SCOPE: &str = "access_as_user";
const THEMES: [&str; 3] = ["default", "dark", "contrast"];

/// Served from a route of its own: the page's policy allows no inline style.
const STYLE: &str = r#":root {
  color-scheme: light;
  --bg: #f5f5f5; --surface: #ffffff; --text: #242424; --muted: #616161;
  --bar: #ebebeb; --accent: #5b5fc7; --accent-text: #ffffff; --border: #d1d1d1;
}
:root[data-theme="dark"] {
  color-scheme: dark;
  --bg: #1f1f1f; --surface: #292929; --text: #ffffff; --muted: #d6d6d6;
  --bar: #141414; --accent: #7f85f5; --accent-text: #000000; --border: #525252;
}
:root[data-theme="contrast"] {
  color-scheme: dark;
  --bg: #000000; --surface: #000000; --text: #ffffff; --muted: #ffffff;
  --bar: #000000; --accent: #ffff00; --accent-text: #000000; --border: #ffffff;
}
* { box-sizing: border-box; }
html, body { height: 100%; margin: 0; }
body {
  display: flex; background: var(--bg); color: var(--text);
  font: 14px/1.4 "Segoe UI", system-ui, -apple-system, sans-serif;
}
.app-bar {
  flex: 0 0 4.25rem; background: var(--bar); border-right: 1px solid var(--border);
  padding: .5rem .25rem; overflow-y: auto;
}
.app-bar ul { list-style: none; margin: 0; padding: 0; display: flex; flex-direction: column; gap: .5rem; }
.app-bar li {
  display: flex; flex-direction: column; align-items: center; gap: .125rem;
  font-size: 10px; color: var(--muted); text-align: center; padding: .25rem 0; border-radius: 4px;
}
.app-bar .icon {
  display: grid; place-items: center; width: 1.75rem; height: 1.75rem; border-radius: 4px;
  border: 1px solid var(--border); font-weight: 600; font-size: 12px;
}
.app-bar li[aria-current="page"] { color: var(--text); font-weight: 600; }
.app-bar li[aria-current="page"] .icon { background: var(--accent); color: var(--accent-text); border-color: var(--accent); }
.shell { flex: 1; min-width: 0; display: flex; flex-direction: column; }
.app-header {
  display: flex; flex-wrap: wrap; align-items: center; gap: .25rem 1rem;
  padding: .5rem 1rem; background: var(--surface); border-bottom: 1px solid var(--border);
}
.app-header h1 { margin: 0; font-size: 18px; }
.person { margin: 0; color: var(--muted); overflow-wrap: anywhere; }
.person strong { color: var(--text); }
.themes { display: flex; flex-wrap: wrap; gap: .25rem; margin-left: auto; }
.themes button {
  font: inherit; padding: .25rem .6rem; border-radius: 4px; cursor: pointer;
  border: 1px solid var(--border); background: var(--surface); color: var(--text);
}
.themes button[aria-pressed="true"] { background: var(--accent); color: var(--accent-text); border-color: var(--accent); }
.themes button:focus-visible { outline: 2px solid var(--text); outline-offset: 2px; }
main { flex: 1; min-height: 0; display: flex; flex-direction: column; }
#tab { flex: 1; width: 100%; min-height: 18rem; border: 0; background: var(--surface); }
.host-log {
  flex: 0 0 auto; max-height: 8.5rem; overflow-y: auto; padding: 0 1rem .5rem; background: var(--bg);
  border-top: 1px solid var(--border); font-size: 12px; color: var(--muted);
}
.host-log h2 { position: sticky; top: 0; font-size: 12px; margin: 0; padding: .25rem 0; color: var(--text); background: var(--bg); }
.host-log ol { margin: 0; padding-left: 1.5rem; }
.notice { padding: 1rem; max-width: 40rem; }
@media (max-width: 600px) {
  .app-bar { flex-basis: 3.25rem; padding: .5rem .125rem; }
  .app-header { padding: .5rem; }
  .themes { margin-left: 0; }
  .host-log { padding: 0 .5rem .5rem; }
}
"#;

pub fn routes(config: &mut web::ServiceConfig) {
    config
        .route("/_emulator/teams-client", web::get().to(page))
        .route("/_emulator/teams-client/client.js", web::get().to(script))
        .route("/_emulator/teams-client/client.css", web::get().to(style))
        .route("/_emulator/teams-client/token", web::post().to(token));
}

/// The person the page plays Teams for, as Teams knows them.
struct Person {
    id: String,
    name: String,
    upn: String,
}

enum Lookup {
    Found(Person),
    Unknown,
    Disabled(String),
}

fn person(emulator: &Emulator, key: &str) -> Lookup {
    let world = emulator.world();
    let Some(index) = world.directory.find_user(key.trim()) else {
        return Lookup::Unknown;
    };
    let user = world.directory.user(index);
    if !user.account_enabled {
        return Lookup::Disabled(user.user_principal_name.clone());
    }
    Lookup::Found(Person {
        id: user.id.to_string(),
        name: user.display_name.clone(),
        upn: user.user_principal_name.clone(),
    })
}

/// The page's own policy: nothing inline, and only the tab's origin framed.
fn policy(frame_origin: Option<&str>) -> String {
    let frames = frame_origin.unwrap_or("'none'");
    format!(
        "default-src 'self'; frame-src {frames}; object-src 'none'; base-uri 'none'; \
         form-action 'none'; frame-ancestors 'none'"
    )
}

fn html(status: StatusCode, frame_origin: Option<&str>, body: String) -> HttpResponse {
    HttpResponse::build(status)
        .content_type("text/html; charset=utf-8")
        .insert_header(("Content-Security-Policy", policy(frame_origin)))
        .insert_header(("X-Content-Type-Options", "nosniff"))
        .insert_header(("Cache-Control", "no-store"))
        .body(body)
}

fn notice(status: StatusCode, title: &str, message: &str) -> HttpResponse {
    html(
        status,
        None,
        format!(
            "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
             <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
             <title>{title} (Teams emulator)</title>\
             <link rel=\"stylesheet\" href=\"/_emulator/teams-client/client.css\"></head>\
             <body><main class=\"notice\"><h1>{title}</h1><p>{message}</p></main></body></html>",
            title = escape(title),
            message = escape(message)
        ),
    )
}

/// Replaces `{name}`-style placeholders in one pass: a value is never
/// searched again, so a value holding braces is inserted as it is.
/// Unknown placeholders stay as they were.
fn fill(template: &str, open: &str, close: &str, value: impl Fn(&str) -> Option<String>) -> String {
    let mut out = String::with_capacity(template.len());
    let mut rest = template;
    while let Some(start) = rest.find(open) {
        out.push_str(&rest[..start]);
        let after = &rest[start + open.len()..];
        match after.find(close) {
            Some(end) => match value(&after[..end]) {
                Some(v) => {
                    out.push_str(&v);
                    rest = &after[end + close.len()..];
                }
                None => {
                    out.push_str(open);
                    rest = after;
                }
            },
            None => {
                out.push_str(&rest[start..]);
                rest = "";
            }
        }
    }
    out.push_str(rest);
    out
}

/// `encodeURIComponent`: a substituted value stays one query value or path
/// segment, whatever it holds.
fn encode_component(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for byte in value.bytes() {
        if byte.is_ascii_alphanumeric() || b"-_.!~*'()".contains(&byte) {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// What Teams puts in place of a content URL's placeholders: the context's
/// fields under their TeamsJS v1 names (`{loginHint}`) and v2 names
/// (`{user.loginHint}`).
struct TabContext<'a> {
    person: &'a Person,
    tenant: &'a str,
    theme: &'a str,
    locale: &'a str,
    session_id: &'a str,
    app_session_id: &'a str,
}

impl TabContext<'_> {
    fn placeholder(&self, name: &str) -> Option<String> {
        let value = match name {
            "entityId" | "page.id" => ENTITY_ID,
            "subEntityId" | "page.subPageId" => "",
            "loginHint" | "user.loginHint" => &self.person.upn,
            "userPrincipalName" | "user.userPrincipalName" => &self.person.upn,
            "userObjectId" | "user.id" => &self.person.id,
            "tid" | "user.tenant.id" => self.tenant,
            "theme" | "app.theme" => self.theme,
            "locale" | "app.locale" => self.locale,
            "hostClientType" | "app.host.clientType" => "web",
            "hostName" | "app.host.name" => "Teams",
            "frameContext" | "page.frameContext" => "content",
            "sessionId" | "app.host.sessionId" => self.session_id,
            "appSessionId" | "app.sessionId" => self.app_session_id,
            _ => return None,
        };
        Some(encode_component(value))
    }
}

/// A BCP 47 tag as Teams passes it (`en-US`, `de-DE`, `zh-Hant-TW`).
fn valid_locale(locale: &str) -> bool {
    (2..=35).contains(&locale.len())
        && locale.starts_with(|c: char| c.is_ascii_alphabetic())
        && locale
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-')
        && !locale.ends_with('-')
        && !locale.contains("--")
}

/// JSON for a `<script type="application/json">` block: `<`, `>` and `&`
/// escaped, so no value can end the block or start markup.
fn script_json(value: &serde_json::Value) -> String {
    value
        .to_string()
        .replace('<', "\\u003c")
        .replace('>', "\\u003e")
        .replace('&', "\\u0026")
}

async fn page(
    emulator: web::Data<Emulator>,
    query: web::Query<HashMap<String, String>>,
) -> HttpResponse {
    let get = |name: &str| query.get(name).map(|v| v.trim()).filter(|v| !v.is_empty());
    let Some(key) = get("user") else {
        return notice(
            StatusCode::BAD_REQUEST,
            "Whose Teams?",
            "Add ?user= with the user principal name (or object id) of someone in the emulator's directory.",
        );
    };
    let person = match person(&emulator, key) {
        Lookup::Found(person) => person,
        Lookup::Unknown => {
            return notice(
                StatusCode::NOT_FOUND,
                "No such person",
                &format!(
                    "There is no one called {key} in the emulator's directory, so there is no Teams to show for them."
                ),
            );
        }
        Lookup::Disabled(upn) => {
            return notice(
                StatusCode::NOT_FOUND,
                "Account disabled",
                &format!(
                    "The account {upn} is disabled in the emulator's directory, so it cannot sign in to Teams."
                ),
            );
        }
    };
    let theme = get("theme").unwrap_or("default");
    if !THEMES.contains(&theme) {
        return notice(
            StatusCode::BAD_REQUEST,
            "Unknown theme",
            &format!("theme must be default, dark or contrast, not {theme}."),
        );
    }
    let locale = get("locale").unwrap_or("en-US");
    if !valid_locale(locale) {
        return notice(
            StatusCode::BAD_REQUEST,
            "Unknown locale",
            &format!("locale must be a BCP 47 language tag such as en-US, not {locale}."),
        );
    }
    let consent = get("consent").unwrap_or("granted");
    if !matches!(consent, "granted" | "missing") {
        return notice(
            StatusCode::BAD_REQUEST,
            "Unknown consent",
            &format!("consent must be granted or missing, not {consent}."),
        );
    }
    let Some(content_url) = get("tab") else {
        return notice(
            StatusCode::BAD_REQUEST,
            "Which tab?",
            "Add ?tab= with the tab's contentUrl, placeholders such as {loginHint} included.",
        );
    };
    let session_id = uuid::Uuid::new_v4().to_string();
    let app_session_id = uuid::Uuid::new_v4().to_string();
    let tenant = emulator.tenant_id().to_owned();
    let context = TabContext {
        person: &person,
        tenant: &tenant,
        theme,
        locale,
        session_id: &session_id,
        app_session_id: &app_session_id,
    };
    let tab_url = fill(content_url, "{", "}", |name| context.placeholder(name));
    let tab = match url::Url::parse(&tab_url) {
        Ok(tab) if matches!(tab.scheme(), "http" | "https") && tab.host_str().is_some() => tab,
        _ => {
            return notice(
                StatusCode::BAD_REQUEST,
                "Not a tab address",
                &format!(
                    "The tab's contentUrl must be an absolute http or https URL, not {content_url}."
                ),
            );
        }
    };
    let tab_origin = tab.origin().ascii_serialization();
    // Teams reads it from the manifest's webApplicationInfo; by default,
    // the one Herald's manifest declares for a tab served where this is.
    let resource = get("resource").map(str::to_owned).unwrap_or_else(|| {
        let host = tab.host_str().unwrap_or_default();
        format!("api://{host}/{}", emulator.app_id())
    });
    let data = json!({
        "appName": APP_NAME,
        "entityId": ENTITY_ID,
        "user": {
            "id": person.id,
            "name": person.name,
            "upn": person.upn,
            "tenantId": tenant,
        },
        "theme": theme,
        "locale": locale,
        "consent": consent,
        "resource": resource,
        "tabUrl": tab.as_str(),
        "tabOrigin": tab_origin,
        "sessionId": session_id,
        "appSessionId": app_session_id,
        "tokenUrl": "/_emulator/teams-client/token",
    });
    let body = fill(PAGE, "{{", "}}", |name| {
        Some(match name {
            "theme" => escape(theme),
            "app_name" => escape(APP_NAME),
            "person_name" => escape(&person.name),
            "person_upn" => escape(&person.upn),
            "data" => script_json(&data),
            _ => return None,
        })
    });
    html(StatusCode::OK, Some(&tab_origin), body)
}

async fn script() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/javascript; charset=utf-8")
        .insert_header(("X-Content-Type-Options", "nosniff"))
        .insert_header(("Cache-Control", "no-cache"))
        .body(SCRIPT)
}

async fn style() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/css; charset=utf-8")
        .insert_header(("X-Content-Type-Options", "nosniff"))
        .insert_header(("Cache-Control", "no-cache"))
        .body(STYLE)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TokenRequest {
    user: String,
    resource: String,
    /// For tests: a token issued this many seconds ago, as a tab that kept
    /// one too long would hold (Teams itself always gives a fresh one).
    #[serde(default)]
    age_secs: u64,
}

/// The app id an `api://{host}/{app id}` resource names, as Teams requires
/// `webApplicationInfo.resource` to be written.
fn resource_app_id(resource: &str) -> Option<&str> {
    let (host, app_id) = resource.strip_prefix("api://")?.rsplit_once('/')?;
    let valid = !host.is_empty()
        && !app_id.is_empty()
        && !resource
            .chars()
            .any(|c| c.is_whitespace() || c.is_control());
    valid.then_some(app_id)
}

/// The token Teams obtains from Entra ID for the tab's single sign-on.
async fn token(emulator: web::Data<Emulator>, body: web::Bytes) -> HttpResponse {
    let request: TokenRequest = match serde_json::from_slice(&body) {
        Ok(request) => request,
        Err(e) => {
            return oauth_error(
                400,
                "invalid_request",
                900144,
                &format!("The request body must be JSON with 'user' and 'resource': {e}."),
            );
        }
    };
    let tenant = emulator.tenant_id().to_owned();
    let app_id = emulator.app_id().to_owned();
    if !resource_app_id(&request.resource).is_some_and(|id| id.eq_ignore_ascii_case(&app_id)) {
        return oauth_error(
            400,
            "invalid_resource",
            500011,
            &format!(
                "The resource principal named {} was not found in the tenant named {tenant}. \
                 This can happen if the application has not been installed by the administrator \
                 of the tenant or consented to by any user in the tenant. You might have sent \
                 your authentication request to the wrong tenant.",
                request.resource
            ),
        );
    }
    let person = match person(&emulator, &request.user) {
        Lookup::Found(person) => person,
        Lookup::Unknown => {
            return oauth_error(
                404,
                "invalid_grant",
                50034,
                &format!(
                    "The user account {} does not exist in the {tenant} directory. To sign into \
                     this application, the account must be added to the directory.",
                    request.user
                ),
            );
        }
        Lookup::Disabled(upn) => {
            return oauth_error(
                404,
                "invalid_grant",
                50057,
                &format!("The user account {upn} is disabled."),
            );
        }
    };
    let roles = {
        let world = emulator.world();
        world
            .directory
            .find_user(&person.id)
            .map(|index| world.directory.user(index).staff_roles.clone())
            .unwrap_or_default()
    };
    let now = now_secs().saturating_sub(request.age_secs);
    let mut claims = json!({
        "aud": app_id,
        "iss": issuer(&emulator, &tenant),
        "iat": now,
        "nbf": now,
        "exp": now + emulator.behaviour().token_lifetime_secs,
        "azp": TEAMS_WEB_CLIENT_ID,
        "azpacr": "0",
        "name": person.name,
        "oid": person.id,
        "sub": person.id,
        "preferred_username": person.upn,
        "scp": SSO_SCOPE,
        "tid": tenant,
        "uti": uuid::Uuid::new_v4().simple().to_string(),
        "ver": "2.0",
    });
    if !roles.is_empty() {
        claims["roles"] = json!(roles);
    }
    HttpResponse::Ok()
        .insert_header(("Cache-Control", "no-store"))
        .json(json!({"token": emulator.keys.entra_sign(&claims)}))
}
