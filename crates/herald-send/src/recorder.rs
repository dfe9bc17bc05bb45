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
use herald_store::{Outcome, Store};
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
}

impl Settled {
    pub fn skip(incoming: Incoming) -> Self {
        Self {
            incoming,
            outcome: None,
            retry: None,
            notification_error: None,
        }
    }

    pub fn recorded(incoming: Incoming, outcome: Outcome) -> Self {
        Self {
            incoming,
            outcome: Some(outcome),
            retry: None,
            notification_error: None,
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
        for item in &items {
            item.incoming.ack().await;
        }
        let notifications: Vec<NotificationId> = outcomes
            .iter()
            .map(|o| o.notification)
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        if let Err(error) = self.store.complete_finished(&notifications).await {
            // The next batch for these notifications completes them.
            tracing::warn!(%error, "cannot check for completed notifications");
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
