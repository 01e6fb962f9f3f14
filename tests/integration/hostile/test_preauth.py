"""Work done before anyone is known: each test performs an attack on what the server reads, holds
or waits for before a caller is authenticated and allowed (issue 14), and checks that it is refused
cheaply: bodies are not read (the server answers before the client has sent them, nothing is
spooled), connection slots are capped and expire, and proxied upstreams and tunnels have limits.

Deadlines are set to 1-2 s by config; the tests wait for the server's own action (an answer, a
closed socket) with a bounded read, never for a fixed time.
"""
from __future__ import annotations

import base64
import json as jsonlib
import os
import socket
import sys
import urllib.parse
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from conftest import USER_PASSWORD, Server, World, is_problem, list_all, wait_until  # noqa: E402

BIG = 100 * 1024 * 1024  # the body the attacker announces: 100 MB
CHUNK = 60 * 1024 * 1024  # an upload chunk under data.max_chunk_bytes (64 MiB), held in memory once read
ANSWER_WITHIN = 15.0     # a bounded read: the server answers long before this, or the test fails


def announce(port: int, method: str, path: str, length: int | None = BIG, headers: dict[str, str] | None = None,
             first: bytes = b"", src: str | None = None) -> socket.socket:
    """Opens a connection and sends a request header announcing a `length`-byte body (None:
    chunked), then `first` bytes of it, and nothing more."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    if src:
        s.bind((src, 0))
    s.settimeout(ANSWER_WITHIN)
    s.connect(("127.0.0.1", port))
    hs = {"Host": f"127.0.0.1:{port}", **(headers or {})}
    if length is None:
        hs["Transfer-Encoding"] = "chunked"
    else:
        hs["Content-Length"] = str(length)
    head = f"{method} {path} HTTP/1.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in hs.items()) + "\r\n"
    s.sendall(head.encode() + first)
    return s


def read_answer(s: socket.socket) -> tuple[int, dict[str, str], bytes]:
    """Reads one response (status, headers, body) with the socket's timeout; a timeout fails the
    test: the server was still waiting for the body."""
    buf = b""
    while b"\r\n\r\n" not in buf:
        d = s.recv(65536)
        assert d, f"connection closed without an answer: {buf!r}"
        buf += d
    head, _, rest = buf.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    hs: dict[str, str] = {}
    for line in lines[1:]:
        k, _, v = line.partition(":")
        hs[k.strip().lower()] = (hs[k.strip().lower()] + ", " if k.strip().lower() in hs else "") + v.strip()
    n = int(hs.get("content-length", "0"))
    while len(rest) < n:
        d = s.recv(65536)
        if not d:
            break
        rest += d
    return status, hs, rest[:n]


def closed_by_server(s: socket.socket, within: float = ANSWER_WITHIN) -> bool:
    """True when the server closes the connection (EOF or reset) within `within` seconds; what it
    sends before (an answer) is read and dropped."""
    s.settimeout(within)
    try:
        while True:
            d = s.recv(65536)
            if not d:
                return True
    except (ConnectionResetError, BrokenPipeError):
        return True
    except socket.timeout:
        return False


def spooled(srv: Server) -> list[str]:
    d = srv.data_dir / "git" / "tmp"
    return sorted(p.name for p in d.iterdir() if p.name.startswith("body-")) if d.is_dir() else []


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def scoped_token(srv: Server, username: str, scopes: list[str]) -> str:
    return srv.login_token(username, USER_PASSWORD, scopes=scopes, name="scoped")


@pytest.fixture(scope="module")
def w(server) -> World:
    return World(server, server.admin, prefix="pa")


# ---------------------------------------------------------------------------- bodies


def test_unauthenticated_git_push_is_refused_before_its_pack_is_spooled(server, w):
    org, proj = w.a.slug, "shared"
    for length in (BIG, None):  # Content-Length, and chunked
        first = b"0" * 65536 if length else b"10000\r\n" + b"0" * 65536
        s = announce(server.port, "POST", f"/{org}/{proj}.git/git-receive-pack", length,
                     {"Content-Type": "application/x-git-receive-pack-request"}, first)
        try:
            status, hs, body = read_answer(s)
            assert status == 401, body
            assert "Basic" in hs.get("www-authenticate", "")
            assert spooled(server) == []
            assert closed_by_server(s)
        finally:
            s.close()
    # Nor a fetch's negotiation.
    s = announce(server.port, "POST", f"/{org}/{proj}.git/git-upload-pack", BIG)
    try:
        assert read_answer(s)[0] == 401
        assert spooled(server) == []
    finally:
        s.close()


def test_unauthenticated_upload_chunk_is_refused_before_it_is_read(server, w):
    member = w.a.users["member"]
    r = server.call("POST", f"/api/v1/projects/{w.a.org_project['id']}/uploads", member.token,
                    json={"path": "big.bin", "size": BIG})
    assert r.status == 201, r
    s = announce(server.port, "PATCH", f"/api/v1/uploads/{r.json['id']}", CHUNK,
                 {"Upload-Offset": "0", "Content-Type": "application/offset+octet-stream"}, b"x" * 65536)
    try:
        status, _, body = read_answer(s)
        assert status == 401, body
        assert closed_by_server(s)
    finally:
        s.close()
    # The upload did not move.
    assert server.call("GET", f"/api/v1/uploads/{r.json['id']}", member.token).json["offset"] == 0


def test_unauthenticated_api_body_is_refused_before_it_is_read(server):
    # Under limits.max_body_bytes (1 MiB), so the old size check let it through to be read.
    s = announce(server.port, "POST", "/api/v1/orgs", 1_000_000, {"Content-Type": "application/json"}, b"{")
    try:
        status, hs, body = read_answer(s)
        assert status == 401, body
        assert jsonlib.loads(body)["type"].endswith("unauthenticated")
    finally:
        s.close()
    # A bad token too, and a route that does not exist (404 before the body).
    s = announce(server.port, "POST", "/api/v1/orgs", 1_000_000, bearer("atr_not-a-real-token"))
    try:
        assert read_answer(s)[0] == 401
    finally:
        s.close()
    s = announce(server.port, "PUT", "/api/v1/no-such-thing", 1_000_000)
    try:
        assert read_answer(s)[0] in (404, 405)
    finally:
        s.close()
    # A signed-in caller's body is read as before.
    assert server.call("GET", "/api/v1/auth/session", server.admin).status == 200
    r = server.call("POST", "/api/v1/orgs", server.admin, json={"slug": "pa-fine", "name": "Fine"})
    assert r.status == 201, r


def test_push_without_write_permission_is_refused_before_its_pack(server, w):
    viewer = w.a.users["viewer"]
    outsider = w.b.users["member"]
    reader = scoped_token(server, w.a.users["member"].username, ["code:read"])
    cases = [
        (viewer.token, f"/{w.a.slug}/shared.git/git-receive-pack", (403,)),      # sees it, may not push
        (outsider.token, f"/{w.a.slug}/shared.git/git-receive-pack", (404,)),    # another tenant's
        (outsider.token, f"/{w.a.slug}/shared.git/git-upload-pack", (404,)),     # nor fetch it
        (reader, f"/{w.a.slug}/shared.git/git-receive-pack", (403,)),            # the token's scopes
    ]
    for token, path, want in cases:
        auth = "Basic " + base64.b64encode(f"x:{token}".encode()).decode()
        s = announce(server.port, "POST", path, BIG, {"Authorization": auth}, b"0" * 65536)
        try:
            status, _, body = read_answer(s)
            assert status in want, (path, body)
            assert spooled(server) == []
        finally:
            s.close()


def test_chunk_without_permission_is_refused_before_it_is_read(server, w):
    member = w.a.users["member"]
    r = server.call("POST", f"/api/v1/projects/{w.a.org_project['id']}/uploads", member.token,
                    json={"path": "other.bin", "size": BIG})
    assert r.status == 201, r
    up = r.json["id"]
    no_files = scoped_token(server, member.username, ["projects:read"])
    cases = [
        (no_files, 403),                          # the uploader's own token without files:write
        (w.a.users["org-admin"].token, 404),      # someone else's upload
        (w.b.users["org-admin"].token, 404),      # another tenant
    ]
    for token, want in cases:
        s = announce(server.port, "PATCH", f"/api/v1/uploads/{up}", CHUNK, {**bearer(token), "Upload-Offset": "0"},
                     b"x" * 65536)
        try:
            status, _, body = read_answer(s)
            assert status == want, body
        finally:
            s.close()
    # The uploader's chunk that does not fit (larger than the upload) is refused from its header too.
    r = server.call("POST", f"/api/v1/projects/{w.a.org_project['id']}/uploads", member.token,
                    json={"path": "small.bin", "size": 1000})
    assert r.status == 201, r
    s = announce(server.port, "PATCH", f"/api/v1/uploads/{r.json['id']}", CHUNK,
                 {**bearer(member.token), "Upload-Offset": "0"})
    try:
        status, _, body = read_answer(s)
        assert status == 400, body
    finally:
        s.close()


def test_spooled_push_cannot_eat_the_disk_reserve(make_server):
    # A reserve larger than any disk: every spooled body would eat into it.
    srv = make_server(env={"ATRIUM_DATA_RESERVE_BYTES": str(1 << 50)})
    admin = srv.admin_token()
    r = srv.call("POST", "/api/v1/orgs", admin, json={"slug": "rsv", "name": "Reserve"})
    assert r.status == 201, r
    assert srv.call("POST", f"/api/v1/orgs/{r.json['id']}/projects", admin, json={"slug": "p", "name": "P"}).status == 201
    auth = "Basic " + base64.b64encode(f"admin:{admin}".encode()).decode()
    for length in (1 << 20, None):
        s = announce(srv.port, "POST", "/rsv/p.git/git-receive-pack", length, {"Authorization": auth},
                     b"" if length else b"10000\r\n" + b"0" * 65536)
        try:
            status, _, body = read_answer(s)
            assert status == 507, body
            assert spooled(srv) == []
        finally:
            s.close()


# ---------------------------------------------------------------------------- connection slots


def test_idle_sockets_over_the_per_ip_cap_do_not_lock_out_a_signed_in_client(make_server):
    srv = make_server(env={"ATRIUM_LIMITS_MAX_CONNECTIONS": "24", "ATRIUM_LIMITS_MAX_CONNECTIONS_PER_IP": "8"})
    admin = srv.admin_token()
    # 40 idle sockets from another address (127.0.0.2 is loopback too), more than the whole
    # server's cap.
    idle = []
    try:
        for _ in range(40):
            s = socket.socket()
            s.bind(("127.0.0.2", 0))
            s.settimeout(ANSWER_WITHIN)
            s.connect(("127.0.0.1", srv.port))
            idle.append(s)
        # A signed-in client is served, on new connections, again and again.
        for _ in range(5):
            r = srv.call("GET", "/api/v1/auth/session", admin)
            assert r.status == 200, r
        # And the attacker holds no more than its cap: the oldest were closed to make room.
        assert sum(closed_by_server(s, 5) for s in idle[:32]) == 32
    finally:
        for s in idle:
            s.close()
    # Even from the same address, a new connection gets in by closing an idle stranger.
    idle = []
    try:
        for _ in range(20):
            idle.append(srv.connect())
        assert srv.call("GET", "/api/v1/auth/session", admin).status == 200
    finally:
        for s in idle:
            s.close()


def fill_until_refused(srv: Server, req: bytes, at_most: int, held: list) -> tuple | None:
    """Opens up to `at_most` keep-alive connections, each sending `req`: those answered 200 go to
    `held` (still open); the first answered 429 is returned as (socket, body), else None."""
    for _ in range(at_most):
        s = srv.connect(ANSWER_WITHIN)
        s.sendall(req)
        status, _, body = read_answer(s)
        if status == 429:
            return s, body
        assert status == 200, body
        held.append(s)
    return None


def test_one_user_cannot_hold_more_than_the_per_user_cap(make_server):
    srv = make_server(env={"ATRIUM_LIMITS_MAX_CONNECTIONS_PER_USER": "3"})
    admin = srv.admin_token()
    req = f"GET /api/v1/auth/session HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {admin}\r\n\r\n".encode()
    held = []
    try:
        # Keep-alive connections, each signed in as the same user: the fourth cannot be one of
        # them (a connection of the sign-in above that is still closing may take a slot too).
        refused = fill_until_refused(srv, req, 4, held)
        assert refused is not None, "a fourth connection of one user was served"
        assert jsonlib.loads(refused[1])["type"].endswith("too-many-connections")
        assert closed_by_server(refused[0])
        refused[0].close()
        # Closing them frees their slots.
        for s in held:
            s.close()
        held = []
        wait_until(lambda: raw_status(srv, req) == 200, 10, 0.05, "a freed slot")
    finally:
        for s in held:
            s.close()


def raw_status(srv: Server, req: bytes) -> int:
    with srv.connect(ANSWER_WITHIN) as s:
        s.sendall(req)
        return read_answer(s)[0]


def test_preauth_idle_socket_is_closed_after_the_deadline(make_server):
    srv = make_server(env={"ATRIUM_LIMITS_PREAUTH_TIMEOUT_S": "1", "ATRIUM_LIMITS_IDLE_TIMEOUT_S": "600",
                           "ATRIUM_LIMITS_HEADER_TIMEOUT_S": "600"})
    admin = srv.admin_token()
    silent = srv.connect(ANSWER_WITHIN)                   # sends nothing
    trickle = srv.connect(ANSWER_WITHIN)                  # a header that never ends
    trickle.sendall(b"GET /api/v1/auth/session HTTP/1.1\r\nHost: x\r\n")
    public = srv.connect(ANSWER_WITHIN)                   # only anonymous requests
    public.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
    signed = srv.connect(ANSWER_WITHIN)                   # an authenticated request
    req = f"GET /api/v1/auth/session HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {admin}\r\n\r\n".encode()
    signed.sendall(req)
    assert read_answer(signed)[0] == 200
    try:
        assert closed_by_server(silent)
        assert closed_by_server(trickle)
        assert closed_by_server(public)
        # The signed-in connection outlived the deadline (the others were closed after it) and
        # still serves.
        signed.sendall(req)
        assert read_answer(signed)[0] == 200
    finally:
        for s in (silent, trickle, public, signed):
            s.close()
    assert 'atrium_http_connections_cut_total{reason="preauth_timeout"}' in srv.call("GET", "/metrics", admin).text


# ---------------------------------------------------------------------------- the environment proxy

# A web app on the environment's socket: /hang never answers; a WebSocket upgrade is accepted
# and then stays silent; anything else is 200.
HANG_APP = r'''
import base64, hashlib, os, socket, threading
path = os.environ["ATRIUM_SOCKET"]
try: os.unlink(path)
except FileNotFoundError: pass
srv = socket.socket(socket.AF_UNIX)
srv.bind(path)
srv.listen(64)
def serve(c):
    buf = b""
    while b"\r\n\r\n" not in buf:
        d = c.recv(65536)
        if not d: return
        buf += d
    head = buf.split(b"\r\n\r\n")[0].decode("latin-1").split("\r\n")
    hs = {k.strip().lower(): v.strip() for k, _, v in (l.partition(":") for l in head[1:])}
    if "/hang" in head[0]:
        while c.recv(65536): pass
        return
    if hs.get("upgrade", "").lower() == "websocket":
        key = hs["sec-websocket-key"] + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
        acc = base64.b64encode(hashlib.sha1(key.encode()).digest()).decode()
        c.sendall(("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                   "Sec-WebSocket-Accept: " + acc + "\r\n\r\n").encode())
        while c.recv(65536): pass
        return
    c.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok")
    c.close()
while True:
    c, _ = srv.accept()
    threading.Thread(target=serve, args=(c,), daemon=True).start()
'''


@pytest.fixture(scope="module")
def env_srv(tmp_path_factory):
    s = Server(tmp_path_factory.mktemp("preauth-envs"), env={
        "ATRIUM_COMPUTE_CPUS": "8", "ATRIUM_COMPUTE_MEM_MB": "16384",
        "ATRIUM_LIMITS_UPSTREAM_HEADER_TIMEOUT_S": "1", "ATRIUM_LIMITS_TUNNEL_IDLE_TIMEOUT_S": "1"}).start()
    s.admin = s.admin_token()
    try:
        yield s
    finally:
        try:
            for p in list_all(s, "/api/v1/projects", s.admin):
                for e in list_all(s, f"/api/v1/projects/{p['id']}/envs?active=true", s.admin):
                    s.call("POST", f"/api/v1/envs/{e['id']}/stop", s.admin)
        except (AssertionError, OSError):
            pass
        try:
            s.stop(60)
        except AssertionError:
            s.kill9()


def launch_hang(srv: Server, admin: str, slug: str) -> dict:
    """A READY environment of the `hang` web app (HANG_APP) in a new org `slug`."""
    r = srv.call("PUT", "/api/v1/apps/hang", admin, json={
        "kind": "web", "title": "hang", "command": ["/usr/bin/python3", "-c", HANG_APP], "health_path": "health",
        "defaults": {"cpus": 1, "mem_mb": 256}, "max": {"cpus": 1, "mem_mb": 256}})
    assert r.status in (200, 201), r
    r = srv.call("POST", "/api/v1/orgs", admin, json={"slug": slug, "name": slug})
    assert r.status == 201, r
    p = srv.call("POST", f"/api/v1/orgs/{r.json['id']}/projects", admin, json={"slug": "p", "name": "P"})
    assert p.status == 201, p
    e = srv.call("POST", f"/api/v1/projects/{p.json['id']}/envs", admin, json={"app": "hang"})
    assert e.status in (201, 202), e

    def ready():
        x = srv.call("GET", f"/api/v1/envs/{e.json['id']}", admin).json
        return x if x["state"] in ("READY", "FAILED", "STOPPED") else None
    env = wait_until(ready, 90, 0.05, "the environment to be ready")
    assert env["state"] == "READY", env
    return env


@pytest.fixture(scope="module")
def hang_env(env_srv):
    return launch_hang(env_srv, env_srv.admin, "hang")


def env_origin(url: str) -> tuple[str, str]:
    """An environment's URL -> (its Host, its path): each environment is served on its own origin."""
    u = urllib.parse.urlsplit(url)
    return u.netloc, u.path or "/"


