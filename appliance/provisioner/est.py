"""The EST provisioner (RFC 7030 enrolment): ours, step-ca has no EST type.

ca.json: ``{"type": "EST", "name", "secret", "username", "roots", "claims", "policy",
"options"}`` (webhooks in ``options.webhooks``).

- ``secret``: what ``/simpleenroll`` accepts as HTTP basic password (with ``username``,
  if set) or as bearer token; absent: no secret is accepted.
- ``roots``: PEM bundle (base64 or plain, as X5C's): a TLS client certificate chaining to
  one of them may enrol. Re-enrolment needs a client certificate this CA issued, not
  revoked, naming what the CSR asks for.
- ``serverKeyGen``: ``true`` turns ``/serverkeygen`` on (the CA makes the key, RFC 7030
  section 4.4); ``false`` (the default) refuses it (400).
"""

from __future__ import annotations

import hmac
from typing import Any

from appliance.errors import BadRequest, Unauthorized
from appliance.jose import UnverifiedToken
from appliance.provisioner.base import Provisioner, ProvisionerContext, RevokeAuthorization, SignOptions
from appliance.provisioner.checks import config_string
from appliance.provisioner.types import PROVISIONER_TYPES
from appliance.provisioner.x5c import load_roots


class ESTProvisioner(Provisioner):
    """Requests are authorised by a shared secret or a client certificate, not by tokens."""

    kind = PROVISIONER_TYPES["EST"]

    def __init__(self, config: dict[str, Any], context: ProvisionerContext) -> None:
        super().__init__(config, context)
        where = f"provisioner '{self.name}'"
        self._secret = config_string(config, "secret", where).encode()
        self.username = config_string(config, "username", where)
        self.roots = load_roots(config["roots"], where) if config.get("roots") else []
        if not self._secret and not self.roots:
            raise BadRequest(f"{where}: an EST provisioner needs a 'secret' or 'roots' (or both)")
        self.server_key_gen = config.get("serverKeyGen", False)
        if not isinstance(self.server_key_gen, bool):
            raise BadRequest(f"{where}: 'serverKeyGen' must be true or false")

    def secret_matches(self, username: str | None, secret: str) -> bool:
        """Whether HTTP basic (``username`` given) or bearer (``None``) credentials are this provisioner's."""
        if not self._secret:
            return False
        user_ok = username is None or not self.username or hmac.compare_digest(username.encode(), self.username.encode())
        return hmac.compare_digest(secret.encode(), self._secret) and user_ok

    @property
    def credential_id(self) -> str:
        return ""

    def authorize_sign(self, token: UnverifiedToken) -> SignOptions:
        raise Unauthorized(f"provisioner '{self.name}' is an EST provisioner: it does not accept tokens")

    def authorize_revoke(self, token: UnverifiedToken) -> RevokeAuthorization:
        raise Unauthorized(f"provisioner '{self.name}' is an EST provisioner: it does not accept tokens")
