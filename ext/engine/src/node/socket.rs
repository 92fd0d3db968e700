//! A session's socket as its two tasks use it. The TCP stream is split: the writer task owns
//! the sending half outright ([`super::writer`]); the reader task runs the WebSocket library
//! over [`Incoming`], which reads from the receiving half and turns whatever the library
//! writes (its pong replies to client pings, its close reply) into control frames on the
//! session's queue, so the writer stays the only code writing to the socket.
//!
//! Adoption also sets `TCP_USER_TIMEOUT` to `write_timeout`: Action Cable clients never send
//! on their own, but the server's pings leave data unacknowledged on a dead link, so the
//! kernel ends a vanished peer's connection within about `ping_interval + write_timeout`
//! instead of its retransmission timeout (about 15 minutes).

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::tcp::OwnedReadHalf;
use tokio::net::TcpStream;

use super::session::Control;

/// The receiving half (a socket's, or bytes in memory for `super::fuzzing`), plus the session
/// queue the library's replies go to.
pub(crate) struct Incoming<R = OwnedReadHalf> {
    read: R,
    control: Arc<Control>,
}

impl<R> Incoming<R> {
    pub(crate) fn new(read: R, control: Arc<Control>) -> Self {
        Self { read, control }
    }
}

impl<R: AsyncRead + Unpin> AsyncRead for Incoming<R> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.read).poll_read(cx, buf)
    }
}

impl<R: Unpin> AsyncWrite for Incoming<R> {
    /// The library writes whole frames (its write buffer is off): each write is queued as
    /// one control frame.
    fn poll_write(self: Pin<&mut Self>, _cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        if self.control.push_control(Bytes::copy_from_slice(buf)) {
            Poll::Ready(Ok(buf.len()))
        } else {
            Poll::Ready(Err(io::ErrorKind::BrokenPipe.into()))
        }
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(())) // the writer closes the socket
    }
}

/// Sets the socket options of an adopted connection: no Nagle delay, and `TCP_USER_TIMEOUT`
/// (Linux) so a dead peer is dropped once sent data stays unacknowledged for `timeout`.
pub(crate) fn tune(stream: &TcpStream, timeout: Duration) {
    let _ = stream.set_nodelay(true);
    #[cfg(any(target_os = "linux", target_os = "android"))]
    if let Err(error) = socket2::SockRef::from(stream).set_tcp_user_timeout(Some(timeout)) {
        tracing::debug!(%error, "cannot set TCP_USER_TIMEOUT");
    }
    #[cfg(not(any(target_os = "linux", target_os = "android")))]
    let _ = timeout;
}

/// The `TCP_USER_TIMEOUT` of `stream` (for tests).
#[cfg(all(test, any(target_os = "linux", target_os = "android")))]
pub(crate) fn user_timeout(stream: &TcpStream) -> Option<Duration> {
    socket2::SockRef::from(stream).tcp_user_timeout().ok().flatten()
}

#[cfg(all(test, any(target_os = "linux", target_os = "android")))]
mod tests {
    use super::*;

    #[tokio::test]
    async fn adopted_sockets_get_tcp_user_timeout() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let client = TcpStream::connect(listener.local_addr().unwrap()).await.unwrap();
        let (server, _) = listener.accept().await.unwrap();
        tune(&server, Duration::from_secs(7));
        assert_eq!(user_timeout(&server), Some(Duration::from_secs(7)));
        assert_eq!(user_timeout(&client), None);
    }
}
