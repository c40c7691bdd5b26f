//! `dagrun logs STATE [TASK...]`: the logs of a run's tasks, found by id, base name (every
//! instance of a matrix task), namespace (`gen` for the tasks generator `gen` added) or glob,
//! each under a header; `-f` follows a live run until those tasks end.
//!
//! On a terminal, control characters of the logs are shown escaped (`\u{1b}`), as everything
//! dagrun prints that it read from a file is; piped, the bytes go out as they are.

use super::args::LogsArgs;
use super::graph::write_stdout;
use crate::error::{Error, Result, code};
use crate::model::Status;
use crate::report::output::read_from;
use crate::state::model::{StateFile, TaskRecord};
use crate::state::store;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::time::Duration;

pub fn run(args: &LogsArgs) -> Result<u8> {
    if let Some(e) = super::workflow_given_for_state(&args.state) {
        return Err(e);
    }
    let state = store::load(&args.state).map_err(Error::State)?;
    let ids = select(&state, &args.state, &args.tasks, args.failed)?;
    let logs = crate::state::history::logs_dir(&args.state);
    let out = Out { terminal: std::io::stdout().is_terminal() };
    if args.follow {
        return follow(args, &logs, ids, state, &out);
    }
    for id in &ids {
        let r = &state.tasks[id];
        let attempt = args.attempt.unwrap_or(r.attempts);
        out.header(id, r, attempt)?;
        if attempt == 0 || attempt > r.attempts {
            continue;
        }
        let path = log_path(&logs, id, attempt);
        match std::fs::metadata(&path) {
            Ok(_) => print_log(&out, &path)?,
            Err(e) => out.text(&format!("(no log: {e})\n"))?,
        }
    }
    Ok(code::OK)
}

/// Prints the log at `path` a megabyte at a time, however big it is.
fn print_log(out: &Out, path: &Path) -> Result<()> {
    const CHUNK: u64 = 1 << 20;
    let (mut offset, mut carry) = (0, Vec::new());
    loop {
        let more = read_from(path, offset, CHUNK);
        if more.is_empty() {
            return out.bytes(&carry);
        }
        offset += more.len() as u64;
        carry.extend_from_slice(&more);
        // A character cut at the chunk's end waits for its rest.
        let cut = match std::str::from_utf8(&carry) {
            Err(e) if e.error_len().is_none() => carry.len() - e.valid_up_to(),
            _ => 0,
        };
        let rest = carry.split_off(carry.len() - cut);
        out.bytes(&carry)?;
        carry = rest;
    }
}

fn log_path(logs: &Path, id: &str, attempt: u32) -> PathBuf {
    logs.join(format!("{}.{attempt}.log", crate::task::file_name_for(id)))
}

/// The ids `wanted` names, in the state's order: exact ids, base names, namespaces and globs.
/// None named: every task that made an attempt. `failed`: only those that failed.
fn select(state: &StateFile, path: &Path, wanted: &[String], failed: bool) -> Result<Vec<String>> {
    let mut keep = vec![wanted.is_empty(); state.tasks.len()];
    if wanted.is_empty() {
        for (k, r) in keep.iter_mut().zip(state.tasks.values()) {
            *k = r.attempts > 0;
        }
    }
    for w in wanted {
        let found = matching(state, w)?;
        if found.is_empty() {
            let hint = crate::diag::suggest(w, state.tasks.keys().map(String::as_str))
                .map(|s| format!(" (did you mean `{}`?)", crate::diag::printable(s)))
                .unwrap_or_default();
            return Err(Error::Usage(format!(
                "no task `{}` in state file `{}`{hint}",
                crate::diag::printable(w),
                crate::diag::printable(&path.display().to_string())
            )));
        }
        for i in found {
            keep[i] = true;
        }
    }
    Ok(state
        .tasks
        .iter()
        .zip(keep)
        .filter(|((_, r), k)| *k && (!failed || r.status == Status::Failed))
        .map(|((id, _), _)| id.clone())
        .collect())
}

/// The indices of the tasks `w` names: an exact id first, else the instances of a base name
/// and the tasks of a namespace, else a glob's matches.
fn matching(state: &StateFile, w: &str) -> Result<Vec<usize>> {
    if let Some(i) = state.tasks.get_index_of(w) {
        return Ok(vec![i]);
    }
    let by_name: Vec<usize> = state
        .tasks
        .keys()
        .enumerate()
        .filter(|(_, id)| {
            id.strip_prefix(w).is_some_and(|rest| rest.starts_with('[') || rest.starts_with('/'))
        })
        .map(|(i, _)| i)
        .collect();
    if !by_name.is_empty() || !w.contains(['*', '?', '[']) {
        return Ok(by_name);
    }
    let pattern = glob::Pattern::new(w)
        .map_err(|e| Error::Usage(format!("`{}` is not a valid glob: {e}", crate::diag::printable(w))))?;
    Ok(state.tasks.keys().enumerate().filter(|(_, id)| pattern.matches(id)).map(|(i, _)| i).collect())
}

