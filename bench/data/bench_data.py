#!/usr/bin/env python3
"""The measurements of bench/data/run.sh (standard library only).

  bench_data.py run OUT.jsonl    all rounds, one JSON line per measurement (config: environment, below)
  bench_data.py report OUT.jsonl the markdown tables and the goal lines

Configuration of `run` (set by run.sh): BD_TMP (scratch dir on the data dir's filesystem), BD_SRC
(the source file, also nginx's document), BD_SIZE, BD_REPEAT, BD_CHUNKS (bytes, space-separated),
BD_PARALLEL, BD_CLI (the atrium binary, used as the client), BD_ATR_BASE, BD_TOKEN, BD_PROJECT,
BD_ATR_PID, BD_NGX_URL (URL of the source file), BD_NGX_PIDS (master + workers).

Every write contender starts after an (untimed) sync; every Atrium upload has unique content (its
first 64 bytes are rewritten before it), so the content-addressed store never deduplicates it, and
is deleted and garbage-collected (untimed) afterwards, so the disk holds at most a few copies.
"""
from __future__ import annotations

import http.client
import json
import os
import statistics
import subprocess
import sys
import time
import urllib.parse

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from benchlib import HZ, MiB, children_cpu, env, log, machine_busy, self_cpu, stat_ticks  # noqa: E402


class Meter:
    """Wall time and CPU (server processes, client = our children + this process, the rest of the
    machine) over a block."""

    def __init__(self, server_pids: list[int]):
        self.pids = server_pids

    def __enter__(self):
        self.s0 = sum(stat_ticks(p)[0] for p in self.pids)
        self.m0 = machine_busy()
        self.c0 = children_cpu() + self_cpu()
        self.t0 = time.monotonic()
        return self

    def __exit__(self, *exc):
        self.wall = time.monotonic() - self.t0
        self.server = (sum(stat_ticks(p)[0] for p in self.pids) - self.s0) / HZ
        self.client = children_cpu() + self_cpu() - self.c0
        busy = (machine_busy() - self.m0) / HZ
        self.other = max(0.0, busy - self.server - self.client)
        return False

    def record(self, **kw) -> dict:
        w = self.wall
        return {"wall_s": w, "server_cpu_s": self.server, "client_cpu_s": self.client, "other_cpu_s": self.other,
                "server_pct": 100 * self.server / w, "client_pct": 100 * self.client / w,
                "other_pct": 100 * self.other / w, **kw}


# ---------------------------------------------------------------------------- Atrium over HTTP


class Atrium:
    def __init__(self, base: str, token: str, project: str):
        u = urllib.parse.urlsplit(base)
        self.host, self.port = u.hostname, u.port
        self.token, self.project = token, project

    def conn(self) -> http.client.HTTPConnection:
        return http.client.HTTPConnection(self.host, self.port, timeout=600)

    def call(self, method, path, body=None, headers=None, want=(200,), conn=None):
        c = conn or self.conn()
        hs = {"Authorization": f"Bearer {self.token}", **(headers or {})}
        if isinstance(body, (dict, list)):
            body = json.dumps(body).encode()
            hs["Content-Type"] = "application/json"
        c.request(method, path, body=body, headers=hs)
        r = c.getresponse()
        data = r.read()
        if conn is None:
            c.close()
        if r.status not in want:
            raise SystemExit(f"{method} {path} answered {r.status}: {data[:500]!r}")
        return r, (json.loads(data) if data and r.getheader("content-type", "").startswith("application/") else None)

    def file_path(self, path: str) -> str:
        return f"/api/v1/projects/{self.project}/files/" + urllib.parse.quote(path)

    def upload(self, src: str, path: str, size: int, chunk: int) -> dict:
        """Raw client: create, PATCH chunk by chunk over one keep-alive connection, complete. Returns
        the phases' durations."""
        c = self.conn()
        t0 = time.monotonic()
        r, b = self.call("POST", f"/api/v1/projects/{self.project}/uploads", {"path": path, "size": size},
                         want=(201,), conn=c)
        uid = b["id"]
        chunk = min(chunk, int(r.getheader("Upload-Chunk-Max") or chunk))
        buf = bytearray(chunk)
        mv = memoryview(buf)
        off = 0
        t1 = time.monotonic()
        with open(src, "rb", buffering=0) as f:
            while off < size:
                n = f.readinto(mv[:min(chunk, size - off)])
                if not n:
                    raise SystemExit(f"{src} is shorter than {size} bytes")
                _, b = self.call("PATCH", f"/api/v1/uploads/{uid}", mv[:n],
                                 {"Upload-Offset": str(off), "Content-Type": "application/offset+octet-stream"},
                                 conn=c)
                off += n
                if b["offset"] != off:
                    raise SystemExit(f"PATCH answered offset {b['offset']}, expected {off}")
        t2 = time.monotonic()
        _, b = self.call("POST", f"/api/v1/uploads/{uid}/complete", {}, want=(201,), conn=c)
        t3 = time.monotonic()
        c.close()
        if b["size"] != size:
            raise SystemExit(f"complete: size {b['size']}, expected {size}")
        return {"create_s": t1 - t0, "patch_s": t2 - t1, "complete_s": t3 - t2, "sha256": b["sha256"]}

    def delete_and_gc(self, path: str) -> None:
        self.call("DELETE", self.file_path(path), want=(204,))
        self.call("POST", "/api/v1/admin/gc", {"dry_run": False})


