//! One client connection from handshake to goodbye: the `Connect` call, the command loop
//! (docs/architecture.md §6.2, applied in its order), and the cleanup that ends with a `Disconnect` call.
//!
//! This task owns the connection's state (identifiers, cstate, subscriptions with their
//! istate and streams); nothing else touches it, so it needs no lock. Commands of one client
//! are handled one after the other, as clients expect (subscribe before message).
//!
//! With the extended protocol (`actioncable-v1-ext-json`) and a broker, a client that comes
//! back with its previous `sid` gets its session restored instead of a `Connect` call, and a
//! subscription that asks for history joins its streams only as it is answered (under the
//! broker's stream lock, `broker::Memory::catch_up`), so it gets what it missed and then what
//! follows, in order and once each. Such clients must also answer pings (`pong_timeout`).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

use futures_util::future::OptionFuture;
use futures_util::{SinkExt, StreamExt};
use tokio::io::AsyncRead;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::error::{CapacityError, Error as WsError};
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::{Role, WebSocketConfig};
use tokio_tungstenite::tungstenite::{Message, Utf8Bytes};
use tokio_tungstenite::WebSocketStream;

use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::broker::{Broker, CachedSession, CachedSubscription, Since};
use crate::config::{Config, DisconnectMode};
use crate::handshake;
use crate::hub::{Hub, SessionId, Subscribed, Subscriber, Unsubscribed};
use crate::logging::Clipped;
use crate::metrics::{Counter, Metrics};
use crate::protocol::{
    query_param, server, BroadcastData, ClientCommand, Command, DisconnectReason, HistoryRequest, Placed,
    PresenceJoin, SUBPROTOCOL_EXT,
};
use crate::rpc::{
    merge_state, CommandMessage, CommandResponse, ConnectionRequest, Controller, DisconnectRequest, Env,
    RpcError, Status, StringMap,
};
use crate::streams::WHISPER_STREAM;

mod presence;

use super::bucket::Bucket;
use super::session::{Close, Control, SessionHandle};
use super::socket::{self, Incoming};
use super::writer;

/// What the web server learnt from the upgrade request before handing the socket over.
#[derive(Debug, Clone, Default)]
pub struct UpgradeRequest {
    /// Full URL of the request (`http(s)://host/path?query`).
    pub url: String,
    /// The request headers `connect` sees (lower-case names) and `REMOTE_ADDR`: every header
    /// when the channels run in-process, the configured `headers` for a remote RPC server.
    /// After connect the connection keeps only the configured ones and `REMOTE_ADDR`.
    pub headers: StringMap,
    /// Offered `Sec-WebSocket-Protocol` values.
    pub protocols: Vec<String>,
    /// `Sec-WebSocket-Key`.
    pub key: String,
}

/// What a connection needs from its node (the node implements it): the node's parts it works
/// with, and the two moments the node must know of.
pub(crate) trait Host: Send + Sync + 'static {
    /// The node's settings.
    fn config(&self) -> &Config;
    /// Streams and their subscribers.
    fn hub(&self) -> &Hub<SessionHandle>;
    /// Where `Connect`, `Command` and `Disconnect` calls go.
    fn controller(&self) -> &dyn Controller;
    /// Stream history and kept sessions, unless `broker` is `none`.
    fn broker(&self) -> Option<&Broker>;
    /// The node's counters.
    fn counters(&self) -> &Metrics;
    /// Tasks that shutdown waits for (the writer, the `Disconnect` call).
    fn tasks(&self) -> &TaskTracker;
    /// Cancelled when shutdown starts.
    fn shutdown_signal(&self) -> &CancellationToken;
    /// Whether broadcasts of other processes reach this node now: its Redis subscriber is
    /// connected, or it has none.
    fn receiving(&self) -> bool;
    /// The session was welcomed: it is live from now on.
    fn welcomed(&self, session: &SessionHandle, identifiers: &Arc<str>);
    /// The welcomed session ended.
    fn left(&self, session: SessionId, identifiers: &str);
    /// Delivers a whisper (`data`, JSON text) to the subscribers of `stream` but session
    /// `sid`, live only: never kept in history.
    fn whisper(&self, stream: String, data: String, sid: String);
    /// Delivers presence events (JSON) to the subscribers of `stream`, live only.
    fn presence_events(&self, stream: &str, events: Vec<String>);
}

/// Bytes read from the socket at a time. Client frames are small commands, and this buffer is
/// reserved for every idle connection: 1 KiB instead of 4 KiB took ΔRSS per idle subscribed
/// connection at 10k clients from 11.3 to 8.3 KiB (bench/compare).
const READ_BUFFER: usize = 1024;

/// Longest wait for a connect or command reply; past it the client is told to come back.
const RPC_DEADLINE: Duration = Duration::from_secs(30);

