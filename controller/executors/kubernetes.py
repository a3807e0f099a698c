"""The ``kubernetes`` executor: each invocation a Job; outcomes from the shared watches.

submit:  validate credentials (GET each Secret) ─▶ claim the id's record (``records``: an
         existing one with another invocation is ``IdConflict``, a finished one answers without
         a second run) ─▶ Job (suspended; 409 = attach) ─▶ satellites owned by the Job's uid ─▶
         resume.  Nothing is created when a credential is missing.
outcome: the finished record, or the tracker's future (decided at the runner's verified final
         record, docs/controller.md) ─▶ ``_resolve``: decide → read the result ConfigMap or KV
         key once if its watch lags → decide ─▶ write the final record (the first writer wins)
         ─▶ answer ─▶ then, off the caller's path, delete the Job (Background; GC takes Pods,
         spec, result, RBAC) unless ``settings.keep``.
cancel:  annotate the Job cancelled (every watcher, in any process, then reports it) ─▶ delete.
"""

from __future__ import annotations

import logging
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import wait as wait_all
from typing import Any

from controller import kv_results, result_loop
from controller import labels as L
from controller.errors import (
    ApiClientError,
    InvocationNotFound,
    KubeError,
    NotFound,
    SubmitError,
    WatchesNotSynced,
)
from controller.k8s import Kube, api_client
from controller.outcome import NeedResultRead, Observed, Outcome, decide, kv_sink_of, synthetic
from controller.records import Record, Records
from controller.render import Rendered, owned_by, render
from controller.settings import Settings, from_env
from controller.tracker import Decision, Tracker
from controller.watch import Handlers, Informer
from runner import contract as C
from runner.contract import job_name
from runner.errors import ToolpodError
from runner.spec.invocation import Invocation

logger = logging.getLogger("toolpod.controller")

SYNC_TIMEOUT_S = 30.0
#: Expired records are deleted at most this often (by whoever submits in the namespace).
SWEEP_EVERY_S = 60.0
#: How long a result waits for its KV bucket's watcher to deliver the values already there.
KV_SYNC_WAIT_S = 3.0
#: How long ``logs`` waits for the kubelet to report a runner that has already answered.
LOGS_WAIT_S = 20.0
#: How long ``close`` waits for the Job deletions still under way after their answers.
CLEANUP_WAIT_S = 10.0


