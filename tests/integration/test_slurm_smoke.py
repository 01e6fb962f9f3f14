"""The SLURM executor end to end (the smoke test of issue 19's path): a job submitted to partition
`slurm` is handed over to the dev cluster (scripts/slurm-dev-cluster.sh), runs `atrium exec` on a
node, COMPLETES with its output in the logs and its SLURM job id shown; the exec channel opens
only with the job's own token. The broad suite is test_slurm_*.py beside it."""
from __future__ import annotations

import json

import pytest

from conftest import World, call, wait_until
from slurm_fixture import make_slurm_cluster, slurm_cluster, slurm_server  # noqa: F401

TERMINAL = {"COMPLETED", "FAILED", "CANCELLED", "TIMEOUT", "OUT_OF_MEMORY", "NODE_FAIL"}


@pytest.fixture(scope="module")
def smoke(slurm_cluster, tmp_path_factory):
    srv = slurm_server(slurm_cluster, tmp_path_factory.mktemp("slurm-smoke") / "data", cluster_keys={"poll_ms": 200})
    try:
        srv.admin = srv.admin_token()
        world = World(srv, srv.admin, prefix="s")
        yield srv, world
    finally:
        srv.stop(30)


def wait_end(srv, token: str, job_id: str, timeout: float = 60) -> dict:
    last: dict = {}

    def ended():
        nonlocal last
        r = srv.call("GET", f"/api/v1/jobs/{job_id}", token)
        assert r.status == 200, r
        last = r.json
        return last if last["state"] in TERMINAL else None

    try:
        return wait_until(ended, timeout, 0.05, f"job {job_id} to end")
    except AssertionError as e:
        raise AssertionError(f"{e}; last seen: {json.dumps(last)[:2000]}\n{srv.output()[-4000:]}") from None


def submit(srv, world, **body):
    """POSTs a job to partition `slurm` in org A's shared project as its member: the 201."""
    body = {"partition": "slurm", "time_limit_s": 120, "mem_mb": 128, **body}
    r = srv.call("POST", f"/api/v1/projects/{world.a.org_project['id']}/jobs", world.a.users["member"].token,
                 json=body)
    assert r.status == 201, r
    return r


def test_echo_hi_completes_through_slurm(smoke, slurm_cluster):
    srv, world = smoke
    member = world.a.users["member"]
    r = submit(srv, world, command=["sh", "-c", "echo hi"], mem_mb=256)
    job = r.json
    assert job["partition"] == "slurm"
    done = wait_end(srv, member.token, job["id"])
    assert done["state"] == "COMPLETED", done
    assert done["exit_code"] == 0
    s = done["slurm"]
    assert s["cluster"] == "dev" and s["handed_over"] is True and isinstance(s["job_id"], int), s
    assert s["nodes"] in ("node1", "node2"), s
    assert s["unknown_since"] is None
    # SLURM ran it: its own record carries Atrium's comment.
    sj = slurm_cluster.job(s["job_id"])
    assert sj and sj["comment"] == f"atrium:{job['id']}" and sj["job_state"] == "COMPLETED", sj
    logs = srv.call("GET", f"/api/v1/jobs/{job['id']}/logs?stream=stdout&offset=0", member.token)
    assert logs.status == 200, logs
    assert logs.body == b"hi\n", logs
    # The RPCs Atrium made are counted (the benchmark compares them with sdiag).
    metrics = srv.call("GET", "/metrics").body.decode()
    assert 'atrium_slurm_rpcs_total{cluster="dev",call="submit"}' in metrics


def test_secrets_reach_the_node_through_the_exec_channel(smoke):
    """A job's secrets on a node: `atrium exec-secrets` fetches them with the run's token file and
    pipes them to `atrium exec --secrets -`; neither the batch script nor spec.json holds them."""
    srv, world = smoke
    member = world.a.users["member"]
    value = "s3cr3t-" + "x7q" * 4
    r = srv.call("PUT", "/api/v1/me/secrets/SMOKE_KEY", member.token, json={"value": value})
    assert r.status in (200, 201), r
    r = srv.call("PUT", "/api/v1/me/secrets/SMOKE_FILE", member.token, json={"value": value + "-file"})
    assert r.status in (200, 201), r
    r = submit(srv, world, command=["sh", "-c", "echo key=$SMOKE_KEY; cat /run/secrets/SMOKE_FILE"], secrets=["SMOKE_KEY", "SMOKE_FILE:file"], mem_mb=256)
    done = wait_end(srv, member.token, r.json["id"])
    assert done["state"] == "COMPLETED", done
    logs = srv.call("GET", f"/api/v1/jobs/{done['id']}/logs?stream=stdout&offset=0", member.token)
    assert logs.body.decode() == f"key={value}\n{value}-file", logs
    run = srv.data_dir / "jobs" / done["id"] / "run0"
    for f in run.iterdir():
        if f.is_file() and f.name not in ("stdout", "stderr"):
            assert value not in f.read_text(errors="replace"), f


