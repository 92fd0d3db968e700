//! Reliable delivery end to end over 127.0.0.1: AnyCable's extended protocol with the memory
//! broker — stream positions on broadcasts, session restore without app calls, history
//! requests answered in order and once each, rejected history, `pong_timeout` — next to a
//! stock `actioncable-v1-json` client.

mod support;

use std::sync::atomic::Ordering;
use std::time::Duration;

use anycable_engine::config::{BrokerAdapter, Config};
use serde_json::{json, Value};
use support::extended::{extended_subscriber, next_message, publish, replayed};
use support::{chat, start};
use tokio_tungstenite::tungstenite::Message;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_comes_back_gets_its_session_and_what_it_missed_in_order_once() {
    let server = start(Config::default());
    let (mut alice, sid) = extended_subscriber(&server, "alice").await;
    let (mut stock, _) = server.subscribed("bob", "1").await;
    publish(&server, 1);
    let (n, offset, epoch) = next_message(&mut alice).await;
    assert_eq!((n, offset), (1, 1));
    let m = stock.until(|m| m["message"]["n"] == 1).await;
    assert_eq!(m["offset"], 1, "stock clients get the same frame; they ignore the extra fields");

    drop(alice); // the network drops: no close frame
    server.eventually("alice's disconnect call", |_| server.app.disconnects.lock().unwrap().len() == 1).await;
    for n in 2..=4 {
        publish(&server, n);
    }
    stock.until(|m| m["message"]["n"] == 4).await;

    let (connects, commands) =
        (server.app.connects.load(Ordering::SeqCst), server.app.commands.load(Ordering::SeqCst));
    let mut back = server.extended("alice", Some(&sid)).await;
    let welcome = back.next_json().await;
    assert_eq!(welcome["type"], "welcome");
    assert_eq!(welcome["restored"], true, "{welcome}");
    assert_eq!(welcome["restored_ids"], json!([chat("1")]));
    assert_ne!(welcome["sid"], sid.as_str(), "a restored session gets a sid of its own");
    // Published while the client asks for its history: it must come once, after the history.
    publish(&server, 5);
    back.send(json!({"command": "history", "identifier": chat("1"),
        "history": {"streams": {"chat:1": {"epoch": epoch, "offset": 1}}}}))
        .await;
    let mut seen = replayed(&mut back, "/message/n").await;
    publish(&server, 6);
    while seen.last() != Some(&6) {
        seen.push(next_message(&mut back).await.0);
    }
    assert_eq!(seen, [2, 3, 4, 5, 6], "every missed message, in order, none twice");
    assert_eq!(server.app.connects.load(Ordering::SeqCst), connects, "no connect call for a restore");
    assert_eq!(server.app.commands.load(Ordering::SeqCst), commands, "no subscribed call for a restore");

    // The restored subscription carries its state: the channel's counter goes on.
    back.send(
        json!({"command": "message", "identifier": chat("1"), "data": json!({"action": "echo"}).to_string()}),
    )
    .await;
    let echo = back.until(|m| m["message"]["istate"].is_object()).await;
    assert_eq!(echo["message"]["istate"]["room"], "1");
    assert_eq!(echo["message"]["cstate"]["seen"], "1");
    assert_eq!(echo["message"]["identifiers"], json!({"user": "alice"}).to_string());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn history_of_another_epoch_or_no_longer_kept_is_rejected_and_the_stream_still_goes_live() {
    let server = start(Config { history_limit: 2, ..Config::default() });
    let (mut alice, _) = extended_subscriber(&server, "alice").await;
    for n in 1..=4 {
        publish(&server, n);
    }
    let (_, _, epoch) = next_message(&mut alice).await;
    let ask = |epoch: &str, offset: u64| {
        json!({"command": "history", "identifier": chat("1"),
            "history": {"streams": {"chat:1": {"epoch": epoch, "offset": offset}}}})
    };
    alice.send(ask("elsewhere", 1)).await;
    assert_eq!(
        alice.until(|m| m["type"].as_str().is_some_and(|t| t.ends_with("_history"))).await["type"],
        "reject_history"
    );
    alice.send(ask(&epoch, 1)).await; // 2 is gone: only 3 and 4 are kept
    assert_eq!(
        alice.until(|m| m["type"].as_str().is_some_and(|t| t.ends_with("_history"))).await["type"],
        "reject_history"
    );
    alice.send(ask(&epoch, 2)).await;
    assert_eq!(replayed(&mut alice, "/offset").await, [3, 4]);

    // A new session that subscribes with history from a time gets what was kept since then.
    let mut carol = server.extended("carol", None).await;
    carol.next_json().await;
    let since = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() - 60;
    carol.send(json!({"command": "subscribe", "identifier": chat("1"), "history": {"since": since}})).await;
    let order: Vec<Value> = [
        carol.until(|m| m["type"] == "confirm_subscription").await["type"].clone(),
        carol.until(|m| m["stream_id"] == "chat:1").await["offset"].clone(),
        carol.until(|m| m["stream_id"] == "chat:1").await["offset"].clone(),
        carol.until(|m| m["type"] == "confirm_history").await["type"].clone(),
    ]
    .into();
    assert_eq!(order, [json!("confirm_subscription"), json!(3), json!(4), json!("confirm_history")]);
    publish(&server, 5);
    assert_eq!(next_message(&mut carol).await.1, 5, "live after the history");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_are_restored_only_for_extended_clients_with_a_known_sid() {
    let server = start(Config::default());
    let (alice, sid) = extended_subscriber(&server, "alice").await;
    drop(alice);
    server.eventually("the disconnect call", |_| server.app.disconnects.lock().unwrap().len() == 1).await;
    let connects = server.app.connects.load(Ordering::SeqCst);

    let mut unknown = server.extended("alice", Some("nobody-1")).await;
    assert!(unknown.next_json().await.get("restored").is_none());
    let mut stock =
        server.client_at(Some("alice"), &["actioncable-v1-json"], &format!("sid={sid}"), None).await;
    assert!(stock.next_json().await.get("restored").is_none(), "stock clients always connect");
    assert_eq!(server.app.connects.load(Ordering::SeqCst), connects + 2);

    let mut by_header =
        server.client_at(Some("alice"), &["actioncable-v1-ext-json"], "x=1", Some(&sid)).await;
    let welcome = by_header.next_json().await;
    assert_eq!(welcome["restored"], true, "the X-AnyCable-Restore-Sid header works too");

    // A session the app closed (a remote disconnect) is not kept: `connect` must decide again.
    let restored_sid = welcome["sid"].as_str().unwrap().to_owned();
    assert_eq!(server.node.disconnect_remote(&json!({"user": "alice"}).to_string(), true), 3);
    by_header.until_close().await;
    // Their disconnect calls come after what would have kept them.
    server
        .eventually("three more disconnect calls", |_| server.app.disconnects.lock().unwrap().len() == 4)
        .await;
    let mut after_remote = server.extended("alice", Some(&restored_sid)).await;
    assert!(after_remote.next_json().await.get("restored").is_none());
    let guessed = format!("{}x", &sid[..sid.len() - 1]);
    let mut guessing = server.extended("mallory", Some(&guessed)).await;
    assert!(guessing.next_json().await.get("restored").is_none(), "a sid that is off by one is nobody's");

    let off = start(Config { broker: BrokerAdapter::None, ..Config::default() });
    let (alice, sid) = extended_subscriber(&off, "alice").await;
    drop(alice);
    off.eventually("the disconnect call", |_| off.app.disconnects.lock().unwrap().len() == 1).await;
    let mut again = off.extended("alice", Some(&sid)).await;
    assert!(again.next_json().await.get("restored").is_none(), "broker none keeps no sessions");
    let (mut bob, _) = off.subscribed("bob", "1").await;
    publish(&off, 1);
    let m = bob.until(|m| m["message"]["n"] == 1).await;
    assert!(m.get("offset").is_none(), "broker none: no positions");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_extended_client_that_stops_answering_pings_is_closed_with_no_pong() {
    let config = Config {
        ping_interval: Duration::from_secs(1),
        pong_timeout: Duration::from_secs(1),
        ..Config::default()
    };
    let server = start(config);
    let (mut silent, _) = extended_subscriber(&server, "alice").await;
    let (mut answering, _) = extended_subscriber(&server, "bob").await;
    let (mut stock, _) = server.subscribed("carol", "1").await;
    let started = std::time::Instant::now();
    let (frames, _) = tokio::join!(silent.until_close(), async {
        // bob answers each ping, as @anycable/core does with `pongs: true`
        let mut answered = 0;
        while answered < 3 {
            if let Message::Text(text) = answering.next().await {
                if text.contains(r#""type":"ping""#) {
                    answering.send(json!({"command": "pong"})).await;
                    answered += 1;
                }
            }
        }
    })
    .0;
    assert!(
        frames.contains(&json!({"type": "disconnect", "reason": "no_pong", "reconnect": true})),
        "{frames:?}"
    );
    assert!(started.elapsed() < Duration::from_secs(4), "closed after ping_interval + pong_timeout");
    publish(&server, 1);
    assert_eq!(next_message(&mut answering).await.0, 1, "a client that answers stays");
    stock.until(|m| m["message"]["n"] == 1).await; // stock clients never pong and are not checked
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_transient_broadcast_is_delivered_live_and_never_kept() {
    let server = start(Config::default());
    let (mut alice, _) = extended_subscriber(&server, "alice").await;
    publish(&server, 1);
    let (_, _, epoch) = next_message(&mut alice).await;
    let transient =
        json!({"stream": "chat:1", "data": json!({"n": 2}).to_string(), "meta": {"transient": true}});
    assert_eq!(server.node.publish_raw(transient.to_string().as_bytes()), Ok(1));
    let live = alice.until(|m| m["message"]["n"] == 2).await;
    assert!(live.get("offset").is_none(), "no position: {live}");
    publish(&server, 3);
    assert_eq!(next_message(&mut alice).await.1, 2, "the next kept one is offset 2");
    alice
        .send(json!({"command": "history", "identifier": chat("1"),
            "history": {"streams": {"chat:1": {"epoch": epoch, "offset": 0}}}}))
        .await;
    assert_eq!(replayed(&mut alice, "/message/n").await, [1, 3]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restored_stream_that_went_live_without_history_replays_only_what_came_before() {
    let server = start(Config::default());
    let (alice, sid) = extended_subscriber(&server, "alice").await;
    drop(alice);
    server.eventually("alice's disconnect call", |_| server.app.disconnects.lock().unwrap().len() == 1).await;
    let mut back = server.extended("alice", Some(&sid)).await;
    assert_eq!(back.next_json().await["restored"], true);
    publish(&server, 1); // kept for the history the client has not asked for yet
                         // No history request within 5 s: the stream goes live without one.
    tokio::time::sleep(Duration::from_millis(5300)).await;
    publish(&server, 2);
    let (n, _, epoch) = next_message(&mut back).await;
    assert_eq!(n, 2, "live after the wait");
    // A history request from before 1: only 1 is replayed; 2 came live.
    back.send(json!({"command": "history", "identifier": chat("1"),
        "history": {"streams": {"chat:1": {"epoch": epoch, "offset": 0}}}}))
        .await;
    assert_eq!(replayed(&mut back, "/message/n").await, [1]);
}
