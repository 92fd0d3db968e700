//! The Action Cable wire protocol (`actioncable-v1-json`, docs/architecture.md §6.1) and
//! AnyCable's extended one (`actioncable-v1-ext-json`: `history` and `pong` commands, stream
//! positions on broadcasts, restored welcomes).
//!
//! Client frames are parsed into [`ClientCommand`]s; everything the server sends is built here
//! as a ready-to-send JSON string, so a broadcast is encoded once and the same bytes are shared
//! by every recipient. Channel identifiers are opaque strings: they are compared and echoed byte
//! for byte, never re-encoded.

use std::collections::HashMap;
use std::fmt;

use serde::Deserialize;
use serde_json::value::RawValue;

use crate::logging::Clipped;

/// The subprotocol every Action Cable client offers and the server must echo.
pub const SUBPROTOCOL: &str = "actioncable-v1-json";

/// AnyCable's extended protocol: chosen over [`SUBPROTOCOL`] when a client offers it.
pub const SUBPROTOCOL_EXT: &str = "actioncable-v1-ext-json";

/// What a client asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Command {
    /// Join a channel.
    Subscribe,
    /// Leave a channel.
    Unsubscribe,
    /// Perform an action of a subscribed channel.
    Message,
    /// Fetch what a subscription's streams missed (extended protocol).
    History,
    /// The client's answer to a ping (extended protocol); carries no identifier.
    Pong,
    /// A message to the other subscribers of the subscription's whisper stream, which never
    /// reaches the app (AnyCable).
    Whisper,
    /// Enter the presence set of the subscription's presence stream (AnyCable).
    Join,
    /// Leave that presence set (AnyCable).
    Leave,
    /// Ask who is in that presence set (AnyCable).
    Presence,
}

impl Command {
    /// The command's name on the wire and in RPC calls.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Subscribe => "subscribe",
            Self::Unsubscribe => "unsubscribe",
            Self::Message => "message",
            Self::History => "history",
            Self::Pong => "pong",
            Self::Whisper => "whisper",
            Self::Join => "join",
            Self::Leave => "leave",
            Self::Presence => "presence",
        }
    }
}

/// One parsed client frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientCommand {
    /// What is asked.
    pub command: Command,
    /// The channel identifier, exactly as the client sent it.
    pub identifier: String,
    /// For `message`: the JSON string holding the action and its arguments; for `whisper`:
    /// the JSON text of what is whispered; for `presence`: the JSON text of its options.
    pub data: Option<String>,
    /// For `history`, and optionally `subscribe`: what the client already has.
    pub history: Option<HistoryRequest>,
    /// For `join`, and optionally `subscribe`: who enters the presence set.
    pub presence: Option<PresenceJoin>,
}

/// Who enters a presence set: the presence id (one record however many sessions share it)
/// and what the others see of it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, Deserialize)]
pub struct PresenceJoin {
    /// The presence id (a JSON number is taken as its digits).
    pub id: String,
    /// JSON text, as the client sent it.
    #[serde(default)]
    pub info: Option<String>,
}

impl PresenceJoin {
    /// The join a channel asked for (`join_presence`): `info` is JSON text, else sent as a
    /// JSON string; empty is none.
    pub fn from_channel(id: String, info: &str) -> Self {
        let info = match info {
            "" => None,
            json if serde_json::from_str::<&RawValue>(json).is_ok() => Some(json.trim().to_owned()),
            text => Some(encode_str(text)),
        };
        Self { id, info }
    }
}

#[derive(Deserialize)]
struct RawPresence {
    #[serde(default)]
    id: Option<Box<RawValue>>,
    #[serde(default)]
    info: Option<Box<RawValue>>,
}

