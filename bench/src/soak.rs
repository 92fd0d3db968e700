//! The soak run (`--soak-seconds S`): the usual broadcasts, at `--rate` for S seconds, to the
//! subscribed clients, while other clients come and go at `--churn` per second (each connects,
//! subscribes, stays about five seconds, and leaves). It reports the steady clients' delivery
//! ratio and latency, the server's RSS and open descriptors sampled every 10 s, RSS growth
//! after the warm-up (the first fifth of the run), and the descriptors once the churn stopped
//! against those before it began.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::args::Args;
use crate::client::Client;
use crate::stats;

/// How long a churned client stays.
const CHURN_LIFETIME: Duration = Duration::from_secs(5);
/// Samples of RSS and descriptors.
const SAMPLE_EVERY: Duration = Duration::from_secs(10);

/// Runs the soak over `clients` (already subscribed) and returns its report.
pub(crate) async fn run(
    args: &Args,
    cookie: &str,
    extra: &Arc<Vec<(String, String)>>,
    clients: &mut Vec<Client>,
    epoch: Instant,
) -> Value {
    let pid = args.pid.unwrap_or_else(|| crate::fail("--soak-seconds needs --pid"));
    let fds_before = stats::open_fds(pid);
    let stop = Arc::new(AtomicBool::new(false));
    let churn = tokio::spawn(churn(args.clone(), cookie.to_owned(), Arc::clone(extra), Arc::clone(&stop)));
    let samples = Arc::new(Mutex::new(Vec::new()));
    let sampler = {
        let (samples, stop) = (Arc::clone(&samples), Arc::clone(&stop));
        tokio::spawn(async move {
            let started = Instant::now();
            while !stop.load(Ordering::Relaxed) {
                let sample =
                    (started.elapsed().as_secs_f64(), stats::memory_kib(pid).rss, stats::open_fds(pid));
                samples.lock().expect("samples").push(sample);
                tokio::time::sleep(SAMPLE_EVERY).await;
            }
        })
    };
    let broadcasts = (args.soak_seconds * args.rate).round() as usize;
    let soak = Args { broadcasts, ..args.clone() };
    let (latencies, deliveries, last_recipient, cpu) = crate::broadcast_phase(&soak, clients, epoch).await;
    stop.store(true, Ordering::Relaxed);
    let (churned, churn_failures) = churn.await.expect("churn task");
    sampler.await.expect("sampler task");
    tokio::time::sleep(Duration::from_secs(5)).await; // the churned clients' sockets close
    let fds_after = stats::open_fds(pid);
    let rss_end = stats::memory_kib(pid).rss;

    let samples = samples.lock().expect("samples").clone();
    let warm = samples.iter().find(|(t, ..)| *t >= args.soak_seconds / 5.0).map(|(_, rss, _)| *rss);
    let expected = (clients.len().saturating_sub(1) * broadcasts) as f64;
    json!({
        "soak_seconds": args.soak_seconds,
        "clients": clients.len(),
        "broadcasts": broadcasts,
        "rate": args.rate,
        "payload_bytes": args.payload,
        "churn_per_second": args.churn,
        "churned_clients": churned,
        "churn_failures": churn_failures,
        "delivery_ratio": if expected > 0.0 { deliveries as f64 / expected } else { 0.0 },
        "latency_ms": stats::percentiles(&latencies),
        "last_recipient_ms": stats::percentiles(&last_recipient),
        "server_cpu_seconds": cpu,
        "rss_warm_kib": warm,
        "rss_end_kib": rss_end,
        "rss_growth_after_warmup": warm.map(|w| (rss_end as f64 - w as f64) / w as f64),
        "fds_before_churn": fds_before,
        "fds_after_churn": fds_after,
        "samples": samples.iter().map(|(t, rss, fds)| json!([t.round(), rss, fds])).collect::<Vec<_>>(),
    })
}

/// Connects `args.churn` clients per second, each dropped after [`CHURN_LIFETIME`], until
/// `stop`; then drops the rest. Returns (clients connected, connects that failed).
async fn churn(
    args: Args,
    cookie: String,
    extra: Arc<Vec<(String, String)>>,
    stop: Arc<AtomicBool>,
) -> (usize, usize) {
    if args.churn <= 0.0 {
        return (0, 0);
    }
    let pool: Arc<Mutex<VecDeque<(Instant, Client)>>> = Arc::default();
    let (connected, failed) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let mut ticks = tokio::time::interval(Duration::from_secs_f64(1.0 / args.churn));
    let mut connects = tokio::task::JoinSet::new();
    while !stop.load(Ordering::Relaxed) {
        ticks.tick().await;
        let (joined, connected, failed) = (Arc::clone(&pool), Arc::clone(&connected), Arc::clone(&failed));
        let (url, cookie, extra) = (args.url.clone(), cookie.clone(), Arc::clone(&extra));
        connects.spawn(async move {
            match Client::subscribe(&url, &cookie, &extra).await {
                Ok(client) => {
                    connected.fetch_add(1, Ordering::Relaxed);
                    joined.lock().expect("pool").push_back((Instant::now(), client));
                }
                Err(e) => {
                    if failed.fetch_add(1, Ordering::Relaxed) == 0 {
                        eprintln!("cable-bench: a churn connect failed: {e}");
                    }
                }
            }
        });
        while connects.try_join_next().is_some() {}
        let mut pool = pool.lock().expect("pool");
        while pool.front().is_some_and(|(at, _)| at.elapsed() >= CHURN_LIFETIME) {
            pool.pop_front(); // dropping the client closes its socket
        }
    }
    while connects.join_next().await.is_some() {}
    pool.lock().expect("pool").clear();
    (connected.load(Ordering::Relaxed), failed.load(Ordering::Relaxed))
}
