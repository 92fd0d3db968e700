//! A session's outgoing side: the queue that the hub, pings and RPC replies push frames
//! into, and the close signal that tells the session's tasks to stop.
//!
//! A [`SessionHandle`] is what other parts of the engine keep to reach a session: cloning it
//! is one reference-count bump. Pushing never waits. The queue is bounded in bytes, not
//! frames (`max_outgoing_size`): a burst of any number of frames within the budget is
//! delivered, and only a client with more than the budget still unwritten is closed with
//! `too_slow` (the writer closes one that takes no bytes for `write_timeout`, see
//! [`super::writer`]).
//!
//! The queue is a plain `VecDeque` behind a mutex rather than a tokio channel: an idle
//! session's queue then allocates nothing, where a bounded tokio channel allocates its first
//! 32-slot block and its cache-padded state up front (about 1.4 KiB per connection, measured
//! with bench/compare at 10,000 clients). The writer takes every queued frame at once by
//! swapping in its own emptied buffer, so neither buffer keeps a burst's peak for long: both
//! are freed past [`KEPT_SLOTS`]. The lock is held for one push or swap, never across an
//! `.await`.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};

use bytes::Bytes;
use tokio::sync::Notify;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::Utf8Bytes;

use crate::hub::{SessionId, Subscriber};
use crate::protocol::DisconnectReason;

/// Slots a drained queue buffer may keep; a bigger one (left by a burst) is freed.
pub(crate) const KEPT_SLOTS: usize = 32;

/// Why a session's writer stops.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Close {
    /// Tell the client why (a `disconnect` message) and close the socket.
    Disconnect(DisconnectReason),
    /// The client is gone or finished: send what is queued, then close normally.
    Quiet,
    /// The client broke the WebSocket protocol: close with this code and reason.
    Protocol(CloseCode, &'static str),
    /// The client closed first (or vanished): only the close reply is sent.
    ClosedByClient,
    /// The server restarts and its session is kept where the next process finds it (`broker:
    /// redis`, an extended client): a close with 1012 (service restart) and no `disconnect`
    /// message, on which `@anycable/core` forgets its sid, so that the client comes back with
    /// it and is restored.
    Restart,
}

/// One frame waiting for the writer.
#[derive(Debug, Clone)]
pub(crate) enum Outbound {
    /// A text message: the writer frames it (the payload is shared, never copied).
    Text(Utf8Bytes),
    /// A control frame already encoded (a pong or close reply of the WebSocket library).
    Control(Bytes),
}

impl Outbound {
    /// The bytes this frame counts against the budget (its payload).
    pub(crate) fn len(&self) -> usize {
        match self {
            Self::Text(text) => text.len(),
            Self::Control(bytes) => bytes.len(),
        }
    }
}

/// What a session's reader, writer and every handle share: the outgoing queue and the close
/// signal.
#[derive(Debug)]
pub(crate) struct Control {
    /// Frames waiting for the writer.
    outgoing: Mutex<Outgoing>,
    /// Most bytes that may wait (`max_outgoing_size`).
    budget: usize,
    /// Wakes the writer when a frame is queued.
    queued: Notify,
    /// Empty while open; the first close request is stored and wins.
    requested: OnceLock<Close>,
    /// Wakes the writer (it owns the socket's sending half).
    writer: Notify,
    /// Wakes the reader (it owns the receiving half and the session state).
    reader: Notify,
}

/// The outgoing queue's contents.
#[derive(Debug, Default)]
struct Outgoing {
    frames: VecDeque<Outbound>,
    /// Bytes queued or taken by the writer and not yet written.
    bytes: usize,
    /// Set when the writer stopped: nothing will read the queue again.
    finished: bool,
}

/// Why a frame was not queued.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Refused {
    Full,
    Finished,
}

