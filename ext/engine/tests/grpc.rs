//! gRPC on 127.0.0.1:0, both directions: the controller against in-test tonic servers (metadata,
//! the `rpc_concurrency` cap, retries within the deadline, TLS), our `anycable.RPC` server
//! answering through the job queue with a fake taker thread, and a node whose channel logic is
//! reached over gRPC end to end.

mod support;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anycable_engine::config::Config;
use anycable_engine::rpc::bridge::{Interrupt, JobQueue, Kind, Taken};
use anycable_engine::rpc::disconnect_queue::DisconnectQueue;
use anycable_engine::rpc::grpc::{GrpcController, Timing};
use anycable_engine::rpc::grpc_server::RpcServer;
use anycable_engine::rpc::proto::anycable;
use anycable_engine::rpc::proto::anycable::rpc_client::RpcClient;
use anycable_engine::rpc::proto::anycable::rpc_server::{Rpc, RpcServer as RpcService};
use anycable_engine::rpc::*;
use serde_json::{json, Value};
use support::redis_server::Certs;
use support::{chat, start_with, App};
use tokio::sync::oneshot;
use tokio::time::Instant;
use tonic::transport::server::TcpIncoming;
use tonic::transport::{Identity, ServerTlsConfig};
use tonic::{Code, Request, Response, Status as GrpcStatus};

const WAIT: Duration = Duration::from_secs(10);

fn config(settings: Value) -> Config {
    Config::from_map(settings.as_object().unwrap()).unwrap()
}

fn grpc_config(addr: SocketAddr, more: Value) -> Config {
    let mut settings = json!({ "rpc_host": addr.to_string() });
    settings.as_object_mut().unwrap().extend(more.as_object().unwrap().clone());
    config(settings)
}

fn timing(deadline_ms: u64) -> Timing {
    Timing { deadline: Duration::from_millis(deadline_ms), ..Timing::default() }
}

/// A port nothing listens on, below Linux's ephemeral range (32768+): a client's outgoing
/// connection never takes it as its own source port, which would connect it to itself while
/// the server is down.
fn free_addr() -> SocketAddr {
    let start = 20_000 + (std::process::id() as u16 % 1000) * 12;
    (0..2000u16)
        .map(|n| SocketAddr::from(([127, 0, 0, 1], 20_000 + (start - 20_000 + n * 7) % 12_000)))
        .find(|addr| std::net::TcpListener::bind(addr).is_ok())
        .expect("a free port below 32000")
}

// --- an in-test RPC server ----------------------------------------------------------------------

/// A scripted `anycable.RPC` server: records what it got, can be slow, can fail.
#[derive(Default)]
struct Fake {
    /// (call, sid, protov) of every call.
    metadata: Mutex<Vec<(String, String, String)>>,
    commands: Mutex<Vec<anycable::CommandMessage>>,
    delay: Duration,
    /// Answer this many calls with `fail_with` first.
    failures: AtomicUsize,
    fail_with: Option<Code>,
    calls: AtomicUsize,
    in_flight: AtomicUsize,
    max_in_flight: AtomicUsize,
}

impl Fake {
    async fn enter<T>(&self, name: &str, request: &Request<T>) -> Result<(), GrpcStatus> {
        let meta = |key: &str| {
            request.metadata().get(key).map(|v| v.to_str().unwrap().to_owned()).unwrap_or_default()
        };
        self.metadata.lock().unwrap().push((name.to_owned(), meta("sid"), meta("protov")));
        self.calls.fetch_add(1, Ordering::SeqCst);
        let now = self.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        self.max_in_flight.fetch_max(now, Ordering::SeqCst);
        tokio::time::sleep(self.delay).await;
        self.in_flight.fetch_sub(1, Ordering::SeqCst);
        let failing =
            self.failures.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1)).is_ok();
        match self.fail_with {
            Some(code) if failing => Err(GrpcStatus::new(code, "scripted failure")),
            _ => Ok(()),
        }
    }
}

