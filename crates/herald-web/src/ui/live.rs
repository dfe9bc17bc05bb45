//! Live progress for the status page. However many people watch an
//! announcement, each web process reads its progress once a second (every
//! five once it has finished and only reads and acknowledgements still
//! come), and every watcher's server-sent events stream forwards the same
//! ready-made JSON. No watcher ever causes a query of its own.

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use actix_web::web::Bytes;
use futures_util::Stream;
use herald_domain::{DeliveryStatus, NotificationId, NotificationStatus};
use herald_store::{NotificationRecord, Store, StoreError, TimelinePoint};
use serde::Serialize;
use time::OffsetDateTime;
use tokio::sync::watch;
use tokio::time::Instant;

use super::viewer::Viewer;
use super::{chart, views};

/// Points of the chart.
const CHART_POINTS: i64 = 60;
/// The send rate is averaged over about a quarter of the time the whole
/// send should take at the tenant's rate, within these bounds: long
/// enough to smooth a second's jitter, short enough to follow a big send
/// that slows down.
const RATE_WINDOW_SECONDS: std::ops::RangeInclusive<i64> = 2..=30;
const WHILE_SENDING: Duration = Duration::from_secs(1);
const AFTERWARDS: Duration = Duration::from_secs(5);
/// A comment line now and then keeps proxies from closing a quiet stream.
const KEEP_ALIVE: Duration = Duration::from_secs(15);
/// Streams end after this long; the browser reconnects by itself, which
/// checks the session again.
const STREAM_LIFETIME: Duration = Duration::from_secs(600);

/// An announcement's progress, as the status page, its events and the
/// JSON API show it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Snapshot {
    pub id: String,
    pub status: &'static str,
    pub status_label: String,
    /// Recipients known so far (the audience grows while it is prepared).
    pub total: i64,
    /// Recipients with a final status.
    pub finished: i64,
    /// What the bar shows, in whole percent: `finished` of `total` (100
    /// only when all are), or, once canceled, `delivered` of `total`.
    pub percent: i64,
    /// The bar in words, for screen readers.
    pub bar_text: String,
    /// How it ended early, in a sentence: "Canceled at ... by ...: 388 got
    /// it, 2,453 did not". `None` unless canceled.
    pub ended: Option<String>,
    /// The same in parts, for the page's script to write in the reader's
    /// zone and locale.
    pub canceled: Option<Canceled>,
    pub counts: Vec<StatusCount>,
    pub delivered: i64,
    pub read: i64,
    pub acknowledged: i64,
    /// Deliveries per second, measured while it sends; `None` otherwise.
    pub rate: Option<f64>,
    /// `rate` as shown: "12.5/s".
    pub rate_text: Option<String>,
    pub seconds_left: Option<u64>,
    pub time_left: Option<String>,
    /// The announcement has finished sending.
    pub done: bool,
    /// The chart, as SVG markup made by `chart::progress`; left out when
    /// empty (the JSON API clears it).
    #[serde(skip_serializing_if = "String::is_empty")]
    #[schema(required = false)]
    pub chart: String,
    #[serde(skip)]
    pub timeline: Vec<TimelinePoint>,
    /// The latest edit or recall, as it reaches people.
    pub change: Option<ChangeProgress>,
}

/// How far the latest edit or recall has got.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ChangeProgress {
    /// "Updating", "Recalling", "Withdrawing".
    pub doing: &'static str,
    /// Cards changed or failed, of `total`.
    pub done: i64,
    pub total: i64,
    pub percent: i64,
    /// "38 updated, 2 failed".
    pub outcome: String,
    pub complete: bool,
    /// A recall or a withdrawal: the badge says "Recalled" from then on.
    pub taken_back: bool,
}

