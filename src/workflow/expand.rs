//! Expansion: a parsed `WorkflowSpec` plus parameter overrides becomes a flat list of `Task`s,
//! every template rendered and every matrix multiplied out, in a deterministic order.
//!
//! Problems are collected, not returned early, so `validate` can report them all. A failing
//! field stops that task spec's expansion after its first bad instance: one mistake in a
//! million-instance matrix is one message, not a million.

use super::after::AfterLists;
use super::load::{Format, locate_in_field, locate_task};
use super::spec::{
    CmdSpec, ExecutorSpec, HostSpec, MatrixAxis, Scalar, TaskDefaults, TaskSpec, WorkflowSpec,
};
use super::template::{self, InstanceContext, Tpl, plain_string};
use crate::diag::{Diagnostic, suggest};
use crate::model::{ExecutorDef, ExecutorKind, Host, SlurmDef, parse_duration};
use crate::task::{Command, Task, When};
use indexmap::IndexMap;
use minijinja::Value;
use std::sync::Arc;
use std::time::Duration;

/// Names the template context reserves; params may not use them.
const RESERVED: [&str; 3] = ["env", "task", "workflow"];

/// The expanded workflow, before dependencies are resolved.
pub struct Expanded {
    pub name: String,
    pub params: IndexMap<String, serde_json::Value>,
    pub env: Vec<(String, String)>,
    pub executors: IndexMap<String, ExecutorDef>,
    pub tasks: Vec<Task>,
    /// Rendered `after` entries of each task, by task index.
    pub after: AfterLists,
    /// Each base name with its instances' index range, in file order.
    pub bases: Vec<(Arc<str>, std::ops::Range<usize>)>,
    /// The workflow's `defaults`, kept for tasks generators add later.
    pub defaults: super::spec::TaskDefaults,
    pub max_tasks: usize,
}

impl Expanded {
    /// A workflow without tasks yet, which a generator's output is expanded after.
    pub fn head(
        name: String,
        params: IndexMap<String, serde_json::Value>,
        executors: IndexMap<String, ExecutorDef>,
        defaults: TaskDefaults,
        max_tasks: usize,
    ) -> Expanded {
        Expanded {
            name,
            params,
            env: Vec::new(),
            executors,
            tasks: Vec::new(),
            after: AfterLists::default(),
            bases: Vec::new(),
            defaults,
            max_tasks,
        }
    }
}

/// A matrix key and its values, each with its string form for ids.
type Axis = (Arc<str>, Vec<(Value, String)>);

pub struct Expander<'a> {
    pub file: &'a str,
    pub text: &'a str,
    pub format: Format,
    /// The most tasks the whole plan may have (`--max-tasks`).
    pub max_tasks: usize,
    /// Tasks the plan has already (those before a generator's output; 0 for a workflow file).
    pub existing: usize,
    /// Prefix for generated tasks (`gen/`), empty for a workflow file.
    pub namespace: &'a str,
    pub diags: Vec<Diagnostic>,
}

impl<'a> Expander<'a> {
    fn diag(&self, msg: impl Into<String>) -> Diagnostic {
        Diagnostic::new(self.file, msg)
    }

    fn task_diag(&self, task: &str, field: &str, msg: impl Into<String>) -> Diagnostic {
        let pos = if self.diags.len() < 200 { locate_task(self.text, self.format, task) } else { None };
        self.diag(msg).task(task).field(field).at(pos)
    }

    /// A problem of a template at byte `offset` of its text `src`: located there in the file
    /// where the text can be found, else at the task.
    fn template_diag(&self, task: &str, field: &str, msg: String, at: Option<(&str, usize)>) -> Diagnostic {
        let pos = at
            .filter(|_| self.diags.len() < 200)
            .and_then(|(src, offset)| locate_in_field(self.text, self.format, task, src, offset));
        match pos {
            Some(p) => self.diag(msg).task(task).field(field).at(Some(p)),
            None => self.task_diag(task, field, msg),
        }
    }

