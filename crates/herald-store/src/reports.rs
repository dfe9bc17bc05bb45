//! What delivery reports read: read receipts, the per-recipient table in
//! keyset pages, the activity timeline behind the status chart, the
//! announcements list and the admin overview. Every count here is kept as
//! it happens (triggers, counters); nothing rescans a notification's
//! deliveries except the per-recipient pages, which walk an index.

use herald_domain::{
    ChangeStatus, DeliveryReason, DeliveryStatus, NotificationId, NotificationStatus, RecipientId,
};
use sqlx::Row;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::notifications::NotificationRow;
use crate::{NotificationRecord, Result, Store, StoreError, parse};

/// One line of the per-recipient table.
/// Read by hand (`line`): sqlx's `FromRow` cannot turn a nullable text
/// column into `Option<DeliveryReason>` without the domain depending on sqlx.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct RecipientLine {
    pub recipient: Uuid,
    /// `person` or `channel`.
    pub kind: String,
    pub name: Option<String>,
    pub upn: Option<String>,
    pub status: DeliveryStatus,
    /// Why it was not delivered, as a code (`blocked`, `user_gone`...).
    #[schema(value_type = Option<String>)]
    pub error_code: Option<DeliveryReason>,
    pub error_message: Option<String>,
    pub attempts: i32,
    #[serde(with = "time::serde::rfc3339::option")]
    pub delivered_at: Option<OffsetDateTime>,
    #[serde(with = "time::serde::rfc3339::option")]
    pub read_at: Option<OffsetDateTime>,
    #[serde(with = "time::serde::rfc3339::option")]
    pub acknowledged_at: Option<OffsetDateTime>,
    /// The announcement's version the person's card now shows.
    pub version: i32,
    /// How the latest edit or recall went for them, if there was one.
    pub change: Option<ChangeStatus>,
    /// Why it failed, in words.
    pub change_reason: Option<String>,
}

/// A read receipt from a person's 1:1 chat with the bot.
#[derive(Debug, Clone)]
pub struct ReadReceipt {
    pub conversation: String,
    /// The person's Entra ID object id.
    pub person: Uuid,
    /// `lastReadMessageId`: every message up to it is read.
    pub last_read: i64,
}

/// Which recipients a page shows.
#[derive(Debug, Clone, Default)]
pub struct RecipientQuery {
    pub status: Option<DeliveryStatus>,
    /// Part of a name or UPN, any case.
    pub search: Option<String>,
    /// The last recipient of the previous page.
    pub after: Option<RecipientId>,
    /// The first recipient of the next page, to go back a page: the rows
    /// before it come nearest first (`recipient_page` turns them round).
    pub before: Option<RecipientId>,
    pub limit: i64,
}

impl RecipientQuery {
    /// `>` and `asc` forward, `<` and `desc` going back.
    fn direction(&self) -> (&'static str, &'static str, Option<RecipientId>) {
        match self.before {
            Some(before) => (" < ", " desc", Some(before)),
            None => (" > ", " asc", self.after),
        }
    }
}

/// Deliveries, reads and acknowledgements in one interval of the chart.
#[derive(Debug, Clone, Copy, serde::Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct TimelinePoint {
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
    pub delivered: i64,
    pub read: i64,
    pub acknowledged: i64,
}

/// Filters of the announcements list.
#[derive(Debug, Clone, Default)]
pub struct ListQuery {
    /// One owner's, or everyone's.
    pub owner: Option<Uuid>,
    /// Part of the title or the author's name, any case.
    pub search: Option<String>,
    pub status: Option<NotificationStatus>,
    /// Changed on or after this day (UTC), and before the end of `until`.
    pub since: Option<time::Date>,
    pub until: Option<time::Date>,
    pub sort: ListSort,
    /// The last announcement of the previous page.
    pub after: Option<NotificationId>,
    pub limit: i64,
}

/// What the announcements list can be sorted by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ListColumn {
    Title,
    Status,
    /// When it started sending, or is scheduled to (drafts last).
    Sent,
    #[default]
    Changed,
    Recipients,
    Delivered,
    Failed,
    /// The share of deliveries read (none delivered sorts lowest).
    Read,
}

