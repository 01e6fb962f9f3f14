"""Hostile environments: what a tenant can plant in the trees its environment's uid writes (the run
directory, the home) or swap in for its app's socket, and what it can do to its environment's job
through the jobs API.

- Root never creates, chmods or chowns through a link planted there: the target stays as it was.
- An environment's job is held, released and requeued only through the environment (409 job-managed).
- The proxy and the health checks connect only to a socket owned by the environment's uid, never
  through a link: another environment's socket, or anyone else's, never gets the owner's traffic.
"""
from __future__ import annotations

import os
import shutil
import socket
import stat
import threading
from pathlib import Path

import pytest

from conftest import env_suite_server, is_problem, wait_until, World
from test_envs import ECHO_APP, ENV_SERVER, launch, proxied, stop, wait_state


@pytest.fixture(scope="module")
def srv(tmp_path_factory):
    with env_suite_server(tmp_path_factory, "envtrees", ENV_SERVER) as s:
        yield s


@pytest.fixture(scope="module")
def w(srv) -> World:
    world = World(srv, srv.admin, prefix="t")
    for name, cmd, extra in (("echo", ["/usr/bin/python3", "-c", ECHO_APP], {}),
                             # never binds its socket: STARTING until the spawn timeout
                             ("mute", ["/bin/sleep", "600"], {"spawn_timeout_s": 3})):
        r = srv.call("PUT", f"/api/v1/apps/{name}", srv.admin, json={
            "kind": "web", "title": name, "command": cmd, "health_path": "health",
            "defaults": {"cpus": 1, "mem_mb": 256}, "max": {"cpus": 2, "mem_mb": 1024}, **extra})
        assert r.status == 201, r
    return world


def snapshot(p: Path):
    st = os.lstat(p)
    return (st.st_mode, st.st_uid, st.st_gid, sorted(os.listdir(p)) if stat.S_ISDIR(st.st_mode) else None)


def a_target(tmp_path: Path) -> Path:
    """A root-owned directory standing for /usr or /etc: nothing may change it."""
    t = tmp_path / "target"
    t.mkdir()
    (t / "keep").write_text("root's\n")
    os.chmod(t, 0o755)
    return t


class Listener:
    """A unix socket the test owns (root), counting the connections it gets."""

    def __init__(self, path: Path):
        self.path = path
        self.accepted = 0
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.bind(str(path))
        self.sock.listen(16)
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self):
        while True:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            self.accepted += 1
            try:
                c.recv(65536)
                c.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 6\r\nConnection: close\r\n\r\nstolen")
            finally:
                c.close()

    def close(self):
        self.sock.close()


def run_dir(srv, env_id) -> Path:
    return srv.data_dir / "envs" / env_id / "run"


def replace_with_link(path: Path, target: Path):
    """What the env's uid can do in its own run directory."""
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    tmp = path.with_name(path.name + ".planted")
    os.symlink(target, tmp)
    os.rename(tmp, path)


# ---------------------------------------------------------------------------- the trees


def test_symlinked_run_jupyter_then_requeue_does_not_chown_target(srv, w, tmp_path):
    member = w.a.users["member"]
    env = wait_state(srv, member.token, launch(srv, member.token, w.a.org_project["id"], "echo").json["id"])
    target = a_target(tmp_path)
    before = snapshot(target)
    # The env's uid owns its run directory: it swaps run/jupyter for a link to a host directory and
    # asks for its job to run again (prepare() would chmod and chown run/jupyter as root).
    replace_with_link(run_dir(srv, env["id"]) / "jupyter", target)
    r = srv.call("POST", f"/api/v1/jobs/{env['job_id']}/requeue", member.token)
    assert is_problem(r, 409, "job-managed"), r
    assert srv.call("GET", f"/api/v1/envs/{env['id']}", member.token).json["state"] == "READY"
    stop(srv, member.token, env["id"])
    assert snapshot(target) == before
    assert (target / "keep").read_text() == "root's\n"
    assert not run_dir(srv, env["id"]).exists()


def test_symlinked_home_is_refused_and_its_target_untouched(srv, w, tmp_path):
    owner = w.a.users["org-admin"]
    pid = w.a.project["id"]
    target = a_target(tmp_path)
    before = snapshot(target)
    home = srv.data_dir / "homes" / pid / owner.id
    home.parent.mkdir(parents=True, exist_ok=True)
    os.symlink(target, home)
    try:
        r = launch(srv, owner.token, pid, "echo")
        assert r.status == 201, r
        env = wait_state(srv, owner.token, r.json["id"], ("READY", "FAILED"))
        assert snapshot(target) == before, "root changed what the home link points to"
        assert env["state"] == "FAILED", env
    finally:
        home.unlink()
    # A real home works again.
    env = wait_state(srv, owner.token, launch(srv, owner.token, pid, "echo").json["id"])
    st = os.lstat(home)
    assert stat.S_ISDIR(st.st_mode) and st.st_mode & 0o777 == 0o700 and st.st_uid != 0
    stop(srv, owner.token, env["id"])


