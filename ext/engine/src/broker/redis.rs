//! The `redis` broker's store: stream history and kept sessions in Redis, shared by every
//! process that publishes and serves through the same Redis and `redis_channel`.
//!
//! Broadcasts are placed by [`PUBLISH_SCRIPT`] (run by the publisher, which then PUBLISHes them
//! with their place); nodes read a stream's history with [`Store::history`] only when a client
//! asks for more than they saw themselves (`super::Broker`). Sessions are JSON under
//! `<channel>:session:<sid>` with `sessions_ttl` as their expiry.
//!
//! Every call has a deadline ([`TIMEOUT`]); a failed one is an `Err` for the caller to handle
//! (history rejected, session not restored), logged once per outage, never retried in a loop.
//! One multiplexed connection is shared; every call waits for the same connection attempt (a
//! burst of restores after a deploy makes one connection, not one each), and after a failure
//! a new attempt is made at most once per [`RETRY_INTERVAL`].

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use futures_util::future::{BoxFuture, FutureExt, Shared};
use redis::aio::MultiplexedConnection;
use redis::{AsyncConnectionConfig, Client, Value};

use crate::broadcast::redis::Settings;
use crate::config::Config;
use crate::protocol::BroadcastData;

use super::cached::CachedSession;

/// The Lua script that places and PUBLISHes a publication (its header says how).
pub const PUBLISH_SCRIPT: &str = include_str!("publish.lua");

/// Deadline of a connect and of each call.
const TIMEOUT: Duration = Duration::from_secs(2);
/// Least time between two connection attempts while Redis is away.
const RETRY_INTERVAL: Duration = Duration::from_secs(1);

/// A stream's history as Redis holds it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Remote {
    /// The broker generation; `None` when Redis has never placed a broadcast (or lost its data).
    pub epoch: Option<String>,
    /// The stream's last offset (0: none placed, or forgotten).
    pub last: u64,
    /// Kept messages younger than `history_ttl`, oldest first.
    pub entries: Vec<RemoteEntry>,
}

/// One message of a [`Remote`] history.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoteEntry {
    /// Its offset in the stream.
    pub offset: u64,
    /// Unix seconds when it was placed.
    pub at: u64,
    /// The broadcast's data, prepared for framing.
    pub data: BroadcastData,
}

/// A connection attempt every caller can wait for; it resolves once and keeps its outcome.
type Connecting = Shared<BoxFuture<'static, Result<MultiplexedConnection, String>>>;

/// A read of one stream's history that every request meanwhile waits for.
type Reading = Shared<BoxFuture<'static, Result<Arc<Remote>, String>>>;

/// Stream history and sessions in Redis.
pub struct Store {
    client: Result<Client, String>,
    channel: String,
    history_ttl: Duration,
    sessions_ttl: Duration,
    /// The latest connection attempt and when it began; cloned out, never held across a call.
    connection: Mutex<Option<(Connecting, Instant)>>,
    /// Reads of stream history in flight, by stream: after a deploy every client of a stream
    /// asks at once, and one read answers them all.
    reading: Mutex<HashMap<String, Reading>>,
    /// A failure was logged and no call has succeeded since.
    down: AtomicBool,
    /// The URL without its password, for logs.
    url: String,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("url", &self.url)
            .field("channel", &self.channel)
            .finish_non_exhaustive()
    }
}

