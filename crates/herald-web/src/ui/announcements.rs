//! The announcements as their authors meet them: the list (the home
//! page), composing, confirming, sending, scheduling and canceling. Each
//! handler names the role it needs.

use actix_web::{HttpResponse, web};
use herald_domain::{Audience, Content, NotificationId, NotificationStatus};
use herald_prepare::authoring;
use herald_store::{NotificationRecord, Owner};
use serde::Deserialize;
use time::{OffsetDateTime, PrimitiveDateTime, UtcOffset};

use super::compose::{DraftForm, FieldErrors, card_of};
use super::error::UiError;
use super::filters::{ListFilter, PAGE_ROWS, given, query_string, split_page};
use super::session::{Author, Staff};
use super::shared::{Page, html, see_other, visible};
use super::views::{self, Chrome, ComposePage, ConfirmPage, HomePage, Row, TestsSent};
use super::{Ui, urls};

type Form = web::Form<Vec<(String, String)>>;

#[derive(Deserialize)]
pub struct Notice {
    #[serde(default)]
    done: Option<String>,
}

/// Fixed messages only: nothing typed into a URL is shown back.
fn notice(query: &Notice) -> Option<String> {
    let text = match query.done.as_deref()? {
        "saved" => "Saved.",
        "tested" => {
            "Saved, and a test was sent to you in Teams: look for it in your chat with Herald."
        }
        "unscheduled" => {
            "Taken off the schedule: this is a draft again. Schedule it again when you are done."
        }
        "duplicated" => "This is a copy. Change what you need and save it.",
        _ => return None,
    };
    Some(text.to_owned())
}

/// What became of a form shown again with its errors, said first in the
/// banner above them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    /// The form was refused: nothing of it is stored.
    Refused { action: Action },
    /// The draft is stored but cannot go on to the review page.
    SavedNotSendable,
    /// The draft is stored but the test could not be sent.
    SavedTestFailed,
}

fn errors_heading(outcome: Outcome, new: bool) -> String {
    let nothing = if new {
        "Nothing was saved"
    } else {
        "Your changes were not saved"
    };
    match outcome {
        Outcome::Refused {
            action: Action::Test,
        } => format!("{nothing} and no test was sent: fix what is listed here, then try again."),
        Outcome::Refused { .. } => format!("{nothing}: fix what is listed here, then save again."),
        Outcome::SavedNotSendable => {
            "The draft is saved, but it cannot be sent yet: fix what is listed here, then review the send again.".to_owned()
        }
        Outcome::SavedTestFailed => "The draft is saved, but the test was not sent:".to_owned(),
    }
}

fn compose_page(
    staff: &Staff,
    id: Option<String>,
    form: DraftForm,
    errors: FieldErrors,
    notice: Option<String>,
    outcome: Outcome,
) -> Page {
    compose_page_with_tests(staff, id, form, errors, notice, outcome, None)
}

/// The compose page, with the tests sent from the draft when known.
fn compose_page_with_tests(
    staff: &Staff,
    id: Option<String>,
    form: DraftForm,
    errors: FieldErrors,
    notice: Option<String>,
    outcome: Outcome,
    tests: Option<TestsSent>,
) -> Page {
    let title = if id.is_some() {
        "Edit announcement"
    } else {
        "New announcement"
    };
    let status = if errors.is_empty() {
        actix_web::http::StatusCode::OK
    } else {
        actix_web::http::StatusCode::UNPROCESSABLE_ENTITY
    };
    let mut response = html(&ComposePage {
        chrome: Chrome::new(title, staff, "new"),
        form,
        errors_heading: errors_heading(outcome, id.is_none()),
        id,
        errors,
        notice,
        tests,
        sent: None,
    })?;
    *response.status_mut() = status;
    Ok(response)
}

pub async fn new_draft(Author(staff): Author) -> Page {
    let form = DraftForm {
        author: staff.name.clone(),
        ..DraftForm::default()
    };
    compose_page(
        &staff,
        None,
        form,
        FieldErrors::default(),
        None,
        Outcome::SavedNotSendable,
    )
}

