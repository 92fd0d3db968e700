//! Every live session of the process, for what reaches all of them: pings and shutdown.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard};

use crate::hub::SessionId;
use crate::session::SessionHandle;

const SHARDS: usize = 16;

/// Live sessions, sharded by id so connects on different shards never contend.
#[derive(Debug)]
pub struct Sessions {
    /// Locks held only for one insert/remove or one pass of non-blocking pushes.
    shards: Box<[Mutex<HashMap<SessionId, SessionHandle>>]>,
}

impl Default for Sessions {
    fn default() -> Self {
        Self { shards: (0..SHARDS).map(|_| Mutex::new(HashMap::new())).collect() }
    }
}

impl Sessions {
    fn shard(&self, id: SessionId) -> MutexGuard<'_, HashMap<SessionId, SessionHandle>> {
        // Poisoning only means a panic elsewhere; single inserts/removes keep the map sound.
        self.shards[id as usize % SHARDS].lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Adds a session.
    pub fn insert(&self, handle: SessionHandle) {
        self.shard(handle.id).insert(handle.id, handle);
    }

    /// Removes a session.
    pub fn remove(&self, id: SessionId) {
        self.shard(id).remove(&id);
    }

    /// Calls `f` for every session; `f` must not block.
    pub fn for_each(&self, mut f: impl FnMut(&SessionHandle)) {
        for shard in self.shards.iter() {
            shard.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).values().for_each(&mut f);
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
