#!/usr/bin/env python3
"""dagrun's benchmark harness.

    python3 bench/bench.py [SECTION ...] [--runs N] [--no-build] [--keep]

Builds the release binary (unless --no-build), generates each section's inputs into a temporary
directory, runs every measured command --runs times (default 5) and prints, per section, a
markdown table of median wall time and median peak RSS, next to a baseline command measured in
the same run, with the ratio to it and PASS/FAIL against the section's targets.

Python 3 standard library only. Peak RSS comes from os.wait4's rusage (ru_maxrss) of the child,
so GNU time is not needed.

Adding a section: write `def section_NAME(ctx) -> list[Case]` (generate inputs under ctx.tmp,
return the cases to measure) and register it in SECTIONS. `measure_cases` does the rest.
"""

import argparse
import os
import platform
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MB = 1 << 20
GB = 1 << 30


# --------------------------------------------------------------------------------------------
# Measuring


@dataclass
class Sample:
    wall: float  # seconds
    cpu: float  # seconds, user + system
    rss: int  # bytes
    rc: int
    stdout: bytes


def run_once(argv, cwd=None, stdin=None):
    """Runs argv once; wall time, peak RSS of the child (bytes), exit code and stdout."""
    with tempfile.TemporaryFile() as out:
        start = time.perf_counter()
        proc = subprocess.Popen(argv, cwd=cwd, stdin=stdin or subprocess.DEVNULL, stdout=out,
                                stderr=subprocess.STDOUT)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)
        # Only the end of the output is kept: a command printing gigabytes must not grow this
        # process, whose size a later child's peak RSS would include (it is forked from it).
        size = out.seek(0, os.SEEK_END)
        out.seek(max(0, size - (1 << 16)))
        # ru_maxrss is KiB on Linux, bytes on macOS.
        rss = usage.ru_maxrss * (1 if sys.platform == "darwin" else 1024)
        return Sample(wall, usage.ru_utime + usage.ru_stime, rss, proc.returncode, out.read())


@dataclass
class Cmd:
    """A command to measure. `check` gets a Sample and returns an error string or None."""
    label: str
    argv: list
    check: object = None


@dataclass
class Case:
    name: str
    cmd: Cmd
    baseline: Cmd
    max_wall: float = None  # seconds; None: report only
    max_rss: int = None  # bytes; None: report only
    max_ratio: float = None  # median wall / median baseline wall; None: report only
    max_cpu_ratio: float = None  # median CPU / median baseline CPU; None: report only
    # (median wall - median baseline wall) / tasks, in seconds: what dagrun adds per task
    max_per_task: float = None
    tasks: int = None
    note: str = ""


@dataclass
class Result:
    case: Case
    samples: list = field(default_factory=list)
    base: list = field(default_factory=list)
    error: str = None

    def wall(self):
        return statistics.median(s.wall for s in self.samples) if self.samples else None

    def cpu(self):
        return statistics.median(s.cpu for s in self.samples) if self.samples else None

    def rss(self):
        return statistics.median(s.rss for s in self.samples) if self.samples else None

    def base_wall(self):
        return statistics.median(s.wall for s in self.base) if self.base else None

    def base_cpu(self):
        return statistics.median(s.cpu for s in self.base) if self.base else None

    def verdict(self):
        if self.error:
            return "FAIL"
        ok = True
        if self.case.max_wall is not None and self.wall() > self.case.max_wall:
            ok = False
        if self.case.max_rss is not None and self.rss() > self.case.max_rss:
            ok = False
        if self.case.max_ratio is not None and self.wall() > self.case.max_ratio * self.base_wall():
            ok = False
        if self.case.max_per_task is not None and self.per_task() > self.case.max_per_task:
            ok = False
        if self.case.max_cpu_ratio is not None and self.cpu() > self.case.max_cpu_ratio * self.base_cpu():
            ok = False
        return "PASS" if ok else "FAIL"

    def per_task(self):
        return (self.wall() - self.base_wall()) / self.case.tasks


def measure_cases(cases, runs, log):
    """Interleaves command and baseline runs so that machine noise hits both alike."""
    results = []
    for case in cases:
        r = Result(case)
        for i in range(runs):
            for cmd, into in ((case.cmd, r.samples), (case.baseline, r.base)):
                s = run_once(cmd.argv)
                err = cmd.check(s) if cmd.check else (None if s.rc == 0 else f"exit {s.rc}")
                if err:
                    tail = s.stdout[-400:].decode(errors="replace").strip()
                    r.error = f"`{cmd.label}`: {err}: {tail}"
                    break
                into.append(s)
            if r.error:
                break
            log(f"  {case.name}: run {i + 1}/{runs}: {r.samples[-1].wall:.3f} s, "
                f"{r.samples[-1].rss / MB:.0f} MiB (baseline {r.base[-1].wall:.3f} s)")
        if r.error:
            log(f"  {case.name}: {r.error}")
        results.append(r)
    return results


# --------------------------------------------------------------------------------------------
# Reporting


def fmt_s(x):
    return "-" if x is None else f"{x:.3f} s"


def fmt_mb(x):
    return "-" if x is None else f"{x / MB:.0f} MiB"


def target_text(case):
    parts = []
    if case.max_wall is not None:
        parts.append(f"≤ {case.max_wall:g} s")
    if case.max_rss is not None:
        parts.append(f"≤ {case.max_rss / GB:g} GiB RSS" if case.max_rss >= GB else
                     f"≤ {case.max_rss / MB:g} MiB RSS")
    if case.max_ratio is not None:
        parts.append(f"≤ {case.max_ratio:g}x baseline")
    if case.max_per_task is not None:
        parts.append(f"≤ {case.max_per_task * 1000:g} ms added per task")
    if case.max_cpu_ratio is not None:
        parts.append(f"CPU ≤ {case.max_cpu_ratio:g}x baseline's")
    return ", ".join(parts) or "completes"


