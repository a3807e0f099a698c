"""The sizes of a run (``--size``): how much work, how many faults, how fast they come.

``large`` meets issue 14's bar (at least 300 drains, at least 30 faults of each kind; 1,000
load invocations at ``maxInFlight`` 50); ``small`` is the same run in a few minutes, for CI.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Size:
    messages: int  # per source
    drains: int  # at least, during the faults
    batch: int
    concurrency: int  # drains at once
    faults_per_kind: int
    fault_interval_s: float
    load_total: int
    load_concurrency: int
    max_in_flight: int  # the release's controller.maxInFlight during the load suite
    #: The load suite's bound for a final record (CHAOS_BOUND_S): its invocations queue behind
    #: ``max_in_flight`` by design, so a slow node makes them wait minutes, not lost.
    load_bound_s: int = 900

    def workload_env(self) -> dict[str, str]:
        return {
            "CHAOS_MESSAGES": str(self.messages),
            "CHAOS_DRAINS": str(self.drains),
            "CHAOS_BATCH": str(self.batch),
            "CHAOS_CONCURRENCY": str(self.concurrency),
            "LOAD_TOTAL": str(self.load_total),
            "LOAD_CONCURRENCY": str(self.load_concurrency),
        }


SIZES = {
    "small": Size(
        messages=40, drains=24, batch=5, concurrency=4, faults_per_kind=2,
        fault_interval_s=4, load_total=60, load_concurrency=20, max_in_flight=10,
    ),
    "large": Size(
        messages=450, drains=300, batch=5, concurrency=8, faults_per_kind=30,
        fault_interval_s=2, load_total=1000, load_concurrency=100, max_in_flight=50,
    ),
}  # fmt: skip
