//! The send-worker's loop: batches of messages in, one task per post.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use herald_domain::{
    DeliveryStatus, NotificationId, NotificationStatus, RecipientId, build_activity,
};
use herald_microsoft::{BotConnector, SendFailure};
use herald_ops::Metrics;
use herald_queue::{Broker, Incoming, SendMessage};
use herald_store::{SendTarget, Store};
use tokio::sync::{Semaphore, mpsc, watch};
use tracing::Instrument;

use crate::metric;
use crate::outcome::{Attempt, Decision};
use crate::recorder::{Recorder, Settled};
use crate::throttle::Throttles;

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
    /// How often workers announce themselves and re-split the rate.
    pub heartbeat: Duration,
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
            heartbeat: Duration::from_secs(1),
        }
    }
}

struct Card {
    activity: Arc<str>,
    status: NotificationStatus,
}

pub struct SendWorker {
    id: uuid::Uuid,
    store: Store,
    broker: Arc<Broker>,
    connector: Arc<BotConnector>,
    settings: SendSettings,
    metrics: Arc<Metrics>,
    throttles: Throttles,
    cards: Mutex<HashMap<NotificationId, Card>>,
    in_flight: Arc<Semaphore>,
}

impl SendWorker {
    pub fn new(
        store: Store,
        broker: Arc<Broker>,
        connector: Arc<BotConnector>,
        settings: SendSettings,
        metrics: Arc<Metrics>,
    ) -> Arc<Self> {
        metrics.describe(metric::SENDS, "Deliveries recorded, by outcome.");
        metrics.describe(metric::THROTTLED, "429 answers from the Bot Connector.");
        metrics.describe(
            metric::RATE,
            "This worker's current share of the tenant's send rate.",
        );
        metrics.describe(metric::QUEUE_DEPTH, "Messages waiting in a queue.");
        let ceiling = settings.tenant_rate * (1.0 - settings.headroom);
        Arc::new(Self {
            id: uuid::Uuid::new_v4(),
            in_flight: Arc::new(Semaphore::new(settings.concurrency.max(1))),
            throttles: Throttles::new(
                ceiling,
                crate::throttle::burst_for(settings.tenant_rate, ceiling, 1.0),
            ),
            store,
            broker,
            connector,
            settings,
            metrics,
            cards: Mutex::new(HashMap::new()),
        })
    }

    fn ceiling(&self) -> f64 {
        self.settings.tenant_rate * (1.0 - self.settings.headroom)
    }

