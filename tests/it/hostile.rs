//! Hostile input, beyond the malformed files of `validate.rs` (alias bombs, deep nesting, invalid
//! UTF-8, binary junk): 100 MB files, NUL bytes in escapes, templates that build huge strings,
//! matrix products past the limit, ids aimed at paths, invalid environment names and values,
//! workdirs that are not there, symbolic links in the run directory, run directories that
//! cannot be written (as root too), and control characters echoed in messages.
//!
//! Every case checks the exit code, a message naming the problem, that dagrun did not panic,
//! and that nothing was written outside the directory it was given.

use crate::common::{Ran, Test, assert_group_gone, dagrun_in, read_pid, write};
use std::path::{Path, PathBuf};

/// `dagrun_in` with extra environment variables.
fn dagrun_env(dir: &Path, env: &[(&str, &str)], args: &[&str]) -> Ran {
    env.iter().fold(Test::in_dir(dir).args(args), |t, (k, v)| t.env(k, v)).run()
}

/// Runs dagrun under a limit on its address space (KiB), through `sh -c 'ulimit -v'`.
fn dagrun_limited(dir: &Path, kib: u64, args: &[&str]) -> Ran {
    let bin = assert_cmd::cargo::cargo_bin("dagrun");
    let out = std::process::Command::new("sh")
        .current_dir(dir)
        .env("NO_COLOR", "1")
        .arg("-c")
        .arg(format!("ulimit -v {kib} && exec \"$0\" \"$@\""))
        .arg(bin)
        .args(args)
        .output()
        .expect("run dagrun");
    Test::in_dir(dir).args(args).check(out)
}

/// A temporary `root` holding only `work`, where dagrun runs: whatever dagrun writes must stay
/// under `work`.
struct Sandbox {
    _tmp: tempfile::TempDir,
    root: PathBuf,
    work: PathBuf,
}

impl Sandbox {
    fn new() -> Sandbox {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().to_path_buf();
        let work = root.join("work");
        std::fs::create_dir(&work).unwrap();
        Sandbox { _tmp: tmp, root, work }
    }

    fn assert_nothing_outside(&self) {
        let names: Vec<String> = std::fs::read_dir(&self.root)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names, ["work"], "dagrun wrote beside its directory");
    }

    /// Every entry under `work`, relative, sorted.
    fn listing(&self) -> Vec<String> {
        fn walk(base: &Path, dir: &Path, out: &mut Vec<String>) {
            for e in std::fs::read_dir(dir).unwrap() {
                let p = e.unwrap().path();
                out.push(p.strip_prefix(base).unwrap().display().to_string());
                if std::fs::symlink_metadata(&p).unwrap().is_dir() {
                    walk(base, &p, out);
                }
            }
        }
        let mut out = Vec::new();
        walk(&self.work, &self.work, &mut out);
        out.sort();
        out
    }
}

// ---------------------------------------------------------------------------------------------
// Big files

#[test]
fn a_100_mb_file_is_read_and_a_file_past_the_limit_is_refused_unread() {
    let s = Sandbox::new();
    let path = s.work.join("big.yaml");
    let mut text = String::with_capacity(101 << 20);
    text.push_str("# ");
    text.push_str(&"x".repeat(100 << 20));
    text.push_str("\ntasks:\n  a:\n    cmd: echo hi\n");
    std::fs::write(&path, &text).unwrap();
    let out = dagrun_in(&s.work, &["validate", "big.yaml"]);
    assert_eq!((out.code, out.stdout.as_str()), (0, "big.yaml: valid, 1 task\n"), "{}", out.stderr);

    // The same with a syntax error at its end, then with a NUL byte there: located.
    text.push_str("  b: {cmd: 'unterminated\n");
    std::fs::write(&path, &text).unwrap();
    let out = dagrun_in(&s.work, &["validate", "big.yaml"]);
    assert_eq!(out.code, 3, "{}", out.stderr);
    assert!(out.stderr.starts_with("error: big.yaml:6:"), "{}", out.stderr);
    text.truncate(text.len() - "  b: {cmd: 'unterminated\n".len());
    text.push_str("  b:\n    cmd: \"x\0\"\n");
    std::fs::write(&path, &text).unwrap();
    let out = dagrun_in(&s.work, &["validate", "big.yaml"]);
    assert_eq!(out.code, 3, "{}", out.stderr);
    assert!(out.stderr.contains("big.yaml:6:12: ") && out.stderr.contains("U+0000"), "{}", out.stderr);
    drop(text);

    // 2 GiB (sparse): refused from its size, before a byte is read, even with 256 MiB of memory.
    let f = std::fs::File::create(&path).unwrap();
    f.set_len(2 << 30).unwrap();
    let out = dagrun_limited(&s.work, 256 << 10, &["validate", "big.yaml"]);
    assert_eq!(out.code, 3, "{}", out.stderr);
    assert!(out.stderr.contains("more than the 1073741824 bytes a workflow may have"), "{}", out.stderr);
    std::fs::remove_file(&path).unwrap();
    assert!(s.listing().is_empty(), "{:?}", s.listing());
    s.assert_nothing_outside();
}

