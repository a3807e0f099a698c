"""The ``subscription`` tool kind (docs/reference.md §3): a bounded drain, discriminated by
``source``.

As with the nats tool, each source's model accepts every subscription field: a field meant for
another source or operation is reported in ``warnings`` rather than rejected. The one
cross-field rule (``ack_ids`` with ack/nack/term) lives in a single validator.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import Field, field_validator, model_validator

from runner.endpoints import check
from runner.spec.ack import parse_ack_mode
from runner.spec.common import (
    BATCH_DEFAULT,
    TIMEOUT_DEFAULT_MS,
    Alias,
    Limits,
    NatsConnectionFields,
    NonEmpty,
    StreamName,
    clamp_drain,
)

Operation = Literal["poll", "ack", "nack", "term"]
PubsubPath = Annotated[str, Field(pattern=r"^projects/[^/\s]+/subscriptions/[^/\s]+$")]


class SubscriptionFields(NatsConnectionFields):
    kind: Literal["subscription"]
    if TYPE_CHECKING:  # each source's model declares it as its Literal tag
        source: str
    operation: Operation = "poll"
    auth: Alias | None = None
    batch: int = BATCH_DEFAULT
    timeout_ms: int = TIMEOUT_DEFAULT_MS
    ack: bool | str = "on_success"
    ack_ids: list[NonEmpty] = Field(default_factory=list)
    nack_delay_ms: Annotated[int, Field(ge=0)] = 0
    # nats
    stream: StreamName | None = None
    consumer: StreamName | None = None
    # pubsub
    subscription: PubsubPath | None = None
    endpoint: NonEmpty | None = None
    # kafka
    brokers: NonEmpty | list[NonEmpty] | None = None
    topic: NonEmpty | None = None
    group: NonEmpty | None = None

    @field_validator("ack", mode="before")
    @classmethod
    def _known_ack_mode(cls, value: Any) -> Any:
        parse_ack_mode(value)  # before the union: one message for `ack: 1`, not one per member
        return value

    @field_validator("endpoint")
    @classmethod
    def _endpoint(cls, value: str | None) -> str | None:
        if value is not None:
            check(value, "http", 443, userinfo=False)
        return value

    @field_validator("brokers")
    @classmethod
    def _brokers(cls, value: str | list[str] | None) -> str | list[str] | None:
        for broker in broker_list(value or []):
            check(broker, "kafka", 9092, userinfo=False, path=False)
        return value

    @model_validator(mode="after")
    def _operation_fields(self) -> Any:
        disposing = self.operation != "poll"
        if disposing and not self.ack_ids:
            raise ValueError(f"operation {self.operation} needs tool.ack_ids (a non-empty list)")
        return self

    def used_fields(self) -> set[str]:
        if self.operation == "poll":
            used = {"batch", "timeout_ms", "ack"}
        else:
            used = {"ack_ids", "nack_delay_ms"} if self.operation == "nack" else {"ack_ids"}
        return used | self.source_fields()

    def source_fields(self) -> frozenset[str]:
        return frozenset()

    def clamp(self, limits: Limits) -> None:
        if self.operation == "poll":
            cap = limits.timeout_cap_ms
            self.batch, self.timeout_ms, warnings = clamp_drain(self.batch, self.timeout_ms, cap)
            for w in warnings:
                self.warn(w)


class NatsSubscription(SubscriptionFields):
    source: Literal["nats"]
    stream: StreamName
    consumer: StreamName

    def source_fields(self) -> frozenset[str]:
        return frozenset({"url", "user", "password", "token"})


class PubsubSubscription(SubscriptionFields):
    source: Literal["pubsub"]
    subscription: PubsubPath

    def source_fields(self) -> frozenset[str]:
        return frozenset({"endpoint"})


class KafkaSubscription(SubscriptionFields):
    source: Literal["kafka"]
    brokers: NonEmpty | list[NonEmpty]
    topic: NonEmpty
    group: NonEmpty

    @property
    def broker_list(self) -> list[str]:
        return broker_list(self.brokers)


def broker_list(brokers: str | list[str]) -> list[str]:
    """Brokers as ``"h1:9092,h2:9092"`` or a list, one address each."""
    raw = brokers if isinstance(brokers, list) else brokers.split(",")
    return [b.strip() for b in raw if b.strip()]


SubscriptionTool = Annotated[
    NatsSubscription | PubsubSubscription | KafkaSubscription, Field(discriminator="source")
]
