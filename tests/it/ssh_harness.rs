//! Smoke tests of the private-sshd harness (`sshd.rs`): two hosts answer, host keys are
//! checked, multiplexing works, and a host can die mid-session and come back. The SSH
//! executor's tests build on these facts.

use crate::sshd::{self, Sshd};
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Output, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// Bound on one ssh command here; far above the ~0.2 s a fresh connection takes.
const LIMIT: Duration = Duration::from_secs(30);

/// Runs `ssh -F config alias command` to completion within `LIMIT`.
fn ssh_run(config: &Path, alias: &str, command: &str) -> Output {
    let child = sshd::ssh(config)
        .arg(alias)
        .arg(command)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start ssh");
    wait_output(child, LIMIT)
}

/// Collects `child`'s output, killing it and failing the test if it outlives `limit`.
fn wait_output(mut child: Child, limit: Duration) -> Output {
    let start = Instant::now();
    while child.try_wait().expect("wait for ssh").is_none() {
        if start.elapsed() > limit {
            let _ = child.kill();
            let out = child.wait_with_output().expect("collect ssh output");
            panic!("ssh did not exit within {limit:?}; stderr:\n{}", String::from_utf8_lossy(&out.stderr));
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    child.wait_with_output().expect("collect ssh output")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn assert_ok(out: &Output, what: &str) {
    assert!(out.status.success(), "{what}: {}\nstderr:\n{}", out.status, text(&out.stderr));
}

fn uid_of(user: &str) -> String {
    let out = std::process::Command::new("id").args(["-u", user]).output().expect("run id");
    assert_ok(&out, "id -u");
    text(&out.stdout).trim().to_owned()
}

#[test]
fn two_hosts_answer_as_the_login_user() {
    let (h1, h2) = (Sshd::start("127.0.0.1"), Sshd::start("127.0.0.2"));
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("ssh_config");
    sshd::write_client_config(&cfg, &[("h1", &h1), ("h2", &h2)]);
    let expected = format!("{}\n{}\n", h1.user(), uid_of(h1.user()));

    for (alias, host) in [("h1", &h1), ("h2", &h2)] {
        let out = ssh_run(&cfg, alias, "echo $USER; id -u");
        assert_ok(&out, alias);
        assert_eq!(text(&out.stdout), expected, "{alias}; sshd log:\n{}", host.log());
        assert_eq!(host.accepted_logins(), 1, "{alias} is a separate server; log:\n{}", host.log());
    }
    if sshd::login_user() == sshd::TEST_USER {
        assert_ne!(uid_of(h1.user()), "0", "as root, sessions log in as the dedicated user");
    }
}

#[test]
fn unknown_or_changed_host_key_fails_fast_in_batch_mode() {
    let h1 = Sshd::start("127.0.0.1");
    let dir = tempfile::tempdir().unwrap();

    let empty = dir.path().join("known_hosts_empty");
    std::fs::write(&empty, "").unwrap();
    // Another server's key recorded under this one's name, as after a host was reinstalled.
    let other = Sshd::start("127.0.0.1");
    let wrong = dir.path().join("known_hosts_wrong");
    let other_line = other.known_hosts_line();
    let key = other_line.split_once(' ').expect("known_hosts line").1;
    std::fs::write(&wrong, format!("[{}]:{} {key}", h1.addr(), h1.port())).unwrap();

    for (case, known_hosts) in [("unknown key", &empty), ("changed key", &wrong)] {
        let cfg = dir.path().join("ssh_config");
        std::fs::write(&cfg, h1.client_config_using("h1", known_hosts)).unwrap();
        let start = Instant::now();
        let out = ssh_run(&cfg, "h1", "true");
        let took = start.elapsed();
        assert_eq!(out.status.code(), Some(255), "{case}: {}", text(&out.stderr));
        assert!(text(&out.stderr).contains("Host key verification failed"), "{case}: {}", text(&out.stderr));
        // No prompt and no hang: one key exchange, then the client gives up.
        assert!(took < Duration::from_secs(5), "{case}: took {took:?}");
        // The client never wrote the key it was offered into the file it was given.
        assert!(!std::fs::read_to_string(known_hosts).unwrap().contains(&h1.known_hosts_line()));
    }
    assert_eq!(h1.accepted_logins(), 0, "no login got past host key checking:\n{}", h1.log());
}

#[test]
fn commands_run_through_one_control_master() {
    let h1 = Sshd::start("127.0.0.1");
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("ssh_config");
    sshd::write_client_config(&cfg, &[("h1", &h1)]);
    let control = dir.path().join("cm");
    let control_opt = format!("ControlPath={}", control.display());

    // `-f` forks the master into the background, which keeps the stdout and stderr it was
    // given: pipes here would make the wait for their EOF last until ControlPersist expires.
    let master_log = dir.path().join("master.log");
    let status = sshd::ssh(&cfg)
        .args(["-o", "ControlMaster=yes", "-o", &control_opt, "-o", "ControlPersist=5s", "-N", "-f", "h1"])
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&master_log).unwrap())
        .status()
        .expect("start master");
    assert!(
        status.success(),
        "master: {status}; {}",
        std::fs::read_to_string(&master_log).unwrap_or_default()
    );

    for i in 0..20 {
        let out = sshd::ssh(&cfg)
            .args(["-o", "ControlMaster=no", "-o", &control_opt, "h1", &format!("echo {i}")])
            .output()
            .expect("run ssh");
        assert_ok(&out, "command through the master");
        assert_eq!(text(&out.stdout), format!("{i}\n"));
    }
    // A client that cannot reach the master silently connects directly: one login proves
    // every command went through the master.
    assert_eq!(h1.accepted_logins(), 1, "sshd log:\n{}", h1.log());

    let out = sshd::ssh(&cfg).args(["-o", &control_opt, "-O", "exit", "h1"]).output().expect("ssh -O exit");
    assert_ok(&out, "ssh -O exit");
    let start = Instant::now();
    while control.exists() {
        assert!(start.elapsed() < LIMIT, "the master kept its socket after `-O exit`");
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn kill_all_ends_open_sessions_and_restart_brings_the_host_back() {
    let mut h1 = Sshd::start("127.0.0.1");
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("ssh_config");
    sshd::write_client_config(&cfg, &[("h1", &h1)]);

    let mut client = sshd::ssh(&cfg)
        .args(["h1", "echo $$; exec sleep 100"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start ssh");
    let stdout = client.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut line = String::new();
        let _ = BufReader::new(stdout).read_line(&mut line);
        let _ = tx.send(line);
    });
    let line = rx.recv_timeout(LIMIT).expect("the remote shell printed its pid");
    let remote: i32 =
        line.trim().parse().unwrap_or_else(|_| panic!("not a pid: {line:?}; log:\n{}", h1.log()));
    assert!(Path::new(&format!("/proc/{remote}")).exists());

    h1.kill_all();
    let out = wait_output(client, LIMIT);
    assert_eq!(out.status.code(), Some(255), "client of a dead host: {}", text(&out.stderr));
    let gone = |pid: i32| {
        std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .map(|s| s.rsplit_once(") ").is_some_and(|(_, r)| r.starts_with('Z') || r.starts_with('X')))
            .unwrap_or(true)
    };
    assert!(gone(remote), "the remote `sleep` survived kill_all");
    let refused = ssh_run(&cfg, "h1", "true");
    assert_eq!(refused.status.code(), Some(255));
    assert!(text(&refused.stderr).contains("Connection refused"), "{}", text(&refused.stderr));

    h1.restart();
    // Same address, port and host key: the old config and known_hosts still work.
    let out = ssh_run(&cfg, "h1", "echo back");
    assert_ok(&out, "after restart");
    assert_eq!(text(&out.stdout), "back\n");
}
