//! Which tasks can run now: a pure function of the plan and the statuses so far, kept
//! incrementally. Each finished task costs O(its dependents); nothing ever rescans all tasks.
//!
//! `when` rules: `success` runs when every dependency succeeded and is skipped as soon as one
//! did not; `failure` runs when all dependencies finished and one failed (a dependency skipped
//! because of a failure counts as failed); `always` runs when all finished.

use super::event::{SkipReason, Status};
use crate::plan::Plan;
use crate::task::When;

/// What the tracker decided about a task whose dependencies moved.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    Ready(u32),
    Skip(u32, SkipReason),
}

pub struct Tracker {
    /// Dependencies not yet finished.
    waiting: Vec<u32>,
    /// Some dependency ended other than succeeded.
    not_ok: Vec<bool>,
    /// Some dependency failed, or was skipped because of a failure.
    bad: Vec<bool>,
    /// Already ready or skipped: a task is decided once.
    decided: Vec<bool>,
    /// The task ended badly (failed, or skipped because of a failure).
    ended_bad: Vec<bool>,
    selected: Vec<bool>,
}

impl Tracker {
    /// `selected`: tasks this run is about (closed under dependencies); `done`: tasks that
    /// already succeeded before the run. Returns the tracker and the tasks ready at once.
    pub fn new(plan: &Plan, selected: Vec<bool>, done: &[bool]) -> (Tracker, Vec<Decision>) {
        let n = plan.len();
        let mut t = Tracker {
            waiting: vec![0; n],
            not_ok: vec![false; n],
            bad: vec![false; n],
            decided: done.to_vec(),
            ended_bad: vec![false; n],
            selected,
        };
        for i in 0..n {
            if t.selected[i] && !done[i] {
                t.waiting[i] = plan.deps(i as u32).iter().filter(|&&d| !done[d as usize]).count() as u32;
            }
        }
        let mut out = Vec::new();
        for &i in &plan.order {
            if t.selected[i as usize] && !t.decided[i as usize] && t.waiting[i as usize] == 0 {
                t.decide(plan, i, &mut out);
            }
        }
        (t, out)
    }

    pub fn grow(&mut self, n: usize) {
        self.waiting.resize(n, 0);
        self.not_ok.resize(n, false);
        self.bad.resize(n, false);
        self.decided.resize(n, false);
        self.ended_bad.resize(n, false);
        self.selected.resize(n, true);
    }

    /// Records that task `i` ended with `status`; returns the dependents this decides, and
    /// transitively the ones decided by those that are skipped.
    pub fn finish(&mut self, plan: &Plan, i: u32, status: Status, skip: Option<SkipReason>) -> Vec<Decision> {
        let mut out = Vec::new();
        self.record(plan, i, status, skip, &mut out);
        let mut k = 0;
        while k < out.len() {
            if let Decision::Skip(j, reason) = out[k] {
                self.record(plan, j, Status::Skipped, Some(reason), &mut out);
            }
            k += 1;
        }
        out
    }

    fn record(
        &mut self,
        plan: &Plan,
        i: u32,
        status: Status,
        skip: Option<SkipReason>,
        out: &mut Vec<Decision>,
    ) {
        self.decided[i as usize] = true;
        let bad = status == Status::Failed || skip == Some(SkipReason::DependencyFailed);
        self.ended_bad[i as usize] = bad;
        for &j in plan.dependents(i) {
            let ju = j as usize;
            if !self.selected[ju] {
                continue;
            }
            self.waiting[ju] = self.waiting[ju].saturating_sub(1);
            self.not_ok[ju] |= status != Status::Succeeded;
            self.bad[ju] |= bad;
            if !self.decided[ju] {
                self.decide(plan, j, out);
            }
        }
    }

    fn decide(&mut self, plan: &Plan, j: u32, out: &mut Vec<Decision>) {
        let ju = j as usize;
        let all_done = self.waiting[ju] == 0;
        let reason = if self.bad[ju] { SkipReason::DependencyFailed } else { SkipReason::ConditionNotMet };
        let d = match plan.task(j).when {
            When::Success if self.not_ok[ju] => Some(Decision::Skip(j, reason)),
            When::Success if all_done => Some(Decision::Ready(j)),
            When::Failure if all_done && self.bad[ju] => Some(Decision::Ready(j)),
            When::Failure if all_done => Some(Decision::Skip(j, SkipReason::ConditionNotMet)),
            When::Always if all_done => Some(Decision::Ready(j)),
            _ => None,
        };
        if let Some(d) = d {
            self.decided[ju] = true;
            out.push(d);
        }
    }
}
