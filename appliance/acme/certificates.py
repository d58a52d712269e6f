"""Certificate download and revocation (RFC 8555 sections 7.4.2 and 7.6)."""

from __future__ import annotations

from cryptography import x509
from cryptography.exceptions import InvalidSignature

from appliance.acme.accounts import same_key
from appliance.acme.context import AcmeRequest, Core, Reply, Signed
from appliance.acme.jws import account_key
from appliance.acme.problems import AcmeError, Problem
from appliance.errors import Conflict, ErrorKind
from appliance.jose.b64 import b64decode
from appliance.jose.jwk import JWK

#: RFC 5280 reason codes; 7 is unused.
REASON_CODES = frozenset(range(11)) - {7}


class Certificates:
    def __init__(self, core: Core) -> None:
        self._core = core

    def download(self, signed: Signed, certificate_id: str) -> Reply:
        """The PEM chain, for the account the certificate was issued to."""
        certificate = self._core.store.get_certificate(certificate_id)
        if certificate is None or certificate.account_id != signed.owner.id:
            raise AcmeError(Problem.MALFORMED, "no such certificate", kind=ErrorKind.NOT_FOUND)
        return Reply(certificate.chain_pem)

    def _issued_here(self, der: object) -> x509.Certificate:
        try:
            certificate = x509.load_der_x509_certificate(b64decode(der)) if isinstance(der, str) else None
        except ValueError:
            certificate = None
        if certificate is None:
            raise AcmeError(Problem.MALFORMED, "certificate must be a base64url DER certificate")
        for issuer in self._core.authority.intermediates():
            try:
                certificate.verify_directly_issued_by(issuer)
                return certificate
            except (InvalidSignature, ValueError, TypeError):
                continue
        raise AcmeError(Problem.UNAUTHORIZED, "the certificate was not issued by this CA")

    def revoke(self, request: AcmeRequest, signed: Signed) -> Reply:
        """By the account the certificate was issued to (kid) or by the certificate's key (jwk)."""
        fields = signed.fields()
        certificate = self._issued_here(fields.get("certificate"))
        reason = fields.get("reason", 0)
        if not isinstance(reason, int) or isinstance(reason, bool) or reason not in REASON_CODES:
            raise AcmeError(Problem.BAD_REVOCATION_REASON, "reason must be an RFC 5280 reason code other than 7")
        serial = str(certificate.serial_number)
        if signed.account is not None:
            issued = self._core.store.certificate_by_serial(serial)
            if issued is None or issued.account_id != signed.account.id:
                raise AcmeError(Problem.UNAUTHORIZED, "the certificate was not issued to this account")
        elif not same_key(signed.key, _certificate_key(certificate)):
            raise AcmeError(Problem.UNAUTHORIZED, "the request is not signed by the certificate's key")
        try:
            self._core.authority.revoke_authorized(serial, reason, "ACME revocation", request.provisioner.name)
        except Conflict:
            raise AcmeError(Problem.ALREADY_REVOKED, "the certificate is already revoked") from None
        return Reply({})


def _certificate_key(certificate: x509.Certificate) -> JWK:
    try:
        return account_key(JWK.from_pyca(certificate.public_key()).export_public(as_dict=True))
    except (TypeError, ValueError):
        raise AcmeError(Problem.BAD_PUBLIC_KEY, "the certificate's key cannot sign requests") from None
