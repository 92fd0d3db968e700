//! A session kept for a restore: what a connection held, in a shape any backend can store.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use crate::protocol::PresenceJoin;

/// A session kept after its client left, so that a client coming back with its sid gets it
/// again without a `connect` or `subscribed` call: what the connection held.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CachedSession {
    /// The connection identifiers JSON from `connect`.
    pub identifiers: String,
    /// Connection state.
    pub cstate: HashMap<String, String>,
    /// Every subscription, in no particular order.
    pub subscriptions: Vec<CachedSubscription>,
    /// Whether the app has seen the session (`disconnect_mode: auto`); a kept session of an
    /// earlier version, which does not say, has been seen.
    #[serde(default = "seen")]
    pub disconnectable: bool,
}

fn seen() -> bool {
    true
}

/// One subscription of a [`CachedSession`].
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CachedSubscription {
    /// The channel identifier, as the client sent it.
    pub identifier: String,
    /// Its streams.
    pub streams: Vec<String>,
    /// Its channel state.
    pub istate: HashMap<String, String>,
    /// Whom it is present as in its presence stream (istate `$p`), re-joined when restored.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub presence: Option<PresenceJoin>,
}
