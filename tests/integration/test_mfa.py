"""Two-factor sign-in (mfa/): TOTP enrolment, the login's second step, replay, recovery codes,
lockout, policies (org and admins) and the admin reset, against the real server. TOTP codes are
computed here from the secret the server hands out (RFC 6238 with hmac/struct/base64)."""
from __future__ import annotations

import base64
import hashlib
import hmac
import json
import struct
import subprocess
import time

import pytest

from conftest import ATRIUM_BIN, USER_PASSWORD, Browser, base_env, Server, call, create_user, add_member, is_problem, parse_cookies, wait_until

ENV = {"ATRIUM_AUTH_LOGIN_IP_PER_MINUTE": "1000", "ATRIUM_SERVER_TRUSTED_PROXIES": "127.0.0.1/32"}


def totp_at(secret_b32: str, step: int) -> str:
    key = base64.b32decode(secret_b32 + "=" * (-len(secret_b32) % 8))
    mac = hmac.new(key, struct.pack(">Q", step), hashlib.sha1).digest()
    off = mac[-1] & 0x0F
    return f"{(struct.unpack('>I', mac[off:off + 4])[0] & 0x7FFFFFFF) % 1_000_000:06d}"


# A code for the step before ours is used only while this much of our step is left: the request
# reaches the server (which reads its clock after ours) well within it.
LAGGING_CODE_MARGIN_S = 10


class Device:
    """An authenticator app: the next code the server has not yet accepted (the server takes one
    step either side of now, and each step once). A fresh device has three codes at once, the
    first as an app whose clock lags a step sends it, so a test waits for the clock only when it
    starts in the last LAGGING_CODE_MARGIN_S seconds of a step, never for a whole step."""

    def __init__(self, secret: str):
        self.secret = secret
        self.last = 0

    def code(self) -> str:
        step = wait_until(lambda: self._usable(), timeout=35, interval=0.2, what="a fresh TOTP step")
        self.last = step
        return totp_at(self.secret, step)

    def _usable(self) -> int:
        # The server reads its clock after ours: its step is ours or the next, so ours and the
        # next one are inside its window (one step either side) whatever the timing; the one
        # before ours is while the server's step is still ours.
        now = time.time()
        cur = int(now) // 30
        lowest = cur - 1 if (cur + 1) * 30 - now >= LAGGING_CODE_MARGIN_S else cur
        step = max(lowest, self.last + 1)
        return step if step <= cur + 1 else 0

    def wrong(self) -> str:
        cur = int(time.time()) // 30
        good = {totp_at(self.secret, s) for s in range(cur - 2, cur + 3)}
        return next(c for c in ("000000", "111111", "222222", "333333") if c not in good)


@pytest.fixture(scope="module")
def srv(tmp_path_factory):
    s = Server(tmp_path_factory.mktemp("mfa"), env=ENV).start()
    try:
        s.admin = s.admin_token()
        yield s
    finally:
        if s.running():
            s.stop(30)


_n = [0]


def new_user(srv: Server) -> dict:
    _n[0] += 1
    return create_user(srv, srv.admin, f"mfa-user-{_n[0]}")


def enrol(b: Browser) -> tuple[Device, list[str]]:
    r = b.call("POST", "/api/v1/me/mfa/totp", json={"password": USER_PASSWORD})
    assert r.status == 200, r
    dev = Device(r.json["secret"])
    r = b.call("POST", "/api/v1/me/mfa/totp/confirm", json={"code": dev.code()})
    assert r.status == 200, r
    return dev, r.json["recovery_codes"]


def ticket(srv: Server, username: str, **kw) -> str:
    r = srv.login(username, USER_PASSWORD, **kw)
    assert r.status == 200 and r.json["mfa_required"] is True, r
    assert "atrium_session" not in parse_cookies(r), r  # the password alone makes no session
    return r.json["mfa_ticket"]


