//! Subscriptions answered without the app, end to end over 127.0.0.1: `Turbo::StreamsChannel`
//! and `$pubsub` signed names verified by the node (confirm + stream, or reject), the cases it
//! leaves to the app, public streams, and `$pubsub` kept out of `Disconnect`.

mod support;

use std::sync::atomic::Ordering;
use std::time::Duration;

use anycable_engine::config::Config;
use anycable_engine::secret::Secret;
use anycable_engine::streams::Verifier;
use base64::Engine as _;
use serde_json::{json, Value};
use support::{start, Client, Server};

const TURBO_KEY: &str = "turbo-key";

fn config() -> Config {
    Config {
        turbo_streams_secret: Some(Secret::new(TURBO_KEY)),
        secret: Some(Secret::new("app-secret")),
        ..Config::default()
    }
}

fn turbo(signed: &str) -> String {
    json!({ "channel": "Turbo::StreamsChannel", "signed_stream_name": signed }).to_string()
}

fn pubsub(key: &str, value: &str) -> String {
    json!({ "channel": "$pubsub", key: value }).to_string()
}

async fn subscribe(client: &mut Client, identifier: &str) -> Value {
    client.send(json!({ "command": "subscribe", "identifier": identifier })).await;
    client.until(|m| m["identifier"] == identifier && m["type"].as_str().is_some()).await
}

