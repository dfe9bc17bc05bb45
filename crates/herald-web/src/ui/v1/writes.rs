//! Creating, sending and changing announcements through `/api/v1`. Each
//! body is turned into the compose form's fields and checked by the same
//! code as the UI, so the rules and the words of every error are the
//! UI's; each action is the UI's own function.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use herald_domain::{ChangeKind, NotificationStatus};
use herald_prepare::authoring;
use herald_store::{NewChange, NotificationRecord};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::Sender;
use super::idempotency;
use super::problem::ApiError;
use super::reads::{Report, report_of};
use crate::ui::compose::{BUTTONS, DraftForm, FieldErrors, Pick};
use crate::ui::error::UiError;
use crate::ui::session::Staff;
use crate::ui::shared::visible;
use crate::ui::{Ui, announcements, changes, urls};

type Answer = Result<HttpResponse, ApiError>;

/// An announcement's content and audience, as programs write it.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AnnouncementBody {
    #[serde(default)]
    pub title: String,
    #[serde(default)]
    pub summary: Option<String>,
    #[serde(default)]
    pub image_url: Option<String>,
    /// The author line on the card ("From: ...").
    #[serde(default)]
    pub author: Option<String>,
    #[serde(default)]
    pub buttons: Vec<ButtonBody>,
    #[serde(default)]
    pub feed_text: Option<String>,
    #[serde(default)]
    pub critical: bool,
    /// Ask people to press Acknowledge.
    #[serde(default)]
    pub acknowledge: bool,
    /// Targets as the CLI writes them: `everyone`, `group:<id>`,
    /// `team:<id>`, `team-members:<id>`, `channel:<team>/<channel>`.
    #[serde(default)]
    pub audience: Vec<String>,
    /// People by UPN or Entra object id.
    #[serde(default)]
    pub people: Vec<String>,
    /// What the list of people is called in reports.
    #[serde(default)]
    pub people_list_name: Option<String>,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ButtonBody {
    #[serde(default)]
    pub title: String,
    #[serde(default)]
    pub url: String,
}

/// `POST /api/v1/announcements`: a draft, or with `send` / `scheduleAt`
/// an announcement sent now or at a time.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CreateBody {
    #[serde(flatten)]
    pub announcement: AnnouncementBody,
    /// `true`: send it at once.
    #[serde(default)]
    pub send: bool,
    /// Send at this time (RFC 3339, with its offset).
    #[serde(default)]
    pub schedule_at: Option<String>,
    /// The IANA zone to show the scheduled time in (default UTC).
    #[serde(default)]
    pub time_zone: Option<String>,
}

impl AnnouncementBody {
    /// The compose form these fields fill in, or what cannot fit in it.
    fn form(&self) -> Result<DraftForm, FieldErrors> {
        if self.buttons.len() > BUTTONS {
            let mut errors = FieldErrors::default();
            errors.add(
                "buttons",
                format!(
                    "a card has at most {BUTTONS} buttons; {} were given",
                    self.buttons.len()
                ),
            );
            return Err(errors);
        }
        let text = |field: &Option<String>| field.clone().unwrap_or_default();
        let mut form = DraftForm {
            title: self.title.clone(),
            summary: text(&self.summary),
            image_url: text(&self.image_url),
            author: text(&self.author),
            feed_text: text(&self.feed_text),
            critical: self.critical,
            acknowledgement: self.acknowledge,
            picks: self
                .audience
                .iter()
                .map(|spec| Pick {
                    spec: spec.clone(),
                    label: String::new(),
                })
                .collect(),
            csv_name: self
                .people_list_name
                .clone()
                .unwrap_or_else(|| "a list sent through the API".to_owned()),
            csv: self.people.join("\n"),
            ..DraftForm::default()
        };
        for (slot, button) in form.buttons.iter_mut().zip(&self.buttons) {
            *slot = (button.title.clone(), button.url.clone());
        }
        Ok(form)
    }
}

/// The body as JSON of type `T`, or what is wrong with it in words.
pub fn parse<T: DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    let body = if body.iter().all(u8::is_ascii_whitespace) {
        b"{}".as_slice()
    } else {
        body
    };
    serde_json::from_slice(body).map_err(|error| {
        ApiError::BadBody(format!(
            "the body is not the JSON this route takes: {error}; see /api/v1/openapi.json"
        ))
    })
}

fn invalid(errors: FieldErrors) -> ApiError {
    ApiError::Invalid(errors)
}