def second_step(srv: Server, t: str, **kw):
    headers = kw.pop("headers", None)
    return srv.call("POST", "/api/v1/auth/login/mfa", json={"mfa_ticket": t, **kw}, headers=headers)


def audit_text(srv: Server, action: str = "") -> str:
    return srv.call("GET", "/api/v1/audit/export" + (f"?action={action}" if action else ""), srv.admin).text


def session_of(r) -> dict[str, str]:
    return {"atrium_session": parse_cookies(r)["atrium_session"]["value"]}


def test_enrol_then_sign_in_with_a_code(srv):
    u = new_user(srv)
    b = Browser(srv, u["username"], USER_PASSWORD)
    r = b.call("GET", "/api/v1/me/mfa")
    assert r.status == 200 and r.json["enabled"] is False and r.json["required"] is False, r
    r = b.call("POST", "/api/v1/me/mfa/totp", json={"password": USER_PASSWORD})
    assert r.status == 200, r
    assert r.headers.get("cache-control") == "no-store"
    secret = r.json["secret"]
    assert len(base64.b32decode(secret + "=" * (-len(secret) % 8))) == 20
    assert r.json["otpauth_uri"] == f"otpauth://totp/Atrium:{u['username']}?secret={secret}&issuer=Atrium"
    assert r.json["qr_svg"].startswith("<svg ") and "=" not in secret
    # Pending: not on yet, the password still signs in.
    assert srv.login(u["username"], USER_PASSWORD).json.get("mfa_required") is None
    dev = Device(secret)
    r = b.call("POST", "/api/v1/me/mfa/totp/confirm", json={"code": dev.wrong()})
    assert is_problem(r, 400, "invalid-mfa-code") and r.json["field"] == "code"
    assert b.call("GET", "/api/v1/me/mfa").json["enabled"] is False
    r = b.call("POST", "/api/v1/me/mfa/totp/confirm", json={"code": dev.code()})
    assert r.status == 200 and r.headers.get("cache-control") == "no-store", r
    codes = r.json["recovery_codes"]
    assert len(codes) == 10 and len(set(codes)) == 10
    st = b.call("GET", "/api/v1/me/mfa").json
    assert st["enabled"] is True and st["recovery_codes_left"] == 10 and st["enabled_at"], st
    assert is_problem(b.call("POST", "/api/v1/me/mfa/totp", json={"password": USER_PASSWORD}), 409,
                      "mfa-already-enabled")

    # The password alone: a ticket, which is no credential anywhere.
    t = ticket(srv, u["username"])
    assert srv.call("GET", "/api/v1/auth/session", cookies={"atrium_session": t}).status == 401
    assert srv.call("GET", "/api/v1/auth/session", token=t).status == 401
    r = second_step(srv, t, code=dev.code())
    assert r.status == 200, r
    assert r.json["user"]["username"] == u["username"] and r.json["csrf_token"]
    me = srv.call("GET", "/api/v1/me", cookies=session_of(r))
    assert me.status == 200 and me.json["username"] == u["username"], me
    # The ticket is spent.
    assert is_problem(second_step(srv, t, code=dev.code()), 401, "invalid-mfa-ticket")
    # Nothing secret reached the audit trail.
    audit = audit_text(srv)
    assert secret not in audit and t not in audit and codes[0] not in audit
    assert '"mfa.enable"' in audit and '"mfa.login"' in audit


def test_enrolling_takes_the_current_password(srv):
    """A stolen session must not lock the real user out by enrolling an authenticator of its own."""
    u = new_user(srv)
    b = Browser(srv, u["username"], USER_PASSWORD)
    assert b.call("POST", "/api/v1/me/mfa/totp").status in (400, 415)  # no body
    for body in ({}, {"password": 5}, {"password": USER_PASSWORD, "x": 1}):
        assert b.call("POST", "/api/v1/me/mfa/totp", json=body).status == 400, body
    r = b.call("POST", "/api/v1/me/mfa/totp", json={"password": "not-the-password"})
    assert is_problem(r, 400, "wrong-password") and r.json["field"] == "password"
    assert "secret" not in r.text
    # Counted like a failed sign-in (toward the lockout of this client).
    assert u["id"] in audit_text(srv, "auth.login_failed")
    # Nothing is pending: a confirm has no secret to check against.
    assert is_problem(b.call("POST", "/api/v1/me/mfa/totp/confirm", json={"code": "123456"}), 409)
    assert b.call("GET", "/api/v1/me/mfa").json["enabled"] is False
    enrol(b)  # the right password works


