//! Resolving `after` entries into edges and checking the graph: unknown and self dependencies,
//! duplicate ids, cycles (reported as full paths). Nothing here recurses on graph depth, so a
//! million-task chain is as safe as a wide graph.

use super::{Adjacency, IdIndex, Plan, Source};
use crate::diag::{Diagnostic, suggest};
use crate::task::Task;
use crate::workflow::after::AfterLists;
use crate::workflow::expand::Expanded;
use crate::workflow::load::{Format, locate_task};
use std::collections::HashMap;
use std::ops::Range;

/// How many "did you mean" searches one load may do (each scans every name).
const SUGGESTIONS: usize = 50;

/// Builds the plan of an expanded workflow. `skipped` names tasks left out for problems
/// already reported: a dependency on one of them is not an unknown task.
pub fn build(
    file: &str,
    format: Format,
    source: Source,
    ex: Expanded,
    skipped: &[String],
    diags: &mut Vec<Diagnostic>,
) -> Option<Plan> {
    let Expanded { name, params, env, executors, tasks, after, bases, defaults, max_tasks } = ex;
    let n = tasks.len();
    let locate =
        |task: &str, count: usize| if count < 200 { locate_task(&source.text, format, task) } else { None };

    let mut index = IdIndex::with_capacity(n);
    let mut duplicates = false;
    for (i, t) in tasks.iter().enumerate() {
        if index.insert(&tasks, i as u32).is_err() {
            duplicates = true;
            let pos = locate(&t.base, diags.len());
            let mut d = Diagnostic::new(file, format!("duplicate task id `{}`", t.id)).task(&*t.base).at(pos);
            if t.id.len() > t.base.len() {
                // Two matrix values with the same string form (`1` and `"1"`).
                d = d.field("matrix");
                d.message.push_str(": two matrix combinations give the same id");
            }
            diags.push(d);
        }
    }
    // A task without a matrix is one instance whose id is its name, which `index` resolves
    // before `by_base` is asked: leaving such tasks out saves two hash operations per task.
    let single = |b: &str, r: &Range<usize>| r.len() == 1 && tasks[r.start].id == b;
    let mut by_base: ByBase = ByBase::default();
    for (b, r) in &bases {
        if !single(b, r) {
            by_base.insert(b, r.clone());
        }
    }
    for (b, r) in &bases {
        if !duplicates && single(b, r) {
            // Ids are unique, so `b` names this very task.
            continue;
        }
        // A base name equal to another task's instance id would make `after` ambiguous.
        if let Some(i) = index.get(&tasks, b) {
            if *tasks[i as usize].base != **b {
                diags.push(
                    Diagnostic::new(
                        file,
                        format!(
                            "task name `{b}` is also the id of an instance of `{}`",
                            tasks[i as usize].base
                        ),
                    )
                    .task(&**b),
                );
            }
        }
    }

    let skipped: std::collections::HashSet<&str> = skipped.iter().map(String::as_str).collect();
    let resolver = Resolver { tasks: &tasks, index: &index, by_base: &by_base, skipped: &skipped };
    let deps = match resolver.all(&after) {
        Some(deps) => deps,
        None => resolver.reporting(file, &after, &bases, &locate, diags),
    };
    drop(after);
    drop(by_base);
    let dependents = deps.reversed();

    let order = match topo_order(&deps, &dependents) {
        Ok(order) => order,
        Err(remaining) => {
            for cycle in cycles(&deps, &remaining) {
                let path: Vec<&str> = cycle.iter().map(|&i| tasks[i as usize].id.as_str()).collect();
                let first = &tasks[cycle[0] as usize];
                let pos = locate(&first.base, diags.len());
                diags.push(
                    Diagnostic::new(
                        file,
                        format!("dependency cycle: {} (each task waits for the next)", path.join(" -> ")),
                    )
                    .task(&*first.base)
                    .field("after")
                    .at(pos),
                );
            }
            Vec::new()
        }
    };
    if !diags.is_empty() {
        crate::diag::in_file_order(diags, |task| locate_task(&source.text, format, task));
        return None;
    }
    Some(Plan {
        name,
        source,
        params,
        env,
        executors,
        tasks,
        index,
        deps,
        dependents,
        order,
        defaults,
        max_tasks,
    })
}

