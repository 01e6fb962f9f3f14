"""The server's health figures (obs::Health): GET /api/v1/admin/health for instance admins only,
samples every [health] period_ms whose figures follow the requests served, `since` for polling,
bad input refused, and the same figures as atrium_health_* Prometheus gauges."""
import time

from conftest import USER_PASSWORD, add_member, create_user, is_problem, wait_until

SERVER_ENV = {"ATRIUM_HEALTH_PERIOD_MS": "50"}

BUILTIN = {"requests_per_s", "latency_p50_s", "latency_p95_s", "latency_p99_s", "error_rate", "db_time_s",
           "open_connections", "rss_bytes", "disk_free_bytes", "disk_free_ratio"}


def health(srv, tok, since=None):
    r = srv.call("GET", "/api/v1/admin/health" + (f"?since={since}" if since is not None else ""), tok)
    assert r.status == 200, r
    return r.json


def counted_requests(samples, after_ms):
    """Requests the samples count from the interval that holds `after_ms` on."""
    total, prev = 0.0, None
    for s in samples:
        if prev is not None and s["t"] > after_ms:
            total += s["values"].get("requests_per_s", 0) * (s["t"] - prev) / 1000
        prev = s["t"]
    return total


def test_figures_follow_the_requests(server, admin):
    h = wait_until(lambda: (lambda j: j if len(j["samples"]) >= 2 else None)(health(server, admin)), 30,
                   what="two samples")
    assert h["period_ms"] == 50 and h["now"] >= h["samples"][-1]["t"]
    figures = {f["name"]: f for f in h["figures"]}
    assert BUILTIN <= set(figures), figures
    assert figures["rss_bytes"]["unit"] == "bytes" and figures["requests_per_s"]["help"]
    last = h["samples"][-1]
    assert last["values"]["rss_bytes"] > 0 and 0 < last["values"]["disk_free_ratio"] <= 1
    assert last["values"]["disk_free_bytes"] > 0 and last["values"]["open_connections"] >= 0
    assert [s["t"] for s in h["samples"]] == sorted(s["t"] for s in h["samples"])

    # A burst of requests shows in the rates and the latency of the samples that follow it.
    start = time.time() * 1000
    for _ in range(100):
        assert server.call("GET", "/healthz").status == 200
    counted = wait_until(lambda: (lambda j: j if counted_requests(j["samples"], start) >= 100 else None)(
        health(server, admin, since=int(start) - 1000)), 30, what="the burst counted")
    after = [s for s in counted["samples"] if s["t"] > start]
    assert any("latency_p50_s" in s["values"] for s in after)
    assert all(0 <= s["values"]["latency_p50_s"] <= s["values"]["latency_p99_s"]
               for s in after if "latency_p50_s" in s["values"])
    assert all(s["values"]["error_rate"] == 0 for s in after if "error_rate" in s["values"])
    # Signing in works the database: its time shows.
    server.login_token("admin", server.admin_password)
    wait_until(lambda: any(s["values"].get("db_time_s", 0) > 0 for s in health(server, admin, since=int(start))["samples"]),
               30, what="database time")

    # since: only the samples taken after it (a poller passes the last time it has).
    newest = counted["samples"][-1]["t"]
    later = health(server, admin, since=newest)
    assert all(s["t"] > newest for s in later["samples"])

    # Prometheus: the latest sample as gauges.
    text = server.call("GET", "/metrics").body.decode()
    assert "# TYPE atrium_health_rss_bytes gauge" in text and "\natrium_health_disk_free_ratio " in text


def test_only_instance_admins_and_bad_input(server, admin):
    create_user(server, admin, "health-plain")
    boss = create_user(server, admin, "health-orgadmin")
    org = server.call("POST", "/api/v1/orgs", admin, json={"slug": "health-org", "name": "Health org"})
    assert org.status == 201, org
    add_member(server, admin, org.json["id"], boss["id"], "org-admin")
    for name in ("health-plain", "health-orgadmin"):
        tok = server.login_token(name, USER_PASSWORD)
        assert is_problem(server.call("GET", "/api/v1/admin/health", tok), 403)
        assert is_problem(server.call("GET", "/api/v1/admin/health?since=0", tok), 403)
    assert is_problem(server.call("GET", "/api/v1/admin/health", None), 401)
    for bad in ("abc", "-5", "12x", "", "99999999999999999999999"):
        r = server.call("GET", f"/api/v1/admin/health?since={bad}", admin)
        assert is_problem(r, 400) and r.json["field"] == "since", (bad, r)
