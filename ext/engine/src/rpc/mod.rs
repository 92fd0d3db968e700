//! AnyCable RPC: the messages of `anycable.RPC` ([`messages`]), the [`Controller`] trait
//! through which the engine reaches channel logic ([`controller`]), its implementations
//! (in-process [`bridge`], [`grpc`], [`http`]) and [`controller_for`], which picks one.

use std::sync::Arc;

pub mod bridge;
pub mod controller;
pub mod disconnect_queue;
pub mod grpc;
pub mod grpc_server;
pub mod http;
pub mod messages;
pub mod metered;
pub mod proto;
mod retry;

pub use controller::{BoxFuture, Controller, RpcError};
pub use messages::{
    merge_state, CommandMessage, CommandResponse, ConnectionRequest, ConnectionResponse, DisconnectRequest,
    DisconnectResponse, Env, EnvResponse, PresenceResponse, Status, StringMap,
};

/// The controller `config` asks for (`rpc_host`, docs/configuration.md):
/// - unset: the in-process bridge on `queue` (Ruby worker threads of this process);
/// - `host:port` (also `grpc://host:port`, or `grpcs://host:port` for TLS): gRPC;
/// - an `http://` or `https://` URL: HTTP RPC.
///
/// Disconnect calls of remote controllers go through a [`disconnect_queue::DisconnectQueue`]
/// paced at `disconnect_rate`. Must be called within a tokio runtime context
/// (`Runtime::enter`): the gRPC channel starts its connection task there.
pub fn controller_for(
    config: &crate::config::Config,
    queue: &Arc<bridge::JobQueue>,
) -> Result<Arc<dyn Controller>, crate::config::ConfigError> {
    let Some(host) = config.rpc_host.as_deref() else {
        return Ok(Arc::new(bridge::Bridge::new(Arc::clone(queue))));
    };
    let remote: Arc<dyn Controller> = if host.starts_with("http://") || host.starts_with("https://") {
        Arc::new(http::HttpController::new(config)?)
    } else {
        Arc::new(grpc::GrpcController::new(config)?)
    };
    Ok(Arc::new(disconnect_queue::DisconnectQueue::new(remote, config.disconnect_rate)))
}
