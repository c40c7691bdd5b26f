//! Property tests of expansion and cycle detection, through the library's loading path.

use dagrun::pipeline::load_text;
use dagrun::plan::Plan;
use dagrun::workflow::load::Format;
use dagrun::workflow::{LoadError, LoadOptions};
use proptest::prelude::*;
use std::collections::HashSet;
use std::path::Path;

fn load(text: String) -> Result<Plan, LoadError> {
    load_text(Path::new("prop.yaml"), Format::Yaml, text, &LoadOptions::default())
}

fn config() -> ProptestConfig {
    ProptestConfig { cases: 64, ..ProptestConfig::default() }
}

/// A task's matrix: keys `k0..`, each with distinct values (plain words or numbers).
fn matrix() -> impl Strategy<Value = Vec<Vec<String>>> {
    let value = prop_oneof!["[a-z]{1,6}", (0u32..1000).prop_map(|n| n.to_string())];
    prop::collection::vec(prop::collection::hash_set(value, 1..5), 0..4)
        .prop_map(|axes| axes.into_iter().map(|s| s.into_iter().collect()).collect())
}

/// The ids the contract expects: cartesian product, keys in written order, last key fastest.
fn expected_ids(name: &str, axes: &[Vec<String>]) -> Vec<String> {
    if axes.is_empty() {
        return vec![name.to_owned()];
    }
    let mut ids = vec![Vec::<String>::new()];
    for (k, values) in axes.iter().enumerate() {
        ids = ids
            .into_iter()
            .flat_map(|prefix| {
                values.iter().map(move |v| {
                    let mut p = prefix.clone();
                    p.push(format!("k{k}={v}"));
                    p
                })
            })
            .collect();
    }
    ids.into_iter().map(|parts| format!("{name}[{}]", parts.join(","))).collect()
}

/// `after` edges as (task, dependency) over tasks `t0..tN`, written as a workflow.
fn workflow(n: usize, edges: &[(usize, usize)]) -> String {
    let mut text = String::from("tasks:\n");
    for i in 0..n {
        let deps: Vec<String> = edges.iter().filter(|e| e.0 == i).map(|e| format!("t{}", e.1)).collect();
        text.push_str(&format!("  t{i}:\n    cmd: echo {i}\n    after: [{}]\n", deps.join(", ")));
    }
    text
}

/// Random DAGs: edges only from a later task to an earlier one.
fn dag() -> impl Strategy<Value = (usize, Vec<(usize, usize)>)> {
    (1usize..30).prop_flat_map(|n| {
        let pairs = prop::collection::vec((0..n, 0..n), 0..n * 2);
        (Just(n), pairs.prop_map(|ps| ps.into_iter().filter(|(a, b)| a > b).collect()))
    })
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn expansion_is_the_cartesian_product(specs in prop::collection::vec(matrix(), 1..4)) {
        let mut text = String::from("tasks:\n");
        for (t, axes) in specs.iter().enumerate() {
            text.push_str(&format!("  t{t}:\n    cmd: echo\n"));
            if !axes.is_empty() {
                text.push_str("    matrix:\n");
                for (k, values) in axes.iter().enumerate() {
                    let quoted: Vec<String> = values.iter().map(|v| format!("\"{v}\"")).collect();
                    text.push_str(&format!("      k{k}: [{}]\n", quoted.join(", ")));
                }
            }
        }
        let plan = load(text.clone()).map_err(|e| TestCaseError::fail(format!("{e}\n{text}")))?;
        let want: Vec<String> =
            specs.iter().enumerate().flat_map(|(t, axes)| expected_ids(&format!("t{t}"), axes)).collect();
        let count: usize = specs.iter().map(|axes| axes.iter().map(Vec::len).product::<usize>()).sum();
        prop_assert_eq!(plan.len(), count);
        let got: Vec<&str> = plan.tasks.iter().map(|t| t.id.as_str()).collect();
        prop_assert_eq!(got, want.iter().map(String::as_str).collect::<Vec<_>>());
        let unique: HashSet<&str> = plan.tasks.iter().map(|t| t.id.as_str()).collect();
        prop_assert_eq!(unique.len(), plan.len());
    }

    #[test]
    fn dags_are_never_cyclic_and_order_respects_deps((n, edges) in dag()) {
        let plan = load(workflow(n, &edges)).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(plan.len(), n);
        for &(a, b) in &edges {
            prop_assert!(plan.deps(a as u32).contains(&(b as u32)), "t{} after t{}", a, b);
        }
        let mut pos = vec![usize::MAX; n];
        for (p, &i) in plan.order.iter().enumerate() {
            prop_assert_eq!(pos[i as usize], usize::MAX, "t{} twice in order", i);
            pos[i as usize] = p;
        }
        prop_assert!(pos.iter().all(|&p| p != usize::MAX), "order misses tasks");
        for i in 0..n as u32 {
            for &d in plan.deps(i) {
                prop_assert!(pos[d as usize] < pos[i as usize], "t{} ordered before its dep t{}", i, d);
            }
        }
    }

    #[test]
    fn planted_cycles_are_reported_as_real_paths(
        (n, mut edges, cycle) in dag().prop_flat_map(|(n, edges)| {
            let n = n.max(2);
            (Just(n), Just(edges), Just((0..n).collect::<Vec<_>>()).prop_shuffle(), 2..=n)
        }).prop_map(|(n, edges, order, len)| (n, edges, order[..len].to_vec()))
    ) {
        for w in 0..cycle.len() {
            edges.push((cycle[w], cycle[(w + 1) % cycle.len()]));
        }
        let edge_set: HashSet<(String, String)> =
            edges.iter().map(|&(a, b)| (format!("t{a}"), format!("t{b}"))).collect();
        let text = workflow(n, &edges);
        let diags = match load(text.clone()) {
            Ok(_) => return Err(TestCaseError::fail(format!("cycle not found in\n{text}"))),
            Err(LoadError::Usage(m)) => return Err(TestCaseError::fail(m)),
            Err(LoadError::Invalid(d)) => d,
        };
        let mut cycles = 0;
        for d in &diags {
            let Some(rest) = d.message.strip_prefix("dependency cycle: ") else {
                return Err(TestCaseError::fail(format!("unexpected problem: {d}")));
            };
            cycles += 1;
            let path = rest.split(" (").next().unwrap_or(rest);
            let nodes: Vec<&str> = path.split(" -> ").collect();
            prop_assert!(nodes.len() >= 3, "a cycle path has at least 2 steps: {}", path);
            prop_assert_eq!(nodes.first(), nodes.last(), "the path closes: {}", path);
            prop_assert_eq!(d.task.as_deref(), Some(nodes[0]));
            let inner: HashSet<&str> = nodes[..nodes.len() - 1].iter().copied().collect();
            prop_assert_eq!(inner.len(), nodes.len() - 1, "no task repeats inside: {}", path);
            for pair in nodes.windows(2) {
                prop_assert!(
                    edge_set.contains(&(pair[0].to_owned(), pair[1].to_owned())),
                    "`{} -> {}` is not an `after` edge in {}", pair[0], pair[1], path
                );
            }
        }
        prop_assert!(cycles >= 1);
    }
}
