"""``ca provisioner``: list, add, remove and update provisioners in ca.json.

Each built provisioner type (``appliance.provisioner.types``) has one entry in
``CREDENTIAL_HANDLERS`` (how to make its credential, how to change it).
The file is edited as JSON so every other field is kept, validated with the
config loader, then written atomically.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from appliance.config import ConfigError, parse_config, write_json
from appliance.errors import BadRequest, Conflict, NotFound
from appliance.jose import encrypt_jwk, generate_jwk, key_from_dict, public_dict, thumbprint
from appliance.provisioner import Audiences, Claimer, Collection, ProvisionerContext
from appliance.provisioner.renamed import step_ca_names
from appliance.provisioner.types import provisioner_type
from appliance.pki.clock import utc_now

#: The claims ``--x509-*-dur`` and the renewal flags set (step-ca's names).
CLAIM_NAMES = frozenset({
    "minTLSCertDuration", "maxTLSCertDuration", "defaultTLSCertDuration",
    "disableRenewal", "allowRenewalAfterExpiry",
})


#: What ``--challenge`` names for an ACME provisioner (for SCEP, it is the challenge password).
ACME_CHALLENGES = ("http-01", "dns-01", "tls-alpn-01")


@dataclass(frozen=True)
class ProvisionerOptions:
    """What the command line asks of a provisioner's credential and claims."""

    create: bool = False
    password: bytes | None = None
    public_key: dict[str, Any] | None = None
    claims: dict[str, Any] = field(default_factory=dict)
    challenges: tuple[str, ...] = ()
    require_eab: bool | None = None
    #: Type-specific ca.json members already in ca.json's form (``FIELD_FLAGS``).
    settings: dict[str, Any] = field(default_factory=dict)


class CredentialHandler(Protocol):
    """How ``add`` and ``update`` handle one provisioner type."""

    def new(self, name: str, options: ProvisionerOptions) -> dict[str, Any]:
        """A new ca.json entry (without claims)."""
        ...

    def update(self, entry: dict[str, Any], options: ProvisionerOptions) -> dict[str, Any]:
        """The entry with its credential changed as ``options`` ask."""
        ...


class JwkType:
    """``JWK``: a public key in ca.json, the private key as an ``encryptedKey`` JWE."""

    def _credential(self, options: ProvisionerOptions) -> dict[str, Any]:
        if options.create and options.public_key is not None:
            raise BadRequest("use either --create or --public-key")
        if options.create:
            if not options.password:
                raise BadRequest("--create needs a password (--password-file) to encrypt the new key")
            key = generate_jwk()
            return {"key": public_dict(key), "encryptedKey": encrypt_jwk(key, options.password)}
        if options.public_key is not None:
            key = key_from_dict(options.public_key)
            if key.has_private:
                raise BadRequest("--public-key must hold a public JWK (ca.json never stores private keys)")
            members = public_dict(key)
            members.setdefault("kid", thumbprint(key))
            return {"key": members}
        return {}

    def new(self, name: str, options: ProvisionerOptions) -> dict[str, Any]:
        credential = self._credential(options)
        if not credential:
            raise BadRequest("a JWK provisioner needs --create (new key) or --public-key FILE")
        return {"type": "JWK", "name": name, **credential}

    def update(self, entry: dict[str, Any], options: ProvisionerOptions) -> dict[str, Any]:
        credential = self._credential(options)
        if credential and "encryptedKey" not in credential:
            entry = {k: v for k, v in entry.items() if k != "encryptedKey"}  # it belonged to the old key
        return {**entry, **credential}


class AcmeType:
    """``ACME``: no credential; ``challenges``, ``requireEAB`` and ``forceCN`` as asked."""

    def update(self, entry: dict[str, Any], options: ProvisionerOptions) -> dict[str, Any]:
        if options.create or options.public_key is not None:
            raise BadRequest("an ACME provisioner has no key: --create and --public-key do not apply")
        unknown = sorted(set(options.challenges) - set(ACME_CHALLENGES))
        if unknown:
            raise BadRequest(f"--challenge {', '.join(unknown)}: an ACME challenge is one of {', '.join(ACME_CHALLENGES)}")
        foreign = sorted(set(options.settings) - {"forceCN"})
        if foreign:
            flags = [f.flag for f in FIELD_FLAGS if f.member in foreign]
            raise BadRequest(f"{', '.join(flags)} do not apply to an ACME provisioner")
        entry = {**entry, **options.settings}
        if options.challenges:
            entry["challenges"] = list(dict.fromkeys(options.challenges))
        if options.require_eab is not None:
            entry["requireEAB"] = options.require_eab
        return entry

    def new(self, name: str, options: ProvisionerOptions) -> dict[str, Any]:
        return self.update({"type": "ACME", "name": name}, options)


