"""docs/reference.md §3: every spelling of ``ack`` maps to one behaviour, and the result's ``ack_mode`` is the
canonical name NoETL's own parser gives it (``AckMode::parse`` then ``as_str``), never the
caller's spelling."""

from __future__ import annotations

from typing import Any

import pytest

from runner.spec.ack import AckBehaviour, parse_ack_mode

ACK_ALL, MANUAL, DEFER, NONE = (
    AckBehaviour.ACK_ALL,
    AckBehaviour.MANUAL,
    AckBehaviour.DEFER,
    AckBehaviour.NONE,
)


@pytest.mark.parametrize(
    ("given", "canonical", "behaviour"),
    [
        (True, "on_success", ACK_ALL),
        (False, "manual", MANUAL),
        ("on_success", "on_success", ACK_ALL),
        ("On_Success", "on_success", ACK_ALL),
        ("auto", "auto", ACK_ALL),
        ("AUTO", "auto", ACK_ALL),
        ("true", "auto", ACK_ALL),
        ("TRUE", "auto", ACK_ALL),
        ("manual", "manual", MANUAL),
        ("false", "manual", MANUAL),
        ("False", "manual", MANUAL),
        ("defer", "defer", DEFER),
        ("DEFER", "defer", DEFER),
        ("none", "none", NONE),
        ("peek", "none", NONE),
        ("Peek", "none", NONE),
    ],
)
def test_the_canonical_name_and_behaviour_of_each_spelling(
    given: Any, canonical: str, behaviour: AckBehaviour
) -> None:
    assert parse_ack_mode(given) == (canonical, behaviour)


@pytest.mark.parametrize("given", ["yes", "", 1, None, ["auto"]])
def test_anything_else_is_refused_with_the_valid_modes(given: Any) -> None:
    with pytest.raises(ValueError, match="valid: on_success, auto, true, manual"):
        parse_ack_mode(given)
