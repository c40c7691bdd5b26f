//! Resume reconciliation: given the plan as it is now and the state as it was, which tasks are
//! done and which run, and why. Pure: no files, no processes.
//!
//! A task is done when it is recorded `succeeded`, its definition hash is unchanged, it is not
//! forced by `--from`, and all its dependencies are done. The last rule re-runs a `when: always`
//! cleanup after the failure it cleaned up is retried, and everything after a forced task.

use super::model::{StateFile, TaskRecord};
use crate::files::{Checker, Why as FilesWhy};
use crate::model::Status;
use crate::plan::Plan;
use crate::plan::hash::definition_hashes;
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
    /// It declares outputs, and its files say it runs (`Reconciled::files` says why).
    Files,
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
            Why::Files => "files changed",
        }
    }
}

pub struct Reconciled {
    pub done: Vec<bool>,
    pub why: Vec<Option<Why>>,
    pub attempts: Vec<u32>,
    /// Tasks in the state that the workflow no longer has.
    pub removed: usize,
    /// For the tasks that declare outputs: what their files say.
    pub files: Vec<Option<FilesWhy>>,
}

impl Reconciled {
    pub fn to_run(&self) -> usize {
        self.done.iter().filter(|d| !**d).count()
    }

    /// How many of the `selected` tasks run.
    pub fn to_run_among(&self, selected: &[bool]) -> usize {
        self.done.iter().zip(selected).filter(|(d, s)| **s && !**d).count()
    }
}

/// `unusable`: generators whose recorded output cannot be added back (they run again).
/// `files` decides the tasks that declare outputs, given which tasks are done so far (none: as
/// any task).
pub fn reconcile(
    plan: &Plan,
    hashes: &[String],
    prior: &StateFile,
    forced: &[bool],
    unusable: &std::collections::HashSet<u32>,
    files: &mut dyn FnMut(u32, &[bool]) -> Option<FilesWhy>,
) -> Reconciled {
    let n = plan.len();
    let mut done = vec![false; n];
    let mut why = vec![None; n];
    let mut attempts = vec![0; n];
    let mut by_files = vec![None; n];
    for &i in &plan.order {
        let iu = i as usize;
        let t = plan.task(i);
        let rec = prior.tasks.get(&t.id);
        if let Some(w) = (!t.outputs().is_empty()).then(|| files(i, &done)).flatten() {
            attempts[iu] = rec.map_or(0, |r| r.attempts);
            done[iu] = !w.runs();
            why[iu] = w.runs().then_some(Why::Files);
            by_files[iu] = Some(w);
            continue;
        }
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
                    // A generator is done only if the tasks it added can be added back.
                    Status::Succeeded
                        if t.generator
                            && (unusable.contains(&i)
                                || prior.generators.get(&t.id).is_none_or(|g| g.hash != hashes[iu])) =>
                    {
                        Some(Why::Changed)
                    }
                    Status::Succeeded => None,
                    // Not needed last time, and nothing it depends on changed: still not needed.
                    Status::Skipped
                        if r.not_needed()
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
    redecide_skips(plan, prior, &mut done, &mut why);
    let removed = prior.tasks.keys().filter(|id| plan.get(id).is_none()).count();
    Reconciled { done, why, attempts, removed, files: by_files }
}

/// The records a continued run starts from, in plan order, one per task: taken from the old
/// state (moved, not copied: it can hold millions), new tasks pending, removed ones dropped.
pub fn into_records(plan: &Plan, mut prior: IndexMap<String, TaskRecord>) -> IndexMap<String, TaskRecord> {
    let mut records = IndexMap::with_capacity(plan.len());
    for t in &plan.tasks {
        let mut r = prior.swap_remove(&t.id).unwrap_or_else(|| TaskRecord::pending(None));
        if r.status == Status::Running {
            r.status = Status::Interrupted;
            r.reason = Some("dagrun stopped while the task ran".into());
        }
        records.insert(t.id.clone(), r);
    }
    records
}

/// The scheduler takes a done task for one that succeeded, so a task skipped as not needed
/// stays done only while nothing after it runs; otherwise it is decided again (and skipped
/// again), and a `when: success` task after it is skipped as in a fresh run, not run.
fn redecide_skips(plan: &Plan, prior: &StateFile, done: &mut [bool], why: &mut [Option<Why>]) {
    let skipped = |i: u32| prior.tasks.get(&plan.task(i).id).is_some_and(|r| r.status == Status::Skipped);
    loop {
        let mut changed = false;
        // Reverse order: undoing one skip reaches the skips before it in the same pass.
        for &i in plan.order.iter().rev() {
            if done[i as usize] {
                continue;
            }
            for &d in plan.deps(i) {
                if done[d as usize] && skipped(d) {
                    done[d as usize] = false;
                    why[d as usize] = Some(Why::Skipped);
                    changed = true;
                }
            }
        }
        if !changed {
            return;
        }
        // Done still means all dependencies done.
        for &i in &plan.order {
            let iu = i as usize;
            if done[iu] && plan.deps(i).iter().any(|&d| !done[d as usize]) {
                done[iu] = false;
                why[iu] = Some(if skipped(i) { Why::Skipped } else { Why::Upstream });
            }
        }
    }
}

/// Adds back the tasks of generators that are done (their recorded output, for an unchanged
/// definition), repeating for generators those tasks contain, then reconciles the grown plan.
/// `from` are ids or base names (`--from`) forced to run with what is downstream of them; they
/// may name generated tasks, which exist only once their generator's output is added back.
/// `checker` decides the tasks that declare outputs by their files (none: by the state).
pub fn restore(
    plan: &mut Plan,
    prior: &StateFile,
    from: &[String],
    mut checker: Option<&mut Checker>,
) -> (Vec<String>, Reconciled) {
    let mut restored = vec![false; plan.len()];
    let mut unusable = std::collections::HashSet::new();
    loop {
        let hashes = definition_hashes(plan);
        let roots: Vec<u32> = from.iter().flat_map(|f| plan.resolve(f)).collect();
        let forced = plan.with_descendants(&roots);
        let rec = {
            let p: &Plan = plan;
            let mut files = |i: u32, done: &[bool]| {
                let c = checker.as_deref_mut()?;
                Some(crate::files::decide(c, p, i, forced[i as usize], &|d| !done[d as usize]))
            };
            reconcile(p, &hashes, prior, &forced, &unusable, &mut files)
        };
        let mut grew = false;
        for i in 0..plan.len() as u32 {
            let iu = i as usize;
            if restored.get(iu).copied().unwrap_or(false) || !plan.task(i).generator || !rec.done[iu] {
                continue;
            }
            restored[iu] = true;
            let Some(g) = prior.generators.get(&plan.task(i).id).filter(|g| g.hash == hashes[iu]) else {
                continue;
            };
            // Output that was accepted once is accepted again unless the workflow changed
            // under it; then the generator simply runs again.
            match crate::plan::splice::splice(plan, i, &g.output) {
                Ok(r) => grew |= !r.is_empty(),
                Err(_) => {
                    unusable.insert(i);
                    grew = true;
                }
            }
        }
        restored.resize(plan.len(), false);
        if !grew {
            return (hashes, rec);
        }
    }
}
