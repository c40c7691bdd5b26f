//! The state file's shape: JSON a person can read with `jq`. `format_version` 1 is a promise:
//! later versions of dagrun keep reading it (a fixture under `tests/fixtures/state/` holds
//! them to it). Fields are added with defaults, never renamed.

use crate::model::{SkipReason, Status};
use indexmap::IndexMap;
use serde::{Deserialize, Serialize};

pub const FORMAT_VERSION: u32 = 1;

/// The `reason` of a task skipped because its `when` condition did not hold with nothing failed.
pub const CONDITION_NOT_MET: &str = "its `when` condition did not hold";
/// The `reason` of a task skipped because a dependency failed.
pub const DEPENDENCY_FAILED: &str = "a dependency failed";

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StateFile {
    pub format_version: u32,
    pub workflow: WorkflowRecord,
    #[serde(default)]
    pub run: RunRecord,
    pub tasks: IndexMap<String, TaskRecord>,
    /// The output of each generator that succeeded, by generator id, so that resume restores
    /// the tasks it added without running it again.
    #[serde(default, skip_serializing_if = "IndexMap::is_empty")]
    pub generators: IndexMap<String, GeneratorRecord>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GeneratorRecord {
    /// The generator's definition hash when it produced `output`.
    pub hash: String,
    /// What it printed: a `{tasks: ...}` document.
    pub output: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct WorkflowRecord {
    /// Absolute path of the workflow file when the run started.
    pub path: String,
    pub name: String,
    /// The params the run used (file defaults with overrides applied).
    #[serde(default)]
    pub params: IndexMap<String, serde_json::Value>,
    /// The `-p` overrides given on the command line; `resume` applies them again.
    #[serde(default)]
    pub overrides: IndexMap<String, serde_json::Value>,
    /// `yaml` or `toml`.
    pub format: String,
    /// The workflow's text, so a run can resume even if the file is gone.
    pub source: String,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct RunRecord {
    /// Which journal belongs to this snapshot (see `store`).
    #[serde(default)]
    pub epoch: u64,
    /// How many times `run`/`resume` drove this state.
    #[serde(default)]
    pub runs: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_at: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finished_at: Option<String>,
    /// Seconds spent running, over all runs.
    #[serde(default)]
    pub elapsed_secs: f64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pid: Option<u32>,
    /// How the last run ended: `succeeded`, `failed`, `interrupted`, `terminated`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outcome: Option<String>,
    /// The `--target`s the run is about (none: every task); `resume` continues the same.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub targets: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TaskRecord {
    pub status: Status,
    #[serde(default)]
    pub attempts: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exit_code: Option<i32>,
    /// The last attempt's log, relative to the state file's directory.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub log: Option<String>,
    /// Definition hash (see `hash`): a task is done only if this is unchanged.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hash: Option<String>,
    /// Why it failed, was skipped or interrupted, in words.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Why it was skipped, for dagrun to read (`dependency_failed`, `condition_not_met`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub skip: Option<SkipReason>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_at: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finished_at: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration_ms: Option<u64>,
    /// The host of the last attempt (remote executors).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
    /// The Slurm job of the last attempt (slurm executors): `resume` re-attaches to it while it
    /// is queued or running.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub job: Option<String>,
    /// Attempts run again because their host failed (these use no retry), with the reason.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub lost: Vec<String>,
    /// Succeeded without running in the last run: its declared files were up to date.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub up_to_date: bool,
}

/// Whether a task recorded with `status`, `skip` and `reason` was skipped as not needed (see
/// `TaskRecord::not_needed`).
pub fn not_needed(status: Status, skip: Option<SkipReason>, reason: Option<&str>) -> bool {
    status == Status::Skipped
        && match skip {
            Some(s) => s == SkipReason::ConditionNotMet,
            None => reason == Some(CONDITION_NOT_MET),
        }
}

impl TaskRecord {
    /// Skipped as not needed: its `when` condition did not hold with nothing failed. (A state
    /// written before `skip` was recorded says so only in `reason`.)
    pub fn not_needed(&self) -> bool {
        not_needed(self.status, self.skip, self.reason.as_deref())
    }

    pub fn pending(hash: Option<String>) -> TaskRecord {
        TaskRecord {
            status: Status::Pending,
            attempts: 0,
            exit_code: None,
            log: None,
            hash,
            reason: None,
            skip: None,
            started_at: None,
            finished_at: None,
            duration_ms: None,
            host: None,
            job: None,
            lost: Vec::new(),
            up_to_date: false,
        }
    }
}

pub fn timestamp(t: std::time::SystemTime) -> String {
    humantime::format_rfc3339_millis(t).to_string()
}
