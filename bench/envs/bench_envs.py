#!/usr/bin/env python3
"""The measurements of bench/envs/run.sh (standard library only; run with /usr/bin/python3).

  bench_envs.py proxy OUT.json    wrk (1 and 64 connections) and a WebSocket echo through every target
  bench_envs.py launch OUT.json   jupyter env launch → READY (through the API) vs the same sandbox spec
                                  run bare with `atrium exec` (fork → first 200 on api/status)
  bench_envs.py rss OUT.json      the server's VmRSS with N idle `web` envs
  bench_envs.py report DIR        the markdown tables and goal lines from DIR/{proxy,launch,rss}.json
  bench_envs.py wsecho URL N      one WebSocket echo run (for trying a target by hand)

Configuration (environment, set by run.sh):
  proxy:  EB_TARGETS (JSON list of {"name", "url", "note"}: the base URL of each target, the path
          included, e.g. http://127.0.0.1:PORT/env/<id>/), EB_AUTH (a header line sent to every
          target, e.g. "Authorization: Bearer atr_…"), EB_DURATION (wrk -d, e.g. 10s), EB_CONNS
          ("1 64"), EB_WARMUP (wrk -d of an unmeasured run per target and connection count, "0": none),
          EB_RUNS (measured rounds; medians), EB_ECHOES (WebSocket round trips per target),
          EB_PIDS (JSON {"name": [pids]}: whose CPU to count during the wrk runs; optional)
  launch, rss: EB_BASE (Atrium's http://127.0.0.1:PORT), EB_TOKEN, EB_PROJECT, EB_DATA (the server's
          data dir), EB_ENVS_LIST (file: every env id created is appended, so run.sh can stop them),
          EB_ATR_PID; launch: EB_LAUNCHES, EB_BIN (the atrium binary for `atrium exec`), EB_TMP (a
          scratch dir), EB_BARE_PID (file: the pid of a running `atrium exec`, for run.sh's cleanup);
          rss: EB_RSS_ENVS (envs that run at once, the one the proxy runs used included: EB_KEEP_ENV).

Any error from Atrium (an HTTP status other than the expected one, an env that ends FAILED or does
not get READY in time) stops the run with the request, the status and the body on stderr.
"""
from __future__ import annotations

import base64
import glob
import http.client
import json
import os
import re
import shutil
import signal
import socket
import statistics
import struct
import subprocess
import sys
import time
import urllib.parse

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from benchlib import HZ, MiB, env, log, machine_busy, stat_ticks  # noqa: E402

POLL_S = 0.010  # how often READY / the bare server's first 200 is polled (same for both)
READY_TIMEOUT_S = 120.0
STOP_TIMEOUT_S = 60.0
TERMINAL_STATES = {"STOPPED", "FAILED", "EXITED", "CANCELLED", "CULLED"}


def pct(values: list[float], p: float) -> float:
    """The p-th percentile (nearest rank) of values."""
    v = sorted(values)
    k = max(0, min(len(v) - 1, int(round(p / 100.0 * len(v) + 0.5)) - 1))
    return v[k]


# ---- wrk ------------------------------------------------------------------------------------------
UNITS = {"us": 1e-3, "ms": 1.0, "s": 1000.0, "m": 60000.0}


def to_ms(text: str) -> float:
    m = re.fullmatch(r"([0-9.]+)(us|ms|s|m)", text)
    if not m:
        raise ValueError(f"unparsable wrk latency {text!r}")
    return float(m.group(1)) * UNITS[m.group(2)]


def wrk(url: str, conns: int, duration: str, auth: str) -> dict:
    threads = 1 if conns < 2 else 2  # the machine is small: at most 2 wrk threads
    cmd = ["wrk", f"-t{threads}", f"-c{conns}", f"-d{duration}", "--latency", "-H", auth, url]
    p = subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True, text=True)
    out = p.stdout
    if p.returncode != 0:
        sys.exit(f"bench_envs.py: {' '.join(cmd[:-3])} … {url} failed ({p.returncode}): {p.stderr[-2000:]}{out[-2000:]}")
    r = {"cmd": f"wrk -t{threads} -c{conns} -d{duration} --latency", "conns": conns}
    m = re.search(r"Requests/sec:\s+([0-9.]+)", out)
    if not m:
        sys.exit(f"bench_envs.py: no Requests/sec in the wrk output for {url}:\n{out}\n{p.stderr}")
    r["rps"] = float(m.group(1))
    for q in ("50", "99"):
        m = re.search(rf"^\s+{q}%\s+(\S+)", out, re.M)
        r[f"p{q}"] = to_ms(m.group(1)) if m else None
    m = re.search(r"(\d+) requests in", out)
    r["requests"] = int(m.group(1)) if m else 0
    m = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    r["non2xx"] = int(m.group(1)) if m else 0
    m = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    r["sock_errors"] = sum(int(x) for x in m.groups()) if m else 0
    if r["non2xx"] or r["sock_errors"] or r["requests"] == 0:
        sys.exit(f"bench_envs.py: {url} at {conns} connections: {r['non2xx']} non-2xx answers, "
                 f"{r['sock_errors']} socket errors, {r['requests']} requests:\n{out}")
    return r


