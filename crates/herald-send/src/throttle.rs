//! The tenant's send rate, shared by every send-worker.
//!
//! Each worker sends at `tenant rate / live workers`, spaced evenly (no
//! bursts) by a governor limiter. A 429 pauses the tenant for Retry-After
//! and lowers its rate for every worker (stored with the tenant); the rate
//! climbs back by 5 % of the ceiling a second.

use std::collections::HashMap;
use std::num::NonZeroU32;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use tokio::time::Instant;

pub struct Throttle {
    limiter: RwLock<Arc<DefaultDirectRateLimiter>>,
    rate: Mutex<f64>,
    paused_until: Mutex<Option<Instant>>,
}

fn limiter(rate: f64) -> Arc<DefaultDirectRateLimiter> {
    let period = Duration::from_secs_f64(1.0 / rate.max(0.01));
    let quota = Quota::with_period(period)
        .unwrap_or_else(|| Quota::per_second(NonZeroU32::MIN))
        .allow_burst(NonZeroU32::MIN);
    Arc::new(RateLimiter::direct(quota))
}

impl Throttle {
    fn new(rate: f64) -> Self {
        Self {
            limiter: RwLock::new(limiter(rate)),
            rate: Mutex::new(rate),
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
        *self.rate.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Changes the rate when it moved by more than 1 %.
    pub fn set_rate(&self, rate: f64) {
        let mut current = self.rate.lock().unwrap_or_else(|p| p.into_inner());
        if (rate - *current).abs() > *current * 0.01 {
            *current = rate;
            *self.limiter.write().unwrap_or_else(|p| p.into_inner()) = limiter(rate);
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
    initial_rate: Mutex<f64>,
    tenants: Mutex<HashMap<String, Arc<Throttle>>>,
}

impl Throttles {
    pub fn new(initial_rate: f64) -> Self {
        Self {
            initial_rate: Mutex::new(initial_rate),
            tenants: Mutex::new(HashMap::new()),
        }
    }

    pub fn get(&self, tenant: &str) -> Arc<Throttle> {
        let initial = *self.initial_rate.lock().unwrap_or_else(|p| p.into_inner());
        self.tenants
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry(tenant.to_owned())
            .or_insert_with(|| Arc::new(Throttle::new(initial)))
            .clone()
    }

    /// The rate new tenants start at (this worker's share of the ceiling).
    pub fn set_initial_rate(&self, rate: f64) {
        *self.initial_rate.lock().unwrap_or_else(|p| p.into_inner()) = rate;
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
        let throttle = Throttle::new(10.0);
        let start = std::time::Instant::now();
        for _ in 0..11 {
            throttle.acquire().await;
        }
        let elapsed = start.elapsed();
        assert!(elapsed >= Duration::from_millis(990), "{elapsed:?}");
    }

    #[tokio::test(start_paused = true)]
    async fn a_pause_holds_every_slot() {
        let throttle = Throttle::new(1000.0);
        throttle.pause_for(Duration::from_secs(2));
        let start = Instant::now();
        throttle.acquire().await;
        assert!(start.elapsed() >= Duration::from_secs(2));
    }
}
