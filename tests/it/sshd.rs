//! A private OpenSSH server per test, for the SSH executor's integration tests.
//!
//! Owns: starting `/usr/sbin/sshd` as a child on a free port of a loopback address (every
//! `127.x.y.z` is local, so `127.0.0.1` and `127.0.0.2` act as two hosts), its keys, a
//! `known_hosts` that pins its host key (host key checking stays on: no test may turn it off),
//! the `ssh_config` blocks that reach it, and stopping it — gently on drop, or abruptly with
//! [`Sshd::kill_all`] to simulate a host dying mid-run, then [`Sshd::restart`] to bring it back.
//!
//! Must not: touch the machine's own sshd, `~/.ssh`, or `/etc/ssh`; skip silently when
//! `openssh-server` is missing (that fails the test with the install hint).
//!
//! As root it logs in as the dedicated user `dagrun-test` (root's `~/.bashrc` may run slow
//! shell set-up on every remote command); otherwise as the current user, the only one a
//! non-root sshd can log in. Files that user writes belong in [`shared_tempdir`].

#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

/// The server binary. It must be invoked by absolute path (sshd re-executes itself).
pub const SSHD: &str = "/usr/sbin/sshd";

/// The user tests log in as when they run as root.
pub const TEST_USER: &str = "dagrun-test";

/// Generous bound on every wait here; reaching it fails the test.
const LIMIT: Duration = Duration::from_secs(60);

/// How many times a fresh port is tried when another process grabs the one picked.
const PORT_TRIES: usize = 20;

/// A running private sshd and the client-side files that reach it.
pub struct Sshd {
    dir: tempfile::TempDir,
    addr: String,
    port: u16,
    user: String,
    child: Option<Child>,
    /// Everything sshd (and its per-connection children, which inherit the pipe) wrote to
    /// stderr, for failure messages and for tests that count logins.
    log: Arc<Mutex<String>>,
}

impl Sshd {
    /// Starts an sshd listening on `addr` (e.g. `"127.0.0.1"`, `"127.0.0.2"`).
    pub fn start(addr: &str) -> Sshd {
        Sshd::start_with(addr, &[])
    }

    /// Like [`Sshd::start`] with `extra_lines` added to `sshd_config`. They can override the
    /// harness's settings (e.g. `MaxSessions 2`): sshd keeps the first value of a keyword, so
    /// they go before the harness's lines, except from a `Match` line on, which goes last.
    pub fn start_with(addr: &str, extra_lines: &[&str]) -> Sshd {
        require_sshd();
        let user = login_user().to_owned();
        let dir = tempfile::Builder::new().prefix("dagrun-sshd-").tempdir().expect("create sshd temp dir");
        // The login user reads `authorized_keys` itself (sshd drops to its uid to open it).
        set_mode(dir.path(), 0o755);

        let host_key = dir.path().join("host_ed25519");
        let client_key = dir.path().join("client_ed25519");
        keygen(&host_key, "dagrun-test-host");
        keygen(&client_key, "dagrun-test-client");
        let authorized = dir.path().join("authorized_keys");
        std::fs::copy(client_key.with_extension("pub"), &authorized).expect("write authorized_keys");
        set_mode(&authorized, 0o644);

        let mut sshd = Sshd { dir, addr: addr.to_owned(), port: 0, user, child: None, log: Arc::default() };
        let mut last_err = String::new();
        for _ in 0..PORT_TRIES {
            sshd.port = free_port(addr);
            sshd.write_server_config(extra_lines);
            sshd.write_known_hosts();
            match sshd.spawn() {
                Ok(()) => return sshd,
                Err(Spawn::PortTaken(log)) => last_err = log,
            }
        }
        panic!("sshd on {addr}: no free port after {PORT_TRIES} tries; last stderr:\n{last_err}");
    }

    /// The address it listens on.
    pub fn addr(&self) -> &str {
        &self.addr
    }

    /// The port it listens on (kept across [`Sshd::restart`]).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The user the client keys log in as.
    pub fn user(&self) -> &str {
        &self.user
    }

    /// The client's private key, authorized for [`Sshd::user`].
    pub fn identity(&self) -> PathBuf {
        self.dir.path().join("client_ed25519")
    }

