"""Untrusted input gets a graceful RFC 9457 4xx and changes nothing.

Per route family that takes a body: malformed JSON, non-object JSON, invalid UTF-8, wrong types,
missing and unknown fields, bad enums, wrong content types. Then URLs, pagination, If-Match,
oversized bodies and headers, malformed request lines, unknown routes and wrong methods.
"""
import json
import socket

import pytest

from conftest import is_problem, list_all

# ---------------------------------------------------------------------------- state


def instance_state(server):
    """Everything the admin can list; compared before/after each bad request."""
    adm = server.admin
    st = {"orgs": list_all(server, "/api/v1/orgs", adm), "users": list_all(server, "/api/v1/users", adm),
          "projects": list_all(server, "/api/v1/projects?archived=any", adm),
          "tokens": list_all(server, "/api/v1/tokens", adm),
          "audit": len(list_all(server, "/api/v1/audit/events", adm, limit=1000))}
    for o in st["orgs"]:
        for sub in ("members", "groups", "invitations"):
            st[f"{o['id']} {sub}"] = list_all(server, f"/api/v1/orgs/{o['id']}/{sub}", adm)
        for sub in ("roles", "quotas"):
            st[f"{o['id']} {sub}"] = server.call("GET", f"/api/v1/orgs/{o['id']}/{sub}", adm).json["items"]
    for p in st["projects"]:
        st[f"{p['id']} members"] = list_all(server, f"/api/v1/projects/{p['id']}/members", adm)
    for t in st["tokens"]:
        t.pop("last_used_at", None)
    return st


@pytest.fixture
def unchanged(server, world):
    before = instance_state(server)
    yield
    assert instance_state(server) == before, "a refused request changed the state"


# ---------------------------------------------------------------------------- body routes

# name -> (method, path(world), valid body, required fields, {field: wrong-typed value}, {field: bad enum})
def routes(w):
    a = w.a
    return {
        "org.create": ("POST", "/api/v1/orgs", {"slug": "bad-in", "name": "B"}, ["slug", "name"],
                       {"slug": 5, "name": ["x"]}, {}),
        "org.update": ("PATCH", f"/api/v1/orgs/{a.id}", {"name": "B"}, [], {"name": 1.5}, {}),
        "members.add": ("POST", f"/api/v1/orgs/{a.id}/members", {"user_id": w.b.users["viewer"].id, "role": "viewer"},
                        ["role"], {"user_id": 7, "role": True}, {}),
        "members.update": ("PATCH", f"/api/v1/orgs/{a.id}/members/{a.users['viewer'].id}", {"role": "member"},
                           ["role"], {"role": {"name": "member"}}, {}),
        "groups.create": ("POST", f"/api/v1/orgs/{a.id}/groups", {"slug": "bad-in", "name": "G"}, ["slug", "name"],
                          {"name": 3}, {}),
        "groups.update": ("PATCH", f"/api/v1/groups/{a.group['id']}", {"name": "G"}, [], {"name": False}, {}),
        "group-members.add": ("POST", f"/api/v1/groups/{a.group['id']}/members", {"user_id": a.users["viewer"].id},
                              [], {"user_id": 1}, {}),
        "roles.create": ("POST", f"/api/v1/orgs/{a.id}/roles", {"name": "bad-in", "permissions": ["orgs:read:org"]},
                         ["name", "permissions"], {"permissions": "orgs:read:org", "description": 3}, {}),
        "roles.update": ("PATCH", f"/api/v1/roles/{a.role['id']}", {"description": "d"}, [],
                         {"permissions": [1, 2], "description": []}, {}),
        "invitations.create": ("POST", f"/api/v1/orgs/{a.id}/invitations", {"role": "viewer"}, ["role"],
                               {"expires_in_hours": "72", "email": 5}, {}),
        "quotas.put": ("PUT", f"/api/v1/orgs/{a.id}/quotas/org/{a.id}", {"cpu_hours": 1}, [],
                       {"cpu_hours": "lots", "storage_bytes": 1.5, "concurrent_jobs": True}, {}),
        "projects.create": ("POST", f"/api/v1/orgs/{a.id}/projects", {"slug": "bad-in", "name": "P"}, ["slug", "name"],
                            {"tags": "hpc", "description": 9, "group_id": 4}, {"visibility": "public"}),
        "projects.update": ("PATCH", f"/api/v1/projects/{a.project['id']}", {"name": "P"}, [],
                            {"archived": "yes", "tags": [1]}, {"visibility": "everyone"}),
        "project-members.add": ("POST", f"/api/v1/projects/{a.project['id']}/members",
                                {"user_id": a.users["viewer"].id, "role": "viewer"}, ["role"], {"user_id": []},
                                {"role": "boss"}),
        "project-members.update": ("PATCH", f"/api/v1/projects/{a.project['id']}/members/{a.users['org-admin'].id}",
                                   {"role": "owner"}, ["role"], {"role": 1}, {"role": "king"}),
        "tokens.create": ("POST", "/api/v1/tokens", {"name": "t"}, ["name"],
                          {"scopes": "*:*", "expires_in_days": "1", "name": 0}, {}),
        "users.create": ("POST", "/api/v1/users", {"username": "bad-in-user", "password": "long-enough-pw"},
                         ["username", "password"], {"username": 1, "email": False}, {}),
        "users.update": ("PATCH", f"/api/v1/users/{a.users['viewer'].id}", {"display_name": "V"}, [],
                         {"disabled": "yes", "display_name": 3}, {}),
        "auth.login": ("POST", "/api/v1/auth/login", {"username": "admin", "password": "wrong-password"},
                       ["username", "password"], {"password": 12345678901}, {}),
        "auth.password": ("POST", "/api/v1/auth/password", {"current_password": "x", "new_password": "y"},
                          ["current_password", "new_password"], {"new_password": 5}, {}),
        "invitations.accept": ("POST", "/api/v1/invitations/accept",
                               {"token": "x", "username": "bad-in-acc", "password": "long-enough-pw"},
                               ["token", "username", "password"], {"token": 5}, {}),
    }