/// How long the streams of a restored session wait for the client's `history` request before
/// they go live without one. Extended clients send it at once, one round trip after the
/// restored welcome; until then broadcasts are kept by the broker, not lost to them.
const RESTORED_JOIN_WAIT: Duration = Duration::from_secs(5);

/// Longest wait of a history request with `broker: redis` for the node's Redis subscriber (a
/// node starts it with its first client): what Redis places before the subscriber listens is
/// read from Redis, what it places after arrives live; a request answered in between would miss
/// what was placed then.
const SUBSCRIBER_WAIT: Duration = Duration::from_secs(2);

/// Query parameter and header with which an extended client names the session to restore.
const RESTORE_SID_PARAM: &str = "sid";
const RESTORE_SID_HEADER: &str = "x-anycable-restore-sid";

/// The receiving half of a session's socket, as WebSocket messages.
type Source<R> = WebSocketStream<Incoming<R>>;

/// What the WebSocket library reads at a time: a message or why there is none.
type Frame = Result<Message, WsError>;

/// One channel subscription of this connection.
#[derive(Debug, Default)]
struct Subscription {
    /// The identifier shared with the hub's registry.
    identifier: Arc<str>,
    /// Streams this subscription listens to.
    streams: Vec<String>,
    /// Streams it will listen to once the history it asked for is answered (or, restored,
    /// once [`RESTORED_JOIN_WAIT`] passed): not in the hub yet.
    waiting: Vec<String>,
    /// Restored streams that went live without history ([`RESTORED_JOIN_WAIT`]), with the epoch
    /// and offset of the last broadcast before: a history request that comes later replays up
    /// to there only, as what followed came live.
    went_live: Vec<(String, Arc<str>, u64)>,
    /// Channel state.
    istate: StringMap,
    /// Whom it is present as in its presence stream (istate `$p`).
    presence: Option<PresenceJoin>,
}

/// The state of one connected client.
struct Connection {
    node: Arc<dyn Host>,
    handle: SessionHandle,
    control: Arc<Control>,
    env: Env,
    /// The sid: the session id clients and RPC servers know (`Node::sid`), sent with every
    /// call; `handle.id` is the session's id within the process.
    sid: String,
    /// From `Connect`; shared with the node's live-session list, never copied.
    identifiers: Arc<str>,
    subscriptions: HashMap<Arc<str>, Subscription>,
    /// Malformed or over-limit commands so far (`max_invalid_commands`).
    invalid_commands: usize,
    /// Whether the client speaks AnyCable's extended protocol.
    extended: bool,
    /// When the client last sent anything (for `pong_timeout`).
    heard: Instant,
    /// When the waiting streams of a restored session join without history.
    join_by: Option<Instant>,
    /// Whether the app answered any of its calls, so it gets a `Disconnect` call
    /// (`disconnect_mode: auto`).
    seen_by_app: bool,
    /// Whispers it may send now (`max_whispers_per_second`).
    whispers: Bucket,
}

pub(super) fn ws_config(config: &Config) -> WebSocketConfig {
    let max = config.max_message_size;
    // The library only writes its pong and close replies (into the session's queue, see
    // `socket`); messages go out through the writer.
    WebSocketConfig::default()
        .read_buffer_size(READ_BUFFER)
        .write_buffer_size(0)
        .max_message_size(Some(max))
        .max_frame_size(Some(max))
}

/// Serves one hijacked socket as session `id` (`sid` to clients) until it closes.
pub(crate) async fn serve(
    node: Arc<dyn Host>,
    id: SessionId,
    sid: String,
    socket: std::net::TcpStream,
    request: UpgradeRequest,
) {
    if node.shutdown_signal().is_cancelled() {
        return; // dropping the socket closes it; the client retries elsewhere or later
    }
    let mut stream = match socket.set_nonblocking(true).and_then(|()| TcpStream::from_std(socket)) {
        Ok(stream) => stream,
        Err(error) => return tracing::warn!(%error, "cannot adopt hijacked socket"),
    };
    let config = node.config();
    socket::tune(&stream, config.write_timeout);
    let protocol = handshake::negotiate(&request.protocols);
    if let Err(error) = handshake::accept(&mut stream, &request.key, protocol).await {
        return tracing::debug!(%error, "handshake write failed");
    }
    let (read, write) = stream.into_split();
    let (handle, control) = SessionHandle::new(id, config.max_outgoing_size);
    let (writer_control, write_timeout) = (Arc::clone(&control), config.write_timeout);
    node.tasks().spawn(async move { writer::run(write, &writer_control, write_timeout).await });
    let incoming = Incoming::new(read, Arc::clone(&control));
    let source = WebSocketStream::from_raw_socket(incoming, Role::Server, Some(ws_config(config))).await;
    let env = Env { url: request.url, headers: request.headers, ..Env::default() };
    let extended = protocol == Some(SUBPROTOCOL_EXT);
    let welcomed = live(Arc::clone(&node), handle, &control, env, sid.clone(), extended, source).await;
    let requested = control.requested();
    // Lets the writer finish (a no-op when a close was already requested).
    control.close(Close::Quiet);
    if requested == Some(Close::Disconnect(DisconnectReason::TooSlow)) {
        node.counters().inc(Counter::DisconnectedSlowClients);
        // Logged here rather than where the queue overflowed: that is the broadcast's path.
        tracing::info!(%sid, "client too slow (over max_outgoing_size unwritten, or nothing taken for write_timeout), disconnected");
    }
    if welcomed {
        tracing::debug!(%sid, reason = %close_reason(requested), "disconnected");
    }
}

