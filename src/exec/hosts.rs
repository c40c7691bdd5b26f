//! The hosts of one `ssh` executor: their master connections, slots in use, and which are down.
//! Placement picks the least-loaded host (by share of its slots in use) that has room.

use super::ssh::{HostConn, Master};
use crate::model::{ExecutorDef, ExecutorKind};
use std::sync::Arc;

struct PoolHost {
    conn: Arc<HostConn>,
    slots: u32,
    used: u32,
    masters: Vec<Arc<Master>>,
    /// Sessions open on each master.
    sessions: Vec<u32>,
    /// Sessions one master may carry (lowered when the server refuses one).
    max_sessions: u32,
    down: Option<String>,
}

/// Where an attempt runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Placement {
    pub host: usize,
    pub master: usize,
}

pub struct HostPool {
    hosts: Vec<PoolHost>,
    /// Private directory of the control sockets (short path: sockets have a length limit).
    _control: tempfile::TempDir,
}

impl HostPool {
    pub fn new(def: &ExecutorDef) -> std::io::Result<HostPool> {
        let ExecutorKind::Ssh { hosts, config, identity_file, options, max_sessions } = &def.kind else {
            return Err(std::io::Error::other("not an ssh executor"));
        };
        let control = tempfile::Builder::new().prefix("dagrun-ssh.").tempdir_in("/tmp")?;
        // Removed by the reaper if dagrun is killed before it can remove it.
        super::reaper::register_dir(control.path());
        let hosts = hosts
            .iter()
            .enumerate()
            .map(|(i, h)| {
                let conn = Arc::new(HostConn::new(
                    h,
                    i,
                    config.as_deref(),
                    identity_file.as_deref(),
                    options,
                    control.path(),
                ));
                let n = h.slots.div_ceil(*max_sessions).max(1) as usize;
                PoolHost {
                    masters: (0..n).map(|k| Arc::new(conn.master(k))).collect(),
                    sessions: vec![0; n],
                    conn,
                    slots: h.slots,
                    used: 0,
                    max_sessions: *max_sessions,
                    down: None,
                }
            })
            .collect();
        Ok(HostPool { hosts, _control: control })
    }

    /// Opens every master connection at once. Returns the hosts that could not be reached,
    /// with ssh's reason; they are marked down.
    pub async fn connect(&mut self) -> Vec<(String, String)> {
        let mut set = tokio::task::JoinSet::new();
        for (h, host) in self.hosts.iter().enumerate() {
            for m in &host.masters {
                let m = m.clone();
                set.spawn(async move { (h, m.open().await) });
            }
        }
        let mut failed = Vec::new();
        while let Some(r) = set.join_next().await {
            if let Ok((h, Err(why))) = r {
                if self.mark_down(h, &why) {
                    failed.push((self.hosts[h].conn.name.clone(), why));
                }
            }
        }
        failed
    }

    /// The least-loaded host with `slots` free, and a master with a free session.
    pub fn place(&mut self, slots: u32) -> Option<Placement> {
        let mut best: Option<(u64, usize)> = None;
        for (i, h) in self.hosts.iter().enumerate() {
            if h.down.is_some() || h.slots - h.used < slots {
                continue;
            }
            if !h.sessions.iter().any(|&s| s < h.max_sessions) {
                continue;
            }
            // Compare used/slots without floats: used * LCM-free cross-multiplication.
            let load = ((h.used as u64) << 32) / h.slots.max(1) as u64;
            if best.is_none_or(|(b, _)| load < b) {
                best = Some((load, i));
            }
        }
        let (_, i) = best?;
        let h = &mut self.hosts[i];
        let m = (0..h.sessions.len())
            .filter(|&k| h.sessions[k] < h.max_sessions)
            .min_by_key(|&k| h.sessions[k])?;
        h.used += slots;
        h.sessions[m] += 1;
        Some(Placement { host: i, master: m })
    }

    pub fn release(&mut self, p: Placement, slots: u32) {
        let h = &mut self.hosts[p.host];
        h.used = h.used.saturating_sub(slots);
        h.sessions[p.master] = h.sessions[p.master].saturating_sub(1);
    }

    /// The server refused a session: carry one fewer per master from now on.
    pub fn back_off(&mut self, p: Placement) {
        let h = &mut self.hosts[p.host];
        h.max_sessions = h.max_sessions.saturating_sub(1).max(1);
    }

    /// Marks a host down; true the first time (so it is reported once).
    pub fn mark_down(&mut self, host: usize, why: &str) -> bool {
        let h = &mut self.hosts[host];
        if h.down.is_some() {
            return false;
        }
        h.down = Some(why.to_owned());
        true
    }

    /// When every host is down: why, host by host.
    pub fn all_down(&self) -> Option<String> {
        if self.hosts.iter().all(|h| h.down.is_some()) {
            let why: Vec<String> = self
                .hosts
                .iter()
                .map(|h| format!("{}: {}", h.conn.name, h.down.as_deref().unwrap_or("")))
                .collect();
            Some(why.join("; "))
        } else {
            None
        }
    }

    pub fn master(&self, p: Placement) -> Arc<Master> {
        self.hosts[p.host].masters[p.master].clone()
    }

    pub fn host_name(&self, p: Placement) -> &str {
        &self.hosts[p.host].conn.name
    }
}

impl Drop for HostPool {
    fn drop(&mut self) {
        for h in &self.hosts {
            for m in &h.masters {
                m.close();
            }
        }
        super::reaper::unregister_dir(self._control.path());
    }
}