impl ListColumn {
    pub const ALL: &'static [ListColumn] = &[
        ListColumn::Title,
        ListColumn::Status,
        ListColumn::Sent,
        ListColumn::Changed,
        ListColumn::Recipients,
        ListColumn::Delivered,
        ListColumn::Failed,
        ListColumn::Read,
    ];

    /// The name the query string uses.
    pub fn as_str(self) -> &'static str {
        match self {
            ListColumn::Title => "title",
            ListColumn::Status => "status",
            ListColumn::Sent => "sent",
            ListColumn::Changed => "changed",
            ListColumn::Recipients => "recipients",
            ListColumn::Delivered => "delivered",
            ListColumn::Failed => "failed",
            ListColumn::Read => "read",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.iter().copied().find(|c| c.as_str() == text)
    }

    /// Words sort from A, numbers and times from the most.
    pub fn descending_first(self) -> bool {
        !matches!(self, ListColumn::Title | ListColumn::Status)
    }

    /// The sort key over `n` (notifications) and `c` (`LIST_COUNTS`),
    /// never null: a row comparison with a null in it pages nowhere.
    fn key(self) -> &'static str {
        match self {
            ListColumn::Title => "lower(n.title)",
            ListColumn::Status => "n.status",
            ListColumn::Sent => {
                "coalesce(n.send_started_at, n.scheduled_at, '-infinity'::timestamptz)"
            }
            ListColumn::Changed => "n.updated_at",
            ListColumn::Recipients => "c.recipients",
            ListColumn::Delivered => "c.delivered",
            ListColumn::Failed => "c.failed",
            ListColumn::Read => "c.read_share",
        }
    }
}

/// The order of the announcements list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ListSort {
    pub column: ListColumn,
    pub descending: bool,
}

impl Default for ListSort {
    /// Most recently changed first.
    fn default() -> Self {
        Self {
            column: ListColumn::Changed,
            descending: true,
        }
    }
}

/// An announcement of the list with its delivery counts.
#[derive(Debug, Clone)]
pub struct ListedAnnouncement {
    pub record: NotificationRecord,
    /// Every delivery, whatever its status.
    pub recipients: i64,
    pub delivered: i64,
    /// Blocked, gone or failed: not delivered, and not on purpose.
    pub failed: i64,
}

/// A row of the announcements list, as selected.
#[derive(sqlx::FromRow)]
struct ListedRow {
    #[sqlx(flatten)]
    notification: NotificationRow,
    recipients: i64,
    delivered: i64,
    failed: i64,
}

impl TryFrom<ListedRow> for ListedAnnouncement {
    type Error = StoreError;

    fn try_from(row: ListedRow) -> Result<Self> {
        Ok(ListedAnnouncement {
            record: row.notification.try_into()?,
            recipients: row.recipients,
            delivered: row.delivered,
            failed: row.failed,
        })
    }
}

/// Deliveries by outcome per notification `n`, from the counters the send
/// path keeps (`notification_counts`, `notification_reads`).
const LIST_COUNTS: &str = "cross join lateral (select coalesce(sum(k.count), 0)::bigint as recipients, \
     coalesce(sum(k.count) filter (where k.status = 'delivered'), 0)::bigint as delivered, \
     coalesce(sum(k.count) filter (where k.status in ('blocked', 'gone', 'failed')), 0)::bigint as failed, \
     case when sum(k.count) filter (where k.status = 'delivered') > 0 \
         then coalesce((select reads from notification_reads where notification_id = n.id), 0)::float8 \
             / sum(k.count) filter (where k.status = 'delivered') \
         else -1 end as read_share \
     from notification_counts k where k.notification_id = n.id) c ";

/// The admin overview's figures for a period.
#[derive(Debug, Clone, Default, serde::Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct Overview {
    pub sends: i64,
    pub targeted: i64,
    pub delivered: i64,
    /// Deliveries to people (reads and acknowledgements are per person;
    /// channel posts are found by key, a few per send, not by a scan).
    pub delivered_to_people: i64,
    pub read: i64,
    /// Deliveries of announcements that asked for an acknowledgement.
    pub delivered_asking: i64,
    pub acknowledged: i64,
    pub opted_out: i64,
    pub blocked: i64,
    /// Deliveries per day, oldest first, days without any included.
    #[sqlx(skip)]
    #[schema(value_type = Vec<Vec<serde_json::Value>>)]
    pub per_day: Vec<(time::Date, i64)>,
}

