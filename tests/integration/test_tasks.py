"""The durable task queue: the admin API (instance admins only, bad input refused, retry and delete
of dead tasks audited) and its durability promise with real kinds (data.gc, jobs.capture_outputs):
kill -9 with tasks in flight and queued, and after the restart each runs to success exactly once."""
import json
import os
import signal
import sqlite3
import subprocess

from conftest import ATRIUM_BIN, USER_PASSWORD, base_env, create_user, is_problem, list_all, wait_until
from test_jobs import COMPUTE_ENV, marker, processes_with


def tasks_of(srv, tok, query=""):
    return list_all(srv, f"/api/v1/tasks{query}", tok)


def make_dead(srv, task_id, error="injected by the test"):
    """With the server stopped: makes a task dead as a handler's last failed attempt would."""
    assert not srv.running()
    db = sqlite3.connect(srv.data_dir / "atrium.db")
    with db:
        n = db.execute("UPDATE tasks SET state = 'dead', last_error = ?, finished_at = updated_at WHERE id = ?",
                       (error, task_id)).rowcount
    db.close()
    assert n == 1


def cli(srv, tok, *args, check=True):
    env = base_env({"ATRIUM_SERVER_URL": srv.base, "ATRIUM_TOKEN": tok, "ATRIUM_CONFIG_DIR": str(srv.data_dir / "cli")},
                   admin_password=None)
    p = subprocess.run([ATRIUM_BIN, *args], capture_output=True, text=True, env=env, timeout=60)
    assert not check or p.returncode == 0, (args, p.returncode, p.stdout, p.stderr)
    return p


def test_admin_api_lists_retries_and_deletes_dead_tasks(make_server):
    srv = make_server()
    admin = srv.admin_token()
    # A real task: a garbage collection, which the route waits for.
    r = srv.call("POST", "/api/v1/admin/gc", admin, json={"dry_run": True})
    assert r.status == 200 and r.json["dry_run"] is True, r
    gc_id = r.json["task_id"]
    t = srv.call("GET", f"/api/v1/tasks/{gc_id}", admin)
    assert t.status == 200, t
    assert t.json["kind"] == "data.gc" and t.json["state"] == "succeeded" and t.json["attempts"] == 1
    assert t.json["result"]["dry_run"] is True and "payload" not in t.json
    assert [x["id"] for x in tasks_of(srv, admin, "?kind=data.gc")] == [gc_id]
    # (the images module's periodic collection may run beside it: other kinds are not this test's)
    assert [x["id"] for x in tasks_of(srv, admin, "?state=succeeded") if x["kind"] == "data.gc"] == [gc_id]
    assert tasks_of(srv, admin, "?state=dead") == []
    page = srv.call("GET", "/api/v1/tasks?kind=data.gc&limit=1", admin)
    assert page.status == 200 and len(page.json["items"]) == 1 and page.json["next"], page
    rest = srv.call("GET", f"/api/v1/tasks?kind=data.gc&limit=1&after={page.json['next']}", admin)
    assert rest.status == 200 and rest.json["items"] == [], rest

    # Bad input: 4xx with the field, nothing changed.
    bad = srv.call("GET", "/api/v1/tasks?state=bogus", admin)
    assert is_problem(bad, 400) and bad.json["field"] == "state", bad
    assert is_problem(srv.call("GET", "/api/v1/tasks?limit=-4", admin), 400)
    assert is_problem(srv.call("GET", "/api/v1/tasks/nope", admin), 404)
    assert is_problem(srv.call("GET", "/api/v1/tasks/tsk_01HF7YAT00JD4YSFJWMNAT1QYD", admin), 404)
    # Only dead tasks are retried or deleted.
    assert is_problem(srv.call("POST", f"/api/v1/tasks/{gc_id}/retry", admin), 409, "task-not-dead")
    assert is_problem(srv.call("DELETE", f"/api/v1/tasks/{gc_id}", admin), 409, "task-not-dead")
    assert srv.call("GET", f"/api/v1/tasks/{gc_id}", admin).json == t.json

    # Non-admins are refused, anonymous callers too.
    create_user(srv, admin, "plain")
    ptok = srv.login_token("plain", USER_PASSWORD)
    for method, path in (("GET", "/api/v1/tasks"), ("GET", f"/api/v1/tasks/{gc_id}"),
                         ("POST", f"/api/v1/tasks/{gc_id}/retry"), ("DELETE", f"/api/v1/tasks/{gc_id}")):
        assert is_problem(srv.call(method, path, ptok), 403), (method, path)
        assert is_problem(srv.call(method, path, None), 401), (method, path)

    # A second collection, made dead (as after its last failed attempt) while the server is down.
    second = srv.call("POST", "/api/v1/admin/gc", admin, json={"dry_run": True}).json["task_id"]
    deleted = srv.call("POST", "/api/v1/admin/gc", admin, json={"dry_run": True}).json["task_id"]
    assert srv.stop() == 0
    make_dead(srv, second)
    make_dead(srv, deleted)
    srv.start()
    admin = srv.admin_token()
    assert {x["id"] for x in tasks_of(srv, admin, "?state=dead")} == {second, deleted}
    metrics = srv.call("GET", "/metrics").text
    assert 'atrium_tasks{state="dead"} 2' in metrics, metrics

    # The CLI: `atrium admin tasks --state dead` lists them, `retry ID` queues one again.
    listed = cli(srv, admin, "admin", "tasks", "--state", "dead")
    assert second in listed.stdout and deleted in listed.stdout and "injected by the test" in listed.stdout, listed
    assert gc_id not in listed.stdout
    assert {t["id"] for t in json.loads(cli(srv, admin, "admin", "tasks", "--state", "dead", "--json").stdout)["items"]} \
        == {second, deleted}
    assert cli(srv, admin, "admin", "tasks", "--state", "bogus", check=False).returncode != 0
    refused = cli(srv, admin, "admin", "tasks", "retry", gc_id, check=False)
    assert refused.returncode == 1 and "not dead" in refused.stderr, refused
    r = json.loads(cli(srv, admin, "admin", "tasks", "retry", second, "--json").stdout)
    assert r["attempts"] == 0 and r["state"] in ("queued", "running", "succeeded"), r
    wait_until(lambda: srv.call("GET", f"/api/v1/tasks/{second}", admin).json["state"] == "succeeded", 30,
               what="the retried task to succeed")
    again = srv.call("GET", f"/api/v1/tasks/{second}", admin).json
    assert again["attempts"] == 1 and again["result"]["dry_run"] is True

    assert srv.call("DELETE", f"/api/v1/tasks/{deleted}", admin).status == 204
    assert is_problem(srv.call("GET", f"/api/v1/tasks/{deleted}", admin), 404)
    events = list_all(srv, "/api/v1/audit/events?action=task.*", admin)
    assert [(e["action"], e["target_id"]) for e in events] == [("task.retry", second), ("task.delete", deleted)]
    assert len(list_all(srv, "/api/v1/audit/events?action=data.gc", admin)) == 3
    assert 'atrium_task_runs_total{kind="data.gc",outcome="succeeded"} 1' in srv.call("GET", "/metrics").text


