//! The staff web UI: sign-in, drafts, the audience picker, sending and
//! scheduling, image uploads, and delivery reports (live status, per-recipient table,
//! CSV, overview, and the same as JSON under `/api/`). Pages are askama templates under `web/templates`, assets
//! under `web/static`, both compiled into the binary. Handlers call the
//! store and the prepare stage's library functions, never SQL or Graph.
//!
//! Every route but sign-in, the assets and uploaded images needs a session, checked by
//! `session::guard` before any handler runs; each handler names the role
//! it needs by the extractor it takes (`Author`, `Admin`).

mod admin;
mod assets;
mod audience;
mod chart;
mod compose;
mod error;
mod images;
mod live;
mod pages;
mod reports;
mod session;
mod signin;
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
    pub sign_in: SignInSettings,
    /// The tenant's send rate, for estimates of how long a send takes.
    pub send_rate_per_second: f64,
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
}

impl Ui {
    pub fn new(store: Store, broker: Arc<Broker>, graph: Arc<Graph>, settings: UiSettings) -> Self {
        Self {
            sign_in: signin::SignIn::new(settings.sign_in.clone()),
            live: live::Live::new(store.clone(), settings.send_rate_per_second),
            images: images::ImageStorage::Database(store.clone()),
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
        .route("/", web::get().to(reports::list))
        .route("/announcements", web::get().to(reports::to_list))
        .route("/drafts/new", web::get().to(pages::new_draft))
        .route("/drafts", web::post().to(pages::create_draft))
        .route("/drafts/{id}", web::get().to(pages::edit_draft))
        .route("/drafts/{id}", web::post().to(pages::update_draft))
        .route("/drafts/{id}/duplicate", web::post().to(pages::duplicate))
        .route("/drafts/{id}/delete", web::post().to(pages::delete))
        .route("/drafts/{id}/send", web::get().to(pages::confirm_send))
        .route("/drafts/{id}/send", web::post().to(pages::send_now))
        .route("/drafts/{id}/schedule", web::post().to(pages::schedule))
        .route("/announcements/{id}", web::get().to(reports::status))
        .route("/announcements/{id}/events", web::get().to(reports::events))
        .route(
            "/announcements/{id}/recipients",
            web::get().to(reports::recipients),
        )
        .route(
            "/announcements/{id}/recipients.csv",
            web::get().to(reports::recipients_csv),
        )
        .route("/admin/overview", web::get().to(reports::overview))
        .route("/api/announcements", web::get().to(reports::api_list))
        .route(
            "/api/announcements/{id}",
            web::get().to(reports::api_report),
        )
        .route(
            "/api/announcements/{id}/recipients",
            web::get().to(reports::api_recipients),
        )
        .route("/api/overview", web::get().to(reports::api_overview))
        .route("/announcements/{id}/cancel", web::post().to(pages::cancel))
        .route(
            "/announcements/{id}/edit",
            web::post().to(pages::edit_scheduled),
        )
        .route(
            "/announcements/{id}/remind",
            web::post().to(reports::remind),
        )
        .route("/admin/staff", web::get().to(admin::staff))
        .route(
            "/admin/staff/{user}/sign-out",
            web::post().to(admin::end_sessions),
        )
        .route("/ui/preview", web::post().to(compose::preview))
        .route("/ui/audience/search", web::get().to(audience::search))
        .route("/ui/audience/channels", web::get().to(audience::channels))
        .route("/ui/audience/people", web::post().to(audience::people))
        .route("/ui/images", web::post().to(images::upload))
        .route("/images/{name}", web::get().to(images::serve))
        .route("/images/{name}", web::head().to(images::serve));
}

/// Paths anyone may open: signing in, what the sign-in page needs, and
/// uploaded images, which Teams fetches for the cards without a session.
pub(crate) fn is_public(path: &str) -> bool {
    matches!(path, "/sign-in" | "/sign-in/start" | "/auth/callback")
        || path.starts_with("/static/")
        || path.starts_with(herald_domain::image::HOSTED_IMAGES_PATH)
        || path == "/api/messages"
}
