#!/usr/bin/env bash
# Installs everything Atrium needs to build, test and benchmark on Debian 12.
# Idempotent: packages already present are skipped by apt; safe to run again.
set -euo pipefail

PKGS=(
  build-essential cmake ninja-build ccache pkg-config git
  libboost1.74-dev libboost-system1.74-dev
  libssl-dev libsodium-dev libsqlite3-dev sqlite3 libseccomp-dev libutf8proc-dev
  nlohmann-json3-dev libspdlog-dev libfmt-dev libcli11-dev libtoml11-dev
  googletest libgtest-dev libgmock-dev libbenchmark-dev
  clang-19 libclang-rt-19-dev
  python3 python3-pytest curl procps openssl
  # environments: the built-in jupyter app (jupyter_server + the classic notebook UI) and terminal app
  python3-jupyter-server python3-nbclassic python3-ipykernel python3-terminado slirp4netns
  # outbound environments: the egress rules in their network namespace (ip; nsenter is util-linux)
  iproute2
  # tests/integration/hostile/test_env_origin.py drives a real headless browser (over its DevTools pipe)
  chromium
  # the web UI's build and tests (web/): Node.js 20 (the image's NodeSource build, with npm;
  # Debian's own nodejs 18 is too old for Vite 8 and scripts/build-web.sh says so)
  nodejs
  # scripts/check-house.py (ctest check.house) finds the functions with universal-ctags
  universal-ctags
  # sign-in for institutions (issue 17): libcurl for OIDC back-channel calls and SMTP, cjose + jansson
  # to verify ID tokens against a JWKS, libldap for LDAP bind/search; slapd + ldap-utils,
  # python3-aiosmtpd for the test fixtures (scripts/dev-idp.sh, tests/integration/smtp_sink.py);
  # libqrencode for the TOTP enrolment QR code
  libcurl4-openssl-dev libcjose-dev libjansson-dev libldap-dev slapd ldap-utils python3-aiosmtpd
  libqrencode-dev
  # software environments (issue 18): skopeo pulls OCI images, umoci unpacks and repacks them,
  # squashfs-tools reads SIF/squashfs images; docker-registry (a registry v2), busybox-static (a
  # tiny test image), apt-utils (a local apt repository for build tests) and python3-bcrypt (the
  # registry's htpasswd file) are test fixtures
  skopeo umoci squashfs-tools docker-registry busybox-static apt-utils python3-bcrypt
  # the SLURM executor (issue 19): scripts/slurm-dev-cluster.sh starts its own munged, slurmctld,
  # slurmrestd and two slurmd (in network namespaces: iproute2, above) on free ports; the packages'
  # own services are not started (see SLURM_PKGS below)
  slurmctld slurmd slurm-client slurmrestd slurm-wlm-jwt-plugin munge
)
# Installed with service starts denied (policy-rc.d): the tests run private daemons, and a packaged
# munged/slurmctld/slurmd would sit on the default ports for nothing.
SLURM_PKGS=" slurmctld slurmd slurm-client slurmrestd slurm-wlm-jwt-plugin munge "
BENCH_PKGS=(nginx-light wrk fcgiwrap)

missing=()
for p in "${PKGS[@]}" ${ATRIUM_BENCH:+"${BENCH_PKGS[@]}"}; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
# slapd without a system database or a daemon on port 389: the tests start their own.
echo 'slapd slapd/no_configuration boolean true' | $SUDO debconf-set-selections
$SUDO apt-get update -qq
plain=() slurm=()
for p in "${missing[@]}"; do
  if [[ $SLURM_PKGS == *" $p "* ]]; then slurm+=("$p"); else plain+=("$p"); fi
done
if [ ${#plain[@]} -gt 0 ]; then
  $SUDO apt-get install -y -qq --no-install-recommends "${plain[@]}" >/dev/null
fi
if [ ${#slurm[@]} -gt 0 ]; then
  made_policy=""
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' | $SUDO tee /usr/sbin/policy-rc.d >/dev/null
    $SUDO chmod 755 /usr/sbin/policy-rc.d
    made_policy=1
  fi
  rc=0
  $SUDO apt-get install -y -qq --no-install-recommends "${slurm[@]}" >/dev/null || rc=$?
  [ -z "$made_policy" ] || $SUDO rm -f /usr/sbin/policy-rc.d
  exit $rc
fi
