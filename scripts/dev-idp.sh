#!/usr/bin/env bash
# Local identity providers for tests and for trying SSO on one machine: an OpenID Connect provider
# (npm oidc-provider, pinned in tests/idp) over HTTPS and an OpenLDAP slapd (StartTLS, ldaps, ldapi),
# both on 127.0.0.1 with free ports, a throwaway CA and everything else inside DIR.
#
#   scripts/dev-idp.sh start DIR [--redirect URL]...   prints the [oidc.dev] and [ldap.devldap] TOML
#                                                      sections for atrium.toml on stdout
#   scripts/dev-idp.sh stop DIR [--rm]                 stops both (by recorded PID); --rm removes DIR
#   scripts/dev-idp.sh ldap-down DIR | ldap-up DIR     stops slapd / starts it again on the same ports
#                                                      with its data (for directory-outage tests)
#
# DIR is created if missing and must not hold a running instance. After start it holds:
#   ca.pem                  the CA that signed both servers' certificates (Atrium's ca_file)
#   oidc-client-secret      secret of the confidential clients; ldap-bind-password: the service account's
#   users.json              the OIDC users' claims; rewrite it to change a person's groups at the provider
#   admin-token             bearer token for the provider's /_admin/ endpoints (key rotation, see
#                           tests/idp/oidc_server.mjs)
#   info.json               everything above in one place (ports, URLs, users, passwords, clients)
#   atrium.toml             the sections printed on stdout; *.log, *.pid
#
# OIDC clients (redirect URIs on 127.0.0.1 or localhost accept any port, RFC 8252):
#   atrium-dev        RS256, client_secret_basic, http://127.0.0.1/api/v1/auth/oidc/dev/callback
#   atrium-dev-es256  ES256, client_secret_basic, .../oidc/dev_es256/callback
#   atrium-dev-public public (no secret),         .../oidc/dev_public/callback
#   --redirect URL adds URL to every client. PKCE (S256) is required for all.
# OIDC users (any other login name is accepted too, with an unverified email and no groups):
#   alice (verified, groups physics-staff, hpc-admins), bob (verified, physics-staff),
#   carol (email_verified false, chemistry).
# LDAP: base dc=example,dc=test. ou=people: alice/alice-pw, bob/bob-pw, carol/carol-pw (inetOrgPerson
#   with uid, cn, mail). ou=groups: groupOfNames physics-staff (alice, bob), hpc-admins (alice),
#   chemistry (carol), kept in users' memberOf by the memberof overlay; posixGroup hpc-users
#   (memberUid alice, carol) for directories that use posix groups. Service account
#   cn=atrium-reader,ou=services,dc=example,dc=test (read-only; anonymous may only bind).
#   Admin: cn=admin,dc=example,dc=test / admin-pw (for tests that change groups; see info.json).
# Needs: node + npm (tests/idp is installed with `npm ci` on first use), slapd, ldap-utils, openssl,
# python3.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
IDP="$ROOT/tests/idp"
BASE=dc=example,dc=test

die() { echo "dev-idp: $*" >&2; exit 1; }
need() { command -v "$1" >/dev/null 2>&1 || die "'$1' not found: install $2 (see scripts/install-deps.sh)"; }
free_port() { python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])'; }
gone() { [ ! -e "/proc/$1" ] || [ "$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null)" = Z ]; }
stop_pid() {  # stop_pid FILE SIGNAL: stop the process whose PID FILE records, wait until it is gone
  local pid; pid=$(cat "$1" 2>/dev/null || true); [ -n "$pid" ] || return 0
  kill "-$2" "$pid" 2>/dev/null || true
  for _ in $(seq 1 250); do gone "$pid" && break; sleep 0.02; done
  gone "$pid" || { kill -KILL "$pid" 2>/dev/null || true; }
  rm -f "$1"
}
running() { local pid; pid=$(cat "$1" 2>/dev/null || true); [ -n "$pid" ] && ! gone "$pid"; }
rand() { python3 -c 'import secrets;print(secrets.token_urlsafe(24))'; }

