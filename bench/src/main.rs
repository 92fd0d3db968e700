//! `cable-bench`: drives an Action Cable server (anycable-rs or stock Action Cable) serving
//! the test-app, and prints what it measured as one JSON object.
//!
//! Phases: join the chat over HTTP to get the app's cookie; connect and subscribe N clients
//! to `BenchChannel`; read the server's RSS before and after; have one client `perform`
//! broadcasts carrying a timestamp of this process's monotonic clock and record when each
//! recipient gets it; finally time `echo` performs (RPC round trips): one client alone (the
//! round-trip latency), then `--performers` clients at once (throughput).
//!
//! With `--pid`, memory and CPU are those of the server process and its descendants (Puma
//! cluster workers), RSS and PSS (which splits pages shared after fork fairly).
//!
//! `--dead-peers`, `--soak-seconds`, `--drops-seconds`, `--redeploy-seconds` and `--storm` run
//! other scenarios instead (`dead_peers`, `soak`, `drops`, `redeploy`, `storm`; the storm runs
//! against spec/integration/app, which has turbo-rails).
//!
//! ```text
//! cable-bench --url http://127.0.0.1:3000 --clients 1000 --pid <server pid> \
//!             --broadcasts 20 --rate 4 --payload 200 --performers 8 --perform-seconds 5
//! ```

mod args;
mod client;
mod dead_peers;
mod drops;
mod http;
mod redeploy;
mod soak;
mod stats;
mod storm;

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::json;

use crate::client::Client;

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    let args = args::Args::parse();
    if args.storm > 0 {
        println!("{}", storm::run(&args).await);
        return;
    }
    let epoch = Instant::now();
    let cookie =
        http::join(&args.url).await.unwrap_or_else(|e| fail(&format!("joining the chat failed: {e}")));
    let extra = Arc::new(client::browser_headers(args.header_bytes));
    if args.dead_peers > 0 {
        let wait = Duration::from_secs_f64(args.dead_wait);
        println!("{}", dead_peers::run(&args.url, &cookie, &extra, args.dead_peers, wait).await);
        return;
    }
    // One client first, so the server's lazily started parts (runtime, workers) are in the baseline.
    let first = Client::subscribe(&args.url, &cookie, &extra)
        .await
        .unwrap_or_else(|e| fail(&format!("first client: {e}")));
    tokio::time::sleep(Duration::from_secs(1)).await;
    if args.drops_seconds > 0.0 {
        println!("{}", drops::run(&args, &cookie, &extra, first).await);
        return;
    }
    if args.redeploy_seconds > 0.0 {
        drop(first);
        println!("{}", redeploy::run(&args, &cookie, &extra).await);
        return;
    }
    let before = args.pid.map(stats::memory_kib);

    // Connect + subscribe, at most `connect_concurrency` handshakes in flight.
    let started = Instant::now();
    let (connected, failures) = client::connect_many(
        args.clients - 1,
        args.connect_concurrency,
        &args.url,
        &cookie,
        &extra,
        client::IDENTIFIER,
        None,
    )
    .await;
    let mut clients = vec![first];
    clients.extend(connected);
    let connect_seconds = started.elapsed().as_secs_f64();
    if clients.is_empty() {
        fail(&format!("no client connected: {:?}", failures.first()));
    }
    tokio::time::sleep(Duration::from_secs(2)).await; // let RSS settle
    let after = args.pid.map(stats::memory_kib);
    if args.soak_seconds > 0.0 {
        let mut report = soak::run(&args, &cookie, &extra, &mut clients, epoch).await;
        report["connect_failures"] = json!(failures.len());
        report["rss_after_connect_kib"] = json!(after.map(|m| m.rss));
        println!("{report}");
        return;
    }

    let peak = args.pid.map(PeakRss::start);
    let (latencies, deliveries, last_recipient, cpu) = broadcast_phase(&args, &mut clients, epoch).await;
    let peak = peak.map(PeakRss::stop);
    let settled = match args.pid {
        Some(pid) if args.settle_seconds > 0.0 => {
            tokio::time::sleep(Duration::from_secs_f64(args.settle_seconds)).await;
            Some(stats::memory_kib(pid).rss)
        }
        _ => None,
    };
    let clients_count = clients.len();
    let (sequential, round_trips) = perform_phase(&args, clients).await;

    let expected = (clients_count.saturating_sub(1) * args.broadcasts) as f64;
    let report = json!({
        "clients": clients_count,
        "header_bytes": args.header_bytes,
        "connect_failures": failures.len(),
        "first_failure": failures.first(),
        "connect_seconds": connect_seconds,
        "rss_before_kib": before.map(|m| m.rss),
        "rss_after_kib": after.map(|m| m.rss),
        "rss_per_client_kib": before.zip(after).map(|(b, a)| (a.rss as f64 - b.rss as f64) / (clients_count - 1).max(1) as f64),
        "rss_peak_broadcast_kib": peak,
        "rss_settled_kib": settled,
        "settle_seconds": args.settle_seconds,
        "pss_after_kib": after.map(|m| m.pss),
        "pss_per_client_kib": before.zip(after).map(|(b, a)| (a.pss as f64 - b.pss as f64) / (clients_count - 1).max(1) as f64),
        "server_processes": after.map(|m| m.processes),
        "broadcasts": args.broadcasts,
        "payload_bytes": args.payload,
        "delivery_ratio": if expected > 0.0 { deliveries as f64 / expected } else { 0.0 },
        "latency_ms": stats::percentiles(&latencies),
        "last_recipient_ms": stats::percentiles(&last_recipient),
        "server_cpu_seconds_broadcast": cpu,
        "perform_round_trips_per_second": round_trips,
        "perform_performers": args.performers,
        "perform_sequential_us": sequential.map(|per_second| 1e6 / per_second),
    });
    println!("{report}");
}

