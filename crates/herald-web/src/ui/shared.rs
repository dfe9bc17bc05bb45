//! What the page handlers share: their answer type, drawing a template,
//! redirecting, and finding an announcement the viewer may see.

use actix_web::HttpResponse;
use actix_web::http::header;
use askama::Template;
use herald_domain::NotificationId;
use herald_store::NotificationRecord;

use super::Ui;
use super::error::UiError;
use super::session::Staff;

/// A handler's answer; an error becomes a page or JSON in the guard.
pub type Page = Result<HttpResponse, UiError>;

/// The page drawn from its template. A template that fails to draw is
/// Herald's fault, so it answers 500 (`UiError::Render`).
pub fn html(page: &impl Template) -> Page {
    let body = page.render()?;
    Ok(HttpResponse::Ok()
        .content_type("text/html; charset=utf-8")
        .body(body))
}

/// A 303 to another page of Herald's.
pub fn see_other(location: &str) -> HttpResponse {
    HttpResponse::SeeOther()
        .insert_header((header::LOCATION, location))
        .finish()
}

/// An id from a URL; one that is not an id names nothing (404).
pub fn parse_id(text: &str) -> Result<NotificationId, UiError> {
    text.parse::<uuid::Uuid>()
        .map(NotificationId)
        .map_err(|_| UiError::NotFound)
}

/// The notification, if this person may see it; others' look missing.
pub async fn visible(ui: &Ui, staff: &Staff, id: &str) -> Result<NotificationRecord, UiError> {
    let record = ui
        .store
        .notification(parse_id(id)?)
        .await?
        .ok_or(UiError::NotFound)?;
    if staff.may_see(&record) {
        Ok(record)
    } else {
        Err(UiError::NotFound)
    }
}
