//! The send-worker's loop: batches of messages in, one task per post.

use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use herald_domain::{
    DeliveryReason, DeliveryStatus, NotificationId, NotificationStatus, RecipientId, build_activity,
};
use herald_microsoft::{BotConnector, Limit, SendFailure, Throttles};
use herald_ops::Metrics;
use herald_queue::{Broker, Incoming, SendMessage};
use herald_store::{SendTarget, Store};
use tokio::sync::{Semaphore, mpsc, watch};
use tracing::Instrument;

use crate::metric;
use crate::outcome::{Attempt, Decision};
use crate::recorder::{Recorder, Settled};

#[derive(Debug, Clone)]
pub struct SendSettings {
    /// Teams' limit per app and tenant (50/s).
    pub tenant_rate: f64,
    /// Share of the limit left unused, so jitter never crosses it.
    pub headroom: f64,
    /// Attempts per delivery before it fails.
    pub max_attempts: u32,
    /// Posts in flight at once per worker.
    pub concurrency: usize,
    /// Unacknowledged messages per worker.
    pub prefetch: u16,
    /// Outcomes committed per transaction.
    pub batch: usize,
}

impl Default for SendSettings {
    fn default() -> Self {
        Self {
            tenant_rate: 50.0,
            headroom: 0.03,
            max_attempts: 6,
            concurrency: 256,
            prefetch: 500,
            batch: 200,
        }
    }
}

struct Card {
    activity: Arc<str>,
    status: NotificationStatus,
    /// The announcement's version the activity shows: an edit makes the
    /// next, and the card is built again.
    version: i32,
}

pub struct SendWorker {
    pub(crate) store: Store,
    broker: Arc<Broker>,
    pub(crate) connector: Arc<BotConnector>,
    pub(crate) settings: SendSettings,
    metrics: Arc<Metrics>,
    /// One per tenant, their rates shared with the other send-workers.
    pub(crate) throttles: Arc<Throttles>,
    cards: Mutex<HashMap<NotificationId, Card>>,
    pub(crate) in_flight: Arc<Semaphore>,
}

impl SendWorker {
    pub fn new(
        store: Store,
        broker: Arc<Broker>,
        connector: Arc<BotConnector>,
        throttles: Arc<Throttles>,
        settings: SendSettings,
        metrics: Arc<Metrics>,
    ) -> Arc<Self> {
        metrics.describe(metric::SENDS, "Deliveries recorded, by outcome.");
        metrics.describe(metric::THROTTLED, "429 answers from the Bot Connector.");
        metrics.describe(metric::QUEUE_DEPTH, "Messages waiting in a queue.");
        Arc::new(Self {
            in_flight: Arc::new(Semaphore::new(settings.concurrency.max(1))),
            throttles,
            store,
            broker,
            connector,
            settings,
            metrics,
            cards: Mutex::new(HashMap::new()),
        })
    }

    /// The tenant's Bot Connector limit (teams-platform.md §3), which
    /// posts, updates and deletes share.
    pub(crate) fn limit(&self, tenant: &str) -> Limit {
        let limit = self.settings.tenant_rate;
        Limit {
            key: format!("send:{tenant}"),
            limit,
            ceiling: limit * (1.0 - self.settings.headroom),
        }
    }

    /// Runs until `shutdown` turns true, then finishes the posts in flight
    /// and commits their outcomes before returning.
    pub async fn run(self: Arc<Self>, mut shutdown: watch::Receiver<bool>) {
        let coordinator = tokio::spawn(self.clone().coordinate());
        let mut subscription = self
            .broker
            .subscribe(self.broker.topology().send_queue(), self.settings.prefetch);
        let (settled, receiver) = mpsc::channel(usize::from(self.settings.prefetch) * 2);
        let recorder = Recorder {
            store: self.store.clone(),
            broker: self.broker.clone(),
            metrics: self.metrics.clone(),
            batch: self.settings.batch,
        };
        let recording = tokio::spawn(recorder.run(receiver));
        loop {
            let first = tokio::select! {
                // A stop comes first: with messages waiting too, an unbiased
                // select would go on taking new work half of the time.
                biased;
                _ = shutdown.wait_for(|stop| *stop) => break,
                next = subscription.next() => match next { Some(first) => first, None => break },
            };
            let mut batch = vec![first];
            while batch.len() < self.settings.batch {
                match subscription.try_next() {
                    Some(next) => batch.push(next),
                    None => break,
                }
            }
            self.dispatch(batch, &settled).await;
        }
        // Let the posts in flight finish and their outcomes commit before the
        // connection (and with it the unacked messages) goes.
        let _all = self
            .in_flight
            .acquire_many(self.settings.concurrency as u32)
            .await;
        drop(settled);
        let _ = recording.await;
        coordinator.abort();
        // Closed, not dropped: the connection must be gone cleanly before
        // the process exits (see herald-queue's `consume_once`).
        subscription.close().await;
    }

