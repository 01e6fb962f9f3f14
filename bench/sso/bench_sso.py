#!/usr/bin/env python3
"""A full OIDC sign-in through Atrium against the same flow straight against the provider.

Both use scripts/dev-idp.sh's provider (npm oidc-provider over HTTPS) and its dev login and consent
pages, one fresh browser (cookie jar) per sign-in, driven hop by hop as tests/integration/test_sso.py
does:
  * direct: authorize (PKCE S256) -> login -> consent -> redirect -> POST /token (client_secret_basic);
    what any relying party must do at the least, without verifying anything;
  * atrium: GET /api/v1/auth/oidc/dev/start -> the same provider pages -> Atrium's callback, which
    redeems the code, verifies the ID token (cjose), federates the user, applies the mapping rules
    and creates the session (302 to next with the cookies).
Prints a markdown section (medians, p90, ratio); appends it to $RESULTS when set. Never a gate.
Knobs: ATRIUM_BENCH_SIGNINS (default 40), ATRIUM_BIN.
"""
from __future__ import annotations

import base64
import hashlib
import json
import os
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "tests" / "integration"))
sys.path.insert(0, str(REPO / "bench"))
from benchlib import p90, publish, timed  # noqa: E402
from conftest import Server  # noqa: E402
from test_sso import Hop, provider_login  # noqa: E402

N = int(os.environ.get("ATRIUM_BENCH_SIGNINS", "40"))


def b64(b: bytes) -> str:
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()


DISCOVERY: dict = {}


def direct(info, hop: Hop) -> None:
    oidc = info["oidc"]
    if not DISCOVERY:  # fetched once, as a relying party caches it (Atrium does too)
        DISCOVERY.update(json.loads(hop.go(oidc["issuer"] + "/.well-known/openid-configuration")[2]))
    disc = DISCOVERY
    redirect = "http://127.0.0.1/api/v1/auth/oidc/dev/callback"
    verifier = b64(secrets.token_bytes(32))
    q = urllib.parse.urlencode({"response_type": "code", "client_id": "atrium-dev", "redirect_uri": redirect,
                                "scope": "openid email profile groups", "state": b64(secrets.token_bytes(16)),
                                "nonce": b64(secrets.token_bytes(16)),
                                "code_challenge": b64(hashlib.sha256(verifier.encode()).digest()),
                                "code_challenge_method": "S256"})
    loc = provider_login(hop, disc["authorization_endpoint"] + "?" + q, "alice", redirect)
    code = urllib.parse.parse_qs(urllib.parse.urlsplit(loc).query)["code"][0]
    secret = Path(oidc["client_secret_file"]).read_text().strip()
    import http.client
    u = urllib.parse.urlsplit(disc["token_endpoint"])
    conn = http.client.HTTPSConnection(u.hostname, u.port, context=hop.ctx)
    body = urllib.parse.urlencode({"grant_type": "authorization_code", "code": code, "redirect_uri": redirect,
                                   "code_verifier": verifier})
    auth = base64.b64encode(f"atrium-dev:{secret}".encode()).decode()
    conn.request("POST", u.path, body, {"Content-Type": "application/x-www-form-urlencoded",
                                        "Authorization": f"Basic {auth}"})
    r = conn.getresponse()
    assert r.status == 200 and "id_token" in json.loads(r.read()), r.status


def through_atrium(info, hop: Hop, port: int) -> None:
    status, loc, _ = hop.go(f"http://127.0.0.1:{port}/api/v1/auth/oidc/dev/start?next=%2F")
    assert status == 302
    cb = provider_login(hop, loc, "alice", f"http://localhost:{port}/api/v1/auth/oidc/")
    status, loc, _ = hop.go(cb)
    assert status == 302 and loc.endswith("/"), loc
    assert "atrium_session" in hop.jar[f"127.0.0.1:{port}"]


def main() -> None:
    tmp = Path(tempfile.mkdtemp(prefix="atrium-bench-sso-"))
    dev_idp = str(REPO / "scripts" / "dev-idp.sh")
    toml = subprocess.run([dev_idp, "start", str(tmp / "idp")], check=True, capture_output=True, text=True).stdout
    info = json.loads((tmp / "idp" / "info.json").read_text())
    cfg = tmp / "atrium.toml"
    cfg.write_text(toml[toml.index("[oidc.dev]"):toml.index("[ldap.devldap]")] +
                   '[[oidc.dev.rules]]\nclaim_group = "physics-staff"\norg = "physics"\nrole = "member"\n')
    srv = Server(tmp / "data", args=["--config", str(cfg)], env={"ATRIUM_AUTH_LOGIN_IP_PER_MINUTE": "100000"})
    srv.start()
    try:
        admin = srv.admin_token()
        srv.call("POST", "/api/v1/orgs", admin, json={"slug": "physics", "name": "Physics"})
        for _ in range(3):  # warm up both (discovery, keys, the user's creation)
            direct(info, Hop(info["ca_file"]))
            through_atrium(info, Hop(info["ca_file"]), srv.port)
        d = timed(lambda: direct(info, Hop(info["ca_file"])), N)
        a = timed(lambda: through_atrium(info, Hop(info["ca_file"]), srv.port), N)
    finally:
        srv.stop()
        subprocess.run([dev_idp, "stop", str(tmp / "idp"), "--rm"], capture_output=True)

    md, ma = statistics.median(d), statistics.median(a)
    cores = os.cpu_count()
    section = f"""
## OIDC sign-in through Atrium vs straight against the provider — {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}

`bench/sso/bench_sso.py`, {N} sign-ins each, one fresh browser per sign-in (the provider's dev login and
consent pages every time), provider: scripts/dev-idp.sh (oidc-provider 9.13.3 over HTTPS, RS256), {cores} cores.

| flow | median ms | p90 ms |
| --- | ---: | ---: |
| straight against the provider (authorize, login, consent, token) | {md:.1f} | {p90(d):.1f} |
| through Atrium (start, same pages, callback: token, ID token check, federation, rules, session) | {ma:.1f} | {p90(a):.1f} |

Ratio Atrium / direct (medians): **{ma / md:.2f}** (difference {ma - md:+.1f} ms). The direct client is
Python (a new TLS connection per hop, the token exchange from Python); through Atrium, the token
exchange is Atrium's (libcurl) and the two Atrium hops are plain HTTP on 127.0.0.1, so the rows say how
much Atrium adds to what a browser waits for, not how fast each relying party is.
"""
    publish(section)


if __name__ == "__main__":
    main()
