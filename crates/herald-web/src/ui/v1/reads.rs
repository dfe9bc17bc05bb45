//! The reports as JSON, under `/api/v1`: what the pages show, with the
//! same filters and the same rule that authors (and sending programs)
//! see their own announcements only.

use actix_web::{HttpResponse, web};
use herald_store::{
    ListedAnnouncement, NotificationRecord, Overview, RecipientLine, TimelinePoint,
};
use serde::Serialize;

use super::Overseer;
use crate::ui::filters::{ListFilter, PAGE_ROWS, RecipientFilter, rows_wanted, split_page};
use crate::ui::live::Snapshot;
use crate::ui::overview::{OVERVIEW_DAYS, RightNow, right_now};
use crate::ui::recipients::recipients_shown;
use crate::ui::session::Author;
use crate::ui::shared::{Page, visible};
use crate::ui::status::progress_of;
use crate::ui::views::iso;
use crate::ui::{Ui, urls};

/// An announcement as every answer names it.
#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Summary<'a> {
    id: String,
    title: &'a str,
    status: &'static str,
    author: &'a str,
    created_at: String,
    updated_at: String,
    scheduled_at: Option<String>,
    send_started_at: Option<String>,
    completed_at: Option<String>,
    audience: Vec<String>,
    links: Links,
}

/// Where the same announcement is for people and for programs.
#[derive(Serialize, utoipa::ToSchema)]
pub struct Links {
    page: String,
    report: String,
    recipients: String,
    csv: String,
}

impl<'a> Summary<'a> {
    pub fn of(record: &'a NotificationRecord) -> Self {
        let id = record.id;
        Self {
            id: id.to_string(),
            title: record.content.title.as_str(),
            status: record.status.as_str(),
            author: record
                .owner
                .as_ref()
                .map_or(record.created_by.as_str(), |(_, name)| name.as_str()),
            created_at: iso(record.created_at),
            updated_at: iso(record.updated_at),
            scheduled_at: record.scheduled_at.map(iso),
            send_started_at: record.send_started_at.map(iso),
            completed_at: record.completed_at.map(iso),
            audience: record.audience.describe(),
            links: Links {
                page: urls::announcement(id),
                report: urls::api_announcement(id),
                recipients: urls::api_recipients(id),
                csv: urls::api_recipients_csv(id),
            },
        }
    }
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct Listed<'a> {
    items: Vec<ListItem<'a>>,
    next: Option<String>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct ListItem<'a> {
    #[serde(flatten)]
    summary: Summary<'a>,
    counts: Counts,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct Counts {
    recipients: i64,
    delivered: i64,
    failed: i64,
    read: i64,
}

impl<'a> ListItem<'a> {
    fn of(listed: &'a ListedAnnouncement) -> Self {
        Self {
            summary: Summary::of(&listed.record),
            counts: Counts {
                recipients: listed.recipients,
                delivered: listed.delivered,
                failed: listed.failed,
                read: listed.record.read,
            },
        }
    }
}

/// The announcements, newest first, a page at a time: an author's (or a
/// sending program's) own, everyone's for admins and reading programs.
#[utoipa::path(
    get,
    path = "/api/v1/announcements",
    tag = "reports",
    params(
        ("q" = Option<String>, Query, description = "Part of the title or the author's name"),
        ("status" = Option<String>, Query, description = "draft, scheduled, preparing, sending, sent, canceled or failed"),
        ("since" = Option<String>, Query, description = "Changed on or after this day (YYYY-MM-DD)"),
        ("until" = Option<String>, Query, description = "Changed on or before this day (YYYY-MM-DD)"),
        ("sort" = Option<String>, Query, description = "A column: title, status, sent, recipients, delivered, failed, read"),
        ("dir" = Option<String>, Query, description = "asc or desc"),
        ("limit" = Option<u32>, Query, description = "Items per page, 1 to 500 (default 50)"),
        ("after" = Option<String>, Query, description = "Where the page starts: the `next` link gives it"),
    ),
    responses(
        (status = 200, description = "A page of announcements", body = Listed),
    ),
    security(("bearer" = []), ("session" = [])),
)]
pub async fn list(
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
    Ok(HttpResponse::Ok().json(Listed {
        items: listed.iter().map(ListItem::of).collect(),
        next: next.map(|after| format!("{}?{}", urls::api_list(), filter.link(Some(&after)))),
    }))
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct Report<'a> {
    #[serde(flatten)]
    summary: Summary<'a>,
    /// As the status page shows it, without its chart.
    progress: &'a Snapshot,
    timeline: &'a [TimelinePoint],
}

