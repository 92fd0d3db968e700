//! Serving the application's channels over gRPC: a tonic server for the `anycable.RPC`
//! service whose calls become jobs in the in-process bridge's [`JobQueue`] — the same queue
//! the Ruby worker threads take from — so the application's own handler answers anycable-go
//! (or another anycable-rs node) as it answers this process's clients.
//!
//! The session id arrives as call metadata (`sid`) and reaches the handler with the connect
//! call, which puts it in the welcome message. A full job queue answers `RESOURCE_EXHAUSTED`
//! (clients retry after a short pause, as they do with AnyCable's Ruby server), a stopped
//! bridge `UNAVAILABLE`.
//!
//! Stopping is graceful: the listening socket closes at once (new connections are refused),
//! HTTP/2 `GOAWAY` tells clients to open no new calls on their connections, and calls already
//! running finish, for as long as the caller's timeout allows.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::runtime::Handle;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tonic::transport::server::TcpIncoming;
use tonic::{Request, Response, Status as GrpcStatus};

use super::bridge::{Bridge, JobQueue};
use super::controller::{Controller, RpcError};
use super::messages::{CommandMessage, ConnectionRequest, DisconnectRequest};
use super::proto::anycable::rpc_server::{Rpc, RpcServer as RpcService};
use super::proto::{anycable, META_SID};

/// Counters for logs and tests.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ServerStats {
    /// Calls received and not answered yet.
    pub in_flight: usize,
    /// Calls answered (or failed) since the server started.
    pub calls: usize,
}

/// A running gRPC server.
#[derive(Debug)]
pub struct RpcServer {
    addr: SocketAddr,
    /// Fired once, by `stop`: the server stops accepting and drains.
    stop: Mutex<Option<oneshot::Sender<()>>>,
    /// The serving task; awaited (or aborted) by `stop`.
    task: Mutex<Option<JoinHandle<()>>>,
    counters: Arc<Counters>,
}

#[derive(Debug, Default)]
struct Counters {
    in_flight: AtomicUsize,
    calls: AtomicUsize,
}

/// Counts one call while it runs.
struct InFlight(Arc<Counters>);

impl InFlight {
    fn new(counters: &Arc<Counters>) -> Self {
        counters.in_flight.fetch_add(1, Ordering::Relaxed);
        Self(Arc::clone(counters))
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::Relaxed);
        self.0.calls.fetch_add(1, Ordering::Relaxed);
    }
}

/// The service: every call is a job for the bridge's takers.
struct Service {
    bridge: Bridge,
    counters: Arc<Counters>,
}

fn sid_of<T>(request: &Request<T>) -> String {
    request.metadata().get(META_SID).and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned()
}

fn status_of(error: RpcError) -> GrpcStatus {
    match error {
        RpcError::Busy => GrpcStatus::resource_exhausted("every worker is busy and the job queue is full"),
        RpcError::Unavailable(why) => GrpcStatus::unavailable(why),
        RpcError::BadReply(why) => GrpcStatus::internal(why),
    }
}

#[tonic::async_trait]
impl Rpc for Service {
    async fn connect(
        &self,
        request: Request<anycable::ConnectionRequest>,
    ) -> Result<Response<anycable::ConnectionResponse>, GrpcStatus> {
        let _counted = InFlight::new(&self.counters);
        let sid = sid_of(&request);
        let request = ConnectionRequest { sid, ..request.into_inner().into() };
        let reply = self.bridge.connect(request).await.map_err(status_of)?;
        Ok(Response::new(reply.into()))
    }

    async fn command(
        &self,
        request: Request<anycable::CommandMessage>,
    ) -> Result<Response<anycable::CommandResponse>, GrpcStatus> {
        let _counted = InFlight::new(&self.counters);
        let sid = sid_of(&request);
        let request = CommandMessage { sid, ..request.into_inner().into() };
        let reply = self.bridge.command(request).await.map_err(status_of)?;
        Ok(Response::new(reply.into()))
    }

    async fn disconnect(
        &self,
        request: Request<anycable::DisconnectRequest>,
    ) -> Result<Response<anycable::DisconnectResponse>, GrpcStatus> {
        let _counted = InFlight::new(&self.counters);
        let sid = sid_of(&request);
        let request = DisconnectRequest { sid, ..request.into_inner().into() };
        let reply = self.bridge.disconnect(request).await.map_err(status_of)?;
        Ok(Response::new(reply.into()))
    }
}

impl RpcServer {
    /// Serves `anycable.RPC` on `listener` (already bound, so a taken port is reported by the
    /// caller's bind), answering through jobs on `queue`, on `runtime`.
    pub fn start(
        listener: std::net::TcpListener,
        queue: Arc<JobQueue>,
        runtime: &Handle,
    ) -> std::io::Result<Self> {
        let addr = listener.local_addr()?;
        listener.set_nonblocking(true)?;
        let listener = {
            let _inside = runtime.enter();
            tokio::net::TcpListener::from_std(listener)?
        };
        let counters = Arc::new(Counters::default());
        let service =
            RpcService::new(Service { bridge: Bridge::new(queue), counters: Arc::clone(&counters) });
        let (stop, stopped) = oneshot::channel::<()>();
        let incoming = TcpIncoming::from(listener).with_nodelay(Some(true));
        let task = runtime.spawn(async move {
            let served = tonic::transport::Server::builder()
                .http2_keepalive_interval(Some(Duration::from_secs(10)))
                .serve_with_incoming_shutdown(service, incoming, async {
                    let _ = stopped.await;
                })
                .await;
            if let Err(error) = served {
                tracing::error!(%error, "gRPC server failed");
            }
        });
        tracing::debug!(%addr, "gRPC server (anycable.RPC) listening"); // the host logs it too
        Ok(Self { addr, stop: Mutex::new(Some(stop)), task: Mutex::new(Some(task)), counters })
    }

    /// The address it listens on (the port chosen by the system when it was 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Calls running and calls answered so far.
    pub fn stats(&self) -> ServerStats {
        ServerStats {
            in_flight: self.counters.in_flight.load(Ordering::Relaxed),
            calls: self.counters.calls.load(Ordering::Relaxed),
        }
    }

    /// Stops accepting and lets running calls finish within `timeout` (connections still busy
    /// then are dropped). Returns whether everything finished in time; later calls return
    /// true at once.
    pub async fn stop(&self, timeout: Duration) -> bool {
        if let Some(stop) = self.stop.lock().unwrap_or_else(|p| p.into_inner()).take() {
            let _ = stop.send(());
        }
        let Some(mut task) = self.task.lock().unwrap_or_else(|p| p.into_inner()).take() else {
            return true;
        };
        match tokio::time::timeout(timeout, &mut task).await {
            Ok(_) => true,
            Err(_) => {
                let running = self.counters.in_flight.load(Ordering::Relaxed);
                tracing::warn!(running, ?timeout, "gRPC server: calls still running at the stop deadline");
                task.abort();
                false
            }
        }
    }
}
