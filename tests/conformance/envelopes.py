"""NoETL's result envelopes around the messages its drain produced.

``noetl subscribe`` POSTs the drained messages, not the ``data`` its ``subscription`` tool or its
``nats`` tool's ``js_consume`` would return, so the tier wraps the oracle's messages the way
NoETL's own source does (crate ``noetl-tools``: ``src/tools/subscription.rs``, ``execute_poll``;
``src/tools/nats.rs``, ``js_consume``). ``noetl subscribe`` always drains with ack
``on_success``, so these are the envelopes of that mode.
"""

from __future__ import annotations

from typing import Any

JSON = dict[str, Any]


def noetl_acked(source: str, messages: list[JSON]) -> bool:
    """NoETL's ``acked`` after an ``on_success`` drain: its NATS drain reports the mode (true
    even for an empty batch), its Pub/Sub drain whether it acknowledged any ack id."""
    return True if source == "nats" else bool(messages)


def noetl_poll_data(source: str, messages: list[JSON]) -> JSON:
    """``subscription`` ``poll`` ``data`` (``execute_poll``)."""
    return {
        "status": "success",
        "source": source,
        "operation": "poll",
        "count": len(messages),
        "messages": messages,
        "acked": noetl_acked(source, messages),
        "ack_mode": "on_success",
        "ack_ids": [],
        "metrics": {"noetl_subscription_messages_fetched_total": len(messages), "source": source},
    }


def noetl_js_consume_data(stream: str, consumer: str, messages: list[JSON]) -> JSON:
    """The nats tool's ``js_consume`` ``data``: the same drain, each message reshaped."""
    keys = ("subject", "stream_seq", "consumer_seq", "delivered", "pending")
    reshaped = [
        {**{k: m["metadata"].get(k) for k in keys}, "data": m["data"], "headers": m["headers"]}
        for m in messages
    ]
    return {
        "status": "success",
        "stream": stream,
        "consumer": consumer,
        "count": len(reshaped),
        "messages": reshaped,
        "acked": noetl_acked("nats", messages),
    }
