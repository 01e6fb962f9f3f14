#!/usr/bin/python3
"""Atrium's SLURM executor against SLURM used directly (issue 19), in one sitting on one cluster.

Starts a private cluster (bench/slurm/cluster.py: scripts/slurm-dev-cluster.sh, else the single-node
bench/jobs/slurm-local.sh), one `atrium server` (temp data dir) configured with the cluster's TOML,
an admin token, an org and one project per figure; then, one run each (ratios from this run):

  rpc      sdiag's RPCs per minute on slurmctld: no Atrium (BASE_S), Atrium idle (IDLE_S), and during
           the latency run below; against the tracker's poll_ms
  e2e      N_E2E trivial jobs (`true`, 1 CPU, MEM_MB) submitted one after the other, first submit -> all
           ended as each client sees it: sbatch (one process per job), slurmrestd (one keep-alive
           connection), Atrium's API (one keep-alive connection, partition slurm)
  latency  N_LAT sequential jobs (`sleep 0.3; date`), random 0-1 s gaps: the job's end (its last
           `date`, and outcome.json's mtime: `atrium exec` done, the batch step ends) -> the job
           terminal on Atrium's SSE stream GET /api/v1/jobs/events; SLURM's own end_time alongside
  jupyter  N_JUPYTER launches each, alternating: Atrium env {app: jupyter, partition} -> READY and ->
           the first 200 of api/status through the proxy; bare: sbatch of the same jupyter_server
           command line (no sandbox, a unix socket on the shared /tmp) -> first 200 on its socket
  submit   wrk (bench/jobs/submit.lua, keep-alive) of held jobs to Atrium (partition slurm) and to
           slurmrestd's job/submit (JWT), WRK_DURATION per connection count; for Atrium also how fast
           the hand-over drains its queue into SLURM (sdiag jobs_submitted sampled every 0.25 s)

Prints a markdown section; RESULTS=path (run.sh: bench/RESULTS.md) appends it. Never fails on a
figure; fails when something is broken (a server does not start, a job does not end).
Knobs (environment): FIGURES ("rpc e2e latency jupyter submit"), N_E2E 300, N_LAT 30, N_JUPYTER 3,
BASE_S 30, IDLE_S 60, WRK_DURATION 3s, WRK_CONNS "16 64", MEM_MB 64, ATRIUM_BIN, SLURMBENCH_SINGLE_NODE=1.
"""
from __future__ import annotations

import json
import os
import platform
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
for p in ("tests/integration", "bench", "bench/jobs", "bench/envs", "bench/slurm"):
    sys.path.insert(0, str(REPO / p))
os.environ.setdefault("ATRIUM_BIN", str(REPO / "build" / "src" / "atrium"))
from bench_envs import unix_get  # noqa: E402
from bench_jobs import Api, parse_time_ms  # noqa: E402
from benchlib import machine, machine_busy, HZ, publish  # noqa: E402
from cluster import TERMINAL, Cluster, Rest, log, rpc_counts  # noqa: E402
from conftest import ATRIUM_BIN, Server, stop_envs_then_server, wait_until  # noqa: E402
from test_envs import proxied  # noqa: E402
import report  # noqa: E402

FIGURES = os.environ.get("FIGURES", "rpc e2e latency jupyter submit").split()
N_E2E = int(os.environ.get("N_E2E", "300"))
N_LAT = int(os.environ.get("N_LAT", "30"))
N_JUPYTER = int(os.environ.get("N_JUPYTER", "3"))
BASE_S = float(os.environ.get("BASE_S", "30"))
IDLE_S = float(os.environ.get("IDLE_S", "60"))
WRK_DURATION = os.environ.get("WRK_DURATION", "3s")
WRK_CONNS = [int(c) for c in os.environ.get("WRK_CONNS", "16 64").split()]
MEM_MB = int(os.environ.get("MEM_MB", "64"))
POLL_S = 0.25  # how often each client checks "all ended" in e2e (the same for every system)


class Busy:
    """The whole machine's CPU use (% of one core) over a stretch of time."""

    def __init__(self):
        self.b0, self.t0 = machine_busy(), time.monotonic()

    def pct(self) -> float:
        return 100 * (machine_busy() - self.b0) / HZ / max(1e-9, time.monotonic() - self.t0)


