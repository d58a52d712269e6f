"""Load, validate and write ca.json and defaults.json."""

from __future__ import annotations

import datetime
import json
import logging
import os
import re
import tempfile
from pathlib import Path
from typing import Any

from appliance.pki.duration import format_duration, parse_duration
from appliance.pki.paths import resolve_key, resolve_path
from appliance.config.audit import parse_audit
from appliance.config.connections import ConnectionSettings, parse_connections
from appliance.config.console import parse_console
from appliance.config.errors import ConfigError
from appliance.config.fields import provisioner_notices, unsupported_notices
from appliance.config.logger import parse_logger
from appliance.config.ssh import parse_ssh
from appliance.config.ssh_templates import parse_templates
from appliance.config.tls import parse_tls
from appliance.config.model import (DEFAULT_RETENTION, AuthorityConfig, CaConfig, CrlConfig, DefaultsConfig, LintConfig, OcspConfig,
                                    KmsConfig)
from appliance.errors import BadRequest

LINT_MODES = ("enforce", "warn", "off")
LINT_PROFILES = ("pkix", "cabf-serverauth")

log = logging.getLogger(__name__)


def _object(data: dict[str, Any], name: str) -> dict[str, Any]:
    value = data.get(name)
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ConfigError(f"ca.json: '{name}' must be an object")
    return value


def _string(data: dict[str, Any], name: str, *, required: bool = False) -> str:
    value = data.get(name)
    if value is None or value == "":
        if required:
            raise ConfigError(f"ca.json: '{name}' is required")
        return ""
    if not isinstance(value, str):
        raise ConfigError(f"ca.json: '{name}' must be a string")
    return value


def _strings(data: dict[str, Any], name: str) -> tuple[str, ...]:
    """A string or a list of strings (step-ca accepts both for ``root``)."""
    value = data.get(name)
    if value is None:
        return ()
    if isinstance(value, str):
        return (value,) if value else ()
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ConfigError(f"ca.json: '{name}' must be a string or a list of strings")
    return tuple(value)


def _bool(data: dict[str, Any], name: str, default: bool, section: str) -> bool:
    value = data.get(name, default)
    if not isinstance(value, bool):
        raise ConfigError(f"ca.json: '{section}.{name}' must be true or false")
    return value


def _duration(data: dict[str, Any], name: str, section: str, default: Any) -> Any:
    value = data.get(name)
    if value in (None, ""):
        return default
    try:
        return parse_duration(value)
    except BadRequest as exc:
        raise ConfigError(f"ca.json: '{section}.{name}': {exc.message}") from None


def _provisioners(authority: dict[str, Any]) -> tuple[dict[str, Any], ...]:
    value = authority.get("provisioners") or []
    if not isinstance(value, list):
        raise ConfigError("ca.json: 'authority.provisioners' must be a list")
    names: set[tuple[str, Any]] = set()  # (TYPE, name)
    for index, item in enumerate(value):
        if not isinstance(item, dict) or not isinstance(item.get("type"), str) or not item.get("name"):
            raise ConfigError(f"ca.json: authority.provisioners[{index}] needs a 'type' and a 'name'")
        key = (item["type"].upper(), item["name"])
        if key in names:
            raise ConfigError(f"ca.json: duplicate provisioner {item['type']} '{item['name']}'")
        names.add(key)
    return tuple(value)


def _authority(data: dict[str, Any]) -> tuple[AuthorityConfig, list[str]]:
    authority = _object(data, "authority")
    claims = _object(authority, "claims")
    notices = unsupported_notices("authority", authority) + unsupported_notices("authority.claims", claims)
    provisioners = _provisioners(authority)
    for index, provisioner in enumerate(provisioners):
        where = f"authority.provisioners[{index}]"
        notices += provisioner_notices(provisioner, where)
        if isinstance(provisioner.get("claims"), dict):
            notices += unsupported_notices("authority.claims", provisioner["claims"], f"{where}.claims")
    config = AuthorityConfig(
        provisioners=provisioners,
        claims=claims,
        policy=_object(authority, "policy"),
        disable_issued_at_check=_bool(authority, "disableIssuedAtCheck", False, "authority"),
        backdate=_duration(authority, "backdate", "authority", AuthorityConfig().backdate),
        default_subject=_default_subject(authority),
        enable_admin=_bool(authority, "enableAdmin", False, "authority"),
    )
    return config, notices


#: The members of step-ca's ``ASN1DN`` (``authority.template``); it ignores others, as Go does.
_ASN1DN = ("country", "organization", "organizationalUnit", "locality", "province", "streetAddress",
           "serialNumber", "commonName")


def _default_subject(authority: dict[str, Any]) -> dict[str, str]:
    template = _object(authority, "template")
    for name in _ASN1DN:
        if not isinstance(template.get(name, ""), str):
            raise ConfigError(f"ca.json: 'authority.template.{name}' must be a string")
    return {name: template[name] for name in _ASN1DN if template.get(name)}


