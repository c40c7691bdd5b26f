//! Stopping a run: Ctrl-C, SIGTERM, a second Ctrl-C, `--fail-fast`. Each test waits for a
//! marker file written by the task, signals dagrun, and checks that no process of the task's
//! process group survived.

use crate::common::*;
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use std::path::Path;
use std::process::{Child, Stdio};
use std::time::Duration;

fn env_dir(dir: &Path) -> String {
    format!("env:\n  DIR: \"{}\"\n", dir.display())
}

/// Spawns `dagrun run --progress plain FLOW ARGS`, its stderr going to `<dir>/stderr`.
fn spawn(dir: &Path, flow: &Path, args: &[&str]) -> Child {
    let err = std::fs::File::create(dir.join("stderr")).unwrap();
    dagrun_std()
        .args(["run", "--progress", "plain"])
        .args(args)
        .arg(flow)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(err)
        .spawn()
        .expect("spawn dagrun")
}

fn signal(child: &Child, sig: Signal) {
    kill(Pid::from_raw(child.id() as i32), sig).expect("signal dagrun");
}

fn stderr_of(dir: &Path) -> String {
    std::fs::read_to_string(dir.join("stderr")).unwrap()
}

/// A task with a background child and a foreground child, both long-lived.
fn long_task_flow(d: &Path) -> std::path::PathBuf {
    let yaml = format!(
        "{}tasks:
  long:
    cmd: |
      sleep 1000 &
      echo $! > \"$DIR/bgpid\"
      echo $$ > \"$DIR/pid\"
      touch \"$DIR/marker\"
      sleep 1000
  later:
    after: long
    cmd: 'touch \"$DIR/later\"'
",
        env_dir(d)
    );
    write(d, "flow.yaml", &yaml)
}

fn stop_with(sig: Signal, code: i32, verdict: &str) {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let flow = long_task_flow(d);
    let mut child = spawn(d, &flow, &[]);
    wait_for_file(&d.join("marker"));
    let pid = read_pid(&d.join("pid"));
    let bg = read_pid(&d.join("bgpid"));
    signal(&child, sig);
    let status = wait_exit(&mut child, LIMIT);
    let err = stderr_of(d);
    assert_eq!(status.code(), Some(code), "{err}");
    assert!(err.contains(&format!("run {verdict} in ")), "{err}");
    assert!(err.contains("1 interrupted") && err.contains("1 not started"), "{err}");
    assert!(err.contains("stopped  long"), "{err}");
    assert!(!alive(bg), "the task's background child {bg} survived");
    assert_group_gone(pid);
    assert!(!d.join("later").exists());
}

#[test]
fn sigint_stops_the_run_and_its_task_groups() {
    stop_with(Signal::SIGINT, 130, "interrupted");
}

#[test]
fn sigterm_stops_the_run_and_its_task_groups() {
    stop_with(Signal::SIGTERM, 143, "terminated");
}

#[test]
fn a_second_sigint_kills_at_once() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    // The task survives SIGTERM (its sleep may not), noting each one. It waits with the `wait`
    // builtin, which a trapped signal interrupts at once; a foreground sleep that missed the
    // TERM (forked just as it came) would hold the trap back until dagrun's SIGKILL.
    let yaml = format!(
        "{}tasks:
  stubborn:
    cmd: |
      trap 'touch \"$DIR/got-term\"' TERM
      echo $$ > \"$DIR/pid\"
      touch \"$DIR/marker\"
      while :; do sleep 1000 & wait $!; done
",
        env_dir(d)
    );
    let flow = write(d, "flow.yaml", &yaml);
    let mut child = spawn(d, &flow, &[]);
    wait_for_file(&d.join("marker"));
    let pid = read_pid(&d.join("pid"));
    signal(&child, Signal::SIGINT);
    wait_for_file(&d.join("got-term"));
    assert!(alive(pid), "the task should have survived SIGTERM");
    signal(&child, Signal::SIGINT);
    // dagrun would SIGKILL the task after its 5 s grace period anyway; the second Ctrl-C must
    // not wait for that. The limit is a safety net well above an immediate kill.
    let status = wait_exit(&mut child, Duration::from_secs(4));
    let err = stderr_of(d);
    assert_eq!(status.code(), Some(130), "{err}");
    assert!(err.contains("run interrupted in ") && err.contains("1 interrupted"), "{err}");
    assert_group_gone(pid);
}

