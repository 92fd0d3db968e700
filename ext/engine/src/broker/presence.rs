//! Presence sets (AnyCable's presence, docs/hotwire.md): per stream, who is there — one record
//! per presence id, however many sessions (tabs, devices) share it — and what the others see of
//! it (`info`, JSON). A record joins with its first session and leaves with its last; a session
//! that leaves without `leave` (its socket closed) stays `presence_ttl` longer, so a reconnect
//! makes no leave and join (a restored session joins again under its new sid).
//!
//! [`Presences`] is the `memory` broker's: this process only, one lock taken per presence
//! command (never per delivery). With `broker: redis`, `super::redis` keeps the sets in Redis
//! (`presence.lua`) with the same rules, and [`Live`] is the list of this node's present sessions
//! whose deadline it keeps pushing back.
//!
//! Events are JSON text, delivered as `{"type":"presence","identifier":…,"message":<event>}`:
//! `{"type":"join","id":…,"info":…}`, `{"type":"leave","id":…}`, and for a `presence` request
//! `{"type":"info","total":…,"records":[{"id":…,"info":…}]}`.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use crate::protocol::PresenceJoin;

/// A join event.
pub fn join_event(id: &str, info: Option<&str>) -> String {
    match info {
        Some(info) => format!(r#"{{"type":"join","id":{},"info":{info}}}"#, json_str(id)),
        None => format!(r#"{{"type":"join","id":{}}}"#, json_str(id)),
    }
}

/// A leave event.
pub fn leave_event(id: &str) -> String {
    format!(r#"{{"type":"leave","id":{}}}"#, json_str(id))
}

/// The answer to a `presence` request: the number of records, and (`with_records`) them.
pub fn info_message<'a>(
    total: usize,
    with_records: bool,
    records: impl Iterator<Item = (&'a str, Option<&'a str>)>,
) -> String {
    if !with_records {
        return format!(r#"{{"type":"info","total":{total}}}"#);
    }
    let records: Vec<String> = records
        .map(|(id, info)| match info {
            Some(info) => format!(r#"{{"id":{},"info":{info}}}"#, json_str(id)),
            None => format!(r#"{{"id":{}}}"#, json_str(id)),
        })
        .collect();
    format!(r#"{{"type":"info","total":{total},"records":[{}]}}"#, records.join(","))
}

/// What a failed `presence` request gets.
pub const INFO_ERROR: &str = r#"{"type":"error"}"#;

fn json_str(s: &str) -> String {
    serde_json::to_string(s).expect("a str always serialises")
}

/// Why a join was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PresenceError {
    /// The session is in the set already, under another presence id.
    IdMismatch,
    /// The store could not be reached (Redis).
    Store(String),
}

impl std::fmt::Display for PresenceError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::IdMismatch => f.write_str("the session is present under another presence id"),
            Self::Store(error) => write!(f, "presence store: {error}"),
        }
    }
}

/// One presence record of a stream.
#[derive(Debug, Default)]
struct Record {
    /// JSON text.
    info: Option<String>,
    /// The sids that share it, in joining order.
    sessions: Vec<String>,
}

/// One session's presence: stream → presence id, and when it goes (`None` while connected).
#[derive(Debug, Default)]
struct Present {
    streams: HashMap<String, String>,
    away_until: Option<Instant>,
}

#[derive(Debug, Default)]
struct State {
    /// stream → presence id → record.
    streams: HashMap<String, HashMap<String, Record>>,
    /// sid → its presence.
    sessions: HashMap<String, Present>,
}

impl State {
    /// Takes `sid` out of `stream`'s set; the leave event when its record left with it.
    fn remove(&mut self, stream: &str, sid: &str) -> Option<String> {
        let present = self.sessions.get_mut(sid)?;
        let id = present.streams.remove(stream)?;
        if present.streams.is_empty() {
            self.sessions.remove(sid);
        }
        let records = self.streams.get_mut(stream)?;
        let record = records.get_mut(&id)?;
        record.sessions.retain(|s| s != sid);
        if !record.sessions.is_empty() {
            return None;
        }
        records.remove(&id);
        if records.is_empty() {
            self.streams.remove(stream);
        }
        Some(leave_event(&id))
    }
}

/// The presence sets of one process (`broker: memory`).
#[derive(Debug)]
pub struct Presences {
    ttl: Duration,
    state: Mutex<State>,
}

fn locked(state: &Mutex<State>) -> MutexGuard<'_, State> {
    // Every change completes before the guard drops; a panic meanwhile leaves it usable.
    state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl Presences {
    /// Empty sets; a session that leaves without `leave` stays `ttl`.
    pub fn new(ttl: Duration) -> Self {
        Self { ttl, state: Mutex::default() }
    }

    /// Session `sid` enters `stream`'s set; the join event when its id is new there. A second
    /// join of the session updates its info.
    pub fn join(
        &self,
        stream: &str,
        sid: &str,
        join: &PresenceJoin,
    ) -> Result<Option<String>, PresenceError> {
        let mut state = locked(&self.state);
        let present = state.sessions.entry(sid.to_owned()).or_default();
        present.away_until = None;
        match present.streams.get(stream) {
            Some(id) if *id != join.id => return Err(PresenceError::IdMismatch),
            Some(_) => {}
            None => {
                present.streams.insert(stream.to_owned(), join.id.clone());
            }
        }
        let record = state.streams.entry(stream.to_owned()).or_default().entry(join.id.clone()).or_default();
        record.info.clone_from(&join.info);
        if record.sessions.iter().any(|s| s == sid) {
            return Ok(None);
        }
        record.sessions.push(sid.to_owned());
        Ok((record.sessions.len() == 1).then(|| join_event(&join.id, join.info.as_deref())))
    }

    /// Session `sid` leaves `stream`'s set; the leave event when its record left with it.
    pub fn leave(&self, stream: &str, sid: &str) -> Option<String> {
        locked(&self.state).remove(stream, sid)
    }

    /// Who is in `stream`'s set: [`info_message`].
    pub fn info(&self, stream: &str, with_records: bool) -> String {
        let state = locked(&self.state);
        let records = state.streams.get(stream);
        let listed = records.into_iter().flatten().map(|(id, record)| (id.as_str(), record.info.as_deref()));
        info_message(records.map_or(0, HashMap::len), with_records, listed)
    }

    /// Session `sid` is gone without leaving: its records leave after the ttl, unless it is
    /// restored ([`Self::back`]) first.
    pub fn away(&self, sid: &str) {
        if let Some(present) = locked(&self.state).sessions.get_mut(sid) {
            present.away_until = Some(Instant::now() + self.ttl);
        }
    }

    /// Takes out the sessions whose ttl passed; the (stream, leave event) of each record that
    /// left with them.
    pub fn expire(&self) -> Vec<(String, String)> {
        let now = Instant::now();
        let mut state = locked(&self.state);
        let gone: Vec<(String, Vec<String>)> = state
            .sessions
            .iter()
            .filter(|(_, present)| present.away_until.is_some_and(|until| until <= now))
            .map(|(sid, present)| (sid.clone(), present.streams.keys().cloned().collect()))
            .collect();
        let mut events = Vec::new();
        for (sid, streams) in gone {
            for stream in streams {
                if let Some(event) = state.remove(&stream, &sid) {
                    events.push((stream, event));
                }
            }
        }
        events
    }
}

/// This node's present sessions (`broker: redis`): sid → the streams it is present in, so
/// their deadlines in Redis can be pushed back while they are connected.
#[derive(Debug, Default)]
pub struct Live {
    sessions: Mutex<HashMap<String, Vec<String>>>,
}

impl Live {
    /// `sid` is present in `stream`.
    pub fn add(&self, sid: &str, stream: &str) {
        let mut sessions = self.sessions.lock().unwrap_or_else(|p| p.into_inner());
        let streams = sessions.entry(sid.to_owned()).or_default();
        if !streams.iter().any(|s| s == stream) {
            streams.push(stream.to_owned());
        }
    }

    /// `sid` left `stream`.
    pub fn remove(&self, sid: &str, stream: &str) {
        let mut sessions = self.sessions.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(streams) = sessions.get_mut(sid) {
            streams.retain(|s| s != stream);
            if streams.is_empty() {
                sessions.remove(sid);
            }
        }
    }

    /// `sid` is gone: its streams.
    pub fn take(&self, sid: &str) -> Vec<String> {
        self.sessions.lock().unwrap_or_else(|p| p.into_inner()).remove(sid).unwrap_or_default()
    }

    /// Every (stream, sid) present here.
    pub fn pairs(&self) -> Vec<(String, String)> {
        let sessions = self.sessions.lock().unwrap_or_else(|p| p.into_inner());
        sessions
            .iter()
            .flat_map(|(sid, streams)| streams.iter().map(move |stream| (stream.clone(), sid.clone())))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn as_(id: &str, info: Option<&str>) -> PresenceJoin {
        PresenceJoin { id: id.into(), info: info.map(str::to_owned) }
    }

    #[test]
    fn a_record_joins_with_its_first_session_and_leaves_with_its_last() {
        let sets = Presences::new(Duration::from_secs(15));
        let alice = as_("1", Some(r#"{"name":"Alice"}"#));
        assert_eq!(
            sets.join("room", "s1", &alice).unwrap().as_deref(),
            Some(r#"{"type":"join","id":"1","info":{"name":"Alice"}}"#)
        );
        assert_eq!(sets.join("room", "s2", &alice).unwrap(), None, "a second tab joins no one");
        assert_eq!(sets.join("room", "s1", &alice).unwrap(), None, "a repeated join neither");
        assert_eq!(sets.join("room", "s1", &as_("2", None)), Err(PresenceError::IdMismatch));
        assert_eq!(
            sets.join("room", "s3", &as_("2", None)).unwrap().as_deref(),
            Some(r#"{"type":"join","id":"2"}"#)
        );
        let info = sets.info("room", true);
        assert!(info.starts_with(r#"{"type":"info","total":2,"records":["#), "{info}");
        assert!(
            info.contains(r#"{"id":"1","info":{"name":"Alice"}}"#) && info.contains(r#"{"id":"2"}"#),
            "{info}"
        );
        assert_eq!(sets.info("room", false), r#"{"type":"info","total":2}"#);
        assert_eq!(sets.leave("room", "s1"), None, "Alice is still there in her other tab");
        assert_eq!(sets.leave("room", "s2").as_deref(), Some(r#"{"type":"leave","id":"1"}"#));
        assert_eq!(sets.leave("room", "s2"), None);
        assert_eq!(sets.leave("room", "s3").as_deref(), Some(r#"{"type":"leave","id":"2"}"#));
        assert_eq!(sets.info("room", true), r#"{"type":"info","total":0,"records":[]}"#);
    }

    #[test]
    fn a_session_gone_without_leaving_stays_for_the_ttl_and_its_record_while_it_is_back() {
        let sets = Presences::new(Duration::from_millis(30));
        sets.join("room", "s1", &as_("1", None)).unwrap();
        sets.join("lobby", "s1", &as_("1", None)).unwrap();
        sets.join("room", "s2", &as_("2", None)).unwrap();
        sets.away("s1");
        sets.away("s2");
        sets.join("room", "s4", &as_("2", None)).unwrap(); // s2, restored as s4
        assert!(sets.expire().is_empty(), "within the ttl");
        std::thread::sleep(Duration::from_millis(40));
        let mut left = sets.expire();
        left.sort();
        let leave = leave_event("1");
        assert_eq!(left, [("lobby".to_owned(), leave.clone()), ("room".to_owned(), leave)]);
        assert_eq!(sets.info("room", false), r#"{"type":"info","total":1}"#, "the restored session stays");
    }

    #[test]
    fn live_sessions_are_listed_by_stream() {
        let live = Live::default();
        live.add("s1", "a");
        live.add("s1", "b");
        live.add("s1", "a");
        live.add("s2", "a");
        live.remove("s2", "a");
        let mut pairs = live.pairs();
        pairs.sort();
        assert_eq!(pairs, [("a".to_owned(), "s1".to_owned()), ("b".to_owned(), "s1".to_owned())]);
        assert_eq!(live.take("s1"), ["a", "b"]);
        assert!(live.pairs().is_empty());
    }
}
