"""Image imports through a real server: an Apptainer .sif (made by sif_fixture around a real
mksquashfs image), a bare squashfs and an OCI archive, uploaded into the project's files, then
POST /projects/{id}/images/import. A SIF-imported image runs a job. Hostile files: a squashfs with
a device node, a setuid-root binary and links to host paths (neutralised; no link followed), a
truncated SIF and one whose descriptor points past the end (failed, nothing stored), an OCI archive
whose layer holds `..` and absolute member paths and a device node (nothing escapes the image's
directory), and the bad requests answered 4xx at once with nothing stored.
"""
from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import stat
import subprocess
import tarfile
from pathlib import Path

import pytest

import sif_fixture
from conftest import ATRIUM_BIN, World, base_env, is_problem, wait_until
from images_fixture import build_oci_image, busybox_rootfs
from test_data import upload

pytestmark = pytest.mark.skipif(not all(shutil.which(t) for t in ("umoci", "mksquashfs", "unsquashfs", "skopeo")),
                                reason="needs umoci, squashfs-tools and skopeo")

ENDED = ("COMPLETED", "FAILED", "CANCELLED", "TIMEOUT", "NODE_FAIL", "OUT_OF_MEMORY")


@pytest.fixture(scope="module")
def srv(server):
    return server


@pytest.fixture(scope="module")
def w(srv) -> World:
    return World(srv, srv.admin, prefix="ii-")


def sha256(b: bytes) -> str:
    return "sha256:" + hashlib.sha256(b).hexdigest()


def import_file(srv, tok, pid, name, path, **extra):
    return srv.call("POST", f"/api/v1/projects/{pid}/images/import", tok, json={"name": name, "file": path, **extra})


def settled(srv, tok, image_id) -> dict:
    def done():
        r = srv.call("GET", f"/api/v1/images/{image_id}", tok)
        assert r.status == 200, r
        return r.json if r.json["state"] != "pending" else None
    return wait_until(done, 60, 0.05, f"image {image_id} to be imported")


def roots(srv) -> set[str]:
    d = srv.data_dir / "images" / "roots"
    return {p.name for p in d.iterdir()} if d.exists() else set()


def work_dirs(srv) -> list[str]:
    """The import work directories left (an import's goes just after its image is ready)."""
    d = srv.data_dir / "images" / "tmp"
    left = lambda: [p.name for p in d.iterdir()] if d.exists() else []  # noqa: E731
    try:
        wait_until(lambda: not left(), 10, 0.02, "the work directories to go")
    except AssertionError:
        pass
    return left()


def squashfs_of(tmp: Path, src: Path) -> bytes:
    return sif_fixture.mksquashfs(src, tmp / (src.name + ".sqfs"))


@pytest.fixture(scope="module")
def busybox_sqfs(tmp_path_factory) -> bytes:
    tmp = tmp_path_factory.mktemp("sqfs")
    return squashfs_of(tmp, busybox_rootfs(tmp / "busybox"))


def test_a_sif_import_runs_a_job_and_a_squashfs_of_it_is_stored_once(srv, w, busybox_sqfs):
    m = w.a.users["member"]
    pid = w.a.org_project["id"]
    upload(srv, m.token, pid, "envs/busybox.sif", sif_fixture.wrap(busybox_sqfs))
    r = import_file(srv, m.token, pid, "bb-sif", "envs/busybox.sif")
    assert r.status == 202, r
    assert r.json["state"] == "pending" and r.json["source"] == "sif:envs/busybox.sif"
    im = settled(srv, m.token, r.json["id"])
    assert im["state"] == "ready", im
    assert im["digest"] == sha256(busybox_sqfs)  # the squashfs partition's bytes, not the SIF's
    assert im["software"]["os"]["ID"] == "atrium-test" and im["size_bytes"] > 500_000
    rootfs = srv.data_dir / "images" / "roots" / im["digest"][7:] / "rootfs"
    assert "ID=atrium-test" in (rootfs / "etc" / "os-release").read_text()
    assert os.stat(rootfs).st_uid == os.geteuid() and stat.S_IMODE(os.stat(rootfs).st_mode) == 0o755

    # The same squashfs uploaded bare (format read from its magic): the same digest, stored once.
    before = roots(srv)
    upload(srv, m.token, pid, "envs/busybox.sqfs", busybox_sqfs)
    r = import_file(srv, m.token, pid, "bb-sqfs", "envs/busybox.sqfs")
    assert r.status == 202 and r.json["source"] == "squashfs:envs/busybox.sqfs", r
    assert settled(srv, m.token, r.json["id"])["digest"] == im["digest"]
    assert roots(srv) == before and work_dirs(srv) == []

    # A job on it sees the image's /etc/os-release, not the host's.
    r = srv.call("POST", f"/api/v1/projects/{pid}/jobs", m.token,
                 json={"command": ["cat", "/etc/os-release"], "image": "bb-sif", "time_limit_s": 60})
    assert r.status == 201, r
    assert r.json["image"]["digest"] == im["digest"]
    jid = r.json["id"]
    job = wait_until(lambda: (j := srv.call("GET", f"/api/v1/jobs/{jid}", m.token).json)["state"] in ENDED and j,
                     60, 0.05, "the job to end")
    assert job["state"] == "COMPLETED", job
    out = srv.raw("GET", f"/api/v1/jobs/{jid}/logs", headers={"Authorization": f"Bearer {m.token}"}).body.decode()
    assert "ID=atrium-test" in out, out


