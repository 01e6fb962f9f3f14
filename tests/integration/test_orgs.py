"""Organisations, members, groups, custom roles, invitations and quotas."""
import itertools

import pytest

from conftest import USER_PASSWORD, add_member, create_user, idempotency_rows_containing, is_problem, list_all, new_key

_seq = itertools.count(1)


def uniq(prefix: str) -> str:
    return f"{prefix}-{next(_seq)}"


@pytest.fixture
def fresh_org(server, admin):
    slug = uniq("org-x")
    r = server.call("POST", "/api/v1/orgs", admin, json={"slug": slug, "name": f"Org {slug}"})
    assert r.status == 201, r
    return r.json


@pytest.fixture(scope="module")
def spare_users(server, admin):
    """Users that belong to no org yet, created once (argon2 is slow)."""
    return [create_user(server, admin, f"spare-{i}") for i in range(6)]


def member_etag(server, token, org_id, user_id):
    for m in list_all(server, f"/api/v1/orgs/{org_id}/members", token):
        if m["user_id"] == user_id:
            return m["etag"]
    raise AssertionError(f"{user_id} is not a member of {org_id}")


# ---------------------------------------------------------------------------- orgs


def test_only_the_instance_admin_creates_orgs(server, admin, world):
    body = {"slug": uniq("made"), "name": "Made"}
    for role in ("org-admin", "member", "viewer"):
        r = server.call("POST", "/api/v1/orgs", world.a.users[role].token, json=body)
        assert is_problem(r, 403), role
    r = server.call("POST", "/api/v1/orgs", admin, json=body)
    assert r.status == 201, r
    o = r.json
    assert o["slug"] == body["slug"] and o["name"] == "Made" and o["etag"] == '"v1"'
    assert r.headers["etag"] == o["etag"]
    assert o["created_at"].endswith("Z") and o["id"].startswith("org_")
    assert is_problem(server.call("POST", "/api/v1/orgs", admin, json=body), 409, "slug-taken")
    assert is_problem(server.call("POST", "/api/v1/orgs", admin, json={"slug": "Bad Slug", "name": "x"}), 400,
                      "invalid-field")
    assert is_problem(server.call("POST", "/api/v1/orgs", admin, json={"slug": uniq("s"), "name": ""}), 400)
    # The first segment of git URLs (/{org}/{project}.git) never shadows the server's own paths.
    for reserved in ("api", "dl", "env", "git", "healthz", "metrics"):
        r = server.call("POST", "/api/v1/orgs", admin, json={"slug": reserved, "name": "x"})
        assert is_problem(r, 400, "reserved-slug"), reserved
    # Readable by id and by slug.
    assert server.call("GET", f"/api/v1/orgs/{o['id']}", admin).json["slug"] == o["slug"]
    assert server.call("GET", f"/api/v1/orgs/{o['slug']}", admin).json["id"] == o["id"]


def test_org_list_shows_my_orgs_only(server, admin, world):
    mine = [o["id"] for o in list_all(server, "/api/v1/orgs", world.a.users["member"].token)]
    assert mine == [world.a.id]
    everything = [o["id"] for o in list_all(server, "/api/v1/orgs", admin)]
    assert world.a.id in everything and world.b.id in everything


def test_org_update_needs_if_match(server, admin, fresh_org):
    path = f"/api/v1/orgs/{fresh_org['id']}"
    assert is_problem(server.call("PATCH", path, admin, json={"name": "N1"}), 428, "if-match-required")
    assert is_problem(server.call("PATCH", path, admin, json={"name": "N1"}, if_match='"v7"'), 412, "etag-mismatch")
    r = server.call("PATCH", path, admin, json={"name": "N1"}, if_match=fresh_org["etag"])
    assert r.status == 200 and r.json["name"] == "N1" and r.json["etag"] == '"v2"', r
    assert r.headers["etag"] == '"v2"'
    # The old ETag is now stale; a list of ETags and a weak ETag are understood.
    assert is_problem(server.call("PATCH", path, admin, json={"name": "N2"}, if_match=fresh_org["etag"]), 412)
    r = server.call("PATCH", path, admin, json={"name": "N2"}, if_match='"v9", W/"v2"')
    assert r.status == 200 and r.json["etag"] == '"v3"', r
    r = server.call("PATCH", path, admin, json={"name": "N3"}, if_match="*")
    assert r.status == 200 and r.json["name"] == "N3"
    assert server.call("GET", path, admin).json["name"] == "N3"


