//! `dagrun validate FILE...`: load each file and report every problem found.

use crate::cli::{ReportFormat, ValidateArgs};
use crate::error::{Error, Result, code};
use crate::workflow::{LoadError, load_file};

pub fn run(args: &ValidateArgs) -> Result<u8> {
    let opts = args.load.options();
    let mut problems = Vec::new();
    for file in &args.files {
        match load_file(file, &opts) {
            Ok(plan) => {
                if args.format == ReportFormat::Text {
                    let n = plan.len();
                    println!("{}: valid, {n} task{}", file.display(), if n == 1 { "" } else { "s" });
                }
            }
            Err(LoadError::Invalid(d)) => problems.extend(d),
            Err(LoadError::Usage(m)) => return Err(Error::Usage(m)),
        }
    }
    match args.format {
        ReportFormat::Json => {
            let json = serde_json::to_string_pretty(&problems).map_err(anyhow::Error::from)?;
            println!("{json}");
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
    Ok(if problems.is_empty() { code::OK } else { code::INVALID })
}
