"""The service's /metrics carries the process's own figures beside toolpod's (the load suite of
e2e/chaos reads the controller's resident memory from it), and two apps in one process keep
registries of their own."""

from __future__ import annotations

import pytest

from controller.service.metrics import Metrics


@pytest.mark.parametrize("name", ["process_resident_memory_bytes", "process_cpu_seconds_total", "process_open_fds", "toolpod_in_flight"])
def test_metrics_render_the_process_figures_beside_toolpods(name: str) -> None:
    text = Metrics().render().decode()
    assert any(line.startswith(name + " ") for line in text.splitlines())


def test_two_apps_in_one_process_do_not_collide() -> None:
    a, b = Metrics(), Metrics()
    a.queued.set(3)
    assert b"toolpod_queued 0.0" in b.render()
