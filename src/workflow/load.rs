//! Reading a workflow file into a `WorkflowSpec`: size and encoding checks, YAML or TOML by
//! extension, and every schema problem reported with its position.
//!
//! serde stops at the first error, so on failure the document is re-read as a generic value
//! and each task is checked on its own; that lets one pass name every broken task.

use super::spec::{TaskSpec, WorkflowSpec};
use super::split::{self, StepAside};
use super::yaml;
use crate::diag::{Diagnostic, line_col};
use std::path::Path;

/// Files larger than this are refused before parsing.
pub const MAX_FILE_BYTES: u64 = 1 << 30;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Yaml,
    Toml,
}

impl Format {
    pub fn from_path(path: &Path) -> Option<Format> {
        match path.extension()?.to_str()? {
            "yaml" | "yml" | "json" => Some(Format::Yaml),
            "toml" => Some(Format::Toml),
            _ => None,
        }
    }

    /// The name a state file records the workflow's format by.
    pub fn name(self) -> &'static str {
        match self {
            Format::Yaml => "yaml",
            Format::Toml => "toml",
        }
    }

    /// The format a state file names, if it is one.
    pub fn from_name(name: &str) -> Option<Format> {
        [Format::Yaml, Format::Toml].into_iter().find(|f| f.name() == name)
    }
}

/// Reads `path`, refusing what cannot be a workflow (too large, not UTF-8, unknown extension).
pub fn read_source(path: &Path) -> Result<(Format, String), Diagnostic> {
    let file = path.display().to_string();
    let format = Format::from_path(path).ok_or_else(|| {
        Diagnostic::new(&file, "unknown file extension: a workflow file ends in `.yaml`, `.yml` or `.toml`")
    })?;
    let meta =
        std::fs::metadata(path).map_err(|e| Diagnostic::new(&file, format!("cannot read the file: {e}")))?;
    if meta.is_dir() {
        return Err(Diagnostic::new(&file, "is a directory, not a workflow file"));
    }
    if meta.len() > MAX_FILE_BYTES {
        return Err(Diagnostic::new(
            &file,
            format!(
                "the file is {} bytes, more than the {} bytes a workflow may have",
                meta.len(),
                MAX_FILE_BYTES
            ),
        ));
    }
    let bytes =
        std::fs::read(path).map_err(|e| Diagnostic::new(&file, format!("cannot read the file: {e}")))?;
    let text = decode(&file, bytes)?;
    Ok((format, text))
}

/// Checks that `bytes` are UTF-8, pointing at the first bad byte.
pub fn decode(file: &str, bytes: Vec<u8>) -> Result<String, Diagnostic> {
    String::from_utf8(bytes).map_err(|e| {
        let good = e.utf8_error().valid_up_to();
        let text = String::from_utf8_lossy(&e.as_bytes()[..good]).into_owned();
        Diagnostic::new(file, "the file is not valid UTF-8 text").at(Some(line_col(&text, good)))
    })
}

/// A workflow parsed with its broken tasks left out: the problems those tasks have, and their
/// names, so the checks after parsing still run on every other task and do not call a
/// dependency on a broken task unknown.
#[derive(Debug, Default)]
pub struct Partial {
    pub diags: Vec<Diagnostic>,
    pub broken: Vec<String>,
}

/// Parses `text` as a workflow, reporting every schema problem it can find.
pub fn parse(file: &str, format: Format, text: &str) -> Result<WorkflowSpec, Vec<Diagnostic>> {
    match parse_partial(file, format, text)? {
        (spec, p) if p.diags.is_empty() => Ok(spec),
        (_, p) => Err(p.diags),
    }
}

/// Like `parse`, but a task whose own fields are broken is reported and left out, and the
/// rest of the workflow is returned for the later checks. Fails outright when what is broken
/// is the document or its top level (params, executors...), which every task depends on.
pub fn parse_partial(
    file: &str,
    format: Format,
    text: &str,
) -> Result<(WorkflowSpec, Partial), Vec<Diagnostic>> {
    precheck(file, format, text)?;
    if format == Format::Yaml && text.len() >= split::MIN_BYTES {
        match split::parse(text, split::PIECE_BYTES) {
            Ok(spec) => return Ok((spec, Partial::default())),
            // It reports what the whole document would, having parsed a fraction of it (and
            // cannot parse: if it did, the whole document is parsed below).
            Err(StepAside::SyntaxError(view)) => {
                parse_whole(file, format, &view)?;
            }
            Err(StepAside::Whole) => {}
        }
    }
    parse_whole_partial(file, format, text)
}

