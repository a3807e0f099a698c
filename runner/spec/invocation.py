"""The invocation a worker submits (docs/reference.md §1) and its parsing into a validated model.

``parse_invocation`` is the only entry point: it accepts a mapping (from YAML or JSON), treats a
bare tool block (``kind`` at the top) as shorthand, validates without touching the network, and
turns every pydantic error into one line naming the field path and what is allowed.

Only the models of the invocation's own tool family are built (and imported): a Kafka drain
never defines the nats tool's fourteen operation models, nor a ``kv_get`` the subscription
models. ``Invocation.tool`` is the union of every tool model, so ``complete_invocation_model()``
makes that union resolvable before anything validates, serialises or describes a whole
invocation (pydantic says "not fully defined" otherwise): each controller module that does
calls it at import, and ``parse_invocation`` before it reports an unknown kind or operation.
The runner's fast path only constructs an ``Invocation``.
"""

from __future__ import annotations

import functools
import uuid
from collections.abc import Mapping
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, Field, ValidationError, model_validator
from pydantic_core import ErrorDetails

from runner.contract import DNS_LABEL
from runner.errors import ConfigurationError
from runner.spec.common import Alias, BucketName, Limits, NonEmpty, StrictModel

if TYPE_CHECKING:  # at run time: complete_invocation_model()
    from runner.spec.nats import NatsTool
    from runner.spec.subscription import SubscriptionTool

    Tool = Annotated[NatsTool | SubscriptionTool, Field(discriminator="kind")]


def _int_as_text(value: Any) -> Any:
    # NoETL's execution ids are large integers; keep them exact as text.
    return str(value) if isinstance(value, int) and not isinstance(value, bool) else value


ExecutionId = Annotated[str, BeforeValidator(_int_as_text)]
#: 52: the Job name ``toolpod-<id>`` stays within the 63 characters of a label value.
InvocationId = Annotated[str, Field(pattern=f"^{DNS_LABEL}$", max_length=52)]


class ResultTarget(StrictModel):
    """Where the runner writes the result; the controller's default applies when omitted."""

    sink: Literal["configmap", "nats_kv"]
    bucket: BucketName | None = None
    auth: Alias | None = None

    @model_validator(mode="after")
    def _bucket_only_for_kv(self) -> ResultTarget:
        if self.sink == "nats_kv" and not self.bucket:
            raise ValueError("result.bucket is required when result.sink is nats_kv")
        if self.sink != "nats_kv" and self.bucket:
            raise ValueError("result.bucket applies only to result.sink nats_kv")
        return self


class _Envelope(StrictModel):
    """Everything but the tool block, which the fast path validates with its own model."""

    id: InvocationId | None = None
    execution_id: ExecutionId | None = None
    step: NonEmpty | None = None
    tool: Any
    result: ResultTarget | None = None
    deadline_s: Annotated[int, Field(ge=1, le=86_400)] | None = None


class Invocation(_Envelope):
    tool: Tool  # resolved by complete_invocation_model() (module docstring)

    @property
    def invocation_id(self) -> str:
        """The id when given, else one generated once per parsed invocation."""
        if self.id is None:
            object.__setattr__(self, "id", uuid.uuid4().hex[:20])
        assert self.id is not None
        return self.id

    @property
    def warnings(self) -> list[str]:
        return self.tool.warnings


@functools.cache
def complete_invocation_model() -> type[Invocation]:
    """``Invocation`` with its ``tool`` union resolvable: every tool family's models imported,
    and ``Tool`` defined in this module, where pydantic looks the annotation up when it first
    builds the validator (on first use, as for every deferred model). Idempotent."""
    from runner.spec.nats import NatsTool
    from runner.spec.subscription import SubscriptionTool

    globals()["Tool"] = Annotated[NatsTool | SubscriptionTool, Field(discriminator="kind")]
    return Invocation


