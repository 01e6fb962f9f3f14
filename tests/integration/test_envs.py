"""Interactive environments through Atrium's own proxy, with the real apps: Jupyter (jupyter_server
1.23 + nbclassic from Debian) executing code over the kernel WebSocket in both protocols, the
notebook UI and its static files, the terminal app, web apps on a socket or a port; who may reach
them (owner only, tenants, token scopes, cross-origin refusals, guest links); the lifecycle (health
check, spawn timeout, apps that die, idle culling and maximum uptime, stop, server-sent events); a
kill -9 of the server with environments running; bad input that must change nothing.
"""
from __future__ import annotations

import glob
import http.client
import json
import os
import re
import struct
import subprocess
import urllib.parse
import uuid
from pathlib import Path

import pytest

from conftest import (ATRIUM_BIN, SERVE_H_ON_ATRIUM_SOCKET, USER_PASSWORD, Browser, World, base_env,
                      env_suite_server, is_problem, list_all, wait_until)
from wsclient import Closed, HandshakeRefused, WebSocket

ENV_SERVER = {"ATRIUM_COMPUTE_CPUS": "32", "ATRIUM_COMPUTE_MEM_MB": "65536"}

# A web app on the unix socket that answers with what it was sent (path, headers).
ECHO_APP = r'''
import json, os, socket, socketserver, http.server, urllib.parse
def reach(target):
    host, port = target.rsplit(":", 1)
    s = socket.socket()
    s.settimeout(3)
    try:
        return s.connect_ex((host, int(port)))
    except OSError as e:
        return e.errno or -1
    finally:
        s.close()
class H(http.server.BaseHTTPRequestHandler):
    def _answer(self):
        n = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(n).decode() if n else ""
        q = urllib.parse.parse_qs(urllib.parse.urlsplit(self.path).query)
        out = json.dumps({"method": self.command, "path": self.path, "headers": dict(self.headers.items()),
                          "body": body, "uid": os.getuid(), "ifs": sorted(n for _, n in socket.if_nameindex()),
                          "reach": {t: reach(t) for t in q.get("probe", [""])[0].split(",") if t}}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(out)))
        self.end_headers()
        self.wfile.write(out)
    do_GET = do_POST = do_PUT = do_DELETE = _answer
    def log_message(self, *a): pass
''' + SERVE_H_ON_ATRIUM_SOCKET


@pytest.fixture(scope="module")
def srv(tmp_path_factory):
    with env_suite_server(tmp_path_factory, "envs", ENV_SERVER) as s:
        yield s


@pytest.fixture(scope="module")
def w(srv) -> World:
    world = World(srv, srv.admin, prefix="e")
    r = srv.call("PUT", "/api/v1/apps/echo", srv.admin, json={
        "kind": "web", "title": "echo", "command": ["/usr/bin/python3", "-c", ECHO_APP], "health_path": "health",
        "defaults": {"cpus": 1, "mem_mb": 256}, "max": {"cpus": 2, "mem_mb": 1024}})
    assert r.status == 201, r
    return world


def launch(srv, token, project_id, app, **kw):
    return srv.call("POST", f"/api/v1/projects/{project_id}/envs", token, json={"app": app, **kw})


def wait_state(srv, token, env_id, states=("READY",), timeout=90):
    def get():
        e = srv.call("GET", f"/api/v1/envs/{env_id}", token).json
        return e if e["state"] in states or e["state"] in ("FAILED", "STOPPED") else None
    e = wait_until(get, timeout, 0.05, f"environment {env_id} to reach {states}")
    assert e["state"] in states, (e["state"], e["reason"], e.get("log_tail"))
    return e


def stop(srv, token, env_id):
    r = srv.call("POST", f"/api/v1/envs/{env_id}/stop", token)
    assert r.status in (200, 409), r
    return wait_state(srv, token, env_id, ("STOPPED",), 60)


def bearer(token):
    return {"Authorization": f"Bearer {token}"}


def on_origin(url):
    """An environment's URL -> (its Host, the path and query): each environment has an origin of its own,
    <label>.env.localhost:<port>, reached here on 127.0.0.1 with that Host (Python's resolver may not map
    *.localhost to loopback)."""
    u = urllib.parse.urlsplit(url)
    return u.netloc, (u.path or "/") + ("?" + u.query if u.query else "")


def env_host(srv, env_id):
    return f"env-{env_id[4:].lower()}.env.localhost:{srv.port}"


def env_raw(srv, method, url, body=None, headers=None):
    if url.startswith("http"):
        host, path = on_origin(url)
        return srv.raw(method, path, body=body, headers={"Host": host, **(headers or {})})
    return srv.raw(method, url, body=body, headers=headers)


def env_ws(srv, url, headers=None, **kw):
    host, path = on_origin(url)
    return WebSocket(srv.port, path, headers={"Host": host, **(headers or {})}, **kw)


def proxied(srv, method, url, token=None, headers=None, body=None):
    hs = dict(headers or {})
    if token:
        hs.update(bearer(token))
    return env_raw(srv, method, url, body=body, headers=hs)


def env_cookie(srv, browser, env):
    """Signs a browser in on an environment's origin: the main origin's /env/<id>/ with the session hands
    out a one-time ticket, exchanged on the environment's origin for its own cookie ("atrium_env=...")."""
    r = srv.raw("GET", f"/env/{env['id']}/", headers={"Cookie": f"atrium_session={browser.session}"})
    assert r.status == 302, r
    loc = r.headers["Location"]
    assert loc.startswith(env["url"] + "_atrium/auth?ticket="), loc
    r = env_raw(srv, "GET", loc)
    assert r.status == 302 and r.headers["Location"] == "/", r
    return r.headers["Set-Cookie"].split(";")[0]


# ---------------------------------------------------------------------------- Jupyter clients


