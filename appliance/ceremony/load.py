"""Read a ceremony file into a typed ceremony, checking everything that can be
checked without the HSM: fields, dates, limits set by the issuer, inputs, outputs.
"""

from __future__ import annotations

import datetime
import hashlib
from pathlib import Path
from typing import Callable

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.types import PublicKeyTypes
from cryptography.x509.oid import ExtendedKeyUsageOID

from appliance.ceremony.errors import InvalidCeremony, OutputExists
from appliance.ceremony.model import (
    AnyCeremony,
    CertificateProfile,
    Ceremony,
    CrlCeremony,
    CrossCsrCeremony,
    CsrCeremony,
    CsrProfile,
    IntermediateCeremony,
    KeyCeremony,
    NameConstraints,
    RootCeremony,
    Subject,
)
from appliance.ceremony.revocations import load_revocations
from appliance.ceremony.schema import (
    Fields,
    dns_item,
    load_yaml,
    network_item,
    oid_item,
    string_item,
    url_item,
)
from appliance.errors import ApplianceError
from appliance.kms import KeyType, parse_uri
from appliance.kms.algorithms import RSA_SIZES

KEY_USAGES = ("digital-signature", "cert-sign", "crl-sign")
EXTENDED_KEY_USAGES = {
    "server-auth": ExtendedKeyUsageOID.SERVER_AUTH,
    "client-auth": ExtendedKeyUsageOID.CLIENT_AUTH,
    "code-signing": ExtendedKeyUsageOID.CODE_SIGNING,
    "email-protection": ExtendedKeyUsageOID.EMAIL_PROTECTION,
    "time-stamping": ExtendedKeyUsageOID.TIME_STAMPING,
    "ocsp-signing": ExtendedKeyUsageOID.OCSP_SIGNING,
}
MAX_CRL_NUMBER = 2**159  # RFC 5280: at most 20 octets


def _uri(fields: Fields, name: str) -> str:
    """A KMS or key URI; secrets may only be given as ``*-source`` files."""
    value = fields.text(name)
    try:
        uri = parse_uri(value)
    except ApplianceError as exc:
        raise InvalidCeremony(f"{fields.at(name)}: {exc.message}") from None
    inline = sorted(k for k in (*uri.attributes, *uri.query) if k.endswith("-value"))
    if inline:
        raise InvalidCeremony(
            f"{fields.at(name)}: '{inline[0]}' puts a secret in the ceremony file;"
            " use pin-source=FILE or the interactive prompt"
        )
    return value


def _key_usage(value: object, where: str) -> str:
    if value not in KEY_USAGES:
        raise InvalidCeremony(f"{where}: '{value}' is not one of {', '.join(KEY_USAGES)}")
    return str(value)


def _extended_key_usage(value: object, where: str) -> x509.ObjectIdentifier:
    if value not in EXTENDED_KEY_USAGES:
        raise InvalidCeremony(f"{where}: '{value}' is not one of {', '.join(EXTENDED_KEY_USAGES)}")
    return EXTENDED_KEY_USAGES[str(value)]


def _subject(fields: Fields) -> Subject:
    country = fields.opt_text("country")
    if country is not None and (len(country) != 2 or not country.isalpha() or not country.isupper()):
        raise InvalidCeremony(f"{fields.at('country')}: '{country}' is not a two-letter country code like DE")
    subject = Subject(
        common_name=fields.text("common-name"),
        organization=fields.opt_text("organization"),
        organizational_unit=fields.opt_text("organizational-unit"),
        country=country,
        state=fields.opt_text("state"),
        locality=fields.opt_text("locality"),
    )
    fields.done()
    return subject


def _usages(fields: Fields, name: str = "key-usages") -> frozenset[str]:
    usages = fields.items(name, _key_usage)
    if len(set(usages)) != len(usages):
        raise InvalidCeremony(f"{fields.at(name)}: a key usage is listed twice")
    return frozenset(usages)


def _path_length(fields: Fields, default: int | None) -> int:
    """The path length; required when there is no default (unlimited is never allowed)."""
    value = fields.integer("path-length") if default is None or fields.has("path-length") else default
    if value < 0:
        raise InvalidCeremony(f"{fields.at('path-length')}: must be 0 or more")
    return value