def test_a_code_works_once(srv):
    u = new_user(srv)
    dev, _ = enrol(Browser(srv, u["username"], USER_PASSWORD))
    code = dev.code()
    assert second_step(srv, ticket(srv, u["username"]), code=code).status == 200
    r = second_step(srv, ticket(srv, u["username"]), code=code)  # replayed
    assert is_problem(r, 401, "invalid-mfa-code") and r.json["attempts_left"] == 4
    assert second_step(srv, ticket(srv, u["username"]), code=dev.code()).status == 200


def test_wrong_codes_count_toward_lockout_and_end_the_ticket(srv):
    u = new_user(srv)
    dev, _ = enrol(Browser(srv, u["username"], USER_PASSWORD))
    t = ticket(srv, u["username"])
    for left in (4, 3, 2, 1, 0):
        r = second_step(srv, t, code=dev.wrong())
        assert is_problem(r, 401, "invalid-mfa-code") and r.json["attempts_left"] == left, r
    # The ticket died, and the account is locked for this client (5 failures), as for passwords.
    assert is_problem(second_step(srv, t, code=dev.code()), 401, "invalid-mfa-ticket")
    assert is_problem(srv.login(u["username"], USER_PASSWORD), 401, "invalid-credentials")
    # Another client is not locked out.
    other = {"X-Forwarded-For": "10.9.8.7"}
    t2 = ticket(srv, u["username"], headers=other)
    assert second_step(srv, t2, code=dev.code(), headers=other).status == 200


def test_a_ticket_is_bound_to_its_client_and_checked_before_anything(srv):
    u = new_user(srv)
    dev, _ = enrol(Browser(srv, u["username"], USER_PASSWORD))
    t = ticket(srv, u["username"], headers={"X-Forwarded-For": "10.1.1.1"})
    # Stolen and used elsewhere: refused, and it does not spend the code.
    code = dev.code()
    assert is_problem(second_step(srv, t, code=code, headers={"X-Forwarded-For": "10.2.2.2"}), 401,
                      "invalid-mfa-ticket")
    assert is_problem(second_step(srv, "x" * 43, code=code), 401, "invalid-mfa-ticket")
    # Bad input changes nothing.
    for body in ({"code": code}, {"mfa_ticket": t, "code": code, "recovery_code": "a"}, {"mfa_ticket": t},
                 {"mfa_ticket": t, "code": code, "extra": 1}):
        r = srv.call("POST", "/api/v1/auth/login/mfa", json=body, headers={"X-Forwarded-For": "10.1.1.1"})
        assert r.status == 400, (body, r)
    assert second_step(srv, t, code=code, headers={"X-Forwarded-For": "10.1.1.1"}).status == 200


def test_recovery_codes_work_once_and_can_be_replaced(srv):
    u = new_user(srv)
    b = Browser(srv, u["username"], USER_PASSWORD)
    dev, codes = enrol(b)
    r = second_step(srv, ticket(srv, u["username"]), recovery_code=codes[0].upper().replace("-", " "))
    assert r.status == 200, r
    assert is_problem(second_step(srv, ticket(srv, u["username"]), recovery_code=codes[0]), 401, "invalid-mfa-code")
    assert b.call("GET", "/api/v1/me/mfa").json["recovery_codes_left"] == 9
    assert is_problem(b.call("POST", "/api/v1/me/mfa/recovery-codes", json={"code": dev.wrong()}), 400,
                      "invalid-mfa-code")
    r = b.call("POST", "/api/v1/me/mfa/recovery-codes", json={"code": dev.code()})
    assert r.status == 200 and len(r.json["recovery_codes"]) == 10, r
    assert is_problem(second_step(srv, ticket(srv, u["username"]), recovery_code=codes[1]), 401, "invalid-mfa-code")
    assert second_step(srv, ticket(srv, u["username"]), recovery_code=r.json["recovery_codes"][1]).status == 200


