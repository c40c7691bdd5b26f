//! Whether a task is up to date with its files, and why not; and, once it ran, whether it made
//! its outputs.

use super::stamp::{FileRecord, Fingerprint, Stamp, digest_file};
use super::store::Fingerprints;
use super::{is_glob, normalize, task_dir};
use crate::plan::Plan;
use crate::plan::hash::own_hash;
use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

/// Why a task runs, or that it does not.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Why {
    UpToDate,
    NoOutputs,
    Forced,
    NeverSucceeded,
    /// It started since it last succeeded, and did not succeed: its outputs may be half made.
    LastFailed,
    CommandChanged,
    OutputMissing(String),
    InputChanged(String),
    InputAdded(String),
    InputRemoved(String),
    /// A dependency that ran in this run wrote an input that changed.
    Upstream(String),
    /// Without outputs, decided by the state (`resume`): done already.
    Done,
    /// Without outputs, decided by the state: runs, for this recorded reason.
    Recorded(&'static str),
}

impl fmt::Display for Why {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.runs() { write!(f, "runs: {}", self.reason()) } else { write!(f, "{}", self.reason()) }
    }
}

impl Why {
    /// Whether the task runs.
    pub fn runs(&self) -> bool {
        !matches!(self, Why::UpToDate | Why::Done)
    }

    /// The reason alone: `input src/a.c changed`, `up to date`.
    pub fn reason(&self) -> String {
        let p = |s: &str| crate::diag::printable(s).into_owned();
        match self {
            Why::UpToDate => "up to date".into(),
            Why::NoOutputs => "no outputs declared".into(),
            Why::Forced => "forced".into(),
            Why::NeverSucceeded => "never succeeded".into(),
            Why::LastFailed => "its last attempt did not succeed".into(),
            Why::CommandChanged => "command changed".into(),
            Why::OutputMissing(o) => format!("output {} missing", p(o)),
            Why::InputChanged(i) => format!("input {} changed", p(i)),
            Why::InputAdded(i) => format!("input {} is new", p(i)),
            Why::InputRemoved(i) => format!("input {} is gone", p(i)),
            Why::Upstream(t) => format!("upstream {} ran", p(t)),
            Why::Done => "done".into(),
            Why::Recorded(r) => (*r).into(),
        }
    }

    /// A word for `--format json`.
    pub fn kind(&self) -> &'static str {
        match self {
            Why::UpToDate => "up_to_date",
            Why::NoOutputs => "no_outputs",
            Why::Forced => "forced",
            Why::NeverSucceeded => "never_succeeded",
            Why::LastFailed => "last_failed",
            Why::CommandChanged => "command_changed",
            Why::OutputMissing(_) => "output_missing",
            Why::InputChanged(_) => "input_changed",
            Why::InputAdded(_) => "input_added",
            Why::InputRemoved(_) => "input_removed",
            Why::Upstream(_) => "upstream_ran",
            Why::Done => "done",
            Why::Recorded(_) => "recorded",
        }
    }

    /// The file or task the reason names.
    pub fn subject(&self) -> Option<&str> {
        match self {
            Why::OutputMissing(s)
            | Why::InputChanged(s)
            | Why::InputAdded(s)
            | Why::InputRemoved(s)
            | Why::Upstream(s) => Some(s),
            _ => None,
        }
    }
}

/// The answer for one task, with what is needed to record it once it succeeds.
#[derive(Debug, Clone)]
pub struct Check {
    pub why: Why,
    /// Its inputs as they are now.
    pub inputs: Vec<FileRecord>,
    /// Its outputs' stamps before it runs (none: not there).
    outputs_before: Vec<Option<Stamp>>,
    /// Up to date, but the stamps it was recorded with changed (a touched file): record it
    /// again so that the files are not read next time.
    pub restamped: bool,
}

impl Check {
    pub fn up_to_date(&self) -> bool {
        self.why == Why::UpToDate
    }
}

/// Decides tasks against the fingerprints of earlier runs.
pub struct Checker {
    known: Fingerprints,
    digests: Digests,
}

/// Digests made in this run, by path and stamp: a file many tasks read is read once.
#[derive(Default)]
struct Digests {
    made: HashMap<PathBuf, (Stamp, String)>,
    /// Files read to digest them.
    read: usize,
}

impl Checker {
    pub fn new(known: Fingerprints) -> Checker {
        Checker { known, digests: Digests::default() }
    }

    /// How many files this run read to compare their contents.
    pub fn files_read(&self) -> usize {
        self.digests.read
    }

    /// The fingerprints known (from earlier runs).
    pub fn known(&self) -> &Fingerprints {
        &self.known
    }

    /// Whether task `i` (which declares outputs) is up to date. `force`: it runs whatever its
    /// files say. `ran`: whether a task ran in this run (a changed input one of them wrote is
    /// named as that task's doing).
    pub fn check(&mut self, plan: &Plan, i: u32, force: bool, ran: &dyn Fn(u32) -> bool) -> Check {
        check(&self.known, &mut self.digests, plan, i, force, ran)
    }

