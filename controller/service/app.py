"""The HTTP JSON API of docs/service.md (FastAPI), over ``controller.service.core``.

Each route checks in this order, so nothing is asked of the API server for a request that
is wrong on its face: path and query (422) ─▶ readiness (503) ─▶ token (401) ─▶ RBAC verb
(403) ─▶ body (422) ─▶ credential aliases (403) ─▶ backpressure (429) ─▶ the controller.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Annotated, Any, TypeVar

from fastapi import FastAPI, Path, Query, Request, Response
from fastapi.openapi.utils import get_openapi
from fastapi.responses import JSONResponse

from controller.records import Record
from controller.render import credential_aliases
from controller.service import models
from controller.service.auth import Auth, Caller
from controller.service.core import Core
from controller.service.errors import HttpError, install, translate
from controller.service.metrics import Metrics
from runner.errors import ConfigurationError
from runner.log import event
from runner.spec.invocation import InvocationId, parse_invocation

BASE = "/v1/namespaces/{ns}/invocations"
ITEM = BASE + "/{inv_id}"
DNS_LABEL = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"
Namespace = Annotated[str, Path(pattern=DNS_LABEL, max_length=63)]
Id = Annotated[InvocationId, Path()]
Wait = Annotated[float | None, Query(ge=0, description="seconds to wait for the outcome")]
log = logging.getLogger("toolpod.service.access")
T = TypeVar("T")
#: (invocation id, execution id) of a request, for its access log line.
Ids = tuple[str | None, str | None]


def create_app(core: Core, auth: Auth, metrics: Metrics) -> FastAPI:
    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        await core.start()
        yield
        await core.close()

    app = FastAPI(title="toolpod", version="1", lifespan=lifespan, docs_url=None, redoc_url=None)
    install(app)
    app.middleware("http")(_access_log(metrics))
    _routes(app, core, auth, metrics)
    app.openapi = lambda: _openapi(app)  # type: ignore[method-assign]
    return app


def _openapi(app: FastAPI) -> dict[str, Any]:
    if app.openapi_schema is None:
        schema = get_openapi(title=app.title, version=app.version, routes=app.routes)
        app.openapi_schema = models.add_invocation_schema(schema, BASE)
    return app.openapi_schema


def _record(rec: Record, status: int, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse(rec.as_json(), status_code=status, headers=headers)


def _routes(app: FastAPI, core: Core, auth: Auth, metrics: Metrics) -> None:
    cap = core.config.wait_cap_s
    record_responses: dict[int | str, dict[str, Any]] = {200: {"model": models.InvocationRecord}}

    async def admit(request: Request, ns: str, verb: str) -> Caller:
        if not core.ready:
            raise HttpError(503, "not_ready", "the service is starting", headers=_RETRY)
        caller = await core.call(auth.authenticate, request.headers.get("authorization"))
        if core.config.only_watched and ns not in core.config.namespaces:
            # After authentication: who is not let in learns nothing about what is served.
            served = ", ".join(core.config.namespaces)
            message = f"namespace {ns} is not served here (served: {served})"
            raise HttpError(404, "not_found", message)
        await core.call(auth.authorize, caller, ns, verb)
        return caller

    async def handle(
        request: Request, ns: str, verb: str, ids: Ids, action: Callable[[Caller], Awaitable[T]]
    ) -> T:
        request.state.ids = ids
        try:
            return await action(await admit(request, ns, verb))
        except Exception as e:
            raise translate(e) from None

    @app.post(
        BASE,
        status_code=202,
        response_model=None,
        responses={**record_responses, 202: {"model": models.InvocationRecord}},
    )
    async def submit(ns: Namespace, request: Request, wait: Wait = None) -> JSONResponse:
        """Submit an invocation (docs/reference.md §1); 202 at once, or with ``wait`` 200 once
        finished."""

        async def action(caller: Caller) -> Record:
            inv = parse_invocation(await _json(request))
            request.state.ids = (inv.invocation_id, inv.execution_id)
            secrets = [core.config.settings.secret_for(a).name for a in credential_aliases(inv)]
            await core.call(auth.may_use_secrets, caller, ns, secrets)
            record = await core.submit(ns, inv)
            return record if wait is None else await core.wait(ns, record.id, min(wait, cap))

        record = await handle(request, ns, "create", (None, None), action)
        location = {"Location": f"/v1/namespaces/{ns}/invocations/{record.id}"}
        return _record(record, 200 if record.final and wait is not None else 202, location)

    @app.get(ITEM, response_model=None, responses={**record_responses, 202: {}})
    async def get(ns: Namespace, inv_id: Id, request: Request, wait: Wait = None) -> JSONResponse:
        """The invocation's record; with ``wait`` held until it finishes (200) or not (202)."""

        async def action(_caller: Caller) -> Record:
            return await core.wait(ns, inv_id, min(wait or 0, cap))

        record = await handle(request, ns, "get", (inv_id, None), action)
        return _record(record, 200 if record.final or wait is None else 202)

    @app.delete(ITEM, response_model=None, responses=record_responses)
    async def cancel(ns: Namespace, inv_id: Id, request: Request) -> JSONResponse:
        """Cancel: a queued invocation never gets a Job, a running one's Job is deleted."""

        async def action(_caller: Caller) -> Record:
            return await core.cancel(ns, inv_id)

        return _record(await handle(request, ns, "delete", (inv_id, None), action), 200)

    @app.get(BASE, response_model=models.InvocationList)
    async def list_(
        ns: Namespace, request: Request, execution_id: str | None = None
    ) -> JSONResponse:
        """The invocations of the namespace still retained, optionally of one execution."""

        async def action(_caller: Caller) -> list[Record]:
            return await core.list(ns, execution_id)

        rows = await handle(request, ns, "list", (None, execution_id), action)
        return JSONResponse({"items": [r.as_json() for r in rows]})

    @app.get("/healthz", include_in_schema=False)
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz", include_in_schema=False)
    async def readyz() -> JSONResponse:
        if not core.synced():
            return HttpError(503, "not_ready", "watches not synced yet", headers=_RETRY).response()
        return JSONResponse({"status": "ready"})

    @app.get("/metrics", include_in_schema=False)
    async def metrics_() -> Response:
        return Response(metrics.render(), media_type="text/plain; version=0.0.4")


