//! The validated, immutable plan: tasks, their dependency graph, executors and a topological
//! order. It is the single input of running, resuming and graphing.
//!
//! Dependencies are stored as index lists both ways so that the scheduler can count remaining
//! dependencies and walk dependents in O(1) per edge. petgraph is used only inside this module.

mod build;
pub mod hash;
mod index;
pub mod render;
pub mod splice;

pub use build::build;
pub(crate) use index::IdIndex;

use crate::model::ExecutorDef;
use crate::task::Task;
use indexmap::IndexMap;
use std::path::PathBuf;

/// Where the workflow came from.
#[derive(Debug, Clone)]
pub struct Source {
    pub path: PathBuf,
    pub text: String,
}

/// One index list per task, stored flat (compressed sparse rows): two allocations for the whole
/// graph instead of one per task, which matters for million-task workflows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Adjacency {
    /// Task `i`'s list is `items[start[i]..start[i + 1]]`; `start` has one entry more than tasks.
    start: Vec<usize>,
    items: Vec<u32>,
}

impl Adjacency {
    pub(crate) fn with_capacity(tasks: usize, items: usize) -> Self {
        let mut start = Vec::with_capacity(tasks + 1);
        start.push(0);
        Adjacency { start, items: Vec::with_capacity(items) }
    }

    /// Appends the next task's list.
    pub(crate) fn push(&mut self, list: &[u32]) {
        self.items.extend_from_slice(list);
        self.start.push(self.items.len());
    }

    pub(crate) fn len(&self) -> usize {
        self.start.len() - 1
    }

    pub(crate) fn get(&self, i: u32) -> &[u32] {
        &self.items[self.start[i as usize]..self.start[i as usize + 1]]
    }

    /// The same edges the other way round, each list in increasing order.
    pub(crate) fn reversed(&self) -> Adjacency {
        let n = self.len();
        let mut start = vec![0usize; n + 1];
        for &j in &self.items {
            start[j as usize + 1] += 1;
        }
        for i in 0..n {
            start[i + 1] += start[i];
        }
        let mut fill = start.clone();
        let mut items = vec![0u32; self.items.len()];
        for i in 0..n {
            for &j in self.get(i as u32) {
                items[fill[j as usize]] = i as u32;
                fill[j as usize] += 1;
            }
        }
        Adjacency { start, items }
    }
}

#[derive(Debug, Clone)]
pub struct Plan {
    pub name: String,
    pub source: Source,
    pub params: IndexMap<String, serde_json::Value>,
    /// The workflow's `env`, beneath every task's own.
    pub env: Vec<(String, String)>,
    pub executors: IndexMap<String, ExecutorDef>,
    pub tasks: Vec<Task>,
    index: IdIndex,
    deps: Adjacency,
    dependents: Adjacency,
    /// A topological order: each task after all its dependencies, otherwise file order.
    pub order: Vec<u32>,
    /// The workflow's `defaults`, for tasks generators add.
    pub defaults: crate::workflow::spec::TaskDefaults,
    /// The most tasks the plan may grow to.
    pub max_tasks: usize,
}

impl Plan {
    pub fn len(&self) -> usize {
        self.tasks.len()
    }

    pub fn is_empty(&self) -> bool {
        self.tasks.is_empty()
    }

    pub fn deps(&self, i: u32) -> &[u32] {
        self.deps.get(i)
    }

    pub fn dependents(&self, i: u32) -> &[u32] {
        self.dependents.get(i)
    }

    pub fn get(&self, id: &str) -> Option<u32> {
        self.index.get(&self.tasks, id)
    }

    pub fn task(&self, i: u32) -> &Task {
        &self.tasks[i as usize]
    }

    /// The executor a task runs on (validation made sure it exists).
    pub fn executor_of(&self, i: u32) -> &ExecutorDef {
        let name: &str = &self.task(i).executor;
        self.executors.get(name).unwrap_or(&self.executors[0])
    }

    /// Resolves a `--target`/`--from` argument: an exact id, or a base name meaning all instances.
    pub fn resolve(&self, name: &str) -> Vec<u32> {
        if let Some(i) = self.get(name) {
            return vec![i];
        }
        (0..self.tasks.len() as u32).filter(|&i| &*self.tasks[i as usize].base == name).collect()
    }

    /// The given tasks and everything they depend on, transitively.
    pub fn with_ancestors(&self, roots: &[u32]) -> Vec<bool> {
        self.closure(roots, |i| self.deps(i))
    }

    /// The given tasks and everything that depends on them, transitively.
    pub fn with_descendants(&self, roots: &[u32]) -> Vec<bool> {
        self.closure(roots, |i| self.dependents(i))
    }

    fn closure<'a>(&'a self, roots: &[u32], next: impl Fn(u32) -> &'a [u32]) -> Vec<bool> {
        let mut seen = vec![false; self.tasks.len()];
        let mut stack: Vec<u32> = roots.to_vec();
        while let Some(i) = stack.pop() {
            if std::mem::replace(&mut seen[i as usize], true) {
                continue;
            }
            stack.extend(next(i).iter().copied().filter(|&j| !seen[j as usize]));
        }
        seen
    }
}

impl Plan {
    /// Appends tasks a generator added: `deps` are their dependency lists; every existing
    /// dependent of `generator` also comes to depend on `sinks`.
    pub(crate) fn extend(&mut self, generator: u32, tasks: Vec<Task>, deps: Vec<Vec<u32>>, sinks: &[u32]) {
        let old = self.len();
        let mut waits = vec![false; old];
        for &j in self.dependents(generator) {
            waits[j as usize] = true;
        }
        let extra = if waits.iter().any(|&w| w) { sinks.len() * old } else { 0 };
        let mut all = Adjacency::with_capacity(
            old + tasks.len(),
            deps.iter().map(Vec::len).sum::<usize>() + extra.min(1 << 20),
        );
        let mut row = Vec::new();
        for i in 0..old as u32 {
            if waits[i as usize] {
                row.clear();
                row.extend_from_slice(self.deps(i));
                row.extend_from_slice(sinks);
                row.sort_unstable();
                row.dedup();
                all.push(&row);
            } else {
                all.push(self.deps(i));
            }
        }
        for d in &deps {
            all.push(d);
        }
        self.dependents = all.reversed();
        self.deps = all;
        self.tasks.extend(tasks);
        for i in old..self.tasks.len() {
            // The splice refused ids the plan has already.
            let _ = self.index.insert(&self.tasks, i as u32);
        }
        let n = self.tasks.len() as u32;
        // The splice checked for cycles, so this is always a full order.
        self.order = build::topo_order(&self.deps, &self.dependents).unwrap_or_else(|_| (0..n).collect());
    }
}