/// Parses `text` as one document, reporting every schema problem it can find.
pub fn parse_whole(file: &str, format: Format, text: &str) -> Result<WorkflowSpec, Vec<Diagnostic>> {
    match parse_whole_partial(file, format, text)? {
        (spec, p) if p.diags.is_empty() => Ok(spec),
        (_, p) => Err(p.diags),
    }
}

fn parse_whole_partial(
    file: &str,
    format: Format,
    text: &str,
) -> Result<(WorkflowSpec, Partial), Vec<Diagnostic>> {
    let first = match format {
        Format::Yaml => yaml::from_str::<WorkflowSpec>(text).map_err(|e| {
            let pos = e.location();
            (strip_yaml_position(&e.to_string()), pos)
        }),
        Format::Toml => toml::from_str::<WorkflowSpec>(text).map_err(|e| {
            let pos = e.span().map(|s| line_col(text, s.start));
            (e.message().trim().replace('\n', ": "), pos)
        }),
    };
    let (message, pos) = match first {
        Ok(spec) => return Ok((spec, Partial::default())),
        Err(err) => err,
    };
    // Re-read generically to report the problems of every task, not only the first.
    let generic: Option<yaml::Value> = match format {
        Format::Yaml => yaml::from_str(text).ok(),
        Format::Toml => toml::from_str(text).ok(),
    };
    let (mut diags, rest) = match generic {
        Some(v) => schema_problems(file, format, text, v),
        None => (Vec::new(), None),
    };
    if diags.is_empty() {
        let prefix = if pos.is_some() { "" } else { "invalid workflow: " };
        // serde_yaml writes the path first (`tasks.a.env: ...`): make it the field.
        let (field, message) = match message.split_once(": ") {
            Some((path, rest))
                if format == Format::Yaml
                    && !path.is_empty()
                    && !path.contains(char::is_whitespace)
                    && rest.chars().next().is_some_and(|c| c != ' ') =>
            {
                (Some(path.to_owned()), rest.to_owned())
            }
            _ => (None, message),
        };
        let mut d =
            Diagnostic::new(file, format!("{prefix}{}", crate::diag::with_suggestion(message))).at(pos);
        d.field = field;
        return Err(vec![d]);
    }
    // The first problem serde found is the one we know the exact position of.
    if let Some(d) = diags.iter_mut().find(|d| message.contains(&d.message)) {
        if pos.is_some() {
            d.line = pos.map(|p| p.0);
            d.column = pos.map(|p| p.1);
        }
    }
    for d in &mut diags {
        d.message = crate::diag::with_suggestion(std::mem::take(&mut d.message));
    }
    match rest {
        Some((spec, broken)) => Ok((spec, Partial { diags, broken })),
        None => Err(diags),
    }
}

/// The problems found before parsing: an empty file, characters YAML does not allow, nesting
/// the parser would take too long to refuse.
pub fn precheck(file: &str, format: Format, text: &str) -> Result<(), Vec<Diagnostic>> {
    if text.trim().is_empty() {
        return Err(vec![Diagnostic::new(
            file,
            "the file is empty; a workflow needs at least a `tasks` table",
        )]);
    }
    if format == Format::Yaml {
        // libyaml reports these at the start of the file; point at the character instead.
        // Most big files are ASCII: a byte scan finds the same character without decoding.
        let bad = if text.is_ascii() {
            first_control_ascii(text.as_bytes()).map(|i| (i, text.as_bytes()[i] as char))
        } else {
            text.char_indices().find(|&(_, c)| not_yaml_text(c))
        };
        if let Some((offset, c)) = bad {
            return Err(vec![
                Diagnostic::new(
                    file,
                    format!(
                        "the file contains the control character U+{:04X}, which YAML does not allow",
                        c as u32
                    ),
                )
                .at(Some(line_col(text, offset))),
            ]);
        }
        if let Some(offset) = too_deep(text) {
            return Err(vec![
                Diagnostic::new(file, format!("the document is nested more than {MAX_DEPTH} levels deep"))
                    .at(Some(line_col(text, offset))),
            ]);
        }
    }
    Ok(())
}