/// Base names of tasks with several instances (or one whose id is not the name).
type ByBase<'a> = hashbrown::HashMap<&'a str, Range<usize>, foldhash::fast::RandomState>;

/// Where a task is in the file, given how many problems were found so far.
type Locate<'a> = dyn Fn(&str, usize) -> Option<(usize, usize)> + 'a;

/// Below this many `after` entries, resolving them on one thread is as fast.
const PARALLEL_ENTRIES: usize = 50_000;

/// Turns `after` entries into task indices.
struct Resolver<'a> {
    tasks: &'a [Task],
    index: &'a IdIndex,
    by_base: &'a ByBase<'a>,
    skipped: &'a std::collections::HashSet<&'a str>,
}

impl Resolver<'_> {
    /// Appends the tasks `entry` names to `d`; false if it names none.
    fn resolve(&self, entry: &str, d: &mut Vec<u32>) -> bool {
        if let Some(j) = self.index.get(self.tasks, entry) {
            d.push(j);
        } else if let Some(r) = self.by_base.get(entry) {
            d.extend(r.start as u32..r.end as u32);
        } else {
            return false;
        }
        true
    }

    /// Every task's dependencies, on every core, or `None` at the first problem (an unknown
    /// task or a task depending on itself), which `reporting` then describes.
    fn all(&self, after: &AfterLists) -> Option<Adjacency> {
        let n = after.len();
        let cpus = std::thread::available_parallelism().map_or(1, |c| c.get()).clamp(1, 8);
        let threads = cpus.min(after.entries() / PARALLEL_ENTRIES).max(1);
        let chunk = n.div_ceil(threads).max(1);
        let part = |range: Range<usize>| -> Option<(Vec<usize>, Vec<u32>)> {
            let mut lens = Vec::with_capacity(range.len());
            let mut items = Vec::with_capacity(after.entries() / threads + 16);
            let mut d = Vec::new();
            for i in range {
                d.clear();
                for a in after.get(i) {
                    if !self.resolve(a, &mut d) {
                        return None;
                    }
                }
                d.sort_unstable();
                d.dedup();
                if d.binary_search(&(i as u32)).is_ok() {
                    return None;
                }
                lens.push(d.len());
                items.extend_from_slice(&d);
            }
            Some((lens, items))
        };
        let parts: Vec<Option<(Vec<usize>, Vec<u32>)>> = if threads == 1 {
            vec![part(0..n)]
        } else {
            let ranges: Vec<_> = (0..threads).map(|k| (k * chunk).min(n)..((k + 1) * chunk).min(n)).collect();
            // A panicking thread (a bug) leaves the work to the one-thread path.
            crate::par::map(&ranges, |r| part(r.clone())).into_iter().map(Option::flatten).collect()
        };
        let mut deps = Adjacency::with_capacity(n, parts.iter().flatten().map(|p| p.1.len()).sum());
        for p in parts {
            let (lens, items) = p?;
            for len in lens {
                let end = deps.start[deps.start.len() - 1] + len;
                deps.start.push(end);
            }
            deps.items.extend_from_slice(&items);
        }
        Some(deps)
    }

    /// Resolves every task's entries one by one, describing each problem.
    fn reporting(
        &self,
        file: &str,
        after: &AfterLists,
        bases: &[(std::sync::Arc<str>, Range<usize>)],
        locate: &Locate,
        diags: &mut Vec<Diagnostic>,
    ) -> Adjacency {
        let tasks = self.tasks;
        let n = tasks.len();
        let mut deps = Adjacency::with_capacity(n, after.entries());
        let mut d: Vec<u32> = Vec::new();
        let mut suggestions = 0;
        // A mistake a matrix repeats is one problem: by (base name, place in `after`), the
        // problem reported and how many more instances have it.
        let mut repeated: HashMap<(&str, usize), (usize, usize)> = HashMap::new();
        for i in 0..after.len() {
            let t = &tasks[i];
            d.clear();
            for (k, a) in after.get(i).enumerate() {
                if self.resolve(a, &mut d) || names_skipped(self.skipped, a) {
                    continue;
                }
                if let Some((_, more)) = repeated.get_mut(&(&*t.base, k)) {
                    *more += 1;
                    continue;
                }
                repeated.insert((&*t.base, k), (diags.len(), 0));
                let hint = if suggestions < SUGGESTIONS {
                    suggestions += 1;
                    suggest(
                        a,
                        bases.iter().map(|(b, _)| &**b).chain(
                            if n <= 100_000 { Some(tasks.iter().map(|t| t.id.as_str())) } else { None }
                                .into_iter()
                                .flatten(),
                        ),
                    )
                    .map(|s| format!(" (did you mean `{s}`?)"))
                    .unwrap_or_default()
                } else {
                    String::new()
                };
                let pos = locate(&t.base, diags.len());
                diags.push(
                    Diagnostic::new(file, format!("`{}` depends on unknown task `{a}`{hint}", t.id))
                        .task(&*t.base)
                        .field("after")
                        .at(pos),
                );
            }
            d.sort_unstable();
            d.dedup();
            if let Ok(k) = d.binary_search(&(i as u32)) {
                d.remove(k);
                if let Some((_, more)) = repeated.get_mut(&(&*t.base, usize::MAX)) {
                    *more += 1;
                    deps.push(&d);
                    continue;
                }
                repeated.insert((&*t.base, usize::MAX), (diags.len(), 0));
                let pos = locate(&t.base, diags.len());
                diags.push(
                    Diagnostic::new(file, format!("`{}` depends on itself", t.id))
                        .task(&*t.base)
                        .field("after")
                        .at(pos),
                );
            }
            deps.push(&d);
        }
        for ((base, _), (at, more)) in repeated {
            if more > 0 {
                let s = if more == 1 { "" } else { "s" };
                diags[at].message.push_str(&format!("; the same in {more} more instance{s} of `{base}`"));
            }
        }
        deps
    }
}

