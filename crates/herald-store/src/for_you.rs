//! What one person got: the announcements delivered to them (for their
//! own page, "Announcements for you"), and their own setting. Only the
//! person's own deliveries are ever read here: every query is keyed on
//! their Entra object id, which is their `recipients.id`.

use herald_domain::NotificationId;
use time::OffsetDateTime;

use crate::notifications::NotificationRow;
use crate::{NotificationRecord, Result, Store};

/// An announcement as it reached one person: its current content (after
/// any edit), when it reached them, its latest edit, and their
/// acknowledgement.
#[derive(Debug, Clone)]
pub struct DeliveredToYou {
    pub notification: NotificationRecord,
    pub delivered_at: Option<OffsetDateTime>,
    /// Its latest edit, if it was edited.
    pub edited: Option<LastEdit>,
    /// When they acknowledged it (a reminder's counts for its original).
    pub acknowledged_at: Option<OffsetDateTime>,
}

/// An edit of an announcement that went out.
#[derive(Debug, Clone, Copy)]
pub struct LastEdit {
    pub at: OffsetDateTime,
    /// Its card says "Edited" with the time.
    pub marked: bool,
}

/// What Herald keeps of a person it has reached or knows from the
/// directory: their own setting and their chat with the bot.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct RecipientSetting {
    /// Only critical announcements (replied `stop`).
    pub opted_out: bool,
    pub conversation_id: Option<String>,
}

#[derive(sqlx::FromRow)]
struct DeliveredRow {
    #[sqlx(flatten)]
    notification: NotificationRow,
    delivered_to_you_at: Option<OffsetDateTime>,
    acknowledged_at: Option<OffsetDateTime>,
    edited_at: Option<OffsetDateTime>,
    edit_marked: Option<bool>,
}

impl TryFrom<DeliveredRow> for DeliveredToYou {
    type Error = crate::StoreError;

    fn try_from(row: DeliveredRow) -> Result<Self> {
        Ok(Self {
            notification: row.notification.try_into()?,
            delivered_at: row.delivered_to_you_at,
            edited: row.edited_at.map(|at| LastEdit {
                at,
                marked: row.edit_marked.unwrap_or(false),
            }),
            acknowledged_at: row.acknowledged_at,
        })
    }
}

/// The person's deliveries (`$1`) that reached them as a person, never a
/// channel's, joined to the announcement's current row. Hidden: whatever
/// was recalled or withdrawn, and a reminder of something that was. The
/// columns of `mine` and the joins are named apart from the
/// notification's, which `notification_columns!` selects unqualified.
macro_rules! delivered_to_person {
    () => {
        concat!(
            "with mine as (select d.notification_id as delivered_id, d.delivered_at as delivered_to_you_at \
                 from deliveries d join recipients r on r.id = d.recipient_id \
                 where d.recipient_id = $1 and d.status = 'delivered' and r.kind = 'person') \
             select ",
            notification_columns!(),
            ", mine.delivered_to_you_at, a.acknowledged_at, e.edited_at, e.edit_marked \
             from mine join notifications on notifications.id = mine.delivered_id \
             left join acknowledgements a on a.recipient_id = $1 \
                 and a.notification_id = coalesce(notifications.reminder_of, notifications.id) \
             left join lateral (select c.created_at as edited_at, c.mark_edited as edit_marked \
                 from notification_changes c where c.notification_id = notifications.id and c.kind = 'edit' \
                 order by c.version desc limit 1) e on true \
             where not exists (select 1 from notification_changes t \
                 where t.notification_id in (notifications.id, notifications.reminder_of) and t.kind <> 'edit') "
        )
    };
}

impl Store {
    /// The announcements delivered to `person`, newest delivery first, at
    /// most `limit`; with `words`, only those whose title or summary holds
    /// every one of them (any case).
    pub async fn delivered_to(
        &self,
        person: uuid::Uuid,
        words: &[String],
        limit: i64,
    ) -> Result<Vec<DeliveredToYou>> {
        let rows: Vec<DeliveredRow> = sqlx::query_as(concat!(
            delivered_to_person!(),
            "and not exists (select 1 from unnest($2::text[]) as w(word) \
                 where strpos(lower(title || ' ' || coalesce(summary, '')), lower(w.word)) = 0) \
             order by mine.delivered_to_you_at desc nulls last, notifications.id desc limit $3"
        ))
        .bind(person)
        .bind(words)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter().map(DeliveredToYou::try_from).collect()
    }

    /// One announcement, if it was delivered to `person` and not taken back.
    pub async fn delivered_one(
        &self,
        person: uuid::Uuid,
        id: NotificationId,
    ) -> Result<Option<DeliveredToYou>> {
        let row: Option<DeliveredRow> =
            sqlx::query_as(concat!(delivered_to_person!(), "and notifications.id = $2"))
                .bind(person)
                .bind(id.0)
                .fetch_optional(&self.pool)
                .await?;
        row.map(DeliveredToYou::try_from).transpose()
    }

    /// The person's setting and chat; `None` for someone Herald has never
    /// reached nor read from the directory (nothing to store a setting on).
    pub async fn recipient_setting(&self, person: uuid::Uuid) -> Result<Option<RecipientSetting>> {
        Ok(sqlx::query_as(
            "select opted_out, conversation_id from recipients where id = $1 and kind = 'person'",
        )
        .bind(person)
        .fetch_optional(&self.pool)
        .await?)
    }
}
