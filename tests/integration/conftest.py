"""Shared helpers for the integration suite: boot the real `atrium` binary on port 0 with a
temporary data directory and talk to it over HTTP with the standard library only.

ATRIUM_BIN names the binary (ctest sets it); without it, <repo>/build/src/atrium is used.
"""
from __future__ import annotations

import contextlib
import http.client
import json as jsonlib
import os
import signal
import socket
import subprocess
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]
ATRIUM_BIN = os.environ.get("ATRIUM_BIN") or str(REPO / "build" / "src" / "atrium")
ADMIN_PASSWORD = "admin-password-for-tests"
USER_PASSWORD = "user-password-for-tests"

_MISSING = object()


def base_env(extra: dict[str, str] | None = None, admin_password: str | None = ADMIN_PASSWORD) -> dict[str, str]:
    """The environment for a child atrium: ours without any ATRIUM_* (the server rejects unknown
    ATRIUM_ variables, and ctest sets ATRIUM_BIN), plus the given overrides."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ATRIUM_")}
    if admin_password is not None:
        env["ATRIUM_ADMIN_PASSWORD"] = admin_password
    # Keep worker pools small: the suite runs on 2 shared cores.
    env.setdefault("ATRIUM_SERVER_IO_THREADS", "2")
    env.setdefault("ATRIUM_SERVER_WORKER_THREADS", "4")
    # A blocking call (the database, a service lock) on an I/O thread aborts the server: a bug.
    env["ATRIUM_STRICT_THREADS"] = "1"
    if extra:
        env.update(extra)
    return env


def wait_until(pred, timeout: float, interval: float = 0.02, what: str = "condition"):
    """Polls pred() until it returns a truthy value or the deadline passes."""
    deadline = time.monotonic() + timeout
    while True:
        v = pred()
        if v:
            return v
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)


# ---------------------------------------------------------------------------- HTTP client


class Headers:
    """Case-insensitive, multi-valued response headers."""

    def __init__(self, items: list[tuple[str, str]]):
        self.items = items

    def get(self, name: str, default=None):
        n = name.lower()
        for k, v in self.items:
            if k.lower() == n:
                return v
        return default

    def get_all(self, name: str) -> list[str]:
        n = name.lower()
        return [v for k, v in self.items if k.lower() == n]

    def __contains__(self, name: str) -> bool:
        return self.get(name) is not None

    def __getitem__(self, name: str) -> str:
        v = self.get(name)
        if v is None:
            raise KeyError(name)
        return v

    def __repr__(self):
        return f"Headers({self.items!r})"


class Resp:
    def __init__(self, status: int, headers: Headers, body: bytes, method: str = "", path: str = ""):
        self.status = status
        self.headers = headers
        self.body = body
        self.method = method
        self.path = path
        self.text = body.decode("utf-8", "replace")
        ct = (headers.get("content-type") or "").split(";")[0].strip()
        self.content_type = ct
        self.json: Any = None
        if ct in ("application/json", "application/problem+json") and body:
            try:
                self.json = jsonlib.loads(body)
            except ValueError:
                self.json = None

    @property
    def etag(self) -> str | None:
        return self.headers.get("etag")

    def __getitem__(self, k):
        return self.json[k]

    def __repr__(self):
        return f"<Resp {self.method} {self.path} -> {self.status} {self.text[:400]!r}>"


def raw_request(port: int, method: str, path: str, body: bytes | None = None,
                headers: dict[str, str] | None = None, timeout: float = 30.0) -> Resp:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        hs = dict(headers or {})
        # A Host header of the caller's (an environment's own origin, reached on 127.0.0.1) replaces the default.
        conn.putrequest(method, path, skip_accept_encoding=True, skip_host=any(k.lower() == "host" for k in hs))
        if body is not None and not any(k.lower() == "content-length" for k in hs):
            hs["Content-Length"] = str(len(body))
        for k, v in hs.items():
            conn.putheader(k, v)
        conn.endheaders(body)
        r = conn.getresponse()
        data = r.read()
        return Resp(r.status, Headers(list(r.getheaders())), data, method, path)
    finally:
        conn.close()


def call(port: int, method: str, path: str, token: str | None = None, json: Any = _MISSING,
         body: bytes | str | None = None, headers: dict[str, str] | None = None,
         cookies: dict[str, str] | None = None, csrf: str | None = None, if_match: str | None = None,
         idem: str | None = None, timeout: float = 30.0) -> Resp:
    hs: dict[str, str] = {}
    if token:
        hs["Authorization"] = f"Bearer {token}"
    if cookies:
        hs["Cookie"] = "; ".join(f"{k}={v}" for k, v in cookies.items())
    if csrf:
        hs["X-CSRF-Token"] = csrf
    if if_match is not None:
        hs["If-Match"] = if_match
    if idem is not None:
        hs["Idempotency-Key"] = idem
    data: bytes | None = None
    if json is not _MISSING:
        data = jsonlib.dumps(json).encode()
        hs["Content-Type"] = "application/json"
    elif body is not None:
        data = body.encode() if isinstance(body, str) else body
    if headers:
        hs.update(headers)
    return raw_request(port, method, path, data, hs, timeout)


def is_problem(r: Resp, status: int | None = None, type_slug: str | None = None) -> bool:
    """Asserts r is an RFC 9457 problem (with the given status / type slug); returns True."""
    assert r.content_type == "application/problem+json", r
    j = r.json
    assert isinstance(j, dict), r
    for k in ("type", "status", "detail", "request_id", "title", "instance"):
        assert k in j, (k, r)
    assert j["type"].startswith("urn:atrium:problem:"), r
    assert j["status"] == r.status, r
    assert j["request_id"] == r.headers.get("x-request-id"), r
    if status is not None:
        assert r.status == status, r
    if type_slug is not None:
        assert j["type"] == f"urn:atrium:problem:{type_slug}", r
    return True


def parse_cookies(r: Resp) -> dict[str, dict[str, Any]]:
    """Set-Cookie headers -> {name: {"value": v, "attrs": {lower-name: value or True}}}."""
    out: dict[str, dict[str, Any]] = {}
    for sc in r.headers.get_all("set-cookie"):
        parts = [p.strip() for p in sc.split(";")]
        name, _, value = parts[0].partition("=")
        attrs: dict[str, Any] = {}
        for p in parts[1:]:
            k, eq, v = p.partition("=")
            attrs[k.lower()] = v if eq else True
        out[name] = {"value": value, "attrs": attrs}
    return out


# ---------------------------------------------------------------------------- server process


class Server:
    """One `atrium server` process on 127.0.0.1:0 with its own data directory."""

    def __init__(self, data_dir: Path, env: dict[str, str] | None = None, args: list[str] | None = None,
                 admin_password: str | None = ADMIN_PASSWORD, listen: str | None = "127.0.0.1:0"):
        """listen: passed as --listen unless args has one; None passes no --listen at all."""
        self.data_dir = Path(data_dir)
        self.listen = listen
        self.env_overrides = dict(env or {})
        self.args = list(args or [])
        self.admin_password = admin_password
        self.proc: subprocess.Popen | None = None
        self.port: int | None = None
        self.stdout_lines: list[str] = []
        self.stderr_lines: list[str] = []
        self._threads: list[threading.Thread] = []
        self._listening = threading.Event()
        self._lock = threading.Lock()

    # -- lifecycle
    def command(self) -> list[str]:
        cmd = [ATRIUM_BIN, "server"]
        if self.listen is not None and not any(a == "--listen" or a.startswith("--listen=") for a in self.args):
            cmd += ["--listen", self.listen]
        if not any(a == "--data-dir" or a.startswith("--data-dir=") for a in self.args):
            cmd += ["--data-dir", str(self.data_dir)]
        return cmd + self.args

    def spawn(self) -> subprocess.Popen:
        """Starts the process without waiting for it to listen."""
        assert self.proc is None or self.proc.poll() is not None, "already running"
        assert os.access(ATRIUM_BIN, os.X_OK), f"no atrium binary at {ATRIUM_BIN}: build it or set ATRIUM_BIN"
        self.port = None
        self._listening.clear()
        with self._lock:
            self.stdout_lines = []
            self.stderr_lines = []
        self.proc = subprocess.Popen(self.command(), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, env=base_env(self.env_overrides, self.admin_password))
        self._threads = [
            threading.Thread(target=self._pump, args=(self.proc.stdout, self.stdout_lines, True), daemon=True),
            threading.Thread(target=self._pump, args=(self.proc.stderr, self.stderr_lines, False), daemon=True),
        ]
        for t in self._threads:
            t.start()
        return self.proc

    def _pump(self, stream, sink: list[str], is_stdout: bool):
        for raw in iter(stream.readline, b""):
            line = raw.decode("utf-8", "replace").rstrip("\n")
            with self._lock:
                sink.append(line)
            if is_stdout and self.port is None and line.startswith("atrium: listening on http"):
                self.port = int(line.rsplit(":", 1)[1])
                self._listening.set()
        stream.close()
        self._listening.set()  # wake a waiter if the process died

    def start(self, timeout: float = 60.0) -> "Server":
        self.spawn()
        deadline = time.monotonic() + timeout
        while not self._listening.wait(0.05):
            if time.monotonic() > deadline:
                self.kill9()
                raise AssertionError(f"atrium did not start in {timeout}s\n{self.output()}")
        if self.port is None:
            self.wait_exit(10)
            raise AssertionError(f"atrium exited before listening (rc={self.proc.returncode})\n{self.output()}")
        return self

    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def wait_exit(self, timeout: float) -> int:
        assert self.proc is not None
        rc = self.proc.wait(timeout)
        for t in self._threads:
            t.join(5)
        return rc

    def stop(self, timeout: float = 30.0) -> int:
        """SIGTERM and wait; returns the exit code."""
        if self.proc is None:
            return 0
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                return self.wait_exit(timeout)
            except subprocess.TimeoutExpired:
                self.kill9()
                raise AssertionError(f"atrium did not exit within {timeout}s of SIGTERM\n{self.output()}")
        return self.wait_exit(timeout)

    def kill9(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
        if self.proc is not None:
            self.wait_exit(30)

    def restart(self, timeout: float = 60.0) -> "Server":
        if self.running():
            self.stop()
        return self.start(timeout)

    def output(self) -> str:
        with self._lock:
            return "--- stdout\n" + "\n".join(self.stdout_lines[-50:]) + "\n--- stderr\n" + "\n".join(
                self.stderr_lines[-50:])

    def stdout_snapshot(self) -> list[str]:
        with self._lock:
            return list(self.stdout_lines)

    def stderr_snapshot(self) -> list[str]:
        with self._lock:
            return list(self.stderr_lines)

    # -- HTTP
    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def call(self, method: str, path: str, token: str | None = None, **kw) -> Resp:
        assert self.port is not None
        return call(self.port, method, path, token, **kw)

    def raw(self, method: str, path: str, body: bytes | None = None, headers: dict[str, str] | None = None) -> Resp:
        return raw_request(self.port, method, path, body, headers)

    def connect(self, timeout: float = 10.0) -> socket.socket:
        s = socket.create_connection(("127.0.0.1", self.port), timeout=timeout)
        return s

    # -- identity helpers
    def login(self, username: str, password: str, **kw) -> Resp:
        return self.call("POST", "/api/v1/auth/login", json={"username": username, "password": password}, **kw)

    def login_token(self, username: str, password: str, scopes: list[str] | None = None, name: str = "t") -> str:
        """Signs in with a session, then mints a bearer token with that session."""
        r = self.login(username, password)
        assert r.status == 200, r
        ck = parse_cookies(r)
        cookies = {"atrium_session": ck["atrium_session"]["value"]}
        body: dict[str, Any] = {"name": name}
        if scopes is not None:
            body["scopes"] = scopes
        t = self.call("POST", "/api/v1/tokens", json=body, cookies=cookies, csrf=r.json["csrf_token"])
        assert t.status == 201, t
        return t.json["token"]

    def admin_token(self) -> str:
        return self.login_token("admin", self.admin_password or ADMIN_PASSWORD, name="admin")


class Browser:
    """A cookie-authenticated client (session + CSRF token)."""

    def __init__(self, server: Server, username: str, password: str):
        self.server = server
        r = server.login(username, password)
        assert r.status == 200, r
        self.login_resp = r
        ck = parse_cookies(r)
        self.session = ck["atrium_session"]["value"]
        self.csrf = r.json["csrf_token"]
        self.session_id = r.json.get("session_id")
        self.user = r.json["user"]

    @property
    def cookies(self) -> dict[str, str]:
        return {"atrium_session": self.session, "atrium_csrf": self.csrf}

    def call(self, method: str, path: str, csrf: bool = True, **kw) -> Resp:
        return self.server.call(method, path, cookies=self.cookies, csrf=self.csrf if csrf else None, **kw)


def idempotency_rows_containing(srv: "Server", needle: str) -> int:
    """How many stored idempotent responses contain `needle` (read straight from the database)."""
    import sqlite3
    db = sqlite3.connect(f"file:{srv.data_dir / 'atrium.db'}?mode=ro", uri=True)
    try:
        return db.execute("SELECT COUNT(*) FROM idempotency_keys WHERE body LIKE ?", (f"%{needle}%",)).fetchone()[0]
    finally:
        db.close()


def new_key() -> str:
    return uuid.uuid4().hex


def list_all(srv: Server, path: str, token: str, limit: int = 200) -> list[dict]:
    """Follows a list endpoint's cursors to the end."""
    items: list[dict] = []
    sep = "&" if "?" in path else "?"
    after = None
    for _ in range(1000):
        p = f"{path}{sep}limit={limit}" + (f"&after={after}" if after else "")
        r = srv.call("GET", p, token)
        assert r.status == 200, r
        items += r.json["items"]
        after = r.json["next"]
        if not after:
            return items
    raise AssertionError("list did not end")

