//! The order ready tasks start in.
//!
//! Higher `priority` first; between equal priorities, the task with the longest work still
//! ahead of it — its own duration plus the longest chain of dependents after it — so that the
//! long chains start early and the run does not end with one long task running alone; then
//! file order. A task's duration is the one an earlier run recorded (`duration_ms` of the state
//! a `run` replaces, or the state `resume` continues); an unknown one counts as the median of
//! the known ones, and with none known every task counts 1, which makes the rank the number of
//! tasks on the longest chain.

use crate::plan::Plan;
use std::cmp::Reverse;
use std::collections::HashMap;
use std::ops::Range;

/// A ready task as its executor's queue orders it: the greatest starts first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Ready {
    priority: i32,
    rank: u64,
    /// Earlier in the file first.
    first: Reverse<u32>,
}

impl Ready {
    pub fn task(&self) -> u32 {
        self.first.0
    }
}

pub struct Order {
    /// Per task: its weight plus the greatest rank among its dependents.
    rank: Vec<u64>,
    /// What a task of unknown duration weighs (every generated task: it was not in the plan
    /// the durations were matched against).
    unknown: u64,
}

impl Order {
    /// `durations`: milliseconds an earlier run took, by task.
    pub fn new(plan: &Plan, durations: HashMap<u32, u64>) -> Order {
        let unknown = median(durations.values().copied()).unwrap_or(1);
        let mut o = Order { rank: vec![0; plan.len()], unknown };
        let weight = |i: u32| durations.get(&i).copied().unwrap_or(unknown);
        o.rank_in_order(plan, plan.order.iter().rev().copied(), weight);
        o
    }

    /// Ranks the tasks a generator added (`range`, at the end of the plan). Tasks already
    /// ranked keep their rank: they are running or done, or wait on the new ones anyway.
    pub fn grow(&mut self, plan: &Plan, range: Range<u32>) {
        self.rank.resize(plan.len(), 0);
        let unknown = self.unknown;
        let new = plan.order.iter().rev().copied().filter(|i| range.contains(i));
        self.rank_in_order(plan, new, |_| unknown);
    }

    fn rank_in_order(
        &mut self,
        plan: &Plan,
        last_first: impl Iterator<Item = u32>,
        weight: impl Fn(u32) -> u64,
    ) {
        for i in last_first {
            let after = plan.dependents(i).iter().map(|&d| self.rank[d as usize]).max().unwrap_or(0);
            self.rank[i as usize] = weight(i).max(1).saturating_add(after);
        }
    }

    pub fn ready(&self, plan: &Plan, i: u32) -> Ready {
        Ready { priority: plan.task(i).priority, rank: self.rank[i as usize], first: Reverse(i) }
    }
}

fn median(values: impl Iterator<Item = u64>) -> Option<u64> {
    let mut v: Vec<u64> = values.collect();
    if v.is_empty() {
        return None;
    }
    let mid = v.len() / 2;
    Some(*v.select_nth_unstable(mid).1)
}

/// The durations `state` recorded, by task of `plan`.
pub fn durations_of<'a>(
    plan: &Plan,
    records: impl Iterator<Item = (&'a str, Option<u64>)>,
) -> HashMap<u32, u64> {
    records.filter_map(|(id, ms)| Some((plan.get(id)?, ms?))).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::workflow::{LoadOptions, load::Format};

    fn plan(yaml: &str) -> Plan {
        let path = std::path::Path::new("w/flow.yaml");
        crate::pipeline::load_text(path, Format::Yaml, yaml.into(), &LoadOptions::default()).unwrap()
    }

    fn started_order(plan: &Plan, order: &Order, ready: &[&str]) -> Vec<String> {
        let mut heap: std::collections::BinaryHeap<Ready> =
            ready.iter().map(|id| order.ready(plan, plan.get(id).unwrap())).collect();
        std::iter::from_fn(|| heap.pop()).map(|r| plan.task(r.task()).id.clone()).collect()
    }

    const FLOW: &str = "tasks:
  short: {cmd: x}
  long: {cmd: x}
  chain1: {cmd: x}
  chain2: {cmd: x, after: [chain1]}
  chain3: {cmd: x, after: [chain2]}
";

    #[test]
    fn without_durations_the_longest_chain_starts_first_then_file_order() {
        let p = plan(FLOW);
        let o = Order::new(&p, HashMap::new());
        assert_eq!(started_order(&p, &o, &["short", "long", "chain1"]), ["chain1", "short", "long"]);
    }

    #[test]
    fn recorded_durations_weigh_and_unknown_ones_count_as_the_median() {
        let p = plan(FLOW);
        let ms = |id: &str, ms: u64| (p.get(id).unwrap(), ms);
        let o = Order::new(&p, [ms("short", 10), ms("long", 9000), ms("chain2", 100)].into());
        // chain1 and chain3 count 100 (the median): 300 in all, less than long's 9000.
        assert_eq!(started_order(&p, &o, &["short", "long", "chain1"]), ["long", "chain1", "short"]);
    }

    #[test]
    fn priority_comes_before_the_work_ahead() {
        let p =
            plan(&format!("{FLOW}  urgent: {{cmd: x, priority: 5}}\n  later: {{cmd: x, priority: -1}}\n"));
        let o = Order::new(&p, HashMap::new());
        assert_eq!(
            started_order(&p, &o, &["later", "short", "chain1", "urgent"]),
            ["urgent", "chain1", "short", "later"]
        );
    }
}
