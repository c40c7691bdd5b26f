//! Generators: a task whose stdout defines more tasks. Namespaced ids, matrices, templates,
//! executors and nested generators inside a fragment, YAML and JSON; dependents that wait for
//! everything generated; refused fragments (every problem listed, nothing added); the state file,
//! resume, edits and a kill -9 in a generated fan-out; `graph --state`, `status` and the plain
//! progress lines.
//!
//! A generator here usually prints a file the test wrote (`cat "$DIR/frag.yaml"`), so the
//! fragment is plain text in the test, not shell quoting inside YAML inside Rust.

use crate::common::*;
use dagrun::model::Status;
use nix::sys::signal::{Signal, kill, killpg};
use nix::unistd::Pid;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};

const APPEND: &str = "echo \"$DAGRUN_TASK\" >> \"$LOG\"";

/// Writes `flow.yaml` in `d`: `DIR` and `LOG` (`runs.log`) in its env, then `body`.
fn flow(d: &Path, body: &str) -> PathBuf {
    let yaml =
        format!("env:\n  DIR: \"{}\"\n  LOG: \"{}\"\n{body}", d.display(), d.join("runs.log").display());
    write(d, "flow.yaml", &yaml)
}

/// `dagrun <args>` in `d`, with plain progress and the state at `st/state.json` for `run` and
/// `resume`.
fn dagrun_in(d: &Path, args: &[&str]) -> Ran {
    let mut t = Test::in_dir(d).args(args);
    if matches!(args.first(), Some(&"run") | Some(&"resume")) {
        t = t.args(&["--progress", "plain"]);
    }
    if args.first() == Some(&"run") {
        t = t.args(&["--state", "st/state.json"]);
    }
    t.run()
}

fn run(d: &Path, extra: &[&str]) -> Ran {
    let mut args = vec!["run"];
    args.extend_from_slice(extra);
    args.push("flow.yaml");
    dagrun_in(d, &args)
}

fn resume(d: &Path) -> Ran {
    dagrun_in(d, &["resume", "st/state.json"])
}

fn stdout(o: &Ran) -> String {
    o.stdout.clone()
}

/// Asserts the exit code, showing stderr if it differs.
fn code(o: &Ran, want: i32) -> String {
    assert_eq!(o.code, want, "{}", o.stderr);
    o.stderr.clone()
}

fn state_of(d: &Path) -> dagrun::state::model::StateFile {
    load_state(&d.join("st/state.json"))
}

fn statuses(d: &Path) -> BTreeMap<String, Status> {
    state_of(d).tasks.iter().map(|(id, r)| (id.clone(), r.status)).collect()
}

fn ids(d: &Path) -> BTreeSet<String> {
    state_of(d).tasks.keys().cloned().collect()
}

fn set(items: &[&str]) -> BTreeSet<String> {
    items.iter().map(|s| s.to_string()).collect()
}

fn runs(d: &Path) -> BTreeMap<String, usize> {
    line_counts(&d.join("runs.log"))
}

/// `graph --state --format json` as (id -> task object).
fn graph_json(d: &Path) -> BTreeMap<String, serde_json::Value> {
    let out = dagrun_in(d, &["graph", "--format", "json", "--state", "st/state.json", "flow.yaml"]);
    code(&out, 0);
    let v: serde_json::Value = serde_json::from_str(&out.stdout).expect("graph --format json prints JSON");
    v["tasks"]
        .as_array()
        .expect("a `tasks` array")
        .iter()
        .map(|t| (t["id"].as_str().expect("an id").to_owned(), t.clone()))
        .collect()
}

fn strings(v: &serde_json::Value) -> BTreeSet<String> {
    v.as_array().expect("an array").iter().map(|s| s.as_str().expect("a string").to_owned()).collect()
}

// ---------------------------------------------------------------------------------------------
// 1. What a fragment may contain

