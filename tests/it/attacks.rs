//! Regressions for the defects found by attacking dagrun's promises: kill -9 at the worst
//! moment, SIGSTOP across a timeout, SIGHUP, `ulimit -f` and `ulimit -u`, planted journal files,
//! hostile numbers and control characters in a state, expressions deep enough to overflow a
//! stack, ids too long for a file name, and two state files sharing a directory.

use crate::common::*;
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};

/// Spawns `dagrun run --progress plain` with stderr (where plain progress goes) piped, to be
/// read line by line.
fn spawn_plain(dir: &Path, flow: &Path) -> Child {
    dagrun_std()
        .args(["run", "--progress", "plain", "--state", "st/state.json"])
        .arg(flow)
        .current_dir(dir)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn dagrun")
}

/// Reads `child`'s stderr until a line starting with `prefix`; panics if it ends first.
fn read_until(child: &mut Child, prefix: &str) -> std::io::BufReader<std::process::ChildStderr> {
    let mut out = std::io::BufReader::new(child.stderr.take().expect("piped stderr"));
    let mut line = String::new();
    loop {
        line.clear();
        let n = out.read_line(&mut line).expect("read dagrun's output");
        assert!(n > 0, "dagrun ended before printing `{prefix}`");
        if line.starts_with(prefix) {
            return out;
        }
    }
}

/// The children of `pid` (all its threads').
fn children_of(pid: i32) -> Vec<i32> {
    let mut out = Vec::new();
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else { return out };
    for t in tasks.flatten() {
        if let Ok(text) = std::fs::read_to_string(t.path().join("children")) {
            out.extend(text.split_whitespace().filter_map(|p| p.parse::<i32>().ok()));
        }
    }
    out
}

fn cmdline(pid: i32) -> String {
    std::fs::read(format!("/proc/{pid}/cmdline"))
        .map(|b| String::from_utf8_lossy(&b).replace('\0', " "))
        .unwrap_or_default()
}

/// Live processes whose command line holds `token`.
fn processes_with(token: &str) -> Vec<i32> {
    let Ok(dir) = std::fs::read_dir("/proc") else { return Vec::new() };
    dir.filter_map(|e| e.ok()?.file_name().to_str()?.parse::<i32>().ok())
        .filter(|&p| alive(p) && cmdline(p).contains(token))
        .collect()
}

