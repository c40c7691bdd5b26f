//! `dagrun run FILE`: load, select (`--target`), then either print the order (`--dry-run`) or
//! drive the scheduler with a reporter, and map the outcome to an exit code.

use super::args::{Progress, RunArgs};
use crate::error::{Error, Result, code};
use crate::files::Why;
use crate::pipeline::load_file;
use crate::plan::Plan;
use crate::plan::hash::definition_hashes;
use crate::report::{Mode, Reporter};
use crate::scheduler::event::{Outcome, Tee};
use crate::scheduler::order::durations_of;
use crate::scheduler::{self, RunConfig, Start};
use crate::state::model::{FORMAT_VERSION, RunRecord, StateFile, TaskRecord, WorkflowRecord};
use crate::state::recorder::Recorder;
use crate::state::store::Lock;
use crate::state::trace::Trace;
use crate::workflow::load::Format;
use anyhow::Context;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// How long a terminated task may take to exit before it is killed.
pub const GRACE: Duration = Duration::from_secs(5);

pub fn run(args: &RunArgs) -> Result<u8> {
    let mut plan = load_file(&args.file, &args.load.options())?;
    let selected = select(&plan, &args.target)?;
    let forced = forced(&plan, &args.from, args.force)?;
    let state_path = args.state.clone().unwrap_or_else(|| default_state_path(&args.file, &plan.name));
    if args.dry_run {
        let mut checker = super::files::checker(&state_path)?;
        let whys = crate::files::predict(&plan, &selected, &forced, &mut checker, |_| Why::NoOutputs);
        super::files::print_dry_run(&plan, &selected, &whys, args.format)?;
        return Ok(code::OK);
    }
    crate::state::store::check_replaceable(&state_path).map_err(Error::State)?;
    let (run_dir, logs) = prepare_run_dir(&state_path)?;
    let lock = Lock::acquire(&state_path).map_err(Error::State)?;
    // Reading what earlier runs left (the state this one replaces, the fingerprints) goes on
    // beside making this run's state: for a big workflow each is a large file.
    let (earlier, made) = crate::par::both(
        || crate::par::both(|| replace_previous(&state_path, &plan), || super::files::open(&state_path)),
        || {
            let overrides: Vec<(String, serde_json::Value)> = args.load.options().params;
            let mut state = fresh_state(&plan, &overrides).map_err(Error::State)?;
            state.run.targets = args.target.clone();
            Ok::<_, Error>((state, definition_hashes(&plan)))
        },
    );
    let (replacing, opened) = earlier.unzip();
    let replaced = replacing.flatten().unwrap_or(Replaced { there: true, ..Replaced::default() });
    let (checker, fingerprints) =
        opened.ok_or_else(|| Error::Other(anyhow::anyhow!("reading the fingerprints failed")))??;
    let (state, hashes) = made?;
    // The state replaced, with its logs, goes into the history; where it cannot, it is
    // overwritten as it was before there was a history, and its leftover logs removed at the end.
    let kept = match crate::state::history::keep(&state_path, replaced.started_at.as_deref()) {
        Ok(kept) => kept.is_some(),
        Err(e) => {
            eprintln!("warning: the previous run is not kept in the history: {e:#}");
            false
        }
    };
    make_dir(&logs)?;
    let mut recorder = Recorder::start(&plan, &state_path, &run_dir, lock, state, hashes, Some(fingerprints))
        .map_err(Error::State)?;
    let cfg = RunConfig {
        jobs: args.jobs,
        fail_fast: args.fail_fast,
        run_dir,
        logs: logs.clone(),
        grace: GRACE,
        generate: crate::pipeline::splice_output,
        explain: args.explain,
    };
    let mut reporter =
        Reporter::new(mode(args.progress)).with_output(args.show.output(), args.show.markers());
    let start = Start {
        files: Some(checker),
        forced,
        durations: replaced.durations,
        ..Start::fresh(&plan, selected)
    };
    let outcome = {
        let mut trace = Trace::open(&state_path, true);
        let mut sinks = Tee(vec![&mut recorder, &mut reporter, &mut trace]);
        drive(&mut plan, &cfg, start, &mut sinks)?
    };
    if replaced.there && !kept {
        remove_replaced_logs(&logs, recorder.state());
    }
    reporter.summary(&outcome, Some(&resume_command(&state_path)));
    if args.explain {
        let n = outcome.files_read;
        eprintln!("explain: {n} input file{} read to compare contents", if n == 1 { "" } else { "s" });
    }
    Ok(exit_code(&outcome))
}