/// Whether `entry` names a task in `skipped`, or an instance of one.
pub(super) fn names_skipped(skipped: &std::collections::HashSet<&str>, entry: &str) -> bool {
    !skipped.is_empty() && skipped.contains(entry.split_once('[').map_or(entry, |(base, _)| base))
}

/// Kahn's algorithm, taking ready tasks in index order so the order follows the file.
/// On a cycle, returns which tasks could not be ordered.
pub(super) fn topo_order(deps: &Adjacency, dependents: &Adjacency) -> Result<Vec<u32>, Vec<bool>> {
    let n = deps.len();
    // When every task depends only on earlier ones, as generated files mostly do, file order is
    // a topological order, and the smallest one, which is what the loop below would find.
    if (0..n).all(|i| deps.get(i as u32).iter().all(|&j| (j as usize) < i)) {
        return Ok((0..n as u32).collect());
    }
    let mut missing: Vec<u32> = (0..n as u32).map(|i| deps.get(i).len() as u32).collect();
    // The tasks ready from the start are already in index order: only those that become ready
    // later go through the heap, and the smaller of the two heads is taken next.
    let initial: Vec<u32> = (0..n as u32).filter(|&i| missing[i as usize] == 0).collect();
    let mut initial = initial.into_iter().peekable();
    let mut ready: std::collections::BinaryHeap<std::cmp::Reverse<u32>> = Default::default();
    let mut order = Vec::with_capacity(n);
    loop {
        let i = match (initial.peek(), ready.peek()) {
            (Some(&a), Some(&std::cmp::Reverse(b))) if b < a => ready.pop().map(|r| r.0),
            (Some(_), _) => initial.next(),
            (None, _) => ready.pop().map(|r| r.0),
        };
        let Some(i) = i else { break };
        order.push(i);
        for &j in dependents.get(i) {
            missing[j as usize] -= 1;
            if missing[j as usize] == 0 {
                ready.push(std::cmp::Reverse(j));
            }
        }
    }
    if order.len() == n { Ok(order) } else { Err(missing.iter().map(|&m| m > 0).collect()) }
}

