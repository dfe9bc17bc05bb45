//! Herald's own addresses, built here only, so a page, a redirect and a
//! program's link to the same thing agree. The routes they name are in
//! `configure` (`ui/mod.rs`).

use std::fmt::Display;

pub const HOME: &str = "/";
pub const NEW_DRAFT: &str = "/drafts/new";
pub const DRAFTS: &str = "/drafts";
pub const STAFF: &str = "/admin/staff";
pub const OVERVIEW: &str = "/admin/overview";
pub const SIGN_IN_START: &str = "/sign-in/start";
pub const SIGN_OUT: &str = "/sign-out";
/// The Teams tab's address (the manifest's `contentUrl`).
pub const TEAMS_TAB: &str = "/teams";
/// Where the tab trades Teams' token or the pop-up's code for a session.
pub const TEAMS_SIGN_IN: &str = "/ui/teams/sign-in";
/// The tab's pop-up sign-in.
pub const TEAMS_POP_UP: &str = "/auth/teams/start";

pub fn draft(id: impl Display) -> String {
    format!("/drafts/{id}")
}

/// A draft's page with a fixed notice (`saved`, `tested`, ...).
pub fn draft_done(id: impl Display, done: &str) -> String {
    format!("/drafts/{id}?done={done}")
}

pub fn draft_send(id: impl Display) -> String {
    format!("/drafts/{id}/send")
}

/// `duplicate`, `delete` or `schedule`.
pub fn draft_action(id: impl Display, action: &str) -> String {
    format!("/drafts/{id}/{action}")
}

pub fn announcement(id: impl Display) -> String {
    format!("/announcements/{id}")
}

/// `edit`, `cancel` or `remind`.
pub fn announcement_action(id: impl Display, action: &str) -> String {
    format!("/announcements/{id}/{action}")
}

/// Editing a sent announcement: its form, then the review.
pub fn change(id: impl Display) -> String {
    format!("/announcements/{id}/change")
}

/// The status page's live progress (server-sent events).
pub fn events(id: impl Display) -> String {
    format!("/announcements/{id}/events")
}

pub fn recipients(id: impl Display) -> String {
    format!("/announcements/{id}/recipients")
}

pub fn recipients_csv(id: impl Display) -> String {
    format!("/announcements/{id}/recipients.csv")
}

pub const API: &str = "/api/v1";
pub const API_KEYS: &str = "/admin/api-keys";
pub const API_REFERENCE: &str = "/admin/api";
pub const TEAMS_APP: &str = "/admin/teams-app";
pub const TEAMS_APP_ZIP: &str = "/admin/teams-app.zip";

pub fn api_list() -> &'static str {
    "/api/v1/announcements"
}

pub fn api_announcement(id: impl Display) -> String {
    format!("/api/v1/announcements/{id}")
}

pub fn api_recipients(id: impl Display) -> String {
    format!("/api/v1/announcements/{id}/recipients")
}

pub fn api_recipients_csv(id: impl Display) -> String {
    format!("/api/v1/announcements/{id}/recipients.csv")
}

pub const WEBHOOKS: &str = "/admin/webhooks";

pub fn webhook_revoke(id: impl Display) -> String {
    format!("/admin/webhooks/{id}/revoke")
}

pub fn api_key_revoke(id: impl Display) -> String {
    format!("/admin/api-keys/{id}/revoke")
}

pub fn staff_sign_out(user: impl Display) -> String {
    format!("/admin/staff/{user}/sign-out")
}

/// Every signed-in person's own page: what Herald delivered to them.
pub const FOR_YOU: &str = "/for-you";
pub const FOR_YOU_SETTINGS: &str = "/for-you/settings";

pub fn for_you_acknowledge(id: impl Display) -> String {
    format!("/for-you/{id}/acknowledge")
}

/// The page with a fixed notice (`acknowledged`, `already`) in the
/// announcement it is about, scrolled back to it.
pub fn for_you_done(done: &str, id: impl Display) -> String {
    format!("/for-you?done={done}&id={id}#announcement-{id}")
}

/// The page with a fixed notice (`all`, `critical`), back at the setting.
pub fn for_you_settings_done(done: &str) -> String {
    format!("/for-you?done={done}#settings")
}
