//! AnyCable's JWT identification tokens: HS256 JWTs whose `ext` claim holds the connection's
//! identifiers JSON and whose `exp` claim (Unix seconds), when present, ends them
//! (docs/architecture.md §6.8). Only HS256 is accepted; the signature is checked in constant
//! time before any claim is read.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use ring::hmac;
use serde::Deserialize;

/// What a token turned out to be.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Token {
    /// Signed with the key and not expired: the identifiers JSON it carries.
    Valid(String),
    /// Signed with the key, but its `exp` has passed.
    Expired,
    /// Not a token signed with the key (or not HS256, or without identifiers).
    Invalid,
}

#[derive(Deserialize)]
struct Header<'a> {
    #[serde(borrow)]
    alg: &'a str,
}

#[derive(Deserialize)]
struct Claims {
    ext: Option<String>,
    exp: Option<f64>,
}

/// Checks (and, for tests and tools, makes) tokens with one key.
pub struct JwtKey {
    key: hmac::Key,
}

impl std::fmt::Debug for JwtKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("JwtKey([FILTERED])")
    }
}

impl JwtKey {
    /// A key for tokens signed with `secret` (`jwt_secret`).
    pub fn new(secret: &[u8]) -> Self {
        Self { key: hmac::Key::new(hmac::HMAC_SHA256, secret) }
    }

    /// What `token` is at Unix time `now` (seconds).
    pub fn verify(&self, token: &str, now: u64) -> Token {
        let mut parts = token.split('.');
        let (Some(header), Some(claims), Some(signature), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Token::Invalid;
        };
        let Ok(signature) = URL_SAFE_NO_PAD.decode(signature) else { return Token::Invalid };
        let signed = &token[..header.len() + 1 + claims.len()];
        if hmac::verify(&self.key, signed.as_bytes(), &signature).is_err() {
            return Token::Invalid;
        }
        let Some(header) = URL_SAFE_NO_PAD.decode(header).ok() else { return Token::Invalid };
        if serde_json::from_slice::<Header<'_>>(&header).map_or(true, |h| h.alg != "HS256") {
            return Token::Invalid;
        }
        let Some(claims) = URL_SAFE_NO_PAD.decode(claims).ok() else { return Token::Invalid };
        let Ok(claims) = serde_json::from_slice::<Claims>(&claims) else { return Token::Invalid };
        match (claims.ext, claims.exp) {
            (_, Some(exp)) if now as f64 >= exp => Token::Expired,
            (Some(ext), _) => Token::Valid(ext),
            (None, _) => Token::Invalid,
        }
    }

    /// A token carrying `identifiers` (a JSON object's text), expiring at `exp` when given.
    pub fn sign(&self, identifiers: &str, exp: Option<u64>) -> String {
        let header = URL_SAFE_NO_PAD.encode(r#"{"alg":"HS256"}"#);
        // In AnyCable's order: `ext`, then `exp`.
        let ext = serde_json::Value::from(identifiers);
        let claims = match exp {
            Some(exp) => format!(r#"{{"ext":{ext},"exp":{exp}}}"#),
            None => format!(r#"{{"ext":{ext}}}"#),
        };
        let signed = format!("{header}.{}", URL_SAFE_NO_PAD.encode(claims));
        let signature = URL_SAFE_NO_PAD.encode(hmac::sign(&self.key, signed.as_bytes()));
        format!("{signed}.{signature}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_what_anycable_signs() {
        // AnyCable::JWT::BasicImpl.encode({ext: '{"user":"alice"}', exp: 2000000000}, "s3cr3t")
        // with anycable-core 1.5.1 (../shared/vendor/anycable-rb-1.5.1).
        let anycable =
            "eyJhbGciOiJIUzI1NiJ9.eyJleHQiOiJ7XCJ1c2VyXCI6XCJhbGljZVwifSIsImV4cCI6MjAwMDAwMDAwMH0.\
                        yfuddlvjekQeO2zxEr2kyL_Q3gO2wvnCJIU_I9X2BbQ";
        let key = JwtKey::new(b"s3cr3t");
        assert_eq!(key.verify(anycable, 1_900_000_000), Token::Valid(r#"{"user":"alice"}"#.into()));
        assert_eq!(
            key.verify(anycable, 2_000_000_000),
            Token::Expired,
            "exp is the first second it is invalid"
        );
        assert_eq!(key.sign(r#"{"user":"alice"}"#, Some(2_000_000_000)), anycable);
        let forever = key.sign("{}", None);
        assert_eq!(key.verify(&forever, u64::MAX / 2), Token::Valid("{}".into()));
    }

    #[test]
    fn refuses_other_keys_algorithms_and_shapes() {
        let key = JwtKey::new(b"k");
        let token = key.sign(r#"{"user":"a"}"#, None);
        assert_eq!(JwtKey::new(b"other").verify(&token, 0), Token::Invalid);
        let (signed, _) = token.rsplit_once('.').unwrap();
        let (_, claims) = signed.split_once('.').unwrap();
        let none = format!("{}.{claims}.", URL_SAFE_NO_PAD.encode(r#"{"alg":"none"}"#));
        assert_eq!(key.verify(&none, 0), Token::Invalid);
        // Correctly signed, but another algorithm named, or no identifiers.
        let sign = |header: &str, claims: &str| {
            let signed = format!("{}.{}", URL_SAFE_NO_PAD.encode(header), URL_SAFE_NO_PAD.encode(claims));
            format!("{signed}.{}", URL_SAFE_NO_PAD.encode(hmac::sign(&key.key, signed.as_bytes())))
        };
        assert_eq!(key.verify(&sign(r#"{"alg":"HS512"}"#, r#"{"ext":"{}"}"#), 0), Token::Invalid);
        assert_eq!(key.verify(&sign(r#"{"alg":"HS256"}"#, r#"{"sub":"1"}"#), 0), Token::Invalid);
        assert_eq!(key.verify(&sign(r#"{"alg":"HS256"}"#, r#"{"ext":"{}","exp":5}"#), 5), Token::Expired);
        for junk in ["", "a.b", "a.b.c.d", &format!("{token}x"), "..", "é.ü.ö"] {
            assert_eq!(key.verify(junk, 0), Token::Invalid, "{junk:?}");
        }
    }
}
