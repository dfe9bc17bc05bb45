//! Drafts and schedules: notifications composed in the web UI before they
//! are sent. Every change is guarded by the status it expects, so a draft
//! that was sent or scheduled meanwhile is never overwritten.

use herald_domain::{Audience, Content, NotificationId};
use sqlx::{Postgres, Transaction};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::notifications::NotificationRow;
use crate::{NotificationRecord, Result, Store, StoreError};

/// The author of a draft: who may edit it besides admins.
#[derive(Debug, Clone)]
pub struct Owner {
    pub id: Uuid,
    pub name: String,
    /// Their user principal name, kept as `created_by`.
    pub upn: String,
}

/// A test sent from a draft to its author.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct TestSend {
    pub id: Uuid,
    /// Who sent it (a UPN), and so who got it.
    pub created_by: String,
    pub created_at: OffsetDateTime,
}

/// Scheduled notifications that fell due, claimed by this process: their
/// rows stay locked until `commit`, so no other process fires them, and a
/// crash before `commit` leaves them scheduled to fire again.
pub struct Due {
    transaction: Transaction<'static, Postgres>,
    pub ids: Vec<NotificationId>,
}

impl Due {
    pub async fn commit(self) -> Result<()> {
        self.transaction.commit().await?;
        Ok(())
    }
}

fn json<T: serde::Serialize>(value: &T) -> Result<serde_json::Value> {
    serde_json::to_value(value).map_err(|e| StoreError::Corrupt(e.to_string()))
}

type Query<'q> = sqlx::query::Query<'q, Postgres, sqlx::postgres::PgArguments>;

/// Binds a draft's content and audience as parameters $1 to $9.
fn bind_content<'q>(
    query: Query<'q>,
    content: &'q Content,
    audience: &Audience,
) -> Result<Query<'q>> {
    Ok(query
        .bind(content.title.as_str())
        .bind(&content.summary)
        .bind(content.image_url.as_ref().map(|u| u.as_str()))
        .bind(&content.author)
        .bind(json(&content.buttons)?)
        .bind(&content.feed_text)
        .bind(content.critical)
        .bind(content.acknowledgement_required)
        .bind(json(audience)?))
}

impl Store {
    pub async fn create_draft(
        &self,
        id: NotificationId,
        content: &Content,
        audience: &Audience,
        owner: &Owner,
    ) -> Result<()> {
        let query = sqlx::query(
            "insert into notifications (title, summary, image_url, author, buttons, feed_text, critical, \
             acknowledgement_required, audience, id, status, created_by, owner_id, owner_name) \
             values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, 'draft', $11, $12, $13)",
        );
        bind_content(query, content, audience)?
            .bind(id.0)
            .bind(&owner.upn)
            .bind(owner.id)
            .bind(&owner.name)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Replaces a draft's content and audience; false when it is no longer
    /// a draft (sent, scheduled or deleted meanwhile).
    pub async fn update_draft(
        &self,
        id: NotificationId,
        content: &Content,
        audience: &Audience,
    ) -> Result<bool> {
        let query = sqlx::query(
            "update notifications set title = $1, summary = $2, image_url = $3, author = $4, buttons = $5, \
             feed_text = $6, critical = $7, acknowledgement_required = $8, audience = $9, updated_at = now() \
             where id = $10 and status = 'draft'",
        );
        let updated = bind_content(query, content, audience)?
            .bind(id.0)
            .execute(&self.pool)
            .await?;
        Ok(updated.rows_affected() == 1)
    }

    /// Deletes a draft; a notification that was ever sent is kept.
    pub async fn delete_draft(&self, id: NotificationId) -> Result<bool> {
        let deleted = sqlx::query("delete from notifications where id = $1 and status = 'draft'")
            .bind(id.0)
            .execute(&self.pool)
            .await?;
        Ok(deleted.rows_affected() == 1)
    }

    /// Notifications newest first: one owner's, or everyone's.
    pub async fn announcements(
        &self,
        owner: Option<Uuid>,
        limit: i64,
    ) -> Result<Vec<NotificationRecord>> {
        let rows: Vec<NotificationRow> = sqlx::query_as(concat!(
            "select ",
            notification_columns!(),
            " from notifications where ($1::uuid is null or owner_id = $1) and not is_test \
             order by updated_at desc, id limit $2"
        ))
        .bind(owner)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter().map(NotificationRecord::try_from).collect()
    }

    /// The tests sent from a draft, newest first.
    pub async fn tests_of(&self, draft: NotificationId) -> Result<Vec<TestSend>> {
        Ok(sqlx::query_as(
            "select id, created_by, created_at from notifications \
             where test_of = $1 order by created_at desc, id desc",
        )
        .bind(draft.0)
        .fetch_all(&self.pool)
        .await?)
    }

    /// Draft to scheduled, due at `at` (UTC).
    pub async fn schedule(
        &self,
        id: NotificationId,
        at: OffsetDateTime,
        time_zone: &str,
    ) -> Result<bool> {
        let updated = sqlx::query(
            "update notifications set status = 'scheduled', scheduled_at = $2, time_zone = $3, updated_at = now() \
             where id = $1 and status = 'draft'",
        )
        .bind(id.0)
        .bind(at)
        .bind(time_zone)
        .execute(&self.pool)
        .await?;
        Ok(updated.rows_affected() == 1)
    }

    /// Scheduled back to draft: nothing was sent yet.
    pub async fn unschedule(&self, id: NotificationId) -> Result<bool> {
        let updated = sqlx::query(
            "update notifications set status = 'draft', scheduled_at = null, time_zone = null, updated_at = now() \
             where id = $1 and status = 'scheduled'",
        )
        .bind(id.0)
        .execute(&self.pool)
        .await?;
        Ok(updated.rows_affected() == 1)
    }

    /// A draft or a scheduled notification starts preparing; false when it
    /// is neither any more (someone else sent or canceled it).
    pub async fn start_sending(&self, id: NotificationId) -> Result<bool> {
        let updated = sqlx::query(
            "update notifications set status = 'preparing', send_started_at = now(), updated_at = now() \
             where id = $1 and status in ('draft', 'scheduled')",
        )
        .bind(id.0)
        .execute(&self.pool)
        .await?;
        Ok(updated.rows_affected() == 1)
    }

    /// Claims up to `limit` scheduled notifications that are due and marks
    /// them preparing, inside a transaction the caller commits once their
    /// prepare messages are published.
    pub async fn claim_due(&self, limit: i64) -> Result<Due> {
        let mut transaction = self.pool.begin().await?;
        let ids: Vec<Uuid> = sqlx::query_scalar(
            "update notifications set status = 'preparing', send_started_at = now(), updated_at = now() \
             where id in (select id from notifications where status = 'scheduled' and scheduled_at <= now() \
             order by scheduled_at limit $1 for update skip locked) returning id",
        )
        .bind(limit)
        .fetch_all(&mut *transaction)
        .await?;
        Ok(Due {
            transaction,
            ids: ids.into_iter().map(NotificationId).collect(),
        })
    }
}
