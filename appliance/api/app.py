"""The ASGI applications: the HTTPS API and the plain-HTTP CRL endpoint."""

from __future__ import annotations

from dataclasses import dataclass, field

from fastapi import APIRouter, FastAPI
from starlette.types import ASGIApp

from appliance import __version__
from appliance.acme import AcmeServer
from appliance.admin import AdminApi
from appliance.api.acme import acme_router
from appliance.api.admin import admin_router
from appliance.api.errors import install_error_handlers
from appliance.api.hot import HotRoutes
from appliance.api.est import est_router
from appliance.api.middleware import DEFAULT_MAX_BODY, AccessLog, BodyLimit
from appliance.api.scep import scep_router
from appliance.api.routes import certificate_router, crl_router, read_only_router
from appliance.api.ssh import ssh_router
from appliance.authority.interfaces import AuthorityInterface
from appliance.est import EstServer
from appliance.kms.health import SignerHealth
from appliance.scep import ScepServer
from appliance.config.tls import TlsOptions

API_PREFIXES = ("", "/1.0")


@dataclass(frozen=True)
class ApiSettings:
    """What the HTTP layer takes from ca.json (``tls`` for the ``tlsOptions`` of sign
    responses) and its own limits (``logger.format`` is the log handler's: ``appliance.server.logs``).

    ``openapi`` publishes an OpenAPI description of the API at ``/openapi.json``
    (off in production: the tests turn it on to fuzz the API from it)."""

    max_body_bytes: int = DEFAULT_MAX_BODY
    health: SignerHealth | None = None  # the KMS probe behind /health (none: always ok)
    openapi: bool = False
    tls_options: TlsOptions = field(default_factory=TlsOptions)
    #: Applications served under a path of the HTTPS API only (the web console at ``/console``).
    mounts: tuple[tuple[str, ASGIApp], ...] = ()


def _build(authority: AuthorityInterface, settings: ApiSettings, routers: list[APIRouter],
           acme: AcmeServer | None = None, scep: ScepServer | None = None,
           mounts: tuple[tuple[str, ASGIApp], ...] = (), est: bool = False, admin: AdminApi | None = None) -> ASGIApp:
    app = FastAPI(title="appliance", version=__version__, docs_url=None, redoc_url=None,
                  openapi_url="/openapi.json" if settings.openapi else None)
    app.state.authority = authority
    app.state.health = settings.health
    app.state.tls_options = settings.tls_options
    install_error_handlers(app)
    # Routes are tried in order and no two of these match one path: the hot ones first.
    for router in routers:
        for prefix in API_PREFIXES:
            app.include_router(router, prefix=prefix)
    if admin is not None:
        app.state.admin = admin
        for prefix in API_PREFIXES:
            app.include_router(admin_router(), prefix=prefix)
    if acme is not None:
        app.state.acme = acme
        app.include_router(acme_router())
    if scep is not None:
        app.state.scep = scep
        app.include_router(scep_router())
    if est:
        app.state.est = EstServer(authority)
        app.include_router(est_router())
    for path, mounted in mounts:
        app.mount(path, mounted)
    return AccessLog(BodyLimit(HotRoutes.of(app, routers, API_PREFIXES), settings.max_body_bytes))


def create_app(authority: AuthorityInterface, settings: ApiSettings | None = None,
               acme: AcmeServer | None = None, scep: ScepServer | None = None,
               admin: AdminApi | None = None) -> ASGIApp:
    """The step-ca API, at ``/`` and ``/1.0/``; ACME at ``/acme/`` and ``/2.0/acme/``, SCEP at
    ``/scep/`` and ``/1.0/scep/``, the admin API at ``/admin/`` and ``/1.0/admin/`` when given;
    EST at ``/.well-known/est/``."""
    settings = settings or ApiSettings()
    return _build(authority, settings, [certificate_router(), read_only_router(), crl_router(), ssh_router()],
                  acme, scep, settings.mounts, est=True, admin=admin)


def create_insecure_app(authority: AuthorityInterface, settings: ApiSettings | None = None,
                        scep: ScepServer | None = None) -> ASGIApp:
    """The CRL (and SCEP when given), for the plain-HTTP ``insecureAddress``."""
    return _build(authority, settings or ApiSettings(), [crl_router()], scep=scep)
