//! Rate limits as teams-platform.md §3 documents them.
//!
//! Sliding windows are kept as logs of accepted request times, so that a
//! client running exactly at a limit is never refused and one over it always
//! is. Refused requests do not enter the log: the documentation does not say
//! whether Teams counts them, and counting them would punish a client that
//! honours Retry-After for having asked once too early.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

/// Several windows over one log, e.g. 7 per 1 s, 8 per 2 s, 60 per 30 s.
#[derive(Debug, Clone, Default)]
pub struct SlidingLog {
    accepted: VecDeque<Instant>,
}

/// `(window, limit)` pairs; a limit of zero disables that pair.
pub type Windows = [(Duration, u32)];

pub const THREAD_SEND: &Windows = &[
    (Duration::from_secs(1), 7),
    (Duration::from_secs(2), 8),
    (Duration::from_secs(30), 60),
    (Duration::from_secs(3600), 1800),
];
pub const THREAD_READ: &Windows = &[
    (Duration::from_secs(1), 14),
    (Duration::from_secs(2), 16),
    (Duration::from_secs(30), 120),
    (Duration::from_secs(3600), 3600),
];

impl SlidingLog {
    /// Takes one request at `now`, or says how long to wait.
    pub fn try_take(&mut self, windows: &Windows, now: Instant) -> Result<(), Duration> {
        let longest = windows.iter().map(|(w, _)| *w).max().unwrap_or_default();
        while let Some(&oldest) = self.accepted.front() {
            if now.duration_since(oldest) >= longest {
                self.accepted.pop_front();
            } else {
                break;
            }
        }
        let mut wait = Duration::ZERO;
        for &(window, limit) in windows {
            if limit == 0 {
                continue;
            }
            let start = self
                .accepted
                .partition_point(|&t| now.duration_since(t) >= window);
            let in_window = self.accepted.len() - start;
            if in_window >= limit as usize {
                // The request may go once enough of the window's entries age
                // out that one slot is free.
                let freeing = self.accepted[start + in_window - limit as usize];
                wait = wait.max(window - now.duration_since(freeing));
            }
        }
        if wait > Duration::ZERO {
            return Err(wait);
        }
        self.accepted.push_back(now);
        Ok(())
    }
}

/// Arrivals over the last second: how fast a client really asked,
/// whatever the answers were.
#[derive(Debug, Clone, Default)]
pub struct ArrivalRate {
    arrivals: VecDeque<Instant>,
}

impl ArrivalRate {
    /// Counts a request arriving at `now`; returns the requests that
    /// arrived in the second up to and including it.
    pub fn arrive(&mut self, now: Instant) -> u64 {
        while let Some(&oldest) = self.arrivals.front() {
            if now.duration_since(oldest) >= Duration::from_secs(1) {
                self.arrivals.pop_front();
            } else {
                break;
            }
        }
        self.arrivals.push_back(now);
        self.arrivals.len() as u64
    }
}

/// Graph's cost-weighted directory budget: a token bucket per app and
/// tenant, refilled continuously over ten seconds.
#[derive(Debug, Clone)]
pub struct CostBucket {
    capacity: f64,
    tokens: f64,
    refreshed: Instant,
}

impl CostBucket {
    /// teams-platform.md §3: 3,500 / 5,000 / 8,000 units per 10 s by tenant size.
    pub fn for_tenant_size(users: usize) -> Self {
        let capacity = match users {
            0..50 => 3_500.0,
            50..=500 => 5_000.0,
            _ => 8_000.0,
        };
        Self {
            capacity,
            tokens: capacity,
            refreshed: Instant::now(),
        }
    }

    pub fn try_take(&mut self, cost: u32, now: Instant) -> Result<(), Duration> {
        let per_second = self.capacity / 10.0;
        let elapsed = now.saturating_duration_since(self.refreshed).as_secs_f64();
        self.tokens = (self.tokens + elapsed * per_second).min(self.capacity);
        self.refreshed = now;
        let cost = f64::from(cost);
        if self.tokens >= cost {
            self.tokens -= cost;
            Ok(())
        } else {
            Err(Duration::from_secs_f64((cost - self.tokens) / per_second))
        }
    }
}

/// Retry-After in seconds, decimals allowed, never zero.
pub fn retry_after_header(wait: Duration) -> String {
    let millis = wait.as_millis().max(1);
    format!("{}.{:03}", millis / 1000, millis % 1000)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exactly_at_the_limit_is_accepted_and_one_more_is_not() {
        let mut log = SlidingLog::default();
        let start = Instant::now();
        for i in 0..7 {
            assert!(
                log.try_take(THREAD_SEND, start + Duration::from_millis(i * 10))
                    .is_ok()
            );
        }
        let wait = log
            .try_take(THREAD_SEND, start + Duration::from_millis(100))
            .unwrap_err();
        assert_eq!(wait, Duration::from_millis(900));
        assert!(
            log.try_take(THREAD_SEND, start + Duration::from_millis(1000))
                .is_ok()
        );
        // Eight in two seconds is the next ceiling.
        assert!(
            log.try_take(THREAD_SEND, start + Duration::from_millis(1500))
                .is_err()
        );
    }

    #[test]
    fn cost_bucket_refills_over_ten_seconds() {
        let mut bucket = CostBucket::for_tenant_size(10);
        let start = Instant::now();
        assert!(bucket.try_take(3_500, start).is_ok());
        let wait = bucket.try_take(350, start).unwrap_err();
        assert!((wait.as_secs_f64() - 1.0).abs() < 0.01);
        assert!(bucket.try_take(350, start + Duration::from_secs(1)).is_ok());
    }

    #[test]
    fn arrivals_are_counted_over_a_sliding_second() {
        let mut rate = ArrivalRate::default();
        let start = Instant::now();
        let counts: Vec<u64> = [0, 300, 600, 999, 1000, 1300, 2400]
            .iter()
            .map(|ms| rate.arrive(start + Duration::from_millis(*ms)))
            .collect();
        // At 1000 ms the arrival at 0 has left the window.
        assert_eq!(counts, [1, 2, 3, 4, 4, 4, 1]);
    }

    #[test]
    fn retry_after_keeps_milliseconds() {
        assert_eq!(retry_after_header(Duration::from_millis(1500)), "1.500");
        assert_eq!(retry_after_header(Duration::ZERO), "0.001");
    }
}
