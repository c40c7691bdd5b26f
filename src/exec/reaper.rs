//! The reaper: a small helper process that kills task process groups dagrun leaves behind if
//! it is killed outright (SIGKILL, OOM killer), when it cannot clean up itself.
//!
//! dagrun starts it once per run, in a process group of its own (so a terminal's Ctrl-C does
//! not reach it), with a pipe as its stdin. A task registers its own group: between fork and
//! exec, the child writes `+PGID` to that pipe (see `announce`), so the group is known before
//! the task's program runs, and the reaper cannot miss it: the forked child holds a copy of the
//! pipe's write end until its exec closes it, so the reaper's EOF comes after the registration
//! even when dagrun is killed that very moment. dagrun writes `-PGID` when the group is gone.
//! When the pipe reaches EOF — dagrun exited or died — the reaper SIGKILLs every group still
//! registered and exits. A normal exit registers nothing left over.
//! Likewise `dPATH` / `uPATH` register and unregister the SSH executor's private control
//! directory, which the reaper removes if dagrun could not (its masters exit on their own).

use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;
use std::collections::HashSet;
use std::io::{BufRead, Write};
use std::os::fd::{AsRawFd, RawFd};
use std::os::unix::process::CommandExt;
use std::process::{ChildStdin, Stdio};
use std::sync::{Mutex, OnceLock};

static PIPE: OnceLock<Mutex<ChildStdin>> = OnceLock::new();
static PIPE_FD: OnceLock<RawFd> = OnceLock::new();

/// Starts the reaper for this process. Without it, a kill -9 of dagrun would leave tasks
/// running, so no task may start: the error says why, and the caller starts nothing.
pub fn start() -> Result<(), String> {
    if PIPE.get().is_some() {
        return Ok(());
    }
    let exe = std::env::current_exe().map_err(|e| format!("cannot find dagrun's own program: {e}"))?;
    let mut child = std::process::Command::new(exe)
        .arg("__reaper")
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .process_group(0)
        .spawn()
        .map_err(|e| e.to_string())?;
    let stdin = child.stdin.take().ok_or("it has no input pipe")?;
    let _ = PIPE_FD.set(stdin.as_raw_fd());
    let _ = PIPE.set(Mutex::new(stdin));
    // Not waited for: it outlives dagrun by design and init reaps it.
    std::mem::forget(child);
    Ok(())
}

/// The reaper's pipe, for `announce` in a child about to exec a task; `None` without a reaper.
pub fn fd() -> Option<RawFd> {
    PIPE_FD.get().copied()
}

/// Registers the calling process's group with the reaper. Meant for a forked child between
/// fork and exec, so it only formats into a stack buffer and makes one `write(2)`: a line that
/// short is written whole (a pipe write of at most `PIPE_BUF` bytes is atomic), never
/// interleaved with dagrun's own lines. Fails when the reaper is gone: then the task must not
/// run, as nothing would kill it if dagrun died.
pub fn announce(fd: RawFd) -> std::io::Result<()> {
    use nix::sys::signal::{SaFlags, SigAction, SigHandler, SigSet, sigaction};
    // Its own group, whatever the caller's order of steps: the group id is then this pid.
    nix::unistd::setpgid(Pid::from_raw(0), Pid::from_raw(0))?;
    let mut buf = [0u8; 24];
    let mut digits = [0u8; 12];
    let mut n = nix::unistd::getpid().as_raw().unsigned_abs();
    let mut k = 0;
    loop {
        digits[k] = b'0' + (n % 10) as u8;
        k += 1;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    buf[0] = b'+';
    for j in 0..k {
        buf[1 + j] = digits[k - 1 - j];
    }
    buf[1 + k] = b'\n';
    let line = &buf[..k + 2];
    // A reaper that is gone must fail the write, not kill the child with SIGPIPE.
    let ignore = SigAction::new(SigHandler::SigIgn, SaFlags::empty(), SigSet::empty());
    // SAFETY: setting "ignore" runs no handler code; the old disposition is put back below.
    let old = unsafe { sigaction(Signal::SIGPIPE, &ignore) }?;
    // SAFETY: a plain write(2) of a stack buffer to a descriptor this process holds.
    let wrote = unsafe { nix::libc::write(fd, line.as_ptr().cast(), line.len()) };
    // SAFETY: as above, restoring what was there.
    unsafe { sigaction(Signal::SIGPIPE, &old) }?;

    if wrote == line.len() as isize {
        Ok(())
    } else {
        // Only an errno crosses from the child to `spawn`: EPIPE is read there as "no reaper".
        Err(std::io::Error::from_raw_os_error(nix::libc::EPIPE))
    }
}

fn send(line: String) {
    if let Some(p) = PIPE.get() {
        if let Ok(mut w) = p.lock() {
            let _ = w.write_all(line.as_bytes());
        }
    }
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
