"""The contract between the controller and the runner, in one place (docs/contract.md).

The controller renders a Job that the runner reads; the runner leaves a result that the
controller reads back. Every name both sides use is defined here, and nowhere else::

    controller ── Job ──────────────────────────────▶ runner
      container CONTAINER, env ENV_* (spec, credentials, sink, sink auth, namespace)
      spec Secret <job>-spec key SPEC_KEY at SPEC_DIR, credentials at CREDENTIALS_DIR/<alias>
      annotations RESULT_SINK_ANNOTATION / RESULT_AUTH_ANNOTATION: where the result goes
    runner ── result ───────────────────────────────▶ controller
      the sink: ConfigMap <job>-result key RESULT_KEY, or NATS KV bucket key = invocation id
      termination message: the whole record, or (over TERMINATION_MAX bytes) a summary whose
      data is {"truncated": true, "sha256": <digest of the record's bytes in the sink>}
      exit code: EXIT_* (the runner's), EXIT_NO_RESULT (the controller's own)

Imports nothing: the runner's cold start reads it, and ``runner.errors`` takes its exit codes
from here.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

# -- the Job's container ------------------------------------------------------------------

CONTAINER = "runner"
ENV_SPEC = "TOOLPOD_SPEC"
ENV_CREDENTIALS = "TOOLPOD_CREDENTIALS"
ENV_SINK = "TOOLPOD_SINK"
ENV_SINK_AUTH = "TOOLPOD_SINK_AUTH"
ENV_ATTEMPT = "TOOLPOD_ATTEMPT"
ENV_LOG_LEVEL = "TOOLPOD_LOG_LEVEL"
#: The Pod's namespace, for the ConfigMap sink (the Job sets it from the downward API).
ENV_NAMESPACE = "TOOLPOD_NAMESPACE"
SPEC_DIR = "/etc/toolpod/spec"
SPEC_KEY = "invocation.json"
CREDENTIALS_DIR = "/etc/toolpod/credentials"

# -- object names ---------------------------------------------------------------------------

JOB_PREFIX = "toolpod-"
SPEC_SUFFIX = "-spec"
RESULT_SUFFIX = "-result"
RUNNER_SUFFIX = "-runner"
#: RFC 1123 label: what Kubernetes allows as a namespace or a label value.
DNS_LABEL = r"[a-z0-9]([-a-z0-9]*[a-z0-9])?"
#: RFC 1123 subdomain: what Kubernetes allows as the name of a Job, Secret, ConfigMap, ...
DNS_SUBDOMAIN = r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*"


def job_name(invocation_id: str) -> str:
    return f"{JOB_PREFIX}{invocation_id}"


def spec_secret_name(job: str) -> str:
    return f"{job}{SPEC_SUFFIX}"


def result_configmap_name(job: str) -> str:
    return f"{job}{RESULT_SUFFIX}"


def runner_account_name(job: str) -> str:
    """The ServiceAccount (and its Role, RoleBinding) of a ConfigMap-sink runner."""
    return f"{job}{RUNNER_SUFFIX}"


# -- where the result goes ------------------------------------------------------------------

RESULT_KEY = "result.json"
SINK_STDOUT = "stdout"
SINK_FILE = "file"
SINK_CONFIGMAP = "configmap"
SINK_NATS_KV = "nats-kv"
#: On the Job: the runner's --sink, and the credential alias of a nats-kv sink.
RESULT_SINK_ANNOTATION = "toolpod.dev/result-sink"
RESULT_AUTH_ANNOTATION = "toolpod.dev/result-auth"


def sink_arg(scheme: str, target: str) -> str:
    """The runner's ``--sink`` value: ``configmap:NAME``, ``nats-kv:BUCKET``, ``file:PATH``."""
    return f"{scheme}:{target}"


def nats_kv_sink(annotations: dict[str, str]) -> tuple[str, str] | None:
    """(bucket, credential alias) when a Job's annotations say its result goes to NATS KV."""
    scheme, _, bucket = annotations.get(RESULT_SINK_ANNOTATION, "").partition(":")
    alias = annotations.get(RESULT_AUTH_ANNOTATION)
    return (bucket, alias) if scheme == SINK_NATS_KV and bucket and alias else None


# -- the termination message ----------------------------------------------------------------

#: The kubelet keeps at most this many bytes of a termination message.
TERMINATION_MAX = 4096
SUMMARY_TRUNCATED = "truncated"
SUMMARY_SHA256 = "sha256"


def termination_message(record: str, with_data: Callable[[dict[str, Any]], str]) -> str:
    """``record`` (the ToolResult JSON) when it fits, else the record with its ``data``
    replaced by a summary naming the sha256 of the record's bytes (``with_data(summary)``
    renders the record with that data): the controller tells the final record in the sink
    from the one written before a drain's ack by it."""
    if len(record.encode()) <= TERMINATION_MAX:
        return record
    import hashlib  # only here: a large result is rare and the import is off the hot path

    digest = hashlib.sha256(record.encode()).hexdigest()
    return with_data({SUMMARY_TRUNCATED: True, SUMMARY_SHA256: digest})[:TERMINATION_MAX]


def summary_digest(data: Any) -> str | None:
    """The sha256 a summary's ``data`` names ("" when it names none); None when ``data`` is
    not a summary (the message holds the whole record)."""
    if not isinstance(data, dict) or data.get(SUMMARY_TRUNCATED) is not True:
        return None
    return str(data.get(SUMMARY_SHA256) or "")


def summarizes(digest: str, record: str) -> bool:
    """Whether ``record`` is the record a summary with ``digest`` stands for."""
    import hashlib

    return bool(digest) and hashlib.sha256(record.encode()).hexdigest() == digest


# -- exit codes -----------------------------------------------------------------------------

#: The runner's (each error class in runner.errors carries its own).
EXIT_OK = 0
EXIT_PERMANENT = 2
EXIT_TRANSIENT = 3
EXIT_RESULT_NOT_WRITTEN = 4
#: sysexits' EX_SOFTWARE: not one of the result codes, so the Job counts it as a crash.
EXIT_CRASH = 70
#: The controller's: the Job ended without a result (deadline, OOM, image, deleted, cancelled).
EXIT_NO_RESULT = 5
#: Codes a retry cannot change: the Job fails at once (podFailurePolicy FailJob). 4: a
#: retry would redo a side effect that already happened, and too large stays too large.
FAIL_JOB_EXIT_CODES = (EXIT_PERMANENT, EXIT_RESULT_NOT_WRITTEN)
#: Codes after which the Job starts no other Pod: the runner's record is its last word.
FINAL_EXIT_CODES = (EXIT_OK, *FAIL_JOB_EXIT_CODES)