def test_org_admin_renames_but_cannot_delete_its_org(server, world):
    oa = world.a.users["org-admin"].token
    path = f"/api/v1/orgs/{world.a.id}"
    cur = server.call("GET", path, oa).json
    r = server.call("PATCH", path, oa, json={"name": cur["name"]}, if_match=cur["etag"])
    assert r.status == 200, r
    assert is_problem(server.call("DELETE", path, oa, if_match="*"), 403)
    assert is_problem(server.call("PATCH", path, world.a.users["member"].token, json={"name": "x"}, if_match="*"), 403)


def test_org_delete(server, admin, fresh_org):
    path = f"/api/v1/orgs/{fresh_org['id']}"
    r = server.call("POST", f"{path}/projects", admin, json={"slug": "blocker", "name": "Blocker"})
    assert r.status == 201, r
    proj = r.json
    assert is_problem(server.call("DELETE", path, admin), 428)
    assert is_problem(server.call("DELETE", path, admin, if_match=fresh_org["etag"]), 409, "org-not-empty")
    assert server.call("DELETE", f"/api/v1/projects/{proj['id']}", admin, if_match=proj["etag"]).status == 204
    assert is_problem(server.call("DELETE", path, admin, if_match='"v5"'), 412)
    assert server.call("DELETE", path, admin, if_match=fresh_org["etag"]).status == 204
    assert is_problem(server.call("GET", path, admin), 404)
    assert is_problem(server.call("DELETE", path, admin, if_match="*"), 404)


# ---------------------------------------------------------------------------- members


def test_members_add_change_remove(server, admin, fresh_org, spare_users):
    oid = fresh_org["id"]
    boss, worker = spare_users[0], spare_users[1]
    path = f"/api/v1/orgs/{oid}/members"
    r = server.call("POST", path, admin, json={"username": boss["username"], "role": "org-admin"})
    assert r.status == 201 and r.json["role"] == "org-admin" and r.json["user_id"] == boss["id"], r
    assert r.headers["etag"] == r.json["etag"]
    r = server.call("POST", path, admin, json={"user_id": worker["id"], "role": "member"})
    assert r.status == 201, r
    assert is_problem(server.call("POST", path, admin, json={"user_id": worker["id"], "role": "member"}), 409,
                      "already-member")
    assert is_problem(server.call("POST", path, admin, json={"user_id": "usr_nope", "role": "member"}), 400,
                      "unknown-user")
    assert is_problem(server.call("POST", path, admin, json={"user_id": spare_users[2]["id"], "role": "chief"}),
                      400, "unknown-role")
    assert is_problem(server.call("POST", path, admin, json={"user_id": spare_users[2]["id"], "role": "admin"}), 400)
    assert is_problem(server.call("POST", path, admin, json={"user_id": spare_users[2]["id"]}), 400, "missing-field")
    assert is_problem(server.call("POST", path, admin, json={"role": "member"}), 400, "missing-field")

    members = {m["user_id"]: m for m in list_all(server, path, admin)}
    assert set(members) == {boss["id"], worker["id"]}
    assert members[worker["id"]]["username"] == worker["username"]

    mpath = f"{path}/{worker['id']}"
    assert is_problem(server.call("PATCH", mpath, admin, json={"role": "viewer"}), 428)
    assert is_problem(server.call("PATCH", mpath, admin, json={"role": "viewer"}, if_match='"v9"'), 412)
    r = server.call("PATCH", mpath, admin, json={"role": "viewer"}, if_match=members[worker["id"]]["etag"])
    assert r.status == 200 and r.json["role"] == "viewer" and r.json["etag"] == '"v2"', r
    # Members are addressable by username too.
    r = server.call("PATCH", f"{path}/{worker['username']}", admin, json={"role": "member"}, if_match='"v2"')
    assert r.status == 200 and r.json["role"] == "member", r
    assert is_problem(server.call("DELETE", mpath, admin), 428)
    assert server.call("DELETE", mpath, admin, if_match=r.json["etag"]).status == 204
    assert is_problem(server.call("DELETE", mpath, admin, if_match="*"), 404)
    assert [m["user_id"] for m in list_all(server, path, admin)] == [boss["id"]]


def test_last_org_admin_is_protected(server, admin, fresh_org, spare_users):
    oid = fresh_org["id"]
    boss, other = spare_users[3], spare_users[4]
    add_member(server, admin, oid, boss["id"], "org-admin")
    path = f"/api/v1/orgs/{oid}/members/{boss['id']}"
    assert is_problem(server.call("PATCH", path, admin, json={"role": "member"}, if_match="*"), 409, "last-org-admin")
    assert is_problem(server.call("DELETE", path, admin, if_match="*"), 409, "last-org-admin")
    add_member(server, admin, oid, other["id"], "org-admin")
    r = server.call("PATCH", path, admin, json={"role": "member"}, if_match="*")
    assert r.status == 200, r
    opath = f"/api/v1/orgs/{oid}/members/{other['id']}"
    assert is_problem(server.call("DELETE", opath, admin, if_match="*"), 409, "last-org-admin")
    assert server.call("DELETE", path, admin, if_match="*").status == 204


