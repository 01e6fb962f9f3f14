"""Sign-in with an LDAP directory ([ldap.NAME]): slapd from scripts/dev-idp.sh over StartTLS and ldaps,
wrong passwords and lockout, user enumeration, filter injection, groups, and directory outages."""
import re
import subprocess

import pytest

from conftest import Server, list_all, parse_cookies
from idp import dev_idp  # noqa: F401  (fixture)

MAX_FAILURES = 3


def ldap_section(toml: str) -> str:
    """The [ldap.devldap] block of dev-idp.sh's output."""
    m = re.search(r"^\[ldap\.devldap\]\n(?:(?!\[).*\n?)*", toml, re.M)
    assert m, toml
    return m.group(0)


@pytest.fixture(scope="module")
def srv(dev_idp, tmp_path_factory):  # noqa: F811
    d = tmp_path_factory.mktemp("atrium-ldap")
    dev = ldap_section(dev_idp.toml)
    # The same directory over ldaps:// as a second provider.
    sec = dev.replace("[ldap.devldap]", "[ldap.sec]").replace('display_name = "Dev LDAP (local)"',
                                                           'display_name = "Secure LDAP"')
    sec = re.sub(r'url = ".*"', f'url = "{dev_idp.ldap["ldaps_url"]}"', sec).replace("start_tls = true",
                                                                                     "start_tls = false")
    # The same again, trusting another CA than the one that signed slapd's certificate.
    other_ca = d / "other-ca.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=Other CA",
                    "-keyout", str(d / "other-ca.key"), "-out", str(other_ca)], check=True, capture_output=True)
    badca = re.sub(r'ca_file = ".*"', f'ca_file = "{other_ca}"', sec.replace("[ldap.sec]", "[ldap.badca]"))
    cfg = d / "atrium.toml"
    rules = ('[[ldap.devldap.rules]]\nclaim_group = "physics-staff"\norg = "ldap-lab"\nrole = "member"\n'
             '[[ldap.devldap.rules]]\nclaim_group = "hpc-admins"\norg = "ldap-lab"\ngroup = "hpc"\n')
    cfg.write_text(f"{dev}\nemail_verified = true\ntimeout_ms = 2000\nconnect_timeout_ms = 1000\n{rules}\n"
                   f"{sec}\n\n{badca}\n")
    s = Server(d / "data", args=["--config", str(cfg)],
               env={"ATRIUM_AUTH_LOGIN_MAX_FAILURES": str(MAX_FAILURES), "ATRIUM_AUTH_LOGIN_IP_PER_MINUTE": "10000"})
    s.start()
    try:
        s.admin = s.admin_token()
        assert s.call("POST", "/api/v1/orgs", s.admin, json={"slug": "ldap-lab", "name": "Lab"}).status == 201
        r = s.call("POST", "/api/v1/orgs/ldap-lab/groups", s.admin, json={"slug": "hpc", "name": "HPC"})
        assert r.status == 201, r
        s.hpc_group = r.json["id"]
        yield s
    finally:
        s.stop(30)


def ldap_login(srv, username, password, provider="devldap", **kw):
    return srv.call("POST", f"/api/v1/auth/ldap/{provider}/login", json={"username": username, "password": password},
                    **kw)


def session_of(srv, r):
    ck = parse_cookies(r)
    assert ck["atrium_session"]["attrs"].get("httponly") is True
    return srv.call("GET", "/api/v1/auth/session", cookies={"atrium_session": ck["atrium_session"]["value"]})


def failed_events(srv, username):
    events = list_all(srv, "/api/v1/audit/events?action=auth.login_failed", srv.admin, limit=1000)
    return [e for e in events if e["summary"].get("username") == username]


def test_starttls_sign_in_creates_the_user_and_a_session(srv, dev_idp):  # noqa: F811
    r = ldap_login(srv, "alice", "alice-pw")
    assert r.status == 200, r
    assert r.json["provider"] == "devldap"
    u = r.json["user"]
    assert u["username"] == "alice" and u["email"] == "alice@example.test"
    assert u["display_name"] == "Alice Example"
    s = session_of(srv, r)
    assert s.status == 200 and s.json["user"]["id"] == u["id"]
    # The next sign-in finds the same user (by the entry's UUID), not a new one.
    again = ldap_login(srv, "alice", "alice-pw")
    assert again.status == 200 and again.json["user"]["id"] == u["id"]


def me(srv, r):
    ck = parse_cookies(r)
    m = srv.call("GET", "/api/v1/me", cookies={"atrium_session": ck["atrium_session"]["value"]})
    assert m.status == 200, m
    return {o.get("slug") for o in m.json.get("orgs", [])}, set(m.json.get("groups", []))


def test_directory_groups_map_to_orgs_and_groups_at_every_sign_in(srv, dev_idp):  # noqa: F811
    orgs, groups = me(srv, ldap_login(srv, "alice", "alice-pw"))
    assert "ldap-lab" in orgs and srv.hpc_group in groups, (orgs, groups)
    # Out of hpc-admins in the directory: out of the Atrium group at the next sign-in, still in the org.
    dev_idp.set_ldap_group_members("hpc-admins", ["bob"])
    try:
        orgs, groups = me(srv, ldap_login(srv, "alice", "alice-pw"))
        assert "ldap-lab" in orgs and srv.hpc_group not in groups, (orgs, groups)
    finally:
        dev_idp.set_ldap_group_members("hpc-admins", ["alice"])
    orgs, groups = me(srv, ldap_login(srv, "alice", "alice-pw"))
    assert srv.hpc_group in groups
    # carol's groups (chemistry) match no rule.
    orgs, _ = me(srv, ldap_login(srv, "carol", "carol-pw"))
    assert "ldap-lab" not in orgs


