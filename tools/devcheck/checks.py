"""Hand-made device checks of `atrium exec`: GPU exposure, torch in the sandbox, cgroup v2 limits.

Usage: python3 checks.py ATRIUM_BIN WORKDIR [nvidia-smi path]
Prints one 'CHECK <name>: PASS|FAIL|SKIP ...' line per check plus the evidence. Stdlib only.
"""
from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import sys
import time
import uuid
from pathlib import Path

ATRIUM = sys.argv[1]
BASE = Path(sys.argv[2])
NVSMI = sys.argv[3] if len(sys.argv) > 3 and sys.argv[3] else ""
BASE.mkdir(parents=True, exist_ok=True)
os.chmod(BASE, 0o755)
UID = 24000 + os.getpid() % 1000
RESULTS: list[tuple[str, str, str]] = []


def probe() -> dict:
    r = subprocess.run([ATRIUM, "exec", "--probe"], capture_output=True, text=True, timeout=60)
    return json.loads(r.stdout)


PROBE = probe()
MODE = PROBE["cgroup_mode"]
CG = None if MODE == "none" else f"cgroup-{MODE}"


def job(argv, limits=None, name="j", timeout=150, **kw):
    jid = f"dc-{name}-{uuid.uuid4().hex[:8]}"
    ws = BASE / jid
    ws.mkdir()
    os.chown(ws, UID, UID)
    lim = {"wall_ms": 120_000, "kill_grace_ms": 500}
    lim.update(limits or {})
    spec = {"id": jid, "argv": argv, "workspace": str(ws), "uid": UID, "gid": UID, "limits": lim,
            "stdout_path": str(BASE / f"{jid}.out"), "stderr_path": str(BASE / f"{jid}.err")}
    spec.update(kw)
    sp = BASE / f"{jid}.json"
    sp.write_text(json.dumps(spec))
    t0 = time.monotonic()
    r = subprocess.run([ATRIUM, "exec", "--spec", str(sp)], capture_output=True, text=True, timeout=timeout)
    el = time.monotonic() - t0
    try:
        outcome = json.loads(r.stdout)
    except Exception:
        outcome = {"kind": "?", "raw_stdout": r.stdout}
    out = Path(spec["stdout_path"]).read_text(errors="replace") if Path(spec["stdout_path"]).exists() else ""
    err = Path(spec["stderr_path"]).read_text(errors="replace") if Path(spec["stderr_path"]).exists() else ""
    left = [str(p) for p in Path("/sys/fs/cgroup").glob(f"**/{jid}")]
    return {"rc": r.returncode, "outcome": outcome, "out": out, "err": err, "log": r.stderr, "elapsed": el,
            "cgroup_left": left}


def show(name, res):
    print(f"--- {name}: rc={res['rc']} elapsed={res['elapsed']:.2f}s cgroup_left={res['cgroup_left']}")
    print("outcome:", json.dumps(res["outcome"]))
    if res["out"]:
        print("stdout:\n" + res["out"][-4000:].rstrip())
    if res["err"]:
        print("stderr:\n" + res["err"][-3000:].rstrip())
    if res["log"]:
        print("atrium stderr:\n" + res["log"][-2000:].rstrip())


def verdict(name, ok, why=""):
    v = "PASS" if ok else "FAIL"
    RESULTS.append((name, v, why))
    print(f"CHECK {name}: {v} {why}", flush=True)


def skip(name, why):
    RESULTS.append((name, "SKIP", why))
    print(f"CHECK {name}: SKIP {why}", flush=True)


def guarded(fn):
    try:
        fn()
    except Exception as e:  # keep going: one broken check must not hide the others
        verdict(fn.__name__, False, f"exception {type(e).__name__}: {e}")


# In-sandbox python3 (PATH /usr/local/bin:/usr/bin:/bin): the host's, if it lives under /usr.
IN_PY = next((p for p in ("/usr/local/bin/python3", "/usr/bin/python3")
              if os.path.exists(p) and os.path.realpath(p).startswith("/usr/")), "")
print("probe:", json.dumps(PROBE))
print("in-sandbox python3:", IN_PY or "(none under /usr)", "->", os.path.realpath(IN_PY) if IN_PY else "")