@dataclass(frozen=True)
class FieldFlag:
    """One of step's ``provisioner add`` flags that sets a ca.json member.

    ``kind``: ``str``, ``int``, ``list`` (repeatable), ``flag`` (boolean), ``pem`` (files whose
    PEM is joined and base64-encoded, as step-ca stores ``roots`` and ``publicKeys``) or
    ``secret`` (a file whose first line is the value: a password never on the command line)."""

    flag: str
    member: str
    kind: str
    help: str
    aliases: tuple[str, ...] = ()


FIELD_FLAGS = (
    FieldFlag("--x5c-roots", "roots", "pem", "X5C: PEM file of the roots that token certificates chain to."),
    FieldFlag("--nebula-root", "roots", "pem", "Nebula: the Nebula CA certificate file (repeatable)."),
    FieldFlag("--pem-keys", "publicKeys", "pem", "K8sSA: PEM file of the service-account signing keys."),
    FieldFlag("--client-id", "clientID", "str", "OIDC: the client id (the ID token audience)."),
    FieldFlag("--client-secret", "clientSecret", "str", "OIDC: the client secret (omit for a public client)."),
    FieldFlag("--configuration-endpoint", "configurationEndpoint", "str", "OIDC: the discovery document URL."),
    FieldFlag("--admin", "admins", "list", "OIDC: an email allowed any name (repeatable)."),
    FieldFlag("--domain", "domains", "list", "OIDC: an allowed email domain (repeatable)."),
    FieldFlag("--group", "groups", "list", "OIDC: an allowed group (repeatable)."),
    FieldFlag("--listen-address", "listenAddress", "str", "OIDC: the loopback address of the login redirect."),
    FieldFlag("--tenant-id", "tenantID", "str", "OIDC/Azure: the tenant id."),
    FieldFlag("--acr-value", "acrValues", "list", "OIDC: an accepted authentication context class (repeatable)."),
    FieldFlag("--amr-value", "amrValues", "list", "OIDC: an authentication method tokens must list (repeatable)."),
    FieldFlag("--aws-account", "accounts", "list", "AWS: an allowed account id (repeatable)."),
    FieldFlag("--gcp-service-account", "serviceAccounts", "list", "GCP: an allowed service account (repeatable)."),
    FieldFlag("--gcp-project", "projectIDs", "list", "GCP: an allowed project id (repeatable)."),
    FieldFlag("--azure-resource-group", "resourceGroups", "list", "Azure: an allowed resource group (repeatable)."),
    FieldFlag("--azure-subscription-id", "subscriptionIDs", "list", "Azure: an allowed subscription (repeatable)."),
    FieldFlag("--azure-object-id", "objectIDs", "list", "Azure: an allowed managed identity object id."),
    FieldFlag("--azure-audience", "audience", "str", "Azure: the token audience (default https://management.azure.com/)."),
    FieldFlag("--jwks-url", "jwksURL", "str", "GCP/Azure: where the signing keys are fetched (default the cloud's)."),
    FieldFlag("--iid-roots", "iidRoots", "str", "AWS: the PEM file of the instance identity certificates."),
    FieldFlag("--instance-age", "instanceAge", "str", "AWS/GCP: the oldest instance allowed (e.g. 1h)."),
    FieldFlag("--disable-custom-sans", "disableCustomSANs", "flag", "Cloud types: only the instance's own names."),
    FieldFlag("--disable-trust-on-first-use", "disableTrustOnFirstUse", "flag",
              "Cloud types: allow more than one certificate per instance."),
    FieldFlag("--capabilities", "capabilities", "list", "SCEP: a capability GetCACaps advertises (repeatable)."),
    FieldFlag("--include-root", "includeRoot", "flag", "SCEP: GetCACert returns the root too."),
    FieldFlag("--exclude-intermediate", "excludeIntermediate", "flag",
              "SCEP: GetCACert leaves the intermediate out (needs a decrypter certificate)."),
    FieldFlag("--min-public-key-length", "minimumPublicKeyLength", "int",
              "SCEP: the shortest RSA key, in bits, a CSR may have (default 2048).",
              aliases=("--minimum-public-key-length",)),
    FieldFlag("--encryption-algorithm-identifier", "encryptionAlgorithmIdentifier", "int",
              "SCEP: how CertReps are encrypted: 1 AES-128-CBC, 2 AES-256-CBC (default: as the request)."),
    FieldFlag("--force-cn", "forceCN", "flag", "ACME/SCEP: set a common name from the SANs when there is none."),
    FieldFlag("--scep-decrypter-certificate-file", "decrypterCertificate", "pem",
              "SCEP: the certificate of the RSA key that decrypts requests."),
    FieldFlag("--scep-decrypter-key-file", "decrypterKeyPEM", "pem",
              "SCEP: the decrypter's PEM key (prefer --scep-decrypter-key-uri: a key in a KMS)."),
    FieldFlag("--scep-decrypter-key-uri", "decrypterKey", "str",
              "SCEP: the decrypter's key URI (softkms:, pkcs11:, awskms:, ...)."),
    FieldFlag("--scep-decrypter-key-password-file", "decrypterKeyPassword", "secret",
              "SCEP: a file holding the password of the decrypter's key."),
)


