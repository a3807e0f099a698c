"""Result sinks (docs/reference.md §4, §7): where the runner writes its one ToolResult.

``--sink`` names one: ``stdout`` | ``file:PATH`` | ``nats-kv:BUCKET`` | ``configmap:NAME``.
A sink that can be written twice (``rewritable``) lets the executor write the result *before*
acking a drain and rewrite it with the truthful ``acked`` afterwards (docs/reference.md §5).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from runner import contract as C
from runner.errors import ConfigurationError

if TYPE_CHECKING:  # the sinks are chosen before pydantic's models are imported
    from runner.result import ToolResult

SINK_FORMS = "stdout, file:PATH, nats-kv:BUCKET or configmap:NAME"


class Sink(Protocol):
    name: str
    rewritable: bool

    async def prepare(self) -> None:
        """Check the sink can take a result, before the invocation acts (``ToolpodError``)."""
        ...

    async def write(self, result: ToolResult) -> None:
        """Write durably or raise ``ResultWriteError`` (``ResultTooLarge`` when over a limit)."""
        ...

    async def close(self) -> None: ...


#: What each sink's argument may be, checked before anything is read, created or connected.
_NAMES = {
    # A ConfigMap's name: a DNS-1123 subdomain.
    C.SINK_CONFIGMAP: (
        re.compile(C.DNS_SUBDOMAIN),
        253,
        "a Kubernetes object name (lowercase letters, digits, '-' and '.')",
    ),
    C.SINK_NATS_KV: (
        re.compile(r"[A-Za-z0-9_-]+"),
        255,
        "a NATS KV bucket name (letters, digits, '-' and '_')",
    ),
}


def parse_sink(text: str, *, sink_auth: str | None, credentials: Path) -> Sink:
    """Build the sink ``text`` names; a ``ConfigurationError`` says what forms exist."""
    scheme, _, arg = text.partition(":")
    if scheme in _NAMES and arg:
        _check_name(scheme, arg)
    if scheme == C.SINK_STDOUT and not arg:
        from runner.sinks.local import StdoutSink

        return StdoutSink()
    if scheme == C.SINK_FILE and arg:
        from runner.sinks.local import FileSink

        return FileSink(Path(arg))
    if scheme == C.SINK_NATS_KV and arg:
        from runner.sinks.nats_kv import NatsKvSink

        return NatsKvSink(arg, sink_auth, credentials)
    if scheme == C.SINK_CONFIGMAP and arg:
        from runner.sinks.configmap import ConfigMapSink

        return ConfigMapSink(arg)
    shown = repr(text) if len(text) <= 80 else f"of {len(text)} characters"
    raise ConfigurationError(f"--sink {shown} is not a sink; use {SINK_FORMS}")


def _check_name(scheme: str, name: str) -> None:
    pattern, limit, allowed = _NAMES[scheme]
    if len(name) > limit or not pattern.fullmatch(name):
        shown = repr(name) if len(name) <= 80 else f"{len(name)} characters"
        raise ConfigurationError(
            f"--sink {scheme}:NAME: {shown} is not {allowed}, at most {limit} characters"
        )
