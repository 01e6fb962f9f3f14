"""SLURM misbehaving under Atrium, and Atrium crashing beside SLURM: nothing is lost, nothing is
guessed, nothing is submitted twice, nothing is left behind.

- slurmctld stopped while jobs are submitted: each is accepted (201), shown not handed over, and
  handed over exactly once when slurmctld is back (SLURM's jobs counted by comment);
- kill -9 of slurmctld: every tracked job shows `unknown_since` meanwhile (its last known state,
  never FAILED), a cancel is kept and sent later, and after the restart the state is SLURM's again;
- kill -9 of a node (its slurmd and everything on it): the job ends NODE_FAIL with a reason;
- a drained node gets no job; with both drained a job waits with SLURM's reason;
- the health figures follow: slurm_unreachable while slurmctld is down (the node counts then
  unknown, not guessed), slurm_nodes_down for the killed node, slurm_nodes_drained for drained ones;
- kill -9 of `atrium server` with jobs pending, running and ending in SLURM meanwhile: every one is
  found again, the end is recorded, nothing is submitted again; with environments on nodes: the
  running one is reached again through its tunnel, one stopped just before leaves no SLURM job.
"""
from __future__ import annotations

import pytest

from conftest import wait_until
from slurm_site import (ACTIVE, CLUSTER, PARTITION, TERMINAL, WAIT_FOR, by_comment, events_to, kill, no_leftovers,
                        node_of_pid, node_usable, queued_ids, release_file, set_node, site_fixture, slurm_job,
                        slurm_of, supervisor_pid)
from test_envs import bearer, env_ws, launch, terminal_run, wait_state
from test_jobs import marker, processes_with
from wsclient import HandshakeRefused

pytestmark = pytest.mark.usefixtures("no_leftovers")
_ = no_leftovers
GUESSES = {"FAILED", "NODE_FAIL"}  # what a job must never become because SLURM could not be asked


# Health samples twice a second: the SLURM figures are asserted as the admin's Health page shows them.
site = site_fixture("slurm-faults", "sf", lambda c: "[health]\nperiod_ms = 500\n")


def health_figure(site, name: str, pred, timeout: float = 45):
    """The newest health sample once pred(its value of `name`, None when missing) holds. A node's
    change reaches the counts with the tracker's next full listing (every 30 s)."""
    seen: list = []

    def check():
        r = site.srv.call("GET", "/api/v1/admin/health", site.admin)
        assert r.status == 200, r
        samples = r.json["samples"]
        seen[:] = [samples[-1]["values"].get(name)] if samples else []
        return bool(seen) and pred(seen[0])
    try:
        wait_until(check, timeout, 0.2, f"health figure {name}")
    except AssertionError as e:
        raise AssertionError(f"{e}: last value {seen}") from None
    return seen[0]


@pytest.fixture
def ctld(site):
    """slurmctld is running again after the test, whatever the test did to it."""
    yield site.c
    if not site.c.ctld_running():
        site.c.start_ctld()


def unknown(js, job_id: str) -> str | None:
    return js.get(job_id)["slurm"]["unknown_since"]


def marked_unknown(js, job_id: str) -> str:
    return slurm_of(js, job_id, "marked unknown", lambda s: s["unknown_since"])["slurm"]["unknown_since"]


def known_again(js, job_id: str) -> dict:
    return slurm_of(js, job_id, "known again", lambda s: s["unknown_since"] is None and s["job_id"])


