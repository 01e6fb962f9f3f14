"""Jobs on the SLURM partition of the dev cluster (two slurmd nodes, each in its own network
namespace): the states from SLURM, exit codes, TIMEOUT, OUT_OF_MEMORY, cancel while pending and
running, arrays and dependencies passed to SLURM natively, the sandbox on a node, outputs and their
provenance, logs live from a node, the `slurm` fields, pending reasons and usage.

SLURM's own view (`squeue --json`) is the anchor: a job handed over carries the comment
`atrium:<id>`. Jobs that must be seen running wait for a file the test writes into their
workspace (WAIT_FOR), so nothing depends on timing.
"""
from __future__ import annotations

import datetime
import hashlib
import json
import subprocess
import uuid
from pathlib import Path

import pytest

from conftest import is_problem, list_all, wait_until
from slurm_site import (CLUSTER, PARTITION, SHORT, TERMINAL, WAIT_FOR, Site, by_comment, events_to, no_leftovers,
                        node_of_pid, queued_ids, release_file, site_fixture, slurm, slurm_job, slurm_of,
                        supervisor_pid, workspace)
from test_job_logs import open_follow, ws_logs
from test_jobs import marker, processes_with

pytestmark = pytest.mark.usefixtures("no_leftovers")
_ = no_leftovers


site = site_fixture("slurm-jobs", "sj")


def ms(t: str) -> int:
    return int(datetime.datetime.fromisoformat(t.replace("Z", "+00:00")).timestamp() * 1000)


def hostname_of(pid: int) -> str:
    return subprocess.run(["nsenter", f"--uts=/proc/{pid}/ns/uts", "hostname"], capture_output=True, text=True,
                          check=True, timeout=10).stdout.strip()


def node_cpus(c) -> dict[str, int]:
    return {n["name"]: n["cpus"] for n in json.loads(slurm(c, "sinfo", "--json").stdout)["nodes"]}


# ---------------------------------------------------------------------------- partitions


def test_partitions_are_listed_with_their_limits(site):
    r = site.srv.call("GET", "/api/v1/compute/partitions", site.member.token)
    assert r.status == 200, r
    parts = {p["name"]: p for p in r.json["items"]}
    assert parts["local"]["kind"] == "local" and parts["local"]["cluster"] in (None, ""), parts
    for name in (PARTITION, SHORT):
        assert parts[name]["kind"] == "slurm" and parts[name]["cluster"] == CLUSTER, parts
        assert parts[name]["slurm_partition"], parts
    short = parts[SHORT]["limits"]
    assert short["max_time_s"] > 0 and short["max_cpus"] > 0, short  # from SLURM's MaxTime/MaxCPUsPerNode
    assert [p["name"] for p in r.json["items"] if p["default"]] == ["local"], r.json
    assert is_problem(site.srv.call("GET", "/api/v1/compute/partitions"), 401)


# ---------------------------------------------------------------------------- a job's life on a node


