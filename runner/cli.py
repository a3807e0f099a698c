"""``toolpod-runner``: run one tool invocation and write its ToolResult (docs/reference.md §7).

The command body only wires things together: read the spec, validate it, build the sink, run
the executor once under ``asyncio.run``, exit with the result's code. Every option can also be
set from the environment (``runner.contract``'s ``ENV_*`` names), which is how the Job passes
them.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import os
import signal
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from runner import contract as C
from runner import log, termination
from runner.credentials import DEFAULT_CREDENTIALS_DIR, credentials_dir
from runner.errors import ConfigurationError, ToolpodError

if TYPE_CHECKING:
    from runner.result import ToolResult

logger = logging.getLogger("toolpod.runner")

EXIT_CODES_HELP = """
\b
Exit codes:
  0  success (a written result; kv_get's not_found included)
  2  an error a retry cannot fix: configuration, auth, missing bucket/stream/consumer/object
  3  a transient error a retry may fix: connection refused, broker unavailable, timeout
  4  the result could not be written to its sink
  130, 143  stopped by SIGINT, SIGTERM: nothing was acked (fetched messages were released)
  70 the runner crashed (a bug: see the JSON log line on stderr)
"""


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def main() -> None:
    """toolpod's runner: one bounded NATS / Pub/Sub / Kafka operation, one ToolResult."""


@main.command(epilog=EXIT_CODES_HELP)
@click.option(
    "--spec",
    "spec_path",
    required=True,
    show_envvar=True,
    envvar=C.ENV_SPEC,
    metavar="PATH|-",
    help="The invocation (YAML or JSON) from a file, or '-' for stdin. A bare tool "
    "block (a mapping with 'kind' at the top) is accepted as shorthand.",
)
@click.option(
    "--credentials",
    "creds",
    show_envvar=True,
    envvar=C.ENV_CREDENTIALS,
    metavar="DIR",
    help=f"Directory of credential aliases: 'auth: nats_main' reads DIR/nats_main "
    f"(JSON). Default: {DEFAULT_CREDENTIALS_DIR}.",
)
@click.option(
    "--sink",
    default="stdout",
    show_default=True,
    show_envvar=True,
    envvar=C.ENV_SINK,
    help="Where the result goes: stdout, file:PATH, nats-kv:BUCKET or configmap:NAME.",
)
@click.option(
    "--sink-auth",
    show_envvar=True,
    envvar=C.ENV_SINK_AUTH,
    metavar="ALIAS",
    help="Credential alias of the NATS server for --sink nats-kv:BUCKET.",
)
@click.option(
    "--attempt",
    default=1,
    show_envvar=True,
    envvar=C.ENV_ATTEMPT,
    type=click.IntRange(min=1),
    help="Attempt number recorded in the result (the Job sets it on retries).",
)
@click.option(
    "--log-level",
    default="INFO",
    show_envvar=True,
    envvar=C.ENV_LOG_LEVEL,
    show_default=True,
    type=click.Choice(["DEBUG", "INFO", "WARNING", "ERROR"], case_sensitive=False),
)
def run(
    spec_path: str,
    creds: str | None,
    sink: str,
    sink_auth: str | None,
    attempt: int,
    log_level: str,
) -> None:
    """Run the invocation in --spec and write its ToolResult to --sink.

    With the stdout sink the ToolResult JSON is the only thing on stdout; logs are JSON lines
    on stderr. Example:

    \b
      echo '{"kind": "nats", "operation": "kv_get", "auth": "nats_main",
             "bucket": "orders", "key": "42"}' | toolpod-runner run --spec - --credentials ./creds
    """
    log.setup(log_level)
    # pydantic is first imported below. The runner uses no pydantic plugins, and looking for
    # them scans every installed distribution's entry points (~15 ms of cold start).
    os.environ.setdefault("PYDANTIC_DISABLE_PLUGINS", "__all__")
    try:
        code = asyncio.run(_run(spec_path, credentials_dir(creds), sink, sink_auth, attempt))
    except asyncio.CancelledError:
        signum = termination.received() or signal.SIGTERM
        logger.warning(
            "terminated by %s before finishing; fetched messages were released", signum.name
        )
        code = termination.EXIT_CODES[signum]
    except Exception as e:  # a bug, not an outcome: one JSON line, and the crash exit code
        logger.error(
            "runner crashed: %s: %s",
            type(e).__name__,
            e,
            exc_info=logger.isEnabledFor(logging.DEBUG),
        )
        code = C.EXIT_CRASH
    # The run is over: freezing what it built (modules, models, messages) spares the
    # interpreter's shutdown a cyclic-GC pass over all of it — 130-140 ms of every invocation
    # with the runner's imports, 10 ms frozen (measured; the objects are freed all the same).
    gc.freeze()
    sys.exit(code)


async def _run(
    spec_path: str, creds: Path, sink_text: str, sink_auth: str | None, attempt: int
) -> int:
    from runner.sinks import parse_sink

    task = asyncio.current_task()
    if task is not None:
        termination.install(task)
    try:
        sink = parse_sink(sink_text, sink_auth=sink_auth, credentials=creds)
    except ToolpodError as e:
        log.event(logger, e.message, logging.ERROR, error_kind=e.kind)
        return e.exit_code
    try:
        with termination.acknowledging():  # closing the sink must not be cut
            await sink.prepare()  # before the invocation acts: its result must have a place
            result = await _invoke(spec_path, creds, sink, attempt)
    except ToolpodError as e:
        log.event(logger, e.message, logging.ERROR, error_kind=e.kind)
        return e.exit_code
    finally:
        await sink.close()
    _termination_message(result)
    fields = {"error": result.error.message} if result.error else {}
    log.event(
        logger,
        "invocation finished",
        status=result.status,
        exit_code=result.exit_code,
        duration_ms=result.duration_ms,
        **fields,
    )
    return result.exit_code


async def _invoke(spec_path: str, creds: Path, sink: Any, attempt: int) -> ToolResult:
    from runner.clock import now_rfc3339
    from runner.sources.registry import start_open
    from runner.spec.invocation import identity, parse_invocation

    started = now_rfc3339()
    data: Any = None
    try:
        data = _load(spec_path)
        invocation = parse_invocation(data)
    except ConfigurationError as e:
        return await _rejected(e, sink, started, attempt, identity(data))
    tool = invocation.tool
    log.bind(
        execution_id=invocation.execution_id,
        invocation_id=invocation.invocation_id,
        tool=tool.kind,
        operation=tool.operation,
    )
    log.event(logger, "invocation started", step=invocation.step, attempt=attempt)
    begun, t0, warnings = now_rfc3339(), time.monotonic(), list[str]()
    # Validated: the source starts connecting (Kafka in a thread) while the executor and the
    # result model are imported.
    opening = await start_open(tool, creds, warnings.append)
    from runner.execute import Run, execute

    run = Run(invocation, creds, sink, attempt, warnings, begun, t0, opening)
    return await execute(run)


async def _rejected(
    e: ConfigurationError, sink: Any, started: str, attempt: int, ids: dict[str, str]
) -> ToolResult:
    """An invocation that failed validation still gets a result (status error, exit 2), under
    its own id when that id is valid: a nats-kv sink keys the result by it."""
    from runner.clock import now_rfc3339
    from runner.result import ToolResult

    result = ToolResult.from_error(
        e, started_at=started, finished_at=now_rfc3339(), attempt=attempt, **ids
    )
    try:
        await sink.write(result)
    except ToolpodError as write_error:
        return ToolResult.from_error(write_error, started_at=started, attempt=attempt)
    return result


def _load(spec_path: str) -> Any:
    from runner.document import load_path

    what = f"--spec {spec_path}"
    try:
        return load_path(spec_path, what)
    except OSError as e:
        raise ConfigurationError(f"{what}: cannot read it ({e.strerror})") from None


_TERMINATION_LOG = Path("/dev/termination-log")


def _termination_message(result: ToolResult) -> None:
    """Leave the result (or its summary, when large) where the kubelet reports it."""
    if not _TERMINATION_LOG.exists():
        return

    def with_data(data: dict[str, Any]) -> str:
        return result.model_copy(update={"data": data}).to_json()

    try:
        _TERMINATION_LOG.write_text(C.termination_message(result.to_json(), with_data))
    except OSError:
        return


if __name__ == "__main__":  # pragma: no cover
    main()
