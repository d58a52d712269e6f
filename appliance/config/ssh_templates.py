"""The top-level ``templates`` section of ca.json (step-ca's ``templates.Templates``): the
templates ``POST /ssh/config`` renders into the files ``ssh config`` writes, and the ``data``
every one of them sees."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from appliance.config.errors import ConfigError

#: step-ca's ``templates.TemplateType`` values.
TEMPLATE_TYPES = ("snippet", "prepend-line", "file", "directory")
KINDS = ("user", "host")
_TEMPLATE_FIELDS = frozenset({"name", "type", "template", "path", "comment", "requires"})


@dataclass(frozen=True)
class SshTemplateConfig:
    """One template: its name, output type, template text (read from ``template``), the path
    the client writes to, the comment marker of snippets, and the ``data`` keys it requires."""

    name: str
    type: str
    path: str
    text: str = ""
    comment: str = "#"
    requires: tuple[str, ...] = ()


@dataclass(frozen=True)
class SshTemplatesConfig:
    """``templates.ssh.user``, ``templates.ssh.host`` and ``templates.data``."""

    user: tuple[SshTemplateConfig, ...] = ()
    host: tuple[SshTemplateConfig, ...] = ()
    data: dict[str, Any] = field(default_factory=dict)


def _string(item: dict[str, Any], name: str, where: str, required: bool = True) -> str:
    value = item.get(name, "")
    if not isinstance(value, str) or (required and not value):
        raise ConfigError(f"{where}.{name}' must be a non-empty string")
    return value


def _template(item: Any, where: str, resolve: Callable[[str], Path]) -> SshTemplateConfig:
    if not isinstance(item, dict):
        raise ConfigError(f"{where}' must be an object")
    unknown = sorted(set(item) - _TEMPLATE_FIELDS)
    if unknown:
        raise ConfigError(f"{where}.{unknown[0]}' is not a template field (name, type, template, path, comment, "
                          "requires)")
    kind = _string(item, "type", where)
    if kind not in TEMPLATE_TYPES:
        raise ConfigError(f"{where}.type' must be one of {', '.join(TEMPLATE_TYPES)}")
    requires = item.get("requires") or []
    if not isinstance(requires, list) or not all(isinstance(r, str) and r for r in requires):
        raise ConfigError(f"{where}.requires' must be a list of strings")
    text = ""
    if kind != "directory":
        source = resolve(_string(item, "template", where))
        try:
            text = source.read_text()
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(f"{where}.template': cannot read {source}: {exc}") from None
    return SshTemplateConfig(name=_string(item, "name", where), type=kind, path=_string(item, "path", where),
                             text=text, comment=_string(item, "comment", where, required=False) or "#",
                             requires=tuple(requires))


def parse_templates(value: Any, resolve: Callable[[str], Path]) -> SshTemplatesConfig | None:
    """``templates`` (None when absent: the built-in defaults apply); template files are read now,
    relative paths through ``resolve``."""
    if value is None:
        return None
    if not isinstance(value, dict):
        raise ConfigError("ca.json: 'templates' must be an object")
    unknown = sorted(set(value) - {"ssh", "data"})
    if unknown:
        raise ConfigError(f"ca.json: 'templates.{unknown[0]}' is not supported (only 'ssh' and 'data')")
    ssh = value.get("ssh") or {}
    data = value.get("data") or {}
    if not isinstance(ssh, dict) or not isinstance(data, dict):
        raise ConfigError("ca.json: 'templates.ssh' and 'templates.data' must be objects")
    reserved = sorted({"Step", "User"} & set(data))
    if reserved:
        raise ConfigError(f"ca.json: 'templates.data.{reserved[0]}' is reserved (the CA's keys and the request's data)")
    unknown = sorted(set(ssh) - set(KINDS))
    if unknown:
        raise ConfigError(f"ca.json: 'templates.ssh.{unknown[0]}' is not supported (only 'user' and 'host')")
    kinds: dict[str, tuple[SshTemplateConfig, ...]] = {}
    for kind in KINDS:
        items = ssh.get(kind) or []
        if not isinstance(items, list):
            raise ConfigError(f"ca.json: 'templates.ssh.{kind}' must be a list")
        kinds[kind] = tuple(_template(item, f"ca.json: 'templates.ssh.{kind}[{index}]", resolve)
                            for index, item in enumerate(items))
    return SshTemplatesConfig(user=kinds["user"], host=kinds["host"], data=dict(data))
