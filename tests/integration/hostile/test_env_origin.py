"""Environment content on its own origin (issue 14, "environment content shares Atrium's origin").

An environment is served at http://env-<id>.env.localhost:<port>/, never on Atrium's origin: a web app
in an environment serves a page whose script tries what a hostile app would (read Atrium's cookies,
mint a token with POST /api/v1/tokens and call the API with the visitor's session, register a
service worker for Atrium's origin, plant Atrium cookies with Set-Cookie) in a real headless
Chromium; all of it fails, while the same user's Jupyter opens in the browser after the ticket
redirect. Without a browser: a sign-in ticket is one-time, bound to its environment and its session,
and signed (its expiry cannot be moved); the environment's cookie never authorises the API.
"""
from __future__ import annotations

import json
import os
import sys
import urllib.parse

import pytest

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from cdp import Chromium, chromium_path  # noqa: E402
from conftest import (SERVE_H_ON_ATRIUM_SOCKET, USER_PASSWORD, Browser, World, env_suite_server,  # noqa: E402
                      is_problem, list_all, wait_until)

ENV_SERVER = {"ATRIUM_COMPUTE_CPUS": "16", "ATRIUM_COMPUTE_MEM_MB": "32768"}

# A hostile web app on the environment's socket: "/" is a page whose script attacks Atrium and
# records what happened; every answer also tries to plant Atrium's cookies and widen a service
# worker's scope; /api/... answers as the app (so that a same-origin call shows where it went).
HOSTILE_APP = r'''
import os, socketserver, http.server
PAGE = """<!doctype html><html><head><title>hostile</title></head><body><script>
(async () => {
  const main = new URLSearchParams(location.search).get("main");
  const env = new URLSearchParams(location.search).get("env");
  const r = {origin: location.origin, cookies: document.cookie};
  const attempt = async (name, f) => { try { r[name] = await f(); } catch (e) { r[name] = {error: String(e)}; } };
  await attempt("mint", async () => {
    const x = await fetch(main + "/api/v1/tokens", {method: "POST", credentials: "include",
      headers: {"Content-Type": "application/json", "X-CSRF-Token": "guess"},
      body: JSON.stringify({name: "stolen", scopes: ["*:*:*"]})});
    return {status: x.status, body: await x.text()};
  });
  await attempt("mint_simple", async () => {
    const x = await fetch(main + "/api/v1/tokens", {method: "POST", credentials: "include", mode: "no-cors",
      headers: {"Content-Type": "text/plain"}, body: JSON.stringify({name: "stolen-simple"})});
    return {type: x.type, status: x.status};
  });
  await attempt("me", async () => {
    const x = await fetch(main + "/api/v1/me", {credentials: "include"});
    return {status: x.status, body: await x.text()};
  });
  await attempt("same_origin_api", async () => {
    const x = await fetch("/api/v1/me", {credentials: "include"});
    return {status: x.status, body: (await x.text()).slice(0, 200)};
  });
  await attempt("sw_main", async () => {
    const reg = await navigator.serviceWorker.register(main + "/env/" + env + "/sw.js", {scope: main + "/"});
    return {scope: reg.scope};
  });
  await attempt("sw_own", async () => {
    const reg = await navigator.serviceWorker.register("/sw.js", {scope: "/"});
    return {scope: reg.scope};
  });
  document.cookie = "atrium_session=planted-by-script; Path=/";
  r.cookies_after = document.cookie;
  window.__results = r;
  document.title = "done";
})();
</script></body></html>""".encode()
SW = b"self.addEventListener('fetch', e => {});"
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        path = self.path.split("?")[0]
        if path == "/health":
            body, ctype = b"ok", "text/plain"
        elif path == "/sw.js":
            body, ctype = SW, "text/javascript"
        elif path.startswith("/api/"):
            body, ctype = b"answered by the app", "text/plain"
        else:
            body, ctype = PAGE, "text/html"
        self.send_response(200)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Set-Cookie", "atrium_session=planted-by-app; Path=/")
        self.send_header("Set-Cookie", "atrium_env=planted-by-app; Path=/")
        self.send_header("Set-Cookie", "Atrium_CSRF=planted-by-app; Path=/")
        self.send_header("Set-Cookie", "app_pref=kept; Path=/")
        self.send_header("Service-Worker-Allowed", "/")
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *a): pass
''' + SERVE_H_ON_ATRIUM_SOCKET