def _name_constraints(fields: Fields) -> NameConstraints:
    constraints = NameConstraints(
        permitted_dns=fields.items("permitted-dns", dns_item),
        excluded_dns=fields.items("excluded-dns", dns_item),
        permitted_ip=fields.items("permitted-ip", network_item),
        excluded_ip=fields.items("excluded-ip", network_item),
        permitted_email=fields.items("permitted-email", string_item),
        excluded_email=fields.items("excluded-email", string_item),
    )
    fields.done()
    if constraints == NameConstraints():
        raise InvalidCeremony(f"{fields.where}: give at least one permitted or excluded subtree")
    return constraints


def _profile(fields: Fields, *, default_path_length: int | None, with_urls: bool) -> CertificateProfile:
    """A CA certificate profile; root profiles take no URLs and no name constraints."""
    profile = CertificateProfile(
        subject=_subject(fields.fields("subject")),
        not_before=fields.time("not-before"),
        not_after=fields.time("not-after"),
        path_length=_path_length(fields, default_path_length),
        key_usages=_usages(fields),
        extended_key_usages=fields.items("extended-key-usages", _extended_key_usage),
        policy_oids=fields.items("policy-oids", oid_item),
        crl_urls=fields.items("crl-urls", url_item) if with_urls else (),
        ocsp_urls=fields.items("ocsp-urls", url_item) if with_urls else (),
        issuer_urls=fields.items("issuer-urls", url_item) if with_urls else (),
        name_constraints=(
            _name_constraints(nc) if with_urls and (nc := fields.opt_fields("name-constraints")) else None
        ),
    )
    if "cert-sign" not in profile.key_usages:
        raise InvalidCeremony(f"{fields.at('key-usages')}: a CA certificate needs cert-sign")
    if profile.not_after <= profile.not_before:
        raise InvalidCeremony(f"{fields.at('not-after')}: must be after not-before")
    fields.done()
    return profile


def _key_type(fields: Fields) -> KeyType:
    kty = fields.choice("type", {"EC": "EC", "RSA": "RSA"})
    if kty == "EC":
        curve = fields.choice("curve", {"P-256": KeyType.EC_P256, "P-384": KeyType.EC_P384})
        fields.done()
        return curve
    size = fields.integer("size")
    if size not in RSA_SIZES:
        raise InvalidCeremony(f"{fields.at('size')}: {size} is not one of {', '.join(map(str, RSA_SIZES))}")
    fields.done()
    return KeyType.parse("RSA", size=size)


def _input_file(path: Path, where: str, parse: Callable[[bytes], object]) -> object:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise InvalidCeremony(f"{where}: cannot read {path}: {exc.strerror}") from None
    try:
        return parse(data)
    except ValueError as exc:
        raise InvalidCeremony(f"{where}: {path} is not valid: {exc}") from None


def _certificate(fields: Fields, name: str, base: Path) -> tuple[x509.Certificate, Path]:
    path = fields.path(name, base)
    cert = _input_file(path, fields.at(name), x509.load_pem_x509_certificate)
    assert isinstance(cert, x509.Certificate)
    return cert, path


def _ca_limits(cert: x509.Certificate) -> tuple[bool, int | None]:
    """(is a CA, its path length) from basic constraints."""
    try:
        bc = cert.extensions.get_extension_for_class(x509.BasicConstraints).value
    except x509.ExtensionNotFound:
        return False, None
    return bc.ca, bc.path_length


def _has_usage(cert: x509.Certificate, usage: str) -> bool:
    try:
        ku = cert.extensions.get_extension_for_class(x509.KeyUsage).value
    except x509.ExtensionNotFound:
        return False
    return bool(getattr(ku, usage))


def _check_issuer(
    issuer: x509.Certificate, where: str, usage: str, start: datetime.datetime, end: datetime.datetime,
    what: tuple[str, str],
) -> None:
    """The issuer is a CA allowed to sign this, and its validity covers [start, end]."""
    is_ca, _ = _ca_limits(issuer)
    if not is_ca or not _has_usage(issuer, usage):
        raise InvalidCeremony(f"{where}: the issuer is not a CA certificate with {usage.replace('_', ' ')}")
    if start < issuer.not_valid_before_utc:
        raise InvalidCeremony(f"{what[0]}: {start:%Y-%m-%d %H:%M:%S}Z is before the issuer's not-before "
                              f"{issuer.not_valid_before_utc:%Y-%m-%d %H:%M:%S}Z")
    if end > issuer.not_valid_after_utc:
        raise InvalidCeremony(f"{what[1]}: {end:%Y-%m-%d %H:%M:%S}Z is after the issuer's not-after "
                              f"{issuer.not_valid_after_utc:%Y-%m-%d %H:%M:%S}Z")


