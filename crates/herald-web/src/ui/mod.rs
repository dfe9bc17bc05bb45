//! The staff web UI: sign-in, drafts, the audience picker, sending and
//! scheduling, image uploads, and delivery reports (live status, per-recipient table,
//! CSV, overview), API keys, and the API for programs under `/api/v1` (`v1`). Pages are askama templates under `web/templates`, assets
//! under `web/static`, both compiled into the binary. Handlers call the
//! store and the prepare stage's library functions, never SQL or Graph.
//!
//! The code is laid out by page (`announcements`, `status`, `changes`
//! (edit and recall), `recipients`, `overview`, `staff`, `api_keys`), with
//! `v1` answering the same as JSON for programs; what they share is in
//! `shared`, `filters` and `urls`.
//!
//! Every route but sign-in, the assets and uploaded images needs a session, checked by
//! `session::guard` before any handler runs; each handler names the role
//! it needs by the extractor it takes (`Author`, `Admin`, or `Person` on
//! everyone's own page, `for_you`).

mod announcements;
mod api_keys;
mod api_reference;
mod assets;
mod audience;
mod changes;
mod chart;
mod compose;
mod entra_token;
mod error;
mod filters;
mod for_you;
mod images;
mod live;
mod overview;
mod recipients;
mod session;
mod shared;
mod signin;
mod staff;
mod status;
mod teams_app;
mod teams_tab;
mod urls;
pub mod v1;
mod viewer;
mod views;

use std::sync::Arc;

use actix_web::web;
use herald_microsoft::Graph;
use herald_queue::Broker;
use herald_store::{SessionLifetime, Store};
use secrecy::SecretString;

pub use session::{Role, Staff, guard};

/// Largest form body the UI takes: a CSV of a few thousand people.
pub const MAX_FORM_BYTES: usize = 2 * 1024 * 1024;

#[derive(Debug, Clone)]
pub struct UiSettings {
    /// Where people open Herald, without a trailing slash.
    pub public_url: String,
    pub lifetime: SessionLifetime,
    /// Fallback role grants: UPNs or group ids.
    pub authors: Vec<String>,
    pub admins: Vec<String>,
    pub access_contact: String,
    pub frame_ancestors: Vec<String>,
    /// Teams clients the tab trusts besides those teams-js knows.
    pub teams_host_origins: Vec<String>,
    pub sign_in: SignInSettings,
    /// The tenant's send rate, for estimates of how long a send takes.
    pub send_rate_per_second: f64,
    /// Requests a program may make to `/api/v1` per minute.
    pub api_requests_per_minute: u32,
    /// The Teams app manifest's id (`microsoft.manifest_id`, else the app id).
    pub teams_manifest_id: String,
}

impl UiSettings {
    /// Session cookies are Secure when people reach Herald over https.
    pub fn secure_cookies(&self) -> bool {
        self.public_url.starts_with("https://")
    }
}

/// The Entra ID app staff sign in with (the bot's app registration).
#[derive(Debug, Clone)]
pub struct SignInSettings {
    /// `https://login.microsoftonline.com/{tenant}/v2.0`.
    pub issuer: String,
    /// The organisation's tenant: a Teams token from any other is refused.
    pub tenant_id: String,
    pub client_id: String,
    pub client_secret: SecretString,
    /// How Entra ID's signing keys are kept fresh.
    pub key_refresh: crate::KeyRefresh,
}

pub struct Ui {
    pub store: Store,
    pub broker: Arc<Broker>,
    pub graph: Arc<Graph>,
    pub settings: UiSettings,
    sign_in: signin::SignIn,
    live: Arc<live::Live>,
    images: images::ImageStorage,
    programs: v1::Programs,
}

impl Ui {
    pub fn new(store: Store, broker: Arc<Broker>, graph: Arc<Graph>, settings: UiSettings) -> Self {
        Self {
            sign_in: signin::SignIn::new(settings.sign_in.clone()),
            live: live::Live::new(store.clone(), settings.send_rate_per_second),
            images: images::ImageStorage::Database(store.clone()),
            programs: v1::Programs::new(&settings),
            store,
            broker,
            graph,
            settings,
        }
    }
}

impl Ui {
    /// Ends every status page's event stream (the server is stopping).
    pub fn close_streams(&self) {
        self.live.close();
    }
}