pub async fn edit_draft(
    Author(staff): Author,
    ui: web::Data<Ui>,
    id: web::Path<String>,
    query: web::Query<Notice>,
) -> Page {
    let record = visible(&ui, &staff, &id).await?;
    if record.status != NotificationStatus::Draft {
        return Ok(see_other(&urls::announcement(record.id)));
    }
    let form = DraftForm::from_record(&record);
    let tests = ui.store.tests_of(record.id).await?;
    compose_page_with_tests(
        &staff,
        Some(record.id.to_string()),
        form,
        FieldErrors::default(),
        notice(&query),
        Outcome::SavedNotSendable,
        TestsSent::new(&tests, &staff.upn),
    )
}

/// The content and audience of a form, every field checked, and the
/// people of a list looked up: rows that match nobody are an error on
/// the list, before anything is stored or sent.
pub(super) async fn checked(ui: &Ui, form: &DraftForm) -> Result<(Content, Audience), FieldErrors> {
    let content = form.content(&ui.settings.public_url);
    let audience = form.audience();
    let (content, audience) = match (content, audience) {
        (Ok(content), Ok(audience)) => (content, audience),
        (content, audience) => {
            let mut errors = FieldErrors::default();
            for found in [content.err(), audience.err()].into_iter().flatten() {
                errors.0.extend(found.0);
            }
            return Err(errors);
        }
    };
    let people = DraftForm::listed_people(&audience);
    if !people.is_empty() {
        let mut errors = FieldErrors::default();
        match authoring::check_people(&ui.graph, &people).await {
            Ok(check) if check.unknown.is_empty() => {}
            Ok(check) => errors.add(
                "csv",
                format!(
                    "{} of {} rows match nobody in the directory: {}. Remove or correct them, then save again.",
                    views::number(check.unknown.len()),
                    views::number(people.len()),
                    first_few(&check.unknown)
                ),
            ),
            Err(error) => errors.add("csv", UiError::Graph(error)),
        }
        if !errors.is_empty() {
            return Err(errors);
        }
    }
    Ok((content, audience))
}

/// Rows named in a message: the first ten, and how many more.
const NAMED_ROWS: usize = 10;

fn first_few(rows: &[String]) -> String {
    let named = rows[..rows.len().min(NAMED_ROWS)].join(", ");
    match rows.len().saturating_sub(NAMED_ROWS) {
        0 => named,
        more => format!("{named} and {} more", views::number(more)),
    }
}

pub(super) fn owner(staff: &Staff) -> Owner {
    Owner {
        id: staff.id,
        name: staff.name.clone(),
        upn: staff.upn.clone(),
    }
}

/// What the author asked for with the button they pressed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Action {
    Save,
    Test,
    Review,
}

fn action(pairs: &[(String, String)]) -> Action {
    match pairs
        .iter()
        .find(|(name, _)| name == "action")
        .map(|(_, value)| value.as_str())
    {
        Some("test") => Action::Test,
        Some("send") => Action::Review,
        _ => Action::Save,
    }
}

pub async fn create_draft(Author(staff): Author, ui: web::Data<Ui>, pairs: Form) -> Page {
    let form = DraftForm::from_pairs(&pairs);
    let action = action(&pairs);
    let (content, audience) = match checked(&ui, &form).await {
        Ok(checked) => checked,
        Err(errors) => {
            return compose_page(
                &staff,
                None,
                form,
                errors,
                None,
                Outcome::Refused { action },
            );
        }
    };
    let id = NotificationId::new();
    ui.store
        .create_draft(id, &content, &audience, &owner(&staff))
        .await?;
    after_save(&ui, &staff, id, form, &content, action).await
}

