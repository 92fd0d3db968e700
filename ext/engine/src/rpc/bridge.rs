//! The in-process bridge: a [`Controller`] whose calls become jobs in a bounded queue that
//! threads of the host application (Ruby threads, in the gem) take, run and answer.
//!
//! Nothing here knows Ruby. Tokio tasks push jobs and await a oneshot reply; pushing never
//! waits, so a full queue fails the call at once ([`RpcError::Busy`]). Taker threads block in
//! [`JobQueue::take`] for at most a given time and can be woken early through their
//! [`Interrupt`] (what Ruby's unblocking function does). The queue's lock is only held for a
//! push, a take or a put-back, never while a job runs.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, Weak};
use std::time::{Duration, Instant};

use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;
use tokio::sync::oneshot;

use super::controller::{BoxFuture, Controller, RpcError};
use super::messages::{
    merge_state, CommandMessage, CommandResponse, ConnectionRequest, ConnectionResponse, DisconnectRequest,
    DisconnectResponse, Status,
};

/// Which call a job is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// `Connect`.
    Connect,
    /// `Command`.
    Command,
    /// `Disconnect`.
    Disconnect,
}

impl Kind {
    /// The call's name, as the handler's method is named.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Connect => "connect",
            Self::Command => "command",
            Self::Disconnect => "disconnect",
        }
    }
}

/// One call waiting for (or held by) a taker.
#[derive(Debug)]
pub struct Job {
    /// Which call.
    pub kind: Kind,
    /// The request, as protobuf-JSON.
    pub payload: Value,
    /// Where the reply goes; dropping it unanswered fails the call.
    reply: oneshot::Sender<Result<Value, RpcError>>,
    /// The queue it was pushed on, for the disconnect a connect may leave owed.
    queue: Weak<JobQueue>,
}

impl Job {
    fn new(kind: Kind, payload: Value, reply: oneshot::Sender<Result<Value, RpcError>>) -> Self {
        Self { kind, payload, reply, queue: Weak::new() }
    }

    /// Answers the call with the reply as protobuf-JSON. When the caller has gone (the client
    /// left during its connect) and the app accepted the connection, its `disconnect` callback
    /// is still owed, as Action Cable runs it for every connection that ran `connect`: a
    /// disconnect job is queued.
    pub fn reply(self, reply: Value) {
        let Self { kind, payload, reply: caller, queue } = self;
        if let (Err(Ok(reply)), Kind::Connect) = (caller.send(Ok(reply)), kind) {
            if let Some(queue) = queue.upgrade() {
                queue.owe_disconnect(payload, reply);
            }
        }
    }

    /// Whether the caller gave up waiting (its deadline passed, the client left): running the
    /// call would be wasted work. Never for a disconnect, which runs the app's callbacks.
    pub fn abandoned(&self) -> bool {
        self.kind != Kind::Disconnect && self.reply.is_closed()
    }

    /// Fails the call.
    pub fn fail(self, why: String) {
        let _ = self.reply.send(Err(RpcError::Unavailable(why)));
    }
}

/// What a take returned.
#[derive(Debug)]
pub enum Taken {
    /// Up to `max` jobs; empty when the wait timed out or was interrupted.
    Jobs(Vec<Job>),
    /// The queue is closed and empty: the taker should stop.
    Closed,
}

/// Wakes one taker early (set from another thread, e.g. Ruby's unblocking function).
#[derive(Debug, Default)]
pub struct Interrupt(AtomicBool);

#[derive(Debug, Default)]
struct State {
    jobs: VecDeque<Job>,
    closed: bool,
    /// Takers blocked in `take` right now: a taker leaves them their share of the queue.
    waiting: usize,
    /// Disconnect jobs among `jobs` (they are queued past the cap: this is their backlog).
    disconnects: usize,
}

/// How many of `queued` jobs one taker takes when `others` takers are idle: its fair share,
/// at most `max`, at least one. A batch saves GVL round trips when every taker is busy, but
/// must not queue slow calls behind each other while other takers sit idle.
fn share(queued: usize, others: usize, max: usize) -> usize {
    queued.div_ceil(others + 1).min(max).max(1)
}

