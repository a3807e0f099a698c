"""Building blocks shared by every spec model: strict base, name types, drain clamping.

Strict on our inputs: unknown keys are rejected (the invocation module turns pydantic's errors
into messages with a "did you mean"); fields known to a tool but unused by the chosen operation
are accepted and reported as warnings; values NoETL clamps silently are clamped here too, loudly.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Annotated, Any, ClassVar

from pydantic import (
    AliasChoices,
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    SecretStr,
    StringConstraints,
    field_validator,
)

from runner.endpoints import check

#: NATS bucket names (KV and Object Store): letters, digits, dash and underscore.
BucketName = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_-]+$", max_length=255)]
#: KV keys: the characters NATS allows, no leading or trailing dot.
KvKey = Annotated[
    str,
    StringConstraints(
        pattern=r"^[-/_=A-Za-z0-9]([-/_=.A-Za-z0-9]*[-/_=A-Za-z0-9])?$", max_length=1024
    ),
]
#: Stream and consumer names: no whitespace, dots or wildcards.
StreamName = Annotated[str, StringConstraints(pattern=r"^[^\s.*>/\\]+$", max_length=255)]
#: Subjects: dot-separated tokens, no whitespace (wildcards allowed only where a filter is meant).
Subject = Annotated[str, StringConstraints(pattern=r"^[^\s]+$", min_length=1, max_length=1024)]
NonEmpty = Annotated[str, StringConstraints(min_length=1)]
#: A credential alias: a file name in the credentials directory (runner.credentials.is_alias).
Alias = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$", max_length=253)]

BATCH_DEFAULT, BATCH_MIN, BATCH_MAX = 100, 1, 1000
TIMEOUT_DEFAULT_MS, TIMEOUT_MIN_MS = 1000, 0
#: The operator may raise the drain timeout cap (docs/reference.md, "Drains"), e.g. for slow
#: brokers.
TIMEOUT_CAP_ENV = "TOOLPOD_MAX_TIMEOUT_MS"


@dataclass(frozen=True)
class Limits:
    """The operator's bounds, handed to validation (its context) by whoever parses: no
    validator reads the environment."""

    timeout_cap_ms: int = 5000

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Limits:
        raw = (os.environ if env is None else env).get(TIMEOUT_CAP_ENV, "")
        return cls(int(raw)) if raw.isdigit() and len(raw) < 10 else cls()


class StrictModel(BaseModel):
    """Base of every input model: unknown keys are errors, values are not silently coerced."""

    # defer_build: a model's validator is built on first use, so the runner's cold start pays
    # only for the models of the operation it runs.
    # strict: `ack: 1`, `batch: true` and `deadline_s: "60"` are errors, not coerced values.
    model_config = ConfigDict(extra="forbid", populate_by_name=True, defer_build=True, strict=True)


class ToolModel(StrictModel):
    """Base of a tool's per-operation model: collects warnings while it validates.

    Subclasses list in ``uses`` the optional fields their operation reads; any other optional
    field that the user set is reported as unused.
    """

    uses: ClassVar[frozenset[str]] = frozenset()
    _warnings: list[str] = PrivateAttr(default_factory=list)

    @property
    def warnings(self) -> list[str]:
        return list(self._warnings)

    def warn(self, message: str) -> None:
        self._warnings.append(message)

    def model_post_init(self, context: Any, /) -> None:
        required = {n for n, f in type(self).model_fields.items() if f.is_required()}
        always = {"kind", "operation", "auth"} | required | self.used_fields()
        always |= self.connection_fields()
        for name in sorted(self.model_fields_set - always):
            op = getattr(self, "operation", "?")
            self.warn(f"tool.{name} is not used by operation {op} and was ignored")
        limits = context.get("limits") if isinstance(context, dict) else None
        self.clamp(limits if isinstance(limits, Limits) else Limits())

    @classmethod
    def connection_fields(cls) -> set[str]:
        return set()

    def used_fields(self) -> set[str]:
        """Optional fields the chosen operation reads."""
        return set(self.uses)

    def clamp(self, limits: Limits) -> None:
        """Clamp values NoETL clamps silently, recording a warning for each (override)."""


class NatsConnectionFields(ToolModel):
    """Explicit NATS connection fields (and NoETL's names for them); they override ``auth``."""

    url: NonEmpty | None = Field(default=None, validation_alias=AliasChoices("url", "nats_url"))
    user: NonEmpty | None = Field(
        default=None, validation_alias=AliasChoices("user", "username", "nats_user")
    )
    password: SecretStr | None = Field(
        default=None, validation_alias=AliasChoices("password", "nats_password")
    )
    token: SecretStr | None = Field(
        default=None, validation_alias=AliasChoices("token", "nats_token")
    )

    @field_validator("url")
    @classmethod
    def _address(cls, value: str | None) -> str | None:
        if value is not None:
            check(value, "nats", 4222)
        return value


def clamp_drain(batch: int, timeout_ms: int, cap: int) -> tuple[int, int, list[str]]:
    """Effective ``(batch, timeout_ms)`` and a warning for each value that was clamped."""
    warnings: list[str] = []
    eff_batch = min(max(batch, BATCH_MIN), BATCH_MAX)
    if eff_batch != batch:
        warnings.append(f"batch {batch} clamped to {eff_batch} (allowed {BATCH_MIN}..{BATCH_MAX})")
    eff_timeout = min(max(timeout_ms, TIMEOUT_MIN_MS), cap)
    if eff_timeout != timeout_ms:
        warnings.append(
            f"timeout_ms {timeout_ms} clamped to {eff_timeout} (allowed {TIMEOUT_MIN_MS}..{cap})"
        )
    return eff_batch, eff_timeout, warnings


Seq = Annotated[int, Field(ge=1)]