def test_a_job_runs_on_a_node_with_live_logs_and_slurms_fields(site):
    js = site.jobs()
    j = js.submit(partition=PARTITION, script=WAIT_FOR + "echo out-line; echo err-line >&2")
    assert j["state"] == "PENDING" and j["partition"] == PARTITION, j
    js.wait_state(j["id"], "RUNNING")
    # SLURM's own fields follow from the tracker's next listing (the node may still be "" in the
    # listing that first said RUNNING, seen once under load): wait for the node, never guess it.
    run = wait_until(lambda: (r := js.get(j["id"]))["slurm"]["nodes"] and r, 30, 0.1, "the job's SLURM node")
    s = run["slurm"]
    assert run["state"] == "RUNNING", run
    assert s["cluster"] == CLUSTER and isinstance(s["job_id"], int) and s["handed_over"] is True, s
    assert s["nodes"] in site.c.nodes and s["state"] == "RUNNING" and s["unknown_since"] is None, s
    sq = slurm_job(site.c, s["job_id"])
    assert sq and sq["comment"] == f"atrium:{j['id']}" and sq["job_state"] == "RUNNING", sq
    assert sq["nodes"] == s["nodes"], (sq["nodes"], s)
    assert len(by_comment(site.c, j["id"])) == 1
    # `atrium exec` runs on that node: in the node's network namespace (not the server's), with its hostname.
    sup = supervisor_pid(site, j["id"])
    assert node_of_pid(site.c, sup) == s["nodes"], (sup, s["nodes"])
    assert hostname_of(sup) == s["nodes"]
    # Logs live from the node: chunked follow and the WebSocket both get the first line while it runs.
    conn, resp = open_follow(site.srv, site.member.token, j["id"])
    ws = ws_logs(site.srv, j["id"], token=site.member.token)
    try:
        assert resp.status == 200 and resp.read(8) == b"started\n"
        op, data = ws.recv()
        assert op == 0x2 and data == b"started\n", data
        assert js.get(j["id"])["state"] == "RUNNING"
        release_file(site, j["id"])
        assert resp.read() == b"out-line\n"  # the stream ends once the job has ended
        rest, closed = ws.read_all()
        assert rest == b"out-line\n" and closed.code == 1000, (rest, closed)
    finally:
        conn.close()
        ws.close()
    done = js.wait_state(j["id"], TERMINAL)
    assert done["state"] == "COMPLETED" and done["exit_code"] == 0 and done["reason"] is None, done
    assert events_to(done) == ["PENDING", "RUNNING", "COMPLETED"], done["events"]
    assert ms(done["start_time"]) <= ms(done["end_time"]) and done["usage"]["wall_seconds"] >= 0, done
    # SLURM's own state follows (the job's end and the slurm row are written one after the other)
    assert slurm_of(js, j["id"], "COMPLETED in SLURM", lambda x: x["state"] == "COMPLETED", 10)["slurm"]["job_id"] == \
        s["job_id"]
    assert js.full_log(j["id"]) == "started\nout-line\n"
    assert js.full_log(j["id"], "stderr") == "err-line\n"
    assert s["job_id"] not in queued_ids(site.c)
    # Other tenants see none of it.
    b = site.world.b.users["org-admin"].token
    assert is_problem(site.srv.call("GET", f"/api/v1/jobs/{j['id']}", b), 404)


def test_a_nonzero_exit_fails_with_its_code(site):
    js = site.jobs()
    done = js.run(partition=PARTITION, command=["sh", "-c", "echo bye; exit 3"])
    assert done["state"] == "FAILED" and done["exit_code"] == 3, done
    ev = js.get(done["id"])["events"][-1]
    assert ev["to"] == "FAILED" and ev["exit_code"] == 3, ev
    assert js.full_log(done["id"]) == "bye\n"


def test_the_time_limit_ends_in_timeout(site):
    js = site.jobs()
    j = js.submit(partition=PARTITION, command=["sleep", "60"], time_limit_s=2)
    done = js.wait_state(j["id"], TERMINAL, 40)
    assert done["state"] == "TIMEOUT", done
    assert ms(done["end_time"]) - ms(done["start_time"]) < 20_000, done  # Atrium's limit, not SLURM's (+1 min)
    assert js.get(j["id"])["events"][-1]["cause"], done


def test_memory_beyond_mem_mb_ends_out_of_memory(site):
    js = site.jobs()
    caps = site.srv.call("GET", "/api/v1/compute", site.member.token).json["sandbox"]
    done = js.run(partition=PARTITION, mem_mb=64,
                  command=["python3", "-c", "x = b'\\x01' * (512 << 20); print('allocated', len(x))"])
    if caps["cgroup_mode"] != "none":
        assert done["state"] == "OUT_OF_MEMORY", (done, caps)
        assert done["enforced"]["memory"].startswith("cgroup"), done
    else:
        assert done["state"] == "FAILED" and "MemoryError" in js.full_log(done["id"], "stderr"), done
    assert "allocated" not in js.full_log(done["id"])


# ---------------------------------------------------------------------------- pending and cancel


