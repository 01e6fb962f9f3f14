#!/usr/bin/env python3
"""The measurements of bench/git/run.sh (standard library only).

  bench_git.py run OUT.jsonl    all rounds, one JSON line per clone (config: environment, below)
  bench_git.py report OUT.jsonl the markdown table and the goal lines

Configuration of `run` (set by run.sh): BG_TMP (scratch dir for the clones), BG_RUNS, BG_VARIANTS
(some of full, depth1, bare), BG_HEAD (the commit every clone must check out), BG_ATR_URL and
BG_NGX_URL (clone URLs, credentials included), BG_ATR_PID (the Atrium server), BG_NGX_PIDS (nginx master + workers), BG_FCGI_PIDS (fcgiwrap and
its preforked children, which run git http-backend), optional BG_CG_ATR / BG_CG_NGX (the CPU usage
file of the cgroup that Atrium / fcgiwrap and all their descendants run in: cgroup v1
cpuacct.usage or v2 cpu.stat), which count the git processes' CPU.

Each clone goes into a fresh directory that is removed (untimed) afterwards. Rounds alternate the
servers and swap which goes first every round; one untimed warm-up clone per server comes first.
The clients' git reads no system or global config (GIT_CONFIG_NOSYSTEM=1, GIT_CONFIG_GLOBAL=/dev/null).
"""
from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from benchlib import HZ, MiB, children_cpu, env, log, machine_busy, stat_ticks  # noqa: E402


# variant: (label, extra `git clone` arguments)
VARIANTS = {
    "full": ("full", []),
    "depth1": ("`--depth 1`", ["--depth", "1"]),
    "bare": ("`--bare` (no checkout)", ["--bare"]),
}


def pids_of(var: str) -> list[int]:
    return [int(p) for p in env(var).split()]


def client_env() -> dict[str, str]:
    e = {k: v for k, v in os.environ.items() if not k.startswith(("GIT_", "BG_"))}
    e.update(GIT_CONFIG_NOSYSTEM="1", GIT_CONFIG_GLOBAL="/dev/null", GIT_TERMINAL_PROMPT="0", LC_ALL="C")
    return e


