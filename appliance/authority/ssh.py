"""The SSH CA: user and host certificates signed by KMS keys through ``cryptography``'s
``SSHCertificateBuilder``, step-ca's checks (``SignSSH``: template, validity, claims,
policy), records and revocations in the database, and the KRL built from them."""

from __future__ import annotations

import base64
import datetime
import hashlib
import json
import secrets
from dataclasses import dataclass
from typing import Any, Callable

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes
from cryptography.hazmat.primitives.serialization import (SSHCertificate, SSHCertificateBuilder, SSHCertificateType,
                                                          load_pem_public_key)

from appliance.authority.ssh_config import SshConfigTemplates
from appliance.authority.ssh_interface import SshConfigOutput, SshHost, SshKeys, SshRevokeRequest, SshSigned, SshSignRequest
from appliance.authority.templating import authorization_object
from appliance.config.ssh import SshConfig
from appliance.config.ssh_templates import SshTemplatesConfig
from appliance.db.ssh_store import SQLSshStore, SshCertificateRecord, SshRevocation, SshRevokedKey
from appliance.errors import BadRequest, Forbidden, NotFound, NotImplementedFeature, Unauthorized
from appliance.kms import KeyManager, open_key_manager, parse_uri
from appliance.jose import InvalidKey, UnverifiedToken, key_from_dict
from appliance.policy import NamesRefused, SshPolicy
from appliance.pki.duration import format_duration
from appliance.pki.serial import parse_serial
from appliance.provisioner import Collection, Provisioner, TokenUse
from appliance.provisioner.options import go_json
from appliance.provisioner.ssh import SshRequestOptions, TimeOrDuration
from appliance.provisioner.base import SshSignOptions
from appliance.sshcert import (RevokedCertificates, SSHPublicKey, build_krl, check_key_strength, fingerprint,
                               key_blob, key_from_blob)
from appliance.provisioner.webhooks import WebhookClient, WebhookDenied
from appliance.templates import TemplateError

#: step-ca's default extensions of user certificates (``sshutil.DefaultExtensions``).
DEFAULT_USER_EXTENSIONS = ("permit-X11-forwarding", "permit-agent-forwarding", "permit-port-forwarding",
                           "permit-pty", "permit-user-rc")
#: step-ca's ``DefaultAddUserCommand``.
DEFAULT_ADD_USER_COMMAND = "sudo useradd -m <principal>; nc -q0 localhost 22"
_TEMPLATE_FIELDS = frozenset({"type", "keyId", "principals", "extensions", "criticalOptions"})
_CERT_TYPES = {"user": SSHCertificateType.USER, "host": SSHCertificateType.HOST}


def _key_sha256(key: SSHPublicKey) -> str:
    return hashlib.sha256(key_blob(key)).hexdigest()


def _blob_text(key: SSHPublicKey) -> str:
    return base64.b64encode(key_blob(key)).decode()


def _match(pinned: SshRequestOptions, got: SshRequestOptions) -> None:
    """step-ca's ``SignSSHOptions.match``: what the request asks must be what the token pins."""
    if pinned.cert_type and got.cert_type and pinned.cert_type != got.cert_type:
        raise Forbidden(f"ssh certificate type does not match - got {got.cert_type}, want {pinned.cert_type}")
    if pinned.key_id and got.key_id and pinned.key_id != got.key_id:
        raise Forbidden(f"ssh certificate key id does not match - got {got.key_id}, want {pinned.key_id}")
    if pinned.principals and got.principals and not set(got.principals) <= set(pinned.principals):
        raise Forbidden(f"ssh certificate principals does not match - got {list(got.principals)}, "
                        f"want {list(pinned.principals)}")
    for name in ("valid_after", "valid_before"):
        want, asked = getattr(pinned, name), getattr(got, name)
        if want is not None and asked is not None and want != asked:
            field = "validAfter" if name == "valid_after" else "validBefore"
            raise Forbidden(f"ssh certificate {field} does not match")


#: step-ca's ``sshCertOptionsRequireValidator`` messages.
_MISSING = {"certType": ("cert_type", "ssh certificate type has not been provided"),
            "keyID": ("key_id", "ssh certificate key id has not been provided"),
            "principals": ("principals", "ssh certificate principals have not been provided")}