#[test]
fn a_command_too_long_for_the_system_fails_with_a_reason() {
    let s = Sandbox::new();
    write(&s.work, "long.yaml", &format!("tasks:\n  a:\n    cmd: \"echo {}\"\n", "x".repeat(200_000)));
    let out = dagrun_in(&s.work, &["run", "long.yaml", "--progress", "plain"]);
    assert_eq!(out.code, 1, "{}", out.stderr);
    assert!(
        out.stderr
            .contains("failed   a: cannot start `sh`: the command or one environment value is too long")
    );
    s.assert_nothing_outside();
}

// ---------------------------------------------------------------------------------------------
// NUL bytes and environment variables

#[test]
fn nul_bytes_written_as_escapes_are_refused_in_every_field() {
    let s = Sandbox::new();
    write(
        &s.work,
        "nul.yaml",
        r#"params: {p: "a\0b"}
env: {W: "x\0y"}
tasks:
  a: {cmd: "echo \0"}
  b: {cmd: ["ec\0ho"]}
  c: {cmd: echo, workdir: "d\0"}
  d: {cmd: echo, env: {V: "x\0"}}
  e: {cmd: "echo {{ p }}"}
  f: {cmd: echo, after: ["a\0"]}
"#,
    );
    for cmd in ["validate", "run"] {
        let out = dagrun_in(&s.work, &[cmd, "nul.yaml"]);
        assert_eq!(out.code, 3, "{cmd}: {}", out.stderr);
        for needle in [
            "field `env.W`: value contains a NUL byte",
            "task `a`, field `cmd`: renders to a string containing a NUL byte",
            "task `b`, field `cmd`: renders to a string containing a NUL byte",
            "task `c`, field `workdir`: renders to a string containing a NUL byte",
            "task `d`, field `env.V`: renders to a string containing a NUL byte",
            "task `e`, field `cmd`: renders to a string containing a NUL byte",
            "task `f`, field `after`: renders to a string containing a NUL byte",
        ] {
            assert!(out.stderr.contains(needle), "{cmd}: missing {needle:?} in:\n{}", out.stderr);
        }
        assert!(!out.stderr.contains('\0'), "{cmd}: a NUL byte reached the terminal");
    }
    assert_eq!(s.listing(), ["nul.yaml"], "a refused run writes nothing");
    s.assert_nothing_outside();
}

#[test]
fn invalid_environment_names_are_refused() {
    let s = Sandbox::new();
    write(
        &s.work,
        "env.yaml",
        "env: {\"A=B\": x}\ntasks:\n  a:\n    cmd: echo\n    env: {\"\": x, \"1A\": x, \"A B\": x, \"É\": x, \"A\\0B\": x, \"PATH=/evil:$PATH\": x}\n",
    );
    let out = dagrun_in(&s.work, &["run", "env.yaml"]);
    assert_eq!(out.code, 3, "{}", out.stderr);
    for name in ["A=B", "", "1A", "A B", "É", "A\\0B", "PATH=/evil:$PATH"] {
        let needle = format!("`{name}` is not a valid environment variable name");
        assert!(out.stderr.contains(&needle), "missing {needle:?} in:\n{}", out.stderr);
    }
    assert!(out.stderr.contains("field `env.A\\0B`"), "{}", out.stderr);
    assert_eq!(s.listing(), ["env.yaml"]);
    s.assert_nothing_outside();
}

// ---------------------------------------------------------------------------------------------
// Templates and matrices