/// The session's life after the handshake: `Connect` (or a restore), then (when welcomed) the
/// command loop until the client leaves, then the cleanup that queues `Disconnect`. True when
/// it was welcomed. `source` is the socket's receiving half, or bytes in memory
/// (`super::fuzzing`); `extended`: the client speaks `actioncable-v1-ext-json`.
pub(super) async fn live<R: AsyncRead + Unpin>(
    node: Arc<dyn Host>,
    handle: SessionHandle,
    control: &Arc<Control>,
    env: Env,
    sid: String,
    extended: bool,
    mut source: Source<R>,
) -> bool {
    let mut connection = Connection {
        whispers: Bucket::new(node.config().max_whispers_per_second),
        node,
        sid,
        handle,
        control: Arc::clone(control),
        env,
        identifiers: Arc::from(""),
        subscriptions: HashMap::new(),
        invalid_commands: 0,
        extended,
        heard: Instant::now(),
        join_by: None,
        seen_by_app: false,
    };
    let shutdown = connection.node.shutdown_signal().clone();
    let mut early = None;
    let welcomed = if let Some(cached) = connection.restorable().await {
        connection.restore(cached);
        connection.rejoin_presence().await;
        true
    } else {
        // Connect is raced against the socket: a client that leaves meanwhile drops the call
        // (a queued bridge job is then skipped, `rpc_abandoned`; one already running still
        // gets its disconnect, `rpc::bridge::Job::reply`). One frame sent before the welcome
        // is kept for the command loop; the socket is not read further until then.
        let connect = connection.connect();
        tokio::pin!(connect);
        loop {
            tokio::select! {
                welcomed = &mut connect => break welcomed,
                _ = shutdown.cancelled() => {
                    control.close(Close::Disconnect(DisconnectReason::ServerRestart));
                    break false;
                }
                frame = source.next(), if early.is_none() => match frame {
                    Some(Ok(Message::Ping(_) | Message::Pong(_))) => {}
                    Some(Ok(Message::Close(_)) | Err(WsError::Io(_))) | None => {
                        tracing::debug!("client left before its connect call returned");
                        control.close(Close::ClosedByClient);
                        break false;
                    }
                    Some(other) => early = Some(other),
                },
            }
        }
    };
    if welcomed {
        connection.node.welcomed(&connection.handle, &connection.identifiers);
        connection.read(source, early).await;
        connection.node.left(connection.handle.id, &connection.identifiers);
        connection.finish();
    }
    welcomed
}

/// Why a welcomed session ended, for its `disconnected` line.
fn close_reason(requested: Option<Close>) -> &'static str {
    match requested {
        Some(Close::Disconnect(reason)) => reason.as_str(),
        Some(Close::Quiet) => "closed",
        Some(Close::Restart) => "server_restart",
        Some(Close::Protocol(..)) => "protocol_error",
        Some(Close::ClosedByClient) => "client_closed",
        None => "socket_error",
    }
}

impl Connection {
    fn id(&self) -> SessionId {
        self.handle.id
    }

    /// The kept session the client asked to restore, when it may: extended protocol, a
    /// broker that keeps sessions, and a `sid` it knows.
    async fn restorable(&self) -> Option<CachedSession> {
        let broker = self.node.broker().filter(|broker| self.extended && broker.keeps_sessions())?;
        let sid = self
            .env
            .headers
            .get(RESTORE_SID_HEADER)
            .cloned()
            .or_else(|| query_param(&self.env.url, RESTORE_SID_PARAM))?;
        match broker.restore_session(&sid).await {
            Ok(Some(cached)) => Some(cached),
            Ok(None) => {
                tracing::debug!(sid = %self.sid, previous = %sid, "no session to restore: connecting");
                None
            }
            Err(error) => {
                self.node.counters().inc(Counter::BrokerErrors);
                tracing::debug!(sid = %self.sid, previous = %sid, %error, "session not restored: connecting");
                None
            }
        }
    }

