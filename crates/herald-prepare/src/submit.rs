//! Accepting a new notification: checked, stored and queued for preparing,
//! or refused with nothing stored.

use herald_domain::{Audience, CardError, Content, ContentError, NotificationId, build_activity};
use herald_queue::{Broker, PrepareMessage, Route};
use herald_store::Store;

#[derive(Debug, thiserror::Error)]
pub enum SubmitError {
    #[error(transparent)]
    Content(#[from] ContentError),
    #[error(transparent)]
    Card(#[from] CardError),
    #[error("cannot store the notification: {0}")]
    Store(#[from] herald_store::StoreError),
    #[error("cannot queue the notification for sending: {0}")]
    Queue(#[from] herald_queue::QueueError),
}

/// Checks the content (the card must fit in a Teams message), stores the
/// notification and queues it for preparing.
pub async fn submit(
    store: &Store,
    broker: &Broker,
    content: &Content,
    audience: &Audience,
    created_by: &str,
) -> Result<NotificationId, SubmitError> {
    content.validate()?;
    build_activity(content, &audience.reason())?;
    let id = NotificationId::new();
    store
        .create_notification(id, content, audience, created_by)
        .await?;
    if let Err(error) = broker
        .publish(Route::Prepare, &[PrepareMessage { notification: id.0 }])
        .await
    {
        // Nothing was sent; say so on the notification rather than leave it
        // preparing forever.
        let _ = store
            .fail_notification(
                id,
                &format!("could not be queued for sending: {error}"),
                "QueueUnavailable",
            )
            .await;
        return Err(error.into());
    }
    Ok(id)
}
