"""The command-line client against a real server: login stores a 0600 token, commands print
tables or JSON, errors exit non-zero with the problem's detail."""
from __future__ import annotations

import json
import os
import stat
import subprocess

import pytest

from conftest import ADMIN_PASSWORD, ATRIUM_BIN, base_env


class Cli:
    def __init__(self, server, config_dir):
        self.server = server
        self.config_dir = config_dir

    def run(self, *args: str, stdin: str | None = None, check: bool = True) -> subprocess.CompletedProcess:
        env = base_env(admin_password=None)
        env["ATRIUM_CONFIG_DIR"] = str(self.config_dir)
        env["ATRIUM_SERVER_URL"] = self.server.base
        p = subprocess.run([ATRIUM_BIN, *args], input=stdin, capture_output=True, text=True, env=env, timeout=60)
        if check:
            assert p.returncode == 0, (args, p.returncode, p.stdout, p.stderr)
        return p

    def json(self, *args: str):
        return json.loads(self.run(*args, "--json").stdout)


@pytest.fixture(scope="module")
def cli(server, tmp_path_factory):
    c = Cli(server, tmp_path_factory.mktemp("cli-config"))
    c.run("login", "--username", "admin", "--password-stdin", stdin=ADMIN_PASSWORD + "\n")
    return c


def test_login_stores_a_private_token(cli):
    cred = cli.config_dir / "credentials.json"
    assert cred.exists()
    assert stat.S_IMODE(os.stat(cred).st_mode) == 0o600
    data = json.loads(cred.read_text())
    assert data["token"].startswith("atr_") and data["username"] == "admin"
    me = cli.json("whoami")
    assert me["username"] == "admin" and me["instance_admin"] is True


def test_org_and_project_round_trip(cli):
    org = cli.json("org", "create", "--slug", "cli-lab", "--name", "CLI Lab")
    assert org["slug"] == "cli-lab"
    p = cli.json("project", "create", "--org", "cli-lab", "--slug", "wave", "--name", "Wave model",
                 "--description", "spectral wave model", "--tag", "ocean")
    assert p["visibility"] == "private" and p["tags"] == ["ocean"]
    table = cli.run("project", "list", "--search", "spectral").stdout
    assert "wave" in table and "Wave model" in table
    listed = cli.json("project", "list", "--org", "cli-lab")
    assert [x["slug"] for x in listed["items"]] == ["wave"]
    upd = cli.json("project", "update", p["id"], "--name", "Wave model 2")
    assert upd["name"] == "Wave model 2"
    cli.run("project", "archive", p["id"])
    assert cli.json("project", "show", p["id"])["archived"] is True


def test_errors_exit_nonzero_with_the_detail(cli):
    cli.run("org", "create", "--slug", "cli-dup", "--name", "first")
    p = cli.run("org", "create", "--slug", "cli-dup", "--name", "again", check=False)
    assert p.returncode == 1
    assert "cli-dup" in p.stderr and "409" in p.stderr
    bad = cli.run("org", "create", "--slug", "Not A Slug", "--name", "x", check=False)
    assert bad.returncode == 2 and "slug" in bad.stderr
    missing = cli.run("project", "show", "prj_01AAAAAAAAAAAAAAAAAAAAAAAA", check=False)
    assert missing.returncode == 1 and "404" in missing.stderr
    usage = cli.run("org", "create", check=False)
    assert usage.returncode == 2


def test_tokens_and_audit(cli):
    t = cli.json("token", "create", "--name", "ci", "--scope", "projects:read")
    assert t["scopes"] == ["projects:read"] and t["token"].startswith("atr_")
    names = [x["name"] for x in cli.json("token", "list")["items"]]
    assert "ci" in names
    cli.run("token", "revoke", t["id"])
    assert "ci" not in [x["name"] for x in cli.json("token", "list")["items"]]
    v = cli.run("audit", "verify")
    assert v.returncode == 0
    lines = cli.run("audit", "export", "--action", "project.*").stdout.strip().splitlines()
    actions = {json.loads(line)["action"] for line in lines}
    assert {"project.create", "project.update", "project.archive"} <= actions


def test_logout_revokes_the_token(cli, server):
    token = json.loads((cli.config_dir / "credentials.json").read_text())["token"]
    assert server.call("GET", "/api/v1/me", token).status == 200
    cli.run("logout")
    assert not (cli.config_dir / "credentials.json").exists()
    assert server.call("GET", "/api/v1/me", token).status == 401