/// One cycle per strongly connected component among the unordered tasks, each as a path
/// `a, b, ..., a` where every task depends on the next.
pub(super) fn cycles(deps: &Adjacency, remaining: &[bool]) -> Vec<Vec<u32>> {
    use petgraph::graphmap::DiGraphMap;
    let mut g: DiGraphMap<u32, ()> = DiGraphMap::new();
    for i in 0..deps.len() {
        if !remaining[i] {
            continue;
        }
        g.add_node(i as u32);
        for &j in deps.get(i as u32) {
            if remaining[j as usize] {
                g.add_edge(i as u32, j, ());
            }
        }
    }
    let mut sccs = petgraph::algo::kosaraju_scc(&g);
    sccs.retain(|c| c.len() > 1);
    for c in &mut sccs {
        c.sort_unstable();
    }
    sccs.sort_unstable_by_key(|c| c[0]);
    sccs.into_iter()
        .map(|scc| {
            // Walk edges inside the component from its smallest task until a task repeats.
            let inside: std::collections::HashSet<u32> = scc.iter().copied().collect();
            let mut pos: HashMap<u32, usize> = HashMap::new();
            let mut path = Vec::new();
            let mut cur = scc[0];
            loop {
                if let Some(&p) = pos.get(&cur) {
                    let mut cycle = path[p..].to_vec();
                    cycle.push(cur);
                    return cycle;
                }
                pos.insert(cur, path.len());
                path.push(cur);
                cur = deps.get(cur).iter().copied().filter(|j| inside.contains(j)).min().unwrap_or(cur);
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn graph(edges: &[(u32, u32)], n: usize) -> (Adjacency, Adjacency) {
        let mut lists = vec![Vec::new(); n];
        for &(a, b) in edges {
            lists[a as usize].push(b);
        }
        let mut deps = Adjacency::with_capacity(n, edges.len());
        for l in &lists {
            deps.push(l);
        }
        let dependents = deps.reversed();
        (deps, dependents)
    }

    #[test]
    fn orders_dependencies_first() {
        let (d, r) = graph(&[(0, 2), (1, 0)], 3);
        assert_eq!(topo_order(&d, &r).unwrap(), vec![2, 0, 1]);
    }

    #[test]
    fn reports_a_cycle_as_a_closed_path() {
        let (d, r) = graph(&[(0, 1), (1, 2), (2, 0), (3, 0)], 4);
        let rem = topo_order(&d, &r).unwrap_err();
        assert_eq!(cycles(&d, &rem), vec![vec![0, 1, 2, 0]]);
    }

    #[test]
    fn a_million_task_chain_does_not_recurse() {
        let n = 1_000_000u32;
        let edges: Vec<(u32, u32)> = (1..n).map(|i| (i, i - 1)).collect();
        let (d, r) = graph(&edges, n as usize);
        assert_eq!(topo_order(&d, &r).unwrap().len(), n as usize);
        let mut edges = edges;
        edges.push((0, n - 1));
        let (d, r) = graph(&edges, n as usize);
        let rem = topo_order(&d, &r).unwrap_err();
        assert_eq!(cycles(&d, &rem)[0].len(), n as usize + 1);
    }
}
