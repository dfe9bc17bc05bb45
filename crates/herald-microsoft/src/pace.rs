//! Pacing calls to Microsoft: a throttle per limit (a tenant's Bot
//! Connector rate, a kind of Graph call), shared by the tasks of one
//! process. The processes of a role share each limit through the store
//! (`herald-app`'s rate sharing sets every throttle's rate each second).
//!
//! Calls are spaced evenly by a governor limiter. The limiter gets a small
//! burst: a slot claimed late (timers wake a little after their time) would
//! otherwise be lost for good, and a worker asked for 97 % of the limit
//! would reach 90 %. The burst is sized so that the slots of all workers in
//! any one second still stay at or under the limit (see `burst_for`).
//!
//! A new rate replaces the limiter and wakes every task waiting on the old
//! one: tasks parked on a slow limiter would otherwise keep its pace long
//! after the shared rate went back up.

use std::collections::HashMap;
use std::num::NonZeroU32;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use herald_domain::rate::DECREASE;
use tokio::sync::{Notify, watch};
use tokio::time::Instant;

/// How long a congestion event lasts at least: the 429s of requests that
/// were already on the wire when the first came back belong to it.
const EVENT_AT_LEAST: Duration = Duration::from_secs(1);

pub struct Throttle {
    limiter: watch::Sender<Arc<DefaultDirectRateLimiter>>,
    state: Mutex<Local>,
    /// Wakes the rate sharing when a congestion event begins.
    congestion: Arc<Notify>,
}

struct Local {
    rate: f64,
    burst: u32,
    paused_until: Option<Instant>,
    /// 429s before this are part of the current congestion event.
    event_until: Option<Instant>,
    /// A congestion event (with its Retry-After) not yet shared.
    unshared: Option<Duration>,
}

fn limiter(rate: f64, burst: u32) -> Arc<DefaultDirectRateLimiter> {
    let period = Duration::from_secs_f64(1.0 / rate.max(0.01));
    let burst = NonZeroU32::new(burst).unwrap_or(NonZeroU32::MIN);
    let quota = Quota::with_period(period)
        .unwrap_or_else(|| Quota::per_second(NonZeroU32::MIN))
        .allow_burst(burst);
    Arc::new(RateLimiter::direct(quota))
}

/// The rate each of `workers` takes of a shared `rate`. Microsoft counts
/// whole requests in a sliding second, and a limiter at a fractional rate
/// `r` lets `ceil(r)` through in some second, so `rate / workers` each can
/// add up to more than the rate (3 x ceil(35.89 / 3) = 36, the headroom of
/// a 37/s limit gone). Several workers therefore each get a whole number of
/// requests a second, together at most `floor(rate)`, and run a hair under
/// it, so that `n + 1` evenly spaced requests span more than a second. One
/// worker keeps the exact rate: its single rounding up is within the
/// budget `burst_for` leaves. With fewer whole requests than workers the
/// rate is split evenly, and each worker sends at most one a second.
pub fn worker_rate(rate: f64, workers: f64) -> f64 {
    if workers <= 1.0 {
        return rate;
    }
    let whole = (rate.floor() / workers).floor();
    if whole < 1.0 {
        return rate / workers;
    }
    (whole * (1.0 - 1e-4)).min(rate / workers)
}

/// The burst each of `workers` may take. In any second a limiter lets
/// through at most `rate + burst`; summed over the workers that must stay
/// below `limit + 1` requests, since Microsoft counts whole requests.
pub fn burst_for(limit: f64, ceiling: f64, workers: f64) -> u32 {
    let budget = (limit + 1.0 - ceiling).ceil() - 1.0;
    ((budget / workers.max(1.0)).floor() as u32).clamp(1, 4)
}

impl Throttle {
    fn new(rate: f64, burst: u32, congestion: Arc<Notify>) -> Self {
        Self {
            limiter: watch::Sender::new(limiter(rate, burst)),
            state: Mutex::new(Local {
                rate,
                burst,
                paused_until: None,
                event_until: None,
                unshared: None,
            }),
            congestion,
        }
    }

    fn local(&self) -> std::sync::MutexGuard<'_, Local> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Waits for the next slot.
    pub async fn acquire(&self) {
        self.acquire_n(1).await;
    }

    /// Waits for `cost` slots (Graph weighs some calls). A cost above the
    /// limiter's burst is taken a burst at a time.
    pub async fn acquire_n(&self, cost: u32) {
        let mut left = cost.max(1);
        while left > 0 {
            let burst = self.local().burst.max(1);
            let take = left.min(burst);
            if self.acquire_slots(take).await {
                left -= take;
            }
        }
    }

