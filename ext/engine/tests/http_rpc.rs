//! The HTTP RPC controller against real HTTP servers on 127.0.0.1:0: what it sends, the
//! default secret, 401s, retries within the deadline, and the `rpc_concurrency` cap.

#![allow(missing_docs)]

use std::convert::Infallible;
use std::future::Future;
use std::io::Write;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anycable_engine::config::Config;
use anycable_engine::rpc::http::{HttpController, Timing};
use anycable_engine::rpc::*;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::header::HeaderMap;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::Response;
use hyper_util::rt::TokioIo;
use serde_json::{json, Value};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

/// `echo -n rpc-cable | openssl dgst -sha256 -hmac s3cr3t`: AnyCable's default HTTP RPC secret
/// for the application secret `s3cr3t`.
const DERIVED: &str = "4b7da2749fe2a4534cec0d2acbd16277a800cf2acd31158ac4edae4a62a8f18d";

/// One request as the server saw it.
#[derive(Debug, Clone)]
struct Seen {
    method: String,
    path: String,
    headers: HeaderMap,
    body: Value,
}

impl Seen {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

/// What the server answers: status, headers, body.
type Reply = (u16, Vec<(&'static str, String)>, String);

fn ok(body: Value) -> Reply {
    (200, vec![("content-type", "application/json".into())], body.to_string())
}

/// An HTTP server on 127.0.0.1:0 that records every request and answers with `handler`.
struct TestServer {
    url: String,
    seen: Arc<Mutex<Vec<Seen>>>,
    accept: JoinHandle<()>,
}

impl TestServer {
    async fn start<F, Fut>(handler: F) -> Self
    where
        F: Fn(Seen) -> Fut + Clone + Send + Sync + 'static,
        Fut: Future<Output = Reply> + Send + 'static,
    {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/_anycable", listener.local_addr().unwrap());
        let seen = Arc::new(Mutex::new(Vec::new()));
        let recorded = Arc::clone(&seen);
        let accept = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let (handler, recorded) = (handler.clone(), Arc::clone(&recorded));
                tokio::spawn(async move {
                    let service = service_fn(move |request: hyper::Request<hyper::body::Incoming>| {
                        let (handler, recorded) = (handler.clone(), Arc::clone(&recorded));
                        async move {
                            let (parts, body) = request.into_parts();
                            let body = body.collect().await.map(|b| b.to_bytes()).unwrap_or_default();
                            let seen = Seen {
                                method: parts.method.to_string(),
                                path: parts.uri.path().to_owned(),
                                headers: parts.headers,
                                body: serde_json::from_slice(&body).unwrap_or(Value::Null),
                            };
                            recorded.lock().unwrap().push(seen.clone());
                            let (status, headers, body) = handler(seen).await;
                            let mut response = Response::builder().status(status);
                            for (name, value) in headers {
                                response = response.header(name, value);
                            }
                            Ok::<_, Infallible>(response.body(Full::new(Bytes::from(body))).unwrap())
                        }
                    });
                    let _ = http1::Builder::new().serve_connection(TokioIo::new(stream), service).await;
                });
            }
        });
        Self { url, seen, accept }
    }

    fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.accept.abort();
    }
}

fn config(settings: Value) -> Config {
    Config::from_map(settings.as_object().unwrap()).unwrap()
}

fn controller(url: &str, settings: Value, timing: Timing) -> HttpController {
    let mut settings = settings;
    settings["rpc_host"] = url.into();
    HttpController::with_timing(&config(settings), timing).unwrap()
}

fn fast(deadline_ms: u64) -> Timing {
    Timing {
        deadline: Duration::from_millis(deadline_ms),
        first_backoff: Duration::from_millis(10),
        max_backoff: Duration::from_millis(80),
    }
}

fn connect_request() -> ConnectionRequest {
    ConnectionRequest {
        env: Env {
            url: "http://example.com/cable".into(),
            headers: [("cookie".to_owned(), "user=ann".to_owned())].into(),
            ..Env::default()
        },
        sid: "n1-5".into(),
    }
}