#[test]
fn generated_ids_are_namespaced_and_fragments_use_matrix_templates_executors_and_nesting() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    flow(
        d,
        "params:
  p: seven
executors:
  one: {type: local, slots: 1}
tasks:
  pre: {cmd: 'true'}
  m:
    matrix: {i: [1, 2]}
    cmd: 'true'
  gen:
    generator: true
    matrix: {k: [x, y]}
    cmd: cat \"$DIR\"/frag-{{ k }}.*
  down:
    after: [gen]
    cmd: 'echo \"$DAGRUN_TASK\" >> \"$LOG\"'
",
    );
    // YAML for `gen[k=x]`; a matrix, templates, an executor, a sibling `after`, a nested
    // generator printing JSON.
    write(
        d,
        "frag-x.yaml",
        "tasks:
  child:
    matrix: {n: [1, 2]}
    executor: one
    cmd: 'echo \"$DAGRUN_TASK: {{ task.name }} n={{ n }} p={{ p }} wf={{ workflow.name }}\" >> \"$LOG\"'
  tpl:
    after: [child]
    cmd: 'echo \"$DAGRUN_TASK: {{ task.name }}\" >> \"$LOG\"'
  nested:
    generator: true
    cmd: cat \"$DIR/nested.json\"
",
    );
    // JSON for `gen[k=y]`, naming outside tasks by full id and by name (all its instances).
    write(
        d,
        "frag-y.json",
        r#"{"tasks": {
  "child": {"matrix": {"n": [3]}, "cmd": "echo \"$DAGRUN_TASK: {{ task.name }} n={{ n }}\" >> \"$LOG\""},
  "outside": {"after": ["m[i=2]", "m", "child"], "cmd": "echo \"$DAGRUN_TASK\" >> \"$LOG\""}
}}
"#,
    );
    write(
        d,
        "nested.json",
        r#"{"tasks": {"leaf": {"after": ["pre"], "cmd": "echo \"$DAGRUN_TASK: {{ task.name }}\" >> \"$LOG\""}}}"#,
    );
    let out = run(d, &[]);
    let err = code(&out, 0);
    let generated = [
        "gen[k=x]/child[n=1]",
        "gen[k=x]/child[n=2]",
        "gen[k=x]/tpl",
        "gen[k=x]/nested",
        "gen[k=x]/nested/leaf",
        "gen[k=y]/child[n=3]",
        "gen[k=y]/outside",
    ];
    let mut want = set(&["pre", "m[i=1]", "m[i=2]", "gen[k=x]", "gen[k=y]", "down"]);
    want.extend(set(&generated));
    assert_eq!(ids(d), want);
    assert!(statuses(d).values().all(|s| *s == Status::Succeeded), "{:?}", statuses(d));

    let log = std::fs::read_to_string(d.join("runs.log")).unwrap();
    let lines: BTreeSet<&str> = log.lines().collect();
    for l in [
        "gen[k=x]/child[n=1]: child n=1 p=seven wf=flow",
        "gen[k=x]/child[n=2]: child n=2 p=seven wf=flow",
        "gen[k=x]/tpl: tpl",
        "gen[k=x]/nested/leaf: leaf",
        "gen[k=y]/child[n=3]: child n=3",
        "gen[k=y]/outside",
        "down",
    ] {
        assert!(lines.contains(l), "no line {l:?} in:\n{log}");
    }
    assert_eq!(log.lines().count(), 7, "{log}");

    for l in [
        "added    4 tasks from gen[k=x]\n",
        "added    1 task from gen[k=x]/nested\n",
        "added    2 tasks from gen[k=y]\n",
        "run succeeded in ",
        ": 13 succeeded\n",
    ] {
        assert!(err.contains(l), "no {l:?} in:\n{err}");
    }

    let g = graph_json(d);
    assert_eq!(g["gen[k=x]/child[n=1]"]["executor"], "one");
    assert_eq!(g["gen[k=x]/tpl"]["executor"], "local");
    assert_eq!(g["gen[k=x]/nested"]["generator"], true);
    assert_eq!(
        strings(&g["gen[k=x]/tpl"]["after"]),
        set(&["gen[k=x]", "gen[k=x]/child[n=1]", "gen[k=x]/child[n=2]"])
    );
    assert_eq!(strings(&g["gen[k=x]/nested/leaf"]["after"]), set(&["gen[k=x]/nested", "pre"]));
    assert_eq!(
        strings(&g["gen[k=y]/outside"]["after"]),
        set(&["gen[k=y]", "m[i=1]", "m[i=2]", "gen[k=y]/child[n=3]"])
    );
    // `down` waits for both generators and, through the last tasks of each fragment (a nested
    // generator's included), for everything they added.
    let down = strings(&g["down"]["after"]);
    for id in ["gen[k=x]", "gen[k=y]", "gen[k=x]/tpl", "gen[k=x]/nested/leaf", "gen[k=y]/outside"] {
        assert!(down.contains(id), "`down` does not wait for `{id}`: {down:?}");
    }
}

// ---------------------------------------------------------------------------------------------
// 2. Dependents wait for everything generated

