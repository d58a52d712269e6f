"""The X5C provisioner with a chain made by the openssl command line: tokens from the
client code (``step ca token --x5c-cert``), certificates checked by ``openssl verify``."""

from __future__ import annotations

import base64
import datetime
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from appliance.authority.interfaces import RevokeRequest, SignRequest
from appliance.client.tokens import x5c_token
from appliance.errors import BadRequest, Forbidden, Unauthorized
from appliance.jose import UnverifiedToken
from appliance.provisioner import Audiences, Claimer, ProvisionerContext
from appliance.provisioner.x5c import X5CProvisioner
from tests.ca_fixtures import make_csr
from tests.provisioner.conftest import MakeAuthority, certificate_count, openssl_verifies, sans
from tests.provisioner.openssl_chain import Chain, make_chain

CA_URL = "https://ca.test:9000"


@pytest.fixture(scope="module")
def chain(tmp_path_factory: pytest.TempPathFactory) -> Chain:
    made = make_chain(tmp_path_factory.mktemp("x5c"))
    made.issue_leaf("no-signing", key_usage="critical,keyEncipherment")
    made.issue_leaf("short-lived", days=1)
    return made


@pytest.fixture(scope="module")
def other_chain(tmp_path_factory: pytest.TempPathFactory) -> Chain:
    return make_chain(tmp_path_factory.mktemp("x5c-other"))


def x5c_config(chain: Chain, name: str = "x5c") -> dict[str, Any]:
    return {"type": "X5C", "name": name, "roots": base64.b64encode(chain.root.read_bytes()).decode()}


def token(chain: Chain, fingerprint: str, leaf: str = "device", *, subject: str = "device",
          sans_: tuple[str, ...] = (), endpoint: str = "sign", provisioner: str = "x5c", key: Any = None) -> str:
    return x5c_token(chain.certificates(leaf), key or chain.private_key(leaf), provisioner=provisioner,
                     ca_url=CA_URL, endpoint=endpoint, subject=subject, sans=sans_, root_fingerprint=fingerprint)


def test_token_from_an_openssl_chain_gets_a_certificate_openssl_verifies(
        authority_with: MakeAuthority, chain: Chain, tmp_path: Path) -> None:
    authority, ca = authority_with(x5c_config(chain))
    csr, _ = make_csr("device", ["device", "device.internal"])
    issued = authority.sign(SignRequest(csr=csr, token=token(chain, ca.fingerprint, sans_=("device", "device.internal"))))
    openssl_verifies(ca, issued, tmp_path)
    assert sans(issued.certificate) == ["device", "device.internal"]
    assert authority.provisioner_collection.for_certificate(issued.certificate).name == "x5c"


def test_replayed_token_and_names_outside_the_token_are_refused_and_spend_nothing(
        authority_with: MakeAuthority, chain: Chain) -> None:
    authority, ca = authority_with(x5c_config(chain))
    ott = token(chain, ca.fingerprint)
    with pytest.raises(Forbidden, match="other.test"):
        authority.sign(SignRequest(csr=make_csr("device", ["device", "other.test"])[0], token=ott))
    assert certificate_count(authority) == 0
    authority.sign(SignRequest(csr=make_csr("device")[0], token=ott))
    with pytest.raises(Unauthorized, match="already used"):
        authority.sign(SignRequest(csr=make_csr("device")[0], token=ott))
    assert certificate_count(authority) == 1


@pytest.mark.parametrize(("case", "message"), [
    ("other root", "does not lead to a root"),
    ("no digitalSignature", "digital signature"),
    ("wrong signer", "signature does not verify"),
    ("wrong audience", "audience"),
])
def test_refused_tokens_issue_nothing(authority_with: MakeAuthority, chain: Chain, other_chain: Chain,
                                     case: str, message: str) -> None:
    authority, ca = authority_with(x5c_config(chain))
    ott = {
        "other root": lambda: token(other_chain, ca.fingerprint),
        "no digitalSignature": lambda: token(chain, ca.fingerprint, "no-signing", subject="no-signing"),
        "wrong signer": lambda: token(chain, ca.fingerprint, key=ec.generate_private_key(ec.SECP256R1())),
        "wrong audience": lambda: x5c_token(chain.certificates("device"), chain.private_key("device"),
                                            provisioner="x5c", ca_url="https://elsewhere.test", endpoint="sign",
                                            subject="device", root_fingerprint=ca.fingerprint),
    }[case]()
    with pytest.raises(Unauthorized, match=message):
        authority.sign(SignRequest(csr=make_csr("device")[0], token=ott))
    assert certificate_count(authority) == 0


