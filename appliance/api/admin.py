"""step-ca's admin API over HTTP (``/admin/...`` and ``/1.0/admin/...``), served when
ca.json has ``enableAdmin``: the admin token in the ``Authorization`` header (as step
sends it, without a scheme), JSON bodies, step-ca's paths. ``appliance.admin`` does the work."""

from __future__ import annotations

from typing import Any, Callable

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from appliance.admin import AdminApi, Caller
from appliance.pki import bounded_json
from appliance.errors import BadRequest, NotFound

OK = {"status": "ok"}


def _api(request: Request) -> AdminApi:
    api: AdminApi = request.app.state.admin
    return api


async def _caller(request: Request) -> Caller:
    """The admin the request's token proves (checked in the thread pool: it writes the used token)."""
    path = request.url.path
    endpoint = path[len("/1.0"):] if path.startswith("/1.0/") else path
    token = request.headers.get("authorization", "").strip()
    return await run_in_threadpool(_api(request).authenticate, token, endpoint, request.method)


async def _body(request: Request) -> Any:
    try:
        return bounded_json.loads(await request.body())
    except ValueError:
        raise BadRequest("the request body is not JSON") from None


def _limit(request: Request) -> tuple[str, int]:
    cursor, limit = request.query_params.get("cursor", ""), request.query_params.get("limit", "0")
    if not limit.isdigit():
        raise BadRequest("limit must be a number")
    return cursor, int(limit)


def _by(params: dict[str, str]) -> str:
    """``reference`` or ``key`` (step-ca's two paths of an ACME account policy)."""
    if params["by"] not in ("reference", "key"):
        raise NotFound("no such admin API path")
    return params["by"]


#: ``(api, caller, path parameters, body, query) -> JSON or None (ok)``
Operation = Callable[[AdminApi, Caller, dict[str, str], Any, tuple[str, int]], Any]

#: method, path, operation, has a body, status of success.
ROUTES: tuple[tuple[str, str, Operation, bool, int], ...] = (
    ("GET", "/provisioners", lambda a, c, p, b, q: a.list_provisioners(*q), False, 200),
    ("GET", "/provisioners/{name}", lambda a, c, p, b, q: a.get_provisioner(p["name"]), False, 200),
    ("POST", "/provisioners", lambda a, c, p, b, q: a.create_provisioner(c, b), True, 201),
    ("PUT", "/provisioners/{name}", lambda a, c, p, b, q: a.update_provisioner(c, p["name"], b), True, 200),
    ("DELETE", "/provisioners/{name}", lambda a, c, p, b, q: a.delete_provisioner(c, p["name"]), False, 200),
    ("GET", "/provisioners/{name}/policy", lambda a, c, p, b, q: a.get_provisioner_policy(p["name"]), False, 200),
    ("POST", "/provisioners/{name}/policy",
     lambda a, c, p, b, q: a.set_provisioner_policy(c, p["name"], b, create=True), True, 201),
    ("PUT", "/provisioners/{name}/policy",
     lambda a, c, p, b, q: a.set_provisioner_policy(c, p["name"], b, create=False), True, 200),
    ("DELETE", "/provisioners/{name}/policy", lambda a, c, p, b, q: a.delete_provisioner_policy(c, p["name"]),
     False, 200),
    ("POST", "/provisioners/{name}/webhooks", lambda a, c, p, b, q: a.set_webhook(c, p["name"], b), True, 201),
    ("PUT", "/provisioners/{name}/webhooks/{webhook}",
     lambda a, c, p, b, q: a.set_webhook(c, p["name"], b, p["webhook"]), True, 200),
    ("DELETE", "/provisioners/{name}/webhooks/{webhook}",
     lambda a, c, p, b, q: a.delete_webhook(c, p["name"], p["webhook"]), False, 200),
    ("GET", "/authority/policy", lambda a, c, p, b, q: a.get_authority_policy(), False, 200),
    ("POST", "/authority/policy", lambda a, c, p, b, q: a.set_authority_policy(c, b, create=True), True, 201),
    ("PUT", "/authority/policy", lambda a, c, p, b, q: a.set_authority_policy(c, b, create=False), True, 200),
    ("DELETE", "/authority/policy", lambda a, c, p, b, q: a.delete_authority_policy(c), False, 200),
    ("GET", "/acme/policy/{provisioner}/{by}/{value}",
     lambda a, c, p, b, q: a.get_acme_policy(p["provisioner"], _by(p), p["value"]), False, 200),
    ("POST", "/acme/policy/{provisioner}/{by}/{value}",
     lambda a, c, p, b, q: a.set_acme_policy(c, p["provisioner"], _by(p), p["value"], b, create=True), True, 201),
    ("PUT", "/acme/policy/{provisioner}/{by}/{value}",
     lambda a, c, p, b, q: a.set_acme_policy(c, p["provisioner"], _by(p), p["value"], b, create=False), True, 200),
    ("DELETE", "/acme/policy/{provisioner}/{by}/{value}",
     lambda a, c, p, b, q: a.delete_acme_policy(c, p["provisioner"], _by(p), p["value"]), False, 200),
    ("GET", "/admins", lambda a, c, p, b, q: a.list_admins(*q), False, 200),
    ("GET", "/admins/{admin_id}", lambda a, c, p, b, q: a.get_admin(p["admin_id"]), False, 200),
    ("POST", "/admins", lambda a, c, p, b, q: a.create_admin(c, b), True, 201),
    ("PATCH", "/admins/{admin_id}", lambda a, c, p, b, q: a.update_admin(c, p["admin_id"], b), True, 200),
    ("DELETE", "/admins/{admin_id}", lambda a, c, p, b, q: a.delete_admin(c, p["admin_id"]), False, 200),
    ("POST", "/acme/eab/{provisioner}", lambda a, c, p, b, q: a.create_eab_key(c, p["provisioner"], b), True, 201),
    ("GET", "/acme/eab/{provisioner}", lambda a, c, p, b, q: a.list_eab_keys(p["provisioner"], "", *q), False, 200),
    ("GET", "/acme/eab/{provisioner}/{reference}",
     lambda a, c, p, b, q: a.list_eab_keys(p["provisioner"], p["reference"], *q), False, 200),
    ("DELETE", "/acme/eab/{provisioner}/{key_id}",
     lambda a, c, p, b, q: a.delete_eab_key(c, p["provisioner"], p["key_id"]), False, 200),
)


def _handler(operation: Operation, has_body: bool, status: int) -> Callable[[Request], Any]:
    async def handle(request: Request) -> JSONResponse:
        caller = await _caller(request)
        body = await _body(request) if has_body else None
        query = _limit(request)
        result = await run_in_threadpool(operation, _api(request), caller, dict(request.path_params), body, query)
        return JSONResponse(OK if result is None else result, status_code=status)

    return handle


def admin_router() -> APIRouter:
    """The admin API's routes (prefix ``/admin``)."""
    router = APIRouter(prefix="/admin")
    for method, path, operation, has_body, status in ROUTES:
        router.add_api_route(path, _handler(operation, has_body, status), methods=[method],
                             name=f"admin {method} {path}")
    return router
