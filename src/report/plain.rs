//! One line per task event, no escape codes: for logs, CI and pipes. Failures are printed by
//! the reporter itself (with their log tail), so they are not repeated here.

use super::fmt_duration;
use crate::model::{SkipReason, Status};
use crate::plan::Plan;
use crate::scheduler::event::Event;

pub fn line(plan: &Plan, e: &Event) -> Option<String> {
    Some(match e {
        Event::RunStarted { total, done } if *done > 0 => {
            format!("running {} of {total} task{} ({done} already done)", total - done, plural(*total))
        }
        Event::RunStarted { total, .. } => format!("running {total} task{}", plural(*total)),
        Event::Started { task, attempt, host, .. } => {
            let mut s = format!("start    {}", plan.task(*task).id);
            if *attempt > 1 {
                s.push_str(&format!(" (attempt {attempt})"));
            }
            if let Some(h) = host {
                s.push_str(&format!(" on {h}"));
            }
            s
        }
        Event::Retrying { task, attempt, end, delay } => format!(
            "retry    {}: attempt {attempt} {}; trying again in {}",
            plan.task(*task).id,
            end.describe(),
            fmt_duration(*delay)
        ),
        Event::Finished { task, status, elapsed, skip, .. } => {
            let id = &plan.task(*task).id;
            match status {
                Status::Succeeded => format!("ok       {id} in {}", fmt_duration(*elapsed)),
                Status::Failed => return None,
                Status::Skipped => match skip {
                    Some(SkipReason::ConditionNotMet) => {
                        format!("skipped  {id}: its `when` condition did not hold")
                    }
                    _ => format!("skipped  {id}: a dependency failed"),
                },
                Status::Interrupted => format!("stopped  {id}"),
                Status::Pending | Status::Running => return None,
            }
        }
        Event::Submitted { task, job, .. } => format!("job      {}: slurm job {job}", plan.task(*task).id),
        Event::TasksAdded { generator, added, .. } => {
            let n = added.len();
            format!("added    {n} task{} from {}", if n == 1 { "" } else { "s" }, plan.task(*generator).id)
        }
        Event::Stopping { running: 0, .. } => return None,
        Event::Stopping { signal, running } => {
            let n = *running;
            let tasks = format!("{n} running task{}", plural(n));
            match signal {
                Some(_) => format!("stopping {tasks} (Ctrl-C again kills at once)"),
                None => format!("stopping {tasks} after the failure (--fail-fast)"),
            }
        }
        Event::UpToDate { task, .. } => format!("ok       {}: up to date", plan.task(*task).id),
        // Printed by the reporter in every mode.
        Event::RunFinished(_) | Event::HostDown { .. } | Event::Explain { .. } | Event::Used { .. } => {
            return None;
        }
    })
}

fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}
