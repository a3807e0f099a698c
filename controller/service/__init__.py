"""``toolpod serve``: the controller as an HTTP JSON service for workers (docs/service.md).

config.py     ServeConfig (flags and TOOLPOD_* env)
app.py        the FastAPI routes, access log, OpenAPI from the runner's models
core.py       backpressure, driving invocations to their record
executors.py  one executor per namespace served, made lazily, the idle ones evicted
admission.py  the in-flight cap and the FIFO queue (pure)
recovery.py   a restarted service adopts running invocations; a POST takes over a dead
              replica's half-submitted one
orphans.py    what nobody comes back for finished (QueueLost...); expired records swept
auth.py       TokenReview + SubjectAccessReview
errors.py     exceptions -> docs/service.md error bodies
metrics.py    Prometheus metrics
"""

from __future__ import annotations

import logging
from dataclasses import replace
from typing import Any
from urllib.parse import quote

from controller.service.config import ServeConfig

log = logging.getLogger("toolpod.service")


def build(config: ServeConfig) -> object:
    """The ASGI app for ``config`` (the API client from in-cluster config in a Pod, else the
    kubeconfig)."""
    from controller.k8s import Kube, api_client
    from controller.service.app import create_app
    from controller.service.auth import Auth
    from controller.service.core import Core
    from controller.service.metrics import Metrics

    client = api_client(config.kubeconfig, pool_size=config.threads)
    config = with_owner(config, Kube(client))
    metrics = Metrics()
    auth = Auth(Kube(client) if config.auth else None, config.audiences)
    if not config.auth:
        log.warning(
            "AUTHENTICATION IS OFF (--no-auth): anyone who reaches this port may run "
            "invocations in any namespace; for local development only"
        )
    return create_app(Core(config, client, metrics), auth, metrics)


def with_owner(config: ServeConfig, kube: Any) -> ServeConfig:
    """``settings.owner`` (``Kind/name`` of a cluster-scoped object, the chart's ClusterRole)
    as the owner reference of every Job and record: its uid is only known at run time."""
    owner = config.settings.owner
    if not owner:
        return config
    from controller.errors import InvalidInput

    kind, _, name = owner.partition("/")
    if kind != "ClusterRole" or not name:
        raise InvalidInput(f"TOOLPOD_OWNER must be ClusterRole/NAME (got '{owner[:80]}')")
    role = kube.call("GET", f"/apis/rbac.authorization.k8s.io/v1/clusterroles/{quote(name)}")
    ref = {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": kind,
        "name": name,
        "uid": role["metadata"]["uid"],
        "blockOwnerDeletion": False,
    }
    settings = config.settings.with_(owner_references=(ref,))
    return replace(config, settings=settings)


def serve(config: ServeConfig, log_level: str = "INFO") -> None:
    import uvicorn

    from runner import log as runner_log

    runner_log.setup(log_level)
    app = build(config)
    uvicorn.run(app, host=config.host, port=config.port, log_config=None, access_log=False)  # type: ignore[arg-type]
