//! The files tasks declare (`inputs`, `outputs`): where they are, what they hold, and whether a
//! task is up to date with them.
//!
//! A task that declares `outputs` is up to date when every output exists, its own definition
//! is what it was when it last succeeded, and the files its inputs match are the same set with
//! the same contents. Contents are compared by digest, and a file is read again only when its
//! size, mtime, inode or ctime changed since it was digested (`stamp`). What a task saw when
//! it last succeeded is its `Fingerprint`, kept in a file beside the state (`store`), which
//! outlives the state: `run` starts a new state but reads the same fingerprints.

mod check;
pub mod order;
pub mod stamp;
pub mod store;

pub use check::{Check, Checker, Why};
pub use stamp::{FileRecord, Fingerprint, Stamp};

use crate::plan::Plan;
use std::path::{Component, Path, PathBuf};

/// The directory a task's relative paths start from: its `workdir` (itself relative to the
/// workflow's directory), else the workflow's directory.
pub fn task_dir(plan: &Plan, i: u32) -> PathBuf {
    let base = crate::workflow::expand::dir_of(&plan.source.path);
    match &plan.task(i).workdir {
        Some(w) => base.join(w),
        None => base.to_path_buf(),
    }
}

/// `p` with `.` and `x/..` removed, without touching the file system: two spellings of one
/// path compare equal (`build/./a.o`, `src/../build/a.o`).
pub fn normalize(p: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in p.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir => {
                if !out.pop() {
                    out.push("..");
                }
            }
            other => out.push(other),
        }
    }
    out
}

/// Whether `pattern` is a glob rather than a plain path.
pub fn is_glob(pattern: &str) -> bool {
    pattern.contains(['*', '?', '['])
}

/// What a run would do with each task, without running anything (`--dry-run`): in plan order,
/// for the `selected` tasks, why each runs or does not. Tasks that declare outputs are decided
/// by their files, and run when a dependency that runs writes a file they read; the others by
/// `otherwise`. `forced`: tasks that run whatever their files say.
pub fn predict(
    plan: &Plan,
    selected: &[bool],
    forced: &[bool],
    checker: &mut Checker,
    otherwise: impl Fn(u32) -> Why,
) -> Vec<Option<Why>> {
    let mut runs = vec![false; plan.len()];
    let mut out = vec![None; plan.len()];
    for &i in &plan.order {
        let iu = i as usize;
        if !selected[iu] {
            continue;
        }
        let why = if plan.task(i).outputs().is_empty() {
            otherwise(i)
        } else {
            decide(checker, plan, i, forced.get(iu).copied().unwrap_or(false), &|d| runs[d as usize])
        };
        runs[iu] = why.runs();
        out[iu] = Some(why);
    }
    out
}

/// Whether task `i` (which declares outputs) would run, before anything runs: as its files say,
/// or because a dependency that `runs` writes a file it reads.
pub fn decide(checker: &mut Checker, plan: &Plan, i: u32, force: bool, runs: &dyn Fn(u32) -> bool) -> Why {
    match checker.check(plan, i, force, runs).why {
        w @ (Why::UpToDate | Why::InputChanged(_) | Why::InputAdded(_) | Why::InputRemoved(_)) => plan
            .deps(i)
            .iter()
            .find(|&&d| runs(d) && reads_output_of(plan, i, d).is_some())
            .map_or(w, |&d| Why::Upstream(plan.task(d).id.clone())),
        other => other,
    }
}

/// An output of task `writer` that task `reader`'s inputs name or match, if there is one.
pub fn reads_output_of(plan: &Plan, reader: u32, writer: u32) -> Option<String> {
    let outs = plan.task(writer).outputs();
    if outs.is_empty() || plan.task(reader).inputs().is_empty() {
        return None;
    }
    let wdir = task_dir(plan, writer);
    let outs: Vec<PathBuf> = outs.iter().map(|o| normalize(&wdir.join(o))).collect();
    let rdir = task_dir(plan, reader);
    let opts = glob::MatchOptions { require_literal_leading_dot: true, ..Default::default() };
    for p in plan.task(reader).inputs() {
        let full = normalize(&rdir.join(p));
        let hit = if is_glob(p) {
            let Ok(pat) = glob::Pattern::new(&full.to_string_lossy()) else { continue };
            outs.iter().find(|o| pat.matches_path_with(o, opts))
        } else {
            outs.iter().find(|o| o.starts_with(&full))
        };
        if let Some(o) = hit {
            return Some(o.strip_prefix(&rdir).unwrap_or(o).display().to_string());
        }
    }
    None
}
