"""Which ca.json fields we implement, and which are valid step-ca fields we accept
but do not implement yet (reported once at load, never fatal)."""

from __future__ import annotations

SUPPORTED = {
    "": frozenset({
        "root", "federatedRoots", "crt", "key", "address", "insecureAddress", "dnsNames",
        "logger", "db", "tls", "kms", "crl", "ocsp", "lint", "authority", "password", "commonName", "metricsAddress",
        "connections", "ssh", "templates", "audit", "console",
    }),
    "authority": frozenset({"provisioners", "claims", "policy", "disableIssuedAtCheck", "backdate",
                            "disableGetSSHHosts", "enableAdmin"}),
    "authority.claims": frozenset({
        "minTLSCertDuration", "maxTLSCertDuration", "defaultTLSCertDuration",
        "disableRenewal", "allowRenewalAfterExpiry", "disableIssuedAtCheck",
        "minUserSSHCertDuration", "maxUserSSHCertDuration", "defaultUserSSHCertDuration",
        "minHostSSHCertDuration", "maxHostSSHCertDuration", "defaultHostSSHCertDuration", "enableSSHCA",
    }),
    # The members every provisioner type reads (appliance.provisioner.base, and ``type``
    # its collection); each type's own are in PROVISIONER_FIELDS. ``webhooks``: our old
    # place of step-ca's ``options.webhooks`` (PROVISIONER_OLD_NAMES).
    "authority.provisioners[]": frozenset({
        "type", "name", "claims", "options", "policy", "webhooks", "lint", "allowMustStaple",
    }),
    "crl": frozenset({"enabled", "generateOnRevoke", "cacheDuration", "renewPeriod", "idpURL"}),
    "ocsp": frozenset({"enabled", "validity", "cacheSize", "url", "responderKey", "responderValidity"}),
    "lint": frozenset({"mode", "profile"}),
    "kms": frozenset({"type", "uri"}),
    "tls": frozenset({"cipherSuites", "minVersion", "maxVersion", "renegotiation"}),
    "logger": frozenset({"format", "level"}),
}

#: Each provisioner type's own members (upper-case type names, as ca.json's ``type`` is
#: matched case-insensitively), beyond the common ones above; the rest are refused
#: (appliance.config.unsupported) or reported. tests/config/test_provisioner_fields.py
#: proves each set against what the type's implementation reads.
_CLOUD = frozenset({"disableCustomSANs", "disableTrustOnFirstUse"})
PROVISIONER_FIELDS: dict[str, frozenset[str]] = {
    "JWK": frozenset({"key", "encryptedKey"}),
    "OIDC": frozenset({
        "clientID", "clientSecret", "configurationEndpoint", "listenAddress", "tenantID", "admins", "domains",
        "groups", "scopes", "authParams", "acrValues", "amrValues",
    }),
    "GCP": _CLOUD | {"serviceAccounts", "projectIDs", "organizationID", "instanceAge", "jwksURL"},
    "AWS": _CLOUD | {"accounts", "imdsVersions", "instanceAge", "iidRoots"},
    "AZURE": _CLOUD | {"tenantID", "resourceGroups", "subscriptionIDs", "objectIDs", "audience", "jwksURL"},
    "ACME": frozenset({
        "forceCN", "challenges", "termsOfService", "website", "caaIdentities", "requireEAB", "challengePorts",
        "challengeResolver", "attestationFormats", "attestationRoots", "issuerDomainNames", "profiles",
    }),
    "X5C": frozenset({"roots"}),
    "K8SSA": frozenset({"publicKeys"}),
    "SSHPOP": frozenset(),
    "SCEP": frozenset({
        "forceCN", "challenge", "capabilities", "includeRoot", "excludeIntermediate", "minimumPublicKeyLength",
        "encryptionAlgorithmIdentifier", "decrypterCertificate", "decrypterKeyPEM", "decrypterKey",
        "decrypterKeyURI", "decrypterKeyPassword",
    }),
    "NEBULA": frozenset({"roots"}),
    "EST": frozenset({"secret", "username", "roots", "serverKeyGen"}),
}

#: step-ca members of a provisioner type that we accept but do not implement yet.
PROVISIONER_STEP_CA_ONLY: dict[str, frozenset[str]] = {
    # step-ca's switches for GCP's SSH user (default off) and host certificates; ours
    # signs host certificates only.
    "GCP": frozenset({"disableSSHCAUser", "disableSSHCAHost"}),
}

#: Our old names of step-ca members (appliance.provisioner.renamed), still read: each
#: gets a notice naming step-ca's (``""``: every type).
PROVISIONER_OLD_NAMES: dict[str, dict[str, str]] = {
    "": {"webhooks": "options.webhooks"},
    "SCEP": {"decrypterKeyURI": "decrypterKey"},
}

STEP_CA_ONLY = {
    "": frozenset({"monitoring", "skipValidation", "debug", "storage"}),
    "authority": frozenset({
        "template", "admins", "deploymentType",
        "authorityId", "type", "certificateAuthority", "certificateAuthorityFingerprint",
        "credentialsFile", "certificateIssuer", "options", "disableCurrentTimeCheck",
    }),
    "authority.claims": frozenset({"disableSmallstepExtensions"}),
    "kms": frozenset({"credentialsFile", "region", "profile", "pin", "managementKey"}),
    "logger": frozenset({"traceHeader"}),
}


def unsupported_notices(section: str, members: dict[str, object], where: str | None = None) -> list[str]:
    """Notices for the members of one section that we do not implement; ``where``
    names the section in them when it differs."""
    path = f"{where if where is not None else section}." if section else ""
    return _notices(members, SUPPORTED.get(section, frozenset()), STEP_CA_ONLY.get(section, frozenset()), path, "")


def provisioner_notices(provisioner: dict[str, object], where: str) -> list[str]:
    """Notices for the members of one provisioner (``where``: ``authority.provisioners[2]``)
    that its type does not read; none for a type we do not have (refused elsewhere)."""
    kind = str(provisioner.get("type", "")).upper()
    if kind not in PROVISIONER_FIELDS:
        return []
    supported = SUPPORTED["authority.provisioners[]"] | PROVISIONER_FIELDS[kind]
    old_names = {**PROVISIONER_OLD_NAMES[""], **PROVISIONER_OLD_NAMES.get(kind, {})}
    renamed = [f"ca.json: '{where}.{old}' is appliance's old name of step-ca's '{new}'; it is read, "
               f"but write '{new}'" for old, new in old_names.items() if old in provisioner]
    return renamed + _notices(provisioner, supported, PROVISIONER_STEP_CA_ONLY.get(kind, frozenset()),
                              f"{where}.", f" for {kind} provisioners")


def _notices(members: dict[str, object], supported: frozenset[str], step_ca_only: frozenset[str],
             path: str, suffix: str) -> list[str]:
    notices = []
    for name in members:
        if name in supported:
            continue
        if name in step_ca_only:
            notices.append(f"ca.json: '{path}{name}' is a step-ca setting that appliance does not implement "
                           f"yet{suffix}; ignored")
        else:
            notices.append(f"ca.json: unknown field '{path}{name}'{suffix}; ignored")
    return notices