# ---------------------------------------------------------------------------- durability with real kinds

BIG_MB = 256  # one job's output, large enough that its capture is still running when the server dies


def end_sleep(m: str):
    """Ends a job's `sleep m`: its script goes on and exits 0."""
    for pid in processes_with(f"sleep {m}"):
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            pass


def capture_task(srv, tok, job_id):
    for t in tasks_of(srv, tok, "?kind=jobs.capture_outputs"):
        if t["key"] == f"jobs.capture_outputs:{job_id}":
            return t
    return None


def test_kill_9_with_captures_in_flight_queued_and_due_runs_each_once(make_server):
    """One capture task in flight (its lease held by the dead server), two queued behind it, and a
    job that ends while the server is down: after the restart every job's outputs are captured
    exactly once, as one dataset version each."""
    srv = make_server(env={**COMPUTE_ENV, "ATRIUM_TASKS_WORKERS": "1", "ATRIUM_TASKS_LEASE_S": "5"})
    tok = srv.admin_token()
    org = srv.call("POST", "/api/v1/orgs", tok, json={"slug": "dur", "name": "Dur"}).json
    pid = srv.call("POST", f"/api/v1/orgs/{org['id']}/projects", tok, json={"slug": "p", "name": "P"}).json["id"]
    marks = [marker() for _ in range(4)]
    jobs = []
    try:
        for i, m in enumerate(marks):
            big = f"head -c {BIG_MB << 20} /dev/zero > out/big.bin && " if i == 0 else ""
            script = f"mkdir -p out && {big}echo {i} > out/r.csv; sleep {m}; echo end > out/end.csv"
            r = srv.call("POST", f"/api/v1/projects/{pid}/jobs", tok,
                         json={"script": script, "time_limit_s": 600,
                               "outputs": {"dataset": f"out-{i}", "paths": ["out/*"]}})
            assert r.status == 201, r
            jobs.append(r.json["id"])
        for m in marks:
            wait_until(lambda m=m: processes_with(f"sleep {m}"), 60, what="the jobs' processes")
        # Job 0 ends: its capture (a large file) runs on the only worker.
        end_sleep(marks[0])
        wait_until(lambda: (capture_task(srv, tok, jobs[0]) or {}).get("state") == "running", 30,
                   interval=0.01, what="job 0's capture to run")
        # Jobs 1 and 2 end: their captures queue behind it.
        end_sleep(marks[1])
        end_sleep(marks[2])
        wait_until(lambda: all((capture_task(srv, tok, j) or {}).get("state") == "queued" for j in jobs[1:3]), 30,
                   interval=0.01, what="jobs 1 and 2's captures to queue")
        assert capture_task(srv, tok, jobs[0])["state"] == "running", "the capture ended too soon: raise BIG_MB"
        srv.kill9()
        # Job 3 ends while the server is down.
        end_sleep(marks[3])
        wait_until(lambda: not processes_with(f"sleep {marks[3]}"), 30, what="job 3 to end")

        srv.start()
        tok = srv.admin_token()

        def all_done():
            ts = [capture_task(srv, tok, j) for j in jobs]
            return ts if all(t and t["state"] == "succeeded" for t in ts) else None

        done = wait_until(all_done, 120, interval=0.1, what="every capture to succeed")
        # The one in flight ran again once its lease expired; the others ran once.
        assert [t["attempts"] for t in done] == [2, 1, 1, 1], done
        assert "lease expired" in done[0]["last_error"], done[0]
        for i, j in enumerate(jobs):
            job = srv.call("GET", f"/api/v1/jobs/{j}", tok).json
            assert job["state"] == "COMPLETED" and job["outputs"]["version"] == 1, job
            assert job["outputs"]["capture"] == "done", job
            ds = srv.call("GET", f"/api/v1/datasets/{job['outputs']['dataset_id']}", tok).json
            assert [v["version"] for v in ds["versions"]] == [1], ds  # the effect, once
            files = srv.call("GET", f"/api/v1/datasets/{ds['id']}/versions/1/files", tok).json["items"]
            expect = {"out/r.csv": 2, "out/end.csv": 4} | ({"out/big.bin": BIG_MB << 20} if i == 0 else {})
            assert {f["path"]: f["size"] for f in files} == expect, files
    finally:
        for m in marks:
            end_sleep(m)
