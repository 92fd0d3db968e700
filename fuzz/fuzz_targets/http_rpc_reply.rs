//! HTTP RPC reply decoding: any body an RPC server answers with, as each of the three replies.
//! A reply that decodes must encode and decode back to itself.
#![no_main]

use anycable_engine::rpc::http::decode_reply;
use anycable_engine::rpc::{CommandResponse, ConnectionResponse, DisconnectResponse};
use libfuzzer_sys::fuzz_target;

fn round_trip<Reply>(name: &str, body: &[u8])
where
    Reply: serde::de::DeserializeOwned + serde::Serialize + PartialEq + std::fmt::Debug,
{
    if let Ok(reply) = decode_reply::<Reply>(name, body) {
        let again = serde_json::to_vec(&reply).expect("a reply encodes");
        assert_eq!(decode_reply::<Reply>(name, &again).expect("an encoded reply decodes"), reply);
    }
}

fuzz_target!(|data: &[u8]| {
    round_trip::<ConnectionResponse>("connect", data);
    round_trip::<CommandResponse>("command", data);
    round_trip::<DisconnectResponse>("disconnect", data);
});
