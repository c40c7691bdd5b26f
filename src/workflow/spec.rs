//! The workflow file's schema, as serde types shared by YAML, TOML and generator fragments.
//!
//! These types mirror the file and nothing more: strings stay unrendered templates, durations stay
//! text. Expansion (`expand.rs`) turns them into `Task`s; nothing after expansion sees them.
//! The JSON Schema printed by `dagrun schema` is derived from these same types.

use indexmap::IndexMap;
use schemars::JsonSchema;
use serde::de::{self, Deserializer, SeqAccess, Visitor};
use serde::{Deserialize, Serialize};
use std::fmt;

/// JSON Schema constraints finer than the types (a field may always be a template instead).
mod schema {
    use schemars::{Schema, SchemaGenerator, json_schema};

    /// A string holding a template, whose value is known only when rendered.
    const TEMPLATE: &str = r"\{\{|\{%";

    /// `value`, a template, or nothing (`retries:` with no value is the default).
    fn or_template(value: Schema) -> Schema {
        json_schema!({ "anyOf": [value, { "type": "string", "pattern": TEMPLATE }, { "type": "null" }] })
    }

    fn count(minimum: u64) -> Schema {
        or_template(json_schema!({
            "anyOf": [
                { "type": "integer", "minimum": minimum },
                { "type": "string", "pattern": r"^\s*[0-9]+\s*$" }
            ]
        }))
    }

    pub fn retries(_: &mut SchemaGenerator) -> Schema {
        count(0)
    }

    pub fn slots(_: &mut SchemaGenerator) -> Schema {
        count(1)
    }

    pub fn duration(_: &mut SchemaGenerator) -> Schema {
        or_template(json_schema!({
            "type": "string",
            "pattern": r"^\s*([0-9]+\s*[a-zA-Zµ]+\s*)+$",
            "examples": ["500ms", "30s", "10m", "2h", "1h 30m"]
        }))
    }

    pub fn priority(_: &mut SchemaGenerator) -> Schema {
        or_template(json_schema!({
            "anyOf": [
                { "type": "integer", "minimum": i32::MIN, "maximum": i32::MAX },
                { "type": "string", "pattern": r"^\s*-?[0-9]+\s*$" }
            ]
        }))
    }

    pub fn env_file(_: &mut SchemaGenerator) -> Schema {
        let one = json_schema!({
            "anyOf": [
                { "type": "string" },
                {
                    "type": "object",
                    "properties": { "path": { "type": "string" }, "required": { "type": "boolean" } },
                    "required": ["path"],
                    "additionalProperties": false
                }
            ]
        });
        json_schema!({ "anyOf": [one.clone(), { "type": "array", "items": one }] })
    }

    pub fn when(_: &mut SchemaGenerator) -> Schema {
        or_template(json_schema!({ "type": "string", "enum": ["success", "failure", "always"] }))
    }
}

/// A workflow file.
#[derive(Debug, Clone, Default, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(title = "dagrun workflow")]
pub struct WorkflowSpec {
    /// Name of the workflow; default: the file's stem.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Template variables (any value); `-p key=value` overrides them.
    #[serde(default, deserialize_with = "unique_keys")]
    pub params: IndexMap<String, serde_json::Value>,
    /// Environment for every task; values are templates.
    #[serde(default, deserialize_with = "unique_keys")]
    pub env: IndexMap<String, Scalar>,
    /// Dotenv files loaded into every task's environment, beneath `env`: a path relative to
    /// the workflow's directory, `{path: PATH, required: false}`, or a list of them.
    #[serde(
        default,
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "super::env_file::one_or_many"
    )]
    #[schemars(schema_with = "schema::env_file")]
    pub env_file: Vec<super::env_file::EnvFile>,
    /// Defaults for every task's fields (all but `cmd`, `after` and `matrix`).
    #[serde(default)]
    pub defaults: TaskDefaults,
    /// Executors by name; `local` exists implicitly.
    #[serde(default, deserialize_with = "unique_keys")]
    pub executors: IndexMap<String, ExecutorSpec>,
    /// Tasks by name.
    #[serde(default, deserialize_with = "unique_keys")]
    pub tasks: IndexMap<String, TaskSpec>,
}

/// A document holding only a `tasks` table: a piece of a big workflow file (`split.rs`).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TasksTable {
    #[serde(deserialize_with = "unique_keys")]
    pub tasks: IndexMap<String, TaskSpec>,
}

