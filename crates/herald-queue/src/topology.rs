//! Queue and exchange names, and how they are declared.
//!
//! - `{prefix}` (direct exchange) routes `prepare`, `send` and `delay.{ms}`.
//! - `{prefix}.prepare`, `{prefix}.send`: durable quorum work queues; a
//!   message delivered more than 20 times is a poison message and goes to
//!   the dead-letter exchange.
//! - `{prefix}.send.delay.{ms}`: durable quorum holding queues whose
//!   messages expire after `ms` back into `send`. Fixed tiers, because
//!   RabbitMQ only expires messages at the head of a queue.
//! - `{prefix}.dead` (fanout exchange) into the `{prefix}.dead` queue.
//!
//! Every queue is a quorum queue, replicated on the cluster's nodes (three
//! by default), so that any node can go away: a classic queue lives on one
//! node, and while that node is down RabbitMQ refuses to declare it, which
//! would stop every reconnect. The holding queues were classic
//! `{prefix}.send.retry.{ms}` queues bound to `retry.{ms}` before; new
//! names keep an existing broker from refusing the new queue type, and the
//! old queues, no longer fed, empty into `send` within a minute.

use std::time::Duration;

use lapin::options::{ExchangeDeclareOptions, QueueBindOptions, QueueDeclareOptions};
use lapin::types::{AMQPValue, FieldTable};
use lapin::{Channel, ExchangeKind};

/// Delays of the retry tiers, in milliseconds.
pub const RETRY_TIERS_MS: [u64; 7] = [500, 1_000, 2_000, 5_000, 10_000, 30_000, 60_000];

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Topology {
    pub prefix: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    Prepare,
    Send,
    /// Back to `Send` after at least this delay (rounded up to a tier).
    Retry(Duration),
}

impl Topology {
    pub fn new(prefix: impl Into<String>) -> Self {
        Self {
            prefix: prefix.into(),
        }
    }

    pub fn exchange(&self) -> String {
        self.prefix.clone()
    }

    pub fn dead_exchange(&self) -> String {
        format!("{}.dead", self.prefix)
    }

    pub fn prepare_queue(&self) -> String {
        format!("{}.prepare", self.prefix)
    }

    pub fn send_queue(&self) -> String {
        format!("{}.send", self.prefix)
    }

    pub fn dead_queue(&self) -> String {
        format!("{}.dead", self.prefix)
    }

    pub fn retry_queue(&self, tier_ms: u64) -> String {
        format!("{}.send.delay.{tier_ms}", self.prefix)
    }

    pub fn all_queues(&self) -> Vec<String> {
        let mut queues = vec![self.prepare_queue(), self.send_queue(), self.dead_queue()];
        queues.extend(RETRY_TIERS_MS.iter().map(|&t| self.retry_queue(t)));
        queues
    }

    /// The smallest tier at least as long as `wanted` (the longest tier
    /// when none is).
    pub fn retry_tier(wanted: Duration) -> u64 {
        let wanted = wanted.as_millis() as u64;
        RETRY_TIERS_MS
            .iter()
            .copied()
            .find(|&t| t >= wanted)
            .unwrap_or(RETRY_TIERS_MS[RETRY_TIERS_MS.len() - 1])
    }

    fn retry_key(tier_ms: u64) -> String {
        format!("delay.{tier_ms}")
    }

    pub fn routing_key(route: Route) -> String {
        match route {
            Route::Prepare => "prepare".to_owned(),
            Route::Send => "send".to_owned(),
            Route::Retry(delay) => Self::retry_key(Self::retry_tier(delay)),
        }
    }

    /// Declares everything; declaring what exists is a no-op, so every
    /// process does it at start and after every reconnect.
    pub async fn declare(&self, channel: &Channel) -> lapin::Result<()> {
        self.declare_exchanges(channel).await?;
        self.declare_dead_queue(channel).await?;
        self.declare_work_queues(channel).await?;
        self.declare_retry_queues(channel).await
    }

