//! What a run shows: plain lines (snapshot, no escape codes) and the bars on a real terminal
//! (under `script`, which gives dagrun a pseudo-terminal).

use crate::common::*;
use std::io::Read;
use std::path::Path;
use std::process::Stdio;
use std::sync::{Arc, Mutex};

/// A small run exercising every kind of plain line; deterministic with `-j 1` (the retried
/// task comes last, so no other task's start races its retry delay).
const FLOW: &str = r#"name: show
tasks:
  fetch: {cmd: "echo fetching"}
  build: {cmd: "echo building", after: fetch}
  flaky:
    after: cleanup
    retries: 1
    retry_delay: 10ms
    cmd: '[ "$DAGRUN_ATTEMPT" -ge 2 ] || { echo "not yet" >&2; exit 1; }'
  test:
    after: build
    cmd: 'echo "line one"; echo "tests failed" >&2; exit 2'
  publish: {cmd: "true", after: test}
  rescue: {cmd: "true", after: test, when: failure}
  cleanup: {cmd: "true", after: publish, when: always}
"#;

fn has_escape(s: &str) -> bool {
    s.contains('\u{1b}')
}

#[test]
fn plain_output_is_stable() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path().canonicalize().unwrap();
    let flow = write(&d, "flow.yaml", FLOW);
    let out = dagrun()
        .current_dir(&d)
        .args(["run", "-j", "1", "--progress", "plain", "flow.yaml"])
        .assert()
        .code(1)
        .get_output()
        .clone();
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(out.stdout.is_empty(), "a run writes nothing to stdout");
    assert!(!has_escape(&stderr), "escape codes in plain output:\n{stderr}");
    let dir = d.display().to_string();
    insta::with_settings!({filters => vec![
        (regex_escape(&dir).as_str(), "[DIR]"),
        (r"\b\d+\.\d\ds\b", "[TIME]"),
    ]}, {
        insta::assert_snapshot!("plain_run", stderr);
    });
    let _ = flow;
}

