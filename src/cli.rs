//! The command line: the subcommands put together (each one's arguments are in
//! `commands::args`), dispatch, and the one place that turns outcomes and errors into exit
//! codes and prints the final error.

use crate::commands;
use crate::commands::args::{
    CleanArgs, GraphArgs, HistoryArgs, LogsArgs, ResumeArgs, RunArgs, StatusArgs, ValidateArgs,
};
use crate::error::{Error, code};
use clap::{CommandFactory, Parser, Subcommand};
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
  dagrun run flow.yaml --dry-run --format json   why each task runs or is up to date
  dagrun run flow.yaml --explain                 the same reasons, as the run decides
  dagrun run flow.yaml --force                   run tasks whose outputs are up to date too
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
  dagrun validate workflows/*.yaml --format json
  dagrun validate --strict flow.yaml     fail on warnings (a task reading another's output
                                         without depending on it)")]
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
    /// Print the logs of a run's tasks
    #[command(after_help = "\
Examples:
  dagrun logs .dagrun/etl/state.json                   every task that ran
  dagrun logs .dagrun/etl/state.json transform         every instance of `transform`
  dagrun logs .dagrun/etl/state.json 'load[day=2]' --attempt 1
  dagrun logs .dagrun/etl/state.json --failed
  dagrun logs .dagrun/etl/state.json 'extract*' -f     follow a live run")]
    Logs(LogsArgs),
    /// List a workflow's runs: the current one and those kept in its history
    #[command(after_help = "\
Each `run` moves the state it replaces, with its logs, into `history/` beside it.

Examples:
  dagrun history flow.yaml
  dagrun history .dagrun/etl/state.json --format json | jq '.[] | select(.outcome == \"failed\")'
  dagrun logs .dagrun/etl/history/20261204T205810.123Z/state.json --failed")]
    History(HistoryArgs),
    /// Remove past runs from a workflow's history, all but the newest
    #[command(after_help = "\
Examples:
  dagrun clean flow.yaml              keep the newest 10 past runs
  dagrun clean --keep 0               every workflow under ./.dagrun: remove all past runs")]
    Clean(CleanArgs),
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
            Some(match commands::docs::generate(&dir, Cli::command) {
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
    match dispatch(cli.command) {
        Ok(code) => code,
        Err(e) => {
            report_error(&e);
            e.exit_code()
        }
    }
}

/// Runs a subcommand and returns its exit code (errors are returned to be printed).
fn dispatch(cmd: Command) -> Result<u8, Error> {
    match cmd {
        Command::Run(a) => commands::run::run(&a),
        Command::Resume(a) => commands::resume::run(&a),
        Command::Status(a) => commands::status::run(&a),
        Command::Logs(a) => commands::logs::run(&a),
        Command::History(a) => commands::history::history(&a),
        Command::Clean(a) => commands::history::clean(&a),
        Command::Validate(a) => commands::validate::run(&a),
        Command::Graph(a) => commands::graph::run(&a),
        Command::Schema => commands::docs::schema(),
        Command::Completions { shell } => commands::docs::completions(shell, Cli::command()),
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
