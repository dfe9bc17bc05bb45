//! Commits outcomes in batches, then acknowledges their messages.
//!
//! Order matters: retry messages are published (and confirmed) first, then
//! the outcomes are committed, then the originals are acked. A crash at any
//! point leaves either the original unacked (redelivered, and skipped if its
//! outcome was committed) or both copies, never neither.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use backon::{BackoffBuilder, ExponentialBuilder};
use herald_domain::NotificationId;
use herald_ops::Metrics;
use herald_queue::{Broker, Incoming, Route, SendMessage, Topology};
use herald_store::{ChangeOutcome, Outcome, Store};
use tokio::sync::mpsc;

use crate::metric;

/// A message whose fate is decided.
pub struct Settled {
    pub incoming: Incoming,
    /// `None` when nothing changes (a duplicate or stale message).
    pub outcome: Option<Outcome>,
    pub retry: Option<(SendMessage, Duration)>,
    /// The whole notification must fail with this message (e.g. 413).
    pub notification_error: Option<(NotificationId, String)>,
    /// How a change of a delivered card went.
    pub change: Option<ChangeOutcome>,
}

impl Settled {
    pub fn skip(incoming: Incoming) -> Self {
        Self {
            incoming,
            outcome: None,
            retry: None,
            notification_error: None,
            change: None,
        }
    }

    pub fn recorded(incoming: Incoming, outcome: Outcome) -> Self {
        Self {
            incoming,
            outcome: Some(outcome),
            retry: None,
            notification_error: None,
            change: None,
        }
    }

    /// A change applied, failed for good, or to be tried again (`retry`).
    pub fn changed(
        incoming: Incoming,
        change: ChangeOutcome,
        retry: Option<(SendMessage, Duration)>,
    ) -> Self {
        Self {
            incoming,
            outcome: None,
            retry,
            notification_error: None,
            change: Some(change),
        }
    }
}

pub struct Recorder {
    pub store: Store,
    pub broker: Arc<Broker>,
    pub metrics: Arc<Metrics>,
    pub batch: usize,
}

impl Recorder {
    pub async fn run(self, mut settled: mpsc::Receiver<Settled>) {
        // Batches take what is already waiting and never wait for more: at
        // low rates each outcome commits at once, which keeps the window
        // between Teams accepting a post and its commit (the only source of
        // duplicates after a crash) as short as one commit.
        while let Some(first) = settled.recv().await {
            let mut items = vec![first];
            while items.len() < self.batch {
                match settled.try_recv() {
                    Ok(item) => items.push(item),
                    Err(_) => break,
                }
            }
            self.commit(items).await;
        }
    }

    async fn commit(&self, items: Vec<Settled>) {
        self.until_done("publishing retries", || self.publish_retries(&items))
            .await;
        let outcomes: Vec<Outcome> = items.iter().filter_map(|i| i.outcome.clone()).collect();
        self.until_done("recording outcomes", || async {
            self.store
                .record_outcomes(&outcomes)
                .await
                .map_err(|e| e.to_string())
        })
        .await;
        for (notification, error) in items.iter().filter_map(|i| i.notification_error.as_ref()) {
            self.until_done("failing a notification", || async {
                self.store
                    .fail_notification(
                        *notification,
                        error,
                        herald_domain::DeliveryReason::MessageSizeTooBig.as_str(),
                    )
                    .await
                    .map(drop)
                    .map_err(|e| e.to_string())
            })
            .await;
        }
        let changes: Vec<ChangeOutcome> = items.iter().filter_map(|i| i.change.clone()).collect();
        self.until_done("recording changes", || async {
            self.store
                .record_changes(&changes)
                .await
                .map_err(|e| e.to_string())
        })
        .await;
        let notifications: Vec<NotificationId> = outcomes
            .iter()
            .map(|o| o.notification)
            .chain(changes.iter().map(|c| c.notification))
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        self.until_done("queueing late changes", || {
            self.queue_late_changes(&notifications)
        })
        .await;
        for item in &items {
            item.incoming.ack().await;
        }
        if let Err(error) = self.store.complete_finished(&notifications).await {
            // The next batch for these notifications completes them.
            tracing::warn!(error = %herald_domain::chain(&error), "cannot check for completed notifications");
        }
        // After the send's own completion: a change completes only once
        // no send posts old cards any more. (The sweep completes any this
        // misses.)
        if let Err(error) = self.store.complete_changes(&notifications).await {
            tracing::warn!(error = %herald_domain::chain(&error), "cannot check for completed changes");
        }
        for outcome in &outcomes {
            self.metrics
                .add(metric::SENDS, &[("outcome", outcome.status.as_str())], 1);
        }
        let skipped = items.iter().filter(|i| i.outcome.is_none()).count();
        if skipped > 0 {
            self.metrics
                .add(metric::SKIPPED_MESSAGES, &[], skipped as u64);
        }
    }

