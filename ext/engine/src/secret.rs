//! Secrets in settings: a type that never shows its value by accident, and the keys AnyCable
//! derives from the application `secret` (docs/architecture.md §6.2, §6.3).
//!
//! A [`Secret`] prints as `[FILTERED]` through `Debug` and `Display`, and the config's dumps
//! ([`crate::config::Config::to_map`]) show it the same way; only [`Secret::expose`] gives the
//! value, at the one place that puts it on the wire. [`random_token`] makes values nobody can
//! guess (session ids, epochs).

use std::fmt;

use ring::hmac;
use ring::rand::{SecureRandom, SystemRandom};

/// What a secret looks like in logs and dumps.
pub const FILTERED: &str = "[FILTERED]";

/// The HMAC message of the HTTP RPC secret derived from `secret`, as AnyCable uses it.
pub const HTTP_RPC_PURPOSE: &str = "rpc-cable";

/// `len` random base-36 characters from the operating system's generator (about 5.2 bits
/// each): what a client cannot guess, such as the part of a session id that lets it restore
/// its session. Should the generator fail, the process' hash keys (also seeded from the
/// operating system) and the time fill in.
pub fn random_token(len: usize) -> String {
    let mut bytes = vec![0u8; len];
    if SystemRandom::new().fill(&mut bytes).is_err() {
        use std::hash::{BuildHasher, RandomState};
        for (i, byte) in bytes.iter_mut().enumerate() {
            *byte = RandomState::new().hash_one((i, std::time::SystemTime::now())) as u8;
        }
    }
    bytes.iter().map(|b| char::from_digit(u32::from(b % 36), 36).unwrap_or('0')).collect()
}

/// A secret setting value.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(Box<str>);

impl Secret {
    /// Wraps a secret value.
    pub fn new(value: impl Into<Box<str>>) -> Self {
        Self(value.into())
    }

    /// The value itself, for the wire. Never log it.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// The key AnyCable derives from this application secret for `purpose`: the hex
    /// HMAC-SHA256 of the message `purpose` with this secret as the key (e.g.
    /// [`HTTP_RPC_PURPOSE`] for the HTTP RPC secret).
    pub fn derive(&self, purpose: &str) -> Self {
        let key = hmac::Key::new(hmac::HMAC_SHA256, self.0.as_bytes());
        let tag = hmac::sign(&key, purpose.as_bytes());
        Self(hex(tag.as_ref()).into())
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(FILTERED)
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(FILTERED)
    }
}

/// Lower-case hex of `bytes`, as Ruby's `hexdigest` writes it.
pub(crate) fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for byte in bytes {
        out.push(char::from(DIGITS[usize::from(byte >> 4)]));
        out.push(char::from(DIGITS[usize::from(byte & 0xf)]));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn derives_as_anycable_does() {
        // RFC 4231, test case 2: HMAC-SHA256(key "Jefe", "what do ya want for nothing?").
        let jefe = Secret::new("Jefe").derive("what do ya want for nothing?");
        assert_eq!(jefe.expose(), "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
        // `echo -n rpc-cable | openssl dgst -sha256 -hmac s3cr3t`, the formula of AnyCable's docs.
        let rpc = Secret::new("s3cr3t").derive(HTTP_RPC_PURPOSE);
        assert_eq!(rpc.expose(), "4b7da2749fe2a4534cec0d2acbd16277a800cf2acd31158ac4edae4a62a8f18d");
    }

    #[test]
    fn never_shows_its_value() {
        let secret = Secret::new("hunter2");
        assert_eq!(format!("{secret:?} {secret}"), "[FILTERED] [FILTERED]");
        assert_eq!(format!("{:?}", Some(secret)), "Some([FILTERED])");
    }
}
