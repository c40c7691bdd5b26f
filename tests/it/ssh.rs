//! The `ssh` executor against private sshds (`sshd.rs`): placement and slots across two hosts,
//! env/workdir/exit codes/output, timeout and Ctrl-C killing the remote tree, a host dying
//! mid-run, every host down then `resume`, an unknown host key, multiplexing under sshd's
//! `MaxSessions`, and master connections not outliving the run.
//!
//! Tasks run as the sshd's login user, so everything they write goes to a `shared_tempdir()`
//! (`$DIR` in the workflows). A task knows which host it is on from `$SSH_CONNECTION`, whose
//! third field is the server address (`127.0.0.1` or `127.0.0.2`). Waits poll marker files
//! within `LIMIT`; nothing here sleeps to let something happen or asserts a duration.

use crate::common::*;
use crate::sshd::{self, Sshd};
use dagrun::model::Status;
use nix::sys::signal::{Signal, kill, killpg};
use nix::unistd::Pid;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

/// Appends `TASK ADDRESS` to `$DIR/started`, then waits (bounded) for `$DIR/go`.
const START_AND_WAIT: &str = r#"set -- $SSH_CONNECTION; h=$3
echo "$DAGRUN_TASK $h" >> "$DIR/started"
i=0; while [ ! -e "$DIR/go" ] && [ $i -lt 600 ]; do sleep 0.1; i=$((i + 1)); done
"#;

/// Private sshds, the ssh config reaching them as `h1`, `h2`, … and the directories of a test.
struct Farm {
    hosts: Vec<Sshd>,
    /// Markers and workdirs, writable by the login user.
    shared: tempfile::TempDir,
    /// Workflow, ssh config, state and logs (dagrun's side).
    local: tempfile::TempDir,
    config: PathBuf,
}

impl Farm {
    fn new(addrs: &[&str]) -> Farm {
        Farm::with(addrs.iter().map(|a| Sshd::start(a)).collect())
    }

    fn with(hosts: Vec<Sshd>) -> Farm {
        let local = tempfile::tempdir().unwrap();
        let config = local.path().join("ssh_config");
        let aliases: Vec<String> = (1..=hosts.len()).map(|i| format!("h{i}")).collect();
        let pairs: Vec<(&str, &Sshd)> = aliases.iter().map(String::as_str).zip(hosts.iter()).collect();
        sshd::write_client_config(&config, &pairs);
        Farm { hosts, shared: sshd::shared_tempdir(), local, config }
    }

    fn dir(&self) -> &Path {
        self.shared.path()
    }

    fn state(&self) -> PathBuf {
        self.local.path().join("state.json")
    }

    /// Writes a workflow: `$DIR` in `env`, an ssh executor `farm` over every host with
    /// `executor` lines added to it, and `tasks` (YAML, indented by two spaces).
    fn flow(&self, executor: &str, tasks: &str) -> PathBuf {
        let hosts: Vec<String> = (1..=self.hosts.len()).map(|i| format!("h{i}")).collect();
        let yaml = format!(
            "name: ssh-test\nenv:\n  DIR: \"{dir}\"\nexecutors:\n  farm:\n    type: ssh\n    \
             config: \"{cfg}\"\n    hosts: [{hosts}]\n{executor}tasks:\n{tasks}",
            dir = self.dir().display(),
            cfg = self.config.display(),
            hosts = hosts.join(", "),
        );
        write(self.local.path(), "flow.yaml", &yaml)
    }

    /// `dagrun ARGS` in the background, stdin from `/dev/null`, stderr into `stderr`, in a
    /// process group of its own (as a shell job is, so a "Ctrl-C" can go to the whole group).
    fn spawn(&self, args: &[&str], flow: &Path) -> Child {
        let err = std::fs::File::create(self.local.path().join("stderr")).unwrap();
        dagrun_std()
            .args(args)
            .arg("--state")
            .arg(self.state())
            .arg(flow)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(err)
            .process_group(0)
            .spawn()
            .expect("spawn dagrun")
    }

