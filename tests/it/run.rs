//! `dagrun run`: order, concurrency and slot limits, retries, timeouts, `when` rules, start
//! failures, output handling, `--dry-run`/`--target` and the task environment.
//!
//! Tasks report what they did through files in the test's temporary directory; nothing here
//! waits on the clock (loops inside tasks are bounded safety nets that fail the task).

use crate::common::*;
use predicates::prelude::*;
use std::collections::HashMap;
use std::path::Path;

/// A shell script that keeps a weighted count of running tasks in `$DIR/cur` and its maximum in
/// `$DIR/max`, under `flock`: `sh "$DIR/count.sh" up 1` / `sh "$DIR/count.sh" down 1`.
const COUNT_SH: &str = r#"
exec 9>>"$DIR/lock"
flock 9
cur=$(cat "$DIR/cur" 2>/dev/null || echo 0)
max=$(cat "$DIR/max" 2>/dev/null || echo 0)
if [ "$1" = up ]; then cur=$((cur + $2)); else cur=$((cur - $2)); fi
echo "$cur" > "$DIR/cur"
if [ "$cur" -gt "$max" ]; then echo "$cur" > "$DIR/max"; fi
"#;

/// Waits (bounded) until `$DIR/max` reaches `$1`; exits 1 if it never does.
const WAIT_MAX_SH: &str = r#"
i=0
while [ "$(cat "$DIR/max" 2>/dev/null || echo 0)" -lt "$1" ]; do
  i=$((i + 1)); [ "$i" -gt 1200 ] && exit 1
  sleep 0.05
done
"#;

fn setup_counter(dir: &Path) {
    write(dir, "count.sh", COUNT_SH);
    write(dir, "wait_max.sh", WAIT_MAX_SH);
}

fn read_num(path: &Path) -> i64 {
    std::fs::read_to_string(path).expect("read counter").trim().parse().expect("a number")
}

fn env_dir(dir: &Path) -> String {
    format!("env:\n  DIR: \"{}\"\n", dir.display())
}

// ---------------------------------------------------------------------------------------------
// 1. Execution order

/// Positions of `"<id> start"` / `"<id> end"` lines in the shared log.
fn positions(log: &str) -> HashMap<String, usize> {
    log.lines().enumerate().map(|(n, l)| (l.to_owned(), n)).collect()
}

#[test]
fn every_task_starts_after_all_its_dependencies_ended() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let rec = r#"echo "$DAGRUN_TASK start" >> "$DIR/log"; echo "$DAGRUN_TASK end" >> "$DIR/log""#;
    let yaml = format!(
        "{env}defaults:\n  slots: 1\nexecutors:\n  local: {{type: local, slots: 4}}\ntasks:
  root: {{cmd: '{rec}'}}
  left: {{cmd: '{rec}', after: root}}
  right: {{cmd: '{rec}', after: root}}
  fan:
    matrix: {{n: [1, 2, 3, 4, 5]}}
    after: [left, right]
    cmd: '{rec}'
  per:
    matrix: {{n: [1, 2, 3, 4, 5]}}
    after: ['fan[n={{{{ n }}}}]']
    cmd: '{rec}'
  join: {{cmd: '{rec}', after: per}}
  lone: {{cmd: '{rec}'}}
",
        env = env_dir(d)
    );
    let flow = write(d, "flow.yaml", &yaml);
    dagrun().args(["run", "--progress", "plain"]).arg(&flow).assert().success();

    let log = std::fs::read_to_string(d.join("log")).unwrap();
    let pos = positions(&log);
    let fans: Vec<String> = (1..=5).map(|n| format!("fan[n={n}]")).collect();
    let pers: Vec<String> = (1..=5).map(|n| format!("per[n={n}]")).collect();
    let mut deps: Vec<(String, Vec<String>)> = vec![
        ("root".into(), vec![]),
        ("left".into(), vec!["root".into()]),
        ("right".into(), vec!["root".into()]),
        ("join".into(), pers.clone()),
        ("lone".into(), vec![]),
    ];
    for n in 0..5 {
        deps.push((fans[n].clone(), vec!["left".into(), "right".into()]));
        deps.push((pers[n].clone(), vec![fans[n].clone()]));
    }
    assert_eq!(log.lines().count(), 2 * deps.len(), "each task ran once:\n{log}");
    for (task, ds) in &deps {
        let start = pos[&format!("{task} start")];
        for dep in ds {
            let end = pos[&format!("{dep} end")];
            assert!(end < start, "`{task}` started before `{dep}` ended:\n{log}");
        }
    }
}

