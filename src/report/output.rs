//! Task output on the terminal (`--output`), read back from the attempt logs the tasks write
//! to directly: dagrun copies nothing while a task runs unless asked to show its lines.
//!
//! `prefixed` follows the running tasks' logs from a thread that looks a few times a second
//! and prints every complete line as `[task-id] line`, a batch at a time, so lines are never
//! split or mixed mid-line and each task's lines keep their order; a task's last line without
//! a newline is printed when the task ends. `grouped` prints a task's output whole when it
//! ends, `failed` only a failed task's (under its failure), `none` nothing. Everything read is
//! shown with control characters escaped.

use indicatif::MultiProgress;
use std::collections::HashMap;
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Output {
    Prefixed,
    Grouped,
    Failed,
    None,
}

/// The most of one log `grouped` and `failed` print: beyond it, the end of the log.
pub const MAX_SHOWN: u64 = 1 << 20;

/// Where shown text goes: above the bars, or straight to stderr.
#[derive(Clone)]
pub enum Printer {
    Bars(MultiProgress),
    Stderr,
}

impl Printer {
    /// Prints `text` (lines, each ending in a newline) in one piece.
    pub fn print(&self, text: &str) {
        if text.is_empty() {
            return;
        }
        match self {
            Printer::Bars(m) => {
                let _ = m.println(text.strip_suffix('\n').unwrap_or(text));
            }
            Printer::Stderr => {
                let _ = std::io::stderr().lock().write_all(text.as_bytes());
            }
        }
    }
}

/// Whether UTF-8 `bytes` hold a control character other than newline and tab (C0, DEL, or C1,
/// which UTF-8 writes as 0xC2 0x80..0x9F): the check `printable` makes, a byte at a time.
fn needs_escape(bytes: &[u8]) -> bool {
    bytes.iter().enumerate().any(|(i, &b)| {
        (b < 0x20 && b != b'\n' && b != b'\t')
            || b == 0x7f
            || (b == 0xc2 && bytes.get(i + 1).is_some_and(|n| (0x80..=0x9f).contains(n)))
    })
}

/// The last `max` bytes of the regular file at `path` (a link is not followed), and the offset
/// they start at; `None` when it cannot be read.
pub fn read_end(path: &Path, max: u64) -> Option<(u64, Vec<u8>)> {
    let mut f = crate::exec::no_follow(std::fs::OpenOptions::new().read(true), path).ok()?;
    let meta = f.metadata().ok()?;
    if !meta.is_file() {
        return None;
    }
    let from = meta.len().saturating_sub(max);
    f.seek(SeekFrom::Start(from)).ok()?;
    let mut bytes = Vec::new();
    f.take(max).read_to_end(&mut bytes).ok()?;
    Some((from, bytes))
}

/// What the file at `path` holds from `offset` on, at most `max` bytes; empty when it cannot
/// be read.
pub fn read_from(path: &Path, offset: u64, max: u64) -> Vec<u8> {
    let mut more = Vec::new();
    if let Ok(mut f) = std::fs::File::open(path) {
        if f.seek(SeekFrom::Start(offset)).is_ok() {
            let _ = f.take(max).read_to_end(&mut more);
        }
    }
    more
}

/// A log's text as shown: lossy UTF-8, control characters escaped, ending in a newline.
pub fn shown(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(bytes);
    let mut s = crate::diag::printable(&text).into_owned();
    if !s.is_empty() && !s.ends_with('\n') {
        s.push('\n');
    }
    s
}

/// The whole of the log at `path` to show, or its last `MAX_SHOWN` bytes after a line that
/// says so; `None` when it cannot be read.
pub fn whole(path: &Path) -> Option<String> {
    let (from, bytes) = read_end(path, MAX_SHOWN)?;
    let mut s = String::new();
    if from > 0 {
        s.push_str(&format!("… ({from} bytes before this are only in the log)\n"));
    }
    s.push_str(&shown(&bytes));
    Some(s)
}

struct Tail {
    prefix: String,
    path: PathBuf,
    offset: u64,
    partial: Vec<u8>,
}

impl Tail {
    /// Appends to `out` what the log gained, as complete prefixed lines; `last`: the task ended,
    /// so a last line without its newline goes too.
    fn drain(&mut self, out: &mut String, last: bool) {
        let more = read_from(&self.path, self.offset, 4 * MAX_SHOWN);
        self.offset += more.len() as u64;
        self.partial.extend_from_slice(&more);
        let whole = self.partial.iter().rposition(|&b| b == b'\n').map_or(0, |nl| nl + 1);
        let upto = if last { self.partial.len() } else { whole };
        if upto == 0 {
            return;
        }
        // The complete lines at once: checked and escaped in one pass each (most output is
        // plain text, borrowed through both), then cut into prefixed lines.
        let bytes = &self.partial[..upto];
        let escaped;
        let text = match std::str::from_utf8(bytes) {
            Ok(t) if !needs_escape(bytes) => t,
            _ => {
                escaped = crate::diag::printable(&String::from_utf8_lossy(bytes)).into_owned();
                &escaped
            }
        };
        let lines = bytes.iter().filter(|&&b| b == b'\n').count() + 1;
        out.reserve(text.len() + lines * (self.prefix.len() + 1));
        for line in text.split_terminator('\n') {
            out.push_str(&self.prefix);
            out.push_str(line);
            out.push('\n');
        }
        self.partial.drain(..upto);
    }
}

