//! Admin > API keys: the keys programs call `/api/v1` with, and their
//! webhooks. A key is shown once, when it is made; Herald keeps only its
//! SHA-256, with a name, a scope, an expiry and the last time it was used.
//! A webhook's secret is shown once too; its latest deliveries are listed
//! with their attempts.

use actix_web::web;
use askama::Template;
use herald_store::{ApiKey, DeliveryAttempts, NewApiKey, Webhook};
use serde::Deserialize;
use time::OffsetDateTime;

use super::error::UiError;
use super::session::{Admin, Scope, Staff, random_token, token_hash};
use super::shared::{Page, html, see_other};
use super::v1::programs::KEY_PREFIX;
use super::views::{Chrome, when};
use super::{Ui, urls};

/// The expiries offered, in days; the first is the default.
pub const EXPIRY_DAYS: [i64; 4] = [90, 30, 180, 365];

/// Webhook deliveries the page lists.
const DELIVERIES_SHOWN: i64 = 20;

/// Characters of a key shown in the list, to tell keys apart.
const SHOWN_PREFIX: usize = KEY_PREFIX.len() + 6;

pub struct KeyRow {
    pub id: String,
    pub name: String,
    pub scope: &'static str,
    pub prefix: String,
    pub state: String,
    pub created: String,
    pub expires: String,
    pub last_used: String,
    pub live: bool,
}

impl KeyRow {
    fn of(key: ApiKey, now: OffsetDateTime) -> Self {
        let state = match (&key.revoked_at, &key.revoked_by) {
            (Some(at), by) => format!(
                "Revoked {}{}",
                when(*at),
                by.as_ref().map(|b| format!(" by {b}")).unwrap_or_default()
            ),
            (None, _) if key.expires_at <= now => "Expired".to_owned(),
            (None, _) => "Active".to_owned(),
        };
        Self {
            id: key.id.to_string(),
            live: key.is_live(now),
            scope: Scope::parse(&key.scope).map_or("read", Scope::as_str),
            name: key.name,
            prefix: key.prefix,
            state,
            created: format!("{} by {}", when(key.created_at), key.created_by),
            expires: when(key.expires_at),
            last_used: key.last_used_at.map_or_else(|| "Never".to_owned(), when),
        }
    }
}

/// A key just made, shown this once.
pub struct NewKey {
    pub name: String,
    pub token: String,
}

/// A webhook just made, with its secret, shown this once.
pub struct NewHook {
    pub url: String,
    pub secret: String,
}

pub struct HookRow {
    pub id: String,
    pub key: String,
    pub url: String,
    pub created: String,
}

impl HookRow {
    fn of(hook: Webhook) -> Self {
        Self {
            id: hook.id.to_string(),
            key: hook.key_name,
            url: hook.url,
            created: format!("{} by {}", when(hook.created_at), hook.created_by),
        }
    }
}

/// A delivery's attempts, in words.
pub struct DeliveryRow {
    pub key: String,
    pub title: String,
    pub event: String,
    pub at: String,
    pub attempts: i32,
    pub last: String,
    pub state: String,
}

impl DeliveryRow {
    fn of(row: DeliveryAttempts) -> Self {
        let tries: Vec<String> = row
            .tries
            .iter()
            .map(|(at, status, error)| match (status, error) {
                (_, Some(error)) => format!("{}: {error}", when(*at)),
                (Some(status), None) => format!("{}: answered {status}", when(*at)),
                (None, None) => when(*at),
            })
            .collect();
        let last = if tries.is_empty() {
            "Not tried yet".to_owned()
        } else {
            tries.join("; ")
        };
        let state = match (row.delivered_at, row.gave_up_at) {
            (Some(at), _) => format!("Delivered {}", when(at)),
            (None, Some(at)) => format!("Gave up {} (tried for a day)", when(at)),
            (None, None) => format!("Trying again {}", when(row.next_attempt_at)),
        };
        Self {
            key: row.key_name,
            title: row.title,
            event: row.event,
            at: when(row.created_at),
            attempts: row.attempts,
            last,
            state,
        }
    }
}

