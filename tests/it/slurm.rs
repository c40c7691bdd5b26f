//! The `slurm` executor against a real single-node Slurm cluster (see `slurmd.rs`): order and
//! exit codes, logs, Slurm's own errors, timeouts and Ctrl-C cancelling jobs, and a killed dagrun
//! whose jobs `resume` follows again instead of submitting them twice.

use crate::common::{LIMIT, dagrun_std, line_counts, load_state, wait_exit, wait_for_file, write};
use crate::slurmd::Cluster;
use dagrun::model::Status;
use std::path::Path;
use std::process::{Command, Output, Stdio};

const HEAD: &str = "executors:\n  hpc:\n    type: slurm\ndefaults:\n  executor: hpc\n";

/// `dagrun` aimed at the cluster, polling it often so tests end soon after their jobs.
fn dagrun(c: &Cluster, dir: &Path) -> Command {
    let mut cmd = dagrun_std();
    let (k, v) = c.env();
    cmd.env(k, v)
        .env("DAGRUN_SLURM_POLL", "100ms")
        .env("DIR", dir)
        .env("LOG", dir.join("ran.log"))
        .current_dir(dir)
        .stdin(Stdio::null());
    cmd
}

fn run(c: &Cluster, dir: &Path, args: &[&str]) -> Output {
    let out = dagrun(c, dir)
        .args(["run", "--progress", "plain", "--state", "st/state.json", "flow.yaml"])
        .args(args)
        .output()
        .expect("run dagrun");
    if out.status.code().is_none() {
        panic!("dagrun died: {}\n{}", String::from_utf8_lossy(&out.stderr), c.logs());
    }
    out
}

fn err(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn state(dir: &Path) -> dagrun::state::model::StateFile {
    load_state(&dir.join("st/state.json"))
}

#[test]
fn a_fan_out_and_in_runs_as_jobs_in_order_with_exit_codes_and_logs() {
    let c = Cluster::start();
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    write(
        d,
        "flow.yaml",
        &format!(
            "{HEAD}tasks:
  split:
    cmd: 'echo \"$DAGRUN_TASK\" >> \"$LOG\"; echo split-out; echo $SLURM_JOB_ID > \"$DIR/split.job\"'
  work:
    matrix: {{ part: [a, b, c, d] }}
    after: [split]
    cmd: 'echo \"$DAGRUN_TASK\" >> \"$LOG\"; echo work {{{{ part }}}} in $(pwd)'
  join:
    after: [work]
    cmd: ['sh', '-c', 'echo \"$DAGRUN_TASK\" >> \"$LOG\"']
  bad:
    after: [split]
    cmd: 'echo about to fail; echo to stderr >&2; exit 3'
"
        ),
    );
    let out = run(&c, d, &[]);
    let e = err(&out);
    assert_eq!(out.status.code(), Some(1), "{e}\n{}", c.logs());
    assert!(e.contains("failed   bad: exit code 3"), "{e}");
    assert!(e.contains("to stderr"), "the failure shows the job's last lines: {e}");
    assert!(e.contains(": 6 succeeded, 1 failed"), "{e}");

    let order: Vec<String> =
        std::fs::read_to_string(d.join("ran.log")).unwrap().lines().map(str::to_owned).collect();
    assert_eq!(order.len(), 6, "{order:?}");
    assert_eq!(order[0], "split");
    assert_eq!(order[5], "join");

    let s = state(d);
    let split = &s.tasks["split"];
    assert_eq!(split.status, Status::Succeeded);
    let job = split.job.clone().expect("the job id is recorded");
    assert_eq!(std::fs::read_to_string(d.join("split.job")).unwrap().trim(), job);
    let log = std::fs::read_to_string(d.join("st").join(split.log.as_ref().unwrap())).unwrap();
    assert_eq!(log, "split-out\n");
    let work =
        std::fs::read_to_string(d.join("st").join(s.tasks["work[part=b]"].log.as_ref().unwrap())).unwrap();
    assert!(work.starts_with("work b in "), "{work}");
    let bad = &s.tasks["bad"];
    assert_eq!((bad.status, bad.exit_code), (Status::Failed, Some(3)));
    let ids: std::collections::BTreeSet<&String> = s.tasks.values().filter_map(|t| t.job.as_ref()).collect();
    assert_eq!(ids.len(), 7, "one job per task");
}

#[test]
fn sbatch_errors_are_reported_in_slurms_words() {
    let c = Cluster::start();
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    write(
        d,
        "flow.yaml",
        "executors:\n  hpc:\n    type: slurm\n    partition: nosuchpartition\ntasks:\n  t:\n    executor: hpc\n    cmd: 'true'\n",
    );
    let out = run(&c, d, &[]);
    let e = err(&out);
    assert_eq!(out.status.code(), Some(1), "{e}");
    assert!(e.contains("failed   t: sbatch refused the job: "), "{e}");
    assert!(e.to_lowercase().contains("invalid partition"), "{e}");
}

#[test]
fn a_timeout_cancels_the_job() {
    let c = Cluster::start();
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    write(
        d,
        "flow.yaml",
        &format!("{HEAD}tasks:\n  slow:\n    timeout: 1s\n    cmd: 'touch \"$DIR/started\"; sleep 300'\n"),
    );
    let out = run(&c, d, &[]);
    let e = err(&out);
    assert_eq!(out.status.code(), Some(1), "{e}");
    assert!(e.contains("failed   slow: timed out after 1s"), "{e}");
    assert!(d.join("started").exists());
    let job = state(d).tasks["slow"].job.clone().unwrap();
    assert!(c.active_jobs().is_empty(), "jobs left in squeue: {:?}", c.active_jobs());
    assert!(c.jobs().contains(&(job, "CANCELLED".to_owned())), "{:?}", c.jobs());
}

#[test]
fn ctrl_c_cancels_every_job_and_exits_130() {
    let c = Cluster::start();
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    write(
        d,
        "flow.yaml",
        &format!(
            "{HEAD}tasks:\n  long:\n    matrix: {{ i: [1, 2, 3] }}\n    cmd: 'touch \"$DIR/started.{{{{ i }}}}\"; sleep 300'\n  after:\n    after: [long]\n    cmd: 'true'\n"
        ),
    );
    let mut child = dagrun(&c, d)
        .args(["run", "--progress", "plain", "--state", "st/state.json", "flow.yaml"])
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(d.join("stderr")).unwrap())
        .spawn()
        .unwrap();
    for i in 1..=3 {
        wait_for_file(&d.join(format!("started.{i}")));
    }
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(child.id() as i32), nix::sys::signal::Signal::SIGINT)
        .unwrap();
    let status = wait_exit(&mut child, LIMIT);
    let e = std::fs::read_to_string(d.join("stderr")).unwrap();
    assert_eq!(status.code(), Some(130), "{e}");
    assert!(c.active_jobs().is_empty(), "jobs left in squeue: {:?}", c.active_jobs());
    let s = state(d);
    for i in 1..=3 {
        assert_eq!(s.tasks[&format!("long[i={i}]")].status, Status::Interrupted);
    }
    assert!(e.contains("dagrun resume"), "{e}");
}

