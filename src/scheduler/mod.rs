//! The scheduler: starts each task the moment its dependencies allow and a slot of its executor
//! is free, within the global `-j` cap; retries, `--fail-fast`, and Ctrl-C / SIGTERM.
//!
//! It only decides and emits events; `tracker` holds the pure ready-set logic, `exec` runs
//! attempts, and sinks (reporters, the state recorder) consume the events.

pub mod event;
pub mod tracker;

use crate::exec::AttemptEnd;
use crate::exec::hosts::{HostPool, Placement};
use crate::exec::slurm::Slurm;
use crate::exec::{self, Attempt, Cancel};
use crate::model::ExecutorKind;
use crate::model::{SkipReason, Status};
use crate::plan::Plan;
use crate::task::file_name_for;
use event::{Event, EventSink, Outcome};
use std::collections::{HashMap, VecDeque};
use std::ops::Range;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};
use tokio::signal::unix::{SignalKind, signal};
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
}

impl Start {
    pub fn fresh(plan: &Plan, selected: Vec<bool>) -> Start {
        Start {
            selected,
            done: vec![false; plan.len()],
            attempts: vec![0; plan.len()],
            attach: HashMap::new(),
        }
    }
}

struct Running {
    started: Instant,
    attempt: u32,
    /// The host of an ssh attempt.
    placement: Option<Placement>,
    /// Attempts made in this run (retries count from here).
    tries: u32,
}

