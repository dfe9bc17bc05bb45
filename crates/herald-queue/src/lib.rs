//! Everything Herald knows about AMQP: the topology, the typed messages, a
//! publisher that waits for confirms, and a consumer that survives broker
//! restarts. No other crate imports lapin.

mod broker;
mod topology;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

pub use broker::{Broker, Incoming, QueueError, Subscription};
pub use topology::{RETRY_TIERS_MS, Route, Topology};

/// Prepare one notification's audience.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct PrepareMessage {
    pub notification: Uuid,
}

/// Send one notification to one recipient. Carries ids only: the card is
/// read once per notification per worker, never copied into the queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct SendMessage {
    pub notification: Uuid,
    pub recipient: Uuid,
    /// The delivery's attempt number when this message was published: a
    /// retry of attempt n carries n, as the delivery does once it is recorded.
    pub attempt: u32,
    /// Set when the card already went out and is to be changed: the
    /// announcement's version the change made (`notification_changes`).
    /// Edits and recalls ride the send queue so that they share the
    /// tenant's rate, its retries and its workers with sends.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub change: Option<i32>,
}

impl SendMessage {
    /// The first post of a card.
    pub fn post(notification: Uuid, recipient: Uuid, attempt: u32) -> Self {
        Self {
            notification,
            recipient,
            attempt,
            change: None,
        }
    }

    /// A change (version `version`) of a card that went out.
    pub fn change(notification: Uuid, recipient: Uuid, version: i32) -> Self {
        Self {
            notification,
            recipient,
            attempt: 0,
            change: Some(version),
        }
    }
}
