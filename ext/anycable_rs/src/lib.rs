//! The Ruby extension of anycable-rs (`anycable_rs.so`): the only crate that uses magnus.
//!
//! It defines `AnyCable::RS::Native` and one Rust file per Ruby class under it; the engine
//! (`anycable-engine`) does the work and knows nothing of Ruby. Exception classes are defined
//! in Ruby (`lib/anycable/rs/errors.rb`) and only looked up here.
//!
//! # Threading contract
//!
//! 1. Threads the engine starts never touch Ruby; only owned Rust data crosses between them.
//! 2. Every call from Ruby returns or raises: panics are caught by magnus' method wrappers and
//!    raised as Ruby exceptions, never unwound into Ruby or C.
//! 3. No Rust lock is held while Ruby code runs or while the GVL is released.

mod engine_config;
mod errors;
mod ruby_json;

/// The entry point Ruby calls when it loads the library (`Init_anycable_rs`).
mod boot {
    use magnus::{prelude::*, Error, Ruby};

    /// Defines `AnyCable::RS::Native` and its classes.
    #[magnus::init]
    fn init(ruby: &Ruby) -> Result<(), Error> {
        let native = ruby.define_module("AnyCable")?.define_module("RS")?.define_module("Native")?;
        native.const_set("ENGINE_VERSION", anycable_engine::VERSION)?;
        super::errors::init(ruby)?;
        super::engine_config::init(ruby, native)?;
        Ok(())
    }
}