/// Polls until `pid` is gone; panics after `LIMIT`.
fn wait_gone(pid: i32) {
    let start = std::time::Instant::now();
    while alive(pid) {
        assert!(start.elapsed() < LIMIT, "process {pid} did not exit");
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
}

#[test]
fn a_task_started_just_before_a_kill_9_never_outlives_dagrun() {
    // The reaper is told of a task's group by the task's own process, before its exec: a kill
    // the moment `start` is printed (before, during or after the spawn) leaves nothing running.
    for round in 0..10 {
        let tmp = tempfile::tempdir().unwrap();
        let d = tmp.path();
        let token = format!("30{}.{round}{}", std::process::id(), d.display().to_string().len());
        let flow = write(d, "flow.yaml", &format!("tasks:\n  t: {{cmd: 'exec sleep {token}'}}\n"));
        let mut child = spawn_plain(d, &flow);
        let _out = read_until(&mut child, "start    t");
        let dagrun_pid = child.id() as i32;
        let started = std::time::Instant::now();
        let reapers: Vec<i32> = loop {
            let r: Vec<i32> =
                children_of(dagrun_pid).into_iter().filter(|&p| cmdline(p).contains("__reaper")).collect();
            if !r.is_empty() {
                break r;
            }
            assert!(started.elapsed() < LIMIT, "round {round}: dagrun has no reaper");
            std::thread::sleep(std::time::Duration::from_millis(5));
        };
        assert_eq!(reapers.len(), 1, "round {round}: dagrun has one reaper");
        kill(Pid::from_raw(dagrun_pid), Signal::SIGKILL).unwrap();
        child.wait().unwrap();
        // The reaper exits once it has killed every group it knows of.
        wait_gone(reapers[0]);
        let left = processes_with(&token);
        for &p in &left {
            wait_gone_or(p, &left, round);
        }
    }
}

/// A process SIGKILLed a moment ago may still be torn down; one that is not dying is a survivor.
fn wait_gone_or(p: i32, all: &[i32], round: usize) {
    let start = std::time::Instant::now();
    while alive(p) {
        if start.elapsed() > std::time::Duration::from_secs(10) {
            for &q in all {
                let _ = kill(Pid::from_raw(q), Signal::SIGKILL);
            }
            panic!("round {round}: task process {p} ({}) outlived dagrun and its reaper", cmdline(p));
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
}

#[test]
fn a_generator_recorded_succeeded_always_has_its_output_recorded() {
    // Killed the moment its success is shown, the state holds both or neither: never a success
    // without the tasks it added (which made resume run it again).
    for round in 0..3 {
        let tmp = tempfile::tempdir().unwrap();
        let d = tmp.path();
        let flow = write(
            d,
            "flow.yaml",
            "tasks:
  gen:
    generator: true
    cmd: |
      echo 'tasks:'
      i=0; while [ $i -lt 20000 ]; do echo \"  p$i: {cmd: 'true'}\"; i=$((i+1)); done
  after: {after: [gen], cmd: 'true'}
",
        );
        let mut child = spawn_plain(d, &flow);
        let _out = read_until(&mut child, "ok       gen");
        kill(Pid::from_raw(child.id() as i32), Signal::SIGKILL).unwrap();
        child.wait().unwrap();
        let state = load_state(&d.join("st/state.json"));
        assert_eq!(state.tasks["gen"].status, dagrun::model::Status::Succeeded, "round {round}");
        assert!(state.generators.contains_key("gen"), "round {round}: a success without its output");
        let Ran { code, stdout: out, stderr: err, .. } =
            dagrun_in(d, &["resume", "--dry-run", "st/state.json"]);
        assert_eq!(code, 0, "{err}");
        assert!(
            !out.lines().any(|l| l.trim_start().split_once(". ").is_some_and(|(_, t)| t.starts_with("gen:"))),
            "gen runs again:\n{out}"
        );
    }
}

/// Expressions deep enough to overflow minijinja's recursive parser.
fn deep_expressions() -> Vec<String> {
    vec![
        format!("{{{{ {}1 }}}}", "-".repeat(30_000)),
        format!("{{{{ {}true }}}}", "not ".repeat(100_000)),
        format!("{{{{ {}1 }}}}", "1 + ".repeat(30_000)),
    ]
}

#[test]
fn deep_template_expressions_are_invalid_workflows_not_a_stack_overflow() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    for (k, expr) in deep_expressions().into_iter().enumerate() {
        let name = format!("deep{k}.yaml");
        write(d, &name, &format!("tasks:\n  t:\n    cmd: \"echo {expr}\"\n"));
        for cmd in ["validate", "run", "graph"] {
            let Ran { code, stderr: err, .. } = dagrun_in(d, &[cmd, &name]);
            assert_eq!(code, 3, "{cmd} {name}: {err}");
            assert!(err.contains(&name) && err.contains("task `t`") && err.contains("field `cmd`"), "{err}");
            assert!(err.contains("more than 500 operators"), "{err}");
        }
    }
    // An ordinary long expression is still fine.
    write(d, "fine.yaml", &format!("tasks:\n  t:\n    cmd: \"echo {{{{ {}1 }}}}\"\n", "1 + ".repeat(200)));
    let Ran { code, stderr: err, .. } = dagrun_in(d, &["validate", "fine.yaml"]);
    assert_eq!(code, 0, "{err}");
}

#[test]
fn a_deep_expression_in_generated_output_fails_only_that_generator() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let expr = &deep_expressions()[0];
    write(d, "frag.yaml", &format!("tasks:\n  p:\n    cmd: \"echo {expr}\"\n"));
    let flow = write(
        d,
        "flow.yaml",
        "tasks:\n  gen: {generator: true, cmd: 'cat frag.yaml'}\n  other: {cmd: 'touch other.done'}\n",
    );
    let Ran { code, stderr: err, .. } = dagrun_in(d, &["run", "--progress", "plain", flow.to_str().unwrap()]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("more than 500 operators"), "{err}");
    assert!(d.join("other.done").exists(), "the rest of the run went on");
    // The state it left resumes and graphs without aborting.
    let state = d.join(".dagrun/flow/state.json");
    let Ran { code, stderr: err, .. } = dagrun_in(d, &["resume", "--dry-run", state.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    let Ran { code, stderr: err, .. } =
        dagrun_in(d, &["graph", "--state", state.to_str().unwrap(), "flow.yaml"]);
    assert_eq!(code, 0, "{err}");
}

#[test]
fn dagrun_stopped_past_a_timeout_judges_a_finished_task_by_its_exit() {
    // Each task waits for `go`, then exits 0. dagrun is stopped (Ctrl-Z) before `go` is given
    // and continued only after the tasks have exited and their timeouts have passed.
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let mut tasks = String::new();
    for k in 0..3 {
        tasks.push_str(&format!(
            "  t{k}:\n    timeout: 1s\n    cmd: 'echo $$ > pid{k}; touch started{k}; while [ ! -e go ]; do sleep 0.01; done; echo finished'\n"
        ));
    }
    // Three slots, so that all three run at once whatever the number of CPUs.
    let flow =
        write(d, "flow.yaml", &format!("executors:\n  local: {{type: local, slots: 3}}\ntasks:\n{tasks}"));
    let mut child = dagrun_std()
        .args(["run", "--progress", "plain", "--state", "st/state.json"])
        .arg(&flow)
        .current_dir(d)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(d.join("stderr")).unwrap())
        .spawn()
        .unwrap();
    for k in 0..3 {
        wait_for_file(&d.join(format!("started{k}")));
    }
    let since = std::time::Instant::now();
    let pid = Pid::from_raw(child.id() as i32);
    kill(pid, Signal::SIGSTOP).unwrap();
    std::fs::write(d.join("go"), "").unwrap();
    for k in 0..3 {
        wait_gone(read_pid(&d.join(format!("pid{k}"))));
    }
    // The timers must have run out while dagrun was stopped: that is the case under test.
    while since.elapsed() < std::time::Duration::from_millis(1500) {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    kill(pid, Signal::SIGCONT).unwrap();
    let status = wait_exit(&mut child, LIMIT);
    let err = std::fs::read_to_string(d.join("stderr")).unwrap();
    assert_eq!(status.code(), Some(0), "{err}");
    let state = load_state(&d.join("st/state.json"));
    for k in 0..3 {
        let r = &state.tasks[&format!("t{k}")];
        assert_eq!(r.status, dagrun::model::Status::Succeeded, "{r:?}\n{err}");
    }
}

#[test]
fn sighup_stops_the_run_like_sigterm() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let flow = write(
        d,
        "flow.yaml",
        "tasks:\n  long:\n    cmd: |\n      trap 'touch got-term; exit 1' TERM\n      echo $$ > pid\n      touch marker\n      while :; do sleep 1000 & wait $!; done\n",
    );
    let mut child = dagrun_std()
        .args(["run", "--progress", "plain", "--state", "st/state.json"])
        .arg(&flow)
        .current_dir(d)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(d.join("stderr")).unwrap())
        .spawn()
        .unwrap();
    wait_for_file(&d.join("marker"));
    let task = read_pid(&d.join("pid"));
    kill(Pid::from_raw(child.id() as i32), Signal::SIGHUP).unwrap();
    let status = wait_exit(&mut child, LIMIT);
    let err = std::fs::read_to_string(d.join("stderr")).unwrap();
    assert_eq!(status.code(), Some(143), "{err}");
    assert!(d.join("got-term").exists(), "the task got its TERM, not a bare KILL");
    assert_group_gone(task);
    let state = load_state(&d.join("st/state.json"));
    assert_eq!(state.tasks["long"].status, dagrun::model::Status::Interrupted);
}

#[test]
fn a_state_past_the_file_size_limit_is_a_state_error_not_sigxfsz() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let tasks: String = (0..300).map(|i| format!("  task_with_a_long_name_{i}: {{cmd: 'true'}}\n")).collect();
    write(d, "flow.yaml", &format!("tasks:\n{tasks}"));
    let out = std::process::Command::new("sh")
        .current_dir(d)
        .arg("-c")
        .arg("ulimit -f 16 && exec \"$0\" run --progress none flow.yaml")
        .arg(assert_cmd::cargo::cargo_bin("dagrun"))
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(4), "{:?}: {err}", out.status);
    assert!(err.contains("File too large") || err.contains("too large"), "{err}");
}