    /// Takes a kept session over: its identifiers, state and subscriptions, without calling
    /// the app. Its streams join when the client's history request is answered.
    fn restore(&mut self, cached: CachedSession) {
        self.env.headers = kept_headers(&self.env.headers, &self.node.config().headers);
        self.identifiers = Arc::from(cached.identifiers);
        self.env.cstate = cached.cstate;
        self.seen_by_app = cached.disconnectable;
        for kept in cached.subscriptions {
            let identifier: Arc<str> = Arc::from(kept.identifier);
            let subscription = Subscription {
                identifier: Arc::clone(&identifier),
                waiting: kept.streams,
                istate: kept.istate,
                presence: kept.presence,
                ..Subscription::default()
            };
            self.subscriptions.insert(identifier, subscription);
        }
        self.join_by = Some(Instant::now() + RESTORED_JOIN_WAIT);
        let welcome = server::welcome_restored(&self.sid, self.subscriptions.keys().map(|id| &**id));
        self.transmit(vec![welcome]);
        tracing::debug!(sid = %self.sid, identifiers = %self.identifiers, subscriptions = self.subscriptions.len(), "session restored");
    }

    fn transmit(&self, transmissions: Vec<String>) {
        self.node.counters().add(Counter::ServerMsg, transmissions.len() as u64);
        for frame in transmissions {
            self.handle.send(Utf8Bytes::from(frame));
        }
    }

    /// The `Connect` call; true when the client was welcomed.
    async fn connect(&mut self) -> bool {
        // Connect gets every header it was given; later commands only the configured ones.
        let env = std::mem::take(&mut self.env);
        self.env.url.clone_from(&env.url);
        self.env.headers = kept_headers(&env.headers, &self.node.config().headers);
        let request = ConnectionRequest { env, sid: self.sid.clone() };
        let reply = tokio::time::timeout(RPC_DEADLINE, self.node.controller().connect(request)).await;
        match reply.unwrap_or(Err(RpcError::Unavailable("no reply within the deadline".into()))) {
            Ok(reply) if reply.status == Status::Success => {
                self.seen_by_app |= reply.disconnect_interest >= 0;
                self.identifiers = Arc::from(reply.identifiers);
                merge_state(&mut self.env.cstate, reply.env.cstate);
                self.transmit(reply.transmissions);
                tracing::debug!(sid = %self.sid, identifiers = %self.identifiers, "connected");
                true
            }
            Ok(reply) if reply.status == Status::Failure => {
                tracing::info!(sid = %self.sid, "connection rejected");
                self.transmit(reply.transmissions);
                self.control.close(Close::Quiet);
                false
            }
            Ok(reply) => {
                tracing::error!(sid = %self.sid, error = %reply.error_msg, "connect failed");
                self.control.close(Close::Disconnect(DisconnectReason::ServerError));
                false
            }
            Err(error) => {
                tracing::warn!(sid = %self.sid, %error, "connect call failed");
                self.control.close(Close::Disconnect(DisconnectReason::ServerError));
                false
            }
        }
    }

    /// How the session is closed when the server shuts down: with `server_restart`, or, when a
    /// later process can restore it (an extended client, sessions kept in Redis), as
    /// [`Close::Restart`].
    fn restart(&self) -> Close {
        let kept_elsewhere = self.node.broker().is_some_and(|b| b.redis().is_some() && b.keeps_sessions());
        if self.extended && kept_elsewhere {
            Close::Restart
        } else {
            Close::Disconnect(DisconnectReason::ServerRestart)
        }
    }

    /// Reads client frames, starting with `early` (sent before the welcome), until the client
    /// leaves, a close is requested or shutdown starts.
    async fn read<R: AsyncRead + Unpin>(&mut self, mut source: Source<R>, mut early: Option<Frame>) {
        let control = Arc::clone(&self.control);
        let shutdown = self.node.shutdown_signal().clone();
        let config = self.node.config();
        // An extended client answers every ping: silence for a ping interval and the timeout
        // means it is gone (or stuck).
        let silence = (self.extended && !config.pong_timeout.is_zero())
            .then(|| config.ping_interval + config.pong_timeout);
        loop {
            let frame = if let Some(frame) = early.take() {
                Some(frame)
            } else {
                let join_by = self.join_by;
                let deaf_at = silence.map(|silence| self.heard + silence);
                // A frame already read goes before the timers: a history request that waited in
                // the socket while the node was busy is answered, not overtaken by `join_by`.
                tokio::select! {
                    biased;
                    _ = control.reader_closed() => return,
                    _ = shutdown.cancelled() => {
                        control.close(self.restart());
                        return;
                    }
                    frame = source.next() => frame,
                    () = sleep_until(join_by), if join_by.is_some() => {
                        self.join_waiting();
                        continue;
                    }
                    () = sleep_until(deaf_at), if deaf_at.is_some() => {
                        tracing::info!(sid = %self.sid, "no pong within pong_timeout, disconnected");
                        control.close(Close::Disconnect(DisconnectReason::NoPong));
                        return;
                    }
                }
            };
            self.heard = Instant::now();
            match frame {
                Some(Ok(Message::Text(text))) => {
                    self.node.counters().inc(Counter::ClientMsg);
                    self.command(&text).await;
                }
                Some(Ok(Message::Binary(_))) => {
                    tracing::info!(sid = %self.sid, "binary frame refused");
                    control.close(Close::Protocol(CloseCode::Unsupported, "binary frames are not supported"));
                }
                Some(Ok(Message::Close(_))) | None => {
                    // Hands the library's close reply to the writer before it is told to stop.
                    let _ = source.flush().await;
                    control.close(Close::ClosedByClient);
                    return;
                }
                Some(Ok(_)) => {} // ping/pong: the library answers pings itself
                Some(Err(WsError::Capacity(CapacityError::MessageTooLong { size, max_size }))) => {
                    tracing::info!(sid = %self.sid, size, max_size, "frame over max_message_size");
                    control.close(Close::Protocol(CloseCode::Size, "message too big"));
                }
                Some(Err(WsError::Utf8(_))) => {
                    tracing::info!(sid = %self.sid, "text frame with invalid UTF-8");
                    control.close(Close::Protocol(CloseCode::Invalid, "invalid UTF-8"));
                }
                Some(Err(error)) => {
                    tracing::debug!(sid = %self.sid, %error, "socket error");
                    return;
                }
            }
        }
    }

