"""Run one ceremony: validate, check the HSM read-only, act, lint, write, record.

Nothing touches the HSM before the file and its inputs are valid, and nothing
changes on the HSM before the read-only checks pass; those failures leave no
trace. From the first step that acts on the HSM, every run (good or failed)
appends an entry to the transcript.
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.types import PublicKeyTypes

from appliance.ceremony import build
from appliance.ceremony.errors import OutputExists
from appliance.ceremony.hsm import PinPrompt, describe_token, key_uri, open_hsm, preflight
from appliance.ceremony.lint import fingerprint, lint_certificate, lint_crl, lint_csr, lint_key
from appliance.ceremony.load import load_ceremony
from appliance.ceremony.model import (
    AnyCeremony,
    CrlCeremony,
    CrossCsrCeremony,
    CsrCeremony,
    IntermediateCeremony,
    KeyCeremony,
    RootCeremony,
)
from appliance.ceremony.transcript import append_entry, file_sha256, recorded_path, verify_transcript
from appliance.errors import ApplianceError
from appliance.kms import KeyManager, KeyType, parse_uri
from appliance.pki.clock import utc_now

PEM = serialization.Encoding.PEM


def _now() -> str:
    return utc_now().isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _public_pem(key: PublicKeyTypes) -> bytes:
    return key.public_bytes(PEM, serialization.PublicFormat.SubjectPublicKeyInfo)


def _key_record(key: PublicKeyTypes) -> dict[str, str]:
    key_type = KeyType.of(key)
    return {"type": f"{key_type.kty} {key_type.curve or key_type.size}", "sha256": fingerprint(key)}


class _Steps:
    """Each step's name, times and outcome; failures keep the domain error's message."""

    def __init__(self) -> None:
        self.records: list[dict[str, Any]] = []

    @contextlib.contextmanager
    def __call__(self, name: str) -> Iterator[dict[str, Any]]:
        record: dict[str, Any] = {"step": name, "started": _now()}
        self.records.append(record)
        try:
            yield record
        except ApplianceError as exc:
            record.update(outcome="failed", error=exc.message, ended=_now())
            raise
        except Exception as exc:
            record.update(outcome="failed", error=f"unexpected {type(exc).__name__}", ended=_now())
            raise
        record.update(outcome="ok", ended=_now())


@dataclass
class _Run:
    """What a run produced so far, for the transcript."""

    ceremony: AnyCeremony
    manager: KeyManager
    public_key: PublicKeyTypes | None
    steps: _Steps
    record: dict[str, Any]
    artefacts: dict[str, bytes]


def _sign_certificate(run: _Run, ceremony: RootCeremony | IntermediateCeremony) -> None:
    assert run.public_key is not None
    issuer = ceremony.issuer if isinstance(ceremony, IntermediateCeremony) else None
    subject_key = ceremony.subject_key if isinstance(ceremony, IntermediateCeremony) else run.public_key
    with run.steps("sign-certificate"):
        cert = build.ca_certificate(ceremony.profile, subject_key, run.manager.create_signer(ceremony.key), issuer)
    run.record["serial"] = f"{cert.serial_number:x}"
    run.record["subject-public-key"] = _key_record(subject_key)
    with run.steps("lint") as step:
        issuer_path = ceremony.issuer_path if isinstance(ceremony, IntermediateCeremony) else None
        step["checks"] = lint_certificate(cert, ceremony.profile, subject_key, issuer, issuer_path)
    run.artefacts["certificate"] = cert.public_bytes(PEM)


def _generate_key(run: _Run, ceremony: KeyCeremony) -> None:
    with run.steps("generate-key"):
        created = run.manager.create_key(ceremony.key, ceremony.key_type)
    run.public_key = created.public_key
    run.record["hsm"]["created-key"] = str(parse_uri(created.uri))
    with run.steps("lint") as step:
        on_hsm = run.manager.get_public_key(ceremony.key)
        step["checks"] = lint_key(created.public_key, on_hsm, run.manager.create_signer(ceremony.key))
    run.artefacts["public-key"] = _public_pem(created.public_key)


def _sign_csr(run: _Run, ceremony: CsrCeremony | CrossCsrCeremony) -> None:
    assert run.public_key is not None
    signer = run.manager.create_signer(ceremony.key)
    with run.steps("sign-csr"):
        if isinstance(ceremony, CsrCeremony):
            request, subject = build.csr(ceremony.profile, signer), ceremony.profile.subject.name()
        else:
            request, subject = build.cross_csr(ceremony, signer), ceremony.certificate.subject
    with run.steps("lint") as step:
        step["checks"] = lint_csr(request, run.public_key, subject)
    run.artefacts["csr"] = request.public_bytes(PEM)


def _sign_crl(run: _Run, ceremony: CrlCeremony) -> None:
    with run.steps("sign-crl"):
        crl = build.crl(ceremony, run.manager.create_signer(ceremony.key))
    run.record["crl"] = {"number": ceremony.number, "revoked": [f"{r.serial:x}" for r in ceremony.revoked]}
    with run.steps("lint") as step:
        step["checks"] = lint_crl(crl, ceremony)
    run.artefacts["crl-der"] = crl.public_bytes(serialization.Encoding.DER)
    run.artefacts["crl-pem"] = crl.public_bytes(PEM)


def _write_new(path: Path, data: bytes) -> None:
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    except FileExistsError:
        raise OutputExists(f"{path} exists: refusing to overwrite it") from None
    with os.fdopen(fd, "wb") as f:
        f.write(data)


def _write_outputs(run: _Run) -> list[dict[str, str]]:
    written = []
    with run.steps("write-outputs"):
        for name, path in run.ceremony.outputs().items():
            _write_new(path, run.artefacts[name])
            written.append({"name": name, "path": recorded_path(path, run.ceremony.transcript),
                            "sha256": file_sha256(path)})
    return written


def _act(run: _Run) -> None:
    ceremony = run.ceremony
    if isinstance(ceremony, KeyCeremony):
        _generate_key(run, ceremony)
    elif isinstance(ceremony, (RootCeremony, IntermediateCeremony)):
        _sign_certificate(run, ceremony)
    elif isinstance(ceremony, (CsrCeremony, CrossCsrCeremony)):
        _sign_csr(run, ceremony)
    else:
        _sign_crl(run, ceremony)


def _validated(path: Path, operator: str | None, kms: str | None) -> AnyCeremony:
    ceremony = load_ceremony(path, operator=operator, kms=kms)
    if ceremony.transcript.exists():
        verify_transcript(ceremony.transcript, check_outputs=False)
    return ceremony


def check_ceremony(
    path: Path, *, operator: str | None = None, kms: str | None = None, prompt: PinPrompt | None = None
) -> AnyCeremony:
    """Everything ``run_ceremony`` checks before it acts, and nothing more (a dry run)."""
    ceremony = _validated(path, operator, kms)
    with open_hsm(ceremony.kms, ceremony.key, prompt) as manager:
        preflight(ceremony, manager)
    return ceremony


def run_ceremony(
    path: Path, *, operator: str | None = None, kms: str | None = None, prompt: PinPrompt | None = None
) -> dict[str, Any]:
    """Run the ceremony in ``path`` and return its transcript entry.

    ``kms`` replaces the file's ``hsm.kms`` (a rehearsal on another token);
    ``prompt`` is asked for the PIN when no ``pin-source`` gives it.
    """
    started = _now()
    ceremony = _validated(path, operator, kms)
    with open_hsm(ceremony.kms, ceremony.key, prompt) as manager:
        public_key = preflight(ceremony, manager)
        record: dict[str, Any] = {
            "started": started,
            "ceremony": {"type": ceremony.type, "file": recorded_path(path, ceremony.transcript),
                         "sha256": ceremony.sha256},
            "operator": ceremony.operator,
            "hsm": {"kms": str(parse_uri(ceremony.kms)), "kms-override": kms is not None,
                    "key": str(key_uri(ceremony.kms, ceremony.key)),
                    "token": describe_token(manager, ceremony.kms, ceremony.key)},
        }
        run = _Run(ceremony, manager, public_key, _Steps(), record, {})
        try:
            _act(run)
            record["outputs"] = _write_outputs(run)
        except Exception as exc:
            message = exc.message if isinstance(exc, ApplianceError) else f"unexpected {type(exc).__name__}"
            record.update(outcome="failed", error=message)
            raise
        else:
            record["outcome"] = "ok"
        finally:
            if run.public_key is not None:
                record["public-key"] = _key_record(run.public_key)
            record.update(steps=run.steps.records, finished=_now())
            entry = append_entry(ceremony.transcript, record)
    return entry