def kernel_msg(code):
    return {"header": {"msg_id": uuid.uuid4().hex, "msg_type": "execute_request", "username": "test",
                       "session": uuid.uuid4().hex, "date": "", "version": "5.3"},
            "parent_header": {}, "metadata": {},
            "content": {"code": code, "silent": False, "store_history": True, "user_expressions": {},
                        "allow_stdin": False, "stop_on_error": True}}


def v1_pack(channel, msg):
    parts = [json.dumps(msg[k]).encode() for k in ("header", "parent_header", "metadata", "content")]
    n = 2 + len(parts)
    offsets, pos = [], 8 * (1 + n)
    offsets.append(pos)
    pos += len(channel)
    offsets.append(pos)
    for p in parts:
        pos += len(p)
        offsets.append(pos)
    return struct.pack("<Q", n) + b"".join(struct.pack("<Q", o) for o in offsets[:n]) + channel.encode() + b"".join(parts)


def v1_unpack(data):
    n = struct.unpack_from("<Q", data, 0)[0]
    offs = list(struct.unpack_from("<" + "Q" * n, data, 8)) + [len(data)]
    channel = data[offs[0]:offs[1]].decode()
    parts = [data[offs[i]:offs[i + 1]] for i in range(1, min(n, 5))]
    header, parent, _meta, content = (json.loads(p) for p in parts[:4])
    return channel, {"header": header, "parent_header": parent, "content": content, "msg_type": header["msg_type"]}


def execute(ws, code, v1):
    msg = kernel_msg(code)
    if v1:
        ws.send(v1_pack("shell", msg), binary=True)
    else:
        ws.send(json.dumps({**msg, "channel": "shell", "buffers": []}))
    # The reply (shell) and the result (iopub) come on different ZMQ channels, in either order; the
    # iopub "idle" status for this request comes after its result.
    result, replied, idle = None, False, False
    while not (replied and idle):
        op, data = ws.recv()
        if v1:
            channel, m = v1_unpack(data)
        else:
            m = json.loads(data)
            channel = m["channel"]
        if m["parent_header"].get("msg_id") != msg["header"]["msg_id"]:
            continue
        kind = m["header"]["msg_type"]
        if kind == "execute_result":
            result = m["content"]["data"]["text/plain"]
        elif channel == "shell" and kind == "execute_reply":
            assert m["content"]["status"] == "ok", m
            replied = True
        elif channel == "iopub" and kind == "status" and m["content"].get("execution_state") == "idle":
            idle = True
    return result


def terminal_run(ws, command, marker, timeout_msgs=400):
    ws.send(json.dumps(["stdin", command + "\r"]))
    out = ""
    for _ in range(timeout_msgs):
        op, data = ws.recv()
        m = json.loads(data)
        if m[0] == "stdout":
            out += m[1]
            if re.search(marker, out):
                return out
    raise AssertionError(f"no {marker!r} in {out!r}")


# ---------------------------------------------------------------------------- tests


def test_jupyter_through_the_proxy(srv, w):
    member = w.a.users["member"]
    pid = w.a.org_project["id"]  # the member owns it
    r = launch(srv, member.token, pid, "jupyter", cpus=1, mem_mb=1024)
    assert r.status == 201, r
    assert r.headers["Location"] == f"/api/v1/envs/{r.json['id']}"
    env = wait_state(srv, member.token, r.json["id"])
    eid, base = env["id"], env["url"]
    assert base == f"http://{env_host(srv, eid)}/" and env["ready_at"]
    # The classic notebook UI and its static files, through the proxy.
    tree = proxied(srv, "GET", base + "tree", member.token)
    assert tree.status == 200, tree
    assert "<title>Home" in tree.text
    static = re.search(r'src="(/static/[^"]+\.js[^"]*)"', tree.text)
    assert static, tree.text[:2000]
    js = proxied(srv, "GET", base[:-1] + static.group(1).replace("&amp;", "&"), member.token)
    assert js.status == 200 and len(js.body) > 1000, js
    # A kernel: REST through the proxy, then the channels WebSocket in both protocols.
    k = proxied(srv, "POST", base + "api/kernels", member.token, {"Content-Type": "application/json"},
                b'{"name": "python3"}')
    assert k.status == 201, k
    kid = k.json["id"]
    chan = f"{base}api/kernels/{kid}/channels?session_id={uuid.uuid4().hex}"
    ws = env_ws(srv, chan, headers=bearer(member.token), subprotocols=["v1.kernel.websocket.jupyter.org"])
    assert ws.headers.get("sec-websocket-protocol") == "v1.kernel.websocket.jupyter.org", ws.headers
    assert execute(ws, "1+1", v1=True) == "2"
    ws.close()
    ws = env_ws(srv, chan, headers=bearer(member.token))
    assert "sec-websocket-protocol" not in ws.headers
    assert execute(ws, "6*7", v1=False) == "42"
    # The kernel runs as the member's own uid in the sandbox; one started without a notebook's path
    # runs where the server does (the run directory: never the checkout, see hostile/test_env_code.py).
    assert execute(ws, "import os; (os.getuid() != 0, os.getcwd(), os.environ['HOME'])", v1=False) == \
        "(True, '/atrium/run', '/home/atrium')"
    ws.close()
    assert proxied(srv, "DELETE", f"{base}api/kernels/{kid}", member.token).status == 204
    # Jupyter's own terminal, too.
    t = proxied(srv, "POST", base + "api/terminals", member.token)
    assert t.status == 200, t
    ws = env_ws(srv, f"{base}terminals/websocket/{t.json['name']}", headers=bearer(member.token))
    terminal_run(ws, "echo jt-$((6*7))", r"jt-42")
    ws.close()
    # The token: a 0400 file of the env's uid, never on a command line.
    token_file = srv.data_dir / "envs" / eid / "run" / "token"
    st = token_file.stat()
    assert st.st_mode & 0o777 == 0o400 and st.st_uid != 0
    secret = token_file.read_text()
    assert len(secret) >= 32
    for cmdline in glob.glob("/proc/[0-9]*/cmdline"):
        try:
            assert secret.encode() not in Path(cmdline).read_bytes(), cmdline
        except (FileNotFoundError, ProcessLookupError, PermissionError):
            pass
    # The Jupyter server itself refuses a request without the token (only the proxy has it).
    sock = str(srv.data_dir / "envs" / eid / "run" / "app.sock")
    p = subprocess.run(["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "--unix-socket", sock,
                        "http://x/api/kernels"], capture_output=True, text=True, timeout=30)
    assert p.stdout == "403", p
    stopped = stop(srv, member.token, eid)
    assert stopped["reason"].startswith("stopped by")
    assert not (srv.data_dir / "envs" / eid / "run").exists()
    assert proxied(srv, "GET", base + "tree", member.token).status == 503


