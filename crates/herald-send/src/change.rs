//! Edits and recalls of cards that went out: the send-worker replaces or
//! deletes each person's card through the Bot Connector, under the same
//! tenant throttle as posts, and records how it went.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use herald_domain::{
    Acknowledgement, ChangeKind, ChangeStatus, NotificationId, RecipientId, build_edited_activity,
    build_withdrawn_activity, card_time,
};
use herald_microsoft::SendFailure;
use herald_queue::{Incoming, SendMessage};
use herald_store::{ChangeOutcome, ChangeRecord, ChangeTarget, NotificationRecord, StoreError};
use tokio::sync::mpsc;
use tracing::Instrument;

use crate::recorder::Settled;
use crate::worker::{SendWorker, newest_per_recipient, requeue};

/// A change as the worker applies it to every card.
struct Change {
    record: NotificationRecord,
    change: ChangeRecord,
    /// The card for everyone who has not acknowledged it (recall: none).
    activity: Option<Arc<str>>,
}

impl Change {
    fn new(record: NotificationRecord, change: ChangeRecord) -> Result<Self, String> {
        let activity = match change.kind {
            ChangeKind::Recall => None,
            ChangeKind::Edit => Some(edited(&record, &change, &record.acknowledgement())?),
            ChangeKind::Withdraw => Some(
                build_withdrawn_activity(
                    change.previous.title.as_str(),
                    &change.by,
                    &card_time(change.created_at),
                )
                .map_err(|e| e.to_string())?,
            ),
        };
        Ok(Self {
            record,
            change,
            activity: activity.map(Arc::from),
        })
    }

    /// The card this person gets: an acknowledged card keeps saying so.
    fn activity_for(&self, target: &ChangeTarget) -> Result<Option<Arc<str>>, String> {
        match (self.change.kind, target.acknowledged_at) {
            (ChangeKind::Edit, Some(at)) if self.record.content.acknowledgement_required => {
                let done = Acknowledgement::Done(card_time(at));
                Ok(Some(edited(&self.record, &self.change, &done)?.into()))
            }
            _ => Ok(self.activity.clone()),
        }
    }
}

fn edited(
    record: &NotificationRecord,
    change: &ChangeRecord,
    acknowledgement: &Acknowledgement,
) -> Result<String, String> {
    let when = change.mark_edited.then(|| card_time(change.created_at));
    build_edited_activity(
        &record.content,
        &record.audience.reason(),
        acknowledgement,
        when.as_deref(),
    )
    .map_err(|e| e.to_string())
}

/// What an answer of Teams means for a change.
fn classify(kind: ChangeKind, failure: &SendFailure) -> Result<ChangeStatus, Option<String>> {
    match failure {
        // Deleting what is gone already is what a recall wants.
        SendFailure::Gone { .. } if kind == ChangeKind::Recall => Ok(ChangeStatus::Recalled),
        SendFailure::Throttled { .. } | SendFailure::Transient { .. } => Err(None),
        SendFailure::Blocked { code, .. } => Err(Some(format!(
            "they blocked Herald or removed it since ({code}), so Teams lets Herald no longer change their message"
        ))),
        SendFailure::Gone { code, .. } => {
            Err(Some(format!("their chat or the message is gone ({code})")))
        }
        SendFailure::TooLarge { .. } => {
            Err(Some("Teams refused the new card as too large".to_owned()))
        }
        SendFailure::Permanent { status, code, .. } => Err(Some(format!(
            "Teams refused to change this message ({status} {code}); it may be too old to change"
        ))),
    }
}

