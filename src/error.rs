//! Errors the command layer turns into exit codes. A task failing is an outcome, not an error.

use crate::diag::Diagnostic;

pub use crate::model::code;

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
