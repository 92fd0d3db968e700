//! [`SignedStreams`]: a [`Controller`] in front of the node's own that answers the subscribes
//! of `$pubsub` and `Turbo::StreamsChannel` itself.
//!
//! What it answers is what the Ruby channels answer: a verified name is confirmed and
//! streamed (`stream_from name`), a forged one rejected; unsubscribing stops the streams.
//! Whatever it cannot decide (an identifier it cannot read, a Turbo subscribe without a name,
//! a signed value that is not a string) goes to the app, as do Turbo subscribes when the node
//! has no Turbo key (`turbo_streams` off, or the app customised `Turbo::StreamsChannel`).
//! `$pubsub` exists only here: the app never sees its subscriptions, not even in `Disconnect`;
//! with `streams_whisper` its subscribers may whisper on their stream, with `streams_presence`
//! join its presence set.

use std::borrow::Cow;
use std::sync::Arc;

use serde::Deserialize;

use super::signed::{Verified, Verifier};
use crate::config::Config;
use crate::protocol::server;
use crate::rpc::{
    BoxFuture, CommandMessage, CommandResponse, ConnectionRequest, ConnectionResponse, Controller,
    DisconnectRequest, DisconnectResponse, RpcError, Status,
};

/// AnyCable's channel of signed and public streams.
pub const PUBSUB_CHANNEL: &str = "$pubsub";
/// turbo-rails' channel.
pub const TURBO_CHANNEL: &str = "Turbo::StreamsChannel";
/// The istate key of a subscription's whisper stream (AnyCable's reserved name).
pub const WHISPER_STREAM: &str = "$w";
/// The istate key of a subscription's presence stream (AnyCable's reserved name).
pub const PRESENCE_STREAM: &str = "$p";

/// The parts of a channel identifier this controller reads; other keys are ignored, as the
/// Ruby channels ignore them.
#[derive(Deserialize)]
struct Identifier<'a> {
    #[serde(borrow)]
    channel: Cow<'a, str>,
    #[serde(borrow, default)]
    signed_stream_name: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    stream_name: Option<Cow<'a, str>>,
}

/// Answers `$pubsub` and Turbo subscriptions; passes the rest to `inner`.
pub struct SignedStreams {
    inner: Arc<dyn Controller>,
    /// Verifies `Turbo::StreamsChannel` names; none: Turbo subscribes go to `inner`.
    turbo: Option<Verifier>,
    /// Verifies `$pubsub` signed names (`streams_secret`); none: they are rejected.
    pubsub: Option<Verifier>,
    /// `public_streams`: `$pubsub` subscribes by plain `stream_name` are confirmed.
    public_streams: bool,
    /// `streams_whisper`: `$pubsub` subscriptions get their stream as whisper stream.
    whisper: bool,
    /// `streams_presence`: `$pubsub` subscriptions get their stream as presence stream.
    presence: bool,
}

impl std::fmt::Debug for SignedStreams {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SignedStreams")
            .field("turbo", &self.turbo.is_some())
            .field("pubsub", &self.pubsub.is_some())
            .field("public_streams", &self.public_streams)
            .field("whisper", &self.whisper)
            .field("presence", &self.presence)
            .finish_non_exhaustive()
    }
}

impl SignedStreams {
    /// In front of `inner`, with the keys of Turbo's and AnyCable's signed names, and
    /// `config`'s `public_streams`, `streams_whisper` and `streams_presence`.
    pub fn new(
        inner: Arc<dyn Controller>,
        turbo: Option<Verifier>,
        pubsub: Option<Verifier>,
        config: &Config,
    ) -> Self {
        Self {
            inner,
            turbo,
            pubsub,
            public_streams: config.public_streams,
            whisper: config.streams_whisper,
            presence: config.streams_presence,
        }
    }

