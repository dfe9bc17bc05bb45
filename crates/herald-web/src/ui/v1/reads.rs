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
#[derive(Serialize)]
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
#[derive(Serialize)]
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

#[derive(Serialize)]
struct Listed<'a> {
    items: Vec<ListItem<'a>>,
    next: Option<String>,
}

#[derive(Serialize)]
struct ListItem<'a> {
    #[serde(flatten)]
    summary: Summary<'a>,
    counts: Counts,
}

#[derive(Serialize)]
struct Counts {
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

/// `GET /api/v1/announcements`: the list, a page at a time.
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

#[derive(Serialize)]
struct Report<'a> {
    #[serde(flatten)]
    summary: Summary<'a>,
    /// As the status page shows it, without its chart.
    progress: &'a Snapshot,
    timeline: &'a [TimelinePoint],
}

/// `GET /api/v1/announcements/{id}`: one announcement and its progress.
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

#[derive(Serialize)]
struct Recipients<'a> {
    items: &'a [RecipientLine],
    next: Option<String>,
    previous: Option<String>,
}

/// `GET /api/v1/announcements/{id}/recipients`: who got it, a page at a time.
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

#[derive(Serialize)]
struct OverviewAnswer {
    days: i64,
    period: Overview,
    now: RightNow,
}

/// `GET /api/v1/overview`: the admin overview's figures.
pub async fn overview(Overseer(_): Overseer, ui: web::Data<Ui>) -> Page {
    let period = ui.store.overview(OVERVIEW_DAYS).await?;
    let now = right_now(&ui).await?;
    Ok(HttpResponse::Ok().json(OverviewAnswer {
        days: OVERVIEW_DAYS,
        period,
        now,
    }))
}