impl RawPresence {
    /// The join it asks for; `None` without a string or number id.
    fn join(self) -> Option<PresenceJoin> {
        let id = self.id?;
        let id = match serde_json::from_str::<serde_json::Value>(id.get()).ok()? {
            serde_json::Value::String(id) => id,
            serde_json::Value::Number(id) => id.to_string(),
            _ => return None,
        };
        let info = self.info.map(|info| String::from(Box::<str>::from(info))).filter(|info| info != "null");
        (!id.is_empty()).then_some(PresenceJoin { id, info })
    }
}

/// What a client already received, so the server sends only what came after: per stream its
/// last position, and for streams without one a time.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct HistoryRequest {
    /// Unix seconds: messages of streams not in `streams` published at or after it.
    #[serde(default)]
    pub since: u64,
    /// Stream name → the last position the client received.
    #[serde(default)]
    pub streams: HashMap<String, StreamPosition>,
}

impl HistoryRequest {
    /// Whether it asks for anything (anycable-go ignores an empty one).
    pub fn is_empty(&self) -> bool {
        self.since == 0 && self.streams.is_empty()
    }
}

/// A position in a stream's history: the broker's epoch and the message's offset in it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct StreamPosition {
    /// The broker generation the offset belongs to.
    #[serde(default)]
    pub epoch: String,
    /// The message's number in its stream, from 1.
    #[serde(default)]
    pub offset: u64,
}

/// Why a client frame was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProtocolError {
    /// Not JSON, or not an object with the expected fields.
    Malformed(String),
    /// A `command` we do not serve.
    UnknownCommand(String),
    /// `message` without `data`.
    MissingData,
    /// A command other than `pong` without `identifier`.
    MissingIdentifier,
    /// `history` without a `history` object.
    MissingHistory,
    /// `join` without `presence.id`.
    MissingPresence,
}

impl fmt::Display for ProtocolError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Malformed(why) => write!(f, "malformed command: {why}"),
            Self::UnknownCommand(name) => write!(f, "unknown command `{}`", Clipped(name)),
            Self::MissingData => f.write_str("`message` or `whisper` command without `data`"),
            Self::MissingIdentifier => f.write_str("command without `identifier`"),
            Self::MissingHistory => f.write_str("`history` command without `history`"),
            Self::MissingPresence => f.write_str("`join` command without `presence.id`"),
        }
    }
}

impl std::error::Error for ProtocolError {}

#[derive(Deserialize)]
struct RawCommand {
    command: String,
    #[serde(default)]
    identifier: Option<String>,
    /// A JSON string for `message`, any JSON value (an object, normally) for `whisper`.
    #[serde(default)]
    data: Option<Box<RawValue>>,
    #[serde(default)]
    history: Option<HistoryRequest>,
    #[serde(default)]
    presence: Option<RawPresence>,
}

impl ClientCommand {
    /// Parses one text frame from a client.
    pub fn parse(frame: &str) -> Result<Self, ProtocolError> {
        let raw: RawCommand =
            serde_json::from_str(frame).map_err(|e| ProtocolError::Malformed(e.to_string()))?;
        let command = match raw.command.as_str() {
            "subscribe" => Command::Subscribe,
            "unsubscribe" => Command::Unsubscribe,
            "message" => Command::Message,
            "history" => Command::History,
            "pong" => Command::Pong,
            "whisper" => Command::Whisper,
            "join" => Command::Join,
            "leave" => Command::Leave,
            "presence" => Command::Presence,
            _ => return Err(ProtocolError::UnknownCommand(raw.command)),
        };
        let data = match (command, raw.data) {
            (Command::Message | Command::Whisper, None) => return Err(ProtocolError::MissingData),
            // `message` data is a JSON string (holding the action's JSON); a whisper's is sent
            // on as is, and presence options are read as they are.
            (Command::Whisper | Command::Presence, Some(data)) => Some(String::from(Box::<str>::from(data))),
            (_, Some(data)) => Some(
                serde_json::from_str::<String>(data.get())
                    .map_err(|_| ProtocolError::Malformed("`data` must be a JSON string".into()))?,
            ),
            (_, None) => None,
        };
        if command == Command::History && raw.history.as_ref().is_none_or(HistoryRequest::is_empty) {
            return Err(ProtocolError::MissingHistory);
        }
        let identifier = match raw.identifier {
            Some(identifier) => identifier,
            None if command == Command::Pong => String::new(),
            None => return Err(ProtocolError::MissingIdentifier),
        };
        let history = raw.history.filter(|history| !history.is_empty());
        let presence = raw.presence.and_then(RawPresence::join);
        if command == Command::Join && presence.is_none() {
            return Err(ProtocolError::MissingPresence);
        }
        Ok(Self { command, identifier, data, history, presence })
    }
}

