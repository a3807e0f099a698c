"""The faults a chaos run injects, from the host, into its own namespace only (kubectl, and
``docker exec`` into the kind node for what only the node can do):

runner-pod-delete     a running runner Pod force-deleted (grace 0): the Job makes another.
runner-process-kill   the runner process SIGKILLed from the node (``crictl inspect`` gives its
                      host PID): inside its container it is PID 1, which ignores signals it
                      installed no handler for, so a kill from inside would do nothing.
controller-restart    the controller Pod force-deleted; its Deployment starts a new one.
broker-restart        the broker's process SIGKILLed from the node: the kubelet restarts the
                      *container* in the same Pod, so its emptyDir (NATS' file store, Kafka's
                      log) survives, as a disk survives a crashed broker. Deleting the Pod
                      would delete the data with it: a loss no client could prevent. The
                      Pub/Sub emulator keeps everything in memory, so it is not restarted.
watch-drop            every established connection of the controller to the API server
                      (port 443, the ``kubernetes`` Service) destroyed with ``ss -K`` in the
                      controller's network namespace: its watches (and any request in flight)
                      see a reset connection, as when an API server or a load balancer drops
                      them.
"""

from __future__ import annotations

import json
import random
import subprocess
import time
from collections.abc import Callable

from e2e.chaos.accounting import (
    BROKER_RESTART,
    CONTROLLER_RESTART,
    FAULT_KINDS,
    RUNNER_DELETE,
    RUNNER_KILL,
    WATCH_DROP,
    Fault,
)

RESTARTED_BROKERS = ("nats", "kafka")
RUNNERS = "app.kubernetes.io/name=toolpod,app.kubernetes.io/component=runner"
CONTROLLER = "app.kubernetes.io/component=controller"
# The container's host PID, from crictl (run inside the node: `sh -c SCRIPT _ LABEL...`).
PID = 'cid=$(crictl ps -q --state Running "$@" | head -1); [ -n "$cid" ] || exit 3; '
PID += "crictl inspect -o go-template --template '{{.info.pid}}' \"$cid\""


def schedule(rng: random.Random, per_kind: int) -> list[str]:
    """``per_kind`` faults of each kind, in a random order."""
    kinds = [k for k in FAULT_KINDS for _ in range(per_kind)]
    rng.shuffle(kinds)
    return kinds


def _run(*cmd: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False)


class Injector:
    def __init__(self, namespace: str, rng: random.Random) -> None:
        self.ns, self.rng = namespace, rng
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

    def _pods(self, selector: str) -> list[dict[str, str]]:
        out = _run("kubectl", "-n", self.ns, "get", "pods", "-l", selector, "-o", "json")
        pods = json.loads(out.stdout or '{"items": []}')["items"]
        return [
            {
                "name": p["metadata"]["name"],
                "node": p["spec"].get("nodeName", ""),
                "invocation": p["metadata"]["labels"].get("toolpod.dev/invocation", ""),
            }
            for p in pods
            if p["status"].get("phase") == "Running" and "deletionTimestamp" not in p["metadata"]
        ]

    def _pid(self, node: str, *labels: str) -> str | None:
        args = [a for lab in labels for a in ("--label", lab)]
        out = _run("docker", "exec", node, "sh", "-c", PID, "_", *args)
        return out.stdout.strip() if out.returncode == 0 and out.stdout.strip() else None

    def _kill(self, node: str, pod: str, container: str | None = None) -> bool:
        labels = [f"io.kubernetes.pod.namespace={self.ns}", f"io.kubernetes.pod.name={pod}"]
        if container:
            labels.append(f"io.kubernetes.container.name={container}")
        pid = self._pid(node, *labels)
        return pid is not None and _run("docker", "exec", node, "kill", "-9", pid).returncode == 0

    def _runner(self) -> dict[str, str] | None:
        pods = self._pods(RUNNERS)
        return self.rng.choice(pods) if pods else None

    def runner_delete(self) -> Fault | None:
        pod = self._runner()
        if pod is None:
            return None
        _run("kubectl", "-n", self.ns, "delete", "pod", pod["name"], "--grace-period=0", "--force")
        return Fault(RUNNER_DELETE, time.time(), pod["name"], invocation=pod["invocation"])

    def runner_kill(self) -> Fault | None:
        pod = self._runner()
        if pod is None or not self._kill(pod["node"], pod["name"]):
            return None
        return Fault(RUNNER_KILL, time.time(), pod["name"], invocation=pod["invocation"])

    def controller_restart(self) -> Fault | None:
        pods = self._pods(CONTROLLER)
        if not pods:
            return None
        name = pods[0]["name"]
        _run("kubectl", "-n", self.ns, "delete", "pod", name, "--grace-period=0", "--force")
        return Fault(CONTROLLER_RESTART, time.time(), name)

    def broker_restart(self) -> Fault | None:
        broker = RESTARTED_BROKERS[self._broker_turn % len(RESTARTED_BROKERS)]
        app = "pubsub-emulator" if broker == "pubsub" else broker
        pods = self._pods(f"app.kubernetes.io/name={app}")
        if not pods or not self._kill(pods[0]["node"], pods[0]["name"], app):
            return None
        self._broker_turn += 1
        return Fault(BROKER_RESTART, time.time(), pods[0]["name"], source=broker)

    def watch_drop(self) -> Fault | None:
        pods = self._pods(CONTROLLER)
        if not pods:
            return None
        pod = pods[0]
        labels = [f"io.kubernetes.pod.namespace={self.ns}", f"io.kubernetes.pod.name={pod['name']}"]
        pid = self._pid(pod["node"], *labels, "io.kubernetes.container.name=controller")
        if pid is None:
            return None
        ss = ["ss", "-K", "-tnH", "state", "established", "( dport = :443 or dport = :6443 )"]
        out = _run("docker", "exec", pod["node"], "nsenter", "-t", pid, "-n", *ss)
        dropped = len(out.stdout.splitlines())
        if out.returncode != 0 or dropped == 0:
            return None
        return Fault(WATCH_DROP, time.time(), f"{pod['name']} ({dropped} connections)")
