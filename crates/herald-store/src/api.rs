//! What the API for programs keeps: the keys admins hand out (only a hash
//! of each) and the answers given to `Idempotency-Key` requests.

use time::OffsetDateTime;
use uuid::Uuid;

use crate::{Result, Store};

/// An API key as admins see it; the key itself is never stored.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ApiKey {
    pub id: Uuid,
    pub name: String,
    /// `read` or `send`.
    pub scope: String,
    pub prefix: String,
    pub created_by: String,
    pub created_at: OffsetDateTime,
    pub expires_at: OffsetDateTime,
    pub revoked_at: Option<OffsetDateTime>,
    pub revoked_by: Option<String>,
    pub last_used_at: Option<OffsetDateTime>,
}

impl ApiKey {
    pub fn is_live(&self, now: OffsetDateTime) -> bool {
        self.revoked_at.is_none() && self.expires_at > now
    }
}

/// A key about to be stored.
#[derive(Debug, Clone)]
pub struct NewApiKey<'a> {
    pub id: Uuid,
    pub name: &'a str,
    pub scope: &'a str,
    pub token_hash: &'a [u8],
    pub prefix: &'a str,
    pub created_by: &'a str,
    pub expires_at: OffsetDateTime,
}

/// What became of an `Idempotency-Key` claim.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Claim {
    /// Nobody used this key before: serve the request, then `remember`.
    New,
    /// The first request with this key is still being served.
    Pending,
    /// It was answered: give the same answer.
    Answered(StoredAnswer),
    /// The key was used for another request.
    OtherRequest,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredAnswer {
    pub status: u16,
    pub body: Vec<u8>,
    pub location: Option<String>,
}

/// `select` of the columns of `api_keys` as `ApiKey` reads them, then `$rest`.
macro_rules! select_keys {
    ($rest:literal) => {
        concat!(
            "select id, name, scope, prefix, created_by, created_at, expires_at, \
             revoked_at, revoked_by, last_used_at from api_keys ",
            $rest
        )
    };
}

/// An `idempotency_keys` row as a claim reads it.
#[derive(sqlx::FromRow)]
struct KeyRow {
    request_hash: Vec<u8>,
    status: Option<i16>,
    body: Option<Vec<u8>>,
    location: Option<String>,
}

/// A claim not answered in this time is taken to be from a process that
/// died while serving it, and may be taken over.
const ABANDONED_SECONDS: i64 = 120;

impl Store {
    pub async fn create_api_key(&self, key: &NewApiKey<'_>) -> Result<()> {
        sqlx::query(
            "insert into api_keys (id, name, scope, token_hash, prefix, created_by, expires_at) \
             values ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(key.id)
        .bind(key.name)
        .bind(key.scope)
        .bind(key.token_hash)
        .bind(key.prefix)
        .bind(key.created_by)
        .bind(key.expires_at)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Every key, live ones first, newest first.
    pub async fn api_keys(&self) -> Result<Vec<ApiKey>> {
        let keys = sqlx::query_as(select_keys!(
            "order by (revoked_at is null and expires_at > now()) desc, created_at desc"
        ))
        .fetch_all(&self.pool)
        .await?;
        Ok(keys)
    }

    /// The live key with this hash, its use recorded (at most once a
    /// minute, so a busy program costs reads, not writes).
    pub async fn use_api_key(&self, token_hash: &[u8]) -> Result<Option<ApiKey>> {
        let key: Option<ApiKey> = sqlx::query_as(select_keys!(
            "where token_hash = $1 and revoked_at is null and expires_at > now()"
        ))
        .bind(token_hash)
        .fetch_optional(&self.pool)
        .await?;
        if let Some(key) = &key {
            sqlx::query(
                "update api_keys set last_used_at = now() where id = $1 \
                 and (last_used_at is null or last_used_at < now() - interval '1 minute')",
            )
            .bind(key.id)
            .execute(&self.pool)
            .await?;
        }
        Ok(key)
    }

    /// Revokes a live key; false when it is unknown or already revoked.
    pub async fn revoke_api_key(&self, id: Uuid, by: &str) -> Result<bool> {
        let done = sqlx::query(
            "update api_keys set revoked_at = now(), revoked_by = $2 \
             where id = $1 and revoked_at is null",
        )
        .bind(id)
        .bind(by)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Claims `key` for a request whose hash is `request_hash`. The
    /// insert is the lock: of two requests at once, in any process, one
    /// inserts and the other finds its row.
    pub async fn claim_idempotency(
        &self,
        caller: &str,
        key: &str,
        request_hash: &[u8],
    ) -> Result<Claim> {
        let inserted = sqlx::query(
            "insert into idempotency_keys (caller, key, request_hash) values ($1, $2, $3) \
             on conflict (caller, key) do update set created_at = now(), request_hash = $3 \
             where idempotency_keys.status is null \
               and idempotency_keys.created_at < now() - make_interval(secs => $4) \
               and idempotency_keys.request_hash = $3",
        )
        .bind(caller)
        .bind(key)
        .bind(request_hash)
        .bind(ABANDONED_SECONDS as f64)
        .execute(&self.pool)
        .await?;
        if inserted.rows_affected() == 1 {
            return Ok(Claim::New);
        }
        let row: Option<KeyRow> = sqlx::query_as(
            "select request_hash, status, body, location from idempotency_keys \
             where caller = $1 and key = $2",
        )
        .bind(caller)
        .bind(key)
        .fetch_optional(&self.pool)
        .await?;
        Ok(match row {
            // Forgotten between the insert and the read: try again.
            None => Claim::Pending,
            Some(row) if row.request_hash != request_hash => Claim::OtherRequest,
            Some(KeyRow {
                status: Some(status),
                body,
                location,
                ..
            }) => Claim::Answered(StoredAnswer {
                status: status as u16,
                body: body.unwrap_or_default(),
                location,
            }),
            Some(_) => Claim::Pending,
        })
    }

    /// Keeps the answer to a claimed key.
    pub async fn remember_answer(
        &self,
        caller: &str,
        key: &str,
        answer: &StoredAnswer,
    ) -> Result<()> {
        sqlx::query(
            "update idempotency_keys set status = $3, body = $4, location = $5 \
             where caller = $1 and key = $2",
        )
        .bind(caller)
        .bind(key)
        .bind(answer.status as i16)
        .bind(&answer.body)
        .bind(&answer.location)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Lets a claimed key go unanswered (Herald failed; a retry may try
    /// again), and forgets keys older than a day.
    pub async fn release_idempotency(&self, caller: &str, key: &str) -> Result<()> {
        sqlx::query(
            "delete from idempotency_keys where (caller = $1 and key = $2 and status is null) \
             or created_at < now() - interval '1 day'",
        )
        .bind(caller)
        .bind(key)
        .execute(&self.pool)
        .await?;
        Ok(())
    }
}
