"""The ACME provisioner (step-ca's ``ACME`` type): authorises orders, not tokens.

step-ca's fields: ``name``, ``forceCN``, ``challenges`` (default http-01, dns-01 and
tls-alpn-01; ``device-attest-01`` and ``dns-persist-01`` when named), ``attestationFormats`` (``apple``,
``step``, ``tpm``; default all three), ``attestationRoots`` (a base64-encoded PEM
bundle; default: the roots ``appliance.acme.attestation`` ships for each format),
``claims``, ``termsOfService``, ``website``, ``caaIdentities``, ``requireEAB``,
and ``policy`` (read by every provisioner type: ``appliance.policy``).

Our additions, for tests and unusual networks (step-ca has no equivalent in ca.json):

- ``challengePorts``: ``{"http-01": 80, "tls-alpn-01": 443}``, the ports validation connects to;
- ``challengeResolver``: ``"host:port"`` of the DNS server that dns-01 and
  dns-persist-01 query (default: the system's resolvers);
- ``issuerDomainNames``: the CA's issuer domain names (1 to 10) that a dns-persist-01
  record may name (``appliance.acme.persist``); required with dns-persist-01, refused without it;
- ``profiles``: ACME profiles a new-order may name (``appliance.provisioner.acme_profiles``).
"""

from __future__ import annotations

import base64
import binascii
from typing import Any

from cryptography import x509

from appliance.errors import BadRequest, Unauthorized
from appliance.jose import UnverifiedToken
from appliance.pki.domain_names import normal_domain_name
from appliance.provisioner.acme_profiles import parse_profiles
from appliance.provisioner.checks import config_strings
from appliance.provisioner.base import Provisioner, ProvisionerContext, RevokeAuthorization, SignOptions
from appliance.provisioner.types import PROVISIONER_TYPES

CHALLENGE_TYPES = ("http-01", "dns-01", "tls-alpn-01")
DEVICE_ATTEST = "device-attest-01"
DNS_PERSIST = "dns-persist-01"
MAX_ISSUER_DOMAIN_NAMES = 10  # draft-ietf-acme-dns-persist: a challenge names 1 to 10
ATTESTATION_FORMATS = ("apple", "step", "tpm")
DEFAULT_PORTS = {"http-01": 80, "tls-alpn-01": 443}


class ACMEProvisioner(Provisioner):
    """Orders are authorised by challenges; names by the policies; durations by the claims."""

    kind = PROVISIONER_TYPES["ACME"]

    def __init__(self, config: dict[str, Any], context: ProvisionerContext) -> None:
        super().__init__(config, context)
        where = f"provisioner '{self.name}'"
        self.challenges = config_strings(config, "challenges", where) or CHALLENGE_TYPES
        unknown = sorted(set(self.challenges) - {*CHALLENGE_TYPES, DEVICE_ATTEST, DNS_PERSIST})
        if unknown:
            raise BadRequest(f"{where}: unsupported challenges {', '.join(unknown)}")
        self.issuer_domain_names = _issuer_domain_names(config, DNS_PERSIST in self.challenges, where)
        self.attestation_formats = config_strings(config, "attestationFormats", where) or ATTESTATION_FORMATS
        unknown = sorted(set(self.attestation_formats) - set(ATTESTATION_FORMATS))
        if unknown:
            raise BadRequest(f"{where}: unsupported attestationFormats {', '.join(unknown)}")
        self.attestation_roots = _attestation_roots(config.get("attestationRoots"), where)
        self.force_cn = bool(config.get("forceCN", False))
        self.require_eab = bool(config.get("requireEAB", False))
        self.terms_of_service = str(config.get("termsOfService") or "")
        self.website = str(config.get("website") or "")
        self.caa_identities = config_strings(config, "caaIdentities", where)
        self.challenge_ports = self._ports(config.get("challengePorts"), where)
        resolver = config.get("challengeResolver") or ""
        if not isinstance(resolver, str):
            raise BadRequest(f"{where}: 'challengeResolver' must be a \"host:port\" string")
        self.challenge_resolver = resolver
        profiles = parse_profiles(config, where)
        self.profile_descriptions = {name: p.description for name, p in profiles.items()}
        self._profiles = {name: self._profile(name, p.config, context) for name, p in profiles.items()}

    @staticmethod
    def _profile(name: str, config: dict[str, Any], context: ProvisionerContext) -> ACMEProvisioner:
        try:
            return ACMEProvisioner(config, context)
        except BadRequest as exc:
            raise BadRequest(f"profile '{name}' of {exc.message}") from None

    def with_profile(self, profile: str | None) -> ACMEProvisioner:
        """The provisioner an order naming ``profile`` issues with (none: this one);
        ``KeyError`` if this provisioner has no such profile."""
        return self if profile is None else self._profiles[profile]

    @staticmethod
    def _ports(value: Any, where: str) -> dict[str, int]:
        ports = dict(DEFAULT_PORTS)
        if value is None:
            return ports
        if not isinstance(value, dict) or not all(
                k in DEFAULT_PORTS and isinstance(v, int) and 0 < v < 65536 for k, v in value.items()):
            raise BadRequest(f"{where}: 'challengePorts' must map http-01/tls-alpn-01 to port numbers")
        ports.update(value)
        return ports

    @property
    def credential_id(self) -> str:
        """Empty, as in step-ca's provisioner extension for ACME."""
        return ""

    def authorize_sign(self, token: UnverifiedToken) -> SignOptions:
        raise Unauthorized(f"provisioner '{self.name}' is an ACME provisioner: it does not accept tokens")

    def authorize_revoke(self, token: UnverifiedToken) -> RevokeAuthorization:
        raise Unauthorized(f"provisioner '{self.name}' is an ACME provisioner: it does not accept tokens")


def _issuer_domain_names(config: dict[str, Any], persist: bool, where: str) -> tuple[str, ...]:
    """``issuerDomainNames``, normalised (lowercase A-labels, no trailing dot), duplicates dropped."""
    names = config_strings(config, "issuerDomainNames", where)
    if not persist:
        if names:
            raise BadRequest(f"{where}: 'issuerDomainNames' is set but 'challenges' does not name {DNS_PERSIST}")
        return ()
    if not names:
        raise BadRequest(f"{where}: {DNS_PERSIST} needs 'issuerDomainNames', the CA's issuer domain names")
    try:
        normal = tuple(dict.fromkeys(normal_domain_name(name) for name in names))
    except ValueError as exc:
        raise BadRequest(f"{where}: 'issuerDomainNames': {exc}") from None
    if len(normal) > MAX_ISSUER_DOMAIN_NAMES:
        raise BadRequest(f"{where}: 'issuerDomainNames' holds at most {MAX_ISSUER_DOMAIN_NAMES} names")
    return normal


def _attestation_roots(value: Any, where: str) -> tuple[x509.Certificate, ...]:
    """``attestationRoots``: base64 of a PEM bundle (step-ca's format); empty when absent."""
    if value is None or value == "":
        return ()
    try:
        pem = base64.b64decode(value, validate=True) if isinstance(value, str) else b""
        roots = tuple(x509.load_pem_x509_certificates(pem))
    except (binascii.Error, ValueError):
        roots = ()
    if not roots:
        raise BadRequest(f"{where}: 'attestationRoots' must be a base64-encoded bundle of PEM certificates")
    return roots
