//! The trace: a JSON line per finished attempt beside the state, complete after a kill -9.

use crate::common::*;
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use std::path::Path;

fn lines(path: &Path) -> Vec<serde_json::Value> {
    let text = std::fs::read_to_string(path).unwrap();
    assert!(text.is_empty() || text.ends_with('\n'), "a torn last line: {text:?}");
    text.lines().map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}"))).collect()
}

#[test]
fn every_attempt_has_a_line_and_resume_adds_its_own() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    write(
        d,
        "flow.yaml",
        "tasks:\n  flaky: {retries: 1, retry_delay: 10ms, cmd: '[ \"$DAGRUN_ATTEMPT\" -ge 2 ]'}\n  broken: {cmd: 'exit 3', after: flaky}\n",
    );
    Test::in_dir(d).args(&["run", "flow.yaml"]).code(1).run();
    let trace = d.join(".dagrun/flow/state.json.trace");
    let got: Vec<(String, u64, String)> = lines(&trace)
        .iter()
        .map(|l| {
            (
                l["task"].as_str().unwrap().into(),
                l["attempt"].as_u64().unwrap(),
                l["status"].as_str().unwrap().into(),
            )
        })
        .collect();
    let want = [("flaky", 1, "retried"), ("flaky", 2, "succeeded"), ("broken", 1, "failed")];
    assert_eq!(got, want.map(|(t, a, s)| (t.to_owned(), a, s.to_owned())));
    let first = &lines(&trace)[0];
    assert_eq!(first["exit_code"], 1);
    for k in ["queued_at", "started_at", "ended_at"] {
        assert!(first[k].as_str().is_some_and(|t| t.ends_with('Z')), "{k}: {first}");
    }
    assert!(first["queued_at"].as_str() <= first["started_at"].as_str());
    write(
        d,
        "flow.yaml",
        "tasks:\n  flaky: {retries: 1, retry_delay: 10ms, cmd: '[ \"$DAGRUN_ATTEMPT\" -ge 2 ]'}\n  broken: {cmd: 'true', after: flaky}\n",
    );
    Test::in_dir(d).args(&["resume", ".dagrun/flow/state.json"]).code(0).run();
    let all = lines(&trace);
    assert_eq!(all.len(), 4);
    assert_eq!(
        (all[3]["task"].as_str(), all[3]["attempt"].as_u64(), all[3]["status"].as_str()),
        (Some("broken"), Some(2), Some("succeeded"))
    );
    // The next run starts a trace of its own; the old one is kept with its state.
    Test::in_dir(d).args(&["run", "flow.yaml"]).code(0).run();
    assert_eq!(lines(&trace).len(), 3);
    let kept: Vec<_> = std::fs::read_dir(d.join(".dagrun/flow/history")).unwrap().flatten().collect();
    assert_eq!(lines(&kept[0].path().join("state.json.trace")).len(), 4);
}

#[test]
fn a_kill_9_leaves_whole_lines_up_to_the_last_finished_attempt() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    write(
        d,
        "flow.yaml",
        &format!("tasks:\n  first: {{cmd: 'true'}}\n  second: {{cmd: '{UNTIL_GO}', after: first}}\n"),
    );
    let mut run = run_until_started(d);
    kill(Pid::from_raw(run.id() as i32), Signal::SIGKILL).unwrap();
    run.wait().unwrap();
    let got = lines(&d.join(".dagrun/flow/state.json.trace"));
    assert_eq!(got.len(), 1, "{got:?}");
    assert_eq!((got[0]["task"].as_str(), got[0]["status"].as_str()), (Some("first"), Some("succeeded")));
}

#[test]
fn a_local_attempt_says_what_its_processes_used() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    write(
        d,
        "flow.yaml",
        "tasks:\n  big: {cmd: 'python3 -c \"x = bytearray(80_000_000); x[::4096] = b\\\"1\\\" * len(x[::4096])\"'}\n",
    );
    Test::in_dir(d).args(&["run", "flow.yaml"]).code(0).run();
    let got = lines(&d.join(".dagrun/flow/state.json.trace"));
    let rss = got[0]["max_rss_kib"].as_u64().unwrap();
    assert!(rss >= 80_000, "{}", got[0]);
    assert!(got[0]["user_ms"].is_u64() && got[0]["sys_ms"].is_u64(), "{}", got[0]);
}
