"""Sign-in through OpenID Connect against a real provider (scripts/dev-idp.sh: npm oidc-provider over
HTTPS with a throwaway CA): the code flow with PKCE driven hop by hop, JIT creation and linking,
group claims mapped and unmapped, and the attacks on the flow (replayed state, another browser's
state, open redirects, the provider's refusal, unknown providers), each refused with nothing created.
"""
from __future__ import annotations

import http.client
import json
import os
import re
import ssl
import subprocess
import urllib.parse
from pathlib import Path

import pytest

from conftest import REPO, Server, call, is_problem, parse_cookies
from smtp_sink import SmtpSink

DEV_IDP = os.environ.get("ATRIUM_DEV_IDP") or str(REPO / "scripts" / "dev-idp.sh")


# ---------------------------------------------------------------------------- the provider


@pytest.fixture(scope="module")
def idp(tmp_path_factory):
    d = tmp_path_factory.mktemp("idp")
    r = subprocess.run([DEV_IDP, "start", str(d)], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    info = json.loads((d / "info.json").read_text())
    info["toml"] = r.stdout
    yield info
    subprocess.run([DEV_IDP, "stop", str(d)], capture_output=True, timeout=60)


def set_groups(idp, login: str, groups: list[str]):
    path = Path(idp["oidc"]["users_file"])
    users = json.loads(path.read_text())
    users[login]["groups"] = groups
    path.write_text(json.dumps(users))


class Hop:
    """One HTTP(S) request without following redirects; cookies per host in `jar`."""

    def __init__(self, ca_file: str):
        self.ctx = ssl.create_default_context(cafile=ca_file)
        self.jar: dict[str, dict[str, str]] = {}

    def go(self, url: str, method: str = "GET", form: dict[str, str] | None = None, cookies: bool = True):
        u = urllib.parse.urlsplit(url)
        host = u.hostname if u.hostname != "localhost" else "127.0.0.1"
        conn = (http.client.HTTPSConnection(host, u.port, context=self.ctx, timeout=30) if u.scheme == "https"
                else http.client.HTTPConnection(host, u.port, timeout=30))
        headers = {"Host": u.netloc}
        jar = self.jar.setdefault(f"{host}:{u.port}", {})
        if cookies and jar:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in jar.items())
        body = None
        if form is not None:
            body = urllib.parse.urlencode(form)
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        conn.request(method, u.path + (f"?{u.query}" if u.query else ""), body=body, headers=headers)
        r = conn.getresponse()
        data = r.read().decode("utf-8", "replace")
        for k, v in r.getheaders():
            if k.lower() == "set-cookie":
                name, _, rest = v.partition("=")
                value = rest.split(";")[0]
                if "max-age=0" in v.lower() or "expires=thu, 01 jan 1970" in v.lower():
                    jar.pop(name, None)
                else:
                    jar[name] = value
        loc = r.getheader("location")
        conn.close()
        return r.status, (urllib.parse.urljoin(url, loc) if loc else None), data


def provider_login(hop: Hop, url: str, login: str, stop_prefix: str) -> str:
    """Follows the provider's pages (the dev login and consent) until a redirect to stop_prefix."""
    for _ in range(12):
        if url.startswith(stop_prefix):
            return url
        if "/interaction/" in url:
            _, _, page = hop.go(url)
            form = ({"prompt": "login", "login": login, "password": "x"} if 'name="login"' in page
                    else {"prompt": "consent"})
            _, url, _ = hop.go(url, "POST", form)
        else:
            status, url, page = hop.go(url)
            assert url, (status, page[:300])
    raise AssertionError(f"the provider flow did not reach {stop_prefix}: {url}")


