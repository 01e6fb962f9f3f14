"""Outbound mail against a real SMTP server (tests/integration/smtp_sink.py: aiosmtpd with STARTTLS
and AUTH): job notifications arrive with working links, preferences are respected, an SMTP outage
is retried until the server returns (nothing sent twice), a 5xx reply is a dead task with the reply
as its last error, a kill -9 with mail tasks in flight and queued loses and duplicates nothing, and
bad input is refused without changing anything.

Every wait polls (wait_until, sink.wait_for) against a deadline.
"""
from __future__ import annotations

import itertools

import pytest

from conftest import Server, World, is_problem, list_all, wait_until
from smtp_sink import SmtpSink

COMPUTE_ENV = {
    "ATRIUM_COMPUTE_CPUS": "2",
    "ATRIUM_COMPUTE_MEM_MB": "2048",
    "ATRIUM_COMPUTE_GPUS": "0",
    "ATRIUM_COMPUTE_KILL_GRACE_S": "1",
    # Quick retries; one task at a time (so the kill -9 test has one in flight and one queued).
    "ATRIUM_TASKS_WORKERS": "1",
    "ATRIUM_TASKS_BACKOFF_BASE_MS": "200",
    "ATRIUM_TASKS_BACKOFF_MAX_S": "1",
    "ATRIUM_TASKS_LEASE_S": "5",
}
TERMINAL = {"COMPLETED", "FAILED", "CANCELLED", "TIMEOUT", "OUT_OF_MEMORY", "NODE_FAIL"}
SMTP_USER, SMTP_PASSWORD = "atrium", "sink-password-0123"
_seq = itertools.count(1)


class Ctx:
    def __init__(self, srv: Server, sink: SmtpSink):
        self.srv, self.sink = srv, sink
        self.world = World(srv, srv.admin, prefix="mail")
        self.owner = self.world.a.users["org-admin"]
        self.project = self.world.a.project
        self.set_email(self.owner, "owner@example.org")

    def set_email(self, user, email: str):
        me = self.srv.call("GET", f"/api/v1/users/{user.id}", user.token)
        r = self.srv.call("PATCH", f"/api/v1/users/{user.id}", user.token, json={"email": email},
                          headers={"If-Match": me.etag})
        assert r.status == 200, r

    def run_job(self, notify: str | None, command: list[str], token: str | None = None) -> dict:
        body = {"command": command, "time_limit_s": 60, "mem_mb": 128, "name": f"mail-job-{next(_seq)}"}
        if notify is not None:
            body["notify"] = notify
        r = self.srv.call("POST", f"/api/v1/projects/{self.project['id']}/jobs", token or self.owner.token, json=body)
        assert r.status == 201, r
        job_id = r.json["id"]

        def ended():
            g = self.srv.call("GET", f"/api/v1/jobs/{job_id}", token or self.owner.token)
            return g.json if g.json["state"] in TERMINAL else None
        return wait_until(ended, 60, interval=0.05, what=f"job {job_id} to end")

    def mail_tasks(self) -> list[dict]:
        return list_all(self.srv, "/api/v1/tasks?kind=mail.send", self.srv.admin)

    def task_of_job(self, job_id: str) -> dict | None:
        for t in self.mail_tasks():
            if t["key"] == f"mail:job-end:{job_id}:0":
                return t
        return None

    def wait_task(self, job_id: str, pred, what: str) -> dict:
        return wait_until(lambda: (lambda t: t if t and pred(t) else None)(self.task_of_job(job_id)), 30,
                          interval=0.05, what=what)

    def mails_about(self, job_id: str) -> list:
        return [m for m in self.sink.messages if job_id in m.subject or job_id in m.text]


