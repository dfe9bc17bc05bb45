//! How the person reading a page writes times and numbers: times in their
//! own time zone, named ("3 Dec 2026 09:40 CET"), and numbers with their
//! locale's separators ("2,998", "2.998", "2 998").
//!
//! The zone comes from the browser: `app.js` keeps the zone the browser
//! reports (`Intl`) in the `herald_tz` cookie, set on the sign-in page
//! before anything else is shown. The locale is Teams' inside the Teams
//! tab (`teams.js` keeps it in the `herald_locale` cookie), else the first
//! language of `Accept-Language`. Both are read once per request by `session::guard`,
//! which runs the handler inside [`Viewer::scope`]; `views::when` and
//! friends read them from there. Work outside a request (the live
//! poller, shared by every watcher) sees UTC and English, and the
//! scripts rewrite what they insert (see `data-at` in `chart.rs`).

use std::future::Future;
use std::sync::Arc;

use actix_web::dev::ServiceRequest;
use actix_web::http::header;
use jiff::tz::TimeZone;
use time::OffsetDateTime;

/// The cookie `app.js` keeps the browser's IANA time zone in.
pub const ZONE_COOKIE: &str = "herald_tz";
/// The cookie `teams.js` keeps Teams' locale in.
pub const LOCALE_COOKIE: &str = "herald_locale";
/// IANA names are short; anything longer is not one.
const MAX_ZONE_NAME: usize = 64;

/// The viewer's zone and the separators of their locale.
#[derive(Debug, Clone)]
pub struct Viewer(Arc<Inner>);

#[derive(Debug)]
struct Inner {
    zone: TimeZone,
    /// The IANA name, e.g. `Europe/Berlin`; `UTC` when none is known.
    zone_name: String,
    separators: Separators,
    /// The Teams clients the pages' teams-js trusts besides its own list,
    /// as the JSON array `app.initialize` takes.
    teams_hosts: String,
}

/// Digit grouping and decimal mark of a locale.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Separators {
    pub group: &'static str,
    pub decimal: char,
}

impl Separators {
    const ENGLISH: Self = Self {
        group: ",",
        decimal: '.',
    };
    const DOTS: Self = Self {
        group: ".",
        decimal: ',',
    };
    /// French writes a narrow no-break space; most others a no-break space.
    const FRENCH: Self = Self {
        group: "\u{202f}",
        decimal: ',',
    };
    const SPACES: Self = Self {
        group: "\u{a0}",
        decimal: ',',
    };
    const SWISS: Self = Self {
        group: "\u{2019}",
        decimal: '.',
    };

    /// The separators of a BCP 47 language tag, as CLDR has them for the
    /// languages an organisation's staff are likely to use; English's for
    /// the rest.
    pub fn of(tag: &str) -> Self {
        let tag = tag.to_ascii_lowercase();
        let (language, region) = tag
            .split_once(['-', '_'])
            .map_or((tag.as_str(), ""), |(l, r)| (l, r));
        match (language, region) {
            ("de" | "it", "ch") | ("rm", _) => Self::SWISS,
            ("pt", "pt") => Self::SPACES,
            ("fr", _) => Self::FRENCH,
            (
                "de" | "nl" | "da" | "id" | "it" | "es" | "pt" | "tr" | "el" | "ro" | "hr" | "sl"
                | "sr" | "ca" | "is" | "vi",
                _,
            ) => Self::DOTS,
            (
                "nb" | "no" | "nn" | "fi" | "sv" | "cs" | "sk" | "pl" | "ru" | "uk" | "hu" | "bg"
                | "lt" | "lv" | "et" | "be" | "kk",
                _,
            ) => Self::SPACES,
            _ => Self::ENGLISH,
        }
    }
}

tokio::task_local! {
    static VIEWER: Viewer;
}

impl Default for Viewer {
    fn default() -> Self {
        Self::new(None, "en")
    }
}

