//! A [`Controller`] wrapper that counts calls for the metrics: `rpc_call_total`,
//! `rpc_error_total` (the call failed or answered ERROR), `failed_auths_total` (connect answered
//! FAILURE) and `rpc_pending_num` (calls started and not answered yet).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use super::controller::{BoxFuture, Controller, RpcError};
use super::messages::{
    CommandMessage, CommandResponse, ConnectionRequest, ConnectionResponse, DisconnectRequest,
    DisconnectResponse, Status,
};
use crate::metrics::{Counter, Metrics};

/// Counts the calls made through `inner`.
pub struct Metered {
    inner: Arc<dyn Controller>,
    metrics: Arc<Metrics>,
    /// Calls in flight; shared with each call's future, which decrements it when done.
    pending: Arc<AtomicUsize>,
}

impl std::fmt::Debug for Metered {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metered").field("pending", &self.pending()).finish_non_exhaustive()
    }
}

impl Metered {
    /// Wraps `inner`, counting into `metrics`.
    pub fn new(inner: Arc<dyn Controller>, metrics: Arc<Metrics>) -> Self {
        Self { inner, metrics, pending: Arc::new(AtomicUsize::new(0)) }
    }

    /// Calls started and not answered yet.
    pub fn pending(&self) -> usize {
        self.pending.load(Ordering::Relaxed)
    }

    /// Counts one call around `call`; `status` reads the reply's status.
    fn count<T: Send + 'static>(
        &self,
        call: BoxFuture<Result<T, RpcError>>,
        status: fn(&T) -> Status,
    ) -> BoxFuture<Result<T, RpcError>> {
        self.metrics.inc(Counter::RpcCall);
        let pending = Pending::new(&self.pending);
        let metrics = Arc::clone(&self.metrics);
        Box::pin(async move {
            let reply = call.await;
            drop(pending);
            match reply.as_ref().map(status) {
                Ok(Status::Error) | Err(_) => metrics.inc(Counter::RpcError),
                Ok(_) => {}
            }
            reply
        })
    }
}

/// One call in flight; dropping it (answered, or the caller gave up) takes it off the count.
struct Pending(Arc<AtomicUsize>);

impl Pending {
    fn new(count: &Arc<AtomicUsize>) -> Self {
        count.fetch_add(1, Ordering::Relaxed);
        Self(Arc::clone(count))
    }
}

impl Drop for Pending {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

impl Controller for Metered {
    fn connect(&self, request: ConnectionRequest) -> BoxFuture<Result<ConnectionResponse, RpcError>> {
        let metrics = Arc::clone(&self.metrics);
        let call = self.count(self.inner.connect(request), |reply: &ConnectionResponse| reply.status);
        Box::pin(async move {
            let reply = call.await;
            if reply.as_ref().is_ok_and(|r| r.status == Status::Failure) {
                metrics.inc(Counter::FailedAuths);
            }
            reply
        })
    }

    fn command(&self, request: CommandMessage) -> BoxFuture<Result<CommandResponse, RpcError>> {
        self.count(self.inner.command(request), |reply: &CommandResponse| reply.status)
    }

    fn disconnect(&self, request: DisconnectRequest) -> BoxFuture<Result<DisconnectResponse, RpcError>> {
        self.count(self.inner.disconnect(request), |reply: &DisconnectResponse| reply.status)
    }

    fn shutdown(&self) {
        self.inner.shutdown();
    }

    fn pending_disconnects(&self) -> usize {
        self.inner.pending_disconnects()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::sync::oneshot;

    /// Connect answers FAILURE, a command waits for the test to release it, disconnect fails.
    struct Scripted {
        release: std::sync::Mutex<Option<oneshot::Receiver<()>>>,
    }

    impl Controller for Scripted {
        fn connect(&self, _: ConnectionRequest) -> BoxFuture<Result<ConnectionResponse, RpcError>> {
            Box::pin(async { Ok(ConnectionResponse { status: Status::Failure, ..Default::default() }) })
        }

        fn command(&self, _: CommandMessage) -> BoxFuture<Result<CommandResponse, RpcError>> {
            let release = self.release.lock().unwrap().take();
            Box::pin(async move {
                if let Some(release) = release {
                    let _ = release.await;
                }
                Ok(CommandResponse { status: Status::Error, ..Default::default() })
            })
        }

        fn disconnect(&self, _: DisconnectRequest) -> BoxFuture<Result<DisconnectResponse, RpcError>> {
            Box::pin(async { Err(RpcError::Busy) })
        }
    }

    #[tokio::test]
    async fn counts_calls_failures_rejections_and_calls_in_flight() {
        let (release, wait) = oneshot::channel();
        let metrics = Arc::new(Metrics::default());
        let inner = Arc::new(Scripted { release: std::sync::Mutex::new(Some(wait)) });
        let metered = Arc::new(Metered::new(inner, Arc::clone(&metrics)));

        metered.connect(ConnectionRequest::default()).await.unwrap();
        let command = tokio::spawn(metered.command(CommandMessage::default()));
        tokio::task::yield_now().await;
        assert_eq!(metered.pending(), 1, "the command is in flight");
        release.send(()).unwrap();
        command.await.unwrap().unwrap();
        assert_eq!(metered.pending(), 0);
        assert!(metered.disconnect(DisconnectRequest::default()).await.is_err());

        assert_eq!(metrics.get(Counter::RpcCall), 3);
        assert_eq!(metrics.get(Counter::FailedAuths), 1);
        assert_eq!(metrics.get(Counter::RpcError), 2, "the ERROR reply and the failed call");
    }
}
