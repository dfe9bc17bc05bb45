//! Rate sharing: every process of a role (send-workers, prepare-workers)
//! announces itself each second, takes its share of every shared limit
//! among the live processes (`pace::worker_rate`), and applies the shared
//! adaptive rate to its throttles. A process that joins uses its share only
//! once the others have counted it. A congestion event in one process is
//! written at once, so the others slow down within their next second.

use std::sync::Arc;
use std::time::Duration;

use herald_domain::{RatePolicy, RateState};
use herald_microsoft::pace::{burst_for, worker_rate};
use herald_microsoft::{Limit, Throttle, Throttles};
use herald_ops::Metrics;
use herald_store::{SharedRate, Store};
use tokio::sync::watch;

pub const RATE_METRIC: &str = "herald_rate_per_second";
const HEARTBEAT: Duration = Duration::from_secs(1);

pub struct RateSharing {
    pub store: Store,
    pub throttles: Arc<Throttles>,
    /// `send` or `prepare`: processes of a role split its limits.
    pub role: &'static str,
    pub metrics: Arc<Metrics>,
    worker: uuid::Uuid,
}

impl RateSharing {
    pub fn new(
        store: Store,
        throttles: Arc<Throttles>,
        role: &'static str,
        metrics: Arc<Metrics>,
    ) -> Self {
        metrics.describe(
            RATE_METRIC,
            "This process's share of a shared rate toward Microsoft, by limit.",
        );
        Self {
            store,
            throttles,
            role,
            metrics,
            worker: uuid::Uuid::new_v4(),
        }
    }

    /// Shares every second, and at once when a congestion event begins,
    /// until `stop`; then leaves, so the others take its share.
    pub async fn run(self, mut stop: watch::Receiver<bool>) {
        loop {
            tokio::select! {
                () = tokio::time::sleep(HEARTBEAT) => {}
                () = self.throttles.congestion() => {}
                _ = stop.wait_for(|s| *s) => break,
            }
            self.once().await;
        }
        if let Err(error) = self.store.remove_worker(self.worker).await {
            tracing::warn!(error = %herald_domain::chain(&error), role = self.role, "cannot deregister the worker");
        }
    }

    /// Announces this process, takes its share, and waits until every
    /// other live process of the role has counted it (each announces
    /// itself once a second, and then takes its smaller share) before
    /// returning, so that the shares never add up to more than a limit
    /// while a process joins. Waits two heartbeats at most, and announces
    /// itself again if it waited that long.
    pub async fn join(&self) {
        self.once().await;
        let deadline = tokio::time::Instant::now() + HEARTBEAT * 2;
        loop {
            let counted = self
                .store
                .others_counted(self.worker, self.role, HEARTBEAT * 3)
                .await;
            match counted {
                Ok(true) => return,
                Ok(false) if tokio::time::Instant::now() < deadline => {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                Ok(false) => break,
                Err(error) => {
                    tracing::warn!(error = %herald_domain::chain(&error), role = self.role, "cannot tell whether the other workers counted this one");
                    break;
                }
            }
        }
        self.once().await;
    }

    /// Announces this process and applies the shared rates.
    pub async fn once(&self) {
        let live = match self
            .store
            .heartbeat(self.worker, self.role, HEARTBEAT * 3)
            .await
        {
            Ok(live) => live as f64,
            Err(error) => {
                tracing::warn!(error = %herald_domain::chain(&error), "heartbeat failed");
                return;
            }
        };
        self.throttles.set_workers(live);
        for (limit, throttle) in self.throttles.all() {
            match self.shared(&limit, &throttle).await {
                Ok(shared) => self.apply(&limit, &throttle, &shared, live),
                Err(error) => {
                    tracing::warn!(error = %herald_domain::chain(&error), key = %limit.key, "cannot share a rate")
                }
            }
        }
    }

    async fn shared(
        &self,
        limit: &Limit,
        throttle: &Throttle,
    ) -> Result<SharedRate, herald_store::StoreError> {
        let policy = RatePolicy::new(limit.ceiling);
        match throttle.take_congestion() {
            Some(retry_after) => {
                tracing::info!(key = %limit.key, ?retry_after, "Microsoft throttled; slowing down every worker");
                self.store
                    .rate_congested(&limit.key, &policy, retry_after)
                    .await
            }
            None => self.store.shared_rate(&limit.key, &policy).await,
        }
    }

    fn apply(&self, limit: &Limit, throttle: &Throttle, shared: &SharedRate, live: f64) {
        throttle.set_rate(
            worker_rate(shared.state.rate, live),
            burst(limit, &shared.state, live),
        );
        if let Some(until) = shared.throttled_until {
            let left = until - time::OffsetDateTime::now_utc();
            if left.is_positive() {
                throttle.pause_for(left.unsigned_abs());
            }
        }
        self.metrics
            .set(RATE_METRIC, &[("limit", &limit.key)], throttle.rate());
    }
}

/// Bursts are safe only against a limit Herald can trust: after a 429 the
/// real limit is lower than configured and unknown, so calls go evenly.
fn burst(limit: &Limit, state: &RateState, live: f64) -> u32 {
    if RatePolicy::trusts_configured_limit(state) {
        burst_for(limit.limit, limit.ceiling, live)
    } else {
        1
    }
}
