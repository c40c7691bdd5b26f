//! `dagrun resume STATE`: reload the workflow, reconcile it with the recorded state, say what
//! will be skipped and what will run and why, then continue the same state file.

use super::args::ResumeArgs;
use super::run::{GRACE, drive, exit_code, mode, resume_command, select, unknown_task};
use crate::error::{Error, Result, code};
use crate::files::Why as FilesWhy;
use crate::model::ExecutorKind;
use crate::model::Status;
use crate::pipeline::{load_file, load_text};
use crate::plan::Plan;
use crate::report::Reporter;
use crate::scheduler::event::Tee;
use crate::scheduler::order::durations_of;
use crate::scheduler::{RunConfig, Start};
use crate::state::model::StateFile;
use crate::state::recorder::Recorder;
use crate::state::resume::{Reconciled, Why, into_records, restore};
use crate::state::store::{self, Lock};
use crate::state::trace::Trace;
use crate::workflow::LoadOptions;
use crate::workflow::load::Format;
use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};

/// How many tasks to run are listed by name before "and N more".
const LISTED: usize = 20;

pub fn run(args: &ResumeArgs) -> Result<u8> {
    if let Some(e) = super::workflow_given_for_state(&args.state) {
        return Err(e);
    }
    store::check(&args.state).map_err(Error::State)?;
    let lock = if args.dry_run { None } else { Some(Lock::acquire(&args.state).map_err(Error::State)?) };
    let prior = store::load(&args.state).map_err(Error::State)?;
    let mut opts = args.load.options();
    opts.recorded_params = prior.workflow.overrides.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
    let mut plan = load_workflow(args.workflow.as_deref(), &prior, &opts)?;
    // Tasks run in the workflow's directory: with it gone (a kept copy loaded), every one would
    // fail. `--dry-run` only shows what would run, so it goes on.
    let dir = plan.source.path.parent().filter(|d| !d.as_os_str().is_empty());
    if let Some(dir) = dir.filter(|d| !args.dry_run && !d.is_dir()) {
        return Err(Error::State(anyhow::anyhow!(
            "the workflow `{}` is gone, and so is its directory `{}`, where its tasks run; put the \
             workflow back, or pass `--workflow FILE` with a copy in the directory the tasks should run in",
            plan.source.path.display(),
            dir.display()
        )));
    }

    let (mut checker, fingerprints) = super::files::open_for(&args.state, args.dry_run)?;
    let (hashes, rec) = restore(&mut plan, &prior, &args.from, Some(&mut checker));
    // Names are checked once generated tasks are back, so that a generated id is known.
    for f in &args.from {
        if plan.resolve(f).is_empty() {
            return Err(Error::Usage(unknown_task(&plan, f, "--from")));
        }
    }
    let targets = match (&args.target[..], args.all) {
        (_, true) => Vec::new(),
        ([], false) => prior.run.targets.clone(),
        (given, false) => given.to_vec(),
    };
    let selected = select(&plan, &targets)?;
    if args.target.is_empty() && !targets.is_empty() {
        eprintln!(
            "resume: continuing the run's targets, {} (`--all` for every task)",
            targets.iter().map(|t| format!("`{t}`")).collect::<Vec<_>>().join(", ")
        );
    }
    print_plan(&plan, &rec, &selected);
    let run_dir = crate::state::history::run_dir(&args.state);
    let run_dir = run_dir.canonicalize().unwrap_or_else(|_| run_dir.to_path_buf());
    let attach = jobs_to_follow(&plan, &prior, &run_dir, &hashes, &rec, args.dry_run);
    if args.dry_run {
        super::files::print_dry_run(&plan, &selected, &whys(&rec, &selected), args.format)?;
        return Ok(code::OK);
    }
    // Tasks with outputs are decided again as the run reaches them (an upstream may change
    // what they read), and recorded up to date: the run goes through the scheduler.
    let has_files = (0..plan.len()).any(|i| selected[i] && !plan.task(i as u32).outputs().is_empty());
    let nothing_to_do = rec.to_run_among(&selected) == 0 && !has_files;
    let mut state = prior;
    state.workflow.name = plan.name.clone();
    state.workflow.params = plan.params.clone();
    for (k, v) in &opts.params {
        state.workflow.overrides.insert(k.clone(), v.clone());
    }
    state.workflow.source = plan.source.text.clone();
    state.run.targets = targets;
    if let Ok(p) = plan.source.path.canonicalize() {
        // `--workflow` may name a file of the other format; the next resume reads it as such.
        state.workflow.format = Format::from_path(&p).unwrap_or(Format::Yaml).name().to_owned();
        state.workflow.path = p.display().to_string();
    }
    let Reconciled { mut done, attempts, .. } = rec;
    state.tasks = into_records(&plan, std::mem::take(&mut state.tasks));
    let durations = durations_of(&plan, state.tasks.iter().map(|(id, r)| (id.as_str(), r.duration_ms)));
    // Keep the output of generators whose tasks are restored; the others run again.
    state.generators.retain(|id, _| plan.get(id).is_some_and(|i| done[i as usize]));
    if nothing_to_do {
        // Still record what resume learned (removed tasks dropped, the workflow as it is now,
        // a killed run's journal folded in), so that `status` agrees with it.
        state.run.epoch += 1; // a leftover journal names the old epoch: ignored, then removed
        state.run.pid = None;
        state.run.outcome = Some("succeeded".to_owned());
        store::remove_stale_temps(&args.state);
        store::write_snapshot(&args.state, &state).map_err(Error::State)?;
        store::remove_journal(&args.state);
        return Ok(code::OK);
    }
    let (run_dir, logs) = super::run::prepare_run_dir(&args.state)?;
    let lock = lock.expect("locked unless dry-run");
    let mut recorder = Recorder::start(&plan, &args.state, &run_dir, lock, state, hashes, fingerprints)
        .map_err(Error::State)?;
    let cfg = RunConfig {
        jobs: args.jobs,
        fail_fast: args.fail_fast,
        run_dir,
        logs,
        grace: GRACE,
        generate: crate::pipeline::splice_output,
        explain: args.explain,
    };
    let mut reporter =
        Reporter::new(mode(args.progress)).with_output(args.show.output(), args.show.markers());
    // Tasks with outputs are decided by the scheduler when they are reached.
    for (i, d) in done.iter_mut().enumerate() {
        *d &= plan.task(i as u32).outputs().is_empty();
    }
    let roots: Vec<u32> = args.from.iter().flat_map(|f| plan.resolve(f)).collect();
    let forced = plan.with_descendants(&roots);
    let start = Start { selected, done, attempts, attach, files: Some(checker), forced, durations };
    let outcome = {
        let mut trace = Trace::open(&args.state, false);
        let mut sinks = Tee(vec![&mut recorder, &mut reporter, &mut trace]);
        drive(&mut plan, &cfg, start, &mut sinks)?
    };
    reporter.summary(&outcome, Some(&resume_command(&args.state)));
    if args.explain {
        let n = outcome.files_read;
        eprintln!("explain: {n} input file{} read to compare contents", if n == 1 { "" } else { "s" });
    }
    Ok(exit_code(&outcome))
}

