"""Images through a real server against a real registry (docker-registry started by the test, images
built with umoci): pulls by tag and by digest, refusals that store nothing, private registries with
org credentials, quotas, the project default, org-wide images, removal with garbage collection,
neutralised device nodes and setuid files, and tenant isolation.
"""
from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import time
from pathlib import Path

import pytest

from conftest import ATRIUM_BIN, World, base_env, is_problem, wait_until
from images_fixture import (REGISTRY_PASSWORD, REGISTRY_USER, build_oci_image, busybox_layout,  # noqa: F401
                            busybox_rootfs, oci_registry, oci_registry_auth)

pytestmark = pytest.mark.skipif(not all(shutil.which(t) for t in ("umoci", "skopeo", "docker-registry")),
                                reason="needs umoci, skopeo and docker-registry")

ZERO = "sha256:" + "0" * 64


SERVER_ENV = {"ATRIUM_IMAGES_INSECURE_REGISTRIES": "127.0.0.1:*",  # the test registry: plain HTTP on loopback
              "ATRIUM_COMPUTE_CPUS": "2", "ATRIUM_COMPUTE_MEM_MB": "2048", "ATRIUM_COMPUTE_GPUS": "0",
              "ATRIUM_COMPUTE_KILL_GRACE_S": "1"}


@pytest.fixture(scope="module")
def srv(server):
    return server


@pytest.fixture(scope="module")
def w(srv) -> World:
    return World(srv, srv.admin, prefix="im-")


@pytest.fixture(scope="module")
def busybox(oci_registry, busybox_layout) -> str:
    """The busybox image's digest, pushed as test/busybox:v1."""
    return oci_registry.push(busybox_layout, "v1", "test/busybox")


def variant(tmp: Path, tag: str, extra: dict[str, bytes] | None = None) -> Path:
    """A busybox layout with extra files: another digest."""
    root = busybox_rootfs(tmp / f"root-{tag}")
    for rel, data in (extra or {"etc/variant": tag.encode()}).items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(data)
    return build_oci_image(root, tmp / f"layout-{tag}", tag)


def pull(srv, tok, pid, name, source, **extra):
    return srv.call("POST", f"/api/v1/projects/{pid}/images", tok, json={"name": name, "source": source, **extra})


def ready(srv, tok, image_id) -> dict:
    def done():
        r = srv.call("GET", f"/api/v1/images/{image_id}", tok)
        assert r.status == 200, r
        return r.json if r.json["state"] != "pending" else None
    return wait_until(done, 60, 0.05, f"image {image_id} to be pulled")


def roots(srv) -> set[str]:
    d = srv.data_dir / "images" / "roots"
    return {p.name for p in d.iterdir()} if d.exists() else set()


def images_of(srv, tok, pid) -> list[dict]:
    r = srv.call("GET", f"/api/v1/projects/{pid}/images", tok)
    assert r.status == 200, r
    return r.json["items"]


def test_pull_by_tag_then_the_same_digest_again_instantly(srv, w, oci_registry, busybox):
    m = w.a.users["member"]
    pid = w.a.org_project["id"]
    r = pull(srv, m.token, pid, "busybox", oci_registry.ref("test/busybox", "v1"))
    assert r.status == 202, r
    assert r.json["state"] == "pending" and r.json["digest"] == busybox
    im = ready(srv, m.token, r.json["id"])
    assert im["state"] == "ready", im
    assert im["software"]["os"]["ID"] == "atrium-test", im
    assert im["software"]["os"]["PRETTY_NAME"] == "Atrium test image"
    assert im["size_bytes"] > 500_000 and im["ref"] == f"busybox@{busybox}"
    root = srv.data_dir / "images" / "roots" / busybox[7:] / "rootfs"
    assert "ID=atrium-test" in (root / "etc" / "os-release").read_text()
    st = os.stat(root)
    assert stat.S_IMODE(st.st_mode) == 0o755 and (os.geteuid() != 0 or st.st_uid == 0)
    assert stat.S_IMODE(os.stat(srv.data_dir / "images").st_mode) == 0o700

    # The same digest under another name (host/repo@digest, docker:// implied): ready at once,
    # nothing fetched from the registry but its manifest.
    blobs_before = oci_registry.blob_gets()
    src = f"{oci_registry.host}/test/busybox@{busybox}"
    t0 = time.monotonic()
    r = pull(srv, m.token, pid, "busybox-pinned", src)
    elapsed = time.monotonic() - t0
    assert r.status == 201, r
    assert r.json["state"] == "ready" and r.json["digest"] == busybox
    assert r.json["software"]["os"]["ID"] == "atrium-test"
    assert oci_registry.blob_gets() == blobs_before
    assert elapsed < 2.0, elapsed
    names = {i["name"]: i for i in images_of(srv, m.token, pid)}
    assert {"busybox", "busybox-pinned"} <= set(names)
    assert names["busybox-pinned"]["source"] == f"docker://{src}"
    # The name is taken now.
    assert is_problem(pull(srv, m.token, pid, "busybox", src), 409)


