//! A fast path for big block-style YAML workflows: the `tasks` table is cut into pieces at task
//! keys and each piece is parsed as a document of its own, on every core.
//!
//! serde_yaml keeps every event of a document in memory before it deserializes any (some twenty
//! bytes per byte of YAML), so parsing a piece at a time bounds that memory, and the pieces
//! parse in parallel. The rest of the file (everything but the tasks) is parsed once, with the
//! tasks replaced by a sentinel task.
//!
//! This path only answers when it can be sure the pieces mean what the whole file means; it
//! returns `None` for any other layout and on any error, and the caller then parses the whole
//! document as usual, so every message stays the one-document parse's. Why the layout is safe:
//!
//! - The `tasks:` line starts at column 0 with nothing after the colon but a comment, and the
//!   text before it parses alone (so no quoted scalar or flow collection is open when it comes),
//!   and the rest of the file with a sentinel in place of the tasks gives that sentinel as
//!   `tasks` (so `tasks:` is a key of the top-level block mapping).
//! - The tasks' lines all start with a space, `#` or nothing; the first line at column 0 that is
//!   anything else ends them, as it ends the block mapping they form in the whole document.
//! - A piece starts at a line indented exactly as the first task key, with a plain key. A piece
//!   that parses on its own ends with no quoted scalar or flow collection open (the end of the
//!   stream would be an error), and a line that indented ends any plain or block scalar, so the
//!   whole document's parser is in the same state at each cut as a piece's parser after its
//!   `tasks:` line: both read the same lines the same way.
//! - No alias in the tasks (an alias would need an anchor from another piece, and serde_yaml's
//!   limit on alias expansion is counted per document), no line break but `\n` (YAML also breaks
//!   lines at `\r`, NEL, LS and PS), no tab at the start of a line.
//! - A task name defined in two pieces is a duplicate the pieces cannot see: it falls back too.

use super::LoadOptions;
use super::after::AfterLists;
use super::expand::{Expanded, Expander};
use super::load::{self, Format};
use super::spec::{TaskDefaults, TaskSpec, TasksTable, WorkflowSpec};
use super::template;
use super::yaml;
use indexmap::IndexMap;
use std::collections::BTreeMap;
use std::ops::Range;
use std::path::Path;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

/// Files smaller than this are parsed whole: the fast path would gain little.
pub const MIN_BYTES: usize = 1 << 20;
/// Bytes of YAML per piece (a piece's events take some twenty times that).
pub const PIECE_BYTES: usize = 1 << 20;
/// The task that stands in for the tasks when the rest of the file is parsed.
const SENTINEL: &str = "__dagrun_split_sentinel__";

/// Where the parts of a document lie.
#[derive(Debug, PartialEq, Eq)]
struct Layout {
    /// Offset of the `tasks:` line.
    tasks_line: usize,
    /// The tasks' lines, cut into pieces; they cover `text[pieces[0].start..pieces[last].end]`.
    pieces: Vec<Range<usize>>,
    /// Indent of the task keys.
    indent: usize,
    /// Lines that start a key at that indent: the number of tasks.
    keys: usize,
}

/// Why the piecewise parse stepped aside.
#[derive(Debug, PartialEq, Eq)]
pub enum StepAside {
    /// Not a layout this path is sure of, or a problem only the whole document can report.
    Whole,
    /// A piece has a syntax error that the whole document reports the same way when parsed
    /// from that piece on: this is that view of the file (see [`syntax_error_view`]).
    SyntaxError(String),
}

/// Parses `text` in pieces of about `piece_bytes`, or says why not: the layout is not one this
/// path is sure of, or anything fails.
pub fn parse(text: &str, piece_bytes: usize) -> Result<WorkflowSpec, StepAside> {
    let (mut spec, layout) = prepare(text, piece_bytes).ok_or(StepAside::Whole)?;
    let mut tasks = IndexMap::new();
    // One task per key; if that much memory is not to be had, the table grows as tasks come.
    let _ = tasks.try_reserve_exact(layout.keys);
    let merge = |piece: IndexMap<String, TaskSpec>| {
        piece.into_iter().all(|(name, task)| tasks.insert_full(name, task).1.is_none())
    };
    if let Err(unparsed) = run_pieces(text, &layout.pieces, Some, merge) {
        let view =
            unparsed.and_then(|f| syntax_error_view(text, &layout, f, |name| tasks.contains_key(name)));
        return Err(view.map_or(StepAside::Whole, StepAside::SyntaxError));
    }
    spec.tasks = tasks;
    Ok(spec)
}