class Person:
    """A browser: Atrium cookies and the provider's, signing in through `provider`."""

    def __init__(self, srv: Server, idp, login: str):
        self.srv, self.login = srv, login
        self.hop = Hop(idp["ca_file"])
        self.atrium = f"http://127.0.0.1:{srv.port}"
        self.callback_url = None

    def start(self, provider="dev", next_="/projects"):
        q = urllib.parse.urlencode({"next": next_})
        return self.hop.go(f"{self.atrium}/api/v1/auth/oidc/{provider}/start?{q}")

    def to_callback(self, provider="dev", next_="/projects") -> str:
        status, loc, body = self.start(provider, next_)
        assert status == 302, (status, body)
        return provider_login(self.hop, loc, self.login, f"http://localhost:{self.srv.port}/api/v1/auth/oidc/")

    def finish(self, callback_url: str):
        self.callback_url = callback_url
        return self.hop.go(callback_url)

    def sign_in(self, provider="dev", next_="/projects"):
        status, loc, body = self.finish(self.to_callback(provider, next_))
        assert status == 302, (status, body)
        return loc

    @property
    def cookies(self) -> dict[str, str]:
        return self.hop.jar.get(f"127.0.0.1:{self.srv.port}", {})

    def api(self, method, path, **kw):
        c = self.cookies
        return self.srv.call(method, path, cookies={"atrium_session": c["atrium_session"]},
                             csrf=c.get("atrium_csrf"), **kw)


# ---------------------------------------------------------------------------- Atrium


@pytest.fixture(scope="module")
def srv(idp, tmp_path_factory):
    d = tmp_path_factory.mktemp("atrium-sso")
    oidc = idp["oidc"]
    common = f'issuer = "{oidc["issuer"]}"\nclient_secret_file = "{oidc["client_secret_file"]}"\n' \
             f'ca_file = "{idp["ca_file"]}"\nscopes = "openid email profile groups"\n'
    (d / "atrium.toml").write_text(
        "[oidc.dev]\n" + common + 'client_id = "atrium-dev"\ndisplay_name = "Dev University"\n'
        "link_by_verified_email = true\n"
        '[[oidc.dev.rules]]\nemail_domain = "example.test"\norg = "institute"\nrole = "viewer"\n'
        "[oidc.dev_es256]\n" + common + 'client_id = "atrium-dev-es256"\ncreate_users = false\n'
        "[oidc.dev_public]\n" + f'issuer = "{oidc["issuer"]}"\nca_file = "{idp["ca_file"]}"\n'
        'client_id = "atrium-dev-public"\n')
    # every test signs in from 127.0.0.1: the per-address limit has a test of its own. Mail on: an
    # account's address is verified by a mailed link before a provider's sign-in may link to it.
    sink = SmtpSink(d, tls=False).__enter__()
    s = Server(d / "data", args=["--config", str(d / "atrium.toml")],
               env={**sink.atrium_config(), "ATRIUM_AUTH_LOGIN_IP_PER_MINUTE": "10000"}).start()
    s.sink = sink
    admin = s.admin_token()
    for slug in ("physics", "institute", "chem"):
        assert s.call("POST", "/api/v1/orgs", admin, json={"slug": slug, "name": slug.title()}).status == 201
    for slug in ("staff", "hpc"):
        r = s.call("POST", "/api/v1/orgs/physics/groups", admin, json={"slug": slug, "name": slug})
        assert r.status == 201, r
        GROUP_SLUGS[r.json["id"]] = slug
    s.admin = admin
    yield s
    s.stop()
    sink.__exit__(None, None, None)


def verify_email(srv, username: str, password: str, email: str):
    """Proves an account's address the way its user would: the mailed link."""
    tok = srv.login_token(username, password)
    r = srv.call("POST", "/api/v1/me/email/verify", tok)
    assert r.status == 202, r
    link = next(l for l in srv.sink.wait_for(to=email, subject="Confirm").links() if "/verify-email#" in l)
    r = srv.call("POST", "/api/v1/auth/verify-email", json={"token": link.split("#", 1)[1]})
    assert r.status == 200 and r.json["email_verified"] is True, r