/// The per-recipient table's columns, from `d` (deliveries) and `r` (the
/// recipient's name and UPN).
const LINE_COLUMNS: &str = "select d.recipient_id, r.kind, r.display_name, r.user_principal_name, d.status, \
     d.error_code, d.error_message, d.attempts, d.delivered_at, d.read_at, a.acknowledged_at, \
     d.version, d.change_status, d.change_reason ";

/// Acknowledgements of a reminder count for the announcement it reminds of.
const LINE_ACKNOWLEDGEMENTS: &str = "join notifications n on n.id = d.notification_id \
     left join acknowledgements a on a.notification_id = coalesce(n.reminder_of, n.id) \
         and a.recipient_id = d.recipient_id and a.counted ";

impl Store {
    /// Read receipts, recorded together: each person read their chat up
    /// to `last_read`, so every card delivered there with an id at most
    /// that is read. Returns how many deliveries were newly read; repeats
    /// change nothing, and a chat Herald never wrote to matches no one.
    ///
    /// The people are locked first, in id order, as `record_outcomes`
    /// locks them, and their newest read message is kept on them: a
    /// send-worker recording a card for them meanwhile waits for the
    /// commit and then reads the card as it records it, so no
    /// receipt is lost to a card whose outcome was not committed yet.
    pub async fn record_reads(&self, receipts: &[ReadReceipt]) -> Result<u64> {
        if receipts.is_empty() {
            return Ok(0);
        }
        let conversations: Vec<&str> = receipts.iter().map(|r| r.conversation.as_str()).collect();
        let people: Vec<Uuid> = receipts.iter().map(|r| r.person).collect();
        let last_read: Vec<i64> = receipts.iter().map(|r| r.last_read).collect();
        let mut transaction = self.pool.begin().await?;
        let readers: Vec<Uuid> = sqlx::query_scalar(
            "select r.id from recipients r \
             join unnest($1::text[], $2::uuid[]) as g(conversation, person) \
               on r.conversation_id = g.conversation and r.aad_object_id = g.person \
             where r.kind = 'person'",
        )
        .bind(&conversations)
        .bind(&people)
        .fetch_all(&mut *transaction)
        .await?;
        if readers.is_empty() {
            return Ok(0);
        }
        crate::deliveries::lock_people(&mut transaction, &readers).await?;
        sqlx::query(
            "update recipients r set last_read_message = greatest(coalesce(r.last_read_message, 0), g.last_read) \
             from (select conversation, person, max(last_read) as last_read \
                   from unnest($1::text[], $2::uuid[], $3::bigint[]) as g(conversation, person, last_read) \
                   group by 1, 2) g \
             where r.conversation_id = g.conversation and r.aad_object_id = g.person and r.kind = 'person'",
        )
        .bind(&conversations)
        .bind(&people)
        .bind(&last_read)
        .execute(&mut *transaction)
        .await?;
        // Personal-chat ids are increasing integers; an id that does not
        // parse says nothing (teams-platform.md §8), so it is never read.
        let done = sqlx::query(
            "update deliveries d set read_at = now() from recipients r \
             where r.id = any($1) and d.recipient_id = r.id and d.status = 'delivered' and d.read_at is null \
               and d.activity_id ~ '^[0-9]{1,18}$' and d.activity_id::bigint <= r.last_read_message",
        )
        .bind(&readers)
        .execute(&mut *transaction)
        .await?;
        transaction.commit().await?;
        Ok(done.rows_affected())
    }

