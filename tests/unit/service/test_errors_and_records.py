"""Pure pieces of the service: error translation (status, kind, fields; never a traceback),
the invocation digest that makes an id idempotent, a record's phase from an outcome."""

from __future__ import annotations

import pytest

from controller.errors import (
    ApiUnreachable,
    Forbidden,
    IdConflict,
    InvocationNotFound,
    SubmitError,
    api_error,
)
from controller.outcome import Outcome
from controller.records import digest, phase_of
from controller.service.errors import fields_of, translate
from runner.errors import ConfigurationError
from runner.spec.invocation import parse_invocation

KV_GET = {"id": "a1", "tool": {"kind": "nats", "operation": "kv_get", "bucket": "b", "key": "k"}}


@pytest.mark.parametrize(
    ("error", "status", "kind"),
    [
        (
            ConfigurationError("invalid invocation: tool.key: required field is missing"),
            422,
            "invalid",
        ),
        (SubmitError("credential alias 'x': Secret ns/y does not exist"), 422, "invalid"),
        (IdConflict("id 'a' is already used"), 409, "conflict"),
        (InvocationNotFound("no invocation 'a'"), 404, "not_found"),
        (ApiUnreachable("connection refused"), 503, "unavailable"),
        (api_error(503, "ServiceUnavailable", "etcd"), 503, "unavailable"),
        (Forbidden(403, "Forbidden", "jobs is forbidden"), 502, "upstream"),
        (RuntimeError("token=s3cret"), 500, "internal"),
    ],
)
def test_every_error_has_a_status_and_a_kind(error: Exception, status: int, kind: str) -> None:
    http = translate(error)
    assert (http.status, http.kind) == (status, kind)
    assert "s3cret" not in http.message  # an unexpected error says nothing of itself


def test_busy_and_unavailable_say_when_to_retry() -> None:
    assert "Retry-After" in translate(ApiUnreachable("refused")).headers


def test_validation_fields_are_the_paths_the_message_names() -> None:
    msg = "invalid invocation: idd: unknown field; did you mean 'id'?; tool.key: required field"
    assert fields_of(msg) == ["idd", "tool.key"]


def test_the_same_invocation_has_the_same_digest_however_it_is_written() -> None:
    a = parse_invocation(KV_GET)
    b = parse_invocation({"tool": dict(reversed(list(KV_GET["tool"].items()))), "id": "a1"})
    c = parse_invocation({**KV_GET, "tool": {**KV_GET["tool"], "key": "other"}})
    assert digest(a) == digest(b) != digest(c)


@pytest.mark.parametrize(
    ("status", "phase"),
    [
        ("success", "Succeeded"),
        ("error", "Failed"),
        ("timeout", "Failed"),
        ("cancelled", "Cancelled"),
    ],
)
def test_phase_of_an_outcome(status: str, phase: str) -> None:
    assert phase_of(Outcome(status, 0, {}, "")) == phase  # type: ignore[arg-type]
