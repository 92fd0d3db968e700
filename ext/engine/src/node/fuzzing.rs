//! Entry point for the `session` fuzz target (fuzz/README.md): one client session run the way
//! [`super::connection`] runs a real one, from the bytes on its socket to the replies applied
//! to the hub, with no socket and no Ruby. Not an API: it exists for `fuzz/`, whose crate
//! cannot reach the node's private modules.
//!
//! The bytes are what the client sent: WebSocket frames (masked, as clients must). Channel
//! logic is [`Scripted`]: a command's reply is read from the command itself (the `reply` key
//! of its identifier, or of its data for `message`), so the input decides which streams,
//! state, transmissions and disconnects the session applies. After the session, every stream
//! it joined must be left. The session speaks the extended protocol with a memory broker, so
//! `history` requests and subscribes that wait for them are fuzzed too.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};

use tokio::runtime::Runtime;
use tokio_tungstenite::tungstenite::protocol::Role;
use tokio_tungstenite::WebSocketStream;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::broker::Broker;
use crate::config::Config;
use crate::hub::{Hub, SessionId};
use crate::metrics::Metrics;
use crate::rpc::{
    BoxFuture, CommandMessage, CommandResponse, ConnectionRequest, ConnectionResponse, Controller,
    DisconnectRequest, DisconnectResponse, Env, RpcError, Status,
};

use super::connection::{self, Host};
use super::session::SessionHandle;
use super::socket::Incoming;

/// Small limits, so that inputs of a few KiB reach them.
const MAX_MESSAGE_SIZE: usize = 4096;
const MAX_OUTGOING_SIZE: usize = 16 * 1024;
const MAX_SUBSCRIPTIONS: usize = 8;
const MAX_IDENTIFIER_SIZE: usize = 512;

/// What a session did, for tests of the harness.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Outcome {
    /// Streams that got their first or lost their last subscriber (joins plus leaves).
    pub stream_changes: usize,
}

/// Runs one session over `input`; panics when it leaves a stream joined.
pub fn session(input: &[u8]) -> Outcome {
    static RUNTIME: OnceLock<Runtime> = OnceLock::new();
    let runtime = RUNTIME.get_or_init(|| {
        tokio::runtime::Builder::new_current_thread().enable_time().build().expect("a runtime")
    });
    let host = Arc::new(FuzzHost::new());
    let changes = Arc::new(AtomicUsize::new(0));
    let counted = Arc::clone(&changes);
    host.hub.watch_streams(move |_| {
        counted.fetch_add(1, Ordering::Relaxed);
    });
    let (handle, control) = SessionHandle::new(1, MAX_OUTGOING_SIZE);
    runtime.block_on(async {
        let incoming = Incoming::new(input, Arc::clone(&control));
        let config = connection::ws_config(&host.config);
        let source = WebSocketStream::from_raw_socket(incoming, Role::Server, Some(config)).await;
        let node: Arc<dyn Host> = Arc::clone(&host) as Arc<dyn Host>;
        connection::live(node, handle, &control, Env::default(), "fuzz-1".into(), true, source).await;
        host.tasks.close();
        host.tasks.wait().await;
    });
    let left = host.hub.streams().stream_names();
    assert!(left.is_empty(), "streams still joined after the session: {left:?}");
    Outcome { stream_changes: changes.load(Ordering::Relaxed) }
}

/// `text` as a client's WebSocket text frame, masked with a zero key (so the payload reads as
/// sent): how the `replies` target and the tests write commands.
pub fn client_frame(text: &str) -> Vec<u8> {
    let mut frame = vec![0x81];
    match text.len() {
        len @ 0..=125 => frame.push(0x80 | len as u8),
        len @ 126..=0xFFFF => {
            frame.push(0x80 | 126);
            frame.extend_from_slice(&(len as u16).to_be_bytes());
        }
        len => {
            frame.push(0x80 | 127);
            frame.extend_from_slice(&(len as u64).to_be_bytes());
        }
    }
    frame.extend_from_slice(&[0, 0, 0, 0]);
    frame.extend_from_slice(text.as_bytes());
    frame
}

/// The node parts a session uses, without the node.
struct FuzzHost {
    config: Config,
    hub: Hub<SessionHandle>,
    controller: Scripted,
    broker: Option<Broker>,
    counters: Metrics,
    tasks: TaskTracker,
    shutdown: CancellationToken,
}

