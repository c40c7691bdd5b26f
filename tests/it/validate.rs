//! `dagrun validate`: every kind of problem in `tests/fixtures/invalid/` is refused with exit 3
//! and a message naming the file, task and field (snapshotted); valid files pass; `-p` works.

use crate::common::{Test, dagrun, fixture, write};
use std::path::Path;

/// Runs `dagrun validate ARGS...` inside `dir` (so paths in messages are relative).
fn validate_in(dir: &Path, args: &[&str]) -> (i32, String, String) {
    let ran = Test::in_dir(dir).env("DAGRUN_TEST_VAR", "xyz").args(&["validate"]).args(args).run();
    (ran.code, ran.stdout, ran.stderr)
}

/// Validates `tests/fixtures/invalid/NAME` and returns stderr, checking exit code 3.
fn invalid(name: &str, extra: &[&str]) -> String {
    let mut args = vec![name];
    args.extend_from_slice(extra);
    let (code, stdout, stderr) = validate_in(&fixture("invalid"), &args);
    assert_eq!(code, 3, "{name}: expected exit 3\nstdout:\n{stdout}\nstderr:\n{stderr}");
    assert!(stdout.is_empty(), "{name}: nothing on stdout for an invalid file, got {stdout}");
    assert!(stderr.contains(name), "{name}: messages name the file:\n{stderr}");
    stderr
}

macro_rules! invalid_fixtures {
    ($($test:ident => $file:literal $(, [$($arg:literal),*])?;)*) => {
        $(
            #[test]
            fn $test() {
                let stderr = invalid($file, &[$($($arg),*)?]);
                insta::assert_snapshot!(stringify!($test), stderr);
            }
        )*

        /// Every fixture in `invalid/` has a test above.
        #[test]
        fn every_invalid_fixture_is_tested() {
            let tested = [$($file),*];
            for entry in std::fs::read_dir(fixture("invalid")).unwrap() {
                let name = entry.unwrap().file_name().into_string().unwrap();
                assert!(tested.contains(&name.as_str()), "fixture `{name}` has no test");
            }
        }
    };
}

invalid_fixtures! {
    syntax_error_yaml => "syntax-error.yaml";
    syntax_error_toml => "syntax-error.toml";
    unknown_task_field => "unknown-field.yaml";
    unknown_top_field => "unknown-top-field.yaml";
    wrong_type => "wrong-type.yaml";
    empty_file => "empty.yaml";
    not_a_mapping => "not-a-mapping.yaml";
    tasks_null => "tasks-null.yaml";
    undefined_template_name => "undefined-template-name.yaml";
    bad_template_syntax => "bad-template-syntax.yaml";
    bad_template_in_after_and_env => "bad-template-after-env.yaml";
    bad_matrix_value => "bad-matrix-value.yaml";
    matrix_not_a_list => "matrix-not-a-list.yaml";
    matrix_empty => "matrix-empty.yaml";
    duplicate_id => "duplicate-id.yaml";
    duplicate_task_key => "duplicate-task-key.yaml";
    unknown_dependency => "unknown-dependency.yaml";
    self_dependency => "self-dependency.yaml";
    cycle => "cycle.yaml";
    unknown_executor => "unknown-executor.yaml";
    bad_duration => "bad-duration.yaml";
    zero_slots => "zero-slots.yaml";
    negative_executor_slots => "negative-executor-slots.yaml";
    too_many_slots => "too-many-slots.yaml";
    bad_task_name => "bad-task-name.yaml";
    missing_cmd => "missing-cmd.yaml";
    bad_when => "bad-when.yaml";
    matrix_over_limit => "matrix-over-limit.yaml", ["--max-tasks", "5"];
    matrix_huge_range => "matrix-huge-range.yaml";
    alias_bomb => "alias-bomb.yaml";
    control_character => "control-character.yaml";
    multiple_problems => "multiple-problems.yaml";
    one_of_each => "one-of-each.yaml";
}

#[test]
fn cycle_is_printed_as_the_full_path() {
    let stderr = invalid("cycle.yaml", &[]);
    assert!(stderr.contains("a -> b -> c -> a"), "{stderr}");
    // `d` only hangs off the cycle; it is not part of the path.
    assert!(!stderr.contains("-> d"), "{stderr}");
}

#[test]
fn unknown_dependency_suggests_the_closest_name() {
    let stderr = invalid("unknown-dependency.yaml", &[]);
    assert!(stderr.contains("did you mean `transform`?"), "{stderr}");
}

#[test]
fn matrix_over_limit_passes_with_a_higher_limit() {
    let (code, stdout, _) = validate_in(&fixture("invalid"), &["matrix-over-limit.yaml", "--max-tasks", "9"]);
    assert_eq!(code, 0);
    assert_eq!(stdout, "matrix-over-limit.yaml: valid, 9 tasks\n");
}

