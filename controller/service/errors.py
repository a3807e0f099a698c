"""Every failure of a request as the error body of docs/service.md: ``{"error": {kind, message,
fields}}``.

One table maps the controller's error tree (``controller.errors``) to a status and a kind,
so the messages are the CLI's own; anything unexpected is a 500 whose body says nothing but
"internal error" (the traceback goes to the service's log, never to the caller).

    ConfigurationError (invalid invocation) 422 invalid      IdConflict          409 conflict
    InvalidInput (e.g. missing credential)  422 invalid      InvocationNotFound  404 not_found
    KubeError, transient (down, 5xx, 429)   503 unavailable  KubeError, other    502 upstream
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from typing import Any

from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from controller.errors import (
    IdConflict,
    InvalidInput,
    InvocationNotFound,
    KubeError,
    SubmitError,
)
from runner.errors import ConfigurationError

log = logging.getLogger("toolpod.service")
_WHERE = ("path", "query", "body")
#: Path parameters by the names the API documents (the route templates use Python names).
_PARAMS = {"ns": "namespace", "inv_id": "id"}
_FIELD = re.compile(r"^([A-Za-z0-9_.\[\]-]+): ")


@dataclass
class HttpError(Exception):
    status: int
    kind: str
    message: str
    fields: list[str] = field(default_factory=list)
    headers: dict[str, str] = field(default_factory=dict)

    def response(self) -> JSONResponse:
        body = {"error": {"kind": self.kind, "message": self.message, "fields": self.fields}}
        return JSONResponse(body, status_code=self.status, headers=self.headers)


def fields_of(message: str) -> list[str]:
    """The field paths a validation message names ("invalid invocation: tool.x: ...; ...")."""
    text = message.removeprefix("invalid invocation: ")
    return [m.group(1) for part in text.split("; ") if (m := _FIELD.match(part))]


def translate(e: BaseException) -> HttpError:
    if isinstance(e, HttpError):
        return e
    if isinstance(e, ConfigurationError):
        return HttpError(422, "invalid", e.message, fields_of(e.message))
    if isinstance(e, IdConflict):
        return HttpError(409, "conflict", e.message, ["id"])
    if isinstance(e, InvocationNotFound):
        return HttpError(404, "not_found", e.message, ["id"])
    if isinstance(e, InvalidInput):
        fields = ["tool.auth"] if isinstance(e, SubmitError) else []
        return HttpError(422, "invalid", e.message, fields)
    if isinstance(e, KubeError) and e.transient:
        msg = f"the Kubernetes API server is unavailable ({e.message}); retry later"
        return HttpError(503, "unavailable", msg, headers={"Retry-After": "5"})
    if isinstance(e, KubeError):
        return HttpError(502, "upstream", f"the Kubernetes API server refused: {e.message}")
    log.error("unexpected error", exc_info=e)
    return HttpError(500, "internal", "internal error; the service's log has the details")


def _validation(exc: RequestValidationError) -> HttpError:
    fields, problems = [], []
    for err in exc.errors():
        loc = [_PARAMS.get(str(p), str(p)) for p in err.get("loc", ()) if p not in _WHERE]
        name = ".".join(loc) or "request"
        fields.append(name)
        problems.append(f"{name}: {str(err.get('msg', 'invalid')).lower()}")
    return HttpError(422, "invalid", "; ".join(problems), fields)


def install(app: Any) -> None:
    """JSON error bodies for everything the app can raise (also unknown routes, bad paths)."""

    async def on_error(_req: Any, exc: Exception) -> JSONResponse:
        return translate(exc).response()

    async def on_validation(_req: Any, exc: RequestValidationError) -> JSONResponse:
        return _validation(exc).response()

    async def on_http(_req: Any, exc: HTTPException) -> JSONResponse:
        kind = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http")
        return HttpError(exc.status_code, kind, str(exc.detail)).response()

    async def on_http_error(_req: Any, exc: HttpError) -> JSONResponse:
        return exc.response()

    app.add_exception_handler(HttpError, on_http_error)
    app.add_exception_handler(RequestValidationError, on_validation)
    app.add_exception_handler(HTTPException, on_http)
    app.add_exception_handler(Exception, on_error)