    /// Runs until `shutdown` turns true, then finishes the posts in flight
    /// and commits their outcomes before returning.
    pub async fn run(self: Arc<Self>, mut shutdown: watch::Receiver<bool>) {
        self.coordinate_once().await;
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
        if let Err(error) = self.store.remove_worker(self.id).await {
            tracing::warn!(%error, "cannot deregister the worker");
        }
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
                    tracing::error!(%error, "undecodable send message; dead-lettering it");
                    incoming.dead_letter().await;
                }
            }
        }
        for (notification, messages) in groups {
            if let Err(error) = self.dispatch_group(notification, messages, settled).await {
                tracing::warn!(%notification, %error, "cannot read deliveries; the messages come back");
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
                (Some(activity), Some(target)) => {
                    self.decide(activity.clone(), message, target, incoming, settled)
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
        activity: Arc<str>,
        message: SendMessage,
        target: &SendTarget,
        incoming: Incoming,
        settled: &mpsc::Sender<Settled>,
    ) -> Option<Settled> {
        let attempt = Attempt {
            notification: NotificationId(message.notification),
            recipient: target.recipient,
            previous: target.attempts.max(0) as u32,
        };
        // Final, or an older copy of a message that was retried since.
        if target.status.is_final() || message.attempt < attempt.previous {
            tracing::debug!(status = %target.status, "duplicate or stale message; skipping it");
            return Some(Settled::skip(incoming));
        }
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
                attempt.without_sending(DeliveryStatus::Failed, Some("NoConversation")),
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
        let throttle = self.throttles.get(tenant);
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
            let wait = retry_after.unwrap_or(Duration::from_secs(1));
            throttle.pause_for(wait);
            self.metrics.add(metric::THROTTLED, &[], 1);
            let (store, tenant) = (self.store.clone(), tenant.to_owned());
            tokio::spawn(async move {
                if let Err(error) = store.tenant_throttled(&tenant, wait, 0.8, 1.0).await {
                    tracing::warn!(%error, "cannot share the throttling with other workers");
                }
            });
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
            },
            Decision::Retry { outcome, delay } => {
                let retry = SendMessage {
                    attempt: message.attempt.max(attempt.previous) + 1,
                    ..message
                };
                Settled {
                    incoming,
                    outcome: Some(outcome),
                    retry: Some((retry, delay)),
                    notification_error,
                }
            }
        }
    }

    fn is_stopped(&self, notification: NotificationId) -> bool {
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

    /// The notification's activity, built once per worker; `None` when the
    /// notification no longer exists.
    async fn card(
        &self,
        notification: NotificationId,
    ) -> Result<Option<Arc<str>>, herald_store::StoreError> {
        if let Some(card) = self
            .cards
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&notification)
        {
            return Ok(Some(card.activity.clone()));
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
                    .fail_notification(notification, &error.to_string(), "MessageSizeTooBig")
                    .await?;
                return Ok(None);
            }
        };
        self.cards.lock().unwrap_or_else(|p| p.into_inner()).insert(
            notification,
            Card {
                activity: activity.clone(),
                status: record.status,
            },
        );
        Ok(Some(activity))
    }

    async fn coordinate(self: Arc<Self>) {
        let mut ticks = 0u64;
        let status_every = Duration::from_millis(250);
        let per_heartbeat =
            (self.settings.heartbeat.as_millis() / status_every.as_millis()).max(1) as u64;
        loop {
            tokio::time::sleep(status_every).await;
            ticks += 1;
            self.refresh_statuses().await;
            if ticks.is_multiple_of(per_heartbeat) {
                self.coordinate_once().await;
            }
            if ticks.is_multiple_of(per_heartbeat * 5) {
                self.measure_queues().await;
            }
        }
    }

    /// Announces this worker and takes its share of each tenant's rate.
    async fn coordinate_once(&self) {
        let live = match self
            .store
            .heartbeat(self.id, self.settings.heartbeat * 3)
            .await
        {
            Ok(live) => live as f64,
            Err(error) => {
                tracing::warn!(%error, "heartbeat failed");
                return;
            }
        };
        let ceiling = self.ceiling();
        let burst = crate::throttle::burst_for(self.settings.tenant_rate, ceiling, live);
        self.throttles.set_initial_rate(ceiling / live, burst);
        for (tenant, throttle) in self.throttles.tenants() {
            match self
                .store
                .tenant_rate(&tenant, ceiling, ceiling * 0.05)
                .await
            {
                Ok(rate) => {
                    throttle.set_rate(rate.rate_per_second / live, burst);
                    if let Some(until) = rate.throttled_until {
                        let left = until - time::OffsetDateTime::now_utc();
                        if left.is_positive() {
                            throttle.pause_for(left.unsigned_abs());
                        }
                    }
                    self.metrics
                        .set(metric::RATE, &[("tenant", &tenant)], throttle.rate());
                }
                Err(error) => tracing::warn!(%error, "cannot read the tenant's rate"),
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
                for (id, status) in statuses {
                    if let Some(card) = cards.get_mut(&id) {
                        card.status = status;
                    }
                }
            }
            Err(error) => tracing::warn!(%error, "cannot refresh notification statuses"),
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

async fn requeue(messages: Vec<(SendMessage, Incoming)>) {
    tokio::time::sleep(Duration::from_millis(500)).await;
    for (_, incoming) in messages {
        incoming.requeue().await;
    }
}
