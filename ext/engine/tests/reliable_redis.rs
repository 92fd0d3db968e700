//! The `redis` broker end to end, with a real `redis-server` on 127.0.0.1 and broadcasts
//! placed by the publish script as Ruby's broadcaster runs it: sessions and history shared by
//! nodes and kept over a node's restart; the node's own cache and Redis merged once each;
//! Redis away (live delivery goes on, history and restores refused) and back.

mod support;

use std::sync::atomic::Ordering;

use anycable_engine::broker::PUBLISH_SCRIPT;
use anycable_engine::config::{BroadcastAdapter, BrokerAdapter, Config};
use anycable_engine::metrics::Counter;
use anycable_engine::node::Node;
use redis::aio::MultiplexedConnection;
use serde_json::json;
use support::extended::{extended_subscriber, next_message, publish, replayed};
use support::redis_server::RedisServer;
use support::{chat, start, Client, Server, WAIT};
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;

fn config(url: &str) -> Config {
    Config {
        broker: BrokerAdapter::Redis,
        broadcast_adapter: BroadcastAdapter::Redis,
        redis_url: Some(url.to_owned()),
        ..Config::default()
    }
}

async fn connection(url: &str) -> MultiplexedConnection {
    let client = redis::Client::open(url).unwrap();
    tokio::time::timeout(WAIT, client.get_multiplexed_async_connection()).await.unwrap().unwrap()
}

/// Broadcasts `{"n": n}` on `chat:1` as a publisher of another process does with the broker:
/// placed and PUBLISHed by the script. Returns how many nodes got it.
/// `ep0001` is the epoch Redis takes when it has none.
async fn place(conn: &mut MultiplexedConnection, n: u64) -> i64 {
    place_as(conn, n, "ep0001").await
}

async fn place_as(conn: &mut MultiplexedConnection, n: u64, epoch: &str) -> i64 {
    let publication = json!({"stream": "chat:1", "data": json!({ "n": n }).to_string()}).to_string();
    let mut eval = redis::cmd("EVAL");
    eval.arg(PUBLISH_SCRIPT).arg(0).arg("__anycable__").arg(publication).arg(100).arg(300).arg(epoch);
    tokio::time::timeout(WAIT, eval.query_async(conn)).await.unwrap().unwrap()
}

async fn started(url: &str) -> Server {
    let server = start(config(url));
    server.eventually("Redis connected", |n| n.stats().redis_connected == Some(true)).await;
    server
}

fn counter(node: &Node, counter: Counter) -> u64 {
    node.metrics().iter().find(|s| s.name == counter.name()).map_or(0, |s| s.value)
}

/// `confirm_history` or `reject_history`, whichever comes first.
async fn history_answer(client: &mut Client) -> String {
    let answer = client.until(|m| m["type"].as_str().is_some_and(|t| t.ends_with("_history"))).await;
    answer["type"].as_str().unwrap().to_owned()
}

