"""Instance administration of orgs and users: disabling an org (its members cannot act in it),
member counts, searching the user directory, and a user's orgs as the instance admin sees them."""
import itertools

import pytest

from conftest import USER_PASSWORD, add_member, create_user, is_problem, list_all

_seq = itertools.count(1)


def uniq(prefix: str) -> str:
    return f"{prefix}-{next(_seq)}"


class Lab:
    """An org with an org-admin and a member (tokens), and a second org with its own org-admin."""

    def __init__(self, srv, admin):
        self.slug = uniq("lab")
        r = srv.call("POST", "/api/v1/orgs", admin, json={"slug": self.slug, "name": "Lab"})
        assert r.status == 201, r
        self.org = r.json
        self.users = {}
        for role in ("org-admin", "member"):
            u = create_user(srv, admin, uniq(f"lab-{role}"))
            add_member(srv, admin, self.org["id"], u["id"], role)
            self.users[role] = {**u, "token": srv.login_token(u["username"], USER_PASSWORD)}


@pytest.fixture(scope="module")
def lab(server, admin):
    return Lab(server, admin)


@pytest.fixture(scope="module")
def other(server, admin):
    return Lab(server, admin)


def org_etag(srv, admin, org_id):
    return srv.call("GET", f"/api/v1/orgs/{org_id}", admin).etag


def test_a_disabled_orgs_members_cannot_act_in_it(server, admin, lab):
    oid = lab.org["id"]
    member, oa = lab.users["member"]["token"], lab.users["org-admin"]["token"]
    assert server.call("GET", f"/api/v1/orgs/{oid}/members", member).status == 200
    # Only the instance admin disables: the org's own admin may rename it, not shut it.
    r = server.call("PATCH", f"/api/v1/orgs/{oid}", oa, json={"disabled": True}, if_match=org_etag(server, admin, oid))
    assert is_problem(r, 403), r
    # Bad input changes nothing.
    r = server.call("PATCH", f"/api/v1/orgs/{oid}", admin, json={"disabled": "yes"}, if_match=org_etag(server, admin, oid))
    assert is_problem(r, 400) and r.json.get("field") == "disabled", r
    assert server.call("GET", f"/api/v1/orgs/{oid}", admin).json["disabled"] is False

    r = server.call("PATCH", f"/api/v1/orgs/{oid}", admin, json={"disabled": True}, if_match=org_etag(server, admin, oid))
    assert r.status == 200 and r.json["disabled"] is True and r.json["name"] == "Lab", r
    for tok in (member, oa):
        assert is_problem(server.call("GET", f"/api/v1/orgs/{oid}", tok), 404)
        assert is_problem(server.call("GET", f"/api/v1/orgs/{oid}/members", tok), 404)
        r = server.call("POST", f"/api/v1/orgs/{oid}/projects", tok, json={"slug": uniq("p"), "name": "P"})
        assert is_problem(r, 404), r
        assert oid not in {o["id"] for o in server.call("GET", "/api/v1/me", tok).json["orgs"]}
        assert oid not in {o["id"] for o in list_all(server, "/api/v1/orgs", tok)}
    # The org admin cannot let themselves back in.
    r = server.call("PATCH", f"/api/v1/orgs/{oid}", oa, json={"disabled": False}, if_match=r.etag)
    assert is_problem(r, 404), r
    # The instance admin still sees it, disabled, with its members; the change is audited.
    listed = {o["id"]: o for o in list_all(server, "/api/v1/orgs", admin)}
    assert listed[oid]["disabled"] is True and listed[oid]["members"] == 2
    ev = server.call("GET", f"/api/v1/audit/events?org={oid}&action=org.disable", admin).json["items"]
    assert len(ev) == 1 and ev[0]["target_id"] == oid, ev

    r = server.call("PATCH", f"/api/v1/orgs/{oid}", admin, json={"disabled": False}, if_match=org_etag(server, admin, oid))
    assert r.status == 200 and r.json["disabled"] is False, r
    assert server.call("GET", f"/api/v1/orgs/{oid}/members", member).status == 200
    assert oid in {o["id"] for o in server.call("GET", "/api/v1/me", member).json["orgs"]}
    assert len(server.call("GET", f"/api/v1/audit/events?org={oid}&action=org.enable", admin).json["items"]) == 1


