"""Hostile tests: sign-in and registration (issue 14, "Sign-in" and the invitation part of "Work done
before anyone is known"). Each test performs the attack and checks that it fails.

Client addresses: the server believes X-Forwarded-For only from `server.trusted_proxies`; the tests
trust 127.0.0.1 (they connect from it) and play several clients behind that "proxy" by naming them
in X-Forwarded-For.
"""
from __future__ import annotations

import sqlite3

from conftest import ADMIN_PASSWORD, USER_PASSWORD, create_user, is_problem, parse_cookies

ATTACKER = "203.0.113.66"
REAL_USER = "198.51.100.7"
BEHIND_PROXY = {"ATRIUM_SERVER_TRUSTED_PROXIES": "127.0.0.1/32"}


def from_client(ip: str, proto: str | None = None) -> dict[str, str]:
    h = {"X-Forwarded-For": ip}
    if proto:
        h["X-Forwarded-Proto"] = proto
    return h


def problem_shape(r) -> dict:
    """What a client can tell apart: status, the problem's fields (less the per-request ones) and
    the headers that carry meaning."""
    j = dict(r.json)
    for k in ("request_id", "instance"):
        j.pop(k, None)
    return {"status": r.status, "problem": j, "retry-after": r.headers.get("retry-after"),
            "set-cookie": r.headers.get("set-cookie")}


def accept(srv, token: str, username: str, password: str = USER_PASSWORD, headers=None):
    return srv.call("POST", "/api/v1/invitations/accept", json={"token": token, "username": username,
                                                                "password": password}, headers=headers)


def audit_rows(srv, action: str) -> list[tuple]:
    db = sqlite3.connect(srv.data_dir / "atrium.db", timeout=30)
    try:
        return db.execute("SELECT client_ip, summary FROM audit_events WHERE action = ? ORDER BY seq",
                          (action,)).fetchall()
    finally:
        db.close()


# ---------------------------------------------------------------------------- invitations


def test_bad_invitation_tokens_are_rate_limited_like_sign_in(make_server):
    srv = make_server(env={"ATRIUM_AUTH_LOGIN_IP_PER_MINUTE": "4"})
    # Forged tokens: each is refused on its HMAC, before any password hashing or user creation.
    forged = ["inv_x.nonce.AAAA", "garbage", "inv_01AAAAAAAAAAAAAAAAAAAAAAAA.n." + "A" * 43, "a.b.c"]
    for i, t in enumerate(forged):
        r = accept(srv, t, f"spray-{i}")
        assert is_problem(r, 400, "invitation-invalid"), r
    # The fifth attempt from the same address is throttled (the old code had no limit at all).
    r = accept(srv, "inv_x.nonce.AAAA", "spray-9")
    assert is_problem(r, 429, "rate-limited"), r
    assert int(r.headers["retry-after"]) >= 1
    # Sign-in keeps its own budget: the invitation spray did not use it up.
    assert srv.login("admin", ADMIN_PASSWORD).status == 200
    # No account was created by any of it.
    admin = srv.admin_token()
    users = srv.call("GET", "/api/v1/users?limit=200", admin).json["items"]
    assert not [u for u in users if u["username"].startswith("spray-")]


def test_taken_username_is_not_revealed_with_a_bad_token(make_server):
    srv = make_server()
    admin = srv.admin_token()
    create_user(srv, admin, "already-here")
    # With a forged token, a taken and a free username get the same answer (the old code hashed the
    # password and inserted the user first: 409 for a taken name, 400 for a free one).
    taken = accept(srv, "inv_forged.nonce.AAAA", "already-here")
    free = accept(srv, "inv_forged.nonce.AAAA", "free-name-here")
    assert is_problem(taken, 400, "invitation-invalid"), taken
    assert problem_shape(taken) == problem_shape(free)
    # Nor does a weak password say anything before the token is good.
    weak = accept(srv, "inv_forged.nonce.AAAA", "already-here", password="x")
    assert problem_shape(weak) == problem_shape(free)


def test_a_real_invitation_still_registers_once(make_server):
    srv = make_server()
    admin = srv.admin_token()
    org = srv.call("POST", "/api/v1/orgs", admin, json={"slug": "inv-org", "name": "Inv"}).json
    inv = srv.call("POST", f"/api/v1/orgs/{org['id']}/invitations", admin, json={"role": "viewer"}).json
    # A taken username with a valid token is the invitee's own business: the name is taken.
    r = accept(srv, inv["token"], "admin")
    assert is_problem(r, 409), r
    r = accept(srv, inv["token"], "invitee")
    assert r.status == 201, r
    assert r.json["org"]["id"] == org["id"]
    assert srv.login("invitee", USER_PASSWORD).status == 200
    r = accept(srv, inv["token"], "invitee-2")
    assert is_problem(r, 400, "invitation-invalid"), r


# ---------------------------------------------------------------------------- lockout


def test_attacker_cannot_lock_the_real_user_out(make_server):
    srv = make_server(env={**BEHIND_PROXY, "ATRIUM_AUTH_LOGIN_MAX_FAILURES": "3",
                           "ATRIUM_AUTH_LOGIN_LOCKOUT_BASE_S": "3600", "ATRIUM_AUTH_LOGIN_IP_PER_MINUTE": "1000"})
    admin = srv.admin_token()
    create_user(srv, admin, "victim")
    for i in range(5):
        r = srv.login("victim", f"guess-{i}-password", headers=from_client(ATTACKER))
        assert is_problem(r, 401, "invalid-credentials"), r
    # The attacker's address is locked for this account: even the right password fails from there.
    r = srv.login("victim", USER_PASSWORD, headers=from_client(ATTACKER))
    assert is_problem(r, 401, "invalid-credentials"), r
    # The real user, from another address, signs in at once.
    r = srv.login("victim", USER_PASSWORD, headers=from_client(REAL_USER))
    assert r.status == 200, r
    # And their success does not unlock the attacker.
    r = srv.login("victim", USER_PASSWORD, headers=from_client(ATTACKER))
    assert is_problem(r, 401, "invalid-credentials"), r
    # The failures are audited with the attacker's address, and the lock too.
    failed = audit_rows(srv, "auth.login_failed")
    assert failed and all(ip == ATTACKER for ip, _ in failed), failed
    assert any('"locked_for_s":3600' in s for _, s in failed), failed
    assert any('"reason":"locked"' in s for _, s in failed), failed


