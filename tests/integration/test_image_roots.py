"""Image roots in the sandbox, from outside: `atrium exec` with `rootfs` set to an unpacked image.

An image root is laid out by mounts only: each top-level entry bound read-only, nosuid, nodev (a
symlink such as bin -> usr/bin recreated as a symlink), and where a mount needs a mount point the
image lacks (/home/atrium, /data/<name>, /etc/resolv.conf), that directory becomes a read-only
"underlay" of the image's entries. The image itself is never written.
"""
from __future__ import annotations

import hashlib
import os
import shutil
from pathlib import Path

import pytest

from test_sandbox import Sandbox, probe  # noqa: F401  (the same `atrium exec` driver)

BUSYBOX = "/bin/busybox"
OS_RELEASE = 'ID=atrium-test\nPRETTY_NAME="Atrium test image"\n'
APPLETS = ["sh", "cat", "ls", "echo", "touch", "mkdir", "readlink", "id", "test", "grep", "true"]


def tree_digest(root: Path) -> str:
    """What the image holds (names, types, modes, contents): it must not change under a job."""
    h = hashlib.sha256()
    for dirpath, dirs, files in sorted(os.walk(root)):
        dirs.sort()
        for n in sorted(dirs + files):
            p = Path(dirpath, n)
            st = os.lstat(p)
            h.update(f"{p.relative_to(root)} {st.st_mode:o}\n".encode())
            if p.is_symlink():
                h.update(os.readlink(p).encode())
            elif p.is_file():
                h.update(p.read_bytes())
    return h.hexdigest()


def busybox_image(root: Path, merged_usr: bool) -> Path:
    """A static busybox image: in /bin (no /usr, no /lib: nothing dynamic), or merged-/usr style
    (/usr/bin, bin -> usr/bin, lib -> usr/lib, mnt -> usr/lib) with /home, /data, a dangling
    resolv.conf link and a setuid copy of busybox."""
    bindir = root / ("usr/bin" if merged_usr else "bin")
    bindir.mkdir(parents=True)
    shutil.copy2(BUSYBOX, bindir / "busybox")
    for a in APPLETS:
        (bindir / a).symlink_to("busybox")
    (root / "etc").mkdir()
    (root / "etc/os-release").write_text(OS_RELEASE)
    (root / "etc/passwd").write_text("root:x:0:0:root:/root:/bin/sh\n")
    if merged_usr:
        (root / "usr/lib").mkdir()
        (root / "bin").symlink_to("usr/bin")
        (root / "lib").symlink_to("usr/lib")
        (root / "mnt").symlink_to("usr/lib")
        (root / "home/someone").mkdir(parents=True)
        (root / "home/someone/.profile").write_text("# not empty: bound, not made\n")
        (root / "data").mkdir()
        (root / "etc/resolv.conf").symlink_to("../run/systemd/resolve/stub-resolv.conf")
        (root / "usr/bin/suid-copy").write_bytes(Path(BUSYBOX).read_bytes())
        os.chmod(root / "usr/bin/suid-copy", 0o4755)
    for d in ("proc", "dev", "sys", "tmp"):
        (root / d).mkdir()
    return root


@pytest.fixture
def sbx(tmp_path) -> Sandbox:
    if not probe()["user_namespaces"]:
        pytest.skip("this host allows no user namespaces: the sandbox cannot run at all")
    return Sandbox(tmp_path)


def image_mounts(mountinfo: str) -> dict[str, set[str]]:
    """Mount point -> its per-mount options, from the mountinfo lines among the output."""
    out = {}
    for line in mountinfo.splitlines():
        f = line.split()
        if len(f) > 6 and f[0].isdigit() and f[1].isdigit() and " - " in line:
            out[f[4]] = set(f[5].split(","))
    return out


def test_busybox_image_without_usr_runs_and_sees_its_own_os_release(sbx, tmp_path):
    img = busybox_image(tmp_path / "img", merged_usr=False)
    before = tree_digest(img)
    r = sbx.run(["/bin/sh", "-c", "cat /etc/os-release; cat /proc/self/mountinfo; ls /; "
                 "touch /bin/x 2>&1 || echo ro-bin; touch /newfile 2>&1 || echo ro-root"], rootfs=str(img))
    assert r.rc == 0, r
    assert "ID=atrium-test" in r.out and "ID=debian" not in r.out
    mounts = image_mounts(r.out)
    for point in ("/bin", "/etc"):
        assert {"ro", "nosuid", "nodev"} <= mounts[point], (point, mounts[point])
    assert "/usr" not in mounts  # nothing of the host's
    assert "ro-bin" in r.out and "ro-root" in r.out
    assert tree_digest(img) == before


def test_merged_usr_image_symlinks_underlays_and_nosuid(sbx, tmp_path):
    img = busybox_image(tmp_path / "img", merged_usr=True)
    before = tree_digest(img)
    data = tmp_path / "dataset"
    data.mkdir()
    (data / "x.txt").write_text("dataset file\n")
    home = sbx.workspace("home")
    resolv = tmp_path / "resolv.conf"
    resolv.write_text("nameserver 10.0.2.3\n")
    mounts = [{"source": str(data), "target": "/data/ds"},
              {"source": str(home), "target": "/home/atrium", "writable": True},
              {"source": str(resolv), "target": "/etc/resolv.conf"},
              {"source": str(resolv), "target": "/etc/hosts"}]
    script = ("readlink /bin; readlink /lib; cat /etc/os-release /data/ds/x.txt /etc/resolv.conf; ls /home; "
              "echo hi > /home/atrium/f && echo home-rw; touch /home/other 2>/dev/null || echo home-ro; "
              "touch /etc/new 2>/dev/null || echo etc-ro; grep -c . /etc/passwd; "
              "echo euid=$(/usr/bin/suid-copy id -u); cat /proc/self/mountinfo")
    r = sbx.run(["sh", "-c", script], rootfs=str(img), mounts=mounts)
    assert r.rc == 0, r
    lines = r.out.splitlines()
    assert lines[:2] == ["usr/bin", "usr/lib"]  # recreated as symlinks, not bound
    assert "ID=atrium-test" in r.out and "dataset file" in r.out and "nameserver 10.0.2.3" in r.out
    assert "someone" in r.out and "atrium" in r.out  # the image's /home entries and the mount point
    for word in ("home-rw", "home-ro", "etc-ro"):
        assert word in r.out, r
    assert (home / "f").read_text() == "hi\n"
    assert "euid=0" not in lines and any(x.startswith("euid=") for x in lines)  # nosuid: no effect
    mounts_seen = image_mounts(r.out)
    for point in ("/usr", "/etc/os-release", "/etc/passwd", "/home/someone", "/data/ds", "/etc/resolv.conf"):
        assert {"ro", "nosuid", "nodev"} <= mounts_seen[point], (point, mounts_seen[point])
    for point in ("/etc", "/home", "/data"):  # the underlays: read-only once the mounts are in
        assert {"ro", "nosuid", "nodev"} <= mounts_seen[point], (point, mounts_seen[point])
    assert {"rw", "nosuid", "nodev"} <= mounts_seen["/home/atrium"]
    assert tree_digest(img) == before  # the image was not written


def test_mount_through_a_symlink_of_the_image_is_refused(sbx, tmp_path):
    img = busybox_image(tmp_path / "img", merged_usr=True)
    data = tmp_path / "d"
    data.mkdir()
    r = sbx.run(["true"], rootfs=str(img), mounts=[{"source": str(data), "target": "/mnt/x"}])
    assert r.rc == 125 and r.kind == "setup_failed", r
    assert "/mnt of the image is a symlink" in r.outcome["detail"], r
