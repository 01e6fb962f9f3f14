"""Account recovery and the administration of users: password-reset links (an admin's, and by mail),
email verification, disabling and deleting a user, a user's sessions and tokens — with the attacks:
a link used twice, an expired link, enumeration, a member acting on another user, a disabled user's
credentials and jobs."""
import itertools
import json
import sqlite3
import subprocess
import uuid

import pytest

from conftest import (ADMIN_PASSWORD, ATRIUM_BIN, USER_PASSWORD, Browser, Server, add_member, base_env,
                      create_user, is_problem, list_all, wait_until)

NEW_PASSWORD = "a-brand-new-password-42"
COMPUTE_ENV = {"ATRIUM_COMPUTE_CPUS": "2", "ATRIUM_COMPUTE_MEM_MB": "2048", "ATRIUM_COMPUTE_GPUS": "0",
               "ATRIUM_COMPUTE_KILL_GRACE_S": "1",
               # Many link checks from one address here; the limit has its own test.
               "ATRIUM_AUTH_PASSWORD_RESET_IP_PER_MINUTE": "10000"}
_seq = itertools.count(1)


@pytest.fixture(scope="module")
def srv(tmp_path_factory):
    s = Server(tmp_path_factory.mktemp("account"), env=COMPUTE_ENV).start()
    try:
        s.admin = s.admin_token()
        r = s.call("POST", "/api/v1/orgs", s.admin, json={"slug": "acct", "name": "Account Org"})
        assert r.status == 201, r
        s.org = r.json
        r = s.call("POST", "/api/v1/orgs", s.admin, json={"slug": "other", "name": "Other Org"})
        assert r.status == 201, r
        s.other_org = r.json
        s.org_admin = new_user(s, "org-admin")
        yield s
    finally:
        stop_quietly(s)


def stop_quietly(s):
    if s.running():
        try:
            s.stop(30)
        except AssertionError:
            s.kill9()


def new_user(s, role="member", org=None, email=""):
    """A new user in the module's org (or `org`), with a bearer token minted through a session."""
    name = f"acct-{role}-{next(_seq)}"
    u = create_user(s, s.admin, name)
    add_member(s, s.admin, (org or s.org)["id"], u["id"], role)
    if email:
        r = s.call("PATCH", f"/api/v1/users/{u['id']}", s.admin, json={"email": email}, if_match=u["etag"])
        assert r.status == 200, r
    u["token"] = s.login_token(name, USER_PASSWORD)
    u["password"] = USER_PASSWORD
    return u


def reset_link(s, user_id, token=None):
    r = s.call("POST", f"/api/v1/users/{user_id}/password-reset", token or s.admin)
    assert r.status == 201, r
    return r.json


def confirm(s, token, password=NEW_PASSWORD):
    return s.call("POST", "/api/v1/auth/password-reset/confirm", json={"token": token, "new_password": password})


def db_rows(s, sql, params=()):
    db = sqlite3.connect(f"file:{s.data_dir / 'atrium.db'}?mode=ro", uri=True)
    try:
        return db.execute(sql, params).fetchall()
    finally:
        db.close()


# ---------------------------------------------------------------------------- admin reset link


def test_admin_reset_link_signs_everyone_out_once_used(srv):
    u = new_user(srv)
    b = Browser(srv, u["username"], USER_PASSWORD)
    link = reset_link(srv, u["id"])
    assert link["mailed"] is False  # no mail configured: the admin hands the link over
    assert link["url"].endswith("/reset-password#" + link["token"])
    assert link["url"].startswith("http")
    # Issuing the link ends nothing yet.
    assert b.call("GET", "/api/v1/me").status == 200
    r = srv.call("POST", "/api/v1/auth/password-reset/check", json={"token": link["token"]})
    assert r.status == 200 and r.json == {"username": u["username"]}, r
    # The password rules hold; a refused password leaves the link usable.
    r = confirm(srv, link["token"], u["username"])
    assert is_problem(r, 400) and r.json.get("field") == "new_password", r
    r = confirm(srv, link["token"], "short")
    assert is_problem(r, 400), r
    r = confirm(srv, link["token"])
    assert r.status == 204, r
    # Every session ended; the API token stays (docs/auth.md), the old password is gone.
    assert b.call("GET", "/api/v1/me").status == 401
    assert srv.call("GET", "/api/v1/me", u["token"]).status == 200
    assert srv.login(u["username"], USER_PASSWORD).status == 401
    assert srv.login(u["username"], NEW_PASSWORD).status == 200
    # A link works once.
    r = confirm(srv, link["token"], "yet-another-password-1")
    assert is_problem(r, 400, "invalid-link"), r
    assert is_problem(srv.call("POST", "/api/v1/auth/password-reset/check", json={"token": link["token"]}), 400)
    assert srv.login(u["username"], NEW_PASSWORD).status == 200