    /// The reply to `request` when this controller gives it; `None`: the app's call.
    fn answer(&self, request: &CommandMessage) -> Option<CommandResponse> {
        // Most commands are other channels' messages: no JSON parse for them.
        if !mentions_ours(&request.identifier) {
            return None;
        }
        let identifier: Identifier<'_> = serde_json::from_str(&request.identifier).ok()?;
        let pubsub = match &*identifier.channel {
            PUBSUB_CHANNEL => true,
            TURBO_CHANNEL if self.turbo.is_some() => false,
            _ => return None,
        };
        match request.command.as_str() {
            "subscribe" => {
                let name = if pubsub { self.pubsub_name(&identifier) } else { self.turbo_name(&identifier)? };
                Some(match name {
                    Some(name) => {
                        let mut reply = CommandResponse {
                            status: Status::Success,
                            transmissions: vec![server::confirm(&request.identifier)],
                            disconnect_interest: -1,
                            ..CommandResponse::default()
                        };
                        if pubsub && self.whisper {
                            reply.env.istate.insert(WHISPER_STREAM.to_owned(), name.clone());
                        }
                        if pubsub && self.presence {
                            reply.env.istate.insert(PRESENCE_STREAM.to_owned(), name.clone());
                        }
                        reply.streams.push(name);
                        reply
                    }
                    None => CommandResponse {
                        status: Status::Failure,
                        transmissions: vec![server::reject(&request.identifier)],
                        disconnect_interest: -1,
                        ..CommandResponse::default()
                    },
                })
            }
            "unsubscribe" => Some(CommandResponse {
                status: Status::Success,
                stop_streams: true,
                disconnect_interest: -1,
                ..CommandResponse::default()
            }),
            _ if pubsub => Some(CommandResponse {
                status: Status::Error,
                error_msg: format!("{PUBSUB_CHANNEL} takes no {}", request.command),
                ..CommandResponse::default()
            }),
            _ => None,
        }
    }

    /// The stream of a `$pubsub` subscribe; `None`: rejected.
    fn pubsub_name(&self, identifier: &Identifier<'_>) -> Option<String> {
        if let Some(signed) = &identifier.signed_stream_name {
            return match self.pubsub.as_ref()?.verify(signed) {
                Verified::Name(name) => Some(name),
                Verified::Forged | Verified::Unusual => None,
            };
        }
        identifier.stream_name.as_ref().filter(|_| self.public_streams).map(|name| name.to_string())
    }

    /// The stream of a Turbo subscribe: `Some(None)` rejected, `None` the app's to decide.
    fn turbo_name(&self, identifier: &Identifier<'_>) -> Option<Option<String>> {
        match self.turbo.as_ref()?.verify(identifier.signed_stream_name.as_ref()?) {
            Verified::Name(name) => Some(Some(name)),
            Verified::Forged => Some(None),
            Verified::Unusual => None,
        }
    }
}

/// Whether `identifier` may name one of the channels answered here (a cheap test before the
/// parse; a channel name written with JSON escapes goes to the app, which reads it the same way).
fn mentions_ours(identifier: &str) -> bool {
    identifier.contains(PUBSUB_CHANNEL) || identifier.contains(TURBO_CHANNEL)
}

/// Whether `identifier` is a `$pubsub` subscription's.
fn is_pubsub(identifier: &str) -> bool {
    identifier.contains(PUBSUB_CHANNEL)
        && serde_json::from_str::<Identifier<'_>>(identifier).is_ok_and(|id| id.channel == PUBSUB_CHANNEL)
}

impl Controller for SignedStreams {
    fn connect(&self, request: ConnectionRequest) -> BoxFuture<Result<ConnectionResponse, RpcError>> {
        self.inner.connect(request)
    }

    fn command(&self, request: CommandMessage) -> BoxFuture<Result<CommandResponse, RpcError>> {
        match self.answer(&request) {
            Some(reply) => Box::pin(std::future::ready(Ok(reply))),
            None => self.inner.command(request),
        }
    }

    fn disconnect(&self, mut request: DisconnectRequest) -> BoxFuture<Result<DisconnectResponse, RpcError>> {
        request.subscriptions.retain(|identifier| !is_pubsub(identifier));
        let kept = &request.subscriptions;
        request.env.istate.retain(|identifier, _| kept.contains(identifier));
        self.inner.disconnect(request)
    }

    fn shutdown(&self) {
        self.inner.shutdown();
    }

    fn pending_disconnects(&self) -> usize {
        self.inner.pending_disconnects()
    }
}
