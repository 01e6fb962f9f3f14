"""The instance administrator's compute view: every org's queue with its priority factors
(GET /api/v1/admin/compute/queue), every org's environments (GET /api/v1/admin/envs), acting on any
org's job and environment, and an app of the catalog enabled for some orgs only. Org members and
org administrators get none of it (403), nor any of another org's objects through the job and
environment routes (404).
"""
from __future__ import annotations

import pytest

from conftest import World, env_suite_server, is_problem, list_all, wait_until

SERVER_ENV = {"ATRIUM_COMPUTE_CPUS": "4", "ATRIUM_COMPUTE_MEM_MB": "8192", "ATRIUM_COMPUTE_GPUS": "0"}
FUTURE = "2099-01-01T00:00:00Z"
QUEUE = "/api/v1/admin/compute/queue"
ENVS = "/api/v1/admin/envs"


@pytest.fixture(scope="module")
def srv(tmp_path_factory):
    with env_suite_server(tmp_path_factory, "admincompute", SERVER_ENV) as s:
        yield s


@pytest.fixture(scope="module")
def w(srv) -> World:
    world = World(srv, srv.admin, prefix="c")
    # A web app that never answers its health check: it stays STARTING until it is stopped.
    r = srv.call("PUT", "/api/v1/apps/sleeper", srv.admin, json={
        "kind": "web", "title": "sleeper", "command": ["/bin/sleep", "300"], "spawn_timeout_s": 600,
        "defaults": {"cpus": 1, "mem_mb": 128}, "orgs": [world.b.id]})
    assert r.status == 201, r
    return world


def submit(srv, token, project_id, **body):
    body = {"command": ["true"], "time_limit_s": 60, "mem_mb": 64, **body}
    r = srv.call("POST", f"/api/v1/projects/{project_id}/jobs", token, json=body)
    assert r.status == 201, r
    return r.json


@pytest.fixture(scope="module")
def jobs(srv, w):
    """A's member: a job waiting for its begin time; B's member: a held job and a larger one."""
    a = submit(srv, w.a.users["member"].token, w.a.org_project["id"], begin_time=FUTURE, name="a-later")
    b = submit(srv, w.b.users["member"].token, w.b.org_project["id"], hold=True, name="b-held")
    big = submit(srv, w.b.users["member"].token, w.b.org_project["id"], begin_time=FUTURE, cpus=4, name="b-big")
    return {"a": a, "b": b, "big": big}


def queue(srv, query=""):
    r = srv.call("GET", QUEUE + query, srv.admin)
    assert r.status == 200, r
    return r.json


def test_queue_lists_every_org_with_priority_factors(srv, w, jobs):
    q = queue(srv)
    assert set(q["weights"]) == {"age", "fair_share", "job_size", "qos"}
    by_id = {j["id"]: j for j in q["items"]}
    for key, org, owner in (("a", w.a, "member"), ("b", w.b, "member"), ("big", w.b, "member")):
        j = by_id[jobs[key]["id"]]
        assert j["state"] == "PENDING" and j["partition"] == "local"
        assert j["org"]["id"] == org.id and j["org"]["slug"] == org.slug
        assert j["user"] == {"id": org.users[owner].id, "username": org.users[owner].username}
        f = j["factors"]
        assert set(f) == {"age", "fair_share", "job_size", "qos", "nice", "priority", "rank"}
        for k in ("age", "fair_share", "job_size", "qos"):
            assert 0 <= f[k] <= 1, (k, f)
        w_ = q["weights"]
        expect = sum(w_[k] * f[k] for k in ("age", "fair_share", "job_size", "qos")) - f["nice"]
        assert abs(f["priority"] - expect) < 1e-6 * max(1, abs(expect))
    assert by_id[jobs["b"]["id"]]["held"] is True
    assert by_id[jobs["a"]["id"]]["reason"]  # why it waits
    # The larger job has the larger size factor (PriorityFavorSmall off), every rank is distinct.
    assert by_id[jobs["big"]["id"]]["factors"]["job_size"] > by_id[jobs["a"]["id"]]["factors"]["job_size"]
    ranks = [j["factors"]["rank"] for j in q["items"] if j["factors"]]
    assert len(ranks) == len(set(ranks)) and q["pending_total"] >= 3
    # Filters: one org (by slug or id), one state; paging with a cursor.
    only_b = {j["id"] for j in queue(srv, f"?org={w.b.slug}")["items"]}
    assert only_b == {jobs["b"]["id"], jobs["big"]["id"]}
    assert {j["id"] for j in queue(srv, f"?org={w.a.id}")["items"]} == {jobs["a"]["id"]}
    assert not queue(srv, "?state=RUNNING&org=" + w.a.id)["items"]
    first = queue(srv, "?limit=1")
    assert len(first["items"]) == 1 and first["next"]
    second = queue(srv, f"?limit=1&after={first['next']}")
    assert second["items"][0]["id"] > first["items"][0]["id"]


def test_queue_bad_input(srv, w, jobs):
    assert is_problem(srv.call("GET", QUEUE + "?state=DONE", srv.admin), 400, "invalid-query")
    assert is_problem(srv.call("GET", QUEUE + "?limit=0", srv.admin), 400)
    assert is_problem(srv.call("GET", QUEUE + "?org=no-such-org", srv.admin), 404)
    assert is_problem(srv.call("GET", ENVS + "?active=maybe", srv.admin), 400, "invalid-query")
    assert is_problem(srv.call("GET", ENVS + "?org=no-such-org", srv.admin), 404)


