//! The `redis` broker's presence sets (`broker/presence.lua`) against a real `redis-server`:
//! one record per presence id across sessions (of any node), joins and leaves only at the
//! first and last session, who is there, a repeated join, an id that does not match, and the
//! ttl of sessions no node renews any more (renewed ones stay).

mod support;

use std::time::Duration;

use anycable_engine::broker::{PresenceError, Store};
use anycable_engine::config::Config;
use anycable_engine::protocol::PresenceJoin;
use support::redis_server::RedisServer;

fn store(url: &str) -> Store {
    Store::new(&Config { redis_url: Some(url.to_owned()), ..Config::default() })
}

fn as_(id: &str, info: Option<&str>) -> PresenceJoin {
    PresenceJoin { id: id.into(), info: info.map(str::to_owned) }
}

const TTL: Duration = Duration::from_secs(15);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_record_per_id_joins_with_the_first_session_and_leaves_with_the_last() {
    let redis = RedisServer::start();
    // Two nodes of one Redis: a set they share.
    let (one, two) = (store(&redis.url()), store(&redis.url()));
    let alice = as_("1", Some(r#"{"name":"Alice"}"#));

    let (events, ()) = one.presence_join("room", "n1-s1", &alice, TTL).await.unwrap();
    assert_eq!(events, [r#"{"type":"join","id":"1","info":{"name":"Alice"}}"#]);
    let (events, ()) = two.presence_join("room", "n2-s1", &alice, TTL).await.unwrap();
    assert!(events.is_empty(), "her second tab joins no one: {events:?}");
    let (events, ()) = two.presence_join("room", "n2-s1", &alice, TTL).await.unwrap();
    assert!(events.is_empty(), "a repeated join neither: {events:?}");
    assert_eq!(
        two.presence_join("room", "n2-s1", &as_("2", None), TTL).await,
        Err(PresenceError::IdMismatch)
    );
    let (events, ()) = two.presence_join("room", "n2-s2", &as_("2", None), TTL).await.unwrap();
    assert_eq!(events, [r#"{"type":"join","id":"2"}"#]);

    let info = one.presence_info("room", true, TTL).await.unwrap().1;
    assert!(info.starts_with(r#"{"type":"info","total":2,"records":["#), "{info}");
    assert!(
        info.contains(r#"{"id":"1","info":{"name":"Alice"}}"#) && info.contains(r#"{"id":"2"}"#),
        "{info}"
    );
    assert_eq!(one.presence_info("room", false, TTL).await.unwrap().1, r#"{"type":"info","total":2}"#);
    assert_eq!(
        one.presence_info("elsewhere", true, TTL).await.unwrap().1,
        r#"{"type":"info","total":0,"records":[]}"#
    );

    let (events, ()) = one.presence_leave("room", "n1-s1", TTL).await.unwrap();
    assert!(events.is_empty(), "Alice is still there in her other tab: {events:?}");
    let (events, ()) = two.presence_leave("room", "n2-s1", TTL).await.unwrap();
    assert_eq!(events, [r#"{"type":"leave","id":"1"}"#]);
    let (events, ()) = two.presence_leave("room", "n2-s2", TTL).await.unwrap();
    assert_eq!(events, [r#"{"type":"leave","id":"2"}"#]);
    assert_eq!(
        one.presence_info("room", true, TTL).await.unwrap().1,
        r#"{"type":"info","total":0,"records":[]}"#
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_no_node_renews_leave_after_the_ttl_renewed_ones_stay() {
    let redis = RedisServer::start();
    let node = store(&redis.url());
    let ttl = Duration::from_millis(300);
    node.presence_join("room", "s1", &as_("1", None), ttl).await.unwrap();
    node.presence_join("room", "s2", &as_("2", None), ttl).await.unwrap();
    node.presence_join("lobby", "s2", &as_("2", None), ttl).await.unwrap();

    for _ in 0..4 {
        tokio::time::sleep(Duration::from_millis(120)).await;
        node.presence_touch(&[("room".to_owned(), "s1".to_owned())], ttl).await.unwrap();
        // s1 is connected
    }
    let mut left = node.presence_sweep(ttl).await.unwrap();
    left.sort();
    let leave = r#"{"type":"leave","id":"2"}"#.to_owned();
    assert_eq!(left, [("lobby".to_owned(), leave.clone()), ("room".to_owned(), leave)]);
    assert!(node.presence_sweep(ttl).await.unwrap().is_empty(), "each leave is told once");
    assert_eq!(node.presence_info("room", false, ttl).await.unwrap().1, r#"{"type":"info","total":1}"#);

    // Without renewal s1 goes too; whoever touches the stream first hears it.
    tokio::time::sleep(Duration::from_millis(350)).await;
    let (events, ()) = node.presence_join("room", "s3", &as_("3", None), ttl).await.unwrap();
    assert_eq!(events, [r#"{"type":"leave","id":"1"}"#, r#"{"type":"join","id":"3"}"#]);
}