def print_table(section, results, runs):
    print(f"\n### {section} (median of {runs} runs)\n")
    head = ["case", "command", "median wall", "median CPU", "median peak RSS", "baseline",
            "baseline wall", "baseline CPU", "ratio", "target", "result"]
    rows = []
    for r in results:
        w, b = r.wall(), r.base_wall()
        ratio = f"{w / b:.1f}x" if w is not None and b else "-"
        c, bc = r.cpu(), r.base_cpu()
        if r.case.max_cpu_ratio is not None and c is not None and bc:
            ratio += f", CPU {c / bc:.2f}x"
        if r.case.tasks and w is not None and b:
            ratio += f" ({r.per_task() * 1000:+.2f} ms/task)"
        rows.append([r.case.name, f"`{r.case.cmd.label}`", fmt_s(w), fmt_s(r.cpu()), fmt_mb(r.rss()),
                     f"`{r.case.baseline.label}`", fmt_s(b), fmt_s(r.base_cpu()), ratio, target_text(r.case),
                     f"**{r.verdict()}**"])
    print("| " + " | ".join(head) + " |")
    print("|" + "|".join("---" for _ in head) + "|")
    for row in rows:
        print("| " + " | ".join(row) + " |")
    notes = [f"- {r.case.name}: {r.case.note}" for r in results if r.case.note]
    notes += [f"- {r.case.name}: {r.error}" for r in results if r.error]
    if notes:
        print()
        print("\n".join(notes))


# --------------------------------------------------------------------------------------------
# Sections


@dataclass
class Context:
    dagrun: Path
    tmp: Path
    runs: int
    log: object


def expect_valid(n):
    want = f"valid, {n} task".encode()

    def check(s):
        if s.rc != 0:
            return f"exit {s.rc}"
        if want not in s.stdout:
            return f"expected `{want.decode()}` in the output"
        return None

    return check


def write_flat(path, n, seed=1):
    """n tasks t0..t{n-1}; each depends on 0, 1 or 2 distinct earlier tasks, chosen at random."""
    rng = random.Random(seed)
    with open(path, "w") as f:
        f.write("name: flat\ntasks:\n")
        buf = []
        for i in range(n):
            k = rng.randint(0, min(2, i))
            deps = rng.sample(range(i), k) if k else ()
            buf.append(f"  t{i}:\n    cmd: echo {i}\n")
            if deps:
                buf.append("    after: [" + ", ".join(f"t{d}" for d in deps) + "]\n")
            if len(buf) > 10000:
                f.write("".join(buf))
                buf.clear()
        f.write("".join(buf))


def write_chain(path, n):
    """n tasks, each depending on the one before: the deepest possible graph."""
    with open(path, "w") as f:
        f.write("name: chain\ntasks:\n  t0:\n    cmd: echo 0\n")
        buf = []
        for i in range(1, n):
            buf.append(f"  t{i}:\n    cmd: echo {i}\n    after: [t{i - 1}]\n")
            if len(buf) > 10000:
                f.write("".join(buf))
                buf.clear()
        f.write("".join(buf))


def write_matrix(path, n):
    with open(path, "w") as f:
        f.write("name: matrix\ntasks:\n  m:\n    matrix:\n"
                f"      i: \"{{{{ range({n}) }}}}\"\n"
                "    cmd: \"echo {{ i }}\"\n")


def expect_problem(needle):
    def check(s):
        if s.rc != 3:
            return f"exit {s.rc}, expected 3"
        if needle.encode() not in s.stdout:
            return f"expected `{needle}` in the output"
        return None

    return check


def section_validate(ctx):
    """`dagrun validate` on large files: flat random DAG, one big matrix, one long chain, and
    the flat one with a syntax error on its last line."""
    n = 1_000_000
    flat, chain, matrix = ctx.tmp / "flat.yaml", ctx.tmp / "chain.yaml", ctx.tmp / "matrix.yaml"
    typo = ctx.tmp / "typo.yaml"
    ctx.log(f"generating {n} tasks into {ctx.tmp} ...")
    write_flat(flat, n)
    write_chain(chain, n)
    write_matrix(matrix, n)
    shutil.copyfile(flat, typo)
    with open(typo, "a") as f:
        f.write('  last:\n    cmd: "a quote never closed\n')
    d = str(ctx.dagrun)

    def validate(p):
        return Cmd(f"dagrun validate {p.name}", [d, "validate", str(p)], expect_valid(n))

    def wc(p):
        return Cmd(f"wc -l {p.name}", ["wc", "-l", str(p)])

    size = lambda p: f"{p.stat().st_size / MB:.0f} MiB"  # noqa: E731
    return [
        Case("flat 1M, ≤2 random deps", validate(flat), wc(flat), max_wall=3.0, max_rss=1 * GB,
             note=f"{flat.name} is {size(flat)}; baseline `wc -l` reads and scans every byte once"),
        Case("matrix range(1000000)", validate(matrix), Cmd(f"seq {n}", ["seq", str(n)]),
             max_wall=2.0,
             note="one task spec expanded to 1M instances, `cmd` rendered per instance; "
                  "baseline `seq` prints the same 1M numbers"),
        Case("chain 1M deep", validate(chain), wc(chain),
             note=f"{chain.name} is {size(chain)}; must finish without a stack overflow"),
        Case("flat 1M, syntax error on the last line",
             Cmd(f"dagrun validate {typo.name}", [d, "validate", str(typo)],
                 expect_problem("found unexpected end of stream")),
             validate(flat), max_ratio=3.0, max_rss=1 * GB,
             note="reported (exit 3, located) from the piece that failed; "
                  "baseline: validating the same file without the error"),
    ]


