//! The state file: durability after a crash (torn journal lines), the lock between two
//! dagrun processes, bad input of every kind (exit 4, one clear line, never a panic), the
//! checked-in `format_version: 1` fixture, `status`, `graph --state` and the summary's resume
//! hint.

use crate::common::*;
use dagrun::model::Status;
use dagrun::state::store::journal_path;
use nix::sys::signal::{Signal, kill, killpg};
use nix::unistd::Pid;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Output, Stdio};

/// `a` succeeds, `b` fails with exit 3, `c` after `b` is skipped, `d` succeeds.
fn failed_run(d: &Path) -> PathBuf {
    let flow = write(
        d,
        "flow.yaml",
        "tasks:
  a: {cmd: 'echo a'}
  b: {cmd: 'echo failing; exit 3', after: [a]}
  c: {cmd: 'echo c', after: [b]}
  d: {cmd: 'echo d'}
",
    );
    let out = dagrun()
        .args(["run", "--progress", "plain", "--state", "st/state.json"])
        .arg(&flow)
        .current_dir(d)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", String::from_utf8_lossy(&out.stderr));
    d.join("st/state.json")
}

/// Runs dagrun in `dir` and asserts it refused with exit 4 and one clear `error:` line.
fn refused(dir: &Path, args: &[&str]) -> String {
    let out = dagrun().args(args).current_dir(dir).timeout(LIMIT).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(4), "{args:?}: {err}");
    assert!(!err.contains("panicked"), "{args:?}: {err}");
    assert!(
        err.starts_with("error: ") && err.trim_end().lines().count() == 1,
        "{args:?}: not one line: {err}"
    );
    err
}

fn status_json(dir: &Path, state: &Path) -> serde_json::Value {
    let out = dagrun().args(["status", "--format", "json"]).arg(state).current_dir(dir).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).expect("status --format json prints JSON")
}

fn status_text(dir: &Path, state: &Path) -> String {
    let out = dagrun().arg("status").arg(state).current_dir(dir).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

// ---------------------------------------------------------------------------------------------
// A run in progress, killed

/// `a` succeeds; `b` writes its pid, touches `started` and waits for `go`; `c` follows `b`.
fn waiting_flow(d: &Path) -> PathBuf {
    let yaml = format!(
        "env:
  DIR: \"{}\"
tasks:
  a: {{cmd: 'echo a'}}
  b:
    after: [a]
    cmd: 'echo $$ > \"$DIR/pid\"; touch \"$DIR/started\"; while [ ! -e \"$DIR/go\" ]; do sleep 0.02; done'
  c: {{cmd: 'echo c', after: [b]}}
",
        d.display()
    );
    write(d, "flow.yaml", &yaml)
}

fn spawn_run(d: &Path, flow: &Path) -> Child {
    let err = std::fs::File::create(d.join("stderr")).unwrap();
    dagrun_std()
        .args(["run", "--progress", "plain", "--state", "st/state.json"])
        .arg(flow)
        .current_dir(d)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(err)
        .spawn()
        .expect("spawn dagrun")
}

/// A state left by a dagrun killed with -9 while `b` ran: `a` is in the journal only.
fn killed_mid_run(d: &Path) -> PathBuf {
    let flow = waiting_flow(d);
    let mut child = spawn_run(d, &flow);
    wait_for_file(&d.join("started"));
    kill(Pid::from_raw(child.id() as i32), Signal::SIGKILL).unwrap();
    child.wait().unwrap();
    let b = read_pid(&d.join("pid"));
    let _ = killpg(Pid::from_raw(b), Signal::SIGKILL);
    assert_group_gone(b);
    d.join("st/state.json")
}

fn statuses(state: &Path) -> Vec<(String, Status)> {
    load_state(state).tasks.iter().map(|(id, r)| (id.clone(), r.status)).collect()
}

fn st(pairs: &[(&str, Status)]) -> Vec<(String, Status)> {
    pairs.iter().map(|(id, s)| (id.to_string(), *s)).collect()
}

#[test]
fn a_killed_run_leaves_a_state_that_loads_with_its_journal_replayed() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let state = killed_mid_run(d);
    assert!(journal_path(&state).exists());
    // The snapshot alone predates every transition; the journal holds them.
    let snap: serde_json::Value = serde_json::from_slice(&std::fs::read(&state).unwrap()).unwrap();
    assert_eq!(snap["tasks"]["a"]["status"], "pending");
    let expected = st(&[("a", Status::Succeeded), ("b", Status::Running), ("c", Status::Pending)]);
    assert_eq!(statuses(&state), expected);

    let text = status_text(d, &state);
    assert!(text.contains("last run: did not finish"), "{text}");
    assert!(text.contains("tasks: 3 in all: 1 interrupted, 1 pending, 1 succeeded"), "{text}");
    let json = status_json(d, &state);
    assert_eq!(json["running"], false);
    assert_eq!(json["counts"]["interrupted"], 1);

    // Resume continues it: `b` was cut off, `c` never started, `a` is done.
    std::fs::write(d.join("go"), "").unwrap();
    let out = dagrun().args(["resume", "--progress", "plain"]).arg(&state).current_dir(d).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert!(
        err.contains("resume: 1 of 3 tasks done and skipped; 2 to run (1 interrupted, 1 not started)"),
        "{err}"
    );
    let s = load_state(&state);
    assert!(s.tasks.values().all(|r| r.status == Status::Succeeded));
    assert_eq!(s.tasks["b"].attempts, 2);
    assert_eq!(s.tasks["a"].attempts, 1);
    assert_eq!(s.run.runs, 2);
    assert!(!journal_path(&state).exists(), "the journal is folded in at the end of a run");
}

