"""Checks shared by the provisioner types that verify someone else's token
(X5C, OIDC, K8sSA and the cloud identity types): config fields, names, replay keys."""

from __future__ import annotations

import datetime
import hashlib
from typing import Any

from appliance.errors import BadRequest, Unauthorized
from appliance.jose import UnverifiedToken
from appliance.jose.b64 import b64encode
from appliance.provisioner.base import TokenUse
from appliance.provisioner.names import Names


def config_strings(config: dict[str, Any], name: str, where: str) -> tuple[str, ...]:
    """A ca.json list of strings (absent or null: empty)."""
    value = config.get(name) or []
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise BadRequest(f"{where}: '{name}' must be a list of strings")
    return tuple(value)


def config_string(config: dict[str, Any], name: str, where: str, *, required: bool = False) -> str:
    """A ca.json string (absent or null: empty unless ``required``)."""
    value = config.get(name)
    if value is None or value == "":
        if required:
            raise BadRequest(f"{where}: '{name}' is required")
        return ""
    if not isinstance(value, str):
        raise BadRequest(f"{where}: '{name}' must be a string")
    return value


def config_flag(config: dict[str, Any], name: str, where: str) -> bool:
    value = config.get(name, False)
    if value is None:
        return False
    if not isinstance(value, bool):
        raise BadRequest(f"{where}: '{name}' must be true or false")
    return value


def replay_key(token: UnverifiedToken, claim: str | None = "jti") -> str:
    """What marks a token used: its ``claim`` if present, else the SHA-256 of the
    whole token (step-ca's reuse key for tokens without an id)."""
    value = token.claims.get(claim) if claim else None
    if isinstance(value, str) and value:
        return value
    compact = token.signing_input + b"." + b64encode(token.signature).encode("ascii")
    return hashlib.sha256(compact).hexdigest()


def audience_includes(claims: dict[str, Any], expected: str) -> bool:
    """True if ``aud`` (a string or a list of strings) contains ``expected``."""
    audience = claims.get("aud")
    values = [audience] if isinstance(audience, str) else audience
    return isinstance(values, list) and expected in values


def requested_sans(claims: dict[str, Any], default: list[str]) -> Names:
    """The ``sans`` claim of a step token (``default`` when absent)."""
    sans = claims.get("sans") or default
    if not isinstance(sans, list) or not all(isinstance(s, str) and s for s in sans):
        raise Unauthorized("token 'sans' claim must be a list of names")
    return Names.parse(sans)


#: How long a mark that must never lapse stays in the used-token store (TOFU,
#: tokens without expiry); the retention job keeps it until then.
LASTING_MARK = datetime.timedelta(days=3650)


def instance_use(token_id: str, instance: str, token: UnverifiedToken, *, trust_on_first_use: bool,
                 expires_at: datetime.datetime) -> TokenUse:
    """The replay mark of a cloud identity token: with trust on first use (step-ca's
    default) the instance itself, so that it gets one certificate; without, the token."""
    if not trust_on_first_use:
        return TokenUse(token_id=replay_key(token, claim=None), expires_at=expires_at)
    mark = hashlib.sha256(f"{token_id}.{instance}".encode()).hexdigest()
    return TokenUse(token_id=mark, expires_at=expires_at + LASTING_MARK)


def require_member(value: Any, allowed: tuple[str, ...], what: str) -> None:
    """``value`` must be one of ``allowed`` when the provisioner lists any."""
    if allowed and value not in allowed:
        raise Unauthorized(f"{what} is not one the provisioner allows")
