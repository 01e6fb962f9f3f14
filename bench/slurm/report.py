"""The markdown section of bench/slurm/run.py from its results, and the small parsers it needs
(wrk's output, the hand-over's drain from sdiag samples). Figures are reported, never judged as a
failure: a missed goal says so."""
from __future__ import annotations

import json
import os
import re
import statistics
import time


def parse_wrk(text: str) -> dict:
    def lat_ms(p):
        m = re.search(rf"^\s*{p}%\s+([\d.]+)(us|ms|s)\s*$", text, re.M)
        return float(m[1]) * {"us": 1e-3, "ms": 1, "s": 1e3}[m[2]] if m else float("nan")

    m = re.search(r"^Requests/sec:\s+([\d.]+)", text, re.M)
    st = re.search(r"^STATUSES (\{.*\})$", text, re.M)
    if not m or not st:
        raise SystemExit(f"bench/slurm: unexpected wrk output:\n{text[-3000:]}")
    statuses = {int(k): v for k, v in json.loads(st[1]).items()}
    ok = sum(v for k, v in statuses.items() if 200 <= k < 300)
    sock = re.search(r"Socket errors: (.*)", text)
    return {"rps": float(m[1]), "ok": ok, "bad": {k: v for k, v in statuses.items() if not 200 <= k < 300},
            "p50_ms": lat_ms(50), "p99_ms": lat_ms(99), "socket_errors": sock[1] if sock else ""}


def drain(samples: list[tuple[float, int]], t0: float, t1: float, accepted: int) -> dict:
    """From (time, jobs SLURM received since the start) samples: how the hand-over kept up."""
    at_end = max((n for t, n in samples if t <= t1), default=0)
    done = next((t for t, n in samples if n >= accepted), None)
    rates = [(b[1] - a[1]) / (b[0] - a[0]) for a, b in zip(samples, samples[4:]) if b[0] > a[0]]
    return {"accepted": accepted, "in_slurm_at_wrk_end": at_end, "in_slurm": samples[-1][1] if samples else 0,
            "all_after_s": done - t0 if done else None, "lag_s": done - t1 if done else None,
            "rate": accepted / (done - t0) if done else None, "peak_rate_1s": max(rates, default=0.0)}


def q(v: list[float], p: int) -> float:
    return statistics.quantiles(v, n=100, method="inclusive")[p - 1] if len(v) > 1 else v[0]


def stats_row(name: str, v: list[float], unit: float = 1000.0) -> str:
    if not v:
        return f"| {name} | 0 | — | — | — | — |"
    v = [x * unit for x in v]
    return (f"| {name} | {len(v)} | **{statistics.median(v):.0f}** | {q(v, 95):.0f} | {min(v):.0f} | {max(v):.0f} |")


def e2e_part(r: dict) -> list[str]:
    e = r.get("e2e")
    if not e:
        return ["### 1. 300 trivial jobs end to end", "", "Not measured in this run.", ""]
    n = e["sbatch"]["n"]
    how = {"sbatch": f"{n} × `sbatch --parsable -c1 --mem=…M --wrap true` (one process each)",
           "slurmrestd": f"{n} × `POST /slurm/v0.0.38/job/submit` (JWT, one keep-alive connection)",
           "atrium": f"{n} × `POST /api/v1/projects/{{id}}/jobs` `partition: slurm` (one keep-alive connection)"}
    base = e["sbatch"]["total_s"]
    lines = [f"### 1. {n} trivial jobs end to end (`true`, 1 CPU each), first submit → all ended as the client sees it",
             "", "| system | how submitted | submitted after s | all ended after s | jobs/s | states | vs sbatch | "
             "machine CPU busy (of 200 %) |", "|---|---|---:|---:|---:|---|---:|---:|"]
    for s in ("sbatch", "slurmrestd", "atrium"):
        if s not in e:
            lines.append(f"| {s} | {how[s]} | — | **not measured** | | {missing(r, 'e2e')} | | |")
            continue
        x = e[s]
        lines.append(f"| {s} | {how[s]} | {x['submit_s']:.2f} | **{x['total_s']:.2f}** | {n / x['total_s']:.2f} | "
                     f"{x['states']} | {x['total_s'] / base:.3f}× | {x['busy_pct']:.0f} % |")
    if "atrium" not in e:
        return lines + [""]
    a = e["atrium"]
    over = a["total_s"] / base - 1
    lines += ["", f"Atrium's overhead over sbatch: **{over * 100:+.1f} %** (goal ≤ 10 %: "
              f"{'met' if over <= 0.10 else 'NOT met'}); over slurmrestd: "
              f"{(a['total_s'] / e['slurmrestd']['total_s'] - 1) * 100:+.1f} %."]
    if a.get("slurm_first_submit"):
        lines.append(f"Inside Atrium's run (SLURM's times have 1 s resolution): {a['slurm_ids']} jobs reached SLURM; "
                     f"first hand-over {(a['slurm_first_submit'] - a['atrium_first_submit']) / 1000:+.1f} s after the "
                     f"first submit, last one {(a['slurm_last_submit'] - a['atrium_first_submit']) / 1000:.1f} s after it; "
                     f"SLURM's last end {(a['slurm_last_end'] - a['atrium_first_submit']) / 1000:.1f} s after it.")
    return lines + [""]


