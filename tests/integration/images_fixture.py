"""Test images and a test OCI registry, built and started by the tests (no internet).

- busybox_rootfs(dir): a tiny root filesystem: /bin/busybox (Debian's static build) plus applet
  symlinks (sh, cat, echo, ls, sha256sum, env, ...) and an /etc/os-release that is NOT the host's
  (ID=atrium-test, PRETTY_NAME="Atrium test image").
- build_oci_image(rootfs_dir, layout_dir, tag): an OCI image (umoci) of any root directory a test
  prepared, one layer, with a default Cmd. Run as root it keeps owners, device nodes and setuid bits
  (what the neutralise tests need); otherwise rootless.
- Registry: docker-registry on a free 127.0.0.1 port (plain HTTP on loopback), temp storage, an
  optional htpasswd file (bcrypt). registry.push(layout_dir, tag, repo) copies a layout's tag with
  skopeo and returns the manifest digest; registry.requests() parses its access log (to check that
  nothing was transferred).
- Fixtures: `oci_registry` (open, session scope), `oci_registry_auth` (htpasswd: user "puller" with
  password REGISTRY_PASSWORD), `busybox_layout` (a layout with tag "v1" of busybox_rootfs).
"""
from __future__ import annotations

import contextlib
import json
import os
import shutil
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

BUSYBOX = "/bin/busybox"
APPLETS = ["sh", "cat", "echo", "ls", "sha256sum", "env", "id", "mkdir", "rm", "cp", "mv", "sleep",
           "true", "false", "test", "head", "tail", "wc", "grep", "sed", "touch", "stat", "uname",
           "pwd", "printf", "sort", "tr", "find", "date", "ln", "chmod", "du", "df", "mount"]
OS_RELEASE = 'ID=atrium-test\nVERSION_ID="1.0"\nPRETTY_NAME="Atrium test image"\nNAME="Atrium test"\n'
REGISTRY_USER = "puller"
REGISTRY_PASSWORD = "registry-password-for-tests"


def _run(*args: str, **kw) -> subprocess.CompletedProcess:
    r = subprocess.run(list(args), capture_output=True, text=True, **kw)
    if r.returncode != 0:
        raise AssertionError(f"{' '.join(args)} failed ({r.returncode}): {r.stderr or r.stdout}")
    return r


def busybox_rootfs(root: Path | str, os_release: str = OS_RELEASE) -> Path:
    """Fills `root` with busybox, its applet links, /etc/os-release, /tmp and /root."""
    root = Path(root)
    (root / "bin").mkdir(parents=True, exist_ok=True)
    shutil.copy2(BUSYBOX, root / "bin" / "busybox")
    os.chmod(root / "bin" / "busybox", 0o755)
    for a in APPLETS:
        link = root / "bin" / a
        if not link.exists() and not link.is_symlink():
            link.symlink_to("busybox")
    (root / "etc").mkdir(exist_ok=True)
    (root / "etc" / "os-release").write_text(os_release)
    (root / "etc" / "passwd").write_text("root:x:0:0:root:/root:/bin/sh\n")
    for d in ("tmp", "root", "home", "proc", "dev", "sys", "work"):
        (root / d).mkdir(exist_ok=True)
    os.chmod(root / "tmp", 0o1777)
    return root


def build_oci_image(rootfs_dir: Path | str, layout_dir: Path | str, tag: str,
                    cmd: list[str] | None = None, env: list[str] | None = None) -> Path:
    """Adds tag `tag` to the OCI layout at layout_dir (created when missing): one layer holding the
    contents of rootfs_dir, config Cmd (default ["/bin/sh"]) and PATH. Returns layout_dir."""
    layout_dir = Path(layout_dir)
    if not (layout_dir / "index.json").exists():
        layout_dir.parent.mkdir(parents=True, exist_ok=True)
        _run("umoci", "init", "--layout", str(layout_dir))
    ref = f"{layout_dir}:{tag}"
    _run("umoci", "new", "--image", ref)
    rootless = [] if os.geteuid() == 0 else ["--rootless"]
    with tempfile.TemporaryDirectory(prefix="atrium-oci-") as tmp:
        bundle = Path(tmp) / "bundle"
        _run("umoci", "unpack", *rootless, "--image", ref, str(bundle))
        rootfs = bundle / "rootfs"
        # cp -a keeps owners, modes, symlinks and special files (device nodes when we are root).
        _run("cp", "-a", "--", f"{rootfs_dir}/.", str(rootfs))
        _run("umoci", "repack", *rootless, "--image", ref, str(bundle))
    args = ["umoci", "config", "--image", ref, "--config.workingdir", "/"]
    for c in (cmd if cmd is not None else ["/bin/sh"]):
        args += ["--config.cmd", c]
    for e in (env if env is not None else ["PATH=/bin:/usr/bin:/sbin:/usr/sbin"]):
        args += ["--config.env", e]
    _run(*args)
    return layout_dir


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def htpasswd_line(user: str, password: str) -> str:
    import bcrypt  # python3-bcrypt

    return f"{user}:{bcrypt.hashpw(password.encode(), bcrypt.gensalt(rounds=4)).decode()}\n"


