"""Domain errors to HTTP: the one place where an ``ErrorKind`` becomes a status.

Bodies are step-ca's ``{"status": N, "message": "..."}``; under ``/admin/`` (and
``/1.0/admin/``) they are its admin API's (``authority/admin/errors.go``):
``{"type": "notFound", "detail": "resource not found", "message": "..."}``.
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


#: step-ca's admin problem types (``authority/admin/errors.go``): type and detail by status.
ADMIN_PROBLEMS: dict[int, tuple[str, str]] = {
    400: ("badRequest", "bad request"),
    401: ("unauthorized", "unauthorized"),
    404: ("notFound", "resource not found"),
    409: ("conflict", "conflict"),
}
ADMIN_NOT_IMPLEMENTED = ("notImplemented", "not implemented")
ADMIN_SERVER_ERROR = ("internalServerError", "the server experienced an internal error")


def is_admin_path(scope: Scope) -> bool:
    """A request to the admin API, whose errors have step-ca's admin shape."""
    path = str(scope.get("path", ""))
    return path.removeprefix("/1.0").startswith("/admin/")


def _admin_error(status: int, message: str, headers: dict[str, str] | None,
                 kind: ErrorKind | None) -> JSONResponse:
    """step-ca's admin error: a refusal of the caller's rights is 401, as step-ca has no 403 there;
    a feature this CA lacks keeps its 400 (no input yields a 5xx) with step-ca's ``notImplemented``."""
    status = 401 if status == 403 else status
    if kind is ErrorKind.NOT_IMPLEMENTED:
        problem = ADMIN_NOT_IMPLEMENTED
    else:
        problem = ADMIN_PROBLEMS.get(status, ADMIN_SERVER_ERROR if status >= 500 else ADMIN_PROBLEMS[400])
    return JSONResponse({"type": problem[0], "detail": problem[1], "message": message}, status_code=status,
                        headers=headers)


def error_response(scope: Scope, status: int, message: str, headers: dict[str, str] | None = None,
                   kind: ErrorKind | None = None) -> JSONResponse:
    """step-ca's error body for the request of ``scope`` (its admin API's shape under ``/admin/``)."""
    if is_admin_path(scope):
        return _admin_error(status, message, headers, kind)
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
    return error_response(request.scope, status, message, retry_after(exc), exc.kind)


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    first = exc.errors()[0] if exc.errors() else {}
    where = ".".join(str(part) for part in first.get("loc", ()) if part != "body")
    message = f"error reading request body: {first.get('msg', 'invalid')}" + (f" ({where})" if where else "")
    _note_outcome(request, message)
    return error_response(request.scope, 400, message)


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, HTTPException)
    _note_outcome(request, str(exc.detail))
    return error_response(request.scope, exc.status_code, str(exc.detail))


async def _unexpected_error(request: Request, exc: Exception) -> JSONResponse:
    """Starlette re-raises after this, and ``middleware.AccessLog`` logs the traceback."""
    _note_outcome(request, type(exc).__name__)
    return error_response(request.scope, 500, internal_message(request.scope))


def install_error_handlers(app: FastAPI) -> None:
    """Every error leaves the API as step-ca's JSON."""
    app.add_exception_handler(ApplianceError, _domain_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(HTTPException, _http_error)
    app.add_exception_handler(Exception, _unexpected_error)
