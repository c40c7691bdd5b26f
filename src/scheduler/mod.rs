//! The scheduler: starts each task the moment its dependencies allow and a slot of its executor
//! is free, within the global `-j` cap; retries, `--fail-fast`, and Ctrl-C / SIGTERM.
//!
//! It only decides and emits events; `tracker` holds the pure ready-set logic, `exec` runs
//! attempts, and sinks (reporters, the state recorder) consume the events.

mod backend;
pub mod event;
pub mod order;
pub mod tracker;

use crate::exec::hosts::Placement;
use crate::exec::{self, Attempt, AttemptEnd, Cancel};
use crate::files::{Check, Checker, Why};
use crate::model::ExecutorKind;
use crate::model::{SkipReason, Status};
use crate::plan::Plan;
use crate::task::file_name_for;
use backend::{Backend, Ended, Place};
use event::{Event, EventSink, Outcome};
use order::{Order, Ready};
use std::collections::{BinaryHeap, HashMap, VecDeque};
use std::ops::Range;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};
use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::mpsc::{UnboundedReceiver, UnboundedSender};
use tokio::sync::watch;
use tokio::task::JoinSet;
use tracker::{Decision, Tracker};

/// Attempts of one task lost to failing hosts that are re-run elsewhere before it fails.
const MAX_LOST: u32 = 3;

/// How to run.
#[derive(Debug, Clone)]
pub struct RunConfig {
    /// At most this many tasks at once, across executors.
    pub jobs: Option<u32>,
    pub fail_fast: bool,
    /// `DAGRUN_RUN_DIR`.
    pub run_dir: PathBuf,
    /// Where attempts' logs go (inside the run directory).
    pub logs: PathBuf,
    /// Time a terminated task gets to exit before SIGKILL.
    pub grace: Duration,
    /// Adds a generator's tasks when it succeeds.
    pub generate: Generate,
    /// Say why each task runs (`--explain`).
    pub explain: bool,
}

/// What this run starts from.
pub struct Start {
    /// Tasks this run is about (closed under dependencies).
    pub selected: Vec<bool>,
    /// Tasks that already succeeded (resume).
    pub done: Vec<bool>,
    /// Attempts already made per task (resume keeps counting).
    pub attempts: Vec<u32>,
    /// Slurm jobs a killed run left queued or running, by task: followed again, not resubmitted.
    pub attach: HashMap<u32, String>,
    /// Decides the tasks that declare outputs: up to date ones are not run. None: they run.
    pub files: Option<Checker>,
    /// Tasks that run whatever their files say (`--force`, `--from`); empty: none.
    pub forced: Vec<bool>,
    /// Milliseconds an earlier run took, by task: longer work starts first (`order`).
    pub durations: HashMap<u32, u64>,
}

impl Start {
    pub fn fresh(plan: &Plan, selected: Vec<bool>) -> Start {
        Start {
            selected,
            done: vec![false; plan.len()],
            attempts: vec![0; plan.len()],
            attach: HashMap::new(),
            files: None,
            forced: Vec::new(),
            durations: HashMap::new(),
        }
    }
}

/// An attempt in flight.
struct Running {
    started: Instant,
    attempt: u32,
    /// The host of an ssh attempt.
    placement: Option<Placement>,
    /// Attempts made in this run (retries count from here).
    tries: u32,
    /// Its log, and a generator's stdout: named once, when it starts.
    log: PathBuf,
    stdout: Option<PathBuf>,
    /// What its files were when it was decided (tasks that declare outputs).
    check: Option<Box<Check>>,
}

/// What the scheduler keeps of one task during a run.
#[derive(Default)]
struct TaskRun {
    /// Index of its executor (and backend).
    exec: usize,
    /// Its attempt number so far; `resume` continues the count.
    attempts: u32,
    /// Attempts made in this run, for `retries`.
    tries: u32,
    running: Option<Running>,
    /// Waiting for a retry's delay, or for descriptors to start with.
    awaiting_retry: bool,
    /// Attempts lost with their host and run again elsewhere.
    lost: u32,
    /// An attempt started in this run.
    ran: bool,
    /// What its files were when it became ready, until an attempt takes it.
    check: Option<Box<Check>>,
    /// When it last became ready to start (queued).
    queued: Option<SystemTime>,
}

/// A Slurm job id for an attempt: (task, attempt, job).
type JobSubmitted = (u32, u32, String);

