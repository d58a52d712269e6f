"""A certificate from a provisioner's template, as step-ca builds it: the template data
(``.Subject``, ``.SANs``, ``.Token``, ``.Insecure.CR``, ``.Insecure.User``, ``.Webhooks``,
``options.x509.templateData`` at top level), the rendered JSON read as smallstep/crypto's
``x509util.Certificate``, and that description turned into a subject and extensions."""

from __future__ import annotations

import base64
import binascii
import dataclasses
import ipaddress
import json
from dataclasses import dataclass
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed448, ed25519, rsa
from cryptography.hazmat.primitives.asymmetric.types import CertificatePublicKeyTypes
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID, ObjectIdentifier

from appliance.errors import BadRequest
from appliance.pki.permanent_identifier import permanent_identifier
from appliance.provisioner import Names
from appliance.provisioner.nebula_cert import NebulaCertificate
from appliance.provisioner.options import X509Options, go_json
from appliance.templates import TemplateError
from appliance.templates.values import GoObject, GoTime

_SUBJECT_FIELDS = (  # x509util.Subject: Go field, JSON name, OID
    ("Country", "country", NameOID.COUNTRY_NAME),
    ("Organization", "organization", NameOID.ORGANIZATION_NAME),
    ("OrganizationalUnit", "organizationalUnit", NameOID.ORGANIZATIONAL_UNIT_NAME),
    ("Locality", "locality", NameOID.LOCALITY_NAME),
    ("Province", "province", NameOID.STATE_OR_PROVINCE_NAME),
    ("StreetAddress", "streetAddress", NameOID.STREET_ADDRESS),
    ("PostalCode", "postalCode", NameOID.POSTAL_CODE),
    ("SerialNumber", "serialNumber", NameOID.SERIAL_NUMBER),
    ("CommonName", "commonName", NameOID.COMMON_NAME),
)
#: Go's ``pkix.Name.ToRDNSequence`` order; several values of one field make one multi-valued RDN.
_RDN_ORDER = ("country", "province", "locality", "streetAddress", "postalCode", "organization",
              "organizationalUnit", "commonName", "serialNumber")
_KEY_USAGES = ("digitalSignature", "contentCommitment", "keyEncipherment", "dataEncipherment", "keyAgreement",
               "certSign", "crlSign", "encipherOnly", "decipherOnly")
_EXT_KEY_USAGES = {
    "any": ExtendedKeyUsageOID.ANY_EXTENDED_KEY_USAGE, "serverauth": ExtendedKeyUsageOID.SERVER_AUTH,
    "clientauth": ExtendedKeyUsageOID.CLIENT_AUTH, "codesigning": ExtendedKeyUsageOID.CODE_SIGNING,
    "emailprotection": ExtendedKeyUsageOID.EMAIL_PROTECTION, "ipsecendsystem": ObjectIdentifier("1.3.6.1.5.5.7.3.5"),
    "ipsectunnel": ObjectIdentifier("1.3.6.1.5.5.7.3.6"), "ipsecuser": ObjectIdentifier("1.3.6.1.5.5.7.3.7"),
    "timestamping": ExtendedKeyUsageOID.TIME_STAMPING, "ocspsigning": ExtendedKeyUsageOID.OCSP_SIGNING,
    "microsoftservergatedcrypto": ObjectIdentifier("1.3.6.1.4.1.311.10.3.3"),
    "netscapeservergatedcrypto": ObjectIdentifier("2.16.840.1.113730.4.1"),
    "microsoftcommercialcodesigning": ObjectIdentifier("1.3.6.1.4.1.311.2.1.22"),
    "microsoftkernelcodesigning": ObjectIdentifier("1.3.6.1.4.1.311.61.1.1"),
}
#: cryptography's ``KeyUsage`` attribute for each of ``_KEY_USAGES`` (Go's bit order).
_KEY_USAGE_ATTRIBUTES = ("digital_signature", "content_commitment", "key_encipherment", "data_encipherment",
                         "key_agreement", "key_cert_sign", "crl_sign", "encipher_only", "decipher_only")
