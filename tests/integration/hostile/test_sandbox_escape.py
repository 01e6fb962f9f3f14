"""Hostile jobs against the sandbox itself (issue 14): the system calls a job must not make, and
where an environment with outbound network must not connect.

- A job built from escape_calls.c (compiled here with gcc) tries io_uring, userfaultfd, bpf, perf,
  keyrings, kexec, modules, the mount API, namespaces, ptrace, personality flags, modify_ldt, the
  clock/swap/reboot setters, AF_ALG/AF_VSOCK, TIOCSTI, unknown syscalls and the x32 and i386 ABIs:
  each must come back EPERM (refused) or ENOSYS (unknown, so glibc falls back), never succeed or
  kill the job. The usual tools (gcc, threads, Python's multiprocessing, git) still work.
- An "outbound" environment (slirp4netns) tries the cloud metadata address, private ranges, slirp's
  host gateway and the host's own addresses (a listener runs on them): each attempt is refused
  inside the sandbox at once (EACCES from the namespace's rules; slirp's gateway, the host's
  loopback, gets ENETUNREACH from slirp itself), never a timeout, so nothing is sent to a real
  private host. An address that compute.outbound_allow names still works. The app cannot remove
  the rules (`ip rule flush` fails: no CAP_NET_ADMIN over its namespace).
"""
from __future__ import annotations

import errno
import json
import os
import shutil
import socket
import subprocess
import urllib.parse
from pathlib import Path

import pytest

from conftest import env_suite_server, SERVE_H_ON_ATRIUM_SOCKET, wait_until, World
from test_envs import env_raw
from test_sandbox import ROOT, Sandbox, probe

HERE = Path(__file__).resolve().parent


@pytest.fixture
def sbx(tmp_path) -> Sandbox:
    if not probe()["user_namespaces"]:
        pytest.skip("this host allows no user namespaces: the sandbox cannot run at all")
    return Sandbox(tmp_path)


# ---------------------------------------------------------------------------- system calls

REFUSED = {
    "io_uring_setup": "EPERM", "io_uring_enter": "EPERM", "io_uring_register": "EPERM",
    "userfaultfd": "EPERM", "bpf": "EPERM", "perf_event_open": "EPERM",
    "keyctl": "EPERM", "add_key": "EPERM", "request_key": "EPERM",
    "kexec_load": "EPERM", "kexec_file_load": "EPERM",
    "init_module": "EPERM", "finit_module": "EPERM", "delete_module": "EPERM",
    "mount": "EPERM", "umount2": "EPERM", "pivot_root": "EPERM", "move_mount": "EPERM", "open_tree": "EPERM",
    "fsopen": "EPERM", "fsconfig": "EPERM", "fsmount": "EPERM",
    "unshare_user": "EPERM", "unshare_net": "EPERM", "setns": "EPERM",
    "clone_newuser": "EPERM", "clone_newns": "EPERM", "clone3": "ENOSYS",
    "ptrace_attach_parent": "EPERM", "process_vm_readv": "EPERM",
    "personality_no_aslr": "EPERM", "personality_read_implies_exec": "EPERM", "modify_ldt": "EPERM",
    "acct": "EPERM", "swapon": "EPERM", "swapoff": "EPERM", "reboot": "EPERM",
    "settimeofday": "EPERM", "clock_settime": "EPERM", "sethostname": "EPERM",
    "socket_af_alg": "EPERM", "socket_af_vsock": "EPERM", "ioctl_tiocsti": "EPERM",
    "unknown_syscall": "ENOSYS", "x32_abi": "ENOSYS", "i386_abi": "ENOSYS",
    # still allowed
    "fork": "0", "personality_query": "0", "socket_inet": "0",
}


def build_in(ws: Path, src: Path, name: str) -> Path:
    if not shutil.which("gcc"):
        pytest.skip("no gcc here to build the test program")
    out = ws / name
    subprocess.run(["gcc", "-O1", "-o", str(out), str(src)], check=True, capture_output=True, timeout=120)
    if ROOT:
        os.chown(out, os.stat(ws).st_uid, os.stat(ws).st_gid)
    return out