    /// Applies `-p key=value` overrides to the declared params, then renders each declared
    /// string param that is a template (`cflags: "-O2 {{ extra }}"`) over the params before it.
    /// A `-p` value is data and is never rendered.
    pub fn params(
        &mut self,
        declared: &IndexMap<String, serde_json::Value>,
        overrides: &[(String, serde_json::Value)],
        workflow: &str,
    ) -> Result<IndexMap<String, serde_json::Value>, String> {
        let mut params = declared.clone();
        let mut given = vec![false; params.len()];
        for (k, v) in overrides {
            match params.get_full_mut(k) {
                Some((i, _, slot)) => {
                    *slot = typed_override(k, slot, v)?;
                    given[i] = true;
                }
                None => {
                    let known: Vec<String> = declared.keys().map(|k| format!("`{k}`")).collect();
                    let known = if known.is_empty() { "none".to_owned() } else { known.join(", ") };
                    return Err(format!(
                        "`-p {k}=...`: the workflow declares no param `{k}` (declared: {known})"
                    ));
                }
            }
        }
        for k in params.keys() {
            if RESERVED.contains(&k.as_str()) {
                self.diags.push(
                    self.diag(format!("param `{k}` shadows a name dagrun provides to templates; rename it"))
                        .field(format!("params.{k}")),
                );
            }
        }
        self.render_params(&mut params, &given, workflow);
        Ok(params)
    }

    /// Renders the declared string params that hold template syntax, in order, each over the
    /// params before it (a later or unknown name is undefined, so there is no cycle).
    fn render_params(
        &mut self,
        params: &mut IndexMap<String, serde_json::Value>,
        given: &[bool],
        workflow: &str,
    ) {
        let jinja = template::environment(self.max_tasks);
        for i in 0..params.len() {
            let text = match &params[i] {
                serde_json::Value::String(s) if !given[i] && (s.contains("{{") || s.contains("{%")) => {
                    s.clone()
                }
                _ => continue,
            };
            let before: IndexMap<String, serde_json::Value> =
                params.iter().take(i).map(|(k, v)| (k.clone(), v.clone())).collect();
            let ctx = template::base_context(&before, workflow);
            match Tpl::new(&jinja, &text).and_then(|t| t.render(&ctx)) {
                Ok(v) => params[i] = serde_json::Value::String(v),
                Err(e) => {
                    let name = params.get_index(i).map(|(k, _)| k.clone()).unwrap_or_default();
                    let mut m = template::message(&e);
                    if params
                        .get_index_of(m.trim_start_matches("undefined name `").trim_end_matches('`'))
                        .is_some_and(|j| j > i)
                    {
                        m.push_str(" (a param may use only the params declared before it)");
                    }
                    self.diags.push(self.diag(m).field(format!("params.{name}")));
                }
            }
        }
    }

    pub fn expand(
        &mut self,
        spec: &WorkflowSpec,
        name: String,
        params: IndexMap<String, serde_json::Value>,
    ) -> Expanded {
        let jinja = template::environment(self.max_tasks);
        let base = template::base_context(&params, &name);
        let head = self.expand_head(&jinja, &base, spec, name, params);
        self.expand_tasks(&jinja, &base, &spec.tasks, &spec.defaults, head)
    }

    /// Everything but the tasks: the workflow's `env` and executors.
    pub(super) fn expand_head(
        &mut self,
        jinja: &minijinja::Environment<'static>,
        base: &Value,
        spec: &WorkflowSpec,
        name: String,
        params: IndexMap<String, serde_json::Value>,
    ) -> Expanded {
        crate::budget::naming(self.file, None);
        let mut env = Vec::with_capacity(spec.env.len());
        for (k, v) in &spec.env {
            if let Err(m) = check_env_name(k) {
                self.diags.push(self.diag(m).field(format!("env.{k}")));
                continue;
            }
            match Tpl::new(jinja, &v.0).and_then(|t| t.render(base)) {
                Ok(s) if s.contains('\0') => {
                    self.diags.push(self.diag("value contains a NUL byte").field(format!("env.{k}")))
                }
                Ok(s) => env.push((k.clone(), s)),
                Err(e) => self.diags.push(self.diag(template::message(&e)).field(format!("env.{k}"))),
            }
        }

        let executors = self.executors(spec);
        Expanded {
            name,
            params,
            env,
            executors,
            tasks: Vec::new(),
            after: AfterLists::default(),
            bases: Vec::new(),
            defaults: spec.defaults.clone(),
            max_tasks: self.max_tasks,
        }
    }

    /// Expands a generator's output: its tasks, under `self.namespace`, after `head` (the
    /// workflow's name, params, executors and defaults, without tasks; see `Expanded::head`).
    pub fn expand_fragment(&mut self, tasks: &IndexMap<String, TaskSpec>, head: Expanded) -> Expanded {
        let jinja = template::environment(self.max_tasks);
        let base = template::base_context(&head.params, &head.name);
        let defaults = head.defaults.clone();
        self.expand_tasks(&jinja, &base, tasks, &defaults, head)
    }