def gpu_visible():
    if not PROBE["gpu_devices"]:
        return skip("gpu_visible", "no /dev/nvidiaN on this host")
    smi = NVSMI or "nvidia-smi"
    res = job(["sh", "-c", "echo '== /dev'; ls -l /dev /dev/nvidia-caps 2>&1; echo '== env'; env | sort | "
               "grep -i -e cuda -e nvidia -e atrium; echo '== nvidia-smi'; " + smi + " -L; echo smi_rc=$?; "
               "echo '== /proc/driver/nvidia'; ls /proc/driver/nvidia 2>&1 | head; "
               "echo '== /sys/fs/cgroup seen by the job'; ls /sys/fs/cgroup 2>&1 | head -30; "
               "cat /proc/self/cgroup; echo '== host cgroup tree under atrium'; ls /sys/fs/cgroup/atrium 2>&1"],
              gpus=[0], name="gpu")
    show("gpu_visible", res)
    o = res["outcome"]
    env = dict(line.split("=", 1) for line in res["out"].splitlines() if "=" in line and not line.startswith(" "))
    cvd = env.get("CUDA_VISIBLE_DEVICES", "")
    dev = res["out"].split("== env")[0]
    ok = (o.get("kind") == "exited" and "smi_rc=0" in res["out"] and "GPU 0:" in res["out"]
          and " nvidia0" in dev and " nvidiactl" in dev and " nvidia-uvm" in dev
          and o.get("enforced", {}).get("gpus") == "device-nodes" and not res["cgroup_left"])
    verdict("gpu_visible", ok, f"CUDA_VISIBLE_DEVICES={cvd!r} NVIDIA_VISIBLE_DEVICES={env.get('NVIDIA_VISIBLE_DEVICES')!r} "
            f"nvml={PROBE['nvml']}")
    verdict("gpu_uuid_env", cvd.startswith("GPU-") if PROBE["nvml"] else cvd == "0", f"CUDA_VISIBLE_DEVICES={cvd!r}")
    seen = res["out"].split("== /sys/fs/cgroup seen by the job")[1].split("== host cgroup tree under atrium")
    listing = [l for l in seen[0].splitlines() if l.strip() and not l.startswith("0::")]
    verdict("gpu_cgroup_tree_hidden", not listing and "No such file" in seen[1],
            f"ls /sys/fs/cgroup inside: {listing[:5]!r}; atrium/: {seen[1].strip()[:80]!r}")
    # the UUID must be this GPU's, per the host's nvidia-smi
    if NVSMI and cvd.startswith("GPU-"):
        host = subprocess.run([NVSMI, "-L"], capture_output=True, text=True).stdout
        verdict("gpu_uuid_matches_host", cvd in host, host.strip())


def gpu_absent_without_request():
    if not PROBE["gpu_devices"]:
        return skip("gpu_absent_without_request", "no GPU")
    smi = NVSMI or "nvidia-smi"
    res = job(["sh", "-c", "ls /dev; ls -l /dev/nvidia0 /dev/nvidiactl; echo ls_rc=$?; " + smi + " -L; echo smi_rc=$?; "
               "ls /sys 2>&1; echo sys_rc=$?"], name="nogpu")
    show("gpu_absent_without_request", res)
    out = res["out"]
    ok = "nvidia" not in out.split("ls_rc")[0] and "ls_rc=0" not in out and "smi_rc=0" not in out
    verdict("gpu_absent_without_request", ok and "CUDA_VISIBLE" not in out)


def torch_in_sandbox():
    if not PROBE["gpu_devices"]:
        return skip("torch_in_sandbox", "no GPU")
    prefix, base = sys.prefix, sys.base_prefix
    try:
        import importlib.util
        if importlib.util.find_spec("torch") is None:
            return skip("torch_in_sandbox", f"no torch in {sys.executable}")
    except Exception as e:
        return skip("torch_in_sandbox", str(e))
    # Bind what the venv needs and the sandbox lacks: anything outside /usr, /etc and /lib*.
    sysdirs = ("/usr", "/etc", "/bin", "/lib", "/lib64", "/sbin")
    roots = []
    for p in {os.path.realpath(prefix), os.path.realpath(base)}:
        if any(p == s or p.startswith(s + "/") for s in sysdirs):
            continue
        roots.append(p)
    roots = sorted(set(roots))
    roots = [r for r in roots if not any(r != o and r.startswith(o + "/") for o in roots)]
    mounts = [{"source": r, "target": r} for r in roots]
    py = os.path.join(prefix, "bin", "python3")
    code = ("import torch, os; print('torch', torch.__version__); print('avail', torch.cuda.is_available(), "
            "'count', torch.cuda.device_count()); print('name', torch.cuda.get_device_name(0)); "
            "x = torch.ones(1 << 20, device='cuda'); print('sum', x.sum().item()); "
            "print('CVD', os.environ.get('CUDA_VISIBLE_DEVICES'))")
    res = job([py, "-c", code], gpus=[0], mounts=mounts, name="torch", limits={"wall_ms": 150_000},
              env={"HOME": "/workspace"}, timeout=200)
    print("mounts:", mounts)
    show("torch_in_sandbox", res)
    ok = "avail True count 1" in res["out"] and "sum 1048576.0" in res["out"]
    verdict("torch_in_sandbox", ok, " | ".join(l for l in res["out"].splitlines() if l.startswith(("avail", "name", "sum"))))


