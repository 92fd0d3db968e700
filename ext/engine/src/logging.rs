//! The engine's log events (`tracing`) as lines for the host application's logger.
//!
//! [`install`] sets up, once per process, a global subscriber that formats each event into one
//! line — message and fields, without level or timestamp (the host's logger adds those) — and
//! pushes it with its level into this process's [`LogQueue`]. A host thread takes the lines
//! ([`LogQueue::take`]) and hands them to its logger: in the gem, a Ruby thread that calls
//! `AnyCable::RS.logger`.
//!
//! Logging never makes a tokio thread wait: the queue is bounded in lines and in bytes, its
//! lock is held for one push or one take, and a line that finds the queue full is dropped and
//! counted; the next take reports how many were dropped.
//!
//! The level is process-wide and set by every [`install`] (each node applies its own
//! `log_level`: the last one built wins). Disabled events cost nothing at their call site:
//! changing the level rebuilds `tracing`'s interest cache.
//!
//! Fork: the queue of a process is found by its pid. A child inherits its parent's queue (and
//! possibly its lock held by a thread that does not exist in the child), so the first line or
//! take in a new process makes a fresh queue and abandons the inherited one without touching
//! it.

use std::collections::VecDeque;
use std::io;
use std::sync::atomic::{AtomicBool, AtomicPtr, AtomicU64, AtomicU8, Ordering};
use std::sync::{Condvar, Mutex, MutexGuard, Once};
use std::time::{Duration, Instant};

use tracing::level_filters::LevelFilter;
use tracing::subscriber::Interest;
use tracing::{Level, Metadata, Subscriber};
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::layer::{Context, Layer, SubscriberExt};

use crate::config::LogLevel;

/// Lines a process's queue holds before new ones are dropped (and counted): room for a burst
/// such as a shutdown's `disconnected` lines while the host's logger catches up.
pub const QUEUE_CAPACITY: usize = 8192;

/// Bytes of messages a process's queue holds before new lines are dropped (and counted), so
/// that long lines cannot pile up megabytes while the host's logger is slow.
pub const QUEUE_BYTES: usize = 1 << 20;

/// One formatted log event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Line {
    /// The event's level.
    pub level: Level,
    /// The message and its fields (`connected sid=abc-1 identifiers=...`), without a newline.
    pub message: String,
}

/// Wakes a taker early (set from another thread, e.g. Ruby's unblocking function). A wake
/// that comes while nobody waits makes the next take return at once.
#[derive(Debug, Default)]
struct Wake(AtomicBool);

/// The bounded queue between the threads that log and the thread that writes the lines.
#[derive(Debug)]
pub struct LogQueue {
    /// The process this queue belongs to (see the module docs on fork).
    pid: u32,
    capacity: usize,
    max_bytes: usize,
    /// Waiting lines, at most `capacity` and `max_bytes`; held for one push or one take.
    lines: Mutex<Queued>,
    /// Signalled on every push and wake.
    ready: Condvar,
    /// Lines refused because the queue was full, since the last take reported them.
    dropped: AtomicU64,
    wake: Wake,
}

/// The lines of a [`LogQueue`] and the bytes of their messages.
#[derive(Debug, Default)]
struct Queued {
    lines: VecDeque<Line>,
    bytes: usize,
}

impl Queued {
    fn push_back(&mut self, line: Line) {
        self.bytes += line.message.len();
        self.lines.push_back(line);
    }

    fn push_front(&mut self, line: Line) {
        self.bytes += line.message.len();
        self.lines.push_front(line);
    }

    fn drain(&mut self, n: usize) -> Vec<Line> {
        let taken: Vec<Line> = self.lines.drain(..n).collect();
        self.bytes -= taken.iter().map(|line| line.message.len()).sum::<usize>();
        taken
    }
}

