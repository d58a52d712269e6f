"""step-ca's admin API JSON: the protobuf-JSON of smallstep/linkedca's ``Provisioner``,
``Policy`` and ``Webhook`` messages, converted to and from the ca.json objects the CA builds
its provisioners from (and remote management keeps in the database).

protobuf-JSON writes field names in lowerCamelCase, enums by name and ``bytes`` in
standard base64; a ``oneof`` ``details`` holds one member named after the type."""

from __future__ import annotations

import base64
import binascii
import datetime
import json
from typing import Any, Callable

from appliance.errors import BadRequest
from appliance.provisioner.renamed import step_ca_names

Json = dict[str, Any]

#: linkedca detail members per type: (linkedca name, ca.json name, codec).
#: Codecs: ``""`` as is; ``jwk`` bytes of a JSON JWK <-> object; ``text`` bytes <-> string;
#: ``pems`` repeated bytes (one PEM each) <-> base64 of the concatenated PEM bundle.
DETAILS: dict[str, tuple[str, tuple[tuple[str, str, str], ...]]] = {
    "JWK": ("JWK", (("publicKey", "key", "jwk"), ("encryptedPrivateKey", "encryptedKey", "text"))),
    "OIDC": ("OIDC", (("clientId", "clientID", ""), ("clientSecret", "clientSecret", ""),
                      ("configurationEndpoint", "configurationEndpoint", ""), ("admins", "admins", ""),
                      ("domains", "domains", ""), ("groups", "groups", ""), ("listenAddress", "listenAddress", ""),
                      ("tenantId", "tenantID", ""))),
    "GCP": ("GCP", (("serviceAccounts", "serviceAccounts", ""), ("projectIds", "projectIDs", ""),
                    ("disableCustomSans", "disableCustomSANs", ""),
                    ("disableTrustOnFirstUse", "disableTrustOnFirstUse", ""), ("instanceAge", "instanceAge", ""))),
    "AWS": ("AWS", (("accounts", "accounts", ""), ("disableCustomSans", "disableCustomSANs", ""),
                    ("disableTrustOnFirstUse", "disableTrustOnFirstUse", ""), ("instanceAge", "instanceAge", ""))),
    "AZURE": ("Azure", (("tenantId", "tenantID", ""), ("resourceGroups", "resourceGroups", ""),
                        ("audience", "audience", ""), ("disableCustomSans", "disableCustomSANs", ""),
                        ("disableTrustOnFirstUse", "disableTrustOnFirstUse", ""),
                        ("subscriptionIds", "subscriptionIDs", ""), ("objectIds", "objectIDs", ""))),
    "ACME": ("ACME", (("forceCn", "forceCN", ""), ("requireEab", "requireEAB", ""),
                      ("challenges", "challenges", "challenges"),
                      ("attestationFormats", "attestationFormats", "lower"),
                      ("attestationRoots", "attestationRoots", "pems"), ("termsOfService", "termsOfService", ""),
                      ("website", "website", ""), ("caaIdentities", "caaIdentities", ""))),
    "X5C": ("X5C", (("roots", "roots", "pems"),)),
    "K8SSA": ("K8sSA", (("publicKeys", "publicKeys", "pems"),)),
    "SSHPOP": ("SSHPOP", ()),
    "SCEP": ("SCEP", (("forceCn", "forceCN", ""), ("challenge", "challenge", ""), ("capabilities", "capabilities", ""),
                      ("minimumPublicKeyLength", "minimumPublicKeyLength", ""), ("includeRoot", "includeRoot", ""),
                      ("encryptionAlgorithmIdentifier", "encryptionAlgorithmIdentifier", ""),
                      ("excludeIntermediate", "excludeIntermediate", ""))),
    "NEBULA": ("Nebula", (("roots", "roots", "pems"),)),
}

#: linkedca's ``Provisioner.Type`` numbers (protobuf-JSON accepts an enum's number too).
TYPE_NUMBERS = {1: "JWK", 2: "OIDC", 3: "GCP", 4: "AWS", 5: "AZURE", 6: "ACME", 7: "X5C", 8: "K8SSA", 9: "SSHPOP",
                10: "SCEP", 11: "NEBULA"}