/// What woke the scheduler.
enum Wake {
    /// A Slurm job was submitted for an attempt.
    Submitted(u32, u32, String),
    /// An attempt ended.
    Ended(u32, AttemptEnd, Option<exec::Usage>),
    /// A task's retry delay is over.
    RetryDue(u32),
    /// SIGINT (2), SIGTERM or SIGHUP (15).
    Signal(i32),
}

/// Runs `plan` to its end: the tasks of `start.selected` that are not `start.done`, their
/// events to `sink`, in order.
pub async fn run(
    plan: &mut Plan,
    cfg: &RunConfig,
    start: Start,
    sink: &mut dyn EventSink,
) -> anyhow::Result<Outcome> {
    let mut signals = Signals::new()?;
    let mut s = Scheduler::new(plan, cfg, start, sink).await?;
    loop {
        s.apply_decisions(sink)?;
        s.start_ready(sink).await?;
        s.fail_unplaceable(sink)?;
        if !s.decisions.is_empty() {
            continue;
        }
        if s.attempts.is_empty() && (s.stopping || s.retry_timers.is_empty()) {
            break;
        }
        match s.next(&mut signals).await? {
            Wake::Submitted(i, attempt, job) => {
                sink.event(s.plan, &Event::Submitted { task: i, attempt, job })?
            }
            Wake::Ended(i, end, usage) => {
                if let (Some(usage), Some(r)) = (usage, &s.tasks[i as usize].running) {
                    sink.event(s.plan, &Event::Used { task: i, attempt: r.attempt, usage })?;
                }
                s.on_end(i, end, sink)?
            }
            Wake::RetryDue(i) => {
                s.tasks[i as usize].awaiting_retry = false;
                s.queue(i);
            }
            Wake::Signal(sig) => s.on_signal(sig, sink)?,
        }
    }
    s.finish(sink).await
}

/// The signals that stop a run.
struct Signals {
    int: tokio::signal::unix::Signal,
    term: tokio::signal::unix::Signal,
    /// A closed terminal or ssh session: stop as for SIGTERM, with the tasks' grace period.
    hup: tokio::signal::unix::Signal,
}

impl Signals {
    fn new() -> std::io::Result<Signals> {
        Ok(Signals {
            int: signal(SignalKind::interrupt())?,
            term: signal(SignalKind::terminate())?,
            hup: signal(SignalKind::hangup())?,
        })
    }

    async fn recv(&mut self) -> i32 {
        tokio::select! {
            _ = self.int.recv() => 2,
            _ = self.term.recv() => 15,
            _ = self.hup.recv() => 15,
        }
    }
}

struct Scheduler<'p, 'c> {
    plan: &'p mut Plan,
    cfg: &'c RunConfig,
    /// One record per task of the plan (generated tasks added as they come).
    tasks: Vec<TaskRun>,
    /// One backend and one queue of ready tasks per executor.
    backends: Vec<Backend>,
    queues: Vec<BinaryHeap<Ready>>,
    order: Order,
    tracker: Tracker,
    decisions: VecDeque<Decision>,
    attempts: JoinSet<Ended>,
    retry_timers: JoinSet<u32>,
    running: u32,
    /// Tasks this run decides, and how many it has decided.
    total: usize,
    decided: usize,
    outcome: Outcome,
    stopping: bool,
    /// Stopping because a task failed under `--fail-fast` (not because of a signal): tasks that
    /// run on failure or always still start once their dependencies have finished.
    failed_fast: bool,
    cancel: watch::Sender<Cancel>,
    /// Tasks started after `--fail-fast` stopped the others answer only to a signal.
    cleanup: watch::Sender<Cancel>,
    /// Slurm jobs a killed run left, by task: followed again, not resubmitted.
    attach: HashMap<u32, String>,
    submitted: (UnboundedSender<JobSubmitted>, UnboundedReceiver<JobSubmitted>),
    /// Tasks that cannot be placed at all, with why: they fail.
    unplaceable: Vec<(u32, String)>,
    /// Tasks that could not start for want of file descriptors or processes, until one ends.
    starved: Vec<u32>,
    files: Option<Checker>,
    forced: Vec<bool>,
    /// Checks of ready tasks made ahead of their turn, many at once.
    prechecked: HashMap<u32, Check>,
    clock: Instant,
}

