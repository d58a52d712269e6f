#!/usr/bin/env bash
# Installs what the tests need and runs the whole suite (arguments go to pytest).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install.sh --test

# The tests use the PostgreSQL server on 127.0.0.1:5432 (trust auth, database "test").
if ! pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null && [ -d /etc/postgresql ]; then
    pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -n 1)" main start || true
fi

exec .venv/bin/python -m pytest "$@"