def test_cancel_while_held_and_while_running_leaves_nothing_in_slurm(site):
    js = site.jobs()
    held = js.submit(partition=PARTITION, command=["true"], hold=True)
    assert held["state"] == "PENDING" and held["held"] is True, held
    sq = slurm_job(site.c, slurm_of(js, held["id"])["slurm"]["job_id"])
    assert sq["job_state"] == "PENDING" and sq["state_reason"] in ("JobHeldUser", "JobHeldAdmin"), (
        "a job submitted held must be held in SLURM", {k: sq[k] for k in ("job_state", "state_reason", "priority")})
    r = js.act(held["id"], "cancel")
    assert r.status == 200 and r.json["state"] == "CANCELLED", r
    wait_until(lambda: not by_comment(site.c, held["id"], all_states=False), 15, 0.1,
               "SLURM to have no queued job of the cancelled held job")

    m = marker()
    run = js.submit(partition=PARTITION, command=["sleep", m])
    sid = js.wait_state(run["id"], "RUNNING")["slurm"]["job_id"]
    wait_until(lambda: processes_with(f"sleep {m}"), 15, 0.05, "the job's process on the node")
    r = js.act(run["id"], "cancel")
    assert r.status == 200 and r.json["stop_requested"] == "cancel", r
    done = js.wait_state(run["id"], "CANCELLED")
    assert done["end_time"] and events_to(done)[-1] == "CANCELLED", done
    wait_until(lambda: sid not in queued_ids(site.c), 15, 0.1, f"SLURM job {sid} to be gone from the queue")
    wait_until(lambda: not processes_with(f"sleep {m}"), 15, 0.05, "the job's process to be gone")
    assert is_problem(js.act(run["id"], "cancel"), 409)
    assert js.get(run["id"])["state"] == "CANCELLED"


def test_pending_reason_and_estimated_start_come_from_slurm(site):
    """Both nodes full: the next job waits in SLURM, with SLURM's reason and expected start; cancelled
    while it waits, it leaves SLURM's queue."""
    js = site.jobs()
    cpus = node_cpus(site.c)
    m = marker()
    blockers = [js.submit(partition=PARTITION, command=["sleep", m], cpus=n, mem_mb=128) for n in cpus.values()]
    for b in blockers:
        js.wait_state(b["id"], "RUNNING")
    waiting = js.submit(partition=PARTITION, command=["true"], mem_mb=128)
    sid = slurm_of(js, waiting["id"])["slurm"]["job_id"]

    seen: list = []

    def agrees():
        sq, j = slurm_job(site.c, sid), js.get(waiting["id"])
        seen[:] = [{k: sq.get(k) for k in ("job_state", "state_reason", "start_time")} if sq else None,
                   {k: j.get(k) for k in ("state", "reason", "estimated_start", "slurm")}]
        if not sq or sq["job_state"] != "PENDING" or sq["state_reason"] in ("None", ""):
            return None
        # SLURM's reason, with its description when it gives one ("Resources: Nodes required ...")
        reasons = (j["reason"] or "", j["slurm"]["reason"] or "")
        if j["state"] != "PENDING" or not all(x.startswith(sq["state_reason"]) for x in reasons):
            return None
        expected = sq["start_time"] * 1000 if sq["start_time"] else None
        got = ms(j["estimated_start"]) if j.get("estimated_start") else None
        if (expected is None) != (got is None) or (expected and abs(expected - got) > 2000):
            return None
        return sq, j

    try:
        # A reason change does not move slurmctld's update_time: the tracker sees it at its next full
        # listing (every 30 s).
        sq, j = wait_until(agrees, 40, 0.2, "Atrium's reason and estimated start to be SLURM's")
    except AssertionError as e:
        raise AssertionError(f"{e}: SLURM, Atrium: {seen}") from None
    assert sq["state_reason"] in ("Resources", "Priority"), sq["state_reason"]
    r = js.act(waiting["id"], "cancel")
    assert r.status == 200 and r.json["state"] == "CANCELLED", r
    wait_until(lambda: sid not in queued_ids(site.c), 15, 0.1, "the cancelled pending job to leave SLURM's queue")
    assert js.get(waiting["id"])["start_time"] is None


# ---------------------------------------------------------------------------- arrays and dependencies