impl<'p, 'c> Scheduler<'p, 'c> {
    async fn new(
        plan: &'p mut Plan,
        cfg: &'c RunConfig,
        start: Start,
        sink: &mut dyn EventSink,
    ) -> anyhow::Result<Scheduler<'p, 'c>> {
        let n = plan.len();
        let total = (0..n).filter(|&i| start.selected[i]).count();
        let already = (0..n).filter(|&i| start.selected[i] && start.done[i]).count();
        sink.event(plan, &Event::RunStarted { total, done: already })?;
        let tasks: Vec<TaskRun> = (0..n)
            .map(|i| TaskRun {
                exec: plan.executors.get_index_of(&*plan.tasks[i].executor).unwrap_or(0),
                attempts: start.attempts[i],
                ..TaskRun::default()
            })
            .collect();
        // Without Slurm's commands, the tasks of a slurm executor fail with one clear reason.
        let has_slurm = plan.executors.values().any(|d| matches!(d.kind, ExecutorKind::Slurm(_)));
        let no_slurm = has_slurm.then(exec::slurm::missing_commands).flatten();
        let mut backends: Vec<Backend> =
            plan.executors.values().map(|d| Backend::new(d, cfg.jobs, &no_slurm)).collect();
        // The ssh executors' connections open before any task starts, reporting hosts that are
        // down; one that only generated tasks use opens when the first is placed.
        for (e, b) in backends.iter_mut().enumerate() {
            let used = (0..n).any(|i| start.selected[i] && !start.done[i] && tasks[i].exec == e);
            if used {
                let name = plan.executors[e].name.clone();
                for (host, reason) in b.connect().await? {
                    sink.event(plan, &Event::HostDown { executor: name.clone(), host, reason })?;
                }
            }
        }
        let (tracker, initial) = Tracker::new(plan, start.selected, &start.done);
        let queues = vec![BinaryHeap::new(); backends.len()];
        let order = Order::new(plan, start.durations);
        Ok(Scheduler {
            plan,
            cfg,
            tasks,
            backends,
            queues,
            order,
            tracker,
            decisions: initial.into(),
            attempts: JoinSet::new(),
            retry_timers: JoinSet::new(),
            running: 0,
            total,
            decided: already,
            outcome: Outcome { already_done: already, ..Outcome::default() },
            stopping: false,
            failed_fast: false,
            cancel: watch::channel(Cancel::None).0,
            cleanup: watch::channel(Cancel::None).0,
            attach: start.attach,
            submitted: tokio::sync::mpsc::unbounded_channel(),
            unplaceable: Vec::new(),
            starved: Vec::new(),
            files: start.files,
            forced: start.forced,
            prechecked: HashMap::new(),
            clock: Instant::now(),
        })
    }

    fn queue(&mut self, i: u32) {
        let ready = self.order.ready(self.plan, i);
        self.tasks[i as usize].queued = Some(SystemTime::now());
        self.queues[self.tasks[i as usize].exec].push(ready);
    }

    /// Whether task `i`, ready while the run stops, still starts.
    fn may_start_while_stopping(&self, i: u32) -> bool {
        self.failed_fast
            && self.outcome.signal.is_none()
            && self.plan.task(i).when != crate::task::When::Success
    }

    /// Queues the tasks that became ready and reports the skipped ones.
    fn apply_decisions(&mut self, sink: &mut dyn EventSink) -> anyhow::Result<()> {
        self.precheck();
        while let Some(d) = self.decisions.pop_front() {
            match d {
                Decision::Ready(i) if !self.stopping || self.may_start_while_stopping(i) => {
                    if !self.up_to_date(i, sink)? {
                        self.queue(i);
                    }
                }
                // Stopping: it stays not started.
                Decision::Ready(_) => {}
                Decision::Skip(i, reason) => {
                    self.decided += 1;
                    match reason {
                        SkipReason::DependencyFailed => self.outcome.skipped += 1,
                        SkipReason::ConditionNotMet => self.outcome.not_needed += 1,
                    }
                    let ev = Event::Finished {
                        task: i,
                        status: Status::Skipped,
                        attempt: self.tasks[i as usize].attempts,
                        end: None,
                        skip: Some(reason),
                        log: None,
                        fingerprint: None,
                        elapsed: Duration::ZERO,
                        at: SystemTime::now(),
                    };
                    sink.event(self.plan, &ev)?;
                }
            }
        }
        Ok(())
    }