/// Deeper flow nesting than this is refused before parsing (the YAML parser would take time
/// quadratic in the depth only to fail at its own recursion limit of 128).
const MAX_DEPTH: usize = 128;

/// The first byte of ASCII text that `not_yaml_text` refuses. Bytes are tested a block at a
/// time without stopping early inside a block, which the compiler turns into vector code.
fn first_control_ascii(bytes: &[u8]) -> Option<usize> {
    const BLOCK: usize = 64;
    let bad = |c: u8| (c < 0x20 && !matches!(c, b'\t' | b'\n' | b'\r')) || c == 0x7f;
    bytes.chunks(BLOCK).enumerate().find_map(|(k, block)| {
        if block.iter().fold(false, |any, &c| any | bad(c)) {
            block.iter().position(|&c| bad(c)).map(|p| k * BLOCK + p)
        } else {
            None
        }
    })
}

/// Finds where flow brackets (`[`, `{`) nest deeper than `MAX_DEPTH`, skipping quoted text and
/// comments. Linear in the text.
fn too_deep(text: &str) -> Option<usize> {
    let mut depth = 0usize;
    let mut quote: Option<u8> = None;
    let mut comment = false;
    let bytes = text.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        // In a comment only its end matters, and outside brackets (where no quote is tracked)
        // only comments and opening brackets do: jump to them.
        if comment || depth == 0 {
            let rest = &bytes[i..];
            let next =
                if comment { memchr::memchr(b'\n', rest) } else { memchr::memchr3(b'#', b'[', b'{', rest) };
            let k = next?;
            i += k;
            if comment {
                comment = false;
                i += 1;
                continue;
            }
        }
        let b = bytes[i];
        match quote {
            Some(q) => {
                // In a double-quoted string a quote is escaped by an odd run of backslashes
                // (`\\"` is an escaped backslash, then the closing quote).
                let escaped =
                    q == b'"' && bytes[..i].iter().rev().take_while(|&&c| c == b'\\').count() % 2 == 1;
                if b == q && !escaped {
                    quote = None;
                }
            }
            None => match b {
                b'#' if i == 0 || bytes[i - 1].is_ascii_whitespace() => comment = true,
                b'"' | b'\'' if depth > 0 => quote = Some(b),
                b'[' | b'{' => {
                    depth += 1;
                    if depth > MAX_DEPTH {
                        return Some(i);
                    }
                }
                b']' | b'}' => depth = depth.saturating_sub(1),
                _ => {}
            },
        }
        i += 1;
    }
    None
}

/// Characters YAML does not allow in a document (C0 controls but tab and line breaks, DEL, C1
/// controls but NEL).
fn not_yaml_text(c: char) -> bool {
    c.is_control() && !matches!(c, '\t' | '\n' | '\r' | '\u{85}')
}

/// Removes serde_yaml's ` at line N column M` (the diagnostic carries the position).
fn strip_yaml_position(msg: &str) -> String {
    let mut out = msg.to_owned();
    while let Some(i) = out.find(" at line ") {
        let rest = &out[i + " at line ".len()..];
        let digits = |s: &str| s.len() - s.trim_start_matches(|c: char| c.is_ascii_digit()).len();
        let mut end = " at line ".len() + digits(rest);
        if let Some(col) = out[i + end..].strip_prefix(" column ") {
            end += " column ".len() + digits(col);
        }
        out.replace_range(i..i + end, "");
    }
    out
}

/// The workflow without its broken tasks, and their names.
type Rest = Option<(WorkflowSpec, Vec<String>)>;

