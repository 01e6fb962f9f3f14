"""Local identity providers for SSO tests: scripts/dev-idp.sh (an OIDC provider over HTTPS and slapd with
StartTLS/ldaps/ldapi, one throwaway CA) started once per module.

    from idp import dev_idp  # noqa: F401  (the fixture)

    def test_x(dev_idp):
        dev_idp.toml                     # [oidc.dev] and [ldap.devldap] sections for atrium.toml
        dev_idp.issuer, dev_idp.ca_file  # the provider's issuer URL; the CA both servers' certs chain to
        dev_idp.ldap["url"], ["ldaps_url"], ["users"]["alice"]["password"]   # see info.json / dev-idp.sh
        dev_idp.set_oidc_groups("alice", ["hpc-admins"])    # the provider asserts new groups at next login
        dev_idp.rotate_keys()                               # new signing keys (old ones stay published)
        dev_idp.ldap_modify(ldif)                           # as the directory admin, e.g. group changes
        dev_idp.ldap_down(); dev_idp.ldap_up()              # directory outage and recovery, same ports
"""
from __future__ import annotations

import json
import os
import ssl
import subprocess
import urllib.request
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "dev-idp.sh"


class DevIdp:
    def __init__(self, d: Path):
        self.dir = d

    def _run(self, *args: str, input: str | None = None) -> str:
        r = subprocess.run([str(SCRIPT), *args], capture_output=True, text=True, input=input, timeout=300)
        assert r.returncode == 0, f"dev-idp.sh {args[0]} failed: {r.stderr}"
        return r.stdout

    def start(self, redirects: list[str] = ()) -> "DevIdp":
        extra = [a for u in redirects for a in ("--redirect", u)]
        self.toml = self._run("start", str(self.dir), *extra)
        self.info = json.loads((self.dir / "info.json").read_text())
        self.issuer: str = self.info["oidc"]["issuer"]
        self.ca_file: str = self.info["ca_file"]
        self.ldap: dict = self.info["ldap"]
        self.oidc: dict = self.info["oidc"]
        return self

    def stop(self) -> None:
        self._run("stop", str(self.dir))

    # ------------------------------------------------------------------ OIDC provider

    def client_secret(self) -> str:
        return Path(self.oidc["client_secret_file"]).read_text().strip()

    def oidc_users(self) -> dict:
        return json.loads(Path(self.oidc["users_file"]).read_text())

    def set_oidc_user(self, login: str, **claims) -> None:
        """Changes (or adds) a person's claims at the provider, e.g. groups=[...], email_verified=False."""
        users = self.oidc_users()
        users.setdefault(login, {}).update(claims)
        tmp = Path(self.oidc["users_file"] + ".tmp")
        tmp.write_text(json.dumps(users))
        os.replace(tmp, self.oidc["users_file"])

    def set_oidc_groups(self, login: str, groups: list[str]) -> None:
        self.set_oidc_user(login, groups=list(groups))

    def _admin(self, method: str, url: str) -> dict:
        token = Path(self.oidc["admin_token_file"]).read_text().strip()
        req = urllib.request.Request(url, method=method, headers={"Authorization": f"Bearer {token}"})
        ctx = ssl.create_default_context(cafile=self.ca_file)
        with urllib.request.urlopen(req, context=ctx, timeout=10) as r:
            return json.loads(r.read())

    def rotate_keys(self, drop_old: bool = False) -> list[str]:
        """New RS256/ES256 signing keys; returns the JWKS key ids, the new (signing) ones first."""
        url = self.oidc["rotate_keys_url"] + ("?drop_old=1" if drop_old else "")
        return self._admin("POST", url)["kids"]

    # ------------------------------------------------------------------ LDAP directory

    def ldap_modify(self, ldif: str) -> None:
        """Applies an LDIF change (changetype: ...) as the directory admin over ldapi://."""
        r = subprocess.run(["ldapmodify", "-x", "-H", self.ldap["ldapi_url"], "-D", self.ldap["admin_dn"],
                            "-w", self.ldap["admin_password"]], input=ldif, capture_output=True, text=True,
                           timeout=30)
        assert r.returncode == 0, r.stderr

    def set_ldap_group_members(self, group: str, users: list[str]) -> None:
        """Replaces the members of groupOfNames cn=GROUP,ou=groups (an empty list is not allowed by the
        schema: remove a person by listing the others)."""
        members = "".join(f"member: {self.ldap['users'][u]['dn']}\n" for u in users)
        self.ldap_modify(f"dn: cn={group},{self.ldap['group_base']}\nchangetype: modify\nreplace: member\n{members}")

    def ldap_down(self) -> None:
        self._run("ldap-down", str(self.dir))

    def ldap_up(self) -> None:
        self._run("ldap-up", str(self.dir))


@pytest.fixture(scope="module")
def dev_idp(tmp_path_factory):
    idp = DevIdp(tmp_path_factory.mktemp("idp")).start()
    try:
        yield idp
    finally:
        idp.stop()
