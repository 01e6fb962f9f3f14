"""HTTP behaviour: request ids, keep-alive, timeouts (slowloris, idle), graceful shutdown, health,
metrics, access log, OpenAPI document."""
import http.client
import json
import re
import signal
import socket
import time
import weakref

import pytest

from conftest import is_problem, wait_until

RID = re.compile(r"^[0-9a-f]{20}$")


def recv_until_closed(sock: socket.socket, limit_s: float) -> tuple[bytes, bool, float]:
    """Reads until the peer closes or limit_s passes; returns (data, closed, seconds)."""
    t0 = time.monotonic()
    data = b""
    sock.settimeout(limit_s)
    try:
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                return data, True, time.monotonic() - t0
            data += chunk
            sock.settimeout(max(0.01, limit_s - (time.monotonic() - t0)))
    except socket.timeout:
        return data, False, time.monotonic() - t0
    except ConnectionResetError:
        return data, True, time.monotonic() - t0


_pending: "weakref.WeakKeyDictionary[socket.socket, bytes]" = weakref.WeakKeyDictionary()  # bytes past a response


def read_response(sock: socket.socket) -> bytes:
    """Reads one complete response with a Content-Length from a keep-alive socket (bytes of a
    following response stay buffered for the next call)."""
    buf = _pending.pop(sock, b"")
    while b"\r\n\r\n" not in buf:
        chunk = sock.recv(65536)
        assert chunk, "connection closed before a response"
        buf += chunk
    head, _, rest = buf.partition(b"\r\n\r\n")
    m = re.search(rb"(?i)content-length:\s*(\d+)", head)
    n = int(m.group(1)) if m else 0
    while len(rest) < n:
        chunk = sock.recv(65536)
        assert chunk
        rest += chunk
    if rest[n:]:
        _pending[sock] = rest[n:]
    return head + b"\r\n\r\n" + rest[:n]


# ---------------------------------------------------------------------------- request ids


def test_request_id_generated_and_echoed(server):
    r = server.call("GET", "/healthz")
    assert RID.match(r.headers["x-request-id"]), r.headers
    r2 = server.call("GET", "/healthz")
    assert r2.headers["x-request-id"] != r.headers["x-request-id"]
    for sane in ("abc-123_x.y:z", "A" * 128, "0"):
        r = server.call("GET", "/healthz", headers={"X-Request-Id": sane})
        assert r.headers["x-request-id"] == sane
    for insane in ("has space", "A" * 129, "<script>", "semi;colon", "tab\there", "ünïcode", "a/b", "a,b"):
        r = server.call("GET", "/healthz", headers={"X-Request-Id": insane})
        rid = r.headers["x-request-id"]
        assert rid != insane and RID.match(rid), (insane, rid)
    # Problems carry the same id in the body.
    r = server.call("GET", "/api/v1/nope", headers={"X-Request-Id": "trace-me-1"})
    assert is_problem(r, 404) and r.json["request_id"] == "trace-me-1"
    assert r.json["instance"] == "urn:atrium:request:trace-me-1"


def test_json_responses_are_not_cached(server, admin):
    r = server.call("GET", "/api/v1/me", admin)
    assert r.headers["cache-control"] == "no-store"
    assert r.headers["content-type"].startswith("application/json")


def test_head_on_a_get_route(server):
    r = server.call("HEAD", "/healthz")
    assert r.status == 200 and r.body == b"" and int(r.headers["content-length"]) > 0


# ---------------------------------------------------------------------------- connections


def test_keep_alive_serves_several_requests_on_one_connection(server, admin):
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    try:
        conn.request("GET", "/healthz")
        r1 = conn.getresponse()
        assert r1.status == 200 and json.loads(r1.read()) == {"status": "ok"}
        sock = conn.sock
        assert sock is not None
        conn.request("GET", "/api/v1/me", headers={"Authorization": f"Bearer {admin}"})
        r2 = conn.getresponse()
        assert r2.status == 200 and json.loads(r2.read())["username"] == "admin"
        assert conn.sock is sock, "the second request reused the connection"
        conn.request("GET", "/api/v1/nope")
        r3 = conn.getresponse()
        assert r3.status == 404
        r3.read()
        assert conn.sock is sock, "a 404 keeps the connection open"
    finally:
        conn.close()


