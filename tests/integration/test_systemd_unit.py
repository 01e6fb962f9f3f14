"""deploy/atrium.service, tested: a server confined as the unit says runs a job and a terminal
environment (the sandbox's user, mount, pid and network namespaces, per-user uids and cgroups).

The settings are read from the unit file, so the test and the unit cannot drift apart:
- Where systemd is PID 1, `systemd-run` runs the server with the unit's [Service] properties
  (test_unit_under_systemd_run).
- Everywhere (also in containers and CI runners, where PID 1 is something else and systemd cannot
  start a service), test_unit_confinement_emulated applies what decides whether the sandbox works,
  with the same mechanisms systemd uses: the capability bounding set and no_new_privs (setpriv), the
  system call and address-family filter (seccomp, through a small libseccomp helper built here,
  from the groups `systemd-analyze syscall-filter` defines), and ProtectSystem=strict,
  ReadWritePaths, ProtectHome and PrivateTmp (a private mount namespace with the same read-only
  remounts and tmpfs mounts). `systemd-analyze verify` checks the unit's syntax in both cases.
- Every [Service] setting is either applied here or listed in NOT_EMULATED with the reason, so a
  setting added to the unit without thought fails test_every_unit_setting_is_accounted_for.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import tempfile
import uuid
from pathlib import Path

import pytest

from conftest import ADMIN_PASSWORD, ATRIUM_BIN, Server, wait_until
from test_envs import env_ws

REPO = Path(__file__).resolve().parents[2]
UNIT = REPO / "deploy" / "atrium.service"
TERMINAL = {"COMPLETED", "FAILED", "CANCELLED", "TIMEOUT", "OUT_OF_MEMORY", "NODE_FAIL"}
STATE_DIR = "/var/lib/atrium"

# Applied by the emulation (and by systemd-run).
EMULATED = {"CapabilityBoundingSet", "AmbientCapabilities", "NoNewPrivileges", "ProtectSystem", "ReadWritePaths",
            "ProtectHome", "PrivateTmp", "SystemCallFilter", "SystemCallErrorNumber", "SystemCallArchitectures",
            "RestrictAddressFamilies", "UMask", "WorkingDirectory", "User"}
# Not applied by the emulation, and why that does not weaken the test.
NOT_EMULATED = {
    "Type": "how systemd tracks the process",
    "ExecStart": "the test runs the built binary with a temporary data directory",
    "StateDirectory": "the test makes its own directory under /var/lib",
    "StateDirectoryMode": "the test makes its own directory (0700)",
    "ConfigurationDirectory": "no config file: defaults plus --data-dir",
    "Restart": "restart policy", "RestartSec": "restart policy",
    "KillSignal": "stop policy", "KillMode": "stop policy", "TimeoutStopSec": "stop policy",
    "LimitNOFILE": "a raised limit cannot make the sandbox fail",
    "Delegate": "cgroup ownership under systemd; outside it the test process already owns the cgroups",
    "ProtectKernelModules": "seccomp denial of module syscalls (@module is denied by the filter too) and an "
                            "unreadable /usr/lib/modules, which jobs never read",
    "RestrictRealtime": "seccomp denial of realtime scheduling; no job or server path uses it",
    "RestrictSUIDSGID": "seccomp denial of creating set-uid files; the sandbox never does",
    "LockPersonality": "seccomp lock of personality(); the sandbox never changes it",
    "RestrictNamespaces": "seccomp on clone/unshare/setns flags; the unit allows every namespace type the "
                          "sandbox creates (checked below against the sandbox's namespace list)",
}
# Always allowed by systemd in allow-list mode (systemd.exec(5), SystemCallFilter=).
ALWAYS_ALLOWED = {"execve", "exit", "exit_group", "getrlimit", "rt_sigreturn", "sigreturn"}
FAMILIES = {"AF_UNIX": 1, "AF_INET": 2, "AF_INET6": 10, "AF_NETLINK": 16}


def parse_unit(path: Path = UNIT) -> list[tuple[str, str]]:
    """The [Service] section as (key, value) pairs, in order (keys may repeat)."""
    out, section = [], None
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("["):
            section = line
            continue
        if section == "[Service]":
            k, _, v = line.partition("=")
            out.append((k.strip(), v.strip()))
    return out


def values(unit, key) -> list[str]:
    return [v for k, v in unit if k == key]


def one(unit, key, default=None) -> str | None:
    vs = values(unit, key)
    return vs[-1] if vs else default


def systemd_is_pid1() -> bool:
    try:
        return Path("/proc/1/comm").read_text().strip() == "systemd"
    except OSError:
        return False


def test_every_unit_setting_is_accounted_for():
    keys = {k for k, _ in parse_unit()}
    unknown = keys - EMULATED - set(NOT_EMULATED)
    assert not unknown, f"settings in {UNIT.name} that this test neither applies nor explains: {sorted(unknown)}"


def test_unit_allows_the_namespaces_the_sandbox_creates():
    unit = parse_unit()
    allowed = set(one(unit, "RestrictNamespaces", "").split())
    # What the sandbox reports it creates (its README's enforced map: "namespaces":"user,mount,...").
    readme = (REPO / "src" / "sandbox" / "README.md").read_text()
    m = re.search(r'"namespaces":"([a-z,]+)"', readme)
    assert m, "the sandbox README no longer lists its namespaces: update this test"
    created = {"mnt" if n == "mount" else n for n in m.group(1).split(",")}
    assert created <= allowed, (created, allowed)
    assert "no" not in allowed and "yes" != one(unit, "RestrictNamespaces")


def test_unit_verifies(tmp_path):
    if not shutil.which("systemd-analyze"):
        pytest.skip("systemd-analyze is not installed")
    text = UNIT.read_text().replace("/usr/local/bin/atrium", ATRIUM_BIN)
    (tmp_path / "atrium.service").write_text(text)
    p = subprocess.run(["systemd-analyze", "verify", "--man=no", str(tmp_path / "atrium.service")],
                       capture_output=True, text=True, timeout=60)
    assert p.returncode == 0 and "atrium.service" not in p.stderr, p.stderr


# ---------------------------------------------------------------------------- the filter


def syscall_groups() -> dict[str, list[str]]:
    p = subprocess.run(["systemd-analyze", "syscall-filter", "--no-pager"], capture_output=True, text=True,
                       timeout=60, check=True)
    groups, cur = {}, None
    for line in p.stdout.splitlines():
        s = line.strip()
        if not s or s.startswith("#"):
            continue
        if not line.startswith(" ") and s.startswith("@"):
            cur = s
            groups[cur] = []
        elif cur:
            groups[cur].append(s)
    return groups


def expand(names: list[str], groups) -> set[str]:
    out: set[str] = set()
    for n in names:
        if n.startswith("@"):
            out |= expand(groups[n], groups)
        else:
            out.add(n)
    return out


def allowed_syscalls(unit, groups) -> set[str]:
    """systemd's SystemCallFilter=: the first line decides allow- or deny-list mode; later lines
    add (allow) or remove (~) names."""
    lines = values(unit, "SystemCallFilter")
    assert lines and not lines[0].startswith("~"), "the test expects an allow-list"
    allowed = set(ALWAYS_ALLOWED)
    for line in lines:
        deny = line.startswith("~")
        names = expand(line.lstrip("~").split(), groups)
        allowed = allowed - names if deny else allowed | names
    return allowed


HELPER_C = r"""
#include <errno.h>
#include <seccomp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
/* helper ERRNO ALLOWED-FILE FAMILIES -- command...: what SystemCallFilter=, SystemCallErrorNumber=,
   SystemCallArchitectures=native and RestrictAddressFamilies= install (systemd builds the same kind
   of filter with libseccomp), then exec. */
