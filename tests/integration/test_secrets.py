"""Secrets: per-user and per-project values, sealed at rest, set and listed (never read back), and
injected by name into jobs and environments as variables or files under /run/secrets.

Every response of the module's server is recorded, and the last test checks that no secret value
appears in any of them, in the audit export, in the server's output or in any file of its data
directory (the database holds them sealed; the sandbox spec on disk holds none).
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from conftest import (ATRIUM_BIN, SERVE_H_ON_ATRIUM_SOCKET, USER_PASSWORD, Server, World, add_member, base_env,
                      create_user, is_problem, list_all, stop_envs_then_server, wait_until)
from images_fixture import build_oci_image, busybox_rootfs, oci_registry  # noqa: F401

SERVER_ENV = {"ATRIUM_IMAGES_INSECURE_REGISTRIES": "127.0.0.1:*", "ATRIUM_COMPUTE_CPUS": "8", "ATRIUM_COMPUTE_MEM_MB": "8192", "ATRIUM_COMPUTE_GPUS": "0",
              "ATRIUM_COMPUTE_KILL_GRACE_S": "1"}
TERMINAL = {"COMPLETED", "FAILED", "CANCELLED", "TIMEOUT", "OUT_OF_MEMORY", "NODE_FAIL"}

# The values: distinctive, so that a leak anywhere is found by a plain search.
API_KEY = "sk-live-7a1c9e4b2f-user-api-key"
CERT = "-----BEGIN KEY-----\nq9Zr3-file-secret-Wx82\n-----END KEY-----\n"
PROJECT_TOKEN = "prj-tok-55e0d1c3-project-value"
USER_SHARED = "shared-user-wins-91ab"
PROJECT_SHARED = "shared-project-loses-07cd"
REPLACED = "sk-old-value-replaced-3f3f"
VALUES = [API_KEY, CERT.strip(), "q9Zr3-file-secret-Wx82", PROJECT_TOKEN, USER_SHARED, PROJECT_SHARED, REPLACED]


def sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


class Recording(Server):
    """A server whose every API answer (status line, headers, body) is kept for the leak check."""

    def __init__(self, *a, **kw):
        super().__init__(*a, **kw)
        self.answers: list[str] = []

    def call(self, method, path, token=None, **kw):
        r = super().call(method, path, token, **kw)
        self.answers.append(f"{method} {path} {r.status} {r.headers.items!r} {r.text}")
        return r


class Env:
    def __init__(self, srv: Recording):
        self.srv = srv
        self.world = World(srv, srv.admin, prefix="s")
        a = self.world.a
        self.owner = a.users["org-admin"]       # owns a.project
        self.member = a.users["member"]
        self.viewer = a.users["viewer"]
        self.project = a.project
        u = create_user(srv, srv.admin, "s-a-maint")
        add_member(srv, srv.admin, a.id, u["id"], "member")
        self.maint = srv.login_token("s-a-maint", USER_PASSWORD)
        for uid, role in ((self.member.id, "member"), (self.viewer.id, "viewer"), (u["id"], "maintainer")):
            r = srv.call("POST", f"/api/v1/projects/{self.project['id']}/members", self.owner.token,
                         json={"user_id": uid, "role": role})
            assert r.status == 201, r
        self.b_admin = self.world.b.users["org-admin"]
        self.b_project = self.world.b.project

    def psecrets(self, name: str = "") -> str:
        return f"/api/v1/projects/{self.project['id']}/secrets" + (f"/{name}" if name else "")

    def submit(self, token: str, **body):
        body.setdefault("time_limit_s", 60)
        body.setdefault("mem_mb", 256)
        return self.srv.call("POST", f"/api/v1/projects/{self.project['id']}/jobs", token, json=body)

    def wait_job(self, token: str, job_id: str, timeout: float = 30) -> dict:
        last: dict = {}

        def done():
            nonlocal last
            last = self.srv.call("GET", f"/api/v1/jobs/{job_id}", token).json
            return last if last["state"] in TERMINAL else None
        try:
            return wait_until(done, timeout, 0.05, f"job {job_id} to end")
        except AssertionError as e:
            raise AssertionError(f"{e}; last seen: {last}\n{self.srv.output()[-3000:]}") from None

    def stdout(self, token: str, job_id: str) -> str:
        r = self.srv.call("GET", f"/api/v1/jobs/{job_id}/logs?stream=stdout", token)
        assert r.status == 200, r
        return r.body.decode()


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    srv = Recording(tmp_path_factory.mktemp("secrets"), env=SERVER_ENV).start()
    srv.admin = srv.admin_token()
    try:
        yield Env(srv)
    finally:
        stop_envs_then_server(srv)


def put(srv, token, path, value, if_match=None, **extra):
    return srv.call("PUT", path, token, json={"value": value, **extra}, if_match=if_match)


# ---------------------------------------------------------------------------- the routes


def test_user_secrets_create_list_update_delete(env):
    srv, me = env.srv, env.member
    path = "/api/v1/me/secrets/API_KEY"
    r = put(srv, me.token, path, REPLACED, description="the lab's API key")
    assert r.status == 201, r
    assert r.json["name"] == "API_KEY" and r.json["scope"] == "user" and r.json["created_by"] == me.id, r
    assert "value" not in r.json and r.headers["etag"] == r.json["etag"]
    items = list_all(srv, "/api/v1/me/secrets", me.token)
    assert [(i["name"], i["description"]) for i in items] == [("API_KEY", "the lab's API key")], items
    # Replacing needs the current ETag; a stale one is refused.
    assert is_problem(put(srv, me.token, path, API_KEY), 428)
    assert is_problem(put(srv, me.token, path, API_KEY, if_match='"v9"'), 412)
    r2 = put(srv, me.token, path, API_KEY, if_match=r.json["etag"])
    assert r2.status == 200 and r2.json["version"] == 2 and r2.json["description"] == "the lab's API key", r2
    assert srv.call("GET", path, me.token).json["etag"] == r2.json["etag"]
    # Nobody else sees it: another user's list is their own.
    assert list_all(srv, "/api/v1/me/secrets", env.viewer.token) == []
    # A second one, then removed (If-Match again).
    tmp = "/api/v1/me/secrets/TEMP_ONE"
    r3 = put(srv, me.token, tmp, "temporary-value-x")
    assert r3.status == 201
    assert is_problem(srv.call("DELETE", tmp, me.token), 428)
    assert srv.call("DELETE", tmp, me.token, if_match=r3.json["etag"]).status == 204
    assert is_problem(srv.call("GET", tmp, me.token), 404)
    assert is_problem(srv.call("DELETE", tmp, me.token, if_match="*"), 404)
    # A token without a secrets scope cannot read or write them.
    narrow = srv.login_token(me.username, USER_PASSWORD, scopes=["jobs:*"])
    assert is_problem(srv.call("GET", "/api/v1/me/secrets", narrow), 403)
    assert is_problem(put(srv, narrow, tmp, "x-value"), 403)


def test_project_secrets_follow_project_roles(env):
    srv = env.srv
    r = put(srv, env.owner.token, env.psecrets("HF_TOKEN"), PROJECT_TOKEN, description="hub")
    assert r.status == 201 and r.json["scope"] == "project" and r.json["project_id"] == env.project["id"], r
    assert put(srv, env.maint, env.psecrets("SHARED"), PROJECT_SHARED).status == 201
    names = [i["name"] for i in list_all(srv, env.psecrets(), env.member.token)]
    assert names == ["HF_TOKEN", "SHARED"]
    # A project member uses and lists them, but does not set or remove them.
    assert is_problem(put(srv, env.member.token, env.psecrets("HF_TOKEN"), "member-try", if_match="*"), 403)
    assert is_problem(put(srv, env.member.token, env.psecrets("NEW_ONE"), "member-try"), 403)
    assert is_problem(srv.call("DELETE", env.psecrets("HF_TOKEN"), env.member.token, if_match="*"), 403)
    # A viewer cannot run jobs: the secrets are not theirs to see.
    assert is_problem(srv.call("GET", env.psecrets(), env.viewer.token), 404)
    # Another org: the project does not exist for them.
    for method in ("GET", "DELETE"):
        assert is_problem(srv.call(method, env.psecrets("HF_TOKEN"), env.b_admin.token, if_match="*"), 404)
    assert is_problem(srv.call("GET", env.psecrets(), env.b_admin.token), 404)
    assert is_problem(put(srv, env.b_admin.token, env.psecrets("HF_TOKEN"), "b-try", if_match="*"), 404)
    # And their own project's secrets are not A's.
    assert put(srv, env.b_admin.token, f"/api/v1/projects/{env.b_project['id']}/secrets/B_ONLY", "b-value").status == 201
    assert is_problem(srv.call("GET", f"/api/v1/projects/{env.b_project['id']}/secrets", env.owner.token), 404)
    assert srv.call("GET", env.psecrets("HF_TOKEN"), env.owner.token).json["version"] == 1  # nothing changed


def test_bad_names_and_values_change_nothing(env):
    srv, me = env.srv, env.member
    before = list_all(srv, "/api/v1/me/secrets", me.token)
    for name in ("lower", "PATH", "LD_PRELOAD", "ATRIUM_TOKEN", "9START", "A-B", "X" * 65):
        assert is_problem(put(srv, me.token, f"/api/v1/me/secrets/{name}", "v"), 400), name
    path = "/api/v1/me/secrets/GOOD_NAME"
    assert is_problem(put(srv, me.token, path, "x" * (64 * 1024 + 1)), 413)
    assert is_problem(put(srv, me.token, path, ""), 400)
    assert is_problem(put(srv, me.token, path, "a\u0000b"), 400)
    assert is_problem(srv.call("PUT", path, me.token, json={"value": 5}), 400)
    assert is_problem(srv.call("PUT", path, me.token, json={"value": "v", "extra": 1}), 400)
    assert is_problem(put(srv, me.token, path, "v", description="x" * 501), 400)
    assert is_problem(put(srv, me.token, path, "v", if_match='"v1"'), 412)  # nothing to match
    assert list_all(srv, "/api/v1/me/secrets", me.token) == before
    # Exactly the limit is fine.
    r = put(srv, me.token, path, "y" * (64 * 1024))
    assert r.status == 201, r
    assert srv.call("DELETE", path, me.token, if_match=r.json["etag"]).status == 204


# ---------------------------------------------------------------------------- jobs


JOB_SCRIPT = r"""
printf %s "$API_KEY" | sha256sum | cut -c1-64
sha256sum < /run/secrets/CERT | cut -c1-64
printf %s "$HF_TOKEN" | sha256sum | cut -c1-64
printf %s "$SHARED" | sha256sum | cut -c1-64
stat -c '%a %u' /run/secrets/CERT
id -u
touch /run/secrets/NEW 2>/dev/null && echo writable || echo read-only
test -e /run/secrets/API_KEY && echo leaked-file || echo no-file
"""


def test_job_gets_env_and_file_secrets(env):
    srv, me = env.srv, env.member
    assert put(srv, me.token, "/api/v1/me/secrets/CERT", CERT).status == 201
    assert put(srv, me.token, "/api/v1/me/secrets/SHARED", USER_SHARED).status == 201
    r = env.submit(me.token, script=JOB_SCRIPT, env={"PLAIN": "1"},
                   secrets=["API_KEY", "CERT:file", "HF_TOKEN", "SHARED"])
    assert r.status == 201, r
    assert r.json["env"] == {"PLAIN": "1"}, r.json
    job = env.wait_job(me.token, r.json["id"])
    assert job["state"] == "COMPLETED", job
    assert job["secrets"] == ["API_KEY", "CERT:file", "HF_TOKEN", "SHARED"] and job["env"] == {"PLAIN": "1"}, job
    lines = env.stdout(me.token, job["id"]).split("\n")
    # The user's SHARED wins over the project's of the same name.
    assert lines[:4] == [sha(API_KEY), sha(CERT), sha(PROJECT_TOKEN), sha(USER_SHARED)], lines
    uid = lines[5]
    assert lines[4] == f"400 {uid}" and lines[6:8] == ["read-only", "no-file"], lines
    # spec.json on disk names no value (the leak check below also reads every file).
    specs = list(Path(srv.data_dir, "jobs", job["id"]).glob("run*/spec.json"))
    assert specs and all(API_KEY not in p.read_text() and "API_KEY" not in p.read_text() for p in specs)


def test_missing_or_foreign_secrets_refuse_the_submission(env):
    srv = env.srv
    # The viewer's own secret exists, but only for the viewer: the member cannot name it.
    assert put(srv, env.viewer.token, "/api/v1/me/secrets/VIEWER_KEY", "viewer-own-value-1").status == 201
    before = len(list_all(srv, f"/api/v1/projects/{env.project['id']}/jobs", env.owner.token))
    for secrets in (["VIEWER_KEY"], ["NOPE"], ["B_ONLY"], ["API_KEY", "NOPE:file"]):
        r = env.submit(env.member.token, command=["true"], secrets=secrets)
        assert is_problem(r, 422, "secret-not-found") and r.json["secret"] == secrets[-1].split(":")[0], r
    for bad in (["lower"], "API_KEY", ["API_KEY", "API_KEY:file"], ["API_KEY:disk"], [f"S{i}" for i in range(33)]):
        assert is_problem(env.submit(env.member.token, command=["true"], secrets=bad), 400), bad
    # A token without secrets:read may submit jobs, but not with secrets (the same 422: nothing told).
    narrow = srv.login_token(env.member.username, USER_PASSWORD, scopes=["jobs:*", "projects:read", "code:read"])
    r = env.submit(narrow, command=["true"], secrets=["API_KEY"])
    assert is_problem(r, 422, "secret-not-found"), r
    assert env.submit(narrow, command=["true"]).status == 201
    before += 1
    # A secret variable may not shadow one of env.
    r = env.submit(env.member.token, command=["true"], env={"API_KEY": "x"}, secrets=["API_KEY"])
    assert is_problem(r, 400) and r.json["field"] == "secrets", r
    assert len(list_all(srv, f"/api/v1/projects/{env.project['id']}/jobs", env.owner.token)) == before


def test_secret_removed_after_submission_fails_the_job(env):
    srv, me = env.srv, env.member
    r = put(srv, me.token, "/api/v1/me/secrets/GOES_AWAY", "soon-gone-value-x")
    assert r.status == 201
    j = env.submit(me.token, command=["true"], secrets=["GOES_AWAY"], hold=True)
    assert j.status == 201, j
    assert srv.call("DELETE", "/api/v1/me/secrets/GOES_AWAY", me.token, if_match=r.json["etag"]).status == 204
    assert srv.call("POST", f"/api/v1/jobs/{j.json['id']}/release", me.token).status == 200
    done = env.wait_job(me.token, j.json["id"])
    assert done["state"] == "FAILED", done
    ends = [e for e in done["events"] if e["to"] == "FAILED"]
    assert ends and "GOES_AWAY" in str(ends[-1]) and "no longer exists" in str(ends[-1]), done["events"]


HAS_IMAGE_TOOLS = all(shutil.which(t) for t in ("umoci", "skopeo", "docker-registry"))


@pytest.mark.skipif(not HAS_IMAGE_TOOLS, reason="needs umoci, skopeo and docker-registry")
def test_job_on_an_image_gets_secret_files(env, oci_registry, tmp_path):
    """An image with its own /run (here /run/lock): the image stays read-only, /run becomes an
    underlay holding its entries beside the secrets' tmpfs."""
    srv, pid = env.srv, env.project["id"]
    root = busybox_rootfs(tmp_path / "rootfs")
    (root / "run" / "lock").mkdir(parents=True)
    oci_registry.push(build_oci_image(root, tmp_path / "layout", "v1"), "v1", "test/busybox-run")
    r = srv.call("POST", f"/api/v1/projects/{pid}/images", env.owner.token,
                 json={"name": "busybox", "source": oci_registry.ref("test/busybox-run", "v1")})
    assert r.status in (201, 202), r

    def pulled():
        g = srv.call("GET", f"/api/v1/images/{r.json['id']}", env.owner.token).json
        return g if g["state"] != "pending" else None
    assert wait_until(pulled, 120, 0.05, "the image to be pulled")["state"] == "ready"
    script = 'head -1 /etc/os-release; sha256sum < /run/secrets/CERT; printf %s "$API_KEY" | sha256sum; ls /run'
    j = env.submit(env.member.token, script=script, image="busybox", secrets=["API_KEY", "CERT:file"])
    assert j.status == 201, j
    done = env.wait_job(env.member.token, j.json["id"])
    assert done["state"] == "COMPLETED", done
    lines = env.stdout(env.member.token, done["id"]).split("\n")
    assert lines[0] == "ID=atrium-test" and lines[1].split()[0] == sha(CERT), lines
    assert lines[2].split()[0] == sha(API_KEY) and lines[3:5] == ["lock", "secrets"], lines


