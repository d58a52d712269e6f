"""Token audiences: ``https://<dnsName or address>[:port][/1.0]/<endpoint>``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit


@dataclass(frozen=True)
class Audiences:
    """The hosts this CA answers as; the port and any ``#fragment`` are ignored."""

    hosts: frozenset[str]

    def matches(self, audience: Any, endpoint: str) -> bool:
        """True if ``aud`` (a string or a list of strings) names ``endpoint`` here."""
        values = [audience] if isinstance(audience, str) else audience
        if not isinstance(values, list):
            return False
        paths = (f"/{endpoint}", f"/1.0/{endpoint}")
        for value in values:
            if not isinstance(value, str):
                continue
            try:
                parts = urlsplit(value)
                host = parts.hostname
            except ValueError:
                continue
            if parts.scheme == "https" and host in self.hosts and parts.path.rstrip("/") in paths:
                return True
        return False
