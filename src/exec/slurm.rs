//! The `slurm` executor: each attempt is one batch job. dagrun writes a small job script, submits
//! it with `sbatch`, and learns how every job of the run is doing from one `squeue` call per
//! poll interval (never one call per job). Timeouts, `--fail-fast` and Ctrl-C cancel jobs with
//! `scancel`.
//!
//! The job script records the task's exit status in a file beside its log, so the status is
//! known even after Slurm has forgotten the job, and a job whose status never appears tells that
//! the run directory is not shared with the node that ran it.
//!
//! A job outlives a dagrun that is killed: its id is in the state file, and `resume` waits for
//! it again (`attach`) instead of submitting the task a second time.

use super::shell;
use super::{Attempt, Cancel, CancelRx};
use crate::exec::AttemptEnd;
use crate::model::SlurmDef;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;
use tokio::sync::{Notify, watch};
use tokio::time::Instant;

/// How often `squeue` is asked about the run's jobs, unless `DAGRUN_SLURM_POLL` says otherwise.
const POLL: Duration = Duration::from_secs(2);
/// How long a job that ended may take for its exit status to show in the run directory (a
/// network filesystem may cache the directory for a while).
const STATUS_WAIT: Duration = Duration::from_secs(30);
/// `squeue --jobs` takes one argument; keep it well under the kernel's limit for one argument.
const IDS_PER_QUERY: usize = 5000;
/// `sbatch` and `scancel` calls at once per executor: hundreds of ready tasks must not flood the
/// controller with simultaneous requests.
const CALLS_AT_ONCE: usize = 4;

/// What the last poll said about a job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JobState {
    /// Not polled yet.
    Unknown,
    /// Queued or running (`state` is Slurm's word: `PENDING`, `RUNNING`, ...).
    Active { state: String, reason: String },
    /// Ended; `raw` is the wait status Slurm reports (exit code × 256, or the signal).
    Ended { state: String, reason: String, raw: i32 },
    /// Slurm no longer knows the job (it ended long ago).
    Gone,
}

impl JobState {
    fn running(&self) -> bool {
        matches!(self, JobState::Active { state, .. } if state != "PENDING")
    }
}

/// One `slurm` executor of a run: its job options and the poller shared by its attempts.
pub struct Slurm {
    def: SlurmDef,
    jobs: Mutex<HashMap<String, watch::Sender<JobState>>>,
    wake: Arc<Notify>,
    poll: Duration,
    calls: tokio::sync::Semaphore,
}

impl Slurm {
    /// Starts the executor's poller on the current tokio runtime; it ends with the executor.
    pub fn start(def: SlurmDef) -> Arc<Slurm> {
        let poll = std::env::var("DAGRUN_SLURM_POLL")
            .ok()
            .and_then(|v| crate::model::parse_duration(&v).ok())
            .filter(|d| !d.is_zero())
            .unwrap_or(POLL);
        let s = Arc::new(Slurm {
            def,
            jobs: Mutex::new(HashMap::new()),
            wake: Arc::new(Notify::new()),
            poll,
            calls: tokio::sync::Semaphore::new(CALLS_AT_ONCE),
        });
        tokio::spawn(poller(Arc::downgrade(&s)));
        s
    }

    fn watch(&self, job: &str) -> watch::Receiver<JobState> {
        let mut jobs = self.jobs.lock().unwrap_or_else(|e| e.into_inner());
        let rx =
            jobs.entry(job.to_owned()).or_insert_with(|| watch::channel(JobState::Unknown).0).subscribe();
        drop(jobs);
        self.wake.notify_one();
        rx
    }

    async fn scancel(&self, job: &str) -> Result<(), String> {
        let _turn = self.calls.acquire().await;
        scancel(job).await
    }

    fn forget(&self, job: &str) {
        self.jobs.lock().unwrap_or_else(|e| e.into_inner()).remove(job);
    }

    fn ids(&self) -> Vec<String> {
        self.jobs.lock().unwrap_or_else(|e| e.into_inner()).keys().cloned().collect()
    }

