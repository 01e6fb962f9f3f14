"""GET /api/v1/orgs/{org}/usage and /fairshare: an org's CPU-hours and GPU-hours by group, user or
project per day, week or month, its storage per project, and its fair-share tree; who may read them.

Jobs with known run times are written into the server's database (the jobs table, as the server
writes it) so that the buckets can be checked to the hour; the server is restarted once so that its
scheduler loads the finished ones into fair share.
"""
from __future__ import annotations

import itertools
import math
import sqlite3
import time

import pytest

from conftest import USER_PASSWORD, add_member, create_user, is_problem
from test_data import start_upload, upload

SERVER_ENV = {"ATRIUM_COMPUTE_CPUS": "4", "ATRIUM_COMPUTE_MEM_MB": "4096", "ATRIUM_COMPUTE_GPUS": "0"}
H = 3_600_000
NOV30 = 1_796_083_200_000 - 24 * H  # 2026-11-30T00:00:00Z, a Monday
_ids = itertools.count(1)


def insert_job(srv, org, project, group, user, start, end, cpus, gpus="[]", state="COMPLETED"):
    """A job row as the jobs store writes one (the columns the schema requires)."""
    db = sqlite3.connect(srv.data_dir / "atrium.db", timeout=30)
    try:
        n = next(_ids)
        db.execute(
            "INSERT INTO jobs (id, org_id, project_id, group_id, user_id, name, qos, nice, argv, script, env, uid,"
            " cpus, mem_mb, gpus, time_limit_ms, dependency, array_spec, state, held, reason, reason_detail,"
            " submit_ms, start_ms, end_ms, exit_code, alloc_cpus, alloc_mem_mb, alloc_gpus, requeue_count, version)"
            " VALUES (?, ?, ?, ?, ?, 'hand', 'normal', 0, '[\"true\"]', '', '{}', 2000001, ?, 128, ?, 86400000, '',"
            " '', ?, 0, '', '', ?, ?, ?, ?, ?, 128, ?, 0, 1)",
            (f"hand{n:06d}", org, project, group, user, cpus, gpus.count(",") + (gpus != "[]"), state,
             start - 1000 if start else NOV30, start, end, 0 if end else None, cpus if start else None,
             gpus if start else None))
        db.commit()
    finally:
        db.close()


class Ctx:
    pass


@pytest.fixture(scope="module")
def ctx(server, admin):
    c = Ctx()
    c.srv = server
    for slug in ("ou", "ou2"):
        r = server.call("POST", "/api/v1/orgs", admin, json={"slug": slug, "name": slug.upper()})
        assert r.status == 201, r
        setattr(c, slug, r.json)
    c.users = {}
    for name, org, role in (("ou-admin", c.ou, "org-admin"), ("ou-mem", c.ou, "member"),
                            ("ou2-admin", c.ou2, "org-admin")):
        u = create_user(server, admin, name)
        add_member(server, admin, org["id"], u["id"], role)
        c.users[name] = (u["id"], server.login_token(name, USER_PASSWORD))
    oa = c.users["ou-admin"][1]
    c.group = server.call("POST", f"/api/v1/orgs/{c.ou['id']}/groups", oa, json={"slug": "g1", "name": "Group 1"}).json
    c.project = server.call("POST", f"/api/v1/orgs/{c.ou['id']}/projects", oa,
                            json={"slug": "p", "name": "Project P"}).json
    c.project2 = server.call("POST", f"/api/v1/orgs/{c.ou2['id']}/projects", c.users["ou2-admin"][1],
                             json={"slug": "q", "name": "Project Q"}).json
    mem, adm, adm2 = c.users["ou-mem"][0], c.users["ou-admin"][0], c.users["ou2-admin"][0]
    org, org2, p, g = c.ou["id"], c.ou2["id"], c.project["id"], c.group["id"]
    # 2 CPUs + 1 GPU across midnight 30 Nov -> 1 Dec; 4 CPUs + 2 GPUs on 2 Dec; another org's; a pending one.
    insert_job(server, org, p, g, mem, NOV30 + 22 * H, NOV30 + 26 * H, 2, "[0]")
    insert_job(server, org, p, "", adm, NOV30 + 58 * H, NOV30 + 60 * H, 4, "[0,1]")
    insert_job(server, org2, c.project2["id"], "", adm2, NOV30 + 24 * H, NOV30 + 29 * H, 8)
    insert_job(server, org, p, g, mem, None, None, 1, state="PENDING")
    # A recent hour for fair share (loaded at the restart), and storage: a file and an upload in progress.
    now = int(time.time() * 1000)
    insert_job(server, org, p, g, mem, now - 2 * H, now - H, 2)
    upload(server, oa, p, "data/a.bin", b"x" * 5000)
    assert start_upload(server, oa, p, "data/b.bin", 700).status == 201
    server.restart()
    c.admin = admin
    return c


def get(c, token, org=None, q=""):
    return c.srv.call("GET", f"/api/v1/orgs/{org or c.ou['id']}/usage{q}", token)


def cells(r):
    return sorted((i["bucket"], i["key"], round(i["cpu_hours"], 6), round(i["gpu_hours"], 6)) for i in r.json["items"])