#: Go's ``x509.ExtKeyUsage`` numbers, in the order of its constants.
_EXT_KEY_USAGE_NAMES = ("any", "serverAuth", "clientAuth", "codeSigning", "emailProtection", "ipsecEndSystem",
                        "ipsecTunnel", "ipsecUser", "timeStamping", "ocspSigning", "microsoftServerGatedCrypto",
                        "netscapeServerGatedCrypto", "microsoftCommercialCodeSigning", "microsoftKernelCodeSigning")
#: Fields step-ca's authority sets itself whatever the template says.
_OVERRIDDEN = frozenset({"version", "issuer", "notBefore", "notAfter", "authorityKeyId"})
_SUPPORTED = frozenset({
    "subject", "sans", "dnsNames", "emailAddresses", "ipAddresses", "uris", "keyUsage", "extKeyUsage",
    "unknownExtKeyUsage", "basicConstraints", "nameConstraints", "policyIdentifiers", "crlDistributionPoints",
    "issuingCertificateURL", "ocspServer", "extensions",
}) | _OVERRIDDEN


@dataclass(frozen=True)
class CertificateProfile:
    """What a rendered template asks for: the subject, the SANs and the other extensions."""

    subject: x509.Name
    names: Names
    san: list[x509.GeneralName]
    extensions: list[x509.Extension[x509.ExtensionType]]
    description: dict[str, Any]

    @property
    def common_name(self) -> str:
        values = self.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
        return str(values[0].value) if values else ""


def _key_type(key: CertificatePublicKeyTypes) -> str:
    if isinstance(key, rsa.RSAPublicKey):
        return "*rsa.PublicKey"
    if isinstance(key, ec.EllipticCurvePublicKey):
        return "*ecdsa.PublicKey"
    if isinstance(key, ed25519.Ed25519PublicKey):
        return "ed25519.PublicKey"
    if isinstance(key, (dsa.DSAPublicKey, ed448.Ed448PublicKey)):
        return "*" + type(key).__name__
    return "<nil>"


def _subject_object(values: dict[str, list[str]]) -> GoObject:
    fields: dict[str, Any] = {go: list(values.get(go, [])) for go, _, _ in _SUBJECT_FIELDS if go != "CommonName"}
    fields["CommonName"] = values.get("CommonName", [""])[0] if values.get("CommonName") else ""
    fields["ExtraNames"] = []
    json_value: dict[str, Any] = {}
    for go, name, _ in _SUBJECT_FIELDS:
        value = fields[go]
        if value:
            json_value[name] = value
    return GoObject("x509util.Subject", fields, json_value)


def _name_values(name: x509.Name) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for go, _, oid in _SUBJECT_FIELDS:
        values = [str(a.value) for a in name.get_attributes_for_oid(oid)]
        if values:
            found[go] = values
    return found


def _san_objects(general_names: list[x509.GeneralName]) -> list[GoObject]:
    kinds = {x509.DNSName: "dns", x509.IPAddress: "ip", x509.RFC822Name: "email",
             x509.UniformResourceIdentifier: "uri"}
    objects = []
    for general in general_names:
        kind, value = kinds[type(general)], str(general.value)
        objects.append(GoObject("x509util.SubjectAlternativeName", {"Type": kind, "Value": value},
                                {"type": kind, "value": value}))
    return objects


def _extension(csr: x509.CertificateSigningRequest, kind: type[Any]) -> Any:
    """The CSR's extension of ``kind``, None if absent or malformed (smallstep/crypto ignores those)."""
    try:
        return csr.extensions.get_extension_for_class(kind).value
    except (x509.ExtensionNotFound, ValueError):
        return None


