use herald_domain::{DeliveryReason, DeliveryStatus, NotificationId, RecipientId};
use sqlx::Row;

use crate::{Result, Store, parse};

/// What a send-worker needs for one queue message.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct SendTarget {
    #[sqlx(rename = "recipient_id", try_from = "uuid::Uuid")]
    pub recipient: RecipientId,
    #[sqlx(try_from = "String")]
    pub status: DeliveryStatus,
    pub attempts: i32,
    pub conversation_id: Option<String>,
    pub service_url: Option<String>,
    pub tenant_id: String,
}

/// The result of one send attempt, or a decision not to send.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub notification: NotificationId,
    pub recipient: RecipientId,
    pub status: DeliveryStatus,
    /// The number of the request that went to Teams (1 for the first),
    /// `None` when none went. Two copies of one queue message that both
    /// post make the same attempt, so a delivery's `attempts` is the
    /// highest number recorded, not a count of outcomes: a retry message
    /// carries that number and is never mistaken for a stale copy.
    pub attempt: Option<u32>,
    pub throttled: bool,
    pub http_status: Option<u16>,
    pub error_code: Option<DeliveryReason>,
    pub error_message: Option<String>,
    pub activity_id: Option<String>,
    /// The announcement's version the card that went out showed.
    pub version: i32,
}

impl Store {
    /// Creates delivery rows; rows that exist already are left alone, so a
    /// repeated prepare changes nothing.
    pub async fn insert_deliveries(
        &self,
        notification: NotificationId,
        rows: &[(RecipientId, DeliveryStatus, Option<String>)],
    ) -> Result<()> {
        if rows.is_empty() {
            return Ok(());
        }
        let (recipients, statuses, reasons) = row_columns(rows);
        sqlx::query(
            "insert into deliveries (notification_id, recipient_id, status, error_code, sort_name) \
             select $1, d.r, d.s, d.e, lower(coalesce(p.display_name, p.user_principal_name, '')) \
             from unnest($2::uuid[], $3::text[], $4::text[]) as d(r, s, e) \
             join recipients p on p.id = d.r \
             on conflict do nothing",
        )
        .bind(notification.0)
        .bind(&recipients)
        .bind(&statuses)
        .bind(&reasons)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Queued deliveries whose send message was not yet confirmed published.
    pub async fn unenqueued(
        &self,
        notification: NotificationId,
        limit: i64,
    ) -> Result<Vec<RecipientId>> {
        self.recipients_where(
            notification,
            limit,
            "select recipient_id from deliveries where notification_id = $1 and status = 'queued' and not enqueued limit $2",
        )
        .await
    }

    pub async fn mark_enqueued(
        &self,
        notification: NotificationId,
        recipients: &[RecipientId],
    ) -> Result<()> {
        let ids: Vec<uuid::Uuid> = recipients.iter().map(|r| r.0).collect();
        sqlx::query("update deliveries set enqueued = true where notification_id = $1 and recipient_id = any($2)")
            .bind(notification.0)
            .bind(&ids)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    pub async fn send_targets(
        &self,
        notification: NotificationId,
        recipients: &[RecipientId],
    ) -> Result<Vec<SendTarget>> {
        let ids: Vec<uuid::Uuid> = recipients.iter().map(|r| r.0).collect();
        Ok(sqlx::query_as(
            "select d.recipient_id, d.status, d.attempts, r.conversation_id, r.service_url, r.tenant_id \
             from deliveries d join recipients r on r.id = d.recipient_id \
             where d.notification_id = $1 and d.recipient_id = any($2)",
        )
        .bind(notification.0)
        .bind(&ids)
        .fetch_all(&self.pool)
        .await?)
    }

    /// Takes up to `limit` deliveries left `retrying` for longer than
    /// `older_than` in notifications still sending, counts the sweep as
    /// one more attempt and returns them with that number: the send message
    /// the caller publishes carries it, so any older copy still in a queue
    /// becomes stale and cannot post a second time beside it. Rows locked by
    /// another sweep are skipped, and each row taken is fresh again, so two
    /// sweepers never take the same row.
    pub async fn sweep_stranded_retries(
        &self,
        older_than: std::time::Duration,
        limit: i64,
    ) -> Result<Vec<(NotificationId, RecipientId, i32)>> {
        let rows = sqlx::query(
            "update deliveries d set attempts = d.attempts + 1, updated_at = now() \
             where (d.notification_id, d.recipient_id) in ( \
                 select s.notification_id, s.recipient_id from deliveries s \
                 join notifications n on n.id = s.notification_id \
                 where n.status in ('preparing', 'sending') and s.status = 'retrying' \
                   and s.updated_at < now() - make_interval(secs => $1) \
                 limit $2 for update of s skip locked) \
             returning d.notification_id, d.recipient_id, d.attempts",
        )
        .bind(older_than.as_secs_f64())
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                Ok((
                    NotificationId(row.try_get("notification_id")?),
                    RecipientId(row.try_get("recipient_id")?),
                    row.try_get("attempts")?,
                ))
            })
            .collect()
    }

