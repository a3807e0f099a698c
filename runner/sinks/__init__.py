"""Result sinks (SPEC §4, §7): where the runner writes its one ToolResult.

``--sink`` names one: ``stdout`` | ``file:PATH`` | ``nats-kv:BUCKET`` | ``configmap:NAME``.
A sink that can be written twice (``rewritable``) lets the executor write the result *before*
acking a drain and rewrite it with the truthful ``acked`` afterwards (SPEC §5).
"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

from runner.errors import ConfigurationError
from runner.result import ToolResult

SINK_FORMS = "stdout, file:PATH, nats-kv:BUCKET or configmap:NAME"


class Sink(Protocol):
    name: str
    rewritable: bool

    async def write(self, result: ToolResult) -> None:
        """Write durably or raise ``ResultWriteError`` (``ResultTooLarge`` when over a limit)."""
        ...

    async def close(self) -> None: ...


def parse_sink(text: str, *, sink_auth: str | None, credentials: Path) -> Sink:
    """Build the sink ``text`` names; a ``ConfigurationError`` says what forms exist."""
    scheme, _, arg = text.partition(":")
    if scheme == "stdout" and not arg:
        from runner.sinks.local import StdoutSink

        return StdoutSink()
    if scheme == "file" and arg:
        from runner.sinks.local import FileSink

        return FileSink(Path(arg))
    if scheme == "nats-kv" and arg:
        from runner.sinks.nats_kv import NatsKvSink

        return NatsKvSink(arg, sink_auth, credentials)
    if scheme == "configmap" and arg:
        from runner.sinks.configmap import ConfigMapSink

        return ConfigMapSink(arg)
    raise ConfigurationError(f"--sink '{text}' is not a sink; use {SINK_FORMS}")
