//! Delivery reports: the announcements list, an announcement's live status,
//! its per-recipient table and CSV export, the admin overview, and the same
//! data as JSON under `/api/`. Authors see their own announcements, admins
//! everyone's; someone else's report looks missing (404), in every form.

use actix_web::http::header::ContentEncoding;
use actix_web::web::Bytes;
use actix_web::{HttpResponse, web};
use futures_util::Stream;
use herald_domain::{DeliveryStatus, NotificationId, NotificationStatus, RecipientId};
use herald_store::{
    ListColumn, ListQuery, ListSort, NotificationRecord, RecipientLine, RecipientQuery, Store,
    StoreError,
};
use serde::Deserialize;
use serde_json::json;

use super::error::UiError;
use super::live::Snapshot;
use super::pages::{parse_id, visible};
use super::session::{Admin, Author, Staff, see_other};
use super::signin::html;
use super::views::{
    self, Chrome, HomePage, OverviewPage, RecipientRow, RecipientsPage, Row, SortHeader, StatusPage,
};
use super::{Ui, chart};

type Page = Result<HttpResponse, UiError>;

/// Rows of a page of the per-recipient table, and of the list.
const PAGE_ROWS: i64 = 50;
/// The most a program may ask for at once.
const MAX_API_ROWS: i64 = 1_000;
/// Rows the CSV export reads per query: memory stays flat however many.
const EXPORT_BATCH: i64 = 2_000;
/// The overview's period.
const OVERVIEW_DAYS: i64 = 30;

/// The list's filters, as the query string carries them.
#[derive(Debug, Default, Deserialize)]
pub struct ListFilter {
    #[serde(default)]
    q: Option<String>,
    #[serde(default)]
    status: Option<String>,
    #[serde(default)]
    since: Option<String>,
    #[serde(default)]
    until: Option<String>,
    #[serde(default)]
    sort: Option<String>,
    #[serde(default)]
    dir: Option<String>,
    #[serde(default)]
    after: Option<String>,
    #[serde(default)]
    limit: Option<String>,
}

/// The per-recipient table's filters.
#[derive(Debug, Default, Deserialize)]
pub struct RecipientFilter {
    #[serde(default)]
    status: Option<String>,
    #[serde(default)]
    q: Option<String>,
    #[serde(default)]
    after: Option<String>,
    /// Going back: the first recipient of the page after the one wanted.
    #[serde(default)]
    before: Option<String>,
    /// The place of the page's first row (of `after`'s page) or of
    /// `before`'s row, from the link that led here: the page says "51-100".
    #[serde(default)]
    from: Option<String>,
    #[serde(default)]
    limit: Option<String>,
}

fn bad(message: String) -> UiError {
    UiError::BadForm(message)
}

/// Empty fields are no filter.
fn given(field: &Option<String>) -> Option<&str> {
    field.as_deref().map(str::trim).filter(|t| !t.is_empty())
}

fn search_text(field: &Option<String>) -> Result<Option<String>, UiError> {
    match given(field) {
        Some(text) if text.chars().count() > 100 => Err(bad(
            "the search text is longer than 100 characters: shorten it".to_owned(),
        )),
        other => Ok(other.map(str::to_owned)),
    }
}

fn date(field: &Option<String>, name: &str) -> Result<Option<time::Date>, UiError> {
    let format = time::macros::format_description!("[year]-[month]-[day]");
    given(field)
        .map(|text| {
            time::Date::parse(text, format).map_err(|_| {
                bad(format!(
                    "{name} {text:?} is not a date: use YYYY-MM-DD, e.g. 2026-11-28"
                ))
            })
        })
        .transpose()
}

fn rows_wanted(limit: &Option<String>, default: i64) -> Result<i64, UiError> {
    let Some(text) = given(limit) else {
        return Ok(default);
    };
    match text.parse::<i64>() {
        Ok(n) if (1..=MAX_API_ROWS).contains(&n) => Ok(n),
        _ => Err(bad(format!(
            "limit {text:?} is not a number of rows from 1 to {MAX_API_ROWS}: ask for e.g. limit=100"
        ))),
    }
}