def test_terminal_app_and_isolation(srv, w):
    member = w.a.users["member"]
    r = launch(srv, member.token, w.a.org_project["id"], "terminal")
    assert r.status == 201, r
    env = wait_state(srv, member.token, r.json["id"])
    other = launch(srv, member.token, w.a.org_project["id"], "echo")
    assert other.status == 201, other
    other = wait_state(srv, member.token, other.json["id"])
    ws = env_ws(srv, env["url"] + "websocket", headers=bearer(member.token))
    terminal_run(ws, "echo hi-$((40+2))", r"hi-42")
    # Nothing but lo, no Atrium port, no other environment's socket, no other user's files.
    other_sock = srv.data_dir / "envs" / other["id"] / "run" / "app.sock"
    assert other_sock.exists()
    probe = (f"python3 -c \"import socket,os; s=socket.socket(); r=s.connect_ex(('127.0.0.1', {srv.port})); "
             f"print('atrium', r != 0, 'sock', os.path.exists('{other_sock}'), 'ifs', sorted(os.listdir('/sys/class/net')) "
             f"if os.path.exists('/sys/class/net') else ['lo'], 'homes', os.listdir('/home'))\"")
    out = terminal_run(ws, probe, r"homes \[.*\]")
    assert re.search(r"atrium True sock False ifs \['lo'\] homes \['atrium'\]", out), out
    out = terminal_run(ws, f"ls {srv.data_dir} 2>&1; echo done-$((2+3))", r"done-5")
    assert "No such file" in out, out
    ws.close()
    stop(srv, member.token, env["id"])
    stop(srv, member.token, other["id"])


def test_web_apps_see_the_path_unchanged_and_never_atriums_credentials(srv, w):
    member = w.a.users["member"]
    env = wait_state(srv, member.token, launch(srv, member.token, w.a.org_project["id"], "echo").json["id"])
    b = Browser(srv, member.username, USER_PASSWORD)
    url = env["url"] + "some/deep%20path?x=1&y=%2F"
    host, path = on_origin(url)
    assert host == env_host(srv, env["id"]) and path == "/some/deep%20path?x=1&y=%2F"
    ck = env_cookie(srv, b, env)
    r = env_raw(srv, "POST", url, body=b"hello", headers={
        "Cookie": f"{ck}; atrium_session={b.session}; atrium_csrf={b.csrf}; _xsrf=app-cookie",
        "Origin": f"http://{host}", "Content-Type": "text/plain", "X-Forwarded-For": "6.6.6.6"})
    assert r.status == 200, r
    seen = r.json
    assert seen["method"] == "POST" and seen["path"] == path and seen["body"] == "hello"
    hs = {k.lower(): v for k, v in seen["headers"].items()}
    assert hs["host"] == host
    assert hs["cookie"] == "_xsrf=app-cookie"
    assert hs["authorization"].startswith("token ") and b.session not in hs["authorization"]
    assert "atrium" not in hs["cookie"]
    assert hs["x-forwarded-for"] == "127.0.0.1"
    assert seen["uid"] != 0
    # A bearer token is replaced too; a chunked body streams through.
    conn = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=30)
    conn.putrequest("PUT", "/chunked", skip_host=True)
    conn.putheader("Host", host)
    conn.putheader("Authorization", f"Bearer {member.token}")
    conn.putheader("Transfer-Encoding", "chunked")
    conn.endheaders()
    for piece in (b"abc", b"def" * 1000):
        conn.send(b"%x\r\n%s\r\n" % (len(piece), piece))
    conn.send(b"0\r\n\r\n")
    resp = conn.getresponse()
    got = json.loads(resp.read())
    conn.close()
    assert resp.status == 200 and got["method"] == "PUT"
    assert {k.lower(): v for k, v in got["headers"].items()}["authorization"] != f"Bearer {member.token}"
    # A web app listening on a port inside the sandbox is bridged to the socket.
    r = srv.call("PUT", "/api/v1/apps/httpserver", srv.admin, json={
        "kind": "web", "command": ["/bin/sh", "-c", "mkdir -p /tmp/site && echo served > /tmp/site/index.html && "
                                   "cd /tmp/site && exec python3 -m http.server --bind 127.0.0.1 $PORT"],
        "listen": "port", "port": 8123, "health_path": "", "defaults": {"cpus": 1, "mem_mb": 256}})
    assert r.status == 201, r
    r = srv.call("PUT", "/api/v1/projects/" + w.a.org_project["id"] + "/repo/files/hello.txt", member.token,
                 json={"branch": "main", "content": "hello from the workspace\n"}, headers={"If-None-Match": "*"})
    assert r.status == 201, r
    web = wait_state(srv, member.token, launch(srv, member.token, w.a.org_project["id"], "httpserver").json["id"])
    r = proxied(srv, "GET", web["url"], member.token)
    assert r.status == 200 and r.text == "served\n", r
    stop(srv, member.token, web["id"])
    stop(srv, member.token, env["id"])


