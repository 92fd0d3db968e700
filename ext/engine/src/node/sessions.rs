//! Every live (welcomed) session of the process, for what reaches all of them or finds them by
//! id or identifiers: pings, shutdown, remote disconnects. An index by connection identifiers
//! makes a remote disconnect one lookup instead of a pass over every session.

use std::collections::HashMap;
use std::hash::{BuildHasher, RandomState};
use std::sync::{Arc, Mutex, MutexGuard};

use super::session::SessionHandle;
use crate::hub::SessionId;

const SHARDS: usize = 16;

/// A live session: how to reach it, and its connection identifiers (the JSON string from
/// `Connect`, shared with the connection task, not copied) for remote disconnects.
#[derive(Debug)]
struct Live {
    handle: SessionHandle,
    identifiers: Arc<str>,
}

/// Sessions of one connection identifiers string (one user's tabs, usually one).
type Holders = HashMap<Arc<str>, Vec<SessionId>>;

/// Live sessions, sharded by id so connects on different shards never contend, and indexed by
/// identifiers (sharded by their hash). No code holds a lock of both at once.
#[derive(Debug)]
pub struct Sessions {
    /// Locks held only for one insert/remove/lookup or one pass of non-blocking pushes.
    shards: Box<[Mutex<HashMap<SessionId, Live>>]>,
    /// Identifiers → their live sessions; locks held for one insert/remove/lookup.
    index: Box<[Mutex<Holders>]>,
    hasher: RandomState,
}

impl Default for Sessions {
    fn default() -> Self {
        Self {
            shards: (0..SHARDS).map(|_| Mutex::new(HashMap::new())).collect(),
            index: (0..SHARDS).map(|_| Mutex::new(HashMap::new())).collect(),
            hasher: RandomState::new(),
        }
    }
}

/// Locks `mutex`. Poisoning only means a panic elsewhere; single inserts/removes keep the maps
/// sound.
fn locked<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl Sessions {
    fn shard(&self, id: SessionId) -> MutexGuard<'_, HashMap<SessionId, Live>> {
        locked(&self.shards[id as usize % SHARDS])
    }

    fn holders(&self, identifiers: &str) -> MutexGuard<'_, Holders> {
        locked(&self.index[self.hasher.hash_one(identifiers) as usize % SHARDS])
    }

    /// Adds a session with its connection identifiers.
    pub fn insert(&self, handle: SessionHandle, identifiers: Arc<str>) {
        let id = handle.id;
        self.holders(&identifiers).entry(Arc::clone(&identifiers)).or_default().push(id);
        self.shard(id).insert(id, Live { handle, identifiers });
    }

    /// Removes a session.
    pub fn remove(&self, id: SessionId) {
        let Some(live) = self.shard(id).remove(&id) else { return };
        let mut holders = self.holders(&live.identifiers);
        if let Some(ids) = holders.get_mut(&live.identifiers) {
            ids.retain(|held| *held != id);
            if ids.is_empty() {
                holders.remove(&live.identifiers);
            }
        }
    }

    /// The live sessions whose connection identifiers are `identifiers`, byte for byte.
    pub fn with_identifiers(&self, identifiers: &str) -> Vec<SessionHandle> {
        let ids = self.holders(identifiers).get(identifiers).cloned().unwrap_or_default();
        ids.into_iter().filter_map(|id| self.get(id)).collect()
    }

    /// How many different connection identifiers the live sessions have (`clients_uniq_num`).
    pub fn unique_identifiers(&self) -> usize {
        self.index.iter().map(|shard| locked(shard).len()).sum()
    }

    /// The session with this id, if it is live.
    pub fn get(&self, id: SessionId) -> Option<SessionHandle> {
        self.shard(id).get(&id).map(|live| live.handle.clone())
    }

    /// Calls `f` for every session; `f` must not block.
    pub fn for_each(&self, mut f: impl FnMut(&SessionHandle)) {
        for shard in self.shards.iter() {
            locked(shard).values().for_each(|live| f(&live.handle));
        }
    }

    /// How many sessions are live.
    pub fn len(&self) -> usize {
        self.shards.iter().map(|shard| locked(shard).len()).sum()
    }

    /// Whether no session is live.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_identifiers_index_follows_inserts_and_removes() {
        let sessions = Sessions::default();
        let alice: Arc<str> = Arc::from(r#"{"user":"alice"}"#);
        for id in 1..=3 {
            let identifiers = if id == 3 { Arc::from(r#"{"user":"bob"}"#) } else { Arc::clone(&alice) };
            sessions.insert(SessionHandle::new(id, 1024).0, identifiers);
        }
        let ids = |sessions: &Sessions| {
            let mut ids: Vec<SessionId> = sessions.with_identifiers(&alice).iter().map(|h| h.id).collect();
            ids.sort_unstable();
            ids
        };
        assert_eq!(ids(&sessions), [1, 2]);
        assert_eq!(sessions.unique_identifiers(), 2);
        sessions.remove(1);
        sessions.remove(1); // twice: a no-op
        assert_eq!(ids(&sessions), [2]);
        sessions.remove(2);
        assert!(ids(&sessions).is_empty());
        assert_eq!((sessions.unique_identifiers(), sessions.len()), (1, 1));
        assert!(sessions.with_identifiers(r#"{"user": "alice"}"#).is_empty(), "compared byte for byte");
    }
}