# The end of a test web app's source (python3 -c): serves its handler class H on the unix socket
# Atrium gives the app ($ATRIUM_SOCKET). The source imports os and socketserver.
SERVE_H_ON_ATRIUM_SOCKET = '''
class S(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True
    def get_request(self):
        r, _ = super().get_request()
        return r, ("local", 0)
path = os.environ["ATRIUM_SOCKET"]
try: os.unlink(path)
except FileNotFoundError: pass
S(path, H).serve_forever()
'''


@contextlib.contextmanager
def env_suite_server(tmp_path_factory, name: str, env: dict[str, str]):
    """A module's server for a suite that launches environments: started with `env`, `s.admin` an
    admin token, and torn down by stop_envs_then_server (no environment outlives the suite)."""
    s = Server(tmp_path_factory.mktemp(name), env=env).start()
    s.admin = s.admin_token()
    try:
        yield s
    finally:
        stop_envs_then_server(s)


def stop_envs_then_server(s: "Server") -> None:
    """A suite's teardown: no environment outlives it. Every project's active environments are
    stopped and waited for (as `s.admin`), then the server stops (killed if it does not)."""
    def active():
        return [e for p in list_all(s, "/api/v1/projects", s.admin)
                for e in list_all(s, f"/api/v1/projects/{p['id']}/envs?active=true", s.admin)]
    try:
        for e in active():
            if e["state"] != "STOPPING":
                s.call("POST", f"/api/v1/envs/{e['id']}/stop", s.admin)
        wait_until(lambda: not active(), 90, 0.1, "every environment to end")
    except (AssertionError, OSError):
        pass
    try:
        s.stop(60)
    except AssertionError:
        s.kill9()



