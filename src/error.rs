//! Errors the command layer turns into exit codes. A task failing is an outcome, not an error.

use crate::diag::Diagnostic;

/// Exit codes of the command-line contract.
pub mod code {
    pub const OK: u8 = 0;
    pub const TASK_FAILED: u8 = 1;
    pub const USAGE: u8 = 2;
    pub const INVALID: u8 = 3;
    pub const STATE: u8 = 4;
    pub const INTERRUPTED: u8 = 130;
    pub const TERMINATED: u8 = 143;

    /// Each code with what it means, for the manual.
    pub const MEANINGS: [(u8, &str); 7] = [
        (OK, "Everything needed ran and succeeded, or the files are valid."),
        (TASK_FAILED, "A task failed (after its retries) or was skipped because one it needs failed."),
        (USAGE, "The command line is wrong (an unknown flag, an undeclared -p param)."),
        (INVALID, "The workflow is invalid; every problem is printed."),
        (STATE, "The state file cannot be used (unreadable, locked by a running dagrun, incompatible)."),
        (INTERRUPTED, "Interrupted by SIGINT (Ctrl-C); running tasks were stopped and the state saved."),
        (TERMINATED, "Terminated by SIGTERM or SIGHUP; running tasks were stopped and the state saved."),
    ];
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The command line is wrong.
    #[error("{0}")]
    Usage(String),
    /// The workflow is invalid; the diagnostics have already been printed or are to be.
    #[error("{} problem(s) in the workflow", .0.len())]
    Invalid(Vec<Diagnostic>),
    /// The state file cannot be used.
    #[error("{0:#}")]
    State(anyhow::Error),
    /// Anything else (I/O on our own files, a broken terminal).
    #[error("{0:#}")]
    Other(#[from] anyhow::Error),
}

impl Error {
    pub fn exit_code(&self) -> u8 {
        match self {
            Error::Usage(_) => code::USAGE,
            Error::Invalid(_) => code::INVALID,
            Error::State(_) => code::STATE,
            Error::Other(_) => code::TASK_FAILED,
        }
    }
}

impl From<crate::workflow::LoadError> for Error {
    fn from(e: crate::workflow::LoadError) -> Self {
        match e {
            crate::workflow::LoadError::Usage(m) => Error::Usage(m),
            crate::workflow::LoadError::Invalid(d) => Error::Invalid(d),
        }
    }
}

pub type Result<T> = std::result::Result<T, Error>;
