//! `scripts/test`, the test command: what it installs, when it refuses, what it runs.
//!
//! Each case runs the script with a PATH whose `id`, `sudo`, `apt-get` and `cargo` are stand-ins
//! that append their arguments to a log, and with `DAGRUN_TEST_NEEDS` naming programs that do or
//! do not exist, so nothing is installed or built for real.

use std::path::{Path, PathBuf};
use std::process::Command;

struct Stage {
    dir: tempfile::TempDir,
}

impl Stage {
    /// Stand-ins for a machine where the user's id is `uid` and `sudo` works when `sudo_ok`.
    fn new(uid: u32, sudo_ok: bool) -> Stage {
        let dir = tempfile::tempdir().expect("temp dir");
        let bin = dir.path().join("bin");
        std::fs::create_dir(&bin).expect("bin dir");
        let log = dir.path().join("calls.log");
        let logger = |name: &str, tail: &str| {
            let text = format!("#!/bin/sh\necho \"{name} $*\" >> '{}'\n{tail}\n", log.display());
            let p = bin.join(name);
            std::fs::write(&p, text).expect("write stand-in");
            let mut perm = std::fs::metadata(&p).unwrap().permissions();
            std::os::unix::fs::PermissionsExt::set_mode(&mut perm, 0o755);
            std::fs::set_permissions(&p, perm).expect("chmod stand-in");
        };
        logger("id", &format!("echo {uid}"));
        logger("sudo", if sudo_ok { "[ \"$1\" = -n ] && shift; exec \"$@\"" } else { "exit 1" });
        logger("apt-get", "exit 0");
        logger("cargo", "exit 0");
        logger("present-program", "exit 0");
        Stage { dir }
    }

    fn bin(&self) -> PathBuf {
        self.dir.path().join("bin")
    }

    /// Runs the script with `needs` as its package list and `args` after it.
    fn run(&self, needs: &str, args: &[&str]) -> (i32, String) {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/test");
        let path = format!("{}:/usr/bin:/bin", self.bin().display());
        let out = Command::new("bash")
            .arg(&script)
            .args(args)
            .env("PATH", path)
            .env("DAGRUN_TEST_NEEDS", needs)
            .output()
            .expect("run scripts/test");
        (out.status.code().unwrap_or(-1), String::from_utf8_lossy(&out.stderr).into_owned())
    }

    fn calls(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("calls.log")).unwrap_or_default()
    }
}

#[test]
fn as_root_it_installs_what_is_missing_then_runs_cargo_test_with_the_arguments() {
    let s = Stage::new(0, false);
    let (code, err) = s.run(
        "pkg-a:absent-program-a pkg-b:present-program pkg-c:absent-program-c",
        &["ssh::", "--", "--nocapture"],
    );
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("installing pkg-a pkg-c with apt-get"), "{err}");
    let calls = s.calls();
    let lines: Vec<&str> = calls.lines().filter(|l| !l.starts_with("id ")).collect();
    assert_eq!(
        lines,
        ["apt-get update", "apt-get install -y pkg-a pkg-c", "cargo test --locked ssh:: -- --nocapture"],
        "{calls}"
    );
}

#[test]
fn a_second_run_installs_nothing() {
    let s = Stage::new(0, false);
    let (code, err) = s.run("pkg-b:present-program", &[]);
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("the packages the tests need are installed"), "{err}");
    assert_eq!(s.calls().trim(), "cargo test --locked", "{}", s.calls());
}

#[test]
fn with_passwordless_sudo_it_installs_through_sudo() {
    let s = Stage::new(1000, true);
    let (code, err) = s.run("pkg-a:absent-program-a", &[]);
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("installing pkg-a with sudo apt-get"), "{err}");
    assert!(s.calls().contains("apt-get install -y pkg-a"), "{}", s.calls());
}

#[test]
fn without_root_or_sudo_it_stops_before_building_and_names_the_command() {
    let s = Stage::new(1000, false);
    let (code, err) = s.run("pkg-a:absent-program-a pkg-a:absent-program-b munge:absent-munged", &[]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("not installed: pkg-a munge"), "{err}");
    assert!(err.contains("sudo apt-get update && sudo apt-get install -y pkg-a munge"), "{err}");
    assert!(!s.calls().contains("cargo"), "built or tested anyway: {}", s.calls());
    assert!(!s.calls().contains("apt-get"), "installed anyway: {}", s.calls());
}

#[test]
fn check_reports_what_is_missing_and_runs_nothing() {
    let s = Stage::new(0, false);
    let (code, err) = s.run("pkg-a:absent-program-a", &["--check"]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("missing: pkg-a"), "{err}");
    assert_eq!(s.calls().lines().filter(|l| !l.starts_with("id ")).count(), 0, "{}", s.calls());
    let (code, err) = s.run("pkg-b:present-program", &["--check"]);
    assert_eq!(code, 0, "{err}");
    assert!(!s.calls().contains("cargo"), "{}", s.calls());
}

/// The import-direction check passes on the code as it is (it runs in `.ci/run` too).
#[test]
fn imports_go_one_way() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let out = std::process::Command::new("python3")
        .arg(root.join("scripts/check-layers"))
        .arg(root.join("src"))
        .output()
        .expect("run python3 scripts/check-layers");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
}