def run_job(srv, tok, pid, **body) -> dict:
    body = {"time_limit_s": 60, "mem_mb": 128, **body}
    r = srv.call("POST", f"/api/v1/projects/{pid}/jobs", tok, json=body)
    assert r.status == 201, r
    return wait_until(lambda: (j := srv.call("GET", f"/api/v1/jobs/{r.json['id']}", tok).json)["state"]
                      in ("COMPLETED", "FAILED", "CANCELLED", "TIMEOUT") and j, 60, 0.05, "the job to end")


def test_a_job_runs_on_the_image_and_sees_its_os_release(srv, w, busybox):
    m = w.a.users["member"]
    pid = w.a.org_project["id"]
    j = run_job(srv, m.token, pid, command=["cat", "/etc/os-release"], image="busybox")
    assert j["state"] == "COMPLETED", j
    assert j["image"]["digest"] == busybox and j["image"]["name"] == "busybox"
    out = srv.call("GET", f"/api/v1/jobs/{j['id']}/logs?stream=stdout", m.token).text
    assert "ID=atrium-test" in out and "Atrium test image" in out, out
    # A digest the project cannot see, or a name it does not have: refused, nothing runs.
    for bad in ("sha256:" + "1" * 64, "no-such-image", f"busybox@{ZERO}"):
        r = srv.call("POST", f"/api/v1/projects/{pid}/jobs", m.token, json={"command": ["true"], "image": bad})
        assert r.status == 422 and r.json["field"] == "image", (bad, r)
    r = srv.call("POST", f"/api/v1/projects/{w.b.org_project['id']}/jobs", w.b.users["member"].token,
                 json={"command": ["true"], "image": busybox})
    assert r.status == 422, r  # org B holds its own images; A's is not B's to run


def test_refusals_store_nothing(srv, w, oci_registry, busybox):
    m = w.a.users["member"]
    pid = w.a.org_project["id"]
    before, before_roots = images_of(srv, m.token, pid), roots(srv)
    cases = [
        (f"{oci_registry.host}/test/busybox@{ZERO}", 422, ("image-not-found", "digest-mismatch")),
        (oci_registry.ref("test/no-such-image", "v1"), 422, ("image-not-found",)),
        (oci_registry.ref("test/busybox", "no-such-tag"), 422, ("image-not-found",)),
        ("oci:/tmp/layout:v1", 400, ("invalid-field",)),
        ("docker://127.0.0.1:1/x/y:z", 422, ("registry-unreachable",)),
        ("Host.io/UPPER:x", 400, ("invalid-field",)),
    ]
    for source, status, types in cases:
        r = pull(srv, m.token, pid, "refused", source)
        assert r.status == status and r.json["type"].rsplit(":", 1)[-1] in types, (source, r)
        if status == 400:
            assert r.json["field"] == "source", r
    for body in ({"name": "Bad Name", "source": oci_registry.ref("test/busybox", "v1")},
                 {"name": "x", "source": oci_registry.ref("test/busybox", "v1"), "surprise": 1},
                 {"name": "x"}):
        assert is_problem(srv.call("POST", f"/api/v1/projects/{pid}/images", m.token, json=body), 400), body
    assert images_of(srv, m.token, pid) == before
    assert roots(srv) == before_roots
    # A viewer may not pull.
    assert is_problem(pull(srv, w.a.users["viewer"].token, pid, "v", oci_registry.ref("test/busybox", "v1")), 403)


