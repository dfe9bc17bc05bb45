//! The compose form: what was typed, checked field by field so each error
//! shows beside its field with the typed text kept, and the live preview,
//! which is the very card the send-worker posts.

use std::collections::BTreeMap;

use actix_web::{HttpResponse, web};
use herald_domain::audience::Target;
use herald_domain::{
    Acknowledgement, Audience, Button, Content, ImageUrl, NotificationId, Title, UserRef,
    build_activity,
};
use herald_store::NotificationRecord;

use super::error::UiError;
use super::session::Author;

/// Buttons the form offers.
pub const BUTTONS: usize = 3;

/// A picked target as the form carries it.
#[derive(Debug, Clone, Default)]
pub struct Pick {
    pub spec: String,
    pub label: String,
}

/// The compose form's fields as typed.
#[derive(Debug, Clone, Default)]
pub struct DraftForm {
    pub title: String,
    pub summary: String,
    pub image_url: String,
    pub author: String,
    pub buttons: [(String, String); BUTTONS],
    pub feed_text: String,
    pub critical: bool,
    pub acknowledgement: bool,
    pub picks: Vec<Pick>,
    /// A list of people: its file name and its rows.
    pub csv_name: String,
    pub csv: String,
}

/// Errors by field name, as the template shows them.
#[derive(Debug, Clone, Default)]
pub struct FieldErrors(pub BTreeMap<String, String>);

impl FieldErrors {
    pub fn get(&self, field: &str) -> &str {
        self.0.get(field).map_or("", String::as_str)
    }

    pub fn has(&self, field: &str) -> bool {
        self.0.contains_key(field)
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn add(&mut self, field: &str, message: impl ToString) {
        self.0
            .entry(field.to_owned())
            .or_insert_with(|| message.to_string());
    }

    /// `aria-invalid` for a field.
    pub fn invalid(&self, field: &str) -> &'static str {
        if self.has(field) { "true" } else { "false" }
    }

    /// Every error in the order of the form, each with the field's label
    /// and the id of the element a link to it should reach.
    pub fn problems(&self) -> Vec<Problem<'_>> {
        let known = FIELDS.iter().filter_map(|&(field, label, anchor)| {
            self.0.get(field).map(|message| Problem {
                label: label.to_owned(),
                anchor: anchor.to_owned(),
                message,
            })
        });
        let others = self
            .0
            .iter()
            .filter(|(field, _)| !FIELDS.iter().any(|(known, _, _)| known == field))
            .map(|(field, message)| Problem {
                label: field.replace('_', " "),
                anchor: field.clone(),
                message,
            });
        known.chain(others).collect()
    }
}

/// One error of the form, for the list at the top of the page.
pub struct Problem<'a> {
    pub label: String,
    /// The id of the field (the picker's search box for the audience).
    pub anchor: String,
    pub message: &'a str,
}

/// The form's fields in the order the page shows them: the name errors
/// are kept under, the label, and the id of the element to focus.
const FIELDS: &[(&str, &str, &str)] = &[
    ("title", "Title", "title"),
    ("summary", "Summary", "summary"),
    ("image_url", "Image URL", "image_url"),
    ("author", "From (author line)", "author"),
    ("feed_text", "Activity feed text", "feed_text"),
    ("button1_title", "Button 1 text", "button1_title"),
    ("button1_url", "Button 1 link", "button1_url"),
    ("button2_title", "Button 2 text", "button2_title"),
    ("button2_url", "Button 2 link", "button2_url"),
    ("button3_title", "Button 3 text", "button3_title"),
    ("button3_url", "Button 3 link", "button3_url"),
    ("audience", "Audience", "audience-search"),
    ("csv", "List of people", "csv"),
    ("test", "Test", "compose-actions"),
];

fn optional(text: &str) -> Option<String> {
    let text = text.trim();
    (!text.is_empty()).then(|| text.to_owned())
}

impl DraftForm {
    /// Reads the posted fields; repeated `target` and `target_label`
    /// fields are the picked targets, in order.
    pub fn from_pairs(pairs: &[(String, String)]) -> Self {
        let mut form = Self::default();
        let mut labels = Vec::new();
        for (name, value) in pairs {
            let value = value.clone();
            match name.as_str() {
                "title" => form.title = value,
                "summary" => form.summary = value,
                "image_url" => form.image_url = value,
                "author" => form.author = value,
                "feed_text" => form.feed_text = value,
                "critical" => form.critical = true,
                "acknowledgement" => form.acknowledgement = true,
                "target" => form.picks.push(Pick {
                    spec: value,
                    label: String::new(),
                }),
                "target_label" => labels.push(value),
                "csv_name" => form.csv_name = value,
                "csv" => form.csv = value,
                other => form.button_field(other, value),
            }
        }
        for (pick, label) in form.picks.iter_mut().zip(labels) {
            pick.label = label;
        }
        form
    }

