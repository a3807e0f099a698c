"""The service's Prometheus metrics (docs/service.md), in a registry of its own (one per app, so two
apps in one process — tests, two replicas — do not collide). Labels never carry an
execution id or an invocation id: their values are unbounded."""

from __future__ import annotations

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    ProcessCollector,
    generate_latest,
)

_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600)


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        # process_resident_memory_bytes, CPU seconds, open fds: what an operator (and the load
        # suite, e2e/chaos) watches for growth.
        ProcessCollector(registry=r)
        self.invocations = Counter(
            "toolpod_invocations",
            "Finished invocations by tool kind, operation and outcome.",
            ["kind", "operation", "outcome"],
            registry=r,
        )
        self.submit_to_job = Histogram(
            "toolpod_submit_to_job_seconds",
            "From the accepted POST to the Job created and resumed (queue time included).",
            buckets=_BUCKETS,
            registry=r,
        )
        self.submit_to_result = Histogram(
            "toolpod_submit_to_result_seconds",
            "From the accepted POST to the invocation's outcome.",
            buckets=_BUCKETS,
            registry=r,
        )
        self.in_flight = Gauge("toolpod_in_flight", "Invocations with a Job now.", registry=r)
        self.queued = Gauge("toolpod_queued", "Invocations waiting for a slot.", registry=r)
        self.http = Counter(
            "toolpod_http_requests",
            "HTTP requests by route template, method and status code.",
            ["route", "method", "code"],
            registry=r,
        )
        self.http_seconds = Histogram(
            "toolpod_http_request_seconds",
            "HTTP request duration by route template and method.",
            ["route", "method"],
            buckets=_BUCKETS,
            registry=r,
        )

    def render(self) -> bytes:
        return generate_latest(self.registry)