def test_private_registry_needs_the_orgs_credentials(srv, w, oci_registry_auth, tmp_path):
    oa, m = w.a.users["org-admin"], w.a.users["member"]
    pid = w.a.org_project["id"]
    digest = oci_registry_auth.push(variant(tmp_path, "private"), "private", "lab/private", dest_tag="v1")
    source = oci_registry_auth.ref("lab/private", "v1")
    host = oci_registry_auth.host

    r = pull(srv, m.token, pid, "private", source)
    assert is_problem(r, 422) and r.json["type"].endswith("registry-refused") and host in r.json["detail"], r
    regs = f"/api/v1/orgs/{w.a.id}/registries"
    r = srv.call("POST", regs, oa.token, json={"host": host, "username": REGISTRY_USER, "password": "wrong-password"})
    assert r.status == 201, r
    assert "password" not in r.json and "wrong-password" not in r.text
    wrong_id = r.json["id"]
    r = pull(srv, m.token, pid, "private", source)
    assert is_problem(r, 422) and r.json["type"].endswith("registry-refused"), r
    # Members neither see nor change credentials; nobody sees a password.
    assert is_problem(srv.call("GET", regs, m.token), 403)
    assert is_problem(srv.call("POST", regs, m.token, json={"host": host, "username": "u", "password": "p"}), 403)
    assert srv.call("DELETE", f"{regs}/{wrong_id}", oa.token).status == 204
    r = srv.call("POST", regs, oa.token, json={"host": host, "username": REGISTRY_USER, "password": REGISTRY_PASSWORD})
    assert r.status == 201, r
    listed = srv.call("GET", regs, oa.token)
    assert listed.status == 200 and [x["host"] for x in listed.json["items"]] == [host]
    assert REGISTRY_PASSWORD not in listed.text and "password" not in listed.json["items"][0]
    assert is_problem(srv.call("POST", regs, oa.token, json={"host": "https://x/y", "username": "u", "password": "p"}),
                      400)
    db = (srv.data_dir / "atrium.db").read_bytes()
    assert REGISTRY_PASSWORD.encode() not in db

    r = pull(srv, m.token, pid, "private", source)
    assert r.status == 202, r
    im = ready(srv, m.token, r.json["id"])
    assert im["state"] == "ready" and im["digest"] == digest, im
    events = srv.call("GET", f"/api/v1/audit/events?org={w.a.id}", oa.token).text
    assert "registry.add" in events and REGISTRY_PASSWORD not in events


def usage(srv, org, kind, subject):
    r = srv.call("GET", f"/api/v1/orgs/{org}/quotas/{kind}/{subject}", srv.admin)
    assert r.status == 200, r
    return r.json["usage"]["storage_bytes"]


def test_quota_counts_a_digest_once_and_refuses_over_quota(srv, w, oci_registry, busybox, tmp_path):
    m = w.b.users["member"]
    pid = w.b.org_project["id"]
    org0, user0 = usage(srv, w.b.id, "org", w.b.id), usage(srv, w.b.id, "user", m.id)
    r = pull(srv, m.token, pid, "one", oci_registry.ref("test/busybox", "v1"))
    assert r.status in (201, 202), r
    size = ready(srv, m.token, r.json["id"])["size_bytes"]
    assert pull(srv, m.token, pid, "two", f"{oci_registry.host}/test/busybox@{busybox}").status == 201
    assert usage(srv, w.b.id, "org", w.b.id) == org0 + size
    assert usage(srv, w.b.id, "user", m.id) == user0 + size

    # Over the org's quota: refused before anything is fetched, nothing stored.
    big = variant(tmp_path, "big", {"opt/blob": os.urandom(256 << 10)})
    oci_registry.push(big, "big", "test/big", dest_tag="v1")
    used = usage(srv, w.b.id, "org", w.b.id)
    q = f"/api/v1/orgs/{w.b.id}/quotas/org/{w.b.id}"
    assert srv.call("PUT", q, srv.admin, json={"storage_bytes": used + 1000}, if_match="*").status == 200
    try:
        before, before_roots = images_of(srv, m.token, pid), roots(srv)
        r = pull(srv, m.token, pid, "big", oci_registry.ref("test/big", "v1"))
        assert is_problem(r, 507) and r.json["type"].endswith("quota-exceeded"), r
        assert r.json["kind"] == "org" and r.json["used"] == used, r
        assert images_of(srv, m.token, pid) == before and roots(srv) == before_roots
        # The data store's checks count the images too.
        r = srv.call("POST", f"/api/v1/projects/{pid}/uploads", m.token, json={"path": "x.bin", "size": 2000})
        assert is_problem(r, 507) and r.json["used"] == used, r
        # The same digest again adds nothing: still allowed.
        assert pull(srv, m.token, pid, "three", f"{oci_registry.host}/test/busybox@{busybox}").status == 201
    finally:
        srv.call("PUT", q, srv.admin, json={}, if_match="*")


