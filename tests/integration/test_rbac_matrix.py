"""The RBAC matrix over HTTP: caller role x route family x tenant -> expected status.

Callers are the instance admin and org A's org-admin, member and viewer. "own" targets org A's
objects, "foreign" org B's (so org-admin x foreign is a foreign org-admin). Expected statuses follow
the contract: 2xx when allowed; 403 when the caller may see the object but not do this; 404 when it
may not see it (a foreign tenant's objects, or a kind of object its role cannot read).

Every mutating cell works on fresh objects and checks afterwards that the state changed exactly
when the call succeeded.
"""
import itertools

import pytest

from conftest import create_user, is_problem, list_all

CALLERS = ("admin", "org-admin", "member", "viewer")
TENANTS = ("own", "foreign")

# family -> (own: admin, org-admin, member, viewer), (foreign: same callers)
MATRIX = {
    "org.read":               ("200 200 200 200", "200 404 404 404"),
    "org.update":             ("200 200 403 403", "200 404 404 404"),
    "org.delete":             ("204 403 403 403", "204 404 404 404"),
    "members.list":           ("200 200 200 200", "200 404 404 404"),
    "members.add":            ("201 201 403 403", "201 404 404 404"),
    "members.update":         ("200 200 403 403", "200 404 404 404"),
    "members.remove":         ("204 204 403 403", "204 404 404 404"),
    "groups.list":            ("200 200 200 200", "200 404 404 404"),
    "groups.read":            ("200 200 200 200", "200 404 404 404"),
    "groups.create":          ("201 201 403 403", "201 404 404 404"),
    "groups.update":          ("200 200 403 403", "200 404 404 404"),
    "groups.delete":          ("204 204 403 403", "204 404 404 404"),
    "roles.list":             ("200 200 200 200", "200 404 404 404"),
    "roles.read":             ("200 200 200 200", "200 404 404 404"),
    "roles.create":           ("201 201 403 403", "201 404 404 404"),
    "roles.update":           ("200 200 403 403", "200 404 404 404"),
    "invitations.list":       ("200 200 404 404", "200 404 404 404"),
    "invitations.create":     ("201 201 404 404", "201 404 404 404"),
    "invitations.revoke":     ("204 204 404 404", "204 404 404 404"),
    "quotas.read":            ("200 200 404 404", "200 404 404 404"),
    "quotas.write":           ("200 200 404 404", "200 404 404 404"),
    "projects.create":        ("201 201 201 404", "201 404 404 404"),
    "project.private.read":   ("200 200 404 404", "200 404 404 404"),
    "project.private.update": ("200 200 404 404", "200 404 404 404"),
    "project.private.delete": ("204 204 404 404", "204 404 404 404"),
    "project.org.read":       ("200 200 200 200", "200 404 404 404"),
    "project.org.update":     ("200 200 200 403", "200 404 404 404"),
    "project.org.delete":     ("204 204 204 403", "204 404 404 404"),
    "project.members.add":    ("201 201 201 403", "201 404 404 404"),
    "users.read":             ("200 200 200 200", "200 404 404 404"),
    "audit.list":             ("200 200 403 403", "200 404 404 404"),
}

_seq = itertools.count(1)


def uniq(prefix):
    return f"{prefix}-{next(_seq)}"


class Ctx:
    def __init__(self, server, world, tenant):
        self.s = server
        self.admin = server.admin
        self.world = world
        self.org = world.a if tenant == "own" else world.b

    def get(self, path):
        r = self.s.call("GET", path, self.admin)
        return r

    def fresh_user(self, role=None):
        u = create_user(self.s, self.admin, uniq("rbac-u"))
        if role:
            r = self.s.call("POST", f"/api/v1/orgs/{self.org.id}/members", self.admin,
                            json={"user_id": u["id"], "role": role})
            assert r.status == 201, r
        return u

    def fresh_project(self, owner_role, **body):
        body.setdefault("slug", uniq("rbac-p"))
        body.setdefault("name", "RBAC")
        r = self.s.call("POST", f"/api/v1/orgs/{self.org.id}/projects", self.org.users[owner_role].token, json=body)
        assert r.status == 201, r
        return r.json