#[test]
fn every_task_after_the_generator_waits_for_all_it_generated() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    std::fs::create_dir(d.join("m")).unwrap();
    // 30 independent tasks, a chain of three and a nested generator adding three more, each
    // leaving a marker named after it.
    let mut frag = String::from("tasks:\n");
    let mut markers = Vec::new();
    for i in 0..30 {
        frag.push_str(&format!("  t{i}: {{cmd: 'touch \"$DIR/m/t{i}\"'}}\n"));
        markers.push(format!("t{i}"));
    }
    frag.push_str("  c1: {cmd: 'touch \"$DIR/m/c1\"'}\n");
    frag.push_str("  c2: {cmd: 'touch \"$DIR/m/c2\"', after: [c1]}\n");
    frag.push_str("  c3: {cmd: 'touch \"$DIR/m/c3\"', after: [c2]}\n");
    frag.push_str("  inner: {generator: true, cmd: 'cat \"$DIR/inner.yaml\"'}\n");
    markers.extend(["c1", "c2", "c3", "n0", "n1", "n2"].map(String::from));
    write(d, "frag.yaml", &frag);
    write(
        d,
        "inner.yaml",
        "tasks:
  n0: {cmd: 'touch \"$DIR/m/n0\"'}
  n1: {cmd: 'touch \"$DIR/m/n1\"', after: [n0]}
  n2: {cmd: 'touch \"$DIR/m/n2\"'}
",
    );
    let check: String = markers.iter().map(|m| format!("test -f \"$DIR/m/{m}\" && ")).collect();
    flow(
        d,
        &format!(
            "tasks:
  gen:
    generator: true
    cmd: 'cat \"$DIR/frag.yaml\"'
  down:
    after: [gen]
    cmd: '{check}touch \"$DIR/down\"'
  check:
    matrix: {{i: [1, 2, 3]}}
    after: [gen]
    cmd: '{check}touch \"$DIR/check-{{{{ i }}}}\"'
  last:
    after: [down]
    cmd: '{check}touch \"$DIR/last\"'
"
        ),
    );
    code(&run(d, &["-j", "4"]), 0);
    for m in ["down", "check-1", "check-2", "check-3", "last"] {
        assert!(d.join(m).exists(), "`{m}` did not find every generated task's marker");
    }
}

// ---------------------------------------------------------------------------------------------
// 3. Refused fragments

/// A workflow whose generator `gen` prints `frag.yaml`; `down` and `down2` wait for it.
fn refusing_flow(d: &Path, fragment: &str) {
    flow(
        d,
        "tasks:
  pre: {cmd: 'true'}
  gen:
    generator: true
    cmd: 'cat \"$DIR/frag.yaml\"'
  down:
    after: [gen]
    cmd: 'true'
  down2:
    after: [down]
    cmd: 'true'
",
    );
    write(d, "frag.yaml", fragment);
}

/// Asserts the run failed because `gen`'s output was refused, with `wants` in the message, and
/// that nothing was added; returns the message recorded for `gen`.
fn assert_refused(d: &Path, out: &Ran, wants: &[&str]) -> String {
    let err = code(out, 1);
    assert!(err.contains("failed   gen: its output was refused:"), "{err}");
    assert!(!err.contains("added "), "{err}");
    let st = state_of(d);
    assert_eq!(st.tasks.keys().map(String::as_str).collect::<Vec<_>>(), ["pre", "gen", "down", "down2"]);
    assert!(st.generators.is_empty(), "{:?}", st.generators.keys());
    assert_eq!(st.tasks["gen"].status, Status::Failed);
    assert_eq!(st.tasks["down"].status, Status::Skipped);
    let reason = st.tasks["gen"].reason.clone().unwrap_or_default();
    for w in wants {
        assert!(reason.contains(w), "no {w:?} in the recorded reason:\n{reason}");
        assert!(err.contains(w), "no {w:?} in:\n{err}");
    }
    reason
}

