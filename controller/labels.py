"""Label and annotation keys on every object the controller creates (state lives in them)."""

from __future__ import annotations

APP = "toolpod"
NAME = "app.kubernetes.io/name"
COMPONENT = "app.kubernetes.io/component"
INVOCATION = "toolpod.dev/invocation"
TOOL = "toolpod.dev/tool"
OPERATION = "toolpod.dev/operation"
SOURCE = "toolpod.dev/source"
#: Annotations: free text that label values could not hold.
EXECUTION_ID = "toolpod.dev/execution-id"
STEP = "toolpod.dev/step"
#: Validation warnings (JSON list) the runner cannot repeat: it reads already-clamped values.
WARNINGS = "toolpod.dev/warnings"
#: Set on the Job just before cancel deletes it, so every watcher reports `cancelled`.
CANCELLED = "toolpod.dev/cancelled"

#: Selects every toolpod object (cleanup checks, `toolpod list`).
ALL = f"{NAME}={APP}"
#: What the shared watches select.
RUNNERS = f"{NAME}={APP},{COMPONENT}=runner"
RESULTS = f"{NAME}={APP},{COMPONENT}=result"
