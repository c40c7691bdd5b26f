//! Helpers shared by the integration tests.

#![allow(dead_code)]

use assert_cmd::Command;
use std::path::{Path, PathBuf};

/// The `dagrun` binary under test.
pub fn dagrun() -> Command {
    let mut c = Command::cargo_bin("dagrun").expect("the dagrun binary is built");
    c.env("NO_COLOR", "1");
    c
}

/// A fixture file under `tests/fixtures`.
pub fn fixture(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures").join(rel)
}

/// Writes `text` to `name` inside `dir` and returns the path.
pub fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).expect("write test file");
    p
}
