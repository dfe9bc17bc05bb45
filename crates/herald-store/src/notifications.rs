use std::collections::BTreeMap;

use herald_domain::{Audience, Content, DeliveryStatus, NotificationId, NotificationStatus};
use serde_json::Value;
use time::OffsetDateTime;

use crate::{Result, Store, StoreError, parse};

#[derive(Debug, Clone)]
pub struct NotificationRecord {
    pub id: NotificationId,
    pub content: Content,
    pub audience: Audience,
    pub status: NotificationStatus,
    pub prepared: bool,
    pub created_by: String,
    pub created_at: OffsetDateTime,
    pub send_started_at: Option<OffsetDateTime>,
    pub first_delivery_at: Option<OffsetDateTime>,
    pub last_delivery_at: Option<OffsetDateTime>,
    pub completed_at: Option<OffsetDateTime>,
    pub error: Option<String>,
    /// The notification this one reminds of, whose acknowledgements it collects.
    pub reminder_of: Option<NotificationId>,
    pub acknowledged: i64,
    /// Deliveries read, from Teams' read receipts.
    pub read: i64,
    /// Who composed it in the web UI (Entra object id and name).
    pub owner: Option<(uuid::Uuid, String)>,
    pub updated_at: OffsetDateTime,
    pub scheduled_at: Option<OffsetDateTime>,
    /// The IANA time zone the schedule was picked in.
    pub time_zone: Option<String>,
    /// Who canceled it, as they were named when they did.
    pub canceled_by: Option<String>,
    /// 1 as sent; each edit or recall makes the next (`notification_changes`).
    pub version: i32,
}

impl NotificationRecord {
    /// What the card asks of its readers.
    pub fn acknowledgement(&self) -> herald_domain::Acknowledgement {
        if self.content.acknowledgement_required {
            herald_domain::Acknowledgement::Ask(self.reminder_of.unwrap_or(self.id))
        } else {
            herald_domain::Acknowledgement::NotAsked
        }
    }
}

/// Why a notification that is sent at once was made.
#[derive(Debug, Clone)]
pub enum Origin {
    /// An announcement in its own right (the command line, the API).
    Announcement,
    /// A reminder of this announcement, whose acknowledgements it collects.
    Reminder(NotificationId),
    /// A test of a draft sent to its author (Entra object id and name):
    /// not an announcement, so lists and figures leave it out, and the
    /// draft's page shows it.
    Test {
        of: NotificationId,
        author: (uuid::Uuid, String),
    },
}

impl Origin {
    fn reminder_of(&self) -> Option<NotificationId> {
        match self {
            Origin::Reminder(original) => Some(*original),
            _ => None,
        }
    }

    fn test_of(&self) -> Option<NotificationId> {
        match self {
            Origin::Test { of, .. } => Some(*of),
            _ => None,
        }
    }

    /// A test belongs to its author, who may then open its report.
    fn owner(&self) -> Option<&(uuid::Uuid, String)> {
        match self {
            Origin::Test { author, .. } => Some(author),
            _ => None,
        }
    }
}

/// A notification with its delivery counts.
#[derive(Debug, Clone)]
pub struct Progress {
    pub notification: NotificationRecord,
    pub counts: BTreeMap<DeliveryStatus, i64>,
}

impl Progress {
    pub fn total(&self) -> i64 {
        self.counts.values().sum()
    }

    pub fn count(&self, status: DeliveryStatus) -> i64 {
        self.counts.get(&status).copied().unwrap_or(0)
    }

    pub fn unfinished(&self) -> i64 {
        DeliveryStatus::ALL
            .iter()
            .filter(|s| !s.is_final())
            .map(|s| self.count(*s))
            .sum()
    }
}

macro_rules! notification_columns {
    () => {
        "id, title, summary, image_url, author, buttons, feed_text, critical, \
    acknowledgement_required, audience, status, prepared, created_by, created_at, send_started_at, \
    first_delivery_at, last_delivery_at, completed_at, error, reminder_of, acknowledged_count, \
    owner_id, owner_name, updated_at, scheduled_at, time_zone, canceled_by, version, \
    coalesce((select reads from notification_reads where notification_id = id), 0) as read_count"
    };
}