def _csr_usages(csr: x509.CertificateSigningRequest) -> tuple[dict[str, Any], dict[str, Any]]:
    """smallstep/crypto's ``CertificateRequest`` KeyUsage, ExtKeyUsage, UnknownExtKeyUsage and
    BasicConstraints (step-ca 0.28.4), template fields and JSON: ``{{ toJson .Insecure.CR.KeyUsage }}``
    in a template copies the CSR's key usages into the certificate."""
    usage = _extension(csr, x509.KeyUsage)
    bits, names = 0, []
    for bit, (name, attribute) in enumerate(zip(_KEY_USAGES, _KEY_USAGE_ATTRIBUTES)):
        try:
            present = usage is not None and bool(getattr(usage, attribute))
        except ValueError:  # encipherOnly/decipherOnly without keyAgreement
            present = False
        if present:
            bits |= 1 << bit
            names.append(name)
    known_oids = {_EXT_KEY_USAGES[n.lower()].dotted_string: i for i, n in enumerate(_EXT_KEY_USAGE_NAMES)}
    oids = [o.dotted_string for o in _extension(csr, x509.ExtendedKeyUsage) or []]
    known = [known_oids[o] for o in oids if o in known_oids]
    unknown = [o for o in oids if o not in known_oids]
    constraints = _extension(csr, x509.BasicConstraints)
    basic = None
    if constraints is not None:
        path = -1 if constraints.path_length is None else constraints.path_length
        basic = GoObject("*x509util.BasicConstraints", {"IsCA": constraints.ca, "MaxPathLen": path},
                         {"isCA": constraints.ca, "maxPathLen": path}, text=f"&{{{str(constraints.ca).lower()} {path}}}")
    known_names = [_EXT_KEY_USAGE_NAMES[i] for i in known]
    fields = {
        "KeyUsage": GoObject("x509util.KeyUsage", {}, names or None, text=str(bits), zero=not bits),
        "ExtKeyUsage": GoObject("x509util.ExtKeyUsage", {}, known_names,
                                text="[" + " ".join(str(i) for i in known) + "]", zero=not known),
        "UnknownExtKeyUsage": GoObject("x509util.UnknownExtKeyUsage", {}, unknown or None,
                                       text="[" + " ".join("[" + o.replace(".", " ") + "]" for o in unknown) + "]",
                                       zero=not unknown),
        "BasicConstraints": basic,
    }
    json_value = {"keyUsage": names or None, "extKeyUsage": known_names,
                  "unknownExtKeyUsage": unknown or None, "basicConstraints": basic.json_value if basic else None}
    return fields, json_value


def csr_description(csr: x509.CertificateSigningRequest) -> dict[str, Any]:
    """smallstep/crypto's ``CertificateRequest`` JSON for ``csr``, as webhook requests carry it."""
    return dict(_csr_object(csr).json_value)


def _csr_object(csr: x509.CertificateSigningRequest) -> GoObject:
    key = csr.public_key()
    try:
        san = csr.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        san = None
    names = Names.from_san(san)
    dns = [str(n) for n in san.get_values_for_type(x509.DNSName)] if san else []
    emails = [str(n) for n in san.get_values_for_type(x509.RFC822Name)] if san else []
    ips = [str(n) for n in san.get_values_for_type(x509.IPAddress)] if san else []
    uris = [str(n) for n in san.get_values_for_type(x509.UniformResourceIdentifier)] if san else []
    subject = _subject_object(_name_values(csr.subject))
    public_key = GoObject(_key_type(key), {}, None, text="&{...}")
    usages, usages_json = _csr_usages(csr)
    fields = {"Subject": subject, "DNSNames": dns, "EmailAddresses": emails, "IPAddresses": ips, "URIs": uris,
              "PublicKey": public_key, "SANs": _san_objects(names.general_names()), **usages}
    json_value = {"subject": subject.json_value, "dnsNames": dns or None, "emailAddresses": emails or None,
                  "ipAddresses": ips or None, "uris": uris or None}
    json_value = {k: v for k, v in json_value.items() if v is not None}
    json_value.update(usages_json)
    return GoObject("*x509util.CertificateRequest", fields, json_value)


def _pkix_name(name: x509.Name) -> GoObject:
    """Go's ``pkix.Name`` (the fields a template reads; the JSON of Go's untagged struct)."""
    values = _name_values(name)
    fields: dict[str, Any] = {go: list(values.get(go, [])) or None for go, _, _ in _SUBJECT_FIELDS
                              if go not in ("CommonName", "SerialNumber")}
    fields["SerialNumber"] = values.get("SerialNumber", [""])[0]
    fields["CommonName"] = values.get("CommonName", [""])[0]
    return GoObject("pkix.Name", fields, dict(fields))


