//! `schema`, `completions` and the hidden `generate-docs` that refreshes the committed
//! completions and man pages (CI regenerates them and fails on a difference).

use super::graph::write_stdout;
use crate::cli::Cli;
use crate::error::{Result, code};
use crate::workflow::spec::WorkflowSpec;
use anyhow::Context;
use clap::CommandFactory;
use clap_complete::Shell;
use std::path::Path;

pub fn schema() -> Result<u8> {
    let schema = schemars::schema_for!(WorkflowSpec);
    let mut text = serde_json::to_string_pretty(&schema).context("cannot serialise the schema")?;
    text.push('\n');
    write_stdout(text.as_bytes())?;
    Ok(code::OK)
}

pub fn completions(shell: Shell) -> Result<u8> {
    let mut buf = Vec::new();
    clap_complete::generate(shell, &mut Cli::command(), "dagrun", &mut buf);
    write_stdout(&buf)?;
    Ok(code::OK)
}

pub fn generate(dir: &Path) -> Result<u8> {
    let comp = dir.join("completions");
    let man = dir.join("man");
    for d in [&comp, &man] {
        std::fs::create_dir_all(d).with_context(|| format!("cannot create `{}`", d.display()))?;
    }
    for shell in [Shell::Bash, Shell::Zsh, Shell::Fish, Shell::Elvish, Shell::PowerShell] {
        clap_complete::generate_to(shell, &mut Cli::command(), "dagrun", &comp)
            .with_context(|| format!("cannot write {shell} completions"))?;
    }
    clap_mangen::generate_to(Cli::command(), &man).context("cannot write man pages")?;
    Ok(code::OK)
}