/// `resume` of `st/state.json` in `d`, whose tasks wait for `$DIR/go`: waits until it says it
/// follows a job, lets the tasks end, and returns its stderr once it has exited 0.
fn resume_following(c: &Cluster, d: &Path) -> String {
    let mut resume = dagrun(c, d)
        .args(["resume", "--progress", "plain", "st/state.json"])
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(d.join("resume.err")).unwrap())
        .spawn()
        .unwrap();
    let start = std::time::Instant::now();
    while !std::fs::read_to_string(d.join("resume.err")).unwrap_or_default().contains("following slurm job") {
        assert!(start.elapsed() < LIMIT, "resume did not say it follows a job");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    std::fs::write(d.join("go"), "").unwrap();
    let status = wait_exit(&mut resume, LIMIT);
    let e = std::fs::read_to_string(d.join("resume.err")).unwrap();
    assert_eq!(status.code(), Some(0), "{e}\n{}", c.logs());
    e
}

#[test]
fn resume_after_a_kill_follows_the_running_jobs_instead_of_submitting_them_again() {
    let c = Cluster::start();
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    // Each task counts its runs, says it started, and waits for `go`.
    write(
        d,
        "flow.yaml",
        &format!(
            "{HEAD}tasks:
  held:
    matrix: {{ i: [1, 2] }}
    cmd: 'echo \"$DAGRUN_TASK\" >> \"$LOG\"; touch \"$DIR/started.{{{{ i }}}}\"; while [ ! -e \"$DIR/go\" ]; do sleep 0.1; done'
  last:
    after: [held]
    cmd: 'echo \"$DAGRUN_TASK\" >> \"$LOG\"'
"
        ),
    );
    let mut child = dagrun(&c, d)
        .args(["run", "--progress", "plain", "--state", "st/state.json", "flow.yaml"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    wait_for_file(&d.join("started.1"));
    wait_for_file(&d.join("started.2"));
    // The job ids reach the state as the jobs are submitted; wait for both.
    let recorded = |d: &Path| {
        let s = state(d);
        ["held[i=1]", "held[i=2]"].map(|id| s.tasks[id].job.clone())
    };
    let start = std::time::Instant::now();
    while recorded(d).iter().any(Option::is_none) {
        assert!(start.elapsed() < LIMIT, "job ids never recorded");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let before = recorded(d);
    assert_eq!(c.active_jobs().len(), 2, "the jobs outlive a killed dagrun");

    // Resume says it follows the jobs before it starts anything.
    let e = resume_following(&c, d);
    for (id, job) in ["held[i=1]", "held[i=2]"].iter().zip(&before) {
        assert!(e.contains(&format!("{id}: following slurm job {}", job.as_ref().unwrap())), "{e}");
    }
    let counts = line_counts(&d.join("ran.log"));
    assert_eq!(counts.get("held[i=1]"), Some(&1), "{counts:?}");
    assert_eq!(counts.get("held[i=2]"), Some(&1), "{counts:?}");
    assert_eq!(counts.get("last"), Some(&1), "{counts:?}");
    let s = state(d);
    assert_eq!(recorded(d), before, "the same jobs, not new ones");
    for id in ["held[i=1]", "held[i=2]", "last"] {
        assert_eq!(s.tasks[id].status, Status::Succeeded, "{id}");
    }
    assert_eq!(s.tasks["held[i=1]"].attempts, 1, "following a job is not another attempt");
}

/// dagrun killed after `sbatch` returned but before the job id reached the state: resume finds
/// the job by the comment its attempt gave it and follows it, instead of submitting a second.
#[test]
fn a_job_whose_id_was_never_recorded_is_found_and_followed_not_submitted_twice() {
    let c = Cluster::start();
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    write(
        d,
        "flow.yaml",
        &format!(
            "{HEAD}tasks:\n  held:\n    \
             cmd: 'echo \"$DAGRUN_TASK\" >> \"$LOG\"; touch \"$DIR/started\"; while [ ! -e \"$DIR/go\" ]; do sleep 0.1; done'\n"
        ),
    );
    // An `sbatch` that submits, says so, and then holds its answer until dagrun is gone.
    let real = std::env::split_paths(&std::env::var_os("PATH").unwrap())
        .map(|p| p.join("sbatch"))
        .find(|p| p.is_file())
        .expect("sbatch on PATH");
    let shim = d.join("shim");
    std::fs::create_dir(&shim).unwrap();
    write(
        &shim,
        "sbatch",
        &format!(
            "#!/bin/sh\nout=$('{}' \"$@\")\ntouch \"$DIR/submitted\"\nwhile kill -0 $PPID 2>/dev/null; do sleep 0.1; done\necho \"$out\"\n",
            real.display()
        ),
    );
    std::fs::set_permissions(shim.join("sbatch"), std::os::unix::fs::PermissionsExt::from_mode(0o755))
        .unwrap();
    let path = std::env::join_paths(
        std::iter::once(shim.clone()).chain(std::env::split_paths(&std::env::var_os("PATH").unwrap())),
    )
    .unwrap();
    let mut child = dagrun(&c, d)
        .args(["run", "--progress", "plain", "--state", "st/state.json", "flow.yaml"])
        .env("PATH", &path)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    wait_for_file(&d.join("submitted"));
    child.kill().unwrap();
    child.wait().unwrap();
    wait_for_file(&d.join("started"));
    let s = state(d);
    assert_eq!(s.tasks["held"].status, Status::Running);
    assert_eq!(s.tasks["held"].job, None, "the id was recorded: the window was not hit");
    let jobs = c.active_jobs();
    assert_eq!(jobs.len(), 1, "{jobs:?}");

    let e = resume_following(&c, d);
    assert!(e.contains(&format!("held: following slurm job {}", jobs[0])), "{e}");
    assert_eq!(line_counts(&d.join("ran.log")).get("held"), Some(&1));
    assert_eq!(c.jobs().len(), 1, "a second job was submitted: {:?}", c.jobs());
    assert_eq!(state(d).tasks["held"].job.as_deref(), Some(jobs[0].as_str()));
}

#[test]
fn a_job_lost_with_its_node_runs_again_without_using_a_retry() {
    let c = Cluster::start();
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    // Slurm itself would requeue the job under the same id; `--no-requeue` leaves it to dagrun.
    write(
        d,
        "flow.yaml",
        "executors:\n  hpc:\n    type: slurm\n    sbatch_args: [--no-requeue]\ntasks:
  t:
    executor: hpc
    cmd: 'echo \"$DAGRUN_ATTEMPT\" >> \"$LOG\"; if [ \"$DAGRUN_ATTEMPT\" = 1 ]; then touch \"$DIR/started\"; sleep 300; fi'
",
    );
    let mut child = dagrun(&c, d)
        .args(["run", "--progress", "plain", "--state", "st/state.json", "flow.yaml"])
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(d.join("stderr")).unwrap())
        .spawn()
        .unwrap();
    wait_for_file(&d.join("started"));
    let down = c
        .command("scontrol")
        .args(["update", "nodename=dagrun-node", "state=down", "reason=test"])
        .status()
        .unwrap();
    assert!(down.success());
    // The node comes back once dagrun has seen the job fail with it.
    let start = std::time::Instant::now();
    while !std::fs::read_to_string(d.join("stderr")).unwrap_or_default().contains("retry    t:") {
        assert!(start.elapsed() < LIMIT, "dagrun did not notice the lost node\n{}", c.logs());
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    // slurmd is alive, so with `ReturnToService=2` the node may already be back: then this is
    // refused as nothing to do.
    let _ = c.command("scontrol").args(["update", "nodename=dagrun-node", "state=resume"]).output();
    let status = wait_exit(&mut child, LIMIT);
    let e = std::fs::read_to_string(d.join("stderr")).unwrap();
    assert_eq!(status.code(), Some(0), "{e}\n{}", c.logs());
    assert!(e.contains("lost its node (NODE_FAIL"), "{e}");
    let t = &state(d).tasks["t"];
    assert_eq!((t.status, t.attempts), (Status::Succeeded, 2));
    assert_eq!(t.lost.len(), 1, "{:?}", t.lost);
    assert!(t.lost[0].contains("NODE_FAIL"), "{:?}", t.lost);
}

#[test]
fn validate_checks_slurm_fields_without_a_cluster() {
    let tmp = tempfile::tempdir().unwrap();
    let f = write(
        tmp.path(),
        "flow.yaml",
        "executors:\n  hpc:\n    type: slurm\n    partition: 'two words'\n    time: soon\n    cpus_per_task: 0\n    slots: 0\ntasks:\n  t:\n    executor: hpc\n    slots: 64\n    cmd: 'true'\n",
    );
    let out = dagrun_std().arg("validate").arg(&f).output().unwrap();
    let e = err(&out);
    assert_eq!(out.status.code(), Some(3), "{e}");
    for expected in [
        "executors.hpc.partition",
        "`two words` is not a value sbatch takes",
        "executors.hpc.time",
        "`cpus_per_task` must be at least 1, found 0",
        "`slots` must be at least 1, found 0",
    ] {
        assert!(e.contains(expected), "missing {expected:?} in:\n{e}");
    }
    assert!(!e.contains("needs 64 slots"), "a job's slots are its CPUs, not limited by `slots`:\n{e}");
}

#[test]
fn a_generator_job_adds_tasks_from_its_stdout() {
    let c = Cluster::start();
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    write(
        d,
        "flow.yaml",
        &format!(
            "{HEAD}tasks:
  gen:
    generator: true
    cmd: 'echo \"to the log\" >&2; printf \"tasks:\\n  a: {{cmd: \\\"echo a >> \\$LOG\\\"}}\\n  b: {{cmd: \\\"echo b >> \\$LOG\\\", after: [a]}}\\n\"'
  end:
    after: [gen]
    cmd: 'echo end >> \"$LOG\"'
"
        ),
    );
    let out = run(&c, d, &[]);
    let e = err(&out);
    assert_eq!(out.status.code(), Some(0), "{e}\n{}", c.logs());
    assert!(e.contains("added    2 tasks from gen"), "{e}");
    let order = std::fs::read_to_string(d.join("ran.log")).unwrap();
    assert_eq!(order, "a\nb\nend\n");
    let s = state(d);
    assert!(s.tasks["gen/b"].job.is_some());
    let log = std::fs::read_to_string(d.join("st").join(s.tasks["gen"].log.as_ref().unwrap())).unwrap();
    assert_eq!(log, "to the log\n");
}

#[test]
fn without_slurms_commands_the_tasks_fail_with_one_clear_reason() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    write(
        d,
        "flow.yaml",
        &format!(
            "{HEAD}tasks:\n  a:\n    cmd: 'true'\n  b:\n    cmd: 'true'\n  here:\n    executor: local\n    cmd: 'true'\n"
        ),
    );
    // A PATH with a shell and no Slurm.
    std::fs::create_dir(d.join("bin")).unwrap();
    std::os::unix::fs::symlink("/bin/sh", d.join("bin/sh")).unwrap();
    let out = dagrun_std()
        .args(["run", "--progress", "plain", "--state", "st/state.json", "flow.yaml"])
        .env("PATH", d.join("bin"))
        .current_dir(d)
        .output()
        .unwrap();
    let e = err(&out);
    assert_eq!(out.status.code(), Some(1), "{e}");
    assert!(
        e.contains(
            "failed   a: executor `hpc` cannot submit jobs: `sbatch`, `squeue`, `scancel` not found on PATH"
        ),
        "{e}"
    );
    assert!(e.contains("ok       here"), "local tasks still run: {e}");
}
