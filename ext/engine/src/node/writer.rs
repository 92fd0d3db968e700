//! A session's writer task: the only code that writes to its socket.
//!
//! It writes every queued frame as soon as it can (the library's write buffer is off, to keep
//! idle connections small) and, when a close is requested, says goodbye within a bounded
//! time: the frame being written, queued frames, the `disconnect` message, the close frame. A
//! client too slow to read or that broke the protocol gets no farewell beyond the close.

use std::time::Duration;

use futures_util::stream::SplitSink;
use futures_util::SinkExt;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::WebSocketStream;

use super::session::{Close, Control};
use crate::protocol::{server, DisconnectReason};

/// The sending half of a session's socket.
pub(crate) type Sink = SplitSink<WebSocketStream<TcpStream>, Message>;

/// How long a farewell (queued frames, disconnect, close frame) may take.
const FAREWELL: Duration = Duration::from_secs(2);

/// Runs until a close is requested or the socket fails, then says goodbye.
pub(crate) async fn run(mut sink: Sink, control: &Control) {
    write(&mut sink, control).await;
    control.finish_writing();
}

async fn write(sink: &mut Sink, control: &Control) {
    let close = loop {
        let first = tokio::select! {
            biased;
            close = control.writer_closed() => break close,
            frame = control.next() => frame,
        };
        let batch = async {
            sink.feed(Message::Text(first)).await?;
            while let Some(frame) = control.try_next() {
                sink.feed(Message::Text(frame)).await?;
            }
            sink.flush().await
        };
        tokio::pin!(batch);
        let written = tokio::select! {
            biased;
            close = control.writer_closed() => {
                if !abandons_writes(close) {
                    // Finish what is being written (bounded) so no queued frame is skipped.
                    let _ = tokio::time::timeout(FAREWELL, &mut batch).await;
                }
                break close;
            }
            written = &mut batch => written,
        };
        if written.is_err() {
            control.close(Close::Quiet);
            return;
        }
    };
    // Bounded: a client that does not read must not keep the task (or a shutdown) waiting.
    let _ = tokio::time::timeout(FAREWELL, farewell(sink, control, close)).await;
}

/// Whether a close gives up on frames still to be written.
fn abandons_writes(close: Close) -> bool {
    matches!(
        close,
        Close::Disconnect(DisconnectReason::TooSlow) | Close::Protocol(..) | Close::ClosedByClient
    )
}

async fn farewell(sink: &mut Sink, control: &Control, close: Close) {
    if close == Close::ClosedByClient {
        // Sends the close reply the library queued when it read the client's close frame.
        let _ = sink.close().await;
        return;
    }
    if !abandons_writes(close) {
        while let Some(frame) = control.try_next() {
            if sink.feed(Message::Text(frame)).await.is_err() {
                break;
            }
        }
    }
    let (code, reason) = match close {
        Close::Disconnect(reason) => {
            let _ = sink.feed(Message::Text(server::disconnect(reason).into())).await;
            let code =
                if reason == DisconnectReason::ServerRestart { CloseCode::Away } else { CloseCode::Normal };
            (code, "")
        }
        Close::Quiet | Close::ClosedByClient => (CloseCode::Normal, ""),
        Close::Protocol(code, reason) => (code, reason),
    };
    let _ = sink.feed(Message::Close(Some(CloseFrame { code, reason: reason.into() }))).await;
    let _ = sink.close().await;
}