    /// `button1_title`, `button2_url`...
    fn button_field(&mut self, name: &str, value: String) {
        let Some(rest) = name.strip_prefix("button") else {
            return;
        };
        let Some((index, part)) = rest.split_once('_') else {
            return;
        };
        let Some(slot) = index
            .parse::<usize>()
            .ok()
            .and_then(|i| i.checked_sub(1))
            .and_then(|i| self.buttons.get_mut(i))
        else {
            return;
        };
        match part {
            "title" => slot.0 = value,
            "url" => slot.1 = value,
            _ => {}
        }
    }

    pub fn from_record(record: &NotificationRecord) -> Self {
        let content = &record.content;
        let mut form = Self {
            title: content.title.as_str().to_owned(),
            summary: content.summary.clone().unwrap_or_default(),
            image_url: content
                .image_url
                .as_ref()
                .map(|u| u.as_str().to_owned())
                .unwrap_or_default(),
            author: content.author.clone().unwrap_or_default(),
            feed_text: content.feed_text.clone().unwrap_or_default(),
            critical: content.critical,
            acknowledgement: content.acknowledgement_required,
            ..Self::default()
        };
        for (slot, button) in form.buttons.iter_mut().zip(&content.buttons) {
            *slot = (button.title.clone(), button.url.as_str().to_owned());
        }
        let labels = record.audience.describe();
        for (target, label) in record.audience.targets.iter().zip(labels) {
            match target {
                Target::Users { source, users } => {
                    form.csv_name = source.clone();
                    form.csv = users
                        .iter()
                        .map(ToString::to_string)
                        .collect::<Vec<_>>()
                        .join("\n");
                }
                other => form.picks.push(Pick {
                    spec: other.spec().unwrap_or_default(),
                    label,
                }),
            }
        }
        form
    }

    /// The content, or an error beside each field that is wrong.
    /// `public_url`: where Herald is reached, which its uploaded images'
    /// URLs start with.
    pub fn content(&self, public_url: &str) -> Result<Content, FieldErrors> {
        let mut errors = FieldErrors::default();
        let title = Title::parse(&self.title).map_err(|e| errors.add("title", said(&e)));
        let image_url = optional(&self.image_url)
            .map(|url| ImageUrl::parse(&url, public_url))
            .transpose()
            .map_err(|e| errors.add("image_url", e));
        let mut buttons = Vec::new();
        for (index, (title, url)) in self.buttons.iter().enumerate() {
            let number = index + 1;
            if title.trim().is_empty() && url.trim().is_empty() {
                continue;
            }
            match Button::parse(number, title, url) {
                Ok(button) => buttons.push(button),
                Err(error @ herald_domain::ContentError::EmptyButtonTitle { .. }) => {
                    errors.add(&format!("button{number}_title"), error)
                }
                Err(error) => errors.add(&format!("button{number}_url"), error),
            }
        }
        let (Ok(title), Ok(image_url)) = (title, image_url) else {
            return Err(errors);
        };
        if !errors.is_empty() {
            return Err(errors);
        }
        let content = Content {
            title,
            summary: optional(&self.summary),
            image_url,
            author: optional(&self.author),
            buttons,
            feed_text: optional(&self.feed_text),
            critical: self.critical,
            acknowledgement_required: self.acknowledgement,
        };
        if let Err(error) = content.validate() {
            errors.add(field_of(&error), said(&error));
            return Err(errors);
        }
        Ok(content)
    }

