"""The AWS provisioner: EC2 instance identity documents (step-ca's ``AWS`` type).

The client reads the document and its signature from the instance metadata service
(IMDSv2, else v1) and sends them in step's token: a JWT ``{"iss": "ec2.amazonaws.com",
"sub", "aud": ".../sign#aws/<name>", "amazon": {"document", "signature"}, ...}`` whose
HS256 key is the signature. The CA checks the document's RSA-SHA256 signature against
AWS's certificates, then the claims.

ca.json (step-ca's fields): ``accounts``, ``disableCustomSANs``,
``disableTrustOnFirstUse``, ``instanceAge``, ``iidRoots`` (the PEM file of the
certificates that sign documents), ``imdsVersions`` (the client's), ``claims``,
``options``. This appliance does not ship AWS's per-region certificates yet, so
``iidRoots`` is required.
"""

from __future__ import annotations

import base64
import binascii
import datetime
import json
from typing import Any

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from appliance.errors import BadRequest, Unauthorized
from appliance.jose import InvalidToken, UnverifiedToken
from appliance.pki.duration import parse_duration
from appliance.provisioner.base import Provisioner, ProvisionerContext, RevokeAuthorization, SignOptions, SshSignOptions, TokenUse
from appliance.provisioner.checks import config_flag, config_string, config_strings, instance_use, require_member
from appliance.provisioner.names import Names
from appliance.provisioner.ssh_defaults import instance_ssh_options
from appliance.provisioner.token import check_times, string_claim
from appliance.provisioner.types import PROVISIONER_TYPES

ISSUER = "ec2.amazonaws.com"
IMDS_VERSIONS = ("v1", "v2")
_REQUIRED = ("accountId", "instanceId", "privateIp", "region")


def _b64(value: Any, what: str) -> bytes:
    if not isinstance(value, str):
        raise Unauthorized(f"AWS token has no {what}")
    try:
        return base64.b64decode(value, validate=True)
    except (ValueError, binascii.Error):
        raise Unauthorized(f"AWS token {what} is not base64") from None


def private_dns_name(document: dict[str, Any]) -> str:
    """EC2's internal host name: ``ip-10-0-0-1.<region>.compute.internal``."""
    return f"ip-{document['privateIp'].replace('.', '-')}.{document['region']}.compute.internal"