def _require(required: frozenset[str], got: SshRequestOptions) -> None:
    """The request names what the provisioner requires it to (step-ca's ``sshCertOptionsRequireValidator``)."""
    for name in sorted(required):
        attribute, message = _MISSING[name]
        if not getattr(got, attribute):
            raise BadRequest(message)


def _absolute(value: TimeOrDuration | None, now: datetime.datetime) -> int:
    if value is None:
        return 0
    moment = now + value if isinstance(value, datetime.timedelta) else value
    return max(0, int(moment.timestamp()))


def _string_map(value: Any, field: str) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
        raise TemplateError(f"the SSH certificate template: {field} must be an object of strings")
    return {str(k): v for k, v in value.items()}


class SshAuthority:
    """Implements ``SshAuthorityInterface``; built by ``Authority`` when ca.json has ``ssh``."""

    def __init__(self, config: SshConfig, store: SQLSshStore, provisioners: Callable[[], Collection], policy: SshPolicy, *,
                 user_signer: PrivateKeyTypes | None, host_signer: PrivateKeyTypes | None,
                 now: Callable[[], datetime.datetime], backdate: datetime.timedelta,
                 webhook_client: Callable[[], WebhookClient], disable_hosts: bool = False,
                 templates: SshTemplatesConfig | None = None) -> None:
        """``provisioners``: the authority's current provisioners (they change under remote
        management); ``webhook_client``: the authority's client for the provisioners' SSH webhooks;
        ``disable_hosts``: ``authority.disableGetSSHHosts`` (``/ssh/hosts`` answers 404);
        ``templates``: ca.json's ``templates`` for ``/ssh/config`` (None: the defaults)."""
        self.config = config
        self.store = store
        self.provisioners = provisioners
        self.policy = policy
        self._signers = {"user": user_signer, "host": host_signer}
        self._now = now
        self._backdate = backdate
        self._webhook_client = webhook_client
        self._disable_hosts = disable_hosts
        self._templates = SshConfigTemplates(templates)
        own = {kind: tuple(_ssh_public(s) for s in [signer] if s is not None) for kind, signer in self._signers.items()}
        extra: dict[tuple[str, bool], list[SSHPublicKey]] = {}
        for entry in config.keys:
            extra.setdefault((entry.type, entry.federated), []).append(_jwk_ssh_key(entry.key))
        self._roots = SshKeys(own["user"] + tuple(extra.get(("user", False), [])),
                              own["host"] + tuple(extra.get(("host", False), [])))
        self._federation = SshKeys(own["user"] + tuple(extra.get(("user", True), [])),
                                   own["host"] + tuple(extra.get(("host", True), [])))

    # -- discovery ------------------------------------------------------------------

    def roots(self) -> SshKeys:
        return self._roots

    def federation(self) -> SshKeys:
        return self._federation

    def hosts(self) -> list[SshHost]:
        """The hosts with an unexpired, unrevoked host certificate, each name once."""
        if self._disable_hosts:
            raise NotFound("ssh hosts list api disabled (authority.disableGetSSHHosts)")
        return self._current_hosts()

    def _current_hosts(self) -> list[SshHost]:
        revoked = {r.serial for r in self.store.revocation_list().certificates}
        seen: dict[str, SshHost] = {}
        for record in self.store.certificates("host", self._now()):
            if record.serial in revoked:
                continue
            for principal in record.principals:
                seen.setdefault(principal, SshHost(str(record.serial), principal))
        return sorted(seen.values(), key=lambda host: host.hostname)

    def bastion(self, hostname: str) -> dict[str, str] | None:
        """step-ca's ``GetSSHBastion``: the configured bastion, except for the bastion itself."""
        bastion = self.config.bastion
        if bastion and bastion["hostname"].lower() != hostname.lower():
            return dict(bastion)
        return None

    def config_outputs(self, kind: str, data: dict[str, str]) -> list[SshConfigOutput]:
        return self._templates.render(kind, self._roots, self._federation, data)

    def check_host(self, principal: str) -> bool:
        """Whether ``principal`` holds a current host certificate from this CA."""
        return any(host.hostname == principal for host in self._current_hosts())

    # -- signing --------------------------------------------------------------------

    def _signer(self, cert_type: str) -> PrivateKeyTypes:
        signer = self._signers[cert_type]
        if signer is None:
            raise NotImplementedFeature(f"{cert_type} certificate signing is not enabled (ssh.{cert_type}Key)")
        return signer

    def sign(self, request: SshSignRequest) -> SshSigned:
        token = UnverifiedToken.parse(request.token, allow_special=True)
        provisioner = self.provisioners().for_token(token)
        options = provisioner.authorize_ssh_sign(token)
        _match(options.pinned, request.options)
        _require(options.required, request.options)
        check_key_strength(request.public_key)
        if self.store.is_key_revoked(_key_sha256(request.public_key)):
            raise Forbidden("the public key has been revoked: use a new key")
        description = self._render(provisioner, options, request)
        cert_type = description["type"]
        now = self._now()
        valid_after, valid_before = self._validity(provisioner, cert_type, options, request.options, now)
        principals = description["principals"]
        if not description["keyId"]:
            raise Forbidden("ssh certificate key id cannot be empty")
        if not principals:
            raise Forbidden("ssh certificate valid principals cannot be empty")
        self._check_policy(provisioner, cert_type, principals)
        signer = self._signer(cert_type)
        self._authorize(provisioner, description, request.public_key, valid_after, valid_before)
        certificate = self._build(signer, request.public_key, cert_type, description["keyId"], principals,
                                  valid_after, valid_before, description["criticalOptions"],
                                  description["extensions"])
        self._record(certificate, provisioner, options.token)
        add_user = None
        if request.add_user_public_key is not None and cert_type == "user" and len(principals) == 1:
            add_user = self._add_user(certificate, request.add_user_public_key, provisioner, principals[0])
        return SshSigned(certificate, add_user)

    def _render(self, provisioner: Provisioner, options: SshSignOptions, request: SshSignRequest) -> dict[str, Any]:
        """The provisioner's SSH template rendered with step-ca's ``sshutil.TemplateData``."""
        template = provisioner.ssh_options
        extensions = {name: "" for name in DEFAULT_USER_EXTENSIONS} if options.cert_type == "user" else None
        data: dict[str, Any] = {
            **template.data, "Type": options.cert_type, "KeyID": options.key_id,
            "Principals": list(options.principals), "Extensions": extensions, "CriticalOptions": None,
            "Token": go_json(options.claims),
            "Insecure": {"CR": {"Type": request.options.cert_type, "KeyID": request.options.key_id,
                                "Principals": list(request.options.principals)}},
        }
        if template.custom:
            data["Insecure"]["User"] = go_json(request.template_data)
        if options.authorization_certificate is not None:
            data["AuthorizationCrt"] = authorization_object(options.authorization_certificate)
        self._enrich(provisioner, options, request.public_key, data)
        chosen = template.template if template.custom or options.default_template is None else \
            options.default_template
        text = chosen.execute(data)
        try:
            description = json.loads(text)
        except ValueError as exc:
            raise TemplateError(f"the SSH certificate template did not produce valid JSON: {exc}") from None
        if not isinstance(description, dict):
            raise TemplateError("the SSH certificate template must produce a JSON object")
        unknown = sorted(set(description) - _TEMPLATE_FIELDS)
        if unknown:
            raise TemplateError(f"the SSH certificate template sets {', '.join(unknown)}, which this CA does not "
                                "take from templates")
        cert_type = description.get("type")
        if cert_type not in _CERT_TYPES:
            raise BadRequest(f"ssh certificate has an unknown type '{cert_type}'")
        key_id, principals = description.get("keyId") or "", description.get("principals") or []
        if not isinstance(key_id, str) or not isinstance(principals, list) or \
                not all(isinstance(p, str) for p in principals):
            raise TemplateError("the SSH certificate template: keyId must be a string, principals a list of strings")
        return {"type": cert_type, "keyId": key_id, "principals": principals,
                "extensions": _string_map(description.get("extensions"), "extensions"),
                "criticalOptions": _string_map(description.get("criticalOptions"), "criticalOptions"),
                "data": data}

    def _enrich(self, provisioner: Provisioner, options: SshSignOptions, public_key: SSHPublicKey,
                data: dict[str, Any]) -> None:
        """The provisioner's ENRICHING webhooks for SSH (step-ca's ``sshCertificateRequest``):
        each must allow; its data reaches the template at ``.Webhooks.<name>``."""
        hooks = [h for h in provisioner.webhooks if h.kind == "ENRICHING" and h.applies_to("SSH")]
        request = {"sshCertificateRequest": {"publicKey": _blob_text(public_key), "type": options.cert_type,
                                             "keyID": options.key_id, "principals": list(options.principals)}}
        for hook in hooks:
            answer = self._webhook_client().call(hook, request, data)
            if not answer.allow:
                raise WebhookDenied(f"webhook '{hook.name}' denied the request")
            data.setdefault("Webhooks", {})[hook.name] = answer.data

    def _authorize(self, provisioner: Provisioner, description: dict[str, Any], public_key: SSHPublicKey,
                   valid_after: int, valid_before: int) -> None:
        """The provisioner's AUTHORIZING webhooks for SSH, on the certificate about to be signed."""
        hooks = [h for h in provisioner.webhooks if h.kind == "AUTHORIZING" and h.applies_to("SSH")]
        fields = {name: description[name] for name in ("type", "keyId", "principals", "extensions",
                                                       "criticalOptions")}
        request = {"sshCertificate": {**fields, "publicKey": _blob_text(public_key), "validAfter": valid_after,
                                      "validBefore": valid_before}}
        for hook in hooks:
            if not self._webhook_client().call(hook, request, description["data"]).allow:
                raise WebhookDenied(f"webhook '{hook.name}' denied the certificate")

    def _validity(self, provisioner: Provisioner, cert_type: str, options: SshSignOptions,
                  requested: SshRequestOptions, now: datetime.datetime) -> tuple[int, int]:
        """step-ca's ``ModifyValidity``, ``sshDefaultDuration`` and ``sshCertValidityValidator``."""
        valid_after = _absolute(options.pinned.valid_after or requested.valid_after, now)
        valid_before = _absolute(options.pinned.valid_before or requested.valid_before, now)
        if valid_after and valid_before and valid_after > valid_before:
            raise BadRequest("ssh certificate validAfter cannot be greater than validBefore")
        low, default, high = provisioner.claimer.ssh_durations(cert_type)
        backdate = 0
        if not valid_after:
            backdate = int(self._backdate.total_seconds())
            valid_after = int(now.timestamp())
        limit = int(options.not_after_limit.timestamp()) if options.not_after_limit else 0
        if limit and valid_after > limit:
            raise Forbidden(f"provisioning credential expiration ({options.not_after_limit}) is before requested "
                            "certificate validAfter")
        if not valid_before:
            valid_before = valid_after + int(default.total_seconds())
            if limit:
                valid_before = min(valid_before, limit)
        elif limit and valid_before > limit:
            raise Forbidden(f"provisioning credential expiration ({options.not_after_limit}) is before requested "
                            "certificate validBefore")
        valid_after = max(0, valid_after - backdate)
        if valid_before < int(now.timestamp()):
            raise BadRequest("ssh certificate validBefore cannot be in the past")
        if valid_before < valid_after:
            raise BadRequest("ssh certificate validBefore cannot be before validAfter")
        duration = datetime.timedelta(seconds=valid_before - valid_after)
        if duration < low:
            raise Forbidden(f"requested duration of {format_duration(duration)} is less than minimum accepted "
                            f"duration for selected provisioner of {format_duration(low)}")
        if duration > high + self._backdate:
            raise Forbidden(f"requested duration of {format_duration(duration)} is more than maximum accepted "
                            f"duration for selected provisioner of {format_duration(high + self._backdate)}")
        return valid_after, valid_before

    def _check_policy(self, provisioner: Provisioner, cert_type: str, principals: list[str]) -> None:
        refused: dict[str, str] = {}
        for policy in (self.policy, provisioner.ssh_policy):
            for name, reason in policy.refusals(cert_type, principals).items():
                refused.setdefault(name, reason)
        if refused:
            raise NamesRefused(refused)

    def _build(self, signer: PrivateKeyTypes, public_key: SSHPublicKey, cert_type: str, key_id: str,
               principals: list[str], valid_after: int, valid_before: int, critical: dict[str, str],
               extensions: dict[str, str]) -> SSHCertificate:
        builder = (SSHCertificateBuilder().public_key(public_key).serial(secrets.randbits(63) + 1)
                   .type(_CERT_TYPES[cert_type]).key_id(key_id.encode())
                   .valid_principals([p.encode() for p in principals])
                   .valid_after(valid_after).valid_before(valid_before))
        for name, value in sorted(critical.items()):
            builder = builder.add_critical_option(name.encode(), value.encode())
        for name, value in sorted(extensions.items()):
            builder = builder.add_extension(name.encode(), value.encode())
        certificate = builder.sign(signer)  # type: ignore[arg-type]
        try:  # verified before it leaves: the device signed what was built, with the CA key
            certificate.verify_cert_signature()
        except InvalidSignature:
            raise Forbidden("the SSH CA key produced an invalid signature") from None
        if key_blob(certificate.signature_key()) != key_blob(_ssh_public(signer)):
            raise Forbidden("the SSH certificate is not signed by the CA key")
        return certificate

    def _record(self, certificate: SSHCertificate, provisioner: Provisioner, use: TokenUse | None) -> None:
        token = (use.token_id, provisioner.name, use.expires_at) if use else None
        record = SshCertificateRecord(
            serial=certificate.serial, cert_type="user" if certificate.type == SSHCertificateType.USER else "host",
            key_id=certificate.key_id.decode(), principals=tuple(p.decode() for p in certificate.valid_principals),
            valid_after=datetime.datetime.fromtimestamp(certificate.valid_after, datetime.timezone.utc),
            valid_before=datetime.datetime.fromtimestamp(min(certificate.valid_before, 2**40), datetime.timezone.utc),
            provisioner=provisioner.name, key_sha256=_key_sha256(certificate.public_key()),
            certificate=certificate.public_bytes().decode(), issued_at=self._now())
        if not self.store.record_certificate(record, token):
            raise Unauthorized("token already used")

    def _add_user(self, subject: SSHCertificate, public_key: SSHPublicKey, provisioner: Provisioner,
                  principal: str) -> SSHCertificate:
        """step-ca's ``SignSSHAddUser``: a certificate for ``addUserPrincipal`` whose forced
        command creates the subject's user."""
        check_key_strength(public_key)
        add_principal = self.config.add_user_principal
        command = (self.config.add_user_command or DEFAULT_ADD_USER_COMMAND).replace("<principal>", principal)
        certificate = self._build(self._signer("user"), public_key, "user", f"{principal}-{add_principal}",
                                  [add_principal], subject.valid_after, subject.valid_before,
                                  {"force-command": command}, {})
        self._record(certificate, provisioner, None)
        return certificate

    # -- renewal (SSHPOP) -------------------------------------------------------------

    def _own(self, certificate: SSHCertificate) -> None:
        """``certificate`` is one this CA issued (the very one it recorded) and not revoked."""
        record = self.store.get_certificate(certificate.serial)
        if record is None or record.certificate != certificate.public_bytes().decode():
            raise Unauthorized("the sshpop certificate was not issued by this CA")
        if self.store.is_revoked(certificate.serial):
            raise Unauthorized("the sshpop certificate has been revoked")

    def _reissue(self, token: str, public_key: SSHPublicKey | None) -> SshSigned:
        """step-ca's ``RenewSSH``/``RekeySSH``: the host certificate again, for as long as it
        was valid, from now (backdated), for the same or a new key."""
        parsed = UnverifiedToken.parse(token, allow_special=True)
        provisioner = self.provisioners().for_token(parsed)
        authorization = (provisioner.authorize_ssh_renew(parsed) if public_key is None
                         else provisioner.authorize_ssh_rekey(parsed))
        old = authorization.certificate
        self._own(old)
        if not old.valid_after or not old.valid_before or old.valid_before >= 2**63:
            raise BadRequest("cannot renew a certificate without a validity period")
        key: SSHPublicKey = public_key or old.public_key()
        check_key_strength(key)
        if self.store.is_key_revoked(_key_sha256(key)):
            raise Forbidden("the public key has been revoked: use a new key")
        now = int(self._now().timestamp())
        backdate = int(self._backdate.total_seconds())
        certificate = self._build(
            self._signer("host"), key, "host", old.key_id.decode(), [p.decode() for p in old.valid_principals],
            now - backdate, now + (old.valid_before - old.valid_after) - backdate,
            {k.decode(): v.decode() for k, v in old.critical_options.items()},
            {k.decode(): v.decode() for k, v in old.extensions.items()})
        self._record(certificate, provisioner, authorization.token)
        return SshSigned(certificate)

    def renew(self, token: str) -> SshSigned:
        return self._reissue(token, None)

    def rekey(self, token: str, public_key: SSHPublicKey) -> SshSigned:
        return self._reissue(token, public_key)

    # -- revocation -----------------------------------------------------------------

    def revoke(self, request: SshRevokeRequest) -> None:
        token = UnverifiedToken.parse(request.token, allow_special=True)
        provisioner = self.provisioners().for_token(token)
        authorization = provisioner.authorize_ssh_revoke(token)
        now = self._now()
        if request.public_key is not None:
            if authorization.serial != fingerprint(request.public_key):
                raise Unauthorized("token subject (sub) is not the fingerprint of the key being revoked")
            self._spend(authorization.token.token_id, provisioner.name, authorization.token.expires_at)
            self.store.revoke_key(SshRevokedKey(_key_sha256(request.public_key), _blob_text(request.public_key),
                                                request.reason, now, provisioner.name))
            return
        if authorization.ssh_certificate is not None:  # SSHPOP: the token's certificate revokes itself
            self._own(authorization.ssh_certificate)
        serial = parse_serial(request.serial)
        if authorization.serial != serial and parse_serial(authorization.serial) != serial:
            raise Unauthorized("token subject (sub) is not the serial being revoked")
        record = self.store.get_certificate(int(serial))
        if record is None:
            raise BadRequest(f"SSH certificate {serial} was not issued by this CA")
        self._spend(authorization.token.token_id, provisioner.name, authorization.token.expires_at)
        signer = self._signers[record.cert_type]
        if signer is None:
            raise BadRequest(f"SSH certificate {serial} was signed by a key this CA no longer holds")
        self.store.revoke_certificate(SshRevocation(int(serial), _blob_text(_ssh_public(signer)),
                                                    request.reason_code, request.reason, now, provisioner.name))

    def _spend(self, token_id: str, provisioner: str, expires_at: datetime.datetime) -> None:
        if not self.store.use_token(token_id, provisioner, expires_at):
            raise Unauthorized("token already used")

    def krl(self) -> bytes:
        listed = self.store.revocation_list()
        by_ca: dict[str, set[int]] = {}
        for revocation in listed.certificates:
            by_ca.setdefault(revocation.ca_key, set()).add(revocation.serial)
        return build_krl(
            [RevokedCertificates(base64.b64decode(ca), frozenset(serials)) for ca, serials in by_ca.items()],
            [base64.b64decode(key.key) for key in listed.keys], version=listed.version, generated=self._now(),
        )


