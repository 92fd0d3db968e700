//! The publication parser: a body on `__anycable__` or at the HTTP broadcast endpoint (one
//! broadcast, a batch, a remote disconnect). Bytes and text must parse alike, and every
//! broadcast it yields must frame into JSON.
#![no_main]

use anycable_engine::broadcast::publication::{self, Publication};
use anycable_engine::protocol::BroadcastData;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let parsed = publication::parse(data);
    if let Ok(text) = std::str::from_utf8(data) {
        assert_eq!(parsed, publication::parse_str(text));
    }
    for item in parsed.unwrap_or_default() {
        if let Publication::Broadcast(broadcast) = item {
            let frame = BroadcastData::new(&broadcast.data).frame("{}");
            assert!(frame.starts_with(r#"{"identifier":"{}","message":"#));
        }
    }
});
