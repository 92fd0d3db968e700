//! The client command decoder: any text frame a client sends. A command that parses must
//! give confirm and reject frames that are JSON naming the identifier exactly as sent.
#![no_main]

use anycable_engine::protocol::{server, ClientCommand, Command};
use libfuzzer_sys::fuzz_target;
use serde_json::Value;

fuzz_target!(|data: &[u8]| {
    let Ok(frame) = std::str::from_utf8(data) else { return };
    let Ok(command) = ClientCommand::parse(frame) else { return };
    assert!(command.command != Command::Message || command.data.is_some());
    for answer in [server::confirm(&command.identifier), server::reject(&command.identifier)] {
        let answer: Value = serde_json::from_str(&answer).expect("confirm/reject frames are JSON");
        assert_eq!(answer["identifier"].as_str(), Some(command.identifier.as_str()));
    }
});
