//! Definition hashes: what a task would do, reduced to a digest that `resume` and the file
//! fingerprints compare.
//!
//! The digest covers the rendered command, the effective environment (workflow `env` under the
//! task's), the working directory, the executor, and the digests of the task's dependencies, so
//! an edit re-runs the task and everything downstream. Timeouts, retries and descriptions are
//! left out: changing them does not change what a task produces. The encoding is versioned and
//! length-prefixed so that it stays stable across dagrun releases.

use crate::plan::Plan;
use crate::task::Command;
use sha2::{Digest, Sha256};

/// Hex digests (32 chars) for every task, computed in topological order.
pub fn definition_hashes(plan: &Plan) -> Vec<String> {
    let mut out = vec![String::new(); plan.len()];
    for &i in &plan.order {
        out[i as usize] = task_hash(plan, i, &out);
    }
    out
}

/// The digest of task `i`, given the digests of its dependencies in `known`.
pub fn task_hash(plan: &Plan, i: u32, known: &[String]) -> String {
    digest(plan, i, Some(known))
}

/// The digest of what task `i` itself does, leaving its dependencies out: what the fingerprint
/// of a task with `outputs` compares (its inputs' contents stand for what came before it).
pub fn own_hash(plan: &Plan, i: u32) -> String {
    digest(plan, i, None)
}

fn digest(plan: &Plan, i: u32, known: Option<&[String]>) -> String {
    let t = plan.task(i);
    let mut h = Sha256::new();
    field(&mut h, b"dagrun-task-v1");
    match &t.cmd {
        Command::Shell(s) => {
            field(&mut h, b"sh");
            field(&mut h, s.as_bytes());
        }
        Command::Argv(argv) => {
            field(&mut h, b"argv");
            field(&mut h, &(argv.len() as u64).to_le_bytes());
            for a in argv {
                field(&mut h, a.as_bytes());
            }
        }
    }
    let env = effective_env(&plan.env, &t.env);
    field(&mut h, &(env.len() as u64).to_le_bytes());
    for (k, v) in env {
        field(&mut h, k.as_bytes());
        field(&mut h, v.as_bytes());
    }
    field(&mut h, t.workdir.as_deref().unwrap_or("").as_bytes());
    field(&mut h, t.executor.as_bytes());
    // Declared files count only when there are some: hashes of tasks without them stay as
    // they were before the fields existed.
    if let Some(f) = &t.files {
        field(&mut h, b"files");
        for list in [&f.inputs, &f.outputs] {
            field(&mut h, &(list.len() as u64).to_le_bytes());
            for p in list {
                field(&mut h, p.as_bytes());
            }
        }
    }
    let Some(known) = known else {
        return hex(&h.finalize()[..16]);
    };
    let mut d: Vec<(&str, u32)> = plan.deps(i).iter().map(|&d| (plan.task(d).id.as_str(), d)).collect();
    d.sort_unstable();
    field(&mut h, &(d.len() as u64).to_le_bytes());
    for (_, j) in d {
        field(&mut h, known.get(j as usize).map_or("", String::as_str).as_bytes());
    }
    let digest = h.finalize();
    hex(&digest[..16])
}

/// The workflow env overlaid by the task's, sorted by name: order in the file does not matter.
fn effective_env<'a>(wf: &'a [(String, String)], task: &'a [(String, String)]) -> Vec<(&'a str, &'a str)> {
    let mut m: std::collections::BTreeMap<&str, &str> = std::collections::BTreeMap::new();
    for (k, v) in wf.iter().chain(task) {
        m.insert(k, v);
    }
    m.into_iter().collect()
}

fn field(h: &mut Sha256, bytes: &[u8]) {
    h.update((bytes.len() as u64).to_le_bytes());
    h.update(bytes);
}

fn hex(bytes: &[u8]) -> String {
    const D: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(D[(b >> 4) as usize] as char);
        s.push(D[(b & 15) as usize] as char);
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pipeline::load_text;
    use crate::workflow::{LoadOptions, load::Format};
    use std::path::Path;

    fn hashes(yaml: &str) -> Vec<String> {
        let plan =
            load_text(Path::new("t.yaml"), Format::Yaml, yaml.into(), &LoadOptions::default()).unwrap();
        definition_hashes(&plan)
    }

    #[test]
    fn hashes_are_stable_across_releases() {
        // A change here means every user's next resume re-runs everything: don't.
        let h = hashes("tasks:\n  a:\n    cmd: echo hi\n");
        assert_eq!(h[0], "fa04a0af15bca8b613897509b8383b85");
    }

    #[test]
    fn an_edit_changes_the_task_and_its_descendants_only() {
        let before = hashes("tasks:\n  a: {cmd: x}\n  b: {cmd: y, after: [a]}\n  c: {cmd: z}\n");
        let after = hashes("tasks:\n  a: {cmd: x2}\n  b: {cmd: y, after: [a]}\n  c: {cmd: z}\n");
        assert_ne!(before[0], after[0]);
        assert_ne!(before[1], after[1]);
        assert_eq!(before[2], after[2]);
    }

    #[test]
    fn timeouts_and_env_order_do_not_matter() {
        let a = hashes("env: {X: '1', Y: '2'}\ntasks:\n  a: {cmd: x, timeout: 1s}\n");
        let b = hashes("env: {Y: '2', X: '1'}\ntasks:\n  a: {cmd: x, timeout: 5m, retries: 3}\n");
        assert_eq!(a, b);
        let c = hashes("env: {Y: '3', X: '1'}\ntasks:\n  a: {cmd: x}\n");
        assert_ne!(a, c);
    }
}
