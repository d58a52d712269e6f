#!/usr/bin/env bash
# Installs and starts everything the tests need on Debian 12, then runs the whole suite
# (arguments go to pytest) in APPLIANCE_TEST_WORKERS pytest-xdist workers (default 3: most
# tests wait on servers and real clients, so three keep two cores busy), each test file
# whole in one worker (its module-scoped servers start once). The database servers are
# scripts/test-services.sh's business:
#   APPLIANCE_TEST_PG_DSN     default postgresql://postgres@127.0.0.1:5432/test
#   APPLIANCE_TEST_MYSQL_DSN  default mysql://root@127.0.0.1:3306/test
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install.sh --test
scripts/test-services.sh
export APPLIANCE_TEST_PG_DSN="${APPLIANCE_TEST_PG_DSN:-postgresql://postgres@127.0.0.1:5432/test}"
export APPLIANCE_TEST_MYSQL_DSN="${APPLIANCE_TEST_MYSQL_DSN:-mysql://root@127.0.0.1:3306/test}"
export PATH="$PWD/.venv/bin:$PATH"  # scripts the tests run call `appliance`, certbot, moto_server
exec .venv/bin/python -m pytest -n "${APPLIANCE_TEST_WORKERS:-3}" --dist loadfile "$@"