class FieldsType:
    """Types whose credential is plain ca.json members (X5C roots, an OIDC client, ...)."""

    def __init__(self, type_name: str, members: tuple[str, ...], required: tuple[str, ...]) -> None:
        """``members``: the ca.json members it takes; ``required``: the flags it cannot do without."""
        self.type_name, self.members, self.required = type_name, frozenset(members), required

    def update(self, entry: dict[str, Any], options: ProvisionerOptions) -> dict[str, Any]:
        if options.create or options.public_key is not None:
            raise BadRequest(f"a {self.type_name} provisioner has no JWK: --create and --public-key do not apply")
        foreign = sorted(set(options.settings) - self.members)
        if foreign:
            flags = [f.flag for f in FIELD_FLAGS if f.member in foreign]
            raise BadRequest(f"{', '.join(flags)} do not apply to a {self.type_name} provisioner")
        if options.challenges and "challenge" not in self.members:
            raise BadRequest(f"--challenge does not apply to a {self.type_name} provisioner")
        if len(options.challenges) > 1:
            raise BadRequest(f"a {self.type_name} provisioner has one --challenge (its challenge password)")
        return {**entry, **options.settings, **({"challenge": options.challenges[0]} if options.challenges else {})}

    def new(self, name: str, options: ProvisionerOptions) -> dict[str, Any]:
        entry = self.update({"type": self.type_name, "name": name}, options)
        missing = [f.flag for f in FIELD_FLAGS if f.flag in self.required and not entry.get(f.member)]
        if missing:
            raise BadRequest(f"a {self.type_name} provisioner needs {' and '.join(missing)}")
        return entry