def test_the_link_is_never_stored_nor_audited(srv):
    u = new_user(srv)
    link = reset_link(srv, u["id"])
    secret = link["token"].split(".", 1)[1]
    assert confirm(srv, link["token"]).status == 204
    events = list_all(srv, "/api/v1/audit/events", srv.admin, limit=200)
    actions = {e["action"] for e in events if e.get("target_id") == u["id"]}
    assert {"user.password_reset.issue", "user.password_reset.use", "auth.session.revoke_all"} <= actions, actions
    blob = repr(events)
    assert secret not in blob and link["token"] not in blob
    for (h,) in db_rows(srv, "SELECT secret_hash FROM account_tokens"):
        assert secret not in h


def test_newer_links_and_a_used_one_end_the_others(srv):
    u = new_user(srv)
    first, second = reset_link(srv, u["id"]), reset_link(srv, u["id"])
    assert confirm(srv, second["token"]).status == 204
    assert is_problem(confirm(srv, first["token"], "another-password-9"), 400, "invalid-link")


def test_forged_and_malformed_links_are_refused(srv):
    u = new_user(srv)
    link = reset_link(srv, u["id"])
    lid, secret = link["token"].split(".", 1)
    forged = [lid + "." + secret[:-1] + ("A" if secret[-1] != "A" else "B"), lid, lid + ".", "garbage",
              "art_00000000000000000000000000." + secret, "x" * 300]
    for t in forged:
        r = confirm(srv, t)
        assert r.status == 400, (t, r)
    for body in ({}, {"token": link["token"]}, {"new_password": NEW_PASSWORD}, {"token": 5, "new_password": "x"},
                 {"token": link["token"], "new_password": NEW_PASSWORD, "extra": 1}):
        assert srv.call("POST", "/api/v1/auth/password-reset/confirm", json=body).status == 400, body
    # None of that used the link up.
    assert confirm(srv, link["token"]).status == 204


def test_a_disabled_users_link_does_not_work(srv):
    u = new_user(srv)
    link = reset_link(srv, u["id"])
    cur = srv.call("GET", f"/api/v1/users/{u['id']}", srv.admin)
    r = srv.call("PATCH", f"/api/v1/users/{u['id']}", srv.admin, json={"disabled": True}, if_match=cur.etag)
    assert r.status == 200, r
    assert is_problem(confirm(srv, link["token"]), 400, "invalid-link")
    assert is_problem(srv.call("POST", f"/api/v1/users/{u['id']}/password-reset", srv.admin), 409)


def test_expired_link_is_refused(make_server):
    s = make_server(env={"ATRIUM_AUTH_PASSWORD_RESET_TTL_S": "1", "ATRIUM_AUTH_PASSWORD_RESET_IP_PER_MINUTE": "10000"})
    admin = s.admin_token()
    u = create_user(s, admin, "shortlived")
    link = reset_link(s, u["id"], admin)
    wait_until(lambda: s.call("POST", "/api/v1/auth/password-reset/check", json={"token": link["token"]}).status
               == 400, 10, interval=0.1, what="the link to expire")
    assert is_problem(confirm(s, link["token"]), 400, "invalid-link")
    assert s.login("shortlived", USER_PASSWORD).status == 200


# ---------------------------------------------------------------------------- reset by mail (mail off)