def _certificate_object(certificate: x509.Certificate) -> GoObject:
    """Go's ``*x509.Certificate`` as a template reads it: ``.AuthorizationCrt.Subject.CommonName``,
    ``.DNSNames``, ``.SerialNumber``, ``.NotAfter`` and the other names."""
    try:
        san = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except (x509.ExtensionNotFound, ValueError):
        san = None
    fields: dict[str, Any] = {
        "Subject": _pkix_name(certificate.subject), "Issuer": _pkix_name(certificate.issuer),
        "SerialNumber": certificate.serial_number,
        "NotBefore": GoTime(certificate.not_valid_before_utc), "NotAfter": GoTime(certificate.not_valid_after_utc),
        "DNSNames": [str(n) for n in san.get_values_for_type(x509.DNSName)] if san else None,
        "EmailAddresses": [str(n) for n in san.get_values_for_type(x509.RFC822Name)] if san else None,
        "IPAddresses": [str(n) for n in san.get_values_for_type(x509.IPAddress)] if san else None,
        "URIs": [str(n) for n in san.get_values_for_type(x509.UniformResourceIdentifier)] if san else None,
        "Raw": certificate.public_bytes(Encoding.DER),
    }
    json_value = {key: (value.json_value if isinstance(value, GoObject) else
                        value.moment.isoformat().replace("+00:00", "Z") if isinstance(value, GoTime) else
                        base64.b64encode(value).decode() if isinstance(value, bytes) else value)
                  for key, value in fields.items()}
    return GoObject("*x509.Certificate", fields, json_value, text="&{...}")


def _nebula_object(certificate: NebulaCertificate) -> GoObject:
    """slackhq/nebula's ``cert.Certificate`` as a template reads it (its methods without
    arguments): ``.AuthorizationCrt.Name``, ``.Groups``, ``.Networks``, ``.NotAfter`` ..."""
    fields: dict[str, Any] = {
        "Name": certificate.name, "Groups": list(certificate.groups),
        "Networks": [str(ip) for ip in certificate.ips], "UnsafeNetworks": [str(net) for net in certificate.subnets],
        "NotBefore": GoTime(certificate.not_before), "NotAfter": GoTime(certificate.not_after),
        "IsCA": certificate.is_ca, "Issuer": certificate.issuer, "Fingerprint": certificate.fingerprint,
    }
    json_value = {"details": {"name": certificate.name, "groups": list(certificate.groups),
                              "networks": fields["Networks"], "unsafeNetworks": fields["UnsafeNetworks"],
                              "isCa": certificate.is_ca, "issuer": certificate.issuer},
                  "fingerprint": certificate.fingerprint}
    return GoObject("*cert.certificateV1", fields, json_value, text="&{...}")


def authorization_object(certificate: x509.Certificate | NebulaCertificate) -> GoObject:
    """The certificate that signed the token as a template's ``.AuthorizationCrt``."""
    if isinstance(certificate, NebulaCertificate):
        return _nebula_object(certificate)
    return _certificate_object(certificate)


def template_data(options: X509Options, *, common_name: str, names: Names, csr: x509.CertificateSigningRequest,
                  claims: dict[str, Any] | None = None, user: dict[str, Any] | None = None,
                  webhooks: dict[str, Any] | None = None,
                  authorization: x509.Certificate | NebulaCertificate | None = None) -> dict[str, Any]:
    """step-ca's ``x509util.TemplateData`` for one request."""
    data: dict[str, Any] = dict(options.data)
    data["Subject"] = _subject_object({"CommonName": [common_name]} if common_name else {})
    data["SANs"] = _san_objects(names.general_names())
    insecure: dict[str, Any] = {"CR": _csr_object(csr)}
    if options.custom:
        insecure["User"] = go_json(user or {})
    data["Insecure"] = insecure
    if claims is not None:
        data["Token"] = go_json(claims)
    if authorization is not None:
        data["AuthorizationCrt"] = authorization_object(authorization)
    if webhooks:
        data["Webhooks"] = go_json(webhooks)
    return data


def _encodable(text: str) -> bool:
    """No lone surrogate (which Go's JSON, and ``toJson``, would replace)."""
    try:
        text.encode()
    except UnicodeEncodeError:
        return False
    return True


