//! Limits on what a client may do only so often: failed sign-ins (the console, OAuth consent)
//! and client registrations. Each is counted per client address ([`crate::peer`]); failed
//! sign-ins are also counted per target, from every address together, so a guess spread over
//! many addresses is slowed down too.

use std::collections::HashMap;
use std::hash::Hash;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Keys remembered at most; past it, keys whose window ended are forgotten.
const KEYS: usize = 10_000;

/// At most `max` events per address per `window`; then the address waits for the window's end.
pub struct AddressLimiter {
    events: Mutex<HashMap<IpAddr, (u32, Instant)>>,
    max: u32,
    window: Duration,
}

impl AddressLimiter {
    /// A limiter of `max` events per `window`.
    pub fn new(max: u32, window: Duration) -> Self {
        Self {
            events: Mutex::default(),
            max,
            window,
        }
    }

    /// How long `address` must still wait, if it has used up its events.
    pub fn blocked(&self, address: IpAddr) -> Option<Duration> {
        let events = self.events.lock().unwrap_or_else(|e| e.into_inner());
        let (count, since) = events.get(&address)?;
        let left = self.window.checked_sub(since.elapsed())?;
        (*count >= self.max).then_some(left)
    }

    /// Counts one event of `address`.
    pub fn record(&self, address: IpAddr) {
        let mut events = self.events.lock().unwrap_or_else(|e| e.into_inner());
        forget_ended(&mut events, self.window, |(_, since)| *since);
        let entry = events.entry(address).or_insert((0, Instant::now()));
        if entry.1.elapsed() >= self.window {
            *entry = (0, Instant::now());
        }
        entry.0 += 1;
    }
}

/// Past [`KEYS`] keys, forgets those whose window (from `start`) has ended.
fn forget_ended<K: Eq + Hash, V>(
    map: &mut HashMap<K, V>,
    window: Duration,
    start: impl Fn(&V) -> Instant,
) {
    if map.len() >= KEYS {
        map.retain(|_, value| start(value).elapsed() < window);
    }
}

/// Failed attempts at one target (the console, one MCP server's consent page) from every
/// address together. The first `free` failures in a window cost nothing; past them, attempts
/// at that target are let through one per `interval`, each waiting for its turn but never
/// longer than `max_wait`. So a guess spread over many addresses is bounded to one attempt per
/// `interval`, and the owner, whose attempt waits its turn, still gets in: the target slows
/// down, it never locks.
pub struct TargetPacer {
    targets: Mutex<HashMap<String, Pace>>,
    free: u32,
    window: Duration,
    interval: Duration,
    max_wait: Duration,
}

struct Pace {
    failures: u32,
    since: Instant,
    next_turn: Instant,
}

impl TargetPacer {
    /// A pacer that slows a target after `free` failures in `window` to one attempt per
    /// `interval`, refusing attempts that would wait longer than `max_wait`.
    pub fn new(free: u32, window: Duration, interval: Duration, max_wait: Duration) -> Self {
        Self {
            targets: Mutex::default(),
            free,
            window,
            interval,
            max_wait,
        }
    }

    /// How long an attempt at `target` waits for its turn (`Ok`, the turn is taken), or, when
    /// the turns within `max_wait` are all taken, after how long to try again (`Err`).
    pub fn turn(&self, target: &str) -> Result<Duration, Duration> {
        let mut targets = self.targets.lock().unwrap_or_else(|e| e.into_inner());
        let Some(pace) = targets.get_mut(target) else {
            return Ok(Duration::ZERO);
        };
        let now = Instant::now();
        if now.duration_since(pace.since) >= self.window {
            targets.remove(target);
            return Ok(Duration::ZERO);
        }
        if pace.failures < self.free {
            return Ok(Duration::ZERO);
        }
        let turn = pace.next_turn.max(now);
        let wait = turn - now;
        if wait > self.max_wait {
            return Err(wait - self.max_wait);
        }
        pace.next_turn = turn + self.interval;
        Ok(wait)
    }

    /// Counts one failed attempt at `target`.
    pub fn record(&self, target: &str) {
        let mut targets = self.targets.lock().unwrap_or_else(|e| e.into_inner());
        forget_ended(&mut targets, self.window, |pace| pace.since);
        let now = Instant::now();
        let pace = targets.entry(target.to_owned()).or_insert(Pace {
            failures: 0,
            since: now,
            next_turn: now,
        });
        if now.duration_since(pace.since) >= self.window {
            *pace = Pace {
                failures: 0,
                since: now,
                next_turn: now,
            };
        }
        pace.failures += 1;
    }
}

/// Why a sign-in was not even tried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignInRefusal {
    /// This address failed too often; it may try again after the wait.
    Address(Duration),
    /// Too many addresses together failed at this target; every attempt now waits its turn,
    /// and the turns are all taken for a while.
    Target(Duration),
}

