//! A tokio runtime that belongs to the process that built it, shared by `Native::Node` and
//! `Native::RpcServer`.
//!
//! After `fork` the runtime's threads do not exist in the child, so an inherited runtime is
//! never shut down or dropped there (that would wait on threads that are gone): it is leaked,
//! and the object refuses calls that need it ([`ProcessRuntime::check_pid`]). Stopping waits
//! without the GVL in short slices, so Ctrl-C and signals are seen meanwhile.

use std::future::Future;
use std::sync::{mpsc, Mutex};
use std::time::Duration;

use magnus::{Error, Ruby};
use tokio::runtime::Runtime;

use crate::errors;
use crate::gvl::without_gvl;

/// Waits without the GVL last at most this long, so signals reach the main thread.
const SLICE: Duration = Duration::from_millis(100);

/// One process' tokio runtime.
pub(crate) struct ProcessRuntime {
    pid: u32,
    /// Taken out (and shut down) once, by `stop`, in the process that built it. Locked only to
    /// take it or to spawn on it, never while waiting.
    runtime: Mutex<Option<Runtime>>,
}

impl ProcessRuntime {
    /// A multi-threaded runtime with `threads` workers named `name`.
    pub(crate) fn build(ruby: &Ruby, threads: usize, name: &str) -> Result<Self, Error> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(threads)
            .thread_name(name)
            .enable_all()
            .build()
            .map_err(|e| errors::error(ruby, format!("cannot start the tokio runtime: {e}")))?;
        Ok(Self { pid: std::process::id(), runtime: Mutex::new(Some(runtime)) })
    }

    /// The process that built it.
    pub(crate) fn pid(&self) -> u32 {
        self.pid
    }

    /// Raises when called in another process than the one that built it (`what` names the
    /// object in the message).
    pub(crate) fn check_pid(&self, ruby: &Ruby, what: &str) -> Result<(), Error> {
        if std::process::id() == self.pid {
            Ok(())
        } else {
            Err(errors::error(
                ruby,
                format!("this {what} was created before fork; create a new one in this process"),
            ))
        }
    }

    /// Runs `f` with the runtime, unless it was stopped.
    pub(crate) fn with<R>(&self, f: impl FnOnce(&Runtime) -> R) -> Option<R> {
        self.runtime.lock().unwrap_or_else(|p| p.into_inner()).as_ref().map(f)
    }

    /// Stops the runtime at once (a build that failed half-way).
    pub(crate) fn abandon(&self) {
        if let Some(runtime) = self.runtime.lock().unwrap_or_else(|p| p.into_inner()).take() {
            runtime.shutdown_background();
        }
    }

    /// Runs `work` on the runtime, waits for its output without the GVL, calls `before_stop`,
    /// then stops the runtime. `Ok(None)` when it was already stopped; an interrupt (Ctrl-C,
    /// Thread#raise) stops it at once and is raised.
    pub(crate) fn finish<T: Send + 'static>(
        &self,
        work: impl Future<Output = T> + Send + 'static,
        before_stop: impl Fn(),
    ) -> Result<Option<T>, Error> {
        let Some(runtime) = self.runtime.lock().unwrap_or_else(|p| p.into_inner()).take() else {
            return Ok(None);
        };
        let (done, finished) = mpsc::channel();
        runtime.spawn(async move {
            let _ = done.send(work.await);
        });
        let output = loop {
            let outcome = without_gvl(|| finished.recv_timeout(SLICE), || {});
            if let Some(error) = outcome.interrupt {
                before_stop();
                runtime.shutdown_background();
                return Err(error);
            }
            match outcome.value {
                Some(Ok(output)) => break Some(output),
                Some(Err(mpsc::RecvTimeoutError::Timeout)) => {}
                Some(Err(mpsc::RecvTimeoutError::Disconnected)) | None => break None,
            }
        };
        before_stop();
        runtime.shutdown_background();
        Ok(output)
    }

    /// Whether the runtime runs a task within `timeout` (false once stopped). Waits without
    /// the GVL; an interrupt is raised.
    pub(crate) fn answers(&self, timeout: Duration) -> Result<bool, Error> {
        let (done, ran) = mpsc::channel();
        let spawned = self.with(|runtime| {
            runtime.spawn(async move {
                let _ = done.send(());
            });
        });
        if spawned.is_none() {
            return Ok(false);
        }
        let outcome = without_gvl(|| ran.recv_timeout(timeout).is_ok(), || {});
        match outcome.interrupt {
            Some(error) => Err(error),
            None => Ok(outcome.value.unwrap_or(false)),
        }
    }
}

impl Drop for ProcessRuntime {
    fn drop(&mut self) {
        let runtime = self.runtime.get_mut().unwrap_or_else(|p| p.into_inner()).take();
        match runtime {
            // Inherited over fork: its threads are gone here; dropping would wait for them.
            Some(runtime) if std::process::id() != self.pid => {
                let _inherited = std::mem::ManuallyDrop::new(runtime);
            }
            Some(runtime) => runtime.shutdown_background(),
            None => {}
        }
    }
}