def test_http10_and_connection_close(server):
    s = server.connect()
    try:
        s.sendall(b"GET /healthz HTTP/1.0\r\n\r\n")
        data, closed, _ = recv_until_closed(s, 10)
        assert data.startswith(b"HTTP/1.0 200") and closed
    finally:
        s.close()
    s = server.connect()
    try:
        s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        data, closed, _ = recv_until_closed(s, 10)
        assert data.startswith(b"HTTP/1.1 200") and closed
    finally:
        s.close()


def test_pipelined_requests(server):
    s = server.connect()
    try:
        s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Request-Id: p1\r\n\r\n"
                  b"GET /readyz HTTP/1.1\r\nHost: x\r\nX-Request-Id: p2\r\n\r\n")
        one = read_response(s)
        two = read_response(s)
        assert b"X-Request-Id: p1" in one and b'"status":"ok"' in one
        assert b"X-Request-Id: p2" in two and b'"status":"ready"' in two
    finally:
        s.close()


@pytest.fixture
def fast_timeouts(make_server):
    return make_server(env={"ATRIUM_LIMITS_HEADER_TIMEOUT_S": "1", "ATRIUM_LIMITS_IDLE_TIMEOUT_S": "1"})


def test_slowloris_is_cut_off_after_the_header_timeout(fast_timeouts):
    srv = fast_timeouts
    s = srv.connect()
    try:
        s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ")
        data, closed, secs = recv_until_closed(s, 15)  # generous bound: a functional check, not a benchmark
        assert closed, "a stalled partial header must be disconnected"
        assert b"200" not in data
        assert secs < 12
    finally:
        s.close()
    # The server is still fine for others.
    assert srv.call("GET", "/healthz").status == 200


def test_idle_keep_alive_connection_is_closed(fast_timeouts):
    srv = fast_timeouts
    s = srv.connect()
    try:
        s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        assert read_response(s).startswith(b"HTTP/1.1 200")
        data, closed, secs = recv_until_closed(s, 15)
        assert closed and data == b"" and secs < 12
    finally:
        s.close()
    # A connection that never sends a byte is closed too.
    s = srv.connect()
    try:
        data, closed, _ = recv_until_closed(s, 15)
        assert closed and data == b""
    finally:
        s.close()


