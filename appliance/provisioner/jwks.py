"""Keys published by an identity provider (OIDC discovery, Google, Azure AD):
fetched over HTTPS, cached for an hour, and fetched again when a token names a key
id the cache lacks (key rotation), at most once per ``MIN_REFRESH``. When the
provider is down at the hourly refresh, the cached keys go on verifying."""

from __future__ import annotations

import datetime
import logging
import threading
from typing import Any, Callable

import httpx

from appliance.errors import Unauthorized, Unavailable
from appliance.jose import InvalidKey, InvalidToken, PublicKey, UnverifiedToken, key_from_dict, verification_key

log = logging.getLogger(__name__)
FETCH_TIMEOUT = 5.0
MAX_AGE = datetime.timedelta(hours=1)
MIN_REFRESH = datetime.timedelta(seconds=30)


def fetch_json(url: str) -> Any:
    """GET ``url`` as JSON; ``Unavailable`` (503) when the provider cannot answer."""
    try:
        response = httpx.get(url, timeout=FETCH_TIMEOUT, follow_redirects=False)
    except httpx.HTTPError as exc:
        raise Unavailable(f"cannot reach {url}: {type(exc).__name__}") from None
    if response.status_code != 200:
        raise Unavailable(f"{url} answered HTTP {response.status_code}")
    try:
        return response.json()
    except ValueError:
        raise Unavailable(f"{url} did not answer JSON") from None


def parse_key_set(document: Any, url: str) -> dict[str, PublicKey]:
    """The signing keys of a JWK Set by key id (keys of other uses or types are left out)."""
    if not isinstance(document, dict) or not isinstance(document.get("keys"), list):
        raise Unavailable(f"{url} is not a JWK Set")
    keys: dict[str, PublicKey] = {}
    for index, member in enumerate(document["keys"]):
        if not isinstance(member, dict) or member.get("use", "sig") != "sig":
            continue
        try:
            keys[str(member.get("kid") or f"#{index}")] = verification_key(key_from_dict(member))
        except (InvalidKey, InvalidToken):
            continue
    return keys


class RemoteKeySet:
    """One JWK Set URL; thread-safe."""

    def __init__(self, url: str, now: Callable[[], datetime.datetime], *,
                 fetch: Callable[[str], Any] = fetch_json) -> None:
        self.url = url
        self._now = now
        self._fetch = fetch
        self._lock = threading.Lock()
        self._keys: dict[str, PublicKey] = {}
        self._fetched_at: datetime.datetime | None = None

    def _refresh(self, now: datetime.datetime) -> None:
        self._keys = parse_key_set(self._fetch(self.url), self.url)
        self._fetched_at = now

    def candidates(self, kid: Any) -> list[PublicKey]:
        """The key a token's ``kid`` names (every key when it names none)."""
        now = self._now()
        with self._lock:
            unknown = isinstance(kid, str) and kid not in self._keys
            if self._fetched_at is None or (unknown and now - self._fetched_at >= MIN_REFRESH):
                self._refresh(now)  # first use, or rotated: the provider may publish a new key
            elif now - self._fetched_at > MAX_AGE:
                try:
                    self._refresh(now)
                except Unavailable as exc:  # keep verifying with the keys we have; try again soon
                    log.warning("%s; using the keys fetched at %s", exc.message, self._fetched_at.isoformat())
                    self._fetched_at = now - MAX_AGE + MIN_REFRESH
            keys = dict(self._keys)
        if kid is None:
            return list(keys.values())
        if not isinstance(kid, str) or kid not in keys:
            raise Unauthorized(f"token key id (kid) is not among the keys published at {self.url}")
        return [keys[kid]]


def verify_with(keys: RemoteKeySet, token: UnverifiedToken) -> dict[str, Any]:
    """The claims of ``token`` once one of the published keys verifies it."""
    for key in keys.candidates(token.header.get("kid")):
        try:
            return dict(token.verify(key))
        except InvalidToken:
            continue
    raise InvalidToken("token signature does not verify with the provider's published keys")
