//! The server side of the WebSocket opening handshake on a socket whose HTTP request was
//! already read by the web server (Rack full hijack): we only write the `101` response.

use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;

use crate::protocol::{SUBPROTOCOL, SUBPROTOCOL_EXT};

/// Picks the subprotocol to answer with: AnyCable's extended `actioncable-v1-ext-json` when
/// the client offers it, else `actioncable-v1-json` when offered. Clients that offer nothing
/// get no header (as Action Cable does); a client that offers only protocols we do not speak
/// gets none either, and strict ones give up by themselves.
pub fn negotiate<S: AsRef<str>>(offered: &[S]) -> Option<&'static str> {
    [SUBPROTOCOL_EXT, SUBPROTOCOL].into_iter().find(|ours| offered.iter().any(|p| p.as_ref().trim() == *ours))
}

/// The `101 Switching Protocols` response for a request with this `Sec-WebSocket-Key`.
pub fn response(key: &str, protocol: Option<&str>) -> String {
    let mut response = format!(
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: {}\r\n",
        derive_accept_key(key.trim().as_bytes())
    );
    if let Some(protocol) = protocol {
        response.push_str("Sec-WebSocket-Protocol: ");
        response.push_str(protocol);
        response.push_str("\r\n");
    }
    response.push_str("\r\n");
    response
}

/// Writes the response; the socket then speaks WebSocket frames.
pub async fn accept(stream: &mut TcpStream, key: &str, protocol: Option<&str>) -> std::io::Result<()> {
    stream.write_all(response(key, protocol).as_bytes()).await?;
    stream.flush().await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_with_the_rfc_accept_key_and_the_action_cable_protocol() {
        // The example of RFC 6455 §1.3.
        let response = response(
            "dGhlIHNhbXBsZSBub25jZQ==",
            negotiate(&["actioncable-v1-json", "actioncable-unsupported"]),
        );
        assert!(response.starts_with("HTTP/1.1 101 Switching Protocols\r\n"));
        assert!(response.contains("Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"));
        assert!(response.contains("Sec-WebSocket-Protocol: actioncable-v1-json\r\n"));
        assert!(response.ends_with("\r\n\r\n"));
    }

    #[test]
    fn the_extended_protocol_wins_when_offered() {
        assert_eq!(negotiate(&["actioncable-v1-json", "actioncable-v1-ext-json"]), Some(SUBPROTOCOL_EXT));
        assert_eq!(negotiate(&["actioncable-v1-ext-json"]), Some(SUBPROTOCOL_EXT));
    }

    #[test]
    fn offers_without_action_cable_get_no_protocol() {
        assert_eq!(negotiate::<&str>(&[]), None);
        assert_eq!(negotiate(&["actioncable-unsupported"]), None);
        assert!(!response("k", None).contains("Sec-WebSocket-Protocol"));
    }
}
