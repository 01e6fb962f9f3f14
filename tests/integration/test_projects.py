"""Projects: create (idempotent), read, update, archive, delete, members, visibility, search, paging."""
import itertools

from conftest import USER_PASSWORD, add_member, create_user, is_problem, list_all, new_key

_seq = itertools.count(1)


def uniq(prefix: str) -> str:
    return f"{prefix}-{next(_seq)}"


def create(server, token, org_id, **body):
    body.setdefault("slug", uniq("p"))
    body.setdefault("name", body["slug"])
    r = server.call("POST", f"/api/v1/orgs/{org_id}/projects", token, json=body)
    assert r.status == 201, r
    return r.json


def org_projects(server, token, org_id):
    return list_all(server, f"/api/v1/projects?org={org_id}&archived=any", token)


# ---------------------------------------------------------------------------- create


def test_create_and_read(server, world):
    a = world.a
    mem = a.users["member"]
    body = {"slug": uniq("full"), "name": "Full project", "description": "Everything set",
            "tags": ["Genomics", "hpc", "genomics"], "visibility": "org", "group_id": a.group["id"]}
    r = server.call("POST", f"/api/v1/orgs/{a.slug}/projects", mem.token, json=body)
    assert r.status == 201, r
    p = r.json
    assert p["org_id"] == a.id and p["slug"] == body["slug"] and p["name"] == "Full project"
    assert p["tags"] == ["genomics", "hpc"] and p["visibility"] == "org" and p["group_id"] == a.group["id"]
    assert p["archived"] is False and p["created_by"] == mem.id and p["my_role"] == "owner"
    assert p["etag"] == '"v1"' and r.headers["etag"] == '"v1"' and p["id"].startswith("prj_")
    assert p["created_at"].endswith("Z") and p["updated_at"].endswith("Z")
    g = server.call("GET", f"/api/v1/projects/{p['id']}", mem.token)
    assert g.status == 200 and g.json == p and g.headers["etag"] == '"v1"'
    # Defaults.
    d = create(server, mem.token, a.id, slug=uniq("bare"), name="Bare")
    assert d["visibility"] == "private" and d["tags"] == [] and d["description"] == "" and d["group_id"] is None
    # Slugs are unique per org, not per instance.
    assert is_problem(server.call("POST", f"/api/v1/orgs/{a.id}/projects", mem.token,
                                  json={"slug": body["slug"], "name": "dup"}), 409, "slug-taken")
    b_admin = world.b.users["org-admin"].token
    assert server.call("POST", f"/api/v1/orgs/{world.b.id}/projects", b_admin,
                       json={"slug": body["slug"], "name": "same slug elsewhere"}).status == 201
    # A group of another org is refused.
    r = server.call("POST", f"/api/v1/orgs/{a.id}/projects", mem.token,
                    json={"slug": uniq("g"), "name": "x", "group_id": world.b.group["id"]})
    assert is_problem(r, 400, "unknown-group")


def test_idempotent_create(server, world):
    a = world.a
    tok = a.users["member"].token
    key = new_key()
    body = {"slug": uniq("idem"), "name": "Idempotent", "tags": ["x"]}
    path = f"/api/v1/orgs/{a.id}/projects"
    first = server.call("POST", path, tok, json=body, idem=key)
    assert first.status == 201, first
    assert first.headers.get("idempotent-replayed") is None
    again = server.call("POST", path, tok, json=body, idem=key)
    assert again.status == 201, again
    assert again.headers.get("idempotent-replayed") == "true"
    assert again.json == first.json and again.headers["etag"] == first.headers["etag"]
    assert [p["id"] for p in org_projects(server, tok, a.id) if p["slug"] == body["slug"]] == [first.json["id"]]
    # Same key, different body -> 422, nothing created.
    other = dict(body, slug=uniq("idem-other"))
    r = server.call("POST", path, tok, json=other, idem=key)
    assert is_problem(r, 422, "idempotency-key-reused")
    assert not [p for p in org_projects(server, tok, a.id) if p["slug"] == other["slug"]]
    # Same key on another path is a different request too.
    r = server.call("POST", f"/api/v1/orgs/{a.slug}/projects", tok, json=body, idem=key)
    assert is_problem(r, 422)
    # Keys are per user: another user's identical key is independent.
    oa = a.users["org-admin"].token
    r = server.call("POST", path, oa, json=other, idem=key)
    assert r.status == 201 and r.headers.get("idempotent-replayed") is None, r
    # Bad keys.
    assert is_problem(server.call("POST", path, tok, json={"slug": uniq("k"), "name": "k"}, idem="x" * 300), 400)