# ---------------------------------------------------------------------------- the run


def tag_source(src: str, text: str) -> None:
    """Rewrites the first 64 bytes of src (in place, stays in the page cache): unique content."""
    with open(src, "r+b") as f:
        f.write(text.encode()[:64].ljust(64, b"."))


def curl_get(url: str, token: str | None) -> list[str]:
    cmd = ["curl", "-s", "-o", "/dev/null", "-w", "%{http_code} %{size_download} %{time_total}"]
    if token:
        cmd += ["-H", f"Authorization: Bearer {token}"]
    return cmd + [url]


def check_curl(out: str, size: int, what: str) -> float:
    code, got, secs = out.split()
    if code != "200" or int(got) != size:
        raise SystemExit(f"{what}: curl got HTTP {code}, {got} bytes (expected 200, {size})")
    return float(secs)


def run(out_path: str) -> None:
    tmp, src = env("BD_TMP"), env("BD_SRC")
    size, repeat, par = int(env("BD_SIZE")), int(env("BD_REPEAT")), int(env("BD_PARALLEL"))
    chunks = [int(c) for c in env("BD_CHUNKS").split()]
    cli = env("BD_CLI")
    atr = Atrium(env("BD_ATR_BASE"), env("BD_TOKEN"), env("BD_PROJECT"))
    atr_pid = int(env("BD_ATR_PID"))
    ngx_url, ngx_pids = env("BD_NGX_URL"), [int(p) for p in env("BD_NGX_PIDS").split()]
    cli_env = {k: v for k, v in os.environ.items() if not k.startswith(("ATRIUM_", "BD_"))}
    cli_env.update(ATRIUM_SERVER_URL=env("BD_ATR_BASE"), ATRIUM_TOKEN=atr.token,
                   ATRIUM_CONFIG_DIR=os.path.join(tmp, "cli-config"), HOME=os.path.join(tmp, "home"))
    os.makedirs(cli_env["HOME"], exist_ok=True)
    out = open(out_path, "a")

    def emit(rec: dict) -> None:
        rec["mib_s"] = rec["bytes"] / MiB / rec["wall_s"]
        out.write(json.dumps(rec) + "\n")
        out.flush()
        log(f"  {rec['round']:>2} {rec['name']:<22} {rec['mib_s']:>8.1f} MiB/s  {rec['wall_s']:6.2f} s  cpu server "
            f"{rec['server_pct']:.0f}% client {rec['client_pct']:.0f}% other {rec['other_pct']:.0f}%"
            + (f"  (patch {rec['patch_s']:.2f} s, complete {rec['complete_s']:.2f} s)" if "complete_s" in rec else ""))

    def alive():
        for p in [atr_pid] + ngx_pids[:1]:
            try:
                os.kill(p, 0)
            except OSError:
                raise SystemExit(f"server pid {p} died")

    # The file every Atrium download reads (untimed upload).
    tag_source(src, "atrium-bench download file")
    atr.upload(src, "dl.bin", size, max(chunks))
    dl_url = f"http://{atr.host}:{atr.port}" + atr.file_path("dl.bin")

    for rnd in range(1, repeat + 1):
        log(f"round {rnd}/{repeat}")
        # ---- writes
        dst = os.path.join(tmp, "cp-copy.bin")
        os.sync()
        with Meter([]) as m:
            subprocess.run(["sh", "-c", 'cp "$1" "$2" && sync "$2"', "sh", src, dst], check=True)
        emit(m.record(round=rnd, kind="write", name="cp+sync", bytes=size))
        os.unlink(dst)
        for chunk in chunks:
            cm = f"{chunk // MiB}MiB" if chunk % MiB == 0 else str(chunk)
            for client in ("cli", "raw"):
                name = f"{client} put {cm}"
                path = f"up/r{rnd}-{client}-{cm}.bin"
                tag_source(src, f"atrium-bench {path} {time.time_ns()}")
                os.sync()
                alive()
                with Meter([atr_pid]) as m:
                    if client == "cli":
                        r = subprocess.run([cli, "data", "put", src, "--project", atr.project, "--path", path,
                                            "--chunk", cm, "-q"], env=cli_env, capture_output=True, text=True)
                        phases = {}
                    else:
                        phases = atr.upload(src, path, size, chunk)
                if client == "cli" and r.returncode != 0:
                    raise SystemExit(f"atrium data put failed ({r.returncode}): {r.stdout}{r.stderr}")
                phases.pop("sha256", None)
                emit(m.record(round=rnd, kind="write", name=name, bytes=size, chunk=chunk, **phases))
                atr.delete_and_gc(path)
        # ---- reads (all from the page cache: every file was just written or read)
        with Meter([]) as m:
            subprocess.run(["sh", "-c", 'cat "$1" >/dev/null', "sh", src], check=True)
        emit(m.record(round=rnd, kind="read", name="cat", bytes=size))
        for name, url, tok, pids in (("nginx curl", ngx_url, None, ngx_pids), ("atrium curl", dl_url, atr.token, [atr_pid])):
            alive()
            with Meter(pids) as m:
                r = subprocess.run(curl_get(url, tok), capture_output=True, text=True, check=True)
            secs = check_curl(r.stdout, size, name)
            emit(m.record(round=rnd, kind="read", name=name, bytes=size, curl_time_s=secs))
        alive()
        with Meter([atr_pid]) as m:
            r = subprocess.run(["sh", "-c", '"$0" data get dl.bin --project "$1" -o - -q >/dev/null', cli, atr.project],
                               env=cli_env, capture_output=True, text=True)
        if r.returncode != 0:
            raise SystemExit(f"atrium data get failed ({r.returncode}): {r.stdout}{r.stderr}")
        emit(m.record(round=rnd, kind="read", name="cli get", bytes=size))
        if par > 1:
            for name, url, tok, pids in ((f"nginx curl ×{par}", ngx_url, None, ngx_pids),
                                         (f"atrium curl ×{par}", dl_url, atr.token, [atr_pid])):
                alive()
                with Meter(pids) as m:
                    ps = [subprocess.Popen(curl_get(url, tok), stdout=subprocess.PIPE, text=True) for _ in range(par)]
                    outs = [p.communicate()[0] for p in ps]
                for o in outs:
                    check_curl(o, size, name)
                emit(m.record(round=rnd, kind="read", name=name, bytes=size * par, streams=par))
    alive()
    out.close()


