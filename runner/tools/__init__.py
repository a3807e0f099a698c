"""The nats tool's operations (all but js_consume, which is a drain: ``runner.sources.nats``).

Each is a coroutine ``(js, tool, warn) -> data``: ``js`` the session's JetStream context, ``tool``
the validated spec model of its operation, ``warn`` appends a warning to the result. Each tools
module lists its operations once, in ``OPERATIONS``, keyed by the spec model they perform;
``operation(tool)`` finds the one for a validated tool.
"""

from __future__ import annotations

import importlib
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from nats.js import JetStreamContext

    from runner.spec.nats import NatsFields

Data = dict[str, Any]
Warn = Callable[[str], None]
#: The tool argument is the operation's own model (the registry's key).
Operation = Callable[["JetStreamContext", Any, Warn], Awaitable[Data]]
Registry = dict[type[Any], Operation]


#: The tools module of each operation family (an operation's name starts with its family):
#: only the module of the operation at hand is imported, off the others' cold start.
_MODULES = {
    "kv": "runner.tools.nats_kv",
    "object": "runner.tools.nats_object",
    "js": "runner.tools.nats_js",
}


def operation(tool: NatsFields) -> Operation:
    """The coroutine that performs ``tool`` (imports its family's tools module on first use)."""
    family = tool.operation.partition("_")[0]
    table: Registry = importlib.import_module(_MODULES[family]).OPERATIONS
    return table[type(tool)]
