"""Tenant isolation: every route of the OpenAPI document, aimed at org B's objects by users of org A.

SWEEP below names, for every METHOD + path the server documents, how to fill its path parameters
with org B's objects, which body to send, and what an org-A caller must get:
  * 404 for anything in org B (never 403: that would confirm it exists),
  * 401/403 for instance-level routes (creating orgs or users, verifying the audit chain),
  * 2xx only where the route acts on the caller's own things (ALLOWED_2XX says why), and then the
    answer must not contain org B's objects.
Before and after each call, org B's state is snapshotted through the admin: nothing may change.
A route in openapi.json that SWEEP does not know fails test_sweep_knows_every_route: add it here.
"""
import pytest

from conftest import Browser, USER_PASSWORD, is_problem, list_all, wait_until
from images_fixture import busybox_layout, oci_registry  # noqa: F401

CALLERS = ("member", "org-admin")  # of org A
SERVER_ENV = {"ATRIUM_IMAGES_INSECURE_REGISTRIES": "127.0.0.1:*"}  # B's image comes from the test registry


class V:
    """One way to call a route: path parameter fillers, body, expectation per caller."""

    def __init__(self, expect, body=None, params=None, query="", name="", check=None):
        self.expect = expect if isinstance(expect, dict) else {c: expect for c in CALLERS}
        self.body = body
        self.params = params or {}
        self.query = query
        self.name = name
        self.check = check  # (ctx, resp) -> None, for 2xx answers


# Path parameter fillers: ctx -> value. ctx is the Sweep object below.
B_ORG = lambda c: c.b.id                       # noqa: E731
B_GROUP = lambda c: c.b.group["id"]            # noqa: E731
B_ROLE = lambda c: c.b.role["id"]              # noqa: E731
B_INV = lambda c: c.b.invitation["id"]         # noqa: E731
B_PROJECT = lambda c: c.b.project["id"]        # noqa: E731  private, owned by B's org-admin
B_ORG_PROJECT = lambda c: c.b.org_project["id"]  # noqa: E731  visibility org, owned by B's member
B_USER = lambda c: c.b.users["member"].id      # noqa: E731  a B-only user (in B's group too)
B_OWNER = lambda c: c.b.users["org-admin"].id  # noqa: E731  owner of B's private project
B_TOKEN = lambda c: c.b_token_id               # noqa: E731
B_SESSION = lambda c: c.b_browser.session_id   # noqa: E731
A_ORG = lambda c: c.a.id                       # noqa: E731
B_JOB = lambda c: c.b_job["id"]                # noqa: E731  a held job in B's private project
B_UPLOAD = lambda c: c.b_upload["id"]          # noqa: E731  an upload in progress in B's private project
B_FILE = lambda c: "b-secret.txt"              # noqa: E731  a file in B's private project
B_LINK = lambda c: c.b_link["id"]              # noqa: E731  a signed link to that file
B_DATASET = lambda c: c.b_dataset["id"]        # noqa: E731  a dataset with version 1 holding that file
B_ENV = lambda c: c.b_env["id"]                # noqa: E731  a READY terminal environment in B's private project
B_ENV_LINK = lambda c: c.b_env_link["id"]      # noqa: E731  a guest link to it
B_IMAGE = lambda c: c.b_image["id"]            # noqa: E731  a ready image in B's private project
B_REGISTRY = lambda c: c.b_registry["id"]      # noqa: E731  B's registry credentials
APP = lambda c: "terminal"                     # noqa: E731  an app of the (instance-level) catalog
B_SECRET = lambda c: "B_TOKEN"                 # noqa: E731  a secret of B's private project


def no_b_ids(field="id"):
    def check(c, r):
        ids = {x[field] for x in r.json["items"]}
        assert not ids & c.b_ids, (ids & c.b_ids, r)
    return check


def no_b_events(c, r):
    items = r.json["items"] if r.content_type == "application/json" else []
    assert all(e["org_id"] != c.b.id for e in items), r


def no_b_in_ndjson(c, r):
    assert c.b.id not in r.text


def empty_items(c, r):
    assert r.json["items"] == [], r


# Routes that may answer 2xx to an org-A caller, and why that is not a leak.
ALLOWED_2XX = {
    ("GET", "/healthz"): "public liveness probe",
    ("GET", "/readyz"): "public readiness probe",
    ("GET", "/metrics"): "public Prometheus metrics (route patterns only, no ids)",
    ("GET", "/api/v1/openapi.json"): "public API description",
    ("GET", "/api/v1/jobs"): "lists the caller's own jobs only",
    ("POST", "/api/v1/jobs/cancel"): "cancels the caller's own jobs only",
    ("GET", "/api/v1/compute"): "this node's capacity and totals (no ids)",
    ("GET", "/api/v1/compute/partitions"): "the partitions the caller's own orgs may use (checked: no B id)",
    ("GET", "/api/v1/auth/session"): "the caller's own identity",
    ("GET", "/api/v1/auth/recovery"): "public: whether this server mails reset links (no tenant data)",
    ("GET", "/api/v1/auth/sessions"): "the caller's own sessions",
    ("GET", "/api/v1/me"): "the caller's own profile",
    ("POST", "/api/v1/tokens"): "mints a token for the caller itself",
    ("GET", "/api/v1/tokens"): "the caller's own tokens",
    ("GET", "/api/v1/users"): "users sharing an org with the caller (checked: no B-only user)",
    ("GET", "/api/v1/orgs"): "the caller's own orgs (checked: not B)",
    ("GET", "/api/v1/projects"): "projects visible to the caller (checked: none of B's)",
    ("GET", "/api/v1/audit/events"): "an org-admin's own org's events (checked: none of B's)",
    ("GET", "/api/v1/audit/export"): "an org-admin's own org's events (checked: none of B's)",
    ("GET", "/api/v1/apps"): "the instance-level app catalog (no tenant data)",
    ("GET", "/api/v1/apps/{name}"): "one entry of the instance-level app catalog",
    ("GET", "/api/v1/envs"): "the caller's own environments only (checked: none of B's)",
    ("GET", "/api/v1/me/activity"): "events of the caller's projects and own actions (checked: none of B's)",
    ("GET", "/api/v1/me/usage"): "the caller's own jobs' usage (checked: none of B's projects)",
    ("GET", "/api/v1/auth/providers"): "the public sign-in options (no tenant data)",
    ("GET", "/api/v1/me/notifications"): "the caller's own notification preferences",
    ("PUT", "/api/v1/me/notifications"): "sets the caller's own notification preferences",
    ("GET", "/api/v1/me/mfa"): "the caller's own two-factor status",
    ("GET", "/api/v1/me/secrets"): "the caller's own secrets (names only; checked: none of B's)",
    ("POST", "/api/v1/me/mfa/totp"): "starts the caller's own two-factor enrolment (pending)",
}

