//! One task spec's fields: compiled once (`Fields::compile`), then rendered and checked for each
//! instance of its matrix (`Fields::render`).
//!
//! Compile errors of `cmd`, `env` and `after` are reported at once, with a stand-in that causes
//! no follow-up problem (an empty command, a dependency on ``); those of the other fields when
//! the first instance renders. Of the problems found while rendering, only a task spec's first
//! is reported: one mistake in a million-instance matrix is one message.

use super::Expander;
use super::names::check_env_name;
use super::template::{self, Tpl};
use crate::model::{ExecutorDef, parse_duration};
use crate::task::{Command, Task, TaskFiles, When};
use crate::workflow::after::AfterLists;
use crate::workflow::spec::{CmdSpec, Scalar, TaskDefaults, TaskSpec};
use indexmap::IndexMap;
use minijinja::{Environment, Value};
use std::sync::Arc;
use std::time::Duration;

/// An optional field's template, or its compile error (reported when first rendered).
type Opt<'e, 's> = Option<Result<Tpl<'e, 's>, minijinja::Error>>;

pub(super) struct Fields<'e, 's> {
    /// A shell command is one template; an argv list one per item.
    cmd: Vec<Tpl<'e, 's>>,
    argv: bool,
    /// Each variable's value and its field name (`env.NAME`), named once for all instances.
    env: Vec<(&'s str, String, Tpl<'e, 's>)>,
    after: Vec<Tpl<'e, 's>>,
    retries: Opt<'e, 's>,
    retry_delay: Opt<'e, 's>,
    timeout: Opt<'e, 's>,
    slots: Opt<'e, 's>,
    generator: Opt<'e, 's>,
    executor: Opt<'e, 's>,
    workdir: Opt<'e, 's>,
    when: Opt<'e, 's>,
    description: Opt<'e, 's>,
    priority: Opt<'e, 's>,
    /// Each env file's path and whether it must exist.
    env_file: Vec<(Tpl<'e, 's>, bool)>,
    inputs: Vec<Tpl<'e, 's>>,
    outputs: Vec<Tpl<'e, 's>>,
}

/// Where an instance is rendered: its context, and where its problems go.
pub(super) struct Instance<'x, 'a> {
    pub ex: &'x mut Expander<'a>,
    /// The task's name in the file, for positions.
    pub name: &'x str,
    /// Moved into the task it renders.
    pub id: String,
    /// Problems name the instance (`in `t[i=1]`: ...`) when the task has a matrix.
    pub in_matrix: bool,
    pub ctx: &'x Value,
    /// Whether this task spec already reported a problem.
    pub reported: &'x mut bool,
}

impl Instance<'_, '_> {
    fn report(&mut self, field: &str, msg: impl std::fmt::Display, at: Option<(&str, usize)>) {
        if std::mem::replace(self.reported, true) {
            return;
        }
        let inst = if self.in_matrix { format!("in `{}`: ", self.id) } else { String::new() };
        let d = self.ex.template_diag(self.name, field, format!("{inst}{msg}"), at);
        self.ex.diags.push(d);
    }

    /// Reports a problem of `field` and stands in `default` for its value.
    fn bad<T>(&mut self, field: &str, msg: impl std::fmt::Display, default: T) -> T {
        self.report(field, msg, None);
        default
    }

    fn render(&mut self, field: &str, t: &Tpl) -> String {
        match t.render(self.ctx) {
            Ok(s) if s.contains('\0') => {
                self.bad(field, "renders to a string containing a NUL byte", String::new())
            }
            Ok(s) => s,
            Err(e) => {
                let src = t.source();
                let at = template::error_offset(&e, src).map(|o| (src, o));
                self.report(field, template::message(&e), at);
                String::new()
            }
        }
    }

