"""Batch jobs against a real server: submit, run in the sandbox, logs, limits, control actions,
arrays, dependencies, quotas, validation, tenant isolation, RBAC, idempotency, restart safety.

Every wait polls the API against a deadline (wait_state); sleeps happen only inside jobs.
"""
from __future__ import annotations

import http.client
import itertools
import json
import os
import signal
import time
import uuid
from pathlib import Path

import pytest

from conftest import (USER_PASSWORD, Server, World, add_member, create_user, is_problem, list_all, new_key,
                      wait_until)

# A small, fast node: 4 schedulable CPUs, 4 GiB, no GPUs, 1 s between SIGTERM and SIGKILL.
COMPUTE_ENV = {
    "ATRIUM_COMPUTE_CPUS": "4",
    "ATRIUM_COMPUTE_MEM_MB": "4096",
    "ATRIUM_COMPUTE_GPUS": "0",
    "ATRIUM_COMPUTE_KILL_GRACE_S": "1",
    # Not an ATRIUM_ variable: jobs must never see the server's environment.
    "HOST_LEAK_MARKER": "host-env-must-not-leak-7f3a",
}
TERMINAL = {"COMPLETED", "FAILED", "CANCELLED", "TIMEOUT", "OUT_OF_MEMORY", "NODE_FAIL"}
_seq = itertools.count(1)


def uniq(prefix: str) -> str:
    return f"{prefix}-{next(_seq)}"


def marker() -> str:
    """A unique `sleep` argument: finds the job's process on the host (sleep 300.<digits>)."""
    return f"300.{uuid.uuid4().int % 10**9:09d}"


