//! A private single-node Slurm cluster per test, for the Slurm executor's integration tests.
//!
//! Owns: a munge daemon with a fresh key, `slurmctld` and `slurmd` as children on free ports,
//! their configuration, state and logs in a temp dir, and stopping all of it on drop (jobs
//! first: a job's `slurmstepd` would outlive its `slurmd`). Clients reach the cluster through
//! `SLURM_CONF` (see [`Cluster::env`]); the machine's own Slurm configuration is never touched.
//!
//! Must not: skip when `slurm-wlm` or `munge` is missing (that fails the test with the install
//! hint); run jobs as another user than the one running the tests.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Generous bound on every wait here; reaching it fails the test.
const LIMIT: Duration = Duration::from_secs(90);

pub struct Cluster {
    dir: tempfile::TempDir,
    conf: PathBuf,
    children: Vec<(&'static str, Child)>,
}

impl Cluster {
    /// Starts munged, slurmctld and slurmd and waits until the node takes jobs.
    pub fn start() -> Cluster {
        for (bin, package) in [("munged", "munge"), ("slurmctld", "slurm-wlm"), ("slurmd", "slurm-wlm")] {
            require(bin, package);
        }
        let dir = tempfile::Builder::new().prefix("dagrun-slurm-").tempdir().expect("create slurm temp dir");
        let d = &dir.path().to_path_buf();
        for sub in ["ctld", "spool", "log"] {
            std::fs::create_dir(d.join(sub)).expect("create slurm dirs");
        }
        let key: Vec<u8> = (0..1024).map(|i| (i as u8).wrapping_mul(31) ^ std::process::id() as u8).collect();
        let key_path = d.join("munge.key");
        std::fs::write(&key_path, key).expect("write munge key");
        set_mode(&key_path, 0o400);
        let socket = d.join("munge.sock");
        let mut c = Cluster { conf: d.join("slurm.conf"), dir, children: Vec::new() };
        let munged = Command::new("munged")
            .arg("--foreground")
            .arg("--force")
            .arg(format!("--key-file={}", key_path.display()))
            .arg(format!("--socket={}", socket.display()))
            .arg(format!("--pid-file={}", d.join("munged.pid").display()))
            .arg(format!("--log-file={}", d.join("log/munged.log").display()))
            .arg(format!("--seed-file={}", d.join("munged.seed").display()))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(d.join("log/munged.out")).expect("create munged log"))
            .spawn()
            .expect("start munged");
        c.children.push(("munged", munged));
        c.wait_until("munged's socket", || socket.exists());

