"""Credential aliases: ``auth: nats_main`` is the JSON file ``<credentials dir>/nats_main``.

That is what a Kubernetes Secret key mounted as a file gives. The file's content is a secret:
it is never logged, never echoed in an error, and parse errors say only *where* it is wrong.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

from runner.errors import ConfigurationError

#: Where the Job mounts the credential aliases (a projected volume of Secrets).
DEFAULT_CREDENTIALS_DIR = "/etc/toolpod/credentials"
_ALIAS = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


def credentials_dir(explicit: str | None = None) -> Path:
    return Path(explicit or os.environ.get("TOOLPOD_CREDENTIALS") or DEFAULT_CREDENTIALS_DIR)


def load_alias(directory: Path, alias: str) -> dict[str, Any]:
    """The credential JSON behind ``alias``; ``ConfigurationError`` naming what is wrong."""
    if not _ALIAS.match(alias) or ".." in alias:
        raise ConfigurationError(
            f"auth '{alias}' is not a valid credential alias (letters, digits, '.', '_', '-')"
        )
    path = directory / alias
    try:
        text = path.read_text()
    except FileNotFoundError:
        raise ConfigurationError(
            f"credential alias '{alias}' not found: no file {alias} in {directory} "
            "(mount the Secret there or pass --credentials DIR)"
        ) from None
    except OSError as e:
        raise ConfigurationError(
            f"credential alias '{alias}' cannot be read: {e.strerror}"
        ) from None
    try:
        value = json.loads(text)
    except ValueError as e:
        # Only the position: the content is secret.
        raise ConfigurationError(
            f"credential alias '{alias}' is not valid JSON (line {getattr(e, 'lineno', '?')})"
        ) from None
    if not isinstance(value, dict):
        raise ConfigurationError(f"credential alias '{alias}' must be a JSON object")
    return value
