//! Whispers end to end over 127.0.0.1: a subscription with a whisper stream (istate `$w`)
//! reaches every other subscriber of that stream, never the sender, never the app, never
//! history; one without cannot whisper; `$pubsub` whispers with `streams_whisper`.

mod support;

use std::sync::atomic::Ordering;
use std::time::Duration;

use anycable_engine::config::Config;
use anycable_engine::secret::Secret;
use anycable_engine::streams::Verifier;
use serde_json::{json, Value};
use support::{chat, start, Client};

fn whisperer(room: &str) -> String {
    json!({"channel": "Whisper", "room": room}).to_string()
}

async fn subscribe(client: &mut Client, identifier: &str) {
    assert_eq!(client.next_json().await["type"], "welcome");
    client.send(json!({"command": "subscribe", "identifier": identifier})).await;
    client.until(|m| m["type"] == "confirm_subscription").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_whisper_reaches_the_other_subscribers_only() {
    let server = start(Config::default());
    let id = whisperer("1");
    let (mut alice, mut bob, mut carol) =
        (server.client("alice").await, server.client("bob").await, server.client("carol").await);
    for client in [&mut alice, &mut bob] {
        subscribe(client, &id).await;
    }
    subscribe(&mut carol, &chat("1")).await; // the same stream through another channel
    let commands = server.app.commands.load(Ordering::SeqCst);

    alice.send(json!({"command": "whisper", "identifier": id, "data": {"typing": "alice"}})).await;
    let got = bob.until(|m| m.get("message").is_some()).await;
    assert_eq!(
        got,
        json!({"identifier": id, "message": {"typing": "alice"}}),
        "live only: no stream position"
    );
    let got = carol.until(|m| m.get("message").is_some()).await;
    assert_eq!(got["message"], json!({"typing": "alice"}));
    alice.silent(Duration::from_millis(200)).await;
    assert_eq!(server.app.commands.load(Ordering::SeqCst), commands, "no call to the app");

    // Never in history: a broadcast after it gets offset 1.
    server.node.publish("chat:1".into(), json!({"n": 1}).to_string(), None);
    let m = bob.until(|m| m["message"]["n"] == 1).await;
    assert_eq!(m["offset"], 1, "{m}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_a_subscription_with_a_whisper_stream_may_whisper() {
    let server = start(Config { max_invalid_commands: 1, ..Config::default() });
    let (mut alice, mut bob) = (server.client("alice").await, server.client("bob").await);
    subscribe(&mut alice, &chat("1")).await;
    subscribe(&mut bob, &chat("1")).await;
    let whisper = json!({"command": "whisper", "identifier": chat("1"), "data": {"x": 1}});
    alice.send(whisper.clone()).await;
    bob.silent(Duration::from_millis(300)).await;
    // Whispering on a channel it is not subscribed to, or once more without a stream: refused
    // like any invalid command (here the second one closes the connection).
    alice.send(whisper).await;
    let (frames, _) = alice.until_close().await;
    let last: &Value = frames.last().unwrap();
    assert_eq!(last["reason"], "invalid_request", "{frames:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pubsub_subscribers_whisper_with_streams_whisper() {
    let config = Config { secret: Some(Secret::new("s")), streams_whisper: true, ..Config::default() };
    let server = start(config);
    let id =
        json!({"channel": "$pubsub", "signed_stream_name": Verifier::new(b"s").sign("room")}).to_string();
    let (mut alice, mut bob) = (server.client("alice").await, server.client("bob").await);
    subscribe(&mut alice, &id).await;
    subscribe(&mut bob, &id).await;
    alice.send(json!({"command": "whisper", "identifier": id, "data": {"typing": true}})).await;
    assert_eq!(bob.until(|m| m.get("message").is_some()).await["message"], json!({"typing": true}));
    alice.silent(Duration::from_millis(200)).await;

    // Off by default.
    let server =
        start(Config { secret: Some(Secret::new("s")), max_invalid_commands: 0, ..Config::default() });
    let (mut alice, mut bob) = (server.client("alice").await, server.client("bob").await);
    subscribe(&mut alice, &id).await;
    subscribe(&mut bob, &id).await;
    alice.send(json!({"command": "whisper", "identifier": id, "data": {"typing": true}})).await;
    bob.silent(Duration::from_millis(300)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn whispers_over_max_whispers_per_second_are_dropped() {
    let server = start(Config { max_whispers_per_second: 3, max_invalid_commands: 0, ..Config::default() });
    let id = whisperer("1");
    let (mut alice, mut bob) = (server.client("alice").await, server.client("bob").await);
    subscribe(&mut alice, &id).await;
    subscribe(&mut bob, &id).await;
    for n in 0..10 {
        alice.send(json!({"command": "whisper", "identifier": id, "data": {"n": n}})).await;
    }
    let mut got = Vec::new();
    while let Ok(m) =
        tokio::time::timeout(Duration::from_millis(300), bob.until(|m| m.get("message").is_some())).await
    {
        got.push(m["message"]["n"].clone());
    }
    assert_eq!(got, [0, 1, 2], "a burst of three, the rest dropped");
}
