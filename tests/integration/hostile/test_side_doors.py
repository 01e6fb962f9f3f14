"""Hostile tenants going around permissions and quotas through jobs: a token scoped to jobs only
that mounts datasets, checks out code or writes outputs; outputs that ignore the storage quota,
the disk reserve and the largest file size (a sparse 1 TiB file)."""
from __future__ import annotations

import os
import sys

import pytest

from conftest import ADMIN_PASSWORD, USER_PASSWORD, Server, add_member, create_user, is_problem

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # beside it, whatever the import mode
from test_job_trees import COMPUTE_ENV, TERMINAL, Site  # noqa: E402


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    srv = Server(tmp_path_factory.mktemp("doors"), env=COMPUTE_ENV).start()
    try:
        yield Site(srv)
    finally:
        if srv.running():
            try:
                srv.stop(30)
            except AssertionError:
                srv.kill9()


def jobs_only_token(site: Site, name: str) -> str:
    u = create_user(site.srv, site.admin, name)
    add_member(site.srv, site.admin, site.org, u["id"], "org-admin")
    return site.srv.login_token(name, USER_PASSWORD, scopes=["jobs:create", "jobs:read"])


# ---------------------------------------------------------------------------- permissions


def test_jobs_only_token_cannot_mount_datasets_check_out_code_or_write_outputs(site):
    tok = jobs_only_token(site, "jobs-only")
    plain = site.project()
    ds = site.dataset(plain, "survey", {"a.txt": b"rows\n"})
    def refused(r, perm: str) -> bool:  # 403 as the direct route answers, naming what is missing
        return is_problem(r, 403) and r.json.get("permission") == perm

    post = lambda pid, body: site.srv.call("POST", f"/api/v1/projects/{pid}/jobs", tok,  # noqa: E731
                                           json={"script": "true", "time_limit_s": 30, **body})
    # What the direct routes refuse this token, submission refuses too (and stores nothing).
    assert is_problem(site.srv.call("GET", f"/api/v1/datasets/{ds['id']}/versions/1/files", tok), 403, "token-scope")
    r = post(plain, {"datasets": ["survey"]})
    assert refused(r, "files:read"), r
    r = post(plain, {"outputs": {"dataset": "results", "paths": ["*.csv"]}})
    assert refused(r, "files:write"), r
    names = [d["name"] for d in site.srv.call("GET", f"/api/v1/projects/{plain}/datasets", site.admin).json["items"]]
    assert names == ["survey"]  # the outputs dataset was not made either
    coded = site.project()
    site.commit(coded, "run.sh", "echo code\n")
    assert is_problem(site.srv.call("GET", f"/api/v1/projects/{coded}/repo/files/run.sh", tok), 403, "token-scope")
    r = post(coded, {})
    assert refused(r, "code:read"), r
    mine = site.srv.call("GET", "/api/v1/jobs", tok).json["items"]
    assert mine == []
    # A job that reads and writes nothing but its workspace still runs with such a token.
    r = post(plain, {})
    assert r.status == 201, r
    assert site.wait(r.json["id"], TERMINAL, tok)["state"] == "COMPLETED"
    # The same user with a full token may do all of it.
    full = site.srv.login_token("jobs-only", USER_PASSWORD)
    for pid, body in ((plain, {"datasets": ["survey"], "outputs": {"dataset": "results", "paths": ["*.csv"]}}),
                      (coded, {})):
        r = site.srv.call("POST", f"/api/v1/projects/{pid}/jobs", full,
                          json={"script": "true", "time_limit_s": 30, **body})
        assert r.status == 201, r
        site.wait(r.json["id"], TERMINAL, full)


def test_a_project_the_user_cannot_see_is_still_404_with_datasets_and_outputs(site):
    pid = site.project()
    site.dataset(pid, "survey", {"a.txt": b"rows\n"})
    r = site.srv.call("POST", f"/api/v1/orgs/{site.org}/projects", site.admin,
                      json={"slug": "private", "name": "Private"})
    private = r.json["id"]
    create_user(site.srv, site.admin, "stranger")
    tok = site.srv.login_token("stranger", USER_PASSWORD)
    for p in (pid, private):
        r = site.srv.call("POST", f"/api/v1/projects/{p}/jobs", tok,
                          json={"script": "true", "datasets": ["survey"],
                                "outputs": {"dataset": "results", "paths": ["*"]}})
        assert is_problem(r, 404), r


# ---------------------------------------------------------------------------- quotas and sizes of outputs


