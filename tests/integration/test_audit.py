"""The audit trail: every mutation leaves an event; filters; tenancy; export; hash-chain verify."""
import json
import sqlite3
import subprocess

import pytest

from conftest import ADMIN_PASSWORD, ATRIUM_BIN, USER_PASSWORD, Browser, base_env, create_user, is_problem, list_all


def events(server, token, query=""):
    return list_all(server, "/api/v1/audit/events" + (f"?{query}" if query else ""), token, limit=1000)


def token_id(server, token):
    return server.call("GET", "/api/v1/me", token).json["token_id"]


@pytest.fixture(scope="module")
def trail(server, admin, world):
    """Runs one of every kind of mutation and remembers each response; returns the list of
    (expected action, target id, org id or None, response, actor token)."""
    a = world.a
    oa = a.users["org-admin"]
    out = []

    def do(action, target, org, method, path, tok, **kw):
        r = server.call(method, path, tok, **kw)
        assert 200 <= r.status < 300, r
        tgt = target(r) if callable(target) else target
        out.append((action, tgt, org, r, tok))
        return r

    A = a.id
    o = server.call("GET", f"/api/v1/orgs/{A}", oa.token).json
    do("org.update", A, A, "PATCH", f"/api/v1/orgs/{A}", oa.token, json={"name": o["name"]}, if_match=o["etag"],
       headers={"X-Request-Id": "audit-trail-req-1"})
    u = create_user(server, admin, "audit-newbie")
    do("org.member.add", u["id"], A, "POST", f"/api/v1/orgs/{A}/members", oa.token,
       json={"user_id": u["id"], "role": "member"})
    do("org.member.update", u["id"], A, "PATCH", f"/api/v1/orgs/{A}/members/{u['id']}", oa.token,
       json={"role": "viewer"}, if_match="*")
    g = do("group.create", lambda r: r.json["id"], A, "POST", f"/api/v1/orgs/{A}/groups", oa.token,
           json={"slug": "audited", "name": "Audited"}).json
    do("group.update", g["id"], A, "PATCH", f"/api/v1/groups/{g['id']}", oa.token, json={"name": "Audited 2"},
       if_match="*")
    do("group.member.add", u["id"], A, "POST", f"/api/v1/groups/{g['id']}/members", oa.token,
       json={"user_id": u["id"]})
    do("group.member.remove", u["id"], A, "DELETE", f"/api/v1/groups/{g['id']}/members/{u['id']}", oa.token,
       if_match="*")
    do("group.delete", g["id"], A, "DELETE", f"/api/v1/groups/{g['id']}", oa.token, if_match="*")
    role = do("role.create", lambda r: r.json["id"], A, "POST", f"/api/v1/orgs/{A}/roles", oa.token,
              json={"name": "audited-role", "permissions": ["orgs:read:org"]}).json
    do("role.update", role["id"], A, "PATCH", f"/api/v1/roles/{role['id']}", oa.token,
       json={"permissions": ["orgs:read:org", "members:read:org"]}, if_match="*")
    do("role.delete", role["id"], A, "DELETE", f"/api/v1/roles/{role['id']}", oa.token, if_match="*")
    inv = do("invitation.create", lambda r: r.json["id"], A, "POST", f"/api/v1/orgs/{A}/invitations", oa.token,
             json={"role": "viewer"}).json
    do("invitation.revoke", inv["id"], A, "DELETE", f"/api/v1/invitations/{inv['id']}", oa.token, if_match="*")
    do("quota.set", A, A, "PUT", f"/api/v1/orgs/{A}/quotas/org/{A}", oa.token, json={"cpu_hours": 5}, if_match="*")
    p = do("project.create", lambda r: r.json["id"], A, "POST", f"/api/v1/orgs/{A}/projects", oa.token,
           json={"slug": "audited-p", "name": "Audited P"}).json
    do("project.update", p["id"], A, "PATCH", f"/api/v1/projects/{p['id']}", oa.token, json={"name": "P2"},
       if_match="*")
    do("project.archive", p["id"], A, "PATCH", f"/api/v1/projects/{p['id']}", oa.token, json={"archived": True},
       if_match="*")
    do("project.unarchive", p["id"], A, "PATCH", f"/api/v1/projects/{p['id']}", oa.token, json={"archived": False},
       if_match="*")
    do("project.member.add", u["id"], A, "POST", f"/api/v1/projects/{p['id']}/members", oa.token,
       json={"user_id": u["id"], "role": "viewer"})
    do("project.member.update", u["id"], A, "PATCH", f"/api/v1/projects/{p['id']}/members/{u['id']}", oa.token,
       json={"role": "member"}, if_match="*")
    do("project.member.remove", u["id"], A, "DELETE", f"/api/v1/projects/{p['id']}/members/{u['id']}", oa.token,
       if_match="*")
    do("project.delete", p["id"], A, "DELETE", f"/api/v1/projects/{p['id']}", oa.token, if_match="*")
    do("org.member.remove", u["id"], A, "DELETE", f"/api/v1/orgs/{A}/members/{u['id']}", oa.token, if_match="*")
    t = do("token.create", lambda r: r.json["id"], None, "POST", "/api/v1/tokens", oa.token, json={"name": "aud"}).json
    do("token.revoke", t["id"], None, "DELETE", f"/api/v1/tokens/{t['id']}", oa.token, if_match="*")
    do("user.update", u["id"], None, "PATCH", f"/api/v1/users/{u['id']}", admin, json={"display_name": "N"},
       if_match="*")
    do("org.create", lambda r: r.json["id"], lambda r: r.json["id"], "POST", "/api/v1/orgs", admin,
       json={"slug": "audit-extra", "name": "Extra"})
    return out


