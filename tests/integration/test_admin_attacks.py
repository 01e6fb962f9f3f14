"""Attacks on the administration features of issue 20 (org and instance administration), each the
request an attacker would make, and what must come back.

- The app catalog (GET /api/v1/apps, /apps/{name}) is read by every signed-in user: it must not
  name other orgs (the ids an app is enabled for, their per-org settings), and an app enabled only
  for another org does not exist for the caller.
- A custom role's holder with roles:write cannot change a role that grants more than they hold (as
  they cannot demote a member above them): they would strip its holders' rights.
- An alert webhook cannot point at the server's own API under another spelling of its origin
  (loopback address forms, a trailing dot), when the alerts routes are wired.
- Org administrators cannot reach the instance's switches: disabling an org (theirs or another),
  other orgs' usage and fair share, the instance-wide queues; the last org admin stays.
"""
from __future__ import annotations

import json

import pytest

from conftest import USER_PASSWORD, add_member, create_user, is_problem


class Ctx:
    pass


def member(srv, tok, org, uid) -> dict:
    r = srv.call("GET", f"/api/v1/orgs/{org}/members?limit=200", tok)
    assert r.status == 200, r
    return next(m for m in r.json["items"] if m["user_id"] == uid)


@pytest.fixture(scope="module")
def ctx(server, admin):
    """Orgs A and B: A with an org admin, a member and a manager (a custom role: roles and members,
    nothing else); B with an org admin."""
    c = Ctx()
    c.srv, c.admin = server, admin
    c.org = {}
    for slug in ("atk-a", "atk-b"):
        r = server.call("POST", "/api/v1/orgs", admin, json={"slug": slug, "name": slug.upper()})
        assert r.status == 201, r
        c.org[slug] = r.json["id"]
    c.a, c.b = c.org["atk-a"], c.org["atk-b"]
    c.tok, c.uid = {}, {}
    for name, org, role in (("atk-a-admin", c.a, "org-admin"), ("atk-a-mem", c.a, "member"),
                            ("atk-b-admin", c.b, "org-admin"), ("atk-a-mgr", c.a, "member")):
        u = create_user(server, admin, name)
        add_member(server, admin, org, u["id"], role)
        c.uid[name] = u["id"]
        c.tok[name] = server.login_token(name, USER_PASSWORD)
    oa = c.tok["atk-a-admin"]
    r = server.call("POST", f"/api/v1/orgs/{c.a}/roles", oa,
                    json={"name": "manager", "description": "roles and members",
                          "permissions": ["orgs:read:org", "roles:*:org", "members:*:org"]})
    assert r.status == 201, r
    c.manager = r.json
    r = server.call("POST", f"/api/v1/orgs/{c.a}/roles", oa,
                    json={"name": "officer", "description": "reads the audit log",
                          "permissions": ["orgs:read:org", "audit:read:org", "roles:read:org"]})
    assert r.status == 201, r
    c.officer = r.json
    m = member(server, oa, c.a, c.uid["atk-a-mgr"])
    r = server.call("PATCH", f"/api/v1/orgs/{c.a}/members/{c.uid['atk-a-mgr']}", oa,
                    json={"role": "manager"}, if_match=m["etag"])
    assert r.status == 200, r
    c.tok["atk-a-mgr"] = server.login_token("atk-a-mgr", USER_PASSWORD)
    return c


# ---------------------------------------------------------------------------- the app catalog


