//! The state recorder: one more consumer of scheduler events, keeping the state file true while
//! the run goes. Each transition is one journal line written before the scheduler moves on, so a
//! task's success is on disk before any of its dependents starts.

use super::model::{
    CONDITION_NOT_MET, DEPENDENCY_FAILED, GeneratorRecord, RunRecord, StateFile, TaskRecord, timestamp,
};
use super::store::{self, Journal, Lock};
use crate::exec::AttemptEnd;
use crate::files::Fingerprint;
use crate::model::{SkipReason, Status};
use crate::plan::Plan;
use crate::plan::hash::task_hash;
use crate::scheduler::event::{Event, EventSink};
use anyhow::Result;
use std::path::{Path, PathBuf};
use std::time::{Instant, SystemTime};

pub struct Recorder {
    path: PathBuf,
    run_dir: PathBuf,
    state: StateFile,
    /// Definition hashes: those of tasks done before the run, and of each task as it starts
    /// (its dependencies may have grown by then: a generator adds to them).
    hashes: Vec<String>,
    journal: Journal,
    /// Where the fingerprints of tasks with outputs go (the file beside the state).
    files: Option<crate::files::store::Writer>,
    started: Instant,
    _lock: Lock,
}

impl Recorder {
    /// The state as recorded so far.
    pub fn state(&self) -> &StateFile {
        &self.state
    }

    /// Takes over `state` (whose `tasks` are in plan order, one per plan task): writes it as a
    /// new snapshot with a new epoch and opens its journal.
    pub fn start(
        plan: &Plan,
        path: &Path,
        run_dir: &Path,
        lock: Lock,
        mut state: StateFile,
        hashes: Vec<String>,
        files: Option<crate::files::store::Writer>,
    ) -> Result<Recorder> {
        debug_assert_eq!(state.tasks.len(), plan.len());
        state.run.epoch = fresh_epoch(state.run.epoch);
        state.run.runs = state.run.runs.saturating_add(1);
        state.run.started_at = Some(timestamp(SystemTime::now()));
        state.run.finished_at = None;
        state.run.outcome = None;
        state.run.pid = Some(std::process::id());
        store::remove_stale_temps(path);
        store::write_snapshot(path, &state)?;
        let journal = Journal::create(path, state.run.epoch)?;
        Ok(Recorder {
            path: path.to_path_buf(),
            run_dir: run_dir.to_path_buf(),
            state,
            hashes,
            journal,
            files,
            started: Instant::now(),
            _lock: lock,
        })
    }

    fn record(&mut self, i: u32) -> Result<()> {
        let (id, rec) = self.state.tasks.get_index(i as usize).expect("one record per plan task");
        self.journal.append(id, rec)?;
        self.compact_if_long()
    }

    /// Records a transition that a crash may lose (see `Journal::append_later`).
    fn record_later(&mut self, i: u32) -> Result<()> {
        let (id, rec) = self.state.tasks.get_index(i as usize).expect("one record per plan task");
        self.journal.append_later(id, rec)?;
        self.compact_if_long()
    }

    fn compact_if_long(&mut self) -> Result<()> {
        if self.journal.lines > self.state.tasks.len().max(1024) {
            self.compact()?;
        }
        Ok(())
    }

    /// Folds the journal into a new snapshot.
    fn compact(&mut self) -> Result<()> {
        self.state.run.epoch += 1;
        store::write_snapshot(&self.path, &self.state)?;
        self.journal = Journal::create(&self.path, self.state.run.epoch)?;
        Ok(())
    }

    /// Task `i` succeeded without running: its files were up to date. `fingerprint`: the same
    /// files with new stamps, recorded so that they are not read again.
    fn up_to_date(&mut self, plan: &Plan, i: u32, fingerprint: Option<&Fingerprint>) -> Result<()> {
        if let (Some(w), Some(f)) = (&mut self.files, fingerprint) {
            w.append(f)?;
        }
        let hash = task_hash(plan, i, &self.hashes);
        self.hashes[i as usize] = hash.clone();
        let r = self.rec(i);
        r.status = Status::Succeeded;
        r.hash = Some(hash);
        r.up_to_date = true;
        r.reason = None;
        r.skip = None;
        self.record_later(i)
    }

    fn rec(&mut self, i: u32) -> &mut TaskRecord {
        self.state.tasks.get_index_mut(i as usize).expect("one record per plan task").1
    }

    fn relative(&self, p: &Path) -> String {
        p.strip_prefix(&self.run_dir).unwrap_or(p).display().to_string()
    }
}

/// A journal epoch no earlier journal at this path can have.
fn fresh_epoch(previous: u64) -> u64 {
    let now = SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).map_or(0, |d| d.as_nanos() as u64);
    now.max(previous.saturating_add(1))
}

impl EventSink for Recorder {
    fn event(&mut self, plan: &Plan, e: &Event) -> Result<()> {
        self.apply(plan, e).map_err(|e| anyhow::Error::new(StateWriteError(format!("{e:#}"))))
    }
}