def default_leaf_profile(options: X509Options, *, common_name: str, names: Names,
                         csr: x509.CertificateSigningRequest,
                         public_key: CertificatePublicKeyTypes) -> CertificateProfile | None:
    """What ``render_profile`` makes of step-ca's default leaf template (``DEFAULT_LEAF_TEMPLATE``)
    for this request, without the template interpreter: the same description (``.Subject``,
    ``.SANs``, the key usages of the CSR key's type) read by ``profile``. None when ``options``
    name a template of their own, or a name needs ``toJson``'s escaping (then render it)."""
    if options.custom:
        return None
    subject = _subject_object({"CommonName": [common_name]} if common_name else {})
    sans = [o.json_value for o in _san_objects(names.general_names())]
    if not all(_encodable(value) for value in (common_name, *(san["value"] for san in sans))):
        return None
    rsa_key = _key_type(csr.public_key()) == "*rsa.PublicKey"
    return profile({"subject": dict(subject.json_value), "sans": sans,
                    "keyUsage": ["keyEncipherment", "digitalSignature"] if rsa_key else ["digitalSignature"],
                    "extKeyUsage": ["serverAuth", "clientAuth"]}, public_key)


def render_profile(options: X509Options, data: dict[str, Any], public_key: CertificatePublicKeyTypes) -> CertificateProfile:
    """Render the template and read its JSON; ``BadRequest`` names what is wrong."""
    text = options.template.execute(data)
    try:
        description = json.loads(text)
    except ValueError as exc:
        raise TemplateError(f"the certificate template did not produce valid JSON: {exc}") from None
    if not isinstance(description, dict):
        raise TemplateError("the certificate template must produce a JSON object")
    return profile(description, public_key)


def _strings(value: Any, field: str) -> list[str]:
    """A MultiString: a string or a list of strings."""
    if value is None:
        return []
    if isinstance(value, str):
        return [value] if value else []
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return list(value)
    raise BadRequest(f"certificate template: {field} must be a string or a list of strings")


def _subject(value: Any) -> x509.Name:
    if value is None:
        return x509.Name([])
    if isinstance(value, str):
        return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, value)] if value else [])
    if not isinstance(value, dict):
        raise BadRequest("certificate template: subject must be an object")
    unknown = set(value) - {name for _, name, _ in _SUBJECT_FIELDS} - {"extraNames"}
    if unknown or value.get("extraNames"):
        raise BadRequest(f"certificate template: unsupported subject fields {', '.join(sorted(unknown or {'extraNames'}))}")
    fields = {name: oid for _, name, oid in _SUBJECT_FIELDS}
    rdns = []
    for name in _RDN_ORDER:
        texts = _strings(value.get(name), f"subject.{name}")
        if texts:
            try:
                rdns.append(x509.RelativeDistinguishedName([x509.NameAttribute(fields[name], t) for t in texts]))
            except ValueError as exc:
                raise BadRequest(f"certificate template: subject.{name}: {exc}") from None
    try:
        return x509.Name(rdns)
    except ValueError as exc:
        raise BadRequest(f"certificate template: subject: {exc}") from None


def _general_name(kind: str, value: str) -> x509.GeneralName:
    try:
        if kind == "dns":
            return x509.DNSName(value)
        if kind == "email":
            return x509.RFC822Name(value)
        if kind == "ip":
            return x509.IPAddress(ipaddress.ip_address(value))
        if kind == "uri":
            return x509.UniformResourceIdentifier(value)
        if kind == "permanentidentifier":
            return permanent_identifier(value)
    except ValueError as exc:
        raise BadRequest(f"certificate template: SAN {value!r}: {exc}") from None
    raise BadRequest(f"certificate template: SAN type {kind!r} is not supported")


def _auto_kind(value: str) -> str:
    try:
        ipaddress.ip_address(value)
        return "ip"
    except ValueError:
        pass
    if "@" in value:
        return "email"
    return "uri" if "://" in value or value.startswith(("urn:", "spiffe:")) else "dns"