/// Two tasks that each wait for the other's marker: they pass only if they run at once.
fn rendezvous_flow(d: &Path, slots: u32) -> std::path::PathBuf {
    let meet = |me: &str, other: &str| {
        format!(
            r#"touch "$DIR/{me}.here"; i=0; while [ ! -e "$DIR/{other}.here" ]; do i=$((i + 1)); [ $i -gt 1200 ] && exit 1; sleep 0.05; done"#
        )
    };
    let yaml = format!(
        "{env}executors:\n  local: {{type: local, slots: {slots}}}\ntasks:\n  a: {{cmd: '{a}'}}\n  b: {{cmd: '{b}'}}\n",
        env = env_dir(d),
        a = meet("a", "b"),
        b = meet("b", "a"),
    );
    write(d, "flow.yaml", &yaml)
}

#[test]
fn independent_tasks_run_at_once_when_slots_allow() {
    let tmp = tempfile::tempdir().unwrap();
    let flow = rendezvous_flow(tmp.path(), 2);
    dagrun().args(["run", "--progress", "plain"]).arg(&flow).assert().success();
}

#[test]
fn jobs_one_never_overlaps_tasks() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    setup_counter(d);
    let body = r#"sh "$DIR/count.sh" up 1; sh "$DIR/count.sh" down 1"#;
    let mut yaml = format!("{}executors:\n  local: {{type: local, slots: 4}}\ntasks:\n", env_dir(d));
    for n in 0..6 {
        yaml.push_str(&format!("  t{n}: {{cmd: '{body}'}}\n"));
    }
    let flow = write(d, "flow.yaml", &yaml);
    dagrun().args(["run", "-j", "1", "--progress", "plain"]).arg(&flow).assert().success();
    assert_eq!(read_num(&d.join("max")), 1);
    assert_eq!(read_num(&d.join("cur")), 0);
}

// ---------------------------------------------------------------------------------------------
// 2. Slot limits

#[test]
fn executor_slots_are_never_exceeded_and_are_used() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    setup_counter(d);
    // Each task waits until three ran at once: the run passes only if the limit is reached.
    let body =
        r#"sh "$DIR/count.sh" up 1; sh "$DIR/wait_max.sh" 3; s=$?; sh "$DIR/count.sh" down 1; exit $s"#;
    let mut yaml = format!("{}executors:\n  local: {{type: local, slots: 3}}\ntasks:\n", env_dir(d));
    for n in 0..12 {
        yaml.push_str(&format!("  t{n}: {{cmd: '{body}'}}\n"));
    }
    let flow = write(d, "flow.yaml", &yaml);
    dagrun().args(["run", "--progress", "plain"]).arg(&flow).assert().success();
    assert_eq!(read_num(&d.join("max")), 3);
}

#[test]
fn a_task_taking_two_slots_counts_double() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    setup_counter(d);
    let mut yaml = format!("{}executors:\n  local: {{type: local, slots: 3}}\ntasks:\n", env_dir(d));
    for n in 0..12 {
        let w = if n % 3 == 0 { 1 } else { 2 };
        yaml.push_str(&format!(
            "  t{n}: {{slots: {w}, cmd: 'sh \"$DIR/count.sh\" up {w}; sh \"$DIR/count.sh\" down {w}'}}\n"
        ));
    }
    let flow = write(d, "flow.yaml", &yaml);
    dagrun().args(["run", "--progress", "plain"]).arg(&flow).assert().success();
    let max = read_num(&d.join("max"));
    assert!((2..=3).contains(&max), "weighted concurrency {max} with 3 slots");
}

#[test]
fn jobs_caps_tasks_across_executors() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    setup_counter(d);
    let body =
        r#"sh "$DIR/count.sh" up 1; sh "$DIR/wait_max.sh" 2; s=$?; sh "$DIR/count.sh" down 1; exit $s"#;
    let mut yaml = format!(
        "{}executors:\n  e1: {{type: local, slots: 3}}\n  e2: {{type: local, slots: 3}}\ntasks:\n",
        env_dir(d)
    );
    for n in 0..12 {
        let e = if n % 2 == 0 { "e1" } else { "e2" };
        yaml.push_str(&format!("  t{n}: {{executor: {e}, cmd: '{body}'}}\n"));
    }
    let flow = write(d, "flow.yaml", &yaml);
    dagrun().args(["run", "-j", "2", "--progress", "plain"]).arg(&flow).assert().success();
    assert_eq!(read_num(&d.join("max")), 2);
}

