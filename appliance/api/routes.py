"""step-ca's core API: read-only endpoints, then sign, renew, rekey, revoke, CRL.

Handlers validate what they were sent, then call the authority (in the thread
pool when its key is a device's: those are slow) and never touch HTTP status
codes themselves: domain errors carry their kind, ``errors.py`` maps it.
"""

from __future__ import annotations

import base64
import binascii
import email.utils
import functools
import hashlib
import urllib.parse
from typing import Any, Callable, TypeVar

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509 import ocsp
from fastapi import APIRouter, Request
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ValidationError
from fastapi.responses import JSONResponse, Response
from starlette.concurrency import run_in_threadpool

from appliance import __version__
from appliance.api.errors import RETRY_AFTER_SECONDS
from appliance.api.schemas import RekeyBody, RevokeBody, SignBody, parse_csr
from appliance.api.peer import peer_certificate
from appliance.authority.interfaces import AuthorityInterface, IssuedCertificate, RevokeRequest, SignRequest
from appliance.kms.health import SignerHealth
from appliance.pki import bounded_json
from appliance.pki.blocking import run_on_loop
from appliance.pki.clock import utc_now
from appliance.pki.duration import parse_time_duration
from appliance.pki.pem import to_pem
from appliance.config.tls import TlsOptions
from appliance.errors import BadRequest, Conflict, NotFound

PEM_MEDIA_TYPE = "application/x-pem-file"
MAX_PROVISIONERS_PAGE = 100
T = TypeVar("T")
M = TypeVar("M", bound=BaseModel)

#: The issuing chain is the same in every response: encode each certificate once.
_chain_pem = functools.lru_cache(maxsize=16)(to_pem)


def _authority(request: Request) -> AuthorityInterface:
    authority: AuthorityInterface = request.app.state.authority
    return authority


def _note(request: Request, **fields: Any) -> None:
    """Fields for this request's access-log line."""
    request.scope.setdefault("state", {}).setdefault("log", {}).update(fields)


def _note_certificate(request: Request, certificate: x509.Certificate) -> None:
    names = certificate.subject.get_attributes_for_oid(x509.NameOID.COMMON_NAME)
    _note(request, subject=str(names[0].value) if names else certificate.subject.rfc4514_string(),
          serial=str(certificate.serial_number))


def claimed_issuer(token: str) -> str:
    """The ``iss`` a token claims, unverified, for the access log only."""
    try:
        payload = token.split(".")[1]
        claims = bounded_json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
        issuer = claims.get("iss", "") if isinstance(claims, dict) else ""
    except (IndexError, ValueError, binascii.Error, UnicodeDecodeError):
        return ""
    return issuer[:64] if isinstance(issuer, str) else ""


async def _off_loop(function: Callable[..., T], *args: Any) -> T:
    """Run a (possibly device-bound) authority call in the thread pool."""
    return await run_in_threadpool(function, *args)


async def _issuing(request: Request, function: Callable[..., T], *args: Any) -> T:
    """Run an issuance call: on the event loop when the key signs in-process (the
    whole call is ~1 ms of CPU and a short local database write; the thread
    hand-off, and the GIL passing between loop and pool, cost more), else off it."""
    if _authority(request).signs_in_process:
        return function(*args)
    return await _off_loop(function, *args)


async def _certifying(request: Request, function: Callable[..., T], *args: Any) -> T:
    """Run a certificate issuance (sign, renew, rekey) as :func:`_issuing` does, except with a
    device key: then on the event loop with only the device call in the thread pool
    (:func:`~appliance.pki.blocking.run_on_loop`), not the whole ~1 ms of Python."""
    if _authority(request).signs_on_device:
        return await run_on_loop(run_in_threadpool, function, *args)
    return await _issuing(request, function, *args)


def _issued(request: Request, issued: IssuedCertificate) -> JSONResponse:
    """step-ca's ``SignResponse``: leaf, issuing CA, the chain and the CA's TLS options, 201."""
    _note_certificate(request, issued.certificate)
    chain = [to_pem(issued.certificate), *(_chain_pem(c) for c in issued.chain)]
    tls_options: TlsOptions = request.app.state.tls_options
    return JSONResponse({"crt": chain[0], "ca": chain[1] if len(chain) > 1 else "", "certChain": chain,
                         "tlsOptions": tls_options.to_json()}, status_code=201)


async def _json_body(request: Request, model: type[M]) -> M:
    """The body as ``model``, read as JSON whatever its Content-Type says (step-ca
    does not look at it, and ``curl -d`` sends a form type)."""
    try:
        return model.model_validate_json(await request.body())
    except ValidationError as exc:  # answered by errors.py as FastAPI's own body errors are
        raise RequestValidationError(exc.errors()) from None