#[test]
fn invalid_fragments_fail_the_generator_and_add_nothing() {
    let cases: &[(&str, &str, &[&str], &[&str])] = &[
        ("syntax error", "tasks: {a: {cmd: 'x'\n", &[], &["output of `gen`:2:1: ", "while parsing"]),
        ("not a mapping", "hello world\n", &[], &["must be a mapping with a `tasks` table"]),
        ("tasks a list", "tasks: [a, b]\n", &[], &["`tasks` must be a table of tasks, found a list"]),
        ("unknown field", "tasks: {a: {cmd: x, bogus: 1}}\n", &[], &["unknown field `bogus`"]),
        (
            "unknown dependency",
            "tasks: {build: {cmd: x}, b: {cmd: x, after: [buidl]}}\n",
            &[],
            &["`gen/b` depends on unknown task `buidl` (did you mean `build`?)"],
        ),
        (
            "cycle",
            "tasks: {a: {cmd: x, after: [b]}, b: {cmd: x, after: [a]}}\n",
            &[],
            &["dependency cycle: gen/a -> gen/b -> gen/a"],
        ),
        ("self dependency", "tasks: {a: {cmd: x, after: [a]}}\n", &[], &["`gen/a` depends on itself"]),
        (
            "id clash",
            "tasks: {a: {cmd: x, matrix: {n: [1, '1']}}}\n",
            &[],
            &["task id `gen/a[n=1]` already exists"],
        ),
        (
            "dependency on a dependent of the generator",
            "tasks: {a: {cmd: x, after: [down]}}\n",
            &[],
            &["`gen/a` depends on `down`, which waits for the generator `gen`: that is a cycle"],
        ),
        (
            "dependency on a task further downstream",
            "tasks: {a: {cmd: x, after: [down2]}}\n",
            &[],
            &["`gen/a` depends on `down2`, which waits for the generator `gen`: that is a cycle"],
        ),
        (
            "more tasks than --max-tasks",
            "tasks: {a: {cmd: x}, b: {cmd: x}, c: {cmd: x}}\n",
            &["--max-tasks", "6"],
            &["task `c`, field `name`: makes more than the limit of 6 tasks, counting the 4 the run has"],
        ),
        (
            "a matrix past --max-tasks",
            "tasks: {a: {cmd: x, matrix: {n: [1, 2, 3]}}}\n",
            &["--max-tasks", "6"],
            &["task `a`, field `matrix`: expands to more than the limit of 6 tasks"],
        ),
        (
            "fields other than tasks",
            "name: other\nparams: {x: 1}\ntasks: {a: {cmd: x}}\n",
            &[],
            &["a generator's output defines only `tasks`; remove `name`, `params`"],
        ),
        (
            "names escaping their namespace",
            "tasks: {'../x': {cmd: x}, 'a/b': {cmd: x}, ok: {cmd: x}}\n",
            &[],
            &["`../x` is not a valid task name", "`a/b` is not a valid task name"],
        ),
        ("unknown executor", "tasks: {a: {cmd: x, executor: nope}}\n", &[], &["unknown executor `nope`"]),
        ("missing cmd", "tasks: {a: {after: []}}\n", &[], &["missing `cmd`"]),
        ("bad template", "tasks: {a: {cmd: 'echo {{ nope }}'}}\n", &[], &["undefined"]),
    ];
    for (what, fragment, args, wants) in cases {
        let tmp = tempfile::tempdir().unwrap();
        let d = tmp.path();
        refusing_flow(d, fragment);
        eprintln!("case: {what}");
        assert_refused(d, &run(d, args), wants);
    }
}

#[test]
fn binary_output_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    refusing_flow(d, "");
    std::fs::write(d.join("frag.yaml"), b"tasks: {a: {cmd: x}}\n# \xff\xfe\x00\n").unwrap();
    assert_refused(d, &run(d, &[]), &["it printed output that is not UTF-8 text (a bad byte at offset 23)"]);
}

#[test]
fn every_problem_of_a_fragment_is_listed() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    refusing_flow(
        d,
        "params: {x: 1}
tasks:
  build: {cmd: x}
  b: {cmd: x, after: [buidl]}
  c1: {cmd: x, after: [c2]}
  c2: {cmd: x, after: [c1]}
  '../x': {cmd: x}
  e: {cmd: x, after: [down]}
",
    );
    let reason = assert_refused(
        d,
        &run(d, &[]),
        &[
            "remove `params`",
            "depends on unknown task `buidl` (did you mean `build`?)",
            "dependency cycle: gen/c1 -> gen/c2 -> gen/c1",
            "`../x` is not a valid task name",
            "`gen/e` depends on `down`, which waits for the generator `gen`",
        ],
    );
    assert_eq!(reason.matches("output of `gen`").count(), 5, "{reason}");
}

/// Peak resident memory of a running process, in KiB.
fn vm_hwm_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("read /proc status");
    let line = status.lines().find(|l| l.starts_with("VmHWM:")).expect("VmHWM line");
    line.split_whitespace().nth(1).and_then(|v| v.parse().ok()).expect("VmHWM value")
}