/// A notification's row as `notification_columns!` selects it; its
/// content and audience are checked when it becomes a `NotificationRecord`.
#[derive(sqlx::FromRow)]
pub(crate) struct NotificationRow {
    #[sqlx(try_from = "uuid::Uuid")]
    id: NotificationId,
    title: String,
    summary: Option<String>,
    image_url: Option<String>,
    author: Option<String>,
    buttons: Value,
    feed_text: Option<String>,
    critical: bool,
    acknowledgement_required: bool,
    audience: Value,
    #[sqlx(try_from = "String")]
    status: NotificationStatus,
    prepared: bool,
    created_by: String,
    created_at: OffsetDateTime,
    send_started_at: Option<OffsetDateTime>,
    first_delivery_at: Option<OffsetDateTime>,
    last_delivery_at: Option<OffsetDateTime>,
    completed_at: Option<OffsetDateTime>,
    error: Option<String>,
    reminder_of: Option<uuid::Uuid>,
    acknowledged_count: i64,
    read_count: i64,
    owner_id: Option<uuid::Uuid>,
    owner_name: Option<String>,
    updated_at: OffsetDateTime,
    scheduled_at: Option<OffsetDateTime>,
    time_zone: Option<String>,
    canceled_by: Option<String>,
    version: i32,
}

impl TryFrom<NotificationRow> for NotificationRecord {
    type Error = StoreError;

    fn try_from(row: NotificationRow) -> Result<Self> {
        let corrupt =
            |what: &str, e: String| StoreError::Corrupt(format!("notification {what}: {e}"));
        let content = serde_json::from_value::<Content>(serde_json::json!({
            "title": row.title,
            "summary": row.summary,
            "image_url": row.image_url,
            "author": row.author,
            "buttons": row.buttons,
            "feed_text": row.feed_text,
            "critical": row.critical,
            "acknowledgement_required": row.acknowledgement_required,
        }))
        .map_err(|e| corrupt("content", e.to_string()))?;
        let audience =
            serde_json::from_value(row.audience).map_err(|e| corrupt("audience", e.to_string()))?;
        Ok(NotificationRecord {
            id: row.id,
            content,
            audience,
            status: row.status,
            prepared: row.prepared,
            created_by: row.created_by,
            created_at: row.created_at,
            send_started_at: row.send_started_at,
            first_delivery_at: row.first_delivery_at,
            last_delivery_at: row.last_delivery_at,
            completed_at: row.completed_at,
            error: row.error,
            reminder_of: row.reminder_of.map(NotificationId),
            acknowledged: row.acknowledged_count,
            read: row.read_count,
            owner: row.owner_id.zip(row.owner_name),
            updated_at: row.updated_at,
            scheduled_at: row.scheduled_at,
            time_zone: row.time_zone,
            canceled_by: row.canceled_by,
            version: row.version,
        })
    }
}

