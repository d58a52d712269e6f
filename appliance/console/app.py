"""The web console: server-rendered pages (Jinja2, no script, no external asset) under
``/console`` on the HTTPS address, behind the visitor check of ``access.py``.

Every response carries a strict Content-Security-Policy (nothing but this origin's
stylesheet) and is never cached; the forms (revocation, for admins, confirmed on its
own page; logging out) are protected by a CSRF token. With ``console.oidc``,
``/oidc/login`` and ``/oidc/callback`` log a visitor in through the OpenID provider
into a session kept in the database (``__Host-`` cookie, SameSite=Lax so that the
provider's redirect back carries the login's cookie)."""

from __future__ import annotations

import dataclasses
import datetime
import importlib.resources
import json
import re
import urllib.parse
from dataclasses import dataclass
from typing import Any, Callable

import jinja2
from cryptography import x509
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from appliance.api.errors import STATUS_BY_KIND
from appliance.api.peer import peer_certificate
from appliance.authority.interfaces import AuthorityInterface
from appliance.config.console import ConsoleOptions
from appliance.config.model import CrlConfig, OcspConfig
from appliance.console.access import (CSRF_COOKIE, CSRF_FIELD, OIDC, Visitor, check_csrf, cookie_token, csrf_token,
                                      identify, new_token)
from appliance.audit import NO_AUDIT, AuditSink
from appliance.console.audit import AuditLog
from appliance.console.logins import LoginRecorder
from appliance.console.oidc import OidcLogin, PendingLogin, identity_data, stored_identity
from appliance.console.decode import Decoded, decode
from appliance.db.console_sessions import LOGIN, SESSION, ConsoleSessionStore
from appliance.console.read_model import SCAN_BUDGET, STATUSES, CertificateFilter, Cursor, ReadModel, page_cursor
from appliance.errors import ApplianceError, BadRequest, Conflict, Forbidden, NotFound, Unauthorized
from appliance.kms.health import SignerHealth
from appliance.pki.clock import utc_now
from appliance.pki.duration import format_duration
from appliance.pki.serial import parse_serial

CONTENT_SECURITY_POLICY = ("default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; "
                           "frame-ancestors 'none'; base-uri 'none'")
SECURITY_HEADERS = [
    (b"content-security-policy", CONTENT_SECURITY_POLICY.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"same-origin"),  # not no-referrer: browsers would then send "Origin: null" with forms
    (b"cache-control", b"no-store"),
    (b"cross-origin-opener-policy", b"same-origin"),
    (b"cross-origin-resource-policy", b"same-origin"),
]
REASONS = {0: "unspecified", 1: "keyCompromise", 3: "affiliationChanged", 4: "superseded",
           5: "cessationOfOperation", 6: "certificateHold", 9: "privilegeWithdrawn"}
MAX_REASON = 256
AUDIT_PAGE_SIZE = 50
MAX_FORM = 4096
SESSION_COOKIE = "__Host-console-session"
LOGIN_COOKIE = "__Host-console-login"
#: How long a session from an OpenID login lasts, and a login may wait for the provider.
SESSION_LIFETIME = datetime.timedelta(hours=8)
LOGIN_LIFETIME = datetime.timedelta(minutes=10)
#: Provisioner members never shown, whatever their type (keys, secrets, credentials).
_SECRET_MEMBER = re.compile(r"secret|password|passphrase|encryptedkey|private|credential|token|hmac|pin$|auth",
                            re.IGNORECASE)


@dataclass(frozen=True)
class ConsoleSettings:
    """What the console shows and who may see it."""

    options: ConsoleOptions
    read_model: ReadModel
    crl: CrlConfig = CrlConfig()
    ocsp: OcspConfig = OcspConfig()
    key_backend: str = ""  # the KMS type behind the intermediate key (a URI's scheme: never its PIN)
    health: SignerHealth | None = None
    audit: AuditLog | None = None
    #: Where ``console.login`` records go (the runtime's ``authority.audit``).
    audit_sink: AuditSink = NO_AUDIT
    clock: Callable[[], datetime.datetime] = utc_now