def users(srv) -> dict[str, dict]:
    r = srv.call("GET", "/api/v1/users?limit=200", srv.admin)
    return {u["username"]: u for u in r.json["items"]}


def audit(srv, action: str) -> list[dict]:
    r = srv.call("GET", f"/api/v1/audit/events?action={action}&limit=200", srv.admin)
    assert r.status == 200, r
    return r.json["items"]


def put_rules(srv, org, rules, token=None):
    cur = srv.call("GET", f"/api/v1/orgs/{org}/sso-rules", token or srv.admin)
    assert cur.status == 200, cur
    return srv.call("PUT", f"/api/v1/orgs/{org}/sso-rules", token or srv.admin, json={"rules": rules},
                    if_match=cur.etag)


def me(p: Person) -> dict:
    r = p.api("GET", "/api/v1/me")
    assert r.status == 200, r
    return r.json


def org_slugs(m) -> set[str]:
    return {o.get("slug") for o in m.get("orgs", [])}


GROUP_SLUGS: dict[str, str] = {}


def group_slugs(m) -> set[str]:
    return {GROUP_SLUGS.get(g, g) for g in m.get("groups", [])}


# ---------------------------------------------------------------------------- tests


def test_providers_for_the_login_page(srv):
    r = call(srv.port, "GET", "/api/v1/auth/providers")
    assert r.status == 200, r
    by = {p["name"]: p for p in r.json["providers"]}
    assert by["dev"] == {"name": "dev", "display_name": "Dev University", "type": "oidc",
                         "start_url": "/api/v1/auth/oidc/dev/start"}
    assert set(by) == {"dev", "dev_es256", "dev_public"}
    assert "password_reset" in r.json
    assert "secret" not in r.text


def test_code_flow_creates_the_user_and_maps_groups(srv, idp):
    r = put_rules(srv, "physics", [
        {"claim_group": "physics-staff", "role": "member", "group": "staff"},
        {"claim_group": "hpc-admins", "group": "hpc"},
    ])
    assert r.status == 200, r
    assert audit(srv, "sso.rules.update")
    alice = Person(srv, idp, "alice")
    status, loc, _ = alice.start()
    assert status == 302 and loc.startswith(idp["oidc"]["issuer"])
    q = urllib.parse.parse_qs(urllib.parse.urlsplit(loc).query)
    assert q["code_challenge_method"] == ["S256"] and q["client_id"] == ["atrium-dev"]
    assert q["state"] and q["nonce"] and len(q["code_challenge"][0]) == 43
    sso_cookie = [v for k, v in alice.hop.jar[f"127.0.0.1:{srv.port}"].items() if k == "atrium_sso"]
    assert sso_cookie, "the attempt is bound to this browser"
    landed = alice.finish(provider_login(alice.hop, loc, "alice", f"http://localhost:{srv.port}/api/v1/auth/"))[1]
    assert landed.endswith("/projects"), landed
    m = me(alice)
    assert m["username"] == "alice" and m["email"] == "alice@example.test"
    assert {"physics", "institute"} <= org_slugs(m), m
    assert {"staff", "hpc"} <= group_slugs(m), m
    # a hand-made membership is the admin's, never the mapping's
    assert srv.call("POST", "/api/v1/orgs/chem/members", srv.admin,
                    json={"username": "alice", "role": "member"}).status == 201
    links = [e for e in audit(srv, "sso.identity.link") if e["summary"].get("subject") == "alice"]
    assert links and links[0]["summary"]["how"] == "created"

    # removed from a group at the provider -> removed in Atrium at the next sign-in, audited
    set_groups(idp, "alice", ["physics-staff"])
    Person(srv, idp, "alice").sign_in()
    m = me(alice)
    assert "hpc" not in group_slugs(m) and "staff" in group_slugs(m), m
    removed = [e for e in audit(srv, "group.member.remove") if e["actor"] == "sso:dev"]
    assert removed, audit(srv, "group.member.remove")
    # and out of the org's rules altogether -> out of the org; the hand-made one stays
    set_groups(idp, "alice", [])
    Person(srv, idp, "alice").sign_in()
    m = me(alice)
    assert "physics" not in org_slugs(m) and "chem" in org_slugs(m), m
    assert [e for e in audit(srv, "org.member.remove") if e["actor"] == "sso:dev"]
    set_groups(idp, "alice", ["physics-staff", "hpc-admins"])
    Person(srv, idp, "alice").sign_in()
    assert {"staff", "hpc"} <= group_slugs(me(alice))
    assert len([u for u in users(srv) if u.startswith("alice")]) == 1  # the subject is the identity