def _pem_bundle(certificates: list[x509.Certificate]) -> Response:
    return Response("".join(to_pem(c) for c in certificates), media_type=PEM_MEDIA_TYPE)


def _bearer_token(request: Request) -> str | None:
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer":
        return None
    return token.strip() or None


def _provisioner_limit(value: str) -> int:
    if not value:
        return 20
    try:
        limit = int(value)
    except ValueError:
        raise BadRequest(f"invalid limit '{value[:20]}'") from None
    if limit < 1:
        raise BadRequest("limit must be positive")
    return min(limit, MAX_PROVISIONERS_PAGE)


def read_only_router() -> APIRouter:
    """Health, version, roots, intermediates, federation, provisioners."""
    router = APIRouter()

    @router.get("/health", response_model=None)
    async def health(request: Request) -> dict[str, str] | JSONResponse:
        probe: SignerHealth | None = request.app.state.health
        if probe is None:
            return {"status": "ok"}
        report = probe.fresh()
        if report is None:
            report = await run_in_threadpool(probe.check)
        if report.healthy:
            return {"status": "ok"}
        return JSONResponse({"status": "unhealthy", "message": f"kms: {report.detail}"}, status_code=503,
                            headers={"Retry-After": str(RETRY_AFTER_SECONDS)})

    @router.get("/version")
    async def version() -> dict[str, Any]:
        return {"version": __version__, "requireClientAuthentication": False}

    @router.get("/root/{sha}")
    async def root(sha: str, request: Request) -> dict[str, str]:
        wanted = sha.lower().replace("-", "").replace(":", "")
        for certificate in _authority(request).roots():
            if certificate.fingerprint(hashes.SHA256()).hex() == wanted:
                return {"ca": to_pem(certificate)}
        raise NotFound(f"no root with fingerprint {wanted[:64]}")

    @router.get("/roots", status_code=201)  # step-ca answers 201
    async def roots(request: Request) -> dict[str, list[str]]:
        return {"crts": [to_pem(c) for c in _authority(request).roots()]}

    @router.get("/roots.pem")
    async def roots_pem(request: Request) -> Response:
        return _pem_bundle(_authority(request).roots())

    @router.get("/intermediates", status_code=201)  # step-ca answers 201
    async def intermediates(request: Request) -> dict[str, list[str]]:
        return {"crts": [to_pem(c) for c in _authority(request).intermediates()]}

    @router.get("/intermediates.pem")
    async def intermediates_pem(request: Request) -> Response:
        return _pem_bundle(_authority(request).intermediates())

    @router.get("/federation", status_code=201)  # step-ca answers 201
    async def federation(request: Request) -> dict[str, list[str]]:
        return {"crts": [to_pem(c) for c in _authority(request).federated_roots()]}

    @router.get("/provisioners")
    async def provisioners(request: Request, cursor: str = "", limit: str = "") -> dict[str, Any]:
        page, next_cursor = _authority(request).provisioners(cursor, _provisioner_limit(limit))
        return {"provisioners": page, "nextCursor": next_cursor}

    @router.get("/provisioners/{kid}/encrypted-key")
    async def encrypted_key(kid: str, request: Request) -> dict[str, str]:
        return {"key": _authority(request).encrypted_key(kid)}

    return router


def certificate_router() -> APIRouter:
    """Sign, renew, rekey and revoke."""
    router = APIRouter()

    @router.post("/sign", status_code=201)
    async def sign(request: Request) -> JSONResponse:
        body = await _json_body(request, SignBody)
        _note(request, provisioner=claimed_issuer(body.ott))
        if not body.ott:
            raise BadRequest("missing ott")
        sign_request = SignRequest(
            csr=parse_csr(body.csr),
            token=body.ott,
            not_before=parse_time_duration(body.notBefore),
            not_after=parse_time_duration(body.notAfter),
            template_data=body.templateData or {},
        )
        return _issued(request, await _certifying(request, _authority(request).sign, sign_request))

    @router.post("/renew", status_code=201)
    async def renew(request: Request) -> JSONResponse:
        authority = _authority(request)
        certificate = peer_certificate(request.scope)
        token = _bearer_token(request) if certificate is None else None
        if token is not None:
            certificate = await _issuing(request, authority.authorize_renew_token, token)
        if certificate is None:
            raise BadRequest("missing client certificate")
        _note_certificate(request, certificate)
        return _issued(request, await _certifying(request, authority.renew, certificate))

    @router.post("/rekey", status_code=201)
    async def rekey(request: Request) -> JSONResponse:
        body = await _json_body(request, RekeyBody)
        certificate = peer_certificate(request.scope)
        if certificate is None:
            raise BadRequest("missing client certificate")
        _note_certificate(request, certificate)
        csr = parse_csr(body.csr)
        return _issued(request, await _certifying(request, _authority(request).rekey, certificate, csr))

    @router.post("/revoke")
    async def revoke(request: Request) -> dict[str, str]:
        body = await _json_body(request, RevokeBody)
        _note(request, serial=body.serial)
        certificate = None
        if body.ott:
            _note(request, provisioner=claimed_issuer(body.ott))
        else:
            certificate = peer_certificate(request.scope)
            if certificate is None:
                raise BadRequest("missing ott or client certificate")
        revoke_request = RevokeRequest(
            serial=body.serial, reason_code=body.reasonCode, reason=body.reason, passive=body.passive,
            token=body.ott or None, client_certificate=certificate,
        )
        try:
            await _issuing(request, _authority(request).revoke, revoke_request)
        except Conflict as exc:  # already revoked: step-ca answers 400
            raise BadRequest(exc.message) from None
        return {"status": "ok"}

    return router