impl SendWorker {
    /// Applies the messages of one announcement's change. Only its newest
    /// change is applied: an older change's message is covered by it.
    pub(crate) async fn dispatch_changes(
        self: &Arc<Self>,
        notification: NotificationId,
        messages: Vec<(SendMessage, Incoming)>,
        settled: &mpsc::Sender<Settled>,
    ) -> Result<(), StoreError> {
        let change = match self.current_change(notification).await {
            Ok(change) => change,
            Err(error) => {
                requeue(messages).await;
                return Err(error);
            }
        };
        let (messages, duplicates) = newest_per_recipient(messages);
        let mut skipped: Vec<Incoming> = duplicates;
        let Some(change) = change else {
            skipped.extend(messages.into_iter().map(|(_, incoming)| incoming));
            return skip_all(skipped, settled).await;
        };
        let (current, stale): (Vec<_>, Vec<_>) = messages
            .into_iter()
            .partition(|(m, _)| m.change == Some(change.change.version));
        skipped.extend(stale.into_iter().map(|(_, incoming)| incoming));
        let ids: Vec<RecipientId> = current
            .iter()
            .map(|(m, _)| RecipientId(m.recipient))
            .collect();
        let targets: HashMap<RecipientId, ChangeTarget> =
            match self.store.change_targets(notification, &ids).await {
                Ok(targets) => targets.into_iter().map(|t| (t.recipient, t)).collect(),
                Err(error) => {
                    requeue(current).await;
                    return Err(error);
                }
            };
        skip_all(skipped, settled).await?;
        for (message, incoming) in current {
            let Some(target) = targets.get(&RecipientId(message.recipient)) else {
                let _ = settled.send(Settled::skip(incoming)).await;
                continue;
            };
            if let Some(item) = self
                .decide_change(&change, message, target, incoming, settled)
                .await
                && settled.send(item).await.is_err()
            {
                return Ok(());
            }
        }
        Ok(())
    }

    async fn current_change(
        &self,
        notification: NotificationId,
    ) -> Result<Option<Arc<Change>>, StoreError> {
        let Some(record) = self.store.notification(notification).await? else {
            return Ok(None);
        };
        let Some(change) = self.store.change(notification, record.version).await? else {
            return Ok(None);
        };
        match Change::new(record, change) {
            Ok(change) => Ok(Some(Arc::new(change))),
            Err(error) => {
                tracing::error!(%notification, %error, "cannot build the changed card");
                Ok(None)
            }
        }
    }

    /// Settles a change message at once (already applied, stale, nothing
    /// to change), or hands it to a task (`None`).
    async fn decide_change(
        self: &Arc<Self>,
        change: &Arc<Change>,
        message: SendMessage,
        target: &ChangeTarget,
        incoming: Incoming,
        settled: &mpsc::Sender<Settled>,
    ) -> Option<Settled> {
        let applied = target.version >= change.change.version;
        let waiting = target.change_status.as_deref() == Some("queued");
        let stale = message.attempt < target.change_attempts.max(0) as u32;
        let (Some(activity_id), Some(conversation), Some(service_url)) = (
            target.activity_id.clone(),
            target.conversation_id.clone(),
            target.service_url.clone(),
        ) else {
            return Some(Settled::skip(incoming));
        };
        if applied || !waiting || stale {
            return Some(Settled::skip(incoming));
        }
        let activity = match change.activity_for(target) {
            Ok(activity) => activity,
            Err(reason) => {
                let outcome = outcome(change, target.recipient, &message, ChangeStatus::Failed);
                return Some(Settled::changed(
                    incoming,
                    ChangeOutcome {
                        reason: Some(reason),
                        ..outcome
                    },
                    None,
                ));
            }
        };
        let permit = self.in_flight.clone().acquire_owned().await.ok()?;
        let worker = self.clone();
        let change = change.clone();
        let tenant = target.tenant_id.clone();
        let recipient = target.recipient;
        let settled = settled.clone();
        let span = tracing::info_span!("change", notification = %change.record.id, %recipient, version = change.change.version, kind = %change.change.kind);
        tokio::spawn(
            async move {
                let request = Request {
                    tenant: &tenant,
                    service_url: &service_url,
                    conversation: &conversation,
                    activity_id: &activity_id,
                    activity: activity.as_deref(),
                };
                let item = worker
                    .apply(&change, recipient, message, request, incoming)
                    .await;
                let _ = settled.send(item).await;
                drop(permit);
            }
            .instrument(span),
        );
        None
    }

