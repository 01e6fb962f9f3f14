"""Environments with the project's data: datasets read-only at /data/<name> (pinned at launch), the
project's files read-write at /project and written back (sync on request, at stop), with the files
API's rules (quota, conflicts, links never followed), the home's size in the storage quota, GPUs at
launch (the app's maximum, the node's), cross-tenant and bad input that launch nothing.

The app is a tiny web app on the env's socket that runs the shell command POSTed to it (cheaper
than Jupyter or a terminal's WebSocket).
"""
from __future__ import annotations

import hashlib
import json
import os

import pytest

from conftest import SERVE_H_ON_ATRIUM_SOCKET, World, env_suite_server, is_problem, list_all
from test_envs import launch, proxied, stop, wait_state

# One GPU configured (none is detected here): a launch asking for it reaches the job's request.
SERVER_ENV = {"ATRIUM_COMPUTE_CPUS": "16", "ATRIUM_COMPUTE_MEM_MB": "32768", "ATRIUM_COMPUTE_GPUS": "1"}

SHELL_APP = r'''
import json, os, socketserver, http.server, subprocess
class H(http.server.BaseHTTPRequestHandler):
    def _send(self, body, ctype="text/plain"):
        self.send_response(200)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def do_GET(self):
        self._send(b"ok")
    def do_POST(self):
        cmd = self.rfile.read(int(self.headers.get("Content-Length") or 0)).decode()
        p = subprocess.run(["/bin/sh", "-c", cmd], capture_output=True, text=True, timeout=60)
        self._send(json.dumps({"rc": p.returncode, "out": p.stdout, "err": p.stderr}).encode(), "application/json")
    def log_message(self, *a): pass
''' + SERVE_H_ON_ATRIUM_SOCKET


def shell_app(max_gpus):
    return {"kind": "web", "title": "shell", "command": ["/usr/bin/python3", "-c", SHELL_APP], "health_path": "health",
            "defaults": {"cpus": 1, "mem_mb": 256}, "max": {"cpus": 2, "mem_mb": 1024}, "max_gpus": max_gpus}


@pytest.fixture(scope="module")
def srv(tmp_path_factory):
    with env_suite_server(tmp_path_factory, "envdata", SERVER_ENV) as s:
        yield s


@pytest.fixture(scope="module")
def w(srv) -> World:
    world = World(srv, srv.admin, prefix="d")
    r = srv.call("PUT", "/api/v1/apps/shell", srv.admin, json=shell_app(1))
    assert r.status == 201, r
    return world


def put_file(srv, token, pid, path, data: bytes, overwrite=False):
    r = srv.call("POST", f"/api/v1/projects/{pid}/uploads", token,
                 json={"path": path, "size": len(data), "overwrite": overwrite})
    assert r.status == 201, r
    uid = r.json["id"]
    if data:
        r = srv.call("PATCH", f"/api/v1/uploads/{uid}", token, body=data,
                     headers={"Upload-Offset": "0", "Content-Type": "application/offset+octet-stream"})
        assert r.status == 200, r
    r = srv.call("POST", f"/api/v1/uploads/{uid}/complete", token, json={"sha256": hashlib.sha256(data).hexdigest()})
    assert r.status == 201, r


def get_file(srv, token, pid, path):
    r = srv.raw("GET", f"/api/v1/projects/{pid}/files/{path}", headers={"Authorization": f"Bearer {token}"})
    return r.body if r.status == 200 else None


def files_under(srv, token, pid, prefix):
    return {f["path"] for f in list_all(srv, f"/api/v1/projects/{pid}/files?prefix={prefix}", token)}


def run(srv, token, env, cmd):
    r = proxied(srv, "POST", env["url"] + "run", token, body=cmd.encode())
    assert r.status == 200, r
    out = json.loads(r.body)
    assert out["rc"] == 0, (cmd, out)
    return out["out"]


