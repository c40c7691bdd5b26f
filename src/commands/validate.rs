//! `dagrun validate FILE...`: load each file and report every problem found.

use super::args::{ReportFormat, ValidateArgs};
use super::graph::write_stdout;
use crate::error::{Error, Result, code};
use crate::pipeline::load_file;
use crate::workflow::LoadError;

pub fn run(args: &ValidateArgs) -> Result<u8> {
    let opts = args.load.options();
    let mut problems = Vec::new();
    let mut out = String::new();
    for (k, file) in args.files.iter().enumerate() {
        match load_file(file, &opts) {
            Ok(plan) => {
                if args.format == ReportFormat::Text {
                    let n = plan.len();
                    out.push_str(&format!(
                        "{}: valid, {n} task{}\n",
                        file.display(),
                        if n == 1 { "" } else { "s" }
                    ));
                }
                // The process ends soon after the last file: freeing a million tasks one by one
                // would only delay the exit.
                if k + 1 == args.files.len() {
                    std::mem::forget(plan);
                }
            }
            Err(LoadError::Invalid(d)) => problems.extend(d),
            Err(LoadError::Usage(m)) => return Err(Error::Usage(m)),
        }
    }
    match args.format {
        ReportFormat::Json => {
            out = serde_json::to_string_pretty(&problems).map_err(anyhow::Error::from)?;
            out.push('\n');
        }
        ReportFormat::Text => {
            for d in &problems {
                eprintln!("error: {d}");
            }
            if !problems.is_empty() {
                let n = problems.len();
                eprintln!("error: {n} problem{} found", if n == 1 { "" } else { "s" });
            }
        }
    }
    write_stdout(out.as_bytes())?;
    Ok(if problems.is_empty() { code::OK } else { code::INVALID })
}