# Each family: (ctx, token) -> (response, check(ok)) where check asserts the state changed iff ok.
def unchanged(_ok):
    pass


def f_org_read(c, tok):
    return c.s.call("GET", f"/api/v1/orgs/{c.org.id}", tok), unchanged


def f_org_update(c, tok):
    new = uniq("Renamed")
    r = c.s.call("PATCH", f"/api/v1/orgs/{c.org.id}", tok, json={"name": new}, if_match="*")
    return r, lambda ok: (c.get(f"/api/v1/orgs/{c.org.id}").json["name"] == new) == ok or pytest.fail("state")


def f_org_delete(c, tok):
    # A fresh empty org per cell: the world's orgs must survive. It lives in the "tenant" only by
    # name, so give org A's caller a membership in the own-case org to make it theirs.
    slug = uniq("rbac-del")
    o = c.s.call("POST", "/api/v1/orgs", c.admin, json={"slug": slug, "name": "Del"}).json
    if c.org is c.world.a:
        for role in ("org-admin", "member", "viewer"):
            assert c.s.call("POST", f"/api/v1/orgs/{o['id']}/members", c.admin,
                            json={"user_id": c.org.users[role].id, "role": role}).status == 201
    r = c.s.call("DELETE", f"/api/v1/orgs/{o['id']}", tok, if_match="*")
    return r, lambda ok: (c.get(f"/api/v1/orgs/{o['id']}").status == 404) == ok or pytest.fail("state")


def f_members_list(c, tok):
    return c.s.call("GET", f"/api/v1/orgs/{c.org.id}/members", tok), unchanged


def _member_ids(c):
    return {m["user_id"]: m for m in list_all(c.s, f"/api/v1/orgs/{c.org.id}/members", c.admin)}


def f_members_add(c, tok):
    u = c.fresh_user()
    r = c.s.call("POST", f"/api/v1/orgs/{c.org.id}/members", tok, json={"user_id": u["id"], "role": "viewer"})
    return r, lambda ok: (u["id"] in _member_ids(c)) == ok or pytest.fail("state")


def f_members_update(c, tok):
    u = c.fresh_user("viewer")
    r = c.s.call("PATCH", f"/api/v1/orgs/{c.org.id}/members/{u['id']}", tok, json={"role": "member"}, if_match="*")
    return r, lambda ok: (_member_ids(c)[u["id"]]["role"] == "member") == ok or pytest.fail("state")


def f_members_remove(c, tok):
    u = c.fresh_user("viewer")
    r = c.s.call("DELETE", f"/api/v1/orgs/{c.org.id}/members/{u['id']}", tok, if_match="*")
    return r, lambda ok: (u["id"] not in _member_ids(c)) == ok or pytest.fail("state")


def f_groups_list(c, tok):
    return c.s.call("GET", f"/api/v1/orgs/{c.org.id}/groups", tok), unchanged


def f_groups_read(c, tok):
    return c.s.call("GET", f"/api/v1/groups/{c.org.group['id']}", tok), unchanged


def _groups(c):
    return {g["slug"]: g for g in list_all(c.s, f"/api/v1/orgs/{c.org.id}/groups", c.admin)}


def f_groups_create(c, tok):
    slug = uniq("rbac-g")
    r = c.s.call("POST", f"/api/v1/orgs/{c.org.id}/groups", tok, json={"slug": slug, "name": "G"})
    return r, lambda ok: (slug in _groups(c)) == ok or pytest.fail("state")


def _fresh_group(c):
    r = c.s.call("POST", f"/api/v1/orgs/{c.org.id}/groups", c.admin, json={"slug": uniq("rbac-fg"), "name": "G"})
    assert r.status == 201
    return r.json