#[test]
fn a_torn_last_journal_line_is_ignored() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let state = killed_mid_run(d);
    let jpath = journal_path(&state);
    let journal = std::fs::read(&jpath).unwrap();
    let expected = statuses(&state);
    let full = r#"{"id":"b","status":"succeeded","attempts":1,"exit_code":0,"log":"logs/b.1.log"}"#;
    // Every prefix of a line a crash could have cut short.
    for cut in 1..full.len() {
        std::fs::write(&jpath, [&journal[..], &full.as_bytes()[..cut]].concat()).unwrap();
        assert_eq!(statuses(&state), expected, "torn after {cut} bytes: {}", &full[..cut]);
    }
    let text = status_text(d, &state);
    assert!(text.contains("1 interrupted"), "{text}");
    // The same line complete is a transition like any other.
    std::fs::write(&jpath, [&journal[..], full.as_bytes(), b"\n"].concat()).unwrap();
    assert_eq!(load_state(&state).tasks["b"].status, Status::Succeeded);
    // A resume after a torn line starts a fresh journal and completes.
    std::fs::write(&jpath, [&journal[..], &full.as_bytes()[..20]].concat()).unwrap();
    std::fs::write(d.join("go"), "").unwrap();
    let out = dagrun().args(["resume", "--progress", "plain"]).arg(&state).current_dir(d).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(load_state(&state).tasks.values().all(|r| r.status == Status::Succeeded));
}

#[test]
fn a_damaged_journal_line_before_the_last_is_a_state_error() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let state = killed_mid_run(d);
    let jpath = journal_path(&state);
    let mut f = std::fs::OpenOptions::new().append(true).open(&jpath).unwrap();
    f.write_all(b"{\"id\":\"b\",\"sta\nxx\n{\"id\":\"c\",\"status\":\"pending\"}\n").unwrap();
    drop(f);
    let err = refused(d, &["status", "st/state.json"]);
    assert!(err.contains("is damaged at line"), "{err}");
    let err = refused(d, &["resume", "st/state.json"]);
    assert!(err.contains("is damaged at line"), "{err}");
}

