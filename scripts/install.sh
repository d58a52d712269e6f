#!/usr/bin/env bash
# Installs the appliance into .venv/ in this checkout.
#   scripts/install.sh          runtime: every KMS backend and database driver
#   scripts/install.sh --test   also every server and command the tests and the README's examples run:
#       PostgreSQL and MariaDB servers, SoftHSM2 (softhsm2-util), OpenSC (pkcs11-tool), ssh-keygen, lego,
#       dehydrated (with hexdump, which it needs for EAB), pebble-challtestsrv, systemd-analyze, curl, jq,
#       a software TPM (swtpm, swtpm-tools) and tpm2-tools;
#       certbot and moto_server come from PyPI; step-ca 0.19 built from Debian's source (scripts/build-step-ca.sh),
#       smallstep's step CLI 0.15 likewise (scripts/build-step-cli.sh)
#   Either way .venv/bin/appliance is linked into /usr/local/bin (APPLIANCE_LAUNCHER=0: not).
set -euo pipefail
cd "$(dirname "$0")/.."

SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"

runtime_debs=(python3 python3-venv python3-dev gcc libpcsclite-dev swig openssl)
test_debs=(softhsm2 scep opensc openssh-client openssh-server lego dehydrated bsdextrautils pebble systemd curl jq ca-certificates
           postgresql postgresql-client mariadb-server mariadb-client nodejs nebula golang-go
           golang-github-masterminds-sprig-dev prometheus chromium chromium-driver socat
           golang-github-smallstep-certificates-dev golang-github-jackc-pgx-v4-dev swtpm swtpm-tools tpm2-tools
           golang-github-smallstep-cli-dev golang-github-smallstep-truststore-dev golang-sslmate-src-go-pkcs12-dev
           golang-github-pquerna-otp-dev)

debs=("${runtime_debs[@]}")
extras="all"
if [ "${1:-}" = "--test" ]; then
    debs+=("${test_debs[@]}")
    extras="all,test"
fi

missing=()
for deb in "${debs[@]}"; do
    dpkg-query -W -f='${Status}' "$deb" 2>/dev/null | grep -q "install ok installed" || missing+=("$deb")
done
if [ "${#missing[@]}" -gt 0 ]; then
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

[ -x .venv/bin/python ] || python3 -m venv .venv
.venv/bin/pip install -q --upgrade pip
.venv/bin/pip install -q -e ".[${extras}]"

if [ "${1:-}" = "--test" ]; then
    # the real OpenID provider of the OIDC provisioner tests (panva's oidc-provider, pinned by its lock file)
    (cd tests/provisioner/oidc_provider && npm ci --no-audit --no-fund --silent)
    # step-ca 0.19 from Debian's source, for the migration tests and the side-by-side benchmark (cached)
    scripts/build-step-ca.sh >/dev/null
    # smallstep's step CLI 0.15 from Debian's source, the client of the step CLI compatibility tests (cached)
    scripts/build-step-cli.sh >/dev/null
fi

# a launcher, so that `appliance` works without .venv/bin on PATH (the README's examples call it)
if [ "${APPLIANCE_LAUNCHER:-1}" != 0 ] && { [ ! -e /usr/local/bin/appliance ] || [ -L /usr/local/bin/appliance ]; }; then
    $SUDO ln -sfn "$PWD/.venv/bin/appliance" /usr/local/bin/appliance
fi
