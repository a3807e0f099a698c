#!/usr/bin/env python3
"""Wall time of subscription drains through ``toolpod-runner``, beside each source's native tool.

For every source and size (1, 100, 1000 messages of 1 KiB by default) it readies the messages,
then times, in the same run and on the same broker, one drain of all of them through the runner
CLI (batch = size, ack on_success) and one through the native tool:

    kafka   kcat as a group member: ``kcat -b B -G GROUP TOPIC -c N -e`` (commits like the runner)
    pubsub  plain REST with curl: pull (maxMessages) until N arrived, then acknowledge them
    nats    the nats CLI: ``nats consumer next STREAM CONSUMER --count N --ack``

Each timing is a fresh process, as a Job's would be, with the runner's modules compiled to
bytecode first as the image has them (an uncompiled checkout under PYTHONDONTWRITEBYTECODE=1
recompiles them at every start). Prints medians and the runner/native ratio.
With ``--phases`` the Kafka drains also run through ``bench/kafka_phases.py`` (the runner's CLI
in-process, timed by phase: start-up, imports, connect, group join, fetch, commit, close) and
a table of the median of each phase follows, beside kcat's median from the same run.
Brokers are started here (the test fixtures' own start functions) unless given:

    .venv/bin/python bench/drain.py [-r 5] [--sizes 1,100,1000] [--sources kafka,pubsub]
        [--kafka 127.0.0.1:9092] [--pubsub 127.0.0.1:8085] [--phases]

Adding a source (the NATS row): write ``bench_<source>(args, sizes, reps) -> list[Row]`` and add
it to ``BENCHES``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # the test fixtures start the brokers

from tests.fixtures import runner_cli  # noqa: E402
from tests.fixtures._process import stop, unique  # noqa: E402

PAYLOAD = 1024


@dataclass
class Row:
    source: str
    size: int
    runner_s: list[float]
    native_s: list[float]
    native: str

    def cells(self) -> list[str]:
        r, n = statistics.median(self.runner_s), statistics.median(self.native_s)
        ratio = f"{r / n:.2f}x" if n else "-"
        return [self.source, str(self.size), f"{r:.3f}", f"{n:.3f}", ratio, self.native]


def timed(cmd: list[str], stdin: str = "", env: dict[str, str] | None = None) -> float:
    """Wall time of one process; it must succeed."""
    t0 = time.monotonic()
    proc = subprocess.run(
        cmd,
        input=stdin,
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, **(env or {})},
        timeout=120,
    )
    wall = time.monotonic() - t0
    if proc.returncode != 0:
        raise SystemExit(f"{cmd[0]} failed ({proc.returncode}): {proc.stderr[-1500:]}")
    return wall


def runner_drain(tool: dict[str, Any], creds: Path, expect: int) -> float:
    """Time one runner drain and check it returned (and acked) ``expect`` messages."""
    args = [*runner_cli.runner_command(), "run", "--spec", "-", "--credentials", str(creds)]
    t0 = time.monotonic()
    proc = subprocess.run(
        args, input=json.dumps(tool), capture_output=True, text=True, check=False, timeout=120
    )
    wall = time.monotonic() - t0
    data = (json.loads(proc.stdout.splitlines()[-1]) if proc.stdout else {}).get("data") or {}
    if proc.returncode != 0 or data.get("count") != expect or not data.get("acked"):
        raise SystemExit(
            f"runner drain failed: rc={proc.returncode} count={data.get('count')}"
            f" {proc.stdout[-500:]} {proc.stderr[-1500:]}"
        )
    return wall


# -- kafka ------------------------------------------------------------------------------------


def bench_kafka(args: argparse.Namespace, sizes: list[int], reps: int) -> list[Row]:
    from tests.fixtures.kafka import KafkaBroker, start_kafka

    kcat = shutil.which("kcat")
    with ExitStack() as stack:
        if args.kafka:
            broker = KafkaBroker(args.kafka, Path("/dev/null"))
        else:
            proc, broker = start_kafka(Path(stack.enter_context(tempfile.TemporaryDirectory())))
            stack.callback(stop, proc)
        creds = Path(stack.enter_context(tempfile.TemporaryDirectory()))
        rows = []
        for size in sizes:
            topic = broker.create_topic("bench")
            broker.produce_n(topic, size, PAYLOAD)  # every rep drains it as a fresh group
            tool = {
                "kind": "subscription",
                "source": "kafka",
                "brokers": broker.bootstrap,
                "topic": topic,
                "batch": size,
                "timeout_ms": 5000,
            }
            # runner and kcat take turns, so a change in the machine's load hits both alike
            runner, native = [], []
            for _ in range(reps):
                runner.append(runner_drain({**tool, "group": unique("bench")}, creds, size))
                if kcat:
                    native.append(_kcat(kcat, broker.bootstrap, topic, size))
            native = native or [0.0]
            rows.append(Row("kafka", size, runner, native, "kcat -G" if kcat else "(no kcat)"))
            if args.phases:
                PHASE_ROWS[size] = _phases(tool, creds, size, reps) | {
                    "kcat -G (whole process)": native
                }
        return rows


#: size → phase → timings, filled by ``bench_kafka`` with ``--phases``
PHASE_ROWS: dict[int, dict[str, list[float]]] = {}


def _phases(tool: dict[str, Any], creds: Path, size: int, reps: int) -> dict[str, list[float]]:
    """``reps`` drains through bench/kafka_phases.py; each phase's timings."""
    out: dict[str, list[float]] = {}
    for _ in range(reps):
        with tempfile.TemporaryDirectory() as tmp:
            t0 = time.time()
            proc = subprocess.run(
                [sys.executable, str(REPO / "bench" / "kafka_phases.py"), str(creds), f"{tmp}/r"],
                input=json.dumps({**tool, "group": unique("phases")}),
                capture_output=True,
                text=True,
                env={**os.environ, "BENCH_T0": repr(t0)},
                check=False,
                timeout=120,
            )
            wall = time.time() - t0
        if proc.returncode != 0 or not proc.stdout:
            raise SystemExit(f"kafka_phases failed ({proc.returncode}): {proc.stderr[-1500:]}")
        report = json.loads(proc.stdout.splitlines()[-1])
        if report["count"] != size:
            raise SystemExit(f"kafka_phases drained {report['count']} of {size}")
        phases = {**report["phases"], "exit": wall - (report["end"] - t0)}
        for name, seconds in [*phases.items(), ("total (whole process)", wall)]:
            out.setdefault(name, []).append(seconds)
    return out