#[tokio::test]
async fn posts_protobuf_json_with_the_derived_secret_and_metadata_headers() {
    let server = TestServer::start(|seen: Seen| async move {
        match seen.path.as_str() {
            "/_anycable/connect" => ok(json!({
                "status": 1, "identifiers": "{\"user\":\"ann\"}",
                "transmissions": ["{\"type\":\"welcome\",\"sid\":\"n1-5\"}"], "env": {"cstate": {"k": "v"}}
            })),
            "/_anycable/command" => {
                ok(json!({"status": 1, "streams": ["chat:1"], "env": {"istate": {"room": "1"}}}))
            }
            // Protobuf-JSON may leave out defaults: no status means ERROR.
            _ => ok(json!({"error_msg": "gone"})),
        }
    })
    .await;
    // A trailing slash on rpc_host is fine.
    let rpc = controller(&format!("{}/", server.url), json!({"secret": "s3cr3t"}), Timing::default());

    let reply = rpc.connect(connect_request()).await.unwrap();
    assert_eq!(reply.status, Status::Success);
    assert_eq!(reply.identifiers, r#"{"user":"ann"}"#);
    assert_eq!(reply.env.cstate["k"], "v");

    let command = CommandMessage {
        command: "subscribe".into(),
        identifier: r#"{"channel":"Chat","room":"1"}"#.into(),
        connection_identifiers: reply.identifiers.clone(),
        data: String::new(),
        env: Env { url: "http://example.com/cable".into(), ..Env::default() },
        sid: "n1-5".into(),
    };
    let reply = rpc.command(command).await.unwrap();
    assert_eq!((reply.status, reply.streams), (Status::Success, vec!["chat:1".to_owned()]));

    let leaving =
        DisconnectRequest { identifiers: "{}".into(), subscriptions: vec!["a".into()], ..Default::default() };
    assert!(leaving.sid.is_empty());
    let reply = rpc.disconnect(leaving).await.unwrap();
    assert_eq!((reply.status, reply.error_msg.as_str()), (Status::Error, "gone"));

    let seen = server.seen();
    let paths: Vec<&str> = seen.iter().map(|s| s.path.as_str()).collect();
    assert_eq!(paths, ["/_anycable/connect", "/_anycable/command", "/_anycable/disconnect"]);
    for request in &seen {
        assert_eq!(request.method, "POST");
        assert_eq!(request.header("content-type"), Some("application/json"));
        assert_eq!(request.header("authorization"), Some(format!("Bearer {DERIVED}").as_str()));
        assert_eq!(request.header("x-anycable-meta-protov"), Some("v1"));
    }
    let (connect, command, disconnect) = (&seen[0], &seen[1], &seen[2]);
    assert_eq!(connect.header("x-anycable-meta-sid"), Some("n1-5"));
    assert_eq!(connect.body["env"]["url"], "http://example.com/cable");
    assert_eq!(connect.body["env"]["headers"]["cookie"], "user=ann");
    assert!(connect.body.get("sid").is_none(), "the sid is metadata, not a field: {}", connect.body);
    assert_eq!(command.body["connection_identifiers"], r#"{"user":"ann"}"#, "snake_case names");
    assert_eq!(command.body["identifier"], r#"{"channel":"Chat","room":"1"}"#);
    assert_eq!(command.header("x-anycable-meta-sid"), Some("n1-5"), "metadata of every call");
    assert!(command.body.get("sid").is_none(), "{}", command.body);
    assert_eq!(disconnect.body["subscriptions"], json!(["a"]));
    assert_eq!(disconnect.header("x-anycable-meta-sid"), None, "no sid, no header");
}

#[tokio::test]
async fn an_explicit_secret_wins_and_no_secret_sends_no_authorization() {
    let server = TestServer::start(|_| async { ok(json!({"status": 1})) }).await;
    let explicit =
        controller(&server.url, json!({"secret": "s3cr3t", "http_rpc_secret": "t0ken"}), Timing::default());
    explicit.command(CommandMessage::default()).await.unwrap();
    let anonymous = controller(&server.url, json!({}), Timing::default());
    anonymous.command(CommandMessage::default()).await.unwrap();
    let seen = server.seen();
    assert_eq!(seen[0].header("authorization"), Some("Bearer t0ken"));
    assert_eq!(seen[1].header("authorization"), None);
}

/// Everything logged while it lives (on this thread: use a current-thread runtime).
#[derive(Clone, Default)]
struct Capture(Arc<Mutex<Vec<u8>>>);

impl Write for Capture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Capture {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

#[tokio::test]
async fn a_401_fails_the_call_and_is_logged_once_naming_the_setting() {
    let capture = Capture::default();
    let writer = capture.clone();
    let subscriber = tracing_subscriber::fmt().with_ansi(false).with_writer(move || writer.clone()).finish();
    let _logging = tracing::subscriber::set_default(subscriber);

    let accept = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let gate = Arc::clone(&accept);
    let server = TestServer::start(move |_| {
        let accept = gate.load(Ordering::SeqCst);
        async move {
            if accept {
                ok(json!({"status": 1}))
            } else {
                (401, vec![], "Unauthorized".into())
            }
        }
    })
    .await;
    let rpc = controller(&server.url, json!({"secret": "wrong"}), fast(2_000));
    for _ in 0..3 {
        let error = rpc.command(CommandMessage::default()).await.unwrap_err();
        let RpcError::Unavailable(why) = &error else { panic!("{error:?}") };
        assert!(why.contains("401") && why.contains("http_rpc_secret"), "{why}");
    }
    assert_eq!(server.seen().len(), 3, "a 401 is not retried");
    let line = "the HTTP RPC server answered 401 Unauthorized: http_rpc_secret";
    assert_eq!(capture.text().matches(line).count(), 1, "{}", capture.text());

    // Once calls succeed again, a new mismatch is worth a new line.
    accept.store(true, Ordering::SeqCst);
    rpc.command(CommandMessage::default()).await.unwrap();
    accept.store(false, Ordering::SeqCst);
    rpc.command(CommandMessage::default()).await.unwrap_err();
    rpc.command(CommandMessage::default()).await.unwrap_err();
    let logs = capture.text();
    assert_eq!(logs.matches(line).count(), 2, "{logs}");
    assert!(!logs.contains("wrong") && !logs.contains("Bearer"), "no secret in the logs: {logs}");
}

#[tokio::test]
async fn overloaded_or_failing_servers_are_retried_until_they_answer() {
    let calls = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&calls);
    let server = TestServer::start(move |_| {
        let n = counter.fetch_add(1, Ordering::SeqCst);
        async move {
            match n {
                0 => (503, vec![], "starting".into()),
                1 => (429, vec![("retry-after", "0".into())], String::new()),
                _ => ok(json!({"status": 1, "transmissions": ["hi"]})),
            }
        }
    })
    .await;
    let rpc = controller(&server.url, json!({}), fast(2_000));
    let reply = rpc.command(CommandMessage::default()).await.unwrap();
    assert_eq!(reply.transmissions, ["hi"]);
    assert_eq!(server.seen().len(), 3);
}

#[tokio::test]
async fn other_errors_are_not_retried_and_bad_replies_are_refused() {
    let server = TestServer::start(|seen: Seen| async move {
        if seen.path.ends_with("/command") {
            (422, vec![], "Invalid request body: env must be an object".into())
        } else {
            ok(json!({"status": "not a status", "transmissions": 7}))
        }
    })
    .await;
    let rpc = controller(&server.url, json!({}), fast(2_000));
    let error = rpc.command(CommandMessage::default()).await.unwrap_err();
    let RpcError::BadReply(why) = &error else { panic!("{error:?}") };
    assert!(why.contains("422") && why.contains("env must be an object"), "{why}");
    let error = rpc.connect(connect_request()).await.unwrap_err();
    assert!(matches!(error, RpcError::BadReply(_)), "{error:?}");
    assert_eq!(server.seen().len(), 2, "nothing retried");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_server_fails_calls_within_the_deadline_and_leaves_no_tasks_behind() {
    // A port that nobody listens on: every connection is refused.
    let url = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        format!("http://{}/_anycable", listener.local_addr().unwrap())
    };
    let metrics = tokio::runtime::Handle::current().metrics();
    let tasks_before = metrics.num_alive_tasks();
    let rpc = controller(&url, json!({"rpc_concurrency": 4}), fast(400));

    let started = Instant::now();
    let calls: Vec<_> = (0..40).map(|_| tokio::spawn(rpc.connect(connect_request()))).collect();
    for call in calls {
        let error = call.await.unwrap().unwrap_err();
        let RpcError::Unavailable(why) = &error else { panic!("{error:?}") };
        assert!(why.contains("attempt") || why.contains("no reply within"), "{why}");
    }
    let took = started.elapsed();
    assert!(took < Duration::from_millis(1_500), "every call gave up by its deadline, took {took:?}");

    let single = Instant::now();
    let error = rpc.connect(connect_request()).await.unwrap_err();
    let RpcError::Unavailable(why) = error else { panic!() };
    assert!(why.contains("failed after") && why.contains("Connection refused"), "{why}");
    assert!(single.elapsed() >= Duration::from_millis(200), "retried for a while: {:?}", single.elapsed());

    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(metrics.num_alive_tasks(), tasks_before, "no task left behind");
}

#[tokio::test]
async fn a_retry_after_past_the_deadline_fails_at_once() {
    let server =
        TestServer::start(|_| async { (503, vec![("retry-after", "30".into())], String::new()) }).await;
    let rpc = controller(&server.url, json!({}), fast(1_000));
    let started = Instant::now();
    let error = rpc.command(CommandMessage::default()).await.unwrap_err();
    assert!(started.elapsed() < Duration::from_millis(500), "{:?}", started.elapsed());
    assert!(error.to_string().contains("failed after 1 attempt(s): HTTP 503"), "{error}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn never_more_than_rpc_concurrency_requests_in_flight() {
    let in_flight = Arc::new(AtomicUsize::new(0));
    let most = Arc::new(AtomicUsize::new(0));
    let (now, peak) = (Arc::clone(&in_flight), Arc::clone(&most));
    let server = TestServer::start(move |_| {
        let (now, peak) = (Arc::clone(&now), Arc::clone(&peak));
        async move {
            let current = now.fetch_add(1, Ordering::SeqCst) + 1;
            peak.fetch_max(current, Ordering::SeqCst);
            tokio::time::sleep(Duration::from_millis(100)).await;
            now.fetch_sub(1, Ordering::SeqCst);
            ok(json!({"status": 1}))
        }
    })
    .await;
    let rpc = controller(&server.url, json!({"rpc_concurrency": 3}), fast(5_000));
    let started = Instant::now();
    let calls: Vec<_> = (0..12).map(|_| tokio::spawn(rpc.command(CommandMessage::default()))).collect();
    for call in calls {
        assert_eq!(call.await.unwrap().unwrap().status, Status::Success);
    }
    assert_eq!(most.load(Ordering::SeqCst), 3, "the cap is reached and never passed");
    assert!(started.elapsed() >= Duration::from_millis(400), "4 rounds of 3: {:?}", started.elapsed());

    // Waiting for a free slot counts against the deadline.
    let strict = controller(&server.url, json!({"rpc_concurrency": 1}), fast(150));
    let calls: Vec<_> = (0..3).map(|_| tokio::spawn(strict.command(CommandMessage::default()))).collect();
    let mut failed = 0;
    for call in calls {
        if let Err(error) = call.await.unwrap() {
            assert!(error.to_string().contains("no reply within 150ms"), "{error}");
            failed += 1;
        }
    }
    // One slot, 100 ms per call, a 150 ms deadline: the second and third cannot make it (on a
    // loaded machine the first may not either).
    assert!(failed >= 2, "{failed} failed");
}