/// Why each selected task runs or not: by its files, or by the state.
fn whys(rec: &Reconciled, selected: &[bool]) -> Vec<Option<FilesWhy>> {
    (0..selected.len())
        .map(|i| {
            if !selected[i] {
                return None;
            }
            Some(match (&rec.files[i], rec.why[i]) {
                (Some(w), _) => w.clone(),
                (None, None) => FilesWhy::Done,
                (None, Some(w)) => FilesWhy::Recorded(w.as_str()),
            })
        })
        .collect()
}

/// The workflow to resume: `--workflow`, else the recorded path, else the recorded source.
fn load_workflow(explicit: Option<&Path>, prior: &StateFile, opts: &LoadOptions) -> Result<Plan> {
    if let Some(p) = explicit {
        return Ok(load_file(p, opts)?);
    }
    let path = PathBuf::from(&prior.workflow.path);
    let Some(recorded) = Format::from_name(&prior.workflow.format) else {
        return Err(Error::State(anyhow::anyhow!(
            "the state records a workflow of unknown format `{}` (expected `yaml` or `toml`)",
            prior.workflow.format
        )));
    };
    match std::fs::metadata(&path) {
        Ok(m) if m.is_file() => {
            if Format::from_path(&path) != Some(recorded) {
                return Err(Error::State(anyhow::anyhow!(
                    "the workflow `{}` is no longer a {} file; pass `--workflow FILE` to resume from another file",
                    path.display(),
                    prior.workflow.format
                )));
            }
            Ok(load_file(&path, opts)?)
        }
        Ok(_) => Err(Error::State(anyhow::anyhow!(
            "the workflow path `{}` is no longer a file; pass `--workflow FILE`",
            path.display()
        ))),
        Err(_) => {
            eprintln!(
                "note: `{}` is gone; resuming from the copy of the workflow kept in the state",
                path.display()
            );
            Ok(load_text(&path, recorded, prior.workflow.source.clone(), opts)?)
        }
    }
}

