"""Errors raised by the KMS layer."""

from __future__ import annotations

from appliance.errors import ApplianceError, BadRequest, ErrorKind, NotFound, Unauthorized


class KmsError(ApplianceError):
    """A key manager or device failed; the message never contains a secret."""


class InvalidKmsUri(BadRequest):
    """A KMS or key URI is malformed; the message names the bad part."""


class KeyNotFound(NotFound):
    """The URI is well formed but no such key (or token, slot, vault) exists."""


class KmsAuthenticationFailed(Unauthorized):
    """The device refused the PIN, password or credentials."""


class UnsupportedKeyOperation(KmsError):
    """The key or device cannot do what was asked (algorithm, padding, export)."""

    kind = ErrorKind.BAD_REQUEST


class SignatureCheckFailed(KmsError):
    """The device returned a signature that does not verify with its public key."""


class MissingDependency(KmsError):
    """The SDK a backend needs is not installed."""

    kind = ErrorKind.NOT_IMPLEMENTED
