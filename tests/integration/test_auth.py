"""Sign-in, sessions, CSRF, login throttling, password change and API tokens."""
import base64
import re
import sqlite3

import pytest

from conftest import (ADMIN_PASSWORD, USER_PASSWORD, Browser, add_member, create_user, idempotency_rows_containing,
                      is_problem, new_key,
                      parse_cookies, wait_until)


def db_exec(server, sql, params=()):
    """Writes to the live server's database: for faults the API cannot produce (time passing)."""
    db = sqlite3.connect(server.data_dir / "atrium.db", timeout=30)
    try:
        with db:
            return db.execute(sql, params).rowcount
    finally:
        db.close()


@pytest.fixture(scope="module")
def org(server):
    r = server.call("POST", "/api/v1/orgs", server.admin, json={"slug": "auth-org", "name": "Auth Org"})
    assert r.status == 201, r
    return r.json


_counter = [0]


@pytest.fixture
def fresh_user(server, org):
    """A new member of the module's org (one argon2 hash per use)."""
    _counter[0] += 1
    name = f"auth-user-{_counter[0]}"
    u = create_user(server, server.admin, name)
    add_member(server, server.admin, org["id"], u["id"], "member")
    u["password"] = USER_PASSWORD
    return u


# ---------------------------------------------------------------------------- login / logout


def test_login_sets_session_and_csrf_cookies(server):
    r = server.login("admin", ADMIN_PASSWORD)
    assert r.status == 200, r
    body = r.json
    assert body["user"]["username"] == "admin"
    assert body["csrf_token"] and body["expires_at"].endswith("Z")
    assert "password_hash" not in body["user"]
    ck = parse_cookies(r)
    sess, csrf = ck["atrium_session"], ck["atrium_csrf"]
    assert sess["value"] and csrf["value"] == body["csrf_token"]
    for c in (sess, csrf):
        assert c["attrs"].get("samesite", "").lower() == "lax"
        assert c["attrs"].get("path") == "/"
        assert "secure" not in c["attrs"], "no Secure flag over plain http"
        assert int(c["attrs"]["max-age"]) > 0
    assert "httponly" in sess["attrs"]
    assert "httponly" not in csrf["attrs"], "the UI must be able to read the CSRF cookie"

    cookies = {"atrium_session": sess["value"]}
    me = server.call("GET", "/api/v1/me", cookies=cookies)
    assert me.status == 200 and me.json["username"] == "admin" and me.json["instance_admin"] is True
    s = server.call("GET", "/api/v1/auth/session", cookies=cookies)
    assert s.status == 200 and s.json["via"] == "session" and s.json["session"]["current"] is True


def test_logout_clears_cookies_and_ends_session(server, fresh_user):
    b = Browser(server, fresh_user["username"], USER_PASSWORD)
    assert b.call("GET", "/api/v1/me").status == 200
    # Logout is unsafe: it needs the CSRF header too.
    r = b.call("POST", "/api/v1/auth/logout", csrf=False)
    assert is_problem(r, 403, "csrf")
    r = b.call("POST", "/api/v1/auth/logout")
    assert r.status == 204, r
    ck = parse_cookies(r)
    assert ck["atrium_session"]["value"] == "" and ck["atrium_session"]["attrs"]["max-age"] == "0"
    assert ck["atrium_csrf"]["value"] == "" and ck["atrium_csrf"]["attrs"]["max-age"] == "0"
    r = b.call("GET", "/api/v1/me")
    assert is_problem(r, 401)
    assert r.headers.get("www-authenticate", "").startswith("Bearer")


def test_logout_with_a_bearer_token_is_refused(server, admin):
    r = server.call("POST", "/api/v1/auth/logout", admin)
    assert is_problem(r, 400)


