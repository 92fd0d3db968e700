//! The disconnect queue: `Disconnect` calls to a remote RPC server go out at most
//! `disconnect_rate` per second, in the order clients left, so a mass disconnect (a deploy, a
//! network blip) does not crowd out the connects and commands of the clients that stay — as
//! AnyCable servers do. On shutdown the queue is flushed without pacing; the node waits for it
//! within `shutdown_timeout`.
//!
//! [`DisconnectQueue`] wraps any [`Controller`] (gRPC, HTTP RPC): connects and commands pass
//! straight through. The queue needs no task of its own: each disconnect reserves the next
//! free send time (one every `1 / disconnect_rate` seconds, first come first served) when it is
//! called, and its future waits until then — or until shutdown starts — before calling the
//! inner controller. The futures are the queue's entries: the node already tracks them (and
//! holds their requests) until they finish.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::controller::{BoxFuture, Controller, RpcError};
use super::messages::{
    CommandMessage, CommandResponse, ConnectionRequest, ConnectionResponse, DisconnectRequest,
    DisconnectResponse,
};

/// A [`Controller`] whose disconnect calls are paced.
pub struct DisconnectQueue {
    inner: Arc<dyn Controller>,
    /// Time between two disconnect calls (`1 / disconnect_rate`).
    interval: Duration,
    /// When the next disconnect may go out. Locked only to read and advance it, never across
    /// an `.await`.
    next_slot: Mutex<Option<Instant>>,
    /// Cancelled when shutdown starts: every waiting disconnect goes out at once.
    flush: CancellationToken,
    /// Disconnects waiting for their turn (the `disconnect_queue_size` of AnyCable servers).
    waiting: Arc<AtomicUsize>,
}

impl std::fmt::Debug for DisconnectQueue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DisconnectQueue")
            .field("interval", &self.interval)
            .field("waiting", &self.len())
            .field("flushing", &self.flush.is_cancelled())
            .finish_non_exhaustive()
    }
}

impl DisconnectQueue {
    /// Paces the disconnect calls of `inner` to `rate` per second (at least 1).
    pub fn new(inner: Arc<dyn Controller>, rate: usize) -> Self {
        Self {
            inner,
            interval: Duration::from_secs(1) / u32::try_from(rate.max(1)).unwrap_or(u32::MAX),
            next_slot: Mutex::new(None),
            flush: CancellationToken::new(),
            waiting: Arc::new(AtomicUsize::new(0)),
        }
    }

    /// Disconnect calls waiting for their turn.
    pub fn len(&self) -> usize {
        self.waiting.load(Ordering::Relaxed)
    }

    /// Whether no disconnect call waits.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Reserves the next send time: now if the previous one is past, else one interval after it.
    fn reserve(&self) -> Instant {
        let now = Instant::now();
        let mut next = self.next_slot.lock().unwrap_or_else(|p| p.into_inner());
        let slot = next.map_or(now, |next| next.max(now));
        *next = Some(slot + self.interval);
        slot
    }
}

/// Counts a waiting call for as long as it lives (also when its future is dropped early).
struct Waiting(Arc<AtomicUsize>);

impl Waiting {
    fn new(count: &Arc<AtomicUsize>) -> Self {
        count.fetch_add(1, Ordering::Relaxed);
        Self(Arc::clone(count))
    }
}

impl Drop for Waiting {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

impl Controller for DisconnectQueue {
    fn connect(&self, request: ConnectionRequest) -> BoxFuture<Result<ConnectionResponse, RpcError>> {
        self.inner.connect(request)
    }

    fn command(&self, request: CommandMessage) -> BoxFuture<Result<CommandResponse, RpcError>> {
        self.inner.command(request)
    }

    fn disconnect(&self, request: DisconnectRequest) -> BoxFuture<Result<DisconnectResponse, RpcError>> {
        let slot = self.reserve();
        let (inner, flush, waiting) =
            (Arc::clone(&self.inner), self.flush.clone(), Waiting::new(&self.waiting));
        Box::pin(async move {
            if !flush.is_cancelled() && slot > Instant::now() {
                tokio::select! {
                    _ = tokio::time::sleep_until(slot) => {}
                    _ = flush.cancelled() => {}
                }
            }
            drop(waiting);
            inner.disconnect(request).await
        })
    }

    fn shutdown(&self) {
        let waiting = self.len();
        if waiting > 0 {
            tracing::info!(waiting, "shutdown: flushing the disconnect queue");
        }
        self.flush.cancel();
        self.inner.shutdown();
    }

