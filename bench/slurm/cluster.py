"""The SLURM side of bench/slurm/run.py: start and stop a private cluster, its Atrium TOML, a
slurmrestd client (keep-alive, HS256 JWT minted from the cluster's key, as Atrium's executor does),
sdiag's RPC counters, and the SLURM CLI with the cluster's SLURM_CONF (standard library only).

The cluster: `scripts/slurm-dev-cluster.sh start DIR` (two slurmd nodes, each in its own network
namespace; it prints the TOML for Atrium) when the checkout has it, else the single-node
`bench/jobs/slurm-local.sh` (the node is this box's loopback) with a TOML written here.
"""
from __future__ import annotations

import base64
import glob
import hashlib
import hmac
import http.client
import json
import os
import subprocess
import sys
import time
import tomllib
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
DEV_CLUSTER = Path(os.environ.get("SLURMBENCH_DEV_CLUSTER") or REPO / "scripts" / "slurm-dev-cluster.sh")
SLURM_LOCAL = REPO / "bench" / "jobs" / "slurm-local.sh"
API = "/slurm/v0.0.38"
TERMINAL = {"COMPLETED", "FAILED", "CANCELLED", "TIMEOUT", "OUT_OF_MEMORY", "NODE_FAIL", "PREEMPTED",
            "BOOT_FAIL", "DEADLINE"}


def log(msg: str) -> None:
    print(f"bench/slurm: {msg}", file=sys.stderr, flush=True)


def b64url(b: bytes) -> str:
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()