    /// One client command, checked, sent to the controller, and its reply applied.
    async fn command(&mut self, frame: &str) {
        let command = match ClientCommand::parse(frame) {
            Ok(command) => command,
            Err(error) => {
                tracing::warn!(sid = %self.sid, %error, "command ignored");
                return self.invalid_command();
            }
        };
        if command.command == Command::Pong {
            return; // being heard was the point
        }
        let subscribed = self.subscriptions.contains_key(command.identifier.as_str());
        if let Some(limit) = self.over_limit(&command, subscribed) {
            let identifier = Clipped(&command.identifier);
            tracing::warn!(sid = %self.sid, %identifier, command = command.command.as_str(), limit, "command refused");
            if command.command == Command::Subscribe {
                self.handle.send(Utf8Bytes::from(server::reject(&command.identifier)));
            }
            return self.invalid_command();
        }
        match (command.command, subscribed) {
            (Command::Subscribe, true) => {
                let identifier = Clipped(&command.identifier);
                return tracing::warn!(sid = %self.sid, %identifier, "already subscribed");
            }
            (
                Command::Message
                | Command::Unsubscribe
                | Command::History
                | Command::Whisper
                | Command::Join
                | Command::Leave
                | Command::Presence,
                false,
            ) => {
                let identifier = Clipped(&command.identifier);
                return tracing::warn!(sid = %self.sid, %identifier, command = command.command.as_str(), "not subscribed");
            }
            (Command::History, true) => {
                let history = command.history.unwrap_or_default();
                return self.history(&command.identifier, &history).await;
            }
            (Command::Whisper, true) => {
                return self.whisper(&command.identifier, command.data.unwrap_or_default())
            }
            (Command::Join, true) => {
                let Some(join) = command.presence else { return };
                return self.join_presence(&command.identifier, join, true).await;
            }
            (Command::Leave, true) => return self.leave_presence(&command.identifier).await,
            (Command::Presence, true) => return self.presence_info(&command.identifier, command.data).await,
            _ => {}
        }
        // Leaving the channel leaves its presence set.
        let present =
            self.subscriptions.get(command.identifier.as_str()).is_some_and(|s| s.presence.is_some());
        let leaving = (command.command == Command::Unsubscribe && present)
            .then(|| self.presence_stream(&command.identifier))
            .flatten();
        let istate =
            self.subscriptions.get(command.identifier.as_str()).map(|s| s.istate.clone()).unwrap_or_default();
        let request = CommandMessage {
            command: command.command.as_str().to_owned(),
            identifier: command.identifier.clone(),
            connection_identifiers: self.identifiers.to_string(),
            data: command.data.unwrap_or_default(),
            env: Env { istate, ..self.env.clone() },
            sid: self.sid.clone(),
        };
        let reply = tokio::time::timeout(RPC_DEADLINE, self.node.controller().command(request)).await;
        match reply.unwrap_or(Err(RpcError::Unavailable("no reply within the deadline".into()))) {
            Ok(mut reply) => {
                self.seen_by_app |= reply.disconnect_interest >= 0;
                // A subscribe that asks for history joins its streams as that is answered.
                let history = command.history.filter(|_| self.node.broker().is_some());
                let change = reply.presence.take();
                self.apply(command.command, &command.identifier, reply, history.is_some());
                let subscribed = self.subscriptions.contains_key(command.identifier.as_str());
                if let Some(history) = history.filter(|_| subscribed) {
                    self.history(&command.identifier, &history).await;
                }
                if let Some(stream) = leaving {
                    self.leave_stream(&stream).await;
                }
                match change {
                    Some(change) if subscribed && change.kind == "join" => {
                        let join = PresenceJoin::from_channel(change.id, &change.info);
                        self.join_presence(&command.identifier, join, false).await;
                    }
                    Some(change) if subscribed && change.kind == "leave" => {
                        self.leave_presence(&command.identifier).await;
                    }
                    _ => {}
                }
                // A subscribe may carry the client's join (AnyCable's extended protocol).
                if let Some(join) =
                    command.presence.filter(|_| subscribed && command.command == Command::Subscribe)
                {
                    self.join_presence(&command.identifier, join, true).await;
                }
            }
            // A full queue refuses this message only: closing would add a reconnect, a connect
            // and every subscribe again to the load that filled it.
            Err(RpcError::Busy) if command.command == Command::Message => {
                let identifier = Clipped(&command.identifier);
                tracing::warn!(sid = %self.sid, %identifier, "message dropped: RPC queue is full");
            }
            Err(error) => {
                tracing::warn!(sid = %self.sid, %error, "command call failed");
                self.control.close(Close::Disconnect(DisconnectReason::ServerError));
            }
        }
    }

