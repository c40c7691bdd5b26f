//! What `run` and `resume` share about declared files: the fingerprints beside a state, and
//! the `--dry-run` lines that say why each task runs or does not.

use super::args::ReportFormat;
use crate::error::{Error, Result};
use crate::files::{Checker, Why, store};
use crate::plan::Plan;
use std::path::Path;

/// The fingerprints earlier runs left beside the state at `state` (none yet: empty), and a
/// writer for this run's.
pub fn open(state: &Path) -> Result<(Checker, store::Writer)> {
    let path = store::path_for(state);
    let (known, lines) = store::load(&path).map_err(Error::State)?;
    let writer = store::Writer::new(&path, &known, lines).map_err(Error::State)?;
    Ok((Checker::new(known), writer))
}

/// `open`, or for a run that runs nothing (`dry_run`) the fingerprints alone.
pub fn open_for(state: &Path, dry_run: bool) -> Result<(Checker, Option<store::Writer>)> {
    if dry_run {
        return Ok((checker(state)?, None));
    }
    let (c, w) = open(state)?;
    Ok((c, Some(w)))
}

/// Only the fingerprints, for a run that runs nothing (`--dry-run`).
pub fn checker(state: &Path) -> Result<Checker> {
    let (known, _) = store::load(&store::path_for(state)).map_err(Error::State)?;
    Ok(Checker::new(known))
}

/// `--dry-run`: the tasks that would run, in order, with their commands, then one line per
/// task saying why it runs or does not (`--format json`: the same as one JSON array).
pub fn print_dry_run(
    plan: &Plan,
    selected: &[bool],
    whys: &[Option<Why>],
    format: ReportFormat,
) -> Result<()> {
    let mut out = String::new();
    match format {
        ReportFormat::Json => {
            let rows: Vec<serde_json::Value> = plan
                .order
                .iter()
                .filter_map(|&i| Some((i, whys[i as usize].as_ref()?)))
                .map(|(i, w)| {
                    let t = plan.task(i);
                    let mut row = serde_json::json!({
                        "task": t.id,
                        "runs": w.runs(),
                        "reason": w.kind(),
                        "message": w.to_string(),
                        "cmd": t.cmd.display(),
                    });
                    if let Some(s) = w.subject() {
                        row["subject"] = s.into();
                    }
                    row
                })
                .collect();
            out = serde_json::to_string_pretty(&rows).map_err(anyhow::Error::from)?;
            out.push('\n');
        }
        ReportFormat::Text => {
            let todo: Vec<u32> = plan
                .order
                .iter()
                .copied()
                .filter(|&i| selected[i as usize] && whys[i as usize].as_ref().is_some_and(Why::runs))
                .collect();
            let s = if todo.len() == 1 { "" } else { "s" };
            out.push_str(&format!("would run {} task{s}, in this order:\n", todo.len()));
            for (n, &i) in todo.iter().enumerate() {
                let t = plan.task(i);
                let mut line = format!("{:>5}. {}", n + 1, t.id);
                if &*t.executor != "local" {
                    line.push_str(&format!(" [{}]", t.executor));
                }
                line.push_str(": ");
                line.push_str(&crate::diag::printable(&t.cmd.display().replace('\n', "\\n")));
                out.push_str(&line);
                out.push('\n');
            }
            out.push_str("why:\n");
            for &i in &plan.order {
                if let Some(w) = &whys[i as usize] {
                    out.push_str(&format!("  {}: {w}\n", plan.task(i).id));
                }
            }
        }
    }
    super::graph::write_stdout(out.as_bytes())
}
