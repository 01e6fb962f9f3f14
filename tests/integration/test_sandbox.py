"""The sandbox from outside: `atrium exec --spec` runs escape attempts, and each must be contained.

Every assertion is about what the job could or could not do, and about what the outcome claims.
Where the host lacks a capability (no writable cgroups, an unprivileged caller), the test checks
that the outcome does not claim that enforcement, instead of skipping.
"""
from __future__ import annotations

import glob
import json
import os
import signal
import socket
import subprocess
import tempfile
import time
import uuid
from pathlib import Path

import pytest

from conftest import ATRIUM_BIN, wait_until

ROOT = os.geteuid() == 0
# A uid of its own per test run (root maps it into the job's user namespace), never 0.
JOB_UID = 23000 + os.getpid() % 5000 if ROOT else os.getuid()


def probe() -> dict:
    if not hasattr(probe, "cached"):
        r = subprocess.run([ATRIUM_BIN, "exec", "--probe"], capture_output=True, text=True, timeout=30)
        assert r.returncode == 0, r.stderr
        probe.cached = json.loads(r.stdout)
    return probe.cached


def cgroup_kind() -> str | None:
    """'cgroup-v1' / 'cgroup-v2' when limits go to cgroups here, else None."""
    mode = probe()["cgroup_mode"]
    return None if mode == "none" else f"cgroup-{mode}"


def cgroup_dirs(job_id: str) -> list[str]:
    return glob.glob(f"/sys/fs/cgroup/*/atrium/{job_id}") + glob.glob(f"/sys/fs/cgroup/atrium/{job_id}")