def output_version(site: Site, pid: str, name: str = "results") -> dict:
    ds = next(d for d in site.srv.call("GET", f"/api/v1/projects/{pid}/datasets", site.admin).json["items"]
              if d["name"] == name)
    shown = site.srv.call("GET", f"/api/v1/datasets/{ds['id']}", site.admin).json
    v = shown["versions"][0]
    files = site.srv.call("GET", f"/api/v1/datasets/{ds['id']}/versions/{v['version']}/files", site.admin).json
    return {**v, "files": [f["path"] for f in files["items"]]}


def test_a_sparse_terabyte_output_is_refused_before_it_is_read(site):
    """`truncate -s 1T` costs the job nothing; reading and encrypting it would occupy the server for
    hours and fill its disk. The job ends at once, its version records why and holds nothing."""
    pid = site.project()
    j = site.submit(pid, script="mkdir out && echo small > out/ok.txt && truncate -s 1T out/big.bin",
                    outputs={"dataset": "results", "paths": ["out/*"]})
    done = site.wait(j["id"], TERMINAL, timeout=60)
    assert done["state"] == "COMPLETED", (done, site.log(j["id"], stream="stderr"))
    v = output_version(site, pid)
    err = v["provenance"].get("capture_error", "")
    assert "outputs not captured" in err and "room" in err, v
    assert v["files"] == []  # nothing partial


def test_outputs_over_the_storage_quota_are_refused(site):
    pid = site.project()
    r = site.srv.call("PUT", f"/api/v1/orgs/{site.org}/quotas/org/{site.org}", site.admin,
                      json={"storage_bytes": 50_000}, if_match="*")
    assert r.status == 200, r
    try:
        j = site.submit(pid, script="mkdir out && head -c 60000 /dev/zero > out/a.bin && echo x > out/b.bin",
                        outputs={"dataset": "results", "paths": ["out/*"]})
        assert site.wait(j["id"], TERMINAL)["state"] == "COMPLETED"
        v = output_version(site, pid)
        err = v["provenance"].get("capture_error", "")
        assert "outputs not captured" in err and "storage quota" in err, v
        assert v["files"] == []
    finally:
        site.srv.call("PUT", f"/api/v1/orgs/{site.org}/quotas/org/{site.org}", site.admin, json={}, if_match="*")


def test_outputs_over_the_largest_file_size_are_refused(make_server):
    srv = make_server(env={**COMPUTE_ENV, "ATRIUM_DATA_MAX_FILE_BYTES": "10000"})
    site = Site(srv)
    pid = site.project()
    j = site.submit(pid, script="mkdir out && head -c 20000 /dev/zero > out/big.bin && echo x > out/small.bin",
                    outputs={"dataset": "results", "paths": ["out/*"]})
    assert site.wait(j["id"], TERMINAL)["state"] == "COMPLETED"
    v = output_version(site, pid)
    err = v["provenance"].get("capture_error", "")
    assert "out/big.bin" in err and "largest file" in err, v
    assert v["files"] == []


def test_outputs_that_would_eat_the_disk_reserve_are_refused(make_server):
    srv = make_server(env={**COMPUTE_ENV, "ATRIUM_DATA_RESERVE_BYTES": str(1 << 50)})  # more than any disk has
    site = Site(srv)
    pid = site.project()
    j = site.submit(pid, script="echo x > a.txt", outputs={"dataset": "results", "paths": ["*.txt"]})
    assert site.wait(j["id"], TERMINAL)["state"] == "COMPLETED"
    v = output_version(site, pid)
    assert "room" in v["provenance"].get("capture_error", ""), v
    assert v["files"] == []


def test_envs_only_token_cannot_launch_an_environment_over_the_code(site):
    # An environment's workspace is the project's code: launching one reads it, so a token scoped
    # to environments only is refused like the repository route refuses it (nothing is launched).
    tok = site.srv.login_token("admin", ADMIN_PASSWORD, scopes=["envs:create", "envs:read", "envs:use"])
    coded = site.project()
    site.commit(coded, "secret.txt", "not for this token\n")
    r = site.srv.call("POST", f"/api/v1/projects/{coded}/envs", tok, json={"app": "terminal"})
    assert is_problem(r, 403) and r.json.get("permission") == "code:read", r
    assert site.srv.call("GET", f"/api/v1/projects/{coded}/envs", site.admin).json["items"] == []


def test_jobs_only_token_cannot_probe_which_refs_exist(site):
    tok = jobs_only_token(site, "ref-prober")
    coded = site.project()
    site.commit(coded, "run.sh", "echo code\n")
    post = lambda ref: site.srv.call("POST", f"/api/v1/projects/{coded}/jobs", tok,  # noqa: E731
                                     json={"script": "true", "time_limit_s": 30, "ref": ref})
    existing, missing = post("main"), post("no-such-branch")
    assert is_problem(existing, 403) and is_problem(missing, 403), (existing, missing)
    assert existing.json.get("permission") == missing.json.get("permission") == "code:read"