def _subject_key(inputs: Fields, base: Path) -> PublicKeyTypes:
    """The intermediate's public key, from a PEM public key or a CSR whose signature verifies."""
    given = [name for name in ("public-key", "csr") if inputs.has(name)]
    if len(given) != 1:
        raise InvalidCeremony(f"{inputs.where}: give exactly one of public-key, csr")
    name = given[0]
    path = inputs.path(name, base)
    if name == "public-key":
        key = _input_file(path, inputs.at(name), serialization.load_pem_public_key)
        return key  # type: ignore[return-value]
    csr = _input_file(path, inputs.at(name), x509.load_pem_x509_csr)
    assert isinstance(csr, x509.CertificateSigningRequest)
    if not csr.is_signature_valid:
        raise InvalidCeremony(f"{inputs.at(name)}: the CSR's signature does not verify")
    return csr.public_key()


def _check_outputs(ceremony: Ceremony) -> None:
    """Every output is new, in an existing folder, and distinct from the others."""
    seen: set[Path] = set()
    for name, path in ceremony.outputs().items():
        resolved = path.resolve()
        if resolved in seen:
            raise InvalidCeremony(f"outputs.{name}: {path} is used for two outputs")
        seen.add(resolved)
        if path.exists():
            raise OutputExists(f"outputs.{name}: {path} exists: refusing to overwrite it")
        if not path.parent.is_dir():
            raise InvalidCeremony(f"outputs.{name}: folder {path.parent} does not exist")
    if ceremony.transcript.resolve() in seen:
        raise InvalidCeremony(f"transcript: {ceremony.transcript} is also an output")


def _outputs(top: Fields, base: Path, *names: str) -> list[Path]:
    outputs = top.fields("outputs")
    paths = [outputs.path(name, base) for name in names]
    outputs.done()
    return paths


def _load_key(top: Fields, common: dict[str, object], base: Path) -> KeyCeremony:
    key_type = _key_type(top.fields("key"))
    (public_key_out,) = _outputs(top, base, "public-key")
    return KeyCeremony(**common, key_type=key_type, public_key_out=public_key_out)  # type: ignore[arg-type]


def _load_root(top: Fields, common: dict[str, object], base: Path) -> RootCeremony:
    profile = _profile(top.fields("certificate"), default_path_length=None, with_urls=False)
    (certificate_out,) = _outputs(top, base, "certificate")
    return RootCeremony(**common, profile=profile, certificate_out=certificate_out)  # type: ignore[arg-type]


def _load_intermediate(top: Fields, common: dict[str, object], base: Path) -> IntermediateCeremony:
    inputs = top.fields("inputs")
    issuer, issuer_path = _certificate(inputs, "issuer-certificate", base)
    subject_key = _subject_key(inputs, base)
    inputs.done()
    section = top.fields("certificate")
    profile = _profile(section, default_path_length=0, with_urls=True)
    _check_issuer(issuer, inputs.at("issuer-certificate"), "key_cert_sign", profile.not_before,
                  profile.not_after, (section.at("not-before"), section.at("not-after")))
    _, issuer_path_length = _ca_limits(issuer)
    if issuer_path_length is not None and profile.path_length >= issuer_path_length:
        raise InvalidCeremony(
            f"{section.at('path-length')}: {profile.path_length} is not below the issuer's path length"
            f" {issuer_path_length}"
        )
    (certificate_out,) = _outputs(top, base, "certificate")
    return IntermediateCeremony(
        **common, issuer=issuer, issuer_path=issuer_path, subject_key=subject_key,  # type: ignore[arg-type]
        profile=profile, certificate_out=certificate_out,
    )


