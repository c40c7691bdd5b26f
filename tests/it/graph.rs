//! `dagrun graph`: DOT, Mermaid and JSON output (snapshotted), determinism, and the expansion
//! contract of DESIGN.md §2 checked through the JSON graph.

use crate::common::{dagrun, fixture};
use serde_json::Value;

/// Runs `dagrun graph ARGS...` in `tests/fixtures/valid` and returns stdout, checking exit 0.
fn graph(args: &[&str]) -> String {
    let out = dagrun()
        .current_dir(fixture("valid"))
        .env("DAGRUN_TEST_VAR", "xyz")
        .arg("graph")
        .args(args)
        .output()
        .expect("run dagrun");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "graph {args:?} failed:\n{stderr}");
    assert!(stderr.is_empty(), "{stderr}");
    String::from_utf8(out.stdout).expect("UTF-8 output")
}

fn json(file: &str) -> Value {
    serde_json::from_str(&graph(&["--format", "json", file])).expect("graph --format json is JSON")
}

fn ids(doc: &Value) -> Vec<String> {
    doc["tasks"].as_array().unwrap().iter().map(|t| t["id"].as_str().unwrap().to_owned()).collect()
}

fn task<'a>(doc: &'a Value, id: &str) -> &'a Value {
    doc["tasks"].as_array().unwrap().iter().find(|t| t["id"] == id).unwrap_or_else(|| panic!("no task {id}"))
}

fn after(doc: &Value, id: &str) -> Vec<String> {
    task(doc, id)["after"].as_array().unwrap().iter().map(|v| v.as_str().unwrap().to_owned()).collect()
}

#[test]
fn dot_of_the_etl_example() {
    let dot = graph(&["etl.yaml"]);
    assert!(dot.contains("\"partitions\" [shape=hexagon];"), "generators are hexagons:\n{dot}");
    insta::assert_snapshot!("etl_dot", dot);
}

#[test]
fn dot_quotes_ids_with_quotes_and_backslashes() {
    let dot = graph(&["matrix.yaml"]);
    assert!(dot.contains(r#""build[os=linux,shard=0,opt=it's \"q\"]";"#), "{dot}");
    insta::assert_snapshot!("matrix_dot", dot);
}

#[test]
fn mermaid_of_the_etl_example() {
    let m = graph(&["--format", "mermaid", "etl.yaml"]);
    assert!(m.contains("{{\"partitions\"}}"), "generators are hexagons:\n{m}");
    insta::assert_snapshot!("etl_mermaid", m);
}

#[test]
fn json_of_the_matrix_example() {
    insta::assert_snapshot!("matrix_json", graph(&["--format", "json", "matrix.yaml"]));
}

#[test]
fn output_is_deterministic() {
    for format in ["dot", "mermaid", "json"] {
        for file in ["etl.yaml", "etl.toml", "matrix.yaml"] {
            let a = graph(&["--format", format, file]);
            let b = graph(&["--format", format, file]);
            assert_eq!(a, b, "{format} of {file} differs between runs");
        }
    }
}

#[test]
fn toml_gives_the_same_graph_as_yaml() {
    for format in ["dot", "mermaid", "json"] {
        assert_eq!(
            graph(&["--format", format, "etl.yaml"]),
            graph(&["--format", format, "etl.toml"]),
            "{format}"
        );
    }
}

#[test]
fn instance_ids_follow_key_order_then_value_order() {
    let doc = json("matrix.yaml");
    let mut want = Vec::new();
    for os in ["linux", "mac"] {
        for shard in 0..3 {
            for opt in ["true", "1.5", "it's \"q\""] {
                want.push(format!("build[os={os},shard={shard},opt={opt}]"));
            }
        }
    }
    want.push("test[os=linux]".into());
    want.push("test[os=mac]".into());
    assert_eq!(ids(&doc), want);
}

#[test]
fn templates_see_shell_quote_task_workflow_and_env() {
    let doc = json("matrix.yaml");
    let t = task(&doc, "build[os=mac,shard=2,opt=it's \"q\"]");
    assert_eq!(t["cmd"], r#"build mac 2 "it's \"q\"" build build-matrix xyz"#);
    // A boolean matrix value prints as written, in the id and in the command.
    assert_eq!(
        task(&doc, "build[os=linux,shard=0,opt=true]")["cmd"],
        "build linux 0 true build build-matrix xyz"
    );
    // An argv command stays a list.
    assert_eq!(task(&doc, "test[os=mac]")["cmd"], serde_json::json!(["test", "mac"]));
}

#[test]
fn after_with_a_template_is_one_to_one() {
    let doc = json("etl.yaml");
    for src in ["a", "b", "c"] {
        assert_eq!(after(&doc, &format!("transform[src={src}]")), [format!("pull[src={src}]")]);
    }
    let doc = json("matrix.yaml");
    assert_eq!(after(&doc, "test[os=mac]"), ["build[os=mac,shard=0,opt=true]"]);
}

#[test]
fn a_base_name_means_every_instance() {
    let doc = json("etl.yaml");
    assert_eq!(after(&doc, "report"), ["transform[src=a]", "transform[src=b]", "transform[src=c]"]);
    assert_eq!(after(&doc, "publish"), ["report", "partitions"]);
    assert_eq!(task(&doc, "partitions")["generator"], true);
    assert_eq!(task(&doc, "pull[src=a]")["cmd"], "fetch a > \"$OUT/a.raw\"");
    assert_eq!(task(&doc, "report")["cmd"], "./report.sh 2024-01-01");
}

#[test]
fn edges_go_from_dependency_to_dependent() {
    let dot = graph(&["etl.yaml"]);
    assert!(dot.contains("\"pull[src=a]\" -> \"transform[src=a]\";"), "{dot}");
    assert!(!dot.contains("\"transform[src=a]\" -> \"pull[src=a]\""), "{dot}");
}

#[test]
fn graph_of_an_invalid_file_exits_3() {
    let out = dagrun().current_dir(fixture("invalid")).args(["graph", "cycle.yaml"]).output().unwrap();
    assert_eq!(out.status.code(), Some(3));
    assert!(out.stdout.is_empty());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("cycle.yaml:2:3: task `a`, field `after`: dependency cycle: a -> b -> c -> a"),
        "{stderr}"
    );
}

/// `graph --state` draws the graph of that run: with its `-p` values, and with the tasks its
/// generators added under them.
#[test]
fn graph_with_a_state_uses_the_params_the_run_was_given() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let flow = crate::common::write(
        d,
        "flow.yaml",
        "params: {n: 1}\ntasks:\n  shard:\n    matrix: {i: \"{{ range(n) }}\"}\n    cmd: \"true\"\n  \
         gen:\n    generator: true\n    after: [shard]\n    \
         cmd: \"printf '{tasks: {'; for i in $(seq 0 {{ n - 1 }}); do printf 'c%s: {cmd: echo}, ' $i; done; echo '}}'\"\n",
    );
    let out = dagrun().current_dir(d).args(["run", "flow.yaml", "-p", "n=3"]).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let out = dagrun()
        .current_dir(d)
        .args(["graph", "--format", "json", "--state", ".dagrun/flow/state.json"])
        .arg(&flow)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    let ids = ids(&doc);
    for id in ["shard[i=0]", "shard[i=1]", "shard[i=2]", "gen", "gen/c0", "gen/c1", "gen/c2"] {
        assert!(ids.contains(&id.to_owned()), "no {id} in {ids:?}");
        assert_eq!(task(&doc, id)["status"], "succeeded", "{id}");
    }
    assert_eq!(ids.len(), 7, "{ids:?}");
}
