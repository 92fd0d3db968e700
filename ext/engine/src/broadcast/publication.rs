//! AnyCable publications (docs/architecture.md §6.3): what arrives on the `__anycable__` Redis channel or in
//! an HTTP broadcast body, parsed into [`Publication`]s.
//!
//! Accepted shapes:
//! - one broadcast: `{"stream":"<name>","data":"<string>","meta":{"exclude_socket":"<sid>"}}`
//!   (`meta` and its keys are optional; `meta.transient: true` keeps it out of stream history;
//!   `meta.epoch` with `meta.offset` is its place in its stream's history, given by the
//!   `redis` broker's publish script (`broker::redis`); `meta.broadcast_type: "presence"`
//!   makes it a presence event, framed with `"type":"presence"` and never kept (other types
//!   are refused: they would pass for server frames); other keys are ignored);
//! - a batch: a JSON array of such objects (and of disconnect commands), applied in order;
//! - a remote disconnect:
//!   `{"command":"disconnect","payload":{"identifier":"<identifiers JSON>","reconnect":true}}`
//!   (`reconnect` defaults to false, as in anycable-go).
//!
//! `data` is normally a string holding JSON (Action Cable encodes the message, AnyCable wraps
//! it); a non-string `data` value is accepted too and delivered as that JSON value. A batch is
//! all or nothing: one bad element refuses the whole message, naming the element.

use std::fmt;

use serde::Deserialize;
use serde_json::value::RawValue;

/// One thing a publisher asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Publication {
    /// Deliver `data` to the subscribers of a stream.
    Broadcast(Broadcast),
    /// Close the sessions whose connection identifiers are these.
    Disconnect(RemoteDisconnect),
}

/// A broadcast to one stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Broadcast {
    /// The stream (broadcasting) name.
    pub stream: String,
    /// The message, normally JSON text; delivered as JSON when it parses, else as a string.
    pub data: String,
    /// The session id (`sid`) that must not receive it, from `meta.exclude_socket`.
    pub exclude_socket: Option<String>,
    /// `meta.transient`: delivered live only, never kept in the stream's history.
    pub transient: bool,
    /// `meta.epoch` and `meta.offset`: the place the `redis` broker gave it in its stream.
    pub position: Option<Position>,
    /// `meta.broadcast_type: "presence"`: a presence event (`broker::presence`), transient.
    pub presence: bool,
}

impl Broadcast {
    /// A broadcast delivered live only: never placed in history.
    pub fn transient(stream: String, data: String, exclude_socket: Option<String>, presence: bool) -> Self {
        Self { stream, data, exclude_socket, transient: true, position: None, presence }
    }

    /// The publication as JSON, as [`parse`] reads it back (without its position).
    pub fn to_json(&self) -> String {
        let meta = serde_json::json!({
            "exclude_socket": self.exclude_socket,
            "transient": self.transient,
            "broadcast_type": self.presence.then_some("presence"),
        });
        serde_json::json!({"stream": self.stream, "data": self.data, "meta": meta}).to_string()
    }
}

/// A broadcast's place in its stream's history, as a publication carries it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Position {
    /// The broker generation.
    pub epoch: String,
    /// Its offset in the stream (from 1).
    pub offset: u64,
}

/// A remote disconnect command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoteDisconnect {
    /// The connection identifiers JSON, compared byte for byte with each session's.
    pub identifiers: String,
    /// Whether the client may reconnect.
    pub reconnect: bool,
}

/// Why a message is not a publication. The caller logs it (once per message) and goes on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PublicationError {
    /// Not valid JSON (or not UTF-8).
    NotJson(String),
    /// JSON, but not of a publication's shape; says what is wrong and where.
    Malformed(String),
    /// A `command` other than `disconnect`.
    UnknownCommand(String),
}

impl fmt::Display for PublicationError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NotJson(why) => write!(f, "publication is not JSON: {why}"),
            Self::Malformed(why) => write!(f, "malformed publication: {why}"),
            Self::UnknownCommand(name) => write!(f, "unknown publication command `{name}`"),
        }
    }
}

impl std::error::Error for PublicationError {}

#[derive(Deserialize)]
struct RawItem {
    #[serde(default)]
    stream: Option<String>,
    #[serde(default)]
    data: Option<Box<RawValue>>,
    #[serde(default)]
    meta: Option<RawMeta>,
    #[serde(default)]
    command: Option<String>,
    #[serde(default)]
    payload: Option<RawDisconnect>,
}

#[derive(Deserialize)]
struct RawMeta {
    #[serde(default)]
    exclude_socket: Option<String>,
    #[serde(default)]
    transient: bool,
    #[serde(default)]
    epoch: Option<String>,
    #[serde(default)]
    offset: Option<u64>,
    #[serde(default)]
    broadcast_type: Option<String>,
}