// ---------------------------------------------------------------------------------------------
// 3. Retries

fn retry_flow(d: &Path, retries: u32) -> std::path::PathBuf {
    write(
        d,
        "flow.yaml",
        &format!(
            "tasks:\n  flaky:\n    retries: {retries}\n    retry_delay: 10ms\n    cmd: 'echo \"try $DAGRUN_ATTEMPT\"; [ \"$DAGRUN_ATTEMPT\" -ge 3 ]'\n"
        ),
    )
}

#[test]
fn retries_rerun_until_an_attempt_succeeds() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let flow = retry_flow(d, 2);
    dagrun().args(["run", "--progress", "plain"]).arg(&flow).assert().success().stderr(
        predicate::str::contains("flaky (attempt 3)").and(predicate::str::contains("retry    flaky")),
    );
    let logs = d.join(".dagrun/flow/logs");
    for n in 1..=3 {
        let text = std::fs::read_to_string(logs.join(format!("flaky.{n}.log"))).unwrap();
        assert_eq!(text, format!("try {n}\n"));
    }
    assert!(!logs.join("flaky.4.log").exists());
}

#[test]
fn retries_exhausted_fail_the_task() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let flow = retry_flow(d, 1);
    dagrun()
        .args(["run", "--progress", "plain"])
        .arg(&flow)
        .assert()
        .code(1)
        .stderr(predicate::str::contains("failed   flaky: exit code 1"));
    let logs = d.join(".dagrun/flow/logs");
    assert!(logs.join("flaky.1.log").exists() && logs.join("flaky.2.log").exists());
    assert!(!logs.join("flaky.3.log").exists());
}

// ---------------------------------------------------------------------------------------------
// 4. Timeouts

#[test]
fn timeout_kills_a_task_that_ignores_sigterm_and_its_children() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let yaml = format!(
        "{}tasks:\n  stubborn:\n    timeout: 1s\n    cmd: |\n      trap '' TERM\n      sleep 1000 &\n      echo $! > \"$DIR/childpid\"\n      echo $$ > \"$DIR/pid\"\n      touch \"$DIR/started\"\n      wait\n      wait\n",
        env_dir(d)
    );
    let flow = write(d, "flow.yaml", &yaml);
    dagrun()
        .args(["run", "--progress", "plain"])
        .arg(&flow)
        .assert()
        .code(1)
        .stderr(predicate::str::contains("stubborn: timed out after 1s"));
    assert!(d.join("started").exists());
    let pid = read_pid(&d.join("pid"));
    let child = read_pid(&d.join("childpid"));
    assert!(!alive(child), "the task's background child {child} survived the timeout");
    assert_group_gone(pid);
}

#[test]
fn a_run_stopped_by_a_state_error_leaves_no_task_running() {
    // Regression: when a sink failed (here the state snapshot, once the run directory was
    // replaced by a file), the scheduler returned at once and dropped its running attempts,
    // leaving their processes orphaned.
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    // Enough short tasks that the state journal is compacted into a new snapshot mid-run.
    let yaml = format!(
        "{}tasks:
  long:
    cmd: |
      echo $$ > \"$DIR/pid\"
      mv \"$DAGRUN_RUN_DIR\" \"$DAGRUN_RUN_DIR.moved\"
      touch \"$DAGRUN_RUN_DIR\"
      touch \"$DIR/marker\"
      sleep 1000
  gate: {{cmd: 'i=0; while [ ! -e \"$DIR/marker\" ]; do i=$((i + 1)); [ $i -gt 1200 ] && exit 1; sleep 0.05; done'}}
  small: {{matrix: {{n: '{{{{ range(1100) }}}}'}}, after: gate, cmd: 'true'}}
",
        env_dir(d)
    );
    let flow = write(d, "flow.yaml", &yaml);
    let out = dagrun().args(["run", "--progress", "none"]).arg(&flow).timeout(LIMIT).assert().failure();
    let err = String::from_utf8_lossy(&out.get_output().stderr).into_owned();
    assert!(err.contains("Not a directory"), "{err}");
    assert_group_gone(read_pid(&d.join("pid")));
}

// ---------------------------------------------------------------------------------------------
// 6. `when` rules