impl Viewer {
    /// A viewer in the named zone (UTC when it is missing or unknown)
    /// reading the given language tag.
    pub fn new(zone_name: Option<&str>, locale: &str) -> Self {
        let known = zone_name
            .map(str::trim)
            .filter(|name| !name.is_empty() && name.len() <= MAX_ZONE_NAME)
            .and_then(|name| TimeZone::get(name).ok().map(|zone| (zone, name.to_owned())));
        let (zone, zone_name) = known.unwrap_or_else(|| (TimeZone::UTC, "UTC".to_owned()));
        Self(Arc::new(Inner {
            zone,
            zone_name,
            separators: Separators::of(locale),
            teams_hosts: "[]".to_owned(),
        }))
    }

    fn with_teams_hosts(mut self, hosts: &[String]) -> Self {
        if let Some(inner) = Arc::get_mut(&mut self.0) {
            inner.teams_hosts = serde_json::to_string(hosts).unwrap_or_else(|_| "[]".to_owned());
        }
        self
    }

    /// The viewer of a request: its `herald_tz` cookie and the first
    /// language it accepts.
    pub fn of_request(request: &ServiceRequest) -> Self {
        let zone = request.cookie(ZONE_COOKIE).map(|c| c.value().to_owned());
        let from_teams = request
            .cookie(LOCALE_COOKIE)
            .map(|c| c.value().to_owned())
            .filter(|tag| first_language(tag) == Some(tag.as_str()));
        let locale = from_teams.unwrap_or_else(|| {
            request
                .headers()
                .get(header::ACCEPT_LANGUAGE)
                .and_then(|value| value.to_str().ok())
                .and_then(first_language)
                .unwrap_or("en")
                .to_owned()
        });
        let hosts = request
            .app_data::<actix_web::web::Data<super::Ui>>()
            .map(|ui| ui.settings.teams_host_origins.clone())
            .unwrap_or_default();
        Self::new(zone.as_deref(), &locale).with_teams_hosts(&hosts)
    }

    /// Runs `work` (a request's handler) with this viewer current.
    pub async fn scope<F: Future>(self, work: F) -> F::Output {
        VIEWER.scope(self, work).await
    }

    /// The viewer of the request being served; UTC and English outside one.
    pub fn current() -> Self {
        VIEWER.try_with(Clone::clone).unwrap_or_default()
    }

    pub fn zone_name(&self) -> &str {
        &self.0.zone_name
    }

    pub fn teams_hosts(&self) -> &str {
        &self.0.teams_hosts
    }

    pub fn separators(&self) -> Separators {
        self.0.separators
    }

    /// "3 Dec 2026 09:40 CET".
    pub fn time(&self, at: OffsetDateTime) -> String {
        self.format(at, "%-d %b %Y %H:%M %Z")
    }

    /// "3 Dec 09:40:05 CET", for tables of events.
    pub fn time_exactly(&self, at: OffsetDateTime) -> String {
        self.format(at, "%-d %b %H:%M:%S %Z")
    }

    /// "09:40:05", for a chart's axis (named once beside it).
    pub fn clock(&self, at: OffsetDateTime) -> String {
        self.format(at, "%H:%M:%S")
    }

    /// The zone's abbreviation at that instant, e.g. "CET" or "+0530".
    pub fn zone_at(&self, at: OffsetDateTime) -> String {
        self.format(at, "%Z")
    }

    /// The zone's abbreviation now, for labels of live figures.
    pub fn zone_now(&self) -> String {
        self.zone_at(OffsetDateTime::now_utc())
    }

    fn zoned(&self, at: OffsetDateTime) -> jiff::ZonedDateTime {
        let stamp = jiff::Timestamp::from_second(at.unix_timestamp())
            .unwrap_or(jiff::Timestamp::UNIX_EPOCH);
        stamp.to_zoned_datetime(self.0.zone.clone())
    }

    fn format(&self, at: OffsetDateTime, pattern: &str) -> String {
        self.zoned(at).strftime(pattern).to_string()
    }

