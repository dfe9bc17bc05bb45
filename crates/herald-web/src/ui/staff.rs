//! Admin pages: who is signed in, and ending their sessions (someone left,
//! or lost a role and must sign in again to lose it here too).

use actix_web::web;

use super::error::UiError;
use super::session::Admin;
use super::shared::{Page, html, see_other};
use super::views::{Chrome, StaffPage, StaffRow, when};
use super::{Ui, urls};

pub async fn staff(Admin(admin): Admin, ui: web::Data<Ui>) -> Page {
    let people = ui.store.signed_in_people(ui.settings.lifetime).await?;
    let rows = people
        .into_iter()
        .map(|p| StaffRow {
            id: p.user_id.to_string(),
            name: p.user_name,
            upn: p.user_principal_name,
            role: p.roles.join(", "),
            sessions: p.sessions,
            first_sign_in: when(p.first_sign_in),
            last_sign_in: when(p.last_sign_in),
            last_seen: when(p.last_seen_at),
            is_me: p.user_id == admin.id,
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
    Ok(see_other(urls::STAFF))
}
