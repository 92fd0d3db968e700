//! The protobuf form of the AnyCable RPC messages, for gRPC: the prost types and the tonic
//! client and server generated from `ext/engine/proto/rpc.proto` ([`anycable`], committed; see
//! `ext/engine/proto/generate`), and conversions to and from the engine's own structs
//! ([`super`]), which are what the node and the in-process bridge speak.
//!
//! The session id is call metadata in gRPC, not a message field: conversions leave it out (and
//! leave it empty coming in); the gRPC client and server move it between metadata and structs.

use super::messages::{
    CommandMessage, CommandResponse, ConnectionRequest, ConnectionResponse, DisconnectRequest,
    DisconnectResponse, Env, EnvResponse, PresenceResponse, Status,
};

/// Generated code: messages, `rpc_client::RpcClient`, `rpc_server::{Rpc, RpcServer}`.
#[allow(
    missing_docs,
    missing_debug_implementations,
    unreachable_pub,
    unused_qualifications,
    rust_2018_idioms,
    clippy::all,
    clippy::needless_borrow,
    clippy::unused_self
)]
pub mod anycable;

/// Metadata key of the session id, sent with every call.
pub const META_SID: &str = "sid";
/// Metadata key of the protocol version.
pub const META_PROTOV: &str = "protov";
/// The protocol version this engine speaks.
pub const PROTOCOL_VERSION: &str = "v1";

impl From<i32> for Status {
    /// Unknown numbers are `ERROR`, as a missing status is.
    fn from(value: i32) -> Self {
        match value {
            1 => Self::Success,
            2 => Self::Failure,
            _ => Self::Error,
        }
    }
}

impl From<Status> for i32 {
    fn from(status: Status) -> Self {
        status as i32
    }
}

impl From<Env> for anycable::Env {
    fn from(env: Env) -> Self {
        Self { url: env.url, headers: env.headers, cstate: env.cstate, istate: env.istate }
    }
}

impl From<anycable::Env> for Env {
    fn from(env: anycable::Env) -> Self {
        Self { url: env.url, headers: env.headers, cstate: env.cstate, istate: env.istate }
    }
}

impl From<EnvResponse> for anycable::EnvResponse {
    fn from(env: EnvResponse) -> Self {
        Self { cstate: env.cstate, istate: env.istate }
    }
}

impl From<anycable::EnvResponse> for EnvResponse {
    fn from(env: anycable::EnvResponse) -> Self {
        Self { cstate: env.cstate, istate: env.istate }
    }
}

impl From<ConnectionRequest> for anycable::ConnectionRequest {
    fn from(request: ConnectionRequest) -> Self {
        Self { env: Some(request.env.into()) }
    }
}

impl From<anycable::ConnectionRequest> for ConnectionRequest {
    fn from(request: anycable::ConnectionRequest) -> Self {
        Self { env: request.env.map(Env::from).unwrap_or_default(), sid: String::new() }
    }
}

impl From<ConnectionResponse> for anycable::ConnectionResponse {
    fn from(reply: ConnectionResponse) -> Self {
        Self {
            status: reply.status.into(),
            identifiers: reply.identifiers,
            transmissions: reply.transmissions,
            error_msg: reply.error_msg,
            env: Some(reply.env.into()),
        }
    }
}

impl From<anycable::ConnectionResponse> for ConnectionResponse {
    fn from(reply: anycable::ConnectionResponse) -> Self {
        Self {
            status: reply.status.into(),
            identifiers: reply.identifiers,
            transmissions: reply.transmissions,
            error_msg: reply.error_msg,
            env: reply.env.map(EnvResponse::from).unwrap_or_default(),
            disconnect_interest: 0,
        }
    }
}

impl From<CommandMessage> for anycable::CommandMessage {
    fn from(request: CommandMessage) -> Self {
        Self {
            command: request.command,
            identifier: request.identifier,
            connection_identifiers: request.connection_identifiers,
            data: request.data,
            env: Some(request.env.into()),
        }
    }
}

impl From<anycable::CommandMessage> for CommandMessage {
    fn from(request: anycable::CommandMessage) -> Self {
        Self {
            command: request.command,
            identifier: request.identifier,
            connection_identifiers: request.connection_identifiers,
            data: request.data,
            env: request.env.map(Env::from).unwrap_or_default(),
            sid: String::new(),
        }
    }
}

impl From<CommandResponse> for anycable::CommandResponse {
    fn from(reply: CommandResponse) -> Self {
        Self {
            status: reply.status.into(),
            disconnect: reply.disconnect,
            stop_streams: reply.stop_streams,
            streams: reply.streams,
            transmissions: reply.transmissions,
            error_msg: reply.error_msg,
            env: Some(reply.env.into()),
            stopped_streams: reply.stopped_streams,
            presence: reply.presence.map(|p| anycable::PresenceResponse {
                r#type: p.kind,
                id: p.id,
                info: p.info,
                ttl: 0,
            }),
        }
    }
}