CREDENTIAL_HANDLERS: dict[str, CredentialHandler] = {
    "JWK": JwkType(),
    "ACME": AcmeType(),
    "X5C": FieldsType("X5C", ("roots",), ("--x5c-roots",)),
    "OIDC": FieldsType("OIDC", ("clientID", "clientSecret", "configurationEndpoint", "admins", "domains", "groups",
                                "listenAddress", "tenantID", "acrValues", "amrValues"),
                       ("--client-id", "--configuration-endpoint")),
    "K8SSA": FieldsType("K8sSA", ("publicKeys",), ("--pem-keys",)),
    "NEBULA": FieldsType("Nebula", ("roots",), ("--nebula-root",)),
    "SSHPOP": FieldsType("SSHPOP", (), ()),
    "EST": FieldsType("EST", ("roots",), ()),  # its secret goes into ca.json by hand: no flag carries secrets
    "AWS": FieldsType("AWS", ("accounts", "iidRoots", "instanceAge", "disableCustomSANs", "disableTrustOnFirstUse"),
                      ("--iid-roots",)),
    "GCP": FieldsType("GCP", ("serviceAccounts", "projectIDs", "instanceAge", "disableCustomSANs",
                              "disableTrustOnFirstUse", "jwksURL"), ()),
    "AZURE": FieldsType("Azure", ("tenantID", "resourceGroups", "subscriptionIDs", "objectIDs", "audience",
                                  "disableCustomSANs", "disableTrustOnFirstUse", "jwksURL"), ("--tenant-id",)),
    "SCEP": FieldsType("SCEP", ("challenge", "capabilities", "includeRoot", "excludeIntermediate", "forceCN",
                                "minimumPublicKeyLength", "encryptionAlgorithmIdentifier", "decrypterCertificate",
                                "decrypterKeyPEM", "decrypterKey", "decrypterKeyPassword"), ()),
}


def credential_handler(name: str) -> CredentialHandler:
    return CREDENTIAL_HANDLERS[provisioner_type(name).name]


def with_claims(entry: dict[str, Any], claims: dict[str, Any]) -> dict[str, Any]:
    unknown = set(claims) - CLAIM_NAMES
    if unknown:
        raise BadRequest(f"unknown claims: {', '.join(sorted(unknown))}")
    if not claims:
        return entry
    return {**entry, "claims": {**entry.get("claims", {}), **claims}}


class CaJson:
    """A ca.json being edited: its provisioners as a list of JSON objects."""

    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            self.data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
        except OSError as exc:
            raise ConfigError(f"cannot read {path}: {exc.strerror}") from None
        except ValueError as exc:
            raise ConfigError(f"{path} is not valid JSON: {exc}") from None
        if not isinstance(self.data, dict):
            raise ConfigError(f"{path} must contain a JSON object")

    @property
    def provisioners(self) -> list[dict[str, Any]]:
        authority = self.data.setdefault("authority", {})
        provisioners = authority.get("provisioners")
        if provisioners is None:
            provisioners = authority["provisioners"] = []
        if not isinstance(provisioners, list):
            raise ConfigError(f"{self.path}: 'authority.provisioners' must be a list")
        return provisioners

    def _index(self, name: str, type_name: str | None = None) -> int:
        matches = [i for i, p in enumerate(self.provisioners) if p.get("name") == name
                   and (type_name is None or str(p.get("type", "")).upper() == type_name.upper())]
        if not matches:
            raise NotFound(f"no provisioner named '{name}' in {self.path}")
        if len(matches) > 1:
            raise BadRequest(f"several provisioners are named '{name}': pass --type")
        return matches[0]

    def add(self, name: str, type_name: str, options: ProvisionerOptions) -> dict[str, Any]:
        if any(p.get("name") == name and str(p.get("type", "")).upper() == type_name.upper()
               for p in self.provisioners):
            raise Conflict(f"a {type_name.upper()} provisioner named '{name}' already exists")
        entry = with_claims(credential_handler(type_name).new(name, options), options.claims)
        self.provisioners.append(entry)
        return entry

    def remove(self, name: str, type_name: str | None = None) -> dict[str, Any]:
        return self.provisioners.pop(self._index(name, type_name))

    def update(self, name: str, type_name: str | None, options: ProvisionerOptions) -> dict[str, Any]:
        index = self._index(name, type_name)
        entry = step_ca_names(self.provisioners[index], f"provisioner '{name}'")
        updated = credential_handler(str(entry.get("type", ""))).update(entry, options)
        self.provisioners[index] = with_claims(updated, options.claims)
        return self.provisioners[index]

    def save(self) -> None:
        """Validate the edited file as the CA will load it (keys, claims), then replace ca.json."""
        config = parse_config(self.data, path=self.path)
        context = ProvisionerContext(
            audiences=Audiences(frozenset(config.hosts)), root_fingerprint="", started_at=utc_now(),
            claims=Claimer().merged(config.authority.claims, "authority"), base_dir=config.base_dir,
        )
        Collection.from_config(config.authority.provisioners, context)
        write_json(self.path, self.data)
