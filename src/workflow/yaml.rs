//! The YAML library, behind the few calls dagrun makes of it: parse text or a generic document
//! into a type, and the generic document itself. No other file names the library, so replacing
//! it (serde_yaml is deprecated upstream; see docs/architecture.md for what was measured) means
//! changing this file.

use serde::de::DeserializeOwned;

/// A YAML document of no particular type (what a broken workflow is re-read as, so that each
/// task can be checked on its own).
pub use serde_yaml::{Mapping, Value};

/// A parse or type error, with the line and column where the parser knows them.
#[derive(Debug)]
pub struct Error(serde_yaml::Error);

impl Error {
    /// 1-based line and column.
    pub fn location(&self) -> Option<(usize, usize)> {
        self.0.location().map(|l| (l.line(), l.column()))
    }
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

pub fn from_str<T: DeserializeOwned>(text: &str) -> Result<T, Error> {
    serde_yaml::from_str(text).map_err(Error)
}

pub fn from_value<T: DeserializeOwned>(value: Value) -> Result<T, Error> {
    serde_yaml::from_value(value).map_err(Error)
}