def test_the_login_page_lists_the_directories(srv):
    r = srv.call("GET", "/api/v1/auth/providers")
    assert r.status == 200, r
    by = {p["name"]: p for p in r.json["providers"]}
    assert by["devldap"] == {"name": "devldap", "display_name": "Dev LDAP (local)", "type": "ldap", "start_url": None}
    assert by["sec"]["display_name"] == "Secure LDAP"
    assert "ldap://" not in r.text and "bind" not in r.text  # no directory details for strangers


def test_ldaps_sign_in(srv):
    r = ldap_login(srv, "bob", "bob-pw", provider="sec")
    assert r.status == 200, r
    assert r.json["provider"] == "sec" and session_of(srv, r).status == 200


def test_a_certificate_from_another_ca_is_refused(srv):
    r = ldap_login(srv, "bob", "bob-pw", provider="badca")
    assert r.status == 503 and r.json["type"].endswith("directory-unavailable"), r
    assert "atrium_session" not in parse_cookies(r)


def test_cleartext_ldap_is_refused_at_startup(dev_idp, make_server, tmp_path):  # noqa: F811
    cfg = tmp_path / "atrium.toml"
    cfg.write_text(ldap_section(dev_idp.toml).replace("start_tls = true", "start_tls = false")
                   .replace("127.0.0.1", "ldap.example.org"))
    s = make_server(args=["--config", str(cfg)], start=False)
    s.spawn()
    assert s.wait_exit(30) != 0
    assert "in the clear" in s.output(), s.output()


def test_wrong_password_and_unknown_user_get_one_answer(srv):
    wrong = ldap_login(srv, "bob", "not-bobs-password")
    unknown = ldap_login(srv, "nobody-here", "whatever")
    for r in (wrong, unknown):
        assert r.status == 401, r
        assert r.json["type"].endswith("invalid-credentials")
        assert "atrium_session" not in parse_cookies(r)
    assert wrong.json["detail"] == unknown.json["detail"]


def test_empty_password_is_never_an_anonymous_bind(srv):
    # An LDAP simple bind with a DN and no password "succeeds" as anonymous (RFC 4513 5.1.2).
    r = ldap_login(srv, "alice", "")
    assert r.status == 401, r


@pytest.mark.parametrize("username", ["*", "a*", "al*ce", "*)(uid=*", "alice)(|(uid=*", "*)(objectClass=*"])
def test_filter_injection_in_the_username_matches_nobody(srv, username):
    # With the filter built unescaped, "a*" would find alice alone and her password would sign in.
    r = ldap_login(srv, username, "alice-pw")
    assert r.status == 401, r


def test_control_characters_in_the_username_are_refused(srv):
    r = ldap_login(srv, "alice\u0000", "alice-pw")
    assert r.status == 400 and r.json.get("field") == "username", r


def test_bad_input_and_unknown_provider(srv):
    assert srv.call("POST", "/api/v1/auth/ldap/nope/login", json={"username": "a", "password": "b"}).status == 404
    r = srv.call("POST", "/api/v1/auth/ldap/devldap/login", json={"username": "alice"})
    assert r.status == 400 and r.json.get("field") == "password", r
    r = srv.call("POST", "/api/v1/auth/ldap/devldap/login", json={"username": "alice", "password": "x", "admin": True})
    assert r.status == 400, r


def test_wrong_passwords_lock_the_account_for_this_client(srv):
    assert ldap_login(srv, "carol", "carol-pw").status == 200  # carol's Atrium account exists now
    for _ in range(MAX_FAILURES):
        assert ldap_login(srv, "carol", "wrong").status == 401
    r = ldap_login(srv, "carol", "carol-pw")
    assert r.status == 401, r  # locked: even the right password gets the same answer
    reasons = [e["summary"].get("reason") for e in failed_events(srv, "carol")]
    assert "locked" in reasons, reasons


def test_outage_is_503_never_a_failed_sign_in_and_the_pool_reconnects(srv, dev_idp):  # noqa: F811
    # Pooled service connections to the directory exist (both providers).
    assert ldap_login(srv, "bob", "bob-pw", provider="sec").status == 200
    assert ldap_login(srv, "alice", "alice-pw").status == 200
    before = len(failed_events(srv, "bob"))
    dev_idp.ldap_down()
    try:
        for _ in range(MAX_FAILURES + 1):
            r = ldap_login(srv, "bob", "wrong", provider="sec")
            assert r.status == 503, r
            assert r.json["type"].endswith("directory-unavailable")
            assert "Secure LDAP" in r.json["detail"]
        r = ldap_login(srv, "alice", "alice-pw")
        assert r.status == 503 and "Dev LDAP (local)" in r.json["detail"], r
    finally:
        dev_idp.ldap_up()
    assert len(failed_events(srv, "bob")) == before  # the outage counted nothing
    # slapd restarted: the pooled connections are dead; sign-in reconnects and bob is not locked.
    r = ldap_login(srv, "bob", "bob-pw", provider="sec")
    assert r.status == 200, r
    assert ldap_login(srv, "alice", "alice-pw").status == 200


def test_directory_sign_in_shares_the_per_address_limit(dev_idp, make_server, tmp_path):  # noqa: F811
    cfg = tmp_path / "atrium.toml"
    cfg.write_text(ldap_section(dev_idp.toml))
    s = make_server(args=["--config", str(cfg)], env={"ATRIUM_AUTH_LOGIN_IP_PER_MINUTE": "2"})
    assert s.login("admin", "wrong").status == 401  # a password sign-in from this address
    assert ldap_login(s, "bob", "wrong").status == 401
    r = ldap_login(s, "bob", "bob-pw")
    assert r.status == 429 and r.json["retry_after_s"] > 0, r
    assert "atrium_session" not in parse_cookies(r)
