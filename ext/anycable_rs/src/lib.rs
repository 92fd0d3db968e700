//! The Ruby extension of anycable-rs (`anycable_rs.so`): the only crate that uses magnus.
//!
//! It defines `AnyCable::RS::Native` and one Rust file per Ruby class under it; the engine
//! (`anycable-engine`) does the work and knows nothing of Ruby. Exception classes are defined
//! in Ruby (`lib/anycable/rs/errors.rb`) and only looked up here.
//!
//! # Threading contract
//!
//! 1. Tokio threads never touch Ruby. Only owned Rust data crosses: requests and replies as
//!    `serde_json::Value`s, sockets as file descriptors.
//! 2. Ruby work runs on Ruby threads the gem creates (`AnyCable::RS::Workers`). They take jobs
//!    from a bounded queue ([`bridge`]) waiting WITHOUT the GVL ([`gvl`]: an unblocking
//!    function wakes them for `Thread#kill`, shutdown, Ctrl-C; `rb_protect` catches the
//!    interrupt; jobs taken at that moment are put back), run them WITH the GVL, and answer
//!    each through its oneshot ([`job`]). Closing the queue ends every worker.
//! 3. A full queue fails the call at once; the client is told to reconnect later.
//! 4. No Rust lock is held across a GVL transition or while Ruby code runs; a thread holding
//!    the GVL only ever takes locks that GVL-free threads hold for a push or a pop.
//! 5. Every `extern "C"` function catches panics; magnus' method wrappers do the same for
//!    methods, so no panic unwinds into Ruby or C.
//! 6. Ruby values are never kept by Rust beyond a call, so nothing needs GC marking.
//! 7. Calls from Ruby that may wait either enqueue and return (`broadcast`, `publish_raw`,
//!    `accept`), do only non-blocking pushes (`disconnect_remote`), or wait without the GVL in
//!    short slices (`take`, `shutdown`, `RpcServer#stop`).
//!
//! Engine log events reach Ruby the same way ([`logging`]): tokio threads push formatted lines
//! into a bounded queue (dropping, and counting, when it is full) and a Ruby thread takes them
//! without the GVL for `AnyCable::RS.logger`.

mod bridge;
mod engine_config;
mod errors;
mod gvl;
mod job;
mod logging;
mod node;
mod rpc_server;
mod ruby_json;
mod runtime;

/// The entry point Ruby calls when it loads the library (`Init_anycable_rs`).
mod boot {
    use magnus::{prelude::*, Error, Ruby};

    /// Defines `AnyCable::RS::Native` and its classes.
    #[magnus::init]
    fn init(ruby: &Ruby) -> Result<(), Error> {
        let native = ruby.define_module("AnyCable")?.define_module("RS")?.define_module("Native")?;
        native.const_set("ENGINE_VERSION", anycable_engine::VERSION)?;
        native.const_set("BROKER_PUBLISH_SCRIPT", anycable_engine::broker::PUBLISH_SCRIPT)?;
        super::errors::init(ruby)?;
        super::engine_config::init(ruby, native)?;
        super::bridge::init(ruby, native)?;
        super::job::init(ruby, native)?;
        super::node::init(ruby, native)?;
        super::rpc_server::init(ruby, native)?;
        super::logging::init_ruby(native)?;
        Ok(())
    }
}
