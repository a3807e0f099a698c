"""What Kubernetes allows as a name, checked before the name reaches a request, a label or a
file path: an id like ``../../api/v1/...`` must be refused, not sent.

The invocation id is the runner's own type (``runner.spec.invocation.InvocationId``), so the
CLI, the service and the spec parser accept exactly the same ids.
"""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import Field, TypeAdapter, ValidationError

from controller.errors import InvalidInput
from runner.contract import DNS_LABEL, DNS_SUBDOMAIN
from runner.spec.invocation import InvocationId

_ID: TypeAdapter[str] = TypeAdapter(InvocationId)
_NAMESPACE: TypeAdapter[str] = TypeAdapter(
    Annotated[str, Field(pattern=f"^{DNS_LABEL}$", max_length=63)]
)
_SUBDOMAIN = re.compile(DNS_SUBDOMAIN)
_LABEL_RULE = "lowercase letters, digits and '-', starting and ending with a letter or digit"


def invocation_id(value: object, field: str = "id") -> str:
    """``value`` when it is a valid invocation id, else ``InvalidInput`` naming ``field``."""
    return _checked(_ID, value, f"{field}: must be 1 to 52 {_LABEL_RULE}")


def namespace(value: object, field: str = "namespace") -> str:
    return _checked(_NAMESPACE, value, f"{field}: must be 1 to 63 {_LABEL_RULE}")


def _checked(adapter: TypeAdapter[str], value: object, rule: str) -> str:
    try:
        return adapter.validate_python(value, strict=True)
    except ValidationError:
        raise InvalidInput(f"{rule} (got {_shape(value)})") from None


def object_name(value: str, field: str = "name") -> str:
    """A name Kubernetes allows for the objects toolpod creates, reads or deletes."""
    if len(value) > 253 or not _SUBDOMAIN.fullmatch(value):
        raise InvalidInput(f"{field}: must be 1 to 253 {_LABEL_RULE} or '.' (got {_shape(value)})")
    return value


def _shape(value: object) -> str:
    """The value as a message may show it: short printable text quoted, anything else
    described (a terminal must not interpret what an attacker typed)."""
    if isinstance(value, str) and len(value) <= 60 and value.isprintable():
        return repr(value)
    if isinstance(value, str):
        return f"a string of {len(value)} characters"
    return type(value).__name__