    /// Waits for `n` slots; `false` when the rate changed to one whose
    /// burst is below `n`, so the caller asks again.
    async fn acquire_slots(&self, n: u32) -> bool {
        let n = NonZeroU32::new(n).unwrap_or(NonZeroU32::MIN);
        let mut changes = self.limiter.subscribe();
        loop {
            if let Some(until) = self.paused_until() {
                tokio::time::sleep_until(until).await;
                continue;
            }
            let limiter = changes.borrow_and_update().clone();
            tokio::select! {
                ready = limiter.until_n_ready(n) => {
                    if ready.is_err() {
                        return false;
                    }
                }
                // A new rate: wait on the new limiter instead.
                _ = changes.changed() => continue,
            }
            // A 429 may have paused everything while this task waited.
            if self.paused_until().is_none() {
                return true;
            }
        }
    }

    fn paused_until(&self) -> Option<Instant> {
        self.local()
            .paused_until
            .filter(|until| *until > Instant::now())
    }

    pub fn rate(&self) -> f64 {
        self.local().rate
    }

    /// Changes the rate when it moved by more than 1 % or the burst changed.
    /// The new limiter starts with its burst spent, as a busy one is: a
    /// fresh one would let a request go at once, right after the last one
    /// at the old rate, and workers re-splitting their shares in the same
    /// second (one joins or leaves) would each send one over their share.
    pub fn set_rate(&self, rate: f64, burst: u32) {
        let mut local = self.local();
        if (rate - local.rate).abs() > local.rate * 0.01 || burst != local.burst {
            local.rate = rate;
            local.burst = burst;
            let replacement = limiter(rate, burst);
            let burst = NonZeroU32::new(burst).unwrap_or(NonZeroU32::MIN);
            let _ = replacement.check_n(burst);
            self.limiter.send_replace(replacement);
        }
    }

    pub fn pause_for(&self, wait: Duration) {
        let until = Instant::now() + wait;
        let mut local = self.local();
        if local.paused_until.is_none_or(|current| current < until) {
            local.paused_until = Some(until);
        }
    }

    /// Microsoft answered 429: pause for Retry-After. The first 429 of a
    /// burst is a congestion event: this process slows down at once and the
    /// event is shared with the others; the rest of the burst changes
    /// nothing more. Returns whether this 429 began an event.
    pub fn throttled(&self, retry_after: Duration) -> bool {
        self.pause_for(retry_after);
        let now = Instant::now();
        let mut local = self.local();
        if local.event_until.is_some_and(|until| until > now) {
            return false;
        }
        local.event_until = Some(now + retry_after.max(EVENT_AT_LEAST));
        local.unshared = Some(retry_after);
        let slower = local.rate * DECREASE;
        local.rate = slower;
        self.limiter.send_replace(limiter(slower, 1));
        local.burst = 1;
        drop(local);
        self.congestion.notify_one();
        true
    }

    /// The congestion event not yet shared with other processes, if any.
    pub fn take_congestion(&self) -> Option<Duration> {
        self.local().unshared.take()
    }
}

/// What one throttle stands for: its key in the shared store, and the
/// limit it paces (calls a second; the ceiling leaves headroom).
#[derive(Debug, Clone, PartialEq)]
pub struct Limit {
    pub key: String,
    pub limit: f64,
    pub ceiling: f64,
}

/// The throttles of one process, by key.
pub struct Throttles {
    entries: Mutex<HashMap<String, (Limit, Arc<Throttle>)>>,
    /// Live processes of this one's role, each taking its share of every
    /// limit (`worker_rate`).
    workers: Mutex<f64>,
    congestion: Arc<Notify>,
}

impl Default for Throttles {
    fn default() -> Self {
        Self {
            entries: Mutex::new(HashMap::new()),
            workers: Mutex::new(1.0),
            congestion: Arc::new(Notify::new()),
        }
    }
}

impl Throttles {
    /// The throttle for `limit`, created at this process's share of it.
    pub fn get(&self, limit: &Limit) -> Arc<Throttle> {
        let workers = self.workers();
        self.entries
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry(limit.key.clone())
            .or_insert_with(|| {
                let burst = burst_for(limit.limit, limit.ceiling, workers);
                let rate = worker_rate(limit.ceiling, workers);
                let throttle = Throttle::new(rate, burst, self.congestion.clone());
                (limit.clone(), Arc::new(throttle))
            })
            .1
            .clone()
    }