# ---------------------------------------------------------------------------- world builder


class User:
    def __init__(self, username: str, id: str, token: str, password: str = USER_PASSWORD):
        self.username = username
        self.id = id
        self.token = token
        self.password = password

    def __repr__(self):
        return f"User({self.username})"


class Org:
    def __init__(self, slug: str, id: str):
        self.slug = slug
        self.id = id
        self.users: dict[str, User] = {}
        self.project: dict | None = None        # a private project owned by the org-admin
        self.org_project: dict | None = None    # visibility org, owned by the member
        self.group: dict | None = None
        self.role: dict | None = None           # a custom role (unused by members)
        self.invitation: dict | None = None     # an open invitation (role viewer)

    def __repr__(self):
        return f"Org({self.slug})"


def create_user(srv: Server, admin_token: str, username: str, password: str = USER_PASSWORD) -> dict:
    r = srv.call("POST", "/api/v1/users", admin_token, json={"username": username, "password": password})
    assert r.status == 201, r
    return r.json


def add_member(srv: Server, token: str, org: str, user_id: str, role: str) -> Resp:
    r = srv.call("POST", f"/api/v1/orgs/{org}/members", token, json={"user_id": user_id, "role": role})
    assert r.status == 201, r
    return r


class World:
    """Two orgs, A and B, each with an org-admin, a member and a viewer (each with a bearer token),
    a private project (owner: org-admin), an org-visible project (owner: member), a group, a custom
    role and an open invitation."""

    ROLES = ("org-admin", "member", "viewer")

    def __init__(self, srv: Server, admin: str, prefix: str = ""):
        self.srv = srv
        self.admin = admin
        self.orgs: dict[str, Org] = {}
        for name in ("a", "b"):
            slug = f"{prefix}org-{name}"
            r = srv.call("POST", "/api/v1/orgs", admin, json={"slug": slug, "name": f"Org {name.upper()}"})
            assert r.status == 201, r
            org = Org(slug, r.json["id"])
            self.orgs[name] = org
            for role in self.ROLES:
                uname = f"{prefix}{name}-{role}"
                u = create_user(srv, admin, uname)
                add_member(srv, admin, org.id, u["id"], role)
                tok = srv.login_token(uname, USER_PASSWORD)
                org.users[role] = User(uname, u["id"], tok)
            oa = org.users["org-admin"].token
            r = srv.call("POST", f"/api/v1/orgs/{org.id}/groups", oa, json={"slug": "g1", "name": "Group 1"})
            assert r.status == 201, r
            org.group = r.json
            r = srv.call("POST", f"/api/v1/groups/{org.group['id']}/members", oa,
                         json={"user_id": org.users["member"].id})
            assert r.status == 201, r
            r = srv.call("POST", f"/api/v1/orgs/{org.id}/projects", oa,
                         json={"slug": "secret", "name": f"Secret {name.upper()} zebra", "description": "private one"})
            assert r.status == 201, r
            org.project = r.json
            r = srv.call("POST", f"/api/v1/orgs/{org.id}/projects", org.users["member"].token,
                         json={"slug": "shared", "name": f"Shared {name.upper()}", "visibility": "org"})
            assert r.status == 201, r
            org.org_project = r.json
            r = srv.call("POST", f"/api/v1/orgs/{org.id}/roles", oa,
                         json={"name": "auditor", "description": "reads audit", "permissions": ["audit:read:org"]})
            assert r.status == 201, r
            org.role = r.json
            r = srv.call("POST", f"/api/v1/orgs/{org.id}/invitations", oa, json={"role": "viewer"})
            assert r.status == 201, r
            org.invitation = r.json

    @property
    def a(self) -> Org:
        return self.orgs["a"]

    @property
    def b(self) -> Org:
        return self.orgs["b"]


