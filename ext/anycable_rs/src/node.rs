//! `AnyCable::RS::Native::Node`: the WebSocket server of this process — a tokio runtime and
//! the engine's node, with channel logic reached through the controller `rpc_host` selects
//! (`anycable_engine::rpc::controller_for`): the in-process `Bridge` (its worker threads are
//! then started by the Ruby side), gRPC or HTTP RPC.
//!
//! A node belongs to the process that created it ([`ProcessRuntime`]): the Ruby side creates a
//! fresh node per pid.

use std::os::fd::BorrowedFd;
use std::sync::Arc;
use std::time::Duration;

use crate::bridge::BridgeObj;
use crate::engine_config::EngineConfig;
use crate::runtime::ProcessRuntime;
use crate::{errors, logging, ruby_json};
use anycable_engine::node::{Node, UpgradeRequest};
use anycable_engine::rpc::bridge::JobQueue;
use anycable_engine::rpc::controller_for;
use magnus::scan_args::scan_args;
use magnus::{function, method, prelude::*, Error, RHash, RModule, RString, Ruby, Value};

/// The server of one process.
#[magnus::wrap(class = "AnyCable::RS::Native::Node", free_immediately, size)]
pub(crate) struct NodeObj {
    node: Arc<Node>,
    /// Stopped once, by `shutdown`.
    runtime: ProcessRuntime,
    queue: Arc<JobQueue>,
}

impl NodeObj {
    /// `Node.new(engine_config, bridge, threads, turbo_key)`: starts the runtime (`threads`
    /// tokio workers; 0 = one per CPU this process may use, which honours `taskset` and cgroup
    /// CPU quotas). `turbo_key` (a binary String or nil): turbo-rails' signing key, given when
    /// the app's `Turbo::StreamsChannel` is the gem's own, so Turbo subscribes need no call.
    /// Channel logic goes to `bridge` when `rpc_host` is unset, else to the RPC server there;
    /// a bad `rpc_host` (or TLS setting) raises `AnyCable::RS::ConfigError`.
    fn new(
        ruby: &Ruby,
        config: &EngineConfig,
        bridge: &BridgeObj,
        threads: usize,
        turbo_key: Option<RString>,
    ) -> Result<Self, Error> {
        // SAFETY: the bytes are copied at once, before any Ruby code could change the string.
        let turbo_key = turbo_key.map(|key| unsafe { key.as_slice() }.to_vec());
        logging::init(config.0.effective_log_level());
        let threads = match threads {
            0 => std::thread::available_parallelism().map_or(2, |n| n.get()),
            n => n,
        };
        let runtime = ProcessRuntime::build(ruby, threads.clamp(1, 64), "anycable-rs")?;
        let queue = Arc::clone(&bridge.queue);
        // Inside the runtime: a gRPC channel starts its connection task there.
        let started = runtime.with(|inside| {
            let _entered = inside.enter();
            let node = Node::new(config.0.clone(), controller_for(&config.0, &queue)?, turbo_key.as_deref());
            node.start(inside.handle().clone());
            Ok::<_, anycable_engine::config::ConfigError>(node)
        });
        match started {
            Some(Ok(node)) => Ok(Self { node, runtime, queue }),
            Some(Err(error)) => {
                runtime.abandon();
                Err(Error::new(ruby.get_inner(&errors::CONFIG_ERROR), error.to_string()))
            }
            None => Err(errors::error(ruby, "the tokio runtime stopped while starting")),
        }
    }

    fn check_pid(&self, ruby: &Ruby) -> Result<(), Error> {
        self.runtime.check_pid(ruby, "node")
    }