@pytest.fixture(scope="module")
def srv(tmp_path_factory):
    with env_suite_server(tmp_path_factory, "origin", ENV_SERVER) as s:
        yield s


@pytest.fixture(scope="module")
def w(srv) -> World:
    world = World(srv, srv.admin, prefix="o")
    r = srv.call("PUT", "/api/v1/apps/hostile", srv.admin, json={
        "kind": "web", "title": "hostile", "command": ["/usr/bin/python3", "-c", HOSTILE_APP],
        "health_path": "health", "defaults": {"cpus": 1, "mem_mb": 256}})
    assert r.status == 201, r
    return world


def ready(srv, token, project_id, app, **kw):
    r = srv.call("POST", f"/api/v1/projects/{project_id}/envs", token, json={"app": app, **kw})
    assert r.status == 201, r

    def get():
        e = srv.call("GET", f"/api/v1/envs/{r.json['id']}", token).json
        return e if e["state"] in ("READY", "FAILED", "STOPPED") else None
    e = wait_until(get, 120, 0.05, f"{app} to be ready")
    assert e["state"] == "READY", e
    return e


def on_origin(url):
    u = urllib.parse.urlsplit(url)
    return u.netloc, (u.path or "/") + ("?" + u.query if u.query else "")


def env_raw(srv, method, url, headers=None, body=None):
    host, path = on_origin(url)
    return srv.raw(method, path, body=body, headers={"Host": host, **(headers or {})})


def ticket_for(srv, session, env, rest="/"):
    r = srv.raw("GET", f"/env/{env['id']}{rest}", headers={"Cookie": f"atrium_session={session}"})
    assert r.status == 302, r
    loc = r.headers["Location"]
    assert loc.startswith(env["url"] + "_atrium/auth?ticket="), loc
    assert "no-store" in r.headers.get("Cache-Control", "")
    return loc


def tokens_named(srv, user, name):
    return [t for t in list_all(srv, "/api/v1/tokens", user.token) if t.get("name") == name]


