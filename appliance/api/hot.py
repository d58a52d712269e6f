"""The issuance endpoints (``POST /sign`` and ``/renew``, at ``/`` and ``/1.0/``) called
directly, without FastAPI's per-request layers.

A request to them went through Starlette's error and exception middleware, FastAPI's
exit-stack middleware, the router's scan and its endpoint wrapper: ~10 % of the
worker's CPU per certificate, for handlers that take only the ``Request``. Here the
same handler is called with the same scope (``app``, ``route`` and ``endpoint`` set as
the router sets them: the route object the router includes, so the access log and the
metrics see the same route), and an
exception gets the handler the app registered for it, found as Starlette finds it
(by the exception's class order); for one without a handler of its own (a bug) the
500 is sent and the exception raised on, as ``ServerErrorMiddleware`` does, for the
access log to log its traceback once. Every other request goes to the app.
"""

from __future__ import annotations

import inspect
from typing import Any, Awaitable, Callable

from fastapi import APIRouter, FastAPI
from fastapi.routing import APIRoute
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

HOT_PATHS = frozenset({"/sign", "/1.0/sign", "/renew", "/1.0/renew"})
Handler = Callable[[Request, Any], Response | Awaitable[Response]]


class HotRoutes:
    """``app`` with the ``POST`` routes of ``routes`` (full path -> the route as included)
    called directly."""

    def __init__(self, app: FastAPI, routes: dict[str, APIRoute]) -> None:
        self.app = app
        self._routes = routes

    @classmethod
    def of(cls, app: FastAPI, routers: list[APIRouter], prefixes: tuple[str, ...],
           paths: frozenset[str] = HOT_PATHS) -> HotRoutes:
        """``app``, which includes ``routers`` under each of ``prefixes``, with those of their
        ``POST`` routes whose full path is in ``paths`` called directly."""
        return cls(app, {prefix + route.path: route for router in routers for prefix in prefixes
                         for route in router.routes if isinstance(route, APIRoute) and "POST" in (route.methods or ())
                         and prefix + route.path in paths})

    def _handler(self, exc: Exception) -> tuple[Handler, bool]:
        """The app's handler for ``exc`` and whether it is the last-resort one (``Exception``)."""
        handlers: dict[Any, Handler] = self.app.exception_handlers
        for cls in type(exc).__mro__:
            if cls in handlers:
                return handlers[cls], cls is Exception
        raise exc

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        route = self._routes.get(scope["path"]) if scope["type"] == "http" and scope["method"] == "POST" else None
        if route is None:
            await self.app(scope, receive, send)
            return
        scope.update(app=self.app, route=route, endpoint=route.endpoint, path_params={})
        request = Request(scope, receive, send)
        try:
            response: Response = await route.endpoint(request)
        except Exception as exc:
            handler, last_resort = self._handler(exc)
            answer = handler(request, exc)
            await (await answer if inspect.isawaitable(answer) else answer)(scope, receive, send)
            if last_resort:
                raise
            return
        await response(scope, receive, send)
