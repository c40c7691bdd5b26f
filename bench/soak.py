#!/usr/bin/env python3
"""Crash soak: SIGKILL dagrun (and, with `ssh`, an SSH host) at random moments, resume until the
run is done, and check that nothing recorded as succeeded ever runs again.

    python3 bench/soak.py [local] [ssh] [--rounds N] [--tasks N] [--seed S] [--keep]

Each round runs a fresh workflow of about `--tasks` tasks (three matrix layers with one-to-one
and cross dependencies, and a fan-in). Every task appends `start ID PGID` and, after a short
sleep, `end ID` to a shared progress log, and a line to a file of its own under `runs/`.

A round starts `dagrun run` and SIGKILLs it at a random moment, chosen one of three ways: when
the progress log reaches a random length, right after dagrun prints its k-th `start` line, or
right after it prints the generator's `ok` (the workflow has a generator, `g`, adding 40 tasks); then `dagrun resume` again and again (each one killed at a random moment with
probability 1/2, at most 4 kills a round) until one finishes. After every kill the script waits
for dagrun's reaper to exit and for every task process group of the killed run to be gone, reads
the state file (snapshot plus journal, as dagrun does), and remembers which tasks it records as
succeeded and how long the log was. Checked, and counted as violations:

- a task recorded succeeded before a kill started again after it;
- a task started before every one of its dependencies had ended;
- a task started twice by one dagrun process (local only: there are no retries);
- a process of a killed run still alive afterwards, or writing to the log after it was checked;
- a task process alive, and not being killed, the moment the killed run's reaper has exited
  (local: checked at once, not after the task would have ended by itself);
- two copies of one task running at once (a start while a copy of an earlier start still runs);
- the state file unreadable after a kill (`dagrun status` fails);
- the final state not complete (every task succeeded and every task ran), or a resume not
  finishing in 12 tries.

`ssh` runs the same tasks over two private loopback sshds (127.0.0.1 and 127.0.0.2, started as
tests/it/sshd.rs does) and, besides killing dagrun, kills one of the hosts (its sshd and every
process under it) at a random moment of the round; before the next resume the host is started
again with probability 1/2. Tasks on the dead host are re-run elsewhere within the same run
(reported, not a violation).

Python 3 standard library only. Uses the release binary from $CARGO_TARGET_DIR (or target/);
build it first with `cargo build --release`.
"""

import argparse
import json
import os
import pwd
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LIMIT = 120  # seconds: a safety limit for waits, reaching it is reported


def binary(script="soak"):
    """The release binary, where cargo puts it; `script` names the caller in the message."""
    target = Path(os.environ.get("CARGO_TARGET_DIR", ROOT / "target"))
    if not target.is_absolute():
        target = ROOT / target
    b = target / "release" / "dagrun"
    if not b.exists():
        sys.exit(f"{script}: {b} does not exist; build it with `cargo build --release`")
    return b


# --------------------------------------------------------------------------------------------
# /proc


