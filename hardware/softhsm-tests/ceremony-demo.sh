#!/usr/bin/env bash
# Runs the whole two-tier ceremony from hardware/yubihsm/ceremonies/ on SoftHSM2
# tokens of its own (a "root HSM" and an "online HSM"), the way the operators run
# it on YubiHSM 2s: same files, with --kms pointing at the SoftHSM2 tokens.
#
#   hardware/softhsm-tests/ceremony-demo.sh [--shift-dates] OUTDIR
#
# The files' dates are used as they are (a rehearsal checks them too). With
# --shift-dates, every date in the copies moves by the same amount so that the
# latest not-before, this-update or revoked-at is now: the demo then works
# whenever it is run, long after the example dates.
#
# Leaves in OUTDIR: root.crt, intermediate.crt, root.crl (DER), root.crl.pem,
# the public keys, intermediate.csr, root-cross.csr, transcript.jsonl, and the
# SoftHSM2 tokens (OUTDIR/softhsm, config OUTDIR/softhsm2.conf) with their PINs
# (OUTDIR/pins) so that the online CA can be started on the intermediate key:
# the script prints the `appliance init` command for it.
set -euo pipefail

shift_dates=0
if [ "${1:-}" = "--shift-dates" ]; then
    shift_dates=1
    shift
fi
if [ "$#" -ne 1 ]; then
    echo "usage: $0 [--shift-dates] OUTDIR" >&2
    exit 2
fi
repo="$(cd "$(dirname "$0")/../.." && pwd)"
ceremonies="$repo/hardware/yubihsm/ceremonies"
# the command line: $APPLIANCE, else this checkout's .venv, else `appliance` on PATH
appliance="${APPLIANCE:-}"
if [ -z "$appliance" ] && [ -x "$repo/.venv/bin/appliance" ]; then appliance="$repo/.venv/bin/appliance"; fi
[ -n "$appliance" ] || appliance="$(command -v appliance || true)"
if [ -z "$appliance" ]; then
    echo "no appliance command: run scripts/install.sh, or set APPLIANCE=/path/to/appliance" >&2
    exit 2
fi
module="${SOFTHSM_MODULE:-/usr/lib/softhsm/libsofthsm2.so}"

mkdir -p "$1"
out="$(cd "$1" && pwd)"
if [ -e "$out/transcript.jsonl" ] || [ -e "$out/softhsm" ]; then
    echo "$out already holds a ceremony: use an empty folder" >&2
    exit 1
fi

# SoftHSM2 tokens of its own, whatever SOFTHSM2_CONF the caller has.
mkdir -p "$out/softhsm" "$out/pins"
chmod 700 "$out/pins"
export SOFTHSM2_CONF="$out/softhsm2.conf"
printf 'directories.tokendir = %s\nobjectstore.backend = file\nlog.level = ERROR\n' "$out/softhsm" > "$SOFTHSM2_CONF"

declare -A kms
for token in root-hsm online-hsm; do
    pin="$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')"
    (umask 077 && printf '%s\n' "$pin" > "$out/pins/$token.pin")
    softhsm2-util --init-token --free --label "$token" --pin "$pin" --so-pin "$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')" >/dev/null
    kms[$token]="pkcs11:module-path=$module;token=$token?pin-source=$out/pins/$token.pin"
done

# The ceremony files and the revocation list, copied so that outputs land in OUTDIR.
cp "$ceremonies"/*.yaml "$out/"
if [ "$shift_dates" = 1 ]; then
    python3 - "$out" <<'EOF'
import datetime, re, sys
from pathlib import Path

FORMAT = "%Y-%m-%d %H:%M:%SZ"
DATE = re.compile(r"(?m)^(\s*(not-before|not-after|this-update|next-update|revoked-at):\s*)"
                  r"(\d{4}-\d\d-\d\d \d\d:\d\d:\d\dZ)")
files = {path: path.read_text() for path in Path(sys.argv[1]).glob("*.yaml")}
starts = [datetime.datetime.strptime(m[3], FORMAT) for text in files.values() for m in DATE.finditer(text)
          if m[2] in ("not-before", "this-update", "revoked-at")]
offset = datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None, microsecond=0) - max(starts)
for path, text in files.items():
    path.write_text(DATE.sub(lambda m: m[1] + (datetime.datetime.strptime(m[3], FORMAT) + offset).strftime(FORMAT),
                             text))
EOF
fi

run() {  # run CEREMONY_FILE TOKEN
    echo "== $1 on $2"
    "$appliance" ceremony run "$out/$1" --kms "${kms[$2]}" --operator "ceremony-demo"
}
run 01-root-key.yaml root-hsm
run 02-root-certificate.yaml root-hsm
run 03-online-key.yaml online-hsm
run 04-intermediate-certificate.yaml root-hsm
run 05-root-crl.yaml root-hsm
run 06-online-csr.yaml online-hsm
run 07-root-cross-csr.yaml root-hsm

echo "== checks"
"$appliance" ceremony verify-transcript "$out/transcript.jsonl"
openssl verify -x509_strict -CAfile "$out/root.crt" "$out/intermediate.crt"
openssl crl -inform DER -in "$out/root.crl" -CAfile "$out/root.crt" -noout -verify
echo "== the online CA (README: From ceremony to online CA), with SOFTHSM2_CONF=$SOFTHSM2_CONF:"
echo "$appliance init --root $out/root.crt --intermediate $out/intermediate.crt" \
     "--kms '${kms[online-hsm]}' --intermediate-key-uri 'pkcs11:id=0201;object=intermediate-ca-key'" \
     "--path CA_DIR --dns NAME --address :8443 --provisioner admin --password-file PASSWORD_FILE"
