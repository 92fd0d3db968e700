//! The node: owns the hub, the live sessions and the controller, accepts hijacked sockets,
//! pings every client, delivers broadcasts, and shuts down gracefully.
//!
//! Broadcasts reach it from Ruby ([`Node::publish`], queued and delivered in order by one
//! task), as AnyCable publications ([`Node::publish_raw`], e.g. an HTTP body), and from Redis:
//! when configured, [`Node::start`] starts a [`Subscriber`] for which the node is the
//! [`Target`]. Delivery within the process never depends on Redis being up.
//!
//! Session ids (`sid`) are `<node prefix>-<SessionId>-<token>`: the prefix is random per node,
//! so a `meta.exclude_socket` published by any process only ever matches a session of this
//! node; the token is random per session, so that no client can guess another's sid (a sid
//! restores its session, `broker`).

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock, Weak};
use std::time::{SystemTime, UNIX_EPOCH};

use tokio::runtime::Handle;
use tokio::sync::mpsc;
use tokio::time::MissedTickBehavior;
use tokio_tungstenite::tungstenite::Utf8Bytes;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

mod bucket;
mod connection;
mod frame;
#[doc(hidden)]
pub mod fuzzing;
pub mod session;
pub mod sessions;
mod socket;
mod writer;

use crate::broadcast::action_cable::ChannelNames;
use crate::broadcast::publication::{self, Broadcast, Position, Publication, PublicationError};
use crate::broadcast::redis::{Settings, Status, Subscriber};
use crate::broadcast::router::{Recipients, Router};
use crate::broadcast::Target;
use crate::broker::Broker;
use crate::config::{BroadcastAdapter, Config};
use crate::hub::{Hub, SessionId, Subscriber as _};
use crate::identity::JwtIdentification;
use crate::logging::Clipped;
use crate::metrics::{self, statsd, Counter, Gauge, Metrics, Sample};
use crate::protocol::{server, DisconnectReason, Placed};
use crate::rpc::metered::Metered;
use crate::rpc::Controller;
use crate::secret::random_token;
use crate::streams::{SignedStreams, Verifier};
pub use connection::UpgradeRequest;

/// Length of a node's sid prefix (≈ 52 bits: two nodes never share one).
const SID_PREFIX_CHARS: usize = 10;
/// Length of a sid's per-session token (≈ 83 bits).
const SID_TOKEN_CHARS: usize = 16;

use connection::Host;
use session::{Close, SessionHandle};
use sessions::Sessions;

/// Counters for logs, health checks and tests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stats {
    /// Open WebSocket connections (accepted sockets, welcomed or not); what `max_connections`
    /// limits.
    pub connections: usize,
    /// Connected (welcomed) sessions.
    pub clients: usize,
    /// Streams with at least one subscriber here.
    pub streams: usize,
    /// Whether the Redis subscriber is connected; `None` when broadcasts do not use Redis.
    pub redis_connected: Option<bool>,
}

/// One per process: everything the WebSocket side of anycable-rs holds.
pub struct Node {
    config: Config,
    hub: Hub<SessionHandle>,
    sessions: Sessions,
    /// The controller `new` was given, counted by [`Metered`] (`rpc_call_total`, ...), behind
    /// [`SignedStreams`] and [`JwtIdentification`], whose answers are no calls.
    controller: Arc<dyn Controller>,
    /// The same controller, for its count of calls in flight.
    metered: Arc<Metered>,
    /// Counters with AnyCable's names; gauges are read at snapshot time (see `metrics`).
    metrics: Arc<Metrics>,
    next_id: AtomicU64,
    /// Open connections: one per accepted socket until its connection task ends.
    open: Arc<AtomicUsize>,
    /// Cancelled once when shutdown starts; every session watches it.
    shutdown: CancellationToken,
    /// Every session task and disconnect call, so shutdown can wait for them.
    tasks: TaskTracker,
    /// The runtime the node was started on, so `accept` works from any thread.
    runtime: OnceLock<Handle>,
    /// Broadcasts published from any thread, delivered by one task in publishing order.
    publications: OnceLock<mpsc::UnboundedSender<Publication>>,
    /// Random per node: the first part of every session id handed out here.
    sid_prefix: String,
    /// The Redis subscriber, when broadcasts come through Redis; set once, by `start`.
    redis: OnceLock<Subscriber>,
    /// Which Redis channels this node listens to and what their messages mean.
    router: Router,
    /// Stream history and kept sessions (`broker`); every broadcast goes through it.
    broker: Option<Broker>,
    /// Whispers and presence events for every node, published to Redis in order by one task
    /// (with `broker: redis`; set by `start`).
    spreading: OnceLock<mpsc::UnboundedSender<Broadcast>>,
}

