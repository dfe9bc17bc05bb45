//! Queue and exchange names, and how they are declared.
//!
//! - `{prefix}` (direct exchange) routes `prepare`, `send` and `retry.{ms}`.
//! - `{prefix}.prepare`, `{prefix}.send`: durable quorum work queues; a
//!   message delivered more than 20 times is a poison message and goes to
//!   the dead-letter exchange.
//! - `{prefix}.send.retry.{ms}`: durable holding queues whose messages
//!   expire after `ms` back into `send`. Fixed tiers, because RabbitMQ only
//!   expires messages at the head of a queue.
//! - `{prefix}.dead` (fanout exchange) into the `{prefix}.dead` queue.

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
        format!("{}.send.retry.{tier_ms}", self.prefix)
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

    pub fn routing_key(route: Route) -> String {
        match route {
            Route::Prepare => "prepare".to_owned(),
            Route::Send => "send".to_owned(),
            Route::Retry(delay) => format!("retry.{}", Self::retry_tier(delay)),
        }
    }

    /// Declares everything; declaring what exists is a no-op, so every
    /// process does it at start and after every reconnect.
    pub async fn declare(&self, channel: &Channel) -> lapin::Result<()> {
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
            .await?;
        let mut dead = FieldTable::default();
        dead.insert(
            "x-queue-type".into(),
            AMQPValue::LongString("quorum".into()),
        );
        self.queue(channel, &self.dead_queue(), dead).await?;
        channel
            .queue_bind(
                self.dead_queue().into(),
                self.dead_exchange().into(),
                "".into(),
                QueueBindOptions::default(),
                FieldTable::default(),
            )
            .await?;
        for (queue, key) in [
            (self.prepare_queue(), "prepare"),
            (self.send_queue(), "send"),
        ] {
            let mut arguments = FieldTable::default();
            arguments.insert(
                "x-queue-type".into(),
                AMQPValue::LongString("quorum".into()),
            );
            arguments.insert(
                "x-dead-letter-exchange".into(),
                AMQPValue::LongString(self.dead_exchange().into()),
            );
            arguments.insert("x-delivery-limit".into(), AMQPValue::LongInt(20));
            self.queue(channel, &queue, arguments).await?;
            self.bind(channel, &queue, key).await?;
        }
        for tier in RETRY_TIERS_MS {
            let mut arguments = FieldTable::default();
            arguments.insert("x-message-ttl".into(), AMQPValue::LongLongInt(tier as i64));
            arguments.insert(
                "x-dead-letter-exchange".into(),
                AMQPValue::LongString(self.exchange().into()),
            );
            arguments.insert(
                "x-dead-letter-routing-key".into(),
                AMQPValue::LongString("send".into()),
            );
            let queue = self.retry_queue(tier);
            self.queue(channel, &queue, arguments).await?;
            self.bind(channel, &queue, &format!("retry.{tier}")).await?;
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
            "retry.5000"
        );
    }
}
