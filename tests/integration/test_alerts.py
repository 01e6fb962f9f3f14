"""Alerts (src/alerts) against a real server sampling its health every 100 ms: a rule that holds
fires and its webhook arrives at a local receiver with a valid HMAC-SHA256 signature, its mail at a
local SMTP sink (smtp_sink.py); a change that ends the condition resolves it; a webhook that cannot
be reached is recorded on the event and stops nothing; bad input is a 4xx with `field` that changes
nothing; only instance admins reach the routes.

Every wait polls (wait_until, sink.wait_for) against a deadline.
"""
from __future__ import annotations

import hashlib
import hmac
import json
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from conftest import USER_PASSWORD, Server, add_member, create_user, is_problem, wait_until
from smtp_sink import SmtpSink

BASE = "/api/v1/admin/alerts"
SERVER_ENV = {
    "ATRIUM_HEALTH_PERIOD_MS": "100",
    "ATRIUM_TASKS_BACKOFF_BASE_MS": "100",
    "ATRIUM_TASKS_BACKOFF_MAX_S": "1",
}


class Receiver:
    """A webhook receiver on 127.0.0.1: keeps each POST (headers, body) and answers 204."""

    def __init__(self):
        self.posts: list[tuple[dict[str, str], bytes]] = []
        self.cond = threading.Condition()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                with outer.cond:
                    outer.posts.append(({k.lower(): v for k, v in self.headers.items()}, body))
                    outer.cond.notify_all()
                self.send_response(204)
                self.end_headers()

            def log_message(self, *a):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def wait_for(self, pred, timeout: float = 20) -> tuple[dict[str, str], dict, bytes]:
        def found():
            with self.cond:
                for h, b in self.posts:
                    j = json.loads(b)
                    if pred(j):
                        return h, j, b
            return None
        return wait_until(found, timeout, what="a webhook POST")

    def stop(self):
        self.httpd.shutdown()
        self.httpd.server_close()


def closed_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("alerts")
    sink = SmtpSink(tmp, tls=False).start()
    receiver = Receiver()
    srv = Server(tmp / "data", env={**SERVER_ENV, **sink.atrium_config()}).start()
    try:
        srv.admin = srv.admin_token()
        yield srv, sink, receiver
    finally:
        if srv.running():
            srv.stop(30)
        receiver.stop()
        sink.stop()


def rule(name: str, **kw) -> dict:
    body = {"name": name, "figure": "disk_free_ratio", "op": "<", "threshold": 1.01, "for_s": 0,
            "severity": "critical"}
    body.update(kw)
    return body


def create(srv: Server, body: dict) -> dict:
    r = srv.call("POST", f"{BASE}/rules", srv.admin, json=body)
    assert r.status == 201, r
    assert r.etag == r.json["etag"]
    return r.json


def events(srv: Server, rule_id: str) -> list[dict]:
    r = srv.call("GET", f"{BASE}/events?rule_id={rule_id}&limit=200", srv.admin)
    assert r.status == 200, r
    return r.json["items"]


def event_of(srv: Server, rule_id: str, kind: str, pred=lambda e: True) -> dict:
    def found():
        return next((e for e in events(srv, rule_id) if e["kind"] == kind and pred(e)), None)
    return wait_until(found, 20, what=f"a {kind} event of {rule_id}")