def test_es256_provider_and_no_account(srv, idp):
    before = set(users(srv))
    p = Person(srv, idp, "zed")  # no account, and dev_es256 does not create accounts
    status, loc, _ = p.finish(p.to_callback("dev_es256"))
    assert status == 302 and loc.endswith("/login?sso_error=no_account"), loc
    assert set(users(srv)) == before
    Person(srv, idp, "alice").sign_in()  # alice exists through dev, but that link is dev's
    p = Person(srv, idp, "alice")
    assert p.finish(p.to_callback("dev_es256"))[1].endswith("sso_error=no_account")


def test_linking_by_verified_email_only(srv, idp):
    for name, email in (("robert", "bob@example.test"), ("caroline", "carol@example.test")):
        r = srv.call("POST", "/api/v1/users", srv.admin,
                     json={"username": name, "password": "a-long-password-1", "email": email})
        assert r.status == 201, r
        verify_email(srv, name, "a-long-password-1", email)
    bob = Person(srv, idp, "bob")
    bob.sign_in()
    assert me(bob)["username"] == "robert"  # verified email, linking allowed
    assert "institute" in org_slugs(me(bob))  # the config rule: a verified example.test address
    carol = Person(srv, idp, "carol")
    carol.sign_in()
    m = me(carol)
    assert m["username"] == "carol", m  # unverified: a new account, never caroline's
    assert "institute" not in org_slugs(m)  # nor the domain's org
    # linking off (dev_public): bob gets an account of his own there
    bob2 = Person(srv, idp, "bob")
    bob2.sign_in("dev_public")
    assert me(bob2)["username"] not in ("robert",), me(bob2)


def test_no_link_to_an_account_whose_address_is_unproven(srv, idp):
    """Anyone can type a victim's address into their own profile: a provider's verified address links
    only to an account that proved the address itself."""
    path = Path(idp["oidc"]["users_file"])
    people = json.loads(path.read_text())
    people["gwen"] = {"email": "gwen@example.test", "email_verified": True, "preferred_username": "gwen",
                      "name": "Gwen Example", "groups": []}
    path.write_text(json.dumps(people))
    r = srv.call("POST", "/api/v1/users", srv.admin,
                 json={"username": "squatter", "password": "a-long-password-1", "email": "gwen@example.test"})
    assert r.status == 201 and r.json["email_verified"] is False, r
    squatter = r.json["id"]
    gwen = Person(srv, idp, "gwen")
    gwen.sign_in()
    m = me(gwen)
    assert m["id"] != squatter and m["username"] != "squatter", m
    assert m["email_verified"] is True  # created here with the provider's verified address
    links = [e for e in audit(srv, "sso.identity.link") if e["summary"].get("subject") == "gwen"]
    assert [e["summary"]["how"] for e in links] == ["created"], links
    assert not [e for e in audit(srv, "sso.identity.link") if e["target_id"] == squatter]
    # An account without a password: its provider handles the second factor.
    r = gwen.api("POST", "/api/v1/me/mfa/totp", json={"password": "anything-at-all"})
    assert is_problem(r, 409, "mfa-provider-account"), r


