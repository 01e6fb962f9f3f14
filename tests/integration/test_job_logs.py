"""Job output over HTTP: by byte offset (resume anywhere) and live (`follow=true`, chunked)."""
import http.client

import pytest

from conftest import wait_until

TERMINAL = {"COMPLETED", "FAILED", "CANCELLED", "TIMEOUT", "OUT_OF_MEMORY", "NODE_FAIL"}


@pytest.fixture(scope="module")
def project(server, admin):
    r = server.call("POST", "/api/v1/orgs", admin, json={"slug": "logs-org", "name": "Logs"})
    assert r.status == 201, r
    r = server.call("POST", "/api/v1/orgs/logs-org/projects", admin, json={"slug": "logs", "name": "Logs"})
    assert r.status == 201, r
    return r.json["id"]


def submit(server, admin, project, **body):
    r = server.call("POST", f"/api/v1/projects/{project}/jobs", admin, json=body)
    assert r.status == 201, r
    return r.json["id"]


def wait_end(server, admin, job):
    return wait_until(lambda: (lambda j: j if j["state"] in TERMINAL else None)(
        server.call("GET", f"/api/v1/jobs/{job}", admin).json), 60, 0.05, f"job {job} to end")


def open_follow(server, token, job, offset=0, stream="stdout"):
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=60)
    conn.request("GET", f"/api/v1/jobs/{job}/logs?follow=true&stream={stream}&offset={offset}",
                 headers={"Authorization": f"Bearer {token}"})
    return conn, conn.getresponse()


def test_offsets_resume_anywhere(server, admin, project):
    job = submit(server, admin, project, script="printf 'alpha\\nbeta\\ngamma\\n'; printf 'oops\\n' >&2")
    assert wait_end(server, admin, job)["state"] == "COMPLETED"
    full = server.call("GET", f"/api/v1/jobs/{job}/logs", admin)
    assert full.status == 200 and full.body == b"alpha\nbeta\ngamma\n"
    assert full.headers["X-Next-Offset"] == "17" and full.headers["X-Log-Complete"] == "true"
    rest = server.call("GET", f"/api/v1/jobs/{job}/logs?offset=6", admin)
    assert rest.body == b"beta\ngamma\n" and rest.headers["X-Offset"] == "6"
    piece = server.call("GET", f"/api/v1/jobs/{job}/logs?offset=6&limit=4", admin)
    assert piece.body == b"beta" and piece.headers["X-Next-Offset"] == "10"
    past = server.call("GET", f"/api/v1/jobs/{job}/logs?offset=1000", admin)
    assert past.body == b"" and past.headers["X-Next-Offset"] == "17"
    err = server.call("GET", f"/api/v1/jobs/{job}/logs?stream=stderr", admin)
    assert err.body == b"oops\n"


@pytest.mark.parametrize("query", ["stream=stdin", "offset=-1", "offset=x", "limit=0", "follow=yes"])
def test_bad_log_queries_are_400(server, admin, project, query):
    job = submit(server, admin, project, command=["true"], hold=True)
    r = server.call("GET", f"/api/v1/jobs/{job}/logs?{query}", admin)
    assert r.status == 400 and r.json["type"] == "urn:atrium:problem:invalid-query", r


def test_follow_streams_while_the_job_runs(server, admin, project):
    # The job prints one line, then waits: the line must arrive while it still runs.
    job = submit(server, admin, project, script="echo first; sleep 120; echo never")
    wait_until(lambda: server.call("GET", f"/api/v1/jobs/{job}/logs", admin).body == b"first\n", 60, 0.05,
               "the first line")
    conn, resp = open_follow(server, admin, job)
    try:
        assert resp.status == 200
        assert resp.getheader("Transfer-Encoding") == "chunked"
        assert resp.read(6) == b"first\n"
        assert server.call("GET", f"/api/v1/jobs/{job}", admin).json["state"] == "RUNNING"
        assert server.call("POST", f"/api/v1/jobs/{job}/cancel", admin, json={}).status == 200
        assert resp.read() == b""  # the stream ends once the job has ended
    finally:
        conn.close()
    assert wait_end(server, admin, job)["state"] == "CANCELLED"


def test_follow_from_an_offset_of_a_finished_job(server, admin, project):
    job = submit(server, admin, project, script="seq 1 1000")
    assert wait_end(server, admin, job)["state"] == "COMPLETED"
    expected = "".join(f"{i}\n" for i in range(1, 1001)).encode()
    conn, resp = open_follow(server, admin, job, offset=100)
    try:
        assert resp.status == 200 and resp.getheader("X-Offset") == "100"
        assert resp.read() == expected[100:]
    finally:
        conn.close()


def test_follow_of_a_foreign_job_is_404(server, admin, project, world):
    job = submit(server, admin, project, command=["true"], hold=True)
    outsider = world.b.users["member"]
    conn, resp = open_follow(server, outsider.token, job)
    try:
        assert resp.status == 404
    finally:
        conn.close()
