//! `AnyCable::RS::Native::Job`: one RPC call handed to a Ruby worker thread. The worker reads
//! `kind` and `payload` (a Hash shaped like the AnyCable request), runs the handler, and
//! answers once with `reply(hash)` (or `fail(message)`). A job dropped unanswered fails its
//! call; it never leaves a client waiting.

use std::sync::Mutex;

use anycable_engine::rpc::bridge::Job;
use magnus::{method, prelude::*, Error, RHash, RModule, Ruby, Value};

use crate::{errors, ruby_json};

/// A taken job, answered at most once.
#[magnus::wrap(class = "AnyCable::RS::Native::Job", free_immediately, size)]
pub(crate) struct JobObj {
    kind: &'static str,
    /// The job until it is answered. Locked only to clone the payload or take the job out,
    /// never while Ruby code runs.
    job: Mutex<Option<Job>>,
}

impl JobObj {
    pub(crate) fn new(job: Job) -> Self {
        Self { kind: job.kind.as_str(), job: Mutex::new(Some(job)) }
    }

    fn take(&self) -> Option<Job> {
        self.job.lock().unwrap_or_else(|p| p.into_inner()).take()
    }

    /// `#kind`: "connect", "command" or "disconnect" (the handler's method name).
    fn kind(&self) -> &'static str {
        self.kind
    }

    /// `#payload`: the request as a Hash with String keys.
    fn payload(ruby: &Ruby, rb_self: &Self) -> Result<Value, Error> {
        let payload =
            rb_self.job.lock().unwrap_or_else(|p| p.into_inner()).as_ref().map(|job| job.payload.clone());
        match payload {
            Some(payload) => ruby_json::to_ruby(ruby, &payload),
            None => Err(errors::error(ruby, "this job was already answered")),
        }
    }

    /// `#reply(hash)`: answers the call.
    fn reply(ruby: &Ruby, rb_self: &Self, reply: RHash) -> Result<(), Error> {
        let reply = ruby_json::hash_from_ruby(ruby, reply)?;
        let job = rb_self.take().ok_or_else(|| errors::error(ruby, "this job was already answered"))?;
        job.reply(serde_json::Value::Object(reply));
        Ok(())
    }

    /// `#fail(message)`: fails the call (the client is told to come back later).
    fn fail(ruby: &Ruby, rb_self: &Self, message: String) -> Result<(), Error> {
        let job = rb_self.take().ok_or_else(|| errors::error(ruby, "this job was already answered"))?;
        job.fail(message);
        Ok(())
    }

    /// `#answered?`.
    fn is_answered(&self) -> bool {
        self.job.lock().unwrap_or_else(|p| p.into_inner()).is_none()
    }
}

pub(crate) fn init(ruby: &Ruby, native: RModule) -> Result<(), Error> {
    let class = native.define_class("Job", ruby.class_object())?;
    class.undef_default_alloc_func();
    class.define_method("kind", method!(JobObj::kind, 0))?;
    class.define_method("payload", method!(JobObj::payload, 0))?;
    class.define_method("reply", method!(JobObj::reply, 1))?;
    class.define_method("fail", method!(JobObj::fail, 1))?;
    class.define_method("answered?", method!(JobObj::is_answered, 0))?;
    Ok(())
}
