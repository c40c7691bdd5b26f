//! Adding a generator's tasks to a running plan.
//!
//! A generator's stdout is a workflow fragment (`{tasks: {...}}`, YAML or JSON). It is parsed,
//! expanded and validated like a workflow file — every problem reported, nothing added unless
//! all is well — with ids namespaced under the generator (`gen/child`). Every added task
//! depends on the generator, and every task that depended on the generator also waits for the
//! added tasks (through the fragment's last tasks, which wait for all the others).

use super::build::{cycles, topo_order};
use super::{Adjacency, Plan};
use crate::diag::{Diagnostic, suggest};
use crate::task::Task;
use crate::workflow::after::AfterLists;
use crate::workflow::expand::{Expanded, Expander};
use crate::workflow::load::{self, Format};
use std::collections::HashMap;
use std::ops::Range;
use std::path::Path;

/// How deep generators may nest (a generator that generates itself stops here).
pub const MAX_DEPTH: u8 = 16;
/// The most a generator may print.
pub const MAX_OUTPUT_BYTES: u64 = 64 << 20;

/// Reads what a generator printed, refusing what cannot be a task list.
pub fn read_output(path: &Path) -> Result<String, String> {
    let len = std::fs::metadata(path)
        .map_err(|e| format!("cannot read its output `{}`: {e}", path.display()))?
        .len();
    if len > MAX_OUTPUT_BYTES {
        return Err(format!(
            "it printed {len} bytes; a generator's task list may have at most {MAX_OUTPUT_BYTES} bytes"
        ));
    }
    let bytes =
        std::fs::read(path).map_err(|e| format!("cannot read its output `{}`: {e}", path.display()))?;
    String::from_utf8(bytes).map_err(|e| {
        format!(
            "it printed output that is not UTF-8 text (a bad byte at offset {})",
            e.utf8_error().valid_up_to()
        )
    })
}

/// Validates `output` as the fragment of generator `generator` and adds its tasks to the plan.
/// Returns the indices of the added tasks (empty when the output defines none).
pub fn splice(plan: &mut Plan, generator: u32, output: &str) -> Result<Range<u32>, Vec<Diagnostic>> {
    let old = plan.len() as u32;
    if output.trim().is_empty() {
        return Ok(old..old);
    }
    let gid = plan.task(generator).id.clone();
    let depth = plan.task(generator).depth;
    let file = format!("output of `{gid}`");
    let (spec, partial) = load::parse_partial(&file, Format::Yaml, output).map_err(|mut diags| {
        // Stray output (an `echo` of progress) makes the document something else entirely.
        for d in &mut diags {
            if d.message.starts_with("a workflow must be a mapping") || d.message.contains("invalid type: ") {
                let found = d.message.split(", expected").next().unwrap_or_default().to_owned();
                d.message = format!(
                    "this is not a task document ({found}); a generator's stdout must hold only \
                     `{{tasks: ...}}` in YAML or JSON, so print anything else (progress, logs) to stderr"
                );
            }
        }
        diags
    })?;
    let mut diags = partial.diags;
    for d in &mut diags {
        if let Some(t) = &mut d.task {
            *t = format!("{gid}/{t}");
        }
    }
    let mut not_tasks = Vec::new();
    for (field, present) in [
        ("name", spec.name.is_some()),
        ("params", !spec.params.is_empty()),
        ("env", !spec.env.is_empty()),
        ("executors", !spec.executors.is_empty()),
        (
            "defaults",
            serde_json::to_value(&spec.defaults).ok()
                != serde_json::to_value(crate::workflow::spec::TaskDefaults::default()).ok(),
        ),
    ] {
        if present {
            not_tasks.push(format!("`{field}`"));
        }
    }
    if !not_tasks.is_empty() {
        diags.push(Diagnostic::new(
            &file,
            format!("a generator's output defines only `tasks`; remove {}", not_tasks.join(", ")),
        ));
    }
    if spec.tasks.is_empty() && partial.broken.is_empty() {
        return if diags.is_empty() { Ok(old..old) } else { Err(diags) };
    }
    if depth >= MAX_DEPTH {
        diags.push(Diagnostic::new(
            &file,
            format!(
                "generators are nested more than {MAX_DEPTH} deep here (does a generator generate itself?)"
            ),
        ));
        return Err(diags);
    }

    let ns = format!("{gid}/");
    let mut ex = Expander {
        existing: plan.len(),
        namespace: &ns,
        diags,
        ..Expander::new(&file, &plan.source.path, output, Format::Yaml, plan.max_tasks)
    };
    let head = Expanded::head(
        plan.name.clone(),
        plan.params.clone(),
        plan.executors.clone(),
        plan.defaults.clone(),
        plan.max_tasks,
    );
    let Expanded { tasks, after, bases, .. } = ex.expand_fragment(&spec.tasks, head);
    let mut diags = ex.diags;

    let skipped: std::collections::HashSet<&str> = partial.broken.iter().map(String::as_str).collect();
    let (deps, sinks) = resolve(plan, generator, &file, &ns, &tasks, &after, &bases, &skipped, &mut diags);
    if !diags.is_empty() {
        crate::diag::in_file_order(&mut diags, |task| {
            load::locate_task(output, Format::Yaml, task.strip_prefix(ns.as_str()).unwrap_or(task))
        });
        return Err(diags);
    }
    let mut tasks = tasks;
    for t in &mut tasks {
        t.depth = depth + 1;
    }
    plan.extend(generator, tasks, deps, &sinks);
    Ok(old..plan.len() as u32)
}

