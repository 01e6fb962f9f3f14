#!/usr/bin/env python3
"""LDAP sign-in through Atrium against the same directory work done straight with OpenLDAP's tools.

Directory: scripts/dev-idp.sh's slapd (StartTLS on ldap://127.0.0.1, its throwaway CA), user alice, who
exists in Atrium after the warm-up. N sequential sign-ins each, after a warm-up:
  * atrium: POST /api/v1/auth/ldap/devldap/login {username, password} -> 200 with a session cookie.
    Atrium searches for the user's entry on a pooled service-account connection (already StartTLS'd and
    bound), binds as the user on a new StartTLS connection of its own (closed after), searches the
    groups on the pooled connection, federates (finds the user by entryUUID, refreshes email/name and
    the group mapping) and creates a session, with its audit event, in SQLite.
  * direct: `ldapsearch -ZZ` as the service account for the user's DN, then `ldapwhoami -ZZ` as that DN
    with the user's password (LDAPTLS_CACERT = the dev CA): two processes, two StartTLS handshakes.
    python-ldap is not installed here, so each tool's process start-up (exec + libldap/GnuTLS loading
    and the CA file read) is in the anchor's time; the `-VV` row (print version, no network) shows it.
  * direct + groups: the same and a third process, `ldapsearch -ZZ` for the groups, as Atrium also does.
Prints a markdown section (medians, p90, ratios); appends it to $RESULTS when set. Never a gate.
Knobs: ATRIUM_BENCH_SIGNINS (default 30), ATRIUM_BIN.
"""
from __future__ import annotations

import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "tests" / "integration"))
sys.path.insert(0, str(REPO / "bench"))
from benchlib import machine, p90, publish, timed  # noqa: E402
from conftest import Server  # noqa: E402

N = int(os.environ.get("ATRIUM_BENCH_SIGNINS", "30"))
ROUNDS = 3  # alternating blocks per side
USER, PASSWORD = "alice", "alice-pw"


def ldap_section(toml: str) -> str:
    m = re.search(r"^\[ldap\.devldap\]\n(?:(?!\[).*\n?)*", toml, re.M)
    assert m, toml
    return m.group(0)


class Direct:
    """The directory work of one sign-in with ldapsearch + ldapwhoami, as any client without a library does."""

    def __init__(self, info: dict, toml: str):
        def key(k):
            return re.search(rf'^{k} = "(.*)"', toml, re.M).group(1)
        self.url = key("url")
        self.bind_dn = key("bind_dn")
        self.bind_pw = Path(key("bind_password_file")).read_text().strip()  # -y would send the newline too
        self.user_base, self.group_base = key("user_base"), key("group_base")
        self.env = dict(os.environ, LDAPTLS_CACERT=info["ca_file"], LDAPTLS_REQCERT="demand")

    def _run(self, *args: str) -> str:
        r = subprocess.run(args, capture_output=True, text=True, env=self.env)
        assert r.returncode == 0, (args[0], r.returncode, r.stderr)
        return r.stdout

    def sign_in(self, groups: bool = False) -> None:
        out = self._run("ldapsearch", "-x", "-ZZ", "-LLL", "-H", self.url, "-D", self.bind_dn, "-w", self.bind_pw,
                        "-b", self.user_base, "-z", "2", f"(&(objectClass=inetOrgPerson)(uid={USER}))",
                        "uid", "mail", "cn", "entryUUID", "memberOf")
        dns = re.findall(r"^dn: (.*)$", out, re.M)
        assert len(dns) == 1, out
        who = self._run("ldapwhoami", "-x", "-ZZ", "-H", self.url, "-D", dns[0], "-w", PASSWORD)
        assert who.strip() == "dn:" + dns[0], who
        if groups:
            out = self._run("ldapsearch", "-x", "-ZZ", "-LLL", "-H", self.url, "-D", self.bind_dn, "-w",
                            self.bind_pw, "-b", self.group_base, f"(&(objectClass=groupOfNames)(member={dns[0]}))",
                            "cn")
            assert "cn: physics-staff" in out, out

    def start_up(self) -> None:
        self._run("ldapsearch", "-VV")


def through_atrium(srv: Server) -> None:
    r = srv.call("POST", "/api/v1/auth/ldap/devldap/login", json={"username": USER, "password": PASSWORD})
    assert r.status == 200 and r.json["user"]["username"] == USER, r
    assert any(c.startswith("atrium_session=") for c in r.headers.get_all("set-cookie")), r


