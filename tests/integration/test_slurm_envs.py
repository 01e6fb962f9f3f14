"""Environments on SLURM nodes, reached through the node's tunnel (src/tunnel): a web app, the
terminal and Jupyter run as SLURM jobs on a dev-cluster node (its own network namespace: the node
connects out to the server), become READY through the tunnel's health checks and are reached
through the proxy at the same address with the same auth (a kernel executes 1+1, the terminal
echoes); stopping one, or culling it when idle, ends its SLURM job and the tunnel's socket goes."""
from __future__ import annotations

import subprocess
import uuid

import pytest

from conftest import World, wait_until
from slurm_fixture import slurm_cluster, slurm_server  # noqa: F401
from test_envs import ECHO_APP, bearer, env_ws, execute, proxied, terminal_run, wait_state


@pytest.fixture(scope="module")
def setup(slurm_cluster, tmp_path_factory):
    srv = slurm_server(slurm_cluster, tmp_path_factory.mktemp("slurm-envs") / "data", cluster_keys={"poll_ms": 200})
    try:
        srv.admin = srv.admin_token()
        world = World(srv, srv.admin, prefix="t")
        r = srv.call("PUT", "/api/v1/apps/echo", srv.admin, json={
            "kind": "web", "title": "echo", "command": ["/usr/bin/python3", "-c", ECHO_APP], "health_path": "health",
            "defaults": {"cpus": 1, "mem_mb": 256}, "max": {"cpus": 2, "mem_mb": 1024}})
        assert r.status == 201, r
        r = srv.call("PUT", "/api/v1/apps/idle3", srv.admin, json={
            "kind": "web", "command": ["/usr/bin/python3", "-c", ECHO_APP], "health_path": "h",
            "defaults": {"cpus": 1, "mem_mb": 256}, "idle_timeout_s": 3})
        assert r.status == 201, r
        yield srv, world
    finally:
        srv.stop(30)


def launch(srv, token, project_id, app, **kw):
    r = srv.call("POST", f"/api/v1/projects/{project_id}/envs", token,
                 json={"app": app, "partition": "slurm", "time_limit_s": 600, **kw})
    assert r.status == 201, r
    return r.json


def job_of(srv, env):
    return srv.call("GET", f"/api/v1/jobs/{env['job_id']}", srv.admin).json


def test_web_app_on_a_node_through_the_tunnel(setup):
    srv, w = setup
    member = w.a.users["member"]
    env = wait_state(srv, member.token, launch(srv, member.token, w.a.org_project["id"], "echo")["id"], timeout=120)
    job = job_of(srv, env)
    assert job["partition"] == "slurm" and job["slurm"]["job_id"], job
    sock = srv.data_dir / "tunnels" / f"{env['job_id']}.sock"
    assert sock.is_socket()
    r = proxied(srv, "GET", env["url"] + "some/path?x=1", member.token)
    assert r.status == 200, r
    assert r.json["path"].endswith("some/path?x=1")
    assert member.token not in str(r.json["headers"])  # Atrium's credentials never reach the app
    outsider = w.b.users["member"]
    assert proxied(srv, "GET", env["url"], outsider.token).status == 404
    # The proxy reaches the app only through the tunnel, never through the app's socket on the
    # shared filesystem (which a real cluster's server cannot connect to): without the node's
    # `atrium tunnel`, the app is unreachable although it still runs.
    subprocess.run(["pkill", "-f", f"tunnel --server .* --job {env['job_id']}"], check=True)
    wait_until(lambda: not sock.exists(), 30, 0.05, "the tunnel's socket to go")
    assert (srv.data_dir / "envs" / env["id"] / "run" / "app.sock").is_socket()
    assert proxied(srv, "GET", env["url"] + "some/path", member.token).status != 200
    r = srv.call("POST", f"/api/v1/envs/{env['id']}/stop", member.token)
    assert r.status in (200, 409), r
    wait_state(srv, member.token, env["id"], ("STOPPED",), 90)
    wait_until(lambda: job_of(srv, env)["state"] in ("CANCELLED", "COMPLETED"), 60, 0.1, "its SLURM job to end")
    wait_until(lambda: not sock.exists(), 60, 0.1, "the tunnel's socket to go")


def test_terminal_on_a_node_echoes(setup):
    srv, w = setup
    member = w.a.users["member"]
    env = wait_state(srv, member.token, launch(srv, member.token, w.a.org_project["id"], "terminal")["id"], timeout=120)
    ws = env_ws(srv, env["url"] + "websocket", headers=bearer(member.token))
    terminal_run(ws, "echo node-$((40+2))", r"node-42")
    ws.close()
    srv.call("POST", f"/api/v1/envs/{env['id']}/stop", member.token)
    wait_state(srv, member.token, env["id"], ("STOPPED",), 90)


def test_jupyter_on_a_node_executes(setup):
    srv, w = setup
    member = w.a.users["member"]
    env = launch(srv, member.token, w.a.org_project["id"], "jupyter", cpus=1, mem_mb=1024)
    env = wait_state(srv, member.token, env["id"], timeout=180)
    base = env["url"]
    k = proxied(srv, "POST", base + "api/kernels", member.token, {"Content-Type": "application/json"},
                b'{"name": "python3"}')
    assert k.status == 201, k
    chan = f"{base}api/kernels/{k.json['id']}/channels?session_id={uuid.uuid4().hex}"
    ws = env_ws(srv, chan, headers=bearer(member.token), subprotocols=["v1.kernel.websocket.jupyter.org"])
    assert execute(ws, "1+1", v1=True) == "2"
    ws.close()
    srv.call("POST", f"/api/v1/envs/{env['id']}/stop", member.token)
    wait_state(srv, member.token, env["id"], ("STOPPED",), 90)


def test_culling_stops_the_slurm_job(setup):
    srv, w = setup
    member = w.a.users["member"]
    env = wait_state(srv, member.token, launch(srv, member.token, w.a.org_project["id"], "idle3")["id"], timeout=120)
    env = wait_state(srv, member.token, env["id"], ("STOPPED",), 90)
    assert env["reason"] == "idle for 3 s", env
    wait_until(lambda: job_of(srv, env)["state"] in ("CANCELLED", "COMPLETED"), 60, 0.1, "its SLURM job to end")
    assert job_of(srv, env)["slurm"]["job_id"]