    pub fn workers(&self) -> f64 {
        *self.workers.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn set_workers(&self, workers: f64) {
        *self.workers.lock().unwrap_or_else(|p| p.into_inner()) = workers.max(1.0);
    }

    pub fn all(&self) -> Vec<(Limit, Arc<Throttle>)> {
        self.entries
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .values()
            .cloned()
            .collect()
    }

    /// Resolves when some throttle began a congestion event.
    pub async fn congestion(&self) {
        self.congestion.notified().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn throttle(rate: f64, burst: u32) -> Throttle {
        Throttle::new(rate, burst, Arc::new(Notify::new()))
    }

    #[tokio::test]
    async fn slots_are_spaced_evenly() {
        let throttle = throttle(10.0, 1);
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

    /// What a limiter at `rate` with `burst` lets through in the worst
    /// sliding second: `ceil(rate)` spaced slots plus the burst's extra.
    fn worst_second(rate: f64, burst: u32) -> f64 {
        rate.ceil() + f64::from(burst) - 1.0
    }

    #[test]
    fn workers_together_stay_within_the_limit_in_every_second() {
        for limit in [5.0, 20.0, 30.0, 37.0, 40.0, 50.0, 60.0, 200.0, 350.0] {
            for headroom in [0.0, 0.03, 0.1] {
                let ceiling: f64 = limit * (1.0 - headroom);
                for workers in 1..=8 {
                    let workers = f64::from(workers);
                    let rate = worker_rate(ceiling, workers);
                    let burst = burst_for(limit, ceiling, workers);
                    let all = worst_second(rate, burst) * workers;
                    if ceiling.floor() >= workers {
                        assert!(
                            all <= limit,
                            "{workers} workers at {rate} (burst {burst}) of {limit}: {all}"
                        );
                    }
                    assert!(rate * workers <= ceiling + 1e-9, "{limit} {workers}");
                }
            }
        }
        // What rolling_restart and every_role_twice run: 35.89 of 37 and
        // 38.8 of 40 split three and four ways no longer reach the limit.
        assert_eq!(worst_second(worker_rate(35.89, 3.0), 1) * 3.0, 33.0);
        assert_eq!(worst_second(worker_rate(35.89, 4.0), 1) * 4.0, 32.0);
        assert_eq!(worst_second(worker_rate(38.8, 3.0), 1) * 3.0, 36.0);
        // One worker keeps its exact rate.
        assert_eq!(worker_rate(48.5, 1.0), 48.5);
        // Fewer whole requests than workers: an even split.
        assert!((worker_rate(2.5, 4.0) - 0.625).abs() < 1e-12);
    }

    /// A whole share runs a hair under its count: n + 1 slots of a
    /// limiter at worker_rate(36, 3) (12 a second) span more than a second.
    #[tokio::test]
    async fn a_whole_share_never_fits_one_more_in_a_second() {
        let throttle = throttle(worker_rate(36.0, 3.0), 1);
        throttle.acquire().await;
        let first = std::time::Instant::now();
        for _ in 0..12 {
            throttle.acquire().await;
        }
        let elapsed = first.elapsed();
        assert!(elapsed > Duration::from_secs(1), "{elapsed:?}");
    }

    #[tokio::test]
    async fn a_pause_holds_every_slot() {
        let throttle = throttle(1000.0, 1);
        throttle.pause_for(Duration::from_millis(200));
        let start = Instant::now();
        throttle.acquire().await;
        assert!(start.elapsed() >= Duration::from_millis(200));
    }

    /// The bug behind issue #8's storm: tasks parked on a limiter of one
    /// call a second kept that pace after the rate went back up.
    #[tokio::test]
    async fn waiting_tasks_follow_a_raised_rate() {
        let throttle = Arc::new(throttle(1.0, 1));
        throttle.acquire().await;
        let waiting: Vec<_> = (0..20)
            .map(|_| {
                let throttle = throttle.clone();
                tokio::spawn(async move { throttle.acquire().await })
            })
            .collect();
        tokio::time::sleep(Duration::from_millis(50)).await;
        let start = Instant::now();
        throttle.set_rate(1000.0, 1);
        for task in waiting {
            task.await.unwrap_or_default();
        }
        // At the old pace the twenty would take twenty seconds.
        assert!(
            start.elapsed() < Duration::from_secs(2),
            "{:?}",
            start.elapsed()
        );
    }

    /// A worker re-splitting its share mid-send: the first slot at the
    /// new rate comes a period after the change, not at once.
    #[tokio::test]
    async fn a_new_rate_lets_nothing_go_early() {
        let throttle = throttle(10.0, 1);
        throttle.acquire().await;
        let start = Instant::now();
        throttle.set_rate(5.0, 1);
        throttle.acquire().await;
        assert!(
            start.elapsed() >= Duration::from_millis(190),
            "{:?}",
            start.elapsed()
        );
    }

    #[tokio::test]
    async fn a_cost_above_the_burst_is_paced_too() {
        let throttle = throttle(100.0, 4);
        let start = Instant::now();
        // 4 at once, then 16 more at 100 a second.
        throttle.acquire_n(20).await;
        assert!(
            start.elapsed() >= Duration::from_millis(150),
            "{:?}",
            start.elapsed()
        );
    }

    #[tokio::test]
    async fn a_burst_of_429s_is_one_congestion_event() {
        let throttle = throttle(40.0, 2);
        let began: Vec<bool> = (0..65)
            .map(|_| throttle.throttled(Duration::from_millis(100)))
            .collect();
        assert_eq!(began.iter().filter(|b| **b).count(), 1);
        assert!((throttle.rate() - 40.0 * DECREASE).abs() < 1e-9);
        assert_eq!(throttle.take_congestion(), Some(Duration::from_millis(100)));
        assert_eq!(throttle.take_congestion(), None);
    }
}