    /// `dagrun run --progress plain FLOW` to completion (bounded).
    fn run(&self, flow: &Path) -> (i32, String) {
        let mut child = self.spawn(&["run", "--progress", "plain"], flow);
        let status = wait_exit(&mut child, LIMIT);
        (status.code().unwrap_or(-1), self.stderr())
    }

    fn stderr(&self) -> String {
        std::fs::read_to_string(self.local.path().join("stderr")).unwrap_or_default()
    }

    fn logs(&self) -> String {
        self.hosts.iter().map(|h| h.log()).collect::<Vec<_>>().join("\n---\n")
    }

    /// Lines `TASK ADDRESS` the tasks appended to `$DIR/started`.
    fn started(&self) -> Vec<(String, String)> {
        std::fs::read_to_string(self.dir().join("started"))
            .unwrap_or_default()
            .lines()
            .filter_map(|l| l.split_once(' ').map(|(t, h)| (t.to_owned(), h.to_owned())))
            .collect()
    }

    fn started_on(&self, addr: &str) -> usize {
        self.started().iter().filter(|(_, h)| h == addr).count()
    }

    fn go(&self) {
        std::fs::write(self.dir().join("go"), "").unwrap();
    }
}

/// Polls `done` until it holds; fails the test after `LIMIT`.
fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let start = Instant::now();
    while !done() {
        assert!(start.elapsed() < LIMIT, "timed out after {LIMIT:?} waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// `n` tasks `t[i=0]`… of executor `farm` running `cmd` (a block scalar).
fn matrix_tasks(n: usize, cmd: &str, extra: &str) -> String {
    let body: String = cmd.lines().map(|l| format!("      {l}\n")).collect();
    format!(
        "  t:\n    matrix: {{i: \"{{{{ range({n}) }}}}\"}}\n    executor: farm\n{extra}    cmd: |\n{body}"
    )
}

/// `(state, ppid, pgid)` of a live process.
fn stat(pid: i32) -> Option<(char, i32, i32)> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let mut f = text[text.rfind(')')? + 1..].split_whitespace();
    let state = f.next()?.chars().next()?;
    Some((state, f.next()?.parse().ok()?, f.next()?.parse().ok()?))
}

fn pids() -> Vec<i32> {
    std::fs::read_dir("/proc")
        .map(|d| d.filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok()).collect())
        .unwrap_or_default()
}

fn cmdline(pid: i32) -> String {
    std::fs::read(format!("/proc/{pid}/cmdline"))
        .map(|b| String::from_utf8_lossy(&b).replace('\0', " "))
        .unwrap_or_default()
}

/// Live ssh master processes started with `config` (`ssh -F config … ControlMaster=yes`).
fn masters_of(config: &Path) -> Vec<i32> {
    let cfg = config.display().to_string();
    pids()
        .into_iter()
        .filter(|&p| {
            let c = cmdline(p);
            c.starts_with("ssh ") && c.contains("ControlMaster=yes") && c.contains(&cfg) && alive(p)
        })
        .collect()
}

// ---------------------------------------------------------------------------------------------

