//! Broadcasts through a real Redis (`redis-server` started by each test on 127.0.0.1): the
//! AnyCable format, stock Action Cable's format, a Redis restart, TLS.

mod support;

use std::io::Write;
use std::sync::{Mutex, Once};
use std::time::{Duration, Instant};

use anycable_engine::config::{BroadcastAdapter, BrokerAdapter, Config};
use anycable_engine::node::Node;
use serde_json::json;
use support::redis_server::{Certs, RedisServer};
use support::{chat, start, Server, WAIT};
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;

/// Everything the engine logs in this test binary (all tests share it; filter by port).
static LOGS: Mutex<Vec<u8>> = Mutex::new(Vec::new());

struct Capture;

impl Write for Capture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        LOGS.lock().unwrap_or_else(|p| p.into_inner()).extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn capture_logs() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let subscriber = tracing_subscriber::fmt()
            .with_writer(|| Capture)
            .with_ansi(false)
            .with_max_level(tracing::Level::DEBUG)
            .finish();
        tracing::subscriber::set_global_default(subscriber).unwrap();
    });
}

/// Log lines that contain every one of `parts`.
fn log_lines(parts: &[&str]) -> Vec<String> {
    let logs = LOGS.lock().unwrap_or_else(|p| p.into_inner());
    String::from_utf8_lossy(&logs)
        .lines()
        .filter(|l| parts.iter().all(|p| l.contains(p)))
        .map(str::to_owned)
        .collect()
}

fn anycable_config(url: &str) -> Config {
    Config {
        broadcast_adapter: BroadcastAdapter::Redis,
        redis_url: Some(url.to_owned()),
        ..Config::default()
    }
}

async fn publisher(url: &str) -> redis::aio::MultiplexedConnection {
    let client = redis::Client::open(url).unwrap();
    tokio::time::timeout(WAIT, client.get_multiplexed_async_connection()).await.unwrap().unwrap()
}

/// PUBLISH; returns how many subscribers Redis delivered it to.
async fn publish(conn: &mut redis::aio::MultiplexedConnection, channel: &str, payload: &str) -> i64 {
    let mut command = redis::cmd("PUBLISH");
    command.arg(channel).arg(payload);
    tokio::time::timeout(WAIT, command.query_async(conn)).await.unwrap().unwrap()
}

async fn pubsub_channels(conn: &mut redis::aio::MultiplexedConnection) -> Vec<String> {
    let mut channels: Vec<String> =
        tokio::time::timeout(WAIT, redis::cmd("PUBSUB").arg("CHANNELS").query_async(conn))
            .await
            .unwrap()
            .unwrap();
    channels.sort();
    channels
}