# ---- WebSocket (RFC 6455) client ------------------------------------------------------------------
class WS:
    def __init__(self, url: str, headers: list[str]):
        u = urllib.parse.urlsplit(url)
        self.sock = socket.create_connection((u.hostname, u.port or 80), timeout=10)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        key = base64.b64encode(os.urandom(16)).decode()
        path = u.path + (f"?{u.query}" if u.query else "")
        req = (f"GET {path} HTTP/1.1\r\nHost: {u.netloc}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
               f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n" + "".join(h + "\r\n" for h in headers) + "\r\n")
        self.sock.sendall(req.encode())
        self.buf = b""
        while b"\r\n\r\n" not in self.buf:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise OSError(f"WebSocket {url}: connection closed during the handshake; got {self.buf[:500]!r}")
            self.buf += chunk
        head, self.buf = self.buf.split(b"\r\n\r\n", 1)
        lines = head.decode("latin-1").split("\r\n")
        if not lines[0].startswith("HTTP/1.1 101"):
            raise OSError(f"WebSocket {url}: handshake answered {head.decode('latin-1')[:1000]!r}")
        hdrs = {k.strip().lower(): v.strip() for k, v in (l.split(":", 1) for l in lines[1:] if ":" in l)}
        import hashlib
        want = base64.b64encode(hashlib.sha1((key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11").encode()).digest()).decode()
        if hdrs.get("sec-websocket-accept") != want:
            raise OSError(f"WebSocket {url}: bad Sec-WebSocket-Accept {hdrs.get('sec-websocket-accept')!r} (want {want})")

    def send(self, payload: bytes, opcode: int = 2) -> None:
        mask = os.urandom(4)
        n = len(payload)
        if n < 126:
            hdr = struct.pack("!BB", 0x80 | opcode, 0x80 | n)
        elif n < 65536:
            hdr = struct.pack("!BBH", 0x80 | opcode, 0x80 | 126, n)
        else:
            hdr = struct.pack("!BBQ", 0x80 | opcode, 0x80 | 127, n)
        masked = bytes(b ^ mask[i & 3] for i, b in enumerate(payload))
        self.sock.sendall(hdr + mask + masked)

    def _need(self, n: int) -> None:
        while len(self.buf) < n:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise OSError("WebSocket: connection closed")
            self.buf += chunk

    def recv(self) -> tuple[int, bytes]:
        self._need(2)
        b0, b1 = self.buf[0], self.buf[1]
        n, off = b1 & 0x7F, 2
        if n == 126:
            self._need(4)
            n, off = struct.unpack("!H", self.buf[2:4])[0], 4
        elif n == 127:
            self._need(10)
            n, off = struct.unpack("!Q", self.buf[2:10])[0], 10
        if b1 & 0x80:
            raise OSError("WebSocket: the server sent a masked frame")
        self._need(off + n)
        payload, self.buf = self.buf[off:off + n], self.buf[off + n:]
        return b0 & 0x0F, payload

    def close(self) -> None:
        try:
            self.send(struct.pack("!H", 1000), opcode=8)
            op, _ = self.recv()
            if op != 8:
                raise OSError(f"WebSocket: expected a close frame, got opcode {op}")
        finally:
            self.sock.close()


def ws_url(base: str) -> str:
    return base.rstrip("/") + "/ws"


def ws_echo(url: str, n: int, headers: list[str], size: int = 32) -> list[float]:
    """n sequential echoes of `size` random bytes; the round trips in ms (after 20 unmeasured)."""
    ws = WS(url, headers)
    rtts = []
    for i in range(n + 20):
        payload = os.urandom(size)
        t0 = time.perf_counter()
        ws.send(payload)
        op, got = ws.recv()
        dt = (time.perf_counter() - t0) * 1000.0
        if op != 2 or got != payload:
            raise OSError(f"WebSocket {url}: echo {i} came back as opcode {op}, {got[:40]!r} (sent {payload[:40]!r})")
        if i >= 20:
            rtts.append(dt)
    ws.close()
    return rtts


# ---- proxy ----------------------------------------------------------------------------------------
def proxy(out_path: str) -> None:
    targets = json.loads(env("EB_TARGETS"))
    auth, duration, warmup = env("EB_AUTH"), env("EB_DURATION"), env("EB_WARMUP")
    conns = [int(c) for c in env("EB_CONNS").split()]
    runs, echoes = int(env("EB_RUNS")), int(env("EB_ECHOES"))
    pids = json.loads(os.environ.get("EB_PIDS") or "{}")
    res = {"targets": targets, "duration": duration, "runs": runs, "echoes": echoes, "wrk": [], "ws": {}}

    def cpu(name: str) -> float:
        return sum(stat_ticks(p)[0] for p in pids.get(name, [])) / HZ

    for c in conns:
        if warmup not in ("", "0", "0s"):
            for t in targets:
                wrk(t["url"], c, warmup, auth)
        for i in range(runs):
            order = targets if i % 2 == 0 else list(reversed(targets))
            for t in order:
                c0, m0, t0 = cpu(t["name"]), machine_busy(), time.perf_counter()
                r = wrk(t["url"], c, duration, auth)
                wall = time.perf_counter() - t0
                r.update(target=t["name"], round=i + 1, server_cpu=(cpu(t["name"]) - c0) / wall if t["name"] in pids else None,
                         machine_cpu=(machine_busy() - m0) / HZ / wall)
                res["wrk"].append(r)
                log(f"{t['name']:>7} c={c:<3} round {i + 1}: {r['rps']:9.0f} req/s  p50 {r['p50']:.3f} ms  "
                    f"p99 {r['p99']:.3f} ms")
    for t in targets:
        rtts = ws_echo(ws_url(t["url"]), echoes, [auth])
        res["ws"][t["name"]] = {"n": len(rtts), "p50": pct(rtts, 50), "p99": pct(rtts, 99), "mean": statistics.mean(rtts)}
        log(f"{t['name']:>7} WebSocket echo ×{len(rtts)}: p50 {pct(rtts, 50):.3f} ms  p99 {pct(rtts, 99):.3f} ms")
    with open(out_path, "w") as f:
        json.dump(res, f, indent=1)


# ---- the Atrium API -------------------------------------------------------------------------------
class Api:
    def __init__(self, base: str, token: str):
        u = urllib.parse.urlsplit(base)
        self.host, self.port = u.hostname, u.port
        self.token = token
        self.conn: http.client.HTTPConnection | None = None

    def call(self, method: str, path: str, body: dict | None = None, want: tuple[int, ...] = (200,)) -> dict:
        data = json.dumps(body).encode() if body is not None else None
        hdrs = {"Authorization": f"Bearer {self.token}", "Accept": "application/json"}
        if data is not None:
            hdrs["Content-Type"] = "application/json"
        for attempt in (1, 2):
            if self.conn is None:
                self.conn = http.client.HTTPConnection(self.host, self.port, timeout=30)
            try:
                self.conn.request(method, path, body=data, headers=hdrs)
                resp = self.conn.getresponse()
                text = resp.read()
                break
            except (http.client.HTTPException, ConnectionError):  # a closed keep-alive connection: once more
                self.conn.close()
                self.conn = None
                if attempt == 2:
                    raise
        if resp.status not in want:
            sys.exit(f"bench_envs.py: Atrium answered {method} {path} {'with body ' + data.decode() if data else ''}"
                     f"\n  → {resp.status} {resp.reason}\n  {dict(resp.getheaders())}\n  {text.decode(errors='replace')[:4000]}")
        try:
            return json.loads(text) if text else {}
        except ValueError:
            sys.exit(f"bench_envs.py: {method} {path} → {resp.status}: not JSON: {text[:2000]!r}")


def note_env(env_id: str) -> None:
    with open(env("EB_ENVS_LIST"), "a") as f:
        f.write(env_id + "\n")


def wait_state(api: Api, env_id: str, want: set[str], timeout: float) -> tuple[dict, float]:
    """Polls GET /envs/{id} every POLL_S until its state is in want; (the env, perf_counter then)."""
    deadline = time.perf_counter() + timeout
    last = None
    while True:
        e = api.call("GET", f"/api/v1/envs/{env_id}")
        now = time.perf_counter()
        if e.get("state") != last:
            last = e.get("state")
        if last in want:
            return e, now
        if last in TERMINAL_STATES:
            sys.exit(f"bench_envs.py: env {env_id} ended {last} while waiting for {'/'.join(sorted(want))}:\n"
                     f"  GET /api/v1/envs/{env_id} → {json.dumps(e)}")
        if now > deadline:
            sys.exit(f"bench_envs.py: env {env_id} not {'/'.join(sorted(want))} after {timeout:.0f} s:\n  {json.dumps(e)}")
        time.sleep(POLL_S)


def create_env(api: Api, body: dict) -> dict:
    e = api.call("POST", f"/api/v1/projects/{env('EB_PROJECT')}/envs", body, want=(200, 201, 202))
    if "id" not in e:
        sys.exit(f"bench_envs.py: POST envs {json.dumps(body)} answered without an id: {json.dumps(e)}")
    note_env(e["id"])
    return e


def stop_env(api: Api, env_id: str) -> tuple[dict, float]:
    t0 = time.perf_counter()
    api.call("POST", f"/api/v1/envs/{env_id}/stop", {}, want=(200, 202, 204))
    e, t1 = wait_state(api, env_id, TERMINAL_STATES, STOP_TIMEOUT_S)
    if e.get("state") != "STOPPED":
        log(f"env {env_id} ended {e.get('state')} after stop: {json.dumps(e)}")
    return e, t1 - t0


class UnixHTTPConnection(http.client.HTTPConnection):
    def __init__(self, path: str, timeout: float = 5.0):
        super().__init__("localhost", timeout=timeout)
        self.path = path

    def connect(self) -> None:
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(self.timeout)
        s.connect(self.path)
        self.sock = s


def unix_get(sock_path: str, url_path: str, headers: dict) -> int:
    """The status of GET url_path over the unix socket; 0 when it cannot connect (yet)."""
    c = UnixHTTPConnection(sock_path)
    try:
        c.request("GET", url_path, headers=headers)
        r = c.getresponse()
        r.read()
        return r.status
    except (OSError, http.client.HTTPException):
        return 0
    finally:
        c.close()


# ---- launch ---------------------------------------------------------------------------------------
def snapshot_spec(data: str, e: dict, dst: str) -> dict:
    """While env e is READY: its job's sandbox spec, with copies of the env's own directories under
    dst (workspace, run dir, …), rewritten to use the copies. Returns {"spec", "run_dir", "health"}."""
    job_id = e.get("job_id")
    if not job_id:
        sys.exit(f"bench_envs.py: the env has no job_id, cannot find its sandbox spec: {json.dumps(e)}")
    specs = sorted(glob.glob(os.path.join(data, "jobs", job_id, "run*", "spec.json")))
    if not specs:
        sys.exit(f"bench_envs.py: no {data}/jobs/{job_id}/run*/spec.json; that dir has: "
                 f"{sorted(glob.glob(os.path.join(data, 'jobs', job_id, '*')))}")
    with open(specs[-1]) as f:
        spec = json.load(f)
    os.makedirs(dst, exist_ok=True)
    data_real = os.path.realpath(data)
    copies: dict[str, str] = {}

    def copy(src: str) -> str:
        if not src or not os.path.realpath(src).startswith(data_real + "/"):
            return src  # a host path (/usr, …): used as it is
        if src not in copies:
            to = os.path.join(dst, f"d{len(copies)}")
            if os.path.isdir(src):  # sockets and fifos are left out (the app's socket: it makes its own)
                shutil.copytree(src, to, symlinks=True,
                                ignore=lambda d, names: [n for n in names if special_file(os.path.join(d, n))])
            else:
                shutil.copy2(src, to)
            st = os.stat(src)
            os.chown(to, st.st_uid, st.st_gid)
            os.chmod(to, st.st_mode & 0o7777)
            for root, dirs, files in os.walk(to):
                for n in dirs + files:
                    p = os.path.join(root, n)
                    o = os.lstat(os.path.join(src, os.path.relpath(p, to)))
                    os.lchown(p, o.st_uid, o.st_gid)
            copies[src] = to
        return copies[src]

    spec["workspace"] = copy(spec.get("workspace", ""))
    for m in spec.get("mounts", []):
        m["source"] = copy(m["source"])

    def on_host(inside: str) -> str:
        """The host path of a path inside the sandbox (through the longest mount target that holds it)."""
        binds = [(m["target"].rstrip("/"), m["source"]) for m in spec.get("mounts", [])] + [("/workspace", spec["workspace"])]
        best = max((b for b in binds if inside == b[0] or inside.startswith(b[0] + "/")), key=lambda b: len(b[0]), default=None)
        if best is None:
            sys.exit(f"bench_envs.py: {inside} is in no mount of the spec {specs[-1]}: {json.dumps(spec)[:3000]}")
        return best[1] + inside[len(best[0]):]

    senv = spec.get("env", {})
    sock = on_host(senv.get("ATRIUM_SOCKET", "/run/atrium/app.sock"))
    token_file = on_host(senv.get("JUPYTER_TOKEN_FILE") or senv.get("ATRIUM_TOKEN_FILE") or "/run/atrium/token")
    spec["id"] = "bench-bare"
    spec["stdout_path"] = os.path.join(dst, "stdout.log")
    spec["stderr_path"] = os.path.join(dst, "stderr.log")
    base_url = senv.get("ATRIUM_BASE_URL") or f"/env/{e['id']}/"
    if not os.path.exists(token_file):
        sys.exit(f"bench_envs.py: no token file {token_file} in the copy of the env's run dir "
                 f"({os.listdir(os.path.dirname(token_file))})")
    with open(token_file) as f:
        token = f.read().strip()
    return {"spec": spec, "spec_file": specs[-1], "sock": sock, "health": base_url.rstrip("/") + "/api/status",
            "token": token, "copies": copies}


def special_file(p: str) -> bool:
    """Neither a regular file, a directory nor a symlink (a socket, a fifo, a device)."""
    import stat as st
    try:
        m = os.lstat(p).st_mode
    except OSError:
        return True
    return not (st.S_ISREG(m) or st.S_ISDIR(m) or st.S_ISLNK(m))


def bare_run(snap: dict, i: int, tmp: str) -> float:
    """`atrium exec --spec` of the snapshot; ms from fork to the first 200 on api/status over the socket."""
    spec = dict(snap["spec"])
    spec["id"] = f"bench-bare-{os.getpid()}-{i}"
    path = os.path.join(tmp, f"bare-spec-{i}.json")
    with open(path, "w") as f:
        json.dump(spec, f)
    sock = snap["sock"]
    if os.path.exists(sock):
        os.unlink(sock)
    hdrs = {"Authorization": f"token {snap['token']}"}
    out = open(os.path.join(tmp, f"bare-{i}.out"), "w")
    t0 = time.perf_counter()
    p = subprocess.Popen([env("EB_BIN"), "exec", "--spec", path], stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                         start_new_session=True)
    with open(env("EB_BARE_PID"), "w") as f:
        f.write(f"{p.pid}\n")
    try:
        while True:
            code = unix_get(sock, snap["health"], hdrs) if os.path.exists(sock) else 0
            now = time.perf_counter()
            if code == 200:
                break
            if p.poll() is not None:
                out.flush()
                sys.exit(f"bench_envs.py: bare `atrium exec --spec {path}` exited {p.returncode} before a 200 on "
                         f"{snap['health']} (last status {code}):\n{open(out.name).read()[-3000:]}")
            if now - t0 > READY_TIMEOUT_S:
                sys.exit(f"bench_envs.py: bare run: no 200 on {snap['health']} after {READY_TIMEOUT_S:.0f} s (last {code})")
            time.sleep(POLL_S)
        return (now - t0) * 1000.0
    finally:
        try:
            os.killpg(p.pid, signal.SIGTERM)
        except OSError:
            pass
        try:
            p.wait(timeout=20)
        except subprocess.TimeoutExpired:
            log(f"bare atrium exec {p.pid} ignored SIGTERM for 20 s, killing its group")
            os.killpg(p.pid, signal.SIGKILL)
            p.wait()
        out.close()
        os.unlink(env("EB_BARE_PID"))


def iso_ms(t) -> float | None:
    """Milliseconds since the epoch of an ISO 8601 UTC time ("…Z") or of a number of ms."""
    if isinstance(t, (int, float)):
        return float(t)
    if not isinstance(t, str):
        return None
    from datetime import datetime
    try:
        return datetime.fromisoformat(t.replace("Z", "+00:00")).timestamp() * 1000.0
    except ValueError:
        return None


def phases(events: dict) -> dict[str, float]:
    """From an env's events (GET /envs/{id}/events): ms from the first event (creation) to the first
    STARTING and to the first READY."""
    items = events.get("items", events.get("data", [])) if isinstance(events, dict) else events
    first: dict[str, float] = {}
    for ev in items:
        t = next((iso_ms(ev[k]) for k in ("time", "at", "time_ms", "created_at") if k in ev), None)
        if t is not None and ev.get("state") and ev["state"] not in first:
            first[ev["state"]] = t
    t0 = min(first.values()) if first else None
    return {k: v - t0 for k, v in first.items()} if t0 is not None else {}


def launch(out_path: str) -> None:
    api = Api(env("EB_BASE"), env("EB_TOKEN"))
    n, tmp, data = int(env("EB_LAUNCHES")), env("EB_TMP"), env("EB_DATA")
    res: dict = {"launches": [], "stops": [], "bare": [], "first_env": None}
    snap = None
    for i in range(n):
        t0 = time.perf_counter()
        e0 = create_env(api, {"app": "jupyter"})
        t_post = time.perf_counter()
        e, t1 = wait_state(api, e0["id"], {"READY"}, READY_TIMEOUT_S)
        ms = (t1 - t0) * 1000.0
        res["launches"].append(ms)
        if i == 0:
            log(f"jupyter env {e['id']}: {json.dumps(e)}")
            res["first_env"] = e
            res["post_ms"] = (t_post - t0) * 1000.0
            res["post_answer"] = e0
            snap = snapshot_spec(data, e, os.path.join(tmp, "bare"))
            res["spec_file"] = snap["spec_file"]
            res["argv"] = snap["spec"].get("argv")
        _, stop_s = stop_env(api, e0["id"])
        res["stops"].append(stop_s * 1000.0)
        res.setdefault("events", []).append(api.call("GET", f"/api/v1/envs/{e0['id']}/events"))
        b = bare_run(snap, i, tmp)
        res["bare"].append(b)
        log(f"launch {i + 1}/{n}: Atrium POST → READY {ms:.0f} ms (stop → STOPPED {stop_s * 1000:.0f} ms); "
            f"bare atrium exec → 200 {b:.0f} ms")
    with open(out_path, "w") as f:
        json.dump(res, f, indent=1)


# ---- rss ------------------------------------------------------------------------------------------
def status_kib(pid: int, field: str) -> int:
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def pss_kib(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/smaps_rollup") as f:
            for line in f:
                if line.startswith("Pss:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def descendants(pid: int) -> list[int]:
    kids: dict[int, list[int]] = {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/stat") as f:
                ppid = int(f.read().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        kids.setdefault(ppid, []).append(int(d))
    out, todo = [], [pid]
    while todo:
        for k in kids.get(todo.pop(), []):
            out.append(k)
            todo.append(k)
    return out


def exe_of(pid: int) -> str:
    try:
        return os.readlink(f"/proc/{pid}/exe")
    except OSError:
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                return f.read().split(b"\0")[0].decode(errors="replace")
        except OSError:
            return "?"


def rss(out_path: str) -> None:
    api = Api(env("EB_BASE"), env("EB_TOKEN"))
    atr_pid, n = int(env("EB_ATR_PID")), int(env("EB_RSS_ENVS"))
    keep = os.environ.get("EB_KEEP_ENV", "")
    before = status_kib(atr_pid, "VmRSS")
    ids = [keep] if keep else []
    t0 = time.perf_counter()
    while len(ids) < n:
        ids.append(create_env(api, {"app": "web", "cpus": 1, "mem_mb": 512})["id"])
    for i in ids:
        wait_state(api, i, {"READY"}, READY_TIMEOUT_S)
    all_ready = time.perf_counter() - t0
    log(f"{len(ids)} web envs READY ({all_ready:.1f} s for the {len(ids) - bool(keep)} new ones); checking each through the proxy")
    c = http.client.HTTPConnection(urllib.parse.urlsplit(env("EB_BASE")).hostname, urllib.parse.urlsplit(env("EB_BASE")).port)
    for i in ids:
        c.request("GET", f"/env/{i}/health", headers={"Authorization": f"Bearer {env('EB_TOKEN')}"})
        r = c.getresponse()
        body = r.read()
        if r.status != 200:
            sys.exit(f"bench_envs.py: GET /env/{i}/health through Atrium → {r.status}: {body[:1000]!r}")
    c.close()
    time.sleep(3.0)  # idle
    atr = {k: status_kib(atr_pid, k) for k in ("VmRSS", "VmHWM", "RssAnon", "RssFile", "Threads")}
    atr["Pss"] = pss_kib(atr_pid)
    server_exe = os.path.realpath(exe_of(atr_pid))
    groups: dict[str, list[int]] = {}
    for p in descendants(atr_pid):
        exe = exe_of(p)
        key = "atrium" if os.path.realpath(exe) == server_exe else os.path.basename(exe)
        groups.setdefault(key, []).append(p)
    procs = {k: {"n": len(v), "rss_kib": sum(status_kib(p, "VmRSS") for p in v), "pss_kib": sum(pss_kib(p) for p in v)}
             for k, v in groups.items()}
    log(f"atrium VmRSS {atr['VmRSS'] / 1024:.1f} MiB with {len(ids)} envs (before {before / 1024:.1f} MiB); descendants: "
        + ", ".join(f"{k} ×{v['n']} {v['rss_kib'] / 1024:.1f} MiB" for k, v in procs.items()))
    stops = []
    for i in ids:
        if i == keep:
            continue
        stops.append(stop_env(api, i)[1] * 1000.0)
    after = status_kib(atr_pid, "VmRSS")
    with open(out_path, "w") as f:
        json.dump({"n": len(ids), "before_kib": before, "server": atr, "descendants": procs, "after_stop_kib": after,
                   "ready_s": all_ready, "stop_ms_p50": statistics.median(stops) if stops else None}, f, indent=1)


# ---- report ---------------------------------------------------------------------------------------
def report(d: str) -> None:
    def load(name: str) -> dict | None:
        p = os.path.join(d, name + ".json")
        return json.load(open(p)) if os.path.exists(p) else None

    px, ln, rs = load("proxy"), load("launch"), load("rss")
    goals = []
    if px:
        names = [t["name"] for t in px["targets"]]
        notes = {t["name"]: t.get("note", "") for t in px["targets"]}
        conns = sorted({r["conns"] for r in px["wrk"]})
        med: dict = {}
        for c in conns:
            for t in names:
                rs_ = [r for r in px["wrk"] if r["conns"] == c and r["target"] == t]
                med[t, c] = {k: statistics.median([r[k] for r in rs_]) for k in ("rps", "p50", "p99")}
                cpu = [r["server_cpu"] for r in rs_ if r.get("server_cpu") is not None]
                med[t, c]["cpu"] = statistics.median(cpu) if cpu else None
                med[t, c]["runs"] = [r["rps"] for r in rs_]
        rows = ["| path | " + " | ".join(f"c={c} req/s | c={c} p50 ms | c={c} p99 ms | c={c} +p50 vs direct"
                                          for c in conns) + " | WS echo p50 ms | WS p99 ms | server CPU (cores, c=" +
                f"{conns[-1]}) |",
                "|---|" + "---:|" * (4 * len(conns) + 3)]
        for t in names:
            cells = []
            for c in conns:
                m = med[t, c]
                add = "—" if t == "direct" or ("direct", c) not in med else f"{m['p50'] - med['direct', c]['p50']:+.3f}"
                cells += [f"{m['rps']:,.0f}", f"{m['p50']:.3f}", f"{m['p99']:.3f}", add]
            w = px["ws"].get(t)
            cpu = med[t, conns[-1]]["cpu"]
            cells += [f"{w['p50']:.3f}" if w else "?", f"{w['p99']:.3f}" if w else "?", f"{cpu:.2f}" if cpu is not None else "—"]
            rows.append(f"| {t}{(' (' + notes[t] + ')') if notes[t] else ''} | " + " | ".join(cells) + " |")
        print("\n".join(rows))
        print()
        if px["runs"] > 1:
            print("Per-run req/s: " + "; ".join(f"{t} c={c}: " + " / ".join(f"{x:,.0f}" for x in med[t, c]["runs"])
                                                for c in conns for t in names))
            print()
        if "atrium" in names and "direct" in names:
            for c in conns:
                add = med["atrium", c]["p50"] - med["direct", c]["p50"]
                line = f"- c={c}: Atrium adds **{add:+.3f} ms** at p50 vs direct ({med['atrium', c]['p50']:.3f} vs {med['direct', c]['p50']:.3f} ms)"
                if "nginx" in names:
                    line += f"; nginx adds {med['nginx', c]['p50'] - med['direct', c]['p50']:+.3f} ms"
                for t in ("chp", "chp-tcp"):
                    if t in names:
                        line += f"; {t} adds {med[t, c]['p50'] - med['direct', c]['p50']:+.3f} ms"
                if c == 1 or len(conns) == 1:
                    line += f" → goal ≤ 0.2 ms {'met' if add <= 0.2 else 'NOT met'}"
                goals.append(line)
        if "atrium" in names and "chp" in names:
            for c in conns:
                # judged against the faster of the two CHP setups
                best = max((t for t in ("chp", "chp-tcp") if t in names), key=lambda t: med[t, c]["rps"])
                ratio = med["atrium", c]["rps"] / med[best, c]["rps"]
                line = (f"- c={c}: Atrium {med['atrium', c]['rps']:,.0f} req/s ÷ {best} {med[best, c]['rps']:,.0f} req/s = **{ratio:.2f}×**"
                        f" → goal ≥ 3× {'met' if ratio >= 3 else 'NOT met'}")
                other = {"chp": "chp-tcp", "chp-tcp": "chp"}[best]
                if other in names:
                    line += f" (÷ {other}: {med['atrium', c]['rps'] / med[other, c]['rps']:.2f}×)"
                if "nginx" in names:
                    line += f" (Atrium ÷ nginx {med['atrium', c]['rps'] / med['nginx', c]['rps']:.2f}×)"
                goals.append(line)
    if ln:
        a, b = statistics.median(ln["launches"]), statistics.median(ln["bare"])
        print()
        print("| jupyter launch | runs | p50 ms | min ms | max ms | per run ms |")
        print("|---|---:|---:|---:|---:|---|")
        print(f"| Atrium: `POST /projects/{{id}}/envs` → `GET /envs/{{id}}` says READY | {len(ln['launches'])} | **{a:.0f}** | "
              f"{min(ln['launches']):.0f} | {max(ln['launches']):.0f} | {' / '.join('%.0f' % x for x in ln['launches'])} |")
        print(f"| bare: `atrium exec --spec` (same sandbox spec) → first 200 on `api/status` | {len(ln['bare'])} | **{b:.0f}** | "
              f"{min(ln['bare']):.0f} | {max(ln['bare']):.0f} | {' / '.join('%.0f' % x for x in ln['bare'])} |")
        print(f"| Atrium: `POST /envs/{{id}}/stop` → STOPPED | {len(ln['stops'])} | {statistics.median(ln['stops']):.0f} | "
              f"{min(ln['stops']):.0f} | {max(ln['stops']):.0f} | {' / '.join('%.0f' % x for x in ln['stops'])} |")
        ph = [phases(ev) for ev in ln.get("events", [])]
        for a_, b_, what in (("QUEUED", "STARTING", "QUEUED → STARTING (its job runs)"),
                             ("STARTING", "READY", "STARTING → READY (health check passed)")):
            d_ = [p[b_] - p.get(a_, 0.0) for p in ph if b_ in p]
            if d_:
                print(f"| Atrium, from its events: {what} | {len(d_)} | {statistics.median(d_):.0f} | {min(d_):.0f} | "
                      f"{max(d_):.0f} | {' / '.join('%.0f' % x for x in d_)} |")
        print("| JupyterHub 3.0 spawn → ready (reference/jupyterhub.md) | 10 | 1959 | 1175 | 2744 | |")
        goals.append(f"- jupyter launch → READY: Atrium p50 {a:.0f} ms = **{a / b:.2f}× bare** ({b:.0f} ms) → goal ≤ 1.2× "
                     f"{'met' if a <= 1.2 * b else 'NOT met'}; = **{a / 1959:.2f}× JupyterHub's 1959 ms** → goal ≤ 0.5× "
                     f"{'met' if a <= 0.5 * 1959 else 'NOT met'}")
    if rs:
        mib = rs["server"]["VmRSS"] / 1024
        desc = ", ".join(f"`{k}` ×{v['n']} RSS {v['rss_kib'] / 1024:.1f} MiB (PSS {v.get('pss_kib', 0) / 1024:.1f})"
                         for k, v in sorted(rs["descendants"].items()))
        print()
        print(f"Memory with {rs['n']} idle `web` envs (this upstream) running: Atrium server VmRSS **{mib:.1f} MiB** "
              f"(PSS {rs['server'].get('Pss', 0) / 1024:.1f}, RssAnon {rs['server']['RssAnon'] / 1024:.1f}, RssFile {rs['server']['RssFile'] / 1024:.1f}, peak VmHWM "
              f"{rs['server']['VmHWM'] / 1024:.1f} MiB, {rs['server']['Threads']} threads); before starting them "
              f"{rs['before_kib'] / 1024:.1f} MiB, after stopping them {rs['after_stop_kib'] / 1024:.1f} MiB. "
              f"Its descendant processes: {desc or 'none'}. "
              f"The {rs['n']} envs were READY {rs['ready_s']:.1f} s after the first POST; stop → STOPPED p50 "
              f"{rs['stop_ms_p50'] or 0:.0f} ms.")
        goals.append(f"- RSS: Atrium server {mib:.1f} MiB with {rs['n']} idle envs → goal ≤ 30 MiB "
                     f"{'met' if mib <= 30 else 'NOT met'} (JupyterHub 3.0 hub + CHP: 74.8 + 58.3 = 133 MiB idle, "
                     f"79.2 + 62.4 = 142 MiB after load, reference/jupyterhub.md)")
    print()
    print("\n".join(goals))


def wsecho_cli(url: str, n: str) -> None:
    hdrs = [h for h in [os.environ.get("EB_AUTH", "")] if h]
    rtts = ws_echo(url, int(n), hdrs)
    print(f"{len(rtts)} echoes: p50 {pct(rtts, 50):.3f} ms  p99 {pct(rtts, 99):.3f} ms  mean {statistics.mean(rtts):.3f} ms")


if __name__ == "__main__":
    cmds = {"proxy": proxy, "launch": launch, "rss": rss, "report": report}
    if len(sys.argv) == 4 and sys.argv[1] == "wsecho":
        wsecho_cli(sys.argv[2], sys.argv[3])
    elif len(sys.argv) == 3 and sys.argv[1] in cmds:
        cmds[sys.argv[1]](sys.argv[2])
    else:
        sys.exit(__doc__)