def test_locked_disabled_and_wrong_password_answer_alike(make_server):
    srv = make_server(env={**BEHIND_PROXY, "ATRIUM_AUTH_LOGIN_MAX_FAILURES": "2",
                           "ATRIUM_AUTH_LOGIN_LOCKOUT_BASE_S": "3600", "ATRIUM_AUTH_LOGIN_IP_PER_MINUTE": "1000"})
    admin = srv.admin_token()
    create_user(srv, admin, "plain")
    create_user(srv, admin, "locked")
    off = create_user(srv, admin, "disabled")
    etag = srv.call("GET", f"/api/v1/users/{off['id']}", admin).json["etag"]
    assert srv.call("PATCH", f"/api/v1/users/{off['id']}", admin, json={"disabled": True}, if_match=etag).status == 200
    me = from_client(ATTACKER)
    for _ in range(2):
        assert srv.login("locked", "wrong-password-1", headers=me).status == 401
    answers = {
        "wrong password": srv.login("plain", "wrong-password-2", headers=me),
        "unknown user": srv.login("nobody-at-all", USER_PASSWORD, headers=me),
        # The right passwords: a different answer here would confirm the password.
        "locked, right password": srv.login("locked", USER_PASSWORD, headers=me),
        "locked, wrong password": srv.login("locked", "wrong-password-3", headers=me),
        "disabled, right password": srv.login("disabled", USER_PASSWORD, headers=me),
        "disabled, wrong password": srv.login("disabled", "wrong-password-4", headers=me),
    }
    shapes = {k: problem_shape(r) for k, r in answers.items()}
    want = shapes["wrong password"]
    assert want["status"] == 401 and want["problem"]["type"] == "urn:atrium:problem:invalid-credentials"
    for k, s in shapes.items():
        assert s == want, (k, s, want)


# ---------------------------------------------------------------------------- proxies


def test_spoofed_forwarding_headers_from_an_untrusted_peer_are_ignored(make_server):
    # Default: no trusted proxies. Then one that trusts another network, not the peer.
    for env in ({}, {"ATRIUM_SERVER_TRUSTED_PROXIES": "10.0.0.0/8, fd00::/8"}):
        srv = make_server(env={**env, "ATRIUM_AUTH_LOGIN_IP_PER_MINUTE": "2"})
        r = srv.login("admin", ADMIN_PASSWORD, headers=from_client("192.0.2.1", "https"))
        assert r.status == 200, r
        cookies = parse_cookies(r)
        assert "secure" not in cookies["atrium_session"]["attrs"], r.headers.get_all("set-cookie")
        logins = audit_rows(srv, "auth.login")
        assert logins[-1][0] == "127.0.0.1", logins
        # A new X-Forwarded-For per attempt does not buy a fresh rate-limit bucket.
        assert srv.login("admin", "wrong-password-x", headers=from_client("192.0.2.2")).status == 401
        r = srv.login("admin", ADMIN_PASSWORD, headers=from_client("192.0.2.3"))
        assert is_problem(r, 429, "rate-limited"), r


def test_trusted_proxy_decides_secure_cookies_and_the_client_address(make_server):
    srv = make_server(env={**BEHIND_PROXY, "ATRIUM_AUTH_LOGIN_IP_PER_MINUTE": "2"})
    # TLS ends at the proxy: the cookies must still be Secure.
    r = srv.login("admin", ADMIN_PASSWORD, headers=from_client(REAL_USER, "https"))
    assert r.status == 200, r
    cookies = parse_cookies(r)
    assert cookies["atrium_session"]["attrs"].get("secure") is True
    assert cookies["atrium_csrf"]["attrs"].get("secure") is True
    # The client's address (the rightmost hop the proxy did not vouch for, not what the client
    # wrote further left) is what the session and the audit log record.
    r = srv.login("admin", ADMIN_PASSWORD, headers={"X-Forwarded-For": f"6.6.6.6, {REAL_USER}",
                                                    "X-Forwarded-Proto": "https"})
    assert r.status == 200, r
    logins = audit_rows(srv, "auth.login")
    assert [ip for ip, _ in logins] == [REAL_USER, REAL_USER], logins
    # Without X-Forwarded-Proto: https the proxy served plain HTTP, so no Secure.
    r = srv.login("admin", ADMIN_PASSWORD, headers=from_client("198.51.100.8", "http"))
    assert r.status == 200, r
    assert "secure" not in parse_cookies(r)["atrium_session"]["attrs"]
    # The limiter counts per real client: REAL_USER spent its 2 attempts, another client has its own.
    assert is_problem(srv.login("admin", ADMIN_PASSWORD, headers=from_client(REAL_USER)), 429, "rate-limited")
    assert srv.login("admin", ADMIN_PASSWORD, headers=from_client("198.51.100.9")).status == 200


def test_bad_trusted_proxies_setting_stops_startup(make_server):
    srv = make_server(env={"ATRIUM_SERVER_TRUSTED_PROXIES": "10.0.0.0/33"}, start=False)
    srv.spawn()
    assert srv.wait_exit(30) != 0
    assert "server.trusted_proxies" in srv.output()
