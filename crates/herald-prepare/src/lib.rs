//! The prepare stage: turns a notification's audience into delivery rows
//! and hands the ready ones to the send queue. It resolves people through
//! Graph and never posts a message.

mod resolve;
mod submit;

use std::sync::Arc;
use std::time::Duration;

use herald_domain::{NotificationId, NotificationStatus};
use herald_microsoft::Graph;
use herald_queue::{Broker, PrepareMessage, Route, SendMessage, Subscription};
use herald_store::Store;

pub use resolve::ResolvedAudience;
pub use submit::{SubmitError, remind, submit};

/// How the prepare stage reaches Teams.
#[derive(Debug, Clone)]
pub struct PrepareSettings {
    /// The app manifest's id (Graph's `externalId`).
    pub manifest_id: String,
    /// The Bot Connector base URL used for conversations found through Graph.
    pub service_url: String,
    pub tenant_id: String,
    /// Graph requests in flight at once.
    pub graph_concurrency: usize,
    /// Send messages published per batch.
    pub publish_batch: usize,
    /// Users per page of the directory sync (1 to 999).
    pub delta_page_size: u16,
}

/// Why preparing stopped.
#[derive(Debug, thiserror::Error)]
pub enum PrepareError {
    /// Something about this notification that retrying cannot fix; it is
    /// failed with this message, which says what to do.
    #[error("{message}")]
    Invalid { message: String, code: &'static str },
    /// Something outside (database, broker, Graph) failed; try again later.
    #[error(transparent)]
    Transient(#[from] anyhow::Error),
}

pub struct Preparer {
    pub store: Store,
    pub broker: Arc<Broker>,
    pub graph: Arc<Graph>,
    pub settings: PrepareSettings,
    /// Installs whose activity never reached the bot (see `chat_for`).
    pub bot_misses: std::sync::atomic::AtomicU32,
}

impl Preparer {
    /// Consumes prepare messages until the subscription ends.
    pub async fn run(self: Arc<Self>, subscription: &mut Subscription) {
        while let Some(incoming) = subscription.next().await {
            let Ok(message) = serde_json::from_slice::<PrepareMessage>(&incoming.data) else {
                tracing::error!("undecodable prepare message; dead-lettering it");
                incoming.dead_letter().await;
                continue;
            };
            let notification = NotificationId(message.notification);
            let span = tracing::info_span!("prepare", %notification);
            let outcome = tracing::Instrument::instrument(self.handle(notification), span).await;
            match outcome {
                Ok(()) => incoming.ack().await,
                Err(PrepareError::Invalid { message, code }) => {
                    tracing::warn!(%notification, %message, "notification cannot be sent");
                    match self
                        .store
                        .fail_notification(notification, &message, code)
                        .await
                    {
                        Ok(_) => incoming.ack().await,
                        Err(error) => {
                            tracing::error!(%error, "cannot record the failure; retrying");
                            tokio::time::sleep(Duration::from_secs(1)).await;
                            incoming.requeue().await;
                        }
                    }
                }
                Err(PrepareError::Transient(error)) => {
                    tracing::warn!(%notification, error = %format!("{error:#}"), "preparing failed for now; retrying");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    incoming.requeue().await;
                }
            }
        }
    }

    /// Prepares one notification. Safe to repeat: rows that exist stay as
    /// they are and only sends not yet confirmed are published again.
    pub async fn handle(&self, notification: NotificationId) -> Result<(), PrepareError> {
        let Some(record) = self
            .store
            .notification(notification)
            .await
            .map_err(anyhow::Error::from)?
        else {
            tracing::warn!(%notification, "prepare message for an unknown notification; dropping it");
            return Ok(());
        };
        if record.status != NotificationStatus::Preparing {
            return Ok(());
        }
        // Pipelined: each chunk of people is written and its ready
        // deliveries queued before the next chunk, and people who need the
        // app installed come last, so sending starts at once.
        let repeat = self
            .store
            .has_deliveries(notification)
            .await
            .map_err(anyhow::Error::from)?;
        // Everyone is queued page by page while the directory syncs; the
        // other targets are resolved, then queued chunk by chunk.
        let mut seen = std::collections::HashSet::new();
        let everyone = record
            .audience
            .targets
            .iter()
            .any(|t| matches!(t, herald_domain::audience::Target::Everyone));
        if everyone {
            self.queue_everyone(&record, &mut seen).await?;
        }
        let audience = self.resolve(&record, repeat, everyone).await?;
        self.store
            .insert_deliveries(notification, &audience.channels)
            .await
            .map_err(anyhow::Error::from)?;
        for chunk in audience.people.chunks(1_000) {
            self.queue_people(&record, chunk, &mut seen).await?;
        }
        self.enqueue(notification).await?;
        self.resolve_pending(notification).await?;
        self.store
            .finish_preparing(notification)
            .await
            .map_err(anyhow::Error::from)?;
        self.store
            .complete_finished(&[notification])
            .await
            .map_err(anyhow::Error::from)?;
        tracing::info!(%notification, people = audience.people.len(), channels = audience.channels.len(), "prepared");
        Ok(())
    }

    /// Installs the app where needed and finds the chats of pending
    /// deliveries, a few at a time, queueing each batch as it is found.
    /// Reads the pending rows from the database, so a repeated prepare
    /// picks up where a crashed one stopped.
    async fn resolve_pending(&self, notification: NotificationId) -> Result<(), PrepareError> {
        let batch = (self.settings.graph_concurrency * 4) as i64;
        let mut app = None;
        loop {
            let pending = self
                .store
                .pending(notification, batch)
                .await
                .map_err(anyhow::Error::from)?;
            if pending.is_empty() {
                return Ok(());
            }
            let app = match &app {
                Some(app) => app,
                None => app.insert(self.catalog_app().await?),
            };
            // Teams announces Herald's own installs to the bot too; this
            // keeps the bot from welcoming people to an announcement.
            self.store
                .mark_herald_installing(&pending)
                .await
                .map_err(anyhow::Error::from)?;
            let rows = self.find_conversations(pending, app).await?;
            self.store
                .settle_pending(notification, &rows)
                .await
                .map_err(anyhow::Error::from)?;
            self.enqueue(notification).await?;
        }
    }

    /// Writes the delivery rows of people not seen before in this
    /// notification and queues the ready ones at once.
    pub(crate) async fn queue_people(
        &self,
        record: &herald_store::NotificationRecord,
        people: &[herald_microsoft::GraphUser],
        seen: &mut std::collections::HashSet<uuid::Uuid>,
    ) -> Result<(), PrepareError> {
        let fresh: Vec<herald_microsoft::GraphUser> = people
            .iter()
            .filter(|u| seen.insert(u.id))
            .cloned()
            .collect();
        if fresh.is_empty() {
            return Ok(());
        }
        let rows = self.rows(record, &fresh).await?;
        self.store
            .insert_deliveries(record.id, &rows)
            .await
            .map_err(anyhow::Error::from)?;
        self.enqueue(record.id).await
    }

    /// Publishes a send message for every queued delivery not yet confirmed
    /// published, in batches, marking each batch once RabbitMQ confirmed it.
    async fn enqueue(&self, notification: NotificationId) -> Result<(), PrepareError> {
        loop {
            let batch = self
                .store
                .unenqueued(notification, self.settings.publish_batch as i64)
                .await
                .map_err(anyhow::Error::from)?;
            if batch.is_empty() {
                return Ok(());
            }
            let messages: Vec<SendMessage> = batch
                .iter()
                .map(|r| SendMessage {
                    notification: notification.0,
                    recipient: r.0,
                    attempt: 0,
                })
                .collect();
            self.broker
                .publish(Route::Send, &messages)
                .await
                .map_err(anyhow::Error::from)?;
            self.store
                .mark_enqueued(notification, &batch)
                .await
                .map_err(anyhow::Error::from)?;
        }
    }
}
