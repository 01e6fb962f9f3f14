"""Job output over HTTP: by byte offset (resume anywhere) and live (`follow=true`, chunked)."""
import http.client
import json
import struct

import pytest

from conftest import ADMIN_PASSWORD, parse_cookies, wait_until
from wsclient import Closed, HandshakeRefused, WebSocket

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


def running_with_output(server, admin, project, line, then):
    """A job that prints `line`, then runs `then`; returned once the line is in its output."""
    job = submit(server, admin, project, script=f"echo {line}; {then}")
    want = f"{line}\n".encode()
    wait_until(lambda: server.call("GET", f"/api/v1/jobs/{job}/logs", admin).body == want, 60, 0.05,
               f"the line {line!r}")
    return job


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
    job = running_with_output(server, admin, project, "first", "sleep 120; echo never")
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


def test_follow_from_before_the_job_starts_gets_each_line_as_it_is_written(server, admin, project):
    # Opened while the job is held (no run directory yet); nothing polls, so each line must wake
    # the stream: the run directory's creation, then each write.
    job = submit(server, admin, project, script="echo first; sleep 1; echo second; sleep 120", hold=True)
    conn, resp = open_follow(server, admin, job)
    try:
        assert resp.status == 200
        assert server.call("POST", f"/api/v1/jobs/{job}/release", admin, json={}).status == 200
        assert resp.read(6) == b"first\n"
        assert resp.read(7) == b"second\n"
        assert server.call("POST", f"/api/v1/jobs/{job}/cancel", admin, json={}).status == 200
        assert resp.read() == b""
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


# ---- the same over a WebSocket (binary messages; the end of the job closes with 1000) -------------

def ws_logs(server, job, offset=0, headers=None, token=None, stream="stdout"):
    hs = dict(headers or {})
    if token:
        hs["Authorization"] = f"Bearer {token}"
    return WebSocket(server.port, f"/api/v1/jobs/{job}/logs?stream={stream}&offset={offset}", hs)


def test_websocket_streams_while_the_job_runs(server, admin, project):
    job = running_with_output(server, admin, project, "first", "sleep 120; echo never")
    ws = ws_logs(server, job, token=admin)
    try:
        assert ws.headers.get("x-offset") == "0" and ws.headers.get("x-request-id")
        op, data = ws.recv()
        assert op == 0x2 and data == b"first\n"  # binary: output need not be UTF-8
        assert server.call("POST", f"/api/v1/jobs/{job}/cancel", admin, json={}).status == 200
        rest, closed = ws.read_all()
        assert rest == b"" and closed.code == 1000
    finally:
        ws.close()
    assert wait_end(server, admin, job)["state"] == "CANCELLED"


def test_websocket_resumes_from_an_offset(server, admin, project):
    job = submit(server, admin, project, script="seq 1 20000; printf 'e\\n' >&2")
    assert wait_end(server, admin, job)["state"] == "COMPLETED"
    expected = "".join(f"{i}\n" for i in range(1, 20001)).encode()
    ws = ws_logs(server, job, offset=1000, token=admin)
    data, closed = ws.read_all()
    ws.close()
    assert data == expected[1000:] and closed.code == 1000
    err = ws_logs(server, job, token=admin, stream="stderr")
    data, _ = err.read_all()
    err.close()
    assert data == b"e\n"


def test_websocket_client_close_ends_the_stream(server, admin, project):
    job = running_with_output(server, admin, project, "up", "sleep 120")
    ws = ws_logs(server, job, token=admin)
    assert ws.recv()[1] == b"up\n"
    ws._send_frame(0x8, struct.pack(">H", 1000))  # the client says goodbye; the server answers the close
    try:
        ws.recv()
        raise AssertionError("expected the server's close")
    except Closed as c:
        assert c.code == 1000
    ws.sock.close()
    # The server is fine afterwards and the job still runs.
    assert server.call("GET", f"/api/v1/jobs/{job}", admin).json["state"] == "RUNNING"
    assert server.call("POST", f"/api/v1/jobs/{job}/cancel", admin, json={}).status == 200
    wait_end(server, admin, job)


def test_websocket_refusals_are_plain_problems(server, admin, project, world):
    job = submit(server, admin, project, command=["true"], hold=True)
    with pytest.raises(HandshakeRefused) as e:
        ws_logs(server, job)  # no credentials
    assert e.value.status == 401
    with pytest.raises(HandshakeRefused) as e:
        ws_logs(server, job, token=world.b.users["member"].token)  # another tenant
    assert e.value.status == 404
    with pytest.raises(HandshakeRefused) as e:
        ws_logs(server, job, offset=-1, token=admin)
    assert e.value.status == 400 and json.loads(e.value.body)["type"] == "urn:atrium:problem:invalid-query"


def test_websocket_with_a_cookie_must_be_same_origin(server, admin, project):
    job = submit(server, admin, project, command=["true"], hold=True)
    r = server.login("admin", ADMIN_PASSWORD)
    assert r.status == 200, r
    cookie = {"Cookie": "atrium_session=" + parse_cookies(r)["atrium_session"]["value"]}
    for origin in (None, "http://evil.example", f"https://127.0.0.1:{server.port}"):
        hs = dict(cookie)
        if origin:
            hs["Origin"] = origin
        with pytest.raises(HandshakeRefused) as e:
            ws_logs(server, job, headers=hs)
        assert e.value.status == 403 and json.loads(e.value.body)["type"] == "urn:atrium:problem:cross-origin"
    ok = ws_logs(server, job, headers={**cookie, "Origin": f"http://127.0.0.1:{server.port}"})
    ok.close()
