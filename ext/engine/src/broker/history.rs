//! What a history request asks ([`Since`]) and why it may not be answered ([`HistoryError`]).

/// Why a history request cannot be answered; the client gets `reject_history`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HistoryError {
    /// The position is of another epoch (another broker generation, e.g. another process).
    Epoch,
    /// Messages after the position are no longer kept (expired, or past `history_limit`).
    Gone,
}

impl std::fmt::Display for HistoryError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Epoch => "the position is of another epoch",
            Self::Gone => "messages after the position are no longer kept",
        })
    }
}

impl std::error::Error for HistoryError {}

/// What a client already has of one stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Since<'a> {
    /// Messages after this offset of this epoch.
    Offset {
        /// The broker generation of `offset`.
        epoch: &'a str,
        /// The last offset the client received.
        offset: u64,
    },
    /// Messages published at or after this Unix second.
    Time(u64),
}
