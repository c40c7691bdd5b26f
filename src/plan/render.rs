//! The plan as Graphviz DOT, Mermaid or JSON. Output depends only on the plan (and statuses),
//! so the same file gives byte-identical output.

use super::Plan;
use std::fmt::Write;

/// A task's status, for colouring (`graph --state`): a state's status, or `up_to_date` for a
/// success that did not run because its files were up to date.
pub type StatusOf<'a> = &'a dyn Fn(u32) -> Option<&'a str>;

fn dot_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            c if c.is_control() => {}
            c => out.push(c),
        }
    }
    out
}

fn colour(status: &str) -> &'static str {
    match status {
        "succeeded" => "palegreen",
        "up_to_date" => "honeydew",
        "failed" => "lightcoral",
        "running" => "lightskyblue",
        "skipped" => "lightgrey",
        "interrupted" => "orange",
        _ => "white",
    }
}

pub fn dot(plan: &Plan, status: Option<StatusOf>) -> String {
    let mut out = String::with_capacity(plan.len() * 64);
    let _ = writeln!(out, "digraph \"{}\" {{", dot_escape(&plan.name));
    out.push_str("  rankdir=LR;\n  node [shape=box, style=\"rounded,filled\", fillcolor=white];\n");
    for (i, t) in plan.tasks.iter().enumerate() {
        let mut attrs: Vec<String> = Vec::new();
        if t.generator {
            attrs.push("shape=hexagon".into());
        }
        if let Some(s) = status.and_then(|f| f(i as u32)) {
            attrs.push(format!("fillcolor={}", colour(s)));
            attrs.push(format!("xlabel=\"{}\"", dot_escape(&s.replace('_', " "))));
        }
        if let Some(d) = &t.description {
            attrs.push(format!("tooltip=\"{}\"", dot_escape(d)));
        }
        let _ = write!(out, "  \"{}\"", dot_escape(&t.id));
        if !attrs.is_empty() {
            let _ = write!(out, " [{}]", attrs.join(", "));
        }
        out.push_str(";\n");
    }
    for (i, t) in plan.tasks.iter().enumerate() {
        for &d in plan.deps(i as u32) {
            let _ = writeln!(out, "  \"{}\" -> \"{}\";", dot_escape(&plan.task(d).id), dot_escape(&t.id));
        }
    }
    out.push_str("}\n");
    out
}

fn mermaid_escape(s: &str) -> String {
    s.replace('"', "#quot;").replace(['\n', '\r'], " ")
}

pub fn mermaid(plan: &Plan, status: Option<StatusOf>) -> String {
    let mut out = String::from("flowchart LR\n");
    for (i, t) in plan.tasks.iter().enumerate() {
        let label = mermaid_escape(&t.id);
        if t.generator {
            let _ = writeln!(out, "  t{i}{{{{\"{label}\"}}}}");
        } else {
            let _ = writeln!(out, "  t{i}[\"{label}\"]");
        }
    }
    for i in 0..plan.len() as u32 {
        for &d in plan.deps(i) {
            let _ = writeln!(out, "  t{d} --> t{i}");
        }
    }
    if let Some(f) = status {
        for s in ["succeeded", "up_to_date", "failed", "running", "skipped", "interrupted"] {
            let _ = writeln!(out, "  classDef {s} fill:{}", colour(s));
        }
        for i in 0..plan.len() as u32 {
            if let Some(s) = f(i) {
                let _ = writeln!(out, "  class t{i} {s}");
            }
        }
    }
    out
}

pub fn json(plan: &Plan, status: Option<StatusOf>) -> String {
    let tasks: Vec<serde_json::Value> = plan
        .tasks
        .iter()
        .enumerate()
        .map(|(i, t)| {
            let mut v = serde_json::json!({
                "id": t.id,
                "name": &*t.base,
                "after": plan.deps(i as u32).iter().map(|&d| plan.task(d).id.as_str()).collect::<Vec<_>>(),
                "cmd": t.cmd,
                "executor": &*t.executor,
                "generator": t.generator,
            });
            match status.and_then(|f| f(i as u32)) {
                Some("up_to_date") => {
                    v["status"] = "succeeded".into();
                    v["up_to_date"] = true.into();
                }
                Some(s) => v["status"] = s.into(),
                None => {}
            }
            v
        })
        .collect();
    let doc = serde_json::json!({ "name": plan.name, "tasks": tasks });
    let mut s = serde_json::to_string_pretty(&doc).unwrap_or_default();
    s.push('\n');
    s
}