@pytest.mark.skipif(chromium_path() is None, reason="needs Debian's chromium (scripts/install-deps.sh installs it)")
def test_hostile_app_page_cannot_use_atriums_session_in_a_real_browser(srv, w, tmp_path):
    member = w.a.users["member"]
    pid = w.a.org_project["id"]
    hostile = ready(srv, member.token, pid, "hostile")
    jupyter = ready(srv, member.token, pid, "jupyter", cpus=1, mem_mb=1024)
    main = f"http://localhost:{srv.port}"
    assert hostile["url"] == f"http://env-{hostile['id'][4:].lower()}.env.localhost:{srv.port}/"
    b = Browser(srv, member.username, USER_PASSWORD)
    chrome = Chromium(str(tmp_path / "profile"), "MAP *.env.localhost 127.0.0.1, MAP localhost 127.0.0.1")
    try:
        # The member is signed in to Atrium in this browser (the session and CSRF cookies, as /login sets them).
        chrome.set_cookie(name="atrium_session", value=b.session, url=main + "/", httpOnly=True, sameSite="Lax")
        chrome.set_cookie(name="atrium_csrf", value=b.csrf, url=main + "/", sameSite="Lax")
        # Opening the environment from Atrium: a ticket, then the app's page on its own origin.
        q = urllib.parse.urlencode({"main": main, "env": hostile["id"]})
        chrome.navigate(f"{main}/env/{hostile['id']}/?{q}")
        assert chrome.eval("location.origin") == hostile["url"].rstrip("/")
        wait_until(lambda: chrome.eval("document.title") == "done", 60, 0.05, "the page's script to finish")
        r = chrome.eval("window.__results")
        print(json.dumps(r, indent=1))
        assert r["origin"] == hostile["url"].rstrip("/")
        # No Atrium cookie is readable, planted by the app's answers, or ever reached the page.
        assert "atrium" not in r["cookies"].lower(), r["cookies"]
        assert "app_pref=kept" in r["cookies"], r["cookies"]
        # Minting a token with the visitor's session: refused by the browser (no CORS) or by Atrium (no
        # CSRF token, which the page cannot read); no token exists afterwards.
        assert "error" in r["mint"] or r["mint"]["status"] in (401, 403), r["mint"]
        assert r["mint_simple"].get("type") == "opaque" or "error" in r["mint_simple"], r["mint_simple"]
        assert tokens_named(srv, member, "stolen") == [] and tokens_named(srv, member, "stolen-simple") == []
        # Reading the API with the visitor's cookie: nothing comes back to the page.
        assert "error" in r["me"], r["me"]
        # The page's own origin has no Atrium API: /api/... there is the app's.
        assert r["same_origin_api"] == {"status": 200, "body": "answered by the app"}, r["same_origin_api"]
        # A service worker for Atrium's origin: impossible; one for the environment's own origin covers only it.
        assert "SecurityError" in r["sw_main"].get("error", ""), r["sw_main"]
        assert r["sw_own"].get("scope", hostile["url"]) == hostile["url"], r["sw_own"]
        # The browser's own view: Atrium's cookies are untouched on the main origin; on the environment's
        # origin there is only its host-only, HttpOnly cookie (the app's Set-Cookie attempts were dropped).
        main_cookies = {c["name"]: c for c in chrome.cookies(main + "/")}
        assert main_cookies["atrium_session"]["value"] == b.session
        assert main_cookies["atrium_csrf"]["value"] == b.csrf
        env_cookies = {c["name"]: c for c in chrome.cookies(hostile["url"])}
        env_cookie = env_cookies["atrium_env"]
        assert env_cookie["httpOnly"] and env_cookie["domain"] == on_origin(hostile["url"])[0].split(":")[0]
        assert env_cookie["value"] != "planted-by-app" and "Atrium_CSRF" not in env_cookies
        # The same user's Jupyter works in the same browser: its tree page after the ticket redirect.
        chrome.navigate(f"{main}/env/{jupyter['id']}/tree")
        assert chrome.eval("location.href") == jupyter["url"] + "tree"
        wait_until(lambda: "Home" in chrome.eval("document.title"), 60, 0.1, "the notebook tree page")
        assert chrome.eval("document.querySelectorAll('#notebook_list').length") == 1
        # Signing out of Atrium ends the environments' cookies at once: the next page load goes back to sign in.
        assert b.call("POST", "/api/v1/auth/logout").status == 204
        chrome.navigate(jupyter["url"] + "tree")
        assert chrome.eval("location.href").startswith(main + "/login?next=")
    finally:
        chrome.close()