def test_member_search_role_filter_and_last_admin_flag(server, admin, fresh_org, spare_users):
    """What the Members and Roles pages read: ?q= and ?role= narrow the list, last_admin marks the
    only org-admin (whose controls the page disables)."""
    oid = fresh_org["id"]
    path = f"/api/v1/orgs/{oid}/members"
    boss, worker, other = spare_users[0], spare_users[1], spare_users[2]
    add_member(server, admin, oid, boss["id"], "org-admin")
    add_member(server, admin, oid, worker["id"], "member")
    add_member(server, admin, oid, other["id"], "viewer")
    flags = {m["user_id"]: m["last_admin"] for m in list_all(server, path, admin)}
    assert flags == {boss["id"]: True, worker["id"]: False, other["id"]: False}
    assert "display_name" in list_all(server, path, admin)[0]
    # A part of the username, in any case; LIKE's wildcards match only themselves.
    needle = worker["username"][-3:].upper()
    assert [m["user_id"] for m in list_all(server, f"{path}?q={needle}", admin)] == [worker["id"]]
    assert list_all(server, f"{path}?q=%25", admin) == [] and list_all(server, f"{path}?q=_", admin) == []
    assert [m["user_id"] for m in list_all(server, f"{path}?role=viewer", admin)] == [other["id"]]
    assert [m["user_id"] for m in list_all(server, f"{path}?role=role_org-admin&q=spare", admin)] == [boss["id"]]
    assert is_problem(server.call("GET", f"{path}?role=chief", admin), 400, "unknown-role")
    assert is_problem(server.call("GET", f"{path}?q={'x' * 201}", admin), 400)
    # A second org-admin: neither is the last any more; the PATCH answer carries the flag too.
    r = server.call("PATCH", f"{path}/{worker['id']}", admin, json={"role": "org-admin"}, if_match="*")
    assert r.status == 200 and r.json["last_admin"] is False, r
    assert not any(m["last_admin"] for m in list_all(server, path, admin))
    r = server.call("PATCH", f"{path}/{worker['id']}", admin, json={"role": "member"}, if_match="*")
    assert r.status == 200, r
    assert {m["user_id"] for m in list_all(server, path, admin) if m["last_admin"]} == {boss["id"]}


def test_member_filters_stay_in_their_org(server, world):
    a, b = world.a, world.b
    ob = b.users["org-admin"].token
    # Another org's admin sees nothing of A's members, filtered or not; a role of A means nothing in B.
    assert is_problem(server.call("GET", f"/api/v1/orgs/{a.id}/members?role=viewer", ob), 404)
    assert is_problem(server.call("GET", f"/api/v1/orgs/{b.id}/members?role={a.role['id']}", ob), 400,
                      "unknown-role")


def test_member_management_is_for_org_admins(server, world, spare_users):
    a = world.a
    path = f"/api/v1/orgs/{a.id}/members"
    for role in ("member", "viewer"):
        tok = a.users[role].token
        assert server.call("GET", path, tok).status == 200
        assert is_problem(server.call("POST", path, tok, json={"user_id": spare_users[5]["id"], "role": "member"}),
                          403)
        assert is_problem(server.call("PATCH", f"{path}/{a.users['viewer'].id}", tok, json={"role": "member"},
                                      if_match="*"), 403)
        assert is_problem(server.call("DELETE", f"{path}/{a.users['viewer'].id}", tok, if_match="*"), 403)


def test_removed_member_loses_access_to_the_orgs_projects(server, admin, fresh_org, spare_users):
    oid = fresh_org["id"]
    add_member(server, admin, oid, spare_users[0]["id"], "org-admin")
    u = create_user(server, admin, uniq("leaver"))
    add_member(server, admin, oid, u["id"], "member")
    tok = server.login_token(u["username"], USER_PASSWORD)
    r = server.call("POST", f"/api/v1/orgs/{oid}/projects", tok, json={"slug": "mine", "name": "Mine"})
    assert r.status == 201, r
    pid = r.json["id"]
    assert server.call("DELETE", f"/api/v1/orgs/{oid}/members/{u['id']}", admin, if_match="*").status == 204
    assert is_problem(server.call("GET", f"/api/v1/projects/{pid}", tok), 404)
    assert is_problem(server.call("PATCH", f"/api/v1/projects/{pid}", tok, json={"name": "still mine"},
                                  if_match="*"), 404)
    assert pid not in [p["id"] for p in list_all(server, "/api/v1/projects?archived=any", tok)]


