//! The prepare stage: turns a notification's audience into delivery rows
//! and hands the ready ones to the send queue. It resolves people through
//! Graph and never posts a message.

pub mod authoring;
mod change;
mod resolve;
mod submit;

use std::sync::Arc;

use anyhow::Context;
use std::time::Duration;

use futures_util::{StreamExt, stream};
use herald_domain::{NotificationId, NotificationStatus, RecipientId};
use herald_microsoft::Graph;
use herald_queue::{Broker, PrepareMessage, Route, SendMessage, Subscription};
use herald_store::Store;
use tokio::sync::mpsc;

/// People whose chat must be found (maybe after installing the app), sent
/// by the stage that resolves the audience to the one that installs, so
/// that installing starts with the first page of people.
pub(crate) type Found = mpsc::UnboundedSender<RecipientId>;

pub use change::change;
pub use resolve::ResolvedAudience;
pub use submit::{Reminder, SubmitError, remind, submit};

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
    /// The app's id in the tenant catalog, looked up once (see `catalog_app`).
    pub catalog: tokio::sync::OnceCell<String>,
    /// Held while publishing: resolving and installing both queue what is
    /// ready, and two publishers reading the same unpublished rows would
    /// queue them twice (two copies of a message posted at once leave a
    /// retried delivery behind as stale).
    pub publishing: tokio::sync::Mutex<()>,
}

impl Preparer {
    /// Consumes prepare messages until the subscription ends.
    pub async fn run(self: Arc<Self>, subscription: &mut Subscription) {
        // The first install of the first broadcast need not wait for it.
        let early = self.clone();
        tokio::spawn(async move {
            if let Err(error) = early.catalog_app().await {
                tracing::info!(error = %herald_domain::chain(&error), "the app's catalog id is not known yet");
            }
        });
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
                            tracing::error!(error = %herald_domain::chain(&error), "cannot record the failure; retrying");
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
            .context("reading the notification")?
        else {
            tracing::warn!(%notification, "prepare message for an unknown notification; dropping it");
            return Ok(());
        };
        let due = record
            .scheduled_at
            .is_some_and(|at| at <= time::OffsetDateTime::now_utc());
        if record.status == NotificationStatus::Scheduled && due {
            // The scheduler publishes before it commits (authoring::fire_due),
            // so the message can arrive first: wait for the commit.
            return Err(PrepareError::Transient(anyhow::anyhow!(
                "its schedule fired but is not committed yet"
            )));
        }
        // The first card sent makes it `sending` (record_outcomes) while
        // the audience may still be resolving: a prepare repeated after a
        // crash then still has work until `prepared` is set.
        let unfinished = record.status == NotificationStatus::Preparing
            || (record.status == NotificationStatus::Sending && !record.prepared);
        if !unfinished {
            return Ok(());
        }
        // Pipelined: each chunk of people is written and its ready
        // deliveries queued before the next chunk, while the people who need
        // the app installed are installed as they are found, so sending
        // starts at once.
        let repeat = self
            .store
            .has_deliveries(notification)
            .await
            .context("checking for deliveries of an earlier run")?;
        let (found, to_install) = mpsc::unbounded_channel();
        let (people, ()) = tokio::try_join!(
            self.queue_audience(&record, repeat, found),
            self.install_as_found(notification, to_install),
        )?;
        // Pending rows left by an earlier, interrupted run of this prepare.
        self.resolve_pending(notification).await?;
        self.store
            .finish_preparing(notification)
            .await
            .context("marking the notification prepared")?;
        self.store
            .complete_finished(&[notification])
            .await
            .context("completing a finished notification")?;
        tracing::info!(%notification, people, "prepared");
        Ok(())
    }

    /// Resolves and queues the whole audience; returns how many people it
    /// holds. Everyone is queued page by page while the directory syncs;
    /// the other targets are resolved, then queued chunk by chunk.
    async fn queue_audience(
        &self,
        record: &herald_store::NotificationRecord,
        repeat: bool,
        found: Found,
    ) -> Result<usize, PrepareError> {
        let mut seen = std::collections::HashSet::new();
        let everyone = record
            .audience
            .targets
            .iter()
            .any(|t| matches!(t, herald_domain::audience::Target::Everyone));
        if everyone {
            self.queue_everyone(record, &mut seen, &found).await?;
        }
        let audience = self.resolve(record, repeat, everyone).await?;
        self.store
            .insert_deliveries(record.id, &audience.channels)
            .await
            .context("writing delivery rows")?;
        for chunk in audience.people.chunks(1_000) {
            self.queue_people(record, chunk, &mut seen, &found).await?;
        }
        self.enqueue(record.id).await?;
        Ok(seen.len())
    }

