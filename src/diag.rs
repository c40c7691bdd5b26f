//! Problems found while loading a workflow: one `Diagnostic` per problem, with enough context
//! (file, position, task, field) for a person or a CI annotation to find it.
//!
//! Loading never stops at the first problem; it collects `Diagnostic`s and the command layer
//! prints them all. Nothing here knows about exit codes or terminals.

use serde::Serialize;
use std::fmt;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Diagnostic {
    pub file: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub column: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub task: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    pub message: String,
    /// `warning` for a problem that does not make the workflow invalid (unless `--strict`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub severity: Option<&'static str>,
}

impl Diagnostic {
    pub fn new(file: impl Into<String>, message: impl Into<String>) -> Self {
        Diagnostic {
            file: file.into(),
            line: None,
            column: None,
            task: None,
            field: None,
            message: message.into(),
            severity: None,
        }
    }

    pub fn warning(mut self) -> Self {
        self.severity = Some("warning");
        self
    }

    pub fn task(mut self, task: impl Into<String>) -> Self {
        self.task = Some(task.into());
        self
    }

    pub fn field(mut self, field: impl Into<String>) -> Self {
        self.field = Some(field.into());
        self
    }

    pub fn at(mut self, pos: Option<(usize, usize)>) -> Self {
        if let Some((line, col)) = pos {
            self.line = Some(line);
            self.column = Some(col);
        }
        self
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", printable(&self.file))?;
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
            if let Some(col) = self.column {
                write!(f, ":{col}")?;
            }
        }
        write!(f, ": ")?;
        match (&self.task, &self.field) {
            (Some(t), Some(fl)) => write!(f, "task `{}`, field `{}`: ", printable(t), printable(fl))?,
            (Some(t), None) => write!(f, "task `{}`: ", printable(t))?,
            (None, Some(fl)) => write!(f, "field `{}`: ", printable(fl))?,
            (None, None) => {}
        }
        write!(f, "{}", printable(&self.message))
    }
}

/// `s` with its control characters but newline and tab written as escapes (`\u{1b}`), so that
/// text from a workflow or a task (a name, an unknown field) cannot move the cursor, clear the
/// screen or recolour the terminal when a message repeats it.
pub fn printable(s: &str) -> std::borrow::Cow<'_, str> {
    if !s.chars().any(|c| c.is_control() && c != '\n' && c != '\t') {
        return std::borrow::Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        if c.is_control() && c != '\n' && c != '\t' {
            out.extend(c.escape_debug());
        } else {
            out.push(c);
        }
    }
    std::borrow::Cow::Owned(out)
}

/// The diagnostics of one failed load, printable as a list.
#[derive(Debug, Clone, Default)]
pub struct Diagnostics(pub Vec<Diagnostic>);

impl fmt::Display for Diagnostics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, d) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{d}")?;
        }
        Ok(())
    }
}

impl std::error::Error for Diagnostics {}

/// Most problems a list is put in file order for; a longer list stays in the order found
/// (finding the tasks of a long list would cost more than it helps).
const ORDERED: usize = 500;

/// Puts `diags` in the order of the file: by line, a problem without one at its task's line
/// (`locate`), problems of the whole file first. The order found stays among equals.
pub fn in_file_order(diags: &mut [Diagnostic], locate: impl Fn(&str) -> Option<(usize, usize)>) {
    if diags.len() < 2 || diags.len() > ORDERED {
        return;
    }
    let mut lines: std::collections::HashMap<&str, usize> = std::collections::HashMap::new();
    let keys: Vec<usize> = diags
        .iter()
        .map(|d| match (d.line, &d.task) {
            (Some(line), _) => line,
            (None, Some(task)) => {
                *lines.entry(task.as_str()).or_insert_with(|| locate(task).map_or(usize::MAX, |p| p.0))
            }
            (None, None) => 0,
        })
        .collect();
    let mut order: Vec<usize> = (0..diags.len()).collect();
    order.sort_by_key(|&i| keys[i]);
    let sorted: Vec<Diagnostic> = order.iter().map(|&i| diags[i].clone()).collect();
    diags.clone_from_slice(&sorted);
}

/// Converts a byte offset into a 1-based (line, column), counting columns in characters.
pub fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(text.len());
    let before = text.get(..offset).unwrap_or(text);
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let col = before[line_start..].chars().count() + 1;
    (line, col)
}

/// "did you mean" for a misspelt name: the closest candidate, if it is close enough.
/// Adds "did you mean" to serde's `unknown field `afer`, expected one of `cmd`, `after`, …`
/// (and `unknown variant …`), picking the closest of the names it lists.
pub fn with_suggestion(msg: String) -> String {
    let Some(rest) = msg.strip_prefix("unknown field `").or_else(|| msg.strip_prefix("unknown variant `"))
    else {
        return msg;
    };
    let Some((name, expected)) = rest.split_once('`') else { return msg };
    let candidates: Vec<&str> = expected.split('`').skip(1).step_by(2).collect();
    match suggest(name, candidates.iter().copied()) {
        Some(best) if best != name => format!("{msg} (did you mean `{best}`?)"),
        _ => msg,
    }
}

pub fn suggest<'a>(name: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let mut best: Option<(f64, &str)> = None;
    for c in candidates {
        let score = strsim::jaro_winkler(name, c);
        if score >= 0.8 && best.is_none_or(|(b, _)| score > b) {
            best = Some((score, c));
        }
    }
    best.map(|(_, c)| c)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_fields_and_variants_get_a_suggestion() {
        let m = |s: &str| with_suggestion(s.to_owned());
        assert_eq!(
            m("unknown field `afer`, expected one of `cmd`, `after`, `timeout`"),
            "unknown field `afer`, expected one of `cmd`, `after`, `timeout` (did you mean `after`?)"
        );
        assert!(
            m("unknown field `timout`, expected one of `cmd`, `after`, `timeout`")
                .ends_with("(did you mean `timeout`?)")
        );
        assert_eq!(
            m("unknown field `zzz`, expected one of `cmd`"),
            "unknown field `zzz`, expected one of `cmd`"
        );
        assert_eq!(m("something else"), "something else");
    }

    #[test]
    fn line_col_counts_from_one() {
        let t = "ab\ncdé\nf";
        assert_eq!(line_col(t, 0), (1, 1));
        assert_eq!(line_col(t, 3), (2, 1));
        assert_eq!(line_col(t, t.len()), (3, 2));
    }

    #[test]
    fn suggests_close_names_only() {
        assert_eq!(suggest("trasform", ["transform", "pull"]), Some("transform"));
        assert_eq!(suggest("zzz", ["transform", "pull"]), None);
    }

    #[test]
    fn control_characters_are_escaped_in_messages() {
        let d = Diagnostic::new("f.yaml", "unknown task `\u{1b}[2J`").task("a\u{7}").field("x\ry");
        assert_eq!(d.to_string(), "f.yaml: task `a\\u{7}`, field `x\\ry`: unknown task `\\u{1b}[2J`");
        assert_eq!(printable("two\nlines\tand a tab"), "two\nlines\tand a tab");
    }

    #[test]
    fn display_names_file_task_and_field() {
        let d = Diagnostic::new("f.yaml", "boom").task("a").field("cmd").at(Some((3, 4)));
        assert_eq!(d.to_string(), "f.yaml:3:4: task `a`, field `cmd`: boom");
    }
}
