"""The faults a chaos run injects, from the host, into its own namespace only (kubectl, and
``docker exec`` into the kind node for what only the node can do):

runner-pod-delete     a running runner Pod force-deleted (grace 0): the Job makes another.
runner-process-kill   the runner process SIGKILLed from the node (``crictl inspect`` gives its
                      host PID): inside its container it is PID 1, which ignores signals it
                      installed no handler for, so a kill from inside would do nothing.
controller-restart    the controller Pod force-deleted; its Deployment starts a new one.
broker-restart        the broker's process SIGKILLed from the node, then its Pod deleted; the
                      Deployment's new Pod mounts the same PersistentVolumeClaim (the run
                      kustomizes NATS' file store and Kafka's log onto one instead of
                      manifests/' emptyDir), as a crashed broker comes back to its disk. With
                      an emptyDir the data would go with the Pod, a loss no client could
                      prevent; restarting the container in place instead runs into the
                      kubelet's crash-loop back-off (up to 5 minutes) after a few kills. The
                      Pub/Sub emulator keeps everything in memory, so it is not restarted.
watch-drop            every established connection of the controller to the API server
                      (port 443, the ``kubernetes`` Service) destroyed with ``ss -K`` in the
                      controller's network namespace: its watches (and any request in flight)
                      see a reset connection, as when an API server or a load balancer drops
                      them.
"""

from __future__ import annotations

import random
import subprocess
import time
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass, field

from e2e.chaos.accounting import (
    BROKER_RESTART,
    CONTROLLER_RESTART,
    FAULT_KINDS,
    RUNNER_DELETE,
    RUNNER_KILL,
    WATCH_DROP,
    Fault,
)
from runner.contract import CONTAINER

RESTARTED_BROKERS = ("nats", "kafka")
# Run inside a node: the running containers named $1 of namespace $2, one "PID POD" a line (the
# host PID the node's runtime gave the container's first process). One call, no API round trip:
# a runner container lives a second or two.
RUNNING = (
    'for id in $(crictl ps -q --state Running --label "io.kubernetes.container.name=$1" '
    '--label "io.kubernetes.pod.namespace=$2"); do crictl inspect -o go-template --template '
    '"{{.info.pid}} {{index .status.labels \\"io.kubernetes.pod.name\\"}}{{\\"\\n\\"}}" "$id"; done'
)


def schedule(rng: random.Random, per_kind: int) -> list[str]:
    """``per_kind`` faults of each kind, in a random order."""
    kinds = [k for k in FAULT_KINDS for _ in range(per_kind)]
    rng.shuffle(kinds)
    return kinds


@dataclass
class FaultPlan:
    """The order faults are tried in: the seeded schedule, then make-ups while a kind is short
    of ``per_kind`` (a try finds no target now and then: no runner running at that instant, a
    broker's new Pod not scheduled yet). Make-ups go to the short kind tried least, at most
    ``max_makeups`` per kind, so a cluster that cannot host a target ends the run, and the
    report says how often each kind was tried and missed."""

    schedule: deque[str]
    per_kind: int
    max_makeups: int
    injected: Counter[str] = field(default_factory=Counter)
    missed: Counter[str] = field(default_factory=Counter)
    makeups: Counter[str] = field(default_factory=Counter)
    kinds: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        self.kinds = tuple(k for k in FAULT_KINDS if k in self.schedule)

    def next(self) -> str | None:
        """The kind to inject next; None when the plan is done (or given up)."""
        if self.schedule:
            return self.schedule.popleft()
        short = [k for k in self.kinds if self.short(k) and self.makeups[k] < self.max_makeups]
        if not short:
            return None
        kind = min(short, key=lambda k: self.makeups[k])
        self.makeups[kind] += 1
        return kind

    def record(self, kind: str, injected: bool) -> None:
        (self.injected if injected else self.missed)[kind] += 1

    def short(self, kind: str) -> bool:
        return kind in self.kinds and self.injected[kind] < self.per_kind

    def summary(self, kind: str) -> str:
        return (
            f"{self.injected[kind]} of {self.per_kind} injected, {self.missed[kind]} tries "
            f"without a target, {self.makeups[kind]} make-ups"
        )