/// The bounded job queue between tokio tasks and taker threads. (It shares its wait loop with
/// `logging::LogQueue` but not its contract: a full job queue refuses the call — except a
/// disconnect — where the log queue drops and counts; jobs are shared fairly among waiting
/// takers, put back after an interrupt, and the queue closes.)
#[derive(Debug)]
pub struct JobQueue {
    /// Itself, given to the jobs it queues.
    me: Weak<JobQueue>,
    capacity: usize,
    state: Mutex<State>,
    /// Signalled on every push, put-back, close and interrupt.
    ready: Condvar,
    /// Jobs dropped at take time because their caller had given up.
    abandoned: AtomicU64,
}

impl JobQueue {
    /// A queue that holds at most `capacity` waiting jobs.
    pub fn new(capacity: usize) -> Arc<Self> {
        Arc::new_cyclic(|me| Self {
            me: Weak::clone(me),
            capacity: capacity.max(1),
            state: Mutex::default(),
            ready: Condvar::new(),
            abandoned: AtomicU64::new(0),
        })
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // Every critical section is a plain push/pop: a poisoned lock still holds a sound queue.
        self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Queues a job without waiting. Connect and command jobs fail with [`RpcError::Busy`]
    /// when the queue is full; disconnect jobs are always queued, because refusing them would
    /// skip the application's `unsubscribed`/`disconnect` callbacks (there are at most as many
    /// as there were connections).
    pub fn push(&self, mut job: Job) -> Result<(), RpcError> {
        job.queue = Weak::clone(&self.me);
        let mut state = self.lock();
        if state.closed {
            return Err(RpcError::Unavailable("the bridge is stopped".into()));
        }
        if state.jobs.len() >= self.capacity && job.kind != Kind::Disconnect {
            return Err(RpcError::Busy);
        }
        state.disconnects += usize::from(job.kind == Kind::Disconnect);
        state.jobs.push_back(job);
        drop(state);
        self.ready.notify_one();
        Ok(())
    }

    /// Takes up to `max` jobs, waiting at most `wait` for the first one (or until `interrupt`).
    pub fn take(&self, max: usize, wait: Duration, interrupt: &Interrupt) -> Taken {
        let deadline = Instant::now() + wait;
        let mut state = self.lock();
        loop {
            if !state.jobs.is_empty() {
                let n = share(state.jobs.len(), state.waiting, max).min(state.jobs.len());
                let mut taken = Vec::with_capacity(n);
                while taken.len() < n {
                    let job = state.jobs.pop_front();
                    if let Some(job) = &job {
                        state.disconnects -= usize::from(job.kind == Kind::Disconnect);
                    }
                    match job {
                        Some(job) if job.abandoned() => {
                            self.abandoned.fetch_add(1, Ordering::Relaxed);
                        }
                        Some(job) => taken.push(job),
                        None => break,
                    }
                }
                if !taken.is_empty() {
                    return Taken::Jobs(taken);
                }
                continue;
            }
            if state.closed {
                return Taken::Closed;
            }
            let now = Instant::now();
            if interrupt.0.swap(false, Ordering::AcqRel) || now >= deadline {
                return Taken::Jobs(Vec::new());
            }
            state.waiting += 1;
            state = self.ready.wait_timeout(state, deadline - now).unwrap_or_else(|p| p.into_inner()).0;
            state.waiting -= 1;
        }
    }

    /// Queues the `Disconnect` of a connection the app accepted (`reply` to the `Connect`
    /// `request`) after its client left: identifiers and state from the connect, no
    /// subscriptions.
    fn owe_disconnect(&self, request: Value, reply: Value) {
        let (Ok(request), Ok(reply)) = (
            serde_json::from_value::<ConnectionRequest>(request),
            serde_json::from_value::<ConnectionResponse>(reply),
        ) else {
            return;
        };
        if reply.status != Status::Success {
            return;
        }
        let mut env = request.env;
        merge_state(&mut env.cstate, reply.env.cstate);
        let disconnect =
            DisconnectRequest { identifiers: reply.identifiers, env, ..DisconnectRequest::default() };
        if let Ok(payload) = serde_json::to_value(&disconnect) {
            // Nobody waits for its reply; a disconnect job runs all the same.
            let _ = self.push(Job::new(Kind::Disconnect, payload, oneshot::channel().0));
        }
    }

    /// Returns taken jobs to the front of the queue, in order (the taker was interrupted).
    pub fn put_back(&self, jobs: Vec<Job>) {
        let mut state = self.lock();
        for job in jobs.into_iter().rev() {
            state.disconnects += usize::from(job.kind == Kind::Disconnect);
            state.jobs.push_front(job);
        }
        drop(state);
        self.ready.notify_all();
    }

    /// Wakes the taker that waits with `interrupt`.
    pub fn interrupt(&self, interrupt: &Interrupt) {
        interrupt.0.store(true, Ordering::Release);
        // Taking the lock orders the store before the taker's next check: no lost wake-up.
        drop(self.lock());
        self.ready.notify_all();
    }

    /// Refuses new jobs; takers drain what is queued, then get [`Taken::Closed`].
    pub fn close(&self) {
        self.lock().closed = true;
        self.ready.notify_all();
    }

    /// How many jobs were dropped unrun because their caller had given up.
    pub fn abandoned(&self) -> u64 {
        self.abandoned.load(Ordering::Relaxed)
    }

    /// How many disconnect jobs wait (reported as `disconnect_queue_size`).
    pub fn pending_disconnects(&self) -> usize {
        self.lock().disconnects
    }

    /// How many jobs wait.
    pub fn len(&self) -> usize {
        self.lock().jobs.len()
    }

    /// Whether no job waits.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// The controller of the in-process bridge.
#[derive(Debug, Clone)]
pub struct Bridge {
    queue: Arc<JobQueue>,
}

impl Bridge {
    /// A controller that queues its calls on `queue`.
    pub fn new(queue: Arc<JobQueue>) -> Self {
        Self { queue }
    }

    fn call<Req: Serialize, Reply: DeserializeOwned + Send + 'static>(
        &self,
        kind: Kind,
        request: &Req,
    ) -> BoxFuture<Result<Reply, RpcError>> {
        let (reply, answer) = oneshot::channel();
        let pushed = serde_json::to_value(request)
            .map_err(|e| RpcError::BadReply(e.to_string()))
            .and_then(|payload| self.queue.push(Job::new(kind, payload, reply)));
        Box::pin(async move {
            pushed?;
            let value = answer
                .await
                .map_err(|_| RpcError::Unavailable("the job was dropped unanswered".into()))??;
            serde_json::from_value(value).map_err(|e| RpcError::BadReply(e.to_string()))
        })
    }
}

impl Controller for Bridge {
    fn connect(&self, request: ConnectionRequest) -> BoxFuture<Result<ConnectionResponse, RpcError>> {
        self.call(Kind::Connect, &request)
    }

