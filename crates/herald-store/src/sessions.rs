//! Staff sessions of the web UI and sign-ins under way. Only a hash of a
//! session's cookie token is stored.

use time::{Duration, OffsetDateTime};
use uuid::Uuid;

use crate::{Result, Store};

/// A signed-in member of staff.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct StaffSession {
    pub user_id: Uuid,
    pub user_name: String,
    pub user_principal_name: String,
    pub roles: Vec<String>,
    pub csrf_token: String,
    pub created_at: OffsetDateTime,
    pub last_seen_at: OffsetDateTime,
    /// Started in the Teams tab (its cookie is partitioned, see 0014).
    pub in_teams: bool,
}

/// What the sign-in callback needs, kept between the redirect and it.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct PendingSignIn {
    pub pkce_verifier: String,
    pub nonce: String,
    pub return_to: String,
    /// Started in the Teams tab's pop-up: the callback hands the person
    /// over to the tab instead of signing the pop-up in.
    pub for_teams: bool,
}

/// A person signed in by the Teams pop-up, waiting for the tab to take
/// them over.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct SignInHandoff {
    pub user_id: Uuid,
    pub user_name: String,
    pub user_principal_name: String,
    pub roles: Vec<String>,
}

/// How long a session lives: since its last use, and at most.
#[derive(Debug, Clone, Copy)]
pub struct SessionLifetime {
    pub idle: Duration,
    pub absolute: Duration,
}

/// Sign-ins not finished in this time are forgotten.
const SIGN_IN_TIMEOUT_SECONDS: i64 = 600;
/// A handoff the tab has not taken in this time is worthless.
const HANDOFF_TIMEOUT_SECONDS: i64 = 120;