#[test]
fn a_journal_of_another_snapshot_is_ignored() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let state = killed_mid_run(d);
    let jpath = journal_path(&state);
    let text = std::fs::read_to_string(&jpath).unwrap();
    let (header, rest) = text.split_once('\n').unwrap();
    assert!(header.starts_with("{\"dagrun_journal\":"), "{header}");
    // As if a crash fell between writing a new snapshot and starting its journal.
    std::fs::write(&jpath, format!("{{\"dagrun_journal\":1}}\n{rest}")).unwrap();
    assert_eq!(
        statuses(&state),
        st(&[("a", Status::Pending), ("b", Status::Pending), ("c", Status::Pending)])
    );
}

// ---------------------------------------------------------------------------------------------
// The lock

#[test]
fn a_second_dagrun_on_a_state_in_use_is_refused_naming_the_pid() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let flow = waiting_flow(d);
    let mut child = spawn_run(d, &flow);
    let pid = child.id();
    wait_for_file(&d.join("started"));
    let in_use = format!("state file `st/state.json` is in use by a running dagrun (process {pid})");

    let err = refused(d, &["run", "--state", "st/state.json", "flow.yaml"]);
    assert!(err.contains(&in_use), "{err}");
    let err = refused(d, &["resume", "st/state.json"]);
    assert!(err.contains(&in_use), "{err}");
    let state = d.join("st/state.json");
    let text = status_text(d, &state);
    assert!(text.contains(&format!("in progress: dagrun process {pid} is running it")), "{text}");
    assert!(text.contains("1 running"), "{text}");
    let json = status_json(d, &state);
    assert_eq!(json["running"], true);
    assert_eq!(json["pid"], pid);
    assert_eq!(json["counts"]["running"], 1);

    std::fs::write(d.join("go"), "").unwrap();
    let s = wait_exit(&mut child, LIMIT);
    assert_eq!(s.code(), Some(0), "{}", std::fs::read_to_string(d.join("stderr")).unwrap());
    let json = status_json(d, &state);
    assert_eq!(json["running"], false);
    assert_eq!(json["pid"], serde_json::Value::Null);
    assert_eq!(json["outcome"], "succeeded");
    // Released by the exit: the state is free for the next run.
    let out = dagrun()
        .args(["run", "--progress", "plain", "--state", "st/state.json", "flow.yaml"])
        .current_dir(d)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
}

// ---------------------------------------------------------------------------------------------
// Bad input

#[test]
fn a_missing_state_file_is_refused_without_leaving_a_lock_file() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    for cmd in ["status", "resume"] {
        let err = refused(d, &[cmd, "nope.json"]);
        assert!(err.contains("state file `nope.json` does not exist"), "{err}");
        let err = refused(d, &[cmd, "no/such/dir/state.json"]);
        assert!(err.contains("state file `no/such/dir/state.json` does not exist"), "{err}");
    }
    let err = refused(d, &["resume", "--dry-run", "nope.json"]);
    assert!(err.contains("does not exist"), "{err}");
    assert!(!d.join("nope.json.lock").exists(), "a mistyped path left a lock file");
    let flow = write(d, "flow.yaml", "tasks:\n  a: {cmd: 'true'}\n");
    let err = refused(d, &["graph", flow.to_str().unwrap(), "--state", "nope.json"]);
    assert!(err.contains("does not exist"), "{err}");
}

#[test]
fn a_state_truncated_at_any_byte_is_refused_clearly() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let flow = write(
        d,
        "f.yaml",
        "tasks:\n  a: {cmd: 'true'}\n  b: {cmd: 'false', after: [a]}\n  c: {cmd: 'true'}\n",
    );
    let out = dagrun()
        .args(["run", "--progress", "none", "--state", "s/state.json"])
        .arg(&flow)
        .current_dir(d)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let bytes = std::fs::read(d.join("s/state.json")).unwrap();
    assert!(bytes.len() < 2000, "keep this state small: one dagrun per byte");
    let cut = d.join("cut.json");
    let mut checked = 0;
    for n in 0..bytes.len() {
        let prefix = &bytes[..n];
        if serde_json::from_slice::<serde_json::Value>(prefix).is_ok() {
            continue; // complete JSON: only the trailing newline is missing
        }
        std::fs::write(&cut, prefix).unwrap();
        let err = refused(d, &["status", "cut.json"]);
        assert!(err.contains("is truncated") || err.contains("is empty"), "{n} bytes: {err}");
        checked += 1;
    }
    assert!(checked + 2 >= bytes.len());
    // A few through resume too: it must not take them for a workflow to run.
    for n in [0, 1, bytes.len() / 2, bytes.len() - 3] {
        std::fs::write(&cut, &bytes[..n]).unwrap();
        refused(d, &["resume", "cut.json"]);
    }
}

