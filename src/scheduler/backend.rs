//! Where one executor's tasks go: the scheduler asks its backend to place a task (a free slot,
//! a host), launches the attempt there, and releases the place when the attempt ends.

use crate::exec::hosts::{HostPool, Placement};
use crate::exec::slurm::Slurm;
use crate::exec::{self, Attempt, AttemptEnd, CancelRx};
use crate::model::{ExecutorDef, ExecutorKind};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc::UnboundedSender;
use tokio::task::JoinSet;

/// What an attempt that ended reports, to `JoinSet::join_next`.
pub(super) type Ended = (u32, AttemptEnd, Option<exec::Usage>);

pub(super) enum Backend {
    /// `free` slots of this machine.
    Local { free: u32 },
    /// SSH hosts, connected when the first task of the executor is placed.
    Ssh { def: ExecutorDef, pool: Option<HostPool> },
    /// `free` jobs in flight; `missing` names Slurm commands not on PATH.
    Slurm { slurm: Arc<Slurm>, free: u32, missing: Option<String> },
}

/// The answer to "where can this task run now".
pub(super) enum Place {
    /// Here (a host of an ssh executor, or nothing more to say).
    At(Option<Placement>),
    /// Not now: the task waits at the head of its queue for a slot.
    Full,
    /// Never: the task fails with this reason.
    Refused(String),
}

/// What releasing a place found out.
#[derive(Default)]
pub(super) struct Released {
    /// A host that is down from now on, and why (reported once).
    pub host_down: Option<(String, String)>,
    /// The server refused the session: try the attempt again after this, elsewhere or later.
    pub retry_after: Option<Duration>,
}

impl Backend {
    /// The backend of executor `def`; `jobs` is `-j`, the local parallelism where the workflow
    /// does not set it; `no_slurm` why Slurm's commands cannot be used, if they cannot.
    pub fn new(def: &ExecutorDef, jobs: Option<u32>, no_slurm: &Option<String>) -> Backend {
        match &def.kind {
            ExecutorKind::Local { slots_given: false } => {
                Backend::Local { free: jobs.map_or(def.slots, |j| j.max(1)) }
            }
            ExecutorKind::Local { .. } => Backend::Local { free: def.slots },
            ExecutorKind::Ssh { .. } => Backend::Ssh { def: def.clone(), pool: None },
            ExecutorKind::Slurm(s) => {
                Backend::Slurm { slurm: Slurm::start(s.clone()), free: def.slots, missing: no_slurm.clone() }
            }
        }
    }

    /// Opens an ssh executor's connections; the hosts found down, with why.
    pub async fn connect(&mut self) -> anyhow::Result<Vec<(String, String)>> {
        match self {
            Backend::Ssh { def, pool: pool @ None } => {
                let mut p = HostPool::new(def)?;
                let down = p.connect().await;
                *pool = Some(p);
                Ok(down)
            }
            _ => Ok(Vec::new()),
        }
    }

    pub fn is_unconnected_ssh(&self) -> bool {
        matches!(self, Backend::Ssh { pool: None, .. })
    }

    /// Finds room for a task taking `slots`, taking it if there is.
    pub fn place(&mut self, executor: &str, slots: u32) -> Place {
        match self {
            Backend::Local { free } => take(free, slots),
            Backend::Slurm { missing: Some(why), .. } => {
                Place::Refused(format!("executor `{executor}` cannot submit jobs: {why}"))
            }
            // A Slurm job is one job in flight whatever its CPUs.
            Backend::Slurm { free, .. } => take(free, 1),
            Backend::Ssh { pool: None, .. } => Place::Full,
            Backend::Ssh { pool: Some(pool), .. } => {
                if let Some(why) = pool.all_down() {
                    return Place::Refused(format!(
                        "no host of executor `{executor}` can be reached ({why})"
                    ));
                }
                pool.place(slots).map_or(Place::Full, |p| Place::At(Some(p)))
            }
        }
    }

    /// The name of the host at `p`.
    pub fn host_name(&self, p: Option<Placement>) -> Option<String> {
        match (self, p) {
            (Backend::Ssh { pool: Some(pool), .. }, Some(p)) => Some(pool.host_name(p).to_owned()),
            _ => None,
        }
    }

    /// Starts attempt `a` of task `task` at `at`. A Slurm job's id goes to `submitted` as soon
    /// as it is known; `attach` is a job of an earlier run to follow instead of submitting.
    #[allow(clippy::too_many_arguments)]
    pub fn launch(
        &self,
        set: &mut JoinSet<Ended>,
        task: u32,
        a: Attempt,
        at: Option<Placement>,
        slots: u32,
        attach: Option<String>,
        submitted: &UnboundedSender<(u32, u32, String)>,
        cancel: CancelRx,
    ) {
        match (self, at) {
            (Backend::Slurm { slurm, .. }, _) => {
                let (s, tx, number) = (slurm.clone(), submitted.clone(), a.number);
                let told = move |job| {
                    let _ = tx.send((task, number, job));
                };
                set.spawn(async move {
                    (task, exec::slurm::run(&a, &s, slots, attach, told, cancel).await, None)
                });
            }
            (Backend::Ssh { pool: Some(pool), .. }, Some(p)) => {
                let m = pool.master(p);
                set.spawn(async move { (task, exec::ssh::run(&a, &m, cancel).await, None) });
            }
            _ => {
                set.spawn(async move {
                    let (end, usage) = exec::local::run(&a, cancel).await;
                    (task, end, usage)
                });
            }
        }
    }

    /// Gives back the place of an attempt that ended with `end`. `stopping`: the run stops, so
    /// nothing is to be tried again.
    pub fn release(
        &mut self,
        at: Option<Placement>,
        slots: u32,
        end: &AttemptEnd,
        stopping: bool,
    ) -> Released {
        let mut r = Released::default();
        match (self, at) {
            (Backend::Ssh { pool: Some(pool), .. }, Some(p)) => {
                pool.release(p, slots);
                if let AttemptEnd::Lost(why) = end {
                    if pool.mark_down(p.host, why) {
                        r.host_down = Some((pool.host_name(p).to_owned(), why.clone()));
                    }
                }
                if matches!(end, AttemptEnd::Refused(_)) && !stopping {
                    pool.back_off(p);
                    r.retry_after = Some(Duration::from_millis(200));
                }
            }
            (Backend::Local { free }, _) => *free += slots,
            (Backend::Slurm { free, .. }, _) => *free += 1,
            (Backend::Ssh { .. }, _) => {}
        }
        r
    }
}

fn take(free: &mut u32, n: u32) -> Place {
    if *free < n {
        return Place::Full;
    }
    *free -= n;
    Place::At(None)
}