    /// `check` of many tasks at once, `(task, force)`, on every core: the checks of a hundred
    /// thousand ready tasks are mostly waiting on `stat`. The answers are in the same order.
    pub fn check_all(
        &mut self,
        plan: &Plan,
        tasks: &[(u32, bool)],
        ran: &(dyn Fn(u32) -> bool + Sync),
    ) -> Vec<Check> {
        let threads = std::thread::available_parallelism().map_or(1, |n| n.get()).clamp(1, 8);
        if threads == 1 || tasks.len() < 256 {
            return tasks.iter().map(|&(i, force)| self.check(plan, i, force, ran)).collect();
        }
        let known = &self.known;
        let chunk = tasks.len().div_ceil(threads);
        let run = |part: &[(u32, bool)]| {
            let mut digests = Digests::default();
            let checks: Vec<Check> =
                part.iter().map(|&(i, force)| check(known, &mut digests, plan, i, force, ran)).collect();
            (checks, digests)
        };
        let parts: Vec<&[(u32, bool)]> = tasks.chunks(chunk).collect();
        let done = crate::par::map(&parts, |part| run(part));
        let mut out = Vec::with_capacity(tasks.len());
        for (part, done) in parts.iter().zip(done) {
            // A part whose thread panicked (a bug) is checked again here.
            let (checks, digests) = done.unwrap_or_else(|| run(part));
            out.extend(checks);
            self.digests.read += digests.read;
            self.digests.made.extend(digests.made);
        }
        out
    }

    /// After task `i` succeeded: its fingerprint, or why the success does not count (an output
    /// it declares that it did not make).
    pub fn made(&self, plan: &Plan, i: u32, check: &Check) -> Result<Fingerprint, String> {
        let t = plan.task(i);
        let dir = task_dir(plan, i);
        for (o, before) in t.outputs().iter().zip(&check.outputs_before) {
            let shown = crate::diag::printable(o);
            match std::fs::metadata(dir.join(o)) {
                Err(_) => return Err(format!("it succeeded without creating its declared output `{shown}`")),
                // A directory is made by its contents: that it is there is enough.
                Ok(m) if m.is_dir() => {}
                Ok(m) if *before == Some(Stamp::of(&m)) => {
                    return Err(format!(
                        "it succeeded without writing its declared output `{shown}`, which is left from \
                         before the run"
                    ));
                }
                Ok(_) => {}
            }
        }
        Ok(self.fingerprint(plan, i, check))
    }

    /// What is written when task `i` starts: it is not up to date until it succeeds again.
    pub fn started(plan: &Plan, i: u32) -> Fingerprint {
        Fingerprint { task: plan.task(i).id.clone(), def: String::new(), inputs: vec![], outputs: vec![] }
    }

    /// The fingerprint of task `i` as `check` saw it.
    pub fn fingerprint(&self, plan: &Plan, i: u32, check: &Check) -> Fingerprint {
        let t = plan.task(i);
        Fingerprint {
            task: t.id.clone(),
            def: own_hash(plan, i),
            inputs: check.inputs.clone(),
            outputs: t.outputs().to_vec(),
        }
    }
}

/// `Checker::check`, given the fingerprints it reads and the digests it adds to.
fn check(
    known: &Fingerprints,
    digests: &mut Digests,
    plan: &Plan,
    i: u32,
    force: bool,
    ran: &dyn Fn(u32) -> bool,
) -> Check {
    let t = plan.task(i);
    let dir = task_dir(plan, i);
    let outputs_before: Vec<Option<Stamp>> =
        t.outputs().iter().map(|o| std::fs::metadata(dir.join(o)).ok().map(|m| Stamp::of(&m))).collect();
    let prior = known.get(&t.id);
    let inputs = inputs(digests, &dir, t.inputs(), prior);
    let why = if force {
        Why::Forced
    } else {
        match prior {
            None => Why::NeverSucceeded,
            Some(p) if p.def.is_empty() => Why::LastFailed,
            Some(p) if p.def != own_hash(plan, i) => Why::CommandChanged,
            Some(p) => match t.outputs().iter().zip(&outputs_before).find(|(_, s)| s.is_none()) {
                Some((o, _)) => Why::OutputMissing(o.clone()),
                None => match compare(&p.inputs, &inputs) {
                    None => Why::UpToDate,
                    Some(w) => {
                        let by = match &w {
                            Why::InputChanged(f) | Why::InputAdded(f) => written_by(plan, i, &dir, f, ran),
                            _ => None,
                        };
                        by.map_or(w, Why::Upstream)
                    }
                },
            },
        }
    };
    let restamped = why == Why::UpToDate
        && prior.is_some_and(|p| p.inputs.iter().zip(&inputs).any(|(a, b)| a.stamp != b.stamp));
    Check { why, inputs, outputs_before, restamped }
}

