//! The broker: what makes delivery reliable (docs/architecture.md §6.5). It sits between a
//! broadcast and its fan-out, gives each broadcast its place in its stream's history (epoch and
//! offset), keeps that history for clients that come back, and keeps the sessions of clients
//! that left so they can be restored without calling the app.
//!
//! [`Memory`] keeps both in this process: a new epoch per process start, so history and
//! sessions do not outlive it or reach other processes. With `broker: redis`, [`Broker`] adds a
//! [`Store`] in Redis: broadcasts are placed by the publish script as they pass through Redis,
//! `Memory` is this node's cache of what it saw, and Redis answers what the cache cannot and
//! keeps sessions for every process. The hub stays the only fan-out, and live delivery never
//! waits for the broker or depends on Redis being up.

mod cached;
mod history;
mod memory;
pub mod presence;
pub mod redis;
mod redis_presence;

use std::sync::Arc;
use std::time::Duration;

pub use cached::{CachedSession, CachedSubscription};
pub use history::{HistoryError, Since};
pub use memory::Memory;
pub use presence::PresenceError;
pub use redis::{Store, PUBLISH_SCRIPT};

use crate::config::{BrokerAdapter, Config};
use crate::protocol::{BroadcastData, Placed, PresenceJoin};
use presence::{Live, Presences};

/// History, kept sessions and presence sets: in this process, and with `broker: redis` in
/// Redis as well.
#[derive(Debug)]
pub struct Broker {
    memory: Memory,
    redis: Option<Arc<Store>>,
    /// The presence sets, without Redis.
    presences: Presences,
    /// This node's present sessions, with Redis.
    live: Live,
    presence_ttl: Duration,
}

/// Presence events (JSON) an operation caused, and its answer.
pub type PresenceAnswer<T> = Result<(Vec<String>, T), PresenceError>;

impl Broker {
    /// The broker `config.broker` asks for; `None` for `none`.
    pub fn new(config: &Config) -> Option<Self> {
        let redis = match config.broker {
            BrokerAdapter::None => return None,
            BrokerAdapter::Memory => None,
            BrokerAdapter::Redis => Some(Arc::new(Store::new(config))),
        };
        Some(Self {
            memory: Memory::new(config),
            redis,
            presences: Presences::new(config.presence_ttl),
            live: Live::default(),
            presence_ttl: config.presence_ttl,
        })
    }

    /// This process's part: with `redis`, the cache of what this node saw.
    pub fn memory(&self) -> &Memory {
        &self.memory
    }

    /// The Redis part, with `broker: redis`.
    pub fn redis(&self) -> Option<&Arc<Store>> {
        self.redis.as_ref()
    }

    /// Whether sessions are kept (`sessions_ttl` above 0).
    pub fn keeps_sessions(&self) -> bool {
        self.memory.keeps_sessions()
    }

    /// The session kept under `sid`: this process's, else Redis'. `Err` when Redis could not
    /// be asked (the client then connects anew).
    pub async fn restore_session(&self, sid: &str) -> Result<Option<CachedSession>, String> {
        match (self.memory.restore_session(sid), &self.redis) {
            (Some(session), _) => Ok(Some(session)),
            (None, Some(redis)) => redis.restore_session(sid).await,
            (None, None) => Ok(None),
        }
    }

    /// Hands `each` what a client with `since` missed of `stream`, in order, then calls `join`
    /// (see [`Memory::catch_up`]). With Redis, the node's cache answers when it can; otherwise
    /// Redis is read first (no lock held meanwhile) and merged with the cache. `Err(Err(_))`
    /// when Redis could not be read (the stream still joins).
    pub async fn catch_up(
        &self,
        stream: &str,
        since: Option<Since<'_>>,
        mut each: impl FnMut(&BroadcastData, Placed<'_>),
        join: impl FnOnce(),
    ) -> Result<Result<(), HistoryError>, String> {
        let (Some(redis), Some(since)) = (&self.redis, since) else {
            return Ok(self.memory.catch_up(stream, since, each, join));
        };
        let mut join = Some(join);
        let mut join_once = || {
            if let Some(join) = join.take() {
                join();
            }
        };
        if let Some(answer) = self.memory.catch_up_cached(stream, since, &mut each, &mut join_once) {
            return Ok(answer);
        }
        match redis.history(stream).await {
            Ok(remote) => Ok(self.memory.catch_up_remote(stream, since, &remote, each, join_once)),
            Err(error) => {
                let _ = self.memory.catch_up(stream, Some(since), each, join_once);
                Err(error)
            }
        }
    }

    /// Session `sid` enters `stream`'s presence set as `join` says: events (a join when its id
    /// is new there).
    pub async fn presence_join(&self, stream: &str, sid: &str, join: &PresenceJoin) -> PresenceAnswer<()> {
        let Some(redis) = &self.redis else {
            return Ok((self.presences.join(stream, sid, join)?.into_iter().collect(), ()));
        };
        let answer = redis.presence_join(stream, sid, join, self.presence_ttl).await?;
        self.live.add(sid, stream);
        Ok(answer)
    }

    /// Session `sid` leaves `stream`'s presence set: events (a leave when it was the record's
    /// last session).
    pub async fn presence_leave(&self, stream: &str, sid: &str) -> PresenceAnswer<()> {
        let Some(redis) = &self.redis else {
            return Ok((self.presences.leave(stream, sid).into_iter().collect(), ()));
        };
        self.live.remove(sid, stream);
        redis.presence_leave(stream, sid, self.presence_ttl).await
    }

    /// Who is in `stream`'s presence set (JSON, `presence::info_message`).
    pub async fn presence_info(&self, stream: &str, with_records: bool) -> PresenceAnswer<String> {
        match &self.redis {
            Some(redis) => redis.presence_info(stream, with_records, self.presence_ttl).await,
            None => Ok((Vec::new(), self.presences.info(stream, with_records))),
        }
    }

    /// Session `sid` closed without leaving its presence sets: they keep it `presence_ttl`.
    pub async fn presence_away(&self, sid: &str) -> Result<(), String> {
        let Some(redis) = &self.redis else {
            self.presences.away(sid);
            return Ok(());
        };
        let pairs: Vec<(String, String)> =
            self.live.take(sid).into_iter().map(|stream| (stream, sid.to_owned())).collect();
        redis.presence_touch(&pairs, self.presence_ttl).await
    }

    /// Periodic presence work: keeps this node's connected sessions present and takes out the
    /// ones whose ttl passed; the (stream, leave event) of each record that left.
    pub async fn presence_tick(&self) -> Result<Vec<(String, String)>, String> {
        let Some(redis) = &self.redis else {
            return Ok(self.presences.expire());
        };
        redis.presence_touch(&self.live.pairs(), self.presence_ttl).await?;
        redis.presence_sweep(self.presence_ttl).await
    }

    /// How often [`Self::presence_tick`] runs: a third of `presence_ttl`.
    pub fn presence_interval(&self) -> Duration {
        self.presence_ttl / 3
    }
}