    /// A `known_hosts` file holding this server's host key for `[addr]:port`.
    pub fn known_hosts(&self) -> PathBuf {
        self.dir.path().join("known_hosts")
    }

    /// The `known_hosts` line for this server (to build files for several hosts).
    pub fn known_hosts_line(&self) -> String {
        let public =
            std::fs::read_to_string(self.dir.path().join("host_ed25519.pub")).expect("read host public key");
        // `type base64 comment`: drop the comment.
        let key: Vec<&str> = public.split_whitespace().take(2).collect();
        format!("[{}]:{} {}\n", self.addr, self.port, key.join(" "))
    }

    /// The listener's pid while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// What sshd has written to stderr so far.
    pub fn log(&self) -> String {
        self.log.lock().map(|l| l.clone()).unwrap_or_default()
    }

    /// How many logins sshd accepted so far (one per connection, not per multiplexed session).
    pub fn accepted_logins(&self) -> usize {
        self.log().lines().filter(|l| l.contains("Accepted publickey for")).count()
    }

    /// An `ssh_config` block reaching this server as `alias`, host key checking on.
    pub fn client_config(&self, alias: &str) -> String {
        self.client_config_using(alias, &self.known_hosts())
    }

    /// Like [`Sshd::client_config`] with another `known_hosts` file: tests of host key
    /// verification failures pass an empty file or one with a wrong key.
    pub fn client_config_using(&self, alias: &str, known_hosts: &Path) -> String {
        format!(
            "Host {alias}\n  HostName {addr}\n  Port {port}\n  User {user}\n  IdentityFile \"{key}\"\n  \
             IdentitiesOnly yes\n  UserKnownHostsFile \"{kh}\"\n  StrictHostKeyChecking yes\n  BatchMode yes\n",
            addr = self.addr,
            port = self.port,
            user = self.user,
            key = self.identity().display(),
            kh = known_hosts.display(),
        )
    }

    /// Kills the listener and every process under it (each open connection is a child of the
    /// listener and keeps running when only the listener dies), as a host dying would.
    /// Clients connected to it then see their connection drop. Idempotent.
    pub fn kill_all(&mut self) {
        let Some(mut child) = self.child.take() else { return };
        let root = child.id() as i32;
        // Freeze the tree before killing it, so no process forks a child we miss: stop every
        // process found, look again, until a look finds nothing new.
        let mut tree = vec![root];
        let start = Instant::now();
        loop {
            for &p in &tree {
                let _ = kill(Pid::from_raw(p), Signal::SIGSTOP);
            }
            let found = descendants(root);
            let new: Vec<i32> = found.into_iter().filter(|p| !tree.contains(p)).collect();
            if new.is_empty() || start.elapsed() > LIMIT {
                break;
            }
            tree.extend(new);
        }
        for &p in &tree {
            let _ = kill(Pid::from_raw(p), Signal::SIGKILL);
        }
        let _ = child.wait();
        // The rest were not our children: they are reaped by whoever adopts them; wait until
        // they are at least dead so callers see the host gone.
        wait_until("sshd's session processes to die", || tree.iter().all(|&p| !alive(p)));
    }

    /// Starts sshd again on the same address, port and keys (after [`Sshd::kill_all`]), so
    /// existing client configs and `known_hosts` keep working.
    pub fn restart(&mut self) {
        self.kill_all();
        let start = Instant::now();
        loop {
            match self.spawn() {
                Ok(()) => return,
                // The port is the identity of this host: wait for whoever holds it.
                Err(Spawn::PortTaken(log)) => {
                    assert!(
                        start.elapsed() < LIMIT,
                        "sshd restart: port {} stayed taken; stderr:\n{log}",
                        self.port
                    );
                    std::thread::sleep(Duration::from_millis(50));
                }
            }
        }
    }