impl Store {
    pub async fn create_session(&self, token_hash: &[u8], session: &StaffSession) -> Result<()> {
        sqlx::query(
            "insert into web_sessions (token_hash, user_id, user_name, user_principal_name, roles, csrf_token, in_teams) \
             values ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(token_hash)
        .bind(session.user_id)
        .bind(&session.user_name)
        .bind(&session.user_principal_name)
        .bind(&session.roles)
        .bind(&session.csrf_token)
        .bind(session.in_teams)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// The live session with this token hash. Its last use is written at
    /// most once a minute, so browsing costs reads, not writes.
    pub async fn session(
        &self,
        token_hash: &[u8],
        lifetime: SessionLifetime,
    ) -> Result<Option<StaffSession>> {
        let session: Option<StaffSession> = sqlx::query_as(
            "select user_id, user_name, user_principal_name, roles, csrf_token, created_at, last_seen_at, in_teams \
             from web_sessions where token_hash = $1 \
             and last_seen_at > now() - make_interval(secs => $2) \
             and created_at > now() - make_interval(secs => $3)",
        )
        .bind(token_hash)
        .bind(lifetime.idle.as_seconds_f64())
        .bind(lifetime.absolute.as_seconds_f64())
        .fetch_optional(&self.pool)
        .await?;
        if let Some(session) = &session
            && OffsetDateTime::now_utc() - session.last_seen_at > Duration::MINUTE
        {
            sqlx::query("update web_sessions set last_seen_at = now() where token_hash = $1")
                .bind(token_hash)
                .execute(&self.pool)
                .await?;
        }
        Ok(session)
    }

    pub async fn delete_session(&self, token_hash: &[u8]) -> Result<()> {
        sqlx::query("delete from web_sessions where token_hash = $1")
            .bind(token_hash)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Forgets sessions past their lifetime and stale sign-ins.
    pub async fn purge_sessions(&self, lifetime: SessionLifetime) -> Result<()> {
        sqlx::query(
            "delete from web_sessions where last_seen_at < now() - make_interval(secs => $1) \
             or created_at < now() - make_interval(secs => $2)",
        )
        .bind(lifetime.idle.as_seconds_f64())
        .bind(lifetime.absolute.as_seconds_f64())
        .execute(&self.pool)
        .await?;
        sqlx::query(
            "delete from web_sign_ins where created_at < now() - make_interval(secs => $1)",
        )
        .bind(SIGN_IN_TIMEOUT_SECONDS as f64)
        .execute(&self.pool)
        .await?;
        sqlx::query(
            "delete from web_sign_in_handoffs where created_at < now() - make_interval(secs => $1)",
        )
        .bind(HANDOFF_TIMEOUT_SECONDS as f64)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Leaves a person signed in by the Teams pop-up under a one-time code.
    pub async fn hand_off_sign_in(&self, code_hash: &[u8], person: &SignInHandoff) -> Result<()> {
        sqlx::query(
            "insert into web_sign_in_handoffs (code_hash, user_id, user_name, user_principal_name, roles) \
             values ($1, $2, $3, $4, $5)",
        )
        .bind(code_hash)
        .bind(person.user_id)
        .bind(&person.user_name)
        .bind(&person.user_principal_name)
        .bind(&person.roles)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Takes the person left under this code: once, and only while fresh.
    pub async fn take_sign_in_handoff(&self, code_hash: &[u8]) -> Result<Option<SignInHandoff>> {
        Ok(sqlx::query_as(
            "delete from web_sign_in_handoffs where code_hash = $1 \
             and created_at > now() - make_interval(secs => $2) \
             returning user_id, user_name, user_principal_name, roles",
        )
        .bind(code_hash)
        .bind(HANDOFF_TIMEOUT_SECONDS as f64)
        .fetch_optional(&self.pool)
        .await?)
    }

    pub async fn start_sign_in(&self, state: &str, pending: &PendingSignIn) -> Result<()> {
        sqlx::query(
            "insert into web_sign_ins (state, pkce_verifier, nonce, return_to, for_teams) values ($1, $2, $3, $4, $5)",
        )
        .bind(state)
        .bind(&pending.pkce_verifier)
        .bind(&pending.nonce)
        .bind(&pending.return_to)
        .bind(pending.for_teams)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Takes the sign-in with this state: it can be finished once.
    pub async fn finish_sign_in(&self, state: &str) -> Result<Option<PendingSignIn>> {
        Ok(sqlx::query_as(
            "delete from web_sign_ins where state = $1 \
             and created_at > now() - make_interval(secs => $2) \
             returning pkce_verifier, nonce, return_to, for_teams",
        )
        .bind(state)
        .bind(SIGN_IN_TIMEOUT_SECONDS as f64)
        .fetch_optional(&self.pool)
        .await?)
    }
}

/// Someone signed in, with their live sessions, as admins see them.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct SignedInPerson {
    pub user_id: Uuid,
    /// Their name, UPN and roles as of their latest sign-in.
    pub user_name: String,
    pub user_principal_name: String,
    pub roles: Vec<String>,
    /// Live sessions: one per browser or device they signed in on.
    pub sessions: i64,
    pub first_sign_in: OffsetDateTime,
    pub last_sign_in: OffsetDateTime,
    pub last_seen_at: OffsetDateTime,
}

impl Store {
    /// Everyone with a live session, one row each, most recently seen
    /// first.
    pub async fn signed_in_people(&self, lifetime: SessionLifetime) -> Result<Vec<SignedInPerson>> {
        Ok(sqlx::query_as(
            "with live as (select * from web_sessions where last_seen_at > now() - make_interval(secs => $1) \
                 and created_at > now() - make_interval(secs => $2)), \
             people as (select user_id, count(*) as sessions, min(created_at) as first_sign_in, \
                 max(created_at) as last_sign_in, max(last_seen_at) as last_seen_at \
                 from live group by user_id) \
             select p.user_id, l.user_name, l.user_principal_name, l.roles, p.sessions, \
                 p.first_sign_in, p.last_sign_in, p.last_seen_at \
             from people p cross join lateral (select user_name, user_principal_name, roles from live \
                 where live.user_id = p.user_id order by created_at desc limit 1) l \
             order by p.last_seen_at desc, p.user_id limit 500",
        )
        .bind(lifetime.idle.as_seconds_f64())
        .bind(lifetime.absolute.as_seconds_f64())
        .fetch_all(&self.pool)
        .await?)
    }

    /// Ends every session of one person; how many there were.
    pub async fn end_sessions_of(&self, user_id: Uuid) -> Result<u64> {
        Ok(sqlx::query("delete from web_sessions where user_id = $1")
            .bind(user_id)
            .execute(&self.pool)
            .await?
            .rows_affected())
    }
}
