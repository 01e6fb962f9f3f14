#!/usr/bin/env python3
"""Job start on an image vs on the host root: `atrium exec` of a trivial program, N runs per case, interleaved
(so load drifts hit every case alike), wall time of the whole `atrium exec` as the caller sees it.

Cases (the same program in each pair):
  host     rootfs "" (the host's /usr and /etc, read-only), `python3 -S -c 0`
  debian   rootfs = the Jupyter test image (tests/integration/jupyter_image.py: ~180 Debian packages,
           merged /usr, bin -> usr/bin...), `python3 -S -c 0`: the same dynamic binary (hard links of
           the host's files), its libraries from the image; it has no coreutils, hence no `true`
  busybox  rootfs = a static busybox image (/bin only), /bin/busybox true
  host-bb  the host root, /bin/busybox true (busybox's pair)
An image root is mounts only (a bind per top-level entry, symlinks recreated): nothing is copied or
unpacked per start. Prints a markdown table; with RESULTS=path it appends the section there.

  ATRIUM_BIN  the atrium binary (default build/src/atrium)     N  runs per case (default 200)
"""
from __future__ import annotations

import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "tests" / "integration"))
sys.path.insert(0, str(REPO / "bench"))
from benchlib import publish  # noqa: E402
from jupyter_image import jupyter_image  # noqa: E402

BIN = os.environ.get("ATRIUM_BIN", str(REPO / "build" / "src" / "atrium"))
N = int(os.environ.get("N", "200"))


def busybox_image(root: Path) -> Path:
    (root / "bin").mkdir(parents=True)
    shutil.copy2("/bin/busybox", root / "bin" / "busybox")
    (root / "etc").mkdir()
    (root / "etc" / "os-release").write_text("ID=atrium-bench\n")
    return root


def main() -> None:
    tmp = Path(tempfile.mkdtemp(prefix="atrium-bench-images-"))
    try:
        ws = tmp / "ws"
        ws.mkdir()
        debian = jupyter_image()
        py = ["/usr/bin/python3", "-S", "-c", "0"]  # the image has no coreutils: the same dynamic binary on both
        cases = {"host": ("", py), "debian": (str(debian), py),
                 "host-bb": ("", ["/bin/busybox", "true"]), "busybox": (str(busybox_image(tmp / "bb")), ["/bin/busybox", "true"])}
        pairs = {"host": "host", "debian": "host", "host-bb": "host-bb", "busybox": "host-bb"}
        specs = {}
        for name, (rootfs, argv) in cases.items():
            spec = {"id": f"bench-{name}", "argv": argv, "workspace": str(ws), "rootfs": rootfs}
            specs[name] = tmp / f"{name}.json"
            specs[name].write_text(json.dumps(spec))
        times: dict[str, list[float]] = {n: [] for n in cases}
        for name in cases:  # warm-up (page cache, dentries)
            for _ in range(5):
                subprocess.run([BIN, "exec", "--spec", str(specs[name])], capture_output=True, check=True)
        import random
        rng = random.Random(18)
        order = list(cases)
        for _ in range(N):
            rng.shuffle(order)  # no case always runs right after another
            for name in order:
                t0 = time.perf_counter()
                r = subprocess.run([BIN, "exec", "--spec", str(specs[name])], capture_output=True)
                times[name].append((time.perf_counter() - t0) * 1000)
                if r.returncode != 0:
                    sys.exit(f"{name}: atrium exec failed ({r.returncode}): {r.stdout} {r.stderr}")
        def q(v, p):
            return statistics.quantiles(v, n=100)[p - 1]
        p50 = {n: statistics.median(v) for n, v in times.items()}
        # The overhead per round (image minus its host pair, same round): robust to load drifts.
        paired = {n: statistics.median(a - b for a, b in zip(times[n], times[pairs[n]])) for n in times}
        mounts = {"host": "usr, etc + 5 links", "host-bb": "usr, etc + 5 links",
                  "debian": ", ".join(sorted(e for e in os.listdir(debian) if e not in ("proc", "dev", "sys", "tmp"))),
                  "busybox": "bin, etc"}
        lines = [f"## Images: job start — {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}", "",
                 f"`bench/images/start.py`, N={N} `atrium exec` runs per case, interleaved, wall time as the caller sees it; "
                 f"{os.cpu_count()} CPUs, {platform.release()}, load {os.getloadavg()[0]:.2f}; as "
                 f"{'root' if os.geteuid() == 0 else 'an unprivileged user'}, no limits in the spec.", "",
                 "| case | root | top-level entries | p50 ms | p90 ms | p50 overhead vs host | median paired overhead |",
                 "|---|---|---|---|---|---|---|"]
        labels = {"host": "host /usr, /etc", "host-bb": "host /usr, /etc", "busybox": "static busybox image",
                  "debian": "Jupyter test image (Debian 12 packages)"}
        for n, v in times.items():
            over = p50[n] - p50[pairs[n]]
            lines.append(f"| {n} | {labels[n]} | {mounts[n]} | {p50[n]:.2f} | {q(v, 90):.2f} | "
                         f"{'—' if pairs[n] == n else f'{over:+.2f} ms'} | {'—' if pairs[n] == n else f'{paired[n]:+.2f} ms'} |")
        publish("\n" + "\n".join(lines) + "\n")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
