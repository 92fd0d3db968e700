//! The broker: what makes delivery reliable (docs/architecture.md §6.5). It sits between a
//! broadcast and its fan-out, gives each broadcast its place in its stream's history (epoch and
//! offset), keeps that history for clients that come back, and keeps the sessions of clients
//! that left so they can be restored without calling the app.
//!
//! [`Memory`] keeps both in this process: a new epoch per process start, so history and
//! sessions do not outlive it or reach other processes. The hub stays the only fan-out: the
//! broker hands it each broadcast with its place, and live delivery never waits for the broker.

mod cached;
mod history;
mod memory;

pub use cached::{CachedSession, CachedSubscription};
pub use history::{HistoryError, Since};
pub use memory::Memory;
