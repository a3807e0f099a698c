"""The controller's settings: everything ``render`` needs beyond the invocation itself.

One frozen dataclass, built once (from the CLI's options, the environment or code) and passed
to the pure rendering and outcome functions; nothing reads the environment behind its back.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Literal

from controller import names
from runner.errors import ConfigurationError

ResultSink = Literal["configmap", "nats_kv"]

#: The runner image e2e/kind/images builds from the Dockerfile (and the chart's default tag).
DEFAULT_IMAGE = "toolpod-runner:dev"


@dataclass(frozen=True)
class SecretRef:
    """Where a credential alias lives: a key of a Secret in the invocation's namespace."""

    name: str
    key: str = "credential"


@dataclass(frozen=True)
class Settings:
    namespace: str = "toolpod"
    image: str = DEFAULT_IMAGE
    image_pull_policy: Literal["Always", "IfNotPresent", "Never"] = "IfNotPresent"
    #: Retries of exit code 3 (transient) and crashes; exit codes 2 and 4 fail the Job at once.
    backoff_limit: int = 2
    #: activeDeadlineSeconds when the invocation has no deadline_s.
    default_deadline_s: int = 600
    #: Added to the invocation's deadline_s for the Job's activeDeadlineSeconds, so the runner's
    #: own deadline (which writes a `timeout` result) fires before the Job is killed.
    deadline_grace_s: int = 30
    #: ttlSecondsAfterFinished: the safety net when the controller is not there to delete.
    ttl_after_finished_s: int = 300
    requests: Mapping[str, str] = field(default_factory=lambda: {"cpu": "50m", "memory": "64Mi"})
    limits: Mapping[str, str] = field(default_factory=lambda: {"cpu": "1", "memory": "256Mi"})
    #: Default result sink when the invocation names none; with nats_kv, the bucket and the
    #: credential alias of its NATS server (the tool's own ``auth`` when unset).
    result_sink: ResultSink = "configmap"
    result_bucket: str | None = None
    result_auth: str | None = None
    #: Credential alias -> Secret; aliases not listed use ``toolpod-cred-<alias>`` (lowercased,
    #: other characters as '-') key ``credential``.
    credential_secrets: Mapping[str, SecretRef] = field(default_factory=dict)
    #: Extra literal env for the runner container (never secrets), e.g. a telemetry endpoint
    #: or proxy settings of the cluster.
    extra_env: Mapping[str, str] = field(default_factory=dict)
    #: terminationGracePeriodSeconds: how long a cancelled or deleted runner gets after
    #: SIGTERM. The runner is PID 1 in its container, where SIGTERM without a handler is
    #: ignored, so this is how long a cancel takes to free the node.
    termination_grace_s: int = 5
    #: How long a finished invocation's record stays readable (and its id idempotent).
    retention_s: int = 600
    #: ``Kind/name`` of a cluster-scoped object that owns every Job and record this controller
    #: creates (the chart names its own ClusterRole): when it goes (``helm uninstall``), garbage
    #: collection takes them too, in every served namespace. Resolved to ``owner_references``
    #: (which need its uid) by ``toolpod serve`` at start.
    owner: str | None = None
    owner_references: tuple[Mapping[str, object], ...] = ()
    #: Keep Jobs (and their Pods, spec and result) after the outcome, for debugging.
    keep: bool = False
    #: The runner image's entrypoint.
    runner_command: tuple[str, ...] = ("toolpod-runner", "run")

    def __post_init__(self) -> None:
        # The namespace is part of every API path: checked before any request is built.
        names.namespace(self.namespace)

    def secret_for(self, alias: str) -> SecretRef:
        """Aliases may hold '_' and capitals, Secret names may not: ``nats_main`` is the
        Secret ``toolpod-cred-nats-main`` unless ``credential_secrets`` says otherwise."""
        if alias in self.credential_secrets:
            return self.credential_secrets[alias]
        name = re.sub(r"[^a-z0-9-]+", "-", alias.lower()).strip("-")
        return SecretRef(f"toolpod-cred-{name}")

    def with_(self, **changes: object) -> Settings:
        return replace(self, **changes)  # type: ignore[arg-type]


