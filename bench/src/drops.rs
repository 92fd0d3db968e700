//! The drops run (`--drops-seconds S`): broadcasts at `--rate` for S seconds to `--clients`
//! subscribers, while a fraction of them (`--drop-fraction`) lose their link every
//! `--drop-every` seconds for `--drop-for` seconds: the client drops its socket (no close
//! frame), stays away, and reconnects as its library would. With `--extended`, clients speak
//! `actioncable-v1-ext-json` as `@anycable/core` does: they reconnect with `?sid=` and, restored
//! or not, ask for the history after the last position they saw; otherwise they are stock
//! Action Cable clients that connect and subscribe again. Reports the delivery ratio over every
//! broadcast and client (steady and dropped ones apart), messages received twice or out of
//! order, and the reconnects (and restores).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio::net::TcpStream;
use tokio::sync::Semaphore;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::WebSocketStream;

use crate::args::Args;
use crate::client::{Client, IDENTIFIER};
use crate::http::authority;

/// How long receivers keep reading after the last broadcast (catch-ups finish).
const SETTLE: Duration = Duration::from_secs(10);
/// How long a receiver is connected before its first drop can come.
const WARM_UP: Duration = Duration::from_secs(5);

/// What one receiver saw.
#[derive(Debug, Default)]
pub(crate) struct Seen {
    /// Times each broadcast (by seq) arrived.
    pub(crate) counts: Vec<u8>,
    /// Arrivals with a seq lower than one received before.
    pub(crate) out_of_order: usize,
    pub(crate) reconnects: usize,
    pub(crate) restored: usize,
    pub(crate) failures: usize,
    /// `reject_history` answers (what was missed is no longer kept).
    pub(crate) rejected: usize,
    /// When the first broadcast came after the latest reconnect.
    pub(crate) resumed: Option<Instant>,
}

/// One receiver's link schedule: when (after its first connection and a 5 s warm-up) its first
/// drop comes; the receivers' drops are spread over one `--drop-every`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Flaky {
    first: Duration,
}

/// Runs the drops over a driver that is subscribed (and never dropped); returns the report.
pub(crate) async fn run(
    args: &Args,
    cookie: &str,
    extra: &Arc<Vec<(String, String)>>,
    mut driver: Client,
) -> Value {
    let broadcasts = (args.drops_seconds * args.rate).round() as usize;
    let flaky_count = (args.clients as f64 * args.drop_fraction).round() as usize;
    let stop = Arc::new(AtomicBool::new(false));
    let every = Duration::from_secs_f64(args.drop_every);
    let link = Link::new(args, cookie, extra, broadcasts);
    let flaky = |i: usize| {
        (i < flaky_count).then(|| Flaky { first: every.mul_f64((i as f64 + 1.0) / flaky_count as f64) })
    };
    let receivers = start_receivers(args, &link, flaky, &stop).await;
    let started = Instant::now();
    let mut ticks = tokio::time::interval(Duration::from_secs_f64(1.0 / args.rate));
    for seq in 0..broadcasts {
        driver.read_until_tick(&mut ticks).await;
        driver.perform("broadcast", json!({"payload": {"seq": seq, "sent_us": 0}})).await;
    }
    let sending_seconds = started.elapsed().as_secs_f64();
    let settle = tokio::time::sleep(SETTLE + Duration::from_secs_f64(args.drop_for));
    tokio::pin!(settle);
    loop {
        tokio::select! {
            () = &mut settle => break,
            _ = driver.next() => {}
        }
    }
    stop.store(true, Ordering::Relaxed);
    let mut all = Vec::with_capacity(args.clients);
    for receiver in receivers {
        all.push(receiver.await.expect("receiver task"));
    }
    let (flaky, steady) = all.split_at(flaky_count.min(all.len()));
    json!({
        "drops_seconds": args.drops_seconds,
        "protocol": if args.extended { "actioncable-v1-ext-json" } else { "actioncable-v1-json" },
        "rate": args.rate,
        "broadcasts": broadcasts,
        "sending_seconds": sending_seconds,
        "drop_every_seconds": args.drop_every,
        "drop_for_seconds": args.drop_for,
        "all": summary(&all, broadcasts),
        "dropped_clients": summary(flaky, broadcasts),
        "steady_clients": summary(steady, broadcasts),
    })
}

