"""SCEP over HTTP (RFC 8894 section 4): ``/scep/{provisioner}`` and ``/1.0/scep/{provisioner}``
(and any path beneath, as step-ca serves it for clients that append a segment), on the
HTTPS listener and on ``insecureAddress``.

``GET ?operation=GetCACaps|GetCACert|PKIOperation&message=...`` and ``POST
?operation=PKIOperation`` with the DER pkiMessage as body. A request that cannot be
answered with a CertRep (no operation, not CMS, no signer) is a 400 in step-ca's JSON
error format; the core runs in the thread pool (it decrypts and signs through the KMS).
"""

from __future__ import annotations

import base64
import binascii

from fastapi import APIRouter, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from appliance.errors import BadRequest
from appliance.scep import PKI_MESSAGE_TYPE, ScepServer

SCEP_PREFIXES = ("/scep", "/1.0/scep")
MAX_GET_MESSAGE = 64 * 1024


def _server(request: Request) -> ScepServer:
    server: ScepServer = request.app.state.scep
    return server


def _get_message(value: str | None) -> bytes:
    if not value:
        raise BadRequest("PKIOperation needs a base64 'message'")
    if len(value) > MAX_GET_MESSAGE:
        raise BadRequest("the 'message' is too long")
    try:  # a '+' that was not percent-encoded arrives as a space
        return base64.b64decode(value.replace(" ", "+"), validate=True)
    except (binascii.Error, ValueError):
        raise BadRequest("'message' must be base64") from None


async def _operation(request: Request, provisioner: str, operation: str | None, message: bytes | None) -> Response:
    server = _server(request)
    if operation == "GetCACaps":
        caps = await run_in_threadpool(server.capabilities, provisioner)
        return Response(caps, media_type="text/plain")
    if operation == "GetCACert":
        certificates = await run_in_threadpool(server.ca_certificates, provisioner)
        return Response(certificates.body, media_type=certificates.media_type)
    if operation == "PKIOperation":
        body = message if message is not None else _get_message(request.query_params.get("message"))
        reply = await run_in_threadpool(server.pki_operation, provisioner, body)
        return Response(reply, media_type=PKI_MESSAGE_TYPE)
    raise BadRequest("operation must be GetCACaps, GetCACert or PKIOperation")


def scep_router() -> APIRouter:
    """The SCEP endpoint of every SCEP provisioner, under both prefixes."""
    router = APIRouter()
    for prefix in SCEP_PREFIXES:
        for path in (prefix + "/{provisioner}", prefix + "/{provisioner}/{rest:path}"):
            router.add_api_route(path, _get, methods=["GET"], include_in_schema=False)
            router.add_api_route(path, _post, methods=["POST"], include_in_schema=False)
    return router


async def _get(provisioner: str, request: Request) -> Response:
    return await _operation(request, provisioner, request.query_params.get("operation"), None)


async def _post(provisioner: str, request: Request) -> Response:
    operation = request.query_params.get("operation")
    if operation != "PKIOperation":
        raise BadRequest("POST is for operation=PKIOperation")
    return await _operation(request, provisioner, operation, await request.body())
