//! Verified trust data in memory, per key (policy, location, repository), for a short time:
//! bounded in entries and bytes, and single-flight (concurrent requests for one repository share
//! one fetch). A load runs on the blocking pool in a task of its own, so a request that gives up
//! (its deadline) does not cancel it: the next request finds it done. Each load says how long it
//! may be kept (refusals shorter, errors of the network not at all) and how big it is.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::watch;

/// What one loaded value may cost the cache.
#[derive(Debug, Clone, Copy)]
pub struct Keep {
    /// How long it is served from memory (zero: not kept, only shared with those waiting).
    pub ttl: Duration,
    /// About how many bytes it holds.
    pub bytes: u64,
}

/// The cache's bounds.
#[derive(Debug, Clone, Copy)]
pub struct Bounds {
    pub max_entries: usize,
    pub max_bytes: u64,
    /// Loads in flight at once; more are refused ([`CacheError::Busy`]), so a client naming thousands of
    /// repositories cannot tie up thousands of threads.
    pub max_loading: usize,
}

/// How a value was found, for the metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum How {
    /// In memory and fresh.
    Hit,
    /// Being loaded for another request: shared.
    Joined,
    /// Loaded for this request.
    Miss,
}

/// The cache cannot start another load now, or a load ended without a value.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum CacheError {
    #[error("{0} repositories are being fetched already; try again")]
    Busy(usize),
    #[error("the trust data load ended without an answer")]
    Lost,
}

struct Slot<V> {
    rx: watch::Receiver<Option<Arc<V>>>,
    /// Set once loaded and kept: until when, its size, and when it was loaded.
    ready: Option<(Instant, u64, Instant)>,
}

struct Inner<K, V> {
    slots: HashMap<K, Slot<V>>,
    bytes: u64,
    loading: usize,
}

/// The cache itself; share it in an `Arc`.
pub struct TrustCache<K, V> {
    inner: Mutex<Inner<K, V>>,
    bounds: Bounds,
}

