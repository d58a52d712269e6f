"""KMS and key URIs in step-ca's format: ``scheme:attr=v;attr=v?query=v&...``.

A URI names a backend (``--kms``) or a key in it; the two are merged, the key
URI's attributes winning. Query values (PINs, passwords) are secrets: ``str()``
and ``repr()`` leave the query out, and no error message echoes it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Mapping
from urllib.parse import unquote

from appliance.kms.errors import InvalidKmsUri

_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*):")
_BAD_ESCAPE = re.compile(r"%(?![0-9A-Fa-f]{2})")
_HEX = re.compile(r"^(?:[0-9A-Fa-f]{2})+$")
_EMPTY: Mapping[str, str] = MappingProxyType({})
_SECRET_ATTRIBUTES = frozenset({"management-key", "client-secret", "pin", "password"})  # secrets step users put in the path


def _decode(value: str, what: str) -> str:
    if _BAD_ESCAPE.search(value):
        raise InvalidKmsUri(f"invalid KMS URI: bad percent-encoding in {what}")
    # surrogateescape keeps percent-encoded bytes that are not UTF-8 (RFC 7512 ids)
    return unquote(value, errors="surrogateescape")


def _pairs(text: str, separator: str, where: str) -> tuple[dict[str, str], list[str]]:
    """Split ``a=1;b=2`` into a dict; segments without ``=`` are returned apart."""
    pairs: dict[str, str] = {}
    bare: list[str] = []
    for segment in text.split(separator):
        if not segment:
            continue
        name, eq, value = segment.partition("=")
        if not eq:
            bare.append(_decode(segment, f"the {where}"))
            continue
        name = name.strip().lower()
        if not name:
            raise InvalidKmsUri(f"invalid KMS URI: empty attribute name in the {where}")
        if name in pairs:
            raise InvalidKmsUri(f"invalid KMS URI: attribute '{name}' given twice in the {where}")
        pairs[name] = _decode(value, f"attribute '{name}'")
    return pairs, bare


@dataclass(frozen=True, repr=False)
class KmsUri:
    """A parsed URI. ``resource`` holds a path part that is not ``key=value``
    (``cloudkms:projects/...``); ``attributes`` the ``;`` part; ``query`` the rest."""

    scheme: str
    resource: str = ""
    attributes: Mapping[str, str] = field(default_factory=lambda: _EMPTY)
    query: Mapping[str, str] = field(default_factory=lambda: _EMPTY)

    def get(self, name: str) -> str | None:
        """An attribute, else a query value, else None (empty counts as absent)."""
        value = self.attributes.get(name) or self.query.get(name)
        return value or None

    def require(self, name: str) -> str:
        value = self.get(name)
        if value is None:
            raise InvalidKmsUri(f"invalid {self.scheme}: URI: '{name}' is required")
        return value

    def get_bytes(self, name: str) -> bytes | None:
        """A value as bytes: hex-decoded when it is hex (``id=7331``), else its
        percent-decoded bytes (``id=%be%ef``)."""
        value = self.get(name)
        if value is None:
            return None
        if _HEX.match(value):
            return bytes.fromhex(value)
        return value.encode(errors="surrogateescape")

    def get_int(self, name: str) -> int | None:
        value = self.get(name)
        if value is None:
            return None
        try:
            return int(value, 0)
        except ValueError:
            raise InvalidKmsUri(f"invalid {self.scheme}: URI: '{name}' must be a number") from None

    def secret(self, name: str) -> str | None:
        """``<name>-value``, or the first line of the file named by ``<name>-source``."""
        value = self.get(f"{name}-value")
        if value is not None:
            return value
        source = self.get(f"{name}-source")
        if source is None:
            return None
        try:
            return Path(source).read_text().rstrip("\r\n")
        except OSError as exc:
            raise InvalidKmsUri(
                f"invalid {self.scheme}: URI: cannot read {name}-source file: {exc.strerror}"
            ) from None

    def pin(self) -> str | None:
        return self.secret("pin")

    def merged(self, key: KmsUri) -> KmsUri:
        """This backend URI with a key URI laid over it (the key's values win)."""
        if key.scheme != self.scheme:
            raise InvalidKmsUri(
                f"invalid key URI: scheme '{key.scheme}:' does not match the KMS '{self.scheme}:'"
            )
        return KmsUri(
            scheme=self.scheme,
            resource=key.resource or self.resource,
            attributes=MappingProxyType({**self.attributes, **key.attributes}),
            query=MappingProxyType({**self.query, **key.query}),
        )

    def __str__(self) -> str:
        """The URI without its query, safe for logs and transcripts."""
        parts = [self.resource] if self.resource else []
        parts += [
            f"{k}={'***' if k.endswith('-value') or k in _SECRET_ATTRIBUTES else v}"
            for k, v in self.attributes.items()
        ]
        return f"{self.scheme}:{';'.join(parts)}"

    def __repr__(self) -> str:
        return f"KmsUri({str(self)!r})"


def parse_uri(raw: str, *, default_scheme: str | None = None) -> KmsUri:
    """Parse a KMS or key URI; a string with no scheme is a path for ``default_scheme``."""
    if not isinstance(raw, str) or not raw.strip():
        raise InvalidKmsUri("invalid KMS URI: empty")
    raw = raw.strip()
    match = _SCHEME.match(raw)
    if match is None:
        if default_scheme is None:
            raise InvalidKmsUri("invalid KMS URI: missing scheme (e.g. 'pkcs11:', 'softkms:')")
        return KmsUri(scheme=default_scheme, attributes=MappingProxyType({"path": raw}))
    scheme = match.group(1).lower()
    rest = raw[match.end() :]
    path, _, query_text = rest.partition("?")
    attributes, bare = _pairs(path, ";", "path")
    query, stray = _pairs(query_text, "&", "query")
    if stray:
        raise InvalidKmsUri("invalid KMS URI: query values must be 'name=value'")
    if len(bare) > 1:
        raise InvalidKmsUri(f"invalid {scheme}: URI: segment '{bare[1]}' is not 'name=value'")
    return KmsUri(
        scheme=scheme,
        resource=bare[0] if bare else "",
        attributes=MappingProxyType(attributes),
        query=MappingProxyType(query),
    )