pub async fn update_draft(
    Author(staff): Author,
    ui: web::Data<Ui>,
    id: web::Path<String>,
    pairs: Form,
) -> Page {
    let record = visible(&ui, &staff, &id).await?;
    let form = DraftForm::from_pairs(&pairs);
    let action = action(&pairs);
    let (content, audience) = match checked(&ui, &form).await {
        Ok(checked) => checked,
        Err(errors) => {
            return compose_page(
                &staff,
                Some(record.id.to_string()),
                form,
                errors,
                None,
                Outcome::Refused { action },
            );
        }
    };
    if !ui
        .store
        .update_draft(record.id, &content, &audience)
        .await?
    {
        return Err(UiError::Conflict(
            "this announcement was sent or scheduled meanwhile, so it can no longer be changed; duplicate it to send it again".to_owned(),
        ));
    }
    after_save(&ui, &staff, record.id, form, &content, action).await
}

async fn after_save(
    ui: &Ui,
    staff: &Staff,
    id: NotificationId,
    form: DraftForm,
    content: &Content,
    action: Action,
) -> Page {
    match action {
        Action::Test => {
            let tester = authoring::Tester {
                id: staff.id,
                name: staff.name.clone(),
                upn: staff.upn.clone(),
            };
            match authoring::send_test(&ui.store, &ui.broker, content, id, &tester).await {
                Ok(_) => Ok(see_other(&urls::draft_done(id, "tested"))),
                // What the author can fix (a card too large once the test
                // mark is added); the draft itself is stored.
                Err(
                    error @ (herald_prepare::SubmitError::Content(_)
                    | herald_prepare::SubmitError::Card(_)),
                ) => {
                    let mut errors = FieldErrors::default();
                    errors.add("test", error);
                    compose_page(
                        staff,
                        Some(id.to_string()),
                        form,
                        errors,
                        None,
                        Outcome::SavedTestFailed,
                    )
                }
                Err(error) => Err(error.into()),
            }
        }
        Action::Review => Ok(see_other(&urls::draft_send(id))),
        Action::Save => Ok(see_other(&urls::draft_done(id, "saved"))),
    }
}

pub async fn duplicate(Author(staff): Author, ui: web::Data<Ui>, id: web::Path<String>) -> Page {
    let record = visible(&ui, &staff, &id).await?;
    let copy = NotificationId::new();
    ui.store
        .create_draft(copy, &record.content, &record.audience, &owner(&staff))
        .await?;
    Ok(see_other(&urls::draft_done(copy, "duplicated")))
}

pub async fn delete(Author(staff): Author, ui: web::Data<Ui>, id: web::Path<String>) -> Page {
    let record = visible(&ui, &staff, &id).await?;
    if !ui.store.delete_draft(record.id).await? {
        return Err(UiError::Conflict(
            "only drafts can be deleted; this one was sent or scheduled".to_owned(),
        ));
    }
    Ok(see_other(urls::HOME))
}

async fn confirm_page(
    ui: &Ui,
    staff: &Staff,
    record: &NotificationRecord,
    error: Option<String>,
    schedule_at: String,
    time_zone: String,
) -> Page {
    let estimate = authoring::estimate(&ui.graph, &record.audience).await?;
    let rate = ui.settings.send_rate_per_second;
    let card = card_of(&record.content, &record.audience)?.to_string();
    let mut response = html(&ConfirmPage {
        chrome: Chrome::new("Send announcement", staff, "new"),
        id: record.id.to_string(),
        title: record.content.title.as_str().to_owned(),
        audience: record.audience.describe(),
        people: estimate.people,
        channel_posts: estimate.channel_posts,
        duration: views::duration(estimate.seconds_at(rate)),
        card,
        rate: format!("{rate:.0}"),
        error: error.clone(),
        schedule_at,
        time_zone,
    })?;
    if error.is_some() {
        *response.status_mut() = actix_web::http::StatusCode::UNPROCESSABLE_ENTITY;
    }
    Ok(response)
}

pub async fn confirm_send(Author(staff): Author, ui: web::Data<Ui>, id: web::Path<String>) -> Page {
    let record = visible(&ui, &staff, &id).await?;
    if record.status != NotificationStatus::Draft {
        return Ok(see_other(&urls::announcement(record.id)));
    }
    if record.audience.targets.is_empty() {
        return compose_page(
            &staff,
            Some(record.id.to_string()),
            DraftForm::from_record(&record),
            missing_audience(),
            None,
            Outcome::SavedNotSendable,
        );
    }
    confirm_page(&ui, &staff, &record, None, String::new(), String::new()).await
}