#[test]
fn empty_and_foreign_files_are_refused_clearly() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let cases: &[(&str, &str)] = &[
        ("", "is empty"),
        ("  \n", "is empty"),
        ("hello, world\n", "is not a dagrun state file"),
        ("tasks:\n  a: {cmd: x}\n", "is not a dagrun state file"),
        ("[]", "is not a dagrun state file"),
        ("{}", "is not a dagrun state file (no `format_version`)"),
        ("{\"tasks\": {}}", "no `format_version`"),
        ("{\"format_version\": 1}", "is damaged"),
        ("{\"format_version\": \"1\", \"tasks\": {}}", "is damaged"),
        ("{\"format_version\": 2}", "has format version 2, which this dagrun cannot read"),
        (
            "{\"format_version\": 2, \"anything\": [1, 2]}",
            "has format version 2, which this dagrun cannot read",
        ),
        ("{\"format_version\": -1}", "cannot read"),
        ("\u{feff}\u{0}\u{1}binary", "is not a dagrun state file"),
    ];
    for (text, expected) in cases {
        write(d, "s.json", text);
        for args in [&["status", "s.json"][..], &["resume", "s.json"], &["resume", "--dry-run", "s.json"]] {
            let err = refused(d, args);
            assert!(err.contains(expected), "{text:?} with {args:?}: expected `{expected}` in: {err}");
        }
    }
}

#[test]
fn a_newer_format_version_is_refused_with_what_this_dagrun_reads() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let state = failed_run(d);
    let mut v: serde_json::Value = serde_json::from_slice(&std::fs::read(&state).unwrap()).unwrap();
    v["format_version"] = 2.into();
    std::fs::write(&state, serde_json::to_vec_pretty(&v).unwrap()).unwrap();
    for cmd in ["status", "resume"] {
        let err = refused(d, &[cmd, "st/state.json"]);
        assert!(
            err.contains("has format version 2, which this dagrun cannot read (it reads version 1)"),
            "{err}"
        );
    }
}

#[test]
fn an_unknown_workflow_format_in_the_state_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let state = failed_run(d);
    let mut v: serde_json::Value = serde_json::from_slice(&std::fs::read(&state).unwrap()).unwrap();
    v["workflow"]["format"] = "xml".into();
    std::fs::write(&state, serde_json::to_vec_pretty(&v).unwrap()).unwrap();
    for args in [&["resume", "st/state.json"][..], &["resume", "--dry-run", "st/state.json"]] {
        let err = refused(d, args);
        assert!(err.contains("unknown format `xml`"), "{err}");
    }
    // Naming the workflow explicitly needs no recorded format.
    let out = dagrun()
        .args(["resume", "--progress", "plain", "--workflow", "flow.yaml", "st/state.json"])
        .current_dir(d)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "b still fails: {}", String::from_utf8_lossy(&out.stderr));
}

#[test]
fn a_symlink_or_a_directory_as_the_state_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    failed_run(d);
    std::os::unix::fs::symlink(d.join("st/state.json"), d.join("link.json")).unwrap();
    for args in
        [&["status", "link.json"][..], &["resume", "link.json"], &["resume", "--dry-run", "link.json"]]
    {
        let err = refused(d, args);
        assert!(err.contains("state file `link.json` is a symbolic link"), "{err}");
    }
    assert!(!d.join("link.json.lock").exists());
    std::fs::create_dir(d.join("dir.json")).unwrap();
    for args in [&["status", "dir.json"][..], &["resume", "dir.json"]] {
        let err = refused(d, args);
        assert!(err.contains("state file `dir.json` is not a regular file"), "{err}");
    }
    assert!(!d.join("dir.json.lock").exists());
    let err = refused(d, &["run", "--state", "dir.json", "flow.yaml"]);
    assert!(err.contains("dir.json"), "{err}");
}