ROUTE_NAMES = ["org.create", "org.update", "members.add", "members.update", "groups.create", "groups.update",
               "group-members.add", "roles.create", "roles.update", "invitations.create", "quotas.put",
               "projects.create", "projects.update", "project-members.add", "project-members.update",
               "tokens.create", "users.create", "users.update", "auth.login", "auth.password", "invitations.accept"]

JSON = {"Content-Type": "application/json"}


def send(server, method, path, body: bytes, headers=None):
    hs = {"Authorization": f"Bearer {server.admin}", "If-Match": "*"}
    hs.update(headers if headers is not None else JSON)
    return server.raw(method, path, body, hs)


def variants(w, name):
    """(label, body bytes, headers, expected status, expected type slug)."""
    method, path, valid, required, wrong, enums = routes(w)[name]
    out = [
        ("malformed-json", b'{"name": ', JSON, 400, "invalid-json"),
        ("trailing-garbage", json.dumps(valid).encode() + b" }", JSON, 400, "invalid-json"),
        ("array", b"[1, 2]", JSON, 400, "invalid-json"),
        ("string", b'"hello"', JSON, 400, "invalid-json"),
        ("empty", b"", JSON, 400, "invalid-json"),
        ("invalid-utf8", json.dumps(valid).encode()[:-1] + b', "x": "\xff\xfe"}', JSON, 400, "invalid-json"),
        ("lone-surrogate", json.dumps(valid).encode()[:-1] + b', "x": "\\ud800"}', JSON, 400, "invalid-json"),
        ("unknown-field", json.dumps(dict(valid, zzz_unknown=1)).encode(), JSON, 400, "unknown-field"),
        ("text-plain", json.dumps(valid).encode(), {"Content-Type": "text/plain"}, 415, "unsupported-media-type"),
        ("form", b"name=x", {"Content-Type": "application/x-www-form-urlencoded"}, 415, "unsupported-media-type"),
        ("no-content-type", json.dumps(valid).encode(), {}, 415, "unsupported-media-type"),
    ]
    for f in required:
        body = {k: v for k, v in valid.items() if k != f}
        out.append((f"missing-{f}", json.dumps(body).encode(), JSON, 400, "missing-field"))
    for f, v in wrong.items():
        out.append((f"wrong-type-{f}", json.dumps(dict(valid, **{f: v})).encode(), JSON, 400, "invalid-field"))
    for f, v in enums.items():
        out.append((f"bad-enum-{f}", json.dumps(dict(valid, **{f: v})).encode(), JSON, 400, "invalid-enum"))
    return method, path, out