    /// Commits a batch of outcomes in one transaction. A final status is
    /// never overwritten, except that a delivery canceled while its request
    /// was already on the wire is recorded as delivered, which is the truth.
    /// A card delivered to someone whose read receipt came first (it
    /// covers the card's id) is read at once: the person's lock, taken
    /// first, orders this against `record_reads`.
    pub async fn record_outcomes(&self, outcomes: &[Outcome]) -> Result<()> {
        if outcomes.is_empty() {
            return Ok(());
        }
        let column = |f: &dyn Fn(&Outcome) -> Option<String>| -> Vec<Option<String>> {
            outcomes.iter().map(f).collect()
        };
        let notifications: Vec<uuid::Uuid> = outcomes.iter().map(|o| o.notification.0).collect();
        let recipients: Vec<uuid::Uuid> = outcomes.iter().map(|o| o.recipient.0).collect();
        let statuses: Vec<&str> = outcomes.iter().map(|o| o.status.as_str()).collect();
        let attempt: Vec<i32> = outcomes
            .iter()
            .map(|o| {
                o.attempt
                    .map_or(0, |n| i32::try_from(n).unwrap_or(i32::MAX))
            })
            .collect();
        let throttled: Vec<i32> = outcomes.iter().map(|o| i32::from(o.throttled)).collect();
        let http: Vec<Option<i16>> = outcomes
            .iter()
            .map(|o| o.http_status.map(|s| s as i16))
            .collect();
        let codes = column(&|o| o.error_code.as_ref().map(ToString::to_string));
        let messages = column(&|o| o.error_message.clone());
        let activities = column(&|o| o.activity_id.clone());
        let versions: Vec<i32> = outcomes.iter().map(|o| o.version).collect();
        let mut transaction = self.pool.begin().await?;
        lock_people(&mut transaction, &recipients).await?;
        sqlx::query(
            "update deliveries d set status = u.status, attempts = greatest(d.attempts, u.attempt), \
                 throttles = d.throttles + u.throttled, last_http_status = coalesce(u.http, d.last_http_status), \
                 error_code = u.code, error_message = u.message, \
                 activity_id = coalesce(u.activity, d.activity_id), \
                 version = case when u.status = 'delivered' then u.version else d.version end, \
                 delivered_at = case when u.status = 'delivered' then now() else d.delivered_at end, \
                 read_at = case when u.status = 'delivered' and p.last_read_message is not null \
                     and coalesce(u.activity, d.activity_id) ~ '^[0-9]{1,18}$' then \
                         case when coalesce(u.activity, d.activity_id)::bigint <= p.last_read_message \
                         then coalesce(d.read_at, now()) else d.read_at end \
                     else d.read_at end, \
                 updated_at = now() \
             from (select * from unnest($1::uuid[], $2::uuid[], $3::text[], $4::int[], $5::int[], $6::smallint[], \
                       $7::text[], $8::text[], $9::text[], $10::int[]) \
                   as u(n, r, status, attempt, throttled, http, code, message, activity, version) \
                   order by n, r) u \
             join recipients p on p.id = u.r \
             where d.notification_id = u.n and d.recipient_id = u.r \
               and (d.status in ('pending', 'queued', 'retrying') or (d.status = 'canceled' and u.status = 'delivered'))",
        )
        .bind(&notifications)
        .bind(&recipients)
        .bind(&statuses)
        .bind(&attempt)
        .bind(&throttled)
        .bind(&http)
        .bind(&codes)
        .bind(&messages)
        .bind(&activities)
        .bind(&versions)
        .execute(&mut *transaction)
        .await?;
        self.mark_recipients(&mut transaction, outcomes).await?;
        self.mark_sending(&mut transaction, outcomes).await?;
        transaction.commit().await?;
        Ok(())
    }