def missing(r: dict, fig: str) -> str:
    return "Atrium's side not measured: " + (r.get("errors", {}).get(fig) or "?").replace("|", "/").replace("\n", " ")


def submit_part(r: dict) -> list[str]:
    s = r.get("submit")
    if not s:
        return ["### 2. Submit throughput", "", "Not measured in this run.", ""]
    lines = ["### 2. Submit throughput (held jobs, wrk with bench/jobs/submit.lua, keep-alive) and the hand-over",
             "", "| system | connections | req/s | 2xx | other answers | p50 ms | p99 ms | vs slurmrestd | "
             "in SLURM at wrk's end | all in SLURM: jobs in s | drain jobs/s | lag after the last 201 s | peak jobs/s into SLURM (1 s) |",
             "|---|---:|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    ref = {x["conns"]: x["rps"] for x in s if x["system"] == "slurmrestd"}
    for x in s:
        d = x.get("drain") or {}
        vs = f"{x['rps'] / ref[x['conns']]:.2f}×" if ref.get(x["conns"]) else "—"
        fmt = (lambda v, f="{:.1f}": "—" if v is None else f.format(v))
        lines.append(f"| {x['system']} | {x['conns']} | **{x['rps']:.0f}** | {x['ok']} | {x['bad'] or '—'} "
                     f"{x['socket_errors']} | {x['p50_ms']:.1f} | {x['p99_ms']:.1f} | {vs} | "
                     f"{fmt(d.get('in_slurm_at_wrk_end'), '{}') if d else '—'} | "
                     f"{(str(d['accepted']) + ' in ' + fmt(d.get('all_after_s'))) if d else '—'} | {fmt(d.get('rate'), '{:.0f}') if d else '—'} | "
                     f"{fmt(d.get('lag_s')) if d else '—'} | {fmt(d.get('peak_rate_1s'), '{:.0f}') if d else '—'} |")
    if not any(x["system"] == "atrium" for x in s):
        return lines + ["", missing(r, "submit") + ".", ""]
    best_a = max((x["rps"] for x in s if x["system"] == "atrium"), default=0)
    best_s = max(ref.values(), default=0)
    if best_s:
        lines += ["", f"Best Atrium submit rate / best slurmrestd: **{best_a / best_s:.2f}×** (goal ≥ 1×: "
                  f"{'met' if best_a >= best_s else 'NOT met'})."]
    return lines + [""]


def latency_part(r: dict) -> list[str]:
    rows = r.get("latency")
    if not rows:
        why = missing(r, "latency") if "latency" in r.get("errors", {}) else "Not measured in this run"
        return ["### 3. State change: SLURM job ends → Atrium's API reports it", "", why + ".", ""] + rpc_part(r)
    poll = r["cluster"]["poll_ms"]
    out_ = [x["t_api"] - x["t_outcome"] for x in rows if x.get("t_outcome")]
    ex = [x["t_api"] - x["t_exit"] for x in rows if x.get("t_exit")]
    se = [x["t_api"] - x["slurm_end"] for x in rows if x.get("slurm_end")]
    ae = [x["atrium_end"] - x["t_outcome"] for x in rows if x.get("atrium_end") and x.get("t_outcome")]
    states: dict[str, int] = {}
    for x in rows:
        states[x["state"]] = states.get(x["state"], 0) + 1
    lines = [f"### 3. State change: SLURM job ends → Atrium's API reports it ({len(rows)} sequential jobs, "
             f"random 0–1 s gaps; tracker poll_ms = {poll})", "",
             "`sh -c 'sleep 0.3; date +%s.%N'`; the client holds `GET /api/v1/jobs/events` (SSE) open and notes "
             f"when each job first arrives terminal ({states}). The job's end: outcome.json's mtime (`atrium exec` on "
             "the node wrote it, then the batch step ends) and the command's own last `date`; SLURM's `end_time` "
             "has 1 s resolution (floored, so that row reads up to 1 s high).", "",
             "| from → the SSE event | n | p50 ms | p95 ms | min ms | max ms |", "|---|---:|---:|---:|---:|---:|",
             stats_row("outcome.json written (≈ SLURM job ends)", out_),
             stats_row("the command's last `date`", ex), stats_row("SLURM `end_time` (1 s resolution)", se),
             stats_row("(Atrium's recorded end_time − outcome.json)", ae)]
    if out_:
        p50 = statistics.median(out_)
        lines += ["", f"p50 {p50 * 1000:.0f} ms → goal ≤ 1 s {'met' if p50 <= 1.0 else 'NOT met'}."]
    return lines + [""] + rpc_part(r)


def rpc_part(r: dict) -> list[str]:
    wins = [(k, t) for k, t in (("rpc_base", "no Atrium server"), ("rpc_idle", "Atrium idle"),
                                ("rpc_run", "during the latency run")) if r.get(k)]
    if not wins:
        return []
    types = sorted({t for k, _ in wins for t in r[k]["per_min"]})
    poll = r["cluster"]["poll_ms"]
    lines = [f"RPCs on slurmctld per minute (sdiag `rpcs_by_message_type` deltas from `GET /slurm/v0.0.38/diag`, "
             f"its own REQUEST_STATS_INFO left out; the tracker's poll_ms = {poll} → {60000 / poll:.0f} polls/min):", "",
             "| RPC | " + " | ".join(f"{t} ({r[k]['secs']:.0f} s)" for k, t in wins) + " |",
             "|---|" + "---:|" * len(wins)]
    for ty in types:
        lines.append(f"| {ty} | " + " | ".join(f"{r[k]['per_min'].get(ty, 0):.1f}" for k, _ in wins) + " |")
    lines.append("| **all** | " + " | ".join(f"**{r[k]['total_per_min']:.1f}**" for k, _ in wins) + " |")
    if r.get("rpc_run"):
        lines.append("| (jobs submitted in the window) | " + " | ".join(str(r[k]["jobs_submitted"]) for k, _ in wins) + " |")
    return lines + [""]


def jupyter_part(r: dict) -> list[str]:
    j = r.get("jupyter")
    head = "### 4. Jupyter on a node: Atrium env (partition slurm) → READY vs the same jupyter_server started bare by sbatch"
    if not j:
        return [head, "", "Not measured in this run.", ""]
    if not j["bare_200"]:
        return [head, "", "Not measured: no launches.", ""]
    lines = [head, "", "Alternating launches after one unmeasured launch of each, 1 CPU + 1024 MB, one at a time, each "
             "stopped before the next. Atrium: `POST /api/v1/projects/{id}/envs {app: jupyter, partition}` → "
             "`GET /envs/{id}` READY (polled every 20 ms) and → the first 200 of `api/status` through the proxy; bare: `sbatch` of a script running the same `python3 -P -m jupyter_server` command line "
             "(no sandbox, as root, its unix socket on the shared /tmp) → first 200 of `api/status` on that socket "
             "(polled every 20 ms).", "",
             "| case | n | p50 ms | p95 ms | min ms | max ms |", "|---|---:|---:|---:|---:|---:|",
             stats_row("Atrium → READY", j["atrium_ready"], 1), stats_row("Atrium → api/status 200 through the proxy",
                                                                        j["atrium_200"], 1),
             stats_row("bare sbatch → api/status 200 on its socket", j["bare_200"], 1), ""]
    ej = j.get("env_job") or {}
    sl = ej.get("slurm") or {}
    lines.append(f"The environment's job: partition `{ej.get('partition')}`, " +
                 (f"SLURM job {sl.get('job_id')} on `{sl.get('nodes')}`; " + (
                     "the proxy reached it through the node's tunnel (`<data_dir>/tunnels/<job>.sock`)." if ej.get("tunnel")
                     else "**no tunnel socket**: the proxy reached the app's unix socket in the run directory directly, "
                     "which works only because these nodes share this machine's kernel and filesystem." +
                     (f" The batch job's output: `{ej['node_out'].strip()}`" if ej.get("node_out", "").strip() else ""))
                  if sl.get("job_id") else
                  "**no SLURM job** (it did not run on a node)." if ej else "not seen."))
    lines.append("")
    if not j["atrium_ready"]:
        return lines + [missing(r, "jupyter") + "; bare runs (ms): " + " / ".join(f"{x:.0f}" for x in j["bare_200"]), ""]
    lines += [f"Atrium / bare at p50: **{statistics.median(j['atrium_ready']) / statistics.median(j['bare_200']):.2f}×** "
             f"to READY, **{statistics.median(j['atrium_200']) / statistics.median(j['bare_200']):.2f}×** to the first "
             "proxied 200. Runs (ms): Atrium READY " + " / ".join(f"{x:.0f}" for x in j["atrium_ready"]) +
             "; bare " + " / ".join(f"{x:.0f}" for x in j["bare_200"]) + "."]
    return lines + [""]


def section(r: dict) -> str:
    c = r["cluster"]
    knobs = " ".join(f"{k}={os.environ[k]}" for k in ("FIGURES", "N_E2E", "N_LAT", "N_JUPYTER", "BASE_S", "IDLE_S",
                                                       "WRK_DURATION", "WRK_CONNS", "MEM_MB", "SLURMBENCH_SINGLE_NODE")
                     if k in os.environ)
    nodes = ", ".join(f"{n} ({cpus} CPUs, {addr})" for n, cpus, addr in c["nodes"])
    lines = [f"## SLURM executor vs SLURM used directly — {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}", "",
             f"- Command: `{(knobs + ' ') if knobs else ''}bench/slurm/run.sh`",
             f"- Machine: {r['machine']}; {r['kernel']}; load average {' '.join(f'{x:.2f}' for x in r['load0'])} at "
             f"the start, {' '.join(f'{x:.2f}' for x in r['load1'])} at the end (shared machine: other builds and tests "
             "run alongside). Everything on one box: munge, slurmctld, slurmrestd, the slurmd nodes (each in its own "
             "network namespace), the Atrium server and the clients share the same cores.",
             f"- SLURM: {c['version']}, {c['kind']} ({'scripts/slurm-dev-cluster.sh' if c['kind'] == 'dev-cluster' else 'bench/jobs/slurm-local.sh, one node on loopback'}), "
             f"up in {c['start_s']:.1f} s; nodes {nodes}; Atrium partition `{c['partition']}` = SLURM partition "
             f"`{c['slurm_partition']}`; tracker poll_ms {c['poll_ms']}.",
             f"- Atrium: `{r['atrium_bin']}`, one fresh server (temp data dir, SQLite, access log off) with the cluster's "
             "TOML as its config file; one project per figure; every figure is one run, ratios from the same run."]
    if r.get("atrium_error"):
        lines.append(f"- **Atrium's side not (fully) measured**: `{r['atrium_error']}`")
    lines.append("")
    for part in (e2e_part, submit_part, latency_part, jupyter_part):
        lines += part(r)
    return "\n" + "\n".join(lines) + "\n"