impl std::fmt::Display for SignInRefusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Address(wait) => write!(
                f,
                "Too many failed sign-ins from this address; try again in {} s.",
                wait.as_secs().max(1)
            ),
            Self::Target(wait) => write!(
                f,
                "Sign-ins here are slowed down after many failures from many addresses; try again in {} s.",
                wait.as_secs().max(1)
            ),
        }
    }
}

/// The limits on failed sign-ins: per address, which locks that address out for the rest of
/// its window, and per target, which slows every address down.
pub struct SignInLimits {
    per_address: AddressLimiter,
    per_target: TargetPacer,
}

impl SignInLimits {
    /// `per_address` failures per address per `window`; past `per_target` failures at one
    /// target in `window`, one attempt at it per second, waiting at most five.
    pub fn new(per_address: u32, per_target: u32, window: Duration) -> Self {
        Self::with_pace(
            AddressLimiter::new(per_address, window),
            TargetPacer::new(
                per_target,
                window,
                Duration::from_secs(1),
                Duration::from_secs(5),
            ),
        )
    }

    /// Limits from their two parts.
    pub fn with_pace(per_address: AddressLimiter, per_target: TargetPacer) -> Self {
        Self {
            per_address,
            per_target,
        }
    }

    /// Waits for this attempt's turn, or says why it may not be tried now.
    pub async fn admit(&self, address: IpAddr, target: &str) -> Result<(), SignInRefusal> {
        if let Some(wait) = self.per_address.blocked(address) {
            return Err(SignInRefusal::Address(wait));
        }
        let wait = self
            .per_target
            .turn(target)
            .map_err(SignInRefusal::Target)?;
        if !wait.is_zero() {
            tokio::time::sleep(wait).await;
        }
        Ok(())
    }

    /// Counts one failed sign-in of `address` at `target`.
    pub fn failed(&self, address: IpAddr, target: &str) {
        self.per_address.record(address);
        self.per_target.record(target);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_are_limited_per_address() {
        let limiter = AddressLimiter::new(5, Duration::from_secs(60));
        let (a, b) = (IpAddr::from([10, 0, 0, 1]), IpAddr::from([10, 0, 0, 2]));
        for _ in 0..5 {
            assert!(limiter.blocked(a).is_none());
            limiter.record(a);
        }
        assert!(limiter.blocked(a).is_some());
        assert!(limiter.blocked(b).is_none());
    }

    #[test]
    fn a_target_past_its_free_failures_takes_one_attempt_per_interval() {
        let pacer = TargetPacer::new(
            3,
            Duration::from_secs(600),
            Duration::from_secs(10),
            Duration::from_secs(25),
        );
        for _ in 0..3 {
            assert_eq!(pacer.turn("console"), Ok(Duration::ZERO));
            pacer.record("console");
        }
        // Turns now come ten seconds apart: 0, 10, 20 fit within the 25 s wait, 30 does not.
        let waits: Vec<_> = (0..4).map(|_| pacer.turn("console")).collect();
        assert_eq!(waits[0], Ok(Duration::ZERO));
        let secs = |r: Result<Duration, Duration>| {
            let round = |d: Duration| d.as_secs_f64().round() as u64;
            r.map(round).map_err(round)
        };
        assert_eq!(secs(waits[1]), Ok(10));
        assert_eq!(secs(waits[2]), Ok(20));
        assert_eq!(
            secs(waits[3]),
            Err(5),
            "the refused attempt is told when a turn frees"
        );
        // Another target is not slowed.
        assert_eq!(pacer.turn("mcp_other"), Ok(Duration::ZERO));
    }

    #[tokio::test]
    async fn sign_ins_refuse_a_locked_address_and_slow_a_guessed_target() {
        let limits = SignInLimits::with_pace(
            AddressLimiter::new(2, Duration::from_secs(60)),
            TargetPacer::new(
                3,
                Duration::from_secs(60),
                Duration::from_secs(60),
                Duration::ZERO,
            ),
        );
        let address = |last| IpAddr::from([10, 0, 0, last]);
        limits.failed(address(1), "console");
        limits.failed(address(1), "console");
        assert!(matches!(
            limits.admit(address(1), "console").await,
            Err(SignInRefusal::Address(_))
        ));
        // A third address's failure slows the target for everyone: one turn, then a wait.
        limits.failed(address(2), "console");
        assert_eq!(limits.admit(address(3), "console").await, Ok(()));
        let refused = limits.admit(address(4), "console").await.unwrap_err();
        assert!(matches!(refused, SignInRefusal::Target(_)));
        assert!(refused.to_string().contains("many addresses"), "{refused}");
        assert_eq!(limits.admit(address(4), "mcp_other").await, Ok(()));
    }
}
