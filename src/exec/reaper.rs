//! The reaper: a small helper process that kills task process groups dagrun leaves behind if
//! it is killed outright (SIGKILL, OOM killer), when it cannot clean up itself.
//!
//! dagrun starts it once per run, in a process group of its own (so a terminal's Ctrl-C does
//! not reach it), with a pipe as its stdin and a token of the run as its argument. dagrun writes
//! `+PGID` when a task's group starts and `-PGID` when it is gone. When the pipe reaches EOF —
//! dagrun exited or died — the reaper SIGKILLs every group still registered and exits.
//!
//! A task started a moment before dagrun is killed may not be registered yet, so every task
//! also carries the token in its environment (`DAGRUN_REAPER`), and at EOF the reaper kills the
//! group of every process that has it. That leaves no window: a task's process holds a copy of
//! the pipe's write end from its fork until its exec closes it (the pipe is close-on-exec), so
//! the EOF can only come once every task process has exec'd with the token in its environment
//! and its own process group set. Tasks are still started with `posix_spawn` (no code runs
//! between fork and exec), which keeps a task's start as cheap as a shell's.
//!
//! Likewise `dPATH` / `uPATH` register and unregister the SSH executor's private control
//! directory, which the reaper removes if dagrun could not (its masters exit on their own).

use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;
use std::collections::HashSet;
use std::io::{BufRead, Write};
use std::os::unix::process::CommandExt;
use std::process::{ChildStdin, Stdio};
use std::sync::{Mutex, OnceLock};

static PIPE: OnceLock<Mutex<ChildStdin>> = OnceLock::new();
static TOKEN: OnceLock<String> = OnceLock::new();

/// The environment variable that marks a task of this run.
pub const ENV: &str = "DAGRUN_REAPER";

/// Starts the reaper for this process. Without it, a kill -9 of dagrun would leave tasks
/// running, so no task may start: the error says why, and the caller starts nothing.
pub fn start() -> Result<(), String> {
    if PIPE.get().is_some() {
        return Ok(());
    }
    let exe = std::env::current_exe().map_err(|e| format!("cannot find dagrun's own program: {e}"))?;
    let nanos =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos());
    let token = format!("{}-{nanos}", std::process::id());
    let mut child = std::process::Command::new(exe)
        .arg("__reaper")
        .arg(&token)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .process_group(0)
        .spawn()
        .map_err(|e| e.to_string())?;
    let stdin = child.stdin.take().ok_or("it has no input pipe")?;
    let _ = PIPE.set(Mutex::new(stdin));
    let _ = TOKEN.set(token);
    // Not waited for: it outlives dagrun by design and init reaps it.
    std::mem::forget(child);
    Ok(())
}

/// The token tasks carry in `DAGRUN_REAPER`; `None` without a reaper.
pub fn token() -> Option<&'static str> {
    TOKEN.get().map(String::as_str)
}

fn send(line: String) {
    if let Some(p) = PIPE.get() {
        if let Ok(mut w) = p.lock() {
            let _ = w.write_all(line.as_bytes());
        }
    }
}

pub fn register(pgid: i32) {
    send(format!("+{pgid}\n"));
}

pub fn unregister(pgid: i32) {
    send(format!("-{pgid}\n"));
}

/// Registers a private directory of dagrun's (an SSH control directory) to remove if dagrun dies.
pub fn register_dir(dir: &std::path::Path) {
    send(format!("d{}\n", dir.display()));
}

pub fn unregister_dir(dir: &std::path::Path) {
    send(format!("u{}\n", dir.display()));
}

/// Only directories dagrun creates for itself are ever removed.
fn removable(dir: &std::path::Path) -> bool {
    dir.is_absolute()
        && dir.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.starts_with("dagrun-ssh."))
}