#[test]
fn without_a_reaper_no_task_starts() {
    // RLIMIT_NPROC is not enforced for root: as root the run is made as `nobody`.
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    std::fs::set_permissions(d, std::os::unix::fs::PermissionsExt::from_mode(0o777)).unwrap();
    write(d, "flow.yaml", "tasks:\n  t: {cmd: 'touch ran'}\n");
    let bin = assert_cmd::cargo::cargo_bin("dagrun");
    let mut cmd = std::process::Command::new("prlimit");
    cmd.arg("--nproc=1");
    // SAFETY: geteuid has no preconditions.
    if unsafe { nix::libc::geteuid() } == 0 {
        cmd.args(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]);
    }
    let out = cmd
        .arg(&bin)
        .args(["run", "--progress", "none", "flow.yaml"])
        .current_dir(d)
        .env("NO_COLOR", "1")
        .output()
        .expect("run prlimit");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!err.contains("panicked"), "{err}");
    assert_ne!(out.status.code(), Some(0), "{err}");
    assert!(err.contains("cannot start the helper process that kills tasks"), "{err}");
    assert!(!d.join("ran").exists(), "a task ran without a reaper");
}

/// A finished run's state in `d`, and its path.
fn finished_state(d: &Path) -> PathBuf {
    write(d, "flow.yaml", "tasks:\n  a: {cmd: 'true'}\n");
    let Ran { code, stderr: err, .. } =
        dagrun_in(d, &["run", "--progress", "none", "--state", "st/state.json", "flow.yaml"]);
    assert_eq!(code, 0, "{err}");
    d.join("st/state.json")
}