def test_every_mutation_leaves_an_event(server, admin, trail, world):
    everything = events(server, admin)
    by_rid = {}
    for e in everything:
        by_rid.setdefault(e["request_id"], []).append(e)
    for action, target, org, r, tok in trail:
        rid = r.headers["x-request-id"]
        evs = [e for e in by_rid.get(rid, []) if e["action"] == action]
        assert len(evs) == 1, (action, rid, by_rid.get(rid))
        e = evs[0]
        org_id = org(r) if callable(org) else org
        me = server.call("GET", "/api/v1/me", tok).json
        assert e["target_id"] == target, (action, e)
        assert e["org_id"] == org_id, (action, e)
        assert e["actor_id"] == me["id"] and e["actor"] == me["username"], (action, e)
        assert e["token_id"] == me["token_id"], (action, e)
        assert e["client_ip"] == "127.0.0.1", (action, e)
        assert e["time"].endswith("Z") and e["hash"] and e["prev_hash"], e
    # A sane client request id is kept and recorded.
    assert trail[0][3].headers["x-request-id"] == "audit-trail-req-1"
    seqs = [e["seq"] for e in everything]
    assert seqs == list(range(1, len(seqs) + 1))
    for prev, cur in zip(everything, everything[1:]):
        assert cur["prev_hash"] == prev["hash"]


def test_sessions_and_passwords_are_audited(server, admin, world):
    u = create_user(server, admin, "audit-login")
    b = Browser(server, u["username"], USER_PASSWORD)
    r = b.call("POST", "/api/v1/auth/password", json={"current_password": USER_PASSWORD,
                                                        "new_password": "another-password-1"})
    assert r.status == 204
    b2 = Browser(server, u["username"], "another-password-1")
    r2 = b.call("DELETE", f"/api/v1/auth/sessions/{b2.session_id}", if_match="*")
    assert r2.status == 204
    assert server.login(u["username"], "wrong-password-zz").status == 401
    mine = events(server, admin, f"actor={u['id']}")
    assert [e["action"] for e in mine] == ["auth.login", "user.password_change", "auth.login",
                                           "auth.session.revoke"]
    assert mine[0]["target_id"] == b.session_id and mine[0]["token_id"] is None
    assert mine[1]["request_id"] == r.headers["x-request-id"]
    failed = events(server, admin, f"action=auth.login_failed&target={u['id']}")
    assert len(failed) == 1 and failed[0]["actor_id"] is None and failed[0]["summary"]["username"] == u["username"]


def test_failed_mutations_leave_no_event(server, admin, world):
    a = world.a
    oa = a.users["org-admin"].token
    before = len(events(server, admin))
    assert server.call("PATCH", f"/api/v1/orgs/{a.id}", oa, json={"name": "x"}, if_match='"v999"').status == 412
    assert server.call("POST", f"/api/v1/orgs/{a.id}/groups", oa, json={"slug": "BAD", "name": "x"}).status == 400
    assert server.call("POST", f"/api/v1/orgs/{a.id}/groups", a.users["member"].token,
                       json={"slug": "nope", "name": "x"}).status == 403
    assert server.call("POST", "/api/v1/orgs", oa, json={"slug": "nope", "name": "x"}).status == 403
    assert len(events(server, admin)) == before