@dataclass
class SshSigners:
    """The SSH CA keys, and the KMS backends opened for them (closed with them)."""

    user: PrivateKeyTypes | None
    host: PrivateKeyTypes | None
    managers: list[KeyManager]

    def close(self) -> None:
        for manager in self.managers:
            manager.close()


def open_ssh_signers(config: SshConfig, key_manager: KeyManager, kms_scheme: str,
                     password: bytes | None) -> SshSigners:
    """Open ``hostKey`` and ``userKey``: a key file or a URI of the CA's KMS (``kms_scheme``)
    through ``key_manager``; a URI of another KMS (the user key on an HSM, the host key in
    softkms) through a backend opened for it."""
    signers = SshSigners(None, None, [])
    try:
        for kind, key in (("user", config.user_key), ("host", config.host_key)):
            if not key:
                continue
            uri = parse_uri(key, default_scheme=kms_scheme)
            manager = key_manager
            if uri.scheme != kms_scheme:
                manager = open_key_manager(uri, password=password)
                signers.managers.append(manager)
            setattr(signers, kind, manager.create_signer(key))
    except BaseException:
        signers.close()
        raise
    return signers


def _ssh_public(signer: PrivateKeyTypes) -> SSHPublicKey:
    key = signer.public_key()
    return key_from_blob(key_blob(key))  # type: ignore[arg-type]


def _jwk_ssh_key(jwk: dict[str, Any]) -> SSHPublicKey:
    """An ``ssh.keys`` JWK as an SSH public key."""
    try:
        key = load_pem_public_key(key_from_dict(jwk).export_to_pem())
    except (InvalidKey, ValueError) as exc:
        raise BadRequest(f"ssh.keys: not a public JWK: {exc}") from None
    if not isinstance(key, (ec.EllipticCurvePublicKey, rsa.RSAPublicKey, ed25519.Ed25519PublicKey)):
        raise BadRequest("ssh.keys: not an SSH key type")
    return key
