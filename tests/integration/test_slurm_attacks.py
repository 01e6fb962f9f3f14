"""Attacks on the SLURM path (issue 19), each performed against the dev cluster: a job's own code on
a node going for its exec token or forging its outcome, exec tokens replayed across jobs and runs,
tenant text aimed at the batch script and at root's `atrium exec` on the node, another org's account
or partition, and a SLURM user on the cluster making Atrium adopt a job Atrium did not submit."""
from __future__ import annotations

import json
import os
import socket
import subprocess
import threading
import urllib.request
import uuid
import pytest

from conftest import ATRIUM_BIN, World, call, wait_until
from slurm_fixture import slurm_cluster, slurm_server  # noqa: F401

TERMINAL = {"COMPLETED", "FAILED", "CANCELLED", "TIMEOUT", "OUT_OF_MEMORY", "NODE_FAIL"}


@pytest.fixture(scope="module")
def hostile(slurm_cluster, tmp_path_factory):
    extra = '[compute.partitions.restricted]\ncluster = "dev"\nslurm_partition = "debug"\norgs = ["xorg-b"]\n'
    srv = slurm_server(slurm_cluster, tmp_path_factory.mktemp("slurm-attacks") / "data", extra_toml=extra,
                       cluster_keys={"poll_ms": 200, "accounts": {"xorg-a": "a_acct", "xorg-b": "b_acct"}})
    try:
        world = World(srv, srv.admin_token(), prefix="x")
        yield srv, world
    finally:
        srv.stop(30)


def submit(srv, user, project: str, **body) -> dict:
    body.setdefault("partition", "slurm")
    body.setdefault("time_limit_s", 120)
    body.setdefault("mem_mb", 256)
    r = srv.call("POST", f"/api/v1/projects/{project}/jobs", user.token, json=body)
    assert r.status == 201, r
    return r.json


def job(srv, user, job_id: str) -> dict:
    r = srv.call("GET", f"/api/v1/jobs/{job_id}", user.token)
    assert r.status == 200, r
    return r.json


def wait_state(srv, user, job_id: str, states, timeout: float = 60) -> dict:
    last: dict = {}

    def seen():
        nonlocal last
        last = job(srv, user, job_id)
        return last if last["state"] in states else None

    try:
        return wait_until(seen, timeout, 0.05, f"job {job_id} in {states}")
    except AssertionError as e:
        raise AssertionError(f"{e}; last seen: {json.dumps(last)[:2000]}\n{srv.output()[-4000:]}") from None


def token_of(srv, job_id: str, run: int = 0) -> str:
    f = srv.data_dir / "jobs" / job_id / f"run{run}" / "exec.token"
    wait_until(lambda: f.exists() and f.stat().st_size > 0, 30, 0.05, f"{f}")
    return f.read_text().strip()


def secrets_status(srv, job_id: str, token: str) -> int:
    return call(srv.port, "GET", f"/api/v1/exec/jobs/{job_id}/secrets", token).status


def test_job_code_on_a_node_cannot_read_its_token_nor_forge_its_outcome(hostile):
    """The job runs as its uid in the sandbox on the node: the run directory (exec.token, spec.json,
    outcome.json) is neither visible nor writable from there, so SLURM's and the supervisor's word
    stands: the job exits 3 and is FAILED with 3, whatever it tried to write."""
    srv, world = hostile
    member = world.a.users["member"]
    # A tenant knows where its run directory is: data_dir/jobs/<its id>/run0 (the nodes see the same path).
    script = (
        f'R="{srv.data_dir}/jobs/$ATRIUM_JOB_ID/run0"\n'
        'if cat "$R/exec.token" >/dev/null 2>&1; then echo TOKEN-READ; else echo no-token; fi\n'
        'if [ -e "$R/spec.json" ] || [ -e "$R" ]; then echo RUN-VISIBLE; else echo no-run; fi\n'
        'if echo \'{"state":"COMPLETED","exit_code":0}\' >"$R/outcome.json" 2>/dev/null; then echo FORGED;'
        ' else echo no-forge; fi\n'
        'if cat /proc/1/root"$R/exec.token" >/dev/null 2>&1; then echo PROC-ROOT; else echo no-proc-root; fi\n'
        'exit 3\n')
    j = submit(srv, member, world.a.org_project["id"], script=script)
    done = wait_state(srv, member, j["id"], TERMINAL)
    logs = srv.call("GET", f"/api/v1/jobs/{j['id']}/logs?stream=stdout&offset=0", member.token)
    assert logs.body == b"no-token\nno-run\nno-forge\nno-proc-root\n", logs
    assert done["state"] == "FAILED" and done["exit_code"] == 3, done
    run = srv.data_dir / "jobs" / j["id"] / "run0"
    st = run.stat()
    assert st.st_uid == 0 and st.st_mode & 0o022 == 0, oct(st.st_mode)
    tok = (run / "exec.token").stat()
    assert tok.st_uid == 0 and tok.st_mode & 0o777 == 0o600


