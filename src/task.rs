//! The expanded task: what every stage after loading sees. No serde file types, no templates.

use serde::Serialize;
use std::sync::Arc;
use std::time::Duration;

/// What a task runs.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(untagged)]
pub enum Command {
    /// Run by `sh -c`.
    Shell(String),
    /// Run directly, without a shell.
    Argv(Vec<String>),
}

impl Command {
    /// A one-line rendering for displays (`--dry-run`, graph labels).
    pub fn display(&self) -> String {
        match self {
            Command::Shell(s) => s.clone(),
            Command::Argv(argv) => {
                shlex::try_join(argv.iter().map(String::as_str)).unwrap_or_else(|_| argv.join(" "))
            }
        }
    }
}

/// When a task runs, given how its dependencies ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum When {
    /// All dependencies succeeded.
    #[default]
    Success,
    /// All dependencies finished and at least one failed.
    Failure,
    /// All dependencies finished, however they ended.
    Always,
}

impl When {
    pub fn parse(s: &str) -> Option<When> {
        match s {
            "success" => Some(When::Success),
            "failure" => Some(When::Failure),
            "always" => Some(When::Always),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            When::Success => "success",
            When::Failure => "failure",
            When::Always => "always",
        }
    }
}

/// One task instance, templates rendered and matrix expanded.
#[derive(Debug, Clone, PartialEq)]
pub struct Task {
    /// `base` or `base[k1=v1,k2=v2]`.
    pub id: String,
    /// The task's name in the file, shared by its instances.
    pub base: Arc<str>,
    pub cmd: Command,
    /// The task's own environment (the workflow's `env` is applied beneath it).
    pub env: Vec<(String, String)>,
    pub workdir: Option<String>,
    pub executor: Arc<str>,
    pub retries: u32,
    pub retry_delay: Duration,
    pub timeout: Option<Duration>,
    pub when: When,
    pub slots: u32,
    pub generator: bool,
    pub description: Option<String>,
    /// Among ready tasks, higher starts first.
    pub priority: i32,
    /// 0 for tasks of the workflow file; a generated task is one deeper than its generator.
    pub depth: u8,
    /// The files it declares it reads and writes (most tasks declare none).
    pub files: Option<Box<TaskFiles>>,
}

impl Task {
    /// Declared outputs (none without `outputs`).
    pub fn outputs(&self) -> &[String] {
        self.files.as_ref().map_or(&[], |f| &f.outputs)
    }

    /// Declared inputs: paths or globs.
    pub fn inputs(&self) -> &[String] {
        self.files.as_ref().map_or(&[], |f| &f.inputs)
    }
}

/// `inputs` and `outputs`, rendered: paths relative to the task's directory (its `workdir`,
/// else the workflow's), or absolute.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TaskFiles {
    pub inputs: Vec<String>,
    pub outputs: Vec<String>,
}

/// Encodes a task id as one file name: never empty, never `.`/`..`, never containing `/`.
///
/// Letters, digits, spaces and most punctuation stay as they are, so the name of
/// `convert[file=my report (v2).csv]` reads as the id; `/`, `%`, `~`, backslash, control
/// characters, the glob characters `*` and `?`, `"`, `` ` `` and `$` (and a leading `.`) are
/// written `%XX` byte by byte, so distinct ids give distinct names.
pub fn file_name_for(id: &str) -> String {
    let mut out = String::with_capacity(id.len());
    for (i, c) in id.char_indices() {
        let keep = if c.is_ascii() {
            (c.is_ascii_graphic() || c == ' ')
                && !matches!(c, '/' | '%' | '~' | '\\' | '*' | '?' | '"' | '`' | '$')
        } else {
            c.is_alphanumeric()
        };
        if keep && !(c == '.' && i == 0) {
            out.push(c);
        } else {
            let mut buf = [0; 4];
            for b in c.encode_utf8(&mut buf).bytes() {
                out.push_str(&format!("%{b:02X}"));
            }
        }
    }
    if out.is_empty() {
        out.push_str("%00");
    }
    if out.len() > MAX_NAME {
        // Too long for one file name (255 bytes on most file systems, with `.N.log` after
        // it): a readable head, then a hash of the whole id so that names stay distinct. `~`
        // is escaped in every name that is not shortened, so none can look like one.
        // The cut falls on a character, never inside a `%XX` escape.
        let mut cut = KEPT_HEAD;
        while !out.is_char_boundary(cut) {
            cut -= 1;
        }
        let b = out.as_bytes();
        if b[cut - 1] == b'%' {
            cut -= 1;
        } else if b[cut - 2] == b'%' {
            cut -= 2;
        }
        use sha2::Digest;
        let digest = sha2::Sha256::digest(id.as_bytes());
        out.truncate(cut);
        out.push('~');
        for b in &digest[..10] {
            out.push_str(&format!("{b:02x}"));
        }
    }
    out
}

/// Longest file name made from an id before it is shortened; leaves room for `.<attempt>.log`.
const MAX_NAME: usize = 200;
/// How much of a shortened name is the id's own text.
const KEPT_HEAD: usize = 150;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_names_never_escape_a_directory() {
        for id in ["..", ".", "a/../../etc", "/etc/passwd", "x\ny", "a\0b", ""] {
            let f = file_name_for(id);
            assert!(!f.contains('/') && f != "." && f != ".." && !f.is_empty(), "{id:?} -> {f}");
            assert!(!f.contains('\n') && !f.contains('\0'));
        }
        assert_eq!(file_name_for("pull[src=a]"), "pull[src=a]");
        assert_eq!(file_name_for("a~b"), "a%7Eb");
        assert_eq!(file_name_for("gen/p1"), "gen%2Fp1");
        assert_ne!(file_name_for("a/b"), file_name_for("a%2Fb"));
        assert_eq!(file_name_for("c[file=my report (v2).csv]"), "c[file=my report (v2).csv]");
        assert_eq!(file_name_for("t[k=über,n=日本]"), "t[k=über,n=日本]");
        assert_eq!(file_name_for("t[p=*.c]"), "t[p=%2A.c]");
        assert_eq!(file_name_for("t[v=\u{202e}x]"), "t[v=%E2%80%AEx]");
    }

    #[test]
    fn long_ids_get_short_distinct_readable_names() {
        let long = format!("shard[f={}]", "x".repeat(300));
        let other = format!("shard[f={}y]", "x".repeat(299));
        let accents = format!("t[k={}]", "é".repeat(90));
        for id in [&long, &other, &accents] {
            let f = file_name_for(id);
            assert!(f.len() <= MAX_NAME, "{} bytes: {f}", f.len());
            assert!(f.starts_with(&id[..4]), "{f}");
            let head = f.split('~').next().unwrap();
            assert!(
                !head.ends_with('%') && !head[..head.len() - 1].ends_with('%'),
                "an escape cut in two: {f}"
            );
        }
        assert_ne!(file_name_for(&long), file_name_for(&other));
        assert_eq!(file_name_for(&long), file_name_for(&long));
    }
}