def processes_with(marker: str) -> list[int]:
    """Live (non-zombie) host processes whose command line contains marker."""
    found = []
    for d in glob.glob("/proc/[0-9]*"):
        try:
            cmd = Path(d, "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            state = Path(d, "stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if marker in cmd and state != "Z" and int(d[6:]) != os.getpid():
            found.append(int(d[6:]))
    return found


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


class Result:
    def __init__(self, rc: int, outcome: dict | None, out: str, err: str, log: str, elapsed: float):
        self.rc, self.outcome, self.out, self.err, self.log, self.elapsed = rc, outcome, out, err, log, elapsed

    @property
    def kind(self):
        return self.outcome["kind"]

    @property
    def enforced(self) -> dict:
        return self.outcome["enforced"]

    def __repr__(self):
        return (f"<rc={self.rc} outcome={json.dumps(self.outcome)}\n--- job stdout\n{self.out[-3000:]}\n"
                f"--- job stderr\n{self.err[-3000:]}\n--- atrium exec stderr\n{self.log[-2000:]}>")


class Sandbox:
    """Writes specs under a per-test directory and runs them through `atrium exec`."""

    def __init__(self, base: Path, job_uid: int = JOB_UID, as_user: list[str] | None = None):
        self.base = base
        self.job_uid = job_uid
        self.as_user = as_user or []

    def workspace(self, name: str = "ws") -> Path:
        d = self.base / name
        d.mkdir(parents=True, exist_ok=True)
        if ROOT:
            os.chown(d, self.job_uid, self.job_uid)
        return d

    def spec(self, argv: list[str], **kw) -> dict:
        job_id = kw.pop("id", None) or f"t-{uuid.uuid4().hex[:12]}"
        limits = {"kill_grace_ms": 200, "wall_ms": 60_000}
        limits.update(kw.pop("limits", {}))
        s = {
            "id": job_id,
            "argv": argv,
            "workspace": str(kw.pop("workspace", None) or self.workspace()),
            "stdout_path": str(self.base / f"{job_id}.out"),
            "stderr_path": str(self.base / f"{job_id}.err"),
            "limits": limits,
        }
        if ROOT and not self.as_user:
            s["uid"] = self.job_uid
            s["gid"] = self.job_uid
        s.update(kw)
        return s

    def command(self, spec: dict, state_dir: Path | None = None) -> list[str]:
        path = self.base / f"{spec['id']}.json"
        path.write_text(json.dumps(spec))
        cmd = self.as_user + [ATRIUM_BIN, "exec", "--spec", str(path)]
        if state_dir is not None:
            cmd += ["--state-dir", str(state_dir)]
        return cmd

    def run(self, argv: list[str], timeout: float = 60, **kw) -> Result:
        spec = self.spec(argv, **kw)
        t0 = time.monotonic()
        r = subprocess.run(self.command(spec), capture_output=True, text=True, timeout=timeout)
        elapsed = time.monotonic() - t0
        outcome = json.loads(r.stdout) if r.stdout.strip() else None
        out = Path(spec["stdout_path"]).read_text(errors="replace") if Path(spec["stdout_path"]).exists() else ""
        err = Path(spec["stderr_path"]).read_text(errors="replace") if Path(spec["stderr_path"]).exists() else ""
        res = Result(r.returncode, outcome, out, err, r.stderr, elapsed)
        res.spec = spec
        assert cgroup_dirs(spec["id"]) == [], f"job cgroup left behind: {cgroup_dirs(spec['id'])}"
        return res

    def python(self, code: str, **kw) -> Result:
        return self.run(["python3", "-c", code], **kw)


@pytest.fixture
def sbx(tmp_path) -> Sandbox:
    assert os.access(ATRIUM_BIN, os.X_OK), f"no atrium binary at {ATRIUM_BIN}"
    if not probe()["user_namespaces"]:
        pytest.skip("this host allows no user namespaces: the sandbox cannot run at all")
    return Sandbox(tmp_path)


# ---------------------------------------------------------------------------- basics


def test_probe_is_consistent():
    p = probe()
    assert p["cgroup_mode"] in ("v1", "v2", "none")
    assert p["root"] == (ROOT and p["root"])  # never root when we are not
    if p["cgroup_mode"] == "none":
        assert p["cgroup_controllers"] == []


def test_exit_code_output_and_state_files(sbx):
    spec = sbx.spec(["sh", "-c", "echo hello; echo oops >&2; exit 3"])
    state = sbx.base / "state"
    r = subprocess.run(sbx.command(spec, state), capture_output=True, text=True, timeout=60)
    assert r.returncode == 3, r.stderr
    outcome = json.loads((state / "outcome.json").read_text())
    assert outcome == json.loads(r.stdout)
    assert outcome["kind"] == "exited" and outcome["exit_code"] == 3
    assert outcome["ended_ms"] >= outcome["started_ms"]
    sup = json.loads((state / "supervisor.json").read_text())
    assert sup["pid"] > 0 and sup["sandbox_pid"] > 0 and sup["start_time"].isdigit()
    assert sup["id"] == spec["id"]
    assert Path(spec["stdout_path"]).read_text() == "hello\n"
    assert Path(spec["stderr_path"]).read_text() == "oops\n"
    assert not list(state.glob("*.tmp.*"))


@pytest.mark.parametrize("body, field", [
    ("{not json", None),
    ('{"id": "x", "argv": ["true"], "workspace": "/w", "shell": 1}', "shell"),
    ('{"id": "x", "argv": [], "workspace": "/w"}', "argv"),
    ('{"id": "x", "argv": ["true"], "workspace": "w"}', "workspace"),
    ('{"id": "../x", "argv": ["true"], "workspace": "/w"}', "id"),
    ('{"id": "x", "argv": ["true"], "workspace": "/w", "mounts": [{"source": "/", "target": "/proc"}]}',
     "mounts[0].target"),
    ('{"id": "x", "argv": ["true"], "workspace": "/w", "limits": {"memory_bytes": -1}}', "limits.memory_bytes"),
    ('{"id": "x", "argv": ["true"], "workspace": "/w", "uid": 0}', "uid"),
])
def test_bad_spec_exits_2_naming_the_field(tmp_path, body, field):
    path = tmp_path / "spec.json"
    path.write_text(body)
    r = subprocess.run([ATRIUM_BIN, "exec", "--spec", str(path)], capture_output=True, text=True, timeout=30)
    assert r.returncode == 2, r
    assert "bad spec" in r.stderr
    if field:
        assert field in r.stderr, r.stderr


def test_spec_from_stdin(sbx):
    spec = sbx.spec(["true"])
    r = subprocess.run([ATRIUM_BIN, "exec", "--spec", "-"], input=json.dumps(spec), capture_output=True, text=True,
                       timeout=60)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["kind"] == "exited"


def test_command_not_found_is_setup_failed(sbx):
    r = sbx.run(["definitely-not-a-command"])
    assert r.rc == 125, r
    assert r.kind == "setup_failed"
    assert "exec definitely-not-a-command" in r.outcome["detail"] and "ENOENT" in r.outcome["detail"]
    assert r.enforced == {}  # nothing ran, nothing is claimed


# ---------------------------------------------------------------------------- identity and files


def test_runs_as_unprivileged_uid_and_cannot_read_shadow(sbx):
    r = sbx.run(["sh", "-c", "id -u; id -g; cat /etc/shadow; echo cat=$?; "
                 "grep -E '^(CapInh|CapPrm|CapEff|CapBnd|CapAmb|NoNewPrivs|Seccomp):' /proc/self/status"])
    assert r.rc == 0, r
    lines = r.out.splitlines()
    assert lines[0] == str(JOB_UID) and lines[0] != "0"
    assert lines[1] != "0"
    assert "cat=1" in lines
    assert "/etc/shadow: Permission denied" in r.err
    status = dict(line.split(":\t") for line in lines if ":\t" in line)
    for cap in ("CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"):
        assert status[cap] == "0000000000000000", (cap, r)
    assert status["NoNewPrivs"] == "1"
    assert status["Seccomp"] == "2"
    assert r.enforced["uid"] == ("per-user" if probe()["root"] else "caller")
    assert r.enforced["capabilities"] == "none" and r.enforced["seccomp"] == "allow-list"


def test_only_the_sandbox_tree_is_visible(sbx):
    r = sbx.run(["sh", "-c", "ls -A /; echo ---; ls -A /dev; echo ---; ls -A /tmp; ls /root /home /var /sys /boot"])
    root, dev, tmp = r.out.split("---\n")[:3]
    assert set(root.split()) <= {"bin", "dev", "etc", "lib", "lib32", "lib64", "libx32", "proc", "sbin", "tmp", "usr",
                                 "workspace"}, r
    assert {"usr", "etc", "proc", "dev", "tmp", "workspace"} <= set(root.split())
    assert set(dev.split()) == {"fd", "full", "null", "ptmx", "pts", "random", "shm", "stderr", "stdin", "stdout",
                                "tty", "urandom", "zero"}, r
    assert tmp.split() == []  # a private /tmp, not the host's
    for d in ("/root", "/home", "/var", "/sys", "/boot"):
        assert f"cannot access '{d}': No such file or directory" in r.err, r
    assert r.rc == 2


def test_other_jobs_workspace_is_not_reachable(sbx):
    other = sbx.workspace("other-job")
    (other / "secret.txt").write_text("TOP-SECRET-4711")
    mine = sbx.workspace("mine")
    r = sbx.run(["sh", "-c", f"cat {other}/secret.txt; ls {other}; ls {sbx.base}; cat /proc/1/root{other}/secret.txt; "
                 "ls /workspace/.."], workspace=mine)
    assert "TOP-SECRET-4711" not in r.out + r.err
    assert f"cat: {other}/secret.txt: No such file or directory" in r.err, r
    assert f"ls: cannot access '{other}': No such file or directory" in r.err, r
    # the init is not dumpable: its /proc/1/root is closed to the job
    assert "/proc/1/root" in r.err and ("Permission denied" in r.err or "No such file" in r.err), r


def test_file_system_is_read_only_outside_workspace_and_tmp(sbx):
    code = r"""
import errno, json, os
res = {}
for p in ["/usr/evil", "/etc/evil", "/evil", "/dev/evil", "/bin/evil", "/lib/evil", "/proc/evil",
          "/workspace/ok", "/tmp/ok", "/dev/shm/ok"]:
    try:
        os.close(os.open(p, os.O_CREAT | os.O_WRONLY, 0o644))
        res[p] = "ok"
    except OSError as e:
        res[p] = errno.errorcode[e.errno]
try:
    os.mkdir("/workspace/sub"); res["mkdir"] = "ok"
except OSError as e:
    res["mkdir"] = errno.errorcode[e.errno]
print(json.dumps(res))
"""
    r = sbx.python(code)
    assert r.rc == 0, r
    res = json.loads(r.out)
    for p in ["/usr/evil", "/etc/evil", "/evil", "/dev/evil", "/bin/evil", "/lib/evil"]:
        assert res[p] == "EROFS", (p, res)
    assert res["/proc/evil"] in ("EACCES", "ENOENT", "EROFS"), res
    assert res["/workspace/ok"] == res["/tmp/ok"] == res["/dev/shm/ok"] == res["mkdir"] == "ok", res
    assert (Path(r.spec["workspace"]) / "ok").exists()
    assert r.enforced["filesystem"] == "read-only-root"


def test_setuid_binaries_do_not_elevate(sbx):
    r = sbx.run(["sh", "-c", "su root -c 'id -u' </dev/null; echo su=$?; "
                 "passwd -d root </dev/null; echo passwd=$?; "
                 "python3 -c 'import os; os.setuid(0)'; echo setuid=$?; id -u"])
    lines = r.out.splitlines()
    assert "0" not in lines, r  # no command ever printed uid 0
    assert lines[-1] == str(JOB_UID)
    for tool in ("su", "passwd", "setuid"):
        rc = next(int(line.split("=")[1]) for line in lines if line.startswith(tool + "="))
        assert rc != 0, (tool, r)
    # uid 0 is not even mapped in the job's user namespace: EINVAL rather than EPERM
    assert "OSError: [Errno 22] Invalid argument" in r.err or "PermissionError" in r.err, r


# ---------------------------------------------------------------------------- processes


def test_host_processes_are_invisible(sbx):
    code = r"""
import json, os
procs = {}
for d in os.listdir("/proc"):
    if d.isdigit():
        try:
            procs[int(d)] = open(f"/proc/{d}/comm").read().strip()
        except OSError:
            pass
print(json.dumps(procs))
"""
    r = sbx.python(code)
    assert r.rc == 0, r
    procs = {int(k): v for k, v in json.loads(r.out).items()}
    assert procs == {1: "atrium-init", 2: "python3"}, procs
    r2 = sbx.run(["ps", "-e", "-o", "pid=,comm="])
    seen = [line.split() for line in r2.out.splitlines()]
    assert [c for _, c in seen] == ["atrium-init", "ps"], r2


def test_cannot_signal_host_processes(sbx):
    victim = subprocess.Popen(["sleep", "300"])
    try:
        r = sbx.run(["sh", "-c", f"kill -9 {victim.pid}; echo kill=$?; kill -9 -1; echo all=$?"])
        assert "kill=1" in r.out, r
        assert "No such process" in r.err, r
        assert victim.poll() is None, "a job killed a host process"
        assert alive(os.getpid())
    finally:
        victim.kill()
        victim.wait()


def test_fork_bomb_is_contained(sbx):
    # The bomb runs under a pids limit while the job's shell counts with builtins only; then the
    # shell exits and the namespace dies with the rest of the bomb. The shell forks exactly once,
    # to start the bomb: any later fork of its own (a `sleep`, the second half of `b | b &`) fails
    # while the bomb holds every pid, and dash exits on that.
    r = sbx.run(["sh", "-c", "b() { b | b & }; (b) & i=0; while [ $i -lt 300000 ]; do i=$((i+1)); done; echo survived"],
                limits={"pids": 32, "wall_ms": 20_000, "kill_grace_ms": 200}, timeout=90)
    assert r.elapsed < 30, r
    assert r.kind in ("exited", "timeout"), r
    assert r.enforced["pids"] == (cgroup_kind() or "rlimit"), r
    assert "survived" in r.out, r
    assert "fork" in r.err.lower() or "resource temporarily unavailable" in r.err.lower(), r


def test_pids_limit_is_exact(sbx):
    code = r"""
import os
r, w = os.pipe()
n = 0
while n < 200:
    try:
        pid = os.fork()
    except OSError as e:
        print("stopped", e.errno)
        break
    if pid == 0:
        os.close(w)
        os.read(r, 1)   # block until the parent ends
        os._exit(0)
    n += 1
print(n)
"""
    r = sbx.python(code, limits={"pids": 20})
    assert r.rc == 0, r
    stopped, count = r.out.splitlines()
    assert stopped == "stopped 11", r  # EAGAIN
    # 20 for the job: python itself + 19 children (the sandbox's own init is not counted).
    assert int(count) == 19, r
    assert r.enforced["pids"] == (cgroup_kind() or "rlimit")


def test_memory_hog_is_oom_killed(sbx):
    r = sbx.python("x = b'\\x01' * (512 << 20); print('allocated', len(x))", limits={"memory_bytes": 64 << 20})
    assert "allocated" not in r.out, r
    if cgroup_kind():
        assert r.kind == "oom", r
        assert r.rc == 137
        assert r.outcome["exit_code"] == 137
        assert r.enforced["memory"] == cgroup_kind()
        assert 0 < r.outcome["peak_memory_bytes"] <= 64 << 20
    else:
        # rlimit only: the allocation fails inside the job; nobody may call that an OOM kill.
        assert r.enforced["memory"] == "rlimit"
        assert r.kind != "oom" and "MemoryError" in r.err, r


def test_cpu_limit_is_claimed_only_when_enforced(sbx):
    r = sbx.run(["true"], limits={"cpus": 0.5})
    assert r.rc == 0
    if cgroup_kind():
        assert r.enforced["cpu"] == cgroup_kind()
    else:
        assert "cpu" not in r.enforced


# ---------------------------------------------------------------------------- kernel surface


def test_seccomp_refuses_namespace_mount_and_ptrace(sbx):
    code = r"""
import ctypes, errno, json
libc = ctypes.CDLL(None, use_errno=True)
def err(rc):
    return "ok" if rc == 0 else errno.errorcode[ctypes.get_errno()]
res = {
    "unshare_user": err(libc.unshare(0x10000000)),
    "unshare_mnt": err(libc.unshare(0x00020000)),
    "mount": err(libc.mount(b"none", b"/tmp", b"tmpfs", 0, None)),
    "ptrace_traceme": err(libc.ptrace(0, 0, None, None)),
    "clone3": err(libc.syscall(435, None, 0)),
    "keyctl": err(libc.syscall(250, 0, 0, 0, 0, 0)),
    "bpf": err(libc.syscall(321, 0, None, 0)),
    "chroot": err(libc.chroot(b"/tmp")),
}
print(json.dumps(res))
"""
    r = sbx.python(code)
    assert r.rc == 0, r
    res = json.loads(r.out)
    # Without the filter an unprivileged process may unshare a user namespace and PTRACE_TRACEME:
    # EPERM here is the seccomp filter at work.
    assert res == {"unshare_user": "EPERM", "unshare_mnt": "EPERM", "mount": "EPERM", "ptrace_traceme": "EPERM",
                   "clone3": "ENOSYS", "keyctl": "EPERM", "bpf": "EPERM", "chroot": "EPERM"}, res
    r2 = sbx.run(["unshare", "--user", "true"])
    assert r2.rc != 0 and "Operation not permitted" in r2.err, r2


def test_network_is_isolated(sbx):
    host = socket.socket()
    host.bind(("127.0.0.1", 0))
    host.listen(5)
    host.setblocking(False)
    port = host.getsockname()[1]
    code = rf"""
import json, socket
res = {{"ifaces": [n for _, n in socket.if_nameindex()]}}
s = socket.socket(); s.settimeout(5)
try:
    s.connect(("127.0.0.1", {port})); res["host_port"] = "connected"
except OSError as e:
    res["host_port"] = type(e).__name__
# lo is up inside: a server in the job is reachable from the job
srv = socket.socket(); srv.bind(("127.0.0.1", 0)); srv.listen(1)
c = socket.create_connection(srv.getsockname(), timeout=5); res["lo"] = "up"
try:
    socket.create_connection(("1.1.1.1", 53), timeout=3); res["internet"] = "connected"
except OSError as e:
    res["internet"] = type(e).__name__
print(json.dumps(res))
"""
    try:
        r = sbx.python(code)
        assert r.rc == 0, r
        res = json.loads(r.out)
        assert res["ifaces"] == ["lo"], res
        assert res["host_port"] == "ConnectionRefusedError", res
        assert res["lo"] == "up"
        assert res["internet"] != "connected"
        with pytest.raises(BlockingIOError):
            host.accept()  # nothing ever reached the host listener
        assert r.enforced["network"] == "netns"
        # network=true: the same connection reaches the host
        r2 = sbx.python(f"import socket; socket.create_connection(('127.0.0.1', {port}), timeout=5); print('ok')",
                        network=True)
        assert r2.out.strip() == "ok", r2
        assert "network" not in r2.enforced
    finally:
        host.close()


def test_gpus_absent_are_a_setup_failure_not_a_claim(sbx):
    missing = next(i for i in range(255) if f"/dev/nvidia{i}" not in probe()["gpu_devices"])
    r = sbx.run(["true"], gpus=[missing])
    assert r.kind == "setup_failed" and r.rc == 125, r
    assert f"/dev/nvidia{missing} does not exist" in r.outcome["detail"]
    assert "gpus" not in r.enforced


# ---------------------------------------------------------------------------- time, output, stop


def test_wall_time_limit(sbx):
    marker = f"{300 + uuid.uuid4().int % 1000}.{os.getpid()}"
    r = sbx.run(["sh", "-c", f"sleep {marker}"], limits={"wall_ms": 300, "kill_grace_ms": 200})
    assert r.kind == "timeout", r
    assert r.rc == 124
    assert r.elapsed < 5, r  # 300 ms + grace, not the sleep
    assert 300 <= r.outcome["wall_ms"] < 5000
    assert r.enforced["wall"] == "timer"
    assert processes_with(f"sleep {marker}") == []


def test_wall_time_kills_a_job_that_ignores_sigterm(sbx):
    r = sbx.run(["sh", "-c", "trap '' TERM; while :; do sleep 0.05; done"], limits={"wall_ms": 300, "kill_grace_ms": 200})
    assert r.kind == "timeout" and r.rc == 124, r
    assert r.outcome["signal"] == 9  # killed after the grace period
    assert r.elapsed < 5, r


def test_output_is_capped(sbx):
    r = sbx.python("import sys; sys.stdout.write('x' * (1 << 20)); sys.stderr.write('tail')",
                   limits={"output_bytes": 1000})
    assert r.rc == 0 and r.kind == "exited", r  # the job was never blocked by the cap
    assert Path(r.spec["stdout_path"]).stat().st_size == 1000
    assert r.outcome["stdout_truncated"] is True
    assert r.outcome["stderr_truncated"] is False
    assert r.err == "tail"
    assert r.enforced["output"] == "cap"


def start_detached(sbx: Sandbox, marker: str, **kw):
    spec = sbx.spec(["sh", "-c", f"sleep {marker}"], **kw)
    state = sbx.base / f"state-{spec['id']}"
    proc = subprocess.Popen(sbx.command(spec, state), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            start_new_session=True)
    sup_file = state / "supervisor.json"
    wait_until(lambda: sup_file.exists() or proc.poll() is not None, 30, what="supervisor.json")
    assert sup_file.exists(), proc.communicate()
    wait_until(lambda: processes_with(f"sleep {marker}"), 30, what="the job's sleep")
    return spec, state, proc, json.loads(sup_file.read_text())


def test_sigterm_cancels_and_leaves_nothing(sbx):
    marker = f"{400 + uuid.uuid4().int % 1000}.{os.getpid()}"
    spec, state, proc, sup = start_detached(sbx, marker, limits={"kill_grace_ms": 10_000})
    assert sup["pid"] == proc.pid
    t0 = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 143, err
    assert time.monotonic() - t0 < 5  # the job obeyed SIGTERM: no waiting for the grace period
    outcome = json.loads((state / "outcome.json").read_text())
    assert outcome["kind"] == "cancelled", outcome
    assert json.loads(out) == outcome
    assert processes_with(f"sleep {marker}") == []
    assert not alive(sup["sandbox_pid"])
    assert cgroup_dirs(spec["id"]) == []


def test_kill9_of_the_supervisor_kills_the_job(sbx):
    marker = f"{500 + uuid.uuid4().int % 1000}.{os.getpid()}"
    spec, state, proc, sup = start_detached(sbx, marker)
    try:
        proc.kill()
        proc.wait(timeout=30)
        wait_until(lambda: not processes_with(f"sleep {marker}") and not alive(sup["sandbox_pid"]), 30,
                   what="the job to die with its supervisor")
        assert not (state / "outcome.json").exists()
        # The orphaned, empty cgroup is replaced by the next run with the same id (a server re-run).
        r = sbx.run(["true"], id=spec["id"])
        assert r.rc == 0 and r.kind == "exited", r
    finally:
        for d in cgroup_dirs(spec["id"]):
            os.rmdir(d)


# ---------------------------------------------------------------------------- an unprivileged caller


def test_unprivileged_caller_claims_only_what_it_enforces(tmp_path):
    if not ROOT:
        pytest.skip("needs root to start a process as another user")
    base = Path(tempfile.mkdtemp(prefix="atrium-sbx-"))
    try:
        os.chmod(base, 0o755)
        os.chown(base, 65534, 65534)
        check = subprocess.run(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", ATRIUM_BIN, "exec",
                                "--probe"], capture_output=True, text=True, timeout=30)
        if check.returncode != 0:
            pytest.skip(f"nobody cannot run {ATRIUM_BIN}: {check.stderr.strip()}")
        p = json.loads(check.stdout)
        assert p["root"] is False
        sbx = Sandbox(base, job_uid=65534, as_user=["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"])
        ws = sbx.workspace()
        os.chown(ws, 65534, 65534)
        r = sbx.python("x = b'\\x01' * (512 << 20)", workspace=ws, uid=12345,
                       limits={"memory_bytes": 64 << 20, "cpus": 1})
        assert r.enforced["uid"] == "caller"
        if p["cgroup_mode"] == "none":
            assert r.enforced["memory"] == "rlimit", r
            assert r.kind == "exited" and "MemoryError" in r.err, r
            assert "cpu" not in r.enforced
            assert not any(v.startswith("cgroup") for v in r.enforced.values()), r
        assert "uid 12345 ignored" in r.outcome["detail"]
        r2 = sbx.run(["id", "-u"], workspace=ws)
        assert r2.out.strip() == "65534", r2
    finally:
        subprocess.run(["rm", "-rf", str(base)])