# ---------------------------------------------------------------------------- environments


ENV_APP_SCRIPT = ('printf %s "$API_KEY" | sha256sum >&2; sha256sum < /run/secrets/CERT >&2; '
                  'exec /usr/bin/python3 -c "$0"')
ECHO = r'''
import os, socketserver, http.server
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")
    def log_message(self, *a): pass
''' + SERVE_H_ON_ATRIUM_SOCKET


def test_environment_gets_secrets(env):
    srv, me = env.srv, env.member
    r = srv.call("PUT", "/api/v1/apps/secret-echo", srv.admin, json={
        "kind": "web", "title": "secret echo", "command": ["/bin/sh", "-c", ENV_APP_SCRIPT, ECHO],
        "health_path": "health", "defaults": {"cpus": 1, "mem_mb": 256}, "max": {"cpus": 1, "mem_mb": 512}})
    assert r.status == 201, r
    path = f"/api/v1/projects/{env.project['id']}/envs"
    assert is_problem(srv.call("POST", path, me.token, json={"app": "secret-echo", "secrets": ["NOPE"]}), 422)
    r = srv.call("POST", path, me.token, json={"app": "secret-echo", "secrets": ["API_KEY", "CERT:file"]})
    assert r.status == 201, r
    e = r.json
    assert e["secrets"] == ["API_KEY", "CERT:file"], e

    def ready():
        x = srv.call("GET", f"/api/v1/envs/{e['id']}", me.token).json
        return x if x["state"] in ("READY", "FAILED", "STOPPED") else None
    x = wait_until(ready, 60, 0.05, "the environment to be READY")
    assert x["state"] == "READY", x
    job = srv.call("GET", f"/api/v1/jobs/{x['job_id']}", me.token).json
    assert job["secrets"] == ["API_KEY", "CERT:file"] and API_KEY not in str(job), job
    err = srv.call("GET", f"/api/v1/jobs/{x['job_id']}/logs?stream=stderr", me.token).body.decode()
    assert sha(API_KEY) in err and sha(CERT) in err, err
    assert srv.call("POST", f"/api/v1/envs/{e['id']}/stop", me.token).status == 200


