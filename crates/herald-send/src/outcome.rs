//! What a send attempt means for the delivery: final, or worth another try
//! after a delay.

use std::time::Duration;

use backon::{BackoffBuilder, ExponentialBuilder};
use herald_domain::{DeliveryReason, DeliveryStatus, NotificationId, RecipientId};
use herald_microsoft::SendFailure;
use herald_store::Outcome;

/// What to do after an attempt.
pub enum Decision {
    Final(Outcome),
    /// Record `Retrying` and send again after `delay`.
    Retry {
        outcome: Outcome,
        delay: Duration,
    },
}

pub struct Attempt {
    pub notification: NotificationId,
    pub recipient: RecipientId,
    /// Attempts before this one: this one is number `previous + 1`.
    pub previous: u32,
    /// The announcement's version of the card being posted.
    pub version: i32,
}

impl Attempt {
    fn outcome(&self, status: DeliveryStatus) -> Outcome {
        Outcome {
            notification: self.notification,
            recipient: self.recipient,
            status,
            attempt: Some(self.previous + 1),
            throttled: false,
            http_status: None,
            error_code: None,
            error_message: None,
            activity_id: None,
            version: self.version,
        }
    }

    /// A decision not to post at all (canceled, opted out...).
    pub fn without_sending(
        &self,
        status: DeliveryStatus,
        reason: Option<DeliveryReason>,
    ) -> Outcome {
        Outcome {
            attempt: None,
            error_code: reason,
            ..self.outcome(status)
        }
    }

    pub fn delivered(&self, activity_id: String) -> Outcome {
        Outcome {
            http_status: Some(201),
            activity_id: Some(activity_id),
            ..self.outcome(DeliveryStatus::Delivered)
        }
    }

    /// Classifies a failed post; retries go on up to `max_attempts` in all.
    pub fn failed(&self, failure: &SendFailure, max_attempts: u32) -> Decision {
        let with_error = |status| Outcome {
            http_status: failure.http_status(),
            error_code: Some(failure.code().into()),
            error_message: Some(failure.to_string()),
            ..self.outcome(status)
        };
        let (retry_after, throttled) = match failure {
            SendFailure::Throttled { retry_after } => (*retry_after, true),
            SendFailure::Transient { retry_after, .. } => (*retry_after, false),
            SendFailure::Blocked { .. } => {
                return Decision::Final(with_error(DeliveryStatus::Blocked));
            }
            SendFailure::Gone { .. } => return Decision::Final(with_error(DeliveryStatus::Gone)),
            SendFailure::TooLarge { .. } | SendFailure::Permanent { .. } => {
                return Decision::Final(with_error(DeliveryStatus::Failed));
            }
        };
        let attempts = self.previous + 1;
        if attempts >= max_attempts {
            let mut outcome = with_error(DeliveryStatus::Failed);
            outcome.throttled = throttled;
            outcome.error_message = Some(format!("gave up after {attempts} attempts: {failure}"));
            return Decision::Final(outcome);
        }
        let mut outcome = with_error(DeliveryStatus::Retrying);
        outcome.throttled = throttled;
        let delay = retry_after.unwrap_or_else(|| backoff(self.previous));
        Decision::Retry { outcome, delay }
    }
}

/// The delay before the next try after `previous_attempts` failed ones:
/// 1 s, 2 s, 4 s ... up to 30 s, each plus up to as much again of jitter
/// (so at most the longest retry tier, 60 s), so that the deliveries one
/// outage failed together do not all come back in the same second.
fn backoff(previous_attempts: u32) -> Duration {
    ExponentialBuilder::new()
        .with_min_delay(Duration::from_secs(1))
        .with_max_delay(Duration::from_secs(30))
        .with_jitter()
        .without_max_times()
        .build()
        .nth(previous_attempts as usize)
        .unwrap_or(Duration::from_secs(60))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn attempt(previous: u32) -> Attempt {
        Attempt {
            notification: NotificationId::new(),
            recipient: RecipientId::new(),
            previous,
            version: 1,
        }
    }

    #[test]
    fn blocked_and_gone_are_final_at_once() {
        let blocked = SendFailure::Blocked {
            code: "MessageWritesBlocked".into(),
            message: "m".into(),
        };
        assert!(
            matches!(attempt(0).failed(&blocked, 6), Decision::Final(o) if o.status == DeliveryStatus::Blocked && o.error_code == Some(DeliveryReason::Microsoft("MessageWritesBlocked".into())))
        );
        let gone = SendFailure::Gone {
            code: "ConversationNotFound".into(),
            message: "m".into(),
        };
        assert!(
            matches!(attempt(0).failed(&gone, 6), Decision::Final(o) if o.status == DeliveryStatus::Gone && o.http_status == Some(404))
        );
    }

    #[test]
    fn throttling_honours_retry_after_until_the_bound() {
        let throttled = SendFailure::Throttled {
            retry_after: Some(Duration::from_millis(1500)),
        };
        match attempt(0).failed(&throttled, 3) {
            Decision::Retry { outcome, delay } => {
                assert_eq!(delay, Duration::from_millis(1500));
                assert!(outcome.throttled && outcome.status == DeliveryStatus::Retrying);
            }
            Decision::Final(_) => panic!("a first 429 is retried"),
        }
        match attempt(2).failed(&throttled, 3) {
            Decision::Final(outcome) => {
                assert_eq!(outcome.status, DeliveryStatus::Failed);
                assert!(
                    outcome
                        .error_message
                        .unwrap()
                        .contains("gave up after 3 attempts")
                );
            }
            Decision::Retry { .. } => panic!("the bound is reached"),
        }
    }

    #[test]
    fn transient_failures_back_off_exponentially() {
        let transient = SendFailure::Transient {
            status: Some(503),
            code: "ServiceUnavailable".into(),
            message: "m".into(),
            retry_after: None,
        };
        let delay = |previous| match attempt(previous).failed(&transient, 20) {
            Decision::Retry { delay, .. } => delay,
            Decision::Final(_) => panic!("retried"),
        };
        assert!(delay(0) >= Duration::from_secs(1) && delay(0) <= Duration::from_secs(2));
        assert!(delay(2) >= Duration::from_secs(4) && delay(2) <= Duration::from_secs(8));
        assert!(delay(9) >= Duration::from_secs(30) && delay(9) <= Duration::from_secs(60));
        // Jittered: a hundred first retries do not all wait the same.
        let firsts: std::collections::BTreeSet<Duration> = (0..100).map(|_| delay(0)).collect();
        assert!(firsts.len() > 50, "{firsts:?}");
    }
}