/// Checks the top level and each task of a generically parsed document separately. When only
/// tasks are broken, also gives the workflow without them.
fn schema_problems(file: &str, format: Format, text: &str, mut doc: yaml::Value) -> (Vec<Diagnostic>, Rest) {
    let mut diags = Vec::new();
    let Some(map) = doc.as_mapping_mut() else {
        return (vec![Diagnostic::new(file, "a workflow must be a mapping with a `tasks` table")], None);
    };
    let tasks = map.remove("tasks");
    let top: Result<WorkflowSpec, _> = serde_path_to_error::deserialize(yaml::Value::Mapping(map.clone()));
    let mut top_ok = true;
    if let Err(e) = top {
        top_ok = false;
        let path = e.path().to_string();
        let field = (path != ".").then(|| path.clone());
        let mut d = Diagnostic::new(file, e.inner().to_string());
        d.field = field;
        diags.push(d);
    }
    let mut good = yaml::Mapping::new();
    let mut broken = Vec::new();
    let mut names_ok = true;
    match tasks {
        None => {}
        Some(yaml::Value::Null) => {
            diags.push(Diagnostic::new(file, "the workflow defines no tasks").field("tasks"))
        }
        Some(yaml::Value::Mapping(tasks)) => {
            for (name, spec) in tasks {
                let name = match name {
                    yaml::Value::String(s) => s,
                    // As the typed parse reads them: `1:` is the task `1`.
                    yaml::Value::Number(n) => n.to_string(),
                    yaml::Value::Bool(b) => b.to_string(),
                    other => {
                        names_ok = false;
                        diags.push(Diagnostic::new(
                            file,
                            format!("task names must be strings, found {}", describe(&other)),
                        ));
                        continue;
                    }
                };
                match serde_path_to_error::deserialize::<_, TaskSpec>(spec.clone()) {
                    Ok(_) => {
                        good.insert(yaml::Value::String(name), spec);
                    }
                    Err(e) => {
                        let path = e.path().to_string();
                        let mut d = Diagnostic::new(file, e.inner().to_string()).task(&name);
                        if path != "." {
                            d.field = Some(path);
                        }
                        // Without a position of its own the problem is at the task's key.
                        d = d.at(locate_task(text, format, &name));
                        diags.push(d);
                        broken.push(name);
                    }
                }
            }
        }
        Some(other) => {
            names_ok = false;
            diags.push(
                Diagnostic::new(
                    file,
                    format!("`tasks` must be a table of tasks, found {}", describe(&other)),
                )
                .field("tasks"),
            )
        }
    }
    if !top_ok || !names_ok || broken.is_empty() {
        return (diags, None);
    }
    map.insert("tasks".into(), yaml::Value::Mapping(good));
    let rest = yaml::from_value::<WorkflowSpec>(doc).ok().map(|spec| (spec, broken));
    (diags, rest)
}

fn describe(v: &yaml::Value) -> &'static str {
    match v {
        yaml::Value::Null => "nothing",
        yaml::Value::Bool(_) => "a boolean",
        yaml::Value::Number(_) => "a number",
        yaml::Value::String(_) => "a string",
        yaml::Value::Sequence(_) => "a list",
        yaml::Value::Mapping(_) => "a mapping",
        yaml::Value::Tagged(_) => "a tagged value",
    }
}

/// Best-effort position in the file of byte `offset` of the text `src` of one field of `task`
/// (a template with a problem there), for YAML and TOML alike: the text is looked for in the
/// task's part of the file, its first line then the rest, so a block scalar (`cmd: |`) maps
/// line by line. `None` when the text is not there as written (an escaped quote, a folded
/// scalar), and the task's own position is the best there is.
pub fn locate_in_field(
    text: &str,
    format: Format,
    task: &str,
    src: &str,
    offset: usize,
) -> Option<(usize, usize)> {
    let (task_line, task_col) = locate_task(text, format, task)?;
    let start = line_offset(text, task_line)?;
    let end = task_end(text, format, start, task_col - 1);
    let region = &text[start..end];
    let first = src.lines().next().filter(|l| !l.trim().is_empty())?;
    // Each line of the text where a line of the file has it, the lines one after another.
    let mut from = 0;
    while let Some(k) = region[from..].find(first) {
        let at = start + from + k;
        let (line, col) = crate::diag::line_col(text, at);
        let rest: Vec<&str> = src.lines().skip(1).collect();
        let file_lines: Vec<&str> = text[at..].lines().skip(1).take(rest.len()).collect();
        let indent = col - 1;
        let matches = rest.len() == file_lines.len()
            && rest.iter().zip(&file_lines).all(|(s, f)| {
                s.is_empty() && f.trim().is_empty() || f.get(indent..).is_some_and(|f| f == *s)
            });
        if matches {
            let (l, c) = crate::diag::line_col(src, offset);
            return Some(if l == 1 { (line, col + c - 1) } else { (line + l - 1, indent + c) });
        }
        from += k + first.len();
    }
    None
}