@pytest.mark.parametrize("path", [QUEUE, ENVS])
def test_instance_admins_only(srv, w, jobs, path):
    for role in ("member", "org-admin", "viewer"):
        for query in ("", f"?org={w.a.id}", f"?org={w.b.id}"):
            r = srv.call("GET", path + query, w.a.users[role].token)
            assert is_problem(r, 403), (role, query, r)
            assert w.b.id not in r.text
    assert is_problem(srv.call("GET", path), 401)


def test_admin_holds_releases_and_cancels_any_orgs_job(srv, w, jobs):
    jid = jobs["a"]["id"]
    # Org B's administrator cannot reach A's job at all; A's own viewer may not act on it.
    for token in (w.b.users["org-admin"].token, w.b.users["member"].token):
        assert is_problem(srv.call("POST", f"/api/v1/jobs/{jid}/hold", token), 404)
    for verb, held in (("hold", True), ("release", False)):
        r = srv.call("POST", f"/api/v1/jobs/{jid}/{verb}", srv.admin)
        assert r.status == 200 and r.json["held"] is held, r
        assert {j["id"]: j for j in queue(srv)["items"]}[jid]["held"] is held
    r = srv.call("POST", f"/api/v1/jobs/{jid}/cancel", srv.admin)
    assert r.status == 200 and r.json["state"] == "CANCELLED", r
    assert jid not in {j["id"] for j in queue(srv)["items"]}
    events = list_all(srv, f"/api/v1/audit/events?org={w.a.id}&action=job.*", srv.admin, limit=500)
    acts = {e["action"] for e in events if e["target_id"] == jid}
    assert {"job.hold", "job.release", "job.cancel"} <= acts, acts


def envs_of(srv, query=""):
    r = srv.call("GET", ENVS + query, srv.admin)
    assert r.status == 200, r
    return {e["id"]: e for e in r.json["items"]}


def test_app_for_some_orgs_only_and_admin_stops_any_env(srv, w):
    a_member, b_member = w.a.users["member"], w.b.users["member"]
    a_pid, b_pid = w.a.org_project["id"], w.b.org_project["id"]
    before = list_all(srv, f"/api/v1/projects/{a_pid}/envs", a_member.token)
    r = srv.call("POST", f"/api/v1/projects/{a_pid}/envs", a_member.token, json={"app": "sleeper"})
    assert is_problem(r, 403, "app-not-enabled") and r.json["field"] == "app" and "not enabled" in r.json["detail"]
    assert list_all(srv, f"/api/v1/projects/{a_pid}/envs", a_member.token) == before
    r = srv.call("POST", f"/api/v1/projects/{b_pid}/envs", b_member.token, json={"app": "sleeper"})
    assert r.status == 201, r
    env_id = r.json["id"]
    e = envs_of(srv)[env_id]
    assert e["owner"] == {"id": b_member.id, "username": b_member.username}
    assert e["org"]["slug"] == w.b.slug and e["app"] == "sleeper"
    assert "uptime_s" in e and "idle_s" in e
    assert env_id in envs_of(srv, f"?org={w.b.slug}") and env_id not in envs_of(srv, f"?org={w.a.slug}")
    # Another org's administrator cannot stop it (404: it does not exist for them).
    assert is_problem(srv.call("POST", f"/api/v1/envs/{env_id}/stop", w.a.users["org-admin"].token), 404)
    r = srv.call("POST", f"/api/v1/envs/{env_id}/stop", srv.admin)
    assert r.status == 200 and r.json["state"] in ("STOPPING", "STOPPED"), r
    wait_until(lambda: env_id not in envs_of(srv), 60, 0.05, "the environment to end")
    assert envs_of(srv, "?active=false")[env_id]["state"] == "STOPPED"
    events = list_all(srv, f"/api/v1/audit/events?org={w.b.id}&action=env.stop", srv.admin, limit=500)
    assert any(ev["target_id"] == env_id for ev in events)


def test_catalog_add_never_overwrites_and_edits_need_the_current_etag(srv, w):
    put = lambda name, body, **h: srv.call("PUT", f"/api/v1/apps/{name}", srv.admin, json=body, headers=h)  # noqa: E731
    r = put("adder", {"kind": "web", "command": ["/bin/true"], "title": "first"}, **{"If-None-Match": "*"})
    assert r.status == 201, r
    etag = r.headers["ETag"]
    # Adding again under the same name changes nothing.
    r = put("adder", {"kind": "web", "command": ["/bin/false"], "title": "second"}, **{"If-None-Match": "*"})
    assert is_problem(r, 409, "app-exists") and r.json["field"] == "name"
    assert is_problem(put("terminal", {"title": "x"}, **{"If-None-Match": "*"}), 409, "app-exists")
    tuned = {"kind": "web", "command": ["/bin/true"], "title": "tuned", "per_org": {w.a.id: {"idle_timeout_s": 120}}}
    r = put("adder", tuned, **{"If-Match": etag})
    assert r.status == 200 and r.json["title"] == "tuned" and r.json["command"] == ["/bin/true"], r
    assert r.json["per_org"] == {w.a.id: {"idle_timeout_s": 120}}
    # The old ETag is stale now: 412, nothing changed.
    assert is_problem(put("adder", {**tuned, "title": "stale"}, **{"If-Match": etag}), 412)
    assert srv.call("GET", "/api/v1/apps/adder", srv.admin).json["title"] == "tuned"
    # Only instance administrators edit the catalog.
    r = srv.call("PUT", "/api/v1/apps/adder", w.a.users["org-admin"].token, json={"title": "mine"})
    assert is_problem(r, 403)
    doc = srv.call("GET", "/api/v1/openapi.json").json
    body = doc["paths"]["/api/v1/apps/{name}"]["put"]["requestBody"]["content"]["application/json"]["schema"]
    assert {"orgs", "per_org", "idle_timeout_s", "max_uptime_s", "network", "defaults", "max"} <= set(body["properties"])