#[tonic::async_trait]
impl Rpc for Fake {
    async fn connect(
        &self,
        request: Request<anycable::ConnectionRequest>,
    ) -> Result<Response<anycable::ConnectionResponse>, GrpcStatus> {
        self.enter("connect", &request).await?;
        let env = request.into_inner().env.unwrap_or_default();
        Ok(Response::new(anycable::ConnectionResponse {
            status: anycable::Status::Success as i32,
            identifiers: json!({ "url": env.url }).to_string(),
            transmissions: vec![r#"{"type":"welcome"}"#.into()],
            env: Some(anycable::EnvResponse { cstate: env.headers, ..Default::default() }),
            ..Default::default()
        }))
    }

    async fn command(
        &self,
        request: Request<anycable::CommandMessage>,
    ) -> Result<Response<anycable::CommandResponse>, GrpcStatus> {
        self.enter("command", &request).await?;
        let message = request.into_inner();
        self.commands.lock().unwrap().push(message.clone());
        Ok(Response::new(anycable::CommandResponse {
            status: anycable::Status::Success as i32,
            streams: vec![format!("stream:{}", message.identifier)],
            stopped_streams: vec!["old".into()],
            env: Some(anycable::EnvResponse {
                istate: [("seen".to_owned(), message.data)].into(),
                ..Default::default()
            }),
            ..Default::default()
        }))
    }

    async fn disconnect(
        &self,
        request: Request<anycable::DisconnectRequest>,
    ) -> Result<Response<anycable::DisconnectResponse>, GrpcStatus> {
        self.enter("disconnect", &request).await?;
        Ok(Response::new(anycable::DisconnectResponse {
            status: anycable::Status::Failure as i32,
            error_msg: request.into_inner().subscriptions.join(","),
        }))
    }
}

/// A running fake; stops (gracefully) on drop of `stop`.
struct Served {
    addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<()>,
}

impl Served {
    async fn shut(mut self) {
        let _ = self.stop.take().unwrap().send(());
        tokio::time::timeout(WAIT, self.task).await.unwrap().unwrap();
    }
}

async fn serve_on(fake: Arc<Fake>, addr: SocketAddr, tls: Option<&Certs>) -> Served {
    let listener = tokio::net::TcpListener::bind(addr).await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = oneshot::channel::<()>();
    let mut builder = tonic::transport::Server::builder();
    if let Some(certs) = tls {
        let read = |f: &str| std::fs::read(certs.path(f)).unwrap();
        let identity = Identity::from_pem(read("server.crt"), read("server.key"));
        builder = builder.tls_config(ServerTlsConfig::new().identity(identity)).unwrap();
    }
    let incoming = TcpIncoming::from(listener);
    let task = tokio::spawn(async move {
        builder
            .serve_with_incoming_shutdown(RpcService::from_arc(fake), incoming, async {
                let _ = stopped.await;
            })
            .await
            .unwrap();
    });
    Served { addr, stop: Some(stop), task }
}

async fn serve(fake: Arc<Fake>) -> Served {
    serve_on(fake, "127.0.0.1:0".parse().unwrap(), None).await
}

// --- the controller ---------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calls_carry_sid_and_protov_and_every_field_both_ways() {
    let fake = Arc::new(Fake::default());
    let served = serve(Arc::clone(&fake)).await;
    let rpc = GrpcController::new(&grpc_config(served.addr, json!({}))).unwrap();

