//! One Action Cable client subscribed to `BenchChannel`.

use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use tokio::net::{TcpSocket, TcpStream};
use tokio::sync::Semaphore;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::WebSocketStream;

use crate::http::authority;

/// The channel every bench client subscribes to.
pub(crate) const IDENTIFIER: &str = r#"{"channel":"BenchChannel"}"#;
const TIMEOUT: Duration = Duration::from_secs(15);

pub(crate) struct Client {
    ws: WebSocketStream<TcpStream>,
}

impl Client {
    /// Connects with the app's cookie (and `extra` headers), waits for the welcome, subscribes,
    /// waits for the confirmation.
    pub(crate) async fn subscribe(
        url: &str,
        cookie: &str,
        extra: &[(String, String)],
    ) -> Result<Self, String> {
        Self::subscribe_to(url, cookie, extra, IDENTIFIER, None).await
    }

    /// [`Self::subscribe`] to the channel `identifier`, from the local address `source` when
    /// given (another loopback address, so its packets can be told apart).
    pub(crate) async fn subscribe_to(
        url: &str,
        cookie: &str,
        extra: &[(String, String)],
        identifier: &str,
        source: Option<IpAddr>,
    ) -> Result<Self, String> {
        let mut request =
            format!("ws://{}/cable", authority(url)).into_client_request().map_err(|e| e.to_string())?;
        let headers = request.headers_mut();
        headers.insert("Cookie", cookie.parse().map_err(|_| "bad cookie")?);
        headers.insert("Origin", url.parse().map_err(|_| "bad origin")?);
        for (name, value) in extra {
            let name: tokio_tungstenite::tungstenite::http::HeaderName =
                name.parse().map_err(|_| "bad header name")?;
            headers.insert(name, value.parse().map_err(|_| "bad header value")?);
        }
        headers.insert(
            "Sec-WebSocket-Protocol",
            "actioncable-v1-json, actioncable-unsupported".parse().expect("ascii"),
        );
        let connect = async {
            let stream = match source {
                None => TcpStream::connect(authority(url)).await,
                Some(source) => {
                    let server: SocketAddr = authority(url).parse().map_err(|_| "the url is not ip:port")?;
                    let socket = TcpSocket::new_v4().map_err(|e| e.to_string())?;
                    socket.bind(SocketAddr::new(source, 0)).map_err(|e| e.to_string())?;
                    socket.connect(server).await
                }
            }
            .map_err(|e| e.to_string())?;
            let (ws, _) =
                tokio_tungstenite::client_async(request, stream).await.map_err(|e| e.to_string())?;
            let mut client = Self { ws };
            client.until(|m| m["type"] == "welcome").await?;
            client.send(json!({"command": "subscribe", "identifier": identifier})).await?;
            client.until(|m| m["type"] == "confirm_subscription").await?;
            Ok(client)
        };
        tokio::time::timeout(TIMEOUT, connect).await.map_err(|_| "timed out connecting".to_owned())?
    }

    async fn send(&mut self, value: Value) -> Result<(), String> {
        self.ws.send(Message::text(value.to_string())).await.map_err(|e| e.to_string())
    }

    pub(crate) async fn next(&mut self) -> Result<Value, String> {
        loop {
            match self.ws.next().await {
                Some(Ok(Message::Text(text))) => {
                    return serde_json::from_str(&text).map_err(|e| e.to_string());
                }
                Some(Ok(Message::Close(frame))) => return Err(format!("closed: {frame:?}")),
                Some(Ok(_)) => {}
                Some(Err(e)) => return Err(e.to_string()),
                None => return Err("closed".into()),
            }
        }
    }

    async fn until(&mut self, f: impl Fn(&Value) -> bool) -> Result<Value, String> {
        loop {
            let value = self.next().await?;
            if value["type"] == "disconnect" || value["type"] == "reject_subscription" {
                return Err(format!("refused: {value}"));
            }
            if f(&value) {
                return Ok(value);
            }
        }
    }

    /// Waits for the next tick of `ticks`, reading (and dropping) what arrives meanwhile: a
    /// subscribed driver must read as any client does, or the server rightly drops it as too
    /// slow once big payloads pile up.
    pub(crate) async fn read_until_tick(&mut self, ticks: &mut tokio::time::Interval) {
        loop {
            tokio::select! {
                _ = ticks.tick() => return,
                frame = self.next() => if frame.is_err() {
                    ticks.tick().await;
                    return;
                }
            }
        }
    }