def _sans(description: dict[str, Any]) -> list[x509.GeneralName]:
    names: list[x509.GeneralName] = []
    for kind, field in (("dns", "dnsNames"), ("email", "emailAddresses"), ("ip", "ipAddresses"), ("uri", "uris")):
        names += [_general_name(kind, v) for v in _strings(description.get(field), field)]
    sans = description.get("sans") or []
    if not isinstance(sans, list):
        raise BadRequest("certificate template: sans must be a list")
    for san in sans:
        if not isinstance(san, dict) or not isinstance(san.get("value"), str):
            raise BadRequest("certificate template: every SAN is an object with a type and a value")
        kind = str(san.get("type") or "auto").lower()
        value = san["value"]
        names.append(_general_name(_auto_kind(value) if kind == "auto" else kind, value))
    unique: list[x509.GeneralName] = []
    for name in names:
        if name not in unique:
            unique.append(name)
    return unique


def _oid(text: Any, field: str) -> x509.ObjectIdentifier:
    try:
        return x509.ObjectIdentifier(str(text))
    except ValueError:
        raise BadRequest(f"certificate template: {field}: {text!r} is not an object identifier") from None


def _key_usage(values: list[str]) -> x509.KeyUsage:
    wanted = {v.lower() for v in values}
    known = {k.lower() for k in _KEY_USAGES}
    if wanted - known:
        raise BadRequest(f"certificate template: unsupported keyUsage {', '.join(sorted(wanted - known))}")
    flags = {k: k.lower() in wanted for k in _KEY_USAGES}
    return x509.KeyUsage(flags["digitalSignature"], flags["contentCommitment"], flags["keyEncipherment"],
                         flags["dataEncipherment"], flags["keyAgreement"], flags["certSign"], flags["crlSign"],
                         flags["encipherOnly"], flags["decipherOnly"])


def _basic_constraints(value: Any) -> x509.BasicConstraints:
    if not isinstance(value, dict):
        raise BadRequest("certificate template: basicConstraints must be an object")
    is_ca = bool(value.get("isCA", False))
    path = value.get("maxPathLen")
    if path is not None and (not isinstance(path, int) or isinstance(path, bool)):
        raise BadRequest("certificate template: basicConstraints.maxPathLen must be an integer")
    return x509.BasicConstraints(ca=is_ca, path_length=path if is_ca and path is not None and path >= 0 else None)


def _name_constraints(value: Any) -> x509.NameConstraints:
    if not isinstance(value, dict):
        raise BadRequest("certificate template: nameConstraints must be an object")

    def subtrees(prefix: str) -> list[x509.GeneralName] | None:
        found: list[x509.GeneralName] = []
        found += [x509.DNSName(v) for v in _strings(value.get(f"{prefix}DNSDomains"), f"{prefix}DNSDomains")]
        found += [x509.IPAddress(ipaddress.ip_network(v, strict=False))
                  for v in _strings(value.get(f"{prefix}IPRanges"), f"{prefix}IPRanges")]
        found += [x509.RFC822Name(v) for v in _strings(value.get(f"{prefix}EmailAddresses"), f"{prefix}EmailAddresses")]
        found += [x509.UniformResourceIdentifier(v)
                  for v in _strings(value.get(f"{prefix}URIDomains"), f"{prefix}URIDomains")]
        return found or None

    try:
        return x509.NameConstraints(permitted_subtrees=subtrees("permitted"), excluded_subtrees=subtrees("excluded"))
    except ValueError as exc:
        raise BadRequest(f"certificate template: nameConstraints: {exc}") from None


def _raw_extension(value: Any) -> x509.Extension[x509.ExtensionType]:
    if not isinstance(value, dict) or "id" not in value:
        raise BadRequest("certificate template: every extension has an id and a value")
    try:
        der = base64.b64decode(str(value.get("value", "")), validate=True)
    except (binascii.Error, ValueError):
        raise BadRequest(f"certificate template: extension {value['id']}: value is not base64") from None
    oid = _oid(value["id"], "extensions")
    return x509.Extension(oid, bool(value.get("critical", False)), x509.UnrecognizedExtension(oid, der))


