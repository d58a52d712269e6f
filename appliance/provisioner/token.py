"""Checks shared by every one-time token: times, lifetime, id."""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from typing import Any

from appliance.errors import Unauthorized

LEEWAY = datetime.timedelta(minutes=1)
MAX_LIFETIME = datetime.timedelta(minutes=5)


@dataclass(frozen=True)
class TokenTimes:
    """The validated time claims of a token."""

    not_before: datetime.datetime
    expires_at: datetime.datetime
    issued_at: datetime.datetime | None


def _numeric_date(claims: dict[str, Any], name: str) -> datetime.datetime | None:
    value = claims.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise Unauthorized(f"malformed token: '{name}' must be a number")
    try:
        return datetime.datetime.fromtimestamp(value, datetime.timezone.utc)
    except (OverflowError, OSError, ValueError):
        raise Unauthorized(f"malformed token: '{name}' is out of range") from None


def check_times(claims: dict[str, Any], now: datetime.datetime,
                max_lifetime: datetime.timedelta | None = MAX_LIFETIME) -> TokenTimes:
    """``exp`` required; ``nbf`` (or ``iat``) required; lifetime at most ``max_lifetime``
    (5 min for one-time tokens; ``None`` for identity tokens that an IdP or a cloud
    signs for longer); 1 min leeway on each bound."""
    expires = _numeric_date(claims, "exp")
    issued = _numeric_date(claims, "iat")
    not_before = _numeric_date(claims, "nbf") or issued
    if expires is None:
        raise Unauthorized("token has no expiry (exp)")
    if not_before is None:
        raise Unauthorized("token has neither nbf nor iat")
    if max_lifetime is not None and expires - not_before > max_lifetime:
        raise Unauthorized(f"token lifetime (exp - nbf) exceeds {int(max_lifetime.total_seconds() // 60)} minutes")
    if now > expires + LEEWAY:
        raise Unauthorized("token has expired")
    if now < not_before - LEEWAY:
        raise Unauthorized("token is not valid yet (nbf)")
    if issued is not None and issued > now + LEEWAY:
        raise Unauthorized("token was issued in the future (iat)")
    return TokenTimes(not_before=not_before, expires_at=expires, issued_at=issued)


def string_claim(claims: dict[str, Any], name: str) -> str:
    """A required non-empty string claim."""
    value = claims.get(name)
    if not isinstance(value, str) or not value:
        raise Unauthorized(f"token '{name}' claim is missing or not a string")
    return value