impl Control {
    fn new(budget: usize) -> Self {
        Self {
            outgoing: Mutex::default(),
            budget,
            queued: Notify::new(),
            requested: OnceLock::new(),
            writer: Notify::new(),
            reader: Notify::new(),
        }
    }

    fn outgoing(&self) -> MutexGuard<'_, Outgoing> {
        // Poisoning only means a panic elsewhere while held; a push/swap leaves the queue sound.
        self.outgoing.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Queues a frame. It is refused when the bytes still unwritten and it would pass the
    /// budget; a frame bigger than the whole budget is taken only into an empty queue. Control
    /// frames count too: a client that pings without reading cannot grow the queue either.
    fn push(&self, frame: Outbound) -> Result<(), Refused> {
        {
            let mut outgoing = self.outgoing();
            if outgoing.finished {
                return Err(Refused::Finished);
            }
            let len = frame.len();
            if outgoing.bytes > 0 && outgoing.bytes + len > self.budget {
                return Err(Refused::Full);
            }
            outgoing.bytes += len;
            outgoing.frames.push_back(frame);
        }
        self.queued.notify_one();
        Ok(())
    }

    /// Queues an encoded control frame (for the reader's WebSocket library); false when it was
    /// not queued, and a queue over its budget closes the session with `too_slow`.
    pub(crate) fn push_control(&self, frame: Bytes) -> bool {
        self.queue(Outbound::Control(frame))
    }

    /// Queues `frame`; over the budget the session is closed with `too_slow`.
    fn queue(&self, frame: Outbound) -> bool {
        match self.push(frame) {
            Ok(()) => true,
            Err(Refused::Full) => {
                // Logged (once, with the client's sid) by the connection's task as it ends.
                self.close(Close::Disconnect(DisconnectReason::TooSlow));
                false
            }
            Err(Refused::Finished) => false,
        }
    }

    /// Moves every queued frame into `batch` (which must be empty), handing the queue
    /// `batch`'s buffer in exchange; a buffer grown past [`KEPT_SLOTS`] is freed instead.
    pub(crate) fn take(&self, batch: &mut VecDeque<Outbound>) {
        debug_assert!(batch.is_empty());
        if batch.capacity() > KEPT_SLOTS {
            *batch = VecDeque::new();
        }
        std::mem::swap(&mut self.outgoing().frames, batch);
    }

    /// The writer wrote `len` bytes of taken frames' payloads: they no longer count.
    pub(crate) fn written(&self, len: usize) {
        let mut outgoing = self.outgoing();
        outgoing.bytes = outgoing.bytes.saturating_sub(len);
    }

    /// Waits until a frame is queued (for the writer).
    pub(crate) async fn ready(&self) {
        loop {
            if !self.outgoing().frames.is_empty() {
                return;
            }
            // A push between the check and this wait leaves a permit: no wake-up is lost.
            self.queued.notified().await;
        }
    }

    /// The writer stopped: later pushes are refused and queued frames are dropped (with their
    /// memory).
    pub(crate) fn finish_writing(&self) {
        let mut outgoing = self.outgoing();
        outgoing.finished = true;
        outgoing.frames = VecDeque::new();
        outgoing.bytes = 0;
    }

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
    control: Arc<Control>,
}

impl SessionHandle {
    /// A handle plus the control (queue and close signal) the session's tasks share;
    /// `budget` is `max_outgoing_size`.
    pub(crate) fn new(id: SessionId, budget: usize) -> (Self, Arc<Control>) {
        let control = Arc::new(Control::new(budget));
        (Self { id, control: Arc::clone(&control) }, control)
    }

    /// Asks the session to close.
    pub fn close(&self, close: Close) {
        self.control.close(close);
    }
}

impl Subscriber for SessionHandle {
    fn id(&self) -> SessionId {
        self.id
    }

