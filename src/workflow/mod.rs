//! From workflow text to expanded tasks: parsing (`load`, `split`), the schema (`spec`),
//! templates and expansion (`template`, `expand`). The plan is built from what this stage
//! hands on, in `crate::pipeline`, the one loading path of `run`, `resume`, `graph` and
//! `validate`.

pub mod after;
pub mod env_file;
pub mod expand;
pub mod load;
pub mod spec;
pub mod split;
pub mod template;
pub mod yaml;

use crate::diag::Diagnostic;
use load::Format;
use spec::WorkflowSpec;
use std::path::Path;

/// Default ceiling on the number of tasks a workflow may expand to.
pub const DEFAULT_MAX_TASKS: usize = 10_000_000;

#[derive(Debug, Clone)]
pub struct LoadOptions {
    /// `-p key=value` overrides, values already parsed.
    pub params: Vec<(String, serde_json::Value)>,
    /// Overrides recorded by an earlier run: applied where the file still declares the param.
    pub recorded_params: Vec<(String, serde_json::Value)>,
    pub max_tasks: usize,
}

impl Default for LoadOptions {
    fn default() -> Self {
        LoadOptions { params: Vec::new(), recorded_params: Vec::new(), max_tasks: DEFAULT_MAX_TASKS }
    }
}

#[derive(Debug)]
pub enum LoadError {
    /// The command line is wrong for this file (an undeclared `-p` key).
    Usage(String),
    /// The workflow is invalid; every problem found.
    Invalid(Vec<Diagnostic>),
}

impl std::fmt::Display for LoadError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LoadError::Usage(m) => f.write_str(m),
            LoadError::Invalid(d) => write!(f, "{}", crate::diag::Diagnostics(d.clone())),
        }
    }
}

impl std::error::Error for LoadError {}

/// The expanded workflow, the problems found so far, and the tasks left out for them.
pub type ExpandResult = Result<(expand::Expanded, Vec<Diagnostic>, Vec<String>), LoadError>;

/// Parses and expands workflow source text; the composition point (`crate::pipeline`) builds
/// the plan from the result. A big block-style file parses and expands in pieces; anything
/// that path is not sure of, and any problem, goes the whole-document way, which gives every
/// message.
pub fn expand_text(path: &Path, format: Format, text: &str, opts: &LoadOptions) -> ExpandResult {
    let file = path.display().to_string();
    let fast = (format == Format::Yaml && text.len() >= split::MIN_BYTES)
        .then(|| split::expand(&file, path, text, opts, split::PIECE_BYTES));
    match fast {
        Some(Ok(expanded)) => Ok((expanded, Vec::new(), Vec::new())),
        // Reports what the whole document would, having parsed a fraction of it (and cannot
        // parse: if it did, the whole document is parsed below).
        Some(Err(split::StepAside::SyntaxError(view))) => match load::parse_whole(&file, format, &view) {
            Err(diags) => Err(LoadError::Invalid(diags)),
            Ok(_) => parse_and_expand(&file, path, format, text, opts),
        },
        _ => parse_and_expand(&file, path, format, text, opts),
    }
}

/// Parses the whole document, then expands it: every task but those whose own fields are
/// broken (reported, and named in the third part of the result).
fn parse_and_expand(
    file: &str,
    path: &Path,
    format: Format,
    text: &str,
    opts: &LoadOptions,
) -> Result<(expand::Expanded, Vec<Diagnostic>, Vec<String>), LoadError> {
    let (spec, partial) = load::parse_partial(file, format, text).map_err(LoadError::Invalid)?;
    let mut diags = partial.diags;
    let name = workflow_name(file, path, &spec, &mut diags);
    if spec.tasks.is_empty() && partial.broken.is_empty() {
        diags.push(Diagnostic::new(file, "the workflow defines no tasks").field("tasks"));
    }
    let mut ex =
        expand::Expander { diags, ..expand::Expander::new(file, path, text, format, opts.max_tasks) };
    let params = ex.params(&spec.params, &overrides(&spec, opts), &name).map_err(LoadError::Usage)?;
    let expanded = ex.expand(&spec, name, params);
    Ok((expanded, ex.diags, partial.broken))
}

/// The workflow's name: its `name`, or the file's stem.
fn workflow_name(file: &str, path: &Path, spec: &WorkflowSpec, diags: &mut Vec<Diagnostic>) -> String {
    match &spec.name {
        Some(n) => {
            if let Err(m) = expand::check_name(n, "workflow") {
                diags.push(Diagnostic::new(file, m).field("name"));
            }
            n.clone()
        }
        None => path.file_stem().map_or_else(|| "workflow".to_owned(), |s| s.to_string_lossy().into_owned()),
    }
}

/// The `-p` overrides, after those recorded by an earlier run where the file still has the param.
fn overrides(spec: &WorkflowSpec, opts: &LoadOptions) -> Vec<(String, serde_json::Value)> {
    let mut overrides: Vec<(String, serde_json::Value)> =
        opts.recorded_params.iter().filter(|(k, _)| spec.params.contains_key(k)).cloned().collect();
    overrides.extend(opts.params.iter().cloned());
    overrides
}
