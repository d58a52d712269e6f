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
    # Every built type's members (appliance.provisioner reads them); the rest are refused
    # (appliance.config.unsupported) or reported here.
    "authority.provisioners[]": frozenset({
        "type", "name", "claims", "options", "policy", "webhooks", "key", "encryptedKey", "forceCN", "challenges",
        "termsOfService", "website", "caaIdentities", "requireEAB", "challengePorts", "challengeResolver",
        "lint", "allowMustStaple", "attestationFormats", "attestationRoots", "issuerDomainNames",
    }),
    "crl": frozenset({"enabled", "generateOnRevoke", "cacheDuration", "renewPeriod", "idpURL"}),
    "ocsp": frozenset({"enabled", "validity", "cacheSize", "url", "responderKey", "responderValidity"}),
    "lint": frozenset({"mode", "profile"}),
    "kms": frozenset({"type", "uri"}),
    "tls": frozenset({"cipherSuites", "minVersion", "maxVersion", "renegotiation"}),
    "logger": frozenset({"format", "level"}),
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
    names the section in them when it differs (``authority.provisioners[2]``)."""
    path = f"{where if where is not None else section}." if section else ""
    notices = []
    for name in members:
        if name in SUPPORTED.get(section, frozenset()):
            continue
        if name in STEP_CA_ONLY.get(section, frozenset()):
            notices.append(f"ca.json: '{path}{name}' is a step-ca setting that appliance does not implement yet; ignored")
        else:
            notices.append(f"ca.json: unknown field '{path}{name}'; ignored")
    return notices
