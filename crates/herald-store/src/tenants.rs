use std::time::Duration;

use sqlx::Row;
use time::OffsetDateTime;

use crate::{Result, Store};

/// A tenant's current send rate, shared by every send-worker.
#[derive(Debug, Clone)]
pub struct TenantRate {
    pub rate_per_second: f64,
    pub throttled_until: Option<OffsetDateTime>,
}

impl Store {
    /// Records that a worker is alive; returns how many are.
    pub async fn heartbeat(&self, worker: uuid::Uuid, live_within: Duration) -> Result<i64> {
        sqlx::query("insert into send_workers (id) values ($1) on conflict (id) do update set last_seen = now()")
            .bind(worker)
            .execute(&self.pool)
            .await?;
        let live: i64 = sqlx::query_scalar(
            "select count(*) from send_workers where last_seen > now() - $1::interval",
        )
        .bind(format!("{} milliseconds", live_within.as_millis()))
        .fetch_one(&self.pool)
        .await?;
        Ok(live.max(1))
    }

    pub async fn remove_worker(&self, worker: uuid::Uuid) -> Result<()> {
        sqlx::query("delete from send_workers where id = $1")
            .bind(worker)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// The tenant's rate, created at `ceiling` the first time. Recovers
    /// towards `ceiling` by `step` at most once a second.
    pub async fn tenant_rate(&self, tenant: &str, ceiling: f64, step: f64) -> Result<TenantRate> {
        let row = sqlx::query(
            "insert into tenants (id, rate_per_second) values ($1, $2) \
             on conflict (id) do update set \
                 rate_per_second = case when tenants.updated_at < now() - interval '1 second' \
                     and (tenants.throttled_until is null or tenants.throttled_until < now()) \
                     then least($2, tenants.rate_per_second + $3) \
                     else least($2, tenants.rate_per_second) end, \
                 updated_at = case when tenants.updated_at < now() - interval '1 second' then now() else tenants.updated_at end \
             returning rate_per_second, throttled_until",
        )
        .bind(tenant)
        .bind(ceiling)
        .bind(step)
        .fetch_one(&self.pool)
        .await?;
        Ok(TenantRate {
            rate_per_second: row.try_get("rate_per_second")?,
            throttled_until: row.try_get("throttled_until")?,
        })
    }

    /// Teams said 429: every worker slows down and pauses.
    pub async fn tenant_throttled(
        &self,
        tenant: &str,
        retry_after: Duration,
        factor: f64,
        floor: f64,
    ) -> Result<()> {
        sqlx::query(
            "update tenants set rate_per_second = greatest($4, rate_per_second * $3), \
                 throttled_until = greatest(coalesce(throttled_until, now()), now() + $2::interval), updated_at = now() \
             where id = $1",
        )
        .bind(tenant)
        .bind(format!("{} milliseconds", retry_after.as_millis()))
        .bind(factor)
        .bind(floor)
        .execute(&self.pool)
        .await?;
        Ok(())
    }
}
