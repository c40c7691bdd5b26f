//! A `cmd` string that needs no shell is run without one, and nothing a task can see differs
//! from `sh -c` running it: each case runs the same command both ways and compares.

use crate::common::*;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

/// How one run of a task `t` went: dagrun's line about it and the task's log.
#[derive(Debug, PartialEq)]
struct Seen {
    line: String,
    log: String,
}

/// Runs `cmd` in `d` as the string `cmd` (direct where it can be) and as `[sh, -c, cmd]`.
fn both_ways(d: &Path, cmd: &str) -> (Seen, Seen) {
    let quoted = cmd.replace('\'', "''");
    write(d, "direct.yaml", &format!("tasks:\n  t: {{cmd: '{quoted}'}}\n"));
    write(d, "shell.yaml", &format!("tasks:\n  t: {{cmd: [sh, -c, '{quoted}']}}\n"));
    let seen = |flow: &str| {
        let out = dagrun()
            .current_dir(d)
            .args(["run", "--progress", "plain", flow])
            .env("not-a-shell-name", "1")
            .env("PWD", "/")
            .timeout(LIMIT)
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        let stem = flow.trim_end_matches(".yaml");
        let line = err
            .lines()
            .find(|l| (l.starts_with("ok ") || l.starts_with("failed ")) && l.contains(" t"))
            .unwrap_or_default()
            .replace(stem, "FLOW");
        // How long it took is not what is compared.
        let line = match line.rsplit_once(" in ") {
            Some((head, took)) if took.ends_with('s') && took.starts_with(|c: char| c.is_ascii_digit()) => {
                head.to_owned()
            }
            _ => line,
        };
        let log = std::fs::read_to_string(d.join(format!(".dagrun/{stem}/logs/t.1.log"))).unwrap_or_default();
        // What is the run's own (its directory, its reaper) differs between the two runs.
        let log = log
            .lines()
            .filter(|l| !l.starts_with("DAGRUN_REAPER=") && !l.starts_with("DAGRUN_RUN_DIR="))
            .map(|l| format!("{l}\n"))
            .collect();
        Seen { line, log }
    };
    (seen("direct.yaml"), seen("shell.yaml"))
}

fn script(d: &Path, name: &str, text: &str, mode: u32) {
    let p = write(d, name, text);
    std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode)).unwrap();
}

#[test]
fn a_plain_command_runs_without_a_shell() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    script(d, "parent.sh", "#!/bin/sh\ncat /proc/$PPID/comm\n", 0o755);
    let (direct, shell) = both_ways(d, "./parent.sh");
    assert_eq!(direct.log, "dagrun\n", "{direct:?}");
    assert_eq!(shell.log, "sh\n", "{shell:?}");
    // A command with anything the shell interprets still goes through it.
    let (direct, _) = both_ways(d, "./parent.sh > /dev/stderr");
    assert_eq!(direct.log, "sh\n", "{direct:?}");
}

#[test]
fn the_environment_is_the_one_the_shell_passes_on() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let (direct, shell) = both_ways(d, "env");
    let sorted = |s: &Seen| {
        let mut l: Vec<&str> = s.log.lines().collect();
        l.sort();
        l.join("\n")
    };
    assert_eq!(sorted(&direct), sorted(&shell));
    assert!(direct.log.contains("PWD=") && !direct.log.contains("not-a-shell-name"), "{direct:?}");
    assert_eq!(direct.line, shell.line);
}

#[test]
fn a_missing_program_fails_as_in_the_shell() {
    let tmp = tempfile::tempdir().unwrap();
    let (direct, shell) = both_ways(tmp.path(), "no-such-program-xyz an-argument");
    assert_eq!(direct, shell);
    assert!(direct.line.contains("exit code 127") && direct.log.contains("not found"), "{direct:?}");
}

#[test]
fn a_file_that_is_not_executable_fails_as_in_the_shell() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    script(d, "data.txt", "not a program\n", 0o644);
    let (direct, shell) = both_ways(d, "./data.txt");
    assert_eq!(direct, shell);
    assert!(direct.line.contains("exit code 126") && direct.log.contains("Permission denied"), "{direct:?}");
}

#[test]
fn a_script_without_an_interpreter_line_runs_as_in_the_shell() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    script(d, "bare", "echo from a bare script; exit 3\n", 0o755);
    let (direct, shell) = both_ways(d, "./bare");
    assert_eq!(direct, shell);
    assert!(direct.line.contains("exit code 3") && direct.log == "from a bare script\n", "{direct:?}");
}

#[test]
fn a_program_killed_by_a_signal_reads_as_in_the_shell() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    for (sig, code, said) in
        [("USR1", 138, "User defined signal 1\n"), ("INT", 130, ""), ("KILL", 137, "Killed\n")]
    {
        script(d, "die", &format!("#!/bin/sh\nkill -{sig} $$\n"), 0o755);
        let (direct, shell) = both_ways(d, "./die");
        assert_eq!(direct, shell, "SIG{sig}");
        assert!(direct.line.contains(&format!("exit code {code}")), "SIG{sig}: {direct:?}");
        assert_eq!(direct.log, said, "SIG{sig}");
    }
}

#[test]
fn unicode_arguments_and_exit_codes_cross_unchanged() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    script(d, "args", "#!/bin/sh\nfor a in \"$@\"; do echo \"<$a>\"; done\nexit 5\n", 0o755);
    let (direct, shell) = both_ways(d, "./args héllo  日本\twörld --flag=ü");
    assert_eq!(direct, shell);
    assert_eq!(direct.log, "<héllo>\n<日本>\n<wörld>\n<--flag=ü>\n");
    assert!(direct.line.contains("exit code 5"), "{direct:?}");
}