impl std::fmt::Debug for Node {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Node").field("stats", &self.stats()).finish_non_exhaustive()
    }
}

impl Node {
    /// A node that reaches channel logic through `controller`. `turbo_key` is Turbo's signing
    /// key as the app has it (`Turbo.signed_stream_verifier_key`), when the app's
    /// `Turbo::StreamsChannel` is turbo-rails' own: with it (or `turbo_streams_secret`) and
    /// `turbo_streams` on, Turbo subscribes are answered here ([`SignedStreams`]).
    pub fn new(config: Config, controller: Arc<dyn Controller>, turbo_key: Option<&[u8]>) -> Arc<Self> {
        let action_cable = config.action_cable_redis.then(|| ChannelNames::new(&config.channel_prefix));
        let anycable =
            (config.broadcast_adapter == BroadcastAdapter::Redis).then(|| config.redis_channel.clone());
        let metrics = Arc::new(Metrics::default());
        let metered = Arc::new(Metered::new(controller, Arc::clone(&metrics)));
        let turbo = config.turbo_streams_secret.as_ref().map(|s| s.expose().as_bytes()).or(turbo_key);
        let turbo = turbo.filter(|_| config.turbo_streams).map(Verifier::new);
        let pubsub = config.streams_secret.as_ref().or(config.secret.as_ref());
        let pubsub = pubsub.map(|secret| Verifier::new(secret.expose().as_bytes()));
        let metered_controller = Arc::clone(&metered) as Arc<dyn Controller>;
        let streams = SignedStreams::new(metered_controller, turbo, pubsub, &config);
        let controller = JwtIdentification::new(Arc::new(streams), &config, Arc::clone(&metrics));
        let broker = Broker::new(&config);
        Arc::new(Self {
            broker,
            router: Router::new(anycable, action_cable),
            config,
            hub: Hub::new(),
            sessions: Sessions::default(),
            controller: Arc::new(controller),
            metered,
            metrics,
            next_id: AtomicU64::new(1),
            open: Arc::new(AtomicUsize::new(0)),
            shutdown: CancellationToken::new(),
            tasks: TaskTracker::new(),
            runtime: OnceLock::new(),
            publications: OnceLock::new(),
            sid_prefix: random_token(SID_PREFIX_CHARS),
            redis: OnceLock::new(),
            spreading: OnceLock::new(),
        })
    }

    /// Starts the node's background work (pings, the broadcast queue, the Redis subscriber
    /// when broadcasts come through Redis) on `runtime`. Shutdown stops all of it.
    pub fn start(self: &Arc<Self>, runtime: Handle) {
        if self.runtime.set(runtime.clone()).is_err() {
            return;
        }
        let node = Arc::clone(self);
        runtime.spawn(async move { node.ping_forever().await });
        let (publish, mut publications) = mpsc::unbounded_channel::<Publication>();
        let _ = self.publications.set(publish);
        let node = Arc::clone(self);
        runtime.spawn(async move {
            while let Some(publication) = publications.recv().await {
                node.apply(&publication);
            }
        });
        self.start_redis(&runtime);
        self.start_presence(&runtime);
        if let Some(settings) = statsd::Settings::from_config(&self.config) {
            // Weak: the writer must not keep a dropped node alive; it stops at shutdown.
            let node: Weak<Self> = Arc::downgrade(self);
            let snapshot = move || node.upgrade().map(|node| node.metrics()).unwrap_or_default();
            self.tasks.spawn_on(statsd::run(settings, snapshot, self.shutdown.clone()), &runtime);
        }
    }

    fn start_redis(self: &Arc<Self>, runtime: &Handle) {
        if !self.config.uses_redis() {
            return;
        }
        let Some(settings) = Settings::from_config(&self.config) else {
            let error = self.config.check().err().map(|e| e.to_string()).unwrap_or_default();
            return tracing::error!(%error, "no Redis broadcasts: only in-process broadcasts will arrive");
        };
        if let Some(names) = self.router.action_cable().cloned() {
            // Weak: the hub belongs to the node, the watcher must not keep the node alive.
            let node: Weak<Self> = Arc::downgrade(self);
            self.hub.watch_streams(move |stream| {
                if let Some(node) = node.upgrade() {
                    node.refresh_redis(names.stream(stream));
                }
            });
        }
        let target: Arc<dyn Target> = Arc::clone(self) as Arc<dyn Target>;
        let subscriber = Subscriber::start(settings, target, self.shutdown.clone(), runtime);
        let _ = self.redis.set(subscriber);
    }