make_certs() {  # a throwaway CA and one server certificate for 127.0.0.1 and localhost
  local d=$1
  openssl req -x509 -newkey rsa:2048 -nodes -days 30 -subj "/CN=Atrium dev-idp CA" \
    -keyout "$d/ca.key" -out "$d/ca.pem" -addext basicConstraints=critical,CA:TRUE \
    -addext keyUsage=critical,keyCertSign,cRLSign 2>/dev/null
  openssl req -newkey rsa:2048 -nodes -subj "/CN=127.0.0.1" -keyout "$d/server.key" -out "$d/server.csr" 2>/dev/null
  printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\nbasicConstraints=CA:FALSE\n' >"$d/server.ext"
  openssl x509 -req -in "$d/server.csr" -CA "$d/ca.pem" -CAkey "$d/ca.key" -CAcreateserial -days 30 \
    -extfile "$d/server.ext" -out "$d/server.pem" 2>/dev/null
  rm -f "$d/server.csr" "$d/server.ext" "$d/ca.srl"
  chmod 600 "$d/ca.key" "$d/server.key"
}

write_oidc_files() {  # users.json, clients.json
  local d=$1; shift
  cat >"$d/users.json" <<'JSON'
{
  "alice": {"email": "alice@example.test", "email_verified": true,
            "preferred_username": "alice", "name": "Alice Example", "groups": ["physics-staff", "hpc-admins"]},
  "bob":   {"email": "bob@example.test", "email_verified": true,
            "preferred_username": "bob", "name": "Bob Example", "groups": ["physics-staff"]},
  "carol": {"email": "carol@example.test", "email_verified": false,
            "preferred_username": "carol", "name": "Carol Example", "groups": ["chemistry"]}
}
JSON
  python3 - "$d/clients.json" "$@" <<'PY'
import json, sys
extra = sys.argv[2:]
def uris(name):
    path = f"/api/v1/auth/oidc/{name}/callback"
    return [f"http://127.0.0.1{path}", f"http://localhost{path}"] + extra
clients = [
    {"client_id": "atrium-dev", "alg": "RS256", "auth": "client_secret_basic", "redirect_uris": uris("dev")},
    {"client_id": "atrium-dev-es256", "alg": "ES256", "auth": "client_secret_basic", "redirect_uris": uris("dev_es256")},
    {"client_id": "atrium-dev-public", "alg": "RS256", "auth": "none", "redirect_uris": uris("dev_public")},
]
json.dump(clients, open(sys.argv[1], "w"), indent=1)
PY
}

start_oidc() {
  local d=$1
  if [ ! -d "$IDP/node_modules/oidc-provider" ]; then
    (cd "$IDP" && npm ci --no-audit --no-fund --ignore-scripts >"$d/npm.log" 2>&1) \
      || die "npm ci in $IDP failed (see $d/npm.log)"
  fi
  : >"$d/oidc.log"  # exists before the first poll: the child opens it only after the fork
  node "$IDP/oidc_server.mjs" "$d" >"$d/oidc.log" 2>&1 &
  echo $! >"$d/oidc.pid"
  local iss="" deadline=$((SECONDS + 180))
  # Loading oidc-provider takes ~1 s on a quiet machine, over 10 s beside a loaded test run, and once
  # over 60 s on a 2-core CI machine beside the browser suite: the wait is by the clock, not by a
  # count of polls (each poll forks, which is slow under the same load).
  while [ "$SECONDS" -lt "$deadline" ]; do
    iss=$(sed -n 's/^OIDC_ISSUER=//p' "$d/oidc.log" 2>/dev/null || true); [ -n "$iss" ] && break
    running "$d/oidc.pid" || { cat "$d/oidc.log" >&2; die "the OIDC provider exited"; }
    sleep 0.05
  done
  [ -n "$iss" ] || { tail -n 20 "$d/oidc.log" >&2; die "the OIDC provider did not start in 180 s (see $d/oidc.log)"; }
  echo "$iss" >"$d/oidc-issuer"
}