def from_env(env: Mapping[str, str] | None = None, **overrides: object) -> Settings:
    """Settings from ``TOOLPOD_*`` variables (what the chart and the CLI pass), then overrides."""
    env = os.environ if env is None else env
    s = Settings()
    changes: dict[str, object] = {}
    if env.get("TOOLPOD_NAMESPACE"):
        changes["namespace"] = env["TOOLPOD_NAMESPACE"]
    if env.get("TOOLPOD_IMAGE"):
        changes["image"] = env["TOOLPOD_IMAGE"]
    if env.get("TOOLPOD_IMAGE_PULL_POLICY"):
        changes["image_pull_policy"] = env["TOOLPOD_IMAGE_PULL_POLICY"]
    if env.get("TOOLPOD_KEEP", "").lower() in ("1", "true", "yes"):
        changes["keep"] = True
    changes.update(_job_settings(env))
    if env.get("TOOLPOD_RUNNER_ENV"):
        # "NAME=value,NAME2=value2": non-secret env for the runner
        pairs = (p.split("=", 1) for p in env["TOOLPOD_RUNNER_ENV"].split(",") if "=" in p)
        changes["extra_env"] = {k.strip(): v.strip() for k, v in pairs}
    changes.update(overrides)
    settings = s.with_(**changes)
    if settings.result_sink == "nats_kv" and not settings.result_bucket:
        raise ConfigurationError("TOOLPOD_RESULT_SINK nats_kv needs TOOLPOD_RESULT_BUCKET")
    return settings


#: Integer settings of the Jobs: variable -> (field, lowest, highest allowed).
_INTEGERS: dict[str, tuple[str, int, int]] = {
    "TOOLPOD_BACKOFF_LIMIT": ("backoff_limit", 0, 10),
    "TOOLPOD_DEFAULT_DEADLINE_S": ("default_deadline_s", 1, 86_400),
    "TOOLPOD_DEADLINE_GRACE_S": ("deadline_grace_s", 0, 3_600),
    # Never 0: the Job would vanish before the controller read its outcome.
    "TOOLPOD_TTL_AFTER_FINISHED_S": ("ttl_after_finished_s", 1, 30 * 86_400),
    "TOOLPOD_TERMINATION_GRACE_S": ("termination_grace_s", 1, 3_600),
    "TOOLPOD_RETENTION_S": ("retention_s", 1, 7 * 86_400),
}
_TEXTS = {
    "TOOLPOD_RESULT_BUCKET": "result_bucket",
    "TOOLPOD_RESULT_AUTH": "result_auth",
    "TOOLPOD_OWNER": "owner",
}
_SINKS = ("configmap", "nats_kv")


def _job_settings(env: Mapping[str, str]) -> dict[str, object]:
    """The Jobs' settings the chart passes (docs/chart.md); a bad value names its variable."""
    out: dict[str, object] = {}
    for var, (name, lo, hi) in _INTEGERS.items():
        raw = env.get(var, "").strip()
        if raw:
            if not raw.isdigit() or not lo <= int(raw) <= hi:
                raise ConfigurationError(f"{var} must be an integer {lo}..{hi} (got '{raw[:20]}')")
            out[name] = int(raw)
    out.update({name: env[var].strip() for var, name in _TEXTS.items() if env.get(var, "").strip()})
    if env.get("TOOLPOD_RESULT_SINK"):
        if env["TOOLPOD_RESULT_SINK"] not in _SINKS:
            raise ConfigurationError(f"TOOLPOD_RESULT_SINK must be one of {', '.join(_SINKS)}")
        out["result_sink"] = env["TOOLPOD_RESULT_SINK"]
    if env.get("TOOLPOD_RUNNER_RESOURCES"):
        out.update(_resources(env["TOOLPOD_RUNNER_RESOURCES"]))
    return out


def _resources(text: str) -> dict[str, object]:
    """``{"requests": {...}, "limits": {...}}`` (JSON) as the runner container's resources."""
    try:
        value = json.loads(text)
    except ValueError:
        raise ConfigurationError("TOOLPOD_RUNNER_RESOURCES is not valid JSON") from None
    given = value if isinstance(value, dict) else {}
    parts = {k: given[k] for k in ("requests", "limits") if k in given}
    if not parts or set(given) - set(parts) or not all(_quantities(v) for v in parts.values()):
        raise ConfigurationError(
            'TOOLPOD_RUNNER_RESOURCES must be {"requests": {"cpu": "50m", ...}, "limits": {...}}'
        )
    return {k: {r: str(q) for r, q in v.items()} for k, v in parts.items()}


def _quantities(value: object) -> bool:
    return isinstance(value, dict) and all(
        isinstance(k, str) and isinstance(q, str | int | float) for k, q in value.items()
    )
