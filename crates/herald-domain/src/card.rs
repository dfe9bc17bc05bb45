//! The activity a recipient receives: an Adaptive Card 1.5 with the title,
//! image, summary, author line, buttons, and a footer saying why they get
//! it and how to opt out (teams-platform.md §6). Built once per
//! notification, never per recipient.

use serde_json::{Value, json};

use crate::content::Content;
use crate::ids::NotificationId;

/// teams-platform.md §6: about 100 KB of UTF-16; Herald stays under 80 KB.
pub const MAX_ACTIVITY_UNITS: usize = 80 * 1024;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CardError {
    #[error(
        "the message would be {units} UTF-16 units long, over Teams' safe limit of {max}: shorten the summary or the buttons"
    )]
    TooLarge { units: usize, max: usize },
}

/// Whether and how the card asks for an acknowledgement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Acknowledgement {
    /// No button (the announcement does not ask for one).
    NotAsked,
    /// An Acknowledge button whose press names this notification.
    Ask(NotificationId),
    /// The recipient acknowledged, at this time (shown instead of the button).
    Done(String),
}

/// A time as cards write it. A card is built once for everyone, so it
/// cannot speak each reader's zone: it says UTC.
pub fn card_time(at: time::OffsetDateTime) -> String {
    at.to_offset(time::UtcOffset::UTC)
        .format(time::macros::format_description!(
            "[day] [month repr:short] [year] [hour]:[minute] UTC"
        ))
        .unwrap_or_default()
}

/// The verb of the Acknowledge button (`Action.Execute`).
pub const ACKNOWLEDGE_VERB: &str = "acknowledge";

/// The whole `message` activity, serialised once per notification.
pub fn build_activity(
    content: &Content,
    reason: &str,
    acknowledgement: &Acknowledgement,
) -> Result<String, CardError> {
    build_edited_activity(content, reason, acknowledgement, None)
}

/// The activity of an edited announcement: the same card, with "Edited
/// {when}" under the title when `edited` is given.
pub fn build_edited_activity(
    content: &Content,
    reason: &str,
    acknowledgement: &Acknowledgement,
    edited: Option<&str>,
) -> Result<String, CardError> {
    let mut card = card(content, reason, acknowledgement);
    if let Some(when) = edited
        && let Some(body) = card["body"].as_array_mut()
    {
        let title = body
            .iter()
            .position(|b| b["style"] == "heading")
            .unwrap_or(0);
        body.insert(
            title + 1,
            json!({"type": "TextBlock", "text": format!("Edited {when}"), "isSubtle": true, "size": "Small", "wrap": true}),
        );
    }
    checked(message(content.feed_line().to_owned(), card))
}

/// What replaces a withdrawn announcement's card: its title and who took
/// it back when, nothing of what it said.
pub fn build_withdrawn_activity(title: &str, by: &str, when: &str) -> Result<String, CardError> {
    let text = format!(
        "This announcement was withdrawn by {} on {when}.",
        safe_markdown(by)
    );
    let card = json!({
        "type": "AdaptiveCard",
        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
        "version": "1.5",
        "body": [
            {"type": "TextBlock", "text": safe_markdown(title), "style": "heading", "size": "Large", "weight": "Bolder", "wrap": true, "isSubtle": true},
            {"type": "TextBlock", "text": text, "wrap": true},
        ],
        "msteams": {"width": "Full"},
    });
    checked(message(format!("Withdrawn: {title}"), card))
}

fn message(summary: String, card: Value) -> Value {
    json!({
        "type": "message",
        "summary": summary,
        "channelData": {"notification": {"alert": true}},
        "attachments": [{
            "contentType": "application/vnd.microsoft.card.adaptive",
            "content": card,
        }],
    })
}

fn checked(activity: Value) -> Result<String, CardError> {
    let text = activity.to_string();
    let units = text.encode_utf16().count();
    if units > MAX_ACTIVITY_UNITS {
        return Err(CardError::TooLarge {
            units,
            max: MAX_ACTIVITY_UNITS,
        });
    }
    Ok(text)
}