/// The state could not be written during a run: the run stops, as a state it cannot trust is
/// no state to resume from (exit code 4).
#[derive(Debug, thiserror::Error)]
#[error("cannot keep the state file up to date: {0}")]
pub struct StateWriteError(String);

impl Recorder {
    fn apply(&mut self, plan: &Plan, e: &Event) -> Result<()> {
        match e {
            Event::RunStarted { .. } | Event::HostDown { .. } | Event::Stopping { .. } => {}
            Event::Explain { .. } | Event::Used { .. } => {}
            Event::UpToDate { task, fingerprint } => self.up_to_date(plan, *task, fingerprint.as_deref())?,
            Event::Started { task, attempt, log, host, at, .. } => {
                // Until it succeeds again, its outputs may be half made: not up to date.
                if let Some(w) = self.files.as_mut().filter(|_| !plan.task(*task).outputs().is_empty()) {
                    w.append(&crate::files::Checker::started(plan, *task))?;
                }
                let log = self.relative(log);
                let hash = task_hash(plan, *task, &self.hashes);
                self.hashes[*task as usize] = hash.clone();
                let r = self.rec(*task);
                r.status = Status::Running;
                r.attempts = *attempt;
                r.log = Some(log);
                r.hash = Some(hash);
                r.exit_code = None;
                r.reason = None;
                r.started_at = Some(timestamp(*at));
                r.finished_at = None;
                r.duration_ms = None;
                r.host = host.clone();
                r.job = None;
                r.up_to_date = false;
                self.record(*task)?;
            }
            Event::Submitted { task, job, .. } => {
                self.rec(*task).job = Some(job.clone());
                self.record(*task)?;
            }
            Event::Retrying { task, end, .. } => {
                let r = self.rec(*task);
                if let AttemptEnd::Lost(why) = end {
                    r.lost.push(format!("attempt {}: {why}", r.attempts));
                }
                r.exit_code = end.exit_code();
                r.reason = Some(format!("attempt {} {}; retrying", r.attempts, end.describe()));
                self.record(*task)?;
            }
            Event::Finished { task, status, attempt, end, skip, elapsed, at, fingerprint, .. } => {
                // Before the success it belongs to: a fingerprint on disk is of a success.
                if let (Some(w), Some(f)) = (&mut self.files, fingerprint) {
                    w.append(f)?;
                }
                if *status == Status::Skipped {
                    self.hashes[*task as usize] = task_hash(plan, *task, &self.hashes);
                }
                let hash = self.hashes[*task as usize].clone();
                let run_dir = self.run_dir.clone();
                let r = self.rec(*task);
                r.status = *status;
                r.attempts = *attempt;
                r.finished_at = Some(timestamp(*at));
                match status {
                    Status::Skipped => {
                        r.hash = Some(hash);
                        r.exit_code = None;
                        r.up_to_date = false;
                        let why = skip.unwrap_or(SkipReason::DependencyFailed);
                        r.skip = Some(why);
                        r.reason = Some(
                            match why {
                                SkipReason::ConditionNotMet => CONDITION_NOT_MET,
                                SkipReason::DependencyFailed => DEPENDENCY_FAILED,
                            }
                            .to_owned(),
                        );
                    }
                    _ => {
                        r.skip = None;
                        r.duration_ms = Some(elapsed.as_millis() as u64);
                        r.exit_code = end.as_ref().and_then(|e| e.exit_code());
                        r.reason = end.as_ref().filter(|e| !e.succeeded()).map(|e| e.describe());
                        // An attempt that never started (a bad workdir) may have made no log:
                        // `status` must not point at a file that is not there.
                        if matches!(end, Some(AttemptEnd::NotStarted(_)))
                            && r.log.as_ref().is_some_and(|l| !run_dir.join(l).exists())
                        {
                            r.log = None;
                        }
                    }
                }
                self.record(*task)?;
            }
            Event::TasksAdded { generator, added, output } => {
                for i in added.clone() {
                    self.state.tasks.insert(plan.task(i).id.clone(), TaskRecord::pending(None));
                }
                self.hashes.resize(plan.len(), String::new());
                let id = plan.task(*generator).id.clone();
                let rec = GeneratorRecord {
                    hash: self.hashes[*generator as usize].clone(),
                    output: output.to_string(),
                };
                self.journal.append_generator(&id, &rec)?;
                self.state.generators.insert(id, rec);
            }
            Event::RunFinished(o) => {
                let run: &mut RunRecord = &mut self.state.run;
                run.finished_at = Some(timestamp(SystemTime::now()));
                run.elapsed_secs += self.started.elapsed().as_secs_f64();
                run.pid = None;
                run.outcome = Some(o.verdict().as_str().to_owned());
                self.compact()?;
                store::remove_journal(&self.path);
            }
        }
        Ok(())
    }
}