def test_upstream_that_never_answers_gets_504_after_the_header_deadline(env_srv, hang_env):
    host, path = env_origin(hang_env["url"])
    assert env_srv.raw("GET", path + "ok", headers={"Host": host, **bearer(env_srv.admin)}).status == 200
    s = env_srv.connect(ANSWER_WITHIN)
    try:
        s.sendall(f"GET {path}hang HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {env_srv.admin}\r\n\r\n".encode())
        status, _, body = read_answer(s)
        assert status == 504, body
        assert jsonlib.loads(body)["type"].endswith("env-timeout")
    finally:
        s.close()


def test_idle_tunnel_is_closed_after_the_idle_limit(env_srv, hang_env):
    s = env_srv.connect(ANSWER_WITHIN)
    try:
        key = base64.b64encode(os.urandom(16)).decode()
        host, path = env_origin(hang_env["url"])
        s.sendall((f"GET {path}ws HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {env_srv.admin}\r\n"
                   f"Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"
                   f"Sec-WebSocket-Key: {key}\r\n\r\n").encode())
        buf = b""
        while b"\r\n\r\n" not in buf:
            d = s.recv(65536)
            assert d, buf
            buf += d
        assert buf.startswith(b"HTTP/1.1 101"), buf
        # Nobody says anything: the server closes the tunnel at the idle limit.
        assert closed_by_server(s)
    finally:
        s.close()


def test_proxied_connections_count_against_their_user(make_server):
    # A request the proxy forwards used to make its connection nobody's: out of the per-IP and
    # per-user caps, never evicted. One user (or a guest link) could then hold every slot.
    srv = make_server(env={"ATRIUM_LIMITS_MAX_CONNECTIONS_PER_USER": "3", "ATRIUM_COMPUTE_CPUS": "8",
                           "ATRIUM_COMPUTE_MEM_MB": "16384"})
    admin = srv.admin_token()
    env = launch_hang(srv, admin, "capped")
    host, path = env_origin(env["url"])
    req = f"GET {path}ok HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {admin}\r\n\r\n".encode()
    held = []
    try:
        refused = fill_until_refused(srv, req, 4, held)
        assert refused is not None, "a fourth proxied connection of one user was served"
        assert jsonlib.loads(refused[1])["type"].endswith("too-many-connections")
        refused[0].close()
    finally:
        for s in held:
            s.close()
        srv.call("POST", f"/api/v1/envs/{env['id']}/stop", admin)  # and ended before the server stops
        wait_until(lambda: srv.call("GET", f"/api/v1/envs/{env['id']}", admin).json["state"] in ("STOPPED", "FAILED"),
                   60, 0.05, "the environment to stop")