/// The files `patterns` match in `dir`, each with its digest, sorted by path. A file whose
/// stamp is what `prior` recorded keeps its recorded digest, unread.
fn inputs(
    digests: &mut Digests,
    dir: &Path,
    patterns: &[String],
    prior: Option<&Fingerprint>,
) -> Vec<FileRecord> {
    // Each file with what the file system says of it (none: not there), stated once.
    let mut found: Vec<(String, Option<std::fs::Metadata>)> = Vec::new();
    for p in patterns {
        if is_glob(p) {
            let full = dir.join(p);
            let opts = glob::MatchOptions { require_literal_leading_dot: true, ..Default::default() };
            if let Ok(paths) = glob::glob_with(&full.to_string_lossy(), opts) {
                for f in paths.flatten() {
                    if let Some(m) = std::fs::metadata(&f).ok().filter(|m| m.is_file()) {
                        found.push((shown(dir, &f), Some(m)));
                    }
                }
            }
        } else {
            match std::fs::metadata(dir.join(p)) {
                Ok(m) if m.is_dir() => walk(dir, &dir.join(p), &mut found),
                m => found.push((p.clone(), m.ok())),
            }
        }
    }
    found.sort_unstable_by(|a, b| a.0.cmp(&b.0));
    found.dedup_by(|a, b| a.0 == b.0);
    let now = SystemTime::now();
    let before = |path: &str| prior.and_then(|p| p.inputs.iter().find(|r| r.path == path));
    found
        .into_iter()
        .map(|(path, meta)| {
            let Some(m) = meta else {
                return FileRecord { path, stamp: None, digest: String::new() };
            };
            let stamp = Stamp::of(&m);
            let digest = match before(&path) {
                Some(r) if r.stamp == Some(stamp) && r.exists() => r.digest.clone(),
                _ => digests.of(&dir.join(&path), stamp),
            };
            let stamp = (!stamp.racy(now) && !digest.is_empty()).then_some(stamp);
            FileRecord { path, stamp, digest }
        })
        .collect()
}

impl Digests {
    fn of(&mut self, full: &Path, stamp: Stamp) -> String {
        let key = normalize(full);
        if let Some((s, d)) = self.made.get(&key) {
            if *s == stamp {
                return d.clone();
            }
        }
        self.read += 1;
        // An input that cannot be read counts as missing: the task runs, and says why.
        let d = digest_file(full).unwrap_or_default();
        self.made.insert(key, (stamp, d.clone()));
        d
    }
}

/// The first difference between the inputs recorded and those found now.
fn compare(before: &[FileRecord], now: &[FileRecord]) -> Option<Why> {
    let (mut a, mut b) = (before.iter().peekable(), now.iter().peekable());
    loop {
        match (a.peek(), b.peek()) {
            (None, None) => return None,
            (Some(x), None) => return Some(Why::InputRemoved(x.path.clone())),
            (None, Some(y)) => return Some(Why::InputAdded(y.path.clone())),
            (Some(x), Some(y)) if x.path < y.path => return Some(Why::InputRemoved(x.path.clone())),
            (Some(x), Some(y)) if x.path > y.path => return Some(Why::InputAdded(y.path.clone())),
            (Some(x), Some(y)) => {
                if x.digest != y.digest {
                    return Some(Why::InputChanged(y.path.clone()));
                }
                a.next();
                b.next();
            }
        }
    }
}

/// A dependency of task `i` that ran in this run and declares `input` (in `dir`) as an output.
fn written_by(plan: &Plan, i: u32, dir: &Path, input: &str, ran: &dyn Fn(u32) -> bool) -> Option<String> {
    let want = normalize(&dir.join(input));
    plan.deps(i).iter().copied().filter(|&d| ran(d)).find_map(|d| {
        let ddir = task_dir(plan, d);
        plan.task(d)
            .outputs()
            .iter()
            .any(|o| normalize(&ddir.join(o)) == want)
            .then(|| plan.task(d).id.clone())
    })
}

/// `f` as a path from `dir` when it is under it (as the user wrote the pattern), else whole.
fn shown(dir: &Path, f: &Path) -> String {
    f.strip_prefix(dir).unwrap_or(f).to_string_lossy().into_owned()
}

/// Every file under `root`, as paths from `dir`. Links are not followed into directories.
fn walk(dir: &Path, root: &Path, out: &mut Vec<(String, Option<std::fs::Metadata>)>) {
    let Ok(entries) = std::fs::read_dir(root) else { return };
    for e in entries.flatten() {
        let Ok(ft) = e.file_type() else { continue };
        if ft.is_dir() {
            walk(dir, &e.path(), out);
        } else {
            out.push((shown(dir, &e.path()), std::fs::metadata(e.path()).ok()));
        }
    }
}