/// When piece `f` did not parse and every piece before it parsed and merged: `text` with the
/// task lines before that piece replaced by empty lines and, on the last of them, a sentinel
/// task `{}` at the task indent (so lines and columns stay), if the whole document stops at a
/// syntax error in the rest and reports nothing else first.
///
/// The piece before parsed on its own, so it ended with nothing open, and the whole document's
/// parser is there inside the `tasks` block mapping, just past a complete entry at the task
/// indent: where the view's parser is just past the sentinel. From there both read the same
/// lines, so both stop at the same syntax error. serde_yaml deserializes the events before a
/// syntax error and reports the first problem it meets there instead, if any; in the whole
/// document those events are the prefix and the pieces before `f` (which parsed as they are
/// and hold no name twice), then the view's: so the view reports what the whole does as long
/// as its own deserialization meets nothing before the syntax error and no task key between
/// `f` and the error is a name from before `f`. The view holds the events from `f` to the
/// error instead of the whole file's, so a typo near the end of a million-task file is
/// reported in about the time its valid version takes to load.
///
/// `None` (parse the whole document) otherwise, and also when `f` is the first piece (the view
/// would be the whole document), when the piece is valid YAML on its own (a schema problem),
/// or when the rest has an alias (its anchor may be in a replaced line).
fn syntax_error_view(text: &str, layout: &Layout, f: usize, known: impl Fn(&str) -> bool) -> Option<String> {
    let (body, piece) = (layout.pieces.first()?.start, layout.pieces.get(f)?.clone());
    if f == 0 || piece.start <= body {
        return None;
    }
    let alone = format!("tasks:\n{}", text.get(piece.clone())?);
    if yaml::from_str::<serde::de::IgnoredAny>(&alone).is_ok() {
        return None;
    }
    let rest = text.get(piece.start..)?;
    if has_alias(rest) {
        return None;
    }
    let replaced = memchr::memchr_iter(b'\n', text.get(body..piece.start)?.as_bytes()).count();
    let mut view = String::with_capacity(body + replaced + layout.indent + SENTINEL.len() + 5 + rest.len());
    view.push_str(text.get(..body)?);
    view.extend(std::iter::repeat_n('\n', replaced.saturating_sub(1)));
    view.extend(std::iter::repeat_n(' ', layout.indent));
    view.push_str(SENTINEL);
    view.push_str(": {}\n");
    view.push_str(rest);
    // The syntax error, and that the workflow's own deserialization meets it first.
    let syntax = yaml::from_str::<serde::de::IgnoredAny>(&view).err()?;
    let typed = yaml::from_str::<WorkflowSpec>(&view).err()?;
    if typed.to_string() != syntax.to_string() {
        return None;
    }
    // Lines of the view are lines of `text`; the error's line is the last one read.
    let last_line = syntax.location()?.0;
    let start = view.len() - rest.len();
    let first_line = memchr::memchr_iter(b'\n', &view.as_bytes()[..start]).count() + 1;
    for line in view[start..].split('\n').take((last_line + 1).saturating_sub(first_line)) {
        let key = line.trim_start_matches(' ');
        if line.len() - key.len() != layout.indent || key.is_empty() || key.starts_with('#') {
            continue;
        }
        // A `- ` entry names no task (it is the error); a key other than a plain one could name
        // one in a way not checked here.
        if key == "-" || key.starts_with("- ") {
            continue;
        }
        if !key.as_bytes().first().is_some_and(|&c| is_key_start(c) || c == b'-') {
            return None;
        }
        if plain_key(key).ok()?.is_some_and(&known) {
            return None;
        }
    }
    Some(view)
}

