//! Each subcommand's arguments, as clap parses them (`cli` puts them together into the
//! command line). The commands read them and nothing else of clap.

use clap::{Args, ValueEnum};
use std::path::PathBuf;

#[derive(Debug, Clone, Args)]
pub struct LoadArgs {
    /// Override a param: `-p key=value` (the value is parsed as YAML: `-p n=3`, `-p 'xs=[a,b]'`)
    #[arg(short = 'p', long = "param", value_name = "KEY=VALUE", value_parser = parse_key_value)]
    pub params: Vec<(String, String)>,
    /// Refuse workflows that expand to more tasks than this
    #[arg(long, value_name = "N", default_value_t = crate::workflow::DEFAULT_MAX_TASKS)]
    pub max_tasks: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Progress {
    /// Bars on a terminal, plain lines otherwise
    Auto,
    /// Progress bars
    Bar,
    /// One line per task event
    Plain,
    /// Nothing but the final summary
    None,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OutputMode {
    /// Every line of every task as it comes, as `[task-id] line`
    Prefixed,
    /// A task's output whole when it ends
    Grouped,
    /// Only failed tasks' output, under their failure
    Failed,
    /// No task output (the logs have it)
    None,
}

/// What of the tasks' own output a run shows.
#[derive(Debug, Args)]
pub struct OutputArgs {
    /// What of the tasks' output to show on the terminal
    #[arg(long, value_enum, default_value_t = OutputMode::Failed)]
    pub output: OutputMode,
    /// Put `::group::` markers around each task of `--output grouped` (CI logs fold them;
    /// failed tasks stay open); on by default under GitHub Actions
    #[arg(long)]
    pub group_markers: bool,
}

impl OutputArgs {
    pub fn output(&self) -> crate::report::Output {
        match self.output {
            OutputMode::Prefixed => crate::report::Output::Prefixed,
            OutputMode::Grouped => crate::report::Output::Grouped,
            OutputMode::Failed => crate::report::Output::Failed,
            OutputMode::None => crate::report::Output::None,
        }
    }

    pub fn markers(&self) -> bool {
        self.group_markers || std::env::var("GITHUB_ACTIONS").is_ok_and(|v| v == "true")
    }
}

#[derive(Debug, Args)]
pub struct RunArgs {
    /// The workflow file (.yaml, .yml or .toml)
    pub file: PathBuf,
    #[command(flatten)]
    pub load: LoadArgs,
    /// Run at most N tasks at once, across all executors
    #[arg(short = 'j', long = "jobs", value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub jobs: Option<u32>,
    /// The state file (default: .dagrun/<workflow name>/state.json beside the workflow)
    #[arg(long, value_name = "PATH")]
    pub state: Option<PathBuf>,
    /// Stop at the first failure: start nothing new and terminate running tasks
    #[arg(long)]
    pub fail_fast: bool,
    /// Print what would run, in order, and why each task runs or not; run nothing
    #[arg(long)]
    pub dry_run: bool,
    /// With `--dry-run`: `json` prints the decisions as a JSON array
    #[arg(long, value_enum, default_value_t = ReportFormat::Text, requires = "dry_run")]
    pub format: ReportFormat,
    /// Run only these tasks (ids or names) and what they depend on
    #[arg(long, value_name = "ID")]
    pub target: Vec<String>,
    /// Run every task, even those whose declared outputs are up to date
    #[arg(long)]
    pub force: bool,
    /// Run these tasks (ids or names) and everything downstream of them, up to date or not
    #[arg(long, value_name = "ID")]
    pub from: Vec<String>,
    /// Say why each task runs, or that it is up to date, as the run decides it
    #[arg(long)]
    pub explain: bool,
    /// How to show progress
    #[arg(long, value_enum, default_value_t = Progress::Auto)]
    pub progress: Progress,
    #[command(flatten)]
    pub show: OutputArgs,
}

#[derive(Debug, Args)]
pub struct ResumeArgs {
    /// The state file of the run to continue
    pub state: PathBuf,
    /// Run at most N tasks at once
    #[arg(short = 'j', long = "jobs", value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub jobs: Option<u32>,
    /// Re-run these tasks (ids or names, generated ones too) and everything downstream of them
    #[arg(long, value_name = "ID")]
    pub from: Vec<String>,
    /// Continue only these tasks (ids or names) and what they depend on [default: the targets
    /// the run was given]
    #[arg(long, value_name = "ID", conflicts_with = "all")]
    pub target: Vec<String>,
    /// Continue every task, even when the run was given `--target`
    #[arg(long)]
    pub all: bool,
    /// Load the workflow from this file instead of the recorded path
    #[arg(long, value_name = "FILE")]
    pub workflow: Option<PathBuf>,
    #[command(flatten)]
    pub load: LoadArgs,
    /// Stop at the first failure
    #[arg(long)]
    pub fail_fast: bool,
    /// Print what would run and why each task runs or not; run nothing
    #[arg(long)]
    pub dry_run: bool,
    /// With `--dry-run`: `json` prints the decisions as a JSON array
    #[arg(long, value_enum, default_value_t = ReportFormat::Text, requires = "dry_run")]
    pub format: ReportFormat,
    /// Say why each task runs, or that it is up to date, as the run decides it
    #[arg(long)]
    pub explain: bool,
    /// How to show progress
    #[arg(long, value_enum, default_value_t = Progress::Auto)]
    pub progress: Progress,
    #[command(flatten)]
    pub show: OutputArgs,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ReportFormat {
    Text,
    Json,
}

#[derive(Debug, Args)]
pub struct ValidateArgs {
    /// Workflow files to check
    #[arg(required = true)]
    pub files: Vec<PathBuf>,
    #[command(flatten)]
    pub load: LoadArgs,
    /// `json` prints the problems as a JSON array (for CI annotations)
    #[arg(long, value_enum, default_value_t = ReportFormat::Text)]
    pub format: ReportFormat,
    /// Treat warnings (a task reading another's output without depending on it) as errors
    #[arg(long)]
    pub strict: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum GraphFormat {
    Dot,
    Mermaid,
    Json,
}

#[derive(Debug, Args)]
pub struct GraphArgs {
    /// The workflow file
    pub file: PathBuf,
    #[command(flatten)]
    pub load: LoadArgs,
    #[arg(long, value_enum, default_value_t = GraphFormat::Dot)]
    pub format: GraphFormat,
    /// Colour tasks by their status in this state file
    #[arg(long, value_name = "STATE")]
    pub state: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct LogsArgs {
    /// The state file
    pub state: PathBuf,
    /// Tasks: an id, a base name (every instance), a namespace (`gen`: the tasks generator `gen`
    /// added) or a glob (`'load*'`); none: every task that ran
    #[arg(value_name = "TASK")]
    pub tasks: Vec<String>,
    /// That attempt's log instead of the last one's
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub attempt: Option<u32>,
    /// Only tasks that failed
    #[arg(long)]
    pub failed: bool,
    /// Follow a live run: print what the logs gain until those tasks end
    #[arg(short = 'f', long)]
    pub follow: bool,
}

#[derive(Debug, Args)]
pub struct HistoryArgs {
    /// A workflow file (its default state) or a state file; none: every workflow under
    /// `./.dagrun/`
    #[arg(value_name = "WORKFLOW|STATE")]
    pub target: Option<PathBuf>,
    #[arg(long, value_enum, default_value_t = ReportFormat::Text)]
    pub format: ReportFormat,
}

#[derive(Debug, Args)]
pub struct CleanArgs {
    /// A workflow file (its default state) or a state file; none: every workflow under
    /// `./.dagrun/`
    #[arg(value_name = "WORKFLOW|STATE")]
    pub target: Option<PathBuf>,
    /// How many past runs to keep, the newest
    #[arg(long, value_name = "N", default_value_t = 10)]
    pub keep: usize,
}

#[derive(Debug, Args)]
pub struct StatusArgs {
    /// The state file
    pub state: PathBuf,
    #[arg(long, value_enum, default_value_t = ReportFormat::Text)]
    pub format: ReportFormat,
}

fn parse_key_value(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((k, v)) if !k.trim().is_empty() => Ok((k.trim().to_owned(), v.to_owned())),
        _ => Err(format!("`{s}` is not KEY=VALUE")),
    }
}

impl LoadArgs {
    pub fn options(&self) -> crate::workflow::LoadOptions {
        crate::workflow::LoadOptions {
            params: self
                .params
                .iter()
                // As typed: its kind is decided against the declared param (`Expander::params`).
                .map(|(k, v)| (k.clone(), serde_json::Value::String(v.clone())))
                .collect(),
            recorded_params: Vec::new(),
            max_tasks: self.max_tasks,
        }
    }
}
