//! What the scheduler tells the world. The scheduler never prints and never writes the state
//! file: reporters and the state recorder are `EventSink`s that consume these events, in order,
//! synchronously — so a sink that records a success has done so before any dependent starts.

use crate::exec::AttemptEnd;
use crate::files::{Fingerprint, Why};
use crate::model::{SkipReason, Status};
use crate::plan::Plan;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

#[derive(Debug, Clone)]
pub enum Event {
    /// The run begins: `total` tasks will be decided, `done` of them already were (resume).
    RunStarted { total: usize, done: usize },
    /// An attempt started; its output goes to `log`.
    Started {
        task: u32,
        attempt: u32,
        log: PathBuf,
        host: Option<String>,
        at: SystemTime,
        queued: SystemTime,
    },
    /// The attempt became the Slurm job `job` (submitted, or found again by `resume`).
    Submitted { task: u32, attempt: u32, job: String },
    /// What an attempt's processes used (local attempts), just before how it ended is told.
    Used { task: u32, attempt: u32, usage: crate::exec::Usage },
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
        /// What its declared files were, for a task with outputs that succeeded.
        fingerprint: Option<Arc<Fingerprint>>,
        elapsed: Duration,
        at: SystemTime,
    },
    /// A task that declares outputs is up to date with its files: done without running.
    /// `fingerprint`: its files' stamps changed (not their contents), to be recorded again.
    UpToDate { task: u32, fingerprint: Option<Arc<Fingerprint>> },
    /// Why a ready task runs (`--explain`).
    Explain { task: u32, why: Why },
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
    /// Declared outputs up to date with their inputs: not run.
    pub up_to_date: usize,
    /// Input files read to compare their contents (the others' stamps were unchanged).
    pub files_read: usize,
    /// The signal that stopped the run, if one did.
    pub signal: Option<i32>,
    pub elapsed: Duration,
}

impl Outcome {
    /// Whether everything this run was asked to do is done.
    pub fn complete(&self) -> bool {
        self.failed.is_empty() && self.skipped == 0 && self.interrupted == 0 && self.pending == 0
    }

    pub fn verdict(&self) -> crate::model::Verdict {
        crate::model::Verdict::of(self.signal, self.complete())
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
