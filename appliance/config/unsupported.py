"""The ca.json settings that would change what is issued or who may get it, and
that this appliance does not implement yet: one table. The CA refuses to start
(or to reload) with any of them, naming the field; a later release turns each
row into a feature and deletes it here.

A path walks nested objects with ``.``; ``[]`` walks every member of a list
(``authority.provisioners[].options.ssh``). ``when`` says which values are refused.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import AbstractSet, Any, Callable, Iterator

from appliance.config.errors import ConfigError

#: ``(value, provisioner types built) -> refused?``
Condition = Callable[[Any, AbstractSet[str]], bool]


def _set(value: Any, built: AbstractSet[str]) -> bool:
    return value not in (None, "", {}, [], False)


def _registration_authority(value: Any, built: AbstractSet[str]) -> bool:
    return isinstance(value, str) and value.lower() not in ("", "softcas")


def _true(value: Any, built: AbstractSet[str]) -> bool:
    return value is True


def _not_built(value: Any, built: AbstractSet[str]) -> bool:
    return isinstance(value, str) and value.upper() not in built


@dataclass(frozen=True)
class Unsupported:
    """One refused setting: where it is, which values, and what it would do."""

    path: str
    when: str
    test: Condition
    effect: str


UNSUPPORTED: tuple[Unsupported, ...] = (
    Unsupported("authority.provisioners[].type", "a type step-ca does not have", _not_built, "this provisioner type"),
    Unsupported("authority.provisioners[].disableSSHCAHost", "true", _true,
                "refusing SSH host certificates to GCP instances"),
    Unsupported("authority.type", "other than softcas", _registration_authority,
                "registration-authority mode (another CA signs)"),
    Unsupported("authority.certificateIssuer", "set", _set, "registration-authority mode (another CA signs)"),
)


def _members(data: Any, path: list[str], where: str) -> Iterator[tuple[str, Any]]:
    """``(concrete path, value)`` for every member ``path`` names in ``data``."""
    if not path:
        yield where, data
        return
    head, rest = path[0], path[1:]
    name, walks_list = (head[:-2], True) if head.endswith("[]") else (head, False)
    if not isinstance(data, dict) or name not in data:
        return
    value, where = data[name], f"{where}.{name}" if where else name
    if not walks_list:
        yield from _members(value, rest, where)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            label = f"{where}[{index}]"
            if isinstance(item, dict) and isinstance(item.get("name"), str):
                label += f" (provisioner '{item['name']}')"
            yield from _members(item, rest, label)


def unsupported_settings(raw: dict[str, Any], built_provisioner_types: AbstractSet[str]) -> list[str]:
    """One line per refused setting present in ``raw`` (a ca.json object)."""
    found = []
    for row in UNSUPPORTED:
        for where, value in _members(raw, row.path.split("."), ""):
            if row.test(value, built_provisioner_types):
                shown = "" if row.when == "set" else f" = {json.dumps(value)}"  # a set object may hold secrets
                found.append(f"'{where}'{shown} ({row.effect}) is not supported yet")
    return found


def refuse_unsupported(raw: dict[str, Any], built_provisioner_types: AbstractSet[str]) -> None:
    """``ConfigError`` naming every refused setting in ``raw``; the CA must not serve with them."""
    found = unsupported_settings(raw, built_provisioner_types)
    if found:
        raise ConfigError("ca.json: " + "; ".join(found) + ": remove these settings to start the CA")