def write_noop_flows(tmp, n):
    """The same n no-op tasks, wide (independent) and as a chain, for dagrun, make and ninja."""
    wide, chain = tmp / f"wide{n}.yaml", tmp / f"chain{n}.yaml"
    wide.write_text(f"tasks:\n  t:\n    matrix:\n      i: \"{{{{ range({n}) }}}}\"\n    cmd: \"true\"\n")
    with open(chain, "w") as f:
        f.write("tasks:\n")
        for i in range(n):
            f.write(f"  t{i}:\n    cmd: \"true\"\n" + (f"    after: [t{i - 1}]\n" if i else ""))
    for kind in ("wide", "chain"):
        dep = (lambda i: f" t{i - 1}" if i and kind == "chain" else "")
        with open(tmp / f"{kind}{n}.mk", "w") as f:
            f.write("all: " + (" ".join(f"t{i}" for i in range(n)) if kind == "wide" else f"t{n - 1}") + "\n")
            for i in range(n):
                f.write(f"t{i}:{dep(i)}\n\t@true\n.PHONY: t{i}\n")
        with open(tmp / f"{kind}{n}.ninja", "w") as f:
            f.write("rule t\n  command = true\n")
            for i in range(n):
                f.write(f"build t{i}: t{' |' + dep(i) if dep(i) else ''}\n")
    return wide, chain


def section_run(ctx):
    """`dagrun run` of no-op tasks with -j2 against a bare spawn loop, make and ninja."""
    n, big = 10_000, 100_000
    wide, chain = write_noop_flows(ctx.tmp, n)
    wide_big = ctx.tmp / f"wide{big}.yaml"
    wide_big.write_text(f"tasks:\n  t:\n    matrix:\n      i: \"{{{{ range({big}) }}}}\"\n    cmd: \"true\"\n")
    d, t = str(ctx.dagrun), ctx.tmp

    def run(flow, label):
        return Cmd(f"dagrun run {label} -j 2", [d, "run", str(flow), "-j", "2", "--progress", "none",
                                                 "--state", str(t / f"state-{label}" / "state.json")])

    # Every tool runs the same program, `true`: dagrun and make start it without a shell (it
    # needs none), ninja always through `sh -c`, the floors exec it from xargs and a shell loop.
    bare_wide = Cmd(f"seq {n} | xargs -P 2 true", ["sh", "-c", f"seq {n} | xargs -P 2 -I{{}} /bin/true"])
    bare_chain = Cmd(f"{n} x /bin/true in a loop",
                     ["sh", "-c", f"i=0; while [ $i -lt {n} ]; do /bin/true; i=$((i+1)); done"])
    tool = lambda name, argv: Cmd(name, argv)  # noqa: E731
    cases = [
        Case(f"wide {n} vs bare loop", run(wide, "wide"), bare_wide, max_per_task=0.0005, tasks=n,
             note="independent tasks; the bare loop keeps 2 `true` in flight with xargs; "
                  "target: dagrun (a log file, a state record, an event per task) adds ≤ 0.5 ms per task"),
        Case(f"chain {n} vs bare loop", run(chain, "chain"), bare_chain, max_per_task=0.0005, tasks=n,
             note="each task after the one before; the bare loop runs them one by one; "
                  "target: ≤ 0.5 ms added per task"),
    ]
    for kind, flow in (("wide", wide), ("chain", chain)):
        if shutil.which("make"):
            cases.append(Case(f"{kind} {n} vs make -j2", run(flow, kind),
                              tool("make -s -j2", ["make", "-s", "-j2", "-f", str(t / f"{kind}{n}.mk")]),
                              max_ratio=1.0, max_cpu_ratio=1.0,
                              note="target: no slower than make, in wall time and in CPU"))
        if shutil.which("ninja"):
            cases.append(Case(f"{kind} {n} vs ninja -j2", run(flow, kind),
                              tool("ninja -j2", ["ninja", "-C", str(t), "-j2", "-f", f"{kind}{n}.ninja"]),
                              note="ninja records nothing between runs here: every run builds all"))
    cases.append(Case(f"wide {big}: per-task time and memory", run(wide_big, f"wide{big}"), run(wide, "wide"),
                      max_ratio=1.2 * big / n, max_rss=big * 2048,
                      note=f"baseline is the same run with {n} tasks: the ratio divided by {big // n} is "
                           f"per-task time at {big} relative to {n} (target ≤ 1.2); RSS target 2 KiB per task"))
    return cases


def definition_hash(cmd):
    """dagrun's definition hash of a task with shell `cmd`, no env, no workdir, executor local and
    no dependencies (see src/state/hash.rs): lets the benchmark write a finished state quickly."""
    import hashlib
    h = hashlib.sha256()
    for field_ in (b"dagrun-task-v1", b"sh", cmd.encode(), (0).to_bytes(8, "little"), b"", b"local",
                   (0).to_bytes(8, "little")):
        h.update(len(field_).to_bytes(8, "little"))
        h.update(field_)
    return h.digest()[:16].hex()