    fn write_server_config(&self, extra_lines: &[&str]) {
        let d = self.dir.path();
        let mut text = String::new();
        // sshd keeps the first value of most keywords: extras go first so they can override,
        // but a `Match` block runs to the end of the file, so it and what follows go last.
        let split = extra_lines
            .iter()
            .position(|l| l.trim_start().get(..6).is_some_and(|w| w.eq_ignore_ascii_case("match ")))
            .unwrap_or(extra_lines.len());
        for l in &extra_lines[..split] {
            text.push_str(l);
            text.push('\n');
        }
        text.push_str(&format!(
            "ListenAddress {addr}\nPort {port}\nHostKey {d}/host_ed25519\nPidFile {d}/sshd.pid\n\
             AuthorizedKeysFile {d}/authorized_keys\nStrictModes no\nUsePAM no\nPasswordAuthentication no\n\
             KbdInteractiveAuthentication no\nUseDNS no\nMaxSessions 10\n",
            addr = self.addr,
            port = self.port,
            d = d.display(),
        ));
        if supports_per_source_penalties() {
            // OpenSSH 9.8+ would throttle a loopback client that many tests connect from and
            // that aborts connections on purpose (host key failures, killed hosts).
            text.push_str("PerSourcePenalties no\n");
        }
        for l in &extra_lines[split..] {
            text.push_str(l);
            text.push('\n');
        }
        std::fs::write(d.join("sshd_config"), text).expect("write sshd_config");
    }

    fn write_known_hosts(&self) {
        std::fs::write(self.known_hosts(), self.known_hosts_line()).expect("write known_hosts");
    }

    /// Starts the listener and waits until it listens.
    fn spawn(&mut self) -> Result<(), Spawn> {
        let config = self.dir.path().join("sshd_config");
        // The log spans restarts; judge this attempt by what it adds.
        let log_start = self.log().len();
        let mut child = Command::new(SSHD)
            .arg("-D")
            .arg("-e")
            .arg("-f")
            .arg(&config)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("start `{SSHD}`: {e}"));
        let stderr = child.stderr.take().expect("sshd stderr is piped");
        let (ready_tx, ready_rx) = mpsc::channel();
        let log = Arc::clone(&self.log);
        // This thread keeps draining stderr after readiness: a full pipe would block sshd.
        let reader = std::thread::spawn(move || {
            let mut ready = Some(ready_tx);
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                if let Ok(mut l) = log.lock() {
                    l.push_str(&line);
                    l.push('\n');
                }
                if line.contains("Server listening on") {
                    if let Some(tx) = ready.take() {
                        let _ = tx.send(());
                    }
                }
            }
        });
        let start = Instant::now();
        loop {
            if ready_rx.recv_timeout(Duration::from_millis(10)).is_ok() {
                self.child = Some(child);
                return Ok(());
            }
            if let Some(status) = child.try_wait().expect("wait for sshd") {
                // No session can exist yet, so stderr is at EOF: the reader ends soon.
                let _ = reader.join();
                let log = self.log().split_off(log_start);
                if log.contains("Address already in use") {
                    return Err(Spawn::PortTaken(log));
                }
                panic!(
                    "sshd on {}:{} exited ({status}) before listening; stderr:\n{log}",
                    self.addr, self.port
                );
            }
            if start.elapsed() > LIMIT {
                let _ = child.kill();
                let _ = child.wait();
                panic!(
                    "sshd on {}:{} did not say `Server listening on` within {LIMIT:?}; stderr:\n{}",
                    self.addr,
                    self.port,
                    self.log()
                );
            }
        }
    }
}

impl Drop for Sshd {
    /// Stops the listener and the sessions under it: a test's leftover connections (a
    /// `ControlPersist` master, a hung command) must not outlive it.
    fn drop(&mut self) {
        self.kill_all();
    }
}

enum Spawn {
    /// sshd could not bind its port: another process took it after [`free_port`] released it.
    PortTaken(String),
}

/// Writes an `ssh_config` file with a block per `(alias, server)`, for `ssh -F` (and for the
/// `config:` field of dagrun's SSH executor).
pub fn write_client_config(path: &Path, hosts: &[(&str, &Sshd)]) {
    let text: Vec<String> = hosts.iter().map(|(alias, s)| s.client_config(alias)).collect();
    std::fs::write(path, text.join("\n")).unwrap_or_else(|e| panic!("write `{}`: {e}", path.display()));
}