    /// Checks at once the files of the tasks waiting to be decided, when there are many.
    fn precheck(&mut self) {
        let Some(files) = self.files.as_mut().filter(|_| !self.stopping) else { return };
        let (plan, forced, prechecked) = (&*self.plan, &self.forced, &self.prechecked);
        let batch: Vec<(u32, bool)> = self
            .decisions
            .iter()
            .filter_map(|d| match *d {
                Decision::Ready(i) if !plan.task(i).outputs().is_empty() && !prechecked.contains_key(&i) => {
                    Some((i, forced.get(i as usize).copied().unwrap_or(false)))
                }
                _ => None,
            })
            .collect();
        if batch.len() < 256 {
            return;
        }
        let tasks = &self.tasks;
        let checks = files.check_all(plan, &batch, &|d| tasks[d as usize].ran);
        self.prechecked.extend(batch.iter().map(|&(i, _)| i).zip(checks));
    }

    /// Whether ready task `i` is up to date with its files, and then done; otherwise what its
    /// files are is kept for when it succeeds.
    fn up_to_date(&mut self, i: u32, sink: &mut dyn EventSink) -> anyhow::Result<bool> {
        let has_outputs = !self.plan.task(i).outputs().is_empty();
        let Some(files) = self.files.as_mut().filter(|_| has_outputs) else {
            if self.cfg.explain {
                sink.event(self.plan, &Event::Explain { task: i, why: Why::NoOutputs })?;
            }
            return Ok(false);
        };
        let force = self.forced.get(i as usize).copied().unwrap_or(false);
        let check = match self.prechecked.remove(&i) {
            Some(c) => c,
            None => {
                let tasks = &self.tasks;
                files.check(self.plan, i, force, &|d| tasks[d as usize].ran)
            }
        };
        if !check.up_to_date() {
            if self.cfg.explain {
                sink.event(self.plan, &Event::Explain { task: i, why: check.why.clone() })?;
            }
            self.tasks[i as usize].check = Some(Box::new(check));
            return Ok(false);
        }
        let fingerprint = check.restamped.then(|| Arc::new(files.fingerprint(self.plan, i, &check)));
        self.decided += 1;
        self.outcome.up_to_date += 1;
        sink.event(self.plan, &Event::UpToDate { task: i, fingerprint })?;
        self.decisions.extend(self.tracker.finish(self.plan, i, Status::Succeeded, None));
        Ok(true)
    }

    /// Starts what fits: each executor's queue in order, within its places and `-j`.
    async fn start_ready(&mut self, sink: &mut dyn EventSink) -> anyhow::Result<()> {
        if self.stopping && !(self.failed_fast && self.outcome.signal.is_none()) {
            return Ok(());
        }
        for e in 0..self.queues.len() {
            while let Some(i) = self.queues[e].peek().map(Ready::task) {
                if self.cfg.jobs.is_some_and(|j| self.running >= j) {
                    break;
                }
                if self.backends[e].is_unconnected_ssh() {
                    let name = self.plan.executors[e].name.clone();
                    for (host, reason) in self.backends[e].connect().await? {
                        sink.event(self.plan, &Event::HostDown { executor: name.clone(), host, reason })?;
                    }
                }
                let t = self.plan.task(i);
                let at = match self.backends[e].place(&t.executor, t.slots) {
                    Place::At(at) => at,
                    Place::Full => break,
                    Place::Refused(why) => {
                        self.queues[e].pop();
                        self.unplaceable.push((i, why));
                        continue;
                    }
                };
                self.queues[e].pop();
                self.launch(i, at, sink)?;
            }
        }
        Ok(())
    }

