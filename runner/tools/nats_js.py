"""JetStream operations (docs/reference.md §2): js_publish, js_get_msg, js_stream_info.

``js_consume`` is not here: it is the same bounded drain as ``subscription`` with source nats
and runs through ``runner.sources.nats`` and the executor's ack ordering.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from runner.codec import encode_value, normalise_headers, payload_fields
from runner.errors import ConfigurationError, NotFoundError
from runner.spec import nats as spec
from runner.tools import Data, Registry, Warn

if TYPE_CHECKING:
    from nats.js import JetStreamContext
    from nats.js.api import RawStreamMsg


async def js_publish(js: JetStreamContext, tool: spec.JsPublish, warn: Warn) -> Data:
    headers: dict[str, Any] | None = None
    if tool.headers:
        headers = {}
        for key, value in tool.headers.items():
            if isinstance(value, list):
                # nats-py sends one value per header name; refuse rather than drop values.
                raise ConfigurationError(
                    f"js_publish subject '{tool.subject}': tool.headers.{key} must be a string "
                    "(repeated header values cannot be published)"
                )
            headers[key] = value
    ack = await js.publish(
        tool.subject, encode_value(tool.data), stream=tool.stream, headers=headers
    )
    return {
        "status": "success",
        "stream": ack.stream,
        "seq": ack.seq,
        "duplicate": bool(ack.duplicate),
    }


async def js_get_msg(js: JetStreamContext, tool: spec.JsGetMsg, warn: Warn) -> Data:
    from nats.js.errors import NotFoundError as JsNotFound

    what = f"js_get_msg stream '{tool.stream}'"
    try:
        msg = await _select(js, tool)
    except JsNotFound:
        raise NotFoundError(f"{what}: {_selector(tool)} not found") from None
    return {
        "status": "success",
        "stream": tool.stream,
        "subject": msg.subject,
        "seq": msg.seq,
        **payload_fields(msg.data or b""),
        "headers": normalise_headers(msg.headers or {}),
        "time": msg.time.isoformat().replace("+00:00", "Z") if msg.time else None,
    }


async def _select(js: JetStreamContext, tool: spec.JsGetMsg) -> RawStreamMsg:
    # Precedence (docs/reference.md §2): seq, then last (on subject when given, else in the stream),
    # then subject (its last message).
    if tool.seq is not None:
        return await js.get_msg(tool.stream, seq=tool.seq)
    if tool.subject is not None:
        return await js.get_last_msg(tool.stream, tool.subject)
    info = await _stream_info(js, tool.stream, "js_get_msg")
    if not info.state.last_seq:
        raise NotFoundError(f"js_get_msg stream '{tool.stream}': the stream is empty")
    return await js.get_msg(tool.stream, seq=info.state.last_seq)


def _selector(tool: spec.JsGetMsg) -> str:
    if tool.seq is not None:
        return f"message seq {tool.seq}"
    if tool.subject is not None:
        return f"last message on subject '{tool.subject}'"
    return "last message"


async def _stream_info(js: JetStreamContext, stream: str, op: str) -> Any:
    from nats.js.errors import NotFoundError as JsNotFound

    try:
        return await js.stream_info(stream)
    except JsNotFound:
        raise NotFoundError(f"{op} stream '{stream}': stream does not exist") from None


async def js_stream_info(js: JetStreamContext, tool: spec.JsStreamInfo, warn: Warn) -> Data:
    info = await _stream_info(js, tool.stream, "js_stream_info")
    cfg, state = info.config, info.state
    retention = getattr(cfg.retention, "value", cfg.retention)
    return {
        "status": "success",
        "stream": cfg.name,
        "config": {
            "name": cfg.name,
            "subjects": list(cfg.subjects or []),
            "retention": retention,
            "max_msgs": cfg.max_msgs,
            "max_bytes": cfg.max_bytes,
            "max_age": cfg.max_age,
        },
        "state": {
            "messages": state.messages,
            "bytes": state.bytes,
            "first_seq": state.first_seq,
            "last_seq": state.last_seq,
            "consumer_count": state.consumer_count,
        },
    }


#: This module's operations, by the spec model each one performs.
OPERATIONS: Registry = {
    spec.JsPublish: js_publish,
    spec.JsGetMsg: js_get_msg,
    spec.JsStreamInfo: js_stream_info,
}
