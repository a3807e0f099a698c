"""docs/reference.md §1 and §2: bad input is rejected before anything connects, with the field and what is allowed.

Each row is (invocation, a fragment the error message must contain).
"""

from __future__ import annotations

from typing import Any

import pytest

from runner.errors import ConfigurationError
from runner.spec.common import Limits
from runner.spec.invocation import parse_invocation


def nats(operation: str, **fields: Any) -> dict[str, Any]:
    return {"kind": "nats", "operation": operation, "auth": "nats_main", **fields}


REQUIRED = {
    "kv_get": {"bucket": "b", "key": "k"},
    "kv_put": {"bucket": "b", "key": "k", "value": 1},
    "kv_delete": {"bucket": "b", "key": "k"},
    "kv_keys": {"bucket": "b"},
    "kv_purge": {"bucket": "b", "key": "k"},
    "object_get": {"bucket": "b", "name": "n"},
    "object_put": {"bucket": "b", "name": "n", "data": "x"},
    "object_delete": {"bucket": "b", "name": "n"},
    "object_list": {"bucket": "b"},
    "object_info": {"bucket": "b", "name": "n"},
    "js_publish": {"subject": "s.a", "data": "x"},
    "js_get_msg": {"stream": "S", "seq": 1},
    "js_stream_info": {"stream": "S"},
    "js_consume": {"stream": "S", "consumer": "c"},
}

MISSING = [
    (op, field)
    for op, fields in REQUIRED.items()
    for field in fields
    if not (op == "js_get_msg" and field == "seq")
]


@pytest.mark.parametrize("operation", sorted(REQUIRED))
def test_every_operation_accepts_its_required_fields(operation: str) -> None:
    inv = parse_invocation(nats(operation, **REQUIRED[operation]))
    assert inv.tool.operation == operation
    assert inv.warnings == []


@pytest.mark.parametrize(("operation", "field"), MISSING)
def test_a_missing_required_field_is_named(operation: str, field: str) -> None:
    fields = {k: v for k, v in REQUIRED[operation].items() if k != field}
    with pytest.raises(ConfigurationError, match=rf"tool\.{field}: required field is missing"):
        parse_invocation(nats(operation, **fields))


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        (nats("kv_get", bucket=5, key="k"), "tool.bucket: input should be a valid string (got int 5)"),
        (nats("kv_get", bucket="a.b", key="k"), "tool.bucket: must be letters, digits"),
        (nats("kv_get", bucket="b", key=".k"), "tool.key: must be letters, digits"),
        (nats("kv_put", bucket="b", key="k", value=1, ttl="soon"), "tool.ttl: input should be a valid number"),
        (nats("kv_put", bucket="b", key="k", value=1, ttl=-1), "tool.ttl: input should be greater than 0"),
        (nats("js_get_msg", stream="S", seq=0), "tool.seq: input should be greater than or equal to 1"),
        (nats("js_get_msg", stream="S"), "js_get_msg needs one of tool.seq, tool.last: true or tool.subject"),
        (nats("js_get_msg", stream="S.x", seq=1), "tool.stream: must be no whitespace"),
        (nats("js_consume", stream="S", consumer="c", batch="many"), "tool.batch: input should be a valid integer"),
        (nats("js_consume", stream="S", consumer="c", ack="maybe"), "tool.ack: 'maybe' is not an ack mode; valid: on_success"),
        (nats("js_publish", subject="a b", data=1), "tool.subject"),
        (nats("js_publish", subject="s", data=1, headers={"k": 1}), "tool.headers.k"),
        (nats("object_put", bucket="b", name="n", data="!!", encoding="base64"), "tool.data is not valid base64"),
        (nats("object_put", bucket="b", name="n", data=[1], encoding="base64"), "tool.data must be a base64 string"),
        (nats("object_get", bucket="b", name="n", encoding="latin-1"), "tool.encoding: input should be 'utf-8' or 'base64' (got 'latin-1')"),
        (nats("kv_gett", bucket="b", key="k"), "tool.operation: 'kv_gett' is not valid; did you mean 'kv_get'?"),
        ({"kind": "nats", "bucket": "b"}, "tool.operation: required field is missing (allowed: 'kv_get'"),
        ({"kind": "natz", "operation": "kv_get"}, "tool.kind: 'natz' is not valid; did you mean 'nats'?"),
        (nats("kv_get", bucket="b", key="k", bukcet="b"), "tool.bukcet: unknown field; did you mean 'bucket'?"),
        ({"tool": nats("kv_get", bucket="b", key="k"), "exection_id": "1"}, "exection_id: unknown field; did you mean 'execution_id'?"),
        ({"tool": nats("kv_get", bucket="b", key="k"), "id": "Not_A_Label"}, "id: must be lowercase letters"),
        ({"tool": nats("kv_get", bucket="b", key="k"), "deadline_s": 0}, "deadline_s: input should be greater than or equal to 1"),
        ({"tool": nats("kv_get", bucket="b", key="k"), "result": {"sink": "nats_kv"}}, "result.bucket is required"),
        ({"tool": nats("kv_get", bucket="b", key="k"), "result": {"sink": "s3"}}, "result.sink: input should be 'configmap' or 'nats_kv'"),
        ([1, 2], "the invocation must be a mapping"),
    ],
)
def test_bad_input_names_the_field_and_what_is_allowed(fields: Any, message: str) -> None:
    with pytest.raises(ConfigurationError) as err:
        parse_invocation(fields)
    assert message in err.value.message


