//! The model every stage shares, and that imports none of them: a task's status, how a task
//! was skipped, executor definitions, durations as written in a workflow, and the exit codes
//! of the command line. (`task.rs`, the task itself, is the other half of it.) See
//! `docs/architecture.md` for the stages and the rule that imports only go down.

use serde::{Deserialize, Serialize};
use std::sync::Arc;
use std::time::Duration;

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

/// Why a task was skipped (recorded in the state as `skip`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SkipReason {
    /// A dependency failed (or was skipped because one failed): the run is not a success.
    DependencyFailed,
    /// Its `when` condition did not hold although nothing failed (a `when: failure` task
    /// after a clean run, or a task after such a task).
    ConditionNotMet,
}

/// How a run ended, as the summary, the state's `run.outcome` and the exit code say it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Succeeded,
    Failed,
    /// Stopped by SIGINT (Ctrl-C).
    Interrupted,
    /// Stopped by SIGTERM or SIGHUP.
    Terminated,
}

impl Verdict {
    /// The verdict of a run that ended with `complete` (everything asked for done), stopped
    /// by `signal` if one stopped it.
    pub fn of(signal: Option<i32>, complete: bool) -> Verdict {
        match signal {
            Some(2) => Verdict::Interrupted,
            Some(_) => Verdict::Terminated,
            None if complete => Verdict::Succeeded,
            None => Verdict::Failed,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Succeeded => "succeeded",
            Verdict::Failed => "failed",
            Verdict::Interrupted => "interrupted",
            Verdict::Terminated => "terminated",
        }
    }

    pub fn exit_code(self) -> u8 {
        match self {
            Verdict::Succeeded => code::OK,
            Verdict::Failed => code::TASK_FAILED,
            Verdict::Interrupted => code::INTERRUPTED,
            Verdict::Terminated => code::TERMINATED,
        }
    }
}

/// An SSH host of an executor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Host {
    pub name: String,
    pub user: Option<String>,
    pub port: Option<u16>,
    pub slots: u32,
}

#[derive(Debug, Clone)]
pub enum ExecutorKind {
    /// `slots_given`: the workflow set its `slots`; otherwise they are the number of CPUs, and
    /// `-j N` sets them instead (as `make -j` would).
    Local {
        slots_given: bool,
    },
    Ssh {
        hosts: Vec<Host>,
        config: Option<String>,
        identity_file: Option<String>,
        options: Vec<String>,
        max_sessions: u32,
    },
    Slurm(SlurmDef),
}

/// A `slurm` executor's job options, checked.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SlurmDef {
    pub partition: Option<String>,
    pub account: Option<String>,
    pub qos: Option<String>,
    /// Job time limit; without it, the task's `timeout`.
    pub time: Option<std::time::Duration>,
    /// CPUs per job; without it, the task's `slots`.
    pub cpus_per_task: Option<u32>,
    pub mem: Option<String>,
    pub sbatch_args: Vec<String>,
}

#[derive(Debug, Clone)]
pub struct ExecutorDef {
    pub name: Arc<str>,
    /// Tasks slots in all (for ssh, the sum over hosts).
    pub slots: u32,
    pub kind: ExecutorKind,
}

impl ExecutorDef {
    /// The most slots one task of this executor can take (the largest host).
    pub fn max_task_slots(&self) -> u32 {
        match &self.kind {
            ExecutorKind::Ssh { hosts, .. } => hosts.iter().map(|h| h.slots).max().unwrap_or(0),
            // A job's slots are its CPUs, which Slurm places; `slots` counts jobs in flight.
            ExecutorKind::Slurm(_) => u32::MAX,
            ExecutorKind::Local { .. } => self.slots,
        }
    }

    pub fn type_name(&self) -> &'static str {
        match self.kind {
            ExecutorKind::Local { .. } => "local",
            ExecutorKind::Ssh { .. } => "ssh",
            ExecutorKind::Slurm(_) => "slurm",
        }
    }
}

pub fn parse_duration(s: &str) -> Result<Duration, String> {
    humantime::parse_duration(s.trim())
        .map_err(|e| format!("`{s}` is not a duration ({e}); write it like `500ms`, `30s`, `10m` or `2h`"))
}

/// Exit codes of the command-line contract.
pub mod code {
    pub const OK: u8 = 0;
    pub const TASK_FAILED: u8 = 1;
    pub const USAGE: u8 = 2;
    pub const INVALID: u8 = 3;
    pub const STATE: u8 = 4;
    pub const INTERRUPTED: u8 = 130;
    pub const TERMINATED: u8 = 143;

    /// Each code with what it means, for the manual.
    pub const MEANINGS: [(u8, &str); 7] = [
        (OK, "Everything needed ran and succeeded, or the files are valid."),
        (TASK_FAILED, "A task failed (after its retries) or was skipped because one it needs failed."),
        (USAGE, "The command line is wrong (an unknown flag, an undeclared -p param)."),
        (INVALID, "The workflow is invalid; every problem is printed."),
        (STATE, "The state file cannot be used (unreadable, locked by a running dagrun, incompatible)."),
        (INTERRUPTED, "Interrupted by SIGINT (Ctrl-C); running tasks were stopped and the state saved."),
        (TERMINATED, "Terminated by SIGTERM or SIGHUP; running tasks were stopped and the state saved."),
    ];
}