def test_submissions_while_slurmctld_is_down_are_handed_over_exactly_once(site, ctld):
    js = site.jobs()
    before = js.submit(partition=PARTITION, command=["true"], hold=True)  # tracked: handed over first
    slurm_of(js, before["id"])
    ctld.stop_ctld()
    stamp = marked_unknown(js, before["id"])
    assert stamp.endswith("Z"), stamp
    health_figure(site, "slurm_unreachable", lambda v: v == 1, 15)
    health_figure(site, "slurm_nodes_down", lambda v: v is None, 5)  # unknown, not 0 and not a guess
    ids = []
    for i in range(4):
        r = js.post({"partition": PARTITION, "command": ["sh", "-c", f"echo queued-{i}"], "mem_mb": 128,
                     "time_limit_s": 60})
        assert r.status == 201, r  # accepted: queued durably in Atrium
        ids.append(r.json["id"])
    for jid in ids:
        j = js.get(jid)
        assert j["state"] == "PENDING" and j["slurm"]["handed_over"] is False and j["slurm"]["job_id"] is None, j
    b = js.get(before["id"])
    assert b["state"] == "PENDING" and b["slurm"]["unknown_since"] == stamp, b  # the last known state, kept
    ctld.start_ctld()
    for i, jid in enumerate(ids):
        done = js.wait_state(jid, TERMINAL, 60)
        assert done["state"] == "COMPLETED" and js.full_log(jid) == f"queued-{i}\n", done
        assert done["slurm"]["handed_over"] is True and done["slurm"]["unknown_since"] is None, done["slurm"]
        sl = by_comment(ctld, jid)
        assert len(sl) == 1, (f"job {jid} went to SLURM {len(sl)} times", sl)
    known_again(js, before["id"])
    assert len(by_comment(ctld, before["id"])) == 1
    assert not GUESSES & set(events_to(js.get(before["id"])))
    health_figure(site, "slurm_unreachable", lambda v: v == 0, 15)
    health_figure(site, "slurm_nodes_down", lambda v: v == 0)  # known again after the reconnect's full listing


def test_kill9_of_slurmctld_keeps_the_last_known_state_and_recovers(site, ctld):
    js = site.jobs()
    run = js.submit(partition=PARTITION, script=WAIT_FOR + "echo survived")
    m = marker()
    doomed = js.submit(partition=PARTITION, command=["sleep", m])
    held = js.submit(partition=PARTITION, command=["sh", "-c", "echo released"], hold=True)
    sids = {j["id"]: js.wait_state(j["id"], "RUNNING")["slurm"]["job_id"] for j in (run, doomed)}
    sids[held["id"]] = slurm_of(js, held["id"])["slurm"]["job_id"]
    wait_until(lambda: processes_with(f"sleep {m}"), 15, 0.05, "the doomed job's process")
    ctld.kill_ctld()
    for jid in sids:
        marked_unknown(js, jid)
    # A cancel while SLURM cannot be told: accepted, kept, sent once slurmctld is back.
    r = js.act(doomed["id"], "cancel")
    assert r.status == 200 and r.json["stop_requested"] == "cancel", r
    assert js.get(run["id"])["state"] == "RUNNING" and js.get(held["id"])["state"] == "PENDING"
    ctld.start_ctld()
    for jid, sid in sids.items():
        assert known_again(js, jid)["slurm"]["job_id"] == sid  # the same SLURM job, tracked again
    assert js.wait_state(doomed["id"], TERMINAL)["state"] == "CANCELLED"
    wait_until(lambda: sids[doomed["id"]] not in queued_ids(ctld), 30, 0.1, "the cancel to reach SLURM")
    wait_until(lambda: not processes_with(f"sleep {m}"), 15, 0.05, "the cancelled job's process to end")
    release_file(site, run["id"])
    assert js.act(held["id"], "release").status == 200
    for j, log in ((run, "started\nsurvived\n"), (held, "released\n")):
        done = js.wait_state(j["id"], TERMINAL, 60)
        assert done["state"] == "COMPLETED" and js.full_log(j["id"]) == log, done
        assert not GUESSES & set(events_to(done)), done["events"]
        assert len(by_comment(ctld, j["id"])) == 1


def test_a_node_killed_under_a_running_job_ends_it_node_fail(site):
    js = site.jobs()
    c = site.c
    m = marker()
    j = js.submit(partition=PARTITION, command=["sleep", m])
    node = js.wait_state(j["id"], "RUNNING")["slurm"]["nodes"]
    supervisor_pid(site, j["id"])
    try:
        c.kill_node(node)  # slurmd, slurmstepd and the supervisor: a crashed node
        kill(processes_with(f"sleep {m}"))
        # slurmctld declares the node DOWN once it misses its pings (SlurmdTimeout=5 in the dev cluster).
        done = js.wait_state(j["id"], TERMINAL, 60)
        assert done["state"] == "NODE_FAIL", done
        last = js.get(j["id"])["events"][-1]
        assert last["to"] == "NODE_FAIL" and last["cause"], last
        assert done["reason"] or done["slurm"]["reason"], done
        health_figure(site, "slurm_nodes_down", lambda v: v is not None and v >= 1)
    finally:
        c.start_node(node)
        set_node(c, node, "RESUME", check=False)  # ReturnToService=2 may have done it
        wait_until(lambda: node_usable(c, node), 30, 0.2, f"node {node} back")