def phase_table() -> str:
    sizes = sorted(PHASE_ROWS)
    names = list(dict.fromkeys(n for size in sizes for n in PHASE_ROWS[size]))
    head = ["kafka drain phase", *(f"{s} msgs median ms" for s in sizes)]
    cells = [head] + [[n, *(_ms(PHASE_ROWS[s].get(n)) for s in sizes)] for n in names]
    widths = [max(len(c[i]) for c in cells) for i in range(len(head))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) for row in cells]
    return "\n".join([lines[0], "  ".join("-" * w for w in widths), *lines[1:]])


def _ms(values: list[float] | None) -> str:
    return f"{statistics.median(values) * 1000:.0f}" if values else "-"


def _kcat(kcat: str, bootstrap: str, topic: str, size: int) -> float:
    return timed(
        [
            kcat,
            "-q",
            "-b",
            bootstrap,
            "-G",
            unique("bench-kcat"),
            "-X",
            "auto.offset.reset=earliest",
            "-c",
            str(size),
            "-e",
            topic,
        ]
    )


# -- pubsub -----------------------------------------------------------------------------------

#: The native baseline: curl pulls until N messages arrived, then one acknowledge per pull.
CURL_DRAIN = r"""
set -eu
got=0
while [ "$got" -lt "$N" ]; do
  want=$((N - got))
  reply=$(curl -sS -X POST -H 'content-type: application/json' \
    -d "{\"maxMessages\": $want}" "$BASE/$SUB:pull")
  ids=$(printf '%s' "$reply" | grep -o '"ackId": *"[^"]*"' | sed 's/.*: *//' | paste -sd, -)
  [ -n "$ids" ] || continue
  curl -sS -X POST -H 'content-type: application/json' \
    -d "{\"ackIds\": [$ids]}" "$BASE/$SUB:acknowledge" >/dev/null
  got=$((got + $(printf '%s' "$reply" | grep -c '"ackId"')))
done
"""


def bench_pubsub(args: argparse.Namespace, sizes: list[int], reps: int) -> list[Row]:
    from tests.fixtures.pubsub import PubSubEmulator, start_emulator

    with ExitStack() as stack:
        if args.pubsub:
            emu = PubSubEmulator(args.pubsub, Path("/dev/null"))
        else:
            proc, emu = start_emulator(Path(stack.enter_context(tempfile.TemporaryDirectory())))
            stack.callback(stop, proc)
        creds = Path(stack.enter_context(tempfile.TemporaryDirectory()))
        return [_pubsub_row(emu, creds, size, reps) for size in sizes]


