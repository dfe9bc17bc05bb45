//! What the templates show: ready-made view structs, so the templates
//! hold no queries and no rules.

use askama::Template;
use herald_domain::NotificationStatus;
use herald_store::NotificationRecord;
use time::OffsetDateTime;
use time::macros::format_description;

use super::assets::ASSETS;
use super::compose::{DraftForm, FieldErrors};
use super::session::{Role, Staff};

/// What every page's frame needs: the title, who is signed in, the CSRF
/// token for its forms, and the asset URLs.
pub struct Chrome {
    pub title: String,
    pub staff: Option<Staff>,
    /// Which item of the navigation is current.
    pub section: &'static str,
}

impl Chrome {
    pub fn new(title: impl Into<String>, staff: &Staff, section: &'static str) -> Self {
        Self {
            title: title.into(),
            staff: Some(staff.clone()),
            section,
        }
    }

    /// A page for someone who may not be signed in.
    pub fn bare(title: impl Into<String>) -> Self {
        Self {
            title: title.into(),
            staff: None,
            section: "",
        }
    }

    pub fn asset(&self, name: &str) -> String {
        ASSETS.url(name)
    }

    pub fn csrf(&self) -> &str {
        self.staff.as_ref().map_or("", |s| s.csrf_token.as_str())
    }

    pub fn role_label(&self) -> &'static str {
        match self.staff.as_ref().and_then(|s| s.role) {
            Some(Role::Admin) => "Admin",
            Some(Role::Author) => "Author",
            None => "No role",
        }
    }

    pub fn is_admin(&self) -> bool {
        self.staff.as_ref().is_some_and(Staff::is_admin)
    }

    pub fn current(&self, section: &str) -> &'static str {
        if self.section == section {
            "page"
        } else {
            "false"
        }
    }
}

#[derive(Template)]
#[template(path = "error.html")]
pub struct ErrorPage<'a> {
    pub chrome: Chrome,
    pub title: &'a str,
    pub message: &'a str,
}

#[derive(Template)]
#[template(path = "sign_in.html")]
pub struct SignInPage {
    pub chrome: Chrome,
    pub return_to: String,
    pub signed_out: bool,
}

/// One line of the announcements list.
pub struct Row {
    pub title: String,
    pub status: &'static str,
    pub status_label: String,
    pub when: String,
    pub owner: String,
    pub link: String,
}

impl Row {
    pub fn new(record: &NotificationRecord) -> Self {
        let id = record.id.to_string();
        let link = match record.status {
            NotificationStatus::Draft => format!("/drafts/{id}"),
            _ => format!("/announcements/{id}"),
        };
        let status_label = match (record.status, record.scheduled_at) {
            (NotificationStatus::Scheduled, Some(at)) => {
                format!("Scheduled for {}", when(at))
            }
            (status, _) => status_label(status).to_owned(),
        };
        Self {
            title: record.content.title.as_str().to_owned(),
            status: record.status.as_str(),
            status_label,
            when: when(record.updated_at),
            owner: record
                .owner
                .as_ref()
                .map_or_else(|| record.created_by.clone(), |(_, name)| name.clone()),
            link,
        }
    }
}

pub fn status_label(status: NotificationStatus) -> &'static str {
    match status {
        NotificationStatus::Draft => "Draft",
        NotificationStatus::Scheduled => "Scheduled",
        NotificationStatus::Preparing => "Preparing",
        NotificationStatus::Sending => "Sending",
        NotificationStatus::Sent => "Sent",
        NotificationStatus::Canceled => "Canceled",
        NotificationStatus::Failed => "Failed",
    }
}

/// A time as the pages show it, in UTC; scripts show it in the reader's
/// own zone from the `datetime` attribute.
pub fn when(at: OffsetDateTime) -> String {
    at.format(format_description!(
        "[day] [month repr:short] [year] [hour]:[minute] UTC"
    ))
    .unwrap_or_default()
}

pub fn iso(at: OffsetDateTime) -> String {
    at.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

#[derive(Template)]
#[template(path = "home.html")]
pub struct HomePage {
    pub chrome: Chrome,
    pub rows: Vec<Row>,
    pub everyone: bool,
}

#[derive(Template)]
#[template(path = "compose.html")]
pub struct ComposePage {
    pub chrome: Chrome,
    /// `None` for a new draft.
    pub id: Option<String>,
    pub form: DraftForm,
    pub errors: FieldErrors,
    /// Said once at the top: saved, test sent...
    pub notice: Option<String>,
}

impl ComposePage {
    pub fn action(&self) -> String {
        match &self.id {
            Some(id) => format!("/drafts/{id}"),
            None => "/drafts".to_owned(),
        }
    }
}

#[derive(Template)]
#[template(path = "confirm.html")]
pub struct ConfirmPage {
    pub chrome: Chrome,
    pub id: String,
    pub title: String,
    pub audience: Vec<String>,
    pub people: u64,
    pub channel_posts: u64,
    pub duration: String,
    pub rate: String,
    pub error: Option<String>,
    /// What the schedule fields held, when a schedule was refused.
    pub schedule_at: String,
    pub time_zone: String,
}

#[derive(Template)]
#[template(path = "announcement.html")]
pub struct AnnouncementPage {
    pub chrome: Chrome,
    pub id: String,
    pub title: String,
    pub status: &'static str,
    pub status_label: String,
    pub audience: Vec<String>,
    pub counts: Vec<(String, i64)>,
    pub total: i64,
    pub can_cancel: bool,
    pub scheduled: bool,
    pub error: Option<String>,
    pub started: Option<String>,
    pub completed: Option<String>,
}

/// "about 3 minutes": how long a send takes, for people.
pub fn duration(seconds: f64) -> String {
    let seconds = seconds.ceil() as u64;
    match seconds {
        0..=1 => "about a second".to_owned(),
        2..=89 => format!("about {seconds} seconds"),
        90..=5399 => format!("about {} minutes", (seconds + 30) / 60),
        _ => format!("about {:.1} hours", seconds as f64 / 3600.0),
    }
}

pub struct StaffRow {
    pub id: String,
    pub name: String,
    pub upn: String,
    pub role: String,
    pub signed_in: String,
    pub last_seen: String,
    pub is_me: bool,
}

#[derive(Template)]
#[template(path = "staff.html")]
pub struct StaffPage {
    pub chrome: Chrome,
    pub rows: Vec<StaffRow>,
}