def test_sign_out_goes_to_the_provider(srv, idp):
    p = Person(srv, idp, "bob")
    p.sign_in()
    r = p.api("POST", "/api/v1/auth/logout", json={})
    assert r.status == 200, r
    url = r.json["logout_url"]
    assert url.startswith(idp["oidc"]["issuer"]) and "client_id=atrium-dev" in url
    assert "post_logout_redirect_uri=" in url
    assert p.api("GET", "/api/v1/me").status == 401


def test_replayed_state_and_another_browser(srv, idp):
    before = set(users(srv))
    p = Person(srv, idp, "dave")
    cb = p.to_callback()
    other = Hop(idp["ca_file"])  # the same callback from a browser without the attempt's cookie
    status, loc, _ = other.go(cb)
    assert status == 302 and loc.endswith("/login?sso_error=wrong_browser"), loc
    status, loc, _ = p.finish(cb)  # the state was used by that try: refused here too
    assert loc.endswith("sso_error=invalid_state"), loc
    assert "dave" not in users(srv)
    q = Person(srv, idp, "erin")
    cb = q.to_callback()
    assert q.finish(cb)[1].endswith("/projects")
    session = q.cookies["atrium_session"]
    status, loc, _ = q.finish(cb)  # replayed
    assert loc.endswith("sso_error=invalid_state"), loc
    assert q.cookies["atrium_session"] == session
    assert set(users(srv)) - before == {"erin"}
    assert audit(srv, "auth.login_failed")


def test_bad_input_changes_nothing(srv, idp):
    before = set(users(srv))
    assert is_problem(call(srv.port, "GET", "/api/v1/auth/oidc/nope/start"), 404)
    assert is_problem(call(srv.port, "GET", "/api/v1/auth/oidc/nope/callback?code=x&state=y"), 404)
    for bad in ("//evil.example/x", "https://evil.example/", "/\\evil.example", "javascript:alert(1)",
                "/ok\r\nSet-Cookie: x=y", "evil"):
        r = call(srv.port, "GET", "/api/v1/auth/oidc/dev/start?" + urllib.parse.urlencode({"next": bad}))
        assert is_problem(r, 400), (bad, r)
        assert "set-cookie" not in r.headers
    for q in ("", "?code=abc", "?state=abc", "?code=abc&state=" + "x" * 300, "?error=access_denied"):
        r = call(srv.port, "GET", "/api/v1/auth/oidc/dev/callback" + q)
        assert r.status == 302 and r.headers["location"].startswith("/login?sso_error="), (q, r)
        assert "atrium_session" not in parse_cookies(r)
    # the provider's refusal, for a real attempt
    p = Person(srv, idp, "frank")
    status, loc, _ = p.start()
    state = urllib.parse.parse_qs(urllib.parse.urlsplit(loc).query)["state"][0]
    status, loc, _ = p.finish(f"{p.atrium}/api/v1/auth/oidc/dev/callback?error=access_denied&state={state}")
    assert loc.endswith("/login?sso_error=access_denied"), loc
    # a mix-up: the iss parameter of another issuer
    cb = p.to_callback()
    status, loc, _ = p.finish(cb.replace("iss=", "iss=https%3A%2F%2Fevil.example&was="))
    assert loc.endswith("sso_error=issuer_mismatch"), loc
    assert set(users(srv)) == before


def test_key_rotation(srv, idp):
    token = Path(idp["oidc"]["admin_token_file"]).read_text().strip()
    Person(srv, idp, "alice").sign_in()  # keys cached
    hop = Hop(idp["ca_file"])
    u = urllib.parse.urlsplit(idp["oidc"]["rotate_keys_url"])
    conn = http.client.HTTPSConnection(u.hostname, u.port, context=hop.ctx)
    conn.request("POST", u.path + "?drop_old=1", headers={"Authorization": f"Bearer {token}"})
    assert conn.getresponse().status == 200
    p = Person(srv, idp, "alice")
    assert p.sign_in().endswith("/projects")  # a new kid: the keys are fetched again
    assert me(p)["username"] == "alice"