    /// Counts a malformed or refused command; past `max_invalid_commands` the client is closed
    /// with `invalid_request`, which tells it not to reconnect.
    fn invalid_command(&mut self) {
        self.invalid_commands += 1;
        let limit = self.node.config().max_invalid_commands;
        if limit > 0 && self.invalid_commands > limit {
            tracing::warn!(sid = %self.sid, limit, "too many invalid commands (max_invalid_commands), disconnected");
            self.control.close(Close::Disconnect(DisconnectReason::InvalidRequest));
        }
    }

    /// The per-connection limit `command` breaks, if any: `max_identifier_size`, or
    /// `max_subscriptions` for a new subscription.
    fn over_limit(&self, command: &ClientCommand, subscribed: bool) -> Option<&'static str> {
        let config = self.node.config();
        if command.identifier.len() > config.max_identifier_size {
            Some("max_identifier_size")
        } else if command.command == Command::Subscribe
            && !subscribed
            && self.subscriptions.len() >= config.max_subscriptions
        {
            Some("max_subscriptions")
        } else {
            None
        }
    }

    /// Applies a `Command` reply in the order of docs/architecture.md §6.2. With `wait`, new
    /// streams wait for the history request that came with the command instead of joining.
    fn apply(&mut self, command: Command, identifier: &str, reply: CommandResponse, wait: bool) {
        if reply.status == Status::Error {
            // The client asked to leave: a failing `unsubscribed` does not keep the
            // subscription (and its streams) alive, or a later subscribe would be refused.
            if command == Command::Unsubscribe {
                if let Some(mut subscription) = self.subscriptions.remove(identifier) {
                    let streams = std::mem::take(&mut subscription.streams);
                    self.unstream(&subscription, streams);
                }
            }
            let identifier = Clipped(identifier);
            return tracing::error!(sid = %self.sid, %identifier, error = %reply.error_msg, "command failed");
        }
        if command == Command::Subscribe && reply.status == Status::Success {
            let identifier: Arc<str> = Arc::from(identifier);
            let subscription =
                Subscription { identifier: Arc::clone(&identifier), ..Subscription::default() };
            self.subscriptions.insert(identifier, subscription);
        }
        if let Some(mut subscription) = self.subscriptions.remove(identifier) {
            if reply.stop_streams || command == Command::Unsubscribe {
                let streams = std::mem::take(&mut subscription.streams);
                self.unstream(&subscription, streams);
                subscription.waiting.clear();
            } else if !reply.stopped_streams.is_empty() {
                let (stopped, kept) =
                    subscription.streams.drain(..).partition(|s| reply.stopped_streams.contains(s));
                subscription.streams = kept;
                self.unstream(&subscription, stopped);
                subscription.waiting.retain(|s| !reply.stopped_streams.contains(s));
            }
            // An unsubscribed identifier keeps no streams, whatever the reply says.
            let added = if command == Command::Unsubscribe { Vec::new() } else { reply.streams };
            for stream in added {
                if subscription.streams.contains(&stream) || subscription.waiting.contains(&stream) {
                    continue;
                }
                if wait {
                    subscription.waiting.push(stream);
                } else if self.node.hub().subscribe(&stream, &subscription.identifier, self.handle.clone())
                    != Subscribed::AlreadySubscribed
                {
                    subscription.streams.push(stream);
                }
            }
            merge_state(&mut subscription.istate, reply.env.istate);
            if command != Command::Unsubscribe {
                self.subscriptions.insert(Arc::clone(&subscription.identifier), subscription);
            }
        }
        merge_state(&mut self.env.cstate, reply.env.cstate);
        self.transmit(reply.transmissions);
        if reply.disconnect {
            self.control.close(Close::Quiet);
        }
    }

    /// Answers a history request for `identifier` (subscribed): what each stream missed, from
    /// the position the client gave for it or else from `since`, then `confirm_history`, or
    /// `reject_history` when some of it is gone. Waiting streams join as they are answered.
    async fn history(&mut self, identifier: &str, request: &HistoryRequest) {
        let Some(subscription) = self.subscriptions.get_mut(identifier) else { return };
        let node = &self.node;
        let Some(broker) = node.broker() else {
            self.handle.send(Utf8Bytes::from(server::reject_history(identifier)));
            return;
        };
        if broker.redis().is_some() {
            let deadline = Instant::now() + SUBSCRIBER_WAIT;
            while !node.receiving() && Instant::now() < deadline {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }
        let (handle, sid) = (&self.handle, &self.sid);
        let mut sent = 0;
        let mut rejected = false;
        let waiting = std::mem::take(&mut subscription.waiting);
        let joined = subscription.streams.len();
        subscription.streams.extend(waiting);
        for (index, stream) in subscription.streams.iter().enumerate() {
            let since = match request.streams.get(stream) {
                Some(position) => Some(Since::Offset { epoch: &position.epoch, offset: position.offset }),
                None => (request.since > 0).then_some(Since::Time(request.since)),
            };
            let live_after = subscription.went_live.iter().find(|(s, ..)| s == stream);
            let each = |data: &BroadcastData, at: Placed<'_>| {
                if live_after.is_some_and(|(_, epoch, last)| **epoch == *at.epoch && at.offset > *last) {
                    return; // it came live
                }
                sent += 1;
                handle.send(Utf8Bytes::from(data.frame_at(identifier, at)));
            };
            let join = || {
                if index >= joined {
                    node.hub().subscribe(stream, &subscription.identifier, handle.clone());
                }
            };
            let error = match broker.catch_up(stream, since, each, join).await {
                Ok(Ok(())) => continue,
                Ok(Err(error)) => error.to_string(),
                Err(error) => {
                    node.counters().inc(Counter::BrokerErrors);
                    error
                }
            };
            let stream = Clipped(stream);
            tracing::debug!(%sid, %stream, %error, "history rejected");
            rejected = true;
        }
        subscription.went_live.clear();
        node.counters().add(Counter::ServerMsg, sent + 1);
        let answer =
            if rejected { server::reject_history(identifier) } else { server::confirm_history(identifier) };
        self.handle.send(Utf8Bytes::from(answer));
    }

    /// Sends `data` to the other subscribers of the subscription's whisper stream (istate `$w`,
    /// set by `stream_from …, whisper: true`); a subscription without one cannot whisper, nor
    /// a connection over `max_whispers_per_second`.
    fn whisper(&mut self, identifier: &str, data: String) {
        if !self.whispers.take() {
            let identifier = Clipped(identifier);
            tracing::debug!(sid = %self.sid, %identifier, "whisper dropped: over max_whispers_per_second");
            return self.invalid_command();
        }
        let stream = self.subscriptions.get(identifier).and_then(|s| s.istate.get(WHISPER_STREAM));
        match stream.filter(|stream| !stream.is_empty()) {
            Some(stream) => self.node.whisper(stream.clone(), data, self.sid.clone()),
            None => {
                let identifier = Clipped(identifier);
                tracing::debug!(sid = %self.sid, %identifier, "whisper refused: the subscription has no whisper stream");
                self.invalid_command();
            }
        }
    }

    /// The waiting streams of a restored session whose client asked no history go live.
    fn join_waiting(&mut self) {
        self.join_by = None;
        let (node, handle) = (&self.node, &self.handle);
        for subscription in self.subscriptions.values_mut() {
            for stream in std::mem::take(&mut subscription.waiting) {
                let join = || {
                    node.hub().subscribe(&stream, &subscription.identifier, handle.clone());
                };
                if let Some(broker) = node.broker() {
                    let (epoch, last) = broker.memory().join_live(&stream, join);
                    subscription.went_live.push((stream.clone(), epoch, last));
                } else {
                    join();
                }
                subscription.streams.push(stream);
            }
        }
    }

    fn unstream(&self, subscription: &Subscription, streams: Vec<String>) {
        for stream in streams {
            let left = self.node.hub().unsubscribe(&stream, &subscription.identifier, self.id());
            if left == Unsubscribed::LastOnStream {
                tracing::debug!(%stream, "no subscribers left");
            }
        }
    }

    /// Leaves every stream, keeps the session for a restore (extended protocol, a broker that
    /// keeps sessions, a close the client may come back from) and queues the `Disconnect` call
    /// (unless `disconnect_mode` says the app needs none).
    fn finish(mut self) {
        // Its presence records stay presence_ttl: a client that comes back makes no leave.
        if self.subscriptions.values().any(|s| s.presence.is_some()) {
            let (node, sid) = (Arc::clone(&self.node), self.sid.clone());
            self.node.tasks().spawn(async move {
                if let Some(Err(error)) =
                    OptionFuture::from(node.broker().map(|b| b.presence_away(&sid))).await
                {
                    node.counters().inc(Counter::BrokerErrors);
                    tracing::debug!(%sid, %error, "presence not kept for presence_ttl");
                }
            });
        }
        let broker = self.node.broker().filter(|broker| self.extended && broker.keeps_sessions());
        if let Some(broker) = broker.filter(|_| resumable(self.control.requested())) {
            let session = self.cached();
            if let Some(store) = broker.redis() {
                let (store, node, sid, session) =
                    (Arc::clone(store), Arc::clone(&self.node), self.sid.clone(), session.clone());
                // Tracked: a graceful shutdown waits for it, so a restart keeps the session.
                self.node.tasks().spawn(async move {
                    if store.commit_session(&sid, &session).await.is_err() {
                        node.counters().inc(Counter::BrokerErrors);
                    }
                });
            }
            broker.memory().commit_session(&self.sid, session);
        }
        let mut istate = StringMap::new();
        let mut subscriptions = Vec::with_capacity(self.subscriptions.len());
        for (identifier, mut subscription) in std::mem::take(&mut self.subscriptions) {
            let streams = std::mem::take(&mut subscription.streams);
            self.unstream(&subscription, streams);
            let state = serde_json::to_string(&subscription.istate).unwrap_or_default();
            istate.insert(identifier.to_string(), state);
            subscriptions.push(identifier.to_string());
        }
        let call = match self.node.config().disconnect_mode {
            DisconnectMode::Auto => self.seen_by_app,
            DisconnectMode::Always => true,
            DisconnectMode::Never => false,
        };
        if !call {
            return tracing::debug!(sid = %self.sid, "no disconnect call (disconnect_mode)");
        }
        let sid = std::mem::take(&mut self.sid);
        let request = DisconnectRequest {
            identifiers: self.identifiers.to_string(),
            subscriptions,
            env: Env { istate, ..std::mem::take(&mut self.env) },
            sid: sid.clone(),
        };
        let node = Arc::clone(&self.node);
        self.node.tasks().spawn(async move {
            match node.controller().disconnect(request).await {
                Ok(reply) if reply.status != Status::Error => {}
                Ok(reply) => tracing::error!(%sid, error = %reply.error_msg, "disconnect failed"),
                Err(error) => tracing::warn!(%sid, %error, "disconnect call failed"),
            }
        });
    }
}

