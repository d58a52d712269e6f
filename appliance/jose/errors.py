"""Errors of the JOSE layer; messages never contain a token, key or password."""

from __future__ import annotations

from appliance.errors import BadRequest, Unauthorized


class InvalidToken(Unauthorized):
    """A JWS is malformed, uses a refused algorithm, or its signature does not verify."""


class DecryptionFailed(Unauthorized):
    """A JWE could not be decrypted: wrong password or corrupt data."""


class InvalidKey(BadRequest):
    """A JWK is malformed or of an unsupported type."""
