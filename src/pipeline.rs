//! The one loading path shared by `run`, `resume`, `graph` and `validate`, so a file that
//! validates is a file that runs: read the file, parse and expand it (`workflow`), build and
//! check the plan (`plan`). The only place the two stages meet.

use crate::diag::Diagnostic;
use crate::plan::{self, Plan, Source};
use crate::workflow::load::{self, Format};
use crate::workflow::{LoadError, LoadOptions, expand_text};
use std::path::Path;

/// Loads, renders, expands and validates the workflow at `path`.
pub fn load_file(path: &Path, opts: &LoadOptions) -> Result<Plan, LoadError> {
    let (format, text) = load::read_source(path).map_err(|d| LoadError::Invalid(vec![d]))?;
    load_text(path, format, text, opts)
}

/// Like `load_file`, for source text already in hand (a copy kept in a state file).
pub fn load_text(path: &Path, format: Format, text: String, opts: &LoadOptions) -> Result<Plan, LoadError> {
    let file = path.display().to_string();
    let (expanded, mut diags, skipped) = expand_text(path, format, &text, opts)?;
    let source = Source { path: path.to_path_buf(), text };
    let mut plan = plan::build(&file, format, source, expanded, &skipped, &mut diags);
    if !diags.is_empty() {
        return Err(LoadError::Invalid(diags));
    }
    match plan.take() {
        Some(p) => Ok(p),
        None => Err(LoadError::Invalid(vec![Diagnostic::new(&file, "the workflow is invalid")])),
    }
}

/// Reads what generator `g` printed to `out` and adds the tasks it defines to the plan (what
/// the scheduler does when a generator succeeds). Output that adds nothing is still reported,
/// so the state records it and `resume` does not run the generator again.
pub fn splice_output(
    plan: &mut Plan,
    g: u32,
    out: &Path,
) -> Result<(std::ops::Range<u32>, std::sync::Arc<str>), String> {
    let text = plan::splice::read_output(out)?;
    let range = plan::splice::splice(plan, g, &text).map_err(|d| crate::diag::Diagnostics(d).to_string())?;
    Ok((range, std::sync::Arc::from(text)))
}
