//! `AnyCable::RS::Native::RpcServer`: this application's channels served over gRPC
//! (`anycable.RPC`) to other WebSocket servers — anycable-go, or anycable-rs nodes with
//! `rpc_host: host:port`. A tokio runtime of its own runs the engine's tonic server, whose calls
//! become jobs on a `Bridge`: the Ruby worker threads that take from that bridge answer them
//! with the application's handler, exactly as for the in-process node.
//!
//! `exe/anycable-rs rpc` builds one; the Ruby side starts and stops the worker threads.

use std::net::ToSocketAddrs;
use std::sync::Arc;
use std::time::Duration;

use crate::bridge::BridgeObj;
use crate::engine_config::EngineConfig;
use crate::runtime::ProcessRuntime;
use crate::{errors, logging};
use anycable_engine::rpc::grpc_server::RpcServer;
use magnus::{function, method, prelude::*, Error, RHash, RModule, Ruby};

/// A running gRPC server.
#[magnus::wrap(class = "AnyCable::RS::Native::RpcServer", free_immediately, size)]
pub(crate) struct RpcServerObj {
    server: Arc<RpcServer>,
    /// How long `stop` lets running calls finish.
    shutdown_timeout: Duration,
    /// Stopped once, by `stop`.
    runtime: ProcessRuntime,
}

impl RpcServerObj {
    /// `RpcServer.new(engine_config, bridge, host)`: listens on `host` (`host:port`, e.g.
    /// `127.0.0.1:50051`, `0.0.0.0:50051`, `[::]:50051`; port 0 picks a free one) and serves
    /// `anycable.RPC` through `bridge`. Raises `AnyCable::RS::Error` when it cannot listen.
    fn new(ruby: &Ruby, config: &EngineConfig, bridge: &BridgeObj, host: String) -> Result<Self, Error> {
        logging::init(config.0.effective_log_level());
        let cannot = |why: String| errors::error(ruby, format!("cannot listen on {host:?} for gRPC: {why}"));
        let addrs: Vec<_> = host
            .to_socket_addrs()
            .map_err(|e| cannot(format!("{e} (expected host:port, e.g. 127.0.0.1:50051)")))?
            .collect();
        let listener = std::net::TcpListener::bind(&addrs[..]).map_err(|e| cannot(e.to_string()))?;
        let threads = std::thread::available_parallelism().map_or(2, |n| n.get()).clamp(1, 16);
        let runtime = ProcessRuntime::build(ruby, threads, "anycable-rs-rpc")?;
        let server = runtime
            .with(|inside| RpcServer::start(listener, Arc::clone(&bridge.queue), inside.handle()))
            .ok_or_else(|| cannot("the tokio runtime stopped while starting".into()))?
            .map_err(|e| cannot(e.to_string()))?;
        Ok(Self { server: Arc::new(server), shutdown_timeout: config.0.shutdown_timeout, runtime })
    }

    /// `#address`: where it listens, `ip:port` (the chosen port when it was 0).
    fn address(&self) -> String {
        self.server.local_addr().to_string()
    }

    /// `#stop`: stops accepting and lets running calls finish within `shutdown_timeout`, then
    /// stops the runtime. Waits without the GVL (the worker threads answer those calls
    /// meanwhile), in short slices so signals are seen. Returns whether the running calls
    /// finished in time; later calls return true at once. The bridge is left open: close it
    /// afterwards to stop the workers.
    fn stop(ruby: &Ruby, rb_self: &Self) -> Result<bool, Error> {
        rb_self.runtime.check_pid(ruby, "RPC server")?;
        let (server, timeout) = (Arc::clone(&rb_self.server), rb_self.shutdown_timeout);
        // Already stopped: nothing was left running.
        Ok(rb_self.runtime.finish(async move { server.stop(timeout).await }, || {})?.unwrap_or(true))
    }

    /// `#stats`: `{"in_flight" => calls running, "calls" => calls answered}`.
    fn stats(ruby: &Ruby, rb_self: &Self) -> Result<RHash, Error> {
        let stats = rb_self.server.stats();
        let hash = ruby.hash_new();
        hash.aset("in_flight", stats.in_flight)?;
        hash.aset("calls", stats.calls)?;
        Ok(hash)
    }
}

pub(crate) fn init(ruby: &Ruby, native: RModule) -> Result<(), Error> {
    let class = native.define_class("RpcServer", ruby.class_object())?;
    class.define_singleton_method("new", function!(RpcServerObj::new, 3))?;
    class.define_method("address", method!(RpcServerObj::address, 0))?;
    class.define_method("stop", method!(RpcServerObj::stop, 0))?;
    class.define_method("stats", method!(RpcServerObj::stats, 0))?;
    Ok(())
}