#[test]
fn a_generator_printing_200_mb_is_refused_without_reading_it() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    // `last` runs after the refusal and holds dagrun alive while its peak memory is read.
    flow(
        d,
        "tasks:
  gen:
    generator: true
    cmd: head -c 200000000 /dev/zero
  last:
    after: [gen]
    when: always
    cmd: 'touch \"$DIR/ready\"; i=0; while [ ! -e \"$DIR/go\" ]; do i=$((i + 1)); [ $i -gt 1200 ] && exit 1; sleep 0.05; done'
",
    );
    let err = std::fs::File::create(d.join("stderr")).unwrap();
    let mut child = dagrun_std()
        .args(["run", "--progress", "plain", "--state", "st/state.json", "flow.yaml"])
        .current_dir(d)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(err)
        .spawn()
        .unwrap();
    wait_for_file(&d.join("ready"));
    let hwm = vm_hwm_kib(child.id());
    std::fs::write(d.join("go"), "").unwrap();
    let status = wait_exit(&mut child, LIMIT);
    let err = std::fs::read_to_string(d.join("stderr")).unwrap();
    assert_eq!(status.code(), Some(1), "{err}");
    assert!(
        err.contains(
            "failed   gen: its output was refused:\n           it printed 200000000 bytes; a generator's task list may have at most 67108864 bytes"
        ),
        "{err}"
    );
    assert!(hwm < 256 * 1024, "dagrun's peak RSS was {hwm} KiB");
    assert!(state_of(d).generators.is_empty());
}

#[test]
fn a_generator_that_generates_itself_stops_at_the_depth_limit() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let me = "tasks:
  gen:
    generator: true
    cmd: 'echo \"$DAGRUN_TASK\" >> \"$LOG\"; cat \"$DIR/flow-tasks.yaml\"'
";
    write(d, "flow-tasks.yaml", me);
    flow(d, me);
    let out = run(d, &[]);
    let err = code(&out, 1);
    let deepest = vec!["gen"; 17].join("/");
    assert!(
        err.contains(&format!(
            "failed   {deepest}: its output was refused:\n           output of `{deepest}`: generators are nested more than 16 deep here (does a generator generate itself?)"
        )),
        "{err}"
    );
    assert!(err.contains(": 16 succeeded, 1 failed\n"), "{err}");
    assert_eq!(runs(d).len(), 17);
    assert!(!ids(d).contains(&format!("{deepest}/gen")));
}

#[test]
fn a_generator_printing_nothing_succeeds_adds_nothing_and_is_not_run_again() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    flow(
        d,
        "tasks:
  gen:
    generator: true
    cmd: 'echo \"$DAGRUN_TASK\" >> \"$LOG\"; echo \"nothing to do\" >&2; echo'
  blank:
    generator: true
    cmd: 'printf \"tasks: {}\\n\"'
  down:
    after: [gen, blank]
    cmd: 'echo \"$DAGRUN_TASK\" >> \"$LOG\"'
  other:
    cmd: 'echo \"$DAGRUN_TASK\" >> \"$LOG\"; test -e \"$DIR/ok\"'
",
    );
    let err = code(&run(d, &[]), 1);
    assert!(err.contains("added    0 tasks from gen\n"), "{err}");
    assert_eq!(ids(d), set(&["gen", "blank", "down", "other"]));
    assert_eq!(statuses(d)["down"], Status::Succeeded);
    assert_eq!(state_of(d).generators["gen"].output, "\n");
    // Regression: a generator that added nothing was taken for one whose output was lost, and
    // ran again on every resume.
    std::fs::write(d.join("ok"), "").unwrap();
    let err = code(&resume(d), 0);
    assert!(err.contains("resume: 3 of 4 tasks done and skipped; 1 to run (1 failed)"), "{err}");
    assert_eq!(runs(d), BTreeMap::from([("gen".into(), 1), ("down".into(), 1), ("other".into(), 2)]));
}

// ---------------------------------------------------------------------------------------------
// 4. State and resume

/// `gen` prints `frag.yaml`: `a`, `b` (fails until `ok` exists), `c` after `b`, and a nested
/// generator `inner` whose `leaf` also fails until `ok` exists. `down` waits for `gen`.
fn resumable(d: &Path) {
    flow(
        d,
        &format!(
            "tasks:
  gen:
    generator: true
    cmd: '{APPEND}; cat \"$DIR/frag.yaml\"'
  down:
    after: [gen]
    cmd: '{APPEND}'
"
        ),
    );
    write(
        d,
        "frag.yaml",
        &format!(
            "tasks:
  a: {{cmd: '{APPEND}'}}
  b: {{cmd: '{APPEND}; test -e \"$DIR/ok\"'}}
  c: {{cmd: '{APPEND}', after: [b]}}
  inner: {{generator: true, cmd: '{APPEND}; cat \"$DIR/inner.yaml\"'}}
"
        ),
    );
    write(d, "inner.yaml", &format!("tasks:\n  leaf: {{cmd: '{APPEND}; test -e \"$DIR/ok\"'}}\n"));
}

