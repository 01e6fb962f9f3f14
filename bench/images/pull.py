#!/usr/bin/env python3
"""Image pulls through Atrium vs `skopeo copy` of the same image from the same local registry.

An image of SIZE_MB incompressible bytes (plus busybox) is built with umoci and pushed to a
docker-registry on loopback. Cases, REPS runs each, interleaved:
  skopeo   `skopeo copy docker://… oci:<fresh dir>:t` (the copy alone, as the issue's anchor)
  atrium   POST /projects/{id}/images, polled until ready: resolve + copy into the shared layout +
           unpack (umoci raw unpack as the unpack uid) + neutralise + move into place; then the image is
           removed and collected so that the next run transfers everything again
  again    a second pull of a digest already stored (another name): N requests, each answered
           201 ready with nothing transferred (its time is skopeo inspect of the manifest: the
           registry must still confirm that this org may read it)
Prints a markdown table; with RESULTS=path it appends the section there.

  ATRIUM_BIN  the atrium binary (default build/src/atrium)   SIZE_MB (default 500)  REPS (3)  N (20)
"""
from __future__ import annotations

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
os.environ.setdefault("ATRIUM_BIN", str(REPO / "build" / "src" / "atrium"))
from conftest import Server, wait_until  # noqa: E402
from images_fixture import Registry, build_oci_image, busybox_rootfs  # noqa: E402

SIZE_MB = int(os.environ.get("SIZE_MB", "500"))
REPS = int(os.environ.get("REPS", "3"))
N = int(os.environ.get("N", "20"))


def main() -> None:
    tmp = Path(tempfile.mkdtemp(prefix="atrium-bench-pull-"))
    reg = srv = None
    try:
        root = busybox_rootfs(tmp / "root")
        (root / "opt").mkdir()
        for i in range(max(1, SIZE_MB // 50)):  # 50 MB files of random bytes: gzip cannot shrink them
            with open(root / "opt" / f"blob{i}", "wb") as f:
                for _ in range(min(50, SIZE_MB)):
                    f.write(os.urandom(1 << 20))
        layout = build_oci_image(root, tmp / "layout", "big")
        reg = Registry(tmp / "registry")
        digest = reg.push(layout, "big", "bench/big", dest_tag="v1")
        ref = reg.ref("bench/big", "v1")

        srv = Server(tmp / "srv", env={"ATRIUM_IMAGES_INSECURE_REGISTRIES": "127.0.0.1:*"}).start()
        admin = srv.admin_token()
        org = srv.call("POST", "/api/v1/orgs", admin, json={"slug": "bench", "name": "Bench"}).json
        pid = srv.call("POST", f"/api/v1/orgs/{org['id']}/projects", admin, json={"slug": "p", "name": "P"}).json["id"]
        roots = srv.data_dir / "images" / "roots"

        def atrium_pull(name: str) -> float:
            t0 = time.perf_counter()
            r = srv.call("POST", f"/api/v1/projects/{pid}/images", admin, json={"name": name, "source": ref})
            assert r.status in (201, 202), r
            im = wait_until(lambda: (j := srv.call("GET", f"/api/v1/images/{r.json['id']}", admin).json)["state"]
                            != "pending" and j, 1800, 0.02, "the pull")
            dt = time.perf_counter() - t0
            assert im["state"] == "ready", im
            return dt

        times: dict[str, list[float]] = {"skopeo": [], "atrium": []}
        for i in range(REPS):
            dest = tmp / f"copy{i}"
            t0 = time.perf_counter()
            subprocess.run(["skopeo", "--insecure-policy", "copy", "--quiet", "--src-tls-verify=false", ref,
                            f"oci:{dest}:t"], check=True, capture_output=True)
            times["skopeo"].append(time.perf_counter() - t0)
            shutil.rmtree(dest)
            times["atrium"].append(atrium_pull(f"big{i}"))
            if i < REPS - 1:  # gone again, so that the next pull transfers everything
                im = srv.call("GET", f"/api/v1/projects/{pid}/images", admin).json["items"][0]
                srv.call("DELETE", f"/api/v1/images/{im['id']}", admin, if_match=im["etag"])
                wait_until(lambda: not (roots / digest[7:]).exists(), 120, 0.05, "the collection")
        again = []
        for i in range(N):
            t0 = time.perf_counter()
            r = srv.call("POST", f"/api/v1/projects/{pid}/images", admin, json={"name": f"again{i}", "source": ref})
            again.append((time.perf_counter() - t0) * 1000)
            assert r.status == 201 and r.json["state"] == "ready", r

        med = {k: statistics.median(v) for k, v in times.items()}
        lines = [f"## Images: pull — {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}", "",
                 f"`bench/images/pull.py`, a {SIZE_MB} MB image (incompressible) from docker-registry on loopback, "
                 f"{REPS} runs per case, interleaved; {os.cpu_count()} CPUs, {platform.release()}, "
                 f"load {os.getloadavg()[0]:.2f}.", "",
                 "| case | median s | runs s | vs skopeo copy |", "|---|---|---|---|",
                 f"| skopeo copy | {med['skopeo']:.2f} | {', '.join(f'{x:.2f}' for x in times['skopeo'])} | 1.00× |",
                 f"| atrium pull (copy + unpack + neutralise) | {med['atrium']:.2f} | "
                 f"{', '.join(f'{x:.2f}' for x in times['atrium'])} | {med['atrium'] / med['skopeo']:.2f}× |",
                 "", f"Second pull of the stored digest (201 ready, no blob transferred), N={N}: p50 "
                 f"{statistics.median(again):.1f} ms, max {max(again):.1f} ms."]
        text = "\n".join(lines) + "\n"
        print(text)
        if os.environ.get("RESULTS"):
            with open(os.environ["RESULTS"], "a") as f:
                f.write("\n" + text)
    finally:
        if srv is not None:
            srv.stop(30)
        if reg is not None:
            reg.stop()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