def _crl(data: dict[str, Any], base_dir: Path | None) -> CrlConfig:
    crl = _object(data, "crl")
    cache_duration = _duration(crl, "cacheDuration", "crl", CrlConfig().cache_duration)
    renew_period = _duration(crl, "renewPeriod", "crl", cache_duration * 2 / 3)
    if cache_duration <= datetime.timedelta(0):
        raise ConfigError("ca.json: 'crl.cacheDuration' must be positive")
    if not datetime.timedelta(0) < renew_period < cache_duration:
        raise ConfigError("ca.json: 'crl.renewPeriod' must be positive and shorter than 'crl.cacheDuration'")
    idp_url = _string(crl, "idpURL")
    if idp_url and not re.match(r"^https?://[^\s/]+", idp_url):
        raise ConfigError("ca.json: 'crl.idpURL' must be an http:// or https:// URL")
    return CrlConfig(
        enabled=_bool(crl, "enabled", False, "crl"),
        generate_on_revoke=_bool(crl, "generateOnRevoke", True, "crl"),
        cache_duration=cache_duration, renew_period=renew_period, idp_url=idp_url,
        root_crl=resolve_path(base_dir, root_crl) if (root_crl := _string(crl, "rootCRL")) else None,
    )


def _ocsp(data: dict[str, Any], base_dir: Path | None) -> OcspConfig:
    ocsp = _object(data, "ocsp")
    validity = _duration(ocsp, "validity", "ocsp", OcspConfig().validity)
    if validity < datetime.timedelta(minutes=1):
        raise ConfigError("ca.json: 'ocsp.validity' must be at least 1m")
    cache_size = ocsp.get("cacheSize", OcspConfig().cache_size)
    if isinstance(cache_size, bool) or not isinstance(cache_size, int) or cache_size < 1:
        raise ConfigError("ca.json: 'ocsp.cacheSize' must be a positive integer")
    responder_validity = _duration(ocsp, "responderValidity", "ocsp", OcspConfig().responder_validity)
    if not datetime.timedelta(hours=1) <= responder_validity <= datetime.timedelta(days=90):
        raise ConfigError("ca.json: 'ocsp.responderValidity' must be between 1h and 2160h")
    responder_key = _string(ocsp, "responderKey")
    if responder_key:
        responder_key = resolve_key(base_dir, responder_key)
    url = _string(ocsp, "url")
    if url and not re.match(r"^https?://[^\s/]+", url):
        raise ConfigError("ca.json: 'ocsp.url' must be an http:// or https:// URL")
    return OcspConfig(enabled=_bool(ocsp, "enabled", False, "ocsp"), validity=validity, cache_size=cache_size,
                      url=url, responder_key=responder_key, responder_validity=responder_validity)


def _lint(data: dict[str, Any]) -> LintConfig:
    lint = _object(data, "lint")
    mode = _string(lint, "mode") or LintConfig().mode
    profile = _string(lint, "profile") or LintConfig().profile
    if mode not in LINT_MODES:
        raise ConfigError(f"ca.json: 'lint.mode' must be one of {', '.join(LINT_MODES)}")
    if profile not in LINT_PROFILES:
        raise ConfigError(f"ca.json: 'lint.profile' must be one of {', '.join(LINT_PROFILES)}")
    return LintConfig(mode=mode, profile=profile)


def _kms(data: dict[str, Any]) -> KmsConfig | None:
    kms = _object(data, "kms")
    if not kms:
        return None
    kms_type = _string(kms, "type") or "softkms"
    return KmsConfig(type=kms_type.lower(), uri=_string(kms, "uri"))


def _connections(data: dict[str, Any]) -> ConnectionSettings:
    try:
        return parse_connections(_object(data, "connections"))
    except BadRequest as exc:
        raise ConfigError(exc.message) from None