#[test]
fn a_journal_that_is_a_fifo_or_a_link_to_a_device_is_refused_unread() {
    for kind in ["fifo", "zero"] {
        let tmp = tempfile::tempdir().unwrap();
        let d = tmp.path();
        let state = finished_state(d);
        let journal = dagrun::state::store::journal_path(&state);
        match kind {
            "fifo" => nix::unistd::mkfifo(&journal, nix::sys::stat::Mode::from_bits_truncate(0o600)).unwrap(),
            _ => std::os::unix::fs::symlink("/dev/zero", &journal).unwrap(),
        }
        let s = state.to_str().unwrap();
        for args in
            [vec!["status", s], vec!["resume", "--dry-run", s], vec!["graph", "--state", s, "flow.yaml"]]
        {
            let Ran { code, stderr: err, .. } = dagrun_in(d, &args);
            assert_eq!(code, 4, "{kind} {args:?}: {err}");
            assert!(err.contains("journal"), "{kind}: {err}");
        }
    }
}

#[test]
fn hostile_numbers_in_a_state_are_state_errors() {
    for (field, value) in
        [("elapsed_secs", "1e20"), ("elapsed_secs", "-5"), ("epoch", "18446744073709551615")]
    {
        let tmp = tempfile::tempdir().unwrap();
        let d = tmp.path();
        let state = finished_state(d);
        let mut v: serde_json::Value = serde_json::from_slice(&std::fs::read(&state).unwrap()).unwrap();
        v["run"][field] = serde_json::from_str(value).unwrap();
        std::fs::write(&state, serde_json::to_vec(&v).unwrap()).unwrap();
        for cmd in ["status", "resume"] {
            let Ran { code, stderr: err, .. } = dagrun_in(d, &[cmd, "st/state.json"]);
            assert_eq!(code, 4, "{field}={value} {cmd}: {err}");
            assert!(err.contains(field), "{err}");
        }
    }
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let state = finished_state(d);
    let mut v: serde_json::Value = serde_json::from_slice(&std::fs::read(&state).unwrap()).unwrap();
    v["tasks"]["a"]["attempts"] = 4294967295u32.into();
    v["tasks"]["a"]["status"] = "failed".into();
    std::fs::write(&state, serde_json::to_vec(&v).unwrap()).unwrap();
    let Ran { code, stderr: err, .. } = dagrun_in(d, &["resume", "st/state.json"]);
    assert_eq!(code, 4, "{err}");
    assert!(err.contains("4294967295 attempts"), "{err}");
}

