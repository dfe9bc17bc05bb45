//! "Announcements for you": every signed-in person's own page, staff or
//! not (for people with no role it is Herald's start page). It lists the
//! announcements Herald delivered to them, each drawn as its card is now,
//! lets them acknowledge one, and holds their one setting: every
//! announcement, or only critical ones (what replying `stop` or `start`
//! to the bot sets). Only the person's own deliveries are ever read or
//! acknowledged, keyed on their Entra object id.

use std::future::{Ready, ready};

use actix_web::dev::Payload;
use actix_web::guard::GuardContext;
use actix_web::{FromRequest, HttpMessage, HttpRequest, web};
use askama::Template;
use herald_domain::{Acknowledgement, build_edited_activity, card_time};
use herald_store::DeliveredToYou;
use serde::Deserialize;

use super::error::UiError;
use super::session::Staff;
use super::shared::{Page, html, parse_id, see_other};
use super::views::{Chrome, iso, when};
use super::{Ui, urls};

/// The most announcements the page lists: the newest, and a search finds
/// older ones.
const SHOWN: usize = 50;

/// Search words taken from `q`, and the longest a word may be.
const MAX_WORDS: usize = 8;
const MAX_WORD_CHARS: usize = 100;

/// A signed-in person, whatever their role. A program is never one: it
/// has no deliveries and no page (the guard lets programs reach `/api/v1`
/// only, so this is a second lock).
pub struct Person(pub Staff);

impl FromRequest for Person {
    type Error = UiError;
    type Future = Ready<Result<Self, UiError>>;

    fn from_request(request: &HttpRequest, _: &mut Payload) -> Self::Future {
        let staff = request.extensions().get::<Staff>().cloned();
        ready(match staff {
            Some(staff) if staff.program.is_none() => Ok(Person(staff)),
            _ => Err(UiError::SignedOut),
        })
    }
}

/// Whether a signed-in person with no role is asking. A route guard, so
/// that their start page is their own while the staff's list (and every
/// other staff page) keeps refusing them through its extractor.
pub fn without_role(context: &GuardContext<'_>) -> bool {
    context
        .req_data()
        .get::<Staff>()
        .is_some_and(|staff| staff.role.is_none() && staff.program.is_none())
}

/// `GET /` for someone with no role: their own page.
pub async fn start_page(Person(_): Person) -> actix_web::HttpResponse {
    see_other(urls::FOR_YOU)
}

#[derive(Debug, Default, Deserialize)]
pub struct ForYouQuery {
    #[serde(default)]
    q: Option<String>,
    /// What was just done: a fixed word, see [`acknowledged_notice`] and
    /// [`setting_notice`].
    #[serde(default)]
    done: Option<String>,
    /// The announcement it was done to, whose item says so.
    #[serde(default)]
    id: Option<String>,
}

/// Said in the item just acknowledged. Fixed words only: nothing typed
/// into a URL is shown back.
fn acknowledged_notice(done: Option<&str>) -> Option<&'static str> {
    match done? {
        "acknowledged" => Some("Thank you: your acknowledgement was recorded."),
        "already" => Some("You had already acknowledged it, so nothing changed."),
        _ => None,
    }
}

/// Said beside the setting just saved.
fn setting_notice(done: Option<&str>) -> Option<&'static str> {
    match done? {
        "all" => Some("Saved: Herald sends you every announcement."),
        "critical" => Some(
            "Saved: Herald sends you only critical announcements from now on. Choose every announcement here, or reply start to Herald in Teams, to get them all again.",
        ),
        _ => None,
    }
}

/// The words searched for: at most a few, each of sensible length.
fn words(q: &str) -> Vec<String> {
    q.split_whitespace()
        .take(MAX_WORDS)
        .map(|word| word.chars().take(MAX_WORD_CHARS).collect())
        .collect()
}

/// One announcement as the page shows it.
pub struct Item {
    pub id: String,
    pub title: String,
    /// The card's JSON, drawn by `compose.js`.
    pub card: String,
    /// The summary as plain text, shown until the card is drawn.
    pub summary: String,
    pub critical: bool,
    /// (ISO instant, the viewer's words) of the delivery and the last edit.
    pub delivered: Option<(String, String)>,
    pub edited: Option<(String, String)>,
    /// Whether it asks for an acknowledgement, and when they gave it.
    pub asks: bool,
    pub acknowledged: Option<(String, String)>,
    /// What was just done to it.
    pub notice: Option<&'static str>,
}

impl Item {
    fn new(delivered: &DeliveredToYou) -> Self {
        let record = &delivered.notification;
        let stamp = |at: time::OffsetDateTime| (iso(at), when(at));
        Self {
            id: record.id.to_string(),
            title: record.content.title.as_str().to_owned(),
            card: card(delivered),
            summary: record.content.summary.clone().unwrap_or_default(),
            critical: record.content.critical,
            delivered: delivered.delivered_at.map(stamp),
            edited: delivered.edited.map(|edit| stamp(edit.at)),
            asks: record.content.acknowledgement_required,
            acknowledged: delivered.acknowledged_at.map(stamp),
            notice: None,
        }
    }
}

/// The card as the person's chat shows it now (the send-worker's card,
/// "Edited" and all), without its Acknowledge button: the page has a
/// button of its own that works without Teams. Empty if it cannot be
/// built (it was, to be sent): the page shows the summary instead.
fn card(delivered: &DeliveredToYou) -> String {
    let record = &delivered.notification;
    let edited = delivered
        .edited
        .filter(|edit| edit.marked)
        .map(|edit| card_time(edit.at));
    let built = build_edited_activity(
        &record.content,
        &record.audience.reason(),
        &Acknowledgement::NotAsked,
        edited.as_deref(),
    );
    match built.map(|activity| serde_json::from_str::<serde_json::Value>(&activity)) {
        Ok(Ok(activity)) => activity["attachments"][0]["content"].to_string(),
        Ok(Err(error)) => {
            tracing::warn!(notification = %record.id, %error, "cannot read the card back");
            String::new()
        }
        Err(error) => {
            tracing::warn!(notification = %record.id, %error, "cannot build the card");
            String::new()
        }
    }
}