/// Byte offset of the start of 1-based `line`.
fn line_offset(text: &str, line: usize) -> Option<usize> {
    if line == 1 {
        return Some(0);
    }
    memchr::memchr_iter(b'\n', text.as_bytes()).nth(line - 2).map(|i| i + 1)
}

/// Where the task whose key line starts at `start` (its key at column `indent`) ends: the next
/// line as little indented as the key (YAML) or the next table header (TOML).
fn task_end(text: &str, format: Format, start: usize, indent: usize) -> usize {
    let mut offset = start;
    for (n, line) in text[start..].split_inclusive('\n').enumerate() {
        if n > 0 {
            let trimmed = line.trim_start();
            let ends = match format {
                Format::Yaml => {
                    !trimmed.is_empty() && !trimmed.starts_with('#') && line.len() - trimmed.len() <= indent
                }
                Format::Toml => trimmed.starts_with('['),
            };
            if ends {
                return offset;
            }
        }
        offset += line.len();
    }
    text.len()
}

/// Best-effort position of a task's key in the source, for messages about that task.
pub fn locate_task(text: &str, format: Format, name: &str) -> Option<(usize, usize)> {
    let mut offset = 0;
    for line in text.split_inclusive('\n') {
        let trimmed = line.trim_start();
        let indent = line.len() - trimmed.len();
        let hit = match format {
            Format::Yaml => {
                trimmed.strip_prefix(name).is_some_and(|r| r.starts_with(':'))
                    || trimmed
                        .strip_prefix('"')
                        .and_then(|r| r.strip_prefix(name))
                        .is_some_and(|r| r.starts_with("\":"))
            }
            Format::Toml => {
                trimmed.starts_with(&format!("[tasks.{name}]"))
                    || trimmed.starts_with(&format!("[tasks.\"{name}\"]"))
                    || trimmed.strip_prefix(name).is_some_and(|r| r.trim_start().starts_with('='))
            }
        };
        if hit && (indent > 0 || format == Format::Toml) {
            return Some(line_col(text, offset + indent));
        }
        offset += line.len();
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn yaml(text: &str) -> Result<WorkflowSpec, Vec<Diagnostic>> {
        parse("f.yaml", Format::Yaml, text)
    }

    #[test]
    fn reports_every_broken_task_with_positions() {
        let err = yaml("tasks:\n  a:\n    cmd: x\n    cmmd: y\n  b:\n    retries: [1]\n").unwrap_err();
        assert_eq!(err.len(), 2, "{err:?}");
        assert!(err[0].message.contains("unknown field `cmmd`"), "{}", err[0]);
        assert!(err[0].message.contains("expected one of"), "{}", err[0]);
        assert_eq!(err[0].line, Some(4));
        assert_eq!(err[1].task.as_deref(), Some("b"));
        assert_eq!(err[1].field.as_deref(), Some("retries"));
        assert_eq!(err[1].line, Some(5));
    }

    #[test]
    fn syntax_errors_carry_line_and_column() {
        let err = yaml("tasks:\n  a: [\n").unwrap_err();
        assert_eq!(err.len(), 1);
        assert!(err[0].line.is_some(), "{}", err[0]);
    }

    #[test]
    fn toml_and_yaml_share_the_schema() {
        let t = parse(
            "f.toml",
            Format::Toml,
            "[tasks.a]\ncmd = \"echo\"\nafter = \"b\"\n[tasks.b]\ncmd = [\"ls\", \"-l\"]\n",
        )
        .unwrap();
        assert_eq!(t.tasks.len(), 2);
        let err = parse("f.toml", Format::Toml, "[tasks.a]\ncmd = \"echo\"\nbogus = 1\n").unwrap_err();
        assert!(err[0].message.contains("unknown field `bogus`"));
        assert_eq!(err[0].line, Some(3));
    }

    #[test]
    fn empty_and_non_mapping_documents_are_refused() {
        assert!(yaml("").unwrap_err()[0].message.contains("empty"));
        assert!(yaml("- 1\n- 2\n").is_err());
        assert!(yaml("42").is_err());
    }

    #[test]
    fn alias_bombs_are_refused() {
        let mut doc =
            String::from("a: &a [\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\"]\n");
        for i in 1..9 {
            let prev = (b'a' + i - 1) as char;
            let cur = (b'a' + i) as char;
            doc.push_str(&format!(
                "{cur}: &{cur} [*{prev},*{prev},*{prev},*{prev},*{prev},*{prev},*{prev},*{prev},*{prev}]\n"
            ));
        }
        doc.push_str("tasks: {x: {cmd: *i}}\n");
        assert!(yaml(&doc).is_err());
    }

    #[test]
    fn deep_nesting_is_an_error_not_a_crash() {
        let deep = format!("tasks: {}{}", "[".repeat(100_000), "]".repeat(100_000));
        assert!(yaml(&deep).unwrap_err()[0].message.contains("nested more than"));
        let deep = format!("tasks: \n  {}x\n", "- ".repeat(100_000));
        assert!(yaml(&deep).is_err());
        let fine = format!("tasks: {{a: {{cmd: \"{}\"}}}}", "[".repeat(1000));
        assert!(yaml(&fine).is_ok());
        let deep = format!("x = {}{}", "[".repeat(100_000), "]".repeat(100_000));
        assert!(parse("f.toml", Format::Toml, &deep).is_err());
    }

    #[test]
    fn control_characters_are_located_in_ascii_and_other_text() {
        for text in ["tasks:\n  a: {cmd: x\u{7}}\n", "tasks:\n  a: {cmd: é\u{7}}\n"] {
            let err = yaml(text).unwrap_err();
            assert!(err[0].message.contains("U+0007"), "{}", err[0]);
            assert_eq!((err[0].line, err[0].column), (Some(2), Some(13)), "{text:?}");
        }
        assert!(yaml("tasks:\n  a: {cmd: \"x\ty\"}\r\n").is_ok());
    }

    #[test]
    fn an_escaped_backslash_before_a_quote_ends_the_string_for_the_depth_check() {
        let deep = "[".repeat(130);
        let text = format!("tasks:\n  a: {{cmd: \"echo \\\\\", description: \"{deep}\"}}\n");
        assert_eq!(too_deep(&text), None, "{text}");
        assert_eq!(too_deep_bytewise(&text), None);
        let open = format!("a: {{b: \"x\\\" {deep}\"}}\n");
        assert_eq!(too_deep(&open), None, "an escaped quote keeps the string open: {open}");
    }

    /// `too_deep` and the control-character scan as first written, one byte at a time.
    fn too_deep_bytewise(text: &str) -> Option<usize> {
        let mut depth = 0usize;
        let mut quote: Option<u8> = None;
        let mut comment = false;
        let bytes = text.as_bytes();
        for (i, &b) in bytes.iter().enumerate() {
            if comment {
                comment = b != b'\n';
                continue;
            }
            match quote {
                Some(q) => {
                    let escaped =
                        q == b'"' && bytes[..i].iter().rev().take_while(|&&c| c == b'\\').count() % 2 == 1;
                    if b == q && !escaped {
                        quote = None;
                    }
                }
                None => match b {
                    b'#' if i == 0 || bytes[i - 1].is_ascii_whitespace() => comment = true,
                    b'"' | b'\'' if depth > 0 => quote = Some(b),
                    b'[' | b'{' => {
                        depth += 1;
                        if depth > MAX_DEPTH {
                            return Some(i);
                        }
                    }
                    b']' | b'}' => depth = depth.saturating_sub(1),
                    _ => {}
                },
            }
        }
        None
    }

    proptest::proptest! {
        #[test]
        fn scans_find_what_a_byte_by_byte_scan_finds(
            parts in proptest::collection::vec(
                proptest::prop_oneof![
                    proptest::strategy::Just("[".repeat(60)),
                    proptest::strategy::Just("]".repeat(20)),
                    "[\\[\\]{}\"'#\\\\ a\n\t\u{7}\u{7f}]{0,40}",
                ],
                0..12,
            )
        ) {
            let text = parts.concat();
            proptest::prop_assert_eq!(too_deep(&text), too_deep_bytewise(&text));
            proptest::prop_assert_eq!(
                first_control_ascii(text.as_bytes()),
                text.bytes().position(|b| not_yaml_text(b as char))
            );
        }
    }

    #[test]
    fn invalid_utf8_is_located() {
        let d = decode("f.yaml", b"tasks:\n  a\xff".to_vec()).unwrap_err();
        assert_eq!(d.line, Some(2));
    }
}
