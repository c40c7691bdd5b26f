//! One module per subcommand: glue between a parsed command line and the library, nothing else.

mod docs;
mod graph;
mod resume;
pub mod run;
mod status;
mod validate;

use crate::cli::Command;
use crate::error::Result;

/// Runs a subcommand and returns its exit code (errors are returned for `cli` to print).
pub fn dispatch(cmd: Command) -> Result<u8> {
    match cmd {
        Command::Run(a) => run::run(&a),
        Command::Resume(a) => resume::run(&a),
        Command::Status(a) => status::run(&a),
        Command::Validate(a) => validate::run(&a),
        Command::Graph(a) => graph::run(&a),
        Command::Schema => docs::schema(),
        Command::Completions { shell } => docs::completions(shell),
        Command::GenerateDocs { dir } => docs::generate(&dir),
        Command::Reaper => Ok(crate::exec::reaper::serve()),
    }
}