#[derive(Template)]
#[template(path = "api_keys.html")]
pub struct ApiKeysPage {
    pub chrome: Chrome,
    pub rows: Vec<KeyRow>,
    pub created: Option<NewKey>,
    pub error: Option<String>,
    pub hooks: Vec<HookRow>,
    pub deliveries: Vec<DeliveryRow>,
    pub new_hook: Option<NewHook>,
    pub hook_error: Option<String>,
    /// The form for a webhook as typed, after an error.
    pub hook_url: String,
    /// The form as typed (after an error) or its defaults.
    pub name: String,
    pub scope: String,
    pub days: i64,
}

async fn keys_page(ui: &Ui, admin: &Staff, page: ApiKeysPage) -> Page {
    let now = OffsetDateTime::now_utc();
    let rows = ui
        .store
        .api_keys()
        .await?
        .into_iter()
        .map(|key| KeyRow::of(key, now))
        .collect();
    let failed = page.error.is_some() || page.hook_error.is_some();
    let hooks = ui
        .store
        .webhooks()
        .await?
        .into_iter()
        .map(HookRow::of)
        .collect();
    let deliveries = ui
        .store
        .webhook_deliveries(DELIVERIES_SHOWN)
        .await?
        .into_iter()
        .map(DeliveryRow::of)
        .collect();
    let mut response = html(&ApiKeysPage {
        chrome: Chrome::new("API keys", admin, "api"),
        rows,
        hooks,
        deliveries,
        ..page
    })?;
    if failed {
        *response.status_mut() = actix_web::http::StatusCode::UNPROCESSABLE_ENTITY;
    }
    Ok(response)
}

fn blank() -> ApiKeysPage {
    ApiKeysPage {
        chrome: Chrome::bare("API keys"),
        rows: Vec::new(),
        created: None,
        error: None,
        hooks: Vec::new(),
        deliveries: Vec::new(),
        new_hook: None,
        hook_error: None,
        hook_url: String::new(),
        name: String::new(),
        scope: Scope::Send.as_str().to_owned(),
        days: EXPIRY_DAYS[0],
    }
}

pub async fn page(Admin(admin): Admin, ui: web::Data<Ui>) -> Page {
    keys_page(&ui, &admin, blank()).await
}

#[derive(Deserialize)]
pub struct KeyForm {
    #[serde(default)]
    name: String,
    #[serde(default)]
    scope: String,
    #[serde(default)]
    days: String,
}

/// The key asked for, or what is wrong with the form.
fn checked(form: &KeyForm) -> Result<(String, Scope, i64), String> {
    let name = form.name.trim();
    if name.is_empty() || name.chars().count() > 80 {
        return Err("give the key a name of 1 to 80 characters: the program it is for".to_owned());
    }
    let scope = Scope::parse(form.scope.trim())
        .ok_or_else(|| format!("{:?} is not a scope: pick send or read", form.scope))?;
    let days = form
        .days
        .trim()
        .parse::<i64>()
        .ok()
        .filter(|d| EXPIRY_DAYS.contains(d))
        .ok_or_else(|| {
            format!(
                "{:?} is not an expiry Herald offers: pick one of the list",
                form.days
            )
        })?;
    Ok((name.to_owned(), scope, days))
}

/// `POST /admin/api-keys`: makes a key and shows it, once.
pub async fn create(Admin(admin): Admin, ui: web::Data<Ui>, form: web::Form<KeyForm>) -> Page {
    let (name, scope, days) = match checked(&form) {
        Ok(checked) => checked,
        Err(problem) => {
            let page = ApiKeysPage {
                error: Some(problem),
                name: form.name.clone(),
                scope: form.scope.clone(),
                ..blank()
            };
            return keys_page(&ui, &admin, page).await;
        }
    };
    let token = format!("{KEY_PREFIX}{}", random_token());
    let id = uuid::Uuid::new_v4();
    ui.store
        .create_api_key(&NewApiKey {
            id,
            name: &name,
            scope: scope.as_str(),
            token_hash: &token_hash(&token),
            prefix: &token[..SHOWN_PREFIX],
            created_by: admin.display_name(),
            expires_at: OffsetDateTime::now_utc() + time::Duration::days(days),
        })
        .await?;
    tracing::info!(key = %id, name, scope = scope.as_str(), by = %admin.upn, "API key made");
    let page = ApiKeysPage {
        created: Some(NewKey { name, token }),
        ..blank()
    };
    keys_page(&ui, &admin, page).await
}