def section_state(ctx):
    """The state recorder's cost, and resume's decision on a large finished state."""
    import json
    n, big = 10_000, 1_000_000
    wide = ctx.tmp / "wide.yaml"
    wide.write_text(f"tasks:\n  t:\n    matrix:\n      i: \"{{{{ range({n}) }}}}\"\n    cmd: \"true\"\n")
    d = str(ctx.dagrun)
    shm = Path("/dev/shm") if Path("/dev/shm").is_dir() else ctx.tmp
    throwaway = Path(tempfile.mkdtemp(prefix="dagrun-bench-", dir=shm))

    def run(state, label):
        return Cmd(label, [d, "run", str(wide), "-j", "2", "--progress", "none", "--state", str(state)])

    # A finished run of 1M tasks, written directly (running them would take many minutes).
    flow = ctx.tmp / "big.yaml"
    flow.write_text(f"tasks:\n  t:\n    matrix:\n      i: \"{{{{ range({big}) }}}}\"\n    cmd: \"true\"\n")
    sdir = ctx.tmp / "big"
    sdir.mkdir()
    state = sdir / "state.json"
    hsh = definition_hash("true")
    head = {"format_version": 1,
            "workflow": {"path": str(flow), "name": "big", "params": {}, "overrides": {}, "format": "yaml",
                         "source": flow.read_text()},
            "run": {"epoch": 1, "runs": 1, "outcome": "succeeded"}}
    # Streamed, not built in memory: children forked from a big process report its peak RSS.
    with open(state, "w") as f:
        f.write(json.dumps(head)[:-1] + ', "tasks": {\n')
        for i in range(big):
            rec = {"status": "succeeded", "attempts": 1, "exit_code": 0, "log": f"logs/t[i={i}].1.log", "hash": hsh}
            f.write(("," if i else "") + json.dumps(f"t[i={i}]") + ": " + json.dumps(rec) + "\n")
        f.write("}}\n")
    per_task = state.stat().st_size / big

    def nothing_to_do(s):
        if s.rc != 0:
            return f"exit {s.rc}"
        return None

    resume = Cmd("dagrun resume --dry-run (1M done)", [d, "resume", "--dry-run", str(state)], nothing_to_do)
    parse = Cmd("python3 json.load of the state", [sys.executable, "-c",
                                                   f"import json; json.load(open({str(state)!r}))"])
    # The trace cannot be opened where a directory stands in its place: that run goes without.
    untraced = ctx.tmp / "untraced" / "state.json"
    (ctx.tmp / "untraced" / "state.json.trace").mkdir(parents=True)
    return [
        Case(f"trace of {n} tasks", run(ctx.tmp / "traced" / "state.json", "with its trace"),
             run(untraced, "without a trace"), max_ratio=1.05,
             note="the same run writing a trace line per attempt (and reading each local attempt's "
                  "rusage) vs. one whose trace is refused (a directory in its place)"),
        Case(f"record {n} tasks", run(ctx.tmp / "rec" / "state.json", "state on disk"),
             run(throwaway / "state.json", "state in /dev/shm"), max_ratio=1.1,
             note="the same run recording its state to disk vs. to a throwaway tmpfs path"),
        Case(f"resume {big} finished", resume, parse, max_wall=5.0,
             note=f"decides there is nothing to do; the state file is {state.stat().st_size / MB:.0f} MiB, "
                  f"{per_task:.0f} bytes per task"),
    ]


def section_generators(ctx):
    """A generator printing 100,000 tasks against the same tasks written in the file."""
    n = 100_000
    d, t = str(ctx.dagrun), ctx.tmp
    # Each task is `true` with `when: failure`: its generator succeeded, so it is decided "not
    # needed" without a process. What is measured is parsing, expanding, validating and
    # splicing the fragment, and recording it; process spawning is the `run` section's.
    gen = t / "gen.py"
    gen.write_text("import sys\n"
                   "n = int(sys.argv[1])\n"
                   "sys.stdout.write('tasks:\\n' + ''.join("
                   "f'  t{i}: {{cmd: \"true\", when: failure}}\\n' for i in range(n)))\n")
    generated = t / "generated.yaml"
    generated.write_text(f"tasks:\n  gen:\n    generator: true\n    cmd: python3 {gen} {n}\n")
    static = t / "static.yaml"
    with open(static, "w") as f:
        # The same generator runs (its output discarded), so both pay for Python alike.
        f.write(f"tasks:\n  gen:\n    cmd: python3 {gen} {n} > /dev/null\n")
        f.write("".join(f'  t{i}: {{cmd: "true", when: failure, after: [gen]}}\n' for i in range(n)))

    want = f"1 succeeded, {n} not needed".encode()

    def check(s):
        if s.rc != 0:
            return f"exit {s.rc}"
        return None if want in s.stdout else f"expected `{want.decode()}` in the output"

    def run(flow, label):
        return Cmd(f"dagrun run {flow.name} -j 2", [d, "run", str(flow), "-j", "2", "--progress", "none",
                                                    "--state", str(t / label / "state.json")], check)

    baseline = run(static, "static")
    # The target is an absolute budget (splicing ≤ 2 s over the static file), expressed as a
    # ratio to the baseline measured here.
    base = statistics.median(run_once(baseline.argv).wall for _ in range(2))
    return [
        Case(f"generator printing {n} tasks", run(generated, "generated"), baseline,
             max_ratio=round((base + 2.0) / base, 2),
             note=f"baseline: the same {n} tasks written in the file (read and validated at load "
                  f"instead of spliced at run time); target: at most 2 s more than the baseline's "
                  f"{base:.2f} s"),
    ]