def test_certificate_never_outlives_the_x5c_leaf(authority_with: MakeAuthority, chain: Chain) -> None:
    authority, ca = authority_with(x5c_config(chain))
    leaf_end = chain.certificates("short-lived")[0].not_valid_after_utc
    issued = authority.sign(SignRequest(csr=make_csr("short-lived")[0],
                                        token=token(chain, ca.fingerprint, "short-lived", subject="short-lived")))
    assert issued.certificate.not_valid_after_utc == leaf_end
    asked = leaf_end + datetime.timedelta(hours=1)
    with pytest.raises(Forbidden, match="expiration of the provisioning credential"):
        authority.sign(SignRequest(csr=make_csr("short-lived")[0], not_after=asked,
                                   token=token(chain, ca.fingerprint, "short-lived", subject="short-lived")))


def test_revoke_with_an_x5c_token(authority_with: MakeAuthority, chain: Chain) -> None:
    authority, ca = authority_with(x5c_config(chain))
    issued = authority.sign(SignRequest(csr=make_csr("device")[0], token=token(chain, ca.fingerprint)))
    serial = str(issued.certificate.serial_number)
    with pytest.raises(Unauthorized, match="serial"):
        authority.revoke(RevokeRequest(serial=serial, token=token(chain, ca.fingerprint, subject="1",
                                                                  endpoint="revoke")))
    authority.revoke(RevokeRequest(serial=serial, token=token(chain, ca.fingerprint, subject=serial,
                                                              endpoint="revoke")))
    assert authority.database.get_revocation(serial) is not None


def _context(now: datetime.datetime) -> ProvisionerContext:
    return ProvisionerContext(audiences=Audiences(frozenset({"ca.test"})), root_fingerprint="",
                              started_at=now, claims=Claimer(), now=lambda: now)


def test_an_expired_leaf_is_refused(chain: Chain) -> None:
    later = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(days=40)
    provisioner = X5CProvisioner(x5c_config(chain), _context(later))
    ott = x5c_token(chain.certificates("device"), chain.private_key("device"), provisioner="x5c", ca_url=CA_URL,
                    endpoint="sign", subject="device", root_fingerprint="", now=later.timestamp())
    with pytest.raises(Unauthorized, match="not valid now"):
        provisioner.authorize_sign(UnverifiedToken.parse(ott))


def test_plain_pem_roots_accepted_and_bad_roots_refused(chain: Chain) -> None:
    now = datetime.datetime.now(datetime.timezone.utc)
    pem = {"type": "X5C", "name": "x5c", "roots": chain.root.read_text()}
    assert len(X5CProvisioner(pem, _context(now)).roots) == 1
    for roots in (None, "", "bm90IGEgY2VydA==", 42):
        with pytest.raises(BadRequest, match="roots"):
            X5CProvisioner({"type": "X5C", "name": "x5c", "roots": roots}, _context(now))


def test_an_x5c_certificate_renews_unless_the_provisioner_disables_it(authority_with: MakeAuthority,
                                                                     chain: Chain) -> None:
    authority, ca = authority_with(x5c_config(chain), {**x5c_config(chain, "frozen"),
                                                      "claims": {"disableRenewal": True}})
    issued = authority.sign(SignRequest(csr=make_csr("device")[0], token=token(chain, ca.fingerprint)))
    renewed = authority.renew(issued.certificate)
    assert renewed.certificate.serial_number != issued.certificate.serial_number
    frozen = authority.sign(SignRequest(csr=make_csr("device")[0],
                                        token=token(chain, ca.fingerprint, provisioner="frozen")))
    with pytest.raises(Unauthorized, match="renewal is disabled"):
        authority.renew(frozen.certificate)


def test_the_template_sees_the_token_and_the_x5c_leaf_as_step_ca_sets_them(
        authority_with: MakeAuthority, chain: Chain) -> None:
    """``.Token`` holds the token's claims and ``.AuthorizationCrt`` the x5c leaf (Go's
    ``*x509.Certificate``); step-ca's X5C never sets ``.AuthorizationChain``."""
    template = """{"subject": {"commonName": {{ toJson .Token.sub }},
      "organizationalUnit": {{ toJson .AuthorizationCrt.Subject.CommonName }},
      "organization": {{ toJson (printf "%v" .AuthorizationChain) }}},
      "sans": {{ toJson .SANs }},
      "uris": [{{ printf "https://serial.test/%d" .AuthorizationCrt.SerialNumber | toJson }}]}"""
    config = {**x5c_config(chain), "options": {"x509": {"template": template}}}
    authority, ca = authority_with(config)
    csr, _ = make_csr("device", ["device"])
    issued = authority.sign(SignRequest(csr=csr, token=token(chain, ca.fingerprint, sans_=("device",))))
    leaf = chain.certificates("device")[0]
    subject = {a.oid.dotted_string: a.value for a in issued.certificate.subject}
    assert subject == {"2.5.4.3": "device", "2.5.4.11": leaf.subject.rfc4514_string().split("CN=")[1].split(",")[0],
                       "2.5.4.10": "<nil>"}  # as Go prints a key the map lacks
    assert f"https://serial.test/{leaf.serial_number}" in sans(issued.certificate)