/// Each of these holds gigabytes after a few instructions, so fuel does not stop them; the
/// render's memory budget does, with exit 3, before an address-space limit of 4 GiB is reached.
#[test]
fn templates_that_build_huge_strings_stop_with_a_clear_error() {
    let s = Sandbox::new();
    let budget = "a template needs more than 1 GiB of memory to render";
    let cases = [
        (
            "namespace.yaml",
            "{% set ns = namespace(s='x' * 1000000) %}{% for i in range(40) %}{% set ns.s = ns.s ~ ns.s %}{% endfor %}{{ ns.s|length }}",
            budget,
        ),
        (
            "macro.yaml",
            "{% macro f(s, n) %}{% if n %}{{ f(s ~ s, n - 1) }}{% else %}{{ s|length }}{% endif %}{% endmacro %}{{ f('x' * 1000000, 40) }}",
            budget,
        ),
        (
            "straight.yaml",
            "{% set a = 'x' * 100000000 %}{% set b = a ~ a %}{% set c = b ~ b %}{% set d = c ~ c %}{% set e = d ~ d %}{{ e|length }}",
            budget,
        ),
        ("repeat.yaml", "{{ 'x' * 1000000000 }}", "repeated string is too large"),
        ("output.yaml", "{{ 'x' * 20000000 }}", "more than the limit of 16777216"),
    ];
    for (file, tpl, needle) in cases {
        write(&s.work, file, &format!("tasks:\n  hog:\n    cmd: \"{tpl}\"\n"));
        let out = dagrun_limited(&s.work, 4 << 20, &["run", file]);
        assert_eq!(out.code, 3, "{file}: {}", out.stderr);
        assert!(out.stderr.contains(needle), "{file}: missing {needle:?}:\n{}", out.stderr);
        assert!(out.stderr.contains(file) && out.stderr.contains("hog"), "{}", out.stderr);
    }
    // A matrix expression too: one long expression of concatenations, no loop needed.
    let terms = ["'x' * 100000000"; 12].join(" ~ ");
    write(
        &s.work,
        "axis.yaml",
        &format!("tasks:\n  hog:\n    matrix: {{v: \"{{{{ [{terms}] }}}}\"}}\n    cmd: echo\n"),
    );
    let out = dagrun_limited(&s.work, 4 << 20, &["validate", "axis.yaml"]);
    assert_eq!(out.code, 3, "{}", out.stderr);
    assert!(out.stderr.contains(budget), "{}", out.stderr);
    assert!(s.listing().iter().all(|f| f.ends_with(".yaml")), "{:?}", s.listing());
    s.assert_nothing_outside();
}

/// A generator's output is rendered inside the run: a template there that exhausts the budget
/// stops the run (exit 3) as a `kill -9` would, and resume continues once the output is fixed.
#[test]
fn a_generated_template_that_builds_a_huge_string_stops_the_run_resumably() {
    generated_template_stops_the_run_resumably(
        "{% set ns = namespace(s='x' * 1000000) %}{% for i in range(40) %}{% set ns.s = ns.s ~ ns.s %}{% endfor %}{{ ns.s }}",
        |dir, args| dagrun_limited(dir, 4 << 20, args),
        "a template needs more than 1 GiB",
    );
}