def test_reset_by_mail_without_mail_says_so_for_everyone(srv):
    known = new_user(srv, email="known@example.org")
    answers = [srv.call("POST", "/api/v1/auth/password-reset", json=b) for b in (
        {"username": known["username"]}, {"username": "no-such-user-anywhere"},
        {"email": "known@example.org"}, {"email": "nobody@example.org"})]
    assert {a.status for a in answers} == {409}, answers
    assert len({a.json["type"] for a in answers}) == 1 and len({a.json["detail"] for a in answers}) == 1
    for bad in ({}, {"username": "a", "email": "b@example.org"}, {"username": 7}, {"user": "x"}):
        assert is_problem(srv.call("POST", "/api/v1/auth/password-reset", json=bad), 400), bad
    assert db_rows(srv, "SELECT COUNT(*) FROM account_tokens WHERE user_id = ?", (known["id"],))[0][0] == 0


def test_link_requests_are_rate_limited_per_address(make_server):
    s = make_server(env={"ATRIUM_AUTH_PASSWORD_RESET_IP_PER_MINUTE": "3"})
    codes = [s.call("POST", "/api/v1/auth/password-reset/check", json={"token": "art_x.y"}).status for _ in range(5)]
    assert codes[:3] == [400, 400, 400] and codes[3:] == [429, 429], codes


# ---------------------------------------------------------------------------- who may do what


def test_members_cannot_administer_other_users(srv):
    member, colleague = new_user(srv), new_user(srv)
    stranger = new_user(srv, org=srv.other_org)
    oa = srv.org_admin["token"]
    for caller, target, want in ((member, colleague, 403), (oa, member, 403), (member, stranger, 404),
                                 (member, member, 403)):
        tok = caller if isinstance(caller, str) else caller["token"]
        tid = target["id"]
        cur = srv.call("GET", f"/api/v1/users/{tid}", srv.admin)
        for method, path, kw in (("POST", f"/api/v1/users/{tid}/password-reset", {}),
                                 ("GET", f"/api/v1/users/{tid}/sessions", {}),
                                 ("GET", f"/api/v1/users/{tid}/tokens", {}),
                                 ("DELETE", f"/api/v1/users/{tid}/sessions", {}),
                                 ("DELETE", f"/api/v1/users/{tid}", {"if_match": cur.etag}),
                                 ("PATCH", f"/api/v1/users/{tid}", {"if_match": cur.etag, "json": {"disabled": True}})):
            r = srv.call(method, path, tok, **kw)
            assert is_problem(r, want), (method, path, r)
    assert db_rows(srv, "SELECT COUNT(*) FROM account_tokens WHERE user_id IN (?, ?, ?)",
                   (member["id"], colleague["id"], stranger["id"]))[0][0] == 0
    assert srv.call("GET", "/api/v1/me", colleague["token"]).status == 200
    assert is_problem(srv.call("POST", "/api/v1/users/usr_nope/password-reset", srv.admin), 404)


def test_admin_sees_and_ends_a_users_sessions_never_secrets(srv):
    u = new_user(srv)
    b = Browser(srv, u["username"], USER_PASSWORD)
    r = srv.call("GET", f"/api/v1/users/{u['id']}/sessions", srv.admin)
    assert r.status == 200, r
    ids = {x["id"] for x in r.json["items"]}
    assert b.session_id in ids
    assert b.session not in r.text
    r = srv.call("GET", f"/api/v1/users/{u['id']}/tokens", srv.admin)
    assert r.status == 200 and len(r.json["items"]) == 1, r
    assert "token" not in r.json["items"][0] and u["token"] not in r.text
    assert srv.call("DELETE", f"/api/v1/users/{u['id']}/sessions", srv.admin).status == 204
    assert b.call("GET", "/api/v1/me").status == 401
    assert srv.call("GET", f"/api/v1/users/{u['id']}/sessions", srv.admin).json["items"] == []
    assert srv.call("GET", "/api/v1/me", u["token"]).status == 200  # tokens stay


# ---------------------------------------------------------------------------- disable, enable, delete


def submit_sleeper(s, token, project_id):
    m = f"300.{uuid.uuid4().int % 10**9:09d}"
    r = s.call("POST", f"/api/v1/projects/{project_id}/jobs", token,
               json={"command": ["sleep", m], "time_limit_s": 120, "mem_mb": 128})
    assert r.status == 201, r
    return r.json


