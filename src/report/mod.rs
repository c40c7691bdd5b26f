//! The only code that writes to the terminal during a run: a reporter consumes scheduler events
//! and shows them as bars (`bar`), one line per event (`plain`), or not at all, then prints
//! the final summary.

mod bar;
pub mod output;
mod plain;

pub use output::Output;

use crate::exec::AttemptEnd;
use crate::model::Status;
use crate::plan::Plan;
use crate::scheduler::event::{Event, EventSink, Outcome};
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Bar,
    Plain,
    None,
}

impl Mode {
    /// `auto`: bars on a terminal, plain lines otherwise.
    pub fn auto() -> Mode {
        let dumb = std::env::var("TERM").is_ok_and(|t| t == "dumb");
        if std::io::stderr().is_terminal() && !dumb { Mode::Bar } else { Mode::Plain }
    }
}

/// `s` as one word a user can paste into bash or zsh: quoted where a character would be read
/// as shell syntax (`[` is a glob in zsh, a space splits), and with control characters escaped
/// so that printing it cannot drive the terminal.
pub fn shell_word(s: &str) -> String {
    let quoted = shlex::try_quote(s).map_or_else(|_| s.into(), |q| q.into_owned());
    crate::diag::printable(&quoted).into_owned()
}

/// Whether colour is allowed (`NO_COLOR` set to anything non-empty forbids it).
pub fn color_allowed() -> bool {
    std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
}

/// A failed task, remembered for the summary.
struct Failure {
    id: String,
    why: String,
    log: Option<PathBuf>,
}

pub struct Reporter {
    mode: Mode,
    output: Output,
    /// CI group markers around `grouped` output (`::group::`), failed groups left open.
    markers: bool,
    tailer: Option<output::Tailer>,
    bar: Option<bar::Bars>,
    failures: Vec<Failure>,
    /// Paths are shown relative to here when they are inside it.
    cwd: PathBuf,
}

impl Reporter {
    pub fn new(mode: Mode) -> Reporter {
        if !color_allowed() {
            console::set_colors_enabled_stderr(false);
        } else if std::env::var_os("NO_COLOR").is_some() {
            // Set but empty, which no-color.org says does not disable colour; the terminal
            // library takes any NO_COLOR for a no, so decide as it would without it.
            let dumb = std::env::var("TERM").is_ok_and(|t| t == "dumb");
            let clicolor_off = std::env::var("CLICOLOR").is_ok_and(|v| v == "0");
            let on = std::io::stderr().is_terminal() && !dumb && !clicolor_off;
            // The bar's styles ask about stdout's colours, the rest about stderr's.
            console::set_colors_enabled_stderr(on);
            console::set_colors_enabled(on);
        }
        Reporter {
            mode,
            output: Output::Failed,
            markers: false,
            tailer: None,
            bar: None,
            failures: Vec::new(),
            cwd: std::env::current_dir().unwrap_or_default(),
        }
    }

    /// What of the tasks' output to show (`--output`), and whether `grouped` output gets CI
    /// group markers.
    pub fn with_output(mut self, output: Output, markers: bool) -> Reporter {
        self.output = output;
        self.markers = markers;
        self
    }

    fn printer(&self) -> output::Printer {
        self.bar.as_ref().map_or(output::Printer::Stderr, bar::Bars::printer)
    }

    /// `grouped`: task `id`'s output whole, under a header (in CI markers; a failed one open).
    fn group(&self, id: &str, failed: bool, log: &Path) {
        let Some(text) = output::whole(log).filter(|t| !t.is_empty()) else { return };
        let id = crate::diag::printable(id);
        let block = if self.markers && !failed {
            format!("::group::{id}\n{text}::endgroup::\n")
        } else {
            format!("==> {id} <==\n{text}")
        };
        self.printer().print(&block);
    }

    fn show_path(&self, p: &Path) -> String {
        shell_word(&p.strip_prefix(&self.cwd).unwrap_or(p).display().to_string())
    }

