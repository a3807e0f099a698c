"""The runner starts a source's open as soon as the invocation is validated, and imports its
executor while the source connects (runner.sources.registry.start_open)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from runner.execute import Run
from runner.sources import registry
from runner.spec.invocation import parse_invocation

KAFKA = {"kind": "subscription", "source": "kafka", "brokers": "127.0.0.1:9", "topic": "t",
         "group": "g", "batch": 5000}
KV_GET = {"kind": "nats", "operation": "kv_get", "bucket": "b", "key": "k"}


def test_a_source_tool_s_open_is_under_way_when_start_open_returns(monkeypatch: pytest.MonkeyPatch) -> None:
    events: list[str] = []

    async def fake_open(tool: Any, credentials: Path, warn: Any) -> str:
        events.append("started")
        warn("from the open")
        await asyncio.sleep(0.01)
        events.append("opened")
        return "client"

    monkeypatch.setattr(registry, "opener", lambda source: fake_open)

    async def main() -> None:
        warnings: list[str] = []
        opening = await registry.start_open(parse_invocation(KAFKA).tool, Path("."), warnings.append)
        assert opening is not None
        assert (events, warnings) == (["started"], ["from the open"])
        assert await opening == "client"

    asyncio.run(main())


def test_a_nats_operation_opens_no_source() -> None:
    assert asyncio.run(registry.start_open(parse_invocation(KV_GET).tool, Path("."), print)) is None


def test_the_invocation_s_warnings_come_before_those_of_an_early_open() -> None:
    invocation = parse_invocation(KAFKA)  # batch 5000 is clamped: a validation warning
    run = Run(invocation, Path("."), sink=None, warnings=["from the open"])  # type: ignore[arg-type]
    assert run.warnings == [*invocation.warnings, "from the open"]
    assert len(run.warnings) == 2