    fn render_opt(&mut self, field: &str, t: &Opt) -> Option<String> {
        match t {
            None => None,
            Some(Err(e)) => self.bad(field, format!("bad template: {}", template::message(e)), None),
            Some(Ok(t)) => Some(self.render(field, t)),
        }
    }
}

impl<'e, 's> Fields<'e, 's> {
    /// Compiles the fields of task `name` (`t` over the workflow's `defaults`), reporting what
    /// does not compile in `cmd`, `env` and `after`.
    pub fn compile(
        ex: &mut Expander,
        jinja: &'e Environment<'static>,
        name: &str,
        cmd: &'s CmdSpec,
        t: &'s TaskSpec,
        d: &'s TaskDefaults,
    ) -> Fields<'e, 's> {
        let mut env_src: IndexMap<&'s str, &'s Scalar> = IndexMap::new();
        for (k, v) in d.env.iter().chain(t.env.iter()) {
            env_src.insert(k, v);
        }
        env_src.retain(|k, _| match check_env_name(k) {
            Ok(()) => true,
            Err(m) => {
                let diag = ex.task_diag(name, &format!("env.{k}"), m);
                ex.diags.push(diag);
                false
            }
        });
        let mut tpl = |field: &str, src: &'s str| match Tpl::new(jinja, src) {
            Ok(t) => Some(t),
            Err(e) => {
                let at = template::error_offset(&e, src).map(|o| (src, o));
                let msg = format!("bad template: {}", template::message(&e));
                let diag = ex.template_diag(name, field, msg, at);
                ex.diags.push(diag);
                None
            }
        };
        let (cmd_t, argv) = match cmd {
            CmdSpec::Shell(s) => (vec![tpl("cmd", s).unwrap_or(Tpl::Literal("true"))], false),
            CmdSpec::Argv(a) => {
                (a.iter().map(|s| tpl("cmd", s).unwrap_or(Tpl::Literal("true"))).collect(), true)
            }
        };
        let env = env_src
            .iter()
            .map(|(k, v)| {
                let field = format!("env.{k}");
                let t = tpl(&field, &v.0).unwrap_or(Tpl::Literal(""));
                (*k, field, t)
            })
            .collect();
        let after = t.after.iter().filter_map(|a| tpl("after", a)).collect();
        // A task's list replaces the defaults' list.
        let list = |own: &'s Vec<String>, def: &'s Vec<String>| if own.is_empty() { def } else { own };
        let inputs = list(&t.inputs, &d.inputs).iter().filter_map(|a| tpl("inputs", a)).collect();
        let env_file = if t.env_file.is_empty() { &d.env_file } else { &t.env_file };
        let env_file =
            env_file.iter().filter_map(|f| Some((tpl("env_file", &f.path)?, f.required))).collect();
        let outputs = list(&t.outputs, &d.outputs).iter().filter_map(|a| tpl("outputs", a)).collect();
        let scalar = |own: &'s Option<Scalar>, def: &'s Option<Scalar>| {
            own.as_ref().or(def.as_ref()).map(|s| Tpl::new(jinja, &s.0))
        };
        let text = |own: &'s Option<String>, def: &'s Option<String>| {
            own.as_ref().or(def.as_ref()).map(|s| Tpl::new(jinja, s))
        };
        Fields {
            cmd: cmd_t,
            argv,
            env,
            after,
            retries: scalar(&t.retries, &d.retries),
            retry_delay: scalar(&t.retry_delay, &d.retry_delay),
            timeout: scalar(&t.timeout, &d.timeout),
            slots: scalar(&t.slots, &d.slots),
            generator: scalar(&t.generator, &d.generator),
            executor: text(&t.executor, &d.executor),
            workdir: text(&t.workdir, &d.workdir),
            when: text(&t.when, &d.when),
            description: text(&t.description, &d.description),
            priority: scalar(&t.priority, &d.priority),
            env_file,
            inputs,
            outputs,
        }
    }

