//! RPC reply application: a session whose client sends each input line as a command, and
//! whose channel logic answers with the reply a command carries (its identifier's or data's
//! `reply` object: streams, stopped streams, state, transmissions, disconnect). After the
//! client leaves, no stream may still be joined (`anycable_engine::node::fuzzing`).
#![no_main]

use anycable_engine::node::fuzzing::{client_frame, session};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let input: Vec<u8> = text.lines().flat_map(client_frame).collect();
    session(&input);
});