def test_default_image_and_org_wide_images(srv, w, oci_registry, busybox):
    oa, m = w.a.users["org-admin"], w.a.users["member"]
    pid = w.a.org_project["id"]
    url = f"/api/v1/projects/{pid}/images/default"
    assert srv.call("GET", url, m.token).json["image"] is None
    r = pull(srv, m.token, pid, "with-default", oci_registry.ref("test/busybox", "v1"), default=True)
    assert r.status == 201, r
    assert srv.call("GET", url, m.token).json["image"]["name"] == "with-default"
    r = srv.call("PUT", url, m.token, json={"image": f"busybox@{busybox}"})
    assert r.status == 200 and r.json["image"]["name"] == "busybox", r
    for bad in ("busybox@" + ZERO, "no-such-image", "Bad Name"):
        r = srv.call("PUT", url, m.token, json={"image": bad})
        assert is_problem(r, 400) and r.json["field"] == "image", (bad, r)
    assert is_problem(srv.call("PUT", url, w.a.users["viewer"].token, json={"image": None}), 403)
    r = srv.call("PUT", url, m.token, json={"image": None})
    assert r.status == 200 and r.json["image"] is None

    # Org-wide: pulled by an org-admin, listed in every project of the org.
    orgs = f"/api/v1/orgs/{w.a.id}/images"
    body = {"name": "org-busybox", "source": oci_registry.ref("test/busybox", "v1")}
    assert is_problem(srv.call("POST", orgs, m.token, json=body), 403)
    r = srv.call("POST", orgs, oa.token, json=body)
    assert r.status == 201 and r.json["project_id"] is None, r
    assert [i["name"] for i in srv.call("GET", orgs, m.token).json["items"]] == ["org-busybox"]
    assert "org-busybox" in {i["name"] for i in images_of(srv, oa.token, w.a.project["id"])}
    assert srv.call("PUT", url, m.token, json={"image": "org-busybox"}).status == 200
    srv.call("PUT", url, m.token, json={"image": None})


def test_cross_tenant_404_on_every_route(srv, w, oci_registry):
    a_img = next(i for i in images_of(srv, w.a.users["member"].token, w.a.org_project["id"]) if i["name"] == "busybox")
    for role in ("member", "org-admin"):
        tok = w.b.users[role].token
        pa = w.a.org_project["id"]
        calls = [
            ("GET", f"/api/v1/images/{a_img['id']}", None),
            ("DELETE", f"/api/v1/images/{a_img['id']}", None),
            ("GET", f"/api/v1/projects/{pa}/images", None),
            ("POST", f"/api/v1/projects/{pa}/images", {"name": "x", "source": oci_registry.ref("test/busybox", "v1")}),
            ("GET", f"/api/v1/projects/{pa}/images/default", None),
            ("PUT", f"/api/v1/projects/{pa}/images/default", {"image": None}),
            ("GET", f"/api/v1/orgs/{w.a.id}/images", None),
            ("POST", f"/api/v1/orgs/{w.a.id}/images", {"name": "x", "source": oci_registry.ref("test/busybox", "v1")}),
            ("GET", f"/api/v1/orgs/{w.a.id}/registries", None),
            ("POST", f"/api/v1/orgs/{w.a.id}/registries", {"host": "a.io", "username": "u", "password": "p"}),
            ("DELETE", f"/api/v1/orgs/{w.a.id}/registries/reg_x", None),
        ]
        for method, path, body in calls:
            kw = {"json": body} if body is not None else {}
            r = srv.call(method, path, tok, if_match=a_img["etag"] if method == "DELETE" else None, **kw)
            assert is_problem(r, 404), (role, method, path, r)
    assert srv.call("GET", f"/api/v1/images/{a_img['id']}", w.a.users["member"].token).status == 200


