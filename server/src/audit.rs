//! The per-call audit log. Tool calls hand their record to a channel and never wait for the
//! database; one writer appends what arrived every [`FLUSH_EVERY`] in one transaction.
//!
//! What a SIGKILL can lose: the records of calls that finished in the last flush window, at
//! most [`FLUSH_EVERY`], plus a batch being written. A graceful shutdown writes everything.
//! When the database falls behind and [`QUEUE`] records wait, further records are dropped and
//! counted (`specgate_audit_dropped_total`) rather than slowing calls down.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::store::{CallRecord, Store};

/// How often queued records are written.
pub const FLUSH_EVERY: Duration = Duration::from_millis(20);

/// Records that may wait for the writer.
pub const QUEUE: usize = 4096;

/// Where tool calls leave their records.
#[derive(Clone)]
pub struct AuditLog {
    sender: mpsc::Sender<CallRecord>,
    /// Row ids are this process's random prefix (128 bits) and a counter: unique across
    /// instances without a random draw per call, and without an index to enforce it.
    id_prefix: Arc<str>,
    next_id: Arc<AtomicU64>,
    /// Records committed, counted once their transaction returned.
    written: Arc<AtomicU64>,
    dropped: Arc<AtomicU64>,
    stop: CancellationToken,
    writer: Arc<tokio::sync::Mutex<Option<tokio::task::JoinHandle<()>>>>,
}

impl AuditLog {
    /// A log writing to `store`, with its writer on the current runtime (none outside one,
    /// as in a CLI command that makes no call).
    pub fn new(store: Store) -> Self {
        let (sender, receiver) = mpsc::channel(QUEUE);
        let (written, dropped) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
        let stop = CancellationToken::new();
        let counts = Counts {
            written: written.clone(),
            dropped: dropped.clone(),
        };
        let writer = tokio::runtime::Handle::try_current()
            .ok()
            .map(|runtime| runtime.spawn(write(store, receiver, stop.clone(), counts)));
        Self {
            sender,
            // The prefix is all that keeps ids unique across processes (the table has no
            // index enforcing it), so an empty one is never used in its place.
            id_prefix: crate::crypto::new_id()
                .expect("the operating system's random source works")
                .into(),
            next_id: Arc::default(),
            written,
            dropped,
            stop,
            writer: Arc::new(tokio::sync::Mutex::new(writer)),
        }
    }

    /// A new row id.
    pub fn new_id(&self) -> String {
        format!(
            "{}{:016x}",
            self.id_prefix,
            self.next_id.fetch_add(1, Ordering::Relaxed)
        )
    }

    /// Queues one record without waiting.
    pub fn record(&self, call: CallRecord) {
        if self.sender.try_send(call).is_err() {
            self.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Records committed to the database.
    pub fn written(&self) -> u64 {
        self.written.load(Ordering::Relaxed)
    }

    /// Records dropped because the queue was full.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    /// Writes what is queued and stops the writer (at shutdown).
    pub async fn close(&self) {
        self.stop.cancel();
        if let Some(writer) = self.writer.lock().await.take() {
            let _ = writer.await;
        }
    }
}

/// The writer's counters, shared with the [`AuditLog`] that reports them.
struct Counts {
    written: Arc<AtomicU64>,
    dropped: Arc<AtomicU64>,
}

async fn write(
    store: Store,
    mut receiver: mpsc::Receiver<CallRecord>,
    stop: CancellationToken,
    counts: Counts,
) {
    let mut tick = tokio::time::interval(FLUSH_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut batch = Vec::new();
    loop {
        let stopping = tokio::select! {
            () = stop.cancelled() => true,
            _ = tick.tick() => false,
        };
        while let Ok(call) = receiver.try_recv() {
            batch.push(call);
        }
        if !batch.is_empty() {
            match store.insert_calls(&batch).await {
                Ok(()) => {
                    counts
                        .written
                        .fetch_add(batch.len() as u64, Ordering::Relaxed);
                    batch.clear();
                }
                // Kept for the next flush, up to one queue's worth; older records go first.
                Err(error) => {
                    tracing::warn!(%error, pending = batch.len(), "audit log write failed; retrying");
                    if let Some(excess) = batch.len().checked_sub(QUEUE).filter(|n| *n > 0) {
                        batch.drain(..excess);
                        counts.dropped.fetch_add(excess as u64, Ordering::Relaxed);
                    }
                }
            }
        }
        if stopping {
            return;
        }
    }
}
