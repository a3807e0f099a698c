"""The nats tool's operations (all but js_consume, which is a drain: ``runner.sources.nats``).

Each is a coroutine ``(js, tool, warn) -> data``: ``js`` the session's JetStream context, ``tool``
the validated spec model of its operation, ``warn`` appends a warning to the result. Each tools
module lists its operations once, in ``OPERATIONS``, keyed by the spec model they perform;
``operation(tool)`` finds the one for a validated tool.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from nats.js import JetStreamContext

    from runner.spec.common import ToolModel

Data = dict[str, Any]
Warn = Callable[[str], None]
#: The tool argument is the operation's own model (the registry's key).
Operation = Callable[["JetStreamContext", Any, Warn], Awaitable[Data]]
Registry = dict[type[Any], Operation]


def operation(tool: ToolModel) -> Operation:
    """The coroutine that performs ``tool`` (imports the three tools modules on first use)."""
    from runner.tools import nats_js, nats_kv, nats_object

    table: Registry = {
        **nats_kv.OPERATIONS,
        **nats_object.OPERATIONS,
        **nats_js.OPERATIONS,
    }
    return table[type(tool)]