SWEEP = {
    ("GET", "/healthz"): [V(200)],
    ("GET", "/readyz"): [V(200)],
    ("GET", "/metrics"): [V(200, check=lambda c, r: c.b.id not in r.text)],
    ("GET", "/api/v1/openapi.json"): [V(200)],
    # public, no tenant: a failed sign-in with an unknown name
    ("POST", "/api/v1/auth/login"): [V(401, body={"username": "nobody-at-all", "password": "wrong-password-1"})],
    ("POST", "/api/v1/auth/logout"): [V(400)],  # a bearer token has no session to end
    ("GET", "/api/v1/auth/providers"): [V(200, check=lambda c, r: c.b.id not in r.text)],
    ("GET", "/api/v1/auth/oidc/{name}/start"): [V(404, params={"name": lambda c: "no-such-provider"})],
    ("GET", "/api/v1/auth/oidc/{name}/callback"): [V(404, params={"name": lambda c: "no-such-provider"})],
    ("POST", "/api/v1/auth/ldap/{name}/login"): [
        V(404, params={"name": lambda c: "no-such-provider"}, body={"username": "alice", "password": "x-password"})],
    ("GET", "/api/v1/orgs/{org}/sso-rules"): [V(404, params={"org": B_ORG})],
    ("PUT", "/api/v1/orgs/{org}/sso-rules"): [V(404, params={"org": B_ORG}, body={"rules": []})],
    ("GET", "/api/v1/auth/session"): [V(200, check=lambda c, r: r.json["user"]["id"] == c.caller_id)],
    ("GET", "/api/v1/auth/sessions"): [V(200, check=no_b_ids())],
    ("DELETE", "/api/v1/auth/sessions/{id}"): [V(404, params={"id": B_SESSION})],
    ("POST", "/api/v1/auth/password"): [V(400, body={"current_password": "not-my-password",
                                                      "new_password": "whatever-password-1"})],
    ("GET", "/api/v1/me"): [V(200, check=lambda c, r: c.b.id not in r.text)],
    ("GET", "/api/v1/me/mfa"): [V(200, check=lambda c, r: c.b.id not in r.text)],
    ("POST", "/api/v1/me/mfa/totp"): [V(400, body={"password": "not-my-password"})],
    ("POST", "/api/v1/me/mfa/totp/confirm"): [V(400, body={"code": 5})],
    ("POST", "/api/v1/me/mfa/recovery-codes"): [V(400, body={"code": 5})],
    ("DELETE", "/api/v1/me/mfa"): [V(400, body={"password": "not-my-password"})],
    ("POST", "/api/v1/auth/login/mfa"): [V(401, body={"mfa_ticket": "no-such-ticket", "code": "123456"})],
    ("DELETE", "/api/v1/users/{id}/mfa"): [V(403, params={"id": B_USER})],
    ("GET", "/api/v1/orgs/{org}/mfa-policy"): [V(404, params={"org": B_ORG})],
    ("GET", "/api/v1/orgs/{org}/compute"): [V(404, params={"org": B_ORG})],
    ("PUT", "/api/v1/orgs/{org}/compute"): [V(404, params={"org": B_ORG}, body={"default_partition": "local"})],
    ("GET", "/api/v1/compute/partitions"): [V(200, check=lambda c, r: c.b.id not in r.text)],
    ("PUT", "/api/v1/orgs/{org}/mfa-policy"): [V(404, params={"org": B_ORG}, body={"require_mfa": True})],
    ("POST", "/api/v1/tokens"): [V(201, body={"name": "sweep"})],
    ("GET", "/api/v1/tokens"): [V(200, check=no_b_ids())],
    ("GET", "/api/v1/tokens/{id}"): [V(404, params={"id": B_TOKEN})],
    ("DELETE", "/api/v1/tokens/{id}"): [V(404, params={"id": B_TOKEN})],
    ("POST", "/api/v1/users"): [V(403, body={"username": "sweep-user", "password": "sweep-password-1"})],
    ("GET", "/api/v1/users"): [V(200, check=no_b_ids())],
    ("GET", "/api/v1/users/{id}"): [V(404, params={"id": B_USER})],
    ("PATCH", "/api/v1/users/{id}"): [V(404, params={"id": B_USER}, body={"display_name": "pwned"}),
                                      V(404, params={"id": B_USER}, body={"disabled": True}, name="disable")],
    ("DELETE", "/api/v1/users/{id}"): [V(404, params={"id": B_USER})],
    ("POST", "/api/v1/users/{id}/password-reset"): [V(404, params={"id": B_USER})],
    ("GET", "/api/v1/users/{id}/sessions"): [V(404, params={"id": B_USER})],
    ("DELETE", "/api/v1/users/{id}/sessions"): [V(404, params={"id": B_USER})],
    ("GET", "/api/v1/users/{id}/tokens"): [V(404, params={"id": B_USER})],
    ("GET", "/api/v1/users/{id}/orgs"): [V(404, params={"id": B_USER})],
    # public, no tenant: account recovery (this server sends no mail; links are unknown)
    ("GET", "/api/v1/auth/recovery"): [V(200, check=lambda c, r: r.json["password_reset"] is False)],
    ("POST", "/api/v1/auth/password-reset"): [V(409, body={"username": "nobody-at-all"})],
    ("POST", "/api/v1/auth/password-reset/check"): [V(400, body={"token": "art_x.y"})],
    ("POST", "/api/v1/auth/password-reset/confirm"): [V(400, body={"token": "art_x.y",
                                                                   "new_password": "whatever-password-1"})],
    ("POST", "/api/v1/auth/verify-email"): [V(400, body={"token": "art_x.y"})],
    ("POST", "/api/v1/me/email/verify"): [V(409)],  # the caller's own address: none set
    ("POST", "/api/v1/orgs"): [V(403, body={"slug": "sweep-org", "name": "Sweep"})],
    ("GET", "/api/v1/orgs"): [V(200, check=no_b_ids())],
    ("GET", "/api/v1/orgs/{org}"): [V(404, params={"org": B_ORG}),
                                    V(404, params={"org": lambda c: c.b.slug}, name="slug")],
    ("GET", "/api/v1/orgs/{org}/projects/{project}"): [
        V(404, params={"org": B_ORG, "project": lambda c: c.b.project["slug"]}),
        V(404, params={"org": B_ORG, "project": lambda c: c.b.org_project["slug"]}, name="org-visible")],
    ("PATCH", "/api/v1/orgs/{org}"): [V(404, params={"org": B_ORG}, body={"name": "pwned"}),
                                      V(404, params={"org": B_ORG}, body={"disabled": True}, name="disable")],
    ("DELETE", "/api/v1/orgs/{org}"): [V(404, params={"org": B_ORG})],
    ("GET", "/api/v1/orgs/{org}/members"): [V(404, params={"org": B_ORG})],
    ("POST", "/api/v1/orgs/{org}/members"): [
        V(404, params={"org": B_ORG}, body={"user_id": "$caller", "role": "org-admin"})],
    ("PATCH", "/api/v1/orgs/{org}/members/{user}"): [
        V(404, params={"org": B_ORG, "user": B_USER}, body={"role": "org-admin"})],
    ("DELETE", "/api/v1/orgs/{org}/members/{user}"): [V(404, params={"org": B_ORG, "user": B_USER})],
    ("GET", "/api/v1/orgs/{org}/groups"): [V(404, params={"org": B_ORG})],
    ("POST", "/api/v1/orgs/{org}/groups"): [V(404, params={"org": B_ORG}, body={"slug": "sweep", "name": "S"})],
    ("GET", "/api/v1/groups/{id}"): [V(404, params={"id": B_GROUP})],
    ("PATCH", "/api/v1/groups/{id}"): [V(404, params={"id": B_GROUP}, body={"name": "pwned"})],
    ("DELETE", "/api/v1/groups/{id}"): [V(404, params={"id": B_GROUP})],
    ("GET", "/api/v1/groups/{id}/members"): [V(404, params={"id": B_GROUP})],
    ("POST", "/api/v1/groups/{id}/members"): [V(404, params={"id": B_GROUP}, body={"user_id": "$caller"})],
    ("DELETE", "/api/v1/groups/{id}/members/{user}"): [V(404, params={"id": B_GROUP, "user": B_USER})],
    ("GET", "/api/v1/orgs/{org}/roles"): [V(404, params={"org": B_ORG})],
    ("POST", "/api/v1/orgs/{org}/roles"): [
        V(404, params={"org": B_ORG}, body={"name": "sweep", "permissions": ["orgs:read:org"]})],
    ("GET", "/api/v1/roles/{id}"): [V(404, params={"id": B_ROLE})],
    ("PATCH", "/api/v1/roles/{id}"): [V(404, params={"id": B_ROLE}, body={"permissions": ["members:*:org"]})],
    ("DELETE", "/api/v1/roles/{id}"): [V(404, params={"id": B_ROLE})],
    ("GET", "/api/v1/orgs/{org}/invitations"): [V(404, params={"org": B_ORG})],
    ("POST", "/api/v1/orgs/{org}/invitations"): [V(404, params={"org": B_ORG}, body={"role": "org-admin"}),
                                                 V(404, params={"org": B_ORG}, body={"role": "viewer"}, name="viewer")],
    ("DELETE", "/api/v1/invitations/{id}"): [V(404, params={"id": B_INV})],
    # public: only the holder of a valid token may register; a guessed one is refused
    ("POST", "/api/v1/invitations/accept"): [
        V(400, body={"token": "inv_01ZZZZZZZZZZZZZZZZZZZZZZZZ.bm9uY2U.bWFj", "username": "sweep-accept",
                     "password": "sweep-password-1"})],
    ("GET", "/api/v1/orgs/{org}/quotas"): [V(404, params={"org": B_ORG})],
    ("GET", "/api/v1/orgs/{org}/usage"): [V(404, params={"org": B_ORG}),
                                          V(404, params={"org": B_ORG}, query="?by=nonsense", name="bad-input")],
    ("GET", "/api/v1/orgs/{org}/fairshare"): [V(404, params={"org": B_ORG})],
    ("GET", "/api/v1/orgs/{org}/quotas/{kind}/{subject}"): [
        V(404, params={"org": B_ORG, "kind": lambda c: "org", "subject": B_ORG}, name="org"),
        V(404, params={"org": B_ORG, "kind": lambda c: "group", "subject": B_GROUP}, name="group"),
        V(404, params={"org": B_ORG, "kind": lambda c: "user", "subject": B_USER}, name="user"),
        V(404, params={"org": A_ORG, "kind": lambda c: "group", "subject": B_GROUP}, name="own-org-foreign-group"),
        V(404, params={"org": A_ORG, "kind": lambda c: "user", "subject": B_USER}, name="own-org-foreign-user"),
        V(404, params={"org": A_ORG, "kind": lambda c: "org", "subject": B_ORG}, name="own-org-foreign-org")],
    ("PUT", "/api/v1/orgs/{org}/quotas/{kind}/{subject}"): [
        V(404, params={"org": B_ORG, "kind": lambda c: "org", "subject": B_ORG}, body={"cpu_hours": 1}, name="org"),
        V(404, params={"org": B_ORG, "kind": lambda c: "group", "subject": B_GROUP}, body={"cpu_hours": 1},
          name="group"),
        V(404, params={"org": B_ORG, "kind": lambda c: "user", "subject": B_USER}, body={"cpu_hours": 1},
          name="user"),
        V(404, params={"org": A_ORG, "kind": lambda c: "group", "subject": B_GROUP}, body={"cpu_hours": 1},
          name="own-org-foreign-group"),
        V(404, params={"org": A_ORG, "kind": lambda c: "user", "subject": B_USER}, body={"cpu_hours": 1},
          name="own-org-foreign-user")],
    ("POST", "/api/v1/orgs/{org}/projects"): [V(404, params={"org": B_ORG}, body={"slug": "sweep", "name": "S"})],
    ("GET", "/api/v1/projects"): [V(200, check=no_b_ids()),
                                  V(200, query="?org={b}", check=empty_items, name="org-filter"),
                                  V(200, query="?q=secret&archived=any", check=no_b_ids(), name="search")],
    ("GET", "/api/v1/projects/{id}"): [V(404, params={"id": B_PROJECT}),
                                       V(404, params={"id": B_ORG_PROJECT}, name="org-visible")],
    ("PATCH", "/api/v1/projects/{id}"): [
        V(404, params={"id": B_PROJECT}, body={"name": "pwned"}),
        V(404, params={"id": B_ORG_PROJECT}, body={"visibility": "instance"}, name="org-visible")],
    ("DELETE", "/api/v1/projects/{id}"): [V(404, params={"id": B_PROJECT}),
                                          V(404, params={"id": B_ORG_PROJECT}, name="org-visible")],
    ("GET", "/api/v1/projects/{id}/members"): [V(404, params={"id": B_PROJECT}),
                                               V(404, params={"id": B_ORG_PROJECT}, name="org-visible")],
    ("POST", "/api/v1/projects/{id}/members"): [
        V(404, params={"id": B_PROJECT}, body={"user_id": "$caller", "role": "owner"})],
    ("PATCH", "/api/v1/projects/{id}/members/{user}"): [
        V(404, params={"id": B_PROJECT, "user": B_OWNER}, body={"role": "viewer"})],
    ("DELETE", "/api/v1/projects/{id}/members/{user}"): [V(404, params={"id": B_PROJECT, "user": B_OWNER})],
    ("GET", "/api/v1/audit/events"): [
        V({"member": 403, "org-admin": 200}, check=no_b_events),
        V(404, query="?org={b}", name="org-filter")],
    ("GET", "/api/v1/audit/export"): [
        V({"member": 403, "org-admin": 200}, check=no_b_in_ndjson),
        V(404, query="?org={b}", name="org-filter")],
    ("GET", "/api/v1/audit/verify"): [V(403), V(404, query="?org={b}", name="org-share")],
    ("POST", "/api/v1/projects/{id}/jobs"): [
        V(404, params={"id": B_PROJECT}, body={"command": ["true"]}),
        V(404, params={"id": B_ORG_PROJECT}, body={"command": ["true"]}, name="org-visible"),
        V(404, params={"id": B_ORG_PROJECT}, body={"command": ["true"], "cpus": -1}, name="bad-value")],
    ("GET", "/api/v1/projects/{id}/jobs"): [V(404, params={"id": B_PROJECT}),
                                            V(404, params={"id": B_ORG_PROJECT}, name="org-visible")],
    ("GET", "/api/v1/jobs"): [V(200, check=no_b_ids()),
                              V(404, query="?org={b}", name="org-filter")],
    ("GET", "/api/v1/jobs/{id}"): [V(404, params={"id": B_JOB})],
    # Without ?project= the stream shows the caller's own jobs only (test_jobs.py checks B's never appear).
    ("GET", "/api/v1/envs/events"): [V(404, query="?project={bp}")],
    ("GET", "/api/v1/jobs/events"): [V(404, query="?project={bp}"),
                                     V(404, query="?project={bp}&after=x", name="bad-query")],
    # the environment tunnel takes only the job's exec token: a user's API token is nobody there
    ("GET", "/api/v1/exec/jobs/{id}/tunnel"): [V(404, params={"id": B_JOB})],
    ("GET", "/api/v1/jobs/{id}/logs"): [V(404, params={"id": B_JOB}),
                                        V(404, params={"id": B_JOB}, query="?stream=bogus", name="bad-query")],
    ("POST", "/api/v1/jobs/{id}/cancel"): [V(404, params={"id": B_JOB})],
    ("POST", "/api/v1/jobs/{id}/hold"): [V(404, params={"id": B_JOB})],
    ("POST", "/api/v1/jobs/{id}/release"): [V(404, params={"id": B_JOB})],
    ("POST", "/api/v1/jobs/{id}/requeue"): [V(404, params={"id": B_JOB})],
    ("POST", "/api/v1/jobs/cancel"): [V(200, body={}, check=lambda c, r: r.json["cancelled"] == [] or
                                        not set(r.json["cancelled"]) & c.b_ids)],
    ("GET", "/api/v1/compute"): [V(200, check=lambda c, r: c.b.id not in r.text)],
    ("POST", "/api/v1/projects/{id}/uploads"): [
        V(404, params={"id": B_PROJECT}, body={"path": "x.txt", "size": 1}),
        V(404, params={"id": B_ORG_PROJECT}, body={"path": "x.txt", "size": 1}, name="org-visible"),
        V(404, params={"id": B_ORG_PROJECT}, body={"path": "../x", "size": -1}, name="bad-value")],
    ("GET", "/api/v1/projects/{id}/uploads"): [V(404, params={"id": B_PROJECT})],
    ("GET", "/api/v1/uploads/{id}"): [V(404, params={"id": B_UPLOAD})],
    ("PATCH", "/api/v1/uploads/{id}"): [V(404, params={"id": B_UPLOAD})],
    ("POST", "/api/v1/uploads/{id}/complete"): [V(404, params={"id": B_UPLOAD}, body={})],
    ("DELETE", "/api/v1/uploads/{id}"): [V(404, params={"id": B_UPLOAD})],
    ("GET", "/api/v1/projects/{id}/files"): [V(404, params={"id": B_PROJECT}),
                                             V(404, params={"id": B_ORG_PROJECT}, name="org-visible")],
    ("GET", "/api/v1/projects/{id}/files/{path}"): [
        V(404, params={"id": B_PROJECT, "path": B_FILE}),
        V(404, params={"id": B_PROJECT, "path": B_FILE}, query="?stat=true", name="stat"),
        V(404, params={"id": B_PROJECT, "path": lambda c: "no/such/file"}, name="missing")],
    ("DELETE", "/api/v1/projects/{id}/files/{path}"): [V(404, params={"id": B_PROJECT, "path": B_FILE})],
    ("POST", "/api/v1/projects/{id}/files-move"): [
        V(404, params={"id": B_PROJECT}, body={"from": "b-secret.txt", "to": "stolen.txt"})],
    ("POST", "/api/v1/admin/gc"): [V(403, body={"dry_run": True})],
    # the instance's queue and environments: instance administrators only
    ("GET", "/api/v1/admin/compute/queue"): [V(403), V(403, query="?state=PENDING", name="filtered")],
    ("GET", "/api/v1/admin/envs"): [V(403), V(403, query="?active=false", name="filtered")],
    ("GET", "/api/v1/admin/health"): [V(403), V(403, query="?since=0", name="since")],
    # the task queue: instance administrators only (tasks are not tenant objects)
    ("GET", "/api/v1/tasks"): [V(403), V(403, query="?state=dead", name="filtered")],
    ("GET", "/api/v1/tasks/{id}"): [V(403, params={"id": lambda c: "tsk_0000000000000000"})],
    ("POST", "/api/v1/tasks/{id}/retry"): [V(403, params={"id": lambda c: "tsk_0000000000000000"})],
    ("DELETE", "/api/v1/tasks/{id}"): [V(403, params={"id": lambda c: "tsk_0000000000000000"})],
    # alerts: instance administrators only (rules on the server's own health are not tenant objects)
    ("GET", "/api/v1/admin/alerts/figures"): [V(403)],
    ("GET", "/api/v1/admin/alerts/rules"): [V(403)],
    ("POST", "/api/v1/admin/alerts/rules"): [
        V(403, body={"name": "x", "figure": "disk_free_ratio", "op": "<", "threshold": 2})],
    ("GET", "/api/v1/admin/alerts/rules/{id}"): [V(403, params={"id": lambda c: "alr_0000000000000000"})],
    ("PATCH", "/api/v1/admin/alerts/rules/{id}"): [
        V(403, params={"id": lambda c: "alr_0000000000000000"}, body={"threshold": 1})],
    ("DELETE", "/api/v1/admin/alerts/rules/{id}"): [V(403, params={"id": lambda c: "alr_0000000000000000"})],
    ("POST", "/api/v1/admin/alerts/rules/{id}/test"): [V(403, params={"id": lambda c: "alr_0000000000000000"})],
    ("GET", "/api/v1/admin/alerts/current"): [V(403)],
    ("GET", "/api/v1/admin/alerts/events"): [V(403)],
    ("GET", "/api/v1/me/notifications"): [V(200, check=lambda c, r: c.b.id not in r.text)],
    ("PUT", "/api/v1/me/notifications"): [V(200, body={"locale": "en"}, check=lambda c, r: c.b.id not in r.text)],
    ("POST", "/api/v1/projects/{id}/links"): [
        V(404, params={"id": B_PROJECT}, body={"path": "b-secret.txt"}),
        V(404, params={"id": B_ORG_PROJECT}, body={"path": "b-secret.txt"}, name="org-visible")],
    ("GET", "/api/v1/projects/{id}/links"): [V(404, params={"id": B_PROJECT})],
    ("DELETE", "/api/v1/links/{id}"): [V(404, params={"id": B_LINK})],
    ("POST", "/api/v1/projects/{id}/datasets"): [V(404, params={"id": B_PROJECT}, body={"name": "mine"}),
                                                 V(404, params={"id": B_ORG_PROJECT}, body={"name": "mine"},
                                                   name="org-visible")],
    ("GET", "/api/v1/projects/{id}/datasets"): [V(404, params={"id": B_PROJECT})],
    ("GET", "/api/v1/datasets/{id}"): [V(404, params={"id": B_DATASET})],
    ("POST", "/api/v1/datasets/{id}/versions"): [V(404, params={"id": B_DATASET}, body={"prefix": ""})],
    ("GET", "/api/v1/datasets/{id}/versions/{n}"): [V(404, params={"id": B_DATASET, "n": lambda c: "1"})],
    ("GET", "/api/v1/datasets/{id}/versions/{n}/files"): [V(404, params={"id": B_DATASET, "n": lambda c: "1"})],
    ("GET", "/api/v1/datasets/{id}/versions/{n}/files/{path}"): [
        V(404, params={"id": B_DATASET, "n": lambda c: "1", "path": B_FILE})],
    ("GET", "/api/v1/datasets/{id}/diff"): [V(404, params={"id": B_DATASET}, query="?from=1&to=1")],
    ("POST", "/api/v1/datasets/{id}/versions/{n}/links"): [
        V(404, params={"id": B_DATASET, "n": lambda c: "1"}, body={})],
    ("GET", "/api/v1/projects/{id}/repo"): [V(404, params={"id": B_PROJECT})],
    ("GET", "/api/v1/projects/{id}/repo/branches"): [V(404, params={"id": B_PROJECT})],
    ("GET", "/api/v1/projects/{id}/repo/tags"): [V(404, params={"id": B_PROJECT})],
    ("GET", "/api/v1/projects/{id}/repo/commits"): [V(404, params={"id": B_PROJECT}),
                                                    V(404, params={"id": B_ORG_PROJECT}, name="org-visible")],
    ("GET", "/api/v1/projects/{id}/repo/commits/{ref}"): [V(404, params={"id": B_PROJECT, "ref": lambda c: "main"})],
    ("GET", "/api/v1/projects/{id}/repo/commits/{ref}/diff"): [
        V(404, params={"id": B_PROJECT, "ref": lambda c: "main"})],
    ("GET", "/api/v1/projects/{id}/repo/tree"): [V(404, params={"id": B_PROJECT})],
    ("GET", "/api/v1/projects/{id}/repo/files/{path}"): [
        V(404, params={"id": B_PROJECT, "path": lambda c: "README.md"}),
        V(404, params={"id": B_PROJECT, "path": lambda c: "README.md"}, query="?format=json", name="json")],
    ("PUT", "/api/v1/projects/{id}/repo/files/{path}"): [
        V(404, params={"id": B_PROJECT, "path": lambda c: "README.md"}, body={"branch": "main", "content": "x"}),
        V(404, params={"id": B_PROJECT, "path": lambda c: "new.txt"}, body={"branch": "x", "content": "x"},
          name="new-file")],
    ("DELETE", "/api/v1/projects/{id}/repo/files/{path}"): [
        V(404, params={"id": B_PROJECT, "path": lambda c: "README.md"}, query="?branch=main")],
    ("GET", "/api/v1/projects/{id}/repo/compare"): [V(404, params={"id": B_PROJECT}, query="?from=main&to=main")],
    ("GET", "/api/v1/projects/{id}/repo/protected-branches"): [V(404, params={"id": B_PROJECT})],
    ("POST", "/api/v1/projects/{id}/repo/protected-branches"): [
        V(404, params={"id": B_PROJECT}, body={"pattern": "main"})],
    ("DELETE", "/api/v1/projects/{id}/repo/protected-branches/{pattern}"): [
        V(404, params={"id": B_PROJECT, "pattern": lambda c: "main"})],
    # environments and the app catalog
    ("GET", "/api/v1/apps"): [V(200)],
    ("GET", "/api/v1/apps/{name}"): [V(200, params={"name": APP})],
    ("PUT", "/api/v1/apps/{name}"): [V(403, params={"name": APP}, body={"idle_timeout_s": 1})],
    ("DELETE", "/api/v1/apps/{name}"): [V(403, params={"name": APP})],
    ("POST", "/api/v1/projects/{id}/envs"): [
        V(404, params={"id": B_PROJECT}, body={"app": "terminal"}),
        V(404, params={"id": B_ORG_PROJECT}, body={"app": "terminal"}, name="org-visible")],
    ("GET", "/api/v1/projects/{id}/envs"): [V(404, params={"id": B_PROJECT})],
    # secrets: B's project's are not there for A; one's own are one's own (B's member's not among them)
    ("GET", "/api/v1/projects/{id}/secrets"): [V(404, params={"id": B_PROJECT}),
                                               V(404, params={"id": B_ORG_PROJECT}, name="org-visible")],
    ("GET", "/api/v1/projects/{id}/secrets/{name}"): [V(404, params={"id": B_PROJECT, "name": B_SECRET})],
    ("PUT", "/api/v1/projects/{id}/secrets/{name}"): [
        V(404, params={"id": B_PROJECT, "name": B_SECRET}, body={"value": "overwrite"}),
        V(404, params={"id": B_PROJECT, "name": lambda c: "NEW_ONE"}, body={"value": "x"}, name="new")],
    ("DELETE", "/api/v1/projects/{id}/secrets/{name}"): [V(404, params={"id": B_PROJECT, "name": B_SECRET})],
    ("GET", "/api/v1/me/secrets"): [V(200, check=lambda c, r: "B_OWN" not in r.text)],
    ("GET", "/api/v1/me/secrets/{name}"): [V(404, params={"name": lambda c: "B_OWN"})],
    ("PUT", "/api/v1/me/secrets/{name}"): [V(400, params={"name": lambda c: "B_OWN"}, body={"value": ""})],
    ("DELETE", "/api/v1/me/secrets/{name}"): [V(404, params={"name": lambda c: "B_OWN"})],
    # image builds (the build reads B's repository: 404 before the body is looked at)
    ("POST", "/api/v1/projects/{id}/images/build"): [
        V(404, params={"id": B_PROJECT}, body={"spec": "atrium-env.toml"}),
        V(404, params={"id": B_ORG_PROJECT}, body={"spec": "atrium-env.toml"}, name="org-visible")],
    ("GET", "/api/v1/projects/{id}/images/builds/{build_id}"): [
        V(404, params={"id": B_PROJECT, "build_id": lambda c: "imb_none"})],
    ("GET", "/api/v1/envs"): [V(200, check=no_b_ids())],
    ("GET", "/api/v1/me/activity"): [V(200, check=no_b_ids())],
    ("GET", "/api/v1/me/usage"): [V(200, check=no_b_ids("project_id")),
                                  V(200, check=lambda c, r: not {p["id"] for p in r.json["projects"]} & c.b_ids)],
    ("GET", "/api/v1/envs/{id}"): [V(404, params={"id": B_ENV})],
    ("POST", "/api/v1/envs/{id}/stop"): [V(404, params={"id": B_ENV})],
    ("POST", "/api/v1/envs/{id}/sync"): [V(404, params={"id": B_ENV})],
    ("GET", "/api/v1/envs/{id}/events"): [V(404, params={"id": B_ENV})],
    ("GET", "/api/v1/envs/{id}/logs"): [V(404, params={"id": B_ENV})],
    ("POST", "/api/v1/envs/{id}/links"): [V(404, params={"id": B_ENV}, body={"ttl_s": 600})],
    ("GET", "/api/v1/envs/{id}/links"): [V(404, params={"id": B_ENV})],
    ("DELETE", "/api/v1/envs/{id}/links/{link}"): [V(404, params={"id": B_ENV, "link": B_ENV_LINK})],
    ("POST", "/api/v1/projects/{id}/images"): [
        V(404, params={"id": B_PROJECT}, body={"name": "sweep", "source": "docker://127.0.0.1:1/x/y:z"})],
    ("POST", "/api/v1/projects/{id}/images/import"): [
        V(404, params={"id": B_PROJECT}, body={"name": "sweep", "file": "b-secret.txt"})],
    ("GET", "/api/v1/projects/{id}/images"): [V(404, params={"id": B_PROJECT})],
    ("GET", "/api/v1/projects/{id}/images/default"): [V(404, params={"id": B_PROJECT})],
    ("PUT", "/api/v1/projects/{id}/images/default"): [V(404, params={"id": B_PROJECT}, body={"image": None})],
    ("POST", "/api/v1/orgs/{org}/images"): [
        V(404, params={"org": B_ORG}, body={"name": "sweep", "source": "docker://127.0.0.1:1/x/y:z"})],
    ("GET", "/api/v1/orgs/{org}/images"): [V(404, params={"org": B_ORG})],
    ("GET", "/api/v1/images/{id}"): [V(404, params={"id": B_IMAGE})],
    ("DELETE", "/api/v1/images/{id}"): [V(404, params={"id": B_IMAGE})],
    ("GET", "/api/v1/orgs/{org}/registries"): [V(404, params={"org": B_ORG})],
    ("POST", "/api/v1/orgs/{org}/registries"): [
        V(404, params={"org": B_ORG}, body={"host": "sweep.example", "username": "u", "password": "p"})],
    ("DELETE", "/api/v1/orgs/{org}/registries/{rid}"): [V(404, params={"org": B_ORG, "rid": B_REGISTRY})],
}

