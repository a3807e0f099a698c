"""Kafka source: a bounded drain with kafka-python, committing only what was returned (SPEC §3).

One drain is one short-lived member of the consumer group ``group``: it subscribes to ``topic``
(auto-commit off, a new group starts at the earliest offset), joins, fetches at most ``batch``
records, and keeps the consumer open until the executor has written the result; then
``dispose(handles, "ack")`` commits offset+1 per partition of the records it returned, and only
those. ``close`` leaves the group without committing anything else.

Two concurrent drains of one group — the decision: **group membership** (``subscribe``), not
direct assignment. With direct assignment both drains would read from the same committed offset
and return the same records; Kafka offers no compare-and-set on offsets to stop it. Membership
makes the group coordinator the lock: a partition belongs to one member at a time.
    * A drain that joins while another holds the partitions waits for it in its join (the
      holder does not rejoin after its fetch; it commits — accepted while the group prepares
      to rebalance — and leaves on close, which completes the newcomer's join). The join is
      connection set-up: ``timeout_ms`` counts from the moment the drain is assigned.
    * If a rebalance revokes partitions in the middle of a drain, the records fetched from them
      are dropped — never returned, never committed — and whoever owns the partition next
      fetches them again from the committed offset.
    * The join is bounded (``JOIN_BOUND_S``, longer than the session timeout so a killed
      runner's stale membership expires inside it); past it the drain fails with exit 3.
So no record is returned by two drains that both commit, and none is lost. The cost is the join
(~0.1 s on a broker with ``group.initial.rebalance.delay.ms=0``; each drain is a new member of
an empty group, so the broker default of 3 s is paid by every drain — set it to 0 for brokers
that serve drains).

Kafka has no per-message handles: ``supports_handles`` is False, so the ack/nack/term
operations are a configuration error at the executor, and handles (``topic:partition:offset``,
the message id) only travel from poll to commit inside one invocation.

Credentials (optional ``auth``): ``security_protocol``, ``sasl_mechanism``, ``username``,
``password``, ``ssl_cafile`` (a path, or the PEM text itself).

Errors: unreachable bootstrap brokers → ``ConnectionFailed`` after ``CONNECT_BOUND_S``; a topic
missing from the metadata → ``NotFoundError`` naming it (checked before subscribing; the
consumer never auto-creates topics); authorization and SASL failures → ``AuthError``.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import ssl
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from kafka import ConsumerRebalanceListener

from runner.codec import normalise_headers, payload_fields
from runner.credentials import load_alias
from runner.errors import (
    AuthError,
    ConfigurationError,
    ConnectionFailed,
    ExecutionError,
    NotFoundError,
    OperationTimeout,
    ToolpodError,
)
from runner.sources.base import DisposeOutcome, Disposition, Message, PollOptions

#: Bound on reaching the bootstrap brokers and fetching metadata.
CONNECT_BOUND_S = 5.0
#: Bound on joining the group (set-up, before timeout_ms starts): above SESSION_TIMEOUT_MS so a
#: killed runner's leftover membership expires within it.
JOIN_BOUND_S = 15.0
SESSION_TIMEOUT_MS = 10_000
#: How long a holder may take between its fetch and its commit before the group moves on
#: without it (its commit then fails and its records are redelivered).
MAX_POLL_INTERVAL_MS = 60_000
#: The shortest wait for the first records, whatever timeout_ms says (see ``_drain``).
FIRST_FETCH_S = 0.2
#: After the first records, how long one poll may wait for more that are on their way.
TRAILING_POLL_MS = 50
#: After the first records, keep taking ready ones for at most this long past the deadline.
TRAILING_CAP_S = 2.0

Clock = Callable[[], float]
Offsets = dict[tuple[str, int], int]


# -- pure helpers ------------------------------------------------------------------------------


def handle(topic: str, partition: int, offset: int) -> str:
    return f"{topic}:{partition}:{offset}"


def commit_offsets(handles: Iterable[str]) -> Offsets:
    """``{(topic, partition): next offset}`` committing exactly up to the returned records."""
    out: Offsets = {}
    for h in handles:
        try:
            topic, partition, offset = h.rsplit(":", 2)
            key, nxt = (topic, int(partition)), int(offset) + 1
        except ValueError:
            raise ConfigurationError(
                f"'{h[:80]}' is not a Kafka record id topic:partition:offset"
            ) from None
        out[key] = max(out.get(key, 0), nxt)
    return out


def to_message(record: Any) -> Message:
    """A kafka-python ``ConsumerRecord`` in the common envelope."""
    pairs: list[tuple[str, Any]] = [
        (k, v if v is not None else b"") for k, v in (record.headers or [])
    ]
    fields = payload_fields(record.value or b"")
    metadata: dict[str, Any] = {
        "topic": record.topic,
        "partition": record.partition,
        "offset": record.offset,
        "key": None,
        "timestamp": record.timestamp,
    }
    if record.key is not None:
        # a key is an identifier: its text as is (not parsed as JSON), base64 when not UTF-8
        metadata["key"], encoding = text_of(record.key)
        if encoding:
            metadata["key_encoding"] = encoding
    rid = handle(record.topic, record.partition, record.offset)
    return Message(
        id=rid,
        data=fields["data"],
        encoding=fields.get("encoding"),
        headers=normalise_headers(pairs),
        attributes=raw_headers(pairs),
        metadata=metadata,
        handle=rid,
    )


def text_of(raw: bytes) -> tuple[str, str | None]:
    try:
        return raw.decode(), None
    except UnicodeDecodeError:
        return base64.b64encode(raw).decode("ascii"), "base64"


def raw_headers(pairs: Iterable[tuple[str, bytes]]) -> dict[str, Any]:
    """Headers as sent (case kept), values as text; a repeated key gives a list."""
    out: dict[str, list[str]] = {}
    for key, value in pairs:
        out.setdefault(key, []).append(text_of(value)[0])
    return {k: v[0] if len(v) == 1 else v for k, v in out.items()}


def client_config(brokers: list[str], group: str, cred: Mapping[str, Any]) -> dict[str, Any]:
    """kafka-python settings for a drain: no auto-commit, no auto-created topics."""
    config: dict[str, Any] = {
        "bootstrap_servers": brokers,
        "group_id": group,
        "client_id": "toolpod-runner",
        "enable_auto_commit": False,
        "auto_offset_reset": "earliest",
        "allow_auto_create_topics": False,
        "bootstrap_timeout_ms": int(CONNECT_BOUND_S * 1000),
        "request_timeout_ms": 15_000,
        "session_timeout_ms": SESSION_TIMEOUT_MS,
        "heartbeat_interval_ms": SESSION_TIMEOUT_MS // 4,
        "max_poll_interval_ms": MAX_POLL_INTERVAL_MS,
        "reconnect_backoff_max_ms": 1000,
    }
    return config | security_config(cred)


def security_config(cred: Mapping[str, Any]) -> dict[str, Any]:
    """SASL / TLS settings from a credential; nothing for plaintext."""
    out: dict[str, Any] = {}
    if proto := cred.get("security_protocol"):
        out["security_protocol"] = str(proto).upper()
    if mech := cred.get("sasl_mechanism"):
        out["sasl_mechanism"] = str(mech).upper()
    if "username" in cred:
        out["sasl_plain_username"] = str(cred["username"])
    if "password" in cred:
        out["sasl_plain_password"] = str(cred["password"])
    if ca := cred.get("ssl_cafile"):
        if str(ca).lstrip().startswith("-----BEGIN"):
            out["ssl_context"] = ssl.create_default_context(cadata=str(ca))
        else:
            out["ssl_cafile"] = str(ca)
    return out


def translate(e: Exception, what: str) -> ToolpodError:
    """The toolpod error for a kafka-python exception (the one place they are translated)."""
    from kafka import errors as k

    if isinstance(e, ToolpodError):
        return e
    if isinstance(e, k.AuthorizationError | k.SaslAuthenticationFailedError):
        return AuthError(f"{what}: not allowed ({type(e).__name__})")
    if isinstance(e, k.UnknownTopicOrPartitionError):
        return NotFoundError(f"{what}: the topic does not exist")
    if isinstance(e, k.KafkaConfigurationError | k.IllegalArgumentError):
        return ConfigurationError(f"{what}: {e}")
    if isinstance(e, k.CommitFailedError | k.RebalanceInProgressError):
        return ConnectionFailed(f"{what}: the group rebalanced before the commit")
    if isinstance(e, k.KafkaTimeoutError):
        return OperationTimeout(f"{what}: the brokers did not answer in time")
    if (isinstance(e, k.KafkaError) and e.retriable) or isinstance(e, OSError):
        return ConnectionFailed(f"{what}: {type(e).__name__}")
    return ExecutionError(f"{what}: {type(e).__name__}: {e}")


# -- the client --------------------------------------------------------------------------------


class _Membership(ConsumerRebalanceListener):  # type: ignore[misc]
    """Rebalance listener: knows when the join completed and which partitions were revoked."""

    def __init__(self) -> None:
        self.joined = False
        self.revoked: set[tuple[str, int]] = set()

    def on_partitions_revoked(self, revoked: Iterable[Any]) -> None:
        self.revoked |= {(tp.topic, tp.partition) for tp in revoked}

    def on_partitions_assigned(self, assigned: Iterable[Any]) -> None:
        self.joined = True

    def on_partitions_lost(self, lost: Iterable[Any]) -> None:
        self.on_partitions_revoked(lost)


class KafkaSource:
    """One group member for one drain; every blocking kafka-python call runs in a thread."""

    supports_handles = False

    def __init__(self, consumer: Any, topic: str, group: str, clock: Clock = time.monotonic):
        self._consumer, self.topic, self.group, self._clock = consumer, topic, group, clock
        self.what = f"poll topic '{topic}' group '{group}'"
        self._members = _Membership()
        self._subscribed = False

    @classmethod
    async def open(cls, config: dict[str, Any], topic: str) -> KafkaSource:
        what = f"poll topic '{topic}' group '{config['group_id']}'"
        consumer = await asyncio.to_thread(_connect, config, topic, what)
        return cls(consumer, topic, config["group_id"])

    async def poll(self, options: PollOptions) -> list[Message]:
        try:
            records = await asyncio.to_thread(self._drain, options)
        except Exception as e:
            raise translate(e, self.what) from e
        return [to_message(r) for r in records]

    def _drain(self, options: PollOptions) -> list[Any]:
        got: list[Any] = []
        self._join(got, options.batch)
        # The first fetch after a join needs round trips (committed offsets, then data) that are
        # set-up rather than waiting: even timeout_ms 0 gets FIRST_FETCH_S to see what is ready.
        deadline = self._clock() + max(options.timeout_ms / 1000, FIRST_FETCH_S)
        cap: float | None = None
        while len(got) < options.batch:
            if not got:  # wait for the first records (again, if a rebalance took them away)
                if self._clock() >= deadline:
                    break
                self._poll_into(got, options.batch, int((deadline - self._clock()) * 1000))
                continue
            cap = cap or max(deadline, self._clock() + TRAILING_CAP_S)
            if not self._take_more(got, options.batch, cap):
                break
        return got[: options.batch]

    def _take_more(self, got: list[Any], batch: int, cap: float) -> bool:
        """One short poll while more is ready; False once the drain is complete."""
        if self._clock() >= cap or not self._more_ready():
            return False
        return self._poll_into(got, batch, TRAILING_POLL_MS) > 0 or not got

    def _join(self, got: list[Any], batch: int) -> None:
        """Subscribe and poll until the group assigned this member (possibly nothing)."""
        if not self._subscribed:
            self._consumer.subscribe([self.topic], listener=self._members)
            self._subscribed = True
        bound = self._clock() + JOIN_BOUND_S
        while not self._members.joined:
            if self._clock() > bound:
                raise OperationTimeout(
                    f"{self.what}: could not join the consumer group within {JOIN_BOUND_S:g}s "
                    "(another member holds its partitions, or the group keeps rebalancing)"
                )
            self._poll_into(got, batch, 100)

    def _poll_into(self, got: list[Any], batch: int, timeout_ms: int) -> int:
        """One poll for at most what is missing; returns how many records it added."""
        if len(got) >= batch:
            return 0
        by_partition = self._consumer.poll(
            timeout_ms=max(timeout_ms, 0), max_records=batch - len(got)
        )
        if self._members.revoked:  # never return what another member may now fetch
            got[:] = [r for r in got if (r.topic, r.partition) not in self._members.revoked]
            self._members.revoked.clear()
        added = [r for records in by_partition.values() for r in records]
        got.extend(added)
        return len(added)

    def _more_ready(self) -> bool:
        """False only when every assigned partition is known to be read up to its high water."""
        from kafka.errors import KafkaError

        for tp in self._consumer.assignment():
            high = self._consumer.highwater(tp)
            try:
                if high is None or self._consumer.position(tp, timeout_ms=0) < high:
                    return True
            except KafkaError:  # position not known locally yet
                return True
        return False

    async def dispose(
        self, handles: Sequence[str], disposition: Disposition, *, delay_ms: int = 0
    ) -> DisposeOutcome:
        if disposition != "ack":
            raise ConfigurationError(
                f"{disposition} on topic '{self.topic}': Kafka has no per-message handles; "
                "records that are not committed are delivered again"
            )
        offsets = commit_offsets(handles)
        try:
            await asyncio.to_thread(self._commit, offsets)
        except Exception as e:
            raise translate(e, f"commit on topic '{self.topic}' group '{self.group}'") from e
        return DisposeOutcome(requested=len(handles), disposed=len(handles))

    def _commit(self, offsets: Offsets) -> None:
        from kafka import OffsetAndMetadata, TopicPartition

        if offsets:
            self._consumer.commit(
                {
                    TopicPartition(t, p): OffsetAndMetadata(o, "", -1)
                    for (t, p), o in offsets.items()
                },
                timeout_ms=10_000,
            )

    async def close(self) -> None:
        # Leave the group so a waiting drain's join completes at once; never commit here.
        await asyncio.to_thread(self._consumer.close, autocommit=False, timeout_ms=5_000)


class _RefusedLogin(logging.Handler):
    """Catches the broker's refusal of a SASL login or of authorization.

    kafka-python retries a refused login until its bootstrap times out and then raises only the
    timeout; the refusal itself travels only as the exception argument of its log records. We
    keep that exception object (its type, not the text) to report ``auth`` instead of
    ``connection``.
    """

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.refusal: Exception | None = None

    def emit(self, record: logging.LogRecord) -> None:
        from kafka import errors as k

        args = record.args if isinstance(record.args, tuple) else ()
        for arg in args:
            if isinstance(arg, k.SaslAuthenticationFailedError | k.AuthorizationError):
                self.refusal = arg


@contextmanager
def _watch_logins() -> Iterator[_RefusedLogin]:
    logger, watch = logging.getLogger("kafka"), _RefusedLogin()
    level = logger.level
    logger.addHandler(watch)
    logger.setLevel(min(level or logging.WARNING, logging.WARNING))
    try:
        yield watch
    finally:
        logger.removeHandler(watch)
        logger.setLevel(level)


def _connect(config: dict[str, Any], topic: str, what: str) -> Any:
    """A consumer whose brokers answered and whose topic exists (closed again otherwise)."""
    from kafka import KafkaConsumer

    with _watch_logins() as watch:
        try:
            consumer = KafkaConsumer(**config)
        except Exception as e:
            raise _bootstrap_error(e, watch.refusal, config, what) from e
    try:
        found = consumer.partitions_for_topic(topic)
    except Exception as e:
        consumer.close(autocommit=False, timeout_ms=1000)
        raise translate(e, what) from e
    if not found:
        consumer.close(autocommit=False, timeout_ms=1000)
        raise NotFoundError(f"{what}: topic '{topic}' does not exist")
    return consumer


def _bootstrap_error(
    e: Exception, refusal: Exception | None, config: dict[str, Any], what: str
) -> ToolpodError:
    error = translate(e, what)
    if refusal is None and isinstance(error, OperationTimeout | ConnectionFailed):
        from runner.sources import kafka_login

        refusal = kafka_login.refusal(config)  # the refusal kafka-python may have lost
    if refusal is not None:
        return AuthError(f"{what}: the brokers refused the login ({type(refusal).__name__})")
    if isinstance(error, OperationTimeout):  # bootstrap gave up: nothing answered
        brokers = ",".join(config["bootstrap_servers"])
        return ConnectionFailed(f"{what}: no broker of {brokers} answered in time")
    return error


async def open_source(tool: Any, credentials: Path, warn: Callable[[str], None]) -> KafkaSource:
    """Open a drain on ``tool.topic`` as a member of ``tool.group``."""
    cred = load_alias(credentials, tool.auth) if tool.auth else {}
    return await KafkaSource.open(client_config(tool.broker_list, tool.group, cred), tool.topic)
