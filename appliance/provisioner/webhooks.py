"""Provisioner webhooks as step-ca calls them: ENRICHING (data for the template at
``.Webhooks.<name>``), AUTHORIZING (allow or refuse the certificate about to be signed),
SCEPCHALLENGE (SCEP provisioners only: validate a SCEP challenge password and its CSR) and
NOTIFYING (told of an issuance or a failure; step-ca sends these for SCEP only, and neither
their answer nor their failure changes the request).

Each call is a POST of step-ca's JSON request body, HMAC-SHA256 signed with the webhook's
base64 secret (hex in ``X-Smallstep-Signature``), ``X-Smallstep-Webhook-ID``, bearer or
basic authorisation; the answer is ``{"allow": bool, "data": ...}`` (a SCEPCHALLENGE webhook
may also answer ``"pending": true``: it cannot decide yet, see ``appliance.scep``). Every failure fails
closed: a webhook that is down, slow, answers an error status or garbage refuses the
certificate (``WebhookUnavailable``: 503, the CA cannot decide), a denial is a 403.
"""

from __future__ import annotations

import base64
import binascii
import datetime
import hashlib
import hmac
import json
import ssl
import time
from dataclasses import dataclass
from typing import Any, Callable

import httpx

from appliance import metrics
from appliance.errors import BadRequest, Forbidden, Unavailable
from appliance.templates import FUNCTIONS, Template, TemplateError

KINDS = ("ENRICHING", "AUTHORIZING", "SCEPCHALLENGE", "NOTIFYING")
MAX_RESPONSE = 1 << 20
RETRIES = 1


class WebhookUnavailable(Unavailable):
    """The webhook could not give an answer; no certificate is issued."""


class WebhookDenied(Forbidden):
    """The webhook answered ``allow: false``."""


@dataclass(frozen=True)
class Webhook:
    """One configured webhook; ``secret`` and credentials are never logged or listed."""

    id: str
    name: str
    url: Template
    kind: str
    cert_type: str
    secret: bytes
    bearer_token: str = ""
    basic_auth: tuple[str, str] | None = None
    disable_tls_client_auth: bool = False

    @classmethod
    def from_config(cls, config: Any, where: str) -> Webhook:
        if not isinstance(config, dict):
            raise BadRequest(f"{where}: every webhook is an object")
        name = str(config.get("name") or "")
        where = f"{where} webhook '{name}'"
        kind = str(config.get("kind") or "").upper()
        if kind not in KINDS:
            raise BadRequest(f"{where}: kind must be {', '.join(KINDS[:-1])} or {KINDS[-1]}")
        if not name or not config.get("url"):
            raise BadRequest(f"{where}: name and url are required")
        cert_type = str(config.get("certType") or "ALL").upper()
        if cert_type not in ("ALL", "X509", "SSH"):
            raise BadRequest(f"{where}: certType must be ALL, X509 or SSH")
        try:
            secret = base64.b64decode(str(config.get("secret") or ""), validate=True)
            url = Template("url", str(config["url"]), FUNCTIONS)
        except (binascii.Error, ValueError):
            raise BadRequest(f"{where}: secret must be base64") from None
        except TemplateError as exc:
            raise BadRequest(f"{where}: url: {exc.message}") from None
        basic = config.get("basicAuth") or {}
        auth = (str(basic.get("username", "")), str(basic.get("password", ""))) if any(basic.values()) else None
        return cls(id=str(config.get("id") or name), name=name, url=url, kind=kind, cert_type=cert_type,
                   secret=secret, bearer_token=str(config.get("bearerToken") or ""), basic_auth=auth,
                   disable_tls_client_auth=bool(config.get("disableTLSClientAuth", False)))

    def applies_to(self, cert_type: str) -> bool:
        return self.cert_type in ("ALL", cert_type)

    def signature(self, body: bytes) -> str:
        return hmac.new(self.secret, body, hashlib.sha256).hexdigest()

    def headers(self, body: bytes) -> dict[str, str]:
        headers = {"Content-Type": "application/json", "X-Smallstep-Signature": self.signature(body),
                   "X-Smallstep-Webhook-ID": self.id}
        if self.bearer_token:
            headers["Authorization"] = f"Bearer {self.bearer_token}"
        elif self.basic_auth is not None:
            user, password = self.basic_auth
            headers["Authorization"] = "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()
        return headers

    def to_json(self) -> dict[str, Any]:
        """As ``/provisioners`` lists it: no secret, no credentials."""
        return {"id": self.id, "name": self.name, "kind": self.kind, "certType": self.cert_type}


def webhooks_from_config(value: Any, where: str) -> tuple[Webhook, ...]:
    if value is None:
        return ()
    if not isinstance(value, list):
        raise BadRequest(f"{where}: webhooks must be a list")
    hooks = tuple(Webhook.from_config(item, where) for item in value)
    names = [hook.name for hook in hooks]
    if len(names) != len(set(names)):
        raise BadRequest(f"{where}: webhook names must be unique")
    return hooks


@dataclass(frozen=True)
class WebhookResponse:
    allow: bool
    data: Any
    #: A SCEPCHALLENGE webhook that cannot decide yet (``"pending": true``); never with ``allow``.
    pending: bool = False