    /// Whether any field is a template: most tasks of a big generated file are plain text and
    /// need no template context.
    pub fn need_context(&self) -> bool {
        let literal = |t: &Tpl| matches!(t, Tpl::Literal(_));
        let literal_opt = |t: &Opt| !matches!(t, Some(Ok(Tpl::Template(_))));
        !(self.cmd.iter().all(literal)
            && self.env.iter().all(|(_, _, t)| literal(t))
            && self.after.iter().all(literal)
            && self.inputs.iter().chain(&self.outputs).all(literal)
            && self.env_file.iter().all(|(t, _)| literal(t))
            && [
                &self.retries,
                &self.retry_delay,
                &self.timeout,
                &self.slots,
                &self.generator,
                &self.executor,
                &self.workdir,
                &self.when,
                &self.description,
                &self.priority,
            ]
            .into_iter()
            .all(literal_opt))
    }

    /// Renders and checks one instance; its `after` entries go to `after`. `local` is the
    /// `local` executor's name; `seen` the executor names this spec used so far (shared, so a
    /// million instances hold one copy).
    pub fn render(
        &self,
        r: &mut Instance,
        executors: &IndexMap<String, ExecutorDef>,
        local: &Arc<str>,
        seen: &mut Vec<Arc<str>>,
        after: &mut AfterLists,
        base: &Arc<str>,
    ) -> Task {
        let cmd = self.command(r);
        let mut env = Vec::new();
        for (t, required) in &self.env_file {
            let path = r.render("env_file", t);
            match r.ex.env_file(&path, *required) {
                Ok(vars) => env.extend(vars.iter().flat_map(|v| v.iter().cloned())),
                Err(m) => r.bad("env_file", m, ()),
            }
        }
        env.extend(self.env.iter().map(|(k, field, t)| ((*k).to_owned(), r.render(field, t))));
        for t in &self.after {
            match t {
                Tpl::Literal(s) if !s.contains('\0') => after.push_entry(s),
                _ => after.push_entry(&r.render("after", t)),
            }
        }
        let retries = match r.render_opt("retries", &self.retries) {
            None => 0,
            Some(s) => match s.trim().parse::<u32>() {
                Ok(n) => n,
                Err(_) => r.bad("retries", format!("`{s}` is not a whole number of retries"), 0),
            },
        };
        let retry_delay = match r.render_opt("retry_delay", &self.retry_delay) {
            None => Duration::from_secs(1),
            Some(s) => parse_duration(&s).unwrap_or_else(|m| r.bad("retry_delay", m, Duration::ZERO)),
        };
        let timeout = match r.render_opt("timeout", &self.timeout) {
            None => None,
            Some(s) => match parse_duration(&s) {
                Ok(d) if d.is_zero() => r.bad("timeout", "a timeout must be longer than zero", None),
                Ok(d) => Some(d),
                Err(m) => r.bad("timeout", m, None),
            },
        };
        let slots = match r.render_opt("slots", &self.slots) {
            None => 1,
            Some(s) => match s.trim().parse::<i64>() {
                Ok(n) if n >= 1 && n <= u32::MAX as i64 => n as u32,
                Ok(n) => r.bad("slots", format!("a task takes at least 1 slot, found {n}"), 1),
                Err(_) => r.bad("slots", format!("`{s}` is not a whole number of slots"), 1),
            },
        };
        let generator = match r.render_opt("generator", &self.generator) {
            None => false,
            Some(s) => match s.trim() {
                "true" => true,
                "false" => false,
                _ => r.bad("generator", format!("`{s}` is not `true` or `false`"), false),
            },
        };
        let when = match r.render_opt("when", &self.when) {
            None => When::Success,
            Some(s) => When::parse(s.trim()).unwrap_or_else(|| {
                let hint = crate::diag::suggest(&s, ["success", "failure", "always"])
                    .map(|b| format!(" (did you mean `{b}`?)"))
                    .unwrap_or_default();
                r.bad(
                    "when",
                    format!("`{s}` is not one of `success`, `failure`, `always`{hint}"),
                    When::Success,
                )
            }),
        };
        let executor = match r.render_opt("executor", &self.executor) {
            None => local.clone(),
            Some(s) => executor_named(r, &s, executors, local, seen),
        };
        if let Some(def) = executors.get(&*executor) {
            let most = def.max_task_slots();
            if slots > most {
                let msg =
                    format!("needs {slots} slots but no host of executor `{executor}` has more than {most}");
                r.bad("slots", msg, ());
            }
        }
        let priority = match r.render_opt("priority", &self.priority) {
            None => 0,
            Some(s) => s.trim().parse::<i32>().unwrap_or_else(|_| {
                r.bad("priority", format!("`{s}` is not a whole number (a priority, higher first)"), 0)
            }),
        };
        let workdir = r.render_opt("workdir", &self.workdir);
        let description = r.render_opt("description", &self.description);
        let files = self.files(r);
        Task {
            id: std::mem::take(&mut r.id),
            base: base.clone(),
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
            priority,
            depth: 0,
            files,
        }
    }