/// Runs (with `run`) a generator whose output is one task `x` with `cmd`: the run must stop
/// with exit 3 and `reason` for `g/x`, and resume must finish once the output is fixed.
fn generated_template_stops_the_run_resumably(cmd: &str, run: impl Fn(&Path, &[&str]) -> Ran, reason: &str) {
    let s = Sandbox::new();
    write(
        &s.work,
        "gen.yaml",
        "tasks:\n  g:\n    generator: true\n    cmd: cat frag.yaml\n  after:\n    after: [g]\n    cmd: 'true'\n",
    );
    write(&s.work, "frag.yaml", &format!("tasks: {{x: {{cmd: \"{cmd}\"}}}}\n"));
    let out = run(&s.work, &["run", "gen.yaml", "--progress", "plain"]);
    assert_eq!(out.code, 3, "{}", out.stderr);
    assert!(out.stderr.contains(&format!("output of `g`: task `g/x`: {reason}")), "{}", out.stderr);
    write(&s.work, "frag.yaml", "tasks: {x: {cmd: 'true'}}\n");
    let out = run(&s.work, &["resume", ".dagrun/gen/state.json", "--progress", "plain"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(out.stderr.contains("run succeeded") && out.stderr.contains("3 succeeded"), "{}", out.stderr);
    s.assert_nothing_outside();
}

/// `[1] * 10**16` is a lazy sequence: minijinja spends no fuel walking it for `in`, `==`, `~`,
/// an index or printing it inside a list, nor looping over an empty one repeated a trillion
/// times, and nothing is allocated, so neither fuel nor the memory budget stops these. The
/// render timeout does (1 s here instead of 30), naming the file and the task, with exit 3.
#[test]
fn templates_that_walk_a_huge_sequence_are_stopped_by_the_render_timeout() {
    let s = Sandbox::new();
    let cases = [
        ("in.yaml", "{{ -1 in [1] * 10**16 }}"),
        ("eq.yaml", "{{ ([1] * 10**16) == ([1] * 10**16) }}"),
        ("concat.yaml", "{{ (([1] * 10**16) ~ 1) | length }}"),
        ("index.yaml", "{{ (range(10) * 10**15)[10**15] }}"),
        ("nested.yaml", "{{ [[1] * 10**16] }}"),
        // No item, so no fuel spent, in a trillion empty repetitions (found by fuzzing).
        ("for.yaml", "{% for x in range(0) * 10**12 %}{{ x }}{% endfor %}"),
    ];
    for (file, tpl) in cases {
        write(&s.work, file, &format!("tasks:\n  walk:\n    cmd: \"{tpl}\"\n"));
    }
    std::thread::scope(|scope| {
        for (file, _) in cases {
            let work = &s.work;
            scope.spawn(move || {
                let out = dagrun_env(work, &[("DAGRUN_TEMPLATE_TIMEOUT", "1")], &["run", file]);
                assert_eq!(out.code, 3, "{file}: {}", out.stderr);
                assert!(
                    out.stderr.contains(&format!(
                        "error: {file}: task `walk`: a template has been rendering for 1 s without finishing"
                    )),
                    "{file}: {}",
                    out.stderr
                );
            });
        }
    });
    assert!(s.listing().iter().all(|f| f.ends_with(".yaml")), "{:?}", s.listing());
    s.assert_nothing_outside();
}

/// In a generator's output the timeout stops the run as a `kill -9` would; resume continues
/// once the output is fixed.
#[test]
fn a_generated_template_that_never_finishes_stops_the_run_resumably() {
    generated_template_stops_the_run_resumably(
        "{{ -1 in [1] * 10**16 }}",
        |dir, args| dagrun_env(dir, &[("DAGRUN_TEMPLATE_TIMEOUT", "1")], args),
        "a template has been rendering for 1 s without finishing",
    );
}

/// A budget stop ends dagrun at once with `_exit`, also while other tasks run: the reaper
/// must still kill them, as it does after a `kill -9` (no task process outlives dagrun).
#[test]
fn a_template_stop_mid_run_leaves_no_task_running() {
    let s = Sandbox::new();
    write(
        &s.work,
        "busy.yaml",
        "tasks:\n  slow:\n    cmd: 'echo $$ > slow.pid; exec sleep 1000'\n  g:\n    generator: true\n    cmd: 'while [ ! -s slow.pid ]; do sleep 0.01; done; cat frag.yaml'\n",
    );
    write(&s.work, "frag.yaml", "tasks: {x: {cmd: \"{{ -1 in [1] * 10**16 }}\"}}\n");
    let out = dagrun_env(
        &s.work,
        &[("DAGRUN_TEMPLATE_TIMEOUT", "1")],
        &["run", "busy.yaml", "-j", "2", "--progress", "plain"],
    );
    assert_eq!(out.code, 3, "{}", out.stderr);
    assert!(out.stderr.contains("task `g/x`: a template has been rendering for 1 s"), "{}", out.stderr);
    assert_group_gone(read_pid(&s.work.join("slow.pid")));
    s.assert_nothing_outside();
}

/// 10,000 × 10,000 is past the default limit of 10,000,000 tasks: refused from the sizes of the
/// axes, before any instance exists (with 1 GiB of address space the instances could not).
#[test]
fn a_matrix_product_past_the_limit_is_refused_before_allocating() {
    let s = Sandbox::new();
    write(
        &s.work,
        "product.yaml",
        "tasks:\n  t:\n    matrix: {a: \"{{ range(10000) }}\", b: \"{{ range(10000) }}\"}\n    cmd: echo {{ a }} {{ b }}\n",
    );
    let out = dagrun_limited(&s.work, 1 << 20, &["run", "product.yaml"]);
    assert_eq!(out.code, 3, "{}", out.stderr);
    assert!(
        out.stderr.contains("task `t`, field `matrix`: expands to more than the limit of 10000000 tasks")
    );
    // Three small axes past a small limit, and the sum of two tasks past it.
    write(
        &s.work,
        "three.yaml",
        "tasks:\n  t:\n    matrix: {a: [1, 2, 3], b: [1, 2], c: [1, 2]}\n    cmd: echo\n  u:\n    matrix: {a: [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11]}\n    cmd: echo\n",
    );
    let out = dagrun_in(&s.work, &["validate", "--max-tasks", "12", "three.yaml"]);
    assert_eq!(out.code, 3, "{}", out.stderr);
    assert!(out.stderr.contains("task `u`, field `matrix`: expands to more than the limit of 12 tasks"));
    assert_eq!(s.listing(), ["product.yaml", "three.yaml"]);
    s.assert_nothing_outside();
}

// ---------------------------------------------------------------------------------------------
// Ids aimed at paths

#[test]
fn ids_aimed_at_paths_keep_their_logs_in_the_run_directory() {
    let s = Sandbox::new();
    let passwd = std::fs::read("/etc/passwd").ok();
    write(
        &s.work,
        "paths.yaml",
        "tasks:\n  t:\n    matrix: {v: [\"../../../../../../../../x\", \"/etc/passwd\", \"a/b\", \"..\", \".\", \"~root\", \"../../escape.log\"]}\n    cmd: echo {{ v | shell_quote }}\n",
    );
    let out = dagrun_in(&s.work, &["run", "paths.yaml", "--progress", "plain"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(out.stderr.contains("ok       t[v=/etc/passwd]"), "{}", out.stderr);
    let logs: Vec<String> = std::fs::read_dir(s.work.join(".dagrun/paths/logs"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(logs.len(), 7, "one log per task, all in logs/: {logs:?}");
    assert!(logs.contains(&"t[v=%2Fetc%2Fpasswd].1.log".to_owned()), "{logs:?}");
    assert!(logs.iter().all(|l| !l.contains('/') && !l.starts_with('.')), "{logs:?}");
    assert_eq!(std::fs::read("/etc/passwd").ok(), passwd);
    s.assert_nothing_outside();

    // Names that are paths are refused before anything is written.
    for (file, text) in [
        ("name.yaml", "name: ../../up\ntasks:\n  a:\n    cmd: echo\n"),
        ("task.yaml", "tasks:\n  ../x:\n    cmd: echo\n"),
        ("abs.yaml", "tasks:\n  /etc/passwd:\n    cmd: echo\n"),
        ("newline.yaml", "tasks:\n  \"a\\nb\":\n    cmd: echo\n"),
        ("value-newline.yaml", "tasks:\n  t:\n    matrix: {v: [\"a\\nb\"]}\n    cmd: echo\n"),
    ] {
        write(&s.work, file, text);
        let out = dagrun_in(&s.work, &["run", file]);
        assert_eq!(out.code, 3, "{file}: {}", out.stderr);
        assert!(
            out.stderr.contains("is not a valid") || out.stderr.contains("contains a control character"),
            "{file}: {}",
            out.stderr
        );
        assert!(!s.work.join(".dagrun").join("up").exists() && !s.root.join("up").exists());
    }
    let out = dagrun_in(&s.work, &["run", "paths.yaml", "--target", "../x"]);
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(out.stderr.contains("the workflow has no task `../x`"), "{}", out.stderr);
    s.assert_nothing_outside();
}

// ---------------------------------------------------------------------------------------------
// Workdirs

#[test]
fn a_workdir_that_is_missing_or_a_file_fails_its_task_and_resume_continues() {
    let s = Sandbox::new();
    write(&s.work, "not-a-dir", "");
    write(
        &s.work,
        "wd.yaml",
        "tasks:\n  missing: {cmd: pwd, workdir: later}\n  file: {cmd: pwd, workdir: not-a-dir}\n  other: {cmd: 'true'}\n",
    );
    let out = dagrun_in(&s.work, &["run", "wd.yaml", "--progress", "plain"]);
    assert_eq!(out.code, 1, "{}", out.stderr);
    assert!(
        out.stderr.contains("failed   missing: workdir `")
            && out.stderr.contains("later` is not a directory")
    );
    assert!(out.stderr.contains("failed   file: workdir `"), "{}", out.stderr);
    assert!(out.stderr.contains("ok       other"), "{}", out.stderr);
    std::fs::create_dir(s.work.join("later")).unwrap();
    std::fs::remove_file(s.work.join("not-a-dir")).unwrap();
    std::fs::create_dir(s.work.join("not-a-dir")).unwrap();
    let out = dagrun_in(&s.work, &["resume", ".dagrun/wd/state.json", "--progress", "plain"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    s.assert_nothing_outside();
}

// ---------------------------------------------------------------------------------------------
// Symbolic links and run directories that cannot be written

const PRECIOUS: &str = "precious, not dagrun's\n";

/// `run --state LINK` is refused whether the link's target exists or not: renaming a new state
/// over the link would silently replace it, and writing through it could overwrite anything.
#[test]
fn a_state_file_that_is_a_symbolic_link_is_refused_and_nothing_written() {
    let s = Sandbox::new();
    write(&s.work, "flow.yaml", "tasks:\n  a:\n    cmd: echo hi\n");
    let target = write(&s.work, "target.json", PRECIOUS);
    std::os::unix::fs::symlink(&target, s.work.join("link.json")).unwrap();
    std::os::unix::fs::symlink(s.work.join("nowhere.json"), s.work.join("dangling.json")).unwrap();
    let before = s.listing();
    for link in ["link.json", "dangling.json"] {
        let out = dagrun_in(&s.work, &["run", "flow.yaml", "--state", link]);
        assert_eq!(out.code, 4, "{link}: {}", out.stderr);
        assert!(out.stderr.contains(&format!("state file `{link}` is a symbolic link")), "{}", out.stderr);
        let out = dagrun_in(&s.work, &["resume", link]);
        assert_eq!(out.code, 4, "{link}: {}", out.stderr);
    }
    assert_eq!(std::fs::read_to_string(&target).unwrap(), PRECIOUS);
    assert!(std::fs::symlink_metadata(s.work.join("link.json")).unwrap().file_type().is_symlink());
    assert_eq!(s.listing(), before, "no lock, journal or logs beside a refused state");
    s.assert_nothing_outside();
}

/// A lock, journal, log or generator output that is a link (planted in a shared directory, or
/// left by mistake) is not written through: the run refuses or the task fails, and the file the
/// link points to keeps its contents, and is not shown as the task's log.
#[test]
fn links_planted_in_the_run_directory_are_not_written_through() {
    let s = Sandbox::new();
    let target = write(&s.work, "target.txt", PRECIOUS);
    write(
        &s.work,
        "flow.yaml",
        "tasks:\n  a:\n    cmd: echo from-a\n  g:\n    generator: true\n    cmd: \"echo 'tasks: {}'\"\n  b:\n    cmd: echo from-b\n",
    );
    let link = |rel: &str| {
        let p = s.work.join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::os::unix::fs::symlink(&target, &p).unwrap();
    };
    link("lock/state.json.lock");
    let out = dagrun_in(&s.work, &["run", "flow.yaml", "--state", "lock/state.json"]);
    assert_eq!(out.code, 4, "{}", out.stderr);
    assert!(out.stderr.contains("lock/state.json.lock`: it is a symbolic link"), "{}", out.stderr);

    link("journal/state.json.journal");
    let out = dagrun_in(&s.work, &["run", "flow.yaml", "--state", "journal/state.json"]);
    assert_eq!(out.code, 4, "{}", out.stderr);
    assert!(out.stderr.contains("journal/state.json.journal`: it is a symbolic link"), "{}", out.stderr);

    link("logs/logs/a.1.log");
    link("logs/logs/g.1.out");
    let out = dagrun_in(&s.work, &["run", "flow.yaml", "--state", "logs/state.json", "--progress", "plain"]);
    assert_eq!(out.code, 1, "{}", out.stderr);
    assert!(out.stderr.contains("failed   a: cannot open log `"), "{}", out.stderr);
    assert!(out.stderr.contains("a.1.log`: it is a symbolic link, which dagrun does not write through"));
    assert!(out.stderr.contains("failed   g: cannot create `"), "{}", out.stderr);
    assert!(out.stderr.contains("ok       b"), "{}", out.stderr);
    assert!(!out.stderr.contains("precious"), "the link's target is not shown as a log:\n{}", out.stderr);
    assert_eq!(std::fs::read_to_string(&target).unwrap(), PRECIOUS);
    s.assert_nothing_outside();
}

/// Permission bits do not stop root, so these make the run directory unwritable in ways that
/// hold for every user: `logs` taken by a file, the state under a file, a log path taken by a
/// directory, and a directory in /sys, where not even root may create one.
#[test]
fn a_run_directory_that_cannot_be_written_fails_clearly_even_as_root() {
    let s = Sandbox::new();
    write(&s.work, "flow.yaml", "tasks:\n  a:\n    cmd: echo hi\n  b:\n    cmd: echo hi\n");
    std::fs::create_dir(s.work.join("run")).unwrap();
    write(&s.work, "run/logs", "");
    let out = dagrun_in(&s.work, &["run", "flow.yaml", "--state", "run/state.json"]);
    assert_eq!(out.code, 4, "{}", out.stderr);
    assert!(
        out.stderr.contains("cannot create the run directory `run/logs`: it exists and is not a directory")
    );

    write(&s.work, "plain.txt", "");
    let out = dagrun_in(&s.work, &["run", "flow.yaml", "--state", "plain.txt/state.json"]);
    assert_eq!(out.code, 4, "{}", out.stderr);
    assert!(out.stderr.contains("state file `plain.txt/state.json`: Not a directory"), "{}", out.stderr);

    let out = dagrun_in(&s.work, &["run", "flow.yaml", "--state", "/sys/dagrun-hostile-test/state.json"]);
    assert_eq!(out.code, 4, "{}", out.stderr);
    assert!(out.stderr.contains("cannot create the run directory `/sys/dagrun-hostile-test/logs`"));
    assert!(!Path::new("/sys/dagrun-hostile-test").exists());

    std::fs::create_dir_all(s.work.join("dirlog/logs/a.1.log")).unwrap();
    let out =
        dagrun_in(&s.work, &["run", "flow.yaml", "--state", "dirlog/state.json", "--progress", "plain"]);
    assert_eq!(out.code, 1, "{}", out.stderr);
    assert!(out.stderr.contains("failed   a: cannot open log `"), "{}", out.stderr);
    assert!(out.stderr.contains("ok       b"), "{}", out.stderr);
    s.assert_nothing_outside();
}

// ---------------------------------------------------------------------------------------------
// Control characters in messages

/// Text from the input that reaches a message (a dependency, a field, an executor, a program, a
/// `-p` key) has its escape sequences written out, so it cannot clear or recolour the terminal.
#[test]
fn control_characters_from_input_are_escaped_in_messages() {
    let s = Sandbox::new();
    write(
        &s.work,
        "esc.yaml",
        "params: {p: 1}\ntasks:\n  a:\n    after: [\"\\e[2Jx\"]\n    \"\\e[31mbogus\": 1\n    cmd: echo\n  b:\n    executor: \"\\e[31mx\"\n    timeout: \"\\e]0;title\\a\"\n    cmd: echo\n",
    );
    let check = |out: &Ran, what: &str| {
        assert!(
            !out.stderr.contains('\u{1b}') && !out.stderr.contains('\u{7}'),
            "{what}: raw escape:\n{}",
            out.stderr
        );
        assert!(out.stderr.contains("\\u{1b}"), "{what}: {}", out.stderr);
    };
    let out = dagrun_in(&s.work, &["validate", "esc.yaml"]);
    assert_eq!(out.code, 3, "{}", out.stderr);
    check(&out, "validate");
    let out = dagrun_in(&s.work, &["validate", "--format", "json", "esc.yaml"]);
    assert_eq!(out.code, 3);
    assert!(!out.stdout.contains('\u{1b}'), "{}", out.stdout);

    write(&s.work, "ok.yaml", "params: {p: 1}\ntasks:\n  a:\n    cmd: [\"\\e[2Jnot-a-program\"]\n");
    let out = dagrun_in(&s.work, &["run", "ok.yaml", "-p", "\u{1b}[2J=1"]);
    assert_eq!(out.code, 2, "{}", out.stderr);
    check(&out, "-p");
    let out = dagrun_in(&s.work, &["run", "ok.yaml", "--target", "\u{1b}[2J"]);
    assert_eq!(out.code, 2, "{}", out.stderr);
    check(&out, "--target");
    let out = dagrun_in(&s.work, &["run", "ok.yaml", "--progress", "plain"]);
    assert_eq!(out.code, 1, "{}", out.stderr);
    check(&out, "run");
    assert!(out.stderr.contains("cannot start `\\u{1b}[2Jnot-a-program`: no such program"), "{}", out.stderr);
    s.assert_nothing_outside();
}
