"""The command-line client against a real server: login stores a 0600 token, commands print
tables or JSON, errors exit non-zero with the problem's detail."""
from __future__ import annotations

import json
import os
import re
import shutil
import stat
import subprocess

import pytest

from conftest import ADMIN_PASSWORD, ATRIUM_BIN, base_env, wait_until
from images_fixture import busybox_layout, oci_registry  # noqa: F401

SERVER_ENV = {"ATRIUM_IMAGES_INSECURE_REGISTRIES": "127.0.0.1:*"}  # the test's loopback registry


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



# ---------------------------------------------------------------------------- jobs


@pytest.fixture(scope="module")
def job_cli(server, tmp_path_factory):
    """A CLI logged in as admin (its own config dir) and a project to run jobs in."""
    c = Cli(server, tmp_path_factory.mktemp("cli-jobs"))
    c.run("login", "--username", "admin", "--password-stdin", stdin=ADMIN_PASSWORD + "\n")
    org = c.json("org", "create", "--slug", "cli-jobs", "--name", "CLI jobs")
    c.project = c.json("project", "create", "--org", org["id"], "--slug", "runs", "--name", "Runs")["id"]
    yield c
    c.run("job", "cancel", "--all", check=False)


def job_state(cli, job_id: str, states, timeout: float = 30) -> dict:
    """Polls `atrium job show --json` until the job is in one of states."""
    states = {states} if isinstance(states, str) else set(states)
    last = {}

    def check():
        nonlocal last
        last = cli.json("job", "show", job_id)
        return last if last["state"] in states else None

    try:
        return wait_until(check, timeout, interval=0.05, what=f"{job_id} in {sorted(states)}")
    except AssertionError as e:
        raise AssertionError(f"{e}: {last}") from None


ENDED = {"COMPLETED", "FAILED", "CANCELLED", "TIMEOUT", "OUT_OF_MEMORY", "NODE_FAIL"}


def submitted_id(p) -> str:
    line = p.stdout.strip()
    assert line.startswith("Submitted job job_"), p
    return line.rsplit(" ", 1)[1]


def test_job_submit_show_and_logs(job_cli):
    c = job_cli
    p = c.run("job", "submit", "--project", c.project, "--name", "hello", "--mem", "64M", "--time", "1:30",
              "--env", "GREETING=hi there", "--", "sh", "-c", 'echo "$GREETING"; echo oops >&2; exit 0')
    jid = submitted_id(p)
    done = job_state(c, jid, ENDED)
    assert done["state"] == "COMPLETED" and done["name"] == "hello", done
    assert done["resources"]["mem_mb"] == 64 and done["resources"]["time_limit_s"] == 90, done
    assert done["env"] == {"GREETING": "hi there"}
    assert c.run("job", "logs", jid).stdout == "hi there\n"
    assert c.run("job", "logs", jid, "--stderr").stdout == "oops\n"
    assert c.run("job", "logs", jid, "--offset", "3").stdout == "there\n"
    assert c.run("job", "logs", jid, "-f").stdout == "hi there\n"  # complete: returns at once
    text = c.run("job", "show", jid).stdout
    for want in ("state:", "COMPLETED", "exit code:", "resources:", "mem=64M", "time=1:30", "events:",
                 "PENDING -> RUNNING", "RUNNING -> COMPLETED"):
        assert want in text, (want, text)


@pytest.mark.skipif(not all(shutil.which(t) for t in ("umoci", "skopeo", "docker-registry")),
                    reason="needs umoci, skopeo and docker-registry")