    /// "2,998" (or "2.998", "2 998"...).
    pub fn number(&self, value: i64) -> String {
        let digits = value.unsigned_abs().to_string();
        let mut out = String::with_capacity(digits.len() + 8);
        if value < 0 {
            out.push('-');
        }
        for (index, digit) in digits.chars().enumerate() {
            if index > 0 && (digits.len() - index).is_multiple_of(3) {
                out.push_str(self.0.separators.group);
            }
            out.push(digit);
        }
        out
    }

    /// A number with `places` decimals: "1,234.5".
    pub fn decimal(&self, value: f64, places: usize) -> String {
        let text = format!("{:.*}", places, value.abs());
        let (whole, fraction) = text.split_once('.').unwrap_or((&text, ""));
        let sign = if value < 0.0 && text.chars().any(|c| matches!(c, '1'..='9')) {
            "-"
        } else {
            ""
        };
        let whole = self.number(whole.parse().unwrap_or(0));
        if fraction.is_empty() {
            format!("{sign}{whole}")
        } else {
            format!("{sign}{whole}{}{fraction}", self.0.separators.decimal)
        }
    }
}

/// The first tag of an `Accept-Language` value, e.g. `de-CH` of
/// `de-CH,de;q=0.9,en;q=0.8`.
fn first_language(value: &str) -> Option<&str> {
    value
        .split(',')
        .map(|part| part.split(';').next().unwrap_or_default().trim())
        .find(|tag| {
            !tag.is_empty()
                && *tag != "*"
                && tag.len() <= 35
                && tag.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn times_are_in_the_viewers_zone_and_named() {
        let at = datetime!(2026-12-03 07:40 UTC);
        let berlin = Viewer::new(Some("Europe/Berlin"), "de-DE");
        assert_eq!(berlin.time(at), "3 Dec 2026 08:40 CET");
        let kolkata = Viewer::new(Some("Asia/Kolkata"), "en-IN");
        assert_eq!(kolkata.time_exactly(at), "3 Dec 13:10:00 IST");
        // Summer time is the zone's own, not the offset of today.
        let july = datetime!(2026-07-01 07:40 UTC);
        assert_eq!(berlin.time(july), "1 Jul 2026 09:40 CEST");
        assert_eq!(Viewer::new(None, "en").time(at), "3 Dec 2026 07:40 UTC");
    }

    #[test]
    fn an_unknown_zone_is_utc() {
        let viewer = Viewer::new(Some("Mars/Olympus_Mons"), "en");
        assert_eq!(viewer.zone_name(), "UTC");
        assert_eq!(viewer.clock(datetime!(2026-12-03 07:40:05 UTC)), "07:40:05");
    }

    #[test]
    fn numbers_have_the_locales_separators() {
        assert_eq!(Viewer::new(None, "en-GB").number(2998), "2,998");
        assert_eq!(Viewer::new(None, "en").number(999), "999");
        assert_eq!(Viewer::new(None, "en").number(-1_234_567), "-1,234,567");
        assert_eq!(Viewer::new(None, "de-DE").number(29_999), "29.999");
        assert_eq!(Viewer::new(None, "fr").number(2998), "2\u{202f}998");
        assert_eq!(Viewer::new(None, "sv-SE").number(2998), "2\u{a0}998");
        assert_eq!(Viewer::new(None, "de-CH").number(2998), "2\u{2019}998");
        assert_eq!(Viewer::new(None, "de").decimal(1234.56, 1), "1.234,6");
        assert_eq!(Viewer::new(None, "en").decimal(87.5, 1), "87.5");
        assert_eq!(Viewer::new(None, "en").decimal(-0.01, 1), "0.0");
    }

    #[test]
    fn the_first_accepted_language_wins() {
        assert_eq!(first_language("de-CH,de;q=0.9,en;q=0.8"), Some("de-CH"));
        assert_eq!(first_language("*;q=0.5, fr"), Some("fr"));
        assert_eq!(first_language("<script>"), None);
    }
}