def test_idempotency_key_failure_then_retry(server, world):
    """A key whose first use failed (4xx) may be retried with a corrected body."""
    a = world.a
    tok = a.users["member"].token
    path = f"/api/v1/orgs/{a.id}/projects"
    key = new_key()
    assert is_problem(server.call("POST", path, tok, json={"slug": "Bad Slug", "name": "n"}, idem=key), 400)
    good = {"slug": uniq("retry"), "name": "n"}
    r = server.call("POST", path, tok, json=good, idem=key)
    assert r.status == 201 and r.headers.get("idempotent-replayed") is None, r


# ---------------------------------------------------------------------------- update / archive / delete


def test_update_with_if_match(server, world):
    a = world.a
    tok = a.users["member"].token
    p = create(server, tok, a.id, name="Before", description="old")
    path = f"/api/v1/projects/{p['id']}"
    assert is_problem(server.call("PATCH", path, tok, json={"name": "After"}), 428, "if-match-required")
    assert is_problem(server.call("PATCH", path, tok, json={"name": "After"}, if_match='"v5"'), 412, "etag-mismatch")
    r = server.call("PATCH", path, tok, json={"name": "After", "tags": ["B", "a"], "visibility": "instance"},
                    if_match=p["etag"])
    assert r.status == 200, r
    n = r.json
    assert n["name"] == "After" and n["description"] == "old" and n["tags"] == ["b", "a"]
    assert n["visibility"] == "instance" and n["etag"] == '"v2"' and r.headers["etag"] == '"v2"'
    assert is_problem(server.call("PATCH", path, tok, json={"name": "Again"}, if_match=p["etag"]), 412)
    assert is_problem(server.call("PATCH", path, tok, json={"visibility": "public"}, if_match="*"), 400, "invalid-enum")
    assert is_problem(server.call("PATCH", path, tok, json={"slug": "new-slug"}, if_match="*"), 400, "unknown-field")
    assert is_problem(server.call("PATCH", path, tok, json={"name": ""}, if_match="*"), 400)
    r = server.call("PATCH", path, tok, json={"group_id": a.group["id"]}, if_match='"v2"')
    assert r.status == 200 and r.json["group_id"] == a.group["id"], r
    r = server.call("PATCH", path, tok, json={"group_id": None}, if_match='"v3"')
    assert r.status == 200 and r.json["group_id"] is None, r
    assert is_problem(server.call("PATCH", path, tok, json={"group_id": world.b.group["id"]}, if_match="*"), 400)
    g = server.call("GET", path, tok)
    assert g.json["name"] == "After" and g.json["etag"] == '"v4"'
    actions = [e["action"] for e in server.call("GET", f"/api/v1/audit/events?target={p['id']}",
                                                 a.users["org-admin"].token).json["items"]]
    assert actions == ["project.create", "project.update", "project.update", "project.update"]