/// Before `run` replaces a state: says in one line when that run was unfinished (and how to
/// have continued it). Whether there was a state to replace.
/// What `run` learns of the state it replaces.
#[derive(Default)]
struct Replaced {
    /// There is one.
    there: bool,
    /// How long its tasks took, by task of the plan.
    durations: HashMap<u32, u64>,
    /// When it started: its name in the history.
    started_at: Option<String>,
}

/// Reads the state this run replaces, in brief, saying so when it had unfinished tasks.
fn replace_previous(state_path: &Path, plan: &Plan) -> Replaced {
    let Some(previous) = crate::state::store::summary(state_path) else {
        return Replaced { there: state_path.exists(), ..Replaced::default() };
    };
    let unfinished = previous.unfinished;
    if unfinished > 0 {
        let s = if unfinished == 1 { "" } else { "s" };
        eprintln!(
            "note: the previous run had {unfinished} unfinished task{s}; `{}` would have continued it; \
             starting afresh",
            resume_command(state_path)
        );
    }
    let durations = durations_of(plan, previous.durations.iter().map(|(id, ms)| (id.as_str(), Some(*ms))));
    Replaced { there: true, durations, started_at: previous.started_at }
}

/// After a run that replaced another: removes the attempt files (`*.N.log`, `*.N.out`) of the
/// replaced run that this one did not write over, so that its logs never mix with this run's.
/// (Each attempt's file is emptied when the attempt starts, so files of attempts this run made
/// are its own; the others are left from before.) Done at the end, not the start: reusing a
/// file is much cheaper than creating one, and most are reused.
fn remove_replaced_logs(logs: &Path, state: &StateFile) {
    let made: std::collections::HashMap<String, u32> =
        state.tasks.iter().map(|(id, r)| (crate::task::file_name_for(id), r.attempts)).collect();
    let Ok(entries) = std::fs::read_dir(logs) else { return };
    for e in entries.flatten() {
        let name = e.file_name();
        let name = name.to_string_lossy();
        let Some(stem) = name.strip_suffix(".log").or_else(|| name.strip_suffix(".out")) else { continue };
        let Some((task, n)) = stem.rsplit_once('.') else { continue };
        let Ok(n) = n.parse::<u32>() else { continue };
        let ours = made.get(task).is_some_and(|&made| n <= made);
        if !ours && e.file_type().is_ok_and(|t| t.is_file()) {
            let _ = std::fs::remove_file(e.path());
        }
    }
}

/// The state of a run that has not started yet: every task pending.
pub fn fresh_state(plan: &Plan, overrides: &[(String, serde_json::Value)]) -> anyhow::Result<StateFile> {
    let path = plan
        .source
        .path
        .canonicalize()
        .with_context(|| format!("cannot resolve `{}`", plan.source.path.display()))?;
    let format = Format::from_path(&plan.source.path).unwrap_or(Format::Yaml).name();
    Ok(StateFile {
        format_version: FORMAT_VERSION,
        workflow: WorkflowRecord {
            path: path.display().to_string(),
            name: plan.name.clone(),
            params: plan.params.clone(),
            overrides: overrides.iter().cloned().collect(),
            format: format.to_owned(),
            source: plan.source.text.clone(),
        },
        run: RunRecord::default(),
        tasks: plan.tasks.iter().map(|t| (t.id.clone(), TaskRecord::pending(None))).collect(),
        generators: Default::default(),
    })
}

/// `dagrun resume STATE`, quoted for the shell, the path as the user can type it from here.
pub fn resume_command(state: &Path) -> String {
    let shown = std::env::current_dir()
        .ok()
        .and_then(|cwd| state.strip_prefix(&cwd).ok().map(Path::to_path_buf))
        .unwrap_or_else(|| state.to_path_buf());
    format!("dagrun resume {}", crate::report::shell_word(&shown.display().to_string()))
}

pub fn mode(p: Progress) -> Mode {
    match p {
        Progress::Auto => Mode::auto(),
        Progress::Bar => Mode::Bar,
        Progress::Plain => Mode::Plain,
        Progress::None => Mode::None,
    }
}