def sync(srv, token, env_id):
    r = srv.call("POST", f"/api/v1/envs/{env_id}/sync", token)
    assert r.status == 200, r
    return r.json


def by_path(items):
    return {i["path"]: i["reason"] for i in items}


def test_datasets_and_the_project_view(srv, w):
    a = w.a
    member = a.users["member"]
    pid = a.org_project["id"]
    for path, data in [("notes/a.txt", b"alpha\n"), ("notes/b.txt", b"bee\n"), ("notes/c.txt", b"sea\n"),
                       ("notes/old.txt", b"old\n"), ("ref/top.txt", b"top\n"), ("outside.txt", b"out\n")]:
        put_file(srv, member.token, pid, path, data)
    ds = srv.call("POST", f"/api/v1/projects/{pid}/datasets", member.token, json={"name": "ref"})
    assert ds.status == 201, ds
    assert srv.call("POST", f"/api/v1/datasets/{ds.json['id']}/versions", member.token, json={"prefix": "ref"}).status == 201
    # Version 2 exists, but the environment is pinned to version 1.
    put_file(srv, member.token, pid, "ref/top.txt", b"top v2\n", overwrite=True)
    assert srv.call("POST", f"/api/v1/datasets/{ds.json['id']}/versions", member.token, json={"prefix": "ref"}).status == 201

    r = launch(srv, member.token, pid, "shell", datasets=["ref@1"], files={"prefix": "notes"})
    assert r.status == 201, r
    assert r.json["datasets"] == [{"name": "ref", "dataset_id": ds.json["id"], "version": 1, "path": "/data/ref"}]
    assert r.json["files"]["prefix"] == "notes" and r.json["files"]["path"] == "/project"
    env = wait_state(srv, member.token, r.json["id"])

    # The dataset, read-only, as pinned; the view's root is the prefix.
    assert run(srv, member.token, env, "cat /data/ref/top.txt") == "top\n"
    out = proxied(srv, "POST", env["url"] + "run", member.token, body=b"echo x > /data/ref/new.txt").body
    assert json.loads(out)["rc"] != 0
    assert run(srv, member.token, env, "cat /project/a.txt; ls /project | sort | tr '\\n' ' '") == \
        "alpha\na.txt b.txt c.txt old.txt "

    # The project changes b.txt and c.txt meanwhile; the quota leaves room for small files only.
    put_file(srv, member.token, pid, "notes/b.txt", b"bee from the project\n", overwrite=True)
    put_file(srv, member.token, pid, "notes/c.txt", b"sea from the project\n", overwrite=True)
    r = srv.call("PUT", f"/api/v1/orgs/{a.id}/quotas/user/{member.id}", srv.admin, json={"storage_bytes": 100_000},
                 if_match="*")
    assert r.status in (200, 201), r
    run(srv, member.token, env, "cd /project && echo changed > a.txt && echo new > new.txt && rm old.txt && "
        "mkdir -p sub && echo deep > sub/d.txt && echo bee-env > b.txt && rm c.txt && "
        "head -c 300000 /dev/zero > big.bin && ln -s /etc/shadow shadow && "
        f"ln -s {srv.data_dir} datadir && ln -s /etc etc && mkfifo fifo")
    rep = sync(srv, member.token, env["id"])
    assert (rep["added"], rep["updated"], rep["deleted"]) == (2, 1, 1), rep
    assert set(by_path(rep["conflicts"])) == {"notes/b.txt", "notes/c.txt"}, rep
    assert by_path(rep["not_synced"]) == {"notes/big.bin": "quota-exceeded", "notes/shadow": "symlink",
                                          "notes/datadir": "symlink", "notes/etc": "symlink",
                                          "notes/fifo": "special-file"}, rep
    assert not rep["complete"]
    assert files_under(srv, member.token, pid, "notes") == {"notes/a.txt", "notes/b.txt", "notes/c.txt",
                                                          "notes/new.txt", "notes/sub/d.txt"}
    assert get_file(srv, member.token, pid, "notes/a.txt") == b"changed\n"
    # Conflicts keep the project's files; nothing was read through a link.
    assert get_file(srv, member.token, pid, "notes/b.txt") == b"bee from the project\n"
    assert get_file(srv, member.token, pid, "notes/c.txt") == b"sea from the project\n"
    shown = srv.call("GET", f"/api/v1/envs/{env['id']}", member.token).json
    assert shown["files"]["last_sync"]["added"] == 2 and shown["gpus"] == 0
    events = list_all(srv, f"/api/v1/audit/events?action=env.sync", srv.admin)
    assert any(e["target_id"] == env["id"] and e["summary"]["added"] == 2 for e in events), events
    created = list_all(srv, f"/api/v1/audit/events?action=file.create", srv.admin)
    assert any(e["summary"].get("path") == "notes/new.txt" and e["actor_id"] == member.id for e in created), created[-3:]

    # Resolved in the environment; a file written just before the stop is written back at the stop.
    srv.call("PUT", f"/api/v1/orgs/{a.id}/quotas/user/{member.id}", srv.admin, json={"storage_bytes": None},
             if_match="*")
    run(srv, member.token, env, "cd /project && mv b.txt b-env.txt && rm big.bin shadow datadir etc fifo")
    rep = sync(srv, member.token, env["id"])
    assert rep["added"] == 1 and by_path(rep["conflicts"]) == {"notes/b.txt": "changed in the project since it was "
                                                                              "materialised"} and not rep["not_synced"], rep
    assert get_file(srv, member.token, pid, "notes/b-env.txt") == b"bee-env\n"
    assert get_file(srv, member.token, pid, "notes/b.txt") == b"bee from the project\n"
    run(srv, member.token, env, "echo last > /project/last.txt && head -c 65536 /dev/urandom > $HOME/blob.bin")
    stop(srv, member.token, env["id"])
    assert get_file(srv, member.token, pid, "notes/last.txt") == b"last\n"
    last = srv.call("GET", f"/api/v1/envs/{env['id']}", member.token).json["files"]["last_sync"]
    assert last["why"] == "stop" and last["added"] == 1 and last["complete"], last
    assert not (srv.data_dir / "envs" / env["id"] / "files").exists()  # all synced: the view is gone
    # The home's size counts in the user's storage.
    q = srv.call("GET", f"/api/v1/orgs/{a.id}/quotas/user/{member.id}", srv.admin).json
    files_bytes = sum(f["size"] for f in list_all(srv, f"/api/v1/projects/{pid}/files", member.token))
    assert q["usage"]["storage_bytes"] >= 65536 + files_bytes - 1000, q
    # ... and in the checks: 100 bytes left, and files_bytes alone would leave 64 KiB.
    quota = f"/api/v1/orgs/{a.id}/quotas/user/{member.id}"
    assert srv.call("PUT", quota, srv.admin, json={"storage_bytes": q["usage"]["storage_bytes"] + 100},
                    if_match="*").status == 200
    r = srv.call("POST", f"/api/v1/projects/{pid}/uploads", member.token, json={"path": "more.bin", "size": 1000})
    assert is_problem(r, 507, "quota-exceeded"), r
    assert srv.call("PUT", quota, srv.admin, json={"storage_bytes": None}, if_match="*").status == 200