# Routes whose bad-body answer comes before the tenant check: known server bugs.


class Sweep:
    def __init__(self, server, world, registry=None, layout=None):
        self.s = server
        self.world = world
        self.a, self.b = world.a, world.b
        self.admin = server.admin
        b_member = self.b.users["member"]
        self.b_browser = Browser(server, b_member.username, USER_PASSWORD)
        self.b_token_id = server.call("GET", "/api/v1/me", b_member.token).json["token_id"]
        self.b_ids = {self.b.id, self.b.group["id"], self.b.role["id"], self.b.invitation["id"],
                      self.b.project["id"], self.b.org_project["id"], self.b_token_id, self.b_browser.session_id}
        self.b_ids |= {u.id for u in self.b.users.values()}
        owner = self.b.users["org-admin"]
        r = server.call("POST", f"/api/v1/projects/{self.b.project['id']}/jobs", owner.token,
                        json={"command": ["true"], "hold": True, "name": "b-secret-job"})
        assert r.status == 201, r
        self.b_job = r.json
        self.b_ids.add(self.b_job["id"])
        # A file and an upload in progress in B's private project.
        pid = self.b.project["id"]
        r = server.call("POST", f"/api/v1/projects/{pid}/uploads", owner.token, json={"path": "b-secret.txt", "size": 6})
        assert r.status == 201, r
        r = server.call("PATCH", f"/api/v1/uploads/{r.json['id']}", owner.token, body=b"secret",
                        headers={"Upload-Offset": "0"})
        assert r.status == 200, r
        assert server.call("POST", f"/api/v1/uploads/{r.json['id']}/complete", owner.token, json={}).status == 201
        r = server.call("POST", f"/api/v1/projects/{pid}/uploads", owner.token, json={"path": "b-pending.txt", "size": 10})
        assert r.status == 201, r
        self.b_upload = r.json
        self.b_ids.add(self.b_upload["id"])
        r = server.call("POST", f"/api/v1/projects/{pid}/links", owner.token, json={"path": "b-secret.txt"})
        assert r.status == 201, r
        self.b_link = r.json
        self.b_ids.add(self.b_link["id"])
        r = server.call("POST", f"/api/v1/projects/{pid}/datasets", owner.token, json={"name": "b-data"})
        assert r.status == 201, r
        self.b_dataset = r.json
        self.b_ids.add(self.b_dataset["id"])
        r = server.call("POST", f"/api/v1/datasets/{self.b_dataset['id']}/versions", owner.token, json={"prefix": ""})
        assert r.status == 201, r
        # A commit on main and a protected branch in B's private project.
        r = server.call("PUT", f"/api/v1/projects/{pid}/repo/files/README.md", owner.token,
                        json={"branch": "main", "content": "b secret\n"}, headers={"If-None-Match": "*"})
        assert r.status == 201, r
        r = server.call("POST", f"/api/v1/projects/{pid}/repo/protected-branches", owner.token, json={"pattern": "main"})
        assert r.status == 201, r
        # A project secret of B's private project, and one of B's member.
        r = server.call("PUT", f"/api/v1/projects/{pid}/secrets/B_TOKEN", owner.token, json={"value": "b-secret-value"})
        assert r.status == 201, r
        r = server.call("PUT", "/api/v1/me/secrets/B_OWN", b_member.token, json={"value": "b-own-value"})
        assert r.status == 201, r
        # A running terminal environment with a guest link in B's private project.
        r = server.call("POST", f"/api/v1/projects/{pid}/envs", owner.token, json={"app": "terminal", "cpus": 1})
        assert r.status == 201, r
        self.b_env = r.json
        self.b_ids.add(self.b_env["id"])
        wait_until(lambda: server.call("GET", f"/api/v1/envs/{self.b_env['id']}", owner.token).json["state"]
                   in ("READY", "FAILED"), 60, 0.1, "B's environment to be ready")
        assert server.call("GET", f"/api/v1/envs/{self.b_env['id']}", owner.token).json["state"] == "READY"
        r = server.call("POST", f"/api/v1/envs/{self.b_env['id']}/links", owner.token, json={"ttl_s": 3600})
        assert r.status == 201, r
        self.b_env_link = r.json
        self.b_ids.add(self.b_env_link["id"])
        # A ready image in B's private project (its default) and B's registry credentials.
        registry.push(layout, "v1", "sweep/busybox")
        r = server.call("POST", f"/api/v1/projects/{pid}/images", owner.token,
                        json={"name": "b-image", "source": registry.ref("sweep/busybox", "v1"), "default": True})
        assert r.status in (201, 202), r
        self.b_image = r.json
        wait_until(lambda: server.call("GET", f"/api/v1/images/{self.b_image['id']}", owner.token).json["state"]
                   != "pending", 60, 0.05, "B's image to be pulled")
        self.b_ids.add(self.b_image["id"])
        r = server.call("POST", f"/api/v1/orgs/{self.b.id}/registries", owner.token,
                        json={"host": "b-registry.example", "username": "b-user", "password": "b-registry-password"})
        assert r.status == 201, r
        self.b_registry = r.json
        self.b_ids.add(self.b_registry["id"])
        self.caller_id = None
        self.baseline = self.snapshot()

    def close(self):
        owner = self.b.users["org-admin"]
        self.s.call("POST", f"/api/v1/envs/{self.b_env['id']}/stop", owner.token)
        wait_until(lambda: self.s.call("GET", f"/api/v1/envs/{self.b_env['id']}", owner.token).json["state"]
                   in ("STOPPED", "FAILED"), 60, 0.1, "B's environment to stop")

    def assert_unchanged(self):
        """Compares org B's state with the baseline (re-based on a change, so that one leak
        fails one case, not every case after it)."""
        now = self.snapshot()
        if now != self.baseline:
            changed = sorted(k for k in set(now) | set(self.baseline) if now.get(k) != self.baseline.get(k))
            self.baseline = now
            raise AssertionError(f"org B's state changed: {changed}")

    def snapshot(self):
        """Org B's state as the admin sees it (volatile usage timestamps left out)."""
        s, adm, b = self.s, self.admin, self.b

        def get(path):
            r = s.call("GET", path, adm)
            assert r.status == 200, r
            return r.json

        snap = {
            "org": get(f"/api/v1/orgs/{b.id}"),
            "members": list_all(s, f"/api/v1/orgs/{b.id}/members", adm),
            "groups": list_all(s, f"/api/v1/orgs/{b.id}/groups", adm),
            "roles": get(f"/api/v1/orgs/{b.id}/roles")["items"],
            "invitations": list_all(s, f"/api/v1/orgs/{b.id}/invitations", adm),
            "quotas": get(f"/api/v1/orgs/{b.id}/quotas")["items"],
            "projects": list_all(s, f"/api/v1/projects?org={b.id}&archived=any", adm),
            "audit": list_all(s, f"/api/v1/audit/events?org={b.id}", adm, limit=1000),
            "users": [get(f"/api/v1/users/{u.id}") for u in b.users.values()],
            "all_users": len(list_all(s, "/api/v1/users", adm)),
            "all_orgs": len(list_all(s, "/api/v1/orgs", adm)),
        }
        for g in snap["groups"]:
            snap[f"group-members {g['id']}"] = list_all(s, f"/api/v1/groups/{g['id']}/members", adm)
        for p in snap["projects"]:
            snap[f"project-members {p['id']}"] = list_all(s, f"/api/v1/projects/{p['id']}/members", adm)
            jobs = list_all(s, f"/api/v1/projects/{p['id']}/jobs", adm)
            snap[f"project-jobs {p['id']}"] = [(j["id"], j["state"], j["held"], j["etag"]) for j in jobs]
            snap[f"project-files {p['id']}"] = list_all(s, f"/api/v1/projects/{p['id']}/files", adm)
            snap[f"project-links {p['id']}"] = list_all(s, f"/api/v1/projects/{p['id']}/links", adm)
            snap[f"project-branches {p['id']}"] = list_all(s, f"/api/v1/projects/{p['id']}/repo/branches", adm)
            snap[f"project-protected {p['id']}"] = get(f"/api/v1/projects/{p['id']}/repo/protected-branches")
            snap[f"project-secrets {p['id']}"] = list_all(s, f"/api/v1/projects/{p['id']}/secrets", adm)
            snap[f"project-images {p['id']}"] = list_all(s, f"/api/v1/projects/{p['id']}/images", adm)
            snap[f"project-default-image {p['id']}"] = get(f"/api/v1/projects/{p['id']}/images/default")
            for d in list_all(s, f"/api/v1/projects/{p['id']}/datasets", adm, limit=100):
                snap[f"dataset {d['id']}"] = get(f"/api/v1/datasets/{d['id']}")
        snap["org-images"] = list_all(s, f"/api/v1/orgs/{b.id}/images", adm)
        snap["registries"] = get(f"/api/v1/orgs/{b.id}/registries")["items"]
        up = s.call("GET", f"/api/v1/uploads/{self.b_upload['id']}", b.users["org-admin"].token)
        snap["b_upload"] = (up.status, up.json.get("offset"), up.json.get("updated"))
        env = get(f"/api/v1/envs/{self.b_env['id']}")
        snap["b_env"] = (env["state"], env["etag"])
        snap["b_env_links"] = get(f"/api/v1/envs/{self.b_env['id']}/links")["items"]
        snap["b_envs"] = [(e["id"], e["state"]) for p in snap["projects"]
                          for e in list_all(s, f"/api/v1/projects/{p['id']}/envs", adm)]
        tok = get(f"/api/v1/tokens/{self.b_token_id}")
        tok.pop("last_used_at")
        snap["token"] = tok
        # B's credentials still work.
        snap["b_token_works"] = s.call("GET", "/api/v1/me", b.users["member"].token).status
        snap["b_session_works"] = self.b_browser.call("GET", "/api/v1/auth/session").status
        return snap