/// A temp dir every user may write to (mode 0777), for files the login user writes: task
/// workdirs, marker files, logs.
pub fn shared_tempdir() -> tempfile::TempDir {
    let dir = tempfile::Builder::new().prefix("dagrun-shared-").tempdir().expect("create shared temp dir");
    set_mode(dir.path(), 0o777);
    dir
}

/// The `ssh` client on `PATH`.
pub fn ssh_bin() -> PathBuf {
    on_path("ssh", "openssh-client")
}

/// An `ssh -F config` command with stdin from `/dev/null`; append the alias and the command.
pub fn ssh(config: &Path) -> Command {
    let mut c = Command::new(ssh_bin());
    c.arg("-F").arg(config).stdin(Stdio::null());
    c
}

/// The user sessions log in as: `dagrun-test` (created once) as root, else the current user.
pub fn login_user() -> &'static str {
    static USER: OnceLock<String> = OnceLock::new();
    USER.get_or_init(|| {
        if is_root() {
            std::fs::create_dir_all("/run/sshd").expect("create /run/sshd, which sshd needs as root");
            ensure_test_user();
            TEST_USER.to_owned()
        } else {
            let out = Command::new("id").arg("-un").output().expect("run `id -un`");
            assert!(out.status.success(), "`id -un` failed: {}", String::from_utf8_lossy(&out.stderr));
            String::from_utf8_lossy(&out.stdout).trim().to_owned()
        }
    })
}

fn is_root() -> bool {
    std::fs::metadata("/proc/self").map(|m| m.uid() == 0).unwrap_or(false)
}

