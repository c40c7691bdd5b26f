//! A check no run can make: a task that reads a file another task writes, without depending on
//! it. Such a pair runs in whichever order the scheduler picks, so one run reads the new file
//! and the next the old one. Found from the declarations alone, without the file system.

use super::{is_glob, normalize, task_dir};
use crate::plan::Plan;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

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
    let mut seen: BTreeMap<PathBuf, u32> = BTreeMap::new();
    let mut out = Vec::new();
    for i in 0..plan.len() as u32 {
        let dir = task_dir(plan, i);
        for o in plan.task(i).outputs() {
            let full = normalize(&dir.join(o));
            match seen.get(&full) {
                Some(&w) if w != i => out.push((o.clone(), w, i)),
                Some(_) => {}
                None => {
                    seen.insert(full, i);
                }
            }
        }
    }
    out
}

/// Every read of another task's output without a dependency on it, one per (reader, writer).
pub fn unordered(plan: &Plan) -> Vec<Unordered> {
    let mut outputs: BTreeMap<PathBuf, u32> = BTreeMap::new();
    for i in 0..plan.len() as u32 {
        let dir = task_dir(plan, i);
        for o in plan.task(i).outputs() {
            outputs.entry(normalize(&dir.join(o))).or_insert(i);
        }
    }
    if outputs.is_empty() {
        return Vec::new();
    }
    let mut found = Vec::new();
    let mut ancestors = Ancestors::new(plan.len());
    let opts = glob::MatchOptions { require_literal_leading_dot: true, ..Default::default() };
    for r in 0..plan.len() as u32 {
        if plan.task(r).inputs().is_empty() {
            continue;
        }
        let dir = task_dir(plan, r);
        let mut writers: Vec<(u32, String)> = Vec::new();
        for p in plan.task(r).inputs() {
            let full = normalize(&dir.join(p));
            if is_glob(p) {
                let Ok(pat) = glob::Pattern::new(&full.to_string_lossy()) else { continue };
                for (o, &w) in under(&outputs, &literal_prefix(&full)) {
                    if pat.matches_path_with(o, opts) {
                        writers.push((w, shown(&dir, o)));
                    }
                }
            } else {
                // A file, or a directory: everything written under it.
                for (o, &w) in under(&outputs, &full) {
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

/// The outputs at `prefix` or under it.
fn under<'a>(
    outputs: &'a BTreeMap<PathBuf, u32>,
    prefix: &'a Path,
) -> impl Iterator<Item = (&'a PathBuf, &'a u32)> {
    outputs.range(prefix.to_path_buf()..).take_while(move |(o, _)| o.starts_with(prefix))
}

/// The directories of `pattern` before its first glob character.
fn literal_prefix(pattern: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in pattern.components() {
        if is_glob(&c.as_os_str().to_string_lossy()) {
            break;
        }
        out.push(c);
    }
    out
}

fn shown(dir: &Path, o: &Path) -> String {
    o.strip_prefix(dir).unwrap_or(o).display().to_string()
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