def f_groups_update(c, tok):
    g = _fresh_group(c)
    r = c.s.call("PATCH", f"/api/v1/groups/{g['id']}", tok, json={"name": "Changed"}, if_match="*")
    return r, lambda ok: (c.get(f"/api/v1/groups/{g['id']}").json["name"] == "Changed") == ok or pytest.fail("state")


def f_groups_delete(c, tok):
    g = _fresh_group(c)
    r = c.s.call("DELETE", f"/api/v1/groups/{g['id']}", tok, if_match="*")
    return r, lambda ok: (c.get(f"/api/v1/groups/{g['id']}").status == 404) == ok or pytest.fail("state")


def f_roles_list(c, tok):
    return c.s.call("GET", f"/api/v1/orgs/{c.org.id}/roles", tok), unchanged


def f_roles_read(c, tok):
    return c.s.call("GET", f"/api/v1/roles/{c.org.role['id']}", tok), unchanged


def _role_names(c):
    return {r["name"] for r in c.get(f"/api/v1/orgs/{c.org.id}/roles").json["items"]}


def f_roles_create(c, tok):
    name = uniq("rbac-r")
    r = c.s.call("POST", f"/api/v1/orgs/{c.org.id}/roles", tok, json={"name": name, "permissions": ["orgs:read:org"]})
    return r, lambda ok: (name in _role_names(c)) == ok or pytest.fail("state")


def f_roles_update(c, tok):
    role = c.s.call("POST", f"/api/v1/orgs/{c.org.id}/roles", c.admin,
                    json={"name": uniq("rbac-ru"), "permissions": ["orgs:read:org"]}).json
    r = c.s.call("PATCH", f"/api/v1/roles/{role['id']}", tok, json={"description": "changed"}, if_match="*")
    return r, lambda ok: (c.get(f"/api/v1/roles/{role['id']}").json["description"] == "changed") == ok or \
        pytest.fail("state")


def f_invitations_list(c, tok):
    return c.s.call("GET", f"/api/v1/orgs/{c.org.id}/invitations", tok), unchanged


def _invitation_count(c):
    return len(list_all(c.s, f"/api/v1/orgs/{c.org.id}/invitations", c.admin))


def f_invitations_create(c, tok):
    before = _invitation_count(c)
    r = c.s.call("POST", f"/api/v1/orgs/{c.org.id}/invitations", tok, json={"role": "viewer"})
    return r, lambda ok: (_invitation_count(c) == before + 1) == ok or pytest.fail("state")


def f_invitations_revoke(c, tok):
    inv = c.s.call("POST", f"/api/v1/orgs/{c.org.id}/invitations", c.admin, json={"role": "viewer"}).json
    r = c.s.call("DELETE", f"/api/v1/invitations/{inv['id']}", tok, if_match="*")

    def check(ok):
        state = {i["id"]: i["state"] for i in list_all(c.s, f"/api/v1/orgs/{c.org.id}/invitations", c.admin)}
        assert (state[inv["id"]] == "revoked") == ok
    return r, check


def f_quotas_read(c, tok):
    return c.s.call("GET", f"/api/v1/orgs/{c.org.id}/quotas", tok), unchanged


def f_quotas_write(c, tok):
    path = f"/api/v1/orgs/{c.org.id}/quotas/org/{c.org.id}"
    before = c.get(path).json["etag"]
    r = c.s.call("PUT", path, tok, json={"concurrent_jobs": next(_seq)}, if_match="*")
    return r, lambda ok: (c.get(path).json["etag"] != before) == ok or pytest.fail("state")


def _project_slugs(c):
    return {p["slug"] for p in list_all(c.s, f"/api/v1/projects?org={c.org.id}&archived=any", c.admin)}


def f_projects_create(c, tok):
    slug = uniq("rbac-np")
    r = c.s.call("POST", f"/api/v1/orgs/{c.org.id}/projects", tok, json={"slug": slug, "name": "N"})
    return r, lambda ok: (slug in _project_slugs(c)) == ok or pytest.fail("state")


def _project_read(owner, vis):
    def f(c, tok):
        p = c.fresh_project(owner, visibility=vis)
        return c.s.call("GET", f"/api/v1/projects/{p['id']}", tok), unchanged
    return f