/// `range(100000000)` against the default limit is refused before its values exist: under a
/// 1 GiB address-space limit, building them (100M values) could not succeed.
#[test]
fn huge_range_is_refused_before_allocating() {
    let bin = assert_cmd::cargo::cargo_bin("dagrun");
    let out = std::process::Command::new("sh")
        .current_dir(fixture("invalid"))
        .env("NO_COLOR", "1")
        .arg("-c")
        .arg("ulimit -v 1048576 && exec \"$0\" validate matrix-huge-range.yaml")
        .arg(bin)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{stderr}");
    assert!(stderr.contains("more than the limit of 10000000"), "{stderr}");
}

#[test]
fn multiple_problems_are_all_reported() {
    let stderr = invalid("multiple-problems.yaml", &[]);
    for needle in [
        "task `pull`, field `cmd`: undefined name `dya`",
        "task `transform`, field `timeout`",
        "task `report`, field `executor`: unknown executor `nowhere`",
        "did you mean `pull`?",
        "`report` depends on itself",
        "loop1 -> loop2 -> loop1",
        "6 problems found",
    ] {
        assert!(stderr.contains(needle), "missing {needle:?} in:\n{stderr}");
    }
}

/// A task whose own fields are broken is reported and left out; every other task is still
/// rendered, resolved and checked, and the problems come in file order.
#[test]
fn one_run_reports_one_of_each_kind_of_problem_in_file_order() {
    let stderr = invalid("one-of-each.yaml", &[]);
    let found: Vec<&str> = stderr.lines().filter(|l| l.starts_with("error: one-of-each")).collect();
    let expected = [
        "task `fetch`, field `colour`: unknown field `colour`",
        "task `parse`, field `env`: invalid type: sequence",
        "task `clean`, field `cmd`: undefined name `input_file`",
        "task `split`, field `after`: `split` depends on unknown task `cleen` (did you mean `clean`?)",
        "task `train`, field `timeout`: `2 fortnights` is not a duration",
        "task `notify`, field `when`: `allways` is not one of",
        "task `upload`, field `executor`: unknown executor `cloud`",
        "task `lint`, field `after`: dependency cycle: lint -> check -> lint",
    ];
    assert_eq!(found.len(), expected.len(), "{stderr}");
    for (line, want) in found.iter().zip(expected) {
        assert!(line.contains(want), "expected {want:?}, found {line:?} in:\n{stderr}");
    }
    // `split` and `clean` depend on broken tasks: not unknown ones.
    assert!(!stderr.contains("unknown task `parse`") && !stderr.contains("unknown task `fetch`"), "{stderr}");
    assert!(stderr.contains("8 problems found"), "{stderr}");
}

/// One typo repeated by every instance of a matrix is one problem, with the count.
#[test]
fn a_mistake_a_matrix_repeats_is_one_problem() {
    let tmp = tempfile::tempdir().unwrap();
    let body = "tasks:\n  prep: {matrix: {f: [1, 2]}, cmd: x}\n  shard:\n    matrix: {i: \"{{ range(500) }}\"}\n    \
                cmd: x {{ i }}\n    after: [prepp, \"shard[i={{ i }}]\"]\n";
    write(tmp.path(), "m.yaml", body);
    let (code, _, stderr) = validate_in(tmp.path(), &["m.yaml"]);
    assert_eq!(code, 3, "{stderr}");
    assert!(
        stderr.contains("depends on unknown task `prepp` (did you mean `prep`?); the same in 499 more instances of `shard`"),
        "{stderr}"
    );
    assert!(stderr.contains("`shard[i=0]` depends on itself; the same in 499 more instances"), "{stderr}");
    assert!(stderr.contains("2 problems found"), "{stderr}");
}

/// A generator's output gets the same one-pass checks.
#[test]
fn a_generator_output_with_a_broken_task_reports_the_rest_too() {
    let tmp = tempfile::tempdir().unwrap();
    let flow = write(
        tmp.path(),
        "g.yaml",
        "tasks:\n  g:\n    generator: true\n    cmd: \"echo '{tasks: {x: {cmd: true}, y: {cmd: echo, after: [nope, x]}}}'\"\n",
    );
    let out = dagrun().current_dir(tmp.path()).arg("run").arg(&flow).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(text.contains("task `g/x`, field `cmd`: invalid type: boolean `true`"), "{text}");
    assert!(text.contains("`g/y` depends on unknown task `nope`"), "{text}");
    assert!(!text.contains("unknown task `x`"), "{text}");
}

