//! Signed stream names: what Rails' `ActiveSupport::MessageVerifier` makes of a stream name
//! with HMAC-SHA256 and JSON (Turbo's `signed_stream_name`, AnyCable's `Streams.signed`):
//! `Base64(JSON(name)) + "--" + hex(HMAC-SHA256(key, the Base64 part))`
//! (docs/architecture.md §6.7). Turbo encodes with the standard Base64 alphabet, AnyCable with
//! the URL-safe one; the signature covers the encoded text, so both are read.

use base64::alphabet;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig};
use base64::engine::DecodePaddingMode;
use base64::Engine;
use ring::hmac;

use crate::secret::hex;

/// Hex digits of an HMAC-SHA256 signature.
const SIGNATURE_HEX: usize = 64;
/// Between the encoded name and its signature.
const SEPARATOR: &str = "--";

/// What a signed name turned out to be.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verified {
    /// Signed with the key: the stream name it carries.
    Name(String),
    /// Not signed with the key (or not a signed name at all): the subscription is rejected.
    Forged,
    /// Signed with the key, but not a JSON string (a Rails envelope, a number...): only the
    /// app's own code knows what it means.
    Unusual,
}

/// Checks (and, for tests and tools, makes) signed names with one key.
pub struct Verifier {
    key: hmac::Key,
}

impl std::fmt::Debug for Verifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Verifier([FILTERED])")
    }
}

impl Verifier {
    /// A verifier for names signed with `key` (the bytes of the HMAC key).
    pub fn new(key: &[u8]) -> Self {
        Self { key: hmac::Key::new(hmac::HMAC_SHA256, key) }
    }

    /// What `signed` carries. The signature is compared in constant time.
    pub fn verify(&self, signed: &str) -> Verified {
        let Some(split) = signed.len().checked_sub(SIGNATURE_HEX + SEPARATOR.len()) else {
            return Verified::Forged;
        };
        let (Some(encoded), Some(rest)) = (signed.get(..split), signed.get(split..)) else {
            return Verified::Forged;
        };
        let Some(signature) = rest.strip_prefix(SEPARATOR).and_then(decode_hex) else {
            return Verified::Forged;
        };
        if encoded.is_empty() || hmac::verify(&self.key, encoded.as_bytes(), &signature).is_err() {
            return Verified::Forged;
        }
        let json = STANDARD.decode(encoded).or_else(|_| URL_SAFE.decode(encoded));
        match json.ok().and_then(|json| serde_json::from_slice::<serde_json::Value>(&json).ok()) {
            Some(serde_json::Value::String(name)) => Verified::Name(name),
            _ => Verified::Unusual,
        }
    }

    /// `name` signed as Turbo signs it (standard Base64).
    pub fn sign(&self, name: &str) -> String {
        let json = serde_json::Value::from(name).to_string();
        let encoded = STANDARD.encode(json);
        let signature = hex(hmac::sign(&self.key, encoded.as_bytes()).as_ref());
        format!("{encoded}{SEPARATOR}{signature}")
    }
}

/// Base64 with padding, as Ruby's `strict_encode64` writes it; decoding also takes it unpadded.
const LENIENT: GeneralPurposeConfig =
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent);
const STANDARD: GeneralPurpose = GeneralPurpose::new(&alphabet::STANDARD, LENIENT);
const URL_SAFE: GeneralPurpose = GeneralPurpose::new(&alphabet::URL_SAFE, LENIENT);

/// The bytes of lower-case hex text (Ruby's `hexdigest`); `None` for anything else.
fn decode_hex(hex: &str) -> Option<Vec<u8>> {
    let digit = |c: u8| match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        _ => None,
    };
    hex.as_bytes().chunks(2).map(|pair| Some(digit(pair[0])? << 4 | digit(*pair.get(1)?)?)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_what_rails_signs() {
        // ActiveSupport::MessageVerifier.new("s3cr3t", digest: "SHA256", serializer: JSON)
        //   .generate("chat:1"), as Rails 6.1 (Debian 12) prints it.
        let verifier = Verifier::new(b"s3cr3t");
        let signed = "ImNoYXQ6MSI=--8790ba663e276a477b330854d016a3d4c4f86cd2d7821665bf3e2df0c25741aa";
        assert_eq!(verifier.verify(signed), Verified::Name("chat:1".into()));
        assert_eq!(verifier.sign("chat:1"), signed);
    }

    #[test]
    fn refuses_what_it_did_not_sign() {
        let verifier = Verifier::new(b"k");
        let signed = verifier.sign("room");
        assert_eq!(Verifier::new(b"other").verify(&signed), Verified::Forged);
        let (encoded, signature) = signed.split_once("--").unwrap();
        let tampered = format!("{}--{signature}", STANDARD.encode("\"roomX\""));
        assert_eq!(verifier.verify(&tampered), Verified::Forged);
        assert_eq!(verifier.verify(&signature.to_uppercase()), Verified::Forged);
        assert_eq!(verifier.verify(&format!("{encoded}--{}", signature.to_uppercase())), Verified::Forged);
        for junk in ["", "--", "room", &signed[..signed.len() - 1], &format!("{signed}0"), "é--ü"] {
            assert_eq!(verifier.verify(junk), Verified::Forged, "{junk:?}");
        }
    }

    #[test]
    fn reads_anycables_url_safe_names_and_leaves_other_values_to_the_app() {
        let verifier = Verifier::new(b"k");
        let sign = |encoded: &str| {
            format!("{encoded}--{}", hex(hmac::sign(&verifier.key, encoded.as_bytes()).as_ref()))
        };
        // "?>" encodes to "Ij8+Ig==" in the standard alphabet and "Ij8-Ig==" URL-safe.
        assert_eq!(verifier.verify(&sign(&URL_SAFE.encode("\"?>\""))), Verified::Name("?>".into()));
        assert_eq!(verifier.verify(&sign(&STANDARD.encode("42"))), Verified::Unusual);
        assert_eq!(verifier.verify(&sign(&STANDARD.encode(r#"{"_rails":{}}"#))), Verified::Unusual);
        assert_eq!(verifier.verify(&sign("not base64!")), Verified::Unusual);
    }
}
