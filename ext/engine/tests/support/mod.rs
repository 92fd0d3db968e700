//! Test support: a scripted controller that plays the Rails app, a tiny HTTP front that reads
//! the upgrade request and hands the socket over as Puma's full hijack does, and a client.

#![allow(dead_code, unreachable_pub, missing_docs)]

pub mod extended;
pub mod redis_server;

use std::collections::HashMap;
use std::io::Read;
use std::net::{SocketAddr, TcpListener};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anycable_engine::config::Config;
use anycable_engine::node::{Node, UpgradeRequest};
use anycable_engine::protocol::server;
use anycable_engine::rpc::*;
use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::WebSocketStream;

/// Plays a Rails app: users come from the `user` cookie, `Chat` streams `chat:<room>`.
#[derive(Default)]
pub struct App {
    pub connects: AtomicUsize,
    pub commands: AtomicUsize,
    pub disconnects: Mutex<Vec<DisconnectRequest>>,
    pub busy: std::sync::atomic::AtomicBool,
}

fn user(env: &Env) -> Option<String> {
    let cookie = env.headers.get("cookie")?;
    cookie.split(';').find_map(|c| c.trim().strip_prefix("user=").map(str::to_owned))
}

impl App {
    pub fn do_connect(request: ConnectionRequest) -> ConnectionResponse {
        match user(&request.env).as_deref() {
            Some("boom") => {
                ConnectionResponse { status: Status::Error, error_msg: "boom".into(), ..Default::default() }
            }
            None | Some("reject") => ConnectionResponse {
                status: Status::Failure,
                transmissions: vec![server::disconnect(
                    anycable_engine::protocol::DisconnectReason::Unauthorized,
                )],
                ..Default::default()
            },
            Some(name) => ConnectionResponse {
                status: Status::Success,
                identifiers: json!({ "user": name }).to_string(),
                // As the Ruby handler does: the sid from the connect call goes into the welcome.
                transmissions: vec![server::welcome(
                    (!request.sid.is_empty()).then_some(request.sid.as_str()),
                )],
                env: EnvResponse {
                    cstate: HashMap::from([("seen".into(), "1".into())]),
                    ..Default::default()
                },
                ..Default::default()
            },
        }
    }

    pub fn do_command(&self, request: CommandMessage) -> CommandResponse {
        self.commands.fetch_add(1, Ordering::SeqCst);
        let id: Value = serde_json::from_str(&request.identifier).unwrap_or(Value::Null);
        let room = id["room"].as_str().unwrap_or("0").to_owned();
        let transmit =
            |message: Value| json!({ "identifier": request.identifier, "message": message }).to_string();
        let mut reply = CommandResponse { status: Status::Success, ..Default::default() };
        match (request.command.as_str(), id["channel"].as_str()) {
            ("subscribe", Some("Whisper")) => {
                // Streams `chat:<room>` and whispers on it (`stream_from …, whisper: true`).
                reply.streams = vec![format!("chat:{room}")];
                reply.env.istate.insert("$w".into(), format!("chat:{room}"));
                reply.transmissions.push(server::confirm(&request.identifier));
            }
            ("subscribe", Some("Reject")) => {
                reply.status = Status::Failure;
                reply.transmissions.push(server::reject(&request.identifier));
            }
            ("subscribe", _) => {
                reply.streams = vec![format!("chat:{room}"), format!("extra:{room}")];
                reply.env.istate.insert("room".into(), room);
                reply.env.istate.insert("count".into(), "0".into());
                reply.transmissions.push(transmit(json!("hello from subscribed")));
                reply.transmissions.push(server::confirm(&request.identifier));
            }
            ("unsubscribe", _) if room == "unsubscribed-raises" => {
                reply.status = Status::Error;
                reply.error_msg = "RuntimeError: unsubscribed raised".into();
            }
            ("unsubscribe", _) => reply.stop_streams = true,
            ("message", _) => {
                let data: Value = serde_json::from_str(&request.data).unwrap_or(Value::Null);
                match data["action"].as_str() {
                    Some("echo") => reply.transmissions.push(transmit(json!({
                        "data": data, "cstate": request.env.cstate, "istate": request.env.istate,
                        "identifiers": request.connection_identifiers, "url": request.env.url,
                    }))),
                    Some("count") => {
                        let count: u64 = request.env.istate["count"].parse().unwrap();
                        reply.env.istate.insert("count".into(), (count + 1).to_string());
                        reply.transmissions.push(transmit(json!(count + 1)));
                    }
                    Some("stop_extra") => reply.stopped_streams.push(format!("extra:{room}")),
                    Some("boom") => {
                        reply.status = Status::Error;
                        reply.error_msg = "RuntimeError: boom".into();
                        reply.transmissions.push(transmit(json!("must not arrive")));
                    }
                    Some("bye") => {
                        reply.transmissions.push(transmit(json!("bye")));
                        reply.disconnect = true;
                    }
                    _ => {}
                }
            }
            _ => reply.status = Status::Error,
        }
        reply
    }
}

