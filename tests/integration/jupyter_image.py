"""A test image that has Jupyter, built from this host's installed Debian packages (no internet).

The closure of the built-in jupyter app's packages (`apt-cache depends --recurse --installed` of
python3-jupyter-server, python3-nbclassic, python3-ipykernel, python3-terminado: ~180 packages)
is laid out from `dpkg -L` (plus the byte code the host compiled for those .py files) into a root directory whose /etc/os-release is a marker (not the host's),
with the host's top-level merged-/usr symlinks (bin -> usr/bin, lib -> usr/lib...). Files are
hard links to the host's (same file system; a copy where it is not), so the build takes seconds and
no extra disk. Built once per package set and reused (a cache directory keyed by the packages and
their versions); the build is atomic (a temp directory renamed into place).
"""
from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOTS = ["python3-jupyter-server", "python3-nbclassic", "python3-ipykernel", "python3-terminado"]
OS_RELEASE = 'ID=atrium-jupyter-test\nPRETTY_NAME="Atrium Jupyter test image"\n'
CACHE = Path(os.environ.get("ATRIUM_TEST_IMAGE_CACHE", Path(tempfile.gettempdir()) / "atrium-test-images"))


def closure() -> list[str]:
    r = subprocess.run(["apt-cache", "depends", "--recurse", "--installed", "--no-recommends", "--no-suggests",
                        "--no-conflicts", "--no-breaks", "--no-replaces", "--no-enhances", *ROOTS],
                       capture_output=True, text=True, check=True)
    return sorted({ln.strip() for ln in r.stdout.splitlines() if ln and not ln[0].isspace() and not ln.startswith("<")})


def versions(pkgs: list[str]) -> str:
    r = subprocess.run(["dpkg-query", "-W", "-f", "${Package}:${Architecture}=${Version}\n", *pkgs],
                       capture_output=True, text=True)
    return r.stdout


def _place(src: str, root: Path) -> None:
    """The host path `src` into the image at its canonical (merged-/usr) location."""
    real_parent = os.path.realpath(os.path.dirname(src))
    dst = root / (real_parent.lstrip("/")) / os.path.basename(src)
    if dst.exists() or dst.is_symlink():
        return
    st = os.lstat(src)
    dst.parent.mkdir(parents=True, exist_ok=True)
    if os.path.islink(src):
        os.symlink(os.readlink(src), dst)
    elif os.path.isdir(src):
        dst.mkdir(exist_ok=True)
        os.chmod(dst, st.st_mode & 0o7777)
    elif os.path.isfile(src):
        try:
            os.link(src, dst)
        except OSError:
            shutil.copy2(src, dst)


def build(root: Path, pkgs: list[str]) -> dict:
    """Lays the packages' files out under `root`; returns {files, bytes}."""
    for name in ("bin", "sbin", "lib", "lib32", "lib64", "libx32"):
        host = Path("/") / name
        if host.is_symlink():
            (root / name).symlink_to(os.readlink(host))
    listed = subprocess.run(["dpkg", "-L", *pkgs], capture_output=True, text=True).stdout.splitlines()
    tag = sys.implementation.cache_tag  # the byte code the host's postinst compiled (py3compile)
    for p in listed:
        if p.startswith("/") and os.path.lexists(p) and not p.startswith("/etc/os-release"):
            _place(p, root)
            if p.endswith(".py"):  # not in dpkg -L: without it every start compiles (a read-only root)
                pyc = os.path.join(os.path.dirname(p), "__pycache__", f"{os.path.basename(p)[:-3]}.{tag}.pyc")
                if os.path.isfile(pyc):
                    _place(pyc, root)
    for extra in ("/etc/ld.so.cache", "/etc/mime.types"):
        if os.path.isfile(extra):
            _place(extra, root)
    etc = root / "etc"
    etc.mkdir(exist_ok=True)
    for f in ("os-release",):
        (etc / f).unlink(missing_ok=True)
    (etc / "os-release").write_text(OS_RELEASE)
    (etc / "passwd").unlink(missing_ok=True)
    (etc / "passwd").write_text("root:x:0:0:root:/root:/bin/sh\n")
    for d in ("tmp", "proc", "dev", "sys", "home", "root"):
        (root / d).mkdir(exist_ok=True)
    files = size = 0
    for dirpath, _, names in os.walk(root):
        for n in names:
            st = os.lstat(os.path.join(dirpath, n))
            files += 1
            size += st.st_size
    return {"files": files, "bytes": size, "packages": len(pkgs)}


