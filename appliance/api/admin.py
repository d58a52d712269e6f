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
from appliance.errors import BadRequest

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


async def _call(function: Callable[..., Any], *args: Any, status: int = 200) -> JSONResponse:
    result = await run_in_threadpool(function, *args)
    return JSONResponse(OK if result is None else result, status_code=status)


def admin_router() -> APIRouter:
    """The admin API's routes (prefix ``/admin``)."""
    router = APIRouter(prefix="/admin")

    @router.get("/provisioners")
    async def list_provisioners(request: Request) -> JSONResponse:
        await _caller(request)
        return await _call(_api(request).list_provisioners, *_limit(request))

    @router.get("/provisioners/{name}")
    async def get_provisioner(name: str, request: Request) -> JSONResponse:
        await _caller(request)
        return await _call(_api(request).get_provisioner, name)

    @router.post("/provisioners")
    async def create_provisioner(request: Request) -> JSONResponse:
        caller = await _caller(request)
        return await _call(_api(request).create_provisioner, caller, await _body(request), status=201)

    @router.put("/provisioners/{name}")
    async def update_provisioner(name: str, request: Request) -> JSONResponse:
        caller = await _caller(request)
        return await _call(_api(request).update_provisioner, caller, name, await _body(request))

    @router.delete("/provisioners/{name}")
    async def delete_provisioner(name: str, request: Request) -> JSONResponse:
        caller = await _caller(request)
        return await _call(_api(request).delete_provisioner, caller, name)

    @router.get("/provisioners/{name}/policy")
    async def get_provisioner_policy(name: str, request: Request) -> JSONResponse:
        await _caller(request)
        return await _call(_api(request).get_provisioner_policy, name)

    @router.post("/provisioners/{name}/policy")
    async def create_provisioner_policy(name: str, request: Request) -> JSONResponse:
        caller = await _caller(request)
        body = await _body(request)
        return await _call(lambda: _api(request).set_provisioner_policy(caller, name, body, create=True), status=201)

    @router.put("/provisioners/{name}/policy")
    async def update_provisioner_policy(name: str, request: Request) -> JSONResponse:
        caller = await _caller(request)
        body = await _body(request)
        return await _call(lambda: _api(request).set_provisioner_policy(caller, name, body, create=False))

    @router.delete("/provisioners/{name}/policy")
    async def delete_provisioner_policy(name: str, request: Request) -> JSONResponse:
        caller = await _caller(request)
        return await _call(_api(request).delete_provisioner_policy, caller, name)

    @router.post("/provisioners/{name}/webhooks")
    async def create_webhook(name: str, request: Request) -> JSONResponse:
        caller = await _caller(request)
        return await _call(_api(request).set_webhook, caller, name, await _body(request), status=201)

    @router.put("/provisioners/{name}/webhooks/{webhook}")
    async def update_webhook(name: str, webhook: str, request: Request) -> JSONResponse:
        caller = await _caller(request)
        return await _call(_api(request).set_webhook, caller, name, await _body(request), webhook)

    @router.delete("/provisioners/{name}/webhooks/{webhook}")
    async def delete_webhook(name: str, webhook: str, request: Request) -> JSONResponse:
        caller = await _caller(request)
        return await _call(_api(request).delete_webhook, caller, name, webhook)

    @router.get("/admins")
    async def list_admins(request: Request) -> JSONResponse:
        await _caller(request)
        return await _call(_api(request).list_admins, *_limit(request))

    @router.get("/admins/{admin_id}")
    async def get_admin(admin_id: str, request: Request) -> JSONResponse:
        await _caller(request)
        return await _call(_api(request).get_admin, admin_id)

    @router.post("/admins")
    async def create_admin(request: Request) -> JSONResponse:
        caller = await _caller(request)
        return await _call(_api(request).create_admin, caller, await _body(request), status=201)

    @router.patch("/admins/{admin_id}")
    async def update_admin(admin_id: str, request: Request) -> JSONResponse:
        caller = await _caller(request)
        return await _call(_api(request).update_admin, caller, admin_id, await _body(request))

    @router.delete("/admins/{admin_id}")
    async def delete_admin(admin_id: str, request: Request) -> JSONResponse:
        caller = await _caller(request)
        return await _call(_api(request).delete_admin, caller, admin_id)

    @router.post("/acme/eab/{provisioner}")
    async def create_eab_key(provisioner: str, request: Request) -> JSONResponse:
        caller = await _caller(request)
        return await _call(_api(request).create_eab_key, caller, provisioner, await _body(request), status=201)

    @router.get("/acme/eab/{provisioner}")
    async def list_eab_keys(provisioner: str, request: Request) -> JSONResponse:
        await _caller(request)
        return await _call(_api(request).list_eab_keys, provisioner, "", *_limit(request))

    @router.get("/acme/eab/{provisioner}/{reference}")
    async def eab_keys_by_reference(provisioner: str, reference: str, request: Request) -> JSONResponse:
        await _caller(request)
        return await _call(_api(request).list_eab_keys, provisioner, reference, *_limit(request))

    @router.delete("/acme/eab/{provisioner}/{key_id}")
    async def delete_eab_key(provisioner: str, key_id: str, request: Request) -> JSONResponse:
        caller = await _caller(request)
        return await _call(_api(request).delete_eab_key, caller, provisioner, key_id)

    return router
