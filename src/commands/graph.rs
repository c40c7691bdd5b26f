//! `dagrun graph FILE`: the plan as DOT, Mermaid or JSON on stdout.

use super::args::{GraphArgs, GraphFormat};
use crate::error::{Error, Result, code};
use crate::pipeline::load_file;
use crate::plan::render;
use std::io::Write;

pub fn run(args: &GraphArgs) -> Result<u8> {
    let state = match &args.state {
        None => None,
        Some(p) => Some(crate::state::store::load(p).map_err(Error::State)?),
    };
    let mut opts = args.load.options();
    if let Some(state) = &state {
        // The graph of that run: its `-p` values, where the file still declares them (a `-p`
        // given here still wins).
        opts.recorded_params = state.workflow.overrides.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
    }
    let mut plan = load_file(&args.file, &opts)?;
    let statuses: Option<Vec<Option<&'static str>>> = match &state {
        None => None,
        Some(state) => {
            // Generated tasks are drawn too: add back what the recorded generators produced.
            crate::state::resume::restore(&mut plan, state, &[], None);
            let status = |r: &crate::state::model::TaskRecord| {
                if r.up_to_date && r.status == crate::model::Status::Succeeded {
                    "up_to_date"
                } else {
                    r.status.as_str()
                }
            };
            Some(plan.tasks.iter().map(|t| state.tasks.get(&t.id).map(status)).collect())
        }
    };
    let lookup = |i: u32| statuses.as_ref().and_then(|s| s[i as usize]);
    let status: Option<render::StatusOf> = statuses.as_ref().map(|_| &lookup as render::StatusOf);
    let out = match args.format {
        GraphFormat::Dot => render::dot(&plan, status),
        GraphFormat::Mermaid => render::mermaid(&plan, status),
        GraphFormat::Json => render::json(&plan, status),
    };
    write_stdout(out.as_bytes())?;
    Ok(code::OK)
}

/// Writes to stdout, treating a closed pipe (`| head`) as success.
pub fn write_stdout(bytes: &[u8]) -> Result<()> {
    let mut out = std::io::stdout().lock();
    match out.write_all(bytes).and_then(|_| out.flush()) {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        r => r.map_err(|e| Error::Other(anyhow::anyhow!("cannot write to stdout: {e}"))),
    }
}
