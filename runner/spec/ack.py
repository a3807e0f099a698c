"""Ack modes of a drain (SPEC §3), shared by ``subscription`` and the nats tool's ``js_consume``.

Users write any of several spellings (NoETL's vocabulary, booleans included); the executor only
ever sees one of four behaviours.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any


class AckBehaviour(StrEnum):
    ACK_ALL = "on_success"  # ack everything returned, after the result is written
    MANUAL = "manual"  # ack nothing; return handles in ack_ids where the source has them
    DEFER = "defer"  # manual, with a handle on every message (ack_id)
    NONE = "none"  # ack nothing and surface no handles


_SPELLINGS: dict[str, AckBehaviour] = {
    "on_success": AckBehaviour.ACK_ALL,
    "auto": AckBehaviour.ACK_ALL,
    "true": AckBehaviour.ACK_ALL,
    "manual": AckBehaviour.MANUAL,
    "false": AckBehaviour.MANUAL,
    "defer": AckBehaviour.DEFER,
    "none": AckBehaviour.NONE,
    "peek": AckBehaviour.NONE,
}
VALID_ACK_MODES = tuple(_SPELLINGS)


def parse_ack_mode(value: Any) -> tuple[str, AckBehaviour]:
    """``(spelling as given, lowercased; behaviour)``. Raises ``ValueError`` listing valid modes."""
    if isinstance(value, bool):
        spelling = "true" if value else "false"
    elif isinstance(value, str):
        spelling = value.strip().lower()
    else:
        spelling = ""
    if spelling not in _SPELLINGS:
        raise ValueError(
            f"{value!r} is not an ack mode; valid: {', '.join(VALID_ACK_MODES)} or a boolean"
        )
    return spelling, _SPELLINGS[spelling]
