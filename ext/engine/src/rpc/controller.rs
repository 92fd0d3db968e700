//! The [`Controller`] trait through which the engine reaches channel logic, and the error of
//! a call that got no reply.

use std::fmt;
use std::future::Future;
use std::pin::Pin;

use super::messages::{
    CommandMessage, CommandResponse, ConnectionRequest, ConnectionResponse, DisconnectRequest,
    DisconnectResponse,
};

/// Why a call produced no reply at all.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RpcError {
    /// Every worker is busy and the queue is full: the call was refused at once.
    Busy,
    /// The controller is gone (shutting down, or its workers stopped).
    Unavailable(String),
    /// The reply could not be understood.
    BadReply(String),
}

impl fmt::Display for RpcError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Busy => f.write_str("RPC queue is full"),
            Self::Unavailable(why) => write!(f, "RPC unavailable: {why}"),
            Self::BadReply(why) => write!(f, "bad RPC reply: {why}"),
        }
    }
}

impl std::error::Error for RpcError {}

/// A boxed, sendable future: what [`Controller`] calls return.
pub type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send + 'static>>;

/// Where channel logic runs: the in-process Ruby bridge, or a remote RPC server.
pub trait Controller: Send + Sync + 'static {
    /// A client opened a socket.
    fn connect(&self, request: ConnectionRequest) -> BoxFuture<Result<ConnectionResponse, RpcError>>;
    /// A client sent a command.
    fn command(&self, request: CommandMessage) -> BoxFuture<Result<CommandResponse, RpcError>>;
    /// A connected client went away.
    fn disconnect(&self, request: DisconnectRequest) -> BoxFuture<Result<DisconnectResponse, RpcError>>;

    /// The node started its graceful shutdown: calls still to come (the disconnects of every
    /// session) should go out as fast as they can, e.g. a paced disconnect queue stops pacing.
    /// The node waits for those calls within `shutdown_timeout`. Default: nothing to do.
    fn shutdown(&self) {}

    /// Disconnect calls waiting to be made (the paced queue of a remote controller); reported
    /// as `disconnect_queue_size`. Default: none wait.
    fn pending_disconnects(&self) -> usize {
        0
    }
}
