"""Domain errors to HTTP: the one place where an ``ErrorKind`` becomes a status.

Bodies are step-ca's ``{"status": N, "message": "..."}``.
"""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException
from starlette.types import Scope

from appliance.api import request_id
from appliance.errors import ApplianceError, ErrorKind

STATUS_BY_KIND: dict[ErrorKind, int] = {
    ErrorKind.BAD_REQUEST: 400,
    ErrorKind.UNAUTHORIZED: 401,
    ErrorKind.FORBIDDEN: 403,
    ErrorKind.NOT_FOUND: 404,
    ErrorKind.CONFLICT: 409,
    ErrorKind.NOT_IMPLEMENTED: 400,  # a feature the client asked for and this CA lacks: no input yields a 5xx
    ErrorKind.UNAVAILABLE: 503,
    ErrorKind.INTERNAL: 500,
}

INTERNAL_MESSAGE = (
    "The certificate authority encountered an Internal Server Error. "
    "Please see the certificate authority logs for more info."
)

_log = logging.getLogger("appliance.api")
RETRY_AFTER_SECONDS = 5  # when an unavailable error gives no hint of its own


def retry_after(error: ApplianceError) -> dict[str, str]:
    """The ``Retry-After`` header of a 503 (a KMS that is down says when to retry)."""
    if error.kind is not ErrorKind.UNAVAILABLE:
        return {}
    return {"Retry-After": str(getattr(error, "retry_after", RETRY_AFTER_SECONDS))}


def internal_message(scope: Scope) -> str:
    """The 500 message, naming the request id under which the traceback was logged."""
    return f"{INTERNAL_MESSAGE} (request id {request_id.of(scope)})"


def status_for(error: ApplianceError) -> int:
    """The HTTP status of a domain error."""
    return STATUS_BY_KIND.get(error.kind, 500)


def error_response(status: int, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    """step-ca's error body."""
    return JSONResponse({"status": status, "message": message}, status_code=status, headers=headers)


def _note_outcome(request: Request, message: str) -> None:
    """Tell the access log why the request failed."""
    fields = request.scope.get("state", {}).get("log")
    if isinstance(fields, dict):
        fields["error"] = message


async def _domain_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ApplianceError)
    status = status_for(exc)
    message = exc.message if status != 500 else INTERNAL_MESSAGE
    if status == 500:
        _log.error("internal error: %s", exc.message)
    _note_outcome(request, exc.message)
    return error_response(status, message, retry_after(exc))


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    first = exc.errors()[0] if exc.errors() else {}
    where = ".".join(str(part) for part in first.get("loc", ()) if part != "body")
    message = f"error reading request body: {first.get('msg', 'invalid')}" + (f" ({where})" if where else "")
    _note_outcome(request, message)
    return error_response(400, message)


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, HTTPException)
    _note_outcome(request, str(exc.detail))
    return error_response(exc.status_code, str(exc.detail))


async def _unexpected_error(request: Request, exc: Exception) -> JSONResponse:
    """Starlette re-raises after this, and ``middleware.AccessLog`` logs the traceback."""
    _note_outcome(request, type(exc).__name__)
    return error_response(500, internal_message(request.scope))


def install_error_handlers(app: FastAPI) -> None:
    """Every error leaves the API as step-ca's JSON."""
    app.add_exception_handler(ApplianceError, _domain_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(HTTPException, _http_error)
    app.add_exception_handler(Exception, _unexpected_error)