def test_network_none_or_outbound_through_slirp4netns(srv, w):
    member = w.a.users["member"]
    r = srv.call("PUT", "/api/v1/apps/net-echo", srv.admin, json={
        "kind": "web", "command": ["/usr/bin/python3", "-c", ECHO_APP], "health_path": "health",
        "network": "outbound", "defaults": {"cpus": 1, "mem_mb": 256}})
    assert r.status == 201, r
    host_ip = next((a for a in subprocess.run(["hostname", "-I"], capture_output=True, text=True).stdout.split()
                    if "." in a and not a.startswith("127.")), None)
    listener = __import__("socket").create_server(("0.0.0.0", 0))
    port = listener.getsockname()[1]
    try:
        none = wait_state(srv, member.token, launch(srv, member.token, w.a.org_project["id"], "echo").json["id"])
        out = wait_state(srv, member.token, launch(srv, member.token, w.a.org_project["id"], "net-echo").json["id"])
        probe = f"127.0.0.1:{srv.port},10.0.2.2:{srv.port}" + (f",{host_ip}:{port}" if host_ip else "")
        seen_none = proxied(srv, "GET", none["url"] + "p?probe=" + probe, member.token).json
        seen_out = proxied(srv, "GET", out["url"] + "p?probe=" + probe, member.token).json
        assert seen_none["ifs"] == ["lo"], seen_none
        assert "tap0" in seen_out["ifs"], seen_out
        # Neither reaches Atrium (host loopback is disabled for slirp4netns)...
        for seen in (seen_none, seen_out):
            assert seen["reach"][f"127.0.0.1:{srv.port}"] != 0 and seen["reach"][f"10.0.2.2:{srv.port}"] != 0, seen
        # ...nor the host's own address, where a listener runs: refused inside the sandbox (EACCES
        # from its egress rules, at once) unless compute.outbound_allow names it
        # (hostile/test_sandbox_escape.py checks that an allowed address goes through).
        if host_ip:
            assert seen_none["reach"][f"{host_ip}:{port}"] != 0, seen_none
            assert seen_out["reach"][f"{host_ip}:{port}"] == 13, seen_out
        stop(srv, member.token, out["id"])
        stop(srv, member.token, none["id"])
        assert not (srv.data_dir / "envs" / out["id"] / "slirp.pid").exists()
    finally:
        listener.close()