class Registry:
    """A docker-registry (distribution v2) on 127.0.0.1:port, plain HTTP, storage in `dir`."""

    def __init__(self, dir: Path, users: dict[str, str] | None = None):
        self.dir = Path(dir)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.users = dict(users or {})
        self.port = free_port()
        self.host = f"127.0.0.1:{self.port}"
        self.log_path = self.dir / "registry.log"
        cfg = [
            "version: 0.1",
            "log:",
            "  level: info",
            "  formatter: json",
            "  accesslog:",
            "    disabled: false",
            "storage:",
            "  filesystem:",
            f"    rootdirectory: {self.dir / 'storage'}",
            "  delete:",
            "    enabled: true",
            "http:",
            f"  addr: 127.0.0.1:{self.port}",
        ]
        if self.users:
            hp = self.dir / "htpasswd"
            hp.write_text("".join(htpasswd_line(u, p) for u, p in self.users.items()))
            cfg += ["auth:", "  htpasswd:", "    realm: atrium-test", f"    path: {hp}"]
        (self.dir / "config.yml").write_text("\n".join(cfg) + "\n")
        self._log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(["docker-registry", "serve", str(self.dir / "config.yml")],
                                     stdout=self._log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 20
        while not self._up():
            if self.proc.poll() is not None:
                raise AssertionError(f"docker-registry exited: {self.log_path.read_text()[-2000:]}")
            if time.monotonic() > deadline:
                self.stop()
                raise AssertionError("docker-registry did not come up")
            time.sleep(0.02)

    def _up(self) -> bool:
        try:
            urllib.request.urlopen(f"http://{self.host}/v2/", timeout=1).close()
            return True
        except urllib.error.HTTPError:
            return True  # 401 with auth: it answers
        except OSError:
            return False

    def creds_args(self, flag: str) -> list[str]:
        if not self.users:
            return []
        u, p = next(iter(self.users.items()))
        return [flag, f"{u}:{p}"]

    def push(self, layout_dir: Path | str, tag: str, repo: str, dest_tag: str | None = None) -> str:
        """skopeo copy oci:layout_dir:tag docker://host/repo:dest_tag; returns the manifest digest."""
        dest = f"{self.host}/{repo}:{dest_tag or tag}"
        with tempfile.TemporaryDirectory(prefix="atrium-skopeo-") as tmp:
            digest_file = Path(tmp) / "digest"
            _run("skopeo", "copy", "--dest-tls-verify=false", *self.creds_args("--dest-creds"),
                 "--digestfile", str(digest_file), f"oci:{layout_dir}:{tag}", f"docker://{dest}")
            return digest_file.read_text().strip()

    def ref(self, repo: str, tag_or_digest: str) -> str:
        sep = "@" if tag_or_digest.startswith("sha256:") else ":"
        return f"docker://{self.host}/{repo}{sep}{tag_or_digest}"

    def requests(self) -> list[dict]:
        """The registry's access log so far: [{"method", "uri", "status"}] (JSON-formatted lines)."""
        self._log.flush()
        out = []
        for line in self.log_path.read_text(errors="replace").splitlines():
            with contextlib.suppress(ValueError):
                e = json.loads(line)
                if "http.request.method" in e and "http.request.uri" in e:
                    out.append({"method": e["http.request.method"], "uri": e["http.request.uri"],
                                "status": e.get("http.response.status")})
        return out

    def blob_gets(self, repo: str | None = None) -> list[str]:
        return [r["uri"] for r in self.requests()
                if r["method"] == "GET" and "/blobs/sha256:" in r["uri"]
                and (repo is None or f"/v2/{repo}/" in r["uri"])]

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._log.close()


@pytest.fixture(scope="session")
def oci_registry(tmp_path_factory):
    r = Registry(tmp_path_factory.mktemp("registry"))
    yield r
    r.stop()


@pytest.fixture(scope="session")
def oci_registry_auth(tmp_path_factory):
    r = Registry(tmp_path_factory.mktemp("registry-auth"), users={REGISTRY_USER: REGISTRY_PASSWORD})
    yield r
    r.stop()


@pytest.fixture(scope="session")
def busybox_layout(tmp_path_factory) -> Path:
    """An OCI layout with tag "v1": busybox_rootfs, Cmd ["/bin/sh"]."""
    base = tmp_path_factory.mktemp("busybox-image")
    root = busybox_rootfs(base / "rootfs")
    return build_oci_image(root, base / "layout", "v1")
