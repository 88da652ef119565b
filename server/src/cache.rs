//! Lookups kept in memory until the database changes.
//!
//! An entry is served only while the [`ChangeSignal`] generation it was loaded under is still
//! current, so a commit by this process (bumped by the store after it commits) or by any other
//! (seen by the change watcher) makes every entry stale at once. Without a watcher the cache
//! is bypassed. Only found values are kept, so unknown keys cannot fill it.

use std::collections::HashMap;
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use crate::changes::ChangeSignal;

/// A map from a key (a token hash) to what the database held for it.
#[derive(Debug, Clone)]
pub struct ChangeCache<V> {
    signal: ChangeSignal,
    capacity: usize,
    inner: Arc<Inner<V>>,
}

#[derive(Debug)]
struct Inner<V> {
    entries: Mutex<Entries<V>>,
    hits: AtomicU64,
    loads: AtomicU64,
}

#[derive(Debug)]
struct Entries<V> {
    generation: u64,
    map: HashMap<String, V>,
}

impl<V: Clone> ChangeCache<V> {
    /// An empty cache of at most `capacity` entries; when full it starts over.
    pub fn new(signal: ChangeSignal, capacity: usize) -> Self {
        Self {
            signal,
            capacity,
            inner: Arc::new(Inner {
                entries: Mutex::new(Entries {
                    generation: 0,
                    map: HashMap::new(),
                }),
                hits: AtomicU64::new(0),
                loads: AtomicU64::new(0),
            }),
        }
    }

    /// The value for `key`: from memory if it was loaded since the last change, else from
    /// `load`, whose found value is kept unless a change happened while it ran.
    pub async fn get_or_load<E, F>(&self, key: &str, load: F) -> Result<Option<V>, E>
    where
        F: Future<Output = Result<Option<V>, E>>,
    {
        let Some(generation) = self.signal.generation() else {
            self.inner.loads.fetch_add(1, Ordering::Relaxed);
            return load.await;
        };
        if let Some(value) = self.lookup(key, generation) {
            self.inner.hits.fetch_add(1, Ordering::Relaxed);
            return Ok(Some(value));
        }
        self.inner.loads.fetch_add(1, Ordering::Relaxed);
        let loaded = load.await?;
        if let Some(value) = &loaded {
            self.keep(key, value.clone(), generation);
        }
        Ok(loaded)
    }

    /// Lookups answered from memory, and lookups that read the database.
    pub fn counts(&self) -> (u64, u64) {
        (
            self.inner.hits.load(Ordering::Relaxed),
            self.inner.loads.load(Ordering::Relaxed),
        )
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Entries<V>> {
        self.inner
            .entries
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn lookup(&self, key: &str, generation: u64) -> Option<V> {
        let entries = self.lock();
        (entries.generation == generation)
            .then(|| entries.map.get(key).cloned())
            .flatten()
    }

    fn keep(&self, key: &str, value: V, loaded_at: u64) {
        // Loaded before a change that committed meanwhile: possibly stale, so not kept. A
        // change after this check leaves the entry under an old generation, never served.
        if self.signal.generation() != Some(loaded_at) {
            return;
        }
        let mut entries = self.lock();
        if entries.generation != loaded_at || entries.map.len() >= self.capacity {
            entries.map.clear();
            entries.generation = loaded_at;
        }
        entries.map.insert(key.to_owned(), value);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn found(value: &str) -> Result<Option<String>, ()> {
        Ok(Some(value.to_owned()))
    }

    #[tokio::test]
    async fn serves_from_memory_until_a_change_and_never_while_unwatched() {
        let signal = ChangeSignal::default();
        let cache = ChangeCache::new(signal.clone(), 8);
        // Unwatched: every lookup loads.
        assert_eq!(
            cache.get_or_load("k", found("a")).await,
            Ok(Some("a".into()))
        );
        assert_eq!(
            cache.get_or_load("k", found("b")).await,
            Ok(Some("b".into()))
        );

        signal.set_watched(true);
        assert_eq!(
            cache.get_or_load("k", found("c")).await,
            Ok(Some("c".into()))
        );
        // Cached: the loader's new value is not consulted.
        assert_eq!(
            cache.get_or_load("k", found("d")).await,
            Ok(Some("c".into()))
        );
        signal.bump();
        assert_eq!(
            cache.get_or_load("k", found("e")).await,
            Ok(Some("e".into()))
        );

        // Missing values are not kept.
        assert_eq!(
            cache.get_or_load("gone", async { Ok::<_, ()>(None) }).await,
            Ok(None)
        );
        assert_eq!(
            cache.get_or_load("gone", found("f")).await,
            Ok(Some("f".into()))
        );

        signal.set_watched(false);
        assert_eq!(
            cache.get_or_load("k", found("g")).await,
            Ok(Some("g".into()))
        );
    }

    #[tokio::test]
    async fn a_change_during_a_load_keeps_its_result_out() {
        let signal = ChangeSignal::default();
        signal.set_watched(true);
        let cache = ChangeCache::new(signal.clone(), 8);
        let bump_then_load = async {
            signal.bump();
            Ok::<_, ()>(Some("stale".to_owned()))
        };
        assert_eq!(
            cache.get_or_load("k", bump_then_load).await,
            Ok(Some("stale".into()))
        );
        assert_eq!(
            cache.get_or_load("k", found("fresh")).await,
            Ok(Some("fresh".into()))
        );
    }

    #[tokio::test]
    async fn a_full_cache_starts_over() {
        let signal = ChangeSignal::default();
        signal.set_watched(true);
        let cache = ChangeCache::new(signal, 2);
        for key in ["a", "b", "c"] {
            cache.get_or_load(key, found(key)).await.unwrap();
        }
        assert_eq!(cache.lock().map.len(), 1);
        assert_eq!(
            cache.get_or_load("c", found("new")).await,
            Ok(Some("c".into()))
        );
    }
}
