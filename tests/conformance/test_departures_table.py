"""The departures table is one table: docs/conformance.md shows exactly ``DEPARTURES``, every row
is one some case expects, and a difference no row explains fails (no broker needed)."""

from __future__ import annotations

import pytest

from tests.conformance import test_nats, test_pubsub
from tests.conformance.departures import DEPARTURES, assert_conforms, markdown_table
from tests.fixtures._process import ROOT

#: Rows the table-driven cases do not name: the failure tests and the URL-userinfo test do.
SEPARATE_TESTS = {"error-kinds", "url-userinfo"}


def test_the_docs_show_the_table_the_tier_applies() -> None:
    assert markdown_table() in (ROOT / "docs" / "conformance.md").read_text()


def test_every_departure_is_expected_by_some_case() -> None:
    named = {d for case in [*test_nats.CASES, *test_pubsub.CASES] for d in case.departures}
    assert named | SEPARATE_TESTS == {d.key for d in DEPARTURES if not d.intermittent}


def _drain(messages: list[dict[str, object]], acked: bool = True, **broker: object) -> dict[str, object]:
    data = {"count": len(messages), "acked": acked, "messages": messages}
    return {"data": data, "broker": {"num_ack_pending": 0, "delivered": (1, 1), "ack_floor": (1, 1), **broker}}


MESSAGE = {"id": "1", "data": {"n": 1}, "headers": {}}


@pytest.mark.parametrize(
    ("noetl", "toolpod", "expected"),
    [
        pytest.param(_drain([MESSAGE]), _drain([MESSAGE]), set(), id="equal"),
        pytest.param(_drain([MESSAGE]), _drain([{**MESSAGE, "data": {"n": 2}}]), None, id="a value no row explains"),
        pytest.param(_drain([MESSAGE]), _drain([{**MESSAGE, "extra": 1}]), None, id="a key no row explains"),
        pytest.param(_drain([MESSAGE]), _drain([MESSAGE, MESSAGE]), None, id="a count no row explains"),
        pytest.param(_drain([{**MESSAGE, "data": "\ufffd"}]), _drain([{**MESSAGE, "data": "/w==", "encoding": "base64"}]), {"binary-base64"}, id="base64 of the bytes NoETL lost"),
        pytest.param(_drain([{**MESSAGE, "data": "x"}]), _drain([{**MESSAGE, "data": "/w==", "encoding": "base64"}]), None, id="base64 of other bytes"),
        pytest.param(_drain([MESSAGE], num_ack_pending=1, ack_floor=(0, 0)), _drain([MESSAGE]), set(), id="an ack NoETL lost (intermittent)"),
        pytest.param(_drain([MESSAGE]), _drain([MESSAGE], num_ack_pending=1, ack_floor=(0, 0)), None, id="an ack toolpod lost"),
    ],
)
def test_only_the_tables_departures_reconcile(noetl: dict[str, object], toolpod: dict[str, object], expected: set[str] | None) -> None:
    if expected is not None:
        assert_conforms(noetl, toolpod, expected)
        return
    with pytest.raises(AssertionError):
        assert_conforms(noetl, toolpod, set())
