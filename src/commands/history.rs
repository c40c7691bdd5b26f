//! `dagrun history [WORKFLOW|STATE]` lists a workflow's runs, the current one and those kept in
//! its history; `dagrun clean [WORKFLOW|STATE] --keep N` removes all but the newest N kept.

use super::args::{CleanArgs, HistoryArgs, ReportFormat};
use super::graph::write_stdout;
use crate::error::{Error, Result, code};
use crate::state::history;
use crate::state::store::{self, Lock, Summary};
use std::path::{Path, PathBuf};

/// The state files `target` names: a state file, the default one of a workflow file, or with
/// none given every workflow's under `./.dagrun/`.
fn states(target: Option<&Path>) -> Result<Vec<PathBuf>> {
    let Some(t) = target else {
        let mut found: Vec<PathBuf> = std::fs::read_dir(".dagrun")
            .map(|d| d.flatten().map(|e| e.path().join("state.json")).filter(|p| p.is_file()).collect())
            .unwrap_or_default();
        found.sort();
        if found.is_empty() {
            return Err(Error::Usage(
                "no runs under `.dagrun/` here: name a workflow file or a state file".into(),
            ));
        }
        return Ok(found);
    };
    let state = super::state_of_workflow(t).unwrap_or_else(|| t.to_path_buf());
    if !state.exists() && history::list(&state).is_empty() {
        return Err(Error::State(anyhow::anyhow!(
            "no runs of `{}`: `{}` does not exist",
            t.display(),
            state.display()
        )));
    }
    Ok(vec![state])
}

pub fn history(args: &HistoryArgs) -> Result<u8> {
    let mut rows = Vec::new();
    for state in states(args.target.as_deref())? {
        let running = store::holder(&state);
        let current = store::summary(&state).map(|s| ("current".to_owned(), state.clone(), s));
        let past = history::list(&state)
            .into_iter()
            .filter_map(|e| Some((e.name, e.state.clone(), store::summary(&e.state)?)));
        for (name, path, s) in current.into_iter().chain(past) {
            let live = name == "current" && running.is_some();
            rows.push(Row { workflow: state.clone(), name, path, s, live });
        }
    }
    let out = match args.format {
        ReportFormat::Json => {
            let doc: Vec<serde_json::Value> = rows.iter().map(Row::json).collect();
            let mut s = serde_json::to_string_pretty(&doc).map_err(anyhow::Error::from)?;
            s.push('\n');
            s
        }
        ReportFormat::Text => text(&rows),
    };
    write_stdout(out.as_bytes())?;
    Ok(code::OK)
}

struct Row {
    workflow: PathBuf,
    name: String,
    path: PathBuf,
    s: Summary,
    live: bool,
}

impl Row {
    fn outcome(&self) -> &str {
        if self.live { "running" } else { self.s.outcome.as_deref().unwrap_or("interrupted") }
    }

    fn json(&self) -> serde_json::Value {
        serde_json::json!({
            "state": self.workflow.display().to_string(),
            "run": self.name,
            "path": self.path.display().to_string(),
            "started_at": self.s.started_at,
            "finished_at": self.s.finished_at,
            "elapsed_secs": self.s.elapsed_secs,
            "outcome": self.outcome(),
            "counts": self.s.counts,
            "total": self.s.counts.values().sum::<usize>(),
        })
    }
}

fn text(rows: &[Row]) -> String {
    let mut out = String::new();
    let mut last: Option<&Path> = None;
    for r in rows {
        if last != Some(r.workflow.as_path()) {
            if last.is_some() {
                out.push('\n');
            }
            out.push_str(&format!("{}\n", crate::diag::printable(&r.workflow.display().to_string())));
            out.push_str(&format!(
                "  {:<24} {:<24} {:>9}  {:<11} {:>7} {:>9} {:>6} {:>7} {:>6}\n",
                "RUN", "STARTED", "DURATION", "OUTCOME", "TASKS", "SUCCEEDED", "FAILED", "SKIPPED", "OTHER"
            ));
            last = Some(&r.workflow);
        }
        let count = |k: &str| r.s.counts.get(k).copied().unwrap_or(0);
        let total: usize = r.s.counts.values().sum();
        let other = total - count("succeeded") - count("failed") - count("skipped");
        let started = r.s.started_at.as_deref().map(crate::diag::printable).unwrap_or_default();
        out.push_str(&format!(
            "  {:<24} {:<24} {:>9}  {:<11} {:>7} {:>9} {:>6} {:>7} {:>6}\n",
            crate::diag::printable(&r.name),
            started,
            format!("{:.1}s", r.s.elapsed_secs),
            crate::diag::printable(r.outcome()),
            total,
            count("succeeded"),
            count("failed"),
            count("skipped"),
            other
        ));
    }
    out
}

pub fn clean(args: &CleanArgs) -> Result<u8> {
    for state in states(args.target.as_deref())? {
        // Held while cleaning: no run starts (and moves a state into the history) meanwhile.
        let _lock = Lock::acquire(&state).map_err(Error::State)?;
        let (removed, bytes) = history::prune(&state, args.keep).map_err(Error::State)?;
        let kept = history::list(&state).len();
        eprintln!(
            "{}: removed {} past run{} ({:.1} MiB), kept {kept}",
            crate::diag::printable(&state.display().to_string()),
            removed.len(),
            if removed.len() == 1 { "" } else { "s" },
            bytes as f64 / (1 << 20) as f64
        );
    }
    Ok(code::OK)
}
