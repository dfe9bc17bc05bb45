//! What an announcement says, checked once at the edge: a `Content` that
//! exists is valid.

use serde::{Deserialize, Serialize};

use crate::image::HostedImage;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ContentError {
    #[error("the title is empty: give the announcement a title")]
    EmptyTitle,
    #[error("the {field} is {length} characters long; at most {max} are allowed")]
    TooLong {
        field: &'static str,
        length: usize,
        max: usize,
    },
    #[error("{field} {url:?} is not a valid https URL: {reason}")]
    BadUrl {
        field: String,
        url: String,
        reason: String,
    },
    #[error("a button needs a title; button {index} has none")]
    EmptyButtonTitle { index: usize },
    #[error("at most {max} buttons are allowed, got {count}")]
    TooManyButtons { count: usize, max: usize },
    #[error(
        "the {field} links to {target:?}, which Teams would not open (the card would show the words without the link): links must start with https:// or mailto:"
    )]
    UnsafeLink { field: &'static str, target: String },
}

/// A non-empty title of at most 200 characters.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Title(String);

impl Title {
    pub const MAX: usize = 200;

    pub fn parse(text: &str) -> Result<Self, ContentError> {
        let text = text.trim();
        if text.is_empty() {
            return Err(ContentError::EmptyTitle);
        }
        check_length("title", text, Self::MAX)?;
        Ok(Self(text.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for Title {
    type Error = ContentError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(&value)
    }
}

impl From<Title> for String {
    fn from(title: Title) -> Self {
        title.0
    }
}

/// An absolute `https://` URL with a host: Teams renders nothing else.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct HttpsUrl(String);

impl HttpsUrl {
    pub fn parse(field: &str, text: &str) -> Result<Self, ContentError> {
        let bad = |reason: &str| ContentError::BadUrl {
            field: field.to_owned(),
            url: text.to_owned(),
            reason: reason.to_owned(),
        };
        let url = url::Url::parse(text.trim()).map_err(|e| bad(&e.to_string()))?;
        if url.scheme() != "https" {
            return Err(bad("Teams only opens https links; use https://"));
        }
        if url.host_str().is_none_or(str::is_empty) {
            return Err(bad("the URL has no host"));
        }
        Ok(Self(url.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for HttpsUrl {
    type Error = ContentError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse("url", &value)
    }
}

impl From<HttpsUrl> for String {
    fn from(url: HttpsUrl) -> Self {
        url.0
    }
}

/// The card's image: an https URL, or an image Herald hosts itself.
///
/// Herald serves uploads under `web.public_url`, which is http only where
/// Teams never fetches anything: on a developer's machine with the
/// emulator, and in tests. Refusing Herald's own upload there would make
/// the upload button produce a URL the same form then rejects, so an http
/// URL passes when it is Herald's own upload (`parse` checks that it is
/// under Herald's public URL; a stored one keeps only the hosted shape,
/// as the public URL is not known where it is read). Teams itself needs
/// https: the README says to set `web.public_url` to an https address.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct ImageUrl(String);

impl ImageUrl {
    const FIELD: &str = "the image URL";

    /// `public_url`: where people reach Herald, without a trailing slash.
    pub fn parse(text: &str, public_url: &str) -> Result<Self, ContentError> {
        let text = text.trim();
        let own = text
            .strip_prefix(public_url)
            .and_then(HostedImage::from_path)
            .is_some();
        if own && text.starts_with("http://") {
            return Self::stored(text);
        }
        HttpsUrl::parse(Self::FIELD, text).map(Self::from)
    }

    /// A URL as stored: https, or the shape of Herald's own images.
    fn stored(text: &str) -> Result<Self, ContentError> {
        let hosted = url::Url::parse(text).ok().filter(|url| {
            url.scheme() == "http"
                && url.host_str().is_some_and(|host| !host.is_empty())
                && HostedImage::from_path(url.path()).is_some()
                && url.query().is_none()
        });
        match hosted {
            Some(url) => Ok(Self(url.to_string())),
            None => HttpsUrl::parse(Self::FIELD, text).map(Self::from),
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl From<HttpsUrl> for ImageUrl {
    fn from(url: HttpsUrl) -> Self {
        Self(url.0)
    }
}

impl TryFrom<String> for ImageUrl {
    type Error = ContentError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::stored(&value)
    }
}

impl From<ImageUrl> for String {
    fn from(url: ImageUrl) -> Self {
        url.0
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Button {
    pub title: String,
    pub url: HttpsUrl,
}

impl Button {
    pub const MAX_TITLE: usize = 50;

    pub fn parse(index: usize, title: &str, url: &str) -> Result<Self, ContentError> {
        let title = title.trim();
        if title.is_empty() {
            return Err(ContentError::EmptyButtonTitle { index });
        }
        check_length("button title", title, Self::MAX_TITLE)?;
        Ok(Self {
            title: title.to_owned(),
            url: HttpsUrl::parse(&format!("button {index} URL"), url)?,
        })
    }
}

/// A whole announcement.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Content {
    pub title: Title,
    pub summary: Option<String>,
    pub image_url: Option<ImageUrl>,
    pub author: Option<String>,
    pub buttons: Vec<Button>,
    /// What the activity feed and the notification toast show.
    pub feed_text: Option<String>,
    /// Critical announcements reach people who opted out.
    pub critical: bool,
    pub acknowledgement_required: bool,
}

impl Content {
    pub const MAX_SUMMARY: usize = 20_000;
    pub const MAX_AUTHOR: usize = 100;
    pub const MAX_FEED_TEXT: usize = 150;
    pub const MAX_BUTTONS: usize = 6;

    /// Checks the optional parts of an announcement with a valid title.
    pub fn new(title: Title) -> Self {
        Self {
            title,
            summary: None,
            image_url: None,
            author: None,
            buttons: Vec::new(),
            feed_text: None,
            critical: false,
            acknowledgement_required: false,
        }
    }

    pub fn validate(&self) -> Result<(), ContentError> {
        check_links("title", self.title.as_str())?;
        if let Some(summary) = &self.summary {
            check_length("summary", summary, Self::MAX_SUMMARY)?;
            check_links("summary", summary)?;
        }
        if let Some(author) = &self.author {
            check_length("author", author, Self::MAX_AUTHOR)?;
            check_links("author", author)?;
        }
        if let Some(feed) = &self.feed_text {
            check_length("feed text", feed, Self::MAX_FEED_TEXT)?;
        }
        if self.buttons.len() > Self::MAX_BUTTONS {
            return Err(ContentError::TooManyButtons {
                count: self.buttons.len(),
                max: Self::MAX_BUTTONS,
            });
        }
        Ok(())
    }

    /// The feed line: the feed text when given, else the title.
    pub fn feed_line(&self) -> &str {
        self.feed_text.as_deref().unwrap_or(self.title.as_str())
    }
}

fn check_length(field: &'static str, text: &str, max: usize) -> Result<(), ContentError> {
    let length = text.chars().count();
    if length > max {
        return Err(ContentError::TooLong { field, length, max });
    }
    Ok(())
}

/// The card builder drops a Markdown link that does not go to an https or
/// mailto address (`card::safe_markdown`), keeping only its words; the
/// author is told at once instead of finding a dead link in Teams.
fn check_links(field: &'static str, text: &str) -> Result<(), ContentError> {
    match crate::card::unsafe_links(text).into_iter().next() {
        Some(target) => Err(ContentError::UnsafeLink { field, target }),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn titles_are_trimmed_and_never_empty() {
        assert_eq!(Title::parse("  Hello ").unwrap().as_str(), "Hello");
        assert_eq!(Title::parse("   "), Err(ContentError::EmptyTitle));
        assert!(matches!(
            Title::parse(&"x".repeat(201)),
            Err(ContentError::TooLong { .. })
        ));
    }

    #[test]
    fn only_https_urls_with_a_host() {
        assert!(HttpsUrl::parse("image", "https://contoso.example/a.png").is_ok());
        let error = HttpsUrl::parse("image", "http://contoso.example/a.png").unwrap_err();
        assert!(error.to_string().contains("https"), "{error}");
        assert!(HttpsUrl::parse("image", "not a url").is_err());
    }

    #[test]
    fn buttons_need_a_title_and_an_https_url() {
        assert!(Button::parse(1, "Open", "https://contoso.example").is_ok());
        assert_eq!(
            Button::parse(2, " ", "https://contoso.example"),
            Err(ContentError::EmptyButtonTitle { index: 2 })
        );
        assert!(
            Button::parse(1, "Open", "http://contoso.example")
                .unwrap_err()
                .to_string()
                .contains("button 1 URL")
        );
    }

    #[test]
    fn limits_on_the_optional_parts() {
        let mut content = Content::new(Title::parse("T").unwrap());
        content.feed_text = Some("x".repeat(151));
        assert!(content.validate().is_err());
        content.feed_text = Some("short".into());
        assert_eq!(content.feed_line(), "short");
        content.buttons = vec![Button::parse(1, "a", "https://a.example").unwrap(); 7];
        assert!(matches!(
            content.validate(),
            Err(ContentError::TooManyButtons { .. })
        ));
    }

    #[test]
    fn markdown_links_must_go_to_https_or_mail() {
        let mut content = Content::new(Title::parse("T").unwrap());
        content.summary = Some(
            "See [the plan](https://contoso.example/p) or [HR](mailto:hr@contoso.example)".into(),
        );
        assert_eq!(content.validate(), Ok(()));
        content.summary = Some("See [the plan](http://contoso.example/p)".into());
        assert_eq!(
            content.validate(),
            Err(ContentError::UnsafeLink {
                field: "summary",
                target: "http://contoso.example/p".into()
            })
        );
        let error = content.validate().unwrap_err().to_string();
        assert!(error.contains("https://"), "{error}");
        content.summary = Some("[Pay rise](<JavaScript:alert(1)>)".into());
        assert!(matches!(
            content.validate(),
            Err(ContentError::UnsafeLink {
                field: "summary",
                ..
            })
        ));
        content.summary = None;
        content.author = Some("[HR](javascript:x)".into());
        assert!(matches!(
            content.validate(),
            Err(ContentError::UnsafeLink {
                field: "author",
                ..
            })
        ));
        content.author = None;
        content.title = Title::parse("[Read](ftp://contoso.example)").unwrap();
        assert!(matches!(
            content.validate(),
            Err(ContentError::UnsafeLink { field: "title", .. })
        ));
    }

    #[test]
    fn http_image_urls_pass_only_for_heralds_own_uploads() {
        let own = format!("http://127.0.0.1:8080/images/{}.png", "ab".repeat(32));
        let url = ImageUrl::parse(&own, "http://127.0.0.1:8080").unwrap();
        assert_eq!(url.as_str(), own);
        assert!(ImageUrl::parse(&own, "http://herald.contoso.example").is_err());
        let other = "http://127.0.0.1:8080/images/cat.png";
        let error = ImageUrl::parse(other, "http://127.0.0.1:8080").unwrap_err();
        assert!(error.to_string().contains("https"), "{error}");
        let secure = "https://contoso.example/a.png";
        assert_eq!(
            ImageUrl::parse(secure, "http://127.0.0.1:8080")
                .unwrap()
                .as_str(),
            secure
        );
        let stored: ImageUrl = serde_json::from_value(serde_json::json!(own)).unwrap();
        assert_eq!(stored.as_str(), own);
        assert!(serde_json::from_value::<ImageUrl>(serde_json::json!(other)).is_err());
    }

    #[test]
    fn deserialising_checks_too() {
        let json = r#"{"title":"","summary":null,"image_url":null,"author":null,"buttons":[],"feed_text":null,"critical":false,"acknowledgement_required":false}"#;
        assert!(serde_json::from_str::<Content>(json).is_err());
    }
}