    /// With a broker: the periodic presence work (`Broker::presence_tick`); with `broker:
    /// redis`, the task that publishes whispers and presence events to every node.
    fn start_presence(self: &Arc<Self>, runtime: &Handle) {
        let Some(broker) = &self.broker else { return };
        if let Some(store) = broker.redis() {
            let (spread, queue) = mpsc::unbounded_channel();
            let _ = self.spreading.set(spread);
            let (store, local) = (Arc::clone(store), self.publications.get().cloned());
            runtime.spawn(spread_forever(store, queue, local));
        }
        let node: Weak<Self> = Arc::downgrade(self);
        let (every, shutdown) = (broker.presence_interval(), self.shutdown.clone());
        runtime.spawn(async move {
            let mut ticks = tokio::time::interval(every);
            ticks.set_missed_tick_behavior(MissedTickBehavior::Skip);
            loop {
                tokio::select! {
                    _ = shutdown.cancelled() => return,
                    _ = ticks.tick() => {}
                }
                let Some(node) = node.upgrade() else { return };
                let Some(broker) = &node.broker else { return };
                match broker.presence_tick().await {
                    Ok(events) => {
                        for (stream, event) in events {
                            node.spread(Broadcast::transient(stream, event, None, true));
                        }
                    }
                    Err(error) => {
                        node.metrics.inc(Counter::BrokerErrors);
                        tracing::debug!(%error, "presence upkeep failed");
                    }
                }
            }
        });
    }

    /// Delivers a whisper or presence event to its stream's subscribers on every node: through
    /// Redis with `broker: redis`, else (or when that fails) in this process.
    fn spread(&self, broadcast: Broadcast) {
        let broadcast = match self.spreading.get() {
            Some(queue) => match queue.send(broadcast) {
                Ok(()) => return,
                Err(mpsc::error::SendError(broadcast)) => broadcast,
            },
            None => broadcast,
        };
        self.enqueue(Publication::Broadcast(broadcast));
    }

    fn refresh_redis(&self, channel: String) {
        if let Some(redis) = self.redis.get() {
            redis.refresh(channel);
        }
    }

    /// Serves a hijacked socket whose upgrade request was already read. Returns at once:
    /// true when the connection is served, false (the socket is dropped, nothing is written)
    /// when `max_connections` are already open; the caller then answers the request itself.
    ///
    /// # Panics
    /// When the node was not started.
    pub fn accept(self: &Arc<Self>, socket: std::net::TcpStream, request: UpgradeRequest) -> bool {
        let runtime = self.runtime.get().expect("Node::start must be called before accept");
        let Some(slot) = self.admit() else {
            return false;
        };
        let host: Arc<dyn Host> = Arc::clone(self) as Arc<dyn Host>;
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let sid = self.sid(id);
        self.tasks.spawn_on(
            async move {
                let _slot = slot;
                connection::serve(host, id, sid, socket, request).await;
            },
            runtime,
        );
        true
    }

