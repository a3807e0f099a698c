#!/usr/bin/env python3
"""One Kafka drain through the runner's own CLI code, in a fresh process, timed by phase.

``bench/drain.py --phases`` runs it several times and prints the medians. It is the runner's
``run`` command, in-process, with timing wrappers around the Kafka source's phases:

    start      interpreter start-up, until this script's first line (from the parent's clock)
    imports    runner.cli, then the invocation/result models (the subscription family's), then
               runner.sources.kafka
    connect    reach a bootstrap broker (ApiVersions, Metadata) and look the topic up
    join       subscribe until assigned: FindCoordinator, JoinGroup, SyncGroup, and the
               OffsetFetch of the committed offsets (read in the assignment callback)
    fetch      from assigned to a complete drain: ListOffsets (a new group), Fetches
    commit     OffsetCommit of what was returned
    close      leaving the group (LeaveGroup) and closing the connections
    other      the rest of the run: validation, result JSON, writes
    exit       from the run's return to the parent seeing the process end

Usage (the spec on stdin, as the runner takes it):

    echo '{"kind": "subscription", ...}' | BENCH_T0=$(date +%s.%N) \
        python bench/kafka_phases.py CREDENTIALS_DIR RESULT_FILE
"""

from __future__ import annotations

import time

T_FIRST_LINE = time.time()

import contextlib  # noqa: E402
import inspect  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import sys  # noqa: E402
from collections.abc import Callable  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

# bench/runner.py would shadow the runner package: import from the repository root instead.
sys.path[0] = str(Path(__file__).resolve().parents[1])

MARKS: dict[str, float] = {}


def mark(name: str) -> None:
    MARKS[name] = time.time()


def wrap(owner: Any, attr: str, before: str | None, after: str | None) -> None:
    """Time ``owner.attr``: mark ``before`` on its first call, ``after`` when a call returns."""
    inner: Callable[..., Any] = getattr(owner, attr)

    async def timed_async(*args: Any, **kwargs: Any) -> Any:
        if before and before not in MARKS:
            mark(before)
        try:
            return await inner(*args, **kwargs)
        finally:
            if after:
                mark(after)

    if inspect.iscoroutinefunction(inner):
        setattr(owner, attr, timed_async)
        return

    def timed(*args: Any, **kwargs: Any) -> Any:
        if before and before not in MARKS:
            mark(before)
        try:
            return inner(*args, **kwargs)
        finally:
            if after:
                mark(after)

    setattr(owner, attr, timed)


def instrument() -> None:
    from runner.sources import kafka as source

    wrap(source, "_connect", "connect", "connected")
    wrap(source._Membership, "on_assign", None, "assigned")
    wrap(source.KafkaSource, "_drain", None, "drained")
    wrap(source.KafkaSource, "_commit", "commit", "committed")
    wrap(source.KafkaSource, "close", "close", "closed")


#: (phase, mark at its start, mark at its end); a phase whose marks are missing is left out
PHASES = [
    ("start", "t0", "first_line"),
    ("imports: runner.cli", "first_line", "cli"),
    ("imports: models", "cli", "models"),
    ("imports: kafka source", "models", "kafka"),
    ("connect + topic metadata", "connect", "connected"),
    ("group join", "connected", "assigned"),
    ("fetch", "assigned", "drained"),
    ("commit", "commit", "committed"),
    ("close", "close", "closed"),
]


def phases(t0: float, t_end: float) -> dict[str, float]:
    marks = {"t0": t0, "first_line": T_FIRST_LINE, **MARKS}
    out = {name: marks[b] - marks[a] for name, a, b in PHASES if a in marks and b in marks}
    ours = sum(v for k, v in out.items() if k != "start")
    out["other (validate, result, write)"] = t_end - marks["first_line"] - ours
    return out


def main() -> None:
    t0 = float(os.environ.get("BENCH_T0", T_FIRST_LINE))
    # As the CLI does before pydantic's first import (runner/cli.py): no plugin scan.
    os.environ.setdefault("PYDANTIC_DISABLE_PLUGINS", "__all__")
    from runner import cli

    mark("cli")
    import runner.execute
    import runner.result
    import runner.spec.invocation
    import runner.spec.subscription  # the Kafka drain's own tool models

    mark("models")
    import runner.sources.kafka  # noqa: F401

    mark("kafka")
    instrument()
    creds, result = sys.argv[1], Path(sys.argv[2])
    with contextlib.suppress(SystemExit):
        cli.main(["run", "--spec", "-", "--credentials", creds, "--sink", f"file:{result}"])
    report = {
        "count": json.loads(result.read_text())["data"]["count"],
        "phases": phases(t0, time.time()),
        "end": time.time(),
    }
    print(json.dumps(report))


if __name__ == "__main__":
    main()
