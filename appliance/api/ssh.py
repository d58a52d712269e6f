"""step-ca's SSH API: ``/ssh/sign``, ``/ssh/revoke``, ``/ssh/roots``, ``/ssh/federation``,
and the KRL at ``/ssh/krl`` (ours). Keys and certificates travel in their wire form,
base64-encoded, as step-ca's ``SSHPublicKey`` and ``SSHCertificate`` JSON values do."""

from __future__ import annotations

import base64
import binascii
import datetime
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives.serialization import SSHCertificate
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field

from appliance.api.routes import _authority, _json_body, _note, _off_loop, claimed_issuer
from appliance.api.schemas import MAX_REASON_CODE, parse_csr
from appliance.authority.interfaces import SignRequest
from appliance.authority.ssh_interface import (SshAuthorityInterface, SshKeys, SshRevokeRequest, SshSigned,
                                                SshSignRequest)
from appliance.errors import BadRequest, Conflict, NotFound, NotImplementedFeature
from appliance.pki.duration import parse_time_duration
from appliance.pki.keys import verified_csr_key
from appliance.pki.pem import to_pem
from appliance.provisioner.ssh import CERT_TYPES, SshRequestOptions
from appliance.sshcert import SSHPublicKey, certificate_blob, key_blob, key_from_blob

KRL_MEDIA_TYPE = "application/octet-stream"
#: A certificate valid "forever" (validBefore 2^64-1) gives an identity certificate this long
#: (year 2318, which any duration claim refuses) rather than a date Python cannot hold.
_LATEST = 2**33


class SshSignBody(BaseModel):
    """``POST /ssh/sign`` (step-ca's ``SSHSignRequest``)."""

    model_config = ConfigDict(extra="ignore")
    publicKey: str = ""
    ott: str = ""
    certType: str = ""
    keyID: str = ""
    principals: list[str] = Field(default_factory=list)
    validAfter: str = ""
    validBefore: str = ""
    addUserPublicKey: str = ""
    identityCSR: str | None = None  # step sends null when it asks for none
    templateData: dict[str, Any] | None = None


class SshRenewBody(BaseModel):
    """``POST /ssh/renew`` and ``/ssh/rekey`` (step-ca's ``SSHRenewRequest``/``SSHRekeyRequest``)."""

    model_config = ConfigDict(extra="ignore")
    ott: str = ""
    publicKey: str = ""


class SshRevokeBody(BaseModel):
    """``POST /ssh/revoke`` (step-ca's ``SSHRevokeRequest``; ``publicKey`` is ours: revoke a key)."""

    model_config = ConfigDict(extra="ignore")
    serial: str = ""
    publicKey: str = ""
    ott: str = ""
    reasonCode: int = Field(default=0, ge=0, le=MAX_REASON_CODE)
    reason: str = ""
    passive: bool = True


class SshCheckHostBody(BaseModel):
    """``POST /ssh/check-host`` (step-ca's ``SSHCheckPrincipalRequest``)."""

    model_config = ConfigDict(extra="ignore")
    type: str = ""
    principal: str = ""
    token: str = ""


class SshBastionBody(BaseModel):
    """``POST /ssh/bastion`` (step-ca's ``SSHBastionRequest``)."""

    model_config = ConfigDict(extra="ignore")
    user: str = ""
    hostname: str = ""


class SshConfigBody(BaseModel):
    """``POST /ssh/config`` (step-ca's ``SSHConfigRequest``)."""

    model_config = ConfigDict(extra="ignore")
    type: str = ""
    data: dict[str, str] = Field(default_factory=dict)


def _ssh(request: Request) -> SshAuthorityInterface:
    ssh: SshAuthorityInterface | None = request.app.state.authority.ssh
    if ssh is None:
        raise NotImplementedFeature("the SSH CA is not enabled: ca.json has no 'ssh' section")
    return ssh


def _public_key(value: str, what: str) -> SSHPublicKey:
    try:
        blob = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise BadRequest(f"error parsing {what}: not base64") from None
    return key_from_blob(blob, what)


def _b64(blob: bytes) -> str:
    return base64.b64encode(blob).decode()


def _keys(keys: SshKeys) -> dict[str, list[str]]:
    if not keys.user and not keys.host:
        raise NotFound("no keys found")
    listed = {"userKey": [_b64(key_blob(k)) for k in keys.user], "hostKey": [_b64(key_blob(k)) for k in keys.host]}
    return {name: value for name, value in listed.items() if value}


def _identity_csr(pem: str) -> x509.CertificateSigningRequest:
    """``identityCSR``, parsed and its signature checked before anything is signed."""
    try:
        csr = parse_csr(pem)
        verified_csr_key(csr)
    except BadRequest as exc:
        raise BadRequest(f"invalid identityCSR: {exc.message}") from None
    return csr


async def _identity(request: Request, csr: x509.CertificateSigningRequest, token: str,
                    certificate: SSHCertificate) -> list[str]:
    """step-ca's identity certificate: the X.509 certificate for ``csr``, authorised by the
    same token, valid exactly as long as the SSH certificate; the chain in PEM."""
    def moment(value: int) -> datetime.datetime:
        return datetime.datetime.fromtimestamp(min(value, _LATEST), datetime.timezone.utc)

    issued = await _off_loop(_authority(request).sign_identity, SignRequest(
        csr, token, not_before=moment(certificate.valid_after), not_after=moment(certificate.valid_before)))
    return [to_pem(issued.certificate), *(to_pem(c) for c in issued.chain)]