def test_app_catalog_names_no_other_org(ctx):
    srv, admin, a, b = ctx.srv, ctx.admin, ctx.a, ctx.b
    shared = {"kind": "web", "command": ["true"], "orgs": [a, b],
              "per_org": {a: {"idle_timeout_s": 600}, b: {"max_uptime_s": 7200}}}
    assert srv.call("PUT", "/api/v1/apps/atk-shared", admin, json=shared).status in (200, 201)
    b_only = {"kind": "web", "command": ["true"], "orgs": [b], "per_org": {b: {"idle_timeout_s": 60}}}
    assert srv.call("PUT", "/api/v1/apps/atk-b-only", admin, json=b_only).status in (200, 201)
    for who in ("atk-a-mem", "atk-a-admin"):
        tok = ctx.tok[who]
        lst = srv.call("GET", "/api/v1/apps", tok)
        assert lst.status == 200, lst
        assert b not in lst.text, (who, "the catalog names org B")
        names = [x["name"] for x in lst.json["items"]]
        assert "atk-shared" in names and "atk-b-only" not in names
        one = srv.call("GET", "/api/v1/apps/atk-shared", tok)
        assert one.status == 200, one
        assert b not in one.text, (who, "an app names org B")
        # The caller's own org and settings stay visible.
        assert one.json["orgs"] == [a] and one.json["per_org"] == {a: {"idle_timeout_s": 600}}
        # B's own app does not exist for A's people (its ids and settings are B's).
        assert is_problem(srv.call("GET", "/api/v1/apps/atk-b-only", tok), 404)
    # B's admin sees B's side only; the instance admin sees everything.
    one_b = srv.call("GET", "/api/v1/apps/atk-shared", ctx.tok["atk-b-admin"])
    assert one_b.status == 200 and a not in one_b.text and one_b.json["per_org"] == {b: {"max_uptime_s": 7200}}
    full = srv.call("GET", "/api/v1/apps/atk-shared", admin)
    assert full.status == 200 and set(full.json["orgs"]) == {a, b} and set(full.json["per_org"]) == {a, b}
    assert srv.call("GET", "/api/v1/apps/atk-b-only", admin).status == 200


# ---------------------------------------------------------------------------- roles


def test_a_manager_cannot_change_a_role_above_them(ctx):
    srv, a = ctx.srv, ctx.a
    mgr = ctx.tok["atk-a-mgr"]
    officer = srv.call("GET", f"/api/v1/roles/{ctx.officer['id']}", mgr)
    assert officer.status == 200, officer
    # Stripping audit:read from the officers (a role granting what the manager does not hold).
    r = srv.call("PATCH", f"/api/v1/roles/{ctx.officer['id']}", mgr,
                 json={"permissions": ["orgs:read:org", "roles:read:org"]}, if_match=officer.etag)
    assert is_problem(r, 403), r
    after = srv.call("GET", f"/api/v1/roles/{ctx.officer['id']}", ctx.tok["atk-a-admin"])
    assert "audit:read:org" in after.json["permissions"] and after.etag == officer.etag
    # Nor more than they hold, in their own role or another (unchanged behaviour).
    own = srv.call("GET", f"/api/v1/roles/{ctx.manager['id']}", mgr)
    r = srv.call("PATCH", f"/api/v1/roles/{ctx.manager['id']}", mgr,
                 json={"permissions": ["roles:*:org", "members:*:org", "audit:read:org"]}, if_match=own.etag)
    assert is_problem(r, 403), r
    # Nor give themselves the officers' role or org-admin (a role above them).
    me = member(srv, mgr, a, ctx.uid["atk-a-mgr"])
    for role in ("officer", "org-admin"):
        r = srv.call("PATCH", f"/api/v1/orgs/{a}/members/{ctx.uid['atk-a-mgr']}", mgr, json={"role": role},
                     if_match=me["etag"])
        assert is_problem(r, 403), (role, r)
    # The org admin, who holds every grant of the role, still may.
    r = srv.call("PATCH", f"/api/v1/roles/{ctx.officer['id']}", ctx.tok["atk-a-admin"],
                 json={"description": "reads the audit log (checked)"}, if_match=officer.etag)
    assert r.status == 200, r


def test_the_last_org_admin_stays(ctx):
    srv, b = ctx.srv, ctx.b
    tok, me = ctx.tok["atk-b-admin"], ctx.uid["atk-b-admin"]
    m = member(srv, tok, b, me)
    assert m["last_admin"] is True, m
    r = srv.call("PATCH", f"/api/v1/orgs/{b}/members/{me}", tok, json={"role": "member"}, if_match=m["etag"])
    assert 400 <= r.status < 500 and is_problem(r), r
    r = srv.call("DELETE", f"/api/v1/orgs/{b}/members/{me}", tok, if_match=m["etag"])
    assert 400 <= r.status < 500 and is_problem(r), r
    again = member(srv, tok, b, me)
    assert again["role"] == "org-admin" and again["etag"] == m["etag"]


# ---------------------------------------------------------------------------- instance switches