#[test]
fn status_escapes_control_characters_from_the_state() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    write(d, "flow.yaml", "tasks:\n  a: {cmd: 'exit 3'}\n");
    let Ran { code, stderr: err, .. } =
        dagrun_in(d, &["run", "--progress", "none", "--state", "st/state.json", "flow.yaml"]);
    assert_eq!(code, 1, "{err}");
    let state = d.join("st/state.json");
    let mut v: serde_json::Value = serde_json::from_slice(&std::fs::read(&state).unwrap()).unwrap();
    v["workflow"]["name"] = "\u{1b}]0;owned\u{7}".into();
    v["tasks"]["a"]["reason"] = "\u{1b}[2Jcleared".into();
    let a = v["tasks"]["a"].clone();
    v["tasks"]["\u{1b}[31mred"] = a;
    std::fs::write(&state, serde_json::to_vec(&v).unwrap()).unwrap();
    let Ran { code, stdout: out, stderr: err, .. } = dagrun_in(d, &["status", "st/state.json"]);
    assert_eq!(code, 0, "{err}");
    assert!(!out.contains('\u{1b}') && !out.contains('\u{7}'), "raw control characters: {out:?}");
    assert!(out.contains("\\u{1b}[2Jcleared"), "{out}");
}

#[test]
fn ids_too_long_for_a_file_name_run_and_an_empty_program_is_invalid() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let long = "v".repeat(300);
    let accents = "é".repeat(90);
    write(
        d,
        "flow.yaml",
        &format!(
            "tasks:\n  t:\n    matrix: {{a: ['{long}', '{accents}'], b: [x]}}\n    cmd: 'echo {{{{ a | length }}}}'\n"
        ),
    );
    let Ran { code, stderr: err, .. } =
        dagrun_in(d, &["run", "--progress", "none", "--state", "st/state.json", "flow.yaml"]);
    assert_eq!(code, 0, "{err}");
    let state = load_state(&d.join("st/state.json"));
    let logs: Vec<&str> = state.tasks.values().map(|r| r.log.as_deref().unwrap()).collect();
    assert_eq!(logs.len(), 2);
    assert_ne!(logs[0], logs[1]);
    let mut printed: Vec<String> = logs
        .iter()
        .map(|l| std::fs::read_to_string(d.join("st").join(l)).unwrap().trim().to_owned())
        .collect();
    printed.sort();
    assert_eq!(printed, ["300", "90"]);

    write(d, "empty.yaml", "tasks:\n  t: {cmd: ['']}\n");
    let Ran { code, stderr: err, .. } = dagrun_in(d, &["validate", "empty.yaml"]);
    assert_eq!(code, 3, "{err}");
    assert!(
        err.contains("task `t`") && err.contains("the program (the list's first item) is empty"),
        "{err}"
    );
}

