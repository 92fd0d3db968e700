//! Connections identified without the app: AnyCable's JWT identification. A client that
//! brings a token (`jid` query parameter or `X-JID` header) signed with `jwt_secret` is
//! welcomed with the identifiers the token carries and no `Connect` call; an expired one is
//! told `token_expired`, a forged one `unauthorized` (docs/architecture.md §6.8).

mod controller;
pub mod jwt;

pub use controller::JwtIdentification;
pub use jwt::{JwtKey, Token};
