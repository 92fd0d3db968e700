//! Real traffic against the node over 127.0.0.1: bursts longer than any frame count, payloads
//! of megabytes, clients that stop reading, and the WebSocket control frames the library
//! answers through the writer, and the overload rules: invalid-command floods, clients that
//! leave during their connect call.

mod support;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anycable_engine::config::Config;
use anycable_engine::metrics::Counter;
use anycable_engine::node::Node;
use anycable_engine::rpc::{
    BoxFuture, CommandMessage, CommandResponse, ConnectionRequest, ConnectionResponse, Controller,
    DisconnectRequest, DisconnectResponse, RpcError,
};
use futures_util::{SinkExt, StreamExt};
use serde_json::json;
use support::{start, TestController};
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::{Bytes, Message};

fn counter(node: &Node, counter: Counter) -> u64 {
    node.metrics().iter().find(|sample| sample.name == counter.name()).map(|sample| sample.value).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_of_a_thousand_broadcasts_in_one_go_reaches_every_client_in_order() {
    let server = start(Config::default());
    let mut clients = Vec::new();
    for i in 0..50 {
        clients.push(server.subscribed(&format!("u{i}"), "1").await.0);
    }
    // One synchronous loop, as a `batch_broadcasts` block or a Redis batch is applied.
    let payload = |n: usize| format!(r#"{{"n":{n},"html":"{}"}}"#, "x".repeat(200));
    for n in 0..1_000 {
        assert_eq!(server.node.deliver("chat:1", &payload(n), None), 50);
    }
    for client in &mut clients {
        for n in 0..1_000 {
            assert_eq!(client.next_json().await["message"]["n"], n);
        }
    }
    assert_eq!(counter(&server.node, Counter::DisconnectedSlowClients), 0);
    assert_eq!(server.node.stats().clients, 50);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broadcast_of_megabytes_is_delivered_whole_and_one_over_max_outgoing_size_is_refused() {
    let server = start(Config { max_outgoing_size: 4 << 20, ..Config::default() });
    let (mut a, _) = server.subscribed("a", "1").await;
    let (mut b, _) = server.subscribed("b", "1").await;
    let big = format!("\"{}\"", "y".repeat(3 << 20));
    assert_eq!(server.node.deliver("chat:1", &big, None), 2);
    let too_big = format!("\"{}\"", "z".repeat(5 << 20));
    assert_eq!(server.node.deliver("chat:1", &too_big, None), 0, "refused at publish");
    assert_eq!(counter(&server.node, Counter::BroadcastRefused), 1);
    server.node.deliver("chat:1", "\"after\"", None);
    for client in [&mut a, &mut b] {
        assert_eq!(client.next_json().await["message"].as_str().unwrap().len(), 3 << 20);
        assert_eq!(client.next_json().await["message"], "after");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_takes_no_bytes_for_write_timeout_is_dropped_as_too_slow_and_others_carry_on() {
    // A budget no test reaches: only the time budget can catch this client.
    let config =
        Config { max_outgoing_size: 256 << 20, write_timeout: Duration::from_secs(1), ..Config::default() };
    let server = start(config);
    let (mut reader, _) = server.subscribed("bob", "1").await;
    let (_sleeper, _) = server.subscribed("zzz", "2").await; // never reads again
    let chunk = format!("\"{}\"", "x".repeat(1 << 20));
    // The writer stalls somewhere in this loop, so its time budget starts after `started`.
    let started = tokio::time::Instant::now();
    // More than any loopback socket buffers, so the writer's write stops taking bytes.
    for _ in 0..64 {
        server.node.deliver("chat:2", &chunk, None);
    }
    server.eventually("stalled client dropped", |n| n.stats().clients == 1).await;
    assert!(started.elapsed() >= Duration::from_millis(500), "dropped by the timer, not at once");
    // Counted once its task ends, just after it left the live sessions.
    server.eventually("counted as too slow", |n| counter(n, Counter::DisconnectedSlowClients) == 1).await;
    server.node.deliver("chat:1", "7", None);
    assert_eq!(reader.next_json().await["message"], 7);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_pings_are_answered_between_messages_and_a_client_close_is_answered_with_close() {
    let server = start(Config::default());
    let (mut client, _) = server.subscribed("a", "1").await;
    client.send_raw(Message::Ping(Bytes::from_static(b"are you there"))).await;
    let pong = loop {
        match client.next().await {
            Message::Pong(data) => break data,
            Message::Text(_) => {}
            other => panic!("{other:?}"),
        }
    };
    assert_eq!(&pong[..], b"are you there");
    server.node.deliver("chat:1", "1", None);
    assert_eq!(client.next_json().await["message"], 1);

    client.ws.send(Message::Close(None)).await.unwrap();
    let reply = loop {
        match tokio::time::timeout(support::WAIT, client.ws.next()).await.expect("a close reply") {
            Some(Ok(Message::Close(frame))) => break frame,
            Some(Ok(_)) => {}
            other => panic!("{other:?}"),
        }
    };
    assert!(reply.is_none_or(|frame| frame.code == CloseCode::Normal), "the close reply echoes the client's");
    server.eventually("client gone", |n| n.stats().clients == 0).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_pings_without_reading_is_dropped_as_too_slow_not_buffered() {
    let server = start(Config { max_outgoing_size: 1024, ..Config::default() });
    let (mut bystander, _) = server.subscribed("a", "1").await;
    let (mut pinger, _) = server.subscribed("b", "2").await;
    let payload = Bytes::from(vec![b'p'; 125]);
    // Its pongs fill both sockets' buffers (a few MB on loopback), then the queue's budget.
    for _ in 0..200_000 {
        if pinger.ws.send(Message::Ping(payload.clone())).await.is_err() || server.node.stats().clients == 1 {
            break;
        }
    }
    server.eventually("pinging client dropped", |n| n.stats().clients == 1).await;
    server.eventually("counted as too slow", |n| counter(n, Counter::DisconnectedSlowClients) == 1).await;
    server.node.deliver("chat:1", "7", None);
    assert_eq!(bystander.next_json().await["message"], 7);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_commands_past_max_invalid_commands_close_that_client_with_invalid_request() {
    let server = start(Config { max_invalid_commands: 3, ..Config::default() });
    let (mut bystander, _) = server.subscribed("a", "1").await;
    let (mut flooder, _) = server.subscribed("b", "1").await;
    for garbage in ["not json", r#"{"command":"dance","identifier":"x"}"#, r#"{"command":"message"}"#] {
        flooder.send_raw(Message::text(garbage)).await;
    }
    server.node.deliver("chat:1", "1", None);
    assert_eq!(flooder.next_json().await["message"], 1, "up to the limit the client stays");
    flooder.send_raw(Message::text("[]")).await;
    let (frames, close) = flooder.until_close().await;
    assert_eq!(
        frames.last(),
        Some(&json!({"type": "disconnect", "reason": "invalid_request", "reconnect": false}))
    );
    assert!(close.is_some());
    server.eventually("flooder gone", |n| n.stats().clients == 1).await;
    server.node.deliver("chat:1", "2", None);
    assert_eq!(bystander.next_json().await["message"], 1);
    assert_eq!(bystander.next_json().await["message"], 2);
}

/// Channel logic whose `Connect` never answers; it notes when the call is dropped.
struct StalledConnect {
    dropped: Arc<AtomicBool>,
    app: TestController,
}

struct SetOnDrop(Arc<AtomicBool>);

impl Drop for SetOnDrop {
    fn drop(&mut self) {
        self.0.store(true, Ordering::SeqCst);
    }
}

impl Controller for StalledConnect {
    fn connect(&self, _request: ConnectionRequest) -> BoxFuture<Result<ConnectionResponse, RpcError>> {
        let noted = SetOnDrop(Arc::clone(&self.dropped));
        Box::pin(async move {
            let _noted = noted;
            std::future::pending().await
        })
    }
    fn command(&self, request: CommandMessage) -> BoxFuture<Result<CommandResponse, RpcError>> {
        self.app.command(request)
    }
    fn disconnect(&self, request: DisconnectRequest) -> BoxFuture<Result<DisconnectResponse, RpcError>> {
        self.app.disconnect(request)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_leaves_during_connect_drops_the_call_at_once() {
    let app = Arc::new(support::App::default());
    let dropped = Arc::new(AtomicBool::new(false));
    let controller = StalledConnect { dropped: Arc::clone(&dropped), app: TestController(Arc::clone(&app)) };
    let server = support::start_with(Config::default(), Arc::new(controller), app);
    let mut client = server.client("a").await;
    server.eventually("socket adopted", |n| n.stats().connections == 1).await;
    client.ws.close(None).await.unwrap();
    drop(client);
    server.eventually("connection gone", |n| n.stats().connections == 0).await;
    assert!(dropped.load(Ordering::SeqCst), "the connect call was dropped, not left to its 30 s deadline");
    assert!(server.app.disconnects.lock().unwrap().is_empty(), "never welcomed: no disconnect call");
}
