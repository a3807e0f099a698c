"""``toolpod``: run invocations through the controller (docs/controller.md, "The CLI").

Command bodies only call ``controller.api`` and render what comes back once; every option can
also come from the environment (``TOOLPOD_EXECUTOR``, ``TOOLPOD_NAMESPACE``, ``KUBECONFIG``, ...).
The exit code is the runner's (0, 2, 3, 4), or 5 when the Job failed without a result
(deadline, OOM, image, deleted, cancelled). Bad input (an id, a namespace, a spec file) exits 2
before anything is requested. Every failure is one line on stderr with a code from
``EXIT_HELP``, never a traceback; every verb ends within its ``--timeout`` (``guarded``).
"""

from __future__ import annotations

import json
import logging
import os
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from controller import names
from controller.api import Toolpod, parse
from controller.errors import ControllerError, InvalidInput
from controller.executors import EXECUTORS
from controller.outcome import Outcome
from controller.settings import from_env
from runner import contract as C
from runner.contract import EXIT_CRASH, EXIT_TRANSIENT
from runner.errors import ToolpodError

F = TypeVar("F", bound=Callable[..., Any])
EXIT_HELP = """
\b
Exit codes: 0 success · 2 invalid input or a permanent error (also a refused API request,
a broken kubeconfig) · 3 transient error (also an unreachable API server, no answer within
--timeout) · 4 result not written · 5 the Job failed without a result (deadline, OOM, image,
deleted, cancelled) · 70 a bug in toolpod.
"""
#: --timeout of the verbs that do not wait for an invocation (submit, get, cancel, list, logs).
API_TIMEOUT_S = 60.0
#: After --timeout, what closing the client may take before the process ends regardless.
CLOSE_GRACE_S = 1.0


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
        click.option(
            "--server",
            envvar="TOOLPOD_SERVER",
            show_envvar=True,
            help="A `toolpod serve` URL: the verbs go through it (no kubeconfig needed).",
        ),
        click.option(
            "--token-file",
            envvar="TOOLPOD_TOKEN_FILE",
            show_envvar=True,
            help="With --server: the bearer token's file (default: the Pod's own token).",
        ),
        click.option("--image", envvar="TOOLPOD_IMAGE", show_envvar=True, help="Runner image."),
        click.option(
            "--keep/--no-keep",
            default=None,
            envvar="TOOLPOD_KEEP",
            show_envvar=True,
            help="Keep Jobs after the outcome (debugging).",
        ),
        click.option(
            "--credentials",
            envvar=C.ENV_CREDENTIALS,
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


def timeout_option(default: float | None) -> Callable[[F], F]:
    text = "Seconds for the whole command" + (
        f" (default {default:g})." if default else " (default: wait as long as it takes)."
    )
    return click.option(
        "--timeout",
        type=click.FloatRange(min=0.0, min_open=True),
        default=default,
        envvar="TOOLPOD_TIMEOUT",
        show_envvar=True,
        help=text,
    )


def _client(o: dict[str, Any], timeout: float | None = None) -> Toolpod:
    """The client the options describe; the shared watches must list within ``timeout``.

    The watchdog is armed only now, once the client exists: ``timeout`` bounds the wait for
    the API server, not the local work before it (imports, reading the kubeconfig), which a
    loaded machine can stretch past a short timeout — a broken kubeconfig must still be
    reported as what it is (exit 2), never as "no answer" (exit 3)."""
    tp = _build_client(o, timeout)
    if timeout:
        _watchdogs.append(_watchdog(click.get_current_context().info_name or "toolpod", timeout))
    return tp


def _build_client(o: dict[str, Any], timeout: float | None) -> Toolpod:
    overrides = {
        k: v
        for k, v in {
            "namespace": o.get("namespace"),
            "image": o.get("image"),
            "keep": o.get("keep"),
        }.items()
        if v is not None
    }
    if o.get("server"):
        from controller.executors.remote import RemoteExecutor

        ns = o.get("namespace") or _pod_namespace()
        return Toolpod(RemoteExecutor(o["server"], ns, o.get("token_file")))
    if o["executor"] == "local":
        return Toolpod.local(credentials=o.get("credentials"))
    settings = from_env(**overrides)
    sync = {"sync_timeout_s": timeout} if timeout else {}
    return Toolpod.kubernetes(settings, kubeconfig=o.get("kubeconfig"), **sync)


def _pod_namespace() -> str:
    """In a Pod, its own namespace; else the default."""
    path = Path("/var/run/secrets/kubernetes.io/serviceaccount/namespace")
    return path.read_text().strip() if path.exists() else "toolpod"


def _load(path: str) -> Any:
    """The document in ``path`` (``-``: stdin), read and parsed with the runner's bounds; a
    message shows where it is broken, never its text (a spec may hold a password)."""
    from runner.document import load_path

    try:
        return load_path(path, path)
    except OSError as e:
        raise InvalidInput(f"{path}: cannot read it ({e.strerror})") from None


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


def _fail(message: str, code: int) -> None:
    click.echo(f"toolpod: {' '.join(message.split())}", err=True)
    sys.exit(code)


def guarded(fn: F) -> F:
    """Every failure becomes one line on stderr and its exit code (``EXIT_HELP``); the
    command ends within its ``timeout`` even when the API server never answers."""

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except (ControllerError, ToolpodError) as e:
            _fail(e.message, e.exit_code)
        except TimeoutError:
            _fail("timed out waiting; the invocation goes on", EXIT_TRANSIENT)
        except Exception as e:  # a bug: still one line, no traceback
            _fail(f"internal error ({type(e).__name__}: {e}); please report it", EXIT_CRASH)
        finally:
            while _watchdogs:
                _watchdogs.pop().cancel()

    wrapper.__name__, wrapper.__doc__ = fn.__name__, fn.__doc__
    return wrapper  # type: ignore[return-value]


#: The running command's watchdog, armed by ``_client`` and disarmed by ``guarded``.
_watchdogs: list[threading.Timer] = []


def _watchdog(verb: str, seconds: float) -> threading.Timer:
    """Ends the process shortly after ``seconds`` (the command's own timeout comes first when
    it can): a request to an API server that accepts the connection and never answers holds
    a thread that nothing can interrupt."""

    def expire() -> None:
        sys.stdout.flush()
        sys.stderr.write(
            f"toolpod: {verb}: no answer within {seconds:g}s (the API server is unreachable "
            "or overloaded); an invocation already submitted goes on\n"
        )
        sys.stderr.flush()
        os._exit(EXIT_TRANSIENT)

    timer = threading.Timer(seconds + CLOSE_GRACE_S, expire)
    timer.daemon = True
    timer.start()
    return timer


def _remaining(started: float, timeout: float | None) -> float | None:
    return None if timeout is None else max(0.0, timeout - (time.monotonic() - started))


# -- commands --------------------------------------------------------------------------------


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def main() -> None:
    """toolpod: each tool invocation a short-lived Kubernetes Job (or a local process)."""
    _log_to_stderr()


def _log_to_stderr() -> None:
    """Errors only by default: a command's failure is its one line, not the watches' retry
    warnings before it (``TOOLPOD_LOG_LEVEL=warning`` shows them)."""
    logger = logging.getLogger("toolpod.controller")
    if not logger.handlers:
        level = os.environ.get("TOOLPOD_LOG_LEVEL", "").upper()
        handler = logging.StreamHandler()
        handler.setLevel(logging.getLevelNamesMapping().get(level, logging.ERROR))
        logger.addHandler(handler)


@main.command(epilog=EXIT_HELP)
@click.argument("path", metavar="FILE|-")
@timeout_option(None)
@common
@guarded
def run(path: str, timeout: float | None, **o: Any) -> None:
    """Submit the invocation in FILE, wait, print its ToolResult, exit with its code."""
    started = time.monotonic()
    invocation = parse(_load(path))  # before any client: bad input creates nothing
    with _client(o, timeout) as tp:
        handle = tp.submit_sync(invocation)
        _finish(handle.result_sync(_remaining(started, timeout)), o["output"])


@main.command(epilog=EXIT_HELP)
@click.argument("path", metavar="FILE|-")
@timeout_option(API_TIMEOUT_S)
@common
@guarded
def submit(path: str, timeout: float, **o: Any) -> None:
    """Submit the invocation in FILE and print its id (attach to it with `wait ID`)."""
    invocation = parse(_load(path))
    with _client(o, timeout) as tp:
        click.echo(tp.submit_sync(invocation).id)


@main.command(epilog=EXIT_HELP)
@click.argument("inv_id", metavar="ID")
@timeout_option(API_TIMEOUT_S)
@common
@guarded
def get(inv_id: str, timeout: float, **o: Any) -> None:
    """Print the outcome if known (exit with its code), else `running` (exit 0)."""
    names.invocation_id(inv_id, "ID")
    with _client(o, timeout) as tp:
        outcome = tp.get_sync(inv_id)
        if outcome is None:
            _emit({"invocation_id": inv_id, "status": "running"}, o["output"])
            return
        _finish(outcome, o["output"])


@main.command(epilog=EXIT_HELP)
@click.argument("inv_id", metavar="ID")
@timeout_option(None)
@common
@guarded
def wait(inv_id: str, timeout: float | None, **o: Any) -> None:
    """Wait for the invocation ID, print its ToolResult and remove its Job."""
    started = time.monotonic()
    names.invocation_id(inv_id, "ID")
    with _client(o, timeout) as tp:
        _finish(tp.handle(inv_id).result_sync(_remaining(started, timeout)), o["output"])


@main.command(epilog=EXIT_HELP)
@click.argument("inv_id", metavar="ID")
@timeout_option(API_TIMEOUT_S)
@common
@guarded
def cancel(inv_id: str, timeout: float, **o: Any) -> None:
    """Cancel the invocation ID (its Job is deleted); prints the `cancelled` record."""
    names.invocation_id(inv_id, "ID")
    with _client(o, timeout) as tp:
        _finish(tp.cancel_sync(inv_id), o["output"])


@main.command(name="list", epilog=EXIT_HELP)
@timeout_option(API_TIMEOUT_S)
@common
@guarded
def list_(timeout: float, **o: Any) -> None:
    """The invocations whose Jobs exist."""
    with _client(o, timeout) as tp:
        rows = tp.list_sync()
        _emit(rows, o["output"] if rows else "json")


@main.command(epilog=EXIT_HELP)
@click.argument("inv_id", metavar="ID")
@timeout_option(API_TIMEOUT_S)
@common
@guarded
def logs(inv_id: str, timeout: float, **o: Any) -> None:
    """The runner's log (JSON lines) of the invocation ID."""
    names.invocation_id(inv_id, "ID")
    with _client(o, timeout) as tp:
        click.echo(tp.logs_sync(inv_id), nl=False)


def _serve() -> None:
    from controller.service.command import serve

    main.add_command(serve)


_serve()

if __name__ == "__main__":  # pragma: no cover
    main()