# ---------------------------------------------------------------------------- groups


def test_groups_and_group_members(server, world, spare_users):
    a = world.a
    oa = a.users["org-admin"].token
    mem = a.users["member"]
    path = f"/api/v1/orgs/{a.id}/groups"
    slug = uniq("grp")
    assert is_problem(server.call("POST", path, mem.token, json={"slug": slug, "name": "G"}), 403)
    r = server.call("POST", path, oa, json={"slug": slug, "name": "G"})
    assert r.status == 201 and r.json["org_id"] == a.id and r.json["etag"] == '"v1"', r
    g = r.json
    assert is_problem(server.call("POST", path, oa, json={"slug": slug, "name": "G again"}), 409, "slug-taken")
    for role in ("member", "viewer"):
        assert g["id"] in [x["id"] for x in list_all(server, path, a.users[role].token)]
        assert server.call("GET", f"/api/v1/groups/{g['id']}", a.users[role].token).status == 200
    gpath = f"/api/v1/groups/{g['id']}"
    assert is_problem(server.call("PATCH", gpath, oa, json={"name": "G2"}), 428)
    r = server.call("PATCH", gpath, oa, json={"name": "G2"}, if_match=g["etag"])
    assert r.status == 200 and r.json["name"] == "G2" and r.json["etag"] == '"v2"', r
    assert is_problem(server.call("PATCH", gpath, mem.token, json={"name": "G3"}, if_match="*"), 403)

    mpath = f"{gpath}/members"
    assert is_problem(server.call("POST", mpath, oa, json={"user_id": spare_users[5]["id"]}), 400, "not-org-member")
    assert is_problem(server.call("POST", mpath, mem.token, json={"user_id": mem.id}), 403)
    r = server.call("POST", mpath, oa, json={"username": mem.username})
    assert r.status == 201 and r.json["user_id"] == mem.id, r
    assert is_problem(server.call("POST", mpath, oa, json={"user_id": mem.id}), 409, "already-member")
    assert [m["user_id"] for m in list_all(server, mpath, a.users["viewer"].token)] == [mem.id]
    assert g["id"] in server.call("GET", "/api/v1/me", mem.token).json["groups"]
    assert is_problem(server.call("DELETE", f"{mpath}/{mem.id}", oa), 428)
    assert server.call("DELETE", f"{mpath}/{mem.id}", oa, if_match='"v1"').status == 204
    assert is_problem(server.call("DELETE", f"{mpath}/{mem.id}", oa, if_match="*"), 404)
    assert list_all(server, mpath, oa) == []

    assert is_problem(server.call("DELETE", gpath, mem.token, if_match="*"), 403)
    assert server.call("DELETE", gpath, oa, if_match='"v2"').status == 204
    assert is_problem(server.call("GET", gpath, oa), 404)


def test_deleting_a_group_leaves_no_dangling_project_reference(server, admin, fresh_org):
    oid = fresh_org["id"]
    g = server.call("POST", f"/api/v1/orgs/{oid}/groups", admin, json={"slug": "doomed", "name": "Doomed"}).json
    p = server.call("POST", f"/api/v1/orgs/{oid}/projects", admin,
                    json={"slug": "grouped", "name": "Grouped", "group_id": g["id"]}).json
    r = server.call("DELETE", f"/api/v1/groups/{g['id']}", admin, if_match="*")
    if r.status == 409:  # refusing while projects use the group is fine too
        return
    assert r.status == 204, r
    assert server.call("GET", f"/api/v1/projects/{p['id']}", admin).json["group_id"] is None


# ---------------------------------------------------------------------------- roles


