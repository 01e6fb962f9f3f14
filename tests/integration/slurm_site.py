"""What the SLURM suites share: the dev cluster (scripts/slurm-dev-cluster.sh through
slurm_fixture.py: munge, slurmctld, slurmrestd and two slurmd nodes, each in its own network
namespace), one Atrium server pointed at it by the TOML the script prints (its `server_url` keeps
`{port}`, the server listens on 0.0.0.0:0 so that the nodes reach it on the bridge), and SLURM's
own view of the jobs (`squeue --json`, the anchor every assertion about SLURM is checked against).

One cluster per pytest process (started by the first suite that asks, stopped at the end); one
server per module. Nothing sleeps: every wait polls a condition against a deadline.
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import tomllib
from pathlib import Path
from typing import Any

import pytest

import slurm_fixture
from conftest import USER_PASSWORD, World, add_member, create_user, list_all, wait_until
from test_jobs import TERMINAL, Jobs  # noqa: F401 (TERMINAL: the suites take it from here)

# The local partition stays small; SLURM jobs use the cluster's nodes.
COMPUTE_ENV = {
    "ATRIUM_COMPUTE_CPUS": "4",
    "ATRIUM_COMPUTE_MEM_MB": "4096",
    "ATRIUM_COMPUTE_GPUS": "0",
    "ATRIUM_COMPUTE_KILL_GRACE_S": "1",
}
CLUSTER = "dev"          # [compute.clusters.dev], as the script prints it
PARTITION = "slurm"      # the cluster's main partition (both nodes)
SHORT = "slurm-short"    # one with MaxTime and MaxCPUsPerNode
POLL_MS = 200            # the tracker's period in the tests
ACTIVE = ("PENDING", "RUNNING")
QUEUED = ("PENDING", "RUNNING", "CONFIGURING", "COMPLETING", "SUSPENDED", "REQUEUED")

_cluster: Any = None


class Cluster(slurm_fixture.DevCluster):
    """The dev cluster with what these suites ask of it beyond the fixture's."""

    nodes = list(slurm_fixture.NODES)

    def ctld_running(self) -> bool:
        return self.status().get("slurmctld", False)


def cluster(request, tmp_path_factory) -> Cluster:
    """The process's dev cluster: started once (skips where SLURM cannot run), stopped when pytest ends."""
    global _cluster
    if _cluster is None:
        why = slurm_fixture.missing()
        if why:
            pytest.skip(why)
        c = Cluster(tmp_path_factory.mktemp("slurm"))
        try:
            c.start()
        except BaseException:
            c.stop()
            raise
        _cluster = c
        request.config.add_cleanup(_stop_cluster)
    return _cluster


def _stop_cluster():
    global _cluster
    if _cluster is not None:
        _cluster.stop()
        _cluster = None