def jupyter_image() -> Path:
    """The image root (built now, or the one built before for the same package versions)."""
    pkgs = closure()
    key = hashlib.sha256(("2\n" + versions(pkgs)).encode()).hexdigest()[:16]  # 2: with byte code
    final = CACHE / f"jupyter-{key}"
    if (final / "etc" / "os-release").exists():
        return final
    CACHE.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix="jupyter-build-", dir=CACHE))
    os.chmod(tmp, 0o755)
    build(tmp, pkgs)
    try:
        os.rename(tmp, final)
    except OSError:  # another session built it meanwhile
        shutil.rmtree(tmp, ignore_errors=True)
    return final


def _blob(layout: Path, data: bytes) -> dict:
    d = hashlib.sha256(data).hexdigest()
    (layout / "blobs" / "sha256" / d).write_bytes(data)
    return {"digest": f"sha256:{d}", "size": len(data)}


def oci_layout(root: Path, layout: Path, tag: str = "v1") -> Path:
    """An OCI image layout of `root`: one gzip (level 1) layer, written once beside the root and
    reused. Built by hand (tar | gzip -1) rather than umoci repack: a third of the time."""
    if (layout / "index.json").exists():
        return layout
    import json

    tmp = Path(tempfile.mkdtemp(prefix="layout-", dir=layout.parent))
    (tmp / "blobs" / "sha256").mkdir(parents=True)
    (tmp / "oci-layout").write_text('{"imageLayoutVersion": "1.0.0"}')
    tar = tmp / "layer.tar"
    subprocess.run(["tar", "--numeric-owner", "--owner=0", "--group=0", "-C", str(root), "-cf", str(tar), "."],
                   check=True)
    diff_id = hashlib.sha256()
    with open(tar, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            diff_id.update(chunk)
    subprocess.run(["gzip", "-1", "-n", str(tar)], check=True)
    gz = tmp / "layer.tar.gz"
    layer_digest = hashlib.sha256()
    with open(gz, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            layer_digest.update(chunk)
    layer = {"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
             "digest": f"sha256:{layer_digest.hexdigest()}", "size": gz.stat().st_size}
    os.rename(gz, tmp / "blobs" / "sha256" / layer_digest.hexdigest())
    config = {"architecture": "amd64", "os": "linux",
              "config": {"Env": ["PATH=/usr/local/bin:/usr/bin:/bin"], "Cmd": ["/bin/sh"], "WorkingDir": "/"},
              "rootfs": {"type": "layers", "diff_ids": [f"sha256:{diff_id.hexdigest()}"]}}
    cfg = {"mediaType": "application/vnd.oci.image.config.v1+json", **_blob(tmp, json.dumps(config).encode())}
    manifest = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "config": cfg, "layers": [layer]}
    man = {"mediaType": "application/vnd.oci.image.manifest.v1+json",
           **_blob(tmp, json.dumps(manifest).encode()), "annotations": {"org.opencontainers.image.ref.name": tag}}
    (tmp / "index.json").write_text(json.dumps({"schemaVersion": 2, "manifests": [man]}))
    try:
        os.rename(tmp, layout)
    except OSError:
        shutil.rmtree(tmp, ignore_errors=True)
    return layout


def jupyter_layout() -> Path:
    """The Jupyter image as an OCI layout with tag v1 (built once, like the root)."""
    root = jupyter_image()
    return oci_layout(root, root.parent / (root.name + ".oci"))


if __name__ == "__main__":
    import json
    import time

    t0 = time.monotonic()
    pkgs = closure()
    with tempfile.TemporaryDirectory() as d:
        stats = build(Path(d) / "root", pkgs) if (Path(d) / "root").mkdir() is None else {}
    stats["seconds"] = round(time.monotonic() - t0, 2)
    print(json.dumps(stats))
