"""The conformance tier: NoETL's own code and toolpod's runner on identical broker state.

``noetl`` is the pinned NoETL CLI (scripts/install-noetl; ``$TOOLPOD_NOETL_BIN`` overrides).
NATS cases run against two servers holding the same stream, consumer and messages (the
session's ``nats_server`` for toolpod, ``nats_twin`` for NoETL), so even names and sequences
agree; Pub/Sub cases give one topic two fresh subscriptions, one per side, which receive the
very same messages (ids and publish times included).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

# The departures' checks and the final comparison are asserts: show pytest's diffs for them.
pytest.register_assert_rewrite("tests.conformance.departures")

from tests.conformance.oracle import Noetl  # noqa: E402 (after the rewrite hook)
from tests.fixtures._process import installed, stop  # noqa: E402
from tests.fixtures.nats import NatsServer, start_nats  # noqa: E402


@pytest.fixture(scope="session")
def noetl(tmp_path_factory: pytest.TempPathFactory) -> Noetl:
    """NoETL's CLI at the pinned version, run in scratch directories."""
    return Noetl(Path(installed("TOOLPOD_NOETL_BIN", "install-noetl")), tmp_path_factory.mktemp("noetl"))


@pytest.fixture(scope="session")
def nats_twin(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NatsServer]:
    """A second nats-server, configured like ``nats_server``, that NoETL drains."""
    proc, server = start_nats(tmp_path_factory.mktemp("nats-twin"))
    yield server
    stop(proc)
