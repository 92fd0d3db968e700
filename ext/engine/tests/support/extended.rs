//! Extended-protocol helpers shared by the reliable-delivery tests: a subscribed extended
//! client, broadcasts numbered `n` on `chat:1`, and what a history request replays.

use serde_json::{json, Value};

use super::{chat, Client, Server};

/// Welcomed and subscribed to `Chat` in room 1 over the extended protocol: (client, sid).
pub async fn extended_subscriber(server: &Server, user: &str) -> (Client, String) {
    let mut client = server.extended(user, None).await;
    assert_eq!(client.protocol.as_deref(), Some("actioncable-v1-ext-json"));
    let sid = client.next_json().await["sid"].as_str().expect("a sid").to_owned();
    client.send(json!({"command": "subscribe", "identifier": chat("1")})).await;
    client.until(|m| m["type"] == "confirm_subscription").await;
    (client, sid)
}

pub fn publish(server: &Server, n: u64) {
    assert!(server.node.publish("chat:1".into(), json!({ "n": n }).to_string(), None));
}

/// The next broadcast on `chat:1`, as (n, offset, epoch).
pub async fn next_message(client: &mut Client) -> (u64, u64, String) {
    let m = client.until(|m| m["stream_id"] == "chat:1" || m["type"] == "confirm_history").await;
    assert_eq!(m["identifier"], chat("1"), "{m}");
    (
        m["message"]["n"].as_u64().expect("a broadcast"),
        m["offset"].as_u64().unwrap(),
        m["epoch"].as_str().unwrap().to_owned(),
    )
}

/// What a history request replays on `chat:1` (a field of each frame) up to `confirm_history`.
pub async fn replayed(client: &mut Client, field: &str) -> Vec<u64> {
    let mut seen = Vec::new();
    loop {
        let m = client.until(|m| m["type"] == "confirm_history" || m["stream_id"] == "chat:1").await;
        if m["type"] == "confirm_history" {
            return seen;
        }
        seen.push(m.pointer(field).and_then(Value::as_u64).expect("a numbered broadcast"));
    }
}
