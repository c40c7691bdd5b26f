//! What the scheduler tells the world. The scheduler never prints and never writes the state
//! file: reporters and the state recorder are `EventSink`s that consume these events, in order,
//! synchronously — so a sink that records a success has done so before any dependent starts.

use crate::plan::Plan;
use serde::{Deserialize, Serialize};
use std::path::PathBuf;
use std::time::{Duration, SystemTime};

/// A task's status, as the state file and `graph --state` name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Pending,
    Running,
    Succeeded,
    Failed,
    Skipped,
    Interrupted,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Pending => "pending",
            Status::Running => "running",
            Status::Succeeded => "succeeded",
            Status::Failed => "failed",
            Status::Skipped => "skipped",
            Status::Interrupted => "interrupted",
        }
    }
}

/// How one attempt ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AttemptEnd {
    /// The command exited (0 is success).
    Exited(i32),
    /// The command was killed by a signal it did not expect.
    Signaled(i32),
    /// The attempt ran past its `timeout` and was killed.
    TimedOut(Duration),
    /// dagrun stopped it (Ctrl-C, SIGTERM, `--fail-fast`).
    Cancelled,
    /// The command could not be started (missing program, bad workdir, log not writable).
    NotStarted(String),
    /// A generator exited 0 but its output was refused (every problem, one per line).
    Rejected(String),
    /// The host, not the task, failed (connection lost, host down): run it elsewhere.
    Lost(String),
    /// The server refused a new session (too many on one connection): try again shortly.
    Refused(String),
    /// The system refused what starting it takes (open files, processes): try again when
    /// another task has ended and given its share back.
    Starved(String),
    /// The attempt ended badly for a reason its executor gives in words (a Slurm job state).
    Failed(String),
}

impl AttemptEnd {
    pub fn succeeded(&self) -> bool {
        matches!(self, AttemptEnd::Exited(0))
    }

    pub fn exit_code(&self) -> Option<i32> {
        match self {
            AttemptEnd::Exited(c) => Some(*c),
            _ => None,
        }
    }

    /// One lowercase phrase for displays and the state file.
    pub fn describe(&self) -> String {
        match self {
            AttemptEnd::Exited(0) => "exited 0".into(),
            AttemptEnd::Exited(c) => format!("exit code {c}"),
            AttemptEnd::Signaled(s) => format!("killed by signal {s}"),
            AttemptEnd::TimedOut(t) => format!("timed out after {}", humantime::format_duration(*t)),
            AttemptEnd::Cancelled => "interrupted".into(),
            AttemptEnd::NotStarted(m) => m.clone(),
            AttemptEnd::Rejected(m) => format!("its output was refused:\n{m}"),
            AttemptEnd::Lost(m) => format!("host lost: {m}"),
            AttemptEnd::Refused(m) => format!("session refused: {m}"),
            AttemptEnd::Starved(m) => format!("cannot start yet: {m}"),
            AttemptEnd::Failed(m) => m.clone(),
        }
    }
}

/// Why a task was skipped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SkipReason {
    /// A dependency failed (or was skipped because one failed): the run is not a success.
    DependencyFailed,
    /// Its `when` condition did not hold although nothing failed (a `when: failure` task
    /// after a clean run, or a task after such a task).
    ConditionNotMet,
}

#[derive(Debug, Clone)]
pub enum Event {
    /// The run begins: `total` tasks will be decided, `done` of them already were (resume).
    RunStarted { total: usize, done: usize },
    /// An attempt started; its output goes to `log`.
    Started { task: u32, attempt: u32, log: PathBuf, host: Option<String>, at: SystemTime },
    /// The attempt became the Slurm job `job` (submitted, or found again by `resume`).
    Submitted { task: u32, attempt: u32, job: String },
    /// An attempt failed and the task will be tried again after `delay`.
    Retrying { task: u32, attempt: u32, end: AttemptEnd, delay: Duration },
    /// The task reached its final status for this run.
    Finished {
        task: u32,
        status: Status,
        attempt: u32,
        end: Option<AttemptEnd>,
        skip: Option<SkipReason>,
        log: Option<PathBuf>,
        elapsed: Duration,
        at: SystemTime,
    },
    /// Generator `generator` succeeded and its output added the tasks `added` (indices at the
    /// end of the plan). `output` is the fragment text, kept so resume can add them again.
    TasksAdded { generator: u32, added: std::ops::Range<u32>, output: std::sync::Arc<str> },
    /// The run stops: `running` tasks are being stopped. `signal` is the signal that asked for
    /// it (a second one kills at once), none for `--fail-fast`.
    Stopping { signal: Option<i32>, running: usize },
    /// A host of an ssh executor cannot be used for the rest of the run (reported once).
    HostDown { executor: std::sync::Arc<str>, host: String, reason: String },
    /// The run is over.
    RunFinished(Box<Outcome>),
}

/// Consumes events. An error stops the run (a state file that cannot be written must not be
/// trusted to resume from).
/// The plan is lent with each event: it grows while the run goes (generators).
pub trait EventSink {
    fn event(&mut self, plan: &Plan, event: &Event) -> anyhow::Result<()>;
}

/// How the run ended.
#[derive(Debug, Clone, Default)]
pub struct Outcome {
    pub succeeded: usize,
    pub failed: Vec<u32>,
    /// Skipped because something failed.
    pub skipped: usize,
    /// Skipped because their `when` condition did not hold, nothing having failed.
    pub not_needed: usize,
    pub interrupted: usize,
    /// Never started (a stop or `--fail-fast` came first).
    pub pending: usize,
    /// Already done before the run (resume).
    pub already_done: usize,
    /// The signal that stopped the run, if one did.
    pub signal: Option<i32>,
    pub elapsed: Duration,
}

impl Outcome {
    /// Whether everything this run was asked to do is done.
    pub fn complete(&self) -> bool {
        self.failed.is_empty() && self.skipped == 0 && self.interrupted == 0 && self.pending == 0
    }
}

/// Several sinks in order: the state recorder first, so a transition is on disk before it is
/// shown.
pub struct Tee<'a>(pub Vec<&'a mut dyn EventSink>);

impl EventSink for Tee<'_> {
    fn event(&mut self, plan: &Plan, event: &Event) -> anyhow::Result<()> {
        for s in &mut self.0 {
            s.event(plan, event)?;
        }
        Ok(())
    }
}
