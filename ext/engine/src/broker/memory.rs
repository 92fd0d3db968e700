//! The in-process broker: stream history and cached sessions in this process's memory.
//!
//! Each stream's history is its own lock, held while a broadcast is placed *and* handed to
//! the hub, and while a catching-up session reads what it missed *and* joins the stream: so a
//! broadcast either is in what the session read or reaches it live after, never both, never
//! neither (docs/architecture.md §6.5). Locks are held only for queue pushes, never across an
//! `.await`; the lock order is broker stream, then hub shard.
//!
//! Memory is bounded by `history_limit` messages per stream, `history_ttl`, and
//! `history_max_bytes` over all streams: a broadcast that would pass the latter makes room by
//! dropping its own stream's oldest messages (a request from before them is then rejected).
//!
//! With the `redis` broker this is the node's cache of what it saw: broadcasts come placed
//! ([`Memory::place`]), a request the cache covers is answered from it
//! ([`Memory::catch_up_cached`]), and one it does not is answered from what Redis holds merged
//! with the cache, under the same lock ([`Memory::catch_up_remote`]).

use std::collections::{HashMap, VecDeque};
use std::hash::{BuildHasher, RandomState};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::config::Config;
use crate::protocol::{BroadcastData, Placed};
use crate::secret::random_token;

use super::cached::CachedSession;
use super::history::{HistoryError, Since};
use super::redis::Remote;

/// Length of an epoch: random per broker, so no two processes share one.
const EPOCH_CHARS: usize = 6;

/// Shards of the stream map; the map lock is held only to find or add a stream.
const SHARDS: usize = 64;

/// How long a stream whose messages all expired keeps its offset (so a returning client is
/// told its messages are gone rather than given a restarted count), in `history_ttl`s.
const IDLE_STREAM_TTLS: u32 = 10;

/// One stream's history.
#[derive(Debug)]
struct History {
    /// The generation of its offsets: this broker's own, or (placed by Redis) Redis'.
    epoch: Arc<str>,
    /// The offset of the last message placed (0: none yet).
    last: u64,
    /// Kept messages, oldest first, with consecutive offsets ending at `last`.
    entries: VecDeque<Entry>,
    /// When the last message was placed.
    touched: Option<Instant>,
}

#[derive(Debug)]
struct Entry {
    offset: u64,
    /// Unix seconds when it was placed.
    at: u64,
    /// When it was placed, for `history_ttl`.
    placed: Instant,
    data: BroadcastData,
}

type Streams = HashMap<Arc<str>, Arc<Mutex<History>>>;

/// Stream history and cached sessions of one process.
#[derive(Debug)]
pub struct Memory {
    /// Random per broker: positions of another process (or an earlier run) never match.
    epoch: Arc<str>,
    history_limit: usize,
    history_ttl: Duration,
    history_max_bytes: usize,
    sessions_ttl: Duration,
    shards: Box<[Mutex<Streams>]>,
    hasher: RandomState,
    /// Bytes of every kept message.
    bytes: AtomicUsize,
    /// sid → the session and when it expires.
    sessions: Mutex<HashMap<String, (Instant, CachedSession)>>,
}

fn locked<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while held leaves each map or history consistent (single inserts and removes).
    mutex.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn unix_now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

impl Memory {
    /// A broker with the history and session settings of `config` and a fresh epoch.
    pub fn new(config: &Config) -> Self {
        Self {
            epoch: Arc::from(random_token(EPOCH_CHARS)),
            history_limit: config.history_limit,
            history_ttl: config.history_ttl,
            history_max_bytes: config.history_max_bytes,
            sessions_ttl: config.sessions_ttl,
            shards: (0..SHARDS).map(|_| Mutex::default()).collect(),
            hasher: RandomState::new(),
            bytes: AtomicUsize::new(0),
            sessions: Mutex::default(),
        }
    }

    /// This broker's epoch, as broadcasts carry it.
    pub fn epoch(&self) -> &str {
        &self.epoch
    }

    /// Whether sessions are kept (`sessions_ttl` above 0).
    pub fn keeps_sessions(&self) -> bool {
        !self.sessions_ttl.is_zero()
    }

