#!/usr/bin/env python3
"""Resource behaviour of a run: memory while 100,000 tasks run, memory while a task writes
1 GB, and file descriptors across 10,000 tasks.

    python3 bench/reliability.py [memory] [output] [fds] [--tasks N] [--keep]

- memory: a 100,000-task no-op run (`-j 2`); dagrun's VmRSS and VmHWM (peak so far) from
  /proc/PID/status, and its open file descriptors, when 10%, 50% and 100% of the tasks have
  finished (counted from `--progress plain` lines as they are written), and the last VmHWM
  read before it exited (it writes its final state after the last task).
- output: one task writing 1 GB to stdout (`head -c 1G /dev/zero`): dagrun's VmHWM, next to
  the same run of a task writing nothing. dagrun hands the task its log file as stdout and
  copies nothing, so the two should be alike.
- fds: 10,000 no-op tasks (`-j 4`): /proc/PID/fd counted at 1%, 50% and 99% of the tasks.

Python 3 standard library only. Uses the release binary from $CARGO_TARGET_DIR (or target/);
build it first with `cargo build --release`. Prints one table per section.
"""

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import soak

MB = 1 << 20


def status_kib(pid, field):
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except OSError:
        pass
    return None


def fd_count(pid):
    try:
        return len(os.listdir(f"/proc/{pid}/fd"))
    except OSError:
        return None


def noop_flow(d, name, n, cmd="true"):
    flow = d / f"{name}.yaml"
    flow.write_text(f"name: {name}\ntasks:\n  t:\n    matrix: {{i: \"{{{{ range({n}) }}}}\"}}\n"
                    f"    cmd: \"{cmd}\"\n")
    return flow


def sample_run(dagrun, flow, d, total, marks, jobs):
    """Runs `flow`, sampling dagrun when the count of finished tasks reaches each mark (a
    fraction of `total`). Returns (samples, dagrun's own peak RSS in KiB: the last VmHWM read
    from /proc while it ran, exit code, seconds). wait4's ru_maxrss would not do: it counts
    the tasks dagrun waited for too."""
    err = d / f"{flow.stem}.stderr"
    argv = [str(dagrun), "run", str(flow), "--progress", "plain", "-j", str(jobs),
            "--state", str(d / flow.stem / "state.json")]
    samples = []
    todo = sorted(marks)
    start = time.monotonic()
    with open(err, "wb") as out:
        proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=out, stdin=subprocess.DEVNULL)
    pos, done, partial = 0, 0, b""
    status = None
    hwm = None
    while status is None:
        hwm = status_kib(proc.pid, "VmHWM") or hwm
        with open(err, "rb") as f:
            f.seek(pos)
            data = f.read()
        pos += len(data)
        data = partial + data
        *lines, partial = data.split(b"\n")
        done += sum(1 for l in lines if l.startswith(b"ok "))
        while todo and done >= todo[0] * total:
            m = todo.pop(0)
            samples.append((m, done, status_kib(proc.pid, "VmRSS"), status_kib(proc.pid, "VmHWM"),
                            fd_count(proc.pid)))
        pid, st, _ = os.wait4(proc.pid, os.WNOHANG)
        if pid:
            status = os.waitstatus_to_exitcode(st)
            break
        time.sleep(0.002)
    return samples, hwm, status, time.monotonic() - start


def mb(kib):
    return "gone" if kib is None else f"{kib / 1024:.1f} MB"


def section_memory(dagrun, d, n):
    flow = noop_flow(d, "memory", n)
    samples, peak, rc, secs = sample_run(dagrun, flow, d, n, [0.10, 0.50, 1.0], jobs=2)
    print(f"\n## memory: {n} no-op tasks, -j 2 (exit {rc}, {secs:.0f} s, {n / secs:.0f} tasks/s)\n")
    print("| finished | VmRSS | VmHWM (peak so far) | open fds |")
    print("|---------:|------:|--------------------:|---------:|")
    for m, done, rss, hwm, fds in samples:
        print(f"| {m:.0%} ({done}) | {mb(rss)} | {mb(hwm)} | {fds if fds is not None else 'gone'} |")
    print(f"| last read before exit | | {mb(peak)} | |")
    return rc == 0


def section_output(dagrun, d):
    rows = []
    ok = True
    for name, cmd in [("quiet", "true"), ("gigabyte", "head -c 1073741824 /dev/zero")]:
        flow = noop_flow(d, name, 1, cmd)
        _, peak, rc, secs = sample_run(dagrun, flow, d, 1, [], jobs=1)
        logs = list((d / name / "logs").glob("*.log"))
        size = sum(p.stat().st_size for p in logs)
        rows.append((name, cmd, rc, secs, peak, size))
        ok &= rc == 0
        shutil.rmtree(d / name, ignore_errors=True)
    print("\n## output: one task, its stdout to its log\n")
    print("| task | exit | time | dagrun VmHWM (peak RSS) | log size |")
    print("|------|-----:|-----:|----------------:|---------:|")
    for name, cmd, rc, secs, peak, size in rows:
        print(f"| `{cmd}` | {rc} | {secs:.1f} s | {mb(peak)} | {size / MB:.0f} MB |")
    return ok


def section_fds(dagrun, d, n):
    flow = noop_flow(d, "fds", n)
    samples, peak, rc, secs = sample_run(dagrun, flow, d, n, [0.01, 0.50, 0.99], jobs=4)
    print(f"\n## fds: {n} no-op tasks, -j 4 (exit {rc}, {secs:.0f} s)\n")
    print("| finished | open fds | VmRSS |")
    print("|---------:|---------:|------:|")
    for m, done, rss, _, fds in samples:
        print(f"| {m:.0%} ({done}) | {fds if fds is not None else 'gone'} | {mb(rss)} |")
    counts = [s[4] for s in samples if s[4] is not None]
    if len(counts) >= 2:
        print(f"\nfds at the end minus fds at the start: {counts[-1] - counts[0]}")
    return rc == 0


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("sections", nargs="*", metavar="SECTION", help="memory, output, fds (default: all)")
    ap.add_argument("--tasks", type=int, default=100_000, help="tasks of the memory section")
    ap.add_argument("--fd-tasks", type=int, default=10_000, help="tasks of the fds section")
    ap.add_argument("--keep", action="store_true", help="keep the run directories")
    args = ap.parse_args()
    for s in args.sections:
        if s not in ("memory", "output", "fds"):
            ap.error(f"unknown section {s}; known: memory, output, fds")
    dagrun = soak.binary("reliability")
    d = Path(tempfile.mkdtemp(prefix="dagrun-reliability-"))
    ok = True
    print(f"dagrun reliability: {dagrun}, {os.cpu_count()} CPUs, load {os.getloadavg()[0]:.1f}")
    try:
        for s in args.sections or ["memory", "output", "fds"]:
            if s == "memory":
                ok &= section_memory(dagrun, d, args.tasks)
            elif s == "output":
                ok &= section_output(dagrun, d)
            else:
                ok &= section_fds(dagrun, d, args.fd_tasks)
            sys.stdout.flush()
    finally:
        if args.keep:
            print(f"\nkept {d}", file=sys.stderr)
        else:
            shutil.rmtree(d, ignore_errors=True)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