/// 201 with the report of a new announcement and where it lives.
async fn created(ui: &Ui, record: &NotificationRecord) -> Answer {
    let mut response = report_of(ui, record).await?;
    *response.status_mut() = StatusCode::CREATED;
    response.headers_mut().insert(
        actix_web::http::header::LOCATION,
        actix_web::http::header::HeaderValue::from_str(&urls::api_announcement(record.id))
            .map_err(|_| UiError::NotFound)?,
    );
    Ok(response)
}

async fn reread(ui: &Ui, record: &NotificationRecord) -> Result<NotificationRecord, ApiError> {
    Ok(ui
        .store
        .notification(record.id)
        .await?
        .ok_or(UiError::NotFound)?)
}

/// A schedule time as the API takes it.
fn instant(text: &str) -> Result<OffsetDateTime, FieldErrors> {
    let mut errors = FieldErrors::default();
    let at = OffsetDateTime::parse(text.trim(), &Rfc3339).map_err(|_| {
        let mut errors = FieldErrors::default();
        errors.add(
            "scheduleAt",
            format!(
                "{text:?} is not an RFC 3339 time with its offset, like 2026-12-04T09:30:00+01:00"
            ),
        );
        errors
    })?;
    match announcements::schedulable(at) {
        Ok(at) => Ok(at),
        Err(problem) => {
            errors.add("scheduleAt", problem);
            Err(errors)
        }
    }
}

fn zone_of(zone: &Option<String>) -> Result<String, FieldErrors> {
    let zone = zone
        .as_deref()
        .map(str::trim)
        .filter(|z| !z.is_empty())
        .unwrap_or("UTC");
    if jiff::tz::TimeZone::get(zone).is_err() {
        let mut errors = FieldErrors::default();
        errors.add(
            "timeZone",
            format!(
                "{zone:?} is not a time zone Herald knows; give an IANA name like Europe/Berlin"
            ),
        );
        return Err(errors);
    }
    Ok(zone.to_owned())
}

/// A new announcement: a draft, or sent at once (`send: true`), or
/// scheduled (`scheduleAt`). Checked as the compose page checks it.
#[utoipa::path(
    post,
    path = "/api/v1/announcements",
    tag = "announcements",
    request_body = CreateBody,
    responses(
        (status = 201, description = "Created (and sent or scheduled when asked); Location names it", body = Report),
    ),
    security(("bearer" = []), ("session" = [])),
)]
pub async fn create(
    Sender(staff): Sender,
    ui: web::Data<Ui>,
    request: HttpRequest,
    body: web::Bytes,
) -> Answer {
    let body_bytes = body.clone();
    idempotency::once(&ui, &staff, &request, &body_bytes, || async {
        let body: CreateBody = parse(&body)?;
        let form = body.announcement.form().map_err(invalid)?;
        let when = match (&body.schedule_at, body.send) {
            (Some(_), true) => {
                let mut errors = FieldErrors::default();
                errors.add("send", "give either send: true or scheduleAt, not both");
                return Err(invalid(errors));
            }
            (Some(at), false) => Some((
                instant(at).map_err(invalid)?,
                zone_of(&body.time_zone).map_err(invalid)?,
            )),
            (None, _) => None,
        };
        let (content, audience) = announcements::checked(&ui, &form).await.map_err(invalid)?;
        if (body.send || when.is_some()) && audience.targets.is_empty() {
            return Err(UiError::Submit(herald_prepare::SubmitError::NoAudience).into());
        }
        let id = herald_domain::NotificationId::new();
        ui.store
            .create_draft(id, &content, &audience, &announcements::owner(&staff))
            .await?;
        let record = ui.store.notification(id).await?.ok_or(UiError::NotFound)?;
        if body.send {
            announcements::send(&ui, &staff, &record).await?;
        } else if let Some((at, zone)) = when {
            announcements::schedule_at(&ui, &staff, &record, at, &zone).await?;
        }
        tracing::info!(notification = %id, by = %staff.upn, "created through the API");
        created(&ui, &reread(&ui, &record).await?).await
    })
    .await
}

