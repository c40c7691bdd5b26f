//! Past runs. `run` does not destroy the state it replaces: it moves it, with its journal and
//! its logs, into a directory of its own under `history/` beside the state (for a state file
//! that does not own `logs/`, under `<name>.history/`), named after the time that run started
//! (`20261204T205810.123Z`), so the names sort oldest first. The fingerprints of declared files
//! stay where they are: they belong to the workflow, not to one run.

use super::store;
use anyhow::{Context, Result};
use std::path::{Path, PathBuf};

/// One past run: its directory and the state file in it.
#[derive(Debug, Clone)]
pub struct Entry {
    pub name: String,
    pub dir: PathBuf,
    pub state: PathBuf,
}

/// The directory of the state at `state`: where its logs and history are.
pub fn run_dir(state: &Path) -> &Path {
    crate::workflow::expand::dir_of(state)
}

/// The logs directory of the state at `state`, as `run` chose it: `logs/` unless another state
/// file in the same directory owns that (`.logs.owner`), then `<name>.logs/`.
/// Anything unreadable in `.logs.owner` counts as this state's, as before owners were recorded.
pub fn logs_dir(state: &Path) -> PathBuf {
    let dir = run_dir(state);
    let name = state.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let owner = dir.join(".logs.owner");
    let other = match std::fs::symlink_metadata(&owner) {
        Ok(m) if m.is_file() && m.len() < 4096 => {
            std::fs::read_to_string(&owner).is_ok_and(|o| o.trim_end_matches('\n') != name)
        }
        _ => false,
    };
    if other { dir.join(format!("{name}.logs")) } else { dir.join("logs") }
}

/// Where the past runs of the state at `state` are kept.
pub fn history_dir(state: &Path) -> PathBuf {
    let logs = logs_dir(state);
    let dir = run_dir(state);
    match logs.file_name().and_then(|n| n.to_str()) {
        Some("logs") | None => dir.join("history"),
        Some(n) => dir.join(format!("{}.history", n.trim_end_matches(".logs"))),
    }
}

/// Moves the state at `state` (with its journal and trace) and its logs into a new history
/// entry named after `started`, when that run started (read by the caller, which has the
/// state in brief already; without it, the file's time); `None` when there is no state there.
/// Called with the state's lock held.
pub fn keep(state: &Path, started: Option<&str>) -> Result<Option<Entry>> {
    if !state.exists() {
        return Ok(None);
    }
    let started = started.map(str::to_owned).unwrap_or_else(|| {
        let t = std::fs::metadata(state).and_then(|m| m.modified()).unwrap_or(std::time::SystemTime::now());
        super::model::timestamp(t)
    });
    let stem: String =
        started.chars().filter(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | 'T' | 'Z')).collect();
    let root = history_dir(state);
    std::fs::create_dir_all(&root).with_context(|| format!("cannot create `{}`", root.display()))?;
    let (name, dir) = (1..)
        .map(|n| if n == 1 { stem.clone() } else { format!("{stem}-{n}") })
        .map(|name| (name.clone(), root.join(name)))
        .find(|(_, d)| std::fs::create_dir(d).is_ok())
        .context("no name is free")?;
    let file = state.file_name().unwrap_or(std::ffi::OsStr::new("state.json"));
    let kept = dir.join(file);
    let move_to = |from: &Path, to: &Path| {
        std::fs::rename(from, to)
            .with_context(|| format!("cannot move `{}` to `{}`", from.display(), to.display()))
    };
    move_to(state, &kept)?;
    for (from, to) in [
        (store::journal_path(state), store::journal_path(&kept)),
        (store::trace_path(state), store::trace_path(&kept)),
    ] {
        // Only files of dagrun's own: anything else in their place stays where it is.
        if std::fs::symlink_metadata(&from).is_ok_and(|m| m.is_file()) {
            move_to(&from, &to)?;
        }
    }
    let logs = logs_dir(state);
    if let Some(logs_name) = logs.file_name().filter(|_| logs.is_dir()) {
        move_to(&logs, &dir.join(logs_name))?;
    }
    Ok(Some(Entry { name, dir, state: kept }))
}

/// The past runs of the state at `state`, newest first.
pub fn list(state: &Path) -> Vec<Entry> {
    let root = history_dir(state);
    let file = state.file_name().unwrap_or(std::ffi::OsStr::new("state.json")).to_owned();
    let Ok(entries) = std::fs::read_dir(&root) else { return Vec::new() };
    let mut out: Vec<Entry> = entries
        .flatten()
        .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
        .map(|e| Entry {
            name: e.file_name().to_string_lossy().into_owned(),
            dir: e.path(),
            state: e.path().join(&file),
        })
        .filter(|e| e.state.is_file())
        .collect();
    out.sort_by(|a, b| b.name.cmp(&a.name));
    out
}

/// Removes the past runs of `state` but the newest `keep`, returning what was removed and the
/// bytes it held. Called with the state's lock held.
pub fn prune(state: &Path, keep: usize) -> Result<(Vec<Entry>, u64)> {
    let mut removed = Vec::new();
    let mut bytes = 0;
    for e in list(state).into_iter().skip(keep) {
        bytes += size(&e.dir);
        std::fs::remove_dir_all(&e.dir).with_context(|| format!("cannot remove `{}`", e.dir.display()))?;
        removed.push(e);
    }
    Ok((removed, bytes))
}

fn size(dir: &Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(dir) else { return 0 };
    entries
        .flatten()
        .map(|e| match e.file_type() {
            Ok(t) if t.is_dir() => size(&e.path()),
            Ok(t) if t.is_file() => e.metadata().map_or(0, |m| m.len()),
            _ => 0,
        })
        .sum()
}
