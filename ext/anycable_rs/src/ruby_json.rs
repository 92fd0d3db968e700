//! Conversions between plain Ruby data (nil, booleans, numbers, strings, symbols, arrays,
//! hashes) and `serde_json::Value`, the form in which settings and messages reach the engine.

use magnus::{
    prelude::*, r_hash::ForEach, value::Qfalse, value::Qtrue, Error, Float, Integer, RArray, RHash, RString,
    Ruby, Symbol, Value,
};
use serde_json::{Map, Number, Value as Json};

/// Deepest nesting of arrays and hashes converted: a deeper (or cyclic) structure, e.g. a
/// custom handler's reply that contains itself, raises `ArgumentError` instead of overflowing
/// the stack.
pub(crate) const MAX_DEPTH: usize = 64;

/// Converts a Hash with String or Symbol keys whose values are plain data; anything else raises
/// `TypeError`, nesting deeper than [`MAX_DEPTH`] raises `ArgumentError`.
pub(crate) fn hash_from_ruby(ruby: &Ruby, hash: RHash) -> Result<Map<String, Json>, Error> {
    convert_hash(ruby, hash, 0)
}

fn convert(ruby: &Ruby, value: Value, depth: usize) -> Result<Json, Error> {
    if value.is_nil() {
        Ok(Json::Null)
    } else if Qtrue::from_value(value).is_some() {
        Ok(Json::Bool(true))
    } else if Qfalse::from_value(value).is_some() {
        Ok(Json::Bool(false))
    } else if let Some(i) = Integer::from_value(value) {
        Ok(Json::Number(i.to_i64()?.into()))
    } else if let Some(f) = Float::from_value(value) {
        Number::from_f64(f.to_f64())
            .map(Json::Number)
            .ok_or_else(|| Error::new(ruby.exception_type_error(), "NaN and Infinity have no JSON form"))
    } else if let Some(s) = RString::from_value(value) {
        Ok(Json::String(s.to_string()?))
    } else if let Some(s) = Symbol::from_value(value) {
        Ok(Json::String(s.name()?.into_owned()))
    } else if let Some(array) = RArray::from_value(value) {
        let depth = nested(ruby, depth)?;
        (0..array.len())
            .map(|i| convert(ruby, array.entry(i as isize)?, depth))
            .collect::<Result<_, _>>()
            .map(Json::Array)
    } else if let Some(hash) = RHash::from_value(value) {
        convert_hash(ruby, hash, nested(ruby, depth)?).map(Json::Object)
    } else {
        Err(Error::new(
            ruby.exception_type_error(),
            format!(
                "expected plain data (nil, true, false, Integer, Float, String, Symbol, Array, Hash), got {}",
                class_name(value)
            ),
        ))
    }
}

/// The depth one level further in, or `ArgumentError` past [`MAX_DEPTH`].
fn nested(ruby: &Ruby, depth: usize) -> Result<usize, Error> {
    if depth >= MAX_DEPTH {
        return Err(Error::new(
            ruby.exception_arg_error(),
            format!("data nested deeper than {MAX_DEPTH} levels (does it contain itself?)"),
        ));
    }
    Ok(depth + 1)
}

fn convert_hash(ruby: &Ruby, hash: RHash, depth: usize) -> Result<Map<String, Json>, Error> {
    let mut map = Map::new();
    hash.foreach(|key: Value, value: Value| {
        let key = match convert(ruby, key, depth)? {
            Json::String(key) => key,
            other => {
                return Err(Error::new(
                    ruby.exception_type_error(),
                    format!("hash keys must be strings or symbols, got {other}"),
                ))
            }
        };
        map.insert(key, convert(ruby, value, depth)?);
        Ok(ForEach::Continue)
    })?;
    Ok(map)
}

/// Builds the Ruby form of a JSON value (objects become Hashes with String keys).
pub(crate) fn to_ruby(ruby: &Ruby, value: &Json) -> Result<Value, Error> {
    Ok(match value {
        Json::Null => ruby.qnil().as_value(),
        Json::Bool(true) => ruby.qtrue().as_value(),
        Json::Bool(false) => ruby.qfalse().as_value(),
        Json::Number(n) => match n.as_i64() {
            Some(i) => ruby.integer_from_i64(i).as_value(),
            None => ruby.float_from_f64(n.as_f64().unwrap_or(f64::NAN)).as_value(),
        },
        Json::String(s) => ruby.str_new(s).as_value(),
        Json::Array(items) => {
            let array = ruby.ary_new_capa(items.len());
            for item in items {
                array.push(to_ruby(ruby, item)?)?;
            }
            array.as_value()
        }
        Json::Object(map) => hash_to_ruby(ruby, map)?.as_value(),
    })
}

/// Builds a Ruby Hash with String keys.
pub(crate) fn hash_to_ruby(ruby: &Ruby, map: &Map<String, Json>) -> Result<RHash, Error> {
    let hash = ruby.hash_new();
    for (key, value) in map {
        hash.aset(ruby.str_new(key), to_ruby(ruby, value)?)?;
    }
    Ok(hash)
}

fn class_name(value: Value) -> String {
    value.class().inspect()
}