#[test]
fn the_fragment_is_recorded_and_resume_runs_only_the_generated_tasks_left() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    resumable(d);
    let err = code(&run(d, &[]), 1);
    assert!(err.contains("added    4 tasks from gen\n"), "{err}");
    assert!(err.contains("added    1 task from gen/inner\n"), "{err}");

    // The snapshot itself (not only its journal) holds the fragments once the run is over.
    let snap: serde_json::Value =
        serde_json::from_slice(&std::fs::read(d.join("st/state.json")).unwrap()).unwrap();
    let frag = std::fs::read_to_string(d.join("frag.yaml")).unwrap();
    assert_eq!(snap["generators"]["gen"]["output"], frag.as_str());
    assert!(snap["generators"]["gen/inner"]["output"].as_str().unwrap().contains("leaf"));
    assert_eq!(
        statuses(d),
        BTreeMap::from([
            ("gen".into(), Status::Succeeded),
            ("down".into(), Status::Skipped),
            ("gen/a".into(), Status::Succeeded),
            ("gen/b".into(), Status::Failed),
            ("gen/c".into(), Status::Skipped),
            ("gen/inner".into(), Status::Succeeded),
            ("gen/inner/leaf".into(), Status::Failed),
        ])
    );

    // `status` and `graph --state` know the generated tasks.
    let out = dagrun_in(d, &["status", "--format", "json", "st/state.json"]);
    code(&out, 0);
    let s: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(s["total"], 7);
    assert_eq!(s["counts"]["succeeded"], 3);
    assert_eq!(s["counts"]["failed"], 2);
    assert_eq!(s["counts"]["skipped"], 2);
    let failed: BTreeSet<String> =
        s["failed"].as_array().unwrap().iter().map(|f| f["id"].as_str().unwrap().to_owned()).collect();
    assert_eq!(failed, set(&["gen/b", "gen/inner/leaf"]));
    let out = dagrun_in(d, &["status", "st/state.json"]);
    assert!(stdout(&out).contains("tasks: 7 in all: 2 failed, 2 skipped, 3 succeeded"), "{}", stdout(&out));
    let out = dagrun_in(d, &["graph", "--state", "st/state.json", "flow.yaml"]);
    code(&out, 0);
    let dot = stdout(&out);
    for l in [
        "\"gen/b\" [fillcolor=lightcoral, xlabel=\"failed\"];",
        "\"gen/inner\" [shape=hexagon, fillcolor=palegreen, xlabel=\"succeeded\"];",
        "\"gen/inner/leaf\" -> \"down\";",
        "\"gen/b\" -> \"gen/c\";",
    ] {
        assert!(dot.contains(l), "no {l:?} in:\n{dot}");
    }

    std::fs::write(d.join("ok"), "").unwrap();
    let err = code(&resume(d), 0);
    assert!(err.contains("resume: 3 of 7 tasks done and skipped; 4 to run (2 failed, 2 skipped)"), "{err}");
    assert!(!err.contains("added "), "{err}");
    assert_eq!(
        runs(d),
        BTreeMap::from([
            ("gen".into(), 1),
            ("gen/a".into(), 1),
            ("gen/b".into(), 2),
            ("gen/c".into(), 1),
            ("gen/inner".into(), 1),
            ("gen/inner/leaf".into(), 2),
            ("down".into(), 1),
        ])
    );
    assert!(statuses(d).values().all(|s| *s == Status::Succeeded), "{:?}", statuses(d));
}

