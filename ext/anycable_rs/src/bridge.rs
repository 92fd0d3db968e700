//! `AnyCable::RS::Native::Bridge`: the job queue between the tokio side and the Ruby worker
//! threads of the in-process RPC bridge (docs/architecture.md §2).
//!
//! `take(max, wait)` waits for jobs WITHOUT the GVL for at most `wait` seconds (callers on the
//! main thread keep it near 0.1 s so signals are seen promptly on Ruby 3.1; worker threads,
//! which receive no signals, may wait longer), and can be woken by Ruby's unblocking function
//! (`Thread#kill`, `Thread#raise`, shutdown, Ctrl-C). Jobs taken just as an interrupt arrives are put
//! back at the front of the queue before the interrupt is raised: none is lost.

use std::sync::Arc;
use std::time::Duration;

use anycable_engine::rpc::bridge::{Interrupt, JobQueue, Taken};
use magnus::{function, method, prelude::*, Error, RArray, RModule, Ruby};

use crate::gvl::without_gvl;
use crate::job::JobObj;

/// Longest single wait without the GVL that a caller may ask for.
const LONGEST_WAIT: f64 = 60.0;

/// The queue of the in-process bridge.
#[magnus::wrap(class = "AnyCable::RS::Native::Bridge", free_immediately, size)]
pub(crate) struct BridgeObj {
    pub(crate) queue: Arc<JobQueue>,
}

impl BridgeObj {
    /// `Bridge.new(capacity)`: a queue holding at most `capacity` waiting calls.
    fn new(capacity: usize) -> Self {
        Self { queue: JobQueue::new(capacity) }
    }

    /// `#take(max, wait)`: up to `max` jobs (an empty Array when none came within `wait`
    /// seconds), or `nil` once the bridge is closed and drained: the worker should stop.
    fn take(ruby: &Ruby, rb_self: &Self, max: usize, wait: f64) -> Result<Option<RArray>, Error> {
        let queue = &rb_self.queue;
        let interrupt = Interrupt::default();
        let wait =
            Duration::from_secs_f64(if wait.is_finite() { wait.clamp(0.0, LONGEST_WAIT) } else { 0.0 });
        let outcome = without_gvl(|| queue.take(max, wait, &interrupt), || queue.interrupt(&interrupt));
        if let Some(error) = outcome.interrupt {
            if let Some(Taken::Jobs(jobs)) = outcome.value {
                queue.put_back(jobs);
            }
            return Err(error);
        }
        match outcome.value {
            Some(Taken::Jobs(jobs)) => {
                let array = ruby.ary_new_capa(jobs.len());
                for job in jobs {
                    array.push(JobObj::new(job))?;
                }
                Ok(Some(array))
            }
            Some(Taken::Closed) | None => Ok(None),
        }
    }

    /// `#close`: refuse new calls; workers drain the queue, then `take` returns nil.
    fn close(&self) {
        self.queue.close();
    }

    /// `#size`: calls waiting for a worker.
    fn size(&self) -> usize {
        self.queue.len()
    }
}

pub(crate) fn init(ruby: &Ruby, native: RModule) -> Result<(), Error> {
    let class = native.define_class("Bridge", ruby.class_object())?;
    class.define_singleton_method("new", function!(BridgeObj::new, 1))?;
    class.define_method("take", method!(BridgeObj::take, 2))?;
    class.define_method("close", method!(BridgeObj::close, 0))?;
    class.define_method("size", method!(BridgeObj::size, 0))?;
    Ok(())
}