#: linkedca ``Claims`` duration members <-> ca.json claims.
DURATIONS = (("x509", "durations", "TLSCert"), ("ssh", "userDurations", "UserSSHCert"),
             ("ssh", "hostDurations", "HostSSHCert"))
FLAGS = ("disableRenewal", "allowRenewalAfterExpiry", "disableSmallstepExtensions")
#: linkedca policy name lists <-> ca.json's.
POLICY_NAMES = (("dns", "dns"), ("ips", "ip"), ("emails", "email"), ("uris", "uri"), ("commonNames", "cn"),
                ("principals", "principal"))
#: linkedca ``SCEPDecrypter`` (SCEP's ``details.SCEP.decrypter``) members <-> ca.json's
#: (bytes in both are base64: ca.json's certificate and PEM key are base64 of PEM).
DECRYPTER_MEMBERS = (("certificate", "decrypterCertificate", ""), ("key", "decrypterKeyPEM", ""),
                     ("keyUri", "decrypterKey", ""), ("keyPassword", "decrypterKeyPassword", "text"))
WEBHOOK_MEMBERS = (("name", "name"), ("id", "id"), ("url", "url"), ("kind", "kind"), ("secret", "secret"),
                   ("disableTlsClientAuth", "disableTLSClientAuth"), ("certType", "certType"))


def _b64decode(value: Any, where: str) -> bytes:
    if not isinstance(value, str):
        raise BadRequest(f"{where} must be a base64 string")
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise BadRequest(f"{where} is not valid base64") from None


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _pems_in(value: Any, where: str) -> str:
    if not isinstance(value, list):
        raise BadRequest(f"{where} must be a list of base64 PEM blocks")
    return _b64(b"".join(_b64decode(item, where) for item in value))


def _pems_out(value: Any) -> list[str]:
    bundle = base64.b64decode(value) if isinstance(value, str) else b""
    marker = b"-----BEGIN "
    return [_b64(marker + block) for block in bundle.split(marker)[1:]]


def _decode(codec: str, value: Any, where: str) -> Any:
    if codec == "jwk":
        try:
            return json.loads(_b64decode(value, where))
        except ValueError:
            raise BadRequest(f"{where} is not a JSON web key") from None
    if codec == "text":
        return _b64decode(value, where).decode(errors="replace")
    if codec == "pems":
        return _pems_in(value, where)
    if codec in ("challenges", "lower") and isinstance(value, list):
        return [str(item).lower().replace("_", "-") for item in value]
    return value


def _encode(codec: str, value: Any) -> Any:
    if codec == "jwk":
        return _b64(json.dumps(value).encode())
    if codec == "text":
        return _b64(str(value).encode())
    if codec == "pems":
        return _pems_out(value)
    if codec in ("challenges", "lower") and isinstance(value, list):
        return [str(item).upper().replace("-", "_") for item in value]
    return value


def _claims_in(claims: Json) -> Json:
    out: Json = {flag: claims[flag] for flag in FLAGS if flag in claims}
    for section, member, suffix in DURATIONS:
        durations = (claims.get(section) or {}).get(member) or {}
        for bound in ("min", "max", "default"):
            if durations.get(bound):
                out[f"{bound}{suffix}Duration"] = durations[bound]
    if "enabled" in (claims.get("ssh") or {}):
        out["enableSSHCA"] = claims["ssh"]["enabled"]
    return out


def _claims_out(claims: Json) -> Json:
    out: Json = {flag: claims[flag] for flag in FLAGS if flag in claims}
    for section, member, suffix in DURATIONS:
        durations = {bound: claims[f"{bound}{suffix}Duration"] for bound in ("min", "max", "default")
                     if f"{bound}{suffix}Duration" in claims}
        if durations:
            out.setdefault(section, {})[member] = durations
    if "enableSSHCA" in claims:
        out.setdefault("ssh", {})["enabled"] = claims["enableSSHCA"]
    return out


