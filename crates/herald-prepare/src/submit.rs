//! Accepting a new notification: checked, stored and queued for preparing,
//! or refused with nothing stored.

use herald_domain::audience::Target;
use herald_domain::{
    Acknowledgement, Audience, CardError, Content, ContentError, NotificationId, Title, UserRef,
    build_activity,
};
use herald_queue::{Broker, PrepareMessage, Route};
use herald_store::{Origin, Store};

#[derive(Debug, thiserror::Error)]
pub enum SubmitError {
    #[error(transparent)]
    Content(#[from] ContentError),
    #[error(transparent)]
    Card(#[from] CardError),
    #[error("cannot store the notification")]
    Store(#[from] herald_store::StoreError),
    #[error("cannot queue the notification for sending")]
    Queue(#[from] herald_queue::QueueError),
    #[error("there is no notification {0}")]
    Unknown(NotificationId),
    #[error("notification {0} does not ask for acknowledgements, so there is nothing to remind of")]
    NotAcknowledged(NotificationId),
    #[error("everyone who received notification {0} has acknowledged it: no reminder needed")]
    EveryoneAcknowledged(NotificationId),
    #[error(
        "notification {0} is no longer a draft or scheduled: someone sent, canceled or deleted it meanwhile"
    )]
    NotADraft(NotificationId),
    #[error("the draft has no audience yet: pick at least one team, group, channel or list")]
    NoAudience,
    #[error("announcement {0} has not been sent yet: edit it as a draft instead")]
    NotSent(NotificationId),
    #[error("announcement {0} was recalled already, so it can no longer be edited or recalled")]
    TakenBack(NotificationId),
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
    submit_notification(
        store,
        broker,
        content,
        audience,
        created_by,
        Origin::Announcement,
    )
    .await
}

/// A reminder sent: its own notification, and how many people it goes to.
#[derive(Debug, Clone, Copy)]
pub struct Reminder {
    pub id: NotificationId,
    pub people: usize,
}

/// Reminds the people an announcement reached who have not acknowledged
/// it: a new notification to just them, whose Acknowledge button counts
/// for the original.
pub async fn remind(
    store: &Store,
    broker: &Broker,
    original: NotificationId,
    created_by: &str,
) -> Result<Reminder, SubmitError> {
    let record = store
        .notification(original)
        .await?
        .ok_or(SubmitError::Unknown(original))?;
    if !record.content.acknowledgement_required {
        return Err(SubmitError::NotAcknowledged(original));
    }
    let pending = store.not_acknowledged(original).await?;
    if pending.is_empty() {
        return Err(SubmitError::EveryoneAcknowledged(original));
    }
    let mut content = record.content.clone();
    let title: String = format!("Reminder: {}", record.content.title.as_str())
        .chars()
        .take(Title::MAX)
        .collect();
    content.title = Title::parse(&title)?;
    let people = pending.len();
    let users = pending
        .into_iter()
        .map(|r| UserRef::ObjectId(r.0))
        .collect();
    let audience = Audience::new(vec![Target::Users {
        source: format!("the people who have not acknowledged {original}"),
        users,
    }])
    .map_err(|_| SubmitError::EveryoneAcknowledged(original))?;
    let id = submit_notification(
        store,
        broker,
        &content,
        &audience,
        created_by,
        Origin::Reminder(original),
    )
    .await?;
    Ok(Reminder { id, people })
}

pub(crate) async fn submit_notification(
    store: &Store,
    broker: &Broker,
    content: &Content,
    audience: &Audience,
    created_by: &str,
    origin: Origin,
) -> Result<NotificationId, SubmitError> {
    content.validate()?;
    let id = NotificationId::new();
    let acknowledgement = if content.acknowledgement_required {
        Acknowledgement::Ask(id)
    } else {
        Acknowledgement::NotAsked
    };
    build_activity(content, &audience.reason(), &acknowledgement)?;
    store
        .create_notification(id, content, audience, created_by, origin)
        .await?;
    queue_for_preparing(store, broker, id).await?;
    Ok(id)
}

/// Publishes the prepare message of a notification that is `preparing`.
pub(crate) async fn queue_for_preparing(
    store: &Store,
    broker: &Broker,
    id: NotificationId,
) -> Result<(), SubmitError> {
    if let Err(error) = broker
        .publish(Route::Prepare, &[PrepareMessage { notification: id.0 }])
        .await
    {
        // Nothing was sent; say so on the notification rather than leave it
        // preparing forever. The broker's own words go to the log, not to
        // the author.
        tracing::error!(notification = %id, error = %herald_domain::chain(&error), "cannot queue a notification for preparing");
        let _ = store
            .fail_notification(
                id,
                "could not be queued for sending: RabbitMQ did not take it; send it again in a minute",
                "QueueUnavailable",
            )
            .await;
        return Err(error.into());
    }
    Ok(())
}
