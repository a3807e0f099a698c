"""Where results come from, wired in one place: the namespace's shared watches (``Tracker``)
and the NATS KV bucket watchers (``KvWatchers``) feed each other in a loop::

    Job event (informer) ─▶ Tracker ── the Job's result goes to NATS KV ──▶ KvWatchers.ensure
           ▲                                                        (bucket, alias) │
           │                                                 one watcher per bucket ▼
           └─────────────── Tracker.kv_value(bucket, key, text) ◀── every value it sees
    every change ─▶ outcome.decide(Observed) ─▶ the futures of whoever waits (Tracker.watch)

Both callbacks run on the thread that delivers the event and must not block: ``ensure`` only
schedules a watcher on the KV loop's thread; ``kv_value`` takes the tracker's lock for a dict
update and a pure decision. Nothing else in the controller connects the two.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from controller.kv_results import Credential, KvWatchers
from controller.tracker import Tracker
from controller.watch import Handlers, Informer

InformerFactory = Callable[[str, str, str, Handlers], Informer]


@dataclass(frozen=True)
class ResultLoop:
    tracker: Tracker
    kv: KvWatchers


def wire(informer: InformerFactory, credential: Credential) -> ResultLoop:
    """The tracker and the KV watchers, each the other's listener; neither started yet."""

    def kv_value(bucket: str, key: str, text: str) -> None:
        tracker.kv_value(bucket, key, text)  # made next: each side needs the other

    kv = KvWatchers(credential, kv_value)
    tracker = Tracker(informer, kv_bucket_seen=kv.ensure)
    return ResultLoop(tracker, kv)
