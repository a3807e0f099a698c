"""``toolpod serve`` (click): every flag also a ``TOOLPOD_*`` environment variable; the Jobs'
settings (image, sink, retention...) come from the same environment as the other verbs."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import click

from controller.service.config import ServeConfig
from controller.settings import from_env

F = TypeVar("F", bound=Callable[..., Any])


def _opt(name: str, env: str, **kw: Any) -> Callable[[F], F]:
    option: Callable[[F], F] = click.option(
        name, envvar=env, show_envvar=True, show_default=True, **kw
    )
    return option


@click.command()
@_opt("--host", "TOOLPOD_HOST", default="127.0.0.1", help="Address to listen on.")
@_opt("--port", "TOOLPOD_PORT", default=8080, type=click.IntRange(0, 65535))
@_opt("--max-in-flight", "TOOLPOD_MAX_IN_FLIGHT", default=50, type=click.IntRange(1))
@_opt("--max-queued", "TOOLPOD_MAX_QUEUED", default=1000, type=click.IntRange(0))
@_opt("--wait-cap", "TOOLPOD_WAIT_CAP_S", default=300.0, type=click.FloatRange(0))
@_opt("--retention", "TOOLPOD_RETENTION_S", default=600, type=click.IntRange(1))
@_opt("--audience", "TOOLPOD_AUDIENCES", multiple=True, help="TokenReview audience (repeat).")
@_opt("--namespace-watch", "TOOLPOD_WATCH_NAMESPACES", multiple=True, help="Watch at start.")
@click.option(
    "--only-watched",
    is_flag=True,
    envvar="TOOLPOD_ONLY_WATCHED",
    show_envvar=True,
    help="Serve only the --namespace-watch namespaces; requests for others answer 404.",
)
@_opt("--max-namespaces", "TOOLPOD_MAX_NAMESPACES", default=100, type=click.IntRange(1))
@_opt("--kubeconfig", "KUBECONFIG", default=None, help="Default: in-cluster config in a Pod.")
@click.option("--no-auth", is_flag=True, envvar="TOOLPOD_NO_AUTH", help="Local development only.")
@_opt(
    "--log-level",
    "TOOLPOD_LOG_LEVEL",
    default="INFO",
    type=click.Choice(["DEBUG", "INFO", "WARNING", "ERROR"], case_sensitive=False),
)
def serve(**o: Any) -> None:
    """Serve the HTTP JSON API of docs/service.md (workers POST invocations with their token)."""
    from controller import service
    from controller.errors import ControllerError
    from runner.errors import ToolpodError

    try:
        settings = from_env(retention_s=o["retention"])
    except ToolpodError as e:  # a bad TOOLPOD_* value: one line naming it, no traceback
        raise click.UsageError(e.message) from None
    if o["only_watched"] and not o["namespace_watch"]:
        raise click.UsageError("--only-watched needs at least one --namespace-watch")
    config = ServeConfig(
        settings=settings,
        host=o["host"],
        port=o["port"],
        max_in_flight=o["max_in_flight"],
        max_queued=o["max_queued"],
        wait_cap_s=o["wait_cap"],
        auth=not o["no_auth"],
        audiences=tuple(o["audience"]),
        namespaces=tuple(o["namespace_watch"]),
        only_watched=o["only_watched"],
        max_namespaces=o["max_namespaces"],
        kubeconfig=o["kubeconfig"],
    )
    try:
        service.serve(config, o["log_level"].upper())
    except ControllerError as e:  # e.g. the owner named by TOOLPOD_OWNER cannot be read
        click.echo(f"toolpod serve: {e.message}", err=True)
        raise SystemExit(e.exit_code) from None