# ---------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def server(tmp_path_factory, request):
    """The module's server; a module may set SERVER_ENV (a dict of ATRIUM_* settings) for it."""
    srv = Server(tmp_path_factory.mktemp("atrium"), env=getattr(request.module, "SERVER_ENV", None)).start()
    try:
        srv.admin = srv.admin_token()
        yield srv
    finally:
        if srv.running():
            try:
                srv.stop(30)
            except AssertionError:
                srv.kill9()


@pytest.fixture(scope="module")
def admin(server) -> str:
    return server.admin


@pytest.fixture(scope="module")
def world(server) -> World:
    return World(server, server.admin)


@pytest.fixture
def make_server(tmp_path):
    """Factory for dedicated servers in a test; all are stopped at the end of the test."""
    started: list[Server] = []

    def make(env: dict[str, str] | None = None, args: list[str] | None = None, data_dir: Path | None = None,
             start: bool = True, admin_password: str | None = ADMIN_PASSWORD,
             listen: str | None = "127.0.0.1:0") -> Server:
        d = data_dir or (tmp_path / f"srv{len(started)}")
        srv = Server(d, env=env, args=args, admin_password=admin_password, listen=listen)
        started.append(srv)
        if start:
            srv.start()
        return srv

    yield make
    for s in started:
        if s.running():
            try:
                s.stop(20)
            except AssertionError:
                s.kill9()
