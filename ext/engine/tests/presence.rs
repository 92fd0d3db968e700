//! Presence end to end over 127.0.0.1 with the `memory` broker: `$pubsub` subscribers
//! (`streams_presence`) join, leave and ask who is there, with no call to the app; events are
//! `presence` frames to every subscriber of the stream; a closed client leaves `presence_ttl`
//! later, a restored one does not leave at all.

mod support;

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use anycable_engine::config::Config;
use serde_json::{json, Value};
use support::{start, Client, Server};

fn config() -> Config {
    Config {
        public_streams: true,
        streams_presence: true,
        presence_ttl: Duration::from_secs(1),
        ..Config::default()
    }
}

fn lobby() -> String {
    json!({"channel": "$pubsub", "stream_name": "lobby"}).to_string()
}

async fn subscribed(server: &Server, user: &str) -> Client {
    let mut client = server.client(user).await;
    assert_eq!(client.next_json().await["type"], "welcome");
    client.send(json!({"command": "subscribe", "identifier": lobby()})).await;
    client.until(|m| m["type"] == "confirm_subscription").await;
    client
}

async fn presence(client: &mut Client) -> Value {
    let got = client.until(|m| m["type"] == "presence").await;
    assert_eq!(got["identifier"], lobby(), "{got}");
    got["message"].clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subscribers_join_leave_and_ask_who_is_there_without_the_app() {
    let server = start(config());
    let (mut alice, mut bob) = (subscribed(&server, "alice").await, subscribed(&server, "bob").await);
    let commands = server.app.commands.load(Ordering::SeqCst);

    alice
        .send(json!({"command": "join", "identifier": lobby(), "presence": {"id": "a", "info": {"n": 1}}}))
        .await;
    let joined = json!({"type": "join", "id": "a", "info": {"n": 1}});
    assert_eq!(presence(&mut alice).await, joined, "the joiner hears it too");
    assert_eq!(presence(&mut bob).await, joined);
    bob.send(json!({"command": "presence", "identifier": lobby(), "data": {"return_records": true}})).await;
    assert_eq!(
        presence(&mut bob).await,
        json!({"type": "info", "total": 1, "records": [{"id": "a", "info": {"n": 1}}]})
    );
    alice.send(json!({"command": "leave", "identifier": lobby()})).await;
    assert_eq!(presence(&mut bob).await, json!({"type": "leave", "id": "a"}));
    assert_eq!(presence(&mut alice).await, json!({"type": "leave", "id": "a"}));

    // Leaving the channel leaves the set.
    bob.send(json!({"command": "join", "identifier": lobby(), "presence": {"id": 7}})).await;
    assert_eq!(presence(&mut alice).await, json!({"type": "join", "id": "7"}));
    bob.send(json!({"command": "unsubscribe", "identifier": lobby()})).await;
    assert_eq!(presence(&mut alice).await, json!({"type": "leave", "id": "7"}));
    assert_eq!(server.app.commands.load(Ordering::SeqCst), commands, "no call to the app");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_closed_client_leaves_after_the_ttl_and_a_restored_one_stays() {
    let server = start(config());
    let mut watcher = subscribed(&server, "watcher").await;
    let mut gone = subscribed(&server, "gone").await;
    gone.send(json!({"command": "join", "identifier": lobby(), "presence": {"id": "gone"}})).await;
    presence(&mut watcher).await;

    let mut back = server.extended("back", None).await;
    let sid = back.next_json().await["sid"].as_str().unwrap().to_owned();
    back.send(json!({"command": "subscribe", "identifier": lobby()})).await;
    back.until(|m| m["type"] == "confirm_subscription").await;
    back.send(json!({"command": "join", "identifier": lobby(), "presence": {"id": "back"}})).await;
    assert_eq!(presence(&mut watcher).await["id"], "back");

    let closed = Instant::now();
    drop(gone);
    drop(back);
    let mut restored = server.extended("back", Some(&sid)).await;
    assert_eq!(restored.next_json().await["restored"], true);

    assert_eq!(presence(&mut watcher).await, json!({"type": "leave", "id": "gone"}));
    assert!(
        closed.elapsed() >= Duration::from_millis(900),
        "left before presence_ttl: {:?}",
        closed.elapsed()
    );
    watcher.silent(Duration::from_millis(1500)).await; // no leave of "back": its session is here again
    watcher.send(json!({"command": "presence", "identifier": lobby(), "data": {}})).await;
    assert_eq!(
        presence(&mut watcher).await,
        json!({"type": "info", "total": 1, "records": [{"id": "back"}]})
    );
}
