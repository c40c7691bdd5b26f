//! Replays the fuzz targets' committed inputs as ordinary tests: the seed corpus
//! (`fuzz/seeds/<target>/`) and every input a fuzz run found a bug with
//! (`fuzz/regressions/<target>/`, each named after what broke), through the very checks the
//! targets make (`fuzz/src/lib.rs`). See `docs/fuzzing.md`.

#[path = "../../fuzz/src/lib.rs"]
mod harness;

use dagrun::workflow::load::Format;
use std::path::Path;

/// Runs every input of `target` through `check`; fails naming each input that panicked.
fn replay(target: &str, check: fn(&[u8])) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz");
    let mut inputs = Vec::new();
    for dir in ["seeds", "regressions"] {
        let Ok(entries) = std::fs::read_dir(root.join(dir).join(target)) else { continue };
        inputs.extend(entries.map(|e| e.expect("a corpus entry").path()));
    }
    inputs.sort();
    assert!(inputs.len() >= 5, "the `{target}` corpus has only {} inputs", inputs.len());
    let mut failed = Vec::new();
    for input in &inputs {
        let data = std::fs::read(input).expect("read a corpus input");
        if std::panic::catch_unwind(|| check(&data)).is_err() {
            failed.push(input.display().to_string());
        }
    }
    assert!(
        failed.is_empty(),
        "inputs that fail the `{target}` fuzz target's checks:\n{}",
        failed.join("\n")
    );
}

#[test]
fn workflow_yaml_corpus() {
    replay("workflow_yaml", |d| harness::workflow(d, Format::Yaml));
}

#[test]
fn workflow_toml_corpus() {
    replay("workflow_toml", |d| harness::workflow(d, Format::Toml));
}

#[test]
fn state_corpus() {
    replay("state", harness::state);
}

#[test]
fn fragment_corpus() {
    replay("fragment", harness::fragment);
}