    /// Takes a connection slot unless `max_connections` (0: no limit) are open: one atomic
    /// compare-and-swap, so concurrent upgrades never overshoot the limit.
    fn admit(&self) -> Option<Slot> {
        let max = self.config.max_connections;
        self.open
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| (max == 0 || n < max).then_some(n + 1))
            .ok()
            .map(|_| Slot(Arc::clone(&self.open)))
    }

    /// Open WebSocket connections right now (one atomic load).
    pub fn connections(&self) -> usize {
        self.open.load(Ordering::Acquire)
    }

    /// Delivers a broadcast to this process's subscribers of `stream` now, on this thread,
    /// except the session `exclude`; counts it and returns how many sessions it reached.
    /// Never waits. (What [`Self::publish`] queues is delivered this way.)
    /// A broadcast bigger than `max_outgoing_size` is refused (logged, counted): no client could
    /// take it within its budget.
    pub fn deliver(&self, stream: &str, data: &str, exclude: Option<SessionId>) -> usize {
        self.deliver_as(stream, data, exclude, false, None, false)
    }

    /// [`Self::deliver`]; a `transient` broadcast is not placed in the stream's history (it
    /// carries no position and a client catching up never gets it). Under `broker: redis`
    /// only broadcasts that come with their `position` are placed; others are live only. A
    /// `presence` event is framed with `"type":"presence"` and never placed.
    fn deliver_as(
        &self,
        stream: &str,
        data: &str,
        exclude: Option<SessionId>,
        transient: bool,
        position: Option<&Position>,
        presence: bool,
    ) -> usize {
        self.metrics.inc(Counter::BroadcastMsg);
        if data.len() > self.config.max_outgoing_size {
            self.metrics.inc(Counter::BroadcastRefused);
            let (stream, size, max) = (Clipped(stream), data.len(), self.config.max_outgoing_size);
            tracing::warn!(%stream, size, max_outgoing_size = max, "broadcast refused: bigger than max_outgoing_size");
            return 0;
        }
        let deliver_placed = |data: &_, at: Placed<'_>| self.hub.deliver_placed(data, at, exclude);
        let reached = match (&self.broker, position) {
            _ if presence => self.hub.deliver_typed(stream, "presence", data, exclude),
            (Some(_), _) if transient => self.hub.deliver(stream, data, exclude),
            // Placed and delivered under the stream's history lock (broker::Memory::publish).
            (Some(broker), _) if broker.redis().is_none() => {
                broker.memory().publish(stream, data, deliver_placed)
            }
            (Some(broker), Some(at)) => {
                broker.memory().place(stream, &at.epoch, at.offset, data, deliver_placed)
            }
            (Some(_), None) => {
                self.metrics.inc(Counter::BroadcastUnplaced);
                self.hub.deliver(stream, data, exclude)
            }
            (None, _) => self.hub.deliver(stream, data, exclude),
        };
        self.metrics.add(Counter::ServerMsg, reached as u64);
        reached
    }

    /// Queues a broadcast for delivery by the node's broadcast task and returns at once;
    /// broadcasts are delivered in the order they were published. `exclude_sid` names a
    /// session (its `sid`) that must not receive it; a sid of another node matches nobody
    /// here. False before `start`.
    pub fn publish(&self, stream: String, data: String, exclude_sid: Option<String>) -> bool {
        self.enqueue(Publication::Broadcast(Broadcast {
            stream,
            data,
            exclude_socket: exclude_sid,
            transient: false,
            position: None,
            presence: false,
        }))
    }

    /// Parses an AnyCable publication body (one publication, a batch, or a remote disconnect
    /// command; see [`publication`]) and queues each for delivery, in order, with the
    /// broadcasts of [`Self::publish`]. Returns how many were queued; nothing is queued when
    /// the body is not valid.
    pub fn publish_raw(&self, body: &[u8]) -> Result<usize, PublicationError> {
        let publications = publication::parse(body)?;
        let count = publications.len();
        for publication in publications {
            self.enqueue(publication);
        }
        Ok(count)
    }

    fn enqueue(&self, publication: Publication) -> bool {
        self.publications.get().is_some_and(|queue| queue.send(publication).is_ok())
    }

    /// Applies a publication now, on this thread: delivers a broadcast (honouring
    /// `exclude_socket`) or closes the sessions of a remote disconnect. Returns how many
    /// sessions it reached. Never waits.
    pub fn apply(&self, publication: &Publication) -> usize {
        match publication {
            Publication::Broadcast(broadcast) => {
                let exclude = broadcast.exclude_socket.as_deref().and_then(|sid| self.session_id(sid));
                let (transient, position) = (broadcast.transient, broadcast.position.as_ref());
                self.deliver_as(
                    &broadcast.stream,
                    &broadcast.data,
                    exclude,
                    transient,
                    position,
                    broadcast.presence,
                )
            }
            Publication::Disconnect(disconnect) => {
                self.disconnect_remote(&disconnect.identifiers, disconnect.reconnect)
            }
        }
    }

    /// Closes every session here whose connection identifiers JSON equals `identifiers` (byte
    /// for byte, as anycable-go compares) with `{"type":"disconnect","reason":"remote",
    /// "reconnect":<reconnect>}`. Returns how many it closed. Never waits.
    pub fn disconnect_remote(&self, identifiers: &str, reconnect: bool) -> usize {
        let close = Close::Disconnect(DisconnectReason::remote(reconnect));
        let sessions = self.sessions.with_identifiers(identifiers);
        for session in &sessions {
            session.close(close);
        }
        let closed = sessions.len();
        if closed > 0 {
            tracing::info!(identifiers, closed, reconnect, "remote disconnect");
        } else {
            tracing::debug!(identifiers, "remote disconnect: no such session here");
        }
        closed
    }

    /// A new session id (`sid`) for session `id` of this node, as clients and publishers see
    /// it (each call makes another token).
    pub fn sid(&self, id: SessionId) -> String {
        format!("{}-{id}-{}", self.sid_prefix, random_token(SID_TOKEN_CHARS))
    }

    /// The session of this node that `sid` names, if it is one of this node's.
    pub fn session_id(&self, sid: &str) -> Option<SessionId> {
        let rest = sid.strip_prefix(self.sid_prefix.as_str())?.strip_prefix('-')?;
        rest.split_once('-')?.0.parse().ok()
    }

    /// Sessions and streams right now.
    pub fn stats(&self) -> Stats {
        Stats {
            connections: self.connections(),
            clients: self.sessions.len(),
            streams: self.hub.streams().streams_count(),
            redis_connected: self.redis.get().map(|redis| redis.status().connected()),
        }
    }

    /// Every metric with AnyCable's name: the counters, and the gauges read now.
    pub fn metrics(&self) -> Vec<Sample> {
        self.metrics.snapshot(|gauge| match gauge {
            Gauge::ClientsNum => self.sessions.len() as u64,
            Gauge::ClientsUniqNum => self.sessions.unique_identifiers() as u64,
            Gauge::BroadcastStreamsNum => self.hub.streams().streams_count() as u64,
            Gauge::RpcPendingNum => self.metered.pending() as u64,
            Gauge::DisconnectQueueSize => self.controller.pending_disconnects() as u64,
        })
    }

    /// The metrics in Prometheus' text format ([`metrics::prometheus`]), with `metrics_tags`
    /// as labels.
    pub fn prometheus(&self) -> String {
        metrics::prometheus::render(&self.metrics(), &self.config.metrics_tags)
    }

    /// The Redis subscriber's status, when broadcasts come through Redis.
    pub fn redis_status(&self) -> Option<&Status> {
        self.redis.get().map(Subscriber::status)
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
        // Every session's disconnect call comes now: a paced disconnect queue stops pacing.
        self.controller.shutdown();
        self.tasks.close();
        tokio::time::timeout(self.config.shutdown_timeout, self.tasks.wait()).await.is_ok()
    }

    async fn ping_forever(&self) {
        let mut ticks = tokio::time::interval(self.config.ping_interval);
        ticks.set_missed_tick_behavior(MissedTickBehavior::Skip); // no burst of pings after a stall
        ticks.tick().await; // the first tick is immediate; the first ping comes one interval in
        let mut backlog = BacklogWatch::default();
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
            self.watch_disconnect_backlog(&mut backlog);
            if let Some(broker) = &self.broker {
                broker.memory().expire();
            }
        }
    }

    /// Logs when the disconnect backlog passes `disconnect_backlog_warning` and when it is back
    /// under half of it (checked with every ping).
    fn watch_disconnect_backlog(&self, watch: &mut BacklogWatch) {
        let (backlog, limit) =
            (self.controller.pending_disconnects(), self.config.disconnect_backlog_warning);
        match watch.check(backlog, limit) {
            Some(true) => tracing::warn!(backlog, limit, "disconnect calls are piling up (disconnect_queue_size over disconnect_backlog_warning): channel code is slower than clients leave"),
            Some(false) => tracing::info!(backlog, "disconnect backlog is back under half of disconnect_backlog_warning"),
            None => {}
        }
    }
}

