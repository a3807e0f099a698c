"""Hostile spec and credential documents: bounded in time and memory, one line naming where.

Each row is (document bytes, a fragment the one-line error must contain). Every case must be
refused in well under a second and must never repeat the document's text.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from runner.cli import _load
from runner.credentials import load_alias
from runner.errors import ConfigurationError
from runner.spec.invocation import parse_invocation

SECRET = "hunter2-SECRET"

BOMB = "a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"{n}: &{n} [{', '.join([f'*{p}'] * 9)}]\n"
    for p, n in zip("abcdefgh", "bcdefghi", strict=False)
)

DOCUMENTS = [
    ('{"tool":' * 10_000 + "1" + "}" * 10_000, "nested deeper than 64 levels"),
    ("tool: " + "[" * 10_000 + "]" * 10_000, "--spec"),
    ("tool:\n" + "".join("  " * i + "a:\n" for i in range(1, 200)), "nested deeper than 64 levels"),
    (b"kind: nats\nbucket: \xff\xfe\n", "not UTF-8 text (byte 19)"),
    ('{"tool": {"batch": ' + "9" * 5000 + "}}", "tool.batch: an integer of 5000 digits"),
    ("tool:\n  batch: " + "9" * 5000 + "\n", "tool.batch: an integer of 5000 digits"),
    (BOMB, "more than 100000 values (aliases expanded)"),
    ("tool:\n  kind: nats\n  value: 2024-01-01\n", "tool.value: a YAML date or time value"),
    ("tool:\n  data: !!binary aGVsbG8=\n", "tool.data: a YAML !!binary value"),
    ('{"tool": {"ttl": NaN}}', "tool.ttl: NaN is not a finite number"),
    ("tool:\n  ttl: .inf\n", "tool.ttl: not a finite number"),
    ("tool:\n  1: x\n", "tool: a key that is not a string"),
    (f'tool:\n  password: "{SECRET}\n  url: [\n', "not valid YAML or JSON at line"),
    (f'{{"tool": {{"password": "{SECRET}", }}', "not valid JSON at line 1"),
    ("x" * (4 * 1024 * 1024 + 1), "larger than 4194304 bytes of YAML (a larger spec must be JSON)"),
    ("{" + " " * (64 * 1024 * 1024), "larger than 67108864 bytes"),
]


@pytest.mark.parametrize(("document", "fragment"), DOCUMENTS, ids=range(len(DOCUMENTS)))
def test_a_hostile_spec_is_one_line_naming_where(
    tmp_path: Path, document: str | bytes, fragment: str
) -> None:
    path = tmp_path / "spec"
    path.write_bytes(document if isinstance(document, bytes) else document.encode())
    t0 = time.monotonic()
    with pytest.raises(ConfigurationError) as caught:
        parse_invocation(_load(str(path)))
    assert time.monotonic() - t0 < 10  # unbounded parses take minutes; the machine may be busy
    message = caught.value.message
    assert fragment in message
    assert "\n" not in message
    assert SECRET not in message


def test_a_date_is_refused_before_anything_connects(tmp_path: Path) -> None:
    path = tmp_path / "spec.yaml"
    path.write_text("kind: nats\noperation: kv_put\nbucket: b\nkey: k\nvalue: 2024-01-01\n")
    with pytest.raises(ConfigurationError, match="value: a YAML date or time value"):
        _load(str(path))


CREDENTIALS = [
    (b'{"password": "\xff"}', "credential alias 'c': not UTF-8 text (byte 14)"),
    (f'{{"password": "{SECRET}"'.encode(), "credential alias 'c': not valid JSON at line 1"),
    (b'{"a":' * 10_000 + b"1" + b"}" * 10_000, "nested deeper than 64 levels"),
    (b'{"port": ' + b"9" * 5000 + b"}", "port: an integer of 5000 digits"),
    (b"[1, 2]", "must be a JSON object"),
    (b" " * (1024 * 1024 + 1), "larger than 1048576 bytes"),
]


@pytest.mark.parametrize(("content", "fragment"), CREDENTIALS, ids=range(len(CREDENTIALS)))
def test_a_hostile_credential_is_one_line_without_its_content(
    tmp_path: Path, content: bytes, fragment: str
) -> None:
    (tmp_path / "c").write_bytes(content)
    with pytest.raises(ConfigurationError) as caught:
        load_alias(tmp_path, "c")
    assert fragment in caught.value.message
    assert SECRET not in caught.value.message


@pytest.mark.parametrize(
    "alias", ["nats_main\n", "../etc/passwd", ".hidden", "a/b", "a..b", "", "x" * 254, "a b"]
)
def test_an_alias_is_a_plain_file_name(tmp_path: Path, alias: str) -> None:
    with pytest.raises(ConfigurationError, match="not a valid credential alias") as caught:
        load_alias(tmp_path, alias)
    assert "\n" not in caught.value.message


@pytest.mark.parametrize("alias", ["nats_main\n", "../x", "a/b"])
def test_an_alias_in_the_spec_is_refused_naming_tool_auth(alias: str) -> None:
    tool = {"kind": "nats", "operation": "kv_get", "bucket": "b", "key": "k", "auth": alias}
    with pytest.raises(ConfigurationError, match=r"tool\.auth: must be letters") as caught:
        parse_invocation(tool)
    assert "\n" not in caught.value.message


LENIENT = [
    ({"ack": 1}, "tool.ack: 1 is not an ack mode"),
    ({"batch": True}, "tool.batch: input should be a valid integer (got bool True)"),
    ({"timeout_ms": "500"}, "tool.timeout_ms: input should be a valid integer"),
]


@pytest.mark.parametrize(("fields", "fragment"), LENIENT)
def test_values_are_not_coerced(fields: dict[str, object], fragment: str) -> None:
    tool = {"kind": "subscription", "source": "nats", "stream": "S", "consumer": "c", **fields}
    with pytest.raises(ConfigurationError) as caught:
        parse_invocation(tool)
    assert fragment in caught.value.message


def test_deadline_as_text_is_not_coerced() -> None:
    tool = {"kind": "nats", "operation": "kv_get", "bucket": "b", "key": "k"}
    with pytest.raises(ConfigurationError, match=r"deadline_s: input should be a valid integer"):
        parse_invocation({"tool": tool, "deadline_s": "60"})


def test_a_subject_over_1024_characters_is_refused_before_connecting() -> None:
    tool = {"kind": "nats", "operation": "js_publish", "subject": "a" * 10_000, "data": 1}
    with pytest.raises(ConfigurationError, match=r"tool\.subject: string should have at most 1024"):
        parse_invocation(tool)


def test_execution_id_as_a_large_integer_stays_exact() -> None:
    tool = {"kind": "nats", "operation": "kv_get", "bucket": "b", "key": "k"}
    text = f'{{"execution_id": 123456789012345678901234, "tool": {json.dumps(tool)}}}'
    inv = parse_invocation(json.loads(text))
    assert inv.execution_id == "123456789012345678901234"
