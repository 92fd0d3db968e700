//! The router: which Redis channels a node listens to and what a message on each means, for
//! both broadcast formats (AnyCable's one channel, stock Action Cable's channel per stream and
//! per connection). It keeps the Action Cable format's connection channels; everything it
//! delivers goes through the [`Recipients`] it is given (the node).

use crate::hub::SessionId;

use super::action_cable::{self, ChannelNames, ConnectionIndex, Route};
use super::publication::{self, Publication};

/// What the router needs from the node it routes for. No method may block or wait.
pub trait Recipients {
    /// Applies a publication here (delivers it, or closes the sessions it names).
    fn apply(&self, publication: &Publication) -> usize;
    /// Delivers `data` to this process's subscribers of `stream`.
    fn deliver(&self, stream: &str, data: &str) -> usize;
    /// Whether `stream` has a subscriber here.
    fn streams_here(&self, stream: &str) -> bool;
    /// Every stream with a subscriber here.
    fn stream_names(&self) -> Vec<String>;
    /// Closes these sessions with a remote disconnect.
    fn disconnect(&self, sessions: &[SessionId], reconnect: bool);
}

/// The Redis channels of one node and where their messages go.
#[derive(Debug)]
pub struct Router {
    /// The AnyCable-format channel (`redis_channel`), when `broadcast_adapter` is `redis`.
    anycable: Option<String>,
    /// Channel names of stock Action Cable's format, when `action_cable_redis` is on.
    action_cable: Option<ChannelNames>,
    /// Action Cable internal channel → local sessions (only used with `action_cable_redis`).
    connections: ConnectionIndex,
}

impl Router {
    /// Routes `anycable` (the AnyCable channel, if any) and, with `action_cable`, stock
    /// Action Cable's channels.
    pub fn new(anycable: Option<String>, action_cable: Option<ChannelNames>) -> Self {
        Self { anycable, action_cable, connections: ConnectionIndex::default() }
    }

    /// The Action Cable format's names, when it is on.
    pub fn action_cable(&self) -> Option<&ChannelNames> {
        self.action_cable.as_ref()
    }

    /// A session with `identifiers` was welcomed: the channel to listen to when it is the
    /// first session of its connection channel (Action Cable format only).
    pub fn joined(&self, session: SessionId, identifiers: &str) -> Option<String> {
        let channel = self.action_cable.as_ref()?.connection(identifiers)?;
        self.connections.add(&channel, session).then_some(channel)
    }

    /// A welcomed session ended: the channel to stop listening to when it was the last one.
    pub fn left(&self, session: SessionId, identifiers: &str) -> Option<String> {
        let channel = self.action_cable.as_ref()?.connection(identifiers)?;
        self.connections.remove(&channel, session).then_some(channel)
    }

    /// Every channel wanted right now.
    pub fn channels(&self, recipients: &dyn Recipients) -> Vec<String> {
        let mut channels: Vec<String> = self.anycable.iter().cloned().collect();
        if let Some(names) = &self.action_cable {
            channels.extend(recipients.stream_names().iter().map(|stream| names.stream(stream)));
            channels.extend(self.connections.channels());
        }
        channels
    }

    /// Whether `channel` is wanted right now.
    pub fn wants(&self, recipients: &dyn Recipients, channel: &str) -> bool {
        if self.anycable.as_deref() == Some(channel) {
            return true;
        }
        match self.action_cable.as_ref().and_then(|names| names.route(channel)) {
            Some(Route::Stream(stream)) => recipients.streams_here(stream),
            Some(Route::Connection) => self.connections.contains(channel),
            None => false,
        }
    }

    /// A message arrived on `channel`.
    pub fn message(&self, recipients: &dyn Recipients, channel: &str, payload: &[u8]) {
        if self.anycable.as_deref() == Some(channel) {
            match publication::parse(payload) {
                Ok(publications) => publications.iter().for_each(|p| {
                    recipients.apply(p);
                }),
                Err(error) => tracing::warn!(%channel, %error, "Redis message ignored"),
            }
            return;
        }
        let Ok(payload) = std::str::from_utf8(payload) else {
            return tracing::warn!(%channel, "Redis message ignored: not UTF-8");
        };
        match self.action_cable.as_ref().and_then(|names| names.route(channel)) {
            Some(Route::Stream(stream)) => {
                recipients.deliver(stream, payload);
            }
            Some(Route::Connection) => match action_cable::parse_disconnect(payload) {
                Some(reconnect) => {
                    recipients.disconnect(&self.connections.sessions(channel), reconnect);
                    tracing::info!(%channel, reconnect, "remote disconnect (Action Cable)");
                }
                None => tracing::debug!(%channel, payload, "internal message ignored"),
            },
            None => tracing::debug!(%channel, "message on a channel not listened to"),
        }
    }
}
