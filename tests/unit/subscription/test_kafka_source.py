"""Pure parts of the Kafka source: commit offsets, envelope, client settings, error mapping."""

from __future__ import annotations

import ssl
from typing import Any

import pytest
from confluent_kafka import TIMESTAMP_CREATE_TIME, KafkaError, KafkaException, Message

from runner.errors import (
    AuthError,
    ConfigurationError,
    ConnectionFailed,
    ExecutionError,
    NotFoundError,
    OperationTimeout,
    ToolpodError,
)
from runner.sources import kafka, kafka_config


@pytest.mark.parametrize(
    ("handles", "offsets"),
    [
        ([], {}),
        (["t:0:0", "t:0:1", "t:0:2"], {("t", 0): 3}),
        (["t:0:5", "t:1:9", "t:0:6"], {("t", 0): 7, ("t", 1): 10}),
        (["a.b-c:2:41"], {("a.b-c", 2): 42}),
    ],
)
def test_commit_exactly_past_the_returned_records(
    handles: list[str], offsets: dict[tuple[str, int], int]
) -> None:
    assert kafka.commit_offsets(handles) == offsets


@pytest.mark.parametrize("bad", ["t:0", "t:x:1", "nonsense"])
def test_a_handle_that_is_not_a_record_id_is_a_configuration_error(bad: str) -> None:
    with pytest.raises(ConfigurationError, match="topic:partition:offset"):
        kafka.commit_offsets([bad])


def _record(value: bytes | None, key: bytes | None = None, headers: Any = ()) -> Any:
    return Message(
        topic="orders",
        partition=1,
        offset=12,
        timestamp=(TIMESTAMP_CREATE_TIME, 1_700_000_000_000),
        key=key,
        value=value,
        headers=list(headers),
    )


@pytest.mark.parametrize(
    ("value", "data", "encoding"),
    [
        (b'{"order_id": 42}', {"order_id": 42}, None),
        (b"hello", "hello", None),
        (b"\xff\x00", "/wA=", "base64"),
        (None, "", None),  # a tombstone
    ],
)
def test_envelope_payloads(value: bytes | None, data: Any, encoding: str | None) -> None:
    msg = kafka.to_message(_record(value))
    assert (msg.data, msg.encoding) == (data, encoding)


def test_envelope_fields() -> None:
    headers = [("X-Kind", b"a"), ("x-kind", b"b"), ("Trace", b"1"), ("Trace", b"2"), ("n", None)]
    msg = kafka.to_message(_record(b"{}", key=b"42", headers=headers))
    assert msg.id == msg.handle == "orders:1:12"
    assert msg.headers == {"x-kind": ["a", "b"], "trace": ["1", "2"], "n": ""}
    assert msg.attributes == {"X-Kind": "a", "x-kind": "b", "Trace": ["1", "2"], "n": ""}
    assert msg.metadata == {
        "topic": "orders",
        "partition": 1,
        "offset": 12,
        "key": "42",
        "timestamp": 1_700_000_000_000,
    }


def test_a_key_that_is_not_utf8_is_base64() -> None:
    meta = kafka.to_message(_record(b"", key=b"\xff")).metadata
    assert (meta["key"], meta["key_encoding"]) == ("/w==", "base64")


def test_drain_settings_never_commit_or_create_on_their_own() -> None:
    config = kafka_config.client_config(["h1:9092", "h2:9092"], "g", {})
    assert config["bootstrap.servers"] == "h1:9092,h2:9092"
    assert config["enable.auto.commit"] is False
    assert config["allow.auto.create.topics"] is False
    assert config["auto.offset.reset"] == "earliest"
    assert config["group.id"] == "g"
    assert config["session.timeout.ms"] < kafka_config.JOIN_BOUND_S * 1000


def test_librdkafka_takes_the_drain_settings() -> None:
    """Every setting is one librdkafka knows (a typo would only fail at the first drain)."""
    from confluent_kafka import Consumer

    pem = ssl.DER_cert_to_PEM_cert(_any_der_certificate())
    cred = {"security_protocol": "sasl_ssl", "sasl_mechanism": "plain", "ssl_cafile": pem}
    cred |= {"username": "u", "password": "p"}
    Consumer(kafka_config.client_config(["127.0.0.1:1"], "g", cred)).close()


@pytest.mark.parametrize(
    ("cred", "expected"),
    [
        ({}, {}),
        (
            {
                "security_protocol": "sasl_ssl",
                "sasl_mechanism": "scram-sha-512",
                "username": "u",
                "password": "p",
            },
            {
                "security.protocol": "SASL_SSL",
                "sasl.mechanism": "SCRAM-SHA-512",
                "sasl.username": "u",
                "sasl.password": "p",
            },
        ),
        (
            {"security_protocol": "SSL", "ssl_cafile": "/etc/ca.pem"},
            {"security.protocol": "SSL", "ssl.ca.location": "/etc/ca.pem"},
        ),
        (
            {"security_protocol": "SSL", "ssl_cafile": "-----BEGIN CERTIFICATE-----\n..."},
            {"security.protocol": "SSL", "ssl.ca.pem": "-----BEGIN CERTIFICATE-----\n..."},
        ),
    ],
)
def test_security_settings_from_the_credential(
    cred: dict[str, Any], expected: dict[str, Any]
) -> None:
    assert kafka_config.security_config(cred) == expected


def _any_der_certificate() -> bytes:
    """A CA certificate from the system store (the content does not matter here)."""
    ctx = ssl.create_default_context()
    certs = ctx.get_ca_certs(binary_form=True)
    if not certs:
        pytest.skip("no system CA certificates to build a PEM from")
    return bytes(certs[0])


def _failed(code: int) -> KafkaException:
    return KafkaException(KafkaError(code))


@pytest.mark.parametrize(
    ("exc", "error"),
    [
        (_failed(KafkaError.TOPIC_AUTHORIZATION_FAILED), AuthError),
        (_failed(KafkaError.GROUP_AUTHORIZATION_FAILED), AuthError),
        (_failed(KafkaError.SASL_AUTHENTICATION_FAILED), AuthError),
        (_failed(KafkaError._AUTHENTICATION), AuthError),
        (_failed(KafkaError.UNKNOWN_TOPIC_OR_PART), NotFoundError),
        (_failed(KafkaError._INVALID_ARG), ConfigurationError),
        (_failed(KafkaError.REBALANCE_IN_PROGRESS), ConnectionFailed),
        (_failed(KafkaError.ILLEGAL_GENERATION), ConnectionFailed),
        (_failed(KafkaError.UNKNOWN_MEMBER_ID), ConnectionFailed),
        (_failed(KafkaError._TIMED_OUT), OperationTimeout),
        (_failed(KafkaError._TRANSPORT), ConnectionFailed),
        (_failed(KafkaError._ALL_BROKERS_DOWN), ConnectionFailed),
        (ConnectionRefusedError(), ConnectionFailed),
        (_failed(KafkaError.TOPIC_EXCEPTION), ExecutionError),
        (ValueError("odd"), ExecutionError),
    ],
)
def test_kafka_errors_are_translated(exc: Exception, error: type[ToolpodError]) -> None:
    e = kafka_config.translate(exc, "poll topic 't' group 'g'")
    assert type(e) is error
    assert e.message.startswith("poll topic 't' group 'g'")
