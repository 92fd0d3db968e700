//! `AnyCable::RS::Native::EngineConfig`: the engine's validated settings, built from a Ruby
//! Hash. The Ruby `AnyCable::RS::Config` object builds one to validate what users wrote and
//! reads the table of settings from here, so defaults and validation live in one place (the
//! engine).

use anycable_engine::config::{Config, SETTINGS};
use magnus::{function, method, prelude::*, Error, RArray, RHash, RModule, Ruby};

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

    /// `EngineConfig.reference`: every setting as the table of `anycable_engine::config`
    /// declares it, in the documentation's order: Hashes with "key", "env" (the variables it
    /// is read from), "default" (secrets: nil), "description", "secret" and "ruby_only".
    fn reference(ruby: &Ruby) -> Result<RArray, Error> {
        let defaults = Config::default().to_map();
        let entries = ruby.ary_new_capa(SETTINGS.len());
        for setting in SETTINGS {
            let entry = ruby.hash_new();
            entry.aset("key", setting.key)?;
            entry.aset("env", ruby.ary_from_vec(setting.env()))?;
            let default = if setting.secret { &serde_json::Value::Null } else { &defaults[setting.key] };
            entry.aset("default", ruby_json::to_ruby(ruby, default)?)?;
            entry.aset("description", setting.description())?;
            entry.aset("secret", setting.secret)?;
            entry.aset("ruby_only", setting.ruby_only)?;
            entries.push(entry)?;
        }
        Ok(entries)
    }

    /// `#to_h`: the effective settings, String keys, durations in seconds.
    fn to_h(ruby: &Ruby, rb_self: &Self) -> Result<RHash, Error> {
        ruby_json::hash_to_ruby(ruby, &rb_self.0.to_map())
    }
}

pub(crate) fn init(ruby: &Ruby, native: RModule) -> Result<(), Error> {
    let class = native.define_class("EngineConfig", ruby.class_object())?;
    class.define_singleton_method("new", function!(EngineConfig::new, 1))?;
    class.define_singleton_method("reference", function!(EngineConfig::reference, 0))?;
    class.define_method("to_h", method!(EngineConfig::to_h, 0))?;
    Ok(())
}