def test_a_secret_of_the_wrong_type_is_not_echoed() -> None:
    with pytest.raises(ConfigurationError) as err:
        parse_invocation(nats("kv_get", bucket="b", key="k", password=987654321))
    assert "987654321" not in err.value.message
    assert "tool.password" in err.value.message


@pytest.mark.parametrize(
    ("fields", "warning"),
    [
        (nats("kv_get", bucket="b", key="k", ttl=5), "tool.ttl is not used by operation kv_get"),
        (nats("kv_keys", bucket="b", key="k"), "tool.key is not used by operation kv_keys"),
        (nats("js_consume", stream="S", consumer="c", batch=5000), "batch 5000 clamped to 1000"),
        (nats("js_consume", stream="S", consumer="c", batch=0), "batch 0 clamped to 1"),
        (nats("js_consume", stream="S", consumer="c", timeout_ms=60000), "timeout_ms 60000 clamped to 5000"),
        (nats("js_consume", stream="S", consumer="c", timeout_ms=-5), "timeout_ms -5 clamped to 0"),
    ],
)
def test_unused_and_clamped_fields_become_warnings(fields: dict[str, Any], warning: str) -> None:
    inv = parse_invocation(fields)
    assert any(warning in w for w in inv.warnings), inv.warnings


def test_the_timeout_cap_can_be_raised_by_the_operator(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TOOLPOD_MAX_TIMEOUT_MS", "20000")
    inv = parse_invocation(nats("js_consume", stream="S", consumer="c", timeout_ms=15000))
    assert inv.tool.timeout_ms == 15000
    assert inv.warnings == []


def test_a_bare_tool_block_is_shorthand_for_an_invocation() -> None:
    inv = parse_invocation(nats("kv_get", bucket="b", key="k"))
    assert inv.tool.kind == "nats"
    assert inv.execution_id is None
    assert len(inv.invocation_id) == 20


def test_numeric_execution_ids_are_kept_exact() -> None:
    inv = parse_invocation({"execution_id": 2**63 - 1, "tool": nats("kv_keys", bucket="b")})
    assert inv.execution_id == str(2**63 - 1)


@pytest.mark.parametrize("alias", ["nats_url", "url"])
def test_connection_field_aliases_are_accepted(alias: str) -> None:
    inv = parse_invocation(nats("kv_keys", bucket="b", **{alias: "nats://h:4222"}))
    assert inv.tool.url == "nats://h:4222"  # type: ignore[union-attr]


WRONG_TYPE = {  # one field per operation given a value of the wrong type
    "kv_get": ("key", ["k"]), "kv_put": ("bucket", 3), "kv_delete": ("key", {"a": 1}),
    "kv_keys": ("pattern", 5), "kv_purge": ("bucket", None), "object_get": ("name", 1.5),
    "object_put": ("description", 7), "object_delete": ("name", []), "object_list": ("bucket", True),
    "object_info": ("name", {}), "js_publish": ("headers", "x"), "js_get_msg": ("seq", "first"),
    "js_stream_info": ("stream", 9), "js_consume": ("timeout_ms", "soon"),
}


@pytest.mark.parametrize("operation", sorted(REQUIRED))
@pytest.mark.parametrize("mistake", ["wrong type", "unknown field"])
def test_the_cli_exits_2_naming_the_field_before_connecting(operation: str, mistake: str, tmp_path: Any) -> None:
    """No server runs here: validation must fail before any connection is tried."""
    import json
    import subprocess

    from controller.executors.local import runner_command

    fields = dict(REQUIRED[operation])
    if mistake == "wrong type":
        name, value = WRONG_TYPE[operation]
        fields[name] = value
    else:
        name, fields["colour"] = "colour", "blue"
    spec = {"tool": {"kind": "nats", "operation": operation, "url": "nats://127.0.0.1:1", **fields}}
    proc = subprocess.run([*runner_command(), "run", "--spec", "-", "--credentials", str(tmp_path)],
                          input=json.dumps(spec), capture_output=True, text=True, check=False)
    assert proc.returncode == 2, proc.stderr
    error = json.loads(proc.stdout)["error"]
    assert error["kind"] == "configuration"
    assert f"tool.{name}" in error["message"]


@pytest.mark.parametrize(
    ("tool", "field"),
    [
        ({"source": "pubsub"}, "subscription"),
        ({"source": "nats", "stream": "S"}, "consumer"),
        ({"source": "nats", "consumer": "c"}, "stream"),
        ({"source": "kafka", "brokers": "h:9092", "topic": "t"}, "group"),
        ({"source": "kafka", "topic": "t", "group": "g"}, "brokers"),
    ],
)
def test_a_subscription_missing_its_sources_field_names_it(tool: dict[str, Any], field: str) -> None:
    with pytest.raises(ConfigurationError, match=rf"tool\.{field}: required field is missing"):
        parse_invocation({"kind": "subscription", **tool})


def test_the_timeout_cap_is_handed_to_validation_not_read_by_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("TOOLPOD_MAX_TIMEOUT_MS", "1000")  # the explicit limits win
    doc = nats("js_consume", stream="S", consumer="c", timeout_ms=15000)
    assert parse_invocation(doc, Limits(timeout_cap_ms=20000)).tool.timeout_ms == 15000
    assert parse_invocation(doc, Limits()).tool.timeout_ms == 5000
