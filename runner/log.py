"""JSON-lines logging on stderr, with the invocation's correlation ids on every line
(docs/reference.md §6).

stdout stays reserved for the ToolResult (stdout sink), so nothing here ever prints there.
"""

from __future__ import annotations

import json
import logging
import sys
from typing import Any

from runner.endpoints import scrub

_CONTEXT: dict[str, Any] = {
    "execution_id": None,
    "invocation_id": None,
    "tool": None,
    "operation": None,
}


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "ts": self.formatTime(record, "%Y-%m-%dT%H:%M:%S") + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
            **_CONTEXT,
        }
        line.update(getattr(record, "fields", {}))
        # A third-party exception's text may carry an endpoint with user:password@.
        return scrub(json.dumps(line, default=str, ensure_ascii=False))


def setup(level: str = "INFO") -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    JsonFormatter.converter = __import__("time").gmtime
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # nats-py logs connection chatter at INFO/ERROR; toolpod reports errors itself.
    logging.getLogger("nats").setLevel(logging.CRITICAL)
    logging.getLogger("kafka").setLevel(logging.WARNING)


def bind(**fields: Any) -> None:
    """Set correlation fields for every later log line of this process."""
    _CONTEXT.update(fields)


def event(logger: logging.Logger, msg: str, level: int = logging.INFO, /, **fields: Any) -> None:
    logger.log(level, msg, extra={"fields": fields})
