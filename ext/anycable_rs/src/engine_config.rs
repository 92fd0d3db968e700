//! `AnyCable::RS::Native::EngineConfig`: the engine's validated settings, built from a Ruby
//! Hash. The Ruby `AnyCable::RS::Config` object builds one to validate what users wrote and
//! reads the defaults from here, so defaults and validation live in one place (the engine).

use anycable_engine::config::Config;
use anycable_engine::config_reference::DESCRIPTIONS;
use magnus::{function, method, prelude::*, Error, RHash, RModule, Ruby};

use crate::{errors::CONFIG_ERROR, ruby_json};

/// A validated engine configuration.
#[magnus::wrap(class = "AnyCable::RS::Native::EngineConfig", free_immediately, size)]
pub(crate) struct EngineConfig(pub(crate) Config);

impl EngineConfig {
    /// `EngineConfig.new(settings_hash)`: defaults overridden by the given settings; raises
    /// `AnyCable::RS::ConfigError` naming the key and what it accepts.
    fn new(ruby: &Ruby, settings: RHash) -> Result<Self, Error> {
        let settings = ruby_json::hash_from_ruby(ruby, settings)?;
        Config::from_map(&settings)
            .map(Self)
            .map_err(|e| Error::new(ruby.get_inner(&CONFIG_ERROR), e.to_string()))
    }

    /// `EngineConfig.defaults`: every setting with its default value.
    fn defaults(ruby: &Ruby) -> Result<RHash, Error> {
        ruby_json::hash_to_ruby(ruby, &Config::default().to_map())
    }

    /// `EngineConfig.descriptions`: `{key => what it is for}` for every setting, in the
    /// documentation's order (see `anycable_engine::config_reference`).
    fn descriptions(ruby: &Ruby) -> Result<RHash, Error> {
        let hash = ruby.hash_new();
        for (key, description) in DESCRIPTIONS {
            hash.aset(*key, *description)?;
        }
        Ok(hash)
    }

    /// `#to_h`: the effective settings, String keys, durations in seconds.
    fn to_h(ruby: &Ruby, rb_self: &Self) -> Result<RHash, Error> {
        ruby_json::hash_to_ruby(ruby, &rb_self.0.to_map())
    }
}

pub(crate) fn init(ruby: &Ruby, native: RModule) -> Result<(), Error> {
    let class = native.define_class("EngineConfig", ruby.class_object())?;
    class.define_singleton_method("new", function!(EngineConfig::new, 1))?;
    class.define_singleton_method("defaults", function!(EngineConfig::defaults, 0))?;
    class.define_singleton_method("descriptions", function!(EngineConfig::descriptions, 0))?;
    class.define_method("to_h", method!(EngineConfig::to_h, 0))?;
    Ok(())
}
