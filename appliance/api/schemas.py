"""Request bodies and the step-ca JSON conventions they use (PEM strings,
``TimeDuration`` values that are RFC 3339 times or Go durations)."""

from __future__ import annotations

import datetime
import re
from typing import Any

from cryptography import x509
from pydantic import BaseModel, ConfigDict, Field

from appliance.errors import BadRequest

_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)")
_UNIT_SECONDS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}
MAX_REASON_CODE = 10  # RFC 5280 aACompromise


class SignBody(BaseModel):
    """``POST /sign``."""

    model_config = ConfigDict(extra="ignore")
    csr: str
    ott: str
    notBefore: str = ""
    notAfter: str = ""
    templateData: dict[str, Any] | None = None


class RekeyBody(BaseModel):
    """``POST /rekey``."""

    model_config = ConfigDict(extra="ignore")
    csr: str


class RevokeBody(BaseModel):
    """``POST /revoke``."""

    model_config = ConfigDict(extra="ignore")
    serial: str = Field(min_length=1)
    ott: str = ""
    reasonCode: int = Field(default=0, ge=0, le=MAX_REASON_CODE)
    reason: str = ""
    passive: bool = False


def parse_time_duration(value: str) -> datetime.datetime | datetime.timedelta | None:
    """step-ca's ``TimeDuration``: an RFC 3339 time, or a Go duration ("24h", "-5m") that
    the authority counts from the instant it checks the validity at."""
    if not value:
        return None
    sign, body = (-1, value[1:]) if value.startswith("-") else (1, value.lstrip("+"))
    parts = _DURATION_PART.findall(body)
    if parts and "".join(n + u for n, u in parts) == body:
        seconds = sum(float(n) * _UNIT_SECONDS[u] for n, u in parts)
        return datetime.timedelta(seconds=sign * seconds)
    try:
        parsed = datetime.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise BadRequest(f"invalid time or duration '{value[:40]}'") from None
    if parsed.tzinfo is None:
        raise BadRequest(f"time '{value[:40]}' has no time zone")
    return parsed


def parse_csr(pem: str) -> x509.CertificateSigningRequest:
    """A PEM CSR (its signature is the authority's to check, once)."""
    try:
        return x509.load_pem_x509_csr(pem.encode())
    except (ValueError, UnicodeEncodeError):
        raise BadRequest("invalid csr") from None
