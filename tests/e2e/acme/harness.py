"""The CA under ACME test: provisioners added with the CLI, the validation
options pointed at the test's DNS server and ports, openssl checks of what the
clients installed, revocation read from the CA's CRL."""

from __future__ import annotations

import datetime
import json
import re
import subprocess
import time
from dataclasses import dataclass
from typing import Any

from cryptography import x509

from tests.conftest import run_openssl
from tests.e2e.acme.challtestsrv import ChallTestSrv
from tests.e2e.acme.clients import Endpoint, Issued
from tests.e2e.harness import APPLIANCE, CA, Server

CLI_TIMEOUT = 60
#: crl.cacheDuration of the CA under test: a CRL is at most half of it old.
CRL_CACHE = datetime.timedelta(seconds=4)


def appliance_cli(ca: CA, *args: str) -> str:
    """Run an ``appliance ca ...`` command on the CA's ca.json; its standard output."""
    result = subprocess.run([str(APPLIANCE), *args, "--ca-config", str(ca.ca_json)], capture_output=True,
                            text=True, timeout=CLI_TIMEOUT)
    assert result.returncode == 0, f"appliance {' '.join(args)}:\n{result.stdout}\n{result.stderr}"
    return result.stdout


#: The issuer domain names of the ``acme-persist`` provisioner (dns-persist-01).
ISSUERS = ["ca.test", "authority.example"]

#: The ACME profiles of the ``acme`` provisioner (``test_profiles.py``).
PROFILES = {"shortlived": {"description": "6-day server certificates", "validity": "144h",
                           "keyUsage": ["digitalSignature"], "extKeyUsage": ["serverAuth"]}}


def add_acme_provisioner(ca: CA, name: str, *, require_eab: bool, http_port: int, tls_port: int,
                         resolver: str, **fields: Any) -> None:
    """``appliance ca provisioner add NAME --type ACME``, then the test-only validation
    options (``challengePorts``, ``challengeResolver``), which have no flags, the profiles,
    and ``fields``."""
    appliance_cli(ca, "ca", "provisioner", "add", name, "--type", "ACME",
              "--require-eab" if require_eab else "--no-require-eab")
    data = ca.data()
    (provisioner,) = [p for p in data["authority"]["provisioners"] if p["name"] == name]
    provisioner["challengePorts"] = {"http-01": http_port, "tls-alpn-01": tls_port}
    provisioner["challengeResolver"] = resolver
    provisioner["profiles"] = PROFILES
    provisioner.update(fields)
    ca.write(data)


@dataclass
class AcmeCA:
    """The running CA, the DNS server it resolves names with, its validation ports."""

    server: Server
    dns: ChallTestSrv
    http_port: int
    tls_port: int

    @property
    def ca(self) -> CA:
        return self.server.ca

    def base(self, provisioner: str) -> str:
        return f"https://127.0.0.1:{self.ca.port}/acme/{provisioner}"

    def endpoint(self, provisioner: str) -> Endpoint:
        return Endpoint(f"{self.base(provisioner)}/directory", self.ca.root, self.http_port, self.tls_port,
                        self.dns.resolver, self.dns.management_url)

    def eab_key(self, provisioner: str, key_id: str) -> str:
        """``appliance ca acme eab add``: a new EAB key ``key_id``; its base64url HMAC key."""
        created = json.loads(appliance_cli(self.ca, "ca", "acme", "eab", "add", provisioner, "--key-id", key_id))
        assert created["keyID"] == key_id and created["account"] is None
        return str(created["hmacKey"])

    def eab_account(self, provisioner: str, key_id: str) -> str | None:
        """The id of the account bound to an EAB key, from ``appliance ca acme eab list``."""
        keys = json.loads(appliance_cli(self.ca, "ca", "acme", "eab", "list", provisioner))
        (key,) = [k for k in keys if k["keyID"] == key_id]
        return key["account"]

    def account_status(self, url: str) -> str:
        """The status the CA's database holds for the account at ``url``."""
        account_id = url.rsplit("/", 1)[1]
        assert re.fullmatch(r"[\w-]+", account_id), url
        rows = self.ca.query(f"SELECT status FROM acme_accounts WHERE id = '{account_id}'")
        assert rows, f"no account {account_id} in the CA's database"
        return str(rows[0][0])

    def verify(self, issued: Issued) -> x509.Certificate:
        """openssl verifies the leaf against root + intermediate, its DNS names are exactly
        the names ordered, and the chain the client installed is the leaf then the intermediate."""
        run_openssl("verify", "-CAfile", self.ca.root, "-untrusted", self.ca.intermediate, issued.cert)
        leaf = issued.certificate()
        san = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        assert sorted(san.get_values_for_type(x509.DNSName)) == sorted(issued.names)
        chain = x509.load_pem_x509_certificates(issued.fullchain.read_bytes())
        assert chain == [leaf, x509.load_pem_x509_certificate(self.ca.intermediate.read_bytes())]
        return leaf

    def crl(self) -> x509.CertificateRevocationList:
        """The CA's current CRL, its signature checked by openssl."""
        with self.ca.client() as client:
            response = client.get("/1.0/crl")
        assert response.status_code == 200, response.text
        crl_file = self.ca.path / "acme-test.crl"
        crl_file.write_bytes(response.content)
        run_openssl("crl", "-inform", "DER", "-in", crl_file, "-CAfile", self.ca.intermediate, "-noout")
        return x509.load_der_x509_crl(response.content)

    def revocation(self, serial: int) -> x509.RevokedCertificate | None:
        """The CRL entry for ``serial``, waiting out the CRL cache of the workers that did not
        handle the revocation (``CRL_CACHE``: they rebuild after half of it); None if absent."""
        deadline = time.monotonic() + CRL_CACHE.total_seconds() + 2
        while (entry := self.crl().get_revoked_certificate_by_serial_number(serial)) is None:
            if time.monotonic() > deadline:
                return None
            time.sleep(0.2)
        return entry