def test_org_admins_reach_no_instance_switch_nor_another_org(ctx):
    srv, a, b = ctx.srv, ctx.a, ctx.b
    oa = ctx.tok["atk-a-admin"]
    for org in (a, b):
        o = srv.call("GET", f"/api/v1/orgs/{org}", ctx.admin)
        r = srv.call("PATCH", f"/api/v1/orgs/{org}", oa, json={"disabled": True}, if_match=o.etag)
        assert r.status in (403, 404), (org, r)
        assert srv.call("GET", f"/api/v1/orgs/{org}", ctx.admin).json["disabled"] is False
    for path in (f"/api/v1/orgs/{b}/usage", f"/api/v1/orgs/{b}/fairshare", f"/api/v1/orgs/{b}/usage?by=user",
                 f"/api/v1/users/{ctx.uid['atk-b-admin']}/orgs"):
        r = srv.call("GET", path, oa)
        assert r.status == 404 and b not in r.text and "ATK-B" not in r.text, (path, r)
    for path in ("/api/v1/admin/compute/queue", f"/api/v1/admin/compute/queue?org={b}", "/api/v1/admin/envs",
                 "/api/v1/admin/health", f"/api/v1/users/{ctx.uid['atk-a-mem']}/orgs"):
        r = srv.call("GET", path, oa)
        assert r.status in (403, 404) and b not in r.text, (path, r)
    # A member of A reads neither A's usage nor its fair share (quotas:read over the org).
    for path in (f"/api/v1/orgs/{a}/usage", f"/api/v1/orgs/{a}/fairshare"):
        assert srv.call("GET", path, ctx.tok["atk-a-mem"]).status in (403, 404), path


def test_usage_ranges_are_bounded_before_any_work(ctx):
    srv, a = ctx.srv, ctx.a
    oa = ctx.tok["atk-a-admin"]
    for q, field in (("?from=1970-01-01&to=2026-12-01", "from"), ("?bucket=hour", "bucket"), ("?by=org", "by"),
                     ("?from=2026-12-02&to=2026-12-01", "from"), ("?from=yesterday", "from"),
                     ("?bucket=month&from=1900-01-01&to=2026-12-01", "from")):
        r = srv.call("GET", f"/api/v1/orgs/{a}/usage{q}", oa)
        assert is_problem(r, 400) and r.json.get("field") == field, (q, r)


# ---------------------------------------------------------------------------- alert webhooks


def test_a_webhook_cannot_call_the_servers_own_api_spelt_otherwise(ctx):
    srv, admin = ctx.srv, ctx.admin
    if srv.call("GET", "/api/v1/admin/alerts/figures", admin).status == 404:
        pytest.skip("the alerts routes are not wired in this build")
    port = srv.port
    urls = [f"http://localhost:{port}/api/v1/admin/gc", f"http://localhost.:{port}/api/v1/admin/gc",
            f"http://127.0.0.1:{port}/api/v1/admin/gc", f"http://127.1:{port}/", f"http://2130706433:{port}/",
            f"http://[::1]:{port}/", f"http://0.0.0.0:{port}/", f"https://localhost:{port}/"]
    before = srv.call("GET", "/api/v1/admin/alerts/rules?limit=200", admin).json["items"]
    for i, url in enumerate(urls):
        body = {"name": f"atk-self-{i}", "figure": "disk_free_ratio", "op": "<", "threshold": -1,
                "webhook_url": url}
        r = srv.call("POST", "/api/v1/admin/alerts/rules", admin, json=body)
        assert is_problem(r, 400) and r.json.get("field") == "webhook_url", (url, r)
        assert "whsec_" not in r.text
    assert srv.call("GET", "/api/v1/admin/alerts/rules?limit=200", admin).json["items"] == before
    # A receiver elsewhere on this machine is still fine (local receivers are legitimate).
    ok = srv.call("POST", "/api/v1/admin/alerts/rules", admin,
                  json={"name": "atk-elsewhere", "figure": "disk_free_ratio", "op": "<", "threshold": -1,
                        "webhook_url": "http://127.0.0.1:9/hook"})
    assert ok.status == 201, ok
    assert json.dumps(ok.json).count("whsec_") == 1
    assert srv.call("DELETE", f"/api/v1/admin/alerts/rules/{ok.json['id']}", admin,
                    if_match=ok.json["etag"]).status == 204