def test_rules_api_is_checked(srv, idp):
    r = srv.call("PUT", "/api/v1/orgs/physics/sso-rules", srv.admin, json={"rules": []})
    assert is_problem(r, 428)
    for rule, field in (({"claim_group": "x", "role": "no-such-role"}, "rules[0].role"),
                        ({"claim_group": "x", "group": "no-such-group"}, "rules[0].group"),
                        ({"claim_group": "x", "email_domain": "a.b", "role": "member"}, "rules[0]"),
                        ({"claim_group": "x"}, "rules[0]"),
                        ({"claim_group": "x", "role": "member", "provider": "nope"}, "rules[0].provider"),
                        ({"claim_group": "x", "role": "member", "extra": "1"}, "rules[0].extra")):
        r = put_rules(srv, "physics", [rule])
        assert is_problem(r, 400) and r.json.get("field") == field, (rule, r)
    cur = srv.call("GET", "/api/v1/orgs/physics/sso-rules", srv.admin)
    assert len(cur.json["rules"]) == 2
    # a member of the org may not see or edit them
    alice = Person(srv, idp, "alice")
    alice.sign_in()
    assert alice.api("GET", "/api/v1/orgs/physics/sso-rules").status == 403
    r = alice.api("PUT", "/api/v1/orgs/physics/sso-rules", json={"rules": []}, if_match=cur.etag)
    assert r.status == 403, r
    assert alice.api("GET", "/api/v1/orgs/chem/sso-rules").status == 403
    inst = srv.call("GET", "/api/v1/orgs/institute/sso-rules", srv.admin)
    assert inst.json["config_rules"] == [{"provider": "dev", "email_domain": "example.test", "role": "viewer"}]


def test_bad_provider_config_stops_startup(tmp_path):
    secret = tmp_path / "secret"
    secret.write_text("s3cret-value\n")
    for section, words in (('issuer = "http://idp.example"\nclient_id = "a"\n', "https://"),
                           ('issuer = "https://idp.example"\n', "client_id"),
                           ('issuer = "https://idp.example"\nclient_id = "a"\nclient_secret_file = "/nonexistent"\n',
                            "client_secret_file"),
                           ('issuer = "https://idp.example"\nclient_id = "a"\n[[oidc.x.rules]]\norg = "p"\n',
                            "rules")):
        cfg = tmp_path / "bad.toml"
        cfg.write_text("[oidc.x]\n" + section)
        s = Server(tmp_path / "data", args=["--config", str(cfg)])
        s.spawn()
        assert s.wait_exit(30) != 0
        assert words in s.output(), s.output()
    cfg.write_text(f'[oidc.x]\nissuer = "https://idp.example"\nclient_id = "a"\nclient_secret_file = "{secret}"\n')
    s = Server(tmp_path / "data", args=["--config", str(cfg)]).start()
    try:
        assert "s3cret-value" not in s.output()
        assert call(s.port, "GET", "/api/v1/auth/providers").json["providers"][0]["name"] == "x"
    finally:
        s.stop()


def test_sign_in_attempts_are_rate_limited(idp, tmp_path):
    cfg = tmp_path / "atrium.toml"
    cfg.write_text(f'[oidc.dev]\nissuer = "{idp["oidc"]["issuer"]}"\nca_file = "{idp["ca_file"]}"\n'
                   'client_id = "atrium-dev-public"\n')
    s = Server(tmp_path / "data", args=["--config", str(cfg)], env={"ATRIUM_AUTH_LOGIN_IP_PER_MINUTE": "3"}).start()
    try:
        answers = [call(s.port, "GET", "/api/v1/auth/oidc/dev/callback?state=x&code=y").status for _ in range(3)]
        assert answers == [302, 302, 302]
        assert is_problem(call(s.port, "GET", "/api/v1/auth/oidc/dev/start"), 429)
        assert is_problem(call(s.port, "GET", "/api/v1/auth/oidc/dev/callback?state=x&code=y"), 429)
    finally:
        s.stop()