def test_array_goes_as_one_slurm_array_and_a_dependency_waits(smoke, slurm_cluster):
    """An Atrium array is one SLURM array (%N kept), each task runs its own run; a job depending on
    the array goes to SLURM with --dependency on the array's SLURM id and runs after it."""
    srv, world = smoke
    member = world.a.users["member"]
    r = submit(srv, world, command=["sh", "-c", "echo task=$ATRIUM_ARRAY_TASK_ID"], array="0-2%2")
    a = r.json
    r = submit(srv, world, command=["echo", "after"], dependency=f"afterok:{a['array_id']}")
    after = r.json["id"]
    array_job = None
    for i, tid in enumerate(a["job_ids"]):
        t = wait_end(srv, member.token, tid)
        assert t["state"] == "COMPLETED", t
        assert t["slurm"]["array_task_id"] == i, t["slurm"]
        array_job = array_job or t["slurm"]["array_job_id"]
        assert t["slurm"]["array_job_id"] == array_job
        logs = srv.call("GET", f"/api/v1/jobs/{tid}/logs?stream=stdout&offset=0", member.token)
        assert logs.body == f"task={i}\n".encode(), logs
    d = wait_end(srv, member.token, after)
    assert d["state"] == "COMPLETED", d
    sj = slurm_cluster.job(d["slurm"]["job_id"])
    assert sj["comment"] == f"atrium:{after}", sj
    ends = [wait_end(srv, member.token, tid)["end_time"] for tid in a["job_ids"]]
    assert d["start_time"] >= max(ends), (d, ends)


def test_requeue_of_a_running_job_is_a_new_slurm_job(smoke, slurm_cluster):
    srv, world = smoke
    member = world.a.users["member"]
    r = submit(srv, world, command=["sh", "-c", "echo run; sleep 2"])
    job_id = r.json["id"]

    def running():
        j = srv.call("GET", f"/api/v1/jobs/{job_id}", member.token).json
        return j if j["state"] == "RUNNING" and j["slurm"]["job_id"] else None
    first = wait_until(running, 30, 0.05, "the job to run")["slurm"]["job_id"]
    r = srv.call("POST", f"/api/v1/jobs/{job_id}/requeue", member.token)
    assert r.status == 200, r
    done = wait_end(srv, member.token, job_id)
    assert done["state"] == "COMPLETED", done
    second = done["slurm"]["job_id"]
    assert second != first
    assert slurm_cluster.job(second)["comment"] == f"atrium:{job_id}#1"
    assert slurm_cluster.job(first)["job_state"] == "CANCELLED"


def test_held_at_submission_is_held_in_slurm_until_released(smoke, slurm_cluster):
    srv, world = smoke
    member = world.a.users["member"]
    r = submit(srv, world, command=["echo", "released"], hold=True)
    job_id = r.json["id"]

    def held_in_slurm():
        j = srv.call("GET", f"/api/v1/jobs/{job_id}", member.token).json
        sj = slurm_cluster.job(j["slurm"]["job_id"]) if j["slurm"]["job_id"] else None
        return (j, sj) if sj and sj["job_state"] == "PENDING" and sj["priority"] == 0 else None
    j, sj = wait_until(held_in_slurm, 30, 0.05, "the job held in SLURM")
    assert j["state"] == "PENDING" and j["held"] is True, j
    r = srv.call("POST", f"/api/v1/jobs/{job_id}/release", member.token)
    assert r.status == 200, r
    done = wait_end(srv, member.token, job_id)
    assert done["state"] == "COMPLETED" and done["held"] is False, done


