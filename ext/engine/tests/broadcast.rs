//! Broadcasts applied by the node without Redis: `exclude_socket`, AnyCable publication bodies
//! (`publish_raw`, what the HTTP endpoint hands over) and remote disconnects.

mod support;

use std::time::Duration;

use anycable_engine::broadcast::publication::PublicationError;
use anycable_engine::config::Config;
use serde_json::json;
use support::start;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exclude_socket_skips_only_that_session_of_this_node() {
    let server = start(Config::default());
    let (mut alice, _, alice_sid) = server.subscribed_with_sid("alice", "1").await;
    let (mut bob, _, bob_sid) = server.subscribed_with_sid("bob", "1").await;
    assert_ne!(alice_sid, bob_sid);

    assert!(server.node.publish("chat:1".into(), "1".into(), Some(bob_sid.clone())));
    // The same number under another node's prefix is somebody else: nobody is skipped.
    let bob_id = server.node.session_id(&bob_sid).unwrap();
    assert!(server.node.publish("chat:1".into(), "2".into(), Some(format!("othernode-{bob_id}"))));
    assert_eq!(alice.next_json().await["message"], 1);
    assert_eq!(alice.next_json().await["message"], 2);
    assert_eq!(bob.next_json().await["message"], 2, "bob never got 1");
    assert_eq!(server.node.session_id("garbage"), None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn publication_bodies_are_applied_in_order() {
    let server = start(Config::default());
    let (mut alice, _, _) = server.subscribed_with_sid("alice", "1").await;
    let (mut bob, _, bob_sid) = server.subscribed_with_sid("bob", "2").await;
    let body = json!([
        {"stream": "chat:1", "data": "{\"n\":1}"},
        {"stream": "chat:2", "data": "\"two\"", "meta": {"exclude_socket": bob_sid}},
        {"stream": "chat:2", "data": "3"},
    ]);
    assert_eq!(server.node.publish_raw(body.to_string().as_bytes()), Ok(3));
    assert_eq!(alice.next_json().await["message"], json!({"n": 1}));
    assert_eq!(bob.next_json().await["message"], 3);

    let bad = server.node.publish_raw(br#"[{"stream":"chat:1","data":"4"},{"data":"5"}]"#);
    assert!(matches!(bad, Err(PublicationError::Malformed(_))), "{bad:?}");
    assert!(matches!(server.node.publish_raw(b"nope"), Err(PublicationError::NotJson(_))));
    let single = server.node.publish_raw(br#"{"stream":"chat:1","data":"6"}"#);
    assert_eq!(single, Ok(1));
    assert_eq!(alice.next_json().await["message"], 6, "nothing of the refused batch was delivered");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn remote_disconnect_closes_sessions_with_exactly_these_identifiers() {
    let server = start(Config::default());
    let (mut alice, _) = server.subscribed("alice", "1").await;
    let (mut alice_tab, _) = server.subscribed("alice", "2").await;
    let (mut bob, _) = server.subscribed("bob", "1").await;

    assert_eq!(server.node.disconnect_remote(r#"{"user": "alice"}"#, true), 0, "compared byte for byte");
    assert_eq!(server.node.disconnect_remote(r#"{"user":"alice"}"#, false), 2);
    for client in [&mut alice, &mut alice_tab] {
        let (frames, close) = client.until_close().await;
        assert_eq!(
            frames.last().unwrap(),
            &json!({"type": "disconnect", "reason": "remote", "reconnect": false})
        );
        assert_eq!(close.unwrap().code, CloseCode::Normal);
    }
    server.eventually("alice's sessions gone", |n| n.stats().clients == 1).await;

    // The command form, through a publication body, with reconnect allowed.
    let command =
        r#"{"command":"disconnect","payload":{"identifier":"{\"user\":\"bob\"}","reconnect":true}}"#;
    assert_eq!(server.node.publish_raw(command.as_bytes()), Ok(1));
    let (frames, _) = bob.until_close().await;
    assert_eq!(frames.last().unwrap(), &json!({"type": "disconnect", "reason": "remote", "reconnect": true}));
    server.eventually("everyone gone", |n| n.stats().clients == 0).await;
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(server.app.disconnects.lock().unwrap().len(), 3, "the app hears about each");
}
