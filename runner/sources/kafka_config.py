"""How the Kafka source talks to librdkafka (confluent-kafka): the consumer's settings, and the
one place its errors become toolpod errors.

The settings are those of a short-lived group member that commits only what it returned:
auto-commit off, no auto-created topics, a new group starts at the earliest offset. Why each
timing is what it is: docs/sources.md ("Kafka").
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from confluent_kafka import KafkaError, KafkaException

from runner.errors import (
    AuthError,
    ConfigurationError,
    ConnectionFailed,
    ExecutionError,
    NotFoundError,
    OperationTimeout,
    ToolpodError,
)

#: Bound on reaching the bootstrap brokers and looking the topic up.
CONNECT_BOUND_S = 5.0
#: Bound on joining the group (set-up, before timeout_ms starts): above SESSION_TIMEOUT_MS so a
#: killed runner's leftover membership expires within it.
JOIN_BOUND_S = 15.0
SESSION_TIMEOUT_MS = 10_000
#: How long a holder may take between its fetch and its commit before the group moves on
#: without it (its commit then fails and its records are redelivered).
MAX_POLL_INTERVAL_MS = 60_000
#: How long the broker holds a fetch that has nothing new. Only a drain that asks for more than
#: is there waits on it (to learn it has read everything), so it is short; the cost is one
#: empty fetch per 50 ms per open drain, for the few seconds a drain lasts.
FETCH_WAIT_MAX_MS = 50
#: librdkafka's timeout of each broker request (socket.timeout.ms). It does not bound the
#: synchronous commit or leaving the group on a frozen coordinator: the source bounds those.
REQUEST_TIMEOUT_MS = 10_000
#: The first reconnect backoff (reconnect.backoff.ms, default 100). librdkafka also spaces its
#: connections to "any broker" by half of it: after the bootstrap connection's metadata names
#: the real broker, the bootstrap handle is dropped and the topic look-up waited those 50 ms
#: for a connection to the named one (its debug log: "still suppressed for 49ms"); 11 ms here.
#: The backoff still doubles up to reconnect.backoff.max.ms on a broker that stays away.
RECONNECT_BACKOFF_MS = 20

_AUTH = {
    KafkaError._AUTHENTICATION,
    KafkaError.SASL_AUTHENTICATION_FAILED,
    KafkaError.TOPIC_AUTHORIZATION_FAILED,
    KafkaError.GROUP_AUTHORIZATION_FAILED,
    KafkaError.CLUSTER_AUTHORIZATION_FAILED,
}
_MISSING = {KafkaError.UNKNOWN_TOPIC_OR_PART, KafkaError._UNKNOWN_TOPIC}
_CONFIG = {KafkaError._INVALID_ARG, KafkaError.INVALID_CONFIG, KafkaError._UNSUPPORTED_FEATURE}
#: The commit of a member the group has moved past: its records go to the next owner.
_REBALANCED = {
    KafkaError.REBALANCE_IN_PROGRESS,
    KafkaError.ILLEGAL_GENERATION,
    KafkaError.UNKNOWN_MEMBER_ID,
    KafkaError.FENCED_INSTANCE_ID,
    KafkaError._MAX_POLL_EXCEEDED,
}
_TIMED_OUT = {KafkaError._TIMED_OUT, KafkaError.REQUEST_TIMED_OUT}
_UNREACHABLE = {KafkaError._TRANSPORT, KafkaError._ALL_BROKERS_DOWN, KafkaError._RESOLVE}


def client_config(brokers: list[str], group: str, cred: Mapping[str, Any]) -> dict[str, Any]:
    """librdkafka settings for a drain: no auto-commit, no auto-created topics."""
    config: dict[str, Any] = {
        "bootstrap.servers": ",".join(brokers),
        "group.id": group,
        "client.id": "toolpod-runner",
        "enable.auto.commit": False,
        "enable.auto.offset.store": False,
        "auto.offset.reset": "earliest",
        "allow.auto.create.topics": False,
        "session.timeout.ms": SESSION_TIMEOUT_MS,
        "heartbeat.interval.ms": SESSION_TIMEOUT_MS // 4,
        "max.poll.interval.ms": MAX_POLL_INTERVAL_MS,
        "fetch.wait.max.ms": FETCH_WAIT_MAX_MS,
        "socket.timeout.ms": REQUEST_TIMEOUT_MS,
        "reconnect.backoff.ms": RECONNECT_BACKOFF_MS,
        "reconnect.backoff.max.ms": 1000,
        # a drain reads the end of a partition as "read up to here", not as an error
        "enable.partition.eof": True,
    }
    return config | security_config(cred)


def security_config(cred: Mapping[str, Any]) -> dict[str, Any]:
    """SASL / TLS settings from a credential; nothing for plaintext."""
    out: dict[str, Any] = {}
    if proto := cred.get("security_protocol"):
        out["security.protocol"] = str(proto).upper()
    if mech := cred.get("sasl_mechanism"):
        out["sasl.mechanism"] = str(mech).upper()
    if "username" in cred:
        out["sasl.username"] = str(cred["username"])
    if "password" in cred:
        out["sasl.password"] = str(cred["password"])
    if ca := cred.get("ssl_cafile"):
        pem = str(ca).lstrip().startswith("-----BEGIN")
        out["ssl.ca.pem" if pem else "ssl.ca.location"] = str(ca)
    return out


def code_of(e: BaseException) -> int | None:
    """The librdkafka error code a ``KafkaException`` carries (None for anything else)."""
    if isinstance(e, KafkaException) and e.args and isinstance(e.args[0], KafkaError):
        return int(e.args[0].code())
    return None


def is_refusal(code: int | None) -> bool:
    """A refused login or a missing permission: retrying with the same credential is futile."""
    return code in _AUTH


def unreachable(code: int | None) -> bool:
    """No broker answered (yet): worth retrying until the connect bound."""
    return code in _UNREACHABLE or code in _TIMED_OUT


def ends_the_drain(error: KafkaError) -> bool:
    """An error event from ``consume`` that retrying cannot fix; librdkafka retries the rest."""
    return bool(error.fatal()) or error.code() in _AUTH or error.code() in _MISSING


def translate(e: Exception, what: str) -> ToolpodError:
    """The toolpod error for a confluent-kafka exception (the one place they are translated)."""
    if isinstance(e, ToolpodError):
        return e
    code = code_of(e)
    if code is None:
        if isinstance(e, OSError):
            return ConnectionFailed(f"{what}: {type(e).__name__}")
        return ExecutionError(f"{what}: {type(e).__name__}: {e}")
    name = KafkaError(code).name()
    if code in _AUTH:
        return AuthError(f"{what}: not allowed ({name})")
    if code in _MISSING:
        return NotFoundError(f"{what}: the topic does not exist")
    if code in _CONFIG:
        return ConfigurationError(f"{what}: {KafkaError(code).str()}")
    if code in _REBALANCED:
        return ConnectionFailed(f"{what}: the group rebalanced before the commit ({name})")
    if code in _TIMED_OUT:
        return OperationTimeout(f"{what}: the brokers did not answer in time")
    if code in _UNREACHABLE or e.args[0].retriable():
        return ConnectionFailed(f"{what}: {name}")
    return ExecutionError(f"{what}: {name}: {KafkaError(code).str()}")
