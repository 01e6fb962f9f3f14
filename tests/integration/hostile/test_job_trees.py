"""Hostile tenants against the trees the server works in as root for jobs: the job's workspace
(made again, and the project's code checked out into it, when a job is requeued), the capture of
its outputs, and the plaintext copies of the dataset versions it mounts.

Each test plants what a job can plant (symlinks to host paths, FIFOs, leftovers) from inside the
job itself, then makes the server act on that tree again (requeue, output capture, job end,
restart), and checks that nothing outside the tree changed and nothing is left for another uid.
"""
from __future__ import annotations

import hashlib
import os
import stat
from pathlib import Path

import pytest

from conftest import USER_PASSWORD, Server, add_member, create_user, wait_until

COMPUTE_ENV = {
    "ATRIUM_COMPUTE_CPUS": "4",
    "ATRIUM_COMPUTE_MEM_MB": "4096",
    "ATRIUM_COMPUTE_GPUS": "0",
    "ATRIUM_COMPUTE_KILL_GRACE_S": "1",
}
TERMINAL = {"COMPLETED", "FAILED", "CANCELLED", "TIMEOUT", "OUT_OF_MEMORY", "NODE_FAIL"}


class Site:
    """One server with an org, and two users (the admin and `other`) who may run jobs in it."""

    def __init__(self, srv: Server):
        self.srv = srv
        self.admin = srv.admin_token()
        r = srv.call("POST", "/api/v1/orgs", self.admin, json={"slug": "trees", "name": "Trees"})
        assert r.status == 201, r
        self.org = r.json["id"]
        u = create_user(srv, self.admin, "trees-other")
        add_member(srv, self.admin, self.org, u["id"], "org-admin")
        self.other = srv.login_token("trees-other", USER_PASSWORD)
        self.n = 0

    def project(self) -> str:
        self.n += 1
        r = self.srv.call("POST", f"/api/v1/orgs/{self.org}/projects", self.admin,
                          json={"slug": f"p{self.n}", "name": f"P{self.n}", "visibility": "org"})
        assert r.status == 201, r
        return r.json["id"]

    def submit(self, pid: str, token: str | None = None, **body) -> dict:
        body.setdefault("time_limit_s", 120)
        body.setdefault("mem_mb", 256)
        r = self.srv.call("POST", f"/api/v1/projects/{pid}/jobs", token or self.admin, json=body)
        assert r.status == 201, r
        return r.json

    def job(self, jid: str, token: str | None = None) -> dict:
        r = self.srv.call("GET", f"/api/v1/jobs/{jid}", token or self.admin)
        assert r.status == 200, r
        return r.json

    def wait(self, jid: str, states, token: str | None = None, timeout: float = 60) -> dict:
        states = {states} if isinstance(states, str) else set(states)

        def check():
            j = self.job(jid, token)
            captured = (j.get("outputs") or {}).get("capture") != "pending"  # captured by a task after the end
            return j if j["state"] in states and captured else None

        return wait_until(check, timeout, interval=0.05, what=f"job {jid} in {sorted(states)}")

    def log(self, jid: str, token: str | None = None, stream: str = "stdout") -> str:
        r = self.srv.raw("GET", f"/api/v1/jobs/{jid}/logs?stream={stream}",
                         headers={"Authorization": f"Bearer {token or self.admin}"})
        assert r.status == 200, r
        return r.body.decode(errors="replace")

    def commit(self, pid: str, path: str, content: str, parent: str | None = None) -> str:
        h = {"If-Match": f'"{parent}"'} if parent else {"If-None-Match": "*"}
        r = self.srv.call("PUT", f"/api/v1/projects/{pid}/repo/files/{path}", self.admin,
                          json={"branch": "main", "content": content}, headers=h)
        assert r.status == 201, r
        return r.json["commit"]

    def upload(self, pid: str, path: str, data: bytes):
        r = self.srv.call("POST", f"/api/v1/projects/{pid}/uploads", self.admin, json={"path": path, "size": len(data)})
        assert r.status == 201, r
        uid = r.json["id"]
        r = self.srv.call("PATCH", f"/api/v1/uploads/{uid}", self.admin, body=data,
                          headers={"Upload-Offset": "0", "Content-Type": "application/offset+octet-stream"})
        assert r.status == 200, r
        r = self.srv.call("POST", f"/api/v1/uploads/{uid}/complete", self.admin,
                          json={"sha256": hashlib.sha256(data).hexdigest()})
        assert r.status == 201, r

    def dataset(self, pid: str, name: str, files: dict[str, bytes]) -> dict:
        for path, data in files.items():
            self.upload(pid, f"{name}-in/{path}", data)
        r = self.srv.call("POST", f"/api/v1/projects/{pid}/datasets", self.admin, json={"name": name})
        assert r.status == 201, r
        ds = r.json
        r = self.srv.call("POST", f"/api/v1/datasets/{ds['id']}/versions", self.admin, json={"prefix": f"{name}-in"})
        assert r.status == 201, r
        return ds


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    srv = Server(tmp_path_factory.mktemp("trees"), env=COMPUTE_ENV).start()
    try:
        yield Site(srv)
    finally:
        if srv.running():
            try:
                srv.stop(30)
            except AssertionError:
                srv.kill9()


