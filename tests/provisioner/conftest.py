"""An in-process CA (softkms, SQLite) whose ca.json carries extra provisioners."""

from __future__ import annotations

import datetime
import json
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from appliance.authority.authority import Authority
from appliance.authority.interfaces import IssuedCertificate
from appliance.db import open_database
from appliance.provisioner import Audiences, Claimer, ProvisionerContext
from tests.ca_fixtures import TestCA, build_ca
from tests.conftest import run_openssl

MakeAuthority = Callable[..., tuple[Authority, TestCA]]


@pytest.fixture
def authority_with(tmp_path: Path) -> Iterator[MakeAuthority]:
    """``authority_with(provisioner, ...)``: a CA with these provisioners after its JWK one."""
    opened: list[Authority] = []

    def make(*provisioners: dict[str, Any], **kwargs: Any) -> tuple[Authority, TestCA]:
        ca = build_ca(tmp_path / f"ca{len(opened)}", **kwargs)
        data = json.loads(ca.config_path.read_text())
        data["authority"]["provisioners"].extend(provisioners)
        ca.config_path.write_text(json.dumps(data))
        config = ca.config()
        authority = Authority.from_config(config, open_database(config.db), password=ca.password)
        opened.append(authority)
        return authority, ca

    yield make
    for authority in opened:
        authority.close()
        authority.database.close()


def openssl_verifies(ca: TestCA, issued: IssuedCertificate, directory: Path) -> None:
    """``openssl verify`` accepts the leaf against the CA's root and intermediate."""
    leaf = directory / f"leaf-{issued.certificate.serial_number}.crt"
    leaf.write_bytes(issued.certificate.public_bytes(serialization.Encoding.PEM))
    run_openssl("verify", "-CAfile", ca.root_path, "-untrusted", ca.intermediate_path, leaf)


def certificate_count(authority: Authority) -> int:
    """How many certificates the CA has recorded."""
    from sqlalchemy import text

    with authority.database.engine.connect() as connection:  # type: ignore[attr-defined]
        return int(connection.execute(text("SELECT count(*) FROM certificates")).scalar_one())


def sans(certificate: x509.Certificate) -> list[str]:
    names = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    return sorted(str(n.value) for n in names)


def context(now: Callable[[], datetime.datetime] | None = None) -> ProvisionerContext:
    """What a CA at ``ca.test`` gives its provisioners (``now``: an injected clock)."""
    clock = now or (lambda: datetime.datetime.now(datetime.timezone.utc))
    return ProvisionerContext(audiences=Audiences(frozenset({"ca.test"})), root_fingerprint="",
                              started_at=clock(), claims=Claimer(), now=clock)
