//! The terminal display: one overall bar (done/total, running, failed, elapsed, ETA) and a line
//! per running task with its elapsed time, at most `LINES` of them and then "+N more".
//!
//! Task lines are redrawn by a ticker thread a few times a second from a shared view, so the
//! scheduler's events only update a map, and thousands of short tasks cost no redraws.

use crate::model::Status;
use crate::plan::Plan;
use crate::scheduler::event::Event;
use indexmap::IndexMap;
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const LINES: usize = 8;

#[derive(Default)]
struct View {
    /// Running tasks in start order: label, start time, and whether it is being stopped.
    running: IndexMap<u32, (String, Instant, bool)>,
    failed: u64,
    /// The run is stopping: what the bar says instead of the running count.
    stopping: Option<String>,
}

pub struct Bars {
    multi: MultiProgress,
    overall: ProgressBar,
    view: Arc<Mutex<View>>,
    stop: Arc<AtomicBool>,
    ticker: Option<std::thread::JoinHandle<Vec<ProgressBar>>>,
}

impl Bars {
    pub fn new(total: u64, done: u64) -> Bars {
        let multi = MultiProgress::with_draw_target(ProgressDrawTarget::stderr_with_hz(10));
        let style = ProgressStyle::with_template(
            "{spinner:.green} [{elapsed_precise}] {bar:30.cyan/blue} {pos}/{len} {msg} ETA {eta}",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> ");
        let overall = multi.add(ProgressBar::new(total).with_style(style).with_position(done));
        overall.enable_steady_tick(Duration::from_millis(200));
        let view = Arc::new(Mutex::new(View::default()));
        let stop = Arc::new(AtomicBool::new(false));
        let ticker = {
            let (multi, overall, view, stop) = (multi.clone(), overall.clone(), view.clone(), stop.clone());
            // Without a thread (a process limit) the task lines are not redrawn; the bar still is.
            std::thread::Builder::new()
                .name("bars".into())
                .spawn(move || tick(multi, overall, view, stop))
                .ok()
        };
        Bars { multi, overall, view, stop, ticker }
    }

    /// Where task output goes: above the bars.
    pub fn printer(&self) -> super::output::Printer {
        super::output::Printer::Bars(self.multi.clone())
    }

    pub fn event(&mut self, plan: &Plan, e: &Event) {
        let Ok(mut v) = self.view.lock() else { return };
        match e {
            Event::Started { task, host, .. } => {
                let mut label = plan.task(*task).id.clone();
                if let Some(h) = host {
                    label.push_str(&format!(" @{h}"));
                }
                v.running.insert(*task, (label, Instant::now(), false));
            }
            Event::Submitted { task, job, .. } => {
                if let Some((label, _, _)) = v.running.get_mut(task) {
                    label.push_str(&format!(" (job {job})"));
                }
            }
            Event::Retrying { task, .. } => {
                v.running.shift_remove(task);
            }
            Event::TasksAdded { added, .. } => self.overall.inc_length(added.len() as u64),
            Event::UpToDate { .. } => self.overall.inc(1),
            Event::Finished { task, status, .. } => {
                v.running.shift_remove(task);
                if *status == Status::Failed {
                    v.failed += 1;
                }
                // A stopped task is not done: resume runs it.
                if *status != Status::Interrupted {
                    self.overall.inc(1);
                }
            }
            Event::Stopping { signal, .. } => {
                for (_, _, stopping) in v.running.values_mut() {
                    *stopping = true;
                }
                v.stopping = Some(match signal {
                    Some(_) => "stopping (Ctrl-C again kills at once)".to_owned(),
                    None => "stopping after the failure (--fail-fast)".to_owned(),
                });
            }
            _ => {}
        }
    }

    /// Clears every line the display drew (the bar and all task lines, however many are on
    /// the screen), and draws nothing after: what is printed next starts where the bar was.
    pub fn finish(mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let lines = self.ticker.take().and_then(|t| t.join().ok()).unwrap_or_default();
        let _ = self.multi.clear();
        self.multi.set_draw_target(ProgressDrawTarget::hidden());
        for l in lines {
            l.finish_and_clear();
        }
        self.overall.finish_and_clear();
    }
}

/// Redraws the task lines until told to stop; returns them, still drawn.
fn tick(
    multi: MultiProgress,
    overall: ProgressBar,
    view: Arc<Mutex<View>>,
    stop: Arc<AtomicBool>,
) -> Vec<ProgressBar> {
    let line_style = ProgressStyle::with_template("  {msg}").unwrap_or_else(|_| ProgressStyle::default_bar());
    let mut lines: Vec<ProgressBar> = Vec::new();
    while !stop.load(Ordering::SeqCst) {
        let texts: Vec<String> = {
            let Ok(v) = view.lock() else { return lines };
            let mut t: Vec<String> = v
                .running
                .values()
                .take(LINES)
                .map(|(label, at, stopping)| {
                    let state = if *stopping { " stopping" } else { "" };
                    format!("{label}{state} {}", super::fmt_duration(at.elapsed()))
                })
                .collect();
            if v.running.len() > LINES {
                t.push(format!("+{} more", v.running.len() - LINES));
            }
            let mut msg = match &v.stopping {
                Some(s) => format!("{} {s}", v.running.len()),
                None => format!("{} running", v.running.len()),
            };
            if v.failed > 0 {
                msg.push_str(&format!(", {} failed", v.failed));
            }
            overall.set_message(msg);
            t
        };
        while lines.len() < texts.len() {
            lines.push(multi.add(ProgressBar::new_spinner().with_style(line_style.clone())));
        }
        while lines.len() > texts.len() {
            if let Some(l) = lines.pop() {
                l.finish_and_clear();
                multi.remove(&l);
            }
        }
        for (l, t) in lines.iter().zip(texts) {
            l.set_message(t);
        }
        std::thread::sleep(Duration::from_millis(250));
    }
    lines
}