    /// A notification is sending once its first message went to Teams,
    /// whether or not its audience is fully resolved (`prepared` says
    /// that): the status people see must not read "preparing" while
    /// cards arrive. Delivered ones also move the delivery times.
    async fn mark_sending(
        &self,
        transaction: &mut sqlx::Transaction<'_, sqlx::Postgres>,
        outcomes: &[Outcome],
    ) -> Result<()> {
        let ids = |keep: &dyn Fn(&Outcome) -> bool| -> Vec<uuid::Uuid> {
            outcomes
                .iter()
                .filter(|o| keep(o))
                .map(|o| o.notification.0)
                .collect::<std::collections::BTreeSet<_>>()
                .into_iter()
                .collect()
        };
        let attempted = ids(&|o| o.attempt.is_some() || o.status == DeliveryStatus::Delivered);
        if attempted.is_empty() {
            return Ok(());
        }
        let delivered = ids(&|o| o.status == DeliveryStatus::Delivered);
        sqlx::query(
            "update notifications n set \
                 status = case when n.status = 'preparing' then 'sending' else n.status end, \
                 first_delivery_at = case when n.id = any($2) then coalesce(n.first_delivery_at, now()) \
                     else n.first_delivery_at end, \
                 last_delivery_at = case when n.id = any($2) then now() else n.last_delivery_at end \
             where n.id = any($1)",
        )
        .bind(&attempted)
        .bind(&delivered)
        .execute(&mut **transaction)
        .await?;
        Ok(())
    }

    /// Blocked and gone are facts about the person, not just this delivery.
    async fn mark_recipients(
        &self,
        transaction: &mut sqlx::Transaction<'_, sqlx::Postgres>,
        outcomes: &[Outcome],
    ) -> Result<()> {
        let pick = |status: DeliveryStatus| -> (Vec<uuid::Uuid>, Vec<Option<String>>) {
            outcomes
                .iter()
                .filter(|o| o.status == status && o.attempt.is_some())
                .map(|o| {
                    (
                        o.recipient.0,
                        o.error_code.as_ref().map(ToString::to_string),
                    )
                })
                .unzip()
        };
        let (blocked, blocked_reasons) = pick(DeliveryStatus::Blocked);
        if !blocked.is_empty() {
            sqlx::query(
                "update recipients r set blocked = true, blocked_at = now(), status_reason = u.reason, updated_at = now() \
                 from unnest($1::uuid[], $2::text[]) as u(id, reason) where r.id = u.id",
            )
            .bind(&blocked)
            .bind(&blocked_reasons)
            .execute(&mut **transaction)
            .await?;
        }
        let (gone, gone_reasons) = pick(DeliveryStatus::Gone);
        if !gone.is_empty() {
            // The stored conversation is dead: forget it, so the next
            // broadcast resolves the person again instead of reusing it.
            sqlx::query(
                "update recipients r set gone = true, gone_at = now(), conversation_id = null, installed = false, \
                 status_reason = u.reason, updated_at = now() \
                 from unnest($1::uuid[], $2::text[]) as u(id, reason) where r.id = u.id",
            )
            .bind(&gone)
            .bind(&gone_reasons)
            .execute(&mut **transaction)
            .await?;
        }
        Ok(())
    }
}

/// Locks the people of a batch, in id order, before any delivery row.
/// Recording a read receipt takes the same locks first (`record_reads`),
/// and both then update deliveries and, through the triggers, the same
/// counters; one order for all keeps them from deadlocking, and a receipt
/// and a card for the same person can never miss each other.
pub(crate) async fn lock_people(
    transaction: &mut sqlx::Transaction<'_, sqlx::Postgres>,
    people: &[uuid::Uuid],
) -> Result<()> {
    sqlx::query("select 1 from recipients where id = any($1) order by id for no key update")
        .bind(people)
        .execute(&mut **transaction)
        .await?;
    Ok(())
}