enum Msg {
    Follow(u32, Tail),
    Ended(u32),
    Text(String),
}

/// `prefixed`: follows the logs of the running tasks from a thread of its own, through which
/// everything else the run prints also passes, so that it comes in order with the tasks' lines
/// (a task's last lines before its `ok`) while the scheduler never waits on the printing.
pub struct Tailer {
    tx: Option<std::sync::mpsc::Sender<Msg>>,
    thread: Option<std::thread::JoinHandle<()>>,
    /// Without a thread (a process limit) the same work is done as messages come.
    inline: Option<(HashMap<u32, Tail>, Printer)>,
}

impl Tailer {
    pub fn new(printer: Printer) -> Tailer {
        let (tx, rx) = std::sync::mpsc::channel::<Msg>();
        let worker = printer.clone();
        let thread = std::thread::Builder::new().name("output".into()).spawn(move || serve(&rx, &worker));
        match thread {
            Ok(t) => Tailer { tx: Some(tx), thread: Some(t), inline: None },
            Err(_) => Tailer { tx: None, thread: None, inline: Some((HashMap::new(), printer)) },
        }
    }

    fn send(&mut self, msg: Msg) {
        if let Some(tx) = &self.tx {
            let _ = tx.send(msg);
        } else if let Some((tails, printer)) = &mut self.inline {
            let mut out = String::new();
            handle(tails, msg, &mut out);
            printer.print(&out);
        }
    }

    /// Task `task` (`id`) started an attempt writing to `log`.
    pub fn follow(&mut self, task: u32, id: &str, log: &Path) {
        let prefix = format!("[{}] ", crate::diag::printable(id));
        self.send(Msg::Follow(
            task,
            Tail { prefix, path: log.to_path_buf(), offset: 0, partial: Vec::new() },
        ));
    }

    /// Task `task`'s attempt ended: the rest of its lines.
    pub fn ended(&mut self, task: u32) {
        self.send(Msg::Ended(task));
    }

    /// Text the run prints, in order with the tasks' lines (`text` without its last newline).
    pub fn text(&mut self, text: &str) {
        self.send(Msg::Text(format!("{text}\n")));
    }

    /// The run ended: what is left of every log, and the thread stopped.
    pub fn finish(mut self) {
        drop(self.tx.take());
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        if let Some((tails, printer)) = &mut self.inline {
            let mut out = String::new();
            for tail in tails.values_mut() {
                tail.drain(&mut out, true);
            }
            printer.print(&out);
        }
    }
}

fn handle(tails: &mut HashMap<u32, Tail>, msg: Msg, out: &mut String) {
    match msg {
        Msg::Follow(task, tail) => {
            tails.insert(task, tail);
        }
        Msg::Ended(task) => {
            if let Some(mut tail) = tails.remove(&task) {
                tail.drain(out, true);
            }
        }
        Msg::Text(t) => out.push_str(&t),
    }
}

/// The output thread: messages as they come, and a look at every running task's log a few
/// times a second; what it gathers is printed in one piece.
fn serve(rx: &std::sync::mpsc::Receiver<Msg>, printer: &Printer) {
    use std::sync::mpsc::RecvTimeoutError;
    let mut tails: HashMap<u32, Tail> = HashMap::new();
    let mut last_look = std::time::Instant::now();
    loop {
        let mut out = String::new();
        match rx.recv_timeout(Duration::from_millis(50)) {
            Ok(msg) => {
                handle(&mut tails, msg, &mut out);
                while let Ok(msg) = rx.try_recv() {
                    handle(&mut tails, msg, &mut out);
                }
            }
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => {
                for tail in tails.values_mut() {
                    tail.drain(&mut out, true);
                }
                printer.print(&out);
                return;
            }
        }
        if last_look.elapsed() >= Duration::from_millis(50) {
            for tail in tails.values_mut() {
                tail.drain(&mut out, false);
            }
            last_look = std::time::Instant::now();
        }
        printer.print(&out);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_whole_lines_leave_until_the_task_ends() {
        let d = tempfile::tempdir().unwrap();
        let log = d.path().join("t.1.log");
        std::fs::write(&log, "one\ntw").unwrap();
        let mut tail = Tail { prefix: "[t] ".into(), path: log.clone(), offset: 0, partial: Vec::new() };
        let mut out = String::new();
        tail.drain(&mut out, false);
        assert_eq!(out, "[t] one\n");
        std::fs::write(&log, "one\ntwo\nthr\u{1b}ee").unwrap();
        tail.drain(&mut out, false);
        assert_eq!(out, "[t] one\n[t] two\n");
        tail.drain(&mut out, true);
        assert_eq!(out, "[t] one\n[t] two\n[t] thr\\u{1b}ee\n");
    }

    #[test]
    fn the_quick_check_finds_what_printable_escapes() {
        for s in ["plain\ttext\n", "é ü 日本 ✓", "\u{a0}nbsp"] {
            assert!(!needs_escape(s.as_bytes()), "{s:?}");
            assert_eq!(crate::diag::printable(s), s);
        }
        for s in ["\u{1b}[31m", "a\rb", "\u{7f}", "c1 \u{85} next line", "\u{9b}"] {
            assert!(needs_escape(s.as_bytes()), "{s:?}");
            assert_ne!(crate::diag::printable(s), s);
        }
    }
}
