//! The redeploy run (`--redeploy-seconds S`): `--clients` subscribers of `BenchChannel` while
//! broadcasts go out at `--rate` for S seconds straight into Redis (as a job worker of the app
//! would publish them: nothing goes through the server being restarted), and at
//! `--restart-at` seconds `--restart-command` restarts the server (SIGTERM, a new process on
//! the same port; `bench/run` supplies it). Receivers reconnect as drops.rs's do (extended ones
//! with `?sid=` and a history request). Reports the delivery ratio, how long after the restart
//! began each client received again, and the new process's counters (from `--metrics-path`):
//! `rpc_call_total` (the Ruby calls the recovery cost), `broker_errors_total`,
//! `broadcast_unplaced_total`.
//!
//! `--publish anycable` places each broadcast with the `redis` broker's script
//! (`ext/engine/src/broker/publish.lua`, as anycable-rs' Ruby broadcaster runs it);
//! `--publish action_cable` PUBLISHes it on the stream's channel as Action Cable's Redis adapter
//! does.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

use crate::args::Args;
use crate::drops::{start_receivers, summary, Link, Seen};
use crate::http::authority;

/// The `redis` broker's publish script, as the gem ships it.
const PUBLISH_SCRIPT: &str = include_str!("../../ext/engine/src/broker/publish.lua");
/// How long receivers keep reading after the last broadcast (catch-ups finish).
const SETTLE: Duration = Duration::from_secs(10);
/// The stream `BenchChannel` subscribers listen to.
const STREAM: &str = "bench";

/// Runs the redeploy; returns the report.
pub(crate) async fn run(args: &Args, cookie: &str, extra: &Arc<Vec<(String, String)>>) -> Value {
    let broadcasts = (args.redeploy_seconds * args.rate).round() as usize;
    let restart_seq = (args.restart_at * args.rate).round() as usize;
    let stop = Arc::new(AtomicBool::new(false));
    // No receiver drops its link here: only the server goes away.
    let link = Link::new(args, cookie, extra, broadcasts);
    let receivers = start_receivers(args, &link, |_| None, &stop).await;
    tokio::time::sleep(Duration::from_secs(1)).await; // every subscribe confirmed
    let mut redis = Redis::connect(&args.redis_url).await.unwrap_or_else(|e| panic!("Redis: {e}"));
    let mut ticks = tokio::time::interval(Duration::from_secs_f64(1.0 / args.rate));
    let mut restart = None;
    let mut restarted_at = Instant::now();
    for seq in 0..broadcasts {
        ticks.tick().await;
        if seq == restart_seq {
            restarted_at = Instant::now();
            let command = args.restart_command.clone();
            restart = Some(tokio::task::spawn_blocking(move || {
                let status = std::process::Command::new("sh").arg("-c").arg(&command).status();
                (status.is_ok_and(|s| s.success()), restarted_at.elapsed())
            }));
        }
        let data = json!({"seq": seq, "sent_us": 0}).to_string();
        let published = match args.publish.as_str() {
            "anycable" => {
                let publication = json!({"stream": STREAM, "data": data}).to_string();
                // history_ttl as the gem's default; the epoch Redis takes if it has none.
                let limit = args.history_limit.to_string();
                let argv =
                    ["EVAL", PUBLISH_SCRIPT, "0", "__anycable__", &publication, &limit, "300", "bench0"];
                redis.call(&argv).await
            }
            _ => redis.call(&["PUBLISH", STREAM, &data]).await,
        };
        published.unwrap_or_else(|e| panic!("publishing broadcast {seq}: {e}"));
    }
    let (restart_ok, restart_took) = match restart {
        Some(task) => task.await.unwrap_or((false, Duration::ZERO)),
        None => (false, Duration::ZERO),
    };
    tokio::time::sleep(SETTLE).await;
    // Read before the receivers leave (each leaving is a disconnect call).
    let counters = match &args.metrics_path {
        Some(path) => recovery_counters(&args.url, path).await,
        None => None,
    };
    stop.store(true, Ordering::Relaxed);
    let mut all: Vec<Seen> = Vec::with_capacity(args.clients);
    for receiver in receivers {
        all.push(receiver.await.expect("receiver task"));
    }
    let mut recovery: Vec<f64> = all
        .iter()
        .filter(|seen| seen.reconnects > 0)
        .filter_map(|seen| seen.resumed)
        .map(|at| at.saturating_duration_since(restarted_at).as_secs_f64() * 1e3)
        .collect();
    recovery.sort_by(f64::total_cmp);
    let not_back = all.iter().filter(|seen| seen.reconnects == 0 || seen.resumed.is_none()).count();
    json!({
        "redeploy_seconds": args.redeploy_seconds,
        "protocol": if args.extended { "actioncable-v1-ext-json" } else { "actioncable-v1-json" },
        "publish": args.publish,
        "rate": args.rate,
        "broadcasts": broadcasts,
        "restart_at_seconds": args.restart_at,
        "restart_ok": restart_ok,
        "restart_seconds": restart_took.as_secs_f64(),
        "receiving_again_ms": {
            "p50": percentile(&recovery, 0.5),
            "p99": percentile(&recovery, 0.99),
            "max": recovery.last(),
        },
        "clients_not_back": not_back,
        "server_after_restart": counters,
        "all": summary(&all, broadcasts),
    })
}