@pytest.fixture(scope="module")
def ctx(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("mail")
    sink = SmtpSink(tmp, tls=True, users={SMTP_USER: SMTP_PASSWORD}).start()
    srv = Server(tmp / "data", env={**COMPUTE_ENV, **sink.atrium_config()})
    try:
        srv.start()
        srv.admin = srv.admin_token()
        yield Ctx(srv, sink)
    finally:
        try:
            srv.stop(30)
        except AssertionError:
            srv.kill9()
        sink.stop()


def test_failed_job_mail_over_starttls_with_auth_and_a_working_link(ctx):
    job = ctx.run_job("failure", ["sh", "-c", "exit 3"])
    assert job["state"] == "FAILED"
    m = ctx.sink.wait_for(to="owner@example.org", subject=job["name"])
    assert m.tls and m.auth_user == SMTP_USER
    assert "failed" in m.subject and "FAILED" in m.subject
    assert m.msg.get_content_type() == "multipart/alternative"
    assert m.msg["From"].addresses[0].addr_spec == "atrium@example.org"
    assert m.message_id.startswith("<") and m.message_id.endswith("@example.org>")
    # The link is the job's page on the server's public origin; the HTML part carries it too.
    link = next(u for u in m.links() if "/jobs/" in u)
    assert link == f"http://localhost:{ctx.srv.port}/jobs/{job['id']}"
    assert f'href="{link}"' in m.html
    path = link.split(str(ctx.srv.port), 1)[1]
    r = ctx.srv.call("GET", "/api/v1" + path, ctx.owner.token)
    assert r.status == 200 and r.json["id"] == job["id"]
    assert ctx.wait_task(job["id"], lambda t: t["state"] == "succeeded", "the mail task to succeed")["attempts"] == 1


def test_notify_failure_on_success_sends_nothing_and_end_sends_one(ctx):
    before = len(ctx.mail_tasks())
    ok = ctx.run_job("failure", ["true"])
    assert ok["state"] == "COMPLETED"
    never = ctx.run_job(None, ["sh", "-c", "exit 1"])
    assert never["state"] == "FAILED"
    # The mail would have been queued with the final state: none was.
    assert len(ctx.mail_tasks()) == before
    done = ctx.run_job("end", ["true"])
    m = ctx.sink.wait_for(to="owner@example.org", subject=done["name"])
    assert "ended: COMPLETED" in m.subject
    assert len(ctx.mail_tasks()) == before + 1
    assert ctx.mails_about(ok["id"]) == [] and ctx.mails_about(never["id"]) == []


def test_preference_off_sends_nothing_and_is_audited(ctx):
    u = ctx.owner
    p = ctx.srv.call("GET", "/api/v1/me/notifications", u.token)
    assert p.status == 200 and p.json["kinds"]["job_end"] == {"email": True} and p.json["locale"] is None
    assert p.json["mail_enabled"] is True and "de" in p.json["locales"]
    r = ctx.srv.call("PUT", "/api/v1/me/notifications", u.token, json={"kinds": {"job_end": {"email": False}}},
                     headers={"If-Match": p.etag})
    assert r.status == 200 and r.json["kinds"]["job_end"] == {"email": False}, r
    assert r.json["kinds"]["quota_near_limit"] == {"email": True}
    try:
        before = len(ctx.mail_tasks())
        job = ctx.run_job("failure", ["false"])
        assert job["state"] == "FAILED"
        assert len(ctx.mail_tasks()) == before
        events = ctx.srv.call("GET", "/api/v1/audit/events?action=user.notifications", ctx.srv.admin)
        assert events.status == 200 and any(e["target_id"] == u.id for e in events.json["items"]), events
    finally:
        r2 = ctx.srv.call("PUT", "/api/v1/me/notifications", u.token, json={"kinds": {"job_end": {"email": True}}},
                          headers={"If-Match": r.json["etag"]})
        assert r2.status == 200


def test_bad_input_is_refused_and_changes_nothing(ctx):
    u = ctx.world.a.users["member"]
    p = ctx.srv.call("GET", "/api/v1/me/notifications", u.token)
    for body, field in (({"locale": "xx"}, "locale"), ({"locale": 5}, "locale"),
                        ({"kinds": {"nope": {"email": False}}}, "kinds"),
                        ({"kinds": {"job_end": {"email": "no"}}}, "kinds"),
                        ({"kinds": {"job_end": False}}, "kinds"), ({"colour": "red"}, None)):
        r = ctx.srv.call("PUT", "/api/v1/me/notifications", u.token, json=body, headers={"If-Match": p.etag})
        assert is_problem(r, 400), (body, r)
        if field:
            assert r.json.get("field") == field, (body, r.json)
    r = ctx.srv.call("PUT", "/api/v1/me/notifications", u.token, json={"locale": "de"})
    assert r.status == 428, r
    r = ctx.srv.call("PUT", "/api/v1/me/notifications", u.token, json={"locale": "de"}, headers={"If-Match": '"v9"'})
    assert r.status == 412, r
    assert ctx.srv.call("GET", "/api/v1/me/notifications", u.token).json == p.json
    # A read-only token may read but not change them.
    ro = ctx.srv.login_token(u.username, "user-password-for-tests", scopes=["users:read"], name="ro")
    assert ctx.srv.call("GET", "/api/v1/me/notifications", ro).status == 200
    r = ctx.srv.call("PUT", "/api/v1/me/notifications", ro, json={"locale": "de"}, headers={"If-Match": p.etag})
    assert r.status in (403, 404), r
    assert ctx.srv.call("GET", "/api/v1/me/notifications").status == 401
    # A job's notify must be one of the three.
    r = ctx.srv.call("POST", f"/api/v1/projects/{ctx.project['id']}/jobs", ctx.owner.token,
                     json={"command": ["true"], "notify": "sometimes"})
    assert is_problem(r, 400) and r.json.get("field") == "notify", r
    # A header injection through the address never reaches a mail: the profile refuses it...
    me = ctx.srv.call("GET", f"/api/v1/users/{u.id}", u.token)
    r = ctx.srv.call("PATCH", f"/api/v1/users/{u.id}", u.token, json={"email": "m@example.org\r\nBcc: x@example.org"},
                     headers={"If-Match": me.etag})
    assert r.status == 400, r
    # ...and an address SMTP would not take queues nothing, while the job's end is recorded as ever.
    ctx.set_email(u, "two@@example.org")
    r = ctx.srv.call("POST", f"/api/v1/projects/{ctx.project['id']}/members", ctx.owner.token,
                     json={"user_id": u.id, "role": "member"})
    assert r.status in (201, 409), r
    before = len(ctx.mail_tasks())
    job = ctx.run_job("end", ["false"], token=u.token)
    assert job["state"] == "FAILED"
    assert len(ctx.mail_tasks()) == before


def test_smtp_down_is_retried_until_it_returns_and_nothing_is_sent_twice(ctx):
    ctx.sink.stop()
    try:
        job = ctx.run_job("failure", ["false"])
        t = ctx.wait_task(job["id"], lambda t: t["attempts"] >= 2 and t["state"] == "queued", "retries")
        assert "SMTP" in t["last_error"] and SMTP_PASSWORD not in t["last_error"], t
    finally:
        ctx.sink.start()
    ctx.sink.wait_for(to="owner@example.org", subject=job["name"])
    t = ctx.wait_task(job["id"], lambda t: t["state"] == "succeeded", "the retried task to succeed")
    assert t["attempts"] >= 3
    assert len(ctx.mails_about(job["id"])) == 1


def test_a_5xx_reply_is_dead_with_the_reply_as_last_error(ctx):
    u = ctx.world.a.users["viewer"]
    ctx.set_email(ctx.owner, "bounce@example.org")
    ctx.sink.reject("bounce@example.org", "550 5.1.1 <bounce@example.org>: no such user")
    try:
        job = ctx.run_job("failure", ["false"])
        t = ctx.wait_task(job["id"], lambda t: t["state"] == "dead", "the task to be dead")
        assert t["attempts"] == 1 and "550 5.1.1" in t["last_error"] and "no such user" in t["last_error"], t
        assert ctx.mails_about(job["id"]) == []
    finally:
        ctx.set_email(ctx.owner, "owner@example.org")
    del u


def test_kill9_with_mail_in_flight_and_queued_sends_each_once(ctx):
    srv, sink = ctx.srv, ctx.sink
    sink.stall()  # the first task's SMTP conversation hangs: leased, in flight
    try:
        first = ctx.run_job("failure", ["false"])
        wait_until(lambda: sink.stalled_connections() >= 1, 20, what="a stalled SMTP connection")
        second = ctx.run_job("failure", ["false"])
        assert ctx.task_of_job(first["id"])["state"] == "running"
        assert ctx.task_of_job(second["id"])["state"] == "queued"
        srv.kill9()
    finally:
        sink.start()
    srv.start()
    srv.admin = srv.admin_token()
    for job in (first, second):
        sink.wait_for(to="owner@example.org", subject=job["name"], timeout=40)
        ctx.wait_task(job["id"], lambda t: t["state"] == "succeeded", "the task to succeed after the restart")
    for job in (first, second):
        assert len(ctx.mails_about(job["id"])) == 1, [m.subject for m in sink.messages]
