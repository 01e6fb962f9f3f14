"""The durable task queue: the admin API (instance admins only, bad input refused, retry and delete
of dead tasks audited) and its durability promise with real kinds (data.gc, jobs.capture_outputs):
kill -9 with tasks in flight and queued, and after the restart each runs to success exactly once."""
import sqlite3

from conftest import USER_PASSWORD, create_user, is_problem, list_all, wait_until


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
    assert [x["id"] for x in tasks_of(srv, admin, "?state=succeeded")] == [gc_id]
    assert tasks_of(srv, admin, "?state=dead") == []
    page = srv.call("GET", "/api/v1/tasks?limit=1", admin)
    assert page.status == 200 and len(page.json["items"]) == 1 and page.json["next"], page
    rest = srv.call("GET", f"/api/v1/tasks?limit=1&after={page.json['next']}", admin)
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

    r = srv.call("POST", f"/api/v1/tasks/{second}/retry", admin)
    assert r.status == 200 and r.json["attempts"] == 0 and r.json["state"] in ("queued", "running", "succeeded"), r
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