#[test]
fn editing_the_generator_reruns_it_and_replaces_its_fragment() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    resumable(d);
    std::fs::write(d.join("ok"), "").unwrap();
    code(&run(d, &[]), 0);
    write(d, "frag2.yaml", &format!("tasks:\n  a: {{cmd: '{APPEND}'}}\n  z: {{cmd: '{APPEND}'}}\n"));
    let text = std::fs::read_to_string(d.join("flow.yaml")).unwrap();
    std::fs::write(d.join("flow.yaml"), text.replace("frag.yaml", "frag2.yaml")).unwrap();

    let err = code(&resume(d), 0);
    assert!(err.contains("changed       gen\n"), "{err}");
    assert!(err.contains("added    2 tasks from gen\n"), "{err}");
    assert_eq!(ids(d), set(&["gen", "down", "gen/a", "gen/z"]));
    assert_eq!(state_of(d).generators.keys().collect::<Vec<_>>(), ["gen"]);
    assert_eq!(state_of(d).generators["gen"].output, std::fs::read_to_string(d.join("frag2.yaml")).unwrap());
    assert_eq!(runs(d)["gen"], 2);
    assert_eq!(runs(d)["gen/z"], 1);
    assert_eq!(runs(d)["gen/b"], 1);
    let g = graph_json(d);
    assert_eq!(g.keys().cloned().collect::<BTreeSet<_>>(), set(&["gen", "down", "gen/a", "gen/z"]));
    assert_eq!(strings(&g["down"]["after"]), set(&["gen", "gen/a", "gen/z"]));

    // Nothing changed since: nothing runs, the generator included.
    let err = code(&resume(d), 0);
    assert!(err.contains("nothing to do: all 4 tasks are done"), "{err}");
    assert_eq!(runs(d)["gen"], 2);
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

fn line_count(path: &Path) -> usize {
    std::fs::read(path).map_or(0, |b| b.iter().filter(|&&c| c == b'\n').count())
}

/// kill -9 of dagrun, stopped first so it starts nothing while its children are listed, then of
/// the task groups it left behind.
fn crash(child: &mut Child) {
    let pid = child.id() as i32;
    kill(Pid::from_raw(pid), Signal::SIGSTOP).expect("stop dagrun");
    let tasks = children_of(pid);
    kill(Pid::from_raw(pid), Signal::SIGKILL).expect("kill dagrun");
    child.wait().expect("reap dagrun");
    for t in tasks {
        let _ = killpg(Pid::from_raw(t), Signal::SIGKILL);
        let _ = kill(Pid::from_raw(t), Signal::SIGKILL);
        assert_group_gone(t);
    }
}