def test_custom_roles(server, world, spare_users):
    a = world.a
    oa = a.users["org-admin"].token
    path = f"/api/v1/orgs/{a.id}/roles"
    name = uniq("reader")
    r = server.call("POST", path, oa, json={"name": name, "description": "reads projects",
                                            "permissions": ["projects:read:org", "members:read:org"]})
    assert r.status == 201, r
    role = r.json
    assert role["builtin"] is False and role["org_id"] == a.id and role["permissions"] == ["projects:read:org",
                                                                                             "members:read:org"]
    # Invalid permission: 400 naming it.
    r = server.call("POST", path, oa, json={"name": uniq("bad"), "permissions": ["projects:read:org", "projects:fly:org"]})
    assert is_problem(r, 400) and "projects:fly:org" in r.json["detail"]
    r = server.call("POST", path, oa, json={"name": uniq("bad"), "permissions": ["rockets:read:org"]})
    assert is_problem(r, 400) and "rockets" in r.json["detail"]
    r = server.call("POST", path, oa, json={"name": uniq("bad"), "permissions": ["projects:read"]})
    assert is_problem(r, 400) and "projects:read" in r.json["detail"]
    # Scope all (or *) is for the instance only.
    for perm in ("projects:read:all", "projects:read:*", "*:*:*"):
        r = server.call("POST", path, oa, json={"name": uniq("wide"), "permissions": [perm]})
        assert is_problem(r, 400) and perm in r.json["detail"], perm
    assert is_problem(server.call("POST", path, oa, json={"name": uniq("empty"), "permissions": []}), 400)
    assert is_problem(server.call("POST", path, oa, json={"name": "member", "permissions": ["orgs:read:org"]}), 409)
    assert is_problem(server.call("POST", path, oa, json={"name": name, "permissions": ["orgs:read:org"]}), 409,
                      "name-taken")
    assert is_problem(server.call("POST", path, a.users["member"].token,
                                  json={"name": uniq("m"), "permissions": ["orgs:read:org"]}), 403)

    listed = server.call("GET", path, a.users["viewer"].token)
    assert listed.status == 200
    names = [x["name"] for x in listed.json["items"]]
    assert {"org-admin", "member", "viewer", name} <= set(names) and "admin" not in names
    # Built-in roles are read-only.
    assert server.call("GET", "/api/v1/roles/role_member", a.users["viewer"].token).json["builtin"] is True
    assert is_problem(server.call("PATCH", "/api/v1/roles/role_member", oa, json={"description": "x"}, if_match="*"),
                      409, "builtin-role")
    assert is_problem(server.call("DELETE", "/api/v1/roles/role_viewer", oa, if_match="*"), 409, "builtin-role")

    rpath = f"/api/v1/roles/{role['id']}"
    assert is_problem(server.call("PATCH", rpath, oa, json={"description": "d2"}), 428)
    r = server.call("PATCH", rpath, oa, json={"description": "d2", "permissions": ["projects:read:org"]},
                    if_match=role["etag"])
    assert r.status == 200 and r.json["permissions"] == ["projects:read:org"] and r.json["etag"] == '"v2"', r
    assert is_problem(server.call("PATCH", rpath, oa, json={"permissions": ["projects:read:all"]}, if_match="*"), 400)

    # A role in use cannot be deleted.
    u = spare_users[5]
    add_member(server, oa, a.id, u["id"], name)
    assert is_problem(server.call("DELETE", rpath, oa, if_match='"v2"'), 409, "role-in-use")
    assert server.call("DELETE", f"/api/v1/orgs/{a.id}/members/{u['id']}", oa, if_match="*").status == 204
    assert server.call("DELETE", rpath, oa, if_match='"v2"').status == 204
    assert is_problem(server.call("GET", rpath, oa), 404)


def test_custom_role_grants_its_permissions(server, admin, world):
    a = world.a
    oa = a.users["org-admin"].token
    u = create_user(server, admin, uniq("auditor"))
    add_member(server, oa, a.id, u["id"], a.role["name"])  # world's "auditor" role: audit:read:org
    tok = server.login_token(u["username"], USER_PASSWORD)
    r = server.call("GET", "/api/v1/audit/events", tok)
    assert r.status == 200, r
    assert r.json["items"] and all(e["org_id"] == a.id for e in r.json["items"])
    assert is_problem(server.call("GET", f"/api/v1/orgs/{a.id}/members", tok), 404)  # not in the role
    me = server.call("GET", "/api/v1/me", tok).json
    assert me["orgs"] == [{"id": a.id, "slug": a.slug, "name": me["orgs"][0]["name"], "role": a.role["name"],
                           "permissions": ["audit:read:org"]}]  # the role's grants, for the UI
    assert server.call("DELETE", f"/api/v1/orgs/{a.id}/members/{u['id']}", oa, if_match="*").status == 204


def test_custom_roles_cannot_exceed_the_creators_permissions(server, world):
    oa = world.a.users["org-admin"].token
    r = server.call("POST", f"/api/v1/orgs/{world.a.id}/roles", oa,
                    json={"name": uniq("deleter"), "permissions": ["orgs:delete:org"]})
    assert is_problem(r, 403)