#[test]
fn json_format_lists_every_problem() {
    let (code, stdout, stderr) =
        validate_in(&fixture("invalid"), &["--format", "json", "multiple-problems.yaml"]);
    assert_eq!(code, 3, "{stderr}");
    let problems: serde_json::Value = serde_json::from_str(&stdout).expect("stdout is JSON");
    let arr = problems.as_array().expect("a JSON array");
    assert_eq!(arr.len(), 6);
    for p in arr {
        assert_eq!(p["file"], "multiple-problems.yaml");
        assert!(p["line"].is_u64() && p["column"].is_u64(), "{p}");
        assert!(p["task"].is_string() && p["field"].is_string(), "{p}");
        assert!(p["message"].is_string(), "{p}");
    }
    insta::assert_snapshot!("multiple_problems_json", stdout);
}

#[test]
fn valid_files_exit_zero_with_a_count() {
    let (code, stdout, stderr) = validate_in(&fixture("valid"), &["etl.yaml", "etl.toml", "hello.yaml"]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(stdout, "etl.yaml: valid, 10 tasks\netl.toml: valid, 10 tasks\nhello.yaml: valid, 2 tasks\n");
    assert!(stderr.is_empty(), "{stderr}");
}

#[test]
fn every_valid_fixture_validates() {
    for entry in std::fs::read_dir(fixture("valid")).unwrap() {
        let name = entry.unwrap().file_name().into_string().unwrap();
        let (code, stdout, stderr) = validate_in(&fixture("valid"), &[&name]);
        assert_eq!(code, 0, "{name}: {stderr}");
        assert!(stdout.starts_with(&format!("{name}: valid, ")), "{stdout}");
    }
}

#[test]
fn one_valid_and_one_invalid_file_reports_both() {
    let (code, stdout, stderr) = validate_in(&fixture("."), &["valid/hello.yaml", "invalid/cycle.yaml"]);
    assert_eq!(code, 3);
    assert_eq!(stdout, "valid/hello.yaml: valid, 2 tasks\n");
    assert!(stderr.contains("invalid/cycle.yaml:2:3: task `a`, field `after`: dependency cycle"), "{stderr}");
}

#[test]
fn numeric_task_names_are_names() {
    let dir = tempfile::tempdir().unwrap();
    // With another problem in the file, `1` is still a task name, not a complaint.
    write(
        dir.path(),
        "f.yaml",
        "tasks:\n  1:\n    cmd: echo\n  b:\n    after: [\"1\"]\n    cmd: echo\n    bogus: 1\n",
    );
    let (code, _, stderr) = validate_in(dir.path(), &["f.yaml"]);
    assert_eq!(code, 3);
    assert!(!stderr.contains("must be strings"), "{stderr}");
    assert!(stderr.contains("task `b`, field `bogus`"), "{stderr}");
    let (code, stdout, _) = validate_in(&fixture("valid"), &["numeric-names.yaml"]);
    assert_eq!((code, stdout.as_str()), (0, "numeric-names.yaml: valid, 2 tasks\n"));
}

#[test]
fn invalid_utf8_is_located() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("bad-utf8.yaml"), b"tasks:\n  a:\n    cmd: echo \xff\xfe\n").unwrap();
    let (code, _, stderr) = validate_in(dir.path(), &["bad-utf8.yaml"]);
    assert_eq!(code, 3);
    insta::assert_snapshot!("invalid_utf8", stderr);
}

#[test]
fn deep_nesting_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let n = 100_000;
    write(dir.path(), "deep.yaml", &format!("tasks: {}{}\n", "[".repeat(n), "]".repeat(n)));
    write(dir.path(), "deep-block.yaml", &format!("tasks:\n  {}x\n", "- ".repeat(n)));
    write(dir.path(), "deep.toml", &format!("x = {}{}\n", "[".repeat(n), "]".repeat(n)));
    let (code, _, stderr) = validate_in(dir.path(), &["deep.yaml"]);
    assert_eq!(code, 3);
    insta::assert_snapshot!("deep_nesting", stderr);
    for f in ["deep-block.yaml", "deep.toml"] {
        let (code, _, stderr) = validate_in(dir.path(), &[f]);
        assert_eq!(code, 3, "{f}: {stderr}");
        assert!(stderr.contains(f), "{stderr}");
    }
}

/// Deterministic pseudo-random bytes (no dependency on a random source).
fn junk(len: usize, mut seed: u64) -> Vec<u8> {
    (0..len)
        .map(|_| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            (seed >> 24) as u8
        })
        .collect()
}

#[test]
fn binary_junk_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("junk.yaml"), junk(4096, 0x9e37_79b9_7f4a_7c15)).unwrap();
    let (code, _, stderr) = validate_in(dir.path(), &["junk.yaml"]);
    assert_eq!(code, 3);
    insta::assert_snapshot!("binary_junk", stderr);
}