def test_logout_everywhere_ends_every_session_but_keeps_tokens(server, fresh_user):
    b1 = Browser(server, fresh_user["username"], USER_PASSWORD)
    b2 = Browser(server, fresh_user["username"], USER_PASSWORD)
    t = b1.call("POST", "/api/v1/tokens", json={"name": "stays"})
    assert t.status == 201, t
    # A malformed body ends nothing.
    assert is_problem(b1.call("POST", "/api/v1/auth/logout", json={"everywhere": "yes"}), 400)
    assert is_problem(b1.call("POST", "/api/v1/auth/logout", json={"all": True}), 400)
    assert b1.call("GET", "/api/v1/me").status == 200
    r = b1.call("POST", "/api/v1/auth/logout", json={"everywhere": True})
    assert r.status == 204, r
    assert parse_cookies(r)["atrium_session"]["value"] == ""
    for b in (b1, b2):
        assert is_problem(b.call("GET", "/api/v1/me"), 401)
    assert server.call("GET", "/api/v1/me", t.json["token"]).status == 200, "tokens stay"
    ev = server.call("GET", "/api/v1/audit/events?action=auth.session.revoke_all", server.admin).json["items"]
    assert any(e["target_id"] == fresh_user["id"] and e["summary"].get("sessions") == 2 for e in ev), ev


def test_logout_with_an_empty_object_ends_this_session_only(server, fresh_user):
    b1 = Browser(server, fresh_user["username"], USER_PASSWORD)
    b2 = Browser(server, fresh_user["username"], USER_PASSWORD)
    assert b1.call("POST", "/api/v1/auth/logout", json={}).status == 204
    assert is_problem(b1.call("GET", "/api/v1/me"), 401)
    assert b2.call("GET", "/api/v1/me").status == 200
    assert b2.call("POST", "/api/v1/auth/logout", json={"everywhere": False}).status == 204
    assert is_problem(b2.call("GET", "/api/v1/me"), 401)


def test_wrong_password_and_unknown_user_answer_the_same_401(server, fresh_user):
    r1 = server.login(fresh_user["username"], "not-the-password")
    r2 = server.login("no-such-user-anywhere", "not-the-password")
    for r in (r1, r2):
        assert is_problem(r, 401, "invalid-credentials")
        assert "set-cookie" not in r.headers
    assert r1.json["detail"] == r2.json["detail"]


def test_login_body_is_validated(server):
    assert is_problem(server.call("POST", "/api/v1/auth/login", json={"username": "admin"}), 400, "missing-field")
    assert is_problem(server.call("POST", "/api/v1/auth/login", json={"username": "admin", "password": "x", "otp": 1}),
                      400, "unknown-field")
    assert is_problem(server.call("POST", "/api/v1/auth/login", body="username=admin",
                                  headers={"Content-Type": "application/x-www-form-urlencoded"}), 415)


# ---------------------------------------------------------------------------- CSRF


def test_csrf_required_for_unsafe_methods_with_cookie_auth(server, fresh_user):
    b = Browser(server, fresh_user["username"], USER_PASSWORD)
    # Safe methods need no CSRF header.
    assert b.call("GET", "/api/v1/tokens", csrf=False).status == 200
    # Missing and wrong CSRF header -> 403 csrf, nothing created.
    r = b.call("POST", "/api/v1/tokens", csrf=False, json={"name": "no-csrf"})
    assert is_problem(r, 403, "csrf")
    r = server.call("POST", "/api/v1/tokens", cookies=b.cookies, csrf="wrong-" + b.csrf, json={"name": "bad-csrf"})
    assert is_problem(r, 403, "csrf")
    # The CSRF token of another session does not work either.
    other = Browser(server, fresh_user["username"], USER_PASSWORD)
    r = server.call("POST", "/api/v1/tokens", cookies=b.cookies, csrf=other.csrf, json={"name": "other-csrf"})
    assert is_problem(r, 403, "csrf")
    names = [t["name"] for t in b.call("GET", "/api/v1/tokens").json["items"]]
    assert names == []
    # With the right header it works.
    r = b.call("POST", "/api/v1/tokens", json={"name": "with-csrf"})
    assert r.status == 201, r
    # A bearer token needs no CSRF header (and a stray cookie does not change that).
    tok = r.json["token"]
    r = server.call("POST", "/api/v1/tokens", tok, json={"name": "bearer"})
    assert r.status == 201, r


# ---------------------------------------------------------------------------- throttling