    fn update(&self, job: &str, state: JobState) {
        if let Some(tx) = self.jobs.lock().unwrap_or_else(|e| e.into_inner()).get(job) {
            tx.send_if_modified(|old| {
                let changed = *old != state;
                *old = state;
                changed
            });
        }
    }
}

/// Why this machine cannot submit jobs, if it cannot: Slurm's client commands are missing.
pub fn missing_commands() -> Option<String> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    let missing: Vec<&str> = ["sbatch", "squeue", "scancel"]
        .into_iter()
        .filter(|c| !std::env::split_paths(&path).any(|d| d.join(c).is_file()))
        .collect();
    (!missing.is_empty()).then(|| {
        format!("`{}` not found on PATH: run dagrun where Slurm's client commands work", missing.join("`, `"))
    })
}

/// Asks `squeue` about every job being waited for, once per poll interval.
async fn poller(s: Weak<Slurm>) {
    loop {
        let (ids, poll) = match s.upgrade() {
            Some(s) => (s.ids(), s.poll),
            None => return,
        };
        if ids.is_empty() {
            // `notify_one` leaves a permit when nobody waits: a job watched since `ids()`
            // wakes this at once.
            let Some(wake) = s.upgrade().map(|s| s.wake.clone()) else { return };
            wake.notified().await;
            continue;
        }
        for chunk in ids.chunks(IDS_PER_QUERY) {
            let result = squeue(chunk).await;
            let Some(s) = s.upgrade() else { return };
            // A failed query (the controller busy or restarting) changes nothing: jobs keep
            // running without it, and the next poll asks again.
            if let Ok(mut seen) = result {
                for id in chunk {
                    s.update(id, seen.remove(id).unwrap_or(JobState::Gone));
                }
            }
        }
        tokio::time::sleep(poll).await;
    }
}

/// One bulk query. A list of ids none of which Slurm knows any more is an error to `squeue`;
/// it means they are all gone.
async fn squeue(ids: &[String]) -> Result<HashMap<String, JobState>, String> {
    let out = tokio::process::Command::new("squeue")
        .args(["--noheader", "--states=all"])
        .arg(format!("--jobs={}", ids.join(",")))
        .args(["-O", "JobID:|,State:|,Reason:|,exit_code:|"])
        .stdin(std::process::Stdio::null())
        .kill_on_drop(true)
        .output()
        .await
        .map_err(|e| format!("cannot run `squeue`: {e}"))?;
    let stderr = String::from_utf8_lossy(&out.stderr);
    if !out.status.success() {
        if stderr.contains("Invalid job id") {
            return Ok(HashMap::new());
        }
        return Err(format!("`squeue` failed: {}", slurm_words(&stderr)));
    }
    Ok(parse_squeue(&String::from_utf8_lossy(&out.stdout)))
}

/// Lines of `JobID|State|Reason|exit_code|`.
fn parse_squeue(text: &str) -> HashMap<String, JobState> {
    let mut jobs = HashMap::new();
    for line in text.lines() {
        let mut f = line.split('|').map(str::trim);
        let (Some(id), Some(state), Some(reason)) = (f.next(), f.next(), f.next()) else { continue };
        let raw = f.next().and_then(|c| c.parse::<i32>().ok());
        if id.is_empty() || state.is_empty() {
            continue;
        }
        let (state, reason) = (state.to_owned(), reason.to_owned());
        let js = if ACTIVE.contains(&state.as_str()) {
            JobState::Active { state, reason }
        } else {
            JobState::Ended { state, reason, raw: raw.unwrap_or(0) }
        };
        jobs.insert(id.to_owned(), js);
    }
    jobs
}

/// Job states that are not final.
const ACTIVE: &[&str] = &[
    "PENDING",
    "RUNNING",
    "CONFIGURING",
    "COMPLETING",
    "SUSPENDED",
    "REQUEUED",
    "REQUEUE_FED",
    "REQUEUE_HOLD",
    "RESIZING",
    "SIGNALING",
    "STAGE_OUT",
    "STOPPED",
    "RESV_DEL_HOLD",
];

