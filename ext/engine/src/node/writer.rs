//! A session's writer task: the only code that writes to its socket.
//!
//! It takes every queued frame at once and writes them with vectored writes, each frame's
//! header from the stack and its payload straight from the shared bytes every recipient of a
//! broadcast holds, so no per-connection buffer grows with payload size or burst length. A
//! client that takes no bytes for `write_timeout` while frames wait is closed as `too_slow`.
//! When a close is requested, it says goodbye within a bounded time: the frames being
//! written, queued frames, the `disconnect` message, the close frame. A client too slow to
//! read or that broke the protocol gets no farewell beyond the close.

use std::collections::VecDeque;
use std::future::poll_fn;
use std::io::{self, IoSlice};
use std::pin::Pin;
use std::time::Duration;

use tokio::io::{AsyncWrite, AsyncWriteExt};
use tokio::net::tcp::OwnedWriteHalf;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::Utf8Bytes;

use super::frame::{self, MAX_HEADER};
use super::session::{Close, Control, Outbound};
use crate::protocol::{server, DisconnectReason};

/// How long a farewell (queued frames, disconnect, close frame) may take.
const FAREWELL: Duration = Duration::from_secs(2);

/// Frames gathered into one vectored write (two slices each, well under `IOV_MAX`).
const FRAMES_PER_WRITE: usize = 32;

/// Why writing stopped early.
enum Stopped {
    /// No byte was taken for `write_timeout`.
    Stalled,
    /// The socket failed.
    Failed,
}

/// Frames taken from the queue and how far the first one is written.
struct Batch {
    frames: VecDeque<Outbound>,
    /// Bytes of the first frame (header and payload) already written.
    offset: usize,
}

/// Runs until a close is requested or the socket fails, then says goodbye.
pub(crate) async fn run(mut socket: OwnedWriteHalf, control: &Control, write_timeout: Duration) {
    let mut batch = Batch { frames: VecDeque::new(), offset: 0 };
    write(&mut socket, &mut batch, control, write_timeout).await;
    control.finish_writing();
}

async fn write(socket: &mut OwnedWriteHalf, batch: &mut Batch, control: &Control, write_timeout: Duration) {
    let close = loop {
        tokio::select! {
            biased;
            close = control.writer_closed() => break close,
            () = control.ready() => {}
        }
        control.take(&mut batch.frames);
        let written = {
            let writing = write_batch(socket, batch, control, write_timeout);
            tokio::pin!(writing);
            tokio::select! {
                biased;
                close = control.writer_closed() => {
                    if !abandons_writes(close) {
                        // Finish what is being written (bounded) so no queued frame is skipped.
                        let _ = tokio::time::timeout(FAREWELL, &mut writing).await;
                    }
                    break close;
                }
                written = &mut writing => written,
            }
        };
        match written {
            Ok(()) => {}
            Err(Stopped::Stalled) => {
                control.close(Close::Disconnect(DisconnectReason::TooSlow));
                break Close::Disconnect(DisconnectReason::TooSlow);
            }
            Err(Stopped::Failed) => {
                control.close(Close::Quiet);
                return;
            }
        }
    };
    // Bounded: a client that does not read must not keep the task (or a shutdown) waiting.
    let _ = tokio::time::timeout(FAREWELL, farewell(socket, batch, control, close)).await;
}

/// Whether a close gives up on frames still to be written.
fn abandons_writes(close: Close) -> bool {
    matches!(
        close,
        Close::Disconnect(DisconnectReason::TooSlow) | Close::Protocol(..) | Close::ClosedByClient
    )
}