#[test]
fn a_failed_dependency_skips_success_tasks_transitively() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let yaml = format!(
        "{}tasks:
  bad: {{cmd: 'exit 1'}}
  next: {{cmd: 'touch \"$DIR/next\"', after: bad}}
  after-next: {{cmd: 'touch \"$DIR/after-next\"', after: next}}
  rescue: {{cmd: 'touch \"$DIR/rescue\"', after: bad, when: failure}}
  cleanup: {{cmd: 'touch \"$DIR/cleanup\"', after: after-next, when: always}}
  other: {{cmd: 'touch \"$DIR/other\"'}}
",
        env_dir(d)
    );
    let flow = write(d, "flow.yaml", &yaml);
    dagrun().args(["run", "--progress", "plain"]).arg(&flow).assert().code(1).stderr(
        predicate::str::contains("skipped  next: a dependency failed")
            .and(predicate::str::contains("skipped  after-next: a dependency failed"))
            .and(predicate::str::contains("3 succeeded, 1 failed, 2 skipped")),
    );
    assert!(!d.join("next").exists() && !d.join("after-next").exists());
    assert!(d.join("rescue").exists(), "`when: failure` runs after a failure");
    assert!(d.join("cleanup").exists(), "`when: always` runs after skipped dependencies");
    assert!(d.join("other").exists(), "an independent branch keeps running");
}

#[test]
fn failure_tasks_are_not_needed_after_a_clean_run() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let yaml = format!(
        "{}tasks:
  good: {{cmd: 'true'}}
  rescue: {{cmd: 'touch \"$DIR/rescue\"', after: good, when: failure}}
  after-rescue: {{cmd: 'touch \"$DIR/after-rescue\"', after: rescue}}
  cleanup: {{cmd: 'touch \"$DIR/cleanup\"', after: rescue, when: always}}
",
        env_dir(d)
    );
    let flow = write(d, "flow.yaml", &yaml);
    dagrun().args(["run", "--progress", "plain"]).arg(&flow).assert().success().stderr(
        predicate::str::contains("skipped  rescue: its `when` condition did not hold")
            .and(predicate::str::contains("run succeeded"))
            .and(predicate::str::contains("2 succeeded, 2 not needed")),
    );
    assert!(!d.join("rescue").exists() && !d.join("after-rescue").exists());
    assert!(d.join("cleanup").exists());
}

#[test]
fn a_task_after_a_failure_task_skipped_at_the_start_still_runs() {
    // Regression: a task skipped before anything ran did not decide its dependents, which were
    // reported as "not started" and the run failed.
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let yaml = format!(
        "{}tasks:
  rescue: {{cmd: 'touch \"$DIR/rescue\"', when: failure}}
  report: {{cmd: 'touch \"$DIR/report\"', after: rescue, when: always}}
",
        env_dir(d)
    );
    let flow = write(d, "flow.yaml", &yaml);
    dagrun()
        .args(["run", "--progress", "plain"])
        .arg(&flow)
        .assert()
        .success()
        .stderr(predicate::str::contains("1 succeeded, 1 not needed"));
    assert!(!d.join("rescue").exists());
    assert!(d.join("report").exists());
}

#[test]
fn a_skip_after_a_not_needed_and_a_failed_dependency_counts_the_failure() {
    // Regression: `deploy` was skipped as "not needed" when `rescue` was skipped before `build`
    // failed, so `alarm` (`when: failure`) did not run; the outcome depended on timing.
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let yaml = format!(
        "{}tasks:
  fetch: {{cmd: 'true'}}
  rescue: {{cmd: 'true', after: fetch, when: failure}}
  probe: {{cmd: 'touch \"$DIR/rescue-decided\"', after: rescue, when: always}}
  build:
    cmd: 'i=0; while [ ! -e \"$DIR/rescue-decided\" ]; do i=$((i + 1)); [ $i -gt 1200 ] && exit 0; sleep 0.05; done; exit 1'
  deploy: {{cmd: 'true', after: [rescue, build]}}
  alarm: {{cmd: 'touch \"$DIR/alarm\"', after: deploy, when: failure}}
",
        env_dir(d)
    );
    let flow = write(d, "flow.yaml", &yaml);
    dagrun()
        .args(["run", "--progress", "plain"])
        .arg(&flow)
        .assert()
        .code(1)
        .stderr(predicate::str::contains("skipped  deploy: a dependency failed"));
    assert!(d.join("alarm").exists(), "`when: failure` after a task skipped because of a failure");
}

// ---------------------------------------------------------------------------------------------
// 7. Tasks that cannot start

#[test]
fn a_missing_program_fails_the_task_without_a_hang() {
    let tmp = tempfile::tempdir().unwrap();
    let flow = write(
        tmp.path(),
        "flow.yaml",
        "tasks:\n  x: {cmd: [definitely-not-a-program-xyz, arg]}\n  y: {cmd: 'true', after: x}\n",
    );
    dagrun().args(["run", "--progress", "plain"]).arg(&flow).timeout(LIMIT).assert().code(1).stderr(
        predicate::str::contains("failed   x: cannot start `definitely-not-a-program-xyz`: no such program")
            .and(predicate::str::contains("skipped  y")),
    );
}