impl Store {
    /// Stores a notification that is about to be prepared and sent.
    pub async fn create_notification(
        &self,
        id: NotificationId,
        content: &Content,
        audience: &Audience,
        created_by: &str,
        origin: Origin,
    ) -> Result<()> {
        let buttons = serde_json::to_value(&content.buttons)
            .map_err(|e| StoreError::Corrupt(e.to_string()))?;
        let audience =
            serde_json::to_value(audience).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        sqlx::query(
            // A reminder belongs to whoever owns the announcement it
            // reminds of, so it shows in their list beside it.
            "insert into notifications (id, title, summary, image_url, author, buttons, feed_text, critical, \
             acknowledgement_required, audience, status, created_by, send_started_at, reminder_of, \
             is_test, test_of, owner_id, owner_name) \
             values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, 'preparing', $11, now(), $12, $13, $14, \
             coalesce($15, (select owner_id from notifications where id = $12)), \
             coalesce($16, (select owner_name from notifications where id = $12)))",
        )
        .bind(id.0)
        .bind(content.title.as_str())
        .bind(&content.summary)
        .bind(content.image_url.as_ref().map(|u| u.as_str()))
        .bind(&content.author)
        .bind(buttons)
        .bind(&content.feed_text)
        .bind(content.critical)
        .bind(content.acknowledgement_required)
        .bind(audience)
        .bind(created_by)
        .bind(origin.reminder_of().map(|r| r.0))
        .bind(matches!(origin, Origin::Test { .. }))
        .bind(origin.test_of().map(|t| t.0))
        .bind(origin.owner().map(|o| o.0))
        .bind(origin.owner().map(|o| o.1.as_str()))
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    pub async fn notification(&self, id: NotificationId) -> Result<Option<NotificationRecord>> {
        let row: Option<NotificationRow> = sqlx::query_as(concat!(
            "select ",
            notification_columns!(),
            " from notifications where id = $1"
        ))
        .bind(id.0)
        .fetch_optional(&self.pool)
        .await?;
        row.map(NotificationRecord::try_from).transpose()
    }

    pub async fn progress(&self, id: NotificationId) -> Result<Option<Progress>> {
        let Some(notification) = self.notification(id).await? else {
            return Ok(None);
        };
        let rows: Vec<(String, i64)> = sqlx::query_as("select status, count from notification_counts where notification_id = $1 and count <> 0")
            .bind(id.0)
            .fetch_all(&self.pool)
            .await?;
        let counts = rows
            .iter()
            .map(|(status, count)| Ok((parse(status)?, *count)))
            .collect::<Result<_>>()?;
        Ok(Some(Progress {
            notification,
            counts,
        }))
    }

    /// The current status and version of each of these notifications.
    pub async fn statuses(
        &self,
        ids: &[NotificationId],
    ) -> Result<Vec<(NotificationId, NotificationStatus, i32)>> {
        let ids: Vec<uuid::Uuid> = ids.iter().map(|i| i.0).collect();
        let rows: Vec<(uuid::Uuid, String, i32)> =
            sqlx::query_as("select id, status, version from notifications where id = any($1)")
                .bind(&ids)
                .fetch_all(&self.pool)
                .await?;
        rows.iter()
            .map(|(id, status, version)| Ok((NotificationId(*id), parse(status)?, *version)))
            .collect()
    }

    /// Every delivery row exists now: the notification is sending, and can
    /// complete once no delivery is unfinished.
    pub async fn finish_preparing(&self, id: NotificationId) -> Result<()> {
        sqlx::query("update notifications set prepared = true, status = case when status = 'preparing' then 'sending' else status end where id = $1")
            .bind(id.0)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Marks as sent those of `ids` that are prepared and have no
    /// unfinished delivery; returns them.
    pub async fn complete_finished(&self, ids: &[NotificationId]) -> Result<Vec<NotificationId>> {
        let ids: Vec<uuid::Uuid> = ids.iter().map(|i| i.0).collect();
        let done: Vec<uuid::Uuid> = sqlx::query_scalar(
            "update notifications n set status = 'sent', completed_at = now() \
             where n.id = any($1) and n.prepared and n.status = 'sending' \
             and not exists (select 1 from notification_counts c where c.notification_id = n.id \
                 and c.status in ('pending', 'queued', 'retrying') and c.count > 0) \
             returning n.id",
        )
        .bind(&ids)
        .fetch_all(&self.pool)
        .await?;
        Ok(done.into_iter().map(NotificationId).collect())
    }

    /// Stops a notification: it is canceled by `by` (a person's name, or
    /// the program's), and every delivery not yet final is marked
    /// canceled. Returns false when it had already ended.
    pub async fn cancel_notification(&self, id: NotificationId, by: &str) -> Result<bool> {
        self.end_notification(
            id,
            Ending {
                status: NotificationStatus::Canceled,
                error: None,
                canceled_by: Some(by),
                deliveries: DeliveryStatus::Canceled,
                code: None,
            },
        )
        .await
    }

    /// Fails a notification with an error people can act on; unfinished
    /// deliveries fail with it.
    pub async fn fail_notification(
        &self,
        id: NotificationId,
        error: &str,
        code: &str,
    ) -> Result<bool> {
        self.end_notification(
            id,
            Ending {
                status: NotificationStatus::Failed,
                error: Some(error),
                canceled_by: None,
                deliveries: DeliveryStatus::Failed,
                code: Some(code),
            },
        )
        .await
    }

    /// Ending races the prepare and send stages, which update the same
    /// delivery rows in another order: PostgreSQL then aborts one side as
    /// a deadlock. Ending is safe to run again, so it is, a few times.
    async fn end_notification(&self, id: NotificationId, ending: Ending<'_>) -> Result<bool> {
        let mut attempts = 0;
        loop {
            attempts += 1;
            match self.try_end_notification(id, &ending).await {
                Err(StoreError::Database(failure)) if attempts < 5 && is_deadlock(&failure) => {
                    tracing::debug!(%id, "ending a notification met a deadlock; again");
                }
                other => return other,
            }
        }
    }

    async fn try_end_notification(&self, id: NotificationId, ending: &Ending<'_>) -> Result<bool> {
        let mut transaction = self.pool.begin().await?;
        let ended = sqlx::query(
            "update notifications set status = $2, error = coalesce($3, error), canceled_by = $4, \
             completed_at = now() where id = $1 and status not in ('sent', 'canceled', 'failed')",
        )
        .bind(id.0)
        .bind(ending.status.as_str())
        .bind(ending.error)
        .bind(ending.canceled_by)
        .execute(&mut *transaction)
        .await?
        .rows_affected()
            == 1;
        if ended {
            sqlx::query(
                "update deliveries set status = $2, error_code = coalesce($3, error_code), \
                 error_message = coalesce($4, error_message), updated_at = now() \
                 where notification_id = $1 and status in ('pending', 'queued', 'retrying')",
            )
            .bind(id.0)
            .bind(ending.deliveries.as_str())
            .bind(ending.code)
            .bind(ending.error)
            .execute(&mut *transaction)
            .await?;
        }
        transaction.commit().await?;
        Ok(ended)
    }
}

impl Store {
    /// How many notifications exist (for checks that nothing was stored).
    pub async fn notification_count(&self) -> Result<i64> {
        Ok(sqlx::query_scalar("select count(*) from notifications")
            .fetch_one(&self.pool)
            .await?)
    }
}

/// How a notification ends early: its status and why, and what becomes
/// of the deliveries not yet final.
struct Ending<'a> {
    status: NotificationStatus,
    error: Option<&'a str>,
    canceled_by: Option<&'a str>,
    deliveries: DeliveryStatus,
    code: Option<&'a str>,
}

/// Where a recipient's copy of an announcement is, to update it.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct PostedCard {
    #[sqlx(rename = "notification_id", try_from = "uuid::Uuid")]
    pub notification: NotificationId,
    #[sqlx(rename = "recipient_id", try_from = "uuid::Uuid")]
    pub recipient: herald_domain::RecipientId,
    pub conversation_id: String,
    pub service_url: String,
    pub activity_id: String,
}

