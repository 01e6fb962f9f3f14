"""The SLURM dev cluster itself (scripts/slurm-dev-cluster.sh through slurm_fixture): its TOML,
jobs on each node run with the node's own address in the node's own network namespace and reach
this machine only at the bridge address (not its loopback), slurmrestd answers with JWT, the fault
subcommands work, and stop leaves no process, netns or bridge behind."""
from __future__ import annotations

import json
import os
import socket
import subprocess
import threading
import tomllib
import urllib.request
from pathlib import Path

from conftest import wait_until
from slurm_fixture import NODES, make_slurm_cluster, netns_names, slurm_cluster, slurm_server, wait_gone  # noqa: F401


def test_toml_points_atrium_at_the_cluster(slurm_cluster):
    cfg = tomllib.loads(slurm_cluster.toml)
    dev = cfg["compute"]["clusters"]["dev"]
    assert dev["rest_url"] == slurm_cluster.rest_url
    assert dev["server_url"] == f"http://{slurm_cluster.bridge_addr}:{{port}}"
    assert dev["submit_user"] == "root"
    key = os.stat(dev["jwt_key_file"])
    assert (key.st_uid, key.st_mode & 0o777, key.st_size) == (0, 0o600, 32)
    parts = cfg["compute"]["partitions"]
    assert parts == {"slurm": {"cluster": "dev", "slurm_partition": "debug"},
                     "slurm-short": {"cluster": "dev", "slurm_partition": "short"}}
    assert (slurm_cluster.dir / "atrium.toml").read_text() == slurm_cluster.toml
    more = tomllib.loads(slurm_cluster.toml_with(poll_ms=200, accounts={"lab": "lab_acct"}))
    assert more["compute"]["clusters"]["dev"] == {**dev, "poll_ms": 200, "accounts": {"lab": "lab_acct"}}
    # The partitions exist with the limits the limit tests rely on.
    out = slurm_cluster.run("scontrol", "show", "partition", "short").stdout
    assert "MaxTime=00:05:00" in out and "MaxCPUsPerNode=1" in out and "MaxMemPerNode=2048" in out, out
    assert "Nodes=node[1-2]" in out, out


class Listener:
    """A TCP server on ADDR:0 that records (peer address, first line) of each connection."""

    def __init__(self, addr: str):
        self.sock = socket.create_server((addr, 0))
        self.port = self.sock.getsockname()[1]
        self.got: list[tuple[str, str]] = []
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self):
        while True:
            try:
                conn, peer = self.sock.accept()
            except OSError:
                return
            with conn:
                conn.settimeout(5)
                self.got.append((peer[0], conn.makefile().readline().strip()))

    def close(self):
        self.sock.close()


def test_jobs_run_on_their_nodes_own_addresses(slurm_cluster, tmp_path):
    c = slurm_cluster
    bridge = Listener(c.bridge_addr)
    loopback = Listener("127.0.0.1")
    try:
        jobs = {}
        for node in NODES:
            out = tmp_path / f"{node}.out"
            script = (
                "echo name=$SLURMD_NODENAME host=$(hostname) netns=$(readlink /proc/self/ns/net); "
                "ip -4 -o addr show dev eth0; "
                f"echo $SLURMD_NODENAME > /dev/tcp/{c.bridge_addr}/{bridge.port} && echo bridge=ok; "
                f"(echo x > /dev/tcp/127.0.0.1/{loopback.port}) 2>/dev/null && echo loopback=reached || "
                "echo loopback=refused")
            jobs[node] = (c.sbatch(f"bash -c '{script}'", node=node, output=out), out)
        host_netns = os.readlink("/proc/self/ns/net")
        for node, (job_id, out) in jobs.items():
            j = c.wait_job(job_id)
            assert j["nodes"] == node and j["exit_code"] == 0, j
            text = out.read_text()
            assert f"name={node} host={node} " in text, text
            assert f"netns={host_netns}" not in text, text
            assert f"inet {c.node_addr(node)}/24" in text, text
            assert "bridge=ok" in text and "loopback=refused" in text, text
        wait_until(lambda: len(bridge.got) == 2, 10, what="both nodes to call the bridge address")
        assert sorted(bridge.got) == sorted((c.node_addr(n), n) for n in NODES)
        assert loopback.got == []
        assert len({c.node_addr(n) for n in NODES} | {c.bridge_addr}) == 3
    finally:
        bridge.close()
        loopback.close()


