//! Connections, publishing with confirms, and consuming with reconnects.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use backon::{BackoffBuilder, ExponentialBuilder};
use futures_util::StreamExt;
use lapin::message::Delivery;
use lapin::options::{
    BasicAckOptions, BasicCancelOptions, BasicConsumeOptions, BasicNackOptions,
    BasicPublishOptions, BasicQosOptions, BasicRejectOptions, ConfirmSelectOptions,
    ExchangeDeleteOptions, QueueDeclareOptions, QueueDeleteOptions,
};
use lapin::protocol::constants::REPLY_SUCCESS;
use lapin::types::FieldTable;
use lapin::uri::AMQPUri;
use lapin::{BasicProperties, Channel, Confirmation, Connection, ConnectionProperties};
use serde::Serialize;
use tokio::sync::{Mutex, mpsc};

use crate::topology::{Route, Topology};

#[derive(Debug, thiserror::Error)]
pub enum QueueError {
    #[error("RabbitMQ failed")]
    Amqp(#[from] lapin::Error),
    #[error("RabbitMQ refused a message (nack)")]
    Nacked,
    #[error("RabbitMQ could not route a message to {0}")]
    Unroutable(String),
    #[error("cannot encode a queue message")]
    Encode(#[from] serde_json::Error),
    #[error("RabbitMQ did not answer within {} s", CONNECT_TIMEOUT.as_secs())]
    Timeout,
    #[error("no RabbitMQ URL is configured")]
    NoNodes,
}

pub struct Broker {
    nodes: Vec<Node>,
    /// The node the latest connection was opened to, `usize::MAX` before
    /// the first. The next connection tries the node after it first, so a
    /// node that just failed is tried last, not first every time.
    last_worked: AtomicUsize,
    topology: Topology,
    /// The publishing connection, opened on first use and after a failure.
    publisher: Mutex<Option<(Connection, Channel)>>,
}

/// One RabbitMQ node: its URL, which holds a password, and the name logs
/// use instead.
struct Node {
    url: String,
    name: String,
}

impl Node {
    fn new(url: String, index: usize) -> Self {
        let name = match url.parse::<AMQPUri>() {
            Ok(uri) => format!("{}:{}", uri.authority.host, uri.authority.port),
            Err(_) => format!("node {}", index + 1),
        };
        Self { url, name }
    }
}

/// The order in which to try `count` nodes: starting after the one that
/// worked last, round to it.
fn connect_order(count: usize, last_worked: usize) -> impl Iterator<Item = usize> {
    let start = if last_worked < count {
        last_worked + 1
    } else {
        0
    };
    (0..count).map(move |step| (start + step) % count)
}

impl Broker {
    /// A broker reached at `urls`: one URL, or a cluster's nodes.
    pub fn new(urls: Vec<String>, topology: Topology) -> Arc<Self> {
        Arc::new(Self {
            nodes: urls
                .into_iter()
                .enumerate()
                .map(|(index, url)| Node::new(url, index))
                .collect(),
            last_worked: AtomicUsize::new(usize::MAX),
            topology,
            publisher: Mutex::new(None),
        })
    }

    pub fn topology(&self) -> &Topology {
        &self.topology
    }

    /// Names connections after the topology and the process, so that
    /// RabbitMQ's log and management UI tell whose connection is whose.
    fn connection_name(&self) -> String {
        format!("herald {} pid {}", self.topology.prefix, std::process::id())
    }

    /// Opens a connection and a channel and declares the topology, trying
    /// the nodes in turn; the error is the last node's.
    async fn connect(&self) -> Result<(Connection, Channel), QueueError> {
        let last_worked = self.last_worked.load(Ordering::Relaxed);
        let mut failure = None;
        for index in connect_order(self.nodes.len(), last_worked) {
            let node = &self.nodes[index];
            match self.connect_to(node).await {
                Ok(opened) => {
                    self.last_worked.store(index, Ordering::Relaxed);
                    tracing::info!(node = %node.name, "connected to RabbitMQ");
                    return Ok(opened);
                }
                Err(error) => {
                    if self.nodes.len() > 1 {
                        tracing::warn!(node = %node.name, error = %herald_domain::chain(&error), "cannot use this RabbitMQ node; trying the next");
                    }
                    failure = Some(error);
                }
            }
        }
        Err(failure.unwrap_or(QueueError::NoNodes))
    }

    /// One node. Each step has a deadline, so that a node that accepts
    /// connections but cannot serve them (booting, or cut off from the
    /// rest of its cluster) does not hold up the others.
    async fn connect_to(&self, node: &Node) -> Result<(Connection, Channel), QueueError> {
        let properties =
            ConnectionProperties::default().with_connection_name(self.connection_name().into());
        let connection =
            tokio::time::timeout(CONNECT_TIMEOUT, Connection::connect(&node.url, properties))
                .await
                .map_err(|_| QueueError::Timeout)??;
        let opened = tokio::time::timeout(CONNECT_TIMEOUT, self.open_channel(&connection)).await;
        match opened {
            Ok(Ok(channel)) => Ok((connection, channel)),
            Ok(Err(error)) => {
                close(&connection).await;
                Err(error)
            }
            Err(_) => {
                close(&connection).await;
                Err(QueueError::Timeout)
            }
        }
    }

    async fn open_channel(&self, connection: &Connection) -> Result<Channel, QueueError> {
        let channel = connection.create_channel().await?;
        self.topology.declare(&channel).await?;
        Ok(channel)
    }

    /// Connects and declares the topology, retrying with backoff until it
    /// works; for starting up while the broker is still booting.
    pub async fn wait_until_ready(&self, give_up_after: Duration) -> Result<(), QueueError> {
        let deadline = tokio::time::Instant::now() + give_up_after;
        let mut delays = reconnect_backoff().build();
        loop {
            let delay = delays.next().unwrap_or(RECONNECT_MAX_DELAY);
            match self.publish_channel().await {
                Ok(_) => return Ok(()),
                Err(error) if tokio::time::Instant::now() + delay > deadline => return Err(error),
                Err(error) => {
                    tracing::warn!(error = %herald_domain::chain(&error), "RabbitMQ not ready; retrying");
                    tokio::time::sleep(delay).await;
                }
            }
        }
    }

    async fn publish_channel(&self) -> Result<Channel, QueueError> {
        let mut guard = self.publisher.lock().await;
        if let Some((connection, channel)) = guard.as_ref()
            && connection.status().connected()
            && channel.status().connected()
        {
            return Ok(channel.clone());
        }
        let (connection, channel) = self.connect().await?;
        channel
            .confirm_select(ConfirmSelectOptions::default())
            .await?;
        *guard = Some((connection, channel.clone()));
        Ok(channel)
    }

    /// Publishes persistent messages and waits until RabbitMQ confirms every
    /// one. Messages are pipelined: all are sent before the first confirm is
    /// awaited. A broken connection is reopened and the batch sent again, so
    /// a broker restart can duplicate, never lose, a message.
    pub async fn publish<T: Serialize>(
        &self,
        route: Route,
        messages: &[T],
    ) -> Result<(), QueueError> {
        let payloads = messages
            .iter()
            .map(serde_json::to_vec)
            .collect::<Result<Vec<_>, _>>()?;
        // Eight attempts in all: the first and seven after a delay each.
        let mut delays = reconnect_backoff().with_max_times(7).build();
        let mut attempt = 1;
        loop {
            let error = match self.publish_once(route, &payloads).await {
                Ok(()) => return Ok(()),
                Err(error) => error,
            };
            let Some(delay) = delays.next() else {
                return Err(error);
            };
            tracing::warn!(error = %herald_domain::chain(&error), attempt, "publishing failed; reconnecting");
            *self.publisher.lock().await = None;
            tokio::time::sleep(delay).await;
            attempt += 1;
        }
    }

    async fn publish_once(&self, route: Route, payloads: &[Vec<u8>]) -> Result<(), QueueError> {
        let channel = self.publish_channel().await?;
        let key = Topology::routing_key(route);
        let mut confirms = Vec::with_capacity(payloads.len());
        for payload in payloads {
            let properties = BasicProperties::default()
                .with_delivery_mode(2)
                .with_content_type("application/json".into());
            let confirm = channel
                .basic_publish(
                    self.topology.exchange().into(),
                    key.clone().into(),
                    BasicPublishOptions {
                        mandatory: true,
                        ..Default::default()
                    },
                    payload,
                    properties,
                )
                .await?;
            confirms.push(confirm);
        }
        for confirm in confirms {
            match confirm.await? {
                Confirmation::Ack(None) | Confirmation::NotRequested => {}
                Confirmation::Ack(Some(_)) => return Err(QueueError::Unroutable(key)),
                Confirmation::Nack(_) => return Err(QueueError::Nacked),
            }
        }
        Ok(())
    }

    /// Messages waiting in a queue (not counting unacknowledged ones).
    pub async fn depth(&self, queue: &str) -> Result<u32, QueueError> {
        let channel = self.publish_channel().await?;
        let passive = QueueDeclareOptions {
            passive: true,
            ..Default::default()
        };
        let queue = channel
            .queue_declare(queue.into(), passive, FieldTable::default())
            .await?;
        Ok(queue.message_count())
    }

    pub async fn is_connected(&self) -> bool {
        self.publish_channel().await.is_ok()
    }

    /// Closes the publishing connection cleanly, for a process about to
    /// exit; a later call that needs it opens a new one. Subscriptions
    /// close their own connections (`Subscription::close`).
    pub async fn close(&self) {
        let publisher = self.publisher.lock().await.take();
        if let Some((connection, _channel)) = publisher {
            close(&connection).await;
        }
    }

    /// Removes every queue and exchange of the topology (for tests).
    pub async fn delete_topology(&self) -> Result<(), QueueError> {
        let channel = self.publish_channel().await?;
        for queue in self.topology.all_queues() {
            channel
                .queue_delete(queue.into(), QueueDeleteOptions::default())
                .await?;
        }
        for exchange in [self.topology.exchange(), self.topology.dead_exchange()] {
            channel
                .exchange_delete(exchange.into(), ExchangeDeleteOptions::default())
                .await?;
        }
        Ok(())
    }

    /// Consumes `queue` with `prefetch` unacknowledged messages at most.
    /// The subscription reconnects by itself after a broker restart; the
    /// broker then redelivers whatever was not acknowledged. Dropping the
    /// subscription stops the consumer; `Subscription::close` also waits
    /// until its connection is closed.
    pub fn subscribe(self: &Arc<Self>, queue: String, prefetch: u16) -> Subscription {
        let (sender, receiver) = mpsc::channel(usize::from(prefetch.max(1)));
        let broker = self.clone();
        let task =
            tokio::spawn(async move { broker.consume_forever(queue, prefetch, sender).await });
        Subscription { receiver, task }
    }

    async fn consume_forever(&self, queue: String, prefetch: u16, sender: mpsc::Sender<Incoming>) {
        let mut delays = reconnect_backoff().build();
        while !sender.is_closed() {
            let mut consumed = false;
            match self
                .consume_once(&queue, prefetch, &sender, &mut consumed)
                .await
            {
                Ok(()) if sender.is_closed() => break,
                Ok(()) => tracing::warn!(%queue, "the broker closed the consumer; reconnecting"),
                Err(error) => {
                    tracing::warn!(%queue, error = %herald_domain::chain(&error), "consumer lost its connection; reconnecting")
                }
            }
            // A consumer that ran is a broker that answered: the next
            // reconnect starts again from the shortest delay.
            if consumed {
                delays = reconnect_backoff().build();
            }
            let delay = delays.next().unwrap_or(RECONNECT_MAX_DELAY);
            tokio::select! {
                () = sender.closed() => break,
                () = tokio::time::sleep(delay) => {}
            }
        }
    }

    /// One connection's worth of consuming. It ends when the subscriber
    /// goes, the broker cancels the consumer, or the connection fails; then
    /// it cancels the consumer and closes the connection, in that order,
    /// each time waiting for RabbitMQ's answer.
    ///
    /// This function is never cancelled from outside, on purpose: dropping
    /// lapin's consumer, channel and connection mid-way makes each of them
    /// send its own basic.cancel, channel.close and connection.close as
    /// independent background tasks, which race. A cancel-ok could then
    /// arrive after the connection close had dropped the reply it answers,
    /// which lapin treats as an UNEXPECTED-FRAME hard error; and a process
    /// that exits right after never sends them at all, which RabbitMQ logs
    /// as a client that closed its TCP connection unexpectedly.
    async fn consume_once(
        &self,
        queue: &str,
        prefetch: u16,
        sender: &mpsc::Sender<Incoming>,
        consumed: &mut bool,
    ) -> Result<(), QueueError> {
        let (connection, channel) = self.connect().await?;
        let consumed = Self::consume(&channel, queue, prefetch, sender, consumed).await;
        close(&connection).await;
        consumed
    }

    async fn consume(
        channel: &Channel,
        queue: &str,
        prefetch: u16,
        sender: &mpsc::Sender<Incoming>,
        consumed: &mut bool,
    ) -> Result<(), QueueError> {
        channel
            .basic_qos(prefetch, BasicQosOptions::default())
            .await?;
        let mut consumer = channel
            .basic_consume(
                queue.into(),
                "".into(),
                BasicConsumeOptions::default(),
                FieldTable::default(),
            )
            .await?;
        tracing::info!(%queue, prefetch, "consuming");
        *consumed = true;
        let alive = Alive(Arc::new(AtomicBool::new(true)));
        loop {
            let delivery = tokio::select! {
                () = sender.closed() => break,
                delivery = consumer.next() => delivery,
            };
            let Some(delivery) = delivery else {
                // The broker cancelled the consumer (its queue was deleted).
                return Ok(());
            };
            let incoming = Incoming::new(delivery?, alive.0.clone());
            if sender.send(incoming).await.is_err() {
                break;
            }
        }
        // The subscriber is gone. Cancel and wait for the cancel-ok, so that
        // the consumer's drop has nothing left to cancel.
        channel
            .basic_cancel(consumer.tag(), BasicCancelOptions::default())
            .await?;
        Ok(())
    }
}

/// Closes a connection and waits for RabbitMQ's close-ok. Closing the
/// connection closes its channels and cancels their consumers on both
/// sides (lapin marks them closing first, so their own drops send
/// nothing more), and RabbitMQ requeues every unacknowledged message.
async fn close(connection: &Connection) {
    if !connection.status().connected() {
        return;
    }
    let closing = connection.close(REPLY_SUCCESS, "OK".into());
    match tokio::time::timeout(CLOSE_TIMEOUT, closing).await {
        Ok(Ok(())) => {}
        Ok(Err(error)) => {
            tracing::debug!(error = %herald_domain::chain(&error), "closing a RabbitMQ connection failed")
        }
        Err(_) => tracing::debug!("RabbitMQ did not confirm the connection close in time"),
    }
}

/// Reconnecting: from 100 ms, doubling up to 5 s between tries, each
/// delay plus up to as much again of jitter, so that the processes a broker
/// restart disconnected at once do not all come back at once.
fn reconnect_backoff() -> ExponentialBuilder {
    ExponentialBuilder::new()
        .with_min_delay(Duration::from_millis(100))
        .with_max_delay(RECONNECT_MAX_DELAY)
        .with_jitter()
        .without_max_times()
}

const RECONNECT_MAX_DELAY: Duration = Duration::from_secs(5);

/// How long a clean close may take before Herald stops waiting for it.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(5);

/// How long connecting to a node, and then declaring the topology there,
/// may each take before Herald tries the next node.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// A stream of messages from one queue.
pub struct Subscription {
    receiver: mpsc::Receiver<Incoming>,
    task: tokio::task::JoinHandle<()>,
}

impl Subscription {
    pub async fn next(&mut self) -> Option<Incoming> {
        self.receiver.recv().await
    }

    /// Takes a message that is already waiting, without waiting.
    pub fn try_next(&mut self) -> Option<Incoming> {
        self.receiver.try_recv().ok()
    }

    /// Stops consuming and waits until the consumer's connection is closed.
    /// Messages received but not yet handed out are dropped unacknowledged,
    /// so RabbitMQ gives them to another consumer.
    pub async fn close(self) {
        let Self { receiver, task } = self;
        drop(receiver);
        if tokio::time::timeout(CLOSE_TIMEOUT * 2, task).await.is_err() {
            tracing::debug!("the consumer did not stop in time");
        }
    }
}

/// Marks a consumer's messages dead when its connection goes, however
/// `consume_once` ends.
struct Alive(Arc<AtomicBool>);

impl Drop for Alive {
    fn drop(&mut self) {
        self.0.store(false, Ordering::Release);
    }
}

/// One received message and the means to settle it.
pub struct Incoming {
    pub data: Vec<u8>,
    delivery: Delivery,
    alive: Arc<AtomicBool>,
}

impl Incoming {
    fn new(mut delivery: Delivery, alive: Arc<AtomicBool>) -> Self {
        Self {
            data: std::mem::take(&mut delivery.data),
            delivery,
            alive,
        }
    }

    /// Whether the connection that delivered this message still stands. Once
    /// it is gone the broker hands the message to a consumer again, so work
    /// not yet done for it should be dropped, not done twice.
    pub fn is_live(&self) -> bool {
        self.alive.load(Ordering::Acquire)
    }

    /// Done: the outcome is recorded. After a reconnect the broker has
    /// already requeued this message, so a failed ack is only logged.
    pub async fn ack(&self) {
        if let Err(error) = self.delivery.ack(BasicAckOptions::default()).await {
            tracing::debug!(error = %herald_domain::chain(&error), "ack after the channel closed; the broker redelivers");
        }
    }

    /// Give it back for another try.
    pub async fn requeue(&self) {
        let options = BasicNackOptions {
            requeue: true,
            ..Default::default()
        };
        if let Err(error) = self.delivery.nack(options).await {
            tracing::debug!(error = %herald_domain::chain(&error), "nack after the channel closed");
        }
    }

    /// A poison message: to the dead-letter queue.
    pub async fn dead_letter(&self) {
        let options = BasicRejectOptions { requeue: false };
        if let Err(error) = self.delivery.reject(options).await {
            tracing::debug!(error = %herald_domain::chain(&error), "reject after the channel closed");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn order(count: usize, last_worked: usize) -> Vec<usize> {
        connect_order(count, last_worked).collect()
    }

    #[test]
    fn nodes_are_tried_in_order_from_the_one_after_the_last_that_worked() {
        assert_eq!(order(3, usize::MAX), [0, 1, 2]);
        assert_eq!(order(3, 0), [1, 2, 0]);
        assert_eq!(order(3, 1), [2, 0, 1]);
        assert_eq!(order(3, 2), [0, 1, 2]);
        assert_eq!(order(1, usize::MAX), [0]);
        assert_eq!(order(1, 0), [0]);
    }

    #[test]
    fn a_stale_index_starts_from_the_first_node() {
        assert_eq!(order(2, 7), [0, 1]);
    }

    #[test]
    fn nodes_are_named_without_their_credentials() {
        let node = Node::new("amqp://herald:hunter2@rabbit-2:5673/%2f".to_owned(), 1);
        assert_eq!(node.name, "rabbit-2:5673");
        let node = Node::new("amqps://herald:hunter2@rabbit-3/%2f".to_owned(), 2);
        assert_eq!(node.name, "rabbit-3:5671");
        let node = Node::new("not a url with hunter2".to_owned(), 2);
        assert_eq!(node.name, "node 3");
    }
}
