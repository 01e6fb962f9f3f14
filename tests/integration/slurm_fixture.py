"""A real SLURM development cluster for the SLURM executor's tests (scripts/slurm-dev-cluster.sh):
munged, slurmctld, slurmrestd (JWT on 127.0.0.1) and two slurmd nodes (node1, node2), each in its
own network namespace with its own address on a private bridge. Jobs on a node reach this machine
only at `cluster.bridge_addr`, so a server the nodes call back must listen there (slurm_server
below listens on 0.0.0.0:0; the TOML's server_url has `{port}`, replaced by the bound port).

- DevCluster(dir): start() -> the TOML section for Atrium ([compute.clusters.dev], partitions
  `slurm` = SLURM `debug` (both nodes, no time limit) and `slurm-short` = SLURM `short` (both nodes,
  MaxTime 5 min, MaxCPUsPerNode=1, MaxMemPerNode=2048)); .info = DIR/cluster.json (addresses, ports, pids, netns);
  stop(); faults: kill_ctld() (kill -9 once the state is saved; now=True: at once), stop_ctld()
  (SIGTERM), start_ctld() (saved state; returns when the nodes registered again),
  kill_node(n) (kill -9 of everything on the node: a crash), start_node(n), drain(n), resume(n);
  SLURM clients: env() (SLURM_CONF), sbatch(...) -> SLURM job id, squeue_json(), job(id),
  wait_job(id, states), node_state(n), wait_node(n, states), jwt(user).
- Fixtures: `slurm_cluster` (session scope, shared: do not wreck it), `make_slurm_cluster` (a
  factory for a test's own cluster, for fault tests; stopped at the end of the test).
- slurm_server(cluster, data_dir, ...): an Atrium Server configured for the cluster (--config with
  the TOML, listening on 0.0.0.0:0).

Timings on the 2-core box: start ~0.5 s, stop ~0.5 s; a killed node is DOWN (and its jobs
NODE_FAIL: the cluster has JobRequeue=0, since slurmrestd 22.05 ignores "requeue": false) after ~15 s
(SlurmdTimeout=5); a restarted slurmctld has its nodes back in ~4 s.
Skips (with the reason) when not root or the SLURM packages are missing (scripts/install-deps.sh
installs them).
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from conftest import REPO, Server, wait_until

SCRIPT = REPO / "scripts" / "slurm-dev-cluster.sh"
NODES = ("node1", "node2")
TOOLS = ("munged", "mungekey", "slurmctld", "slurmd", "slurmrestd", "sbatch", "squeue", "scontrol", "sinfo",
         "ip", "nsenter", "unshare", "flock")
# The JWT plugin is a file, not a command.
JWT_PLUGIN_GLOB = "/usr/lib/*/slurm-wlm/auth_jwt.so"


def missing() -> str | None:
    """Why a dev cluster cannot start here (None: it can)."""
    if os.geteuid() != 0:
        return "the SLURM dev cluster needs root (network namespaces, SlurmUser=root)"
    gone = [t for t in TOOLS if shutil.which(t) is None]
    if not list(Path("/").glob(JWT_PLUGIN_GLOB.lstrip("/"))):
        gone.append("auth_jwt.so (slurm-wlm-jwt-plugin)")
    if gone:
        return ("SLURM packages missing (" + ", ".join(gone) + "): run scripts/install-deps.sh "
                "(slurmctld slurmd slurm-client slurmrestd slurm-wlm-jwt-plugin munge iproute2)")
    return None


class DevCluster:
    def __init__(self, dir: Path):
        self.dir = Path(dir)
        self.toml = ""
        self.info: dict = {}

    # -- lifecycle
    def _script(self, *args: str, timeout: float = 60) -> str:
        r = subprocess.run(["bash", str(SCRIPT), args[0], str(self.dir), *args[1:]], capture_output=True,
                           text=True, timeout=timeout, stdin=subprocess.DEVNULL)
        if r.returncode != 0:
            raise AssertionError(f"slurm-dev-cluster.sh {' '.join(args)} failed (rc {r.returncode})\n"
                                 f"{r.stdout}\n{r.stderr}\n{self.logs()}")
        return r.stdout

    def start(self) -> str:
        """Starts the cluster (both nodes idle on return); returns the TOML section for Atrium."""
        self.dir.mkdir(parents=True, exist_ok=True)
        self.toml = self._script("start")
        self.info = json.loads((self.dir / "cluster.json").read_text())
        return self.toml

    def stop(self) -> None:
        self._script("stop")

    def status(self) -> dict[str, bool]:
        r = subprocess.run(["bash", str(SCRIPT), "status", str(self.dir)], capture_output=True, text=True)
        return {k: v.strip().startswith("running") for k, _, v in
                (line.partition(":") for line in r.stdout.splitlines())}

    def logs(self, tail: int = 20) -> str:
        out = []
        for f in sorted((self.dir / "log").glob("*.log")):
            lines = [x for x in f.read_text(errors="replace").splitlines() if "pmix" not in x]
            out.append(f"--- {f.name}\n" + "\n".join(lines[-tail:]))
        return "\n".join(out)

    # -- faults
    def kill_ctld(self, now: bool = False) -> None:
        """kill -9 of slurmctld, once its state saver wrote every change (up to ~6 s: it batches
        them for <= 5 s), so a restart knows every job and node state. now=True: at once, losing
        the last <= 5 s of changes (jobs submitted then are gone), as a real crash may."""
        self._script("kill-ctld", *(["--now"] if now else []))

    def stop_ctld(self) -> None:
        """SIGTERM to slurmctld: it saves its state and exits."""
        self._script("stop-ctld")

    def start_ctld(self) -> None:
        self._script("start-ctld")

    def kill_node(self, node: str) -> None:
        """kill -9 of the node's slurmd and of every process in its netns (its steps and jobs)."""
        self._script("kill-node", node)

    def start_node(self, node: str) -> None:
        self._script("start-node", node)

    def drain(self, node: str) -> None:
        self._script("drain", node)

    def resume(self, node: str) -> None:
        self._script("resume", node)

    def toml_with(self, **keys) -> str:
        """The TOML with more keys in [compute.clusters.dev] (poll_ms=200, accounts=..., ...):
        a table may not be opened twice, so they go inside it. Values: int, bool, str or a dict
        of str (an inline table)."""
        def lit(v):
            if isinstance(v, bool):
                return "true" if v else "false"
            if isinstance(v, int):
                return str(v)
            if isinstance(v, dict):
                return "{ " + ", ".join(f"{k} = {lit(x)}" for k, x in v.items()) + " }"
            return json.dumps(str(v))
        head = "[compute.clusters.dev]\n"
        assert head in self.toml
        return self.toml.replace(head, head + "".join(f"{k} = {lit(v)}\n" for k, v in keys.items()), 1)

    # -- facts
    @property
    def bridge_addr(self) -> str:
        return self.info["bridge_addr"]

    @property
    def rest_url(self) -> str:
        return self.info["rest_url"]

    @property
    def jwt_key_file(self) -> str:
        return self.info["jwt_key_file"]

    def node_addr(self, node: str) -> str:
        return self.info["nodes"][node]["addr"]

    def netns(self, node: str) -> str:
        return self.info["nodes"][node]["netns"]

    # -- SLURM clients (for a test's anchors; Atrium itself never parses their text)
    def env(self, extra: dict[str, str] | None = None) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("SLURM_", "ATRIUM_"))}
        env["SLURM_CONF"] = str(self.dir / "etc" / "slurm.conf")
        env.update(extra or {})
        return env

    def run(self, *cmd: str, check: bool = True, timeout: float = 30) -> subprocess.CompletedProcess:
        r = subprocess.run(list(cmd), capture_output=True, text=True, env=self.env(), timeout=timeout,
                           stdin=subprocess.DEVNULL)
        if check and r.returncode != 0:
            raise AssertionError(f"{' '.join(cmd)}: rc {r.returncode}\n{r.stdout}\n{r.stderr}")
        return r

    def sbatch(self, wrap: str, *args: str, node: str | None = None, partition: str | None = None,
               output: str | Path = "/dev/null") -> int:
        """sbatch --wrap WRAP [--nodelist NODE] [--partition P] -o OUTPUT ARGS...; the job id."""
        cmd = ["sbatch", "--parsable", "-o", str(output), "-D", str(self.dir / "jobs")]
        if node:
            cmd += ["--nodelist", node]
        if partition:
            cmd += ["--partition", partition]
        r = self.run(*cmd, *args, "--wrap", wrap)
        return int(r.stdout.strip().split(";")[0])

    def squeue_json(self) -> list[dict]:
        """Every job slurmctld still knows (finished ones until MinJobAge), v0.0.38 schema."""
        return json.loads(self.run("squeue", "--json", "-t", "all").stdout)["jobs"]

    def job(self, job_id: int) -> dict | None:
        return next((j for j in self.squeue_json() if j["job_id"] == job_id), None)

    def wait_job(self, job_id: int, states=("COMPLETED",), timeout: float = 30) -> dict:
        def done():
            j = self.job(job_id)
            return j if j and j["job_state"] in states else None
        try:
            return wait_until(done, timeout, 0.1, f"SLURM job {job_id} in {states}")
        except AssertionError as e:
            raise AssertionError(f"{e}: {self.job(job_id)}\n{self.logs()}") from None

    def node_state(self, node: str) -> str:
        """sinfo's compact state (idle, alloc, mix, down*, drain, unk*, ...)."""
        return self.run("sinfo", "-h", "-N", "-n", node, "-p", "debug", "-o", "%t").stdout.strip()

    def wait_node(self, node: str, states=("idle",), timeout: float = 30) -> str:
        return wait_until(lambda: (s := self.node_state(node)) in states and s, timeout, 0.1,
                          f"node {node} in {states}")

    def jwt(self, user: str = "root", lifespan: int = 600) -> str:
        out = self.run("scontrol", "token", f"username={user}", f"lifespan={lifespan}").stdout.strip()
        return out.removeprefix("SLURM_JWT=")


