"""ACME over HTTP: ``/acme/{provisioner}/...`` and ``/2.0/acme/{provisioner}/...``.

Every response carries a fresh ``Replay-Nonce`` and ``Link: <directory>;rel="index"``;
errors are RFC 7807 ``application/problem+json`` documents with the ACME
problem type. The core (``appliance.acme``) runs in the thread pool: it talks
to the database and, on finalize, to the signing key. A reply that started work
which may end soon (a challenge's first validation attempt) is sent once that work
is over or its bound has passed: the event loop awaits it, no thread is held.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any, Callable

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from fastapi.routing import APIRoute
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException

from appliance.acme import AcmeError, AcmeRequest, AcmeServer, KeyUse, Problem, Reply, Signed
from appliance.api import request_id
from appliance.api.errors import internal_message, retry_after, status_for
from appliance.errors import ApplianceError, ErrorKind

ACME_PREFIXES = ("/acme", "/2.0/acme")
JOSE_MEDIA_TYPE = "application/jose+json"
PROBLEM_MEDIA_TYPE = "application/problem+json"
CHAIN_MEDIA_TYPE = "application/pem-certificate-chain"

_log = logging.getLogger("appliance.api")
_PROBLEM_BY_KIND = {
    ErrorKind.BAD_REQUEST: Problem.MALFORMED,
    ErrorKind.UNAUTHORIZED: Problem.UNAUTHORIZED,
    ErrorKind.FORBIDDEN: Problem.UNAUTHORIZED,
    ErrorKind.NOT_FOUND: Problem.MALFORMED,
    ErrorKind.CONFLICT: Problem.MALFORMED,
    ErrorKind.NOT_IMPLEMENTED: Problem.MALFORMED,
}

Operation = Callable[[AcmeRequest, Signed], Reply]


def _server(request: Request) -> AcmeServer:
    server: AcmeServer = request.app.state.acme
    return server


def problem_document(error: ApplianceError, rid: str = "") -> tuple[int, dict[str, Any]]:
    """The HTTP status and problem document of a domain error."""
    status = status_for(error)
    if isinstance(error, AcmeError):
        document = error.to_json()
    else:
        problem = _PROBLEM_BY_KIND.get(error.kind, Problem.SERVER_INTERNAL)
        detail = error.message if status < 500 or status == 503 else f"internal error (request id {rid})"
        document = {"type": problem.urn, "detail": detail}
    return status, {**document, "status": status}


def _headers(server: AcmeServer, acme: AcmeRequest | None) -> dict[str, str]:
    headers = {"Replay-Nonce": server.new_nonce(), "Cache-Control": "no-store"}
    if acme is not None:
        headers["Link"] = f'<{acme.links.directory}>;rel="index"'
    return headers


def _note(request: Request, **fields: Any) -> None:
    request.scope.setdefault("state", {}).setdefault("log", {}).update(fields)


def _reply_response(server: AcmeServer, acme: AcmeRequest, reply: Reply) -> Response:
    headers = _headers(server, acme)
    if reply.location:
        headers["Location"] = reply.location
    if reply.retry_after is not None:
        headers["Retry-After"] = str(reply.retry_after)
    if reply.up:
        headers["Link"] += f', <{reply.up}>;rel="up"'
    status = 201 if reply.created else 200
    if isinstance(reply.body, str):
        return Response(reply.body, status_code=status, media_type=CHAIN_MEDIA_TYPE, headers=headers)
    return JSONResponse(reply.body, status_code=status, headers=headers)


def _problem_response(request: Request, server: AcmeServer, acme: AcmeRequest | None,
                      error: ApplianceError) -> Response:
    status, document = problem_document(error, request_id.of(request.scope))
    if status >= 500:
        _log.error("ACME internal error: %s (request id %s)", error.message, request_id.of(request.scope))
    _note(request, error=error.message)
    try:
        headers = _headers(server, acme)
    except ApplianceError:
        headers = {}
    headers.update(retry_after(error))
    return JSONResponse(document, status_code=status, media_type=PROBLEM_MEDIA_TYPE, headers=headers)


def _origin(request: Request) -> str:
    return f"{request.url.scheme}://{request.url.netloc}"


def _prefix(request: Request) -> str:
    return "/2.0/acme" if request.url.path.startswith("/2.0/acme/") else "/acme"


async def _respond(request: Request, provisioner: str, work: Callable[[AcmeServer, AcmeRequest], Reply]) -> Response:
    """Run ``work`` in the thread pool; any domain error becomes a problem document."""
    server = _server(request)
    _note(request, provisioner=provisioner[:64])
    acme: AcmeRequest | None = None

    def run() -> Reply:
        nonlocal acme
        acme = server.request(_origin(request), _prefix(request), provisioner)
        return work(server, acme)

    try:
        reply = await run_in_threadpool(run)
        if reply.settle is not None:
            await asyncio.wait([asyncio.wrap_future(reply.settle.done)], timeout=reply.settle.timeout)
            reply = await run_in_threadpool(reply.settle.reply)
    except ApplianceError as error:
        return await run_in_threadpool(_problem_response, request, server, acme, error)
    assert acme is not None
    return await run_in_threadpool(_reply_response, server, acme, reply)


async def _signed(request: Request, provisioner: str, operation: Operation,
                  key_use: KeyUse = KeyUse.KID) -> Response:
    """A POST with a JWS body: verify it, then run ``operation``."""
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    body = await request.body()
    url = str(request.url.replace(query=""))

    def work(server: AcmeServer, acme: AcmeRequest) -> Reply:
        if content_type != JOSE_MEDIA_TYPE:
            raise AcmeError(Problem.MALFORMED, f"Content-Type must be {JOSE_MEDIA_TYPE}",
                            kind=ErrorKind.BAD_REQUEST)
        return operation(acme, server.verify(acme, body, url, key_use))

    return await _respond(request, provisioner, work)


async def _outside_problem(request: Request, problem: Problem, detail: str, status: int) -> Response:
    """A problem document for a failure outside the ACME core, with a fresh nonce if one can be had."""
    try:
        headers = await run_in_threadpool(_headers, _server(request), None)
    except Exception:  # the store may be what failed: answer without a nonce rather than fail twice
        headers = {}
    return JSONResponse({"type": problem.urn, "detail": detail, "status": status}, status_code=status,
                        media_type=PROBLEM_MEDIA_TYPE, headers=headers)


class ProblemRoute(APIRoute):
    """An ACME route whose every failure is a problem document: an HTTP error (a body
    over the limit) keeps its status; an unexpected exception is logged once, with its
    traceback and the request id, and answered ``serverInternal``."""

    def get_route_handler(self) -> Callable[[Request], Any]:
        handler = super().get_route_handler()

        async def route(request: Request) -> Response:
            try:
                response: Response = await handler(request)
                return response
            except HTTPException as exc:
                _note(request, error=str(exc.detail))
                return await _outside_problem(request, Problem.MALFORMED, str(exc.detail), exc.status_code)
            except Exception as exc:
                rid = request_id.of(request.scope)
                _log.exception("unexpected error handling %s %s (request id %s)", request.method, request.url.path, rid)
                _note(request, error=type(exc).__name__)
                return await _outside_problem(request, Problem.SERVER_INTERNAL, internal_message(request.scope), 500)

        return route


def acme_router() -> APIRouter:
    """Every ACME resource, under both prefixes."""
    router = APIRouter(route_class=ProblemRoute)
    for prefix in ACME_PREFIXES:
        _add_routes(router, prefix + "/{provisioner}")
    return router


def _add_routes(router: APIRouter, base: str) -> None:
    @router.get(base + "/directory")
    async def directory(provisioner: str, request: Request) -> Response:
        def work(server: AcmeServer, acme: AcmeRequest) -> Reply:
            return Reply(server.directory(acme))

        return await _respond(request, provisioner, work)

    @router.api_route(base + "/new-nonce", methods=["GET", "HEAD"])
    async def new_nonce(provisioner: str, request: Request) -> Response:
        reply = await _respond(request, provisioner, lambda server, acme: Reply({}))
        status = reply.status_code if reply.status_code >= 400 else (200 if request.method == "HEAD" else 204)
        return Response(status_code=status, headers={k: v for k, v in reply.headers.items()
                                                     if k.lower() in ("replay-nonce", "link", "cache-control")})

    @router.post(base + "/new-account")
    async def new_account(provisioner: str, request: Request) -> Response:
        return await _signed(request, provisioner, lambda acme, s: _server(request).accounts.new_account(acme, s),
                             KeyUse.JWK)

    @router.post(base + "/account/{account_id}")
    async def account(provisioner: str, account_id: str, request: Request) -> Response:
        return await _signed(request, provisioner,
                             lambda acme, s: _server(request).accounts.account(acme, s, account_id))

    @router.post(base + "/account/{account_id}/orders")
    async def orders(provisioner: str, account_id: str, request: Request) -> Response:
        return await _signed(request, provisioner,
                             lambda acme, s: _server(request).orders.orders(acme, s, account_id))

    @router.post(base + "/key-change")
    async def key_change(provisioner: str, request: Request) -> Response:
        return await _signed(request, provisioner, lambda acme, s: _server(request).accounts.key_change(acme, s))

    @router.post(base + "/new-order")
    async def new_order(provisioner: str, request: Request) -> Response:
        return await _signed(request, provisioner, lambda acme, s: _server(request).orders.new_order(acme, s))

    @router.post(base + "/order/{order_id}")
    async def order(provisioner: str, order_id: str, request: Request) -> Response:
        return await _signed(request, provisioner, lambda acme, s: _server(request).orders.order(acme, s, order_id))

    @router.post(base + "/order/{order_id}/finalize")
    async def finalize(provisioner: str, order_id: str, request: Request) -> Response:
        return await _signed(request, provisioner,
                             lambda acme, s: _server(request).orders.finalize(acme, s, order_id))

    @router.post(base + "/authz/{authz_id}")
    async def authorization(provisioner: str, authz_id: str, request: Request) -> Response:
        return await _signed(request, provisioner,
                             lambda acme, s: _server(request).orders.authorization(acme, s, authz_id))

    @router.post(base + "/challenge/{authz_id}/{challenge_id}")
    async def challenge(provisioner: str, authz_id: str, challenge_id: str, request: Request) -> Response:
        return await _signed(request, provisioner,
                             lambda acme, s: _server(request).orders.challenge(acme, s, authz_id, challenge_id))

    @router.post(base + "/certificate/{certificate_id}")
    async def certificate(provisioner: str, certificate_id: str, request: Request) -> Response:
        return await _signed(request, provisioner,
                             lambda acme, s: _server(request).certificates.download(s, certificate_id))

    @router.post(base + "/revoke-cert")
    async def revoke_cert(provisioner: str, request: Request) -> Response:
        return await _signed(request, provisioner, lambda acme, s: _server(request).certificates.revoke(acme, s),
                             KeyUse.EITHER)

    @router.get(base + "/renewal-info/{cert_id}")
    async def renewal_info(provisioner: str, cert_id: str, request: Request) -> Response:
        return await _respond(request, provisioner, lambda server, acme: server.renewal_info(cert_id))

    @router.api_route(base + "/{resource:path}", methods=["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"],
                      include_in_schema=False)
    async def unknown(provisioner: str, resource: str, request: Request) -> Response:
        """Anything else under the provisioner (last route: a problem document, not step-ca's JSON)."""
        def work(server: AcmeServer, acme: AcmeRequest) -> Reply:
            raise AcmeError(Problem.MALFORMED, f"no ACME resource {request.method} {resource[:64]}",
                            kind=ErrorKind.NOT_FOUND)

        return await _respond(request, provisioner, work)
