//! `AnyCable::RS::Native::RpcServer`: this application's channels served over gRPC
//! (`anycable.RPC`) to other WebSocket servers — anycable-go, or anycable-rs nodes with
//! `rpc_host: host:port`. A tokio runtime of its own runs the engine's tonic server, whose calls
//! become jobs on a `Bridge`: the Ruby worker threads that take from that bridge answer them
//! with the application's handler, exactly as for the in-process node.
//!
//! `exe/anycable-rs rpc` builds one; the Ruby side starts and stops the worker threads.

use std::net::ToSocketAddrs;
use std::sync::{mpsc, Arc, Mutex};
use std::time::Duration;

use anycable_engine::rpc::grpc_server::RpcServer;
use magnus::{function, method, prelude::*, Error, RHash, RModule, Ruby};
use tokio::runtime::Runtime;

use crate::bridge::BridgeObj;
use crate::engine_config::EngineConfig;
use crate::gvl::without_gvl;
use crate::{errors, logging};

/// A running gRPC server.
#[magnus::wrap(class = "AnyCable::RS::Native::RpcServer", free_immediately, size)]
pub(crate) struct RpcServerObj {
    pid: u32,
    server: Arc<RpcServer>,
    /// How long `stop` lets running calls finish.
    shutdown_timeout: Duration,
    /// Taken out (and shut down) once, by `stop`, in the process that built it.
    runtime: Mutex<Option<Runtime>>,
}

impl Drop for RpcServerObj {
    fn drop(&mut self) {
        let runtime = self.runtime.get_mut().unwrap_or_else(|p| p.into_inner()).take();
        match runtime {
            // Inherited over fork: its threads are gone here; dropping would wait for them.
            Some(runtime) if std::process::id() != self.pid => {
                let _inherited = std::mem::ManuallyDrop::new(runtime);
            }
            Some(runtime) => runtime.shutdown_background(),
            None => {}
        }
    }
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
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(threads)
            .thread_name("anycable-rs-rpc")
            .enable_all()
            .build()
            .map_err(|e| errors::error(ruby, format!("cannot start the tokio runtime: {e}")))?;
        let server = RpcServer::start(listener, Arc::clone(&bridge.queue), runtime.handle())
            .map_err(|e| cannot(e.to_string()))?;
        Ok(Self {
            pid: std::process::id(),
            server: Arc::new(server),
            shutdown_timeout: config.0.shutdown_timeout,
            runtime: Mutex::new(Some(runtime)),
        })
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
        if std::process::id() != rb_self.pid {
            return Err(errors::error(ruby, "this RPC server was created before fork"));
        }
        let Some(runtime) = rb_self.runtime.lock().unwrap_or_else(|p| p.into_inner()).take() else {
            return Ok(true);
        };
        let (done, finished) = mpsc::channel();
        let (server, timeout) = (Arc::clone(&rb_self.server), rb_self.shutdown_timeout);
        runtime.spawn(async move {
            let _ = done.send(server.stop(timeout).await);
        });
        let in_time = loop {
            let outcome = without_gvl(|| finished.recv_timeout(Duration::from_millis(100)), || {});
            if let Some(error) = outcome.interrupt {
                runtime.shutdown_background();
                return Err(error);
            }
            match outcome.value {
                Some(Ok(in_time)) => break in_time,
                Some(Err(mpsc::RecvTimeoutError::Timeout)) => {}
                Some(Err(mpsc::RecvTimeoutError::Disconnected)) | None => break false,
            }
        };
        runtime.shutdown_background();
        Ok(in_time)
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