/// The reaper's main loop (`dagrun __reaper`).
pub fn serve(token: Option<&str>) -> u8 {
    // Stray terminal signals must not end the reaper before its parent.
    for s in [Signal::SIGINT, Signal::SIGTERM, Signal::SIGHUP, Signal::SIGPIPE] {
        // SAFETY: setting a signal's disposition to "ignore" runs no handler code.
        unsafe {
            let _ = nix::sys::signal::signal(s, nix::sys::signal::SigHandler::SigIgn);
        }
    }
    let mut live: HashSet<i32> = HashSet::new();
    let mut dirs: HashSet<std::path::PathBuf> = HashSet::new();
    let stdin = std::io::stdin();
    for line in stdin.lock().lines() {
        let Ok(line) = line else { break };
        let (sign, rest) = line.split_at(line.len().min(1));
        match sign {
            "d" => {
                dirs.insert(rest.into());
                continue;
            }
            "u" => {
                dirs.remove(std::path::Path::new(rest));
                continue;
            }
            _ => {}
        }
        let Ok(pgid) = rest.parse::<i32>() else { continue };
        if pgid <= 1 {
            continue;
        }
        match sign {
            "+" => {
                live.insert(pgid);
            }
            "-" => {
                live.remove(&pgid);
            }
            _ => {}
        }
    }
    for pgid in live {
        let _ = killpg(Pid::from_raw(pgid), Signal::SIGKILL);
    }
    // Tasks not registered yet: every process that carries this run's token, by its group.
    if let Some(token) = token {
        kill_marked(token);
    }
    for dir in dirs.iter().filter(|d| removable(d)) {
        let _ = std::fs::remove_dir_all(dir);
    }
    0
}

/// Kills the group of every process marked with `token`, scanning until a scan finds none.
///
/// A process caught in `execve` (a shell exec'ing its command) shows an empty environment for
/// that instant, so one that does is looked at again, for up to `PATIENCE`: long enough for an
/// exec to finish, short for a process whose environment is empty for good (some init).
fn kill_marked(token: &str) {
    const PATIENCE: std::time::Duration = std::time::Duration::from_millis(50);
    let mut empty_since: std::collections::HashMap<i32, std::time::Instant> = Default::default();
    for _ in 0..1000 {
        let scan = marked_groups(token);
        for &pgid in &scan.groups {
            let _ = killpg(Pid::from_raw(pgid), Signal::SIGKILL);
        }
        let now = std::time::Instant::now();
        empty_since.retain(|pid, _| scan.empty.contains(pid));
        let mut waiting = false;
        for pid in scan.empty {
            waiting |= now.duration_since(*empty_since.entry(pid).or_insert(now)) < PATIENCE;
        }
        if scan.groups.is_empty() {
            if !waiting {
                return;
            }
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
    }
}

struct Scan {
    /// The groups of the processes whose environment holds the token.
    groups: HashSet<i32>,
    /// The processes that showed an empty environment they may not have (caught in `execve`).
    empty: Vec<i32>,
}

/// The process groups of the processes whose environment holds `DAGRUN_REAPER=<token>`.
fn marked_groups(token: &str) -> Scan {
    let want = format!("{ENV}={token}");
    let own = nix::unistd::getpgrp().as_raw();
    let mut scan = Scan { groups: HashSet::new(), empty: Vec::new() };
    let Ok(dir) = std::fs::read_dir("/proc") else { return scan };
    for e in dir.flatten() {
        let Some(pid) = e.file_name().to_str().and_then(|n| n.parse::<i32>().ok()) else { continue };
        let Ok(env) = std::fs::read(format!("/proc/{pid}/environ")) else { continue };
        if env.is_empty() {
            if may_be_in_exec(pid) {
                scan.empty.push(pid);
            }
            continue;
        }
        if !env.split(|&b| b == 0).any(|v| v == want.as_bytes()) {
            continue;
        }
        if let Ok(g) = nix::unistd::getpgid(Some(Pid::from_raw(pid))) {
            if g.as_raw() > 1 && g.as_raw() != own {
                scan.groups.insert(g.as_raw());
            }
        }
    }
    scan
}

/// Whether a process with an empty environment may be one between two programs: not a kernel
/// thread (which has none) and not exiting (whose memory is already gone).
fn may_be_in_exec(pid: i32) -> bool {
    const KERNEL_THREAD: u64 = 0x0020_0000;
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else { return false };
    // `pid (comm) state ppid pgrp session tty tpgid flags ...`; comm may hold anything but `)`
    // ends it last.
    let Some((_, rest)) = stat.rsplit_once(')') else { return false };
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let state = fields.first().copied().unwrap_or("Z");
    let flags = fields.get(6).and_then(|f| f.parse::<u64>().ok()).unwrap_or(KERNEL_THREAD);
    !matches!(state, "Z" | "X" | "x") && flags & KERNEL_THREAD == 0
}
