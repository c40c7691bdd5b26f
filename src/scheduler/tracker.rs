//! Which tasks can run now: a pure function of the plan and the statuses so far, kept
//! incrementally. Each finished task costs O(its dependents); nothing ever rescans all tasks.
//!
//! `when` rules: `success` runs when every dependency succeeded and is skipped as soon as one
//! failed (when none failed but one was not needed: once all finished, so that the skip's
//! reason does not depend on finishing order); `failure` runs when all dependencies finished
//! and one failed (a dependency skipped because of a failure counts as failed); `always` runs
//! when all finished.

use crate::model::{SkipReason, Status};
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
    /// Whether the task ended, and if so whether it succeeded.
    ended_ok: Vec<Option<bool>>,
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
            ended_ok: done.iter().map(|&d| d.then_some(true)).collect(),
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
        // A task skipped at once (`when: failure` with nothing to react to) decides its
        // dependents too.
        t.propagate(plan, &mut out);
        (t, out)
    }

    /// Takes in tasks a generator added (indices `old..plan.len()`), before the generator's
    /// own finish is recorded: they and the generator's dependents wait for what they now
    /// depend on.
    pub fn grow(&mut self, plan: &Plan, old: usize, generator: u32) {
        let n = plan.len();
        self.waiting.resize(n, 0);
        self.not_ok.resize(n, false);
        self.bad.resize(n, false);
        self.decided.resize(n, false);
        self.ended_bad.resize(n, false);
        self.ended_ok.resize(n, None);
        self.selected.resize(n, self.selected[generator as usize]);
        for k in old..n {
            for &d in plan.deps(k as u32) {
                match self.ended_ok[d as usize] {
                    None => self.waiting[k] += 1,
                    Some(ok) => {
                        self.not_ok[k] |= !ok;
                        self.bad[k] |= self.ended_bad[d as usize];
                    }
                }
            }
        }
        for &j in plan.dependents(generator) {
            let ju = j as usize;
            if ju < old && self.selected[ju] && !self.decided[ju] {
                self.waiting[ju] += plan.deps(j).iter().filter(|&&d| d as usize >= old).count() as u32;
            }
        }
    }

    /// Records that task `i` ended with `status`; returns the dependents this decides, and
    /// transitively the ones decided by those that are skipped.
    pub fn finish(&mut self, plan: &Plan, i: u32, status: Status, skip: Option<SkipReason>) -> Vec<Decision> {
        let mut out = Vec::new();
        self.record(plan, i, status, skip, &mut out);
        self.propagate(plan, &mut out);
        out
    }

    /// Records the skips in `out`, appending what they decide in turn.
    fn propagate(&mut self, plan: &Plan, out: &mut Vec<Decision>) {
        let mut k = 0;
        while k < out.len() {
            if let Decision::Skip(j, reason) = out[k] {
                self.record(plan, j, Status::Skipped, Some(reason), out);
            }
            k += 1;
        }
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
        self.ended_ok[i as usize] = Some(status == Status::Succeeded);
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
            // Skipped at once when a dependency failed; when one was merely not needed, only
            // once all finished: a dependency failing later makes it a skip because of a
            // failure, and the reason must not depend on which finished first.
            When::Success if self.not_ok[ju] && (self.bad[ju] || all_done) => Some(Decision::Skip(j, reason)),
            When::Success if self.not_ok[ju] => None,
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pipeline::load_text;
    use crate::workflow::{LoadOptions, load::Format};
    use proptest::prelude::*;
    use std::path::Path;

    /// A task of a generated workflow: its `when` and its dependencies (earlier tasks only).
    type Shape = Vec<(When, Vec<usize>)>;

    fn plan_of(shape: &Shape) -> Plan {
        let mut yaml = String::from("tasks:\n");
        for (i, (when, deps)) in shape.iter().enumerate() {
            let after: Vec<String> = deps.iter().map(|d| format!("t{d}")).collect();
            yaml.push_str(&format!(
                "  t{i}: {{cmd: 'true', when: {}, after: [{}]}}\n",
                when.as_str(),
                after.join(", ")
            ));
        }
        load_text(Path::new("t.yaml"), Format::Yaml, yaml.clone(), &LoadOptions::default())
            .unwrap_or_else(|e| panic!("{e}\n{yaml}"))
    }

    fn shape() -> impl Strategy<Value = Shape> {
        (1usize..14).prop_flat_map(|n| {
            proptest::collection::vec(
                (
                    prop_oneof![3 => Just(When::Success), 1 => Just(When::Failure), 1 => Just(When::Always)],
                    proptest::collection::vec(any::<proptest::sample::Index>(), 0..4),
                ),
                n,
            )
            .prop_map(|tasks| {
                tasks
                    .into_iter()
                    .enumerate()
                    .map(|(i, (when, picks))| {
                        let mut deps: Vec<usize> =
                            if i == 0 { vec![] } else { picks.iter().map(|p| p.index(i)).collect() };
                        deps.sort_unstable();
                        deps.dedup();
                        (when, deps)
                    })
                    .collect()
            })
        })
    }

    /// How a task ended in the simulation.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    enum End {
        Ok,
        Failed,
        Skipped(SkipReason),
    }

    impl End {
        fn bad(self) -> bool {
            matches!(self, End::Failed | End::Skipped(SkipReason::DependencyFailed))
        }
    }

    /// The `when` rules applied with full knowledge, in topological order: what every run with
    /// these task results must end with, whatever order tasks finish in.
    fn reference(plan: &Plan, results: &[bool], selected: &[bool], done: &[bool]) -> Vec<Option<End>> {
        let mut end = vec![End::Ok; plan.len()];
        for &i in &plan.order {
            if done[i as usize] || !selected[i as usize] {
                continue;
            }
            let deps: Vec<End> = plan.deps(i).iter().map(|&d| end[d as usize]).collect();
            let bad = deps.iter().any(|e| e.bad());
            let runs = match plan.task(i).when {
                When::Success => deps.iter().all(|&e| e == End::Ok),
                When::Failure => bad,
                When::Always => true,
            };
            end[i as usize] = match (runs, results[i as usize]) {
                (true, true) => End::Ok,
                (true, false) => End::Failed,
                (false, _) if bad => End::Skipped(SkipReason::DependencyFailed),
                (false, _) => End::Skipped(SkipReason::ConditionNotMet),
            };
        }
        end.into_iter().enumerate().map(|(i, e)| Some(e).filter(|_| selected[i] && !done[i])).collect()
    }

    /// Drives a tracker: among ready tasks, `picks` chooses which finishes next; each task
    /// succeeds or fails as `results` says. Checks every decision against what was known when it
    /// was made, and returns how each task of the run ended (`None`: not part of it).
    fn simulate(
        plan: &Plan,
        results: &[bool],
        picks: &[proptest::sample::Index],
        selected: &[bool],
        done: &[bool],
    ) -> Vec<Option<End>> {
        let n = plan.len();
        let (mut tracker, first) = Tracker::new(plan, selected.to_vec(), done);
        // Tasks done before the run count as succeeded and are never decided again.
        let mut end: Vec<Option<End>> = done.iter().map(|&d| Some(End::Ok).filter(|_| d)).collect();
        let mut decided = done.to_vec();
        let mut ready: Vec<u32> = Vec::new();
        let mut check = |ds: Vec<Decision>, end: &mut Vec<Option<End>>, ready: &mut Vec<u32>| {
            for d in ds {
                let (j, skip) = match d {
                    Decision::Ready(j) => (j, None),
                    Decision::Skip(j, r) => (j, Some(r)),
                };
                let ju = j as usize;
                assert!(selected[ju], "t{j} decided though not selected");
                assert!(!std::mem::replace(&mut decided[ju], true), "t{j} decided twice");
                let deps: Vec<Option<End>> = plan.deps(j).iter().map(|&d| end[d as usize]).collect();
                let all_done = deps.iter().all(Option::is_some);
                let bad = deps.iter().flatten().any(|e| e.bad());
                let not_ok = deps.iter().flatten().any(|&e| e != End::Ok);
                let when = plan.task(j).when;
                match skip {
                    None => {
                        assert!(all_done, "t{j} ready before all its dependencies finished");
                        match when {
                            When::Success => {
                                assert!(!not_ok, "t{j} ready after a dependency did not succeed")
                            }
                            When::Failure => assert!(bad, "`when: failure` t{j} ready though nothing failed"),
                            When::Always => {}
                        }
                        ready.push(j);
                    }
                    Some(r) => {
                        match when {
                            When::Success => {
                                assert!(not_ok, "t{j} skipped though its dependencies succeeded")
                            }
                            When::Failure => {
                                assert!(all_done && !bad, "`when: failure` t{j} skipped too early")
                            }
                            When::Always => panic!("`when: always` t{j} skipped"),
                        }
                        assert_eq!(r == SkipReason::DependencyFailed, bad, "t{j} skip reason {r:?}");
                        end[ju] = Some(End::Skipped(r));
                    }
                }
            }
        };
        check(first, &mut end, &mut ready);
        let mut k = 0;
        while !ready.is_empty() {
            let at = picks.get(k).map_or(0, |p| p.index(ready.len()));
            k += 1;
            let i = ready.swap_remove(at);
            let (e, status) = if results[i as usize] {
                (End::Ok, Status::Succeeded)
            } else {
                (End::Failed, Status::Failed)
            };
            end[i as usize] = Some(e);
            let ds = tracker.finish(plan, i, status, None);
            check(ds, &mut end, &mut ready);
        }
        for i in 0..n {
            assert_eq!(decided[i], selected[i] || done[i], "t{i} decided: {}", decided[i]);
        }
        end.into_iter().enumerate().map(|(i, e)| e.filter(|_| selected[i] && !done[i])).collect()
    }

    /// All tasks, no resume.
    fn fresh(plan: &Plan) -> (Vec<bool>, Vec<bool>) {
        (vec![true; plan.len()], vec![false; plan.len()])
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        #[test]
        fn every_task_is_decided_once_by_the_when_rules(
            shape in shape(),
            results in proptest::collection::vec(any::<bool>(), 14),
            picks in proptest::collection::vec(any::<proptest::sample::Index>(), 14),
        ) {
            let plan = plan_of(&shape);
            let (sel, done) = fresh(&plan);
            let got = simulate(&plan, &results, &picks, &sel, &done);
            prop_assert_eq!(got, reference(&plan, &results, &sel, &done));
        }

        #[test]
        fn targets_and_resumed_tasks_follow_the_same_rules(
            shape in shape(),
            results in proptest::collection::vec(any::<bool>(), 14),
            picks in proptest::collection::vec(any::<proptest::sample::Index>(), 14),
            targets in proptest::collection::vec(any::<proptest::sample::Index>(), 1..4),
            done in proptest::collection::vec(any::<bool>(), 14),
        ) {
            let plan = plan_of(&shape);
            let roots: Vec<u32> = targets.iter().map(|t| t.index(plan.len()) as u32).collect();
            let sel = plan.with_ancestors(&roots);
            let done = &done[..plan.len()];
            let got = simulate(&plan, &results, &picks, &sel, done);
            prop_assert_eq!(got, reference(&plan, &results, &sel, done));
        }

        #[test]
        fn the_outcome_does_not_depend_on_finish_order(
            shape in shape(),
            results in proptest::collection::vec(any::<bool>(), 14),
            a in proptest::collection::vec(any::<proptest::sample::Index>(), 14),
            b in proptest::collection::vec(any::<proptest::sample::Index>(), 14),
        ) {
            let plan = plan_of(&shape);
            let (sel, done) = fresh(&plan);
            prop_assert_eq!(
                simulate(&plan, &results, &a, &sel, &done),
                simulate(&plan, &results, &b, &sel, &done)
            );
        }
    }

    #[test]
    fn a_task_skipped_at_the_start_decides_its_dependents() {
        // `when: failure` with no dependencies is skipped at once; `b` used to wait forever.
        let plan = plan_of(&vec![(When::Failure, vec![]), (When::Always, vec![0]), (When::Success, vec![0])]);
        let (_, first) = Tracker::new(&plan, vec![true; 3], &[false; 3]);
        assert_eq!(
            first,
            vec![
                Decision::Skip(0, SkipReason::ConditionNotMet),
                Decision::Ready(1),
                Decision::Skip(2, SkipReason::ConditionNotMet),
            ]
        );
    }

    #[test]
    fn skip_reason_does_not_depend_on_which_dependency_finished_first() {
        // t2 needs t0 (`when: failure`, not needed after t3 succeeds) and t1, which fails.
        let plan = plan_of(&vec![
            (When::Success, vec![]),
            (When::Success, vec![]),
            (When::Failure, vec![0]),
            (When::Success, vec![1, 2]),
        ]);
        let (mut t, first) = Tracker::new(&plan, vec![true; 4], &[false; 4]);
        assert_eq!(first, vec![Decision::Ready(0), Decision::Ready(1)]);
        // t2 is not needed; t3 must wait for t1 rather than be called "not needed" at once.
        assert_eq!(
            t.finish(&plan, 0, Status::Succeeded, None),
            vec![Decision::Skip(2, SkipReason::ConditionNotMet)]
        );
        assert_eq!(
            t.finish(&plan, 1, Status::Failed, None),
            vec![Decision::Skip(3, SkipReason::DependencyFailed)]
        );
    }

    #[test]
    fn already_done_tasks_are_not_decided_again() {
        let plan = plan_of(&vec![(When::Success, vec![]), (When::Success, vec![0]), (When::Always, vec![1])]);
        let (mut t, first) = Tracker::new(&plan, vec![true; 3], &[true, false, false]);
        assert_eq!(first, vec![Decision::Ready(1)]);
        assert_eq!(t.finish(&plan, 1, Status::Failed, None), vec![Decision::Ready(2)]);
    }
}