def test_account_lockout_after_failures(make_server):
    srv = make_server(env={"ATRIUM_AUTH_LOGIN_MAX_FAILURES": "3", "ATRIUM_AUTH_LOGIN_LOCKOUT_BASE_S": "120",
                           "ATRIUM_AUTH_LOGIN_IP_PER_MINUTE": "1000"})
    admin = srv.admin_token()
    create_user(srv, admin, "locky")
    for i in range(3):
        r = srv.login("locky", f"wrong-password-{i}")
        assert is_problem(r, 401, "invalid-credentials")
    # Locked now (for this client): even the right password gets the answer a wrong one gets, so
    # the lock confirms neither the account nor the password (hostile/test_signin.py: other clients).
    for pw in (USER_PASSWORD, "wrong-password-again"):
        r = srv.login("locky", pw)
        assert is_problem(r, 401, "invalid-credentials")
        assert "retry-after" not in r.headers
        assert "set-cookie" not in r.headers
    # Other accounts are not affected.
    assert srv.login("admin", ADMIN_PASSWORD).status == 200
    # The failures are audited.
    ev = srv.call("GET", "/api/v1/audit/events?action=auth.login_failed", admin).json["items"]
    mine = [e for e in ev if e["summary"].get("username") == "locky"]
    failures = [e for e in mine if "failures" in e["summary"]]
    assert len(failures) == 3
    assert max(failures, key=lambda e: e["summary"]["failures"])["summary"].get("locked_for_s") == 120
    assert sum(e["summary"].get("reason") == "locked" for e in mine) == 2


def test_lockout_expires_and_success_resets_the_count(make_server):
    srv = make_server(env={"ATRIUM_AUTH_LOGIN_MAX_FAILURES": "2", "ATRIUM_AUTH_LOGIN_LOCKOUT_BASE_S": "1",
                           "ATRIUM_AUTH_LOGIN_IP_PER_MINUTE": "1000"})
    admin = srv.admin_token()
    create_user(srv, admin, "brief-lock")
    for _ in range(2):
        assert srv.login("brief-lock", "wrong-password-x").status == 401
    r = srv.login("brief-lock", USER_PASSWORD)
    assert is_problem(r, 401, "invalid-credentials")
    # The lock lasts about a second (a generous deadline).
    wait_until(lambda: srv.login("brief-lock", USER_PASSWORD).status == 200, 15, interval=0.2,
               what="the lockout to expire")
    # The success reset the count: one more failure does not lock again.
    assert srv.login("brief-lock", "wrong-password-x").status == 401
    assert srv.login("brief-lock", USER_PASSWORD).status == 200


def test_per_ip_login_rate_limit(make_server):
    srv = make_server(env={"ATRIUM_AUTH_LOGIN_IP_PER_MINUTE": "3"})
    for _ in range(3):
        r = srv.login("nobody-here", "wrong-password-x")
        assert is_problem(r, 401, "invalid-credentials")
    r = srv.login("admin", ADMIN_PASSWORD)
    assert is_problem(r, 429, "rate-limited")
    assert int(r.headers["retry-after"]) >= 1
    # A client-supplied forwarding header does not buy a fresh bucket.
    for h in ({"X-Forwarded-For": "10.9.8.7"}, {"X-Real-IP": "10.9.8.6"}, {"Forwarded": "for=10.9.8.5"}):
        r = srv.login("admin", ADMIN_PASSWORD, headers=h)
        assert is_problem(r, 429, "rate-limited"), h


# ---------------------------------------------------------------------------- sessions


def test_sessions_list_and_revoke(server, fresh_user):
    b1 = Browser(server, fresh_user["username"], USER_PASSWORD)
    b2 = Browser(server, fresh_user["username"], USER_PASSWORD)
    r = b1.call("GET", "/api/v1/auth/sessions")
    assert r.status == 200, r
    items = r.json["items"]
    ids = {s["id"] for s in items}
    assert {b1.session_id, b2.session_id} <= ids
    cur = [s for s in items if s["current"]]
    assert [s["id"] for s in cur] == [b1.session_id]
    assert all(s["client_ip"] == "127.0.0.1" for s in items)
    two = next(s for s in items if s["id"] == b2.session_id)

    assert is_problem(b1.call("DELETE", f"/api/v1/auth/sessions/{b2.session_id}"), 428, "if-match-required")
    assert is_problem(b1.call("DELETE", f"/api/v1/auth/sessions/{b2.session_id}", if_match='"v999"'), 412)
    r = b1.call("DELETE", f"/api/v1/auth/sessions/{b2.session_id}", if_match=two["etag"])
    assert r.status == 204, r
    assert is_problem(b2.call("GET", "/api/v1/me"), 401)
    assert b1.call("GET", "/api/v1/me").status == 200
    ids = {s["id"] for s in b1.call("GET", "/api/v1/auth/sessions").json["items"]}
    assert b2.session_id not in ids
    # Someone else's session is not visible (404, not 403).
    admin_sessions = server.call("GET", "/api/v1/auth/sessions", server.admin).json["items"]
    if admin_sessions:
        r = b1.call("DELETE", f"/api/v1/auth/sessions/{admin_sessions[0]['id']}", if_match="*")
        assert is_problem(r, 404)