def test_who_may_reach_an_environment(srv, w):
    a, b = w.a, w.b
    member = a.users["member"]
    env = wait_state(srv, member.token, launch(srv, member.token, a.org_project["id"], "echo").json["id"])
    url = env["url"] + "x"
    # Nobody: 401 for API clients, a browser is sent to sign in and back.
    r = env_raw(srv, "GET", url)
    assert is_problem(r, 401, "unauthenticated")
    # A browser without the environment's cookie goes to the main origin for a ticket, which sends it to
    # sign in first (and back afterwards).
    html = {"Accept": "text/html,application/xhtml+xml"}
    r = env_raw(srv, "GET", url, headers=html)
    assert r.status == 302 and r.headers["Location"] == f"http://localhost:{srv.port}/env/{env['id']}/x", r
    r = srv.raw("GET", f"/env/{env['id']}/x", headers=html)
    assert r.status == 302 and r.headers["Location"].startswith("/login?next=%2Fenv%2F")
    # Another tenant: 404, like an environment that does not exist.
    for tok in (b.users["org-admin"].token, b.users["member"].token):
        assert is_problem(proxied(srv, "GET", url, tok), 404)
    assert is_problem(proxied(srv, "GET", f"http://{env_host(srv, 'env_01JD3X8V0Q6Y2M4K9T7R5W1ZCA')}/x",
                              member.token), 404)
    # A colleague (even the org's admin) may see it exists, but not use it: it is the member's.
    assert srv.call("GET", f"/api/v1/envs/{env['id']}", a.users["org-admin"].token).status == 200
    assert is_problem(proxied(srv, "GET", url, a.users["org-admin"].token), 403)
    assert is_problem(proxied(srv, "GET", url, a.users["viewer"].token), 404)
    # A token without envs:use may not either.
    narrow = srv.login_token(member.username, USER_PASSWORD, scopes=["projects:read"])
    assert is_problem(proxied(srv, "GET", url, narrow), 403)
    wide = srv.login_token(member.username, USER_PASSWORD, scopes=["envs:use"])
    assert proxied(srv, "GET", url, wide).status == 200
    assert proxied(srv, "GET", url, wide).status == 200  # (a remembered decision)
    # A revoked token stops working at once, remembered decision or not.
    wide_id = srv.call("GET", "/api/v1/me", wide).json["token_id"]
    assert srv.call("DELETE", f"/api/v1/tokens/{wide_id}", member.token, if_match="*").status == 204
    assert is_problem(proxied(srv, "GET", url, wide), 401)
    # Cookies: same-origin unsafe requests and upgrades only (Jupyter trusts the injected token).
    br = Browser(srv, member.username, USER_PASSWORD)
    ck = {"Cookie": env_cookie(srv, br, env)}
    host = env_host(srv, env["id"])
    assert env_raw(srv, "GET", url, headers=ck).status == 200
    # The session cookie is no credential on an environment's origin.
    assert is_problem(env_raw(srv, "GET", url, headers={"Cookie": f"atrium_session={br.session}"}), 401)
    for origin in ("https://evil.example", f"http://127.0.0.1:{srv.port}", f"http://localhost:{srv.port}"):
        assert is_problem(env_raw(srv, "POST", url, b"x", headers={**ck, "Origin": origin}), 403, "cross-origin")
    assert is_problem(env_raw(srv, "POST", url, b"x", headers=ck), 403, "cross-origin")
    assert env_raw(srv, "POST", url, b"x", headers={**ck, "Origin": f"http://{host}"}).status == 200
    term = wait_state(srv, member.token, launch(srv, member.token, a.org_project["id"], "terminal").json["id"])
    # One environment's cookie opens no other.
    assert is_problem(env_raw(srv, "GET", term["url"], headers=ck), 401)
    tck = {"Cookie": env_cookie(srv, br, term)}
    thost = env_host(srv, term["id"])
    with pytest.raises(HandshakeRefused) as e:
        env_ws(srv, term["url"] + "websocket", headers={**tck, "Origin": "https://evil.example"})
    assert e.value.status == 403
    with pytest.raises(HandshakeRefused) as e:
        env_ws(srv, term["url"] + "websocket", headers={**tck, "Origin": f"http://{host}"})  # another environment
    assert e.value.status == 403
    with pytest.raises(HandshakeRefused) as e:
        env_ws(srv, term["url"] + "websocket", headers={**bearer(member.token), "Origin": "https://evil.example"})
    assert e.value.status == 403
    ws = env_ws(srv, term["url"] + "websocket", headers={**tck, "Origin": f"http://{thost}"})
    terminal_run(ws, "echo cookie-ok", r"cookie-ok\r\n")
    ws.close()
    # Paths that would mean something else once decoded are refused before anything is forwarded.
    for bad in ("%2e%2e/api/v1/me", "a%2Fb", "a/%2E%2E/b", "a%5Cb", "a%00b"):
        assert is_problem(proxied(srv, "GET", env["url"] + bad, member.token), 400, "bad-env-path"), bad
    # The main origin forwards nothing: a program is sent on to the environment's origin.
    r = proxied(srv, "GET", f"/env/{env['id']}", member.token)
    assert r.status == 308 and r.headers["Location"] == env["url"], r
    r = proxied(srv, "GET", f"/env/{env['id']}/x?y=1", member.token)
    assert r.status == 308 and r.headers["Location"] == env["url"] + "x?y=1", r
    # Malformed upgrades get a 4xx from the app, and the server goes on.
    r = proxied(srv, "GET", term["url"] + "websocket", member.token,
                {"Upgrade": "websocket", "Connection": "Upgrade", "Sec-WebSocket-Version": "99",
                 "Sec-WebSocket-Key": "bad"})
    assert 400 <= r.status < 500, r
    r = proxied(srv, "GET", term["url"] + "websocket", member.token, {"Upgrade": "websocket"})
    assert 400 <= r.status < 500, r
    assert srv.call("GET", "/healthz").status == 200
    # Guest links: one environment, for a while, revocable, every opening audited.
    r = srv.call("POST", f"/api/v1/envs/{env['id']}/links", member.token, json={"ttl_s": 600})
    assert r.status == 201, r
    link = r.json
    assert srv.call("POST", f"/api/v1/envs/{env['id']}/links", a.users["org-admin"].token, json={}).status == 403
    assert link["url"].startswith(env["url"] + "?atrium_guest=")
    # A link in the older form (on the main origin) is sent on to the environment's origin.
    r = srv.raw("GET", f"/env/{env['id']}/?atrium_guest={link['secret']}")
    assert r.status == 302 and r.headers["Location"] == link["url"], r
    r = env_raw(srv, "GET", link["url"])
    assert r.status == 302 and r.headers["Location"] == "/", r
    cookie = r.headers["Set-Cookie"].split(";")[0]
    assert "Path=/;" in r.headers["Set-Cookie"] and "HttpOnly" in r.headers["Set-Cookie"]
    assert "Domain" not in r.headers["Set-Cookie"]
    r = env_raw(srv, "GET", url, headers={"Cookie": cookie})
    assert r.status == 200 and r.json["path"] == "/x"
    assert "atrium_guest" not in r.json["headers"].get("Cookie", "")
    name, value = cookie.split("=", 1)
    other_name = name.replace(env["id"], term["id"])
    assert is_problem(env_raw(srv, "GET", term["url"], headers={"Cookie": f"{other_name}={value}"}), 401)
    assert is_problem(srv.raw("GET", f"/api/v1/envs/{env['id']}", headers={"Cookie": cookie}), 401)
    assert srv.call("DELETE", f"/api/v1/envs/{env['id']}/links/{link['id']}", member.token).status == 204
    assert is_problem(env_raw(srv, "GET", url, headers={"Cookie": cookie}), 401)
    assert is_problem(env_raw(srv, "GET", link["url"]), 404)
    events = list_all(srv, f"/api/v1/audit/events?org={a.id}&action=env.*", srv.admin, limit=500)
    actions = [(e["action"], e["target_id"]) for e in events]
    for act in ("env.launch", "env.link_create", "env.guest_open", "env.link_revoke"):
        assert (act, env["id"]) in actions, (act, actions)
    stop(srv, member.token, term["id"])
    stop(srv, member.token, env["id"])


