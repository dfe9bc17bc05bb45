//! An announcement's status page, live through its event stream, and
//! reminding the people who have not acknowledged it.

use actix_web::http::header::ContentEncoding;
use actix_web::{HttpResponse, web};
use herald_domain::NotificationStatus;
use herald_store::NotificationRecord;
use serde::Deserialize;

use super::error::UiError;
use super::live::Snapshot;
use super::session::{Author, Staff};
use super::shared::{Page, html, parse_id, see_other, visible};
use super::views::{self, Chrome, StatusPage};
use super::{Ui, urls};

pub(super) async fn progress_of(ui: &Ui, record: &NotificationRecord) -> Result<Snapshot, UiError> {
    ui.live.snapshot(record.id).await?.ok_or(UiError::NotFound)
}

/// What the status page says after a reminder was sent: numbers and an
/// id only, parsed, so nothing typed into a URL is shown back.
#[derive(Debug, Default, Deserialize)]
pub struct StatusNotice {
    #[serde(default)]
    reminded: Option<u32>,
    /// `edit` or `recall`: one was just started.
    #[serde(default)]
    changed: Option<String>,
}

/// An announcement's status page; a draft opens in the editor instead.
pub async fn status(
    Author(staff): Author,
    ui: web::Data<Ui>,
    id: web::Path<String>,
    notice: web::Query<StatusNotice>,
) -> Page {
    let (record, mut progress) = watched_or_read(&ui, &staff, &id).await?;
    if record.status == NotificationStatus::Draft {
        return Ok(see_other(&urls::draft(record.id)));
    }
    progress.write_for_reader(&record);
    let mut page = StatusPage::new(
        Chrome::new(record.content.title.as_str(), &staff, "home"),
        &record,
        progress,
    );
    if may_remind(&record) {
        page.not_acknowledged =
            Some(ui.store.not_acknowledged_count(record.id).await?).filter(|people| *people > 0);
    }
    page.notice = notice.reminded.map(|people| match people {
        1 => "Reminder sent to 1 person.".to_owned(),
        people => format!("Reminder sent to {} people.", views::number(people)),
    });
    if let Some(text) = change_notice(notice.changed.as_deref()) {
        page.notice = Some(text.to_owned());
    }
    let changes = ui.store.changes(record.id).await?;
    let counts = ui.store.change_counts(record.id).await?;
    // The page may show the watchers' last read, up to a second old: a
    // send that just delivered its first cards would offer no Edit yet.
    let delivered = match page.progress.delivered {
        0 => ui
            .store
            .progress(record.id)
            .await?
            .map_or(0, |p| p.count(herald_domain::DeliveryStatus::Delivered)),
        delivered => delivered,
    };
    page.may_change = may_change(&record, delivered, &changes);
    page.reached = delivered;
    page.changes = changes
        .iter()
        .enumerate()
        .map(|(i, change)| views::ChangeLine::new(change, i + 1 == changes.len(), &counts))
        .collect();
    html(&page)
}

/// Fixed words only: nothing typed into a URL is shown back.
fn change_notice(changed: Option<&str>) -> Option<&'static str> {
    match changed? {
        "edit" => {
            Some("The update is on its way to everyone it reached; the list below follows it.")
        }
        "recall" => Some("The recall is on its way: it is taken back from everyone it reached."),
        _ => None,
    }
}

/// What went out can be edited or recalled, until it is taken back.
fn may_change(
    record: &NotificationRecord,
    delivered: i64,
    changes: &[herald_store::ChangeRecord],
) -> bool {
    delivered > 0
        && !matches!(
            record.status,
            NotificationStatus::Draft | NotificationStatus::Scheduled
        )
        && !changes.iter().any(|c| c.kind.takes_back())
}

/// Reminders are for announcements that ask for an acknowledgement and
/// went out; a reminder's own acknowledgements count for its original,
/// which is where to remind from.
fn may_remind(record: &NotificationRecord) -> bool {
    record.content.acknowledgement_required
        && record.reminder_of.is_none()
        && matches!(
            record.status,
            NotificationStatus::Sent | NotificationStatus::Canceled
        )
}

/// `POST /announcements/{id}/remind`: the people it reached who have not
/// acknowledged it get a reminder (what `herald remind` does).
pub async fn remind(Author(staff): Author, ui: web::Data<Ui>, id: web::Path<String>) -> Page {
    let record = visible(&ui, &staff, &id).await?;
    let reminder = remind_record(&ui, &staff, &record).await?;
    Ok(see_other(&format!(
        "{}?reminded={}",
        urls::announcement(record.id),
        reminder.people
    )))
}

/// Reminds the people `record` reached who have not acknowledged it.
pub(super) async fn remind_record(
    ui: &Ui,
    staff: &Staff,
    record: &NotificationRecord,
) -> Result<herald_prepare::Reminder, UiError> {
    if !may_remind(record) {
        return Err(UiError::Conflict(
            "only an announcement that asks for acknowledgements and has been sent can be reminded of"
                .to_owned(),
        ));
    }
    let reminder = herald_prepare::remind(&ui.store, &ui.broker, record.id, &staff.upn).await?;
    tracing::info!(notification = %record.id, reminder = %reminder.id, people = reminder.people, by = %staff.upn, "reminded");
    Ok(reminder)
}

/// The announcement and its progress. The page shows what its event
/// stream sends next anyway, so what the watchers' poller read last will
/// do while it is current; otherwise both are read.
async fn watched_or_read(
    ui: &Ui,
    staff: &Staff,
    id: &str,
) -> Result<(NotificationRecord, Snapshot), UiError> {
    if let Some((record, progress)) = ui.live.latest(parse_id(id)?) {
        return if staff.may_see(&record) {
            Ok((record, progress))
        } else {
            Err(UiError::NotFound)
        };
    }
    let record = visible(ui, staff, id).await?;
    let progress = progress_of(ui, &record).await?;
    Ok((record, progress))
}

pub async fn events(Author(staff): Author, ui: web::Data<Ui>, id: web::Path<String>) -> Page {
    let record = visible(&ui, &staff, &id).await?;
    Ok(HttpResponse::Ok()
        .content_type("text/event-stream")
        // Compressing would hold events back until a buffer fills.
        .insert_header(ContentEncoding::Identity)
        .insert_header(("X-Accel-Buffering", "no"))
        .streaming(ui.live.events(record.id)))
}