# ---------------------------------------------------------------------------- the CLI


CLI_VALUE = "cli-typed-value-6d2e"
VALUES.append(CLI_VALUE)


def test_cli_sets_lists_and_removes(env, tmp_path):
    srv = env.srv

    def cli(*args, stdin=None, token=env.owner.token):
        e = base_env(admin_password=None)
        e.update(ATRIUM_CONFIG_DIR=str(tmp_path), ATRIUM_SERVER_URL=srv.base, ATRIUM_TOKEN=token)
        p = subprocess.run([ATRIUM_BIN, *args], input=stdin, capture_output=True, text=True, env=e, timeout=60)
        assert CLI_VALUE not in p.stdout + p.stderr, p  # the CLI never prints a value either
        return p

    p = cli("secret", "set", "CLI_KEY", "--description", "from the cli", stdin=CLI_VALUE + "\n")
    assert p.returncode == 0 and "Created secret CLI_KEY" in p.stdout, p
    p = cli("secret", "set", "CLI_KEY", stdin=CLI_VALUE + "\n")  # replaced: the CLI sends the ETag
    assert p.returncode == 0 and "Replaced secret CLI_KEY" in p.stdout, p
    proj = ["--project", env.project["id"]]
    assert cli("secret", "set", "CLI_PROJECT", *proj, stdin=CLI_VALUE).returncode == 0
    assert cli("secret", "set", "CLI_PROJECT", *proj, stdin=CLI_VALUE, token=env.member.token).returncode != 0
    listed = cli("secret", "list", *proj)
    assert listed.returncode == 0 and "CLI_PROJECT" in listed.stdout and "HF_TOKEN" in listed.stdout, listed
    mine = json.loads(cli("secret", "list", "--json").stdout)
    assert [i["name"] for i in mine["items"]] == ["CLI_KEY"] and mine["items"][0]["version"] == 2, mine
    # The stored value is what was piped, without echo's newline: a job sees exactly it.
    r = env.submit(env.owner.token, script='printf %s "$CLI_KEY" | sha256sum | cut -c1-64', secrets=["CLI_KEY"])
    assert r.status == 201, r
    assert env.wait_job(env.owner.token, r.json["id"])["state"] == "COMPLETED"
    assert env.stdout(env.owner.token, r.json["id"]).strip() == sha(CLI_VALUE)
    assert cli("secret", "set", "CLI_EMPTY", stdin="").returncode != 0
    for args in (("secret", "rm", "CLI_KEY"), ("secret", "rm", "CLI_PROJECT", *proj)):
        p = cli(*args)
        assert p.returncode == 0 and "Removed secret" in p.stdout, p
    assert is_problem(srv.call("GET", "/api/v1/me/secrets/CLI_KEY", env.owner.token), 404)


# ---------------------------------------------------------------------------- nothing leaks


def test_values_never_leak(env):
    srv = env.srv
    export = srv.call("GET", "/api/v1/audit/export", srv.admin)
    assert export.status == 200
    audit = export.body.decode(errors="replace")
    assert "secret.create" in audit and "secret.update" in audit and "secret.delete" in audit
    outputs = "\n".join(srv.stdout_snapshot() + srv.stderr_snapshot())
    answers = "\n".join(srv.answers)
    for v in VALUES:
        assert v not in answers, f"a secret value is in an API answer: {v}"
        assert v not in audit, f"a secret value is in the audit export: {v}"
        assert v not in outputs, f"a secret value is in the server's output: {v}"
    # At rest: nothing under the data directory holds a value in the clear (the database seals them).
    needles = [v.encode() for v in VALUES]
    for root, _, files in os.walk(srv.data_dir):
        for f in files:
            p = Path(root, f)
            try:
                data = p.read_bytes()
            except OSError:
                continue
            for n in needles:
                assert n not in data, f"{p} holds a secret value in the clear"
