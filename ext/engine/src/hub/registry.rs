//! The stream registry: for every stream, its subscribers grouped by channel identifier.
//!
//! Grouping by identifier lets a broadcast be framed once per (stream, identifier) and the
//! frame be shared by every session of the group. The registry is split into shards by stream
//! name: a broadcast on one stream never waits for subscribes on a stream of another shard.

use std::collections::hash_map::{Entry, HashMap};
use std::hash::{BuildHasher, RandomState};
use std::sync::{Arc, Mutex, MutexGuard};

/// Identifies one WebSocket session within a process.
pub type SessionId = u64;

/// Subscribers of one stream with the same channel identifier.
pub type Group<S> = HashMap<SessionId, S>;

/// Subscribers of one stream, grouped by channel identifier.
type Stream<S> = HashMap<Arc<str>, Group<S>>;

/// One shard: stream name → its subscribers.
type Shard<S> = HashMap<Arc<str>, Stream<S>>;

/// How many shards the registry has; a power of two well above the core count.
const SHARDS: usize = 64;

/// What a subscribe changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Subscribed {
    /// The stream had no subscriber in this process before.
    FirstOnStream,
    /// The stream already had subscribers.
    Added,
    /// This session already streamed it for this identifier: nothing changed.
    AlreadySubscribed,
}

/// What an unsubscribe changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unsubscribed {
    /// The last subscriber in this process left the stream.
    LastOnStream,
    /// Others still listen.
    Removed,
    /// The session was not subscribed: nothing changed.
    NotSubscribed,
}

/// The sharded stream → identifier → session registry. `S` is what the hub needs to reach a
/// session (its outgoing queue); it is cloned out of the registry only when a caller asks.
#[derive(Debug)]
pub struct StreamRegistry<S> {
    /// One lock per shard, never held across an `.await` or while waiting on anything.
    shards: Box<[Mutex<Shard<S>>]>,
    hasher: RandomState,
}

impl<S> Default for StreamRegistry<S> {
    fn default() -> Self {
        Self::new()
    }
}

impl<S> StreamRegistry<S> {
    /// An empty registry.
    pub fn new() -> Self {
        Self { shards: (0..SHARDS).map(|_| Mutex::new(HashMap::new())).collect(), hasher: RandomState::new() }
    }

    fn shard(&self, stream: &str) -> MutexGuard<'_, Shard<S>> {
        let index = self.hasher.hash_one(stream) as usize % SHARDS;
        // A poisoned shard only means a panic happened while it was held; the map itself is
        // still consistent (every mutation is a single insert/remove), so keep serving.
        self.shards[index].lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Adds `session` (reached through `sink`) to `stream` under `identifier`.
    pub fn subscribe(&self, stream: &str, identifier: &Arc<str>, session: SessionId, sink: S) -> Subscribed {
        let mut shard = self.shard(stream);
        let (groups, first) = match shard.get_mut(stream) {
            Some(groups) => (groups, false),
            None => (shard.entry(Arc::from(stream)).or_default(), true),
        };
        let group = groups.entry(Arc::clone(identifier)).or_default();
        match group.entry(session) {
            Entry::Occupied(_) => Subscribed::AlreadySubscribed,
            Entry::Vacant(slot) => {
                slot.insert(sink);
                if first {
                    Subscribed::FirstOnStream
                } else {
                    Subscribed::Added
                }
            }
        }
    }

    /// Removes `session`'s subscription to `stream` under `identifier`.
    pub fn unsubscribe(&self, stream: &str, identifier: &str, session: SessionId) -> Unsubscribed {
        let mut shard = self.shard(stream);
        let Some(groups) = shard.get_mut(stream) else {
            return Unsubscribed::NotSubscribed;
        };
        let Some(group) = groups.get_mut(identifier) else {
            return Unsubscribed::NotSubscribed;
        };
        if group.remove(&session).is_none() {
            return Unsubscribed::NotSubscribed;
        }
        if group.is_empty() {
            groups.remove(identifier);
        }
        if groups.is_empty() {
            shard.remove(stream);
            Unsubscribed::LastOnStream
        } else {
            Unsubscribed::Removed
        }
    }

    /// Calls `deliver` once per identifier group of `stream` and returns how many sessions
    /// the groups held. The shard is locked meanwhile, so `deliver` must not block: it should
    /// only encode and push to bounded queues without waiting.
    pub fn fan_out(&self, stream: &str, mut deliver: impl FnMut(&str, &Group<S>)) -> usize {
        let shard = self.shard(stream);
        let Some(groups) = shard.get(stream) else {
            return 0;
        };
        groups
            .iter()
            .map(|(identifier, group)| {
                deliver(identifier, group);
                group.len()
            })
            .sum()
    }