def parse_invocation(data: Any, limits: Limits | None = None) -> Invocation:
    """Validate ``data`` as an invocation; raise ``ConfigurationError`` listing every problem.
    ``limits``: the operator's bounds (default: from the environment, read here, once)."""
    context = {"limits": limits or Limits.from_env()}
    if not isinstance(data, Mapping):
        raise ConfigurationError(
            f"the invocation must be a mapping with a 'tool' block, got {type(data).__name__}"
        )
    if "kind" in data and "tool" not in data:
        data = {"tool": dict(data)}
    model = _tool_model(data.get("tool"))
    errors: list[ErrorDetails] = []
    if model is None:  # unknown kind or operation: the full union says what is allowed
        try:
            return complete_invocation_model().model_validate(data, context=context)
        except ValidationError as e:
            errors = e.errors()
    else:
        # Fast path (the runner's cold start): build only the chosen operation's model, not
        # the whole discriminated union of every operation.
        # Locations as the union reports them (tool.<kind>.<tag>.field), which _path reads.
        kind = str(data["tool"]["kind"])
        tag = str(data["tool"]["operation" if kind == "nats" else "source"])
        envelope = _validate(_Envelope, data, ())
        tool = _validate(model, data["tool"], ("tool", kind, tag), context)
        if isinstance(envelope, _Envelope) and not isinstance(tool, list):
            fields = {**envelope.__dict__, "tool": tool}
            return Invocation.model_construct(envelope.model_fields_set, **fields)
        errors = [e for part in (envelope, tool) if isinstance(part, list) for e in part]
    problems = [_describe(err, data) for err in errors]
    raise ConfigurationError("invalid invocation: " + "; ".join(problems))


def identity(data: Any) -> dict[str, str]:
    """The ids of an invocation that failed validation, each kept only if it is valid itself;
    an invalid or missing ``id`` is replaced by a generated one (a sink keys the result by it)."""
    fields = {"invocation_id": uuid.uuid4().hex[:20]}
    if not isinstance(data, Mapping):
        return fields
    for name, key in (("invocation_id", "id"), ("execution_id", "execution_id"), ("step", "step")):
        one = _validate(_Identity, {key: data.get(key)}, ())
        value = getattr(one, key, None) if isinstance(one, _Identity) else None
        if value is not None:
            fields[name] = value
    return fields


class _Identity(StrictModel):
    id: InvocationId | None = None
    execution_id: ExecutionId | None = None
    step: NonEmpty | None = None


def _validate(
    model: type[BaseModel], data: Any, prefix: tuple[str, ...], context: Any = None
) -> Any:
    """The validated model, or its errors with ``prefix`` on every location."""
    try:
        return model.model_validate(data, context=context)
    except ValidationError as e:
        return [ErrorDetails(**{**err, "loc": (*prefix, *err["loc"])}) for err in e.errors()]


def _tool_model(tool: Any) -> type[BaseModel] | None:
    """The one model for this tool block (its family's module imported now), or None."""
    kind = tool.get("kind") if isinstance(tool, Mapping) else None
    if not isinstance(kind, str) or kind not in _FAMILIES:
        return None
    return _members(kind).get(str(tool.get(_FAMILIES[kind][1])))


#: tool kind → (module of its models, the tag that picks one, the union's name there)
_FAMILIES = {
    "nats": ("runner.spec.nats", "operation", "NatsTool"),
    "subscription": ("runner.spec.subscription", "source", "SubscriptionTool"),
}


@functools.cache
def _members(kind: str) -> dict[str, type[BaseModel]]:
    """Tag value → model, for one tool kind."""
    import importlib
    from typing import get_args

    module, tag, union = _FAMILIES[kind]
    classes = get_args(get_args(getattr(importlib.import_module(module), union))[0])
    return {get_args(c.model_fields[tag].annotation)[0]: c for c in classes}


# -- error messages -------------------------------------------------------------------------


def _known_fields(loc: tuple[str | int, ...], data: Mapping[str, Any]) -> list[str]:
    """Field names valid at ``loc`` (for 'did you mean'), from the models, aliases included."""
    from runner.spec import nats, subscription

    if not loc or loc[0] != "tool":
        if loc and loc[0] == "result":
            return list(ResultTarget.model_fields)
        return list(Invocation.model_fields)
    kind = data.get("tool", {}).get("kind") if isinstance(data.get("tool"), Mapping) else None
    base = subscription.SubscriptionFields if kind == "subscription" else nats.NatsFields
    names = set(base.model_fields) | {"operation", "source"}
    for f in base.model_fields.values():
        choices = getattr(f.validation_alias, "choices", [])
        names |= {c for c in choices if isinstance(c, str)}
    return sorted(names)