    /// `#accept(fd, url, headers, protocols, key)`: duplicates `fd` (a connected socket whose
    /// upgrade request was already read; the caller closes its own IO afterwards) and serves
    /// the duplicate. Returns at once: true when served, false when `max_connections` are
    /// already open (the duplicate is closed, nothing is written: the caller answers 503).
    fn accept(
        ruby: &Ruby,
        rb_self: &Self,
        fd: i32,
        url: String,
        headers: RHash,
        protocols: Vec<String>,
        key: String,
    ) -> Result<bool, Error> {
        rb_self.check_pid(ruby)?;
        if fd < 0 {
            return Err(errors::error(ruby, format!("invalid file descriptor {fd}")));
        }
        // SAFETY: the caller's IO owns `fd` and keeps it open for the duration of this call;
        // we only borrow it to duplicate it (F_DUPFD_CLOEXEC) and never close it.
        let borrowed = unsafe { BorrowedFd::borrow_raw(fd) };
        let socket = borrowed
            .try_clone_to_owned()
            .map(std::net::TcpStream::from)
            .map_err(|e| errors::error(ruby, format!("cannot duplicate descriptor {fd}: {e}")))?;
        if let Err(error) = socket.peer_addr() {
            return Err(errors::error(
                ruby,
                format!("descriptor {fd} is not a connected TCP socket: {error}"),
            ));
        }
        let headers = ruby_json::hash_from_ruby(ruby, headers)?
            .into_iter()
            .filter_map(|(name, value)| value.as_str().map(|v| (name, v.to_owned())))
            .collect();
        Ok(rb_self.node.accept(socket, UpgradeRequest { url, headers, protocols, key }))
    }

    /// `#publish(stream, data, exclude_sid = nil)`: queues a broadcast for this process's
    /// subscribers; never waits. Broadcasts are delivered in the order of the calls.
    /// `exclude_sid` is the `sid` of a session that must not receive it (the publisher's own
    /// socket); a sid of another process matches nobody here.
    fn publish(ruby: &Ruby, rb_self: &Self, args: &[Value]) -> Result<(), Error> {
        rb_self.check_pid(ruby)?;
        let args = scan_args::<(String, String), (Option<Option<String>>,), (), (), (), ()>(args)?;
        let (stream, data) = args.required;
        let exclude = args.optional.0.flatten().filter(|sid| !sid.is_empty());
        rb_self.node.publish(stream, data, exclude);
        Ok(())
    }

    /// `#publish_raw(body)`: applies an AnyCable publication body (one
    /// `{"stream","data","meta"}` object, a JSON array of them, or a
    /// `{"command":"disconnect",...}` command) to this process, queued in order with
    /// `#publish`. Returns how many publications it queued; raises `ArgumentError` (with
    /// the reason) for a body that is not a publication, and then queues nothing.
    fn publish_raw(ruby: &Ruby, rb_self: &Self, body: RString) -> Result<usize, Error> {
        rb_self.check_pid(ruby)?;
        // SAFETY: the slice is copied before any other Ruby call can run (no GC, no
        // mutation of `body` in between), and `body` is on the stack, so it stays alive.
        let bytes = unsafe { body.as_slice() }.to_vec();
        rb_self.node.publish_raw(&bytes).map_err(|e| Error::new(ruby.exception_arg_error(), e.to_string()))
    }

    /// `#disconnect_remote(identifiers_json, reconnect)`: closes every session of this
    /// process whose connection identifiers JSON is exactly `identifiers_json`, with
    /// `{"type":"disconnect","reason":"remote","reconnect":reconnect}`. Returns how many.
    fn disconnect_remote(
        ruby: &Ruby,
        rb_self: &Self,
        identifiers: String,
        reconnect: bool,
    ) -> Result<usize, Error> {
        rb_self.check_pid(ruby)?;
        Ok(rb_self.node.disconnect_remote(&identifiers, reconnect))
    }

    /// `#shutdown`: graceful shutdown (every client gets `server_restart`, every disconnect
    /// call is made) within `shutdown_timeout`, then the bridge closes and the runtime stops.
    /// Waits without the GVL so the worker threads can answer the disconnect calls. Returns
    /// whether everything finished in time; later calls return false at once.
    fn shutdown(ruby: &Ruby, rb_self: &Self) -> Result<bool, Error> {
        rb_self.check_pid(ruby)?;
        let node = Arc::clone(&rb_self.node);
        let in_time =
            rb_self.runtime.finish(async move { node.shutdown().await }, || rb_self.queue.close())?;
        Ok(in_time.unwrap_or(false))
    }