/// `POST /admin/api-keys/{id}/revoke`.
pub async fn revoke(Admin(admin): Admin, ui: web::Data<Ui>, id: web::Path<String>) -> Page {
    let id: uuid::Uuid = id.parse().map_err(|_| UiError::NotFound)?;
    if !ui.store.revoke_api_key(id, admin.display_name()).await? {
        return Err(UiError::Conflict(
            "this key is unknown or was revoked already".to_owned(),
        ));
    }
    tracing::info!(key = %id, by = %admin.upn, "API key revoked");
    Ok(see_other(urls::API_KEYS))
}

#[derive(Deserialize)]
pub struct HookForm {
    #[serde(default)]
    key: String,
    #[serde(default)]
    url: String,
}

/// Where a webhook may post: https, or plain http to this machine (for
/// trying it out), never a redirect-prone or made-up address.
fn webhook_url(text: &str) -> Result<String, String> {
    let url = url::Url::parse(text.trim()).map_err(|e| {
        format!(
            "{:?} is not a URL ({e}); write it like https://hr.contoso.example/herald-events",
            text.trim()
        )
    })?;
    let loopback = matches!(url.host_str(), Some("127.0.0.1" | "localhost" | "[::1]"));
    match url.scheme() {
        "https" => {}
        "http" if loopback => {}
        _ => {
            return Err(
                "a webhook must be an https URL (plain http only to this machine, for trying it out)"
                    .to_owned(),
            );
        }
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(
            "put no user name or password in the URL: Herald signs each request instead".to_owned(),
        );
    }
    Ok(url.to_string())
}

/// `POST /admin/webhooks`: a URL for a key's events, replacing its old
/// one; the secret is shown once.
pub async fn create_hook(
    Admin(admin): Admin,
    ui: web::Data<Ui>,
    form: web::Form<HookForm>,
) -> Page {
    let now = OffsetDateTime::now_utc();
    let key = match form.key.parse::<uuid::Uuid>() {
        Ok(id) => ui
            .store
            .api_keys()
            .await?
            .into_iter()
            .find(|k| k.id == id && k.is_live(now) && k.scope == Scope::Send.as_str()),
        Err(_) => None,
    };
    let checked = match (key, webhook_url(&form.url)) {
        (None, _) => {
            Err("pick a live key with the send scope: only those create announcements".to_owned())
        }
        (Some(_), Err(problem)) => Err(problem),
        (Some(key), Ok(url)) => Ok((key, url)),
    };
    let (key, url) = match checked {
        Ok(checked) => checked,
        Err(problem) => {
            let page = ApiKeysPage {
                hook_error: Some(problem),
                hook_url: form.url.clone(),
                ..blank()
            };
            return keys_page(&ui, &admin, page).await;
        }
    };
    let secret = format!("whsec_{}", random_token());
    let id = uuid::Uuid::new_v4();
    ui.store
        .create_webhook(id, key.id, &url, &secret, admin.display_name())
        .await?;
    tracing::info!(webhook = %id, key = %key.id, by = %admin.upn, "webhook registered");
    let page = ApiKeysPage {
        new_hook: Some(NewHook { url, secret }),
        ..blank()
    };
    keys_page(&ui, &admin, page).await
}

/// `POST /admin/webhooks/{id}/revoke`.
pub async fn revoke_hook(Admin(admin): Admin, ui: web::Data<Ui>, id: web::Path<String>) -> Page {
    let id: uuid::Uuid = id.parse().map_err(|_| UiError::NotFound)?;
    if !ui.store.revoke_webhook(id).await? {
        return Err(UiError::Conflict(
            "this webhook is unknown or was stopped already".to_owned(),
        ));
    }
    tracing::info!(webhook = %id, by = %admin.upn, "webhook stopped");
    Ok(see_other(urls::API_KEYS))
}
