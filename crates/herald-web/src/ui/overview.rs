//! The admin overview: the last weeks' sends, and what is moving now.

use actix_web::web;

use super::error::UiError;
use super::session::Admin;
use super::shared::{Page, html};
use super::views::{Chrome, OverviewPage};
use super::{Ui, chart};

/// The overview's period.
pub(super) const OVERVIEW_DAYS: i64 = 30;

pub async fn page(Admin(staff): Admin, ui: web::Data<Ui>) -> Page {
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

/// The queues and the send rate this moment, as `/metrics` reports them.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct RightNow {
    /// `None` when the broker does not answer.
    pub send_queue: Option<u32>,
    pub prepare_queue: Option<u32>,
    pub rate: f64,
}

pub(super) async fn right_now(ui: &Ui) -> Result<RightNow, UiError> {
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
