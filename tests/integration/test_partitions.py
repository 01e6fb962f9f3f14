"""Partitions without a SLURM cluster: the listing, an org's default partition (GET/PUT
/api/v1/orgs/{org}/compute with ETag and If-Match, org admins only, audited, 404 across tenants)
and submissions naming a partition that does not exist, or an account on the local partition:
400, nothing stored. The SLURM side is tests/integration/test_slurm*.py."""
from conftest import is_problem, list_all

SERVER_ENV = {"ATRIUM_COMPUTE_CPUS": "2", "ATRIUM_COMPUTE_MEM_MB": "2048", "ATRIUM_COMPUTE_GPUS": "0"}


def field_of(r) -> str:
    return r.json.get("field", "")


def test_partitions_list_only_local_without_a_cluster(server, world):
    a = world.a
    r = server.call("GET", "/api/v1/compute/partitions", a.users["member"].token)
    assert r.status == 200, r
    assert [p["name"] for p in r.json["items"]] == ["local"]
    local = r.json["items"][0]
    assert local["kind"] == "local" and local["default"] is True and local["cluster"] is None
    assert local["limits"]["max_cpus"] == 2 and local["limits"]["max_mem_mb"] == 2048
    r = server.call("GET", f"/api/v1/compute/partitions?org={a.id}", a.users["viewer"].token)
    assert r.status == 200 and r.json["items"][0]["default"] is True, r
    # Another org's default is none of A's business.
    assert is_problem(server.call("GET", f"/api/v1/compute/partitions?org={world.b.id}", a.users["member"].token), 404)
    assert is_problem(server.call("GET", "/api/v1/compute/partitions"), 401)


def test_submissions_naming_no_usable_partition_store_nothing(server, world):
    a = world.a
    token = a.users["org-admin"].token
    path = f"/api/v1/projects/{a.project['id']}/jobs"
    before = len(list_all(server, path, token))
    cases = [
        ({"partition": "no-such-partition"}, "unknown-partition", "partition"),
        ({"partition": "local", "account": "lab_acct"}, "account-not-applicable", "account"),
        ({"account": "lab_acct"}, "account-not-applicable", "account"),  # the default is local
    ]
    for extra, slug, field in cases:
        r = server.call("POST", path, token, json={"command": ["true"], **extra})
        assert is_problem(r, 400, slug), (extra, r)
        assert field_of(r) == field, r
    assert len(list_all(server, path, token)) == before
    # Environments name a partition the same way.
    r = server.call("POST", f"/api/v1/projects/{a.project['id']}/envs", token,
                    json={"app": "terminal", "partition": "no-such-partition"})
    assert is_problem(r, 400, "unknown-partition"), r
    assert not list_all(server, f"/api/v1/projects/{a.project['id']}/envs", token)
    r = server.call("POST", path, token, json={"command": ["true"], "partition": "local"})
    assert r.status == 201 and r.json["partition"] == "local", r
    assert server.call("POST", f"/api/v1/jobs/{r.json['id']}/cancel", token).status in (200, 409)


def test_org_default_partition_needs_an_org_admin_and_if_match(server, world):
    a = world.a
    admin, member = a.users["org-admin"].token, a.users["member"].token
    path = f"/api/v1/orgs/{a.id}/compute"
    r = server.call("GET", path, member)
    assert r.status == 200, r
    assert r.json["default_partition"] is None and r.json["effective_default_partition"] == "local"
    etag = r.etag
    assert etag and r.json["etag"] == etag
    assert is_problem(server.call("PUT", path, admin, json={"default_partition": "local"}), 428)
    assert is_problem(server.call("PUT", path, member, json={"default_partition": "local"}, if_match=etag), 403)
    r = server.call("PUT", path, admin, json={"default_partition": "no-such-partition"}, if_match=etag)
    assert is_problem(r, 400, "unknown-partition") and field_of(r) == "default_partition", r
    assert is_problem(server.call("PUT", path, admin, json={}, if_match=etag), 400)
    assert server.call("GET", path, member).etag == etag  # nothing changed
    r = server.call("PUT", path, admin, json={"default_partition": "local"}, if_match=etag)
    assert r.status == 200, r
    assert r.json["default_partition"] == "local" and r.etag != etag
    assert is_problem(server.call("PUT", path, admin, json={"default_partition": "local"}, if_match=etag), 412)
    # null: the org's own default goes; the server's applies again.
    r = server.call("PUT", path, admin, json={"default_partition": None}, if_match=r.etag)
    assert r.status == 200 and r.json["default_partition"] is None, r
    assert r.json["effective_default_partition"] == "local"
    events = list_all(server, f"/api/v1/audit/events?org={a.id}", admin, limit=1000)
    assert any(e["action"] == "org.compute_update" for e in events)
    # The slug names the org too; B's settings do not exist for A's admin.
    assert server.call("GET", f"/api/v1/orgs/{a.slug}/compute", member).status == 200
    b_path = f"/api/v1/orgs/{world.b.id}/compute"
    assert is_problem(server.call("GET", b_path, admin), 404)
    assert is_problem(server.call("PUT", b_path, admin, json={"default_partition": "local"}, if_match="*"), 404)
