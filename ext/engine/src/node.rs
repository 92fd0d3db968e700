//! The node: owns the hub, the live sessions and the controller, accepts hijacked sockets,
//! pings every client, delivers broadcasts, and shuts down gracefully.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{SystemTime, UNIX_EPOCH};

use tokio::runtime::Handle;
use tokio::sync::mpsc;
use tokio::time::MissedTickBehavior;
use tokio_tungstenite::tungstenite::Utf8Bytes;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::config::Config;
use crate::connection;
use crate::hub::{Hub, SessionId};
use crate::protocol::server;
use crate::rpc::{Controller, StringMap};
use crate::sessions::Sessions;

/// What the web server learnt from the upgrade request before handing the socket over.
#[derive(Debug, Clone, Default)]
pub struct UpgradeRequest {
    /// Full URL of the request (`http(s)://host/path?query`).
    pub url: String,
    /// The configured headers (lower-case names) and `REMOTE_ADDR`.
    pub headers: StringMap,
    /// Offered `Sec-WebSocket-Protocol` values.
    pub protocols: Vec<String>,
    /// `Sec-WebSocket-Key`.
    pub key: String,
}

/// Counters for logs, health checks and tests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stats {
    /// Connected (welcomed) sessions.
    pub clients: usize,
    /// Streams with at least one subscriber here.
    pub streams: usize,
}

/// One per process: everything the WebSocket side of anycable-rs holds.
pub struct Node {
    pub(crate) config: Config,
    pub(crate) hub: Hub,
    pub(crate) sessions: Sessions,
    pub(crate) controller: Arc<dyn Controller>,
    next_id: AtomicU64,
    /// Cancelled once when shutdown starts; every session watches it.
    pub(crate) shutdown: CancellationToken,
    /// Every session task and disconnect call, so shutdown can wait for them.
    pub(crate) tasks: TaskTracker,
    /// The runtime the node was started on, so `accept` works from any thread.
    runtime: OnceLock<Handle>,
    /// Broadcasts published from any thread, delivered by one task in publishing order.
    publications: OnceLock<mpsc::UnboundedSender<(String, String)>>,
}

impl std::fmt::Debug for Node {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Node").field("stats", &self.stats()).finish_non_exhaustive()
    }
}

impl Node {
    /// A node that reaches channel logic through `controller`.
    pub fn new(config: Config, controller: Arc<dyn Controller>) -> Arc<Self> {
        Arc::new(Self {
            config,
            hub: Hub::new(),
            sessions: Sessions::default(),
            controller,
            next_id: AtomicU64::new(1),
            shutdown: CancellationToken::new(),
            tasks: TaskTracker::new(),
            runtime: OnceLock::new(),
            publications: OnceLock::new(),
        })
    }

    /// Starts the node's background work (pings, the broadcast queue) on `runtime`.
    pub fn start(self: &Arc<Self>, runtime: Handle) {
        if self.runtime.set(runtime.clone()).is_err() {
            return;
        }
        let node = Arc::clone(self);
        runtime.spawn(async move { node.ping_forever().await });
        let (publish, mut publications) = mpsc::unbounded_channel::<(String, String)>();
        let _ = self.publications.set(publish);
        let node = Arc::clone(self);
        runtime.spawn(async move {
            while let Some((stream, data)) = publications.recv().await {
                node.broadcast(&stream, &data);
            }
        });
    }

    /// Serves a hijacked socket whose upgrade request was already read. Returns at once.
    ///
    /// # Panics
    /// When the node was not started.
    pub fn accept(self: &Arc<Self>, socket: std::net::TcpStream, request: UpgradeRequest) {
        let runtime = self.runtime.get().expect("Node::start must be called before accept");
        let node = Arc::clone(self);
        self.tasks.spawn_on(async move { connection::serve(node, socket, request).await }, runtime);
    }

    /// Delivers a broadcast to this process's subscribers of `stream` now, on this thread;
    /// returns how many sessions it reached. Never waits.
    pub fn broadcast(&self, stream: &str, data: &str) -> usize {
        self.hub.broadcast(stream, data)
    }

    /// Queues a broadcast for delivery by the node's broadcast task and returns at once;
    /// broadcasts are delivered in the order they were published. False before `start`.
    pub fn publish(&self, stream: String, data: String) -> bool {
        self.publications.get().is_some_and(|queue| queue.send((stream, data)).is_ok())
    }

    /// Sessions and streams right now.
    pub fn stats(&self) -> Stats {
        Stats { clients: self.sessions.len(), streams: self.hub.streams().streams_count() }
    }

    /// The node's settings.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Whether shutdown has started.
    pub fn is_shutting_down(&self) -> bool {
        self.shutdown.is_cancelled()
    }

    /// Graceful shutdown: every client gets `server_restart` and a close, every disconnect
    /// call is made. Returns whether all of it finished within `shutdown_timeout`.
    pub async fn shutdown(&self) -> bool {
        self.shutdown.cancel();
        self.tasks.close();
        tokio::time::timeout(self.config.shutdown_timeout, self.tasks.wait()).await.is_ok()
    }

    pub(crate) fn next_session_id(&self) -> SessionId {
        self.next_id.fetch_add(1, Ordering::Relaxed)
    }

    async fn ping_forever(&self) {
        let mut ticks = tokio::time::interval(self.config.ping_interval);
        ticks.set_missed_tick_behavior(MissedTickBehavior::Skip); // no burst of pings after a stall
        ticks.tick().await; // the first tick is immediate; the first ping comes one interval in
        loop {
            tokio::select! {
                _ = self.shutdown.cancelled() => return,
                _ = ticks.tick() => {}
            }
            let now = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
            let frame = Utf8Bytes::from(server::ping(now));
            self.sessions.for_each(|session| {
                session.send(frame.clone());
            });
        }
    }
}