def test_exec_channel_takes_only_the_jobs_own_token(smoke):
    srv, world = smoke
    member = world.a.users["member"]
    r = submit(srv, world, command=["sleep", "30"], mem_mb=256)
    job_id = r.json["id"]
    run = srv.data_dir / "jobs" / job_id / "run0"
    token_file = run / "exec.token"
    wait_until(lambda: token_file.exists(), 30, 0.05, "the exec token in the run directory")
    assert token_file.stat().st_mode & 0o777 == 0o600 and token_file.stat().st_uid == 0
    token = token_file.read_text().strip()
    path = f"/api/v1/exec/jobs/{job_id}/secrets"
    ok = call(srv.port, "GET", path, token)
    assert ok.status == 200, ok
    assert ok.json == {"env": {}, "files": {}}
    assert ok.headers.get("cache-control") == "no-store"
    # Anything else: 404, the same answer whether the job exists or not.
    for bad_path, tok in ((path, token + "x"), (path, member.token), (path, None),
                          ("/api/v1/exec/jobs/nope/secrets", token)):
        r = call(srv.port, "GET", bad_path, tok)
        assert r.status == 404, (bad_path, r)
    r = srv.call("POST", f"/api/v1/jobs/{job_id}/cancel", member.token)
    assert r.status == 200, r
    wait_end(srv, member.token, job_id)
    assert call(srv.port, "GET", path, token).status == 404  # a token dies with its job


def test_slurmctld_down_submissions_queue_and_go_exactly_once(make_slurm_cluster, tmp_path):
    """slurmctld stopped: jobs submitted meanwhile are accepted (201), show unknown_since, and are
    handed over once it is back: each SLURM job exactly once, each Atrium job COMPLETED; one
    cancelled meanwhile is never submitted."""
    c = make_slurm_cluster()
    srv = slurm_server(c, tmp_path / "data", cluster_keys={"poll_ms": 200})
    try:
        admin = srv.admin_token()
        world = World(srv, admin, prefix="f")
        member = world.a.users["member"]
        c.stop_ctld()
        ids = [submit(srv, world, command=["sh", "-c", f"echo job{i}"]).json["id"] for i in range(3)]
        cancelled = submit(srv, world, command=["echo", "never"]).json["id"]
        r = srv.call("POST", f"/api/v1/jobs/{cancelled}/cancel", member.token)
        assert r.status == 200 and r.json["state"] == "CANCELLED", r

        def marked():
            js = [srv.call("GET", f"/api/v1/jobs/{i}", member.token).json for i in ids]
            return all(j["state"] == "PENDING" and j["slurm"]["unknown_since"] for j in js) and js
        wait_until(marked, 30, 0.1, "unknown_since on the queued jobs")
        c.start_ctld()
        for i, job_id in enumerate(ids):
            done = wait_end(srv, member.token, job_id, timeout=90)
            assert done["state"] == "COMPLETED", done
            assert done["slurm"]["unknown_since"] is None
        comments = [j["comment"] for j in c.squeue_json() if j["comment"].startswith("atrium:")]
        assert sorted(comments) == sorted(f"atrium:{i}" for i in ids), comments  # the cancelled one never
    finally:
        srv.stop(30)


def test_server_kill9_finds_its_jobs_and_cancels_orphans(slurm_cluster, tmp_path):
    """kill -9 of atrium server while its job runs on a node: after the restart the job is found
    again and COMPLETES; a SLURM job with the comment of one of its ended jobs (an orphan) is
    cancelled, one with another Atrium's key is left alone (the module's server shares the cluster)."""
    c = slurm_cluster
    srv = slurm_server(c, tmp_path / "data", cluster_keys={"poll_ms": 200})
    try:
        admin = srv.admin_token()
        world = World(srv, admin, prefix="k")
        member = world.a.users["member"]
        job_id = submit(srv, world, command=["sh", "-c", "sleep 3; echo survived"]).json["id"]
        wait_until(lambda: srv.call("GET", f"/api/v1/jobs/{job_id}", member.token).json["state"] == "RUNNING",
                   30, 0.05, "the job to run")
        srv.kill9()
        foreign = c.sbatch("sleep 120", "--comment", "atrium:a-job-of-another-atrium")
        srv.start()
        done = wait_end(srv, member.token, job_id, timeout=60)
        assert done["state"] == "COMPLETED", done
        logs = srv.call("GET", f"/api/v1/jobs/{job_id}/logs?stream=stdout&offset=0", member.token)
        assert logs.body == b"survived\n", logs
        orphan = c.sbatch("sleep 120", "--comment", f"atrium:{job_id}")
        c.wait_job(orphan, ("CANCELLED",), timeout=30)
        assert c.job(foreign)["job_state"] in ("PENDING", "RUNNING")
        c.run("scancel", str(foreign))
    finally:
        srv.stop(30)