def test_turning_it_off_takes_the_password_and_a_code(srv):
    u = new_user(srv)
    b = Browser(srv, u["username"], USER_PASSWORD)
    token = srv.login_token(u["username"], USER_PASSWORD)  # made before MFA: tokens are unaffected
    dev, _ = enrol(b)
    assert srv.call("GET", "/api/v1/me", token).status == 200
    r = b.call("DELETE", "/api/v1/me/mfa", json={"password": "wrong-password-here", "code": dev.code()})
    assert is_problem(r, 400, "wrong-password") and r.json["field"] == "password"
    r = b.call("DELETE", "/api/v1/me/mfa", json={"password": USER_PASSWORD, "code": dev.wrong()})
    assert is_problem(r, 400, "invalid-mfa-code")
    assert b.call("GET", "/api/v1/me/mfa").json["enabled"] is True
    assert b.call("DELETE", "/api/v1/me/mfa", json={"password": USER_PASSWORD, "code": dev.code()}).status == 204
    assert "atrium_session" in parse_cookies(srv.login(u["username"], USER_PASSWORD))
    assert is_problem(b.call("DELETE", "/api/v1/me/mfa", json={"password": USER_PASSWORD, "code": "123456"}), 409,
                      "mfa-not-enabled")


def test_deleting_a_user_removes_their_second_factor(srv):
    import sqlite3
    u = new_user(srv)
    enrol(Browser(srv, u["username"], USER_PASSWORD))

    def rows() -> int:
        db = sqlite3.connect(f"file:{srv.data_dir / 'atrium.db'}?mode=ro", uri=True)
        try:
            return sum(db.execute(f"SELECT COUNT(*) FROM {t} WHERE user_id = ?", (u["id"],)).fetchone()[0]
                       for t in ("mfa_totp", "mfa_recovery_codes"))
        finally:
            db.close()

    assert rows() == 11  # the secret and ten recovery codes
    cur = srv.call("GET", f"/api/v1/users/{u['id']}", srv.admin)
    assert srv.call("DELETE", f"/api/v1/users/{u['id']}", srv.admin, if_match=cur.etag).status == 204
    assert rows() == 0
    assert u["id"] in audit_text(srv, "mfa.user_delete")


def test_admin_resets_a_lost_device(srv):
    u = new_user(srv)
    other = new_user(srv)
    enrol(Browser(srv, u["username"], USER_PASSWORD))
    stranger = srv.login_token(other["username"], USER_PASSWORD)
    r = srv.call("DELETE", f"/api/v1/users/{u['id']}/mfa", stranger)
    assert r.status in (403, 404), r
    assert srv.login(u["username"], USER_PASSWORD).json["mfa_required"] is True
    assert is_problem(srv.call("DELETE", "/api/v1/users/usr_nobody/mfa", srv.admin), 404)
    assert srv.call("DELETE", f"/api/v1/users/{u['id']}/mfa", srv.admin).status == 204
    assert "atrium_session" in parse_cookies(srv.login(u["username"], USER_PASSWORD))
    assert is_problem(srv.call("DELETE", f"/api/v1/users/{u['id']}/mfa", srv.admin), 409, "mfa-not-enabled")
    assert u["id"] in audit_text(srv, "mfa.admin_reset")


