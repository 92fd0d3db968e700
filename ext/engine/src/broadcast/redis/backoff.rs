//! Delays between reconnect attempts: doubling from a floor to a cap, with jitter so that the
//! workers of a cluster do not all knock on a restarted Redis at the same instant.

use std::hash::{BuildHasher, RandomState};
use std::time::Duration;

/// Exponential backoff with ±20 % jitter.
#[derive(Debug)]
pub(crate) struct Backoff {
    floor: Duration,
    cap: Duration,
    next: Duration,
    jitter: RandomState,
    attempts: u64,
}

impl Backoff {
    pub(crate) fn new(floor: Duration, cap: Duration) -> Self {
        Self { floor, cap, next: floor, jitter: RandomState::new(), attempts: 0 }
    }

    /// The delay before the next attempt.
    pub(crate) fn next_delay(&mut self) -> Duration {
        let base = self.next;
        self.next = (self.next * 2).min(self.cap);
        self.attempts += 1;
        // 0.8 ..= 1.2 times the base, from a keyed hash of the attempt number.
        let permille = 800 + self.jitter.hash_one(self.attempts) % 401;
        (base * permille as u32 / 1000).min(self.cap)
    }

    /// Back to the floor after a success.
    pub(crate) fn reset(&mut self) {
        self.next = self.floor;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doubles_up_to_the_cap_and_resets() {
        let (floor, cap) = (Duration::from_millis(100), Duration::from_secs(5));
        let mut backoff = Backoff::new(floor, cap);
        let delays: Vec<_> = (0..10).map(|_| backoff.next_delay()).collect();
        assert!(delays[0] >= floor * 8 / 10 && delays[0] <= floor * 12 / 10, "{delays:?}");
        assert!(delays[3] >= Duration::from_millis(640), "{delays:?}");
        assert!(delays.iter().all(|d| *d <= cap), "{delays:?}");
        assert!(delays[9] >= cap * 8 / 10, "{delays:?}");
        backoff.reset();
        assert!(backoff.next_delay() <= floor * 12 / 10);
    }
}