impl ChangeProgress {
    async fn read(store: &Store, record: &NotificationRecord) -> Result<Option<Self>, StoreError> {
        if record.version == 1 {
            return Ok(None);
        }
        let Some(change) = store.change(record.id, record.version).await? else {
            return Ok(None);
        };
        let counts = store.change_counts(record.id).await?;
        let total: i64 = counts.iter().map(|(_, n)| n).sum();
        let waiting: i64 = counts
            .iter()
            .filter(|(s, _)| *s == herald_domain::ChangeStatus::Queued)
            .map(|(_, n)| n)
            .sum();
        let outcome: Vec<String> = counts
            .iter()
            .filter(|(_, n)| *n > 0)
            .map(|(status, n)| format!("{} {}", views::number(*n), status.as_str()))
            .collect();
        Ok(Some(Self {
            doing: match change.kind {
                herald_domain::ChangeKind::Edit => "Updating",
                herald_domain::ChangeKind::Recall => "Recalling",
                herald_domain::ChangeKind::Withdraw => "Withdrawing",
            },
            done: total - waiting,
            total,
            percent: percent(total - waiting, total),
            outcome: outcome.join(", "),
            complete: change.completed_at.is_some(),
            taken_back: change.kind.takes_back(),
        }))
    }
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct StatusCount {
    pub status: &'static str,
    pub count: i64,
}

/// The announcement as read with its progress, and the progress.
/// `tenant_rate` is the send rate Herald keeps to, which says how long
/// the rest takes until a rate is measured.
async fn read(
    store: &Store,
    tenant_rate: f64,
    id: NotificationId,
) -> Result<Option<(NotificationRecord, Snapshot)>, StoreError> {
    let Some(progress) = store.progress(id).await? else {
        return Ok(None);
    };
    let timeline = store.timeline(id, CHART_POINTS).await?;
    let record = &progress.notification;
    let total = progress.total();
    let unfinished = progress.unfinished();
    let finished = total - unfinished;
    let delivered = progress.count(DeliveryStatus::Delivered);
    let sending = matches!(
        record.status,
        NotificationStatus::Preparing | NotificationStatus::Sending
    );
    let rate = if sending {
        measured_rate(store, record, total, tenant_rate).await?
    } else {
        None
    };
    let seconds_left = sending
        .then(|| seconds_left(unfinished, rate, tenant_rate))
        .flatten();
    let canceled = canceled(record, delivered, progress.count(DeliveryStatus::Canceled));
    let percent = if canceled.is_some() {
        percent(delivered, total)
    } else {
        percent(finished, total)
    };
    let shown_rate = rate.filter(|r| *r > 0.0).map(|r| (r * 10.0).round() / 10.0);
    let mut snapshot = Snapshot {
        id: id.to_string(),
        status: record.status.as_str(),
        status_label: String::new(),
        total,
        finished,
        percent,
        bar_text: String::new(),
        ended: None,
        canceled,
        counts: DeliveryStatus::ALL
            .iter()
            .map(|s| StatusCount {
                status: s.as_str(),
                count: progress.count(*s),
            })
            .filter(|c| c.count > 0)
            .collect(),
        delivered,
        read: record.read,
        acknowledged: record.acknowledged,
        rate: shown_rate,
        rate_text: None,
        seconds_left,
        time_left: seconds_left.map(|s| views::duration(s as f64)),
        done: record.status.is_final(),
        chart: String::new(),
        timeline,
        change: ChangeProgress::read(store, record).await?,
    };
    // Still changing cards: the page keeps following.
    snapshot.done &= snapshot.change.as_ref().is_none_or(|c| c.complete);
    snapshot.write_for_reader(record);
    Ok(Some((progress.notification, snapshot)))
}

/// Deliveries per second over the window that fits the send's size,
/// counting only whole seconds since the first delivery (a send two
/// seconds old is not averaged over ten); `None` before a whole second
/// has passed.
async fn measured_rate(
    store: &Store,
    record: &NotificationRecord,
    total: i64,
    tenant_rate: f64,
) -> Result<Option<f64>, StoreError> {
    let Some(first) = record.first_delivery_at else {
        return Ok(None);
    };
    let since_first = (OffsetDateTime::now_utc() - first).whole_seconds();
    let seconds = rate_window(total, tenant_rate).min(since_first);
    if seconds < 1 {
        return Ok(None);
    }
    Ok(Some(store.recent_rate(Some(record.id), seconds).await?))
}

/// A quarter of how long `total` deliveries take at the tenant's rate,
/// in whole seconds within `RATE_WINDOW_SECONDS`.
fn rate_window(total: i64, tenant_rate: f64) -> i64 {
    let expected = total as f64 / tenant_rate.max(0.1);
    ((expected / 4.0) as i64).clamp(*RATE_WINDOW_SECONDS.start(), *RATE_WINDOW_SECONDS.end())
}

/// Time for what is left at the measured rate, or at the tenant's until
/// one is measured; `None` when nothing is left or it stands still.
fn seconds_left(unfinished: i64, measured: Option<f64>, tenant_rate: f64) -> Option<u64> {
    let rate = measured.unwrap_or(tenant_rate);
    (unfinished > 0 && rate > 0.0).then(|| (unfinished as f64 / rate).ceil() as u64)
}

/// How a canceled announcement ended: when, by whom, who got it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Canceled {
    #[serde(with = "time::serde::rfc3339::option")]
    pub at: Option<OffsetDateTime>,
    pub by: Option<String>,
    pub got_it: i64,
    pub did_not: i64,
}

