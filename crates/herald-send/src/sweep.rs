//! Requeues deliveries stranded in `retrying`. Two copies of one send
//! message processed at once both post and both count the same attempt;
//! when the retry either of them published is then taken as stale, nothing
//! is left in the queues for that delivery. A row left `retrying` for
//! longer than the longest retry tier (and a margin for a queue that was
//! busy) has lost its message, and gets a new one here. So does a change
//! (edit, recall) committed but never published (a crash in between).

use std::sync::Arc;
use std::time::Duration;

use herald_queue::{Broker, RETRY_TIERS_MS, Route, SendMessage};
use herald_store::Store;
use tokio::sync::watch;

/// How often the sweep looks; the first look is at start.
const EVERY: Duration = Duration::from_secs(30);
/// Rows requeued per round; a full round goes on at once.
const PER_ROUND: i64 = 500;

/// A retry waits at most the longest tier in its holding queue, and then
/// its turn in the send queue; twice the longest tier leaves that turn a
/// minute before the row counts as stranded. Taking a row that was not
/// (its message was only slow) is harmless: the sweep counts an attempt,
/// which makes the slow copy stale.
pub fn stranded_after() -> Duration {
    let longest = RETRY_TIERS_MS.iter().copied().max().unwrap_or(60_000);
    Duration::from_millis(longest * 2)
}

/// Sweeps at start and every half minute until `stop`.
pub async fn run_sweep(store: Store, broker: Arc<Broker>, mut stop: watch::Receiver<bool>) {
    let mut tick = tokio::time::interval(EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = stop.wait_for(|s| *s) => return,
        }
        if let Err(error) = sweep_changes(&store, &broker).await {
            tracing::warn!(error = %herald_domain::chain(&error), "cannot publish stranded changes; trying again later");
        }
        loop {
            match sweep_once(&store, &broker).await {
                Ok(taken) if taken as i64 == PER_ROUND => continue,
                Ok(_) => break,
                Err(error) => {
                    tracing::warn!(error = %herald_domain::chain(&error), "cannot requeue stranded retries; trying again later");
                    break;
                }
            }
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SweepError {
    #[error("cannot read stranded retries")]
    Store(#[from] herald_store::StoreError),
    #[error("cannot publish the requeued messages")]
    Queue(#[from] herald_queue::QueueError),
    #[error("cannot publish changes: {0}")]
    Publish(String),
}

/// One round: the rows taken are committed before their messages are
/// published, so a failed publish leaves them for the next round (their
/// new timestamp makes them wait a whole period again).
pub async fn sweep_once(store: &Store, broker: &Broker) -> Result<usize, SweepError> {
    let stranded = store
        .sweep_stranded_retries(stranded_after(), PER_ROUND)
        .await?;
    if stranded.is_empty() {
        return Ok(0);
    }
    let messages: Vec<SendMessage> = stranded
        .iter()
        .map(|(notification, recipient, attempts)| {
            SendMessage::post(
                notification.0,
                recipient.0,
                u32::try_from(*attempts).unwrap_or(0),
            )
        })
        .collect();
    tracing::warn!(
        deliveries = messages.len(),
        "requeueing deliveries stranded in retrying"
    );
    broker.publish(Route::Send, &messages).await?;
    Ok(messages.len())
}

/// Changes committed as `queued` but not published for half a minute.
pub async fn sweep_changes(store: &Store, broker: &Broker) -> Result<usize, SweepError> {
    store.complete_open_changes().await?;
    let stranded = store.stranded_changes(30, PER_ROUND).await?;
    if stranded.is_empty() {
        return Ok(0);
    }
    tracing::warn!(
        deliveries = stranded.len(),
        "publishing changes that were never queued"
    );
    crate::recorder::publish_changes(store, broker, &stranded)
        .await
        .map_err(SweepError::Publish)?;
    Ok(stranded.len())
}