def test_gpus_reach_the_job(srv, w):
    member = w.a.users["member"]
    pid = w.a.org_project["id"]
    r = launch(srv, member.token, pid, "shell", gpus=1)
    assert r.status == 201, r
    assert r.json["gpus"] == 1
    job = srv.call("GET", f"/api/v1/jobs/{r.json['job_id']}", member.token).json
    assert job["resources"]["gpus"] == 1, job
    if os.path.exists("/dev/nvidia0"):  # the lent GPU machine: the env sees exactly its GPU
        env = wait_state(srv, member.token, r.json["id"])
        out = run(srv, member.token, env, "echo $CUDA_VISIBLE_DEVICES; ls /dev | grep -c '^nvidia[0-9]'")
        assert out.split("\n")[1] == "1", out
    srv.call("POST", f"/api/v1/envs/{r.json['id']}/stop", member.token)
    wait_state(srv, member.token, r.json["id"], ("STOPPED", "FAILED"), 60)


def test_cross_tenant_and_bad_input_launch_nothing(srv, w):
    a, b = w.a, w.b
    member = a.users["member"]
    pid = a.org_project["id"]
    bpid = b.org_project["id"]
    bmember = b.users["member"]
    put_file(srv, bmember.token, bpid, "secret/x.txt", b"b's\n")
    bds = srv.call("POST", f"/api/v1/projects/{bpid}/datasets", bmember.token, json={"name": "bdata"})
    assert bds.status == 201, bds
    assert srv.call("POST", f"/api/v1/datasets/{bds.json['id']}/versions", bmember.token,
                    json={"prefix": "secret"}).status == 201
    before = list_all(srv, f"/api/v1/projects/{pid}/envs", member.token)
    jobs_before = list_all(srv, f"/api/v1/projects/{pid}/jobs", member.token)
    # Another org's dataset (by name or id) is no dataset of this project.
    assert is_problem(launch(srv, member.token, pid, "shell", datasets=["bdata"]), 400, "invalid-dataset")
    assert is_problem(launch(srv, member.token, pid, "shell", datasets=[bds.json["id"]]), 400, "invalid-dataset")
    assert is_problem(launch(srv, member.token, pid, "shell", datasets=["nope"]), 400, "invalid-dataset")
    assert is_problem(launch(srv, member.token, pid, "shell", datasets=["ref@9"]), 400, "invalid-dataset")
    assert is_problem(launch(srv, member.token, pid, "shell", datasets="ref"), 400)
    assert is_problem(launch(srv, member.token, pid, "shell", gpus=2), 400, "over-app-maximum")
    assert is_problem(launch(srv, member.token, pid, "shell", gpus=-1), 400)
    assert is_problem(launch(srv, member.token, pid, "echo-none", gpus=0), 400, "unknown-app")
    assert is_problem(launch(srv, member.token, pid, "terminal", gpus=1), 400, "over-app-maximum")
    r = srv.call("PUT", "/api/v1/apps/shell", srv.admin, json=shell_app(64))
    assert r.status == 200, r
    assert is_problem(launch(srv, member.token, pid, "shell", gpus=64), 400, "over-node")
    assert is_problem(srv.call("PUT", "/api/v1/apps/shell", srv.admin, json=shell_app(-1)), 400, "invalid-field")
    assert srv.call("PUT", "/api/v1/apps/shell", srv.admin, json=shell_app(1)).status == 200
    for bad in ("yes", {"prefix": "../x"}, {"prefix": "/abs"}, {"prefix": "a", "x": 1}, 3):
        assert is_problem(launch(srv, member.token, pid, "shell", files=bad), 400, "invalid-files"), bad
    # A viewer may not write the project's files; a sync of an env without a view is refused.
    assert is_problem(launch(srv, a.users["viewer"].token, pid, "shell", files=True), 404)
    assert list_all(srv, f"/api/v1/projects/{pid}/envs", member.token) == before
    assert list_all(srv, f"/api/v1/projects/{pid}/jobs", member.token) == jobs_before
    r = launch(srv, member.token, pid, "shell")
    assert r.status == 201, r
    assert is_problem(srv.call("POST", f"/api/v1/envs/{r.json['id']}/sync", member.token), 409, "no-files-view")
    # Another org's member cannot sync (or see) it.
    assert is_problem(srv.call("POST", f"/api/v1/envs/{r.json['id']}/sync", bmember.token), 404)
    stop(srv, member.token, r.json["id"])