/// Whether the disconnect backlog was last reported over its warning threshold.
#[derive(Debug, Default)]
struct BacklogWatch {
    over: bool,
}

impl BacklogWatch {
    /// `Some(true)` when `backlog` just passed `limit`, `Some(false)` when it just fell under
    /// half of it after that, `None` otherwise: one line per crossing, not one per ping.
    fn check(&mut self, backlog: usize, limit: usize) -> Option<bool> {
        if !self.over && backlog > limit {
            self.over = true;
            Some(true)
        } else if self.over && backlog < limit / 2 {
            self.over = false;
            Some(false)
        } else {
            None
        }
    }
}

impl Target for Node {
    fn channels(&self) -> Vec<String> {
        self.router.channels(self)
    }

    fn wants(&self, channel: &str) -> bool {
        self.router.wants(self, channel)
    }

    fn message(&self, channel: &str, payload: &[u8]) {
        self.router.message(self, channel, payload);
    }
}

impl Recipients for Node {
    fn apply(&self, publication: &Publication) -> usize {
        Node::apply(self, publication)
    }

    fn deliver(&self, stream: &str, data: &str) -> usize {
        Node::deliver(self, stream, data, None)
    }

    fn streams_here(&self, stream: &str) -> bool {
        self.hub.streams().contains(stream)
    }