def _ocsp_response(der: bytes, cacheable: bool) -> Response:
    """An OCSP response with RFC 5019's HTTP caching headers when it may be cached
    (a successful response to a GET without a nonce)."""
    headers: dict[str, str] = {}
    response = ocsp.load_der_ocsp_response(der)
    if cacheable and response.response_status == ocsp.OCSPResponseStatus.SUCCESSFUL and not _has_nonce(response):
        this_update, next_update = response.this_update_utc, response.next_update_utc
        if next_update is not None:
            max_age = max(0, int((next_update - utc_now()).total_seconds()))
            headers = {
                "Cache-Control": f"max-age={max_age}, public, no-transform, must-revalidate",
                "Last-Modified": email.utils.format_datetime(this_update, usegmt=True),
                "Expires": email.utils.format_datetime(next_update, usegmt=True),
                "ETag": f'"{hashlib.sha256(der).hexdigest()}"',
            }
    return Response(der, media_type="application/ocsp-response", headers=headers)


def _has_nonce(response: ocsp.OCSPResponse) -> bool:
    try:
        response.extensions.get_extension_for_class(x509.OCSPNonce)
    except x509.ExtensionNotFound:
        return False
    return True


def crl_router() -> APIRouter:
    """The CRL, DER (``?pem`` for PEM), and the OCSP responder (RFC 5019: POST, and
    GET with the base64 request in the path); also served on the insecure address."""
    router = APIRouter()

    @router.get("/intermediate.crt")
    async def issuing_certificate(request: Request) -> Response:
        """The issuing CA's certificate, DER: the AIA caIssuers URL of every leaf."""
        der = _authority(request).intermediates()[0].public_bytes(serialization.Encoding.DER)
        return Response(der, media_type="application/pkix-cert")

    @router.get("/root.crt")
    async def root_certificate(request: Request) -> Response:
        """The root certificate, DER: the AIA caIssuers URL of the intermediate ``appliance init`` makes."""
        der = _authority(request).roots()[0].public_bytes(serialization.Encoding.DER)
        return Response(der, media_type="application/pkix-cert")

    @router.get("/root.crl")
    async def root_crl(request: Request) -> Response:
        """The root's CRL (``crl.rootCRL``), DER: the CDP of the intermediate ``appliance init`` makes."""
        der = _authority(request).root_crl()
        if der is None:
            raise NotFound("this CA publishes no root CRL ('crl.rootCRL' in ca.json)")
        return Response(der, media_type="application/pkix-crl")

    @router.post("/ocsp")
    async def ocsp_post(request: Request) -> Response:
        der = await _off_loop(_authority(request).ocsp, await request.body())
        return _ocsp_response(der, cacheable=False)

    @router.get("/ocsp/{encoded:path}")
    async def ocsp_get(encoded: str, request: Request) -> Response:
        try:
            request_der = base64.b64decode(urllib.parse.unquote(encoded), validate=True)
        except (binascii.Error, ValueError):
            request_der = b""
        der = await _off_loop(_authority(request).ocsp, request_der)
        return _ocsp_response(der, cacheable=True)

    @router.get("/crl")
    async def crl(request: Request) -> Response:
        der = await _off_loop(_authority(request).crl)
        if "pem" in request.query_params:
            body = base64.encodebytes(der).decode().replace("\n", "")
            lines = "\n".join(body[i : i + 64] for i in range(0, len(body), 64))
            return Response(f"-----BEGIN X509 CRL-----\n{lines}\n-----END X509 CRL-----\n", media_type=PEM_MEDIA_TYPE)
        return Response(der, media_type="application/pkix-crl")

    return router
