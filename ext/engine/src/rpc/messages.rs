//! The messages of `anycable.RPC`, field for field, with the protobuf-JSON names (snake_case).
//! Every field has a default, as in protobuf: a missing `status` is `ERROR`. The same shapes
//! are what the in-process Ruby handler takes and returns.

use std::collections::HashMap;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Outcome of an RPC call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Status {
    /// The call failed (an exception, a bad request): apply nothing.
    #[default]
    Error = 0,
    /// The call succeeded.
    Success = 1,
    /// The application refused (rejected connection or subscription).
    Failure = 2,
}

impl Serialize for Status {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_u8(*self as u8)
    }
}

impl<'de> Deserialize<'de> for Status {
    /// Accepts the number (protobuf-JSON as AnyCable sends it) or the enum name.
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Number(i64),
            Name(String),
        }
        match Raw::deserialize(deserializer)? {
            Raw::Number(1) => Ok(Self::Success),
            Raw::Number(2) => Ok(Self::Failure),
            Raw::Number(_) => Ok(Self::Error),
            Raw::Name(name) => match name.as_str() {
                "SUCCESS" => Ok(Self::Success),
                "FAILURE" => Ok(Self::Failure),
                _ => Ok(Self::Error),
            },
        }
    }
}

/// String → string map of headers or state.
pub type StringMap = HashMap<String, String>;

/// Applies a state delta (an [`EnvResponse`] map) to `state`: an empty value deletes the key.
pub fn merge_state(state: &mut StringMap, delta: StringMap) {
    for (key, value) in delta {
        if value.is_empty() {
            state.remove(&key);
        } else {
            state.insert(key, value);
        }
    }
}

/// The connection's environment as the WebSocket side knows it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Env {
    /// Full URL of the WebSocket request.
    pub url: String,
    /// The configured headers (lower-case names) plus `REMOTE_ADDR`.
    pub headers: StringMap,
    /// Connection state.
    pub cstate: StringMap,
    /// Channel state: of one identifier (commands) or identifier → JSON state (disconnect).
    pub istate: StringMap,
}

/// State changes returned by a call: an empty value deletes the key.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct EnvResponse {
    /// Connection state delta.
    pub cstate: StringMap,
    /// Channel state delta of the command's identifier.
    pub istate: StringMap,
}

/// `Connect` request.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ConnectionRequest {
    /// The connection's environment.
    pub env: Env,
    /// The session id (`sid`): unique across processes, what `meta.exclude_socket` of a
    /// broadcast names, and what the handler puts into the welcome message
    /// (`{"type":"welcome","sid":…}`). Not a field of the protobuf message but call metadata:
    /// the in-process bridge passes it as a top-level `"sid"` key of the connect payload, gRPC
    /// as metadata `sid`, HTTP RPC as header `x-anycable-meta-sid`. Empty: not sent.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub sid: String,
}

/// `Connect` reply.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ConnectionResponse {
    /// Accepted, rejected, or failed.
    pub status: Status,
    /// The connection identifiers (a JSON string) passed to every later call.
    pub identifiers: String,
    /// Frames to write to the client, verbatim (normally the welcome).
    pub transmissions: Vec<String>,
    /// What went wrong, for the log.
    pub error_msg: String,
    /// State set during connect.
    pub env: EnvResponse,
    /// See [`CommandResponse::disconnect_interest`].
    #[serde(skip)]
    pub disconnect_interest: i8,
}

/// `Command` request.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct CommandMessage {
    /// `subscribe`, `unsubscribe` or `message`.
    pub command: String,
    /// The channel identifier, byte for byte as the client sent it.
    pub identifier: String,
    /// The identifiers from `Connect`.
    pub connection_identifiers: String,
    /// For `message`: the JSON string with the action.
    pub data: String,
    /// Full cstate and the istate of this identifier.
    pub env: Env,
    /// The session id (see [`ConnectionRequest::sid`]): call metadata for remote controllers
    /// (gRPC sends it with every call, as anycable-go does); never serialized.
    #[serde(skip)]
    pub sid: String,
}