    /// Refreshes the planner's statistics of deliveries and people. A big
    /// audience grows both by many times within a minute, faster than
    /// autovacuum looks (and it may be off); planned on the old figures,
    /// the send path's lookups by key turn into scans of the whole
    /// notification.
    pub async fn refresh_statistics(&self) -> Result<()> {
        sqlx::query("analyze deliveries, recipients")
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Bytes on disk of the whole database, and of the deliveries table
    /// with its indexes: what capacity planning per delivery needs.
    pub async fn sizes(&self) -> Result<(i64, i64)> {
        Ok(sqlx::query_as(
            "select pg_database_size(current_database()) as database, \
                    pg_total_relation_size('deliveries') as deliveries",
        )
        .fetch_one(&self.pool)
        .await?)
    }

    /// One keyset page of the per-recipient table, by name. Each filter
    /// is added only when given, so every combination gets a plan of its
    /// own that uses its index (an "or $n is null" would not).
    pub async fn recipient_page(
        &self,
        notification: NotificationId,
        query: &RecipientQuery,
    ) -> Result<Vec<RecipientLine>> {
        let mut sql = match &query.search {
            Some(text) => search(notification, query, &like_pattern(text)),
            None => table(notification, query),
        };
        let rows = sql.build().fetch_all(&self.pool).await?;
        let mut lines = rows
            .iter()
            .map(line)
            .collect::<Result<Vec<RecipientLine>>>()?;
        if query.before.is_some() {
            lines.reverse();
        }
        Ok(lines)
    }

    /// How many recipients a search finds (with the status filter, if
    /// any). Only a search needs counting: every status's count is kept.
    pub async fn recipient_matches(
        &self,
        notification: NotificationId,
        query: &RecipientQuery,
    ) -> Result<i64> {
        let Some(text) = &query.search else {
            return Ok(0);
        };
        let mut sql = Sql::new("select count(*) from recipients r where ");
        sql.push(SEARCH_TEXT)
            .push_bind(like_pattern(text))
            .push(" and exists (select 1 from deliveries k where k.notification_id = ")
            .push_bind(notification.0)
            .push(" and k.recipient_id = r.id");
        if let Some(status) = query.status {
            sql.push(" and k.status = ").push_bind(status.as_str());
        }
        sql.push(")");
        Ok(sql.build_query_scalar().fetch_one(&self.pool).await?)
    }

    /// The chart's points: at most about `points` intervals from the first
    /// event to the last, each with what happened in it.
    pub async fn timeline(
        &self,
        notification: NotificationId,
        points: i64,
    ) -> Result<Vec<TimelinePoint>> {
        Ok(sqlx::query_as(
            "with span as (select min(second) as first, max(second) as last \
                 from notification_timeline where notification_id = $1), \
             step as (select first, greatest(1, ceil(extract(epoch from last - first) / $2))::bigint \
                 * interval '1 second' as width from span) \
             select date_bin(step.width, t.second, step.first) as at, sum(t.delivered)::bigint as delivered, \
                 sum(t.read)::bigint as read, sum(t.acknowledged)::bigint as acknowledged \
             from notification_timeline t, step where t.notification_id = $1 \
             group by 1 order by 1",
        )
        .bind(notification.0)
        .bind(points.max(1) as f64)
        .fetch_all(&self.pool)
        .await?)
    }

    /// Deliveries per second over the last `seconds` whole seconds: one
    /// notification's, or everyone's.
    pub async fn recent_rate(
        &self,
        notification: Option<NotificationId>,
        seconds: i64,
    ) -> Result<f64> {
        let delivered: i64 = sqlx::query_scalar(
            "select coalesce(sum(delivered), 0)::bigint from notification_timeline \
             where ($1::uuid is null or notification_id = $1) \
               and second >= date_trunc('second', now()) - make_interval(secs => $2) \
               and second < date_trunc('second', now())",
        )
        .bind(notification.map(|n| n.0))
        .bind(seconds as f64)
        .fetch_one(&self.pool)
        .await?;
        Ok(delivered as f64 / seconds.max(1) as f64)
    }

    /// One page of the announcements list in the order asked, tests left
    /// out, each with its delivery counts from the counters the send path
    /// keeps (never a scan of deliveries). Pages follow the sort key and
    /// then the id, so each sort pages by keyset; a filter is added only
    /// when given.
    pub async fn announcement_page(&self, query: &ListQuery) -> Result<Vec<ListedAnnouncement>> {
        let key = query.sort.column.key();
        let (compare, direction) = if query.sort.descending {
            (" < ", " desc")
        } else {
            (" > ", " asc")
        };
        let mut sql = Sql::new(concat!(
            "select ",
            notification_columns!(),
            ", c.recipients, c.delivered, c.failed from notifications n "
        ));
        sql.push(LIST_COUNTS).push(" where not n.is_test");
        if let Some(owner) = query.owner {
            sql.push(" and n.owner_id = ").push_bind(owner);
        }
        if let Some(text) = &query.search {
            let pattern = like_pattern(text);
            sql.push(" and (lower(n.title) like ")
                .push_bind(pattern.clone())
                .push(" or lower(coalesce(n.owner_name, n.created_by)) like ")
                .push_bind(pattern)
                .push(")");
        }
        if let Some(status) = query.status {
            sql.push(" and n.status = ").push_bind(status.as_str());
        }
        if let Some(since) = query.since {
            sql.push(" and n.updated_at >= ")
                .push_bind(since)
                .push("::date::timestamptz");
        }
        if let Some(until) = query.until {
            sql.push(" and n.updated_at < (")
                .push_bind(until)
                .push("::date + 1)::timestamptz");
        }
        if let Some(after) = query.after {
            sql.push(format_args!(
                " and ({key}, n.id){compare}(select {key}, n.id from notifications n "
            ))
            .push(LIST_COUNTS)
            .push(" where n.id = ")
            .push_bind(after.0)
            .push(")");
        }
        sql.push(format_args!(
            " order by {key}{direction}, n.id{direction} limit "
        ))
        .push_bind(query.limit);
        let rows: Vec<ListedRow> = sql.build_query_as().fetch_all(&self.pool).await?;
        rows.into_iter().map(ListedAnnouncement::try_from).collect()
    }

    /// Sends that started in the last `days` days (tests are not sends),
    /// and the people
    /// Herald cannot reach by their own choice.
    pub async fn overview(&self, days: i64) -> Result<Overview> {
        let mut overview: Overview = sqlx::query_as(
            "with sent as (select id, acknowledgement_required, acknowledged_count, \
                 coalesce((select reads from notification_reads where notification_id = id), 0) as read_count \
                 from notifications where send_started_at >= now() - make_interval(days => $1::int) \
                 and reminder_of is null and not is_test), \
             counts as (select c.notification_id, sum(c.count) filter (where c.status <> 'skipped') as targeted, \
                 sum(c.count) filter (where c.status = 'delivered') as delivered \
                 from notification_counts c join sent on sent.id = c.notification_id group by 1), \
             channels as (select d.notification_id, count(*) as delivered from sent \
                 join recipients r on r.kind = 'channel' \
                 join deliveries d on d.notification_id = sent.id and d.recipient_id = r.id \
                 where d.status = 'delivered' group by 1), \
             people as (select c.notification_id, c.delivered - coalesce(ch.delivered, 0) as delivered \
                 from counts c left join channels ch using (notification_id)) \
             select (select count(*) from sent) as sends, \
                 coalesce((select sum(targeted) from counts), 0)::bigint as targeted, \
                 coalesce((select sum(delivered) from counts), 0)::bigint as delivered, \
                 coalesce((select sum(delivered) from people), 0)::bigint as delivered_to_people, \
                 coalesce((select sum(read_count) from sent), 0)::bigint as read, \
                 coalesce((select sum(p.delivered) from people p join sent s on s.id = p.notification_id \
                     where s.acknowledgement_required), 0)::bigint as delivered_asking, \
                 coalesce((select sum(acknowledged_count) from sent where acknowledgement_required), 0)::bigint \
                     as acknowledged, \
                 (select count(*) from recipients where kind = 'person' and opted_out) as opted_out, \
                 (select count(*) from recipients where kind = 'person' and blocked) as blocked",
        )
        .bind(days)
        .fetch_one(&self.pool)
        .await?;
        overview.per_day = self.deliveries_per_day(days).await?;
        Ok(overview)
    }

    async fn deliveries_per_day(&self, days: i64) -> Result<Vec<(time::Date, i64)>> {
        Ok(sqlx::query_as(
            "select day::date as day, coalesce(sum(t.delivered), 0)::bigint as delivered \
             from generate_series(current_date - ($1::int - 1), current_date, interval '1 day') as day \
             left join (notification_timeline t join notifications n \
                 on n.id = t.notification_id and not n.is_test) \
               on t.second >= day and t.second < day + interval '1 day' \
             group by 1 order by 1",
        )
        .bind(days)
        .fetch_all(&self.pool)
        .await?)
    }
}

/// `%text%` for `like`, with the pattern's own characters taken literally.
/// A query being built.
type Sql = sqlx::QueryBuilder<sqlx::Postgres>;

/// A person's name and UPN as a search matches them (the expression of
/// the trigram index `recipients_search`).
const SEARCH_TEXT: &str =
    "lower(coalesce(r.display_name, '') || ' ' || coalesce(r.user_principal_name, '')) like ";

/// A person's place in the table, from `r`: the expression deliveries
/// copy into their `sort_name` when they are created.
const PERSON_ORDER: &str = "lower(coalesce(r.display_name, r.user_principal_name, ''))";

/// A page of the table, straight from the index by name (or by status
/// and name).
fn table(notification: NotificationId, query: &RecipientQuery) -> Sql {
    let mut sql = Sql::new(LINE_COLUMNS);
    sql.push("from deliveries d join recipients r on r.id = d.recipient_id ")
        .push(LINE_ACKNOWLEDGEMENTS)
        .push(" where d.notification_id = ")
        .push_bind(notification.0);
    if let Some(status) = query.status {
        sql.push(" and d.status = ").push_bind(status.as_str());
    }
    let (compare, direction, cursor) = query.direction();
    if let Some(cursor) = cursor {
        sql.push(" and (d.sort_name, d.recipient_id)")
            .push(compare)
            .push("(select sort_name, recipient_id from deliveries where notification_id = ")
            .push_bind(notification.0)
            .push(" and recipient_id = ")
            .push_bind(cursor.0)
            .push(")");
    }
    sql.push(format_args!(
        " order by d.sort_name{direction}, d.recipient_id{direction} limit "
    ))
    .push_bind(query.limit);
    sql
}

/// A page of a search. It starts from the people whose name or UPN
/// matches (the trigram index finds them), in the order of their names as
/// they are now, and looks up each one's delivery by key until the page
/// is full: a common surname matches thousands, a page needs fifty.
/// Sorting by the deliveries' own names instead would need every match's
/// delivery first; the two orders differ only for people renamed since.
fn search(notification: NotificationId, query: &RecipientQuery, pattern: &str) -> Sql {
    let mut sql = Sql::new(LINE_COLUMNS);
    sql.push("from (select id, kind, display_name, user_principal_name, ")
        .push(PERSON_ORDER)
        .push(" as sort_name from recipients r where ")
        .push(SEARCH_TEXT)
        .push_bind(pattern.to_owned());
    let (compare, direction, cursor) = query.direction();
    if let Some(cursor) = cursor {
        sql.push(" and (")
            .push(PERSON_ORDER)
            .push(", r.id)")
            .push(compare)
            .push("(select ")
            .push(PERSON_ORDER)
            .push(", r.id from recipients r where r.id = ")
            .push_bind(cursor.0)
            .push(")");
    }
    // The order is the subquery's, kept by the nested loop below: the
    // limit then stops the lookups as soon as the page is full.
    sql.push(format_args!(" order by 5{direction}, 1{direction}) r cross join lateral (select * from deliveries k where k.notification_id = "))
        .push_bind(notification.0)
        .push(" and k.recipient_id = r.id");
    if let Some(status) = query.status {
        sql.push(" and k.status = ").push_bind(status.as_str());
    }
    sql.push(" limit 1) d ")
        .push(LINE_ACKNOWLEDGEMENTS)
        .push(format_args!(
            " order by r.sort_name{direction}, r.id{direction} limit "
        ))
        .push_bind(query.limit);
    sql
}

fn like_pattern(text: &str) -> String {
    let escaped = text
        .to_lowercase()
        .replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_");
    format!("%{escaped}%")
}

fn line(row: &sqlx::postgres::PgRow) -> Result<RecipientLine> {
    Ok(RecipientLine {
        recipient: row.try_get("recipient_id")?,
        kind: row.try_get("kind")?,
        name: row.try_get("display_name")?,
        upn: row.try_get("user_principal_name")?,
        status: parse(&row.try_get::<String, _>("status")?)?,
        error_code: row
            .try_get::<Option<String>, _>("error_code")?
            .map(DeliveryReason::from),
        error_message: row.try_get("error_message")?,
        attempts: row.try_get("attempts")?,
        delivered_at: row.try_get("delivered_at")?,
        read_at: row.try_get("read_at")?,
        acknowledged_at: row.try_get("acknowledged_at")?,
        version: row.try_get("version")?,
        change: row
            .try_get::<Option<String>, _>("change_status")?
            .map(|s| parse(&s))
            .transpose()?,
        change_reason: row.try_get("change_reason")?,
    })
}