/// Writes every frame of `batch`; each write must take some bytes within `write_timeout`.
async fn write_batch(
    socket: &mut OwnedWriteHalf,
    batch: &mut Batch,
    control: &Control,
    write_timeout: Duration,
) -> Result<(), Stopped> {
    while !batch.frames.is_empty() {
        let wrote = poll_fn(|cx| {
            let mut headers = [[0u8; MAX_HEADER]; FRAMES_PER_WRITE];
            let mut slices = [IoSlice::new(&[]); 2 * FRAMES_PER_WRITE];
            let count = gather(&batch.frames, batch.offset, &mut headers, &mut slices);
            Pin::new(&mut *socket).poll_write_vectored(cx, &slices[..count])
        });
        match tokio::time::timeout(write_timeout, wrote).await {
            Err(_) => return Err(Stopped::Stalled),
            Ok(Ok(0) | Err(_)) => return Err(Stopped::Failed),
            Ok(Ok(n)) => advance(batch, n, control),
        }
    }
    Ok(())
}

/// Fills `slices` with the unwritten bytes of the first frames (headers encoded into
/// `headers`); returns how many slices were filled.
fn gather<'a>(
    frames: &'a VecDeque<Outbound>,
    offset: usize,
    headers: &'a mut [[u8; MAX_HEADER]; FRAMES_PER_WRITE],
    slices: &mut [IoSlice<'a>; 2 * FRAMES_PER_WRITE],
) -> usize {
    let mut count = 0;
    let mut skip = offset;
    for (frame, header) in frames.iter().zip(headers.iter_mut()) {
        let (header, payload): (&[u8], &[u8]) = match frame {
            Outbound::Text(text) => {
                let n = frame::text_header(text.len(), header);
                (&header[..n], text.as_bytes())
            }
            Outbound::Control(bytes) => (&[], bytes),
        };
        for part in [header, payload] {
            if skip >= part.len() {
                skip -= part.len();
            } else {
                slices[count] = IoSlice::new(&part[skip..]);
                skip = 0;
                count += 1;
            }
        }
    }
    count
}

/// Accounts for `n` written bytes: drops the frames they completed and tells the queue.
fn advance(batch: &mut Batch, mut n: usize, control: &Control) {
    let mut done = 0;
    while let Some(frame) = batch.frames.front() {
        let size = wire_size(frame);
        if batch.offset + n < size {
            batch.offset += n;
            break;
        }
        n -= size - batch.offset;
        batch.offset = 0;
        done += frame.len();
        batch.frames.pop_front();
    }
    if done > 0 {
        control.written(done);
    }
}

/// A frame's bytes on the wire: header and payload.
fn wire_size(frame: &Outbound) -> usize {
    match frame {
        Outbound::Text(text) => frame::text_header(text.len(), &mut [0; MAX_HEADER]) + text.len(),
        Outbound::Control(bytes) => bytes.len(),
    }
}

async fn farewell(socket: &mut OwnedWriteHalf, batch: &mut Batch, control: &Control, close: Close) {
    if abandons_writes(close) && batch.offset > 0 {
        return shutdown(socket).await; // the rest of a torn message: nothing a client could parse
    }
    let mut queued = VecDeque::new();
    control.take(&mut queued);
    batch.frames.append(&mut queued);
    if abandons_writes(close) {
        // Only the library's replies (the client's close answered) go out; messages are dropped.
        batch.frames.retain(|frame| matches!(frame, Outbound::Control(_)));
    }
    let (code, reason) = match close {
        Close::Disconnect(reason) => {
            batch.frames.push_back(Outbound::Text(Utf8Bytes::from(server::disconnect(reason))));
            let code =
                if reason == DisconnectReason::ServerRestart { CloseCode::Away } else { CloseCode::Normal };
            (Some(code), "")
        }
        Close::Quiet => (Some(CloseCode::Normal), ""),
        Close::Restart => (Some(CloseCode::Restart), "server_restart"),
        Close::Protocol(code, reason) => (Some(code), reason),
        Close::ClosedByClient => (None, ""), // the library's reply is the close frame
    };
    if let Some(code) = code {
        batch.frames.push_back(Outbound::Control(frame::close(code, reason)));
    }
    if write_batch(socket, batch, control, FAREWELL).await.is_ok() {
        shutdown(socket).await;
    }
}

/// Sends FIN after the last frame.
async fn shutdown(socket: &mut OwnedWriteHalf) {
    let _: io::Result<()> = socket.shutdown().await;
}
