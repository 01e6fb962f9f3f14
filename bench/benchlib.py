"""Shared helpers of the Python halves of the benchmarks (bench/*/bench_*.py): environment
arguments from the shell half, logging, and CPU accounting from /proc and getrusage."""
from __future__ import annotations

import os
import resource
import subprocess
import sys
import time

HZ = os.sysconf("SC_CLK_TCK")
MiB = 1 << 20


def env(name: str) -> str:
    """A variable the shell half must set; exits naming it when it is missing."""
    v = os.environ.get(name)
    if v is None:
        sys.exit(f"{os.path.basename(sys.argv[0])}: {name} is not set")
    return v


def log(msg: str) -> None:
    print(f"bench: {msg}", file=sys.stderr, flush=True)


def stat_ticks(pid: int) -> tuple[int, int]:
    """(utime + stime of all threads, cutime + cstime of reaped children) in clock ticks; 0s when gone."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            v = f.read().rsplit(")", 1)[1].split()
        return int(v[11]) + int(v[12]), int(v[13]) + int(v[14])
    except OSError:
        return 0, 0


def machine_busy() -> int:
    """Busy clock ticks of the whole machine so far."""
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:9]] + [0] * 8
    return v[0] + v[1] + v[2] + v[5] + v[6]  # user nice system irq softirq


def children_cpu() -> float:
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ru.ru_utime + ru.ru_stime


def self_cpu() -> float:
    ru = resource.getrusage(resource.RUSAGE_SELF)
    return ru.ru_utime + ru.ru_stime


def timed(f, n: int) -> list[float]:
    """Milliseconds of each of n calls of f(), one after the other."""
    out = []
    for _ in range(n):
        t = time.perf_counter()
        f()
        out.append((time.perf_counter() - t) * 1000)
    return out


def p90(x: list[float]) -> float:
    return sorted(x)[int(0.9 * (len(x) - 1))]


def machine(repo) -> str:
    """'2 × CPU model; Atrium at <commit>' for a results section."""
    model = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
    rev = subprocess.run(["git", "-C", str(repo), "rev-parse", "--short", "HEAD"], capture_output=True, text=True)
    return f"{os.cpu_count()} × {model}; Atrium at {rev.stdout.strip() or '?'}"


def publish(section: str) -> None:
    """Prints a results section and appends it to $RESULTS when set."""
    print(section)
    if os.environ.get("RESULTS"):
        with open(os.environ["RESULTS"], "a") as f:
            f.write(section)