def run(out_path: str) -> None:
    tmp, runs, head = env("BG_TMP"), int(env("BG_RUNS")), env("BG_HEAD")
    variants = env("BG_VARIANTS").split()
    atr_pid = int(env("BG_ATR_PID"))
    ngx_pids, fcgi_pids = pids_of("BG_NGX_PIDS"), pids_of("BG_FCGI_PIDS")
    urls = {"atrium": env("BG_ATR_URL"), "anchor": env("BG_NGX_URL")}
    cenv = client_env()
    seq = 0

    cgroups = {"atrium": os.environ.get("BG_CG_ATR", ""), "anchor": os.environ.get("BG_CG_NGX", "")}

    def cg_seconds(who: str) -> float | None:
        """CPU seconds of everything that ever ran in the server's cgroup (v1 cpuacct.usage in ns,
        v2 cpu.stat usage_usec), exited processes included; None without one."""
        f = cgroups[who]
        if not f:
            return None
        with open(f) as fh:
            text = fh.read()
        if f.endswith("cpuacct.usage"):
            return int(text) / 1e9
        return int(text.split("usage_usec", 1)[1].split()[0]) / 1e6

    def server_cpu(who: str) -> tuple[float, float | None]:
        """(the server's own CPU s, CPU s of the git processes it ran; None: not measurable)."""
        cg = cg_seconds(who)
        if who == "atrium":  # Atrium reaps its git children: their CPU is in its cutime + cstime
            own, reaped = stat_ticks(atr_pid)
            return own / HZ, (cg - own / HZ) if cg is not None else reaped / HZ
        # nginx + fcgiwrap (the relay); fcgiwrap's reaped children are not accounted to it, so the
        # git processes' CPU needs the cgroup that fcgiwrap and its descendants run in.
        relay = sum(stat_ticks(p)[0] for p in fcgi_pids) / HZ
        own = sum(stat_ticks(p)[0] for p in ngx_pids) / HZ + relay
        return own, (cg - relay) if cg is not None else None

    def clone(who: str, variant: str) -> dict:
        nonlocal seq
        seq += 1
        dst = os.path.join(tmp, f"clone-{seq}-{who}")
        cmd = ["git", "clone", "--quiet"] + VARIANTS[variant][1] + [urls[who], dst]
        s0, m0, c0 = server_cpu(who), machine_busy(), children_cpu()
        t0 = time.perf_counter()
        p = subprocess.run(cmd, env=cenv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        wall = time.perf_counter() - t0
        time.sleep(0.05)  # let the server side reap its git processes (they end before the client does)
        s1, m1, c1 = server_cpu(who), machine_busy(), children_cpu()
        if p.returncode != 0:
            sys.exit(f"bench_git.py: {' '.join(cmd[:-2])} <{who}> failed ({p.returncode}): {p.stderr.decode()[-2000:]}")
        got = subprocess.run(["git", "-C", dst, "rev-parse", "HEAD"], env=cenv, capture_output=True, text=True)
        if got.stdout.strip() != head:
            sys.exit(f"bench_git.py: the clone from {who} is at {got.stdout.strip()!r}, expected {head}")
        packs = os.path.join(dst, "objects/pack" if variant == "bare" else ".git/objects/pack")
        pack = sum(os.path.getsize(os.path.join(packs, f)) for f in os.listdir(packs) if f.endswith(".pack"))
        shutil.rmtree(dst)
        client = c1 - c0
        own = s1[0] - s0[0]
        git = s1[1] - s0[1] if s1[1] is not None and s0[1] is not None else None
        return {"who": who, "variant": variant, "wall": wall, "server_own": own, "server_git": git,
                "client": client, "other": max(0.0, (m1 - m0) / HZ - own - (git or 0.0) - client), "pack": pack}

    with open(out_path, "w") as out:
        def emit(rec: dict) -> None:
            out.write(json.dumps(rec) + "\n")
            out.flush()

        for variant in variants:
            what = VARIANTS[variant][0]
            for who in ("atrium", "anchor"):
                r = clone(who, variant)
                log(f"warm-up {what} {who}: {r['wall']:.3f} s")
            for i in range(runs):
                order = ("atrium", "anchor") if i % 2 == 0 else ("anchor", "atrium")
                for who in order:
                    r = clone(who, variant)
                    r["round"] = i + 1
                    emit(r)
                    git = "?" if r["server_git"] is None else f"{r['server_git']:.2f}"
                    log(f"{what} round {i + 1} {who}: {r['wall']:.3f} s (server {r['server_own']:.2f} + git "
                        f"{git} CPU s, client {r['client']:.2f}, other {r['other']:.2f})")
                try:
                    os.kill(atr_pid, 0)
                except OSError:
                    sys.exit("bench_git.py: atrium died during the run")


def report(path: str) -> None:
    recs = [json.loads(l) for l in open(path)]
    names = {"atrium": "Atrium (`git http-backend` run by the server)", "anchor": "nginx + fcgiwrap + `git http-backend`"}
    rows = ["| clone | server | wall s (median) | min s | per run s | vs anchor (median / min) | "
            "server CPU s: own + git | client CPU s | other CPU s | pack received |",
            "|---|---|---|---|---|---|---|---|---|---|"]
    goals = []
    for variant in [v for v in VARIANTS if any(r["variant"] == v for r in recs)]:
        med, mn = {}, {}
        for who in ("anchor", "atrium"):
            rs = [r for r in recs if r["who"] == who and r["variant"] == variant]
            walls = [r["wall"] for r in rs]
            med[who], mn[who] = statistics.median(walls), min(walls)
        for who in ("anchor", "atrium"):
            rs = [r for r in recs if r["who"] == who and r["variant"] == variant]

            def m(k: str) -> str:
                v = [r[k] for r in rs if r[k] is not None]
                return f"{statistics.median(v):.2f}" if v else "?"

            ratio = f"**{med[who] / med['anchor']:.2f}×** / {mn[who] / mn['anchor']:.2f}×"
            rows.append(
                f"| {VARIANTS[variant][0]} | {names[who]} | **{med[who]:.3f}** | {mn[who]:.3f} | "
                f"{' / '.join('%.2f' % r['wall'] for r in rs)} | {ratio} | {m('server_own')} + {m('server_git')} | "
                f"{m('client')} | {m('other')} | {rs[0]['pack'] / MiB:.1f} MiB |")
        ratio = med["atrium"] / med["anchor"]
        line = (f"- {VARIANTS[variant][0]} clone: Atrium {med['atrium']:.3f} s vs anchor {med['anchor']:.3f} s (median) = "
                f"**{ratio:.2f}×** (min: {mn['atrium'] / mn['anchor']:.2f}×)")
        if variant == "full":
            line += f" → goal ≤ 1.3× {'met' if ratio <= 1.3 else 'NOT met'}"
        goals.append(line)
    print("\n".join(rows))
    print()
    print("\n".join(goals))


if __name__ == "__main__":
    if len(sys.argv) != 3 or sys.argv[1] not in ("run", "report"):
        sys.exit(__doc__)
    (run if sys.argv[1] == "run" else report)(sys.argv[2])