/// Fields shared by a task and `defaults`.
macro_rules! task_fields {
    ($(#[$m:meta])* pub struct $name:ident { $($extra:tt)* }) => {
        $(#[$m])*
        pub struct $name {
            $($extra)*
            /// The task's stdout defines more tasks.
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub generator: Option<Scalar>,
            /// Executor name (default `local`).
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub executor: Option<String>,
            /// Environment variables for the task; values are templates.
            #[serde(default, deserialize_with = "unique_keys")]
            pub env: IndexMap<String, Scalar>,
            /// Dotenv files loaded into the task's environment, beneath its `env` and above the
            /// workflow's: a path (a template) relative to the workflow's directory,
            /// `{path: PATH, required: false}`, or a list of them.
            #[serde(default, skip_serializing_if = "Vec::is_empty", deserialize_with = "super::env_file::one_or_many")]
            #[schemars(schema_with = "schema::env_file")]
            pub env_file: Vec<super::env_file::EnvFile>,
            /// Working directory of the command.
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub workdir: Option<String>,
            /// How many times a failed attempt is re-run.
            #[serde(default, skip_serializing_if = "Option::is_none")]
            #[schemars(schema_with = "schema::retries")]
            pub retries: Option<Scalar>,
            /// Delay before the first retry, doubling each retry (`500ms`, `30s`, `10m`).
            #[serde(default, skip_serializing_if = "Option::is_none")]
            #[schemars(schema_with = "schema::duration")]
            pub retry_delay: Option<Scalar>,
            /// Time after which an attempt is killed (`30s`, `10m`, `2h`).
            #[serde(default, skip_serializing_if = "Option::is_none")]
            #[schemars(schema_with = "schema::duration")]
            pub timeout: Option<Scalar>,
            /// When the task runs: `success` (default), `failure` or `always`.
            #[serde(default, skip_serializing_if = "Option::is_none")]
            #[schemars(schema_with = "schema::when")]
            pub when: Option<String>,
            /// Executor slots the task takes (default 1).
            #[serde(default, skip_serializing_if = "Option::is_none")]
            #[schemars(schema_with = "schema::slots")]
            pub slots: Option<Scalar>,
            /// Among ready tasks, higher runs first (default 0; may be negative). Between equal
            /// priorities the task with the longest work still after it runs first.
            #[serde(default, skip_serializing_if = "Option::is_none")]
            #[schemars(schema_with = "schema::priority")]
            pub priority: Option<Scalar>,
            /// A line shown in `graph` output.
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub description: Option<String>,
            /// Files the task reads: paths or globs (`src/*.c`), relative to its `workdir`, else
            /// the workflow's directory. With `outputs`, a task whose inputs are unchanged since
            /// it last succeeded is up to date and skipped.
            #[serde(default, skip_serializing_if = "Vec::is_empty", deserialize_with = "one_or_many")]
            #[schemars(with = "OneOrMany")]
            pub inputs: Vec<String>,
            /// Files the task writes: paths, relative as `inputs` are. The task fails if it
            /// succeeds without creating them.
            #[serde(default, skip_serializing_if = "Vec::is_empty", deserialize_with = "one_or_many")]
            #[schemars(with = "OneOrMany")]
            pub outputs: Vec<String>,
        }
    };
}

task_fields! {
    /// One task spec; with `matrix`, a template for many tasks.
    #[derive(Debug, Clone, Default, Deserialize, Serialize, JsonSchema)]
    #[serde(deny_unknown_fields)]
    pub struct TaskSpec {
        /// A string run by `sh -c`, or a list run as argv without a shell.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub cmd: Option<CmdSpec>,
        /// Dependencies: instance ids (`pull[src=a]`) or base names (all instances).
        #[serde(default, skip_serializing_if = "Vec::is_empty", deserialize_with = "one_or_many")]
        #[schemars(with = "OneOrMany")]
        pub after: Vec<String>,
        /// One task per combination of values: each key maps to a list, or to one
        /// `{{ expression }}` whose value is a list.
        #[serde(default, skip_serializing_if = "IndexMap::is_empty", deserialize_with = "unique_keys")]
        pub matrix: IndexMap<String, MatrixAxis>,
    }
}

task_fields! {
    /// Defaults applied to every task.
    #[derive(Debug, Clone, Default, Deserialize, Serialize, JsonSchema)]
    #[serde(deny_unknown_fields)]
    pub struct TaskDefaults {}
}

/// A command: a shell string or an argv list.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
#[serde(untagged)]
pub enum CmdSpec {
    Shell(String),
    Argv(Vec<String>),
}

impl<'de> Deserialize<'de> for CmdSpec {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = CmdSpec;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a command string or a list of strings")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<CmdSpec, E> {
                Ok(CmdSpec::Shell(v.to_owned()))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<CmdSpec, E> {
                Ok(CmdSpec::Shell(v))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<CmdSpec, A::Error> {
                let mut argv = Vec::new();
                while let Some(s) = seq.next_element::<Scalar>()? {
                    argv.push(s.0);
                }
                if argv.is_empty() {
                    return Err(de::Error::invalid_length(0, &"a non-empty argv list"));
                }
                Ok(CmdSpec::Argv(argv))
            }
        }
        d.deserialize_any(V)
    }
}

/// A scalar written as a string, number or boolean, kept as its text (a template).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, JsonSchema)]
#[serde(transparent)]
#[schemars(with = "ScalarSchema")]
pub struct Scalar(pub String);

#[derive(JsonSchema)]
#[serde(untagged)]
#[allow(dead_code)]
enum ScalarSchema {
    S(String),
    I(i64),
    F(f64),
    B(bool),
}

impl From<&str> for Scalar {
    fn from(s: &str) -> Self {
        Scalar(s.to_owned())
    }
}

impl<'de> Deserialize<'de> for Scalar {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Scalar;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a string, number or boolean")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Scalar, E> {
                Ok(Scalar(v.to_owned()))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<Scalar, E> {
                Ok(Scalar(v))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Scalar, E> {
                Ok(Scalar(v.to_string()))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Scalar, E> {
                Ok(Scalar(v.to_string()))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Scalar, E> {
                Ok(Scalar(v.to_string()))
            }
            fn visit_bool<E: de::Error>(self, v: bool) -> Result<Scalar, E> {
                Ok(Scalar(v.to_string()))
            }
        }
        d.deserialize_any(V)
    }
}

/// One matrix axis: a list of values, or a single `{{ expression }}` giving a list.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
#[serde(untagged)]
pub enum MatrixAxis {
    List(Vec<serde_json::Value>),
    Expr(String),
}

impl<'de> Deserialize<'de> for MatrixAxis {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = MatrixAxis;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a list of values or a string \"{{ expression }}\"")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<MatrixAxis, E> {
                Ok(MatrixAxis::Expr(v.to_owned()))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<MatrixAxis, A::Error> {
                let mut values = Vec::new();
                while let Some(v) = seq.next_element()? {
                    values.push(v);
                }
                Ok(MatrixAxis::List(values))
            }
        }
        d.deserialize_any(V)
    }
}