/// Parses and expands `text` in pieces, or says why not: the layout is not one this path is
/// sure of, or there is a problem (which the whole-document path reports, or the view of a
/// syntax error when that is sure to report the same).
pub(super) fn expand(
    file: &str,
    path: &Path,
    text: &str,
    opts: &LoadOptions,
    piece_bytes: usize,
) -> Result<Expanded, StepAside> {
    use StepAside::Whole;
    load::precheck(file, Format::Yaml, text).map_err(|_| Whole)?;
    let (spec, layout) = prepare(text, piece_bytes).ok_or(Whole)?;
    let mut diags = Vec::new();
    let name = super::workflow_name(file, path, &spec, &mut diags);
    let expander =
        |diags| Expander { diags, ..Expander::new(file, path, text, Format::Yaml, opts.max_tasks) };
    let mut ex = expander(diags);
    let params = ex.params(&spec.params, &super::overrides(&spec, opts), &name).map_err(|_| Whole)?;
    let jinja = template::environment(opts.max_tasks);
    let base = template::base_context(&params, &name);
    let head = ex.expand_head(&jinja, &base, &spec, name, params);
    if !ex.diags.is_empty() {
        return Err(Whole);
    }
    let (params, name, executors) = (head.params.clone(), head.name.clone(), head.executors.clone());
    let empty = || Expanded {
        executors: executors.clone(),
        tasks: Vec::new(),
        after: AfterLists::default(),
        bases: Vec::new(),
        name: String::new(),
        params: IndexMap::new(),
        env: Vec::new(),
        defaults: TaskDefaults::default(),
        max_tasks: opts.max_tasks,
    };
    let each = |tasks| {
        let jinja = template::environment(opts.max_tasks);
        let base = template::base_context(&params, &name);
        let mut ex = expander(Vec::new());
        let out = ex.expand_tasks(&jinja, &base, &tasks, &spec.defaults, empty());
        ex.diags.is_empty().then_some(out)
    };
    let mut out = head;
    // Without matrices, one task per key. Sized up front, the tasks are moved in once; if that
    // much memory is not to be had, they grow as they come (and may fit after all).
    let keys = layout.keys.min(opts.max_tasks);
    let _ = out.tasks.try_reserve_exact(keys);
    out.after.try_reserve(keys);
    let _ = out.bases.try_reserve_exact(keys);
    let merge = |piece: Expanded| {
        let offset = out.tasks.len();
        // Past the limit, the whole-document path says where.
        if offset.saturating_add(piece.tasks.len()) > opts.max_tasks {
            return false;
        }
        out.tasks.extend(piece.tasks);
        out.after.append(piece.after);
        out.bases.extend(piece.bases.into_iter().map(|(b, r)| (b, r.start + offset..r.end + offset)));
        true
    };
    let pieces = run_pieces(text, &layout.pieces, each, merge);
    drop(spec);
    // A name defined in two pieces: the whole-document parse says `defined twice`.
    let mut names =
        hashbrown::HashSet::with_capacity_and_hasher(out.bases.len(), foldhash::fast::RandomState::default());
    if !out.bases.iter().all(|(b, _)| names.insert(&**b)) {
        return Err(Whole);
    }
    if let Err(unparsed) = pieces {
        let view = unparsed.and_then(|f| syntax_error_view(text, &layout, f, |name| names.contains(name)));
        return Err(view.map_or(Whole, StepAside::SyntaxError));
    }
    drop(names);
    Ok(out)
}

/// Checks the layout and parses everything but the tasks (their table holds only the sentinel).
fn prepare(text: &str, piece_bytes: usize) -> Option<(WorkflowSpec, Layout)> {
    let layout = layout(text, piece_bytes)?;
    let end = layout.pieces.last()?.end;
    let prefix = &text[..layout.tasks_line];
    if !prefix.trim().is_empty() && yaml::from_str::<serde::de::IgnoredAny>(prefix).is_err() {
        return None;
    }
    let mut skeleton = String::with_capacity(text.len() - (end - layout.tasks_line) + 64);
    skeleton.push_str(prefix);
    skeleton.push_str("tasks:\n");
    skeleton.extend(std::iter::repeat_n(' ', layout.indent));
    skeleton.push_str(SENTINEL);
    skeleton.push_str(": {}\n");
    skeleton.push_str(&text[end..]);
    let mut spec: WorkflowSpec = yaml::from_str(&skeleton).ok()?;
    match spec.tasks.get_index(0) {
        Some((name, task)) if spec.tasks.len() == 1 && name == SENTINEL && is_default(task) => {}
        _ => return None,
    }
    spec.tasks.clear();
    Some((spec, layout))
}

fn is_default(t: &TaskSpec) -> bool {
    t.cmd.is_none()
        && t.after.is_empty()
        && t.matrix.is_empty()
        && t.env.is_empty()
        && t.generator.is_none()
        && t.executor.is_none()
        && t.workdir.is_none()
        && t.retries.is_none()
        && t.retry_delay.is_none()
        && t.timeout.is_none()
        && t.when.is_none()
        && t.slots.is_none()
        && t.description.is_none()
        && t.priority.is_none()
        && t.env_file.is_empty()
        && t.inputs.is_empty()
        && t.outputs.is_empty()
}