def slurm(c, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    """A SLURM client command against the dev cluster (never parsed as text: --json where read)."""
    return c.run(*args, check=check)


def squeue(c) -> list[dict]:
    """SLURM's jobs, the ended ones slurmctld still remembers (MinJobAge) included."""
    return c.squeue_json()


def by_comment(c, atrium_id: str, all_states: bool = True) -> list[dict]:
    """SLURM's jobs handed over for one Atrium job or array (comment = atrium:<id>); without
    all_states only those still pending or running."""
    return [j for j in squeue(c) if j.get("comment") == f"atrium:{atrium_id}"
            and (all_states or j["job_state"] in QUEUED)]


def slurm_job(c, slurm_id: int) -> dict | None:
    return c.job(slurm_id)


def queued_ids(c) -> set[int]:
    """SLURM ids of the jobs slurmctld has pending or running."""
    return {j["job_id"] for j in squeue(c) if j["job_state"] in QUEUED}


def node_of_pid(c, pid: int) -> str | None:
    """The dev node whose network namespace process `pid` is in (None: not on a node)."""
    try:
        ino = int(os.readlink(f"/proc/{pid}/ns/net").split("[")[1].rstrip("]"))
    except (OSError, IndexError, ValueError):
        return None
    return next((n for n in c.nodes if os.stat(f"/run/netns/{c.netns(n)}").st_ino == ino), None)


def set_node(c, node: str, state: str, reason: str = "", check: bool = True) -> None:
    """scontrol update of a node's state (DRAIN, DOWN, RESUME), as an admin would."""
    slurm(c, "scontrol", "update", f"NodeName={node}", f"State={state}", *([f"Reason={reason}"] if reason else []),
          check=check)


def node_state(c, node: str) -> str:
    """SLURM's state of a node with its flags: "idle", "mixed+drain", "down+not_responding"..."""
    n = next(x for x in json.loads(slurm(c, "sinfo", "--json").stdout)["nodes"] if x["name"] == node)
    return "+".join([n["state"], *n.get("state_flags", [])]).lower()


def node_usable(c, node: str) -> bool:
    return node_state(c, node).split("+")[0] in ("idle", "mixed", "allocated") and "+" not in node_state(c, node)


# ---------------------------------------------------------------------------- configuration


def slurm_partition_of(c, name: str) -> str:
    """The SLURM partition behind one of the script's Atrium partitions."""
    return tomllib.loads(c.toml)["compute"]["partitions"][name].get("slurm_partition") or name


# ---------------------------------------------------------------------------- Atrium


class Site:
    """An Atrium server on the dev cluster, with orgs A and B (World) and helpers for their jobs."""

    def __init__(self, c, data_dir: Path, extra_toml: str = "", prefix: str = "s"):
        self.c = c
        toml = tomllib.loads(c.toml)["compute"]
        assert CLUSTER in toml["clusters"] and {PARTITION, SHORT} <= set(toml["partitions"]), c.toml
        self.srv = slurm_fixture.slurm_server(c, data_dir, env=COMPUTE_ENV, extra_toml=extra_toml,
                                              cluster_keys={"poll_ms": POLL_MS})
        self.srv.admin = self.admin = self.srv.admin_token()
        self.world = World(self.srv, self.admin, prefix=prefix)
        a = self.world.a
        self.member, self.owner = a.users["member"], a.users["org-admin"]
        self.project = a.org_project  # owned by the member, visible to the org
        u = create_user(self.srv, self.admin, f"{prefix}-a-colleague")
        add_member(self.srv, self.admin, a.id, u["id"], "member")
        self.colleague_id, self.colleague = u["id"], self.srv.login_token(f"{prefix}-a-colleague", USER_PASSWORD)
        r = self.srv.call("POST", f"/api/v1/projects/{self.project['id']}/members", self.member.token,
                          json={"user_id": self.colleague_id, "role": "member"})
        assert r.status == 201, r

    def jobs(self, token: str | None = None, project_id: str | None = None) -> Jobs:
        return Jobs(self.srv, token or self.member.token, project_id or self.project["id"])

    def start_again(self) -> None:
        """Starts the stopped (or killed) server again on the same data dir and the same port, as a
        real server would be: the nodes' tunnels and exec channels know it by its URL."""
        self.srv.listen = f"0.0.0.0:{self.srv.port}"
        self.srv.start()

    def active_jobs(self) -> list[dict]:
        out = []
        for org in self.world.orgs.values():
            out += list_all(self.srv, f"/api/v1/jobs?org={org.id}&state=PENDING,RUNNING", self.admin)
        return out

    def cancel_everything(self, timeout: float = 60) -> None:
        """No job of a test outlives it: everything pending or running is cancelled and ended."""
        if not self.srv.running():  # a test that killed it failed before starting it again
            self.start_again()
        for j in self.active_jobs():
            self.srv.call("POST", f"/api/v1/jobs/{j['id']}/cancel", self.admin)
        wait_until(lambda: not self.active_jobs(), timeout, 0.1, "every job of the test to end")

    def close(self) -> None:
        """Ends every environment and job of the site, then the server."""
        try:
            for e in list_all(self.srv, f"/api/v1/projects/{self.project['id']}/envs?active=true", self.admin):
                self.srv.call("POST", f"/api/v1/envs/{e['id']}/stop", self.admin)
            self.cancel_everything()
        except AssertionError:
            pass
        try:
            self.srv.stop(60)
        except AssertionError:
            self.srv.kill9()


def site_fixture(name: str, prefix: str, extra_toml=lambda c: ""):
    """A module's `site` fixture: its own server (data dir `name`, World prefix) on the process's
    cluster; extra_toml(cluster) adds to the server's configuration."""
    @pytest.fixture(scope="module")
    def site(request, tmp_path_factory):
        c = cluster(request, tmp_path_factory)
        s = Site(c, tmp_path_factory.mktemp(name) / "data", extra_toml=extra_toml(c), prefix=prefix)
        yield s
        s.close()
    return site


def slurm_of(js: Jobs, job_id: str, what: str = "handed over", pred=None, timeout: float = 30) -> dict:
    """The job once its `slurm` fields satisfy pred (default: SLURM has it, with an id)."""
    pred = pred or (lambda s: s.get("job_id"))
    last: dict = {}

    def check():
        nonlocal last
        last = js.get(job_id)
        s = last.get("slurm")
        return last if s and pred(s) else None

    try:
        return wait_until(check, timeout, 0.05, f"job {job_id} {what}")
    except AssertionError as e:
        raise AssertionError(f"{e}; last seen: {json.dumps(last)[:2500]}\n{js.srv.output()[-2500:]}") from None


def workspace(site: Site, job_id: str) -> Path:
    """The job's workspace on the shared filesystem (the server's data dir, same path on the nodes)."""
    return site.srv.data_dir / "jobs" / job_id / "workspace"


def release_file(site: Site, job_id: str, name: str = "go") -> None:
    """Lets a job that waits for a file in its workspace (WAIT_FOR) go on, once it has started
    waiting (its stdout says so: the workspace is then the one it runs in)."""
    run = site.srv.data_dir / "jobs" / job_id
    wait_until(lambda: any(b"started" in f.read_bytes() for f in run.glob("run*/stdout")), 60, 0.05,
               f"job {job_id} to wait for its file")
    (workspace(site, job_id) / name).write_text("go\n")


# A job's script prefix: print a line, then wait for the file `go` the test writes into the workspace.
WAIT_FOR = "echo started; while [ ! -e go ]; do sleep 0.1; done; "


def supervisor_pid(site: Site, job_id: str, run: int = 0) -> int:
    f = site.srv.data_dir / "jobs" / job_id / f"run{run}" / "supervisor.json"
    return wait_until(lambda: f.exists() and f.stat().st_size and json.loads(f.read_text())["pid"], 30, 0.05,
                      f"{f} (the supervisor on the node)")


def kill(pids) -> None:
    for p in pids:
        try:
            os.kill(p, signal.SIGKILL)
        except ProcessLookupError:
            pass


def events_to(job: dict) -> list[str]:
    return [e["to"] for e in job["events"]]


@pytest.fixture
def no_leftovers(site):
    """Each test's jobs end with it (so tests never share the nodes' CPUs or queue positions)."""
    yield
    site.cancel_everything()
