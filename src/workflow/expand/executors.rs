//! The `executors` table: each definition checked and turned into an `ExecutorDef`.

use super::Expander;
use crate::diag::Diagnostic;
use crate::model::{ExecutorDef, ExecutorKind, Host, SlurmDef, parse_duration};
use crate::workflow::spec::{ExecutorSpec, HostSpec, SlurmSpec, SshSpec, WorkflowSpec};
use indexmap::IndexMap;

impl Expander<'_> {
    pub(super) fn executors(&mut self, spec: &WorkflowSpec) -> IndexMap<String, ExecutorDef> {
        let cpus = std::thread::available_parallelism().map_or(1, |n| n.get()) as u32;
        let mut defs = IndexMap::new();
        defs.insert(
            "local".to_owned(),
            ExecutorDef {
                name: "local".into(),
                slots: cpus,
                kind: ExecutorKind::Local { slots_given: false },
            },
        );
        for (name, e) in &spec.executors {
            let field = format!("executors.{name}");
            let def = match e {
                ExecutorSpec::Local(l) => ExecutorDef {
                    name: name.as_str().into(),
                    slots: self.slots_of(&field, l.slots, cpus, "`slots`"),
                    kind: ExecutorKind::Local { slots_given: l.slots.is_some() },
                },
                ExecutorSpec::Ssh(s) => self.ssh_executor(name, &field, s),
                ExecutorSpec::Slurm(s) => self.slurm_executor(name, &field, s),
            };
            if name == "local" && !matches!(def.kind, ExecutorKind::Local { .. }) {
                self.diags
                    .push(self.diag("the executor `local` must have `type: local`").field(field.clone()));
            }
            defs.insert(name.clone(), def);
        }
        defs
    }

    /// `slots`-like count `v` of the executor at `field` (`what` names it in the message): at
    /// least 1, `default` when not given.
    fn slots_of(&mut self, field: &str, v: Option<i64>, default: u32, what: &str) -> u32 {
        match v {
            None => default,
            Some(n) if n >= 1 && n <= u32::MAX as i64 => n as u32,
            Some(n) => {
                self.diags.push(
                    Diagnostic::new(self.file, format!("{what} must be at least 1, found {n}")).field(field),
                );
                1
            }
        }
    }

    fn ssh_executor(&mut self, name: &str, field: &str, s: &SshSpec) -> ExecutorDef {
        let per_host = self.slots_of(field, s.slots, 1, "`slots`");
        let max_sessions = self.slots_of(field, s.max_sessions, 10, "`max_sessions`");
        let hosts: Vec<Host> = s
            .hosts
            .iter()
            .map(|h| match h {
                HostSpec::Name(n) => Host { name: n.clone(), user: None, port: None, slots: per_host },
                HostSpec::Detailed(d) => Host {
                    name: d.host.clone(),
                    user: d.user.clone(),
                    port: d.port,
                    slots: self.slots_of(field, d.slots, per_host, "host `slots`"),
                },
            })
            .collect();
        for h in &hosts {
            if h.name.is_empty()
                || h.name.starts_with('-')
                || h.name.chars().any(|c| c.is_whitespace() || c.is_control())
            {
                self.diags.push(
                    self.diag(format!("`{}` is not a host name", h.name.escape_debug()))
                        .field(format!("{field}.hosts")),
                );
            }
        }
        if hosts.is_empty() {
            self.diags.push(
                self.diag("an ssh executor needs at least one host in `hosts`")
                    .field(format!("{field}.hosts")),
            );
        }
        let slots = hosts.iter().map(|h| h.slots).sum::<u32>().max(1);
        ExecutorDef {
            name: name.into(),
            slots,
            kind: ExecutorKind::Ssh {
                hosts,
                config: s.config.clone(),
                identity_file: s.identity_file.clone(),
                options: s.options.clone(),
                max_sessions,
            },
        }
    }

    fn slurm_executor(&mut self, name: &str, field: &str, s: &SlurmSpec) -> ExecutorDef {
        let slots = self.slots_of(field, s.slots, 100, "`slots`");
        let cpus_per_task = s.cpus_per_task.map(|c| self.slots_of(field, Some(c), 1, "`cpus_per_task`"));
        let time = s.time.as_deref().and_then(|t| match parse_duration(t) {
            Ok(d) if !d.is_zero() => Some(d),
            Ok(_) => {
                self.diags.push(
                    self.diag("a job time limit must be longer than zero").field(format!("{field}.time")),
                );
                None
            }
            Err(m) => {
                self.diags.push(self.diag(m).field(format!("{field}.time")));
                None
            }
        });
        for (what, v) in
            [("partition", &s.partition), ("account", &s.account), ("qos", &s.qos), ("mem", &s.mem)]
        {
            if let Some(m) = v.as_deref().and_then(|v| check_slurm_word(v).err()) {
                self.diags.push(self.diag(m).field(format!("{field}.{what}")));
            }
        }
        ExecutorDef {
            name: name.into(),
            slots,
            kind: ExecutorKind::Slurm(SlurmDef {
                partition: s.partition.clone(),
                account: s.account.clone(),
                qos: s.qos.clone(),
                time,
                cpus_per_task,
                mem: s.mem.clone(),
                sbatch_args: s.sbatch_args.clone(),
            }),
        }
    }
}

/// Parses `500ms`, `30s`, `10m`, `2h`, `1h 30m`.
/// A value passed to `sbatch` as `--name=value`: one word a user would write there.
fn check_slurm_word(v: &str) -> Result<(), String> {
    if v.is_empty() || v.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(format!("`{}` is not a value sbatch takes: it must be one word", v.escape_debug()));
    }
    Ok(())
}
