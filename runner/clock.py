"""The timestamps of a ToolResult (RFC 3339, UTC, milliseconds), without the result model: the
runner records when an invocation started before it imports pydantic's models."""

from __future__ import annotations

from datetime import UTC, datetime


def now_rfc3339() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