def mint_jwt(key: bytes, user: str, lifespan_s: int = 7200) -> str:
    """An HS256 token slurmctld's auth/jwt accepts for `user` (claims sun, iat, exp)."""
    now = int(time.time())
    head = b64url(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    body = b64url(json.dumps({"sun": user, "iat": now, "exp": now + lifespan_s}).encode())
    sig = hmac.new(key, f"{head}.{body}".encode(), hashlib.sha256).digest()
    return f"{head}.{body}.{b64url(sig)}"


class Rest:
    """One keep-alive connection to slurmrestd (TCP or unix socket), JWT as `user`."""

    def __init__(self, url: str, key_file: str, user: str = "root"):
        self.url = url
        with open(key_file, "rb") as f:
            self.key = f.read()
        self.user = user
        self.token = mint_jwt(self.key, user)
        self.conn = self._connect()

    def _connect(self) -> http.client.HTTPConnection:
        if self.url.startswith("unix:"):
            import socket

            path = self.url[5:]

            class UnixConn(http.client.HTTPConnection):
                def connect(self):
                    self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                    self.sock.connect(path)

            return UnixConn("localhost", timeout=60)
        u = self.url.split("//", 1)[1].rstrip("/")
        host, port = u.rsplit(":", 1)
        return http.client.HTTPConnection(host, int(port), timeout=60)

    def headers(self) -> dict[str, str]:
        return {"X-SLURM-USER-NAME": self.user, "X-SLURM-USER-TOKEN": self.token}

    def _send(self, method: str, path: str, data: bytes | None, hs: dict) -> tuple:
        self.conn.request(method, API + path, body=data, headers=hs)
        r = self.conn.getresponse()
        return r, r.read()

    def call(self, method: str, path: str, body=None) -> dict:
        data = json.dumps(body).encode() if body is not None else None
        hs = self.headers() | ({"Content-Type": "application/json"} if data else {})
        try:
            r, raw = self._send(method, path, data, hs)
        except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
            self.conn.close()  # slurmrestd closed the kept-alive connection: once more on a new one
            self.conn = self._connect()
            r, raw = self._send(method, path, data, hs)
        try:
            out = json.loads(raw)
        except ValueError:
            sys.exit(f"bench/slurm: slurmrestd {method} {path} answered {r.status}: {raw[:500]!r}")
        if r.status != 200 or out.get("errors"):
            sys.exit(f"bench/slurm: slurmrestd {method} {path} answered {r.status}: {out.get('errors')}")
        return out

    def submit(self, job: dict, script: str) -> int:
        return int(self.call("POST", "/job/submit", {"job": job, "script": script})["job_id"])

    def jobs(self) -> list[dict]:
        return self.call("GET", "/jobs")["jobs"]

    def diag(self) -> dict:
        return self.call("GET", "/diag")["statistics"]


def rpc_counts(stats: dict) -> dict[str, int]:
    return {r["message_type"]: int(r["count"]) for r in stats["rpcs_by_message_type"]}


class Cluster:
    """A private SLURM cluster in `root` (started by start(), stopped by stop())."""

    def __init__(self, root: Path):
        self.root = root
        self.kind = "dev-cluster" if DEV_CLUSTER.exists() and os.environ.get("SLURMBENCH_SINGLE_NODE") != "1" \
            else "slurm-local"
        self.toml = ""
        self.env = dict(os.environ)
        self.started = False

    def start(self) -> "Cluster":
        t0 = time.monotonic()
        if self.kind == "dev-cluster":
            r = subprocess.run([str(DEV_CLUSTER), "start", str(self.root)], capture_output=True, text=True)
            self.started = True
            if r.returncode != 0:
                sys.exit(f"bench/slurm: {DEV_CLUSTER.name} start failed ({r.returncode}):\n{r.stderr[-3000:]}")
            self.toml = r.stdout
        else:
            ports = {"SLURM_LOCAL_CTLD_PORT": "36817", "SLURM_LOCAL_SLURMD_PORT": "36818",
                     "SLURM_LOCAL_REST_PORT": "36820"}
            for k, v in ports.items():
                self.env.setdefault(k, v)
            r = subprocess.run([str(SLURM_LOCAL), "start", str(self.root)], env=self.env, capture_output=True,
                               text=True)
            self.started = True
            if r.returncode != 0:
                sys.exit(f"bench/slurm: slurm-local.sh start failed ({r.returncode}):\n{r.stderr[-3000:]}")
            self.toml = (f'[compute.clusters.bench]\nrest_url = "http://127.0.0.1:{self.env["SLURM_LOCAL_REST_PORT"]}"\n'
                         f'jwt_key_file = "{self.root}/etc/jwt_hs256.key"\nserver_url = "http://127.0.0.1:{{port}}"\n'
                         f'poll_ms = {os.environ.get("SLURMBENCH_POLL_MS", "1000")}\n\n'
                         f'[compute.partitions.slurm]\ncluster = "bench"\nslurm_partition = "debug"\n')
        self.start_s = time.monotonic() - t0
        self.env["SLURM_CONF"] = self._slurm_conf()
        self.cfg = tomllib.loads(self.toml)
        return self

    def _slurm_conf(self) -> str:
        envsh = self.root / "env.sh"
        if envsh.exists():
            for line in envsh.read_text().splitlines():
                if "SLURM_CONF=" in line:
                    return line.split("SLURM_CONF=", 1)[1].strip().strip("'\"")
        found = sorted(glob.glob(str(self.root / "**" / "slurm.conf"), recursive=True))
        if not found:
            sys.exit(f"bench/slurm: no slurm.conf under {self.root}")
        return found[0]

    def stop(self) -> None:
        if not self.started:
            return
        script = DEV_CLUSTER if self.kind == "dev-cluster" else SLURM_LOCAL
        r = subprocess.run([str(script), "stop", str(self.root)], env=self.env, capture_output=True, text=True)
        if r.returncode != 0:
            log(f"{script.name} stop failed ({r.returncode}): {r.stderr[-1000:]}")
        self.started = False

    # -- what the TOML says
    def partition(self, want: str = "slurm") -> tuple[str, str, dict]:
        """(Atrium partition, SLURM partition, its cluster's table): `want` if the TOML has it."""
        parts = self.cfg["compute"]["partitions"]
        name = want if want in parts else sorted(parts)[0]
        p = parts[name]
        return name, p.get("slurm_partition") or name, self.cfg["compute"]["clusters"][p["cluster"]]

    def rest(self) -> Rest:
        _, _, c = self.partition()
        return Rest(c["rest_url"], c["jwt_key_file"])

    def listen(self) -> str:
        """Where the Atrium server must listen so that the nodes reach it."""
        _, _, c = self.partition()
        return "127.0.0.1:0" if "127.0.0.1" in c.get("server_url", "") else "0.0.0.0:0"

    def nodes(self) -> list[dict]:
        return self.rest().call("GET", "/nodes")["nodes"]

    # -- the CLI
    def cli(self, *cmd: str) -> str:
        r = subprocess.run(list(cmd), env=self.env, capture_output=True, text=True, cwd="/tmp")
        if r.returncode != 0:
            sys.exit(f"bench/slurm: {' '.join(cmd)} failed ({r.returncode}): {r.stderr.strip()}")
        return r.stdout

    def version(self) -> str:
        return self.cli("sinfo", "--version").strip()