/// Hostile or odd inputs: never a panic; each either valid (0) or refused (3).
#[test]
fn no_input_panics() {
    let dir = tempfile::tempdir().unwrap();
    let mut cases: Vec<(String, Vec<u8>, i32)> = vec![
        ("nul.yaml".into(), b"tasks:\n  a:\n    cmd: \"ec\x00ho\"\n".to_vec(), 3),
        ("nul.toml".into(), b"[tasks.a]\ncmd = \"ec\x00ho\"\n".to_vec(), 3),
        ("huge-line.yaml".into(), format!("tasks: {{a: {{cmd: echo, after: [{}]}}}}\n", "b".repeat(4 << 20)).into_bytes(), 3),
        ("tasks-empty-list.yaml".into(), b"tasks: []\n".to_vec(), 3),
        ("tasks-string.yaml".into(), b"tasks: hello\n".to_vec(), 3),
        ("task-string.yaml".into(), b"tasks:\n  a: echo\n".to_vec(), 3),
        ("task-null.yaml".into(), b"tasks:\n  a:\n".to_vec(), 3),
        ("numbers.yaml".into(), b"tasks:\n  1:\n    cmd: echo\n  3.5:\n    cmd: [4, true]\n".to_vec(), 0),
        ("null-name.yaml".into(), b"tasks:\n  ~:\n    cmd: echo\n".to_vec(), 3),
        ("list-name.yaml".into(), b"tasks:\n  [a]:\n    cmd: echo\n".to_vec(), 3),
        ("cmd-empty-list.yaml".into(), b"tasks:\n  a:\n    cmd: []\n".to_vec(), 3),
        ("cmd-blank.yaml".into(), b"tasks:\n  a:\n    cmd: '  '\n".to_vec(), 3),
        ("range-ok.yaml".into(), b"tasks:\n  a:\n    matrix: {x: \"{{ range(10) }}\"}\n    cmd: echo {{ x }}\n".to_vec(), 0),
        ("range-not-list.yaml".into(), b"tasks:\n  a:\n    matrix: {x: \"{{ 5 }}\"}\n    cmd: echo {{ x }}\n".to_vec(), 3),
        ("range-negative.yaml".into(), b"tasks:\n  a:\n    matrix: {x: \"{{ range(-5) }}\"}\n    cmd: echo\n".to_vec(), 3),
        ("range-step-zero.yaml".into(), b"tasks:\n  a:\n    matrix: {x: \"{{ range(0, 5, 0) }}\"}\n    cmd: echo\n".to_vec(), 3),
        ("matrix-map.yaml".into(), b"tasks:\n  a:\n    matrix: {x: {y: 1}}\n    cmd: echo\n".to_vec(), 3),
        ("matrix-newline.yaml".into(), b"tasks:\n  a:\n    matrix: {x: [\"a\\nb\"]}\n    cmd: echo\n".to_vec(), 3),
        ("matrix-bad-key.yaml".into(), b"tasks:\n  a:\n    matrix: {\"a b\": [1]}\n    cmd: echo\n".to_vec(), 3),
        ("runaway-loop.yaml".into(), b"tasks:\n  a:\n    cmd: \"{% for i in range(100000) %}{% for j in range(100000) %}x{% endfor %}{% endfor %}\"\n".to_vec(), 3),
        ("recursion.yaml".into(), b"tasks:\n  a:\n    cmd: \"{% macro f(n) %}{{ f(n) }}{% endmacro %}{{ f(1) }}\"\n".to_vec(), 3),
        ("slots-huge.yaml".into(), b"tasks:\n  a:\n    slots: 99999999999999999999999\n    cmd: echo\n".to_vec(), 3),
        ("retries-negative.yaml".into(), b"tasks:\n  a:\n    retries: -1\n    cmd: echo\n".to_vec(), 3),
        ("timeout-zero.yaml".into(), b"tasks:\n  a:\n    timeout: 0s\n    cmd: echo\n".to_vec(), 3),
        ("timeout-huge.yaml".into(), b"tasks:\n  a:\n    timeout: 99999999999999999999h\n    cmd: echo\n".to_vec(), 3),
        ("ssh-no-hosts.yaml".into(), b"executors: {farm: {type: ssh}}\ntasks:\n  a:\n    executor: farm\n    cmd: echo\n".to_vec(), 3),
        ("executor-no-type.yaml".into(), b"executors: {farm: {slots: 2}}\ntasks:\n  a:\n    cmd: echo\n".to_vec(), 3),
        ("reserved-param.yaml".into(), b"params: {env: 1}\ntasks:\n  a:\n    cmd: echo\n".to_vec(), 3),
        ("anchors.yaml".into(), b"tasks:\n  a: &t\n    cmd: echo\n  b: *t\n".to_vec(), 0),
        ("bom.yaml".into(), b"\xef\xbb\xbftasks:\n  a:\n    cmd: echo\n".to_vec(), 0),
        ("only-comment.yaml".into(), b"# nothing\n".to_vec(), 3),
        ("multi-doc.yaml".into(), b"tasks: {a: {cmd: echo}}\n---\ntasks: {b: {cmd: echo}}\n".to_vec(), 3),
        ("wrong-ext.txt".into(), b"tasks: {a: {cmd: echo}}\n".to_vec(), 3),
    ];
    for (i, seed) in [1u64, 2, 3].iter().enumerate() {
        let mut bytes = b"tasks:\n  a:\n    cmd: ".to_vec();
        bytes.extend(junk(512, *seed).into_iter().map(|b| b & 0x7f));
        cases.push((format!("ascii-junk-{i}.yaml"), bytes, 3));
    }
    for (name, bytes, _) in &cases {
        std::fs::write(dir.path().join(name), bytes).unwrap();
    }
    std::fs::create_dir(dir.path().join("dir.yaml")).unwrap();
    cases.push(("dir.yaml".into(), Vec::new(), 3));
    cases.push(("missing.yaml".into(), Vec::new(), 3));
    for (name, _, expected) in &cases {
        let (code, stdout, stderr) = validate_in(dir.path(), &[name]);
        if name.starts_with("ascii-junk") {
            // Random text may happen to be a valid command; it must just not crash.
            assert!(code == 0 || code == 3, "{name}: exit {code}\n{stderr}");
            continue;
        }
        assert_eq!(code, *expected, "{name}:\nstdout: {stdout}\nstderr: {stderr}");
        if code == 3 {
            assert!(stderr.contains(name.as_str()), "{name}: the message names the file:\n{stderr}");
            assert!(stderr.lines().all(|l| l.starts_with("error: ")), "{name}:\n{stderr}");
        }
    }
}