fn missing_audience() -> FieldErrors {
    let mut errors = FieldErrors::default();
    errors.add(
        "audience",
        "Pick at least one team, group, channel or list of people before sending.",
    );
    errors
}

pub async fn send_now(Author(staff): Author, ui: web::Data<Ui>, id: web::Path<String>) -> Page {
    let record = visible(&ui, &staff, &id).await?;
    send(&ui, &staff, &record).await?;
    Ok(see_other(&urls::announcement(record.id)))
}

/// Sends a draft now: the UI's and the API's one way to.
pub(super) async fn send(
    ui: &Ui,
    staff: &Staff,
    record: &NotificationRecord,
) -> Result<(), UiError> {
    authoring::send_draft(&ui.store, &ui.broker, record.id).await?;
    ui.live.changed(record.id);
    tracing::info!(notification = %record.id, by = %staff.upn, "sent");
    Ok(())
}

#[derive(Deserialize)]
pub struct ScheduleForm {
    #[serde(default)]
    at: String,
    /// The browser's IANA zone name, for showing the time back.
    #[serde(default)]
    time_zone: String,
    /// Minutes to add to the picked local time to get UTC, as the browser
    /// computed for that date (`Date.getTimezoneOffset`); absent without
    /// scripts, when the time is taken as UTC.
    #[serde(default)]
    offset_minutes: Option<i32>,
}

/// How far ahead a schedule may be.
const MAX_DAYS_AHEAD: i64 = 366;

/// The UTC instant of a `datetime-local` value in the author's zone.
fn scheduled_instant(form: &ScheduleForm) -> Result<OffsetDateTime, String> {
    let format = time::macros::format_description!("[year]-[month]-[day]T[hour]:[minute]");
    let local = PrimitiveDateTime::parse(form.at.trim(), &format).map_err(|_| {
        format!(
            "{:?} is not a date and time: pick one, like 2026-12-01 09:30",
            form.at
        )
    })?;
    let minutes = form.offset_minutes.unwrap_or(0);
    let offset = UtcOffset::from_whole_seconds(-minutes * 60)
        .map_err(|_| "the browser sent a time zone offset that does not exist".to_owned())?;
    schedulable(local.assume_offset(offset))
}

/// A time a schedule may be set for: in the future, within a year.
pub(super) fn schedulable(at: OffsetDateTime) -> Result<OffsetDateTime, String> {
    let at = at.to_offset(UtcOffset::UTC);
    let now = OffsetDateTime::now_utc();
    if at <= now {
        return Err("that time has passed: pick a time in the future".to_owned());
    }
    if at > now + time::Duration::days(MAX_DAYS_AHEAD) {
        return Err("Herald schedules up to a year ahead: pick an earlier date".to_owned());
    }
    Ok(at)
}

pub async fn schedule(
    Author(staff): Author,
    ui: web::Data<Ui>,
    id: web::Path<String>,
    form: web::Form<ScheduleForm>,
) -> Page {
    let record = visible(&ui, &staff, &id).await?;
    let zone = if form.time_zone.trim().is_empty() || form.offset_minutes.is_none() {
        "UTC".to_owned()
    } else {
        form.time_zone.trim().chars().take(64).collect()
    };
    if record.audience.targets.is_empty() {
        return Err(UiError::Submit(herald_prepare::SubmitError::NoAudience));
    }
    let at = match scheduled_instant(&form) {
        Ok(at) => at,
        Err(problem) => {
            return confirm_page(&ui, &staff, &record, Some(problem), form.at.clone(), zone).await;
        }
    };
    schedule_at(&ui, &staff, &record, at, &zone).await?;
    Ok(see_other(&urls::announcement(record.id)))
}