fn cursor(field: &Option<String>) -> Result<Option<uuid::Uuid>, UiError> {
    given(field)
        .map(|text| {
            text.parse()
                .map_err(|_| bad("the page link is damaged: go back to the first page".to_owned()))
        })
        .transpose()
}

impl ListFilter {
    fn query(&self, staff: &Staff, limit: i64) -> Result<ListQuery, UiError> {
        let status = status_filter(
            &self.status,
            NotificationStatus::ALL.iter().map(|s| s.as_str()),
        )?;
        Ok(ListQuery {
            owner: (!staff.is_admin()).then_some(staff.id),
            search: search_text(&self.q)?,
            status,
            since: date(&self.since, "since")?,
            until: date(&self.until, "until")?,
            sort: self.sort()?,
            after: cursor(&self.after)?.map(NotificationId),
            limit: limit + 1,
        })
    }

    /// The order asked for: a column, and `asc` or `desc` (each column's
    /// own first direction when not given).
    fn sort(&self) -> Result<ListSort, UiError> {
        let Some(name) = given(&self.sort) else {
            return Ok(ListSort::default());
        };
        let column = ListColumn::parse(name).ok_or_else(|| {
            let all: Vec<&str> = ListColumn::ALL.iter().map(|c| c.as_str()).collect();
            bad(format!(
                "sort {name:?} is not a column of the list: use one of {}",
                all.join(", ")
            ))
        })?;
        let descending = match given(&self.dir) {
            None => column.descending_first(),
            Some("desc") => true,
            Some("asc") => false,
            Some(other) => {
                return Err(bad(format!(
                    "dir {other:?} is not a direction: use asc (smallest first) or desc (largest first)"
                )));
            }
        };
        Ok(ListSort { column, descending })
    }

    /// The query string of this filter with another page.
    fn link(&self, after: Option<&str>) -> String {
        query_string(&self.fields(), after)
    }

    /// The filters without the order (what "Clear" clears).
    fn filters(&self) -> [(&'static str, &Option<String>); 5] {
        [
            ("q", &self.q),
            ("status", &self.status),
            ("since", &self.since),
            ("until", &self.until),
            ("limit", &self.limit),
        ]
    }

    fn fields(&self) -> Vec<(&'static str, &Option<String>)> {
        let mut fields = self.filters().to_vec();
        fields.extend([("sort", &self.sort), ("dir", &self.dir)]);
        fields
    }

    /// The first page of this filter in another order.
    fn sorted_by(&self, sort: ListSort) -> String {
        let column = Some(sort.column.as_str().to_owned());
        let dir = Some(if sort.descending { "desc" } else { "asc" }.to_owned());
        let mut fields = self.filters().to_vec();
        fields.extend([("sort", &column), ("dir", &dir)]);
        format!("/?{}", query_string(&fields, None))
    }

    /// Each sortable column's header: its link and `aria-sort`. A click
    /// on the column sorted by turns its order round.
    fn headers(&self, sort: ListSort) -> Vec<SortHeader> {
        ListColumn::ALL
            .iter()
            .map(|&column| {
                let current = column == sort.column;
                let descending = if current {
                    !sort.descending
                } else {
                    column.descending_first()
                };
                SortHeader {
                    column: column.as_str(),
                    link: self.sorted_by(ListSort { column, descending }),
                    aria_sort: match (current, sort.descending) {
                        (false, _) => "none",
                        (true, true) => "descending",
                        (true, false) => "ascending",
                    },
                }
            })
            .collect()
    }
}

impl RecipientFilter {
    fn query(&self, limit: i64) -> Result<RecipientQuery, UiError> {
        let status = status_filter(&self.status, DeliveryStatus::ALL.iter().map(|s| s.as_str()))?;
        Ok(RecipientQuery {
            status,
            search: search_text(&self.q)?,
            after: cursor(&self.after)?.map(RecipientId),
            before: cursor(&self.before)?.map(RecipientId),
            limit: limit + 1,
        })
    }