def test_delete_then_gc_removes_the_root(srv, w, oci_registry, tmp_path):
    oa = w.a.users["org-admin"]
    pid = w.a.project["id"]
    digest = oci_registry.push(variant(tmp_path, "gc"), "gc", "test/gc", dest_tag="v1")
    r = pull(srv, oa.token, pid, "gc-me", oci_registry.ref("test/gc", "v1"))
    assert r.status == 202, r
    im = ready(srv, oa.token, r.json["id"])
    assert digest[7:] in roots(srv)
    url = f"/api/v1/images/{im['id']}"
    assert is_problem(srv.call("DELETE", url, oa.token), 428)
    assert is_problem(srv.call("DELETE", url, w.a.users["viewer"].token, if_match=im["etag"]), 404)
    assert srv.call("DELETE", url, oa.token, if_match=im["etag"]).status == 204
    assert is_problem(srv.call("GET", url, oa.token), 404)
    wait_until(lambda: digest[7:] not in roots(srv), 30, 0.05, "the root to be collected")
    # The shared layout no longer holds its tag (removed right after the root).
    index = srv.data_dir / "images" / "oci" / "index.json"
    wait_until(lambda: digest[7:] not in index.read_text(), 30, 0.05, "the layout's tag to go")
    # Pulled again: fetched again.
    r = pull(srv, oa.token, pid, "gc-me", oci_registry.ref("test/gc", "v1"))
    assert r.status == 202, r
    assert ready(srv, oa.token, r.json["id"])["state"] == "ready"


@pytest.mark.skipif(os.geteuid() != 0, reason="device nodes and setuid files in a layer need root to build")
def test_device_nodes_and_setuid_files_are_neutralised(srv, w, oci_registry, tmp_path):
    root = busybox_rootfs(tmp_path / "hostile")
    os.mknod(root / "dev" / "evil-mem", 0o666 | stat.S_IFCHR, os.makedev(1, 1))
    os.mkfifo(root / "etc" / "fifo")
    (root / "bin" / "suid").write_bytes(b"#!/bin/sh\n")
    os.chmod(root / "bin" / "suid", 0o4755)
    os.chown(root / "bin" / "suid", 0, 0)
    (root / "sgid-dir").mkdir()
    os.chmod(root / "sgid-dir", 0o2775)
    (root / "etc" / "escape").symlink_to("/etc/shadow")
    layout = build_oci_image(root, tmp_path / "hostile-layout", "h")
    digest = oci_registry.push(layout, "h", "test/hostile", dest_tag="v1")
    oa = w.a.users["org-admin"]
    r = pull(srv, oa.token, w.a.project["id"], "hostile", oci_registry.ref("test/hostile", "v1"))
    assert r.status == 202, r
    assert ready(srv, oa.token, r.json["id"])["state"] == "ready"
    rootfs = srv.data_dir / "images" / "roots" / digest[7:] / "rootfs"
    # The rootless unpack leaves an empty file where the device was (or nothing); the walk removes FIFOs.
    dev = rootfs / "dev" / "evil-mem"
    assert not os.path.lexists(dev) or (stat.S_ISREG(os.lstat(dev).st_mode) and os.lstat(dev).st_size == 0)
    assert not os.path.lexists(rootfs / "etc" / "fifo")
    assert stat.S_IMODE(os.stat(rootfs / "bin" / "suid").st_mode) == 0o755
    assert stat.S_IMODE(os.stat(rootfs / "sgid-dir").st_mode) == 0o755
    assert os.readlink(rootfs / "etc" / "escape") == "/etc/shadow"  # a link, resolved inside the job's root
    for dirpath, dirnames, filenames in os.walk(rootfs):
        for n in dirnames + filenames:
            st = os.lstat(os.path.join(dirpath, n))
            assert st.st_uid == 0 and not st.st_mode & (stat.S_ISUID | stat.S_ISGID), (dirpath, n)
            assert stat.S_ISDIR(st.st_mode) or stat.S_ISREG(st.st_mode) or stat.S_ISLNK(st.st_mode), (dirpath, n)


