//! Webhooks of API keys and their deliveries. Deliveries are queued by a
//! trigger on the announcement's status (see the migration); the web
//! role's dispatcher claims due ones under a lease that other processes
//! skip, posts them and records each attempt.

use time::OffsetDateTime;
use uuid::Uuid;

use crate::{Result, Store};

/// A registered webhook, with the name of its key.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Webhook {
    pub id: Uuid,
    pub api_key_id: Uuid,
    pub key_name: String,
    pub url: String,
    pub created_by: String,
    pub created_at: OffsetDateTime,
}

/// A delivery to post now.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct DueDelivery {
    pub id: i64,
    pub url: String,
    pub secret: String,
    pub notification_id: Uuid,
    pub event: String,
    pub attempts: i32,
    pub created_at: OffsetDateTime,
}

/// A delivery as the admin page lists it.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct DeliveryAttempts {
    pub id: i64,
    pub key_name: String,
    pub url: String,
    pub title: String,
    pub event: String,
    pub created_at: OffsetDateTime,
    pub attempts: i32,
    pub last_attempt_at: Option<OffsetDateTime>,
    pub last_status: Option<i16>,
    pub last_error: Option<String>,
    pub next_attempt_at: OffsetDateTime,
    pub delivered_at: Option<OffsetDateTime>,
    pub gave_up_at: Option<OffsetDateTime>,
    /// The latest attempts, newest first: when, the status, the error.
    #[sqlx(skip)]
    pub tries: Vec<(OffsetDateTime, Option<i16>, Option<String>)>,
}

/// Attempts listed per delivery.
const TRIES_SHOWN: usize = 5;

/// What became of one attempt.
#[derive(Debug, Clone)]
pub enum Attempt {
    Delivered {
        status: u16,
    },
    /// Failed; tried again at `retry_at`, or given up when `None`.
    Failed {
        status: Option<u16>,
        error: String,
        retry_at: Option<OffsetDateTime>,
    },
}

impl Store {
    /// Registers `url` for a key, replacing the key's live webhook.
    pub async fn create_webhook(
        &self,
        id: Uuid,
        api_key_id: Uuid,
        url: &str,
        secret: &str,
        by: &str,
    ) -> Result<()> {
        let mut transaction = self.pool.begin().await?;
        sqlx::query(
            "update webhooks set revoked_at = now() where api_key_id = $1 and revoked_at is null",
        )
        .bind(api_key_id)
        .execute(&mut *transaction)
        .await?;
        sqlx::query(
            "insert into webhooks (id, api_key_id, url, secret, created_by) values ($1, $2, $3, $4, $5)",
        )
        .bind(id)
        .bind(api_key_id)
        .bind(url)
        .bind(secret)
        .bind(by)
        .execute(&mut *transaction)
        .await?;
        transaction.commit().await?;
        Ok(())
    }

    /// The live webhooks, newest first.
    pub async fn webhooks(&self) -> Result<Vec<Webhook>> {
        let hooks = sqlx::query_as(
            "select w.id, w.api_key_id, k.name as key_name, w.url, w.created_by, w.created_at \
             from webhooks w join api_keys k on k.id = w.api_key_id \
             where w.revoked_at is null order by w.created_at desc",
        )
        .fetch_all(&self.pool)
        .await?;
        Ok(hooks)
    }