/// Why the server closes a connection, with the names Rails and AnyCable use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DisconnectReason {
    /// The application rejected the connection.
    Unauthorized,
    /// The client broke the protocol.
    InvalidRequest,
    /// The server is going away; come back soon.
    ServerRestart,
    /// Closed on request of the application (remote disconnect); the client may come back.
    Remote,
    /// Closed on request of the application, which asked the client not to reconnect
    /// (`reconnect: false`); `remote` on the wire too.
    RemoteNoReconnect,
    /// The client did not read fast enough and its queue overflowed.
    TooSlow,
    /// The server could not serve the call (busy or failing RPC); try again later.
    ServerError,
    /// An extended-protocol client answered no ping within `pong_timeout`.
    NoPong,
    /// The client's JWT (`jid`) has expired: it must get a new one, not retry with it.
    TokenExpired,
}

impl DisconnectReason {
    /// The reason's name on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Unauthorized => "unauthorized",
            Self::InvalidRequest => "invalid_request",
            Self::ServerRestart => "server_restart",
            Self::Remote | Self::RemoteNoReconnect => "remote",
            Self::TooSlow => "too_slow",
            Self::ServerError => "server_error",
            Self::NoPong => "no_pong",
            Self::TokenExpired => "token_expired",
        }
    }

    /// Whether the client should reconnect after this reason.
    pub fn reconnect(self) -> bool {
        !matches!(
            self,
            Self::Unauthorized | Self::InvalidRequest | Self::RemoteNoReconnect | Self::TokenExpired
        )
    }

    /// A remote disconnect, with or without permission to reconnect.
    pub fn remote(reconnect: bool) -> Self {
        if reconnect {
            Self::Remote
        } else {
            Self::RemoteNoReconnect
        }
    }
}

/// The value of query parameter `name` in `url` (not percent-decoded: sids and tokens are URL-safe).
pub fn query_param(url: &str, name: &str) -> Option<String> {
    let query = url.split_once('?')?.1.split('#').next()?;
    query
        .split('&')
        .filter_map(|pair| pair.split_once('='))
        .find(|(key, value)| *key == name && !value.is_empty())
        .map(|(_, value)| value.to_owned())
}

/// Builders of server → client frames.
pub mod server {
    use super::{encode_str, DisconnectReason};

    /// `{"type":"welcome"}`, with the session id when there is one.
    pub fn welcome(sid: Option<&str>) -> String {
        match sid {
            Some(sid) => format!(r#"{{"type":"welcome","sid":{}}}"#, encode_str(sid)),
            None => r#"{"type":"welcome"}"#.to_owned(),
        }
    }

    /// The welcome of a restored session: its new sid and the subscriptions it got back.
    pub fn welcome_restored<'a>(sid: &str, restored: impl IntoIterator<Item = &'a str>) -> String {
        let ids: Vec<String> = restored.into_iter().map(encode_str).collect();
        format!(
            r#"{{"type":"welcome","sid":{},"restored":true,"restored_ids":[{}]}}"#,
            encode_str(sid),
            ids.join(",")
        )
    }

