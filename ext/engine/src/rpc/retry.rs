//! The attempt loop both remote controllers (gRPC, HTTP RPC) share: each attempt holds one of
//! `rpc_concurrency` permits; an attempt that certainly did not run the call is retried after
//! an exponential, jittered pause while the next attempt can still start before the deadline.
//! The transports decide what is retryable and how long the first pause is.

use std::collections::hash_map::RandomState;
use std::future::Future;
use std::hash::BuildHasher;
use std::time::Duration;

use tokio::sync::Semaphore;
use tokio::time::Instant;

use super::controller::RpcError;

/// How one attempt ended.
#[derive(Debug)]
pub(crate) enum Attempt<T> {
    /// A reply.
    Reply(T),
    /// Failed for good.
    Fail(RpcError),
    /// The call certainly did not run: try again.
    Retry {
        /// What went wrong, for the log and the final error.
        why: String,
        /// The kind of failure: the backoff starts over at `first` when it changes.
        kind: &'static str,
        /// The first pause for this kind; it doubles with every retry of the same kind.
        first: Duration,
        /// A pause the server asked for (`Retry-After`).
        at_least: Option<Duration>,
    },
}

/// Attempts (`attempt` makes one) until one gets a reply, fails for good, or the next would
/// start past `deadline`. `label` names the call in errors and logs ("gRPC connect to ...").
pub(crate) async fn with_retries<T, F, Fut>(
    label: &str,
    permits: &Semaphore,
    deadline: Instant,
    max_backoff: Duration,
    mut attempt: F,
) -> Result<T, RpcError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Attempt<T>>,
{
    let mut count = 0u32;
    let mut backoff = None::<(&'static str, Duration)>;
    loop {
        count += 1;
        let outcome = {
            let _permit =
                permits.acquire().await.map_err(|_| RpcError::Unavailable(format!("{label}: closed")))?;
            attempt().await
        };
        let (why, kind, first, at_least) = match outcome {
            Attempt::Reply(reply) => return Ok(reply),
            Attempt::Fail(error) => return Err(error),
            Attempt::Retry { why, kind, first, at_least } => (why, kind, first, at_least),
        };
        let pause = match backoff {
            Some((previous_kind, previous)) if previous_kind == kind => (previous * 2).min(max_backoff),
            _ => first.min(max_backoff),
        };
        backoff = Some((kind, pause));
        let pause = jitter(pause, count).max(at_least.unwrap_or_default());
        if Instant::now() + pause >= deadline {
            return Err(RpcError::Unavailable(format!("{label} failed after {count} attempt(s): {why}")));
        }
        tracing::debug!(call = label, attempt = count, %why, ?pause, "RPC: retrying");
        tokio::time::sleep(pause).await;
    }
}

/// `pause` shortened by a random 0–50 %, so clients of a restarting server do not retry in step.
fn jitter(pause: Duration, attempt: u32) -> Duration {
    let random = RandomState::new().hash_one(attempt) % 500;
    pause.mul_f64(1.0 - random as f64 / 1000.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn retry(kind: &'static str) -> Attempt<u32> {
        Attempt::Retry {
            why: format!("{kind} again"),
            kind,
            first: Duration::from_millis(10),
            at_least: None,
        }
    }

    #[test]
    fn pauses_are_shortened_by_at_most_half() {
        for attempt in 0..50 {
            let pause = jitter(Duration::from_millis(100), attempt);
            assert!((Duration::from_millis(50)..=Duration::from_millis(100)).contains(&pause), "{pause:?}");
        }
    }

    #[tokio::test(start_paused = true)]
    async fn retries_until_a_reply_and_stops_at_the_deadline() {
        let permits = Semaphore::new(1);
        let mut calls = 0;
        let start = Instant::now();
        let deadline = start + Duration::from_secs(5);
        let reply = with_retries("test call", &permits, deadline, Duration::from_secs(1), || {
            calls += 1;
            let outcome = if calls < 4 { retry("busy") } else { Attempt::Reply(calls) };
            async move { outcome }
        })
        .await;
        assert_eq!(reply.unwrap(), 4);
        // Pauses of at most 10, 20 and 40 ms (each shortened by up to half).
        assert!(start.elapsed() <= Duration::from_millis(70), "{:?}", start.elapsed());

        let error =
            with_retries("test call", &permits, deadline, Duration::from_secs(1), || async { retry("down") })
                .await
                .unwrap_err();
        assert!(error.to_string().contains("test call failed after"), "{error}");
        assert!(Instant::now() <= deadline);
    }

    #[tokio::test(start_paused = true)]
    async fn honours_a_pause_the_server_asks_for_and_fails_for_good_at_once() {
        let permits = Semaphore::new(1);
        let deadline = Instant::now() + Duration::from_secs(5);
        let asked = || async {
            Attempt::<()>::Retry {
                why: "503".into(),
                kind: "http",
                first: Duration::from_millis(10),
                at_least: Some(Duration::from_secs(6)),
            }
        };
        let error =
            with_retries("call", &permits, deadline, Duration::from_secs(1), asked).await.unwrap_err();
        assert!(error.to_string().ends_with("failed after 1 attempt(s): 503"), "{error}");

        let mut calls = 0;
        let fail = with_retries("call", &permits, deadline, Duration::from_secs(1), || {
            calls += 1;
            async { Attempt::<()>::Fail(RpcError::BadReply("nope".into())) }
        })
        .await;
        assert_eq!((fail.unwrap_err(), calls), (RpcError::BadReply("nope".into()), 1));
    }
}
