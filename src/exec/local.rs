//! The `local` executor: a child process per attempt, in a process group of its own so that
//! timeouts and cancellation reach every process the task started.
//!
//! stdout and stderr are both the attempt's log file, opened for appending: the kernel
//! interleaves them and dagrun copies nothing, so a task printing gigabytes costs dagrun no
//! memory. After the task's main process exits, whatever it left running in its group is killed.

use super::{Attempt, Cancel, CancelRx};
use crate::exec::{AttemptEnd, Usage};
use crate::task::Command;
use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::time::Duration;
use tokio::process::Child;

/// Runs attempt `a`; how it ended, and what its processes used when it exited on its own.
pub async fn run(a: &Attempt, mut cancel: CancelRx) -> (AttemptEnd, Option<Usage>) {
    if *cancel.borrow() != Cancel::None {
        return (AttemptEnd::Cancelled, None);
    }
    let (mut child, via) = match spawn(a) {
        Ok(c) => c,
        Err(end) => return (end, None),
    };
    let Some(pid) = child.id() else {
        return (AttemptEnd::NotStarted("the process exited before it could be tracked".into()), None);
    };
    let watch = exit_watch(pid as i32);
    let mut usage = None;
    let pgid = Pid::from_raw(pid as i32);
    // Kills the group when this attempt ends, and also when it is dropped half-way (the run
    // stopped on an error, dagrun panicked): no task process outlives its attempt.
    let _group = KillGroupOnDrop(pgid);
    super::reaper::register(pgid.as_raw());
    let timeout = super::expiry(a.timeout);
    tokio::pin!(timeout);
    let end = tokio::select! {
        // An exit that is there to be seen wins over a timer that ran out meanwhile.
        biased;
        (status, used) = wait_with_usage(&mut child, watch.as_ref(), pid as i32) => {
            usage = used;
            match status {
                Ok(s) => ended(s, via, &a.log),
                Err(e) => AttemptEnd::NotStarted(format!("cannot wait for the process: {e}")),
            }
        },
        _ = &mut timeout => match child.try_wait() {
            // It exited before dagrun saw the time run out (dagrun was stopped, Ctrl-Z, while
            // the timer ran): it is judged by how it exited.
            Ok(Some(s)) => ended(s, via, &a.log),
            _ => {
                stop(&mut child, pgid, a.grace, &mut cancel).await;
                AttemptEnd::TimedOut(a.timeout.unwrap_or_default())
            }
        },
        _ = super::cancelled(&mut cancel, Cancel::Terminate) => {
            stop(&mut child, pgid, a.grace, &mut cancel).await;
            AttemptEnd::Cancelled
        }
    };
    // Leftovers of the task (background jobs) die with it, as `_group` is dropped.
    (end, usage)
}

/// A descriptor that becomes readable when process `pid` has exited (a pidfd), where the
/// kernel has them (Linux 5.3 and later).
fn exit_watch(pid: i32) -> Option<tokio::io::unix::AsyncFd<std::os::fd::OwnedFd>> {
    use std::os::fd::FromRawFd;
    // SAFETY: pidfd_open takes a pid and flags and returns a new descriptor, or -1.
    let fd = unsafe { nix::libc::syscall(nix::libc::SYS_pidfd_open, pid, 0) };
    if fd < 0 {
        return None;
    }
    // SAFETY: `fd` was just returned by the kernel and nothing else owns it.
    let owned = unsafe { std::os::fd::OwnedFd::from_raw_fd(fd as i32) };
    // SAFETY: the AsyncFd owns the OwnedFd, which stays open and the same until it is dropped.
    unsafe { tokio::io::unix::AsyncFd::register_with_interest(owned, tokio::io::Interest::READABLE) }.ok()
}

/// Waits for the child to exit and reaps it; with a pidfd, first reads what it used, while
/// it is still a zombie the kernel keeps the accounting of.
async fn wait_with_usage(
    child: &mut Child,
    watch: Option<&tokio::io::unix::AsyncFd<std::os::fd::OwnedFd>>,
    pid: i32,
) -> (std::io::Result<ExitStatus>, Option<Usage>) {
    let mut usage = None;
    if let Some(w) = watch {
        if w.readable().await.is_ok() {
            usage = usage_of_exited(pid);
        }
    }
    (child.wait().await, usage)
}