#[test]
fn undeclared_param_is_a_usage_error_listing_declared_ones() {
    let (code, stdout, stderr) = validate_in(&fixture("valid"), &["params.yaml", "-p", "nope=1"]);
    assert_eq!(code, 2, "{stdout}{stderr}");
    assert!(stderr.contains("`nope`"), "{stderr}");
    assert!(stderr.contains("declared: `n`, `xs`, `x`"), "{stderr}");
}

fn graph_json(dir: &Path, args: &[&str]) -> serde_json::Value {
    let out = dagrun().current_dir(dir).args(["graph", "--format", "json"]).args(args).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).expect("graph json")
}

fn ids_and_cmds(doc: &serde_json::Value) -> Vec<(String, String)> {
    doc["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| (t["id"].as_str().unwrap().to_owned(), t["cmd"].as_str().unwrap().to_owned()))
        .collect()
}

#[test]
fn params_override_changes_expansion() {
    let dir = fixture("valid");
    let plain = ids_and_cmds(&graph_json(&dir, &["params.yaml"]));
    assert_eq!(
        plain,
        [("t[i=0,s=a]".into(), "echo 0 a lit".into()), ("t[i=1,s=a]".into(), "echo 1 a lit".into())]
    );
    let doc = graph_json(&dir, &["params.yaml", "-p", "n=3", "-p", "xs=[a,b]"]);
    let ids: Vec<String> = ids_and_cmds(&doc).into_iter().map(|(id, _)| id).collect();
    assert_eq!(ids, ["t[i=0,s=a]", "t[i=0,s=b]", "t[i=1,s=a]", "t[i=1,s=b]", "t[i=2,s=a]", "t[i=2,s=b]"]);
}

#[test]
fn params_are_data_never_rendered() {
    let doc = graph_json(&fixture("valid"), &["params.yaml", "-p", "x={{ y }}", "-p", "xs=['{{ z }}']"]);
    let got = ids_and_cmds(&doc);
    assert_eq!(got[0], ("t[i=0,s={{ z }}]".into(), "echo 0 {{ z }} {{ y }}".into()));
}

// Regression tests, each named after what broke.

/// A template that did not compile left a stand-in that caused "the command is empty" and
/// "depends on unknown task ``" on top of the real problem.
#[test]
fn bad_template_causes_no_follow_up_problems() {
    for file in ["bad-template-syntax.yaml", "bad-template-after-env.yaml"] {
        let stderr = invalid(file, &[]);
        assert!(!stderr.contains("the command is empty"), "{stderr}");
        assert!(!stderr.contains("unknown task ``"), "{stderr}");
        assert!(stderr.lines().filter(|l| l.contains("bad template")).count() >= 1, "{stderr}");
    }
}

/// YAML keeps the last of two equal keys: a second `build:` silently replaced the first.
#[test]
fn duplicate_yaml_keys_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let cases = [
        ("tasks.yaml", "tasks:\n  a:\n    cmd: x\n  a:\n    cmd: y\n", "field `tasks`: `a` is defined twice"),
        (
            "params.yaml",
            "params: {p: 1, p: 2}\ntasks: {a: {cmd: x}}\n",
            "field `params`: `p` is defined twice",
        ),
        (
            "env.yaml",
            "tasks:\n  a:\n    cmd: x\n    env: {A: 1, A: 2}\n",
            "field `tasks.a.env`: `A` is defined twice",
        ),
        ("matrix.yaml", "tasks:\n  a:\n    cmd: x\n    matrix: {k: [1], k: [2]}\n", "`k` is defined twice"),
        (
            "executors.yaml",
            "executors:\n  e: {type: local}\n  e: {type: local}\ntasks: {a: {cmd: x}}\n",
            "`e` is defined twice",
        ),
    ];
    for (name, text, needle) in cases {
        write(dir.path(), name, text);
        let (code, _, stderr) = validate_in(dir.path(), &[name]);
        assert_eq!(code, 3, "{name}: {stderr}");
        assert!(stderr.contains(needle), "{name}: {stderr}");
    }
}