def test_exec_tokens_open_only_their_own_job_and_run(hostile):
    """Job A's token never opens job B (and the reverse); a requeue gives the new run a new token
    and the old run's token is dead at once (the old SLURM job may still be stopping)."""
    srv, world = hostile
    member = world.a.users["member"]
    other = world.b.users["member"]
    a = submit(srv, member, world.a.org_project["id"], command=["sleep", "60"])
    b = submit(srv, other, world.b.org_project["id"], command=["sleep", "60"])
    ta, tb = token_of(srv, a["id"]), token_of(srv, b["id"])
    assert ta != tb
    assert secrets_status(srv, a["id"], ta) == 200
    assert secrets_status(srv, b["id"], tb) == 200
    assert secrets_status(srv, a["id"], tb) == 404
    assert secrets_status(srv, b["id"], ta) == 404
    # A token as an API bearer token opens nothing of the job's owner.
    assert srv.call("GET", f"/api/v1/jobs/{a['id']}", ta).status in (401, 404)
    first = wait_state(srv, member, a["id"], {"RUNNING"})["slurm"]["job_id"]
    r = srv.call("POST", f"/api/v1/jobs/{a['id']}/requeue", member.token)
    assert r.status == 200, r
    assert secrets_status(srv, a["id"], ta) == 404  # the old run's token died with the requeue
    t1 = token_of(srv, a["id"], run=1)  # the next run: a new SLURM job with a token of its own
    assert t1 != ta
    wait_until(lambda: secrets_status(srv, a["id"], t1) == 200, 30, 0.1, "the new run's token to open")
    assert secrets_status(srv, a["id"], ta) == 404
    # The old SLURM job's end (cancelled) is not the new run's: it runs again, as a new SLURM job.
    again = wait_state(srv, member, a["id"], {"RUNNING"})
    assert again["requeue_count"] == 1 and again["slurm"]["job_id"] != first, again
    for jid, u in ((a["id"], member), (b["id"], other)):
        r = srv.call("POST", f"/api/v1/jobs/{jid}/cancel", u.token)
        assert r.status in (200, 409), r
    for jid, u in ((a["id"], member), (b["id"], other)):
        wait_state(srv, u, jid, TERMINAL)
    assert secrets_status(srv, b["id"], tb) == 404  # and a token dies with its job


def test_tenant_text_reaches_neither_the_script_nor_roots_exec(hostile, slurm_cluster, tmp_path):
    """A job name with newlines, #SBATCH lines, a spoofed comment and a command substitution, and
    an environment with LD_PRELOAD, SLURM_* and PATH: the batch script and root's `atrium exec` on
    the node see none of it (the SLURM job's environment is Atrium's PATH only); the job itself does."""
    srv, world = hostile
    member = world.a.users["member"]
    marker = tmp_path / f"pwned-{uuid.uuid4().hex}"
    name = f"x\n#SBATCH --comment=atrium:victim\n$(touch {marker})`touch {marker}`'\";touch {marker}"
    r = srv.call("POST", f"/api/v1/projects/{world.a.org_project['id']}/jobs", member.token,
                 json={"name": name, "command": ["/bin/sh", "-c", "echo ld=$LD_PRELOAD conf=$SLURM_CONF"],
                       "env": {"LD_PRELOAD": "/nonexistent/atrium-evil.so", "SLURM_CONF": "/nonexistent/slurm.conf",
                               "PATH": "/nonexistent/bin"},
                       "partition": "slurm", "time_limit_s": 120, "mem_mb": 256})
    if r.status == 400:  # names the server refuses never reach SLURM: nothing more to attack
        r = srv.call("POST", f"/api/v1/projects/{world.a.org_project['id']}/jobs", member.token,
                     json={"name": "x$(touch " + str(marker) + ")", "command": ["/bin/sh", "-c",
                                                                                 "echo ld=$LD_PRELOAD conf=$SLURM_CONF"],
                           "env": {"LD_PRELOAD": "/nonexistent/atrium-evil.so",
                                   "SLURM_CONF": "/nonexistent/slurm.conf", "PATH": "/nonexistent/bin"},
                           "partition": "slurm", "time_limit_s": 120, "mem_mb": 256})
    assert r.status == 201, r
    done = wait_state(srv, member, r.json["id"], TERMINAL)
    assert done["state"] == "COMPLETED", done
    logs = srv.call("GET", f"/api/v1/jobs/{done['id']}/logs?stream=stdout&offset=0", member.token)
    assert logs.body == b"ld=/nonexistent/atrium-evil.so conf=/nonexistent/slurm.conf\n", logs
    assert not marker.exists()
    sj = slurm_cluster.job(done["slurm"]["job_id"])
    assert sj["comment"] == f"atrium:{done['id']}", sj
    root_side = (srv.data_dir / "jobs" / done["id"] / "run0" / "slurm.out").read_text(errors="replace")
    assert "atrium-evil" not in root_side and "preload" not in root_side.lower(), root_side
    script = slurm_cluster.run("scontrol", "write", "batch_script", str(sj["job_id"]), "-").stdout
    assert "nonexistent" not in script and "touch" not in script, script