/// Slurm's own error lines, without the program prefixes.
fn slurm_words(stderr: &str) -> String {
    let lines: Vec<&str> = stderr
        .lines()
        .map(|l| {
            let l = l.trim();
            for p in ["sbatch: error: ", "squeue: error: ", "scancel: error: ", "error: "] {
                if let Some(rest) = l.strip_prefix(p) {
                    return rest;
                }
            }
            l
        })
        .filter(|l| !l.is_empty())
        .collect();
    if lines.is_empty() { "no message".to_owned() } else { lines.join("; ") }
}

/// Where an attempt's job script and exit status live: beside its log.
pub fn script_path(log: &Path) -> PathBuf {
    log.with_extension("sh")
}

fn status_path(log: &Path) -> PathBuf {
    log.with_extension("exit")
}

/// The job script: the task's environment and directory, its command with stdin from
/// /dev/null, and its exit status written (atomically) where dagrun will look for it.
pub fn job_script(a: &Attempt) -> Result<String, String> {
    let status = shell::quote(&status_path(&a.log).display().to_string())?;
    let mut s = String::from("#!/bin/sh\n");
    s.push_str(&format!("# dagrun task {}, attempt {}\n", a.task_id.escape_debug(), a.number));
    s.push_str(&format!(
        "dagrun_status() {{ printf '%s\\n' \"$1\" > {status}.tmp && mv -f {status}.tmp {status}; exit \"$1\"; }}\n"
    ));
    s.push_str(&shell::prelude(a, "dagrun_status 126")?);
    let out = match &a.stdout {
        Some(p) => format!(" > {}", shell::quote(&p.display().to_string())?),
        None => String::new(),
    };
    s.push_str(&format!("{} </dev/null{out}\n", shell::command(a)?));
    s.push_str("dagrun_status $?\n");
    Ok(s)
}

/// Slurm's `--time`: whole minutes, rounded up, as `days-hours:minutes:seconds`.
pub fn slurm_time(d: Duration) -> String {
    let mins = (d.as_nanos().div_ceil(60_000_000_000) as u64).max(1);
    let (days, rest) = (mins / (24 * 60), mins % (24 * 60));
    format!("{days}-{:02}:{:02}:00", rest / 60, rest % 60)
}

/// The `sbatch` command line for an attempt whose script is at `script`.
pub fn sbatch_args(def: &SlurmDef, a: &Attempt, slots: u32, script: &Path) -> Vec<String> {
    let log = a.log.display().to_string();
    let mut v = vec![
        "--parsable".to_owned(),
        format!("--job-name={}", job_name(&a.task_id)),
        format!("--comment={}", attempt_comment(&a.log)),
        format!("--output={log}"),
        format!("--error={log}"),
    ];
    if let Some(d) = &a.workdir {
        v.push(format!("--chdir={}", d.display()));
    }
    for (flag, val) in
        [("partition", &def.partition), ("account", &def.account), ("qos", &def.qos), ("mem", &def.mem)]
    {
        if let Some(val) = val {
            v.push(format!("--{flag}={val}"));
        }
    }
    if let Some(t) = def.time.or(a.timeout) {
        v.push(format!("--time={}", slurm_time(t)));
    }
    v.push(format!("--cpus-per-task={}", def.cpus_per_task.unwrap_or(slots)));
    v.extend(def.sbatch_args.iter().cloned());
    v.push(script.display().to_string());
    v
}

/// A job name Slurm shows in `squeue`: the task id, printable, not too long.
fn job_name(id: &str) -> String {
    let clean: String = id.chars().map(|c| if c.is_control() || c == ',' { '_' } else { c }).collect();
    let short: String = clean.chars().take(120).collect();
    format!("dagrun:{short}")
}

/// The comment that marks the job of the attempt whose log is `log` (an absolute path, unique to
/// one attempt of one state): `resume` finds by it a job whose id never reached the state (dagrun
/// killed between `sbatch` returning and the id being recorded).
fn attempt_comment(log: &Path) -> String {
    use sha2::Digest;
    let digest = sha2::Sha256::digest(log.as_os_str().as_encoded_bytes());
    let hex: String = digest[..12].iter().map(|b| format!("{b:02x}")).collect();
    format!("dagrun-attempt-{hex}")
}