    fn link(&self, after: Option<&str>) -> String {
        query_string(&self.filters(), after)
    }

    fn filters(&self) -> [(&'static str, &Option<String>); 3] {
        [
            ("status", &self.status),
            ("q", &self.q),
            ("limit", &self.limit),
        ]
    }

    /// A link to another page: `cursor` is `after` or `before`, and `from`
    /// the place it names.
    fn page_link(&self, cursor: (&str, &str), from: i64) -> String {
        let mut fields = self.filters().to_vec();
        let (name, id) = cursor;
        let (id, from) = (Some(id.to_owned()), Some(from.to_string()));
        fields.extend([(name, &id), ("from", &from)]);
        query_string(&fields, None)
    }

    /// The place the link says, 1 when it says none.
    fn from(&self) -> Result<i64, UiError> {
        match given(&self.from) {
            None => Ok(1),
            Some(text) => text.parse::<i64>().ok().filter(|n| *n >= 1).ok_or_else(|| {
                bad("the page link is damaged: go back to the first page".to_owned())
            }),
        }
    }
}

/// One page of recipients, and where it is among them.
struct RecipientsShown {
    lines: Vec<RecipientLine>,
    /// The place of the first row, from 1.
    first: i64,
    /// Links (query strings) to the page before and after, if any.
    previous: Option<String>,
    next: Option<String>,
}

/// A page forward (`after`) or back (`before`), or the first. Each page
/// is one keyset query; its place ("51-100") comes from the link that led
/// to it, as counting the rows before a cursor would read the index from
/// the start on every page. Going back past the start is seen by the
/// store (fewer rows than a page before the cursor): the first page is
/// then shown, so a stale place corrects itself there.
async fn recipients_shown(
    ui: &Ui,
    record: &NotificationRecord,
    filter: &RecipientFilter,
    limit: i64,
) -> Result<RecipientsShown, UiError> {
    let mut query = filter.query(limit)?;
    let from = filter.from()?;
    let mut lines = ui.store.recipient_page(record.id, &query).await?;
    let more = lines.len() as i64 > limit;
    let (first, more_before, more_after) = if query.before.is_some() {
        if !more {
            query.before = None;
            lines = ui.store.recipient_page(record.id, &query).await?;
            let more_after = lines.len() as i64 > limit;
            lines.truncate(limit as usize);
            (1, false, more_after)
        } else {
            lines.remove(0);
            ((from - limit).max(2), true, true)
        }
    } else {
        lines.truncate(limit as usize);
        (from, query.after.is_some(), more)
    };
    let id = |line: Option<&RecipientLine>| line.map(|l| l.recipient.to_string());
    let previous = more_before
        .then(|| id(lines.first()))
        .flatten()
        .map(|before| filter.page_link(("before", &before), first));
    let next = more_after
        .then(|| id(lines.last()))
        .flatten()
        .map(|after| filter.page_link(("after", &after), first + lines.len() as i64));
    Ok(RecipientsShown {
        lines,
        first,
        previous,
        next,
    })
}

/// A status filter: one of `all`, or none when left empty.
fn status_filter<'a, T: std::str::FromStr>(
    field: &Option<String>,
    all: impl Iterator<Item = &'a str>,
) -> Result<Option<T>, UiError> {
    given(field)
        .map(|text| {
            text.parse::<T>().map_err(|_| {
                let all: Vec<&str> = all.collect();
                bad(format!(
                    "status {text:?} is unknown: use one of {}",
                    all.join(", ")
                ))
            })
        })
        .transpose()
}

/// The filters given, and the page to start after, as a query string.
fn query_string(fields: &[(&str, &Option<String>)], after: Option<&str>) -> String {
    let mut pairs = url::form_urlencoded::Serializer::new(String::new());
    for (name, value) in fields {
        if let Some(value) = given(value) {
            pairs.append_pair(name, value);
        }
    }
    if let Some(after) = after {
        pairs.append_pair("after", after);
    }
    pairs.finish()
}

/// A page of rows read with one more than shown: the extra one says
/// there is a next page, which starts after the last shown.
fn split_page<T>(
    mut rows: Vec<T>,
    limit: i64,
    key: impl Fn(&T) -> String,
) -> (Vec<T>, Option<String>) {
    let more = rows.len() as i64 > limit;
    rows.truncate(limit as usize);
    let next = more.then(|| rows.last().map(&key)).flatten();
    (rows, next)
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
        first: format!("/?{}", filter.link(None)),
        next: next.map(|after| format!("/?{}", filter.link(Some(&after)))),
    })
}

