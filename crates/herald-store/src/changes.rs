//! Edits and recalls of sent announcements: the change rows, the
//! deliveries each change must reach, and their outcomes.

use herald_domain::{ChangeKind, ChangeStatus, Content, NotificationId, RecipientId};
use time::OffsetDateTime;

use crate::{Result, Store, StoreError};

/// A change of a sent announcement, as stored.
#[derive(Debug, Clone)]
pub struct ChangeRecord {
    pub notification: NotificationId,
    /// The announcement's version this change made (2 for the first).
    pub version: i32,
    pub kind: ChangeKind,
    /// The content before the change.
    pub previous: Content,
    pub mark_edited: bool,
    pub notify: bool,
    pub by: String,
    pub created_at: OffsetDateTime,
    pub completed_at: Option<OffsetDateTime>,
}

#[derive(sqlx::FromRow)]
struct ChangeRow {
    notification_id: uuid::Uuid,
    version: i32,
    #[sqlx(try_from = "String")]
    kind: ChangeKind,
    previous: serde_json::Value,
    mark_edited: bool,
    notify: bool,
    by_name: String,
    created_at: OffsetDateTime,
    completed_at: Option<OffsetDateTime>,
}

impl TryFrom<ChangeRow> for ChangeRecord {
    type Error = StoreError;

    fn try_from(row: ChangeRow) -> Result<Self> {
        Ok(Self {
            notification: NotificationId(row.notification_id),
            version: row.version,
            kind: row.kind,
            previous: serde_json::from_value(row.previous)
                .map_err(|e| StoreError::Corrupt(format!("a change's previous content: {e}")))?,
            mark_edited: row.mark_edited,
            notify: row.notify,
            by: row.by_name,
            created_at: row.created_at,
            completed_at: row.completed_at,
        })
    }
}

/// A change to make: an edit carries the new content.
#[derive(Debug, Clone)]
pub struct NewChange<'a> {
    pub kind: ChangeKind,
    pub content: Option<&'a Content>,
    pub mark_edited: bool,
    pub notify: bool,
    pub by: &'a str,
}

/// Why a change was not started.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChangeRefused {
    Missing,
    /// A draft or a schedule: edit it as a draft.
    NotSent,
    /// Recalled or withdrawn already.
    TakenBack,
}

/// A started change: its version and the people whose card it changes.
#[derive(Debug, Clone)]
pub struct StartedChange {
    pub version: i32,
    pub recipients: Vec<RecipientId>,
}

/// What a send-worker needs to change one delivered card.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ChangeTarget {
    #[sqlx(rename = "recipient_id", try_from = "uuid::Uuid")]
    pub recipient: RecipientId,
    pub version: i32,
    /// `queued`, `updated`, `recalled`, `failed`; null before any change.
    pub change_status: Option<String>,
    pub change_attempts: i32,
    pub activity_id: Option<String>,
    pub conversation_id: Option<String>,
    pub service_url: Option<String>,
    pub tenant_id: String,
    /// When this person acknowledged the announcement, if they did.
    pub acknowledged_at: Option<OffsetDateTime>,
}

/// How one delivery's change went.
#[derive(Debug, Clone)]
pub struct ChangeOutcome {
    pub notification: NotificationId,
    pub recipient: RecipientId,
    pub version: i32,
    pub status: ChangeStatus,
    /// The request's number (1 for the first).
    pub attempt: i32,
    /// What went wrong, in words, when it failed.
    pub reason: Option<String>,
}