def victim(tmp_path: Path) -> tuple[Path, Path, dict]:
    """A host directory and file that only root may change; what they look like now."""
    d = tmp_path / "victim"
    d.mkdir()
    f = d / "file"
    f.write_text("the host's own\n")
    os.chmod(d, 0o755)
    os.chmod(f, 0o644)
    return d, f, snapshot(d)


def snapshot(d: Path) -> dict:
    out = {}
    for p in [d, *sorted(d.rglob("*"))]:
        st = os.lstat(p)
        out[str(p)] = (st.st_uid, st.st_gid, stat.S_IMODE(st.st_mode), p.read_bytes() if p.is_file() else None)
    return out


# ---------------------------------------------------------------------------- the workspace and the checkout


def test_symlinks_planted_in_the_workspace_do_not_redirect_a_requeued_checkout(site, tmp_path):
    """The job replaces the checkout's directory and file with symlinks to a host directory and file,
    and leaves a symlink, a FIFO and a file of its own; it is requeued: root makes the workspace
    again, checks the code out into it and hands it to the job's uid. Nothing reaches the host paths,
    and the second run starts from the commit alone."""
    vdir, vfile, before = victim(tmp_path)
    pid = site.project()
    c1 = site.commit(pid, "code/run.sh", "echo from-the-commit\n")
    site.commit(pid, "top.txt", "top of the commit\n", parent=c1)
    script = (
        "echo LISTING; ls -A; ls -A code; cat top.txt; echo END\n"
        f"rm -rf code && ln -s {vdir} code\n"
        f"rm -f top.txt && ln -s {vfile} top.txt\n"
        f"ln -s {vdir} extra; ln -s / rootlink; mkfifo fifo; echo mine > planted\n"
    )
    j = site.submit(pid, script=script)
    first = site.wait(j["id"], TERMINAL)
    assert first["state"] == "COMPLETED", (first, site.log(j["id"], stream="stderr"))
    r = site.srv.call("POST", f"/api/v1/jobs/{j['id']}/requeue", site.admin)
    assert r.status == 200, r
    second = site.wait(j["id"], TERMINAL)
    out = site.log(j["id"])
    assert second["state"] == "COMPLETED", (second, out, site.log(j["id"], stream="stderr"))
    listing = out.split("LISTING\n", 1)[1].split("END\n", 1)[0].splitlines()
    # A fresh checkout: the commit's files, nothing the first run left.
    assert listing == ["code", "top.txt", "run.sh", "top of the commit"], out
    assert snapshot(vdir) == before  # nothing written, chowned or chmodded through the links
    # The workspace as the server left it: every entry the job's, none a link outside it.
    ws = site.srv.data_dir / "jobs" / j["id"] / "workspace"
    st = os.lstat(ws)
    assert stat.S_IMODE(st.st_mode) == 0o700 and st.st_uid != 0


# ---------------------------------------------------------------------------- outputs