def ssh_router() -> APIRouter:
    router = APIRouter()

    @router.post("/ssh/sign", status_code=201)
    async def sign(request: Request) -> JSONResponse:
        ssh = _ssh(request)
        body = await _json_body(request, SshSignBody)
        _note(request, provisioner=claimed_issuer(body.ott))
        if body.certType and body.certType not in CERT_TYPES:
            raise BadRequest(f"invalid certType '{body.certType[:20]}'")
        if not body.publicKey:
            raise BadRequest("missing or empty publicKey")
        if not body.ott:
            raise BadRequest("missing or empty ott")
        identity_csr = _identity_csr(body.identityCSR) if body.identityCSR else None
        sign_request = SshSignRequest(
            public_key=_public_key(body.publicKey, "publicKey"),
            token=body.ott,
            options=SshRequestOptions(body.certType, body.keyID, tuple(body.principals),
                                      parse_time_duration(body.validAfter), parse_time_duration(body.validBefore)),
            template_data=body.templateData or {},
            add_user_public_key=_public_key(body.addUserPublicKey, "addUserPublicKey") if body.addUserPublicKey
            else None,
        )
        # in the thread pool even for softkms keys: webhooks may be called, and block
        signed = await _off_loop(ssh.sign, sign_request)
        _note(request, serial=str(signed.certificate.serial), subject=signed.certificate.key_id.decode())
        response: dict[str, Any] = {"crt": _b64(certificate_blob(signed.certificate))}
        if signed.add_user_certificate is not None:
            response["addUserCrt"] = _b64(certificate_blob(signed.add_user_certificate))
        if identity_csr is not None:
            response["identityCrt"] = await _identity(request, identity_csr, body.ott, signed.certificate)
        return JSONResponse(response, status_code=201)

    def _signed(signed: SshSigned) -> JSONResponse:
        return JSONResponse({"crt": _b64(certificate_blob(signed.certificate))}, status_code=201)

    @router.post("/ssh/renew", status_code=201)
    async def renew(request: Request) -> JSONResponse:
        ssh = _ssh(request)
        body = await _json_body(request, SshRenewBody)
        if not body.ott:
            raise BadRequest("missing or empty ott")
        return _signed(await _off_loop(ssh.renew, body.ott))

    @router.post("/ssh/rekey", status_code=201)
    async def rekey(request: Request) -> JSONResponse:
        ssh = _ssh(request)
        body = await _json_body(request, SshRenewBody)
        if not body.ott:
            raise BadRequest("missing or empty ott")
        if not body.publicKey:
            raise BadRequest("missing or empty publicKey")
        return _signed(await _off_loop(ssh.rekey, body.ott, _public_key(body.publicKey, "publicKey")))

    @router.post("/ssh/revoke")
    async def revoke(request: Request) -> dict[str, str]:
        ssh = _ssh(request)
        body = await _json_body(request, SshRevokeBody)
        _note(request, serial=body.serial, provisioner=claimed_issuer(body.ott))
        if not body.ott:
            raise BadRequest("missing ott")
        if bool(body.serial) == bool(body.publicKey):
            raise BadRequest("give a serial or a publicKey to revoke")
        revoke_request = SshRevokeRequest(
            token=body.ott, serial=body.serial,
            public_key=_public_key(body.publicKey, "publicKey") if body.publicKey else None,
            reason_code=body.reasonCode, reason=body.reason)
        try:
            await _off_loop(ssh.revoke, revoke_request)
        except Conflict as exc:  # already revoked: step-ca answers 400
            raise BadRequest(exc.message) from None
        return {"status": "ok"}

    @router.get("/ssh/roots")
    async def roots(request: Request) -> dict[str, list[str]]:
        return _keys(_ssh(request).roots())

    @router.get("/ssh/federation")
    async def federation(request: Request) -> dict[str, list[str]]:
        return _keys(_ssh(request).federation())

    @router.post("/ssh/config")
    async def config(request: Request) -> dict[str, list[dict[str, str | None]]]:
        ssh = _ssh(request)
        body = await _json_body(request, SshConfigBody)
        kind = body.type or "user"
        if kind not in CERT_TYPES:
            raise BadRequest(f"invalid type '{kind[:20]}'")
        outputs = await _off_loop(ssh.config_outputs, kind, body.data)
        return {f"{kind}Key": [{"name": o.name, "type": o.type, "comment": o.comment, "path": o.path,
                                "content": None if o.type == "directory" else _b64(o.content)} for o in outputs]}

    @router.post("/ssh/check-host")
    async def check_host(request: Request) -> dict[str, bool]:
        ssh = _ssh(request)
        body = await _json_body(request, SshCheckHostBody)
        if body.type != "host":
            raise BadRequest(f"unsupported type '{body.type[:20]}'")
        if not body.principal:
            raise BadRequest("missing or empty principal")
        return {"exists": await _off_loop(ssh.check_host, body.principal)}

    @router.get("/ssh/hosts")
    async def hosts(request: Request) -> dict[str, list[dict[str, Any]]]:
        found = await _off_loop(_ssh(request).hosts)
        return {"hosts": [{"hid": host.host_id, "hostname": host.hostname, "host_tags": []} for host in found]}

    @router.post("/ssh/bastion")
    async def bastion(request: Request) -> dict[str, Any]:
        ssh = _ssh(request)
        body = await _json_body(request, SshBastionBody)
        if not body.hostname:
            raise BadRequest("missing or empty hostname")
        found = ssh.bastion(body.hostname)
        return {"hostname": body.hostname, **({"bastion": found} if found else {})}

    @router.get("/ssh/krl")
    async def krl(request: Request) -> Response:
        """The OpenSSH KRL of every revoked SSH certificate and key, for sshd's ``RevokedKeys``."""
        return Response(await _off_loop(_ssh(request).krl), media_type=KRL_MEDIA_TYPE)

    return router