    async fn declare_exchanges(&self, channel: &Channel) -> lapin::Result<()> {
        let durable = ExchangeDeclareOptions {
            durable: true,
            ..Default::default()
        };
        channel
            .exchange_declare(
                self.exchange().into(),
                ExchangeKind::Direct,
                durable,
                FieldTable::default(),
            )
            .await?;
        channel
            .exchange_declare(
                self.dead_exchange().into(),
                ExchangeKind::Fanout,
                durable,
                FieldTable::default(),
            )
            .await
    }

    async fn declare_dead_queue(&self, channel: &Channel) -> lapin::Result<()> {
        self.queue(channel, &self.dead_queue(), quorum()).await?;
        channel
            .queue_bind(
                self.dead_queue().into(),
                self.dead_exchange().into(),
                "".into(),
                QueueBindOptions::default(),
                FieldTable::default(),
            )
            .await
    }

    async fn declare_work_queues(&self, channel: &Channel) -> lapin::Result<()> {
        for (queue, key) in [
            (self.prepare_queue(), "prepare"),
            (self.send_queue(), "send"),
        ] {
            let mut arguments = quorum();
            arguments.insert(
                "x-dead-letter-exchange".into(),
                AMQPValue::LongString(self.dead_exchange().into()),
            );
            arguments.insert("x-delivery-limit".into(), AMQPValue::LongInt(20));
            self.queue(channel, &queue, arguments).await?;
            self.bind(channel, &queue, key).await?;
        }
        Ok(())
    }

    /// Holding queues. Expired messages are dead-lettered at least once
    /// (RabbitMQ 3.10+): an expired retry stays in its queue until `send`
    /// has taken it, also while `send` is electing a new leader.
    async fn declare_retry_queues(&self, channel: &Channel) -> lapin::Result<()> {
        for tier in RETRY_TIERS_MS {
            let mut arguments = quorum();
            arguments.insert("x-message-ttl".into(), AMQPValue::LongLongInt(tier as i64));
            arguments.insert(
                "x-dead-letter-exchange".into(),
                AMQPValue::LongString(self.exchange().into()),
            );
            arguments.insert(
                "x-dead-letter-routing-key".into(),
                AMQPValue::LongString("send".into()),
            );
            arguments.insert(
                "x-dead-letter-strategy".into(),
                AMQPValue::LongString("at-least-once".into()),
            );
            // At-least-once dead-lettering requires it; without a length
            // limit it never rejects anything.
            arguments.insert(
                "x-overflow".into(),
                AMQPValue::LongString("reject-publish".into()),
            );
            let queue = self.retry_queue(tier);
            self.queue(channel, &queue, arguments).await?;
            self.bind(channel, &queue, &Self::retry_key(tier)).await?;
        }
        Ok(())
    }

    async fn queue(
        &self,
        channel: &Channel,
        name: &str,
        arguments: FieldTable,
    ) -> lapin::Result<()> {
        let options = QueueDeclareOptions {
            durable: true,
            ..Default::default()
        };
        channel
            .queue_declare(name.into(), options, arguments)
            .await
            .map(drop)
    }

    async fn bind(&self, channel: &Channel, queue: &str, key: &str) -> lapin::Result<()> {
        channel
            .queue_bind(
                queue.into(),
                self.exchange().into(),
                key.into(),
                QueueBindOptions::default(),
                FieldTable::default(),
            )
            .await
    }
}

/// Arguments of a quorum queue: replicated, durable, any node may lead it.
fn quorum() -> FieldTable {
    let mut arguments = FieldTable::default();
    arguments.insert(
        "x-queue-type".into(),
        AMQPValue::LongString("quorum".into()),
    );
    arguments
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retries_round_up_to_a_tier() {
        assert_eq!(Topology::retry_tier(Duration::from_millis(1)), 500);
        assert_eq!(Topology::retry_tier(Duration::from_millis(1_500)), 2_000);
        assert_eq!(Topology::retry_tier(Duration::from_secs(3600)), 60_000);
        assert_eq!(
            Topology::routing_key(Route::Retry(Duration::from_secs(3))),
            "delay.5000"
        );
        assert_eq!(Topology::new("h").retry_queue(5_000), "h.send.delay.5000");
    }
}
