"""Credential aliases: ``auth: nats_main`` is the JSON file ``<credentials dir>/nats_main``.

That is what a Kubernetes Secret key mounted as a file gives. The file's content is a secret:
it is never logged, never echoed in an error, and parse errors say only *where* it is wrong.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

from runner import contract as C
from runner.document import parse_json, read_bounded
from runner.errors import ConfigurationError

#: Where the Job mounts the credential aliases (a projected volume of Secrets).
DEFAULT_CREDENTIALS_DIR = C.CREDENTIALS_DIR
#: A Secret key's characters (and a file name's): no '/', no leading dot, no newline.
_ALIAS = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,252}")
#: A credential is a few small fields or one PEM bundle; more is not a credential.
MAX_CREDENTIAL_BYTES = 1024 * 1024


def credentials_dir(explicit: str | None = None) -> Path:
    return Path(explicit or os.environ.get(C.ENV_CREDENTIALS) or DEFAULT_CREDENTIALS_DIR)


def is_alias(alias: str) -> bool:
    """Whether ``alias`` names a file in the credentials directory and nothing else."""
    return _ALIAS.fullmatch(alias) is not None and ".." not in alias


def load_alias(directory: Path, alias: str) -> dict[str, Any]:
    """The credential JSON behind ``alias``; ``ConfigurationError`` naming what is wrong."""
    if not is_alias(alias):
        # Not echoed: an invalid alias may be anything, a pasted secret or a newline included.
        raise ConfigurationError(
            f"auth: not a valid credential alias (got {len(alias)} characters; allowed: "
            "letters, digits, '.', '_', '-', at most 253, starting with a letter or digit)"
        )
    what = f"credential alias '{alias}'"
    try:
        with (directory / alias).open("rb") as stream:
            text = read_bounded(stream, what, MAX_CREDENTIAL_BYTES)
    except FileNotFoundError:
        raise ConfigurationError(
            f"{what} not found: no file {alias} in {directory} "
            "(mount the Secret there or pass --credentials DIR)"
        ) from None
    except OSError as e:
        raise ConfigurationError(f"{what} cannot be read: {e.strerror}") from None
    return parse_credential(text, what)


def parse_credential(text: str, what: str) -> dict[str, Any]:
    """A credential's JSON object; errors give only the position: the content is secret."""
    value = parse_json(text, what)
    if not isinstance(value, dict):
        raise ConfigurationError(f"{what} must be a JSON object")
    return value