def parse_config(data: dict[str, Any], *, path: Path | None = None, base_dir: Path | None = None) -> CaConfig:
    """Validate a ca.json object. Relative paths resolve against ``base_dir``
    (default: the directory above the file's, i.e. $STEPPATH for ``config/ca.json``)."""
    if not isinstance(data, dict):
        raise ConfigError("ca.json must be a JSON object")
    if base_dir is None and path is not None:
        base_dir = path.resolve().parent.parent
    notices = unsupported_notices("", data)
    for section in ("crl", "ocsp", "lint", "kms", "tls", "logger"):
        notices += unsupported_notices(section, _object(data, section))
    authority, authority_notices = _authority(data)
    roots = _strings(data, "root")
    if not roots:
        raise ConfigError("ca.json: 'root' is required")
    dns_names = _strings(data, "dnsNames")
    if not dns_names:
        raise ConfigError("ca.json: 'dnsNames' must name at least one host")
    key = _string(data, "key", required=True)
    kms = _kms(data)
    key = resolve_key(base_dir, key)
    return CaConfig(
        root=tuple(resolve_path(base_dir, r) for r in roots),
        federated_roots=tuple(resolve_path(base_dir, r) for r in _strings(data, "federatedRoots")),
        crt=resolve_path(base_dir, _string(data, "crt", required=True)),
        key=key,
        address=_string(data, "address", required=True),
        insecure_address=_string(data, "insecureAddress"),
        metrics_address=_string(data, "metricsAddress"),
        dns_names=dns_names,
        common_name=_string(data, "commonName"),
        password=_string(data, "password"),
        kms=kms,
        db=_object(data, "db"),
        retention=_duration(_object(data, "db"), "retention", "db", DEFAULT_RETENTION),
        tls=_object(data, "tls"),
        tls_options=parse_tls(_object(data, "tls")),
        logger=_object(data, "logger"),
        logging=parse_logger(_object(data, "logger")),
        crl=_crl(data, base_dir),
        ocsp=_ocsp(data, base_dir),
        lint=_lint(data),
        connections=_connections(data),
        ssh=parse_ssh(data.get("ssh"), lambda name: resolve_key(base_dir, name)),
        ssh_templates=parse_templates(data.get("templates"), lambda name: resolve_path(base_dir, name)),
        audit=parse_audit(_object(data, "audit")),
        console=parse_console(_object(data, "console")),
        authority=authority,
        path=path,
        base_dir=base_dir,
        raw=data,
        notices=tuple(notices + authority_notices),
    )


def _read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror}") from None
    except ValueError as exc:
        raise ConfigError(f"{path} is not valid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path} must contain a JSON object")
    return data


def load_config(path: str | Path, *, report: bool = True) -> CaConfig:
    """Read and validate ca.json; log each unsupported field once when ``report``."""
    path = Path(path)
    config = parse_config(_read_json(path), path=path)
    if report:
        report_notices(config)
    return config


def report_notices(config: CaConfig) -> None:
    """Log each notice about ``config`` (unsupported harmless fields) once."""
    for notice in config.notices:
        log.warning("%s", notice)


def write_json(path: str | Path, data: dict[str, Any], *, mode: int = 0o600) -> None:
    """Write JSON atomically (temporary file + rename), indented as step writes it."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(data, f, indent="\t")
            f.write("\n")
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def config_to_dict(config: CaConfig) -> dict[str, Any]:
    """ca.json for ``config``: ``raw`` with the modelled fields laid over it."""
    data = dict(config.raw)
    data.update({
        "root": str(config.root[0]) if len(config.root) == 1 else [str(r) for r in config.root],
        "crt": str(config.crt),
        "key": config.key,
        "address": config.address,
        "dnsNames": list(config.dns_names),
    })
    optional = {
        "federatedRoots": [str(r) for r in config.federated_roots],
        "insecureAddress": config.insecure_address,
        "metricsAddress": config.metrics_address,
        "commonName": config.common_name,
        "password": config.password,
        "db": config.db,
        "tls": config.tls,
        "logger": config.logger,
    }
    for name, value in optional.items():
        if value or name in data:
            data[name] = value
    if config.kms is not None:
        data["kms"] = {**data.get("kms", {}), "type": config.kms.type, **({"uri": config.kms.uri} if config.kms.uri else {})}
    if config.crl.enabled or "crl" in data:
        data["crl"] = {
            **data.get("crl", {}),
            "enabled": config.crl.enabled,
            "generateOnRevoke": config.crl.generate_on_revoke,
            "cacheDuration": format_duration(config.crl.cache_duration),
            **({"idpURL": config.crl.idp_url} if config.crl.idp_url else {}),
        }
    authority = dict(data.get("authority", {}))
    authority["provisioners"] = [dict(p) for p in config.authority.provisioners]
    if config.authority.claims:
        authority["claims"] = dict(config.authority.claims)
    if config.authority.policy:
        authority["policy"] = dict(config.authority.policy)
    if config.authority.disable_issued_at_check:
        authority["disableIssuedAtCheck"] = True
    authority["backdate"] = format_duration(config.authority.backdate)
    data["authority"] = authority
    return data


def write_config(config: CaConfig, path: str | Path | None = None) -> Path:
    """Write ca.json (to ``path`` or where it was read from); the path written."""
    target = Path(path) if path is not None else config.path
    if target is None:
        raise ConfigError("no path to write ca.json to")
    write_json(target, config_to_dict(config))
    return target


def load_defaults(path: str | Path) -> DefaultsConfig:
    """Read defaults.json (``ca-url``, ``fingerprint``, ``root``, ``ca-config``)."""
    data = _read_json(Path(path))
    for name in ("ca-url", "fingerprint", "root"):
        if not isinstance(data.get(name), str) or not data[name]:
            raise ConfigError(f"{path}: '{name}' is required")
    return DefaultsConfig(ca_url=data["ca-url"], fingerprint=data["fingerprint"].lower(), root=data["root"],
                          ca_config=str(data.get("ca-config", "")), raw=data)


def write_defaults(defaults: DefaultsConfig, path: str | Path) -> None:
    write_json(path, defaults.to_dict(), mode=0o644)
