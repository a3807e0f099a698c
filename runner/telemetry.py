"""OpenTelemetry spans named as NoETL names them (docs/reference.md §6), a no-op unless configured.

OpenTelemetry is imported only when the standard ``OTEL_*`` environment says tracing is wanted,
so the runner's cold path pays nothing for it otherwise.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

_WANTED = (
    "OTEL_EXPORTER_OTLP_ENDPOINT",
    "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
    "OTEL_TRACES_EXPORTER",
)


def enabled() -> bool:
    return any(os.environ.get(k) for k in _WANTED) and os.environ.get("OTEL_SDK_DISABLED") != "true"


@contextmanager
def span(name: str, **attributes: Any) -> Iterator[None]:
    if not enabled():
        yield
        return
    try:
        from opentelemetry import trace
    except ImportError:  # tracing asked for but not installed: run untraced rather than fail
        yield
        return
    attrs = {k: v for k, v in attributes.items() if v is not None}
    with trace.get_tracer("toolpod.runner").start_as_current_span(name, attributes=attrs):
        yield
