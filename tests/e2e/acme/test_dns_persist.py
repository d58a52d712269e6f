"""dns-persist-01 against a running ``appliance serve``, driven by the python ``acme``
library (certbot's; it knows no dns-persist-01, so the challenge arrives unrecognised
and is answered with ``{}``). One ``_validation-persist`` record in pebble-challtestsrv
serves two orders; another account's client is refused. Debian's lego (4.9.1) has
no dns-persist-01."""

from __future__ import annotations

from pathlib import Path

import josepy as jose
import pytest
from acme import challenges, client, errors, messages
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from tests.conftest import run_openssl
from tests.e2e.acme.harness import ISSUERS, AcmeCA
from tests.ca_fixtures import make_csr

pytestmark = pytest.mark.slow

PERSIST = "dns-persist-01"


class DnsPersist01Response(challenges.ChallengeResponse):
    """The answer to dns-persist-01: an empty object (the record is already in place)."""

    typ = PERSIST

    def __bool__(self) -> bool:
        """The library signs an empty payload (POST-as-GET) for a falsy object, and an
        object without fields is falsy: this one must be sent as ``{}``."""
        return True


def acme_client(acme: AcmeCA) -> tuple[client.ClientV2, str]:
    """A registered client of the ``acme-persist`` provisioner, and its account URL."""
    key = jose.JWKEC(key=ec.generate_private_key(ec.SECP256R1()))
    # verify_ssl goes to requests' ``verify``, which also takes a CA bundle (typed bool only)
    network = client.ClientNetwork(key, alg=jose.ES256, verify_ssl=str(acme.ca.root),  # type: ignore[arg-type]
                                   user_agent="appliance-tests")
    directory = client.ClientV2.get_directory(f"{acme.base('acme-persist')}/directory", network)
    acme_v2 = client.ClientV2(directory, network)
    account = acme_v2.new_account(messages.NewRegistration.from_data(terms_of_service_agreed=True))
    return acme_v2, account.uri


def obtain(acme_v2: client.ClientV2, name: str, tmp_path: Path) -> Path:
    """Order ``name``, answer dns-persist-01 with ``{}``, finalize: the certificate file."""
    csr, key = make_csr(name, [name])
    order = acme_v2.new_order(csr.public_bytes(serialization.Encoding.PEM))
    for authz in order.authorizations:
        (challb,) = [c for c in authz.body.challenges if c.chall.to_partial_json()["type"] == PERSIST]
        body = challb.chall.to_partial_json()
        assert body["issuer-domain-names"] == ISSUERS and "token" not in body
        acme_v2.answer_challenge(challb, DnsPersist01Response())
    done = acme_v2.poll_and_finalize(order)
    cert = tmp_path / f"{name}-{len(list(tmp_path.iterdir()))}.pem"
    cert.write_text(done.fullchain_pem)
    return cert


def test_python_acme_client_issues_twice_with_one_record(acme: AcmeCA, tmp_path: Path) -> None:
    acme_v2, account_url = acme_client(acme)
    name = "persist.example.test"
    acme.dns.set_txt(f"_validation-persist.{name}", f"{ISSUERS[1]}; accounturi={account_url}")
    try:
        for _ in range(2):
            cert = obtain(acme_v2, name, tmp_path)
            run_openssl("verify", "-CAfile", acme.ca.root, "-untrusted", acme.ca.intermediate, cert)
            assert f"DNS:{name}" in run_openssl("x509", "-in", cert, "-noout", "-ext", "subjectAltName").stdout
        other, _ = acme_client(acme)
        with pytest.raises(errors.ValidationError) as refused:
            obtain(other, name, tmp_path)
        (failed,) = refused.value.failed_authzrs
        (challb,) = failed.body.challenges
        assert challb.error is not None and challb.error.typ == "urn:ietf:params:acme:error:unauthorized"
        assert "not this account's URL" in str(challb.error.detail)
    finally:
        acme.dns.clear_txt(f"_validation-persist.{name}")
