"""device-attest-01 verification cost: ``step`` (YubiKey PIV), ``apple`` and ``tpm`` attestations
verified per second on one core, the work a challenge answer does on the request path.

    .venv/bin/python benchmarks/device_attest.py [--seconds 3]

The ``step`` attestation comes from the software PIV card of the tests (EC P-256 root, F9
and slot keys; real YubiKeys use RSA-2048 for the root and F9, which verify faster than
ECDSA); the ``apple`` one from the tests' Apple-shaped P-384 hierarchy; the ``tpm`` one from a
real software TPM (swtpm: RSA-2048 AK, P-256 key) with the tests' P-256 AK certificate chain.
"""

from __future__ import annotations

import argparse
import datetime
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from cryptography import x509  # noqa: E402
from cryptography.hazmat.primitives import hashes  # noqa: E402
from cryptography.hazmat.primitives.asymmetric import ec  # noqa: E402
from cryptography.hazmat.primitives.serialization import Encoding  # noqa: E402
import cbor2  # noqa: E402

from appliance.acme import attestation  # noqa: E402
from appliance.jose.b64 import b64encode  # noqa: E402
from appliance.kms import KeyType, parse_uri  # noqa: E402
from appliance.kms.yubikey import YubiKeyKMS  # noqa: E402
from tests.acme.test_device_attest import SLOT  # noqa: E402
from tests.acme.test_device_attest_apple import AppleDevice  # noqa: E402
from tests.acme.test_device_attest_tpm import AttestationCA, Machine, att_obj  # noqa: E402
from tests.kms.fakes.piv_card import SoftPivCard  # noqa: E402

TOKEN, KEY_AUTH = "token", "token.thumbprint"


def _rate(seconds: float, att: attestation.AttestationObject, roots: list[x509.Certificate], fmt: str) -> float:
    now = datetime.datetime.now(datetime.timezone.utc)
    challenge = attestation.Challenge(TOKEN, KEY_AUTH, now)
    count, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        attestation.verify(att, [fmt], roots, challenge)
        count += 1
    return count / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=3.0)
    seconds = parser.parse_args().seconds
    card = SoftPivCard()
    kms = YubiKeyKMS(parse_uri("yubikey:"), readers=lambda: [card.connect])
    kms.create_key(SLOT, KeyType.EC_P256)
    signer = kms.create_signer(SLOT)
    assert isinstance(signer, ec.EllipticCurvePrivateKey)
    sig = signer.sign(KEY_AUTH.encode(), ec.ECDSA(hashes.SHA256()))
    step = cbor2.dumps({"fmt": "step", "attStmt": {"alg": -7, "sig": cbor2.dumps(sig), "x5c": [
        c.public_bytes(Encoding.DER) for c in kms.attest(SLOT)]}})
    apple = AppleDevice()
    with tempfile.TemporaryDirectory() as directory:
        machine, tpm_ca = Machine(Path(directory) / "swtpm"), AttestationCA()
        try:
            tpm = att_obj(machine.attestation(tpm_ca.chain(machine.ak_public), KEY_AUTH))
        finally:
            machine.tpm.close()
    for fmt, raw, roots in (("step", step, [card.root_certificate]), ("apple", apple.attestation(TOKEN), [apple.root]),
                            ("tpm", tpm, [tpm_ca.root])):
        decoded = attestation.decode({"attObj": b64encode(raw)})
        rate = _rate(seconds, decoded, roots, fmt)
        print(f"{fmt:6} {rate:8.0f} verifications/s  ({1000 / rate:.2f} ms each)")


if __name__ == "__main__":
    main()