    async fn dispatch(self: &Arc<Self>, batch: Vec<Incoming>, settled: &mpsc::Sender<Settled>) {
        tracing::debug!(messages = batch.len(), "dispatching");
        let mut groups: HashMap<NotificationId, Vec<(SendMessage, Incoming)>> = HashMap::new();
        for incoming in batch {
            match serde_json::from_slice::<SendMessage>(&incoming.data) {
                Ok(message) => groups
                    .entry(NotificationId(message.notification))
                    .or_default()
                    .push((message, incoming)),
                Err(error) => {
                    tracing::error!(error = %herald_domain::chain(&error), "undecodable send message; dead-lettering it");
                    incoming.dead_letter().await;
                }
            }
        }
        for (notification, messages) in groups {
            let (changes, posts): (Vec<_>, Vec<_>) =
                messages.into_iter().partition(|(m, _)| m.change.is_some());
            if !changes.is_empty()
                && let Err(error) = self.dispatch_changes(notification, changes, settled).await
            {
                tracing::warn!(%notification, error = %herald_domain::chain(&error), "cannot read the change; the messages come back");
            }
            if posts.is_empty() {
                continue;
            }
            if let Err(error) = self.dispatch_group(notification, posts, settled).await {
                tracing::warn!(%notification, error = %herald_domain::chain(&error), "cannot read deliveries; the messages come back");
            }
        }
    }

    async fn dispatch_group(
        self: &Arc<Self>,
        notification: NotificationId,
        messages: Vec<(SendMessage, Incoming)>,
        settled: &mpsc::Sender<Settled>,
    ) -> Result<(), herald_store::StoreError> {
        let card = match self.card(notification).await {
            Ok(card) => card,
            Err(error) => {
                requeue(messages).await;
                return Err(error);
            }
        };
        let (messages, duplicates) = newest_per_recipient(messages);
        for incoming in duplicates {
            if settled.send(Settled::skip(incoming)).await.is_err() {
                return Ok(());
            }
        }
        let ids: Vec<RecipientId> = messages
            .iter()
            .map(|(m, _)| RecipientId(m.recipient))
            .collect();
        let targets: HashMap<RecipientId, SendTarget> =
            match self.store.send_targets(notification, &ids).await {
                Ok(targets) => targets.into_iter().map(|t| (t.recipient, t)).collect(),
                Err(error) => {
                    requeue(messages).await;
                    return Err(error);
                }
            };
        for (message, incoming) in messages {
            let target = targets.get(&RecipientId(message.recipient));
            let item = match (card.as_ref(), target) {
                (Some(card), Some(target)) => {
                    self.decide(card.clone(), message, target, incoming, settled)
                        .await
                }
                // The notification or its delivery row is gone: nothing to send.
                _ => Some(Settled::skip(incoming)),
            };
            if let Some(item) = item
                && settled.send(item).await.is_err()
            {
                return Ok(());
            }
        }
        Ok(())
    }

