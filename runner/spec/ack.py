"""Ack modes of a drain (docs/reference.md §3), shared by ``subscription`` and the nats tool's
``js_consume``.

Users write any of several spellings (NoETL's vocabulary, booleans included); the executor only
ever sees one of four behaviours, and the result reports the canonical name NoETL's own parser
gives the spelling (bool ``true`` → ``on_success``, ``"true"`` → ``auto``), never the caller's.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any


class AckBehaviour(StrEnum):
    ACK_ALL = "on_success"  # ack everything returned, after the result is written
    MANUAL = "manual"  # ack nothing; return handles in ack_ids where the source has them
    DEFER = "defer"  # manual, with a handle on every message (ack_id)
    NONE = "none"  # ack nothing and surface no handles


#: lowercased spelling → (NoETL's canonical name, behaviour). NoETL keeps ``auto`` apart from
#: ``on_success`` in its name though both ack, and reads the string ``"true"`` as ``auto``.
_SPELLINGS: dict[str, tuple[str, AckBehaviour]] = {
    "on_success": ("on_success", AckBehaviour.ACK_ALL),
    "auto": ("auto", AckBehaviour.ACK_ALL),
    "true": ("auto", AckBehaviour.ACK_ALL),
    "manual": ("manual", AckBehaviour.MANUAL),
    "false": ("manual", AckBehaviour.MANUAL),
    "defer": ("defer", AckBehaviour.DEFER),
    "none": ("none", AckBehaviour.NONE),
    "peek": ("none", AckBehaviour.NONE),
}
_BOOLEANS = {True: ("on_success", AckBehaviour.ACK_ALL), False: ("manual", AckBehaviour.MANUAL)}
VALID_ACK_MODES = tuple(_SPELLINGS)


def parse_ack_mode(value: Any) -> tuple[str, AckBehaviour]:
    """``(canonical name, behaviour)``. Raises ``ValueError`` listing the valid modes."""
    if isinstance(value, bool):
        return _BOOLEANS[value]
    spelling = value.strip().lower() if isinstance(value, str) else ""
    if spelling not in _SPELLINGS:
        raise ValueError(
            f"{value!r} is not an ack mode; valid: {', '.join(VALID_ACK_MODES)} or a boolean"
        )
    return _SPELLINGS[spelling]
