"""Property-based: for ANY document, credential or sink text, the parsers return a value or raise
one ``ConfigurationError`` — one line, no secret, within bounded time and memory — and nothing
else (no other exception reaches the CLI, which would report a crash, exit 70).

The budget is fixed (``BUDGET``) and the examples derandomized, so CI runs the same cases every
time; run with ``TOOLPOD_HYPOTHESIS_EXAMPLES=5000`` to search harder locally.
"""

from __future__ import annotations

import json
import os
import re
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from runner.cli import _load
from runner.credentials import load_alias
from runner.errors import ConfigurationError
from runner.sinks import parse_sink
from runner.spec.invocation import parse_invocation

BUDGET = settings(
    max_examples=int(os.environ.get("TOOLPOD_HYPOTHESIS_EXAMPLES", "150")),
    deadline=None,  # bounded below, with a limit that names the case
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
#: Generous: the machine may be busy; a parse that is not bounded takes minutes, not seconds.
MAX_SECONDS, MAX_BYTES = 10.0, 64 * 1024 * 1024

#: A secret is recognisable text the generators put where secrets go (passwords, tokens, URL
#: userinfo, credential files); every message is searched for it.
SECRETS = st.from_regex(r"SECRET[A-Za-z0-9]{6,12}", fullmatch=True)

scalars = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(allow_nan=True), st.text(max_size=30)
)
trees = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4),
    max_leaves=20,
)
FIELDS = ["kind", "operation", "source", "bucket", "key", "stream", "consumer", "subject", "batch",
          "timeout_ms", "ack", "ack_ids", "value", "data", "encoding", "brokers", "topic", "group",
          "subscription", "endpoint", "url", "auth", "ttl", "seq", "headers"]
KINDS = st.sampled_from(["nats", "subscription", "other", 1, None])
OPERATIONS = st.sampled_from(["kv_get", "kv_put", "object_put", "js_publish", "js_consume", "poll",
                              "ack", "nack", "bogus"])
SOURCES = st.sampled_from(["nats", "pubsub", "kafka", "x"])


@st.composite
def tools(draw: st.DrawFn, secret: str) -> dict[str, Any]:
    tool: dict[str, Any] = {"kind": draw(KINDS), "operation": draw(OPERATIONS), "source": draw(SOURCES)}
    for name in draw(st.lists(st.sampled_from(FIELDS), max_size=8, unique=True)):
        tool[name] = draw(trees)
    where = draw(st.sampled_from(["password", "token", "url", "endpoint", "brokers", "nats_password"]))
    host = draw(st.sampled_from(["127.0.0.1", "[::1]", "[::1", "h", ""]))
    port = draw(st.sampled_from(["", ":1", ":99999", ":59665x", ":0"]))
    userinfo = f"u:{secret}@{host}{port}"
    tool[where] = secret if where in ("password", "token", "nats_password") else draw(
        st.sampled_from([userinfo, f"http://{userinfo}", f"nats://{userinfo}", [userinfo]]))
    return tool


@st.composite
def documents(draw: st.DrawFn) -> tuple[bytes, str]:
    secret = draw(SECRETS)
    tool = draw(tools(secret))
    envelope = draw(st.sampled_from(["bare", "wrapped"]))
    doc: Any = tool if envelope == "bare" else {"tool": tool, "id": draw(st.text(max_size=60)),
                                                  "deadline_s": draw(scalars)}
    text = draw(st.sampled_from(["json", "yaml", "cut"]))
    body = json.dumps(doc, allow_nan=True)
    if text == "yaml":
        import yaml

        body = yaml.safe_dump(doc)
    if text == "cut":
        body = body[: draw(st.integers(0, len(body)))]
    return body.encode(), secret


def bounded(call: Callable[[], Any], secret: str | None) -> None:
    """Run ``call``: a value, or one ConfigurationError line without ``secret``; bounded."""
    tracemalloc.start()
    t0 = time.monotonic()
    message = ""
    try:
        call()
    except ConfigurationError as e:
        message = e.message
    finally:
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    assert "\n" not in message
    assert secret is None or secret not in message
    assert time.monotonic() - t0 < MAX_SECONDS
    assert peak < MAX_BYTES


