//! Helpers shared by the integration tests.

#![allow(dead_code)]

use assert_cmd::Command;
use std::path::{Path, PathBuf};

/// The `dagrun` binary under test.
pub fn dagrun() -> Command {
    let mut c = Command::cargo_bin("dagrun").expect("the dagrun binary is built");
    c.env("NO_COLOR", "1");
    c
}

/// A fixture file under `tests/fixtures`.
pub fn fixture(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures").join(rel)
}

/// Writes `text` to `name` inside `dir` and returns the path.
pub fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).expect("write test file");
    p
}

/// A plain `std::process::Command` for the binary under test, for tests that signal it or
/// read its `/proc` entry while it runs.
pub fn dagrun_std() -> std::process::Command {
    let mut c = std::process::Command::new(assert_cmd::cargo::cargo_bin("dagrun"));
    c.env("NO_COLOR", "1");
    c
}

/// A generous safety limit for waits on markers and exits: reaching it fails the test.
pub const LIMIT: std::time::Duration = std::time::Duration::from_secs(60);

/// Polls until `path` exists; panics after `LIMIT`.
pub fn wait_for_file(path: &Path) {
    let start = std::time::Instant::now();
    while !path.exists() {
        assert!(start.elapsed() < LIMIT, "`{}` did not appear within {LIMIT:?}", path.display());
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

/// Waits for `child` to exit within `limit`; kills it and panics otherwise.
pub fn wait_exit(child: &mut std::process::Child, limit: std::time::Duration) -> std::process::ExitStatus {
    let start = std::time::Instant::now();
    loop {
        if let Some(s) = child.try_wait().expect("wait for dagrun") {
            return s;
        }
        if start.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            panic!("dagrun did not exit within {limit:?}");
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

/// Reads a pid written by a task (`echo $$ > file`).
pub fn read_pid(path: &Path) -> i32 {
    let text = std::fs::read_to_string(path).expect("read pid file");
    text.trim().parse().unwrap_or_else(|_| panic!("`{}` holds no pid: {text:?}", path.display()))
}

/// `/proc/<pid>/stat` fields after the command name: (state, ppid, pgid).
fn proc_stat(pid: i32) -> Option<(char, i32, i32)> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name is in parentheses and may contain spaces: split after the last `)`.
    let rest = &text[text.rfind(')')? + 1..];
    let mut f = rest.split_whitespace();
    let state = f.next()?.chars().next()?;
    let ppid = f.next()?.parse().ok()?;
    let pgid = f.next()?.parse().ok()?;
    Some((state, ppid, pgid))
}

/// Whether `pid` is a live process (a zombie waiting to be reaped counts as gone).
pub fn alive(pid: i32) -> bool {
    matches!(proc_stat(pid), Some((s, _, _)) if s != 'Z' && s != 'X')
}

/// Live processes whose process group is `pgid`.
pub fn group_members(pgid: i32) -> Vec<i32> {
    let Ok(dir) = std::fs::read_dir("/proc") else { return Vec::new() };
    dir.filter_map(|e| e.ok()?.file_name().to_str()?.parse::<i32>().ok())
        .filter(|&pid| matches!(proc_stat(pid), Some((s, _, g)) if g == pgid && s != 'Z' && s != 'X'))
        .collect()
}

/// Asserts that the process `pid` and every process of the group it leads are gone.
///
/// A process SIGKILLed a moment ago may linger until the kernel tears it down and its parent
/// (often init, after reparenting) reaps it, so this waits a little before failing.
pub fn assert_group_gone(pid: i32) {
    const LINGER: std::time::Duration = std::time::Duration::from_secs(10);
    let start = std::time::Instant::now();
    loop {
        let mut left = group_members(pid);
        if alive(pid) && !left.contains(&pid) {
            left.push(pid);
        }
        if left.is_empty() {
            return;
        }
        assert!(start.elapsed() < LINGER, "processes of task group {pid} survived dagrun: {left:?}");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

/// How many lines of `path` hold each distinct text (a missing file counts nothing): tasks
/// append `$DAGRUN_TASK` to a shared log, and this counts how often each ran.
pub fn line_counts(path: &Path) -> std::collections::BTreeMap<String, usize> {
    let mut m = std::collections::BTreeMap::new();
    for l in std::fs::read_to_string(path).unwrap_or_default().lines() {
        *m.entry(l.to_owned()).or_default() += 1;
    }
    m
}

/// The state file at `path` with its journal replayed, as `dagrun resume` sees it.
pub fn load_state(path: &Path) -> dagrun::state::model::StateFile {
    dagrun::state::store::load(path).unwrap_or_else(|e| panic!("load `{}`: {e:#}", path.display()))
}

/// One `dagrun` invocation, set up and checked in one expression: the files it needs in its
/// directory, its arguments and environment, and what it must answer. Every run is checked
/// not to have panicked or died of a signal; a missed expectation fails with the whole output.
///
/// ```ignore
/// let out = Test::new()
///     .file("flow.yaml", "tasks:\n  a: {cmd: 'exit 3'}\n")
///     .args(&["run", "flow.yaml"])
///     .code(1)
///     .stderr_has("failed   a: exit code 3")
///     .run();
/// ```
pub struct Test {
    dir: TestDir,
    args: Vec<String>,
    env: Vec<(String, String)>,
    code: Option<i32>,
    stdout_has: Vec<String>,
    stderr_has: Vec<String>,
    stderr_lacks: Vec<String>,
}

enum TestDir {
    Own(tempfile::TempDir),
    Given(PathBuf),
}

/// What a `Test` run answered; `dir` is where it ran (kept while this lives, for a `Test` that
/// made its own).
pub struct Ran {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
    pub dir: PathBuf,
    _own: Option<tempfile::TempDir>,
}

impl Test {
    /// In a fresh temporary directory.
    pub fn new() -> Test {
        Test::with_dir(TestDir::Own(tempfile::tempdir().expect("a temporary directory")))
    }

    /// In `dir`, which the test keeps.
    pub fn in_dir(dir: &Path) -> Test {
        Test::with_dir(TestDir::Given(dir.to_path_buf()))
    }

    fn with_dir(dir: TestDir) -> Test {
        Test {
            dir,
            args: Vec::new(),
            env: Vec::new(),
            code: None,
            stdout_has: Vec::new(),
            stderr_has: Vec::new(),
            stderr_lacks: Vec::new(),
        }
    }

    pub fn dir(&self) -> &Path {
        match &self.dir {
            TestDir::Own(t) => t.path(),
            TestDir::Given(p) => p,
        }
    }

    pub fn file(self, name: &str, text: &str) -> Test {
        write(self.dir(), name, text);
        self
    }

    pub fn args(mut self, args: &[&str]) -> Test {
        self.args.extend(args.iter().map(|a| a.to_string()));
        self
    }

    pub fn env(mut self, key: &str, value: &str) -> Test {
        self.env.push((key.to_owned(), value.to_owned()));
        self
    }

    /// The exit code it must give.
    pub fn code(mut self, code: i32) -> Test {
        self.code = Some(code);
        self
    }

    pub fn stdout_has(mut self, text: &str) -> Test {
        self.stdout_has.push(text.to_owned());
        self
    }

    pub fn stderr_has(mut self, text: &str) -> Test {
        self.stderr_has.push(text.to_owned());
        self
    }

    pub fn stderr_lacks(mut self, text: &str) -> Test {
        self.stderr_lacks.push(text.to_owned());
        self
    }

    /// Runs it to its end (within `LIMIT`) and checks what was asked.
    pub fn run(self) -> Ran {
        let mut cmd = dagrun();
        cmd.current_dir(self.dir()).args(&self.args).envs(self.env.iter().map(|(k, v)| (k, v)));
        let out = cmd.timeout(LIMIT).output().expect("run dagrun");
        self.check(out)
    }

    /// Checks what another way of running dagrun (under a limit, through a wrapper) answered.
    pub fn check(self, out: std::process::Output) -> Ran {
        let args = &self.args;
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        let shown = format!("dagrun {args:?}\n--- stdout\n{stdout}--- stderr\n{stderr}");
        let code = out.status.code().unwrap_or_else(|| panic!("killed: {:?}\n{shown}", out.status));
        assert!(code != 101 && !stderr.contains("panicked"), "dagrun panicked\n{shown}");
        if let Some(want) = self.code {
            assert_eq!(code, want, "exit code\n{shown}");
        }
        for t in &self.stdout_has {
            assert!(stdout.contains(t.as_str()), "stdout lacks {t:?}\n{shown}");
        }
        for t in &self.stderr_has {
            assert!(stderr.contains(t.as_str()), "stderr lacks {t:?}\n{shown}");
        }
        for t in &self.stderr_lacks {
            assert!(!stderr.contains(t.as_str()), "stderr has {t:?}\n{shown}");
        }
        let dir = self.dir().to_path_buf();
        let own = match self.dir {
            TestDir::Own(t) => Some(t),
            TestDir::Given(_) => None,
        };
        Ran { code, stdout, stderr, dir, _own: own }
    }
}

/// `dagrun ARGS` in `dir`, checked not to have panicked or died of a signal.
pub fn dagrun_in(dir: &Path, args: &[&str]) -> Ran {
    Test::in_dir(dir).args(args).run()
}

/// A task command that says it started (`started`) and runs until the test creates `go`.
pub const UNTIL_GO: &str = "touch started; while [ ! -e go ]; do sleep 0.02; done";

/// Starts `dagrun run flow.yaml` in `dir` and returns once a task running `UNTIL_GO` started.
pub fn run_until_started(dir: &Path) -> std::process::Child {
    let run = dagrun_std().current_dir(dir).args(["run", "flow.yaml"]).spawn().expect("start dagrun");
    wait_for_file(&dir.join("started"));
    run
}