def test_stalled_body_is_cut_off_after_the_request_timeout(make_server):
    srv = make_server(env={"ATRIUM_LIMITS_REQUEST_TIMEOUT_S": "1"})
    s = srv.connect()
    try:
        s.sendall(b"POST /api/v1/orgs HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                  b"Content-Length: 100\r\n\r\n{\"slug\"")
        data, closed, secs = recv_until_closed(s, 15)
        assert closed and secs < 12
        assert not data.startswith(b"HTTP/1.1 2")
    finally:
        s.close()


def test_connection_limit(make_server):
    srv = make_server(env={"ATRIUM_LIMITS_MAX_CONNECTIONS": "3"})
    admin = srv.admin_token()
    held = [srv.connect() for _ in range(3)]
    try:
        # Over the limit, the oldest connection that has not signed in and sits between requests
        # is closed to make room: idle strangers cannot lock anyone out.
        extra = srv.connect()
        try:
            extra.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            assert read_response(extra).startswith(b"HTTP/1.1 200")
        finally:
            extra.close()
        data, closed, _ = recv_until_closed(held[0], 10)
        assert closed and data == b"", "the oldest idle connection made room"
    finally:
        for h in held:
            h.close()
    # Signed-in connections are never closed for a newcomer: with every slot held by one, a new
    # connection is answered 503 and closed.
    auth = f"GET /api/v1/auth/session HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {admin}\r\n\r\n".encode()
    signed = []
    try:
        refusal = None
        for _ in range(5):
            s = srv.connect()
            s.sendall(auth)
            first = s.recv(65536)
            if first.startswith(b"HTTP/1.1 503"):
                refusal = first
                s.close()
                break
            if first.startswith(b"HTTP/1.1 200"):
                signed.append(s)
            else:  # an idle stranger's slot was taken meanwhile: closed
                s.close()
        assert refusal is not None and b"too-many-connections" in refusal, refusal
        assert len(signed) <= 3
    finally:
        for s in signed:
            s.close()
    # Once they are gone, new connections are served again.
    wait_until(lambda: _can_connect(srv), 10, what="a free connection slot")


def _can_connect(srv) -> bool:
    try:
        return srv.call("GET", "/healthz").status == 200
    except (ConnectionError, http.client.HTTPException, OSError):
        return False


def refused(port) -> bool:
    try:
        c = socket.create_connection(("127.0.0.1", port), timeout=2)
    except (ConnectionRefusedError, OSError):
        return True
    c.close()
    return False


def test_sigterm_with_an_idle_keep_alive_connection(make_server):
    srv = make_server()
    port = srv.port
    s = srv.connect()
    try:
        s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        assert read_response(s).startswith(b"HTTP/1.1 200")
        t0 = time.monotonic()
        rc = srv.stop(timeout=15)
        assert rc == 0, srv.output()
        assert time.monotonic() - t0 < 10, "an idle connection must not hold up shutdown"
        data, closed, _ = recv_until_closed(s, 5)
        assert closed
    finally:
        s.close()
    assert refused(port)
    assert any("stopped" in line for line in srv.stderr_snapshot())


def test_sigterm_finishes_the_request_in_flight(make_server):
    srv = make_server()
    admin = srv.admin_token()
    org = srv.call("POST", "/api/v1/orgs", admin, json={"slug": "drain", "name": "Drain"}).json
    body = json.dumps({"slug": "in-flight", "name": "In flight"}).encode()
    s = srv.connect()
    try:
        # Header with Expect: 100-continue; the interim answer proves the server is reading this
        # request, so it is in flight when SIGTERM arrives. Then half of the body.
        s.sendall((f"POST /api/v1/orgs/{org['id']}/groups HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {admin}\r\n"
                   f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n"
                   f"Expect: 100-continue\r\n\r\n").encode())
        interim = b""
        while b"\r\n\r\n" not in interim:
            chunk = s.recv(1)
            assert chunk, "closed before 100 Continue"
            interim += chunk
        assert interim.startswith(b"HTTP/1.1 100"), interim
        s.sendall(body[:10])
        port = srv.port
        srv.proc.send_signal(signal.SIGTERM)
        wait_until(lambda: refused(port), 10, what="the listener to close after SIGTERM")
        assert srv.running(), "the server must wait for the request in flight"
        s.sendall(body[10:])
        resp = read_response(s)
        assert resp.startswith(b"HTTP/1.1 201"), resp
        assert b"Connection: close" in resp
        rc = srv.wait_exit(15)
        assert rc == 0
    finally:
        s.close()
    srv.start()
    groups = srv.call("GET", f"/api/v1/orgs/{org['id']}/groups", srv.admin_token()).json["items"]
    assert [g["slug"] for g in groups] == ["in-flight"]


# ---------------------------------------------------------------------------- health and metrics


def test_health_and_readiness(server):
    r = server.call("GET", "/healthz")
    assert r.status == 200 and r.json == {"status": "ok"}
    r = server.call("GET", "/readyz")
    assert r.status == 200 and r.json == {"status": "ready"}


SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{([a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\]|\\.)*",?)*\})? (\S+)$')


def test_metrics(server, admin, world):
    server.call("GET", f"/api/v1/orgs/{world.a.id}", admin)
    server.call("GET", f"/api/v1/projects/{world.a.project['id']}", admin)
    server.call("GET", "/api/v1/this-route-does-not-exist-xyz", admin)
    r = server.call("GET", "/metrics")
    assert r.status == 200 and r.headers["content-type"].startswith("text/plain")
    text = r.text
    families = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            if line.startswith("# TYPE"):
                _, _, name, kind = line.split(" ", 3)
                families[name] = kind
            continue
        m = SAMPLE.match(line)
        assert m, f"not a Prometheus sample line: {line!r}"
        float(m.group(4))
    assert families.get("atrium_http_requests_total") == "counter"
    assert families.get("atrium_http_request_duration_seconds") == "histogram"
    assert families.get("atrium_db_query_duration_seconds") == "histogram"
    assert families.get("atrium_http_open_connections") == "gauge"
    assert families.get("process_resident_memory_bytes") == "gauge"
    assert re.search(r'atrium_http_requests_total\{route="/api/v1/orgs/\{org\}",method="GET",status="200"\} [1-9]',
                     text)
    assert re.search(r'atrium_http_requests_total\{route="/api/v1/projects/\{id\}",method="GET",status="200"\} [1-9]',
                     text)
    assert re.search(r'atrium_http_requests_total\{route="unmatched",method="GET",status="404"\} [1-9]', text)
    assert re.search(r'atrium_http_request_duration_seconds_bucket\{route="/api/v1/orgs/\{org\}",method="GET",'
                     r'le="\+Inf"\} [1-9]', text)
    assert re.search(r"atrium_http_request_duration_seconds_count\{", text)
    assert re.search(r"atrium_db_query_duration_seconds_count [1-9]", text)
    assert re.search(r"^process_resident_memory_bytes [1-9]", text, re.M)
    assert re.search(r"^atrium_http_open_connections [1-9]", text, re.M)  # this very request's connection
    # Labels are route patterns: no ids, no raw unknown paths (bounded cardinality).
    assert world.a.id not in text and world.a.project["id"] not in text
    assert "this-route-does-not-exist-xyz" not in text


def test_metric_labels_are_bounded_for_unknown_methods(server):
    for m in ("XMETHODA", "XMETHODB", "XMETHODC"):
        assert server.call(m, "/healthz").status == 405
    text = server.call("GET", "/metrics").text
    assert "XMETHOD" not in text


# ---------------------------------------------------------------------------- access log


def test_access_log_lines_are_json(server, admin):
    server.call("GET", "/api/v1/me", admin, headers={"X-Request-Id": "access-log-probe", "User-Agent": "probe/1"})
    server.call("GET", "/api/v1/nope", headers={"X-Request-Id": "access-log-404"})
    server.call("GET", "/api/v1/odd%22path%0A%5C%7B", headers={"X-Request-Id": "access-log-odd",
                                                               "User-Agent": 'quote" back\\ {json}'})

    def entries():
        out = []
        for line in server.stdout_snapshot():
            if line.startswith("{"):
                out.append(json.loads(line))
        return out

    def find(rid):
        return [e for e in entries() if e.get("request_id") == rid]

    hit = wait_until(lambda: find("access-log-probe"), 10, what="the access log line")
    e = hit[0]
    assert e["status"] == 200 and e["method"] == "GET" and e["path"] == "/api/v1/me" and e["route"] == "/api/v1/me"
    assert e["user_agent"] == "probe/1" and e["remote"] == "127.0.0.1" and e["duration_ms"] >= 0
    assert e["time"].endswith("Z") and e["bytes"] > 0
    miss = wait_until(lambda: find("access-log-404"), 10, what="the 404 access log line")[0]
    assert miss["status"] == 404 and miss["route"] == ""
    odd = wait_until(lambda: find("access-log-odd"), 10, what="the odd access log line")[0]
    assert odd["path"] == '/api/v1/odd"path\n\\{' and odd["user_agent"] == 'quote" back\\ {json}'
    for e in entries():
        assert {"request_id", "status", "method", "path", "duration_ms"} <= set(e)
    # No credentials in the log.
    assert admin not in "\n".join(server.stdout_snapshot() + server.stderr_snapshot())


# ---------------------------------------------------------------------------- OpenAPI


def test_openapi_document(server):
    r = server.call("GET", "/api/v1/openapi.json")
    assert r.status == 200
    doc = r.json
    assert doc["openapi"].startswith("3.1")
    assert doc["info"]["title"] and doc["paths"]
    op_ids = set()
    resources = {"orgs", "members", "groups", "roles", "invitations", "quotas", "projects", "users", "tokens",
                 "sessions", "audit", "jobs", "files", "code", "envs", "apps", "tasks", "secrets"}
    verbs = {"read", "create", "write", "delete", "admin"}
    for path, ops in doc["paths"].items():
        params_in_path = set(re.findall(r"\{(\w+)\}", path))
        for method, op in ops.items():
            where = f"{method.upper()} {path}"
            access = op.get("x-atrium-access")
            assert access in ("public", "signed-in", "permission"), where
            if access == "permission":
                res, verb = op["x-atrium-permission"].split(":")
                assert res in resources and verb in verbs, where
            if access == "public":
                assert op["security"] == [], where
            assert op["operationId"] not in op_ids, where
            op_ids.add(op["operationId"])
            declared = {p["name"] for p in op.get("parameters", []) if p["in"] == "path"}
            assert declared == params_in_path, where
            assert "default" in op["responses"], where
            if method in ("patch", "put", "delete"):
                assert "If-Match" in {p["name"] for p in op.get("parameters", [])}, where
            if method in ("post", "put", "patch") and "requestBody" in op:
                assert "application/json" in op["requestBody"]["content"], where
    for must in ("/api/v1/orgs/{org}/projects", "/api/v1/audit/verify", "/healthz", "/metrics"):
        assert must in doc["paths"]
    assert doc["components"]["schemas"]["Problem"]["required"] == ["type", "status", "detail"]
