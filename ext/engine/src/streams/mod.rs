//! Subscriptions answered without the app: `$pubsub` (AnyCable's signed and public streams)
//! and `Turbo::StreamsChannel` (turbo-rails' signed stream names), each verified here and
//! answered exactly as the Ruby channel would — confirm and stream, or reject
//! (docs/architecture.md §6.7).
//!
//! [`SignedStreams`] wraps the node's controller: the subscribes (and unsubscribes) it knows
//! never become a call; everything else passes through. [`signed`] reads and makes Rails'
//! `MessageVerifier` names.

mod controller;
pub mod signed;

pub use controller::{SignedStreams, PRESENCE_STREAM, PUBSUB_CHANNEL, TURBO_CHANNEL, WHISPER_STREAM};
pub use signed::{Verified, Verifier};
