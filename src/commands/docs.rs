//! `schema`, `completions` and the hidden `generate-docs` that refreshes the committed
//! completions and man pages (CI regenerates them and fails on a difference).

use super::graph::write_stdout;
use crate::error::{Result, code};
use crate::workflow::spec::WorkflowSpec;
use anyhow::Context;
use clap_complete::Shell;
use std::path::Path;

pub fn schema() -> Result<u8> {
    let schema = schemars::schema_for!(WorkflowSpec);
    let mut text = serde_json::to_string_pretty(&schema).context("cannot serialise the schema")?;
    text.push('\n');
    write_stdout(text.as_bytes())?;
    Ok(code::OK)
}

pub fn completions(shell: Shell, mut cli: clap::Command) -> Result<u8> {
    let mut buf = Vec::new();
    clap_complete::generate(shell, &mut cli, "dagrun", &mut buf);
    write_stdout(&buf)?;
    Ok(code::OK)
}

/// `cli` gives the whole command line's definition, once per use.
pub fn generate(dir: &Path, cli: fn() -> clap::Command) -> Result<u8> {
    let comp = dir.join("completions");
    let man = dir.join("man");
    for d in [&comp, &man] {
        std::fs::create_dir_all(d).with_context(|| format!("cannot create `{}`", d.display()))?;
    }
    for shell in [Shell::Bash, Shell::Zsh, Shell::Fish, Shell::Elvish, Shell::PowerShell] {
        clap_complete::generate_to(shell, &mut cli(), "dagrun", &comp)
            .with_context(|| format!("cannot write {shell} completions"))?;
    }
    clap_mangen::generate_to(cli(), &man).context("cannot write man pages")?;
    // The main page also says what the exit codes mean, which files a run writes and which
    // environment variables matter: sections clap knows nothing of.
    let mut page = Vec::new();
    clap_mangen::Man::new(cli()).render(&mut page).context("cannot render the man page")?;
    let page = String::from_utf8(page).context("the man page is not UTF-8")?;
    let at = page.find(".SH VERSION").unwrap_or(page.len());
    let page = format!("{}{}{}", &page[..at], manual_sections(), &page[at..]);
    let path = man.join("dagrun.1");
    std::fs::write(&path, page).with_context(|| format!("cannot write `{}`", path.display()))?;
    Ok(code::OK)
}

/// Files a run reads and writes, relative to the run directory.
const FILES: [(&str, &str); 5] = [
    (
        ".dagrun/NAME/state.json",
        "The state of the last run of the workflow NAME, beside the workflow file (or the path given \
         with --state). Its directory is the run directory.",
    ),
    ("state.json.journal", "Each task transition since the last snapshot, one line each; replayed on load."),
    ("state.json.lock", "Held while a dagrun uses the state; names its pid."),
    ("logs/TASK.ATTEMPT.log", "The output (stdout and stderr) of each attempt of each task."),
    ("logs/.owner", "Which state file of the run directory owns logs/; another writes to FILE.logs/."),
];

/// Environment variables dagrun reads, then those it gives each task.
const ENVIRONMENT: [(&str, &str); 7] = [
    ("NO_COLOR", "Set to anything but the empty string: no colour in the output."),
    ("DAGRUN_TEMPLATE_TIMEOUT", "Seconds one template may take to render (default 30)."),
    ("DAGRUN_SLURM_POLL", "Seconds between Slurm status polls."),
    ("DAGRUN_TASK", "Given to each task: its id."),
    ("DAGRUN_ATTEMPT", "Given to each task: the attempt number, from 1."),
    ("DAGRUN_RUN_DIR", "Given to each task: the run directory."),
    (
        "DAGRUN_REAPER",
        "Given to each local task: the token by which dagrun's reaper finds what is left of it.",
    ),
];

/// The extra sections of the main man page, in roff.
fn manual_sections() -> String {
    let mut out = String::new();
    let mut section = |title: &str, rows: &mut dyn Iterator<Item = (String, &str)>| {
        out.push_str(&format!(".SH \"{title}\"\n"));
        for (term, text) in rows {
            out.push_str(&format!(".TP\n\\fB{}\\fR\n{}\n", roff(&term), roff(text)));
        }
    };
    section("EXIT STATUS", &mut code::MEANINGS.iter().map(|(c, m)| (c.to_string(), *m)));
    section("FILES", &mut FILES.iter().map(|(f, m)| (f.to_string(), *m)));
    section("ENVIRONMENT", &mut ENVIRONMENT.iter().map(|(v, m)| (v.to_string(), *m)));
    out
}

/// `text` escaped for roff: backslashes and hyphens, and a leading dot or quote.
fn roff(text: &str) -> String {
    let mut out = text.replace('\\', "\\e").replace('-', "\\-");
    if out.starts_with(['.', '\'']) {
        out.insert_str(0, "\\&");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_man_page_says_every_exit_code_file_and_variable() {
        let dir = tempfile::tempdir().unwrap();
        generate(dir.path(), <crate::cli::Cli as clap::CommandFactory>::command).unwrap();
        let page = std::fs::read_to_string(dir.path().join("man/dagrun.1")).unwrap();
        let sections: Vec<usize> =
            [".SH \"EXIT STATUS\"", ".SH \"FILES\"", ".SH \"ENVIRONMENT\"", ".SH VERSION"]
                .iter()
                .map(|s| page.find(s).unwrap_or_else(|| panic!("no {s} in:\n{page}")))
                .collect();
        assert!(sections.windows(2).all(|w| w[0] < w[1]), "sections out of order");
        for (c, _) in code::MEANINGS {
            assert!(page.contains(&format!("\\fB{c}\\fR")), "exit code {c} missing");
        }
        for v in ["NO_COLOR", "DAGRUN_TASK", "DAGRUN_RUN_DIR", "state.json.journal"] {
            assert!(page.contains(&roff(v)), "{v} missing");
        }
        assert_eq!(roff(".x-y\\z"), "\\&.x\\-y\\ez");
    }
}