#[test]
fn a_missing_workdir_fails_the_task_and_names_no_missing_log() {
    let tmp = tempfile::tempdir().unwrap();
    let flow = write(tmp.path(), "flow.yaml", "tasks:\n  x: {cmd: 'true', workdir: no-such-dir}\n");
    dagrun().args(["run", "--progress", "plain"]).arg(&flow).timeout(LIMIT).assert().code(1).stderr(
        predicate::str::contains("failed   x: workdir `")
            .and(predicate::str::contains("no-such-dir"))
            .and(predicate::str::contains("log:").not()),
    );
}

#[test]
fn a_shell_command_not_found_reports_exit_code_127() {
    let tmp = tempfile::tempdir().unwrap();
    let flow = write(tmp.path(), "flow.yaml", "tasks:\n  x: {cmd: 'definitely-not-a-program-xyz'}\n");
    dagrun().args(["run", "--progress", "plain"]).arg(&flow).timeout(LIMIT).assert().code(1).stderr(
        predicate::str::contains("failed   x: exit code 127").and(predicate::str::contains("not found")),
    );
}

// ---------------------------------------------------------------------------------------------
// 8. Output

#[test]
fn non_utf8_and_unicode_output_and_ids_work() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let flow = write(
        d,
        "flow.yaml",
        r#"tasks:
  bytes: {cmd: "printf '\\377\\376 h\\303\\251llo \\342\\234\\223\\n'"}
  uni:
    matrix: {word: ["héllo wörld", "✓/..", "日本"]}
    cmd: printf '%s\n' "$DAGRUN_TASK"
  shout:
    cmd: "printf 'bad \\377 byte \\342\\234\\227\\n'; exit 4"
"#,
    );
    dagrun().args(["run", "--progress", "plain"]).arg(&flow).assert().code(1).stderr(
        predicate::str::contains("ok       uni[word=日本]")
            .and(predicate::str::contains("ok       uni[word=✓/..]"))
            .and(predicate::str::contains("bad \u{FFFD} byte ✗")),
    );
    let logs = d.join(".dagrun/flow/logs");
    assert_eq!(std::fs::read(logs.join("bytes.1.log")).unwrap(), b"\xff\xfe h\xc3\xa9llo \xe2\x9c\x93\n");
    let mut names: Vec<String> = std::fs::read_dir(&logs)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(names.len(), 5, "{names:?}");
    assert!(names.iter().all(|n| !n.contains('/')), "{names:?}");
    let texts: Vec<String> = names
        .iter()
        .filter(|n| n.starts_with("uni"))
        .map(|n| std::fs::read_to_string(logs.join(n)).unwrap())
        .collect();
    for id in ["uni[word=héllo wörld]\n", "uni[word=✓/..]\n", "uni[word=日本]\n"] {
        assert!(texts.iter().any(|t| t == id), "no log holds {id:?}: {texts:?}");
    }
}

/// Peak resident memory of a running process, in KiB.
fn vm_hwm_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("read /proc status");
    let line = status.lines().find(|l| l.starts_with("VmHWM:")).expect("VmHWM line");
    line.split_whitespace().nth(1).and_then(|v| v.parse().ok()).expect("VmHWM value")
}

#[test]
fn huge_output_goes_to_the_log_without_growing_dagrun() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let yaml = format!(
        "{}tasks:
  big: {{cmd: 'head -c 100000000 /dev/zero; yes | head -c 1000000 >&2'}}
  last:
    after: big
    cmd: 'touch \"$DIR/ready\"; i=0; while [ ! -e \"$DIR/go\" ]; do i=$((i + 1)); [ $i -gt 1200 ] && exit 1; sleep 0.05; done'
",
        env_dir(d)
    );
    let flow = write(d, "flow.yaml", &yaml);
    let mut child = dagrun_std()
        .args(["run", "--progress", "plain"])
        .arg(&flow)
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    wait_for_file(&d.join("ready"));
    let hwm = vm_hwm_kib(child.id());
    std::fs::write(d.join("go"), "").unwrap();
    let status = wait_exit(&mut child, LIMIT);
    assert!(status.success(), "{status:?}");
    let size = std::fs::metadata(d.join(".dagrun/flow/logs/big.1.log")).unwrap().len();
    assert_eq!(size, 101_000_000);
    assert!(hwm < 64 * 1024, "dagrun's peak RSS was {hwm} KiB");
}

