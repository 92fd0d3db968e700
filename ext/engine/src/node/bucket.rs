//! A token bucket: at most `rate` events per second on average, `rate` at once after a pause
//! (`max_whispers_per_second`). One per connection, touched only by its task: no lock.

use tokio::time::Instant;

/// Events a connection may still send now, refilled with time.
#[derive(Debug)]
pub(super) struct Bucket {
    /// Per second; 0: no limit.
    rate: usize,
    tokens: f64,
    filled: Instant,
}

impl Bucket {
    /// A full bucket of `rate` events per second (0: every event passes).
    pub(super) fn new(rate: usize) -> Self {
        Self { rate, tokens: rate as f64, filled: Instant::now() }
    }

    /// Whether one more event may pass now (it is then taken from the bucket).
    pub(super) fn take(&mut self) -> bool {
        if self.rate == 0 {
            return true;
        }
        let now = Instant::now();
        let rate = self.rate as f64;
        self.tokens = (self.tokens + now.duration_since(self.filled).as_secs_f64() * rate).min(rate);
        self.filled = now;
        if self.tokens < 1.0 {
            return false;
        }
        self.tokens -= 1.0;
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test(start_paused = true)]
    async fn a_burst_of_rate_passes_then_one_per_interval() {
        let mut bucket = Bucket::new(4);
        assert_eq!((0..6).filter(|_| bucket.take()).count(), 4, "a full bucket, then nothing");
        tokio::time::advance(Duration::from_millis(250)).await;
        assert!(bucket.take(), "a quarter of a second later: one");
        assert!(!bucket.take());
        tokio::time::advance(Duration::from_secs(10)).await;
        assert_eq!((0..6).filter(|_| bucket.take()).count(), 4, "never more than rate at once");
        let mut unlimited = Bucket::new(0);
        assert!((0..1000).all(|_| unlimited.take()));
    }
}
