"""Strict reading of YAML: no duplicate keys, no unknown fields, typed values.

``Fields`` wraps one mapping and its dotted path; each accessor removes the
field it reads, and ``done()`` rejects whatever is left, so a typo is an error
rather than a silently ignored setting.
"""

from __future__ import annotations

import datetime
import ipaddress
import re
from pathlib import Path
from typing import Any, Callable, TypeVar

import yaml
from cryptography import x509

from appliance.ceremony.errors import InvalidCeremony

T = TypeVar("T")
_OID = re.compile(r"^[0-2](\.(0|[1-9][0-9]*))+$")


class _StrictLoader(yaml.SafeLoader):
    """SafeLoader that keeps timestamps as strings and rejects duplicate keys."""


_StrictLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def _mapping(loader: _StrictLoader, node: yaml.MappingNode) -> dict[Any, Any]:
    result: dict[Any, Any] = {}
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        if key in result:
            raise InvalidCeremony(f"line {key_node.start_mark.line + 1}: field '{key}' given twice")
        result[key] = loader.construct_object(value_node, deep=True)
    return result


_StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _mapping)


def load_yaml(path: Path) -> tuple[bytes, Any]:
    """The raw bytes of a YAML file and its parsed document."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise InvalidCeremony(f"{path}: cannot read: {exc.strerror}") from None
    try:
        return raw, yaml.load(raw, Loader=_StrictLoader)  # noqa: S506 - a SafeLoader subclass
    except InvalidCeremony as exc:
        raise InvalidCeremony(f"{path}: {exc.message}") from None
    except yaml.YAMLError as exc:
        raise InvalidCeremony(f"{path}: not valid YAML: {exc}") from None


def parse_time(value: str, where: str) -> datetime.datetime:
    """``2025-01-01 00:00:00`` (UTC) or ISO 8601 with ``Z`` or an offset; a time is required."""
    try:
        parsed = datetime.datetime.fromisoformat(value)
    except ValueError:
        parsed = None
    if parsed is None or len(value) < len("2025-01-01 00:00"):
        raise InvalidCeremony(f"{where}: '{value}' is not a date and time like '2025-01-01 00:00:00Z'")
    if parsed.tzinfo is None:
        return parsed.replace(tzinfo=datetime.timezone.utc)
    return parsed.astimezone(datetime.timezone.utc)


class Fields:
    """One YAML mapping being read; ``where`` is its dotted path for messages."""

    def __init__(self, data: object, where: str) -> None:
        if not isinstance(data, dict):
            raise InvalidCeremony(f"{where}: must be a mapping of fields")
        self._data = dict(data)
        self.where = where

    def at(self, name: str) -> str:
        return f"{self.where}.{name}" if self.where else name

    def has(self, name: str) -> bool:
        return name in self._data

    def _take(self, name: str, kind: type[T], required: bool, what: str) -> T | None:
        if name not in self._data:
            if required:
                raise InvalidCeremony(f"{self.at(name)}: missing required field")
            return None
        value = self._data.pop(name)
        if isinstance(value, bool) and kind is int or not isinstance(value, kind):
            raise InvalidCeremony(f"{self.at(name)}: must be {what}")
        return value

    def value(self, name: str) -> object:
        """A required field of any type, for the caller to check."""
        return self._take(name, object, True, "given")

    def text(self, name: str) -> str:
        value = self._take(name, str, True, "a string")
        assert value is not None
        if not value.strip():
            raise InvalidCeremony(f"{self.at(name)}: must not be empty")
        return value

    def opt_text(self, name: str) -> str | None:
        return self.text(name) if self.has(name) else None

    def integer(self, name: str) -> int:
        value = self._take(name, int, True, "an integer")
        assert value is not None
        return value

    def opt_integer(self, name: str) -> int | None:
        return self.integer(name) if self.has(name) else None

    def time(self, name: str) -> datetime.datetime:
        return parse_time(self.text(name), self.at(name))

    def path(self, name: str, base: Path) -> Path:
        """A file path; relative paths are taken from ``base`` (the ceremony file's folder)."""
        return base / Path(self.text(name)).expanduser()

    def opt_path(self, name: str, base: Path) -> Path | None:
        return self.path(name, base) if self.has(name) else None

    def fields(self, name: str) -> Fields:
        return Fields(self._take(name, dict, True, "a mapping of fields"), self.at(name))

    def opt_fields(self, name: str) -> Fields | None:
        return self.fields(name) if self.has(name) else None

    def items(self, name: str, item: Callable[[object, str], T]) -> tuple[T, ...]:
        """An optional list; ``item(value, where)`` checks and converts each element."""
        values = self._take(name, list, False, "a list") or []
        return tuple(item(value, f"{self.at(name)}[{i}]") for i, value in enumerate(values))

    def choice(self, name: str, choices: dict[str, T]) -> T:
        value = self.text(name)
        if value not in choices:
            raise InvalidCeremony(f"{self.at(name)}: '{value}' is not one of {', '.join(choices)}")
        return choices[value]

    def done(self) -> None:
        """Reject every field that was not read."""
        if self._data:
            names = ", ".join(sorted(map(str, self._data)))
            raise InvalidCeremony(f"{self.where or 'top level'}: unknown field(s): {names}")


def string_item(value: object, where: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise InvalidCeremony(f"{where}: must be a non-empty string")
    return value


def oid_item(value: object, where: str) -> x509.ObjectIdentifier:
    if not isinstance(value, str) or not _OID.match(value):
        raise InvalidCeremony(f"{where}: '{value}' is not a dotted OID like 2.23.140.1.2.1")
    return x509.ObjectIdentifier(value)


def url_item(value: object, where: str) -> str:
    text = string_item(value, where)
    if not re.match(r"^https?://[^\s/]+(/\S*)?$", text):
        raise InvalidCeremony(f"{where}: '{text}' is not an http(s) URL")
    return text


def network_item(value: object, where: str) -> ipaddress.IPv4Network | ipaddress.IPv6Network:
    try:
        return ipaddress.ip_network(string_item(value, where))
    except ValueError:
        raise InvalidCeremony(f"{where}: '{value}' is not a network like 10.0.0.0/8") from None


def dns_item(value: object, where: str) -> str:
    text = string_item(value, where)
    if not re.match(r"^\.?([A-Za-z0-9-]+\.)*[A-Za-z0-9-]+$", text):
        raise InvalidCeremony(f"{where}: '{text}' is not a DNS name")
    return text