#[derive(Template)]
#[template(path = "for_you.html")]
pub struct ForYouPage {
    pub chrome: Chrome,
    pub items: Vec<Item>,
    /// More matched than are shown.
    pub more: bool,
    /// The search as typed, shown back in its field.
    pub q: String,
    /// Said beside the setting, once saved.
    pub notice: Option<&'static str>,
    /// Their setting: `Some(true)` for critical announcements only;
    /// `None` when Herald has nowhere to keep it yet.
    pub critical_only: Option<bool>,
}

impl ForYouPage {
    pub fn shown(&self) -> usize {
        SHOWN
    }
}

/// The announcements as the page shows them, the one just acknowledged
/// saying so.
fn items(found: &[DeliveredToYou], query: &ForYouQuery) -> Vec<Item> {
    let mut items: Vec<Item> = found.iter().map(Item::new).collect();
    if let Some(text) = acknowledged_notice(query.done.as_deref()) {
        let done_to = query.id.as_deref().unwrap_or_default();
        for item in items.iter_mut().filter(|item| item.id == done_to) {
            item.notice = Some(text);
        }
    }
    items
}

/// `GET /for-you`: the person's announcements, newest first.
pub async fn page(
    Person(staff): Person,
    ui: web::Data<Ui>,
    query: web::Query<ForYouQuery>,
) -> Page {
    let q = query.q.as_deref().unwrap_or_default().trim().to_owned();
    let mut found = ui
        .store
        .delivered_to(staff.id, &words(&q), SHOWN as i64 + 1)
        .await?;
    let more = found.len() > SHOWN;
    found.truncate(SHOWN);
    let setting = ui.store.recipient_setting(staff.id).await?;
    html(&ForYouPage {
        chrome: Chrome::new("Announcements for you", &staff, "for-you"),
        items: items(&found, &query),
        more,
        q,
        notice: setting_notice(query.done.as_deref()),
        critical_only: setting.map(|s| s.opted_out),
    })
}

/// `POST /for-you/{id}/acknowledge`: recorded as the bot records a press
/// of the card's button, from the person's own chat. Anything not
/// delivered to them, or taken back, is missing.
pub async fn acknowledge(Person(staff): Person, ui: web::Data<Ui>, id: web::Path<String>) -> Page {
    let delivered = ui
        .store
        .delivered_one(staff.id, parse_id(&id)?)
        .await?
        .ok_or(UiError::NotFound)?;
    let record = &delivered.notification;
    // A reminder's button counts for the announcement it reminds of.
    let Acknowledgement::Ask(target) = record.acknowledgement() else {
        return Err(UiError::Conflict(
            "this announcement does not ask for an acknowledgement, so there is nothing to acknowledge"
                .to_owned(),
        ));
    };
    if delivered.acknowledged_at.is_some() {
        return Ok(see_other(&urls::for_you_done("already", record.id)));
    }
    let chat = ui
        .store
        .recipient_setting(staff.id)
        .await?
        .and_then(|s| s.conversation_id)
        .unwrap_or_default();
    ui.store.acknowledge(target, staff.id, &chat).await?;
    tracing::info!(notification = %target, person = %staff.id, "acknowledged on their page");
    Ok(see_other(&urls::for_you_done("acknowledged", record.id)))
}

#[derive(Debug, Deserialize)]
pub struct SettingForm {
    /// `all` or `critical`.
    #[serde(default)]
    receive: String,
}

/// `POST /for-you/settings`: every announcement, or critical ones only.
pub async fn save_setting(
    Person(staff): Person,
    ui: web::Data<Ui>,
    form: web::Form<SettingForm>,
) -> Page {
    let critical_only = match form.receive.as_str() {
        "all" => false,
        "critical" => true,
        other => {
            return Err(UiError::BadForm(format!(
                "{other:?} is not a choice here: pick every announcement or only critical ones, then save"
            )));
        }
    };
    if !ui.store.set_opted_out(staff.id, critical_only).await? {
        return Err(UiError::Conflict(
            "Herald has not sent you any announcement yet, so it has nowhere to keep this setting: \
             choose it here once your first announcement reaches you, or reply stop to Herald in Teams"
                .to_owned(),
        ));
    }
    tracing::info!(person = %staff.id, critical_only, "setting saved on their page");
    let done = if critical_only { "critical" } else { "all" };
    Ok(see_other(&urls::for_you_settings_done(done)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn searches_take_a_few_words_of_sensible_length() {
        assert_eq!(words("  Fire   DRILL "), vec!["Fire", "DRILL"]);
        assert!(words("").is_empty());
        let long = "x".repeat(500);
        assert_eq!(words(&long)[0].chars().count(), MAX_WORD_CHARS);
        assert_eq!(words(&"a ".repeat(20)).len(), MAX_WORDS);
    }

    #[test]
    fn notices_are_fixed_words_only() {
        assert!(acknowledged_notice(Some("acknowledged")).is_some());
        assert!(setting_notice(Some("critical")).is_some());
        assert_eq!(acknowledged_notice(Some("critical")), None);
        assert_eq!(setting_notice(Some("<script>")), None);
        assert_eq!(setting_notice(None), None);
    }
}
