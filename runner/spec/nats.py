"""The ``nats`` tool kind (docs/reference.md §2): one model per operation, discriminated by
``operation``.

Every operation model accepts every field the nats tool knows (so a field meant for another
operation is a warning, not an error) and declares the fields its operation requires as
required. Connection fields may come from here or from the ``auth`` credential; explicit fields
here win (README: "Decisions the spec left to us").
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any, ClassVar, Literal

from pydantic import Field, field_validator, model_validator

from runner.codec import b64decode_strict, encode_value
from runner.spec.ack import parse_ack_mode
from runner.spec.common import (
    BATCH_DEFAULT,
    TIMEOUT_DEFAULT_MS,
    Alias,
    BucketName,
    KvKey,
    Limits,
    NatsConnectionFields,
    NonEmpty,
    Seq,
    StreamName,
    Subject,
    clamp_drain,
)

HeaderValue = str | list[str]
Encoding = Literal["utf-8", "base64"]


class NatsFields(NatsConnectionFields):
    """Every field of the nats tool, all optional; operations narrow what they require."""

    kind: Literal["nats"]
    if TYPE_CHECKING:  # each operation's model declares it as its Literal tag
        operation: str
    auth: Alias | None = None
    bucket: BucketName | None = None
    key: KvKey | None = None
    value: Any = None
    ttl: Annotated[float, Field(gt=0)] | None = None
    pattern: NonEmpty | None = None
    name: NonEmpty | None = None
    data: Any = None
    encoding: Encoding = "utf-8"
    description: str | None = None
    subject: Subject | None = None
    headers: dict[str, HeaderValue] | None = None
    stream: StreamName | None = None
    seq: Seq | None = None
    last: bool | None = None
    consumer: StreamName | None = None
    batch: int = BATCH_DEFAULT
    timeout_ms: int = TIMEOUT_DEFAULT_MS
    ack: bool | str = True

    @classmethod
    def connection_fields(cls) -> set[str]:
        return {"url", "user", "password", "token"}

    @field_validator("ack", mode="before")
    @classmethod
    def _known_ack_mode(cls, value: Any) -> Any:
        parse_ack_mode(value)  # before the union: one message for `ack: 1`, not one per member
        return value


class KvGet(NatsFields):
    operation: Literal["kv_get"]
    bucket: BucketName
    key: KvKey


class KvPut(NatsFields):
    operation: Literal["kv_put"]
    uses = frozenset({"ttl"})
    bucket: BucketName
    key: KvKey
    value: Any


class KvDelete(NatsFields):
    operation: Literal["kv_delete"]
    bucket: BucketName
    key: KvKey


class KvKeys(NatsFields):
    operation: Literal["kv_keys"]
    uses = frozenset({"pattern"})
    bucket: BucketName


class KvPurge(NatsFields):
    operation: Literal["kv_purge"]
    bucket: BucketName
    key: KvKey


class ObjectGet(NatsFields):
    operation: Literal["object_get"]
    uses = frozenset({"encoding"})
    bucket: BucketName
    name: NonEmpty


class ObjectPut(NatsFields):
    operation: Literal["object_put"]
    uses = frozenset({"encoding", "description"})
    bucket: BucketName
    name: NonEmpty
    data: Any

    @model_validator(mode="after")
    def _payload(self) -> ObjectPut:
        if self.encoding == "base64":
            if not isinstance(self.data, str):
                raise ValueError("tool.data must be a base64 string when tool.encoding is base64")
            try:
                b64decode_strict(self.data)
            except ValueError as e:
                raise ValueError(f"tool.data is {e} (tool.encoding is base64)") from None
        return self

    def payload(self) -> bytes:
        if self.encoding == "base64":
            return b64decode_strict(str(self.data))
        return encode_value(self.data)


class ObjectDelete(NatsFields):
    operation: Literal["object_delete"]
    bucket: BucketName
    name: NonEmpty


class ObjectList(NatsFields):
    operation: Literal["object_list"]
    bucket: BucketName


class ObjectInfo(NatsFields):
    operation: Literal["object_info"]
    bucket: BucketName
    name: NonEmpty


class JsPublish(NatsFields):
    operation: Literal["js_publish"]
    uses = frozenset({"headers", "stream"})
    subject: Subject
    data: Any


class JsGetMsg(NatsFields):
    operation: Literal["js_get_msg"]
    uses = frozenset({"seq", "last", "subject"})
    stream: StreamName

    @model_validator(mode="after")
    def _one_selector(self) -> JsGetMsg:
        if self.seq is None and not self.last and self.subject is None:
            raise ValueError("js_get_msg needs one of tool.seq, tool.last: true or tool.subject")
        return self


class JsStreamInfo(NatsFields):
    operation: Literal["js_stream_info"]
    stream: StreamName


class JsConsume(NatsFields):
    """A drain, like a ``subscription`` with source nats (the executor drains it as one)."""

    operation: Literal["js_consume"]
    source: ClassVar[str] = "nats"
    uses = frozenset({"batch", "timeout_ms", "ack"})
    stream: StreamName
    consumer: StreamName

    def clamp(self, limits: Limits) -> None:
        cap = limits.timeout_cap_ms
        self.batch, self.timeout_ms, warnings = clamp_drain(self.batch, self.timeout_ms, cap)
        for w in warnings:
            self.warn(w)


NatsTool = Annotated[
    KvGet
    | KvPut
    | KvDelete
    | KvKeys
    | KvPurge
    | ObjectGet
    | ObjectPut
    | ObjectDelete
    | ObjectList
    | ObjectInfo
    | JsPublish
    | JsGetMsg
    | JsStreamInfo
    | JsConsume,
    Field(discriminator="operation"),
]
