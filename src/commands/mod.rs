//! One module per subcommand: glue between a parsed command line and the library, nothing else.

mod docs;
mod graph;
pub mod run;
mod validate;

use crate::cli::Command;
use crate::error::Result;

/// Runs a subcommand and returns its exit code (errors are returned for `cli` to print).
pub fn dispatch(cmd: Command) -> Result<u8> {
    match cmd {
        Command::Run(a) => run::run(&a),
        Command::Resume(a) => {
            Err(crate::error::Error::Usage(format!("`resume` of {} is not available yet", a.state.display())))
        }
        Command::Status(a) => {
            Err(crate::error::Error::Usage(format!("`status` of {} is not available yet", a.state.display())))
        }
        Command::Validate(a) => validate::run(&a),
        Command::Graph(a) => graph::run(&a),
        Command::Schema => docs::schema(),
        Command::Completions { shell } => docs::completions(shell),
        Command::GenerateDocs { dir } => docs::generate(&dir),
    }
}