/// A draft's content and audience, replaced whole.
#[utoipa::path(
    put,
    path = "/api/v1/announcements/{id}",
    tag = "announcements",
    params(("id" = String, Path, description = "The announcement's id")),
    request_body = AnnouncementBody,
    responses(
        (status = 200, description = "The draft, changed", body = Report),
    ),
    security(("bearer" = []), ("session" = [])),
)]
pub async fn update(
    Sender(staff): Sender,
    ui: web::Data<Ui>,
    id: web::Path<String>,
    body: web::Bytes,
) -> Answer {
    let record = visible(&ui, &staff, &id).await?;
    let body: AnnouncementBody = parse(&body)?;
    let form = body.form().map_err(invalid)?;
    let (content, audience) = announcements::checked(&ui, &form).await.map_err(invalid)?;
    if !ui
        .store
        .update_draft(record.id, &content, &audience)
        .await?
    {
        return Err(UiError::Conflict(
            "this announcement was sent or scheduled meanwhile, so it can no longer be changed; duplicate it to send it again".to_owned(),
        )
        .into());
    }
    Ok(report_of(&ui, &reread(&ui, &record).await?).await?)
}

/// Deletes a draft (only drafts can be deleted).
#[utoipa::path(
    delete,
    path = "/api/v1/announcements/{id}",
    tag = "announcements",
    params(("id" = String, Path, description = "The announcement's id")),
    responses(
        (status = 204, description = "The draft is deleted"),
    ),
    security(("bearer" = []), ("session" = [])),
)]
pub async fn delete(Sender(staff): Sender, ui: web::Data<Ui>, id: web::Path<String>) -> Answer {
    let record = visible(&ui, &staff, &id).await?;
    if !ui.store.delete_draft(record.id).await? {
        return Err(UiError::Conflict(
            "only drafts can be deleted; this one was sent or scheduled".to_owned(),
        )
        .into());
    }
    Ok(HttpResponse::NoContent().finish())
}

/// An action on one announcement, once per `Idempotency-Key`, answered
/// with its report.
async fn act<F, Fut>(
    ui: &Ui,
    staff: &Staff,
    id: &str,
    request: &HttpRequest,
    body: &[u8],
    action: F,
) -> Answer
where
    F: FnOnce(NotificationRecord) -> Fut,
    Fut: std::future::Future<Output = Result<(), ApiError>>,
{
    let record = visible(ui, staff, id).await?;
    idempotency::once(ui, staff, request, body, || async {
        action(record.clone()).await?;
        Ok(report_of(ui, &reread(ui, &record).await?).await?)
    })
    .await
}

/// Sends a draft now.
#[utoipa::path(
    post,
    path = "/api/v1/announcements/{id}/send",
    tag = "announcements",
    params(("id" = String, Path, description = "The announcement's id")),
    request_body = Empty,
    responses(
        (status = 200, description = "Sending", body = Report),
    ),
    security(("bearer" = []), ("session" = [])),
)]
pub async fn send(
    Sender(staff): Sender,
    ui: web::Data<Ui>,
    id: web::Path<String>,
    request: HttpRequest,
    body: web::Bytes,
) -> Answer {
    let (ui, staff, body) = (&ui, &staff, &body);
    act(ui, staff, &id, &request, body, move |record| async move {
        let _: Empty = parse(body)?;
        announcements::send(ui, staff, &record).await?;
        Ok(())
    })
    .await
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Empty {}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ScheduleBody {
    #[serde(default)]
    at: String,
    #[serde(default)]
    time_zone: Option<String>,
}

/// Schedules a draft for a time (RFC 3339, with its offset), within a
/// year.
#[utoipa::path(
    post,
    path = "/api/v1/announcements/{id}/schedule",
    tag = "announcements",
    params(("id" = String, Path, description = "The announcement's id")),
    request_body = ScheduleBody,
    responses(
        (status = 200, description = "Scheduled", body = Report),
    ),
    security(("bearer" = []), ("session" = [])),
)]
pub async fn schedule(
    Sender(staff): Sender,
    ui: web::Data<Ui>,
    id: web::Path<String>,
    request: HttpRequest,
    body: web::Bytes,
) -> Answer {
    let (ui, staff, body) = (&ui, &staff, &body);
    act(ui, staff, &id, &request, body, move |record| async move {
        let body: ScheduleBody = parse(body)?;
        let at = instant(&body.at).map_err(|e| invalid(renamed(e, "scheduleAt", "at")))?;
        let zone = zone_of(&body.time_zone).map_err(invalid)?;
        announcements::schedule_at(ui, staff, &record, at, &zone).await?;
        Ok(())
    })
    .await
}

fn renamed(errors: FieldErrors, from: &str, to: &str) -> FieldErrors {
    let mut out = FieldErrors::default();
    for (field, message) in errors.0 {
        out.add(if field == from { to } else { &field }, message);
    }
    out
}