def _names(rules: Any, rename: Callable[[tuple[str, str]], tuple[str, str]]) -> Json:
    """One allow or deny list, its members renamed (linkedca -> ca.json or back)."""
    if not isinstance(rules, dict):
        return {}
    pairs = dict(rename(pair) for pair in POLICY_NAMES)
    return {pairs[name]: value for name, value in rules.items() if name in pairs and value}


def _policy(policy: Any, rename: Callable[[tuple[str, str]], tuple[str, str]]) -> Json:
    """A whole policy (x509, ssh user and host) converted with ``rename``."""
    if not isinstance(policy, dict):
        return {}
    out: Json = {}
    x509 = policy.get("x509") or {}
    converted: Json = {side: _names(x509.get(side), rename) for side in ("allow", "deny") if x509.get(side)}
    if x509.get("allowWildcardNames"):
        converted["allowWildcardNames"] = True
    if converted:
        out["x509"] = converted
    for kind in ("user", "host"):
        rules = (policy.get("ssh") or {}).get(kind) or {}
        sides = {side: _names(rules.get(side), rename) for side in ("allow", "deny") if rules.get(side)}
        if sides:
            out.setdefault("ssh", {})[kind] = sides
    return out


def policy_from_linkedca(policy: Any) -> Json:
    """A linkedca ``Policy`` as ca.json's ``policy`` object."""
    if policy is not None and not isinstance(policy, dict):
        raise BadRequest("policy must be an object")
    return _policy(policy, lambda pair: pair)


def policy_to_linkedca(policy: Any) -> Json:
    """ca.json's ``policy`` object as a linkedca ``Policy``."""
    return _policy(policy, lambda pair: (pair[1], pair[0]))


def webhook_from_linkedca(hook: Any) -> Json:
    """A linkedca ``Webhook`` as a ca.json provisioner webhook."""
    if not isinstance(hook, dict):
        raise BadRequest("webhooks must be objects")
    out: Json = {ours: hook[theirs] for theirs, ours in WEBHOOK_MEMBERS if hook.get(theirs) not in (None, "")}
    if isinstance(hook.get("bearerToken"), dict) and hook["bearerToken"].get("bearerToken"):
        out["bearerToken"] = hook["bearerToken"]["bearerToken"]
    if isinstance(hook.get("basicAuth"), dict):
        out["basicAuth"] = {k: hook["basicAuth"].get(k, "") for k in ("username", "password")}
    return out


def webhook_to_linkedca(hook: Json) -> Json:
    """A ca.json provisioner webhook as a linkedca ``Webhook``."""
    out: Json = {theirs: hook[ours] for theirs, ours in WEBHOOK_MEMBERS if ours in hook}
    if hook.get("bearerToken"):
        out["bearerToken"] = {"bearerToken": hook["bearerToken"]}
    if isinstance(hook.get("basicAuth"), dict):
        out["basicAuth"] = dict(hook["basicAuth"])
    return out


def _template_in(template: Any) -> Json:
    if not isinstance(template, dict):
        return {}
    out: Json = {}
    if template.get("template"):
        out["template"] = _b64decode(template["template"], "template").decode(errors="replace")
    if template.get("data"):
        try:
            out["templateData"] = json.loads(_b64decode(template["data"], "template data"))
        except ValueError:
            raise BadRequest("template data is not JSON") from None
    return out


def _template_out(options: Any) -> Json | None:
    if not isinstance(options, dict) or not (options.get("template") or options.get("templateData")):
        return None
    out: Json = {}
    if options.get("template"):
        out["template"] = _b64(str(options["template"]).encode())
    if options.get("templateData"):
        out["data"] = _b64(json.dumps(options["templateData"]).encode())
    return out