def test_an_array_goes_to_slurm_as_one_array(site):
    js = site.jobs()
    r = js.post({"partition": PARTITION, "command": ["sh", "-c", "sleep 1; echo task=$SLURM_ARRAY_TASK_ID"],
                 "array": "0-3%2", "mem_mb": 128, "time_limit_s": 60})
    assert r.status == 201, r
    a = r.json
    assert a["tasks"] == 4 and a["job_ids"] == [f"{a['array_id']}_{i}" for i in range(4)], a
    most = {"atrium": 0, "slurm": 0}

    def all_ended():
        tasks = list_all(site.srv, f"/api/v1/jobs?array={a['array_id']}", site.member.token)
        most["atrium"] = max(most["atrium"], sum(t["state"] == "RUNNING" for t in tasks))
        most["slurm"] = max(most["slurm"], sum(j["job_state"] == "RUNNING" for j in by_comment(site.c, a["array_id"])))
        return all(t["state"] in TERMINAL for t in tasks) and tasks

    wait_until(all_ended, 60, 0.1, "every task of the array to end")
    assert most["atrium"] <= 2 and most["slurm"] <= 2, most  # %2 kept
    array_ids = set()
    for i, tid in enumerate(a["job_ids"]):
        t = js.wait_state(tid, TERMINAL)
        assert t["state"] == "COMPLETED" and t["array"]["index"] == i, t
        assert t["slurm"]["array_task_id"] == i, t["slurm"]
        array_ids.add(t["slurm"]["array_job_id"])
        assert js.full_log(tid) == f"task={i}\n"
    # One submission: every SLURM job with the array's comment is a task of one SLURM array.
    sl = by_comment(site.c, a["array_id"])
    assert len(array_ids) == 1 and {j["array_job_id"] for j in sl} == array_ids, (array_ids, sl)
    assert sorted(j["array_task_id"] for j in sl) == [0, 1, 2, 3], sl
    assert not any(by_comment(site.c, tid) for tid in a["job_ids"])


def test_afterok_is_passed_to_slurm_and_the_dependent_runs_after(site):
    js = site.jobs()
    first = js.submit(partition=PARTITION, script=WAIT_FOR + "echo first")
    first_sid = slurm_of(js, first["id"])["slurm"]["job_id"]
    then = js.submit(partition=PARTITION, command=["sh", "-c", "echo then"], dependency=f"afterok:{first['id']}")
    assert then["dependency"] == f"afterok:{first['id']}", then
    then_sid = slurm_of(js, then["id"])["slurm"]["job_id"]
    sq = wait_until(lambda: (x := slurm_job(site.c, then_sid)) and x["state_reason"] == "Dependency" and x, 15, 0.1,
                    "SLURM to hold the dependent on its dependency")
    assert f"afterok:{first_sid}" in sq["dependency"], sq["dependency"]
    wait_until(lambda: js.get(then["id"])["reason"] == "Dependency", 15, 0.1, "Atrium to show reason Dependency")
    assert js.get(then["id"])["state"] == "PENDING"
    release_file(site, first["id"])
    f = js.wait_state(first["id"], TERMINAL)
    t = js.wait_state(then["id"], TERMINAL)
    assert f["state"] == "COMPLETED" and t["state"] == "COMPLETED", (f, t)
    assert ms(t["start_time"]) >= ms(f["end_time"]) - 1000, (f["end_time"], t["start_time"])  # SLURM: 1 s clock
    assert js.full_log(then["id"]) == "then\n"


# ---------------------------------------------------------------------------- the sandbox on a node

PROBE = r"""
import ctypes, errno, json, os, socket, sys
other, data_dir, server = sys.argv[1], sys.argv[2], sys.argv[3]
def attempt(f):
    try:
        return f()
    except OSError as e:
        return errno.errorcode.get(e.errno, str(e.errno))
res = {"uid": os.getuid(), "gid": os.getgid()}
res["shadow"] = attempt(lambda: open("/etc/shadow").read() and "read")
res["data_dir"] = attempt(lambda: os.listdir(data_dir) and "listed")
res["db"] = attempt(lambda: open(data_dir + "/atrium.db", "rb").read(1) and "read")
res["other"] = attempt(lambda: open(other + "/secret.txt").read())
res["other_via_proc"] = attempt(lambda: open("/proc/1/root" + other + "/secret.txt").read())
res["procs"] = sorted(open(f"/proc/{d}/comm").read().strip() for d in os.listdir("/proc") if d.isdigit())
res["ifaces"] = [n for _, n in socket.if_nameindex()]
host, port = server.rsplit(":", 1)
s = socket.socket(); s.settimeout(3)
res["server"] = attempt(lambda: s.connect((host, int(port))) or "connected")
res["setuid"] = attempt(lambda: os.setuid(0) or "root")
libc = ctypes.CDLL(None, use_errno=True)
res["unshare"] = "ok" if libc.unshare(0x10000000) == 0 else errno.errorcode[ctypes.get_errno()]
res["status"] = dict(l.split(":\t", 1) for l in open("/proc/self/status").read().splitlines()
                     if l.split(":")[0] in ("CapEff", "CapPrm", "CapBnd", "NoNewPrivs", "Seccomp"))
print(json.dumps(res))
"""