/// Takes a scheduled announcement off the schedule: a draft again.
#[utoipa::path(
    post,
    path = "/api/v1/announcements/{id}/unschedule",
    tag = "announcements",
    params(("id" = String, Path, description = "The announcement's id")),
    request_body = Empty,
    responses(
        (status = 200, description = "A draft again", body = Report),
    ),
    security(("bearer" = []), ("session" = [])),
)]
pub async fn unschedule(
    Sender(staff): Sender,
    ui: web::Data<Ui>,
    id: web::Path<String>,
    request: HttpRequest,
    body: web::Bytes,
) -> Answer {
    let (ui, staff, body) = (&ui, &staff, &body);
    act(ui, staff, &id, &request, body, move |record| async move {
        let _: Empty = parse(body)?;
        if record.status != NotificationStatus::Scheduled || !ui.store.unschedule(record.id).await? {
            return Err(UiError::Conflict(
                "only a scheduled announcement can be taken off the schedule; this one is not scheduled".to_owned(),
            )
            .into());
        }
        ui.live.changed(record.id);
        Ok(())
    })
    .await
}

/// Stops a send under way, or calls off a schedule.
#[utoipa::path(
    post,
    path = "/api/v1/announcements/{id}/cancel",
    tag = "announcements",
    params(("id" = String, Path, description = "The announcement's id")),
    request_body = Empty,
    responses(
        (status = 200, description = "Canceled", body = Report),
    ),
    security(("bearer" = []), ("session" = [])),
)]
pub async fn cancel(
    Sender(staff): Sender,
    ui: web::Data<Ui>,
    id: web::Path<String>,
    request: HttpRequest,
    body: web::Bytes,
) -> Answer {
    let (ui, staff, body) = (&ui, &staff, &body);
    act(ui, staff, &id, &request, body, move |record| async move {
        let _: Empty = parse(body)?;
        announcements::cancel_record(ui, staff, &record).await?;
        Ok(())
    })
    .await
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TestBody {
    /// Who gets the test (UPN or object id); a person gets it themselves
    /// when not given.
    #[serde(default)]
    to: Option<String>,
}

/// Sends the card to one person (`to`), marked as a test; a person in a
/// browser gets it themselves when `to` is left out.
#[utoipa::path(
    post,
    path = "/api/v1/announcements/{id}/test",
    tag = "announcements",
    params(("id" = String, Path, description = "The announcement's id")),
    request_body = TestBody,
    responses(
        (status = 200, description = "The test is on its way", body = Report),
    ),
    security(("bearer" = []), ("session" = [])),
)]
pub async fn test(
    Sender(staff): Sender,
    ui: web::Data<Ui>,
    id: web::Path<String>,
    request: HttpRequest,
    body: web::Bytes,
) -> Answer {
    let (ui, staff, body) = (&ui, &staff, &body);
    act(ui, staff, &id, &request, body, move |record| async move {
        let body: TestBody = parse(body)?;
        let tester = tester(ui, staff, body.to.as_deref()).await?;
        authoring::send_test(&ui.store, &ui.broker, &record.content, record.id, &tester).await?;
        Ok(())
    })
    .await
}

async fn tester(ui: &Ui, staff: &Staff, to: Option<&str>) -> Result<authoring::Tester, ApiError> {
    let missing = |message: String| {
        let mut errors = FieldErrors::default();
        errors.add("test", message);
        invalid(errors)
    };
    let Some(to) = to.map(str::trim).filter(|t| !t.is_empty()) else {
        if staff.program.is_some() {
            return Err(missing(
                "say who gets the test: `to` with their UPN or Entra object id".to_owned(),
            ));
        }
        return Ok(authoring::Tester {
            id: staff.id,
            name: staff.name.clone(),
            upn: staff.upn.clone(),
        });
    };
    let person = ui
        .graph
        .user(to)
        .await
        .map_err(UiError::Graph)?
        .ok_or_else(|| missing(format!("{to:?} matches nobody in the directory")))?;
    Ok(authoring::Tester {
        id: person.id,
        name: person.display_name.clone().unwrap_or_else(|| to.to_owned()),
        upn: person.user_principal_name.unwrap_or_else(|| to.to_owned()),
    })
}

