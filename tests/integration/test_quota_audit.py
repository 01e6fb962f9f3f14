"""What the org administration pages Quotas and Audit rely on: a request a quota refuses leaves an
audit event (recorded after the refused transaction rolled back), in the refused org's trail only;
the actor filter takes a username; an org's administrators verify their org's share of the chain."""
import json

import pytest

from conftest import is_problem, list_all


def events(server, token, query=""):
    return list_all(server, "/api/v1/audit/events" + (f"?{query}" if query else ""), token, limit=1000)


JOB = {"command": ["true"], "hold": True, "mem_mb": 64, "time_limit_s": 60}


@pytest.fixture(scope="module")
def refused(server, world):
    """Org A's member, limited to 0 CPU-hours by the org's admin, submits a job: refused."""
    a = world.a
    mem = a.users["member"]
    oa = a.users["org-admin"].token
    r = server.call("PUT", f"/api/v1/orgs/{a.id}/quotas/user/{mem.id}", oa, json={"cpu_hours": 0}, if_match="*")
    assert r.status == 200, r
    r = server.call("POST", f"/api/v1/projects/{a.org_project['id']}/jobs", mem.token, json=JOB)
    return r


def test_a_refused_submission_answers_the_quotas_problem_and_creates_nothing(server, world, refused):
    a = world.a
    mem = a.users["member"]
    assert is_problem(refused, 507, "quota-exceeded")
    p = refused.json
    assert p["limit"] == "max_cpu_hours" and p["kind"] == "user" and p["subject_id"] == mem.id
    assert p["org_id"] == a.id and f"user {mem.id}" in p["detail"], p
    jobs = server.call("GET", f"/api/v1/projects/{a.org_project['id']}/jobs", mem.token).json["items"]
    assert jobs == []


def test_the_refusal_is_an_event_of_the_org_about_the_subject(server, admin, world, refused):
    a = world.a
    mem = a.users["member"]
    oa = a.users["org-admin"].token
    got = events(server, oa, f"org={a.id}&action=quota.exceeded")
    assert len(got) == 1, got
    e = got[0]
    assert e["actor_id"] == mem.id and e["actor"] == mem.username and e["org_id"] == a.id
    assert e["target_kind"] == "user" and e["target_id"] == mem.id
    assert e["request_id"] == refused.headers["x-request-id"] and e["client_ip"] == "127.0.0.1"
    assert e["summary"]["detail"] == refused.json["detail"]
    assert e["summary"]["route"] == "POST /api/v1/projects/{id}/jobs"
    assert e["summary"]["limit"] == "max_cpu_hours" and e["summary"]["max"] == 0
    # Recorded in the chain like any other event.
    assert server.call("GET", "/api/v1/audit/verify", admin).json["ok"] is True


def test_another_org_never_sees_the_refusal(server, world, refused):
    a, b = world.a, world.b
    ob = b.users["org-admin"].token
    assert not [e for e in events(server, ob) if e["action"] == "quota.exceeded" or e["org_id"] != b.id]
    assert is_problem(server.call("GET", f"/api/v1/audit/events?org={a.id}&action=quota.exceeded", ob), 404)
    assert is_problem(server.call("GET", f"/api/v1/audit/export?org={a.id}", ob), 404)
    assert events(server, ob, f"actor={a.users['member'].username}") == []


def test_refusals_of_other_kinds_and_anonymous_callers_leave_no_event(server, admin, world, refused):
    a = world.a
    pid = a.org_project["id"]
    before = len(events(server, admin))
    assert is_problem(server.call("POST", f"/api/v1/projects/{pid}/jobs", json=JOB), 401)
    assert server.call("POST", f"/api/v1/projects/{pid}/jobs", a.users["viewer"].token, json=JOB).status in (403, 404)
    assert server.call("POST", f"/api/v1/projects/{pid}/jobs", a.users["member"].token,
                       json={**JOB, "cpus": 0}).status == 400
    assert len(events(server, admin)) == before


def test_each_refusal_is_recorded_once_and_lifting_the_quota_lets_work_in(server, world, refused):
    a = world.a
    mem = a.users["member"]
    oa = a.users["org-admin"].token
    pid = a.org_project["id"]
    assert server.call("POST", f"/api/v1/projects/{pid}/jobs", mem.token, json=JOB).status == 507
    assert len(events(server, oa, f"org={a.id}&action=quota.exceeded")) == 2
    q = server.call("GET", f"/api/v1/orgs/{a.id}/quotas/user/{mem.id}", oa).json
    r = server.call("PUT", f"/api/v1/orgs/{a.id}/quotas/user/{mem.id}", oa, json={}, if_match=q["etag"])
    assert r.status == 200, r
    r = server.call("POST", f"/api/v1/projects/{pid}/jobs", mem.token, json=JOB)
    assert r.status == 201, r
    assert server.call("POST", f"/api/v1/jobs/{r.json['id']}/cancel", mem.token).status in (200, 202)
    assert len(events(server, oa, f"org={a.id}&action=quota.exceeded")) == 2


def test_the_actor_filter_takes_a_username_or_an_id(server, admin, world, refused):
    mem = world.a.users["member"]
    by_name = events(server, admin, f"actor={mem.username}")
    assert by_name and all(e["actor_id"] == mem.id for e in by_name)
    assert by_name == events(server, admin, f"actor={mem.id}")
    assert events(server, admin, "actor=nobody-at-all") == []


def test_an_org_admin_verifies_their_orgs_share_of_the_chain(server, admin, world, refused):
    a, b = world.a, world.b
    oa = a.users["org-admin"].token
    r = server.call("GET", f"/api/v1/audit/verify?org={a.id}", oa)
    assert r.status == 200, r
    assert r.json["ok"] is True and r.json["scope"] == "org" and r.json["first_broken"] is None
    assert r.json["checked"] == len(events(server, oa, f"org={a.id}"))
    assert server.call("GET", f"/api/v1/audit/verify?org={a.id}", admin).json["checked"] == r.json["checked"]
    assert server.call("GET", "/api/v1/audit/verify", admin).json["scope"] == "instance"
    # Another org's share, the whole chain, or a member's: refused as before.
    assert is_problem(server.call("GET", f"/api/v1/audit/verify?org={b.id}", oa), 404)
    assert is_problem(server.call("GET", "/api/v1/audit/verify", oa), 403)
    assert is_problem(server.call("GET", f"/api/v1/audit/verify?org={a.id}", a.users["member"].token), 403)
    assert is_problem(server.call("GET", f"/api/v1/audit/verify?org={a.id}"), 401)


def test_newest_first_pages_the_same_events_backwards(server, world, refused):
    a = world.a
    oa = a.users["org-admin"].token
    asc = events(server, oa, f"org={a.id}")
    desc = list_all(server, f"/api/v1/audit/events?org={a.id}&order=desc", oa, limit=3)
    assert len(asc) > 3 and desc == list(reversed(asc))
    r = server.call("GET", f"/api/v1/audit/export?org={a.id}&order=desc", oa)
    assert [json.loads(line)["seq"] for line in r.text.splitlines()] == [e["seq"] for e in desc]
    bad = server.call("GET", "/api/v1/audit/events?order=sideways", oa)
    assert is_problem(bad, 400) and bad.json["field"] == "order"