def test_role_edit_cannot_add_a_permission_the_editor_lacks(server, world):
    """The role editor offers only the editor's own grants; the API refuses the rest on a change too,
    and the role stays as it was."""
    a = world.a
    oa = a.users["org-admin"].token
    rpath = f"/api/v1/roles/{a.role['id']}"
    before = server.call("GET", rpath, oa).json
    r = server.call("PATCH", rpath, oa, json={"permissions": ["audit:read:org", "orgs:delete:org"]}, if_match="*")
    assert is_problem(r, 403, "cannot-grant") and r.json["permission"] == "orgs:delete:org"
    assert server.call("GET", rpath, oa).json == before


# Nobody hands out, through a role, permissions they do not hold: a recruiter can give the viewer
# role only if it holds the viewer's permissions (and an inviter the member's).
VIEWER_PERMS = ["orgs:read:org", "members:read:org", "groups:read:org", "roles:read:org", "users:read:org"]
MEMBER_PERMS = VIEWER_PERMS + ["projects:create:org", "quotas:read:own"]


def test_recruiter_cannot_grant_a_role_wider_than_its_own(server, admin, world):
    a = world.a
    oa = a.users["org-admin"].token
    rname = uniq("narrow")
    assert server.call("POST", f"/api/v1/orgs/{a.id}/roles", oa,
                       json={"name": rname, "permissions": ["members:create:org", "members:read:org"]}).status == 201
    rec = create_user(server, admin, uniq("narrow-rec"))
    add_member(server, oa, a.id, rec["id"], rname)
    tok = server.login_token(rec["username"], USER_PASSWORD)
    other = create_user(server, admin, uniq("narrow-new"))
    r = server.call("POST", f"/api/v1/orgs/{a.id}/members", tok, json={"user_id": other["id"], "role": "viewer"})
    assert is_problem(r, 403, "cannot-grant") and "orgs:read:org" in r.json["detail"]
    # ... nor write a role that says more than it holds
    r = server.call("POST", f"/api/v1/orgs/{a.id}/roles", oa, json={"name": uniq("wide"), "permissions": ["orgs:delete:org"]})
    assert is_problem(r, 403, "cannot-grant")


def test_only_org_admins_make_org_admins_via_members(server, admin, world):
    a = world.a
    oa = a.users["org-admin"].token
    rname = uniq("recruiter")
    r = server.call("POST", f"/api/v1/orgs/{a.id}/roles", oa,
                    json={"name": rname, "permissions": ["members:create:org", "members:write:org"] + VIEWER_PERMS})
    assert r.status == 201, r
    rec = create_user(server, admin, uniq("rec"))
    add_member(server, oa, a.id, rec["id"], rname)
    sock = create_user(server, admin, uniq("sock"))
    tok = server.login_token(rec["username"], USER_PASSWORD)
    r = server.call("POST", f"/api/v1/orgs/{a.id}/members", tok, json={"user_id": sock["id"], "role": "org-admin"})
    assert is_problem(r, 403)
    assert server.call("POST", f"/api/v1/orgs/{a.id}/members", tok,
                       json={"user_id": sock["id"], "role": "viewer"}).status == 201
    r = server.call("PATCH", f"/api/v1/orgs/{a.id}/members/{sock['id']}", tok, json={"role": "org-admin"},
                    if_match="*")
    assert is_problem(r, 403)


# ---------------------------------------------------------------------------- invitations


def accept(server, token, username):
    return server.call("POST", "/api/v1/invitations/accept",
                       json={"token": token, "username": username, "password": USER_PASSWORD})


def test_invitation_registers_a_user_once(server, world):
    a = world.a
    oa = a.users["org-admin"].token
    r = server.call("POST", f"/api/v1/orgs/{a.id}/invitations", oa,
                    json={"role": "member", "email": "new@example.org", "expires_in_hours": 2})
    assert r.status == 201, r
    inv = r.json
    # The main origin resolved at startup (server.public_url, else localhost and the bound port).
    assert inv["url"] == f"http://localhost:{server.port}/invite#{inv['token']}"
    assert inv["state"] == "open" and inv["role"] == "member"
    listed = {i["id"]: i for i in list_all(server, f"/api/v1/orgs/{a.id}/invitations", oa)}
    assert listed[inv["id"]]["state"] == "open" and "token" not in listed[inv["id"]]
    assert inv["token"] not in server.call("GET", f"/api/v1/orgs/{a.id}/invitations", oa).text

    # A taken username fails the whole acceptance; the invitation stays usable.
    assert is_problem(accept(server, inv["token"], a.users["viewer"].username), 409, "username-taken")
    assert is_problem(server.call("POST", "/api/v1/invitations/accept",
                                  json={"token": inv["token"], "username": "pw-too-short", "password": "short"}), 400)
    name = uniq("invited")
    r = accept(server, inv["token"], name)
    assert r.status == 201, r
    assert r.json["user"]["username"] == name and r.json["org"]["id"] == a.id
    tok = server.login_token(name, USER_PASSWORD)
    me = server.call("GET", "/api/v1/me", tok).json
    assert [(o["id"], o["role"]) for o in me["orgs"]] == [(a.id, "member")]
    # Second use: 400, and no second user.
    second = uniq("second")
    r = accept(server, inv["token"], second)
    assert is_problem(r, 400, "invitation-invalid")
    assert is_problem(server.call("GET", f"/api/v1/users/{second}", server.admin), 404)
    listed = {i["id"]: i for i in list_all(server, f"/api/v1/orgs/{a.id}/invitations", oa)}
    assert listed[inv["id"]]["state"] == "used"
    ev = server.call("GET", f"/api/v1/audit/events?target={inv['id']}", oa).json["items"]
    assert [e["action"] for e in ev] == ["invitation.create"]