def job_state(s, job_id):
    return s.call("GET", f"/api/v1/jobs/{job_id}", s.admin).json["state"]


def env_state(s, env_id):
    return s.call("GET", f"/api/v1/envs/{env_id}", s.admin).json["state"]


def test_disable_ends_access_and_work_at_once(srv):
    u = new_user(srv)
    b = Browser(srv, u["username"], USER_PASSWORD)
    r = srv.call("POST", f"/api/v1/orgs/{srv.org['id']}/projects", u["token"], json={"slug": f"p{next(_seq)}",
                                                                                     "name": "Jobs"})
    assert r.status == 201, r
    project = r.json
    running = submit_sleeper(srv, u["token"], project["id"])
    wait_until(lambda: job_state(srv, running["id"]) == "RUNNING", 30, interval=0.05, what="the job to run")
    held = srv.call("POST", f"/api/v1/projects/{project['id']}/jobs", u["token"],
                    json={"command": ["true"], "hold": True, "mem_mb": 128})
    assert held.status == 201, held
    r = srv.call("POST", f"/api/v1/projects/{project['id']}/envs", u["token"], json={"app": "terminal", "cpus": 1})
    assert r.status == 201, r
    env = r.json
    wait_until(lambda: env_state(srv, env["id"]) in ("READY", "FAILED"), 60, 0.1, "the environment to be ready")
    assert env_state(srv, env["id"]) == "READY"
    cur = srv.call("GET", f"/api/v1/users/{u['id']}", srv.admin)
    r = srv.call("PATCH", f"/api/v1/users/{u['id']}", srv.admin, json={"disabled": True}, if_match=cur.etag)
    assert r.status == 200 and r.json["disabled"] is True, r
    assert srv.call("GET", "/api/v1/me", u["token"]).status == 401
    assert b.call("GET", "/api/v1/me").status == 401
    assert srv.login(u["username"], USER_PASSWORD).status == 401
    assert job_state(srv, held.json["id"]) == "CANCELLED"
    wait_until(lambda: job_state(srv, running["id"]) == "CANCELLED", 30, interval=0.05, what="the job to stop")
    wait_until(lambda: env_state(srv, env["id"]) == "STOPPED", 60, 0.1, "the environment to stop")
    # The project stays with the org.
    assert srv.call("GET", f"/api/v1/projects/{project['id']}", srv.admin).status == 200
    # Enabled again: the user signs in; the old token stays revoked.
    cur = srv.call("GET", f"/api/v1/users/{u['id']}", srv.admin)
    r = srv.call("PATCH", f"/api/v1/users/{u['id']}", srv.admin, json={"disabled": False}, if_match=cur.etag)
    assert r.status == 200 and r.json["disabled"] is False, r
    assert srv.login(u["username"], USER_PASSWORD).status == 200
    assert srv.call("GET", "/api/v1/me", u["token"]).status == 401


def test_delete_tombstones_the_user(srv):
    u = new_user(srv, email="gone@example.org")
    cur = srv.call("GET", f"/api/v1/users/{u['id']}", srv.admin)
    assert is_problem(srv.call("DELETE", f"/api/v1/users/{u['id']}", srv.admin), 428)
    assert is_problem(srv.call("DELETE", f"/api/v1/users/{u['id']}", srv.admin, if_match='"v999"'), 412)
    r = srv.call("DELETE", f"/api/v1/users/{u['id']}", srv.admin, if_match=cur.etag)
    assert r.status == 204, r
    assert srv.call("GET", "/api/v1/me", u["token"]).status == 401
    assert is_problem(srv.call("GET", f"/api/v1/users/{u['id']}", srv.admin), 404)
    assert is_problem(srv.call("DELETE", f"/api/v1/users/{u['id']}", srv.admin, if_match=cur.etag), 404)
    assert u["id"] not in {x["id"] for x in list_all(srv, "/api/v1/users", srv.admin)}
    members = list_all(srv, f"/api/v1/orgs/{srv.org['id']}/members", srv.admin)
    assert u["id"] not in {m["user_id"] for m in members}
    assert srv.login(u["username"], USER_PASSWORD).status == 401
    # The audit trail still names the account by id; the username is free again.
    events = list_all(srv, "/api/v1/audit/events?action=user.delete", srv.admin)
    assert any(e.get("target_id") == u["id"] for e in events), events
    again = create_user(srv, srv.admin, u["username"])
    assert again["id"] != u["id"]