def test_filters(server, admin, trail, world):
    a = world.a
    oa = a.users["org-admin"]
    allev = events(server, admin)
    # actor
    got = events(server, admin, f"actor={oa.id}")
    assert got and all(e["actor_id"] == oa.id for e in got)
    assert len(got) == len([e for e in allev if e["actor_id"] == oa.id])
    # org
    got = events(server, admin, f"org={a.id}")
    assert got and all(e["org_id"] == a.id for e in got)
    assert len(got) == len([e for e in allev if e["org_id"] == a.id])
    # action: exact and prefix
    got = events(server, admin, "action=project.*")
    assert {e["action"] for e in got} >= {"project.create", "project.update", "project.archive", "project.unarchive",
                                          "project.member.add", "project.member.update", "project.member.remove",
                                          "project.delete"}
    assert all(e["action"].startswith("project.") for e in got)
    assert len(got) == len([e for e in allev if e["action"].startswith("project.")])
    got = events(server, admin, "action=project.member.*")
    assert {e["action"] for e in got} == {"project.member.add", "project.member.update", "project.member.remove"}
    got = events(server, admin, "action=project.delete")
    assert {e["action"] for e in got} == {"project.delete"}
    assert events(server, admin, "action=project") == []
    # target
    pid = next(t for act, t, *_ in trail if act == "project.create")
    got = events(server, admin, f"target={pid}")
    assert [e["action"] for e in got] == ["project.create", "project.update", "project.archive",
                                           "project.unarchive", "project.delete"]
    # since / until (since inclusive, until exclusive)
    mid = allev[len(allev) // 2]
    since = events(server, admin, f"since={mid['time']}")
    until = events(server, admin, f"until={mid['time']}")
    assert all(e["time"] >= mid["time"] for e in since) and mid["seq"] in [e["seq"] for e in since]
    assert all(e["time"] < mid["time"] for e in until)
    assert len(since) + len(until) == len(allev)
    assert events(server, admin, "since=2999-01-01T00:00:00Z") == []
    assert len(events(server, admin, "until=2999-01-01T00:00:00Z")) == len(allev)
    # combined
    got = events(server, admin, f"actor={oa.id}&org={a.id}&action=role.*")
    # (the world fixture's "auditor" role, then the trail's role)
    assert [e["action"] for e in got] == ["role.create", "role.create", "role.update", "role.delete"]
    # bad filters
    for bad in ("since=yesterday", "until=2026-13-01T00:00:00Z", "limit=0", "limit=1001", "after=zzz"):
        assert is_problem(server.call("GET", f"/api/v1/audit/events?{bad}", admin), 400), bad
    # paging over the events returns each once, in order
    paged = list_all(server, "/api/v1/audit/events", admin, limit=7)
    assert [e["seq"] for e in paged] == [e["seq"] for e in allev]


def test_org_admins_see_their_org_only_and_members_nothing(server, admin, trail, world):
    a, b = world.a, world.b
    oa = a.users["org-admin"].token
    got = events(server, oa)
    assert got and all(e["org_id"] == a.id for e in got)
    assert len(got) == len(events(server, admin, f"org={a.id}"))
    assert not [e for e in got if e["org_id"] == b.id]
    assert events(server, oa, f"org={a.id}") == got
    assert is_problem(server.call("GET", f"/api/v1/audit/events?org={b.id}", oa), 404)
    assert is_problem(server.call("GET", f"/api/v1/audit/export?org={b.id}", oa), 404)
    for role in ("member", "viewer"):
        tok = a.users[role].token
        assert is_problem(server.call("GET", "/api/v1/audit/events", tok), 403)
        assert is_problem(server.call("GET", f"/api/v1/audit/events?org={a.id}", tok), 403)
        assert is_problem(server.call("GET", f"/api/v1/audit/events?org={b.id}", tok), 404)
        assert is_problem(server.call("GET", "/api/v1/audit/export", tok), 403)
        assert is_problem(server.call("GET", "/api/v1/audit/verify", tok), 403)
    assert is_problem(server.call("GET", "/api/v1/audit/verify", oa), 403)
    assert is_problem(server.call("GET", "/api/v1/audit/events"), 401)


def test_export_is_ndjson_with_all_events(server, admin, trail, world):
    r = server.call("GET", "/api/v1/audit/export", admin)
    assert r.status == 200 and r.content_type == "application/x-ndjson", r
    lines = r.text.splitlines()
    assert r.text.endswith("\n")
    exported = [json.loads(line) for line in lines]
    listed = events(server, admin)
    assert [e["seq"] for e in exported] == [e["seq"] for e in listed]
    assert exported == listed
    r = server.call("GET", f"/api/v1/audit/export?org={world.a.id}", world.a.users["org-admin"].token)
    assert r.status == 200
    assert [json.loads(x) for x in r.text.splitlines()] == events(server, admin, f"org={world.a.id}")


def test_no_secrets_in_the_trail(server, admin, trail, world):
    text = server.call("GET", "/api/v1/audit/export", admin).text
    assert USER_PASSWORD not in text and "another-password-1" not in text
    assert ADMIN_PASSWORD not in text
    assert "atr_" not in text, "no token secret in the audit trail"
    assert world.a.invitation["token"] not in text and world.a.invitation["token"].rsplit(".", 1)[1] not in text


def test_verify_api(server, admin, trail):
    r = server.call("GET", "/api/v1/audit/verify", admin)
    assert r.status == 200, r
    assert r.json["ok"] is True and r.json["first_broken"] is None
    assert r.json["checked"] == len(events(server, admin))


def run_verify(data_dir, *extra):
    return subprocess.run([ATRIUM_BIN, "admin", "audit", "verify", "--data-dir", str(data_dir), *extra],
                          capture_output=True, text=True, timeout=60, env=base_env(admin_password=None))


def test_offline_verify_detects_tampering(make_server):
    srv = make_server()
    admin = srv.admin_token()
    org = srv.call("POST", "/api/v1/orgs", admin, json={"slug": "tamper", "name": "Tamper"}).json
    for i in range(3):
        assert srv.call("POST", f"/api/v1/orgs/{org['id']}/projects", admin,
                        json={"slug": f"t{i}", "name": f"T{i}"}).status == 201
    n = srv.call("GET", "/api/v1/audit/verify", admin).json["checked"]
    assert n >= 6
    assert srv.stop() == 0

    ok = run_verify(srv.data_dir)
    assert ok.returncode == 0, ok
    assert "OK" in ok.stdout and str(n) in ok.stdout
    okj = run_verify(srv.data_dir, "--json")
    assert okj.returncode == 0 and json.loads(okj.stdout) == {"ok": True, "checked": n, "first_broken": None}

    db = sqlite3.connect(srv.data_dir / "atrium.db")
    try:
        with db:
            assert db.execute("UPDATE audit_events SET summary='{}' WHERE seq=3").rowcount == 1
    finally:
        db.close()
    bad = run_verify(srv.data_dir)
    assert bad.returncode == 1, bad
    assert "event 3" in bad.stdout, bad.stdout
    badj = run_verify(srv.data_dir, "--json")
    assert badj.returncode == 1
    j = json.loads(badj.stdout)
    assert j["ok"] is False and j["first_broken"]["seq"] == 3 and j["checked"] == 2

    # The running server reports the same break.
    srv.start()
    r = srv.call("GET", "/api/v1/audit/verify", srv.admin_token())
    assert r.status == 200 and r.json["ok"] is False and r.json["first_broken"]["seq"] == 3, r


def test_offline_verify_detects_a_deleted_event(make_server):
    srv = make_server()
    srv.admin_token()
    assert srv.stop() == 0
    db = sqlite3.connect(srv.data_dir / "atrium.db")
    try:
        total = db.execute("SELECT COUNT(*) FROM audit_events").fetchone()[0]
        assert total >= 3
        with db:
            db.execute("DELETE FROM audit_events WHERE seq=2")
    finally:
        db.close()
    bad = run_verify(srv.data_dir, "--json")
    assert bad.returncode == 1, bad
    assert json.loads(bad.stdout)["first_broken"]["seq"] in (2, 3)
    missing = run_verify(srv.data_dir.parent / "no-such-dir")
    assert missing.returncode != 0 and missing.stderr
