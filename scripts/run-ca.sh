#!/usr/bin/env bash
# Installs everything and runs the CA on the embedded defaults (softkms keys, SQLite).
# First run: initialises $APPLIANCE_PATH (default ~/.appliance) with a generated password,
# kept in $APPLIANCE_PATH/secrets/password. The first run reads CA_NAME, CA_DNS, CA_ADDRESS
# and CA_PROVISIONER (see the README's quick start).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install.sh

export APPLIANCE_PATH="${APPLIANCE_PATH:-$HOME/.appliance}"
password_file="$APPLIANCE_PATH/secrets/password"
if [ ! -f "$APPLIANCE_PATH/config/ca.json" ]; then
    mkdir -p "$APPLIANCE_PATH/secrets" && chmod 700 "$APPLIANCE_PATH/secrets"
    (umask 077 && .venv/bin/python -c 'import secrets; print(secrets.token_urlsafe(32))' > "$password_file")
    .venv/bin/appliance init --path "$APPLIANCE_PATH" --name "${CA_NAME:-Appliance CA}" \
        --dns "${CA_DNS:-localhost}" --address "${CA_ADDRESS:-127.0.0.1:8443}" \
        --provisioner "${CA_PROVISIONER:-admin}" --password-file "$password_file"
    echo "run-ca.sh: the password of the keys and of the provisioner is in $password_file" >&2
fi
exec .venv/bin/appliance serve "$APPLIANCE_PATH/config/ca.json" --password-file "$password_file"