/// Creates `dagrun-test` with an unlocked password field (sshd without PAM refuses a `!`
/// one). Other test processes may be doing the same at this moment: `useradd` then says the
/// user exists (exit 9) or finds `/etc/passwd` locked, so this retries until the user is
/// there and usable rather than trusting one exit code.
fn ensure_test_user() {
    let start = Instant::now();
    loop {
        let last = match shadow_password(TEST_USER) {
            Some(p) if !p.starts_with('!') => return own_home(TEST_USER),
            Some(_) => run_quiet(Command::new("usermod").args(["-p", "*", TEST_USER])),
            None => run_quiet(Command::new("useradd").args(["-m", "-s", "/bin/sh", TEST_USER])),
        };
        assert!(start.elapsed() < LIMIT, "could not create user `{TEST_USER}`: {last}");
        if !last.is_empty() {
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

/// Gives `user` its home directory back when a concurrent `useradd` that lost the race for
/// `/etc/passwd` created it first under another uid (measured: it happens).
fn own_home(user: &str) {
    let passwd = std::fs::read_to_string("/etc/passwd").expect("read /etc/passwd");
    let Some((uid, home)) = passwd.lines().find_map(|l| {
        let f: Vec<&str> = l.split(':').collect();
        (f.len() >= 7 && f[0] == user).then(|| (f[2].parse::<u32>().ok(), f[5].to_owned()))
    }) else {
        panic!("user `{user}` vanished from /etc/passwd");
    };
    let owner = std::fs::metadata(&home).map(|m| m.uid()).ok();
    if uid.is_some() && owner.is_some() && owner != uid {
        let err = run_quiet(Command::new("chown").arg("-R").arg(format!("{user}:")).arg(&home));
        assert!(err.is_empty(), "give `{user}` its home `{home}`: {err}");
    }
}

/// The password field of `user` in `/etc/shadow`, `None` if it has no entry.
fn shadow_password(user: &str) -> Option<String> {
    let text = std::fs::read_to_string("/etc/shadow").ok()?;
    text.lines().find_map(|l| {
        let mut f = l.split(':');
        (f.next()? == user).then(|| f.next().unwrap_or_default().to_owned())
    })
}

/// Runs `cmd`; returns "" on success, else its exit status and stderr.
fn run_quiet(cmd: &mut Command) -> String {
    match cmd.stdin(Stdio::null()).output() {
        Ok(o) if o.status.success() => String::new(),
        Ok(o) => format!("{:?}: {} {}", cmd, o.status, String::from_utf8_lossy(&o.stderr).trim()),
        Err(e) => format!("{cmd:?}: {e}"),
    }
}

/// Fails the test (never skips it) when the server is not installed.
fn require_sshd() {
    if Path::new(SSHD).exists() {
        return;
    }
    if std::env::var("CI").as_deref() == Ok("true") {
        panic!("openssh-server is not installed: .ci/run installs it (`{SSHD}` is missing)");
    }
    panic!("openssh-server is not installed (`{SSHD}` is missing): apt-get install -y openssh-server");
}

fn on_path(name: &str, package: &str) -> PathBuf {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain([PathBuf::from("/usr/bin"), PathBuf::from("/bin")])
        .map(|d| d.join(name))
        .find(|p| p.is_file())
        .unwrap_or_else(|| panic!("`{name}` is not on PATH: apt-get install -y {package}"))
}

fn keygen(path: &Path, comment: &str) {
    let out = Command::new(on_path("ssh-keygen", "openssh-client"))
        .args(["-q", "-t", "ed25519", "-N", "", "-C", comment, "-f"])
        .arg(path)
        .stdin(Stdio::null())
        .output()
        .expect("run ssh-keygen");
    assert!(
        out.status.success(),
        "ssh-keygen `{}` failed: {}",
        path.display(),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A port free on `addr` right now. The socket is closed before sshd binds it, so another
/// process can take it in between: [`Sshd::start_with`] retries on "Address already in use".
fn free_port(addr: &str) -> u16 {
    let l = std::net::TcpListener::bind((addr, 0)).unwrap_or_else(|e| panic!("bind {addr}:0: {e}"));
    l.local_addr().expect("local address of a bound socket").port()
}

fn set_mode(path: &Path, mode: u32) {
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
        .unwrap_or_else(|e| panic!("chmod `{}`: {e}", path.display()));
}

/// Whether this OpenSSH knows `PerSourcePenalties` (9.8+); older ones reject the keyword.
fn supports_per_source_penalties() -> bool {
    static YES: OnceLock<bool> = OnceLock::new();
    *YES.get_or_init(|| {
        let Ok(out) = Command::new(ssh_bin()).arg("-V").stdin(Stdio::null()).output() else { return false };
        // `OpenSSH_9.2p1 Debian-2+deb12u3, OpenSSL ...` on stderr.
        let text = String::from_utf8_lossy(&out.stderr);
        let Some(v) = text.strip_prefix("OpenSSH_") else { return false };
        let mut nums = v.split(|c: char| !c.is_ascii_digit()).map(|n| n.parse::<u32>().unwrap_or(0));
        let (major, minor) = (nums.next().unwrap_or(0), nums.next().unwrap_or(0));
        (major, minor) >= (9, 8)
    })
}

/// `(state, ppid)` of `pid` from `/proc/<pid>/stat`.
fn stat(pid: i32) -> Option<(char, i32)> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name is in parentheses and may contain spaces: split after the last `)`.
    let mut f = text[text.rfind(')')? + 1..].split_whitespace();
    let state = f.next()?.chars().next()?;
    let ppid = f.next()?.parse().ok()?;
    Some((state, ppid))
}

fn alive(pid: i32) -> bool {
    matches!(stat(pid), Some((s, _)) if s != 'Z' && s != 'X')
}

/// Every live process under `root` (children, grandchildren, …), not `root` itself.
fn descendants(root: i32) -> Vec<i32> {
    let Ok(dir) = std::fs::read_dir("/proc") else { return Vec::new() };
    let procs: Vec<(i32, i32)> = dir
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<i32>().ok())
        .filter_map(|pid| stat(pid).filter(|(s, _)| *s != 'Z' && *s != 'X').map(|(_, ppid)| (pid, ppid)))
        .collect();
    let mut out = Vec::new();
    let mut frontier = vec![root];
    while let Some(parent) = frontier.pop() {
        for &(pid, ppid) in &procs {
            if ppid == parent && !out.contains(&pid) {
                out.push(pid);
                frontier.push(pid);
            }
        }
    }
    out
}

/// Polls `done` until it holds; fails the test after the harness's limit.
fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let start = Instant::now();
    while !done() {
        assert!(start.elapsed() < LIMIT, "timed out after {LIMIT:?} waiting for {what}");
        std::thread::sleep(Duration::from_millis(10));
    }
}