impl LogQueue {
    /// An empty queue holding at most `capacity` lines and `max_bytes` bytes of messages.
    pub fn new(capacity: usize, max_bytes: usize) -> Self {
        Self {
            pid: std::process::id(),
            capacity: capacity.max(1),
            max_bytes,
            lines: Mutex::default(),
            ready: Condvar::new(),
            dropped: AtomicU64::new(0),
            wake: Wake::default(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Queued> {
        // Every critical section is a push or a drain: a poisoned lock still holds a sound queue.
        self.lines.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Queues a line without waiting; drops (and counts) it when the queue is full (in lines,
    /// or in bytes: a line that would take it over `max_bytes`).
    pub fn push(&self, line: Line) {
        let mut lines = self.lock();
        if lines.lines.len() >= self.capacity || lines.bytes + line.message.len() > self.max_bytes {
            drop(lines);
            self.dropped.fetch_add(1, Ordering::Relaxed);
            return;
        }
        lines.push_back(line);
        drop(lines);
        self.ready.notify_one();
    }

    /// Takes up to `max` lines, waiting at most `wait` for the first one (or until [`wake`]).
    /// When lines were dropped since the last take, a warning saying how many comes last.
    ///
    /// [`wake`]: Self::wake
    pub fn take(&self, max: usize, wait: Duration) -> Vec<Line> {
        let deadline = Instant::now() + wait;
        let mut lines = self.lock();
        loop {
            if !lines.lines.is_empty() || self.dropped.load(Ordering::Relaxed) > 0 {
                break;
            }
            let now = Instant::now();
            if self.wake.0.swap(false, Ordering::AcqRel) || now >= deadline {
                return Vec::new();
            }
            lines = self.ready.wait_timeout(lines, deadline - now).unwrap_or_else(|p| p.into_inner()).0;
        }
        let n = max.max(1).min(lines.lines.len());
        let mut taken = lines.drain(n);
        drop(lines);
        let dropped = self.dropped.swap(0, Ordering::Relaxed);
        if dropped > 0 {
            let message = format!("{dropped} log lines dropped (the log queue was full)");
            taken.push(Line { level: Level::WARN, message });
        }
        taken
    }

    /// Returns taken lines to the front of the queue, in order (the taker was interrupted);
    /// they may exceed the capacity for a while.
    pub fn put_back(&self, taken: Vec<Line>) {
        let mut lines = self.lock();
        for line in taken.into_iter().rev() {
            lines.push_front(line);
        }
        drop(lines);
        self.ready.notify_all();
    }

    /// Makes a waiting take return now (or the next one return at once).
    pub fn wake(&self) {
        self.wake.0.store(true, Ordering::Release);
        // Taking the lock orders the store before the taker's next check: no lost wake-up.
        drop(self.lock());
        self.ready.notify_all();
    }

    /// How many lines wait.
    pub fn len(&self) -> usize {
        self.lock().lines.len()
    }

    /// Whether no line waits.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// This process's queue (made on first use in each process; see the module docs on fork).
static CURRENT: AtomicPtr<LogQueue> = AtomicPtr::new(std::ptr::null_mut());

/// Longest part of a client-supplied string a log line shows.
pub const CLIPPED_BYTES: usize = 128;

/// A client-supplied string (an identifier, a command name) for a log line: at most
/// [`CLIPPED_BYTES`] of it, cut at a character boundary, followed by its full length when
/// cut, so one client cannot make every line it causes 64 KiB long.
#[derive(Debug, Clone, Copy)]
pub struct Clipped<'a>(pub &'a str);

impl std::fmt::Display for Clipped<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.0.len() <= CLIPPED_BYTES {
            return f.write_str(self.0);
        }
        let end = (0..=CLIPPED_BYTES).rev().find(|&i| self.0.is_char_boundary(i)).unwrap_or(0);
        write!(f, "{}… ({} bytes)", &self.0[..end], self.0.len())
    }
}

/// The queue of this process: what [`install`]'s subscriber writes to and the host takes from.
pub fn queue() -> &'static LogQueue {
    let pid = std::process::id();
    loop {
        let current = CURRENT.load(Ordering::Acquire);
        // SAFETY: a non-null `CURRENT` always comes from `Box::leak` below and is never freed
        // (an abandoned queue is leaked on purpose), so it is valid for 'static.
        if let Some(queue) = unsafe { current.as_ref() } {
            if queue.pid == pid {
                return queue;
            }
        }
        // First use in this process: a fresh queue. An inherited one is left alone (its lock
        // may be held by a thread that was not forked) and leaked.
        let fresh: *mut LogQueue = Box::leak(Box::new(LogQueue::new(QUEUE_CAPACITY, QUEUE_BYTES)));
        match CURRENT.compare_exchange(current, fresh, Ordering::AcqRel, Ordering::Acquire) {
            // SAFETY: `fresh` was just leaked and is now published; it is never freed.
            Ok(_) => return unsafe { &*fresh },
            // SAFETY: another thread published its queue first; `fresh` was never shared, so
            // this thread owns it and may free it.
            Err(_) => drop(unsafe { Box::from_raw(fresh) }),
        }
    }
}

/// The process-wide level: a [`LevelFilter`] as a number (see `level_to_u8`).
static LEVEL: AtomicU8 = AtomicU8::new(3); // info (see `level_to_u8`)

fn level_to_u8(level: LevelFilter) -> u8 {
    match level {
        LevelFilter::OFF => 0,
        LevelFilter::ERROR => 1,
        LevelFilter::WARN => 2,
        LevelFilter::INFO => 3,
        LevelFilter::DEBUG => 4,
        _ => 5,
    }
}

fn level_from_u8(level: u8) -> LevelFilter {
    match level {
        0 => LevelFilter::OFF,
        1 => LevelFilter::ERROR,
        2 => LevelFilter::WARN,
        3 => LevelFilter::INFO,
        4 => LevelFilter::DEBUG,
        _ => LevelFilter::TRACE,
    }
}

/// The [`LevelFilter`] for a configured `log_level`.
pub fn level_filter(level: LogLevel) -> LevelFilter {
    match level {
        LogLevel::Debug => LevelFilter::DEBUG,
        LogLevel::Info => LevelFilter::INFO,
        LogLevel::Warn => LevelFilter::WARN,
        LogLevel::Error => LevelFilter::ERROR,
    }
}

/// Lets through events at or above a level read from an atomic, so it can change at run time
/// (then `tracing`'s interest cache is rebuilt, see [`set_level`]).
#[derive(Debug, Clone, Copy)]
struct LevelGate(&'static AtomicU8);

impl LevelGate {
    fn current(self) -> LevelFilter {
        level_from_u8(self.0.load(Ordering::Relaxed))
    }
}

impl<S: Subscriber> Layer<S> for LevelGate {
    fn register_callsite(&self, metadata: &'static Metadata<'static>) -> Interest {
        if self.current() >= *metadata.level() {
            Interest::always()
        } else {
            Interest::never()
        }
    }

    fn enabled(&self, metadata: &Metadata<'_>, _ctx: Context<'_, S>) -> bool {
        self.current() >= *metadata.level()
    }

    fn max_level_hint(&self) -> Option<LevelFilter> {
        Some(self.current())
    }
}

/// Writes each formatted event into a queue with its level.
#[derive(Debug, Clone, Copy)]
struct QueueWriter {
    /// `None`: this process's queue, looked up per line (it changes after fork).
    queue: Option<&'static LogQueue>,
}

/// One event's text, pushed as one line when the formatter is done with it.
#[derive(Debug)]
struct LineWriter {
    queue: Option<&'static LogQueue>,
    level: Level,
    text: Vec<u8>,
}

impl io::Write for LineWriter {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        self.text.extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Drop for LineWriter {
    fn drop(&mut self) {
        let text = std::mem::take(&mut self.text);
        let mut message =
            String::from_utf8(text).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned());
        message.truncate(message.trim_end().len());
        if message.is_empty() {
            return;
        }
        let queue = self.queue.unwrap_or_else(queue);
        queue.push(Line { level: self.level, message });
    }
}

impl<'a> MakeWriter<'a> for QueueWriter {
    type Writer = LineWriter;

    fn make_writer(&'a self) -> Self::Writer {
        LineWriter { queue: self.queue, level: Level::INFO, text: Vec::new() }
    }

    fn make_writer_for(&'a self, meta: &Metadata<'_>) -> Self::Writer {
        LineWriter { queue: self.queue, level: *meta.level(), text: Vec::new() }
    }
}

/// A subscriber that formats events at or above `level`'s value into lines for `queue`
/// (`None`: this process's queue).
fn subscriber(queue: Option<&'static LogQueue>, level: &'static AtomicU8) -> impl Subscriber + Send + Sync {
    let format = tracing_subscriber::fmt::layer()
        .without_time()
        .with_level(false)
        .with_target(false)
        .with_ansi(false)
        .with_writer(QueueWriter { queue });
    tracing_subscriber::registry().with(LevelGate(level)).with(format)
}

/// Sets the process-wide level; events below it are then skipped at their call site.
pub fn set_level(level: LevelFilter) {
    if LEVEL.swap(level_to_u8(level), Ordering::AcqRel) != level_to_u8(level) {
        tracing::callsite::rebuild_interest_cache();
    }
}

/// Sends the engine's log events at `level` and above to this process's [`queue`]: installs
/// the global subscriber on the first call in a process (unless the host installed another
/// one: then this only sets the level), and sets the level on every call.
pub fn install(level: LogLevel) {
    static INSTALL: Once = Once::new();
    set_level(level_filter(level));
    INSTALL.call_once(|| {
        let _ = tracing::subscriber::set_global_default(subscriber(None, &LEVEL));
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn leaked_queue(capacity: usize) -> &'static LogQueue {
        Box::leak(Box::new(LogQueue::new(capacity, QUEUE_BYTES)))
    }

    #[test]
    fn client_strings_are_clipped_at_a_character_boundary() {
        assert_eq!(Clipped("short").to_string(), "short");
        let long = "é".repeat(100); // 200 bytes, two per character
        let shown = Clipped(&long).to_string();
        assert_eq!(shown, format!("{}… (200 bytes)", "é".repeat(64)));
        assert_eq!(Clipped(&"x".repeat(CLIPPED_BYTES)).to_string().len(), CLIPPED_BYTES);
    }

    #[test]
    fn events_become_lines_with_their_level_and_fields_without_prefix() {
        let queue = leaked_queue(16);
        let level: &'static AtomicU8 = Box::leak(Box::new(AtomicU8::new(level_to_u8(LevelFilter::INFO))));
        tracing::subscriber::with_default(subscriber(Some(queue), level), || {
            tracing::info!(sid = %"n1-7", identifiers = "{}", "connected");
            tracing::warn!(error = "boom", "connect call failed");
            tracing::debug!("not at info");
        });
        let lines = queue.take(10, Duration::ZERO);
        assert_eq!(
            lines,
            vec![
                Line { level: Level::INFO, message: r#"connected sid=n1-7 identifiers="{}""#.into() },
                Line { level: Level::WARN, message: r#"connect call failed error="boom""#.into() },
            ]
        );
    }

    #[test]
    fn the_level_can_change_while_running() {
        let queue = leaked_queue(16);
        let level: &'static AtomicU8 = Box::leak(Box::new(AtomicU8::new(level_to_u8(LevelFilter::WARN))));
        let emit = || {
            tracing::info!("an info line");
            tracing::debug!("a debug line");
            tracing::error!("an error line");
        };
        tracing::subscriber::with_default(subscriber(Some(queue), level), || {
            emit();
            level.store(level_to_u8(LevelFilter::DEBUG), Ordering::Relaxed);
            tracing::callsite::rebuild_interest_cache();
            emit();
        });
        let messages: Vec<String> = queue.take(10, Duration::ZERO).into_iter().map(|l| l.message).collect();
        assert_eq!(messages, ["an error line", "an info line", "a debug line", "an error line"]);
    }

    #[test]
    fn long_lines_are_bounded_in_bytes_too() {
        let queue = LogQueue::new(100, 1000);
        let long = |c: char| Line { level: Level::WARN, message: c.to_string().repeat(400) };
        for c in ['a', 'b', 'c'] {
            queue.push(long(c));
        }
        let lines = queue.take(10, Duration::ZERO);
        assert_eq!(lines.iter().map(|l| &l.message[..1]).collect::<Vec<_>>(), ["a", "b", "1"]);
        assert_eq!(lines[2].message, "1 log lines dropped (the log queue was full)");
        queue.push(long('d'));
        assert_eq!(queue.take(10, Duration::ZERO)[0].message.len(), 400, "taking frees the bytes");
    }

    #[test]
    fn a_full_queue_drops_lines_and_the_next_take_says_how_many() {
        let queue = LogQueue::new(2, QUEUE_BYTES);
        for i in 0..5 {
            queue.push(Line { level: Level::INFO, message: i.to_string() });
        }
        let lines = queue.take(1, Duration::ZERO);
        assert_eq!(lines.len(), 2);
        assert_eq!(lines[0].message, "0");
        assert_eq!(
            lines[1],
            Line { level: Level::WARN, message: "3 log lines dropped (the log queue was full)".into() }
        );
        assert_eq!(queue.take(10, Duration::ZERO)[0].message, "1");
        assert!(queue.take(10, Duration::ZERO).is_empty());
    }

    #[test]
    fn a_take_waits_for_a_line_and_a_wake_ends_the_wait() {
        let queue = leaked_queue(4);
        let waiting = std::thread::spawn(move || queue.take(4, Duration::from_secs(10)));
        std::thread::sleep(Duration::from_millis(20));
        queue.push(Line { level: Level::ERROR, message: "late".into() });
        assert_eq!(waiting.join().unwrap()[0].message, "late");

        let started = Instant::now();
        let waiting = std::thread::spawn(move || queue.take(4, Duration::from_secs(10)));
        std::thread::sleep(Duration::from_millis(20));
        queue.wake();
        assert!(waiting.join().unwrap().is_empty());
        assert!(started.elapsed() < Duration::from_secs(5));

        // A wake while nobody waits is kept for the next take; put-back lines come first.
        queue.wake();
        assert!(queue.take(4, Duration::from_secs(10)).is_empty());
        queue.push(Line { level: Level::INFO, message: "b".into() });
        queue.put_back(vec![Line { level: Level::INFO, message: "a".into() }]);
        let messages: Vec<String> = queue.take(4, Duration::ZERO).into_iter().map(|l| l.message).collect();
        assert_eq!(messages, ["a", "b"]);
    }

    #[test]
    fn the_process_queue_is_made_once_per_process() {
        let first: *const LogQueue = queue();
        assert_eq!(first, queue() as *const LogQueue);
        assert_eq!(queue().pid, std::process::id());
    }
}
