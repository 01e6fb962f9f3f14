"""Fixtures for image builds, offline: a Debian root made from the host's installed packages (the
closure of apt and python3-pip, with dpkg's status for them), a local apt repository holding one
tiny .deb made here, and a wheel directory holding one tiny pure-Python wheel made here.

Nothing is downloaded: the base root is copied from the host's own files (`dpkg -L`), so it has
apt, dpkg and pip that work, and the packages the builds install exist only in these temp dirs.
"""
from __future__ import annotations

import base64
import hashlib
import os
import shutil
import subprocess
import zipfile
from pathlib import Path

# What a build needs besides apt's and pip's own dependencies (Essential packages are not listed
# as dependencies, so the closure does not bring them).
ESSENTIAL = ["base-files", "bash", "coreutils", "dash", "debianutils", "diffutils", "dpkg", "findutils", "grep",
             "gzip", "libc-bin", "mawk", "sed", "tar", "python3", "python3-minimal"]


def _closure(roots: list[str]) -> list[str]:
    out = subprocess.run(["apt-cache", "depends", "--recurse", "--installed", "--no-recommends", "--no-suggests",
                          "--no-conflicts", "--no-breaks", "--no-replaces", "--no-enhances", *roots],
                         capture_output=True, text=True, check=True).stdout
    names = {line.strip() for line in out.splitlines() if line and not line.startswith((" ", "<"))}
    installed = subprocess.run(["dpkg-query", "-W", "-f", "${Package}\t${db:Status-Abbrev}\n"],
                               capture_output=True, text=True, check=True).stdout
    ok = {l.split("\t")[0].split(":")[0] for l in installed.splitlines() if l.split("\t")[1].startswith("ii")}
    return sorted(n.split(":")[0] for n in names if n.split(":")[0] in ok)


def make_debian_root(root: Path) -> list[str]:
    """A root filesystem at `root` from the host's installed files of apt + python3-pip (+ the
    Essential set), with /var/lib/dpkg/status and the file lists for those packages only."""
    pkgs = _closure(["apt", "python3-pip", *ESSENTIAL])
    root.mkdir(parents=True, exist_ok=True)
    for link, target in [("bin", "usr/bin"), ("sbin", "usr/sbin"), ("lib", "usr/lib"), ("lib64", "usr/lib64")]:
        if os.path.islink("/" + link):
            (root / target).mkdir(parents=True, exist_ok=True)
            (root / link).symlink_to(target)
    info = root / "var/lib/dpkg/info"
    info.mkdir(parents=True)
    for d in ["tmp", "var/lib/dpkg/updates", "var/lib/dpkg/triggers", "var/cache/apt/archives/partial",
              "var/lib/apt/lists/partial", "var/log/apt", "etc/apt/apt.conf.d", "etc/apt/preferences.d",
              "etc/apt/sources.list.d", "root", "run"]:
        (root / d).mkdir(parents=True, exist_ok=True)
    lists = subprocess.run(["dpkg", "-L", *pkgs], capture_output=True, text=True).stdout.splitlines()
    for f in sorted(set(lists)):
        if not f.startswith("/") or f.startswith("/etc/apt/sources.list"):
            continue
        src, dst = Path(f), root / f.lstrip("/")
        if src.is_symlink():
            if not os.path.lexists(dst):
                dst.parent.mkdir(parents=True, exist_ok=True)
                dst.symlink_to(os.readlink(src))
        elif src.is_dir():
            dst.mkdir(parents=True, exist_ok=True)
        elif src.is_file():
            dst.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dst, follow_symlinks=False)
    status = subprocess.run(["dpkg-query", "-s", *pkgs], capture_output=True, text=True).stdout
    (root / "var/lib/dpkg/status").write_text(status)
    for name in ["available", "diversions", "statoverride"]:
        (root / "var/lib/dpkg" / name).write_text("")
    for p in pkgs:
        for suffix in [".list", ".md5sums"]:
            for cand in [Path(f"/var/lib/dpkg/info/{p}{suffix}"), *Path("/var/lib/dpkg/info").glob(f"{p}:*{suffix}")]:
                if cand.exists():
                    shutil.copy2(cand, info / cand.name)
    (root / "etc/os-release").unlink(missing_ok=True)
    (root / "etc/os-release").write_text('ID=atrium-build-base\nNAME="Atrium build base"\nVERSION_ID=1\n')
    (root / "etc/passwd").write_text("root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534::/nonexistent:/usr/sbin/nologin\n")
    (root / "etc/group").write_text("root:x:0:\nnogroup:x:65534:\n")
    return pkgs


def make_apt_repo(repo: Path, package: str = "atrium-hello") -> None:
    """A flat apt repository (`[trusted=yes] file:///<repo> ./`) with one package whose command
    /usr/bin/<package> prints a greeting."""
    pkg = repo.parent / (repo.name + "-src") / package
    (pkg / "DEBIAN").mkdir(parents=True)
    (pkg / "usr/bin").mkdir(parents=True)
    cmd = pkg / "usr/bin" / package
    cmd.write_text("#!/bin/sh\necho hello from " + package + "\n")
    cmd.chmod(0o755)
    (pkg / "DEBIAN/control").write_text(
        f"Package: {package}\nVersion: 1.0\nArchitecture: all\nMaintainer: Atrium tests <t@example.org>\n"
        "Description: a tiny package for the image build tests\n")
    repo.mkdir(parents=True)
    subprocess.run(["dpkg-deb", "--root-owner-group", "-Zgzip", "--build", str(pkg), str(repo / f"{package}_1.0_all.deb")],
                   check=True, capture_output=True)
    packages = subprocess.run(["apt-ftparchive", "packages", "."], cwd=repo, capture_output=True, text=True,
                              check=True).stdout
    (repo / "Packages").write_text(packages)
    release = subprocess.run(["apt-ftparchive", "release", "."], cwd=repo, capture_output=True, text=True,
                             check=True).stdout
    (repo / "Release").write_text(release)


def make_wheel_dir(wheels: Path, name: str = "atrium_tiny", version: str = "1.0") -> Path:
    """A directory with one pure-Python wheel: `import atrium_tiny; atrium_tiny.VALUE == 42`."""
    wheels.mkdir(parents=True)
    dist = f"{name}-{version}.dist-info"
    files = {
        f"{name}/__init__.py": b"VALUE = 42\n",
        f"{dist}/METADATA": f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n".encode(),
        f"{dist}/WHEEL": b"Wheel-Version: 1.0\nGenerator: atrium-tests\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
    }
    record = ""
    for path, data in files.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
        record += f"{path},sha256={digest},{len(data)}\n"
    record += f"{dist}/RECORD,,\n"
    whl = wheels / f"{name}-{version}-py3-none-any.whl"
    with zipfile.ZipFile(whl, "w") as z:
        for path, data in files.items():
            z.writestr(path, data)
        z.writestr(f"{dist}/RECORD", record)
    return whl


def chown_tree(root: Path, uid: int) -> None:
    """Everything under root (links themselves, not their targets) to uid:uid."""
    os.lchown(root, uid, uid)
    for dirpath, dirnames, filenames in os.walk(root):
        for n in dirnames + filenames:
            os.lchown(os.path.join(dirpath, n), uid, uid)