def test_archive_and_unarchive(server, world):
    a = world.a
    tok = a.users["member"].token
    p = create(server, tok, a.id, name="Archivable")
    path = f"/api/v1/projects/{p['id']}"
    r = server.call("PATCH", path, tok, json={"archived": True}, if_match=p["etag"])
    assert r.status == 200 and r.json["archived"] is True, r
    etag = r.json["etag"]
    assert is_problem(server.call("PATCH", path, tok, json={"name": "nope"}, if_match=etag), 409, "project-archived")
    assert is_problem(server.call("PATCH", path, tok, json={"archived": False, "name": "nope"}, if_match=etag), 409)
    assert is_problem(server.call("POST", f"{path}/members", tok,
                                  json={"user_id": a.users["viewer"].id, "role": "viewer"}), 409, "project-archived")
    assert server.call("GET", path, tok).json["name"] == "Archivable"
    listed = lambda q: [x["id"] for x in list_all(server, f"/api/v1/projects?org={a.id}{q}", tok)]  # noqa: E731
    assert p["id"] not in listed("")
    assert p["id"] in listed("&archived=true") and p["id"] in listed("&archived=any")
    r = server.call("PATCH", path, tok, json={"archived": False}, if_match=etag)
    assert r.status == 200 and r.json["archived"] is False, r
    r = server.call("PATCH", path, tok, json={"name": "Renamed"}, if_match=r.json["etag"])
    assert r.status == 200 and r.json["name"] == "Renamed", r
    assert p["id"] in listed("") and p["id"] not in listed("&archived=true")
    actions = [e["action"] for e in server.call("GET", f"/api/v1/audit/events?target={p['id']}",
                                                 a.users["org-admin"].token).json["items"]]
    assert actions == ["project.create", "project.archive", "project.unarchive", "project.update"]


def test_delete(server, world):
    a = world.a
    tok = a.users["member"].token
    p = create(server, tok, a.id)
    path = f"/api/v1/projects/{p['id']}"
    assert is_problem(server.call("DELETE", path, a.users["viewer"].token, if_match="*"), 404)  # private
    assert is_problem(server.call("DELETE", path, tok), 428)
    assert is_problem(server.call("DELETE", path, tok, if_match='"v9"'), 412)
    assert server.call("DELETE", path, tok, if_match=p["etag"]).status == 204
    assert is_problem(server.call("GET", path, tok), 404)
    assert is_problem(server.call("DELETE", path, tok, if_match="*"), 404)
    assert p["id"] not in [x["id"] for x in org_projects(server, tok, a.id)]
    # The slug is free again.
    assert create(server, tok, a.id, slug=p["slug"])["slug"] == p["slug"]


# ---------------------------------------------------------------------------- members


def test_project_members_and_last_owner(server, world):
    a = world.a
    owner, other, viewer = a.users["member"], a.users["org-admin"], a.users["viewer"]
    p = create(server, owner.token, a.id, name="Team")
    mpath = f"/api/v1/projects/{p['id']}/members"
    r = server.call("POST", mpath, owner.token, json={"user_id": viewer.id, "role": "maintainer"})
    assert r.status == 201 and r.json["role"] == "maintainer", r
    assert is_problem(server.call("POST", mpath, owner.token, json={"user_id": viewer.id, "role": "member"}), 409,
                      "already-member")
    assert is_problem(server.call("POST", mpath, owner.token,
                                  json={"user_id": world.b.users["member"].id, "role": "member"}), 400,
                      "not-org-member")
    assert is_problem(server.call("POST", mpath, owner.token, json={"user_id": other.id, "role": "boss"}), 400,
                      "invalid-enum")
    roles = {m["user_id"]: m["role"] for m in list_all(server, mpath, viewer.token)}
    assert roles == {owner.id: "owner", viewer.id: "maintainer"}
    # A maintainer may edit the project but not manage its members.
    assert server.call("PATCH", f"/api/v1/projects/{p['id']}", viewer.token, json={"description": "by maint"},
                       if_match="*").status == 200
    assert is_problem(server.call("POST", mpath, viewer.token, json={"user_id": other.id, "role": "viewer"}), 403)
    assert is_problem(server.call("DELETE", f"/api/v1/projects/{p['id']}", viewer.token, if_match="*"), 403)
    assert server.call("GET", f"/api/v1/projects/{p['id']}", viewer.token).json["my_role"] == "maintainer"

    # The last owner cannot be demoted or removed.
    opath = f"{mpath}/{owner.id}"
    assert is_problem(server.call("PATCH", opath, owner.token, json={"role": "member"}, if_match="*"), 409, "last-owner")
    assert is_problem(server.call("DELETE", opath, owner.token, if_match="*"), 409, "last-owner")
    vpath = f"{mpath}/{viewer.id}"
    assert is_problem(server.call("PATCH", vpath, owner.token, json={"role": "owner"}), 428)
    r = server.call("PATCH", vpath, owner.token, json={"role": "owner"}, if_match='"v1"')
    assert r.status == 200 and r.json["role"] == "owner" and r.json["etag"] == '"v2"', r
    assert is_problem(server.call("PATCH", vpath, owner.token, json={"role": "member"}, if_match='"v1"'), 412)
    r = server.call("PATCH", opath, owner.token, json={"role": "member"}, if_match="*")
    assert r.status == 200, r
    # The former owner is now a plain member and may not manage members any more.
    assert is_problem(server.call("DELETE", vpath, owner.token, if_match="*"), 403)
    assert is_problem(server.call("DELETE", vpath, viewer.token, if_match="*"), 409, "last-owner")
    assert server.call("DELETE", opath, viewer.token, if_match="*").status == 204
    assert {m["user_id"] for m in list_all(server, mpath, viewer.token)} == {viewer.id}