def slurm_server(cluster: DevCluster, data_dir: Path, env: dict[str, str] | None = None,
                 extra_toml: str = "", args: list[str] | None = None, start: bool = True,
                 with_cluster: bool = True, cluster_keys: dict | None = None) -> Server:
    """An Atrium server for the cluster: a config file with the cluster's TOML (cluster_keys added
    to [compute.clusters.dev], e.g. {"poll_ms": 200}; then extra_toml) and --listen 0.0.0.0:0, so
    jobs on the nodes reach it at the bridge address (server_url has `{port}`; srv.node_url is
    that URL). with_cluster=False leaves the cluster's TOML out. The caller stops it (srv.stop())."""
    data_dir = Path(data_dir)
    data_dir.mkdir(parents=True, exist_ok=True)
    cfg = data_dir.parent / f"{data_dir.name}-slurm.toml"
    text = cluster.toml_with(**(cluster_keys or {})) if with_cluster else ""
    cfg.write_text(text + ("\n" + extra_toml if extra_toml else ""))
    srv = Server(data_dir, env=env, args=["--config", str(cfg), *(args or [])], listen="0.0.0.0:0")
    if start:
        srv.start()
        srv.node_url = f"http://{cluster.bridge_addr}:{srv.port}"
    return srv


_gc_done = False