/// The controller the node sees: the app behind an async boundary, like the bridge.
pub struct TestController(pub Arc<App>);

impl Controller for TestController {
    fn connect(&self, request: ConnectionRequest) -> BoxFuture<Result<ConnectionResponse, RpcError>> {
        let app = Arc::clone(&self.0);
        Box::pin(async move {
            if app.busy.load(Ordering::SeqCst) {
                return Err(RpcError::Busy);
            }
            app.connects.fetch_add(1, Ordering::SeqCst);
            Ok(App::do_connect(request))
        })
    }

    fn command(&self, request: CommandMessage) -> BoxFuture<Result<CommandResponse, RpcError>> {
        let app = Arc::clone(&self.0);
        Box::pin(async move {
            if app.busy.load(Ordering::SeqCst) {
                return Err(RpcError::Busy);
            }
            Ok(app.do_command(request))
        })
    }

    fn disconnect(&self, request: DisconnectRequest) -> BoxFuture<Result<DisconnectResponse, RpcError>> {
        let app = Arc::clone(&self.0);
        Box::pin(async move {
            app.disconnects.lock().unwrap().push(request);
            Ok(DisconnectResponse { status: Status::Success, ..Default::default() })
        })
    }
}

pub struct Server {
    pub node: Arc<Node>,
    pub app: Arc<App>,
    pub addr: SocketAddr,
}

/// A node behind a front that reads the HTTP upgrade request and hands the socket over.
pub fn start(config: Config) -> Server {
    let app = Arc::new(App::default());
    start_with(config, Arc::new(TestController(Arc::clone(&app))), app)
}

/// [`start`] with another controller (`app` is what the test's own controller plays).
pub fn start_with(config: Config, controller: Arc<dyn Controller>, app: Arc<App>) -> Server {
    let node = Node::new(config, controller, None);
    node.start(tokio::runtime::Handle::current());
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let front = Arc::clone(&node);
    std::thread::spawn(move || {
        for socket in listener.incoming() {
            let Ok(mut socket) = socket else { return };
            let mut head = Vec::new();
            let mut byte = [0u8; 1];
            while !head.ends_with(b"\r\n\r\n") && socket.read(&mut byte).is_ok_and(|n| n == 1) {
                head.push(byte[0]);
            }
            let head = String::from_utf8_lossy(&head).to_string();
            let path = head.split_whitespace().nth(1).unwrap_or("/").to_owned();
            let header = |name: &str| {
                head.lines().find_map(|l| {
                    let (k, v) = l.split_once(':')?;
                    k.trim().eq_ignore_ascii_case(name).then(|| v.trim().to_owned())
                })
            };
            let mut headers = HashMap::from([("REMOTE_ADDR".to_owned(), "127.0.0.1".to_owned())]);
            for name in ["cookie", "x-anycable-restore-sid", "x-jid", "x-token"] {
                if let Some(value) = header(name) {
                    headers.insert(name.into(), value);
                }
            }
            let protocols = header("sec-websocket-protocol")
                .map(|p| p.split(',').map(|s| s.trim().to_owned()).collect())
                .unwrap_or_default();
            let request = UpgradeRequest {
                url: format!("http://{addr}{path}"),
                headers,
                protocols,
                key: header("sec-websocket-key").unwrap_or_default(),
            };
            front.accept(socket, request);
        }
    });
    Server { node, app, addr }
}

pub struct Client {
    pub ws: WebSocketStream<TcpStream>,
    pub protocol: Option<String>,
}

pub const WAIT: Duration = Duration::from_secs(5);

impl Server {
    pub async fn client(&self, user: &str) -> Client {
        self.client_with(Some(user), &["actioncable-v1-json", "actioncable-unsupported"]).await
    }

    pub async fn client_with(&self, user: Option<&str>, protocols: &[&str]) -> Client {
        self.client_at(user, protocols, "x=1", None).await
    }

    /// An `actioncable-v1-ext-json` client, restoring session `sid` (in the query) if given.
    pub async fn extended(&self, user: &str, sid: Option<&str>) -> Client {
        let query = sid.map_or_else(|| "x=1".to_owned(), |sid| format!("x=1&sid={sid}"));
        self.client_at(Some(user), &["actioncable-v1-ext-json"], &query, None).await
    }

