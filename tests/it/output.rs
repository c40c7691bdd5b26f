//! `--output`: what of the tasks' own output a run shows, and the digest of a failed run.

use crate::common::*;
use std::path::Path;

fn run(d: &Path, args: &[&str]) -> String {
    let mut all = vec!["run", "flow.yaml", "--progress", "plain", "-j", "2"];
    all.extend_from_slice(args);
    Test::in_dir(d).args(&all).run().stderr
}

#[test]
fn prefixed_never_splits_a_line_and_keeps_each_tasks_order() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    // Each line is written in two pieces, and both tasks write at once.
    let task = |name: &str| {
        format!(
            "  {name}: {{cmd: 'i=0; while [ $i -lt 3000 ]; do printf \"{name} line $i\"; printf \" end\\n\"; i=$((i+1)); done; printf \"no newline\"'}}\n"
        )
    };
    write(d, "flow.yaml", &format!("tasks:\n{}{}", task("a"), task("b")));
    let err = run(d, &["--output", "prefixed"]);
    for name in ["a", "b"] {
        let prefix = format!("[{name}] ");
        let lines: Vec<&str> = err.lines().filter_map(|l| l.strip_prefix(prefix.as_str())).collect();
        let mut want: Vec<String> = (0..3000).map(|i| format!("{name} line {i} end")).collect();
        want.push("no newline".into());
        assert_eq!(lines, want, "task {name}");
    }
    assert!(err.lines().all(|l| !l.contains("] ") || l.starts_with("[a] ") || l.starts_with("[b] ")));
}

const FLOW: &str = "tasks:
  ok: {cmd: 'echo fine; echo also fine >&2'}
  bad: {cmd: 'i=1; while [ $i -le 15 ]; do echo \"bad $i\"; i=$((i+1)); done; exit 4', after: ok}
";

#[test]
fn grouped_prints_each_task_whole_when_it_ends() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    write(d, "flow.yaml", FLOW);
    let err = run(d, &["--output", "grouped"]);
    let bad: String = (1..=15).map(|i| format!("bad {i}\n")).collect();
    assert!(err.contains("start    ok\n==> ok <==\nfine\nalso fine\nok       ok in"), "{err}");
    assert!(err.contains(&format!("start    bad\n==> bad <==\n{bad}failed   bad: exit code 4\n")), "{err}");
    // In CI, groups fold; a failed one stays open.
    let err = run(d, &["--output", "grouped", "--group-markers"]);
    assert!(err.contains("::group::ok\nfine\nalso fine\n::endgroup::\n"), "{err}");
    assert!(err.contains("==> bad <==\nbad 1\n") && !err.contains("::group::bad"), "{err}");
}

#[test]
fn failed_shows_a_failed_tasks_output_whole_and_none_shows_none() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    write(d, "flow.yaml", FLOW);
    let err = run(d, &[]);
    let shown: String = (1..=15).map(|i| format!("\n         | bad {i}")).collect();
    assert!(
        err.contains(&format!(
            "failed   bad: exit code 4\n         log: .dagrun/flow/logs/bad.1.log{shown}\n"
        )),
        "{err}"
    );
    assert!(!err.contains("fine"), "{err}");
    // The digest at the end: the first failure, its reason, its last lines.
    let digest: String = (11..=15).map(|i| format!("  | bad {i}\n")).collect();
    assert!(err.contains(&format!("first failure: bad: exit code 4\n{digest}")), "{err}");
    let err = run(d, &["--output", "none"]);
    assert!(
        err.contains("failed   bad: exit code 4\n         log: .dagrun/flow/logs/bad.1.log\nrun failed"),
        "{err}"
    );
    assert!(!err.contains("fine") && !err.contains("| bad 1\n"), "{err}");
}
