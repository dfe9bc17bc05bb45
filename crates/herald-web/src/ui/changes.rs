//! Editing and recalling an announcement that went out: the form (the
//! compose page without the audience), the review of the update with the
//! cards before and after, and the recall.

use actix_web::http::StatusCode;
use actix_web::web;
use herald_domain::{ChangeKind, Content, NotificationStatus};
use herald_store::{NewChange, NotificationRecord};

use super::compose::{DraftForm, FieldErrors, card_of};
use super::error::UiError;
use super::session::{Author, Staff};
use super::shared::{Page, html, see_other, visible};
use super::views::{
    self, ChangeReviewPage, Chrome, ComposePage, FieldChange, SentFacts, card_fields,
};
use super::{Ui, urls};

type Form = web::Form<Vec<(String, String)>>;

/// The announcement, if it went out and was not taken back; a draft or a
/// schedule is edited as a draft instead (`Ok(Err(redirect))`).
pub(super) async fn changeable(
    ui: &Ui,
    staff: &Staff,
    id: &str,
) -> Result<Result<NotificationRecord, actix_web::HttpResponse>, UiError> {
    let record = visible(ui, staff, id).await?;
    if matches!(
        record.status,
        NotificationStatus::Draft | NotificationStatus::Scheduled
    ) {
        return Ok(Err(see_other(&urls::announcement(record.id))));
    }
    let changes = ui.store.changes(record.id).await?;
    if changes.iter().any(|c| c.kind.takes_back()) {
        return Err(UiError::Conflict(
            "this announcement was recalled, so it can no longer be edited or recalled; duplicate it to send it again"
                .to_owned(),
        ));
    }
    Ok(Ok(record))
}

fn compose_sent(
    staff: &Staff,
    record: &NotificationRecord,
    form: DraftForm,
    errors: FieldErrors,
) -> Page {
    let status = if errors.is_empty() {
        StatusCode::OK
    } else {
        StatusCode::UNPROCESSABLE_ENTITY
    };
    let mut response = html(&ComposePage {
        chrome: Chrome::new("Edit the sent announcement", staff, "home"),
        id: Some(record.id.to_string()),
        form,
        errors_heading: "Nothing was changed yet. Fix these, then review the update:".to_owned(),
        errors,
        notice: None,
        tests: None,
        sent: Some(SentFacts {
            audience: record.audience.describe(),
            acknowledgement: record.content.acknowledgement_required,
        }),
    })?;
    *response.status_mut() = status;
    Ok(response)
}

/// `GET /announcements/{id}/change`: the form with what was sent.
pub async fn form(Author(staff): Author, ui: web::Data<Ui>, id: web::Path<String>) -> Page {
    let record = match changeable(&ui, &staff, &id).await? {
        Ok(record) => record,
        Err(redirect) => return Ok(redirect),
    };
    let form = DraftForm::from_record(&record);
    compose_sent(&staff, &record, form, FieldErrors::default())
}

/// The new content as posted; its audience and acknowledgement stay as
/// they went out.
pub(super) fn new_content(
    ui: &Ui,
    record: &NotificationRecord,
    form: &DraftForm,
) -> Result<Content, FieldErrors> {
    let mut content = form.content(&ui.settings.public_url)?;
    content.acknowledgement_required = record.content.acknowledgement_required;
    if content == record.content {
        let mut errors = FieldErrors::default();
        errors.add(
            "title",
            "Nothing is different from what was sent: change the text, or go back without changes.",
        );
        return Err(errors);
    }
    Ok(content)
}

/// An edit as posted: the announcement, the form and its new content; or
/// the answer already (a redirect, or the form again with its errors).
async fn posted_edit(
    ui: &Ui,
    staff: &Staff,
    id: &str,
    pairs: &[(String, String)],
) -> Result<Result<(NotificationRecord, DraftForm, Content), actix_web::HttpResponse>, UiError> {
    let record = match changeable(ui, staff, id).await? {
        Ok(record) => record,
        Err(redirect) => return Ok(Err(redirect)),
    };
    let form = DraftForm::from_pairs(pairs);
    match new_content(ui, &record, &form) {
        Ok(content) => Ok(Ok((record, form, content))),
        Err(errors) => compose_sent(staff, &record, form, errors).map(Err),
    }
}

