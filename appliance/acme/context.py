"""What every ACME operation shares: settings, the per-request context, replies."""

from __future__ import annotations

import datetime
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any, Callable

from appliance.acme.links import Links
from appliance.acme.models import Account
from appliance.acme.problems import AcmeError, Problem
from appliance.acme.store import AcmeStore
from appliance.acme.validation import ValidationSettings, Validator
from appliance.authority.interfaces import AuthorityInterface
from appliance.jose.jwk import JWK
from appliance.provisioner.acme import ACMEProvisioner

HOUR = datetime.timedelta(hours=1)


@dataclass(frozen=True)
class AcmeSettings:
    """Lifetimes and polling hints (our defaults; step-ca uses 24 h for orders and authorizations)."""

    order_lifetime: datetime.timedelta = 24 * HOUR
    authorization_lifetime: datetime.timedelta = 24 * HOUR
    nonce_lifetime: datetime.timedelta = HOUR
    retry_after: int = 1
    #: How long (seconds) the challenge request waits for its validation's first attempt:
    #: a quick one answers valid or invalid at once, so clients need not sleep Retry-After.
    challenge_wait: float = 2.0
    renewal_info_retry_after: int = 6 * 3600
    validation: ValidationSettings = field(default_factory=ValidationSettings)


@dataclass
class Core:
    """The collaborators every operation uses."""

    authority: AuthorityInterface
    store: AcmeStore
    settings: AcmeSettings
    validator: Validator
    now: Callable[[], datetime.datetime]


@dataclass(frozen=True)
class AcmeRequest:
    """One request's provisioner and the URLs as the client addressed them."""

    provisioner: ACMEProvisioner
    links: Links


@dataclass(frozen=True)
class Signed:
    """A verified JWS request: its payload (None for POST-as-GET), the account
    (kid requests) or the key (jwk requests), and the URL it was signed for."""

    payload: dict[str, Any] | None
    url: str
    key: JWK
    account: Account | None = None

    @property
    def owner(self) -> Account:
        if self.account is None:
            raise AcmeError(Problem.MALFORMED, "this request must be signed by an account (kid)")
        return self.account

    def fields(self) -> dict[str, Any]:
        """The payload as an object ({} for POST-as-GET)."""
        return self.payload or {}


@dataclass(frozen=True)
class Reply:
    """A successful ACME response before HTTP: body (JSON object or PEM text) and headers' data."""

    body: dict[str, Any] | str
    location: str | None = None
    created: bool = False
    retry_after: int | None = None
    up: str | None = None
    settle: Settling | None = None


@dataclass(frozen=True)
class Settling:
    """Work the request started that may end soon: the HTTP layer waits (without
    blocking) up to ``timeout`` seconds for ``done``, then sends ``reply()`` (the
    resource read again) instead of the reply that carries this."""

    done: Future[None]
    timeout: float
    reply: Callable[[], Reply]


#: Go's zero time.Time, which Go ACME clients (smallstep's ``step`` 0.15) send for an unset notBefore/notAfter.
GO_ZERO_TIME = "0001-01-01T00:00:00Z"


def rfc3339(value: datetime.datetime) -> str:
    """UTC, whole seconds, a four-digit year (``strftime("%Y")`` drops leading zeros on glibc)."""
    return value.astimezone(datetime.timezone.utc).replace(microsecond=0, tzinfo=None).isoformat() + "Z"


def parse_rfc3339(value: Any, what: str) -> datetime.datetime | None:
    """An RFC 3339 date; None when absent or Go's zero time (unset, as step-ca reads it)."""
    if value is None or value == GO_ZERO_TIME:
        return None
    if not isinstance(value, str):
        raise AcmeError(Problem.MALFORMED, f"{what} must be an RFC 3339 date")
    try:
        parsed = datetime.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise AcmeError(Problem.MALFORMED, f"{what} must be an RFC 3339 date") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=datetime.timezone.utc)
