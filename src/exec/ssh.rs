//! The `ssh` executor: tasks on remote hosts over connections the system OpenSSH client opens,
//! so the user's `~/.ssh/config`, agents, `ProxyJump` and `known_hosts` apply. dagrun never
//! weakens host key checking; it only adds `BatchMode` (never prompt mid-run) and keepalives.
//!
//! Each host gets `ceil(slots / max_sessions)` multiplexed master connections (`ssh -M`),
//! opened before any task starts and kept in a private control directory. Masters use a short
//! idle `ControlPersist`, so even if dagrun is SIGKILLed they exit on their own soon after.
//! Each attempt is a session dagrun opens itself over a master's control socket (`mux.rs`):
//! no ssh process per task, and no quiet fallback to a connection of its own.
//!
//! Hanging up a session does not kill the remote command, so every task runs under a small
//! remote wrapper: it starts a watchdog that kills the task's process group (TERM, then KILL
//! after the grace period) when the session's stdin reaches EOF. Closing that stdin is
//! therefore a clean cancel, and a dagrun that dies takes its remote tasks with it.

use super::shell;
use super::{Attempt, Cancel, CancelRx, mux};
use crate::exec::AttemptEnd;
use crate::model::Host;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Seconds an idle master lingers (bounds how long one outlives a killed dagrun).
const CONTROL_PERSIST: u32 = 15;
/// Time allowed to open a master connection.
const CONNECT_TIMEOUT: u32 = 10;

/// How to reach one host: the ssh arguments shared by its master and its sessions.
#[derive(Debug)]
pub struct HostConn {
    pub name: String,
    base: Vec<String>,
    control_dir: PathBuf,
    index: usize,
    serial: AtomicU64,
}

/// One master connection of a host.
#[derive(Debug)]
pub struct Master {
    pub host: Arc<HostConn>,
    pub path: PathBuf,
    /// Serialises re-opening a master that went idle and exited.
    reopen: tokio::sync::Mutex<()>,
}

impl HostConn {
    pub fn new(
        host: &Host,
        index: usize,
        config: Option<&str>,
        identity: Option<&str>,
        options: &[String],
        control_dir: &Path,
    ) -> HostConn {
        let mut base: Vec<String> = Vec::new();
        if let Some(c) = config {
            base.extend(["-F".into(), expand_home(c)]);
        }
        if let Some(i) = identity {
            base.extend(["-i".into(), expand_home(i)]);
        }
        for o in options {
            base.extend(["-o".into(), o.clone()]);
        }
        // Appended after the user's options: for ssh the first value of an option wins, so
        // these never override what the user chose, host key checking included.
        for o in ["BatchMode=yes", "ServerAliveInterval=2", "ServerAliveCountMax=3"] {
            base.extend(["-o".into(), o.into()]);
        }
        base.extend(["-o".into(), format!("ConnectTimeout={CONNECT_TIMEOUT}")]);
        if let Some(p) = host.port {
            base.extend(["-p".into(), p.to_string()]);
        }
        if let Some(u) = &host.user {
            base.extend(["-l".into(), u.clone()]);
        }
        HostConn {
            name: host.name.clone(),
            base,
            control_dir: control_dir.to_path_buf(),
            index,
            serial: AtomicU64::new(0),
        }
    }

    fn err_file(&self) -> PathBuf {
        let n = self.serial.fetch_add(1, Ordering::Relaxed);
        self.control_dir.join(format!("h{}-{n}.err", self.index))
    }

    pub fn master(self: &Arc<Self>, k: usize) -> Master {
        Master {
            host: self.clone(),
            path: self.control_dir.join(format!("h{}-{k}", self.index)),
            reopen: tokio::sync::Mutex::new(()),
        }
    }
}

fn expand_home(p: &str) -> String {
    match (p.strip_prefix("~/"), std::env::var_os("HOME")) {
        (Some(rest), Some(home)) => Path::new(&home).join(rest).display().to_string(),
        _ => p.to_owned(),
    }
}