int main(int argc, char **argv) {
  if (argc < 6 || strcmp(argv[4], "--") != 0) return 2;
  scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_ERRNO(atoi(argv[1])));
  if (!ctx) return 3;
  FILE *f = fopen(argv[2], "r");
  char name[128];
  if (!f) return 4;
  while (fscanf(f, "%127s", name) == 1) {
    int nr = seccomp_syscall_resolve_name(name);
    if (nr == __NR_SCMP_ERROR) continue; /* not on this architecture */
    if (seccomp_rule_add(ctx, SCMP_ACT_ALLOW, nr, 0) != 0) { fprintf(stderr, "rule %s\n", name); return 5; }
  }
  fclose(f);
  for (char *fam = strtok(argv[3], ","); fam; fam = strtok(NULL, ","))
    if (seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(socket), 1, SCMP_A0(SCMP_CMP_EQ, atoi(fam))) != 0) return 6;
  if (seccomp_load(ctx) != 0) { perror("seccomp_load"); return 7; }
  execvp(argv[5], argv + 5);
  perror("execvp");
  return 127;
}
"""


def build_helper(where: Path) -> Path:
    cc = shutil.which("cc") or shutil.which("gcc")
    if not cc or not Path("/usr/include/seccomp.h").exists():
        pytest.skip("no C compiler or libseccomp headers to build the seccomp helper")
    src = where / "sc.c"
    src.write_text(HELPER_C)
    exe = where / "sc"
    subprocess.run([cc, "-O1", "-o", str(exe), str(src), "-lseccomp"], check=True, capture_output=True, timeout=120)
    return exe


# ---------------------------------------------------------------------------- a job and an environment


def exercise(srv: Server) -> None:
    """A job and a terminal environment through the confined server."""
    admin = srv.login_token("admin", ADMIN_PASSWORD)
    org = srv.call("POST", "/api/v1/orgs", admin, json={"slug": "unit-test", "name": "Unit"}).json
    pid = srv.call("POST", f"/api/v1/orgs/{org['id']}/projects", admin, json={"slug": "p", "name": "P"}).json["id"]
    r = srv.call("POST", f"/api/v1/projects/{pid}/jobs", admin,
                 json={"command": ["sh", "-c", "echo job-ran-as $(id -u); grep -E '^(CapEff|NoNewPrivs)' /proc/self/status"],
                       "time_limit_s": 120, "mem_mb": 256})
    assert r.status == 201, r
    jid = r.json["id"]
    job = wait_until(lambda: (j := srv.call("GET", f"/api/v1/jobs/{jid}", admin).json)["state"] in TERMINAL and j,
                     90, 0.05, "the job to end")
    out = srv.call("GET", f"/api/v1/jobs/{jid}/logs?stream=stdout&offset=0", admin).body.decode()
    err = srv.call("GET", f"/api/v1/jobs/{jid}/logs?stream=stderr&offset=0", admin).body.decode()
    if job["state"] != "COMPLETED":
        print(json.dumps(job, indent=1), out, err, "\n".join(srv.stderr_snapshot()[-30:]), sep="\n")
    assert job["state"] == "COMPLETED", job.get("reason")
    uid = int(re.search(r"job-ran-as (\d+)", out).group(1))
    assert uid != 0, out  # the user's own uid, which took CAP_SETUID to map
    assert re.search(r"CapEff:\s+0+\n", out) and "NoNewPrivs:\t1" in out, out

    r = srv.call("POST", f"/api/v1/projects/{pid}/envs", admin, json={"app": "terminal"})
    assert r.status == 201, r
    eid = r.json["id"]

    def ready():
        e = srv.call("GET", f"/api/v1/envs/{eid}", admin).json
        return e if e["state"] in ("READY", "FAILED", "STOPPED") else None

    env = wait_until(ready, 90, 0.05, "the terminal to be ready")
    assert env["state"] == "READY", (env, srv.output())
    ws = env_ws(srv, env["url"] + "websocket", headers={"Authorization": f"Bearer {admin}"})
    ws.send(json.dumps(["stdin", "echo term-$((6*7))\r"]))
    seen = ""
    for _ in range(400):
        _, data = ws.recv()
        m = json.loads(data)
        if m[0] == "stdout":
            seen += m[1]
            if "term-42" in seen:
                break
    ws.close()
    assert "term-42" in seen, seen
    assert srv.call("POST", f"/api/v1/envs/{eid}/stop", admin).status in (200, 409)
    wait_until(lambda: srv.call("GET", f"/api/v1/envs/{eid}", admin).json["state"] == "STOPPED", 60, 0.05,
               "the terminal to stop")


def cap_mask(names: set[str]) -> int:
    bits = {"CAP_CHOWN": 0, "CAP_DAC_OVERRIDE": 1, "CAP_DAC_READ_SEARCH": 2, "CAP_FOWNER": 3, "CAP_FSETID": 4,
            "CAP_KILL": 5, "CAP_SETGID": 6, "CAP_SETUID": 7, "CAP_SETPCAP": 8, "CAP_NET_BIND_SERVICE": 10,
            "CAP_NET_ADMIN": 12, "CAP_SYS_CHROOT": 18, "CAP_SYS_PTRACE": 19, "CAP_SYS_ADMIN": 21}
    return sum(1 << bits[n] for n in names)


@pytest.fixture
def state_dir():
    """A directory under /var/lib, as StateDirectory= makes (the test's /tmp is hidden by PrivateTmp)."""
    if os.geteuid() != 0:
        pytest.skip("the unit runs the server as root; so must this test")
    d = Path(tempfile.mkdtemp(prefix="atrium-unit-test-", dir="/var/lib"))
    try:
        yield d
    finally:
        shutil.rmtree(d, ignore_errors=True)


def test_unit_confinement_emulated(state_dir):
    """The unit's confinement without systemd (see the module docstring), then a job and a terminal."""
    for tool in ("unshare", "setpriv", "systemd-analyze", "mount"):
        if not shutil.which(tool):
            pytest.skip(f"{tool} is not installed")
    unit = parse_unit()
    assert one(unit, "User") == "root"
    caps = set(one(unit, "CapabilityBoundingSet").split())
    assert caps and not caps & {"CAP_NET_ADMIN", "CAP_SYS_PTRACE", "CAP_SYS_MODULE", "CAP_SYS_RAWIO"}
    assert one(unit, "AmbientCapabilities") == ""
    tools = state_dir / "tools"
    tools.mkdir()
    helper = build_helper(tools)
    groups = syscall_groups()
    allowed = allowed_syscalls(unit, groups)
    assert "mount" in allowed and "ptrace" not in allowed and "init_module" not in allowed
    allowed.discard("socket")  # allowed per address family by the helper
    (tools / "allowed").write_text("\n".join(sorted(allowed)) + "\n")
    families = ",".join(str(FAMILIES[f]) for f in one(unit, "RestrictAddressFamilies").split())
    errno = {"EPERM": 1}[one(unit, "SystemCallErrorNumber")]
    assert one(unit, "SystemCallArchitectures") == "native"  # the helper's filter is native-only too
    data = state_dir / "data"
    data.mkdir(mode=0o700)
    rw = [str(data) if p == STATE_DIR else p for p in " ".join(values(unit, "ReadWritePaths")).split()]

    # ProtectSystem=strict: every mount read-only except the API file systems (/dev, /proc, /sys);
    # then ReadWritePaths, ProtectHome=yes, PrivateTmp=yes, as systemd sets them up.
    assert one(unit, "ProtectSystem") == "strict"
    mounts = []
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        mp = line.split()[4].encode().decode("unicode_escape")
        if not re.match(r"^/(dev|proc|sys)(/|$)", mp):
            mounts.append(mp)
    q = lambda s: "'" + s.replace("'", "'\\''") + "'"  # noqa: E731
    script = ["set -e"]
    script += [f"mount -o remount,bind,ro {q(m)} 2>/dev/null || true" for m in mounts]
    for p in rw:
        script += [f"mount --rbind {q(p)} {q(p)}", f"mount -o remount,bind,rw {q(p)}"]
    hidden = []
    if one(unit, "ProtectHome") == "yes":
        hidden = [h for h in ("/home", "/root", "/run/user") if os.path.isdir(h)]
        if any(ATRIUM_BIN.startswith(h + "/") for h in hidden):
            pytest.skip(f"ATRIUM_BIN ({ATRIUM_BIN}) is under a directory ProtectHome hides")
        script += [f"mount -t tmpfs -o ro,mode=000 tmpfs {h}" for h in hidden]
    if one(unit, "PrivateTmp") == "yes":
        script += ["mount -t tmpfs -o mode=1777 tmpfs /tmp", "mount -t tmpfs -o mode=1777 tmpfs /var/tmp"]
    script += [f"cd {q(str(data))}", f"umask {one(unit, 'UMask', '0022')}"]
    setpriv = ["setpriv", "--bounding-set", "-all," + ",".join("+" + c[4:].lower() for c in sorted(caps)),
               "--inh-caps", "-all", "--ambient-caps", "-all"]
    if one(unit, "NoNewPrivileges") == "yes":
        setpriv.append("--no-new-privs")
    else:
        pytest.fail("the helper loads its filter unprivileged, which needs NoNewPrivileges=yes")
    cmd = setpriv + ["--", str(helper), str(errno), str(tools / "allowed"), families, "--",
                     ATRIUM_BIN, "server", "--listen", "127.0.0.1:0", "--data-dir", str(data)]
    script.append("exec " + " ".join(q(c) for c in cmd))

    srv = Server(data, env={"ATRIUM_COMPUTE_CPUS": "2", "ATRIUM_COMPUTE_MEM_MB": "4096", "ATRIUM_COMPUTE_GPUS": "0"})
    srv.command = lambda: ["unshare", "--mount", "--propagation", "private", "sh", "-c", "\n".join(script)]
    srv.start()
    try:
        # The confinement is real: the server's own status (one process: unshare, sh, setpriv and the
        # helper exec into it).
        status = Path(f"/proc/{srv.proc.pid}/status").read_text()
        fields = dict(re.findall(r"^(\w+):\s+(.*)$", status, re.M))
        assert int(fields["CapBnd"], 16) == cap_mask(caps), fields["CapBnd"]
        assert int(fields["CapEff"], 16) == cap_mask(caps), fields["CapEff"]
        assert fields["NoNewPrivs"] == "1" and fields["Seccomp"] == "2", fields
        assert _ro_write_fails(srv.proc.pid, "/usr") and _ro_write_fails(srv.proc.pid, "/etc")
        exercise(srv)
        # The server could write only where the unit lets it.
        assert (data / "atrium.db").exists()
    finally:
        if srv.running():
            try:
                srv.stop(30)
            except AssertionError:
                srv.kill9()


def _ro_write_fails(pid: int, where: str) -> bool:
    """Whether creating a file under `where` in the server's mount namespace fails (read-only)."""
    name = f"{where}/atrium-unit-test-{uuid.uuid4().hex}"
    p = subprocess.run(["nsenter", "-t", str(pid), "-m", "sh", "-c", f"touch {name}"], capture_output=True,
                       text=True, timeout=30)
    if p.returncode == 0:
        subprocess.run(["nsenter", "-t", str(pid), "-m", "rm", "-f", name], timeout=30)
    return p.returncode != 0


def test_unit_under_systemd_run(state_dir):
    """The unit's own [Service] settings through systemd-run (only where systemd is PID 1)."""
    if not systemd_is_pid1():
        pytest.skip("systemd is not PID 1 here (a container): systemd-run cannot start a service; "
                    "test_unit_confinement_emulated applies the same confinement without it")
    unit = parse_unit()
    data = state_dir / "data"
    data.mkdir(mode=0o700)
    skip = {"Type", "ExecStart", "Restart", "RestartSec", "StateDirectory", "StateDirectoryMode",
            "ConfigurationDirectory", "WorkingDirectory"}
    props = []
    for k, v in unit:
        if k in skip:
            continue
        if k == "ReadWritePaths":
            v = " ".join(str(data) if p == STATE_DIR else p for p in v.split())
        props += ["-p", f"{k}={v}"]
    name = f"atrium-unit-test-{uuid.uuid4().hex[:8]}"
    srv = Server(data, env={"ATRIUM_COMPUTE_CPUS": "2", "ATRIUM_COMPUTE_MEM_MB": "4096", "ATRIUM_COMPUTE_GPUS": "0"})
    env_props = ["-E", f"ATRIUM_ADMIN_PASSWORD={ADMIN_PASSWORD}", "-E", "ATRIUM_COMPUTE_CPUS=2",
                 "-E", "ATRIUM_COMPUTE_MEM_MB=4096", "-E", "ATRIUM_COMPUTE_GPUS=0"]
    srv.command = lambda: ["systemd-run", "--unit", name, "--pipe", "--wait", "--collect", "--quiet",
                           "-p", f"WorkingDirectory={data}", *env_props, *props, "--", ATRIUM_BIN, "server",
                           "--listen", "127.0.0.1:0", "--data-dir", str(data)]
    srv.start()
    try:
        exercise(srv)
    finally:
        subprocess.run(["systemctl", "stop", name], capture_output=True, timeout=60)
        if srv.running():
            srv.kill9()