impl Store {
    /// Starts a change in one transaction: the announcement takes its next
    /// version (and, for an edit, the new content), the change is recorded
    /// with the content before it, and every delivered card is marked
    /// `queued` for it. A send still running keeps posting: what it posts
    /// from now on is the new version (see `late_changes`).
    pub async fn begin_change(
        &self,
        id: NotificationId,
        change: &NewChange<'_>,
    ) -> Result<std::result::Result<StartedChange, ChangeRefused>> {
        let mut transaction = self.pool.begin().await?;
        let Some(record) = self.notification_in(&mut transaction, id).await? else {
            return Ok(Err(ChangeRefused::Missing));
        };
        if matches!(
            record.status,
            herald_domain::NotificationStatus::Draft | herald_domain::NotificationStatus::Scheduled
        ) {
            return Ok(Err(ChangeRefused::NotSent));
        }
        let taken_back: bool = sqlx::query_scalar(
            "select exists (select 1 from notification_changes where notification_id = $1 and kind <> 'edit')",
        )
        .bind(id.0)
        .fetch_one(&mut *transaction)
        .await?;
        if taken_back {
            return Ok(Err(ChangeRefused::TakenBack));
        }
        let previous = serde_json::to_value(&record.content)
            .map_err(|e| StoreError::Corrupt(e.to_string()))?;
        let version: i32 = sqlx::query_scalar(
            "update notifications set version = version + 1 where id = $1 returning version",
        )
        .bind(id.0)
        .fetch_one(&mut *transaction)
        .await?;
        if let Some(content) = change.content {
            self.replace_content(&mut transaction, id, content).await?;
        }
        sqlx::query(
            "insert into notification_changes (notification_id, version, kind, previous, mark_edited, notify, by_name) \
             values ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(id.0)
        .bind(version)
        .bind(change.kind.as_str())
        .bind(previous)
        .bind(change.mark_edited)
        .bind(change.notify)
        .bind(change.by)
        .execute(&mut *transaction)
        .await?;
        let recipients: Vec<uuid::Uuid> = sqlx::query_scalar(
            "update deliveries set change_status = 'queued', change_reason = null, change_attempts = 0, \
             change_at = null, change_enqueued = false, updated_at = now() \
             where notification_id = $1 and status = 'delivered' and activity_id is not null and version < $2 \
             returning recipient_id",
        )
        .bind(id.0)
        .bind(version)
        .fetch_all(&mut *transaction)
        .await?;
        transaction.commit().await?;
        Ok(Ok(StartedChange {
            version,
            recipients: recipients.into_iter().map(RecipientId).collect(),
        }))
    }

    /// The announcement, locked until the transaction ends.
    async fn notification_in(
        &self,
        transaction: &mut sqlx::Transaction<'_, sqlx::Postgres>,
        id: NotificationId,
    ) -> Result<Option<crate::NotificationRecord>> {
        let row: Option<crate::notifications::NotificationRow> = sqlx::query_as(concat!(
            "select ",
            notification_columns!(),
            " from notifications where id = $1 for update"
        ))
        .bind(id.0)
        .fetch_optional(&mut **transaction)
        .await?;
        row.map(crate::NotificationRecord::try_from).transpose()
    }

    async fn replace_content(
        &self,
        transaction: &mut sqlx::Transaction<'_, sqlx::Postgres>,
        id: NotificationId,
        content: &Content,
    ) -> Result<()> {
        let buttons = serde_json::to_value(&content.buttons)
            .map_err(|e| StoreError::Corrupt(e.to_string()))?;
        sqlx::query(
            "update notifications set title = $2, summary = $3, image_url = $4, author = $5, buttons = $6, \
             feed_text = $7, critical = $8, updated_at = now() where id = $1",
        )
        .bind(id.0)
        .bind(content.title.as_str())
        .bind(&content.summary)
        .bind(content.image_url.as_ref().map(|u| u.as_str()))
        .bind(&content.author)
        .bind(buttons)
        .bind(&content.feed_text)
        .bind(content.critical)
        .execute(&mut **transaction)
        .await?;
        Ok(())
    }

    /// The announcement's changes, oldest first.
    pub async fn changes(&self, id: NotificationId) -> Result<Vec<ChangeRecord>> {
        let rows: Vec<ChangeRow> = sqlx::query_as(
            "select * from notification_changes where notification_id = $1 order by version",
        )
        .bind(id.0)
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter().map(ChangeRecord::try_from).collect()
    }

    /// One change, by the version it made.
    pub async fn change(&self, id: NotificationId, version: i32) -> Result<Option<ChangeRecord>> {
        let row: Option<ChangeRow> = sqlx::query_as(
            "select * from notification_changes where notification_id = $1 and version = $2",
        )
        .bind(id.0)
        .bind(version)
        .fetch_optional(&self.pool)
        .await?;
        row.map(ChangeRecord::try_from).transpose()
    }

    pub async fn change_targets(
        &self,
        notification: NotificationId,
        recipients: &[RecipientId],
    ) -> Result<Vec<ChangeTarget>> {
        let ids: Vec<uuid::Uuid> = recipients.iter().map(|r| r.0).collect();
        Ok(sqlx::query_as(
            "select d.recipient_id, d.version, d.change_status, d.change_attempts, d.activity_id, \
                 r.conversation_id, r.service_url, r.tenant_id, a.acknowledged_at \
             from deliveries d join recipients r on r.id = d.recipient_id \
             left join acknowledgements a on a.notification_id = d.notification_id and a.recipient_id = d.recipient_id \
             where d.notification_id = $1 and d.recipient_id = any($2)",
        )
        .bind(notification.0)
        .bind(&ids)
        .fetch_all(&self.pool)
        .await?)
    }

    /// Records changes' outcomes. A success moves the delivery to the
    /// change's version; an older change's outcome never overwrites a
    /// newer one's, and a retry only counts its attempt.
    pub async fn record_changes(&self, outcomes: &[ChangeOutcome]) -> Result<()> {
        if outcomes.is_empty() {
            return Ok(());
        }
        let notifications: Vec<uuid::Uuid> = outcomes.iter().map(|o| o.notification.0).collect();
        let recipients: Vec<uuid::Uuid> = outcomes.iter().map(|o| o.recipient.0).collect();
        let versions: Vec<i32> = outcomes.iter().map(|o| o.version).collect();
        let statuses: Vec<&str> = outcomes.iter().map(|o| o.status.as_str()).collect();
        let attempts: Vec<i32> = outcomes.iter().map(|o| o.attempt).collect();
        let reasons: Vec<Option<String>> = outcomes.iter().map(|o| o.reason.clone()).collect();
        sqlx::query(
            "update deliveries d set \
                 version = case when u.status in ('updated', 'recalled') then u.version else d.version end, \
                 change_status = u.status, change_reason = u.reason, \
                 change_attempts = greatest(d.change_attempts, u.attempt), \
                 change_at = case when u.status = 'queued' then d.change_at else now() end, \
                 updated_at = now() \
             from (select * from unnest($1::uuid[], $2::uuid[], $3::int[], $4::text[], $5::int[], $6::text[]) \
                   as u(n, r, version, status, attempt, reason) order by n, r) u \
             where d.notification_id = u.n and d.recipient_id = u.r and d.version < u.version \
               and (select version from notifications where id = u.n) = u.version",
        )
        .bind(&notifications)
        .bind(&recipients)
        .bind(&versions)
        .bind(&statuses)
        .bind(&attempts)
        .bind(&reasons)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Cards a send posted in an older version after a change began (the
    /// worker had the old card in hand): they are marked `queued` for the
    /// announcement's current change and returned with its version, for
    /// the caller to publish.
    pub async fn late_changes(
        &self,
        notifications: &[NotificationId],
    ) -> Result<Vec<(NotificationId, RecipientId, i32)>> {
        let ids: Vec<uuid::Uuid> = notifications.iter().map(|n| n.0).collect();
        let rows: Vec<(uuid::Uuid, uuid::Uuid, i32)> = sqlx::query_as(
            "update deliveries d set change_status = 'queued', change_attempts = 0, change_enqueued = false, \
                 updated_at = now() \
             from notifications n \
             where n.id = d.notification_id and n.id = any($1) and n.version > d.version \
               and d.status = 'delivered' and d.activity_id is not null and d.change_status is null \
             returning d.notification_id, d.recipient_id, n.version",
        )
        .bind(&ids)
        .fetch_all(&self.pool)
        .await?;
        Ok(to_change_messages(rows))
    }

    /// The change messages of these deliveries are published.
    pub async fn mark_changes_enqueued(
        &self,
        notification: NotificationId,
        recipients: &[RecipientId],
    ) -> Result<()> {
        let ids: Vec<uuid::Uuid> = recipients.iter().map(|r| r.0).collect();
        sqlx::query(
            "update deliveries set change_enqueued = true \
             where notification_id = $1 and recipient_id = any($2) and change_status = 'queued'",
        )
        .bind(notification.0)
        .bind(&ids)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Changes left `queued` and unpublished for longer than `older_than`
    /// seconds (a crash between the commit and the publish): returned for
    /// publishing. Applying a change twice is harmless.
    pub async fn stranded_changes(
        &self,
        older_than_seconds: i64,
        limit: i64,
    ) -> Result<Vec<(NotificationId, RecipientId, i32)>> {
        let rows: Vec<(uuid::Uuid, uuid::Uuid, i32)> = sqlx::query_as(
            "update deliveries d set updated_at = now() \
             from notifications n \
             where (d.notification_id, d.recipient_id) in ( \
                 select notification_id, recipient_id from deliveries \
                 where change_status = 'queued' and not change_enqueued \
                   and updated_at < now() - make_interval(secs => $1) \
                 limit $2 for update skip locked) \
               and n.id = d.notification_id \
             returning d.notification_id, d.recipient_id, n.version",
        )
        .bind(older_than_seconds as f64)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        Ok(to_change_messages(rows))
    }

    /// Marks the changes of these announcements complete where nothing is
    /// left to apply and no send is still posting old cards.
    pub async fn complete_changes(&self, notifications: &[NotificationId]) -> Result<()> {
        let ids: Vec<uuid::Uuid> = notifications.iter().map(|n| n.0).collect();
        self.complete_changes_of(Some(&ids)).await
    }

    /// The same for every change still open (the sweep's check, for a
    /// change whose last outcome came before its send ended).
    pub async fn complete_open_changes(&self) -> Result<()> {
        self.complete_changes_of(None).await
    }

    async fn complete_changes_of(&self, ids: Option<&[uuid::Uuid]>) -> Result<()> {
        sqlx::query(
            "update notification_changes c set completed_at = now() \
             from notifications n \
             where c.notification_id = n.id and ($1::uuid[] is null or n.id = any($1)) and c.completed_at is null \
               and n.status not in ('preparing', 'sending') \
               and not exists (select 1 from deliveries d where d.notification_id = n.id \
                   and (d.change_status = 'queued' \
                        or (d.status = 'delivered' and d.activity_id is not null and d.version < c.version \
                            and d.change_status is null)))",
        )
        .bind(ids)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Each change status and how many deliveries have it, for the
    /// announcement's current change.
    pub async fn change_counts(&self, id: NotificationId) -> Result<Vec<(ChangeStatus, i64)>> {
        let rows: Vec<(String, i64)> = sqlx::query_as(
            "select change_status, count(*) from deliveries \
             where notification_id = $1 and change_status is not null group by change_status",
        )
        .bind(id.0)
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter()
            .map(|(status, count)| {
                status
                    .parse()
                    .map(|s| (s, count))
                    .map_err(StoreError::Corrupt)
            })
            .collect()
    }
}

/// Rows of (notification, recipient, version), as the caller publishes them.
fn to_change_messages(
    rows: Vec<(uuid::Uuid, uuid::Uuid, i32)>,
) -> Vec<(NotificationId, RecipientId, i32)> {
    rows.into_iter()
        .map(|(n, r, v)| (NotificationId(n), RecipientId(r), v))
        .collect()
}
