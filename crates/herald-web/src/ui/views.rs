//! What the templates show: ready-made view structs, so the templates
//! hold no queries and no rules.

use askama::Template;
use herald_domain::{DeliveryStatus, NotificationStatus};
use herald_store::{NotificationRecord, Overview, RecipientLine};
use time::OffsetDateTime;

use super::assets::ASSETS;
use super::compose::{DraftForm, FieldErrors};
use super::live::{Snapshot, StatusCount};
use super::overview::RightNow;
use super::session::{Role, Staff};
use super::urls;
use super::viewer::Viewer;

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

    /// The signed-in person's name, as a recall notice gives it.
    pub fn viewer_name(&self) -> &str {
        self.staff.as_ref().map_or("", |s| s.display_name())
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

    /// Whether the page runs in the Teams tab (it follows Teams' theme).
    pub fn in_teams(&self) -> bool {
        self.staff.as_ref().is_some_and(|s| s.in_teams)
    }

    /// A count with the viewer's digit grouping: `{{ chrome.num(n) }}`.
    pub fn num(&self, value: impl Count) -> String {
        number(value.count())
    }

    /// What the scripts need to write times and numbers as the server
    /// does: the `data-` attributes of `<html>`.
    pub fn viewer(&self) -> Viewer {
        Viewer::current()
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
    /// The request id, which the log's entry for this failure carries.
    pub reference: &'a str,
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
    pub audience: String,
    /// When it started sending, or is scheduled to; empty for drafts.
    pub sent: String,
    /// The counts, once it has recipients (a draft or a schedule has none
    /// yet, shown as empty cells rather than zeros).
    pub counts: Option<RowCounts>,
}

pub struct RowCounts {
    pub recipients: i64,
    pub delivered: i64,
    pub failed: i64,
    /// "42 %" of those delivered, or empty when none was.
    pub read: String,
}

impl Row {
    pub fn new(listed: &herald_store::ListedAnnouncement) -> Self {
        let record = &listed.record;
        let id = record.id.to_string();
        let link = match record.status {
            NotificationStatus::Draft => urls::draft(&id),
            _ => urls::announcement(&id),
        };
        let read = if listed.delivered > 0 {
            format!("{} %", record.read * 100 / listed.delivered)
        } else {
            String::new()
        };
        Self {
            title: record.content.title.as_str().to_owned(),
            status: record.status.as_str(),
            status_label: status_text(record),
            when: when(record.updated_at),
            owner: owner_name(record).to_owned(),
            link,
            audience: record.audience.describe().join(", "),
            sent: record
                .send_started_at
                .or(record.scheduled_at)
                .map(when)
                .unwrap_or_default(),
            counts: (listed.recipients > 0).then_some(RowCounts {
                recipients: listed.recipients,
                delivered: listed.delivered,
                failed: listed.failed,
                read,
            }),
        }
    }
}

/// A sortable column's header of the announcements list.
pub struct SortHeader {
    pub column: &'static str,
    /// The first page sorted by it (the other way round when it is the
    /// column sorted by), the filters kept.
    pub link: String,
    /// `ascending`, `descending` or `none`.
    pub aria_sort: &'static str,
}

/// Who composed it: the signed-in author, or the program that submitted it.
pub fn owner_name(record: &NotificationRecord) -> &str {
    record
        .owner
        .as_ref()
        .map_or(record.created_by.as_str(), |(_, name)| name.as_str())
}

/// "Sending", or "Scheduled for 28 Nov 2026 09:00 UTC".
pub fn status_text(record: &NotificationRecord) -> String {
    match (record.status, record.scheduled_at) {
        (NotificationStatus::Scheduled, Some(at)) => format!("Scheduled for {}", when(at)),
        (status, _) => status_label(status).to_owned(),
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

/// A time as the pages show it: in the viewer's zone, named.
pub fn when(at: OffsetDateTime) -> String {
    Viewer::current().time(at)
}

/// A count as the pages show it, with the viewer's digit grouping.
pub fn number(value: impl Count) -> String {
    Viewer::current().number(value.count())
}

/// Whatever templates count with, by value or by reference (askama
/// hands fields over either way).
pub trait Count {
    fn count(&self) -> i64;
}

macro_rules! count_as_i64 {
    ($($t:ty),*) => {$(
        impl Count for $t {
            fn count(&self) -> i64 {
                i64::try_from(*self).unwrap_or(i64::MAX)
            }
        }
    )*};
}
count_as_i64!(i64, i32, u32, u64, usize);

impl<T: Count + ?Sized> Count for &T {
    fn count(&self) -> i64 {
        (**self).count()
    }
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
    /// The filters as typed, shown back in the form.
    pub q: String,
    pub status: String,
    pub since: String,
    pub until: String,
    /// The order asked for, kept by the form.
    pub sort: String,
    pub dir: String,
    pub headers: Vec<SortHeader>,
    /// Whether any filter or page applies (the form offers to clear it).
    pub filtered: bool,
    /// The first page in this order and filter.
    pub first: String,
    pub next: Option<String>,
}

impl HomePage {
    /// The header of a sortable column.
    pub fn header(&self, column: &str) -> Option<&SortHeader> {
        self.headers.iter().find(|h| h.column == column)
    }

    pub fn statuses(&self) -> Vec<(&'static str, &'static str)> {
        NotificationStatus::ALL
            .iter()
            .map(|s| (s.as_str(), status_label(*s)))
            .collect()
    }
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
    /// The tests sent from this draft, if any.
    pub tests: Option<TestsSent>,
    /// What became of the draft when there are errors: saved or not.
    pub errors_heading: String,
    /// Editing an announcement that went out: its audience stays, and the
    /// form leads to the review of the update.
    pub sent: Option<SentFacts>,
}

/// What the form for an announcement that went out shows, not edits.
pub struct SentFacts {
    pub audience: Vec<String>,
    pub acknowledgement: bool,
}

/// "Tests sent: 2, the last at 3 Dec 2026 07:40 UTC to you", on the
/// draft's page: tests are not announcements, so only the draft shows them.
pub struct TestsSent {
    pub count: usize,
    pub last_at: String,
    /// "you", or the UPN of whoever sent the last one.
    pub last_to: String,
    /// The last test's report: whether it arrived.
    pub last_link: String,
}

impl TestsSent {
    /// None when no test was sent; `tests` newest first.
    pub fn new(tests: &[herald_store::TestSend], viewer_upn: &str) -> Option<Self> {
        let last = tests.first()?;
        Some(Self {
            count: tests.len(),
            last_at: when(last.created_at),
            last_to: if last.created_by.eq_ignore_ascii_case(viewer_upn) {
                "you".to_owned()
            } else {
                last.created_by.clone()
            },
            last_link: urls::announcement(last.id),
        })
    }
}

impl ComposePage {
    pub fn action(&self) -> String {
        match (&self.id, &self.sent) {
            (Some(id), Some(_)) => urls::change(id),
            (Some(id), None) => urls::draft(id),
            (None, _) => urls::DRAFTS.to_owned(),
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
    /// The card as the send-worker will post it (JSON), for the preview.
    pub card: String,
    pub rate: String,
    pub error: Option<String>,
    /// What the schedule fields held, when a schedule was refused.
    pub schedule_at: String,
    pub time_zone: String,
}

#[derive(Template)]
#[template(path = "announcement.html")]
pub struct StatusPage {
    pub chrome: Chrome,
    pub id: String,
    pub title: String,
    pub audience: Vec<String>,
    pub author: String,
    pub progress: Snapshot,
    pub can_cancel: bool,
    pub scheduled: bool,
    /// When a scheduled announcement goes out.
    pub scheduled_for: Option<String>,
    /// The fields the card preview is built from (`POST /ui/preview`,
    /// as the compose page posts them), for a scheduled announcement.
    pub card_fields: Vec<(String, String)>,
    pub asks_acknowledgement: bool,
    /// People the announcement reached who have not acknowledged it,
    /// when it asks and has been sent: whom a reminder would go to.
    pub not_acknowledged: Option<i64>,
    /// Said once at the top: a reminder sent...
    pub notice: Option<String>,
    pub error: Option<String>,
    pub started: Option<String>,
    pub completed: Option<String>,
    /// It went out and was not taken back: it can be edited or recalled.
    pub may_change: bool,
    /// Cards delivered, as a recall's confirmation names them.
    pub reached: i64,
    /// Its edits and recalls, oldest first.
    pub changes: Vec<ChangeLine>,
}

/// An edit or recall as the status page lists it.
pub struct ChangeLine {
    /// "Edited by Joni Vance", "Recalled by ...".
    pub what: String,
    pub at: (String, String),
    /// "1,980 updated, 20 failed" for the latest; "done" or "in progress".
    pub outcome: String,
}

impl ChangeLine {
    pub fn new(
        change: &herald_store::ChangeRecord,
        latest: bool,
        counts: &[(herald_domain::ChangeStatus, i64)],
    ) -> Self {
        let verb = match change.kind {
            herald_domain::ChangeKind::Edit => "Edited",
            herald_domain::ChangeKind::Recall => "Recalled",
            herald_domain::ChangeKind::Withdraw => "Withdrawn with a notice",
        };
        let counted: Vec<String> = counts
            .iter()
            .filter(|(_, n)| *n > 0)
            .map(|(status, n)| format!("{} {}", number(*n), status.as_str()))
            .collect();
        let state = if change.completed_at.is_some() {
            "done"
        } else {
            "in progress"
        };
        let outcome = if latest && !counted.is_empty() {
            format!("{state}: {}", counted.join(", "))
        } else {
            state.to_owned()
        };
        Self {
            what: format!("{verb} by {}", change.by),
            at: (iso(change.created_at), when(change.created_at)),
            outcome,
        }
    }
}

/// The review of an edit of an announcement that went out: before and
/// after, what changed, and whom it reaches.
#[derive(Template)]
#[template(path = "change_review.html")]
pub struct ChangeReviewPage {
    pub chrome: Chrome,
    pub id: String,
    pub title: String,
    pub changed: Vec<FieldChange>,
    /// The cards as JSON, drawn by `compose.js`.
    pub before: String,
    pub after: String,
    /// The new content, as the form posted it, carried to the update.
    pub fields: Vec<(String, String)>,
    /// Cards that went out and are replaced.
    pub people: i64,
    pub duration: String,
}

/// One field an edit changes, before and after.
pub struct FieldChange {
    pub label: &'static str,
    pub before: String,
    pub after: String,
}

impl StatusPage {
    pub fn new(chrome: Chrome, record: &NotificationRecord, progress: Snapshot) -> Self {
        let scheduled = record.status == NotificationStatus::Scheduled;
        Self {
            chrome,
            id: record.id.to_string(),
            title: record.content.title.as_str().to_owned(),
            audience: record.audience.describe(),
            author: owner_name(record).to_owned(),
            progress,
            can_cancel: matches!(
                record.status,
                NotificationStatus::Scheduled
                    | NotificationStatus::Preparing
                    | NotificationStatus::Sending
            ),
            scheduled,
            scheduled_for: record.scheduled_at.filter(|_| scheduled).map(when),
            card_fields: if scheduled {
                card_fields(&DraftForm::from_record(record))
            } else {
                Vec::new()
            },
            asks_acknowledgement: record.content.acknowledgement_required,
            not_acknowledged: None,
            notice: None,
            error: record.error.clone(),
            started: record.send_started_at.map(when),
            completed: record.completed_at.map(when),
            may_change: false,
            reached: 0,
            changes: Vec::new(),
        }
    }
}

/// A draft's fields as the compose form posts them, for the preview.
pub fn card_fields(form: &DraftForm) -> Vec<(String, String)> {
    let mut fields: Vec<(String, String)> = [
        ("title", &form.title),
        ("summary", &form.summary),
        ("image_url", &form.image_url),
        ("author", &form.author),
        ("feed_text", &form.feed_text),
    ]
    .into_iter()
    .map(|(name, value)| (name.to_owned(), value.clone()))
    .collect();
    for row in form.button_rows() {
        fields.push((row.title_field(), row.title.to_owned()));
        fields.push((row.url_field(), row.url.to_owned()));
    }
    let flags = [
        ("critical", form.critical),
        ("acknowledgement", form.acknowledgement),
    ];
    for (name, _) in flags.into_iter().filter(|(_, on)| *on) {
        fields.push((name.to_owned(), "on".to_owned()));
    }
    for pick in &form.picks {
        fields.push(("target".to_owned(), pick.spec.clone()));
    }
    if !form.csv.is_empty() {
        fields.push(("csv_name".to_owned(), form.csv_name.clone()));
        fields.push(("csv".to_owned(), form.csv.clone()));
    }
    fields
}

/// One line of the per-recipient table, ready to show.
pub struct RecipientRow {
    pub name: String,
    pub upn: String,
    pub status: &'static str,
    pub reason: String,
    pub attempts: i32,
    pub delivered: Option<(String, String)>,
    pub read: Option<(String, String)>,
    pub acknowledged: Option<(String, String)>,
    pub version: i32,
    /// `updated`, `recalled`, `failed` (with why) or `queued`; empty
    /// before any edit or recall.
    pub change: &'static str,
    pub change_reason: String,
}

impl RecipientRow {
    pub fn new(line: &RecipientLine) -> Self {
        let stamp = |at: Option<OffsetDateTime>| at.map(|at| (iso(at), when_exactly(at)));
        Self {
            name: line.name.clone().unwrap_or_default(),
            upn: line.upn.clone().unwrap_or_else(|| line.kind.clone()),
            status: line.status.as_str(),
            reason: reason(line),
            attempts: line.attempts,
            delivered: stamp(line.delivered_at),
            read: stamp(line.read_at),
            acknowledged: stamp(line.acknowledged_at),
            version: line.version,
            change: line.change.map_or("", |c| c.as_str()),
            change_reason: line.change_reason.clone().unwrap_or_default(),
        }
    }
}

#[derive(Template)]
#[template(path = "recipients.html")]
pub struct RecipientsPage {
    pub chrome: Chrome,
    pub id: String,
    pub title: String,
    pub rows: Vec<RecipientRow>,
    pub counts: Vec<StatusCount>,
    pub total: i64,
    /// How many the filter matches, when filtered.
    pub matching: Option<i64>,
    /// The places of the rows shown, from 1: "51-100".
    pub shown_from: i64,
    pub shown_to: i64,
    /// The filters as typed.
    pub status: String,
    pub q: String,
    /// Past the first page.
    pub paged: bool,
    pub first: String,
    pub previous: Option<String>,
    pub next: Option<String>,
    pub csv: String,
    /// The announcement was edited or recalled: the table shows each
    /// person's version and how the change went for them.
    pub changed: bool,
}

impl RecipientsPage {
    pub fn statuses(&self) -> Vec<&'static str> {
        DeliveryStatus::ALL.iter().map(|s| s.as_str()).collect()
    }
}

#[derive(Template)]
#[template(path = "overview.html")]
pub struct OverviewPage {
    pub chrome: Chrome,
    pub days: i64,
    pub chart: String,
    pub sends: i64,
    pub reach: String,
    pub read_rate: String,
    pub acknowledgement_rate: String,
    pub delivered: i64,
    pub targeted: i64,
    pub opted_out: i64,
    pub blocked: i64,
    pub send_queue: String,
    pub prepare_queue: String,
    pub rate: String,
}

impl OverviewPage {
    pub fn new(chrome: Chrome, days: i64, chart: String, period: &Overview, now: RightNow) -> Self {
        let depth =
            |d: Option<u32>| d.map_or_else(|| "unknown (broker not answering)".to_owned(), number);
        Self {
            chrome,
            days,
            chart,
            sends: period.sends,
            reach: share(period.delivered, period.targeted),
            read_rate: share(period.read, period.delivered_to_people),
            acknowledgement_rate: share(period.acknowledged, period.delivered_asking),
            delivered: period.delivered,
            targeted: period.targeted,
            opted_out: period.opted_out,
            blocked: period.blocked,
            send_queue: depth(now.send_queue),
            prepare_queue: depth(now.prepare_queue),
            rate: format!("{} deliveries/s", Viewer::current().decimal(now.rate, 1)),
        }
    }
}

/// "87.5 %", or a dash when there is nothing to divide.
fn share(part: i64, whole: i64) -> String {
    if whole == 0 {
        "—".to_owned()
    } else {
        let percent = part as f64 * 100.0 / whole as f64;
        format!("{} %", Viewer::current().decimal(percent, 1))
    }
}

/// Why a delivery ended as it did, in words.
pub fn reason(line: &RecipientLine) -> String {
    use herald_domain::DeliveryReason as Reason;
    let code = line.error_code.as_ref();
    let plain = match (line.status, code) {
        (DeliveryStatus::Delivered, _) => "",
        (DeliveryStatus::Skipped, Some(Reason::Guest)) => {
            "Guest account: announcements go to members only"
        }
        (DeliveryStatus::Skipped, Some(Reason::AccountDisabled)) => "The account is disabled",
        (DeliveryStatus::Skipped, Some(Reason::OptedOut)) => "Opted out (replied stop to Herald)",
        (DeliveryStatus::Blocked, _) => "Blocked Herald or removed the app in Teams",
        (DeliveryStatus::Gone, _) => "No longer in the organisation, or the chat is gone",
        (DeliveryStatus::Canceled, _) => "The send was canceled before it reached them",
        (DeliveryStatus::Failed, Some(Reason::NoConversation | Reason::NoChatAfterInstall)) => {
            "Herald could not open a chat with them (installing the app did not work)"
        }
        (DeliveryStatus::Pending, _) => "Waiting for a chat to be opened",
        (DeliveryStatus::Queued, _) => "Waiting to be sent",
        (DeliveryStatus::Retrying, _) => "Teams asked Herald to try again later",
        _ => "",
    };
    match (plain, code, line.error_message.as_deref()) {
        ("", None, _) => String::new(),
        ("", Some(code), Some(message)) => format!("Teams refused it: {code}: {message}"),
        ("", Some(code), None) => format!("Teams refused it: {code}"),
        (plain, None, _) => plain.to_owned(),
        (plain, Some(code), _) => format!("{plain} ({code})"),
    }
}

/// The CSV export's columns.
pub const CSV_HEADER: [&str; 13] = [
    "name",
    "upn",
    "kind",
    "status",
    "reason",
    "error_code",
    "attempts",
    "delivered_at",
    "read_at",
    "acknowledged_at",
    "version",
    "change",
    "change_reason",
];

/// CSV records (CRLF, quoted where needed) for some lines, the header first
/// when asked. Cells a spreadsheet would run as a formula are made text.
pub fn csv_records(lines: &[RecipientLine], header: bool) -> Vec<u8> {
    let mut writer = csv::WriterBuilder::new()
        .terminator(csv::Terminator::CRLF)
        .from_writer(Vec::with_capacity(lines.len() * 160));
    let stamp = |at: Option<OffsetDateTime>| at.map(iso).unwrap_or_default();
    if header {
        let _ = writer.write_record(CSV_HEADER);
    }
    for line in lines {
        let cells = [
            line.name.clone().unwrap_or_default(),
            line.upn.clone().unwrap_or_default(),
            line.kind.clone(),
            line.status.as_str().to_owned(),
            reason(line),
            line.error_code
                .as_ref()
                .map(ToString::to_string)
                .unwrap_or_default(),
            line.attempts.to_string(),
            stamp(line.delivered_at),
            stamp(line.read_at),
            stamp(line.acknowledged_at),
            line.version.to_string(),
            line.change
                .map(|c| c.as_str().to_owned())
                .unwrap_or_default(),
            line.change_reason.clone().unwrap_or_default(),
        ];
        // Writing into memory cannot fail.
        let _ = writer.write_record(cells.iter().map(|c| not_a_formula(c).into_owned()));
    }
    writer.into_inner().unwrap_or_default()
}

fn not_a_formula(value: &str) -> std::borrow::Cow<'_, str> {
    if value.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{value}").into()
    } else {
        value.into()
    }
}

/// A time to the second, for tables of events.
pub fn when_exactly(at: OffsetDateTime) -> String {
    Viewer::current().time_exactly(at)
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
    /// Live sessions (browsers, devices), and their first and last sign-in.
    pub sessions: i64,
    pub first_sign_in: String,
    pub last_sign_in: String,
    pub last_seen: String,
    pub is_me: bool,
}

#[derive(Template)]
#[template(path = "staff.html")]
pub struct StaffPage {
    pub chrome: Chrome,
    pub rows: Vec<StaffRow>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(name: &str, status: DeliveryStatus, code: Option<&str>) -> RecipientLine {
        RecipientLine {
            recipient: uuid::Uuid::nil(),
            kind: "person".to_owned(),
            name: Some(name.to_owned()),
            upn: Some("ada@contoso.example".to_owned()),
            status,
            error_code: code.map(|c| c.to_owned().into()),
            error_message: None,
            attempts: 1,
            delivered_at: None,
            read_at: None,
            acknowledged_at: None,
            version: 1,
            change: None,
            change_reason: None,
        }
    }

    #[test]
    fn csv_cells_are_quoted_and_never_run_as_formulas() {
        let mut odd = line("Zoë, \"Z\"", DeliveryStatus::Skipped, Some("OptedOut"));
        odd.upn = Some("=HYPERLINK(\"x\")".to_owned());
        odd.version = 2;
        odd.change = Some(herald_domain::ChangeStatus::Failed);
        odd.change_reason = Some("@their chat is gone".to_owned());
        let text = String::from_utf8(csv_records(&[odd], true)).unwrap();
        assert_eq!(
            text,
            "name,upn,kind,status,reason,error_code,attempts,delivered_at,read_at,acknowledged_at,\
             version,change,change_reason\r\n\
             \"Zoë, \"\"Z\"\"\",\"'=HYPERLINK(\"\"x\"\")\",person,skipped,\
             Opted out (replied stop to Herald) (OptedOut),OptedOut,1,,,,2,failed,'@their chat is gone\r\n"
        );
        assert_eq!(not_a_formula("-1"), "'-1");
    }

    #[test]
    fn reasons_say_why_in_words_and_keep_unknown_codes() {
        assert_eq!(reason(&line("A", DeliveryStatus::Delivered, None)), "");
        assert!(
            reason(&line(
                "A",
                DeliveryStatus::Blocked,
                Some("MessageWritesBlocked")
            ))
            .starts_with("Blocked Herald")
        );
        let mut odd = line("A", DeliveryStatus::Failed, Some("BadArgument"));
        odd.error_message = Some("no".to_owned());
        assert_eq!(reason(&odd), "Teams refused it: BadArgument: no");
    }
}