@pytest.fixture(scope="module")
def sweep(server, world, oci_registry, busybox_layout):
    sw = Sweep(server, world, oci_registry, busybox_layout)
    yield sw
    sw.close()


def fill(sw, path, v, caller_id):
    out = path
    for name, f in v.params.items():
        out = out.replace("{" + name + "}", f(sw))
    assert "{" not in out, f"unfilled parameter in {out}"
    return out + v.query.replace("{b}", sw.b.id).replace("{bp}", sw.b.project["id"])


def body_of(v, caller_id):
    if v.body is None:
        return None
    return {k: (caller_id if val == "$caller" else val) for k, val in v.body.items()}


def cases(bad_body=False):
    for (method, path), variants in SWEEP.items():
        for v in variants:
            for caller in CALLERS:
                exp = v.expect[caller]
                if bad_body and not (exp == 404 and method in ("POST", "PATCH", "PUT")):
                    continue
                vid = f"{method} {path}" + (f" [{v.name}]" if v.name else "") + f" as {caller}"
                yield pytest.param(method, path, v, caller, id=vid)


def test_sweep_knows_every_route(server):
    doc = server.call("GET", "/api/v1/openapi.json").json
    documented = {(m.upper(), p) for p, ops in doc["paths"].items() for m in ops}
    unknown = documented - set(SWEEP)
    assert not unknown, f"routes the isolation sweep does not cover; add them to SWEEP: {sorted(unknown)}"
    stale = set(SWEEP) - documented
    assert not stale, f"SWEEP names routes the server no longer has: {sorted(stale)}"
    for key, variants in SWEEP.items():
        for v in variants:
            for caller, exp in v.expect.items():
                if 200 <= exp < 300:
                    assert key in ALLOWED_2XX, f"{key} answers {exp} to {caller} but is not in ALLOWED_2XX"