#[test]
fn tasks_spread_over_both_hosts_within_their_slots() {
    let farm = Farm::new(&["127.0.0.1", "127.0.0.2"]);
    // A counter of running tasks per host, under one lock; every value it reaches is kept.
    let cmd = r#"set -- $SSH_CONNECTION; h=$3
flock "$DIR/lock" sh -c 'n=$(($(cat "$1" 2>/dev/null || echo 0) + 1)); echo $n > "$1"; echo $n >> "$1.seen"' _ "$DIR/running.$h"
echo "$DAGRUN_TASK $h" >> "$DIR/started"
i=0; while [ ! -e "$DIR/go" ] && [ $i -lt 600 ]; do sleep 0.1; i=$((i + 1)); done
echo "$DAGRUN_TASK $h" >> "$DIR/ran"
flock "$DIR/lock" sh -c 'echo $(($(cat "$1") - 1)) > "$1"' _ "$DIR/running.$h"
"#;
    let flow = farm.flow("    slots: 2\n", &matrix_tasks(12, cmd, ""));
    let mut child = farm.spawn(&["run", "--progress", "plain"], &flow);
    // Every slot of both hosts is taken before any task may finish.
    wait_until("two tasks running on each host", || {
        farm.started_on("127.0.0.1") >= 2 && farm.started_on("127.0.0.2") >= 2
    });
    farm.go();
    let status = wait_exit(&mut child, LIMIT);
    let err = farm.stderr();
    assert_eq!(status.code(), Some(0), "{err}\n{}", farm.logs());

    let ran: Vec<(String, String)> = std::fs::read_to_string(farm.dir().join("ran"))
        .unwrap()
        .lines()
        .filter_map(|l| l.split_once(' ').map(|(t, h)| (t.to_owned(), h.to_owned())))
        .collect();
    assert_eq!(ran.len(), 12, "{ran:?}");
    for addr in ["127.0.0.1", "127.0.0.2"] {
        assert!(ran.iter().any(|(_, h)| h == addr), "no task ran on {addr}: {ran:?}");
        let seen = std::fs::read_to_string(farm.dir().join(format!("running.{addr}.seen"))).unwrap();
        let peak = seen.lines().filter_map(|l| l.trim().parse::<u32>().ok()).max().unwrap_or(0);
        assert_eq!(peak, 2, "at most (and, before `go`, exactly) 2 tasks at once on {addr}: {seen}");
    }
    // The state names the host of each task, and it is where the task says it ran.
    let state = load_state(&farm.state());
    assert_eq!(state.tasks.len(), 12);
    for (id, rec) in &state.tasks {
        assert_eq!(rec.status, Status::Succeeded, "{id}");
        let addr = ran.iter().find(|(t, _)| t == id).map(|(_, h)| h.as_str());
        let expected = match addr {
            Some("127.0.0.1") => "h1",
            Some("127.0.0.2") => "h2",
            other => panic!("{id} ran on {other:?}"),
        };
        assert_eq!(rec.host.as_deref(), Some(expected), "{id}");
        assert!(err.contains(&format!("{id} on {expected}")), "plain output names the host of {id}:\n{err}");
    }
}

