//! The tenant's send rate, shared by every send-worker.
//!
//! Each worker sends at `tenant rate / live workers`, spaced evenly by a
//! governor limiter. The limiter gets a small burst: a slot claimed late
//! (timers wake a little after their time) would otherwise be lost for
//! good, and a worker asked for 97 % of the limit would reach 90 %. The
//! burst is sized so that the slots of all workers in any one second still
//! stay at or under the tenant's limit (see `burst_for`). A 429 pauses the
//! tenant for Retry-After and lowers its rate for every worker (stored with
//! the tenant); the rate climbs back by 5 % of the ceiling a second.

use std::collections::HashMap;
use std::num::NonZeroU32;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use tokio::time::Instant;

pub struct Throttle {
    limiter: RwLock<Arc<DefaultDirectRateLimiter>>,
    rate: Mutex<(f64, u32)>,
    paused_until: Mutex<Option<Instant>>,
}

fn limiter(rate: f64, burst: u32) -> Arc<DefaultDirectRateLimiter> {
    let period = Duration::from_secs_f64(1.0 / rate.max(0.01));
    let burst = NonZeroU32::new(burst).unwrap_or(NonZeroU32::MIN);
    let quota = Quota::with_period(period)
        .unwrap_or_else(|| Quota::per_second(NonZeroU32::MIN))
        .allow_burst(burst);
    Arc::new(RateLimiter::direct(quota))
}

/// The burst each of `workers` may take. In any second a limiter lets
/// through at most `rate + burst`; summed over the workers that must stay
/// below `limit + 1` requests, since Teams counts whole requests.
pub fn burst_for(limit: f64, ceiling: f64, workers: f64) -> u32 {
    let budget = (limit + 1.0 - ceiling).ceil() - 1.0;
    ((budget / workers.max(1.0)).floor() as u32).clamp(1, 4)
}

impl Throttle {
    fn new(rate: f64, burst: u32) -> Self {
        Self {
            limiter: RwLock::new(limiter(rate, burst)),
            rate: Mutex::new((rate, burst)),
            paused_until: Mutex::new(None),
        }
    }

    /// Waits for this worker's next slot.
    pub async fn acquire(&self) {
        loop {
            let paused = *self.paused_until.lock().unwrap_or_else(|p| p.into_inner());
            if let Some(until) = paused
                && until > Instant::now()
            {
                tokio::time::sleep_until(until).await;
                continue;
            }
            let limiter = self
                .limiter
                .read()
                .unwrap_or_else(|p| p.into_inner())
                .clone();
            limiter.until_ready().await;
            // A 429 may have paused the tenant while this task waited.
            let paused = *self.paused_until.lock().unwrap_or_else(|p| p.into_inner());
            if paused.is_none_or(|until| until <= Instant::now()) {
                return;
            }
        }
    }

    pub fn rate(&self) -> f64 {
        self.rate.lock().unwrap_or_else(|p| p.into_inner()).0
    }

    /// Changes the rate when it moved by more than 1 % or the burst changed.
    pub fn set_rate(&self, rate: f64, burst: u32) {
        let mut current = self.rate.lock().unwrap_or_else(|p| p.into_inner());
        if (rate - current.0).abs() > current.0 * 0.01 || burst != current.1 {
            *current = (rate, burst);
            *self.limiter.write().unwrap_or_else(|p| p.into_inner()) = limiter(rate, burst);
        }
    }

    pub fn pause_for(&self, wait: Duration) {
        let until = Instant::now() + wait;
        let mut paused = self.paused_until.lock().unwrap_or_else(|p| p.into_inner());
        if paused.is_none_or(|current| current < until) {
            *paused = Some(until);
        }
    }
}

/// One throttle per tenant.
pub struct Throttles {
    initial_rate: Mutex<(f64, u32)>,
    tenants: Mutex<HashMap<String, Arc<Throttle>>>,
}

impl Throttles {
    pub fn new(initial_rate: f64, burst: u32) -> Self {
        Self {
            initial_rate: Mutex::new((initial_rate, burst)),
            tenants: Mutex::new(HashMap::new()),
        }
    }

    pub fn get(&self, tenant: &str) -> Arc<Throttle> {
        let (rate, burst) = *self.initial_rate.lock().unwrap_or_else(|p| p.into_inner());
        self.tenants
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry(tenant.to_owned())
            .or_insert_with(|| Arc::new(Throttle::new(rate, burst)))
            .clone()
    }

    /// The rate new tenants start at (this worker's share of the ceiling).
    pub fn set_initial_rate(&self, rate: f64, burst: u32) {
        *self.initial_rate.lock().unwrap_or_else(|p| p.into_inner()) = (rate, burst);
    }

    pub fn tenants(&self) -> Vec<(String, Arc<Throttle>)> {
        self.tenants
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn slots_are_spaced_evenly() {
        let throttle = Throttle::new(10.0, 1);
        let start = std::time::Instant::now();
        for _ in 0..11 {
            throttle.acquire().await;
        }
        let elapsed = start.elapsed();
        assert!(elapsed >= Duration::from_millis(990), "{elapsed:?}");
    }

    #[test]
    fn bursts_keep_every_second_within_the_limit() {
        assert_eq!(burst_for(200.0, 194.0, 1.0), 4);
        assert_eq!(burst_for(200.0, 194.0, 3.0), 2);
        assert_eq!(burst_for(50.0, 48.5, 1.0), 2);
        assert_eq!(burst_for(20.0, 19.4, 1.0), 1);
        for (limit, ceiling, workers) in
            [(200.0, 194.0, 3.0), (50.0, 48.5, 1.0), (200.0, 194.0, 1.0)]
        {
            let worst = ceiling + f64::from(burst_for(limit, ceiling, workers)) * workers;
            assert!(worst.floor() <= limit, "{limit} {ceiling} {workers}");
        }
    }

    #[tokio::test]
    async fn a_pause_holds_every_slot() {
        let throttle = Throttle::new(1000.0, 1);
        throttle.pause_for(Duration::from_millis(200));
        let start = Instant::now();
        throttle.acquire().await;
        assert!(start.elapsed() >= Duration::from_millis(200));
    }
}