class KubernetesExecutor:
    name = "kubernetes"

    def __init__(
        self,
        settings: Settings | None = None,
        *,
        client: Any = None,
        kubeconfig: str | None = None,
        workers: int = 32,
        sync_timeout_s: float = SYNC_TIMEOUT_S,
    ) -> None:
        self.settings = settings or from_env()
        self.sync_timeout_s = sync_timeout_s
        self._own_client = client is None
        self._client = client if client is not None else api_client(kubeconfig)
        self.kube = Kube(self._client)
        self._pool = ThreadPoolExecutor(workers, thread_name_prefix="toolpod-finish")
        self._lock = threading.Lock()
        self._loop = result_loop.wire(
            self._informer, kv_results.credential_from_secret(self.kube, self.settings)
        )
        self.kv = self._loop.kv
        #: The loop's tracker once its watches started (the first call that needs them).
        self._tracker: Tracker | None = None
        #: ``_finish`` tasks under way (each ends with its Job's deletion): ``close`` waits.
        self._finishing: set[Future[None]] = set()
        #: Invocations answered whose Job is not deleted yet -> done when it is (``cleaned``).
        self._cleaning: dict[str, Future[None]] = {}
        #: Results read from their sink directly because its watch had not caught up.
        self.sink_reads = 0
        #: Invocations this process submitted -> the uid of their Job.
        self._mine: dict[str, str] = {}
        self.records = Records(
            self.kube, self.namespace, self.settings.retention_s, self.settings.owner_references
        )
        self._swept = 0.0

    @property
    def namespace(self) -> str:
        return self.settings.namespace

    # -- the shared watches ------------------------------------------------------------------

    def tracker(self) -> Tracker:
        with self._lock:
            if self._tracker is None:
                self._tracker = self._loop.tracker
                self._tracker.start()
            tracker = self._tracker
        problem = tracker.wait_synced(self.sync_timeout_s)
        if isinstance(problem, KubeError):
            raise problem  # refused (403...), or unreachable list after list
        if problem is not None:
            raise WatchesNotSynced(
                f"the watches of namespace {self.namespace} did not list within "
                f"{self.sync_timeout_s:g}s: {problem}"
            )
        return tracker

    def _informer(self, api: str, kind: str, selector: str, handlers: Handlers) -> Informer:
        ns = self.namespace
        return Informer(
            name=f"{ns}/{kind}",
            list_fn=self.kube.list_fn(api, kind, ns, selector),
            watch_fn=self.kube.watch_fn(api, kind, ns, selector),
            handlers=handlers,
        )

    # -- submit ------------------------------------------------------------------------------

    def submit(self, invocation: Invocation) -> str:
        """Claim the id and start the Job, unless the id's record is finished already."""
        record, _created = self.claim(invocation)
        if not record.final:
            self.start(invocation)
        return invocation.invocation_id

    def claim(self, invocation: Invocation, phase: str = "Running") -> tuple[Record, bool]:
        """Check the credentials, then create (or read) the id's record; nothing else yet."""
        self._check_credentials(render(invocation, self.settings))
        self._maybe_sweep()
        return self.records.claim(invocation, phase)  # type: ignore[arg-type]

    def start(self, invocation: Invocation) -> None:
        """Create the Job (or attach to the one with this id)."""
        rendered = render(invocation, self.settings)
        self.tracker()
        job, created = self.kube.create_or_get(rendered.job)
        self._mine[invocation.invocation_id] = str(job["metadata"]["uid"])
        if created or (job.get("spec") or {}).get("suspend"):
            # Also on attach to a suspended Job: a controller that died mid-submit left it so.
            self._finish_setup(rendered, str(job["metadata"]["uid"]))

    def _maybe_sweep(self) -> None:
        if time.monotonic() - self._swept > SWEEP_EVERY_S:
            self._swept = time.monotonic()
            self._pool.submit(self.records.sweep)

    def _check_credentials(self, r: Rendered) -> None:
        for alias, ref in sorted(r.credentials.items()):
            secret = self.kube.get("v1", "Secret", r.namespace, ref.name)
            if secret is None:
                raise SubmitError(
                    f"credential alias '{alias}': Secret {r.namespace}/{ref.name} does not "
                    "exist; create it (key "
                    f"'{ref.key}' holding the credential JSON) before submitting"
                )
            if ref.key not in (secret.get("data") or {}):
                raise SubmitError(
                    f"credential alias '{alias}': Secret {r.namespace}/{ref.name} has no key "
                    f"'{ref.key}'"
                )

    def _finish_setup(self, r: Rendered, uid: str) -> None:
        """The satellites at once, except a RoleBinding, which waits for the rest: the API
        server's escalation check reads the Role it names, and a controller without the
        ``bind`` verb (the chart's) gets 404 for a RoleBinding of a Role not created yet. Then
        resume: the Pod starts only once all of them exist."""
        owned = [owned_by(manifest, r.name, uid) for manifest in r.satellites()]
        first = [m for m in owned if m["kind"] != "RoleBinding"]
        for batch in (first, [m for m in owned if m["kind"] == "RoleBinding"]):
            for created in [self._pool.submit(self._ensure_owned, m, uid) for m in batch]:
                created.result()
        self.kube.merge_patch("batch/v1", "Job", r.namespace, r.name, {"spec": {"suspend": False}})

    def _ensure_owned(self, manifest: dict[str, Any], uid: str) -> None:
        """Create; a leftover of an earlier Job with the same name (GC not done yet) is
        replaced, since its owner is gone and GC would take it from under the new Job."""
        meta = manifest["metadata"]
        for _ in range(5):
            obj, created = self.kube.create_or_get(manifest)
            owners = {r.get("uid") for r in (obj["metadata"].get("ownerReferences") or [])}
            if created or uid in owners:
                return
            api, kind = manifest["apiVersion"], manifest["kind"]
            self.kube.delete(api, kind, meta["namespace"], meta["name"])
        raise KubeError(f"{manifest['kind']} {meta['name']} keeps existing after 5 deletions")

    # -- outcome ---------------------------------------------------------------------------

    def outcome(self, inv_id: str) -> Future[Outcome]:
        tracker = self.tracker()
        out: Future[Outcome] = Future()
        record = self._require(inv_id, tracker)
        if record is not None and record.final:
            out.set_result(record.outcome())
            return out

        def finish(decided: Future[Decision]) -> None:
            with self._lock:  # before ``out`` can be answered, so ``cleaned`` never misses it
                self._cleaning[inv_id] = Future()
            task = self._pool.submit(self._finish, inv_id, decided.result(), out)
            with self._lock:
                self._finishing.add(task)
            task.add_done_callback(self._finished)

        tracker.watch(inv_id, self._mine.get(inv_id)).add_done_callback(finish)
        return out

    def _finish(self, inv_id: str, decision: Decision, out: Future[Outcome]) -> None:
        """Record and answer; the Job's deletion comes after the answer, never before it."""
        gone: Future[None] | None = None
        try:
            try:
                outcome = self._record(inv_id, self._resolve(inv_id, decision))
            except BaseException as e:
                out.set_exception(e)
                return
            out.set_result(outcome)
            tracker = self._tracker  # outcome() started it: never wait for a sync here
            if self._clean_up(inv_id) and tracker is not None:
                gone = tracker.gone(inv_id)
        finally:
            if gone is None:
                self._cleaned(inv_id)
            else:
                gone.add_done_callback(lambda _: self._cleaned(inv_id))

    def _cleaned(self, inv_id: str) -> None:
        with self._lock:
            cleaned = self._cleaning.pop(inv_id, None)
        if cleaned is not None and not cleaned.done():  # done: the service stopped waiting
            cleaned.set_result(None)

    def cleaned(self, inv_id: str) -> Future[None] | None:
        """Done when the Job of an answered invocation is deleted and its Pods are gone from
        the node (None: nothing is pending). The service frees an admission slot only then, so
        neither the API server nor the kubelet holds more toolpod Jobs or Pods than
        ``maxInFlight``, though the caller had its answer before. Deleting a Job (Background)
        removes it at once, but its Pods stay Terminating until the kubelet has stopped them,
        which takes a minute on a busy node (docs/service.md, Backpressure)."""
        with self._lock:
            return self._cleaning.get(inv_id)

    def _finished(self, task: Future[None]) -> None:
        with self._lock:
            self._finishing.discard(task)

    def _clean_up(self, inv_id: str) -> bool:
        """Delete the Job (GC takes the rest); False when Jobs are kept (``keep``), else True:
        its slot then waits for it to go. A runner still exiting gets SIGTERM: its final record
        is written already. A failed delete is logged and still True: the service's sweep
        deletes a finished invocation's Job within a minute (ttlSecondsAfterFinished is the
        net without a service), and until then that Job counts against ``maxInFlight``."""
        if self.settings.keep:
            return False
        try:
            self.kube.delete("batch/v1", "Job", self.namespace, job_name(inv_id))
        except KubeError as e:
            logger.warning("deleting the Job of %s: %s", inv_id, e)
        return True

    def _resolve(self, inv_id: str, decision: Decision) -> Outcome:
        """decide → read → decide: a decision that needs the sink read (``NEED_READ``) reads it
        once, then decides again from what the read showed, which always decides."""
        if isinstance(decision, Outcome):
            return decision
        assert isinstance(decision, NeedResultRead)
        obs, warning = self._read(inv_id)
        final = decide(obs)
        assert isinstance(final, Outcome)  # after a direct read nothing is left to wait for
        if warning:
            final.result["warnings"] = [*final.result.get("warnings", []), warning]
        return final

    def _read(self, inv_id: str) -> tuple[Observed, str | None]:
        """The invocation after one more look at its sink, and a warning when the sink could
        not be read. A KV watcher that is just starting (a restarted controller meeting a
        finished Job) delivers what the bucket holds, and that is enough when it decides;
        otherwise the sink is read directly."""
        obs = self.tracker().observed(inv_id) or Observed()
        kv = kv_sink_of(obs.job)
        if kv is not None and self.kv.wait_synced(kv, KV_SYNC_WAIT_S):
            caught_up = self.tracker().observed(inv_id) or Observed()
            if isinstance(decide(caught_up), Outcome):
                return caught_up, None
        return obs, self._read_sink(inv_id, obs)

    def _read_sink(self, inv_id: str, obs: Observed) -> str | None:
        """Read the result from the Job's sink directly, into ``obs``; a warning if it cannot
        be read (the outcome then rests on the termination message's summary)."""
        kv = kv_sink_of(obs.job)
        self.sink_reads += 1
        if kv is None:
            name = C.result_configmap_name(job_name(inv_id))
            obs.configmap = self.kube.get("v1", "ConfigMap", self.namespace, name) or {}
            obs.configmap_fresh = True
            return None
        bucket, alias = kv
        obs.kv_fresh = True
        try:
            obs.kv_value = self.kv.read(bucket, alias, inv_id)
        except ToolpodError as e:
            return f"the whole result could not be read back from NATS KV: {e.message}"
        return None

    def _record(self, inv_id: str, outcome: Outcome) -> Outcome:
        """Write the final record; the first writer's outcome is everyone's answer."""
        try:
            return self.records.finish(inv_id, outcome).outcome()
        except NotFound:  # a Job without a record (made by an older controller)
            return outcome

    def _require(self, inv_id: str, tracker: Tracker) -> Record | None:
        """The id's record (None while only its Job is known); ``InvocationNotFound`` when
        neither a Job nor a record exists."""
        obs = tracker.observed(inv_id)
        if inv_id in self._mine or (obs is not None and obs.job is not None):
            return None
        record = self.records.get(inv_id)
        if record is not None:
            return record
        if self.kube.get("batch/v1", "Job", self.namespace, job_name(inv_id)) is None:
            raise InvocationNotFound(
                f"no invocation '{inv_id}' in namespace {self.namespace} (finished invocations "
                f"stay readable for {self.settings.retention_s} s)"
            )
        return None

    def get(self, inv_id: str) -> Outcome | None:
        tracker = self.tracker()
        record = self._require(inv_id, tracker)
        if record is not None and record.final:
            return record.outcome()
        obs = tracker.observed(inv_id)
        decision = decide(obs) if obs else None
        return None if decision is None else self._resolve(inv_id, decision)

    # -- cancel, list, logs ------------------------------------------------------------------

    def cancel(self, inv_id: str) -> Outcome:
        """Cancel; a finished invocation keeps its outcome, a queued one (record, no Job yet)
        is cancelled by its record alone."""
        tracker = self.tracker()
        record = self.records.get(inv_id)
        if record is not None and record.final:
            return record.outcome()
        name = job_name(inv_id)
        patch = {"metadata": {"annotations": {L.CANCELLED: "true"}}}
        try:
            job: dict[str, Any] | None = self.kube.merge_patch(
                "batch/v1", "Job", self.namespace, name, patch
            )
        except NotFound:
            if record is None:
                raise InvocationNotFound(f"no invocation '{inv_id}' to cancel") from None
            job = None
        tracker.cancel(inv_id)
        if job is not None:
            self.kube.delete("batch/v1", "Job", self.namespace, name)
        return self._record(inv_id, cancelled(inv_id, job))

    def list(self) -> list[dict[str, Any]]:
        """The invocations whose Jobs exist (finished records: ``records.list``)."""
        tracker = self.tracker()
        rows = []
        for inv_id in tracker.ids():
            obs = tracker.observed(inv_id)
            if obs is None or obs.job is None:
                continue
            labels = obs.job["metadata"].get("labels") or {}
            decision = decide(obs)
            state = (
                decision.status
                if isinstance(decision, Outcome)
                else ("running" if decision is None else "finished")
            )
            rows.append(
                {
                    "id": inv_id,
                    "tool": labels.get(L.TOOL, ""),
                    "operation": labels.get(L.OPERATION, ""),
                    "state": state,
                    "created": obs.job["metadata"].get("creationTimestamp", ""),
                }
            )
        return rows

    def logs(self, inv_id: str) -> str:
        tracker = self.tracker()
        self._require(inv_id, tracker)
        obs = tracker.observed(inv_id)
        # The newest Pod whose runner has started: a Job may already have a replacement Pod
        # that is still being created (creationTimestamp has whole seconds, so it can tie).
        pods = sorted(
            (obs.pods if obs else {}).values(),
            key=lambda p: (_runner_started(p), p["metadata"].get("creationTimestamp", "")),
        )
        if not pods:
            return ""
        return self._pod_logs(pods[-1]["metadata"]["name"])

    def _pod_logs(self, pod: str) -> str:
        """The runner's log. The answer can come before the kubelet reports the runner started
        (its record goes straight to the API server; the kubelet's status follows within a
        few seconds): until then the log endpoint says "waiting to start", so wait for it."""
        deadline = time.monotonic() + LOGS_WAIT_S
        while True:
            try:
                return self.kube.logs(self.namespace, pod, C.CONTAINER)
            except ApiClientError as e:
                if e.status != 400 or "waiting to start" not in str(e):
                    raise
                if time.monotonic() > deadline:
                    raise
            time.sleep(0.5)

    def close(self) -> None:
        with self._lock:
            finishing = list(self._finishing)
        wait_all(finishing, CLEANUP_WAIT_S)  # a CLI exits right after its answer
        if self._tracker is not None:
            self._tracker.stop()
        self.kv.stop()
        self.kube.close()
        self._pool.shutdown(wait=False)
        if self._own_client:
            self._client.close()


def cancelled(inv_id: str, job: dict[str, Any] | None) -> Outcome:
    """The outcome of a cancel, from the Job's labels when there is one."""
    outcome = synthetic(
        Observed(job=job), "cancelled", "cancelled", "Cancelled", "the invocation was cancelled"
    )
    outcome.result["invocation_id"] = inv_id
    return outcome


def _runner_started(pod: dict[str, Any]) -> bool:
    """Whether the Pod's runner container is running or has run (it has logs)."""
    for status in (pod.get("status") or {}).get("containerStatuses") or []:
        if status.get("name") == C.CONTAINER:
            state = status.get("state") or {}
            return "running" in state or "terminated" in state
    return False