    /// A failure as printed when it happens: the reason, the log path and, with `--output
    /// failed`, the output under it.
    fn failure_block(&self, id: &str, why: &str, log: Option<&Path>) -> String {
        // A reason of several lines (a refused generator output) stays under its task.
        let why = crate::diag::printable(why);
        let mut s = format!("failed   {id}: {}", why.replace('\n', "\n           "));
        if let Some(log) = log {
            s.push_str(&format!("\n         log: {}", self.show_path(log)));
            if self.output == Output::Failed {
                for line in output::whole(log).unwrap_or_default().lines() {
                    s.push_str("\n         | ");
                    s.push_str(line);
                }
            }
        }
        s
    }

    fn print(&mut self, text: &str) {
        match &mut self.tailer {
            Some(t) => t.text(text),
            None => self.printer().print(&format!("{text}\n")),
        }
    }

    /// The end-of-run summary, with the command that continues the run when anything is left.
    pub fn summary(&mut self, o: &Outcome, resume: Option<&str>) {
        if let Some(t) = self.tailer.take() {
            t.finish();
        }
        if let Some(b) = self.bar.take() {
            b.finish();
        }
        let mut s = String::new();
        let mut parts = vec![format!("{} succeeded", o.succeeded)];
        for (n, what) in [
            (o.failed.len(), "failed"),
            (o.skipped, "skipped"),
            (o.interrupted, "interrupted"),
            (o.pending, "not started"),
            (o.not_needed, "not needed"),
            (o.up_to_date, "up to date"),
            (o.already_done, "already done"),
        ] {
            if n > 0 {
                parts.push(format!("{n} {what}"));
            }
        }
        let verdict = o.verdict().as_str();
        s.push_str(&format!("run {verdict} in {}: {}\n", fmt_duration(o.elapsed), parts.join(", ")));
        if !self.failures.is_empty() {
            s.push_str("failed tasks:\n");
            for f in &self.failures {
                let why = crate::diag::printable(&f.why);
                s.push_str(&format!("  {}: {}", f.id, why.replace('\n', "\n    ")));
                if let Some(l) = &f.log {
                    s.push_str(&format!(" (log: {})", self.show_path(l)));
                }
                s.push('\n');
            }
            // The first failure again, last: what a scrolled-away terminal still shows.
            let first = &self.failures[0];
            s.push_str(&format!("first failure: {}: {}\n", first.id, crate::diag::printable(&first.why)));
            for line in first.log.as_deref().map(|l| tail(l, 5)).unwrap_or_default() {
                s.push_str(&format!("  | {line}\n"));
            }
        }
        if let Some(cmd) = resume.filter(|_| !o.complete()) {
            s.push_str(&format!("to continue: {cmd}\n"));
        }
        let mut err = std::io::stderr().lock();
        let _ = err.write_all(s.as_bytes());
    }
}

impl EventSink for Reporter {
    fn event(&mut self, plan: &Plan, e: &Event) -> anyhow::Result<()> {
        if let (Mode::Bar, Event::RunStarted { total, done }) = (self.mode, e) {
            self.bar = Some(bar::Bars::new(*total as u64, *done as u64));
        }
        self.show_output(plan, e);
        if let Event::Explain { task, why } = e {
            self.print(&format!("why      {}: {why}", plan.task(*task).id));
        }
        if let Event::HostDown { executor, host, reason } = e {
            let reason = crate::diag::printable(reason);
            self.print(&format!("host down: `{host}` of executor `{executor}`: {reason}"));
        }
        if let Event::Finished { task, status: Status::Failed, end, log, .. } = e {
            let why = end.as_ref().map_or_else(|| "failed".to_owned(), AttemptEnd::describe);
            // An attempt that could not start (a missing workdir) may have no log at all, or
            // something that is not its log (a link dagrun refused to write through).
            let log = log.as_ref().filter(|l| std::fs::symlink_metadata(l).is_ok_and(|m| m.is_file()));
            let id = plan.task(*task).id.clone();
            let block = self.failure_block(&id, &why, log.map(PathBuf::as_path));
            if self.mode != Mode::None {
                self.print(&block);
            }
            self.failures.push(Failure { id, why, log: log.cloned() });
        }
        match self.mode {
            Mode::Bar => {
                if let Some(b) = &mut self.bar {
                    b.event(plan, e);
                }
            }
            Mode::Plain => {
                if let Some(line) = plain::line(plan, e) {
                    self.print(&line);
                }
            }
            Mode::None => {}
        }
        Ok(())
    }
}