/// Starts `--clients` receivers connecting as `link` says (the i-th one's drops as `flaky(i)`
/// says) and waits until each is subscribed once. They run until `stop`.
pub(crate) async fn start_receivers(
    args: &Args,
    link: &Link,
    flaky: impl Fn(usize) -> Option<Flaky>,
    stop: &Arc<AtomicBool>,
) -> Vec<tokio::task::JoinHandle<Seen>> {
    let gate = Arc::new(Semaphore::new(args.connect_concurrency));
    let (ready_tx, mut ready_rx) = tokio::sync::mpsc::unbounded_channel::<()>();
    let mut receivers = Vec::with_capacity(args.clients);
    for i in 0..args.clients {
        let (link, flaky) = (link.clone(), flaky(i));
        let (stop, gate, ready) = (Arc::clone(stop), Arc::clone(&gate), ready_tx.clone());
        receivers.push(tokio::spawn(async move { link.run(flaky, &stop, &gate, ready).await }));
    }
    drop(ready_tx);
    for _ in 0..args.clients {
        if ready_rx.recv().await.is_none() {
            break;
        }
    }
    receivers
}

/// Delivery over `seen` receivers of `broadcasts` numbered broadcasts: the ratio, what was
/// missed, received twice or out of order, and the reconnects (and restores).
pub(crate) fn summary(seen: &[Seen], broadcasts: usize) -> Value {
    let expected = (seen.len() * broadcasts) as f64;
    let unique: usize = seen.iter().map(|s| s.counts.iter().filter(|&&n| n > 0).count()).sum();
    let twice: usize =
        seen.iter().map(|s| s.counts.iter().map(|&n| n.saturating_sub(1) as usize).sum::<usize>()).sum();
    json!({
        "clients": seen.len(),
        "delivery_ratio": if expected > 0.0 { unique as f64 / expected } else { 0.0 },
        "missed": expected as usize - unique,
        "received_twice": twice,
        "out_of_order": seen.iter().map(|s| s.out_of_order).sum::<usize>(),
        "reconnects": seen.iter().map(|s| s.reconnects).sum::<usize>(),
        "restored": seen.iter().map(|s| s.restored).sum::<usize>(),
        "connect_failures": seen.iter().map(|s| s.failures).sum::<usize>(),
        "history_rejected": seen.iter().map(|s| s.rejected).sum::<usize>(),
    })
}

/// How one receiver connects.
#[derive(Clone)]
pub(crate) struct Link {
    url: String,
    cookie: String,
    extra: Arc<Vec<(String, String)>>,
    extended: bool,
    broadcasts: usize,
    drop_every: Duration,
    drop_for: Duration,
}

/// What an extended client remembers across reconnects.
#[derive(Debug, Default)]
struct Memory {
    sid: Option<String>,
    /// stream → (epoch, offset) of the last broadcast received.
    positions: serde_json::Map<String, Value>,
    /// Unix seconds of the last ping (for `history.since`).
    last_ping: u64,
}

impl Link {
    /// A receiver of `broadcasts` numbered broadcasts, connecting and dropping as `args` say.
    pub(crate) fn new(
        args: &Args,
        cookie: &str,
        extra: &Arc<Vec<(String, String)>>,
        broadcasts: usize,
    ) -> Self {
        Self {
            url: args.url.clone(),
            cookie: cookie.to_owned(),
            extra: Arc::clone(extra),
            extended: args.extended,
            broadcasts,
            drop_every: Duration::from_secs_f64(args.drop_every),
            drop_for: Duration::from_secs_f64(args.drop_for),
        }
    }