/// The UI's routes, to mount on the web server's `App`.
pub fn configure(config: &mut web::ServiceConfig) {
    config
        .app_data(web::FormConfig::default().limit(MAX_FORM_BYTES))
        .app_data(web::QueryConfig::default().error_handler(|error, _| {
            error::UiError::BadForm(format!("the address's query is not valid: {error}")).into()
        }))
        .service(assets::serve)
        .route("/sign-in", web::get().to(signin::page))
        .route("/sign-in/start", web::get().to(signin::start))
        .route("/auth/callback", web::get().to(signin::callback))
        .route("/sign-out", web::post().to(signin::sign_out))
        .route(urls::TEAMS_TAB, web::get().to(teams_tab::page))
        .route(urls::TEAMS_SIGN_IN, web::post().to(teams_tab::sign_in))
        .route(urls::TEAMS_POP_UP, web::get().to(teams_tab::pop_up))
        // People with no role start on their own page; everyone else on
        // the announcements list.
        .route(
            "/",
            web::get()
                .guard(actix_web::guard::fn_guard(for_you::without_role))
                .to(for_you::start_page),
        )
        .route("/", web::get().to(announcements::list))
        .route(urls::FOR_YOU, web::get().to(for_you::page))
        .route(
            urls::FOR_YOU_SETTINGS,
            web::post().to(for_you::save_setting),
        )
        .route(
            "/for-you/{id}/acknowledge",
            web::post().to(for_you::acknowledge),
        )
        .route("/announcements", web::get().to(announcements::to_list))
        .route("/drafts/new", web::get().to(announcements::new_draft))
        .route("/drafts", web::post().to(announcements::create_draft))
        .route("/drafts/{id}", web::get().to(announcements::edit_draft))
        .route("/drafts/{id}", web::post().to(announcements::update_draft))
        .route(
            "/drafts/{id}/duplicate",
            web::post().to(announcements::duplicate),
        )
        .route("/drafts/{id}/delete", web::post().to(announcements::delete))
        .route(
            "/drafts/{id}/send",
            web::get().to(announcements::confirm_send),
        )
        .route("/drafts/{id}/send", web::post().to(announcements::send_now))
        .route(
            "/drafts/{id}/schedule",
            web::post().to(announcements::schedule),
        )
        .route("/announcements/{id}", web::get().to(status::status))
        .route("/announcements/{id}/events", web::get().to(status::events))
        .route(
            "/announcements/{id}/recipients",
            web::get().to(recipients::page),
        )
        .route(
            "/announcements/{id}/recipients.csv",
            web::get().to(recipients::csv),
        )
        .route("/admin/overview", web::get().to(overview::page))
        .service(web::scope(urls::API).configure(v1::routes))
        .route("/api/{rest:.*}", web::route().to(v1::moved))
        .route(urls::API_REFERENCE, web::get().to(api_reference::page))
        .route(urls::TEAMS_APP, web::get().to(teams_app::page))
        .route(urls::TEAMS_APP_ZIP, web::get().to(teams_app::download))
        .route(urls::API_KEYS, web::get().to(api_keys::page))
        .route(urls::API_KEYS, web::post().to(api_keys::create))
        .route(
            "/admin/api-keys/{id}/revoke",
            web::post().to(api_keys::revoke),
        )
        .route(urls::WEBHOOKS, web::post().to(api_keys::create_hook))
        .route(
            "/admin/webhooks/{id}/revoke",
            web::post().to(api_keys::revoke_hook),
        )
        .route(
            "/announcements/{id}/cancel",
            web::post().to(announcements::cancel),
        )
        .route(
            "/announcements/{id}/edit",
            web::post().to(announcements::edit_scheduled),
        )
        .route("/announcements/{id}/remind", web::post().to(status::remind))
        .route("/announcements/{id}/change", web::get().to(changes::form))
        .route(
            "/announcements/{id}/change",
            web::post().to(changes::review),
        )
        .route(
            "/announcements/{id}/update",
            web::post().to(changes::update),
        )
        .route(
            "/announcements/{id}/recall",
            web::post().to(changes::recall),
        )
        .route("/admin/staff", web::get().to(staff::staff))
        .route(
            "/admin/staff/{user}/sign-out",
            web::post().to(staff::end_sessions),
        )
        .route("/ui/preview", web::post().to(compose::preview))
        .route("/ui/audience/search", web::get().to(audience::search))
        .route("/ui/audience/channels", web::get().to(audience::channels))
        .route("/ui/audience/people", web::post().to(audience::people))
        .route("/ui/images", web::post().to(images::upload))
        .route("/images/{name}", web::get().to(images::serve))
        .route("/images/{name}", web::head().to(images::serve));
}

/// Paths anyone may open: signing in (in a browser and in the Teams tab),
/// what the sign-in page needs,
/// uploaded images, which Teams fetches for the cards without a session,
/// and the API's description, which holds no data.
pub(crate) fn is_public(path: &str) -> bool {
    matches!(
        path,
        "/sign-in"
            | "/sign-in/start"
            | "/auth/callback"
            | "/api/v1/openapi.json"
            | urls::TEAMS_TAB
            | urls::TEAMS_SIGN_IN
            | urls::TEAMS_POP_UP
    ) || path.starts_with("/static/")
        || path.starts_with(herald_domain::image::HOSTED_IMAGES_PATH)
        || path == "/api/messages"
}