fn card(content: &Content, reason: &str, acknowledgement: &Acknowledgement) -> Value {
    let mut body = Vec::new();
    if content.critical {
        body.push(json!({
            "type": "TextBlock", "text": "Important", "color": "Attention",
            "weight": "Bolder", "size": "Small", "wrap": true,
        }));
    }
    body.push(json!({
        "type": "TextBlock", "text": safe_markdown(content.title.as_str()), "style": "heading",
        "size": "Large", "weight": "Bolder", "wrap": true,
    }));
    if let Some(image) = &content.image_url {
        body.push(json!({"type": "Image", "url": image.as_str(), "altText": content.title.as_str(), "size": "Stretch"}));
    }
    if let Some(summary) = &content.summary {
        body.push(json!({"type": "TextBlock", "text": safe_markdown(summary), "wrap": true}));
    }
    if let Some(author) = &content.author {
        body.push(json!({"type": "TextBlock", "text": format!("From {}", safe_markdown(author)), "isSubtle": true, "size": "Small", "wrap": true}));
    }
    body.push(json!({
        "type": "TextBlock", "separator": true, "isSubtle": true, "size": "Small", "wrap": true,
        "text": footer(content, reason),
    }));
    let mut actions: Vec<Value> = content
        .buttons
        .iter()
        .map(|b| json!({"type": "Action.OpenUrl", "title": b.title, "url": b.url.as_str()}))
        .collect();
    match acknowledgement {
        Acknowledgement::NotAsked => {}
        Acknowledgement::Ask(notification) => actions.insert(
            0,
            json!({
                "type": "Action.Execute", "title": "Acknowledge", "verb": ACKNOWLEDGE_VERB,
                "data": {"notificationId": notification.to_string()}, "style": "positive",
            }),
        ),
        Acknowledgement::Done(when) => body.push(json!({
            "type": "TextBlock", "text": format!("✅ You acknowledged this on {when}."),
            "color": "Good", "weight": "Bolder", "wrap": true,
        })),
    }
    json!({
        "type": "AdaptiveCard",
        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
        "version": "1.5",
        "body": body,
        "actions": actions,
        "msteams": {"width": "Full"},
    })
}

/// Teams renders Markdown links in every TextBlock. A link must go to an
/// https or mailto address: `[Pay rise](javascript:...)` or a link to a
/// look-alike http site keeps its words and loses its target. Teams shows
/// no HTML, so `<script>` stays visible text and needs nothing here.
pub fn safe_markdown(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(open) = rest.find('[') {
        let Some((label, target, after)) = markdown_link(&rest[open..]) else {
            out.push_str(&rest[..=open]);
            rest = &rest[open + 1..];
            continue;
        };
        out.push_str(&rest[..open]);
        if opens_in_teams(target) {
            out.push_str(&rest[open..open + (rest.len() - open - after.len())]);
        } else {
            out.push_str(label);
        }
        rest = after;
    }
    out.push_str(rest);
    out
}

/// The targets of the Markdown links in `text` that `safe_markdown` would
/// drop, as written.
pub fn unsafe_links(text: &str) -> Vec<String> {
    let mut found = Vec::new();
    let mut rest = text;
    while let Some(open) = rest.find('[') {
        match markdown_link(&rest[open..]) {
            Some((_, target, after)) => {
                if !opens_in_teams(target) {
                    found.push(target.trim().to_owned());
                }
                rest = after;
            }
            None => rest = &rest[open + 1..],
        }
    }
    found
}

fn opens_in_teams(target: &str) -> bool {
    let address = target.trim().trim_start_matches('<').to_ascii_lowercase();
    address.starts_with("https://") || address.starts_with("mailto:")
}

/// `[label](target)` at the start of `text`: the label, the target and what
/// follows the link.
fn markdown_link(text: &str) -> Option<(&str, &str, &str)> {
    let close = text.find("](")?;
    let label = &text[1..close];
    if label.contains('[') || label.contains('\n') {
        return None;
    }
    let target_start = close + 2;
    let mut depth = 0usize;
    for (offset, c) in text[target_start..].char_indices() {
        match c {
            '(' => depth += 1,
            ')' if depth == 0 => {
                let end = target_start + offset;
                return Some((label, &text[target_start..end], &text[end + 1..]));
            }
            ')' => depth -= 1,
            _ => {}
        }
    }
    None
}