def oom_v2():
    if IN_PY:
        argv = ["python3", "-c", "b = bytearray(300 << 20); print('allocated', len(b))"]
    else:
        argv = ["sh", "-c", "head -c 300M /dev/zero | tail -c 1 >/dev/null; echo survived"]
    res = job(argv, limits={"memory_bytes": 64 << 20}, name="oom")
    show("oom", res)
    o = res["outcome"]
    e = o.get("enforced", {})
    if CG:
        ok = (o.get("kind") == "oom" and res["rc"] == 137 and e.get("memory") == CG and
              0 < o.get("peak_memory_bytes", 0) <= 64 << 20 and "allocated" not in res["out"]
              and "survived" not in res["out"] and not res["cgroup_left"])
    else:
        ok = e.get("memory") == "rlimit" and o.get("kind") != "oom"
    verdict("oom", ok, f"kind={o.get('kind')} rc={res['rc']} peak={o.get('peak_memory_bytes')} "
            f"memory={e.get('memory')} swap={e.get('swap')} detail={o.get('detail')!r}")


def cpu_v2():
    # 4 busy loops for 3 s of wall time under cpus=0.5: cpu.stat should say about 1.5 s, not 12.
    res = job(["sh", "-c", "for i in 1 2 3 4; do (while :; do :; done) & done; wait"],
              limits={"cpus": 0.5, "wall_ms": 3000, "kill_grace_ms": 200}, name="cpu")
    show("cpu", res)
    o = res["outcome"]
    cpu, wall = o.get("cpu_seconds", 0), o.get("wall_ms", 1) / 1000
    if CG:
        ok = o.get("kind") == "timeout" and o["enforced"].get("cpu") == CG and 0.8 <= cpu <= 0.5 * wall + 0.6
    else:
        ok = "cpu" not in o.get("enforced", {})
    verdict("cpu_quota", ok, f"cpu_seconds={cpu:.2f} wall={wall:.2f}s ratio={cpu / wall:.2f} (want ~0.5) "
            f"cpu={o.get('enforced', {}).get('cpu')}")
    # control: the same without a limit uses several cores
    res2 = job(["sh", "-c", "for i in 1 2 3 4; do (while :; do :; done) & done; wait"],
               limits={"wall_ms": 3000, "kill_grace_ms": 200}, name="cpufree")
    o2 = res2["outcome"]
    print(f"control without cpus: cpu_seconds={o2.get('cpu_seconds')} wall_ms={o2.get('wall_ms')}")
    verdict("cpu_control_unlimited", o2.get("cpu_seconds", 0) > 2 * wall * 0.5 + 1,
            f"cpu_seconds={o2.get('cpu_seconds')}")


def pids_v2():
    res = job(["sh", "-c", "i=0; while [ $i -lt 40 ]; do sleep 5 & i=$((i+1)); done; echo started; "
               "cat /proc/self/cgroup"], limits={"pids": 10, "wall_ms": 20_000}, name="pids")
    show("pids", res)
    o = res["outcome"]
    e = o.get("enforced", {})
    ok = e.get("pids") == (CG or "rlimit") and ("fork" in res["err"].lower() or "resource" in res["err"].lower())
    verdict("pids_limit", ok, f"pids={e.get('pids')} kind={o.get('kind')}")


def enforced_map():
    res = job(["/bin/true"], limits={"memory_bytes": 256 << 20, "pids": 50, "cpus": 1}, name="map")
    o = res["outcome"]
    print("enforced (root, all limits):", json.dumps(o.get("enforced"), sort_keys=True))
    print("detail:", o.get("detail"))
    e = o.get("enforced", {})
    want = {"memory": CG, "pids": CG, "cpu": CG} if CG else {}
    ok = o.get("kind") == "exited" and all(e.get(k) == v for k, v in want.items()) and e.get("kill") == (
        "cgroup.kill" if PROBE["cgroup_kill"] else "pid-namespace")
    verdict("enforced_map", ok, json.dumps(e, sort_keys=True))


def start_cost():
    walls = []
    for _ in range(10):
        t0 = time.monotonic()
        res = job(["/bin/true"], limits={"memory_bytes": 256 << 20, "pids": 50, "cpus": 1}, name="t")
        walls.append((time.monotonic() - t0) * 1000)
        if res["outcome"].get("kind") != "exited":
            show("start_cost", res)
            break
    print("start cost /bin/true (ms, atrium exec end to end):", [round(w, 1) for w in walls])
    verdict("start_cost", len(walls) == 10, f"median {statistics.median(walls):.1f} ms, min {min(walls):.1f}, "
            f"max {max(walls):.1f}")


def cgroups_cleaned():
    left = sorted(str(p) for p in Path("/sys/fs/cgroup").glob("atrium/dc-*"))
    verdict("cgroups_cleaned", not left, f"left: {left}")


for fn in (gpu_visible, gpu_absent_without_request, torch_in_sandbox, oom_v2, cpu_v2, pids_v2, enforced_map,
           start_cost, cgroups_cleaned):
    guarded(fn)

print("\nSUMMARY")
for n, v, why in RESULTS:
    print(f"  {v:4} {n}  {why[:300]}")
shutil.rmtree(BASE, ignore_errors=True)