def run_case(server, world, sweep, method, path, v, caller, body_override=None, send_body=True):
    user = world.a.users[caller]
    sweep.caller_id = user.id
    url = fill(sweep, path, v, user.id)
    kw = {}
    if method in ("PATCH", "PUT", "DELETE"):
        kw["if_match"] = "*"
    if send_body:
        body = body_override if body_override is not None else body_of(v, user.id)
        if body is not None:
            kw["json"] = body
        elif method in ("POST", "PATCH", "PUT"):
            kw["json"] = {}
    return server.call(method, url, user.token, **kw)


@pytest.mark.parametrize("method,path,v,caller", list(cases()))
def test_foreign_tenant_is_invisible(server, world, sweep, method, path, v, caller):
    r = run_case(server, world, sweep, method, path, v, caller)
    exp = v.expect[caller]
    try:
        assert r.status == exp, r
        if 200 <= r.status < 300:
            if v.check:
                v.check(sweep, r)
        else:
            is_problem(r, exp)
    finally:
        sweep.assert_unchanged()


@pytest.mark.parametrize("method,path,v,caller", list(cases(bad_body=True)))
def test_foreign_tenant_is_invisible_even_with_a_bad_body(server, world, sweep, method, path, v, caller):
    """Validation must not run before the tenant check: a 400 for a foreign id confirms it exists."""
    try:
        r = run_case(server, world, sweep, method, path, v, caller, body_override={"zzz_unknown_field": 1})
        assert r.status == 404, r
        r = run_case(server, world, sweep, method, path, v, caller, send_body=False)
        assert r.status == 404, r
    finally:
        sweep.assert_unchanged()