/// Parses the pieces on every core, hands each one's tasks to `each`, and each result to `merge`
/// in file order as soon as the pieces before it are merged, so that a piece's memory is freed
/// while later pieces parse. An error if any piece fails to parse, or `each` or `merge` refuses
/// one; it holds the first piece that did not parse when every piece before it was merged.
fn run_pieces<T: Send>(
    text: &str,
    pieces: &[Range<usize>],
    each: impl Fn(IndexMap<String, TaskSpec>) -> Option<T> + Sync,
    merge: impl FnMut(T) -> bool + Send,
) -> Result<(), Option<usize>> {
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get()).clamp(1, 8).min(pieces.len());
    let next = AtomicUsize::new(0);
    let failed = AtomicBool::new(false);
    // The first piece that did not parse. Pieces are taken in order and a piece once taken is
    // parsed, and merged if it parses and its turn comes, whatever fails meanwhile.
    let unparsed = AtomicUsize::new(usize::MAX);
    // The next piece to merge, the pieces done before their turn, and the merge.
    let merger = Mutex::new((0usize, BTreeMap::new(), merge));
    let work = || {
        let mut doc = String::new();
        loop {
            let i = next.fetch_add(1, Ordering::Relaxed);
            if i >= pieces.len() || failed.load(Ordering::Relaxed) {
                return;
            }
            let piece = &text[pieces[i].clone()];
            doc.clear();
            doc.push_str("tasks:\n");
            doc.push_str(piece);
            let parsed = (!has_alias(piece)).then(|| yaml::from_str::<TasksTable>(&doc).ok()).flatten();
            let Some(parsed) = parsed else {
                unparsed.fetch_min(i, Ordering::Relaxed);
                failed.store(true, Ordering::Relaxed);
                return;
            };
            let Some(done) = each(parsed.tasks) else {
                failed.store(true, Ordering::Relaxed);
                return;
            };
            let Ok(mut m) = merger.lock() else {
                failed.store(true, Ordering::Relaxed);
                return;
            };
            let (turn, waiting, merge) = &mut *m;
            waiting.insert(i, done);
            // `turn` counts the pieces merged: one that `merge` refuses is not.
            while let Some(done) = waiting.remove(turn) {
                if !merge(done) {
                    failed.store(true, Ordering::Relaxed);
                    return;
                }
                *turn += 1;
            }
        }
    };
    let workers: Vec<usize> = (0..threads).collect();
    // A panicking piece (a bug) is one more reason to take the whole-document path.
    if crate::par::map(&workers, |_| work()).iter().any(Option::is_none) {
        failed.store(true, Ordering::Relaxed);
    }
    let merged = merger.into_inner().map_or(0, |m| m.0);
    if !failed.load(Ordering::Relaxed) && merged == pieces.len() {
        return Ok(());
    }
    let unparsed = unparsed.into_inner();
    Err((unparsed == merged).then_some(unparsed))
}

/// Finds the `tasks:` line and cuts the tasks into pieces, or says the layout is not safe.
fn layout(text: &str, piece_bytes: usize) -> Option<Layout> {
    let b = text.as_bytes();
    if text.is_ascii() {
        if memchr::memchr(b'\r', b).is_some() {
            return None;
        }
    } else if text.contains(['\r', '\u{85}', '\u{2028}', '\u{2029}']) {
        return None;
    }
    let line_end = |p: usize| memchr::memchr(b'\n', &b[p..]).map_or(b.len(), |e| p + e);
    let next_line = |p: usize| (line_end(p) + 1).min(b.len());

    let mut p = 0;
    let tasks_line = loop {
        if p >= b.len() {
            return None;
        }
        let rest = text[p..line_end(p)].strip_prefix("tasks:");
        if rest.is_some_and(|r| r.is_empty() || (r.starts_with(' ') && is_blank_or_comment(r))) {
            break p;
        }
        p = next_line(p);
    };

    let body = next_line(tasks_line);
    let mut indent = None;
    let mut keys = 0;
    let mut cuts = vec![body];
    let mut p = body;
    let end = loop {
        if p >= b.len() {
            break b.len();
        }
        match b[p] {
            b'\n' | b'#' => {}
            b' ' => {
                let n = b[p..].iter().take_while(|&&c| c == b' ').count();
                match b.get(p + n) {
                    None | Some(b'\n' | b'#') => {}
                    Some(b'\t') => return None,
                    Some(&c) => match indent {
                        None if is_key_start(c) => {
                            indent = Some(n);
                            keys = 1;
                        }
                        None => return None,
                        Some(k) => {
                            let last = cuts.last().copied().unwrap_or(body);
                            if n == k && is_key_start(c) {
                                keys += 1;
                                if p - last >= piece_bytes {
                                    cuts.push(p);
                                }
                            }
                        }
                    },
                }
            }
            b'\t' => return None,
            _ => break p,
        }
        p = next_line(p);
    };
    let indent = indent?;
    let pieces = cuts.iter().zip(cuts.iter().skip(1).chain([&end])).map(|(&a, &z)| a..z).collect();
    Some(Layout { tasks_line, pieces, indent, keys })
}

/// The plain key a line (without its indent) starts with, as YAML reads one: up to the first
/// `:` followed by a space, a tab or the end of the line, less trailing blanks. `Ok(None)` when
/// there is no such `:` (a key must be on one line, so the line starts none); `Err` when a
/// comment may hide where the key ends.
fn plain_key(s: &str) -> Result<Option<&str>, ()> {
    let b = s.as_bytes();
    let Some(end) = (0..b.len()).find(|&i| b[i] == b':' && matches!(b.get(i + 1), None | Some(b' ' | b'\t')))
    else {
        return if s.contains(" #") || s.contains("\t#") { Err(()) } else { Ok(None) };
    };
    let key = s[..end].trim_end_matches([' ', '\t']);
    if key.contains(" #") || key.contains("\t#") { Err(()) } else { Ok(Some(key)) }
}

fn is_blank_or_comment(s: &str) -> bool {
    let t = s.trim_start_matches(' ');
    t.is_empty() || t.starts_with('#')
}

/// A plain key's first character, as task names start.
fn is_key_start(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'_'
}