def test_a_drained_node_gets_no_job_and_a_job_waits_with_slurms_reason(site):
    js = site.jobs()
    c = site.c
    first, second = c.nodes[:2]
    set_node(c, first, "DRAIN", "test: maintenance")
    try:
        done = [js.wait_state(js.submit(partition=PARTITION, command=["true"], mem_mb=128)["id"], TERMINAL)
                for _ in range(2)]
        for d in done:
            assert d["state"] == "COMPLETED" and d["slurm"]["nodes"] == second, d
        set_node(c, second, "DRAIN", "test: maintenance")
        waiting = js.submit(partition=PARTITION, command=["true"], mem_mb=128)
        sid = slurm_of(js, waiting["id"])["slurm"]["job_id"]

        seen: list = []

        def same_reason():
            sq, j = slurm_job(c, sid), js.get(waiting["id"])
            seen[:] = [sq and {k: sq[k] for k in ("job_state", "state_reason")}, j["state"], j["reason"], j["slurm"]]
            return (sq and sq["job_state"] == "PENDING" and sq["state_reason"] not in ("None", "")
                    and j["state"] == "PENDING" and (j["slurm"]["reason"] or "").startswith(sq["state_reason"]) and j)

        # (a reason change reaches Atrium with the tracker's full listing, every 30 s)
        try:
            wait_until(same_reason, 40, 0.2, "the waiting job to show SLURM's pending reason")
        except AssertionError as e:
            raise AssertionError(f"{e}: SLURM, Atrium: {seen}") from None
        health_figure(site, "slurm_nodes_drained", lambda v: v == 2)
        text = site.srv.call("GET", "/metrics").body.decode()  # Prometheus: per cluster and condition
        assert f'atrium_slurm_nodes{{cluster="{CLUSTER}",condition="drained"}} 2\n' in text, text
        assert "\natrium_health_slurm_nodes_drained 2\n" in text, text
        set_node(c, second, "RESUME")
        d = js.wait_state(waiting["id"], TERMINAL, 30)
        assert d["state"] == "COMPLETED" and d["slurm"]["nodes"] == second, d
    finally:
        for n in (first, second):
            set_node(c, n, "RESUME", check=False)  # the second may be resumed already
        wait_until(lambda: all(node_usable(c, n) for n in (first, second)), 30, 0.2,
                   "the drained nodes back")


def test_kill9_of_the_server_finds_every_slurm_job_again(site, ctld):
    """kill -9 of the server with jobs running, held and not yet handed over (slurmctld was down):
    one ends while the server is down. After the restart each is found again, the end is recorded
    from its outcome.json, and the queued one is handed over exactly once."""
    js = site.jobs()
    running = js.submit(partition=PARTITION, script=WAIT_FOR + "echo after-restart")
    ending = js.submit(partition=PARTITION, script=WAIT_FOR + "echo ended-while-down; exit 4")
    held = js.submit(partition=PARTITION, command=["true"], hold=True)
    sids = {}
    for j in (running, ending):
        sids[j["id"]] = js.wait_state(j["id"], "RUNNING")["slurm"]["job_id"]
    sids[held["id"]] = slurm_of(js, held["id"])["slurm"]["job_id"]
    ctld.stop_ctld()
    queued = js.submit(partition=PARTITION, command=["sh", "-c", "echo queued-before-the-crash"])
    assert js.get(queued["id"])["slurm"]["handed_over"] is False
    site.srv.kill9()
    ctld.start_ctld()
    release_file(site, ending["id"])  # it ends while the server is down
    wait_until(lambda: (x := slurm_job(site.c, sids[ending["id"]])) and x["job_state"] not in ACTIVE + ("COMPLETING",),
               30, 0.1, "SLURM to see the job end while Atrium is down")
    site.start_again()
    ended = js.wait_state(ending["id"], TERMINAL, 30)
    assert ended["state"] == "FAILED" and ended["exit_code"] == 4, ended  # from its outcome.json
    assert js.full_log(ending["id"]) == "started\nended-while-down\n"
    r = js.get(running["id"])
    assert r["state"] == "RUNNING" and r["slurm"]["job_id"] == sids[running["id"]], r
    h = js.get(held["id"])
    assert h["state"] == "PENDING" and h["held"] is True and h["slurm"]["job_id"] == sids[held["id"]], h
    q = js.wait_state(queued["id"], TERMINAL, 60)
    assert q["state"] == "COMPLETED" and js.full_log(queued["id"]) == "queued-before-the-crash\n", q
    for jid in list(sids) + [queued["id"]]:
        assert len(by_comment(site.c, jid)) == 1, (jid, by_comment(site.c, jid))
    release_file(site, running["id"])
    done = js.wait_state(running["id"], TERMINAL, 30)
    assert done["state"] == "COMPLETED" and js.full_log(running["id"]) == "started\nafter-restart\n", done
    assert events_to(done) == ["PENDING", "RUNNING", "COMPLETED"], done["events"]


