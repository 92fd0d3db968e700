//! The node end to end over 127.0.0.1: real sockets, real WebSocket clients, a scripted
//! controller in place of the Rails app.

mod support;

use std::sync::atomic::Ordering;
use std::time::Duration;

use anycable_engine::config::{BrokerAdapter, Config};
use serde_json::{json, Value};
use support::{chat, start};
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::{Bytes, Message};

/// Without a broker, so frames have exactly Action Cable's shapes (tests/reliable.rs covers the
/// stream positions a broker adds).
fn config() -> Config {
    Config { broker: BrokerAdapter::None, ..Config::default() }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn welcomes_with_the_action_cable_subprotocol() {
    let server = start(config());
    let mut client = server.client("alice").await;
    assert_eq!(client.protocol.as_deref(), Some("actioncable-v1-json"));
    let welcome = client.next_json().await;
    assert_eq!(welcome["type"], "welcome");
    let sid = welcome["sid"].as_str().expect("the connect call carried a sid");
    let id = server.node.session_id(sid).expect("a sid of this node");
    let another = server.node.sid(id);
    assert_ne!(another, sid, "every sid has a random part of its own");
    assert_eq!(server.node.session_id(&another), Some(id));
    server.eventually("one client", |n| n.stats().clients == 1).await;

    let mut plain = server.client_with(Some("bob"), &[]).await;
    assert_eq!(plain.protocol, None, "no offer, no header");
    assert_eq!(plain.next_json().await["type"], "welcome");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rejected_connections_get_unauthorized_and_a_close() {
    let server = start(config());
    let mut client = server.client("reject").await;
    let (frames, close) = client.until_close().await;
    assert_eq!(frames, vec![json!({"type": "disconnect", "reason": "unauthorized", "reconnect": false})]);
    assert_eq!(close.unwrap().code, CloseCode::Normal);

    let mut failing = server.client("boom").await;
    let (frames, _) = failing.until_close().await;
    assert_eq!(frames, vec![json!({"type": "disconnect", "reason": "server_error", "reconnect": true})]);
    assert!(server.app.disconnects.lock().unwrap().is_empty(), "no disconnect call for unwelcomed clients");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_busy_controller_tells_the_client_to_come_back() {
    let server = start(config());
    server.app.busy.store(true, Ordering::SeqCst);
    let mut client = server.client("alice").await;
    let (frames, _) = client.until_close().await;
    assert_eq!(frames, vec![json!({"type": "disconnect", "reason": "server_error", "reconnect": true})]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_busy_controller_refuses_only_the_message_it_could_not_take() {
    let server = start(config());
    let (mut client, id) = server.subscribed("alice", "1").await;
    let count = json!({"command": "message", "identifier": id, "data": "{\"action\":\"count\"}"});

    server.app.busy.store(true, Ordering::SeqCst);
    client.send(count.clone()).await;
    client.silent(Duration::from_millis(200)).await; // dropped: no reply, no close

    server.app.busy.store(false, Ordering::SeqCst);
    client.send(count).await;
    assert_eq!(client.next_json().await["message"], 1, "the connection and its state survive");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subscribe_transmits_before_confirming_and_streams_are_live_by_then() {
    let server = start(config());
    let mut client = server.client("alice").await;
    client.next_json().await;
    let id = chat("1");
    client.send(json!({"command": "subscribe", "identifier": id})).await;
    assert_eq!(client.next_json().await, json!({"identifier": id, "message": "hello from subscribed"}));
    assert_eq!(client.next_json().await, json!({"identifier": id, "type": "confirm_subscription"}));
    assert_eq!(server.node.deliver("chat:1", r#"{"text":"hi"}"#, None), 1, "live at confirmation");
    assert_eq!(client.next_json().await, json!({"identifier": id, "message": {"text": "hi"}}));

    let rejected = json!({"channel": "Reject"}).to_string();
    client.send(json!({"command": "subscribe", "identifier": rejected})).await;
    assert_eq!(client.next_json().await, json!({"identifier": rejected, "type": "reject_subscription"}));
    // A rejected subscription is not a subscription: messages to it are refused.
    let before = server.app.commands.load(Ordering::SeqCst);
    client.send(json!({"command": "message", "identifier": rejected, "data": "{\"action\":\"echo\"}"})).await;
    client.silent(Duration::from_millis(200)).await;
    assert_eq!(server.app.commands.load(Ordering::SeqCst), before);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn commands_carry_state_and_replies_are_applied_in_order() {
    let server = start(config());
    let (mut client, id) = server.subscribed("alice", "7").await;
    let perform = |action: &str| json!({"command": "message", "identifier": id, "data": json!({"action": action}).to_string()});

    client.send(perform("echo")).await;
    let echo = client.next_json().await["message"].clone();
    assert_eq!(echo["identifiers"], r#"{"user":"alice"}"#);
    assert_eq!(echo["cstate"], json!({"seen": "1"}), "cstate from connect is sent back");
    assert_eq!(echo["istate"], json!({"room": "7", "count": "0"}), "istate of this identifier");
    assert!(echo["url"].as_str().unwrap().ends_with("/cable?x=1"));

    for expected in 1..=3 {
        client.send(perform("count")).await;
        assert_eq!(client.next_json().await["message"], json!(expected), "istate deltas are merged");
    }

    // stopped_streams drops only that stream.
    client.send(perform("stop_extra")).await;
    client.send(perform("echo")).await;
    client.next_json().await;
    assert_eq!(server.node.deliver("extra:7", "1", None), 0);
    assert_eq!(server.node.deliver("chat:7", "2", None), 1);
    assert_eq!(client.next_json().await["message"], 2);

    // An ERROR reply applies nothing, not even its transmissions.
    client.send(perform("boom")).await;
    client.send(perform("count")).await;
    assert_eq!(client.next_json().await["message"], json!(4));

    // unsubscribe stops delivery; there is no confirmation.
    client.send(json!({"command": "unsubscribe", "identifier": id})).await;
    server.eventually("stream dropped", |n| n.stats().streams == 0).await;
    assert_eq!(server.node.deliver("chat:7", "3", None), 0);
    client.silent(Duration::from_millis(200)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_unsubscribe_still_ends_the_subscription_so_it_can_be_made_again() {
    let server = start(config());
    let (mut client, id) = server.subscribed("alice", "unsubscribed-raises").await;

    // `unsubscribed` raises (an ERROR reply): the client asked to leave, so its streams stop.
    client.send(json!({"command": "unsubscribe", "identifier": id})).await;
    server.eventually("streams dropped", |n| n.stats().streams == 0).await;
    assert_eq!(server.node.deliver("chat:unsubscribed-raises", "1", None), 0);

    // Subscribing again is a new subscription, confirmed, not "already subscribed".
    client.send(json!({"command": "subscribe", "identifier": id})).await;
    assert_eq!(client.next_json().await["message"], "hello from subscribed");
    assert_eq!(client.next_json().await["type"], "confirm_subscription");
    assert_eq!(server.node.deliver("chat:unsubscribed-raises", "2", None), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn disconnect_reports_subscriptions_and_their_state() {
    let server = start(config());
    let (mut client, id) = server.subscribed("alice", "3").await;
    client.send(json!({"command": "message", "identifier": id, "data": "{\"action\":\"count\"}"})).await;
    client.next_json().await;
    let bye = CloseFrame { code: CloseCode::Normal, reason: "bye".into() };
    client.ws.close(Some(bye)).await.unwrap();
    let (_, close) = client.until_close().await;
    assert_eq!(close.map(|c| c.code), Some(CloseCode::Normal), "the server answers the client's close frame");
    server.eventually("disconnect call", |_| !server.app.disconnects.lock().unwrap().is_empty()).await;
    let disconnect = server.app.disconnects.lock().unwrap()[0].clone();
    assert_eq!(disconnect.identifiers, r#"{"user":"alice"}"#);
    assert_eq!(disconnect.subscriptions, vec![id.clone()]);
    let state: Value = serde_json::from_str(&disconnect.env.istate[&id]).unwrap();
    assert_eq!(state, json!({"room": "3", "count": "1"}));
    assert_eq!(disconnect.env.cstate["seen"], "1");
    assert_eq!(
        server.node.stats(),
        anycable_engine::node::Stats { connections: 0, clients: 0, streams: 0, redis_connected: None }
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_disconnect_flag_closes_after_the_transmissions() {
    let server = start(config());
    let (mut client, id) = server.subscribed("alice", "1").await;
    client.send(json!({"command": "message", "identifier": id, "data": "{\"action\":\"bye\"}"})).await;
    let (frames, close) = client.until_close().await;
    assert_eq!(frames.last().unwrap()["message"], "bye");
    assert_eq!(close.unwrap().code, CloseCode::Normal);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broadcasts_fan_out_once_per_identifier_and_keep_strings_strings() {
    let server = start(config());
    let mut clients = Vec::new();
    for i in 0..50 {
        clients.push(server.subscribed(&format!("u{i}"), "9").await);
    }
    assert_eq!(server.node.deliver("chat:9", r#""{\"a\":1}""#, None), 50);
    assert_eq!(server.node.deliver("chat:9", "<p>html</p>", None), 50);
    for (client, id) in &mut clients {
        assert_eq!(client.next_json().await, json!({"identifier": id, "message": "{\"a\":1}"}));
        assert_eq!(client.next_json().await, json!({"identifier": id, "message": "<p>html</p>"}));
    }
    assert_eq!(server.node.deliver("chat:other", "1", None), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_commands_are_refused_and_harm_nobody() {
    let server = start(config());
    let (mut bystander, _) = server.subscribed("bob", "1").await;
    let (mut client, id) = server.subscribed("mallory", "1").await;
    let calls = server.app.commands.load(Ordering::SeqCst);
    client.send_raw(Message::text("{not json")).await;
    client.send(json!({"command": "dance", "identifier": id})).await;
    client.send(json!({"command": "subscribe", "identifier": id})).await; // duplicate
    let stranger = chat("2");
    client.send(json!({"command": "message", "identifier": stranger, "data": "{\"action\":\"echo\"}"})).await;
    client.send(json!({"command": "unsubscribe", "identifier": stranger})).await;
    client.send(json!({"command": "message", "identifier": id})).await; // no data
    client.send(json!({"command": "message", "identifier": id, "data": "{\"action\":\"count\"}"})).await;
    assert_eq!(client.next_json().await["message"], 1, "the connection survives");
    assert_eq!(
        server.app.commands.load(Ordering::SeqCst),
        calls + 1,
        "only the valid command reached the app"
    );
    server.node.deliver("chat:1", "42", None);
    assert_eq!(bystander.next_json().await["message"], 42);
    assert_eq!(client.next_json().await["message"], 42);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subscriptions_and_identifiers_are_capped_per_connection_without_calling_the_app() {
    let server = start(Config { max_subscriptions: 2, max_identifier_size: 100, ..config() });
    let (mut client, first) = server.subscribed("mallory", "1").await;
    let second = chat("2");
    client.send(json!({"command": "subscribe", "identifier": second})).await;
    client.until(|m| m["type"] == "confirm_subscription").await;
    let calls = server.app.commands.load(Ordering::SeqCst);

    // A third subscription, and an identifier over 100 bytes, get a reject; the app is not called.
    let third = chat("3");
    client.send(json!({"command": "subscribe", "identifier": third})).await;
    assert_eq!(client.next_json().await, json!({"identifier": third, "type": "reject_subscription"}));
    let long = json!({"channel": "Chat", "room": "4", "pad": "p".repeat(100)}).to_string();
    client.send(json!({"command": "subscribe", "identifier": long})).await;
    assert_eq!(client.next_json().await["type"], "reject_subscription");
    client.send(json!({"command": "message", "identifier": long, "data": "{\"action\":\"count\"}"})).await;
    assert_eq!(server.app.commands.load(Ordering::SeqCst), calls, "refused before the app");

    // The connection keeps what it has; leaving one makes room for another.
    client.send(json!({"command": "unsubscribe", "identifier": first})).await;
    client.send(json!({"command": "subscribe", "identifier": third})).await;
    client.until(|m| m["type"] == "confirm_subscription" && m["identifier"] == third).await;
    assert_eq!(server.node.deliver("chat:3", "3", None), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn protocol_violations_close_only_that_client_with_a_reason() {
    let mut config = config();
    config.max_message_size = 1024;
    let server = start(config);
    let (mut bystander, _) = server.subscribed("bob", "1").await;

    let mut binary = server.client("m1").await;
    binary.send_raw(Message::Binary(Bytes::from_static(b"\x00\x01"))).await;
    let (_, close) = binary.until_close().await;
    assert_eq!(close.unwrap().code, CloseCode::Unsupported);

    let mut big = server.client("m2").await;
    big.send_raw(Message::text("x".repeat(2048))).await;
    let (_, close) = big.until_close().await;
    assert_eq!(close.unwrap().code, CloseCode::Size);

    // Invalid UTF-8 in a text frame needs a raw frame: send one by hand.
    let mut bad = server.client("m3").await;
    let frame = tokio_tungstenite::tungstenite::protocol::frame::Frame::message(
        Bytes::from_static(b"\xff\xfe"),
        tokio_tungstenite::tungstenite::protocol::frame::coding::OpCode::Data(
            tokio_tungstenite::tungstenite::protocol::frame::coding::Data::Text,
        ),
        true,
    );
    bad.send_raw(Message::Frame(frame)).await;
    let (_, close) = bad.until_close().await;
    assert_eq!(close.unwrap().code, CloseCode::Invalid);

    server.node.deliver("chat:1", "1", None);
    assert_eq!(bystander.next_json().await["message"], 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pings_every_interval_with_unix_seconds() {
    let mut config = config();
    config.ping_interval = Duration::from_secs(1);
    let server = start(config);
    let mut client = server.client("alice").await;
    assert_eq!(client.next_json().await["type"], "welcome");
    let ping = match client.next().await {
        Message::Text(text) => serde_json::from_str::<Value>(&text).unwrap(),
        other => panic!("{other:?}"),
    };
    assert_eq!(ping["type"], "ping");
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
    assert!(ping["message"].as_u64().unwrap().abs_diff(now) <= 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_never_reads_is_dropped_as_too_slow() {
    let server = start(config());
    let (mut reader, _) = server.subscribed("bob", "1").await;
    let (_sleeper, _) = server.subscribed("zzz", "2").await; // never reads again
    let payload = format!("\"{}\"", "x".repeat(60_000));
    for _ in 0..2_000 {
        server.node.deliver("chat:2", &payload, None);
        if server.node.stats().clients == 1 {
            break;
        }
        tokio::task::yield_now().await;
    }
    server.eventually("slow client dropped", |n| n.stats().clients == 1).await;
    server.node.deliver("chat:1", "7", None);
    assert_eq!(reader.next_json().await["message"], 7);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_says_server_restart_to_everyone_and_calls_disconnect() {
    let server = start(config());
    let (mut a, _) = server.subscribed("a", "1").await;
    let (mut b, _) = server.subscribed("b", "2").await;
    assert!(server.node.shutdown().await, "finished within shutdown_timeout");
    for client in [&mut a, &mut b] {
        let (frames, close) = client.until_close().await;
        assert_eq!(
            frames.last().unwrap(),
            &json!({"type": "disconnect", "reason": "server_restart", "reconnect": true})
        );
        assert_eq!(close.unwrap().code, CloseCode::Away);
    }
    assert_eq!(server.app.disconnects.lock().unwrap().len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn published_broadcasts_arrive_in_publishing_order() {
    let server = start(config());
    let (mut client, _) = server.subscribed("alice", "5").await;
    for i in 0..200 {
        assert!(server.node.publish("chat:5".into(), i.to_string(), None));
    }
    for i in 0..200 {
        assert_eq!(client.next_json().await["message"], i);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn max_connections_refuses_upgrades_until_a_connection_ends() {
    let server = start(Config { max_connections: 2, ..config() });
    let mut first = server.client("alice").await;
    let mut second = server.client("bob").await;
    assert_eq!(first.next_json().await["type"], "welcome");
    assert_eq!(second.next_json().await["type"], "welcome");
    assert_eq!(server.node.connections(), 2);

    let stream = tokio::net::TcpStream::connect(server.addr).await.unwrap();
    let url = format!("ws://{}/cable", server.addr);
    let refused =
        tokio::time::timeout(Duration::from_secs(5), tokio_tungstenite::client_async(url, stream)).await;
    assert!(refused.expect("refused at once").is_err(), "a third connection is not served");
    assert_eq!(server.node.stats().connections, 2);

    drop(first);
    server.eventually("a free slot", |n| n.connections() == 1).await;
    let mut third = server.client("carol").await;
    assert_eq!(third.next_json().await["type"], "welcome");
    assert_eq!(server.node.connections(), 2);
}