/// What exited, unreaped process `pid` used (its own and its waited-for children's), without
/// reaping it: `waitid` with `WNOWAIT` fills in the rusage the C library's wrapper leaves out.
fn usage_of_exited(pid: i32) -> Option<Usage> {
    use nix::libc;
    // SAFETY: plain C structs, for which all zeroes is a valid value.
    let (mut info, mut ru): (libc::siginfo_t, libc::rusage) =
        unsafe { (std::mem::zeroed(), std::mem::zeroed()) };
    let flags = libc::WEXITED | libc::WNOWAIT | libc::WNOHANG;
    // SAFETY: the kernel writes into the two structs, which live across the call.
    let r = unsafe {
        libc::syscall(
            libc::SYS_waitid,
            libc::P_PID,
            pid,
            &mut info as *mut libc::siginfo_t,
            flags,
            &mut ru as *mut libc::rusage,
        )
    };
    // SAFETY: `si_pid` reads the field the kernel filled in (0: the process has not exited).
    if r != 0 || unsafe { info.si_pid() } != pid {
        return None;
    }
    let ms = |t: libc::timeval| (t.tv_sec.max(0) as u64) * 1000 + (t.tv_usec.max(0) as u64) / 1000;
    Some(Usage { max_rss_kib: ru.ru_maxrss.max(0) as u64, user_ms: ms(ru.ru_utime), sys_ms: ms(ru.ru_stime) })
}

struct KillGroupOnDrop(Pid);

impl Drop for KillGroupOnDrop {
    fn drop(&mut self) {
        let _ = killpg(self.0, Signal::SIGKILL);
        super::reaper::unregister(self.0.as_raw());
    }
}

/// Whether `e` says the system is out of what a process needs (file descriptors, processes,
/// memory for them), which passes when other tasks end.
fn starved(e: &std::io::Error) -> bool {
    use nix::libc::{EAGAIN, EMFILE, ENFILE, ENOMEM};
    matches!(e.raw_os_error(), Some(EMFILE | ENFILE | EAGAIN | ENOMEM))
}

/// How an attempt's program was started.
#[derive(Clone, Copy, PartialEq)]
enum Via {
    /// `sh -c CMD`, or the argv of a list `cmd`.
    AsWritten,
    /// The words of a `cmd` string that needs no shell, run as the shell would have.
    Direct,
}

fn failed(what: String, e: std::io::Error) -> AttemptEnd {
    if starved(&e) {
        AttemptEnd::Starved(format!("{what}: {e}"))
    } else {
        AttemptEnd::NotStarted(format!("{what}: {e}"))
    }
}

fn spawn(a: &Attempt) -> Result<(Child, Via), AttemptEnd> {
    if let Some(dir) = &a.workdir {
        if !dir.is_dir() {
            return Err(AttemptEnd::NotStarted(format!("workdir `{}` is not a directory", dir.display())));
        }
    }
    let Some(token) = super::reaper::token() else {
        return Err(AttemptEnd::NotStarted(
            "the reaper that kills tasks if dagrun dies is not running".into(),
        ));
    };
    let cannot_log = |e| failed(format!("cannot open log `{}`", a.log.display()), e);
    let log = super::open_log(&a.log).map_err(cannot_log)?;
    let out = match &a.stdout {
        Some(p) => {
            super::create_output(p).map_err(|e| failed(format!("cannot create `{}`", p.display()), e))?
        }
        None => log.try_clone().map_err(cannot_log)?,
    };
    if let Command::Shell(s) = &a.cmd {
        if let Some(words) = super::direct::words(s) {
            let mut cmd = tokio::process::Command::new(words[0]);
            cmd.args(&words[1..]);
            prepare(
                &mut cmd,
                a,
                token,
                out.try_clone().map_err(cannot_log)?,
                log.try_clone().map_err(cannot_log)?,
            );
            as_the_shell_would(&mut cmd, a);
            match cmd.spawn() {
                Ok(child) => return Ok((child, Via::Direct)),
                Err(e) if starved(&e) => {
                    return Err(AttemptEnd::Starved(format!("cannot start `{}`: {e}", words[0])));
                }
                // Missing, not executable, not a binary: the shell says so in its own words and
                // exits as it does (or runs a script without `#!` itself).
                Err(_) => {}
            }
        }
    }
    let (program, mut cmd) = match &a.cmd {
        Command::Shell(s) => {
            let mut c = tokio::process::Command::new("sh");
            c.arg("-c").arg(s);
            ("sh".to_owned(), c)
        }
        Command::Argv(argv) => {
            let mut c = tokio::process::Command::new(&argv[0]);
            c.args(&argv[1..]);
            (argv[0].clone(), c)
        }
    };
    prepare(&mut cmd, a, token, out, log);
    cmd.spawn().map(|c| (c, Via::AsWritten)).map_err(|e| {
        if starved(&e) {
            return AttemptEnd::Starved(format!("cannot start `{program}`: {e}"));
        }
        let why = match e.kind() {
            std::io::ErrorKind::NotFound => "no such program".to_owned(),
            std::io::ErrorKind::PermissionDenied => "permission denied".to_owned(),
            // Linux passes at most 128 KiB as one argument or one environment variable.
            _ if e.raw_os_error() == Some(nix::libc::E2BIG) => {
                "the command or one environment value is too long for the system to pass to a \
                 program (put the command in a script file)"
                    .to_owned()
            }
            _ => e.to_string(),
        };
        AttemptEnd::NotStarted(format!("cannot start `{program}`: {why}"))
    })
}

