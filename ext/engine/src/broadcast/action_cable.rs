//! Stock Action Cable's Redis format (docs/architecture.md §6.3), for apps that keep `adapter: redis` in
//! `cable.yml` and publish through Action Cable's own Redis adapter.
//!
//! That adapter PUBLISHes the JSON-encoded message to a channel named after the broadcasting
//! (`<channel_prefix>:<stream>`, or `<stream>` without a prefix: Rails joins the two with
//! `:`), and every server SUBSCRIBEs per stream while it has local subscribers. Remote
//! disconnects (`ActionCable.server.remote_connections.where(...).disconnect`) are published
//! to `<channel_prefix>:action_cable/<connection identifier>` as
//! `{"type":"disconnect"}` (Rails 7.1+ adds `"reconnect":<bool>`).
//!
//! [`ConnectionIndex`] maps those per-connection channels to the local sessions they close.

use std::collections::HashMap;
use std::sync::Mutex;

use serde::Deserialize;
use serde_json::Value;

use crate::hub::SessionId;

/// What Action Cable names the internal channel of a connection, after the prefix.
const INTERNAL: &str = "action_cable/";

/// Channel names of the Action Cable format under one `channel_prefix`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChannelNames {
    prefix: String,
    internal: String,
}

/// Where a message on one of the format's channels goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route<'a> {
    /// To the subscribers of this stream.
    Stream(&'a str),
    /// To the sessions of the connection whose internal channel this is.
    Connection,
}

impl ChannelNames {
    /// Names under `prefix` (`channel_prefix` of `cable.yml`; may be empty). As Rails does, a
    /// prefix is joined to the name with `:`.
    pub fn new(prefix: &str) -> Self {
        let prefix = if prefix.is_empty() { String::new() } else { format!("{prefix}:") };
        Self { internal: format!("{prefix}{INTERNAL}"), prefix }
    }

    /// `<prefix>:<stream>` (`<stream>` without a prefix).
    pub fn stream(&self, stream: &str) -> String {
        format!("{}{stream}", self.prefix)
    }

    /// `<prefix>:action_cable/<connection identifier>` of a session with these identifiers
    /// (its connection identifiers JSON), or `None` when they are not a JSON object.
    pub fn connection(&self, identifiers: &str) -> Option<String> {
        connection_identifier(identifiers).map(|id| format!("{}{id}", self.internal))
    }

    /// Where a message on `channel` goes; `None` for a channel outside this prefix.
    pub fn route<'a>(&self, channel: &'a str) -> Option<Route<'a>> {
        if channel.starts_with(&self.internal) {
            Some(Route::Connection)
        } else {
            channel.strip_prefix(&self.prefix).map(Route::Stream)
        }
    }
}

/// Action Cable's `connection_identifier` of a connection whose identifiers JSON is given:
/// the identifier values (strings as they are, other values as their JSON text; `null` and
/// `false` skipped, as Rails' `filter_map` skips `nil` and `false`), sorted, joined with `:`.
///
/// Rails uses `to_gid_param` for records, which is what AnyCable-style identifiers JSON holds
/// for them, so both sides compute the same string.
pub fn connection_identifier(identifiers: &str) -> Option<String> {
    let Ok(Value::Object(map)) = serde_json::from_str::<Value>(identifiers) else {
        return None;
    };
    let mut parts: Vec<String> = map
        .into_iter()
        .filter_map(|(_, value)| match value {
            Value::Null | Value::Bool(false) => None,
            Value::String(s) => Some(s),
            other => Some(other.to_string()),
        })
        .collect();
    parts.sort_unstable();
    Some(parts.join(":"))
}

#[derive(Deserialize)]
struct InternalMessage {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    reconnect: Option<bool>,
}

/// A message on a connection's internal channel: `Some(reconnect)` for a disconnect
/// (`reconnect` defaults to true, as in Rails), `None` for anything else.
pub fn parse_disconnect(payload: &str) -> Option<bool> {
    let message: InternalMessage = serde_json::from_str(payload).ok()?;
    (message.kind == "disconnect").then(|| message.reconnect.unwrap_or(true))
}