def test_bad_input_changes_nothing(srv, w):
    a = w.a
    member, viewer = a.users["member"], a.users["viewer"]
    pid = a.org_project["id"]
    before = list_all(srv, f"/api/v1/projects/{pid}/envs", member.token)
    jobs_before = list_all(srv, f"/api/v1/projects/{pid}/jobs", member.token)
    assert is_problem(launch(srv, member.token, pid, "nope"), 400, "unknown-app")
    assert is_problem(launch(srv, member.token, pid, "echo", cpus=3), 400, "over-app-maximum")
    assert is_problem(launch(srv, member.token, pid, "echo", mem_mb=4096), 400, "over-app-maximum")
    assert is_problem(launch(srv, member.token, pid, "echo", colour="red"), 400)
    assert is_problem(launch(srv, member.token, pid, "echo", ref="no-such-branch"), 400, "invalid-ref")
    assert is_problem(srv.call("POST", f"/api/v1/projects/{pid}/envs", member.token, body="{", headers={"Content-Type": "application/json"}), 400)
    # A viewer sees the org-visible project but not its environments, and launches none.
    assert is_problem(launch(srv, viewer.token, pid, "echo"), 404)
    assert is_problem(srv.call("PUT", "/api/v1/apps/Bad_Name", srv.admin, json={"kind": "web", "command": ["x"]}), 400)
    assert is_problem(srv.call("PUT", "/api/v1/apps/jupyter", srv.admin, json={"kind": "web"}), 400)
    assert is_problem(srv.call("PUT", "/api/v1/apps/x", member.token, json={"kind": "web", "command": ["x"]}), 403)
    # An app enabled for another org only.
    r = srv.call("PUT", "/api/v1/apps/b-only", srv.admin, json={"kind": "web", "command": ["true"], "orgs": [w.b.id]})
    assert r.status == 201, r
    assert is_problem(launch(srv, member.token, pid, "b-only"), 403, "app-not-enabled")
    assert "b-only" not in [x["name"] for x in srv.call("GET", "/api/v1/apps", member.token).json["items"]]
    # The org's concurrent-environment quota.
    r = srv.call("PUT", f"/api/v1/orgs/{a.id}/quotas/user/{member.id}", srv.admin, json={"concurrent_envs": 0}, if_match="*")
    assert r.status in (200, 201), r
    assert is_problem(launch(srv, member.token, pid, "echo"), 507, "quota-exceeded")
    r = srv.call("PUT", f"/api/v1/orgs/{a.id}/quotas/user/{member.id}", srv.admin, json={"concurrent_envs": None}, if_match="*")
    assert r.status == 200, r
    assert list_all(srv, f"/api/v1/projects/{pid}/envs", member.token) == before
    assert list_all(srv, f"/api/v1/projects/{pid}/jobs", member.token) == jobs_before


def test_failures_are_never_silent(srv, w):
    member = w.a.users["member"]
    pid = w.a.org_project["id"]
    for name, spec in {
        "crashes": {"command": ["/bin/sh", "-c", "echo boom-on-stderr >&2; exit 3"]},
        "hangs": {"command": ["/bin/sleep", "600"], "spawn_timeout_s": 2},
    }.items():
        r = srv.call("PUT", f"/api/v1/apps/{name}", srv.admin, json={"kind": "web", **spec,
                                                                      "defaults": {"cpus": 1, "mem_mb": 128}})
        assert r.status == 201, r
    crash = wait_state(srv, member.token, launch(srv, member.token, pid, "crashes").json["id"], ("FAILED",))
    assert crash["reason"] == "the app exited with code 3 before it was ready", crash
    assert "boom-on-stderr" in crash["log_tail"]
    hang = wait_state(srv, member.token, launch(srv, member.token, pid, "hangs").json["id"], ("FAILED",))
    assert hang["reason"].startswith("the app did not become ready within 2 s"), hang
    job = wait_until(lambda: (j := srv.call("GET", f"/api/v1/jobs/{hang['job_id']}", member.token).json)["state"]
                     != "RUNNING" and j, 60, 0.1, "the hung app's job to end")
    assert job["state"] == "CANCELLED", job
    logs = srv.call("GET", f"/api/v1/envs/{crash['id']}/logs?stream=stderr", member.token)
    assert logs.status == 200 and "boom-on-stderr" in logs.text
    ev = srv.call("GET", f"/api/v1/envs/{crash['id']}/events", member.token).json["items"]
    assert [e["state"] for e in ev][-1] == "FAILED" and "boom-on-stderr" in ev[-1]["detail"]


def test_idle_culling_and_maximum_uptime(srv, w):
    member = w.a.users["member"]
    pid = w.a.org_project["id"]
    # idle3's own timeout is an hour; org A's is 3 s.
    for name, extra in {"idle3": {"idle_timeout_s": 3600, "max_uptime_s": 0,
                                  "per_org": {w.a.id: {"idle_timeout_s": 3}}},
                        "short": {"idle_timeout_s": 0, "max_uptime_s": 3}}.items():
        r = srv.call("PUT", f"/api/v1/apps/{name}", srv.admin, json={
            "kind": "web", "command": ["/usr/bin/python3", "-c", ECHO_APP], "health_path": "h",
            "defaults": {"cpus": 1, "mem_mb": 256}, **extra})
        assert r.status == 201, r
    idle = wait_state(srv, member.token, launch(srv, member.token, pid, "idle3").json["id"])
    short = wait_state(srv, member.token, launch(srv, member.token, pid, "short").json["id"])
    i0 = srv.call("GET", f"/api/v1/envs/{idle['id']}", member.token).json
    assert i0["state"] == "READY" and i0["idle_timeout_s"] == 3, i0
    idle = wait_state(srv, member.token, idle["id"], ("STOPPED",), 60)
    assert idle["reason"] == "idle for 3 s", idle
    short = wait_state(srv, member.token, short["id"], ("STOPPED",), 60)
    assert short["reason"] == "reached its maximum uptime of 3 s", short
    for e in (idle, short):
        ev = srv.call("GET", f"/api/v1/envs/{e['id']}/events", member.token).json["items"]
        kinds = [x["event"] for x in ev]
        assert "warning" in kinds and "cull" in kinds and kinds[-1] == "stopped", kinds
        assert not (srv.data_dir / "envs" / e["id"] / "run").exists()
    events = list_all(srv, f"/api/v1/audit/events?org={w.a.id}&action=env.cull", srv.admin)
    assert {x["target_id"] for x in events} >= {idle["id"], short["id"]}