    /// Cards posted in an older version after an edit or recall began get
    /// that change too.
    async fn queue_late_changes(&self, notifications: &[NotificationId]) -> Result<(), String> {
        if notifications.is_empty() {
            return Ok(());
        }
        let late = self
            .store
            .late_changes(notifications)
            .await
            .map_err(|e| e.to_string())?;
        publish_changes(&self.store, &self.broker, &late).await
    }

    async fn publish_retries(&self, items: &[Settled]) -> Result<(), String> {
        let mut tiers: BTreeMap<u64, Vec<SendMessage>> = BTreeMap::new();
        for (message, delay) in items.iter().filter_map(|i| i.retry) {
            tiers
                .entry(Topology::retry_tier(delay))
                .or_default()
                .push(message);
        }
        for (tier, messages) in tiers {
            self.broker
                .publish(Route::Retry(Duration::from_millis(tier)), &messages)
                .await
                .map_err(|e| e.to_string())?;
        }
        Ok(())
    }

    /// Retries a step until it works: acking before it is done could lose
    /// an outcome, and the unacked messages hold back new work meanwhile.
    async fn until_done<F, Fut>(&self, what: &str, step: F)
    where
        F: Fn() -> Fut,
        Fut: std::future::Future<Output = Result<(), String>>,
    {
        let mut delays = ExponentialBuilder::new()
            .with_min_delay(Duration::from_millis(200))
            .with_max_delay(Duration::from_secs(5))
            .with_jitter()
            .without_max_times()
            .build();
        while let Err(error) = step().await {
            tracing::warn!(%error, "{what} failed; trying again");
            tokio::time::sleep(delays.next().unwrap_or(Duration::from_secs(5))).await;
        }
    }
}

/// Publishes change messages for these deliveries, then marks them
/// published (what is not marked, the sweep publishes later).
pub(crate) async fn publish_changes(
    store: &Store,
    broker: &Broker,
    changes: &[(NotificationId, herald_domain::RecipientId, i32)],
) -> Result<(), String> {
    let mut by_notification: BTreeMap<NotificationId, Vec<(herald_domain::RecipientId, i32)>> =
        BTreeMap::new();
    for (notification, recipient, version) in changes {
        by_notification
            .entry(*notification)
            .or_default()
            .push((*recipient, *version));
    }
    for (notification, people) in by_notification {
        let messages: Vec<SendMessage> = people
            .iter()
            .map(|(recipient, version)| SendMessage::change(notification.0, recipient.0, *version))
            .collect();
        broker
            .publish(Route::Send, &messages)
            .await
            .map_err(|e| herald_domain::chain(&e).to_string())?;
        let recipients: Vec<herald_domain::RecipientId> = people.iter().map(|(r, _)| *r).collect();
        store
            .mark_changes_enqueued(notification, &recipients)
            .await
            .map_err(|e| herald_domain::chain(&e).to_string())?;
    }
    Ok(())
}