/// The server's highest RSS while the broadcasts run, sampled every 100 ms.
struct PeakRss {
    peak: Arc<std::sync::atomic::AtomicU64>,
    sampler: tokio::task::JoinHandle<()>,
}

impl PeakRss {
    fn start(pid: u32) -> Self {
        let peak = Arc::new(std::sync::atomic::AtomicU64::new(0));
        let seen = Arc::clone(&peak);
        let sampler = tokio::spawn(async move {
            loop {
                seen.fetch_max(stats::memory_kib(pid).rss, std::sync::atomic::Ordering::Relaxed);
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        });
        Self { peak, sampler }
    }

    fn stop(self) -> u64 {
        self.sampler.abort();
        self.peak.load(std::sync::atomic::Ordering::Relaxed)
    }
}

#[allow(clippy::exit)] // the command-line tool stops when it cannot measure
pub(crate) fn fail(message: &str) -> ! {
    eprintln!("cable-bench: {message}");
    std::process::exit(1)
}

/// Client 0 performs `broadcast` `args.broadcasts` times at `args.rate` per second; every
/// other client records the delay of each delivery. Returns (per-delivery ms, deliveries, per-broadcast
/// last recipient ms, server CPU seconds during the phase).
pub(crate) async fn broadcast_phase(
    args: &args::Args,
    clients: &mut Vec<Client>,
    epoch: Instant,
) -> (Vec<f64>, usize, Vec<f64>, Option<f64>) {
    if args.broadcasts == 0 {
        return (Vec::new(), 0, Vec::new(), None);
    }
    let cpu_before = args.pid.map(stats::cpu_seconds);
    let mut receivers = Vec::new();
    let wait = Duration::from_secs_f64(args.broadcasts as f64 / args.rate + 10.0);
    for mut client in clients.drain(1..) {
        let broadcasts = args.broadcasts;
        receivers.push(tokio::spawn(async move {
            let seen = client.receive_broadcasts(broadcasts, epoch, wait).await;
            (client, seen)
        }));
    }
    let driver = &mut clients[0];
    let pad = "x".repeat(args.payload.saturating_sub(40));
    let mut ticks = tokio::time::interval(Duration::from_secs_f64(1.0 / args.rate));
    for seq in 0..args.broadcasts {
        driver.read_until_tick(&mut ticks).await;
        let sent_us = epoch.elapsed().as_micros() as u64;
        driver.perform("broadcast", json!({"payload": {"seq": seq, "sent_us": sent_us, "pad": pad}})).await;
    }
    let mut per_broadcast = vec![0f64; args.broadcasts];
    let mut latencies = Vec::new();
    let mut record = |seen: Vec<(usize, f64)>| {
        for (seq, ms) in seen {
            per_broadcast[seq] = per_broadcast[seq].max(ms);
            latencies.push(ms);
        }
    };
    for receiver in receivers {
        let (client, seen) = receiver.await.expect("receiver task");
        record(seen);
        clients.push(client);
    }
    let cpu = args.pid.map(stats::cpu_seconds).zip(cpu_before).map(|(a, b)| a - b);
    let deliveries = latencies.len();
    (latencies, deliveries, per_broadcast, cpu)
}

/// First one client performs `echo` after `echo` for `args.perform_seconds` (round-trip
/// latency), then `args.performers` clients each do so at once for as long (throughput).
/// Returns (sequential round trips per second, concurrent round trips per second).
async fn perform_phase(args: &args::Args, mut clients: Vec<Client>) -> (Option<f64>, Option<f64>) {
    if args.performers == 0 || args.perform_seconds == 0.0 {
        return (None, None);
    }
    // The other clients stay connected meanwhile: dropping them now would make the server
    // run thousands of disconnect callbacks during the measurement.
    let idle = clients.split_off(args.performers.min(clients.len()));
    let (sequential, clients) = performing(clients, 1, args.perform_seconds).await;
    let (concurrent, _clients) = performing(clients, args.performers, args.perform_seconds).await;
    drop(idle);
    (Some(sequential), Some(concurrent))
}

/// `performers` of `clients` perform `echo` one after the other for `seconds`; returns the
/// completed round trips per second and the clients.
async fn performing(clients: Vec<Client>, performers: usize, seconds: f64) -> (f64, Vec<Client>) {
    let deadline = Instant::now() + Duration::from_secs_f64(seconds);
    let started = Instant::now();
    let tasks: Vec<_> = clients
        .into_iter()
        .enumerate()
        .map(|(i, mut client)| {
            tokio::spawn(async move {
                let done = if i < performers { client.echo_until(deadline).await } else { 0 };
                (done, client)
            })
        })
        .collect();
    let (mut total, mut back) = (0, Vec::new());
    for task in tasks {
        let (done, client) = task.await.expect("perform task");
        total += done;
        back.push(client);
    }
    (total as f64 / started.elapsed().as_secs_f64(), back)
}
