#!/usr/bin/env python3
"""Environments' project view (docs/envs.md "The project's data"): how long the view takes to be
materialised at launch and synced back, against `cp -a` of the very same tree on the same disk.

  sudo ATRIUM_BIN=build/src/atrium /usr/bin/python3 bench/envs/files_view.py   [RESULTS=bench/RESULTS.md]

For each case (many small files; a few large ones) a fresh server (tests/integration's Server, a
temp data dir) gets the files through the upload API, an env of a tiny `web` app is launched with
`files: true` and waits READY; then:
  * materialise: the server's own log line (decrypt + write + chown + record, per env, once);
    anchor: `cp -a` of the materialised tree to a new directory;
  * sync, nothing changed: the report's took_ms (a walk with directory fds + one read of the records);
  * sync, every file changed (appended one line inside the env): took_ms (read, hash+encrypt, store
    each as a blob, 256 files per transaction); anchor: `cp -a` of the changed tree.
Never a gate: it fails only when something is broken.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "tests" / "integration"))
sys.path.insert(0, str(REPO / "bench"))
os.environ.setdefault("ATRIUM_BIN", str(REPO / "build" / "src" / "atrium"))

from benchlib import log, machine, publish  # noqa: E402
from conftest import Server, World, wait_until  # noqa: E402
from test_env_data import SHELL_APP, put_file, run  # noqa: E402

CASES = [(1000, 4096), (8, 8 << 20)]  # (files, bytes each)


def cp_a_ms(src: Path, scratch: Path) -> float:
    dst = scratch / f"cp-{time.monotonic_ns()}"
    t = time.perf_counter()
    subprocess.run(["cp", "-a", str(src), str(dst)], check=True)
    ms = (time.perf_counter() - t) * 1000
    shutil.rmtree(dst)
    return ms


def one_case(n: int, size: int, scratch: Path) -> dict:
    srv = Server(scratch / f"srv-{n}", env={"ATRIUM_COMPUTE_CPUS": "4", "ATRIUM_COMPUTE_MEM_MB": "8192"}).start()
    try:
        admin = srv.admin_token()
        w = World(srv, admin, prefix="b")
        member, pid = w.a.users["member"], w.a.org_project["id"]
        r = srv.call("PUT", "/api/v1/apps/shell", admin, json={"kind": "web", "command": ["/usr/bin/python3", "-c", SHELL_APP],
                                                                "health_path": "health"})
        assert r.status == 201, r
        for i in range(n):
            put_file(srv, member.token, pid, f"d/f{i:05d}.bin", os.urandom(size))
        r = srv.call("POST", f"/api/v1/projects/{pid}/envs", member.token, json={"app": "shell", "files": True})
        assert r.status == 201, r
        env_id = r.json["id"]
        env = wait_until(lambda: (lambda e: e if e["state"] in ("READY", "FAILED") else None)(
            srv.call("GET", f"/api/v1/envs/{env_id}", member.token).json), 300, 0.05, "READY")
        assert env["state"] == "READY", env
        line = next(l for l in srv.stderr_lines if env_id in l and "materialised in" in l)
        mat_ms = float(re.search(r"materialised in (\d+) ms", line).group(1))
        view = srv.data_dir / "envs" / env_id / "files"
        cp_mat = cp_a_ms(view, scratch)
        rep0 = srv.call("POST", f"/api/v1/envs/{env_id}/sync", member.token).json
        assert rep0["complete"] and rep0["unchanged"] == n, rep0
        run(srv, member.token, env, "for f in /project/d/*; do echo x >> $f; done")
        rep1 = srv.call("POST", f"/api/v1/envs/{env_id}/sync", member.token).json
        assert rep1["complete"] and rep1["updated"] == n, rep1
        cp_sync = cp_a_ms(view, scratch)
        srv.call("POST", f"/api/v1/envs/{env_id}/stop", member.token)
        wait_until(lambda: srv.call("GET", f"/api/v1/envs/{env_id}", member.token).json["state"] in ("STOPPED", "FAILED"),
                   120, 0.05, "STOPPED")
        return {"files": n, "size": size, "materialise_ms": mat_ms, "cp_materialise_ms": cp_mat,
                "sync_nochange_ms": rep0["took_ms"], "sync_all_ms": rep1["took_ms"], "cp_sync_ms": cp_sync}
    finally:
        srv.stop(60)


def main() -> None:
    if os.getuid() != 0:
        sys.exit("run as root: the server starts sandboxes")
    rows = []
    with tempfile.TemporaryDirectory(prefix="atrium-fv-") as tmp:
        for n, size in CASES:
            log(f"case {n} × {size} bytes")
            rows.append(one_case(n, size, Path(tmp)))
    table = ["| tree | materialise | `cp -a` | ratio | sync, nothing changed | sync, all changed | `cp -a` | ratio |",
             "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        mib = r["files"] * r["size"] / (1 << 20)
        table.append(f"| {r['files']} × {r['size'] // 1024} KiB ({mib:.0f} MiB) | {r['materialise_ms']:.0f} ms | "
                     f"{r['cp_materialise_ms']:.0f} ms | {r['materialise_ms'] / max(r['cp_materialise_ms'], 1):.1f}× | "
                     f"{r['sync_nochange_ms']:.0f} ms | {r['sync_all_ms']:.0f} ms | {r['cp_sync_ms']:.0f} ms | "
                     f"{r['sync_all_ms'] / max(r['cp_sync_ms'], 1):.1f}× |")
    section = (f"\n## Environments: the project view, materialise and sync vs `cp -a` — "
               f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}\n\n"
               f"- Command: `sudo /usr/bin/python3 bench/envs/files_view.py`\n- Machine: {machine(REPO)}\n"
               "- Materialise: decrypt each blob, write, chown to the env's uid, record (the server's log line). "
               "Sync: the report's took_ms (walk through directory fds; each changed file read, hashed, encrypted, "
               "stored durably as a blob, committed 256 files per transaction). `cp -a` of the same tree on the same disk, "
               "page cache warm (it makes nothing durable).\n\n"
               + "\n".join(table) + "\n\n" + json.dumps(rows) + "\n")
    publish(section)


if __name__ == "__main__":
    main()
