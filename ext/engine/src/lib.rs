//! The Ruby-free core of anycable-rs.
//!
//! Everything in this crate is plain Rust, tested with `cargo test` on `127.0.0.1:0`; the
//! Ruby extension (`ext/anycable_rs`) is the only crate that talks to Ruby and it calls in here.
//!
//! # Layout
//!
//! - [`config`]: the settings users write (`config/anycable.yml`, `ANYCABLE_*`), typed and
//!   validated, with AnyCable's names and defaults, each declared once with what it is for.
//! - [`protocol`]: the Action Cable wire messages (`actioncable-v1-json`): client commands
//!   parsed, server messages encoded once into shared frames.
//! - [`hub`]: who listens to which stream; a sharded registry that groups subscribers by
//!   channel identifier so each broadcast is encoded once per (stream, identifier). It knows
//!   a subscriber only as a [`hub::Subscriber`] (an id and a queue), not the node's sessions.
//! - [`broadcast`]: broadcasts from other processes: AnyCable publications, stock Action
//!   Cable's Redis format, the Redis subscriber that brings both in, and the router that says
//!   which channels a node listens to and what their messages mean.
//! - [`broker`]: stream history (each broadcast's epoch and offset) and the sessions of
//!   clients that left, for extended-protocol clients that come back.
//! - [`rpc`]: AnyCable RPC messages and the [`rpc::Controller`] trait (in-process bridge,
//!   gRPC, HTTP RPC, chosen by [`rpc::controller_for`]) through which channel logic is
//!   reached; the paced disconnect queue of remote controllers; and the gRPC server that
//!   serves the bridge's job queue to other WebSocket servers.
//! - [`secret`]: secret settings that never print their value, and the keys AnyCable derives
//!   from the application `secret`.
//! - [`streams`]: `$pubsub` and `Turbo::StreamsChannel` subscribes verified and answered
//!   without the app (a controller in front of the node's own).
//! - [`identity`]: connects identified by an AnyCable JWT, answered without the app.
//! - [`node`]: accepts hijacked sockets, pings, broadcasts, shuts down. Inside it,
//!   `connection` runs one client (connect → commands → disconnect) and reaches the node only
//!   through its `Host` trait, `writer` writes the socket, [`node::session`] is the bounded
//!   queue between them and everything else, [`node::sessions`] lists live ones.
//!
//! No module uses one that uses it back (`tests/module_graph.rs` checks): `node` uses every
//! other module, and `hub`, `broadcast` and `rpc` know nothing of the node.
//! - [`metrics`]: counters and gauges with AnyCable's names, rendered for Prometheus and sent
//!   to StatsD.
//! - [`logging`]: the engine's log events as lines (with their level) in a bounded queue
//!   that the host's logger drains; the level can change at run time.
//! - `handshake`: the `101` answer for a socket whose HTTP request the web server read.

pub mod broadcast;
pub mod broker;
pub mod config;
pub mod handshake;
pub mod hub;
pub mod identity;
pub mod logging;
pub mod metrics;
pub mod node;
pub mod protocol;
pub mod rpc;
pub mod secret;
pub mod streams;

/// Version of the engine; the gem reports it as `AnyCable::RS::Native::ENGINE_VERSION`.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
