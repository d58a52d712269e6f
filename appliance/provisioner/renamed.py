"""Two provisioner members appliance once named differently from step-ca: the top-level
``webhooks`` (step-ca's ``options.webhooks``) and SCEP's ``decrypterKeyURI`` (step-ca's
``decrypterKey``). ca.json files written by older ``ca provisioner`` commands and provisioners
kept by older remote management still carry them, so they are read, never together with
step-ca's name; every writer moves them to step-ca's place (``step_ca_names``)."""

from __future__ import annotations

import copy
from typing import Any

from appliance.errors import BadRequest

#: Our old member -> step-ca's path for it (a path walks ``options``).
RENAMED: dict[str, tuple[str, ...]] = {"webhooks": ("options", "webhooks"), "decrypterKeyURI": ("decrypterKey",)}


def _new_parent(config: dict[str, Any], path: tuple[str, ...]) -> Any:
    parent: Any = config
    for name in path[:-1]:
        parent = parent.get(name) if isinstance(parent, dict) else None
    return parent


def renamed_member(config: dict[str, Any], old: str, where: str) -> Any:
    """The value of step-ca's member for ``old`` (our old name), else of ``old``;
    ``BadRequest`` naming both when both are set."""
    path = RENAMED[old]
    parent = _new_parent(config, path)
    new = parent.get(path[-1]) if isinstance(parent, dict) else None
    legacy = config.get(old)
    if new is not None and legacy is not None:
        raise BadRequest(f"{where}: both '{'.'.join(path)}' (step-ca's name) and '{old}' (appliance's old name "
                         f"of it) are set: keep only '{'.'.join(path)}'")
    return legacy if new is None else new


def step_ca_names(config: dict[str, Any], where: str = "the provisioner") -> dict[str, Any]:
    """A copy of a provisioner's ca.json object with our old members moved to step-ca's
    places (what every writer stores); ``BadRequest`` when one is set under both names."""
    moved = copy.deepcopy(config)
    for old, path in RENAMED.items():
        if old not in moved:
            continue
        value = renamed_member(moved, old, where)
        del moved[old]
        parent = moved
        for name in path[:-1]:
            parent = parent.setdefault(name, {})
            if not isinstance(parent, dict):
                raise BadRequest(f"{where}: {name} must be an object")
        parent[path[-1]] = value
    return moved


def webhook_list(config: dict[str, Any], where: str = "the provisioner") -> list[Any]:
    """The ``options.webhooks`` list of a provisioner's ca.json object (made if missing), for a
    writer to change in place; call it on ``step_ca_names``'s copy."""
    options = config.setdefault("options", {})
    if not isinstance(options, dict):
        raise BadRequest(f"{where}: options must be an object")
    hooks = options.setdefault("webhooks", [])
    if not isinstance(hooks, list):
        raise BadRequest(f"{where}: options.webhooks must be a list")
    return hooks