    fn stream_names(&self) -> Vec<String> {
        self.hub.streams().stream_names()
    }

    fn disconnect(&self, sessions: &[SessionId], reconnect: bool) {
        let close = Close::Disconnect(DisconnectReason::remote(reconnect));
        for id in sessions {
            if let Some(session) = self.sessions.get(*id) {
                session.close(close);
            }
        }
    }
}

impl Host for Node {
    fn config(&self) -> &Config {
        &self.config
    }

    fn hub(&self) -> &Hub<SessionHandle> {
        &self.hub
    }

    fn controller(&self) -> &dyn Controller {
        self.controller.as_ref()
    }

    fn broker(&self) -> Option<&Broker> {
        self.broker.as_ref()
    }

    fn counters(&self) -> &Metrics {
        &self.metrics
    }

    fn tasks(&self) -> &TaskTracker {
        &self.tasks
    }

    fn shutdown_signal(&self) -> &CancellationToken {
        &self.shutdown
    }

    fn receiving(&self) -> bool {
        self.redis.get().is_none_or(|redis| redis.status().connected())
    }

    /// The session becomes live (pings, remote disconnects) and, with the Action Cable Redis
    /// format, its connection's internal channel is listened to.
    fn welcomed(&self, session: &SessionHandle, identifiers: &Arc<str>) {
        self.sessions.insert(session.clone(), Arc::clone(identifiers));
        if let Some(channel) = self.router.joined(session.id, identifiers) {
            self.refresh_redis(channel);
        }
    }

    fn left(&self, session: SessionId, identifiers: &str) {
        self.sessions.remove(session);
        if let Some(channel) = self.router.left(session, identifiers) {
            self.refresh_redis(channel);
        }
    }

    fn whisper(&self, stream: String, data: String, sid: String) {
        self.spread(Broadcast::transient(stream, data, Some(sid), false));
    }

    fn presence_events(&self, stream: &str, events: Vec<String>) {
        for event in events {
            self.spread(Broadcast::transient(stream.to_owned(), event, None, true));
        }
    }
}

/// Most broadcasts [`spread_forever`] publishes as one batch.
const SPREAD_BATCH: usize = 256;

/// Publishes what [`Node::spread`] queues to Redis, in order, in batches of what has queued
/// meanwhile; a batch Redis refuses is delivered through `local` instead (this process only).
async fn spread_forever(
    store: Arc<crate::broker::Store>,
    mut queue: mpsc::UnboundedReceiver<Broadcast>,
    local: Option<mpsc::UnboundedSender<Publication>>,
) {
    let mut batch = Vec::with_capacity(SPREAD_BATCH);
    while queue.recv_many(&mut batch, SPREAD_BATCH).await > 0 {
        let json: Vec<String> = batch.iter().map(Broadcast::to_json).collect();
        if let Err(error) = store.publish(format!("[{}]", json.join(","))).await {
            tracing::debug!(%error, count = batch.len(), "whispers and presence events not published to Redis: delivered in this process only");
            for broadcast in batch.drain(..) {
                if let Some(local) = &local {
                    let _ = local.send(Publication::Broadcast(broadcast));
                }
            }
        }
        batch.clear();
    }
}

/// One open connection, counted until its connection task ends (however it ends).
struct Slot(Arc<AtomicUsize>);

impl Drop for Slot {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

#[cfg(test)]
mod tests {
    use super::BacklogWatch;

    #[test]
    fn the_disconnect_backlog_is_reported_once_per_crossing() {
        let mut watch = BacklogWatch::default();
        let seen: Vec<Option<bool>> =
            [10, 101, 500, 60, 49, 30, 150].into_iter().map(|backlog| watch.check(backlog, 100)).collect();
        assert_eq!(seen, [None, Some(true), None, None, Some(false), None, Some(true)]);
    }
}