    /// Settles a message at once, or hands it to a posting task (`None`).
    async fn decide(
        self: &Arc<Self>,
        (activity, version): (Arc<str>, i32),
        message: SendMessage,
        target: &SendTarget,
        incoming: Incoming,
        settled: &mpsc::Sender<Settled>,
    ) -> Option<Settled> {
        let recorded = target.attempts.max(0) as u32;
        // Final, or an older copy of a message that was retried since.
        if target.status.is_final() || message.attempt < recorded {
            tracing::debug!(status = %target.status, "duplicate or stale message; skipping it");
            return Some(Settled::skip(incoming));
        }
        let attempt = Attempt {
            notification: NotificationId(message.notification),
            recipient: target.recipient,
            previous: recorded.max(message.attempt),
            version,
        };
        if self.is_stopped(attempt.notification) {
            return Some(Settled::recorded(
                incoming,
                attempt.without_sending(DeliveryStatus::Canceled, None),
            ));
        }
        let (Some(conversation), Some(service_url)) =
            (target.conversation_id.clone(), target.service_url.clone())
        else {
            return Some(Settled::recorded(
                incoming,
                attempt
                    .without_sending(DeliveryStatus::Failed, Some(DeliveryReason::NoConversation)),
            ));
        };
        let permit = self.in_flight.clone().acquire_owned().await.ok()?;
        let worker = self.clone();
        let tenant = target.tenant_id.clone();
        let span = tracing::info_span!("send", notification = %attempt.notification, recipient = %attempt.recipient, attempt = attempt.previous);
        let settled = settled.clone();
        tokio::spawn(
            async move {
                let item = worker
                    .post(
                        attempt,
                        message,
                        &tenant,
                        &service_url,
                        &conversation,
                        &activity,
                        incoming,
                    )
                    .await;
                let _ = settled.send(item).await;
                drop(permit);
            }
            .instrument(span),
        );
        None
    }

    #[allow(clippy::too_many_arguments)]
    async fn post(
        &self,
        attempt: Attempt,
        message: SendMessage,
        tenant: &str,
        service_url: &str,
        conversation: &str,
        activity: &str,
        incoming: Incoming,
    ) -> Settled {
        let throttle = self.throttles.get(&self.limit(tenant));
        throttle.acquire().await;
        if !incoming.is_live() {
            // The broker took the message back when the connection dropped
            // and redelivers it; posting now would send it twice.
            return Settled::skip(incoming);
        }
        if self.is_stopped(attempt.notification) {
            return Settled::recorded(
                incoming,
                attempt.without_sending(DeliveryStatus::Canceled, None),
            );
        }
        let failure = match self
            .connector
            .send(service_url, conversation, activity)
            .await
        {
            Ok(activity_id) => return Settled::recorded(incoming, attempt.delivered(activity_id)),
            Err(failure) => failure,
        };
        tracing::debug!(%failure, "send failed");
        if let SendFailure::Throttled { retry_after } = &failure {
            // The rate sharing tells the other workers about a new event.
            throttle.throttled(retry_after.unwrap_or(Duration::from_secs(1)));
            self.metrics.add(metric::THROTTLED, &[], 1);
        }
        let notification_error = matches!(failure, SendFailure::TooLarge { .. }).then(|| {
            (
                attempt.notification,
                format!(
                    "Teams refused the message as too large ({failure}); shorten it and send again"
                ),
            )
        });
        match attempt.failed(&failure, self.settings.max_attempts) {
            Decision::Final(outcome) => Settled {
                incoming,
                outcome: Some(outcome),
                retry: None,
                notification_error,
                change: None,
            },
            Decision::Retry { outcome, delay } => {
                let retry = SendMessage {
                    attempt: attempt.previous + 1,
                    ..message
                };
                Settled {
                    incoming,
                    outcome: Some(outcome),
                    retry: Some((retry, delay)),
                    notification_error,
                    change: None,
                }
            }
        }
    }