fn commands(server: &Server) -> usize {
    server.app.commands.load(Ordering::SeqCst)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn turbo_subscribes_are_verified_and_answered_without_the_app() {
    let server = start(config());
    let mut alice = server.client("alice").await;
    let valid = turbo(&Verifier::new(TURBO_KEY.as_bytes()).sign("gid://app/Room/1:messages"));
    let confirm = subscribe(&mut alice, &valid).await;
    assert_eq!(confirm, json!({ "identifier": valid, "type": "confirm_subscription" }));
    let forged = turbo(&Verifier::new(b"another key").sign("gid://app/Room/2:messages"));
    let reject = subscribe(&mut alice, &forged).await;
    assert_eq!(reject, json!({ "identifier": forged, "type": "reject_subscription" }));
    assert_eq!(commands(&server), 0, "no call to the app");

    let html = "<turbo-stream action=\"append\" target=\"messages\"></turbo-stream>";
    server.node.publish("gid://app/Room/1:messages".into(), Value::from(html).to_string(), None);
    let m = alice.until(|m| m["message"].is_string()).await;
    assert_eq!((&m["identifier"], &m["message"]), (&json!(valid), &json!(html)));

    alice.send(json!({ "command": "unsubscribe", "identifier": valid })).await;
    server.eventually("the stream has no subscriber left", |node| node.stats().streams == 0).await;
    assert_eq!(commands(&server), 0, "unsubscribing is no call either");
    // Subscribed again after it: a new confirmation.
    assert_eq!(subscribe(&mut alice, &valid).await["type"], "confirm_subscription");

    drop(alice);
    server.eventually("the disconnect call", |_| server.app.disconnects.lock().unwrap().len() == 1).await;
    let disconnects = server.app.disconnects.lock().unwrap();
    assert_eq!(disconnects[0].subscriptions, [valid], "the app's disconnect sees Turbo subscriptions");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn what_only_the_app_can_decide_goes_to_the_app() {
    let server = start(config());
    let mut alice = server.client("alice").await;
    let key = Verifier::new(TURBO_KEY.as_bytes());
    // No name, or a signed value that is not a string: the app's channel decides.
    let nameless = json!({ "channel": "Turbo::StreamsChannel" }).to_string();
    assert_eq!(subscribe(&mut alice, &nameless).await["type"], "confirm_subscription");
    assert_eq!(commands(&server), 1);
    let encoded = base64::engine::general_purpose::STANDARD.encode("42");
    let tag = ring::hmac::sign(
        &ring::hmac::Key::new(ring::hmac::HMAC_SHA256, TURBO_KEY.as_bytes()),
        encoded.as_bytes(),
    );
    let hex: String = tag.as_ref().iter().map(|b| format!("{b:02x}")).collect();
    let number = turbo(&format!("{encoded}--{hex}"));
    assert_eq!(subscribe(&mut alice, &number).await["type"], "confirm_subscription");
    assert_eq!(commands(&server), 2);
    // Other channels are the app's, of course.
    assert_eq!(subscribe(&mut alice, &support::chat("1")).await["type"], "confirm_subscription");
    assert_eq!(commands(&server), 3);

    // With turbo_streams off, every Turbo subscribe is a call.
    let server = start(Config { turbo_streams: false, ..config() });
    let mut bob = server.client("bob").await;
    let forged = turbo(&Verifier::new(b"another key").sign("x"));
    assert_eq!(
        subscribe(&mut bob, &forged).await["type"],
        "confirm_subscription",
        "the test app confirms all"
    );
    assert_eq!(commands(&server), 1);

    // Without a key for it, too.
    let server = start(Config::default());
    let mut carol = server.client("carol").await;
    subscribe(&mut carol, &turbo(&key.sign("x"))).await;
    assert_eq!(commands(&server), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pubsub_streams_are_signed_with_the_streams_secret_and_never_reach_the_app() {
    let server = start(config());
    let mut alice = server.client("alice").await;
    let signed = pubsub("signed_stream_name", &Verifier::new(b"app-secret").sign("news"));
    assert_eq!(subscribe(&mut alice, &signed).await["type"], "confirm_subscription");
    let public = pubsub("stream_name", "news");
    assert_eq!(subscribe(&mut alice, &public).await["type"], "reject_subscription", "public_streams is off");
    let forged = pubsub("signed_stream_name", &Verifier::new(TURBO_KEY.as_bytes()).sign("news"));
    assert_eq!(subscribe(&mut alice, &forged).await["type"], "reject_subscription");
    alice.send(json!({ "command": "message", "identifier": signed, "data": "{\"action\":\"x\"}" })).await;
    server.node.publish("news".into(), json!({ "n": 1 }).to_string(), None);
    let m = alice.until(|m| m.get("message").is_some()).await;
    let got = (&m["identifier"], &m["message"]);
    assert_eq!(got, (&json!(signed), &json!({ "n": 1 })), "a message to $pubsub harms nothing");
    assert_eq!(commands(&server), 0);
    drop(alice);
    server.eventually("the disconnect call", |_| server.app.disconnects.lock().unwrap().len() == 1).await;
    let disconnect = server.app.disconnects.lock().unwrap()[0].clone();
    assert!(disconnect.subscriptions.is_empty(), "{disconnect:?}");
    assert!(disconnect.env.istate.is_empty(), "{disconnect:?}");

    // streams_secret wins over secret; public streams when allowed.
    let server =
        start(Config { streams_secret: Some(Secret::new("streams")), public_streams: true, ..config() });
    let mut bob = server.client("bob").await;
    assert_eq!(subscribe(&mut bob, &signed).await["type"], "reject_subscription");
    let signed = pubsub("signed_stream_name", &Verifier::new(b"streams").sign("news"));
    assert_eq!(subscribe(&mut bob, &signed).await["type"], "confirm_subscription");
    assert_eq!(subscribe(&mut bob, &public).await["type"], "confirm_subscription");
    server.node.publish("news".into(), json!("hi").to_string(), None);
    let mut got = [bob.until(|m| m["message"] == "hi").await, bob.until(|m| m["message"] == "hi").await];
    got.sort_by_key(|m| m["identifier"].as_str().map(str::len));
    assert_eq!(got[0]["identifier"], public);
    assert_eq!(got[1]["identifier"], signed);
    bob.silent(Duration::from_millis(200)).await;

    // With no secret at all, signed names cannot be checked: rejected.
    let server = start(Config::default());
    let mut carol = server.client("carol").await;
    assert_eq!(subscribe(&mut carol, &signed).await["type"], "reject_subscription");
    assert_eq!(commands(&server), 0);
}
