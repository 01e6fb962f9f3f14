"""HTTPS from cert/key files: the server speaks TLS, cookies get the Secure flag, plain HTTP
and bad configuration are refused clearly."""
from __future__ import annotations

import http.client
import json
import ssl
import subprocess

import pytest

from conftest import ADMIN_PASSWORD, Headers, Resp, parse_cookies


@pytest.fixture(scope="module")
def cert(tmp_path_factory):
    d = tmp_path_factory.mktemp("tls")
    key, crt = d / "key.pem", d / "cert.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out", str(crt),
                    "-days", "1", "-subj", "/CN=localhost", "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost"],
                   check=True, capture_output=True)
    return crt, key


def https(port: int, cafile, method: str, path: str, body: dict | None = None, headers: dict | None = None) -> Resp:
    ctx = ssl.create_default_context(cafile=str(cafile))
    conn = http.client.HTTPSConnection("127.0.0.1", port, context=ctx, timeout=30)
    try:
        hs = dict(headers or {})
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            hs["Content-Type"] = "application/json"
        conn.request(method, path, body=data, headers=hs)
        r = conn.getresponse()
        return Resp(r.status, Headers(list(r.getheaders())), r.read(), method, path)
    finally:
        conn.close()


def test_https_serves_and_marks_cookies_secure(make_server, cert):
    crt, key = cert
    srv = make_server(env={"ATRIUM_SERVER_TLS_CERT": str(crt), "ATRIUM_SERVER_TLS_KEY": str(key)}, start=False)
    srv.start()
    assert any("listening on https://" in line for line in srv.stdout_snapshot())
    r = https(srv.port, crt, "GET", "/healthz")
    assert r.status == 200 and r.json == {"status": "ok"}
    login = https(srv.port, crt, "POST", "/api/v1/auth/login", {"username": "admin", "password": ADMIN_PASSWORD})
    assert login.status == 200, login
    ck = parse_cookies(login)
    assert ck["atrium_session"]["attrs"].get("secure") is True
    assert ck["atrium_session"]["attrs"].get("httponly") is True
    assert ck["atrium_csrf"]["attrs"].get("secure") is True
    # A client that does not trust the certificate is refused by its own TLS stack.
    with pytest.raises(ssl.SSLError):
        conn = http.client.HTTPSConnection("127.0.0.1", srv.port, context=ssl.create_default_context(), timeout=10)
        conn.request("GET", "/healthz")
        conn.getresponse()
    # Plain HTTP to the TLS port gets no HTTP answer.
    conn = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=10)
    with pytest.raises((http.client.HTTPException, ConnectionError, OSError)):
        conn.request("GET", "/healthz")
        conn.getresponse()
    conn.close()
    assert https(srv.port, crt, "GET", "/healthz").status == 200  # still serving
    assert srv.stop() == 0


def test_tls_needs_both_files_and_readable_ones(make_server, cert, tmp_path):
    crt, _ = cert
    srv = make_server(env={"ATRIUM_SERVER_TLS_CERT": str(crt)}, start=False)
    srv.spawn()
    assert srv.wait_exit(30) != 0
    assert "tls_cert and server.tls_key must be set together" in "\n".join(srv.stderr_snapshot())
    bad = make_server(env={"ATRIUM_SERVER_TLS_CERT": str(crt), "ATRIUM_SERVER_TLS_KEY": str(tmp_path / "missing.pem")},
                      start=False)
    bad.spawn()
    assert bad.wait_exit(30) != 0
    assert "server.tls_key" in "\n".join(bad.stderr_snapshot())
