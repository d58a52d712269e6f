"""EST's HTTP binding (RFC 7030 section 3.2.2): ``/.well-known/est/[label/]<operation>``.

Bodies are base64 (``Content-Transfer-Encoding: base64``); answers are
``application/pkcs7-mime; smime-type=certs-only``, ``/serverkeygen``'s ``multipart/mixed``
(the private key, then the certificate: section 4.4.2); errors are ``text/plain`` with
the status the RFC's HTTP semantics call for (400 bad request, 401 with a
``WWW-Authenticate`` challenge, 403, 404, 503 with ``Retry-After``)."""

from __future__ import annotations

import base64
import binascii
import logging
import secrets
from typing import Callable

from fastapi import APIRouter, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from appliance.api import request_id
from appliance.api.errors import internal_message, retry_after, status_for
from appliance.api.peer import peer_certificate
from appliance.errors import ApplianceError, BadRequest
from appliance.est import EstCredentials, EstServer, ServerGeneratedKey

BASE = "/.well-known/est"
CERTS_ONLY = "application/pkcs7-mime; smime-type=certs-only"
CSRATTRS = "application/csrattrs"
_log = logging.getLogger("appliance.api.est")


def _credentials(request: Request) -> EstCredentials:
    """HTTP basic or bearer credentials (never logged), and the TLS client certificate."""
    scheme, _, value = request.headers.get("authorization", "").partition(" ")
    username: str | None = None
    secret: str | None = None
    if scheme.lower() == "basic":
        try:
            username, _, secret = base64.b64decode(value.strip(), validate=True).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            raise BadRequest("malformed HTTP basic credentials") from None
    elif scheme.lower() == "bearer":
        secret = value.strip()
    return EstCredentials(username, secret, peer_certificate(request.scope))


def _error(request: Request, error: ApplianceError) -> Response:
    status = status_for(error)
    message = error.message if status < 500 else internal_message(request.scope)
    if status >= 500:
        _log.error("EST internal error: %s (request id %s)", error.message, request_id.of(request.scope))
    headers = retry_after(error)
    if status == 401:
        headers["WWW-Authenticate"] = 'Basic realm="EST"'
    return Response(message + "\n", status_code=status, media_type="text/plain", headers=headers)


async def _respond(request: Request, work: Callable[[EstServer], bytes | ServerGeneratedKey | None],
                   media_type: str = CERTS_ONLY) -> Response:
    server: EstServer = request.app.state.est
    try:
        body = await run_in_threadpool(work, server)
    except ApplianceError as error:
        return _error(request, error)
    if body is None:
        return Response(status_code=204)
    if isinstance(body, ServerGeneratedKey):
        return _multipart(body)
    return Response(body, media_type=media_type, headers={"Content-Transfer-Encoding": "base64"})


def _multipart(reply: ServerGeneratedKey) -> Response:
    """Section 4.4.2's ``multipart/mixed``: the private-key part, then the certs-only part."""
    boundary = "est-" + secrets.token_hex(16)
    parts = [(reply.key_media_type, reply.key), (CERTS_ONLY, reply.certificate)]
    body = b"".join(f"--{boundary}\r\nContent-Type: {media_type}\r\nContent-Transfer-Encoding: base64\r\n\r\n".encode()
                    + content.replace(b"\n", b"\r\n") for media_type, content in parts)
    return Response(body + f"--{boundary}--\r\n".encode(), media_type=f"multipart/mixed; boundary={boundary}")


async def _pkcs10(request: Request) -> bytes:
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type != "application/pkcs10":
        raise BadRequest("the request must be application/pkcs10")
    return await request.body()


def est_router() -> APIRouter:
    router = APIRouter()

    for prefix in (BASE, BASE + "/{label}"):
        @router.get(prefix + "/cacerts")
        async def cacerts(request: Request, label: str | None = None) -> Response:
            return await _respond(request, lambda est: est.cacerts(label))

        @router.get(prefix + "/csrattrs")
        async def csrattrs(request: Request, label: str | None = None) -> Response:
            return await _respond(request, lambda est: est.csrattrs(label), CSRATTRS)

        @router.post(prefix + "/simpleenroll")
        async def simpleenroll(request: Request, label: str | None = None) -> Response:
            return await _enroll(request, lambda est, body, credentials: est.simpleenroll(label, body, credentials))

        @router.post(prefix + "/simplereenroll")
        async def simplereenroll(request: Request, label: str | None = None) -> Response:
            return await _enroll(request, lambda est, body, credentials: est.simplereenroll(label, body, credentials))

        @router.post(prefix + "/serverkeygen")
        async def serverkeygen(request: Request, label: str | None = None) -> Response:
            return await _enroll(request, lambda est, body, credentials: est.serverkeygen(label, body, credentials))

    return router


async def _enroll(request: Request,
                  work: Callable[[EstServer, bytes, EstCredentials], bytes | ServerGeneratedKey]) -> Response:
    """A POST carrying a PKCS#10: its credentials and body, then ``work``."""
    try:
        credentials = _credentials(request)
        body = await _pkcs10(request)
    except ApplianceError as error:
        return _error(request, error)
    return await _respond(request, lambda est: work(est, body, credentials))