/// The queued or running jobs of this user submitted for the attempts whose logs are `logs`,
/// by log. Asked once, synchronously (resume, before anything runs); `None` when `squeue`
/// cannot say.
pub fn jobs_of_attempts(logs: &[std::path::PathBuf]) -> Option<HashMap<std::path::PathBuf, String>> {
    let out = std::process::Command::new("squeue")
        .args(["--noheader", "--me", "-O", "JobID:|,Comment:|"])
        .stdin(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .output()
        .ok()
        .filter(|o| o.status.success())?;
    let by_comment: HashMap<String, String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| {
            let mut f = l.split('|').map(str::trim);
            Some((f.next()?.to_owned(), f.next()?.to_owned()))
        })
        .filter(|(id, c)| !id.is_empty() && c.starts_with("dagrun-attempt-"))
        .map(|(id, c)| (c, id))
        .collect();
    Some(
        logs.iter().filter_map(|l| Some((l.clone(), by_comment.get(&attempt_comment(l))?.clone()))).collect(),
    )
}

/// Submits an attempt; the job id, or Slurm's reason for refusing it.
async fn submit(def: &SlurmDef, a: &Attempt, slots: u32) -> Result<String, String> {
    let script = script_path(&a.log);
    let _ = std::fs::remove_file(status_path(&a.log));
    let text = job_script(a).map_err(|e| format!("cannot write the job script: {e}"))?;
    super::create_output(&script)
        .and_then(|mut f| std::io::Write::write_all(&mut f, text.as_bytes()))
        .map_err(|e| format!("cannot write the job script `{}`: {e}", script.display()))?;
    let out = tokio::process::Command::new("sbatch")
        .args(sbatch_args(def, a, slots, &script))
        .stdin(std::process::Stdio::null())
        .kill_on_drop(true)
        .output()
        .await
        .map_err(|e| format!("cannot run `sbatch`: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "sbatch refused the job: {}",
            slurm_words(&String::from_utf8_lossy(&out.stderr))
        ));
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let id = text.trim().split(';').next().unwrap_or("").trim();
    if id.is_empty() || !id.bytes().all(|b| b.is_ascii_digit() || b == b'_') {
        return Err(format!("sbatch printed no job id (it printed `{}`)", text.trim()));
    }
    Ok(id.to_owned())
}

async fn scancel(job: &str) -> Result<(), String> {
    let out = tokio::process::Command::new("scancel")
        .arg(job)
        .stdin(std::process::Stdio::null())
        .kill_on_drop(true)
        .output()
        .await
        .map_err(|e| format!("cannot run `scancel`: {e}"))?;
    if out.status.success() { Ok(()) } else { Err(slurm_words(&String::from_utf8_lossy(&out.stderr))) }
}

/// The exit status the job script wrote, if it did.
fn read_status(log: &Path) -> Option<i32> {
    std::fs::read_to_string(status_path(log)).ok()?.trim().parse().ok()
}

