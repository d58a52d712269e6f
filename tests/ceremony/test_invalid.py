"""Bad ceremony files: each fails with a precise message naming the field, and
nothing changes — not on either HSM, not in the work folder, not in the transcript.

Every case starts from the same state: the root key, the root certificate and
the online (intermediate) key exist, so intermediate and CRL files are checked
against a real issuer on the HSM.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any, Callable

import pytest
import yaml

from appliance.ceremony import check_ceremony, run_ceremony
from appliance.errors import ApplianceError
from tests.ceremony.files import Ceremonies, when


@dataclass(frozen=True)
class Case:
    id: str
    document: Callable[[Ceremonies], dict[str, Any] | str]  # a dict, or raw YAML text
    message: str  # a regular expression the error must match


def _with(document: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    """``document`` with ``a.b.c`` set to ``value`` (``...`` deletes it)."""
    *parents, last = path.split(".")
    node = document
    for name in parents:
        node = node[name]
    if value is ...:
        del node[last]
    else:
        node[last] = value
    return document


def _bad_revocations(c: Ceremonies) -> dict[str, Any]:
    (c.folder / "bad-revoked.yaml").write_text(yaml.safe_dump(
        [{"serial": "01:02", "revoked-at": when(-1), "reason": "stolen"}]))
    return c.crl(revoked="bad-revoked.yaml")


CASES = [
    Case("unknown top-level field", lambda c: {**c.root(), "colour": "blue"},
         r"top level: unknown field\(s\): colour"),
    Case("unknown nested field", lambda c: _with(c.root(), "certificate.subject.email", "ca@example.test"),
         r"certificate\.subject: unknown field\(s\): email"),
    Case("missing not-after", lambda c: _with(c.root(), "certificate.not-after", ...),
         r"certificate\.not-after: missing required field"),
    Case("missing root path length", lambda c: _with(c.root(), "certificate.path-length", ...),
         r"certificate\.path-length: missing required field"),
    Case("unknown ceremony type", lambda c: {**c.root(), "ceremony-type": "rooot"},
         r"ceremony-type: 'rooot' is not one of key, root, intermediate, csr, cross-csr, crl"),
    Case("not-after beyond the issuer", lambda c: _with(c.intermediate(), "certificate.not-after", when(5000)),
         r"certificate\.not-after: .* is after the issuer's not-after"),
    Case("not-before before the issuer", lambda c: _with(c.intermediate(), "certificate.not-before", when(-30)),
         r"certificate\.not-before: .* is before the issuer's not-before"),
    Case("path length not below the issuer's", lambda c: _with(c.intermediate(), "certificate.path-length", 1),
         r"certificate\.path-length: 1 is not below the issuer's path length 1"),
    Case("not-after before not-before", lambda c: _with(c.root(), "certificate.not-after", when(-2)),
         r"certificate\.not-after: must be after not-before"),
    Case("date without a time", lambda c: _with(c.root(), "certificate.not-before", "2026-13-01"),
         r"certificate\.not-before: '2026-13-01' is not a date and time"),
    Case("CA certificate without cert-sign", lambda c: _with(c.root(), "certificate.key-usages", ["crl-sign"]),
         r"certificate\.key-usages: a CA certificate needs cert-sign"),
    Case("unknown key usage", lambda c: _with(c.root(), "certificate.key-usages", ["cert-sign", "sign-anything"]),
         r"certificate\.key-usages\[1\]: 'sign-anything' is not one of"),
    Case("key URI that does not exist", lambda c: _with(c.intermediate(), "hsm.key", c.root_hsm.key("no-such-key")),
         r"hsm\.key: no key"),
    Case("signing key is not the issuer's", lambda c: _with(
        _with(c.intermediate(), "hsm.key", c.online_hsm.key("intermediate-key")), "hsm.kms", c.online_hsm.kms),
         r"hsm\.key: the key on the HSM is not the public key of inputs\.issuer-certificate"),
    Case("new key's name already taken", lambda c: c.key(out="another.pub.pem"),
         r"hsm\.key: .* already exists: refusing to replace it"),
    Case("PIN in the ceremony file", lambda c: _with(c.root(), "hsm.kms", c.root_hsm.kms.split("?")[0] + "?pin-value=1234"),
         r"hsm\.kms: 'pin-value' puts a secret in the ceremony file"),
    Case("output exists", lambda c: _with(c.root(), "outputs.certificate", "root.crt"),
         r"outputs\.certificate: .*root\.crt exists: refusing to overwrite it"),
    Case("RSA key too small", lambda c: c.key(key="small", spec={"type": "RSA", "size": 1024}, out="small.pem"),
         r"key\.size: 1024 is not one of 2048, 3072, 4096"),
    Case("EC key with a size", lambda c: c.key(key="k", spec={"type": "EC", "curve": "P-256", "size": 256},
                                            out="k.pem"),
         r"key: unknown field\(s\): size"),
    Case("CRL next-update before this-update", lambda c: _with(c.crl(), "crl.next-update", when(-1)),
         r"crl\.next-update: must be after this-update"),
    Case("CRL number zero", lambda c: _with(c.crl(), "crl.number", 0),
         r"crl\.number: must be between 1 and 2\^159 - 1"),
    Case("unknown revocation reason", _bad_revocations,
         r"bad-revoked\.yaml\[0\]\.reason: 'stolen' is not one of"),
    Case("intermediate with both public key and CSR", lambda c: _with(c.intermediate(), "inputs.csr", "x.csr"),
         r"inputs: give exactly one of public-key, csr"),
    Case("field given twice", lambda c: "operator: Alice\n" + yaml.safe_dump(c.root(), sort_keys=False),
         r"line \d+: field 'operator' given twice"),
    Case("no operator", lambda c: _with(c.root(), "operator", ...),
         r"operator: missing: give it in the file or with --operator"),
    Case("output folder missing", lambda c: _with(c.root(), "outputs.certificate", "no/such/dir/root2.crt"),
         r"outputs\.certificate: folder .*no/such/dir does not exist"),
]


@pytest.fixture
def prepared(ceremonies: Ceremonies) -> Ceremonies:
    files = ceremonies.two_tier()
    for path in files[:3]:
        run_ceremony(path)
    return ceremonies


def _state(c: Ceremonies) -> tuple[list[str], list[str], dict[str, str]]:
    """Both HSMs' objects and every file in the work folder with its hash."""
    folder = {str(p.relative_to(c.folder)): hashlib.sha256(p.read_bytes()).hexdigest()
              for p in sorted(c.folder.rglob("*")) if p.is_file()}
    return c.root_hsm.snapshot(), c.online_hsm.snapshot(), folder


def test_there_are_at_least_ten_bad_cases() -> None:
    assert len(CASES) >= 10
    assert len({case.id for case in CASES}) == len(CASES)


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_bad_ceremony_file_fails_before_any_change(prepared: Ceremonies, case: Case) -> None:
    document = case.document(prepared)
    path = prepared.folder / "bad.yaml"
    path.write_text(document if isinstance(document, str) else yaml.safe_dump(document, sort_keys=False))
    before = _state(prepared)
    for attempt in (run_ceremony, check_ceremony):
        with pytest.raises(ApplianceError, match=case.message) as raised:
            attempt(path)
        assert raised.value.message.startswith(f"{path}: "), "the message names the ceremony file"
    assert _state(prepared) == before
