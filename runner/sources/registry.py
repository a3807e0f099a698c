"""The explicit registry of subscription sources: source name → the module that opens it.

Modules are named, not imported, so a NATS drain never imports the Kafka or Google clients.
Each module exposes ``async def open_source(tool, credentials: Path, warn) -> SourceClient``.
"""

from __future__ import annotations

import importlib
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from runner.sources.base import SourceClient

SOURCES: dict[str, str] = {
    "nats": "runner.sources.nats",
    "pubsub": "runner.sources.pubsub",
    "kafka": "runner.sources.kafka",
}

Opener = Callable[[Any, Path, Callable[[str], None]], Awaitable[SourceClient]]


def opener(source: str) -> Opener:
    module = importlib.import_module(SOURCES[source])
    open_source: Opener = module.open_source
    return open_source