def test_expired_and_idle_sessions_end(server, fresh_user):
    b1 = Browser(server, fresh_user["username"], USER_PASSWORD)
    b2 = Browser(server, fresh_user["username"], USER_PASSWORD)
    assert b1.call("GET", "/api/v1/me").status == 200
    assert b2.call("GET", "/api/v1/me").status == 200
    # Past its absolute lifetime.
    assert db_exec(server, "UPDATE sessions SET expires_ms = 1000 WHERE id = ?", (b1.session_id,)) == 1
    assert is_problem(b1.call("GET", "/api/v1/me"), 401)
    # Idle for longer than auth.session_idle_minutes (the first request above recorded its use).
    assert db_exec(server, "UPDATE sessions SET last_seen_ms = 1000 WHERE id = ?", (b2.session_id,)) == 1
    assert is_problem(b2.call("GET", "/api/v1/me"), 401)
    # A forged or truncated cookie is just anonymous.
    assert is_problem(server.call("GET", "/api/v1/me", cookies={"atrium_session": b1.session[:-2] + "xx"}), 401)
    assert is_problem(server.call("GET", "/api/v1/me", cookies={"atrium_session": "x" * 500}), 401)
    assert is_problem(server.call("GET", "/api/v1/me", cookies={"atrium_csrf": b2.csrf}), 401)


def test_basic_auth_with_a_token(server, admin):
    """Git clients send the token as the Basic password."""
    good = base64.b64encode(f"anyone:{admin}".encode()).decode()
    r = server.call("GET", "/api/v1/me", headers={"Authorization": f"Basic {good}"})
    assert r.status == 200 and r.json["username"] == "admin"
    for bad in (base64.b64encode(b"admin:" + ADMIN_PASSWORD.encode()).decode(), "!!!notbase64", ""):
        r = server.call("GET", "/api/v1/me", headers={"Authorization": f"Basic {bad}"})
        assert is_problem(r, 401), bad


def test_profile_self_service(server, org, fresh_user):
    me = server.login_token(fresh_user["username"], USER_PASSWORD)
    r = server.call("PATCH", f"/api/v1/users/{fresh_user['id']}", me, json={"display_name": "Me Myself"}, if_match="*")
    assert r.status == 200 and r.json["display_name"] == "Me Myself", r
    other = create_user(server, server.admin, f"colleague-of-{fresh_user['username']}")
    add_member(server, server.admin, org["id"], other["id"], "member")
    # Org colleagues may read each other, not change each other.
    assert server.call("GET", f"/api/v1/users/{other['id']}", me).status == 200
    r = server.call("PATCH", f"/api/v1/users/{other['id']}", me, json={"display_name": "pwned"}, if_match="*")
    assert is_problem(r, 403)
    assert server.call("GET", f"/api/v1/users/{other['id']}", server.admin).json["display_name"] != "pwned"


def test_password_change_revokes_other_sessions(server, fresh_user):
    name = fresh_user["username"]
    b1 = Browser(server, name, USER_PASSWORD)
    b2 = Browser(server, name, USER_PASSWORD)
    r = b1.call("POST", "/api/v1/auth/password",
                json={"current_password": "wrong-current-pw", "new_password": "brand-new-password"})
    assert is_problem(r, 400, "wrong-password")
    r = b1.call("POST", "/api/v1/auth/password", json={"current_password": USER_PASSWORD, "new_password": "short"})
    assert is_problem(r, 400)
    r = b1.call("POST", "/api/v1/auth/password",
                json={"current_password": USER_PASSWORD, "new_password": "brand-new-password"})
    assert r.status == 204, r
    assert b1.call("GET", "/api/v1/me").status == 200
    assert is_problem(b2.call("GET", "/api/v1/me"), 401)
    assert is_problem(server.login(name, USER_PASSWORD), 401, "invalid-credentials")
    assert server.login(name, "brand-new-password").status == 200
    ev = server.call("GET", f"/api/v1/audit/events?action=user.password_change&target={fresh_user['id']}",
                     server.admin).json["items"]
    assert len(ev) == 1


