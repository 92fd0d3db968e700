//! The identifier and params parsers: connection identifiers (the internal channel of stock
//! Action Cable broadcasts), internal-channel messages, and a broadcast's data framed under a
//! channel identifier. The input is `<identifier>\n<data>`. A framed broadcast must be JSON
//! whose `identifier` is the identifier as given and whose `message` is the data (as JSON
//! when it is JSON, else as a string).
#![no_main]

use anycable_engine::broadcast::action_cable::{connection_identifier, parse_disconnect};
use anycable_engine::protocol::BroadcastData;
use libfuzzer_sys::fuzz_target;
use serde_json::Value;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let _ = connection_identifier(text);
    let _ = parse_disconnect(text);
    let (identifier, payload) = text.split_once('\n').unwrap_or((text, ""));
    let frame = BroadcastData::new(payload).frame(identifier);
    let expected = match serde_json::from_str::<Value>(payload) {
        Ok(value) => value,
        // Accepted by the raw check but not as a value (a number out of range): kept verbatim.
        Err(_) if serde_json::from_str::<&serde_json::value::RawValue>(payload).is_ok() => return,
        Err(_) => Value::String(payload.to_owned()),
    };
    let frame: Value = serde_json::from_str(&frame).expect("a framed broadcast is JSON");
    assert_eq!(frame["identifier"].as_str(), Some(identifier));
    assert_eq!(frame["message"], expected);
});