/// Control characters were reported at `1:1` with a byte offset in the message.
#[test]
fn control_characters_are_located() {
    let stderr = invalid("control-character.yaml", &[]);
    assert!(stderr.contains("control-character.yaml:3:15: "), "{stderr}");
    assert!(stderr.contains("U+0007"), "{stderr}");
}

/// serde_yaml's ` at line N column M` was left inside the message after the position.
#[test]
fn yaml_messages_do_not_repeat_the_position() {
    let stderr = invalid("syntax-error.yaml", &[]);
    assert!(stderr.contains("syntax-error.yaml:6:1: "), "{stderr}");
    assert!(!stderr.contains(" at line "), "{stderr}");
}

/// `tasks: null` gave serde's "invalid type: unit value" instead of saying there are no tasks.
#[test]
fn null_tasks_say_there_are_no_tasks() {
    let stderr = invalid("tasks-null.yaml", &[]);
    assert!(stderr.contains("field `tasks`: the workflow defines no tasks"), "{stderr}");
}

/// Two matrix values with the same string form: the problem now names the `matrix` field.
#[test]
fn duplicate_ids_name_the_matrix_field() {
    let stderr = invalid("duplicate-id.yaml", &[]);
    assert!(stderr.contains("task `shard`, field `matrix`: duplicate task id `shard[n=1]`"), "{stderr}");
}

/// A boolean matrix value gave the id `t[b=True]` (minijinja's Python-style form), not the
/// `true` the file wrote.
#[test]
fn boolean_matrix_values_print_as_written() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "b.yaml",
        "params: {f: false}\ntasks:\n  t:\n    matrix: {b: [true]}\n    cmd: echo {{ b }} {{ f }} {{ b | shell_quote }}\n",
    );
    let out =
        dagrun().current_dir(dir.path()).args(["graph", "--format", "json", "b.yaml"]).output().unwrap();
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["tasks"][0]["id"], "t[b=true]");
    assert_eq!(doc["tasks"][0]["cmd"], "echo true false true");
}

/// Regression: builtin filters had no bound on their work or memory, so `validate` aborted on
/// `(range(10) * 10**15) | list`, never ended on `| join` of such a sequence, and a `replace`
/// or `join` could ask for gigabytes. Each is now a problem of the task's field, exit 3. The
/// inputs are the `workflow_yaml` fuzz target's regression inputs.
#[test]
fn template_filters_that_aborted_hung_or_exhausted_memory_are_validation_errors() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/regressions/workflow_yaml");
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains("huge-lazy-sequence") || n.contains("past-memory"))
        .collect();
    names.sort();
    assert!(names.len() >= 5, "{names:?}");
    for name in &names {
        let (code, _, stderr) = validate_in(&dir, &[name]);
        assert_eq!(code, 3, "{name}: {stderr}");
        assert!(stderr.contains("more than the limit of"), "{name}: {stderr}");
        assert!(stderr.contains("`a`"), "{name}: {stderr}");
    }
}

/// Validates inputs of `fuzz/regressions/workflow_yaml/`: each is invalid (exit 3) with `needle`.
fn regressions_are_refused(names: &[&str], needle: &str) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/regressions/workflow_yaml");
    for name in names {
        let (code, _, stderr) = validate_in(&dir, &[name]);
        assert_eq!(code, 3, "{name}: {stderr}");
        assert!(stderr.contains(needle), "{name}: {stderr}");
    }
}