impl<K, V> TrustCache<K, V>
where
    K: Eq + Hash + Clone + Send + Sync + 'static,
    V: Send + Sync + 'static,
{
    pub fn new(bounds: Bounds) -> Arc<Self> {
        Arc::new(TrustCache {
            inner: Mutex::new(Inner {
                slots: HashMap::new(),
                bytes: 0,
                loading: 0,
            }),
            bounds,
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner<K, V>> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Entries and bytes kept now (loads in flight not counted).
    pub fn size(&self) -> (usize, u64) {
        let inner = self.lock();
        let kept = inner.slots.values().filter(|s| s.ready.is_some()).count();
        (kept, inner.bytes)
    }

    /// Drop `key` if it was loaded more than `age` ago (a refusal read from it should be checked
    /// again); whether it was dropped.
    pub fn forget_if_older(&self, key: &K, age: Duration) -> bool {
        let mut inner = self.lock();
        let old = inner
            .slots
            .get(key)
            .and_then(|s| s.ready)
            .is_some_and(|(_, _, at)| at.elapsed() > age);
        if old {
            if let Some(s) = inner.slots.remove(key) {
                inner.bytes -= s.ready.map_or(0, |(_, b, _)| b);
            }
        }
        old
    }

    /// The value for `key`: fresh from memory, shared with a load in flight, or loaded now by
    /// `load` (a blocking function) on the blocking pool. Cancel-safe: dropping the future
    /// leaves the load running and its value kept.
    pub async fn get(
        self: &Arc<Self>,
        key: K,
        load: impl FnOnce() -> (V, Keep) + Send + 'static,
    ) -> Result<(Arc<V>, How), CacheError> {
        let (mut rx, how) = {
            let mut inner = self.lock();
            let now = Instant::now();
            let fresh = match inner.slots.get(&key) {
                Some(s) => match s.ready {
                    Some((until, _, _)) if until <= now => None,
                    Some(_) => Some((s.rx.clone(), How::Hit)),
                    None => Some((s.rx.clone(), How::Joined)),
                },
                None => None,
            };
            match fresh {
                Some(found) => found,
                None => {
                    if let Some(old) = inner.slots.remove(&key) {
                        inner.bytes -= old.ready.map_or(0, |(_, b, _)| b);
                    }
                    if inner.loading >= self.bounds.max_loading {
                        return Err(CacheError::Busy(inner.loading));
                    }
                    inner.loading += 1;
                    let (tx, rx) = watch::channel(None);
                    inner.slots.insert(
                        key.clone(),
                        Slot {
                            rx: rx.clone(),
                            ready: None,
                        },
                    );
                    drop(inner);
                    self.clone().start(key, tx, load);
                    (rx, How::Miss)
                }
            }
        };
        let value = rx
            .wait_for(Option::is_some)
            .await
            .map_err(|_| CacheError::Lost)?
            .clone()
            .ok_or(CacheError::Lost)?;
        Ok((value, how))
    }

    fn start(
        self: Arc<Self>,
        key: K,
        tx: watch::Sender<Option<Arc<V>>>,
        load: impl FnOnce() -> (V, Keep) + Send + 'static,
    ) {
        tokio::spawn(async move {
            let loaded = tokio::task::spawn_blocking(load).await;
            let mut inner = self.lock();
            inner.loading -= 1;
            let Ok((value, keep)) = loaded else {
                // The load panicked: waiters see Lost, the next request loads again.
                inner.slots.remove(&key);
                return;
            };
            let _ = tx.send(Some(Arc::new(value)));
            let fits = keep.bytes <= self.bounds.max_bytes && self.bounds.max_entries > 0;
            if keep.ttl.is_zero() || !fits {
                inner.slots.remove(&key);
                return;
            }
            if let Some(slot) = inner.slots.get_mut(&key) {
                slot.ready = Some((Instant::now() + keep.ttl, keep.bytes, Instant::now()));
                inner.bytes += keep.bytes;
            }
            self.evict(&mut inner);
        });
    }

    /// Drop expired entries, then the ones expiring soonest, until within bounds.
    fn evict(&self, inner: &mut Inner<K, V>) {
        let now = Instant::now();
        let kept = |inner: &Inner<K, V>| inner.slots.values().filter(|s| s.ready.is_some()).count();
        if kept(inner) <= self.bounds.max_entries && inner.bytes <= self.bounds.max_bytes {
            return;
        }
        let mut bytes = inner.bytes;
        inner.slots.retain(|_, s| match s.ready {
            Some((until, b, _)) if until <= now => {
                bytes -= b;
                false
            }
            _ => true,
        });
        inner.bytes = bytes;
        while kept(inner) > self.bounds.max_entries || inner.bytes > self.bounds.max_bytes {
            let Some(oldest) = inner
                .slots
                .iter()
                .filter_map(|(k, s)| s.ready.map(|(until, _, _)| (until, k)))
                .min_by_key(|(until, _)| *until)
                .map(|(_, k)| k.clone())
            else {
                break;
            };
            if let Some(s) = inner.slots.remove(&oldest) {
                inner.bytes -= s.ready.map_or(0, |(_, b, _)| b);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    fn bounds(entries: usize, bytes: u64) -> Bounds {
        Bounds {
            max_entries: entries,
            max_bytes: bytes,
            max_loading: 4,
        }
    }

    const KEEP: Keep = Keep {
        ttl: Duration::from_secs(60),
        bytes: 10,
    };

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_requests_for_one_repository_share_one_load() {
        let cache = TrustCache::<&str, usize>::new(bounds(10, 1000));
        let loads = Arc::new(AtomicUsize::new(0));
        let mut tasks = Vec::new();
        for _ in 0..16 {
            let (cache, loads) = (cache.clone(), loads.clone());
            tasks.push(tokio::spawn(async move {
                cache
                    .get("repo", move || {
                        loads.fetch_add(1, Ordering::SeqCst);
                        std::thread::sleep(Duration::from_millis(200));
                        (7, KEEP)
                    })
                    .await
            }));
        }
        let mut hows = Vec::new();
        for t in tasks {
            let (v, how) = t.await.unwrap().unwrap();
            assert_eq!(*v, 7);
            hows.push(how);
        }
        assert_eq!(loads.load(Ordering::SeqCst), 1);
        assert_eq!(hows.iter().filter(|h| **h == How::Miss).count(), 1);
        let (_, how) = cache.get("repo", || (8, KEEP)).await.unwrap();
        assert_eq!(how, How::Hit);
    }

    #[tokio::test]
    async fn entries_expire_and_unkept_values_load_again() {
        let cache = TrustCache::<u32, u32>::new(bounds(10, 1000));
        let short = Keep {
            ttl: Duration::from_millis(50),
            bytes: 1,
        };
        assert_eq!(*cache.get(1, move || (1, short)).await.unwrap().0, 1);
        tokio::time::sleep(Duration::from_millis(80)).await;
        let (v, how) = cache.get(1, || (2, KEEP)).await.unwrap();
        assert_eq!((*v, how), (2, How::Miss));
        let none = Keep {
            ttl: Duration::ZERO,
            bytes: 1,
        };
        cache.get(2, move || (3, none)).await.unwrap();
        let (v, how) = cache.get(2, move || (4, none)).await.unwrap();
        assert_eq!((*v, how), (4, How::Miss));
    }

    #[tokio::test]
    async fn entries_and_bytes_stay_within_bounds() {
        let cache = TrustCache::<u32, u32>::new(bounds(3, 25));
        for k in 0..10 {
            cache.get(k, move || (k, KEEP)).await.unwrap();
            // Loads settle in their own task; wait for it.
            tokio::task::yield_now().await;
            tokio::time::sleep(Duration::from_millis(5)).await;
            let (entries, bytes) = cache.size();
            assert!(
                entries <= 2 && bytes <= 25,
                "{entries} entries, {bytes} bytes"
            );
        }
        // One value bigger than the whole cache is served but not kept.
        let huge = Keep {
            ttl: Duration::from_secs(60),
            bytes: 1000,
        };
        cache.get(99, move || (1, huge)).await.unwrap();
        let (_, how) = cache.get(99, move || (1, huge)).await.unwrap();
        assert_eq!(how, How::Miss);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn too_many_loads_at_once_are_refused_not_queued() {
        let cache = TrustCache::<u32, u32>::new(bounds(100, 1000));
        let mut waiting = Vec::new();
        for k in 0..4 {
            let c = cache.clone();
            waiting.push(tokio::spawn(async move {
                c.get(k, move || {
                    std::thread::sleep(Duration::from_millis(300));
                    (k, KEEP)
                })
                .await
            }));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert_eq!(
            cache.get(4, || (4, KEEP)).await.unwrap_err(),
            CacheError::Busy(4)
        );
        for w in waiting {
            w.await.unwrap().unwrap();
        }
        assert!(cache.get(4, || (4, KEEP)).await.is_ok());
    }
}