ldap_config() {  # cn=config LDIF
  local d=$1 adminpw=$2
  cat <<LDIF
dn: cn=config
objectClass: olcGlobal
cn: config
olcPidFile: $d/slapd.pid
olcLogLevel: none
olcTLSCACertificateFile: $d/ca.pem
olcTLSCertificateFile: $d/server.pem
olcTLSCertificateKeyFile: $d/server.key

dn: cn=module{0},cn=config
objectClass: olcModuleList
cn: module{0}
olcModulePath: /usr/lib/ldap
olcModuleLoad: back_mdb
olcModuleLoad: memberof

dn: cn=schema,cn=config
objectClass: olcSchemaConfig
cn: schema

include: file:///etc/ldap/schema/core.ldif
include: file:///etc/ldap/schema/cosine.ldif
include: file:///etc/ldap/schema/nis.ldif
include: file:///etc/ldap/schema/inetorgperson.ldif

dn: olcDatabase={0}config,cn=config
objectClass: olcDatabaseConfig
olcDatabase: {0}config
olcAccess: to * by dn.exact=gidNumber=$(id -g)+uidNumber=$(id -u),cn=peercred,cn=external,cn=auth manage by * none

dn: olcDatabase={1}mdb,cn=config
objectClass: olcDatabaseConfig
objectClass: olcMdbConfig
olcDatabase: {1}mdb
olcSuffix: $BASE
olcRootDN: cn=admin,$BASE
olcRootPW: $(slappasswd -s "$adminpw")
olcDbDirectory: $d/db
olcDbMaxSize: 67108864
olcDbNoSync: TRUE
olcDbIndex: objectClass eq
olcDbIndex: uid eq
olcDbIndex: member eq
olcDbIndex: memberUid eq
olcAccess: to attrs=userPassword by self write by anonymous auth by * none
olcAccess: to * by users read by * none

dn: olcOverlay={0}memberof,olcDatabase={1}mdb,cn=config
objectClass: olcOverlayConfig
objectClass: olcMemberOf
olcOverlay: {0}memberof
olcMemberOfRefInt: TRUE
LDIF
}

ldap_people() {  # base entries and users (slapadd); groups go in online so memberof fills memberOf
  local readerpw=$1
  cat <<LDIF
dn: $BASE
objectClass: dcObject
objectClass: organization
o: Example Test
dc: example

dn: ou=people,$BASE
objectClass: organizationalUnit
ou: people

dn: ou=groups,$BASE
objectClass: organizationalUnit
ou: groups

dn: ou=services,$BASE
objectClass: organizationalUnit
ou: services

dn: cn=atrium-reader,ou=services,$BASE
objectClass: organizationalRole
objectClass: simpleSecurityObject
cn: atrium-reader
userPassword: $(slappasswd -s "$readerpw")
LDIF
  local n=1000 u name
  for u in alice bob carol; do
    n=$((n + 1)); name="${u^} Example"
    printf '\ndn: uid=%s,ou=people,%s\nobjectClass: inetOrgPerson\nobjectClass: posixAccount\n' "$u" "$BASE"
    printf 'uid: %s\ncn: %s\nsn: Example\ngivenName: %s\nmail: %s@example.test\n' "$u" "$name" "${u^}" "$u"
    printf 'uidNumber: %s\ngidNumber: %s\nhomeDirectory: /home/%s\nuserPassword: %s\n' "$n" "$n" "$u" \
      "$(slappasswd -s "$u-pw")"
  done
}

