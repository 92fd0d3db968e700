//! Every live (welcomed) session of the process, for what reaches all of them or finds them by
//! id or identifiers: pings, shutdown, remote disconnects.

use std::collections::HashMap;
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

/// Live sessions, sharded by id so connects on different shards never contend.
#[derive(Debug)]
pub struct Sessions {
    /// Locks held only for one insert/remove/lookup or one pass of non-blocking pushes.
    shards: Box<[Mutex<HashMap<SessionId, Live>>]>,
}

impl Default for Sessions {
    fn default() -> Self {
        Self { shards: (0..SHARDS).map(|_| Mutex::new(HashMap::new())).collect() }
    }
}

impl Sessions {
    fn shard(&self, id: SessionId) -> MutexGuard<'_, HashMap<SessionId, Live>> {
        // Poisoning only means a panic elsewhere; single inserts/removes keep the map sound.
        self.shards[id as usize % SHARDS].lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Adds a session with its connection identifiers.
    pub fn insert(&self, handle: SessionHandle, identifiers: Arc<str>) {
        self.shard(handle.id).insert(handle.id, Live { handle, identifiers });
    }

    /// Removes a session.
    pub fn remove(&self, id: SessionId) {
        self.shard(id).remove(&id);
    }

    /// The session with this id, if it is live.
    pub fn get(&self, id: SessionId) -> Option<SessionHandle> {
        self.shard(id).get(&id).map(|live| live.handle.clone())
    }

    /// Calls `f` for every session; `f` must not block.
    pub fn for_each(&self, mut f: impl FnMut(&SessionHandle)) {
        self.for_each_with_identifiers(|handle, _| f(handle));
    }

    /// Calls `f` for every session and its identifiers; `f` must not block.
    pub fn for_each_with_identifiers(&self, mut f: impl FnMut(&SessionHandle, &str)) {
        for shard in self.shards.iter() {
            let shard = shard.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
            shard.values().for_each(|live| f(&live.handle, &live.identifiers));
        }
    }

    /// How many sessions are live.
    pub fn len(&self) -> usize {
        self.shards.iter().map(|s| s.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).len()).sum()
    }

    /// Whether no session is live.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}