// ---------------------------------------------------------------------------------------------
// The format-1 fixture

fn fixture_copy(d: &Path) -> PathBuf {
    let state = d.join("state.json");
    std::fs::copy(fixture("state/v1/state.json"), &state).unwrap();
    state
}

#[test]
fn the_format_1_fixture_keeps_loading() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let state = fixture_copy(d);
    let text = status_text(d, &state);
    assert!(text.starts_with("workflow fixture (/nonexistent/dagrun-state-fixture/flow.yaml)\n"), "{text}");
    assert!(text.contains("last run: failed"), "{text}");
    assert!(text.contains("tasks: 4 in all: 1 failed, 1 skipped, 2 succeeded"), "{text}");
    assert!(text.contains("over 1 run(s)"), "{text}");
    assert!(text.contains("  fail: exit code 3 (log: "), "{text}");
    let json = status_json(d, &state);
    assert_eq!(json["total"], 4);
    assert_eq!(json["counts"]["succeeded"], 2);
    assert_eq!(json["counts"]["failed"], 1);
    assert_eq!(json["counts"]["skipped"], 1);
    assert_eq!(json["runs"], 1);
    assert_eq!(json["elapsed_secs"], 2.5);
}

#[test]
fn the_format_1_fixture_resumes_from_its_stored_source() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let state = fixture_copy(d);
    let before = std::fs::read(&state).unwrap();
    let out = dagrun().args(["resume", "--dry-run"]).arg(&state).current_dir(d).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert!(err.contains("is gone; resuming from the copy of the workflow kept in the state"), "{err}");
    // The recorded hashes still match: a change in hashing would show `hello` as changed.
    assert!(err.contains("resume: 2 of 4 tasks done and skipped; 2 to run (1 failed, 1 skipped)"), "{err}");
    // The recorded `-p who=fixture` still applies (it is in no command that runs, but in the
    // hash of `hello`, which is done).
    assert!(stdout.contains("would run 2 tasks"), "{stdout}");
    assert!(stdout.contains("1. fail: echo failing; exit 3"), "{stdout}");
    assert!(stdout.contains("2. after_fail: echo never"), "{stdout}");
    assert_eq!(std::fs::read(&state).unwrap(), before);
}

// ---------------------------------------------------------------------------------------------
// status, graph --state and the summary

#[test]
fn status_of_a_failed_run_in_text_and_json() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let state = failed_run(d);
    let text = status_text(d, Path::new("st/state.json"));
    let flow = d.join("flow.yaml").canonicalize().unwrap();
    assert!(text.starts_with(&format!("workflow flow ({})\n", flow.display())), "{text}");
    assert!(text.contains("last run: failed\n"), "{text}");
    assert!(text.contains("tasks: 4 in all: 1 failed, 1 skipped, 2 succeeded\n"), "{text}");
    assert!(text.contains(" over 1 run(s)\n"), "{text}");
    assert!(text.contains("failed tasks:\n  b: exit code 3 (log: st/logs/b.1.log)\n"), "{text}");

    let json = status_json(d, &state);
    assert_eq!(json["workflow"], "flow");
    assert_eq!(json["total"], 4);
    assert_eq!(
        json["counts"],
        serde_json::json!({
            "failed": 1, "interrupted": 0, "pending": 0, "running": 0, "skipped": 1, "succeeded": 2
        })
    );
    assert_eq!(json["failed"].as_array().unwrap().len(), 1);
    let failed = &json["failed"][0];
    assert_eq!(failed["id"], "b");
    assert_eq!(failed["exit_code"], 3);
    let log = Path::new(failed["log"].as_str().unwrap());
    assert_eq!(log, state.parent().unwrap().join("logs/b.1.log"));
    assert_eq!(std::fs::read_to_string(log).unwrap(), "failing\n");
    assert_eq!(json["runs"], 1);
    assert_eq!(json["running"], false);
    assert_eq!(json["outcome"], "failed");

    // A second, failing resume counts as a second run.
    let out = dagrun().args(["resume", "--progress", "plain"]).arg(&state).current_dir(d).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let json = status_json(d, &state);
    assert_eq!(json["runs"], 2);
    assert!(json["failed"][0]["log"].as_str().unwrap().ends_with("logs/b.2.log"));
}