fn percentile(sorted: &[f64], q: f64) -> Option<f64> {
    (!sorted.is_empty()).then(|| sorted[((sorted.len() - 1) as f64 * q).round() as usize])
}

/// The counters of the server's Prometheus endpoint that tell how the recovery went
/// (`rpc_call_total`, `broker_errors_total`, `broadcast_unplaced_total`), each summed over its
/// labels.
async fn recovery_counters(url: &str, path: &str) -> Option<Value> {
    let mut stream = TcpStream::connect(authority(url)).await.ok()?;
    let request = format!("GET {path} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\r\n", authority(url));
    stream.write_all(request.as_bytes()).await.ok()?;
    let mut body = String::new();
    tokio::io::AsyncReadExt::read_to_string(&mut stream, &mut body).await.ok()?;
    let total = |name: &str| {
        let metric = format!("anycable_go_{name}");
        body.lines()
            .filter(|line| line.split([' ', '{']).next() == Some(metric.as_str()))
            .filter_map(|line| line.rsplit(' ').next()?.parse::<f64>().ok())
            .sum::<f64>() as u64
    };
    Some(json!({
        "rpc_call_total": total("rpc_call_total"),
        "broker_errors_total": total("broker_errors_total"),
        "broadcast_unplaced_total": total("broadcast_unplaced_total"),
    }))
}

/// One Redis connection speaking just enough RESP to send commands and read integer replies.
struct Redis {
    reader: BufReader<TcpStream>,
}

impl Redis {
    async fn connect(url: &str) -> Result<Self, String> {
        let address = url.trim_start_matches("redis://").split('/').next().unwrap_or("127.0.0.1:6379");
        let stream = TcpStream::connect(address).await.map_err(|e| format!("{address}: {e}"))?;
        Ok(Self { reader: BufReader::new(stream) })
    }

    /// Sends a command; returns its integer reply (an error reply is an `Err`).
    async fn call(&mut self, parts: &[&str]) -> Result<i64, String> {
        let mut command = format!("*{}\r\n", parts.len());
        for part in parts {
            command.push_str(&format!("${}\r\n{part}\r\n", part.len()));
        }
        self.reader.get_mut().write_all(command.as_bytes()).await.map_err(|e| e.to_string())?;
        let mut line = String::new();
        self.reader.read_line(&mut line).await.map_err(|e| e.to_string())?;
        match line.trim_end().split_at_checked(1) {
            Some((":", n)) => n.parse().map_err(|e| format!("{line}: {e}")),
            _ => Err(format!("unexpected reply {line:?}")),
        }
    }
}
