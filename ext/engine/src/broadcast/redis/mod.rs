//! The Redis subscriber: one task, one pub/sub connection, for every channel the node's
//! [`Target`] wants.
//!
//! The connection is split (the redis crate's `PubSubSink` / `PubSubStream`): the task reads
//! messages and, in the same `select!`, handles requests to re-check channels
//! ([`Subscriber::refresh`], sent over an unbounded channel so the hub never waits), turning
//! them into SUBSCRIBE / UNSUBSCRIBE batches. A request only names a channel: the task asks
//! the target whether it is wanted *now*, so requests may arrive in any order or twice.
//!
//! When the connection fails the task reconnects with backoff (100 ms doubling to 4 s) and,
//! once back, subscribes to everything the target wants at that moment; requests that came
//! meanwhile are dropped, the full re-subscribe covers them. Each state change is logged
//! once: a `warn` when the connection is lost (or the first attempt fails), an `info` when it
//! is back; the retries in between log at `debug`. The URL in logs has its password hidden.

mod backoff;
mod settings;
mod status;

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use redis::aio::{PubSubSink, PubSubStream};
use tokio::runtime::Handle;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

pub use settings::{redact, Settings};
pub use status::Status;

use super::Target;
use backoff::Backoff;

/// First delay before a reconnect.
const BACKOFF_FLOOR: Duration = Duration::from_millis(100);
/// Longest delay between reconnect attempts: below 5 s, so that broadcasts resume within 5 s
/// of Redis coming back even after a long outage.
const BACKOFF_CAP: Duration = Duration::from_secs(4);
/// Longest wait for a connection (TCP, TLS, handshake) or a command's reply.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(5);
/// How often an idle connection is checked with a PING (finds half-open connections).
const HEALTH_CHECK: Duration = Duration::from_secs(10);
/// Most channels in one SUBSCRIBE / UNSUBSCRIBE.
const BATCH: usize = 1024;

/// The handle the node keeps: where to send refresh requests, and the connection status.
#[derive(Debug)]
pub struct Subscriber {
    /// Channels to re-check; unbounded so that senders (the hub, connections) never wait.
    requests: mpsc::UnboundedSender<String>,
    status: Arc<Status>,
}

impl Subscriber {
    /// Starts the subscriber task on `runtime`; it runs until `shutdown` is cancelled.
    pub fn start(
        settings: Settings,
        target: Arc<dyn Target>,
        shutdown: CancellationToken,
        runtime: &Handle,
    ) -> Self {
        let (requests, queue) = mpsc::unbounded_channel();
        let status = Arc::new(Status::default());
        let task = Task {
            url: settings.redacted_url(),
            settings,
            target,
            shutdown,
            requests: queue,
            status: Arc::clone(&status),
            subscribed: HashSet::new(),
        };
        runtime.spawn(task.run());
        Self { requests, status }
    }

    /// Asks the task to check whether `channel` is still wanted (or newly wanted) and to
    /// (un)subscribe accordingly. Never waits.
    pub fn refresh(&self, channel: String) {
        let _ = self.requests.send(channel); // the task is gone only after shutdown
    }

    /// The connection status.
    pub fn status(&self) -> &Status {
        &self.status
    }
}

/// Why a connection ended.
enum End {
    Shutdown,
    Lost(String),
}

struct Task {
    settings: Settings,
    /// The URL without its password, for every log line.
    url: String,
    target: Arc<dyn Target>,
    shutdown: CancellationToken,
    requests: mpsc::UnboundedReceiver<String>,
    status: Arc<Status>,
    /// What the live connection is subscribed to.
    subscribed: HashSet<String>,
}