def test_another_orgs_account_or_partition_is_refused_and_nothing_is_submitted(hostile, slurm_cluster):
    srv, world = hostile
    member = world.a.users["member"]
    project = world.a.org_project["id"]
    before = {j["job_id"] for j in slurm_cluster.squeue_json()}
    for body, status, slug, field in (
            ({"account": "b_acct"}, 403, "account-forbidden", "account"),
            ({"account": "xorg-b"}, 403, "account-forbidden", "account"),
            ({"partition": "restricted"}, 403, "partition-forbidden", "partition")):
        r = srv.call("POST", f"/api/v1/projects/{project}/jobs", member.token,
                     json={"command": ["true"], "partition": "slurm", "time_limit_s": 60, "mem_mb": 64, **body})
        assert r.status == status and r.json["type"].endswith(slug) and r.json.get("field") == field, r
    oa = world.a.users["org-admin"]
    r = srv.call("GET", f"/api/v1/orgs/{world.a.id}/compute", oa.token)
    assert r.status == 200, r
    r = srv.call("PUT", f"/api/v1/orgs/{world.a.id}/compute", oa.token, json={"default_partition": "restricted"},
                 headers={"If-Match": r.etag})
    assert r.status == 403, r
    jobs = srv.call("GET", f"/api/v1/projects/{project}/jobs", member.token).json["items"]
    assert not [j for j in jobs if j.get("account") in ("b_acct", "xorg-b") or j["partition"] == "restricted"]
    after = {j["job_id"] for j in slurm_cluster.squeue_json()}
    new = [slurm_cluster.job(i) for i in after - before]
    assert not [j for j in new if j and j["account"] in ("b_acct", "xorg-b")], new
    # Org B may use its own partition and account.
    ob = world.b.users["member"]
    j = submit(srv, ob, world.b.org_project["id"], partition="restricted", account="b_acct", command=["true"])
    done = wait_state(srv, ob, j["id"], TERMINAL)
    assert done["state"] == "COMPLETED", done
    assert slurm_cluster.job(done["slurm"]["job_id"])["account"] == "b_acct"


def test_another_tenants_job_names_never_hold_back_a_singleton(hostile, slurm_cluster):
    """Every Atrium job is submit_user's in SLURM, whose `singleton` compares names per user: B's
    running job named like A's must not keep A's singleton job waiting (as locally: per user)."""
    srv, world = hostile
    a, b = world.a.users["member"], world.b.users["member"]
    blocker = submit(srv, b, world.b.org_project["id"], name="nightly", command=["sleep", "60"])
    wait_state(srv, b, blocker["id"], {"RUNNING"})
    j = submit(srv, a, world.a.org_project["id"], name="nightly", dependency="singleton", command=["true"])
    try:
        done = wait_state(srv, a, j["id"], TERMINAL, timeout=30)
        assert done["state"] == "COMPLETED", done
    finally:
        srv.call("POST", f"/api/v1/jobs/{blocker['id']}/cancel", b.token)
    sj = slurm_cluster.job(done["slurm"]["job_id"])
    assert sj["name"] == f"{a.id}/nightly", sj


class RestSwitch:
    """A TCP forwarder to slurmrestd that the test cuts and restores: while cut, every connection is
    closed at once (Atrium sees slurmrestd unreachable) while SLURM's own clients keep working."""

    def __init__(self, target: str):
        host, port = target.removeprefix("http://").split(":")
        self.target = (host, int(port))
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        self.up = True
        self.conns: list[socket.socket] = []
        self.lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            if not self.up:
                c.close()
                continue
            try:
                s = socket.create_connection(self.target)
            except OSError:
                c.close()
                continue
            with self.lock:
                self.conns += [c, s]
            threading.Thread(target=self._pipe, args=(c, s), daemon=True).start()
            threading.Thread(target=self._pipe, args=(s, c), daemon=True).start()

    @staticmethod
    def _pipe(a: socket.socket, b: socket.socket):
        try:
            while data := a.recv(65536):
                b.sendall(data)
        except OSError:
            pass
        for x in (a, b):
            try:
                x.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def set(self, up: bool):
        self.up = up
        if not up:
            with self.lock:
                for c in self.conns:
                    try:
                        c.shutdown(socket.SHUT_RDWR)
                    except OSError:
                        pass
                    c.close()
                self.conns.clear()

    def close(self):
        self.set(False)
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.sock.close()