/// `POST /announcements/{id}/change`: the review, before and after.
pub async fn review(
    Author(staff): Author,
    ui: web::Data<Ui>,
    id: web::Path<String>,
    pairs: Form,
) -> Page {
    let (record, form, content) = match posted_edit(&ui, &staff, &id, &pairs).await? {
        Ok(edit) => edit,
        Err(answer) => return Ok(answer),
    };
    let people = ui
        .store
        .progress(record.id)
        .await?
        .map_or(0, |p| p.count(herald_domain::DeliveryStatus::Delivered));
    let rate = ui.settings.send_rate_per_second.max(1.0);
    html(&ChangeReviewPage {
        chrome: Chrome::new("Review the update", &staff, "home"),
        id: record.id.to_string(),
        title: record.content.title.as_str().to_owned(),
        changed: changed_fields(&record.content, &content),
        before: card_of(&record.content, &record.audience)?.to_string(),
        after: card_of(&content, &record.audience)?.to_string(),
        fields: card_fields(&form),
        people,
        duration: views::duration(people as f64 / rate),
    })
}

/// The fields that differ, as people read them.
fn changed_fields(before: &Content, after: &Content) -> Vec<FieldChange> {
    let text = |value: Option<&str>| value.unwrap_or_default().to_owned();
    let buttons = |content: &Content| {
        content
            .buttons
            .iter()
            .map(|b| format!("{} ({})", b.title, b.url.as_str()))
            .collect::<Vec<_>>()
            .join("; ")
    };
    let flag = |on: bool| if on { "yes" } else { "no" }.to_owned();
    let fields = [
        (
            "Title",
            before.title.as_str().to_owned(),
            after.title.as_str().to_owned(),
        ),
        (
            "Summary",
            text(before.summary.as_deref()),
            text(after.summary.as_deref()),
        ),
        (
            "Image",
            text(before.image_url.as_ref().map(|u| u.as_str())),
            text(after.image_url.as_ref().map(|u| u.as_str())),
        ),
        (
            "From",
            text(before.author.as_deref()),
            text(after.author.as_deref()),
        ),
        (
            "Activity feed text",
            text(before.feed_text.as_deref()),
            text(after.feed_text.as_deref()),
        ),
        ("Buttons", buttons(before), buttons(after)),
        ("Critical", flag(before.critical), flag(after.critical)),
    ];
    fields
        .into_iter()
        .filter(|(_, old, new)| old != new)
        .map(|(label, before, after)| FieldChange {
            label,
            before,
            after,
        })
        .collect()
}

fn checked(pairs: &[(String, String)], name: &str) -> bool {
    pairs
        .iter()
        .any(|(key, value)| key == name && value == "on")
}

/// `POST /announcements/{id}/update`: every card that went out is
/// replaced; the status page follows it.
pub async fn update(
    Author(staff): Author,
    ui: web::Data<Ui>,
    id: web::Path<String>,
    pairs: Form,
) -> Page {
    let (record, _, content) = match posted_edit(&ui, &staff, &id, &pairs).await? {
        Ok(edit) => edit,
        Err(answer) => return Ok(answer),
    };
    let change = NewChange {
        kind: ChangeKind::Edit,
        content: Some(&content),
        mark_edited: checked(&pairs, "mark_edited"),
        notify: checked(&pairs, "notify"),
        by: staff.display_name(),
    };
    start(&ui, &record, &change).await?;
    Ok(see_other(&format!(
        "{}?changed=edit",
        urls::announcement(record.id)
    )))
}

/// `POST /announcements/{id}/recall` with `how` = `delete` or `notice`.
pub async fn recall(
    Author(staff): Author,
    ui: web::Data<Ui>,
    id: web::Path<String>,
    pairs: Form,
) -> Page {
    let how = pairs
        .iter()
        .find(|(key, _)| key == "how")
        .map_or("delete", |(_, value)| value.as_str());
    let kind = recall_kind(how)?;
    let record = match changeable(&ui, &staff, &id).await? {
        Ok(record) => record,
        Err(redirect) => return Ok(redirect),
    };
    let change = NewChange {
        kind,
        content: None,
        mark_edited: false,
        notify: false,
        by: staff.display_name(),
    };
    start(&ui, &record, &change).await?;
    Ok(see_other(&format!(
        "{}?changed=recall",
        urls::announcement(record.id)
    )))
}

/// `delete` (the card disappears) or `notice` (it says it was withdrawn).
pub(super) fn recall_kind(how: &str) -> Result<ChangeKind, UiError> {
    match how {
        "delete" => Ok(ChangeKind::Recall),
        "notice" => Ok(ChangeKind::Withdraw),
        other => Err(UiError::BadForm(format!(
            "{other:?} is not a way to recall: pick delete or notice"
        ))),
    }
}

/// Starts an edit or a recall: the UI's and the API's one way to.
pub(super) async fn start(
    ui: &Ui,
    record: &NotificationRecord,
    change: &NewChange<'_>,
) -> Result<(), UiError> {
    herald_prepare::change(&ui.store, &ui.broker, record.id, change).await?;
    ui.live.changed(record.id);
    tracing::info!(notification = %record.id, kind = ?change.kind, by = change.by, "change started");
    Ok(())
}
