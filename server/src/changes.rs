//! Knowing when the database changed, so caches of what it holds stay exact.
//!
//! Every write through [`crate::store::Store`] bumps the [`ChangeSignal`] after it commits.
//! Writes from elsewhere (the CLI, other instances) are seen by a watcher on the database
//! itself, fed by triggers on the tables a token resolves through: PostgreSQL's `LISTEN`, and
//! on SQLite a polled counter (migration 0006). SQLite's `PRAGMA data_version` would do
//! without triggers, but it also moves on every audit-log write, which would end the caches
//! many times a second.
//! While no watcher is connected the signal reports no generation, and caches must not be used.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use sqlx::Connection;
use tokio_util::sync::CancellationToken;

/// The channel the PostgreSQL triggers notify on (migration 0003).
pub const POSTGRES_CHANNEL: &str = "specgate_changes";

/// How often SQLite's change counter is read: the longest a write by another process can go
/// unseen by this one.
pub const SQLITE_POLL: Duration = Duration::from_millis(20);

/// How long to wait before reconnecting a watcher that lost its connection.
const RECONNECT: Duration = Duration::from_millis(500);

/// A counter of database changes, shared by the store and the caches in front of it.
#[derive(Debug, Clone, Default)]
pub struct ChangeSignal {
    inner: Arc<SignalState>,
}

#[derive(Debug, Default)]
struct SignalState {
    generation: AtomicU64,
    watched: AtomicBool,
}

impl ChangeSignal {
    /// The current generation, or `None` while no watcher sees other processes' writes.
    pub fn generation(&self) -> Option<u64> {
        self.inner
            .watched
            .load(Ordering::Acquire)
            .then(|| self.inner.generation.load(Ordering::Acquire))
    }

    /// Records a change: everything read before it is stale.
    pub fn bump(&self) {
        self.inner.generation.fetch_add(1, Ordering::AcqRel);
    }

    pub(crate) fn set_watched(&self, watched: bool) {
        // A change may have been missed while unwatched, so every transition invalidates.
        self.bump();
        self.inner.watched.store(watched, Ordering::Release);
    }
}

/// Watches the database at `url` for other processes' commits until `stop` fires,
/// reconnecting after errors.
pub fn spawn_watcher(
    url: String,
    signal: ChangeSignal,
    stop: CancellationToken,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            let result = tokio::select! {
                () = stop.cancelled() => break,
                result = watch_once(&url, &signal) => result,
            };
            signal.set_watched(false);
            if let Err(error) = result {
                tracing::warn!(%error, "database change watcher lost its connection; caches are bypassed until it reconnects");
            }
            tokio::select! {
                () = stop.cancelled() => break,
                () = tokio::time::sleep(RECONNECT) => {}
            }
        }
        signal.set_watched(false);
    })
}

async fn watch_once(url: &str, signal: &ChangeSignal) -> Result<(), sqlx::Error> {
    if url.starts_with("postgres:") || url.starts_with("postgresql:") {
        let mut listener = sqlx::postgres::PgListener::connect(url).await?;
        listener.listen(POSTGRES_CHANNEL).await?;
        signal.set_watched(true);
        loop {
            // `None`: the connection dropped, and notifications sent meanwhile are lost.
            if listener.try_recv().await?.is_none() {
                return Ok(());
            }
            signal.bump();
        }
    }
    let mut connection = sqlx::sqlite::SqliteConnection::connect(url).await?;
    let mut seen = change_count(&mut connection).await?;
    signal.set_watched(true);
    let mut tick = tokio::time::interval(SQLITE_POLL);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let count = change_count(&mut connection).await?;
        if count != seen {
            seen = count;
            signal.bump();
        }
    }
}

async fn change_count(connection: &mut sqlx::sqlite::SqliteConnection) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar("SELECT n FROM change_counter WHERE id = 1")
        .fetch_one(connection)
        .await
}
