"""The list of revoked certificates a CRL ceremony reads (YAML).

```yaml
- serial: 7a3f09c1...        # hex, as `openssl x509 -serial` prints it (colons allowed)
  revoked-at: 2025-03-01 12:00:00Z
  reason: keyCompromise      # optional, RFC 5280 name
```
"""

from __future__ import annotations

import datetime
import re
from pathlib import Path

from cryptography import x509

from appliance.ceremony.errors import InvalidCeremony
from appliance.ceremony.model import Revocation
from appliance.ceremony.schema import Fields, load_yaml

_HEX_SERIAL = re.compile(r"^[0-9A-Fa-f]{1,2}(:?[0-9A-Fa-f]{2})*$")
REASONS: dict[str, x509.ReasonFlags | None] = {
    "unspecified": None,  # RFC 5280 5.3.1: leave the reason out rather than say "unspecified"
    "keyCompromise": x509.ReasonFlags.key_compromise,
    "cACompromise": x509.ReasonFlags.ca_compromise,
    "affiliationChanged": x509.ReasonFlags.affiliation_changed,
    "superseded": x509.ReasonFlags.superseded,
    "cessationOfOperation": x509.ReasonFlags.cessation_of_operation,
    "certificateHold": x509.ReasonFlags.certificate_hold,
    "privilegeWithdrawn": x509.ReasonFlags.privilege_withdrawn,
    "aACompromise": x509.ReasonFlags.aa_compromise,
}


def _parse_serial(raw: object, where: str) -> int:
    """A serial as an integer, or as a hex string as openssl prints it."""
    if isinstance(raw, int) and not isinstance(raw, bool):
        serial = raw
    elif isinstance(raw, str) and _HEX_SERIAL.match(raw):
        serial = int(raw.replace(":", ""), 16)
    else:
        raise InvalidCeremony(f"{where}: '{raw}' is not a serial number (hex like 7a:3f:09, or an integer)")
    if not 0 < serial < 2**160:
        raise InvalidCeremony(f"{where}: serial number out of range")
    return serial


def _entry(value: object, where: str, this_update: datetime.datetime) -> Revocation:
    fields = Fields(value, where)
    serial = _parse_serial(fields.value("serial"), fields.at("serial"))
    revoked_at = fields.time("revoked-at")
    reason = fields.choice("reason", REASONS) if fields.has("reason") else None
    fields.done()
    if revoked_at > this_update:
        raise InvalidCeremony(f"{fields.at('revoked-at')}: is after the CRL's this-update")
    return Revocation(serial=serial, revoked_at=revoked_at, reason=reason)


def load_revocations(path: Path, this_update: datetime.datetime) -> tuple[Revocation, ...]:
    """The revoked certificates listed in ``path``; each serial once, none revoked after ``this_update``."""
    _, document = load_yaml(path)
    if document is None:
        return ()
    if not isinstance(document, list):
        raise InvalidCeremony(f"{path}: must be a list of revoked certificates")
    entries = tuple(_entry(item, f"{path.name}[{i}]", this_update) for i, item in enumerate(document))
    serials = [entry.serial for entry in entries]
    duplicates = sorted({s for s in serials if serials.count(s) > 1})
    if duplicates:
        raise InvalidCeremony(f"{path}: serial {duplicates[0]:x} is listed twice")
    return entries
