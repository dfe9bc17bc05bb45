//! Shared adaptive rates and the workers that split them. The arithmetic
//! is herald-domain's `RatePolicy`; this module only makes one change at a
//! time per rate (`select ... for update`), so workers updating the same
//! rate at once never lose each other's congestion events.

use std::time::Duration;

use herald_domain::{RatePolicy, RateState};
use time::OffsetDateTime;

use crate::{Result, Store};

/// A rate as every worker of its role shares it.
#[derive(Debug, Clone, PartialEq)]
pub struct SharedRate {
    pub state: RateState,
    pub throttled_until: Option<OffsetDateTime>,
}

#[derive(sqlx::FromRow)]
struct RateRow {
    rate_per_second: f64,
    congested_at: Option<f64>,
    step: f64,
    throttled_until: Option<OffsetDateTime>,
    congestion_until: Option<OffsetDateTime>,
    updated_at: OffsetDateTime,
}

impl RateRow {
    fn state(&self, policy: &RatePolicy) -> RateState {
        RateState {
            rate: self.rate_per_second.min(policy.ceiling),
            congested_at: self.congested_at,
            step: self.step,
        }
    }
}

impl Store {
    /// Records that a worker of `role` is alive; returns how many are.
    pub async fn heartbeat(
        &self,
        worker: uuid::Uuid,
        role: &str,
        live_within: Duration,
    ) -> Result<i64> {
        sqlx::query(
            "insert into workers (id, role) values ($1, $2) \
             on conflict (id) do update set last_seen = now()",
        )
        .bind(worker)
        .bind(role)
        .execute(&self.pool)
        .await?;
        let live: i64 = sqlx::query_scalar(
            "select count(*) from workers where role = $1 and last_seen > now() - $2::interval",
        )
        .bind(role)
        .bind(format!("{} milliseconds", live_within.as_millis()))
        .fetch_one(&self.pool)
        .await?;
        Ok(live.max(1))
    }

    /// Whether every other live worker of `role` has announced itself
    /// since `worker` last did (and so counted it among the live ones).
    pub async fn others_counted(
        &self,
        worker: uuid::Uuid,
        role: &str,
        live_within: Duration,
    ) -> Result<bool> {
        let behind: i64 = sqlx::query_scalar(
            "select count(*) from workers w where w.role = $2 and w.id <> $1 \
             and w.last_seen > now() - $3::interval \
             and w.last_seen <= (select last_seen from workers where id = $1)",
        )
        .bind(worker)
        .bind(role)
        .bind(format!("{} milliseconds", live_within.as_millis()))
        .fetch_one(&self.pool)
        .await?;
        Ok(behind == 0)
    }

    pub async fn remove_worker(&self, worker: uuid::Uuid) -> Result<()> {
        sqlx::query("delete from workers where id = $1")
            .bind(worker)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// The shared rate, moved on by the calm seconds since it last moved
    /// (none while Microsoft's Retry-After or a congestion event lasts).
    pub async fn shared_rate(&self, key: &str, policy: &RatePolicy) -> Result<SharedRate> {
        self.change_rate(key, policy, |row, now| {
            let mut state = row.state(policy);
            let mut moved = row.updated_at;
            // Neither a pause nor the rest of a congestion event is calm.
            let busy = [row.throttled_until, row.congestion_until];
            if busy.iter().flatten().any(|until| *until > now) {
                moved = now;
            } else {
                let seconds = (now - row.updated_at).whole_seconds().clamp(0, 120);
                if seconds > 0 {
                    state = policy.calm(state, seconds as u32);
                    moved = row.updated_at + time::Duration::seconds(seconds);
                }
            }
            (state, row.throttled_until, row.congestion_until, moved)
        })
        .await
    }

    /// Microsoft answered 429. The first 429 of a burst is a congestion
    /// event and lowers the rate; later ones of the same burst only extend
    /// the pause.
    pub async fn rate_congested(
        &self,
        key: &str,
        policy: &RatePolicy,
        retry_after: Duration,
    ) -> Result<SharedRate> {
        self.change_rate(key, policy, |row, now| {
            let pause_end = now + retry_after;
            let throttled_until = Some(row.throttled_until.map_or(pause_end, |t| t.max(pause_end)));
            if row.congestion_until.is_some_and(|until| until > now) {
                return (
                    row.state(policy),
                    throttled_until,
                    row.congestion_until,
                    row.updated_at,
                );
            }
            let event_end = now + retry_after.max(Duration::from_secs(1));
            (
                policy.congested(row.state(policy)),
                throttled_until,
                Some(event_end),
                now,
            )
        })
        .await
    }

    /// Reads the rate (created at the ceiling), changes it, stores it.
    async fn change_rate(
        &self,
        key: &str,
        policy: &RatePolicy,
        change: impl FnOnce(
            &RateRow,
            OffsetDateTime,
        ) -> (
            RateState,
            Option<OffsetDateTime>,
            Option<OffsetDateTime>,
            OffsetDateTime,
        ),
    ) -> Result<SharedRate> {
        let mut tx = self.pool.begin().await?;
        sqlx::query(
            "insert into rates (id, rate_per_second) values ($1, $2) on conflict (id) do nothing",
        )
        .bind(key)
        .bind(policy.ceiling)
        .execute(&mut *tx)
        .await?;
        let row: RateRow = sqlx::query_as(
            "select rate_per_second, congested_at, step, throttled_until, congestion_until, updated_at \
             from rates where id = $1 for update",
        )
        .bind(key)
        .fetch_one(&mut *tx)
        .await?;
        let now: OffsetDateTime = sqlx::query_scalar("select now()")
            .fetch_one(&mut *tx)
            .await?;
        let (state, throttled_until, congestion_until, updated_at) = change(&row, now);
        sqlx::query(
            "update rates set rate_per_second = $2, congested_at = $3, step = $4, \
             throttled_until = $5, congestion_until = $6, updated_at = $7 where id = $1",
        )
        .bind(key)
        .bind(state.rate)
        .bind(state.congested_at)
        .bind(state.step)
        .bind(throttled_until)
        .bind(congestion_until)
        .bind(updated_at)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(SharedRate {
            state,
            throttled_until,
        })
    }
}
