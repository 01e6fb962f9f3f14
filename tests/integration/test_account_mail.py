"""Account recovery by mail, against a real SMTP server (tests/integration/smtp_sink.py): the reset
mail arrives with a working link, the answer never says whether an account exists, a link works
once, email verification, invitations by mail and an admin's reset link mailed to the user."""
import itertools

import pytest

from conftest import USER_PASSWORD, Browser, Server, create_user, is_problem, list_all
from smtp_sink import SmtpSink
from test_account import stop_quietly

NEW_PASSWORD = "a-brand-new-password-42"
_seq = itertools.count(1)


@pytest.fixture(scope="module")
def ms(tmp_path_factory):
    """A server that mails through a local SMTP sink: (server, sink)."""
    tmp = tmp_path_factory.mktemp("account-mail")
    with SmtpSink(tmp, tls=False) as sink:
        env = sink.atrium_config()
        env["ATRIUM_AUTH_PASSWORD_RESET_IP_PER_MINUTE"] = "10000"
        env["ATRIUM_TASKS_BACKOFF_BASE_MS"] = "200"
        s = Server(tmp / "srv", env=env).start()
        try:
            s.admin = s.admin_token()
            yield s, sink
        finally:
            stop_quietly(s)


def user_with_email(s, email=None):
    name = f"mail-user-{next(_seq)}"
    u = create_user(s, s.admin, name)
    email = email or f"{name}@example.org"
    r = s.call("PATCH", f"/api/v1/users/{u['id']}", s.admin, json={"email": email}, if_match=u["etag"])
    assert r.status == 200, r
    u["email"] = email
    return u


def fragment_token(link: str, path: str) -> str:
    assert f"{path}#" in link, link
    return link.split("#", 1)[1]


def test_sign_in_page_offers_reset(ms):
    s, _ = ms
    r = s.call("GET", "/api/v1/auth/recovery")
    assert r.status == 200 and r.json == {"password_reset": True, "email_verification": True}, r


def test_reset_by_mail_end_to_end_and_once(ms):
    s, sink = ms
    u = user_with_email(s)
    b = Browser(s, u["username"], USER_PASSWORD)
    r = s.call("POST", "/api/v1/auth/password-reset", json={"email": u["email"].upper()})
    assert r.status == 202, r
    mail = sink.wait_for(to=u["email"], subject="Reset")
    links = [l for l in mail.links() if "/reset-password#" in l]
    assert len(links) == 1, mail.text
    token = fragment_token(links[0], "/reset-password")
    assert links[0].startswith("http://"), links
    assert b.call("GET", "/api/v1/me").status == 200  # asking ends nothing
    r = s.call("POST", "/api/v1/auth/password-reset/confirm", json={"token": token, "new_password": NEW_PASSWORD})
    assert r.status == 204, r
    assert b.call("GET", "/api/v1/me").status == 401
    assert s.login(u["username"], NEW_PASSWORD).status == 200
    r = s.call("POST", "/api/v1/auth/password-reset/confirm", json={"token": token, "new_password": "other-password-77"})
    assert is_problem(r, 400, "invalid-link"), r


def test_no_enumeration(ms):
    s, sink = ms
    known = user_with_email(s)
    off = user_with_email(s)
    cur = s.call("GET", f"/api/v1/users/{off['id']}", s.admin)
    assert s.call("PATCH", f"/api/v1/users/{off['id']}", s.admin, json={"disabled": True},
                  if_match=cur.etag).status == 200
    bodies = []
    for body in ({"username": known["username"]}, {"username": f"ghost-{next(_seq)}"},
                 {"email": known["email"]}, {"email": f"ghost-{next(_seq)}@example.org"},
                 {"username": off["username"]}, {"email": off["email"]}):
        r = s.call("POST", "/api/v1/auth/password-reset", json=body)
        assert r.status == 202, (body, r)
        bodies.append(r.text)
    assert len(set(bodies)) == 1, bodies  # the same answer, byte for byte
    sink.wait_for(to=known["email"], subject="Reset", count=2)
    assert sink.matching(to=off["email"]) == []  # a disabled account gets nothing
    # Every request is audited, known or not, without the typed address or any link.
    events = list_all(s, "/api/v1/audit/events?action=auth.password_reset.request", s.admin, limit=200)
    assert len(events) >= 6
    assert not any("ghost-" in repr(e) for e in events)


