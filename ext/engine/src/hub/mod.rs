//! The hub: delivers broadcasts to the sessions subscribed to a stream.
//!
//! A broadcast's data is prepared once, framed once per (stream, identifier), and each frame
//! is shared (reference-counted bytes) by every session of its group; each delivery is a
//! queue push that never waits.

mod registry;

pub use registry::{Group, SessionId, StreamRegistry, Subscribed, Unsubscribed};

use tokio_tungstenite::tungstenite::Utf8Bytes;

use crate::protocol::BroadcastData;
use crate::session::SessionHandle;

/// Streams and their subscribers in this process.
#[derive(Debug, Default)]
pub struct Hub {
    streams: StreamRegistry<SessionHandle>,
}

impl Hub {
    /// An empty hub.
    pub fn new() -> Self {
        Self::default()
    }

    /// The registry, for subscribing and unsubscribing sessions.
    pub fn streams(&self) -> &StreamRegistry<SessionHandle> {
        &self.streams
    }

    /// Delivers `data` to every subscriber of `stream`; returns how many sessions it reached.
    /// A stream nobody here listens to costs a lookup, not a parse.
    pub fn broadcast(&self, stream: &str, data: &str) -> usize {
        let mut prepared = None;
        let mut delivered = 0;
        self.streams.fan_out(stream, |identifier, group| {
            let data = prepared.get_or_insert_with(|| BroadcastData::new(data));
            let frame = Utf8Bytes::from(data.frame(identifier));
            delivered += group.values().filter(|session| session.send(frame.clone())).count();
        });
        delivered
    }
}
