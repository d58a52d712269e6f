"""The Nebula provisioner with certificates made by the real ``nebula-cert`` (Debian
package ``nebula``): tokens signed XEdDSA by the host's X25519 key (the client code),
certificates checked by ``openssl verify``."""

from __future__ import annotations

import base64
import datetime
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from appliance.authority.interfaces import RevokeRequest, SignRequest
from appliance.client.tokens import nebula_token
from appliance.errors import BadRequest, Forbidden, Unauthorized
from appliance.jose import UnverifiedToken
from appliance.provisioner.nebula import NebulaProvisioner
from tests.ca_fixtures import make_csr
from tests.provisioner.conftest import MakeAuthority, certificate_count, context, openssl_verifies, sans

CA_URL = "https://ca.test:9000"


class Mesh:
    """A Nebula CA and hosts made by nebula-cert in ``directory``."""

    def __init__(self, directory: Path, name: str = "Test Mesh", ca_args: tuple[str, ...] = ()) -> None:
        if shutil.which("nebula-cert") is None:
            pytest.fail("nebula-cert is not installed: run scripts/install.sh --test (Debian package nebula)")
        self.directory = directory
        directory.mkdir(parents=True, exist_ok=True)
        self._run("ca", "-name", name, "-groups", "servers,ops", "-ips", "10.42.0.0/16", *ca_args)

    def _run(self, *args: str) -> None:
        subprocess.run(["nebula-cert", *args], cwd=self.directory, check=True, capture_output=True)

    def host(self, name: str, ip: str = "10.42.0.5/16", groups: str = "servers", *extra: str) -> str:
        self._run("sign", "-name", name, "-ip", ip, "-groups", groups, "-out-crt", f"{name}.crt",
                  "-out-key", f"{name}.key", *extra)
        return name

    @property
    def root(self) -> bytes:
        return (self.directory / "ca.crt").read_bytes()

    def token(self, host: str, *, subject: str | None = None, sans: tuple[str, ...] = (), endpoint: str = "sign",
              now: float | None = None, key_of: str | None = None) -> str:
        return nebula_token((self.directory / f"{host}.crt").read_bytes(),
                            (self.directory / f"{key_of or host}.key").read_bytes(), provisioner="mesh",
                            ca_url=CA_URL, endpoint=endpoint, subject=subject or host, sans=sans, now=now)


@pytest.fixture(scope="module")
def mesh(tmp_path_factory: pytest.TempPathFactory) -> Mesh:
    made = Mesh(tmp_path_factory.mktemp("mesh"))
    made.host("web1.mesh")
    made.host("db1.mesh", "10.42.0.9/16")
    return made


def nebula_config(mesh: Mesh) -> dict[str, Any]:
    return {"type": "Nebula", "name": "mesh", "roots": base64.b64encode(mesh.root).decode()}


def test_host_gets_a_certificate_for_its_name_and_ip(authority_with: MakeAuthority, mesh: Mesh,
                                                    tmp_path: Path) -> None:
    authority, ca = authority_with(nebula_config(mesh))
    token = mesh.token("web1.mesh")
    issued = authority.sign(SignRequest(csr=make_csr("web1.mesh", ["web1.mesh", "10.42.0.5"])[0], token=token))
    openssl_verifies(ca, issued, tmp_path)
    assert sans(issued.certificate) == ["10.42.0.5", "web1.mesh"]
    nebula_end = datetime.datetime.fromisoformat(subprocess.run(
        ["nebula-cert", "print", "-json", "-path", str(mesh.directory / "web1.mesh.crt")], capture_output=True,
        text=True, check=True).stdout.split('"notAfter":"')[1].split('"')[0].replace("Z", "+00:00"))
    assert issued.certificate.not_valid_after_utc <= nebula_end
    with pytest.raises(Unauthorized, match="already used"):
        authority.sign(SignRequest(csr=make_csr("web1.mesh", ["web1.mesh"])[0], token=token))
    with pytest.raises(Forbidden, match="10.42.0.9"):
        authority.sign(SignRequest(csr=make_csr("web1.mesh", ["10.42.0.9"])[0], token=mesh.token("web1.mesh")))
    assert certificate_count(authority) == 1


def test_names_outside_the_nebula_certificate_are_refused(authority_with: MakeAuthority, mesh: Mesh) -> None:
    authority, _ = authority_with(nebula_config(mesh))
    with pytest.raises(Unauthorized, match="db1.mesh"):
        authority.sign(SignRequest(csr=make_csr("web1.mesh")[0], token=mesh.token("web1.mesh", sans=("db1.mesh",))))
    assert certificate_count(authority) == 0


def test_other_mesh_wrong_key_expired_and_revoke(authority_with: MakeAuthority, mesh: Mesh, tmp_path: Path) -> None:
    other = Mesh(tmp_path / "other", "Other Mesh")
    other.host("web1.mesh")
    provisioner = NebulaProvisioner(nebula_config(mesh), context())
    with pytest.raises(Unauthorized, match="not issued by a CA"):
        provisioner.authorize_sign(UnverifiedToken.parse(other.token("web1.mesh"), allow_special=True))
    with pytest.raises(Unauthorized, match="signature"):  # db1's certificate, web1's key
        provisioner.authorize_sign(UnverifiedToken.parse(
            mesh.token("db1.mesh", key_of="web1.mesh"), allow_special=True))
    later = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(days=400)
    expired = NebulaProvisioner(nebula_config(mesh), context(lambda: later))
    with pytest.raises(Unauthorized, match="expired"):
        expired.authorize_sign(UnverifiedToken.parse(mesh.token("web1.mesh", now=later.timestamp()),
                                                     allow_special=True))
    authority, _ = authority_with(nebula_config(mesh))
    issued = authority.sign(SignRequest(csr=make_csr("db1.mesh", ["db1.mesh"])[0], token=mesh.token("db1.mesh")))
    serial = str(issued.certificate.serial_number)
    authority.revoke(RevokeRequest(serial=serial, token=mesh.token("db1.mesh", subject=serial, endpoint="revoke")))
    assert authority.database.get_revocation(serial) is not None


def test_roots_must_be_nebula_ca_certificates(mesh: Mesh) -> None:
    host = (mesh.directory / "web1.mesh.crt").read_text()
    for roots in (None, "", "bm90IGEgY2VydA==", host):
        with pytest.raises(BadRequest, match="roots"):
            NebulaProvisioner({"type": "Nebula", "name": "mesh", "roots": roots}, context())


def test_the_template_reads_the_nebula_certificate_as_authorization_crt(authority_with: MakeAuthority,
                                                                        mesh: Mesh) -> None:
    """step-ca: ``{{ .AuthorizationCrt.Groups }}`` and the other methods of nebula's certificate."""
    template = """{"subject": {"commonName": {{ toJson .AuthorizationCrt.Name }},
      "organizationalUnit": {{ toJson .AuthorizationCrt.Groups }},
      "organization": {{ printf "%v" .AuthorizationCrt.Networks | toJson }},
      "locality": {{ toJson .Token.sub }}},
      "sans": {{ toJson .SANs }}}"""
    authority, _ = authority_with({**nebula_config(mesh), "options": {"x509": {"template": template}}})
    issued = authority.sign(SignRequest(csr=make_csr("web1.mesh", ["web1.mesh"])[0], token=mesh.token("web1.mesh")))
    assert issued.certificate.subject.rfc4514_string() == "CN=web1.mesh,OU=servers,O=[10.42.0.5/16],L=web1.mesh"