def test_a_few_live_links_per_account(ms):
    s, sink = ms
    u = user_with_email(s)
    for _ in range(5):
        assert s.call("POST", "/api/v1/auth/password-reset", json={"username": u["username"]}).status == 202
    sink.wait_for(to=u["email"], subject="Reset", count=3)
    events = list_all(s, "/api/v1/audit/events?action=user.password_reset.issue", s.admin, limit=200)
    assert len([e for e in events if e["target_id"] == u["id"]]) == 3


def test_email_verification(ms):
    s, sink = ms
    u = user_with_email(s)
    tok = s.login_token(u["username"], USER_PASSWORD)
    assert s.call("GET", "/api/v1/me", tok).json["email_verified"] is False
    r = s.call("POST", "/api/v1/me/email/verify", tok)
    assert r.status == 202 and r.json["sent_to"] == u["email"], r
    mail = sink.wait_for(to=u["email"], subject="Confirm")
    token = fragment_token(next(l for l in mail.links() if "/verify-email#" in l), "/verify-email")
    # A verification link does not reset a password.
    r = s.call("POST", "/api/v1/auth/password-reset/confirm", json={"token": token, "new_password": NEW_PASSWORD})
    assert is_problem(r, 400, "invalid-link"), r
    r = s.call("POST", "/api/v1/auth/verify-email", json={"token": token})
    assert r.status == 200 and r.json == {"email": u["email"], "email_verified": True}, r
    assert is_problem(s.call("POST", "/api/v1/auth/verify-email", json={"token": token}), 400, "invalid-link")
    me = s.call("GET", "/api/v1/me", tok).json
    assert me["email_verified"] is True
    assert is_problem(s.call("POST", "/api/v1/me/email/verify", tok), 409)  # verified already
    r = s.call("PATCH", f"/api/v1/users/{u['id']}", tok, json={"email": "moved@example.org"}, if_match=me["etag"])
    assert r.status == 200 and r.json["email_verified"] is False, r


def test_invitation_and_admin_link_are_mailed(ms):
    s, sink = ms
    r = s.call("POST", "/api/v1/orgs", s.admin, json={"slug": f"mail-org-{next(_seq)}", "name": "Mail Org"})
    org = r.json
    addr = f"invitee-{next(_seq)}@example.org"
    r = s.call("POST", f"/api/v1/orgs/{org['id']}/invitations", s.admin, json={"role": "member", "email": addr})
    assert r.status == 201 and r.json["mailed"] is True, r
    mail = sink.wait_for(to=addr, subject="Invitation")
    assert r.json["url"] in mail.links(), mail.text
    r = s.call("POST", f"/api/v1/orgs/{org['id']}/invitations", s.admin, json={"role": "member", "email": "no-at-sign"})
    assert is_problem(r, 400) and r.json.get("field") == "email", r

    u = user_with_email(s)
    r = s.call("POST", f"/api/v1/users/{u['id']}/password-reset", s.admin)
    assert r.status == 201 and r.json["mailed"] is True, r
    mail = sink.wait_for(to=u["email"], subject="Set a new password")
    assert r.json["url"] in mail.links(), mail.text


def test_reset_link_is_not_left_in_the_database(ms):
    """A copy of the database (a backup) holds no usable reset link: the queued mail's payload is
    sealed, and emptied once the mail is sent."""
    import sqlite3
    import time
    s, sink = ms
    u = user_with_email(s)
    r = s.call("POST", "/api/v1/auth/password-reset", json={"email": u["email"]})
    assert r.status == 202, r
    mail = sink.wait_for(to=u["email"], subject="Reset")
    link = [l for l in mail.links() if "/reset-password#" in l][0]
    secret = fragment_token(link, "/reset-password").split(".", 1)[1]  # after the row's id
    assert len(secret) >= 20, link
    assert f"://localhost:{s.port}/" in link or link.startswith(s.base + "/"), link  # the final port
    db = s.data_dir / "atrium.db"

    def payloads():
        con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
        try:
            return [row for row in con.execute("SELECT state, payload FROM tasks WHERE kind = 'mail.send'")]
        finally:
            con.close()
    deadline = time.monotonic() + 10
    while any(state in ("queued", "running") for state, _ in payloads()):
        assert time.monotonic() < deadline, payloads()
        time.sleep(0.05)  # polls: the task ends just after the sink has the mail
    rows = payloads()
    assert rows and all(payload == "{}" for state, payload in rows if state == "succeeded"), rows
    assert all(secret not in payload for _, payload in rows)
    for name in ("atrium.db", "atrium.db-wal"):
        f = s.data_dir / name
        if f.exists():
            raw = f.read_bytes()
            assert secret.encode() not in raw, name