    /// Installs the app for people as they are found and queues each
    /// person as soon as their chat is known: whatever is ready is settled
    /// together while the next installs run.
    async fn install_as_found(
        &self,
        notification: NotificationId,
        mut found: mpsc::UnboundedReceiver<RecipientId>,
    ) -> Result<(), PrepareError> {
        // Nobody to install: the catalog need not even be asked.
        let Some(first) = found.recv().await else {
            return Ok(());
        };
        let app = self.catalog_app().await?;
        let app = app.as_str();
        let people = stream::once(async move { first })
            .chain(stream::poll_fn(move |cx| found.poll_recv(cx)));
        // Installing and settling run side by side: a stream is only driven
        // while polled, and installs must not wait for each commit.
        let (done, mut chats) = mpsc::unbounded_channel();
        let installing = async move {
            people
                .map(|user| async move { (user.0, self.chat_for(user.0, app).await) })
                .buffer_unordered(self.settings.graph_concurrency.max(1))
                .for_each(|chat| {
                    let _ = done.send(chat);
                    async {}
                })
                .await;
            Ok::<(), PrepareError>(())
        };
        let settling = async {
            while let Some(first) = chats.recv().await {
                let mut ready = vec![first];
                while let Ok(chat) = chats.try_recv() {
                    ready.push(chat);
                }
                let rows = self.chat_rows(ready).await?;
                self.store
                    .settle_pending(notification, &rows)
                    .await
                    .context("recording the chats found for pending deliveries")?;
                self.enqueue(notification).await?;
            }
            Ok(())
        };
        tokio::try_join!(installing, settling)?;
        Ok(())
    }

    /// Installs the app where needed and finds the chats of pending
    /// deliveries, a few at a time, queueing each batch as it is found.
    /// Reads the pending rows from the database, so a repeated prepare
    /// picks up where a crashed one stopped.
    async fn resolve_pending(&self, notification: NotificationId) -> Result<(), PrepareError> {
        let batch = (self.settings.graph_concurrency * 4) as i64;
        loop {
            let pending = self
                .store
                .pending(notification, batch)
                .await
                .context("reading pending deliveries")?;
            if pending.is_empty() {
                return Ok(());
            }
            let app = self.catalog_app().await?;
            // Teams announces Herald's own installs to the bot too; this
            // keeps the bot from welcoming people to an announcement.
            self.store
                .mark_herald_installing(&pending)
                .await
                .context("noting the installs Herald is about to make")?;
            let rows = self.find_conversations(pending, &app).await?;
            self.store
                .settle_pending(notification, &rows)
                .await
                .context("recording the chats found for pending deliveries")?;
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
        found: &Found,
    ) -> Result<(), PrepareError> {
        let before = seen.len();
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
            .context("writing delivery rows")?;
        if statistics_due(before, seen.len()) {
            self.store
                .refresh_statistics()
                .await
                .context("refreshing the planner statistics")?;
        }
        self.enqueue(record.id).await?;
        let pending: Vec<RecipientId> = rows
            .iter()
            .filter(|(_, status, _)| *status == herald_domain::DeliveryStatus::Pending)
            .map(|(id, _, _)| *id)
            .collect();
        if !pending.is_empty() {
            // Teams announces Herald's own installs to the bot too; this
            // keeps the bot from welcoming people to an announcement.
            self.store
                .mark_herald_installing(&pending)
                .await
                .context("noting the installs Herald is about to make")?;
            for person in pending {
                // The installer stopped only if it failed, and that error
                // is the one the prepare reports.
                let _ = found.send(person);
            }
        }
        Ok(())
    }

    /// Publishes a send message for every queued delivery not yet confirmed
    /// published, in batches, marking each batch once RabbitMQ confirmed it.
    async fn enqueue(&self, notification: NotificationId) -> Result<(), PrepareError> {
        let _publishing = self.publishing.lock().await;
        loop {
            let batch = self
                .store
                .unenqueued(notification, self.settings.publish_batch as i64)
                .await
                .context("reading deliveries not yet queued")?;
            if batch.is_empty() {
                return Ok(());
            }
            let messages: Vec<SendMessage> = batch
                .iter()
                .map(|r| SendMessage::post(notification.0, r.0, 0))
                .collect();
            self.broker
                .publish(Route::Send, &messages)
                .await
                .context("queueing deliveries for sending")?;
            self.store
                .mark_enqueued(notification, &batch)
                .await
                .context("marking deliveries queued")?;
        }
    }
}

/// Whether the audience prepared so far just passed 10,000, 100,000, a
/// million...: the points where the planner's statistics are refreshed, a
/// handful of times however big the audience (each samples a fixed number
/// of rows), and never for the small sends that do not change them.
fn statistics_due(before: usize, after: usize) -> bool {
    std::iter::successors(Some(10_000usize), |mark| mark.checked_mul(10))
        .take_while(|mark| *mark <= after)
        .any(|mark| before < mark)
}

#[cfg(test)]
mod tests {
    use super::statistics_due;

    #[test]
    fn statistics_are_refreshed_at_each_power_of_ten_from_ten_thousand() {
        assert!(!statistics_due(0, 9_999));
        assert!(statistics_due(9_000, 10_000));
        assert!(!statistics_due(10_000, 99_999));
        assert!(statistics_due(99_000, 100_500));
        assert!(statistics_due(0, 1_000_000));
        assert!(!statistics_due(1_000_000, 1_001_000));
    }
}