impl Master {
    /// Opens the master connection. The error is ssh's own message (host key, auth, refused).
    pub async fn open(&self) -> Result<(), String> {
        let err = self.host.err_file();
        let mut cmd = tokio::process::Command::new("ssh");
        cmd.args(&self.host.base)
            .args(["-o", "ControlMaster=yes", "-o"])
            .arg(format!("ControlPath={}", self.path.display()))
            .args(["-o", &format!("ControlPersist={CONTROL_PERSIST}"), "-E"])
            .arg(&err)
            .args(["-N", "-f", "--", &self.host.name])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .process_group(0)
            .kill_on_drop(true);
        let limit = Duration::from_secs(CONNECT_TIMEOUT as u64 + 5);
        let status = tokio::time::timeout(limit, cmd.status()).await;
        let msg = read_err(&err);
        match status {
            Ok(Ok(s)) if s.success() && self.path.exists() => Ok(()),
            Ok(Ok(_)) => Err(if msg.is_empty() { "ssh could not connect".into() } else { msg }),
            Ok(Err(e)) => Err(format!("cannot run ssh: {e}")),
            Err(_) => Err(format!("no connection after {}s", limit.as_secs())),
        }
    }

    /// Re-opens the master if it went idle and exited.
    async fn ensure(&self) -> Result<(), String> {
        let _guard = self.reopen.lock().await;
        if self.path.exists() { Ok(()) } else { self.open().await }
    }

    /// Re-opens the master if it does not answer, over a stale socket if one is left.
    async fn revive(&self) -> Result<(), String> {
        let _guard = self.reopen.lock().await;
        if self.check().await {
            return Ok(());
        }
        let _ = std::fs::remove_file(&self.path);
        self.open().await
    }

    /// `ssh -O <op>`: a request to the master process.
    fn control(&self, op: &str) -> std::process::Command {
        let mut cmd = std::process::Command::new("ssh");
        cmd.args(&self.host.base)
            .arg("-o")
            .arg(format!("ControlPath={}", self.path.display()))
            .args(["-O", op, "--", &self.host.name])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        std::os::unix::process::CommandExt::process_group(&mut cmd, 0);
        cmd
    }

    /// Whether the master connection is alive.
    pub async fn check(&self) -> bool {
        matches!(tokio::time::timeout(Duration::from_secs(5), mux::alive(&self.path)).await, Ok(true))
    }

    /// Asks the master to exit (end of run).
    pub fn close(&self) {
        if self.path.exists() {
            let _ = self.control("exit").status();
        }
    }
}

fn read_err(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let _ = std::fs::remove_file(path);
    text.lines().map(str::trim).filter(|l| !l.is_empty()).collect::<Vec<_>>().join("; ")
}