/// Regression (found by the `workflow_yaml` fuzz target): a matrix of `range(0) * 10**12`
/// has no values, but finding that out walked a trillion empty repetitions. It is now the
/// empty-matrix problem at once.
#[test]
fn a_matrix_of_an_empty_sequence_repeated_a_trillion_times_is_empty_at_once() {
    regressions_are_refused(
        &[
            "matrix-of-an-empty-sequence-repeated-a-trillion-times-hung-min.yaml",
            "matrix-of-an-empty-sequence-repeated-a-billion-times-hung.yaml",
        ],
        "has no values",
    );
}

/// Found by fuzzing: `range(6) * 10**19` has more items than a 64-bit count holds, and the
/// template engine multiplies the length unchecked. The count wraps (as in release builds) and
/// the matrix is refused by its limit; the test binary's debug build panicked before.
#[test]
fn a_repeated_sequence_too_long_to_count_is_refused_by_the_limit() {
    regressions_are_refused(
        &[
            "repeated-sequence-longer-than-a-64-bit-count-min.yaml",
            "repeated-sequence-longer-than-a-64-bit-count.yaml",
        ],
        "more than the limit of 10000000 values",
    );
}

/// A file big enough to be parsed in pieces (over 1 MiB) reports a syntax error where it is,
/// as a small file does: at the end, in the middle, in the first piece.
#[test]
fn a_syntax_error_in_a_big_file_is_located() {
    let tmp = tempfile::tempdir().unwrap();
    let tasks = 100_000;
    let mut text = String::from("name: big\ntasks:\n");
    for i in 0..tasks {
        text.push_str(&format!("  t{i}:\n    cmd: echo {i}\n"));
    }
    assert!(text.len() > 2 << 20);
    let lines = 2 + 2 * tasks;
    let at_line = |line: usize, extra: &str| {
        let mut out: Vec<&str> = text.lines().collect();
        out.insert(line - 1, extra);
        out.join("\n") + "\n"
    };
    let cases = [
        // A quote never closed on the last line: the stream ends inside it.
        (
            format!("{text}  last:\n    cmd: \"open\n"),
            format!(
                "big.yaml:{}:1: found unexpected end of stream, while scanning a quoted scalar",
                lines + 3
            ),
        ),
        // A sequence entry among the task keys, in the middle and in the first piece.
        (
            at_line(lines / 2 + 2, "  - oops"),
            format!("big.yaml:{}:3: did not find expected key", lines / 2 + 2),
        ),
        (at_line(5, "  - oops"), "big.yaml:5:3: did not find expected key".to_owned()),
    ];
    for (i, (text, want)) in cases.iter().enumerate() {
        write(tmp.path(), "big.yaml", text);
        let (code, _, err) = validate_in(tmp.path(), &["big.yaml"]);
        assert_eq!(code, 3, "case {i}: {err}");
        assert!(err.starts_with(&format!("error: {want}")), "case {i}: want {want:?}, got:\n{err}");
        assert!(err.contains("1 problem found"), "case {i}: {err}");
    }
}

#[test]
fn misspelled_fields_and_when_values_get_a_did_you_mean() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let flow = crate::common::write(
        d,
        "flow.yaml",
        "tasks:\n  a: {cmd: x, timout: 5s}\n  b: {cmd: x, when: allways}\n",
    );
    let out = crate::common::dagrun().arg("validate").arg(&flow).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{err}");
    assert!(err.contains("unknown field `timout`") && err.contains("(did you mean `timeout`?)"), "{err}");
    let flow = crate::common::write(d, "when.yaml", "tasks:\n  b: {cmd: x, when: allways}\n");
    let out = crate::common::dagrun().arg("validate").arg(&flow).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("`allways` is not one of") && err.contains("(did you mean `always`?)"), "{err}");
}

/// `dagrun schema` constrains what it can, so an editor catches `retries: three`; every valid
/// fixture passes it, templates included.
#[test]
fn the_schema_refuses_what_validate_refuses_field_by_field() {
    let out = dagrun().arg("schema").output().unwrap();
    assert!(out.status.success());
    let schema: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let validator = jsonschema::validator_for(&schema).expect("a valid JSON Schema");
    let doc = |yaml: &str| serde_yaml::from_str::<serde_json::Value>(yaml).unwrap();
    for entry in std::fs::read_dir(fixture("valid")).unwrap() {
        let path = entry.unwrap().path();
        let text = std::fs::read_to_string(&path).unwrap();
        let value: serde_json::Value = match path.extension().and_then(|e| e.to_str()) {
            Some("yaml") => doc(&text),
            Some("toml") => toml::from_str(&text).unwrap(),
            _ => continue,
        };
        let errors: Vec<String> = validator.iter_errors(&value).map(|e| e.to_string()).collect();
        assert!(errors.is_empty(), "{}: {errors:?}", path.display());
    }
    for good in [
        "retries: 2",
        "retries: '{{ n }}'",
        "retries:",
        "slots: 4",
        "timeout: 1h 30m",
        "retry_delay: 500ms",
        "timeout: '{{ t }}'",
        "when: always",
        "when: \"{% if x %}failure{% else %}success{% endif %}\"",
    ] {
        let value = doc(&format!("tasks:\n  a:\n    cmd: x\n    {good}\n"));
        assert!(validator.is_valid(&value), "the schema refuses `{good}`");
    }
    for bad in
        ["retries: three", "retries: -1", "slots: 0", "timeout: forever", "timeout: 5", "when: allways"]
    {
        let value = doc(&format!("tasks:\n  a:\n    cmd: x\n    {bad}\n"));
        assert!(!validator.is_valid(&value), "the schema accepts `{bad}`");
        let value = doc(&format!("defaults:\n  {bad}\ntasks:\n  a: {{cmd: x}}\n"));
        assert!(!validator.is_valid(&value), "the schema accepts `{bad}` in defaults");
    }
}