fn footer(content: &Content, reason: &str) -> String {
    let opt_out = if content.critical {
        "This announcement is marked critical, so it reaches everyone, including people who opted out."
    } else {
        "Reply **stop** to stop receiving announcements that are not critical; reply **start** to get them again."
    };
    format!("You get this announcement because {reason}. {opt_out}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::content::{Button, HttpsUrl, Title};

    fn content() -> Content {
        let mut content = Content::new(Title::parse("All-hands moved").unwrap());
        content.summary = Some("Thursday 10:00.".into());
        content.author = Some("Internal Communications".into());
        content.image_url = Some(
            HttpsUrl::parse("image", "https://contoso.example/a.png")
                .unwrap()
                .into(),
        );
        content.buttons =
            vec![Button::parse(1, "Calendar", "https://contoso.example/cal").unwrap()];
        content
    }

    #[test]
    fn the_activity_carries_the_card_and_the_feed_text() {
        let activity: Value = serde_json::from_str(
            &build_activity(
                &content(),
                "you are on the list",
                &Acknowledgement::NotAsked,
            )
            .unwrap(),
        )
        .unwrap();
        assert_eq!(activity["type"], "message");
        assert_eq!(activity["summary"], "All-hands moved");
        let card = &activity["attachments"][0]["content"];
        assert_eq!(card["version"], "1.5");
        assert_eq!(card["body"][0]["text"], "All-hands moved");
        assert_eq!(card["body"][1]["type"], "Image");
        assert_eq!(card["body"][3]["text"], "From Internal Communications");
        let footer = card["body"][4]["text"].as_str().unwrap();
        assert!(
            footer.contains("because you are on the list") && footer.contains("stop"),
            "{footer}"
        );
        assert_eq!(card["actions"][0]["url"], "https://contoso.example/cal");
    }

    #[test]
    fn critical_cards_say_so_and_do_not_offer_an_opt_out() {
        let mut content = content();
        content.critical = true;
        let text = build_activity(&content, "r", &Acknowledgement::NotAsked).unwrap();
        assert!(text.contains("Important") && text.contains("marked critical"));
    }

    #[test]
    fn an_acknowledgement_is_asked_for_then_shown() {
        let id = NotificationId::new();
        let asked: Value = serde_json::from_str(
            &build_activity(&content(), "r", &Acknowledgement::Ask(id)).unwrap(),
        )
        .unwrap();
        let button = &asked["attachments"][0]["content"]["actions"][0];
        assert_eq!(button["type"], "Action.Execute");
        assert_eq!(button["verb"], ACKNOWLEDGE_VERB);
        assert_eq!(button["data"]["notificationId"], id.to_string());
        let done = build_activity(
            &content(),
            "r",
            &Acknowledgement::Done("27 Nov 2026 10:00 UTC".into()),
        )
        .unwrap();
        assert!(
            done.contains("You acknowledged this on 27 Nov 2026")
                && !done.contains("Action.Execute")
        );
    }

    #[test]
    fn links_go_only_to_https_or_mail() {
        assert_eq!(
            safe_markdown("See [the plan](https://contoso.example/p) now"),
            "See [the plan](https://contoso.example/p) now"
        );
        assert_eq!(
            safe_markdown("[Pay rise](javascript:alert(1)) and [x](http://evil.example)"),
            "Pay rise and x"
        );
        assert_eq!(
            safe_markdown("[Mail](mailto:hr@contoso.example)"),
            "[Mail](mailto:hr@contoso.example)"
        );
        assert_eq!(safe_markdown("a [b] (c) [d"), "a [b] (c) [d");
        assert_eq!(safe_markdown("[x](<JavaScript:alert(1)>)"), "x");
        let mut content = content();
        content.summary = Some("[click](javascript:alert(document.cookie))".into());
        let text = build_activity(&content, "r", &Acknowledgement::NotAsked).unwrap();
        assert!(!text.contains("javascript:"), "{text}");
    }

    #[test]
    fn oversized_cards_are_refused() {
        let mut content = content();
        content.summary = Some("x".repeat(Content::MAX_SUMMARY));
        content.buttons = (0..6)
            .map(|i| {
                Button::parse(
                    i,
                    "b",
                    &format!("https://contoso.example/{}", "y".repeat(12_000)),
                )
                .unwrap()
            })
            .collect();
        assert!(matches!(
            build_activity(&content, "r", &Acknowledgement::NotAsked),
            Err(CardError::TooLarge { .. })
        ));
    }
}