def _project_update(owner, vis):
    def f(c, tok):
        p = c.fresh_project(owner, visibility=vis)
        r = c.s.call("PATCH", f"/api/v1/projects/{p['id']}", tok, json={"name": "Changed"}, if_match="*")
        return r, lambda ok: (c.get(f"/api/v1/projects/{p['id']}").json["name"] == "Changed") == ok or \
            pytest.fail("state")
    return f


def _project_delete(owner, vis):
    def f(c, tok):
        p = c.fresh_project(owner, visibility=vis)
        r = c.s.call("DELETE", f"/api/v1/projects/{p['id']}", tok, if_match="*")
        return r, lambda ok: (c.get(f"/api/v1/projects/{p['id']}").status == 404) == ok or pytest.fail("state")
    return f


def f_project_members_add(c, tok):
    p = c.fresh_project("member", visibility="org")
    target = c.org.users["viewer"].id
    r = c.s.call("POST", f"/api/v1/projects/{p['id']}/members", tok, json={"user_id": target, "role": "viewer"})

    def check(ok):
        ids = {m["user_id"] for m in list_all(c.s, f"/api/v1/projects/{p['id']}/members", c.admin)}
        assert (target in ids) == ok
    return r, check


def f_users_read(c, tok):
    return c.s.call("GET", f"/api/v1/users/{c.org.users['viewer'].id}", tok), unchanged


def f_audit_list(c, tok):
    return c.s.call("GET", f"/api/v1/audit/events?org={c.org.id}", tok), unchanged


FAMILIES = {
    "org.read": f_org_read, "org.update": f_org_update, "org.delete": f_org_delete,
    "members.list": f_members_list, "members.add": f_members_add, "members.update": f_members_update,
    "members.remove": f_members_remove,
    "groups.list": f_groups_list, "groups.read": f_groups_read, "groups.create": f_groups_create,
    "groups.update": f_groups_update, "groups.delete": f_groups_delete,
    "roles.list": f_roles_list, "roles.read": f_roles_read, "roles.create": f_roles_create,
    "roles.update": f_roles_update,
    "invitations.list": f_invitations_list, "invitations.create": f_invitations_create,
    "invitations.revoke": f_invitations_revoke,
    "quotas.read": f_quotas_read, "quotas.write": f_quotas_write,
    "projects.create": f_projects_create,
    "project.private.read": _project_read("org-admin", "private"),
    "project.private.update": _project_update("org-admin", "private"),
    "project.private.delete": _project_delete("org-admin", "private"),
    "project.org.read": _project_read("member", "org"),
    "project.org.update": _project_update("member", "org"),
    "project.org.delete": _project_delete("member", "org"),
    "project.members.add": f_project_members_add,
    "users.read": f_users_read,
    "audit.list": f_audit_list,
}


def cells():
    for family, (own, foreign) in MATRIX.items():
        for tenant, row in (("own", own), ("foreign", foreign)):
            for caller, status in zip(CALLERS, row.split()):
                yield pytest.param(family, caller, tenant, int(status), id=f"{family}-{caller}-{tenant}")


def test_matrix_covers_every_family():
    assert set(MATRIX) == set(FAMILIES)
    for own, foreign in MATRIX.values():
        assert len(own.split()) == len(CALLERS) and len(foreign.split()) == len(CALLERS)


@pytest.mark.parametrize("family,caller,tenant,expected", list(cells()))
def test_rbac(server, world, family, caller, tenant, expected):
    c = Ctx(server, world, tenant)
    tok = server.admin if caller == "admin" else world.a.users[caller].token
    r, check = FAMILIES[family](c, tok)
    assert r.status == expected, r
    ok = 200 <= r.status < 300
    if not ok:
        is_problem(r, expected)
        if expected == 403:
            assert r.json["type"] in ("urn:atrium:problem:forbidden", "urn:atrium:problem:permission_denied"), r
    check(ok)
