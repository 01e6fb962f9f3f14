"""Bad submissions to SLURM partitions: an unknown partition, one the org may not use, resources
beyond the partition's limits, an account that is not the org's, a dependency between the local
scheduler's and SLURM's jobs (SLURM's --dependency names SLURM jobs of its own cluster only).
Each is a 4xx problem naming the field, stores nothing (the project's job list is unchanged) and
submits nothing (SLURM's queue has no new job). The org's default partition (GET/PUT
/api/v1/orgs/{org}/compute) and its refusals.
"""
from __future__ import annotations

import pytest

from conftest import is_problem, list_all, wait_until
from slurm_site import (PARTITION, SHORT, TERMINAL, Site, by_comment, no_leftovers, site_fixture, slurm_job,
                        slurm_of, slurm_partition_of, squeue)
pytestmark = pytest.mark.usefixtures("no_leftovers")
_ = no_leftovers
PREFIX = "sb"
B_ONLY = "slurm-b-only"  # the same SLURM partition, offered to org B only


site = site_fixture("slurm-bad", PREFIX, lambda c: (
    f'[compute.partitions.{B_ONLY}]\ncluster = "dev"\nslurm_partition = "{slurm_partition_of(c, PARTITION)}"\n'
    f'orgs = ["{PREFIX}org-b"]\n'))

class Unchanged:
    """Asserts that a refused request stored no job and submitted nothing to SLURM."""

    def __init__(self, site: Site):
        self.site = site
        self.jobs = self.ids()
        self.slurm = {j["job_id"] for j in squeue(site.c)}

    def ids(self) -> list[str]:
        return [j["id"] for org in self.site.world.orgs.values()
                for j in list_all(self.site.srv, f"/api/v1/jobs?org={org.id}", self.site.admin)]

    def check(self, r):
        assert self.ids() == self.jobs, ("a refused submission stored a job", r)
        new = {j["job_id"] for j in squeue(self.site.c)} - self.slurm
        assert not new, ("a refused submission reached SLURM", new, r)


def limits(site: Site, name: str) -> dict:
    r = site.srv.call("GET", "/api/v1/compute/partitions", site.member.token)
    assert r.status == 200, r
    return next(p for p in r.json["items"] if p["name"] == name)["limits"]


def test_an_unknown_partition_is_400(site):
    js = site.jobs()
    u = Unchanged(site)
    r = js.post({"command": ["true"], "partition": "no-such-partition"})
    assert is_problem(r, 400, "unknown-partition") and r.json["field"] == "partition", r
    u.check(r)
    r = js.post({"command": ["true"], "partition": 7})
    assert is_problem(r, 400) and r.json["field"] == "partition", r
    r = site.srv.call("POST", f"/api/v1/projects/{site.project['id']}/envs", site.member.token,
                      json={"app": "terminal", "partition": "no-such-partition"})
    assert is_problem(r, 400, "unknown-partition") and r.json["field"] == "partition", r
    assert list_all(site.srv, f"/api/v1/projects/{site.project['id']}/envs", site.member.token) == []
    u.check(r)


def test_a_partition_of_another_org_is_403_and_not_listed(site):
    u = Unchanged(site)
    r = site.jobs().post({"command": ["true"], "partition": B_ONLY})
    assert is_problem(r, 403, "partition-forbidden"), r
    u.check(r)
    mine = site.srv.call("GET", "/api/v1/compute/partitions", site.member.token).json["items"]
    assert B_ONLY not in [p["name"] for p in mine], mine
    b = site.world.b.users["member"].token
    theirs = site.srv.call("GET", "/api/v1/compute/partitions", b).json["items"]
    assert B_ONLY in [p["name"] for p in theirs], theirs