ldap_groups() {
  local g members
  for g in "physics-staff:alice bob" "hpc-admins:alice" "chemistry:carol"; do
    printf 'dn: cn=%s,ou=groups,%s\nobjectClass: groupOfNames\ncn: %s\n' "${g%%:*}" "$BASE" "${g%%:*}"
    for members in ${g#*:}; do printf 'member: uid=%s,ou=people,%s\n' "$members" "$BASE"; done
    echo
  done
  printf 'dn: cn=hpc-users,ou=groups,%s\nobjectClass: posixGroup\ncn: hpc-users\ngidNumber: 5000\n' "$BASE"
  printf 'memberUid: alice\nmemberUid: carol\n'
}

run_slapd() {  # starts slapd from DIR/slapd.d on the URLs in DIR/slapd.urls, waits until it answers
  local d=$1 urls ldapi
  urls=$(cat "$d/slapd.urls"); ldapi=${urls##* }
  slapd -F "$d/slapd.d" -h "$urls" >"$d/slapd.log" 2>&1 || die "slapd did not start: $(cat "$d/slapd.log")"
  for _ in $(seq 1 3000); do
    ldapsearch -x -H "$ldapi" -b "" -s base -LLL namingContexts >/dev/null 2>&1 && return 0; sleep 0.02
  done
  die "slapd did not answer in 60 s (see $d/slapd.log)"
}

start_ldap() {
  local d=$1 port=$2 sport=$3 ldapi=$4 adminpw=$5 readerpw=$6
  rm -rf "$d/slapd.d" "$d/db"; mkdir -p "$d/slapd.d" "$d/db"
  ldap_config "$d" "$adminpw" >"$d/config.ldif"
  ldap_people "$readerpw" >"$d/data.ldif"
  slapadd -q -n 0 -F "$d/slapd.d" -l "$d/config.ldif" >"$d/slapadd.log" 2>&1 || die "slapadd (config) failed: $(cat "$d/slapadd.log")"
  slapadd -q -n 1 -F "$d/slapd.d" -l "$d/data.ldif" >>"$d/slapadd.log" 2>&1 || die "slapadd (data) failed: $(cat "$d/slapadd.log")"
  echo "ldap://127.0.0.1:$port/ ldaps://127.0.0.1:$sport/ $ldapi" >"$d/slapd.urls"
  run_slapd "$d"
  ldap_groups | ldapadd -x -H "$ldapi" -D "cn=admin,$BASE" -w "$adminpw" >>"$d/slapadd.log" 2>&1 \
    || die "adding the LDAP groups failed: $(cat "$d/slapadd.log")"
}

write_info() {
  python3 - "$@" <<'PY'
import json, sys
d, iss, port, sport, ldapi, adminpw, admintok = sys.argv[1:8]
base = "dc=example,dc=test"
users = {u: {"password": f"{u}-pw", "dn": f"uid={u},ou=people,{base}", "email": f"{u}@example.test"}
         for u in ("alice", "bob", "carol")}
info = {
    "dir": d,
    "ca_file": f"{d}/ca.pem",
    "oidc": {"issuer": iss, "client_secret_file": f"{d}/oidc-client-secret", "admin_token_file": f"{d}/admin-token",
             "users_file": f"{d}/users.json", "clients": json.load(open(f"{d}/clients.json")),
             "rotate_keys_url": f"{iss}/_admin/rotate-keys", "keys_url": f"{iss}/_admin/keys"},
    "ldap": {"url": f"ldap://127.0.0.1:{port}", "ldaps_url": f"ldaps://127.0.0.1:{sport}", "ldapi_url": ldapi,
             "port": int(port), "ldaps_port": int(sport), "base": base,
             "user_base": f"ou=people,{base}", "group_base": f"ou=groups,{base}",
             "bind_dn": f"cn=atrium-reader,ou=services,{base}", "bind_password_file": f"{d}/ldap-bind-password",
             "admin_dn": f"cn=admin,{base}", "admin_password": adminpw, "users": users,
             "groups": {"physics-staff": ["alice", "bob"], "hpc-admins": ["alice"], "chemistry": ["carol"]},
             "posix_groups": {"hpc-users": ["alice", "carol"]}},
}
json.dump(info, open(f"{d}/info.json", "w"), indent=1)
PY
}

write_toml() {
  local d=$1 iss=$2 port=$3
  cat <<TOML
[oidc.dev]
display_name = "Dev OIDC (local)"
issuer = "$iss"
client_id = "atrium-dev"
client_secret_file = "$d/oidc-client-secret"
ca_file = "$d/ca.pem"
scopes = "openid email profile groups"

[ldap.devldap]
display_name = "Dev LDAP (local)"
url = "ldap://127.0.0.1:$port"
start_tls = true
ca_file = "$d/ca.pem"
bind_dn = "cn=atrium-reader,ou=services,$BASE"
bind_password_file = "$d/ldap-bind-password"
user_base = "ou=people,$BASE"
user_filter = "(&(objectClass=inetOrgPerson)(uid={username}))"
username_attribute = "uid"
email_attribute = "mail"
name_attribute = "cn"
subject_attribute = "entryUUID"
group_base = "ou=groups,$BASE"
group_filter = "(&(objectClass=groupOfNames)(member={dn}))"
group_name_attribute = "cn"
TOML
}

cmd_start() {
  local d=${1:?usage: dev-idp.sh start DIR [--redirect URL]...}; shift
  local redirects=()
  while [ $# -gt 0 ]; do
    case "$1" in --redirect) redirects+=("${2:?--redirect URL}"); shift 2 ;; *) die "unknown option $1" ;; esac
  done
  need node nodejs; need npm npm; need slapd slapd; need slapadd slapd; need ldapadd ldap-utils
  need openssl openssl; need python3 python3
  mkdir -p "$d"; d=$(cd "$d" && pwd)
  if running "$d/oidc.pid" || running "$d/slapd.pid"; then die "$d already has a running instance: stop it first"; fi
  local port sport ldapi adminpw=admin-pw
  port=$(free_port); sport=$(free_port)
  ldapi="ldapi://$(python3 -c 'import sys,urllib.parse;print(urllib.parse.quote(sys.argv[1],safe=""))' "$d/ldapi")"
  (umask 077; rand >"$d/oidc-client-secret"; rand >"$d/ldap-bind-password"; rand >"$d/admin-token")
  make_certs "$d"
  write_oidc_files "$d" "${redirects[@]}"
  # EXIT, not ERR: die() exits without a failing command, and what started must not outlive it.
  # DIR is expanded now: a `set -e` exit runs the trap after cmd_start's local d is gone.
  # shellcheck disable=SC2064
  trap "cmd_stop $(printf %q "$d") >/dev/null 2>&1 || true" EXIT
  start_ldap "$d" "$port" "$sport" "$ldapi" "$adminpw" "$(cat "$d/ldap-bind-password")"
  start_oidc "$d"
  trap - EXIT
  write_info "$d" "$(cat "$d/oidc-issuer")" "$port" "$sport" "$ldapi" "$adminpw" "$(cat "$d/admin-token")"
  write_toml "$d" "$(cat "$d/oidc-issuer")" "$port" | tee "$d/atrium.toml"
}

cmd_stop() {
  local d=${1:?usage: dev-idp.sh stop DIR [--rm]}
  [ -d "$d" ] || return 0
  stop_pid "$d/oidc.pid" TERM
  stop_pid "$d/slapd.pid" INT
  if [ "${2:-}" = --rm ]; then rm -rf "$d"; fi
}

case "${1:-}" in
start) shift; cmd_start "$@" ;;
stop) shift; cmd_stop "$@" ;;
ldap-down) stop_pid "${2:?usage: dev-idp.sh ldap-down DIR}/slapd.pid" INT ;;
ldap-up)
  running "${2:?usage: dev-idp.sh ldap-up DIR}/slapd.pid" || run_slapd "$2" ;;
*) echo "usage: $0 start DIR [--redirect URL]... | stop DIR [--rm] | ldap-down DIR | ldap-up DIR" >&2; exit 2 ;;
esac
