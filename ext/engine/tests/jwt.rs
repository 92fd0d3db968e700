//! JWT identification end to end over 127.0.0.1: a client with a token signed with
//! `jwt_secret` (or `secret`) is welcomed with the token's identifiers and no `Connect` call;
//! expired and forged tokens are refused with their reasons; `enforce_jwt`.

mod support;

use std::sync::atomic::Ordering;

use std::time::Duration;

use anycable_engine::config::{Config, DisconnectMode};
use anycable_engine::identity::JwtKey;
use anycable_engine::secret::Secret;
use anycable_engine::streams::Verifier;
use serde_json::{json, Value};
use support::{chat, start, Client, Server};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

const SECRET: &str = "jwt-secret";

fn config() -> Config {
    Config { jwt_secret: Some(Secret::new(SECRET)), secret: Some(Secret::new("app")), ..Config::default() }
}

fn token(identifiers: &Value, exp: Option<u64>) -> String {
    JwtKey::new(SECRET.as_bytes()).sign(&identifiers.to_string(), exp)
}

fn now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs()
}

/// A client without the `user` cookie (the test app refuses those), with `header` if given.
async fn anonymous(server: &Server, query: &str, header: Option<(&'static str, &str)>) -> Client {
    let mut request = format!("ws://{}/cable?{query}", server.addr).into_client_request().unwrap();
    request.headers_mut().insert("Sec-WebSocket-Protocol", "actioncable-v1-json".parse().unwrap());
    if let Some((name, value)) = header {
        request.headers_mut().insert(name, value.parse().unwrap());
    }
    let stream = TcpStream::connect(server.addr).await.unwrap();
    let (ws, _) = tokio_tungstenite::client_async(request, stream).await.unwrap();
    Client { ws, protocol: None }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_valid_token_identifies_the_connection_without_the_app() {
    let server = start(config());
    let identifiers = json!({ "user": "alice" });
    let valid = token(&identifiers, Some(now() + 60));
    for (query, header) in
        [(format!("jid={valid}"), None), ("x=1".to_owned(), Some(("X-JID", valid.as_str())))]
    {
        let mut client = anonymous(&server, &query, header).await;
        let welcome = client.next_json().await;
        assert_eq!(welcome["type"], "welcome", "{welcome}");
        assert!(welcome["sid"].as_str().is_some_and(|sid| !sid.is_empty()), "{welcome}");
        // Later calls carry the token's identifiers.
        client.send(json!({ "command": "subscribe", "identifier": chat("1") })).await;
        client.until(|m| m["type"] == "confirm_subscription").await;
        let echo = json!({ "action": "echo" }).to_string();
        client.send(json!({ "command": "message", "identifier": chat("1"), "data": echo })).await;
        let m = client.until(|m| m["message"]["identifiers"].is_string()).await;
        assert_eq!(m["message"]["identifiers"], identifiers.to_string());
    }
    assert_eq!(server.app.connects.load(Ordering::SeqCst), 0, "no connect call");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expired_and_forged_tokens_are_refused_with_their_reasons() {
    let server = start(config());
    let expired = token(&json!({ "user": "alice" }), Some(now() - 1));
    let mut client = anonymous(&server, &format!("jid={expired}"), None).await;
    let (frames, _) = client.until_close().await;
    assert_eq!(frames, [json!({ "type": "disconnect", "reason": "token_expired", "reconnect": false })]);

    let forged = JwtKey::new(b"another").sign(r#"{"user":"mallory"}"#, None);
    let mut client = anonymous(&server, &format!("jid={forged}"), None).await;
    let (frames, _) = client.until_close().await;
    assert_eq!(frames, [json!({ "type": "disconnect", "reason": "unauthorized", "reconnect": false })]);
    assert_eq!(server.app.connects.load(Ordering::SeqCst), 0);
    let failed = server.node.metrics().into_iter().find(|s| s.name == "failed_auths_total").map(|s| s.value);
    assert_eq!(failed, Some(2), "refusals count as the app's do");

    // No token: the app's connect decides (the test app wants a cookie).
    let mut bob = server.client("bob").await;
    assert_eq!(bob.next_json().await["type"], "welcome");
    assert_eq!(server.app.connects.load(Ordering::SeqCst), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn enforce_jwt_refuses_clients_without_a_token_and_no_key_leaves_tokens_to_the_app() {
    let server = start(Config { enforce_jwt: true, jwt_param: "token".into(), ..config() });
    let mut bob = server.client("bob").await;
    let (frames, _) = bob.until_close().await;
    assert_eq!(frames, [json!({ "type": "disconnect", "reason": "unauthorized", "reconnect": false })]);
    let valid = token(&json!({ "user": "carol" }), None);
    let mut carol = anonymous(&server, &format!("token={valid}"), None).await;
    assert_eq!(carol.next_json().await["type"], "welcome");
    let mut dave = anonymous(&server, "x=1", Some(("X-Token", valid.as_str()))).await;
    assert_eq!(dave.next_json().await["type"], "welcome");
    assert_eq!(server.app.connects.load(Ordering::SeqCst), 0);

    // secret defaults the key; with neither, a token means nothing to the node.
    let server = start(Config { secret: Some(Secret::new(SECRET)), ..Config::default() });
    let mut erin = anonymous(&server, &format!("jid={valid}"), None).await;
    assert_eq!(erin.next_json().await["type"], "welcome");
    let server = start(Config::default());
    let mut frank = anonymous(&server, &format!("jid={valid}"), None).await;
    let (frames, _) = frank.until_close().await;
    assert_eq!(frames[0]["reason"], "unauthorized", "the test app refuses a client without its cookie");
    assert_eq!(server.app.connects.load(Ordering::SeqCst), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_the_app_never_saw_gets_no_disconnect_call_unless_disconnect_mode_says_always() {
    for (mode, calls) in [(DisconnectMode::Auto, 1), (DisconnectMode::Always, 2), (DisconnectMode::Never, 0)]
    {
        let server = start(Config { disconnect_mode: mode, ..config() });
        let pubsub =
            json!({ "channel": "$pubsub", "signed_stream_name": Verifier::new(b"app").sign("room") })
                .to_string();
        // Only answers without the app: a JWT connect and a signed $pubsub stream.
        let mut unseen =
            anonymous(&server, &format!("jid={}", token(&json!({ "user": "ann" }), None)), None).await;
        assert_eq!(unseen.next_json().await["type"], "welcome");
        unseen.send(json!({ "command": "subscribe", "identifier": pubsub })).await;
        unseen.until(|m| m["type"] == "confirm_subscription").await;
        // The same, and one channel of the app.
        let mut seen =
            anonymous(&server, &format!("jid={}", token(&json!({ "user": "bea" }), None)), None).await;
        assert_eq!(seen.next_json().await["type"], "welcome");
        seen.send(json!({ "command": "subscribe", "identifier": chat("1") })).await;
        seen.until(|m| m["type"] == "confirm_subscription").await;
        drop((unseen, seen));
        if calls > 0 {
            server
                .eventually("the disconnect calls", |_| server.app.disconnects.lock().unwrap().len() == calls)
                .await;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
        let disconnects = server.app.disconnects.lock().unwrap();
        assert_eq!(disconnects.len(), calls, "{mode:?}: {disconnects:?}");
        if mode == DisconnectMode::Auto {
            assert_eq!(disconnects[0].identifiers, r#"{"user":"bea"}"#);
        }
    }
}