def test_job_submit_on_an_image(job_cli, oci_registry, busybox_layout):
    c = job_cli
    oci_registry.push(busybox_layout, "v1", "cli/busybox")
    c.run("image", "pull", c.project, "busybox", oci_registry.ref("cli/busybox", "v1"), "--wait",
          "--wait-timeout", "60")
    jid = submitted_id(c.run("job", "submit", "--project", c.project, "--image", "busybox", "--",
                             "cat", "/etc/os-release"))
    done = job_state(c, jid, ENDED)
    assert done["state"] == "COMPLETED" and done["image"]["name"] == "busybox", done
    assert "ID=atrium-test" in c.run("job", "logs", jid).stdout
    shown = c.run("job", "show", jid).stdout
    assert re.search(rf"^image: +busybox@{done['image']['digest']}$", shown, re.M), shown
    host = submitted_id(c.run("job", "submit", "--project", c.project, "--image", "none", "--", "true"))
    assert job_state(c, host, ENDED)["image"] is None
    assert re.search(r"^image: +host root$", c.run("job", "show", host).stdout, re.M)
    bad = c.run("job", "submit", "--project", c.project, "--image", "nosuch", "--", "true", check=False)
    assert bad.returncode == 1 and "image" in bad.stderr, bad


def test_job_logs_follow_until_the_job_ends(job_cli):
    c = job_cli
    jid = submitted_id(c.run("job", "submit", "--project", c.project, "--", "sh", "-c",
                             "echo first; sleep 1; echo second"))
    p = c.run("job", "logs", "-f", jid)
    assert p.stdout == "first\nsecond\n", p
    assert c.json("job", "show", jid)["state"] == "COMPLETED"


def test_job_scripts_from_a_file_and_stdin(job_cli, tmp_path):
    c = job_cli
    f = tmp_path / "job.sh"
    f.write_text("#!/bin/sh\necho from-file\n")
    jid = submitted_id(c.run("job", "submit", "--project", c.project, "--script", str(f)))
    assert job_state(c, jid, ENDED)["state"] == "COMPLETED"
    assert c.run("job", "logs", jid).stdout == "from-file\n"
    jid = submitted_id(c.run("job", "submit", "--project", c.project, "--script", "-", stdin="echo from-stdin\n"))
    done = job_state(c, jid, ENDED)
    assert done["state"] == "COMPLETED" and done["script"] == "echo from-stdin\n"
    assert c.run("job", "logs", jid).stdout == "from-stdin\n"


def test_job_list_table_and_filters(job_cli):
    c = job_cli
    held = submitted_id(c.run("job", "submit", "--project", c.project, "--name", "waiting", "--hold", "--", "true"))
    table = c.run("job", "list").stdout.splitlines()
    assert table[0].split() == ["ID", "NAME", "STATE", "REASON", "CPUS", "MEM", "TIME", "SUBMIT"], table
    row = next(line for line in table if line.startswith(held))
    assert row.split()[1:4] == ["waiting", "PENDING", "Held"], row
    pending = c.json("job", "list", "--state", "PD")["items"]
    assert held in [j["id"] for j in pending] and all(j["state"] == "PENDING" for j in pending)
    in_project = c.json("job", "list", "--project", c.project, "--state", "pending,completed", "--all")["items"]
    assert held in [j["id"] for j in in_project]
    assert c.run("job", "list", "--state", "DONE", check=False).returncode == 2
    r = c.run("job", "release", held)
    assert r.stdout.strip() == f"Released job {held}"
    assert job_state(c, held, ENDED)["state"] == "COMPLETED"


