"""The ``ssh`` section of ca.json (step-ca's ``SSHConfig``): the SSH CA's keys, by file or KMS URI."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

from appliance.config.errors import ConfigError

_KNOWN = frozenset({"hostKey", "userKey", "keys", "addUserPrincipal", "addUserCommand", "bastion"})
#: step-ca's ``config.Bastion`` members.
BASTION_FIELDS = ("hostname", "user", "port", "cmd", "flags")
#: step-ca's ``SSHPublicKey.Type`` values.
KEY_TYPES = ("user", "host")


@dataclass(frozen=True)
class SshPublicKeyConfig:
    """One member of ``ssh.keys``: a CA public key (JWK) that ``/ssh/roots`` or, when
    ``federated``, ``/ssh/federation`` also lists."""

    type: str
    federated: bool
    key: dict[str, Any]


@dataclass(frozen=True)
class SshConfig:
    """``hostKey`` and ``userKey`` (files or KMS URIs, "" when that kind is not signed),
    extra CA keys, and step-ca's ``addUserPrincipal``/``addUserCommand`` for the
    certificates ``addUserPublicKey`` asks for."""

    host_key: str = ""
    user_key: str = ""
    keys: tuple[SshPublicKeyConfig, ...] = ()
    add_user_principal: str = "provisioner"
    add_user_command: str = ""
    #: ``bastion`` (step-ca's ``config.Bastion``: hostname, user, port, cmd, flags), given by
    #: ``/ssh/bastion`` for every host but itself; empty: none.
    bastion: dict[str, str] = field(default_factory=dict)


def _string(section: dict[str, Any], name: str) -> str:
    value = section.get(name, "")
    if value is None:
        return ""
    if not isinstance(value, str):
        raise ConfigError(f"ca.json: 'ssh.{name}' must be a string")
    return value


def _keys(value: Any) -> tuple[SshPublicKeyConfig, ...]:
    if value is None:
        return ()
    if not isinstance(value, list):
        raise ConfigError("ca.json: 'ssh.keys' must be a list")
    keys = []
    for index, item in enumerate(value):
        where = f"ca.json: 'ssh.keys[{index}]'"
        if not isinstance(item, dict) or item.get("type") not in KEY_TYPES or not isinstance(item.get("key"), dict):
            raise ConfigError(f"{where} needs a type (user or host) and a key (a JWK)")
        if not isinstance(item.get("federated", False), bool):
            raise ConfigError(f"{where}.federated must be true or false")
        keys.append(SshPublicKeyConfig(item["type"], item.get("federated", False), item["key"]))
    return tuple(keys)


def _bastion(value: Any) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, dict) or set(value) - set(BASTION_FIELDS) or \
            not all(isinstance(v, str) for v in value.values()):
        raise ConfigError(f"ca.json: 'ssh.bastion' must be an object of strings ({', '.join(BASTION_FIELDS)})")
    if value and not value.get("hostname"):
        raise ConfigError("ca.json: 'ssh.bastion.hostname' is required")
    return {name: value[name] for name in BASTION_FIELDS if value.get(name)}


def parse_ssh(section: Any, resolve: Callable[[str], str]) -> SshConfig | None:
    """The ``ssh`` section (None when absent); ``resolve`` turns a key's file name into a
    path (KMS URIs are kept as they are)."""
    if section in (None, {}):
        return None
    if not isinstance(section, dict):
        raise ConfigError("ca.json: 'ssh' must be an object")
    unknown = sorted(set(section) - _KNOWN)
    if unknown:
        raise ConfigError(f"ca.json: 'ssh.{unknown[0]}' is not supported yet: remove it to start the CA")
    host_key, user_key = _string(section, "hostKey"), _string(section, "userKey")
    if not host_key and not user_key:
        raise ConfigError("ca.json: 'ssh' needs a hostKey or a userKey")
    return SshConfig(
        host_key=resolve(host_key) if host_key else "",
        user_key=resolve(user_key) if user_key else "",
        keys=_keys(section.get("keys")),
        add_user_principal=_string(section, "addUserPrincipal") or SshConfig.add_user_principal,
        add_user_command=_string(section, "addUserCommand"),
        bastion=_bastion(section.get("bastion")),
    )