pub async fn run(
    plan: &mut Plan,
    cfg: &RunConfig,
    start: Start,
    sink: &mut dyn EventSink,
) -> anyhow::Result<Outcome> {
    let clock = Instant::now();
    let n = plan.len();
    let mut total = (0..n).filter(|&i| start.selected[i]).count();
    let already = (0..n).filter(|&i| start.selected[i] && start.done[i]).count();
    sink.event(plan, &Event::RunStarted { total, done: already })?;

    let mut exec_index: Vec<usize> =
        plan.tasks.iter().map(|t| plan.executors.get_index_of(&*t.executor).unwrap_or(0)).collect();
    let mut free: Vec<u32> = plan
        .executors
        .values()
        .map(|e| match (&e.kind, cfg.jobs) {
            // `-j N` is the local parallelism where the workflow does not set it.
            (ExecutorKind::Local { slots_given: false }, Some(j)) => j.max(1),
            _ => e.slots,
        })
        .collect();
    let mut queues: Vec<VecDeque<u32>> = vec![VecDeque::new(); free.len()];
    let mut running: Vec<Option<Running>> = (0..n).map(|_| None).collect();
    let mut attempts = start.attempts;
    let mut tries = vec![0u32; n];
    let mut awaiting_retry = vec![false; n];
    let mut running_count = 0u32;
    let (cancel_tx, cancel_rx) = watch::channel(Cancel::None);
    // Tasks started after `--fail-fast` stopped the others (`when: failure`/`always` ones)
    // answer only to a signal.
    let (cleanup_tx, cleanup_rx) = watch::channel(Cancel::None);
    let mut attempts_set: JoinSet<(u32, AttemptEnd)> = JoinSet::new();
    let mut retry_timers: JoinSet<u32> = JoinSet::new();
    let mut outcome = Outcome { already_done: already, ..Outcome::default() };
    let mut stopping = false;
    // Stopping because a task failed under `--fail-fast` (not because of a signal): tasks that
    // run on failure or always still start once their dependencies have finished.
    let mut failed_fast = false;
    let mut decided = already;

    let mut sigint = signal(SignalKind::interrupt())?;
    let mut sigterm = signal(SignalKind::terminate())?;
    // A closed terminal or ssh session: stop as for SIGTERM, with the tasks' grace period.
    let mut sighup = signal(SignalKind::hangup())?;

    // Open the ssh executors' connections before any task starts, reporting hosts that are down.
    let mut pools: Vec<Option<HostPool>> = Vec::with_capacity(plan.executors.len());
    for (e, def) in plan.executors.values().enumerate() {
        let used = (0..n).any(|i| start.selected[i] && !start.done[i] && exec_index[i] == e);
        if !used || !matches!(def.kind, ExecutorKind::Ssh { .. }) {
            pools.push(None);
            continue;
        }
        let mut pool = HostPool::new(def)?;
        for (host, reason) in pool.connect().await {
            sink.event(plan, &Event::HostDown { executor: def.name.clone(), host, reason })?;
        }
        pools.push(Some(pool));
    }
    let slurms: Vec<Option<Arc<Slurm>>> = plan
        .executors
        .values()
        .map(|def| match &def.kind {
            ExecutorKind::Slurm(s) => Some(Slurm::start(s.clone())),
            _ => None,
        })
        .collect();
    // Without Slurm's commands, the tasks of a slurm executor fail with one clear reason.
    let no_slurm = slurms.iter().any(Option::is_some).then(exec::slurm::missing_commands).flatten();
    let mut attach = start.attach;
    let (submitted_tx, mut submitted_rx) = tokio::sync::mpsc::unbounded_channel::<(u32, u32, String)>();
    let mut lost = vec![0u32; n];
    // Tasks that could not start for want of file descriptors or processes, until one ends.
    let mut starved: Vec<u32> = Vec::new();
    let mut no_host: Vec<(u32, String)> = Vec::new();

    let (mut tracker, initial) = Tracker::new(plan, start.selected, &start.done);
    let mut pending_decisions: VecDeque<Decision> = initial.into();
    let logs = cfg.logs.clone();

    loop {
        // Apply decisions: queue ready tasks, report skipped ones.
        while let Some(d) = pending_decisions.pop_front() {
            match d {
                Decision::Ready(i) if !stopping || cleanup_may_start(plan, i, failed_fast, &outcome) => {
                    queues[exec_index[i as usize]].push_back(i)
                }
                // Stopping: it stays not started.
                Decision::Ready(_) => {}
                Decision::Skip(i, reason) => {
                    decided += 1;
                    match reason {
                        SkipReason::DependencyFailed => outcome.skipped += 1,
                        SkipReason::ConditionNotMet => outcome.not_needed += 1,
                    }
                    sink.event(
                        plan,
                        &Event::Finished {
                            task: i,
                            status: Status::Skipped,
                            attempt: attempts[i as usize],
                            end: None,
                            skip: Some(reason),
                            log: None,
                            elapsed: Duration::ZERO,
                            at: SystemTime::now(),
                        },
                    )?;
                }
            }
        }

        // Start what fits.
        if !stopping || (failed_fast && outcome.signal.is_none()) {
            for (e, q) in queues.iter_mut().enumerate() {
                while let Some(&i) = q.front() {
                    let t = plan.task(i);
                    if cfg.jobs.is_some_and(|j| running_count >= j) {
                        break;
                    }
                    if let (Some(why), Some(_)) = (&no_slurm, &slurms[e]) {
                        q.pop_front();
                        no_host.push((i, format!("executor `{}` cannot submit jobs: {why}", t.executor)));
                        continue;
                    }
                    let placement = match pools[e].as_mut() {
                        Some(pool) => {
                            if let Some(why) = pool.all_down() {
                                q.pop_front();
                                no_host.push((
                                    i,
                                    format!("no host of executor `{}` can be reached ({why})", t.executor),
                                ));
                                continue;
                            }
                            match pool.place(t.slots) {
                                Some(p) => Some(p),
                                None => break,
                            }
                        }
                        None if free[e] < cost(plan, e, t.slots) => break,
                        None => {
                            free[e] -= cost(plan, e, t.slots);
                            None
                        }
                    };
                    q.pop_front();
                    let host =
                        placement.and_then(|p| pools[e].as_ref().map(|pool| pool.host_name(p).to_owned()));
                    running_count += 1;
                    // A job a killed run left behind is the same attempt, followed again.
                    let job = attach.remove(&i).filter(|_| attempts[i as usize] > 0);
                    if job.is_none() {
                        attempts[i as usize] += 1;
                    }
                    tries[i as usize] += 1;
                    let attempt = attempts[i as usize];
                    let log = logs.join(format!("{}.{attempt}.log", file_name_for(&t.id)));
                    let stdout =
                        t.generator.then(|| logs.join(format!("{}.{attempt}.out", file_name_for(&t.id))));
                    sink.event(
                        plan,
                        &Event::Started { task: i, attempt, log: log.clone(), host, at: SystemTime::now() },
                    )?;
                    running[i as usize] = Some(Running {
                        started: Instant::now(),
                        attempt,
                        placement,
                        tries: tries[i as usize],
                    });
                    let a = attempt_for(plan, i, attempt, log, stdout, cfg, placement.is_some());
                    let rx = if stopping { cleanup_rx.clone() } else { cancel_rx.clone() };
                    if let Some(s) = slurms[e].clone() {
                        let tx = submitted_tx.clone();
                        let slots = t.slots;
                        let told = move |job| {
                            let _ = tx.send((i, attempt, job));
                        };
                        attempts_set
                            .spawn(async move { (i, exec::slurm::run(&a, &s, slots, job, told, rx).await) });
                        continue;
                    }
                    match placement.and_then(|p| pools[e].as_ref().map(|pool| pool.master(p))) {
                        Some(m) => attempts_set.spawn(async move { (i, exec::ssh::run(&a, &m, rx).await) }),
                        None => attempts_set.spawn(async move { (i, exec::local::run(&a, rx).await) }),
                    };
                }
            }
        }

        // Tasks whose executor has no host left fail with that reason.
        for (i, why) in std::mem::take(&mut no_host) {
            decided += 1;
            outcome.failed.push(i);
            let end = AttemptEnd::NotStarted(why);
            let ev = Event::Finished {
                task: i,
                status: Status::Failed,
                attempt: attempts[i as usize],
                end: Some(end),
                skip: None,
                log: None,
                elapsed: Duration::ZERO,
                at: SystemTime::now(),
            };
            sink.event(plan, &ev)?;
            pending_decisions.extend(tracker.finish(plan, i, Status::Failed, None));
        }
        if !pending_decisions.is_empty() {
            continue;
        }
        if attempts_set.is_empty() && (stopping || retry_timers.is_empty()) {
            break;
        }

        tokio::select! {
            Some((i, attempt, job)) = submitted_rx.recv() => {
                sink.event(plan, &Event::Submitted { task: i, attempt, job })?;
            }
            Some(joined) = attempts_set.join_next() => {
                // A job's id is recorded before its end.
                while let Ok((i, attempt, job)) = submitted_rx.try_recv() {
                    sink.event(plan, &Event::Submitted { task: i, attempt, job })?;
                }
                let (i, mut end) = joined?;
                let (slots, retries, retry_delay, generator) = {
                    let t = plan.task(i);
                    (t.slots, t.retries, t.retry_delay, t.generator)
                };
                running_count -= 1;
                let r = running[i as usize].take().expect("a finished task was running");
                let e = exec_index[i as usize];
                let mut requeue = None;
                match (r.placement, pools[e].as_mut()) {
                    (Some(p), Some(pool)) => {
                        pool.release(p, slots);
                        if let AttemptEnd::Lost(why) = &end {
                            if pool.mark_down(p.host, why) {
                                let ev = Event::HostDown {
                                    executor: plan.task(i).executor.clone(),
                                    host: pool.host_name(p).to_owned(),
                                    reason: why.clone(),
                                };
                                sink.event(plan, &ev)?;
                            }
                        }
                        if matches!(end, AttemptEnd::Refused(_)) && !stopping {
                            pool.back_off(p);
                            requeue = Some(Duration::from_millis(200));
                        }
                    }
                    _ => free[e] += cost(plan, e, slots),
                }
                // The host or node failed, not the task: run it again without using a retry.
                if matches!(end, AttemptEnd::Lost(_)) && !stopping {
                    lost[i as usize] += 1;
                    if lost[i as usize] <= MAX_LOST {
                        requeue = Some(Duration::ZERO);
                    }
                }
                // The system is out of file descriptors or processes for now: the task waits
                // for one of the others to end (not using a retry); with none running, it fails.
                if let AttemptEnd::Starved(_) = &end {
                    if running_count > 0 && !stopping {
                        tries[i as usize] -= 1;
                        sink.event(plan, &Event::Retrying { task: i, attempt: r.attempt, end, delay: Duration::ZERO })?;
                        awaiting_retry[i as usize] = true;
                        starved.push(i);
                        continue;
                    }
                }
                // Something ended and gave back what it held: the starved tasks try again.
                for j in starved.drain(..) {
                    awaiting_retry[j as usize] = false;
                    queues[exec_index[j as usize]].push_back(j);
                }
                if let Some(delay) = requeue {
                    tries[i as usize] -= 1;
                    sink.event(plan, &Event::Retrying { task: i, attempt: r.attempt, end, delay })?;
                    awaiting_retry[i as usize] = true;
                    retry_timers.spawn(async move {
                        tokio::time::sleep(delay).await;
                        i
                    });
                    continue;
                }
                let file = file_name_for(&plan.task(i).id);
                let log = logs.join(format!("{file}.{}.log", r.attempt));
                // A generator's success adds the tasks it printed, before anything after it
                // is decided; output that is not a valid task list fails it instead.
                let mut added = None;
                if generator && end.succeeded() {
                    let out = logs.join(format!("{file}.{}.out", r.attempt));
                    match generate(plan, i, &out) {
                        Ok(a) => added = Some(a),
                        Err(why) => end = AttemptEnd::Rejected(why),
                    }
                }
                let retryable = !end.succeeded() && end != AttemptEnd::Cancelled;
                if retryable && r.tries <= retries && !stopping {
                    let delay = retry_delay.saturating_mul(1u32 << (r.tries - 1).min(20));
                    sink.event(plan, &Event::Retrying { task: i, attempt: r.attempt, end, delay })?;
                    awaiting_retry[i as usize] = true;
                    retry_timers.spawn(async move {
                        tokio::time::sleep(delay).await;
                        i
                    });
                    continue;
                }
                let status = if end.succeeded() {
                    Status::Succeeded
                } else if end == AttemptEnd::Cancelled {
                    Status::Interrupted
                } else {
                    Status::Failed
                };
                match status {
                    Status::Succeeded => outcome.succeeded += 1,
                    Status::Interrupted => outcome.interrupted += 1,
                    _ => outcome.failed.push(i),
                }
                decided += 1;
                // A generator's output is recorded before its success: a state that says it
                // succeeded always has the tasks it added, whenever dagrun is killed.
                if let Some((range, output)) = &added {
                    total += range.len();
                    let ev = Event::TasksAdded { generator: i, added: range.clone(), output: output.clone() };
                    sink.event(plan, &ev)?;
                }
                sink.event(plan, &Event::Finished {
                    task: i,
                    status,
                    attempt: r.attempt,
                    end: Some(end),
                    skip: None,
                    log: Some(log),
                    elapsed: r.started.elapsed(),
                    at: SystemTime::now(),
                })?;
                if status == Status::Failed && cfg.fail_fast && !stopping {
                    stopping = true;
                    failed_fast = true;
                    let _ = cancel_tx.send(Cancel::Terminate);
                    sink.event(plan, &Event::Stopping { signal: None, running: running_count as usize })?;
                    for q in &mut queues {
                        q.retain(|&j| cleanup_may_start(plan, j, failed_fast, &outcome));
                    }
                }
                if let Some((range, _)) = added {
                    let old = range.start as usize;
                    for k in range.clone() {
                        exec_index.push(plan.executors.get_index_of(&*plan.task(k).executor).unwrap_or(0));
                    }
                    running.resize_with(plan.len(), || None);
                    attempts.resize(plan.len(), 0);
                    tries.resize(plan.len(), 0);
                    awaiting_retry.resize(plan.len(), false);
                    tracker.grow(plan, old, i);
                }
                if status != Status::Interrupted {
                    pending_decisions.extend(tracker.finish(plan, i, status, None));
                }
            }
            Some(joined) = retry_timers.join_next(), if !stopping => {
                let i = joined?;
                awaiting_retry[i as usize] = false;
                queues[exec_index[i as usize]].push_back(i);
            }
            sig = async {
                tokio::select! {
                    _ = sigint.recv() => 2,
                    _ = sigterm.recv() => 15,
                    _ = sighup.recv() => 15,
                }
            } => {
                // The first signal stops gracefully; another one kills at once.
                if stopping && outcome.signal.is_some() {
                    let _ = cancel_tx.send(Cancel::Kill);
                    let _ = cleanup_tx.send(Cancel::Kill);
                } else {
                    stopping = true;
                    outcome.signal.get_or_insert(sig);
                    let _ = cancel_tx.send(Cancel::Terminate);
                    let _ = cleanup_tx.send(Cancel::Terminate);
                    for q in &mut queues {
                        q.clear();
                    }
                    sink.event(plan, &Event::Stopping { signal: Some(sig), running: running_count as usize })?;
                }
            }
        }
    }

    // Tasks waiting for a retry when the run stopped were interrupted mid-way.
    retry_timers.abort_all();
    while let Some(r) = retry_timers.join_next().await {
        let _ = r;
    }
    for (i, r) in running.iter().enumerate() {
        debug_assert!(r.is_none(), "task {i} still running at the end");
    }
    for i in 0..n as u32 {
        if awaiting_retry[i as usize] {
            decided += 1;
            outcome.interrupted += 1;
            sink.event(
                plan,
                &Event::Finished {
                    task: i,
                    status: Status::Interrupted,
                    attempt: attempts[i as usize],
                    end: Some(AttemptEnd::Cancelled),
                    skip: None,
                    log: None,
                    elapsed: Duration::ZERO,
                    at: SystemTime::now(),
                },
            )?;
        }
    }
    outcome.pending = total - decided;
    outcome.elapsed = clock.elapsed();
    sink.event(plan, &Event::RunFinished(Box::new(outcome.clone())))?;
    Ok(outcome)
}