impl Reporter {
    /// `--output prefixed` and `grouped`: task output as tasks start and end.
    fn show_output(&mut self, plan: &Plan, e: &Event) {
        match (self.output, e) {
            (Output::Prefixed, Event::RunStarted { .. }) => {
                self.tailer = Some(output::Tailer::new(self.printer()))
            }
            (Output::Prefixed, Event::Started { task, log, .. }) => {
                if let Some(t) = &mut self.tailer {
                    t.follow(*task, &plan.task(*task).id, log);
                }
            }
            (Output::Prefixed, Event::Retrying { task, .. } | Event::Finished { task, .. }) => {
                if let Some(t) = &mut self.tailer {
                    t.ended(*task);
                }
            }
            (Output::Grouped, Event::Finished { task, status, log: Some(log), .. })
                if matches!(status, Status::Succeeded | Status::Failed | Status::Interrupted) =>
            {
                self.group(&plan.task(*task).id, *status != Status::Succeeded, log);
            }
            _ => {}
        }
    }
}

pub fn fmt_duration(d: Duration) -> String {
    let s = d.as_secs_f64();
    if s < 60.0 {
        format!("{s:.2}s")
    } else if s < 3600.0 {
        format!("{}m{:02}s", d.as_secs() / 60, d.as_secs() % 60)
    } else {
        format!("{}h{:02}m", d.as_secs() / 3600, (d.as_secs() % 3600) / 60)
    }
}

/// The last `n` lines of a log, reading at most its last 8 KiB. A line cut by that window (or
/// longer than 300 characters) is shown by its end, after `…`: output that is one long line
/// with no newline still has a tail to show.
pub fn tail(path: &Path, n: usize) -> Vec<String> {
    const WIDTH: usize = 300;
    let Some((from, buf)) = output::read_end(path, 8192) else { return Vec::new() };
    let text = String::from_utf8_lossy(&buf);
    let mut lines: Vec<(bool, &str)> = text.lines().map(|l| (false, l)).collect();
    // The first line is cut by the window: dropped, unless it is all there is.
    if from > 0 && !lines.is_empty() {
        if lines.len() == 1 {
            lines[0].0 = true;
        } else {
            lines.remove(0);
        }
    }
    let start = lines.len().saturating_sub(n);
    lines[start..]
        .iter()
        .map(|&(cut, l)| {
            let chars: Vec<char> = l.chars().filter(|c| !c.is_control() || *c == '\t').collect();
            if cut || chars.len() > WIDTH {
                let mut s = String::from("…");
                s.extend(&chars[chars.len().saturating_sub(WIDTH - 1)..]);
                s
            } else {
                chars.into_iter().collect()
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_log_of_one_long_line_without_newline_still_has_a_tail() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("t.1.log");
        let mut text = "x".repeat(1 << 20);
        text.push_str("THE END");
        std::fs::write(&log, &text).unwrap();
        let t = tail(&log, 5);
        assert_eq!(t.len(), 1, "{t:?}");
        assert!(t[0].starts_with('…') && t[0].ends_with("THE END") && t[0].chars().count() == 300, "{t:?}");
        std::fs::write(&log, "one\ntwo\n").unwrap();
        assert_eq!(tail(&log, 5), ["one", "two"]);
    }
}