#[derive(Deserialize)]
struct RawDisconnect {
    #[serde(default)]
    identifier: Option<String>,
    #[serde(default)]
    reconnect: Option<bool>,
}

/// Parses a message body: one publication, a batch, or a disconnect command.
pub fn parse(body: &[u8]) -> Result<Vec<Publication>, PublicationError> {
    let text = std::str::from_utf8(body).map_err(|e| PublicationError::NotJson(e.to_string()))?;
    parse_str(text)
}

/// [`parse`] for text.
pub fn parse_str(text: &str) -> Result<Vec<Publication>, PublicationError> {
    let bad_json = |e: serde_json::Error| {
        if e.is_data() {
            PublicationError::Malformed(e.to_string())
        } else {
            PublicationError::NotJson(e.to_string())
        }
    };
    if text.trim_start().starts_with('[') {
        let items: Vec<RawItem> = serde_json::from_str(text).map_err(bad_json)?;
        items
            .into_iter()
            .enumerate()
            .map(|(index, item)| {
                item.into_publication().map_err(|e| match e {
                    PublicationError::Malformed(why) => {
                        PublicationError::Malformed(format!("batch element {index}: {why}"))
                    }
                    other => other,
                })
            })
            .collect()
    } else {
        let item: RawItem = serde_json::from_str(text).map_err(bad_json)?;
        item.into_publication().map(|p| vec![p])
    }
}

impl RawItem {
    fn into_publication(self) -> Result<Publication, PublicationError> {
        if let Some(command) = self.command {
            if command != "disconnect" {
                return Err(PublicationError::UnknownCommand(command));
            }
            let payload = self.payload.ok_or_else(|| malformed("`disconnect` without `payload`"))?;
            let identifiers =
                payload.identifier.ok_or_else(|| malformed("`disconnect` without `payload.identifier`"))?;
            return Ok(Publication::Disconnect(RemoteDisconnect {
                identifiers,
                reconnect: payload.reconnect.unwrap_or(false),
            }));
        }
        let stream = self.stream.filter(|s| !s.is_empty()).ok_or_else(|| malformed("missing `stream`"))?;
        let data = self.data.ok_or_else(|| malformed("missing `data`"))?;
        let data = match data.get() {
            "null" => return Err(malformed("`data` is null")),
            text if text.starts_with('"') => {
                serde_json::from_str::<String>(text).map_err(|e| malformed(&e.to_string()))?
            }
            text => text.to_owned(),
        };
        let Some(meta) = self.meta else {
            return Ok(Publication::Broadcast(Broadcast {
                stream,
                data,
                exclude_socket: None,
                transient: false,
                position: None,
                presence: false,
            }));
        };
        let position = match (meta.epoch, meta.offset) {
            (Some(epoch), Some(offset)) if !epoch.is_empty() && offset > 0 => {
                Some(Position { epoch, offset })
            }
            _ => None,
        };
        let exclude_socket = meta.exclude_socket.filter(|s| !s.is_empty());
        let presence = match meta.broadcast_type.as_deref() {
            None | Some("") => false,
            Some("presence") => true,
            Some(other) => return Err(malformed(&format!("unknown `meta.broadcast_type` `{other}`"))),
        };
        Ok(Publication::Broadcast(Broadcast {
            stream,
            data,
            exclude_socket,
            transient: meta.transient || presence,
            position: if presence { None } else { position },
            presence,
        }))
    }
}