def test_webhook_arrives_signed_and_the_alert_resolves(env):
    srv, _, receiver = env
    r = create(srv, rule("disk-webhook", webhook_url=receiver.url("/hook")))
    secret = r["webhook_secret"]
    assert secret.startswith("whsec_") and r["webhook_secret_set"]
    # Shown once: never in a read of the rule.
    got = srv.call("GET", f"{BASE}/rules/{r['id']}", srv.admin)
    assert got.status == 200 and "webhook_secret" not in got.json and secret not in got.text

    headers, body, raw = receiver.wait_for(lambda j: j["rule"]["id"] == r["id"] and j["event"]["kind"] == "firing")
    want = "sha256=" + hmac.new(secret.encode(), raw, hashlib.sha256).hexdigest()
    assert hmac.compare_digest(headers["x-atrium-signature"], want)
    assert headers["content-type"] == "application/json"
    assert body["event"]["figure"] == "disk_free_ratio" and body["event"]["value"] < 1.01
    assert body["link"].endswith("/admin/alerts")

    fired = event_of(srv, r["id"], "firing", lambda e: e["deliveries"] and e["deliveries"][0]["state"] == "delivered")
    assert fired["deliveries"][0]["channel"] == "webhook"
    cur = srv.call("GET", f"{BASE}/current", srv.admin).json
    assert next(c for c in cur["items"] if c["rule_id"] == r["id"])["state"] == "firing"

    # Audited as the system's doing, the secret nowhere in the trail.
    audit = srv.call("GET", f"/api/v1/audit/events?target={r['id']}&limit=200", srv.admin)
    assert audit.status == 200, audit
    actions = {(e["action"], e.get("actor")) for e in audit.json["items"]}
    assert ("alert.firing", "system") in actions and any(a == "alert_rule.create" for a, _ in actions)
    assert secret not in audit.text

    # The condition ends (a threshold nothing is below): resolved, and posted too.
    upd = srv.call("PATCH", f"{BASE}/rules/{r['id']}", srv.admin, json={"threshold": -1}, if_match=got.etag)
    assert upd.status == 200, upd
    assert "webhook_secret" not in upd.json  # not rotated
    event_of(srv, r["id"], "resolved")
    receiver.wait_for(lambda j: j["rule"]["id"] == r["id"] and j["event"]["kind"] == "resolved")
    # A rotated secret signs what follows.
    rot = srv.call("PATCH", f"{BASE}/rules/{r['id']}", srv.admin, json={"rotate_secret": True}, if_match=upd.etag)
    assert rot.status == 200 and rot.json["webhook_secret"] != secret
    t = srv.call("POST", f"{BASE}/rules/{r['id']}/test", srv.admin)
    assert t.status == 201 and t.json["kind"] == "test", t
    h, _, raw = receiver.wait_for(lambda j: j["event"]["id"] == t.json["id"])
    assert h["x-atrium-signature"] == "sha256=" + hmac.new(rot.json["webhook_secret"].encode(), raw,
                                                           hashlib.sha256).hexdigest()


def test_email_arrives_at_the_smtp_sink(env):
    srv, sink, _ = env
    r = create(srv, rule("disk-mail", emails=["ops@example.org"]))
    mail = sink.wait_for(to="ops@example.org", subject="disk-mail")
    assert "[critical] Alert firing: disk-mail" == mail.subject
    assert "disk_free_ratio < 1.01" in mail.text and "/admin/alerts" in mail.text
    event_of(srv, r["id"], "firing",
             lambda e: e["deliveries"] and e["deliveries"][0]["state"] == "delivered"
             and e["deliveries"][0]["channel"] == "email:ops@example.org")


def test_unreachable_webhook_is_recorded_and_blocks_nothing(env):
    srv, sink, _ = env
    r = create(srv, rule("disk-deadhook", webhook_url=f"http://127.0.0.1:{closed_port()}/x"))
    e = event_of(srv, r["id"], "firing", lambda e: e["deliveries"] and e["deliveries"][0].get("error"))
    assert e["deliveries"][0]["attempts"] >= 1 and "did not answer" in e["deliveries"][0]["error"]
    # Evaluation goes on: another rule still fires and mails.
    create(srv, rule("disk-after-deadhook", emails=["later@example.org"]))
    sink.wait_for(to="later@example.org", subject="disk-after-deadhook")


BAD = [
    ({"figure": "no_such_figure"}, "figure"),
    ({"op": ">="}, "op"),
    ({"threshold": "1"}, "threshold"),
    ({"threshold": None}, "threshold"),
    ({"for_s": -5}, "for_s"),
    ({"severity": "panic"}, "severity"),
    ({"emails": ["not an address"]}, "emails"),
    ({"emails": ["a@example.org\r\nBcc: eve@example.org"]}, "emails"),
    ({"webhook_url": "ftp://example.org/x"}, "webhook_url"),
    ({"webhook_url": "javascript:alert(1)"}, "webhook_url"),
    ({"name": ""}, "name"),
    ({"unknown": 1}, None),
]