def _path(loc: tuple[str | int, ...]) -> str:
    """The path as the user wrote it: pydantic inserts the union tags (tool.nats.kv_get.bucket)
    and validator names into the location; drop them positionally."""
    parts = [str(p) for p in loc if not str(p).startswith("function-")]
    if parts[:1] == ["tool"] and parts[1:2] and parts[1] in _TOOL_KINDS:
        parts = ["tool", *parts[3:]]
    return ".".join(_shown_key(p) for p in parts) or "invocation"


def _shown_key(part: str) -> str:
    """A user's key as it can appear in a one-line message: quoted when it is not plain."""
    return part if part.isprintable() and len(part) <= 40 else repr(part[:40])


_TOOL_KINDS = ("nats", "subscription")
#: What a constrained string allows, in words, for pattern errors.
_PATTERNS = {
    "bucket": "letters, digits, '-' and '_'",
    "key": "letters, digits and - / _ = . (no leading or trailing dot)",
    "stream": "no whitespace, '.', '*', '>', '/' or '\\'",
    "consumer": "no whitespace, '.', '*', '>', '/' or '\\'",
    "subscription": "projects/<project>/subscriptions/<name>",
    "auth": "letters, digits, '.', '_' and '-', starting with a letter or digit",
    "id": "lowercase letters, digits and '-', starting and ending with a letter or digit",
}


def _describe(err: ErrorDetails, data: Mapping[str, Any]) -> str:
    loc = tuple(err["loc"])
    path = _path(loc)
    kind = err["type"]
    if kind == "extra_forbidden":
        name = str(loc[-1])
        hint = _close_match(name, _known_fields(loc, data))
        suggestion = f"; did you mean '{hint[0]}'?" if hint else ""
        return f"{path}: unknown field{suggestion}"
    if kind == "missing":
        return f"{path}: required field is missing"
    if kind in ("union_tag_invalid", "union_tag_not_found"):
        return _describe_tag(err, path)
    if kind == "value_error":
        message = str(err["msg"]).removeprefix("Value error, ")
        return message if path in ("tool", "invocation", "result") else f"{path}: {message}"
    if kind == "string_pattern_mismatch" and str(loc[-1]) in _PATTERNS:
        return f"{path}: must be {_PATTERNS[str(loc[-1])]} (got {_shape(err.get('input'))})"
    secret = str(loc[-1]) in _SECRET_FIELDS if loc else False
    got = "a value that is not shown: it may be a secret" if secret else _shape(err.get("input"))
    return f"{path}: {err['msg'][0].lower()}{err['msg'][1:]} (got {got})"


def _describe_tag(err: ErrorDetails, path: str) -> str:
    ctx = err.get("ctx") or {}
    tag = str(ctx.get("discriminator", "")).strip("'")
    expected = str(ctx.get("expected_tags", ""))
    field = f"{path}.{tag}" if tag else path
    if err["type"] == "union_tag_not_found":
        allowed = _allowed_tags(tag)
        return f"{field}: required field is missing (allowed: {allowed})"
    given = str(ctx.get("tag", ""))
    options = [t.strip().strip("'") for t in expected.split(",")]
    hint = _close_match(given, options)
    suggestion = f"; did you mean '{hint[0]}'?" if hint else ""
    return f"{field}: '{given}' is not valid{suggestion} (allowed: {expected})"


def _close_match(word: str, choices: list[str]) -> list[str]:
    import difflib  # only for a message: off the cold start of a valid invocation (4 ms)

    return difflib.get_close_matches(word, choices, n=1, cutoff=0.6)


_SECRET_FIELDS = {"password", "token", "nats_password", "nats_token", "access_token"}


def _allowed_tags(tag: str) -> str:
    """The values allowed for a union's tag field, as pydantic lists them."""
    if tag == "kind":
        return ", ".join(repr(k) for k in _FAMILIES)
    kinds = [k for k, (_, family_tag, _) in _FAMILIES.items() if family_tag == tag]
    return ", ".join(repr(t) for k in kinds for t in _members(k))


def _shape(value: Any) -> str:
    if isinstance(value, str):
        return f"a string of {len(value)} characters" if len(value) > 40 else repr(value)
    if isinstance(value, Mapping):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    return f"{type(value).__name__} {value!r}"