/// Waits (bounded) until Redis lists exactly `expected` as subscribed channels.
async fn until_channels(conn: &mut redis::aio::MultiplexedConnection, expected: &[&str]) {
    let deadline = Instant::now() + WAIT;
    loop {
        let channels = pubsub_channels(conn).await;
        if channels == expected {
            return;
        }
        assert!(Instant::now() < deadline, "PUBSUB CHANNELS is {channels:?}, expected {expected:?}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

async fn connected(server: &Server) {
    server.eventually("Redis connected", |n| n.stats().redis_connected == Some(true)).await;
}

async fn shut_down(node: &Node) {
    assert!(tokio::time::timeout(Duration::from_secs(10), node.shutdown()).await.is_ok());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn anycable_publications_reach_clients() {
    capture_logs();
    let redis = RedisServer::start();
    let server = start(anycable_config(&redis.url()));
    connected(&server).await;
    let (mut alice, _, _) = server.subscribed_with_sid("alice", "1").await;
    let (mut bob, _, bob_sid) = server.subscribed_with_sid("bob", "1").await;
    let (mut carol, _, _) = server.subscribed_with_sid("carol", "2").await;
    let mut conn = publisher(&redis.url()).await;

    // Single.
    assert_eq!(
        publish(&mut conn, "__anycable__", r#"{"stream":"chat:1","data":"{\"text\":\"one\"}"}"#).await,
        1
    );
    assert_eq!(alice.next_json().await["message"], json!({"text": "one"}));
    assert_eq!(bob.next_json().await["message"], json!({"text": "one"}));

    // Batch, in order, across streams.
    let batch = json!([{"stream": "chat:1", "data": "2"}, {"stream": "chat:2", "data": "3"}, {"stream": "chat:1", "data": "4"}]);
    publish(&mut conn, "__anycable__", &batch.to_string()).await;
    assert_eq!(alice.next_json().await["message"], 2);
    assert_eq!(alice.next_json().await["message"], 4);
    assert_eq!(carol.next_json().await["message"], 3);
    assert_eq!(bob.next_json().await["message"], 2);
    assert_eq!(bob.next_json().await["message"], 4);

    // exclude_socket, then a bad message that harms nobody.
    let excluded = json!({"stream": "chat:1", "data": "5", "meta": {"exclude_socket": bob_sid}});
    publish(&mut conn, "__anycable__", &excluded.to_string()).await;
    publish(&mut conn, "__anycable__", "{not json").await;
    publish(&mut conn, "__anycable__", r#"{"stream":"chat:1","data":"6"}"#).await;
    assert_eq!(alice.next_json().await["message"], 5);
    assert_eq!(alice.next_json().await["message"], 6);
    assert_eq!(bob.next_json().await["message"], 6, "bob was excluded from 5");

    // Remote disconnect closes exactly alice.
    let command = json!({"command": "disconnect", "payload": {"identifier": "{\"user\":\"alice\"}", "reconnect": true}});
    publish(&mut conn, "__anycable__", &command.to_string()).await;
    let (frames, close) = alice.until_close().await;
    assert_eq!(frames.last().unwrap(), &json!({"type": "disconnect", "reason": "remote", "reconnect": true}));
    assert_eq!(close.unwrap().code, CloseCode::Normal);
    publish(&mut conn, "__anycable__", r#"{"stream":"chat:1","data":"7"}"#).await;
    assert_eq!(bob.next_json().await["message"], 7, "bob is still here");

    assert!(!log_lines(&["WARN", "Redis message ignored", "not JSON"]).is_empty(), "the bad one was logged");
    shut_down(&server.node).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redis_restart_is_survived_and_logged_once_each_way() {
    capture_logs();
    let mut redis = RedisServer::start();
    let url = redis.url();
    let server = start(anycable_config(&url));
    connected(&server).await;
    let (mut client, _) = server.subscribed("alice", "1").await;
    publish(&mut publisher(&url).await, "__anycable__", r#"{"stream":"chat:1","data":"\"before\""}"#).await;
    assert_eq!(client.next_json().await["message"], "before");
    // Counted from here: on a loaded machine the very first attempt may fail too (a `warn`,
    // then a restore), which is not the restart under test.
    let at = format!("127.0.0.1:{}", redis.port);
    let status = server.node.redis_status().unwrap();
    let (losses, restores) = (status.losses(), status.restores());
    let lost_before = log_lines(&["lost connection to Redis", &at]).len();
    let restored_before = log_lines(&["Redis connection restored", &at]).len();

    redis.kill();
    server.eventually("loss noticed", |n| n.stats().redis_connected == Some(false)).await;
    // In-process delivery does not depend on Redis.
    assert!(server.node.publish("chat:1".into(), "\"local\"".into(), None));
    assert_eq!(client.next_json().await["message"], "local");
    tokio::time::sleep(Duration::from_millis(1500)).await; // several failed retries

    let restarted = Instant::now();
    redis.restart();
    connected(&server).await; // bounded by WAIT = 5 s
    let resumed = restarted.elapsed();
    publish(&mut publisher(&url).await, "__anycable__", r#"{"stream":"chat:1","data":"\"after\""}"#).await;
    assert_eq!(client.next_json().await["message"], "after");
    eprintln!("Redis restart: delivery resumed {resumed:?} after the server was back");
    assert!(resumed < Duration::from_secs(5), "{resumed:?}");

    assert_eq!((status.losses() - losses, status.restores() - restores), (1, 1));
    let lost = log_lines(&["lost connection to Redis", &at]).split_off(lost_before);
    let restored = log_lines(&["Redis connection restored", &at]).split_off(restored_before);
    let retries = log_lines(&["Redis still unreachable", &at]);
    assert_eq!((lost.len(), restored.len()), (1, 1), "lost: {lost:?}\nrestored: {restored:?}");
    assert!(lost[0].contains("WARN") && restored[0].contains("INFO"), "{lost:?} {restored:?}");
    assert!(retries.iter().all(|l| l.contains("DEBUG")), "retries only at debug: {retries:?}");
    shut_down(&server.node).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_action_cable_format_subscribes_per_stream_and_connection() {
    capture_logs();
    let redis = RedisServer::start();
    let config = Config {
        action_cable_redis: true,
        channel_prefix: "app".into(),
        redis_url: Some(redis.url()),
        broker: BrokerAdapter::None, // frames exactly as Action Cable's
        ..Config::default()
    };
    let server = start(config);
    connected(&server).await;
    let mut conn = publisher(&redis.url()).await;
    until_channels(&mut conn, &[]).await;

    // TestController streams chat:<room> and extra:<room> for each subscription.
    let (mut alice, alice_id) = server.subscribed("alice", "7").await;
    until_channels(&mut conn, &["app:action_cable/alice", "app:chat:7", "app:extra:7"]).await;
    let (mut bob, bob_id) = server.subscribed("bob", "7").await;
    until_channels(
        &mut conn,
        &["app:action_cable/alice", "app:action_cable/bob", "app:chat:7", "app:extra:7"],
    )
    .await;

    // What Action Cable's redis adapter publishes: the JSON-encoded message.
    assert_eq!(publish(&mut conn, "app:chat:7", r#"{"text":"hi"}"#).await, 1, "one subscription per channel");
    assert_eq!(alice.next_json().await, json!({"identifier": alice_id, "message": {"text": "hi"}}));
    assert_eq!(bob.next_json().await, json!({"identifier": bob_id, "message": {"text": "hi"}}));

    // The last subscriber leaving a stream unsubscribes it; not before. Commands of a client
    // are handled in order: once room 8 is confirmed, alice has left room 7.
    alice.send(json!({"command": "unsubscribe", "identifier": alice_id})).await;
    alice.send(json!({"command": "subscribe", "identifier": chat("8")})).await;
    alice.until(|m| m["type"] == "confirm_subscription").await;
    let both = [
        "app:action_cable/alice",
        "app:action_cable/bob",
        "app:chat:7",
        "app:chat:8",
        "app:extra:7",
        "app:extra:8",
    ];
    until_channels(&mut conn, &both).await;
    bob.send(json!({"command": "unsubscribe", "identifier": bob_id})).await;
    until_channels(
        &mut conn,
        &["app:action_cable/alice", "app:action_cable/bob", "app:chat:8", "app:extra:8"],
    )
    .await;

    // remote_connections.where(user: "alice").disconnect (Rails 7.1+ sends reconnect).
    publish(&mut conn, "app:action_cable/alice", r#"{"type":"disconnect","reconnect":false}"#).await;
    let (frames, _) = alice.until_close().await;
    assert_eq!(
        frames.last().unwrap(),
        &json!({"type": "disconnect", "reason": "remote", "reconnect": false})
    );
    until_channels(&mut conn, &["app:action_cable/bob"]).await;
    // Older Rails: no reconnect key; the client may come back.
    publish(&mut conn, "app:action_cable/bob", r#"{"type":"disconnect"}"#).await;
    let (frames, _) = bob.until_close().await;
    assert_eq!(frames.last().unwrap(), &json!({"type": "disconnect", "reason": "remote", "reconnect": true}));
    until_channels(&mut conn, &[]).await;
    shut_down(&server.node).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_action_cable_format_resubscribes_after_a_restart() {
    capture_logs();
    let mut redis = RedisServer::start();
    let config = Config { action_cable_redis: true, redis_url: Some(redis.url()), ..Config::default() };
    let server = start(config);
    connected(&server).await;
    let (mut alice, _) = server.subscribed("alice", "3").await;
    until_channels(&mut publisher(&redis.url()).await, &["action_cable/alice", "chat:3", "extra:3"]).await;
    redis.restart();
    connected(&server).await;
    let mut conn = publisher(&redis.url()).await;
    until_channels(&mut conn, &["action_cable/alice", "chat:3", "extra:3"]).await;
    publish(&mut conn, "chat:3", "42").await;
    assert_eq!(alice.next_json().await["message"], 42);
    shut_down(&server.node).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn passwords_stay_out_of_the_logs() {
    capture_logs();
    let redis = RedisServer::start();
    let url = format!("redis://:sekret-pw@127.0.0.1:{}", redis.port);
    let server = start(anycable_config(&url));
    server.eventually("a connection error", |n| n.redis_status().unwrap().last_error().is_some()).await;
    assert_eq!(server.node.stats().redis_connected, Some(false));
    let at = format!("redis://:***@127.0.0.1:{}", redis.port);
    assert_eq!(log_lines(&["cannot connect to Redis", &at]).len(), 1);
    assert!(log_lines(&["sekret-pw"]).is_empty());
    shut_down(&server.node).await;
}

/// `rediss://` against redis-server with a certificate from a private CA.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_is_unverified_by_default_and_verified_on_request() {
    capture_logs();
    let certs = Certs::generate();
    let redis = RedisServer::start_tls(&certs);
    let url = redis.url();
    assert!(url.starts_with("rediss://"));

    // Default: like Heroku Redis' self-signed certificate, accepted without verification.
    let unverified = start(anycable_config(&url));
    connected(&unverified).await;
    let (mut client, _) = unverified.subscribed("alice", "1").await;
    let mut conn = publisher(&format!("{url}/#insecure")).await;
    publish(&mut conn, "__anycable__", r#"{"stream":"chat:1","data":"\"over tls\""}"#).await;
    assert_eq!(client.next_json().await["message"], "over tls");

    // Verification on, CA unknown: refused, with an error that says what to do.
    let strict = start(Config { redis_tls_verify: true, ..anycable_config(&url) });
    strict.eventually("a TLS error", |n| n.redis_status().unwrap().last_error().is_some()).await;
    let error = strict.node.redis_status().unwrap().last_error().unwrap();
    assert!(error.contains("certificate") && error.contains("redis_tls_ca_cert_path"), "{error}");
    assert_eq!(strict.node.stats().redis_connected, Some(false));

    // Verification on, with the CA: connects.
    let trusted = start(Config {
        redis_tls_verify: true,
        redis_tls_ca_cert_path: Some(certs.path("ca.crt")),
        ..anycable_config(&url)
    });
    connected(&trusted).await;
    for server in [unverified, strict, trusted] {
        shut_down(&server.node).await;
    }
}

/// Per-delivery latency at 1,000 clients, through Redis (PUBLISH on `__anycable__`, another
/// connection) and in-process (`Node::publish`). Clients, node and Redis share this machine's
/// cores, so the numbers are indicative. Run it with:
/// `cargo test --release -p anycable-engine --test redis -- --ignored --nocapture latency`
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a measurement, not a check; run by hand"]
async fn latency_redis_vs_in_process_at_1000_clients() {
    const CLIENTS: usize = 1000;
    const ROUNDS: usize = 20;
    let redis = RedisServer::start();
    let server = start(anycable_config(&redis.url()));
    connected(&server).await;
    let base = Instant::now();
    let mut readers = Vec::new();
    for i in 0..CLIENTS {
        let (mut client, _) = server.subscribed(&format!("u{i}"), "1").await;
        readers.push(tokio::spawn(async move {
            let mut latencies = Vec::with_capacity(ROUNDS * 2);
            for _ in 0..ROUNDS * 2 {
                let message = client.next_json().await;
                let sent = message["message"]["t"].as_u64().unwrap();
                let mode = message["message"]["mode"].as_str().unwrap() == "redis";
                latencies.push((mode, base.elapsed().as_micros() as u64 - sent));
            }
            latencies
        }));
    }
    let mut conn = publisher(&redis.url()).await;
    for round in 0..ROUNDS * 2 {
        let via_redis = round % 2 == 0; // alternating: no order effect
        let now = base.elapsed().as_micros() as u64;
        let data = json!({"t": now, "mode": if via_redis { "redis" } else { "local" }}).to_string();
        if via_redis {
            let publication = json!({"stream": "chat:1", "data": data});
            publish(&mut conn, "__anycable__", &publication.to_string()).await;
        } else {
            server.node.publish("chat:1".into(), data, None);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let (mut via_redis, mut local) = (Vec::new(), Vec::new());
    for reader in readers {
        for (redis, micros) in tokio::time::timeout(Duration::from_secs(30), reader).await.unwrap().unwrap() {
            if redis {
                via_redis.push(micros)
            } else {
                local.push(micros)
            }
        }
    }
    let summary = |name: &str, v: &mut Vec<u64>| {
        v.sort_unstable();
        let at = |q: f64| v[((v.len() - 1) as f64 * q) as usize] as f64 / 1000.0;
        eprintln!(
            "{name}: {} deliveries, p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
            v.len(),
            at(0.5),
            at(0.99),
            at(1.0)
        );
    };
    summary("through Redis", &mut via_redis);
    summary("in-process", &mut local);
    shut_down(&server.node).await;
}
