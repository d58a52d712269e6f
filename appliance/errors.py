"""Domain errors: every failure the appliance reports carries a kind.

Only ``appliance.api`` turns a kind into an HTTP status; every other layer
raises these exceptions and never imports a web framework.
"""

from __future__ import annotations

import enum


class ErrorKind(enum.Enum):
    """What went wrong, independent of the transport that reports it."""

    BAD_REQUEST = "badRequest"
    UNAUTHORIZED = "unauthorized"
    FORBIDDEN = "forbidden"
    NOT_FOUND = "notFound"
    CONFLICT = "conflict"
    NOT_IMPLEMENTED = "notImplemented"
    UNAVAILABLE = "unavailable"
    INTERNAL = "internal"


class ApplianceError(Exception):
    """Base of every domain error; ``str(err)`` is safe to show to a client."""

    kind: ErrorKind = ErrorKind.INTERNAL

    def __init__(self, message: str, *, kind: ErrorKind | None = None) -> None:
        super().__init__(message)
        self.message = message
        if kind is not None:
            self.kind = kind


class BadRequest(ApplianceError):
    kind = ErrorKind.BAD_REQUEST


class Unauthorized(ApplianceError):
    kind = ErrorKind.UNAUTHORIZED


class Forbidden(ApplianceError):
    kind = ErrorKind.FORBIDDEN


class NotFound(ApplianceError):
    kind = ErrorKind.NOT_FOUND


class Conflict(ApplianceError):
    kind = ErrorKind.CONFLICT


class NotImplementedFeature(ApplianceError):
    kind = ErrorKind.NOT_IMPLEMENTED


class Unavailable(ApplianceError):
    kind = ErrorKind.UNAVAILABLE