def test_buckets_split_runs_by_day_week_and_month(ctx):
    oa = ctx.users["ou-admin"][1]
    p, g = ctx.project["id"], ctx.group["id"]
    mem, adm = ctx.users["ou-mem"][0], ctx.users["ou-admin"][0]
    r = get(ctx, oa, q="?by=project&bucket=day&from=2026-11-30&to=2026-12-02")
    assert r.status == 200, r
    assert r.json["buckets"] == ["2026-11-30", "2026-12-01", "2026-12-02"]
    assert cells(r) == [("2026-11-30", p, 4, 2), ("2026-12-01", p, 4, 2), ("2026-12-02", p, 8, 4)]
    assert r.json["totals"]["cpu_hours"] == pytest.approx(16) and r.json["totals"]["gpu_hours"] == pytest.approx(8)
    assert r.json["keys"] == [{"id": p, "slug": "p", "name": "Project P"}]
    assert (r.json["by"], r.json["bucket"]) == ("project", "day")

    r = get(ctx, oa, q="?by=user&bucket=week&from=2026-11-30&to=2026-12-06")
    assert r.json["buckets"] == ["2026-11-30"]
    assert cells(r) == sorted([("2026-11-30", mem, 8, 4), ("2026-11-30", adm, 8, 4)])
    assert {k["slug"] for k in r.json["keys"]} == {"ou-mem", "ou-admin"}

    r = get(ctx, oa, q="?by=group&bucket=month&from=2026-11-01&to=2026-12-05")
    assert r.json["buckets"] == ["2026-11-01", "2026-12-01"]
    assert cells(r) == [("2026-11-01", g, 4, 2), ("2026-12-01", "", 8, 4), ("2026-12-01", g, 4, 2)]
    assert {"id": g, "slug": "g1", "name": "Group 1"} in r.json["keys"]

    # A window inside a run counts only its part; a week bucket starts on the Monday before `from`.
    r = get(ctx, oa, q="?from=2026-12-01T00:00:00Z&to=2026-12-01T01:30:00Z&bucket=week")
    assert r.json["buckets"] == ["2026-11-30"] and cells(r) == [("2026-11-30", p, 3, 1.5)], r


def test_storage_by_project(ctx):
    r = get(ctx, ctx.users["ou-admin"][1])
    st = r.json["storage"]
    assert st["items"] == [{"project_id": ctx.project["id"], "slug": "p", "name": "Project P", "bytes": 5700}], st
    assert st["total_bytes"] == 5700


def test_fairshare_tree(ctx):
    r = ctx.srv.call("GET", f"/api/v1/orgs/{ctx.ou['id']}/fairshare", ctx.users["ou-admin"][1])
    assert r.status == 200, r
    acc, users = r.json["accounts"], r.json["users"]
    assert acc[0]["kind"] == "org" and acc[0]["id"] == ctx.ou["id"] and acc[0]["shares"] == 1
    groups = {a["id"]: a for a in acc[1:]}
    assert all(a["kind"] == "group" for a in acc[1:]) and ctx.group["id"] in groups
    mem = next(u for u in users if u["user_id"] == ctx.users["ou-mem"][0])
    assert mem["group_id"] == ctx.group["id"] and mem["username"] == "ou-mem"
    # The recent hour on 2 CPUs is 7200 billing-seconds, decayed a little (half-life 168 h).
    assert 7200 * 0.5 ** (2 / 168) * 0.99 < mem["raw_usage"], mem
    assert groups[ctx.group["id"]]["raw_usage"] == pytest.approx(mem["raw_usage"])
    assert acc[0]["raw_usage"] == pytest.approx(sum(u["raw_usage"] for u in users))
    for row in [*acc, *users]:
        assert 0 <= row["factor"] <= 1 and row["norm_shares"] > 0, row
        assert row["factor"] == pytest.approx(math.pow(2, -row["effective_usage"] / row["norm_shares"])), row
    assert r.json["half_life_hours"] == 168
    # Another org's users never appear.
    assert ctx.users["ou2-admin"][0] not in {u["user_id"] for u in users}


@pytest.mark.parametrize("path", ["usage", "fairshare"])
def test_who_may_read(ctx, path):
    org = ctx.ou["id"]
    url = f"/api/v1/orgs/{org}/{path}"
    assert ctx.srv.call("GET", url, ctx.admin).status == 200, "an instance admin reads any org's"
    assert ctx.srv.call("GET", f"/api/v1/orgs/ou/{path}", ctx.users["ou-admin"][1]).status == 200, "by slug"
    # A member does not see the org's usage: refused as the org's quota list is (the policy's answer).
    r = ctx.srv.call("GET", url, ctx.users["ou-mem"][1])
    quotas = ctx.srv.call("GET", f"/api/v1/orgs/{org}/quotas", ctx.users["ou-mem"][1])
    assert r.status in (403, 404) and is_problem(r, quotas.status), (r, quotas)
    r = ctx.srv.call("GET", url, ctx.users["ou2-admin"][1])
    assert is_problem(r, 404), ("another org's admin learns nothing", r)
    assert is_problem(ctx.srv.call("GET", f"/api/v1/orgs/nosuch/{path}", ctx.admin), 404)
    assert is_problem(ctx.srv.call("GET", url), 401)
    # Another org's admin with bad parameters still gets 404 (the caller is checked first).
    assert is_problem(ctx.srv.call("GET", url + "?by=x", ctx.users["ou2-admin"][1]), 404)


def test_bad_parameters(ctx):
    oa = ctx.users["ou-admin"][1]
    for q, field in (("by=org", "by"), ("bucket=year", "bucket"), ("from=yesterday", "from"),
                     ("to=2026-13-01", "to"), ("from=2026-12-02&to=2026-12-01", "from"),
                     ("from=2020-01-01&to=2026-01-01", "from"),
                     ("bucket=week&from=2000-01-01&to=2026-01-01", "from")):
        r = get(ctx, oa, q=f"?{q}")
        assert is_problem(r, 400, "invalid-query") and r.json["field"] == field, (q, r)
    assert get(ctx, oa, q="?bucket=month&from=2020-01-01&to=2026-01-01").status == 200
