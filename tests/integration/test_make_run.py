"""The server started the way `make run` starts it: `atrium server --listen ... --data-dir ./var`, a
relative data directory, no config file. Every job used to end NODE_FAIL ("atrium exec: bad spec:
workspace: must be an absolute path") because the relative path reached the sandbox spec; the suites
never used a relative data directory, so none caught it. This runs a job and an environment (the
terminal app: the quickest) through such a server."""
from __future__ import annotations

import json
import re
from pathlib import Path

from conftest import ADMIN_PASSWORD, ATRIUM_BIN, is_problem, wait_until
from test_envs import env_ws

REPO = Path(__file__).resolve().parents[2]
TERMINAL = {"COMPLETED", "FAILED", "CANCELLED", "TIMEOUT", "OUT_OF_MEMORY", "NODE_FAIL"}


def make_run_args() -> list[str]:
    """The server's arguments in the Makefile's `run` target, with port 0 instead of 8080."""
    text = (REPO / "Makefile").read_text()
    m = re.search(r"^run:.*\n(?:\t.*\n)*?\texec \./\$\(BUILD_DIR\)/src/atrium (server .*)$", text, re.M)
    assert m, "the Makefile's run target changed: update this test"
    args = m.group(1).split()[1:]
    assert "--data-dir" in args and not args[args.index("--data-dir") + 1].startswith("/"), args
    args[args.index("--listen") + 1] = "127.0.0.1:0"
    return args


def test_make_run_with_a_relative_data_dir_runs_jobs_and_environments(make_server, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # `make run` runs in the checkout; here a fresh one
    args = make_run_args()
    rel = args[args.index("--data-dir") + 1]
    (tmp_path / rel).mkdir()  # `mkdir -p var`, as the Makefile does
    srv = make_server(args=args, data_dir=(tmp_path / rel).resolve(), listen=None,
                      env={"ATRIUM_COMPUTE_CPUS": "2", "ATRIUM_COMPUTE_MEM_MB": "4096", "ATRIUM_COMPUTE_GPUS": "0"})
    assert (tmp_path / rel / "atrium.db").exists()
    admin = srv.login_token("admin", ADMIN_PASSWORD)
    org = srv.call("POST", "/api/v1/orgs", admin, json={"slug": "make-run", "name": "Make run"}).json
    pid = srv.call("POST", f"/api/v1/orgs/{org['id']}/projects", admin, json={"slug": "p", "name": "P"}).json["id"]

    # A job.
    r = srv.call("POST", f"/api/v1/projects/{pid}/jobs", admin,
                 json={"command": ["sh", "-c", "echo from-make-run; pwd"], "time_limit_s": 120, "mem_mb": 256})
    assert r.status == 201, r
    jid = r.json["id"]
    job = wait_until(lambda: (j := srv.call("GET", f"/api/v1/jobs/{jid}", admin).json)["state"] in TERMINAL and j,
                     60, 0.05, "the job to end")
    assert job["state"] == "COMPLETED" and job["exit_code"] == 0, job
    out = srv.call("GET", f"/api/v1/jobs/{jid}/logs?stream=stdout&offset=0", admin)
    assert out.status == 200 and out.body.decode().startswith("from-make-run\n"), out

    # An environment: the terminal app, one command through its WebSocket.
    r = srv.call("POST", f"/api/v1/projects/{pid}/envs", admin, json={"app": "terminal"})
    assert r.status == 201, r
    eid = r.json["id"]

    def ready():
        e = srv.call("GET", f"/api/v1/envs/{eid}", admin).json
        return e if e["state"] in ("READY", "FAILED", "STOPPED") else None

    env = wait_until(ready, 90, 0.05, "the terminal to be ready")
    assert env["state"] == "READY", env
    ws = env_ws(srv, env["url"] + "websocket", headers={"Authorization": f"Bearer {admin}"})
    ws.send(json.dumps(["stdin", "echo term-$((6*7))\r"]))
    seen = ""
    for _ in range(400):
        _, data = ws.recv()
        m = json.loads(data)
        if m[0] == "stdout":
            seen += m[1]
            if "term-42" in seen:
                break
    assert "term-42" in seen, seen
    ws.close()
    r = srv.call("POST", f"/api/v1/envs/{eid}/stop", admin)
    assert r.status in (200, 409), r
    wait_until(lambda: srv.call("GET", f"/api/v1/envs/{eid}", admin).json["state"] == "STOPPED", 60, 0.05,
               "the terminal to stop")
    # Nothing was written relative to some other directory.
    assert not (tmp_path / rel / rel).exists()
    assert is_problem(srv.call("GET", f"/api/v1/jobs/{jid}"), 401)


def test_relative_paths_in_a_config_file_are_resolved_once(make_server, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "conf").mkdir()
    cfg = tmp_path / "conf" / "atrium.toml"
    cfg.write_text('[server]\ndata_dir = "state"\n[log]\naccess_log = "logs/access.log"\n')
    (tmp_path / "logs").mkdir()
    srv = make_server(data_dir=tmp_path / "state", start=False)
    srv.command = lambda: [ATRIUM_BIN, "server", "--config", str(cfg), "--listen", "127.0.0.1:0"]  # no --data-dir
    srv.start()
    assert (tmp_path / "state" / "atrium.db").exists()
    assert srv.call("GET", "/healthz").status == 200
    wait_until(lambda: (tmp_path / "logs" / "access.log").exists() and
               "/healthz" in (tmp_path / "logs" / "access.log").read_text(), 10, 0.05, "the access log line")
    # The startup line names the absolute data directory.
    assert str(tmp_path / "state") in srv.output()