def test_many_launches_at_once(srv, w):
    """Launches racing the scheduler: some envs are looked at while their job is pending without a
    reason yet (that once threw in the monitor and ended the server)."""
    import concurrent.futures
    member = w.a.users["member"]
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        rs = list(pool.map(lambda _: launch(srv, member.token, w.a.org_project["id"], "echo"), range(8)))
    assert all(r.status == 201 for r in rs), rs
    for r in rs:
        wait_state(srv, member.token, r.json["id"])
    assert srv.running()
    for r in rs:
        srv.call("POST", f"/api/v1/envs/{r.json['id']}/stop", member.token)
    for r in rs:
        wait_state(srv, member.token, r.json["id"], ("STOPPED",), 60)


def test_server_sent_events_follow_the_state(srv, w):
    member = w.a.users["member"]
    e = launch(srv, member.token, w.a.org_project["id"], "echo").json
    conn = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=60)
    conn.request("GET", f"/api/v1/envs/{e['id']}/events?follow=true", headers=bearer(member.token))
    resp = conn.getresponse()
    assert resp.status == 200 and resp.getheader("Content-Type") == "text/event-stream"
    seen = b""
    while b"event: ready" not in seen:
        seen += resp.read1(65536)
    stop(srv, member.token, e["id"])
    while True:
        chunk = resp.read1(65536)
        if not chunk:
            break
        seen += chunk
    conn.close()
    names = re.findall(rb"event: (\w+)", seen)
    assert names[0] == b"launch" and b"ready" in names and names[-1] == b"stopped", names


def sse_open(srv, path, token):
    conn = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=90)
    conn.request("GET", path, headers=bearer(token))
    return conn, conn.getresponse()


def sse_envs(resp, done, buf=None):
    """Reads a list stream's `env` events (the environments' JSON) until done(events) holds."""
    events, raw = [], b""
    while not done(events):
        chunk = resp.read1(65536)
        if not chunk:
            break
        raw += chunk
        while b"\n\n" in raw:
            block, raw = raw.split(b"\n\n", 1)
            fields = dict(line.split(": ", 1) for line in block.decode().split("\n") if ": " in line)
            if fields.get("event") == "env":
                events.append(json.loads(fields["data"]))
    return events


def test_list_stream_follows_the_callers_and_a_projects_environments(srv, w):
    a, b = w.a, w.b
    member, pid = a.users["member"], a.org_project["id"]
    # Bad input and other tenants: 404 for a project they cannot see, nothing of theirs in their own.
    for tok in (b.users["org-admin"].token, b.users["member"].token):
        assert is_problem(srv.call("GET", f"/api/v1/envs/events?project={pid}", tok), 404)
    assert is_problem(srv.call("GET", "/api/v1/envs/events?project=prj_nope", member.token), 404)
    assert is_problem(srv.call("GET", "/api/v1/envs/events?project=" + "x" * 300, member.token), 404)
    assert srv.call("GET", "/api/v1/envs/events").status == 401
    proj_conn, proj = sse_open(srv, f"/api/v1/envs/events?project={pid}", a.users["org-admin"].token)
    assert proj.status == 200 and proj.getheader("Content-Type") == "text/event-stream"
    mine_conn, mine = sse_open(srv, "/api/v1/envs/events", member.token)
    other_conn, other = sse_open(srv, "/api/v1/envs/events", b.users["member"].token)
    e = launch(srv, member.token, pid, "echo").json
    mine_seen = sse_envs(mine, lambda evs: any(x["id"] == e["id"] and x["state"] == "READY" for x in evs))
    states = [x["state"] for x in mine_seen if x["id"] == e["id"]]
    assert states[-1] == "READY" and "FAILED" not in states, states
    ready = [x for x in mine_seen if x["id"] == e["id"]][-1]
    assert ready["url"] == e["url"] and ready["app"] == "echo" and ready["ready_at"], ready
    # A colleague who may read the project sees it too; its end comes as the last change.
    stop(srv, member.token, e["id"])
    proj_seen = sse_envs(proj, lambda evs: any(x["id"] == e["id"] and x["state"] == "STOPPED" for x in evs))
    assert [x["state"] for x in proj_seen if x["id"] == e["id"]][-1] == "STOPPED"
    assert "STOPPED" in [x["state"] for x in sse_envs(mine, lambda evs: any(x["state"] == "STOPPED" for x in evs))]
    # Another tenant's stream said nothing of it.
    other_conn.sock.settimeout(0.5)
    got = b""
    try:
        while True:
            chunk = other.read1(65536)
            if not chunk:
                break
            got += chunk
    except (TimeoutError, OSError):
        pass
    assert e["id"].encode() not in got and b"event: env" not in got, got
    for c in (proj_conn, mine_conn, other_conn):
        c.close()