/// Runs the scheduler on a single-threaded runtime: attempts are processes, so one thread
/// driving them is enough and keeps event order simple.
pub fn drive(
    plan: &mut Plan,
    cfg: &RunConfig,
    start: Start,
    sink: &mut dyn crate::scheduler::event::EventSink,
) -> Result<Outcome> {
    crate::exec::reaper::start().map_err(|why| {
        Error::Other(anyhow::anyhow!(
            "cannot start the helper process that kills tasks if dagrun is killed: {why}; no task was \
             started (is the process limit, `ulimit -u`, reached?)"
        ))
    })?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    rt.block_on(scheduler::run(plan, cfg, start, sink)).map_err(|e| {
        if e.downcast_ref::<crate::state::recorder::StateWriteError>().is_some() {
            Error::State(e)
        } else {
            Error::Other(e)
        }
    })
}

pub fn exit_code(o: &Outcome) -> u8 {
    o.verdict().exit_code()
}

/// `.dagrun/<workflow name>/state.json` beside the workflow file.
pub fn default_state_path(workflow: &Path, name: &str) -> PathBuf {
    let dir = workflow.parent().unwrap_or(Path::new(""));
    dir.join(".dagrun").join(crate::task::file_name_for(name)).join("state.json")
}

/// Creates the run directory (the state file's) and the state's logs directory in it,
/// returning both absolute.
///
/// The logs go to `logs/`, unless another state file in the same directory already owns it:
/// then to `<state file name>.logs/`, so that two state files in one directory never write each
/// other's logs. `.logs.owner` in the run directory names the state file that owns `logs/`
/// (the first to use it).
pub fn prepare_run_dir(state: &Path) -> Result<(PathBuf, PathBuf)> {
    let dir = crate::state::history::run_dir(state);
    let name = state.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    make_dir(&dir.join("logs"))?;
    claim_logs(dir, &name);
    let logs = crate::state::history::logs_dir(state);
    make_dir(&logs)?;
    let canonical = |p: &Path| {
        p.canonicalize()
            .with_context(|| format!("cannot resolve the run directory `{}`", p.display()))
            .map_err(Error::State)
    };
    Ok((canonical(dir)?, canonical(&logs)?))
}

fn make_dir(logs: &Path) -> Result<()> {
    if let Err(e) = std::fs::create_dir_all(logs) {
        let why = match std::fs::metadata(logs) {
            Ok(m) if !m.is_dir() => "it exists and is not a directory".to_owned(),
            _ => e.to_string(),
        };
        return Err(Error::State(anyhow::anyhow!(
            "cannot create the run directory `{}`: {why}",
            logs.display()
        )));
    }
    Ok(())
}

/// Claims the run directory `dir`'s `logs/` for the state file `name` if nobody has
/// (`.logs.owner`); who owns it decides `state::history::logs_dir`.
fn claim_logs(dir: &Path, name: &str) {
    use std::io::Write;
    let owner = dir.join(".logs.owner");
    let _ = crate::exec::no_follow(std::fs::OpenOptions::new().write(true).create_new(true), &owner)
        .and_then(|mut f| writeln!(f, "{name}"));
}

/// `--force` (every task) or `--from` (the named tasks and their descendants): the tasks that
/// run whatever their files say.
fn forced(plan: &Plan, from: &[String], all: bool) -> Result<Vec<bool>> {
    if all {
        return Ok(vec![true; plan.len()]);
    }
    let mut roots = Vec::new();
    for f in from {
        let found = plan.resolve(f);
        if found.is_empty() {
            return Err(Error::Usage(unknown_task(plan, f, "--from")));
        }
        roots.extend(found);
    }
    Ok(if roots.is_empty() { Vec::new() } else { plan.with_descendants(&roots) })
}

/// `--target`: the named tasks (ids or base names) and everything they depend on.
pub fn select(plan: &Plan, targets: &[String]) -> Result<Vec<bool>> {
    if targets.is_empty() {
        return Ok(vec![true; plan.len()]);
    }
    let mut roots = Vec::new();
    for t in targets {
        let found = plan.resolve(t);
        if found.is_empty() {
            return Err(Error::Usage(unknown_task(plan, t, "--target")));
        }
        roots.extend(found);
    }
    Ok(plan.with_ancestors(&roots))
}

pub fn unknown_task(plan: &Plan, name: &str, flag: &str) -> String {
    let bases: Vec<&str> = {
        let mut b: Vec<&str> = plan.tasks.iter().map(|t| &*t.base).collect();
        b.dedup();
        b
    };
    let hint = crate::diag::suggest(
        name,
        bases.iter().copied().chain(plan.tasks.iter().take(100_000).map(|t| t.id.as_str())),
    )
    .map(|s| format!(" (did you mean `{s}`?)"))
    .unwrap_or_default();
    format!("`{flag} {name}`: the workflow has no task `{name}`{hint}")
}