# ---------------------------------------------------------------------------- the report


def report(path: str) -> None:
    runs = [json.loads(line) for line in open(path)]
    names = list(dict.fromkeys(r["name"] for r in runs))
    by = {n: [r for r in runs if r["name"] == n] for n in names}
    med = lambda n, f: statistics.median(r[f] for r in by[n])  # noqa: E731
    n_rounds = len(by[names[0]])
    par = next((r["streams"] for r in runs if "streams" in r), 1)
    size = by[names[0]][0]["bytes"]

    what = {
        "cp+sync": "`cp src dst && sync dst` (same filesystem as the data dir)",
        "cat": "`cat src > /dev/null` (page cache)",
        "nginx curl": "nginx 1 stream, `curl -o /dev/null` (sendfile)",
        "atrium curl": "`curl -o /dev/null` of `GET /api/v1/projects/{id}/files/dl.bin` (bearer)",
        "cli get": "`atrium data get dl.bin -o - -q > /dev/null` (32 MiB ranges, SHA-256 checked)",
        f"nginx curl ×{par}": f"nginx, {par} curls at once (aggregate)",
        f"atrium curl ×{par}": f"Atrium, {par} curls at once (aggregate)",
    }

    def desc(n: str) -> str:
        if n in what:
            return what[n]
        client, _, chunk = n.split(" ", 2)
        if client == "cli":
            return f"`atrium data put --chunk {chunk} -q` (client hashes the file first)"
        return f"raw HTTP client (Python http.client), {chunk} PATCHes, one connection"

    def cpu(n: str) -> str:
        return " / ".join(f"{med(n, f):.0f}" for f in ("server_pct", "client_pct", "other_pct")) + " %"

    def row(n: str, anchor: str | None) -> str:
        mib = med(n, "mib_s")
        per = " / ".join(f"{r['mib_s']:.0f}" for r in by[n])
        ratio = f"{mib / med(anchor, 'mib_s'):.2f}" if anchor else "—"
        srv = f"{med(n, 'server_cpu_s') / (by[n][0]['bytes'] / (1 << 30)):.2f}" if n not in ("cp+sync", "cat") else "—"
        extra = ""
        if "complete_s" in by[n][0]:
            extra = f"PATCHes {med(n, 'patch_s'):.2f} s, complete {med(n, 'complete_s'):.2f} s"
        return f"| {n} | {desc(n)} | **{mib:,.0f}** | {per} | {med(n, 'wall_s'):.2f} s | {ratio} | {cpu(n)} | {srv} | {extra} |"

    head = (f"| contender | what | MiB/s (median of {n_rounds}) | per run | time | vs {{a}} | "
            "CPU server / client / other (% of one core) | server CPU s per GiB | notes |\n"
            "|---|---|---|---|---|---|---|---|---|")
    print(f"**Upload (write {size / MiB:,.0f} MiB)**, anchor `cp` + `sync`:\n")
    print(head.format(a="cp"))
    for n in names:
        if by[n][0]["kind"] == "write":
            print(row(n, "cp+sync"))
    print(f"\n**Download (read {size / MiB:,.0f} MiB)**, anchor nginx (same file, same curl):\n")
    print(head.format(a="nginx"))
    for n in names:
        if by[n][0]["kind"] == "read":
            anchor = None if n == "cat" else (f"nginx curl ×{par}" if "×" in n else "nginx curl")
            print(row(n, anchor))
    print()
    ratio = med("atrium curl", "mib_s") / med("nginx curl", "mib_s")
    print(f"- Goal ≥ 0.7× nginx download throughput: Atrium (curl, 1 stream) "
          f"{med('atrium curl', 'mib_s'):,.0f} MiB/s vs nginx {med('nginx curl', 'mib_s'):,.0f} MiB/s = "
          f"**{ratio:.2f}×** → goal {'met' if ratio >= 0.7 else 'NOT met'}")
    if par > 1:
        pr = med(f"atrium curl ×{par}", "mib_s") / med(f"nginx curl ×{par}", "mib_s")
        print(f"- {par} parallel downloads: {pr:.2f}× nginx; `atrium data get`: "
              f"{med('cli get', 'mib_s') / med('nginx curl', 'mib_s'):.2f}× nginx")
    ups = [n for n in names if by[n][0]["kind"] == "write" and n != "cp+sync"]
    best = max(ups, key=lambda n: med(n, "mib_s"))
    print(f"- Upload: best `{best}` {med(best, 'mib_s'):,.0f} MiB/s = "
          f"{med(best, 'mib_s') / med('cp+sync', 'mib_s'):.2f}× `cp` + `sync` ({med('cp+sync', 'mib_s'):,.0f} MiB/s)")


if __name__ == "__main__":
    if len(sys.argv) != 3 or sys.argv[1] not in ("run", "report"):
        sys.exit(__doc__)
    (run if sys.argv[1] == "run" else report)(sys.argv[2])
