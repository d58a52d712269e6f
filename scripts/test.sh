#!/usr/bin/env bash
# Installs and starts everything the tests need on Debian 12, then runs the whole suite
# (arguments go to pytest). The database servers are scripts/test-services.sh's business:
#   APPLIANCE_TEST_PG_DSN     default postgresql://postgres@127.0.0.1:5432/test
#   APPLIANCE_TEST_MYSQL_DSN  default mysql://root@127.0.0.1:3306/test
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install.sh --test
scripts/test-services.sh
export APPLIANCE_TEST_PG_DSN="${APPLIANCE_TEST_PG_DSN:-postgresql://postgres@127.0.0.1:5432/test}"
export APPLIANCE_TEST_MYSQL_DSN="${APPLIANCE_TEST_MYSQL_DSN:-mysql://root@127.0.0.1:3306/test}"
export PATH="$PWD/.venv/bin:$PATH"  # scripts the tests run call `appliance`, certbot, moto_server
exec .venv/bin/python -m pytest "$@"
