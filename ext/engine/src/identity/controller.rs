//! [`JwtIdentification`]: a [`Controller`] in front of the node's own that answers `Connect`
//! for clients that bring a JWT, and refuses those that bring none when `enforce_jwt` is on.
//! Without a key (no `jwt_secret`, no `secret`) every connect goes to the app, token or not.
//! Its refusals count in `failed_auths_total`, as the app's do.

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use super::jwt::{JwtKey, Token};
use crate::config::Config;
use crate::metrics::{Counter, Metrics};
use crate::protocol::{query_param, server, DisconnectReason};
use crate::rpc::{
    BoxFuture, CommandMessage, CommandResponse, ConnectionRequest, ConnectionResponse, Controller,
    DisconnectRequest, DisconnectResponse, RpcError, Status,
};

/// Answers the connects of clients with a token; passes everything else to `inner`.
pub struct JwtIdentification {
    inner: Arc<dyn Controller>,
    /// `jwt_secret`, else `secret`.
    key: Option<JwtKey>,
    /// `jwt_param`: the query parameter, and (as `x-<param>`) the header, of the token.
    param: String,
    header: String,
    /// `enforce_jwt`: a connect without a token is refused.
    enforce: bool,
    /// Where refusals are counted.
    metrics: Arc<Metrics>,
}

impl std::fmt::Debug for JwtIdentification {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JwtIdentification")
            .field("key", &self.key.is_some())
            .field("param", &self.param)
            .field("enforce", &self.enforce)
            .finish_non_exhaustive()
    }
}

impl JwtIdentification {
    /// In front of `inner`, with `config`'s JWT settings; refusals are counted in `metrics`.
    pub fn new(inner: Arc<dyn Controller>, config: &Config, metrics: Arc<Metrics>) -> Self {
        let secret = config.jwt_secret.as_ref().or(config.secret.as_ref());
        Self {
            inner,
            key: secret.map(|secret| JwtKey::new(secret.expose().as_bytes())),
            header: format!("x-{}", config.jwt_param.to_ascii_lowercase()),
            param: config.jwt_param.clone(),
            enforce: config.enforce_jwt,
            metrics,
        }
    }

    /// The reply to `request` when this controller gives it; `None`: the app's call.
    fn answer(&self, request: &ConnectionRequest) -> Option<ConnectionResponse> {
        let token = query_param(&request.env.url, &self.param)
            .or_else(|| request.env.headers.get(&self.header).cloned());
        let refused = |reason| {
            self.metrics.inc(Counter::FailedAuths);
            ConnectionResponse {
                status: Status::Failure,
                transmissions: vec![server::disconnect(reason)],
                ..ConnectionResponse::default()
            }
        };
        let Some(token) = token else {
            return self.enforce.then(|| refused(DisconnectReason::Unauthorized));
        };
        let now = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
        Some(match self.key.as_ref()?.verify(&token, now) {
            Token::Valid(identifiers) => ConnectionResponse {
                status: Status::Success,
                identifiers,
                transmissions: vec![server::welcome(
                    (!request.sid.is_empty()).then_some(request.sid.as_str()),
                )],
                disconnect_interest: -1,
                ..ConnectionResponse::default()
            },
            Token::Expired => refused(DisconnectReason::TokenExpired),
            Token::Invalid => refused(DisconnectReason::Unauthorized),
        })
    }
}

impl Controller for JwtIdentification {
    fn connect(&self, request: ConnectionRequest) -> BoxFuture<Result<ConnectionResponse, RpcError>> {
        match self.answer(&request) {
            Some(reply) => Box::pin(std::future::ready(Ok(reply))),
            None => self.inner.connect(request),
        }
    }

    fn command(&self, request: CommandMessage) -> BoxFuture<Result<CommandResponse, RpcError>> {
        self.inner.command(request)
    }

    fn disconnect(&self, request: DisconnectRequest) -> BoxFuture<Result<DisconnectResponse, RpcError>> {
        self.inner.disconnect(request)
    }

    fn shutdown(&self) {
        self.inner.shutdown();
    }

    fn pending_disconnects(&self) -> usize {
        self.inner.pending_disconnects()
    }
}