def test_org_policy_is_the_org_admins_and_holds_members_to_enrolment(srv):
    orgs = {}
    for name in ("pa", "pb"):
        r = srv.call("POST", "/api/v1/orgs", srv.admin, json={"slug": f"mfa-{name}", "name": name})
        assert r.status == 201, r
        oa, member = new_user(srv), new_user(srv)
        add_member(srv, srv.admin, r.json["id"], oa["id"], "org-admin")
        add_member(srv, srv.admin, r.json["id"], member["id"], "member")
        orgs[name] = (r.json["id"], srv.login_token(oa["username"], USER_PASSWORD), member)
    a_id, a_admin, a_member = orgs["pa"]
    _, b_admin, _ = orgs["pb"]
    path = f"/api/v1/orgs/{a_id}/mfa-policy"
    r = srv.call("GET", path, a_admin)
    assert r.status == 200 and r.json["require_mfa"] is False, r
    etag = r.etag
    member_token = srv.login_token(a_member["username"], USER_PASSWORD)
    assert is_problem(srv.call("PUT", path, b_admin, json={"require_mfa": True}, if_match=etag), 404)
    assert is_problem(srv.call("GET", path, b_admin), 404)
    assert is_problem(srv.call("PUT", path, member_token, json={"require_mfa": True}, if_match=etag), 403)
    assert is_problem(srv.call("PUT", path, a_admin, json={"require_mfa": True}), 428)
    assert is_problem(srv.call("PUT", path, a_admin, json={"require_mfa": "yes"}, if_match=etag), 400)
    assert is_problem(srv.call("PUT", path, a_admin, json={"require_mfa": True}, if_match='"v9"'), 412)
    assert srv.call("GET", path, a_admin).json["require_mfa"] is False  # bad input changed nothing
    r = srv.call("PUT", path, a_admin, json={"require_mfa": True}, if_match=etag)
    assert r.status == 200 and r.json["require_mfa"] is True and r.etag != etag, r

    # A member signing in with the password gets a session held to enrolment.
    b = Browser(srv, a_member["username"], USER_PASSWORD)
    assert b.login_resp.json["mfa_enrollment_required"] is True
    assert is_problem(b.call("GET", "/api/v1/projects"), 403, "mfa-enrollment-required")
    assert is_problem(b.call("POST", "/api/v1/tokens", json={"name": "x"}), 403, "mfa-enrollment-required")
    assert b.call("GET", "/api/v1/me").json["mfa_enrollment_required"] is True
    assert b.call("GET", "/api/v1/auth/session").status == 200
    st = b.call("GET", "/api/v1/me/mfa").json
    assert st["required"] is True and st["enrollment_required"] is True
    dev, _ = enrol(b)
    assert b.call("GET", "/api/v1/projects").status == 200  # the same session, now a full one
    # Required: it cannot be turned off by its user.
    r = b.call("DELETE", "/api/v1/me/mfa", json={"password": USER_PASSWORD, "code": dev.code()})
    assert is_problem(r, 403, "mfa-required")
    assert a_id in audit_text(srv, "org.mfa_policy_update")


def test_a_session_held_to_enrolment_opens_no_environment(srv):
    """The proxy's own check (may_use): a held session gets no ticket for an environment's origin."""
    r = srv.call("POST", "/api/v1/orgs", srv.admin, json={"slug": "mfa-envs", "name": "Envs"})
    assert r.status == 201, r
    org = r.json["id"]
    u = new_user(srv)
    add_member(srv, srv.admin, org, u["id"], "member")
    token = srv.login_token(u["username"], USER_PASSWORD)  # made before the policy: tokens are unaffected
    r = srv.call("POST", f"/api/v1/orgs/{org}/projects", token, json={"slug": "p", "name": "P"})
    assert r.status == 201, r
    r = srv.call("POST", f"/api/v1/projects/{r.json['id']}/envs", token, json={"app": "terminal", "cpus": 1})
    assert r.status == 201, r
    env = r.json["id"]
    try:
        policy = srv.call("GET", f"/api/v1/orgs/{org}/mfa-policy", srv.admin)
        r = srv.call("PUT", f"/api/v1/orgs/{org}/mfa-policy", srv.admin, json={"require_mfa": True},
                     if_match=policy.etag)
        assert r.status == 200, r
        b = Browser(srv, u["username"], USER_PASSWORD)
        assert b.login_resp.json["mfa_enrollment_required"] is True
        r = srv.raw("GET", f"/env/{env}/", headers={"Cookie": f"atrium_session={b.session}"})
        assert is_problem(r, 403, "mfa-enrollment-required")
        enrol(b)  # the same session, now a full one, gets its ticket
        r = srv.raw("GET", f"/env/{env}/", headers={"Cookie": f"atrium_session={b.session}"})
        assert r.status == 302 and "ticket=" in r.headers["Location"], r
    finally:
        srv.call("POST", f"/api/v1/envs/{env}/stop", token)


