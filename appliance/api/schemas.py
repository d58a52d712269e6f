"""Request bodies and the step-ca JSON conventions they use (PEM strings,
``TimeDuration`` values that are RFC 3339 times or Go durations)."""

from __future__ import annotations

import datetime
from typing import Any

from cryptography import x509
from pydantic import BaseModel, ConfigDict, Field

from appliance.errors import BadRequest
from appliance.pki.duration import parse_signed_duration
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
    if value[-1:] in ("s", "m", "h") and value[:1] in "+-.0123456789":
        return parse_signed_duration(value)
    try:
        parsed = datetime.datetime.fromisoformat(value.replace("Z", "+00:00"))
        if parsed.tzinfo is None:
            raise BadRequest(f"time '{value[:40]}' has no time zone")
        return parsed.astimezone(datetime.timezone.utc)
    except (ValueError, OverflowError):
        raise BadRequest(f"invalid time or duration '{value[:40]}'") from None


def parse_csr(pem: str) -> x509.CertificateSigningRequest:
    """A PEM CSR (its signature is the authority's to check, once)."""
    try:
        return x509.load_pem_x509_csr(pem.encode())
    except (ValueError, UnicodeEncodeError):
        raise BadRequest("invalid csr") from None
