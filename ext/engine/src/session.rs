//! A session's outgoing side: the bounded queue that the hub, pings and RPC replies push
//! frames into, and the close signal that tells the session's tasks to stop.
//!
//! A [`SessionHandle`] is what other parts of the engine keep to reach a session: cloning it
//! is two reference-count bumps. Pushing never waits: a full queue means the client does not
//! read fast enough, and the session is closed with `too_slow` instead of buffering more.

use std::sync::{Arc, OnceLock};

use tokio::sync::{mpsc, Notify};
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::Utf8Bytes;

use crate::hub::SessionId;
use crate::protocol::DisconnectReason;

/// How many frames may wait for a slow client before it is disconnected.
pub const OUTGOING_QUEUE: usize = 256;

/// Why a session's writer stops.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Close {
    /// Tell the client why (a `disconnect` message) and close the socket.
    Disconnect(DisconnectReason),
    /// The client is gone or finished: send what is queued, then close normally.
    Quiet,
    /// The client broke the WebSocket protocol: close with this code and reason.
    Protocol(CloseCode, &'static str),
    /// The client closed first (or vanished): only the library's close reply is sent.
    ClosedByClient,
}

/// The close signal shared by a session's reader, writer and every handle.
#[derive(Debug, Default)]
pub(crate) struct Control {
    /// Empty while open; the first close request is stored and wins.
    requested: OnceLock<Close>,
    /// Wakes the writer (it owns the socket's sending half).
    writer: Notify,
    /// Wakes the reader (it owns the receiving half and the session state).
    reader: Notify,
}

impl Control {
    /// Requests a close; returns false when one was already requested.
    pub(crate) fn close(&self, close: Close) -> bool {
        let won = self.requested.set(close).is_ok();
        if won {
            self.writer.notify_one();
            self.reader.notify_one();
        }
        won
    }

    /// The close requested so far, if any.
    pub(crate) fn requested(&self) -> Option<Close> {
        self.requested.get().copied()
    }

    /// Resolves once a close is requested (for the writer).
    pub(crate) async fn writer_closed(&self) -> Close {
        loop {
            if let Some(close) = self.requested() {
                return close;
            }
            self.writer.notified().await;
        }
    }

    /// Resolves once a close is requested (for the reader).
    pub(crate) async fn reader_closed(&self) -> Close {
        loop {
            if let Some(close) = self.requested() {
                return close;
            }
            self.reader.notified().await;
        }
    }
}

/// How the rest of the engine reaches one session.
#[derive(Debug, Clone)]
pub struct SessionHandle {
    /// The session's id in this process.
    pub id: SessionId,
    queue: mpsc::Sender<Utf8Bytes>,
    control: Arc<Control>,
}

impl SessionHandle {
    /// A handle plus the receiving end of its queue and the control the session's tasks share.
    pub(crate) fn new(id: SessionId) -> (Self, mpsc::Receiver<Utf8Bytes>, Arc<Control>) {
        let (queue, rx) = mpsc::channel(OUTGOING_QUEUE);
        let control = Arc::new(Control::default());
        (Self { id, queue, control: Arc::clone(&control) }, rx, control)
    }

    /// Queues a frame without waiting; a full queue closes the session with `too_slow`.
    /// Returns whether the frame was queued.
    pub fn send(&self, frame: Utf8Bytes) -> bool {
        match self.queue.try_send(frame) {
            Ok(()) => true,
            Err(mpsc::error::TrySendError::Full(_)) => {
                if self.control.close(Close::Disconnect(DisconnectReason::TooSlow)) {
                    tracing::info!(sid = self.id, "client too slow: outgoing queue full, disconnecting");
                }
                false
            }
            Err(mpsc::error::TrySendError::Closed(_)) => false,
        }
    }

    /// Asks the session to close.
    pub fn close(&self, close: Close) {
        self.control.close(close);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_full_queue_closes_with_too_slow_once() {
        let (handle, mut rx, control) = SessionHandle::new(7);
        for i in 0..OUTGOING_QUEUE {
            assert!(handle.send(Utf8Bytes::from(i.to_string())));
        }
        assert_eq!(control.requested(), None);
        assert!(!handle.send(Utf8Bytes::from_static("overflow")));
        assert_eq!(control.requested(), Some(Close::Disconnect(DisconnectReason::TooSlow)));
        assert_eq!(control.writer_closed().await, Close::Disconnect(DisconnectReason::TooSlow));
        // The first close wins: later requests change nothing.
        handle.close(Close::Quiet);
        assert_eq!(control.reader_closed().await, Close::Disconnect(DisconnectReason::TooSlow));
        assert_eq!(rx.recv().await.as_deref(), Some("0"));
    }
}