/// Puts a draft on the schedule for `at` (checked by [`schedulable`]),
/// shown back in `zone`.
pub(super) async fn schedule_at(
    ui: &Ui,
    staff: &Staff,
    record: &NotificationRecord,
    at: OffsetDateTime,
    zone: &str,
) -> Result<(), UiError> {
    if record.audience.targets.is_empty() {
        return Err(UiError::Submit(herald_prepare::SubmitError::NoAudience));
    }
    let scheduled = ui.store.schedule(record.id, at, zone).await?;
    ui.live.changed(record.id);
    if !scheduled {
        return Err(UiError::Conflict(
            "this announcement is no longer a draft, so it cannot be scheduled".to_owned(),
        ));
    }
    tracing::info!(notification = %record.id, at = %views::iso(at), by = %staff.upn, "scheduled");
    Ok(())
}

/// `POST /announcements/{id}/edit`: a scheduled announcement comes off
/// the schedule and opens in the editor as a draft.
pub async fn edit_scheduled(
    Author(staff): Author,
    ui: web::Data<Ui>,
    id: web::Path<String>,
) -> Page {
    let record = visible(&ui, &staff, &id).await?;
    if record.status == NotificationStatus::Draft {
        return Ok(see_other(&urls::draft(record.id)));
    }
    if record.status != NotificationStatus::Scheduled || !ui.store.unschedule(record.id).await? {
        return Err(UiError::Conflict(
            "this announcement has gone out already, so it can no longer be edited; duplicate it instead"
                .to_owned(),
        ));
    }
    ui.live.changed(record.id);
    tracing::info!(notification = %record.id, by = %staff.upn, "taken off the schedule to edit");
    Ok(see_other(&urls::draft_done(record.id, "unscheduled")))
}

/// `POST /announcements/{id}/cancel`: a send stops, a schedule is called
/// off; either way it ends canceled, with who did it.
pub async fn cancel(Author(staff): Author, ui: web::Data<Ui>, id: web::Path<String>) -> Page {
    let record = visible(&ui, &staff, &id).await?;
    cancel_record(&ui, &staff, &record).await?;
    Ok(see_other(&urls::announcement(record.id)))
}

/// Stops a send or calls off a schedule, recording who did.
pub(super) async fn cancel_record(
    ui: &Ui,
    staff: &Staff,
    record: &NotificationRecord,
) -> Result<(), UiError> {
    let canceled = ui
        .store
        .cancel_notification(record.id, staff.display_name())
        .await?;
    ui.live.changed(record.id);
    if !canceled {
        return Err(UiError::Conflict(
            "this announcement has already finished, so there is nothing to cancel".to_owned(),
        ));
    }
    tracing::info!(notification = %record.id, by = %staff.upn, "canceled");
    Ok(())
}

pub async fn list(
    Author(staff): Author,
    ui: web::Data<Ui>,
    filter: web::Query<ListFilter>,
) -> Page {
    let query = filter.query(&staff, PAGE_ROWS)?;
    let listed = ui.store.announcement_page(&query).await?;
    let (listed, next) = split_page(listed, PAGE_ROWS, |l| l.record.id.to_string());
    html(&HomePage {
        chrome: Chrome::new("Announcements", &staff, "home"),
        rows: listed.iter().map(Row::new).collect(),
        everyone: staff.is_admin(),
        q: given(&filter.q).unwrap_or_default().to_owned(),
        status: given(&filter.status).unwrap_or_default().to_owned(),
        since: given(&filter.since).unwrap_or_default().to_owned(),
        until: given(&filter.until).unwrap_or_default().to_owned(),
        sort: given(&filter.sort).unwrap_or_default().to_owned(),
        dir: given(&filter.dir).unwrap_or_default().to_owned(),
        headers: filter.headers(query.sort),
        filtered: !query_string(&filter.filters(), None).is_empty() || filter.after.is_some(),
        first: format!("{}?{}", urls::HOME, filter.link(None)),
        next: next.map(|after| format!("{}?{}", urls::HOME, filter.link(Some(&after)))),
    })
}

/// The home page is the announcements list; `/announcements` is its name.
pub async fn to_list(Author(_): Author) -> HttpResponse {
    see_other(urls::HOME)
}
