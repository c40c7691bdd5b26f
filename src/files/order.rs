//! A check no run can make: a task that reads a file another task writes, without depending on
//! it. Such a pair runs in whichever order the scheduler picks, so one run reads the new file
//! and the next the old one. Found from the declarations alone, without the file system.

use super::{is_glob, normalize, task_dir};
use crate::plan::Plan;
use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::path::Path;

/// A file read by `reader` that `writer` declares as an output, with no path of `after` from
/// `writer` to `reader`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unordered {
    pub reader: u32,
    pub writer: u32,
    /// As the reader's directory names it.
    pub path: String,
}

/// Every file two tasks declare as an output: (path, first writer, second writer).
pub fn written_twice(plan: &Plan) -> Vec<(String, u32, u32)> {
    let mut seen: HashMap<String, u32> = HashMap::new();
    let mut out = Vec::new();
    for i in 0..plan.len() as u32 {
        let dir = dir_text(plan, i);
        for o in plan.task(i).outputs() {
            match seen.entry(joined(&dir, o)) {
                Entry::Occupied(e) if *e.get() != i => out.push((o.clone(), *e.get(), i)),
                Entry::Occupied(_) => {}
                Entry::Vacant(e) => {
                    e.insert(i);
                }
            }
        }
    }
    out
}

/// Every read of another task's output without a dependency on it, one per (reader, writer).
pub fn unordered(plan: &Plan) -> Vec<Unordered> {
    let mut exact: HashMap<String, u32> = HashMap::new();
    for i in 0..plan.len() as u32 {
        let dir = dir_text(plan, i);
        for o in plan.task(i).outputs() {
            exact.entry(joined(&dir, o)).or_insert(i);
        }
    }
    if exact.is_empty() {
        return Vec::new();
    }
    // Sorted, for the reads that name many files (a directory, a glob): those under a prefix
    // are one range.
    let mut sorted: Vec<(&str, u32)> = exact.iter().map(|(p, &w)| (p.as_str(), w)).collect();
    sorted.sort_unstable();
    let mut found = Vec::new();
    let mut ancestors = Ancestors::new(plan.len());
    let opts = glob::MatchOptions { require_literal_leading_dot: true, ..Default::default() };
    for r in 0..plan.len() as u32 {
        if plan.task(r).inputs().is_empty() {
            continue;
        }
        let dir = dir_text(plan, r);
        let mut writers: Vec<(u32, String)> = Vec::new();
        for p in plan.task(r).inputs() {
            let full = joined(&dir, p);
            if is_glob(p) {
                let Ok(pat) = glob::Pattern::new(&full) else { continue };
                for &(o, w) in under(&sorted, literal_prefix(&full)) {
                    if pat.matches_with(o, opts) {
                        writers.push((w, shown(&dir, o)));
                    }
                }
            } else {
                if let Some(&w) = exact.get(&full) {
                    writers.push((w, shown(&dir, &full)));
                }
                // A directory: everything written under it.
                for &(o, w) in under(&sorted, &format!("{full}/")) {
                    writers.push((w, shown(&dir, o)));
                }
            }
        }
        writers.sort();
        writers.dedup_by_key(|(w, _)| *w);
        for (w, path) in writers {
            if w != r && !plan.deps(r).contains(&w) && !ancestors.has(plan, r, w) {
                found.push(Unordered { reader: r, writer: w, path });
            }
        }
    }
    found
}

/// A task's directory as text.
fn dir_text(plan: &Plan, i: u32) -> String {
    task_dir(plan, i).to_string_lossy().into_owned()
}

/// `p` in `dir`, normalised (see `normalize`) only when it needs to be: most paths are plain.
fn joined(dir: &str, p: &str) -> String {
    let plain = |s: &str| s.split('/').all(|c| !c.is_empty() && c != "." && c != "..");
    if let Some(rest) = p.strip_prefix('/') {
        return if plain(rest) {
            p.to_owned()
        } else {
            normalize(Path::new(p)).to_string_lossy().into_owned()
        };
    }
    if plain(p) && !dir.is_empty() && plain(dir.trim_start_matches('/')) {
        return format!("{dir}/{p}");
    }
    normalize(&Path::new(dir).join(p)).to_string_lossy().into_owned()
}

