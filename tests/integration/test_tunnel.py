"""The environment tunnel's route on a real server without SLURM, and `atrium tunnel` against it.

The route takes only a job's exec token (slurm's); with no cluster there are none, so everything is
refused, before any socket is made: no bearer (401), an API token or a made-up token (404), a
session cookie (401). `atrium tunnel` stops at the first refusal (exit 3), no retry storm. The
tunnel itself (streams, flow control, replacement, reconnects, a planted link) is tested in
src/tunnel/tunnel_test.cpp against the same route in process; end to end on SLURM nodes in the
slurm suite.
"""
import os
import subprocess
import time

from conftest import ATRIUM_BIN, raw_request

UPGRADE = {"Connection": "Upgrade", "Upgrade": "websocket", "Sec-WebSocket-Version": "13",
           "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ=="}
PATH = "/api/v1/exec/jobs/job_nonexistent/tunnel"


def upgrade(server, headers):
    return raw_request(server.port, "GET", PATH, headers={**UPGRADE, **headers})


def no_tunnel_sockets(server):
    d = server.data_dir / "tunnels"
    return not d.exists() or not any(d.iterdir())


def test_everything_but_an_exec_token_is_refused(server, admin):
    assert upgrade(server, {}).status == 401
    assert upgrade(server, {"Authorization": f"Bearer {admin}"}).status == 404  # a user's API token
    assert upgrade(server, {"Authorization": "Bearer made-up"}).status == 404
    assert upgrade(server, {"Authorization": "Basic YWRtaW46eA=="}).status == 401
    assert upgrade(server, {"Cookie": "atrium_session=whatever"}).status == 401
    assert no_tunnel_sockets(server)


def test_atrium_tunnel_stops_when_refused(server, tmp_path):
    token = tmp_path / "exec.token"
    token.write_text("made-up-token\n")
    token.chmod(0o600)
    t0 = time.monotonic()
    p = subprocess.run([ATRIUM_BIN, "tunnel", "--server", f"http://127.0.0.1:{server.port}/",
                        "--token-file", str(token), "--job", "job_nonexistent",
                        "--socket", str(tmp_path / "app.sock")],
                       capture_output=True, text=True, timeout=30)
    assert p.returncode == 3, p.stderr
    assert "refused" in p.stderr and "made-up-token" not in p.stderr
    assert time.monotonic() - t0 < 10
    assert no_tunnel_sockets(server)


def test_atrium_tunnel_needs_its_token_file(tmp_path):
    p = subprocess.run([ATRIUM_BIN, "tunnel", "--server", "http://127.0.0.1:9", "--token-file",
                        str(tmp_path / "missing"), "--job", "job_x", "--socket", str(tmp_path / "s")],
                       capture_output=True, text=True, timeout=30)
    assert p.returncode == 3
    assert os.path.basename(str(tmp_path / "missing")) in p.stderr