def test_a_node_reaches_a_server_listening_as_slurm_server_starts_it(slurm_cluster, tmp_path):
    # The cluster's own TOML joins in once the SLURM executor reads it (test_slurm_*.py use it).
    srv = slurm_server(slurm_cluster, tmp_path / "atrium", with_cluster=False)
    try:
        out = tmp_path / "curl.out"
        url = srv.node_url + "/healthz"
        server_url = tomllib.loads(slurm_cluster.toml)["compute"]["clusters"]["dev"]["server_url"]
        assert url == server_url.replace("{port}", str(srv.port)) + "/healthz"
        job = slurm_cluster.sbatch(f"curl -s -o /dev/null -w '%{{http_code}}' {url}", node="node1", output=out)
        slurm_cluster.wait_job(job)
        assert out.read_text() == "200"
    finally:
        srv.stop()


def test_slurmrestd_jwt_and_unix_socket(slurm_cluster):
    c = slurm_cluster
    req = urllib.request.Request(c.rest_url + "/slurm/v0.0.38/nodes",
                                 headers={"X-SLURM-USER-NAME": "root", "X-SLURM-USER-TOKEN": c.jwt()})
    with urllib.request.urlopen(req, timeout=10) as r:
        nodes = {n["name"]: n["address"] for n in json.load(r)["nodes"]}
    assert nodes == {n: c.node_addr(n) for n in NODES}
    out = subprocess.run(["curl", "-sf", "--unix-socket", c.info["rest_socket"],
                          "http://localhost/slurm/v0.0.38/ping"], capture_output=True, text=True, timeout=10)
    assert out.returncode == 0 and json.loads(out.stdout)["errors"] == []


def test_faults_and_stop_leave_nothing(slurm_cluster, make_slurm_cluster):
    c = make_slurm_cluster()
    assert all(c.status().values()) and len(c.status()) == 6
    # Side by side with the session's cluster: its own subnet, ports, netns and bridge.
    for k in ("subnet", "bridge", "rest_url"):
        assert c.info[k] != slurm_cluster.info[k], k
    assert not set(c.info["ports"].values()) & set(slurm_cluster.info["ports"].values())
    assert not {c.netns(n) for n in NODES} & {slurm_cluster.netns(n) for n in NODES}
    # start again: reports "already running", the same TOML, nothing new.
    assert c.start() == c.toml
    # drain / resume
    c.drain("node2")
    assert c.wait_node("node2", ("drain", "drng")) == "drain"
    c.resume("node2")
    c.wait_node("node2")
    # kill -9 of a node (slurmd and its jobs), then back
    job = c.sbatch("sleep 300", node="node1")
    c.wait_job(job, ("RUNNING",))
    c.kill_node("node1")
    assert subprocess.run(["ip", "netns", "pids", c.netns("node1")], capture_output=True,
                          text=True).stdout.strip() == ""
    c.start_node("node1")
    c.wait_node("node1", ("idle", "mix", "alloc"))
    # kill -9 of slurmctld, then back with its saved state
    c.kill_ctld()
    assert c.run("scontrol", "ping", check=False).stdout.count("DOWN") == 1
    c.start_ctld()
    assert "UP" in c.run("scontrol", "ping").stdout
    # stop: no daemon, job step, netns or bridge left; stop again is fine
    running = c.sbatch("sleep 300", node="node2")
    c.wait_job(running, ("RUNNING",))
    pids = [int(p) for p in subprocess.run(["ip", "netns", "pids", c.netns("node2")], capture_output=True,
                                           text=True).stdout.split()]
    info = json.loads((c.dir / "cluster.json").read_text())
    pids += [p for p in info["pids"].values() if p] + [int((c.dir / "run" / f"{n}.pid").read_text())
                                                       for n in ("slurmctld", "slurmd-node1", "slurmd-node2")]
    c.stop()
    wait_gone(pids, 1)
    assert not {c.netns(n) for n in NODES} & netns_names()
    assert subprocess.run(["ip", "link", "show", info["bridge"]], capture_output=True).returncode != 0
    assert not Path(c.info["rest_socket"]).parent.parent.exists()  # /run/slurm-dev-<hash>
    assert not any(c.status().values())
    c.stop()