impl FuzzHost {
    fn new() -> Self {
        let config = Config {
            max_message_size: MAX_MESSAGE_SIZE,
            max_outgoing_size: MAX_OUTGOING_SIZE,
            max_subscriptions: MAX_SUBSCRIPTIONS,
            max_identifier_size: MAX_IDENTIFIER_SIZE,
            ..Config::default()
        };
        Self {
            broker: Broker::new(&config),
            config,
            hub: Hub::new(),
            controller: Scripted,
            counters: Metrics::default(),
            tasks: TaskTracker::new(),
            shutdown: CancellationToken::new(),
        }
    }
}

impl Host for FuzzHost {
    fn config(&self) -> &Config {
        &self.config
    }
    fn hub(&self) -> &Hub<SessionHandle> {
        &self.hub
    }
    fn controller(&self) -> &dyn Controller {
        &self.controller
    }
    fn broker(&self) -> Option<&Broker> {
        self.broker.as_ref()
    }
    fn counters(&self) -> &Metrics {
        &self.counters
    }
    fn tasks(&self) -> &TaskTracker {
        &self.tasks
    }
    fn shutdown_signal(&self) -> &CancellationToken {
        &self.shutdown
    }
    fn receiving(&self) -> bool {
        true
    }
    fn welcomed(&self, _session: &SessionHandle, _identifiers: &Arc<str>) {}
    fn left(&self, _session: SessionId, _identifiers: &str) {}
    fn whisper(&self, _stream: String, _data: String, _sid: String) {}

    fn presence_events(&self, _stream: &str, _events: Vec<String>) {}
}

/// Channel logic that answers each command with the reply the command carries: the JSON
/// object under `reply` in the identifier (any command) or in the data (`message`), decoded
/// as an RPC reply; a command without one gets a success that streams from its identifier.
struct Scripted;

impl Scripted {
    fn reply(request: &CommandMessage) -> CommandResponse {
        let carried = |json: &str| {
            let value: serde_json::Value = serde_json::from_str(json).ok()?;
            serde_json::from_value(value.get("reply")?.clone()).ok()
        };
        let from_data = if request.command == "message" { carried(&request.data) } else { None };
        from_data.or_else(|| carried(&request.identifier)).unwrap_or_else(|| CommandResponse {
            status: Status::Success,
            streams: vec![request.identifier.clone()],
            ..CommandResponse::default()
        })
    }
}

impl Controller for Scripted {
    fn connect(&self, _request: ConnectionRequest) -> BoxFuture<Result<ConnectionResponse, RpcError>> {
        Box::pin(async {
            Ok(ConnectionResponse {
                status: Status::Success,
                identifiers: "{}".into(),
                transmissions: vec![r#"{"type":"welcome"}"#.into()],
                ..ConnectionResponse::default()
            })
        })
    }

    fn command(&self, request: CommandMessage) -> BoxFuture<Result<CommandResponse, RpcError>> {
        let reply = Self::reply(&request);
        Box::pin(async move { Ok(reply) })
    }

    fn disconnect(&self, _request: DisconnectRequest) -> BoxFuture<Result<DisconnectResponse, RpcError>> {
        Box::pin(async {
            Ok(DisconnectResponse { status: Status::Success, ..DisconnectResponse::default() })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_scripted_session_leaves_every_stream_it_joined() {
        let mut input = client_frame(r#"{"command":"subscribe","identifier":"{\"channel\":\"A\"}"}"#);
        let with_reply = r#"{\"channel\":\"B\",\"reply\":{\"status\":1,\"streams\":[\"x\",\"y\"]}}"#;
        input.extend(client_frame(&format!(r#"{{"command":"subscribe","identifier":"{with_reply}"}}"#)));
        input.extend(client_frame(r#"{"command":"unsubscribe","identifier":"{\"channel\":\"A\"}"}"#));
        // A joined and left, then x and y joined by B's reply and left when the client went.
        assert_eq!(session(&input), Outcome { stream_changes: 6 });
    }

    #[test]
    fn garbage_and_a_truncated_frame_end_the_session_cleanly() {
        let mut input = client_frame(r#"{"command":"subscribe","identifier":"{\"channel\":\"A\"}"}"#);
        input.extend(client_frame("not json"));
        input.extend(&client_frame(r#"{"command":"subscribe","identifier":"B"}"#)[..9]);
        assert_eq!(session(&input), Outcome { stream_changes: 2 });
    }
}