// ---------------------------------------------------------------------------------------------
// 9. --dry-run and --target

fn marker_flow(d: &Path) -> std::path::PathBuf {
    let yaml = format!(
        "{}tasks:
  a: {{cmd: 'touch \"$DIR/a\"'}}
  b: {{cmd: 'touch \"$DIR/b\"', after: a}}
  c: {{cmd: 'touch \"$DIR/c\"', after: a}}
  d: {{cmd: 'touch \"$DIR/d\"', after: [b, c]}}
  e: {{cmd: 'touch \"$DIR/e\"'}}
",
        env_dir(d)
    );
    write(d, "flow.yaml", &yaml)
}

#[test]
fn dry_run_prints_a_valid_order_and_runs_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let flow = marker_flow(d);
    let out = dagrun().args(["run", "--dry-run"]).arg(&flow).assert().success().get_output().stdout.clone();
    let out = String::from_utf8(out).unwrap();
    assert!(out.starts_with("would run 5 tasks, in this order:\n"), "{out}");
    let at = |id: &str| {
        out.lines()
            .position(|l| l.split_once(". ").is_some_and(|(_, r)| r.starts_with(&format!("{id}: "))))
            .unwrap_or_else(|| panic!("`{id}` missing:\n{out}"))
    };
    assert!(at("a") < at("b") && at("a") < at("c") && at("b") < at("d") && at("c") < at("d"), "{out}");
    for m in ["a", "b", "c", "d", "e"] {
        assert!(!d.join(m).exists(), "--dry-run ran `{m}`");
    }
    assert!(!d.join(".dagrun").exists(), "--dry-run created a run directory");
}

#[test]
fn target_runs_only_the_task_and_its_dependencies() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let flow = marker_flow(d);
    dagrun().args(["run", "--progress", "plain", "--target", "b"]).arg(&flow).assert().success();
    assert!(d.join("a").exists() && d.join("b").exists());
    for m in ["c", "d", "e"] {
        assert!(!d.join(m).exists(), "--target b ran `{m}`");
    }
}

#[test]
fn unknown_target_is_a_usage_error_with_a_suggestion() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let yaml = format!("{}tasks:\n  build: {{cmd: 'touch \"$DIR/build\"'}}\n", env_dir(d));
    let flow = write(d, "flow.yaml", &yaml);
    dagrun()
        .args(["run", "--target", "biuld"])
        .arg(&flow)
        .assert()
        .code(2)
        .stderr(predicate::str::contains("did you mean `build`"));
    assert!(!d.join("build").exists());
}

// ---------------------------------------------------------------------------------------------
// 10. Environment, working directory, argv commands

#[test]
fn tasks_get_their_environment_and_directory() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path().canonicalize().unwrap();
    std::fs::create_dir(d.join("sub")).unwrap();
    std::fs::create_dir(d.join("elsewhere")).unwrap();
    let yaml = r#"env:
  SHARED: from-workflow
  OVERRIDDEN: from-workflow
tasks:
  show:
    env: {OVERRIDDEN: from-task, OWN: "own value"}
    cmd: 'printf "%s|%s|%s|%s|%s|%s|%s\n" "$DAGRUN_TASK" "$DAGRUN_ATTEMPT" "$DAGRUN_RUN_DIR" "$SHARED" "$OVERRIDDEN" "$OWN" "$(pwd)"'
  inside:
    workdir: sub
    cmd: pwd
  argv:
    cmd: [printf, "%s\n", "an argument with spaces", "$HOME", "*", "a;b"]
"#;
    let flow = write(&d, "flow.yaml", yaml);
    // Run from another directory: tasks still run beside the workflow file.
    dagrun()
        .current_dir(d.join("elsewhere"))
        .args(["run", "--progress", "plain"])
        .arg(&flow)
        .assert()
        .success();
    let run_dir = d.join(".dagrun/flow");
    let logs = run_dir.join("logs");
    let show = std::fs::read_to_string(logs.join("show.1.log")).unwrap();
    assert_eq!(
        show,
        format!("show|1|{}|from-workflow|from-task|own value|{}\n", run_dir.display(), d.display())
    );
    assert_eq!(
        std::fs::read_to_string(logs.join("inside.1.log")).unwrap(),
        format!("{}\n", d.join("sub").display())
    );
    assert_eq!(
        std::fs::read_to_string(logs.join("argv.1.log")).unwrap(),
        "an argument with spaces\n$HOME\n*\na;b\n"
    );
}