    /// Stops a webhook; false when it is unknown or stopped already.
    pub async fn revoke_webhook(&self, id: Uuid) -> Result<bool> {
        let done = sqlx::query(
            "update webhooks set revoked_at = now() where id = $1 and revoked_at is null",
        )
        .bind(id)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Claims up to `limit` due deliveries for `lease_seconds`: another
    /// process skips them meanwhile, and a crash leaves them due again
    /// when the lease ends.
    pub async fn claim_webhook_deliveries(
        &self,
        limit: i64,
        lease_seconds: f64,
    ) -> Result<Vec<DueDelivery>> {
        let due = sqlx::query_as(
            "with due as ( \
                 select d.id from webhook_deliveries d join webhooks w on w.id = d.webhook_id \
                 where d.delivered_at is null and d.gave_up_at is null and d.next_attempt_at <= now() \
                   and w.revoked_at is null \
                 order by d.next_attempt_at limit $1 for update of d skip locked), \
             leased as ( \
                 update webhook_deliveries d set next_attempt_at = now() + make_interval(secs => $2) \
                 from due where d.id = due.id \
                 returning d.id, d.webhook_id, d.notification_id, d.event, d.attempts, d.created_at) \
             select l.id, w.url, w.secret, l.notification_id, l.event, l.attempts, l.created_at \
             from leased l join webhooks w on w.id = l.webhook_id",
        )
        .bind(limit)
        .bind(lease_seconds)
        .fetch_all(&self.pool)
        .await?;
        Ok(due)
    }

    pub async fn record_webhook_attempt(&self, id: i64, attempt: &Attempt) -> Result<()> {
        let mut transaction = self.pool.begin().await?;
        let (status, error) = match attempt {
            Attempt::Delivered { status } => (Some(*status as i16), None),
            Attempt::Failed { status, error, .. } => {
                (status.map(|s| s as i16), Some(error.as_str()))
            }
        };
        sqlx::query(
            "insert into webhook_attempts (delivery_id, status, error) values ($1, $2, $3)",
        )
        .bind(id)
        .bind(status)
        .bind(error)
        .execute(&mut *transaction)
        .await?;
        let query = match attempt {
            Attempt::Delivered { status } => sqlx::query(
                "update webhook_deliveries set attempts = attempts + 1, last_attempt_at = now(), \
                 last_status = $2, last_error = null, delivered_at = now() where id = $1",
            )
            .bind(id)
            .bind(*status as i16),
            Attempt::Failed {
                status,
                error,
                retry_at,
            } => sqlx::query(
                "update webhook_deliveries set attempts = attempts + 1, last_attempt_at = now(), \
                 last_status = $2, last_error = $3, next_attempt_at = coalesce($4, next_attempt_at), \
                 gave_up_at = case when $4::timestamptz is null then now() end where id = $1",
            )
            .bind(id)
            .bind(status.map(|s| s as i16))
            .bind(error)
            .bind(*retry_at),
        };
        query.execute(&mut *transaction).await?;
        transaction.commit().await?;
        Ok(())
    }

    /// The latest deliveries, newest first, for the admin page.
    pub async fn webhook_deliveries(&self, limit: i64) -> Result<Vec<DeliveryAttempts>> {
        let rows = sqlx::query_as(
            "select d.id, k.name as key_name, w.url, n.title, d.event, d.created_at, d.attempts, \
             d.last_attempt_at, d.last_status, d.last_error, d.next_attempt_at, d.delivered_at, d.gave_up_at \
             from webhook_deliveries d join webhooks w on w.id = d.webhook_id \
             join api_keys k on k.id = w.api_key_id join notifications n on n.id = d.notification_id \
             order by d.created_at desc, d.id desc limit $1",
        )
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        let mut rows: Vec<DeliveryAttempts> = rows;
        let ids: Vec<i64> = rows.iter().map(|r| r.id).collect();
        let tries: Vec<(i64, OffsetDateTime, Option<i16>, Option<String>)> = sqlx::query_as(
            "select delivery_id, at, status, error from webhook_attempts \
             where delivery_id = any($1) order by at desc",
        )
        .bind(&ids)
        .fetch_all(&self.pool)
        .await?;
        for (delivery, at, status, error) in tries {
            if let Some(row) = rows.iter_mut().find(|r| r.id == delivery)
                && row.tries.len() < TRIES_SHOWN
            {
                row.tries.push((at, status, error));
            }
        }
        Ok(rows)
    }
}