pub async fn api_list(
    Author(staff): Author,
    ui: web::Data<Ui>,
    filter: web::Query<ListFilter>,
) -> Page {
    let limit = rows_wanted(&filter.limit, PAGE_ROWS)?;
    let listed = ui
        .store
        .announcement_page(&filter.query(&staff, limit)?)
        .await?;
    let (listed, next) = split_page(listed, limit, |l| l.record.id.to_string());
    let items: Vec<_> = listed
        .iter()
        .map(|l| {
            let mut item = summary_json(&l.record);
            item["counts"] = json!({
                "recipients": l.recipients,
                "delivered": l.delivered,
                "failed": l.failed,
                "read": l.record.read,
            });
            item
        })
        .collect();
    Ok(HttpResponse::Ok().json(json!({"items": items, "next": next.map(|after| format!("/api/announcements?{}", filter.link(Some(&after))))})))
}

fn summary_json(record: &NotificationRecord) -> serde_json::Value {
    json!({
        "id": record.id.to_string(),
        "title": record.content.title.as_str(),
        "status": record.status.as_str(),
        "author": record.owner.as_ref().map_or(record.created_by.as_str(), |(_, name)| name.as_str()),
        "createdAt": views::iso(record.created_at),
        "updatedAt": views::iso(record.updated_at),
        "scheduledAt": record.scheduled_at.map(views::iso),
        "sendStartedAt": record.send_started_at.map(views::iso),
        "completedAt": record.completed_at.map(views::iso),
        "audience": record.audience.describe(),
        "links": {
            "page": format!("/announcements/{}", record.id),
            "report": format!("/api/announcements/{}", record.id),
            "recipients": format!("/api/announcements/{}/recipients", record.id),
            "csv": format!("/announcements/{}/recipients.csv", record.id),
        },
    })
}

async fn progress_of(ui: &Ui, record: &NotificationRecord) -> Result<Snapshot, UiError> {
    ui.live.snapshot(record.id).await?.ok_or(UiError::NotFound)
}