def test_job_arrays_hold_cancel_requeue(job_cli):
    c = job_cli
    p = c.run("job", "submit", "--project", c.project, "--array", "0-2", "--", "sh", "-c",
              "echo task $SLURM_ARRAY_TASK_ID")
    line = p.stdout.strip()
    assert line.startswith("Submitted array job_") and line.endswith("(3 tasks)"), p
    array_id = line.split()[2]
    tasks = c.json("job", "list", "--array", array_id)["items"]
    assert len(tasks) == 3
    for t in tasks:
        job_state(c, t["id"], ENDED)
        assert c.run("job", "logs", t["id"]).stdout == f"task {t['array']['index']}\n"
    r = c.run("job", "requeue", tasks[0]["id"])
    assert r.stdout.strip() == f"Requeued job {tasks[0]['id']}"
    assert job_state(c, tasks[0]["id"], ENDED)["requeue_count"] == 1

    running = submitted_id(c.run("job", "submit", "--project", c.project, "--", "sleep", "60"))
    job_state(c, running, "RUNNING")
    r = c.run("job", "cancel", running)
    assert r.stdout.startswith(f"Cancelling job {running}"), r
    assert job_state(c, running, ENDED)["state"] == "CANCELLED"
    # A failure for one id is reported and the others still go ahead; exit 1.
    held = submitted_id(c.run("job", "submit", "--project", c.project, "--hold", "--", "true"))
    r = c.run("job", "release", running, held, check=False)
    assert r.returncode == 1 and "409" in r.stderr and running in r.stderr, r
    assert r.stdout.strip() == f"Released job {held}", r
    held = submitted_id(c.run("job", "submit", "--project", c.project, "--hold", "--", "true"))
    r = c.run("job", "cancel", held, "job_01AAAAAAAAAAAAAAAAAAAAAAAA", check=False)
    assert r.returncode == 1 and f"Cancelled job {held}" in r.stdout and "404" in r.stderr, r
    held2 = submitted_id(c.run("job", "submit", "--project", c.project, "--hold", "--", "true"))
    r = c.run("job", "cancel", "--all", "--project", c.project, "--state", "pending")
    assert r.stdout.startswith("Cancelled 1 job") and held2 in r.stdout, r
    assert c.json("job", "show", held2)["state"] == "CANCELLED"


def test_job_usage_and_server_errors(job_cli):
    c = job_cli
    P = ["job", "submit", "--project", c.project]
    for args in ([*P], [*P, "--mem", "0", "--", "true"], [*P, "--time", "soon", "--", "true"],
                 [*P, "--time", "0", "--", "true"], [*P, "--env", "1X=y", "--", "true"],
                 [*P, "--env", "NOVALUE", "--", "true"], [*P, "--cpus", "0", "--", "true"],
                 [*P, "--begin", "later", "--", "true"], [*P, "--script", "/nonexistent/job.sh"],
                 ["job", "cancel"], ["job", "cancel", "--state", "PENDING"], ["job", "logs", "x", "--offset", "-1"],
                 ["job", "submit", "--", "true"]):
        r = c.run(*args, check=False)
        assert r.returncode == 2, (args, r)
    r = c.run(*P, "--cpus", "100000", "--", "true", check=False)
    assert r.returncode == 1 and "400" in r.stderr, r
    r = c.run("job", "show", "job_01AAAAAAAAAAAAAAAAAAAAAAAA", check=False)
    assert r.returncode == 1 and "404" in r.stderr, r
    r = c.run("job", "logs", "job_01AAAAAAAAAAAAAAAAAAAAAAAA", check=False)
    assert r.returncode == 1 and "404" in r.stderr, r
    j = json.loads(c.run("job", "submit", "--project", c.project, "--hold", "--json", "--", "true").stdout)
    assert j["state"] == "PENDING" and j["held"] is True and j["command"] == ["true"], j
    r = json.loads(c.run("job", "cancel", j["id"], "--json").stdout)
    assert r["id"] == j["id"] and r["state"] == "CANCELLED", r