def test_bad_input_is_refused_and_changes_nothing(env):
    srv, _, _ = env
    base = create(srv, rule("disk-bad-input-base", threshold=-1))
    before = srv.call("GET", f"{BASE}/rules?limit=200", srv.admin).json["items"]
    audit_before = srv.call("GET", "/api/v1/audit/events?action=alert_rule.*&limit=200", srv.admin).json["items"]
    own = {"webhook_url": srv.base + "/api/v1/x"}
    for change, field in BAD + [(own, "webhook_url")]:
        r = srv.call("POST", f"{BASE}/rules", srv.admin, json={**rule("disk-bad"), **change})
        assert 400 <= r.status < 500 and is_problem(r), (change, r)
        if field:
            assert r.json.get("field") == field, (change, r)
        p = srv.call("PATCH", f"{BASE}/rules/{base['id']}", srv.admin, json=change, if_match=base["etag"])
        assert 400 <= p.status < 500 and is_problem(p), (change, p)
    # Not JSON, no If-Match, a stale one, a duplicate name, an id that is not one.
    assert srv.call("POST", f"{BASE}/rules", srv.admin, body="{", headers={"Content-Type": "application/json"}).status == 400
    assert srv.call("PATCH", f"{BASE}/rules/{base['id']}", srv.admin, json={"threshold": 2}).status == 428
    assert srv.call("PATCH", f"{BASE}/rules/{base['id']}", srv.admin, json={"threshold": 2},
                    if_match='"v99"').status == 412
    assert srv.call("DELETE", f"{BASE}/rules/{base['id']}", srv.admin, if_match='"v99"').status == 412
    dup = srv.call("POST", f"{BASE}/rules", srv.admin, json=rule("disk-bad-input-base"))
    assert dup.status == 409 and dup.json["field"] == "name"
    assert srv.call("GET", f"{BASE}/rules/alr_nope", srv.admin).status == 404
    assert srv.call("GET", f"{BASE}/events?kind=weird", srv.admin).status == 400
    assert srv.call("GET", f"{BASE}/rules?limit=200", srv.admin).json["items"] == before
    audit_after = srv.call("GET", "/api/v1/audit/events?action=alert_rule.*&limit=200", srv.admin).json["items"]
    assert audit_after == audit_before
    gone = srv.call("DELETE", f"{BASE}/rules/{base['id']}", srv.admin, if_match=base["etag"])
    assert gone.status == 204
    assert srv.call("GET", f"{BASE}/rules/{base['id']}", srv.admin).status == 404


def test_only_instance_admins(env):
    srv, _, _ = env
    target = create(srv, rule("disk-admin-only", threshold=-1))
    u = create_user(srv, srv.admin, "alerts-orgadmin")
    org = srv.call("POST", "/api/v1/orgs", srv.admin, json={"slug": "alerts-org", "name": "Alerts org"})
    assert org.status == 201, org
    assert add_member(srv, srv.admin, org.json["id"], u["id"], "org-admin").status in (200, 201)
    tok = srv.login_token("alerts-orgadmin", USER_PASSWORD)
    rid = target["id"]
    attempts = [("GET", f"{BASE}/rules", None), ("GET", f"{BASE}/rules/{rid}", None), ("GET", f"{BASE}/current", None),
                ("GET", f"{BASE}/events", None), ("GET", f"{BASE}/figures", None),
                ("POST", f"{BASE}/rules", rule("disk-intruder")),
                ("PATCH", f"{BASE}/rules/{rid}", {"threshold": 5}), ("DELETE", f"{BASE}/rules/{rid}", None),
                ("POST", f"{BASE}/rules/{rid}/test", None)]
    for method, path, body in attempts:
        kw = {"json": body} if body is not None else {}
        r = srv.call(method, path, tok, if_match=target["etag"], **kw)
        assert r.status in (403, 404), (method, path, r)
        assert srv.call(method, path, None, **kw).status == 401
    again = srv.call("GET", f"{BASE}/rules/{rid}", srv.admin)
    assert again.status == 200 and again.json["version"] == target["version"]
    names = [x["name"] for x in srv.call("GET", f"{BASE}/rules?limit=200", srv.admin).json["items"]]
    assert "disk-intruder" not in names


def test_figures_include_the_job_queue_gauges(env):
    srv, _, _ = env
    names = {f["name"] for f in srv.call("GET", f"{BASE}/figures", srv.admin).json["items"]}
    assert {"disk_free_ratio", "jobs_pending", "jobs_stuck_running", "jobs_stuck_pending"} <= names