/// Reminds the people it reached who have not acknowledged it yet.
#[utoipa::path(
    post,
    path = "/api/v1/announcements/{id}/remind",
    tag = "announcements",
    params(("id" = String, Path, description = "The announcement's id")),
    request_body = Empty,
    responses(
        (status = 200, description = "The reminder is on its way", body = Report),
    ),
    security(("bearer" = []), ("session" = [])),
)]
pub async fn remind(
    Sender(staff): Sender,
    ui: web::Data<Ui>,
    id: web::Path<String>,
    request: HttpRequest,
    body: web::Bytes,
) -> Answer {
    let (ui, staff, body) = (&ui, &staff, &body);
    act(ui, staff, &id, &request, body, move |record| async move {
        let _: Empty = parse(body)?;
        crate::ui::status::remind_record(ui, staff, &record).await?;
        Ok(())
    })
    .await
}

/// New content for what went out; the audience stays.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct EditBody {
    #[serde(flatten)]
    announcement: AnnouncementBody,
    /// Show "Edited" on the card.
    #[serde(default = "yes")]
    mark_edited: bool,
    /// Also tell people in a new message that it changed.
    #[serde(default)]
    notify: bool,
}

fn yes() -> bool {
    true
}

/// Replaces every card that went out with the new content (the audience
/// stays), marked "Edited" unless `markEdited` is false.
#[utoipa::path(
    post,
    path = "/api/v1/announcements/{id}/edit",
    tag = "announcements",
    params(("id" = String, Path, description = "The announcement's id")),
    request_body = EditBody,
    responses(
        (status = 200, description = "Every card is being updated", body = Report),
    ),
    security(("bearer" = []), ("session" = [])),
)]
pub async fn edit(
    Sender(staff): Sender,
    ui: web::Data<Ui>,
    id: web::Path<String>,
    request: HttpRequest,
    body: web::Bytes,
) -> Answer {
    let (ui, staff, body) = (&ui, &staff, &body);
    act(ui, staff, &id, &request, body, move |record| async move {
        let body: EditBody = parse(body)?;
        if !body.announcement.audience.is_empty() || !body.announcement.people.is_empty() {
            let mut errors = FieldErrors::default();
            errors.add(
                "audience",
                "an edit changes the card, not who got it: leave audience and people out",
            );
            return Err(invalid(errors));
        }
        let record = sent(ui, staff, record).await?;
        let form = body.announcement.form().map_err(invalid)?;
        let content = changes::new_content(ui, &record, &form).map_err(invalid)?;
        let change = NewChange {
            kind: ChangeKind::Edit,
            content: Some(&content),
            mark_edited: body.mark_edited,
            notify: body.notify,
            by: staff.display_name(),
        };
        changes::start(ui, &record, &change).await?;
        Ok(())
    })
    .await
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RecallBody {
    /// `delete` (default) or `notice`.
    #[serde(default)]
    how: Option<String>,
}

/// Recalls every card that went out: `delete` removes them, `notice`
/// replaces them with a note that the announcement was withdrawn.
#[utoipa::path(
    post,
    path = "/api/v1/announcements/{id}/recall",
    tag = "announcements",
    params(("id" = String, Path, description = "The announcement's id")),
    request_body = RecallBody,
    responses(
        (status = 200, description = "Every card is being recalled", body = Report),
    ),
    security(("bearer" = []), ("session" = [])),
)]
pub async fn recall(
    Sender(staff): Sender,
    ui: web::Data<Ui>,
    id: web::Path<String>,
    request: HttpRequest,
    body: web::Bytes,
) -> Answer {
    let (ui, staff, body) = (&ui, &staff, &body);
    act(ui, staff, &id, &request, body, move |record| async move {
        let body: RecallBody = parse(body)?;
        let kind = changes::recall_kind(body.how.as_deref().unwrap_or("delete"))?;
        let record = sent(ui, staff, record).await?;
        let change = NewChange {
            kind,
            content: None,
            mark_edited: false,
            notify: false,
            by: staff.display_name(),
        };
        changes::start(ui, &record, &change).await?;
        Ok(())
    })
    .await
}

/// The announcement, if it went out and was not taken back.
async fn sent(
    ui: &Ui,
    staff: &Staff,
    record: NotificationRecord,
) -> Result<NotificationRecord, ApiError> {
    match changes::changeable(ui, staff, &record.id.to_string()).await? {
        Ok(record) => Ok(record),
        Err(_) => Err(UiError::Submit(herald_prepare::SubmitError::NotSent(record.id)).into()),
    }
}
