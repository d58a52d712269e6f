"""The per-type provisioner field sets of appliance.config.fields, proven against what
each type's implementation reads, and the notices ca.json loading gives with them."""

from __future__ import annotations

import base64
import datetime
import json
from pathlib import Path
from typing import Any, Iterator

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

from appliance.config.fields import PROVISIONER_FIELDS, PROVISIONER_STEP_CA_ONLY, SUPPORTED
from appliance.config.load import load_config
from appliance.jose import generate_jwk, public_dict
from appliance.provisioner import Audiences, Claimer, Collection, ProvisionerContext
from appliance.provisioner.collection import IMPLEMENTATIONS
from appliance.provisioner.types import BUILT_TYPES
from tests.ca_fixtures import build_ca
from tests.provisioner.test_nebula import Mesh

COMMON = SUPPORTED["authority.provisioners[]"]

#: Members a type accepts that its constructor does not read, each with why. A member
#: the CA does not interpret but publishes: ``/provisioners`` lists the provisioner's
#: ca.json object (``Provisioner.to_json``), from which the step CLI takes them for
#: its OIDC login, as from step-ca. test_published_members_are_listed proves it.
PUBLISHED_ONLY: dict[str, frozenset[str]] = {"OIDC": frozenset({"scopes", "authParams"})}


class RecordingDict(dict[str, Any]):
    """A ca.json object that records which of its keys are read; iterating it (``keys``,
    ``items``, ``values``, ``dict(...)``, ``{**...}``) reads them all."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.read: set[str] = set()
        self.read_all = False

    def __getitem__(self, key: str) -> Any:
        self.read.add(key)
        return super().__getitem__(key)

    def get(self, key: str, default: Any = None) -> Any:
        self.read.add(key)
        return super().get(key, default)

    def __contains__(self, key: object) -> bool:
        self.read.add(str(key))
        return super().__contains__(key)

    def setdefault(self, key: str, default: Any = None) -> Any:
        self.read.add(key)
        return super().setdefault(key, default)

    def pop(self, key: str, *default: Any) -> Any:
        self.read.add(key)
        return super().pop(key, *default)

    def __iter__(self) -> Iterator[str]:
        self.read_all = True
        return super().__iter__()

    def keys(self) -> Any:
        self.read_all = True
        return super().keys()

    def items(self) -> Any:
        self.read_all = True
        return super().items()

    def values(self) -> Any:
        self.read_all = True
        return super().values()


def _certificate(key: Any) -> x509.Certificate:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "fields test root")])
    now = datetime.datetime.now(datetime.timezone.utc)
    return (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(1).not_valid_before(now).not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))


@pytest.fixture(scope="module")
def minimal(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, Any]]:
    """A minimal valid ca.json object of each type."""
    directory = tmp_path_factory.mktemp("fields")
    pem = _certificate(rsa.generate_private_key(public_exponent=65537, key_size=2048)).public_bytes(
        serialization.Encoding.PEM)
    (directory / "iid.pem").write_bytes(pem)
    cluster_key = ec.generate_private_key(ec.SECP256R1()).public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    mesh = Mesh(directory / "mesh")
    return {
        "JWK": {"key": public_dict(generate_jwk())},
        "OIDC": {"clientID": "ca", "configurationEndpoint": "https://idp.test/.well-known/openid-configuration"},
        "GCP": {},
        "AWS": {"iidRoots": str(directory / "iid.pem")},
        "AZURE": {"tenantID": "tenant"},
        "ACME": {},
        "X5C": {"roots": base64.b64encode(pem).decode()},
        "K8SSA": {"publicKeys": base64.b64encode(cluster_key).decode()},
        "SSHPOP": {},
        "SCEP": {},
        "NEBULA": {"roots": base64.b64encode(mesh.root).decode()},
        "EST": {"secret": "s3cret"},
    }


def _context() -> ProvisionerContext:
    now = datetime.datetime(2026, 3, 1, tzinfo=datetime.timezone.utc)
    return ProvisionerContext(audiences=Audiences(frozenset({"ca.test"})), root_fingerprint="00",
                              started_at=now, claims=Claimer(), now=lambda: now)


def test_every_built_type_has_a_set() -> None:
    assert set(PROVISIONER_FIELDS) == set(BUILT_TYPES) == set(IMPLEMENTATIONS)
    for kind, names in PROVISIONER_STEP_CA_ONLY.items():
        assert not names & (COMMON | PROVISIONER_FIELDS[kind]), kind


@pytest.mark.parametrize("kind", BUILT_TYPES)
def test_the_set_is_what_the_type_reads(kind: str, minimal: dict[str, dict[str, Any]]) -> None:
    """Everything the type reads is in its set (nothing that acts is called ignored), and
    everything in its set is read (no stale entries)."""
    config = RecordingDict({"type": kind.lower(), "name": "p", **minimal[kind]})
    Collection.from_config([config], _context())  # IMPLEMENTATIONS[type](config, context), after reading type
    assert not config.read_all, f"{kind} iterates its config: the test cannot tell which members act"
    expected = COMMON | PROVISIONER_FIELDS[kind]
    assert config.read - expected == set(), f"{kind} reads members its set lacks"
    assert expected - PUBLISHED_ONLY.get(kind, frozenset()) - config.read == set(), f"{kind}'s set has stale members"


@pytest.mark.parametrize("kind", sorted(PUBLISHED_ONLY))
def test_published_members_are_listed(kind: str, minimal: dict[str, dict[str, Any]]) -> None:
    published = {name: [f"{name}-value"] for name in PUBLISHED_ONLY[kind]}
    config = {"type": kind, "name": "p", **minimal[kind], **published}
    listed = IMPLEMENTATIONS[kind](config, _context()).to_json()
    assert {name: listed.get(name) for name in published} == published
    assert PUBLISHED_ONLY[kind] <= PROVISIONER_FIELDS[kind]


def _notices(tmp_path: Path, *provisioners: dict[str, Any]) -> list[str]:
    ca = build_ca(tmp_path / "ca")
    data = json.loads(ca.config_path.read_text())
    data["authority"]["provisioners"].extend(provisioners)
    ca.config_path.write_text(json.dumps(data))
    return list(load_config(ca.config_path, report=False).notices)


def test_notices_judge_members_by_type(tmp_path: Path, minimal: dict[str, dict[str, Any]]) -> None:
    notices = _notices(
        tmp_path,
        {"type": "JWK", "name": "j", **minimal["JWK"], "clientID": "ca"},
        {"type": "oidc", "name": "o", **minimal["OIDC"]},
        {"type": "SCEP", "name": "s", "decrypterKey": "softkms:path=/none"},
        {"type": "GCP", "name": "g", "disableSSHCAHost": False},
        {"type": "SCEP", "name": "s2", "decrypterKeyURI": "softkms:path=/none"},
        {"type": "JWK", "name": "w", **minimal["JWK"], "webhooks": []},
    )
    provisioner_notices = [n for n in notices if "authority.provisioners" in n]
    assert provisioner_notices == [
        "ca.json: unknown field 'authority.provisioners[1].clientID' for JWK provisioners; ignored",
        "ca.json: 'authority.provisioners[4].disableSSHCAHost' is a step-ca setting that appliance "
        "does not implement yet for GCP provisioners; ignored",
        "ca.json: 'authority.provisioners[5].decrypterKeyURI' is appliance's old name of step-ca's "
        "'decrypterKey'; it is read, but write 'decrypterKey'",
        "ca.json: 'authority.provisioners[6].webhooks' is appliance's old name of step-ca's "
        "'options.webhooks'; it is read, but write 'options.webhooks'",
    ]