class WebhookClient:
    """Calls webhooks with a bounded total timeout, one retry on a connection error or 5xx
    (as step-ca), and the CA's TLS client certificate unless a webhook disables it."""

    def __init__(self, *, timeout: float = 10.0, cafile: str | None = None,
                 client_cert: tuple[str, str, bytes] | None = None,
                 sleep: Callable[[float], None] = time.sleep, monotonic: Callable[[], float] = time.monotonic,
                 now: Callable[[], datetime.datetime] = lambda: datetime.datetime.now(datetime.timezone.utc)) -> None:
        """``cafile``: the roots webhook servers are checked against (default: the system's);
        ``client_cert``: certificate chain, encrypted key and its password (the CA's own TLS
        certificate, presented unless a webhook sets ``disableTLSClientAuth``). ``timeout`` bounds a
        whole call, retry included."""
        self.timeout = timeout
        self.sleep = sleep
        self.monotonic = monotonic
        self.now = now
        self._contexts = {False: self._context(cafile, None), True: self._context(cafile, client_cert)}

    @staticmethod
    def _context(cafile: str | None, client_cert: tuple[str, str, bytes] | None) -> ssl.SSLContext:
        context = ssl.create_default_context(cafile=cafile)
        if client_cert is not None:
            cert, key, password = client_cert
            context.load_cert_chain(cert, key, password)
        return context

    def call(self, hook: Webhook, request: dict[str, Any], data: dict[str, Any]) -> WebhookResponse:
        """POST ``request`` (plus ``timestamp``) to the webhook's URL rendered with ``data``
        (counted and timed in ``appliance_webhook_calls``: ok, denied or unavailable)."""
        outcome = "unavailable"
        try:
            with metrics.timed(metrics.webhook_duration, hook.kind):
                response = self._call(hook, request, data)
            outcome = "ok" if response.allow else "denied"
            return response
        finally:
            metrics.webhook_calls.labels(hook.kind, outcome).inc()

    def _call(self, hook: Webhook, request: dict[str, Any], data: dict[str, Any]) -> WebhookResponse:
        try:
            url = hook.url.execute(data)
        except TemplateError as exc:
            raise WebhookUnavailable(f"webhook '{hook.name}': url: {exc.message}") from None
        body = json.dumps({**request, "timestamp": _rfc3339(self.now())}, separators=(",", ":")).encode()
        context = self._contexts[not hook.disable_tls_client_auth]
        deadline = self.monotonic() + self.timeout
        attempts = RETRIES + 1
        while True:
            attempts -= 1
            try:
                with httpx.Client(timeout=max(deadline - self.monotonic(), 0.001), verify=context) as client:
                    with client.stream("POST", url, content=body, headers=hook.headers(body)) as response:
                        status = response.status_code
                        raw = self._read_bounded(response, hook, deadline) if status < 400 else b""
            except httpx.TimeoutException:
                raise WebhookUnavailable(f"webhook '{hook.name}' did not answer in time") from None
            except httpx.HTTPError as exc:
                if self._retry(attempts, deadline):
                    continue
                raise WebhookUnavailable(f"webhook '{hook.name}' could not be reached: {type(exc).__name__}") from None
            if status >= 500 and self._retry(attempts, deadline):
                continue
            if status >= 400:
                raise WebhookUnavailable(f"webhook '{hook.name}' answered HTTP {status}")
            return _parse(raw, hook)

    def _retry(self, attempts: int, deadline: float) -> bool:
        """Wait a second before the one retry step-ca makes, if the deadline leaves room for it."""
        if not attempts or self.monotonic() + 1.0 >= deadline:
            return False
        self.sleep(1.0)
        return True

    def _read_bounded(self, response: httpx.Response, hook: Webhook, deadline: float) -> bytes:
        """The answer, refused past ``MAX_RESPONSE`` bytes or the deadline (a server dripping bytes)."""
        chunks, size = [], 0
        for chunk in response.iter_bytes():
            size += len(chunk)
            if size > MAX_RESPONSE:
                raise WebhookUnavailable(f"webhook '{hook.name}' answered more than {MAX_RESPONSE} bytes")
            if self.monotonic() > deadline:
                raise WebhookUnavailable(f"webhook '{hook.name}' did not answer in time")
            chunks.append(chunk)
        return b"".join(chunks)


def _parse(raw: bytes, hook: Webhook) -> WebhookResponse:
    try:
        answer = json.loads(raw)
    except ValueError:
        raise WebhookUnavailable(f"webhook '{hook.name}' answered something that is not JSON") from None
    if (not isinstance(answer, dict) or not isinstance(answer.get("allow", False), bool)
            or not isinstance(answer.get("pending", False), bool)):
        raise WebhookUnavailable(f"webhook '{hook.name}' answered a body that is not {{allow, data}}")
    allow, pending = bool(answer.get("allow", False)), bool(answer.get("pending", False))
    if pending and (allow or hook.kind != "SCEPCHALLENGE"):
        raise WebhookUnavailable(f"webhook '{hook.name}' answered 'pending', which only a SCEPCHALLENGE webhook "
                                 "may, and never with 'allow'")
    return WebhookResponse(allow=allow, data=answer.get("data"), pending=pending)


def _rfc3339(moment: datetime.datetime) -> str:
    return moment.astimezone(datetime.timezone.utc).isoformat().replace("+00:00", "Z")