def test_body_references_to_foreign_objects_are_refused(server, admin, world, sweep):
    """An org-A org-admin names org B's objects inside requests on org A's own routes."""
    a, b = world.a, world.b
    oa = a.users["org-admin"].token
    a_before = server.call("GET", f"/api/v1/projects/{a.project['id']}", oa).json
    r = server.call("POST", f"/api/v1/orgs/{a.id}/projects", oa,
                    json={"slug": "xref", "name": "X", "group_id": b.group["id"]})
    assert is_problem(r, 400, "unknown-group")
    r = server.call("PATCH", f"/api/v1/projects/{a.project['id']}", oa, json={"group_id": b.group["id"]}, if_match="*")
    assert is_problem(r, 400, "unknown-group")
    r = server.call("POST", f"/api/v1/groups/{a.group['id']}/members", oa, json={"user_id": b.users["member"].id})
    assert is_problem(r, 400, "not-org-member")
    r = server.call("POST", f"/api/v1/projects/{a.project['id']}/members", oa,
                    json={"user_id": b.users["member"].id, "role": "viewer"})
    assert is_problem(r, 400, "not-org-member")
    r = server.call("PATCH", f"/api/v1/orgs/{a.id}/members/{a.users['viewer'].id}", oa, json={"role": b.role["id"]},
                    if_match="*")
    assert is_problem(r, 400, "unknown-role")
    r = server.call("POST", f"/api/v1/orgs/{a.id}/invitations", oa, json={"role": b.role["id"]})
    assert is_problem(r, 400, "unknown-role")
    for method in ("PATCH", "DELETE"):
        kw = {"json": {"role": "viewer"}} if method == "PATCH" else {}
        r = server.call(method, f"/api/v1/orgs/{a.id}/members/{b.users['member'].id}", oa, if_match="*", **kw)
        assert is_problem(r, 404), r
        r = server.call(method, f"/api/v1/projects/{a.project['id']}/members/{b.users['org-admin'].id}", oa,
                        if_match="*", **kw)
        assert is_problem(r, 404), r
    r = server.call("DELETE", f"/api/v1/groups/{a.group['id']}/members/{b.users['member'].id}", oa, if_match="*")
    assert is_problem(r, 404)
    # Audit filters cannot reach B's events through actor/target either.
    r = server.call("GET", f"/api/v1/audit/events?actor={b.users['org-admin'].id}", oa)
    assert r.status == 200 and r.json["items"] == [], r
    r = server.call("GET", f"/api/v1/audit/events?target={b.project['id']}", oa)
    assert r.status == 200 and r.json["items"] == [], r
    after_a = server.call("GET", f"/api/v1/projects/{a.project['id']}", oa).json
    assert after_a == a_before
    sweep.assert_unchanged()