def _pubsub_row(emu: Any, creds: Path, size: int, reps: int) -> Row:
    topic, sub = emu.topic_and_subscription(ack_deadline_s=60)
    tool = {
        "kind": "subscription",
        "source": "pubsub",
        "subscription": sub,
        "endpoint": emu.host,
        "batch": size,
        "timeout_ms": 5000,
    }
    runner, native = [], []
    for _ in range(reps):
        emu.publish_n(topic, size, PAYLOAD)
        runner.append(runner_drain(tool, creds, size))
        emu.publish_n(topic, size, PAYLOAD)
        native.append(
            timed(["bash", "-c", CURL_DRAIN], env={"N": str(size), "BASE": emu.base, "SUB": sub})
        )
    return Row("pubsub", size, runner, native, "curl pull+ack")


# -- table ------------------------------------------------------------------------------------


# -- nats -------------------------------------------------------------------------------------


def bench_nats(args: argparse.Namespace, sizes: list[int], reps: int) -> list[Row]:
    from tests.fixtures.nats import start_nats

    nats_cli = _nats_cli()
    with ExitStack() as stack:
        proc, server = start_nats(Path(stack.enter_context(tempfile.TemporaryDirectory())))
        stack.callback(stop, proc)
        creds = server.write_credentials(Path(stack.enter_context(tempfile.TemporaryDirectory())))
        rows = []
        for size in sizes:
            runner, native = [], []
            for _ in range(reps):
                # Each rep: a fresh stream with the same `size` messages for two consumers.
                stream = unique("B").replace("-", "_")
                server.run(lambda js, s=stream, n=size: _ready_stream(js, s, n))
                tool = {
                    "kind": "subscription",
                    "source": "nats",
                    "auth": "nats_main",
                    "stream": stream,
                    "consumer": "runner",
                    "batch": size,
                    "timeout_ms": 5000,
                }
                runner.append(runner_drain(tool, creds, size))
                if nats_cli:
                    native.append(
                        timed(
                            [
                                str(nats_cli),
                                "-s",
                                server.url,
                                "--user",
                                server.user or "",
                                "--password",
                                server.password or "",
                                "consumer",
                                "next",
                                stream,
                                "native",
                                "--count",
                                str(size),
                                "--ack",
                                "--raw",
                            ]
                        )
                    )
            label = "nats consumer next --count" if nats_cli else "(no nats CLI)"
            rows.append(Row("nats", size, runner, native or [0.0], label))
        return rows


def _nats_cli() -> Path | None:
    """The `nats` CLI that scripts/install-nats built (second path it prints), if it built."""
    out = (
        subprocess.run(
            ["bash", str(REPO / "scripts" / "install-nats")],
            capture_output=True,
            text=True,
            check=True,
        )
        .stdout.strip()
        .split(":")
    )
    cli = Path(out[1]) / "nats" if len(out) > 1 else None
    return cli if cli and cli.exists() else None


async def _ready_stream(js: Any, stream: str, size: int) -> None:
    await js.add_stream(name=stream, subjects=[f"{stream.lower()}.>"])
    for consumer in ("runner", "native"):
        await js.add_consumer(stream, durable_name=consumer, ack_policy="explicit")
    body = b"x" * PAYLOAD
    for _ in range(size):
        await js.publish(f"{stream.lower()}.m", body)


BENCHES: dict[str, Callable[[argparse.Namespace, list[int], int], list[Row]]] = {
    "kafka": bench_kafka,
    "pubsub": bench_pubsub,
    "nats": bench_nats,
}


def table(rows: list[Row]) -> str:
    head = ["source", "messages", "runner median s", "native median s", "ratio", "native tool"]
    cells = [head, *(r.cells() for r in rows)]
    widths = [max(len(c[i]) for c in cells) for i in range(len(head))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) for row in cells]
    return "\n".join([lines[0], "  ".join("-" * w for w in widths), *lines[1:]])


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("-r", "--reps", type=int, default=5, help="timings per cell (median shown)")
    p.add_argument("--sizes", default="1,100,1000")
    p.add_argument("--sources", default=",".join(BENCHES))
    p.add_argument("--kafka", help="use this running broker (host:port) instead of starting one")
    p.add_argument("--pubsub", help="use this running emulator (host:port) instead")
    p.add_argument(
        "--phases", action="store_true", help="also time Kafka drains phase by phase (median)"
    )
    args = p.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(REPO / "runner")], check=True)
    rows: list[Row] = []
    for source in args.sources.split(","):
        rows += BENCHES[source](args, sizes, args.reps)
    print(f"drains of {PAYLOAD}-byte messages, {args.reps} runs each (wall time, fresh process)")
    print(table(rows))
    if PHASE_ROWS:
        print(f"\nkafka drain phases, {args.reps} runs each (bench/kafka_phases.py)")
        print(phase_table())


if __name__ == "__main__":
    main()
