//! The engine's log lines for Ruby's logger: `AnyCable::RS::Native.take_log_lines` and
//! `.wake_log_lines`.
//!
//! Every node (and gRPC server) installs the engine's subscriber at its `log_level`
//! ([`anycable_engine::logging::install`]: once per process, the level on every call). The
//! lines wait in this process's bounded queue; the Ruby thread of `AnyCable::RS::LogDrain`
//! takes them, waiting WITHOUT the GVL, and passes them to `AnyCable::RS.logger`. Tokio
//! threads never wait for Ruby: a full queue drops lines and the next take reports how many.
//! After fork the child gets a queue of its own (the engine looks it up by pid), and Ruby
//! starts a drain thread per pid.

use std::time::Duration;

use anycable_engine::config::LogLevel;
use anycable_engine::logging::{self, Line};
use magnus::{function, Error, RArray, RModule, Ruby};
use tracing::Level;

use crate::gvl::without_gvl;

/// Longest single wait without the GVL that a caller may ask for.
const LONGEST_WAIT: f64 = 60.0;

/// Sends the engine's log events at `level` and above to the queue `take_log_lines` reads.
pub(crate) fn init(level: LogLevel) {
    logging::install(level);
}

/// Ruby `Logger` severities: DEBUG 0, INFO 1, WARN 2, ERROR 3.
fn severity(level: Level) -> i64 {
    match level {
        Level::ERROR => 3,
        Level::WARN => 2,
        Level::INFO => 1,
        _ => 0,
    }
}

/// `Native.take_log_lines(max, wait)`: up to `max` engine log lines as `[severity, message]`
/// pairs (severity as Ruby's `Logger` numbers it), waiting at most `wait` seconds for the
/// first; an empty Array when none came or `wake_log_lines` was called. Lines taken as an
/// interrupt (`Thread#kill`, `Thread#raise`) arrives are put back before it is raised.
fn take_log_lines(ruby: &Ruby, max: usize, wait: f64) -> Result<RArray, Error> {
    let queue = logging::queue();
    let wait = Duration::from_secs_f64(if wait.is_finite() { wait.clamp(0.0, LONGEST_WAIT) } else { 0.0 });
    let outcome = without_gvl(|| queue.take(max, wait), || queue.wake());
    if let Some(error) = outcome.interrupt {
        if let Some(lines) = outcome.value {
            queue.put_back(lines);
        }
        return Err(error);
    }
    let lines: Vec<Line> = outcome.value.unwrap_or_default();
    let array = ruby.ary_new_capa(lines.len());
    for line in lines {
        array.push((severity(line.level), line.message))?;
    }
    Ok(array)
}

/// `Native.wake_log_lines`: makes a waiting `take_log_lines` return now (or the next one
/// return at once), e.g. to stop the drain thread promptly.
fn wake_log_lines() {
    logging::queue().wake();
}

pub(crate) fn init_ruby(native: RModule) -> Result<(), Error> {
    native.define_module_function("take_log_lines", function!(take_log_lines, 2))?;
    native.define_module_function("wake_log_lines", function!(wake_log_lines, 0))?;
    Ok(())
}