/// A declared string param may be a template over the params declared before it; a `-p` value
/// is data, and a param using a later one is an error that says why.
#[test]
fn a_param_may_be_a_template_over_earlier_params() {
    let tmp = tempfile::tempdir().unwrap();
    let body = "params:\n  extra: \"\"\n  cflags: \"-O2 {{ extra }}\"\n  n: 2\n  label: \"{{ n * 2 }} {{ workflow.name }}\"\n\
                tasks:\n  cc: {cmd: \"cc {{ cflags }} # {{ label }}\"}\n";
    write(tmp.path(), "p.yaml", body);
    let cmd = |args: &[&str]| {
        let doc = graph_json(tmp.path(), &[&["p.yaml"], args].concat());
        ids_and_cmds(&doc)[0].1.clone()
    };
    assert_eq!(cmd(&[]), "cc -O2  # 4 p");
    assert_eq!(cmd(&["-p", "extra=-g", "-p", "n=5"]), "cc -O2 -g # 10 p");
    assert_eq!(cmd(&["-p", "cflags={{ extra }}"]), "cc {{ extra }} # 4 p");
    write(tmp.path(), "late.yaml", "params:\n  a: \"{{ b }}\"\n  b: x\ntasks:\n  t: {cmd: echo}\n");
    let (code, _, stderr) = validate_in(tmp.path(), &["late.yaml"]);
    assert_eq!(code, 3);
    assert!(
        stderr.contains(
            "field `params.a`: undefined name `b` (a param may use only the params declared before it)"
        ),
        "{stderr}"
    );
}

/// A template problem points at its line and column inside the field's text: in a block
/// scalar, a flow mapping, an `env` value, TOML, and a generator's output.
#[test]
fn template_errors_point_inside_the_field() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    write(
        d,
        "pos.yaml",
        "tasks:\n  a:\n    description: first\n    cmd: |\n      echo start\n      echo {{ nope }}\n  \
         b: {cmd: \"echo {{ missing }}\"}\n  c:\n    env:\n      X: \"{{ 1 + }}\"\n    \
         cmd: docker ps --format \"{{.Names}}\"\n",
    );
    let (code, _, stderr) = validate_in(d, &["pos.yaml"]);
    assert_eq!(code, 3);
    for want in [
        "pos.yaml:6:15: task `a`, field `cmd`: undefined name `nope`",
        "pos.yaml:7:21: task `b`, field `cmd`: undefined name `missing`",
        "pos.yaml:10:18: task `c`, field `env.X`: bad template: syntax error",
        "pos.yaml:11:30: task `c`, field `cmd`: bad template: syntax error: unexpected `.`",
    ] {
        assert!(stderr.contains(want), "missing {want:?} in:\n{stderr}");
    }
    write(
        d,
        "pos.toml",
        "[tasks.a]\ncmd = \"\"\"\necho start\necho {{ nope }}\n\"\"\"\n\n[tasks.b]\ncmd = \"echo {{ missing }}\"\n",
    );
    let (_, _, stderr) = validate_in(d, &["pos.toml"]);
    assert!(stderr.contains("pos.toml:4:9: task `a`, field `cmd`: undefined name `nope`"), "{stderr}");
    assert!(stderr.contains("pos.toml:8:16: task `b`, field `cmd`: undefined name `missing`"), "{stderr}");
    write(d, "frag.yaml", "tasks:\n  x:\n    cmd: |\n      echo hi\n      echo {{ gone }}\n");
    write(d, "g.yaml", "tasks:\n  g: {generator: true, cmd: cat frag.yaml}\n");
    let out = dagrun().current_dir(d).args(["run", "g.yaml", "--progress", "plain"]).output().unwrap();
    let text = String::from_utf8_lossy(&out.stderr);
    assert!(text.contains("output of `g`:5:15: task `x`, field `cmd`: undefined name `gone`"), "{text}");
}
