//! Expansion: a parsed `WorkflowSpec` plus parameter overrides becomes a flat list of `Task`s,
//! every template rendered and every matrix multiplied out, in a deterministic order.
//!
//! Problems are collected, not returned early, so `validate` can report them all. A failing
//! field stops that task spec's expansion after its first bad instance: one mistake in a
//! million-instance matrix is one message, not a million.

mod executors;
mod fields;
mod names;
mod params;

use fields::{Fields, Instance};
use names::check_env_name;
pub use names::{check_name, check_task_name, is_identifier};
pub use params::parse_param_value;

use super::after::AfterLists;
use super::load::{Format, locate_in_field, locate_task};
use super::spec::{CmdSpec, MatrixAxis, TaskDefaults, TaskSpec, WorkflowSpec};
use super::template::{self, InstanceContext, Tpl, plain_string};
use crate::diag::Diagnostic;
use crate::model::ExecutorDef;
use crate::task::Task;
use indexmap::IndexMap;
use minijinja::Value;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

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

/// The id of the instance at `idx` of `axes` (`base[k1=v1,k2=v2]`, or `base` without a
/// matrix), and its matrix values.
fn instance_id(base: &str, axes: &[Axis], idx: &[usize]) -> (String, Vec<(Arc<str>, Value)>) {
    // Sized exactly: a million ids are kept for the whole run.
    let suffix: usize = axes.iter().zip(idx).map(|((k, v), &i)| k.len() + v[i].1.len() + 2).sum();
    let mut id = String::with_capacity(base.len() + suffix + usize::from(suffix > 0));
    id.push_str(base);
    let mut vars = Vec::with_capacity(axes.len());
    if !axes.is_empty() {
        id.push('[');
        for (n, ((key, values), &i)) in axes.iter().zip(idx).enumerate() {
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
    (id, vars)
}

/// Moves `idx` to the next combination of `axes`, the last key varying fastest; false after
/// the last one.
fn next_combination(idx: &mut [usize], axes: &[Axis]) -> bool {
    for k in (0..axes.len()).rev() {
        idx[k] += 1;
        if idx[k] < axes[k].1.len() {
            return true;
        }
        idx[k] = 0;
    }
    false
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
    /// The workflow's directory: relative `env_file` paths are taken from there.
    pub dir: &'a Path,
    pub diags: Vec<Diagnostic>,
    /// Env files read so far, by path and whether required: each is read once.
    pub env_files: EnvFiles,
}

/// Env files read, by path and whether required (see `Expander::env_file`).
pub type EnvFiles = HashMap<(PathBuf, bool), Result<Option<super::env_file::Vars>, String>>;

/// The directory of the file at `path` (`.` for a bare name): where a workflow's relative paths
/// are taken from, and where a state file's logs and history are.
pub fn dir_of(path: &Path) -> &Path {
    path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."))
}

impl<'a> Expander<'a> {
    /// An expander of workflow text `text` (named `file` in messages) read from `path`, whose
    /// tasks are the plan's first.
    pub fn new(
        file: &'a str,
        path: &'a Path,
        text: &'a str,
        format: Format,
        max_tasks: usize,
    ) -> Expander<'a> {
        Expander {
            file,
            text,
            format,
            max_tasks,
            existing: 0,
            namespace: "",
            dir: dir_of(path),
            diags: Vec::new(),
            env_files: Default::default(),
        }
    }

    /// The variables of env file `path` (relative to the workflow's directory), read once;
    /// `None` for a missing file that is not required.
    fn env_file(&mut self, path: &str, required: bool) -> Result<Option<super::env_file::Vars>, String> {
        let full = self.dir.join(path);
        let key = (full, required);
        if let Some(known) = self.env_files.get(&key) {
            return known.clone();
        }
        let loaded = super::env_file::load(&key.0, path, required);
        self.env_files.insert(key, loaded.clone());
        loaded
    }

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
        for f in &spec.env_file {
            match self.env_file(&f.path, f.required) {
                Ok(vars) => env.extend(vars.iter().flat_map(|v| v.iter().cloned())),
                Err(m) => self.diags.push(self.diag(m).field("env_file")),
            }
        }
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

        let fields = Fields::compile(self, jinja, name, cmd, t, defaults);
        let need_context = fields.need_context();
        let mut idx = vec![0usize; axes.len()];
        let mut seen: Vec<Arc<str>> = Vec::new();
        let mut reported = false;
        out.tasks.reserve(count);
        out.after.reserve(count);
        loop {
            let (id, vars) = instance_id(full_name, &axes, &idx);
            let ctx =
                if need_context { InstanceContext::value(base, vars, name, &id) } else { Value::UNDEFINED };
            let mut r = Instance {
                ex: self,
                name,
                id,
                in_matrix: !axes.is_empty(),
                ctx: &ctx,
                reported: &mut reported,
            };
            let task = fields.render(&mut r, &out.executors, local, &mut seen, &mut out.after, full_name);
            out.tasks.push(task);
            out.after.end_task();
            if !next_combination(&mut idx, &axes) {
                return;
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

pub(super) fn kind_name(v: &Value) -> &'static str {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::parse_duration;
    use params::typed_override;
    use std::time::Duration;

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