def test_delete_refuses_self_and_the_last_org_admin(srv):
    me = srv.call("GET", "/api/v1/me", srv.admin).json
    r = srv.call("DELETE", f"/api/v1/users/{me['id']}", srv.admin, if_match=me["etag"])
    assert is_problem(r, 409, "self-delete"), r
    lone = new_user(srv, role="org-admin", org=srv.other_org)
    cur = srv.call("GET", f"/api/v1/users/{lone['id']}", srv.admin)
    r = srv.call("DELETE", f"/api/v1/users/{lone['id']}", srv.admin, if_match=cur.etag)
    assert is_problem(r, 409, "last-org-admin"), r
    assert srv.call("GET", "/api/v1/me", lone["token"]).status == 200  # nothing changed


# ---------------------------------------------------------------------------- email and invitations


def test_email_change_clears_verification_and_verify_needs_mail(srv):
    u = new_user(srv, email="first@example.org")
    me = srv.call("GET", "/api/v1/me", u["token"]).json
    assert me["email_verified"] is False
    r = srv.call("POST", "/api/v1/me/email/verify", u["token"])
    assert is_problem(r, 409, "mail-disabled"), r
    for bad in ({}, {"token": "art_x.y"}, {"token": ""}):
        assert is_problem(srv.call("POST", "/api/v1/auth/verify-email", json=bad), 400), bad
    # A reset link does not verify an email.
    link = reset_link(srv, u["id"])
    assert is_problem(srv.call("POST", "/api/v1/auth/verify-email", json={"token": link["token"]}), 400)


def test_invitation_without_mail_is_not_mailed(srv):
    r = srv.call("POST", f"/api/v1/orgs/{srv.org['id']}/invitations", srv.admin,
                 json={"role": "member", "email": "invitee@example.org"})
    assert r.status == 201 and r.json["mailed"] is False and r.json["url"], r


# ---------------------------------------------------------------------------- CLI


def test_cli_admin_user(srv, tmp_path):
    env = base_env(admin_password=None)
    env["ATRIUM_CONFIG_DIR"] = str(tmp_path)
    env["ATRIUM_SERVER_URL"] = srv.base

    def run(*args, stdin=None, ok=True):
        p = subprocess.run([ATRIUM_BIN, *args], input=stdin, capture_output=True, text=True, env=env, timeout=60)
        assert (p.returncode == 0) == ok, (args, p.returncode, p.stdout, p.stderr)
        return p

    run("login", "--username", "admin", "--password-stdin", stdin=ADMIN_PASSWORD + "\n")
    u = new_user(srv)
    Browser(srv, u["username"], USER_PASSWORD)
    assert "ses_" in run("admin", "user", "sessions", u["username"]).stdout
    sessions = json.loads(run("admin", "user", "sessions", u["username"], "--json").stdout)
    assert len(sessions["items"]) >= 2  # the token's session and the browser's
    assert "atr_" not in run("admin", "user", "tokens", u["username"]).stdout
    run("admin", "user", "sessions", u["username"], "--end")
    assert srv.call("GET", f"/api/v1/users/{u['id']}/sessions", srv.admin).json["items"] == []
    out = run("admin", "user", "reset-password", u["username"]).stdout
    link = next(w for w in out.split() if "/reset-password#" in w)
    assert confirm(srv, link.split("#", 1)[1]).status == 204
    run("admin", "user", "disable", u["username"])
    assert srv.call("GET", "/api/v1/me", u["token"]).status == 401
    run("admin", "user", "enable", u["username"])
    assert srv.login(u["username"], NEW_PASSWORD).status == 200
    run("admin", "user", "delete", u["username"])
    assert is_problem(srv.call("GET", f"/api/v1/users/{u['id']}", srv.admin), 404)
    p = run("admin", "user", "delete", u["username"], ok=False)
    assert "user" in p.stderr.lower()