def test_invitation_token_is_never_stored_in_plain_text(server, world):
    oa = world.a.users["org-admin"].token
    r = server.call("POST", f"/api/v1/orgs/{world.a.id}/invitations", oa, json={"role": "viewer"}, idem=new_key())
    assert r.status == 201, r
    secret = r.json["token"].rsplit(".", 2)[1]  # the nonce
    assert idempotency_rows_containing(server, secret) == 0


def test_revoked_and_forged_invitations_are_invalid(server, world):
    a = world.a
    oa = a.users["org-admin"].token
    inv = server.call("POST", f"/api/v1/orgs/{a.id}/invitations", oa, json={"role": "viewer"}).json
    assert is_problem(server.call("DELETE", f"/api/v1/invitations/{inv['id']}", oa), 428)
    assert server.call("DELETE", f"/api/v1/invitations/{inv['id']}", oa, if_match=inv["etag"]).status == 204
    assert is_problem(accept(server, inv["token"], uniq("late")), 400, "invitation-invalid")
    listed = {i["id"]: i for i in list_all(server, f"/api/v1/orgs/{a.id}/invitations", oa)}
    assert listed[inv["id"]]["state"] == "revoked"

    live = server.call("POST", f"/api/v1/orgs/{a.id}/invitations", oa, json={"role": "viewer"}).json["token"]
    body, _, mac = live.rpartition(".")
    flipped = mac[:-1] + ("A" if mac[-1] != "A" else "B")
    iid, nonce = body.split(".", 1)
    forged = [
        body + "." + flipped,                                   # wrong MAC
        iid + "." + nonce[::-1] + "." + mac,                    # wrong nonce
        "inv_01ZZZZZZZZZZZZZZZZZZZZZZZZ." + nonce + "." + mac,  # other id
        "garbage", "", "a.b.c", "x" * 300,
    ]
    for f in forged:
        r = accept(server, f, uniq("forger"))
        assert is_problem(r, 400), f
        if f and len(f) <= 256:
            assert r.json["type"].endswith("invitation-invalid"), (f, r)
    # The real one still works afterwards.
    assert accept(server, live, uniq("legit")).status == 201


def test_only_org_admins_invite_org_admins(server, admin, world):
    a = world.a
    oa = a.users["org-admin"].token
    for role in ("member", "viewer"):
        r = server.call("POST", f"/api/v1/orgs/{a.id}/invitations", a.users[role].token, json={"role": "viewer"})
        assert is_problem(r, 404), role  # they cannot even see invitations
    rname = uniq("inviter")
    assert server.call("POST", f"/api/v1/orgs/{a.id}/roles", oa,
                       json={"name": rname, "permissions": ["invitations:*:org"] + MEMBER_PERMS}).status == 201
    u = create_user(server, admin, uniq("inviter-user"))
    add_member(server, oa, a.id, u["id"], rname)
    tok = server.login_token(u["username"], USER_PASSWORD)
    r = server.call("POST", f"/api/v1/orgs/{a.id}/invitations", tok, json={"role": "org-admin"})
    assert is_problem(r, 403)
    assert server.call("POST", f"/api/v1/orgs/{a.id}/invitations", tok, json={"role": "member"}).status == 201
    r = server.call("POST", f"/api/v1/orgs/{a.id}/invitations", oa, json={"role": "org-admin"})
    assert r.status == 201, r
    name = uniq("new-boss")
    assert accept(server, r.json["token"], name).status == 201
    me = server.call("GET", "/api/v1/me", server.login_token(name, USER_PASSWORD)).json
    assert me["orgs"][0]["role"] == "org-admin"
    assert is_problem(server.call("POST", f"/api/v1/orgs/{a.id}/invitations", oa, json={"role": "admin"}), 400)
    assert is_problem(server.call("POST", f"/api/v1/orgs/{a.id}/invitations", oa,
                                  json={"role": "viewer", "expires_in_hours": 0}), 400)