    /// Starts the next attempt of task `i` at `at`.
    fn launch(&mut self, i: u32, at: Option<Placement>, sink: &mut dyn EventSink) -> anyhow::Result<()> {
        let (plan, cfg) = (&*self.plan, self.cfg);
        let t = plan.task(i);
        let tr = &mut self.tasks[i as usize];
        self.running += 1;
        // A job a killed run left behind is the same attempt, followed again.
        let job = self.attach.remove(&i).filter(|_| tr.attempts > 0);
        if job.is_none() {
            tr.attempts += 1;
        }
        tr.tries += 1;
        tr.ran = true;
        let attempt = tr.attempts;
        let file = file_name_for(&t.id);
        let log = cfg.logs.join(format!("{file}.{attempt}.log"));
        let stdout = t.generator.then(|| cfg.logs.join(format!("{file}.{attempt}.out")));
        let backend = &self.backends[tr.exec];
        let host = backend.host_name(at);
        let (now, queued) = (SystemTime::now(), tr.queued.take());
        sink.event(
            plan,
            &Event::Started {
                task: i,
                attempt,
                log: log.clone(),
                host,
                at: now,
                queued: queued.unwrap_or(now),
            },
        )?;
        tr.running = Some(Running {
            started: Instant::now(),
            attempt,
            placement: at,
            tries: tr.tries,
            log: log.clone(),
            stdout: stdout.clone(),
            check: tr.check.take(),
        });
        let a = attempt_for(plan, i, attempt, log, stdout, cfg, at.is_some());
        let cancel = if self.stopping { self.cleanup.subscribe() } else { self.cancel.subscribe() };
        backend.launch(&mut self.attempts, i, a, at, t.slots, job, &self.submitted.0, cancel);
        Ok(())
    }

    /// Tasks whose executor cannot take them fail with that reason.
    fn fail_unplaceable(&mut self, sink: &mut dyn EventSink) -> anyhow::Result<()> {
        for (i, why) in std::mem::take(&mut self.unplaceable) {
            self.decided += 1;
            self.outcome.failed.push(i);
            let ev = Event::Finished {
                task: i,
                status: Status::Failed,
                attempt: self.tasks[i as usize].attempts,
                end: Some(AttemptEnd::NotStarted(why)),
                skip: None,
                log: None,
                fingerprint: None,
                elapsed: Duration::ZERO,
                at: SystemTime::now(),
            };
            sink.event(self.plan, &ev)?;
            self.decisions.extend(self.tracker.finish(self.plan, i, Status::Failed, None));
        }
        Ok(())
    }

    /// Waits for the next thing to happen.
    async fn next(&mut self, signals: &mut Signals) -> anyhow::Result<Wake> {
        let stopping = self.stopping;
        Ok(tokio::select! {
            Some((i, attempt, job)) = self.submitted.1.recv() => Wake::Submitted(i, attempt, job),
            Some(joined) = self.attempts.join_next() => {
                let (i, end, usage) = joined?;
                Wake::Ended(i, end, usage)
            }
            Some(joined) = self.retry_timers.join_next(), if !stopping => Wake::RetryDue(joined?),
            sig = signals.recv() => Wake::Signal(sig),
        })
    }

    /// Waits `delay`, then queues task `i` again (its attempt `end` reported as retried).
    fn retry(
        &mut self,
        i: u32,
        attempt: u32,
        end: AttemptEnd,
        delay: Duration,
        sink: &mut dyn EventSink,
    ) -> anyhow::Result<()> {
        sink.event(self.plan, &Event::Retrying { task: i, attempt, end, delay })?;
        self.tasks[i as usize].awaiting_retry = true;
        self.retry_timers.spawn(async move {
            tokio::time::sleep(delay).await;
            i
        });
        Ok(())
    }