def profile(description: dict[str, Any], public_key: CertificatePublicKeyTypes) -> CertificateProfile:
    """The subject, SANs and extensions an ``x509util.Certificate`` JSON asks for."""
    unsupported = sorted(set(description) - _SUPPORTED)
    if unsupported:
        raise BadRequest(f"certificate template: unsupported fields {', '.join(unsupported)}")
    subject = _subject(description.get("subject"))
    san = _sans(description)
    extensions: list[x509.Extension[x509.ExtensionType]] = []

    def add(value: x509.ExtensionType, critical: bool) -> None:
        extensions.append(x509.Extension(value.oid, critical, value))

    if description.get("basicConstraints") is not None:  # null: a CSR without them
        add(_basic_constraints(description["basicConstraints"]), True)
    usages = _strings(description.get("keyUsage"), "keyUsage")
    if usages:
        add(_key_usage(usages), True)
    ekus = []
    for name in _strings(description.get("extKeyUsage"), "extKeyUsage"):
        oid = _EXT_KEY_USAGES.get(name.lower())
        if oid is None:
            raise BadRequest(f"certificate template: unsupported extKeyUsage {name!r}")
        ekus.append(oid)
    ekus += [_oid(v, "unknownExtKeyUsage") for v in _strings(description.get("unknownExtKeyUsage"),
                                                              "unknownExtKeyUsage")]
    if ekus:
        add(x509.ExtendedKeyUsage(ekus), False)
    if san:
        add(x509.SubjectAlternativeName(san), len(subject) == 0)
    policies = _strings(description.get("policyIdentifiers"), "policyIdentifiers")
    if policies:
        add(x509.CertificatePolicies([x509.PolicyInformation(_oid(p, "policyIdentifiers"), None) for p in policies]),
            False)
    if description.get("nameConstraints"):
        add(_name_constraints(description["nameConstraints"]), bool(description["nameConstraints"].get("critical")))
    crl = _strings(description.get("crlDistributionPoints"), "crlDistributionPoints")
    if crl:
        add(x509.CRLDistributionPoints([x509.DistributionPoint([x509.UniformResourceIdentifier(u)], None, None, None)
                                        for u in crl]), False)
    access = [x509.AccessDescription(x509.AuthorityInformationAccessOID.OCSP, x509.UniformResourceIdentifier(u))
              for u in _strings(description.get("ocspServer"), "ocspServer")]
    access += [x509.AccessDescription(x509.AuthorityInformationAccessOID.CA_ISSUERS, x509.UniformResourceIdentifier(u))
               for u in _strings(description.get("issuingCertificateURL"), "issuingCertificateURL")]
    if access:
        add(x509.AuthorityInformationAccess(access), False)
    raw = description.get("extensions") or []
    if not isinstance(raw, list):
        raise BadRequest("certificate template: extensions must be a list")
    extensions += [_raw_extension(item) for item in raw]
    seen = [ext.oid for ext in extensions]
    if len(seen) != len(set(seen)):
        raise BadRequest("certificate template: an extension appears twice")
    names = Names.from_san(x509.SubjectAlternativeName(san)) if san else Names()
    return CertificateProfile(subject=subject, names=names, san=san, extensions=extensions, description=description)


def with_default_subject(profile: CertificateProfile, defaults: dict[str, str]) -> CertificateProfile:
    """``profile`` with each subject field it leaves empty taken from ``authority.template``
    (step-ca's ``withDefaultASN1DN``, applied after the template, before the policies)."""
    if not defaults:
        return profile
    fields = {name: oid for _, name, oid in _SUBJECT_FIELDS}
    values: dict[str, Any] = {name: [str(a.value) for a in profile.subject.get_attributes_for_oid(oid)]
                              for name, oid in fields.items()}
    for name, value in defaults.items():
        if not values[name]:
            values[name] = [value]
    subject = _subject(values)
    # Go marks the SAN extension critical only when the final subject is empty (RFC 5280).
    extensions = [x509.Extension(e.oid, len(subject) == 0, e.value) if isinstance(e.value, x509.SubjectAlternativeName)
                  else e for e in profile.extensions]
    return dataclasses.replace(profile, subject=subject, extensions=extensions)


def with_must_staple(profile: CertificateProfile, csr: x509.CertificateSigningRequest) -> CertificateProfile:
    """``profile`` with the CSR's TLS Feature extension (must-staple, RFC 7633) when the
    CSR asks for it and the template did not set one."""
    try:
        feature = csr.extensions.get_extension_for_class(x509.TLSFeature)
    except (x509.ExtensionNotFound, ValueError):
        return profile
    if any(extension.oid == feature.oid for extension in profile.extensions):
        return profile
    return dataclasses.replace(profile, extensions=[*profile.extensions, feature])