/// Internal channel → the local sessions it belongs to. Several sessions share a channel when
/// one user has several tabs open: a remote disconnect closes all of them, as in Rails.
#[derive(Debug, Default)]
pub struct ConnectionIndex {
    /// Locked for one insert, remove or lookup at a time; never across an `.await`.
    channels: Mutex<HashMap<String, Vec<SessionId>>>,
}

impl ConnectionIndex {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Vec<SessionId>>> {
        // Every critical section is a single map operation: a poisoned map is still sound.
        self.channels.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Adds `session` to `channel`; true when the channel is new here.
    pub fn add(&self, channel: &str, session: SessionId) -> bool {
        let mut channels = self.lock();
        match channels.get_mut(channel) {
            Some(sessions) => {
                sessions.push(session);
                false
            }
            None => {
                channels.insert(channel.to_owned(), vec![session]);
                true
            }
        }
    }

    /// Removes `session` from `channel`; true when that was the channel's last session.
    pub fn remove(&self, channel: &str, session: SessionId) -> bool {
        let mut channels = self.lock();
        let Some(sessions) = channels.get_mut(channel) else {
            return false;
        };
        sessions.retain(|s| *s != session);
        if sessions.is_empty() {
            channels.remove(channel);
            true
        } else {
            false
        }
    }

    /// The sessions of `channel`.
    pub fn sessions(&self, channel: &str) -> Vec<SessionId> {
        self.lock().get(channel).cloned().unwrap_or_default()
    }

    /// Whether any local session has `channel`.
    pub fn contains(&self, channel: &str) -> bool {
        self.lock().contains_key(channel)
    }

    /// Every channel with a local session.
    pub fn channels(&self) -> Vec<String> {
        self.lock().keys().cloned().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connection_identifier_is_what_rails_computes() {
        // Rails: identifiers.filter_map { ivar }.map { to_gid_param or to_s }.sort.join(":")
        let gid = "Z2lkOi8vYXBwL1VzZXIvMQ";
        assert_eq!(connection_identifier(&format!(r#"{{"current_user":"{gid}"}}"#)).unwrap(), gid);
        assert_eq!(
            connection_identifier(r#"{"b":"zeta","a":"alpha","n":42,"t":true,"x":null,"f":false}"#).unwrap(),
            "42:alpha:true:zeta"
        );
        assert_eq!(connection_identifier("{}").unwrap(), "");
        assert_eq!(connection_identifier("[1]"), None);
        assert_eq!(connection_identifier("not json"), None);
    }

    #[test]
    fn channel_names_and_routes() {
        let names = ChannelNames::new("app_production");
        assert_eq!(names.stream("chat:1"), "app_production:chat:1");
        assert_eq!(names.connection(r#"{"user":"u1"}"#).unwrap(), "app_production:action_cable/u1");
        assert_eq!(names.route("app_production:chat:1"), Some(Route::Stream("chat:1")));
        assert_eq!(names.route("app_production:action_cable/u1"), Some(Route::Connection));
        assert_eq!(names.route("other:chat:1"), None);
        let bare = ChannelNames::new("");
        assert_eq!(bare.route("chat:1"), Some(Route::Stream("chat:1")));
        assert_eq!(bare.connection(r#"{"user":"u1"}"#).unwrap(), "action_cable/u1");
    }

    #[test]
    fn internal_messages() {
        assert_eq!(parse_disconnect(r#"{"type":"disconnect"}"#), Some(true));
        assert_eq!(parse_disconnect(r#"{"type":"disconnect","reconnect":false}"#), Some(false));
        assert_eq!(parse_disconnect(r#"{"type":"reload"}"#), None);
        assert_eq!(parse_disconnect("nope"), None);
    }

    #[test]
    fn the_index_reports_first_and_last_sessions() {
        let index = ConnectionIndex::default();
        assert!(index.add("c", 1));
        assert!(!index.add("c", 2));
        assert_eq!(index.sessions("c"), vec![1, 2]);
        assert!(!index.remove("c", 1));
        assert!(index.contains("c"));
        assert!(index.remove("c", 2));
        assert!(!index.contains("c"));
        assert!(!index.remove("c", 2));
        assert!(index.channels().is_empty());
    }
}
