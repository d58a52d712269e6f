"""Pure ASGI middleware around the FastAPI app: request body limit and the
one-line-per-request access log, which gives each request its id and logs an
unexpected exception once (one traceback, with the request id)."""

from __future__ import annotations

import json
import logging
import re
import time
from typing import Any

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from appliance import metrics
from appliance.api import request_id
from appliance.api.errors import error_response, internal_message

DEFAULT_MAX_BODY = 1024 * 1024
LOG_FIELDS = ("provisioner", "subject", "serial", "error")

_log = logging.getLogger("appliance.api")
#: Printable ASCII but space, '"' and '=': a text value made only of these is written as is.
_PLAIN = re.compile(r"[!#-<>-~]+")


class BodyTooLarge(HTTPException):
    """The request body is larger than the limit (413)."""

    def __init__(self, limit: int) -> None:
        super().__init__(413, f"request body larger than {limit} bytes")


class BodyLimit:
    """Refuses bodies over ``max_bytes``: at once by Content-Length, else while
    streaming, so an oversized body is never buffered."""

    def __init__(self, app: ASGIApp, max_bytes: int = DEFAULT_MAX_BODY) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self.max_bytes):
            status = 413 if declared.isdigit() else 400
            message = BodyTooLarge(self.max_bytes).detail if status == 413 else "invalid Content-Length"
            await error_response(scope, status, message)(scope, receive, send)
            return
        received = 0

        async def limited() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise BodyTooLarge(self.max_bytes)
            return message

        await self.app(scope, limited, send)


def format_line(fields: dict[str, Any]) -> str:
    """Fields as one ``key=value`` text line (the server's JSON format writes them as members)."""
    return " ".join(f"{key}={_text_value(value)}" for key, value in fields.items())


def _text_value(value: Any) -> str:
    """A value for a text line, quoted (and escaped) when it is empty or has
    whitespace, control characters, quotes or '=' (no forged log lines)."""
    text = str(value)
    if _PLAIN.fullmatch(text):
        return text
    return json.dumps(text) if not text or any(c.isspace() or not c.isprintable() or c in '"=' for c in text) else text


class AccessLog:
    """Logs method, path, status, duration, remote address, request id and what the
    handler recorded in ``scope["state"]["log"]`` (provisioner, subject, serial, error):
    the message is their ``key=value`` line, ``record.fields`` the values (which the
    JSON format writes as members). Every line logged while the request is handled carries
    its id (``request_id.current``); so do the request's metrics, by route template.
    Never logs bodies, query strings or headers, so no token or password.

    Every response carries ``X-Request-Id``. An exception that escapes the app is
    logged here with its traceback, once, and not re-raised (the server would log it
    again); if no response was started (an error outside the FastAPI app, whose
    handlers answer everything else), a 500 is sent."""

    def __init__(self, app: ASGIApp, *, logger: logging.Logger | None = None) -> None:
        self.app = app
        self.logger = logger or logging.getLogger("appliance.access")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        noted: dict[str, Any] = {}
        scope.setdefault("state", {})["log"] = noted
        rid = request_id.assign(scope)
        bound = request_id.current.set(rid)
        started = time.perf_counter()
        status = 0

        async def watching(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = [(k, v) for k, v in message.get("headers", ()) if k.lower() != b"x-request-id"]
                message = {**message, "headers": [*headers, (b"x-request-id", rid.encode("ascii"))]}
            await send(message)

        try:
            await self.app(scope, receive, watching)
        except Exception as exc:
            _log.exception("unexpected error handling %s %s (request id %s)", scope["method"], scope["path"], rid)
            noted.setdefault("error", type(exc).__name__)
            if not status:
                await error_response(scope, 500, internal_message(scope))(scope, receive, watching)
        finally:
            client = scope.get("client")
            fields: dict[str, Any] = {
                "method": scope["method"],
                "path": scope["path"],
                "status": status or 500,
                "outcome": "ok" if 0 < status < 400 else "error",
                "duration_ms": round((time.perf_counter() - started) * 1000, 2),
                "remote": client[0] if client else "",
                "request_id": rid,
            }
            fields.update((key, noted[key]) for key in LOG_FIELDS if noted.get(key))
            self.logger.info(format_line(fields), extra={"fields": fields})
            request_id.current.reset(bound)
            route = route_template(scope)
            metrics.http_requests.labels(route, scope["method"], str(fields["status"])).inc()
            metrics.http_request_duration.labels(route).observe(fields["duration_ms"] / 1000)


def route_template(scope: Scope) -> str:
    """The matched route's path template (``/1.0/root/{sha}``), never the raw path (whose
    values would make a metric label per certificate); "unmatched" for a 404 of the router."""
    route = scope.get("route")
    return str(getattr(route, "path", "")) or "unmatched"