    /// A client of `/cable?<query>`, with an `X-AnyCable-Restore-Sid` header if given.
    pub async fn client_at(
        &self,
        user: Option<&str>,
        protocols: &[&str],
        query: &str,
        restore: Option<&str>,
    ) -> Client {
        let mut request = format!("ws://{}/cable?{query}", self.addr).into_client_request().unwrap();
        if let Some(sid) = restore {
            request.headers_mut().insert("X-AnyCable-Restore-Sid", sid.parse().unwrap());
        }
        if !protocols.is_empty() {
            request.headers_mut().insert("Sec-WebSocket-Protocol", protocols.join(", ").parse().unwrap());
        }
        if let Some(user) = user {
            request.headers_mut().insert("Cookie", format!("a=b; user={user}").parse().unwrap());
        }
        let stream = TcpStream::connect(self.addr).await.unwrap();
        let (ws, response) = tokio_tungstenite::client_async(request, stream).await.unwrap();
        let protocol =
            response.headers().get("sec-websocket-protocol").map(|v| v.to_str().unwrap().to_owned());
        Client { ws, protocol }
    }

    /// A welcomed client subscribed to `Chat` in `room`.
    pub async fn subscribed(&self, user: &str, room: &str) -> (Client, String) {
        let (client, id, _) = self.subscribed_with_sid(user, room).await;
        (client, id)
    }

    /// [`Self::subscribed`], plus the `sid` of the welcome message.
    pub async fn subscribed_with_sid(&self, user: &str, room: &str) -> (Client, String, String) {
        let mut client = self.client(user).await;
        let welcome = client.next_json().await;
        assert_eq!(welcome["type"], "welcome");
        let sid = welcome["sid"].as_str().expect("the welcome carries a sid").to_owned();
        let id = chat(room);
        client.send(json!({"command": "subscribe", "identifier": id})).await;
        client.until(|m| m["type"] == "confirm_subscription").await;
        (client, id, sid)
    }

    /// Waits until `f` holds for the node.
    pub async fn eventually(&self, what: &str, f: impl Fn(&Node) -> bool) {
        let deadline = tokio::time::Instant::now() + WAIT;
        while !f(&self.node) {
            assert!(tokio::time::Instant::now() < deadline, "timed out waiting for {what}");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}

pub fn chat(room: &str) -> String {
    json!({"channel": "Chat", "room": room}).to_string()
}

impl Client {
    pub async fn send(&mut self, value: Value) {
        self.ws.send(Message::text(value.to_string())).await.unwrap();
    }

    pub async fn send_raw(&mut self, message: Message) {
        self.ws.send(message).await.unwrap();
    }

    /// The next frame, pings included.
    pub async fn next(&mut self) -> Message {
        tokio::time::timeout(WAIT, self.ws.next())
            .await
            .expect("timed out waiting for a frame")
            .expect("closed")
            .unwrap()
    }

    /// The next non-ping JSON frame.
    pub async fn next_json(&mut self) -> Value {
        loop {
            match self.next().await {
                Message::Text(text) => {
                    let value: Value = serde_json::from_str(&text).unwrap();
                    if value["type"] != "ping" {
                        return value;
                    }
                }
                other => panic!("expected a text frame, got {other:?}"),
            }
        }
    }

    /// Skips frames until one matches.
    pub async fn until(&mut self, f: impl Fn(&Value) -> bool) -> Value {
        loop {
            let value = self.next_json().await;
            if f(&value) {
                return value;
            }
        }
    }

    /// The rest of the conversation: text frames (JSON) until the close frame, which it returns.
    pub async fn until_close(&mut self) -> (Vec<Value>, Option<CloseFrame>) {
        let mut seen = Vec::new();
        loop {
            match tokio::time::timeout(WAIT, self.ws.next()).await.expect("timed out waiting for close") {
                Some(Ok(Message::Text(text))) => seen.push(serde_json::from_str(&text).unwrap()),
                Some(Ok(Message::Close(frame))) => return (seen, frame),
                Some(Ok(_)) => {}
                Some(Err(_)) | None => return (seen, None),
            }
        }
    }

    /// Asserts nothing but pings arrives for a moment.
    pub async fn silent(&mut self, wait: Duration) {
        let deadline = tokio::time::Instant::now() + wait;
        while let Ok(frame) = tokio::time::timeout_at(deadline, self.ws.next()).await {
            if let Some(Ok(Message::Text(text))) = &frame {
                assert!(text.contains(r#""type":"ping""#), "unexpected frame {text}");
            }
        }
    }
}
