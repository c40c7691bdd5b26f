//! The validated, immutable plan: tasks, their dependency graph, executors and a topological
//! order. It is the single input of running, resuming and graphing.
//!
//! Dependencies are stored as index lists both ways so that the scheduler can count remaining
//! dependencies and walk dependents in O(1) per edge. petgraph is used only inside this module.

mod build;
pub mod render;

pub use build::build;

use crate::task::Task;
use indexmap::IndexMap;
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

use crate::workflow::spec::SlurmSpec;

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
    Local,
    Ssh {
        hosts: Vec<Host>,
        config: Option<String>,
        identity_file: Option<String>,
        options: Vec<String>,
        max_sessions: u32,
    },
    Slurm(SlurmSpec),
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
            _ => self.slots,
        }
    }

    pub fn type_name(&self) -> &'static str {
        match self.kind {
            ExecutorKind::Local => "local",
            ExecutorKind::Ssh { .. } => "ssh",
            ExecutorKind::Slurm(_) => "slurm",
        }
    }
}

/// Where the workflow came from.
#[derive(Debug, Clone)]
pub struct Source {
    pub path: PathBuf,
    pub text: String,
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
    pub index: HashMap<String, u32>,
    deps: Vec<Vec<u32>>,
    dependents: Vec<Vec<u32>>,
    /// A topological order: each task after all its dependencies, otherwise file order.
    pub order: Vec<u32>,
}

impl Plan {
    pub fn len(&self) -> usize {
        self.tasks.len()
    }

    pub fn is_empty(&self) -> bool {
        self.tasks.is_empty()
    }

    pub fn deps(&self, i: u32) -> &[u32] {
        &self.deps[i as usize]
    }

    pub fn dependents(&self, i: u32) -> &[u32] {
        &self.dependents[i as usize]
    }

    pub fn get(&self, id: &str) -> Option<u32> {
        self.index.get(id).copied()
    }

    pub fn task(&self, i: u32) -> &Task {
        &self.tasks[i as usize]
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
