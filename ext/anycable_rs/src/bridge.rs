//! `AnyCable::RS::Native::Bridge`: the job queue between the tokio side and the Ruby worker
//! threads of the in-process RPC bridge (DESIGN §3).
//!
//! `take(max)` waits for jobs WITHOUT the GVL, in slices of at most 100 ms (so a main-thread
//! caller still sees signals promptly on Ruby 3.1), and can be woken by Ruby's unblocking
//! function (`Thread#kill`, shutdown, Ctrl-C). Jobs taken just as an interrupt arrives are put
//! back at the front of the queue before the interrupt is raised: none is lost.

use std::sync::Arc;
use std::time::Duration;

use anycable_engine::rpc::bridge::{Interrupt, JobQueue, Taken};
use magnus::{function, method, prelude::*, Error, RArray, RModule, Ruby};

use crate::gvl::without_gvl;
use crate::job::JobObj;

/// Longest single wait without the GVL.
const SLICE: Duration = Duration::from_millis(100);

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

    /// `#take(max)`: up to `max` jobs (an empty Array when none came within the slice), or
    /// `nil` once the bridge is closed and drained: the worker should stop.
    fn take(ruby: &Ruby, rb_self: &Self, max: usize) -> Result<Option<RArray>, Error> {
        let queue = &rb_self.queue;
        let interrupt = Interrupt::default();
        let outcome = without_gvl(|| queue.take(max, SLICE, &interrupt), || queue.interrupt(&interrupt));
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
    class.define_method("take", method!(BridgeObj::take, 1))?;
    class.define_method("close", method!(BridgeObj::close, 0))?;
    class.define_method("size", method!(BridgeObj::size, 0))?;
    Ok(())
}