    /// An attempt ended: release its place, then retry it, or record how the task ended.
    fn on_end(&mut self, i: u32, mut end: AttemptEnd, sink: &mut dyn EventSink) -> anyhow::Result<()> {
        // A job's id is recorded before its end.
        while let Ok((t, attempt, job)) = self.submitted.1.try_recv() {
            sink.event(self.plan, &Event::Submitted { task: t, attempt, job })?;
        }
        let (slots, retries, retry_delay, generator) = {
            let t = self.plan.task(i);
            (t.slots, t.retries, t.retry_delay, t.generator)
        };
        self.running -= 1;
        let iu = i as usize;
        let mut r = self.tasks[iu].running.take().expect("a finished task was running");
        // Kept for the next attempt, if there is one: it compares its outputs with what they
        // were before the first.
        self.tasks[iu].check = r.check.take();
        let e = self.tasks[iu].exec;
        let released = self.backends[e].release(r.placement, slots, &end, self.stopping);
        if let Some((host, reason)) = released.host_down {
            let executor = self.plan.task(i).executor.clone();
            sink.event(self.plan, &Event::HostDown { executor, host, reason })?;
        }
        let mut requeue = released.retry_after;
        // The host or node failed, not the task: run it again without using a retry.
        if matches!(end, AttemptEnd::Lost(_)) && !self.stopping {
            self.tasks[iu].lost += 1;
            if self.tasks[iu].lost <= MAX_LOST {
                requeue = Some(Duration::ZERO);
            }
        }
        // The system is out of file descriptors or processes for now: the task waits for one
        // of the others to end (not using a retry); with none running, it fails.
        if matches!(end, AttemptEnd::Starved(_)) && self.running > 0 && !self.stopping {
            self.tasks[iu].tries -= 1;
            sink.event(
                self.plan,
                &Event::Retrying { task: i, attempt: r.attempt, end, delay: Duration::ZERO },
            )?;
            self.tasks[iu].awaiting_retry = true;
            self.starved.push(i);
            return Ok(());
        }
        // Something ended and gave back what it held: the starved tasks try again.
        for j in std::mem::take(&mut self.starved) {
            self.tasks[j as usize].awaiting_retry = false;
            self.queue(j);
        }
        if let Some(delay) = requeue {
            self.tasks[iu].tries -= 1;
            return self.retry(i, r.attempt, end, delay, sink);
        }
        // A success counts once the task made the outputs it declares.
        let mut fingerprint = None;
        if let (true, Some(check), Some(files)) = (end.succeeded(), &self.tasks[iu].check, &self.files) {
            match files.made(self.plan, i, check) {
                Ok(f) => fingerprint = Some(Arc::new(f)),
                Err(why) => end = AttemptEnd::Failed(why),
            }
        }
        // A generator's success adds the tasks it printed, before anything after it is
        // decided; output that is not a valid task list fails it instead.
        let mut added = None;
        if let (true, true, Some(out)) = (generator, end.succeeded(), &r.stdout) {
            match (self.cfg.generate)(self.plan, i, out) {
                Ok(a) => added = Some(a),
                Err(why) => end = AttemptEnd::Rejected(why),
            }
        }
        let retryable = !end.succeeded() && end != AttemptEnd::Cancelled;
        if retryable && r.tries <= retries && !self.stopping {
            let delay = retry_delay.saturating_mul(1u32 << (r.tries - 1).min(20));
            return self.retry(i, r.attempt, end, delay, sink);
        }
        self.tasks[iu].check = None;
        let status = if end.succeeded() {
            Status::Succeeded
        } else if end == AttemptEnd::Cancelled {
            Status::Interrupted
        } else {
            Status::Failed
        };
        match status {
            Status::Succeeded => self.outcome.succeeded += 1,
            Status::Interrupted => self.outcome.interrupted += 1,
            _ => self.outcome.failed.push(i),
        }
        self.decided += 1;
        // A generator's output is recorded before its success: a state that says it succeeded
        // always has the tasks it added, whenever dagrun is killed.
        if let Some((range, output)) = &added {
            self.total += range.len();
            let ev = Event::TasksAdded { generator: i, added: range.clone(), output: output.clone() };
            sink.event(self.plan, &ev)?;
        }
        let ev = Event::Finished {
            task: i,
            status,
            attempt: r.attempt,
            end: Some(end),
            skip: None,
            log: Some(r.log),
            fingerprint,
            elapsed: r.started.elapsed(),
            at: SystemTime::now(),
        };
        sink.event(self.plan, &ev)?;
        if status == Status::Failed && self.cfg.fail_fast && !self.stopping {
            self.stop_for_failure(sink)?;
        }
        if let Some((range, _)) = added {
            self.take_in(i, range);
        }
        if status != Status::Interrupted {
            self.decisions.extend(self.tracker.finish(self.plan, i, status, None));
        }
        Ok(())
    }

    /// `--fail-fast`: stops the running tasks; only `when: failure`/`always` tasks may start.
    fn stop_for_failure(&mut self, sink: &mut dyn EventSink) -> anyhow::Result<()> {
        self.stopping = true;
        self.failed_fast = true;
        self.cancel.send_replace(Cancel::Terminate);
        sink.event(self.plan, &Event::Stopping { signal: None, running: self.running as usize })?;
        let mut queues = std::mem::take(&mut self.queues);
        for q in &mut queues {
            q.retain(|r| self.may_start_while_stopping(r.task()));
        }
        self.queues = queues;
        Ok(())
    }