/// What an Acknowledge press recorded.
#[derive(Debug, Clone, Copy, sqlx::FromRow)]
pub struct Acknowledged {
    /// When the person first acknowledged.
    #[sqlx(rename = "acknowledged_at")]
    pub at: OffsetDateTime,
    /// Whether it counts: the person is in the announcement's audience.
    pub counted: bool,
}

impl Store {
    /// Records a person's acknowledgement once, pressed in `conversation`
    /// (their chat, or a channel). It counts when the announcement was
    /// delivered to the person, or to that channel: so a 1:1 announcement
    /// never counts more acknowledgements than deliveries, and a channel
    /// post counts each person who acknowledged, once.
    pub async fn acknowledge(
        &self,
        notification: NotificationId,
        person: uuid::Uuid,
        conversation: &str,
    ) -> Result<Acknowledged> {
        let mut transaction = self.pool.begin().await?;
        // The person first, as read receipts and outcomes lock them: a
        // press marks their card read, and one order keeps the three from
        // deadlocking.
        crate::deliveries::lock_people(&mut transaction, &[person]).await?;
        let countable: bool = sqlx::query_scalar(
            "select exists (select 1 from deliveries                  where notification_id = $1 and recipient_id = $2 and status = 'delivered')              or exists (select 1 from recipients r join deliveries d on d.recipient_id = r.id and d.notification_id = $1                  where r.kind = 'channel' and r.conversation_id = $3 and d.status = 'delivered')",
        )
        .bind(notification.0)
        .bind(person)
        .bind(conversation)
        .fetch_one(&mut *transaction)
        .await?;
        let inserted: Option<OffsetDateTime> = sqlx::query_scalar(
            "insert into acknowledgements (notification_id, recipient_id, counted) values ($1, $2, $3)              on conflict do nothing returning acknowledged_at",
        )
        .bind(notification.0)
        .bind(person)
        .bind(countable)
        .fetch_optional(&mut *transaction)
        .await?;
        let newly_counted = match inserted {
            Some(_) => countable,
            // Pressed again, now from where it counts (e.g. the delivery was
            // recorded after the first press): count it, once.
            None if countable => sqlx::query(
                "update acknowledgements set counted = true                  where notification_id = $1 and recipient_id = $2 and not counted",
            )
            .bind(notification.0)
            .bind(person)
            .execute(&mut *transaction)
            .await?
            .rows_affected()
                == 1,
            None => false,
        };
        if countable {
            mark_read_by_press(&mut transaction, notification, person).await?;
        }
        if newly_counted {
            sqlx::query(
                "insert into notification_timeline (notification_id, second, acknowledged) \
                 values ($1, date_trunc('second', now()), 1) on conflict (notification_id, second) \
                 do update set acknowledged = notification_timeline.acknowledged + 1",
            )
            .bind(notification.0)
            .execute(&mut *transaction)
            .await?;
            sqlx::query(
                "update notifications set acknowledged_count = acknowledged_count + 1 where id = $1",
            )
            .bind(notification.0)
            .execute(&mut *transaction)
            .await?;
        }
        let acknowledged = sqlx::query_as(
            "select acknowledged_at, counted from acknowledgements where notification_id = $1 and recipient_id = $2",
        )
        .bind(notification.0)
        .bind(person)
        .fetch_one(&mut *transaction)
        .await?;
        transaction.commit().await?;
        Ok(acknowledged)
    }
}