# ---------------------------------------------------------------------------- environments and a crash


def env_on_a_node(site, env: dict) -> dict:
    """The environment's job: handed to SLURM, its supervisor in a node's network namespace, its
    node connected through the tunnel (the server's socket for it exists)."""
    job = site.srv.call("GET", f"/api/v1/jobs/{env['job_id']}", site.admin).json
    s = job["slurm"]
    assert job["partition"] == PARTITION and s and s["nodes"] in site.c.nodes, job
    assert node_of_pid(site.c, supervisor_pid(site, env["job_id"])) == s["nodes"]
    tunnel_socket(site, env)
    return s


def tunnel_socket(site, env: dict) -> None:
    sock = site.srv.data_dir / "tunnels" / f"{env['job_id']}.sock"
    wait_until(sock.is_socket, 30, 0.1, f"the tunnel's socket {sock}")
    assert sock.stat().st_uid == 0, sock


def terminal_echo(site, env: dict, command: str, marker: str) -> None:
    ws = env_ws(site.srv, env["url"] + "websocket", headers=bearer(site.member.token))
    try:
        terminal_run(ws, command, marker)
    finally:
        ws.close()


def reachable(site, env: dict) -> bool:
    """The proxy reaches the app (the node's tunnel reconnects after a restart)."""
    try:
        env_ws(site.srv, env["url"] + "websocket", headers=bearer(site.member.token)).close()
        return True
    except (HandshakeRefused, ConnectionError):
        return False


def test_an_environment_survives_a_server_kill9_and_one_ended_meanwhile_leaves_no_job(site, ctld):
    """kill -9 of the server with two terminals on nodes: one is stopped just before, while
    slurmctld is down (its scancel cannot reach SLURM then: slurmrestd may deliver it once
    slurmctld is back, else the restarted server sends it again). After the restart the other is
    reached again through its node's tunnel, and the stopped one's SLURM job is gone: no orphan."""
    m, c = site.member, site.c
    envs = [wait_state(site.srv, m.token, launch(site.srv, m.token, site.project["id"], "terminal",
                                                 partition=PARTITION).json["id"], timeout=90) for _ in range(2)]
    keep, lose = envs
    keep_sid, lose_sid = (env_on_a_node(site, e)["job_id"] for e in envs)
    ctld.stop_ctld()
    r = site.srv.call("POST", f"/api/v1/envs/{lose['id']}/stop", m.token)
    assert r.status == 200, r
    site.srv.kill9()
    ctld.start_ctld()
    site.start_again()
    wait_until(lambda: lose_sid not in queued_ids(c), 30, 0.1, "the stopped environment's SLURM job to be gone")
    assert wait_state(site.srv, m.token, lose["id"], ("STOPPED",), 60)["state"] == "STOPPED"
    again = wait_state(site.srv, m.token, keep["id"], ("READY",), 60)
    assert again["job_id"] == keep["job_id"] and keep_sid in queued_ids(c), again
    wait_until(lambda: reachable(site, again), 60, 0.2, "the terminal reached again through its tunnel")
    tunnel_socket(site, again)
    terminal_echo(site, again, "echo still-$((1+1))", r"still-2")
    r = site.srv.call("POST", f"/api/v1/envs/{keep['id']}/stop", m.token)
    assert r.status == 200, r
    wait_state(site.srv, m.token, keep["id"], ("STOPPED",), 60)
    wait_until(lambda: keep_sid not in queued_ids(c), 30, 0.1, "the kept environment's SLURM job to be gone")