    /// Takes in the tasks generator `g` added (`range`, at the end of the plan).
    fn take_in(&mut self, g: u32, range: Range<u32>) {
        for k in range.clone() {
            let exec = self.plan.executors.get_index_of(&*self.plan.task(k).executor).unwrap_or(0);
            self.tasks.push(TaskRun { exec, ..TaskRun::default() });
        }
        self.tracker.grow(self.plan, range.start as usize, g);
        self.order.grow(self.plan, range);
    }

    /// The first signal stops gracefully; another one kills at once.
    fn on_signal(&mut self, sig: i32, sink: &mut dyn EventSink) -> anyhow::Result<()> {
        if self.stopping && self.outcome.signal.is_some() {
            self.cancel.send_replace(Cancel::Kill);
            self.cleanup.send_replace(Cancel::Kill);
            return Ok(());
        }
        self.stopping = true;
        self.outcome.signal.get_or_insert(sig);
        self.cancel.send_replace(Cancel::Terminate);
        self.cleanup.send_replace(Cancel::Terminate);
        for q in &mut self.queues {
            q.clear();
        }
        sink.event(self.plan, &Event::Stopping { signal: Some(sig), running: self.running as usize })
    }

    /// After the last attempt: tasks that were waiting for a retry were interrupted mid-way.
    async fn finish(mut self, sink: &mut dyn EventSink) -> anyhow::Result<Outcome> {
        self.retry_timers.abort_all();
        while self.retry_timers.join_next().await.is_some() {}
        for (i, t) in self.tasks.iter().enumerate() {
            debug_assert!(t.running.is_none(), "task {i} still running at the end");
            if t.awaiting_retry {
                self.decided += 1;
                self.outcome.interrupted += 1;
                let ev = Event::Finished {
                    task: i as u32,
                    status: Status::Interrupted,
                    attempt: t.attempts,
                    end: Some(AttemptEnd::Cancelled),
                    skip: None,
                    log: None,
                    fingerprint: None,
                    elapsed: Duration::ZERO,
                    at: SystemTime::now(),
                };
                sink.event(self.plan, &ev)?;
            }
        }
        self.outcome.pending = self.total - self.decided;
        self.outcome.files_read = self.files.as_ref().map_or(0, Checker::files_read);
        // The process ends soon: freeing every fingerprint one by one would only delay it.
        std::mem::forget(self.files.take());
        self.outcome.elapsed = self.clock.elapsed();
        sink.event(self.plan, &Event::RunFinished(Box::new(self.outcome.clone())))?;
        Ok(self.outcome)
    }
}

/// Tasks a generator added, and the output that defined them.
pub type Added = (Range<u32>, Arc<str>);

/// How a generator's success adds its tasks: given the plan, the generator and the file its
/// stdout went to, the tasks added (at the end of the plan) and the output that defined them,
/// or why the output was refused. The scheduler is handed it (`RunConfig::generate`) and does
/// not know how a task list is read; `pipeline::splice_output` is the one dagrun uses.
pub type Generate = fn(&mut Plan, u32, &std::path::Path) -> Result<Added, String>;

fn attempt_for(
    plan: &Plan,
    i: u32,
    number: u32,
    log: PathBuf,
    stdout: Option<PathBuf>,
    cfg: &RunConfig,
    remote: bool,
) -> Attempt {
    let t = plan.task(i);
    let mut env = Vec::with_capacity(plan.env.len() + t.env.len() + 3);
    env.extend(plan.env.iter().cloned());
    env.extend(t.env.iter().cloned());
    env.push(("DAGRUN_TASK".into(), t.id.clone()));
    env.push(("DAGRUN_ATTEMPT".into(), number.to_string()));
    env.push(("DAGRUN_RUN_DIR".into(), cfg.run_dir.display().to_string()));
    // Tasks run in the workflow file's directory; a relative `workdir` is taken from there.
    let base = plan.source.path.parent().filter(|d| !d.as_os_str().is_empty()).map(PathBuf::from);
    // Remote tasks start in the login directory; their `workdir` is a remote path.
    let base = if remote { None } else { base };
    let workdir = match (&t.workdir, base) {
        (Some(w), Some(b)) => Some(b.join(w)),
        (Some(w), None) => Some(PathBuf::from(w)),
        (None, b) => b,
    };
    Attempt {
        task_id: t.id.clone(),
        number,
        cmd: t.cmd.clone(),
        env,
        workdir,
        timeout: t.timeout,
        log,
        stdout,
        grace: cfg.grace,
    }
}