    /// The audience as picked (maybe still empty); the people of a list
    /// are checked against the directory by the caller.
    pub fn audience(&self) -> Result<Audience, FieldErrors> {
        let mut errors = FieldErrors::default();
        let mut targets = Vec::new();
        let mut labels = Vec::new();
        for pick in &self.picks {
            match Target::parse(&pick.spec) {
                Ok(Target::Users { .. }) | Err(_) => errors.add(
                    "audience",
                    format!(
                        "{:?} is not a target Herald knows; remove it and pick again",
                        pick.spec
                    ),
                ),
                Ok(target) if targets.contains(&target) => {}
                Ok(target) => {
                    targets.push(target);
                    labels.push(pick.label.trim().to_owned());
                }
            }
        }
        if !self.csv.trim().is_empty() {
            let name = optional(&self.csv_name).unwrap_or_else(|| "the pasted list".to_owned());
            match Target::users_from_csv(&name, &self.csv) {
                Ok(target @ Target::Users { .. }) => {
                    let count = match &target {
                        Target::Users { users, .. } => users.len(),
                        _ => 0,
                    };
                    labels.push(format!("{name} ({})", people_count(count)));
                    targets.push(target);
                }
                Ok(_) => {}
                Err(error) => errors.add("csv", error),
            }
        }
        if errors.is_empty() {
            Ok(Audience::draft(targets, labels))
        } else {
            Err(errors)
        }
    }

    /// The people of the list, if any.
    pub fn listed_people(audience: &Audience) -> Vec<UserRef> {
        audience
            .targets
            .iter()
            .filter_map(|t| match t {
                Target::Users { users, .. } => Some(users.clone()),
                _ => None,
            })
            .flatten()
            .collect()
    }

    /// The button rows of the form, numbered from 1.
    pub fn button_rows(&self) -> Vec<ButtonRow<'_>> {
        self.buttons
            .iter()
            .enumerate()
            .map(|(index, (title, url))| ButtonRow {
                number: index + 1,
                title,
                url,
            })
            .collect()
    }
}

pub struct ButtonRow<'a> {
    pub number: usize,
    pub title: &'a str,
    pub url: &'a str,
}

impl ButtonRow<'_> {
    pub fn title_field(&self) -> String {
        format!("button{}_title", self.number)
    }

    pub fn url_field(&self) -> String {
        format!("button{}_url", self.number)
    }
}

/// "1 person", "2,998 people".
pub fn people_count(count: usize) -> String {
    if count == 1 {
        "1 person".to_owned()
    } else {
        format!("{} people", super::views::number(count))
    }
}

/// A content error as the reader writes numbers: "29,999 characters long".
fn said(error: &herald_domain::ContentError) -> String {
    match error {
        herald_domain::ContentError::TooLong { field, length, max } => format!(
            "the {field} is {} characters long; at most {} are allowed",
            super::views::number(*length),
            super::views::number(*max)
        ),
        other => other.to_string(),
    }
}

/// The form field a content error belongs to.
fn field_of(error: &herald_domain::ContentError) -> &'static str {
    use herald_domain::ContentError::*;
    match error {
        EmptyTitle => "title",
        TooLong { field, .. } => match *field {
            "summary" => "summary",
            "author" => "author",
            "feed text" => "feed_text",
            _ => "title",
        },
        UnsafeLink { field, .. } => match *field {
            "summary" => "summary",
            "author" => "author",
            _ => "title",
        },
        BadUrl { .. } => "image_url",
        EmptyButtonTitle { .. } | TooManyButtons { .. } => "button1_title",
    }
}

/// The card as the send-worker will post it, for the preview. The reason
/// line and the Acknowledge button are as the real send will have them.
pub fn card_of(content: &Content, audience: &Audience) -> Result<serde_json::Value, UiError> {
    let acknowledgement = if content.acknowledgement_required {
        Acknowledgement::Ask(NotificationId(uuid::Uuid::nil()))
    } else {
        Acknowledgement::NotAsked
    };
    let reason = if audience.targets.is_empty() {
        "you are in its audience".to_owned()
    } else {
        audience.reason()
    };
    let activity = build_activity(content, &reason, &acknowledgement)
        .map_err(|e| UiError::BadForm(e.to_string()))?;
    let activity: serde_json::Value =
        serde_json::from_str(&activity).map_err(|e| UiError::BadForm(e.to_string()))?;
    Ok(activity["attachments"][0]["content"].clone())
}

/// `POST /ui/preview`: the card for what the form holds now, or the
/// errors that keep it from being a card.
pub async fn preview(
    _author: Author,
    ui: web::Data<super::Ui>,
    form: web::Form<Vec<(String, String)>>,
) -> Result<HttpResponse, UiError> {
    let form = DraftForm::from_pairs(&form);
    let audience = form
        .audience()
        .unwrap_or_else(|_| Audience::draft(Vec::new(), Vec::new()));
    Ok(match form.content(&ui.settings.public_url) {
        Ok(content) => {
            HttpResponse::Ok().json(serde_json::json!({"card": card_of(&content, &audience)?}))
        }
        Err(errors) => HttpResponse::Ok().json(serde_json::json!({"errors": errors.0})),
    })
}