@pytest.mark.parametrize("name", ROUTE_NAMES)
def test_bad_bodies(server, world, unchanged, name):
    method, path, cases = variants(world, name)
    failures = []
    for label, body, headers, status, slug in cases:
        r = send(server, method, path, body, headers)
        try:
            is_problem(r, status, slug)
        except AssertionError as e:  # collect, so one run names every bad variant of the route
            failures.append(f"{label}: expected {status} {slug}, got {r.status} {r.text[:200]} ({e})")
    assert not failures, "\n".join(failures)


def test_invalid_field_values(server, world, unchanged):
    a = world.a
    adm = server.admin
    cases = [
        ("POST", "/api/v1/orgs", {"slug": "-starts-with-dash", "name": "x"}),
        ("POST", "/api/v1/orgs", {"slug": "x" * 65, "name": "x"}),
        ("POST", "/api/v1/orgs", {"slug": "ok-slug", "name": "bell\u0007"}),
        ("POST", "/api/v1/orgs", {"slug": "ok-slug", "name": "x" * 201}),
        ("POST", f"/api/v1/orgs/{a.id}/projects", {"slug": "UPPER", "name": "x"}),
        ("POST", f"/api/v1/orgs/{a.id}/projects", {"slug": "ok", "name": "x", "tags": ["bad tag"]}),
        ("POST", f"/api/v1/orgs/{a.id}/projects", {"slug": "ok", "name": "x", "tags": ["t"] * 21}),
        ("POST", f"/api/v1/orgs/{a.id}/projects", {"slug": "ok", "name": "x", "description": "d" * 4001}),
        ("POST", f"/api/v1/orgs/{a.id}/projects", {"slug": "ok", "name": "x", "group_id": "grp_nope"}),
        ("POST", f"/api/v1/orgs/{a.id}/invitations", {"role": "viewer", "expires_in_hours": 100000}),
        ("POST", f"/api/v1/orgs/{a.id}/invitations", {"role": "viewer", "expires_in_hours": 2 ** 70}),
        ("PUT", f"/api/v1/orgs/{a.id}/quotas/org/{a.id}", {"cpu_period_days": 0}),
        ("PUT", f"/api/v1/orgs/{a.id}/quotas/org/{a.id}", {"storage_bytes": -5}),
        ("PUT", f"/api/v1/orgs/{a.id}/quotas/org/{a.id}", {"storage_bytes": 2 ** 64}),
        ("POST", "/api/v1/tokens", {"name": "t", "scopes": []}),
        ("POST", "/api/v1/tokens", {"name": "t", "scopes": ["a:b:c:d"]}),
        ("POST", "/api/v1/tokens", {"name": "t", "expires_in_days": 0}),
        ("POST", "/api/v1/tokens", {"name": ""}),
        ("POST", "/api/v1/users", {"username": "ok-user", "password": "short"}),
        ("POST", "/api/v1/users", {"username": "same-as-password", "password": "same-as-password"}),
        ("POST", "/api/v1/users", {"username": "Not A Slug", "password": "long-enough-pw"}),
        ("POST", "/api/v1/users", {"username": "ok-user", "password": "long-enough-pw", "email": "a\nb" * 200}),
        ("POST", f"/api/v1/orgs/{a.id}/roles", {"name": "Bad Name", "permissions": ["orgs:read:org"]}),
    ]
    for method, path, body in cases:
        r = server.call(method, path, adm, json=body, if_match="*")
        assert is_problem(r, 400), (method, path, body, r)


# ---------------------------------------------------------------------------- URLs and query strings


def test_bad_urls(server, world, unchanged):
    adm = server.admin
    for path in ("/api/v1/orgs/%FF", "/api/v1/orgs/%zz", "/api/v1/orgs/%", "/api/v1/orgs/%00",
                 "/api/v1/projects?q=%FF", "/api/v1/projects?q=%C3%28", "/api/v1/projects?q=%0"):
        r = server.call("GET", path, adm)
        assert is_problem(r, 400), (path, r)
    r = server.call("GET", "/api/v1/orgs/" + "x" * 300, adm)
    assert is_problem(r, 400, "invalid-path")
    too_many = "&".join(f"p{i}=1" for i in range(101))
    assert is_problem(server.call("GET", f"/api/v1/projects?{too_many}", adm), 400)


