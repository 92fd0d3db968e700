//! Looks up the exception classes that `lib/anycable/rs/errors.rb` defines, so Rust code can
//! raise them. They live in Ruby so users can `rescue` and document them like any other class.

use magnus::{prelude::*, value::Lazy, Error, ExceptionClass, RModule, Ruby};

/// `AnyCable::RS::Error`: the base class of the gem's errors.
pub(crate) static ERROR: Lazy<ExceptionClass> =
    Lazy::new(|ruby| lookup(ruby, "Error").expect("checked by init"));

/// `AnyCable::RS::ConfigError`: a setting with an unknown name or a bad value.
pub(crate) static CONFIG_ERROR: Lazy<ExceptionClass> =
    Lazy::new(|ruby| lookup(ruby, "ConfigError").expect("checked by init"));

fn lookup(ruby: &Ruby, name: &str) -> Result<ExceptionClass, Error> {
    let rs: RModule = ruby.class_object().const_get::<_, RModule>("AnyCable")?.const_get("RS")?;
    rs.const_get(name)
}

/// An `AnyCable::RS::Error` with this message.
pub(crate) fn error(ruby: &Ruby, message: impl Into<String>) -> Error {
    Error::new(ruby.get_inner(&ERROR), message.into())
}

/// Fails loading the extension, with a clear message, when the Ruby side did not define the
/// exception classes first (the extension is meant to be loaded through `require "anycable-rs"`).
pub(crate) fn init(ruby: &Ruby) -> Result<(), Error> {
    for name in ["Error", "ConfigError"] {
        lookup(ruby, name).map_err(|_| {
            Error::new(
                ruby.exception_load_error(),
                format!("anycable_rs.so must be loaded through `require \"anycable-rs\"` (AnyCable::RS::{name} is not defined)"),
            )
        })?;
    }
    Lazy::force(&ERROR, ruby);
    Lazy::force(&CONFIG_ERROR, ruby);
    Ok(())
}