def test_the_sandbox_holds_on_a_node(site):
    """The escape cases of test_sandbox.py, run by a real job on a node: its own uid (the user's, as
    locally), no data dir, no other job, no /etc/shadow, no network, no capabilities."""
    other = site.jobs(site.colleague).submit(partition=PARTITION,
                                             script="echo TOP-SECRET-4711 > secret.txt; " + WAIT_FOR)
    local = site.jobs().submit(partition="local", command=["id", "-u"])
    other_ws = workspace(site, other["id"])
    wait_until(lambda: (other_ws / "secret.txt").exists(), 30, 0.05, "the other job's secret")
    server = site.srv.node_url.split("://")[1]  # where the nodes reach the server
    js = site.jobs()
    j = js.submit(partition=PARTITION, command=["python3", "-c", PROBE, str(other_ws), str(site.srv.data_dir), server])
    done = js.wait_state(j["id"], TERMINAL)
    assert done["state"] == "COMPLETED", (done, js.full_log(j["id"], "stderr"))
    res = json.loads(js.full_log(j["id"]))
    local_uid = int(js.full_log(js.wait_state(local["id"], TERMINAL)["id"]).strip())
    assert res["uid"] == local_uid and res["uid"] != 0 and res["gid"] != 0, (res, local_uid)
    assert res["shadow"] == "EACCES", res
    assert res["data_dir"] == "ENOENT" and res["db"] == "ENOENT", res
    assert res["other"] == "ENOENT" and res["other_via_proc"] in ("EACCES", "ENOENT"), res
    assert "TOP-SECRET-4711" not in json.dumps(res)
    assert res["procs"] == ["atrium-init", "python3"], res["procs"]
    assert res["ifaces"] == ["lo"] and res["server"] != "connected", res
    assert res["setuid"] in ("EPERM", "EINVAL") and res["unshare"] == "EPERM", res
    st = res["status"]
    assert st["CapEff"] == st["CapPrm"] == st["CapBnd"] == "0000000000000000", st
    assert st["NoNewPrivs"] == "1" and st["Seccomp"] == "2", st
    e = done["enforced"]
    assert e["uid"] == "per-user" and e["network"] == "netns" and e["filesystem"] == "read-only-root", e
    assert done["slurm"]["nodes"] in site.c.nodes, done["slurm"]
    release_file(site, other["id"])
    assert site.jobs(site.colleague).wait_state(other["id"], TERMINAL)["state"] == "COMPLETED"


# ---------------------------------------------------------------------------- outputs and usage


def test_outputs_are_a_dataset_version_with_provenance(site):
    pid, tok = site.project["id"], site.member.token
    r = site.srv.call("PUT", f"/api/v1/projects/{pid}/repo/files/make.sh", tok,
                      json={"branch": "main", "content": "#!/bin/sh\necho made-on-$ATRIUM_JOB_ID > result.txt\n"},
                      headers={"If-None-Match": "*"})
    assert r.status == 201, r
    commit = r.json["commit"]
    js = site.jobs()
    j = js.submit(partition=PARTITION, command=["sh", "make.sh"], ref="main",
                  outputs={"dataset": "node-made", "paths": ["*.txt"]})
    done = js.wait_state(j["id"], TERMINAL)
    assert done["state"] == "COMPLETED" and done["outputs"]["version"] == 1, done
    assert done["commit"] == {"id": commit, "ref": "main"}, done["commit"]
    ds = done["outputs"]["dataset_id"]
    v = site.srv.call("GET", f"/api/v1/datasets/{ds}/versions/1", tok)
    assert v.status == 200, v
    p = v.json["provenance"]
    assert p["job_id"] == j["id"] and p["state"] == "COMPLETED" and p["commit"] == commit, p
    assert p["image"] == "host" and "capture_error" not in p, p
    f = site.srv.raw("GET", f"/api/v1/datasets/{ds}/versions/1/files/result.txt",
                     headers={"Authorization": f"Bearer {tok}"})
    assert f.status == 200 and f.body == f"made-on-{j['id']}\n".encode(), f