    pub(crate) fn is_stopped(&self, notification: NotificationId) -> bool {
        self.cards
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&notification)
            .is_some_and(|c| {
                matches!(
                    c.status,
                    NotificationStatus::Canceled | NotificationStatus::Failed
                )
            })
    }

    /// The notification's activity and its version, built once per worker
    /// and version; `None` when the notification no longer exists.
    async fn card(
        &self,
        notification: NotificationId,
    ) -> Result<Option<(Arc<str>, i32)>, herald_store::StoreError> {
        if let Some(card) = self
            .cards
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&notification)
        {
            return Ok(Some((card.activity.clone(), card.version)));
        }
        let Some(record) = self.store.notification(notification).await? else {
            return Ok(None);
        };
        let activity: Arc<str> = match build_activity(
            &record.content,
            &record.audience.reason(),
            &record.acknowledgement(),
        ) {
            Ok(text) => text.into(),
            Err(error) => {
                // Submit checks this, so only a changed limit gets here.
                self.store
                    .fail_notification(
                        notification,
                        &error.to_string(),
                        DeliveryReason::MessageSizeTooBig.as_str(),
                    )
                    .await?;
                return Ok(None);
            }
        };
        self.cards.lock().unwrap_or_else(|p| p.into_inner()).insert(
            notification,
            Card {
                activity: activity.clone(),
                status: record.status,
                version: record.version,
            },
        );
        Ok(Some((activity, record.version)))
    }

    /// Picks up cancellations within a quarter second and measures the
    /// queues every few seconds. (The rate is shared by `herald-app`.)
    async fn coordinate(self: Arc<Self>) {
        let mut ticks = 0u64;
        loop {
            tokio::time::sleep(Duration::from_millis(250)).await;
            ticks += 1;
            self.refresh_statuses().await;
            if ticks.is_multiple_of(20) {
                self.measure_queues().await;
            }
        }
    }

    /// Picks up cancellations (and failures) within a quarter second.
    async fn refresh_statuses(&self) {
        let ids: Vec<NotificationId> = {
            let cards = self.cards.lock().unwrap_or_else(|p| p.into_inner());
            cards
                .iter()
                .filter(|(_, c)| !c.status.is_final())
                .map(|(id, _)| *id)
                .collect()
        };
        if ids.is_empty() {
            return;
        }
        match self.store.statuses(&ids).await {
            Ok(statuses) => {
                let mut cards = self.cards.lock().unwrap_or_else(|p| p.into_inner());
                for (id, status, version) in statuses {
                    if cards.get(&id).is_some_and(|card| card.version != version) {
                        // Edited: the next post builds the new card. One
                        // posted meanwhile in the old version is changed
                        // after it (`late_changes`).
                        cards.remove(&id);
                    } else if let Some(card) = cards.get_mut(&id) {
                        card.status = status;
                    }
                }
            }
            Err(error) => {
                tracing::warn!(error = %herald_domain::chain(&error), "cannot refresh notification statuses")
            }
        }
    }

    async fn measure_queues(&self) {
        let topology = self.broker.topology();
        for queue in [topology.send_queue(), topology.prepare_queue()] {
            if let Ok(depth) = self.broker.depth(&queue).await {
                self.metrics
                    .set(metric::QUEUE_DEPTH, &[("queue", &queue)], f64::from(depth));
            }
        }
    }
}

/// Two copies for one recipient in a batch (a redelivery beside its
/// retry, or the retries of two copies that both posted) would post at
/// once: only the newest goes on, the others are duplicates.
pub(crate) fn newest_per_recipient<T>(
    messages: Vec<(SendMessage, T)>,
) -> (Vec<(SendMessage, T)>, Vec<T>) {
    let mut newest: HashMap<uuid::Uuid, (SendMessage, T)> = HashMap::new();
    let mut duplicates = Vec::new();
    for (message, item) in messages {
        match newest.entry(message.recipient) {
            Entry::Vacant(slot) => {
                slot.insert((message, item));
            }
            Entry::Occupied(kept) if kept.get().0.attempt >= message.attempt => {
                duplicates.push(item);
            }
            Entry::Occupied(mut kept) => {
                let (_, older) = kept.insert((message, item));
                duplicates.push(older);
            }
        }
    }
    (newest.into_values().collect(), duplicates)
}

pub(crate) async fn requeue(messages: Vec<(SendMessage, Incoming)>) {
    tokio::time::sleep(Duration::from_millis(500)).await;
    for (_, incoming) in messages {
        incoming.requeue().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(recipient: u128, attempt: u32) -> SendMessage {
        SendMessage::post(
            uuid::Uuid::from_u128(1),
            uuid::Uuid::from_u128(recipient),
            attempt,
        )
    }

    #[test]
    fn a_batch_keeps_the_newest_copy_for_each_recipient() {
        let batch = vec![
            (message(7, 0), "redelivered original"),
            (message(8, 0), "someone else"),
            (message(7, 2), "the retry"),
            (message(7, 2), "the other copy's retry"),
        ];
        let (kept, duplicates) = newest_per_recipient(batch);
        let mut kept: Vec<&str> = kept.into_iter().map(|(_, item)| item).collect();
        kept.sort_unstable();
        assert_eq!(kept, ["someone else", "the retry"]);
        assert_eq!(
            duplicates,
            ["redelivered original", "the other copy's retry"]
        );
    }
}
