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
use herald_domain::{DeliveryStatus, NotificationId};
use herald_store::{NotificationRecord, Store, StoreError, TimelinePoint};
use serde::Serialize;
use tokio::sync::watch;
use tokio::time::Instant;

use super::{chart, views};

/// Points of the chart.
const CHART_POINTS: i64 = 60;
/// The send rate is what was delivered in this many past seconds.
const RATE_WINDOW_SECONDS: i64 = 10;
const WHILE_SENDING: Duration = Duration::from_secs(1);
const AFTERWARDS: Duration = Duration::from_secs(5);
/// A comment line now and then keeps proxies from closing a quiet stream.
const KEEP_ALIVE: Duration = Duration::from_secs(15);
/// Streams end after this long; the browser reconnects by itself, which
/// checks the session again.
const STREAM_LIFETIME: Duration = Duration::from_secs(600);

/// An announcement's progress, as the status page, its events and the
/// JSON API show it.
#[derive(Debug, Clone, Serialize)]
pub struct Snapshot {
    pub id: String,
    pub status: &'static str,
    pub status_label: String,
    /// Recipients known so far (the audience grows while it is prepared).
    pub total: i64,
    /// Recipients with a final status.
    pub finished: i64,
    /// `finished` of `total`, in whole percent (100 only when all are).
    pub percent: i64,
    pub counts: Vec<StatusCount>,
    pub delivered: i64,
    pub read: i64,
    pub acknowledged: i64,
    /// Deliveries per second over the last few seconds.
    pub rate: f64,
    pub seconds_left: Option<u64>,
    pub time_left: Option<String>,
    /// The announcement has finished sending.
    pub done: bool,
    /// The chart, as SVG markup made by `chart::progress`.
    pub chart: String,
    #[serde(skip)]
    pub timeline: Vec<TimelinePoint>,
}

#[derive(Debug, Clone, Serialize)]
pub struct StatusCount {
    pub status: &'static str,
    pub count: i64,
}

/// Reads an announcement's progress; `None` when it does not exist.
pub async fn snapshot(store: &Store, id: NotificationId) -> Result<Option<Snapshot>, StoreError> {
    Ok(read(store, id).await?.map(|(_, snapshot)| snapshot))
}

/// The announcement as read with its progress, and the progress.
async fn read(
    store: &Store,
    id: NotificationId,
) -> Result<Option<(NotificationRecord, Snapshot)>, StoreError> {
    let Some(progress) = store.progress(id).await? else {
        return Ok(None);
    };
    let rate = store.recent_rate(Some(id), RATE_WINDOW_SECONDS).await?;
    let timeline = store.timeline(id, CHART_POINTS).await?;
    let record = &progress.notification;
    let total = progress.total();
    let unfinished = progress.unfinished();
    let finished = total - unfinished;
    let done = record.status.is_final();
    let seconds_left = (!done && rate > 0.0).then(|| (unfinished as f64 / rate).ceil() as u64);
    let snapshot = Snapshot {
        id: id.to_string(),
        status: record.status.as_str(),
        status_label: views::status_text(record),
        total,
        finished,
        percent: percent(finished, total),
        counts: DeliveryStatus::ALL
            .iter()
            .map(|s| StatusCount {
                status: s.as_str(),
                count: progress.count(*s),
            })
            .filter(|c| c.count > 0)
            .collect(),
        delivered: progress.count(DeliveryStatus::Delivered),
        read: record.read,
        acknowledged: record.acknowledged,
        rate: (rate * 10.0).round() / 10.0,
        seconds_left,
        time_left: seconds_left.map(|s| views::duration(s as f64)),
        done,
        chart: chart::progress(&timeline, total),
        timeline,
    };
    Ok(Some((progress.notification, snapshot)))
}

/// Whole percent, rounded down, so 100 means every recipient is final.
fn percent(finished: i64, total: i64) -> i64 {
    if total == 0 {
        0
    } else {
        finished * 100 / total
    }
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
    feeds: Mutex<HashMap<NotificationId, Watched>>,
    /// True once the server stops: every stream ends.
    closing: watch::Sender<bool>,
}

impl Live {
    pub fn new(store: Store) -> Arc<Self> {
        Arc::new(Self {
            store,
            feeds: Mutex::new(HashMap::new()),
            closing: watch::Sender::new(false),
        })
    }

    pub fn close(&self) {
        self.closing.send_replace(true);
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
            let pause = match read(&self.store, id).await {
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
                    tracing::warn!(%error, notification = %id, "cannot read progress");
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
    use super::percent;

    #[test]
    fn a_hundred_percent_means_every_recipient_is_final() {
        assert_eq!(percent(0, 0), 0);
        assert_eq!(percent(4_999, 5_000), 99);
        assert_eq!(percent(5_000, 5_000), 100);
    }
}