def test_a_hostile_squashfs_is_neutralised_and_no_link_is_followed(srv, w, tmp_path):
    canary = tmp_path / "canary"
    canary.write_text("host file")
    os.chmod(canary, 0o600)
    before = os.stat(canary)
    src = busybox_rootfs(tmp_path / "hostile")
    os.mknod(src / "dev" / "evil-mem", 0o666 | stat.S_IFCHR, os.makedev(1, 1))
    (src / "bin" / "suid-sh").write_bytes(b"#!/bin/sh\n")
    os.chown(src / "bin" / "suid-sh", 0, 0)
    os.chmod(src / "bin" / "suid-sh", 0o4755)
    (src / "etc" / "shadow-link").symlink_to("/etc/shadow")
    (src / "etc" / "canary-link").symlink_to(canary)
    (src / "host-tmp").symlink_to(tmp_path)
    sq = squashfs_of(tmp_path, src)
    oa = w.a.users["org-admin"]
    pid = w.a.project["id"]
    upload(srv, oa.token, pid, "hostile.sif", sif_fixture.wrap(sq))
    r = import_file(srv, oa.token, pid, "hostile", "hostile.sif", format="sif")
    assert r.status == 202, r
    im = settled(srv, oa.token, r.json["id"])
    assert im["state"] == "ready", im
    rootfs = srv.data_dir / "images" / "roots" / im["digest"][7:] / "rootfs"
    assert not os.path.lexists(rootfs / "dev" / "evil-mem")
    assert stat.S_IMODE(os.stat(rootfs / "bin" / "suid-sh").st_mode) == 0o755
    assert os.readlink(rootfs / "etc" / "shadow-link") == "/etc/shadow"
    assert os.readlink(rootfs / "etc" / "canary-link") == str(canary)
    for dirpath, dirnames, filenames in os.walk(rootfs):
        for n in dirnames + filenames:
            st = os.lstat(os.path.join(dirpath, n))
            assert st.st_uid == os.geteuid() and not st.st_mode & (stat.S_ISUID | stat.S_ISGID), (dirpath, n)
            assert stat.S_ISDIR(st.st_mode) or stat.S_ISREG(st.st_mode) or stat.S_ISLNK(st.st_mode), (dirpath, n)
    after = os.stat(canary)
    assert (after.st_mode, after.st_uid, after.st_gid, after.st_mtime_ns) == \
        (before.st_mode, before.st_uid, before.st_gid, before.st_mtime_ns)
    assert canary.read_text() == "host file"
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["canary", "hostile", "hostile.sqfs"])


