//! The reconnect storm of a Turbo page after a deploy: `--storm N` clients connect at once
//! (`--connect-concurrency` handshakes in flight) and each subscribes to two
//! `Turbo::StreamsChannel` streams with names signed by the app (spec/integration/app's
//! `GET /rooms/:id/signed`, real turbo-rails), as every open page does when it comes back.
//! Measured: time until every subscription is confirmed, the server's CPU meanwhile, and the
//! app's RPC calls (`rpc_call_total` of `GET /stats`, anycable-rs only).
//!
//! Clients identify by a `user` cookie (the app's `connect` runs), or with `--jwt-secret` by an
//! AnyCable JWT in `?jid=` signed with that secret (the server's `secret`).

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anycable_engine::identity::JwtKey;
use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio::net::TcpStream;
use tokio::sync::Semaphore;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::WebSocketStream;

use crate::args::Args;
use crate::http::{authority, get};
use crate::stats;

/// Distinct rooms whose signed names clients share (as many pages show the same rooms).
const ROOMS: usize = 200;
/// Longest a client may take to connect and be confirmed twice.
const TIMEOUT: Duration = Duration::from_secs(120);

pub(crate) async fn run(args: &Args) -> Value {
    let (names, signed) = names(&args.url).await;
    let key = args.jwt_secret.as_deref().map(|secret| JwtKey::new(secret.as_bytes()));
    let exp = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs()) + 3600;
    let calls_before = rpc_calls(&args.url).await;
    let cpu_before = args.pid.map(stats::cpu_seconds);
    let gate = Arc::new(Semaphore::new(args.connect_concurrency));
    let started = Instant::now();
    let tasks: Vec<_> = (0..args.storm)
        .map(|i| {
            let user = format!("storm{i}");
            let identity = match &key {
                Some(key) => {
                    let identifiers = json!({ "current_user": user, "connect_info": "{}" }).to_string();
                    Identity::Jwt(key.sign(&identifiers, Some(exp)))
                }
                None => Identity::Cookie(user),
            };
            let identifiers = [turbo(&names[i % names.len()]), turbo(&names[(i + 1) % names.len()])];
            let (gate, url) = (Arc::clone(&gate), args.url.clone());
            tokio::spawn(async move {
                let permit = gate.acquire_owned().await.expect("semaphore open");
                let result = tokio::time::timeout(TIMEOUT, storm_client(&url, identity, identifiers)).await;
                drop(permit);
                let result = result.unwrap_or_else(|_| Err("timed out".into()));
                result.map(|ws| (started.elapsed().as_secs_f64() * 1000.0, ws))
            })
        })
        .collect();
    let (mut done_ms, mut held, mut failures) = (Vec::new(), Vec::new(), Vec::new());
    for task in tasks {
        match task.await.expect("storm task") {
            Ok((ms, ws)) => {
                done_ms.push(ms);
                held.push(ws);
            }
            Err(error) => failures.push(error),
        }
    }
    let all_seconds = started.elapsed().as_secs_f64();
    let cpu = args.pid.map(stats::cpu_seconds).zip(cpu_before).map(|(after, before)| after - before);
    let calls = rpc_calls(&args.url).await.zip(calls_before).map(|(after, before)| after - before);
    drop(held);
    json!({
        "scenario": "storm",
        "clients": args.storm,
        "subscriptions_per_client": 2,
        "identified_by": if key.is_some() { "jwt" } else { "cookie" },
        "names": if signed { "signed by the app (turbo-rails)" } else { "unsigned (the server signs nothing)" },
        "connect_concurrency": args.connect_concurrency,
        "confirmed_clients": done_ms.len(),
        "failures": failures.len(),
        "first_failure": failures.first(),
        "all_confirmed_seconds": all_seconds,
        "confirmed_ms": stats::percentiles(&done_ms),
        "server_cpu_seconds": cpu,
        "rpc_calls": calls,
    })
}

/// How a storm client identifies itself.
enum Identity {
    Cookie(String),
    Jwt(String),
}

/// Signed names of [`ROOMS`] rooms from the app; a server that serves none (the raw ceiling)
/// gets made-up names, which it confirms all the same. The bool: the names are the app's.
async fn names(url: &str) -> (Vec<String>, bool) {
    let mut names = Vec::with_capacity(ROOMS);
    for room in 0..ROOMS {
        let body = match get(url, &format!("/rooms/storm-{room}/signed")).await {
            Ok(body) => body,
            Err(_) if room == 0 => return ((0..ROOMS).map(|room| format!("room-{room}")).collect(), false),
            Err(error) => crate::fail(&format!("GET /rooms/storm-{room}/signed: {error}")),
        };
        let parsed: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
        match parsed["turbo"].as_str() {
            Some(name) => names.push(name.to_owned()),
            None => crate::fail(&format!("GET /rooms/storm-{room}/signed answered {body}")),
        }
    }
    (names, true)
}

fn turbo(signed: &str) -> String {
    json!({ "channel": "Turbo::StreamsChannel", "signed_stream_name": signed }).to_string()
}

/// `rpc_call_total` of the app's `GET /stats` (none when it does not report it).
async fn rpc_calls(url: &str) -> Option<u64> {
    let body = get(url, "/stats").await.ok()?;
    serde_json::from_str::<Value>(&body).ok()?["rpc_call_total"].as_u64()
}

/// Connects, waits for the welcome, subscribes twice, waits for both confirmations.
async fn storm_client(
    url: &str,
    identity: Identity,
    identifiers: [String; 2],
) -> Result<WebSocketStream<TcpStream>, String> {
    let query = match &identity {
        Identity::Jwt(token) => format!("?jid={token}"),
        Identity::Cookie(_) => String::new(),
    };
    let mut request =
        format!("ws://{}/cable{query}", authority(url)).into_client_request().map_err(|e| e.to_string())?;
    let headers = request.headers_mut();
    headers.insert("Origin", url.parse().map_err(|_| "bad origin")?);
    headers.insert(
        "Sec-WebSocket-Protocol",
        "actioncable-v1-json, actioncable-unsupported".parse().expect("ascii"),
    );
    if let Identity::Cookie(user) = &identity {
        headers.insert("Cookie", format!("user={user}").parse().map_err(|_| "bad cookie")?);
    }
    let stream = TcpStream::connect(authority(url)).await.map_err(|e| e.to_string())?;
    let (mut ws, _) = tokio_tungstenite::client_async(request, stream).await.map_err(|e| e.to_string())?;
    let mut confirmed = 0;
    while confirmed < 2 {
        let frame = match ws.next().await {
            Some(Ok(Message::Text(text))) => {
                serde_json::from_str::<Value>(&text).map_err(|e| e.to_string())?
            }
            Some(Ok(_)) => continue,
            Some(Err(error)) => return Err(error.to_string()),
            None => return Err("closed".into()),
        };
        match frame["type"].as_str() {
            Some("welcome") => {
                for identifier in &identifiers {
                    let subscribe = json!({ "command": "subscribe", "identifier": identifier }).to_string();
                    ws.send(Message::text(subscribe)).await.map_err(|e| e.to_string())?;
                }
            }
            Some("confirm_subscription") => confirmed += 1,
            Some("reject_subscription" | "disconnect") => return Err(format!("refused: {frame}")),
            _ => {}
        }
    }
    Ok(ws)
}