#[test]
fn the_state_file_is_created_like_any_other_file_not_private() {
    use std::os::unix::fs::PermissionsExt;
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let state = failed_run(d);
    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    // The task logs are plain files made under the same umask.
    assert_eq!(mode(&state), mode(&d.join("st/logs/b.1.log")), "state.json is {:o}", mode(&state));
}

#[test]
fn graph_with_state_colours_nodes_by_status() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    failed_run(d);
    let out =
        dagrun().args(["graph", "flow.yaml", "--state", "st/state.json"]).current_dir(d).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let dot = String::from_utf8(out.stdout).unwrap();
    assert!(dot.contains("fillcolor=palegreen"), "{dot}");
    assert!(dot.contains("fillcolor=lightcoral"), "{dot}");
    let line_of = |id: &str| {
        dot.lines().find(|l| l.trim_start().starts_with(&format!("\"{id}\""))).unwrap_or_default().to_owned()
    };
    assert!(line_of("a").contains("palegreen"), "{dot}");
    assert!(line_of("b").contains("lightcoral"), "{dot}");
}

fn summary_of(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn the_summary_says_how_to_continue_only_when_something_is_left() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let flow = write(d, "flow.yaml", "tasks:\n  a: {cmd: 'test -e ok'}\n  b: {cmd: 'true', after: [a]}\n");
    let run = || {
        dagrun()
            .args(["run", "--progress", "plain", "--state", "st/state.json"])
            .arg(&flow)
            .current_dir(d)
            .output()
            .unwrap()
    };
    let out = run();
    assert_eq!(out.status.code(), Some(1));
    let err = summary_of(&out);
    assert_eq!(err.trim_end().lines().last(), Some("to continue: dagrun resume st/state.json"), "{err}");
    // The failing resume says it again; the succeeding one does not.
    let out =
        dagrun().args(["resume", "--progress", "plain", "st/state.json"]).current_dir(d).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(summary_of(&out).trim_end().ends_with("to continue: dagrun resume st/state.json"));
    std::fs::write(d.join("ok"), "").unwrap();
    let out =
        dagrun().args(["resume", "--progress", "plain", "st/state.json"]).current_dir(d).output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert!(!summary_of(&out).contains("to continue"), "{}", summary_of(&out));
    let out = run();
    assert_eq!(out.status.code(), Some(0));
    assert!(!summary_of(&out).contains("to continue"), "{}", summary_of(&out));
}

#[test]
fn status_after_a_kill_counts_the_time_the_killed_run_ran() {
    // `a` takes a known time (its own sleep, not the test's), so the killed run's span is at
    // least that.
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let flow = write(
        d,
        "flow.yaml",
        &format!(
            "env:\n  DIR: \"{}\"\ntasks:\n  a: {{cmd: 'sleep 0.3'}}\n  b: {{after: [a], cmd: 'touch \"$DIR/started\"; sleep 1000'}}\n",
            d.display()
        ),
    );
    let mut child = spawn_run(d, &flow);
    wait_for_file(&d.join("started"));
    kill(Pid::from_raw(child.id() as i32), Signal::SIGKILL).unwrap();
    child.wait().unwrap();
    let state = d.join("st/state.json");
    let json = status_json(d, &state);
    let secs = json["elapsed_secs"].as_f64().unwrap();
    assert!(secs >= 0.3, "a killed run ran for {secs} s: {json}");
    let text = status_text(d, &state);
    assert!(!text.contains("time spent running: 0.00s"), "{text}");
}
