//! Admin > Teams app: the package to upload in the Teams admin center,
//! made by the same code as `herald teams-app`.

use actix_web::{HttpResponse, web};
use askama::Template;
use herald_microsoft::TeamsApp;
use serde::Deserialize;

use super::error::UiError;
use super::session::Admin;
use super::shared::{Page, html};
use super::views::Chrome;
use super::{Ui, urls};

#[derive(Template)]
#[template(path = "teams_app.html")]
pub struct TeamsAppPage {
    pub chrome: Chrome,
    pub public_url: String,
    pub app_id: String,
    /// Why no package can be made (not https), in words.
    pub problem: Option<String>,
}

fn app(ui: &Ui, version: &str, developer: &str) -> Result<TeamsApp, UiError> {
    let public_url = url::Url::parse(&ui.settings.public_url)
        .map_err(|e| UiError::BadForm(format!("web.public_url is not a URL: {e}")))?;
    Ok(TeamsApp {
        manifest_id: ui.settings.teams_manifest_id.clone(),
        app_id: ui.settings.sign_in.client_id.clone(),
        public_url,
        version: version.trim().to_owned(),
        developer: developer.trim().to_owned(),
    })
}

pub async fn page(Admin(admin): Admin, ui: web::Data<Ui>) -> Page {
    let problem = app(&ui, "1.0.0", "Herald")?
        .check()
        .err()
        .map(|e| e.to_string());
    html(&TeamsAppPage {
        chrome: Chrome::new("Teams app", &admin, "teams-app"),
        public_url: ui.settings.public_url.clone(),
        app_id: ui.settings.sign_in.client_id.clone(),
        problem,
    })
}

#[derive(Deserialize)]
pub struct PackageQuery {
    #[serde(default)]
    version: Option<String>,
    #[serde(default)]
    developer: Option<String>,
}

/// `GET /admin/teams-app.zip?version=1.0.0&developer=...`.
pub async fn download(
    Admin(admin): Admin,
    ui: web::Data<Ui>,
    query: web::Query<PackageQuery>,
) -> Page {
    let developer = query
        .developer
        .as_deref()
        .filter(|d| !d.trim().is_empty())
        .unwrap_or("Your organisation");
    if developer.chars().count() > 32 {
        return Err(UiError::BadForm(
            "the publisher's name is at most 32 characters in Teams".to_owned(),
        ));
    }
    let app = app(&ui, query.version.as_deref().unwrap_or("1.0.0"), developer)?;
    let package = app.package().map_err(|e| UiError::BadForm(e.to_string()))?;
    tracing::info!(version = %app.version, by = %admin.upn, "Teams app package downloaded");
    Ok(HttpResponse::Ok()
        .content_type("application/zip")
        .insert_header((
            "Content-Disposition",
            "attachment; filename=\"herald-teams-app.zip\"",
        ))
        .body(package))
}
