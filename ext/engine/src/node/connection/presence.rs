//! A connection's presence (docs/architecture.md §6.10): the `join`, `leave` and `presence`
//! commands, the presence changes of channel replies, and rejoining after a restore. The
//! subscription's presence stream is its istate `$p`; the broker keeps the sets and answers
//! the events, which the node delivers.

use std::sync::Arc;

use tokio_tungstenite::tungstenite::Utf8Bytes;

use crate::broker::presence::INFO_ERROR;
use crate::broker::PresenceError;
use crate::hub::Subscriber as _;
use crate::logging::Clipped;
use crate::metrics::Counter;
use crate::protocol::{server, PresenceJoin};
use crate::streams::PRESENCE_STREAM;

use super::Connection;

impl Connection {
    /// The presence stream of subscription `identifier` (istate `$p`), if it has one.
    pub(super) fn presence_stream(&self, identifier: &str) -> Option<String> {
        let subscription = self.subscriptions.get(identifier)?;
        subscription.istate.get(PRESENCE_STREAM).filter(|stream| !stream.is_empty()).cloned()
    }

    /// Enters the presence set of the subscription's presence stream as `join`; a subscription
    /// without one cannot (a client's attempt, `by_client`, counts as an invalid command).
    pub(super) async fn join_presence(&mut self, identifier: &str, join: PresenceJoin, by_client: bool) {
        let (Some(broker), Some(stream)) = (self.node.broker(), self.presence_stream(identifier)) else {
            let identifier = Clipped(identifier);
            tracing::debug!(sid = %self.sid, %identifier, "join refused: the subscription has no presence stream (or there is no broker)");
            if by_client {
                self.invalid_command();
            }
            return;
        };
        match broker.presence_join(&stream, &self.sid, &join).await {
            Ok((events, ())) => {
                self.node.presence_events(&stream, events);
                if let Some(subscription) = self.subscriptions.get_mut(identifier) {
                    subscription.presence = Some(join);
                }
            }
            Err(error) => self.presence_failed(&stream, &error),
        }
    }

    /// Leaves the presence set of the subscription's presence stream.
    pub(super) async fn leave_presence(&mut self, identifier: &str) {
        let Some(stream) = self.presence_stream(identifier) else { return };
        if let Some(subscription) = self.subscriptions.get_mut(identifier) {
            subscription.presence = None;
        }
        self.leave_stream(&stream).await;
    }

    pub(super) async fn leave_stream(&self, stream: &str) {
        let Some(broker) = self.node.broker() else { return };
        match broker.presence_leave(stream, &self.sid).await {
            Ok((events, ())) => self.node.presence_events(stream, events),
            Err(error) => self.presence_failed(stream, &error),
        }
    }

    /// Answers a `presence` request: who is in the subscription's presence set, with the
    /// records unless `data` says `"return_records":false`.
    pub(super) async fn presence_info(&mut self, identifier: &str, data: Option<String>) {
        let with_records = data
            .and_then(|data| serde_json::from_str::<serde_json::Value>(&data).ok())
            .and_then(|data| data.get("return_records")?.as_bool())
            .unwrap_or(true);
        let message = match (self.node.broker(), self.presence_stream(identifier)) {
            (Some(broker), Some(stream)) => match broker.presence_info(&stream, with_records).await {
                Ok((events, message)) => {
                    self.node.presence_events(&stream, events);
                    message
                }
                Err(error) => {
                    self.presence_failed(&stream, &error);
                    INFO_ERROR.to_owned()
                }
            },
            _ => INFO_ERROR.to_owned(),
        };
        self.node.counters().inc(Counter::ServerMsg);
        self.handle.send(Utf8Bytes::from(server::presence(identifier, &message)));
    }

    fn presence_failed(&self, stream: &str, error: &PresenceError) {
        if matches!(error, PresenceError::Store(_)) {
            self.node.counters().inc(Counter::BrokerErrors);
        }
        let stream = Clipped(stream);
        tracing::debug!(sid = %self.sid, %stream, %error, "presence change refused");
    }

    /// A restored session enters again, under its new sid, the presence sets it was in.
    pub(super) async fn rejoin_presence(&mut self) {
        let present: Vec<(Arc<str>, PresenceJoin)> = self
            .subscriptions
            .values()
            .filter_map(|s| s.presence.clone().map(|join| (Arc::clone(&s.identifier), join)))
            .collect();
        for (identifier, join) in present {
            self.join_presence(&identifier, join, false).await;
        }
    }
}
