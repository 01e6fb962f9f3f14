"""Image build: the build job's sandbox (atrium exec, root_inside + rootfs_writable, no network,
mirrors bound read-only) vs the same apt + pip commands run by root in a plain chroot of the same
base root. Both get a fresh copy of the base (cp -a --reflink=auto: timed separately).

usage: ATRIUM_BIN=build/src/atrium python3 bench/image_build/run.py [RUNS]
"""
from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "tests" / "integration"))
from build_fixture import chown_tree, make_apt_repo, make_debian_root, make_wheel_dir  # noqa: E402

BIN = os.environ.get("ATRIUM_BIN", "build/src/atrium")
UID = 29999
APT = ("-o APT::Sandbox::User=root -o Dir::Etc::SourceList=/atrium/build/sources.list -o Dir::Etc::SourceParts=/dev/null "
       "-o Acquire::Languages=none -o Dpkg::Use-Pty=0")
SCRIPT = (f"set -eu\napt-get {APT} update >/dev/null\napt-get {APT} install -y atrium-hello >/dev/null\n"
          "python3 -m pip install -q --no-cache-dir --break-system-packages --root-user-action=ignore --no-index "
          "--find-links /atrium/mirror/pip atrium_tiny\n")


def main() -> None:
    runs = int(sys.argv[1]) if len(sys.argv) > 1 else 5
    d = Path(tempfile.mkdtemp(prefix="bench-imgb-"))
    os.chmod(d, 0o755)
    make_debian_root(d / "base")
    make_apt_repo(d / "apt")
    make_wheel_dir(d / "wheels")
    size = int(subprocess.run(["du", "-sb", str(d / "base")], capture_output=True, text=True).stdout.split()[0])
    copy_s, sandbox_s, chroot_s = [], [], []
    for i in range(runs):
        for side in ("sandbox", "chroot"):
            b = d / f"{side}-{i}"
            b.mkdir()
            t0 = time.monotonic()
            subprocess.run(["cp", "-a", "--reflink=auto", str(d / "base"), str(b / "rootfs")], check=True)
            copy_s.append(time.monotonic() - t0)
            (b / "inputs").mkdir()
            (b / "inputs/build.sh").write_text(SCRIPT)
            (b / "inputs/sources.list").write_text("deb [trusted=yes] file:/atrium/mirror/apt ./\n")
            (b / "ws").mkdir()
            if side == "sandbox":
                chown_tree(b, UID)
                spec = {"id": f"bench-imgb-{i}", "argv": ["/bin/sh", "/atrium/build/build.sh"], "uid": UID,
                        "workspace": str(b / "ws"), "rootfs": str(b / "rootfs"), "rootfs_writable": True,
                        "root_inside": True, "env": {"HOME": "/root"},
                        "mounts": [{"source": str(b / "inputs"), "target": "/atrium/build"},
                                   {"source": str(d / "apt"), "target": "/atrium/mirror/apt"},
                                   {"source": str(d / "wheels"), "target": "/atrium/mirror/pip"}]}
                t0 = time.monotonic()
                p = subprocess.run([BIN, "exec", "--spec", "-"], input=json.dumps(spec), capture_output=True, text=True)
                sandbox_s.append(time.monotonic() - t0)
                assert p.returncode == 0, p.stdout + p.stderr
            else:
                r = b / "rootfs"
                for sub in ("atrium/build", "atrium/mirror/apt", "atrium/mirror/pip", "proc", "dev"):
                    (r / sub).mkdir(parents=True, exist_ok=True)
                binds = [(b / "inputs", r / "atrium/build"), (d / "apt", r / "atrium/mirror/apt"),
                         (d / "wheels", r / "atrium/mirror/pip"), (Path("/dev"), r / "dev")]
                for src, dst in binds:
                    subprocess.run(["mount", "--bind", str(src), str(dst)], check=True)
                try:
                    t0 = time.monotonic()
                    p = subprocess.run(["chroot", str(r), "/bin/sh", "/atrium/build/build.sh"], capture_output=True,
                                       text=True, env={"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "HOME": "/root",
                                                       "DEBIAN_FRONTEND": "noninteractive"})
                    chroot_s.append(time.monotonic() - t0)
                    assert p.returncode == 0, p.stdout + p.stderr
                finally:
                    for _, dst in reversed(binds):
                        subprocess.run(["umount", str(dst)], check=False)
            shutil.rmtree(b)
    med = statistics.median
    print(json.dumps({"runs": runs, "base_bytes": size, "copy_median_s": round(med(copy_s), 3),
                      "sandbox_median_s": round(med(sandbox_s), 3), "sandbox_all": [round(x, 2) for x in sandbox_s],
                      "chroot_median_s": round(med(chroot_s), 3), "chroot_all": [round(x, 2) for x in chroot_s],
                      "ratio": round(med(sandbox_s) / med(chroot_s), 2),
                      "load": os.getloadavg()[0]}))
    shutil.rmtree(d)


if __name__ == "__main__":
    main()
