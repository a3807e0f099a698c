"""``toolpod serve``'s settings: flags, each also a ``TOOLPOD_*`` environment variable (what
the chart sets), on top of the controller's own ``Settings`` for the Jobs it renders."""

from __future__ import annotations

from dataclasses import dataclass, field

from controller.settings import Settings


@dataclass(frozen=True)
class ServeConfig:
    settings: Settings = field(default_factory=Settings)
    host: str = "127.0.0.1"
    port: int = 8080
    #: Jobs at once per service replica; then a FIFO queue of ``max_queued``; then 429.
    max_in_flight: int = 50
    max_queued: int = 1000
    #: ``?wait=S`` is capped here.
    wait_cap_s: float = 300.0
    #: False only for local development (``--no-auth``): every caller may do everything.
    auth: bool = True
    #: TokenReview audiences (empty: the API server's own).
    audiences: tuple[str, ...] = ()
    #: Namespaces with an executor (three watches each) kept at once.
    max_namespaces: int = 100
    #: Namespaces whose watches start (and must sync) before the service is ready.
    namespaces: tuple[str, ...] = ()
    #: Serve only ``namespaces`` (the chart: where its RBAC reaches); others answer 404.
    only_watched: bool = False
    retry_after_s: int = 2
    sweep_every_s: float = 60.0
    threads: int = 64
    kubeconfig: str | None = None