# ---------------------------------------------------------------------------- visibility


def test_visibility(server, world):
    a, b = world.a, world.b
    owner = a.users["org-admin"]
    mem, viewer, stranger = a.users["member"], a.users["viewer"], b.users["member"]
    p = create(server, owner.token, a.id, name="Vis")
    path = f"/api/v1/projects/{p['id']}"

    def seen(tok):
        return server.call("GET", path, tok).status

    def listed(tok):
        return p["id"] in [x["id"] for x in list_all(server, "/api/v1/projects", tok)]

    # private: only members of the project (and org-admins / the instance admin)
    assert (seen(mem.token), seen(viewer.token), seen(stranger.token)) == (404, 404, 404)
    assert not listed(mem.token) and not listed(stranger.token)
    assert seen(server.admin) == 200 and listed(server.admin)
    # org: every member of the org may read
    assert server.call("PATCH", path, owner.token, json={"visibility": "org"}, if_match="*").status == 200
    assert (seen(mem.token), seen(viewer.token), seen(stranger.token)) == (200, 200, 404)
    assert listed(viewer.token) and not listed(stranger.token)
    assert server.call("GET", path, viewer.token).json["my_role"] is None
    # readers who are not project members may not write (403: they can see it)
    assert is_problem(server.call("PATCH", path, viewer.token, json={"name": "x"}, if_match="*"), 403)
    assert is_problem(server.call("PATCH", path, stranger.token, json={"name": "x"}, if_match="*"), 404)
    # instance: everyone signed in may read
    assert server.call("PATCH", path, owner.token, json={"visibility": "instance"}, if_match="*").status == 200
    assert (seen(mem.token), seen(viewer.token), seen(stranger.token)) == (200, 200, 200)
    assert listed(stranger.token)
    assert is_problem(server.call("PATCH", path, stranger.token, json={"name": "x"}, if_match="*"), 403)
    assert is_problem(server.call("DELETE", path, stranger.token, if_match="*"), 403)
    assert server.call("GET", f"{path}/members", stranger.token).status == 200
    assert is_problem(server.call("POST", f"{path}/members", stranger.token,
                                  json={"user_id": stranger.id, "role": "owner"}), 403)
    # back to private: gone again for outsiders
    assert server.call("PATCH", path, owner.token, json={"visibility": "private"}, if_match="*").status == 200
    assert seen(stranger.token) == 404 and not listed(stranger.token)
    # Anonymous callers see nothing.
    assert is_problem(server.call("GET", path), 401)


def test_group_scoped_read(server, admin, world):
    """A custom role with projects:read:group reads the projects of its groups only."""
    a = world.a
    oa = a.users["org-admin"].token
    role = server.call("POST", f"/api/v1/orgs/{a.id}/roles", oa,
                       json={"name": uniq("grp-reader"), "permissions": ["projects:read:group"]}).json
    u = create_user(server, admin, uniq("grp-user"))
    add_member(server, oa, a.id, u["id"], role["name"])
    assert server.call("POST", f"/api/v1/groups/{a.group['id']}/members", oa, json={"user_id": u["id"]}).status == 201
    tok = server.login_token(u["username"], USER_PASSWORD)
    in_group = create(server, oa, a.id, name="In group", group_id=a.group["id"])
    outside = create(server, oa, a.id, name="Outside")
    assert server.call("GET", f"/api/v1/projects/{in_group['id']}", tok).status == 200
    assert is_problem(server.call("GET", f"/api/v1/projects/{outside['id']}", tok), 404)
    ids = [x["id"] for x in list_all(server, "/api/v1/projects", tok)]
    assert in_group["id"] in ids and outside["id"] not in ids