#[derive(JsonSchema)]
#[serde(untagged)]
#[allow(dead_code)]
enum OneOrMany {
    One(String),
    Many(Vec<String>),
}

fn one_or_many<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    struct V;
    impl<'de> Visitor<'de> for V {
        type Value = Vec<String>;
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("a task id or a list of task ids")
        }
        fn visit_str<E: de::Error>(self, v: &str) -> Result<Vec<String>, E> {
            Ok(vec![v.to_owned()])
        }
        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<String>, A::Error> {
            let mut out = Vec::new();
            while let Some(s) = seq.next_element::<Scalar>()? {
                out.push(s.0);
            }
            Ok(out)
        }
    }
    d.deserialize_any(V)
}

/// A mapping whose keys must be unique: YAML parsers keep the last of two equal keys, which
/// would silently drop a task (TOML already refuses them).
fn unique_keys<'de, D, V>(d: D) -> Result<IndexMap<String, V>, D::Error>
where
    D: Deserializer<'de>,
    V: Deserialize<'de>,
{
    struct M<V>(std::marker::PhantomData<V>);
    impl<'de, V: Deserialize<'de>> Visitor<'de> for M<V> {
        type Value = IndexMap<String, V>;
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("a map")
        }
        fn visit_map<A: de::MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
            let mut out = IndexMap::with_capacity(map.size_hint().unwrap_or(0).min(4096));
            while let Some(k) = map.next_key::<String>()? {
                // One hash of the key, not two (a million task names are hashed here).
                match out.entry(k) {
                    indexmap::map::Entry::Occupied(e) => {
                        return Err(de::Error::custom(format_args!(
                            "`{}` is defined twice",
                            e.key().escape_debug()
                        )));
                    }
                    indexmap::map::Entry::Vacant(e) => {
                        e.insert(map.next_value()?);
                    }
                }
            }
            Ok(out)
        }
    }
    d.deserialize_map(M(std::marker::PhantomData))
}

/// An executor definition, by `type`.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum ExecutorSpec {
    /// Child processes on this machine.
    Local(LocalSpec),
    /// Remote hosts reached with the system OpenSSH client.
    Ssh(SshSpec),
    /// Jobs submitted to a Slurm cluster with `sbatch`.
    Slurm(SlurmSpec),
}

#[derive(Debug, Clone, Default, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LocalSpec {
    /// Tasks at once (default: number of CPUs).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub slots: Option<i64>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SshSpec {
    /// Hosts: names from the ssh config, or `{host, user, port, slots}`.
    #[serde(default)]
    pub hosts: Vec<HostSpec>,
    /// Slots per host unless the host says otherwise (default 1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub slots: Option<i64>,
    /// An ssh config file, passed as `ssh -F`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config: Option<String>,
    /// A private key file, passed as `ssh -i`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub identity_file: Option<String>,
    /// Extra ssh options, `Key=Value`, passed as `ssh -o`.
    #[serde(default)]
    pub options: Vec<String>,
    /// Sessions per master connection (default 10, sshd's `MaxSessions`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_sessions: Option<i64>,
}

/// A host: a bare name, or a table with details.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(untagged)]
pub enum HostSpec {
    Name(String),
    Detailed(HostDetail),
}

#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct HostDetail {
    pub host: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<u16>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub slots: Option<i64>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SlurmSpec {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub partition: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub qos: Option<String>,
    /// Job time limit (default: the task's `timeout`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time: Option<String>,
    /// CPUs per job (default: the task's `slots`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpus_per_task: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mem: Option<String>,
    #[serde(default)]
    pub sbatch_args: Vec<String>,
    /// Jobs in flight at once (default 100).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub slots: Option<i64>,
}