def _load_csr(top: Fields, common: dict[str, object], base: Path) -> CsrCeremony:
    section = top.fields("csr")
    profile = CsrProfile(
        subject=_subject(section.fields("subject")),
        path_length=_path_length(section, None) if section.has("path-length") else None,
        key_usages=_usages(section),
    )
    section.done()
    (csr_out,) = _outputs(top, base, "csr")
    return CsrCeremony(**common, profile=profile, csr_out=csr_out)  # type: ignore[arg-type]


def _load_cross_csr(top: Fields, common: dict[str, object], base: Path) -> CrossCsrCeremony:
    inputs = top.fields("inputs")
    certificate, _ = _certificate(inputs, "certificate", base)
    inputs.done()
    if not _ca_limits(certificate)[0]:
        raise InvalidCeremony(f"{inputs.at('certificate')}: not a CA certificate")
    (csr_out,) = _outputs(top, base, "csr")
    return CrossCsrCeremony(**common, certificate=certificate, csr_out=csr_out)  # type: ignore[arg-type]


def _load_crl(top: Fields, common: dict[str, object], base: Path) -> CrlCeremony:
    inputs = top.fields("inputs")
    issuer, issuer_path = _certificate(inputs, "issuer-certificate", base)
    revoked_path = inputs.opt_path("revoked", base)
    inputs.done()
    section = top.fields("crl")
    number = section.integer("number")
    this_update, next_update = section.time("this-update"), section.time("next-update")
    section.done()
    if not 0 < number < MAX_CRL_NUMBER:
        raise InvalidCeremony(f"{section.at('number')}: must be between 1 and 2^159 - 1")
    if next_update <= this_update:
        raise InvalidCeremony(f"{section.at('next-update')}: must be after this-update")
    _check_issuer(issuer, inputs.at("issuer-certificate"), "crl_sign", this_update, next_update,
                  (section.at("this-update"), section.at("next-update")))
    revoked = load_revocations(revoked_path, this_update) if revoked_path else ()
    crl_der_out, crl_pem_out = _outputs(top, base, "crl-der", "crl-pem")
    return CrlCeremony(
        **common, issuer=issuer, issuer_path=issuer_path, number=number,  # type: ignore[arg-type]
        this_update=this_update, next_update=next_update, revoked=revoked,
        crl_der_out=crl_der_out, crl_pem_out=crl_pem_out,
    )


_LOADERS: dict[str, Callable[[Fields, dict[str, object], Path], AnyCeremony]] = {
    "key": _load_key,
    "root": _load_root,
    "intermediate": _load_intermediate,
    "csr": _load_csr,
    "cross-csr": _load_cross_csr,
    "crl": _load_crl,
}


def _override_uri(value: str) -> str:
    """``--kms``: the same rules as ``hsm.kms`` (no secret on the command line either)."""
    return _uri(Fields({"--kms": value}, ""), "--kms")


def load_ceremony(path: Path, *, operator: str | None = None, kms: str | None = None) -> AnyCeremony:
    """Read and check a ceremony file; ``operator`` (``--operator``) and ``kms`` (``--kms``,
    a rehearsal on another token) win over the file's.

    Raises ``InvalidCeremony`` (or ``OutputExists``) naming the file and field.
    """
    raw, document = load_yaml(path)
    base = path.parent
    try:
        top = Fields(document, "")
        loader = top.choice("ceremony-type", _LOADERS)
        hsm = top.fields("hsm")
        common: dict[str, object] = {
            "source": path,
            "sha256": hashlib.sha256(raw).hexdigest(),
            "operator": top.opt_text("operator"),
            "kms": _uri(hsm, "kms"),
            "key": _uri(hsm, "key"),
            "transcript": top.path("transcript", base),
        }
        hsm.done()
        if operator:
            common["operator"] = operator
        if kms is not None:
            common["kms"] = _override_uri(kms)
        ceremony = loader(top, common, base)
        top.done()
        if ceremony.operator is None:
            raise InvalidCeremony("operator: missing: give it in the file or with --operator")
        if not ceremony.transcript.parent.is_dir():
            raise InvalidCeremony(f"transcript: folder {ceremony.transcript.parent} does not exist")
        _check_outputs(ceremony)
    except (InvalidCeremony, OutputExists) as exc:
        raise type(exc)(f"{path}: {exc.message}") from None
    return ceremony
