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
}
