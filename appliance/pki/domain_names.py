"""Domain names in one comparable form: case-folded, NFC, A-labels, no trailing dot
(the normalisation draft-ietf-acme-dns-persist asks of issuer domain names)."""

from __future__ import annotations

import re
import unicodedata

LABEL = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?")
MAX_LENGTH = 253


def normal_domain_name(value: str) -> str:
    """``value`` in normal form; ``ValueError`` if it is not a domain name (letters,
    digits and inner hyphens per label, at most 253 octets)."""
    name = unicodedata.normalize("NFC", value.casefold()).removesuffix(".")
    try:
        name = name.encode("idna").decode("ascii")
    except UnicodeError:
        raise ValueError(f"{value!r} is not a domain name") from None
    if len(name) > MAX_LENGTH or not all(LABEL.fullmatch(label) for label in name.split(".")):
        raise ValueError(f"{value!r} is not a domain name")
    return name
