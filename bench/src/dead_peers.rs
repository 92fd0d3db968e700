//! The dead-peers run (`--dead-peers N`): N subscribed clients vanish without a FIN, and the
//! run measures how long the server takes to notice, as the app sees it: the time until each
//! one's `unsubscribed` ran.
//!
//! The N clients connect from 127.0.0.2; an observer from 127.0.0.1 subscribes to
//! `BenchChannel` with `observe: true`, which streams `bench:left`, where every other
//! subscription's `unsubscribed` broadcasts (test-app/app/channels/bench_channel.rb). Then an
//! nftables table drops every packet from or to 127.0.0.2 (loopback packets pass the output
//! hook once each way), so the server's pings are never acknowledged and nothing it sends
//! arrives: the peers are dead as a phone that left the network. The table is deleted when
//! the run ends. Needs root (nft) and `nft` itself.

use std::net::{IpAddr, Ipv4Addr};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::client::Client;

/// Where the vanishing clients connect from.
const DEAD: IpAddr = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2));
/// The nftables table of the run (created and deleted by it).
const TABLE: &str = "cable_bench_dead_peers";
/// The observer's subscription.
const OBSERVER: &str = r#"{"channel":"BenchChannel","observe":true}"#;

/// Runs the dead-peers measurement; `wait` is how long to wait for every `unsubscribed`.
pub(crate) async fn run(
    url: &str,
    cookie: &str,
    extra: &Arc<Vec<(String, String)>>,
    n: usize,
    wait: Duration,
) -> Value {
    let mut observer = Client::subscribe_to(url, cookie, extra, OBSERVER, None)
        .await
        .unwrap_or_else(|e| crate::fail(&format!("observer: {e}")));
    let (doomed, failures) =
        crate::client::connect_many(n, 100, url, cookie, extra, crate::client::IDENTIFIER, Some(DEAD)).await;
    if let Some(e) = failures.first() {
        crate::fail(&format!("{} clients failed to subscribe, the first: {e}", failures.len()));
    }
    tokio::time::sleep(Duration::from_secs(1)).await;

    let _blackhole = Blackhole::install();
    let cut = Instant::now();
    let mut left = Vec::with_capacity(n);
    let deadline = tokio::time::Instant::now() + wait;
    while left.len() < n {
        match tokio::time::timeout_at(deadline, observer.next()).await {
            Ok(Ok(value)) if value["message"]["left"] == json!(true) => {
                left.push(cut.elapsed().as_secs_f64())
            }
            Ok(Ok(_)) => {}
            Ok(Err(e)) => crate::fail(&format!("observer lost: {e}")),
            Err(_) => break,
        }
    }
    drop(doomed); // their FINs are dropped too; the server already closed these sockets
    let at = |q: f64| left.get(((left.len() as f64 * q).ceil() as usize).saturating_sub(1)).copied();
    json!({
        "dead_peers": n,
        "unsubscribed": left.len(),
        "wait_seconds": wait.as_secs_f64(),
        "first_s": left.first(),
        "p50_s": at(0.5),
        "p99_s": at(0.99),
        "last_s": if left.len() == n { left.last().copied() } else { None },
    })
}

/// The nftables rules that drop 127.0.0.2's packets, deleted on drop.
struct Blackhole;

impl Blackhole {
    fn install() -> Self {
        let rules = format!(
            "table inet {TABLE} {{\n chain out {{\n  type filter hook output priority 0; policy accept;\n  \
             ip saddr {DEAD} drop\n  ip daddr {DEAD} drop\n }}\n}}\n"
        );
        let mut nft =
            Command::new("nft").args(["-f", "-"]).stdin(Stdio::piped()).spawn().unwrap_or_else(|e| {
                crate::fail(&format!("--dead-peers needs nft (Debian: nftables) and root: {e}"))
            });
        use std::io::Write as _;
        nft.stdin.take().expect("piped").write_all(rules.as_bytes()).expect("nft's stdin");
        if !nft.wait().is_ok_and(|status| status.success()) {
            crate::fail("nft refused the blackhole rules (root is needed)");
        }
        Self
    }
}

impl Drop for Blackhole {
    fn drop(&mut self) {
        let _ = Command::new("nft").args(["delete", "table", "inet", TABLE]).status();
    }
}
