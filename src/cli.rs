//! The command line: clap types, and the one place that turns outcomes and errors into exit
//! codes and prints the final error. clap types stop here; commands receive plain configs.

use crate::commands;
use crate::error::{Error, code};
use clap::{Args, Parser, Subcommand, ValueEnum};
use std::path::PathBuf;

const EXAMPLES: &str = "\
Examples:
  dagrun run flow.yaml                      run a workflow
  dagrun run flow.yaml -p day=2024-01-02    override a param
  dagrun validate flow.yaml other.toml      check files without running them
  dagrun graph flow.yaml | dot -Tsvg > g.svg
  dagrun resume .dagrun/etl/state.json      continue a failed or interrupted run";

#[derive(Debug, Parser)]
#[command(name = "dagrun", version, about = "Run DAG workflows of shell tasks from YAML or TOML files", after_help = EXAMPLES)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run a workflow
    #[command(after_help = "\
Examples:
  dagrun run flow.yaml
  dagrun run flow.yaml -j 8 -p day=2024-01-02 -p 'sources=[a,b]'
  dagrun run flow.yaml --target report --dry-run
  dagrun run flow.yaml --progress plain --state /tmp/etl.json")]
    Run(RunArgs),
    /// Continue a run from its state file
    #[command(after_help = "\
Examples:
  dagrun resume .dagrun/etl/state.json
  dagrun resume .dagrun/etl/state.json --from transform --dry-run
  dagrun resume .dagrun/etl/state.json --target report
  dagrun resume state.json --workflow moved/flow.yaml -p day=2024-01-03")]
    Resume(ResumeArgs),
    /// Check workflow files without running them (exit 0 when valid, 3 when not)
    #[command(after_help = "\
Examples:
  dagrun validate flow.yaml
  dagrun validate workflows/*.yaml --format json")]
    Validate(ValidateArgs),
    /// Print the task graph as Graphviz DOT, Mermaid or JSON
    #[command(after_help = "\
Examples:
  dagrun graph flow.yaml | dot -Tsvg > flow.svg
  dagrun graph flow.yaml --format mermaid
  dagrun graph flow.yaml --state .dagrun/etl/state.json")]
    Graph(GraphArgs),
    /// Summarise a state file
    #[command(after_help = "\
Examples:
  dagrun status .dagrun/etl/state.json
  dagrun status .dagrun/etl/state.json --format json | jq .counts")]
    Status(StatusArgs),
    /// Print the JSON Schema of the workflow file format
    #[command(after_help = "Example:\n  dagrun schema > dagrun.schema.json")]
    Schema,
    /// Print shell completions
    #[command(after_help = "Example:\n  dagrun completions bash > /etc/bash_completion.d/dagrun")]
    Completions {
        /// The shell to complete for
        shell: clap_complete::Shell,
    },
}

/// Commands dagrun runs for itself, kept out of the clap definition so that no `--help`,
/// completion or man page offers them: `__reaper` (started by a run, see `exec::reaper`) and
/// `generate-docs DIR` (refreshes the committed completions and man pages).
fn internal_command() -> Option<u8> {
    let mut args = std::env::args_os().skip(1);
    let first = args.next()?;
    match first.to_str()? {
        "__reaper" => Some(crate::exec::reaper::serve(args.next().as_deref().and_then(|t| t.to_str()))),
        "generate-docs" => {
            let dir = args.next().map_or_else(|| PathBuf::from("."), PathBuf::from);
            Some(match commands::docs::generate(&dir) {
                Ok(code) => code,
                Err(e) => {
                    report_error(&e);
                    e.exit_code()
                }
            })
        }
        _ => None,
    }
}

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
    /// Print what would run, in order, and run nothing
    #[arg(long)]
    pub dry_run: bool,
    /// Run only these tasks (ids or names) and what they depend on
    #[arg(long, value_name = "ID")]
    pub target: Vec<String>,
    /// How to show progress
    #[arg(long, value_enum, default_value_t = Progress::Auto)]
    pub progress: Progress,
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
    /// Print what would run and run nothing
    #[arg(long)]
    pub dry_run: bool,
    /// How to show progress
    #[arg(long, value_enum, default_value_t = Progress::Auto)]
    pub progress: Progress,
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

/// Parses argv, runs the command, prints any final error, and returns the exit code.
pub fn main() -> u8 {
    // A state file or log growing past `ulimit -f` must fail that write (EFBIG, reported as a
    // state error), not kill dagrun with SIGXFSZ and no message. A handler that does nothing,
    // not "ignore": exec resets a handled signal to its default, so tasks keep SIGXFSZ as usual.
    extern "C" fn nothing(_: nix::libc::c_int) {}
    // SAFETY: the handler does nothing, so it is async-signal-safe.
    unsafe {
        let _ = nix::sys::signal::signal(
            nix::sys::signal::Signal::SIGXFSZ,
            nix::sys::signal::SigHandler::Handler(nothing),
        );
    }
    if let Some(code) = internal_command() {
        return code;
    }
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() { code::USAGE } else { code::OK };
        }
    };
    match commands::dispatch(cli.command) {
        Ok(code) => code,
        Err(e) => {
            report_error(&e);
            e.exit_code()
        }
    }
}

fn report_error(e: &Error) {
    match e {
        Error::Invalid(diags) => {
            for d in diags {
                eprintln!("error: {d}");
            }
            eprintln!(
                "error: the workflow is invalid ({} problem{})",
                diags.len(),
                if diags.len() == 1 { "" } else { "s" }
            );
        }
        other => eprintln!("error: {}", crate::diag::printable(&other.to_string())),
    }
}