#[test]
fn env_workdir_exit_codes_and_output_cross_the_connection() {
    let farm = Farm::new(&["127.0.0.1"]);
    let wd = farm.dir().join("work dir");
    std::fs::create_dir(&wd).unwrap();
    std::fs::set_permissions(&wd, std::os::unix::fs::PermissionsExt::from_mode(0o777)).unwrap();
    let tasks = format!(
        "  env:
    executor: farm
    env: {{ TASK_VAR: \"it's a $value\" }}
    cmd: 'printf \"%s|%s\\n\" \"$WF_VAR\" \"$TASK_VAR\" > \"$DIR/env.out\"'
  workdir:
    executor: farm
    workdir: \"{wd}\"
    cmd: 'pwd > \"$DIR/workdir.out\"'
  home:
    executor: farm
    cmd: 'printf \"%s|%s\\n\" \"$(pwd)\" \"$HOME\" > \"$DIR/home.out\"'
  three:
    executor: farm
    cmd: 'exit 3'
  ssh_code:
    executor: farm
    cmd: 'exit 255'
  output:
    executor: farm
    cmd: 'echo to-stdout; echo to-stderr >&2'
  argv:
    executor: farm
    cmd: [printf, '%s\\n', 'a  b', \"c'd\", '$HOME']
  stdin:
    executor: farm
    timeout: 30s
    cmd: 'cat; echo cat-done'
",
        wd = wd.display()
    );
    let flow = farm.flow("", &tasks);
    // Workflow env beside `DIR`.
    let text = std::fs::read_to_string(&flow).unwrap().replacen("env:\n", "env:\n  WF_VAR: \"w v\"\n", 1);
    std::fs::write(&flow, text).unwrap();

    let (code, err) = farm.run(&flow);
    assert_eq!(code, 1, "`three` fails the run:\n{err}\n{}", farm.logs());
    let read = |name: &str| std::fs::read_to_string(farm.dir().join(name)).unwrap_or_default();
    assert_eq!(read("env.out"), "w v|it's a $value\n");
    assert_eq!(read("workdir.out"), format!("{}\n", wd.display()));
    let home = read("home.out");
    let (pwd, h) = home.trim().split_once('|').unwrap();
    assert!(!h.is_empty() && pwd == h, "without `workdir` the task starts in the login home: {home}");

    let state = load_state(&farm.state());
    let rec = |id: &str| state.tasks.get(id).unwrap_or_else(|| panic!("no `{id}` in the state"));
    for id in ["env", "workdir", "home", "output", "argv", "stdin"] {
        assert_eq!(rec(id).status, Status::Succeeded, "{id}: {:?}\n{err}", rec(id).reason);
    }
    assert_eq!(rec("three").status, Status::Failed);
    assert_eq!(rec("three").exit_code, Some(3));
    assert!(rec("three").reason.as_deref().unwrap_or("").contains("exit code 3"), "{:?}", rec("three"));
    assert!(err.contains("exit code 3"), "{err}");
    // 255 is also what ssh exits with when the connection fails: the host still answers.
    assert_eq!(rec("ssh_code").status, Status::Failed);
    assert_eq!(rec("ssh_code").exit_code, Some(255), "{:?}", rec("ssh_code"));
    assert!(rec("ssh_code").lost.is_empty() && !err.contains("host down"), "{err}");

    let log = |id: &str| {
        let rel = rec(id).log.clone().unwrap_or_else(|| panic!("`{id}` has no log"));
        std::fs::read_to_string(farm.state().parent().unwrap().join(rel)).unwrap()
    };
    let out = log("output");
    assert!(out.contains("to-stdout\n") && out.contains("to-stderr\n"), "{out:?}");
    assert_eq!(log("argv"), "a  b\nc'd\n$HOME\n");
    assert_eq!(log("stdin"), "cat-done\n");
}

/// A task that records its pid and its TERM-ignoring background child's, then waits, noting
/// each TERM. It waits with the `wait` builtin, which a trapped signal interrupts at once: a shell
/// waiting on a foreground `sleep` runs its trap only when that sleep ends, and a sleep forked just
/// as the TERM came can miss it (the signal lands before its exec), so the note would never come.
const STUBBORN: &str = r#"sh -c 'trap "" TERM; echo $$ > "$DIR/child"; while :; do sleep 1; done' &
trap 'echo term >> "$DIR/got-term"' TERM
echo $$ > "$DIR/pid"
while [ ! -s "$DIR/child" ]; do sleep 0.05; done
touch "$DIR/marker"
while :; do sleep 1000 & wait $!; done
"#;

/// A workflow of one task `slow` running [`STUBBORN`], with `extra` task lines.
fn stubborn_flow(farm: &Farm, extra: &str) -> PathBuf {
    let body: String = STUBBORN.lines().map(|l| format!("      {l}\n")).collect();
    farm.flow("", &format!("  slow:\n    executor: farm\n{extra}    cmd: |\n{body}"))
}

/// Waits for the stubborn task's marker and returns (task pid, child pid, process group).
fn stubborn_pids(farm: &Farm) -> (i32, i32, i32) {
    wait_for_file(&farm.dir().join("marker"));
    let pid = read_pid(&farm.dir().join("pid"));
    let child = read_pid(&farm.dir().join("child"));
    let pgid = stat(pid).map(|s| s.2).expect("the remote task runs on this machine");
    assert_eq!(stat(child).map(|s| s.2), Some(pgid), "the child is in the task's group");
    (pid, child, pgid)
}

/// The remote task, its child and every process of their group are gone (a process killed a
/// moment ago may still be torn down: [`assert_group_gone`] allows for that).
fn assert_tree_gone(pid: i32, child: i32, pgid: i32) {
    assert_group_gone(pgid);
    assert!(!alive(pid), "the remote task {pid} survived dagrun");
    assert!(!alive(child), "the remote TERM-ignoring child {child} survived dagrun");
}

/// Runs `flow` (one task with `timeout: 1s`) to its end and checks it timed out and its whole
/// remote tree is gone; returns dagrun's stderr.
fn times_out_leaving_nothing(farm: &Farm, flow: &Path) -> String {
    let mut child = farm.spawn(&["run", "--progress", "plain"], flow);
    let (pid, bg, pgid) = stubborn_pids(farm);
    let status = wait_exit(&mut child, LIMIT);
    let err = farm.stderr();
    assert_eq!(status.code(), Some(1), "{err}");
    assert!(err.contains("timed out after 1s"), "{err}");
    assert_tree_gone(pid, bg, pgid);
    err
}

#[test]
fn timeout_kills_the_remote_tree_including_a_term_ignoring_child() {
    let farm = Farm::new(&["127.0.0.1"]);
    let flow = stubborn_flow(&farm, "    timeout: 1s\n");
    let err = times_out_leaving_nothing(&farm, &flow);
    assert!(farm.dir().join("got-term").exists(), "the task got TERM before KILL");
    let state = load_state(&farm.state());
    assert_eq!(state.tasks["slow"].status, Status::Failed);
    assert!(!err.contains("host down"), "a timeout is not the host's fault:\n{err}");
}

/// A task whose shell dies of the TERM while a child of it ignores TERM.
const SHELL_DIES: &str = r#"sh -c 'trap "" TERM; echo $$ > "$DIR/child"; while :; do sleep 1; done' &
echo $$ > "$DIR/pid"
while [ ! -s "$DIR/child" ]; do sleep 0.05; done
touch "$DIR/marker"
wait
"#;

#[test]
fn timeout_kills_a_term_ignoring_child_whose_shell_died_of_the_term() {
    let farm = Farm::new(&["127.0.0.1"]);
    let body: String = SHELL_DIES.lines().map(|l| format!("      {l}\n")).collect();
    let flow = farm.flow("", &format!("  slow:\n    executor: farm\n    timeout: 1s\n    cmd: |\n{body}"));
    times_out_leaving_nothing(&farm, &flow);
}

/// Starts the stubborn task, sends SIGINT with `send`, and checks dagrun waited for the remote
/// tree to die, exited 130 and blamed no host.
fn ctrl_c(send: impl FnOnce(Pid)) {
    let farm = Farm::new(&["127.0.0.1"]);
    let flow = stubborn_flow(&farm, "");
    let mut child = farm.spawn(&["run", "--progress", "plain"], &flow);
    let (pid, bg, pgid) = stubborn_pids(&farm);
    send(Pid::from_raw(child.id() as i32));
    let status = wait_exit(&mut child, LIMIT);
    let err = farm.stderr();
    assert_eq!(status.code(), Some(130), "{err}");
    assert_tree_gone(pid, bg, pgid);
    assert!(farm.dir().join("got-term").exists(), "the task got TERM before KILL");
    let state = load_state(&farm.state());
    assert_eq!(state.tasks["slow"].status, Status::Interrupted, "{err}");
    assert!(state.tasks["slow"].lost.is_empty(), "{:?}", state.tasks["slow"]);
    assert!(!err.contains("host down"), "Ctrl-C is not a lost host:\n{err}");
}

#[test]
fn ctrl_c_kills_the_remote_tree_and_exits_130() {
    ctrl_c(|dagrun| kill(dagrun, Signal::SIGINT).expect("signal dagrun"));
}

/// A terminal's Ctrl-C goes to its whole foreground process group. ssh processes in dagrun's
/// group would die with it: dagrun would exit while the remote tree still ran (the watchdog's
/// KILL comes a grace period later), and a master killed that way would mark its host down.
#[test]
fn ctrl_c_to_the_terminal_group_leaves_the_ssh_processes_to_dagrun() {
    ctrl_c(|dagrun| killpg(dagrun, Signal::SIGINT).expect("signal dagrun's process group"));
}

#[test]
fn a_host_dying_mid_run_sends_its_tasks_to_the_other() {
    let mut farm = Farm::new(&["127.0.0.1", "127.0.0.2"]);
    let flow = farm.flow("    slots: 2\n", &matrix_tasks(6, START_AND_WAIT, ""));
    let mut child = farm.spawn(&["run", "--progress", "plain"], &flow);
    wait_until("two tasks running on each host", || {
        farm.started_on("127.0.0.1") >= 2 && farm.started_on("127.0.0.2") >= 2
    });
    farm.hosts[1].kill_all();
    farm.go();
    let status = wait_exit(&mut child, LIMIT);
    let err = farm.stderr();
    assert_eq!(status.code(), Some(0), "{err}\n{}", farm.logs());
    assert_eq!(err.matches("host down: `h2` of executor `farm`").count(), 1, "reported once:\n{err}");

    let state = load_state(&farm.state());
    let mut lost = 0;
    for (id, rec) in &state.tasks {
        assert_eq!(rec.status, Status::Succeeded, "{id}: {rec:?}");
        assert_eq!(rec.host.as_deref(), Some("h1"), "{id} finished on the live host");
        if !rec.lost.is_empty() {
            lost += 1;
            assert!(rec.lost.iter().all(|why| why.contains("h2")), "{id}: {:?}", rec.lost);
            assert_eq!(rec.attempts, 2, "{id}: one lost attempt, one good: {rec:?}");
        }
    }
    assert!(lost >= 2, "the tasks that were on h2 say why they ran again: {:?}", state.tasks);
}

#[test]
fn every_host_down_fails_clearly_and_resume_finishes_after_they_return() {
    let mut farm = Farm::new(&["127.0.0.1", "127.0.0.2"]);
    let flow = farm.flow("    slots: 2\n", &matrix_tasks(6, START_AND_WAIT, ""));
    let mut child = farm.spawn(&["run", "--progress", "plain"], &flow);
    wait_until("two tasks running on each host", || {
        farm.started_on("127.0.0.1") >= 2 && farm.started_on("127.0.0.2") >= 2
    });
    farm.hosts[0].kill_all();
    farm.hosts[1].kill_all();
    let status = wait_exit(&mut child, LIMIT);
    let err = farm.stderr();
    assert_eq!(status.code(), Some(1), "{err}");
    assert!(err.contains("host down: `h1`") && err.contains("host down: `h2`"), "{err}");
    let state = load_state(&farm.state());
    for (id, rec) in &state.tasks {
        assert_eq!(rec.status, Status::Failed, "{id}: {rec:?}");
        let why = rec.reason.as_deref().unwrap_or("");
        assert!(
            why.contains("no host of executor `farm` can be reached")
                && why.contains("h1")
                && why.contains("h2"),
            "{id}: {why}"
        );
    }

    for h in &mut farm.hosts {
        h.restart();
    }
    farm.go();
    let out = dagrun()
        .args(["resume", "--progress", "plain"])
        .arg(farm.state())
        .write_stdin("")
        .timeout(LIMIT)
        .output()
        .expect("run dagrun resume");
    assert_eq!(out.status.code(), Some(0), "{}\n{}", String::from_utf8_lossy(&out.stderr), farm.logs());
    let state = load_state(&farm.state());
    assert!(state.tasks.values().all(|r| r.status == Status::Succeeded), "{:?}", state.tasks);
}

#[test]
fn every_host_down_from_the_start_fails_naming_them() {
    let mut farm = Farm::new(&["127.0.0.1", "127.0.0.2"]);
    for h in &mut farm.hosts {
        h.kill_all();
    }
    let flow = farm.flow("", &matrix_tasks(2, "true", ""));
    let (code, err) = farm.run(&flow);
    assert_eq!(code, 1, "{err}");
    for h in ["h1", "h2"] {
        assert_eq!(err.matches(&format!("host down: `{h}`")).count(), 1, "{err}");
    }
    assert!(err.contains("Connection refused"), "ssh's reason is kept:\n{err}");
    let state = load_state(&farm.state());
    for rec in state.tasks.values() {
        let why = rec.reason.as_deref().unwrap_or("");
        assert!(why.contains("h1: ") && why.contains("h2: "), "{why}");
    }
}

#[test]
fn an_unknown_host_key_fails_without_prompting_and_leaves_known_hosts_alone() {
    let farm = Farm::new(&["127.0.0.1"]);
    let known = farm.local.path().join("known_hosts_empty");
    std::fs::write(&known, "").unwrap();
    std::fs::write(&farm.config, farm.hosts[0].client_config_using("h1", &known)).unwrap();
    let flow = farm.flow("", "  one:\n    executor: farm\n    cmd: 'touch \"$DIR/ran\"'\n");

    let (code, err) = farm.run(&flow);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("host down: `h1`") && err.contains("Host key verification failed"), "{err}");
    let state = load_state(&farm.state());
    let why = state.tasks["one"].reason.clone().unwrap_or_default();
    assert!(why.contains("h1") && why.contains("Host key verification failed"), "{why}");
    assert_eq!(std::fs::read_to_string(&known).unwrap(), "", "known_hosts was written to");
    assert!(!farm.dir().join("ran").exists());
    assert_eq!(farm.hosts[0].accepted_logins(), 0, "{}", farm.logs());
}

#[test]
fn thirty_slots_on_one_host_stay_within_max_sessions_by_multiplexing() {
    let farm = Farm::new(&["127.0.0.1"]);
    let flow = farm.flow("    slots: 30\n", &matrix_tasks(60, START_AND_WAIT, ""));
    let mut child = farm.spawn(&["run", "--progress", "plain"], &flow);
    wait_until("25 tasks running at once", || farm.started().len() >= 25);
    farm.go();
    let status = wait_exit(&mut child, LIMIT);
    let err = farm.stderr();
    assert_eq!(status.code(), Some(0), "{err}\n{}", farm.logs());
    let state = load_state(&farm.state());
    assert_eq!(state.tasks.len(), 60);
    assert!(state.tasks.values().all(|r| r.status == Status::Succeeded));
    // ceil(30 / 10) = 3 masters; every session went through them.
    let logins = farm.hosts[0].accepted_logins();
    assert!(logins <= 5, "{logins} logins for 60 tasks:\n{}", farm.logs());
}

#[test]
fn no_master_outlives_the_run() {
    let farm = Farm::new(&["127.0.0.1", "127.0.0.2"]);
    let flow = farm.flow("", &matrix_tasks(4, "true", ""));
    let (code, err) = farm.run(&flow);
    assert_eq!(code, 0, "{err}");
    wait_until("the masters to exit after the run", || masters_of(&farm.config).is_empty());
}

#[test]
fn masters_and_remote_tasks_end_after_dagrun_is_sigkilled() {
    let farm = Farm::new(&["127.0.0.1"]);
    let flow = stubborn_flow(&farm, "");
    let mut child = farm.spawn(&["run", "--progress", "plain"], &flow);
    let (pid, bg, pgid) = stubborn_pids(&farm);
    let masters = masters_of(&farm.config);
    assert!(!masters.is_empty(), "a master runs while the task does");
    // The private control directory, from the master's `-o ControlPath=DIR/NAME`.
    let line = cmdline(masters[0]);
    let path = line.split_whitespace().find_map(|w| w.strip_prefix("ControlPath=")).expect("ControlPath");
    let control = Path::new(path).parent().expect("control directory").to_path_buf();
    assert!(control.is_dir(), "{}", control.display());
    kill(Pid::from_raw(child.id() as i32), Signal::SIGKILL).expect("kill dagrun");
    let _ = child.wait();
    // Regression: the control directory of a SIGKILLed dagrun was left in /tmp for good.
    wait_until("the reaper to remove the control directory", || !control.exists());
    // The session's stdin closes with dagrun: the remote watchdog kills the task, and the
    // master, idle then, exits after its ControlPersist (15 s).
    wait_until("the remote task tree to die", || !alive(pid) && !alive(bg) && group_members(pgid).is_empty());
    let start = Instant::now();
    while !masters_of(&farm.config).is_empty() {
        assert!(start.elapsed() < Duration::from_secs(40), "masters outlived ControlPersist");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn a_refused_session_waits_for_room_instead_of_connecting_on_its_own() {
    let farm = Farm::with(vec![Sshd::start_with("127.0.0.1", &["MaxSessions 2"])]);
    let flow = farm.flow("    slots: 6\n", &matrix_tasks(12, START_AND_WAIT, ""));
    let mut child = farm.spawn(&["run", "--progress", "plain"], &flow);
    wait_until("2 tasks running at once", || farm.started().len() >= 2);
    farm.go();
    let status = wait_exit(&mut child, LIMIT);
    let err = farm.stderr();
    assert_eq!(status.code(), Some(0), "{err}\n{}", farm.logs());
    assert!(err.contains("Session open refused by peer"), "the server did refuse sessions:\n{err}");
    assert!(!err.contains("host down"), "{err}");
    // A refused session used to fall back to a connection of its own, past `MaxSessions`.
    assert_eq!(farm.hosts[0].accepted_logins(), 1, "{}", farm.logs());
}

#[test]
fn a_master_killed_between_tasks_is_reopened_without_marking_the_host_down() {
    let farm = Farm::new(&["127.0.0.1"]);
    let tasks = "  a:
    executor: farm
    cmd: 'true'
  gate:
    after: a
    cmd: |
      touch \"$DIR/gate\"
      i=0; while [ ! -e \"$DIR/go\" ] && [ $i -lt 600 ]; do sleep 0.1; i=$((i + 1)); done
  c:
    after: gate
    executor: farm
    cmd: 'touch \"$DIR/c\"'
";
    let flow = farm.flow("", tasks);
    let mut child = farm.spawn(&["run", "--progress", "plain"], &flow);
    wait_for_file(&farm.dir().join("gate"));
    // Killed outright, the master leaves its control socket behind.
    let masters = masters_of(&farm.config);
    assert!(!masters.is_empty());
    for m in masters {
        kill(Pid::from_raw(m), Signal::SIGKILL).expect("kill the master");
    }
    wait_until("the master to die", || masters_of(&farm.config).is_empty());
    farm.go();
    let status = wait_exit(&mut child, LIMIT);
    let err = farm.stderr();
    assert_eq!(status.code(), Some(0), "{err}\n{}", farm.logs());
    assert!(!err.contains("host down"), "{err}");
    assert!(farm.dir().join("c").exists());
    // The session never went around the master: one login for the first, one for the new.
    assert_eq!(farm.hosts[0].accepted_logins(), 2, "{}", farm.logs());
}

/// A task a generator adds on an ssh executor no task of the file uses runs on the executor's
/// host (its connections open when the first such task is placed), not on this machine.
#[test]
fn a_generated_task_on_an_otherwise_unused_ssh_executor_runs_remotely() {
    let farm = Farm::new(&["127.0.0.2"]);
    write(
        farm.dir(),
        "fragment.yaml",
        "tasks:\n  remote:\n    executor: farm\n    cmd: 'set -- $SSH_CONNECTION; echo \"$DAGRUN_TASK $3\" >> \"$DIR/started\"'\n",
    );
    let flow = farm.flow("", "  gen:\n    generator: true\n    cmd: 'cat \"$DIR/fragment.yaml\"'\n");
    let (code, err) = farm.run(&flow);
    assert_eq!(code, 0, "{err}\n{}", farm.logs());
    assert_eq!(farm.started(), [("gen/remote".to_owned(), "127.0.0.2".to_owned())], "{err}");
}
