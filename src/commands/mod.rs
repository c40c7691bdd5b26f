//! One module per subcommand: glue between a parsed command line and the library, nothing else.

pub mod args;
pub(crate) mod docs;
pub(crate) mod files;
pub(crate) mod graph;
pub(crate) mod history;
pub(crate) mod logs;
pub(crate) mod resume;
pub mod run;
pub(crate) mod status;
pub(crate) mod validate;

/// The state file the runs of workflow file `path` keep by default; `None` when `path` does not
/// look like a workflow file (`.yaml`, `.yml`, `.toml`).
pub(crate) fn state_of_workflow(path: &std::path::Path) -> Option<std::path::PathBuf> {
    let ext = path.extension()?.to_str()?;
    if !matches!(ext, "yaml" | "yml" | "toml") {
        return None;
    }
    let name = crate::pipeline::load_file(path, &crate::workflow::LoadOptions::default())
        .map(|p| p.name.to_string())
        .unwrap_or_else(|_| path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default());
    Some(run::default_state_path(path, &name))
}

/// When a workflow file is given where a state file belongs (`dagrun status flow.yaml`), the
/// error that says so and names the state to use.
pub(crate) fn workflow_given_for_state(path: &std::path::Path) -> Option<crate::error::Error> {
    let state = state_of_workflow(path)?;
    Some(crate::error::Error::State(anyhow::anyhow!(
        "`{}` is a workflow file, not a state file; its runs keep their state in `{}` (unless run with `--state`)",
        path.display(),
        state.display()
    )))
}