/// One announcement and its progress, as its status page shows it.
#[utoipa::path(
    get,
    path = "/api/v1/announcements/{id}",
    tag = "reports",
    params(("id" = String, Path, description = "The announcement's id")),
    responses(
        (status = 200, description = "The announcement and its progress", body = Report),
    ),
    security(("bearer" = []), ("session" = [])),
)]
pub async fn report(Author(staff): Author, ui: web::Data<Ui>, id: web::Path<String>) -> Page {
    let record = visible(&ui, &staff, &id).await?;
    report_of(&ui, &record).await
}

/// The answer `GET /api/v1/announcements/{id}` gives, which creating,
/// sending and changing give too.
pub async fn report_of(ui: &Ui, record: &NotificationRecord) -> Page {
    let mut progress = progress_of(ui, record).await?;
    // Programs draw their own charts; the SVG is the page's.
    progress.chart.clear();
    Ok(HttpResponse::Ok().json(Report {
        summary: Summary::of(record),
        progress: &progress,
        timeline: &progress.timeline,
    }))
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct Recipients<'a> {
    items: &'a [RecipientLine],
    next: Option<String>,
    previous: Option<String>,
}

/// Who got it: one line per recipient, filtered, in keyset pages.
#[utoipa::path(
    get,
    path = "/api/v1/announcements/{id}/recipients",
    tag = "reports",
    params(
        ("id" = String, Path, description = "The announcement's id"),
        ("status" = Option<String>, Query, description = "delivered, failed, blocked, gone, pending..."),
        ("q" = Option<String>, Query, description = "Part of a name or UPN"),
        ("limit" = Option<u32>, Query, description = "Lines per page, 1 to 500 (default 100)"),
        ("after" = Option<String>, Query, description = "The `next` link gives it"),
        ("before" = Option<String>, Query, description = "The `previous` link gives it"),
    ),
    responses(
        (status = 200, description = "A page of recipients", body = Recipients),
    ),
    security(("bearer" = []), ("session" = [])),
)]
pub async fn recipients(
    Author(staff): Author,
    ui: web::Data<Ui>,
    id: web::Path<String>,
    filter: web::Query<RecipientFilter>,
) -> Page {
    let record = visible(&ui, &staff, &id).await?;
    let limit = rows_wanted(&filter.limit, 100)?;
    let shown = recipients_shown(&ui, &record, &filter, limit).await?;
    let link = |query: String| format!("{}?{query}", urls::api_recipients(record.id));
    Ok(HttpResponse::Ok().json(Recipients {
        items: &shown.lines,
        next: shown.next.map(link),
        previous: shown.previous.map(link),
    }))
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct OverviewAnswer {
    days: i64,
    period: Overview,
    now: RightNow,
}

/// The admin overview's figures: the last 30 days, and right now.
#[utoipa::path(
    get,
    path = "/api/v1/overview",
    tag = "reports",
    responses(
        (status = 200, description = "The overview", body = OverviewAnswer),
    ),
    security(("bearer" = []), ("session" = [])),
)]
pub async fn overview(Overseer(_): Overseer, ui: web::Data<Ui>) -> Page {
    let period = ui.store.overview(OVERVIEW_DAYS).await?;
    let now = right_now(&ui).await?;
    Ok(HttpResponse::Ok().json(OverviewAnswer {
        days: OVERVIEW_DAYS,
        period,
        now,
    }))
}