        let host = hostname();
        let (ctld_port, d_port) = (free_port(), free_port());
        let p = |s: &str| d.join(s).display().to_string();
        let conf = format!(
            "ClusterName=dagrun-test\n\
             SlurmctldHost={host}(127.0.0.1)\n\
             SlurmctldPort={ctld_port}\n\
             SlurmdPort={d_port}\n\
             SlurmUser=root\n\
             SlurmdUser=root\n\
             AuthType=auth/munge\n\
             CredType=cred/munge\n\
             AuthInfo=socket={socket}\n\
             StateSaveLocation={ctld}\n\
             SlurmdSpoolDir={spool}\n\
             SlurmctldPidFile={ctld_pid}\n\
             SlurmdPidFile={d_pid}\n\
             SlurmctldLogFile={ctld_log}\n\
             SlurmdLogFile={d_log}\n\
             ProctrackType=proctrack/pgid\n\
             TaskPlugin=task/none\n\
             SchedulerType=sched/builtin\n\
             SelectType=select/cons_tres\n\
             SelectTypeParameters=CR_Core\n\
             SchedulerParameters=batch_sched_delay=0\n\
             SlurmdParameters=config_overrides\n\
             JobAcctGatherType=jobacct_gather/none\n\
             AccountingStorageType=accounting_storage/none\n\
             MpiDefault=none\n\
             ReturnToService=2\n\
             MinJobAge=600\n\
             KillWait=2\n\
             NodeName=dagrun-node NodeHostname={host} NodeAddr=127.0.0.1 CPUs=8 State=UNKNOWN\n\
             PartitionName=main Nodes=ALL Default=YES MaxTime=INFINITE State=UP OverSubscribe=FORCE:8\n",
            socket = socket.display(),
            ctld = p("ctld"),
            spool = p("spool"),
            ctld_pid = p("ctld.pid"),
            d_pid = p("d.pid"),
            ctld_log = p("log/slurmctld.log"),
            d_log = p("log/slurmd.log"),
        );
        std::fs::write(&c.conf, conf).expect("write slurm.conf");
        for (name, args) in [("slurmctld", vec!["-D", "-i"]), ("slurmd", vec!["-D", "-N", "dagrun-node"])] {
            let child = Command::new(name)
                .args(&args)
                .arg("-f")
                .arg(&c.conf)
                .env("SLURM_CONF", &c.conf)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(std::fs::File::create(d.join(format!("log/{name}.out"))).expect("create log"))
                .spawn()
                .unwrap_or_else(|e| panic!("start {name}: {e}"));
            c.children.push((name, child));
        }
        c.wait_until("the node to be idle", || {
            c.command("sinfo")
                .args(["--noheader", "--format=%T"])
                .output()
                .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "idle")
        });
        c
    }

    /// `SLURM_CONF` for clients of this cluster.
    pub fn env(&self) -> (&'static str, &Path) {
        ("SLURM_CONF", &self.conf)
    }

    /// A Slurm client command aimed at this cluster.
    pub fn command(&self, program: &str) -> Command {
        let mut c = Command::new(program);
        c.env("SLURM_CONF", &self.conf).stdin(Stdio::null());
        c
    }

    /// Ids of the jobs Slurm still counts as queued or running.
    pub fn active_jobs(&self) -> Vec<String> {
        let out = self.command("squeue").args(["--noheader", "--format=%i"]).output().expect("run squeue");
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(|l| l.trim().to_owned())
            .filter(|l| !l.is_empty())
            .collect()
    }

    /// Every job the controller knows, with its state: `(id, state)`.
    pub fn jobs(&self) -> Vec<(String, String)> {
        let out = self
            .command("squeue")
            .args(["--noheader", "--states=all", "--format=%i %T"])
            .output()
            .expect("run squeue");
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter_map(|l| l.split_once(' ').map(|(a, b)| (a.trim().to_owned(), b.trim().to_owned())))
            .collect()
    }

    /// Waits until no job is queued or running.
    pub fn wait_idle(&self) {
        self.wait_until("no job to be queued or running", || self.active_jobs().is_empty());
    }

    /// The daemons' logs, for failure messages.
    pub fn logs(&self) -> String {
        let mut s = String::new();
        for f in ["slurmctld.log", "slurmd.log", "slurmctld.out", "slurmd.out", "munged.out"] {
            let text = std::fs::read_to_string(self.dir.path().join("log").join(f)).unwrap_or_default();
            let tail: Vec<&str> = text.lines().rev().take(15).collect();
            s.push_str(&format!("--- {f}\n"));
            for l in tail.into_iter().rev() {
                s.push_str(l);
                s.push('\n');
            }
        }
        s
    }

    fn wait_until(&self, what: &str, mut done: impl FnMut() -> bool) {
        let start = Instant::now();
        while !done() {
            if start.elapsed() > LIMIT {
                panic!("timed out after {LIMIT:?} waiting for {what}\n{}", self.logs());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        // Jobs first: their step daemons are not children of slurmd's process.
        let _ = self.command("scancel").arg("--full").arg(format!("--user={}", whoami())).status();
        let start = Instant::now();
        while !self.active_jobs().is_empty() && start.elapsed() < Duration::from_secs(20) {
            std::thread::sleep(Duration::from_millis(100));
        }
        for (_, child) in self.children.iter_mut().rev() {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(child.id() as i32),
                nix::sys::signal::Signal::SIGTERM,
            );
        }
        for (_, child) in self.children.iter_mut().rev() {
            let start = Instant::now();
            while matches!(child.try_wait(), Ok(None)) {
                if start.elapsed() > Duration::from_secs(10) {
                    let _ = child.kill();
                    let _ = child.wait();
                    break;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        }
    }
}

fn require(bin: &str, package: &str) {
    let found = ["/usr/sbin", "/usr/bin", "/sbin", "/bin"].iter().any(|d| Path::new(d).join(bin).exists());
    if found {
        return;
    }
    if std::env::var("CI").as_deref() == Ok("true") {
        panic!("`{bin}` is missing: .ci/run installs {package}");
    }
    panic!("`{bin}` is missing: apt-get install -y slurm-wlm munge");
}

/// The short host name: slurmctld runs only where `SlurmctldHost` names this machine.
fn hostname() -> String {
    let h = std::fs::read_to_string("/proc/sys/kernel/hostname").expect("read the host name");
    let h = h.trim();
    h.split('.').next().unwrap_or(h).to_owned()
}

fn whoami() -> String {
    let out = Command::new("id").arg("-un").output().expect("run id -un");
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

fn free_port() -> u16 {
    let l = std::net::TcpListener::bind(("127.0.0.1", 0)).expect("bind a free port");
    l.local_addr().expect("local address").port()
}

fn set_mode(path: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).expect("chmod");
}