def proc_stat(pid):
    """(state, ppid, pgid) of a live process, None if it is gone."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    f = text[text.rfind(")") + 2:].split()
    return f[0], int(f[1]), int(f[2])


def alive(pid):
    s = proc_stat(pid)
    return s is not None and s[0] not in "ZX"


def all_pids():
    return [int(p) for p in os.listdir("/proc") if p.isdigit()]


def cmdline(pid):
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def children(pid):
    return [p for p in all_pids() if (s := proc_stat(p)) and s[1] == pid]


def descendants(pid):
    parent = {}
    for p in all_pids():
        s = proc_stat(p)
        if s:
            parent[p] = s[1]
    out, todo = [], [pid]
    while todo:
        q = todo.pop()
        out.append(q)
        todo.extend(c for c, pp in parent.items() if pp == q)
    return out


def wait_until(cond, limit=LIMIT, step=0.01):
    start = time.monotonic()
    while not cond():
        if time.monotonic() - start > limit:
            return False
        time.sleep(step)
    return True


# --------------------------------------------------------------------------------------------
# The workflow and its log


GENERATED = 40  # tasks the generator `g` adds each time it runs


def write_workflow(d, n, executor):
    """3n + 1 tasks: a[i]; b[i] after a[i]; c[i] after b[i] and a[(i+1)%n]; d after every c;
    and a generator g adding g/p0 .. g/p39, each after g. Every task runs `task.sh`."""
    log, runs = d / "progress.log", d / "runs"
    runs.mkdir(parents=True)
    log.touch()
    for p in (d, runs):
        os.chmod(p, 0o777)
    os.chmod(log, 0o666)
    # The process group, from /proc (field 5): on an SSH host the task's shell is not its leader.
    task_sh = d / "task.sh"
    task_sh.write_text(
        "read -r _ _ _ _ PG _ < /proc/$$/stat\n"
        f'echo "start $DAGRUN_TASK $PG" >> {log}\n'
        f'echo x >> "{runs}/$(printf %s "$DAGRUN_TASK" | tr / _)"\n'
        '[ -n "$1" ] && sleep "0.0$1"\n'
        f'echo "end $DAGRUN_TASK" >> {log}\n')
    gen_sh = d / "gen.sh"
    gen_sh.write_text(
        f"sh {task_sh} 1 >&2\necho 'tasks:'\n"
        f"i=0; while [ $i -lt {GENERATED} ]; do echo \"  p$i: {{cmd: 'sh {task_sh} 2'}}\"; i=$((i+1)); done\n")
    for f in (task_sh, gen_sh):
        os.chmod(f, 0o755)
    ex = f"    executor: {executor}\n" if executor else ""
    head = ""
    if executor:
        head = (f"executors:\n  farm:\n    type: ssh\n    config: \"{d.parent / 'sshd' / 'ssh_config'}\"\n"
                "    hosts: [h1, h2]\n    slots: 4\n")
    text = f"name: soak\nparams: {{n: {n}}}\n{head}tasks:\n"
    for name, after in [("a", None), ("b", "[\"a[i={{ i }}]\"]"),
                        ("c", "[\"b[i={{ i }}]\", \"a[i={{ (i + 1) % n }}]\"]")]:
        text += f"  {name}:\n    matrix: {{i: \"{{{{ range(n) }}}}\"}}\n{ex}"
        if after:
            text += f"    after: {after}\n"
        text += f"    cmd: 'sh {task_sh} {{{{ i % 5 }}}}'\n"
    text += f"  d:\n    after: [c]\n{ex}    cmd: 'sh {task_sh}'\n"
    text += f"  g:\n    generator: true\n    cmd: 'sh {gen_sh}'\n"
    flow = d / "soak.yaml"
    flow.write_text(text)
    deps = {}
    for i in range(n):
        deps[f"a[i={i}]"] = []
        deps[f"b[i={i}]"] = [f"a[i={i}]"]
        deps[f"c[i={i}]"] = [f"b[i={i}]", f"a[i={(i + 1) % n}]"]
    deps["d"] = [f"c[i={i}]" for i in range(n)]
    deps["g"] = []
    for j in range(GENERATED):
        deps[f"g/p{j}"] = ["g"]
    return flow, log, deps


def kill_pending(pid):
    """Whether a SIGKILL is pending for `pid` (it is being killed, not surviving)."""
    try:
        text = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return True
    for line in text.splitlines():
        if line.startswith(("SigPnd:", "ShdPnd:")) and int(line.split()[1], 16) & (1 << 8):
            return True
    return False


def group_runs(pgid, task):
    """Whether a live process of group `pgid` runs `task` (pids are reused: the group number
    alone proves nothing)."""
    want = f"DAGRUN_TASK={task}\0".encode()
    for p in all_pids():
        st = proc_stat(p)
        if not st or st[2] != pgid or st[0] in "ZX" or kill_pending(p):
            continue
        try:
            if want in Path(f"/proc/{p}/environ").read_bytes():
                return True
        except OSError:
            pass
    return False


class Stderr:
    """dagrun's plain progress, read by a thread: lines kept for triggers, all of it written to
    `out` for the record."""

    def __init__(self, proc, out):
        self.lines, self.lock = [], threading.Lock()
        self.thread = threading.Thread(target=self._read, args=(proc, out), daemon=True)
        self.thread.start()

    def _read(self, proc, out):
        with open(out, "wb") as f:
            for raw in proc.stderr:
                f.write(raw)
                with self.lock:
                    self.lines.append(raw.decode(errors="replace"))

    def count(self, prefix):
        with self.lock:
            return sum(1 for l in self.lines if l.startswith(prefix))


class Log:
    """The progress log, read incrementally."""

    def __init__(self, path):
        self.path, self.pos, self.lines, self.partial = path, 0, [], b""

    def poll(self):
        with open(self.path, "rb") as f:
            f.seek(self.pos)
            data = f.read()
        self.pos += len(data)
        data = self.partial + data
        *full, self.partial = data.split(b"\n")
        self.lines.extend(l.decode() for l in full)
        return len(self.lines)


def read_state(path):
    """Task statuses, as `dagrun resume` sees them: the snapshot with its journal replayed."""
    st = json.loads(Path(path).read_text())
    tasks = {k: v["status"] for k, v in st["tasks"].items()}
    lost = {k: len(v.get("lost", [])) for k, v in st["tasks"].items()}
    try:
        lines = Path(str(path) + ".journal").read_bytes().split(b"\n")
    except FileNotFoundError:
        return tasks, lost
    try:
        header = json.loads(lines[0])
    except ValueError:
        return tasks, lost
    if header.get("dagrun_journal") != st.get("run", {}).get("epoch", 0):
        return tasks, lost
    body = lines[1:]
    for k, line in enumerate(body):
        if not line:
            continue
        try:
            e = json.loads(line)
        except ValueError:
            if all(not l for l in body[k + 1:]):
                break  # a torn last line
            raise
        if "id" in e:
            tasks[e["id"]] = e["status"]
            lost[e["id"]] = len(e.get("lost", []))
    return tasks, lost


# --------------------------------------------------------------------------------------------
# Private sshds


class Hosts:
    """Two loopback sshds, as tests/it/sshd.rs starts them; a host can be killed and restarted."""

    def __init__(self, d):
        self.d = d
        d.mkdir()
        os.chmod(d, 0o755)
        root = os.geteuid() == 0
        self.user = "dagrun-test" if root else pwd.getpwuid(os.getuid()).pw_name
        if root:
            os.makedirs("/run/sshd", exist_ok=True)
            try:
                pwd.getpwnam(self.user)
            except KeyError:
                subprocess.run(["useradd", "-m", "-s", "/bin/sh", self.user], check=True)
            subprocess.run(["usermod", "-p", "*", self.user], check=True)
        self.keygen(d / "client", "dagrun-soak-client")
        (d / "authorized_keys").write_text((d / "client.pub").read_text())
        os.chmod(d / "authorized_keys", 0o644)
        self.procs, self.confs, known, config = {}, {}, [], []
        for k, addr in enumerate(("127.0.0.1", "127.0.0.2"), 1):
            hk = d / f"host{k}"
            self.keygen(hk, f"dagrun-soak-host{k}")
            port = self.start_new(k, addr, hk)
            pub = hk.with_suffix(".pub").read_text().split()[:2]
            known.append(f"[{addr}]:{port} {' '.join(pub)}\n")
            config.append(f"Host h{k}\n  HostName {addr}\n  Port {port}\n  User {self.user}\n"
                          f"  IdentityFile {d}/client\n  IdentitiesOnly yes\n"
                          f"  UserKnownHostsFile {d}/known_hosts\n  StrictHostKeyChecking yes\n")
        (d / "known_hosts").write_text("".join(known))
        (d / "ssh_config").write_text("\n".join(config))

    @staticmethod
    def keygen(path, comment):
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", comment, "-f", str(path)],
                       check=True, stdin=subprocess.DEVNULL)

    def start_new(self, k, addr, hk):
        for _ in range(20):
            with socket.socket() as s:
                s.bind((addr, 0))
                port = s.getsockname()[1]
            conf = self.d / f"sshd{k}.conf"
            conf.write_text(
                f"ListenAddress {addr}\nPort {port}\nHostKey {hk}\nPidFile {self.d}/sshd{k}.pid\n"
                f"AuthorizedKeysFile {self.d}/authorized_keys\nStrictModes no\nUsePAM no\n"
                "PasswordAuthentication no\nKbdInteractiveAuthentication no\nUseDNS no\n")
            self.confs[k] = conf
            if self.start(k):
                return port
        sys.exit(f"soak: sshd on {addr} did not start")

    def start(self, k):
        p = subprocess.Popen(["/usr/sbin/sshd", "-D", "-e", "-f", str(self.confs[k])],
                             stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                             start_new_session=True)
        lines = []
        for line in p.stderr:
            lines.append(line.decode(errors="replace"))
            if "Server listening on" in lines[-1] or "Address already in use" in lines[-1]:
                break
        if "Server listening on" not in "".join(lines):
            p.kill()
            p.wait()
            return False
        threading.Thread(target=lambda f=p.stderr: [None for _ in f], daemon=True).start()
        self.procs[k] = p
        return True

    def up(self, k):
        return k in self.procs

    def kill(self, k):
        """Host `k` dies: its sshd, every connection and every process of every session.

        All of them are stopped before any is killed, as a machine that dies stops at once:
        killed one by one, a session could see its task die and report that exit status (a
        task killed by a signal, ssh's 255) before its own connection went."""
        p = self.procs.pop(k)

        def send(pids, sig):
            for pid in pids:
                try:
                    os.kill(pid, sig)
                except ProcessLookupError:
                    pass

        send(descendants(p.pid), signal.SIGSTOP)
        # Once stopped, nothing forks: a second look finds what was being born the first time.
        tree = descendants(p.pid)
        send(tree, signal.SIGSTOP)
        send(tree, signal.SIGKILL)
        p.wait()

    def restart(self, k):
        for _ in range(100):
            if self.start(k):
                return
            time.sleep(0.1)  # the port may take a moment to be free again
        sys.exit(f"soak: could not restart sshd {k}")

    def stop(self):
        for k in list(self.procs):
            self.kill(k)
        shutil.rmtree(self.d, ignore_errors=True)


# --------------------------------------------------------------------------------------------
# A round


class Totals(Counter):
    pass


def one_round(dagrun, d, n, rng, totals, hosts=None, keep=False):
    flow, log_path, deps = write_workflow(d, n, "farm" if hosts else None)
    tasks = list(deps)
    state = d / "run" / "state.json"
    log = Log(log_path)
    token = str(d / "task.sh")
    seen_starts = 0  # progress-log lines checked for concurrent duplicates
    live = {}  # task -> process groups of its starts
    checkpoints = []  # (log offset, tasks recorded succeeded at that moment)
    segments = []  # (start offset, end offset) of each dagrun process
    host_killed = False
    host_kill_at = None
    if hosts:
        # Some moment of the round: the host dies when the log reaches this many lines.
        host_kill_at = rng.randrange(1, 2 * len(tasks))
        victim = rng.choice([1, 2])
    kills = 0
    for attempt in range(12):
        if attempt == 0:
            argv = [str(dagrun), "run", str(flow), "--state", str(state), "--progress", "none", "-j", "8"]
        else:
            argv = [str(dagrun), "resume", str(state), "--progress", "none", "-j", "8"]
            totals["resumes"] += 1
        begin = log.poll()
        kill_at = None
        if kills < 4 and (attempt == 0 or rng.random() < 0.5):
            done = sum(1 for s in read_state(state)[0].values() if s == "succeeded") if attempt else 0
            kill_at = begin + rng.randrange(1, max(2, 2 * (len(tasks) - done)))
        # How this kill is triggered: a length of the progress log (above), right after dagrun
        # prints the k-th `start` line, or right after the generator's `ok`.
        trigger = rng.choice(["log", "start", "generator ok"]) if kill_at is not None else None
        start_k = rng.randrange(1, 40)
        argv[argv.index("none")] = "plain"
        with open(d / f"dagrun.{attempt}.stdout", "wb") as out:
            proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL)
        err = Stderr(proc, d / f"dagrun.{attempt}.out")
        reaper = None
        killed = False
        start = time.monotonic()
        while proc.poll() is None:
            count = log.poll()
            # Two live copies of one task at once: a killed run's task still running beside the
            # resumed run's.
            for l in log.lines[seen_starts:]:
                if l.startswith("start "):
                    _, task, pg = l.split()[:3]
                    if any(group_runs(g, task) for g in live.get(task, []) if g != int(pg)):
                        # A host that died takes a while to be seen as gone; its tasks run again
                        # elsewhere by design (counted like the restarts below).
                        if hosts and host_killed:
                            totals["tasks started beside a copy on a killed host"] += 1
                        else:
                            totals["violation: a task ran twice at once"] += 1
                            print(f"  {task} started while an earlier copy ran", file=sys.stderr)
                    live.setdefault(task, []).append(int(pg))
                elif l.startswith("end "):
                    live.pop(l.split()[1], None)
            seen_starts = len(log.lines)
            if reaper is None:
                reaper = next((c for c in children(proc.pid) if "__reaper" in cmdline(c)), None)
            fire = False
            if trigger == "start":
                fire = err.count("start    ") >= start_k
            elif trigger == "generator ok":
                fire = err.count("ok       g in ") > 0
            if fire:
                proc.send_signal(signal.SIGKILL)
                totals[f"kills on {trigger}"] += 1
                killed = True
                break
            if hosts and not host_killed and count >= host_kill_at:
                hosts.kill(victim)
                host_killed = True
                totals["host kills"] += 1
            if trigger == "log" and count >= kill_at:
                proc.send_signal(signal.SIGKILL)
                totals["kills on log"] += 1
                killed = True
                break
            if time.monotonic() - start > 600:
                proc.kill()
                totals["violation: a run did not finish in 600 s"] += 1
                killed = True
                break
            time.sleep(0.002)
        rc = proc.wait()
        err.thread.join(timeout=10)
        if killed:
            kills += 1
            totals["dagrun kills"] += 1
            # The reaper kills the task groups the dead dagrun left, then exits.
            if reaper is not None and not wait_until(lambda: not alive(reaper)):
                totals["violation: the reaper did not exit"] += 1
            log.poll()
            groups = {int(l.split()[2]) for l in log.lines[begin:] if l.startswith("start ")}

            def leftovers():
                return [p for p in all_pids()
                        if (s := proc_stat(p)) and s[0] not in "ZX" and (s[2] in groups or token in cmdline(p))]

            # Right after the reaper is done, every task process is dead or being killed: one
            # neither is a survivor, even if it would have ended by itself a moment later.
            if not hosts:
                survivors = [p for p in leftovers() if not kill_pending(p)]
                if survivors:
                    totals["violation: a task process survived the kill"] += 1
                    print(f"  survived: {[(p, cmdline(p)) for p in survivors]}", file=sys.stderr)

            if not wait_until(lambda: not leftovers(), limit=30):
                totals["violation: task processes survived a killed dagrun"] += 1
                print(f"  leftover processes: {[(p, cmdline(p)) for p in leftovers()]}", file=sys.stderr)
            st = subprocess.run([str(dagrun), "status", str(state), "--format", "json"], capture_output=True)
            if st.returncode != 0:
                totals["violation: state unreadable after a kill"] += 1
                print(f"  status: {st.stderr.decode(errors='replace')}", file=sys.stderr)
            statuses, _ = read_state(state)
            succeeded = {t for t, s in statuses.items() if s == "succeeded"}
            end = log.poll()
            checkpoints.append((end, succeeded))
            segments.append((begin, end))
            if hosts and host_killed and not hosts.up(victim) and rng.random() < 0.5:
                hosts.restart(victim)
                totals["host restarts before a resume"] += 1
            continue
        segments.append((begin, log.poll()))
        if rc != 0:
            totals[f"dagrun exits {rc} (not killed)"] += 1
            print(f"  round {d.name}: dagrun exited {rc}:\n"
                  f"{(d / f'dagrun.{attempt}.out').read_text(errors='replace')[-2000:]}", file=sys.stderr)
            continue
        break
    else:
        totals["violation: not finished after 12 runs"] += 1
    if hosts and not host_killed:
        totals["host kill points past the end"] += 1
    if hosts:
        for k in (1, 2):
            if not hosts.up(k):
                hosts.restart(k)

    # The checks.
    log.poll()
    lines = log.lines
    for offset, succeeded in checkpoints:
        again = {l.split()[1] for l in lines[offset:] if l.startswith("start ") and l.split()[1] in succeeded}
        totals["violation: a recorded success ran again"] += len(again)
        if again:
            print(f"  ran again after being recorded succeeded: {sorted(again)[:10]}", file=sys.stderr)
    ended = set()
    for l in lines:
        kind, task = l.split()[:2]
        if kind == "start":
            missing = [x for x in deps[task] if x not in ended]
            if missing:
                totals["violation: started before its dependencies ended"] += 1
                print(f"  {task} started before {missing[:3]} ended", file=sys.stderr)
        else:
            ended.add(task)
    for begin, end in segments:
        starts = Counter(l.split()[1] for l in lines[begin:end] if l.startswith("start "))
        twice = sum(c - 1 for c in starts.values() if c > 1)
        if hosts:
            totals["tasks restarted after losing their host"] += twice
        elif twice:
            totals["violation: a task started twice in one run"] += twice
        # Every `end` of a segment follows a `start` of the same task in that segment.
        seen = set()
        for l in lines[begin:end]:
            kind, task = l.split()[:2]
            if kind == "start":
                seen.add(task)
            elif task not in seen:
                totals["violation: a killed run's task wrote after it was checked"] += 1
    statuses, lost = read_state(state)
    bad = {t: s for t, s in statuses.items() if s != "succeeded"}
    if set(statuses) != set(tasks) or bad:
        totals["violation: final state not complete"] += 1
        print(f"  not succeeded: {list(bad.items())[:10]}", file=sys.stderr)
    ran = {p.name for p in (d / "runs").iterdir()}
    if ran != {t.replace("/", "_") for t in tasks}:
        totals["violation: a task never ran"] += 1
    starts = sum(1 for l in lines if l.startswith("start "))
    totals["tasks"] += len(tasks)
    totals["task starts"] += starts
    totals["task starts beyond one per task"] += starts - len(tasks)
    totals["rounds"] += 1
    if not keep:
        shutil.rmtree(d, ignore_errors=True)


