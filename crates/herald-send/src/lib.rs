//! The send-worker: takes send messages, waits its turn under the tenant's
//! rate, posts the card, classifies the answer and records the outcome.
//! It never resolves audiences.
//!
//! Per message: decode -> look up the delivery (in batches) -> skip what is
//! final, stale or canceled -> throttle -> post -> classify -> record (in
//! batches, one transaction) -> publish retries -> ack. A message is acked
//! only after its outcome is committed, so a crash loses nothing; the one
//! window for a duplicate is a crash after Teams accepted a post and before
//! the commit.

mod change;
mod outcome;
mod recorder;
mod sweep;
mod worker;

pub use sweep::{SweepError, run_sweep, stranded_after, sweep_once};

pub use worker::{SendSettings, SendWorker};

/// Names of the metrics the send-worker exports.
pub mod metric {
    pub const SENDS: &str = "herald_sends_total";
    pub const THROTTLED: &str = "herald_throttled_total";
    pub const QUEUE_DEPTH: &str = "herald_queue_depth";
    /// Messages acknowledged without a send: duplicates and stale copies.
    pub const SKIPPED_MESSAGES: &str = "herald_skipped_messages_total";
}
