"""``toolpod``: run invocations through the controller (SPEC §7).

Command bodies only call ``controller.api`` and render what comes back once; every option can
also come from the environment (``TOOLPOD_EXECUTOR``, ``TOOLPOD_NAMESPACE``, ``KUBECONFIG``, ...).
The exit code is the runner's (0, 2, 3, 4), or 5 when the Job failed without a result
(deadline, OOM, image, deleted, cancelled). Bad input exits 2 before anything is created.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from controller.api import Toolpod, parse
from controller.executors import EXECUTORS, InvocationNotFound, SubmitError
from controller.outcome import Outcome
from controller.settings import from_env
from runner.errors import ConfigurationError

F = TypeVar("F", bound=Callable[..., Any])
EXIT_HELP = """
\b
Exit codes: 0 success · 2 invalid input or a permanent error · 3 transient error ·
4 result not written · 5 the Job failed without a result (deadline, OOM, image, deleted,
cancelled).
"""


def common(fn: F) -> F:
    """Options shared by every command, each also read from its environment variable."""
    options = [
        click.option(
            "--executor",
            type=click.Choice(EXECUTORS),
            default="kubernetes",
            envvar="TOOLPOD_EXECUTOR",
            show_envvar=True,
            show_default=True,
        ),
        click.option(
            "--namespace",
            "-n",
            envvar="TOOLPOD_NAMESPACE",
            show_envvar=True,
            help="Namespace of the Jobs (default: toolpod).",
        ),
        click.option("--kubeconfig", envvar="KUBECONFIG", show_envvar=True),
        click.option("--image", envvar="TOOLPOD_IMAGE", show_envvar=True, help="Runner image."),
        click.option(
            "--host-network/--no-host-network",
            default=None,
            envvar="TOOLPOD_HOST_NETWORK",
            show_envvar=True,
            help="Local clusters only: runner Pods on the host network.",
        ),
        click.option(
            "--keep/--no-keep",
            default=None,
            envvar="TOOLPOD_KEEP",
            show_envvar=True,
            help="Keep Jobs after the outcome (debugging).",
        ),
        click.option(
            "--credentials",
            envvar="TOOLPOD_CREDENTIALS",
            show_envvar=True,
            help="local executor: directory of credential alias files.",
        ),
        click.option(
            "--output",
            "-o",
            type=click.Choice(["json", "yaml", "table"]),
            default="json",
            envvar="TOOLPOD_OUTPUT",
            show_envvar=True,
            show_default=True,
        ),
    ]
    for option in reversed(options):
        fn = option(fn)
    return fn


def _client(o: dict[str, Any]) -> Toolpod:
    overrides = {
        k: v
        for k, v in {
            "namespace": o.get("namespace"),
            "image": o.get("image"),
            "host_network": o.get("host_network"),
            "keep": o.get("keep"),
        }.items()
        if v is not None
    }
    if o["executor"] == "local":
        return Toolpod.local(credentials=o.get("credentials"))
    return Toolpod.kubernetes(from_env(**overrides), kubeconfig=o.get("kubeconfig"))


def _load(path: str) -> Any:
    text = sys.stdin.read() if path == "-" else Path(path).read_text()
    import yaml

    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as e:
        raise ConfigurationError(f"{path}: not valid YAML or JSON ({e})") from None


# -- rendering -----------------------------------------------------------------------------


def _emit(data: Any, output: str) -> None:
    if output == "yaml":
        import yaml

        click.echo(yaml.safe_dump(data, sort_keys=False).rstrip())
    elif output == "table":
        rows = data if isinstance(data, list) else [_summary(data)]
        keys = list(rows[0]) if rows else []
        widths = {k: max(len(k), *(len(str(r.get(k, ""))) for r in rows)) for k in keys}
        click.echo("  ".join(k.upper().ljust(widths[k]) for k in keys))
        for r in rows:
            click.echo("  ".join(str(r.get(k, "")).ljust(widths[k]) for k in keys))
    else:
        click.echo(json.dumps(data, ensure_ascii=False))


def _summary(record: dict[str, Any]) -> dict[str, Any]:
    tool = record.get("tool") or {}
    error = record.get("error") or {}
    return {
        "id": record.get("invocation_id", ""),
        "tool": f"{tool.get('kind', '')}.{tool.get('operation', '')}",
        "status": record.get("status", ""),
        "duration_ms": record.get("duration_ms", ""),
        "error": error.get("message", ""),
    }


def _finish(outcome: Outcome, output: str) -> None:
    _emit(outcome.result, output)
    if outcome.exit_code and outcome.result.get("error"):
        click.echo(f"toolpod: {outcome.result['error'].get('message', '')}", err=True)
    sys.exit(outcome.exit_code)


def guarded(fn: F) -> F:
    """Expected failures become a message on stderr and exit 2: nothing was created."""

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except (ConfigurationError, SubmitError, InvocationNotFound) as e:
            click.echo(f"toolpod: {e}", err=True)
            sys.exit(2)
        except TimeoutError:
            click.echo("toolpod: timed out waiting; the invocation goes on", err=True)
            sys.exit(3)

    wrapper.__name__, wrapper.__doc__ = fn.__name__, fn.__doc__
    return wrapper  # type: ignore[return-value]


# -- commands --------------------------------------------------------------------------------


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def main() -> None:
    """toolpod: each tool invocation a short-lived Kubernetes Job (or a local process)."""


@main.command(epilog=EXIT_HELP)
@click.argument("path", metavar="FILE|-")
@click.option("--timeout", type=float, envvar="TOOLPOD_TIMEOUT", help="Seconds to wait.")
@common
@guarded
def run(path: str, timeout: float | None, **o: Any) -> None:
    """Submit the invocation in FILE, wait, print its ToolResult, exit with its code."""
    invocation = parse(_load(path))  # before any client: bad input creates nothing
    with _client(o) as tp:
        _finish(tp.run_sync(invocation, timeout), o["output"])


@main.command()
@click.argument("path", metavar="FILE|-")
@common
@guarded
def submit(path: str, **o: Any) -> None:
    """Submit the invocation in FILE and print its id (attach to it with `wait ID`)."""
    invocation = parse(_load(path))
    with _client(o) as tp:
        click.echo(tp.submit_sync(invocation).id)


@main.command()
@click.argument("inv_id", metavar="ID")
@common
@guarded
def get(inv_id: str, **o: Any) -> None:
    """Print the outcome if known (exit with its code), else `running` (exit 0)."""
    with _client(o) as tp:
        outcome = tp.get_sync(inv_id)
        if outcome is None:
            _emit({"invocation_id": inv_id, "status": "running"}, o["output"])
            return
        _finish(outcome, o["output"])


@main.command(epilog=EXIT_HELP)
@click.argument("inv_id", metavar="ID")
@click.option("--timeout", type=float, envvar="TOOLPOD_TIMEOUT", help="Seconds to wait.")
@common
@guarded
def wait(inv_id: str, timeout: float | None, **o: Any) -> None:
    """Wait for the invocation ID, print its ToolResult and remove its Job."""
    with _client(o) as tp:
        _finish(tp.handle(inv_id).result_sync(timeout), o["output"])


@main.command()
@click.argument("inv_id", metavar="ID")
@common
@guarded
def cancel(inv_id: str, **o: Any) -> None:
    """Cancel the invocation ID (its Job is deleted); prints the `cancelled` record."""
    with _client(o) as tp:
        _finish(tp.cancel_sync(inv_id), o["output"])


@main.command(name="list")
@common
@guarded
def list_(**o: Any) -> None:
    """The invocations whose Jobs exist."""
    with _client(o) as tp:
        rows = tp.executor.list()
        _emit(rows, o["output"] if rows else "json")


@main.command()
@click.argument("inv_id", metavar="ID")
@common
@guarded
def logs(inv_id: str, **o: Any) -> None:
    """The runner's log (JSON lines) of the invocation ID."""
    with _client(o) as tp:
        click.echo(tp.executor.logs(inv_id), nl=False)


if __name__ == "__main__":  # pragma: no cover
    main()