class AWSProvisioner(Provisioner):
    """step-ca's ``AWS`` type."""

    kind = PROVISIONER_TYPES["AWS"]

    def __init__(self, config: dict[str, Any], context: ProvisionerContext) -> None:
        super().__init__(config, context)
        where = f"provisioner '{self.name}'"
        self.accounts = config_strings(config, "accounts", where)
        self.disable_custom_sans = config_flag(config, "disableCustomSANs", where)
        self.trust_on_first_use = not config_flag(config, "disableTrustOnFirstUse", where)
        age = config_string(config, "instanceAge", where)
        self.instance_age = parse_duration(age) if age else None
        unknown = sorted(set(config_strings(config, "imdsVersions", where)) - set(IMDS_VERSIONS))
        if unknown:
            raise BadRequest(f"{where}: imdsVersions must be v1 and/or v2, not {', '.join(unknown)}")
        roots = config_string(config, "iidRoots", where)
        if not roots:
            raise BadRequest(f"{where}: 'iidRoots' (the PEM file of AWS's instance identity certificates) is "
                             "required: this appliance does not ship AWS's certificates")
        path = context.path(roots)
        try:
            certificates = x509.load_pem_x509_certificates(path.read_bytes())
        except OSError as exc:
            raise BadRequest(f"{where}: cannot read iidRoots {path}: {exc.strerror}") from None
        except ValueError as exc:
            raise BadRequest(f"{where}: cannot load iidRoots {path}: {exc}") from None
        self.keys = [key for key in (c.public_key() for c in certificates) if isinstance(key, rsa.RSAPublicKey)]
        if not self.keys:
            raise BadRequest(f"{where}: iidRoots {path} holds no RSA certificate")

    @property
    def credential_id(self) -> str:
        return ""

    @property
    def token_id(self) -> str:
        return f"aws/{self.name}"

    def _document(self, claims: dict[str, Any]) -> dict[str, Any]:
        """The instance identity document, once its signature verifies."""
        amazon = claims.get("amazon")
        if not isinstance(amazon, dict):
            raise Unauthorized("AWS token has no 'amazon' claim")
        document, signature = _b64(amazon.get("document"), "document"), _b64(amazon.get("signature"), "signature")
        for key in self.keys:
            try:
                key.verify(signature, document, padding.PKCS1v15(), hashes.SHA256())
                break
            except InvalidSignature:
                continue
        else:
            raise Unauthorized("AWS instance identity document signature does not verify with the iidRoots")
        try:
            parsed = json.loads(document)
        except ValueError:
            raise Unauthorized("AWS instance identity document is not JSON") from None
        if not isinstance(parsed, dict):
            raise Unauthorized("AWS instance identity document is not a JSON object")
        for name in _REQUIRED:
            if not isinstance(parsed.get(name), str) or not parsed[name]:
                raise Unauthorized(f"AWS instance identity document has no {name}")
        return parsed

    def _check_age(self, document: dict[str, Any], now: datetime.datetime) -> None:
        if self.instance_age is None:
            return
        try:
            pending = datetime.datetime.fromisoformat(str(document.get("pendingTime")).replace("Z", "+00:00"))
        except ValueError:
            raise Unauthorized("AWS instance identity document has no valid pendingTime") from None
        if pending.tzinfo is None or now - pending > self.instance_age:
            raise Unauthorized("AWS instance is older than the provisioner's instanceAge")

    def _authorize(self, token: UnverifiedToken) -> tuple[dict[str, Any], dict[str, Any], str, TokenUse]:
        """The token's claims, its verified document, subject and replay mark."""
        amazon = token.claims.get("amazon")
        secret = _b64(amazon.get("signature") if isinstance(amazon, dict) else None, "signature")
        try:
            claims = token.verify_hmac(secret)
        except InvalidToken:
            raise Unauthorized("AWS token is not signed with its instance identity signature") from None
        document = self._document(claims)
        if claims.get("iss") != ISSUER:
            raise Unauthorized(f"AWS token issuer (iss) must be {ISSUER}")
        if not self.context.audiences.matches(claims.get("aud"), "sign"):
            raise Unauthorized("AWS token audience (aud) is not this CA's /sign endpoint")
        now = self.context.now()
        times = check_times(claims, now)
        subject = string_claim(claims, "sub")
        require_member(document["accountId"], self.accounts, "AWS account id")
        self._check_age(document, now)
        use = instance_use(self.token_id, document["instanceId"], token, trust_on_first_use=self.trust_on_first_use,
                           expires_at=times.expires_at)
        return claims, document, subject, use

    def authorize_sign(self, token: UnverifiedToken) -> SignOptions:
        claims, document, subject, use = self._authorize(token)
        if not self.disable_custom_sans:
            return SignOptions(provisioner=self, subject=subject, names=Names(), token=use, any_name=True,
                               claims=claims)
        dns_name = private_dns_name(document)
        if subject not in (document["instanceId"], document["privateIp"], dns_name):
            raise Unauthorized("AWS token subject (sub) must be the instance id, private IP or private DNS name")
        return SignOptions(provisioner=self, subject=subject, names=Names.parse([dns_name, document["privateIp"]]),
                           token=use, claims=claims)

    def authorize_ssh_sign(self, token: UnverifiedToken) -> SshSignOptions:
        """A host certificate for the instance id, principals its private IP and DNS name."""
        self.check_ssh_enabled()
        claims, document, _, use = self._authorize(token)
        return instance_ssh_options(self, claims, use, document["instanceId"],
                                    [document["privateIp"], private_dns_name(document)],
                                    custom_principals=not self.disable_custom_sans)

    def authorize_revoke(self, token: UnverifiedToken) -> RevokeAuthorization:
        raise Unauthorized(f"provisioner '{self.name}' is an AWS provisioner: revoke with the certificate (mTLS)")