impl Store {
    /// The card a recipient got, by its activity id (any notification).
    pub async fn posted_card(&self, activity_id: &str) -> Result<Option<PostedCard>> {
        Ok(sqlx::query_as(
            "select d.notification_id, d.recipient_id, r.conversation_id, r.service_url, d.activity_id \
             from deliveries d join recipients r on r.id = d.recipient_id \
             where d.activity_id = $1 and r.conversation_id is not null limit 1",
        )
        .bind(activity_id)
        .fetch_optional(&self.pool)
        .await?)
    }

    /// People an announcement was delivered to who have not acknowledged it.
    pub async fn not_acknowledged(
        &self,
        notification: NotificationId,
    ) -> Result<Vec<herald_domain::RecipientId>> {
        let ids: Vec<uuid::Uuid> = sqlx::query_scalar(
            "select d.recipient_id from deliveries d join recipients r on r.id = d.recipient_id \
             where d.notification_id = $1 and d.status = 'delivered' and r.kind = 'person' \
             and not exists (select 1 from acknowledgements a where a.notification_id = $1 and a.recipient_id = d.recipient_id) \
             order by d.recipient_id",
        )
        .bind(notification.0)
        .fetch_all(&self.pool)
        .await?;
        Ok(ids.into_iter().map(herald_domain::RecipientId).collect())
    }

    /// How many people `not_acknowledged` would find.
    pub async fn not_acknowledged_count(&self, notification: NotificationId) -> Result<i64> {
        Ok(sqlx::query_scalar(
            "select count(*) from deliveries d join recipients r on r.id = d.recipient_id \
             where d.notification_id = $1 and d.status = 'delivered' and r.kind = 'person' \
             and not exists (select 1 from acknowledgements a where a.notification_id = $1 and a.recipient_id = d.recipient_id)",
        )
        .bind(notification.0)
        .fetch_one(&self.pool)
        .await?)
    }

    /// The Entra object ids of the people who acknowledged an announcement.
    pub async fn acknowledged_by(&self, notification: NotificationId) -> Result<Vec<uuid::Uuid>> {
        Ok(sqlx::query_scalar(
            "select recipient_id from acknowledgements where notification_id = $1 order by recipient_id",
        )
        .bind(notification.0)
        .fetch_all(&self.pool)
        .await?)
    }

    pub async fn record_reaction(
        &self,
        card: &PostedCard,
        reaction: &str,
        added: bool,
    ) -> Result<()> {
        sqlx::query("insert into reactions (notification_id, recipient_id, reaction, added) values ($1, $2, $3, $4)")
            .bind(card.notification.0)
            .bind(card.recipient.0)
            .bind(reaction)
            .bind(added)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Reactions per kind (added minus removed) for a notification.
    pub async fn reactions(&self, notification: NotificationId) -> Result<Vec<(String, i64)>> {
        Ok(sqlx::query_as(
            "select reaction, sum(case when added then 1 else -1 end)::bigint as n from reactions \
             where notification_id = $1 group by reaction order by reaction",
        )
        .bind(notification.0)
        .fetch_all(&self.pool)
        .await?)
    }
}

/// Pressing Acknowledge is reading: the person's card counts as read from
/// their first press, unless a read receipt came earlier. The trigger on
/// deliveries counts the read, as it counts receipts.
async fn mark_read_by_press(
    transaction: &mut sqlx::Transaction<'_, sqlx::Postgres>,
    notification: NotificationId,
    person: uuid::Uuid,
) -> Result<()> {
    sqlx::query(
        "update deliveries d set read_at = a.acknowledged_at from acknowledgements a \
         where a.notification_id = $1 and a.recipient_id = $2 \
           and d.notification_id = $1 and d.recipient_id = $2 \
           and d.status = 'delivered' and d.read_at is null",
    )
    .bind(notification.0)
    .bind(person)
    .execute(&mut **transaction)
    .await?;
    Ok(())
}

/// PostgreSQL aborted the transaction to break a deadlock (40P01).
fn is_deadlock(error: &sqlx::Error) -> bool {
    error
        .as_database_error()
        .and_then(|e| e.code())
        .is_some_and(|code| code == "40P01")
}