#[test]
fn two_state_files_in_one_directory_keep_their_logs_apart() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    write(d, "one.yaml", "tasks:\n  t: {cmd: 'echo one'}\n");
    write(d, "two.yaml", "tasks:\n  t: {cmd: 'echo two'}\n");
    for (flow, state) in [("one.yaml", "d/one.json"), ("two.yaml", "d/two.json")] {
        let Ran { code, stderr: err, .. } =
            dagrun_in(d, &["run", "--progress", "none", "--state", state, flow]);
        assert_eq!(code, 0, "{err}");
    }
    for (state, word) in [("d/one.json", "one"), ("d/two.json", "two")] {
        let s = load_state(&d.join(state));
        let log = d.join("d").join(s.tasks["t"].log.as_deref().unwrap());
        assert_eq!(std::fs::read_to_string(&log).unwrap(), format!("{word}\n"), "{}", log.display());
    }
    // The first to use `logs/` keeps it, run after run.
    let Ran { code, stderr: err, .. } =
        dagrun_in(d, &["run", "--progress", "none", "--state", "d/one.json", "one.yaml"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(load_state(&d.join("d/one.json")).tasks["t"].log.as_deref(), Some("logs/t.1.log"));
}

#[test]
fn a_run_removes_snapshot_temp_files_a_killed_run_left() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let state = finished_state(d);
    let left = d.join("st/.state.json.AbC123.dagrun-tmp");
    let other = d.join("st/.other.json.AbC123.dagrun-tmp");
    std::fs::write(&left, "{ half a snapshot").unwrap();
    std::fs::write(&other, "another state's").unwrap();
    let Ran { code, stderr: err, .. } =
        dagrun_in(d, &["run", "--progress", "none", "--state", "st/state.json", "flow.yaml"]);
    assert_eq!(code, 0, "{err}");
    assert!(!left.exists(), "the leftover temp file is still there");
    assert!(other.exists(), "another state's file was removed");
    let stray: Vec<_> = std::fs::read_dir(state.parent().unwrap())
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".dagrun-tmp") && n.starts_with(".state.json"))
        .collect();
    assert!(stray.is_empty(), "{stray:?}");
}

#[test]
fn resuming_when_the_workflows_directory_is_gone_says_what_to_pass() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    std::fs::create_dir(d.join("wf")).unwrap();
    write(&d.join("wf"), "flow.yaml", "tasks:\n  a: {cmd: 'exit 1'}\n");
    let Ran { code, stderr: err, .. } =
        dagrun_in(d, &["run", "--progress", "none", "--state", "st/state.json", "wf/flow.yaml"]);
    assert_eq!(code, 1, "{err}");
    std::fs::remove_dir_all(d.join("wf")).unwrap();
    let Ran { code, stderr: err, .. } = dagrun_in(d, &["resume", "st/state.json"]);
    assert_eq!(code, 4, "{err}");
    assert!(err.contains("and so is its directory") && err.contains("--workflow FILE"), "{err}");
    assert!(!err.contains("is not a directory"), "{err}");
}

/// Under a low open-file limit, tasks that cannot start for want of file descriptors wait for
/// others to end instead of failing at once: every task of a wide run succeeds.
#[test]
fn under_a_low_fd_limit_tasks_wait_for_descriptors_instead_of_failing() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    // All 60 are ready at once and started in one pass, before any exit is seen, so each holds
    // its descriptors while the others start.
    write(
        d,
        "flow.yaml",
        "executors:\n  local: {type: local, slots: 100}\ntasks:\n  t:\n    matrix: {i: \"{{ range(60) }}\"}\n    \
         cmd: 'true'\n",
    );
    let bin = assert_cmd::cargo::cargo_bin("dagrun");
    let out = std::process::Command::new("prlimit")
        .arg("--nofile=48")
        .arg(&bin)
        .args(["run", "--progress", "plain", "flow.yaml"])
        .current_dir(d)
        .env("NO_COLOR", "1")
        .output()
        .expect("run prlimit");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert!(err.contains("run succeeded") && err.contains("60 succeeded"), "{err}");
    assert!(err.contains("cannot start yet: "), "the limit never bit; the test proves nothing:\n{err}");
}
