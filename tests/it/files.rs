//! Declared files: what is up to date is skipped across runs, and every decision says why.

use crate::common::*;
use std::path::Path;

/// Three sources compiled in a matrix, linked, then tested; every task appends its id to
/// `ran.log`, so a test sees exactly what ran.
const BUILD: &str = r#"tasks:
  compile:
    matrix: {f: [add, mul, sub]}
    inputs: ["src/{{ f }}.c", "include/*.h"]
    outputs: ["build/{{ f }}.o"]
    cmd: echo "$DAGRUN_TASK" >> ran.log && mkdir -p build && cat src/{{ f }}.c include/*.h > build/{{ f }}.o
  link:
    after: [compile]
    inputs: ["build/*.o"]
    outputs: [build/app]
    cmd: echo "$DAGRUN_TASK" >> ran.log && cat build/*.o > build/app
  test:
    after: [link]
    cmd: echo "$DAGRUN_TASK" >> ran.log && test -s build/app
"#;

/// A project directory with `BUILD` and its sources, their times set well in the past (a
/// file changed within the last clock tick is read again next time, however it is stamped).
fn project() -> tempfile::TempDir {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    std::fs::create_dir_all(d.join("src")).unwrap();
    std::fs::create_dir_all(d.join("include")).unwrap();
    write(d, "flow.yaml", BUILD);
    for f in ["add", "mul", "sub"] {
        write(d, &format!("src/{f}.c"), &format!("int {f}(int a, int b);\n"));
    }
    write(d, "include/ops.h", "#pragma once\n");
    age(d, &["src/add.c", "src/mul.c", "src/sub.c", "include/ops.h"], 1_600_000_000);
    tmp
}

/// Sets the mtime of `files` to `at` (seconds since the epoch), contents untouched.
fn age(d: &Path, files: &[&str], at: u64) {
    let st = std::process::Command::new("touch")
        .arg("-d")
        .arg(format!("@{at}"))
        .args(files)
        .current_dir(d)
        .status()
        .unwrap();
    assert!(st.success());
}

/// Runs `dagrun run --explain` and returns what ran (from `ran.log`, which it empties) and
/// stderr.
fn run(d: &Path, extra: &[&str]) -> (Vec<String>, String) {
    let mut args = vec!["run", "--progress", "plain", "--explain", "flow.yaml"];
    args.extend_from_slice(extra);
    let out = Test::in_dir(d).args(&args).code(0).run();
    (take_ran(d), out.stderr)
}

fn take_ran(d: &Path) -> Vec<String> {
    let log = d.join("ran.log");
    let mut ran: Vec<String> =
        std::fs::read_to_string(&log).unwrap_or_default().lines().map(String::from).collect();
    let _ = std::fs::remove_file(&log);
    ran.sort();
    ran
}

fn ids(list: &[&str]) -> Vec<String> {
    let mut v: Vec<String> = list.iter().map(|s| s.to_string()).collect();
    v.sort();
    v
}

/// How many input files the run read to compare their contents (`--explain` says).
fn files_read(stderr: &str) -> usize {
    let line =
        stderr.lines().find(|l| l.starts_with("explain: ")).unwrap_or_else(|| panic!("no count:\n{stderr}"));
    line.split_whitespace().find_map(|w| w.parse().ok()).unwrap_or_else(|| panic!("{line}"))
}

#[test]
fn nothing_changed_nothing_runs_but_what_declares_no_outputs() {
    let p = project();
    let d = p.path();
    let (ran, _) = run(d, &[]);
    assert_eq!(ran, ids(&["compile[f=add]", "compile[f=mul]", "compile[f=sub]", "link", "test"]));
    let (ran, err) = run(d, &[]);
    assert_eq!(ran, ids(&["test"]), "{err}");
    for line in [
        "ok       compile[f=add]: up to date",
        "ok       link: up to date",
        "why      test: runs: no outputs declared",
    ] {
        assert!(err.contains(line), "`{line}` missing:\n{err}");
    }
    assert!(err.contains("1 succeeded, 4 up to date"), "{err}");
    let state = load_state(&d.join(".dagrun/flow/state.json"));
    assert!(state.tasks["link"].up_to_date && state.tasks["link"].status == dagrun::model::Status::Succeeded);
}

#[test]
fn a_touched_input_is_read_once_and_nothing_runs() {
    let p = project();
    let d = p.path();
    run(d, &[]);
    // The objects were written just now, too recently for their stamps to vouch for them:
    // aged, they are read once more, then trusted.
    age(d, &["build/add.o", "build/mul.o", "build/sub.o"], 1_600_000_050);
    let (ran, err) = run(d, &[]);
    assert_eq!((ran, files_read(&err)), (ids(&["test"]), 3), "{err}");
    let (ran, err) = run(d, &[]);
    assert_eq!((ran, files_read(&err)), (ids(&["test"]), 0), "{err}");
    age(d, &["src/mul.c"], 1_600_000_100);
    let (ran, err) = run(d, &[]);
    assert_eq!((ran, files_read(&err)), (ids(&["test"]), 1), "{err}");
    let (ran, err) = run(d, &[]);
    assert_eq!((ran, files_read(&err)), (ids(&["test"]), 0), "the touched file was read twice:\n{err}");
}

#[test]
fn an_edited_input_reruns_exactly_its_task_and_what_reads_its_output() {
    let p = project();
    let d = p.path();
    run(d, &[]);
    write(d, "src/add.c", "int add(int a, int b) { return a + b; }\n");
    let (ran, err) = run(d, &[]);
    assert_eq!(ran, ids(&["compile[f=add]", "link", "test"]), "{err}");
    assert!(err.contains("why      compile[f=add]: runs: input src/add.c changed"), "{err}");
    assert!(err.contains("why      link: runs: upstream compile[f=add] ran"), "{err}");
    // A header every compile reads: all of them, and the link.
    write(d, "include/ops.h", "#pragma once\n#define N 2\n");
    let (ran, _) = run(d, &[]);
    assert_eq!(ran, ids(&["compile[f=add]", "compile[f=mul]", "compile[f=sub]", "link", "test"]));
}

#[test]
fn an_upstream_that_rewrites_the_same_bytes_leaves_its_readers_alone() {
    let p = project();
    let d = p.path();
    run(d, &[]);
    // An edited command that writes the same bytes: the compiles run, the link reads what it
    // read before.
    write(
        d,
        "flow.yaml",
        &BUILD.replace(
            "cmd: echo \"$DAGRUN_TASK\" >> ran.log && mkdir",
            "cmd: echo \"$DAGRUN_TASK\" >> ran.log && true && mkdir",
        ),
    );
    let (ran, err) = run(d, &[]);
    assert_eq!(ran, ids(&["compile[f=add]", "compile[f=mul]", "compile[f=sub]", "test"]), "{err}");
    assert!(err.contains("why      compile[f=add]: runs: command changed"), "{err}");
    assert!(err.contains("ok       link: up to date"), "{err}");
}

#[test]
fn a_deleted_output_reruns_its_task() {
    let p = project();
    let d = p.path();
    run(d, &[]);
    std::fs::remove_file(d.join("build/sub.o")).unwrap();
    let (ran, err) = run(d, &[]);
    assert_eq!(ran, ids(&["compile[f=sub]", "test"]), "{err}");
    assert!(err.contains("why      compile[f=sub]: runs: output build/sub.o missing"), "{err}");
}

#[test]
fn a_new_file_matching_an_input_glob_reruns_the_task() {
    let p = project();
    let d = p.path();
    run(d, &[]);
    write(d, "include/extra.h", "#define EXTRA 1\n");
    let (ran, err) = run(d, &[]);
    assert!(ran.contains(&"compile[f=add]".to_owned()), "{err}");
    assert!(err.contains("why      compile[f=add]: runs: input include/extra.h is new"), "{err}");
    std::fs::remove_file(d.join("include/extra.h")).unwrap();
    let (_, err) = run(d, &[]);
    assert!(err.contains("why      compile[f=mul]: runs: input include/extra.h is gone"), "{err}");
}

#[test]
fn force_runs_everything() {
    let p = project();
    let d = p.path();
    run(d, &[]);
    let (ran, _) = run(d, &["--force"]);
    assert_eq!(ran.len(), 5);
}

#[test]
fn a_declared_output_not_created_fails_the_task() {
    Test::new()
        .file("flow.yaml", "tasks:\n  a: {cmd: 'true', outputs: [out.txt]}\n")
        .args(&["run", "flow.yaml"])
        .code(1)
        .stderr_has("failed   a: it succeeded without creating its declared output `out.txt`")
        .run();
    // One left from before that the task does not write again is no better.
    let t = Test::new()
        .file("flow.yaml", "tasks:\n  a: {cmd: 'test -e out.txt', outputs: [out.txt]}\n")
        .file("out.txt", "old\n");
    t.args(&["run", "flow.yaml"])
        .code(1)
        .stderr_has("without writing its declared output `out.txt`, which is left from before the run")
        .run();
}

#[test]
fn a_task_that_failed_after_writing_its_outputs_is_not_up_to_date() {
    // It succeeded once; then failed half way with the same inputs (a flaky step after
    // writing): its outputs cannot be trusted, so it runs again.
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    write(d, "in.txt", "x\n");
    age(d, &["in.txt"], 1_600_000_000);
    let flow = |fail: bool| {
        format!(
            "tasks:\n  a: {{cmd: 'cp in.txt out.txt && {}', inputs: [in.txt], outputs: [out.txt]}}\n",
            if fail { "test -e never" } else { "true" }
        )
    };
    write(d, "flow.yaml", &flow(false));
    Test::in_dir(d).args(&["run", "flow.yaml"]).code(0).run();
    write(d, "flow.yaml", &flow(true));
    Test::in_dir(d).args(&["run", "flow.yaml"]).code(1).run();
    write(d, "flow.yaml", &flow(false));
    Test::in_dir(d)
        .args(&["run", "--explain", "flow.yaml"])
        .code(0)
        .stderr_has("why      a: runs: its last attempt did not succeed")
        .run();
}

#[test]
fn resume_sees_an_edited_input() {
    let p = project();
    let d = p.path();
    run(d, &[]);
    write(d, "src/mul.c", "int mul(int a, int b) { return a * b; }\n");
    let out =
        Test::in_dir(d).args(&["resume", "--progress", "plain", ".dagrun/flow/state.json"]).code(0).run();
    assert_eq!(take_ran(d), ids(&["compile[f=mul]", "link", "test"]), "{}", out.stderr);
    assert!(out.stderr.contains("input src/mul.c changed"), "{}", out.stderr);
    let out = Test::in_dir(d).args(&["resume", ".dagrun/flow/state.json"]).code(0).run();
    assert_eq!(take_ran(d), Vec::<String>::new(), "{}", out.stderr);
}

#[test]
fn dry_runs_say_why_for_every_task() {
    let p = project();
    let d = p.path();
    let first = Test::in_dir(d).args(&["run", "--dry-run", "flow.yaml"]).code(0).run();
    run(d, &[]);
    write(d, "src/add.c", "int add(int a, int b) { return a + b; }\n");
    std::fs::remove_file(d.join("build/sub.o")).unwrap();
    let then = Test::in_dir(d).args(&["run", "--dry-run", "flow.yaml"]).code(0).run();
    let resume = Test::in_dir(d).args(&["resume", "--dry-run", ".dagrun/flow/state.json"]).code(0).run();
    assert!(take_ran(d).is_empty(), "a dry run ran something");
    insta::assert_snapshot!("dry_run_fresh", first.stdout);
    insta::assert_snapshot!("dry_run_after_edits", then.stdout);
    insta::assert_snapshot!("resume_dry_run_after_edits", resume.stdout);
    let json = Test::in_dir(d).args(&["run", "--dry-run", "--format", "json", "flow.yaml"]).code(0).run();
    let rows: serde_json::Value = serde_json::from_str(&json.stdout).unwrap();
    let add = rows.as_array().unwrap().iter().find(|r| r["task"] == "compile[f=add]").unwrap();
    assert_eq!(add["runs"], true);
    assert_eq!(add["reason"], "input_changed");
    assert_eq!(add["subject"], "src/add.c");
    let mul = rows.as_array().unwrap().iter().find(|r| r["task"] == "compile[f=mul]").unwrap();
    assert_eq!((mul["runs"].as_bool(), mul["reason"].as_str()), (Some(false), Some("up_to_date")));
}

#[test]
fn tasks_that_succeeded_before_a_kill_9_are_up_to_date_after_it() {
    use nix::sys::signal::{Signal, kill};
    use nix::unistd::Pid;
    use std::io::BufRead;
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    write(d, "in.txt", "x\n");
    age(d, &["in.txt"], 1_600_000_000);
    write(
        d,
        "flow.yaml",
        "tasks:
  a: {cmd: 'echo a >> ran.log && cp in.txt a.out', inputs: [in.txt], outputs: [a.out]}
  b: {cmd: 'echo b >> ran.log && cp in.txt b.out', inputs: [in.txt], outputs: [b.out]}
  hang:
    after: [a, b]
    inputs: [a.out, b.out]
    outputs: [c.out]
    cmd: 'echo hang >> ran.log; [ -e go ] || { touch started; sleep 600; }; cp a.out c.out'
",
    );
    let mut child = dagrun_std()
        .args(["run", "--progress", "plain", "flow.yaml"])
        .current_dir(d)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    wait_for_file(&d.join("started"));
    kill(Pid::from_raw(child.id() as i32), Signal::SIGKILL).unwrap();
    child.wait().unwrap();
    let _ = std::io::BufReader::new(child.stderr.take().unwrap()).lines().count();
    take_ran(d);
    write(d, "go", "");
    Test::in_dir(d)
        .args(&["run", "--progress", "plain", "flow.yaml"])
        .code(0)
        .stderr_has("ok       a: up to date")
        .stderr_has("ok       b: up to date")
        .run();
    assert_eq!(take_ran(d), ids(&["hang"]));
}

#[test]
fn validate_finds_a_read_of_an_output_without_a_dependency() {
    let flow = "tasks:
  fetch: {cmd: 'echo 1 > data/raw.csv', outputs: [data/raw.csv]}
  clean: {cmd: 'cp data/raw.csv data/clean.csv', after: [fetch], inputs: [data/raw.csv], outputs: [data/clean.csv]}
  report: {cmd: 'cat data/*.csv', inputs: ['data/*.csv']}
";
    Test::new()
        .file("flow.yaml", flow)
        .args(&["validate", "flow.yaml"])
        .code(0)
        .stdout_has("flow.yaml: valid, 3 tasks")
        .stderr_has(
            "warning: flow.yaml:4:3: task `report`, field `inputs`: reads `data/clean.csv`, an output of `clean`, \
             without depending on it",
        )
        .stderr_has("reads `data/raw.csv`, an output of `fetch`")
        .run();
    Test::new()
        .file("flow.yaml", flow)
        .args(&["validate", "--strict", "flow.yaml"])
        .code(3)
        .stderr_has("error: flow.yaml:4:3: task `report`, field `inputs`: reads `data/clean.csv`")
        .stderr_has("error: 2 problems found")
        .run();
    Test::new()
        .file("flow.yaml", &flow.replace("inputs: ['data/*.csv']", "after: [clean], inputs: ['data/*.csv']"))
        .args(&["validate", "--strict", "flow.yaml"])
        .code(0)
        .stderr_lacks("warning")
        .run();
}

#[test]
fn bad_file_declarations_are_validation_errors() {
    Test::new()
        .file("flow.yaml", "tasks:\n  a: {cmd: x, outputs: ['build/*.o']}\n  b: {cmd: x, inputs: ['src/[a.c']}\n  c: {cmd: x, inputs: ['']}\n")
        .args(&["validate", "flow.yaml"])
        .code(3)
        .stderr_has("task `a`, field `outputs`: `build/*.o`: outputs are paths, not globs")
        .stderr_has("task `b`, field `inputs`: `src/[a.c` is not a valid glob")
        .stderr_has("task `c`, field `inputs`: a path is empty")
        .run();
}

#[test]
fn a_broken_fingerprint_file_never_stops_a_run() {
    let p = project();
    let d = p.path();
    run(d, &[]);
    let files = d.join(".dagrun/flow/state.json.files");
    let mut text = std::fs::read(&files).unwrap();
    text.extend_from_slice(
        b"{\"task\": \"link\", \"def\": 3}\n\xff\xfe garbage\n{\"task\":\"compile[f=add]\",\"inp",
    );
    std::fs::write(&files, text).unwrap();
    let (ran, err) = run(d, &[]);
    assert_eq!(ran, ids(&["test"]), "{err}");
    std::fs::write(&files, b"\0\0\0").unwrap();
    let (ran, _) = run(d, &[]);
    assert_eq!(ran.len(), 5);
}

#[test]
fn status_and_graph_show_what_was_up_to_date() {
    let p = project();
    let d = p.path();
    run(d, &[]);
    run(d, &[]);
    let state = ".dagrun/flow/state.json";
    Test::in_dir(d)
        .args(&["status", state])
        .code(0)
        .stdout_has("tasks: 5 in all: 5 succeeded (4 of them up to date, not run)")
        .run();
    let json = Test::in_dir(d).args(&["status", "--format", "json", state]).code(0).run();
    let doc: serde_json::Value = serde_json::from_str(&json.stdout).unwrap();
    assert_eq!(doc["up_to_date"], 4);
    Test::in_dir(d)
        .args(&["graph", "--state", state, "flow.yaml"])
        .code(0)
        .stdout_has("\"link\" [fillcolor=honeydew, xlabel=\"up to date\"]")
        .stdout_has("\"test\" [fillcolor=palegreen, xlabel=\"succeeded\"]")
        .run();
    let json =
        Test::in_dir(d).args(&["graph", "--format", "json", "--state", state, "flow.yaml"]).code(0).run();
    let doc: serde_json::Value = serde_json::from_str(&json.stdout).unwrap();
    let link = doc["tasks"].as_array().unwrap().iter().find(|t| t["id"] == "link").unwrap();
    assert_eq!((link["status"].as_str(), link["up_to_date"].as_bool()), (Some("succeeded"), Some(true)));
}