impl Canceled {
    /// "Canceled at 3 Dec 2026 07:40 CET by Joni Vance: 388 got it, 2,453
    /// did not.", in the reader's zone and locale (`app.js` writes the same).
    pub fn sentence(&self) -> String {
        let at = self
            .at
            .map(|at| format!(" at {}", views::when(at)))
            .unwrap_or_default();
        let by = self
            .by
            .as_deref()
            .map(|name| format!(" by {name}"))
            .unwrap_or_default();
        if self.got_it == 0 && self.did_not == 0 {
            format!("Canceled{at}{by} before it was sent.")
        } else {
            format!(
                "Canceled{at}{by}: {} got it, {} did not.",
                views::number(self.got_it),
                views::number(self.did_not)
            )
        }
    }
}

fn canceled(record: &NotificationRecord, delivered: i64, canceled: i64) -> Option<Canceled> {
    (record.status == NotificationStatus::Canceled).then(|| Canceled {
        at: record.completed_at,
        by: record.canceled_by.clone(),
        got_it: delivered,
        did_not: canceled,
    })
}

impl Snapshot {
    /// Writes the words, times and numbers for whoever reads it now: the
    /// poller writes them in UTC for every watcher at once (`app.js`
    /// rewrites them), the status page again for its reader.
    pub fn write_for_reader(&mut self, record: &NotificationRecord) {
        let viewer = Viewer::current();
        self.status_label = if self.change.as_ref().is_some_and(|c| c.taken_back) {
            "Recalled".to_owned()
        } else {
            views::status_text(record)
        };
        self.ended = self.canceled.as_ref().map(Canceled::sentence);
        self.bar_text = if self.canceled.is_some() {
            format!(
                "{} % delivered: {} of {} recipients got it",
                self.percent,
                viewer.number(self.delivered),
                viewer.number(self.total)
            )
        } else {
            format!(
                "{} %: {} of {} recipients done",
                self.percent,
                viewer.number(self.finished),
                viewer.number(self.total)
            )
        };
        self.rate_text = self.rate.map(|r| format!("{}/s", viewer.decimal(r, 1)));
        self.chart = chart::progress(
            &self.timeline,
            self.total,
            record.content.acknowledgement_required,
        );
    }
}

/// Whole percent, rounded down, so 100 means every recipient is counted.
fn percent(part: i64, total: i64) -> i64 {
    if total == 0 { 0 } else { part * 100 / total }
}

/// The latest progress of one announcement, and as event-stream text.
struct Frame {
    record: NotificationRecord,
    snapshot: Snapshot,
    json: String,
    /// When the read began: a change made after it is not in it.
    read_at: Instant,
    /// Until the poller reads the next one.
    fresh_until: Instant,
}

type Feed = watch::Receiver<Option<Arc<Frame>>>;

/// A watched announcement: its feed, and when this process last changed
/// it (which makes frames read before then stale).
struct Watched {
    feed: Feed,
    changed_at: Option<Instant>,
}

/// One poller per watched announcement, shared by its watchers.
pub struct Live {
    store: Store,
    /// The tenant's send rate, for the time left before one is measured.
    tenant_rate: f64,
    feeds: Mutex<HashMap<NotificationId, Watched>>,
    /// True once the server stops: every stream ends.
    closing: watch::Sender<bool>,
}

impl Live {
    pub fn new(store: Store, tenant_rate: f64) -> Arc<Self> {
        Arc::new(Self {
            store,
            tenant_rate,
            feeds: Mutex::new(HashMap::new()),
            closing: watch::Sender::new(false),
        })
    }

    pub fn close(&self) {
        self.closing.send_replace(true);
    }

    /// Reads an announcement's progress; `None` when it does not exist.
    pub async fn snapshot(&self, id: NotificationId) -> Result<Option<Snapshot>, StoreError> {
        Ok(read(&self.store, self.tenant_rate, id)
            .await?
            .map(|(_, snapshot)| snapshot))
    }

    /// The event stream of an announcement's progress.
    pub fn events(
        self: &Arc<Self>,
        id: NotificationId,
    ) -> impl Stream<Item = Result<Bytes, Infallible>> + use<> {
        let until = Instant::now() + STREAM_LIFETIME;
        stream(self.subscribe(id), self.closing.subscribe(), until)
    }

    /// The announcement and its progress as a watched announcement's
    /// poller read them last, while that is not older than the poller's
    /// own pace and this process has not changed the announcement since:
    /// a status page opened beside watchers needs no query for either.
    pub fn latest(&self, id: NotificationId) -> Option<(NotificationRecord, Snapshot)> {
        let feeds = self.feeds_locked();
        let watched = feeds.get(&id)?;
        let frame = watched.feed.borrow().clone()?;
        let current = Instant::now() < frame.fresh_until
            && watched.changed_at.is_none_or(|at| at < frame.read_at);
        current.then(|| (frame.record.clone(), frame.snapshot.clone()))
    }