/// Jobs a killed run submitted whose ids it had no time to record: tasks recorded running on a
/// slurm executor without a job id, found by the comment their attempt's job carries.
fn submitted_unrecorded(plan: &Plan, prior: &StateFile, run_dir: &Path) -> HashMap<String, String> {
    let mut logs: Vec<(String, PathBuf)> = Vec::new();
    for (id, r) in &prior.tasks {
        let (Status::Running, None, Some(log)) = (r.status, &r.job, &r.log) else { continue };
        let slurm = plan.get(id).is_some_and(|i| matches!(plan.executor_of(i).kind, ExecutorKind::Slurm(_)));
        if slurm {
            // As the run named it: the logs directory resolved, as `prepare_run_dir` does.
            let path = run_dir.join(log);
            let resolved = match (path.parent().and_then(|p| p.canonicalize().ok()), path.file_name()) {
                (Some(dir), Some(name)) => dir.join(name),
                _ => path,
            };
            logs.push((id.clone(), resolved));
        }
    }
    if logs.is_empty() {
        return HashMap::new();
    }
    let paths: Vec<PathBuf> = logs.iter().map(|(_, l)| l.clone()).collect();
    let Some(jobs) = crate::exec::slurm::jobs_of_attempts(&paths) else { return HashMap::new() };
    logs.into_iter().filter_map(|(id, l)| Some((id, jobs.get(&l)?.clone()))).collect()
}

/// Slurm jobs that a killed run left behind. A job of a task that will run as it was is followed
/// again instead of submitted twice; a job of a task that changed (or is forced, or gone) is
/// cancelled, so that it does not run beside its replacement.
fn jobs_to_follow(
    plan: &Plan,
    prior: &StateFile,
    run_dir: &Path,
    hashes: &[String],
    rec: &Reconciled,
    dry_run: bool,
) -> HashMap<u32, String> {
    let mut follow = HashMap::new();
    let found = submitted_unrecorded(plan, prior, run_dir);
    let mut err = std::io::stderr().lock();
    for (id, r) in &prior.tasks {
        let job = match (&r.job, found.get(id)) {
            (Some(job), _) | (None, Some(job)) => job,
            (None, None) => continue,
        };
        if r.status != Status::Running {
            continue;
        }
        let same = plan.get(id).filter(|&i| {
            let iu = i as usize;
            rec.why[iu] == Some(Why::Interrupted)
                && r.hash.as_deref() == Some(hashes[iu].as_str())
                && matches!(plan.executor_of(i).kind, ExecutorKind::Slurm(_))
        });
        match same {
            Some(i) => {
                let _ = writeln!(err, "  {id}: following slurm job {job} again");
                follow.insert(i, job.clone());
            }
            None if dry_run => {
                let _ = writeln!(err, "  {id}: slurm job {job} would be cancelled (the task changed)");
            }
            None => {
                let _ = writeln!(err, "  {id}: cancelling slurm job {job} (the task changed)");
                let _ = std::process::Command::new("scancel")
                    .arg(job)
                    .stdin(std::process::Stdio::null())
                    .stdout(std::process::Stdio::null())
                    .stderr(std::process::Stdio::null())
                    .status();
            }
        }
    }
    follow
}

/// What resume will do, before it does it.
fn print_plan(plan: &Plan, rec: &Reconciled, selected: &[bool]) {
    let total = selected.iter().filter(|s| **s).count();
    let todo = rec.to_run_among(selected);
    let mut s = String::new();
    if todo == 0 {
        s.push_str(&format!("nothing to do: all {total} tasks are done"));
    } else {
        let mut counts: std::collections::BTreeMap<Why, usize> = Default::default();
        for (w, _) in rec.why.iter().zip(selected).filter(|(_, s)| **s) {
            if let Some(w) = w {
                *counts.entry(*w).or_default() += 1;
            }
        }
        let parts: Vec<String> = counts.iter().map(|(w, n)| format!("{n} {}", w.as_str())).collect();
        s.push_str(&format!(
            "resume: {} of {total} tasks done and skipped; {todo} to run ({})",
            total - todo,
            parts.join(", ")
        ));
        let mut listed = 0;
        for &i in plan.order.iter().filter(|&&i| selected[i as usize]) {
            if let Some(w) = rec.why[i as usize] {
                if listed == LISTED {
                    s.push_str(&format!("\n  ... and {} more", todo - LISTED));
                    break;
                }
                s.push_str(&format!("\n  {:<14}{}", w.as_str(), plan.task(i).id));
                if let Some(f) = &rec.files[i as usize] {
                    s.push_str(&format!(": {}", f.reason()));
                }
                listed += 1;
            }
        }
    }
    if rec.removed > 0 {
        s.push_str(&format!(
            "\n{} task(s) in the state are no longer in the workflow and are dropped",
            rec.removed
        ));
    }
    let mut err = std::io::stderr().lock();
    let _ = writeln!(err, "{s}");
}