def _run(*cmd: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False)


@dataclass(frozen=True)
class Target:
    node: str
    pid: str
    pod: str

    @property
    def invocation(self) -> str:
        """A runner Pod is named after its Job, ``toolpod-<id>``, plus a suffix."""
        return self.pod.removeprefix("toolpod-").rsplit("-", 1)[0]


class Injector:
    def __init__(self, namespace: str, rng: random.Random) -> None:
        self.ns, self.rng = namespace, rng
        out = _run("kubectl", "get", "nodes", "-o", "jsonpath={.items[*].metadata.name}")
        self.nodes = out.stdout.split()
        self._broker_turn = 0

    def inject(self, kind: str) -> Fault | None:
        """One fault of ``kind`` now; None when it has no target at this instant."""
        act: dict[str, Callable[[], Fault | None]] = {
            RUNNER_DELETE: self.runner_delete,
            RUNNER_KILL: self.runner_kill,
            CONTROLLER_RESTART: self.controller_restart,
            BROKER_RESTART: self.broker_restart,
            WATCH_DROP: self.watch_drop,
        }
        return act[kind]()

    def _running(self, container: str) -> list[Target]:
        found = []
        for node in self.nodes:
            out = _run("docker", "exec", node, "sh", "-c", RUNNING, "_", container, self.ns)
            for line in out.stdout.splitlines():
                if len(parts := line.split()) == 2:
                    found.append(Target(node, parts[0], parts[1]))
        return found

    def _one(self, container: str) -> Target | None:
        found = self._running(container)
        return self.rng.choice(found) if found else None

    def _kill(self, t: Target) -> bool:
        return _run("docker", "exec", t.node, "kill", "-9", t.pid).returncode == 0

    def _delete(self, pod: str) -> None:
        _run("kubectl", "-n", self.ns, "delete", "pod", pod, "--grace-period=0", "--force")

    def runner_delete(self) -> Fault | None:
        if (t := self._one(CONTAINER)) is None:
            return None
        self._delete(t.pod)
        return Fault(RUNNER_DELETE, time.time(), t.pod, invocation=t.invocation)

    def runner_kill(self) -> Fault | None:
        if (t := self._one(CONTAINER)) is None or not self._kill(t):
            return None
        return Fault(RUNNER_KILL, time.time(), t.pod, invocation=t.invocation)

    def controller_restart(self) -> Fault | None:
        if (t := self._one("controller")) is None:
            return None
        self._delete(t.pod)
        return Fault(CONTROLLER_RESTART, time.time(), t.pod)

    def broker_restart(self) -> Fault | None:
        broker = RESTARTED_BROKERS[self._broker_turn % len(RESTARTED_BROKERS)]
        if (t := self._one(broker)) is None or not self._kill(t):
            return None
        # The Pod goes at once too: a container the kubelet restarts in place backs off (up to
        # 5 minutes after a few crashes); the new Pod mounts the same claim without delay.
        self._delete(t.pod)
        self._broker_turn += 1
        return Fault(BROKER_RESTART, time.time(), t.pod, source=broker)

    def watch_drop(self) -> Fault | None:
        if (t := self._one("controller")) is None:
            return None
        ss = ["ss", "-K", "-tnH", "state", "established", "( dport = :443 or dport = :6443 )"]
        out = _run("docker", "exec", t.node, "nsenter", "-t", t.pid, "-n", *ss)
        dropped = len(out.stdout.splitlines())
        if out.returncode != 0 or dropped == 0:
            return None
        return Fault(WATCH_DROP, time.time(), f"{t.pod} ({dropped} connections)")
