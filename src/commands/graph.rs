//! `dagrun graph FILE`: the plan as DOT, Mermaid or JSON on stdout.

use crate::cli::{GraphArgs, GraphFormat};
use crate::error::{Error, Result, code};
use crate::plan::render;
use crate::workflow::load_file;
use std::io::Write;

pub fn run(args: &GraphArgs) -> Result<u8> {
    let plan = load_file(&args.file, &args.load.options())?;
    if args.state.is_some() {
        return Err(Error::Usage("`--state` is not available yet".into()));
    }
    let out = match args.format {
        GraphFormat::Dot => render::dot(&plan, None),
        GraphFormat::Mermaid => render::mermaid(&plan, None),
        GraphFormat::Json => render::json(&plan, None),
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