fn locked<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // Each guarded value is replaced whole, so a panic while held leaves it consistent.
    mutex.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl Store {
    /// A store at `redis_url` with the keys of `redis_channel`; connects on first use.
    pub fn new(config: &Config) -> Self {
        let settings = Settings::from_config(config);
        let client =
            settings.as_ref().ok_or_else(|| "redis_url is not set".to_owned()).and_then(Settings::client);
        Self {
            client,
            channel: config.redis_channel.clone(),
            history_ttl: config.history_ttl,
            sessions_ttl: config.sessions_ttl,
            connection: Mutex::new(None),
            reading: Mutex::default(),
            down: AtomicBool::new(false),
            url: settings.map(|s| s.redacted_url()).unwrap_or_default(),
        }
    }

    async fn connection(&self) -> Result<MultiplexedConnection, String> {
        let connecting = {
            let mut slot = locked(&self.connection);
            match &*slot {
                Some((connecting, began))
                    if !matches!(connecting.peek(), Some(Err(_))) || began.elapsed() < RETRY_INTERVAL =>
                {
                    connecting.clone()
                }
                _ => {
                    let connecting = self.connect().boxed().shared();
                    *slot = Some((connecting.clone(), Instant::now()));
                    connecting
                }
            }
        };
        connecting.await
    }

    fn connect(&self) -> impl std::future::Future<Output = Result<MultiplexedConnection, String>> + 'static {
        let client = self.client.clone();
        async move {
            let client = client?;
            // redis enables rustls without a crypto provider; pick one unless the process has.
            let _ = rustls::crypto::ring::default_provider().install_default();
            let options = AsyncConnectionConfig::new()
                .set_connection_timeout(Some(TIMEOUT))
                .set_response_timeout(Some(TIMEOUT));
            client.get_multiplexed_async_connection_with_config(&options).await.map_err(|e| e.to_string())
        }
    }

    /// Runs `call` on the shared connection; a failure drops the connection and is logged
    /// once per outage, a success after one says Redis is back.
    pub(super) async fn call<T, F>(
        &self,
        what: &str,
        call: impl FnOnce(MultiplexedConnection) -> F,
    ) -> Result<T, String>
    where
        F: std::future::Future<Output = redis::RedisResult<T>>,
    {
        let outcome = match self.connection().await {
            Ok(connection) => match tokio::time::timeout(TIMEOUT, call(connection)).await {
                Ok(Ok(value)) => Ok(value),
                Ok(Err(error)) => Err(error.to_string()),
                Err(_) => Err(format!("no answer within {TIMEOUT:?}")),
            },
            Err(error) => Err(error),
        };
        match &outcome {
            Ok(_) if self.down.swap(false, Ordering::Relaxed) => {
                tracing::info!(url = %self.url, "broker: Redis is back");
            }
            Ok(_) => {}
            Err(error) => {
                let mut slot = locked(&self.connection);
                // A broken connection is dropped (the next call connects again); a failed
                // attempt stays, so calls within RETRY_INTERVAL fail at once.
                if slot.as_ref().is_some_and(|(connecting, _)| matches!(connecting.peek(), Some(Ok(_)))) {
                    *slot = None;
                }
                drop(slot);
                if !self.down.swap(true, Ordering::Relaxed) {
                    tracing::warn!(url = %self.url, %error, what, "broker: Redis is unavailable: history is answered from this process only and sessions are not kept until it is back");
                }
            }
        }
        outcome
    }

    /// The channel its keys are named from (`redis_channel`).
    pub(super) fn channel(&self) -> &str {
        &self.channel
    }

    fn key(&self, kind: &str, name: &str) -> String {
        format!("{}:{kind}:{name}", self.channel)
    }

    /// What Redis keeps of `stream`, read in one atomic step; a read of it already in flight
    /// is shared. (It may so be older than the request; the caller merges it with what this
    /// node received since: `super::Memory::catch_up_remote`.)
    pub async fn history(self: &Arc<Self>, stream: &str) -> Result<Arc<Remote>, String> {
        let reading = {
            let mut reading = locked(&self.reading);
            match reading.get(stream) {
                Some(read) => read.clone(),
                None => {
                    let (store, name) = (Arc::clone(self), stream.to_owned());
                    let read = async move {
                        let remote = store.read_history(&name).await.map(Arc::new);
                        locked(&store.reading).remove(&name);
                        remote
                    }
                    .boxed()
                    .shared();
                    reading.insert(stream.to_owned(), read.clone());
                    read
                }
            }
        };
        reading.await
    }

    async fn read_history(&self, stream: &str) -> Result<Remote, String> {
        let mut pipe = redis::pipe();
        pipe.atomic()
            .cmd("GET")
            .arg(format!("{}:epoch", self.channel))
            .cmd("GET")
            .arg(self.key("offset", stream))
            .cmd("XRANGE")
            .arg(self.key("history", stream))
            .arg("-")
            .arg("+");
        let (epoch, last, range): (Option<String>, Option<u64>, Value) =
            self.call("history", |mut c| async move { pipe.query_async(&mut c).await }).await?;
        let oldest = unix_millis().saturating_sub(self.history_ttl.as_millis() as u64);
        let entries =
            entries(&range)?.into_iter().filter(|(millis, _)| *millis >= oldest).map(|(_, e)| e).collect();
        Ok(Remote { epoch, last: last.unwrap_or(0), entries })
    }

    /// Keeps `session` under `sid` for `sessions_ttl`.
    pub async fn commit_session(&self, sid: &str, session: &CachedSession) -> Result<(), String> {
        let json = serde_json::to_string(session).map_err(|e| e.to_string())?;
        let mut cmd = redis::cmd("SET");
        cmd.arg(self.key("session", sid)).arg(json).arg("EX").arg(self.sessions_ttl.as_secs().max(1));
        self.call("commit_session", |mut c| async move { cmd.query_async::<()>(&mut c).await }).await
    }

    /// The session kept under `sid`, if it has not expired.
    pub async fn restore_session(&self, sid: &str) -> Result<Option<CachedSession>, String> {
        let mut cmd = redis::cmd("GET");
        cmd.arg(self.key("session", sid));
        let json: Option<String> =
            self.call("restore_session", |mut c| async move { cmd.query_async(&mut c).await }).await?;
        json.map(|json| serde_json::from_str(&json).map_err(|e| format!("kept session is not valid: {e}")))
            .transpose()
    }
}