def test_resources_beyond_the_partitions_limits_are_400(site):
    lim = limits(site, SHORT)
    js = site.jobs()
    u = Unchanged(site)
    for body, field in (({"cpus": lim["max_cpus"] + 1}, "resources.cpus"),
                        ({"time_limit_s": lim["max_time_s"] + 1}, "resources.time_limit_s")):
        r = js.post({"command": ["true"], "partition": SHORT, "mem_mb": 128, "time_limit_s": 60, **body})
        assert is_problem(r, 400, "exceeds-partition") and r.json["field"] == field, (body, r)
        # An array: all its tasks or none.
        r = js.post({"command": ["true"], "partition": SHORT, "mem_mb": 128, "time_limit_s": 60, "array": "0-9",
                     **body})
        assert is_problem(r, 400, "exceeds-partition"), (body, r)
        u.check(r)
    # At the limits: accepted, and SLURM runs it (the time SLURM is given, the job's plus the kill
    # grace plus a minute, must still fit the partition's MaxTime, or it waits forever on PartitionTimeLimit).
    ok = js.submit(command=["true"], partition=SHORT, cpus=lim["max_cpus"], time_limit_s=lim["max_time_s"], mem_mb=128)

    def ended_or_stuck():
        j = js.get(ok["id"])
        sq = slurm_job(site.c, j["slurm"]["job_id"]) if (j.get("slurm") or {}).get("job_id") else None
        stuck = sq and sq["job_state"] == "PENDING" and sq["state_reason"].startswith("Partition")
        return (j, sq) if j["state"] in TERMINAL or stuck else None

    done, sq = wait_until(ended_or_stuck, 30, 0.1, "the job at the partition's limits to end")
    assert done["state"] == "COMPLETED", (
        "SLURM refuses a job within the limits Atrium shows", lim, done["state"],
        sq and {k: sq[k] for k in ("job_state", "state_reason", "time_limit", "partition")})


def test_an_account_that_is_not_the_orgs_is_403(site):
    js = site.jobs()
    u = Unchanged(site)
    for account in (f"{PREFIX}org-b", "no-such-account"):
        r = js.post({"command": ["true"], "partition": PARTITION, "account": account})
        assert is_problem(r, 403, "account-forbidden") and r.json["field"] == "account", (account, r)
        u.check(r)
    # The org's own account (absent from `accounts`: the org's slug) goes to SLURM as the job's account.
    ok = js.submit(command=["true"], partition=PARTITION, account=site.world.a.slug, hold=True)
    sid = slurm_of(js, ok["id"])["slurm"]["job_id"]
    sq = next(j for j in squeue(site.c) if j["job_id"] == sid)
    assert sq["account"] == site.world.a.slug, sq["account"]


def test_a_dependency_between_partitions_is_400(site):
    js = site.jobs()
    local = js.submit(command=["true"], partition="local", hold=True)
    remote = js.submit(command=["true"], partition=PARTITION, hold=True)
    slurm_of(js, remote["id"])  # handed over: a SLURM id it could depend on
    u = Unchanged(site)
    for partition, target in ((PARTITION, local), ("local", remote)):
        r = js.post({"command": ["true"], "partition": partition, "dependency": f"afterok:{target['id']}"})
        assert is_problem(r, 400, "invalid-dependency") and r.json["field"] == "dependency", (partition, r)
        u.check(r)
    assert len(by_comment(site.c, remote["id"])) == 1


def test_an_orgs_default_slurm_partition(site):
    """An org's default (test_partitions.py has the route's rules) sends its jobs to SLURM; a
    partition the org may not use cannot be its default; other orgs keep the server's default."""
    a, b = site.world.a, site.world.b
    path, oa = f"/api/v1/orgs/{a.id}/compute", site.owner.token
    etag = site.srv.call("GET", path, oa).etag
    r = site.srv.call("PUT", path, oa, json={"default_partition": B_ONLY}, if_match=etag)
    assert is_problem(r) and r.status in (400, 403) and r.json.get("field") == "default_partition", r
    r = site.srv.call("PUT", path, oa, json={"default_partition": PARTITION}, if_match=etag)
    assert r.status == 200 and r.json["default_partition"] == PARTITION, r
    try:
        parts = site.srv.call("GET", f"/api/v1/compute/partitions?org={a.id}", site.member.token).json["items"]
        assert [p["name"] for p in parts if p["default"]] == [PARTITION], parts
        j = site.jobs().submit(command=["true"], hold=True)
        assert j["partition"] == PARTITION, j
        assert len(by_comment(site.c, slurm_of(site.jobs(), j["id"])["id"])) == 1
        bj = site.jobs(b.users["member"].token, b.org_project["id"]).submit(command=["true"], hold=True)
        assert bj["partition"] == "local" and bj.get("slurm") is None, bj
    finally:
        r = site.srv.call("PUT", path, oa, json={"default_partition": "local"},
                          if_match=site.srv.call("GET", path, oa).etag)
        assert r.status == 200, r