def test_capture_takes_no_links_fifos_or_devices_and_reads_nothing_outside(site, tmp_path):
    """The job declares outputs and fills them with links to host files and directories, a FIFO
    (an open() on it would block the capture forever) and a hard-to-read file; only its own regular
    files are captured."""
    vdir, vfile, before = victim(tmp_path)
    pid = site.project()
    script = (
        "mkdir -p out/sub && echo good > out/good.csv && echo deep > out/sub/deep.csv\n"
        f"ln -s {vfile} out/link.csv; ln -s {vdir} out/dirlink; ln -s /etc/shadow out/shadow.csv\n"
        "mkfifo out/pipe.csv; mkfifo out/sub/pipe.csv; echo secret > out/closed.csv; chmod 000 out/closed.csv\n"
    )
    j = site.submit(pid, script=script, outputs={"dataset": "results", "paths": ["out/*.csv", "out/*/*.csv"]})
    done = site.wait(j["id"], TERMINAL)
    assert done["state"] == "COMPLETED", done
    ds = next(d for d in site.srv.call("GET", f"/api/v1/projects/{pid}/datasets", site.admin).json["items"]
              if d["name"] == "results")
    v = site.srv.call("GET", f"/api/v1/datasets/{ds['id']}", site.admin).json["versions"][0]
    assert "capture_error" not in v["provenance"], v
    files = site.srv.call("GET", f"/api/v1/datasets/{ds['id']}/versions/1/files", site.admin).json["items"]
    assert [f["path"] for f in files] == ["out/closed.csv", "out/good.csv", "out/sub/deep.csv"]
    assert snapshot(vdir) == before


# ---------------------------------------------------------------------------- materialised datasets


def copies_of(srv: Server) -> list[Path]:
    d = srv.data_dir / "datasets"
    return sorted(d.iterdir()) if d.is_dir() else []


def test_materialised_datasets_are_readable_only_by_the_jobs_uid_and_gone_after_it(site):
    """Two users' jobs mount one dataset version: each gets a copy only its uid can read (root-owned,
    so that uid cannot change it either), under a directory nobody else may list; each copy goes
    when its job ends."""
    pid = site.project()
    ds = site.dataset(pid, "survey", {"a.txt": b"private rows\n", "deep/b.txt": b"more\n"})
    script = "cat /data/survey/a.txt /data/survey/deep/b.txt; echo READ; sleep 300"
    a = site.submit(pid, script=script, datasets=["survey"])
    b = site.submit(pid, site.other, script=script, datasets=["survey"])
    for j, tok in ((a, site.admin), (b, site.other)):
        site.wait(j["id"], "RUNNING", tok)
        wait_until(lambda: "READ" in site.log(j["id"], tok), 30, what="the job to read its dataset")
        assert site.log(j["id"], tok) == "private rows\nmore\nREAD\n"
    parent = site.srv.data_dir / "datasets"
    pst = os.stat(parent)
    assert pst.st_uid == 0 and stat.S_IMODE(pst.st_mode) & 0o077 == 0o011, oct(pst.st_mode)  # 0711: no listing
    copies = copies_of(site.srv)
    assert len(copies) == 2, copies  # one per uid
    gids = set()
    for c in copies:
        for p in [c, *c.rglob("*")]:
            st = os.lstat(p)
            assert not stat.S_ISLNK(st.st_mode)
            assert st.st_uid == 0, (p, st.st_uid)  # the job's uid cannot chmod or rewrite it
            assert st.st_mode & 0o007 == 0, (p, oct(st.st_mode))  # nothing for other uids
            assert stat.S_IMODE(st.st_mode) == (0o550 if p.is_dir() else 0o440), (p, oct(st.st_mode))
            gids.add(st.st_gid)
    assert len(gids) == 2 and 0 not in gids, gids  # each copy's group is its job's uid
    # One job ends: its copy goes, the other job's stays.
    assert site.srv.call("POST", f"/api/v1/jobs/{a['id']}/cancel", site.admin).status == 200
    site.wait(a["id"], TERMINAL)
    wait_until(lambda: len(copies_of(site.srv)) == 1, 30, what="the ended job's copy to go")
    assert site.srv.call("POST", f"/api/v1/jobs/{b['id']}/cancel", site.other).status == 200
    site.wait(b["id"], TERMINAL, site.other)
    wait_until(lambda: not copies_of(site.srv), 30, what="the last copy to go")
    assert site.srv.call("POST", "/api/v1/admin/gc", site.admin, json={"dry_run": True}).json["materialized"] == 0


def test_leftover_plaintext_copies_are_removed_at_startup(make_server):
    """A crash leaves decrypted copies behind (and an older server left world-readable ones):
    the next start removes every copy no running job mounts."""
    srv = make_server(env=COMPUTE_ENV)
    srv.stop()
    d = srv.data_dir / "datasets"
    for rel in ("dst_old/1/a.txt", "dst_x.3.2000001/a.txt", ".tmp-abc/b.txt"):
        p = d / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text("plaintext\n")
        p.chmod(0o444)
    srv.start()
    assert copies_of(srv) == []