/// The entries of `sorted` that start with `prefix`.
fn under<'a>(sorted: &'a [(&'a str, u32)], prefix: &str) -> &'a [(&'a str, u32)] {
    let start = sorted.partition_point(|(o, _)| *o < prefix);
    let len = sorted[start..].partition_point(|(o, _)| o.starts_with(prefix));
    &sorted[start..start + len]
}

/// `pattern` up to the `/` before its first glob character.
fn literal_prefix(pattern: &str) -> &str {
    let first = pattern.find(['*', '?', '[']).unwrap_or(pattern.len());
    &pattern[..pattern[..first].rfind('/').map_or(0, |k| k + 1)]
}

fn shown(dir: &str, o: &str) -> String {
    o.strip_prefix(dir).and_then(|r| r.strip_prefix('/')).unwrap_or(o).to_owned()
}

/// Whether one task is upstream of another, by a search up from the reader that stops at the
/// first hit; the marks of one search are told from the next by a generation number, so no
/// search clears the whole graph.
struct Ancestors {
    mark: Vec<u32>,
    generation: u32,
    stack: Vec<u32>,
}

impl Ancestors {
    fn new(n: usize) -> Ancestors {
        Ancestors { mark: vec![0; n], generation: 0, stack: Vec::new() }
    }

    fn has(&mut self, plan: &Plan, from: u32, target: u32) -> bool {
        self.generation += 1;
        self.stack.clear();
        self.stack.push(from);
        while let Some(i) = self.stack.pop() {
            for &d in plan.deps(i) {
                if d == target {
                    return true;
                }
                if self.mark[d as usize] != self.generation {
                    self.mark[d as usize] = self.generation;
                    self.stack.push(d);
                }
            }
        }
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pipeline::load_text;
    use crate::workflow::{LoadOptions, load::Format};

    fn plan(yaml: &str) -> Plan {
        load_text(Path::new("w/flow.yaml"), Format::Yaml, yaml.into(), &LoadOptions::default()).unwrap()
    }

    fn pairs(p: &Plan) -> Vec<(String, String, String)> {
        unordered(p)
            .into_iter()
            .map(|u| (p.task(u.reader).id.clone(), p.task(u.writer).id.clone(), u.path))
            .collect()
    }

    #[test]
    fn a_read_of_an_output_needs_a_path_of_after() {
        let p = plan(
            "tasks:
  gen: {cmd: x, outputs: [data/a.csv]}
  direct: {cmd: x, after: [gen], inputs: [data/a.csv], outputs: [b]}
  indirect: {cmd: x, after: [direct], inputs: ['data/*.csv']}
  missing: {cmd: x, inputs: ['./data/../data/a.csv']}
  by_glob: {cmd: x, inputs: ['data/*.csv']}
  by_dir: {cmd: x, inputs: [data]}
  sub: {cmd: x, workdir: data, inputs: [a.csv]}
  own: {cmd: x, inputs: [o], outputs: [o]}
",
        );
        let w = |r: &str, path: &str| (r.to_owned(), "gen".to_owned(), path.to_owned());
        assert_eq!(
            pairs(&p),
            [
                w("missing", "data/a.csv"),
                w("by_glob", "data/a.csv"),
                w("by_dir", "data/a.csv"),
                w("sub", "a.csv")
            ]
        );
    }

    #[test]
    fn two_writers_of_one_file_are_found() {
        let p = plan("tasks:\n  a: {cmd: x, outputs: [o]}\n  b: {cmd: x, outputs: [./o]}\n");
        assert_eq!(written_twice(&p), [("./o".to_owned(), 0, 1)]);
    }
}
