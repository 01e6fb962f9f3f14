"""Crash safety: kill -9 under concurrent writes; acknowledged writes survive, the audit chain
verifies, and retrying with the same Idempotency-Key never duplicates."""
import json
import subprocess
import threading
from concurrent.futures import ThreadPoolExecutor

from conftest import ATRIUM_BIN, base_env, call, list_all, new_key, wait_until

N_PROJECTS = 200
N_GROUPS = 40
THREADS = 12


def test_kill_9_under_load(make_server):
    srv = make_server()
    admin = srv.admin_token()
    org = srv.call("POST", "/api/v1/orgs", admin, json={"slug": "crash", "name": "Crash"}).json
    port = srv.port

    requests = []  # (kind, path, body, key)
    for i in range(N_PROJECTS):
        requests.append(("project", f"/api/v1/orgs/{org['id']}/projects",
                         {"slug": f"c-{i:03d}", "name": f"Crash {i}", "tags": ["crash"]}, new_key()))
    for i in range(N_GROUPS):
        requests.append(("group", f"/api/v1/orgs/{org['id']}/groups", {"slug": f"g-{i:03d}", "name": f"G {i}"},
                         new_key()))
    # Interleave groups among projects.
    requests.sort(key=lambda r: r[2]["slug"][2:] + r[0])

    acked = {}  # key -> response json
    errors = []
    lock = threading.Lock()
    stop = threading.Event()

    def worker(req):
        kind, path, body, key = req
        if stop.is_set():
            return
        try:
            r = call(port, "POST", path, admin, json=body, idem=key, timeout=20)
        except (OSError, ConnectionError) as e:  # the server died under us: outcome unknown
            with lock:
                errors.append((key, repr(e)))
            return
        with lock:
            if 200 <= r.status < 300:
                acked[key] = r.json
            else:
                errors.append((key, r.status))

    pool = ThreadPoolExecutor(THREADS)
    futures = [pool.submit(worker, rq) for rq in requests]
    # Kill while requests are in flight: once a good share has been acknowledged.
    wait_until(lambda: len(acked) >= 60, 60, what="60 acknowledged creates")
    srv.kill9()
    stop.set()
    for f in futures:
        f.result()
    pool.shutdown()
    assert len(acked) >= 60
    print(f"acknowledged {len(acked)} of {len(requests)}; {len(errors)} cut off by the crash")
    assert len(acked) < len(requests), "the kill came too late to interrupt anything"
    # Every failure is the crash (a connection error), never a 4xx/5xx from a live server.
    assert all(isinstance(e[1], str) for e in errors), [e for e in errors if not isinstance(e[1], str)][:5]

    srv.start()
    admin2 = srv.admin_token()
    # Every acknowledged object exists, unchanged.
    by_key = {rq[3]: rq for rq in requests}
    for key, obj in acked.items():
        kind = by_key[key][0]
        path = f"/api/v1/projects/{obj['id']}" if kind == "project" else f"/api/v1/groups/{obj['id']}"
        r = srv.call("GET", path, admin2)
        assert r.status == 200, (kind, obj, r)
        assert r.json["slug"] == obj["slug"] and r.json["id"] == obj["id"]
    # The audit chain verifies after the crash.
    v = srv.call("GET", "/api/v1/audit/verify", admin2)
    assert v.status == 200 and v.json["ok"] is True, v

    # Retry everything with the same keys (the crash lost some answers): no duplicates, no conflicts.
    def retry(req):
        kind, path, body, key = req
        return req, srv.call("POST", path, admin, json=body, idem=key)

    with ThreadPoolExecutor(4) as ex:
        results = list(ex.map(retry, requests))
    for (kind, path, body, key), r in results:
        assert r.status == 201, (kind, body, r)
        if key in acked:
            assert r.headers.get("idempotent-replayed") == "true", (kind, body, r)
            assert r.json == acked[key]
    projects = list_all(srv, f"/api/v1/projects?org={org['id']}&archived=any", admin2)
    slugs = [p["slug"] for p in projects]
    assert sorted(slugs) == sorted(f"c-{i:03d}" for i in range(N_PROJECTS))
    groups = list_all(srv, f"/api/v1/orgs/{org['id']}/groups", admin2)
    assert sorted(g["slug"] for g in groups) == sorted(f"g-{i:03d}" for i in range(N_GROUPS))
    # Exactly one create event per object.
    created = list_all(srv, f"/api/v1/audit/events?org={org['id']}&action=project.create", admin2, limit=1000)
    assert sorted(e["target_id"] for e in created) == sorted(p["id"] for p in projects)

    # Offline verification agrees, after a clean stop.
    assert srv.stop() == 0
    out = subprocess.run([ATRIUM_BIN, "admin", "audit", "verify", "--json", "--data-dir", str(srv.data_dir)],
                         capture_output=True, text=True, timeout=60, env=base_env(admin_password=None))
    assert out.returncode == 0, out
    assert json.loads(out.stdout)["ok"] is True


def test_concurrent_identical_idempotent_requests_create_one(make_server):
    srv = make_server()
    admin = srv.admin_token()
    org = srv.call("POST", "/api/v1/orgs", admin, json={"slug": "race", "name": "Race"}).json
    key = new_key()
    body = {"slug": "once", "name": "Once"}

    def go(_):
        return srv.call("POST", f"/api/v1/orgs/{org['id']}/projects", admin, json=body, idem=key)

    with ThreadPoolExecutor(8) as ex:
        results = list(ex.map(go, range(16)))
    assert all(r.status == 201 for r in results), [r for r in results if r.status != 201][:3]
    assert len({r.json["id"] for r in results}) == 1
    assert sum(1 for r in results if r.headers.get("idempotent-replayed") is None) == 1
    assert [p["slug"] for p in list_all(srv, f"/api/v1/projects?org={org['id']}", admin)] == ["once"]
