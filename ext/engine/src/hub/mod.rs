//! The hub: delivers broadcasts to the sessions subscribed to a stream.
//!
//! A broadcast's data is prepared once, framed once per (stream, identifier), and each frame
//! is shared (reference-counted bytes) by every session of its group; each delivery is a
//! queue push that never waits.
//!
//! Subscribes and unsubscribes go through [`Hub::subscribe`] / [`Hub::unsubscribe`] so that a
//! broadcast source which listens per stream (stock Action Cable's Redis format) can be told
//! when a stream gets its first local subscriber or loses its last one ([`Hub::watch_streams`]).

mod registry;

use std::sync::{Arc, OnceLock};

pub use registry::{Group, SessionId, StreamRegistry, Subscribed, Unsubscribed};

use tokio_tungstenite::tungstenite::Utf8Bytes;

use crate::protocol::{BroadcastData, Placed};

/// What the hub keeps of a subscribed session: its id and a way to hand it a frame (the node's
/// session handle; a cheap clone).
pub trait Subscriber {
    /// The session's id within the process.
    fn id(&self) -> SessionId;
    /// Queues `frame` for the session without waiting; false when it was not queued.
    fn send(&self, frame: Utf8Bytes) -> bool;
}

/// Told the name of a stream whose first subscriber came or whose last one left.
type StreamWatcher = Box<dyn Fn(&str) + Send + Sync>;

/// Streams and their subscribers in this process.
pub struct Hub<S> {
    streams: StreamRegistry<S>,
    /// Set at most once (by the node, before any client connects); called outside the
    /// registry's locks, so it may only do something that never waits (a channel send).
    watcher: OnceLock<StreamWatcher>,
}

impl<S> Default for Hub<S> {
    fn default() -> Self {
        Self { streams: StreamRegistry::new(), watcher: OnceLock::new() }
    }
}

impl<S> std::fmt::Debug for Hub<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Hub")
            .field("streams", &self.streams.streams_count())
            .field("watched", &self.watcher.get().is_some())
            .finish()
    }
}

impl<S: Subscriber> Hub<S> {
    /// An empty hub.
    pub fn new() -> Self {
        Self::default()
    }

    /// The registry, for lookups.
    pub fn streams(&self) -> &StreamRegistry<S> {
        &self.streams
    }

    /// Calls `watcher` with the stream's name whenever a stream gets its first subscriber
    /// here or loses its last one. Calls may arrive out of order under concurrency: the
    /// watcher should look at [`StreamRegistry::contains`] for the current state. Only the
    /// first watcher set is kept; returns whether this one was.
    pub fn watch_streams(&self, watcher: impl Fn(&str) + Send + Sync + 'static) -> bool {
        self.watcher.set(Box::new(watcher)).is_ok()
    }

    /// Adds `session` to `stream` under `identifier`.
    pub fn subscribe(&self, stream: &str, identifier: &Arc<str>, session: S) -> Subscribed {
        let subscribed = self.streams.subscribe(stream, identifier, session.id(), session);
        if subscribed == Subscribed::FirstOnStream {
            self.notify(stream);
        }
        subscribed
    }

    /// Removes `session`'s subscription to `stream` under `identifier`.
    pub fn unsubscribe(&self, stream: &str, identifier: &str, session: SessionId) -> Unsubscribed {
        let unsubscribed = self.streams.unsubscribe(stream, identifier, session);
        if unsubscribed == Unsubscribed::LastOnStream {
            self.notify(stream);
        }
        unsubscribed
    }

    fn notify(&self, stream: &str) {
        if let Some(watcher) = self.watcher.get() {
            watcher(stream);
        }
    }

    /// Delivers `data` to every subscriber of `stream` except the session `exclude` (the
    /// publisher's own socket, `meta.exclude_socket`); returns how many sessions it reached.
    /// A stream nobody here listens to costs a lookup, not a parse.
    pub fn deliver(&self, stream: &str, data: &str, exclude: Option<SessionId>) -> usize {
        let mut prepared = None;
        self.fan_out(stream, exclude, |identifier| {
            prepared.get_or_insert_with(|| BroadcastData::new(data)).frame(identifier)
        })
    }

    /// [`Self::deliver`] as a broadcast of `kind` (`"type"` in every frame: `presence`).
    pub fn deliver_typed(&self, stream: &str, kind: &str, data: &str, exclude: Option<SessionId>) -> usize {
        let mut prepared = None;
        self.fan_out(stream, exclude, |identifier| {
            prepared.get_or_insert_with(|| BroadcastData::new(data)).frame_typed(kind, identifier)
        })
    }

    /// [`Self::deliver`] for data already prepared, with its place in the stream's history
    /// (`stream_id`, `epoch`, `offset` in every frame).
    pub fn deliver_placed(&self, data: &BroadcastData, at: Placed<'_>, exclude: Option<SessionId>) -> usize {
        self.fan_out(at.stream, exclude, |identifier| data.frame_at(identifier, at))
    }

    /// Frames the broadcast once per identifier group of `stream` with `frame` and pushes the
    /// shared frame to every session of the group but `exclude`.
    fn fan_out(
        &self,
        stream: &str,
        exclude: Option<SessionId>,
        mut frame: impl FnMut(&str) -> String,
    ) -> usize {
        let mut delivered = 0;
        self.streams.fan_out(stream, |identifier, group| {
            let frame = Utf8Bytes::from(frame(identifier));
            delivered += match exclude {
                None => group.values().filter(|session| session.send(frame.clone())).count(),
                Some(excluded) => group
                    .iter()
                    .filter(|(id, session)| **id != excluded && session.send(frame.clone()))
                    .count(),
            };
        });
        delivered
    }
}
