//! `dagrun resume`: crashes (kill -9 and Ctrl-C at arbitrary points, then resume until done),
//! edits between runs (exactly the changed tasks and their descendants re-run), `--from`,
//! `--dry-run`, and a workflow file that is gone or replaced.
//!
//! Tasks append `$DAGRUN_TASK` to a shared log, so the log counts how often each task ran.

use crate::common::*;
use dagrun::model::Status;
use nix::sys::signal::{Signal, kill, killpg};
use nix::unistd::Pid;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Child, Output, Stdio};
use std::time::{Duration, Instant};

const APPEND: &str = "echo \"$DAGRUN_TASK\" >> \"$LOG\"";

// ---------------------------------------------------------------------------------------------
// Crashes

/// `leaves` tasks, `leaves / 5` fan-ins of five leaves each, 11 that wait for every fan-in,
/// and one that waits for those.
fn crash_flow(d: &Path, leaves: usize) -> (PathBuf, usize) {
    let g = leaves / 5;
    let after: Vec<String> = (0..5).map(|k| format!("\"m[i={{{{ j + {} }}}}]\"", k * g)).collect();
    let yaml = format!(
        "env:
  LOG: \"{log}\"
tasks:
  m:
    matrix: {{i: \"{{{{ range({leaves}) }}}}\"}}
    cmd: '{APPEND}'
  g:
    matrix: {{j: \"{{{{ range({g}) }}}}\"}}
    after: [{after}]
    cmd: '{APPEND}'
  h:
    matrix: {{k: \"{{{{ range(11) }}}}\"}}
    after: [g]
    cmd: '{APPEND}'
  z:
    after: [h]
    cmd: '{APPEND}'
",
        log = d.join("runs.log").display(),
        after = after.join(", ")
    );
    (write(d, "flow.yaml", &yaml), leaves + g + 12)
}

fn line_count(path: &Path) -> usize {
    std::fs::read(path).map_or(0, |b| b.iter().filter(|&&c| c == b'\n').count())
}

/// Direct children of `pid`: the task process-group leaders of a dagrun.
fn children_of(pid: i32) -> Vec<i32> {
    let Ok(dir) = std::fs::read_dir("/proc") else { return Vec::new() };
    dir.filter_map(|e| e.ok()?.file_name().to_str()?.parse::<i32>().ok())
        .filter(|&p| {
            let Ok(stat) = std::fs::read_to_string(format!("/proc/{p}/stat")) else { return false };
            let Some(rest) = stat.rfind(')').map(|i| &stat[i + 1..]) else { return false };
            rest.split_whitespace().nth(1).and_then(|s| s.parse::<i32>().ok()) == Some(pid)
        })
        .collect()
}

/// Spawns dagrun with `args`, output to `<dir>/out.N` and `<dir>/err.N`.
fn spawn(dir: &Path, round: usize, args: &[&str]) -> Child {
    let out = std::fs::File::create(dir.join(format!("out.{round}"))).unwrap();
    let err = std::fs::File::create(dir.join(format!("err.{round}"))).unwrap();
    dagrun_std()
        .args(args)
        .current_dir(dir)
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(err)
        .spawn()
        .expect("spawn dagrun")
}

/// Waits until the log holds `k` lines or dagrun exits; true if it is still running.
fn wait_lines(child: &mut Child, log: &Path, k: usize) -> bool {
    let start = Instant::now();
    loop {
        if line_count(log) >= k {
            return true;
        }
        if child.try_wait().expect("poll dagrun").is_some() {
            return false;
        }
        assert!(start.elapsed() < LIMIT, "the log did not reach {k} lines within {LIMIT:?}");
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// kill -9 of dagrun at whatever instant it is at, then of the task processes it left behind
/// (each leads its own process group, so nothing else would stop them).
fn crash(child: &mut Child) {
    let pid = child.id() as i32;
    // Stopped, it starts no task between the listing of its children and its death.
    kill(Pid::from_raw(pid), Signal::SIGSTOP).expect("stop dagrun");
    let tasks = children_of(pid);
    kill(Pid::from_raw(pid), Signal::SIGKILL).expect("kill dagrun");
    child.wait().expect("reap dagrun");
    for t in tasks {
        // A child forked but not yet in its own group is reached by its pid.
        let _ = killpg(Pid::from_raw(t), Signal::SIGKILL);
        let _ = kill(Pid::from_raw(t), Signal::SIGKILL);
        assert_group_gone(t);
    }
}

/// What the state says right after a stop, checked against the log.
fn check_after_stop(state: &Path, flow: &Path, log: &Path) -> BTreeSet<String> {
    // The state always loads: a snapshot plus a journal whose last line may be torn.
    let st = load_state(state);
    let plan = dagrun::pipeline::load_file(flow, &Default::default()).expect("the flow loads");
    assert_eq!(st.tasks.len(), plan.len());
    let ran = line_counts(log);
    let succeeded: BTreeSet<String> =
        st.tasks.iter().filter(|(_, r)| r.status == Status::Succeeded).map(|(id, _)| id.clone()).collect();
    for t in &plan.tasks {
        if succeeded.contains(&t.id) {
            assert!(ran.contains_key(&t.id), "`{}` is recorded succeeded but never ran", t.id);
        }
        // A task's success is on disk before any of its dependents starts.
        if ran.contains_key(&t.id) {
            let i = plan.get(&t.id).unwrap();
            for &d in plan.deps(i) {
                let dep = &plan.task(d).id;
                assert!(
                    succeeded.contains(dep),
                    "`{}` ran but its dependency `{dep}` is not recorded succeeded",
                    t.id
                );
            }
        }
    }
    succeeded
}

/// Runs, stops dagrun with `sig` at each of `ks` log lines, resumes, and finally resumes to
/// the end; every task recorded succeeded at a stop never runs again.
///
/// Returns how many tasks the snapshot alone (without its journal) recorded succeeded at the
/// first stop: more than none means the journal had been folded into it.
fn crash_and_resume(leaves: usize, ks: &[usize], sig: Signal) -> usize {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let (flow, total) = crash_flow(d, leaves);
    let log = d.join("runs.log");
    let state = d.join("st/state.json");
    let state_arg = state.to_str().unwrap();
    // (tasks recorded succeeded at the stop, the log's counts then)
    let mut stops: Vec<(BTreeSet<String>, BTreeMap<String, usize>)> = Vec::new();
    let mut in_snapshot = 0;
    for (round, &k) in ks.iter().enumerate() {
        let args: Vec<&str> = if round == 0 {
            vec!["run", "-j", "4", "--progress", "plain", "--state", state_arg, flow.to_str().unwrap()]
        } else {
            vec!["resume", "-j", "4", "--progress", "plain", state_arg]
        };
        let mut child = spawn(d, round, &args);
        let running = wait_lines(&mut child, &log, k);
        let err_of = || std::fs::read_to_string(d.join(format!("err.{round}"))).unwrap();
        if !running {
            // Faster than the poll: it finished on its own; nothing more to stop.
            let s = child.wait().unwrap();
            assert!(s.success(), "{}", err_of());
            break;
        }
        if sig == Signal::SIGKILL {
            crash(&mut child);
        } else {
            kill(Pid::from_raw(child.id() as i32), sig).expect("interrupt dagrun");
            let s = wait_exit(&mut child, LIMIT);
            let err = err_of();
            assert_eq!(s.code(), Some(130), "{err}");
            assert!(err.trim_end().ends_with("to continue: dagrun resume st/state.json"), "{err}");
        }
        let err = err_of();
        assert!(!err.contains("panicked"), "{err}");
        if round > 0 {
            // Resume announced exactly the tasks recorded succeeded as done.
            let (prev, _) = stops.last().unwrap();
            let announced = format!("resume: {} of {total} tasks done and skipped;", prev.len());
            assert!(err.contains(&announced), "expected `{announced}` in:\n{err}");
        }
        if round == 0 {
            let bytes = std::fs::read(&state).unwrap();
            let snap: dagrun::state::model::StateFile = serde_json::from_slice(&bytes).unwrap();
            in_snapshot = snap.tasks.values().filter(|r| r.status == Status::Succeeded).count();
        }
        let succeeded = check_after_stop(&state, &flow, &log);
        for (prev, _) in &stops {
            assert!(prev.is_subset(&succeeded), "a task recorded succeeded lost its record");
        }
        stops.push((succeeded, line_counts(&log)));
    }
    assert!(!stops.is_empty(), "dagrun finished before the first stop: the test proved nothing");
    let out = dagrun()
        .args(["resume", "-j", "4", "--progress", "plain"])
        .arg(&state)
        .current_dir(d)
        .timeout(LIMIT)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert!(!err.contains("to continue"), "{err}");

    let fin = load_state(&state);
    assert_eq!(fin.tasks.len(), total);
    for (id, r) in &fin.tasks {
        assert_eq!(r.status, Status::Succeeded, "`{id}` in the final state");
        assert!(r.attempts >= 1);
    }
    assert!(!dagrun::state::store::journal_path(&state).exists(), "the journal is folded in at the end");
    let counts = line_counts(&log);
    for id in fin.tasks.keys() {
        assert!(counts.contains_key(id), "`{id}` never ran");
    }
    assert_eq!(counts.len(), total, "the log names only tasks: {counts:?}");
    for (succeeded, then) in &stops {
        for id in succeeded {
            assert_eq!(counts[id], then[id], "`{id}` was recorded succeeded at a stop, yet ran again");
        }
    }
    in_snapshot
}

#[test]
fn kill_9_at_any_point_then_resume_never_reruns_a_recorded_success() {
    crash_and_resume(240, &[40, 120, 200], Signal::SIGKILL);
}

/// Past 1024 journal lines the recorder folds the journal into a new snapshot; kills land
/// before, around and after that.
#[test]
fn kill_9_around_journal_compaction_then_resume() {
    let mut compacted = 0;
    for k in (500..=580).step_by(20) {
        let snapshot = crash_and_resume(600, &[k], Signal::SIGKILL);
        compacted += usize::from(snapshot > 0);
    }
    assert!(compacted > 0, "no kill came after a compaction: the test proved nothing");
}

#[test]
fn ctrl_c_then_resume_never_reruns_a_recorded_success() {
    crash_and_resume(240, &[60, 180], Signal::SIGINT);
}

// ---------------------------------------------------------------------------------------------
// Edits between runs

/// A directory with a workflow whose tasks log their runs, and its state file.
struct Bench {
    _tmp: tempfile::TempDir,
    dir: PathBuf,
    flow: PathBuf,
    state: PathBuf,
}

impl Bench {
    fn new(tasks: &str) -> Bench {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().to_path_buf();
        let state = dir.join("st/state.json");
        let flow = dir.join("flow.yaml");
        let b = Bench { _tmp: tmp, dir, flow, state };
        b.edit(tasks);
        b
    }

    /// Replaces the workflow's `params`/`tasks` part, keeping the log and `DIR` in `env`.
    fn edit(&self, body: &str) {
        let text = format!(
            "env:\n  LOG: \"{}\"\n  DIR: \"{}\"\n{body}",
            self.dir.join("runs.log").display(),
            self.dir.display()
        );
        std::fs::write(&self.flow, text).unwrap();
    }

    fn run(&self, args: &[&str]) -> Output {
        dagrun()
            .args(["run", "--progress", "plain", "--state"])
            .arg(&self.state)
            .args(args)
            .arg(&self.flow)
            .current_dir(&self.dir)
            .timeout(LIMIT)
            .output()
            .unwrap()
    }

    fn resume(&self, args: &[&str]) -> Output {
        dagrun()
            .args(["resume", "--progress", "plain"])
            .arg(&self.state)
            .args(args)
            .current_dir(&self.dir)
            .timeout(LIMIT)
            .output()
            .unwrap()
    }

    /// How often each task ran since the last call.
    fn ran(&self) -> BTreeMap<String, usize> {
        let log = self.dir.join("runs.log");
        let c = line_counts(&log);
        let _ = std::fs::remove_file(&log);
        c
    }
}

fn ok(o: &Output) -> String {
    let err = String::from_utf8_lossy(&o.stderr).into_owned();
    assert_eq!(o.status.code(), Some(0), "{err}");
    assert!(!err.contains("panicked"), "{err}");
    err
}

fn ran(ids: &[&str]) -> BTreeMap<String, usize> {
    ids.iter().map(|id| (id.to_string(), 1)).collect()
}

/// a -> b -> c -> e, a -> d -> e, f alone; c renders `greeting`, d renders `other`.
fn diamond(b_cmd: &str, extra: &str) -> String {
    format!(
        "params:
  greeting: hello
  other: x
tasks:
  a: {{cmd: '{APPEND}'}}
  b: {{cmd: '{APPEND} # {b_cmd}', after: [a]}}
  c: {{cmd: '{APPEND} # {{{{ greeting }}}}', after: [b]}}
  d: {{cmd: '{APPEND} # {{{{ other }}}}', after: [a]}}
  e: {{cmd: '{APPEND}', after: [c, d]}}
{extra}"
    )
}

const F: &str = "  f: {cmd: 'echo \"$DAGRUN_TASK\" >> \"$LOG\"'}\n";

#[test]
fn an_edited_command_reruns_exactly_it_and_its_descendants() {
    let b = Bench::new(&diamond("one", F));
    ok(&b.run(&[]));
    assert_eq!(b.ran(), ran(&["a", "b", "c", "d", "e", "f"]));
    b.edit(&diamond("two", F));
    let err = ok(&b.resume(&[]));
    assert_eq!(b.ran(), ran(&["b", "c", "e"]));
    assert!(err.contains("resume: 3 of 6 tasks done and skipped; 3 to run (3 changed)"), "{err}");
    let st = load_state(&b.state);
    assert_eq!(st.tasks["b"].attempts, 2, "attempt counts keep growing");
    assert_eq!(st.tasks["a"].attempts, 1);
    assert_eq!(st.run.runs, 2);
    // Nothing left: a second resume does nothing.
    let err = ok(&b.resume(&[]));
    assert!(err.contains("nothing to do: all 6 tasks are done"), "{err}");
    assert!(b.ran().is_empty());
}

#[test]
fn a_param_override_on_resume_reruns_only_the_tasks_it_renders_into() {
    let b = Bench::new(&diamond("one", F));
    ok(&b.run(&[]));
    b.ran();
    ok(&b.resume(&["-p", "greeting=hi"]));
    assert_eq!(b.ran(), ran(&["c", "e"]));
    // The override is recorded: resuming again keeps it and runs nothing.
    let err = ok(&b.resume(&[]));
    assert!(err.contains("nothing to do"), "{err}");
    assert!(b.ran().is_empty());
    assert_eq!(load_state(&b.state).workflow.params["greeting"], "hi");
    ok(&b.resume(&["-p", "other=y"]));
    assert_eq!(b.ran(), ran(&["d", "e"]));
}

#[test]
fn an_added_task_is_the_only_one_to_run() {
    let b = Bench::new(&diamond("one", F));
    ok(&b.run(&[]));
    b.ran();
    b.edit(&diamond("one", &format!("{F}  g: {{cmd: '{APPEND}', after: [e]}}\n")));
    let err = ok(&b.resume(&[]));
    assert!(err.contains("1 to run (1 new)"), "{err}");
    assert_eq!(b.ran(), ran(&["g"]));
    assert_eq!(load_state(&b.state).tasks.len(), 7);
}

#[test]
fn a_removed_task_is_dropped_from_the_state_and_nothing_reruns() {
    let b = Bench::new(&diamond("one", F));
    ok(&b.run(&[]));
    b.ran();
    b.edit(&diamond("one", ""));
    let err = ok(&b.resume(&[]));
    assert!(err.contains("nothing to do: all 5 tasks are done"), "{err}");
    assert!(err.contains("1 task(s) in the state are no longer in the workflow"), "{err}");
    assert!(b.ran().is_empty());
    let st = load_state(&b.state);
    assert!(!st.tasks.contains_key("f"), "the removed task is still in the state");
    assert_eq!(st.tasks.len(), 5);
    let out = dagrun().arg("status").arg(&b.state).output().unwrap();
    assert!(String::from_utf8_lossy(&out.stdout).contains("tasks: 5 in all: 5 succeeded"));
}

#[test]
fn from_forces_a_task_and_its_descendants() {
    let b = Bench::new(&diamond("one", F));
    ok(&b.run(&[]));
    b.ran();
    let err = ok(&b.resume(&["--from", "d"]));
    assert!(err.contains("2 to run (2 forced)"), "{err}");
    assert_eq!(b.ran(), ran(&["d", "e"]));
    ok(&b.resume(&["--from", "b", "--from", "f"]));
    assert_eq!(b.ran(), ran(&["b", "c", "e", "f"]));
    let out = b.resume(&["--from", "nope"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no task `nope`"));
}

/// `resume` after `run --target` continues that target, not every task the run left out;
/// `--target` chooses others and `--all` takes every task.
#[test]
fn resume_continues_the_targets_of_the_run_unless_told_otherwise() {
    let b = Bench::new(&format!(
        "tasks:\n  a: {{cmd: '{APPEND}'}}\n  b: {{cmd: 'test -f \"$DIR/fixed\" && {APPEND}', after: [a]}}\n  \
         c: {{cmd: '{APPEND}', after: [b]}}\n  d: {{cmd: '{APPEND}', after: [a]}}\n  \
         e: {{cmd: '{APPEND}', after: [c, d]}}\n{F}"
    ));
    assert_eq!(b.run(&["--target", "c"]).status.code(), Some(1));
    assert_eq!(b.ran(), ran(&["a"]));
    write(&b.dir, "fixed", "");
    let err = ok(&b.resume(&[]));
    assert!(err.contains("resume: continuing the run's targets, `c` (`--all` for every task)"), "{err}");
    assert!(err.contains("resume: 1 of 3 tasks done and skipped; 2 to run"), "{err}");
    assert_eq!(b.ran(), ran(&["b", "c"]));
    assert_eq!(load_state(&b.state).run.targets, ["c"]);
    let err = ok(&b.resume(&["--target", "d"]));
    assert_eq!(b.ran(), ran(&["d"]), "{err}");
    assert_eq!(load_state(&b.state).run.targets, ["d"]);
    ok(&b.resume(&["--all"]));
    assert_eq!(b.ran(), ran(&["e", "f"]));
    assert!(load_state(&b.state).run.targets.is_empty());
    let out = b.resume(&["--target", "nope"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("`--target nope`: the workflow has no task `nope`")
    );
}

/// Ids a generator recorded in the state work with `--from` and `--target`, so one edited
/// source does not force every generated task to run again.
#[test]
fn generated_ids_work_with_from_and_target() {
    let b = Bench::new("tasks:\n  sources: {generator: true, cmd: sh gen.sh}\n");
    write(
        &b.dir,
        "gen.sh",
        &format!(
            "cat <<'EOF'\ntasks:\n  cc: {{matrix: {{file: [lapi, lgc]}}, cmd: '{APPEND}'}}\n  \
             link: {{after: [cc], cmd: '{APPEND}'}}\nEOF\n"
        ),
    );
    ok(&b.run(&[]));
    assert_eq!(b.ran(), ran(&["sources/cc[file=lapi]", "sources/cc[file=lgc]", "sources/link"]));
    let err = ok(&b.resume(&["--from", "sources/cc[file=lapi]"]));
    assert!(err.contains("2 to run (2 forced)"), "{err}");
    assert_eq!(b.ran(), ran(&["sources/cc[file=lapi]", "sources/link"]));
    ok(&b.resume(&["--from", "sources/cc", "--target", "sources/cc[file=lgc]"]));
    assert_eq!(b.ran(), ran(&["sources/cc[file=lgc]"]));
}

#[test]
fn dry_run_resume_runs_nothing_and_says_why() {
    let b = Bench::new(&diamond("one", F));
    ok(&b.run(&[]));
    b.ran();
    b.edit(&diamond("two", F));
    let before = std::fs::read(&b.state).unwrap();
    let out = b.resume(&["--dry-run", "--from", "f"]);
    let err = ok(&out);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(err.contains("4 to run (3 changed, 1 forced)"), "{err}");
    for line in ["changed       b", "changed       c", "changed       e", "forced        f"] {
        assert!(err.contains(line), "`{line}` missing:\n{err}");
    }
    assert!(stdout.contains("would run 4 tasks"), "{stdout}");
    assert!(b.ran().is_empty(), "a dry run ran something");
    assert_eq!(std::fs::read(&b.state).unwrap(), before, "a dry run changed the state");
}

#[test]
fn fixing_a_failure_reruns_it_its_dependents_and_the_always_cleanup() {
    let body = format!(
        "tasks:
  a: {{cmd: '{APPEND}'}}
  b: {{cmd: '{APPEND}; test -e \"$DIR/fixed\"', after: [a]}}
  c: {{cmd: '{APPEND}', after: [b]}}
  cleanup: {{cmd: '{APPEND}', after: [c], when: always}}
  other: {{cmd: '{APPEND}', after: [a]}}
"
    );
    let b = Bench::new(&body);
    let out = b.run(&[]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(b.ran(), ran(&["a", "b", "cleanup", "other"]));
    let st = load_state(&b.state);
    assert_eq!(st.tasks["b"].status, Status::Failed);
    assert_eq!(st.tasks["c"].status, Status::Skipped);
    // Still failing: the same tasks run again and it fails again.
    let out = b.resume(&[]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(b.ran(), ran(&["b", "cleanup"]));
    std::fs::write(b.dir.join("fixed"), "").unwrap();
    let err = ok(&b.resume(&[]));
    assert!(err.contains("3 to run (1 failed, 1 skipped, 1 upstream runs)"), "{err}");
    assert_eq!(b.ran(), ran(&["b", "c", "cleanup"]));
    let st = load_state(&b.state);
    assert!(st.tasks.values().all(|r| r.status == Status::Succeeded));
    assert_eq!(st.tasks["b"].attempts, 3);
    assert_eq!(st.tasks["b"].log.as_deref(), Some("logs/b.3.log"));
}

/// `rollback` runs only on failure and `announce` only after a rollback: with nothing failed
/// both are skipped as not needed, and editing `announce` must not make it run on resume.
#[test]
fn a_task_after_a_not_needed_skip_stays_skipped_when_resumed() {
    let body = |msg: &str| {
        format!(
            "tasks:
  build: {{cmd: '{APPEND}'}}
  rollback: {{cmd: '{APPEND}', after: [build], when: failure}}
  announce: {{cmd: '{APPEND} # {msg}', after: [rollback]}}
  tidy: {{cmd: '{APPEND}', after: [rollback], when: always}}
"
        )
    };
    let b = Bench::new(&body("rolled back"));
    ok(&b.run(&[]));
    assert_eq!(b.ran(), ran(&["build", "tidy"]));
    let err = ok(&b.resume(&[]));
    assert!(err.contains("nothing to do: all 4 tasks are done"), "{err}");
    b.edit(&body("rolled back!"));
    ok(&b.resume(&[]));
    let counts = b.ran();
    assert!(!counts.contains_key("announce"), "`announce` ran though nothing was rolled back: {counts:?}");
    let st = load_state(&b.state);
    assert_eq!(st.tasks["announce"].status, Status::Skipped);
    assert_eq!(st.tasks["rollback"].status, Status::Skipped);
    assert_eq!(st.tasks["build"].attempts, 1);
    let err = ok(&b.resume(&[]));
    assert!(err.contains("nothing to do: all 4 tasks are done"), "{err}");
    // Forcing the failure-only task decides it again: still not needed.
    ok(&b.resume(&["--from", "rollback"]));
    let counts = b.ran();
    assert!(!counts.contains_key("announce") && !counts.contains_key("rollback"), "{counts:?}");
}

// ---------------------------------------------------------------------------------------------
// The workflow file gone or replaced

/// A run whose task `b` fails until `<dir>/fixed` exists.
fn failing(b: &Bench) {
    b.edit(&format!(
        "tasks:\n  a: {{cmd: '{APPEND}'}}\n  b: {{cmd: '{APPEND}; test -e \"$DIR/fixed\"', after: [a]}}\n"
    ));
    assert_eq!(b.run(&[]).status.code(), Some(1));
    b.ran();
    std::fs::write(b.dir.join("fixed"), "").unwrap();
}

#[test]
fn resume_uses_the_stored_source_when_the_workflow_is_gone() {
    let b = Bench::new("");
    failing(&b);
    std::fs::remove_file(&b.flow).unwrap();
    let err = ok(&b.resume(&[]));
    assert!(err.contains("is gone; resuming from the copy of the workflow kept in the state"), "{err}");
    assert_eq!(b.ran(), ran(&["b"]));
}

/// The workflow [`failing`] writes, in TOML and with a task `n` after `b`.
fn failing_toml(b: &Bench) -> String {
    format!(
        "[env]
LOG = \"{}\"
DIR = \"{}\"
[tasks.a]
cmd = '{APPEND}'
[tasks.b]
cmd = '{APPEND}; test -e \"$DIR/fixed\"'
after = [\"a\"]
[tasks.n]
cmd = '{APPEND}'
after = [\"b\"]
",
        b.dir.join("runs.log").display(),
        b.dir.display()
    )
}

/// A TOML workflow is recorded as one, and when the file is gone resume reads the copy kept in
/// the state as TOML.
#[test]
fn a_toml_workflow_resumes_from_its_kept_copy_as_toml() {
    let mut b = Bench::new("");
    b.flow = write(&b.dir, "flow.toml", &failing_toml(&b));
    assert_eq!(b.run(&[]).status.code(), Some(1));
    assert_eq!(b.ran(), ran(&["a", "b"]));
    assert_eq!(load_state(&b.state).workflow.format, "toml");
    std::fs::write(b.dir.join("fixed"), "").unwrap();
    std::fs::remove_file(&b.flow).unwrap();
    let err = ok(&b.resume(&[]));
    assert!(err.contains("is gone; resuming from the copy of the workflow kept in the state"), "{err}");
    assert_eq!(b.ran(), ran(&["b", "n"]));
}

#[test]
fn resume_with_workflow_uses_another_file_even_of_another_format() {
    let b = Bench::new("");
    failing(&b);
    let toml = failing_toml(&b);
    let other = write(&b.dir, "other.toml", &toml);
    ok(&b.resume(&["--workflow", other.to_str().unwrap()]));
    assert_eq!(b.ran(), ran(&["b", "n"]));
    let st = load_state(&b.state);
    assert_eq!(st.workflow.path, other.canonicalize().unwrap().display().to_string());
    assert_eq!(st.workflow.format, "toml");
    // Regression: the recorded format followed the new file, so a plain resume reads it.
    let err = ok(&b.resume(&[]));
    assert!(err.contains("nothing to do: all 3 tasks are done"), "{err}");
}

#[test]
fn a_workflow_path_replaced_by_a_directory_is_a_state_error() {
    let b = Bench::new("");
    failing(&b);
    std::fs::remove_file(&b.flow).unwrap();
    std::fs::create_dir(&b.flow).unwrap();
    let out = b.resume(&[]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(4), "{err}");
    assert!(err.contains("is no longer a file; pass `--workflow FILE`"), "{err}");
    assert!(b.ran().is_empty());
}
