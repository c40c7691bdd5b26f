//! `env_file`: dotenv files loaded into tasks' environments, at the workflow's top level and per
//! task, checked at validation.

use crate::common::*;

fn log(d: &std::path::Path, task: &str) -> String {
    std::fs::read_to_string(d.join(format!(".dagrun/flow/logs/{task}.1.log"))).unwrap()
}

#[test]
fn files_are_loaded_beneath_env_in_order() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    write(d, "all.env", "# shared\nA=from-file\nB=from-file\nC=from-file\nD=from-file\n");
    std::fs::create_dir(d.join("conf")).unwrap();
    write(d, "conf/north.env", "C='task file'\nD=task-file\nexport E=\"quoted # not a comment\"\n");
    write(d, "conf/south.env", "C=south\n");
    write(
        d,
        "flow.yaml",
        r#"env_file: all.env
env: {B: from-env}
tasks:
  show:
    matrix: {region: [north, south]}
    env_file: ["conf/{{ region }}.env", {path: absent.env, required: false}]
    env: {D: from-task-env}
    cmd: 'echo "$A|$B|$C|$D|$E"'
"#,
    );
    Test::in_dir(d).args(&["run", "flow.yaml"]).code(0).run();
    assert_eq!(
        log(d, "show[region=north]"),
        "from-file|from-env|task file|from-task-env|quoted # not a comment\n"
    );
    assert_eq!(log(d, "show[region=south]"), "from-file|from-env|south|from-task-env|\n");
}

#[test]
fn a_missing_file_is_a_validation_error_unless_not_required() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    write(d, "flow.yaml", "env_file: nowhere.env\ntasks:\n  a: {cmd: 'true', env_file: gone.env}\n");
    Test::in_dir(d)
        .args(&["validate", "flow.yaml"])
        .code(3)
        .stderr_has("field `env_file`: env file `nowhere.env` does not exist")
        .stderr_has("task `a`, field `env_file`: env file `gone.env` does not exist")
        .run();
    write(d, "flow.yaml", "env_file: {path: nowhere.env, required: false}\ntasks:\n  a: {cmd: 'true'}\n");
    Test::in_dir(d).args(&["validate", "flow.yaml"]).code(0).run();
}

#[test]
fn a_malformed_file_names_its_line() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    write(d, "bad.env", "A=1\n\n# ok so far\nthis is not a pair\n");
    write(d, "flow.yaml", "tasks:\n  a: {cmd: 'true', env_file: bad.env}\n");
    Test::in_dir(d)
        .args(&["validate", "flow.yaml"])
        .code(3)
        .stderr_has("env file `bad.env`, line 4: cannot parse `this is not a pair`")
        .run();
    write(d, "flow.yaml", "env_file: {path: bad.env, colour: red}\ntasks:\n  a: {cmd: 'true'}\n");
    Test::in_dir(d).args(&["validate", "flow.yaml"]).code(3).stderr_has("unknown field `colour`").run();
}

#[test]
fn editing_an_env_file_reruns_the_tasks_that_load_it() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    write(d, "a.env", "X=1\n");
    write(d, "flow.yaml", "tasks:\n  uses: {cmd: 'echo $X', env_file: a.env}\n  other: {cmd: 'true'}\n");
    Test::in_dir(d).args(&["run", "flow.yaml"]).code(0).run();
    write(d, "a.env", "X=2\n");
    let ran = Test::in_dir(d)
        .args(&["resume", "--progress", "plain", ".dagrun/flow/state.json"])
        .code(0)
        .stderr_has("start    uses")
        .run();
    assert!(!ran.stderr.contains("start    other"), "{}", ran.stderr);
    // Resume counts attempts on: this is the task's second.
    let second = std::fs::read_to_string(d.join(".dagrun/flow/logs/uses.2.log")).unwrap();
    assert_eq!(second, "2\n");
}

#[test]
fn defaults_give_an_env_file_that_a_task_replaces() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    write(d, "base.env", "WHO=base\n");
    write(d, "own.env", "WHO=own\n");
    write(
        d,
        "flow.yaml",
        "defaults: {env_file: base.env}\ntasks:\n  a: {cmd: 'echo $WHO'}\n  b: {cmd: 'echo $WHO', env_file: own.env}\n",
    );
    Test::in_dir(d).args(&["run", "flow.yaml"]).code(0).run();
    assert_eq!((log(d, "a"), log(d, "b")), ("base\n".to_owned(), "own\n".to_owned()));
}