    /// Queues a frame without waiting; a queue over its byte budget closes the session with
    /// `too_slow`. Returns whether the frame was queued.
    fn send(&self, frame: Utf8Bytes) -> bool {
        self.control.queue(Outbound::Text(frame))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn texts(batch: &VecDeque<Outbound>) -> Vec<String> {
        batch
            .iter()
            .map(|frame| match frame {
                Outbound::Text(text) => text.to_string(),
                Outbound::Control(bytes) => format!("control {bytes:?}"),
            })
            .collect()
    }

    #[tokio::test]
    async fn a_burst_within_the_byte_budget_is_queued_and_one_past_it_closes_with_too_slow_once() {
        let (handle, control) = SessionHandle::new(7, 10_000);
        for _ in 0..1_000 {
            assert!(handle.send(Utf8Bytes::from_static("0123456789"))); // 10 bytes each: all fit
        }
        assert_eq!(control.requested(), None);
        assert!(!handle.send(Utf8Bytes::from_static("overflow")));
        assert_eq!(control.requested(), Some(Close::Disconnect(DisconnectReason::TooSlow)));
        assert_eq!(control.writer_closed().await, Close::Disconnect(DisconnectReason::TooSlow));
        // The first close wins: later requests change nothing.
        handle.close(Close::Quiet);
        assert_eq!(control.reader_closed().await, Close::Disconnect(DisconnectReason::TooSlow));
        assert!(!control.push_control(Bytes::from_static(b"\x8a\x00")), "control frames count too");
        let mut batch = VecDeque::new();
        control.take(&mut batch);
        assert_eq!(batch.len(), 1_000);
    }

    #[test]
    fn taken_bytes_count_until_written_and_a_frame_bigger_than_the_budget_needs_an_empty_queue() {
        let (handle, control) = SessionHandle::new(8, 100);
        let big = Utf8Bytes::from("x".repeat(150));
        assert!(handle.send(big.clone()), "an empty queue takes a frame over the budget");
        let mut batch = VecDeque::new();
        control.take(&mut batch);
        assert!(!handle.send(Utf8Bytes::from_static("a")), "taken but unwritten bytes still count");
        control.written(150);
        let (handle, control) = SessionHandle::new(9, 100);
        assert!(handle.send(Utf8Bytes::from("y".repeat(60))));
        control.written(60);
        assert!(handle.send(big), "written bytes no longer count");
        batch.clear();
        control.take(&mut batch);
        assert_eq!(texts(&batch), ["y".repeat(60), "x".repeat(150)]);
    }

    #[test]
    fn buffers_grown_by_a_burst_are_freed_when_drained() {
        let (handle, control) = SessionHandle::new(10, 1 << 20);
        for i in 0..1_000 {
            assert!(handle.send(Utf8Bytes::from(i.to_string())));
        }
        let mut batch = VecDeque::new();
        control.take(&mut batch);
        assert_eq!(batch.len(), 1_000);
        assert!(batch.capacity() >= 1_000);
        batch.clear();
        control.take(&mut batch); // the writer comes back for more: its big buffer is freed
        assert_eq!(batch.capacity(), 0);
        assert!(control.outgoing().frames.capacity() <= KEPT_SLOTS);
    }

    #[tokio::test]
    async fn the_writer_wakes_for_a_frame_and_a_finished_queue_refuses_more() {
        let (handle, control) = SessionHandle::new(8, 1 << 20);
        let waiting = tokio::spawn({
            let control = Arc::clone(&control);
            async move { control.ready().await }
        });
        tokio::task::yield_now().await;
        assert!(handle.send(Utf8Bytes::from_static("hello")));
        waiting.await.unwrap();

        control.finish_writing();
        let mut batch = VecDeque::new();
        control.take(&mut batch);
        assert!(batch.is_empty(), "queued frames are dropped");
        assert!(!handle.send(Utf8Bytes::from_static("late")));
        assert!(!control.push_control(Bytes::from_static(b"\x8a\x00")));
        assert_eq!(control.requested(), None, "a finished queue is not a slow client");
    }
}
