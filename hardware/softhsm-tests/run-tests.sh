#!/usr/bin/env bash
# Runs the HSM test suite (every test marked `hsm`: the PKCS#11 backend, the key
# ceremonies and the ceremony demo) against SoftHSM2. The same script runs in the
# container (see Dockerfile) and natively, after scripts/install.sh --test.
# Arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/../.."
python="${PYTHON:-.venv/bin/python}"
for tool in softhsm2-util pkcs11-tool openssl; do
    command -v "$tool" >/dev/null || { echo "$tool is missing: run scripts/install.sh --test" >&2; exit 1; }
done
exec "$python" -m pytest -m hsm "$@"