def test_admins_must_enrol_when_the_instance_requires_it(make_server):
    s = make_server(env={**ENV, "ATRIUM_AUTH_REQUIRE_MFA_FOR_ADMINS": "true"})
    r = s.login("admin", s.admin_password)
    assert r.status == 200 and r.json["mfa_enrollment_required"] is True, r
    cookies = session_of(r)
    csrf = r.json["csrf_token"]
    held = call(s.port, "POST", "/api/v1/tokens", json={"name": "t"}, cookies=cookies, csrf=csrf)
    assert is_problem(held, 403, "mfa-enrollment-required")
    assert is_problem(call(s.port, "GET", "/api/v1/users", cookies=cookies), 403, "mfa-enrollment-required")
    # Held to enrolment, the session still enrols (with the password just typed).
    r = call(s.port, "POST", "/api/v1/me/mfa/totp", json={"password": s.admin_password}, cookies=cookies, csrf=csrf)
    assert r.status == 200, r
    dev = Device(r.json["secret"])
    r = call(s.port, "POST", "/api/v1/me/mfa/totp/confirm", json={"code": dev.code()}, cookies=cookies, csrf=csrf)
    assert r.status == 200, r
    assert call(s.port, "POST", "/api/v1/tokens", json={"name": "t"}, cookies=cookies, csrf=csrf).status == 201
    # From now on the admin signs in with a code.
    r = s.login("admin", s.admin_password)
    assert r.json["mfa_required"] is True
    r = call(s.port, "POST", "/api/v1/auth/login/mfa", json={"mfa_ticket": r.json["mfa_ticket"], "code": dev.code()})
    assert r.status == 200 and "mfa_enrollment_required" not in r.json, r


def test_cli_login_takes_the_code(srv, tmp_path):
    u = new_user(srv)
    dev, codes = enrol(Browser(srv, u["username"], USER_PASSWORD))
    env = {**base_env(admin_password=None), "ATRIUM_CONFIG_DIR": str(tmp_path), "ATRIUM_SERVER_URL": srv.base}

    def login(*extra):
        return subprocess.run([ATRIUM_BIN, "login", "-u", u["username"], "--password-stdin", *extra],
                              input=USER_PASSWORD + "\n", capture_output=True, text=True, env=env, timeout=60)

    p = login()  # no terminal to ask in, no --code
    assert p.returncode != 0 and "--code" in p.stderr, p
    assert not (tmp_path / "credentials.json").exists()
    p = login("--code", dev.wrong())
    assert p.returncode != 0 and "wrong" in p.stderr, p
    assert login("--code", dev.code()).returncode == 0
    assert json.loads((tmp_path / "credentials.json").read_text())["token"].startswith("atr_")
    p = login("--code", codes[3])
    assert p.returncode == 0, p
    st = subprocess.run([ATRIUM_BIN, "mfa", "status", "--json"], capture_output=True, text=True, env=env, timeout=60)
    assert st.returncode == 0 and json.loads(st.stdout)["recovery_codes_left"] == 9, st
