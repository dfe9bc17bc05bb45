//! An announcement's per-recipient table, a page at a time, and the whole
//! of it (as filtered) as CSV.

use actix_web::web::Bytes;
use actix_web::{HttpResponse, web};
use futures_util::Stream;
use herald_domain::{NotificationId, RecipientId};
use herald_store::{NotificationRecord, RecipientLine, RecipientQuery, Store, StoreError};

use super::error::UiError;
use super::filters::{PAGE_ROWS, RecipientFilter, given};
use super::session::Author;
use super::shared::{Page, html, visible};
use super::status::progress_of;
use super::views::{self, Chrome, RecipientRow, RecipientsPage};
use super::{Ui, urls};

/// Rows the CSV export reads per query: memory stays flat however many.
const EXPORT_BATCH: i64 = 2_000;

/// One page of recipients, and where it is among them.
pub(super) struct RecipientsShown {
    pub(super) lines: Vec<RecipientLine>,
    /// The place of the first row, from 1.
    pub(super) first: i64,
    /// Links (query strings) to the page before and after, if any.
    pub(super) previous: Option<String>,
    pub(super) next: Option<String>,
}

/// A page forward (`after`) or back (`before`), or the first. Each page
/// is one keyset query; its place ("51-100") comes from the link that led
/// to it, as counting the rows before a cursor would read the index from
/// the start on every page. Going back past the start is seen by the
/// store (fewer rows than a page before the cursor): the first page is
/// then shown, so a stale place corrects itself there.
pub(super) async fn recipients_shown(
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

pub async fn page(
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
    let base = urls::recipients(record.id);
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
        csv: format!("{}?{}", urls::recipients_csv(record.id), filter.link(None)),
        changed: record.version > 1,
    })
}

/// The whole table (as filtered) as CSV, read and sent in batches: UTF-8
/// with a byte order mark, times in ISO 8601 with their offset.
#[utoipa::path(
    get,
    path = "/api/v1/announcements/{id}/recipients.csv",
    tag = "reports",
    params(
        ("id" = String, Path, description = "The announcement's id"),
        ("status" = Option<String>, Query, description = "delivered, failed, blocked, gone, pending..."),
        ("q" = Option<String>, Query, description = "Part of a name or UPN"),
    ),
    responses(
        (status = 200, description = "The recipients as CSV", content_type = "text/csv", body = String),
    ),
    security(("bearer" = []), ("session" = [])),
)]
pub async fn csv(
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