# ---------------------------------------------------------------------------- quotas


def test_quotas(server, world):
    a = world.a
    oa = a.users["org-admin"].token
    mem, viewer = a.users["member"], a.users["viewer"]
    r = server.call("GET", f"/api/v1/orgs/{a.id}/quotas", oa)
    assert r.status == 200, r
    org_q = [q for q in r.json["items"] if q["kind"] == "org"]
    assert len(org_q) == 1
    assert all(v is None for v in org_q[0]["limits"].values())
    assert set(org_q[0]["limits"]) == {"storage_bytes", "cpu_hours", "cpu_period_days", "concurrent_jobs",
                                       "concurrent_envs"}
    assert org_q[0]["usage"]["storage_bytes"] == 0

    qpath = f"/api/v1/orgs/{a.id}/quotas/org/{a.id}"
    cur = server.call("GET", qpath, oa)
    assert cur.status == 200 and cur.json["etag"] == '"v0"' and cur.headers["etag"] == '"v0"', cur
    assert is_problem(server.call("PUT", qpath, oa, json={"cpu_hours": 100}), 428)
    assert is_problem(server.call("PUT", qpath, oa, json={"cpu_hours": 100}, if_match='"v3"'), 412)
    r = server.call("PUT", qpath, oa, json={"cpu_hours": 100, "storage_bytes": 10 ** 12}, if_match='"v0"')
    assert r.status == 200, r
    assert r.json["limits"]["cpu_hours"] == 100 and r.json["limits"]["storage_bytes"] == 10 ** 12
    assert r.json["limits"]["concurrent_jobs"] is None and r.json["etag"] == '"v1"'
    assert is_problem(server.call("PUT", qpath, oa, json={"cpu_hours": 5}, if_match='"v0"'), 412)
    r = server.call("PUT", qpath, oa, json={"cpu_hours": None, "concurrent_jobs": 4}, if_match="*")
    assert r.status == 200 and r.json["limits"]["cpu_hours"] is None and r.json["etag"] == '"v2"', r
    # By slug as well.
    assert server.call("GET", f"/api/v1/orgs/{a.slug}/quotas/org/{a.slug}", oa).json["limits"]["concurrent_jobs"] == 4
    assert is_problem(server.call("PUT", qpath, oa, json={"cpu_hours": -1}, if_match="*"), 400)
    assert is_problem(server.call("PUT", f"/api/v1/orgs/{a.id}/quotas/planet/{a.id}", oa, json={}, if_match="*"), 400)
    assert is_problem(server.call("GET", f"/api/v1/orgs/{a.id}/quotas/group/grp_nope", oa), 404)
    assert is_problem(server.call("GET", f"/api/v1/orgs/{a.id}/quotas/user/{world.b.users['member'].id}", oa), 404)

    # User and group quotas.
    upath = f"/api/v1/orgs/{a.id}/quotas/user/{mem.id}"
    r = server.call("PUT", upath, oa, json={"concurrent_envs": 2}, if_match="*")
    assert r.status == 200 and r.json["subject_id"] == mem.id, r
    gpath = f"/api/v1/orgs/{a.id}/quotas/group/{a.group['id']}"
    assert server.call("PUT", gpath, oa, json={"storage_bytes": 1}, if_match="*").status == 200
    kinds = sorted((q["kind"], q["subject_id"]) for q in server.call("GET", f"/api/v1/orgs/{a.id}/quotas", oa).json["items"])
    assert kinds == sorted([("org", a.id), ("user", mem.id), ("group", a.group["id"])])

    # A member reads its own user quota, not others' nor the org's, and cannot set its own.
    r = server.call("GET", upath, mem.token)
    assert r.status == 200 and r.json["limits"]["concurrent_envs"] == 2, r
    assert is_problem(server.call("GET", f"/api/v1/orgs/{a.id}/quotas/user/{viewer.id}", mem.token), 404)
    assert is_problem(server.call("GET", qpath, mem.token), 404)
    assert is_problem(server.call("PUT", upath, mem.token, json={"concurrent_envs": 99}, if_match="*"), 403)
    assert server.call("GET", upath, oa).json["limits"]["concurrent_envs"] == 2
    ev = server.call("GET", f"/api/v1/audit/events?action=quota.set&org={a.id}", oa).json["items"]
    assert len(ev) == 4
