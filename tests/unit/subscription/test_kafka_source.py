"""Pure parts of the Kafka source: commit offsets, envelope, client settings, error mapping."""

from __future__ import annotations

import ssl
from typing import Any

import pytest
from kafka import errors as kerrors
from kafka.consumer.fetcher import ConsumerRecord

from runner.errors import (
    AuthError,
    ConfigurationError,
    ConnectionFailed,
    ExecutionError,
    NotFoundError,
    OperationTimeout,
    ToolpodError,
)
from runner.sources import kafka


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
    return ConsumerRecord(
        topic="orders",
        partition=1,
        leader_epoch=0,
        offset=12,
        timestamp=1_700_000_000_000,
        timestamp_type=0,
        key=key,
        value=value,
        headers=list(headers),
        checksum=None,
        serialized_key_size=-1,
        serialized_value_size=-1,
        serialized_header_size=-1,
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
    config = kafka.client_config(["h1:9092", "h2:9092"], "g", {})
    assert config["enable_auto_commit"] is False
    assert config["allow_auto_create_topics"] is False
    assert config["auto_offset_reset"] == "earliest"
    assert config["group_id"] == "g"
    assert config["session_timeout_ms"] < kafka.JOIN_BOUND_S * 1000


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
                "security_protocol": "SASL_SSL",
                "sasl_mechanism": "SCRAM-SHA-512",
                "sasl_plain_username": "u",
                "sasl_plain_password": "p",
            },
        ),
        (
            {"security_protocol": "SSL", "ssl_cafile": "/etc/ca.pem"},
            {"security_protocol": "SSL", "ssl_cafile": "/etc/ca.pem"},
        ),
    ],
)
def test_security_settings_from_the_credential(
    cred: dict[str, Any], expected: dict[str, Any]
) -> None:
    assert kafka.security_config(cred) == expected


def test_a_pem_ca_in_the_credential_becomes_an_ssl_context() -> None:
    pem = ssl.DER_cert_to_PEM_cert(_any_der_certificate())
    out = kafka.security_config({"security_protocol": "SSL", "ssl_cafile": pem})
    assert isinstance(out["ssl_context"], ssl.SSLContext)
    assert "ssl_cafile" not in out


def _any_der_certificate() -> bytes:
    """A CA certificate from the system store (the content does not matter here)."""
    ctx = ssl.create_default_context()
    certs = ctx.get_ca_certs(binary_form=True)
    if not certs:
        pytest.skip("no system CA certificates to build a PEM from")
    return bytes(certs[0])


@pytest.mark.parametrize(
    ("exc", "error"),
    [
        (kerrors.TopicAuthorizationFailedError(), AuthError),
        (kerrors.SaslAuthenticationFailedError(), AuthError),
        (kerrors.UnknownTopicOrPartitionError(), NotFoundError),
        (kerrors.KafkaConfigurationError("bad"), ConfigurationError),
        (kerrors.CommitFailedError(), ConnectionFailed),
        (kerrors.RebalanceInProgressError(), ConnectionFailed),
        (kerrors.KafkaTimeoutError(), OperationTimeout),
        (
            kerrors.NoBrokersAvailable()
            if hasattr(kerrors, "NoBrokersAvailable")
            else kerrors.KafkaConnectionError(),
            ConnectionFailed,
        ),
        (ConnectionRefusedError(), ConnectionFailed),
        (kerrors.InvalidTopicError(), ExecutionError),
    ],
)
def test_kafka_errors_are_translated(exc: Exception, error: type[ToolpodError]) -> None:
    e = kafka.translate(exc, "poll topic 't' group 'g'")
    assert type(e) is error
    assert e.message.startswith("poll topic 't' group 'g'")
