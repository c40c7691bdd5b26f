//! `dagrun validate FILE...`: load each file and report every problem found.

use super::args::{ReportFormat, ValidateArgs};
use super::graph::write_stdout;
use crate::diag::Diagnostic;
use crate::error::{Error, Result, code};
use crate::pipeline::load_file;
use crate::plan::Plan;
use crate::workflow::LoadError;

pub fn run(args: &ValidateArgs) -> Result<u8> {
    let opts = args.load.options();
    let mut problems = Vec::new();
    let mut out = String::new();
    for (k, file) in args.files.iter().enumerate() {
        match load_file(file, &opts) {
            Ok(plan) => {
                let warnings = file_warnings(&plan, &file.display().to_string());
                if args.strict {
                    problems.extend(warnings.iter().cloned().map(|mut d| {
                        d.severity = None;
                        d
                    }));
                } else {
                    problems.extend(warnings.iter().cloned());
                }
                if args.format == ReportFormat::Text && (warnings.is_empty() || !args.strict) {
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
                eprintln!("{}: {d}", d.severity.unwrap_or("error"));
            }
            let n = problems.iter().filter(|d| d.severity.is_none()).count();
            if n > 0 {
                eprintln!("error: {n} problem{} found", if n == 1 { "" } else { "s" });
            }
        }
    }
    write_stdout(out.as_bytes())?;
    let invalid = problems.iter().any(|d| d.severity.is_none());
    Ok(if invalid { code::INVALID } else { code::OK })
}

/// What the declared files say of the order: a task reading another's output without
/// depending on it, and a file two tasks write.
fn file_warnings(plan: &Plan, file: &str) -> Vec<Diagnostic> {
    let id = |i: u32| plan.task(i).id.as_str();
    let format = crate::workflow::load::Format::from_path(&plan.source.path)
        .unwrap_or(crate::workflow::load::Format::Yaml);
    let at = |i: u32| crate::workflow::load::locate_task(&plan.source.text, format, &plan.task(i).base);
    let mut out = Vec::new();
    for u in crate::files::order::unordered(plan) {
        let msg = format!(
            "reads `{}`, an output of `{}`, without depending on it: runs in either order; add `{}` to its `after`",
            u.path,
            id(u.writer),
            id(u.writer)
        );
        out.push(Diagnostic::new(file, msg).task(id(u.reader)).field("inputs").at(at(u.reader)).warning());
    }
    for (path, a, b) in crate::files::order::written_twice(plan) {
        let msg = format!("`{path}` is also an output of `{}`: one overwrites the other", id(a));
        out.push(Diagnostic::new(file, msg).task(id(b)).field("outputs").at(at(b)).warning());
    }
    out
}