def submit_as(c, user: str, comment: str) -> int:
    """A held job of SLURM user `user` with `comment`, through slurmrestd with that user's JWT."""
    body = {"script": "#!/bin/sh\nsleep 300\n",
            "job": {"name": "impostor", "comment": comment, "hold": True, "current_working_directory": "/tmp",
                    "standard_output": "/dev/null", "environment": {"PATH": "/usr/bin:/bin"}}}
    req = urllib.request.Request(c.rest_url + "/slurm/v0.0.38/job/submit", data=json.dumps(body).encode(),
                                 method="POST", headers={"Content-Type": "application/json",
                                                         "X-SLURM-USER-NAME": user,
                                                         "X-SLURM-USER-TOKEN": c.jwt(user)})
    with urllib.request.urlopen(req, timeout=30) as r:
        return int(json.loads(r.read())["job_id"])


def test_a_cluster_user_cannot_make_atrium_adopt_a_job_with_its_comment(slurm_cluster, tmp_path):
    """slurmrestd's answer to a submission is lost (the row stays `submitting`); meanwhile a SLURM
    user of the cluster submits a job of his own with the comment `atrium:<that job's id>`. When
    slurmrestd answers again, Atrium looks the comment up before submitting again: it must adopt
    only a job of its own submit_user, so it submits its own and leaves the impostor alone."""
    c = slurm_cluster
    switch = RestSwitch(c.rest_url)
    text = c.toml_with(poll_ms=200).replace(f'"{c.rest_url}"', f'"{switch.url}"')
    srv = slurm_server(c, tmp_path / "data", with_cluster=False, extra_toml=text)
    impostor = None
    try:
        world = World(srv, srv.admin_token(), prefix="y")
        member = world.a.users["member"]
        switch.set(False)
        j = submit(srv, member, world.a.org_project["id"], command=["sh", "-c", "echo mine"])
        token_of(srv, j["id"])  # the hand-over prepared the run and tried: the row is `submitting`
        impostor = submit_as(c, "nobody", f"atrium:{j['id']}")
        assert c.job(impostor)["user_name"] != "root"
        switch.set(True)
        done = wait_state(srv, member, j["id"], TERMINAL, timeout=90)
        assert done["slurm"]["job_id"] != impostor, done
        assert done["state"] == "COMPLETED", done
        logs = srv.call("GET", f"/api/v1/jobs/{j['id']}/logs?stream=stdout&offset=0", member.token)
        assert logs.body == b"mine\n", logs
        assert c.job(impostor)["job_state"] == "PENDING"  # not Atrium's: neither adopted nor cancelled
    finally:
        if impostor:
            c.run("scancel", str(impostor), check=False)
        srv.stop(30)
        switch.close()


def test_a_node_exposes_the_gpus_slurm_allocated_never_gpu_0_of_another_job(tmp_path):
    """A remote spec says only how many GPUs (0..n-1); the batch script passes SLURM's allocation
    ($SLURM_JOB_GPUS) as `atrium exec --gpus`, which replaces the indices: as many, never more."""
    ws = tmp_path / "ws"
    ws.mkdir()

    def run(spec: dict, gpus: str) -> subprocess.CompletedProcess:
        f = tmp_path / "spec.json"
        f.write_text(json.dumps({"id": "g", "argv": ["/bin/true"], "workspace": str(ws), **spec}))
        return subprocess.run([ATRIUM_BIN, "exec", "--spec", str(f), "--gpus", gpus], capture_output=True,
                              text=True, timeout=30, stdin=subprocess.DEVNULL)

    r = run({"gpus": [0]}, "1,2")
    assert r.returncode == 125 and "names 2 GPU(s), the job has 1" in r.stderr, r
    r = run({"gpus": [0]}, "1,x")
    assert r.returncode == 2, r
    r = run({"gpus": [0]}, "203")  # replaced: the sandbox looks for SLURM's GPU, not GPU 0
    assert "/dev/nvidia203" in r.stdout, r
    if os.geteuid() == 0:
        r = run({}, "5")  # a job charged for no GPU gets none, whatever the node says
        assert r.returncode == 0 and json.loads(r.stdout)["exit_code"] == 0, r