    fn stream(&self, name: &str) -> Arc<Mutex<History>> {
        let mut shard = locked(&self.shards[self.hasher.hash_one(name) as usize % SHARDS]);
        match shard.get(name) {
            Some(history) => Arc::clone(history),
            None => {
                let history = History {
                    epoch: Arc::clone(&self.epoch),
                    last: 0,
                    entries: VecDeque::new(),
                    touched: None,
                };
                Arc::clone(shard.entry(Arc::from(name)).or_insert_with(|| Arc::new(Mutex::new(history))))
            }
        }
    }

    /// Gives `data` the next offset of `stream`, keeps it, and hands it to `deliver` with its
    /// place while the stream is locked (see the module's docs). Returns what `deliver` did.
    pub fn publish<T>(
        &self,
        stream: &str,
        data: &str,
        deliver: impl FnOnce(&BroadcastData, Placed<'_>) -> T,
    ) -> T {
        let history = self.stream(stream);
        let mut history = locked(&history);
        let offset = history.last + 1;
        self.keep(&mut history, stream, offset, data, deliver)
    }

    /// Keeps `data`, placed by Redis at `offset` of `epoch`, and hands it to `deliver` with
    /// that place while the stream is locked. A place that does not follow the last one kept
    /// (another epoch, or broadcasts this process did not see) starts the stream's cache over.
    pub fn place<T>(
        &self,
        stream: &str,
        epoch: &str,
        offset: u64,
        data: &str,
        deliver: impl FnOnce(&BroadcastData, Placed<'_>) -> T,
    ) -> T {
        let history = self.stream(stream);
        let mut history = locked(&history);
        if *history.epoch != *epoch || offset != history.last + 1 {
            self.forget(&mut history.entries, usize::MAX);
            history.epoch = Arc::from(epoch);
        }
        self.keep(&mut history, stream, offset, data, deliver)
    }

    fn keep<T>(
        &self,
        history: &mut History,
        stream: &str,
        offset: u64,
        data: &str,
        deliver: impl FnOnce(&BroadcastData, Placed<'_>) -> T,
    ) -> T {
        history.last = offset;
        let now = Instant::now();
        history.touched = Some(now);
        let entry = Entry { offset, at: unix_now(), placed: now, data: BroadcastData::new(data) };
        let delivered = deliver(&entry.data, Placed { stream, epoch: &history.epoch, offset });
        let size = entry.data.len();
        history.entries.push_back(entry);
        let total = self.bytes.fetch_add(size, Ordering::Relaxed) + size;
        let over_limit = history.entries.len().saturating_sub(self.history_limit);
        let mut dropped = self.forget(&mut history.entries, over_limit);
        while total - dropped > self.history_max_bytes && !history.entries.is_empty() {
            dropped += self.forget(&mut history.entries, 1);
        }
        delivered
    }

    /// Drops the `count` oldest entries; returns their bytes.
    fn forget(&self, entries: &mut VecDeque<Entry>, count: usize) -> usize {
        let count = count.min(entries.len());
        let bytes = entries.drain(..count).map(|entry| entry.data.len()).sum();
        self.bytes.fetch_sub(bytes, Ordering::Relaxed);
        bytes
    }

    /// Hands `each` every kept message of `stream` after `since` (none when `since` is
    /// `None`), oldest first, then calls `join`, all while the stream is locked: a broadcast is
    /// either among those `each` saw or placed after `join` ran. `join` runs even when the
    /// history cannot be answered, so the session still goes live.
    pub fn catch_up(
        &self,
        stream: &str,
        since: Option<Since<'_>>,
        mut each: impl FnMut(&BroadcastData, Placed<'_>),
        join: impl FnOnce(),
    ) -> Result<(), HistoryError> {
        let history = self.stream(stream);
        let history = locked(&history);
        let answer = match since {
            None => Ok(()),
            Some(since) => missed(&history, since).map(|first| replay(&history, stream, first, 0, &mut each)),
        };
        join();
        answer
    }

    /// Calls `join` while `stream` is locked and returns the place of the last broadcast kept
    /// before it (offset 0: none): a later history request can then tell what came live.
    pub fn join_live(&self, stream: &str, join: impl FnOnce()) -> (Arc<str>, u64) {
        let history = self.stream(stream);
        let history = locked(&history);
        join();
        (Arc::clone(&history.epoch), history.last)
    }

    /// [`Self::catch_up`] when this process's cache holds everything after `since` (`redis`
    /// broker); `None`, with nothing handed over and `join` not called, when it does not and
    /// Redis must be asked ([`Self::catch_up_remote`]).
    pub fn catch_up_cached(
        &self,
        stream: &str,
        since: Since<'_>,
        mut each: impl FnMut(&BroadcastData, Placed<'_>),
        join: impl FnOnce(),
    ) -> Option<Result<(), HistoryError>> {
        let history = self.stream(stream);
        let history = locked(&history);
        if !covers(&history, since) {
            return None;
        }
        let answer = missed(&history, since).map(|first| replay(&history, stream, first, 0, &mut each));
        join();
        Some(answer)
    }

    /// Answers `since` from `remote` (what Redis held when asked) and then from this process's
    /// cache for what was placed after that, then calls `join`, all while the stream is locked:
    /// as [`Self::catch_up`], every broadcast is handed over once, before `join` or live after.
    pub fn catch_up_remote(
        &self,
        stream: &str,
        since: Since<'_>,
        remote: &Remote,
        mut each: impl FnMut(&BroadcastData, Placed<'_>),
        join: impl FnOnce(),
    ) -> Result<(), HistoryError> {
        let history = self.stream(stream);
        let history = locked(&history);
        let answer = remote_missed(remote, since).and_then(|(epoch, first)| {
            // What this node received since the read must follow on from it.
            let cached = *history.epoch == *epoch && history.last > remote.last;
            if cached && history.entries.front().is_none_or(|entry| entry.offset > remote.last + 1) {
                return Err(HistoryError::Gone);
            }
            for entry in &remote.entries[first..] {
                each(&entry.data, Placed { stream, epoch, offset: entry.offset });
            }
            if cached {
                replay(&history, stream, 0, remote.last, &mut each);
            }
            Ok(())
        });
        join();
        answer
    }

    /// Keeps `session` under `sid` for `sessions_ttl` from now (replacing what was kept).
    pub fn commit_session(&self, sid: &str, session: CachedSession) {
        if self.keeps_sessions() {
            locked(&self.sessions).insert(sid.to_owned(), (Instant::now() + self.sessions_ttl, session));
        }
    }

    /// The session kept under `sid`, if it has not expired.
    pub fn restore_session(&self, sid: &str) -> Option<CachedSession> {
        let sessions = locked(&self.sessions);
        let (expires, session) = sessions.get(sid)?;
        (*expires > Instant::now()).then(|| session.clone())
    }

    /// Drops messages older than `history_ttl`, streams idle for ten of them, and expired
    /// sessions. Called periodically (with the node's pings).
    pub fn expire(&self) {
        let now = Instant::now();
        locked(&self.sessions).retain(|_, (expires, _)| *expires > now);
        let idle = self.history_ttl * IDLE_STREAM_TTLS;
        for shard in self.shards.iter() {
            locked(shard).retain(|_, history| {
                let mut history = locked(history);
                while history
                    .entries
                    .front()
                    .is_some_and(|e| now.duration_since(e.placed) >= self.history_ttl)
                {
                    if let Some(dropped) = history.entries.pop_front() {
                        self.bytes.fetch_sub(dropped.data.len(), Ordering::Relaxed);
                    }
                }
                // A stream being caught up is locked by `stream()`'s caller only after it
                // left the shard lock; one removed meanwhile just starts over.
                !history.entries.is_empty() || history.touched.is_some_and(|at| now.duration_since(at) < idle)
            });
        }
    }

    /// Streams with a history here and the bytes their messages take.
    pub fn usage(&self) -> (usize, usize) {
        let streams = self.shards.iter().map(|shard| locked(shard).len()).sum();
        (streams, self.bytes.load(Ordering::Relaxed))
    }
}

/// Hands `each` the entries of `history` from index `first` on whose offset is past `after`.
fn replay(
    history: &History,
    stream: &str,
    first: usize,
    after: u64,
    each: &mut impl FnMut(&BroadcastData, Placed<'_>),
) {
    for entry in history.entries.iter().skip(first).filter(|entry| entry.offset > after) {
        each(&entry.data, Placed { stream, epoch: &history.epoch, offset: entry.offset });
    }
}

/// The index of the first entry a client with `since` missed.
fn missed(history: &History, since: Since<'_>) -> Result<usize, HistoryError> {
    match since {
        Since::Time(at) => Ok(history.entries.iter().take_while(|entry| entry.at < at).count()),
        Since::Offset { epoch, .. } if *epoch != *history.epoch => Err(HistoryError::Epoch),
        Since::Offset { offset, .. } if offset > history.last => Err(HistoryError::Gone),
        Since::Offset { offset, .. } if offset == history.last => Ok(history.entries.len()),
        Since::Offset { offset, .. } => match history.entries.front() {
            Some(first) if first.offset <= offset + 1 => Ok((offset + 1 - first.offset) as usize),
            _ => Err(HistoryError::Gone),
        },
    }
}

/// Whether a cache holds everything after `since` (so Redis need not be asked).
fn covers(history: &History, since: Since<'_>) -> bool {
    match since {
        Since::Offset { epoch, offset } => {
            *history.epoch == *epoch
                && history.last > 0
                && offset <= history.last
                && (offset == history.last || history.entries.front().is_some_and(|f| f.offset <= offset + 1))
        }
        Since::Time(at) => history.entries.front().is_some_and(|first| first.at < at),
    }
}

/// The epoch and the index of the first entry of `remote` a client with `since` missed.
fn remote_missed<'r>(remote: &'r Remote, since: Since<'_>) -> Result<(&'r str, usize), HistoryError> {
    let Some(epoch) = remote.epoch.as_deref() else {
        // Redis never placed a broadcast (or lost its data): a position is of another epoch.
        return match since {
            Since::Time(_) => Ok(("", 0)),
            Since::Offset { .. } => Err(HistoryError::Epoch),
        };
    };
    let first = match since {
        Since::Time(at) => remote.entries.iter().take_while(|entry| entry.at < at).count(),
        Since::Offset { epoch: theirs, .. } if theirs != epoch => return Err(HistoryError::Epoch),
        Since::Offset { offset, .. } if offset > remote.last => return Err(HistoryError::Gone),
        Since::Offset { offset, .. } if offset == remote.last => remote.entries.len(),
        Since::Offset { offset, .. } => match remote.entries.first() {
            Some(first) if first.offset <= offset + 1 => {
                remote.entries.iter().take_while(|entry| entry.offset <= offset).count()
            }
            _ => return Err(HistoryError::Gone),
        },
    };
    Ok((epoch, first))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn broker(limit: usize, max_bytes: usize) -> Memory {
        let config = Config { history_limit: limit, history_max_bytes: max_bytes, ..Config::default() };
        Memory::new(&config)
    }

    /// (offset, frame) of every message `catch_up` hands over, and whether `join` ran.
    fn caught_up(
        broker: &Memory,
        stream: &str,
        since: Since<'_>,
    ) -> (Result<Vec<(u64, String)>, HistoryError>, bool) {
        let mut seen = Vec::new();
        let mut joined = false;
        let answer = broker.catch_up(
            stream,
            Some(since),
            |data, at| seen.push((at.offset, data.frame_at("i", at))),
            || joined = true,
        );
        (answer.map(|()| seen), joined)
    }

    #[test]
    fn broadcasts_get_consecutive_offsets_and_are_delivered_with_their_place() {
        let b = broker(100, 1 << 20);
        for n in 1..=3 {
            let offset = b.publish("chat", &format!(r#"{{"n":{n}}}"#), |data, at| {
                assert_eq!(at.epoch, b.epoch());
                assert_eq!(at.stream, "chat");
                assert!(data.frame_at("i", at).ends_with(&format!(r#""offset":{}}}"#, at.offset)));
                at.offset
            });
            assert_eq!(offset, n);
        }
        assert_eq!(b.publish("other", "1", |_, at| at.offset), 1, "each stream counts on its own");
        let (answer, joined) = caught_up(&b, "chat", Since::Offset { epoch: b.epoch(), offset: 1 });
        assert!(joined);
        let offsets: Vec<u64> = answer.unwrap().into_iter().map(|(offset, _)| offset).collect();
        assert_eq!(offsets, [2, 3]);
        let (answer, _) = caught_up(&b, "chat", Since::Offset { epoch: b.epoch(), offset: 3 });
        assert_eq!(answer.unwrap(), [], "up to date: nothing missed");
        assert_eq!(b.usage(), (2, 7 * 3 + 1));
    }

    #[test]
    fn another_epoch_or_a_position_no_longer_kept_is_rejected_and_the_session_still_joins() {
        let b = broker(2, 1 << 20);
        for n in 0..5 {
            b.publish("s", &n.to_string(), |_, _| ());
        }
        assert_eq!(
            caught_up(&b, "s", Since::Offset { epoch: "older", offset: 4 }),
            (Err(HistoryError::Epoch), true)
        );
        assert_eq!(
            caught_up(&b, "s", Since::Offset { epoch: b.epoch(), offset: 2 }).0,
            Err(HistoryError::Gone)
        );
        assert_eq!(
            caught_up(&b, "s", Since::Offset { epoch: b.epoch(), offset: 9 }).0,
            Err(HistoryError::Gone)
        );
        assert_eq!(caught_up(&b, "s", Since::Offset { epoch: b.epoch(), offset: 3 }).0.unwrap().len(), 2);
        assert_eq!(
            caught_up(&b, "new", Since::Offset { epoch: b.epoch(), offset: 1 }).0,
            Err(HistoryError::Gone)
        );
        assert_eq!(caught_up(&b, "new", Since::Time(0)).0, Ok(vec![]));
        let (answer, _) = caught_up(&b, "s", Since::Time(unix_now() - 60));
        assert_eq!(answer.unwrap().len(), 2, "by time: every kept message since then");
        assert_eq!(caught_up(&b, "s", Since::Time(unix_now() + 60)).0, Ok(vec![]));
    }

    #[test]
    fn the_byte_budget_drops_the_publishing_streams_oldest_messages() {
        let b = broker(100, 30);
        for _ in 0..3 {
            b.publish("big", &"x".repeat(10), |_, _| ()); // 12 bytes each embedded ("xxxxxxxxxx")
        }
        assert_eq!(b.usage().1, 24, "the third one pushed the first out");
        assert_eq!(caught_up(&b, "big", Since::Offset { epoch: b.epoch(), offset: 1 }).0.unwrap().len(), 2);
        assert_eq!(
            caught_up(&b, "big", Since::Offset { epoch: b.epoch(), offset: 0 }).0,
            Err(HistoryError::Gone)
        );
        b.publish("huge", &"y".repeat(40), |_, _| ());
        assert_eq!(b.usage().1, 24, "a message over the whole budget is delivered but not kept");
        assert_eq!(
            caught_up(&b, "huge", Since::Offset { epoch: b.epoch(), offset: 0 }).0,
            Err(HistoryError::Gone)
        );
    }

    #[test]
    fn sessions_are_kept_for_sessions_ttl() {
        let config = Config { sessions_ttl: Duration::from_millis(50), ..Config::default() };
        let b = Memory::new(&config);
        let session = CachedSession { identifiers: r#"{"user":"1"}"#.into(), ..CachedSession::default() };
        b.commit_session("a-1", session.clone());
        assert_eq!(b.restore_session("a-1"), Some(session));
        assert_eq!(b.restore_session("a-2"), None);
        std::thread::sleep(Duration::from_millis(60));
        assert_eq!(b.restore_session("a-1"), None);
        b.expire();
        assert!(locked(&b.sessions).is_empty());
        let off = Memory::new(&Config { sessions_ttl: Duration::ZERO, ..Config::default() });
        off.commit_session("a-1", CachedSession::default());
        assert_eq!(off.restore_session("a-1"), None, "sessions_ttl 0 keeps none");
    }

    #[test]
    fn expired_messages_go_and_idle_streams_keep_their_offset_for_a_while() {
        let config = Config { history_ttl: Duration::from_millis(20), ..Config::default() };
        let b = Memory::new(&config);
        b.publish("s", "1", |_, _| ());
        std::thread::sleep(Duration::from_millis(30));
        b.expire();
        assert_eq!(b.usage(), (1, 0));
        assert_eq!(b.publish("s", "2", |_, at| at.offset), 2, "the offset goes on");
        assert_eq!(
            caught_up(&b, "s", Since::Offset { epoch: b.epoch(), offset: 0 }).0,
            Err(HistoryError::Gone)
        );
        std::thread::sleep(Duration::from_millis(250));
        b.expire();
        assert_eq!(b.usage(), (0, 0), "idle for ten history_ttls: forgotten");
    }
}