    /// Whether `stream` has at least one subscriber in this process.
    pub fn contains(&self, stream: &str) -> bool {
        self.shard(stream).contains_key(stream)
    }

    /// Every stream with at least one subscriber in this process (one shard locked at a time).
    pub fn stream_names(&self) -> Vec<String> {
        let mut names = Vec::new();
        for shard in self.shards.iter() {
            let shard = shard.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
            names.extend(shard.keys().map(|name| name.to_string()));
        }
        names
    }

    /// How many streams have at least one subscriber in this process.
    pub fn streams_count(&self) -> usize {
        self.shards.iter().map(|s| s.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).len()).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn id(s: &str) -> Arc<str> {
        Arc::from(s)
    }

    /// identifier → sorted sessions, as `fan_out` presents them.
    fn groups(registry: &StreamRegistry<&'static str>, stream: &str) -> BTreeMap<String, Vec<SessionId>> {
        let mut seen = BTreeMap::new();
        registry.fan_out(stream, |identifier, group| {
            let mut sessions: Vec<_> = group.keys().copied().collect();
            sessions.sort_unstable();
            assert!(seen.insert(identifier.to_owned(), sessions).is_none(), "one call per identifier");
        });
        seen
    }

    #[test]
    fn subscribers_are_grouped_by_identifier() {
        let r = StreamRegistry::new();
        let (a, b) = (id(r#"{"channel":"A"}"#), id(r#"{"channel":"B"}"#));
        assert_eq!(r.subscribe("room:1", &a, 1, "s1"), Subscribed::FirstOnStream);
        assert_eq!(r.subscribe("room:1", &a, 2, "s2"), Subscribed::Added);
        assert_eq!(r.subscribe("room:1", &b, 1, "s1"), Subscribed::Added);
        assert_eq!(r.subscribe("room:1", &a, 1, "s1"), Subscribed::AlreadySubscribed);
        assert_eq!(r.subscribe("room:2", &a, 3, "s3"), Subscribed::FirstOnStream);

        let g = groups(&r, "room:1");
        assert_eq!(g.len(), 2);
        assert_eq!(g[&*a], vec![1, 2]);
        assert_eq!(g[&*b], vec![1]);
        assert_eq!(r.fan_out("room:1", |_, _| {}), 3);
        assert_eq!(r.fan_out("room:2", |_, _| {}), 1);
        assert_eq!(r.fan_out("nobody", |_, _| panic!("no groups")), 0);
        assert_eq!(r.streams_count(), 2);
        assert!(r.contains("room:1") && !r.contains("nobody"));
        let mut names = r.stream_names();
        names.sort();
        assert_eq!(names, ["room:1", "room:2"]);
    }

    #[test]
    fn unsubscribe_reports_the_last_one_leaving() {
        let r = StreamRegistry::new();
        let (a, b) = (id("A"), id("B"));
        r.subscribe("s", &a, 1, "x");
        r.subscribe("s", &b, 1, "x");
        r.subscribe("s", &a, 2, "y");
        assert_eq!(r.unsubscribe("s", "A", 9), Unsubscribed::NotSubscribed);
        assert_eq!(r.unsubscribe("s", "C", 1), Unsubscribed::NotSubscribed);
        assert_eq!(r.unsubscribe("other", "A", 1), Unsubscribed::NotSubscribed);
        assert_eq!(r.unsubscribe("s", "A", 1), Unsubscribed::Removed);
        assert_eq!(groups(&r, "s")[&*a], vec![2], "only that identifier's subscription went");
        assert_eq!(r.unsubscribe("s", "A", 2), Unsubscribed::Removed);
        assert_eq!(groups(&r, "s").keys().collect::<Vec<_>>(), ["B"], "empty groups are dropped");
        assert_eq!(r.unsubscribe("s", "B", 1), Unsubscribed::LastOnStream);
        assert_eq!(r.streams_count(), 0);
        assert_eq!(r.subscribe("s", &a, 1, "x"), Subscribed::FirstOnStream);
    }

    #[test]
    fn concurrent_subscribers_on_many_streams_all_land() {
        let r = Arc::new(StreamRegistry::<u32>::new());
        let ident = id("C");
        let threads: Vec<_> = (0..4u64)
            .map(|t| {
                let (r, ident) = (Arc::clone(&r), Arc::clone(&ident));
                std::thread::spawn(move || {
                    for i in 0..1000u64 {
                        r.subscribe(&format!("stream:{}", i % 50), &ident, t * 1000 + i, 0);
                    }
                })
            })
            .collect();
        threads.into_iter().for_each(|t| t.join().unwrap());
        assert_eq!(r.streams_count(), 50);
        let total: usize = (0..50).map(|i| r.fan_out(&format!("stream:{i}"), |_, _| {})).sum();
        assert_eq!(total, 4000);
    }
}