def main() -> None:
    tmp = Path(tempfile.mkdtemp(prefix="atrium-bench-ldap-"))
    dev_idp = str(REPO / "scripts" / "dev-idp.sh")
    toml = subprocess.run([dev_idp, "start", str(tmp / "idp")], check=True, capture_output=True, text=True).stdout
    info = json.loads((tmp / "idp" / "info.json").read_text())
    sec = ldap_section(toml)
    cfg = tmp / "atrium.toml"
    cfg.write_text(sec + '\nemail_verified = true\n[[ldap.devldap.rules]]\nclaim_group = "physics-staff"\n'
                   'org = "physics"\nrole = "member"\n')
    direct = Direct(info, sec)
    srv = Server(tmp / "data", args=["--config", str(cfg)], env={"ATRIUM_AUTH_LOGIN_IP_PER_MINUTE": "100000"})
    srv.start()
    rounds: dict[str, list[float]] = {"atrium": [], "direct": [], "direct_groups": [], "start_up": []}
    try:
        admin = srv.admin_token()
        assert srv.call("POST", "/api/v1/orgs", admin, json={"slug": "physics", "name": "Physics"}).status == 201
        for _ in range(3):  # warm up: the user's creation, the service pool, page cache of the tools
            through_atrium(srv)
            direct.sign_in(groups=True)
        # Alternate the sides in blocks so that the machine's load swings hit both alike.
        for _ in range(ROUNDS):
            rounds["direct"] += timed(direct.sign_in, N)
            rounds["atrium"] += timed(lambda: through_atrium(srv), N)
            rounds["direct_groups"] += timed(lambda: direct.sign_in(groups=True), N)
            rounds["start_up"] += timed(direct.start_up, N)
    finally:
        srv.stop()
        subprocess.run([dev_idp, "stop", str(tmp / "idp"), "--rm"], capture_output=True)

    m = {k: statistics.median(v) for k, v in rounds.items()}
    slapd = subprocess.run(["/usr/sbin/slapd", "-VV"], capture_output=True, text=True).stderr.splitlines()
    slapd_v = re.search(r"slapd ([\d.]+)", " ".join(slapd))
    load = os.getloadavg()
    section = f"""
## LDAP sign-in through Atrium vs ldapsearch + ldapwhoami — {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}

Command: `bench/ldap/run.sh` ({ROUNDS * N} sign-ins per row in {ROUNDS} alternating blocks, after 3 warm-up sign-ins each).
Machine: {machine(REPO)}, load average {load[0]:.2f} at the end (shared with other builds and CI).
Directory: scripts/dev-idp.sh's slapd {slapd_v.group(1) if slapd_v else ''} on 127.0.0.1, StartTLS with its
dev CA (RSA 2048), user `{USER}` (already federated after the warm-up). Client and Atrium on plain HTTP, 127.0.0.1.

| side | what one sign-in does | median ms | p90 ms | vs direct |
| --- | --- | ---: | ---: | ---: |
| direct | `ldapsearch -ZZ` (service bind, user search) + `ldapwhoami -ZZ` (user bind): 2 processes, 2 TLS handshakes | {m['direct']:.1f} | {p90(rounds['direct']):.1f} | 1.00 |
| direct + groups | the same + `ldapsearch -ZZ` for the groups: 3 processes, 3 TLS handshakes | {m['direct_groups']:.1f} | {p90(rounds['direct_groups']):.1f} | {m['direct_groups'] / m['direct']:.2f} |
| Atrium | `POST /api/v1/auth/ldap/devldap/login`: user search and group search on a pooled bound connection, user bind on a new StartTLS connection, federation + mapping rules + session + audit in SQLite | {m['atrium']:.1f} | {p90(rounds['atrium']):.1f} | **{m['atrium'] / m['direct']:.2f}** |
| (start-up) | `ldapsearch -VV`: one tool process (exec, libldap + GnuTLS loaded), no TLS setup, no network | {m['start_up']:.1f} | {p90(rounds['start_up']):.1f} | — |

Ratio Atrium / direct (medians): **{m['atrium'] / m['direct']:.2f}**; Atrium / direct + groups:
**{m['atrium'] / m['direct_groups']:.2f}**; Atrium / (direct − 2 × start-up, an estimate of the directory work
alone) ≈ **{m['atrium'] / max(m['direct'] - 2 * m['start_up'], 0.1):.2f}**. The direct rows include each tool's process start-up (about
{m['start_up']:.1f} ms a process here, the last row) and a StartTLS handshake per process, because python-ldap
is not installed; Atrium pays one handshake per sign-in (the user's bind; the service account's
connection is pooled) plus its HTTP request, the SQLite writes (user refresh, session, audit) and the
hop to the worker pool.
"""
    publish(section)


if __name__ == "__main__":
    main()