# ---------------------------------------------------------------------------- search


def test_search_is_scoped_to_what_the_caller_may_see(server, world):
    a, b = world.a, world.b
    mem_a = a.users["member"]
    admin_b = b.users["org-admin"]
    alpha = create(server, mem_a.token, a.id, name="Quokka alpha")
    beta = create(server, admin_b.token, b.id, name="Quokka beta")  # private in B
    gamma = create(server, admin_b.token, b.id, name="Quokka gamma", visibility="instance")
    delta = create(server, admin_b.token, b.id, name="Delta", description="a hidden quokka colony")
    eps = create(server, mem_a.token, a.id, name="Eps", tags=["quokkas"])

    def search(tok, q):
        return {x["id"] for x in list_all(server, f"/api/v1/projects?q={q}", tok)}

    assert search(mem_a.token, "quokka") == {alpha["id"], gamma["id"], eps["id"]}  # prefix match on tags too
    assert search(admin_b.token, "quokka") == {beta["id"], gamma["id"], delta["id"]}
    assert search(server.admin, "quokka") >= {alpha["id"], beta["id"], gamma["id"], delta["id"], eps["id"]}
    assert search(mem_a.token, "colony") == set()
    assert search(admin_b.token, "colony") == {delta["id"]}
    assert search(mem_a.token, "quokkas") == {eps["id"]}
    assert search(mem_a.token, "QUOKKA%20alpha") == {alpha["id"]}
    # The foreign private projects of the world never show, whatever the query.
    for q in ("secret", "zebra", "private", "Secret%20B", "%2A", "%22", "b"):
        got = search(mem_a.token, q)
        assert b.project["id"] not in got and b.org_project["id"] not in got, q
    # Query syntax is not FTS syntax: operators are just text and never errors.
    for q in ("%22unbalanced", "a%20OR%20b", "NEAR(x", "*", "-", "%28%29", "col%3Aname"):
        r = server.call("GET", f"/api/v1/projects?q={q}", mem_a.token)
        assert r.status == 200, (q, r)
    # ?org= narrows.
    assert search(server.admin, f"quokka&org={b.slug}") == {beta["id"], gamma["id"], delta["id"]}
    assert search(mem_a.token, f"quokka&org={b.id}") == {gamma["id"]}
    assert is_problem(server.call("GET", "/api/v1/projects?q=" + "x" * 201, mem_a.token), 400)


# ---------------------------------------------------------------------------- pagination


def test_pagination_is_stable_and_complete(server, admin):
    org = server.call("POST", "/api/v1/orgs", admin, json={"slug": uniq("pages"), "name": "Pages"}).json
    made = [create(server, admin, org["id"], slug=f"pg-{i:02d}")["id"] for i in range(25)]
    assert made == sorted(made), "ids are created in order"
    seen, pages, after = [], 0, None
    while True:
        q = f"/api/v1/projects?org={org['id']}&limit=7" + (f"&after={after}" if after else "")
        r = server.call("GET", q, admin)
        assert r.status == 200, r
        items = [x["id"] for x in r.json["items"]]
        assert len(items) <= 7
        seen += items
        pages += 1
        if pages == 1:
            # A project created mid-walk appears at the end, never twice, never shifting others.
            late = create(server, admin, org["id"], slug="pg-late")["id"]
        after = r.json["next"]
        if not after:
            break
        assert pages < 20
    assert seen == made + [late]
    assert len(set(seen)) == len(seen)
    # Limits.
    assert len(server.call("GET", f"/api/v1/projects?org={org['id']}", admin).json["items"]) == 26
    one = server.call("GET", f"/api/v1/projects?org={org['id']}&limit=1", admin).json
    assert len(one["items"]) == 1 and one["next"]
    full = server.call("GET", f"/api/v1/projects?org={org['id']}&limit=200", admin).json
    assert len(full["items"]) == 26 and full["next"] is None
    for bad in ("limit=0", "limit=201", "limit=abc", "limit=-1", "limit=1.5", "after=%25%25%25", "after=%FF",
                "archived=maybe"):
        assert is_problem(server.call("GET", f"/api/v1/projects?org={org['id']}&{bad}", admin), 400), bad