/// `long` (its pid in `$DIR/pid`) runs until the test ends; `bad` fails once `long` has
/// started, so a `--fail-fast` run stops with `long` running.
const LONG_AND_BAD: &str = "  long:
    cmd: |
      echo $$ > \"$DIR/pid\"
      touch \"$DIR/long-started\"
      i=0
      while [ ! -e \"$DIR/never\" ]; do i=$((i + 1)); [ $i -gt 1200 ] && exit 0; sleep 0.05; done
  bad:
    cmd: |
      i=0
      while [ ! -e \"$DIR/long-started\" ]; do i=$((i + 1)); [ $i -gt 1200 ] && exit 2; sleep 0.05; done
      exit 1
";

#[test]
fn fail_fast_terminates_running_tasks_and_starts_nothing_new() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let yaml = format!(
        "{}tasks:
{LONG_AND_BAD}  third:
    cmd: 'touch \"$DIR/third\"'
",
        env_dir(d)
    );
    let flow = write(d, "flow.yaml", &yaml);
    let mut child = spawn(d, &flow, &["-j", "2", "--fail-fast"]);
    let status = wait_exit(&mut child, LIMIT);
    let err = stderr_of(d);
    assert_eq!(status.code(), Some(1), "{err}");
    assert!(err.contains("failed   bad: exit code 1"), "{err}");
    assert!(err.contains("stopped  long"), "{err}");
    assert!(err.contains("1 failed, 1 interrupted, 1 not started"), "{err}");
    assert!(!d.join("third").exists(), "--fail-fast started a new task");
    assert_group_gone(read_pid(&d.join("pid")));
}

/// `--fail-fast` still runs the `when: failure` and `when: always` tasks whose dependencies
/// have all finished (a notify or cleanup task exists for exactly that case); one that waits
/// for a stopped task, and every `when: success` task, stays not started.
#[test]
fn fail_fast_still_runs_failure_and_always_tasks_whose_dependencies_finished() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let yaml = format!(
        "{}tasks:
{LONG_AND_BAD}  notify: {{after: [bad], when: failure, cmd: 'touch \"$DIR/notified\"'}}
  cleanup: {{after: [notify], when: always, cmd: 'touch \"$DIR/cleaned\"'}}
  waits: {{after: [bad, long], when: always, cmd: 'touch \"$DIR/waited\"'}}
  next: {{after: [bad], when: success, cmd: 'touch \"$DIR/next\"'}}
",
        env_dir(d)
    );
    let flow = write(d, "flow.yaml", &yaml);
    let mut child = spawn(d, &flow, &["-j", "2", "--fail-fast"]);
    let status = wait_exit(&mut child, LIMIT);
    let err = stderr_of(d);
    assert_eq!(status.code(), Some(1), "{err}");
    assert!(d.join("notified").exists() && d.join("cleaned").exists(), "{err}");
    assert!(!d.join("waited").exists(), "a task after a stopped one ran: {err}");
    assert!(!d.join("next").exists(), "{err}");
    assert!(err.contains("2 succeeded, 1 failed, 1 skipped, 1 interrupted, 1 not started"), "{err}");
    let st = load_state(&d.join(".dagrun/flow/state.json"));
    assert_eq!(st.tasks["waits"].status, dagrun::model::Status::Pending);
}

#[test]
fn without_fail_fast_independent_tasks_keep_running() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let yaml = format!(
        "{}tasks:
  bad: {{cmd: 'exit 1'}}
  third: {{cmd: 'touch \"$DIR/third\"'}}
",
        env_dir(d)
    );
    let flow = write(d, "flow.yaml", &yaml);
    let mut child = spawn(d, &flow, &["-j", "1"]);
    let status = wait_exit(&mut child, LIMIT);
    assert_eq!(status.code(), Some(1), "{}", stderr_of(d));
    assert!(d.join("third").exists());
}

#[test]
fn sigint_during_a_retry_delay_stops_at_once() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let yaml = format!(
        "{}tasks:
  flaky: {{retries: 3, retry_delay: 1h, cmd: 'exit 1'}}
  later: {{cmd: 'touch \"$DIR/later\"', after: flaky}}
",
        env_dir(d)
    );
    let flow = write(d, "flow.yaml", &yaml);
    let mut child = spawn(d, &flow, &[]);
    let start = std::time::Instant::now();
    while !stderr_of(d).contains("retry    flaky") {
        assert!(start.elapsed() < LIMIT, "no retry announced: {}", stderr_of(d));
        std::thread::sleep(Duration::from_millis(20));
    }
    signal(&child, Signal::SIGINT);
    let status = wait_exit(&mut child, LIMIT);
    let err = stderr_of(d);
    assert_eq!(status.code(), Some(130), "{err}");
    assert!(err.contains("stopped  flaky") && err.contains("1 interrupted, 1 not started"), "{err}");
    assert!(!d.join("later").exists());
}

#[test]
fn sigkill_of_dagrun_leaves_no_task_process() {
    // dagrun cannot clean up after SIGKILL itself: its reaper process must.
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let flow = long_task_flow(d);
    let mut child = spawn(d, &flow, &[]);
    wait_for_file(&d.join("marker"));
    let pid = read_pid(&d.join("pid"));
    let bg = read_pid(&d.join("bgpid"));
    signal(&child, Signal::SIGKILL);
    let _ = wait_exit(&mut child, LIMIT);
    assert_group_gone(pid);
    assert!(!alive(bg), "the task's background child {bg} survived");
}
