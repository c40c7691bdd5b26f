//! The order ready tasks start in: `priority`, then the longest work ahead (weighted by the
//! durations an earlier run recorded), then file order. With `-j 1` the start lines show it.

use crate::common::*;
use std::path::Path;

fn started(d: &Path, args: &[&str]) -> Vec<String> {
    let mut all = vec!["run", "-j", "1", "--progress", "plain", "flow.yaml"];
    all.extend_from_slice(args);
    let ran = Test::in_dir(d).args(&all).code(0).run();
    ran.stderr
        .lines()
        .filter_map(|l| l.strip_prefix("start    "))
        .map(|l| l.split_whitespace().next().unwrap_or_default().to_owned())
        .collect()
}

const FLOW: &str = "tasks:
  short: {cmd: 'true'}
  long: {cmd: 'true'}
  chain1: {cmd: 'true'}
  chain2: {cmd: 'true', after: [chain1]}
";

#[test]
fn the_longest_chain_starts_first_then_file_order() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    write(d, "flow.yaml", FLOW);
    assert_eq!(started(d, &[]), ["chain1", "short", "long", "chain2"]);
}

#[test]
fn priority_overrides_the_work_ahead() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    write(d, "flow.yaml", &FLOW.replace("long: {cmd: 'true'}", "long: {cmd: 'true', priority: 3}"));
    assert_eq!(started(d, &[]), ["long", "chain1", "short", "chain2"]);
}

#[test]
fn durations_of_the_run_replaced_weigh_in_the_next_one() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    write(d, "flow.yaml", FLOW);
    started(d, &[]);
    // As if `long` had taken a minute last time and the others a millisecond.
    let path = d.join(".dagrun/flow/state.json");
    let mut state: serde_json::Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    for (id, rec) in state["tasks"].as_object_mut().unwrap() {
        rec["duration_ms"] = serde_json::json!(if id == "long" { 60_000 } else { 1 });
    }
    std::fs::write(&path, serde_json::to_vec(&state).unwrap()).unwrap();
    assert_eq!(started(d, &[]), ["long", "chain1", "short", "chain2"]);
}

#[test]
fn a_priority_that_is_not_a_whole_number_is_a_validation_error() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    write(
        d,
        "flow.yaml",
        "params: {p: high}\ntasks:\n  a: {cmd: x, priority: \"{{ p }}\"}\n  b: {cmd: x, priority: -3}\n",
    );
    Test::in_dir(d)
        .args(&["validate", "flow.yaml"])
        .code(3)
        .stderr_has("task `a`, field `priority`: `high` is not a whole number")
        .stderr_lacks("task `b`")
        .run();
}

#[test]
fn generated_tasks_are_ranked_and_their_priority_counts() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    write(
        d,
        "flow.yaml",
        "defaults: {priority: 1}\ntasks:
  gen:
    generator: true
    cmd: |
      echo 'tasks:'
      echo '  plain: {cmd: \"true\"}'
      echo '  chain1: {cmd: \"true\"}'
      echo '  chain2: {cmd: \"true\", after: chain1}'
      echo '  urgent: {cmd: \"true\", priority: 9}'
  later: {cmd: 'true', priority: 0}
",
    );
    // `later` (priority 0) waits behind `gen` (1, from the defaults), and then behind the tasks
    // `gen` adds (the defaults' 1 too): `urgent` first, then the longer chain, then file order.
    assert_eq!(started(d, &[]), ["gen", "gen/urgent", "gen/chain1", "gen/plain", "gen/chain2", "later"]);
}