#[test]
fn state_option_chooses_the_run_directory() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path().canonicalize().unwrap();
    let flow = write(&d, "flow.yaml", "tasks:\n  show: {cmd: 'echo \"$DAGRUN_RUN_DIR\"'}\n");
    dagrun()
        .current_dir(&d)
        .args(["run", "--progress", "plain", "--state", "custom/run.json"])
        .arg(&flow)
        .assert()
        .success();
    let run_dir = d.join("custom");
    let text = std::fs::read_to_string(run_dir.join("logs/show.1.log")).unwrap();
    assert_eq!(text, format!("{}\n", run_dir.display()));
    assert!(!d.join(".dagrun").exists());
}

#[test]
fn a_fresh_run_starts_its_attempt_logs_empty() {
    // `run` numbers attempts from 1 again: its logs must not keep an earlier run's output.
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let flow = write(d, "flow.yaml", "params:\n  word: first\ntasks:\n  say:\n    cmd: echo {{ word }}\n");
    dagrun().args(["run", "--progress", "none"]).arg(&flow).assert().success();
    dagrun().args(["run", "--progress", "none", "-p", "word=second"]).arg(&flow).assert().success();
    let log = std::fs::read_to_string(d.join(".dagrun/flow/logs/say.1.log")).unwrap();
    assert_eq!(log, "second\n");
}

#[test]
fn dash_j_sets_the_local_parallelism_where_the_workflow_does_not() {
    // Each of 6 tasks waits until all 6 have started: only 6 at once can finish, on any
    // number of CPUs. A bound on the wait turns a cap into a failure instead of a hang.
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let flow = write(
        d,
        "flow.yaml",
        "tasks:
  w:
    matrix: {i: [1, 2, 3, 4, 5, 6]}
    cmd: |
      touch started.{{ i }}
      n=0
      while [ \"$(ls | grep -c '^started\\.')\" -lt 6 ]; do
        n=$((n+1)); [ $n -gt 3000 ] && exit 1; sleep 0.01
      done
",
    );
    let out =
        dagrun().current_dir(d).args(["run", "--progress", "none", "-j", "6"]).arg(&flow).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
}

#[test]
fn shell_length_expansions_pass_through_templates() {
    // `{#` opens no template comment: `${#x}` is the shell's.
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let flow = write(
        d,
        "flow.yaml",
        "params: {w: hello}\ntasks:\n  len: {cmd: 'x={{ w }}; echo \"${#x} {# not a comment #}\"'}\n  raw: {cmd: 'echo \"{% raw %}{{.Names}}{% endraw %} {{ \"{{\" }}t+=1}}\"'}\n",
    );
    let out = dagrun().current_dir(d).args(["run", "--progress", "none"]).arg(&flow).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let log = |t: &str| std::fs::read_to_string(d.join(format!(".dagrun/flow/logs/{t}.1.log"))).unwrap();
    assert_eq!(log("len"), "5 {# not a comment #}\n");
    assert_eq!(log("raw"), "{{.Names}} {{t+=1}}\n");
}

#[test]
fn another_tools_braces_fail_with_how_to_write_them_literally() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let flow = write(d, "flow.yaml", "tasks:\n  ps: {cmd: 'docker ps --format \"{{.Names}}\"'}\n");
    let out = dagrun().current_dir(d).arg("validate").arg(&flow).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{err}");
    assert!(err.contains("task `ps`, field `cmd`"), "{err}");
    assert!(err.contains("{% raw %}") && err.contains("{{ '{{' }}"), "{err}");
}

#[test]
fn dash_p_keeps_the_declared_kind_of_a_param() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let flow = write(
        d,
        "flow.yaml",
        "params: {v: \"1.0\", id: x, n: 3}\ntasks:\n  a: {cmd: 'echo {{ v }} {{ id }} {{ n + 1 }}'}\n",
    );
    let out = dagrun()
        .current_dir(d)
        .args(["run", "--progress", "none", "-p", "v=1.10", "-p", "id=0x1F", "-p", "n=7"])
        .arg(&flow)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let log = std::fs::read_to_string(d.join(".dagrun/flow/logs/a.1.log")).unwrap();
    assert_eq!(log, "1.10 0x1F 8\n");
    let out = dagrun().current_dir(d).args(["validate", "-p", "n=many"]).arg(&flow).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("param `n` is declared as a number, and `many` is a string"), "{err}");
}