/// The environment, files, directory and process group every attempt's program starts with.
fn prepare(
    cmd: &mut tokio::process::Command,
    a: &Attempt,
    token: &str,
    out: std::fs::File,
    log: std::fs::File,
) {
    cmd.envs(a.env.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::null())
        .stdout(Stdio::from(out))
        .stderr(Stdio::from(log))
        .process_group(0)
        .kill_on_drop(false);
    if let Some(dir) = &a.workdir {
        cmd.current_dir(dir);
    }
    // Marks the task's processes for the reaper, should dagrun die before registering it.
    cmd.env(super::reaper::ENV, token);
}

/// The environment `sh` would have passed on: `PWD` set, names that are not shell names dropped.
fn as_the_shell_would(cmd: &mut tokio::process::Command, a: &Attempt) {
    let given = a.env.iter().rev().find(|(k, _)| k == "PWD").map(|(_, v)| v.as_str());
    let pwd = match (&a.workdir, given) {
        // Most tasks: dagrun's own directory and `PWD`, which do not change while it runs.
        (None, None) => {
            static HERE: std::sync::OnceLock<Option<PathBuf>> = std::sync::OnceLock::new();
            HERE.get_or_init(|| super::direct::pwd(Path::new("."), std::env::var("PWD").ok().as_deref()))
                .clone()
        }
        (dir, given) => {
            let inherited = given.map(str::to_owned).or_else(|| std::env::var("PWD").ok());
            super::direct::pwd(dir.as_deref().unwrap_or(Path::new(".")), inherited.as_deref())
        }
    };
    if let Some(pwd) = pwd {
        cmd.env("PWD", pwd);
    }
    for name in not_shell_names() {
        cmd.env_remove(name);
    }
    for (k, _) in a.env.iter().filter(|(k, _)| !super::direct::shell_name(k)) {
        cmd.env_remove(k);
    }
}

/// dagrun's own environment variables whose names the shell does not pass on (read once).
fn not_shell_names() -> &'static [std::ffi::OsString] {
    static NAMES: std::sync::OnceLock<Vec<std::ffi::OsString>> = std::sync::OnceLock::new();
    NAMES.get_or_init(|| {
        std::env::vars_os()
            .map(|(k, _)| k)
            .filter(|k| !k.to_str().is_some_and(super::direct::shell_name))
            .collect()
    })
}

fn ended(s: ExitStatus, via: Via, log: &Path) -> AttemptEnd {
    match (s.code(), s.signal()) {
        (Some(c), _) => AttemptEnd::Exited(c),
        (None, Some(sig)) if via == Via::Direct => {
            let (said, code) = super::direct::as_the_shell_reports(sig, s.core_dumped());
            if let Some(said) = said {
                use std::io::Write;
                let _ = super::open_log(log).and_then(|mut f| f.write_all(said.as_bytes()));
            }
            AttemptEnd::Exited(code)
        }
        (None, Some(sig)) => AttemptEnd::Signaled(sig),
        (None, None) => AttemptEnd::Exited(-1),
    }
}

/// SIGTERM the group, then SIGKILL when the grace period ends or a hard stop is asked for.
async fn stop(child: &mut Child, pgid: Pid, grace: Duration, cancel: &mut CancelRx) {
    if *cancel.borrow() == Cancel::Kill {
        let _ = killpg(pgid, Signal::SIGKILL);
    } else {
        let _ = killpg(pgid, Signal::SIGTERM);
        tokio::select! {
            _ = child.wait() => {}
            _ = tokio::time::sleep(grace) => {}
            _ = super::cancelled(cancel, Cancel::Kill) => {}
        }
        let _ = killpg(pgid, Signal::SIGKILL);
    }
    let _ = child.wait().await;
}