def _started(dir: Path) -> DevCluster:
    global _gc_done
    why = missing()
    if why:
        pytest.skip(why)
    if not _gc_done:  # clusters of earlier runs killed before their cleanup, whose dirs are gone
        subprocess.run(["bash", str(SCRIPT), "gc"], timeout=60, check=True, stdin=subprocess.DEVNULL)
        _gc_done = True
    c = DevCluster(dir)
    try:
        c.start()
    except BaseException:
        c.stop()
        raise
    return c


@pytest.fixture(scope="session")
def slurm_cluster(tmp_path_factory):
    """The session's dev cluster, shared by every test: leave it as you found it (no kills)."""
    c = _started(tmp_path_factory.mktemp("slurm"))
    try:
        yield c
    finally:
        c.stop()


@pytest.fixture
def make_slurm_cluster(tmp_path):
    """make_slurm_cluster() -> a started DevCluster of this test alone (for fault tests)."""
    made: list[DevCluster] = []

    def make() -> DevCluster:
        made.append(_started(tmp_path / f"slurm{len(made)}"))
        return made[-1]

    yield make
    for c in made:
        c.stop()


def wait_gone(pids: list[int], timeout: float = 10) -> None:
    """Until none of the PIDs runs (zombies count as gone: PID 1 here may not reap)."""
    def gone():
        for p in pids:
            try:
                state = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()[0]
            except (FileNotFoundError, ProcessLookupError):
                continue
            if state != "Z":
                return False
        return True
    wait_until(gone, timeout, 0.05, f"processes {pids} to end")


def netns_names() -> set[str]:
    return {line.split()[0] for line in subprocess.run(["ip", "netns", "list"], capture_output=True,
                                                       text=True).stdout.splitlines() if line.strip()}
