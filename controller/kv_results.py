"""Results in a NATS KV bucket (``result.sink: nats_kv``) that did not fit the runner's 4 KiB
termination message: read once, after the Job finished, with the same credential alias the
runner used (read from its Secret, written to a private temporary directory for the length of
one connection, never logged).
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import tempfile
from pathlib import Path
from typing import Any

from controller.k8s import Kube
from controller.settings import Settings


def sink_of(job: dict[str, Any]) -> tuple[str, str] | None:
    """(bucket, alias) when the Job's runner writes to a KV bucket."""
    try:
        env = job["spec"]["template"]["spec"]["containers"][0].get("env") or []
    except (KeyError, IndexError, TypeError):
        return None
    values = {e["name"]: e.get("value") for e in env}
    sink, alias = values.get("TOOLPOD_SINK") or "", values.get("TOOLPOD_SINK_AUTH")
    if not sink.startswith("nats-kv:") or not alias:
        return None
    return sink.removeprefix("nats-kv:"), alias


def read(kube: Kube, settings: Settings, job: dict[str, Any], inv_id: str) -> dict[str, Any] | None:
    """The ToolResult the runner stored under ``inv_id``, or None when there is none."""
    target = sink_of(job)
    if target is None:
        return None
    bucket, alias = target
    ref = settings.secret_for(alias)
    secret = kube.get("v1", "Secret", settings.namespace, ref.name) or {}
    raw = (secret.get("data") or {}).get(ref.key)
    if raw is None:
        return None
    with tempfile.TemporaryDirectory(prefix="toolpod-kv-") as tmp:
        path = Path(tmp) / alias
        fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o600)
        with os.fdopen(fd, "wb") as out:
            out.write(base64.b64decode(raw))
        return asyncio.run(_get(Path(tmp), alias, bucket, inv_id))


async def _get(creds: Path, alias: str, bucket: str, key: str) -> dict[str, Any] | None:
    from runner.natsconn import resolve_target, session

    target = resolve_target({}, alias, creds)
    async with session(target, f"reading result {key} from KV bucket '{bucket}'") as (_nc, js):
        kv = await js.key_value(bucket)
        try:
            entry = await kv.get(key)
        except Exception:  # absent: the termination message's summary is all there is
            return None
        return dict(json.loads(entry.value or b"{}"))