#[test]
fn a_kill_9_in_a_generated_fan_out_resumes_without_running_a_succeeded_task_again() {
    const N: usize = 120;
    const AT: usize = 40;
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let log = d.join("runs.log");
    // Past AT lines, generated tasks wait for `go` after writing: dagrun is surely in the middle
    // of the fan-out when it is killed, and the resumed run (with `go`) finishes.
    let gate = format!(
        "{APPEND}; while [ $(wc -l < \"$LOG\") -ge {AT} ] && [ ! -e \"$DIR/go\" ]; do sleep 0.01; done"
    );
    let mut frag = String::from("tasks:\n");
    for i in 0..N {
        frag.push_str(&format!("  t{i}: {{cmd: '{gate}'}}\n"));
    }
    write(d, "frag.yaml", &frag);
    flow(
        d,
        &format!(
            "tasks:
  gen:
    generator: true
    cmd: '{APPEND}; cat \"$DIR/frag.yaml\"'
  fan-in:
    after: [gen]
    cmd: '{APPEND}'
"
        ),
    );
    let err = std::fs::File::create(d.join("err.0")).unwrap();
    let mut child = dagrun_std()
        .args(["run", "-j", "4", "--progress", "plain", "--state", "st/state.json", "flow.yaml"])
        .current_dir(d)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(err)
        .spawn()
        .expect("spawn dagrun");
    wait_for_file(&log);
    let start = std::time::Instant::now();
    while line_count(&log) < AT {
        assert!(child.try_wait().unwrap().is_none(), "dagrun ended before the gate");
        assert!(start.elapsed() < LIMIT, "the log did not reach {AT} lines");
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    crash(&mut child);

    let st = state_of(d);
    assert_eq!(st.tasks["gen"].status, Status::Succeeded);
    assert!(st.generators["gen"].output == frag, "the fragment is in the journal");
    let ran = line_counts(&log);
    let succeeded: BTreeSet<String> =
        st.tasks.iter().filter(|(_, r)| r.status == Status::Succeeded).map(|(id, _)| id.clone()).collect();
    for id in &succeeded {
        assert_eq!(ran.get(id), Some(&1), "`{id}` is recorded succeeded but ran {:?} times", ran.get(id));
    }
    assert!(succeeded.len() > 1 && succeeded.len() < N, "{} succeeded at the kill", succeeded.len());
    assert_ne!(st.tasks.get("fan-in").map(|r| r.status), Some(Status::Succeeded));

    std::fs::write(d.join("go"), "").unwrap();
    let out = resume(d);
    let err = code(&out, 0);
    let announced = format!("resume: {} of {} tasks done and skipped;", succeeded.len(), N + 2);
    assert!(err.contains(&announced), "expected `{announced}` in:\n{err}");
    assert!(!err.contains("added "), "the generator ran again:\n{err}");
    let after = line_counts(&log);
    for id in &succeeded {
        assert_eq!(after[id], 1, "`{id}` was recorded succeeded at the kill and ran again");
    }
    for i in 0..N {
        assert!(after.contains_key(&format!("gen/t{i}")), "`gen/t{i}` never ran");
    }
    assert_eq!(after["fan-in"], 1);
    let st = state_of(d);
    assert_eq!(st.tasks.len(), N + 2);
    assert!(st.tasks.values().all(|r| r.status == Status::Succeeded));
}

// ---------------------------------------------------------------------------------------------
// 6. Size

#[test]
fn a_fragment_of_10000_tasks_runs() {
    const N: usize = 10_000;
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let mut frag = String::with_capacity(N * 24);
    frag.push_str("tasks:\n");
    for i in 0..N {
        frag.push_str(&format!("  t{i}: {{cmd: 'true'}}\n"));
    }
    frag.push_str("  last: {cmd: 'touch \"$DIR/last\"', after: [t0, t9999]}\n");
    write(d, "frag.yaml", &frag);
    flow(
        d,
        "tasks:
  gen:
    generator: true
    cmd: 'cat \"$DIR/frag.yaml\"'
  down:
    after: [gen]
    cmd: 'test -f \"$DIR/last\"'
",
    );
    let err = code(&run(d, &["-j", "16"]), 0);
    assert!(err.contains(&format!("added    {} tasks from gen\n", N + 1)), "{err}");
    assert!(err.contains(&format!(": {} succeeded\n", N + 3)), "{err}");
    let st = state_of(d);
    assert_eq!(st.tasks.len(), N + 3);
    assert!(st.tasks.values().all(|r| r.status == Status::Succeeded));
}

/// Regression: only matrix instances were counted against `--max-tasks`, so a file (or a
/// generator's output) of plain tasks could have any number of them.
#[test]
fn plain_tasks_count_towards_max_tasks() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    flow(d, "tasks:\n  a: {cmd: x}\n  b: {cmd: x}\n  c: {cmd: x}\n  e: {cmd: x}\n");
    let out = dagrun_in(d, &["validate", "--max-tasks", "2", "flow.yaml"]);
    let err = code(&out, 3);
    assert!(
        err.contains(
            "task `c`, field `name`: makes more than the limit of 2 tasks (raise it with `--max-tasks`)"
        ),
        "{err}"
    );
    assert_eq!(err.matches("more than the limit").count(), 1, "{err}");
    code(&dagrun_in(d, &["validate", "--max-tasks", "4", "flow.yaml"]), 0);
}

#[test]
fn the_generator_example_finds_its_parts_at_run_time() {
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/generator.yaml");
    for (params, parts) in [(&[][..], 4), (&["-p", "lines=5000", "-p", "chunk=400"][..], 13)] {
        let tmp = tempfile::tempdir().unwrap();
        let d = tmp.path();
        let mut args = vec!["run", "--progress", "plain", "--state"];
        let state = d.join("st/state.json");
        args.push(state.to_str().unwrap());
        args.extend_from_slice(params);
        args.push(example.to_str().unwrap());
        let err = code(&Test::in_dir(d).args(&args).run(), 0);
        assert!(err.contains(&format!("added    {} tasks from partitions\n", parts + 1)), "{err}");
        let report = std::fs::read_to_string(d.join("st/logs/report.1.log")).unwrap();
        let lines = if parts == 4 { 1000 } else { 5000 };
        assert_eq!(report, format!("{lines} lines in {parts} parts\n"));
    }
}

#[test]
fn stray_output_from_a_generator_says_to_log_to_stderr() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let flow = crate::common::write(
        d,
        "flow.yaml",
        "tasks:\n  g: {generator: true, cmd: 'echo starting; echo tasks:; echo \"  a: {cmd: x}\"'}\n",
    );
    let out = crate::common::dagrun()
        .current_dir(d)
        .args(["run", "--progress", "plain"])
        .arg(&flow)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("this is not a task document") && err.contains("to stderr"), "{err}");
    assert!(!err.contains("WorkflowSpec"), "an internal type name: {err}");
}