#[test]
fn help_and_completions_never_offer_internal_commands() {
    let help = dagrun().arg("--help").output().unwrap();
    let help = String::from_utf8_lossy(&help.stdout);
    for shell in ["bash", "zsh", "fish", "elvish", "powershell"] {
        let out = dagrun().args(["completions", shell]).output().unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            !text.contains("__reaper") && !text.contains("generate-docs"),
            "{shell} offers an internal command"
        );
    }
    assert!(!help.contains("__reaper") && !help.contains("generate-docs"), "{help}");
}

#[test]
fn status_or_resume_of_a_workflow_file_names_its_state() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let flow = write(d, "flow.yaml", "name: etl\ntasks:\n  a: {cmd: 'true'}\n");
    for cmd in ["status", "resume"] {
        let out = dagrun().current_dir(d).arg(cmd).arg(&flow).output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(4), "{err}");
        assert!(
            err.contains("is a workflow file, not a state file") && err.contains(".dagrun/etl/state.json"),
            "{err}"
        );
    }
}

#[test]
fn slots_set_in_the_workflow_still_cap_dash_j() {
    // With `slots: 1`, `-j 4` must not run two tasks at once: each task takes a directory as a
    // lock and fails if another holds it.
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let flow = write(
        d,
        "flow.yaml",
        "executors:\n  local: {type: local, slots: 1}\ntasks:\n  w:\n    matrix: {i: [1, 2, 3, 4]}\n    cmd: 'mkdir held || exit 1; sleep 0.05; rmdir held'\n",
    );
    let out =
        dagrun().current_dir(d).args(["run", "--progress", "none", "-j", "4"]).arg(&flow).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
}

/// A log path printed for a user pastes into a shell as one word (brackets are a glob in zsh,
/// spaces split words), and the log's file name reads as the task id.
#[test]
fn printed_log_paths_paste_into_a_shell_and_names_stay_readable() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    write(
        d,
        "flow.yaml",
        "tasks:\n  convert:\n    matrix: {file: [\"my report (v2).csv\"]}\n    cmd: echo converting; exit 1\n",
    );
    let out = dagrun().current_dir(d).args(["run", "flow.yaml", "--progress", "plain"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    let shown = stdout
        .lines()
        .find_map(|l| l.trim().strip_prefix("log: "))
        .unwrap_or_else(|| panic!("no log line in:\n{stdout}"));
    assert_eq!(shown, "'.dagrun/flow/logs/convert[file=my report (v2).csv].1.log'");
    let cat = std::process::Command::new("bash")
        .arg("-c")
        .arg(format!("cat {shown}"))
        .current_dir(d)
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&cat.stdout),
        "converting\n",
        "{}",
        String::from_utf8_lossy(&cat.stderr)
    );
    let summary = stdout.lines().find(|l| l.contains("(log: ")).unwrap();
    assert!(summary.ends_with(&format!("(log: {shown})")), "{summary}");
}

/// `run` over the state of an unfinished run says so in one line before replacing it, and the
/// replaced run's logs do not mix with the new run's.
#[test]
fn a_run_over_an_unfinished_state_says_so_and_starts_with_fresh_logs() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    write(
        d,
        "flow.yaml",
        "tasks:\n  ok: {cmd: echo ok}\n  flaky: {cmd: \"echo try; test -f pass\", retries: 1}\n",
    );
    let first = dagrun().current_dir(d).args(["run", "flow.yaml"]).output().unwrap();
    assert_eq!(first.status.code(), Some(1));
    let logs = d.join(".dagrun/flow/logs");
    assert!(logs.join("flaky.2.log").exists());
    write(d, "pass", "");
    let second = dagrun().current_dir(d).args(["run", "flow.yaml"]).output().unwrap();
    let stderr = String::from_utf8_lossy(&second.stderr);
    assert_eq!(second.status.code(), Some(0), "{stderr}");
    let notes: Vec<&str> = stderr.lines().filter(|l| l.starts_with("note: ")).collect();
    assert_eq!(
        notes,
        ["note: the previous run had 1 unfinished task; `dagrun resume .dagrun/flow/state.json` would have \
          continued it; starting afresh"],
        "{stderr}"
    );
    assert!(!logs.join("flaky.2.log").exists(), "a log of the replaced run is left among the new ones");
    assert!(logs.join("flaky.1.log").exists() && logs.join("ok.1.log").exists());
    // After a finished run there is nothing to say.
    let third = dagrun().current_dir(d).args(["run", "flow.yaml"]).output().unwrap();
    assert!(!String::from_utf8_lossy(&third.stderr).contains("note: "));
}
