//! What each fuzz target does with one input: the same calls `dagrun` makes on a workflow file,
//! a state file and its journal, or a generator's output, and the invariants that must hold
//! after them. Any panic here is a bug.
//!
//! This file is also compiled into the main crate's integration tests
//! (`tests/it/fuzz_corpus.rs`), which replay the committed seeds and regression inputs through
//! it, so it may use only `dagrun` and the main crate's own dependencies.

use dagrun::diag::Diagnostic;
use dagrun::pipeline::load_text;
use dagrun::plan::hash;
use dagrun::plan::{Plan, render, splice};
use dagrun::state::{resume, store};
use dagrun::workflow::load::{self, Format};
use dagrun::workflow::{LoadError, LoadOptions, split};
use std::path::Path;
use std::sync::OnceLock;

/// The task limit the targets load with: an input that expands to the limit still runs fast.
pub const MAX_TASKS: usize = 2_000;

fn options() -> LoadOptions {
    LoadOptions { max_tasks: MAX_TASKS, ..LoadOptions::default() }
}

/// `workflow_yaml` and `workflow_toml`: bytes read from a workflow file, then what
/// `dagrun validate` and `dagrun graph` do with them.
pub fn workflow(data: &[u8], format: Format) {
    let file = match format {
        Format::Yaml => "fuzz.yaml",
        Format::Toml => "fuzz.toml",
    };
    let Ok(text) = load::decode(file, data.to_vec()) else { return };
    match load_text(Path::new(file), format, text.clone(), &options()) {
        Ok(plan) => check_plan(&plan),
        Err(LoadError::Invalid(diags)) => check_diagnostics(&diags),
        Err(LoadError::Usage(m)) => panic!("a usage error without `-p`: {m}"),
    }
    if format == Format::Yaml && load::precheck(file, format, &text).is_ok() {
        split_agrees(&text);
    }
}

/// Big files parse in pieces (`split`); the pieces must mean what the whole document means,
/// and a syntax error reported from the piece that failed must be reported as the whole
/// document reports it. Small pieces make the fuzzer's small inputs take that path.
fn split_agrees(text: &str) {
    match split::parse(text, 64) {
        Ok(pieces) => {
            let whole = serde_yaml::from_str::<dagrun::workflow::spec::WorkflowSpec>(text);
            let whole =
                whole.unwrap_or_else(|e| panic!("the pieces parse but the whole document does not: {e}"));
            let (a, b) = (serde_json::to_value(&pieces), serde_json::to_value(&whole));
            assert_eq!(a.ok(), b.ok(), "the pieces parse to another workflow than the whole document");
        }
        Err(split::StepAside::SyntaxError(view)) => {
            let problems =
                |t: &str| load::parse_whole("fuzz.yaml", Format::Yaml, t).err().map(|d| format!("{d:?}"));
            let (a, b) = (problems(&view), problems(text));
            assert!(a.is_some(), "the syntax error view parses");
            assert_eq!(a, b, "the syntax error view reports other problems than the whole document");
        }
        Err(split::StepAside::Whole) => {}
    }
}

fn check_diagnostics(diags: &[Diagnostic]) {
    assert!(!diags.is_empty(), "an invalid workflow with no problem reported");
    for d in diags {
        assert!(!d.to_string().trim().is_empty(), "an empty problem: {d:?}");
    }
    serde_json::to_string(diags).expect("problems serialise as JSON");
}

/// What holds for every plan: ids are unique and indexed, the order is topological, and the
/// renderings that `graph` prints are produced.
pub fn check_plan(plan: &Plan) {
    let n = plan.len();
    // Every id leads back to its own task: ids are unique and all indexed.
    for (i, t) in plan.tasks.iter().enumerate() {
        assert_eq!(plan.get(&t.id), Some(i as u32), "task `{}` is not indexed", t.id);
    }
    assert_eq!(plan.order.len(), n, "the order does not hold every task");
    let mut pos = vec![usize::MAX; n];
    for (k, &i) in plan.order.iter().enumerate() {
        assert_eq!(pos[i as usize], usize::MAX, "a task twice in the order");
        pos[i as usize] = k;
    }
    for i in 0..n as u32 {
        for &d in plan.deps(i) {
            assert!(d != i, "task `{}` depends on itself", plan.task(i).id);
            assert!(pos[d as usize] < pos[i as usize], "the order runs a task before its dependency");
            assert!(plan.dependents(d).contains(&i), "dependency lists disagree");
        }
    }
    let _ = render::dot(plan, None);
    let _ = render::mermaid(plan, None);
    let json = render::json(plan, None);
    serde_json::from_str::<serde_json::Value>(&json).expect("`graph --format json` prints JSON");
    assert_eq!(hash::definition_hashes(plan).len(), n);
}