def test_hold_release_requeue_of_an_env_job_are_refused(srv, w):
    member = w.a.users["member"]
    env = wait_state(srv, member.token, launch(srv, member.token, w.a.org_project["id"], "echo").json["id"])
    for verb in ("hold", "release", "requeue"):
        for who in (member.token, srv.admin):
            r = srv.call("POST", f"/api/v1/jobs/{env['job_id']}/{verb}", who)
            assert is_problem(r, 409, "job-managed"), (verb, r)
            assert r.json.get("managed_by") == "environment", r.json
    job = srv.call("GET", f"/api/v1/jobs/{env['job_id']}", member.token).json
    assert job["state"] == "RUNNING" and job["requeue_count"] == 0 and not job["held"], job
    assert srv.call("GET", f"/api/v1/envs/{env['id']}", member.token).json["state"] == "READY"
    # Cancelling stays possible: it ends the environment.
    r = srv.call("POST", f"/api/v1/jobs/{env['job_id']}/cancel", member.token)
    assert r.status == 200, r
    wait_state(srv, member.token, env["id"], ("STOPPED",), 60)
    # A batch job of the same user is still requeued as before.
    r = srv.call("POST", f"/api/v1/projects/{w.a.org_project['id']}/jobs", member.token,
                 json={"command": ["/bin/true"], "cpus": 1, "mem_mb": 64, "hold": True})
    assert r.status == 201, r
    assert srv.call("POST", f"/api/v1/jobs/{r.json['id']}/release", member.token).status == 200


# ---------------------------------------------------------------------------- the app's socket


@pytest.fixture(scope="module")
def victim(srv, w):
    """Another user's READY environment (org B's member), whose socket a tenant would aim at."""
    other = w.b.users["member"]
    env = wait_state(srv, other.token, launch(srv, other.token, w.b.org_project["id"], "echo").json["id"])
    yield env
    stop(srv, other.token, env["id"])


def test_app_sock_linked_to_another_envs_socket_is_not_forwarded(srv, w, victim):
    member = w.a.users["member"]
    env = wait_state(srv, member.token, launch(srv, member.token, w.a.org_project["id"], "echo").json["id"])
    assert proxied(srv, "GET", env["url"] + "x", member.token).status == 200
    replace_with_link(run_dir(srv, env["id"]) / "app.sock", run_dir(srv, victim["id"]) / "app.sock")
    r = proxied(srv, "GET", env["url"] + "steal?probe=", member.token)
    assert r.status == 502, r  # never the victim's answer (which would carry its uid and its token)
    assert b"Authorization" not in r.body
    stop(srv, member.token, env["id"])


def test_app_sock_replaced_by_a_socket_of_another_uid_is_not_forwarded(srv, w, tmp_path):
    member = w.a.users["member"]
    env = wait_state(srv, member.token, launch(srv, member.token, w.a.org_project["id"], "echo").json["id"])
    sock = run_dir(srv, env["id"]) / "app.sock"
    # A socket the test (root) owns, in place and through a link.
    planted = Listener(tmp_path / "root.sock")
    try:
        os.unlink(sock)
        in_place = Listener(sock)
        try:
            r = proxied(srv, "GET", env["url"] + "x", member.token)
            assert r.status == 502, r
            assert in_place.accepted == 0
        finally:
            in_place.close()
        os.unlink(sock)
        replace_with_link(sock, planted.path)
        r = proxied(srv, "GET", env["url"] + "x", member.token)
        assert r.status == 502, r
        assert planted.accepted == 0
    finally:
        planted.close()
    stop(srv, member.token, env["id"])


def test_health_check_never_follows_a_planted_socket_link(srv, w, tmp_path):
    member = w.a.users["member"]
    r = launch(srv, member.token, w.a.org_project["id"], "mute")
    assert r.status == 201, r
    eid = r.json["id"]
    wait_state(srv, member.token, eid, ("STARTING",))
    planted = Listener(tmp_path / "host.sock")  # answers 200 to anything: a "healthy" app
    try:
        wait_until(lambda: run_dir(srv, eid).exists(), 30, 0.02, "the run directory")
        replace_with_link(run_dir(srv, eid) / "app.sock", planted.path)
        env = wait_state(srv, member.token, eid, ("READY", "FAILED"), 60)
        assert env["state"] == "FAILED" and "did not become ready" in env["reason"], env
        assert planted.accepted == 0
    finally:
        planted.close()


def test_token_link_is_not_read_as_root_after_a_restart(make_server, tmp_path):
    # The server keeps each environment's token in memory and reads the run directory's token file
    # again after a restart, as root: a link there to a host file would send that file's content
    # to the app (as "Authorization: token ...", which the echo app answers with).
    srv = make_server(env=ENV_SERVER)
    adm = srv.admin_token()
    org = srv.call("POST", "/api/v1/orgs", adm, json={"slug": "tk", "name": "TK"}).json["id"]
    pid = srv.call("POST", f"/api/v1/orgs/{org}/projects", adm, json={"slug": "p", "name": "P"}).json["id"]
    r = srv.call("PUT", "/api/v1/apps/echo", adm, json={
        "kind": "web", "title": "echo", "command": ["/usr/bin/python3", "-c", ECHO_APP], "health_path": "health"})
    assert r.status == 201, r
    env = wait_state(srv, adm, launch(srv, adm, pid, "echo", cpus=1, mem_mb=256).json["id"])
    secret = tmp_path / "host-secret"
    secret.write_text("host-secret-0123456789")
    os.chmod(secret, 0o600)
    srv.kill9()
    token = run_dir(srv, env["id"]) / "token"
    token.unlink()
    os.symlink(secret, token)
    srv.restart()
    r = proxied(srv, "GET", env["url"] + "x", adm)
    assert b"host-secret" not in r.body, r.body
    assert r.status != 200, r
    stop(srv, adm, env["id"])
