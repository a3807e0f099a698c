"""The service's wire shapes, as pydantic models: the OpenAPI document is generated from them
and from the runner's own ``Invocation`` and ``ToolResult`` models (never written by hand).

Requests are validated by ``runner.spec.parse_invocation`` itself (so the messages are the
CLI's); responses are built from ``controller.records.Record``. These models describe both.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel

from runner.result import ToolResult
from runner.spec.invocation import Invocation, complete_invocation_model

# this module serialises whole invocations: every tool family's models (runner/spec/invocation.py)
complete_invocation_model()


class InvocationRecord(BaseModel):
    """An invocation as the service knows it (docs/service.md)."""

    id: str
    namespace: str
    phase: Literal["Queued", "Running", "Succeeded", "Failed", "Cancelled"]
    exit_code: int | None = None
    result: ToolResult | None = None
    reason: str | None = None
    job: str | None = None
    created_at: str
    finished_at: str | None = None


class InvocationList(BaseModel):
    items: list[InvocationRecord]


class ErrorDetail(BaseModel):
    kind: str
    message: str
    fields: list[str]


class ErrorBody(BaseModel):
    error: ErrorDetail


def error_responses(*codes: int) -> dict[int | str, dict[str, Any]]:
    return {code: {"model": ErrorBody} for code in codes}


def add_invocation_schema(schema: dict[str, Any], path: str) -> dict[str, Any]:
    """The POST body's schema: the runner's ``Invocation`` model, its definitions merged into
    the document's components."""
    ref = "#/components/schemas/{model}"
    inv = Invocation.model_json_schema(ref_template=ref)
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    components.update(inv.pop("$defs", {}))
    components["Invocation"] = inv
    body = {"$ref": "#/components/schemas/Invocation"}
    post = schema["paths"][path]["post"]
    post["requestBody"] = {"required": True, "content": {"application/json": {"schema": body}}}
    return schema
