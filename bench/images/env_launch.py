#!/usr/bin/env python3
"""Environment launch on an image vs the same app on the host root (issue 18).

A server (port 0, temp data dir) pulls the Jupyter test image (tests/integration/jupyter_image.py: the
host's Debian packages of the built-in jupyter app laid out as an image, pushed to a docker-registry
on loopback) into a project; then the built-in `jupyter` app is launched N times per case, the two
cases alternating (image first in even rounds, host first in odd ones), the same resources each
time, one environment at a time:
  host    POST /projects/{id}/envs {"app": "jupyter"}                    (the host's read-only root)
  image   POST /projects/{id}/envs {"app": "jupyter", "image": "jupyter"} (the image mounted as /)
Timed from the POST to `GET /envs/{id}` saying READY (polled every 10 ms, as bench/envs does) and to
the first 200 of the notebook's `api/status` through Atrium's proxy (on the env's origin, Bearer
token); each is then stopped (until STOPPED) before the next. One unmeasured launch per case first.
Prints a markdown section; with RESULTS=path it appends it there.

  ATRIUM_BIN  the atrium binary (default build/src/atrium)     N  launches per case (default 10)
"""
from __future__ import annotations

import os
import platform
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "tests" / "integration"))
sys.path.insert(0, str(REPO / "bench"))
os.environ.setdefault("ATRIUM_BIN", str(REPO / "build" / "src" / "atrium"))
from benchlib import publish  # noqa: E402
from conftest import Server, stop_envs_then_server, wait_until  # noqa: E402
from images_fixture import Registry  # noqa: E402
from jupyter_image import jupyter_layout  # noqa: E402
from test_envs import proxied  # noqa: E402

N = int(os.environ.get("N", "10"))
POLL_S = 0.010
SERVER_ENV = {"ATRIUM_IMAGES_INSECURE_REGISTRIES": "127.0.0.1:*", "ATRIUM_COMPUTE_CPUS": "16",
              "ATRIUM_COMPUTE_MEM_MB": "32768", "ATRIUM_COMPUTE_GPUS": "0"}
RESOURCES = {"cpus": 1, "mem_mb": 1024}


def q(v: list[float], p: int) -> float:
    return statistics.quantiles(v, n=100, method="inclusive")[p - 1] if len(v) > 1 else v[0]


def main() -> None:
    tmp = Path(tempfile.mkdtemp(prefix="atrium-bench-envimg-"))
    reg = srv = None
    try:
        layout = jupyter_layout()  # built once per package set (cached), then reused
        reg = Registry(tmp / "registry")
        reg.push(layout, "v1", "bench/jupyter")
        srv = Server(tmp / "srv", env=SERVER_ENV).start()
        tok = srv.admin = srv.admin_token()
        org = srv.call("POST", "/api/v1/orgs", tok, json={"slug": "bench", "name": "Bench"}).json
        pid = srv.call("POST", f"/api/v1/orgs/{org['id']}/projects", tok, json={"slug": "p", "name": "P"}).json["id"]
        r = srv.call("POST", f"/api/v1/projects/{pid}/images", tok,
                     json={"name": "jupyter", "source": reg.ref("bench/jupyter", "v1")})
        assert r.status in (201, 202), r
        im = wait_until(lambda: (j := srv.call("GET", f"/api/v1/images/{r.json['id']}", tok).json)["state"]
                        != "pending" and j, 300, 0.05, "the pull")
        assert im["state"] == "ready", im

        def state(eid: str) -> dict:
            return srv.call("GET", f"/api/v1/envs/{eid}", tok).json

        def launch(case: str) -> tuple[float, float]:
            body = {"app": "jupyter", **RESOURCES, **({"image": "jupyter"} if case == "image" else {})}
            t0 = time.perf_counter()
            r = srv.call("POST", f"/api/v1/projects/{pid}/envs", tok, json=body)
            assert r.status == 201, r
            e = wait_until(lambda: (j := state(r.json["id"]))["state"] in ("READY", "FAILED", "STOPPED") and j,
                           120, POLL_S, f"the {case} environment")
            t_ready = time.perf_counter() - t0
            assert e["state"] == "READY", e
            assert (e.get("image") or {}).get("digest") == (im["digest"] if case == "image" else None), e
            wait_until(lambda: proxied(srv, "GET", e["url"] + "api/status", tok).status == 200, 60, POLL_S,
                       "api/status through the proxy")
            t_200 = time.perf_counter() - t0
            assert srv.call("POST", f"/api/v1/envs/{e['id']}/stop", tok).status == 200
            wait_until(lambda: state(e["id"])["state"] == "STOPPED", 60, POLL_S, "the stop")
            return t_ready * 1000, t_200 * 1000

        cases = ("host", "image")
        for c in cases:  # warm-up: page cache, the image's first mounts
            launch(c)
        ready: dict[str, list[float]] = {c: [] for c in cases}
        first: dict[str, list[float]] = {c: [] for c in cases}
        load0 = os.getloadavg()[0]
        for i in range(N):
            for c in (cases if i % 2 else cases[::-1]):
                a, b = launch(c)
                ready[c].append(a)
                first[c].append(b)
                print(f"{i + 1}/{N} {c}: READY {a:.0f} ms, api/status 200 {b:.0f} ms", file=sys.stderr, flush=True)
        load1 = os.getloadavg()[0]

        def paired(d: dict[str, list[float]]) -> float:
            return statistics.median(x - y for x, y in zip(d["image"], d["host"]))
        lines = [f"## Images: environment launch — {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}", "",
                 f"`N={N} python3 bench/images/env_launch.py` (issue 18: environment launch on an image vs the same "
                 f"app on the host root). The built-in `jupyter` app ({RESOURCES['cpus']} CPU, {RESOURCES['mem_mb']} MB), "
                 f"N launches per case alternating (image first in even rounds), one at a time, each stopped before "
                 f"the next, one unmeasured launch per case first; image: the Jupyter test image "
                 f"(tests/integration/jupyter_image.py, {im['size_bytes'] / 2**20:.0f} MiB, pulled from docker-registry "
                 f"on loopback). {os.cpu_count()} CPUs, {platform.release()}, load {load0:.2f} at the start, "
                 f"{load1:.2f} at the end; as {'root' if os.geteuid() == 0 else 'an unprivileged user'}.", "",
                 "| case | p50 → READY ms | p90 → READY ms | p50 → api/status 200 ms | p90 → api/status 200 ms | "
                 "runs → READY ms |", "|---|---:|---:|---:|---:|---|"]
        for c in cases:
            lines.append(f"| {c} | {statistics.median(ready[c]):.0f} | {q(ready[c], 90):.0f} | "
                         f"{statistics.median(first[c]):.0f} | {q(first[c], 90):.0f} | "
                         f"{' / '.join(f'{x:.0f}' for x in ready[c])} |")
        r_ready = statistics.median(ready["image"]) / statistics.median(ready["host"])
        r_first = statistics.median(first["image"]) / statistics.median(first["host"])
        lines += ["", f"Ratio image / host at p50: **{r_ready:.2f}×** to READY, **{r_first:.2f}×** to the first "
                  f"proxied 200; median paired difference (image − host, same round): {paired(ready):+.0f} ms to "
                  f"READY, {paired(first):+.0f} ms to the first 200."]
        publish("\n" + "\n".join(lines) + "\n")
    finally:
        if srv is not None:
            stop_envs_then_server(srv)  # no environment outlives the run
        if reg is not None:
            reg.stop()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