/// `Command` reply.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct CommandResponse {
    /// Outcome.
    pub status: Status,
    /// Close the connection after applying the rest.
    pub disconnect: bool,
    /// Drop every stream of this identifier.
    pub stop_streams: bool,
    /// Streams to add for this identifier.
    pub streams: Vec<String>,
    /// Frames to write to the client.
    pub transmissions: Vec<String>,
    /// What went wrong, for the log.
    pub error_msg: String,
    /// State deltas.
    pub env: EnvResponse,
    /// Streams to drop for this identifier (when not `stop_streams`).
    pub stopped_streams: Vec<String>,
    /// A presence change the channel made (`join_presence` / `leave_presence`), in the
    /// subscription's presence stream (istate `$p`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub presence: Option<PresenceResponse>,
    /// Whether the session needs a `Disconnect` call for this answer (`disconnect_mode: auto`):
    /// -1 not (answered without the app: JWT, signed streams), 0 (every app answer) yes.
    /// Never on the wire.
    #[serde(skip)]
    pub disconnect_interest: i8,
}

/// A channel's presence change.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct PresenceResponse {
    /// `join` or `leave`.
    #[serde(rename = "type")]
    pub kind: String,
    /// The presence id.
    pub id: String,
    /// For `join`: what the others see, JSON text (or any text, then sent as a JSON string).
    pub info: String,
}

/// `Disconnect` request.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct DisconnectRequest {
    /// The identifiers from `Connect`.
    pub identifiers: String,
    /// Every subscribed identifier.
    pub subscriptions: Vec<String>,
    /// cstate, and istate as identifier → JSON-encoded channel state.
    pub env: Env,
    /// The session id, as in [`CommandMessage::sid`]; never serialized.
    #[serde(skip)]
    pub sid: String,
}

/// `Disconnect` reply.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct DisconnectResponse {
    /// Outcome.
    pub status: Status,
    /// What went wrong, for the log.
    pub error_msg: String,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn replies_decode_from_protobuf_json_with_defaults() {
        let reply: CommandResponse = serde_json::from_value(json!({
            "status": 1, "streams": ["chat:1"], "transmissions": ["{}"], "env": {"istate": {"room": "1"}}
        }))
        .unwrap();
        assert_eq!(reply.status, Status::Success);
        assert_eq!(reply.streams, ["chat:1"]);
        assert_eq!(reply.env.istate["room"], "1");
        assert!(!reply.stop_streams && reply.stopped_streams.is_empty());

        let missing: ConnectionResponse = serde_json::from_value(json!({"error_msg": "boom"})).unwrap();
        assert_eq!(missing.status, Status::Error, "a missing status means ERROR");
        let named: DisconnectResponse = serde_json::from_value(json!({"status": "FAILURE"})).unwrap();
        assert_eq!(named.status, Status::Failure);
    }

    #[test]
    fn requests_encode_with_snake_case_names() {
        let request = CommandMessage {
            command: "message".into(),
            identifier: "id".into(),
            connection_identifiers: "{}".into(),
            data: r#"{"action":"x"}"#.into(),
            env: Env { url: "http://h/cable".into(), ..Env::default() },
            sid: "n1-5".into(),
        };
        let value = serde_json::to_value(&request).unwrap();
        assert!(value.get("sid").is_none(), "a command's sid is metadata, never in the payload");
        assert_eq!(value["connection_identifiers"], "{}");
        assert_eq!(value["env"]["url"], "http://h/cable");
        assert_eq!(serde_json::to_value(Status::Failure).unwrap(), json!(2));

        let connect = ConnectionRequest { sid: "n1-5".into(), ..Default::default() };
        let value = serde_json::to_value(&connect).unwrap();
        assert_eq!(value["sid"], "n1-5", "a top-level key of the bridge payload");
        assert!(serde_json::to_value(ConnectionRequest::default()).unwrap().get("sid").is_none());
    }
}