_RETRY = {"Retry-After": "1"}


async def _json(request: Request) -> Any:
    """The body: JSON, or YAML when the Content-Type says so (``curl --data-binary @x.yaml``)."""
    raw = await request.body()
    if "yaml" in request.headers.get("content-type", ""):
        import yaml

        try:
            return yaml.safe_load(raw)
        except yaml.YAMLError as e:
            raise ConfigurationError(f"the body is not valid YAML ({e})") from None
    try:
        return json.loads(raw)
    except json.JSONDecodeError as e:
        raise ConfigurationError(f"the body is not JSON ({e.msg} at {e.pos})") from None
    except UnicodeDecodeError:
        raise ConfigurationError("the body is not UTF-8 JSON") from None


Handler = Callable[[Request], Awaitable[Response]]


def _access_log(metrics: Metrics) -> Callable[[Request, Handler], Awaitable[Response]]:
    async def middleware(request: Request, call_next: Handler) -> Response:
        start = time.perf_counter()
        response = await call_next(request)
        elapsed = time.perf_counter() - start
        route = getattr(request.scope.get("route"), "path", "unmatched")
        metrics.http.labels(route, request.method, str(response.status_code)).inc()
        metrics.http_seconds.labels(route, request.method).observe(elapsed)
        inv_id, execution_id = getattr(request.state, "ids", (None, None))
        if route not in ("/healthz", "/readyz", "/metrics"):
            event(
                log,
                "request",
                method=request.method,
                route=route,
                status=response.status_code,
                duration_ms=round(elapsed * 1000, 1),
                invocation_id=inv_id,
                execution_id=execution_id,
            )
        return response

    return middleware
