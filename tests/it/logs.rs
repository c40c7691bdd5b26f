//! `dagrun logs`: tasks' logs by id, base name, namespace and glob, by attempt, failed only,
//! and followed live.

use crate::common::*;
use std::io::Read;
use std::path::Path;

const FLOW: &str = r#"tasks:
  greet:
    matrix: {who: [ann, bob]}
    cmd: 'echo "hello {{ who }}"'
  flaky:
    retries: 1
    retry_delay: 10ms
    cmd: 'echo "try $DAGRUN_ATTEMPT"; [ "$DAGRUN_ATTEMPT" -ge 2 ]'
  broken: {cmd: 'echo "it broke"; exit 3'}
  never: {cmd: 'true', after: broken}
"#;

fn ran(d: &Path) {
    write(d, "flow.yaml", FLOW);
    Test::in_dir(d).args(&["run", "flow.yaml"]).code(1).run();
}

fn logs(d: &Path, args: &[&str]) -> String {
    let mut all = vec!["logs", ".dagrun/flow/state.json"];
    all.extend_from_slice(args);
    Test::in_dir(d).args(&all).code(0).run().stdout
}

#[test]
fn every_task_that_ran_under_a_header() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    ran(d);
    assert_eq!(
        logs(d, &[]),
        "==> greet[who=ann] (attempt 1 of 1, succeeded) <==\nhello ann\n\
         ==> greet[who=bob] (attempt 1 of 1, succeeded) <==\nhello bob\n\
         ==> flaky (attempt 2 of 2, succeeded) <==\ntry 2\n\
         ==> broken (attempt 1 of 1, failed with exit code 3) <==\nit broke\n"
    );
}

#[test]
fn by_id_base_name_glob_attempt_and_failed() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    ran(d);
    let bob = "==> greet[who=bob] (attempt 1 of 1, succeeded) <==\nhello bob\n";
    assert_eq!(logs(d, &["greet[who=bob]"]), bob);
    assert!(logs(d, &["greet"]).starts_with("==> greet[who=ann]") && logs(d, &["greet"]).ends_with(bob));
    assert_eq!(logs(d, &["*=bob]"]), bob);
    assert_eq!(logs(d, &["flaky", "--attempt", "1"]), "==> flaky (attempt 1 of 2, retried) <==\ntry 1\n");
    assert_eq!(
        logs(d, &["--failed"]),
        "==> broken (attempt 1 of 1, failed with exit code 3) <==\nit broke\n"
    );
    assert_eq!(logs(d, &["never"]), "==> never (not started) <==\n");
    Test::in_dir(d)
        .args(&["logs", ".dagrun/flow/state.json", "flakey"])
        .code(2)
        .stderr_has("no task `flakey` in state file")
        .stderr_has("did you mean `flaky`?")
        .run();
}

#[test]
fn follow_prints_a_live_task_until_it_ends() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    write(
        d,
        "flow.yaml",
        "tasks:\n  slow: {cmd: 'echo first; while [ ! -e go ]; do sleep 0.02; done; echo second'}\n",
    );
    let mut run = dagrun_std().current_dir(d).args(["run", "flow.yaml"]).spawn().unwrap();
    let log = d.join(".dagrun/flow/logs/slow.1.log");
    wait_for_file(&log);
    let mut follow = dagrun_std()
        .current_dir(d)
        .args(["logs", "-f", ".dagrun/flow/state.json", "slow"])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = follow.stdout.take().unwrap();
    let mut seen = Vec::new();
    let mut buf = [0u8; 256];
    while !String::from_utf8_lossy(&seen).contains("first\n") {
        let n = out.read(&mut buf).unwrap();
        assert!(n > 0, "logs -f ended early: {}", String::from_utf8_lossy(&seen));
        seen.extend_from_slice(&buf[..n]);
    }
    std::fs::write(d.join("go"), "").unwrap();
    out.read_to_end(&mut seen).unwrap();
    assert!(wait_exit(&mut follow, LIMIT).success());
    assert!(wait_exit(&mut run, LIMIT).success());
    assert_eq!(String::from_utf8_lossy(&seen), "==> slow (attempt 1 of 1, running) <==\nfirst\nsecond\n");
}

#[test]
fn control_characters_are_escaped_on_a_terminal_and_kept_in_a_pipe() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    write(d, "flow.yaml", "tasks:\n  loud: {cmd: \"printf 'red \\\\033[31mtext\\\\n'\"}\n");
    Test::in_dir(d).args(&["run", "flow.yaml"]).code(0).run();
    assert!(logs(d, &["loud"]).contains("red \u{1b}[31mtext\n"), "a pipe gets the bytes as they are");
    // Under `script`, dagrun's stdout is a pseudo-terminal.
    let bin = assert_cmd::cargo::cargo_bin("dagrun");
    let inner = format!("'{}' logs .dagrun/flow/state.json loud", bin.display());
    let out = std::process::Command::new("script")
        .args(["-q", "-e", "-c", &inner, "/dev/null"])
        .current_dir(d)
        .stdin(std::process::Stdio::null())
        .output()
        .expect("run `script` (util-linux)");
    let shown = String::from_utf8_lossy(&out.stdout);
    assert!(shown.contains("red \\u{1b}[31mtext"), "{shown:?}");
    assert!(!shown.contains('\u{1b}'), "{shown:?}");
}

#[test]
fn a_log_of_megabytes_comes_out_byte_for_byte() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    // About 3 MiB of multibyte text, so that chunks end inside characters.
    write(
        d,
        "flow.yaml",
        "tasks:\n  big: {cmd: 'i=0; while [ $i -lt 120000 ]; do echo \"ünï $i ✓ 日本\"; i=$((i+1)); done'}\n",
    );
    Test::in_dir(d).args(&["run", "flow.yaml"]).code(0).run();
    let log = std::fs::read(d.join(".dagrun/flow/logs/big.1.log")).unwrap();
    assert!(log.len() > 2 << 20, "more than one chunk");
    let out = dagrun_std().current_dir(d).args(["logs", ".dagrun/flow/state.json", "big"]).output().unwrap();
    let header = b"==> big (attempt 1 of 1, succeeded) <==\n";
    assert_eq!(&out.stdout[..header.len()], header);
    assert!(out.stdout[header.len()..] == log[..], "the log's bytes differ");
}
