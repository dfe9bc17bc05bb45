//! How fast Herald may call a Microsoft API it shares with everyone else.
//!
//! Microsoft's limits change without notice and other traffic of the same
//! app counts against them, so the configured limit is a ceiling, not a
//! promise. The rate is adjusted like a TCP congestion window:
//!
//! - a congestion event (the first 429 of a burst; the rest of the burst is
//!   the same event) lowers the rate to `DECREASE` of what it was and
//!   remembers where it happened;
//! - each calm second below that point climbs back fast (to just under it),
//!   then probes carefully (a small linear step), since the limit is likely
//!   there;
//! - once above the remembered point without a 429, the limit has moved up:
//!   the step doubles every second, so a lifted limit is found in seconds.
//!
//! The constants trade the 429 share under a lower limit (one 429 or two
//! per cycle of about ten seconds) against how fast a lifted limit is found
//! (about fifteen seconds from 20/s to 50/s); `herald-bench pipeline storm`
//! measures both.
//!
//! Pure arithmetic, unit-tested here; the store shares the state between
//! workers and the throttles apply it.

/// The rate after a congestion event, as a share of the rate before it.
pub const DECREASE: f64 = 0.85;
/// Fast recovery stops this far below the last congestion point.
const NEAR: f64 = 0.97;
/// The careful probe near the last congestion point: a share of it a second.
const PROBE: f64 = 0.003;
/// The fast step back to the last congestion point: a share of the
/// ceiling a second.
const FAST: f64 = 0.05;
/// Once past it without a 429 the limit was lifted: the first step above
/// it (a share of it), doubling every second up to a share of the ceiling.
const LIFTED_FIRST: f64 = 0.02;
const LIFTED: f64 = 0.20;

/// A shared rate and what it remembers of the last congestion.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RateState {
    pub rate: f64,
    /// The rate at which the last congestion event happened.
    pub congested_at: Option<f64>,
    /// The current probing step above `congested_at` (doubles each calm second).
    pub step: f64,
}

/// The bounds of one adaptive rate.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RatePolicy {
    /// The configured limit less headroom: never exceeded.
    pub ceiling: f64,
    /// Never slower than this, so that a limit that was lifted is found again.
    pub floor: f64,
}

impl RatePolicy {
    pub fn new(ceiling: f64) -> Self {
        Self {
            ceiling,
            floor: (ceiling * 0.02).clamp(0.1, 1.0),
        }
    }

    /// A fresh rate: the ceiling, nothing learned yet.
    pub fn start(&self) -> RateState {
        RateState {
            rate: self.ceiling,
            congested_at: None,
            step: 0.0,
        }
    }

    /// One congestion event.
    pub fn congested(&self, state: RateState) -> RateState {
        RateState {
            rate: (state.rate * DECREASE).clamp(self.floor, self.ceiling),
            congested_at: Some(state.rate.min(self.ceiling)),
            step: 0.0,
        }
    }

    /// `seconds` calm seconds (no congestion, no pause).
    pub fn calm(&self, mut state: RateState, seconds: u32) -> RateState {
        for _ in 0..seconds.min(120) {
            state = self.calm_second(state);
        }
        state
    }

    fn calm_second(&self, state: RateState) -> RateState {
        let fast = self.ceiling * FAST;
        let Some(congested_at) = state.congested_at else {
            return RateState {
                rate: (state.rate + fast).min(self.ceiling),
                ..state
            };
        };
        let near = congested_at * NEAR;
        let (rate, step) = if state.rate < near {
            ((state.rate + fast).min(near), 0.0)
        } else if state.rate < congested_at {
            (state.rate + congested_at * PROBE, 0.0)
        } else {
            // Past the old limit without a 429: it was lifted.
            let step = (state.step * 2.0).clamp(congested_at * LIFTED_FIRST, self.ceiling * LIFTED);
            (state.rate + step, step)
        };
        let rate = rate.min(self.ceiling);
        RateState {
            rate,
            // At the ceiling there is nothing left to remember.
            congested_at: (rate < self.ceiling).then_some(congested_at),
            step,
        }
    }

    /// The burst a limiter at this state may take. Without congestion the
    /// configured limit is trusted and bursts are sized against it (see the
    /// send-worker's throttle); once Teams refused, the real limit is
    /// unknown and only evenly spaced calls are safe.
    pub fn trusts_configured_limit(state: &RateState) -> bool {
        state.congested_at.is_none()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs `seconds` against a real `limit`: each second over the limit
    /// is one congestion event. Returns (mean rate, congestion events).
    fn simulate(policy: &RatePolicy, limit: f64, seconds: u32) -> (f64, u32) {
        let mut state = policy.start();
        let (mut sent, mut events) = (0.0, 0);
        for _ in 0..seconds {
            if state.rate > limit {
                events += 1;
                sent += limit;
                state = policy.congested(state);
            } else {
                sent += state.rate;
                state = policy.calm(state, 1);
            }
        }
        (sent / f64::from(seconds), events)
    }

    #[test]
    fn a_congestion_lowers_the_rate_and_remembers_where() {
        let policy = RatePolicy::new(48.5);
        let state = policy.congested(policy.start());
        assert!((state.rate - 48.5 * DECREASE).abs() < 1e-9);
        assert_eq!(state.congested_at, Some(48.5));
        let floor = (0..100).fold(state, |s, _| policy.congested(s));
        assert_eq!(floor.rate, policy.floor);
    }

    #[test]
    fn a_lower_real_limit_is_held_at_over_ninety_percent_with_rare_congestion() {
        let policy = RatePolicy::new(48.5);
        let (mean, events) = simulate(&policy, 20.0, 600);
        assert!(mean >= 18.0, "mean {mean}");
        // At 20/s over 600 s, an event every eight seconds or so: each costs
        // a 429 or two out of the 150 sends made meanwhile.
        assert!(events <= 80, "{events} events");
    }

    #[test]
    fn a_lifted_limit_is_found_again_within_seconds() {
        let policy = RatePolicy::new(48.5);
        let mut state = policy.start();
        for _ in 0..120 {
            state = if state.rate > 20.0 {
                policy.congested(state)
            } else {
                policy.calm(state, 1)
            };
        }
        let mut seconds = 0;
        while state.rate < 48.5 * 0.95 {
            state = policy.calm(state, 1);
            seconds += 1;
        }
        assert!(seconds <= 20, "{seconds} s to get back to the ceiling");
        assert_eq!(policy.calm(state, 10).rate, 48.5);
        assert_eq!(policy.calm(state, 10).congested_at, None);
    }

    #[test]
    fn without_congestion_the_rate_climbs_to_the_ceiling_and_stays() {
        let policy = RatePolicy::new(50.0);
        let low = RateState {
            rate: 1.0,
            congested_at: None,
            step: 0.0,
        };
        assert_eq!(policy.calm(low, 20).rate, 50.0);
        assert_eq!(policy.calm(policy.start(), 5), policy.start());
    }
}
