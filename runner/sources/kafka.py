"""Kafka source: a bounded drain with librdkafka (confluent-kafka), committing only what was
returned (docs/reference.md §3).

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
      holder does not poll again after its fetch, so it does not rejoin; it commits — accepted
      while the group prepares to rebalance — and leaves on close, which completes the
      newcomer's join). The join is connection set-up: ``timeout_ms`` counts from the moment
      the drain is assigned.
    * If a rebalance revokes partitions in the middle of a drain, the records fetched from them
      are dropped — never returned, never committed — and whoever owns the partition next
      fetches them again from the committed offset.
    * The join is bounded (``JOIN_BOUND_S``, longer than the session timeout so a killed
      runner's stale membership expires inside it); past it the drain fails with exit 3.
So no record is returned by two drains that both commit, and none is lost.

Kafka has no per-message handles: ``supports_handles`` is False, so the ack/nack/term
operations are a configuration error at the executor, and handles (``topic:partition:offset``,
the message id) only travel from poll to commit inside one invocation.

Why librdkafka, and where a drain's time goes: docs/sources.md ("Kafka"). Settings, credentials
and error translation: ``runner.sources.kafka_config``.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import logging
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

from confluent_kafka import (
    OFFSET_BEGINNING,
    TIMESTAMP_NOT_AVAILABLE,
    Consumer,
    KafkaError,
    KafkaException,
    TopicPartition,
)

from runner import termination
from runner.codec import normalise_headers, payload_fields
from runner.credentials import load_alias
from runner.daemon import in_daemon_thread
from runner.errors import (
    AuthError,
    ConfigurationError,
    ConnectionFailed,
    NotFoundError,
    OperationTimeout,
)
from runner.sources.base import DisposeOutcome, Disposition, Message, PollOptions
from runner.sources.kafka_config import (
    CONNECT_BOUND_S,
    JOIN_BOUND_S,
    REQUEST_TIMEOUT_MS,
    client_config,
    code_of,
    ends_the_drain,
    is_refusal,
    translate,
    unreachable,
)

#: How long a commit (and leaving the group) may take.
COMMIT_BOUND_S = 15.0
#: How long the metadata request after a drain may take before the brokers count as stopped.
LIVENESS_S = 2.0
#: The shortest wait for the first records, whatever timeout_ms says (see ``_drain``).
FIRST_FETCH_S = 0.2
#: After the first records, how long one poll may wait for more that are on their way.
TRAILING_POLL_MS = 50
#: After the first records, keep taking ready ones for at most this long past the deadline.
TRAILING_CAP_S = 2.0
#: The longest one wait for records blocks: a drain told to stop (SIGTERM) ends within it.
WAIT_SLICE_MS = 100
#: The topic look-up is retried in slices this long, so a refused login ends it at once.
CONNECT_SLICE_S = 0.25
#: librdkafka's own log lines, through the runner's JSON logging (the "kafka" level applies).
LIBRDKAFKA_LOG = logging.getLogger("kafka.librdkafka")

Clock = Callable[[], float]
Offsets = dict[tuple[str, int], int]
Partition = tuple[str, int]


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
    """A confluent-kafka ``Message`` (a record, not an event) in the common envelope."""
    pairs: list[tuple[str, Any]] = [
        (k, v if v is not None else b"") for k, v in (record.headers() or [])
    ]
    fields = payload_fields(record.value() or b"")
    kind, timestamp = record.timestamp()
    metadata: dict[str, Any] = {
        "topic": record.topic(),
        "partition": record.partition(),
        "offset": record.offset(),
        "key": None,
        "timestamp": None if kind == TIMESTAMP_NOT_AVAILABLE else timestamp,
    }
    if (key := record.key()) is not None:
        # a key is an identifier: its text as is (not parsed as JSON), base64 when not UTF-8
        metadata["key"], encoding = text_of(key)
        if encoding:
            metadata["key_encoding"] = encoding
    rid = handle(record.topic(), record.partition(), record.offset())
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


# -- the client --------------------------------------------------------------------------------


class _Membership:
    """Rebalance callbacks: when the join completed, which partitions were revoked, and which
    are read up to their end (librdkafka's end-of-partition events)."""

    def __init__(self) -> None:
        self.joined = False
        self.revoked: set[Partition] = set()
        self.at_end: set[Partition] = set()

    def on_assign(self, consumer: Any, partitions: list[TopicPartition]) -> None:
        # Start at the group's committed offsets, or at the beginning where there are none.
        # librdkafka would fetch the same offsets itself, but it waits a fixed 100 ms before it
        # looks up the beginning of a partition without one (every first drain of a group).
        # Read here by the member that now owns the partitions, they are the same offsets.
        committed = consumer.committed(partitions, timeout=REQUEST_TIMEOUT_MS / 1000)
        for tp in committed:
            if tp.error is not None:
                raise KafkaException(tp.error)
            if tp.offset < 0:
                tp.offset = OFFSET_BEGINNING
        consumer.assign(committed)
        self.joined = True

    def on_revoke(self, consumer: Any, partitions: list[TopicPartition]) -> None:
        gone = {(tp.topic, tp.partition) for tp in partitions}
        self.revoked |= gone
        self.at_end -= gone

    on_lost = on_revoke


class KafkaSource:
    """One group member for one drain; every blocking librdkafka call runs in a thread."""

    supports_handles = False

    def __init__(self, consumer: Any, topic: str, group: str, clock: Clock = time.monotonic):
        self._consumer, self.topic, self.group, self._clock = consumer, topic, group, clock
        self.what = f"poll topic '{topic}' group '{group}'"
        self._members = _Membership()
        self._subscribed = False
        self._stopping = threading.Event()
        #: the drain ended on what the broker sent, not on its clock (see ``_alive``)
        self._heard_last = False

    @classmethod
    async def open(cls, config: dict[str, Any], topic: str) -> KafkaSource:
        what = f"poll topic '{topic}' group '{config['group.id']}'"
        consumer = await asyncio.to_thread(_connect, config, topic, what)
        return cls(consumer, topic, config["group.id"])

    async def poll(self, options: PollOptions) -> list[Message]:
        drain = asyncio.ensure_future(asyncio.to_thread(self._drain, options))
        try:
            with termination.acknowledging():  # waiting for the drain's thread must not be cut
                records = await asyncio.shield(drain)
        except asyncio.CancelledError:
            # SIGTERM: the drain's thread stops within one wait slice, and only then may close
            # run — librdkafka's consumer must not be closed under a running consume call.
            self._stopping.set()
            with contextlib.suppress(Exception):
                await drain
            raise
        except Exception as e:
            raise translate(e, self.what) from e
        if not self._heard_last:
            await asyncio.to_thread(self._alive)
        return [to_message(r) for r in records]

    def _alive(self) -> None:
        """A frozen broker gives empty polls, like an empty topic: a metadata round trip after
        a drain that its clock ended tells them apart (an outage is exit 3, never ``count: 0``).

        A drain that ended on the broker's word — a full batch, or records and then the end of
        every assigned partition — heard from it in its last poll, and skips the round trip: it
        waited behind the drain's long-polling fetch (the broker answers one request of a
        connection at a time), up to ``fetch.wait.max.ms`` of every such drain."""
        try:
            self._consumer.list_topics(self.topic, timeout=LIVENESS_S)
        except KafkaException as e:
            raise OperationTimeout(
                f"{self.what}: the brokers stopped answering during the drain (no metadata "
                f"within {LIVENESS_S:g}s); nothing was committed"
            ) from e

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
            if self._clock() >= cap or self._read_to_end():
                break
            self._poll_into(got, options.batch, TRAILING_POLL_MS)
        self._heard_last = len(got) >= options.batch or (bool(got) and self._read_to_end())
        return got[: options.batch]

    def _join(self, got: list[Any], batch: int) -> None:
        """Subscribe and poll until the group assigned this member (possibly nothing)."""
        if not self._subscribed:
            m = self._members
            self._consumer.subscribe(
                [self.topic], on_assign=m.on_assign, on_revoke=m.on_revoke, on_lost=m.on_lost
            )
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
        if self._stopping.is_set():
            raise _Stopped
        if len(got) >= batch:
            return 0
        # what is already here, else wait (up to timeout_ms, in slices) for the next one
        wait_s = min(max(timeout_ms, 0), WAIT_SLICE_MS) / 1000
        events = self._consumer.consume(batch - len(got), timeout=0) or self._consumer.consume(
            1, timeout=wait_s
        )
        if self._members.revoked:  # never return what another member may now fetch
            got[:] = [r for r in got if (r.topic(), r.partition()) not in self._members.revoked]
            self._members.revoked.clear()
        before = len(got)
        for event in events:
            self._take(event, got)
        return len(got) - before

    def _take(self, event: Any, got: list[Any]) -> None:
        """A record joins ``got``; an end of partition is noted; a real error ends the drain."""
        where = (event.topic(), event.partition())
        error = event.error()
        if error is None:
            got.append(event)
            self._members.at_end.discard(where)
        elif error.code() == KafkaError._PARTITION_EOF:
            self._members.at_end.add(where)
        elif ends_the_drain(error):
            raise KafkaException(error)
        # anything else is librdkafka reporting what it retries by itself; the bounds apply

    def _read_to_end(self) -> bool:
        """Every assigned partition is read up to its end: nothing more is ready."""
        assigned = {(tp.topic, tp.partition) for tp in self._consumer.assignment()}
        return assigned <= self._members.at_end

    async def dispose(
        self, handles: Sequence[str], disposition: Disposition, *, delay_ms: int = 0
    ) -> DisposeOutcome:
        if disposition != "ack":
            raise ConfigurationError(
                f"{disposition} on topic '{self.topic}': Kafka has no per-message handles; "
                "records that are not committed are delivered again"
            )
        offsets = commit_offsets(handles)
        what = f"commit on topic '{self.topic}' group '{self.group}'"
        try:
            # librdkafka's synchronous commit has no bound of its own: a frozen coordinator
            # holds it for good. Bounded here, in a thread the process can exit past.
            await asyncio.wait_for(in_daemon_thread(self._commit, offsets), COMMIT_BOUND_S)
        except TimeoutError:
            raise OperationTimeout(
                f"{what}: the coordinator did not confirm within {COMMIT_BOUND_S:g}s"
            ) from None
        except Exception as e:
            raise translate(e, what) from e
        return DisposeOutcome(requested=len(handles), disposed=len(handles))

    def _commit(self, offsets: Offsets) -> None:
        if not offsets:
            return
        done = self._consumer.commit(
            offsets=[TopicPartition(t, p, o) for (t, p), o in offsets.items()],
            asynchronous=False,
        )
        for tp in done or []:
            if tp.error is not None:
                raise KafkaException(tp.error)

    async def close(self) -> None:
        # Leave the group so a waiting drain's join completes at once; never commit here.
        # Bounded like the commit: leaving a frozen coordinator's group would wait for good.
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(in_daemon_thread(self._consumer.close), COMMIT_BOUND_S)


class _Stopped(Exception):
    """The drain was told to stop (the invocation was cancelled); nothing it fetched counts."""


class _Refusals:
    """librdkafka's error callback: remembers a refused login or a missing permission, which
    it otherwise only retries until the bootstrap bound runs out."""

    def __init__(self) -> None:
        self.refusal: str | None = None

    def __call__(self, error: KafkaError) -> None:
        if is_refusal(error.code()):
            self.refusal = error.name()


def _connect(config: dict[str, Any], topic: str, what: str) -> Any:
    """A consumer whose brokers answered and whose topic exists (closed again otherwise)."""
    refusals = _Refusals()
    try:
        consumer = Consumer({**config, "error_cb": refusals, "logger": LIBRDKAFKA_LOG})
    except (KafkaException, ValueError, TypeError) as e:
        raise ConfigurationError(f"{what}: the client settings were refused: {e}") from None
    try:
        _look_up(consumer, topic, refusals, what, config["bootstrap.servers"])
    except BaseException:
        consumer.close()
        raise
    return consumer


def _look_up(consumer: Any, topic: str, refusals: _Refusals, what: str, brokers: str) -> None:
    """Reach a broker and find ``topic`` in the metadata, within ``CONNECT_BOUND_S``."""
    bound = time.monotonic() + CONNECT_BOUND_S
    while True:
        started = time.monotonic()
        try:
            metadata = consumer.list_topics(topic, timeout=CONNECT_SLICE_S)
            break
        except KafkaException as e:
            consumer.poll(0)  # serves the error callback: a refused login is reported there
            if refusals.refusal is not None:
                raise AuthError(
                    f"{what}: the brokers refused the login ({refusals.refusal})"
                ) from None
            if not unreachable(code_of(e)):
                raise translate(e, what) from e
            if time.monotonic() >= bound:
                raise ConnectionFailed(f"{what}: no broker of {brokers} answered in time") from e
            time.sleep(max(0.0, started + CONNECT_SLICE_S - time.monotonic()))
    found = metadata.topics.get(topic)
    if found is not None and found.error is not None and is_refusal(found.error.code()):
        raise AuthError(f"{what}: not allowed to read topic '{topic}'")
    if found is None or found.error is not None:
        raise NotFoundError(f"{what}: topic '{topic}' does not exist")


async def open_source(tool: Any, credentials: Path, warn: Callable[[str], None]) -> KafkaSource:
    """Open a drain on ``tool.topic`` as a member of ``tool.group``."""
    cred = load_alias(credentials, tool.auth) if tool.auth else {}
    return await KafkaSource.open(client_config(tool.broker_list, tool.group, cred), tool.topic)