@BUDGET
@given(case=documents())
def test_any_spec_is_an_invocation_or_one_line_without_the_secret(tmp_path: Path, case: tuple[bytes, str]) -> None:
    document, secret = case
    path = tmp_path / "spec"
    path.write_bytes(document)
    bounded(lambda: parse_invocation(_load(str(path))), secret)


@BUDGET
@given(document=st.binary(max_size=2000))
def test_any_bytes_as_a_spec_are_an_invocation_or_one_line(tmp_path: Path, document: bytes) -> None:
    path = tmp_path / "spec"
    path.write_bytes(document)
    bounded(lambda: parse_invocation(_load(str(path))), None)


@BUDGET
@given(secret=SECRETS, content=st.one_of(st.binary(max_size=500), trees.map(lambda t: json.dumps(t).encode())),
       cut=st.integers(0, 600), wrap=st.booleans())
def test_any_credential_is_a_mapping_or_one_line_without_its_content(
    tmp_path: Path, secret: str, content: bytes, cut: int, wrap: bool
) -> None:
    if wrap:  # the secret inside a (possibly cut) JSON credential
        content = json.dumps({"password": secret, "x": content.decode(errors="replace")}).encode()[:cut]
    (tmp_path / "c").write_bytes(content)
    bounded(lambda: load_alias(tmp_path, "c"), secret)


@BUDGET
@given(scheme=st.sampled_from(["stdout", "file", "nats-kv", "configmap", "", "x"]),
       name=st.text(max_size=300), alias=st.one_of(st.none(), st.text(max_size=40)))
def test_any_sink_text_is_a_sink_or_one_line(tmp_path: Path, scheme: str, name: str, alias: str | None) -> None:
    if scheme == "file":
        name = str(tmp_path / name.replace("\x00", "").lstrip("/"))[:200]
    bounded(lambda: parse_sink(f"{scheme}:{name}" if name else scheme, sink_auth=alias, credentials=tmp_path), None)


@pytest.mark.parametrize("seed", [b"tool: &a [*a]", b"{" * 100_000, b"- " * 100_000, b"!!python/object:os.system x"])
def test_known_hard_documents_are_bounded(tmp_path: Path, seed: bytes) -> None:
    path = tmp_path / "spec"
    path.write_bytes(seed)
    bounded(lambda: parse_invocation(_load(str(path))), None)


#: Endpoints whose client has no use for a user:password@ part (Kafka took it for a host name:
#: exit 3, retried), each refused at validation under the field's name.
BARE_ENDPOINTS = {"kafka": ("brokers", "tool.brokers"), "pubsub": ("endpoint", "tool.endpoint")}
USERS = st.text(st.characters(blacklist_categories=["Cs", "Cc", "Zs"], blacklist_characters="@/?#[]"), max_size=12)


@BUDGET
@given(source=st.sampled_from(sorted(BARE_ENDPOINTS)), user=USERS, secret=SECRETS,
       host=st.sampled_from(["127.0.0.1", "[::1]", "broker-0.kafka", "h"]), port=st.sampled_from(["", ":1", ":9092"]),
       scheme=st.sampled_from(["", "http://", "PLAINTEXT://"]), as_list=st.booleans())
def test_an_endpoint_with_userinfo_is_refused_naming_the_field(
    source: str, user: str, secret: str, host: str, port: str, scheme: str, as_list: bool
) -> None:
    name, field = BARE_ENDPOINTS[source]
    address = f"{scheme}{user}:{secret}@{host}{port}"
    value: Any = [address] if as_list and source == "kafka" else address
    tool = {"kind": "subscription", "source": source, "topic": "t", "group": "g",
            "subscription": "projects/p/subscriptions/s", name: value}
    tool = {k: v for k, v in tool.items() if source == "kafka" or k not in ("topic", "group")}
    with pytest.raises(ConfigurationError) as caught:
        parse_invocation(tool)
    assert re.search(f"{field}: (not a valid address|an address must not contain)", caught.value.message)
    assert secret not in caught.value.message
    assert "\n" not in caught.value.message