/// Restores `sid` on `server` and asks for `chat:1` after `offset` of `epoch`: (what it replays,
/// the new sid).
async fn restore(server: &Server, sid: &str, epoch: &str, offset: u64) -> (Client, Vec<u64>, String) {
    let mut back = server.extended("alice", Some(sid)).await;
    let welcome = back.next_json().await;
    assert_eq!(welcome["restored"], true, "{welcome}");
    back.send(json!({"command": "history", "identifier": chat("1"),
        "history": {"streams": {"chat:1": {"epoch": epoch, "offset": offset}}}}))
        .await;
    let seen = replayed(&mut back, "/message/n").await;
    (back, seen, welcome["sid"].as_str().unwrap().to_owned())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_outlives_its_node_and_is_restored_with_its_history_on_another() {
    let redis = RedisServer::start();
    let mut conn = connection(&redis.url()).await;
    let first = started(&redis.url()).await;
    let other = started(&redis.url()).await;
    let (mut alice, sid) = extended_subscriber(&first, "alice").await;
    let (mut stock, _) = other.subscribed("bob", "1").await;
    assert_eq!(place(&mut conn, 1).await, 2, "both nodes listen");
    let (n, first_offset, epoch) = next_message(&mut alice).await;
    assert_eq!((n, epoch.as_str()), (1, "ep0001"), "the place Redis gave it");
    assert!(first_offset > 1_700_000_000_000, "a new stream's offsets start from Unix time × 1000");
    let offset_of = |n: u64| first_offset + n - 1;
    assert_eq!(
        stock.until(|m| m["message"]["n"] == 1).await["offset"],
        first_offset,
        "the same place on every node"
    );

    // A deploy: the first node shuts down and its sessions go to Redis. The extended client is
    // closed with 1012 and no `disconnect` message (on which it would forget its sid); the stock
    // client of a node going down would get `server_restart`.
    let (mut carol, _) = first.subscribed("carol", "1").await;
    assert!(tokio::time::timeout(WAIT, first.node.shutdown()).await.unwrap());
    let (frames, close) = alice.until_close().await;
    assert!(frames.iter().all(|f| f["type"] != "disconnect"), "{frames:?}");
    let close = close.expect("a close frame");
    assert_eq!((close.code, close.reason.as_str()), (CloseCode::Restart, "server_restart"));
    let (frames, _) = carol.until_close().await;
    assert!(frames.iter().any(|f| f["reason"] == "server_restart"), "{frames:?}");
    for n in 2..=4 {
        place(&mut conn, n).await;
    }
    stock.until(|m| m["message"]["n"] == 4).await;

    // A node started after them has none of it in its cache: the history comes from Redis,
    // then what it saw itself, once each and in order.
    let fresh = started(&redis.url()).await;
    let (mut back, mut seen, restored_sid) = restore(&fresh, &sid, &epoch, offset_of(1)).await;
    place(&mut conn, 5).await;
    while seen.last() != Some(&5) {
        seen.push(next_message(&mut back).await.0);
    }
    assert_eq!(seen, [2, 3, 4, 5]);
    assert_eq!(fresh.app.connects.load(Ordering::SeqCst), 0, "no connect call for a restore");
    assert_eq!(fresh.app.commands.load(Ordering::SeqCst), 0, "no subscribed call for a restore");

    // A network drop on the new node: restored from its own memory and cache (6, 7 seen live by it).
    drop(back);
    fresh.eventually("the disconnect call", |_| fresh.app.disconnects.lock().unwrap().len() == 1).await;
    for n in 6..=7 {
        place(&mut conn, n).await;
    }
    stock.until(|m| m["message"]["n"] == 7).await;
    let (_again, seen, _) = restore(&other, &restored_sid, &epoch, offset_of(5)).await;
    assert_eq!(seen, [6, 7], "restored on the other node too");
    let mut wrong = fresh.extended("mallory", None).await;
    wrong.next_json().await;
    wrong
        .send(json!({"command": "subscribe", "identifier": chat("1"),
            "history": {"streams": {"chat:1": {"epoch": "other", "offset": 1}}}}))
        .await;
    assert_eq!(history_answer(&mut wrong).await, "reject_history", "another epoch");
    assert_eq!(counter(&fresh.node, Counter::BrokerErrors), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_redis_broadcasts_still_go_out_live_and_after_a_restart_a_new_epoch_begins() {
    let mut redis = RedisServer::start();
    let server = started(&redis.url()).await;
    let (mut alice, sid) = extended_subscriber(&server, "alice").await;
    let mut conn = connection(&redis.url()).await;
    place(&mut conn, 1).await;
    let (_, _, epoch) = next_message(&mut alice).await;

    redis.kill();
    server.eventually("Redis lost", |n| n.stats().redis_connected == Some(false)).await;
    // What Ruby's broadcaster does when Redis is away: this process's node delivers it.
    publish(&server, 2);
    let m = alice.until(|m| m["message"]["n"] == 2).await;
    assert!(m.get("offset").is_none(), "live, without a position: {m}");
    assert_eq!(counter(&server.node, Counter::BroadcastUnplaced), 1);
    alice
        .send(json!({"command": "history", "identifier": chat("1"),
        "history": {"streams": {"chat:1": {"epoch": "elsewhere", "offset": 0}}}}))
        .await;
    assert_eq!(history_answer(&mut alice).await, "reject_history");
    assert_eq!(counter(&server.node, Counter::BrokerErrors), 1, "Redis could not be read");

    // Redis comes back empty (no persistence): a new epoch, and the old one is refused.
    redis.restart();
    server.eventually("Redis back", |n| n.stats().redis_connected == Some(true)).await;
    let mut conn = connection(&redis.url()).await;
    place_as(&mut conn, 3, "ep0002").await;
    let (n, _, new_epoch) = next_message(&mut alice).await;
    assert_eq!((n, new_epoch.as_str()), (3, "ep0002"));
    drop(alice);
    server.eventually("the disconnect call", |_| server.app.disconnects.lock().unwrap().len() == 1).await;
    let mut back = server.extended("alice", Some(&sid)).await;
    assert_eq!(back.next_json().await["restored"], true, "kept in this process while Redis was away");
    back.send(json!({"command": "history", "identifier": chat("1"),
        "history": {"streams": {"chat:1": {"epoch": epoch, "offset": 1}}}}))
        .await;
    assert_eq!(history_answer(&mut back).await, "reject_history", "the epoch before the restart");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn history_older_than_history_ttl_is_rejected() {
    let redis = RedisServer::start();
    let mut conn = connection(&redis.url()).await;
    let server = start(Config { history_ttl: std::time::Duration::from_secs(1), ..config(&redis.url()) });
    server.eventually("Redis connected", |n| n.stats().redis_connected == Some(true)).await;
    let (mut alice, _) = extended_subscriber(&server, "alice").await;
    place(&mut conn, 1).await;
    place(&mut conn, 2).await;
    let (_, first, epoch) = next_message(&mut alice).await;
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    // A node that did not see them asks Redis, which still holds them but past history_ttl.
    let fresh = start(Config { history_ttl: std::time::Duration::from_secs(1), ..config(&redis.url()) });
    let mut late = fresh.extended("bob", None).await;
    late.next_json().await;
    late.send(json!({"command": "subscribe", "identifier": chat("1"),
        "history": {"streams": {"chat:1": {"epoch": epoch, "offset": first}}}}))
        .await;
    assert_eq!(history_answer(&mut late).await, "reject_history");
}