def raw_exchange(server, data: bytes, timeout=10.0):
    """Sends raw bytes, reads until the server closes; returns (status, headers, body, closed)."""
    s = server.connect(timeout)
    try:
        s.sendall(data)
        buf = b""
        closed = False
        while True:
            try:
                chunk = s.recv(65536)
            except socket.timeout:
                break
            except ConnectionResetError:  # the server closed with our unread bytes pending
                closed = True
                break
            if not chunk:
                closed = True
                break
            buf += chunk
    finally:
        s.close()
    head, _, body = buf.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1]) if lines and lines[0] else 0
    headers = {}
    for line in lines[1:]:
        k, _, v = line.partition(":")
        headers[k.strip().lower()] = v.strip()
    return status, headers, body, closed


def assert_raw_problem(status, headers, body, expected):
    assert status == expected, (status, body)
    assert headers.get("content-type") == "application/problem+json"
    j = json.loads(body)
    assert j["status"] == expected and j["type"].startswith("urn:atrium:problem:") and j["detail"]
    assert j["request_id"] == headers.get("x-request-id")


def test_raw_non_utf8_path(server, world, unchanged):
    st, hs, body, _ = raw_exchange(server, b"GET /api/v1/orgs/\xff\xfe HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    assert_raw_problem(st, hs, body, 400)


@pytest.mark.parametrize("request_bytes", [
    b"GARBAGE\r\n\r\n",
    b"GET\r\n\r\n",
    b"GET / HTTP/9.9\r\nHost: x\r\n\r\n",
    b"GET /healthz HTTP/1.1\r\nHost: x\r\nBad Header Line\r\n\r\n",
    b"\x00\x01\x02\x03\r\n\r\n",
    b"GET /healthz HTTP/1.1\r\nContent-Length: -5\r\n\r\n",
    b"POST /api/v1/orgs HTTP/1.1\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
], ids=["garbage", "no-target", "bad-version", "bad-header", "binary", "negative-length", "cl-and-te"])
def test_malformed_request_line_gets_400_and_close(server, request_bytes):
    st, hs, body, closed = raw_exchange(server, request_bytes)
    assert_raw_problem(st, hs, body, 400)
    assert closed, "the server must close the connection after a malformed request"
    assert hs.get("connection") == "close"
    assert server.call("GET", "/healthz").status == 200


def test_header_too_large_gets_431(server):
    st, hs, body, closed = raw_exchange(
        server, b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 20000 + b"\r\n\r\n")
    assert_raw_problem(st, hs, body, 431)
    assert closed
    many = b"".join(b"X-H%d: %s\r\n" % (i, b"v" * 100) for i in range(200))
    st, hs, body, closed = raw_exchange(server, b"GET /healthz HTTP/1.1\r\nHost: x\r\n" + many + b"\r\n")
    assert_raw_problem(st, hs, body, 431)


@pytest.mark.parametrize("path", ["/api/v1/orgs", "/api/v1/users", "/api/v1/tokens", "/api/v1/projects",
                                  "/api/v1/auth/sessions", "/api/v1/audit/events", "/api/v1/orgs/{a}/members",
                                  "/api/v1/orgs/{a}/groups", "/api/v1/orgs/{a}/invitations",
                                  "/api/v1/groups/{g}/members", "/api/v1/projects/{p}/members",
                                  "/api/v1/audit/export"])
def test_bad_pagination(server, world, path):
    path = path.replace("{a}", world.a.id).replace("{g}", world.a.group["id"]).replace("{p}", world.a.project["id"])
    for q in ("limit=0", "limit=-3", "limit=abc", "limit=1e3", "limit=", "limit=99999999999999999999",
              "limit=5000", "after=%21%21", "after=%FF%FE", "after=" + "A" * 400):
        r = server.call("GET", f"{path}?{q}", server.admin)
        assert is_problem(r, 400), (q, r)
    r = server.call("GET", f"{path}?limit=1", server.admin)
    assert r.status == 200, r


def test_bad_if_match(server, world, unchanged):
    a = world.a
    path = f"/api/v1/orgs/{a.id}"
    for im in ('"v0"', "v1", '"v1', "", "W/", '"*"', '"v1"x', ", ,", "garbage"):
        r = server.call("PATCH", path, server.admin, json={"name": "changed"}, if_match=im)
        assert is_problem(r, 412, "etag-mismatch"), (im, r)
    r = server.call("PATCH", path, server.admin, json={"name": "changed"})
    assert is_problem(r, 428, "if-match-required")
    assert "etag" in r.json


def test_bad_idempotency_keys(server, world, unchanged):
    p = f"/api/v1/orgs/{world.a.id}/projects"
    for key in ("k" * 256,):
        r = server.call("POST", p, server.admin, json={"slug": "idem-bad", "name": "x"}, idem=key)
        assert is_problem(r, 400), r
    r = server.raw("POST", p, b'{"slug":"idem-bad","name":"x"}',
                   {"Authorization": f"Bearer {server.admin}", "Content-Type": "application/json",
                    "Idempotency-Key": ""})
    assert is_problem(r, 400), r


# ---------------------------------------------------------------------------- body size


@pytest.fixture
def small_body_server(make_server):
    srv = make_server(env={"ATRIUM_LIMITS_MAX_BODY_BYTES": "1024"})
    srv.admin = srv.admin_token()
    srv.org = srv.call("POST", "/api/v1/orgs", srv.admin, json={"slug": "big", "name": "Big"}).json
    yield srv
    # Nothing was created by the refused requests, and a body under the limit still works.
    assert list_all(srv, f"/api/v1/projects?org={srv.org['id']}&archived=any", srv.admin) == []
    r = srv.call("POST", f"/api/v1/orgs/{srv.org['id']}/projects", srv.admin,
                 json={"slug": "small", "name": "Small", "description": "d" * 500})
    assert r.status == 201, r


BIG_BODY = json.dumps({"slug": "big-one", "name": "Big", "description": "d" * 2000}).encode()


def test_oversized_content_length_gets_413(small_body_server):
    srv = small_body_server
    path = f"/api/v1/orgs/{srv.org['id']}/projects"
    # Refused from the header alone (the body is never sent), connection closed.
    head = (f"POST {path} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {srv.admin}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(BIG_BODY)}\r\n\r\n").encode()
    st, hs, rb, closed = raw_exchange(srv, head)
    assert closed
    assert_raw_problem(st, hs, rb, 413)


def test_oversized_chunked_body_gets_413(small_body_server):
    srv = small_body_server
    path = f"/api/v1/orgs/{srv.org['id']}/projects"
    # A first chunk under the limit, then the size line of one that crosses it.
    head = (f"POST {path} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {srv.admin}\r\n"
            f"Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n").encode()
    st, hs, rb, closed = raw_exchange(srv, head + b"%x\r\n%s\r\n" % (500, BIG_BODY[:500]) + b"%x\r\n" % 1500)
    assert_raw_problem(st, hs, rb, 413)
    assert closed


# ---------------------------------------------------------------------------- routing


def test_unknown_route_is_a_404_problem(server):
    # Other paths (/, /healthz/extra) are the web UI's pages: test_web.py.
    for path in ("/api/v1/nope", "/api/v2/orgs", "/api/v1/orgs/x/y/z/w", "/api/v1//orgs"):
        r = server.call("GET", path, server.admin)
        assert is_problem(r, 404), (path, r)
    assert server.call("GET", "/api/v1/nope").json["type"] == "urn:atrium:problem:no-route"


def test_wrong_method_is_a_405_with_allow(server, world):
    cases = [
        ("DELETE", "/api/v1/orgs", {"GET", "POST"}),
        ("PUT", f"/api/v1/projects/{world.a.project['id']}", {"GET", "PATCH", "DELETE"}),
        ("POST", "/healthz", {"GET"}),
        ("PATCH", "/api/v1/me", {"GET"}),
        ("GET", "/api/v1/auth/login", {"POST"}),
        ("BREW", "/api/v1/orgs", {"GET", "POST"}),
    ]
    for method, path, allowed in cases:
        r = server.call(method, path, server.admin)
        assert is_problem(r, 405), (method, path, r)
        assert {m.strip() for m in r.headers["allow"].split(",")} == allowed, (method, path, r.headers)


def test_unauthenticated_is_a_401_problem(server, world):
    for method, path in (("GET", "/api/v1/me"), ("GET", "/api/v1/projects"), ("POST", "/api/v1/orgs"),
                         ("DELETE", f"/api/v1/projects/{world.a.project['id']}")):
        r = server.call(method, path)
        assert is_problem(r, 401, "unauthenticated"), (method, path, r)
        assert r.headers["www-authenticate"].startswith("Bearer")