def test_terminal_page_on_the_environments_origin(srv, w):
    web = Path(ATRIUM_BIN).resolve().parent.parent / "web" / "terminal.html"
    if not web.exists():
        pytest.skip("the web UI is not built beside the binary")
    member = w.a.users["member"]
    env = wait_state(srv, member.token, launch(srv, member.token, w.a.org_project["id"], "terminal").json["id"])
    host = env_host(srv, env["id"])
    html = {"Accept": "text/html"}
    # Without the environment's cookie: to the main origin for a ticket, and back to the page.
    r = env_raw(srv, "GET", env["url"] + "_atrium/terminal", headers=html)
    assert r.status == 302 and r.headers["Location"] == f"http://localhost:{srv.port}/env/{env['id']}/_atrium/terminal"
    br = Browser(srv, member.username, USER_PASSWORD)
    r = srv.raw("GET", f"/env/{env['id']}/_atrium/terminal", headers={"Cookie": f"atrium_session={br.session}"})
    assert r.status == 302 and "next=%2F_atrium%2Fterminal" in r.headers["Location"], r
    r = env_raw(srv, "GET", r.headers["Location"])
    assert r.status == 302 and r.headers["Location"] == "/_atrium/terminal", r
    cookie = r.headers["Set-Cookie"].split(";")[0]
    page = env_raw(srv, "GET", env["url"] + "_atrium/terminal", headers={"Cookie": cookie, **html})
    assert page.status == 200 and page.headers["Content-Type"].startswith("text/html"), page
    assert "frame-ancestors 'none'" in page.headers["Content-Security-Policy"]
    script = re.search(r'src="(/_atrium/assets/terminal-[^"]+\.js)"', page.body.decode()).group(1)
    js = env_raw(srv, "GET", env["url"] + script[1:])
    assert js.status == 200 and "javascript" in js.headers["Content-Type"], js
    # A browser opening the environment lands on that page (the app sends it there); a program
    # still reads the app's own answer.
    r = env_raw(srv, "GET", env["url"], headers={"Cookie": cookie, **html})
    assert r.status == 302 and r.headers["Location"] == "/_atrium/terminal", r
    assert "websocket" in proxied(srv, "GET", env["url"], member.token).body.decode()
    # The page's WebSocket, same origin, with the cookie: a shell.
    ws = env_ws(srv, env["url"] + "websocket", headers={"Cookie": cookie, "Origin": f"http://{host}"})
    terminal_run(ws, "echo page-$((6*7))", r"page-42")
    ws.close()
    # Not on Atrium's origin, and nothing else under /_atrium/ there.
    assert srv.raw("GET", "/_atrium/terminal", headers=html).status == 404
    assert env_raw(srv, "GET", env["url"] + "_atrium/nope", headers={"Cookie": cookie}).status == 404
    stop(srv, member.token, env["id"])


def test_cli_env_commands(srv, w, tmp_path):
    member = w.a.users["member"]
    env = base_env({"ATRIUM_SERVER_URL": srv.base, "ATRIUM_TOKEN": member.token,
                    "ATRIUM_CONFIG_DIR": str(tmp_path)})

    def cli(*args):
        p = subprocess.run([ATRIUM_BIN, *args], env=env, capture_output=True, text=True, timeout=120)
        return p

    p = cli("env", "apps")
    assert p.returncode == 0 and "jupyter" in p.stdout and "terminal" in p.stdout, p
    p = cli("env", "launch", "--app", "echo", "--project", w.a.org_project["id"], "--mem", "256M", "--wait")
    assert p.returncode == 0, p
    m = re.search(r"Environment (env_\w+) \(echo\) is READY", p.stdout)
    assert m and f"Open http://{env_host(srv, m.group(1))}/" in p.stdout, p.stdout
    eid = m.group(1)
    p = cli("env", "list", "--active")
    assert p.returncode == 0 and eid in p.stdout and "READY" in p.stdout, p
    p = cli("env", "show", eid)
    assert p.returncode == 0 and "READY  ready" in p.stdout and re.search(r"mem_mb: +256", p.stdout), p
    p = cli("env", "share", eid, "--ttl", "10m")
    assert p.returncode == 0 and "atrium_guest=" in p.stdout, p
    p = cli("env", "stop", eid)
    assert p.returncode == 0 and "Stopping" in p.stdout, p
    wait_state(srv, member.token, eid, ("STOPPED",), 60)
    p = cli("env", "launch", "--app", "nope", "--project", w.a.org_project["id"])
    assert p.returncode == 1 and "unknown-app" in (p.stderr + p.stdout), p


def procs_naming(text):
    """The /proc/<pid>/cmdline files that contain `text` (a process may end while they are read)."""
    found = []
    for p in glob.glob("/proc/[0-9]*/cmdline"):
        try:
            if text.encode() in Path(p).read_bytes():
                found.append(p)
        except OSError:
            pass
    return found


def test_environments_survive_a_server_kill9(make_server):
    srv = make_server(env=ENV_SERVER)
    adm = srv.admin_token()
    r = srv.call("POST", "/api/v1/orgs", adm, json={"slug": "k9", "name": "K9"})
    org = r.json["id"]
    pid = srv.call("POST", f"/api/v1/orgs/{org}/projects", adm, json={"slug": "p", "name": "P"}).json["id"]
    keep = wait_state(srv, adm, launch(srv, adm, pid, "terminal").json["id"])
    lose = wait_state(srv, adm, launch(srv, adm, pid, "terminal").json["id"])
    lose_job = lose["job_id"]
    srv.kill9()
    # While the server is down, one environment's sandbox dies too.
    sup = procs_naming(f"/jobs/{lose_job}/")
    assert sup, "the lost environment's supervisor"
    for p in sup:
        os.kill(int(p.split("/")[2]), 9)
    srv.restart()
    lose = wait_state(srv, adm, lose["id"], ("FAILED",), 60)
    assert "NODE_FAIL" in lose["reason"] or "exited" in lose["reason"], lose
    assert not (srv.data_dir / "envs" / lose["id"] / "run").exists()
    again = srv.call("GET", f"/api/v1/envs/{keep['id']}", adm).json
    assert again["state"] == "READY", again
    ws = env_ws(srv, keep["url"] + "websocket", headers=bearer(adm))
    terminal_run(ws, "echo still-$((1+1))", r"still-2")
    ws.close()
    stop(srv, adm, keep["id"])
    # No process of either sandbox is left.
    for job in (keep["job_id"], lose_job):
        left = procs_naming(f"/jobs/{job}/")
        wait_until(lambda: not [p for p in left if Path(p).exists()], 30, 0.1, "the sandbox to be gone")