class Bench:
    def __init__(self, tmp: Path):
        self.tmp = tmp
        self.res: dict = {"figures": FIGURES, "load0": os.getloadavg()}
        self.cluster = Cluster(tmp / "cluster").start()
        self.part, self.spart, self.ccfg = self.cluster.partition()
        self.rest = self.cluster.rest()
        self.res["cluster"] = {"kind": self.cluster.kind, "start_s": self.cluster.start_s,
                               "version": self.cluster.version(), "partition": self.part,
                               "slurm_partition": self.spart, "poll_ms": int(self.ccfg.get("poll_ms", 1000)),
                               "nodes": [(n["name"], n.get("cpus"), n.get("address")) for n in self.cluster.nodes()]}
        log(f"cluster ({self.cluster.kind}) up in {self.cluster.start_s:.1f} s: {self.res['cluster']['nodes']}")
        self.srv: Server | None = None

    # -- Atrium
    def start_server(self) -> None:
        """Atrium with the cluster's TOML; when it cannot start (the SLURM executor is not in this
        build), the figures run their SLURM side only and the report says why Atrium's is missing."""
        cfg = self.tmp / "atrium.toml"
        cfg.write_text(self.cluster.toml)
        srv = Server(self.tmp / "data", env={"ATRIUM_LOG_ACCESS_LOG": ""}, args=["--config", str(cfg)],
                     listen=self.cluster.listen())
        try:
            srv.start()
        except AssertionError as e:
            self.res["atrium_error"] = str(e).strip().splitlines()[-1][:300]
            log(f"atrium did not start, measuring SLURM only: {self.res['atrium_error']}")
            return
        self.srv = srv
        self.srv.admin = self.token = self.srv.admin_token()
        org = self.srv.call("POST", "/api/v1/orgs", self.token, json={"slug": "bench", "name": "Bench"}).json
        self.org = org["id"]
        self.api = Api(f"http://127.0.0.1:{self.srv.port}", self.token)
        self.res["partitions"] = self.srv.call("GET", "/api/v1/compute/partitions", self.token).json
        log(f"atrium on :{self.srv.port}; partitions {[p['name'] for p in self.res['partitions'].get('items', [])]}")

    def atrium_part(self, fig: str, f):
        """Runs f() (an Atrium measurement); a failure is recorded for the report, not raised."""
        if self.srv is None:
            self.res.setdefault("errors", {})[fig] = "Atrium not running: " + self.res.get("atrium_error", "?")
            return None
        try:
            return f()
        except (SystemExit, AssertionError, OSError, KeyError) as e:
            self.res.setdefault("errors", {})[fig] = f"{type(e).__name__}: {str(e)[:400]}"
            log(f"{fig}: Atrium's side failed: {e}")
            if self.srv.proc.poll() is not None:  # the server died: say how, measure SLURM only from here
                tail = "\n".join(self.srv.stderr_snapshot()[-30:])
                self.res["atrium_error"] = f"the server exited ({self.srv.proc.returncode}) during {fig}"
                self.res["errors"][fig] += f"; {self.res['atrium_error']}"
                log(f"{self.res['atrium_error']}; its stderr ends:\n{tail}")
                self.srv = None
            return None

    def project(self, slug: str) -> str:
        r = self.srv.call("POST", f"/api/v1/orgs/{self.org}/projects", self.token, json={"slug": slug, "name": slug})
        assert r.status == 201, r
        return r.json["id"]

    def job(self, command: list[str], **kw) -> dict:
        return {"command": command, "cpus": 1, "mem_mb": MEM_MB, "time_limit_s": 120, "partition": self.part} | kw

    def stop(self) -> None:
        if self.srv is not None:
            stop_envs_then_server(self.srv)
        self.cluster.stop()

    # -- SLURM as a client sees it
    def slurm_wait(self, ids: set[int], timeout: float) -> tuple[float, dict[str, int], list[dict]]:
        """Polls GET /jobs?update_time (changes only, like a tracker) until every id is terminal."""
        seen: dict[int, dict] = {}
        since, t0 = 0, time.monotonic()
        while True:
            now = int(time.time()) - 1
            for j in self.rest.call("GET", f"/jobs?update_time={since}")["jobs"]:
                if j["job_id"] in ids:
                    seen[j["job_id"]] = j
            since = now
            if len(seen) == len(ids) and all(j["job_state"] in TERMINAL for j in seen.values()):
                break
            if time.monotonic() - t0 > timeout:
                sys.exit(f"bench/slurm: {len(ids)} SLURM jobs not ended within {timeout:.0f} s")
            time.sleep(POLL_S)
        states: dict[str, int] = {}
        for j in seen.values():
            states[j["job_state"]] = states.get(j["job_state"], 0) + 1
        return time.monotonic(), states, list(seen.values())

    def slurm_job(self, name: str, hold: bool = False) -> dict:
        return {"name": name, "partition": self.spart, "current_working_directory": "/tmp", "hold": hold,
                "environment": {"PATH": "/usr/bin:/bin"}, "standard_output": "/dev/null",
                "cpus_per_task": 1, "memory_per_node": MEM_MB, "time_limit": 3}

    # ------------------------------------------------------------------ rpc windows
    def rpc_window(self, secs: float) -> dict:
        d0, t0 = self.rest.diag(), time.monotonic()
        time.sleep(secs)
        return self.rpc_delta(d0, t0)

    def rpc_delta(self, d0: dict, t0: float) -> dict:
        d1, t1 = self.rest.diag(), time.monotonic()
        a, b = rpc_counts(d0), rpc_counts(d1)
        per_min = {k: (v - a.get(k, 0)) * 60 / (t1 - t0) for k, v in b.items() if v - a.get(k, 0) > 0}
        per_min.pop("REQUEST_STATS_INFO", None)  # our own sdiag calls
        return {"secs": t1 - t0, "per_min": per_min, "total_per_min": sum(per_min.values()),
                "jobs_submitted": d1["jobs_submitted"] - d0["jobs_submitted"]}

    # ------------------------------------------------------------------ e2e
    def e2e(self) -> None:
        out = self.res["e2e"] = {}
        for system in ("sbatch", "atrium", "slurmrestd"):
            busy, t0 = Busy(), time.monotonic()
            rec = self.atrium_part("e2e", lambda: self.e2e_atrium(t0)) if system == "atrium" else self.e2e_slurm(system, t0)
            if rec is None:
                continue
            out[system] = rec | {"n": N_E2E, "busy_pct": busy.pct()}
            log(f"e2e {system}: {N_E2E} submitted in {rec['submit_s']:.2f} s, all ended after {rec['total_s']:.2f} s "
                f"{rec['states']}")

    def e2e_slurm(self, system: str, t0: float) -> dict:
        if system == "sbatch":
            ids = [int(self.cluster.cli("sbatch", "--parsable", "-p", self.spart, "-c1", f"--mem={MEM_MB}M", "-t", "3",
                                        "-o", "/dev/null", "--wrap", "true").split(";")[0]) for _ in range(N_E2E)]
        else:
            ids = [self.rest.submit(self.slurm_job(f"e2e{i}"), "#!/bin/sh\ntrue\n") for i in range(N_E2E)]
        t_sub = time.monotonic()
        t_end, states, _ = self.slurm_wait(set(ids), 900)
        return {"submit_s": t_sub - t0, "total_s": t_end - t0, "states": states}

    def e2e_atrium(self, t0: float) -> dict:
        path = f"/api/v1/projects/{self.project('e2e')}/jobs"
        ids = [self.api.call("POST", path, self.job(["true"]), want=(201,))["id"] for _ in range(N_E2E)]
        t_sub = time.monotonic()
        while self.api.call("GET", f"{path}?state=PENDING,RUNNING&limit=1")["items"]:
            if time.monotonic() - t0 > 900:
                sys.exit("bench/slurm: Atrium's e2e jobs not ended within 900 s")
            time.sleep(POLL_S)
        t_end = time.monotonic()
        jobs = [j for j in self.api.list_all(path) if j["id"] in set(ids)]
        states: dict[str, int] = {}
        for j in jobs:
            states[j["state"]] = states.get(j["state"], 0) + 1
        # Where the time went, from SLURM's own records of the same jobs (1 s resolution).
        sids = {int((j.get("slurm") or {}).get("job_id") or 0) for j in jobs} - {0}
        sjobs = [j for j in self.rest.jobs() if j["job_id"] in sids]
        return {"submit_s": t_sub - t0, "total_s": t_end - t0, "states": states, "slurm_ids": len(sids),
                "atrium_first_submit": min(parse_time_ms(j["submit_time"]) for j in jobs),
                "slurm_first_submit": min((j["submit_time"] for j in sjobs), default=0) * 1000,
                "slurm_last_submit": max((j["submit_time"] for j in sjobs), default=0) * 1000,
                "slurm_last_end": max((j["end_time"] for j in sjobs), default=0) * 1000}

    # ------------------------------------------------------------------ latency (+ rpc during it)
    def latency(self) -> None:
        pid = self.project("latency")
        seen: dict[str, tuple[float, str]] = {}
        cv = threading.Condition()
        stream = Api(f"http://127.0.0.1:{self.srv.port}", self.token)
        stream.conn.request("GET", "/api/v1/jobs/events", headers={"Authorization": f"Bearer {self.token}",
                                                                   "Accept": "text/event-stream"})
        resp = stream.conn.getresponse()
        assert resp.status == 200, resp.status

        def reader():
            try:
                read_events()
            except (OSError, AttributeError, ValueError):
                pass  # the stream was closed at the end

        def read_events():
            data = []
            for raw in iter(resp.readline, b""):
                line = raw.decode().rstrip("\n")
                if line.startswith("data:"):
                    data.append(line[5:].strip())
                elif not line and data:
                    t = time.time()
                    j = json.loads("".join(data))
                    data = []
                    if j.get("state") in TERMINAL and j.get("id") and j["id"] not in seen:
                        with cv:
                            seen[j["id"]] = (t, j["state"])
                            cv.notify_all()

        threading.Thread(target=reader, daemon=True).start()
        rng = random.Random(19)
        ids = []
        d0, t0 = self.rest.diag(), time.monotonic()
        for i in range(N_LAT):
            time.sleep(rng.uniform(0, 1.0))  # a random phase against the tracker's period
            j = self.api.call("POST", f"/api/v1/projects/{pid}/jobs",
                              self.job(["/bin/sh", "-c", "sleep 0.3; date +%s.%N"]), want=(201,))
            ids.append(j["id"])
            with cv:
                if not cv.wait_for(lambda: j["id"] in seen, 120):
                    sys.exit(f"bench/slurm: job {j['id']} not terminal on the SSE stream within 120 s: "
                             f"{json.dumps(self.api.call('GET', '/api/v1/jobs/' + j['id']))[:2000]}")
        self.res["rpc_run"] = self.rpc_delta(d0, t0)
        stream.conn.close()
        rows = []
        for jid in ids:
            t_api, state = seen[jid]
            j = self.api.call("GET", f"/api/v1/jobs/{jid}")
            out = self.api.conn  # logs: plain text, not JSON
            out.request("GET", f"/api/v1/jobs/{jid}/logs?stream=stdout", headers={"Authorization": f"Bearer {self.token}"})
            text = out.getresponse().read().decode().strip()
            oc = sorted((self.tmp / "data" / "jobs" / jid).glob("run*/outcome.json"))
            sid = int((j.get("slurm") or {}).get("job_id") or 0)
            send = self.rest.call("GET", f"/job/{sid}")["jobs"][0]["end_time"] if sid else None
            rows.append({"id": jid, "state": state, "t_api": t_api, "t_exit": float(text.split()[-1]) if text else None,
                         "t_outcome": oc[-1].stat().st_mtime if oc else None, "slurm_end": send,
                         "atrium_end": parse_time_ms(j["end_time"]) / 1000 if j.get("end_time") else None})
        self.res["latency"] = rows
        lat = [r["t_api"] - r["t_outcome"] for r in rows if r["t_outcome"]]
        log(f"latency: outcome.json -> SSE p50 {statistics.median(lat) * 1000:.0f} ms over {len(lat)} jobs"
            if lat else "latency: no outcome.json found")

    # ------------------------------------------------------------------ jupyter
    def jupyter(self) -> None:
        pid = self.project("jupyter") if self.srv else ""
        out = self.res["jupyter"] = {"atrium_ready": [], "atrium_200": [], "bare_200": []}

        def env_state(eid):
            return self.srv.call("GET", f"/api/v1/envs/{eid}", self.token).json

        def atrium_once() -> tuple[float, float]:
            t0 = time.perf_counter()
            r = self.srv.call("POST", f"/api/v1/projects/{pid}/envs", self.token,
                              json={"app": "jupyter", "partition": self.part, "cpus": 1, "mem_mb": 1024})
            assert r.status == 201, r
            eid = r.json["id"]
            try:
                e = wait_until(lambda: (x := env_state(eid))["state"] in ("READY", "FAILED", "STOPPED") and x,
                               180, 0.02, "the environment on a node")
                t_ready = time.perf_counter() - t0
                assert e["state"] == "READY", e
                if e.get("job_id") and "env_job" not in out:  # where it ran (a node, not this server)
                    jj = self.srv.call("GET", f"/api/v1/jobs/{e['job_id']}", self.token).json
                    out["env_job"] = {"partition": jj.get("partition"), "slurm": jj.get("slurm"),
                                      "tunnel": (self.tmp / "data" / "tunnels" / f"{e['job_id']}.sock").exists()}
                    outs = sorted((self.tmp / "data" / "jobs" / e["job_id"]).glob("run*/slurm.out"))
                    out["env_job"]["node_out"] = outs[-1].read_text(errors="replace")[-300:] if outs else ""
                wait_until(lambda: proxied(self.srv, "GET", e["url"] + "api/status", self.token).status == 200,
                           60, 0.02, "api/status through the proxy")
                return t_ready * 1000, (time.perf_counter() - t0) * 1000
            finally:
                self.srv.call("POST", f"/api/v1/envs/{eid}/stop", self.token)
                wait_until(lambda: env_state(eid)["state"] in ("STOPPED", "FAILED"), 120, 0.1, "the stop")

        def bare_once(i: int) -> float:
            d = self.tmp / f"bare{i}"
            (d / "ws").mkdir(parents=True)
            sock, token = d / "app.sock", f"bench{i}{os.getpid()}"
            script = d / "jupyter.sh"
            script.write_text(
                "#!/bin/sh\n"
                f"export HOME={d} JUPYTER_TOKEN={token} JUPYTER_RUNTIME_DIR={d}/rt JUPYTER_CONFIG_DIR={d}/.jupyter "
                f"JUPYTER_DATA_DIR={d}/.local IPYTHONDIR={d}/.ipython PYTHONSAFEPATH=1 PYDEVD_DISABLE_FILE_VALIDATION=1\n"
                f"exec /usr/bin/python3 -P -m jupyter_server --ServerApp.base_url=/bare/ --ServerApp.sock={sock} "
                f"--ServerApp.sock_mode=0600 --ServerApp.allow_root=True --ServerApp.allow_remote_access=True "
                f"--ServerApp.trust_xheaders=True --ServerApp.root_dir={d}/ws --ServerApp.open_browser=False "
                "--ServerApp.jpserver_extensions=\"{'nbclassic': True}\" --ServerApp.default_url=/tree\n")
            t0 = time.perf_counter()
            sid = self.cluster.cli("sbatch", "--parsable", "-p", self.spart, "-c1", "--mem=1024M", "-t", "10",
                                   "-o", str(d / "out.log"), str(script)).split(";")[0].strip()
            try:
                wait_until(lambda: sock.exists() and unix_get(str(sock), "/bare/api/status",
                                                              {"Authorization": f"token {token}"}) == 200,
                           180, 0.02, f"the bare jupyter (SLURM job {sid}; {d}/out.log)")
                return (time.perf_counter() - t0) * 1000
            finally:
                self.cluster.cli("scancel", sid)
                self.slurm_wait({int(sid)}, 60)

        # Warm-up (unmeasured): page cache, .pyc, the node's first atrium exec.
        atrium_ok = self.atrium_part("jupyter", atrium_once) is not None
        bare_once(0)
        for i in range(N_JUPYTER):
            for case in (("atrium", "bare") if i % 2 == 0 else ("bare", "atrium")):
                if case == "bare":
                    out["bare_200"].append(bare_once(i + 1))
                elif atrium_ok and (r := self.atrium_part("jupyter", atrium_once)) is not None:
                    out["atrium_ready"].append(r[0])
                    out["atrium_200"].append(r[1])
                else:
                    atrium_ok = False
            log(f"jupyter {i + 1}/{N_JUPYTER}: bare 200 {out['bare_200'][-1]:.0f} ms" +
                (f"; atrium READY {out['atrium_ready'][-1]:.0f} ms, 200 {out['atrium_200'][-1]:.0f} ms" if atrium_ok else ""))

    # ------------------------------------------------------------------ submit throughput + drain
    def wrk(self, url: str, headers: list[str], body: dict, conns: int) -> dict:
        bf = self.tmp / "body.json"
        bf.write_text(json.dumps(body))
        cmd = ["wrk", "-t1", f"-c{conns}", f"-d{WRK_DURATION}", "--latency", "-s", str(REPO / "bench/jobs/submit.lua")]
        for h in headers:
            cmd += ["-H", h]
        busy, t0 = Busy(), time.monotonic()
        r = subprocess.run(cmd + [url, "--", str(bf)], capture_output=True, text=True)
        rec = report.parse_wrk(r.stdout + r.stderr)
        rec |= {"t0": t0, "t1": time.monotonic(), "busy_pct": busy.pct(), "conns": conns}
        return rec

    def submit(self) -> None:
        out = self.res["submit"] = []
        url_s = self.ccfg["rest_url"].rstrip("/") + "/slurm/v0.0.38/job/submit"
        pid = self.project("submit") if self.srv else ""
        for k, conns in enumerate(WRK_CONNS):
            for system in (("slurmrestd", "atrium") if k % 2 == 0 else ("atrium", "slurmrestd")):
                if system == "slurmrestd":
                    rec = self.wrk(url_s, [f"{h}: {v}" for h, v in self.rest.headers().items()],
                                   {"job": self.slurm_job("held", hold=True), "script": "#!/bin/sh\ntrue\n"}, conns)
                    self.cluster.cli("scancel", "--state=PD", "-p", self.spart)
                elif (rec := self.atrium_part("submit", lambda: self.submit_atrium(pid, conns))) is None:
                    continue
                rec["system"] = system
                out.append(rec)
                log(f"submit {system} c{conns}: {rec['rps']:.0f} req/s, 2xx {rec['ok']}, other {rec['bad']}"
                    + (f"; drain {rec['drain']}" if "drain" in rec else ""))

    def submit_atrium(self, pid: str, conns: int) -> dict:
        """wrk of held jobs; meanwhile sdiag's jobs_submitted every 0.25 s shows the hand-over."""
        d0 = self.rest.diag()["jobs_submitted"]
        samples: list[tuple[float, int]] = []
        stop = threading.Event()
        sampler = Rest(self.ccfg["rest_url"], self.ccfg["jwt_key_file"])

        def sample():
            while not stop.is_set():
                samples.append((time.monotonic(), sampler.diag()["jobs_submitted"] - d0))
                stop.wait(0.25)

        th = threading.Thread(target=sample, daemon=True)
        th.start()
        try:
            rec = self.wrk(f"http://127.0.0.1:{self.srv.port}/api/v1/projects/{pid}/jobs",
                           [f"Authorization: Bearer {self.token}"], self.job(["true"], hold=True), conns)
            # wrk counts the 201s it read; requests in flight at its end may still be committed: wait
            # until SLURM has at least that many and nothing new came for 2 s (or 30 s without progress).
            deadline = time.monotonic() + 300
            while time.monotonic() < deadline:
                time.sleep(0.25)
                if len(samples) > 8 and samples[-1][1] >= rec["ok"] and samples[-1][1] == samples[-9][1]:
                    break
                if len(samples) > 120 and samples[-1][1] == samples[-120][1] and time.monotonic() > rec["t1"] + 30:
                    break
        finally:
            stop.set()
            th.join()
        rec["drain"] = report.drain(samples, rec["t0"], rec["t1"], max(rec["ok"], samples[-1][1] if samples else 0))
        self.api.call("POST", "/api/v1/jobs/cancel", {"project_id": pid})
        try:
            wait_until(lambda: self.rest.diag()["jobs_pending"] == 0, 120, 0.5, "SLURM's queue to empty")
        except AssertionError:
            log("Atrium's cancel left held jobs in SLURM after 120 s: scancel")
            self.cluster.cli("scancel", "--state=PD", "-p", self.spart)
        return rec


def main() -> None:
    if os.geteuid() != 0:
        sys.exit("bench/slurm: run as root (SLURM daemons, node namespaces, sandboxes)")
    tmp = Path(tempfile.mkdtemp(prefix="atrium-bench-slurm-"))
    os.chmod(tmp, 0o755)
    b = None
    try:
        b = Bench(tmp)
        if "rpc" in FIGURES:
            b.res["rpc_base"] = b.rpc_window(BASE_S)
        b.start_server()
        if "rpc" in FIGURES and b.srv is not None:
            b.res["rpc_idle"] = b.rpc_window(IDLE_S)
        for fig in ("e2e", "latency", "jupyter", "submit"):
            if fig in FIGURES:
                log(f"-- {fig}")
                if fig == "latency":
                    b.atrium_part(fig, b.latency)
                else:
                    getattr(b, fig)()
        b.res["load1"] = os.getloadavg()
        b.res["machine"] = machine(REPO)
        b.res["atrium_bin"] = ATRIUM_BIN
        b.res["kernel"] = platform.release()
        (tmp.parent / "atrium-bench-slurm-last.json").write_text(json.dumps(b.res, indent=1))
        publish(report.section(b.res))
    finally:
        if b is not None:
            b.stop()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
