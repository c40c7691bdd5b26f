//! `dagrun status STATE`: counts by status, failed tasks with their logs, time spent, and
//! whether a run holds the state now.

use super::args::{ReportFormat, StatusArgs};
use super::graph::write_stdout;
use crate::error::{Error, Result, code};
use crate::model::Status;
use crate::state::store;
use std::collections::BTreeMap;

pub fn run(args: &StatusArgs) -> Result<u8> {
    if let Some(e) = super::workflow_given_for_state(&args.state) {
        return Err(e);
    }
    let state = store::load(&args.state).map_err(Error::State)?;
    let holder = store::holder(&args.state);
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    for s in ["pending", "running", "succeeded", "failed", "skipped", "interrupted"] {
        counts.insert(s, 0);
    }
    for r in state.tasks.values() {
        // A task recorded running with no dagrun holding the state was cut off.
        let s = if r.status == Status::Running && holder.is_none() { Status::Interrupted } else { r.status };
        *counts.entry(s.as_str()).or_default() += 1;
    }
    let up_to_date = state.tasks.values().filter(|r| r.up_to_date && r.status == Status::Succeeded).count();
    let dir = args.state.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(std::path::Path::new("."));
    let failed: Vec<serde_json::Value> = state
        .tasks
        .iter()
        .filter(|(_, r)| r.status == Status::Failed)
        .map(|(id, r)| {
            serde_json::json!({
                "id": id,
                "exit_code": r.exit_code,
                "reason": r.reason,
                "log": r.log.as_ref().map(|l| dir.join(l).display().to_string()),
            })
        })
        .collect();
    let slowest = slowest(&state, 5);
    let now = std::time::SystemTime::now();
    let running: Vec<(&str, f64, Option<&str>)> = state
        .tasks
        .iter()
        .filter(|(_, r)| r.status == Status::Running && holder.is_some())
        .map(|(id, r)| {
            let since = r.started_at.as_deref().and_then(|t| humantime::parse_rfc3339(t).ok());
            let secs = since.and_then(|t| now.duration_since(t).ok()).map_or(0.0, |d| d.as_secs_f64());
            (id.as_str(), secs, r.host.as_deref())
        })
        .collect();
    let out = match args.format {
        ReportFormat::Json => {
            let doc = serde_json::json!({
                "workflow": state.workflow.name,
                "path": state.workflow.path,
                "total": state.tasks.len(),
                "counts": counts,
                "up_to_date": up_to_date,
                "failed": failed,
                "running": holder.is_some(),
                "pid": holder,
                "runs": state.run.runs,
                "started_at": state.run.started_at,
                "finished_at": state.run.finished_at,
                "elapsed_secs": running_secs(&state),
                "outcome": state.run.outcome,
                "slowest": slowest.iter().map(|(id, ms)| serde_json::json!({"id": id, "duration_ms": ms})).collect::<Vec<_>>(),
                "running_tasks": running
                    .iter()
                    .map(|(id, secs, host)| serde_json::json!({"id": id, "elapsed_secs": secs, "host": host}))
                    .collect::<Vec<_>>(),
            });
            let mut s = serde_json::to_string_pretty(&doc).map_err(anyhow::Error::from)?;
            s.push('\n');
            s
        }
        ReportFormat::Text => {
            let mut s = format!("workflow {} ({})\n", state.workflow.name, state.workflow.path);
            match holder {
                Some(pid) => s.push_str(&format!("in progress: dagrun process {pid} is running it\n")),
                None => s.push_str(&format!(
                    "last run: {}\n",
                    state.run.outcome.as_deref().unwrap_or("did not finish (dagrun was stopped)")
                )),
            }
            let parts: Vec<String> = counts
                .iter()
                .filter(|(_, n)| **n > 0)
                .map(|(k, n)| match (*k, up_to_date) {
                    ("succeeded", u) if u > 0 => format!("{n} {k} ({u} of them up to date, not run)"),
                    _ => format!("{n} {k}"),
                })
                .collect();
            s.push_str(&format!("tasks: {} in all: {}\n", state.tasks.len(), parts.join(", ")));
            s.push_str(&format!(
                "time spent running: {} over {} run(s)\n",
                crate::report::fmt_duration(std::time::Duration::from_secs_f64(running_secs(&state))),
                state.run.runs
            ));
            if !running.is_empty() {
                s.push_str("running now:\n");
                for (id, secs, host) in &running {
                    let on = host.map(|h| format!(" on {h}")).unwrap_or_default();
                    let d = crate::report::fmt_duration(std::time::Duration::from_secs_f64(*secs));
                    s.push_str(&format!("  {id}{on}, for {d}\n"));
                }
            }
            if !slowest.is_empty() {
                s.push_str("slowest tasks:\n");
                for (id, ms) in &slowest {
                    let d = crate::report::fmt_duration(std::time::Duration::from_millis(*ms));
                    s.push_str(&format!("  {d:>8}  {id}\n"));
                }
            }
            if !failed.is_empty() {
                s.push_str("failed tasks:\n");
                for f in &failed {
                    s.push_str(&format!(
                        "  {}: {}{}\n",
                        f["id"].as_str().unwrap_or_default(),
                        f["reason"].as_str().unwrap_or("failed"),
                        f["log"]
                            .as_str()
                            .map(|l| format!(" (log: {})", crate::report::shell_word(l)))
                            .unwrap_or_default()
                    ));
                }
            }
            s
        }
    };
    // Every text here comes from the state file, which anyone may have written: no control
    // character of it reaches the terminal.
    write_stdout(crate::diag::printable(&out).as_bytes())?;
    Ok(code::OK)
}

/// The `n` tasks whose last attempt took longest, longest first (ties in state order).
fn slowest(state: &crate::state::model::StateFile, n: usize) -> Vec<(&str, u64)> {
    let mut timed: Vec<(&str, u64)> =
        state.tasks.iter().filter_map(|(id, r)| Some((id.as_str(), r.duration_ms?))).collect();
    timed.sort_by_key(|t| std::cmp::Reverse(t.1));
    timed.truncate(n);
    timed
}

/// Seconds spent running over all runs. A run that did not finish (killed) never added its own
/// time: it is counted from its start to the last moment one of its tasks is recorded at.
fn running_secs(state: &crate::state::model::StateFile) -> f64 {
    let recorded = state.run.elapsed_secs.max(0.0);
    if state.run.finished_at.is_some() {
        return recorded;
    }
    let parse = |t: &str| humantime::parse_rfc3339(t).ok();
    let Some(start) = state.run.started_at.as_deref().and_then(parse) else { return recorded };
    let last = state
        .tasks
        .values()
        .flat_map(|r| [r.started_at.as_deref(), r.finished_at.as_deref()])
        .flatten()
        .filter_map(parse)
        .max();
    match last.and_then(|l| l.duration_since(start).ok()) {
        Some(d) => recorded + d.as_secs_f64(),
        None => recorded,
    }
}