    /// Everything a `history` request asked for was sent.
    pub fn confirm_history(identifier: &str) -> String {
        format!(r#"{{"type":"confirm_history","identifier":{}}}"#, encode_str(identifier))
    }

    /// What a `history` request asked for is gone (or of another epoch).
    pub fn reject_history(identifier: &str) -> String {
        format!(r#"{{"type":"reject_history","identifier":{}}}"#, encode_str(identifier))
    }

    /// `{"type":"presence","identifier":…,"message":<message>}`: the answer to a `presence`
    /// request (`message` is JSON text).
    pub fn presence(identifier: &str, message: &str) -> String {
        format!(r#"{{"type":"presence","identifier":{},"message":{message}}}"#, encode_str(identifier))
    }

    /// `{"type":"ping","message":<unix seconds>}`.
    pub fn ping(unix_seconds: u64) -> String {
        format!(r#"{{"type":"ping","message":{unix_seconds}}}"#)
    }

    /// The subscription was accepted.
    pub fn confirm(identifier: &str) -> String {
        format!(r#"{{"identifier":{},"type":"confirm_subscription"}}"#, encode_str(identifier))
    }

    /// The subscription was rejected.
    pub fn reject(identifier: &str) -> String {
        format!(r#"{{"identifier":{},"type":"reject_subscription"}}"#, encode_str(identifier))
    }

    /// `{"type":"disconnect",...}`, sent right before the server closes.
    pub fn disconnect(reason: DisconnectReason) -> String {
        format!(
            r#"{{"type":"disconnect","reason":"{}","reconnect":{}}}"#,
            reason.as_str(),
            reason.reconnect()
        )
    }
}

/// A broadcast's data, prepared once and then framed for each channel identifier it is
/// delivered under. `data` is embedded as JSON when it is valid JSON (the usual case: Action
/// Cable encodes the message) and as a JSON string otherwise.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BroadcastData {
    embedded: String,
}

impl BroadcastData {
    /// Prepares `data` (parsed once, kept byte for byte when it is JSON).
    pub fn new(data: &str) -> Self {
        let embedded = match serde_json::from_str::<&RawValue>(data) {
            Ok(raw) => raw.get().trim().to_owned(),
            Err(_) => encode_str(data),
        };
        Self { embedded }
    }

    /// `{"identifier":<identifier>,"message":<data>}`.
    pub fn frame(&self, identifier: &str) -> String {
        format!(r#"{{"identifier":{},"message":{}}}"#, encode_str(identifier), self.embedded)
    }

    /// `{"type":<kind>,"identifier":<identifier>,"message":<data>}`: a broadcast of a kind
    /// other than a channel message (`presence` events).
    pub fn frame_typed(&self, kind: &str, identifier: &str) -> String {
        format!(
            r#"{{"type":{},"identifier":{},"message":{}}}"#,
            encode_str(kind),
            encode_str(identifier),
            self.embedded
        )
    }

    /// The frame of a message with a place in its stream's history: [`Self::frame`] plus
    /// `stream_id`, `epoch` and `offset`, which extended clients keep to ask for what follows.
    pub fn frame_at(&self, identifier: &str, at: Placed<'_>) -> String {
        format!(
            r#"{{"identifier":{},"message":{},"stream_id":{},"epoch":{},"offset":{}}}"#,
            encode_str(identifier),
            self.embedded,
            encode_str(at.stream),
            encode_str(at.epoch),
            at.offset
        )
    }

    /// Bytes it holds (what a history entry costs).
    pub fn len(&self) -> usize {
        self.embedded.len()
    }

    /// Whether it holds nothing (never: even an empty string is `""`).
    pub fn is_empty(&self) -> bool {
        self.embedded.is_empty()
    }
}

/// Where a broadcast sits in its stream's history.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Placed<'a> {
    /// The stream's name.
    pub stream: &'a str,
    /// The broker's epoch.
    pub epoch: &'a str,
    /// The message's offset in the stream.
    pub offset: u64,
}

/// `s` as a JSON string literal.
fn encode_str(s: &str) -> String {
    serde_json::to_string(s).expect("a str always serialises")
}

#[cfg(test)]
mod tests {
    use super::server;
    use super::*;
    use serde_json::{json, Value};

    const ID: &str = r#"{"channel":"ChatChannel","room":"1"}"#;

    fn parsed(frame: &str) -> Value {
        serde_json::from_str(frame).unwrap()
    }

    #[test]
    fn parses_the_three_commands() {
        let sub = format!(r#"{{"command":"subscribe","identifier":{}}}"#, encode_str(ID));
        let cmd = ClientCommand::parse(&sub).unwrap();
        assert_eq!(cmd.command, Command::Subscribe);
        assert_eq!(cmd.identifier, ID, "identifier kept byte for byte");
        let msg = json!({"command":"message","identifier":ID,"data":"{\"action\":\"speak\"}"});
        let cmd = ClientCommand::parse(&msg.to_string()).unwrap();
        assert_eq!(cmd.command, Command::Message);
        assert_eq!(cmd.data.as_deref(), Some(r#"{"action":"speak"}"#));
        let unsub = json!({"command":"unsubscribe","identifier":ID});
        assert_eq!(ClientCommand::parse(&unsub.to_string()).unwrap().command, Command::Unsubscribe);
    }

    #[test]
    fn refuses_bad_frames_with_a_reason() {
        assert!(matches!(ClientCommand::parse("{nope"), Err(ProtocolError::Malformed(_))));
        assert_eq!(ClientCommand::parse(r#"{"command":"subscribe"}"#), Err(ProtocolError::MissingIdentifier));
        assert_eq!(
            ClientCommand::parse(r#"{"command":"history","identifier":"x"}"#),
            Err(ProtocolError::MissingHistory)
        );
        assert_eq!(
            ClientCommand::parse(r#"{"command":"history","identifier":"x","history":{}}"#),
            Err(ProtocolError::MissingHistory)
        );
        assert_eq!(
            ClientCommand::parse(r#"{"command":"dance","identifier":"x"}"#),
            Err(ProtocolError::UnknownCommand("dance".into()))
        );
        assert_eq!(
            ClientCommand::parse(r#"{"command":"message","identifier":"x"}"#),
            Err(ProtocolError::MissingData)
        );
        assert_eq!(
            ClientCommand::parse(r#"{"command":"dance","identifier":"x"}"#).unwrap_err().to_string(),
            "unknown command `dance`"
        );
    }

    #[test]
    fn a_whisper_carries_its_data_as_json_text_and_a_message_a_string() {
        let whisper =
            json!({"command": "whisper", "identifier": ID, "data": {"typing": true, "name": "é\"x"}});
        let cmd = ClientCommand::parse(&whisper.to_string()).unwrap();
        assert_eq!(cmd.command, Command::Whisper);
        let data: Value = serde_json::from_str(cmd.data.as_deref().unwrap()).unwrap();
        assert_eq!(data, json!({"typing": true, "name": "é\"x"}));
        assert_eq!(
            ClientCommand::parse(&json!({"command": "whisper", "identifier": ID}).to_string()),
            Err(ProtocolError::MissingData)
        );
        let object = json!({"command": "message", "identifier": ID, "data": {"action": "x"}}).to_string();
        assert!(matches!(ClientCommand::parse(&object), Err(ProtocolError::Malformed(_))));
        let null = json!({"command": "message", "identifier": ID, "data": null}).to_string();
        assert_eq!(ClientCommand::parse(&null), Err(ProtocolError::MissingData));
    }

    #[test]
    fn parses_the_extended_commands() {
        let pong = ClientCommand::parse(r#"{"command":"pong"}"#).unwrap();
        assert_eq!((pong.command, pong.identifier.as_str()), (Command::Pong, ""));
        let history = json!({"command": "history", "identifier": ID,
            "history": {"since": 1_681_828_329, "streams": {"chat_42": {"offset": 32, "epoch": "x123"}}}});
        let cmd = ClientCommand::parse(&history.to_string()).unwrap();
        assert_eq!(cmd.command, Command::History);
        let request = cmd.history.unwrap();
        assert_eq!(request.since, 1_681_828_329);
        assert_eq!(request.streams["chat_42"], StreamPosition { epoch: "x123".into(), offset: 32 });
        let subscribe = json!({"command": "subscribe", "identifier": ID, "history": {"since": 5}});
        assert_eq!(ClientCommand::parse(&subscribe.to_string()).unwrap().history.unwrap().since, 5);
        let plain = json!({"command": "subscribe", "identifier": ID, "history": {}});
        assert_eq!(
            ClientCommand::parse(&plain.to_string()).unwrap().history,
            None,
            "an empty request asks nothing"
        );
    }

    #[test]
    fn extended_frames_have_anycables_shapes() {
        assert_eq!(
            parsed(&server::welcome_restored("s2", [ID])),
            json!({"type":"welcome","sid":"s2","restored":true,"restored_ids":[ID]})
        );
        assert_eq!(parsed(&server::confirm_history(ID)), json!({"type":"confirm_history","identifier":ID}));
        assert_eq!(parsed(&server::reject_history(ID)), json!({"type":"reject_history","identifier":ID}));
        let at = Placed { stream: "chat_42", epoch: "x123", offset: 33 };
        assert_eq!(
            parsed(&BroadcastData::new(r#"{"text":"hi"}"#).frame_at(ID, at)),
            json!({"identifier":ID,"message":{"text":"hi"},"stream_id":"chat_42","epoch":"x123","offset":33})
        );
        assert_eq!(
            parsed(&server::disconnect(DisconnectReason::NoPong)),
            json!({"type":"disconnect","reason":"no_pong","reconnect":true})
        );
    }

    #[test]
    fn server_frames_have_the_action_cable_shapes() {
        assert_eq!(parsed(&server::welcome(None)), json!({"type":"welcome"}));
        assert_eq!(parsed(&server::welcome(Some("s1"))), json!({"type":"welcome","sid":"s1"}));
        assert_eq!(parsed(&server::ping(1_700_000_000)), json!({"type":"ping","message":1_700_000_000}));
        assert_eq!(parsed(&server::confirm(ID)), json!({"identifier":ID,"type":"confirm_subscription"}));
        assert_eq!(parsed(&server::reject(ID)), json!({"identifier":ID,"type":"reject_subscription"}));
        assert_eq!(
            parsed(&server::disconnect(DisconnectReason::Unauthorized)),
            json!({"type":"disconnect","reason":"unauthorized","reconnect":false})
        );
        assert_eq!(
            parsed(&server::disconnect(DisconnectReason::ServerRestart)),
            json!({"type":"disconnect","reason":"server_restart","reconnect":true})
        );
        assert_eq!(
            parsed(&server::disconnect(DisconnectReason::remote(false))),
            json!({"type":"disconnect","reason":"remote","reconnect":false})
        );
        assert_eq!(
            parsed(&server::disconnect(DisconnectReason::remote(true))),
            json!({"type":"disconnect","reason":"remote","reconnect":true})
        );
    }

    #[test]
    fn broadcast_data_is_embedded_as_json_or_kept_a_string() {
        let hash = BroadcastData::new(r#"{"text":"hi","n":1}"#).frame(ID);
        assert_eq!(parsed(&hash), json!({"identifier":ID,"message":{"text":"hi","n":1}}));
        let html = BroadcastData::new("<p>hi</p>").frame(ID);
        assert_eq!(parsed(&html), json!({"identifier":ID,"message":"<p>hi</p>"}));
        // A JSON string stays a string (Action Cable encoded "hello" as "\"hello\"").
        let string = BroadcastData::new(r#""hello""#).frame(ID);
        assert_eq!(parsed(&string), json!({"identifier":ID,"message":"hello"}));
        // Embedding keeps the publisher's bytes: no re-encoding of the payload.
        assert!(hash.ends_with(r#""message":{"text":"hi","n":1}}"#), "{hash}");
    }
}