    /// Performs `action` with `data`.
    pub(crate) async fn perform(&mut self, action: &str, mut data: Value) {
        data["action"] = json!(action);
        let command = json!({"command": "message", "identifier": IDENTIFIER, "data": data.to_string()});
        if let Err(e) = self.send(command).await {
            eprintln!("cable-bench: perform failed: {e}");
        }
    }

    /// Collects (seq, delay ms) of up to `n` broadcasts, until `wait` passes.
    pub(crate) async fn receive_broadcasts(
        &mut self,
        n: usize,
        epoch: Instant,
        wait: Duration,
    ) -> Vec<(usize, f64)> {
        let deadline = tokio::time::Instant::now() + wait;
        let mut seen = Vec::with_capacity(n);
        while seen.len() < n {
            let Ok(Ok(value)) = tokio::time::timeout_at(deadline, self.next()).await else { break };
            let message = &value["message"];
            if let (Some(seq), Some(sent)) = (message["seq"].as_u64(), message["sent_us"].as_u64()) {
                let now = epoch.elapsed().as_micros() as u64;
                seen.push((seq as usize, now.saturating_sub(sent) as f64 / 1000.0));
            }
        }
        seen
    }

    /// Sequential `echo` performs until `deadline`; returns how many completed.
    pub(crate) async fn echo_until(&mut self, deadline: Instant) -> usize {
        let mut done = 0;
        while Instant::now() < deadline {
            self.perform("echo", json!({"n": done})).await;
            let expect = done;
            let reply =
                tokio::time::timeout(TIMEOUT, self.until(|m| m["message"]["n"] == json!(expect))).await;
            if !matches!(reply, Ok(Ok(_))) {
                break;
            }
            done += 1;
        }
        done
    }
}

/// Connects and subscribes `n` clients to `identifier` (from `source`, see
/// [`Client::subscribe_to`]), at most `concurrency` handshakes in flight. Returns the clients
/// and the errors of those that failed.
pub(crate) async fn connect_many(
    n: usize,
    concurrency: usize,
    url: &str,
    cookie: &str,
    extra: &Arc<Vec<(String, String)>>,
    identifier: &'static str,
    source: Option<IpAddr>,
) -> (Vec<Client>, Vec<String>) {
    let gate = Arc::new(Semaphore::new(concurrency));
    let pending: Vec<_> = (0..n)
        .map(|_| {
            let (gate, url, cookie, extra) =
                (Arc::clone(&gate), url.to_owned(), cookie.to_owned(), Arc::clone(extra));
            tokio::spawn(async move {
                let _permit = gate.acquire_owned().await.expect("semaphore open");
                Client::subscribe_to(&url, &cookie, &extra, identifier, source).await
            })
        })
        .collect();
    let (mut clients, mut failures) = (Vec::with_capacity(n), Vec::new());
    for task in pending {
        match task.await.expect("connect task") {
            Ok(client) => clients.push(client),
            Err(e) => failures.push(e),
        }
    }
    (clients, failures)
}

/// Headers a browser sends with a WebSocket upgrade besides Cookie and Origin, about `bytes`
/// long in all (name, ": ", value, CRLF): a real set, topped up with an `X-Client-Data` value
/// (0: none).
pub(crate) fn browser_headers(bytes: usize) -> Vec<(String, String)> {
    if bytes == 0 {
        return Vec::new();
    }
    let mut headers: Vec<(String, String)> = [
        ("User-Agent", "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/156.0.0.0 Safari/537.36"),
        ("Accept-Language", "en-US,en;q=0.9,de;q=0.8,fr;q=0.7"),
        ("Accept-Encoding", "gzip, deflate, br, zstd"),
        ("Cache-Control", "no-cache"),
        ("Pragma", "no-cache"),
        ("Sec-WebSocket-Extensions", "permessage-deflate; client_max_window_bits"),
        ("Sec-Fetch-Dest", "websocket"),
        ("Sec-Fetch-Mode", "websocket"),
        ("Sec-Fetch-Site", "same-origin"),
        ("X-Forwarded-For", "203.0.113.195, 70.41.3.18, 150.172.238.178"),
        ("X-Forwarded-Proto", "https"),
        ("X-Request-Id", "3f2a9c4e-8d1b-4e6f-a7c2-9b0d5e1f3a68"),
    ]
    .into_iter()
    .map(|(name, value)| (name.to_owned(), value.to_owned()))
    .collect();
    let used: usize = headers.iter().map(|(n, v)| n.len() + v.len() + 4).sum();
    let padding = bytes.saturating_sub(used + "X-Client-Data".len() + 4);
    if padding > 0 {
        headers.push(("X-Client-Data".to_owned(), "C".repeat(padding)));
    }
    headers
}