def provisioner_from_linkedca(message: Any) -> Json:
    """A linkedca ``Provisioner`` (protobuf-JSON) as a ca.json provisioner object;
    ``BadRequest`` naming what is wrong."""
    if not isinstance(message, dict):
        raise BadRequest("the provisioner must be a JSON object")
    kind, name = message.get("type"), message.get("name")
    kind = TYPE_NUMBERS.get(kind, "") if isinstance(kind, int) else str(kind or "").upper()
    if kind not in DETAILS:
        raise BadRequest(f"provisioner type '{message.get('type')}' is not one of {', '.join(DETAILS)}")
    if not isinstance(name, str) or not name:
        raise BadRequest("the provisioner needs a name")
    member, fields = DETAILS[kind]
    details = (message.get("details") or {})
    if not isinstance(details, dict):
        raise BadRequest("details must be an object")
    data = details.get(member, details.get(kind, {})) or {}
    if not isinstance(data, dict):
        raise BadRequest(f"details.{member} must be an object")
    config: Json = {"type": kind, "name": name}
    for theirs, ours, codec in fields:
        if data.get(theirs) not in (None, "", []):
            config[ours] = _decode(codec, data[theirs], f"details.{member}.{theirs}")
    if kind == "SCEP":
        config.update(_decrypter_in(data.get("decrypter")))
    if isinstance(message.get("claims"), dict) and (claims := _claims_in(message["claims"])):
        config["claims"] = claims
    options: Json = {}
    for theirs, ours in (("x509Template", "x509"), ("sshTemplate", "ssh")):
        if template := _template_in(message.get(theirs)):
            options[ours] = template
    hooks = message.get("webhooks") or []
    if not isinstance(hooks, list):
        raise BadRequest("webhooks must be a list")
    if hooks:
        options["webhooks"] = [webhook_from_linkedca(hook) for hook in hooks]
    if options:
        config["options"] = options
    if policy := policy_from_linkedca(message.get("policy")):
        config["policy"] = policy
    return config


def _decrypter_in(decrypter: Any) -> Json:
    if decrypter is None:
        return {}
    if not isinstance(decrypter, dict):
        raise BadRequest("details.SCEP.decrypter must be an object")
    return {ours: _decode(codec, decrypter[theirs], f"details.SCEP.decrypter.{theirs}")
            for theirs, ours, codec in DECRYPTER_MEMBERS if decrypter.get(theirs) not in (None, "")}


def timestamp(value: datetime.datetime | None) -> str | None:
    """protobuf-JSON's ``Timestamp``: RFC 3339 in UTC."""
    return None if value is None else value.astimezone(datetime.timezone.utc).isoformat().replace("+00:00", "Z")


def provisioner_to_linkedca(provisioner_id: str, config: Json,
                            created_at: datetime.datetime | None = None) -> Json:
    """A ca.json provisioner object (kept under ``provisioner_id``) as a linkedca ``Provisioner``
    (our old member names read as step-ca's)."""
    config = step_ca_names(config, f"provisioner '{config.get('name', '')}'")
    kind = str(config.get("type", "")).upper()
    member, fields = DETAILS.get(kind, (kind, ()))
    data = {theirs: _encode(codec, config[ours]) for theirs, ours, codec in fields if ours in config}
    decrypter = {theirs: _encode(codec, config[ours]) for theirs, ours, codec in DECRYPTER_MEMBERS if ours in config}
    if kind == "SCEP" and decrypter:
        data["decrypter"] = decrypter
    message: Json = {"id": provisioner_id, "type": kind, "name": config.get("name", ""), "details": {member: data}}
    if isinstance(config.get("claims"), dict) and (claims := _claims_out(config["claims"])):
        message["claims"] = claims
    options = config.get("options") or {}
    for theirs, ours in (("x509Template", "x509"), ("sshTemplate", "ssh")):
        if (template := _template_out(options.get(ours))) is not None:
            message[theirs] = template
    if policy := policy_to_linkedca(config.get("policy")):
        message["policy"] = policy
    hooks = options.get("webhooks")
    if isinstance(hooks, list) and hooks:
        message["webhooks"] = [webhook_to_linkedca(hook) for hook in hooks if isinstance(hook, dict)]
    if created_at is not None:
        message["createdAt"] = timestamp(created_at)
    return message