def test_ticket_is_one_time_bound_to_its_env_and_session_and_signed(srv, w):
    member = w.a.users["member"]
    pid = w.a.org_project["id"]
    env = ready(srv, member.token, pid, "hostile")
    other = ready(srv, member.token, pid, "hostile")
    b = Browser(srv, member.username, USER_PASSWORD)
    # One use only: the second exchange of the same ticket is refused.
    loc = ticket_for(srv, b.session, env, "/deep/page?x=1")
    assert "next=%2Fdeep%2Fpage%3Fx%3D1" in loc
    r = env_raw(srv, "GET", loc)
    assert r.status == 302 and r.headers["Location"] == "/deep/page?x=1", r
    set_cookie = r.headers["Set-Cookie"]
    for attr in ("Path=/", "HttpOnly", "SameSite=Lax"):
        assert attr in set_cookie, set_cookie
    assert "Domain" not in set_cookie and "atrium_session" not in set_cookie
    cookie = set_cookie.split(";")[0]
    assert env_raw(srv, "GET", env["url"] + "x", {"Cookie": cookie}).status == 200
    assert is_problem(env_raw(srv, "GET", loc), 403, "bad-ticket")
    # Bound to its environment: replayed on another environment's host, refused (and not spent there).
    loc2 = ticket_for(srv, b.session, env)
    host_other, _ = on_origin(other["url"])
    _, path = on_origin(loc2)
    assert is_problem(srv.raw("GET", path, headers={"Host": host_other}), 403, "bad-ticket")
    # ... and the environment's cookie opens no other environment.
    assert is_problem(env_raw(srv, "GET", other["url"], {"Cookie": cookie}), 401)
    # Signed: a ticket whose payload was changed (a later expiry, another environment) is refused.
    t = urllib.parse.parse_qs(urllib.parse.urlsplit(loc2).query)["ticket"][0]
    payload, sig = t.split(".")
    import base64
    raw = base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)).decode()
    fields = raw.split("\n")
    fields[4] = str(int(fields[4]) + 3600_000)
    moved = base64.urlsafe_b64encode("\n".join(fields).encode()).decode().rstrip("=") + "." + sig
    assert is_problem(env_raw(srv, "GET", env["url"] + "_atrium/auth?ticket=" + moved), 403, "bad-ticket")
    assert int(fields[4]) - 3600_000 > 0  # (the expiry is in the ticket: at most 60 s ahead, see proxy_test)
    # Where the exchange sends the browser on stays on the environment's host.
    for evil in ("//evil.example/", "https://evil.example/", "/\\evil.example"):
        loc3 = ticket_for(srv, b.session, env)
        r = env_raw(srv, "GET", loc3.split("&next=")[0] + "&next=" + urllib.parse.quote(evil, safe=""))
        assert r.status == 302 and r.headers["Location"] == "/", (evil, r)
    # The environment's cookie never authorises Atrium's API, under any name or host.
    value = cookie.split("=", 1)[1]
    for hs in ({"Cookie": cookie}, {"Cookie": f"atrium_session={value}"}, {"Authorization": f"Bearer {value}"}):
        assert is_problem(srv.raw("GET", "/api/v1/me", headers=hs), 401), hs
        assert is_problem(srv.raw("POST", "/api/v1/tokens", body=b'{"name":"x"}',
                                  headers={**hs, "Content-Type": "application/json"}), 401), hs
    # The env origin never answers with Atrium's API either (its whole path space is the app's).
    r = env_raw(srv, "GET", env["url"] + "api/v1/me", {"Cookie": cookie})
    assert r.status == 200 and r.text == "answered by the app"
    r = env_raw(srv, "GET", env["url"] + "_atrium/anything", {"Cookie": cookie})
    assert is_problem(r, 404)
    # Bound to its session: once that session is signed out, its unused tickets and cookies are dead.
    loc4 = ticket_for(srv, b.session, env)
    assert b.call("POST", "/api/v1/auth/logout").status == 204
    assert is_problem(env_raw(srv, "GET", env["url"] + "x", {"Cookie": cookie}), 401)
    assert is_problem(env_raw(srv, "GET", loc4), 403, "bad-ticket")
    # Without a session the main origin hands out no ticket: a browser is sent to sign in.
    r = srv.raw("GET", f"/env/{env['id']}/", headers={"Accept": "text/html"})
    assert r.status == 302 and r.headers["Location"].startswith("/login?next="), r
    # Another user (an admin of the same org) gets no ticket for the member's environment.
    admin_b = Browser(srv, w.a.users["org-admin"].username, USER_PASSWORD)
    r = srv.raw("GET", f"/env/{env['id']}/", headers={"Cookie": f"atrium_session={admin_b.session}"})
    assert is_problem(r, 403), r


def test_revoked_session_ends_env_cookie_at_once(srv, w):
    member = w.a.users["member"]
    env = ready(srv, member.token, w.a.org_project["id"], "hostile")
    b = Browser(srv, member.username, USER_PASSWORD)
    r = env_raw(srv, "GET", ticket_for(srv, b.session, env))
    cookie = r.headers["Set-Cookie"].split(";")[0]
    assert env_raw(srv, "GET", env["url"] + "x", {"Cookie": cookie}).status == 200
    assert env_raw(srv, "GET", env["url"] + "x", {"Cookie": cookie}).status == 200  # (a remembered decision)
    sid = b.session_id
    assert srv.call("DELETE", f"/api/v1/auth/sessions/{sid}", member.token, if_match="*").status == 204
    assert is_problem(env_raw(srv, "GET", env["url"] + "x", {"Cookie": cookie}), 401)