    async fn apply(
        &self,
        change: &Change,
        recipient: RecipientId,
        message: SendMessage,
        request: Request<'_>,
        incoming: Incoming,
    ) -> Settled {
        let throttle = self.throttles.get(&self.limit(request.tenant));
        throttle.acquire().await;
        if !incoming.is_live() {
            return Settled::skip(incoming);
        }
        let answer = match request.activity {
            None => {
                self.connector
                    .delete(
                        request.service_url,
                        request.conversation,
                        request.activity_id,
                    )
                    .await
            }
            Some(activity) => {
                self.connector
                    .update(
                        request.service_url,
                        request.conversation,
                        request.activity_id,
                        activity,
                    )
                    .await
            }
        };
        let kind = change.change.kind;
        let status = match answer {
            Ok(()) => Ok(kind.done()),
            Err(failure) => {
                if let SendFailure::Throttled { retry_after } = &failure {
                    throttle.throttled(retry_after.unwrap_or(Duration::from_secs(1)));
                }
                tracing::debug!(%failure, "change failed");
                classify(kind, &failure).map_err(|reason| (reason, failure))
            }
        };
        match status {
            Ok(done) => {
                if done == ChangeStatus::Updated && change.change.notify && kind == ChangeKind::Edit
                {
                    self.notify(change, &request).await;
                }
                Settled::changed(incoming, outcome(change, recipient, &message, done), None)
            }
            Err((Some(reason), _)) => Settled::changed(
                incoming,
                ChangeOutcome {
                    reason: Some(reason),
                    ..outcome(change, recipient, &message, ChangeStatus::Failed)
                },
                None,
            ),
            Err((None, failure)) => self.retry(change, recipient, message, &failure, incoming),
        }
    }

    /// Throttled or unanswered: again later, up to the send's attempts.
    fn retry(
        &self,
        change: &Change,
        recipient: RecipientId,
        message: SendMessage,
        failure: &SendFailure,
        incoming: Incoming,
    ) -> Settled {
        let attempts = message.attempt + 1;
        if attempts >= self.settings.max_attempts {
            return Settled::changed(
                incoming,
                ChangeOutcome {
                    reason: Some(format!(
                        "Teams did not take the change after {attempts} tries ({failure})"
                    )),
                    ..outcome(change, recipient, &message, ChangeStatus::Failed)
                },
                None,
            );
        }
        let delay = match failure {
            SendFailure::Throttled { retry_after } | SendFailure::Transient { retry_after, .. } => {
                retry_after.unwrap_or(Duration::from_secs(u64::from(attempts.min(30))))
            }
            _ => Duration::from_secs(1),
        };
        let again = SendMessage {
            attempt: attempts,
            ..message
        };
        Settled::changed(
            incoming,
            outcome(change, recipient, &message, ChangeStatus::Queued),
            Some((again, delay)),
        )
    }

    /// A short reply under the edited card: it changed. Best effort: the
    /// edit stands whether or not the reply gets through.
    async fn notify(&self, change: &Change, request: &Request<'_>) {
        let text = format!(
            "This announcement was updated: {}",
            change.record.content.title.as_str()
        );
        let activity = serde_json::json!({"type": "message", "text": text}).to_string();
        let throttle = self.throttles.get(&self.limit(request.tenant));
        throttle.acquire().await;
        if let Err(failure) = self
            .connector
            .send(request.service_url, request.conversation, &activity)
            .await
        {
            tracing::info!(%failure, "cannot say that the announcement changed");
        }
    }
}

/// Where a change goes.
struct Request<'a> {
    tenant: &'a str,
    service_url: &'a str,
    conversation: &'a str,
    activity_id: &'a str,
    /// The new card; `None` deletes.
    activity: Option<&'a str>,
}

fn outcome(
    change: &Change,
    recipient: RecipientId,
    message: &SendMessage,
    status: ChangeStatus,
) -> ChangeOutcome {
    ChangeOutcome {
        notification: change.record.id,
        recipient,
        version: change.change.version,
        status,
        attempt: i32::try_from(message.attempt + 1).unwrap_or(i32::MAX),
        reason: None,
    }
}

async fn skip_all(
    skipped: Vec<Incoming>,
    settled: &mpsc::Sender<Settled>,
) -> Result<(), StoreError> {
    for incoming in skipped {
        if settled.send(Settled::skip(incoming)).await.is_err() {
            break;
        }
    }
    Ok(())
}