def report(mode, totals, rounds, seed, elapsed):
    print(f"\nsoak {mode}: {totals['rounds']} of {rounds} rounds, seed {seed}, {elapsed:.0f} s")
    keys = ["rounds", "tasks", "dagrun kills", "resumes", "host kills", "host restarts before a resume",
            "host kill points past the end", "task starts", "task starts beyond one per task",
            "tasks restarted after losing their host"]
    for k in keys:
        if k in totals or k in ("rounds", "dagrun kills", "resumes"):
            print(f"  {k:<44} {totals[k]}")
    for k in sorted(totals):
        if k not in keys:
            print(f"  {k:<44} {totals[k]}")
    violations = sum(v for k, v in totals.items() if k.startswith("violation"))
    print(f"  {'violations':<44} {violations}")
    return violations


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("modes", nargs="*", metavar="MODE", help="local, ssh (default: both)")
    ap.add_argument("--rounds", type=int, default=50, help="rounds per mode (default 50)")
    ap.add_argument("--tasks", type=int, default=600, help="about this many tasks a round (default 600)")
    ap.add_argument("--seed", type=int, default=None, help="random seed (default: from the clock)")
    ap.add_argument("--keep", action="store_true", help="keep each round's directory")
    args = ap.parse_args()
    for m in args.modes:
        if m not in ("local", "ssh"):
            ap.error(f"unknown mode {m}; known: local, ssh")
    dagrun = binary()
    seed = args.seed if args.seed is not None else int(time.time())
    n = max(1, args.tasks // 3)
    failed = 0
    for mode in args.modes or ["local", "ssh"]:
        rng = random.Random(f"{seed}-{mode}")
        tmp = Path(tempfile.mkdtemp(prefix=f"dagrun-soak-{mode}-"))
        os.chmod(tmp, 0o755)
        hosts = Hosts(tmp / "sshd") if mode == "ssh" else None
        totals = Totals()
        t0 = time.monotonic()
        try:
            for r in range(args.rounds):
                one_round(dagrun, tmp / f"round{r:03}", n, rng, totals, hosts, args.keep)
                print(f"soak {mode}: round {r + 1}/{args.rounds}: {dict(totals)}", file=sys.stderr, flush=True)
        except KeyboardInterrupt:
            print("soak: interrupted; counts so far:", file=sys.stderr)
        finally:
            if hosts:
                hosts.stop()
            if not args.keep:
                shutil.rmtree(tmp, ignore_errors=True)
        failed += report(mode, totals, args.rounds, seed, time.monotonic() - t0)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