def test_denied_syscalls_get_eperm_or_enosys(sbx):
    # Never run escape_calls outside a sandbox: as root on the host its mount, sethostname, acct...
    # would succeed for real.
    ws = sbx.workspace()
    build_in(ws, HERE / "escape_calls.c", "escape_calls")
    r = sbx.run(["/workspace/escape_calls"])
    assert r.rc == 0, r
    got = dict(line.split(" ", 1) for line in r.out.splitlines() if " " in line)
    assert got == REFUSED, {k: (got.get(k), v) for k, v in REFUSED.items() if got.get(k) != v}
    assert r.enforced["seccomp"] == "allow-list", r


def test_research_tools_work_under_the_allow_list(sbx):
    """What research code calls: a compiler and its output (threads, mmap), Python's
    multiprocessing (fork, semaphores, pipes), a thread pool, git (commit, log), a socket pair."""
    if not shutil.which("gcc") or not shutil.which("git"):
        pytest.skip("gcc or git missing")
    script = r"""
set -e
cd /tmp
cat > t.c <<'C'
#include <pthread.h>
#include <stdio.h>
#include <sys/mman.h>
static void *work(void *a) { return a; }
int main(void) {
  pthread_t t[4];
  for (long i = 0; i < 4; i++) pthread_create(&t[i], 0, work, (void *)i);
  long s = 0;
  for (int i = 0; i < 4; i++) { void *r; pthread_join(t[i], &r); s += (long)r; }
  char *m = mmap(0, 1 << 20, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  m[0] = 1;
  printf("threads %ld\n", s);
  return 0;
}
C
gcc -O2 -pthread -o t t.c
./t
python3 - <<'P'
import multiprocessing as mp, concurrent.futures as cf, socket, subprocess
with mp.Pool(2) as p:
    print("pool", sum(p.map(abs, range(-5, 5))))
with cf.ThreadPoolExecutor(4) as ex:
    print("threadpool", sum(ex.map(lambda x: x * 2, range(10))))
a, b = socket.socketpair()
a.sendall(b"ok"); print("socketpair", b.recv(2).decode())
print("subprocess", subprocess.run(["true"]).returncode)
P
git init -q repo && cd repo
git -c user.email=a@b -c user.name=t commit -q --allow-empty -m first
echo "git $(git log --oneline | wc -l)"
"""
    r = sbx.run(["sh", "-c", script], limits={"wall_ms": 120_000, "pids": 256}, timeout=150)
    assert r.rc == 0, r
    for line in ("threads 6", "pool 25", "threadpool 90", "socketpair ok", "subprocess 0", "git 1"):
        assert line in r.out.splitlines(), r


# ---------------------------------------------------------------------------- outbound network

PROBE_APP = r'''
import json, os, socket, socketserver, http.server, urllib.parse
def reach(target):
    host, port = target.rsplit(":", 1)
    try:
        family, kind, _, _, addr = socket.getaddrinfo(host.strip("[]"), int(port), type=socket.SOCK_STREAM)[0]
    except OSError as e:
        return -1
    s = socket.socket(family, kind)
    s.settimeout(10)
    try:
        return s.connect_ex(addr)
    except OSError as e:
        return e.errno or -1
    finally:
        s.close()
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        q = urllib.parse.parse_qs(urllib.parse.urlsplit(self.path).query)
        res = {}
        if "undo" in q:  # try to remove the namespace's rules first
            import subprocess
            for cmd in (["ip", "-4", "rule", "flush"], ["ip", "-4", "rule", "del", "priority", "210"]):
                p = subprocess.run(cmd, capture_output=True, text=True)
                res[" ".join(cmd)] = [p.returncode, p.stderr.strip()]
        res.update({t: reach(t) for t in q.get("probe", [""])[0].split(",") if t})
        out = json.dumps(res).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(out)))
        self.end_headers()
        self.wfile.write(out)
    def log_message(self, *a): pass
''' + SERVE_H_ON_ATRIUM_SOCKET


def host_addresses() -> tuple[str | None, str | None]:
    """One global IPv4 and one global IPv6 address of this host (not loopback, not link-local)."""
    out = subprocess.run(["ip", "-o", "addr", "show", "scope", "global"], capture_output=True, text=True).stdout
    v4 = v6 = None
    for line in out.splitlines():
        f = line.split()
        addr = f[3].split("/")[0]
        if f[2] == "inet" and v4 is None:
            v4 = addr
        elif f[2] == "inet6" and v6 is None:
            v6 = addr
    return v4, v6