def test_usage_and_cpu_hours_count_slurm_jobs(site):
    """The org-admin runs only this job: their usage is exactly its CPUs times its wall time."""
    a, oa = site.world.a, site.owner
    js = site.jobs(oa.token)
    done = js.run(partition=PARTITION, command=["sleep", "1.5"], cpus=2, mem_mb=128)
    assert done["state"] == "COMPLETED", done
    expected = 2 * (ms(done["end_time"]) - ms(done["start_time"])) / 3_600_000
    assert expected > 0, done
    r = site.srv.call("GET", "/api/v1/me/usage?bucket=day", oa.token)
    assert r.status == 200, r
    total = sum(i["cpu_hours"] for i in r.json["items"] if i["project_id"] == site.project["id"])
    assert abs(total - expected) < 1e-6, (r.json, done)
    # The quota's ledger counts it too (its `cpu_hours` is summed as an integer by the quota
    # registry, so a fraction of an hour shows as 0: the measured CPU time shows it).
    q = site.srv.call("GET", f"/api/v1/orgs/{a.id}/quotas/user/{oa.id}", oa.token)
    assert q.status == 200, q
    assert q.json["usage"]["cpu_hours_measured"] > 0, q.json["usage"]


# ---------------------------------------------------------------------------- secrets and the exec channel


def exec_token(site: Site, job_id: str) -> str:
    f = site.srv.data_dir / "jobs" / job_id / "run0" / "exec.token"
    wait_until(f.exists, 30, 0.05, f"{f}")
    st = f.stat()
    assert st.st_uid == 0 and st.st_mode & 0o777 == 0o600, (oct(st.st_mode), st.st_uid)
    return f.read_text().strip()


def in_any_cmdline(text: str) -> list[str]:
    found = []
    for p in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            if text.encode() in p.read_bytes():
                found.append(str(p))
        except OSError:
            pass
    return found


def test_secrets_reach_a_node_only_through_the_exec_channel(site):
    """A secret travels from the server to `atrium exec` on the node over the exec channel: never in
    the batch script, argv or a file; the channel's token opens only its own job, only while it runs."""
    tok = site.member.token
    value = "s3cr3t-" + uuid.uuid4().hex
    r = site.srv.call("PUT", "/api/v1/me/secrets/API_KEY", tok, json={"value": value})
    assert r.status == 201, r
    js = site.jobs()
    a = js.submit(partition=PARTITION, secrets=["API_KEY"],
                  script='echo "$API_KEY" | sha256sum | cut -c1-64; ' + WAIT_FOR)
    b = js.submit(partition=PARTITION, script=WAIT_FOR)
    a_sid = js.wait_state(a["id"], "RUNNING")["slurm"]["job_id"]
    js.wait_state(b["id"], "RUNNING")
    ta, tb = exec_token(site, a["id"]), exec_token(site, b["id"])
    assert len(ta) >= 32 and ta != tb
    script = slurm(site.c, "scontrol", "write", "batch_script", str(a_sid), "-").stdout
    assert value not in script and ta not in script and "exec.token" in script, script
    assert not in_any_cmdline(value) and not in_any_cmdline(ta)

    def secrets_of(job_id, token):
        return site.srv.call("GET", f"/api/v1/exec/jobs/{job_id}/secrets", token)

    assert secrets_of(b["id"], tb).status == 200  # its own job, while it runs
    for job_id, token in ((a["id"], tb), (b["id"], ta), (a["id"], tok), (a["id"], site.admin), (a["id"], "x" * 43),
                          (a["id"], None)):
        r = secrets_of(job_id, token)
        assert is_problem(r) and r.status in (401, 403, 404) and value not in r.text, (job_id, r)
    release_file(site, a["id"])
    release_file(site, b["id"])
    done = js.wait_state(a["id"], TERMINAL)
    assert done["state"] == "COMPLETED", done
    assert js.full_log(a["id"]).splitlines()[0] == hashlib.sha256((value + "\n").encode()).hexdigest()
    js.wait_state(b["id"], TERMINAL)
    r = secrets_of(b["id"], tb)
    assert is_problem(r) and r.status in (401, 403, 404), ("a token outlived its job", r)
    for f in (site.srv.data_dir / "jobs" / a["id"]).rglob("*"):
        if f.is_file():
            assert value.encode() not in f.read_bytes(), f