/// Escapes regex metacharacters in a path for an insta filter.
fn regex_escape(s: &str) -> String {
    let mut out = String::new();
    for c in s.chars() {
        if "\\.+*?()|[]{}^$".contains(c) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

#[test]
fn plain_output_is_the_default_when_not_a_terminal() {
    let tmp = tempfile::tempdir().unwrap();
    let flow = write(tmp.path(), "flow.yaml", "tasks:\n  a: {cmd: 'true'}\n  b: {cmd: 'exit 1'}\n");
    let out = dagrun().arg("run").arg(&flow).env_remove("NO_COLOR").assert().code(1).get_output().clone();
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(stderr.contains("start    a") && stderr.contains("failed   b: exit code 1"), "{stderr}");
    assert!(!has_escape(&stderr), "escape codes in output that is not a terminal:\n{stderr}");
}

/// `dagrun run FLOW` in `dir` under a pseudo-terminal (`script`), `columns` wide, with
/// `NO_COLOR` set to `no_color` (unset if none); what it draws is captured as it comes.
struct Terminal {
    child: std::process::Child,
    captured: Arc<Mutex<Vec<u8>>>,
    reader: std::thread::JoinHandle<()>,
}

impl Terminal {
    fn run(flow: &Path, dir: &Path, columns: u32, no_color: Option<&str>) -> Terminal {
        let bin = assert_cmd::cargo::cargo_bin("dagrun");
        let inner = format!("'{}' run '{}'", bin.display(), flow.display());
        let mut cmd = std::process::Command::new("script");
        cmd.args(["-q", "-e", "-c", &inner, "/dev/null"])
            .current_dir(dir)
            .env("TERM", "xterm")
            .env("COLUMNS", columns.to_string())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        match no_color {
            Some(v) => cmd.env("NO_COLOR", v),
            None => cmd.env_remove("NO_COLOR"),
        };
        let mut child = cmd.spawn().expect("run `script` (util-linux)");
        let captured = Arc::new(Mutex::new(Vec::new()));
        let reader = {
            let captured = captured.clone();
            let mut stdout = child.stdout.take().unwrap();
            std::thread::spawn(move || {
                let mut buf = [0u8; 4096];
                while let Ok(n) = stdout.read(&mut buf) {
                    if n == 0 {
                        break;
                    }
                    captured.lock().unwrap().extend_from_slice(&buf[..n]);
                }
            })
        };
        Terminal { child, captured, reader }
    }
}

/// Runs `dagrun run` under a pseudo-terminal; a task waits for the test to see the bars drawn
/// with it running, so the capture surely holds a frame with a running task.
/// `no_color`: the value of `NO_COLOR`, or none to leave it unset.
fn run_in_terminal(no_color: Option<&str>) -> String {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let yaml = format!(
        "env:\n  DIR: \"{}\"\ntasks:
  first: {{cmd: 'true'}}
  waiter:
    after: first
    cmd: 'i=0; while [ ! -e \"$DIR/go\" ]; do i=$((i + 1)); [ $i -gt 1200 ] && exit 1; sleep 0.05; done'
  last: {{cmd: 'true', after: waiter}}
",
        d.display()
    );
    let flow = write(d, "flow.yaml", &yaml);
    let Terminal { mut child, captured, reader } = Terminal::run(&flow, d, 100, no_color);
    let start = std::time::Instant::now();
    loop {
        let seen = String::from_utf8_lossy(&captured.lock().unwrap()).into_owned();
        if seen.contains("1 running") && seen.contains("waiter") {
            break;
        }
        assert!(start.elapsed() < LIMIT, "no bar with a running task was drawn:\n{seen:?}");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    std::fs::write(d.join("go"), "").unwrap();
    let status = wait_exit(&mut child, LIMIT);
    reader.join().unwrap();
    let out = String::from_utf8_lossy(&captured.lock().unwrap()).into_owned();
    assert!(status.success(), "{status:?}: {out:?}");
    out
}

#[test]
fn bars_are_drawn_on_a_terminal() {
    need_script();
    let out = run_in_terminal(None);
    assert!(has_escape(&out), "no escape codes on a terminal: {out:?}");
    assert!(out.contains("/3"), "the overall bar shows done/total: {out:?}");
    assert!(out.contains("\u{1b}[3"), "colours on a terminal without NO_COLOR: {out:?}");
    let summary = out.lines().rev().find(|l| l.contains("run succeeded")).unwrap_or("");
    assert!(summary.ends_with(": 3 succeeded\r") || summary.ends_with(": 3 succeeded"), "{out:?}");
    assert!(!out.contains("start    "), "plain lines on a terminal: {out:?}");
}

#[test]
fn no_color_set_but_empty_keeps_colours() {
    need_script();
    // no-color.org: only a non-empty NO_COLOR disables colour.
    let out = run_in_terminal(Some(""));
    assert!(out.contains("\u{1b}[3"), "no colours with NO_COLOR set to the empty string: {out:?}");
}

#[test]
fn no_color_removes_colours_from_the_bars() {
    need_script();
    let out = run_in_terminal(Some("1"));
    assert!(out.contains("/3") && out.contains("run succeeded"), "{out:?}");
    let colour = (30..=49).any(|n| out.contains(&format!("\u{1b}[{n}m"))) || out.contains("\u{1b}[0m");
    assert!(!colour, "colour escape codes despite NO_COLOR: {out:?}");
}

/// The terminal tests need `script` (util-linux) for a pseudo-terminal; they fail without it.
fn need_script() {
    assert!(which("script").is_some(), "these tests need `script` from util-linux (Debian: bsdutils)");
}

/// The screen a terminal would show after `out`: enough of a VT100 for what indicatif writes
/// (text, `\r`, `\n`, cursor up/down, erase line, colours ignored).
fn screen(out: &str) -> Vec<String> {
    let mut rows: Vec<Vec<char>> = vec![Vec::new()];
    let (mut row, mut col) = (0usize, 0usize);
    let mut chars = out.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\r' => col = 0,
            '\n' => {
                row += 1;
                col = 0;
            }
            '\u{1b}' if chars.peek() == Some(&'[') => {
                chars.next();
                let mut arg = String::new();
                let mut cmd = ' ';
                for c in chars.by_ref() {
                    if c.is_ascii_alphabetic() {
                        cmd = c;
                        break;
                    }
                    arg.push(c);
                }
                let n: usize = arg.parse().unwrap_or(1);
                match cmd {
                    'A' => row = row.saturating_sub(n),
                    'B' => row += n,
                    'K' if arg == "2" => rows.get_mut(row).map(Vec::clear).unwrap_or_default(),
                    'K' => {
                        if let Some(r) = rows.get_mut(row) {
                            r.truncate(col)
                        }
                    }
                    _ => {}
                }
            }
            c if c.is_control() => {}
            c => {
                while rows.len() <= row {
                    rows.push(Vec::new());
                }
                let r = &mut rows[row];
                while r.len() < col {
                    r.push(' ');
                }
                if col < r.len() {
                    r[col] = c;
                } else {
                    r.push(c);
                }
                col += 1;
            }
        }
        while rows.len() <= row {
            rows.push(Vec::new());
        }
    }
    rows.into_iter().map(|r| r.into_iter().collect::<String>().trim_end().to_owned()).collect()
}

/// Ctrl-C on a terminal: the tasks being stopped are shown as stopping and not counted as
/// done, the bar says a second Ctrl-C kills at once, and the bar is gone from the screen when
/// the summary is printed.
#[test]
fn ctrl_c_on_a_terminal_shows_stopping_and_leaves_no_stale_bar() {
    need_script();
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let wait = "i=0; while [ ! -e \\\"$DIR/never\\\" ]; do i=$((i + 1)); [ $i -gt 1200 ] && exit 1; sleep 0.05; done";
    let yaml = format!(
        "env:\n  DIR: \"{}\"\ntasks:\n  \
         stubborn: {{cmd: \"echo $PPID > \\\"$DIR/pid\\\"; trap 'touch \\\"$DIR/termed\\\"' TERM; {wait}\"}}\n  \
         other: {{cmd: \"{wait}\"}}\n  later: {{cmd: 'true', after: [stubborn, other]}}\n",
        d.display()
    );
    let flow = write(d, "flow.yaml", &yaml);
    let Terminal { mut child, captured, reader } = Terminal::run(&flow, d, 120, Some("1"));
    let seen = || String::from_utf8_lossy(&captured.lock().unwrap()).into_owned();
    let wait_for = |what: &str| {
        let start = std::time::Instant::now();
        while !seen().contains(what) {
            assert!(start.elapsed() < LIMIT, "never shown: {what:?} in {:?}", seen());
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
    };
    wait_for("2 running");
    wait_for_file(&d.join("pid"));
    let dagrun_pid = nix::unistd::Pid::from_raw(read_pid(&d.join("pid")));
    nix::sys::signal::kill(dagrun_pid, nix::sys::signal::Signal::SIGINT).unwrap();
    wait_for_file(&d.join("termed"));
    wait_for("stopping (Ctrl-C again kills at once)");
    wait_for("stubborn stopping");
    nix::sys::signal::kill(dagrun_pid, nix::sys::signal::Signal::SIGINT).unwrap();
    let status = wait_exit(&mut child, LIMIT);
    reader.join().unwrap();
    let out = seen();
    assert_eq!(status.code(), Some(130), "{out:?}");
    assert!(!out.contains("1/3") && !out.contains("2/3"), "a stopped task was counted as done: {out:?}");
    let rows: Vec<String> = screen(&out).into_iter().filter(|r| !r.is_empty()).collect();
    assert_eq!(rows.len(), 2, "the screen after the run: {rows:#?}\n{out:?}");
    assert!(rows[0].starts_with("run interrupted in "), "{rows:#?}");
    assert!(rows[0].ends_with(": 0 succeeded, 2 interrupted, 1 not started"), "{rows:#?}");
    assert_eq!(rows[1], "to continue: dagrun resume .dagrun/flow/state.json");
}

fn which(program: &str) -> Option<std::path::PathBuf> {
    std::env::var_os("PATH")?
        .to_str()?
        .split(':')
        .map(|dir| Path::new(dir).join(program))
        .find(|p| p.is_file())
}