# ---------------------------------------------------------------------------- tokens


def test_token_secret_is_shown_once(server, fresh_user):
    tok = server.login_token(fresh_user["username"], USER_PASSWORD)
    r = server.call("POST", "/api/v1/tokens", tok, json={"name": "ci", "expires_in_days": 30})
    assert r.status == 201, r
    secret = r.json["token"]
    assert secret.startswith("atr_")
    assert r.json["expires_at"] and r.json["scopes"] == ["*:*:*"]
    assert r.headers["etag"] == r.json["etag"]
    tid = r.json["id"]
    lst = server.call("GET", "/api/v1/tokens", tok)
    assert lst.status == 200
    assert tid in [t["id"] for t in lst.json["items"]]
    assert secret not in lst.text and all("token" not in t for t in lst.json["items"])
    one = server.call("GET", f"/api/v1/tokens/{tid}", tok)
    assert one.status == 200 and "token" not in one.json and secret not in one.text
    assert one.json["name"] == "ci" and one.json["revoked"] is False


def test_token_secret_is_never_stored_in_plain_text(server, fresh_user):
    tok = server.login_token(fresh_user["username"], USER_PASSWORD)
    key = new_key()
    r = server.call("POST", "/api/v1/tokens", tok, json={"name": "idem"}, idem=key)
    assert r.status == 201, r
    secret = r.json["token"]
    again = server.call("POST", "/api/v1/tokens", tok, json={"name": "idem"}, idem=key)
    # A replay may answer the same token id, but must not show the secret a second time.
    assert secret not in again.text
    assert idempotency_rows_containing(server, secret) == 0


def test_read_only_token_cannot_write(server, fresh_user, org):
    tok = server.login_token(fresh_user["username"], USER_PASSWORD, scopes=["*:read"])
    assert server.call("GET", "/api/v1/projects", tok).status == 200
    assert server.call("GET", f"/api/v1/orgs/{org['id']}", tok).status == 200
    r = server.call("POST", f"/api/v1/orgs/{org['id']}/projects", tok, json={"slug": "ro-proj", "name": "RO"})
    assert is_problem(r, 403, "token-scope")
    r = server.call("POST", "/api/v1/tokens", tok, json={"name": "escalate"})
    assert is_problem(r, 403, "token-scope")
    full = server.login_token(fresh_user["username"], USER_PASSWORD)
    projects = server.call("GET", f"/api/v1/projects?org={org['id']}&archived=any", full).json["items"]
    assert "ro-proj" not in [p["slug"] for p in projects]


def test_token_cannot_mint_a_wider_token(server, fresh_user):
    tok = server.login_token(fresh_user["username"], USER_PASSWORD, scopes=["tokens:*", "projects:read"])
    for wider in (["*:*"], ["projects:write"], ["projects:*"], ["tokens:*", "orgs:read"]):
        r = server.call("POST", "/api/v1/tokens", tok, json={"name": "wider", "scopes": wider})
        assert is_problem(r, 403, "token-scope"), wider
    # Without scopes, the new token inherits the minting token's scopes (not *:*).
    r = server.call("POST", "/api/v1/tokens", tok, json={"name": "inherit"})
    assert r.status == 201, r
    assert sorted(r.json["scopes"]) == sorted(["tokens:*:*", "projects:read:*"])
    r = server.call("POST", "/api/v1/tokens", tok, json={"name": "narrower", "scopes": ["projects:read"]})
    assert r.status == 201, r
    narrow = r.json["token"]
    assert server.call("GET", "/api/v1/projects", narrow).status == 200
    assert is_problem(server.call("GET", "/api/v1/tokens", narrow), 403, "token-scope")
    # Malformed scopes are a 400.
    r = server.call("POST", "/api/v1/tokens", tok, json={"name": "bad", "scopes": ["projects:fly"]})
    assert is_problem(r, 400)