def test_partitions_and_a_jobs_partition(job_cli):
    c = job_cli
    table = c.run("partitions").stdout
    assert table.splitlines()[0].split()[:3] == ["NAME", "KIND", "CLUSTER"], table
    assert any(line.split()[:2] == ["local", "local"] and line.rstrip().endswith("*") for line in table.splitlines()), table
    assert [p["name"] for p in c.json("partitions", "--org", "cli-jobs")["items"]] == ["local"]
    r = c.run("job", "submit", "--project", c.project, "--partition", "gpu-nowhere", "--", "true", check=False)
    assert r.returncode == 1 and "400" in r.stderr and "gpu-nowhere" in r.stderr, r
    assert c.run("job", "submit", "--project", c.project, "--partition", "", "--", "true", check=False).returncode == 2
    jid = submitted_id(c.run("job", "submit", "--project", c.project, "--partition", "local", "--hold", "--", "true"))
    text = c.run("job", "show", jid).stdout
    assert "partition:" in text and "local" in text and "slurm job" not in text, text
    c.run("job", "cancel", jid)
    assert c.json("org", "compute", "cli-jobs")["effective_default_partition"] == "local"
    out = c.run("org", "compute", "cli-jobs", "--default-partition", "local").stdout
    assert "Default partition of cli-jobs: local" in out, out
    assert c.json("org", "compute", "cli-jobs")["default_partition"] == "local"
    r = c.run("org", "compute", "cli-jobs", "--default-partition", "gpu-nowhere", check=False)
    assert r.returncode == 1 and "400" in r.stderr, r


def test_logout_revokes_the_token(cli, server):
    token = json.loads((cli.config_dir / "credentials.json").read_text())["token"]
    assert server.call("GET", "/api/v1/me", token).status == 200
    cli.run("logout")
    assert not (cli.config_dir / "credentials.json").exists()
    assert server.call("GET", "/api/v1/me", token).status == 401


# ---------------------------------------------------------------------------- data


@pytest.fixture(scope="module")
def dcli(server, tmp_path_factory):
    """A CLI logged in as admin with its own config dir (the module's `cli` logs out above)."""
    c = Cli(server, tmp_path_factory.mktemp("cli-data"))
    c.run("login", "--username", "admin", "--password-stdin", stdin=ADMIN_PASSWORD + "\n")
    return c


@pytest.fixture(scope="module")
def data_project(dcli):
    dcli.json("org", "create", "--slug", "cli-data", "--name", "CLI Data")
    return dcli.json("project", "create", "--org", "cli-data", "--slug", "files", "--name", "Files")["id"]


def test_data_put_get_ls_mv_rm(dcli, data_project, tmp_path):
    src = tmp_path / "input.bin"
    src.write_bytes(os.urandom(3 * 1024 * 1024 + 17))
    p = dcli.run("data", "put", str(src), "--project", data_project, "--path", "raw/input.bin", "--chunk", "1MiB")
    assert "uploaded raw/input.bin" in p.stdout and "sha256" in p.stdout
    again = dcli.run("data", "put", str(src), "--project", data_project, "--path", "raw/input.bin", check=False)
    assert again.returncode == 1 and "exists" in again.stderr
    dcli.run("data", "put", str(src), "--project", data_project, "--path", "raw/input.bin", "--overwrite", "-q")
    out = tmp_path / "back.bin"
    p = dcli.run("data", "get", "raw/input.bin", "--project", data_project, "-o", str(out))
    assert "sha256 verified" in p.stdout and out.read_bytes() == src.read_bytes()
    assert not (tmp_path / "back.bin.part").exists()
    table = dcli.run("data", "ls", "raw", "--project", data_project).stdout
    assert "raw/input.bin" in table and str(src.stat().st_size) in table
    dcli.run("data", "mv", "raw/input.bin", "raw/renamed.bin", "--project", data_project)
    listed = dcli.json("data", "ls", "--project", data_project)
    assert [f["path"] for f in listed["items"]] == ["raw/renamed.bin"]
    dcli.run("data", "rm", "raw/renamed.bin", "--project", data_project)
    assert dcli.json("data", "ls", "--project", data_project)["items"] == []
    gone = dcli.run("data", "get", "raw/renamed.bin", "--project", data_project, "-o", str(out), check=False)
    assert gone.returncode == 1 and "HTTP 404" in gone.stderr