    let env = Env {
        url: "http://example.com/cable?x=1".into(),
        headers: [("cookie".to_owned(), "user=ann".to_owned())].into(),
        ..Env::default()
    };
    let reply = rpc.connect(ConnectionRequest { env: env.clone(), sid: "n1-5".into() }).await.unwrap();
    assert_eq!(reply.status, Status::Success);
    assert_eq!(reply.identifiers, r#"{"url":"http://example.com/cable?x=1"}"#);
    assert_eq!(reply.transmissions, [r#"{"type":"welcome"}"#]);
    assert_eq!(reply.env.cstate["cookie"], "user=ann", "map fields arrive");

    let command = CommandMessage {
        command: "message".into(),
        identifier: r#"{"channel":"Chat"}"#.into(),
        connection_identifiers: reply.identifiers.clone(),
        data: r#"{"action":"speak"}"#.into(),
        env: Env { istate: [("room".to_owned(), "1".to_owned())].into(), ..env.clone() },
        sid: "n1-5".into(),
    };
    let reply = rpc.command(command).await.unwrap();
    assert_eq!(reply.status, Status::Success);
    assert_eq!(reply.streams, [r#"stream:{"channel":"Chat"}"#]);
    assert_eq!(reply.stopped_streams, ["old"]);
    assert_eq!(reply.env.istate["seen"], r#"{"action":"speak"}"#);
    let got = fake.commands.lock().unwrap()[0].clone();
    assert_eq!(got.command, "message");
    assert_eq!(got.connection_identifiers, r#"{"url":"http://example.com/cable?x=1"}"#);
    assert_eq!(got.env.unwrap().istate["room"], "1");

    let leaving = DisconnectRequest {
        subscriptions: vec!["a".into(), "b".into()],
        sid: "n1-5".into(),
        ..Default::default()
    };
    let reply = rpc.disconnect(leaving).await.unwrap();
    assert_eq!((reply.status, reply.error_msg.as_str()), (Status::Failure, "a,b"));

    let metadata = fake.metadata.lock().unwrap().clone();
    let expected: Vec<_> = ["connect", "command", "disconnect"]
        .iter()
        .map(|call| ((*call).to_owned(), "n1-5".to_owned(), "v1".to_owned()))
        .collect();
    assert_eq!(metadata, expected, "sid and protov: v1 on every call");
    served.shut().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn never_more_than_rpc_concurrency_calls_in_flight() {
    let fake = Arc::new(Fake { delay: Duration::from_millis(100), ..Fake::default() });
    let served = serve(Arc::clone(&fake)).await;
    let rpc = GrpcController::new(&grpc_config(served.addr, json!({"rpc_concurrency": 4}))).unwrap();
    let calls: Vec<_> = (0..40).map(|_| tokio::spawn(rpc.command(CommandMessage::default()))).collect();
    for call in calls {
        assert_eq!(call.await.unwrap().unwrap().status, Status::Success);
    }
    assert_eq!(fake.calls.load(Ordering::SeqCst), 40);
    assert_eq!(fake.max_in_flight.load(Ordering::SeqCst), 4, "the server never saw more than 4 at once");
    served.shut().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_down_server_fails_every_call_within_the_deadline_without_piling_up_tasks() {
    let rpc = GrpcController::with_timing(&grpc_config(free_addr(), json!({})), timing(700)).unwrap();
    let metrics = tokio::runtime::Handle::current().metrics();
    let baseline = metrics.num_alive_tasks();
    let started = Instant::now();
    let calls: Vec<_> = (0..100).map(|_| tokio::spawn(rpc.connect(ConnectionRequest::default()))).collect();
    for call in calls {
        match call.await.unwrap() {
            Err(RpcError::Unavailable(why)) => assert!(why.contains("Unavailable"), "{why}"),
            other => panic!("expected Unavailable, got {other:?}"),
        }
    }
    let took = started.elapsed();
    assert!(took < Duration::from_millis(700 + 500), "failed within the deadline: {took:?}");
    assert!(took > Duration::from_millis(100), "retried before giving up: {took:?}");
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(
        metrics.num_alive_tasks() <= baseline,
        "no task left behind: {} > {baseline}",
        metrics.num_alive_tasks()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retries_until_the_server_is_back_and_a_restarted_server_is_picked_up() {
    let addr = free_addr();
    let rpc = GrpcController::with_timing(&grpc_config(addr, json!({})), timing(3000)).unwrap();
    let fake = Arc::new(Fake::default());
    let pending = tokio::spawn(rpc.connect(ConnectionRequest::default()));
    tokio::time::sleep(Duration::from_millis(400)).await;
    let served = serve_on(Arc::clone(&fake), addr, None).await;
    assert_eq!(pending.await.unwrap().unwrap().status, Status::Success, "a retry reached the new server");

    served.shut().await;
    let quick = GrpcController::with_timing(&grpc_config(addr, json!({})), timing(300)).unwrap();
    assert!(quick.connect(ConnectionRequest::default()).await.is_err(), "the server is gone");
    let served = serve_on(Arc::clone(&fake), addr, None).await;
    let reply = rpc.connect(ConnectionRequest::default()).await.unwrap();
    assert_eq!(reply.status, Status::Success, "the same controller reconnects to the restarted server");
    served.shut().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resource_exhausted_is_retried_and_other_errors_fail_at_once() {
    let busy = Arc::new(Fake {
        fail_with: Some(Code::ResourceExhausted),
        failures: AtomicUsize::new(3),
        ..Fake::default()
    });
    let served = serve(Arc::clone(&busy)).await;
    let rpc = GrpcController::with_timing(&grpc_config(served.addr, json!({})), timing(2000)).unwrap();
    assert_eq!(rpc.command(CommandMessage::default()).await.unwrap().status, Status::Success);
    assert_eq!(busy.calls.load(Ordering::SeqCst), 4, "three refusals, then the answer");
    served.shut().await;

    let broken = Arc::new(Fake {
        fail_with: Some(Code::Internal),
        failures: AtomicUsize::new(100),
        ..Fake::default()
    });
    let served = serve(Arc::clone(&broken)).await;
    let rpc = GrpcController::with_timing(&grpc_config(served.addr, json!({})), timing(2000)).unwrap();
    let error = rpc.command(CommandMessage::default()).await.unwrap_err();
    assert!(matches!(&error, RpcError::Unavailable(why) if why.contains("Internal")), "{error}");
    assert_eq!(broken.calls.load(Ordering::SeqCst), 1, "not retried");
    served.shut().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_with_the_servers_ca_or_without_verification() {
    let certs = Certs::generate();
    let fake = Arc::new(Fake::default());
    let served = serve_on(Arc::clone(&fake), "127.0.0.1:0".parse().unwrap(), Some(&certs)).await;
    let port = served.addr.port();
    let ca = certs.path("ca.crt").to_string_lossy().into_owned();

    let host = format!("grpcs://localhost:{port}");
    let rpc = GrpcController::new(&config(json!({"rpc_host": host, "rpc_tls_root_ca": ca}))).unwrap();
    assert_eq!(rpc.connect(ConnectionRequest::default()).await.unwrap().status, Status::Success);

    let pem = std::fs::read_to_string(certs.path("ca.crt")).unwrap();
    let settings = json!({"rpc_host": format!("127.0.0.1:{port}"), "rpc_tls_root_ca": pem});
    let rpc = GrpcController::new(&config(settings)).unwrap();
    assert!(rpc.connect(ConnectionRequest::default()).await.is_ok(), "the PEM itself, TLS implied by the CA");

    let settings =
        json!({"rpc_host": format!("localhost:{port}"), "rpc_enable_tls": true, "rpc_tls_verify": false});
    let rpc = GrpcController::new(&config(settings)).unwrap();
    assert!(rpc.connect(ConnectionRequest::default()).await.is_ok(), "no verification");

    let other = Certs::generate();
    let other_ca = other.path("ca.crt").to_string_lossy().into_owned();
    let settings =
        json!({"rpc_host": format!("localhost:{port}"), "rpc_enable_tls": true, "rpc_tls_root_ca": other_ca});
    let rpc = GrpcController::with_timing(&config(settings), timing(500)).unwrap();
    let error = rpc.connect(ConnectionRequest::default()).await.unwrap_err();
    assert!(error.to_string().contains("gRPC Connect"), "a certificate of another CA is refused: {error}");

    let plain = GrpcController::with_timing(&grpc_config(served.addr, json!({})), timing(500)).unwrap();
    assert!(plain.connect(ConnectionRequest::default()).await.is_err(), "plain text to a TLS server fails");
    served.shut().await;
}

#[test]
fn rpc_host_and_tls_settings_are_checked() {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let _inside = runtime.enter();
    let refused = |settings: Value| GrpcController::new(&config(settings)).unwrap_err().to_string();
    assert!(refused(json!({"rpc_host": "localhost"})).contains("with the port"));
    assert!(refused(json!({"rpc_host": "dns:///rpc:50051"})).contains("`rpc_host`"));
    assert!(refused(json!({"rpc_host": "grpc://rpc:50051/path"})).contains("`rpc_host`"));
    let missing = refused(json!({"rpc_tls_root_ca": "/nonexistent/ca.pem", "rpc_host": "rpc:50051"}));
    assert!(missing.contains("`rpc_tls_root_ca`") && missing.contains("readable PEM file"), "{missing}");
    assert_eq!(
        GrpcController::new(&Config::default()).unwrap_err().to_string(),
        "`rpc_host` must be set: gRPC"
    );
    for ok in ["127.0.0.1:50051", "grpc://localhost:50051", "grpcs://rpc.example.com:443", "[::1]:50051"] {
        assert!(GrpcController::new(&config(json!({"rpc_host": ok}))).is_ok(), "{ok}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn controller_for_picks_the_bridge_grpc_or_http_from_rpc_host() {
    let queue = JobQueue::new(8);
    let bridge = controller_for(&Config::default(), &queue).unwrap();
    let _pending = bridge.connect(ConnectionRequest::default());
    assert_eq!(queue.len(), 1, "rpc_host unset: the in-process bridge");

    // Servers that fail at once (no retries), each in its own way.
    let broken =
        Arc::new(Fake { fail_with: Some(Code::Internal), failures: AtomicUsize::new(1), ..Fake::default() });
    let served = serve(broken).await;
    let not_found = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let http_addr = not_found.local_addr().unwrap();
    std::thread::spawn(move || {
        use std::io::{Read, Write};
        let (mut socket, _) = not_found.accept().unwrap();
        let _ = socket.read(&mut [0; 4096]);
        let _ = socket.write_all(b"HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\n\r\n");
    });
    let grpc = controller_for(&config(json!({"rpc_host": served.addr.to_string()})), &queue).unwrap();
    let http = controller_for(&config(json!({"rpc_host": format!("http://{http_addr}/_anycable")})), &queue)
        .unwrap();
    let (grpc, http) =
        tokio::join!(grpc.command(CommandMessage::default()), http.command(CommandMessage::default()));
    assert!(grpc.unwrap_err().to_string().contains("gRPC Command"), "host:port is gRPC");
    assert!(http.unwrap_err().to_string().contains("HTTP RPC command"), "an http:// URL is HTTP RPC");
    assert!(controller_for(&config(json!({"rpc_host": "ftp://x:1"})), &queue).is_err());
    served.shut().await;
}

// --- our server: anycable.RPC answered through the job queue ---------------------------------

/// A taker thread playing the app of `support` (as Ruby workers run the Rails handler); it
/// records the connect payloads it saw.
fn taker(queue: Arc<JobQueue>, app: Arc<App>, seen: Arc<Mutex<Vec<Value>>>) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || loop {
        match queue.take(8, Duration::from_millis(50), &Interrupt::default()) {
            Taken::Closed => return,
            Taken::Jobs(jobs) => {
                for job in jobs {
                    seen.lock().unwrap().push(json!({"kind": job.kind.as_str(), "payload": job.payload}));
                    let payload = job.payload.clone();
                    let reply = match job.kind {
                        Kind::Connect => {
                            serde_json::to_value(App::do_connect(serde_json::from_value(payload).unwrap()))
                        }
                        Kind::Command => {
                            serde_json::to_value(app.do_command(serde_json::from_value(payload).unwrap()))
                        }
                        Kind::Disconnect => {
                            app.disconnects.lock().unwrap().push(serde_json::from_value(payload).unwrap());
                            Ok(json!({"status": 1}))
                        }
                    };
                    job.reply(reply.unwrap());
                }
            }
        }
    })
}

fn listener() -> std::net::TcpListener {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn our_server_answers_through_the_job_queue_and_stops_gracefully() {
    let queue = JobQueue::new(64);
    let (app, seen) = (Arc::new(App::default()), Arc::new(Mutex::new(Vec::new())));
    let worker = taker(Arc::clone(&queue), Arc::clone(&app), Arc::clone(&seen));
    let server =
        RpcServer::start(listener(), Arc::clone(&queue), &tokio::runtime::Handle::current()).unwrap();
    let rpc = GrpcController::new(&grpc_config(server.local_addr(), json!({}))).unwrap();

    let env = Env { headers: [("cookie".to_owned(), "user=ann".to_owned())].into(), ..Env::default() };
    let welcome = rpc.connect(ConnectionRequest { env: env.clone(), sid: "abc-1".into() }).await.unwrap();
    assert_eq!(welcome.status, Status::Success);
    assert_eq!(welcome.identifiers, r#"{"user":"ann"}"#);
    assert_eq!(
        welcome.transmissions,
        [r#"{"type":"welcome","sid":"abc-1"}"#],
        "the sid metadata reached the app"
    );
    assert_eq!(seen.lock().unwrap()[0]["payload"]["sid"], "abc-1");

    let subscribe = CommandMessage {
        command: "subscribe".into(),
        identifier: chat("7"),
        connection_identifiers: welcome.identifiers.clone(),
        env: env.clone(),
        ..Default::default()
    };
    let reply = rpc.command(subscribe).await.unwrap();
    assert_eq!(reply.streams, ["chat:7", "extra:7"]);
    assert_eq!(reply.env.istate["room"], "7");
    assert!(reply.transmissions.last().unwrap().contains("confirm_subscription"));

    let rejected = rpc.connect(ConnectionRequest::default()).await.unwrap();
    assert_eq!(rejected.status, Status::Failure);
    assert!(rejected.transmissions[0].contains("unauthorized"));

    let leaving = DisconnectRequest {
        identifiers: welcome.identifiers,
        subscriptions: vec![chat("7")],
        ..Default::default()
    };
    assert_eq!(rpc.disconnect(leaving).await.unwrap().status, Status::Success);
    assert_eq!(app.disconnects.lock().unwrap()[0].subscriptions, [chat("7")]);
    assert_eq!(server.stats().calls, 4);

    // A call in flight when the server stops still gets its answer; then nobody gets in.
    let (slow_queue, slow) = (JobQueue::new(4), listener());
    let slow_server =
        RpcServer::start(slow, Arc::clone(&slow_queue), &tokio::runtime::Handle::current()).unwrap();
    let slow_rpc =
        GrpcController::with_timing(&grpc_config(slow_server.local_addr(), json!({})), timing(3000)).unwrap();
    let in_flight = tokio::spawn(slow_rpc.connect(ConnectionRequest::default()));
    while slow_queue.is_empty() {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let answer = {
        let queue = Arc::clone(&slow_queue);
        std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(300));
            let Taken::Jobs(mut jobs) = queue.take(1, WAIT, &Interrupt::default()) else { panic!("closed") };
            jobs.pop().unwrap().reply(json!({"status": 1, "identifiers": "late"}));
        })
    };
    assert!(slow_server.stop(WAIT).await, "stopped after the running call finished");
    assert_eq!(in_flight.await.unwrap().unwrap().identifiers, "late");
    answer.join().unwrap();
    let refused =
        GrpcController::with_timing(&grpc_config(slow_server.local_addr(), json!({})), timing(300)).unwrap();
    assert!(refused.connect(ConnectionRequest::default()).await.is_err(), "no longer listening");

    assert!(server.stop(WAIT).await);
    queue.close();
    worker.join().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_job_queue_answers_resource_exhausted_and_a_stopped_bridge_unavailable() {
    let queue = JobQueue::new(1);
    let server =
        RpcServer::start(listener(), Arc::clone(&queue), &tokio::runtime::Handle::current()).unwrap();
    let mut client = RpcClient::new(
        tonic::transport::Endpoint::from_shared(format!("http://{}", server.local_addr()))
            .unwrap()
            .connect_lazy(),
    );
    let first = {
        let mut client = client.clone();
        tokio::spawn(async move { client.connect(anycable::ConnectionRequest::default()).await })
    };
    while queue.is_empty() {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let busy = client.command(anycable::CommandMessage::default()).await.unwrap_err();
    assert_eq!(busy.code(), Code::ResourceExhausted);
    queue.close();
    let Taken::Jobs(jobs) = queue.take(1, WAIT, &Interrupt::default()) else { panic!("closed") };
    drop(jobs);
    assert_eq!(first.await.unwrap().unwrap_err().code(), Code::Unavailable, "a dropped job fails its call");
    let stopped = client.command(anycable::CommandMessage::default()).await.unwrap_err();
    assert_eq!(stopped.code(), Code::Unavailable);
    assert!(server.stop(WAIT).await);
}

// --- a node whose channel logic is reached over gRPC -----------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_on_grpc_serves_clients_end_to_end() {
    let queue = JobQueue::new(64);
    let (app, seen) = (Arc::new(App::default()), Arc::new(Mutex::new(Vec::new())));
    let worker = taker(Arc::clone(&queue), Arc::clone(&app), Arc::clone(&seen));
    let server =
        RpcServer::start(listener(), Arc::clone(&queue), &tokio::runtime::Handle::current()).unwrap();
    let settings = grpc_config(server.local_addr(), json!({}));
    let controller = controller_for(&settings, &JobQueue::new(1)).unwrap();
    let front = start_with(settings, controller, Arc::clone(&app));

    let (mut client, id, sid) = front.subscribed_with_sid("ann", "9").await;
    assert!(front.node.session_id(&sid).is_some(), "the welcome carries this node's sid: {sid}");
    client.send(json!({"command": "message", "identifier": id, "data": r#"{"action":"count"}"#})).await;
    assert_eq!(client.until(|m| m.get("message").is_some()).await["message"], 1);
    front.node.deliver("chat:9", r#"{"text":"hi"}"#, None);
    assert_eq!(client.until(|m| m.get("message").is_some()).await["message"]["text"], "hi");

    drop(client);
    front.eventually("the disconnect call", |_| !app.disconnects.lock().unwrap().is_empty()).await;
    assert_eq!(app.disconnects.lock().unwrap()[0].subscriptions, [id]);

    assert!(front.node.shutdown().await);
    assert!(server.stop(WAIT).await);
    queue.close();
    worker.join().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_whose_rpc_server_is_down_tells_clients_to_come_back_within_the_deadline() {
    let settings = grpc_config(free_addr(), json!({}));
    let grpc = GrpcController::with_timing(&settings, timing(1000)).unwrap();
    let controller = Arc::new(DisconnectQueue::new(Arc::new(grpc), 100));
    let front = start_with(settings, controller, Arc::new(App::default()));
    let started = Instant::now();
    let mut client = front.client("ann").await;
    let (frames, _close) = client.until_close().await;
    assert_eq!(frames, [json!({"type": "disconnect", "reason": "server_error", "reconnect": true})]);
    assert!(
        started.elapsed() < Duration::from_millis(1000 + 500),
        "within the deadline: {:?}",
        started.elapsed()
    );
    assert!(front.node.shutdown().await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_flushes_the_disconnect_queue_to_the_rpc_server() {
    let fake = Arc::new(Fake::default());
    let served = serve(Arc::clone(&fake)).await;
    // One disconnect per second: without the flush, ten clients would take ten seconds.
    let settings = grpc_config(served.addr, json!({"disconnect_rate": 1, "shutdown_timeout": 5}));
    let controller = controller_for(&settings, &JobQueue::new(1)).unwrap();
    let front = start_with(settings, controller, Arc::new(App::default()));
    let mut clients = Vec::new();
    for _ in 0..10 {
        let mut client = front.client("ann").await;
        assert_eq!(client.next_json().await["type"], "welcome");
        clients.push(client);
    }
    let started = Instant::now();
    assert!(front.node.shutdown().await, "every disconnect call finished within shutdown_timeout");
    assert!(started.elapsed() < Duration::from_secs(3), "flushed, not paced: {:?}", started.elapsed());
    let disconnects = fake.metadata.lock().unwrap().iter().filter(|(call, ..)| call == "disconnect").count();
    assert_eq!(disconnects, 10);
    served.shut().await;
}
