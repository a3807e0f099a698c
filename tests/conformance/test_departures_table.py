"""The departures table is one table: docs/conformance.md shows exactly ``DEPARTURES``, and every
row is one some case expects (no broker needed)."""

from __future__ import annotations

from tests.conformance import test_nats, test_pubsub
from tests.conformance.departures import DEPARTURES, markdown_table
from tests.fixtures._process import ROOT

#: Rows the table-driven cases do not name: the failure tests and the URL-userinfo test do.
SEPARATE_TESTS = {"error-kinds", "url-userinfo"}


def test_the_docs_show_the_table_the_tier_applies() -> None:
    assert markdown_table() in (ROOT / "docs" / "conformance.md").read_text()


def test_every_departure_is_expected_by_some_case() -> None:
    named = {d for case in [*test_nats.CASES, *test_pubsub.CASES] for d in case.departures}
    assert named | SEPARATE_TESTS == {d.key for d in DEPARTURES}