/// `state`: a state file, then, after the first NUL byte (which JSON never contains), its
/// journal; then what `dagrun resume` does with it before running anything.
pub fn state(data: &[u8]) {
    let (snapshot, journal) = match data.iter().position(|&b| b == 0) {
        Some(k) => (&data[..k], Some(&data[k + 1..])),
        None => (data, None),
    };
    let path = Path::new("state.json");
    let Ok(state) = store::from_bytes(path, snapshot, journal) else { return };
    // What dagrun writes, it reads back as the same state.
    let written = serde_json::to_vec_pretty(&state).expect("a loaded state serialises");
    let again = store::from_bytes(path, &written, None).expect("a written state loads again");
    assert_eq!(serde_json::to_vec_pretty(&again).ok(), Some(written), "the state changes when written again");

    let Some(format) = Format::from_name(&state.workflow.format) else { return };
    let mut opts = options();
    opts.recorded_params = state.workflow.overrides.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
    let workflow = Path::new(&state.workflow.path);
    let Ok(mut plan) = load_text(workflow, format, state.workflow.source.clone(), &opts) else { return };
    let (hashes, rec) = resume::restore(&mut plan, &state, &[], None);
    assert_eq!(hashes.len(), plan.len());
    assert_eq!(rec.done.len(), plan.len());
    check_plan(&plan);
    let records = resume::into_records(&plan, state.tasks.clone());
    assert_eq!(records.len(), plan.len());
}

/// The workflow generators print into in the `fragment` target: a generator with dependents,
/// one instance of a matrix generator, params and defaults for templates to use.
const BASE: &str = r#"
name: fuzz
params:
  day: "2024-01-01"
  sources: [a, b, c]
  n: 3
env:
  OUT: "/data/{{ day }}"
defaults:
  retries: 1
executors:
  farm: { type: ssh, hosts: [node1, { host: node2, slots: 8 }], slots: 2 }
tasks:
  prep:
    cmd: "true"
  partitions:
    generator: true
    after: [prep]
    cmd: ./list.sh {{ day }}
  days:
    generator: true
    matrix: { day: [x, y] }
    cmd: ./list.sh {{ day }}
  publish:
    after: [partitions, "days[day=x]"]
    cmd: ./publish.sh
"#;

fn base_plan() -> &'static Plan {
    static PLAN: OnceLock<Plan> = OnceLock::new();
    PLAN.get_or_init(|| {
        load_text(Path::new("fuzz.yaml"), Format::Yaml, BASE.to_owned(), &options())
            .unwrap_or_else(|e| panic!("the fragment target's workflow is invalid: {e}"))
    })
}

/// `fragment`: a generator's output, spliced into a running plan as the scheduler does, then
/// into the generators it added (nesting), a few levels deep.
pub fn fragment(data: &[u8]) {
    let Ok(output) = std::str::from_utf8(data) else { return };
    let mut plan = base_plan().clone();
    let mut generators =
        vec![plan.get("partitions").expect("the generator"), plan.get("days[day=x]").expect("an instance")];
    for _level in 0..3 {
        let Some(g) = generators.pop() else { return };
        let before = plan.len() as u32;
        match splice::splice(&mut plan, g, output) {
            Ok(added) => {
                assert_eq!(added.start, before, "added tasks do not follow the plan's");
                assert_eq!(added.end as usize, plan.len());
                check_plan(&plan);
                let down = plan.with_descendants(&[g]);
                for i in added.clone() {
                    assert!(down[i as usize], "an added task does not wait for its generator");
                    assert!(
                        plan.task(i).id.starts_with(&format!("{}/", plan.task(g).id)),
                        "an added id is not namespaced"
                    );
                }
                generators.extend(added.filter(|&i| plan.task(i).generator));
            }
            Err(diags) => {
                check_diagnostics(&diags);
                assert_eq!(plan.len() as u32, before, "a refused fragment added tasks");
            }
        }
    }
}