    fn command(&self, request: CommandMessage) -> BoxFuture<Result<CommandResponse, RpcError>> {
        self.call(Kind::Command, &request)
    }

    fn disconnect(&self, request: DisconnectRequest) -> BoxFuture<Result<DisconnectResponse, RpcError>> {
        self.call(Kind::Disconnect, &request)
    }

    fn pending_disconnects(&self) -> usize {
        self.queue.pending_disconnects()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rpc::messages::Env;
    use serde_json::json;

    #[test]
    fn a_taker_leaves_idle_takers_their_share() {
        assert_eq!(share(3, 4, 8), 1, "three slow calls, five idle takers: one each");
        assert_eq!(share(8, 3, 8), 2);
        assert_eq!(share(20, 0, 8), 8, "every other taker busy: a full batch");
        assert_eq!(share(1, 0, 8), 1);
        assert_eq!(share(5, 1, 1), 1);
    }

    #[test]
    fn jobs_whose_caller_gave_up_are_dropped_unrun() {
        let queue = JobQueue::new(8);
        let (reply, answer) = oneshot::channel();
        queue.push(Job::new(Kind::Command, json!("given up"), reply)).unwrap();
        drop(answer); // the caller's deadline passed
        let (reply, _waiting) = oneshot::channel();
        queue.push(Job::new(Kind::Command, json!("wanted"), reply)).unwrap();

        let Taken::Jobs(jobs) = queue.take(8, Duration::ZERO, &Interrupt::default()) else {
            panic!("closed")
        };
        assert_eq!(jobs.iter().map(|j| j.payload.clone()).collect::<Vec<_>>(), [json!("wanted")]);
        assert_eq!(queue.abandoned(), 1);
        assert!(queue.is_empty());
    }

    const WAIT: Duration = Duration::from_secs(5);

    /// A taker thread that answers every connect with SUCCESS and its own name.
    fn taker(queue: Arc<JobQueue>, name: &'static str) -> std::thread::JoinHandle<usize> {
        std::thread::spawn(move || {
            let mut answered = 0;
            loop {
                match queue.take(4, Duration::from_millis(50), &Interrupt::default()) {
                    Taken::Closed => return answered,
                    Taken::Jobs(jobs) => {
                        for job in jobs {
                            assert_eq!(job.kind, Kind::Connect);
                            job.reply(json!({"status": 1, "identifiers": name}));
                            answered += 1;
                        }
                    }
                }
            }
        })
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn calls_are_answered_by_taker_threads() {
        let queue = JobQueue::new(64);
        let takers = [taker(Arc::clone(&queue), "a"), taker(Arc::clone(&queue), "b")];
        let bridge = Bridge::new(Arc::clone(&queue));
        let calls: Vec<_> = (0..200).map(|_| bridge.connect(ConnectionRequest::default())).collect();
        let mut ok = 0;
        for call in calls {
            match call.await {
                Ok(reply) => {
                    assert_eq!(reply.status, Status::Success);
                    ok += 1;
                }
                Err(RpcError::Busy) => {}
                Err(other) => panic!("{other}"),
            }
        }
        queue.close();
        let answered: usize = takers.into_iter().map(|t| t.join().unwrap()).sum();
        assert_eq!(answered, ok);
        assert!(ok >= 64, "at least a queue's worth went through, got {ok}");
    }

    #[tokio::test]
    async fn a_connect_whose_client_left_after_it_ran_still_gets_its_disconnect() {
        let queue = JobQueue::new(8);
        let bridge = Bridge::new(Arc::clone(&queue));
        let mut env = Env { url: "http://h/cable".into(), ..Env::default() };
        env.cstate.insert("kept".into(), "1".into());
        for status in [2, 1] {
            let call = bridge.connect(ConnectionRequest { env: env.clone(), sid: "n-1".into() });
            let Taken::Jobs(mut jobs) = queue.take(1, WAIT, &Interrupt::default()) else { panic!("closed") };
            drop(call); // the client left while the app's connect ran
            let reply = json!({"status": status, "identifiers": "{\"user\":\"a\"}", "env": {"cstate": {"seen": "1"}}});
            jobs.pop().unwrap().reply(reply);
        }
        assert_eq!(queue.pending_disconnects(), 1, "owed for the accepted connection only");
        let Taken::Jobs(jobs) = queue.take(8, WAIT, &Interrupt::default()) else { panic!("closed") };
        assert_eq!(jobs.len(), 1);
        assert_eq!(jobs[0].kind, Kind::Disconnect);
        let owed: DisconnectRequest = serde_json::from_value(jobs[0].payload.clone()).unwrap();
        assert_eq!(owed.identifiers, r#"{"user":"a"}"#);
        assert_eq!(owed.env.url, "http://h/cable");
        assert_eq!((owed.env.cstate["kept"].as_str(), owed.env.cstate["seen"].as_str()), ("1", "1"));
        assert!(owed.subscriptions.is_empty());
    }

    #[tokio::test]
    async fn a_full_queue_fails_fast_with_busy() {
        let queue = JobQueue::new(2);
        let bridge = Bridge::new(Arc::clone(&queue));
        let _a = bridge.command(CommandMessage::default());
        let _b = bridge.command(CommandMessage::default());
        let third = tokio::time::timeout(WAIT, bridge.command(CommandMessage::default())).await.unwrap();
        assert_eq!(third.unwrap_err(), RpcError::Busy);
        assert_eq!(queue.len(), 2);
        let _leaving = bridge.disconnect(DisconnectRequest::default());
        assert_eq!(queue.len(), 3, "disconnects are queued even when the queue is full");
        assert_eq!(bridge.pending_disconnects(), 1, "and counted as the disconnect backlog");
    }

    #[tokio::test]
    async fn unanswered_jobs_fail_the_call_instead_of_hanging() {
        let queue = JobQueue::new(4);
        let bridge = Bridge::new(Arc::clone(&queue));
        let call = bridge.disconnect(DisconnectRequest::default());
        let Taken::Jobs(jobs) = queue.take(1, WAIT, &Interrupt::default()) else { panic!("closed") };
        assert_eq!(jobs[0].kind, Kind::Disconnect);
        drop(jobs);
        let error = tokio::time::timeout(WAIT, call).await.unwrap().unwrap_err();
        assert!(matches!(error, RpcError::Unavailable(_)), "{error}");

        let call = bridge.connect(ConnectionRequest::default());
        let Taken::Jobs(mut jobs) = queue.take(1, WAIT, &Interrupt::default()) else { panic!("closed") };
        jobs.pop().unwrap().reply(json!({"status": "nonsense-shape", "transmissions": 5}));
        let error = tokio::time::timeout(WAIT, call).await.unwrap().unwrap_err();
        assert!(matches!(error, RpcError::BadReply(_)), "{error}");
    }

    #[test]
    fn interrupted_takers_return_early_and_put_jobs_back_in_order() {
        let queue = JobQueue::new(8);
        let interrupt = Arc::new(Interrupt::default());
        let waiter = {
            let (queue, interrupt) = (Arc::clone(&queue), Arc::clone(&interrupt));
            std::thread::spawn(move || {
                let started = Instant::now();
                let taken = queue.take(1, Duration::from_secs(30), &interrupt);
                (matches!(taken, Taken::Jobs(ref jobs) if jobs.is_empty()), started.elapsed())
            })
        };
        std::thread::sleep(Duration::from_millis(50));
        queue.interrupt(&interrupt);
        let (empty, waited) = waiter.join().unwrap();
        assert!(empty && waited < Duration::from_secs(5), "woken early: {waited:?}");

        let bridge = Bridge::new(Arc::clone(&queue));
        let _calls: Vec<_> = (0..3).map(|_| bridge.connect(ConnectionRequest::default())).collect();
        let order = |jobs: &[Job]| jobs.iter().map(|j| j.payload.clone()).collect::<Vec<_>>();
        let Taken::Jobs(jobs) = queue.take(2, WAIT, &Interrupt::default()) else { panic!() };
        let first = order(&jobs);
        queue.put_back(jobs);
        let Taken::Jobs(again) = queue.take(3, WAIT, &Interrupt::default()) else { panic!() };
        assert_eq!(order(&again)[..2], first[..], "put back at the front, in order");
        assert_eq!(again.len(), 3);
    }

    #[test]
    fn closing_drains_what_is_queued_then_stops_takers() {
        let queue = JobQueue::new(8);
        let bridge = Bridge::new(Arc::clone(&queue));
        let _call = bridge.connect(ConnectionRequest::default());
        queue.close();
        assert!(matches!(queue.take(8, WAIT, &Interrupt::default()), Taken::Jobs(ref j) if j.len() == 1));
        assert!(matches!(queue.take(8, WAIT, &Interrupt::default()), Taken::Closed));
        let refused = queue.push(Job::new(Kind::Connect, Value::Null, oneshot::channel().0));
        assert!(matches!(refused, Err(RpcError::Unavailable(_))));
    }
}
