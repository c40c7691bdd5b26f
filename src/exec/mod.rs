//! Running one attempt of one task. Executors know processes, not graphs: the scheduler hands
//! them an `Attempt` and a cancel signal and gets an `AttemptEnd` back.

pub mod direct;
pub mod hosts;
pub mod local;
pub mod mux;
pub mod reaper;
pub mod shell;
pub mod slurm;
pub mod ssh;

use crate::task::Command;
use std::path::PathBuf;
use std::time::Duration;
use tokio::sync::watch;

/// How hard dagrun is stopping running attempts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Cancel {
    /// Keep running.
    None,
    /// SIGTERM the task's process group, SIGKILL after the grace period.
    Terminate,
    /// SIGKILL at once (a second Ctrl-C).
    Kill,
}

pub type CancelRx = watch::Receiver<Cancel>;

/// Waits until dagrun stops attempts at least as hard as `level` (`Terminate`: any stop;
/// `Kill`: a hard one). Never returns if the run drops the sender without stopping.
pub async fn cancelled(cancel: &mut CancelRx, level: Cancel) {
    while *cancel.borrow_and_update() < level {
        if cancel.changed().await.is_err() {
            std::future::pending::<()>().await;
        }
    }
}

/// Everything needed to run one attempt.
#[derive(Debug, Clone)]
pub struct Attempt {
    pub task_id: String,
    pub number: u32,
    pub cmd: Command,
    /// Variables set on top of dagrun's own environment, in order (later wins).
    pub env: Vec<(String, String)>,
    pub workdir: Option<PathBuf>,
    pub timeout: Option<Duration>,
    /// Receives stderr, and stdout unless `stdout` is set.
    pub log: PathBuf,
    /// Receives stdout separately (a generator's output is its task list).
    pub stdout: Option<PathBuf>,
    /// How long a terminated task may take to exit before it is killed.
    pub grace: Duration,
}

/// Completes when `timeout` has passed; never, without one.
pub(crate) async fn expiry(timeout: Option<Duration>) {
    match timeout {
        Some(t) => tokio::time::sleep(t).await,
        None => std::future::pending().await,
    }
}

/// Opens an attempt's log, empty: a fresh `run` starts attempts at 1 again, and its logs must
/// not carry an earlier run's output. Opened for appending, so that the task's stdout and
/// stderr (and their children) never overwrite each other.
pub(crate) fn open_log(path: &std::path::Path) -> std::io::Result<std::fs::File> {
    let f = no_follow(std::fs::OpenOptions::new().create(true).append(true), path)?;
    f.set_len(0)?;
    Ok(f)
}

/// Creates (or empties) a file dagrun writes in the run directory: a generator's output, a job
/// script.
pub(crate) fn create_output(path: &std::path::Path) -> std::io::Result<std::fs::File> {
    no_follow(std::fs::OpenOptions::new().create(true).write(true).truncate(true), path)
}

/// Opens `path` unless it is a symbolic link. Files in the run directory are dagrun's own: a
/// link planted there (by another user of a shared directory, or left by mistake) must not make
/// dagrun empty or overwrite the file it points to.
pub(crate) fn no_follow(
    opts: &mut std::fs::OpenOptions,
    path: &std::path::Path,
) -> std::io::Result<std::fs::File> {
    use std::os::unix::fs::OpenOptionsExt;
    opts.custom_flags(nix::libc::O_NOFOLLOW).open(path).map_err(|e| {
        if e.raw_os_error() == Some(nix::libc::ELOOP) {
            std::io::Error::other("it is a symbolic link, which dagrun does not write through")
        } else {
            e
        }
    })
}

/// What an attempt's processes used, from the kernel's accounting when the attempt's main
/// process ended (its own and that of the children it waited for): local attempts only.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Usage {
    /// Peak resident memory of the largest process, in KiB.
    pub max_rss_kib: u64,
    pub user_ms: u64,
    pub sys_ms: u64,
}

/// How one attempt ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AttemptEnd {
    /// The command exited (0 is success).
    Exited(i32),
    /// The command was killed by a signal it did not expect.
    Signaled(i32),
    /// The attempt ran past its `timeout` and was killed.
    TimedOut(Duration),
    /// dagrun stopped it (Ctrl-C, SIGTERM, `--fail-fast`).
    Cancelled,
    /// The command could not be started (missing program, bad workdir, log not writable).
    NotStarted(String),
    /// A generator exited 0 but its output was refused (every problem, one per line).
    Rejected(String),
    /// The host, not the task, failed (connection lost, host down): run it elsewhere.
    Lost(String),
    /// The server refused a new session (too many on one connection): try again shortly.
    Refused(String),
    /// The system refused what starting it takes (open files, processes): try again when
    /// another task has ended and given its share back.
    Starved(String),
    /// The attempt ended badly for a reason its executor gives in words (a Slurm job state).
    Failed(String),
}

impl AttemptEnd {
    pub fn succeeded(&self) -> bool {
        matches!(self, AttemptEnd::Exited(0))
    }

    pub fn exit_code(&self) -> Option<i32> {
        match self {
            AttemptEnd::Exited(c) => Some(*c),
            _ => None,
        }
    }

    /// One lowercase phrase for displays and the state file.
    pub fn describe(&self) -> String {
        match self {
            AttemptEnd::Exited(0) => "exited 0".into(),
            AttemptEnd::Exited(c) => format!("exit code {c}"),
            AttemptEnd::Signaled(s) => format!("killed by signal {s}"),
            AttemptEnd::TimedOut(t) => format!("timed out after {}", humantime::format_duration(*t)),
            AttemptEnd::Cancelled => "interrupted".into(),
            AttemptEnd::NotStarted(m) => m.clone(),
            AttemptEnd::Rejected(m) => format!("its output was refused:\n{m}"),
            AttemptEnd::Lost(m) => format!("host lost: {m}"),
            AttemptEnd::Refused(m) => format!("session refused: {m}"),
            AttemptEnd::Starved(m) => format!("cannot start yet: {m}"),
            AttemptEnd::Failed(m) => m.clone(),
        }
    }
}