def test_revoked_and_expired_tokens_are_refused(server, fresh_user):
    tok = server.login_token(fresh_user["username"], USER_PASSWORD)
    r = server.call("POST", "/api/v1/tokens", tok, json={"name": "to-revoke"})
    victim, vid, etag = r.json["token"], r.json["id"], r.json["etag"]
    assert server.call("GET", "/api/v1/me", victim).status == 200
    assert is_problem(server.call("DELETE", f"/api/v1/tokens/{vid}", tok), 428)
    r = server.call("DELETE", f"/api/v1/tokens/{vid}", tok, if_match=etag)
    assert r.status == 204, r
    r = server.call("GET", "/api/v1/me", victim)
    assert is_problem(r, 401, "invalid-token")
    assert server.call("GET", f"/api/v1/tokens/{vid}", tok).json["revoked"] is True
    assert vid not in [t["id"] for t in server.call("GET", "/api/v1/tokens", tok).json["items"]]

    # Expiry: the API's shortest lifetime is a day, so move this token's expiry into the past in
    # the database (the server reads it on every request).
    r = server.call("POST", "/api/v1/tokens", tok, json={"name": "to-expire", "expires_in_days": 1})
    old, oid = r.json["token"], r.json["id"]
    assert server.call("GET", "/api/v1/me", old).status == 200
    assert db_exec(server, "UPDATE tokens SET expires_ms = 1000 WHERE id = ?", (oid,)) == 1
    assert is_problem(server.call("GET", "/api/v1/me", old), 401, "invalid-token")
    # Garbage tokens are 401 too.
    assert is_problem(server.call("GET", "/api/v1/me", "atr_not-a-real-token"), 401)
    assert is_problem(server.call("GET", "/api/v1/me", "nonsense"), 401)
    assert is_problem(server.call("GET", "/api/v1/me", headers={"Authorization": "Digest abc"}), 401)


def test_last_used_at_is_recorded(server, fresh_user):
    tok = server.login_token(fresh_user["username"], USER_PASSWORD)
    r = server.call("POST", "/api/v1/tokens", tok, json={"name": "usage"})
    used, uid = r.json["token"], r.json["id"]
    assert r.json["last_used_at"] is None
    assert server.call("GET", "/api/v1/me", used).status == 200
    wait_until(lambda: server.call("GET", f"/api/v1/tokens/{uid}", tok).json["last_used_at"], 10,
               what="last_used_at to be set")


def test_disabled_user_loses_tokens_and_sessions(server, fresh_user):
    name, uid = fresh_user["username"], fresh_user["id"]
    b = Browser(server, name, USER_PASSWORD)
    tok = server.login_token(name, USER_PASSWORD)
    assert server.call("GET", "/api/v1/me", tok).status == 200
    # A user cannot disable themselves, nor can a non-admin disable anyone.
    u = server.call("GET", f"/api/v1/users/{uid}", server.admin).json
    r = server.call("PATCH", f"/api/v1/users/{uid}", tok, json={"disabled": True}, if_match=u["etag"])
    assert is_problem(r, 403)
    r = server.call("PATCH", f"/api/v1/users/{uid}", server.admin, json={"disabled": True}, if_match=u["etag"])
    assert r.status == 200 and r.json["disabled"] is True, r
    assert is_problem(server.call("GET", "/api/v1/me", tok), 401)
    assert is_problem(b.call("GET", "/api/v1/me"), 401)
    r = server.login(name, USER_PASSWORD)
    assert is_problem(r, 401, "invalid-credentials")  # as a wrong password: it confirms nothing
    # Re-enabling does not resurrect the old credentials.
    u = server.call("GET", f"/api/v1/users/{uid}", server.admin).json
    r = server.call("PATCH", f"/api/v1/users/{uid}", server.admin, json={"disabled": False}, if_match=u["etag"])
    assert r.status == 200, r
    assert is_problem(server.call("GET", "/api/v1/me", tok), 401)
    assert server.login(name, USER_PASSWORD).status == 200


