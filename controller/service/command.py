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
@_opt("--max-namespaces", "TOOLPOD_MAX_NAMESPACES", default=100, type=click.IntRange(1))
@_opt("--kubeconfig", "KUBECONFIG", default=None, help="Default: in-cluster config in a Pod.")
@click.option("--no-auth", is_flag=True, envvar="TOOLPOD_NO_AUTH", help="Local development only.")
def serve(**o: Any) -> None:
    """Serve the HTTP JSON API of SPEC §8 (workers POST invocations with their token)."""
    from controller import service

    settings = from_env(retention_s=o["retention"])
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
        max_namespaces=o["max_namespaces"],
        kubeconfig=o["kubeconfig"],
    )
    service.serve(config)
