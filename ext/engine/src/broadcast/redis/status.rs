//! What the Redis subscriber reports about its connection: for stats, health checks, tests.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Mutex;

/// The connection state, shared by the subscriber task (writer) and the node (reader).
#[derive(Debug, Default)]
pub struct Status {
    connected: AtomicBool,
    /// Times an established connection was lost.
    losses: AtomicU64,
    /// Times the connection came back after a loss or a failed first attempt.
    restores: AtomicU64,
    /// The last connection error; locked only to copy a string in or out.
    last_error: Mutex<Option<String>>,
}

impl Status {
    /// Whether the subscriber is connected and subscribed now.
    pub fn connected(&self) -> bool {
        self.connected.load(Ordering::Acquire)
    }

    /// How many times an established connection was lost.
    pub fn losses(&self) -> u64 {
        self.losses.load(Ordering::Acquire)
    }

    /// How many times the connection was restored after being down.
    pub fn restores(&self) -> u64 {
        self.restores.load(Ordering::Acquire)
    }

    /// The last connection error (cleared when a connection is established).
    pub fn last_error(&self) -> Option<String> {
        self.last_error.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    pub(crate) fn up(&self, restored: bool) {
        *self.last_error.lock().unwrap_or_else(|p| p.into_inner()) = None;
        if restored {
            self.restores.fetch_add(1, Ordering::AcqRel);
        }
        self.connected.store(true, Ordering::Release);
    }

    pub(crate) fn lost(&self, error: String) {
        self.connected.store(false, Ordering::Release);
        self.losses.fetch_add(1, Ordering::AcqRel);
        self.failed(error);
    }

    pub(crate) fn failed(&self, error: String) {
        *self.last_error.lock().unwrap_or_else(|p| p.into_inner()) = Some(error);
    }
}
