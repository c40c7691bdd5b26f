//! The reaper: a small helper process that kills task process groups dagrun leaves behind if
//! it is killed outright (SIGKILL, OOM killer), when it cannot clean up itself.
//!
//! dagrun starts it once per run, in a process group of its own (so a terminal's Ctrl-C does
//! not reach it), with a pipe as its stdin. dagrun writes `+PGID` when a task's group starts
//! and `-PGID` when it is gone. When the pipe reaches EOF — dagrun exited or died — the reaper
//! SIGKILLs every group still registered and exits. A normal exit registers nothing left over.
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

/// Starts the reaper for this process. Without one (it could not be started), dagrun still
/// cleans up on every exit it controls.
pub fn start() {
    if PIPE.get().is_some() {
        return;
    }
    let Ok(exe) = std::env::current_exe() else { return };
    let child = std::process::Command::new(exe)
        .arg("__reaper")
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .process_group(0)
        .spawn();
    if let Ok(mut c) = child {
        if let Some(stdin) = c.stdin.take() {
            let _ = PIPE.set(Mutex::new(stdin));
        }
        // Not waited for: it outlives dagrun by design and init reaps it.
        std::mem::forget(c);
    }
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
pub fn serve() -> u8 {
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
    for dir in dirs.iter().filter(|d| removable(d)) {
        let _ = std::fs::remove_dir_all(dir);
    }
    0
}
