//! The history of runs: `run` keeps the state it replaces, with its logs; `history` lists the
//! runs; `clean` prunes them, never while a run holds the state.

use crate::common::*;
use std::path::Path;

const FLOW: &str = "tasks:\n  count: {cmd: 'n=$(cat n 2>/dev/null || echo 0); n=$((n+1)); echo $n > n; echo \"run $n\"; [ $n -ne 2 ]'}\n";

fn history(d: &Path) -> Vec<serde_json::Value> {
    let ran = Test::in_dir(d).args(&["history", "flow.yaml", "--format", "json"]).code(0).run();
    serde_json::from_str::<serde_json::Value>(&ran.stdout).unwrap().as_array().unwrap().clone()
}

#[test]
fn three_runs_are_kept_with_their_logs_and_pruned_by_clean() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    write(d, "flow.yaml", FLOW);
    for code in [0, 1, 0] {
        Test::in_dir(d).args(&["run", "flow.yaml"]).code(code).run();
    }
    let runs = history(d);
    let outcomes: Vec<&str> = runs.iter().map(|r| r["outcome"].as_str().unwrap()).collect();
    assert_eq!(outcomes, ["succeeded", "failed", "succeeded"], "{runs:?}");
    assert_eq!(runs[0]["run"], "current");
    assert_eq!(runs[1]["counts"]["failed"], 1);
    // Each past run has its own logs.
    for (run, want) in [(1, "run 2\n"), (2, "run 1\n")] {
        let state = runs[run]["path"].as_str().unwrap();
        let out = Test::in_dir(d).args(&["logs", state, "count"]).code(0).run().stdout;
        assert!(out.ends_with(want), "{out}");
    }
    let text = Test::in_dir(d).args(&["history", "flow.yaml"]).code(0).run().stdout;
    assert!(text.contains("RUN") && text.contains("current") && text.contains("failed"), "{text}");
    Test::in_dir(d)
        .args(&["clean", "flow.yaml", "--keep", "1"])
        .code(0)
        .stderr_has("removed 1 past run")
        .run();
    let runs = history(d);
    assert_eq!(runs.len(), 2);
    assert_eq!(runs[1]["outcome"], "failed");
}

#[test]
fn clean_refuses_while_a_run_holds_the_state() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    write(d, "flow.yaml", "tasks:\n  a: {cmd: 'true'}\n");
    Test::in_dir(d).args(&["run", "flow.yaml"]).code(0).run();
    write(d, "flow.yaml", &format!("tasks:\n  a: {{cmd: '{UNTIL_GO}'}}\n"));
    let mut run = run_until_started(d);
    Test::in_dir(d)
        .args(&["clean", "flow.yaml", "--keep", "0"])
        .code(4)
        .stderr_has("in use by a running dagrun")
        .run();
    let running = history(d);
    assert_eq!(running[0]["outcome"], "running");
    std::fs::write(d.join("go"), "").unwrap();
    assert!(wait_exit(&mut run, LIMIT).success());
    assert_eq!(history(d).len(), 2, "nothing was removed");
    Test::in_dir(d).args(&["clean", "flow.yaml", "--keep", "0"]).code(0).run();
    assert_eq!(history(d).len(), 1);
}

#[test]
fn status_shows_the_slowest_tasks_and_what_is_running_now() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    write(d, "flow.yaml", &format!("tasks:\n  quick: {{cmd: 'true'}}\n  waits: {{cmd: '{UNTIL_GO}'}}\n"));
    let mut run = run_until_started(d);
    let state = ".dagrun/flow/state.json";
    let now =
        Test::in_dir(d).args(&["status", state]).code(0).stdout_has("running now:\n  waits, for ").run();
    assert!(!now.stdout.contains("  quick, for"), "{}", now.stdout);
    let json = Test::in_dir(d).args(&["status", "--format", "json", state]).code(0).run().stdout;
    let doc: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(doc["running_tasks"][0]["id"], "waits");
    std::fs::write(d.join("go"), "").unwrap();
    assert!(wait_exit(&mut run, LIMIT).success());
    let done = Test::in_dir(d).args(&["status", state]).code(0).stdout_has("slowest tasks:\n").run().stdout;
    let slow: Vec<&str> = done.lines().skip_while(|l| *l != "slowest tasks:").skip(1).take(2).collect();
    assert!(slow[0].ends_with("  waits") && slow[1].ends_with("  quick"), "{done}");
    assert!(!done.contains("running now"), "{done}");
}