def test_data_put_resumes_after_being_killed(dcli, data_project, tmp_path, server):
    src = tmp_path / "big.bin"
    src.write_bytes(os.urandom(6 * 1024 * 1024))
    env = base_env(admin_password=None)
    env["ATRIUM_CONFIG_DIR"] = str(dcli.config_dir)
    env["ATRIUM_SERVER_URL"] = server.base
    args = [ATRIUM_BIN, "data", "put", str(src), "--project", data_project, "--path", "big.bin", "--chunk", "64KiB"]
    proc = subprocess.Popen(args, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    token = json.loads((dcli.config_dir / "credentials.json").read_text())["token"]

    def some_sent():
        r = server.call("GET", f"/api/v1/projects/{data_project}/uploads", token)
        items = [u for u in r.json["items"] if u["path"] == "big.bin"]
        return items and 0 < items[0]["offset"] < items[0]["size"] and items[0]

    partial = wait_until(some_sent, 30, what="the first chunks")
    proc.kill()
    proc.wait(10)
    p = dcli.run("data", "put", str(src), "--project", data_project, "--path", "big.bin", "--chunk", "1MiB")
    assert f"resuming upload {partial['id']}" in p.stderr, p.stderr
    out = tmp_path / "big.out"
    dcli.run("data", "get", "big.bin", "--project", data_project, "-o", str(out), "-q")
    assert out.read_bytes() == src.read_bytes()


def test_data_get_resumes_a_partial_download(dcli, data_project, tmp_path):
    src = tmp_path / "r.bin"
    src.write_bytes(os.urandom(200_000))
    dcli.run("data", "put", str(src), "--project", data_project, "--path", "r.bin", "-q")
    out = tmp_path / "r.out"
    (tmp_path / "r.out.part").write_bytes(src.read_bytes()[:70_000])
    p = dcli.run("data", "get", "r.bin", "--project", data_project, "-o", str(out))
    assert "resuming at" in p.stderr and out.read_bytes() == src.read_bytes()
    # A .part that does not match the file is caught by the hash check, and removed.
    (tmp_path / "r2.part").write_bytes(b"x" * 1000)
    bad = dcli.run("data", "get", "r.bin", "--project", data_project, "-o", str(tmp_path / "r2"), check=False)
    assert bad.returncode == 1 and "SHA-256" in bad.stderr and not (tmp_path / "r2.part").exists()


def test_admin_gc_dry_run(dcli):
    p = dcli.run("admin", "gc", "--dry-run")
    assert p.stdout.startswith("would collect ") and "blobs" in p.stdout
    assert dcli.json("admin", "gc", "--dry-run")["dry_run"] is True


# ---------------------------------------------------------------------------- repo


def test_repo_clone_edit_browse_protect(dcli, tmp_path):
    """`atrium repo`: clone with the stored login as git's credential helper (no token in the URL or
    .git/config), push through it, put/rm/cat/log/tree/diff/branches, protect."""
    dcli.json("org", "create", "--slug", "cli-repo", "--name", "CLI Repo")
    pid = dcli.json("project", "create", "--org", "cli-repo", "--slug", "code", "--name", "Code")["id"]
    p = dcli.run("repo", "put", "README.md", "--project", pid, "-m", "first", stdin="hello\n")
    assert "committed" in p.stdout
    first = dcli.json("repo", "info", "--project", pid)["head"]
    dcli.run("repo", "put", "src/a.py", "--project", pid, stdin="print(1)\n")
    assert dcli.run("repo", "cat", "README.md", "--project", pid).stdout == "hello\n"
    log = dcli.json("repo", "log", "--project", pid)["items"]
    assert [c["subject"] for c in log] == ["Update src/a.py", "first"]
    assert "src" in dcli.run("repo", "tree", "--project", pid).stdout
    assert "+print(1)" in dcli.run("repo", "diff", first, "main", "--project", pid).stdout
    # A stale --if-match is refused.
    stale = dcli.run("repo", "put", "README.md", "--project", pid, "--if-match", first, stdin="x\n", check=False)
    assert stale.returncode == 1 and "412" in stale.stderr

    env = {"ATRIUM_CONFIG_DIR": str(dcli.config_dir)}
    dcli.run("repo", "clone", "--project", pid, str(tmp_path / "code"))
    work = tmp_path / "code"
    assert (work / "src/a.py").read_text() == "print(1)\n"
    config = (work / ".git/config").read_text()
    assert "atp_" not in config and "repo credential" in config
    (work / "b.txt").write_text("b\n")
    g = {"GIT_AUTHOR_NAME": "T", "GIT_AUTHOR_EMAIL": "t@x", "GIT_COMMITTER_NAME": "T", "GIT_COMMITTER_EMAIL": "t@x",
         "PATH": os.environ["PATH"], "HOME": str(tmp_path), **env}
    subprocess.run(["git", "add", "b.txt"], cwd=work, env=g, check=True)
    subprocess.run(["git", "commit", "-qm", "b"], cwd=work, env=g, check=True)
    push = subprocess.run(["git", "push", "-q", "origin", "main"], cwd=work, env=g, capture_output=True, text=True)
    assert push.returncode == 0, push.stderr
    assert dcli.run("repo", "cat", "b.txt", "--project", pid).stdout == "b\n"
    dcli.run("repo", "protect", "main", "--project", pid)
    branches = dcli.json("repo", "branches", "--project", pid)["items"]
    assert branches[0]["name"] == "main" and branches[0]["protected"] is True
    dcli.run("repo", "rm", "b.txt", "--project", pid, "-m", "drop b")
    assert dcli.json("repo", "log", "--project", pid, "--limit", "1")["items"][0]["subject"] == "drop b"
    dcli.run("repo", "unprotect", "main", "--project", pid)


# ---------------------------------------------------------------------------- ORG/PROJECT names


def test_projects_and_orgs_by_name(dcli, server, tmp_path):
    """Wherever a project is named, ORG/PROJECT works as well as its id (as in git URLs and other
    forges' CLIs); orgs by slug or id."""
    org = dcli.json("org", "create", "--slug", "cli-names", "--name", "CLI Names")
    p = dcli.json("project", "create", "--org", "cli-names", "--slug", "alpha", "--name", "Alpha")
    pid = p["id"]
    assert dcli.json("project", "show", "cli-names/alpha")["id"] == pid
    assert dcli.json("project", "show", f"{org['id']}/alpha")["id"] == pid  # org by id
    assert dcli.json("project", "show", "CLI-Names/Alpha")["id"] == pid    # slugs are lower case
    assert dcli.json("project", "show", pid)["id"] == pid
    assert dcli.json("project", "update", "cli-names/alpha", "--name", "Alpha 2")["name"] == "Alpha 2"
    assert isinstance(dcli.json("project", "members", "cli-names/alpha")["items"], list)
    # Jobs, data, repository and environment commands take it too.
    jid = submitted_id(dcli.run("job", "submit", "--project", "cli-names/alpha", "--", "echo", "by-name"))
    assert job_state(dcli, jid, ENDED)["project_id"] == pid
    assert [j["id"] for j in dcli.json("job", "list", "--project", "cli-names/alpha")["items"]] == [jid]
    src = tmp_path / "n.txt"
    src.write_text("named\n")
    dcli.run("data", "put", str(src), "--project", "cli-names/alpha", "--path", "n.txt", "-q")
    assert [f["path"] for f in dcli.json("data", "ls", "--project", "cli-names/alpha")["items"]] == ["n.txt"]
    dcli.run("repo", "put", "README.md", "--project", "cli-names/alpha", "-m", "first", stdin="hi\n")
    assert dcli.run("repo", "cat", "README.md", "--project", "cli-names/alpha.git").stdout == "hi\n"
    assert dcli.json("env", "list", "--project", "cli-names/alpha")["items"] == []
    # Names that are not ORG/PROJECT nor an id are usage errors, before any request.
    for bad in ("alpha", "cli-names/", "/alpha", "cli-names/alpha/extra"):
        r = dcli.run("project", "show", bad, check=False)
        assert r.returncode == 2 and "ORG/PROJECT" in r.stderr, (bad, r.stderr)
    missing = dcli.run("project", "show", "cli-names/nope", check=False)
    assert missing.returncode == 1 and "404" in missing.stderr


def test_project_by_name_is_404_across_tenants(server, dcli, tmp_path):
    """GET /api/v1/orgs/{org}/projects/{project}: the same checks as by id; a project in an org the
    caller cannot see answers exactly like one that does not exist."""
    dcli.json("org", "create", "--slug", "cli-hidden", "--name", "Hidden")
    pid = dcli.json("project", "create", "--org", "cli-hidden", "--slug", "secret", "--name", "Secret")["id"]
    r = server.call("POST", "/api/v1/users", server.admin, json={"username": "cli-outsider",
                                                                   "password": "user-password-for-tests"})
    assert r.status == 201, r
    outsider = server.login_token("cli-outsider", "user-password-for-tests")
    admin_view = server.call("GET", "/api/v1/orgs/cli-hidden/projects/secret", server.admin)
    assert admin_view.status == 200 and admin_view.json["id"] == pid and admin_view.headers["etag"]
    hidden = server.call("GET", "/api/v1/orgs/cli-hidden/projects/secret", outsider)
    absent = server.call("GET", "/api/v1/orgs/cli-hidden/projects/nothing-here", outsider)
    no_org = server.call("GET", "/api/v1/orgs/no-such-org/projects/secret", outsider)
    shapes = []
    for r in (hidden, absent, no_org):
        assert r.status == 404, r
        j = dict(r.json)
        j.pop("request_id")
        j.pop("instance")
        shapes.append(j)
    assert shapes[0] == shapes[1] == shapes[2], shapes
    assert server.call("GET", "/api/v1/orgs/cli-hidden/projects/secret").status == 401
    # The outsider's CLI gets the same 404 it gets for a name that does not exist.
    oc = Cli(server, tmp_path / "outsider")
    oc.config_dir.mkdir()
    oc.run("login", "--username", "cli-outsider", "--password-stdin", stdin="user-password-for-tests\n")
    p = oc.run("project", "show", "cli-hidden/secret", check=False)
    assert p.returncode == 1 and "404" in p.stderr


def test_login_with_the_generated_admin_password_asks_for_a_new_one(make_server, tmp_path):
    """The first admin's one-time password must be replaced before anything else (the server
    refuses even a token): `atrium login` asks for a new one in a terminal, and says so where it
    cannot ask."""
    import pty
    import re

    srv = make_server(admin_password=None)
    generated = re.search(r"one-time password: (\S+)", "\n".join(srv.stdout_lines)).group(1)
    c = Cli(srv, tmp_path / "cfg")
    piped = c.run("login", "--username", "admin", "--password-stdin", stdin=generated + "\n", check=False)
    assert piped.returncode == 1 and "must be changed first" in piped.stderr, piped
    assert not (tmp_path / "cfg" / "credentials.json").exists()

    env = base_env(admin_password=None)
    env.update(ATRIUM_CONFIG_DIR=str(tmp_path / "cfg"), ATRIUM_SERVER_URL=srv.base)
    pid, fd = pty.fork()
    if pid == 0:  # the child: atrium login on a terminal
        os.execve(ATRIUM_BIN, [ATRIUM_BIN, "login", "--username", "admin"], env)
    out = b""
    answers = [(b"Password: ", generated), (b"New password: ", "a-new-admin-password-7"),
               (b"Repeat: ", "a-new-admin-password-7")]  # the confirmation prompt
    while True:
        try:
            chunk = os.read(fd, 4096)
        except OSError:
            break
        if not chunk:
            break
        out += chunk
        if answers and out.rstrip().endswith(answers[0][0].rstrip()):
            os.write(fd, (answers.pop(0)[1] + "\n").encode())
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0, out
    assert b"choose your own" in out and b"Logged in" in out, out
    assert c.json("whoami")["username"] == "admin"
    assert srv.login("admin", "a-new-admin-password-7").status == 200