def test_a_damaged_sif_fails_and_stores_nothing(srv, w, busybox_sqfs):
    m = w.a.users["member"]
    pid = w.a.org_project["id"]
    good = sif_fixture.wrap(busybox_sqfs)
    off, size = sif_fixture.partition(good)
    cases = {
        "truncated.sif": (good[:off + 4096], "outside the file"),
        "past-end.sif": (sif_fixture.set_partition(good, off, len(good)), "outside the file"),
        "overflow.sif": (sif_fixture.set_partition(good, 2**63 - 10, 100), "outside the file"),
        "no-root.sif": (sif_fixture.wrap(busybox_sqfs, parttype=4), "no squashfs system partition"),
        "header-only.sif": (good[:200], "descriptor table lies outside"),
    }
    before = roots(srv)
    for path, (data, words) in cases.items():
        upload(srv, m.token, pid, path, data)
        r = import_file(srv, m.token, pid, path.replace(".", "-"), path)
        assert r.status == 202, (path, r)
        im = settled(srv, m.token, r.json["id"])
        assert im["state"] == "failed" and words in im["error"], (path, im)
        assert not im["digest"], (path, im)
    # A squashfs cut short: unsquashfs cannot read it.
    upload(srv, m.token, pid, "cut.sqfs", busybox_sqfs[:len(busybox_sqfs) // 2])
    im = settled(srv, m.token, import_file(srv, m.token, pid, "cut", "cut.sqfs").json["id"])
    assert im["state"] == "failed" and im["error"], im
    assert roots(srv) == before and work_dirs(srv) == []


def test_bad_requests_are_refused_at_once_and_store_nothing(srv, w, busybox_sqfs):
    m, viewer = w.a.users["member"], w.a.users["viewer"]
    pid = w.a.org_project["id"]
    upload(srv, m.token, pid, "notes.txt", b"just some text, no image here\n" * 40)
    upload(srv, m.token, pid, "img.sqfs", busybox_sqfs)
    url = f"/api/v1/projects/{pid}/images"
    before = srv.call("GET", url, m.token).json["items"]
    for body, status, field in [
        ({"name": "x", "file": "missing.sif"}, 400, "file"),
        ({"name": "x", "file": "../etc/passwd"}, 400, "file"),
        ({"name": "x", "file": "notes.txt"}, 400, "file"),
        ({"name": "x", "file": "img.sqfs", "format": "sif"}, 400, "format"),
        ({"name": "x", "file": "img.sqfs", "format": "tarball"}, 400, "format"),
        ({"name": "Bad Name!", "file": "img.sqfs"}, 400, "name"),
        ({"file": "img.sqfs"}, 400, None),
    ]:
        r = srv.call("POST", url + "/import", m.token, json=body)
        assert is_problem(r, status), (body, r)
        if field:
            assert r.json.get("field") == field, (body, r.json)
    assert is_problem(import_file(srv, viewer.token, pid, "x", "img.sqfs"), 403)
    # Another org's member, and a stranger's bad body: 404 (the project is not theirs to know).
    stranger = w.b.users["org-admin"].token
    assert is_problem(import_file(srv, stranger, pid, "x", "img.sqfs"), 404)
    assert is_problem(srv.call("POST", url + "/import", stranger, json={"nonsense": 1}), 404)
    assert srv.call("GET", url, m.token).json["items"] == before


def oci_archive(tmp: Path, layer_members: list[tuple[tarfile.TarInfo, bytes | None]]) -> bytes:
    """An oci-archive made by hand: one uncompressed layer tar holding `layer_members`, its config and
    manifest as blobs, index.json and oci-layout, all tarred."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as t:
        for info, data in layer_members:
            t.addfile(info, io.BytesIO(data) if data is not None else None)
    layer = buf.getvalue()
    config = json.dumps({"architecture": "amd64", "os": "linux", "config": {"Cmd": ["/bin/sh"]},
                         "rootfs": {"type": "layers", "diff_ids": [sha256(layer)]}}).encode()
    manifest = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                           "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                                      "digest": sha256(config), "size": len(config)},
                           "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar",
                                       "digest": sha256(layer), "size": len(layer)}]}).encode()
    index = json.dumps({"schemaVersion": 2, "manifests": [
        {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": sha256(manifest),
         "size": len(manifest)}]}).encode()
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w") as t:
        files = {"oci-layout": b'{"imageLayoutVersion":"1.0.0"}', "index.json": index}
        for blob in (layer, config, manifest):
            files["blobs/sha256/" + sha256(blob)[7:]] = blob
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            t.addfile(info, io.BytesIO(data))
    return out.getvalue()


def member(name: str, data: bytes | None = None, kind: bytes = tarfile.REGTYPE, mode: int = 0o644,
           link: str = "") -> tuple[tarfile.TarInfo, bytes | None]:
    info = tarfile.TarInfo(name)
    info.type, info.mode, info.linkname = kind, mode, link
    if data is not None:
        info.size = len(data)
    if kind == tarfile.CHRTYPE:
        info.devmajor, info.devminor = 1, 1
    return info, data


def test_an_oci_archive_imports_and_a_hostile_layer_escapes_nothing(srv, w, tmp_path):
    oa = w.a.users["org-admin"]
    pid = w.a.project["id"]
    # A well-formed archive, as skopeo writes it: the manifest digest names the image.
    layout = build_oci_image(busybox_rootfs(tmp_path / "bb"), tmp_path / "layout", "v1")
    subprocess.run(["skopeo", "copy", "-q", f"oci:{layout}:v1", f"oci-archive:{tmp_path / 'bb.tar'}"], check=True)
    digest = json.loads((layout / "index.json").read_text())["manifests"][0]["digest"]
    upload(srv, oa.token, pid, "bb.tar", (tmp_path / "bb.tar").read_bytes())
    r = import_file(srv, oa.token, pid, "bb-oci", "bb.tar")
    assert r.status == 202 and r.json["source"] == "oci-archive:bb.tar", r
    im = settled(srv, oa.token, r.json["id"])
    assert im["state"] == "ready" and im["digest"] == digest, im
    assert im["software"]["os"]["ID"] == "atrium-test"

    # The attack: a layer with `..` and absolute member names aimed at a host directory, a device
    # node, a setuid file, and a symlink to the host directory with a member written through it.
    target = tmp_path / "target"
    target.mkdir()
    hostile = oci_archive(tmp_path, [
        member("etc/"[:-1], None, tarfile.DIRTYPE, 0o755),
        member("etc/os-release", b"ID=hostile\n"),
        member("../../../../../../.." + str(target / "dotdot"), b"escaped"),
        member(str(target / "absolute"), b"escaped"),
        member("dev/evil-mem", None, tarfile.CHRTYPE, 0o666),
        member("bin/suid", b"#!/bin/sh\n", mode=0o4755),
        member("out", None, tarfile.SYMTYPE, link=str(target)),
        member("out/through-link", b"escaped"),
    ])
    upload(srv, oa.token, pid, "hostile.tar", hostile)
    r = import_file(srv, oa.token, pid, "hostile-oci", "hostile.tar", format="oci-archive")
    assert r.status == 202, r
    im = settled(srv, oa.token, r.json["id"])
    assert list(target.iterdir()) == [], list(target.iterdir())
    if im["state"] == "ready":  # neutralised rather than refused: check what was stored
        rootfs = srv.data_dir / "images" / "roots" / im["digest"][7:] / "rootfs"
        dev = rootfs / "dev" / "evil-mem"
        assert not os.path.lexists(dev) or stat.S_ISREG(os.lstat(dev).st_mode), "a device node was kept"
        for dirpath, dirnames, filenames in os.walk(rootfs):
            for n in dirnames + filenames:
                st = os.lstat(os.path.join(dirpath, n))
                assert not st.st_mode & (stat.S_ISUID | stat.S_ISGID), (dirpath, n)
    else:
        assert im["state"] == "failed" and im["error"], im
    assert work_dirs(srv) == []

    # An archive that is not an OCI layout, and one that is not a tar at all past its header.
    upload(srv, oa.token, pid, "plain.tar", _tar({"hello.txt": b"hi"}))
    im = settled(srv, oa.token, import_file(srv, oa.token, pid, "plain", "plain.tar").json["id"])
    assert im["state"] == "failed" and "index.json" in im["error"], im


def _tar(files: dict[str, bytes]) -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w") as t:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            t.addfile(info, io.BytesIO(data))
    return out.getvalue()


def test_cli_uploads_then_imports_and_waits(srv, w, busybox_sqfs, tmp_path):
    env = base_env(admin_password=None)
    env.update(ATRIUM_CONFIG_DIR=str(tmp_path / "cfg"), ATRIUM_SERVER_URL=srv.base,
               ATRIUM_TOKEN=w.a.users["org-admin"].token)
    local = tmp_path / "local.sif"
    local.write_bytes(sif_fixture.wrap(busybox_sqfs))
    project = f"{w.a.slug}/{w.a.project['slug']}"
    p = subprocess.run([ATRIUM_BIN, "image", "import", project, "cli-sif", "envs/cli.sif", "--upload", str(local),
                        "--wait", "--json"], capture_output=True, text=True, env=env, timeout=60)
    assert p.returncode == 0, (p.stdout, p.stderr)
    im = json.loads(p.stdout)
    assert im["state"] == "ready" and im["digest"] == sha256(busybox_sqfs) and im["source"] == "sif:envs/cli.sif"
    # A file that is no image: refused at once, the CLI says why and fails.
    (tmp_path / "notes.txt").write_text("no image\n" * 100)
    p = subprocess.run([ATRIUM_BIN, "image", "import", project, "cli-bad", "notes.txt", "--upload",
                        str(tmp_path / "notes.txt")], capture_output=True, text=True, env=env, timeout=60)
    assert p.returncode != 0 and "not a SIF, squashfs or OCI archive" in p.stderr, (p.stdout, p.stderr)