def section_ssh(ctx):
    """1,000 no-op tasks over two loopback SSH hosts against `ssh host true` per task (xargs -P 8)."""
    import atexit
    import pwd
    import signal
    import socket
    import threading
    n, per_host, hosts = 1000, 4, ("127.0.0.1", "127.0.0.2")
    sshd = "/usr/sbin/sshd"
    if not Path(sshd).exists() or not shutil.which("ssh"):
        sys.exit("bench ssh: needs openssh-server and openssh-client (apt-get install -y openssh-server)")
    # As the test harness does (tests/it/sshd.rs): as root, log in as `dagrun-test` (root's shell
    # start-up may be slow), else as the current user, the only one a non-root sshd can log in.
    root = os.geteuid() == 0
    user = "dagrun-test" if root else pwd.getpwuid(os.getuid()).pw_name
    if root:
        os.makedirs("/run/sshd", exist_ok=True)
        try:
            pwd.getpwnam(user)
        except KeyError:
            subprocess.run(["useradd", "-m", "-s", "/bin/sh", user], check=True)
        subprocess.run(["usermod", "-p", "*", user], check=True)  # `!` is locked without PAM
    # Not under ctx.tmp: the login user must reach `authorized_keys` (sshd reads it as that user).
    d = Path(tempfile.mkdtemp(prefix="dagrun-bench-sshd-"))
    os.chmod(d, 0o755)

    def keygen(path, comment):
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", comment, "-f", str(path)],
                       check=True, stdin=subprocess.DEVNULL)

    keygen(d / "client", "dagrun-bench-client")
    (d / "authorized_keys").write_text((d / "client.pub").read_text())
    os.chmod(d / "authorized_keys", 0o644)
    procs, config, known = [], [], []
    for k, addr in enumerate(hosts, 1):
        hk = d / f"host{k}"
        keygen(hk, f"dagrun-bench-host{k}")
        for _ in range(20):
            with socket.socket() as s:
                s.bind((addr, 0))
                port = s.getsockname()[1]
            (d / f"sshd{k}.conf").write_text(
                f"ListenAddress {addr}\nPort {port}\nHostKey {hk}\nPidFile {d}/sshd{k}.pid\n"
                f"AuthorizedKeysFile {d}/authorized_keys\nStrictModes no\nUsePAM no\n"
                "PasswordAuthentication no\nKbdInteractiveAuthentication no\nUseDNS no\nMaxSessions 10\n")
            p = subprocess.Popen([sshd, "-D", "-e", "-f", str(d / f"sshd{k}.conf")], stdin=subprocess.DEVNULL,
                                 stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)
            lines = []
            for line in p.stderr:
                lines.append(line.decode(errors="replace"))
                if "Server listening on" in lines[-1] or "Address already in use" in lines[-1]:
                    break
            if "Server listening on" in "".join(lines):
                # Drained for good: a full pipe would block sshd.
                threading.Thread(target=lambda f=p.stderr: [None for _ in f], daemon=True).start()
                break
            p.kill()
            p.wait()
        else:
            sys.exit(f"bench ssh: sshd on {addr} did not start: {''.join(lines)}")
        procs.append(p)
        pub = (hk.with_suffix(".pub")).read_text().split()[:2]
        known.append(f"[{addr}]:{port} {' '.join(pub)}\n")
        config.append(f"Host h{k}\n  HostName {addr}\n  Port {port}\n  User {user}\n  IdentityFile {d}/client\n"
                      f"  IdentitiesOnly yes\n  UserKnownHostsFile {d}/known_hosts\n"
                      "  StrictHostKeyChecking yes\n  BatchMode yes\n")

    def stop():
        for p in procs:
            try:
                os.killpg(p.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            p.wait()
        shutil.rmtree(d, ignore_errors=True)

    atexit.register(stop)
    (d / "known_hosts").write_text("".join(known))
    cfg = d / "ssh_config"
    cfg.write_text("\n".join(config))
    flow = ctx.tmp / "ssh-noop.yaml"
    flow.write_text(f"name: ssh-noop\nexecutors:\n  farm:\n    type: ssh\n    config: \"{cfg}\"\n"
                    f"    hosts: [h1, h2]\n    slots: {per_host}\n"
                    f"tasks:\n  t:\n    matrix:\n      i: \"{{{{ range({n}) }}}}\"\n    executor: farm\n"
                    "    cmd: \"true\"\n")
    (d / "hosts").write_text("h1\nh2\n" * (n // 2))
    par = per_host * len(hosts)
    walls = {"dagrun": [], "ssh": []}

    def timed(key):
        def check(s):
            if s.rc != 0:
                return f"exit {s.rc}"
            walls[key].append(s.wall)
            return None
        return check

    class Rates:
        """Filled in as the runs go: read when the table is printed."""

        def __str__(self):
            if not walls["dagrun"] or not walls["ssh"]:
                return "no complete run"
            a, b = statistics.median(walls["dagrun"]), statistics.median(walls["ssh"])
            return (f"{n} tasks over 2 hosts × {per_host} slots: dagrun {n / a:.0f} tasks/s (target ≥ 200), "
                    f"plain ssh {n / b:.0f} tasks/s; dagrun is {b / a:.1f}× faster (target ≥ 5×); "
                    f"dagrun multiplexes over {-(-per_host // 10)} master(s) per host, the loop opens "
                    f"a connection (key exchange, login) per task")

    dagrun = Cmd(f"dagrun run ({n} × true, 2 hosts × {per_host} slots)",
                 [str(ctx.dagrun), "run", str(flow), "--progress", "none", "--state", str(ctx.tmp / "state.json")],
                 timed("dagrun"))
    loop = Cmd(f"xargs -P {par} ssh -F cfg HOST true",
               ["sh", "-c", f"xargs -P {par} -I@ ssh -F {cfg} @ true < {d / 'hosts'}"], timed("ssh"))
    return [Case(f"{n} no-op tasks over ssh", dagrun, loop, max_wall=n / 200, max_ratio=0.2, note=Rates())]


def start_slurm_cluster():
    """A private single-node Slurm cluster (munged, slurmctld, slurmd as children, configs in a
    temp dir), as the tests start one (tests/it/slurmd.rs). Returns the SLURM_CONF path."""
    import atexit
    import signal
    import socket
    for b in ("munged", "slurmctld", "slurmd", "sbatch"):
        if not shutil.which(b) and not Path("/usr/sbin", b).exists():
            sys.exit("bench slurm: needs slurm-wlm and munge (apt-get install -y slurm-wlm munge)")
    d = Path(tempfile.mkdtemp(prefix="dagrun-bench-slurm-"))
    for sub in ("ctld", "spool", "log"):
        (d / sub).mkdir()
    (d / "munge.key").write_bytes(os.urandom(1024))
    os.chmod(d / "munge.key", 0o400)
    procs = [subprocess.Popen(["munged", "--foreground", "--force", f"--key-file={d}/munge.key",
                               f"--socket={d}/munge.sock", f"--pid-file={d}/munged.pid",
                               f"--log-file={d}/log/munged.log", f"--seed-file={d}/munged.seed"],
                              stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                              start_new_session=True)]

    def wait(what, done, limit=60):
        start = time.monotonic()
        while not done():
            if time.monotonic() - start > limit:
                sys.exit(f"bench slurm: timed out waiting for {what}; logs in {d}/log")
            time.sleep(0.05)

    wait("munged", lambda: (d / "munge.sock").exists())
    ports = []
    for _ in range(2):
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            ports.append(sock.getsockname()[1])
    host = Path("/proc/sys/kernel/hostname").read_text().strip().split(".")[0]
    conf = d / "slurm.conf"
    conf.write_text(
        f"ClusterName=dagrun-bench\nSlurmctldHost={host}(127.0.0.1)\nSlurmctldPort={ports[0]}\n"
        f"SlurmdPort={ports[1]}\nSlurmUser=root\nSlurmdUser=root\nAuthType=auth/munge\nCredType=cred/munge\n"
        f"AuthInfo=socket={d}/munge.sock\nStateSaveLocation={d}/ctld\nSlurmdSpoolDir={d}/spool\n"
        f"SlurmctldPidFile={d}/ctld.pid\nSlurmdPidFile={d}/d.pid\nSlurmctldLogFile={d}/log/slurmctld.log\n"
        f"SlurmdLogFile={d}/log/slurmd.log\nProctrackType=proctrack/pgid\nTaskPlugin=task/none\n"
        "SchedulerType=sched/builtin\nSelectType=select/cons_tres\nSelectTypeParameters=CR_Core\n"
        "SchedulerParameters=batch_sched_delay=0\nSlurmdParameters=config_overrides\n"
        "JobAcctGatherType=jobacct_gather/none\nAccountingStorageType=accounting_storage/none\nMpiDefault=none\n"
        "ReturnToService=2\nMinJobAge=600\nKillWait=2\nMaxJobCount=100000\n"
        f"NodeName=bench-node NodeHostname={host} NodeAddr=127.0.0.1 CPUs=16 State=UNKNOWN\n"
        "PartitionName=main Nodes=ALL Default=YES MaxTime=INFINITE State=UP OverSubscribe=FORCE:16\n")
    env = dict(os.environ, SLURM_CONF=str(conf))
    for argv in (["slurmctld", "-D", "-i"], ["slurmd", "-D", "-N", "bench-node"]):
        procs.append(subprocess.Popen(argv + ["-f", str(conf)], env=env, stdin=subprocess.DEVNULL,
                                      stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                      start_new_session=True))

    def idle():
        out = subprocess.run(["sinfo", "--noheader", "--format=%T"], env=env, capture_output=True, text=True)
        return out.stdout.strip() == "idle"

    wait("the node to be idle", idle)

    def stop():
        subprocess.run(["scancel", "--full", f"--user={os.getuid()}"], env=env, capture_output=True)
        for p in reversed(procs):
            try:
                os.killpg(p.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            p.wait()
        shutil.rmtree(d, ignore_errors=True)

    atexit.register(stop)
    return conf


def section_slurm(ctx):
    """200 no-op tasks as Slurm jobs against a bare `sbatch` loop waited for with `squeue`."""
    n = 200
    conf = start_slurm_cluster()
    os.environ["SLURM_CONF"] = str(conf)
    # A shim before the real sbatch logs when each submission starts, for the submit rate.
    shim = ctx.tmp / "shim"
    shim.mkdir()
    stamps = ctx.tmp / "submits.log"
    real = shutil.which("sbatch")
    (shim / "sbatch").write_text(f"#!/bin/sh\ndate +%s.%N >> {stamps}\nexec {real} \"$@\"\n")
    os.chmod(shim / "sbatch", 0o755)
    os.environ["PATH"] = f"{shim}:{os.environ['PATH']}"
    flow = ctx.tmp / "slurm-noop.yaml"
    flow.write_text(f"name: slurm-noop\nexecutors:\n  hpc:\n    type: slurm\n    slots: {n}\n"
                    f"tasks:\n  t:\n    matrix:\n      i: \"{{{{ range({n}) }}}}\"\n    executor: hpc\n"
                    "    cmd: \"true\"\n")
    (ctx.tmp / "loop.sh").write_text(
        "ids=''\n"
        f"i=0; while [ $i -lt {n} ]; do\n"
        f"  id=$(sbatch --parsable --output=/dev/null --wrap=true) || exit 1\n"
        "  ids=\"$ids${ids:+,}$id\"; i=$((i+1))\n"
        "done\n"
        "while [ -n \"$(squeue --noheader --format=%i --jobs=\"$ids\" 2>/dev/null)\" ]; do sleep 0.2; done\n")
    rates = {"dagrun": [], "loop": [], "dagrun_wall": [], "loop_wall": []}

    def timed(key):
        def check(s):
            if s.rc != 0:
                return f"exit {s.rc}"
            t = [float(x) for x in stamps.read_text().split()] if stamps.exists() else []
            stamps.unlink(missing_ok=True)
            if len(t) != n:
                return f"{len(t)} submissions instead of {n}"
            span = max(t) - min(t)
            rates[key].append(n / span if span > 0 else float("inf"))
            rates[key + "_wall"].append(s.wall)
            return None
        return check

    class Rates:
        def __str__(self):
            if not rates["dagrun"] or not rates["loop"]:
                return "no complete run"
            med = statistics.median
            return (f"{n} jobs: dagrun submits {med(rates['dagrun']):.0f} jobs/s and is done in "
                    f"{med(rates['dagrun_wall']):.2f} s; a bare sbatch loop submits {med(rates['loop']):.0f} jobs/s "
                    f"and its jobs are done in {med(rates['loop_wall']):.2f} s (squeue every 0.2 s); "
                    f"dagrun follows its jobs with one squeue call every 2 s, and runs up to 4 sbatch at once")

    dagrun = Cmd(f"dagrun run ({n} × true as slurm jobs)",
                 [str(ctx.dagrun), "run", str(flow), "--progress", "none", "--state", str(ctx.tmp / "st" / "state.json")],
                 timed("dagrun"))
    loop = Cmd(f"{n} × sbatch --wrap=true, then squeue until done", ["sh", str(ctx.tmp / "loop.sh")], timed("loop"))
    return [Case(f"{n} no-op tasks through slurm", dagrun, loop, note=Rates())]


def section_files(ctx):
    """100,000 tasks with one declared input and output each, all up to date, against ninja."""
    n = 100_000
    d, t = str(ctx.dagrun), ctx.tmp / "files"
    if not shutil.which("ninja"):
        ctx.log("  files: ninja is not installed (apt-get install ninja-build): nothing to compare with")
        return []
    # Each tool gets its own copy of the files, so that neither sees the other's writes.
    for tool in ("dagrun", "ninja"):
        for sub in ("in", "out"):
            (t / tool / sub).mkdir(parents=True, exist_ok=True)
        for i in range(n):
            (t / tool / "in" / f"{i}.txt").write_text(f"{i}\n")
    flow = t / "dagrun" / "flow.yaml"
    flow.write_text("tasks:\n  copy:\n    matrix:\n      i: \"{{ range(%d) }}\"\n"
                    "    inputs: [\"in/{{ i }}.txt\"]\n    outputs: [\"out/{{ i }}.txt\"]\n"
                    "    cmd: \"cp in/{{ i }}.txt out/{{ i }}.txt\"\n" % n)
    with open(t / "ninja" / "build.ninja", "w") as f:
        f.write("rule cp\n  command = cp $in $out\n")
        f.write("".join(f"build out/{i}.txt: cp in/{i}.txt\n" for i in range(n)))
    run = [d, "run", str(flow), "-j", "2", "--progress", "none", "--state", str(t / "dagrun" / "st" / "state.json")]
    ninja = ["ninja", "-C", str(t / "ninja"), "-j2"]
    ctx.log(f"  files: building the {n} outputs once with each tool (not measured) ...")
    for argv in (run, ninja):
        first = run_once(argv)
        if first.rc != 0:
            raise SystemExit(f"files: priming `{' '.join(argv)}` failed: {first.stdout[-400:].decode(errors='replace')}")

    def nothing_ran(s):
        if s.rc != 0:
            return f"exit {s.rc}"
        want = f": 0 succeeded, {n} up to date".encode()
        return None if want in s.stdout else "some task ran"

    def ninja_noop(s):
        if s.rc != 0:
            return f"exit {s.rc}"
        return None if b"no work to do" in s.stdout else "ninja had work to do"

    # 1% of the inputs touched before every run: mtime changes, content does not.
    touched = " ".join(f"in/{i}.txt" for i in range(0, n, 100))
    touch = lambda tool, argv: ["sh", "-c", f"cd {t / tool} && touch {touched} && exec \"$@\"", "sh"] + argv  # noqa: E731
    return [
        Case(f"{n} up-to-date tasks vs ninja no-op", Cmd("dagrun run (all up to date)", run, nothing_ran),
             Cmd("ninja -j2 (no work to do)", ninja, ninja_noop), max_wall=2.0, max_ratio=1.0,
             note="each task: one input, one output, all fingerprinted by an earlier run; "
                  "targets: ≤ 2 s and no slower than ninja deciding there is nothing to do"),
        Case(f"{n} tasks, 1% of inputs touched", Cmd("touch 1%; dagrun run", touch("dagrun", run), nothing_ran),
             Cmd("touch 1%; ninja -j2", touch("ninja", ninja)), max_wall=2.5,
             note=f"{n // 100} inputs get a new mtime, same content: dagrun re-hashes them and runs "
                  "nothing; ninja (mtimes only) re-runs their commands; target ≤ 2.5 s"),
    ]


def section_order(ctx):
    """A workload listed in the worst order (longest task last): makespan against its bound."""
    jobs = 2
    durations = [round(0.1 * k, 1) for k in range(1, 11)] + [3.0]
    post = 0.1
    d, t = str(ctx.dagrun), ctx.tmp / "order"
    t.mkdir(parents=True, exist_ok=True)
    axis = "[" + ", ".join(str(x) for x in durations) + "]"

    def flow(name, priority=""):
        path = t / f"{name}.yaml"
        path.write_text(
            "tasks:\n"
            f"  work:\n    matrix: {{d: {axis}}}\n    cmd: sleep {{{{ d }}}}\n{priority}"
            f"  post:\n    matrix: {{d: {axis}}}\n    after: [\"work[d={{{{ d }}}}]\"]\n    cmd: sleep {post}\n")
        return path

    ranked = flow("ranked")
    # File order forced: the shortest (first in the file) first, as a runner without ranking does.
    in_file_order = flow("file-order", "    priority: \"{{ 1000 - (d * 10) | int }}\"\n")

    def run(path):
        return [d, "run", str(path), "-j", str(jobs), "--progress", "none",
                "--state", str(t / path.stem / "state.json")]

    # One run first, so that every measured run has the durations of the one before.
    for path in (ranked, in_file_order):
        if run_once(run(path)).rc != 0:
            raise SystemExit(f"order: priming {path.name} failed")
    work = sum(durations) + post * len(durations)
    bound = max(work / jobs, max(durations) + post)
    return [
        Case(f"{len(durations)} sleeps, longest last, each with a dependent, -j {jobs}",
             Cmd("dagrun run (ranked by recorded durations)", run(ranked)),
             Cmd("the same in file order (priorities)", run(in_file_order)), max_wall=round(1.1 * bound, 2),
             note=f"critical-path bound max(work / {jobs}, longest chain) = {bound:.2f} s; "
                  f"target: makespan ≤ 1.1× the bound; the baseline starts tasks in file order"),
    ]


def section_output(ctx):
    """`--output prefixed` of 1,000 tasks printing 10,000 lines each, against `--output none`."""
    n, lines = 1000, 10_000
    d, t = str(ctx.dagrun), ctx.tmp / "output"
    t.mkdir(parents=True, exist_ok=True)
    flow = t / "flow.yaml"
    flow.write_text(f"tasks:\n  print:\n    matrix:\n      i: \"{{{{ range({n}) }}}}\"\n    cmd: seq {lines}\n")

    def run(mode):
        return Cmd(f"dagrun run --output {mode}", [d, "run", str(flow), "-j", "2", "--progress", "none",
                                                   "--output", mode, "--state", str(t / mode / "state.json")])

    return [
        Case(f"{n} tasks x {lines} lines, --output prefixed", run("prefixed"), run("none"), max_ratio=1.2,
             note=f"{n * lines:,} lines read back from the logs and printed as `[id] line` (to a file "
                  "here); target ≤ 1.2× the same run showing no output"),
    ]


SECTIONS = {
    "validate": section_validate,
    "run": section_run,
    "state": section_state,
    "generators": section_generators,
    "files": section_files,
    "order": section_order,
    "output": section_output,
    "ssh": section_ssh,
    "slurm": section_slurm,
}


# --------------------------------------------------------------------------------------------


def build(target_dir):
    print(f"building: cargo build --release (CARGO_TARGET_DIR={target_dir})", file=sys.stderr)
    subprocess.run(["cargo", "build", "--release", "--quiet"], cwd=ROOT, check=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("sections", nargs="*", metavar="SECTION",
                    help=f"sections to run (default: all): {', '.join(SECTIONS)}")
    ap.add_argument("--runs", type=int, default=5, help="runs per command (default 5)")
    ap.add_argument("--no-build", action="store_true", help="use the binary already built")
    ap.add_argument("--keep", action="store_true", help="keep the generated inputs and say where")
    args = ap.parse_args()
    unknown = [s for s in args.sections if s not in SECTIONS]
    if unknown:
        ap.error(f"unknown section {', '.join(unknown)}; known: {', '.join(SECTIONS)}")
    if args.runs < 1:
        ap.error("--runs must be at least 1")

    target_dir = Path(os.environ.get("CARGO_TARGET_DIR", ROOT / "target"))
    if not target_dir.is_absolute():
        target_dir = ROOT / target_dir
    if not args.no_build:
        build(target_dir)
    dagrun = target_dir / "release" / "dagrun"
    if not dagrun.exists():
        sys.exit(f"bench: {dagrun} does not exist; build it or drop --no-build")

    def log(msg):
        print(msg, file=sys.stderr, flush=True)

    tmp = Path(tempfile.mkdtemp(prefix="dagrun-bench-"))
    failed = False
    try:
        rev = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT,
                             capture_output=True, text=True).stdout.strip() or "?"
        print(f"dagrun bench: commit {rev}, {platform.machine()} {platform.system()}, "
              f"{os.cpu_count()} CPUs, binary {dagrun}")
        for name in args.sections or list(SECTIONS):
            ctx = Context(dagrun, tmp / name, args.runs, log)
            ctx.tmp.mkdir()
            cases = SECTIONS[name](ctx)
            log(f"section {name}: {len(cases)} cases x {args.runs} runs")
            results = measure_cases(cases, args.runs, log)
            print_table(name, results, args.runs)
            failed |= any(r.verdict() == "FAIL" for r in results)
    finally:
        if args.keep:
            print(f"\ninputs kept in {tmp}", file=sys.stderr)
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
