//! The trace: one JSON line per finished attempt, appended to `<state file>.trace` beside the
//! state (`state.json.trace`) as each attempt ends, in one `write(2)`, so that a run killed at
//! any moment leaves complete lines up to its last finished attempt. `run` starts a new trace
//! (the replaced run's goes into the history with its state); `resume` appends to it.
//!
//! A line: `task`, `attempt`, `host` (remote executors), `job` (Slurm), `queued_at` (when the
//! task was ready to start), `started_at`, `ended_at`, `duration_ms`, `status` (`succeeded`,
//! `failed`, `retried`, `interrupted`), how it ended: `exit_code`, or `signal`, or `reason`;
//! and for a local attempt that ended on its own what its processes used, as the kernel counted
//! it when the main process exited: `max_rss_kib` (the largest process's peak), `user_ms`,
//! `sys_ms` (with the children it waited for).

use crate::exec::AttemptEnd;
use crate::plan::Plan;
use crate::scheduler::event::{Event, EventSink};
use anyhow::Result;
use std::collections::HashMap;
use std::io::Write;
use std::path::Path;
use std::time::SystemTime;

struct Running {
    queued: SystemTime,
    started: SystemTime,
    host: Option<String>,
    job: Option<String>,
    usage: Option<crate::exec::Usage>,
}

pub struct Trace {
    /// None once the trace could not be opened or written (said once): nothing relies on it,
    /// so the run goes on without.
    file: Option<std::fs::File>,
    running: HashMap<u32, Running>,
}

impl Trace {
    /// Opens the trace of the state at `state`: emptied for a new run, appended to otherwise.
    pub fn open(state: &Path, fresh: bool) -> Trace {
        let path = super::store::trace_path(state);
        let mut opts = std::fs::OpenOptions::new();
        opts.create(true);
        if fresh {
            opts.write(true).truncate(true);
        } else {
            opts.append(true);
        }
        let file = crate::exec::no_follow(&mut opts, &path)
            .map_err(|e| {
                eprintln!(
                    "warning: cannot open the trace `{}`: {e}; the run goes on without it",
                    path.display()
                )
            })
            .ok();
        Trace { file, running: HashMap::new() }
    }

    fn line(&mut self, plan: &Plan, task: u32, attempt: u32, status: &str, end: &AttemptEnd) -> Result<()> {
        let Some(r) = self.running.remove(&task) else { return Ok(()) };
        let Some(file) = &mut self.file else { return Ok(()) };
        let ended = SystemTime::now();
        let ts = crate::state::model::timestamp;
        let mut doc = serde_json::json!({
            "task": plan.task(task).id,
            "attempt": attempt,
            "queued_at": ts(r.queued),
            "started_at": ts(r.started),
            "ended_at": ts(ended),
            "duration_ms": ended.duration_since(r.started).map_or(0, |d| d.as_millis() as u64),
            "status": status,
        });
        let m = doc.as_object_mut().expect("an object");
        if let Some(h) = r.host {
            m.insert("host".into(), h.into());
        }
        if let Some(j) = r.job {
            m.insert("job".into(), j.into());
        }
        if let Some(u) = r.usage {
            m.insert("max_rss_kib".into(), u.max_rss_kib.into());
            m.insert("user_ms".into(), u.user_ms.into());
            m.insert("sys_ms".into(), u.sys_ms.into());
        }
        match end {
            AttemptEnd::Exited(c) => m.insert("exit_code".into(), (*c).into()),
            AttemptEnd::Signaled(s) => m.insert("signal".into(), (*s).into()),
            other => m.insert("reason".into(), other.describe().into()),
        };
        let mut text = serde_json::to_vec(&doc)?;
        text.push(b'\n');
        // One write per line: after a crash the trace ends with a whole line.
        if let Err(e) = file.write_all(&text) {
            eprintln!("warning: cannot write the trace: {e}; the run goes on without it");
            self.file = None;
        }
        Ok(())
    }
}

impl EventSink for Trace {
    fn event(&mut self, plan: &Plan, e: &Event) -> Result<()> {
        if self.file.is_none() {
            return Ok(());
        }
        match e {
            Event::Started { task, host, at, queued, .. } => {
                self.running.insert(
                    *task,
                    Running { queued: *queued, started: *at, host: host.clone(), job: None, usage: None },
                );
            }
            Event::Used { task, usage, .. } => {
                if let Some(r) = self.running.get_mut(task) {
                    r.usage = Some(*usage);
                }
            }
            Event::Submitted { task, job, .. } => {
                if let Some(r) = self.running.get_mut(task) {
                    r.job = Some(job.clone());
                }
            }
            Event::Retrying { task, attempt, end, .. } => self.line(plan, *task, *attempt, "retried", end)?,
            Event::Finished { task, status, attempt, end: Some(end), .. } => {
                self.line(plan, *task, *attempt, status.as_str(), end)?
            }
            _ => {}
        }
        Ok(())
    }
}
