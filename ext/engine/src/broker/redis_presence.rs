//! The presence sets of the `redis` broker: [`Store`] calls of `presence.lua` (its header has
//! the keys and replies), which applies the rules of `super::presence` in Redis, and the
//! PUBLISH that takes presence events and whispers to every node.

use std::sync::LazyLock;
use std::time::Duration;

use redis::{Cmd, ErrorKind, Value};

use crate::protocol::PresenceJoin;

use super::presence::{info_message, join_event, leave_event, PresenceError};
use super::redis::{unix_millis, Store};

/// The Lua script of every presence operation.
const PRESENCE_SCRIPT: &str = include_str!("presence.lua");

/// Its SHA-1, for EVALSHA (Redis keeps scripts by it).
static PRESENCE_SHA: LazyLock<String> = LazyLock::new(|| {
    let digest = ring::digest::digest(&ring::digest::SHA1_FOR_LEGACY_USE_ONLY, PRESENCE_SCRIPT.as_bytes());
    crate::secret::hex(digest.as_ref())
});

/// Most expired streams one sweep takes out.
const SWEEP_LIMIT: usize = 100;

/// Events (JSON) and what an operation answered.
type Answer<T> = Result<(Vec<String>, T), PresenceError>;

impl Store {
    /// Runs `op` of the script: EVALSHA, and EVAL once when Redis does not have it yet.
    async fn presence(&self, op: &str, ttl: Duration, args: &[&str]) -> Result<Value, String> {
        let command = |name: &str, script: &str| {
            let mut cmd = Cmd::new();
            cmd.arg(name).arg(script).arg(0).arg(self.channel()).arg(op).arg(unix_millis());
            cmd.arg(ttl.as_millis() as u64);
            for arg in args {
                cmd.arg(*arg);
            }
            cmd
        };
        let (by_sha, full) = (command("EVALSHA", &PRESENCE_SHA), command("EVAL", PRESENCE_SCRIPT));
        self.call("presence", |mut c| async move {
            match by_sha.query_async(&mut c).await {
                Err(error) if error.kind() == ErrorKind::Server(redis::ServerErrorKind::NoScript) => {
                    full.query_async(&mut c).await
                }
                other => other,
            }
        })
        .await
    }

    /// Session `sid` enters `stream`'s set: the leave events of sessions that expired there,
    /// then its join event when its id is new.
    pub async fn presence_join(
        &self,
        stream: &str,
        sid: &str,
        join: &PresenceJoin,
        ttl: Duration,
    ) -> Answer<()> {
        let info = join.info.as_deref().unwrap_or("");
        let reply =
            self.presence("join", ttl, &[stream, sid, &join.id, info]).await.map_err(PresenceError::Store)?;
        let Value::Array(parts) = reply else { return Err(unexpected()) };
        let [leaves, Value::Int(joined)] = parts.as_slice() else { return Err(unexpected()) };
        let mut events = leaves_of(leaves)?;
        match joined {
            -1 => return Err(PresenceError::IdMismatch),
            1 => events.push(join_event(&join.id, join.info.as_deref())),
            _ => {}
        }
        Ok((events, ()))
    }

    /// Session `sid` leaves `stream`'s set: leave events.
    pub async fn presence_leave(&self, stream: &str, sid: &str, ttl: Duration) -> Answer<()> {
        let reply = self.presence("leave", ttl, &[stream, sid]).await.map_err(PresenceError::Store)?;
        let Value::Array(parts) = reply else { return Err(unexpected()) };
        let [leaves] = parts.as_slice() else { return Err(unexpected()) };
        Ok((leaves_of(leaves)?, ()))
    }

    /// Who is in `stream`'s set (`super::presence::info_message`), after the leave events of
    /// sessions that expired there.
    pub async fn presence_info(&self, stream: &str, with_records: bool, ttl: Duration) -> Answer<String> {
        let reply = self.presence("info", ttl, &[stream]).await.map_err(PresenceError::Store)?;
        let Value::Array(parts) = reply else { return Err(unexpected()) };
        let [leaves, Value::Int(total), Value::Array(flat)] = parts.as_slice() else {
            return Err(unexpected());
        };
        let fields: Vec<String> = flat.iter().map(text).collect::<Option<_>>().ok_or_else(unexpected)?;
        let records = fields.chunks(2).filter_map(|pair| match pair {
            [id, info] => Some((id.as_str(), Some(info.as_str()).filter(|info| !info.is_empty()))),
            _ => None,
        });
        let total = usize::try_from(*total).unwrap_or(0);
        let message = info_message(total, with_records, records);
        Ok((leaves_of(leaves)?, message))
    }

    /// Pushes the deadline of each (stream, sid) to now + `ttl`: they are connected here (or,
    /// for a session that just left, from now on they have `ttl` to come back).
    pub async fn presence_touch(&self, pairs: &[(String, String)], ttl: Duration) -> Result<(), String> {
        if pairs.is_empty() {
            return Ok(());
        }
        let args: Vec<&str> =
            pairs.iter().flat_map(|(stream, sid)| [stream.as_str(), sid.as_str()]).collect();
        self.presence("touch", ttl, &args).await.map(drop)
    }

    /// Takes out the sessions of every stream whose deadline passed: (stream, leave event) of
    /// each record that left with them.
    pub async fn presence_sweep(&self, ttl: Duration) -> Result<Vec<(String, String)>, String> {
        let limit = SWEEP_LIMIT.to_string();
        let Value::Array(flat) = self.presence("sweep", ttl, &[&limit]).await? else {
            return Err("unexpected presence sweep reply".into());
        };
        let fields: Vec<String> =
            flat.iter().map(text).collect::<Option<_>>().ok_or("unexpected presence sweep reply")?;
        Ok(fields
            .chunks(2)
            .filter_map(|pair| match pair {
                [stream, id] => Some((stream.clone(), leave_event(id))),
                _ => None,
            })
            .collect())
    }

    /// PUBLISHes an AnyCable publication (JSON) to `redis_channel`: every node delivers it.
    pub async fn publish(&self, publication: String) -> Result<(), String> {
        let mut cmd = redis::cmd("PUBLISH");
        cmd.arg(self.channel()).arg(publication);
        self.call("publish", |mut c| async move { cmd.query_async::<i64>(&mut c).await }).await.map(drop)
    }
}

fn text(value: &Value) -> Option<String> {
    match value {
        Value::BulkString(bytes) => String::from_utf8(bytes.clone()).ok(),
        Value::SimpleString(s) => Some(s.clone()),
        _ => None,
    }
}

fn leaves_of(value: &Value) -> Result<Vec<String>, PresenceError> {
    match value {
        Value::Array(ids) => ids
            .iter()
            .map(|id| text(id).map(|id| leave_event(&id)))
            .collect::<Option<_>>()
            .ok_or_else(unexpected),
        Value::Nil => Ok(Vec::new()),
        _ => Err(unexpected()),
    }
}

fn unexpected() -> PresenceError {
    PresenceError::Store("unexpected presence script reply".into())
}