/// One delivery as a report shows it. Read by hand: sqlx's `FromRow`
/// cannot turn a nullable text column into `Option<DeliveryReason>`
/// without the domain depending on sqlx.
#[derive(Debug, Clone)]
pub struct DeliveryRow {
    pub recipient: RecipientId,
    pub status: DeliveryStatus,
    pub attempts: i32,
    pub throttles: i32,
    pub error_code: Option<DeliveryReason>,
    pub activity_id: Option<String>,
}

impl Store {
    /// Every delivery of a notification (for reports and tests).
    pub async fn deliveries(&self, notification: NotificationId) -> Result<Vec<DeliveryRow>> {
        let rows = sqlx::query(
            "select recipient_id, status, attempts, throttles, error_code, activity_id from deliveries \
             where notification_id = $1 order by recipient_id",
        )
        .bind(notification.0)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                Ok(DeliveryRow {
                    recipient: RecipientId(row.try_get("recipient_id")?),
                    status: parse(&row.try_get::<String, _>("status")?)?,
                    attempts: row.try_get("attempts")?,
                    throttles: row.try_get("throttles")?,
                    error_code: row
                        .try_get::<Option<String>, _>("error_code")?
                        .map(DeliveryReason::from),
                    activity_id: row.try_get("activity_id")?,
                })
            })
            .collect()
    }
}

impl Store {
    /// Deliveries still waiting for a conversation.
    pub async fn pending(
        &self,
        notification: NotificationId,
        limit: i64,
    ) -> Result<Vec<RecipientId>> {
        self.recipients_where(
            notification,
            limit,
            "select recipient_id from deliveries where notification_id = $1 and status = 'pending' order by recipient_id limit $2",
        )
        .await
    }

    /// Moves pending deliveries on: queued once their chat is known, or
    /// failed with the reason.
    pub async fn settle_pending(
        &self,
        notification: NotificationId,
        rows: &[(RecipientId, DeliveryStatus, Option<String>)],
    ) -> Result<()> {
        let (recipients, statuses, reasons) = row_columns(rows);
        sqlx::query(
            "update deliveries d set status = u.status, error_code = u.reason, updated_at = now() \
             from (select * from unnest($2::uuid[], $3::text[], $4::text[]) as u(r, status, reason) order by r) u \
             where d.notification_id = $1 and d.recipient_id = u.r and d.status = 'pending'",
        )
        .bind(notification.0)
        .bind(&recipients)
        .bind(&statuses)
        .bind(&reasons)
        .execute(&self.pool)
        .await?;
        Ok(())
    }
}

impl Store {
    /// Whether any delivery row exists for the notification yet.
    pub async fn has_deliveries(&self, notification: NotificationId) -> Result<bool> {
        Ok(
            sqlx::query_scalar(
                "select exists(select 1 from deliveries where notification_id = $1)",
            )
            .bind(notification.0)
            .fetch_one(&self.pool)
            .await?,
        )
    }
}

/// A batch of delivery rows as the arrays `unnest` takes.
fn row_columns(
    rows: &[(RecipientId, DeliveryStatus, Option<String>)],
) -> (Vec<uuid::Uuid>, Vec<&str>, Vec<Option<&str>>) {
    (
        rows.iter().map(|r| r.0.0).collect(),
        rows.iter().map(|r| r.1.as_str()).collect(),
        rows.iter().map(|r| r.2.as_deref()).collect(),
    )
}

impl Store {
    /// Recipients of a notification picked by `query` (binds: notification, limit).
    async fn recipients_where(
        &self,
        notification: NotificationId,
        limit: i64,
        query: &'static str,
    ) -> Result<Vec<RecipientId>> {
        let ids: Vec<uuid::Uuid> = sqlx::query_scalar(query)
            .bind(notification.0)
            .bind(limit)
            .fetch_all(&self.pool)
            .await?;
        Ok(ids.into_iter().map(RecipientId).collect())
    }
}
