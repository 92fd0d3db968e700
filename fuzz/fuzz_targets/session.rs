//! The WebSocket frame path: the raw bytes a client writes after the handshake (frames,
//! fragments, control frames, bad masks, oversized lengths), through the same reader,
//! command loop and reply application as a real session. It must end cleanly with no stream
//! left joined (`anycable_engine::node::fuzzing`).
#![no_main]

use anycable_engine::node::fuzzing::session;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    session(data);
});