def test_org_scoped_token_cannot_do_instance_things(server, admin):
    r = server.call("POST", "/api/v1/tokens", admin, json={"name": "org-only", "scopes": ["*:*:org"]})
    assert r.status == 201, r
    tok = r.json["token"]
    assert is_problem(server.call("POST", "/api/v1/orgs", tok, json={"slug": "via-org-token", "name": "x"}), 403)
    assert is_problem(server.call("POST", "/api/v1/users", tok,
                                  json={"username": "via-org-token", "password": "long-enough-pw"}), 403)
    assert is_problem(server.call("GET", "/api/v1/audit/verify", tok), 403)


def test_own_scoped_token_cannot_do_instance_things(server, admin):
    r = server.call("POST", "/api/v1/tokens", admin, json={"name": "own-only", "scopes": ["*:*:own"]})
    tok = r.json["token"]
    assert is_problem(server.call("POST", "/api/v1/orgs", tok, json={"slug": "via-own-token", "name": "x"}), 403)
    assert server.call("GET", "/api/v1/tokens", tok).status == 200  # its own things


def test_admin_cannot_disable_itself(server, admin):
    me = server.call("GET", "/api/v1/me", admin).json
    r = server.call("PATCH", f"/api/v1/users/{me['id']}", admin, json={"disabled": True}, if_match=me["etag"])
    assert is_problem(r, 409)


# ---------------------------------------------------------------------------- a server-generated password


def test_a_generated_admin_password_must_be_changed_before_anything_else(make_server):
    srv = make_server(admin_password=None)
    found = [m.group(1) for line in srv.stdout_snapshot() if (m := re.search(r"one-time password: (\S+)", line))]
    assert len(found) == 1
    pw = found[0]
    b = Browser(srv, "admin", pw)
    assert b.login_resp.json["user"]["must_change_password"] is True
    me = b.call("GET", "/api/v1/me")
    assert me.status == 200 and me.json["must_change_password"] is True
    assert b.call("GET", "/api/v1/auth/session").status == 200
    # Everything else is refused, reads and writes alike, with one problem type.
    for method, path, body in (("GET", "/api/v1/orgs", None), ("GET", "/api/v1/users", None),
                               ("GET", "/api/v1/auth/sessions", None), ("POST", "/api/v1/tokens", {"name": "x"}),
                               ("POST", "/api/v1/orgs", {"slug": "o1", "name": "O"}),
                               ("PATCH", f"/api/v1/users/{me.json['id']}", {"display_name": "x"})):
        kw = {} if body is None else {"json": body}
        r = b.call(method, path, **kw)
        assert is_problem(r, 403, "password-change-required"), (method, path, r)
    # The new password follows the policy (the problem names the field) and is not the old one.
    r = b.call("POST", "/api/v1/auth/password", json={"current_password": pw, "new_password": "short"})
    assert is_problem(r, 400) and r.json["field"] == "new_password"
    r = b.call("POST", "/api/v1/auth/password", json={"current_password": pw, "new_password": pw})
    assert is_problem(r, 400) and r.json["field"] == "new_password"
    r = b.call("POST", "/api/v1/auth/password", json={"current_password": pw, "new_password": "my-own-admin-pw-1"})
    assert r.status == 204, r
    me = b.call("GET", "/api/v1/me")
    assert me.status == 200 and me.json["must_change_password"] is False
    assert b.call("GET", "/api/v1/orgs").status == 200
    admin = srv.login_token("admin", "my-own-admin-pw-1")
    ev = srv.call("GET", "/api/v1/audit/events?target=" + me.json["id"], admin).json["items"]
    actions = {e["action"]: e for e in ev}
    assert "user.password_change_required" in actions
    assert actions["user.password_change"]["summary"].get("was_required") is True
    # A restart does not bring the hold back.
    srv.restart()
    assert srv.login("admin", "my-own-admin-pw-1").json["user"]["must_change_password"] is False


def test_signing_out_works_while_a_password_change_is_required(make_server):
    srv = make_server(admin_password=None)
    pw = next(m.group(1) for line in srv.stdout_snapshot() if (m := re.search(r"one-time password: (\S+)", line)))
    b = Browser(srv, "admin", pw)
    assert b.call("POST", "/api/v1/auth/logout", json={"everywhere": True}).status == 204
    assert is_problem(b.call("GET", "/api/v1/me"), 401)


def test_a_chosen_admin_password_is_not_held(server):
    me = server.call("GET", "/api/v1/me", server.admin)
    assert me.status == 200 and me.json["must_change_password"] is False
