"""GET /api/v1/me/usage: the caller's CPU-hours and GPU-hours per project per day, from their jobs."""
from __future__ import annotations

import datetime

from conftest import USER_PASSWORD, add_member, create_user, is_problem, wait_until

COMPUTE_ENV = {"ATRIUM_COMPUTE_CPUS": "4", "ATRIUM_COMPUTE_MEM_MB": "4096", "ATRIUM_COMPUTE_GPUS": "0"}
TERMINAL = {"COMPLETED", "FAILED", "CANCELLED", "TIMEOUT", "OUT_OF_MEMORY", "NODE_FAIL"}


def ms(t: str) -> int:
    return int(datetime.datetime.fromisoformat(t.replace("Z", "+00:00")).timestamp() * 1000)


def test_my_usage_by_project_and_day(make_server):
    srv = make_server(env=COMPUTE_ENV)
    admin = srv.admin_token()
    org = srv.call("POST", "/api/v1/orgs", admin, json={"slug": "use-org", "name": "Usage Org"}).json
    users = {}
    for name in ("use-a", "use-b"):
        u = create_user(srv, admin, name)
        add_member(srv, admin, org["id"], u["id"], "member")
        users[name] = srv.login_token(name, USER_PASSWORD)
    me = users["use-a"]
    p = srv.call("POST", f"/api/v1/orgs/{org['id']}/projects", me, json={"slug": "usage", "name": "Usage P"})
    assert p.status == 201, p
    assert srv.call("GET", "/api/v1/me/usage", me).json["items"] == [], "no jobs, no usage"

    j = srv.call("POST", f"/api/v1/projects/{p.json['id']}/jobs", me,
                 json={"command": ["sleep", "0.3"], "cpus": 2, "mem_mb": 128, "time_limit_s": 60})
    assert j.status == 201, j
    done = wait_until(lambda: (r := srv.call("GET", f"/api/v1/jobs/{j.json['id']}", me).json)["state"] in TERMINAL
                      and r, 60, interval=0.05, what="the job to end")
    assert done["state"] == "COMPLETED", done

    r = srv.call("GET", "/api/v1/me/usage?bucket=day", me)
    assert r.status == 200, r
    items = r.json["items"]
    start, end = ms(done["start_time"]), ms(done["end_time"])
    # One item per UTC day the run overlapped (two only when it ran across midnight).
    assert {i["day"] for i in items} == {done["start_time"][:10], done["end_time"][:10]}
    assert all(i["project_id"] == p.json["id"] and i["gpu_hours"] == 0 for i in items)
    total = sum(i["cpu_hours"] for i in items)
    assert abs(total - 2 * (end - start) / 3_600_000) < 1e-6, (items, done)
    assert abs(r.json["totals"]["cpu_hours"] - total) < 1e-9
    item = items[-1]
    assert r.json["projects"] == [{"id": p.json["id"], "org_id": org["id"], "slug": "usage", "name": "Usage P"}]
    assert r.json["bucket"] == "day"

    # Another user's jobs are never counted; a window without the job is empty.
    assert srv.call("GET", "/api/v1/me/usage", users["use-b"]).json["items"] == []
    day = datetime.date.fromisoformat(item["day"])
    later = (day + datetime.timedelta(days=1)).isoformat()
    assert srv.call("GET", f"/api/v1/me/usage?from={later}&to={later}", me).json["items"] == []
    r = srv.call("GET", f"/api/v1/me/usage?from={item['day']}&to={item['day']}", me)
    assert r.status == 200 and [i["day"] for i in r.json["items"]] == [item["day"]], r

    # Bad input is a 400 naming the field; no credentials 401; a token without jobs:read 403.
    for q, field in (("bucket=week", "bucket"), ("from=yesterday", "from"), ("to=2026-13-01", "to"),
                     (f"from={later}&to={item['day']}", "from"), ("from=2020-01-01&to=2026-01-01", "from")):
        r = srv.call("GET", f"/api/v1/me/usage?{q}", me)
        assert is_problem(r, 400, "invalid-query") and r.json["field"] == field, (q, r)
    assert is_problem(srv.call("GET", "/api/v1/me/usage"), 401)
    narrow = srv.login_token("use-a", USER_PASSWORD, scopes=["projects:read:own"])
    assert is_problem(srv.call("GET", "/api/v1/me/usage", narrow), 403, "token-scope")