    /// `#stats`: `{"clients" => n, "streams" => n, "rpc_pending" => n, "rpc_abandoned" => n,
    /// "redis" => bool?}`; `"rpc_abandoned"` counts bridge jobs dropped unrun because their
    /// caller had given up; `"redis"` is whether the Redis subscriber is connected, `nil` when
    /// broadcasts do not come through Redis.
    fn stats(ruby: &Ruby, rb_self: &Self) -> Result<RHash, Error> {
        rb_self.check_pid(ruby)?;
        let stats = rb_self.node.stats();
        let hash = ruby.hash_new();
        hash.aset("connections", stats.connections)?;
        hash.aset("clients", stats.clients)?;
        hash.aset("streams", stats.streams)?;
        hash.aset("rpc_pending", rb_self.queue.len())?;
        hash.aset("rpc_abandoned", rb_self.queue.abandoned())?;
        hash.aset("redis", stats.redis_connected)?;
        Ok(hash)
    }

    /// `#metrics`: `{"clients_num" => n, "rpc_call_total" => n, ...}`, every metric with
    /// AnyCable's name (counters since start, gauges now).
    fn metrics(ruby: &Ruby, rb_self: &Self) -> Result<RHash, Error> {
        rb_self.check_pid(ruby)?;
        let hash = ruby.hash_new();
        for sample in rb_self.node.metrics() {
            hash.aset(sample.name, sample.value)?;
        }
        Ok(hash)
    }

    /// `#prometheus`: the metrics in Prometheus' text format, `metrics_tags` as labels.
    fn prometheus(ruby: &Ruby, rb_self: &Self) -> Result<String, Error> {
        rb_self.check_pid(ruby)?;
        Ok(rb_self.node.prometheus())
    }

    /// `#alive?(timeout)`: whether the runtime runs a task within `timeout` seconds (false
    /// once it was shut down). Waits without the GVL.
    fn alive(ruby: &Ruby, rb_self: &Self, timeout: f64) -> Result<bool, Error> {
        rb_self.check_pid(ruby)?;
        rb_self.runtime.answers(Duration::try_from_secs_f64(timeout).unwrap_or(Duration::from_secs(1)))
    }

    /// `#connections`: open WebSocket connections (what `max_connections` limits); one atomic load.
    fn connections(ruby: &Ruby, rb_self: &Self) -> Result<usize, Error> {
        rb_self.check_pid(ruby)?;
        Ok(rb_self.node.connections())
    }

    /// `#pid`: the process the node belongs to.
    fn pid(&self) -> u32 {
        self.runtime.pid()
    }
}

pub(crate) fn init(ruby: &Ruby, native: RModule) -> Result<(), Error> {
    let class = native.define_class("Node", ruby.class_object())?;
    class.define_singleton_method("new", function!(NodeObj::new, 4))?;
    class.define_method("accept", method!(NodeObj::accept, 5))?;
    class.define_method("publish", method!(NodeObj::publish, -1))?;
    class.define_method("publish_raw", method!(NodeObj::publish_raw, 1))?;
    class.define_method("disconnect_remote", method!(NodeObj::disconnect_remote, 2))?;
    class.define_method("shutdown", method!(NodeObj::shutdown, 0))?;
    class.define_method("stats", method!(NodeObj::stats, 0))?;
    class.define_method("connections", method!(NodeObj::connections, 0))?;
    class.define_method("metrics", method!(NodeObj::metrics, 0))?;
    class.define_method("prometheus", method!(NodeObj::prometheus, 0))?;
    class.define_method("alive?", method!(NodeObj::alive, 1))?;
    class.define_method("pid", method!(NodeObj::pid, 0))?;
    Ok(())
}
