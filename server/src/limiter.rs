//! Events per client address in a window, for what an address may do only so often: failed
//! sign-ins (the console, OAuth consent) and client registrations.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Addresses remembered at most; past it, addresses whose window ended are forgotten.
const ADDRESSES: usize = 10_000;

/// At most `max` events per address per `window`.
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
        if events.len() >= ADDRESSES {
            events.retain(|_, (_, since)| since.elapsed() < self.window);
        }
        let entry = events.entry(address).or_insert((0, Instant::now()));
        if entry.1.elapsed() >= self.window {
            *entry = (0, Instant::now());
        }
        entry.0 += 1;
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
}
