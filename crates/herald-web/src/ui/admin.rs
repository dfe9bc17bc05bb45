//! Admin pages: who is signed in, and ending their sessions (someone left,
//! or lost a role and must sign in again to lose it here too).

use actix_web::web;

use super::Ui;
use super::error::UiError;
use super::session::{Admin, see_other};
use super::signin::html;
use super::views::{Chrome, StaffPage, StaffRow, when};

type Page = Result<actix_web::HttpResponse, UiError>;

pub async fn staff(Admin(admin): Admin, ui: web::Data<Ui>) -> Page {
    let sessions = ui.store.sessions(ui.settings.lifetime).await?;
    let rows = sessions
        .into_iter()
        .map(|s| StaffRow {
            id: s.user_id.to_string(),
            name: s.user_name,
            upn: s.user_principal_name,
            role: s.roles.join(", "),
            signed_in: when(s.created_at),
            last_seen: when(s.last_seen_at),
            is_me: s.user_id == admin.id,
        })
        .collect();
    html(&StaffPage {
        chrome: Chrome::new("Signed-in staff", &admin, "staff"),
        rows,
    })
}

pub async fn end_sessions(Admin(admin): Admin, ui: web::Data<Ui>, user: web::Path<String>) -> Page {
    let user: uuid::Uuid = user.parse().map_err(|_| UiError::NotFound)?;
    let ended = ui.store.end_sessions_of(user).await?;
    tracing::info!(%user, ended, by = %admin.upn, "ended sessions");
    Ok(see_other("/admin/staff"))
}