    /// This process has just changed the announcement (canceled it, say):
    /// what was read before is not shown as current.
    pub fn changed(&self, id: NotificationId) {
        if let Some(watched) = self.feeds_locked().get_mut(&id) {
            watched.changed_at = Some(Instant::now());
        }
    }

    fn feeds_locked(&self) -> std::sync::MutexGuard<'_, HashMap<NotificationId, Watched>> {
        self.feeds.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn subscribe(self: &Arc<Self>, id: NotificationId) -> Feed {
        let mut feeds = self.feeds_locked();
        if let Some(watched) = feeds.get(&id) {
            return watched.feed.clone();
        }
        let (sender, feed) = watch::channel(None);
        feeds.insert(
            id,
            Watched {
                feed: feed.clone(),
                changed_at: None,
            },
        );
        tokio::spawn(Arc::clone(self).poll(id, sender));
        feed
    }

    async fn poll(self: Arc<Self>, id: NotificationId, sender: watch::Sender<Option<Arc<Frame>>>) {
        loop {
            let read_at = Instant::now();
            let pause = match read(&self.store, self.tenant_rate, id).await {
                Ok(Some((record, snapshot))) => {
                    let json = serde_json::to_string(&snapshot).unwrap_or_default();
                    let pause = if snapshot.done {
                        AFTERWARDS
                    } else {
                        WHILE_SENDING
                    };
                    let fresh_until = Instant::now() + pause;
                    sender.send_replace(Some(Arc::new(Frame {
                        record,
                        snapshot,
                        json,
                        read_at,
                        fresh_until,
                    })));
                    pause
                }
                Ok(None) => break,
                Err(error) => {
                    tracing::warn!(error = %herald_domain::chain(&error), notification = %id, "cannot read progress");
                    AFTERWARDS
                }
            };
            tokio::time::sleep(pause).await;
            // Checked under the lock, so no one subscribes to a feed that
            // is about to end. The map holds one receiver itself.
            let mut feeds = self.feeds_locked();
            if sender.receiver_count() <= 1 {
                feeds.remove(&id);
                return;
            }
        }
        self.feeds_locked().remove(&id);
    }
}

/// Each new frame as a `progress` event, the first at once, until the
/// stream's time is up or the server stops.
fn stream(
    feed: Feed,
    closing: watch::Receiver<bool>,
    until: Instant,
) -> impl Stream<Item = Result<Bytes, Infallible>> {
    let state = (feed, closing, true);
    futures_util::stream::unfold(state, move |(mut feed, mut closing, first)| async move {
        if Instant::now() >= until || *closing.borrow() {
            return None;
        }
        if !(first && feed.borrow().is_some()) {
            let quiet = tokio::select! {
                changed = feed.changed() => { changed.ok()?; false }
                _ = closing.wait_for(|closed| *closed) => return None,
                _ = tokio::time::sleep(KEEP_ALIVE) => true,
            };
            if quiet {
                let comment = Bytes::from_static(b": still here\n\n");
                return Some((Ok(comment), (feed, closing, false)));
            }
        }
        let frame = feed.borrow_and_update().clone()?;
        let retry = if first { "retry: 2000\n" } else { "" };
        let text = format!("{retry}event: progress\ndata: {}\n\n", frame.json);
        Some((Ok(Bytes::from(text)), (feed, closing, false)))
    })
}

#[cfg(test)]
mod tests {
    use super::{percent, rate_window, seconds_left};

    #[test]
    fn the_rate_window_fits_the_send() {
        // 200 people at 20/s take 10 s: a 2 s window.
        assert_eq!(rate_window(200, 20.0), 2);
        // 5,000 at 300/s take 17 s: 4 s.
        assert_eq!(rate_window(5_000, 300.0), 4);
        // 100,000 at 100/s take 17 minutes: at most 30 s.
        assert_eq!(rate_window(100_000, 100.0), 30);
    }

    #[test]
    fn time_left_is_at_the_tenant_rate_until_one_is_measured() {
        // An 11-second send at its start: 11 s, not minutes.
        assert_eq!(seconds_left(3_300, None, 300.0), Some(11));
        assert_eq!(seconds_left(3_300, Some(100.0), 300.0), Some(33));
        assert_eq!(seconds_left(3_300, Some(0.0), 300.0), None);
        assert_eq!(seconds_left(0, None, 300.0), None);
    }

    #[test]
    fn a_hundred_percent_means_every_recipient_is_final() {
        assert_eq!(percent(0, 0), 0);
        assert_eq!(percent(4_999, 5_000), 99);
        assert_eq!(percent(5_000, 5_000), 100);
    }
}