    /// Connects, reads and reconnects (after a scheduled drop of a `flaky` receiver, or when the
    /// server closes or goes away) until `stop`; says on `ready` when first subscribed.
    pub(crate) async fn run(
        &self,
        flaky: Option<Flaky>,
        stop: &AtomicBool,
        gate: &Semaphore,
        ready: tokio::sync::mpsc::UnboundedSender<()>,
    ) -> Seen {
        let mut seen = Seen { counts: vec![0; self.broadcasts], ..Seen::default() };
        let mut memory = Memory { last_ping: unix_now(), ..Memory::default() };
        let mut highest: Option<usize> = None;
        let mut next_drop = None;
        let mut first = true;
        while !stop.load(Ordering::Relaxed) {
            let ws = {
                let _permit = gate.acquire().await.expect("semaphore open");
                self.connect(&mut memory, &mut seen).await
            };
            let Some(mut ws) = ws else {
                seen.failures += 1;
                tokio::time::sleep(Duration::from_secs(1)).await;
                continue;
            };
            if first {
                first = false;
                next_drop = flaky.map(|f| Instant::now() + WARM_UP + f.first);
                let _ = ready.send(());
            } else {
                seen.reconnects += 1;
                seen.resumed = None;
            }
            // Read until the link drops (scheduled), the socket fails, or the run ends.
            loop {
                let until_drop = next_drop.map(|at| tokio::time::sleep_until(at.into()));
                let frame = tokio::select! {
                    () = async { match until_drop { Some(sleep) => sleep.await, None => std::future::pending().await } } => None,
                    frame = tokio::time::timeout(Duration::from_millis(500), ws.next()) => match frame {
                        Err(_) => if stop.load(Ordering::Relaxed) { return seen } else { continue },
                        Ok(frame) => Some(frame),
                    },
                };
                let Some(frame) = frame else {
                    drop(ws); // the link is gone: no close frame
                    tokio::time::sleep(self.drop_for).await;
                    next_drop = next_drop.map(|at| at + self.drop_every);
                    break;
                };
                let Some(Ok(Message::Text(text))) = frame else {
                    match frame {
                        Some(Ok(_)) => continue,
                        _ => {
                            tokio::time::sleep(Duration::from_secs(1)).await;
                            break;
                        }
                    }
                };
                let Ok(value) = serde_json::from_str::<Value>(&text) else { continue };
                if value["type"] == "reject_history" {
                    seen.rejected += 1;
                }
                if value["type"] == "ping" {
                    memory.last_ping = unix_now();
                    if self.extended {
                        let _ = ws.send(Message::text(json!({"command": "pong"}).to_string())).await;
                    }
                    continue;
                }
                if let Some(seq) = value["message"]["seq"].as_u64().map(|s| s as usize) {
                    seen.resumed.get_or_insert_with(Instant::now);
                    if let Some(count) = seen.counts.get_mut(seq) {
                        *count = count.saturating_add(1);
                    }
                    if highest.is_some_and(|h| seq < h) {
                        seen.out_of_order += 1;
                    }
                    highest = highest.max(Some(seq));
                    if let (Some(stream), Some(epoch), Some(offset)) =
                        (value["stream_id"].as_str(), value["epoch"].as_str(), value["offset"].as_u64())
                    {
                        memory.positions.insert(stream.to_owned(), json!({"epoch": epoch, "offset": offset}));
                    }
                }
            }
        }
        seen
    }

    /// Connects (restoring the last session when extended), subscribes or asks for history.
    async fn connect(&self, memory: &mut Memory, seen: &mut Seen) -> Option<WebSocketStream<TcpStream>> {
        let query = match (&memory.sid, self.extended) {
            (Some(sid), true) => format!("?sid={sid}"),
            _ => String::new(),
        };
        let mut request = format!("ws://{}/cable{query}", authority(&self.url)).into_client_request().ok()?;
        let headers = request.headers_mut();
        headers.insert("Cookie", self.cookie.parse().ok()?);
        headers.insert("Origin", self.url.parse().ok()?);
        for (name, value) in self.extra.iter() {
            let name: tokio_tungstenite::tungstenite::http::HeaderName = name.parse().ok()?;
            headers.insert(name, value.parse().ok()?);
        }
        let protocol = if self.extended { "actioncable-v1-ext-json" } else { "actioncable-v1-json" };
        headers.insert("Sec-WebSocket-Protocol", protocol.parse().ok()?);
        let connect = async {
            let stream = TcpStream::connect(authority(&self.url)).await.ok()?;
            let (mut ws, _) = tokio_tungstenite::client_async(request, stream).await.ok()?;
            let welcome = next_json(&mut ws).await?;
            if welcome["type"] != "welcome" {
                return None;
            }
            if self.extended {
                memory.sid = welcome["sid"].as_str().map(str::to_owned);
            }
            let history = json!({"since": memory.last_ping, "streams": memory.positions});
            let command = if welcome["restored"] == true {
                seen.restored += 1;
                json!({"command": "history", "identifier": IDENTIFIER, "history": history})
            } else if self.extended && !memory.positions.is_empty() {
                json!({"command": "subscribe", "identifier": IDENTIFIER, "history": history})
            } else {
                json!({"command": "subscribe", "identifier": IDENTIFIER})
            };
            ws.send(Message::text(command.to_string())).await.ok()?;
            Some(ws)
        };
        tokio::time::timeout(Duration::from_secs(15), connect).await.ok().flatten()
    }
}

async fn next_json(ws: &mut WebSocketStream<TcpStream>) -> Option<Value> {
    loop {
        match ws.next().await? {
            Ok(Message::Text(text)) => {
                let value: Value = serde_json::from_str(&text).ok()?;
                if value["type"] != "ping" {
                    return Some(value);
                }
            }
            Ok(_) => {}
            Err(_) => return None,
        }
    }
}

fn unix_now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}