class SecurityHeaders:
    """Adds the console's headers to every response, errors included."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                names = {name for name, _ in SECURITY_HEADERS}
                message["headers"] = [*(h for h in message.get("headers", []) if h[0] not in names), *SECURITY_HEADERS]
            await send(message)

        await self.app(scope, receive, send_with_headers)


def redact(value: Any) -> Any:
    """A provisioner's settings without any key, secret or credential."""
    if isinstance(value, dict):
        return {k: "(hidden)" if _SECRET_MEMBER.search(k) else redact(v) for k, v in value.items() if k != "key"}
    if isinstance(value, list):
        return [redact(v) for v in value]
    return value


def _templates() -> jinja2.Environment:
    environment = jinja2.Environment(loader=jinja2.PackageLoader("appliance.console", "templates"),
                                     autoescape=True, undefined=jinja2.StrictUndefined)
    environment.filters["when"] = lambda t: t.strftime("%Y-%m-%d %H:%M:%S UTC") if t else ""
    environment.filters["duration"] = format_duration
    return environment


def console_app(authority: AuthorityInterface, settings: ConsoleSettings) -> ASGIApp:
    """The console, to be mounted at ``/console`` of the HTTPS API."""
    templates = _templates()
    stylesheet = importlib.resources.files("appliance.console").joinpath("static/console.css").read_bytes()
    model = settings.read_model
    logins = LoginRecorder(settings.audit_sink, settings.clock)
    oidc = OidcLogin(settings.options.oidc, settings.clock) if settings.options.oidc else None
    sessions = ConsoleSessionStore(model.engine)

    def logged_in(request: Request) -> Visitor | None:
        token = cookie_token(request, SESSION_COOKIE)
        data = sessions.get(token, SESSION, settings.clock()) if oidc and token else None
        if oidc is None or data is None:
            return None
        identity = stored_identity(data)
        return Visitor(identity.name, oidc.role(identity), f"{identity.issuer}#{identity.subject}", method=OIDC)

    def visitor(request: Request) -> Visitor:
        found = identify(request, settings.options, authority, peer_certificate, logged_in)
        logins.seen(found)
        request.state.visitor = found
        return found

    def render(request: Request, template: str, status_code: int = 200, **context: Any) -> HTMLResponse:
        token, new_cookie = csrf_token(request)
        body = templates.get_template(template).render(
            base=request.scope.get("root_path", ""), visitor=getattr(request.state, "visitor", None),
            csrf_field=CSRF_FIELD, csrf_token=token, now=settings.clock(), oidc=oidc is not None, **context)
        response = HTMLResponse(body, status_code=status_code)
        if new_cookie:
            response.set_cookie(CSRF_COOKIE, token, secure=True, httponly=True, samesite="strict", path="/")
        return response

    async def overview(request: Request) -> Response:
        visitor(request)
        now = settings.clock()
        health = None
        if settings.health is not None:
            health = settings.health.fresh() or await run_in_threadpool(settings.health.check)
        timeline = await run_in_threadpool(model.expiry_timeline, now)
        crl_state = await run_in_threadpool(model.crl_state)
        revoked = await run_in_threadpool(model.revocation_count)
        return render(request, "overview.html", timeline=timeline, health=health, key_backend=settings.key_backend,
                      crl=settings.crl, ocsp=settings.ocsp, crl_state=crl_state, revoked=revoked,
                      audit_configured=settings.audit is not None)

    async def certificate_list(request: Request) -> Response:
        visitor(request)
        params = request.query_params
        where = CertificateFilter(query=params.get("q", ""), provisioner=params.get("provisioner", ""),
                                  status=params.get("status", "") or "all")
        after = page_cursor(where, params.get("after", ""))
        now = settings.clock()
        page = await run_in_threadpool(model.certificates, where, now, after)
        next_url = ""
        if page.next is not None:
            query = {"q": where.query, "provisioner": where.provisioner, "status": where.status,
                     "after": page.next.encode()}
            next_url = "?" + urllib.parse.urlencode({k: v for k, v in query.items() if v})
        return render(request, "certificates.html", where=where, page=page, statuses=STATUSES,
                      next_url=next_url, first_page=after is not None, scan_budget=f"{SCAN_BUDGET:,}")

    async def _detail(serial: str) -> Any:
        detail = await run_in_threadpool(model.certificate, parse_serial(serial))
        if detail is None:
            raise NotFound(f"no certificate with serial {serial[:64]} was issued by this CA")
        return detail

    async def certificate_detail(request: Request) -> Response:
        visitor(request)
        detail = await _detail(request.path_params["serial"])
        try:
            decoded = decode(x509.load_pem_x509_certificate(detail.pem.encode()))
        except ValueError:
            decoded = Decoded([("Error", "the recorded PEM does not parse as a certificate")], [])
        return render(request, "certificate.html", detail=detail, decoded=decoded, reasons=REASONS,
                      status=detail.row.status(settings.clock()))

    async def revoke_form(request: Request) -> Response:
        if not visitor(request).may_revoke:
            raise Forbidden("only console admins may revoke certificates")
        detail = await _detail(request.path_params["serial"])
        if detail.row.revoked_at is not None:
            raise Conflict(f"certificate {detail.row.serial} is already revoked")
        return render(request, "revoke.html", detail=detail, reasons=REASONS)

    async def revoke(request: Request) -> Response:
        admin = visitor(request)
        if not admin.may_revoke:
            raise Forbidden("only console admins may revoke certificates")
        form = await _form(request)
        check_csrf(request, form.get(CSRF_FIELD, ""))
        detail = await _detail(request.path_params["serial"])
        code_text = form.get("reason_code", "")
        if not code_text.isdigit() or int(code_text) not in REASONS:
            raise BadRequest("choose a revocation reason")
        reason = form.get("reason", "").strip()
        if len(reason) > MAX_REASON:
            raise BadRequest(f"the reason is limited to {MAX_REASON} characters")
        await run_in_threadpool(authority.revoke_authorized, detail.row.serial, int(code_text), reason,
                                f"console:{admin.name}")
        return RedirectResponse(f"{request.scope.get('root_path', '')}/certificates/{detail.row.serial}",
                                status_code=303)

    async def provisioners(request: Request) -> Response:
        visitor(request)
        listed: list[dict[str, Any]] = []
        cursor = ""
        while True:
            page, cursor = authority.provisioners(cursor, 100)
            listed.extend(page)
            if not cursor:
                break
        shown = [(p.get("name", ""), p.get("type", ""), json.dumps(redact(p), indent=2, sort_keys=True))
                 for p in listed]
        return render(request, "provisioners.html", provisioners=shown)

    async def acme(request: Request) -> Response:
        visitor(request)
        params = request.query_params
        accounts_after = Cursor.decode(params.get("accounts_after", ""))
        orders_after = Cursor.decode(params.get("orders_after", ""))
        account = params.get("account", "")[:64]
        accounts = await run_in_threadpool(model.acme_accounts, accounts_after)
        orders = await run_in_threadpool(model.acme_orders, orders_after, 50, account)
        return render(request, "acme.html", accounts=accounts, orders=orders, account=account)

    async def audit(request: Request) -> Response:
        visitor(request)
        page_text = request.query_params.get("page", "0")
        if not page_text.isdigit() or len(page_text) > 9:
            raise BadRequest("page must be a whole number")
        page = int(page_text)
        if settings.audit is None:
            return render(request, "audit.html", configured=False, records=[], status=None, page=page)
        status = await run_in_threadpool(settings.audit.chain_status)
        records = await run_in_threadpool(settings.audit.records, page, AUDIT_PAGE_SIZE)
        return render(request, "audit.html", configured=True, records=records, status=status, page=page,
                      more=len(records) == AUDIT_PAGE_SIZE)

    def login_configured() -> OidcLogin:
        if oidc is None:
            raise NotFound("console.oidc is not configured")
        return oidc

    async def oidc_login(request: Request) -> Response:
        provider = login_configured()
        pending, token, now = PendingLogin.new(), new_token(), settings.clock()
        url = await run_in_threadpool(provider.authorization_url, pending)
        await run_in_threadpool(sessions.put, token, LOGIN, dataclasses.asdict(pending), now + LOGIN_LIFETIME, now)
        response = RedirectResponse(url, status_code=303)
        _set_cookie(response, LOGIN_COOKIE, token, LOGIN_LIFETIME)
        return response

    async def oidc_callback(request: Request) -> Response:
        provider = login_configured()
        params = request.query_params
        if "error" in params:
            raise Unauthorized(f"the OpenID provider did not log you in: {params['error'][:100]}")
        token, now = cookie_token(request, LOGIN_COOKIE), settings.clock()
        pending = await run_in_threadpool(sessions.take, token, LOGIN, now) if token else None
        if pending is None:
            raise BadRequest("no login is under way in this browser (or it took too long): log in again")
        try:
            identity = await run_in_threadpool(provider.finish, PendingLogin(**pending), params.get("state", ""),
                                               params.get("code", ""))
            role = provider.role(identity)
        except (Unauthorized, Forbidden) as exc:
            settings.audit_sink.record("console.login.refused", {"method": OIDC, "reason": exc.message})
            raise
        session = new_token()
        await run_in_threadpool(sessions.put, session, SESSION, identity_data(identity), now + SESSION_LIFETIME, now)
        settings.audit_sink.record("console.login", {"actor": identity.name, "role": role, "method": OIDC,
                                                     "subject": f"{identity.issuer}#{identity.subject}"})
        response = RedirectResponse(f"{request.scope.get('root_path', '')}/", status_code=303)
        _set_cookie(response, SESSION_COOKIE, session, SESSION_LIFETIME)
        response.delete_cookie(LOGIN_COOKIE, path="/", secure=True, httponly=True, samesite="lax")
        return response

    async def logout(request: Request) -> Response:
        form = await _form(request)
        check_csrf(request, form.get(CSRF_FIELD, ""))
        token = cookie_token(request, SESSION_COOKIE)
        if token:
            await run_in_threadpool(sessions.delete, token)
        response = RedirectResponse(f"{request.scope.get('root_path', '')}/", status_code=303)
        response.delete_cookie(SESSION_COOKIE, path="/", secure=True, httponly=True, samesite="lax")
        return response

    async def static_css(request: Request) -> Response:
        return Response(stylesheet, media_type="text/css")

    async def refused(request: Request, exc: Exception) -> Response:
        if isinstance(exc, ApplianceError):
            status, message = STATUS_BY_KIND[exc.kind], exc.message
        else:
            assert isinstance(exc, HTTPException)
            status, message = exc.status_code, str(exc.detail)
        return render(request, "error.html", status_code=status, status=status, message=message)

    app = Starlette(routes=[
        Route("/", overview),
        Route("/certificates", certificate_list),
        Route("/certificates/{serial}", certificate_detail),
        Route("/certificates/{serial}/revoke", revoke_form, methods=["GET"]),
        Route("/certificates/{serial}/revoke", revoke, methods=["POST"]),
        Route("/provisioners", provisioners),
        Route("/acme", acme),
        Route("/audit", audit),
        Route("/oidc/login", oidc_login),
        Route("/oidc/callback", oidc_callback),
        Route("/logout", logout, methods=["POST"]),
        Route("/static/console.css", static_css),
    ], exception_handlers={ApplianceError: refused, HTTPException: refused})
    return SecurityHeaders(app)


def _set_cookie(response: Response, name: str, token: str, lifetime: datetime.timedelta) -> None:
    """A ``__Host-`` cookie; Lax: the provider's redirect back (a cross-site navigation) must carry it."""
    response.set_cookie(name, token, max_age=int(lifetime.total_seconds()), secure=True, httponly=True,
                        samesite="lax", path="/")


async def _form(request: Request) -> dict[str, str]:
    """An ``application/x-www-form-urlencoded`` body (the only kind the console's form sends)."""
    if request.headers.get("content-type", "").split(";")[0].strip() != "application/x-www-form-urlencoded":
        raise BadRequest("expected a form (application/x-www-form-urlencoded)")
    body = await request.body()
    if len(body) > MAX_FORM:
        raise BadRequest("form too large")
    try:
        pairs = urllib.parse.parse_qsl(body.decode(), keep_blank_values=True, strict_parsing=False,
                                       max_num_fields=16)
    except (UnicodeDecodeError, ValueError):
        raise BadRequest("malformed form") from None
    return dict(pairs)