/// Resolves the fragment's `after` entries: a sibling by its local name first, then any task of
/// the plan by its full id or name. Returns each new task's dependencies (all include the
/// generator) and the new tasks no other new task depends on.
#[allow(clippy::too_many_arguments)]
fn resolve(
    plan: &Plan,
    generator: u32,
    file: &str,
    ns: &str,
    tasks: &[Task],
    after: &AfterLists,
    bases: &[(std::sync::Arc<str>, Range<usize>)],
    skipped: &std::collections::HashSet<&str>,
    diags: &mut Vec<Diagnostic>,
) -> (Vec<Vec<u32>>, Vec<u32>) {
    let old = plan.len() as u32;
    let mut local: HashMap<&str, u32> = HashMap::with_capacity(tasks.len());
    for (k, t) in tasks.iter().enumerate() {
        if plan.get(&t.id).is_some() || local.insert(&t.id, old + k as u32).is_some() {
            diags.push(Diagnostic::new(file, format!("task id `{}` already exists", t.id)).task(&*t.base));
        }
    }
    let local_bases: HashMap<&str, &Range<usize>> = bases.iter().map(|(b, r)| (&**b, r)).collect();
    let mut plan_bases: Option<HashMap<&str, Vec<u32>>> = None;
    let mut downstream: Option<Vec<bool>> = None;
    let mut deps = Vec::with_capacity(tasks.len());
    for (k, t) in tasks.iter().enumerate() {
        let me = old + k as u32;
        let mut d = vec![generator];
        let mut outside = Vec::new();
        for a in after.get(k) {
            let sibling = format!("{ns}{a}");
            if let Some(&j) = local.get(sibling.as_str()) {
                d.push(j);
            } else if let Some(r) = local_bases.get(sibling.as_str()) {
                d.extend(old + r.start as u32..old + r.end as u32);
            } else if let Some(j) = plan.get(a) {
                outside.push(j);
            } else if let Some(v) = plan_bases
                .get_or_insert_with(|| {
                    let mut m: HashMap<&str, Vec<u32>> = HashMap::new();
                    for (i, t) in plan.tasks.iter().enumerate() {
                        m.entry(&*t.base).or_default().push(i as u32);
                    }
                    m
                })
                .get(a)
            {
                outside.extend(v);
            } else if super::build::names_skipped(skipped, a) {
                // A broken sibling, already reported.
            } else {
                let names = bases.iter().filter_map(|(b, _)| b.strip_prefix(ns));
                let hint = suggest(a, names).map(|s| format!(" (did you mean `{s}`?)")).unwrap_or_default();
                diags.push(
                    Diagnostic::new(file, format!("`{}` depends on unknown task `{a}`{hint}", t.id))
                        .task(&*t.base)
                        .field("after"),
                );
            }
        }
        for j in outside {
            // Waiting for something that waits for the generator would never end.
            let down = downstream.get_or_insert_with(|| plan.with_descendants(&[generator]));
            if down[j as usize] {
                diags.push(
                    Diagnostic::new(
                        file,
                        format!(
                            "`{}` depends on `{}`, which waits for the generator `{}`: that is a cycle",
                            t.id,
                            plan.task(j).id,
                            plan.task(generator).id
                        ),
                    )
                    .task(&*t.base)
                    .field("after"),
                );
            }
            d.push(j);
        }
        d.sort_unstable();
        d.dedup();
        if d.binary_search(&me).is_ok() {
            diags.push(
                Diagnostic::new(file, format!("`{}` depends on itself", t.id)).task(&*t.base).field("after"),
            );
            d.retain(|&j| j != me);
        }
        deps.push(d);
    }

    // Cycles among the new tasks, and the fragment's last tasks.
    let n = tasks.len();
    let mut inner = Adjacency::with_capacity(n, 0);
    let mut has_dependent = vec![false; n];
    for d in &deps {
        let row: Vec<u32> = d.iter().filter(|&&j| j >= old).map(|&j| j - old).collect();
        for &j in &row {
            has_dependent[j as usize] = true;
        }
        inner.push(&row);
    }
    if let Err(remaining) = topo_order(&inner, &inner.reversed()) {
        for cycle in cycles(&inner, &remaining) {
            let path: Vec<&str> = cycle.iter().map(|&i| tasks[i as usize].id.as_str()).collect();
            let first = &tasks[cycle[0] as usize];
            diags.push(
                Diagnostic::new(
                    file,
                    format!("dependency cycle: {} (each task waits for the next)", path.join(" -> ")),
                )
                .task(&*first.base)
                .field("after"),
            );
        }
    }
    let sinks = (0..n as u32).filter(|&k| !has_dependent[k as usize]).map(|k| old + k).collect();
    (deps, sinks)
}