/// Waits a while for the exit status of a job that ended to show up.
async fn wait_status(log: &Path, cancel: &CancelRx, patience: Duration) -> Option<i32> {
    let until = Instant::now() + patience;
    loop {
        if let Some(c) = read_status(log) {
            return Some(c);
        }
        if Instant::now() >= until || *cancel.borrow() == Cancel::Kill {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Why dagrun stopped a job, if it did.
#[derive(Clone, Copy, PartialEq)]
enum Stop {
    Cancel,
    Timeout,
}

/// Runs one attempt as a job: submits it (or, with `attach`, follows a job submitted earlier),
/// tells `submitted` its id, and waits for it to end.
pub async fn run(
    a: &Attempt,
    slurm: &Slurm,
    slots: u32,
    attach: Option<String>,
    submitted: impl FnOnce(String),
    mut cancel: CancelRx,
) -> AttemptEnd {
    if *cancel.borrow() != Cancel::None && attach.is_none() {
        return AttemptEnd::Cancelled;
    }
    let job = match attach {
        Some(j) => j,
        None => {
            let submit = async {
                let _turn = slurm.calls.acquire().await;
                submit(&slurm.def, a, slots).await
            };
            tokio::pin!(submit);
            let r = tokio::select! {
                r = &mut submit => r,
                _ = super::cancelled(&mut cancel, Cancel::Terminate) => return AttemptEnd::Cancelled,
            };
            match r {
                Ok(j) => j,
                Err(why) => return AttemptEnd::NotStarted(why),
            }
        }
    };
    submitted(job.clone());
    let mut rx = slurm.watch(&job);
    let end = follow(a, slurm, &job, &mut rx, &mut cancel).await;
    slurm.forget(&job);
    end
}

async fn follow(
    a: &Attempt,
    slurm: &Slurm,
    job: &str,
    rx: &mut watch::Receiver<JobState>,
    cancel: &mut CancelRx,
) -> AttemptEnd {
    let mut deadline: Option<Instant> = None;
    let mut stop: Option<Stop> = None;
    loop {
        let state = rx.borrow_and_update().clone();
        if deadline.is_none() && state.running() {
            deadline = a.timeout.map(|t| Instant::now() + t);
        }
        match state {
            JobState::Unknown | JobState::Active { .. } => {}
            JobState::Ended { state, reason, raw } => {
                return ended(a, job, (&state, &reason, raw), stop, cancel, STATUS_WAIT).await;
            }
            JobState::Gone => {
                return match (stop, read_status(&a.log)) {
                    (Some(Stop::Cancel), _) => AttemptEnd::Cancelled,
                    (Some(Stop::Timeout), _) => AttemptEnd::TimedOut(a.timeout.unwrap_or_default()),
                    (None, Some(c)) => AttemptEnd::Exited(c),
                    (None, None) => AttemptEnd::Lost(format!(
                        "slurm no longer knows job {job} and it left no exit status in `{}`",
                        status_path(&a.log).display()
                    )),
                };
            }
        }
        let expiry = async {
            match deadline {
                Some(d) if stop.is_none() => tokio::time::sleep_until(d).await,
                _ => std::future::pending().await,
            }
        };
        // Once cancelled, only a hard stop (a second Ctrl-C) is news.
        let level = if stop == Some(Stop::Cancel) { Cancel::Kill } else { Cancel::Terminate };
        let cancelled = super::cancelled(cancel, level);
        tokio::select! {
            changed = rx.changed() => {
                if changed.is_err() {
                    return AttemptEnd::Lost(format!("lost track of slurm job {job}"));
                }
            }
            _ = expiry => {
                stop = Some(Stop::Timeout);
                if let Err(why) = slurm.scancel(job).await {
                    return AttemptEnd::Failed(format!("timed out, and `scancel {job}` failed: {why}"));
                }
            }
            _ = cancelled => {
                let again = stop == Some(Stop::Cancel);
                stop = Some(Stop::Cancel);
                let r = if again { Ok(()) } else { slurm.scancel(job).await };
                if *cancel.borrow() == Cancel::Kill || r.is_err() {
                    return AttemptEnd::Cancelled;
                }
            }
        }
    }
}

/// How a job that Slurm says has ended went for the task.
async fn ended(
    a: &Attempt,
    job: &str,
    (state, reason, raw): (&str, &str, i32),
    stop: Option<Stop>,
    cancel: &CancelRx,
    patience: Duration,
) -> AttemptEnd {
    let words = |what: &str| {
        if reason.is_empty() || reason == "None" {
            format!("slurm job {job} {what} ({state})")
        } else {
            format!("slurm job {job} {what} ({state}: {reason})")
        }
    };
    match (state, stop) {
        (_, Some(Stop::Cancel)) => AttemptEnd::Cancelled,
        (_, Some(Stop::Timeout)) => AttemptEnd::TimedOut(a.timeout.unwrap_or_default()),
        ("TIMEOUT", None) => AttemptEnd::Failed(words("ran past its time limit")),
        ("CANCELLED", None) => AttemptEnd::Failed(words("was cancelled outside dagrun")),
        ("NODE_FAIL" | "PREEMPTED" | "BOOT_FAIL", None) => AttemptEnd::Lost(words("lost its node")),
        ("OUT_OF_MEMORY", None) => AttemptEnd::Failed(words("ran out of memory")),
        ("COMPLETED" | "FAILED", None) => match wait_status(&a.log, cancel, patience).await {
            Some(c) => AttemptEnd::Exited(c),
            None if raw & 0x7f != 0 => AttemptEnd::Signaled(raw & 0x7f),
            None if raw >> 8 != 0 => AttemptEnd::Exited(raw >> 8),
            None => AttemptEnd::Failed(format!(
                "slurm job {job} ended ({state}) but its exit status never appeared in `{}`: is the run directory on a filesystem the nodes share?",
                status_path(&a.log).display()
            )),
        },
        _ => AttemptEnd::Failed(words("ended")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::task::Command;

    #[test]
    fn squeue_lines_become_states() {
        let jobs =
            parse_squeue("7|RUNNING|None|0|\n8|FAILED|NonZeroExitCode|768|\n9|PENDING|Priority||\njunk\n");
        assert_eq!(jobs["7"], JobState::Active { state: "RUNNING".into(), reason: "None".into() });
        assert_eq!(
            jobs["8"],
            JobState::Ended { state: "FAILED".into(), reason: "NonZeroExitCode".into(), raw: 768 }
        );
        assert!(!jobs["9"].running());
        assert_eq!(jobs.len(), 3);
    }

    #[test]
    fn time_limits_round_up_to_whole_minutes() {
        assert_eq!(slurm_time(Duration::from_secs(1)), "0-00:01:00");
        assert_eq!(slurm_time(Duration::from_secs(60)), "0-00:01:00");
        assert_eq!(slurm_time(Duration::from_secs(61)), "0-00:02:00");
        assert_eq!(slurm_time(Duration::from_secs(26 * 3600)), "1-02:00:00");
    }

    fn attempt(log: PathBuf) -> Attempt {
        Attempt {
            task_id: "t".into(),
            number: 1,
            cmd: Command::Shell("true".into()),
            env: vec![],
            workdir: None,
            timeout: None,
            log,
            stdout: None,
            grace: Duration::from_secs(1),
        }
    }

    fn end_of(a: &Attempt, state: &str, raw: i32) -> AttemptEnd {
        let (_tx, rx) = watch::channel(Cancel::None);
        let rt = tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap();
        rt.block_on(ended(a, "42", (state, "None", raw), None, &rx, Duration::ZERO))
    }

    #[test]
    fn a_job_without_its_exit_status_says_the_run_directory_may_not_be_shared() {
        let dir = tempfile::tempdir().unwrap();
        let a = attempt(dir.path().join("t.1.log"));
        match end_of(&a, "COMPLETED", 0) {
            AttemptEnd::Failed(m) => {
                assert!(
                    m.contains("slurm job 42 ended (COMPLETED) but its exit status never appeared"),
                    "{m}"
                );
                assert!(m.contains("is the run directory on a filesystem the nodes share?"), "{m}");
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(end_of(&a, "FAILED", 3 << 8), AttemptEnd::Exited(3));
        assert_eq!(end_of(&a, "FAILED", 9), AttemptEnd::Signaled(9));
        std::fs::write(dir.path().join("t.1.exit"), "5\n").unwrap();
        assert_eq!(end_of(&a, "FAILED", 1 << 8), AttemptEnd::Exited(5), "the script's own status wins");
        assert!(
            matches!(end_of(&a, "NODE_FAIL", 0), AttemptEnd::Lost(m) if m.contains("lost its node (NODE_FAIL)"))
        );
        assert!(
            matches!(end_of(&a, "OUT_OF_MEMORY", 0), AttemptEnd::Failed(m) if m.contains("ran out of memory"))
        );
    }

    #[test]
    fn slurm_errors_lose_their_prefixes() {
        let e = "sbatch: error: invalid partition specified: nope\nsbatch: error: Batch job submission failed: Invalid partition name specified\n";
        assert_eq!(
            slurm_words(e),
            "invalid partition specified: nope; Batch job submission failed: Invalid partition name specified"
        );
    }
}
