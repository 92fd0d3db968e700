//! The Ruby-free core of anycable-rs.
//!
//! Everything in this crate is plain Rust, tested with `cargo test` on `127.0.0.1:0`; the
//! Ruby extension (`ext/anycable_rs`) is the only crate that talks to Ruby and it calls in here.
//!
//! # Layout
//!
//! - [`config`]: the settings users write (`config/anycable.yml`, `ANYCABLE_*`), typed and
//!   validated, with AnyCable's names and defaults.
//! - [`protocol`]: the Action Cable wire messages (`actioncable-v1-json`): client commands
//!   parsed, server messages encoded once into shared frames.
//! - [`hub`]: who listens to which stream; a sharded registry that groups subscribers by
//!   channel identifier so each broadcast is encoded once per (stream, identifier).

pub mod config;
pub mod hub;
pub mod protocol;

/// Version of the engine; the gem reports it as `AnyCable::RS::Native::ENGINE_VERSION`.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