/// Whether task `i`, ready while the run stops, still starts: under `--fail-fast` (no signal),
/// a `when: failure` or `when: always` task does, as its dependencies have all finished.
fn cleanup_may_start(plan: &Plan, i: u32, failed_fast: bool, outcome: &Outcome) -> bool {
    failed_fast && outcome.signal.is_none() && plan.task(i).when != crate::task::When::Success
}

/// What a task takes of its executor's `slots`: a Slurm job is one job in flight whatever its
/// CPUs; elsewhere, the task's slots.
fn cost(plan: &Plan, e: usize, slots: u32) -> u32 {
    match plan.executors[e].kind {
        ExecutorKind::Slurm(_) => 1,
        _ => slots,
    }
}

/// Tasks a generator added, and the output that defined them.
type Added = (Range<u32>, Arc<str>);

/// Reads a generator's output and splices the tasks it defines into the plan. Output that adds
/// nothing is still reported, so the state records it and `resume` does not run it again.
fn generate(plan: &mut Plan, i: u32, out: &std::path::Path) -> Result<Added, String> {
    let text = crate::plan::splice::read_output(out)?;
    let range =
        crate::plan::splice::splice(plan, i, &text).map_err(|d| crate::diag::Diagnostics(d).to_string())?;
    Ok((range, Arc::from(text)))
}

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