# ---------------------------------------------------------------------------- my activity


def activity(server, token, **q):
    query = "&".join(f"{k}={v}" for k, v in q.items())
    r = server.call("GET", "/api/v1/me/activity" + (f"?{query}" if query else ""), token)
    assert r.status == 200, r
    return r.json


def test_my_activity_is_my_projects_and_my_own_actions_only(server, admin, world):
    a, b = world.a, world.b
    owner = a.users["member"]
    outsider = a.users["org-admin"]  # of the same org, not a member of the project
    u = create_user(server, admin, uniq("feed"))
    add_member(server, admin, a.id, u["id"], "member")
    utok = server.login_token(u["username"], USER_PASSWORD)
    p = create(server, owner.token, a.id, name="Feed")
    assert server.call("POST", f"/api/v1/projects/{p['id']}/members", owner.token,
                       json={"user_id": u["id"], "role": "viewer"}).status == 201
    assert server.call("PATCH", f"/api/v1/projects/{p['id']}", owner.token, json={"name": "Feed 2"},
                       if_match="*").status == 200
    assert server.call("POST", "/api/v1/tokens", utok, json={"name": "mine"}).status == 201

    # ?mine=true: only the projects the caller is a member of (the org admin sees p, but is not in it).
    assert p["id"] in [x["id"] for x in list_all(server, "/api/v1/projects?mine=true", utok)]
    assert p["id"] in [x["id"] for x in list_all(server, "/api/v1/projects", outsider.token)]
    assert p["id"] not in [x["id"] for x in list_all(server, "/api/v1/projects?mine=true", outsider.token)]
    assert is_problem(server.call("GET", "/api/v1/projects?mine=yes", utok), 400)

    feed = activity(server, utok)["items"]
    actions = [(e["action"], e["project_id"]) for e in feed]
    # Newest first: my own token, the owner's rename, my being added, the project's creation.
    assert actions[:4] == [("token.create", None), ("project.update", p["id"]), ("project.member.add", p["id"]),
                           ("project.create", p["id"])], actions
    assert not any(e["action"].startswith("auth.") for e in feed)
    upd = feed[1]
    assert upd["actor"] == owner.username and upd["org_slug"] == a.slug and upd["summary"] == {"name": "Feed 2"}
    assert upd["project"] == {"id": p["id"], "slug": p["slug"], "name": "Feed 2", "org_slug": a.slug}
    assert not {"client_ip", "token_id", "request_id", "hash"} & set(upd)
    # Cursor paging goes to older events and ends.
    first = activity(server, utok, limit=2)
    assert [e["seq"] for e in first["items"]] == [e["seq"] for e in feed[:2]] and first["next"]
    second = activity(server, utok, limit=2, after=first["next"])
    assert [e["seq"] for e in second["items"]] == [e["seq"] for e in feed[2:4]]
    assert is_problem(server.call("GET", "/api/v1/me/activity?after=zz", utok), 400)
    assert is_problem(server.call("GET", "/api/v1/me/activity?limit=0", utok), 400)
    assert server.call("GET", "/api/v1/me/activity").status == 401

    # Another member of the org who is not in the project, and every user of another tenant, see
    # none of its events.
    for tok in (outsider.token, b.users["org-admin"].token, b.users["member"].token):
        assert not [e for e in activity(server, tok, limit=100)["items"] if e["project_id"] == p["id"]]
    for tok in (b.users["org-admin"].token, b.users["member"].token, b.users["viewer"].token):
        assert not [e for e in activity(server, tok, limit=100)["items"] if e["org_id"] == a.id]

    # Removed from the org, the user sees nothing more of it, not even their own past actions there.
    assert server.call("DELETE", f"/api/v1/orgs/{a.id}/members/{u['id']}", admin, if_match="*").status == 204
    left = activity(server, utok, limit=100)["items"]
    assert left and {e["action"] for e in left} == {"token.create"}, left