/// Runs one attempt through `master`, as a session opened over its control socket (no ssh
/// client process per task). `AttemptEnd::Lost` means the host, not the task, failed;
/// `AttemptEnd::Refused` that the server refused the session (back-pressure).
pub async fn run(a: &Attempt, master: &Master, mut cancel: CancelRx) -> AttemptEnd {
    if *cancel.borrow() != Cancel::None {
        return AttemptEnd::Cancelled;
    }
    if let Err(e) = master.ensure().await {
        return AttemptEnd::Lost(format!("cannot connect to `{}`: {e}", master.host.name));
    }
    let log = match super::open_log(&a.log) {
        Ok(f) => f,
        Err(e) => return AttemptEnd::NotStarted(format!("cannot open log `{}`: {e}", a.log.display())),
    };
    let out = match &a.stdout {
        Some(p) => super::create_output(p),
        None => log.try_clone(),
    };
    let out = match out {
        Ok(f) => f,
        Err(e) => return AttemptEnd::NotStarted(format!("cannot open the output file: {e}")),
    };
    // Held open while the task runs: its EOF is the remote watchdog's signal to kill.
    let (stdin, stdin_writer) = match nix::unistd::pipe() {
        Ok(p) => p,
        Err(e) => return AttemptEnd::NotStarted(format!("cannot make a pipe: {e}")),
    };
    let stdio = [stdin.as_raw_fd(), out.as_raw_fd(), log.as_raw_fd()];
    let command = match remote_command(a) {
        Ok(c) => c,
        Err(why) => return AttemptEnd::NotStarted(format!("cannot write the remote command: {why}")),
    };
    let opened = mux::open(&master.path, &command, stdio).await;
    // The master holds its own copies now.
    drop((stdin, out, log));
    let mut session = match opened {
        Ok(s) => s,
        Err(mux::OpenError::Refused(why)) if master.check().await => {
            return AttemptEnd::Refused(format!("`{}`: {why}", master.host.name));
        }
        Err(mux::OpenError::Refused(why)) => {
            return AttemptEnd::Lost(format!("`{}`: {why}", master.host.name));
        }
        // The master is gone (idle exit, killed). Reopen it; if the host answers, this was no
        // lost host and the task tries again.
        Err(mux::OpenError::Gone(_)) => {
            return match master.revive().await {
                Ok(()) => AttemptEnd::Refused(format!(
                    "`{}`: the master connection had exited; reopened it",
                    master.host.name
                )),
                Err(e) => AttemptEnd::Lost(format!("cannot connect to `{}`: {e}", master.host.name)),
            };
        }
    };
    let timeout = super::expiry(a.timeout);
    tokio::pin!(timeout);
    let stopped = tokio::select! {
        ended = session.wait() => return ended_as(ended, master).await,
        _ = &mut timeout => AttemptEnd::TimedOut(a.timeout.unwrap_or_default()),
        _ = super::cancelled(&mut cancel, Cancel::Terminate) => AttemptEnd::Cancelled,
    };
    // Cancel: close stdin (the watchdog kills the remote group), then give it the grace
    // period and a margin before hanging up on the session.
    drop(stdin_writer);
    let limit = if *cancel.borrow() == Cancel::Kill {
        Duration::from_secs(2)
    } else {
        a.grace + Duration::from_secs(5)
    };
    let _ = tokio::time::timeout(limit, session.wait()).await;
    stopped
}

async fn ended_as(ended: mux::Ended, master: &Master) -> AttemptEnd {
    match ended {
        mux::Ended::Exit(code) => AttemptEnd::Exited(i32::try_from(code).unwrap_or(255)),
        mux::Ended::Hangup if !master.check().await => {
            AttemptEnd::Lost(format!("`{}`: the connection was lost", master.host.name))
        }
        mux::Ended::Hangup => AttemptEnd::Failed("the remote command ended without an exit status".into()),
    }
}

/// The remote command: `exec sh -c '<wrapper>'`, so the wrapper is the session's process group
/// leader (`$$` is the group to kill).
pub fn remote_command(a: &Attempt) -> Result<String, String> {
    let mut w = String::new();
    // fd 3 keeps the ssh channel's stdin for the watchdog; the task reads /dev/null.
    w.push_str("exec 3<&0 </dev/null\n");
    w.push_str(&shell::prelude(a, "exit 126")?);
    let grace = a.grace.as_secs().max(1);
    // The watchdog is in the task's group: it ignores the TERM it sends so that it lives to
    // send the KILL, and it holds no output so that it does not keep the session open. Before
    // its TERM it tells the wrapper (USR1) that this is a stop: then, as on the local executor,
    // the group is killed the moment the task's main process is gone, so a child that ignores
    // TERM does not outlive a task whose shell died of it.
    w.push_str("s=\ntrap 's=1' USR1\n");
    w.push_str(&format!(
        "{{ trap '' TERM; while read -r _ <&3; do :; done; kill -s USR1 $$; kill -s TERM -- -$$; sleep {grace}; kill -s KILL -- -$$; }} >/dev/null 2>&1 &\nw=$!\n"
    ));
    w.push_str(&format!("{} &\n", shell::command(a)?));
    // A USR1 interrupts `wait` while the task still runs: wait again until it has exited.
    w.push_str(concat!(
        "t=$!\ntrap '' TERM\n",
        "while :; do wait $t; c=$?; kill -0 $t 2>/dev/null || break; done\n",
        "[ -n \"$s\" ] && kill -s KILL -- -$$\n",
        "kill -s KILL $w 2>/dev/null\nkill -s TERM -- -$$ 2>/dev/null\nexit $c\n",
    ));
    Ok(format!("exec sh -c {}", shell::quote(&w)?))
}