def test_an_invitation_to_a_disabled_org_is_refused_and_changes_nothing(server, admin):
    inviting = Lab(server, admin)
    oid = inviting.org["id"]
    r = server.call("POST", f"/api/v1/orgs/{oid}/invitations", inviting.users["org-admin"]["token"],
                    json={"role": "member", "expires_in_hours": 2})
    assert r.status == 201, r
    inv = r.json
    r = server.call("PATCH", f"/api/v1/orgs/{oid}", admin, json={"disabled": True}, if_match=org_etag(server, admin, oid))
    assert r.status == 200, r
    name = uniq("invited")
    body = {"token": inv["token"], "username": name, "password": USER_PASSWORD}
    try:
        r = server.call("POST", "/api/v1/invitations/accept", json=body)
        assert is_problem(r, 409, "org-disabled"), r
        # No account was made and the invitation is still open for when the org is back.
        assert not [u for u in list_all(server, f"/api/v1/users?q={name}", admin) if u["username"] == name]
    finally:
        r = server.call("PATCH", f"/api/v1/orgs/{oid}", admin, json={"disabled": False},
                        if_match=org_etag(server, admin, oid))
        assert r.status == 200, r
    listed = {i["id"]: i for i in list_all(server, f"/api/v1/orgs/{oid}/invitations", admin)}
    assert listed[inv["id"]]["state"] == "open", listed
    r = server.call("POST", "/api/v1/invitations/accept", json=body)
    assert r.status == 201 and r.json["org"]["id"] == oid, r
    mine = server.call("GET", "/api/v1/me", server.login_token(name, USER_PASSWORD)).json["orgs"]
    assert oid in {o["id"] for o in mine}, mine


def test_no_account_may_be_named_system(server, admin):
    """"system" is the server's own actor in the audit log; an account of that name could pass its
    actions off as the server's. Refused when an admin creates it and when an invitation is taken."""
    r = server.call("POST", "/api/v1/users", admin, json={"username": "system", "password": USER_PASSWORD})
    assert is_problem(r, 400, "reserved-username") and r.json.get("field") == "username", r
    inviting = Lab(server, admin)
    r = server.call("POST", f"/api/v1/orgs/{inviting.org['id']}/invitations", admin, json={"role": "member"})
    assert r.status == 201, r
    token = r.json["token"]
    r = server.call("POST", "/api/v1/invitations/accept",
                    json={"token": token, "username": "system", "password": USER_PASSWORD})
    assert is_problem(r, 400, "reserved-username"), r
    assert not [u for u in list_all(server, "/api/v1/users?q=system", admin) if u["username"] == "system"]
    # Nothing consumed: the same link still makes an account under another name.
    r = server.call("POST", "/api/v1/invitations/accept",
                    json={"token": token, "username": uniq("not-system"), "password": USER_PASSWORD})
    assert r.status == 201, r


def test_org_patch_still_renames_and_needs_a_field(server, admin, lab):
    oid = lab.org["id"]
    r = server.call("PATCH", f"/api/v1/orgs/{oid}", admin, json={}, if_match=org_etag(server, admin, oid))
    assert is_problem(r, 400) and r.json.get("field") == "name", r
    r = server.call("PATCH", f"/api/v1/orgs/{oid}", admin, json={"name": ""}, if_match=org_etag(server, admin, oid))
    assert is_problem(r, 400), r
    r = server.call("PATCH", f"/api/v1/orgs/{oid}", lab.users["org-admin"]["token"], json={"name": "Lab 2"},
                    if_match=org_etag(server, admin, oid))
    assert r.status == 200 and r.json["name"] == "Lab 2" and r.json["disabled"] is False, r


def test_member_counts_and_a_members_view_of_the_list(server, admin, lab, other):
    listed = {o["id"]: o for o in list_all(server, "/api/v1/orgs", admin)}
    assert listed[lab.org["id"]]["members"] == 2 and listed[other.org["id"]]["members"] == 2
    mine = list_all(server, "/api/v1/orgs", lab.users["member"]["token"])
    assert [o["id"] for o in mine] == [lab.org["id"]] and mine[0]["members"] == 2


def test_user_search(server, admin, lab, other):
    u = lab.users["member"]["username"]
    found = list_all(server, f"/api/v1/users?q={u.upper()}", admin)
    assert [x["username"] for x in found] == [u]
    # LIKE wildcards are taken literally: "%" and "_" match only themselves.
    assert list_all(server, "/api/v1/users?q=%25", admin) == []
    assert list_all(server, "/api/v1/users?q=lab_member", admin) == []
    assert {x["username"] for x in list_all(server, "/api/v1/users?q=lab-", admin)} >= {
        lab.users["member"]["username"], other.users["member"]["username"]}
    # A member searches only the users they may see anyway: not the other org's.
    seen = {x["username"] for x in list_all(server, "/api/v1/users?q=lab-", lab.users["member"]["token"])}
    assert other.users["member"]["username"] not in seen and u in seen
    r = server.call("GET", "/api/v1/users?q=" + "x" * 201, admin)
    assert is_problem(r, 400) and r.json.get("field") == "q", r


def test_a_users_orgs_for_the_instance_admin_only(server, admin, lab, other):
    uid = lab.users["member"]["id"]
    r = server.call("GET", f"/api/v1/users/{uid}/orgs", admin)
    assert r.status == 200, r
    assert [(o["id"], o["role"], o["disabled"]) for o in r.json["items"]] == [(lab.org["id"], "member", False)]
    # The org's own admin may not (instance administration); another org's admin does not see them.
    assert is_problem(server.call("GET", f"/api/v1/users/{uid}/orgs", lab.users["org-admin"]["token"]), 403)
    assert is_problem(server.call("GET", f"/api/v1/users/{uid}/orgs", other.users["org-admin"]["token"]), 404)
    assert is_problem(server.call("GET", "/api/v1/users/usr_nope/orgs", admin), 404)