/// Whether `piece` may hold an alias (`*name` where a node starts): any `*` that follows, past
/// spaces, a line start or one of `:-?[{,`. Quoted or mid-scalar stars pass.
fn has_alias(piece: &str) -> bool {
    let b = piece.as_bytes();
    memchr::memchr_iter(b'*', b).any(|i| {
        let before = b[..i].iter().rev().find(|&&c| c != b' ' && c != b'\t');
        matches!(before, None | Some(b'\n' | b':' | b'-' | b'?' | b'[' | b'{' | b','))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// What the one-document parse gives, as comparable data.
    fn whole(text: &str) -> Option<serde_json::Value> {
        yaml::from_str::<WorkflowSpec>(text).ok().map(|s| serde_json::to_value(s).unwrap())
    }

    fn split(text: &str) -> Option<serde_json::Value> {
        parse(text, 1).ok().map(|s| serde_json::to_value(s).unwrap())
    }

    /// The fast path either gives what the whole parse gives or steps aside; when it steps
    /// aside with a syntax error view, that view reports what the whole document does.
    fn agrees(text: &str) -> bool {
        match parse(text, 1) {
            Ok(s) => whole(text) == Some(serde_json::to_value(s).unwrap()),
            Err(StepAside::SyntaxError(view)) => view_agrees(text, &view).is_ok(),
            Err(StepAside::Whole) => true,
        }
    }

    /// The problems the view reports are the whole document's.
    fn view_agrees(text: &str, view: &str) -> Result<(), String> {
        let problems = |t: &str| load::parse_whole("w.yaml", Format::Yaml, t).err().map(|d| format!("{d:?}"));
        match (problems(view), problems(text)) {
            (Some(a), Some(b)) if a == b => Ok(()),
            (a, b) => Err(format!("the view reports {a:?}, the whole document {b:?}")),
        }
    }

    /// A piece is named as the first that did not parse only when every piece before it was
    /// merged: here `merge` refuses piece 1, so piece 2 is never named, however the threads
    /// interleave (found by fuzzing: a refused merge was counted as merged).
    #[test]
    fn a_refused_merge_before_the_unparsed_piece_is_not_counted() {
        let text = "tasks:\n  a: {cmd: x}\n  b: {cmd: y}\n  c: {cmd: \"open\n";
        let l = layout(text, 1).unwrap();
        assert_eq!(l.pieces.len(), 3);
        for _ in 0..200 {
            let mut seen = 0;
            let merge = |_: IndexMap<String, TaskSpec>| {
                seen += 1;
                seen < 2
            };
            let r = run_pieces(text, &l.pieces, Some, merge);
            assert!(matches!(r, Err(None)), "{r:?}");
        }
    }

    #[test]
    fn a_syntax_error_is_reported_from_the_piece_that_failed_as_the_whole_reports_it() {
        let ok = "  a:\n    cmd: x\n  b: {cmd: y}\n";
        for bad in [
            "  c:\n    cmd: \"open\n",
            "  c:\n    after: [x, y\n",
            "  c: {cmd: x\n  d: {cmd: z}\n",
            "  c:\n    cmd: x\n   bad: indent\n",
            "  c:\n    cmd: 'open\n  d:\n    cmd: z\n",
            "  c:\n    cmd: x\n  - item\n",
        ] {
            let more = "  e:\n    cmd: x\n  f: {cmd: y}\n";
            for text in
                [format!("tasks:\n{ok}{bad}"), format!("name: w\ntasks:\n{ok}{bad}{more}env: {{A: b}}\n")]
            {
                let Err(StepAside::SyntaxError(view)) = parse(&text, 1) else { panic!("no view: {text:?}") };
                assert_eq!(view_agrees(&text, &view), Ok(()), "{text:?}");
            }
        }
        // The whole document reports these: a piece that is valid YAML on its own (a schema
        // problem); one that only failed because a quoted scalar went on past it; an alias after
        // it; a name defined twice before it, or before it and again between it and the error;
        // a schema problem met before the error (`d: ...` is a mapping inside `after`); a syntax
        // error in the first piece.
        for text in [
            "tasks:\n  a:\n    cmd: x\n  b:\n    bogus: 1\n  c: {cmd: \"open\n",
            "tasks:\n  a:\n    cmd: \"multi\n  line\"\n  b: {cmd: y}\n",
            "params: {p: &p x}\ntasks:\n  a:\n    cmd: \"open\n  b:\n    cmd: *p\n",
            "tasks:\n  a: {cmd: x}\n  a: {cmd: y}\n  c:\n    cmd: x\n  - item\n",
            "tasks:\n  a: {cmd: x}\n  c:\n    cmd: x\n  a: {cmd: y}\n  - item\n",
            "tasks:\n  a: {cmd: x}\n  c:\n    bogus: x\n  - item\n",
            "tasks:\n  a: {cmd: x}\n  c:\n    after: [x,\n  d: {cmd: z}\n",
            "tasks:\n  a:\n    cmd: \"open\n",
        ] {
            assert_eq!(parse(text, 1).err(), Some(StepAside::Whole), "{text:?}");
            assert!(agrees(text), "{text:?}");
        }
    }

    #[test]
    fn cuts_at_task_keys_of_the_first_indent() {
        let text = "name: x\ntasks:\n  a:\n    cmd: x\n  b:\n    cmd: y\n  c: {cmd: z}\nenv: {}\n";
        let l = layout(text, 1).unwrap();
        assert_eq!(l.tasks_line, 8);
        assert_eq!(l.indent, 2);
        assert_eq!(l.keys, 3);
        let pieces: Vec<&str> = l.pieces.iter().map(|r| &text[r.clone()]).collect();
        assert_eq!(pieces, ["  a:\n    cmd: x\n", "  b:\n    cmd: y\n", "  c: {cmd: z}\n"]);
        let l = layout(text, 20).unwrap();
        assert_eq!(l.pieces.len(), 2);
    }

    #[test]
    fn refuses_layouts_it_is_not_sure_of() {
        for text in [
            "tasks: {a: {cmd: x}}\n",
            "tasks:\n\t a:\n",
            "tasks:\n  a:\r\n    cmd: x\n",
            "tasks:\n  a:\n    cmd: x\u{2028}\n",
            "tasks:\n  - a\n",
            "tasks:\n  \"a\": {cmd: x}\n",
            "tasks:#c\n  a: {cmd: x}\n",
            "name: x\n",
            "tasks:\nname: x\n",
        ] {
            assert_eq!(layout(text, 1), None, "{text:?}");
        }
    }

    #[test]
    fn plain_keys_end_at_a_colon_and_a_blank() {
        assert_eq!(plain_key("a:"), Ok(Some("a")));
        assert_eq!(plain_key("a: {cmd: x}"), Ok(Some("a")));
        assert_eq!(plain_key("a:\t\t| cut -d' ' -f1)"), Ok(Some("a")));
        assert_eq!(plain_key("a:b: x"), Ok(Some("a:b")));
        assert_eq!(plain_key("a  : x"), Ok(Some("a")));
        assert_eq!(plain_key("y]"), Ok(None));
        assert_eq!(plain_key("a #b: c"), Err(()));
        assert_eq!(plain_key("a #b"), Err(()));
    }

    #[test]
    fn aliases_are_spotted_where_a_node_starts() {
        assert!(has_alias("  a: *x\n"));
        assert!(has_alias("  a: [b, *x]\n"));
        assert!(has_alias("  *x : y\n"));
        assert!(!has_alias("  a:\n    cmd: rm *.txt\n"));
        assert!(!has_alias("  a:\n    cmd: \"*\"\n"));
    }

    #[test]
    fn gives_the_whole_parse_on_plain_layouts() {
        for text in [
            "name: x\ntasks:\n  a:\n    cmd: x\n  b:\n    cmd: y\n    after: [a]\n",
            "tasks: # the tasks\n  # first\n  a: {cmd: x}\n# a comment at column 0\n  b:\n    cmd: |\n      echo\n\n      done\n  c:\n    cmd: >-\n      folded\n      text\n",
            "params:\n  p: &p [1, 2]\n  q: *p\ntasks:\n  a:\n    cmd: \"multi\n      line\"\n  b:\n    cmd: plain\n      continued\nenv:\n  X: y\n",
            "tasks:\n  a:\n    cmd: x\n    env: &e {A: b}\n  b:\n    cmd: |+\n      kept\n\n\n",
        ] {
            let s = split(text);
            assert!(s.is_some(), "{text:?}");
            assert_eq!(s, whole(text), "{text:?}");
        }
    }

    #[test]
    fn steps_aside_where_the_pieces_would_mislead() {
        for text in [
            // The same task twice, in two pieces.
            "tasks:\n  a: {cmd: x}\n  b: {cmd: y}\n  a: {cmd: z}\n",
            // A quoted scalar or flow list running across a cut.
            "tasks:\n  a:\n    cmd: \"x\n  b: y\"\n",
            "tasks:\n  a:\n    after: [x,\n  b]\n    cmd: x\n",
            // `tasks:` inside a string that the rest of the file closes.
            "name: \"x\ntasks:\n  a: {cmd: x}\ny\"\n",
            // Inside a flow mapping.
            "{name: x,\ntasks:\n  a: {cmd: x}\n}\n",
            // An alias to an anchor of another piece or of the params.
            "tasks:\n  a:\n    cmd: &c x\n  b:\n    cmd: *c\n",
            "params: {p: &p x}\ntasks:\n  a:\n    cmd: *p\n",
            // The tasks twice.
            "tasks:\n  a: {cmd: x}\ntasks:\n  b: {cmd: y}\n",
        ] {
            assert!(agrees(text), "{text:?}");
            assert_eq!(split(text), None, "{text:?}");
        }
    }

    /// Lines that may appear in and around a tasks table, including ones that make it unsafe.
    fn fragment() -> impl Strategy<Value = String> {
        let name = prop_oneof!["[a-c]", "[a-c][0-9]"];
        prop_oneof![
            name.clone().prop_map(|n| format!("  {n}:\n    cmd: echo {n}\n")),
            (name.clone(), name.clone()).prop_map(|(n, d)| format!("  {n}:\n    cmd: x\n    after: [{d}]\n")),
            name.clone().prop_map(|n| format!("  {n}: {{cmd: \"a b\", retries: 1}}\n")),
            name.clone().prop_map(|n| format!("  {n}:\n    cmd: |\n      line\n\n      more\n")),
            name.clone().prop_map(|n| format!("  {n}:\n    cmd: \"open\n")),
            name.clone().prop_map(|n| format!("  {n}:\n    after: [x,\n")),
            Just("  close\"\n".to_owned()),
            Just("  y]\n    cmd: z\n".to_owned()),
            Just("# comment\n".to_owned()),
            Just("\n".to_owned()),
            Just("    # indented comment\n".to_owned()),
            name.clone().prop_map(|n| format!("  {n}:\n    cmd: &a{n} x\n")),
            name.clone().prop_map(|n| format!("  {n}:\n    cmd: *a{n}\n")),
            name.clone().prop_map(|n| format!("  {n}:\n    cmd: plain\n      more words\n")),
            name.clone().prop_map(|n| format!("  {n}:\n    bogus: 1\n")),
            name.prop_map(|n| format!("   {n}: {{cmd: x}}\n")),
            Just("\tx: 1\n".to_owned()),
            Just("  - x\n".to_owned()),
            Just("name: late\n".to_owned()),
            Just("env: {A: b}\n".to_owned()),
            Just("tasks:\n".to_owned()),
            Just("---\n".to_owned()),
        ]
    }

    fn prefix() -> impl Strategy<Value = String> {
        prop_oneof![
            Just(String::new()),
            Just("name: w\n".to_owned()),
            Just("params:\n  p: &p [1, 2]\n".to_owned()),
            Just("name: \"open\n".to_owned()),
            Just("{name: w,\n".to_owned()),
            Just("# just a comment\n".to_owned()),
            Just("defaults:\n  retries: 2\n".to_owned()),
        ]
    }

    fn opts() -> LoadOptions {
        LoadOptions { max_tasks: 40, ..LoadOptions::default() }
    }

    /// The expansion of the piecewise path, if it answers, is the whole-document path's, and
    /// that one found no problem.
    fn expands_alike(text: &str) -> Result<bool, String> {
        let path = Path::new("w.yaml");
        let fast = match expand("w.yaml", path, text, &opts(), 1) {
            Ok(fast) => fast,
            Err(StepAside::SyntaxError(view)) => return view_agrees(text, &view).map(|()| false),
            Err(StepAside::Whole) => return Ok(false),
        };
        let (slow, diags, _) = super::super::parse_and_expand("w.yaml", path, Format::Yaml, text, &opts())
            .map_err(|e| format!("fast path answered, whole path failed: {e}"))?;
        if !diags.is_empty() {
            return Err(format!("fast path answered, whole path found {diags:?}"));
        }
        let view = |e: &Expanded| {
            format!("{} {:?} {:?} {:?} {:?} {:?}", e.name, e.params, e.env, e.tasks, e.after, e.bases)
        };
        if view(&fast) != view(&slow) {
            return Err(format!("{}\n!=\n{}", view(&fast), view(&slow)));
        }
        Ok(true)
    }

    #[test]
    fn expands_like_the_whole_document() {
        for text in [
            "name: w\nparams: {p: [x, y]}\nenv: {A: \"{{ p }}\"}\ntasks:\n  a:\n    cmd: echo {{ p }}\n  b:\n    matrix: {i: \"{{ p }}\"}\n    cmd: x {{ i }}\n    after: [a]\n  c:\n    after: [\"b[i=x]\"]\n    cmd: c\ndefaults: {retries: 2}\n",
            "tasks:\n  a: {cmd: x}\n  b: {cmd: y, after: a, executor: e}\nexecutors:\n  e: {type: local, slots: 2}\n",
        ] {
            assert_eq!(expands_alike(text), Ok(true), "{text}");
        }
        for text in [
            // Problems anywhere: the whole-document path reports them.
            "tasks:\n  a: {cmd: \"{{ nope }}\"}\n  b: {cmd: x}\n",
            "tasks:\n  a: {cmd: x}\n  b: {cmd: x, executor: nope}\n",
            "name: \"bad name\"\ntasks:\n  a: {cmd: x}\n  b: {cmd: x}\n",
            "env: {\"1x\": y}\ntasks:\n  a: {cmd: x}\n  b: {cmd: x}\n",
            // The same name in two pieces, as a plain task and as a matrix.
            "tasks:\n  a: {cmd: x}\n  b: {cmd: x}\n  a: {cmd: y, matrix: {i: [1]}}\n",
            // More tasks than the limit (40).
            "tasks:\n  a: {cmd: x, matrix: {i: \"{{ range(30) }}\"}}\n  b: {cmd: x, matrix: {i: \"{{ range(30) }}\"}}\n",
        ] {
            assert_eq!(expands_alike(text), Ok(false), "{text}");
        }
    }

    /// Task entries the piecewise path accepts (and the whole-document path too): what the
    /// comparison below is for, so most generated documents are really compared.
    fn accepted() -> impl Strategy<Value = String> {
        let name = prop_oneof!["[a-f]", "[a-f][0-9]"];
        prop_oneof![
            name.clone().prop_map(|n| format!("  {n}:\n    cmd: echo {n}\n")),
            (name.clone(), name.clone()).prop_map(|(n, d)| format!("  {n}:\n    cmd: x\n    after: [{d}]\n")),
            name.clone().prop_map(|n| format!("  {n}: {{cmd: \"a b\", retries: 1}}\n")),
            name.clone().prop_map(|n| format!("  {n}:\n    cmd: |\n      line\n\n      more\n")),
            name.clone().prop_map(|n| format!("  {n}:\n    cmd: plain\n      more words\n")),
            (name.clone(), 1u32..4).prop_map(|(n, k)| format!(
                "  {n}:\n    matrix: {{i: \"{{{{ range({k}) }}}}\"}}\n    cmd: \"echo {{{{ i }}}} {{{{ p }}}}\"\n"
            )),
            Just("# comment\n".to_owned()),
            Just("\n".to_owned()),
            Just("    # indented comment\n".to_owned()),
        ]
    }

    /// Documents of distinct accepted tasks, most of which the piecewise path answers: each is
    /// compared with the whole-document expansion, and at least 80% must have been compared
    /// (not stepped aside), or the test proves nothing.
    #[test]
    fn most_accepted_layouts_are_really_compared() {
        use proptest::test_runner::{Config, TestRunner};
        let doc = (
            prop_oneof![Just(""), Just("name: w\n"), Just("defaults:\n  retries: 2\n")],
            prop::collection::vec(accepted(), 1..12),
        );
        let mut runner = TestRunner::new(Config { cases: 1000, ..Config::default() });
        let (compared, total) = (std::cell::Cell::new(0), std::cell::Cell::new(0));
        runner
            .run(&doc, |(pre, body)| {
                // Task names once each (a name twice is the whole-document path's to report).
                let mut seen = std::collections::HashSet::new();
                let task_key = |e: &str| {
                    e.strip_prefix("  ")
                        .filter(|r| r.starts_with(|c: char| c.is_ascii_lowercase()))
                        .and_then(|r| r.split(':').next())
                        .map(str::to_owned)
                };
                let body: String =
                    body.into_iter().filter(|e| task_key(e).is_none_or(|k| seen.insert(k))).collect();
                let text = format!("{pre}params: {{p: 1}}\ntasks:\n{body}env: {{A: b}}\n");
                let r = expands_alike(&text);
                prop_assert!(r.is_ok(), "{}\n{:?}", text, r);
                total.set(total.get() + 1);
                compared.set(compared.get() + usize::from(r == Ok(true)));
                Ok(())
            })
            .unwrap();
        let (c, t) = (compared.get(), total.get());
        assert!(c * 10 >= t * 8, "only {c} of {t} documents were compared; the others stepped aside");
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]

        #[test]
        fn pieces_expand_like_the_whole(
            pre in prefix(),
            body in prop::collection::vec(prop_oneof![
                fragment(),
                Just("  m:\n    matrix: {i: \"{{ range(3) }}\"}\n    cmd: \"echo {{ i }}\"\n".to_owned()),
                Just("  u:\n    cmd: \"{{ undefined }}\"\n".to_owned()),
                Just("  w:\n    cmd: x\n    after: [\"m[i=1]\", a]\n".to_owned()),
                Just("  v:\n    cmd: x\n    after: [zz]\n".to_owned()),
            ], 0..12),
        ) {
            let text = format!("{pre}tasks:\n{}env: {{A: b}}\n", body.concat());
            let r = expands_alike(&text);
            prop_assert!(r.is_ok(), "{}\n{:?}", text, r);
        }

        #[test]
        fn pieces_agree_with_the_whole(
            pre in prefix(),
            body in prop::collection::vec(fragment(), 0..12),
        ) {
            let text = format!("{pre}tasks:\n{}", body.concat());
            prop_assert!(agrees(&text), "{}", text);
            // `tasks` not last in the file.
            let text = format!("{text}env: {{A: b}}\n");
            prop_assert!(agrees(&text), "{}", text);
        }
    }
}
