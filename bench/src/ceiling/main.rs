//! `cable-ceiling`: the raw ceiling of this machine for the benchmark — a minimal tokio +
//! tokio-tungstenite Action Cable fan-out server with no Ruby, no RPC and no hub beyond one
//! list. It speaks just what `cable-bench` uses: welcome, subscribe → confirm, `perform` of
//! `broadcast` (fan-out of the payload to every client) and `echo` (sent back), the Action
//! Cable ping every 3 seconds (one shared frame, as every Action Cable server sends), and
//! answers the HTTP join `cable-bench` makes with a fixed cookie.
//!
//! ```text
//! cable-ceiling 127.0.0.1:3300
//! ```

use std::sync::{Arc, Mutex};

use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::handshake::server::{ErrorResponse, Request, Response};
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::{Message, Utf8Bytes};

/// Every connected client's outgoing queue.
type Clients = Arc<Mutex<Vec<mpsc::Sender<Utf8Bytes>>>>;

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    let addr = std::env::args().nth(1).unwrap_or_else(|| "127.0.0.1:3300".into());
    let listener = TcpListener::bind(&addr).await.expect("bind");
    let clients: Clients = Arc::default();
    tokio::spawn(ping_forever(Arc::clone(&clients)));
    loop {
        let Ok((stream, _)) = listener.accept().await else { continue };
        tokio::spawn(serve(stream, Arc::clone(&clients)));
    }
}

/// Action Cable's ping, every 3 seconds, to every client.
async fn ping_forever(clients: Clients) {
    let mut ticks = tokio::time::interval(std::time::Duration::from_secs(3));
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    ticks.tick().await;
    loop {
        ticks.tick().await;
        let now =
            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs());
        let frame = Utf8Bytes::from(json!({"type": "ping", "message": now}).to_string());
        for client in clients.lock().expect("clients").iter() {
            let _ = client.try_send(frame.clone());
        }
    }
}

/// Plain HTTP (the join) or a WebSocket upgrade, told apart by peeking at the request head.
async fn serve(mut stream: TcpStream, clients: Clients) {
    let mut peek = [0u8; 2048];
    let Ok(n) = stream.peek(&mut peek).await else { return };
    let head = String::from_utf8_lossy(&peek[..n]).to_ascii_lowercase();
    if head.contains("upgrade: websocket") {
        websocket(stream, clients).await;
    } else {
        let mut request = vec![0u8; 8192];
        let _ = stream.read(&mut request).await;
        let body = r#"<input name="authenticity_token" value="x">"#;
        let response = format!(
            "HTTP/1.1 302 Found\r\nSet-Cookie: user_name=bench\r\nLocation: /\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        );
        let _ = stream.write_all(response.as_bytes()).await;
    }
}

/// Answers the handshake with the Action Cable subprotocol (the signature is tungstenite's).
#[allow(clippy::result_large_err)]
fn echo_protocol(_: &Request, mut response: Response) -> Result<Response, ErrorResponse> {
    response.headers_mut().insert("Sec-WebSocket-Protocol", HeaderValue::from_static("actioncable-v1-json"));
    Ok(response)
}

async fn websocket(stream: TcpStream, clients: Clients) {
    let config = WebSocketConfig::default().read_buffer_size(1024).write_buffer_size(0);
    let Ok(ws) = tokio_tungstenite::accept_hdr_async_with_config(stream, echo_protocol, Some(config)).await
    else {
        return;
    };
    let (mut sink, mut source) = ws.split();
    let (queue, mut outgoing) = mpsc::channel::<Utf8Bytes>(256);
    let writer = tokio::spawn(async move {
        while let Some(frame) = outgoing.recv().await {
            if sink.send(Message::Text(frame)).await.is_err() {
                break;
            }
        }
    });
    let _ = queue.try_send(Utf8Bytes::from_static(r#"{"type":"welcome"}"#));
    while let Some(Ok(Message::Text(text))) = source.next().await {
        let Ok(command) = serde_json::from_str::<Value>(&text) else { continue };
        let identifier = command["identifier"].as_str().unwrap_or_default().to_owned();
        match command["command"].as_str() {
            Some("subscribe") => {
                clients.lock().expect("clients").push(queue.clone());
                let confirm = json!({"identifier": identifier, "type": "confirm_subscription"});
                let _ = queue.try_send(Utf8Bytes::from(confirm.to_string()));
            }
            Some("message") => {
                let data: Value =
                    serde_json::from_str(command["data"].as_str().unwrap_or("{}")).unwrap_or_default();
                match data["action"].as_str() {
                    Some("broadcast") => {
                        let frame = Utf8Bytes::from(
                            json!({"identifier": identifier, "message": data["payload"]}).to_string(),
                        );
                        // One encoded frame shared by every client, pushed without waiting.
                        clients.lock().expect("clients").retain(|client| !client.is_closed());
                        for client in clients.lock().expect("clients").iter() {
                            let _ = client.try_send(frame.clone());
                        }
                    }
                    Some("echo") => {
                        let mut message = data.clone();
                        if let Some(object) = message.as_object_mut() {
                            object.remove("action");
                        }
                        let reply = json!({"identifier": identifier, "message": message});
                        let _ = queue.try_send(Utf8Bytes::from(reply.to_string()));
                    }
                    _ => {}
                }
            }
            _ => {}
        }
    }
    drop(queue);
    writer.abort();
}