impl Connection {
    /// What a restore needs of this session.
    fn cached(&self) -> CachedSession {
        let subscriptions = self
            .subscriptions
            .values()
            .map(|subscription| CachedSubscription {
                identifier: subscription.identifier.to_string(),
                streams: subscription.streams.iter().chain(&subscription.waiting).cloned().collect(),
                istate: subscription.istate.clone(),
                presence: subscription.presence.clone(),
            })
            .collect();
        CachedSession {
            identifiers: self.identifiers.to_string(),
            cstate: self.env.cstate.clone(),
            subscriptions,
            disconnectable: self.seen_by_app,
        }
    }
}

/// Whether a session closed this way may be restored: when the link failed or the client or the
/// server went away, not when the app closed it (a remote disconnect, a channel's `disconnect`)
/// or the client broke the protocol — a restore would skip the `connect` that should decide.
fn resumable(close: Option<Close>) -> bool {
    matches!(
        close,
        None | Some(
            Close::ClosedByClient
                | Close::Restart
                | Close::Disconnect(
                    DisconnectReason::ServerRestart | DisconnectReason::TooSlow | DisconnectReason::NoPong
                )
        )
    )
}

/// Sleeps until `at` (forever for `None`; the caller's `select!` guard keeps that branch off).
async fn sleep_until(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

/// What a connection keeps of the headers connect saw: the configured `headers` (lower-case
/// names) and `REMOTE_ADDR`.
fn kept_headers(headers: &StringMap, configured: &[String]) -> StringMap {
    headers
        .iter()
        .filter(|(name, _)| name.as_str() == "REMOTE_ADDR" || configured.iter().any(|c| c == *name))
        .map(|(name, value)| (name.clone(), value.clone()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_configured_headers_and_the_remote_address_are_kept_after_connect() {
        let seen: StringMap = [("cookie", "a=1"), ("authorization", "Bearer x"), ("REMOTE_ADDR", "10.0.0.1")]
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect();
        let kept = kept_headers(&seen, &["cookie".to_owned(), "x-api-key".to_owned()]);
        let mut names: Vec<&str> = kept.keys().map(String::as_str).collect();
        names.sort_unstable();
        assert_eq!(names, ["REMOTE_ADDR", "cookie"]);
        assert_eq!(kept["cookie"], "a=1");
    }

    #[test]
    fn the_session_to_restore_is_read_from_the_query() {
        assert_eq!(query_param("ws://h/cable?a=1&sid=x-12#f", "sid").as_deref(), Some("x-12"));
        assert_eq!(query_param("ws://h/cable?sid=", "sid"), None);
        assert_eq!(query_param("ws://h/cable?osid=1", "sid"), None);
        assert_eq!(query_param("ws://h/cable", "sid"), None);
    }
}