fn malformed(why: &str) -> PublicationError {
    PublicationError::Malformed(why.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn broadcast_of(stream: &str, data: &str, exclude: Option<&str>) -> Broadcast {
        Broadcast {
            stream: stream.into(),
            data: data.into(),
            exclude_socket: exclude.map(str::to_owned),
            transient: false,
            position: None,
            presence: false,
        }
    }

    fn broadcast(stream: &str, data: &str, exclude: Option<&str>) -> Publication {
        Publication::Broadcast(broadcast_of(stream, data, exclude))
    }

    #[test]
    fn a_single_publication_keeps_data_as_sent() {
        let one = parse_str(r#"{"stream":"chat:1","data":"{\"text\":\"hi\"}"}"#).unwrap();
        assert_eq!(one, vec![broadcast("chat:1", r#"{"text":"hi"}"#, None)]);
        let meta = r#"{"stream":"s","data":"\"x\"","meta":{"exclude_socket":"n1-7","transient":true}}"#;
        let transient = Publication::Broadcast(Broadcast {
            transient: true,
            ..broadcast_of("s", r#""x""#, Some("n1-7"))
        });
        assert_eq!(parse_str(meta).unwrap(), vec![transient]);
        let placed = r#"{"stream":"s","data":"1","meta":{"epoch":"e1","offset":7}}"#;
        let position = Some(Position { epoch: "e1".into(), offset: 7 });
        assert_eq!(
            parse_str(placed).unwrap(),
            vec![Publication::Broadcast(Broadcast { position, ..broadcast_of("s", "1", None) })]
        );
        let event =
            r#"{"stream":"s","data":"{}","meta":{"broadcast_type":"presence","epoch":"e1","offset":7}}"#;
        let presence = Broadcast { transient: true, presence: true, ..broadcast_of("s", "{}", None) };
        assert_eq!(parse_str(event).unwrap(), vec![Publication::Broadcast(presence.clone())], "never placed");
        assert_eq!(parse_str(&presence.to_json()).unwrap(), vec![Publication::Broadcast(presence)]);
        let whisper = Broadcast::transient("s".into(), "{}".into(), Some("n1-7".into()), false);
        assert_eq!(parse_str(&whisper.to_json()).unwrap(), vec![Publication::Broadcast(whisper)]);
        let forged = r#"{"stream":"s","data":"{}","meta":{"broadcast_type":"welcome"}}"#;
        assert!(matches!(parse_str(forged), Err(PublicationError::Malformed(_))));
        let half = r#"{"stream":"s","data":"1","meta":{"epoch":"e1"}}"#;
        assert_eq!(
            parse_str(half).unwrap(),
            vec![broadcast("s", "1", None)],
            "an epoch without offset places nothing"
        );
        let empty_exclude = r#"{"stream":"s","data":"1","meta":{"exclude_socket":""}}"#;
        assert_eq!(parse_str(empty_exclude).unwrap(), vec![broadcast("s", "1", None)]);
        // A non-string data value is delivered as that JSON value.
        let object = r#" {"stream":"s","data":{"a":[1, 2]}} "#;
        assert_eq!(parse_str(object).unwrap(), vec![broadcast("s", r#"{"a":[1, 2]}"#, None)]);
        assert_eq!(parse(br#"{"stream":"s","data":"<p>"}"#).unwrap(), vec![broadcast("s", "<p>", None)]);
    }

    #[test]
    fn a_batch_is_applied_in_order() {
        let batch = r#"[
            {"stream":"a","data":"1"},
            {"command":"disconnect","payload":{"identifier":"{\"user\":\"1\"}","reconnect":true}},
            {"stream":"b","data":"2","meta":{"exclude_socket":"x-1"}}
        ]"#;
        assert_eq!(
            parse_str(batch).unwrap(),
            vec![
                broadcast("a", "1", None),
                Publication::Disconnect(RemoteDisconnect {
                    identifiers: r#"{"user":"1"}"#.into(),
                    reconnect: true
                }),
                broadcast("b", "2", Some("x-1")),
            ]
        );
        assert_eq!(parse_str("[]").unwrap(), vec![]);
    }

    #[test]
    fn remote_disconnect_defaults_to_no_reconnect() {
        let command = r#"{"command":"disconnect","payload":{"identifier":"{}"}}"#;
        assert_eq!(
            parse_str(command).unwrap(),
            vec![Publication::Disconnect(RemoteDisconnect { identifiers: "{}".into(), reconnect: false })]
        );
    }

    #[test]
    fn bad_input_is_a_typed_error() {
        assert!(matches!(parse_str("{nope"), Err(PublicationError::NotJson(_))));
        assert!(matches!(parse(b"\xff\xfe"), Err(PublicationError::NotJson(_))));
        assert!(matches!(parse_str("42"), Err(PublicationError::Malformed(_))));
        assert_eq!(parse_str(r#"{"data":"1"}"#), Err(PublicationError::Malformed("missing `stream`".into())));
        assert_eq!(parse_str(r#"{"stream":"s"}"#), Err(PublicationError::Malformed("missing `data`".into())));
        assert!(matches!(parse_str(r#"{"stream":"s","data":null}"#), Err(PublicationError::Malformed(_))));
        assert!(matches!(parse_str(r#"{"stream":5,"data":"1"}"#), Err(PublicationError::Malformed(_))));
        assert_eq!(
            parse_str(r#"{"command":"reload"}"#),
            Err(PublicationError::UnknownCommand("reload".into()))
        );
        assert!(matches!(
            parse_str(r#"{"command":"disconnect","payload":{}}"#),
            Err(PublicationError::Malformed(_))
        ));
        let batch = parse_str(r#"[{"stream":"a","data":"1"},{"stream":"b"}]"#).unwrap_err();
        assert_eq!(batch.to_string(), "malformed publication: batch element 1: missing `data`");
    }
}