impl From<anycable::CommandResponse> for CommandResponse {
    fn from(reply: anycable::CommandResponse) -> Self {
        Self {
            status: reply.status.into(),
            disconnect: reply.disconnect,
            stop_streams: reply.stop_streams,
            streams: reply.streams,
            transmissions: reply.transmissions,
            error_msg: reply.error_msg,
            env: reply.env.map(EnvResponse::from).unwrap_or_default(),
            stopped_streams: reply.stopped_streams,
            presence: reply.presence.map(|p| PresenceResponse { kind: p.r#type, id: p.id, info: p.info }),
            disconnect_interest: 0,
        }
    }
}

impl From<DisconnectRequest> for anycable::DisconnectRequest {
    fn from(request: DisconnectRequest) -> Self {
        Self {
            identifiers: request.identifiers,
            subscriptions: request.subscriptions,
            env: Some(request.env.into()),
        }
    }
}

impl From<anycable::DisconnectRequest> for DisconnectRequest {
    fn from(request: anycable::DisconnectRequest) -> Self {
        Self {
            identifiers: request.identifiers,
            subscriptions: request.subscriptions,
            env: request.env.map(Env::from).unwrap_or_default(),
            sid: String::new(),
        }
    }
}

impl From<DisconnectResponse> for anycable::DisconnectResponse {
    fn from(reply: DisconnectResponse) -> Self {
        Self { status: reply.status.into(), error_msg: reply.error_msg }
    }
}

impl From<anycable::DisconnectResponse> for DisconnectResponse {
    fn from(reply: anycable::DisconnectResponse) -> Self {
        Self { status: reply.status.into(), error_msg: reply.error_msg }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use prost::Message;
    use std::collections::HashMap;

    fn map(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
    }

    #[test]
    fn field_numbers_follow_the_anycable_protocol() {
        // CommandMessage: command 1, identifier 2, connection_identifiers 3, data 4, env 5
        // (Env: url 1, headers 2). Each field is (tag << 3 | 2) + length + bytes.
        let message = anycable::CommandMessage {
            command: "c".into(),
            identifier: "i".into(),
            connection_identifiers: "n".into(),
            data: "d".into(),
            env: Some(anycable::Env { url: "u".into(), ..Default::default() }),
        };
        let bytes = message.encode_to_vec();
        assert_eq!(
            bytes,
            [0x0a, 1, b'c', 0x12, 1, b'i', 0x1a, 1, b'n', 0x22, 1, b'd', 0x2a, 3, 0x0a, 1, b'u']
        );

        // ConnectionRequest: env is field 3.
        let request = anycable::ConnectionRequest { env: Some(anycable::Env::default()) };
        assert_eq!(request.encode_to_vec(), [0x1a, 0]);
        // CommandResponse: stopped_streams 8, env 7; status 1 as a varint.
        let reply =
            anycable::CommandResponse { status: 2, stopped_streams: vec!["s".into()], ..Default::default() };
        assert_eq!(reply.encode_to_vec(), [0x08, 2, 0x42, 1, b's']);
        // DisconnectRequest: env is field 5.
        let leaving =
            anycable::DisconnectRequest { env: Some(anycable::Env::default()), ..Default::default() };
        assert_eq!(leaving.encode_to_vec(), [0x2a, 0]);
    }

    #[test]
    fn conversions_keep_every_field() {
        let env = Env {
            url: "http://h/cable".into(),
            headers: map(&[("cookie", "a=b")]),
            cstate: map(&[("c", "1")]),
            istate: map(&[("i", "2")]),
        };
        let request = CommandMessage {
            command: "message".into(),
            identifier: "{}".into(),
            connection_identifiers: "ids".into(),
            data: "{\"action\":\"x\"}".into(),
            env: env.clone(),
            sid: "metadata-only".into(),
        };
        let back = CommandMessage::from(anycable::CommandMessage::from(request.clone()));
        assert_eq!(back, CommandMessage { sid: String::new(), ..request });

        let reply = CommandResponse {
            status: Status::Failure,
            disconnect: true,
            stop_streams: true,
            streams: vec!["a".into()],
            transmissions: vec!["t".into()],
            error_msg: "e".into(),
            env: EnvResponse { cstate: map(&[("c", "")]), istate: map(&[("i", "3")]) },
            stopped_streams: vec!["b".into()],
            presence: Some(PresenceResponse { kind: "join".into(), id: "42".into(), info: "{}".into() }),
            disconnect_interest: 0,
        };
        assert_eq!(CommandResponse::from(anycable::CommandResponse::from(reply.clone())), reply);

        let connect = ConnectionRequest { env: env.clone(), sid: "s".into() };
        assert_eq!(ConnectionRequest::from(anycable::ConnectionRequest::from(connect)).env, env);
        let welcome = ConnectionResponse {
            status: Status::Success,
            identifiers: "{\"u\":1}".into(),
            transmissions: vec!["w".into()],
            error_msg: String::new(),
            env: EnvResponse { cstate: map(&[("k", "v")]), ..Default::default() },
            disconnect_interest: 0,
        };
        assert_eq!(ConnectionResponse::from(anycable::ConnectionResponse::from(welcome.clone())), welcome);

        let leaving = DisconnectRequest {
            identifiers: "ids".into(),
            subscriptions: vec!["x".into()],
            env,
            sid: String::new(),
        };
        assert_eq!(DisconnectRequest::from(anycable::DisconnectRequest::from(leaving.clone())), leaving);
        let done = DisconnectResponse { status: Status::Error, error_msg: "boom".into() };
        assert_eq!(DisconnectResponse::from(anycable::DisconnectResponse::from(done.clone())), done);
    }

    #[test]
    fn missing_parts_are_defaults_and_unknown_statuses_are_errors() {
        assert_eq!(Status::from(7), Status::Error);
        let reply = ConnectionResponse::from(anycable::ConnectionResponse::default());
        assert_eq!(reply, ConnectionResponse::default());
        let request = CommandMessage::from(anycable::CommandMessage::default());
        assert_eq!(request.env, Env::default());
    }
}
