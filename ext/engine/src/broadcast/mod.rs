//! Broadcasts that come from outside this process (docs/architecture.md §4, §6.3).
//!
//! - [`publication`]: AnyCable publications (single, batch, `exclude_socket`, remote
//!   disconnect) as they arrive on the `__anycable__` Redis channel or in an HTTP body.
//! - [`action_cable`]: stock Action Cable's Redis format: one channel per stream, one internal
//!   channel per connection for remote disconnects.
//! - [`redis`]: the Redis subscriber task: connects (TLS included), SUBSCRIBEs to what a
//!   [`Target`] wants, hands every message to it, reconnects with backoff and re-subscribes.
//! - [`router`]: which channels a node listens to (the AnyCable channel, a channel per locally
//!   streamed stream, a channel per connection) and what a message on each means.
//!
//! The node is the [`Target`], answering through its [`router::Router`].

pub mod action_cable;
pub mod publication;
pub mod redis;
pub mod router;

/// What the Redis subscriber serves: it asks which channels to listen to and hands over every
/// message. Called from the subscriber task; no method may block or wait.
pub trait Target: Send + Sync + 'static {
    /// Every channel wanted right now; subscribed to after each (re)connect.
    fn channels(&self) -> Vec<String>;
    /// Whether `channel` is wanted right now (asked when told that it may have changed).
    fn wants(&self, channel: &str) -> bool;
    /// A message arrived on `channel`.
    fn message(&self, channel: &str, payload: &[u8]);
}
