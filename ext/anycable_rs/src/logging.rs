//! Engine log events (`tracing`) written to stderr at the configured level, once per process.

use anycable_engine::config::LogLevel;
use tracing::Level;

pub(crate) fn init(level: LogLevel) {
    let level = match level {
        LogLevel::Debug => Level::DEBUG,
        LogLevel::Info => Level::INFO,
        LogLevel::Warn => Level::WARN,
        LogLevel::Error => Level::ERROR,
    };
    // A second node in the same process (after fork, or in tests) keeps the first subscriber.
    let _ = tracing_subscriber::fmt()
        .with_max_level(level)
        .with_writer(std::io::stderr)
        .with_target(false)
        .with_ansi(false)
        .try_init();
}