impl Task {
    async fn run(mut self) {
        // redis enables rustls without a crypto provider; pick one unless the process has.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let client = match self.settings.client() {
            Ok(client) => client,
            Err(error) => {
                tracing::error!(url = %self.url, %error, "Redis broadcasts disabled");
                return self.status.failed(error);
            }
        };
        let mut backoff = Backoff::new(BACKOFF_FLOOR, BACKOFF_CAP);
        let mut ever_connected = false;
        let mut down = false; // a loss or a failed attempt was logged and not yet recovered
        let shutdown = self.shutdown.clone();
        loop {
            let attempt = tokio::select! {
                _ = shutdown.cancelled() => return,
                attempt = self.connect(&client) => attempt,
            };
            match attempt {
                Ok((sink, stream)) => {
                    backoff.reset();
                    self.status.up(down);
                    if down {
                        tracing::info!(url = %self.url, channels = self.subscribed.len(), "Redis connection restored");
                    } else if !ever_connected {
                        tracing::info!(url = %self.url, channels = self.subscribed.len(), "subscribed to Redis");
                    }
                    ever_connected = true;
                    match self.serve(sink, stream).await {
                        End::Shutdown => return,
                        End::Lost(error) => {
                            tracing::warn!(url = %self.url, %error, "lost connection to Redis; reconnecting");
                            self.status.lost(error);
                            down = true;
                        }
                    }
                }
                Err(error) => {
                    let error = self.settings.explain(&error);
                    if down {
                        tracing::debug!(url = %self.url, %error, "Redis still unreachable");
                    } else {
                        tracing::warn!(url = %self.url, %error, "cannot connect to Redis; retrying");
                        down = true;
                    }
                    self.status.failed(error);
                }
            }
            if !self.wait(backoff.next_delay()).await {
                return;
            }
        }
    }

    /// Sleeps before a reconnect, dropping refresh requests (the reconnect re-subscribes to
    /// everything wanted). False when shutdown came first.
    async fn wait(&mut self, delay: Duration) -> bool {
        let sleep = tokio::time::sleep(delay);
        tokio::pin!(sleep);
        loop {
            tokio::select! {
                _ = self.shutdown.cancelled() => return false,
                _ = &mut sleep => return true,
                request = self.requests.recv() => if request.is_none() {
                    return false; // the node is gone
                },
            }
        }
    }

    /// Connects and subscribes to every wanted channel.
    async fn connect(&mut self, client: &redis::Client) -> Result<(PubSubSink, PubSubStream), String> {
        let pubsub = tokio::time::timeout(COMMAND_TIMEOUT, client.get_async_pubsub())
            .await
            .map_err(|_| "timed out connecting".to_owned())?
            .map_err(|e| e.to_string())?;
        let (mut sink, stream) = pubsub.split();
        self.subscribed.clear();
        let mut wanted = self.target.channels();
        wanted.sort_unstable();
        wanted.dedup();
        for chunk in wanted.chunks(BATCH) {
            command(sink.subscribe(chunk)).await?;
        }
        self.subscribed.extend(wanted);
        Ok((sink, stream))
    }

    /// Delivers messages and applies refresh requests until the connection ends.
    async fn serve(&mut self, mut sink: PubSubSink, mut stream: PubSubStream) -> End {
        let mut health = tokio::time::interval(HEALTH_CHECK);
        health.tick().await; // the first tick is immediate
        loop {
            tokio::select! {
                _ = self.shutdown.cancelled() => return End::Shutdown,
                message = stream.next() => match message {
                    Some(message) => self.target.message(message.get_channel_name(), message.get_payload_bytes()),
                    None => return End::Lost("connection closed".into()),
                },
                Some(first) = self.requests.recv() => {
                    if let Err(error) = self.refresh(&mut sink, first).await {
                        return End::Lost(error);
                    }
                }
                _ = health.tick() => {
                    if let Err(error) = command(sink.ping::<redis::Value>()).await {
                        return End::Lost(error);
                    }
                }
            }
        }
    }

    /// Re-checks `first` and every request already queued, then (un)subscribes in batches.
    async fn refresh(&mut self, sink: &mut PubSubSink, first: String) -> Result<(), String> {
        let mut channels = HashSet::from([first]);
        while channels.len() < BATCH {
            match self.requests.try_recv() {
                Ok(channel) => channels.insert(channel),
                Err(_) => break,
            };
        }
        let (mut subscribe, mut unsubscribe) = (Vec::new(), Vec::new());
        for channel in channels {
            match (self.target.wants(&channel), self.subscribed.contains(&channel)) {
                (true, false) => subscribe.push(channel),
                (false, true) => unsubscribe.push(channel),
                _ => {}
            }
        }
        if !subscribe.is_empty() {
            command(sink.subscribe(&subscribe)).await?;
            tracing::debug!(channels = ?subscribe, "subscribed");
            self.subscribed.extend(subscribe);
        }
        if !unsubscribe.is_empty() {
            command(sink.unsubscribe(&unsubscribe)).await?;
            tracing::debug!(channels = ?unsubscribe, "unsubscribed");
            for channel in &unsubscribe {
                self.subscribed.remove(channel);
            }
        }
        Ok(())
    }
}

/// A Redis command's reply within [`COMMAND_TIMEOUT`], errors as text.
async fn command<T>(reply: impl std::future::Future<Output = redis::RedisResult<T>>) -> Result<T, String> {
    match tokio::time::timeout(COMMAND_TIMEOUT, reply).await {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(error)) => Err(error.to_string()),
        Err(_) => Err("timed out waiting for Redis".to_owned()),
    }
}