@pytest.fixture(scope="module")
def outbound_srv(tmp_path_factory):
    if not shutil.which("slirp4netns") or not shutil.which("ip") or os.geteuid() != 0:
        pytest.skip("outbound environments need root, slirp4netns and ip")
    v4, v6 = host_addresses()
    if v4 is None:
        pytest.skip("this host has no global IPv4 address to listen on")
    env = {"ATRIUM_COMPUTE_CPUS": "32", "ATRIUM_COMPUTE_MEM_MB": "65536", "ATRIUM_COMPUTE_OUTBOUND_ALLOW": f"{v4}/32"}
    with env_suite_server(tmp_path_factory, "egress", env) as s:
        s.v4, s.v6 = v4, v6
        yield s


def env_state(srv, token, env_id, states):
    def get():
        e = srv.call("GET", f"/api/v1/envs/{env_id}", token).json
        return e if e["state"] in states or e["state"] in ("FAILED", "STOPPED") else None
    e = wait_until(get, 90, 0.05, f"environment {env_id} to reach {states}")
    assert e["state"] in states, (e["state"], e["reason"], e.get("log_tail"))
    return e


def test_outbound_env_cannot_reach_metadata_private_ranges_or_the_host(outbound_srv):
    srv = outbound_srv
    world = World(srv, srv.admin, prefix="x")
    member = world.a.users["member"]
    r = srv.call("PUT", "/api/v1/apps/net-probe", srv.admin, json={
        "kind": "web", "command": ["/usr/bin/python3", "-c", PROBE_APP], "health_path": "health",
        "network": "outbound", "defaults": {"cpus": 1, "mem_mb": 256}})
    assert r.status == 201, r
    listeners = [socket.create_server((srv.v4, 0))]
    allowed = f"{srv.v4}:{listeners[0].getsockname()[1]}"
    denied_host = []
    if srv.v6:
        listeners.append(socket.create_server((srv.v6, 0), family=socket.AF_INET6))
        denied_host.append(f"[{srv.v6}]:{listeners[1].getsockname()[1]}")
    # Addresses nobody must be sent to: the rules refuse them before a packet leaves the sandbox.
    refused = ["169.254.169.254:80", "10.1.2.3:80", "10.0.2.5:80", "172.16.5.5:80", "192.168.77.1:80", "100.64.1.1:80",
               "[fe80::1%tap0]:80", "[fd12::1]:80"] + denied_host
    try:
        r = srv.call("POST", f"/api/v1/projects/{world.a.org_project['id']}/envs", member.token, json={"app": "net-probe"})
        assert r.status in (200, 201, 202), r
        env = env_state(srv, member.token, r.json["id"], ("READY",))
        probe = ",".join(refused + [f"10.0.2.2:{srv.port}", allowed])
        reply = env_raw(srv, "GET", env["url"] + "p?probe=" + urllib.parse.quote(probe, safe=""),
                        headers={"Authorization": f"Bearer {member.token}"})
        assert reply.status == 200, reply
        seen = reply.json
        for target in refused:
            assert seen[target] == errno.EACCES, (target, seen)
        # slirp's gateway is the host's loopback: slirp refuses it itself (--disable-host-loopback).
        assert seen[f"10.0.2.2:{srv.port}"] in (errno.ENETUNREACH, errno.ECONNREFUSED), seen
        # What compute.outbound_allow names (here one of the host's own addresses) goes through.
        assert seen[allowed] == 0, seen
        # The app cannot remove the rules: it has no CAP_NET_ADMIN over its namespace.
        reply = env_raw(srv, "GET", env["url"] + "p?undo=1&probe=169.254.169.254:80",
                        headers={"Authorization": f"Bearer {member.token}"})
        undo = reply.json
        assert undo["ip -4 rule flush"][0] != 0 and undo["ip -4 rule del priority 210"][0] != 0, undo
        assert undo["169.254.169.254:80"] == errno.EACCES, undo
        srv.call("POST", f"/api/v1/envs/{env['id']}/stop", member.token)
        env_state(srv, member.token, env["id"], ("STOPPED",))
    finally:
        for l in listeners:
            l.close()