def test_cli_pull_list_registry_and_rm(srv, w, oci_registry, busybox, tmp_path):
    env = base_env(admin_password=None)
    env.update(ATRIUM_CONFIG_DIR=str(tmp_path / "cfg"), ATRIUM_SERVER_URL=srv.base,
               ATRIUM_TOKEN=w.a.users["org-admin"].token)

    def cli(*args, stdin=None, check=True):
        p = subprocess.run([ATRIUM_BIN, *args], input=stdin, capture_output=True, text=True, env=env, timeout=60)
        assert not check or p.returncode == 0, (args, p.returncode, p.stdout, p.stderr)
        return p

    project = f"{w.a.slug}/{w.a.project['slug']}"
    out = json.loads(cli("image", "pull", project, "cli-bb", oci_registry.ref("test/busybox", "v1"), "--wait",
                         "--json").stdout)
    assert out["state"] == "ready" and out["digest"] == busybox
    table = cli("image", "list", project).stdout
    assert "cli-bb" in table and "Atrium test image" in table
    assert "org-busybox" in cli("image", "list", "--org", w.a.slug).stdout
    cli("image", "registry", "add", w.a.slug, "cli.example", "robot", "--password-stdin", stdin="cli-secret\n")
    listed = cli("image", "registry", "list", w.a.slug, "--json").stdout
    assert "cli.example" in listed and "cli-secret" not in listed
    reg = next(x for x in json.loads(listed)["items"] if x["host"] == "cli.example")
    cli("image", "registry", "rm", w.a.slug, reg["id"])
    cli("image", "rm", out["id"])
    assert cli("image", "show", out["id"], check=False).returncode != 0


def test_gc_keeps_the_root_a_running_job_uses(srv, w, oci_registry, tmp_path):
    oa = w.a.users["org-admin"]
    pid = w.a.project["id"]
    digest = oci_registry.push(variant(tmp_path, "inuse"), "inuse", "test/inuse", dest_tag="v1")
    r = pull(srv, oa.token, pid, "in-use", oci_registry.ref("test/inuse", "v1"))
    im = ready(srv, oa.token, r.json["id"])
    r = srv.call("POST", f"/api/v1/projects/{pid}/jobs", oa.token,
                 json={"command": ["sleep", "60"], "image": "in-use", "time_limit_s": 120, "mem_mb": 64})
    assert r.status == 201, r
    job = r.json["id"]
    wait_until(lambda: srv.call("GET", f"/api/v1/jobs/{job}", oa.token).json["state"] == "RUNNING", 30, 0.05)

    def gc_done(key):
        r = srv.call("GET", "/api/v1/tasks?kind=images.gc&limit=200", srv.admin)
        return any(t["key"] == key and t["state"] == "succeeded" for t in r.json["items"])
    assert srv.call("DELETE", f"/api/v1/images/{im['id']}", oa.token, if_match=im["etag"]).status == 204
    wait_until(lambda: gc_done(f"images.gc:{im['id']}"), 30, 0.05, "the collection after the removal")
    assert digest[7:] in roots(srv)  # the job still runs on it
    assert srv.call("POST", f"/api/v1/jobs/{job}/cancel", oa.token).status in (200, 202)
    wait_until(lambda: srv.call("GET", f"/api/v1/jobs/{job}", oa.token).json["state"] == "CANCELLED", 30, 0.05)
    # The next collection (another removal queues one) takes it.
    oci_registry.push(variant(tmp_path, "inuse2"), "inuse2", "test/inuse2", dest_tag="v1")
    other = ready(srv, oa.token, pull(srv, oa.token, pid, "in-use-2", oci_registry.ref("test/inuse2", "v1")).json["id"])
    assert srv.call("DELETE", f"/api/v1/images/{other['id']}", oa.token, if_match=other["etag"]).status == 204
    wait_until(lambda: digest[7:] not in roots(srv), 30, 0.05, "the root to go once no job uses it")


def test_only_allowed_registries_are_contacted(make_server, oci_registry, busybox):
    s = make_server(env={"ATRIUM_IMAGES_ALLOWED_REGISTRIES": "ghcr.io,*.lab.internal",
                         "ATRIUM_IMAGES_INSECURE_REGISTRIES": "127.0.0.1:*"})
    admin = s.admin_token()
    org = s.call("POST", "/api/v1/orgs", admin, json={"slug": "allow", "name": "Allow"}).json
    pid = s.call("POST", f"/api/v1/orgs/{org['id']}/projects", admin, json={"slug": "p", "name": "P"}).json["id"]
    seen = len(oci_registry.requests())
    r = pull(s, admin, pid, "x", oci_registry.ref("test/busybox", "v1"))
    assert is_problem(r, 422) and r.json["type"].endswith("registry-not-allowed") and r.json["field"] == "source", r
    assert len(oci_registry.requests()) == seen  # never contacted
    assert images_of(s, admin, pid) == []
