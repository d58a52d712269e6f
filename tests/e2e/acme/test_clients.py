"""certbot, lego and dehydrated, unchanged, against the CA on loopback: register,
order for one and for several names with each challenge the client solves
(http-01 and dns-01; tls-alpn-01 with lego), renew, revoke, register with EAB;
a wildcard over dns-01 and http-01 at the resolved address with lego. Every
certificate is verified by openssl and its SANs checked; revocations are read
back from the CA's CRL."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pytest
from cryptography import x509

from tests.e2e.acme.clients import CLIENTS, DNS_01, HTTP_01, AcmeClient, ClientFailed, Endpoint, Issued
from tests.e2e.acme.harness import AcmeCA

pytestmark = pytest.mark.slow


NAMES = sorted(CLIENTS)
CELLS = [(name, challenge) for name in NAMES for challenge in sorted(CLIENTS[name].challenges)]


@dataclass
class Clients:
    """One instance per client (state directory, account) for the whole module,
    and the certificate that its renew and revoke tests share."""

    endpoint: Endpoint
    directories: pytest.TempPathFactory
    registered: dict[str, tuple[AcmeClient, str]] = field(default_factory=dict)
    lineages: dict[str, Issued] = field(default_factory=dict)

    def get(self, name: str) -> tuple[AcmeClient, str]:
        """The client ``name`` and its account URL (registered on first use)."""
        if name not in self.registered:
            client = CLIENTS[name](self.endpoint, self.directories.mktemp(name))
            self.registered[name] = (client, client.register())
        return self.registered[name]

    def lineage(self, name: str) -> Issued:
        if name not in self.lineages:
            self.lineages[name] = self.get(name)[0].obtain((f"renew.{name}.test",), HTTP_01)
        return self.lineages[name]


@pytest.fixture(scope="module")
def clients(endpoint: Endpoint, tmp_path_factory: pytest.TempPathFactory) -> Clients:
    return Clients(endpoint, tmp_path_factory)


@pytest.mark.parametrize("name", NAMES)
def test_register(acme: AcmeCA, clients: Clients, name: str) -> None:
    _, account = clients.get(name)
    assert account.startswith(acme.base("acme") + "/account/")
    assert acme.account_status(account) == "valid"


@pytest.mark.parametrize("count", [1, 3], ids=["one-name", "several-names"])
@pytest.mark.parametrize(("name", "challenge"), CELLS)
def test_order(acme: AcmeCA, clients: Clients, name: str, challenge: str, count: int) -> None:
    client, _ = clients.get(name)
    names = tuple(f"n{i}.{challenge}.{name}.test" for i in range(count))
    acme.verify(client.obtain(names, challenge))


@pytest.mark.parametrize("name", NAMES)
def test_renew(acme: AcmeCA, clients: Clients, name: str) -> None:
    client, _ = clients.get(name)
    lineage = clients.lineage(name)
    before = acme.verify(lineage)
    client.renew(lineage)
    after = acme.verify(lineage)
    assert after.serial_number != before.serial_number
    assert after.not_valid_after_utc >= before.not_valid_after_utc


@pytest.mark.parametrize("name", NAMES)
def test_revoke(acme: AcmeCA, clients: Clients, name: str) -> None:
    client, _ = clients.get(name)
    lineage = clients.lineage(name)
    serial = lineage.certificate().serial_number
    assert acme.crl().get_revoked_certificate_by_serial_number(serial) is None
    reason = client.revoke(lineage)
    entry = acme.revocation(serial)
    assert entry is not None, f"serial {serial:x} is not in the CRL after {name} revoked it"
    if reason is None:
        assert not any(isinstance(e.value, x509.CRLReason) for e in entry.extensions)
    else:
        assert entry.extensions.get_extension_for_class(x509.CRLReason).value.reason == reason


def test_lego_wildcard_only_with_dns01(acme: AcmeCA, clients: Clients) -> None:
    """A wildcard is issued over dns-01; its authorization offers nothing else, so lego
    with only an http-01 solver finds no challenge it can solve."""
    lego, _ = clients.get("lego")
    acme.verify(lego.obtain(("*.wild.lego.test",), DNS_01))
    with pytest.raises(ClientFailed, match=r"(?s)Could not find solver for: dns-01\n.*could not determine solvers"):
        lego.obtain(("*.nohttp.lego.test",), HTTP_01)


def test_http01_connects_to_the_resolved_address(acme: AcmeCA, clients: Clients) -> None:
    """The CA validates http-01 at the address its resolver gives: a name that resolves
    to 127.0.0.2, where nothing listens (lego listens on 127.0.0.1), is not issued."""
    lego, _ = clients.get("lego")
    acme.dns.add_a("elsewhere.lego.test", "127.0.0.2")
    with pytest.raises(ClientFailed, match=r"urn:ietf:params:acme:error:connection.*127\.0\.0\.2"):
        lego.obtain(("elsewhere.lego.test",), HTTP_01)


#: What each client says when asked to register without EAB where EAB is required: all
#: three read ``externalAccountRequired`` from the directory and refuse before asking
#: the CA (the CA's own refusal is tested in tests/acme/).
WITHOUT_EAB = {
    "certbot": "requires external account binding",
    "dehydrated": "requires an external account",
    "lego": "requires External Account Binding",
}


@pytest.mark.parametrize("name", NAMES)
def test_external_account_binding(acme: AcmeCA, tmp_path: Path, name: str) -> None:
    """On a provisioner that requires EAB: no account without a binding; with a key from
    ``appliance ca acme eab add`` the account is made, the key is listed as bound to it, a
    certificate follows; the key cannot bind a second account."""
    kid = f"{name}-e2e"
    hmac_key = acme.eab_key("acme-eab", kid)
    endpoint = acme.endpoint("acme-eab")
    kind = CLIENTS[name]
    with pytest.raises(ClientFailed, match=WITHOUT_EAB[name]):
        kind(endpoint, tmp_path / "unbound").register()
    client = kind(endpoint, tmp_path / "bound")
    account = client.register(eab=(kid, hmac_key))
    assert account.startswith(acme.base("acme-eab") + "/account/")
    assert acme.account_status(account) == "valid"
    assert acme.eab_account("acme-eab", kid) == account.rsplit("/", 1)[1]
    acme.verify(client.obtain((f"eab.{name}.test",), HTTP_01))
    with pytest.raises(ClientFailed, match="already used"):
        kind(endpoint, tmp_path / "second").register(eab=(kid, hmac_key))