/// What the status page says after a reminder was sent: numbers and an
/// id only, parsed, so nothing typed into a URL is shown back.
#[derive(Debug, Default, Deserialize)]
pub struct StatusNotice {
    #[serde(default)]
    reminded: Option<u32>,
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
        return Ok(see_other(&format!("/drafts/{}", record.id)));
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
    html(&page)
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
    if !may_remind(&record) {
        return Err(UiError::Conflict(
            "only an announcement that asks for acknowledgements and has been sent can be reminded of"
                .to_owned(),
        ));
    }
    let reminder = herald_prepare::remind(&ui.store, &ui.broker, record.id, &staff.upn).await?;
    tracing::info!(notification = %record.id, reminder = %reminder.id, people = reminder.people, by = %staff.upn, "reminded from the web UI");
    Ok(see_other(&format!(
        "/announcements/{}?reminded={}",
        record.id, reminder.people
    )))
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

pub async fn api_report(Author(staff): Author, ui: web::Data<Ui>, id: web::Path<String>) -> Page {
    let record = visible(&ui, &staff, &id).await?;
    let progress = progress_of(&ui, &record).await?;
    let mut body = summary_json(&record);
    body["progress"] = serde_json::to_value(&progress).unwrap_or_default();
    body["progress"].as_object_mut().map(|p| p.remove("chart"));
    body["timeline"] = serde_json::to_value(&progress.timeline).unwrap_or_default();
    Ok(HttpResponse::Ok().json(body))
}

pub async fn recipients(
    Author(staff): Author,
    ui: web::Data<Ui>,
    id: web::Path<String>,
    filter: web::Query<RecipientFilter>,
) -> Page {
    let record = visible(&ui, &staff, &id).await?;
    let shown = recipients_shown(&ui, &record, &filter, PAGE_ROWS).await?;
    let progress = progress_of(&ui, &record).await?;
    let query = filter.query(PAGE_ROWS)?;
    // A status alone is counted already; a search is counted here.
    let matching = match (&query.search, query.status) {
        (Some(_), _) => Some(ui.store.recipient_matches(record.id, &query).await?),
        (None, Some(status)) => Some(
            progress
                .counts
                .iter()
                .find(|c| c.status == status.as_str())
                .map_or(0, |c| c.count),
        ),
        (None, None) => None,
    };
    let base = format!("/announcements/{}/recipients", record.id);
    let last = shown.first + shown.lines.len() as i64 - 1;
    html(&RecipientsPage {
        chrome: Chrome::new(
            format!("Recipients of {}", record.content.title.as_str()),
            &staff,
            "home",
        ),
        id: record.id.to_string(),
        title: record.content.title.as_str().to_owned(),
        rows: shown.lines.iter().map(RecipientRow::new).collect(),
        counts: progress.counts,
        total: progress.total,
        matching,
        shown_from: shown.first,
        shown_to: last,
        status: given(&filter.status).unwrap_or_default().to_owned(),
        q: given(&filter.q).unwrap_or_default().to_owned(),
        paged: shown.first > 1 || shown.previous.is_some(),
        first: format!("{base}?{}", filter.link(None)),
        previous: shown.previous.map(|link| format!("{base}?{link}")),
        next: shown.next.map(|link| format!("{base}?{link}")),
        csv: format!("{base}.csv?{}", filter.link(None)),
    })
}

pub async fn api_recipients(
    Author(staff): Author,
    ui: web::Data<Ui>,
    id: web::Path<String>,
    filter: web::Query<RecipientFilter>,
) -> Page {
    let record = visible(&ui, &staff, &id).await?;
    let limit = rows_wanted(&filter.limit, 100)?;
    let shown = recipients_shown(&ui, &record, &filter, limit).await?;
    let link = |query: String| format!("/api/announcements/{}/recipients?{query}", record.id);
    Ok(HttpResponse::Ok().json(json!({
        "items": shown.lines,
        "next": shown.next.map(link),
        "previous": shown.previous.map(link),
    })))
}

/// The whole table (as filtered) as CSV, read and sent in batches.
pub async fn recipients_csv(
    Author(staff): Author,
    ui: web::Data<Ui>,
    id: web::Path<String>,
    filter: web::Query<RecipientFilter>,
) -> Page {
    let record = visible(&ui, &staff, &id).await?;
    let mut query = filter.query(EXPORT_BATCH)?;
    query.after = None;
    query.before = None;
    query.limit = EXPORT_BATCH;
    let name = format!("{} - recipients.csv", record.content.title.as_str());
    Ok(HttpResponse::Ok()
        .content_type("text/csv; charset=utf-8")
        .insert_header(("Content-Disposition", attachment(&name)))
        .streaming(csv_rows(ui.store.clone(), record.id, query)))
}

/// `attachment` named `name`: an ASCII `filename` for old clients, with
/// what a file name cannot hold (quotes, slashes, controls) and anything
/// not ASCII replaced, and the whole name in UTF-8 as `filename*`
/// (RFC 6266), which browsers prefer.
fn attachment(name: &str) -> String {
    let safe: String = name
        .chars()
        .map(|c| match c {
            '"' | '\\' | '/' | ':' | '*' | '?' | '<' | '>' | '|' => '_',
            c if c.is_control() => '_',
            c => c,
        })
        .collect();
    let ascii: String = safe
        .chars()
        .map(|c| if c.is_ascii() { c } else { '_' })
        .collect();
    let mut encoded = String::new();
    for byte in safe.bytes() {
        // RFC 5987's attr-char go as they are; every other byte as %XX.
        if byte.is_ascii_alphanumeric() || b"!#$&+-.^_`|~".contains(&byte) {
            encoded.push(byte as char);
        } else {
            encoded.push_str(&format!("%{byte:02X}"));
        }
    }
    format!("attachment; filename=\"{ascii}\"; filename*=UTF-8''{encoded}")
}

/// Excel reads UTF-8 only after a byte order mark.
const BOM: &str = "\u{feff}";

fn csv_rows(
    store: Store,
    notification: NotificationId,
    query: RecipientQuery,
) -> impl Stream<Item = Result<Bytes, StoreError>> {
    futures_util::stream::try_unfold(Some((query, true)), move |state| {
        let store = store.clone();
        async move {
            let Some((mut query, first)) = state else {
                return Ok(None);
            };
            let lines = store.recipient_page(notification, &query).await?;
            let mut bytes = if first {
                BOM.as_bytes().to_vec()
            } else {
                Vec::new()
            };
            bytes.extend(views::csv_records(&lines, first));
            let more = lines.len() as i64 == query.limit;
            query.after = lines.last().map(|l| RecipientId(l.recipient));
            Ok(Some((Bytes::from(bytes), more.then_some((query, false)))))
        }
    })
}

pub async fn overview(Admin(staff): Admin, ui: web::Data<Ui>) -> Page {
    let overview = ui.store.overview(OVERVIEW_DAYS).await?;
    let now = right_now(&ui).await?;
    html(&OverviewPage::new(
        Chrome::new("Overview", &staff, "overview"),
        OVERVIEW_DAYS,
        chart::per_day(&overview.per_day),
        &overview,
        now,
    ))
}

pub async fn api_overview(Admin(_): Admin, ui: web::Data<Ui>) -> Page {
    let overview = ui.store.overview(OVERVIEW_DAYS).await?;
    let now = right_now(&ui).await?;
    Ok(HttpResponse::Ok().json(json!({"days": OVERVIEW_DAYS, "period": overview, "now": now})))
}

/// The queues and the send rate this moment, as `/metrics` reports them.
#[derive(Debug, Clone, serde::Serialize)]
pub struct RightNow {
    /// `None` when the broker does not answer.
    pub send_queue: Option<u32>,
    pub prepare_queue: Option<u32>,
    pub rate: f64,
}

async fn right_now(ui: &Ui) -> Result<RightNow, UiError> {
    let topology = ui.broker.topology();
    let depth = |queue: String| {
        let broker = ui.broker.clone();
        async move { broker.depth(&queue).await.ok() }
    };
    Ok(RightNow {
        send_queue: depth(topology.send_queue()).await,
        prepare_queue: depth(topology.prepare_queue()).await,
        rate: ui.store.recent_rate(None, 10).await?,
    })
}

/// The home page is the announcements list; `/announcements` is its name.
pub async fn to_list(Author(_): Author) -> HttpResponse {
    see_other("/")
}

#[cfg(test)]
mod tests {
    use super::attachment;

    #[test]
    fn a_downloads_name_is_the_title_safe_for_every_client() {
        assert_eq!(
            attachment("Quarterly update - recipients.csv"),
            "attachment; filename=\"Quarterly update - recipients.csv\"; \
             filename*=UTF-8''Quarterly%20update%20-%20recipients.csv"
        );
        assert_eq!(
            attachment("Café \"Q4\"/2026 - recipients.csv"),
            "attachment; filename=\"Caf_ _Q4__2026 - recipients.csv\"; \
             filename*=UTF-8''Caf%C3%A9%20_Q4__2026%20-%20recipients.csv"
        );
    }
}