    /// Appends the instances of `tasks` to `out`.
    pub(super) fn expand_tasks(
        &mut self,
        jinja: &minijinja::Environment<'static>,
        base: &Value,
        tasks: &IndexMap<String, TaskSpec>,
        defaults: &TaskDefaults,
        mut out: Expanded,
    ) -> Expanded {
        let mut over = false;
        // Each spec gives one task or more: for files without matrices, the exact count.
        out.tasks.reserve(tasks.len());
        out.after.reserve(tasks.len());
        out.bases.reserve(tasks.len());
        let local: Arc<str> = out.executors.get("local").map_or_else(|| "local".into(), |e| e.name.clone());
        for (tname, tspec) in tasks {
            let start = out.tasks.len();
            // A matrix checks its own size; one message for the first plain task past the limit.
            if tspec.matrix.is_empty() && !over && self.existing.saturating_add(start) >= self.max_tasks {
                over = true;
                let msg = format!("makes {}", self.over_limit());
                self.diags.push(self.task_diag(tname, "name", msg));
            }
            let full: Arc<str> = if self.namespace.is_empty() {
                tname.as_str().into()
            } else {
                format!("{}{}", self.namespace, tname).into()
            };
            self.expand_task(jinja, base, defaults, tname, &full, &local, tspec, &mut out);
            out.bases.push((full, start..out.tasks.len()));
        }
        out
    }

    fn over_limit(&self) -> String {
        let already = match self.existing {
            0 => String::new(),
            n => format!(", counting the {n} the run has already"),
        };
        format!("more than the limit of {} tasks{already} (raise it with `--max-tasks`)", self.max_tasks)
    }

