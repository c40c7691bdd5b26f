//! Resume reconciliation: given the plan as it is now and the state as it was, which tasks are
//! done and which run, and why. Pure: no files, no processes.
//!
//! A task is done when it is recorded `succeeded`, its definition hash is unchanged, it is not
//! forced by `--from`, and all its dependencies are done. The last rule re-runs a `when: always`
//! cleanup after the failure it cleaned up is retried, and everything after a forced task.

use super::model::{CONDITION_NOT_MET, StateFile, TaskRecord};
use crate::plan::Plan;
use crate::scheduler::event::Status;
use indexmap::IndexMap;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Why {
    /// Its definition changed since it succeeded.
    Changed,
    Failed,
    Skipped,
    Interrupted,
    /// Recorded but never started.
    NotStarted,
    /// Not in the state: added to the workflow since.
    New,
    /// Named by `--from` or downstream of it.
    Forced,
    /// Unchanged and succeeded, but a dependency runs again.
    Upstream,
}

impl Why {
    pub fn as_str(self) -> &'static str {
        match self {
            Why::Changed => "changed",
            Why::Failed => "failed",
            Why::Skipped => "skipped",
            Why::Interrupted => "interrupted",
            Why::NotStarted => "not started",
            Why::New => "new",
            Why::Forced => "forced",
            Why::Upstream => "upstream runs",
        }
    }
}

pub struct Reconciled {
    pub done: Vec<bool>,
    pub why: Vec<Option<Why>>,
    pub attempts: Vec<u32>,
    /// Records in plan order, one per task (removed tasks dropped, new ones pending).
    pub records: IndexMap<String, TaskRecord>,
    /// Tasks in the state that the workflow no longer has.
    pub removed: usize,
}

impl Reconciled {
    pub fn to_run(&self) -> usize {
        self.done.iter().filter(|d| !**d).count()
    }
}

pub fn reconcile(plan: &Plan, hashes: &[String], prior: &StateFile, forced: &[bool]) -> Reconciled {
    let n = plan.len();
    let mut done = vec![false; n];
    let mut why = vec![None; n];
    let mut attempts = vec![0; n];
    for &i in &plan.order {
        let iu = i as usize;
        let t = plan.task(i);
        let rec = prior.tasks.get(&t.id);
        let reason = match rec {
            None => Some(Why::New),
            Some(r) => {
                attempts[iu] = r.attempts;
                match r.status {
                    _ if forced[iu] => Some(Why::Forced),
                    Status::Succeeded if r.hash.as_deref() != Some(hashes[iu].as_str()) => Some(Why::Changed),
                    Status::Succeeded if plan.deps(i).iter().any(|&d| !done[d as usize]) => {
                        Some(Why::Upstream)
                    }
                    Status::Succeeded => None,
                    // Not needed last time, and nothing it depends on changed: still not needed.
                    Status::Skipped
                        if r.reason.as_deref() == Some(CONDITION_NOT_MET)
                            && r.hash.as_deref() == Some(hashes[iu].as_str())
                            && plan.deps(i).iter().all(|&d| done[d as usize]) =>
                    {
                        None
                    }
                    Status::Failed => Some(Why::Failed),
                    Status::Skipped => Some(Why::Skipped),
                    Status::Interrupted | Status::Running => Some(Why::Interrupted),
                    Status::Pending => Some(Why::NotStarted),
                }
            }
        };
        done[iu] = reason.is_none();
        why[iu] = reason;
    }
    let mut records = IndexMap::with_capacity(n);
    for t in &plan.tasks {
        let mut r = prior.tasks.get(&t.id).cloned().unwrap_or_else(|| TaskRecord::pending(None));
        if r.status == Status::Running {
            r.status = Status::Interrupted;
            r.reason = Some("dagrun stopped while the task ran".into());
        }
        records.insert(t.id.clone(), r);
    }
    let removed = prior.tasks.keys().filter(|id| plan.get(id).is_none()).count();
    Reconciled { done, why, attempts, records, removed }
}