    fn pending_disconnects(&self) -> usize {
        self.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rpc::messages::Status;
    use std::sync::Mutex as StdMutex;

    /// Records when each disconnect reached it (and which one, by `identifiers`).
    #[derive(Default)]
    struct Recorder {
        calls: StdMutex<Vec<(String, Instant)>>,
        shut_down: std::sync::atomic::AtomicBool,
    }

    impl Controller for Recorder {
        fn connect(&self, _: ConnectionRequest) -> BoxFuture<Result<ConnectionResponse, RpcError>> {
            Box::pin(async { Ok(ConnectionResponse { status: Status::Success, ..Default::default() }) })
        }

        fn command(&self, _: CommandMessage) -> BoxFuture<Result<CommandResponse, RpcError>> {
            Box::pin(async { Ok(CommandResponse::default()) })
        }

        fn disconnect(&self, request: DisconnectRequest) -> BoxFuture<Result<DisconnectResponse, RpcError>> {
            self.calls.lock().unwrap().push((request.identifiers, Instant::now()));
            Box::pin(async { Ok(DisconnectResponse { status: Status::Success, ..Default::default() }) })
        }

        fn shutdown(&self) {
            self.shut_down.store(true, Ordering::SeqCst);
        }
    }

    fn leaving(n: usize) -> DisconnectRequest {
        DisconnectRequest { identifiers: n.to_string(), ..Default::default() }
    }

    #[tokio::test(start_paused = true)]
    async fn disconnects_go_out_at_the_rate_in_order_and_the_rest_passes_straight_through() {
        let recorder = Arc::new(Recorder::default());
        let queue = Arc::new(DisconnectQueue::new(Arc::clone(&recorder) as Arc<dyn Controller>, 10));
        let start = Instant::now();
        let calls: Vec<_> = (0..25).map(|n| tokio::spawn(queue.disconnect(leaving(n)))).collect();
        tokio::task::yield_now().await;
        assert_eq!(queue.len(), 24, "the first goes at once, the rest wait");
        let connected = queue.connect(ConnectionRequest::default()).await.unwrap();
        assert_eq!(connected.status, Status::Success, "connects never wait behind disconnects");
        for call in calls {
            assert_eq!(call.await.unwrap().unwrap().status, Status::Success);
        }
        let calls = recorder.calls.lock().unwrap().clone();
        let order: Vec<String> = calls.iter().map(|(id, _)| id.clone()).collect();
        assert_eq!(order, (0..25).map(|n| n.to_string()).collect::<Vec<_>>(), "first come, first served");
        for (n, (_, at)) in calls.iter().enumerate() {
            let expected = Duration::from_millis(100) * n as u32;
            assert_eq!(*at - start, expected, "call {n} went out 100 ms after the previous one");
        }
        assert!(queue.is_empty());

        // After a quiet period the next one goes at once again.
        tokio::time::sleep(Duration::from_secs(10)).await;
        let before = Instant::now();
        queue.disconnect(leaving(99)).await.unwrap();
        assert_eq!(recorder.calls.lock().unwrap().last().unwrap().1, before);
    }

    #[tokio::test(start_paused = true)]
    async fn shutdown_flushes_every_waiting_disconnect_at_once() {
        let recorder = Arc::new(Recorder::default());
        let queue = Arc::new(DisconnectQueue::new(Arc::clone(&recorder) as Arc<dyn Controller>, 1));
        let calls: Vec<_> = (0..50).map(|n| tokio::spawn(queue.disconnect(leaving(n)))).collect();
        tokio::time::sleep(Duration::from_millis(1500)).await;
        assert_eq!(recorder.calls.lock().unwrap().len(), 2, "paced at one per second so far");

        let flushed_at = Instant::now();
        queue.shutdown();
        assert!(recorder.shut_down.load(Ordering::SeqCst), "shutdown reaches the inner controller");
        for call in calls {
            call.await.unwrap().unwrap();
        }
        let calls = recorder.calls.lock().unwrap().clone();
        assert_eq!(calls.len(), 50);
        assert!(calls[2..].iter().all(|(_, at)| *at == flushed_at), "the rest went out without pacing");
        // Disconnects made after shutdown started are not paced either.
        let late = Instant::now();
        queue.disconnect(leaving(50)).await.unwrap();
        queue.disconnect(leaving(51)).await.unwrap();
        assert_eq!(recorder.calls.lock().unwrap().last().unwrap().1, late);
    }

    #[tokio::test(start_paused = true)]
    async fn a_dropped_call_leaves_the_queue() {
        let recorder = Arc::new(Recorder::default());
        let queue = DisconnectQueue::new(Arc::clone(&recorder) as Arc<dyn Controller>, 1);
        let first = queue.disconnect(leaving(0));
        let second = queue.disconnect(leaving(1));
        assert_eq!(queue.len(), 2);
        drop(second);
        assert_eq!(queue.len(), 1);
        first.await.unwrap();
        assert!(queue.is_empty());
        assert_eq!(recorder.calls.lock().unwrap().len(), 1);
    }
}