    fn executors(&mut self, spec: &WorkflowSpec) -> IndexMap<String, ExecutorDef> {
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
            let mut slots_of = |v: Option<i64>, default: u32, what: &str| -> u32 {
                match v {
                    None => default,
                    Some(n) if n >= 1 && n <= u32::MAX as i64 => n as u32,
                    Some(n) => {
                        self.diags.push(
                            Diagnostic::new(self.file, format!("{what} must be at least 1, found {n}"))
                                .field(field.clone()),
                        );
                        1
                    }
                }
            };
            let def = match e {
                ExecutorSpec::Local(l) => ExecutorDef {
                    name: name.as_str().into(),
                    slots: slots_of(l.slots, cpus, "`slots`"),
                    kind: ExecutorKind::Local { slots_given: l.slots.is_some() },
                },
                ExecutorSpec::Ssh(s) => {
                    let per_host = slots_of(s.slots, 1, "`slots`");
                    let max_sessions = slots_of(s.max_sessions, 10, "`max_sessions`");
                    let hosts: Vec<Host> = s
                        .hosts
                        .iter()
                        .map(|h| match h {
                            HostSpec::Name(n) => {
                                Host { name: n.clone(), user: None, port: None, slots: per_host }
                            }
                            HostSpec::Detailed(d) => Host {
                                name: d.host.clone(),
                                user: d.user.clone(),
                                port: d.port,
                                slots: slots_of(d.slots, per_host, "host `slots`"),
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
                        name: name.as_str().into(),
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
                ExecutorSpec::Slurm(s) => {
                    let slots = slots_of(s.slots, 100, "`slots`");
                    let cpus_per_task = s.cpus_per_task.map(|c| slots_of(Some(c), 1, "`cpus_per_task`"));
                    let time = s.time.as_deref().and_then(|t| match parse_duration(t) {
                        Ok(d) if !d.is_zero() => Some(d),
                        Ok(_) => {
                            self.diags.push(
                                self.diag("a job time limit must be longer than zero")
                                    .field(format!("{field}.time")),
                            );
                            None
                        }
                        Err(m) => {
                            self.diags.push(self.diag(m).field(format!("{field}.time")));
                            None
                        }
                    });
                    for (what, v) in [
                        ("partition", &s.partition),
                        ("account", &s.account),
                        ("qos", &s.qos),
                        ("mem", &s.mem),
                    ] {
                        if let Some(m) = v.as_deref().and_then(|v| check_slurm_word(v).err()) {
                            self.diags.push(self.diag(m).field(format!("{field}.{what}")));
                        }
                    }
                    ExecutorDef {
                        name: name.as_str().into(),
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
            };
            if name == "local" && !matches!(def.kind, ExecutorKind::Local { .. }) {
                self.diags
                    .push(self.diag("the executor `local` must have `type: local`").field(field.clone()));
            }
            defs.insert(name.clone(), def);
        }
        defs
    }

    /// Appends the instances of the task spec `t` to `out`. `full_name` is its name with the
    /// namespace, `local` the name of the `local` executor, shared by the tasks that use it.
    #[allow(clippy::too_many_arguments)]
    fn expand_task(
        &mut self,
        jinja: &minijinja::Environment<'static>,
        base: &Value,
        defaults: &TaskDefaults,
        name: &str,
        full_name: &Arc<str>,
        local: &Arc<str>,
        t: &TaskSpec,
        out: &mut Expanded,
    ) {
        crate::budget::naming(self.file, Some(full_name));
        if let Err(m) = check_task_name(name) {
            self.diags.push(self.task_diag(name, "name", m));
        }
        let placeholder;
        let cmd = match &t.cmd {
            Some(c) => c,
            None => {
                self.diags.push(self.task_diag(name, "cmd", "missing `cmd`: every task needs a command"));
                placeholder = CmdSpec::Shell("true".to_owned());
                &placeholder
            }
        };
        let d = defaults;

        // Matrix axes, each a list of (value, its id string).
        let mut axes: Vec<Axis> = Vec::with_capacity(t.matrix.len());
        let mut count: usize = 1;
        for (key, axis) in &t.matrix {
            let field = format!("matrix.{key}");
            if !is_identifier(key) {
                self.diags.push(self.task_diag(
                    name,
                    &field,
                    "matrix keys must be identifiers (letters, digits, `_`)",
                ));
                return;
            }
            let values = match self.axis_values(jinja, base, axis) {
                Ok(v) => v,
                Err(m) => {
                    self.diags.push(self.task_diag(name, &field, m));
                    return;
                }
            };
            if values.is_empty() {
                self.diags.push(self.task_diag(
                    name,
                    &field,
                    "has no values, so the task would expand to nothing",
                ));
                return;
            }
            count = count.saturating_mul(values.len());
            if count.saturating_add(out.tasks.len()).saturating_add(self.existing) > self.max_tasks {
                let msg = format!("expands to {}", self.over_limit());
                self.diags.push(self.task_diag(name, "matrix", msg));
                return;
            }
            axes.push((key.as_str().into(), values));
        }

        // Compile each field once.
        let pick = |own: &Option<Scalar>, def: &Option<Scalar>| own.clone().or_else(|| def.clone());
        let mut env_src: IndexMap<&str, &Scalar> = IndexMap::new();
        for (k, v) in d.env.iter().chain(t.env.iter()) {
            env_src.insert(k, v);
        }
        env_src.retain(|k, _| match check_env_name(k) {
            Ok(()) => true,
            Err(m) => {
                self.diags.push(self.task_diag(name, &format!("env.{k}"), m));
                false
            }
        });
        let retries = pick(&t.retries, &d.retries);
        let retry_delay = pick(&t.retry_delay, &d.retry_delay);
        let timeout = pick(&t.timeout, &d.timeout);
        let slots = pick(&t.slots, &d.slots);
        let generator = pick(&t.generator, &d.generator);
        let executor = t.executor.clone().or_else(|| d.executor.clone());
        let workdir = t.workdir.clone().or_else(|| d.workdir.clone());
        let when = t.when.clone().or_else(|| d.when.clone());
        let description = t.description.clone().or_else(|| d.description.clone());

        // A template that does not compile is reported here; its stand-in must not cause
        // follow-up problems (an empty command, a dependency on ``).
        macro_rules! tpl {
            ($field:expr, $src:expr) => {
                match Tpl::new(jinja, $src) {
                    Ok(t) => Some(t),
                    Err(e) => {
                        let at = template::error_offset(&e, $src).map(|o| ($src.as_str(), o));
                        let msg = format!("bad template: {}", template::message(&e));
                        self.diags.push(self.template_diag(name, $field, msg, at));
                        None
                    }
                }
            };
        }
        let cmd_t: Vec<Tpl> = match cmd {
            CmdSpec::Shell(s) => vec![tpl!("cmd", s).unwrap_or(Tpl::Literal("true"))],
            CmdSpec::Argv(a) => {
                let mut v = Vec::with_capacity(a.len());
                for s in a {
                    v.push(tpl!("cmd", s).unwrap_or(Tpl::Literal("true")));
                }
                v
            }
        };
        let mut env_t = Vec::with_capacity(env_src.len());
        for (k, v) in &env_src {
            env_t.push((*k, tpl!(&format!("env.{k}"), &v.0).unwrap_or(Tpl::Literal(""))));
        }
        let mut after_t = Vec::with_capacity(t.after.len());
        for a in &t.after {
            after_t.extend(tpl!("after", a));
        }
        let opt = |s: &Option<Scalar>| s.as_ref().map(|s| s.0.clone());
        let (retries, retry_delay, timeout, slots, generator) =
            (opt(&retries), opt(&retry_delay), opt(&timeout), opt(&slots), opt(&generator));
        let retries_t = retries.as_deref().map(|s| Tpl::new(jinja, s));
        let retry_delay_t = retry_delay.as_deref().map(|s| Tpl::new(jinja, s));
        let timeout_t = timeout.as_deref().map(|s| Tpl::new(jinja, s));
        let slots_t = slots.as_deref().map(|s| Tpl::new(jinja, s));
        let generator_t = generator.as_deref().map(|s| Tpl::new(jinja, s));
        let executor_t = executor.as_deref().map(|s| Tpl::new(jinja, s));
        let workdir_t = workdir.as_deref().map(|s| Tpl::new(jinja, s));
        let when_t = when.as_deref().map(|s| Tpl::new(jinja, s));
        let description_t = description.as_deref().map(|s| Tpl::new(jinja, s));

        // Most tasks of a big generated file are plain text: they need no template context.
        let literal = |t: &Tpl| matches!(t, Tpl::Literal(_));
        let literal_opt =
            |t: &Option<Result<Tpl, minijinja::Error>>| !matches!(t, Some(Ok(Tpl::Template(_))));
        let needs_ctx = !(cmd_t.iter().all(literal)
            && env_t.iter().all(|(_, t)| literal(t))
            && after_t.iter().all(literal)
            && [
                &retries_t,
                &retry_delay_t,
                &timeout_t,
                &slots_t,
                &generator_t,
                &executor_t,
                &workdir_t,
                &when_t,
                &description_t,
            ]
            .into_iter()
            .all(literal_opt));
        let mut idx = vec![0usize; axes.len()];
        let mut executors_seen: Vec<Arc<str>> = Vec::new();
        let mut reported = false;
        out.tasks.reserve(count);
        out.after.reserve(count);
        'instances: loop {
            // Id and context of this combination.
            // Sized exactly: a million ids are kept for the whole run.
            let suffix: usize = axes.iter().zip(&idx).map(|((k, v), &i)| k.len() + v[i].1.len() + 2).sum();
            let mut id = String::with_capacity(full_name.len() + suffix + usize::from(suffix > 0));
            id.push_str(full_name);
            let mut vars = Vec::with_capacity(axes.len());
            if !axes.is_empty() {
                id.push('[');
                for (n, ((key, values), &i)) in axes.iter().zip(&idx).enumerate() {
                    if n > 0 {
                        id.push(',');
                    }
                    id.push_str(key);
                    id.push('=');
                    id.push_str(&values[i].1);
                    vars.push((key.clone(), values[i].0.clone()));
                }
                id.push(']');
            }
            let ctx =
                if needs_ctx { InstanceContext::value(base, vars, name, &id) } else { Value::UNDEFINED };

            macro_rules! report {
                ($field:expr, $msg:expr) => {
                    report!($field, $msg, None)
                };
                ($field:expr, $msg:expr, $at:expr) => {{
                    if !reported {
                        reported = true;
                        let inst = if axes.is_empty() { String::new() } else { format!("in `{id}`: ") };
                        let d = self.template_diag(name, $field, format!("{inst}{}", $msg), $at);
                        self.diags.push(d);
                    }
                }};
            }
            macro_rules! render {
                ($field:expr, $t:expr) => {
                    match $t.render(&ctx) {
                        Ok(s) if s.contains('\0') => {
                            report!($field, "renders to a string containing a NUL byte");
                            String::new()
                        }
                        Ok(s) => s,
                        Err(e) => {
                            let src = $t.source();
                            let at = template::error_offset(&e, src).map(|o| (src, o));
                            report!($field, template::message(&e), at);
                            String::new()
                        }
                    }
                };
            }
            macro_rules! render_opt {
                ($field:expr, $t:expr) => {
                    match &$t {
                        None => None,
                        Some(Err(e)) => {
                            report!($field, format!("bad template: {}", template::message(e)));
                            None
                        }
                        Some(Ok(t)) => Some(render!($field, t)),
                    }
                };
            }
            macro_rules! bad {
                ($field:expr, $msg:expr, $default:expr) => {{
                    report!($field, $msg);
                    $default
                }};
            }

            let cmd = match cmd {
                CmdSpec::Shell(_) => Command::Shell(render!("cmd", cmd_t[0])),
                CmdSpec::Argv(_) => {
                    let mut argv = Vec::with_capacity(cmd_t.len());
                    for t in &cmd_t {
                        argv.push(render!("cmd", t));
                    }
                    Command::Argv(argv)
                }
            };
            match &cmd {
                Command::Shell(s) if s.trim().is_empty() => bad!("cmd", "the command is empty", ()),
                // exec of "" fails at run time; say so now.
                Command::Argv(argv) if argv[0].is_empty() => {
                    bad!("cmd", "the program (the list's first item) is empty", ())
                }
                Command::Argv(argv) if argv[0].contains('\0') || argv.iter().any(|a| a.contains('\0')) => {
                    bad!("cmd", "an item contains a NUL byte, which no program can be given", ())
                }
                _ => {}
            }
            let mut env = Vec::with_capacity(env_t.len());
            for (k, t) in &env_t {
                env.push(((*k).to_owned(), render!(&format!("env.{k}"), t)));
            }
            for t in &after_t {
                match t {
                    Tpl::Literal(s) if !s.contains('\0') => out.after.push_entry(s),
                    _ => out.after.push_entry(&render!("after", t)),
                }
            }
            let retries = match render_opt!("retries", retries_t) {
                None => 0,
                Some(s) => match s.trim().parse::<u32>() {
                    Ok(n) => n,
                    Err(_) => bad!("retries", format!("`{s}` is not a whole number of retries"), 0),
                },
            };
            let retry_delay = match render_opt!("retry_delay", retry_delay_t) {
                None => Duration::from_secs(1),
                Some(s) => match parse_duration(&s) {
                    Ok(d) => d,
                    Err(m) => bad!("retry_delay", m, Duration::ZERO),
                },
            };
            let timeout = match render_opt!("timeout", timeout_t) {
                None => None,
                Some(s) => match parse_duration(&s) {
                    Ok(d) if d.is_zero() => bad!("timeout", "a timeout must be longer than zero", None),
                    Ok(d) => Some(d),
                    Err(m) => bad!("timeout", m, None),
                },
            };
            let slots = match render_opt!("slots", slots_t) {
                None => 1,
                Some(s) => match s.trim().parse::<i64>() {
                    Ok(n) if n >= 1 && n <= u32::MAX as i64 => n as u32,
                    Ok(n) => bad!("slots", format!("a task takes at least 1 slot, found {n}"), 1),
                    Err(_) => bad!("slots", format!("`{s}` is not a whole number of slots"), 1),
                },
            };
            let generator = match render_opt!("generator", generator_t) {
                None => false,
                Some(s) => match s.trim() {
                    "true" => true,
                    "false" => false,
                    _ => bad!("generator", format!("`{s}` is not `true` or `false`"), false),
                },
            };
            let when = match render_opt!("when", when_t) {
                None => When::Success,
                Some(s) => match When::parse(s.trim()) {
                    Some(w) => w,
                    None => bad!(
                        "when",
                        format!(
                            "`{s}` is not one of `success`, `failure`, `always`{}",
                            crate::diag::suggest(&s, ["success", "failure", "always"])
                                .map(|b| format!(" (did you mean `{b}`?)"))
                                .unwrap_or_default()
                        ),
                        When::Success
                    ),
                },
            };
            let executor: Arc<str> = match render_opt!("executor", executor_t) {
                None => local.clone(),
                Some(s) => match executors_seen.iter().find(|e| ***e == *s) {
                    Some(e) => e.clone(),
                    None => match out.executors.get(s.as_str()) {
                        Some(def) => {
                            let e: Arc<str> = def.name.clone();
                            executors_seen.push(e.clone());
                            e
                        }
                        None => {
                            let hint = suggest(&s, out.executors.keys().map(String::as_str))
                                .map(|h| format!(" (did you mean `{h}`?)"))
                                .unwrap_or_default();
                            let known: Vec<String> = out.executors.keys().map(|k| format!("`{k}`")).collect();
                            bad!(
                                "executor",
                                format!("unknown executor `{s}`{hint}; defined: {}", known.join(", ")),
                                local.clone()
                            )
                        }
                    },
                },
            };
            if let Some(def) = out.executors.get(&*executor) {
                let most = def.max_task_slots();
                if slots > most {
                    bad!(
                        "slots",
                        format!(
                            "needs {slots} slots but no host of executor `{executor}` has more than {most}"
                        ),
                        ()
                    );
                }
            }
            let workdir = render_opt!("workdir", workdir_t);
            let description = render_opt!("description", description_t);

            out.tasks.push(Task {
                id,
                base: full_name.clone(),
                cmd,
                env,
                workdir,
                executor,
                retries,
                retry_delay,
                timeout,
                when,
                slots,
                generator,
                description,
                depth: 0,
            });
            out.after.end_task();

            // Next combination: the last key varies fastest.
            let mut k = axes.len();
            loop {
                if k == 0 {
                    break 'instances;
                }
                k -= 1;
                idx[k] += 1;
                if idx[k] < axes[k].1.len() {
                    break;
                }
                idx[k] = 0;
            }
        }
    }

    fn axis_values(
        &self,
        jinja: &minijinja::Environment<'static>,
        base: &Value,
        axis: &MatrixAxis,
    ) -> Result<Vec<(Value, String)>, String> {
        let values: Vec<Value> = match axis {
            MatrixAxis::List(items) => {
                let mut out = Vec::with_capacity(items.len());
                for item in items {
                    let v = match item {
                        serde_json::Value::String(s) if template::is_template(s) => {
                            let t = Tpl::new(jinja, s).map_err(|e| template::message(&e))?;
                            Value::from(t.render(base).map_err(|e| template::message(&e))?)
                        }
                        serde_json::Value::String(_)
                        | serde_json::Value::Number(_)
                        | serde_json::Value::Bool(_) => Value::from_serialize(item),
                        other => {
                            return Err(format!(
                                "values must be strings, numbers or booleans, found `{other}`"
                            ));
                        }
                    };
                    out.push(v);
                }
                out
            }
            MatrixAxis::Expr(src) => {
                let inner = src
                    .trim()
                    .strip_prefix("{{")
                    .and_then(|s| s.strip_suffix("}}"))
                    .filter(|s| !s.contains("{{") && !s.contains("}}"))
                    .ok_or_else(|| {
                        format!("`{src}` must be a list, or exactly one `{{{{ expression }}}}` giving a list")
                    })?;
                let v = {
                    let _budget = crate::budget::Scope::enter();
                    let expr = jinja.compile_expression(inner).map_err(|e| template::message(&e))?;
                    expr.eval(base).map_err(|e| template::message(&e))?
                };
                if v.as_str().is_some() || v.kind() == minijinja::value::ValueKind::Map {
                    return Err(format!("`{src}` gives {} `{v}`, not a list", kind_name(&v)));
                }
                // A lazy sequence that knows it is empty can still take hours to walk
                // (`range(0) * 10**12`).
                let v = template::settle(v);
                let iter =
                    v.try_iter().map_err(|_| format!("`{src}` gives {} `{v}`, not a list", kind_name(&v)))?;
                let mut out = Vec::new();
                for item in iter {
                    if out.len() >= self.max_tasks {
                        return Err(format!("gives more than the limit of {} values", self.max_tasks));
                    }
                    out.push(item);
                }
                out
            }
        };
        let mut res = Vec::with_capacity(values.len());
        for v in values {
            use minijinja::value::ValueKind::*;
            if !matches!(v.kind(), String | Number | Bool) {
                return Err(format!(
                    "values must be strings, numbers or booleans, found {} `{v}`",
                    kind_name(&v)
                ));
            }
            let s = plain_string(&v);
            if s.chars().any(|c| c.is_control()) {
                return Err(format!(
                    "value `{}` contains a control character (newline, NUL, ...)",
                    s.escape_debug()
                ));
            }
            res.push((v, s));
        }
        Ok(res)
    }
}

fn kind_name(v: &Value) -> &'static str {
    use minijinja::value::ValueKind::*;
    match v.kind() {
        Undefined => "an undefined value",
        None => "none",
        Bool => "a boolean",
        Number => "a number",
        String => "a string",
        Bytes => "bytes",
        Seq => "a list",
        Map => "a mapping",
        _ => "a value",
    }
}

pub fn is_identifier(s: &str) -> bool {
    let mut chars = s.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Task names become parts of ids and file names: keep them to a safe alphabet.
pub fn check_task_name(name: &str) -> Result<(), String> {
    check_name(name, "task")
}

/// A task or workflow name (`what`): letters, digits, `_`, `-`, `.`, not `..`, at most 200 bytes.
pub fn check_name(name: &str, what: &str) -> Result<(), String> {
    let ok = !name.is_empty()
        && name.len() <= 200
        && name.chars().next().is_some_and(|c| c.is_ascii_alphanumeric() || c == '_')
        && name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
        && !name.contains("..");
    if ok {
        Ok(())
    } else {
        Err(format!(
            "`{}` is not a valid {what} name: use letters, digits, `_`, `-` and `.` (not `..`), starting with a letter, digit or `_`",
            name.escape_debug()
        ))
    }
}

fn check_env_name(name: &str) -> Result<(), String> {
    if is_identifier(name) {
        Ok(())
    } else {
        Err(format!(
            "`{}` is not a valid environment variable name (letters, digits and `_`, not starting with a digit)",
            name.escape_debug()
        ))
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

/// The value `-p k=v` gives a param declared as `declared`. For a string param it is the text
/// as typed (`1.10` stays `1.10`, `0x1F` stays `0x1F`); otherwise it is parsed as YAML and must
/// be of the declared kind. A param declared `null` takes any value. Values recorded by older
/// states are already typed, and are checked the same way.
fn typed_override(
    name: &str,
    declared: &serde_json::Value,
    given: &serde_json::Value,
) -> Result<serde_json::Value, String> {
    use serde_json::Value as V;
    let value = match (declared, given) {
        (V::String(_), V::String(raw)) => return Ok(V::String(raw.clone())),
        (V::String(_), other) => return Ok(V::String(other.to_string())),
        (_, V::String(raw)) => parse_param_value(raw),
        (_, other) => other.clone(),
    };
    let kind = |v: &V| match v {
        V::Null => "null",
        V::Bool(_) => "a boolean",
        V::Number(_) => "a number",
        V::String(_) => "a string",
        V::Array(_) => "a list",
        V::Object(_) => "a mapping",
    };
    if declared.is_null() || std::mem::discriminant(declared) == std::mem::discriminant(&value) {
        return Ok(value);
    }
    let shown = match given {
        V::String(raw) => raw.clone(),
        other => other.to_string(),
    };
    Err(format!(
        "`-p {name}={shown}`: param `{name}` is declared as {}, and `{shown}` is {}",
        kind(declared),
        kind(&value)
    ))
}

/// Parses the value of `-p key=value` as YAML data, falling back to a plain string.
pub fn parse_param_value(raw: &str) -> serde_json::Value {
    if raw.is_empty() {
        return serde_json::Value::String(String::new());
    }
    match serde_yaml::from_str::<serde_json::Value>(raw) {
        Ok(serde_json::Value::Object(m)) if raw.trim_start().starts_with('{') => serde_json::Value::Object(m),
        Ok(serde_json::Value::Object(_)) | Ok(serde_json::Value::Null) | Err(_) => {
            if raw.trim() == "null" || raw.trim() == "~" {
                serde_json::Value::Null
            } else {
                serde_json::Value::String(raw.to_owned())
            }
        }
        Ok(v) => v,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overrides_keep_the_declared_kind() {
        use serde_json::json;
        let raw = |s: &str| json!(s);
        assert_eq!(typed_override("v", &json!("1.0"), &raw("1.10")), Ok(json!("1.10")));
        assert_eq!(typed_override("id", &json!("x"), &raw("0x1F")), Ok(json!("0x1F")));
        assert_eq!(typed_override("n", &json!(3), &raw("7")), Ok(json!(7)));
        assert_eq!(typed_override("l", &json!(["a"]), &raw("[x, y]")), Ok(json!(["x", "y"])));
        assert_eq!(typed_override("b", &json!(false), &raw("true")), Ok(json!(true)));
        assert_eq!(typed_override("any", &json!(null), &raw("5")), Ok(json!(5)));
        // A typed value recorded by an older state.
        assert_eq!(typed_override("v", &json!("1.0"), &json!(2)), Ok(json!("2")));
        let err = typed_override("n", &json!(3), &raw("abc")).unwrap_err();
        assert_eq!(err, "`-p n=abc`: param `n` is declared as a number, and `abc` is a string");
        assert!(typed_override("l", &json!([]), &raw("5")).unwrap_err().contains("declared as a list"));
    }

    #[test]
    fn param_values_are_yaml_data() {
        assert_eq!(parse_param_value("3"), serde_json::json!(3));
        assert_eq!(parse_param_value("[x, y]"), serde_json::json!(["x", "y"]));
        assert_eq!(parse_param_value("2024-01-01"), serde_json::json!("2024-01-01"));
        assert_eq!(parse_param_value("a: b"), serde_json::json!("a: b"));
        assert_eq!(parse_param_value("{{ x }}"), serde_json::json!("{{ x }}"));
        assert_eq!(parse_param_value(""), serde_json::json!(""));
    }

    #[test]
    fn task_names_are_restricted() {
        assert!(check_task_name("pull_2.x-y").is_ok());
        for bad in ["", "../x", "a/b", ".hidden", "a..b", "a\nb", "a b", "a[x]"] {
            assert!(check_task_name(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("500ms").unwrap(), Duration::from_millis(500));
        assert_eq!(parse_duration("10m").unwrap(), Duration::from_secs(600));
        assert!(parse_duration("30").is_err());
        assert!(parse_duration("soon").is_err());
    }
}
