"""Endpoints: a bad one is refused before connecting, without repeating it; userinfo never shown."""

from __future__ import annotations

import pytest

from runner.endpoints import check, scrub
from runner.errors import ConfigurationError, ConnectionFailed
from runner.spec.invocation import parse_invocation

BAD = [
    "127.0.0.1:99999",
    "127.0.0.1:59665x",
    "[::1",
    "http://u:SECRET@[::1",
    "host:0",
    "",
    ":4222",
    "ho st:1",
    "h\n:1",
    "nats://u:SECRET@h:99999",
]


@pytest.mark.parametrize("text", BAD)
def test_a_bad_address_is_refused_without_being_repeated(text: str) -> None:
    with pytest.raises(ValueError, match=r"not a valid address|whitespace") as caught:
        check(text, "nats", 4222)
    assert "SECRET" not in str(caught.value)


GOOD = [
    ("127.0.0.1", "nats://127.0.0.1:4222"),
    ("nats://u:p@h:1", "nats://h:1"),
    ("[::1]:5", "nats://[::1]:5"),
    ("tls://[::1]", "tls://[::1]:4222"),
]


@pytest.mark.parametrize(("text", "address"), GOOD)
def test_a_good_address_keeps_no_userinfo(text: str, address: str) -> None:
    assert check(text, "nats", 4222).address == address


SCRUB = [
    ("cannot reach user:SECRET@host:1", "cannot reach ***@host:1"),
    ("cannot reach http://user:SECRET@host:1/v1", "cannot reach http://***@host:1/v1"),
    ("no broker of a:1,u:SECRET@b:2 answered", "no broker of a:1,***@b:2 answered"),
    (
        "pw with @: nats://u:p@ss@h:1 and / : http://u:p/ss@h",
        "pw with @: nats://***@h:1 and / : http://***@h",
    ),
    ("nothing to hide at nats://h:4222", "nothing to hide at nats://h:4222"),
]


@pytest.mark.parametrize(("message", "shown"), SCRUB)
def test_every_error_message_is_scrubbed(message: str, shown: str) -> None:
    assert scrub(message) == shown
    assert ConnectionFailed(message).message == shown


FIELDS = [
    (
        {
            "kind": "nats",
            "operation": "kv_get",
            "bucket": "b",
            "key": "k",
            "url": "nats://u:SECRET@h:99999",
        },
        "tool.url: not a valid address",
    ),
    (
        {
            "kind": "subscription",
            "source": "pubsub",
            "subscription": "projects/p/subscriptions/s",
            "endpoint": "[::1",
        },
        "tool.endpoint: not a valid address",
    ),
    (
        {
            "kind": "subscription",
            "source": "kafka",
            "topic": "t",
            "group": "g",
            "brokers": "a:1,b:59665x",
        },
        "tool.brokers: not a valid address",
    ),
    (
        {
            "kind": "subscription",
            "source": "kafka",
            "topic": "t",
            "group": "g",
            "brokers": ["a:1", "u:SECRET@b:99999"],
        },
        "tool.brokers: not a valid address",
    ),
]


KAFKA = {"kind": "subscription", "source": "kafka", "topic": "t", "group": "g"}
PUBSUB = {"kind": "subscription", "source": "pubsub", "subscription": "projects/p/subscriptions/s"}
FIELDS += [
    # a user:password@ part where the client has no use for it (Kafka retried it as a host name)
    ({**KAFKA, "brokers": "user:SECRET@127.0.0.1:9092"},          "tool.brokers: not a valid address: it carries a user:password@ part"),
    ({**KAFKA, "brokers": ["a:1", "PLAINTEXT://u:SECRET@b:1"]},   "tool.brokers: not a valid address: it carries a user:password@ part"),
    ({**KAFKA, "brokers": "127.0.0.1:9092/x"},                    "tool.brokers: not a valid address: it must be host:port"),
    ({**PUBSUB, "endpoint": "http://user:SECRET@127.0.0.1:8085"}, "tool.endpoint: not a valid address: it carries a user:password@ part"),
    ({**PUBSUB, "endpoint": "user:SECRET@127.0.0.1:8085"},        "tool.endpoint: not a valid address: it carries a user:password@ part"),
]


@pytest.mark.parametrize(("tool", "fragment"), FIELDS)
def test_a_bad_endpoint_in_the_spec_names_its_field(tool: dict[str, object], fragment: str) -> None:
    with pytest.raises(ConfigurationError, match=fragment) as caught:
        parse_invocation(tool)
    assert "SECRET" not in caught.value.message


@pytest.mark.parametrize(
    ("cred", "env", "fragment"),
    [
        ({"endpoint": "http://u:SECRET@127.0.0.1:1"}, None, "credential 'ps' endpoint: not a valid address: it carries"),
        ({}, "u:SECRET@127.0.0.1:1", "$PUBSUB_EMULATOR_HOST: not a valid address: it carries"),
    ],
    ids=["credential endpoint", "PUBSUB_EMULATOR_HOST"],
)
def test_a_pubsub_endpoint_from_a_credential_or_the_environment_refuses_userinfo(
    cred: dict[str, str], env: str | None, fragment: str
) -> None:
    from runner.sources.pubsub import _check_endpoint

    tool = parse_invocation({**PUBSUB, "auth": "ps"})
    with pytest.raises(ConfigurationError, match=fragment.replace("$", r"\$")) as caught:
        _check_endpoint(cred.get("endpoint") or env or "", tool.tool, cred)
    assert "SECRET" not in caught.value.message