pub(super) fn unix_millis() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64)
}

/// (milliseconds of the entry id, entry) of each XRANGE entry.
fn entries(range: &Value) -> Result<Vec<(u64, RemoteEntry)>, String> {
    let bad = || "unexpected XRANGE reply".to_owned();
    let Value::Array(items) = range else {
        return if *range == Value::Nil { Ok(Vec::new()) } else { Err(bad()) };
    };
    items
        .iter()
        .map(|item| {
            let Value::Array(parts) = item else { return Err(bad()) };
            let [Value::BulkString(id), Value::Array(fields)] = parts.as_slice() else { return Err(bad()) };
            let millis = std::str::from_utf8(id)
                .ok()
                .and_then(|id| id.split('-').next()?.parse().ok())
                .ok_or_else(bad)?;
            let (mut offset, mut data) = (None, None);
            for pair in fields.chunks(2) {
                if let [Value::BulkString(name), Value::BulkString(value)] = pair {
                    match name.as_slice() {
                        b"offset" => offset = std::str::from_utf8(value).ok().and_then(|v| v.parse().ok()),
                        b"data" => data = std::str::from_utf8(value).ok().map(BroadcastData::new),
                        _ => {}
                    }
                }
            }
            let (offset, data) = offset.zip(data).ok_or_else(bad)?;
            Ok((millis, RemoteEntry { offset, at: millis / 1000, data }))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn xrange_entries_are_read_with_their_time_offset_and_data() {
        let bulk = |s: &str| Value::BulkString(s.as_bytes().to_vec());
        let entry = |id: &str, offset: &str, data: &str| {
            Value::Array(vec![
                bulk(id),
                Value::Array(vec![bulk("offset"), bulk(offset), bulk("data"), bulk(data)]),
            ])
        };
        let range =
            Value::Array(vec![entry("1700000000123-0", "4", "a"), entry("1700000001000-0", "5", "{}")]);
        let read = entries(&range).unwrap();
        assert_eq!(
            read[0],
            (1_700_000_000_123, RemoteEntry { offset: 4, at: 1_700_000_000, data: BroadcastData::new("a") })
        );
        assert_eq!(read[1].1.offset, 5);
        assert_eq!(entries(&Value::Array(vec![])).unwrap(), []);
        assert!(entries(&Value::Array(vec![bulk("x")])).is_err());
    }
}