    /// `inputs` and `outputs`, rendered and checked; none when neither is declared.
    fn files(&self, r: &mut Instance) -> Option<Box<TaskFiles>> {
        if self.inputs.is_empty() && self.outputs.is_empty() {
            return None;
        }
        let mut path = |field: &str, t: &Tpl, glob: bool| {
            let p = r.render(field, t);
            if p.trim().is_empty() {
                return r.bad(field, "a path is empty", None);
            }
            if !glob && p.contains(['*', '?']) {
                return r.bad(field, format!("`{p}`: outputs are paths, not globs"), None);
            }
            if glob && p.contains(['*', '?', '[']) {
                if let Err(e) = glob::Pattern::new(&p) {
                    return r.bad(field, format!("`{p}` is not a valid glob: {}", e.msg), None);
                }
            }
            Some(p)
        };
        let inputs = self.inputs.iter().filter_map(|t| path("inputs", t, true)).collect();
        let outputs = self.outputs.iter().filter_map(|t| path("outputs", t, false)).collect();
        Some(Box::new(TaskFiles { inputs, outputs }))
    }

    fn command(&self, r: &mut Instance) -> Command {
        let cmd = if self.argv {
            Command::Argv(self.cmd.iter().map(|t| r.render("cmd", t)).collect())
        } else {
            Command::Shell(r.render("cmd", &self.cmd[0]))
        };
        match &cmd {
            Command::Shell(s) if s.trim().is_empty() => r.bad("cmd", "the command is empty", ()),
            // exec of "" fails at run time; say so now.
            Command::Argv(argv) if argv[0].is_empty() => {
                r.bad("cmd", "the program (the list's first item) is empty", ())
            }
            Command::Argv(argv) if argv.iter().any(|a| a.contains('\0')) => {
                r.bad("cmd", "an item contains a NUL byte, which no program can be given", ())
            }
            _ => {}
        }
        cmd
    }
}

/// The executor `name` of the workflow, as the shared name the plan uses; an unknown one is
/// reported (with a suggestion and the defined ones) and stands in as `local`.
fn executor_named(
    r: &mut Instance,
    name: &str,
    executors: &IndexMap<String, ExecutorDef>,
    local: &Arc<str>,
    seen: &mut Vec<Arc<str>>,
) -> Arc<str> {
    if let Some(e) = seen.iter().find(|e| ***e == *name) {
        return e.clone();
    }
    match executors.get(name) {
        Some(def) => {
            seen.push(def.name.clone());
            def.name.clone()
        }
        None => {
            let hint = crate::diag::suggest(name, executors.keys().map(String::as_str))
                .map(|h| format!(" (did you mean `{h}`?)"))
                .unwrap_or_default();
            let known: Vec<String> = executors.keys().map(|k| format!("`{k}`")).collect();
            let msg = format!("unknown executor `{name}`{hint}; defined: {}", known.join(", "));
            r.bad("executor", msg, local.clone())
        }
    }
}
