//! Read receipts are recorded in batches. A broadcast to many people
//! brings as many receipts as deliveries, minutes later and while the send
//! still runs; one transaction each would take connections and counter
//! locks from the send-workers. Each receipt still waits for the commit
//! that records it, so Teams is answered 200 only for what is stored.

use herald_store::{ReadReceipt, Store};
use tokio::sync::{mpsc, oneshot};
use tracing::Instrument;

/// Receipts recorded in one transaction at most.
const BATCH: usize = 500;
/// Receipts waiting at most; more wait for room, as requests do for a
/// connection.
const BACKLOG: usize = 5_000;

/// Why a receipt was not recorded.
#[derive(Debug, thiserror::Error)]
pub enum ReceiptError {
    #[error("cannot record read receipts: {0}")]
    Store(String),
    #[error("the read-receipt recorder has stopped")]
    Stopped,
}

struct Waiting {
    receipt: ReadReceipt,
    recorded: oneshot::Sender<Result<(), ReceiptError>>,
}

/// The handle the bot records receipts through; one recorder task behind
/// it takes whatever has come while the previous batch was written.
pub struct Receipts {
    queue: mpsc::Sender<Waiting>,
}

impl Receipts {
    /// Starts the recorder; it ends when the handle is dropped.
    pub fn start(store: Store) -> Self {
        let (queue, incoming) = mpsc::channel(BACKLOG);
        tokio::spawn(record_batches(store, incoming));
        Self { queue }
    }

    /// Returns once the receipt is committed.
    pub async fn record(&self, receipt: ReadReceipt) -> Result<(), ReceiptError> {
        let (recorded, outcome) = oneshot::channel();
        self.queue
            .send(Waiting { receipt, recorded })
            .await
            .map_err(|_| ReceiptError::Stopped)?;
        outcome.await.map_err(|_| ReceiptError::Stopped)?
    }
}

async fn record_batches(store: Store, mut incoming: mpsc::Receiver<Waiting>) {
    let mut batch = Vec::with_capacity(BATCH);
    while incoming.recv_many(&mut batch, BATCH).await > 0 {
        let receipts: Vec<ReadReceipt> = batch.iter().map(|w| w.receipt.clone()).collect();
        let span = tracing::info_span!("read receipts", receipts = receipts.len());
        let outcome = store.record_reads(&receipts).instrument(span).await;
        let failure = match outcome {
            Ok(read) => {
                tracing::debug!(receipts = receipts.len(), read, "read receipts recorded");
                None
            }
            Err(error) => {
                tracing::warn!(error = %herald_domain::chain(&error), receipts = receipts.len(), "cannot record read receipts");
                Some(herald_domain::chain(&error).to_string())
            }
        };
        for waiting in batch.drain(..) {
            let result = match &failure {
                None => Ok(()),
                Some(error) => Err(ReceiptError::Store(error.clone())),
            };
            let _ = waiting.recorded.send(result);
        }
    }
}
