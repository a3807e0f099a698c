"""Executors: where an invocation runs. One interface, one module per backend, one registry.

kubernetes  a Job per invocation on a cluster (the product)
local       the same ``toolpod-runner run`` as a subprocess, same spec and credential
            files, same result contract (trying toolpod without a cluster)
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from controller.executors.base import Executor, InvocationNotFound, SubmitError

EXECUTORS = ("kubernetes", "local")


def build(name: str, **options: Any) -> Executor:
    """The executor ``name`` with its options (settings, kubeconfig, credentials dir...)."""
    factories: dict[str, Callable[..., Executor]] = {
        "kubernetes": _kubernetes,
        "local": _local,
    }
    if name not in factories:
        raise ValueError(f"unknown executor '{name}'; use one of {', '.join(EXECUTORS)}")
    return factories[name](**options)


def _kubernetes(**options: Any) -> Executor:
    from controller.executors.kubernetes import KubernetesExecutor

    return KubernetesExecutor(**options)


def _local(**options: Any) -> Executor:
    from controller.executors.local import LocalExecutor

    return LocalExecutor(**options)


__all__ = ["EXECUTORS", "Executor", "InvocationNotFound", "SubmitError", "build"]