struct Out {
    terminal: bool,
}

impl Out {
    fn header(&self, id: &str, r: &TaskRecord, attempt: u32) -> Result<()> {
        let what = match (attempt, r.attempts) {
            (0, _) => "not started".to_owned(),
            (a, n) if a > n => format!("attempt {a} was never made; it made {n}"),
            (a, n) => {
                let end = if a == n { status_text(r) } else { "retried".to_owned() };
                format!("attempt {a} of {n}, {end}")
            }
        };
        self.text(&format!("==> {id} ({what}) <==\n"))
    }

    /// Text dagrun wrote, with the id in it: escaped on a terminal.
    fn text(&self, s: &str) -> Result<()> {
        write_stdout(crate::diag::printable(s).as_bytes())
    }

    /// A log's bytes: escaped on a terminal, as they are elsewhere.
    fn bytes(&self, b: &[u8]) -> Result<()> {
        if self.terminal {
            let s = String::from_utf8_lossy(b);
            return write_stdout(crate::diag::printable(&s).as_bytes());
        }
        write_stdout(b)
    }
}

fn status_text(r: &TaskRecord) -> String {
    match (r.status, r.exit_code) {
        (Status::Failed, Some(c)) => format!("failed with exit code {c}"),
        (s, _) => s.as_str().to_owned(),
    }
}

/// What `-f` follows of one task: the attempt it prints and how far.
struct Followed {
    id: String,
    attempt: u32,
    offset: u64,
}

/// Prints what the tasks' logs have and what they gain, attempt after attempt, until every one
/// of them has ended, or no run holds the state.
fn follow(args: &LogsArgs, logs: &Path, ids: Vec<String>, mut state: StateFile, out: &Out) -> Result<u8> {
    let mut followed: Vec<Followed> =
        ids.into_iter().map(|id| Followed { id, attempt: 0, offset: 0 }).collect();
    let mut last_shown: Option<usize> = None;
    loop {
        let running = store::holder(&args.state).is_some();
        for (k, f) in followed.iter_mut().enumerate() {
            let Some(r) = state.tasks.get(&f.id) else { continue };
            let want = args.attempt.unwrap_or(r.attempts);
            if want > f.attempt && want <= r.attempts {
                // A new attempt: what is left of the one before is printed first.
                if f.attempt > 0 {
                    print_more(out, logs, f, k, &mut last_shown, r)?;
                }
                *f = Followed { id: f.id.clone(), attempt: want, offset: 0 };
                out.header(&f.id, r, want)?;
                last_shown = Some(k);
            }
            if f.attempt > 0 {
                print_more(out, logs, f, k, &mut last_shown, r)?;
            }
        }
        // Ended: in a final status, its last attempt (or the one asked for) followed.
        let ended = |f: &Followed| {
            state.tasks.get(&f.id).is_none_or(|r| {
                matches!(r.status, Status::Succeeded | Status::Failed | Status::Skipped)
                    && (args.attempt.is_some() || f.attempt == r.attempts)
            })
        };
        if !running || followed.iter().all(ended) {
            // One more read: what was written between the last look and the end.
            for (k, f) in followed.iter_mut().enumerate().filter(|(_, f)| f.attempt > 0) {
                if let Some(r) = state.tasks.get(&f.id) {
                    print_more(out, logs, f, k, &mut last_shown, r)?;
                }
            }
            return Ok(code::OK);
        }
        std::thread::sleep(Duration::from_millis(100));
        if let Ok(s) = store::load(&args.state) {
            state = s;
        }
    }
}

/// Prints what task `k`'s followed log gained since last time, under its header again when
/// another task's output came in between.
fn print_more(
    out: &Out,
    logs: &Path,
    f: &mut Followed,
    k: usize,
    last_shown: &mut Option<usize>,
    r: &TaskRecord,
) -> Result<()> {
    let more = read_from(&log_path(logs, &f.id, f.attempt), f.offset, u64::MAX);
    if more.is_empty() {
        return Ok(());
    }
    if *last_shown != Some(k) {
        out.header(&f.id, r, f.attempt)?;
        *last_shown = Some(k);
    }
    f.offset += more.len() as u64;
    out.bytes(&more)
}
