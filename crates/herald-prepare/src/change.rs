//! Starting an edit or a recall of a sent announcement: checked, stored as
//! the announcement's next version, and queued for the send-workers, who
//! change each card under the tenant's rate.

use herald_domain::{ChangeKind, NotificationId, NotificationStatus, build_activity};
use herald_queue::{Broker, Route, SendMessage};
use herald_store::{ChangeRefused, NewChange, StartedChange, Store};

use crate::SubmitError;

/// Messages published per confirm.
const CHUNK: usize = 1_000;

/// Starts `change` of announcement `id`. A recall of a send still running
/// stops it first (as cancel does), so nothing more goes out; what went
/// out is then taken back. Returns the version and the people it reaches.
pub async fn change(
    store: &Store,
    broker: &Broker,
    id: NotificationId,
    change: &NewChange<'_>,
) -> Result<StartedChange, SubmitError> {
    let record = store
        .notification(id)
        .await?
        .ok_or(SubmitError::Unknown(id))?;
    if let Some(content) = change.content {
        content.validate()?;
        build_activity(
            content,
            &record.audience.reason(),
            &record.acknowledgement(),
        )?;
    }
    let running = matches!(
        record.status,
        NotificationStatus::Preparing | NotificationStatus::Sending
    );
    if change.kind != ChangeKind::Edit && running {
        store.cancel_notification(id, change.by).await?;
    }
    let started = store
        .begin_change(id, change)
        .await?
        .map_err(|refused| match refused {
            ChangeRefused::Missing => SubmitError::Unknown(id),
            ChangeRefused::NotSent => SubmitError::NotSent(id),
            ChangeRefused::TakenBack => SubmitError::TakenBack(id),
        })?;
    tracing::info!(notification = %id, version = started.version, kind = %change.kind, people = started.recipients.len(), by = change.by, "change started");
    for chunk in started.recipients.chunks(CHUNK) {
        let messages: Vec<SendMessage> = chunk
            .iter()
            .map(|r| SendMessage::change(id.0, r.0, started.version))
            .collect();
        // Committed already: what is not published here, the send-workers'
        // sweep publishes within a minute.
        if let Err(error) = broker.publish(Route::Send, &messages).await {
            tracing::warn!(notification = %id, error = %herald_domain::chain(&error), "cannot queue a change now; the sweep will");
            break;
        }
        store.mark_changes_enqueued(id, chunk).await?;
    }
    Ok(started)
}