def test_main_origin_no_longer_serves_environment_content(srv, w):
    member = w.a.users["member"]
    env = ready(srv, member.token, w.a.org_project["id"], "hostile")
    b = Browser(srv, member.username, USER_PASSWORD)
    # With the session: only a redirect, never the app's page (whose script would run on Atrium's origin).
    r = srv.raw("GET", f"/env/{env['id']}/sw.js", headers={"Cookie": f"atrium_session={b.session}"})
    assert r.status == 302 and "_atrium/auth?ticket=" in r.headers["Location"], r
    assert "Service-Worker-Allowed" not in r.headers and b"self.addEventListener" not in r.body
    # With a token: sent on to the environment's origin.
    r = srv.raw("GET", f"/env/{env['id']}/", headers={"Authorization": f"Bearer {member.token}"})
    assert r.status == 308 and r.headers["Location"] == env["url"], r
    # Unsafe requests with the session are refused outright.
    r = srv.raw("POST", f"/env/{env['id']}/x", b"x", headers={"Cookie": f"atrium_session={b.session}",
                                                            "Origin": f"http://127.0.0.1:{srv.port}"})
    assert is_problem(r, 403), r
    # Through the proxy, the app's Set-Cookie for Atrium's cookies and its Service-Worker-Allowed are dropped.
    r = env_raw(srv, "GET", env["url"] + "sw.js", {"Authorization": f"Bearer {member.token}"})
    assert r.status == 200
    assert [c.split("=")[0] for c in r.headers.get_all("Set-Cookie")] == ["app_pref"], r.headers
    assert "Service-Worker-Allowed" not in r.headers


def test_invitation_link_ignores_a_forged_host_header(srv, w):
    # The invitation's link goes to someone else: built from the main origin, never from the Host a
    # client sends (a forged Host would make Atrium mail a link to the attacker's server).
    oa = w.a.users["org-admin"].token
    r = srv.raw("POST", f"/api/v1/orgs/{w.a.id}/invitations",
                body=json.dumps({"role": "member", "email": "x@example.org"}).encode(),
                headers={"Authorization": f"Bearer {oa}", "Content-Type": "application/json",
                         "Host": "evil.example"})
    assert r.status == 201, r
    assert r.json["url"].startswith(f"http://localhost:{srv.port}/invite#"), r.json["url"]


def test_path_mode_is_an_opt_in_that_warns(make_server):
    s = make_server(env={**ENV_SERVER, "ATRIUM_ENVS_PATH_MODE": "true"})
    adm = s.admin_token()
    assert "envs.path_mode is on" in s.output()
    org = s.call("POST", "/api/v1/orgs", adm, json={"slug": "pm", "name": "PM"}).json["id"]
    pid = s.call("POST", f"/api/v1/orgs/{org}/projects", adm, json={"slug": "p", "name": "P"}).json["id"]
    assert s.call("PUT", "/api/v1/apps/hostile", adm, json={
        "kind": "web", "command": ["/usr/bin/python3", "-c", HOSTILE_APP], "health_path": "health"}).status == 201
    e = ready(s, adm, pid, "hostile")
    assert e["url"] == f"http://localhost:{s.port}/env/{e['id']}/"
    r = s.raw("GET", f"/env/{e['id']}/x", headers={"Authorization": f"Bearer {adm}"})
    assert r.status == 200 and b"hostile" in r.body
    # Even so, the app's answers plant no Atrium cookie.
    assert [c.split("=")[0] for c in r.headers.get_all("Set-Cookie")] == ["app_pref"], r.headers
    assert s.call("POST", f"/api/v1/envs/{e['id']}/stop", adm).status in (200, 409)
    wait_until(lambda: s.call("GET", f"/api/v1/envs/{e['id']}", adm).json["state"] in ("STOPPED", "FAILED"), 60, 0.05,
               "the environment to stop")