def processes_with(text: str) -> list[int]:
    """Live (non-zombie) host processes whose command line contains text."""
    found = []
    for d in Path("/proc").glob("[0-9]*"):
        try:
            cmd = (d / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            state = (d / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except (OSError, IndexError):
            continue
        if text in cmd and state != "Z" and int(d.name) != os.getpid():
            found.append(int(d.name))
    return found


# ---------------------------------------------------------------------------- helpers


class Jobs:
    """A user's view of one project's jobs."""

    def __init__(self, srv: Server, token: str, project_id: str):
        self.srv = srv
        self.token = token
        self.project_id = project_id

    def post(self, body: dict, **kw):
        return self.srv.call("POST", f"/api/v1/projects/{self.project_id}/jobs", self.token, json=body, **kw)

    def submit(self, **body) -> dict:
        body.setdefault("time_limit_s", 120)
        body.setdefault("mem_mb", 256)
        r = self.post(body)
        assert r.status == 201, r
        return r.json

    def get(self, job_id: str) -> dict:
        r = self.srv.call("GET", f"/api/v1/jobs/{job_id}", self.token)
        assert r.status == 200, r
        return r.json

    def act(self, job_id: str, verb: str, token: str | None = None):
        return self.srv.call("POST", f"/api/v1/jobs/{job_id}/{verb}", token or self.token)

    def wait_state(self, job_id: str, states, timeout: float = 30) -> dict:
        states = {states} if isinstance(states, str) else set(states)
        last: dict = {}

        def check():
            nonlocal last
            last = self.get(job_id)
            captured = (last.get("outputs") or {}).get("capture") != "pending"  # captured by a task after the end
            return last if last["state"] in states and captured else None

        try:
            return wait_until(check, timeout, interval=0.05, what=f"job {job_id} in {sorted(states)}")
        except AssertionError as e:
            raise AssertionError(f"{e}; last seen: {json.dumps(last)[:3000]}\n{self.srv.output()[-3000:]}") from None

    def logs(self, job_id: str, stream: str = "stdout", offset: int | None = 0, limit: int | None = None,
             token: str | None = None):
        q = f"stream={stream}" + (f"&offset={offset}" if offset is not None else "") + (
            f"&limit={limit}" if limit is not None else "")
        return self.srv.call("GET", f"/api/v1/jobs/{job_id}/logs?{q}", token or self.token)

    def full_log(self, job_id: str, stream: str = "stdout") -> str:
        out, offset = b"", 0
        for _ in range(1000):
            r = self.logs(job_id, stream, offset)
            assert r.status == 200, r
            out += r.body
            offset = int(r.headers["x-next-offset"])
            if offset >= int(r.headers["x-log-size"]):
                return out.decode(errors="replace")
        raise AssertionError("log did not end")

    def run(self, timeout: float = 30, **body) -> dict:
        """Submits and waits for the end."""
        j = self.submit(**body)
        return self.wait_state(j["id"], TERMINAL, timeout)

    def project_jobs(self, token: str | None = None) -> list[dict]:
        return list_all(self.srv, f"/api/v1/projects/{self.project_id}/jobs", token or self.token)


class Env:
    """The module's server: World (orgs A and B) plus, in A's private project, a colleague
    (project member) and a maintainer beside the org-admin (owner), member and viewer."""

    def __init__(self, srv: Server):
        self.srv = srv
        self.admin = srv.admin
        self.world = World(srv, self.admin, prefix="j")
        a = self.world.a
        self.owner = a.users["org-admin"]
        self.member = a.users["member"]
        self.viewer = a.users["viewer"]
        self.project = a.project
        extra = {}
        for name in ("colleague", "maint", "quota"):
            u = create_user(srv, self.admin, f"j-a-{name}")
            add_member(srv, self.admin, a.id, u["id"], "member")
            extra[name] = (u, srv.login_token(f"j-a-{name}", USER_PASSWORD))
        self.colleague_id, self.colleague = extra["colleague"][0]["id"], extra["colleague"][1]
        self.maint_id, self.maint = extra["maint"][0]["id"], extra["maint"][1]
        self.quota_id, self.quota_token = extra["quota"][0]["id"], extra["quota"][1]
        for uid, role in ((self.member.id, "member"), (self.viewer.id, "viewer"), (self.colleague_id, "member"),
                          (self.maint_id, "maintainer"), (self.quota_id, "member")):
            r = srv.call("POST", f"/api/v1/projects/{self.project['id']}/members", self.owner.token,
                         json={"user_id": uid, "role": role})
            assert r.status == 201, r
        b = self.world.b
        self.b_admin = b.users["org-admin"]
        self.b_project = b.project

    def jobs(self, token: str) -> Jobs:
        return Jobs(self.srv, token, self.project["id"])

    def active_jobs(self) -> list[dict]:
        out = []
        for org in self.world.orgs.values():
            out += list_all(self.srv, f"/api/v1/jobs?org={org.id}&state=PENDING,RUNNING", self.admin)
        return out


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    srv = Server(tmp_path_factory.mktemp("jobs"), env=COMPUTE_ENV).start()
    e = None
    try:
        srv.admin = srv.admin_token()
        e = Env(srv)
        yield e
    finally:
        if srv.running():
            if e is not None:  # leave no job behind
                for j in e.active_jobs():
                    srv.call("POST", f"/api/v1/jobs/{j['id']}/cancel", srv.admin)
                try:
                    wait_until(lambda: not e.active_jobs(), 30, interval=0.05, what="the last jobs to end")
                except AssertionError:
                    pass
            try:
                srv.stop(30)
            except AssertionError:
                srv.kill9()


@pytest.fixture(autouse=True)
def no_leftover_jobs(request):
    """After each test that used the module server: cancel whatever is still pending or running and
    wait until it has ended, so tests never share CPUs or queue positions."""
    yield
    if "env" not in request.fixturenames:
        return
    e: Env = request.getfixturevalue("env")
    if not e.srv.running():
        return
    for j in e.active_jobs():
        e.srv.call("POST", f"/api/v1/jobs/{j['id']}/cancel", e.admin)
    wait_until(lambda: not e.active_jobs(), 30, interval=0.05, what="every job of the test to end")


def sandbox_caps(e: Env) -> dict:
    r = e.srv.call("GET", "/api/v1/compute", e.member.token)
    assert r.status == 200, r
    return r.json["sandbox"]


# ---------------------------------------------------------------------------- the node


def test_compute_endpoint(env):
    r = env.srv.call("GET", "/api/v1/compute", env.member.token)
    assert r.status == 200, r
    assert r.json["resources"] == {"cpus": 4, "mem_mb": 4096, "gpus": 0}
    assert set(r.json["allocated"]) == {"cpus", "mem_mb", "gpus"}
    assert set(r.json["jobs"]) == {"pending", "running"}
    assert isinstance(r.json["sandbox"], dict) and "cgroup_mode" in r.json["sandbox"]
    assert is_problem(env.srv.call("GET", "/api/v1/compute"), 401)


# ---------------------------------------------------------------------------- running and logs


def test_command_completes_with_stdout_and_stderr(env):
    js = env.jobs(env.member.token)
    j = js.submit(command=["sh", "-c", "echo out-line; echo err-line >&2"])
    assert j["state"] == "PENDING" and j["id"].startswith("job_") and j["name"] == "sh"
    assert j["command"] == ["sh", "-c", "echo out-line; echo err-line >&2"]
    assert j["user_id"] == env.member.id and j["project_id"] == env.project["id"]
    done = js.wait_state(j["id"], TERMINAL)
    assert done["state"] == "COMPLETED" and done["exit_code"] == 0, done
    assert done["start_time"] and done["end_time"] and done["reason"] is None
    assert done["usage"]["wall_seconds"] >= 0
    assert js.full_log(j["id"]) == "out-line\n"
    assert js.full_log(j["id"], "stderr") == "err-line\n"


def test_script_logs_resume_from_an_offset(env):
    js = env.jobs(env.member.token)
    script = "#!/bin/sh\nfor i in 1 2 3 4 5; do echo line$i; done\n"
    done = js.run(script=script)
    assert done["state"] == "COMPLETED" and done["exit_code"] == 0, done
    assert done["name"] == "script" and done["script"] == script and "command" not in done
    full = "".join(f"line{i}\n" for i in range(1, 6))
    r = js.logs(done["id"])
    assert r.status == 200 and r.body.decode() == full, r
    assert r.headers["x-offset"] == "0" and r.headers["x-next-offset"] == str(len(full))
    assert r.headers["x-log-size"] == str(len(full)) and r.headers["x-log-complete"] == "true"
    assert r.headers["x-job-state"] == "COMPLETED"
    # A partial read, then resume where it said.
    first = js.logs(done["id"], limit=8)
    assert first.body.decode() == full[:8] and first.headers["x-next-offset"] == "8"
    assert first.headers["x-log-complete"] == "false"  # more to read, though the job has ended
    rest = js.logs(done["id"], offset=int(first.headers["x-next-offset"]))
    assert rest.body.decode() == full[8:] and rest.headers["x-log-complete"] == "true"
    # Past the end: nothing, and the offset is clamped to the size.
    past = js.logs(done["id"], offset=10_000)
    assert past.status == 200 and past.body == b"" and past.headers["x-next-offset"] == str(len(full))
    assert js.logs(done["id"], "stderr").body == b""
    assert is_problem(js.logs(done["id"], "stdin"), 400)
    assert is_problem(js.logs(done["id"], offset=-1), 400)
    assert is_problem(js.logs(done["id"], limit=0), 400)


def test_logs_of_a_running_job_are_not_complete(env):
    js = env.jobs(env.member.token)
    j = js.submit(command=["sh", "-c", "echo started; exec sleep 30"])
    js.wait_state(j["id"], "RUNNING")
    r = wait_until(lambda: (lambda x: x if x.body == b"started\n" else None)(js.logs(j["id"])), 15,
                   interval=0.05, what="first output")
    assert r.headers["x-log-complete"] == "false" and r.headers["x-job-state"] == "RUNNING"
    assert js.act(j["id"], "cancel").status == 200
    js.wait_state(j["id"], "CANCELLED")
    r = js.logs(j["id"], offset=int(r.headers["x-next-offset"]))
    assert r.body == b"" and r.headers["x-log-complete"] == "true"


def test_nonzero_exit_fails_with_its_code(env):
    js = env.jobs(env.member.token)
    done = js.run(command=["sh", "-c", "echo bye; exit 3"])
    assert done["state"] == "FAILED" and done["exit_code"] == 3, done
    ev = js.get(done["id"])["events"]
    assert ev[-1]["to"] == "FAILED" and ev[-1]["exit_code"] == 3 and "3" in ev[-1]["cause"], ev


def test_time_limit_ends_in_timeout(env):
    js = env.jobs(env.member.token)
    t0 = time.monotonic()
    done = js.run(command=["sleep", "30"], time_limit_s=1)
    assert done["state"] == "TIMEOUT", done
    assert time.monotonic() - t0 < 25
    assert js.get(done["id"])["events"][-1]["cause"], done


def test_memory_limit_ends_in_out_of_memory(env):
    js = env.jobs(env.member.token)
    caps = sandbox_caps(env)
    done = js.run(command=["python3", "-c", "x = b'\\x01' * (512 << 20); print('allocated', len(x))"], mem_mb=64)
    if caps["cgroup_mode"] != "none":
        assert done["state"] == "OUT_OF_MEMORY", (done, caps)
        assert done["enforced"]["memory"].startswith("cgroup"), done
        assert 0 < done["usage"]["peak_mem_mb"] <= 64, done
    else:
        # rlimit only: the allocation fails inside the job; that is a failure, not an OOM kill.
        assert done["state"] == "FAILED" and "MemoryError" in js.full_log(done["id"], "stderr"), done
    assert "allocated" not in js.full_log(done["id"])


# ---------------------------------------------------------------------------- control actions


def test_cancel_pending_and_running(env):
    js = env.jobs(env.member.token)
    held = js.submit(command=["true"], hold=True)
    assert held["state"] == "PENDING" and held["reason"] == "Held" and held["held"] is True
    r = js.act(held["id"], "cancel")
    assert r.status == 200 and r.json["state"] == "CANCELLED", r
    assert js.get(held["id"])["state"] == "CANCELLED"

    m = marker()
    run = js.submit(command=["sleep", m])
    js.wait_state(run["id"], "RUNNING")
    wait_until(lambda: processes_with(f"sleep {m}"), 15, interval=0.05, what="the job's process")
    r = js.act(run["id"], "cancel")
    assert r.status == 200 and r.json["stop_requested"] == "cancel", r
    done = js.wait_state(run["id"], "CANCELLED")
    assert done["end_time"], done
    wait_until(lambda: not processes_with(f"sleep {m}"), 10, interval=0.05, what="the job's process to be gone")
    # Cancelling what has ended is refused, and changes nothing.
    assert is_problem(js.act(run["id"], "cancel"), 409)
    assert js.get(run["id"])["state"] == "CANCELLED"


def test_hold_and_release(env):
    js = env.jobs(env.member.token)
    j = js.submit(command=["sh", "-c", "echo released"], hold=True)
    assert is_problem(js.act(j["id"], "hold"), 409)  # already held
    got = js.get(j["id"])
    assert got["state"] == "PENDING" and got["reason"] == "Held" and got["reason_detail"], got
    r = js.act(j["id"], "release")
    assert r.status == 200 and r.json["held"] is False, r
    done = js.wait_state(j["id"], TERMINAL)
    assert done["state"] == "COMPLETED" and js.full_log(j["id"]) == "released\n", done
    assert is_problem(js.act(j["id"], "release"), 409)
    assert is_problem(js.act(j["id"], "hold"), 409)
    # A free pending job can be held, then released.
    k = js.submit(command=["true"], begin_time="2099-01-01T00:00:00Z")
    assert is_problem(js.act(k["id"], "release"), 409)
    assert js.act(k["id"], "hold").json["reason"] == "Held"
    assert js.act(k["id"], "release").status == 200


def test_requeue_a_finished_job_runs_it_again(env):
    js = env.jobs(env.member.token)
    done = js.run(command=["sh", "-c", "echo run-$ATRIUM_JOB_ID"])
    assert done["state"] == "COMPLETED" and done["requeue_count"] == 0
    r = js.act(done["id"], "requeue")
    assert r.status == 200, r
    assert r.json["state"] == "PENDING" and r.json["requeue_count"] == 1, r
    assert r.json["exit_code"] is None and r.json["start_time"] is None and r.json["end_time"] is None
    again = js.wait_state(done["id"], TERMINAL)
    assert again["state"] == "COMPLETED" and again["requeue_count"] == 1, again
    assert js.full_log(done["id"]) == f"run-{done['id']}\n"
    to_states = [e["to"] for e in js.get(done["id"])["events"]]
    assert to_states == ["PENDING", "RUNNING", "COMPLETED", "PENDING", "RUNNING", "COMPLETED"], to_states
    pending = js.submit(command=["true"], hold=True)
    assert is_problem(js.act(pending["id"], "requeue"), 409)


# ---------------------------------------------------------------------------- arrays


def test_array_tasks_see_their_index(env):
    js = env.jobs(env.member.token)
    r = js.post({"command": ["sh", "-c", "echo slurm=$SLURM_ARRAY_TASK_ID atrium=$ATRIUM_ARRAY_TASK_ID"],
                 "array": "0-3%2", "mem_mb": 128, "time_limit_s": 60})
    assert r.status == 201, r
    a = r.json
    assert a["tasks"] == 4 and len(a["job_ids"]) == 4 and a["array_id"].startswith("job_")
    assert a["job_ids"] == [f"{a['array_id']}_{i}" for i in range(4)]
    for i, tid in enumerate(a["job_ids"]):
        t = js.wait_state(tid, TERMINAL)
        assert t["state"] == "COMPLETED", t
        assert t["array"]["array_id"] == a["array_id"] and t["array"]["index"] == i
        assert t["array"]["max_concurrent"] == 2
        assert js.full_log(tid) == f"slurm={i} atrium={i}\n"
    listed = list_all(env.srv, f"/api/v1/jobs?array={a['array_id']}", env.member.token)
    assert sorted(j["id"] for j in listed) == sorted(a["job_ids"])


def test_array_task_limit_and_cancel_by_array_id(env):
    js = env.jobs(env.member.token)
    m = marker()
    r = js.post({"command": ["sleep", m], "array": "0-3%2", "mem_mb": 128, "time_limit_s": 120})
    assert r.status == 201, r
    a = r.json

    def two_running_one_limited():
        tasks = list_all(env.srv, f"/api/v1/projects/{env.project['id']}/jobs?array={a['array_id']}", env.member.token)
        running = [t for t in tasks if t["state"] == "RUNNING"]
        assert len(running) <= 2, tasks  # never more than %2
        limited = [t for t in tasks if t["state"] == "PENDING" and t["reason"] == "JobArrayTaskLimit"]
        return len(running) == 2 and len(limited) == 2

    wait_until(two_running_one_limited, 30, interval=0.05, what="2 running tasks, 2 waiting on JobArrayTaskLimit")
    # Both running tasks' processes exist (so the cancel below cannot race their start; see
    # test_cancel_right_after_the_start_is_cancelled for that race).
    wait_until(lambda: len(processes_with(f"sleep {m}")) == 2, 15, interval=0.05, what="2 task processes")
    r = js.act(a["array_id"], "cancel")
    assert r.status == 200 and r.json["array_id"] == a["array_id"] and len(r.json["items"]) == 4, r
    for tid in a["job_ids"]:
        assert js.wait_state(tid, TERMINAL)["state"] == "CANCELLED"
    wait_until(lambda: not processes_with(f"sleep {m}"), 10, interval=0.05, what="the tasks' processes to end")


def test_cancel_right_after_the_start_is_cancelled(env):
    """A cancel that arrives while the job's supervisor is still starting must still end the job
    CANCELLED (its stop request is on record), never NODE_FAIL."""
    js = env.jobs(env.member.token)
    for attempt in range(5):
        j = js.submit(command=["sleep", "30"])
        js.wait_state(j["id"], "RUNNING", timeout=30)
        assert js.act(j["id"], "cancel").status == 200
        done = js.wait_state(j["id"], TERMINAL)
        assert done["state"] == "CANCELLED", (
            f"BUG (src/jobs/service.cpp, Service::launch): attempt {attempt}: a job cancelled just after "
            f"its start ended {done['state']} ({js.get(j['id'])['events'][-1]['cause']!r}). launch() spawns "
            "`atrium exec` with an empty signal mask and default dispositions, and watch()/signal_stop() "
            "SIGTERM it at once for a pending stop mark; the SIGTERM kills the supervisor before "
            "exec_command.cpp blocks SIGTERM/SIGINT/SIGHUP, so there is no outcome.json and end_job() "
            "reports NODE_FAIL. Fix: spawn it with those three signals blocked "
            "(sigaddset them to the posix_spawnattr_setsigmask set); run() then reads the pending "
            "SIGTERM from its signalfd and the job ends cancelled.")


# ---------------------------------------------------------------------------- dependencies


def test_afterok_on_a_completed_job_runs(env):
    js = env.jobs(env.member.token)
    first = js.run(command=["true"])
    assert first["state"] == "COMPLETED"
    then = js.submit(command=["sh", "-c", "echo after"], dependency=f"afterok:{first['id']}")
    assert then["dependency"] == f"afterok:{first['id']}"
    done = js.wait_state(then["id"], TERMINAL)
    assert done["state"] == "COMPLETED" and js.full_log(then["id"]) == "after\n", done


def test_afterok_on_a_failed_job_is_cancelled(env):
    js = env.jobs(env.member.token)
    first = js.submit(command=["sh", "-c", "exit 1"], hold=True)
    then = js.submit(command=["true"], dependency=f"afterok:{first['id']}")
    waiting = js.get(then["id"])
    assert waiting["state"] == "PENDING"
    wait_until(lambda: js.get(then["id"])["reason"] == "Dependency", 15, interval=0.05, what="reason Dependency")
    assert js.act(first["id"], "release").status == 200
    assert js.wait_state(first["id"], TERMINAL)["state"] == "FAILED"
    done = js.wait_state(then["id"], TERMINAL)
    assert done["state"] == "CANCELLED" and done["start_time"] is None, done
    ev = js.get(then["id"])["events"][-1]
    assert ev["to"] == "CANCELLED" and ev["reason"] == "DependencyNeverSatisfied", ev
    # Asked for now, the same dependency is refused up front; nothing is stored.
    before = len(js.project_jobs())
    r = js.post({"command": ["true"], "dependency": f"afterok:{first['id']}"})
    assert is_problem(r, 400, "invalid-dependency")
    assert len(js.project_jobs()) == before


def test_singleton_waits_for_the_running_namesake(env):
    js = env.jobs(env.member.token)
    name = uniq("solo")
    one = js.submit(command=["sleep", "30"], name=name)
    js.wait_state(one["id"], "RUNNING")
    two = js.submit(command=["true"], name=name, dependency="singleton")
    wait_until(lambda: js.get(two["id"])["reason"] == "Dependency", 15, interval=0.05, what="singleton to wait")
    assert js.get(two["id"])["state"] == "PENDING"
    assert js.act(one["id"], "cancel").status == 200
    assert js.wait_state(two["id"], TERMINAL)["state"] == "COMPLETED"


def test_events_record_every_transition_with_a_cause(env):
    js = env.jobs(env.member.token)
    j = js.submit(command=["true"], hold=True)
    assert js.act(j["id"], "release").status == 200
    js.wait_state(j["id"], TERMINAL)
    ev = js.get(j["id"])["events"]
    assert [(e["from"], e["to"], e["event"]) for e in ev] == [
        (None, "PENDING", "submit"), ("PENDING", "PENDING", "hold"), ("PENDING", "PENDING", "release"),
        ("PENDING", "RUNNING", "start"), ("RUNNING", "COMPLETED", "complete")], ev
    assert [e["seq"] for e in ev] == [1, 2, 3, 4, 5]
    assert all(e["cause"] and e["at"].endswith("Z") for e in ev), ev
    assert env.member.username in ev[2]["cause"], ev  # "released by <user>"
    assert ev[-1]["exit_code"] == 0
    times = [e["at"] for e in ev]
    assert times == sorted(times)


# ---------------------------------------------------------------------------- environment and identity


def test_job_environment(env):
    js = env.jobs(env.member.token)
    done = js.run(command=["env"], env={"MY_VAR": "hello world", "EMPTY": ""})
    assert done["state"] == "COMPLETED", done
    assert done["env"] == {"MY_VAR": "hello world", "EMPTY": ""}
    lines = set(js.full_log(done["id"]).splitlines())
    assert f"ATRIUM_JOB_ID={done['id']}" in lines and f"SLURM_JOB_ID={done['id']}" in lines
    assert f"ATRIUM_PROJECT_ID={env.project['id']}" in lines
    assert "MY_VAR=hello world" in lines and "EMPTY=" in lines
    text = "\n".join(lines)
    assert "HOST_LEAK_MARKER" not in text and "host-env-must-not-leak" not in text, text
    assert "ATRIUM_ADMIN_PASSWORD" not in text and "admin-password-for-tests" not in text, text
    assert "ATRIUM_SERVER_" not in text


def test_jobs_run_as_a_non_root_uid_per_user(env):
    mine = env.jobs(env.member.token)
    theirs = env.jobs(env.colleague)
    a = mine.run(command=["id", "-u"])
    b = theirs.run(command=["id", "-u"])
    c = mine.run(command=["id", "-u"])
    ua, ub, uc = (int(j.full_log(x["id"]).strip()) for j, x in ((mine, a), (theirs, b), (mine, c)))
    assert 0 not in (ua, ub) and ua != ub and ua == uc, (ua, ub, uc)
    assert a["enforced"]["uid"] == "per-user", a


# ---------------------------------------------------------------------------- quotas


def test_concurrent_jobs_quota_keeps_the_second_job_pending(env):
    a = env.world.a
    qpath = f"/api/v1/orgs/{a.id}/quotas/user/{env.quota_id}"
    r = env.srv.call("PUT", qpath, env.owner.token, json={"concurrent_jobs": 1}, if_match="*")
    assert r.status == 200, r
    try:
        js = env.jobs(env.quota_token)
        first = js.submit(command=["sleep", "30"])
        js.wait_state(first["id"], "RUNNING")
        second = js.submit(command=["true"])
        got = wait_until(lambda: (lambda j: j if j["reason"] == "AssocMaxJobsLimit" else None)(js.get(second["id"])),
                         15, interval=0.05, what="reason AssocMaxJobsLimit")
        assert got["state"] == "PENDING" and got["reason_detail"], got
        assert js.act(first["id"], "cancel").status == 200
        assert js.wait_state(second["id"], TERMINAL)["state"] == "COMPLETED"
    finally:
        env.srv.call("PUT", qpath, env.owner.token, json={"concurrent_jobs": None}, if_match="*")


def test_cpu_hours_quota_refuses_at_submit_and_stores_nothing(env):
    a = env.world.a
    qpath = f"/api/v1/orgs/{a.id}/quotas/user/{env.quota_id}"
    js = env.jobs(env.quota_token)
    before = js.project_jobs()
    try:
        r = env.srv.call("PUT", qpath, env.owner.token, json={"cpu_hours": 1}, if_match="*")
        assert r.status == 200, r
        # The job alone needs 2 CPUs x 2 h = 4 CPU-hours.
        r = js.post({"command": ["true"], "cpus": 2, "time_limit_s": 7200})
        assert is_problem(r) and (400 <= r.status < 500 or r.status == 507), r
        assert r.json.get("limit") == "max_cpu_hours" and r.json.get("max") == 1, r
        assert "CPU-hours" in r.json["detail"], r
        # Exhausted: nothing left at all.
        r = env.srv.call("PUT", qpath, env.owner.token, json={"cpu_hours": 0}, if_match="*")
        assert r.status == 200, r
        r = js.post({"command": ["true"], "time_limit_s": 1})
        assert is_problem(r) and (400 <= r.status < 500 or r.status == 507), r
        assert r.json.get("limit") == "max_cpu_hours", r
        assert [j["id"] for j in js.project_jobs()] == [j["id"] for j in before]
    finally:
        env.srv.call("PUT", qpath, env.owner.token, json={"cpu_hours": None}, if_match="*")
    # Lifted: the same job is accepted.
    ok = js.post({"command": ["true"], "time_limit_s": 1})
    assert ok.status == 201, ok


# ---------------------------------------------------------------------------- validation


BAD_SPECS = [
    ({"command": ["true"], "cpus": -1}, "cpus"),
    ({"command": ["true"], "cpus": 0}, "cpus"),
    ({"command": ["true"], "cpus": 10 ** 9}, "cpus"),
    ({"command": ["true"], "cpus": 64}, None),  # larger than the node (4)
    ({"command": ["true"], "cpus": "2"}, "cpus"),
    ({"command": ["true"], "mem_mb": 0}, "mem_mb"),
    ({"command": ["true"], "mem_mb": 10 ** 6}, None),  # larger than the node (4096)
    ({"command": ["true"], "gpus": 1}, None),  # the node has none
    ({"command": ["true"], "gpus": -1}, "gpus"),
    ({"command": ["true"], "time_limit_s": 0}, "time_limit_s"),
    ({"command": ["true"], "time_limit_s": 10 ** 12}, "time_limit_s"),
    ({"command": ["true"], "array": "0-"}, None),
    ({"command": ["true"], "array": "5-1"}, None),
    ({"command": ["true"], "array": "0-3%0"}, None),
    ({"command": ["true"], "array": "x"}, None),
    ({"command": ["true"], "dependency": "afterok:"}, None),
    ({"command": ["true"], "dependency": "afterok:job_01AAAAAAAAAAAAAAAAAAAAAAAA"}, "dependency"),
    ({"command": ["true"], "dependency": "sometime:job_1"}, None),
    ({"command": ["true"], "bogus": 1}, None),
    ({"command": ["true"], "script": "echo"}, "command"),
    ({}, "command"),
    ({"name": "nothing to run"}, "command"),
    ({"command": []}, "command"),
    ({"command": [""]}, "command"),
    ({"command": "true"}, "command"),
    ({"script": ""}, "script"),
    ({"command": ["true"], "env": {"1BAD": "x"}}, "env"),
    ({"command": ["true"], "env": {"A-B": "x"}}, "env"),
    ({"command": ["true"], "env": {"": "x"}}, "env"),
    ({"command": ["true"], "env": {"A": 1}}, "env"),
    ({"command": ["true"], "env": ["A=1"]}, "env"),
    ({"command": ["true"], "begin_time": "tomorrow"}, "begin_time"),
    ({"command": ["true"], "hold": "yes"}, "hold"),
    ({"command": ["true"], "qos": "platinum"}, None),
    ({"command": ["true"], "name": "x" * 200}, "name"),
]


@pytest.mark.parametrize("body,field", BAD_SPECS, ids=[json.dumps(b)[:60] for b, _ in BAD_SPECS])
def test_bad_specs_are_refused_and_nothing_is_stored(env, body, field):
    js = env.jobs(env.member.token)
    before = [j["id"] for j in js.project_jobs(env.owner.token)]
    r = js.post(body)
    assert is_problem(r, 400), r
    if field is not None:
        assert r.json.get("field") == field, r
    assert [j["id"] for j in js.project_jobs(env.owner.token)] == before


def test_foreign_dependency_looks_unknown(env):
    b_job = Jobs(env.srv, env.b_admin.token, env.b_project["id"]).submit(command=["true"], hold=True)
    js = env.jobs(env.member.token)
    unknown = js.post({"command": ["true"], "dependency": "afterok:job_01AAAAAAAAAAAAAAAAAAAAAAAA"})
    foreign = js.post({"command": ["true"], "dependency": f"afterok:{b_job['id']}"})
    assert is_problem(unknown, 400) and is_problem(foreign, 400), (unknown, foreign)
    assert foreign.json["type"] == unknown.json["type"] and foreign.json.get("field") == unknown.json.get("field")
    assert foreign.json["detail"].replace(b_job["id"], "ID") == unknown.json["detail"].replace(
        "job_01AAAAAAAAAAAAAAAAAAAAAAAA", "ID")


def test_who_may_submit_where(env):
    js = env.jobs(env.member.token)
    assert is_problem(env.srv.call("POST", "/api/v1/projects/prj_01AAAAAAAAAAAAAAAAAAAAAAAA/jobs", env.member.token,
                                   json={"command": ["true"]}), 404)
    foreign = Jobs(env.srv, env.member.token, env.b_project["id"]).post({"command": ["true"]})
    assert is_problem(foreign, 404), foreign
    assert not [j for j in list_all(env.srv, f"/api/v1/jobs?org={env.world.b.id}", env.admin)
                if j["user_id"] == env.member.id]
    # A viewer may read the project's jobs but not submit.
    before = [j["id"] for j in js.project_jobs()]
    r = env.jobs(env.viewer.token).post({"command": ["true"]})
    assert is_problem(r, 403), r
    assert [j["id"] for j in js.project_jobs()] == before
    j = js.submit(command=["sh", "-c", "echo visible"], hold=True)
    vj = env.jobs(env.viewer.token)
    assert vj.get(j["id"])["id"] == j["id"]
    assert j["id"] in [x["id"] for x in vj.project_jobs()]
    assert vj.logs(j["id"]).status == 200
    assert is_problem(vj.act(j["id"], "cancel"), 403)
    assert is_problem(vj.act(j["id"], "release"), 403)
    # Negative nice is for administrators only.
    assert is_problem(js.post({"command": ["true"], "nice": -5}), 403)
    assert js.post({"command": ["true"], "nice": 5, "hold": True}).status == 201
    # Unauthenticated: nothing.
    assert is_problem(env.srv.call("POST", f"/api/v1/projects/{env.project['id']}/jobs", json={"command": ["true"]}),
                      401)


# ---------------------------------------------------------------------------- isolation and RBAC


def test_other_tenants_cannot_see_or_touch_a_job(env):
    js = env.jobs(env.member.token)
    j = js.run(command=["sh", "-c", "echo secret-output"])
    held = js.submit(command=["true"], hold=True)
    b = env.b_admin.token
    for jid in (j["id"], held["id"]):
        assert is_problem(env.srv.call("GET", f"/api/v1/jobs/{jid}", b), 404)
        assert is_problem(env.srv.call("GET", f"/api/v1/jobs/{jid}/logs", b), 404)
        for verb in ("cancel", "hold", "release", "requeue"):
            assert is_problem(env.srv.call("POST", f"/api/v1/jobs/{jid}/{verb}", b), 404)
    assert is_problem(env.srv.call("GET", f"/api/v1/projects/{env.project['id']}/jobs", b), 404)
    assert held["id"] not in [x["id"] for x in list_all(env.srv, "/api/v1/jobs", b)]
    r = env.srv.call("GET", f"/api/v1/jobs?org={env.world.a.id}", b)
    assert r.status in (403, 404) and is_problem(r), r
    # Bulk cancel by B touches only B's jobs.
    assert env.srv.call("POST", "/api/v1/jobs/cancel", b, json={}).status == 200
    assert js.get(held["id"])["state"] == "PENDING"
    assert "secret-output" not in env.srv.call("GET", f"/api/v1/jobs/{j['id']}/logs", b).text


class EventStream:
    """A GET /api/v1/jobs/events client: reads events until a condition holds."""

    def __init__(self, srv: Server, token: str, query: str = "", last_id: str | None = None):
        self.conn = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=30)
        headers = {"Authorization": f"Bearer {token}"}
        if last_id is not None:
            headers["Last-Event-ID"] = last_id
        self.conn.request("GET", f"/api/v1/jobs/events{query}", headers=headers)
        self.resp = self.conn.getresponse()
        self.buf = b""
        self.events: list[tuple[str, str, dict]] = []  # (id, event, data)

    def until(self, cond, timeout: float = 30) -> list[tuple[str, str, dict]]:
        deadline = time.monotonic() + timeout
        while not cond(self.events):
            assert time.monotonic() < deadline, f"events so far: {self.events}"
            chunk = self.resp.read1(65536)
            assert chunk, f"the stream ended; events: {self.events}"
            self.buf += chunk
            while b"\n\n" in self.buf:
                block, self.buf = self.buf.split(b"\n\n", 1)
                fields = dict(line.split(": ", 1) for line in block.decode().split("\n") if not line.startswith(":")
                              and ": " in line)
                if "data" in fields:
                    self.events.append((fields.get("id", ""), fields.get("event", ""), json.loads(fields["data"])))
        return self.events

    def states(self, job_id: str) -> list[str]:
        return [d["state"] for _, ev, d in self.events if ev == "job" and d["id"] == job_id]

    def close(self):
        self.conn.close()


def test_job_events_stream_state_changes_and_resume(env):
    js = env.jobs(env.member.token)
    s = EventStream(env.srv, env.member.token, f"?project={env.project['id']}")
    assert s.resp.status == 200 and s.resp.getheader("Content-Type") == "text/event-stream"
    ready = s.until(lambda evs: evs)[0]
    assert ready[1] == "ready" and int(ready[0]) == ready[2]["last_event_id"], ready
    held = js.submit(command=["sh", "-c", "echo streamed"], hold=True)
    s.until(lambda evs: "PENDING" in s.states(held["id"]))
    assert js.act(held["id"], "release").status == 200
    s.until(lambda evs: "COMPLETED" in s.states(held["id"]), 60)
    # Each event is the job as GET /jobs/{id} shows it, ids grow.
    last = [d for _, ev, d in s.events if ev == "job" and d["id"] == held["id"]][-1]
    assert last["events"][-1]["to"] == "COMPLETED" and "commit" in last and "datasets" in last, last
    ids = [int(i) for i, ev, _ in s.events if ev == "job"]
    assert ids == sorted(ids) and len(set(ids)) == len(ids), ids
    s.close()
    # Another tenant: the project is not found, and their own stream never shows A's jobs.
    assert is_problem(env.srv.call("GET", f"/api/v1/jobs/events?project={env.project['id']}", env.b_admin.token), 404)
    b = EventStream(env.srv, env.b_admin.token, "", last_id="0")
    b_job = env.srv.call("POST", f"/api/v1/projects/{env.b_project['id']}/jobs", env.b_admin.token,
                         json={"command": ["true"], "hold": True, "mem_mb": 64})
    assert b_job.status == 201, b_job
    b.until(lambda evs: any(ev == "job" and d["id"] == b_job.json["id"] for _, ev, d in evs))
    assert all(d["org_id"] == env.world.b.id for _, ev, d in b.events if ev == "job"), b.events
    b.close()
    # Last-Event-ID resumes after that change: the release and what followed, not the submit.
    first_id = next(i for i, ev, d in s.events if ev == "job" and d["id"] == held["id"])
    r = EventStream(env.srv, env.member.token, f"?project={env.project['id']}", last_id=first_id)
    got = r.until(lambda evs: any(ev == "job" and d["id"] == held["id"] for _, ev, d in evs))
    again = [d for _, ev, d in got if ev == "job" and d["id"] == held["id"]]
    assert again[0]["state"] == "COMPLETED" and int(got[1][0]) > int(first_id), got
    r.close()
    bad = env.srv.call("GET", "/api/v1/jobs/events", env.member.token, headers={"Last-Event-ID": "x"})
    assert is_problem(bad, 400) and bad.json.get("field") == "Last-Event-ID", bad


def test_outputs_name_the_dataset_version_they_made(env):
    js = env.jobs(env.member.token)
    j = js.submit(command=["sh", "-c", "echo r > result.txt"], outputs={"dataset": uniq("made"), "paths": ["*.txt"]})
    assert js.get(j["id"])["outputs"]["version"] is None
    done = js.wait_state(j["id"], TERMINAL)
    assert done["state"] == "COMPLETED" and done["outputs"]["version"] == 1, done
    v = env.srv.call("GET", f"/api/v1/datasets/{done['outputs']['dataset_id']}/versions/1", env.member.token)
    assert v.status == 200 and v.json["provenance"]["job_id"] == j["id"], v


def test_members_act_on_their_own_jobs_maintainers_on_all(env):
    mine = env.jobs(env.member.token)
    j1 = mine.submit(command=["true"], hold=True)
    colleague = env.jobs(env.colleague)
    for verb in ("cancel", "hold", "release", "requeue"):
        assert is_problem(colleague.act(j1["id"], verb), 403), verb
    assert colleague.get(j1["id"])["state"] == "PENDING"  # but may read it
    r = mine.act(j1["id"], "cancel")
    assert r.status == 200 and r.json["state"] == "CANCELLED", r
    j2 = colleague.submit(command=["true"], hold=True)
    r = env.jobs(env.maint).act(j2["id"], "cancel")
    assert r.status == 200 and r.json["state"] == "CANCELLED", r
    j3 = colleague.submit(command=["true"], hold=True)
    r = env.jobs(env.owner.token).act(j3["id"], "cancel")
    assert r.status == 200 and r.json["state"] == "CANCELLED", r
    # Bulk cancel is always "mine": the colleague's held job survives the member's --all.
    j4 = colleague.submit(command=["true"], hold=True)
    j5 = mine.submit(command=["true"], hold=True)
    r = env.srv.call("POST", "/api/v1/jobs/cancel", env.member.token, json={"project_id": env.project["id"]})
    assert r.status == 200 and j5["id"] in r.json["cancelled"] and j4["id"] not in r.json["cancelled"], r
    assert mine.get(j4["id"])["state"] == "PENDING"
    assert is_problem(env.srv.call("POST", "/api/v1/jobs/cancel", env.member.token, json={"state": "DONE"}), 400)


def test_idempotent_submit_stores_one_job(env):
    js = env.jobs(env.member.token)
    key = new_key()
    body = {"command": ["true"], "name": uniq("idem"), "hold": True}
    first = js.post(body, idem=key)
    assert first.status == 201 and first.headers.get("idempotent-replayed") is None, first
    again = js.post(body, idem=key)
    assert again.status == 201 and again.headers.get("idempotent-replayed") == "true", again
    assert again.json["id"] == first.json["id"]
    assert [j["id"] for j in js.project_jobs() if j["name"] == body["name"]] == [first.json["id"]]
    assert is_problem(js.post(dict(body, name=uniq("other")), idem=key), 422)


def test_my_jobs_list_and_filters(env):
    js = env.jobs(env.colleague)
    a = js.submit(command=["true"], hold=True)
    b = js.run(command=["true"])
    mine = list_all(env.srv, "/api/v1/jobs", env.colleague)
    assert {a["id"], b["id"]} <= {j["id"] for j in mine}
    assert all(j["user_id"] == env.colleague_id for j in mine)
    pend = list_all(env.srv, "/api/v1/jobs?state=pending", env.colleague)
    assert a["id"] in [j["id"] for j in pend] and b["id"] not in [j["id"] for j in pend]
    both = list_all(env.srv, "/api/v1/jobs?state=PENDING,COMPLETED", env.colleague)
    assert {a["id"], b["id"]} <= {j["id"] for j in both}
    assert is_problem(env.srv.call("GET", "/api/v1/jobs?state=DONE", env.colleague), 400)
    me = list_all(env.srv, f"/api/v1/projects/{env.project['id']}/jobs?user=me", env.colleague)
    assert me and all(j["user_id"] == env.colleague_id for j in me)
    page = env.srv.call("GET", "/api/v1/jobs?limit=1", env.colleague)
    assert page.status == 200 and len(page.json["items"]) == 1 and page.json["next"], page


# ---------------------------------------------------------------------------- restart safety


def _compute_server(make_server, data_dir=None):
    return make_server(env=COMPUTE_ENV, data_dir=data_dir)


def _admin_project(srv) -> Jobs:
    admin = srv.admin_token()
    org = srv.call("POST", "/api/v1/orgs", admin, json={"slug": "restart", "name": "Restart"})
    assert org.status == 201, org
    p = srv.call("POST", f"/api/v1/orgs/{org.json['id']}/projects", admin, json={"slug": "p", "name": "P"})
    assert p.status == 201, p
    return Jobs(srv, admin, p.json["id"])


def _kill_everything_of(m: str):
    for pid in processes_with(m):
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def test_kill_9_keeps_running_and_pending_jobs(make_server):
    srv = _compute_server(make_server)
    js = _admin_project(srv)
    m = marker()
    try:
        run = js.submit(command=["sleep", m], time_limit_s=600)
        held = js.submit(command=["true"], hold=True)
        js.wait_state(run["id"], "RUNNING")
        wait_until(lambda: processes_with(f"sleep {m}"), 15, interval=0.05, what="the job's process")
        srv.kill9()
        assert processes_with(f"sleep {m}"), "the job must outlive the server"
        srv.start()
        js.token = srv.admin_token()
        got = js.get(run["id"])
        events = got.get("events")
        assert got["state"] == "RUNNING", (
            "after kill -9 and a restart the running job must be re-adopted (its supervisor holds "
            f"<run>/lock): state {got['state']}, events {events}, its processes {processes_with(f'sleep {m}')}")
        assert processes_with(f"sleep {m}")
        h = js.get(held["id"])
        assert h["state"] == "PENDING" and h["reason"] == "Held", h
        r = js.act(run["id"], "cancel")
        assert r.status == 200, r
        assert js.wait_state(run["id"], TERMINAL)["state"] == "CANCELLED"
        wait_until(lambda: not processes_with(f"sleep {m}"), 10, interval=0.05, what="the job's process to end")
    finally:
        _kill_everything_of(f"sleep {m}")


def test_supervisor_killed_while_the_server_is_down_ends_node_fail(make_server):
    srv = _compute_server(make_server)
    js = _admin_project(srv)
    m = marker()
    try:
        run = js.submit(command=["sleep", m], time_limit_s=600)
        js.wait_state(run["id"], "RUNNING")
        sup_file = srv.data_dir / "jobs" / run["id"] / "run0" / "supervisor.json"
        sup = wait_until(lambda: sup_file.exists() and json.loads(sup_file.read_text()), 15, interval=0.05,
                         what="supervisor.json")
        srv.kill9()
        os.kill(sup["pid"], signal.SIGKILL)
        wait_until(lambda: not Path(f"/proc/{sup['pid']}").exists() or
                   Path(f"/proc/{sup['pid']}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z",
                   10, interval=0.05, what="the supervisor to die")
        srv.start()
        js.token = srv.admin_token()
        done = js.wait_state(run["id"], TERMINAL)
        assert done["state"] == "NODE_FAIL", done
        last = js.get(run["id"])["events"][-1]
        assert last["to"] == "NODE_FAIL" and last["cause"], last
        wait_until(lambda: not processes_with(f"sleep {m}"), 10, interval=0.05,
                   what=("no process of the job to remain after its supervisor was killed "
                         f"(still alive: {processes_with(f'sleep {m}')})"))
    finally:
        _kill_everything_of(f"sleep {m}")
