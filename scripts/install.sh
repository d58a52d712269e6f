#!/usr/bin/env bash
# Installs the appliance into .venv/ in this checkout.
#   scripts/install.sh          runtime: every KMS backend and database driver
#   scripts/install.sh --test   also what the tests need (SoftHSM2, OpenSC, moto, certbot, lego, ...)
set -euo pipefail
cd "$(dirname "$0")/.."

SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"

runtime_debs=(python3 python3-venv python3-dev gcc libpcsclite-dev swig openssl)
test_debs=(softhsm2 opensc openssh-client openssh-server lego dehydrated pebble systemd postgresql-client nodejs nebula
           golang-go golang-github-masterminds-sprig-dev)

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
fi
