"""The controller's error tree: every failure the controller reports is one of these.

Each class carries its exit code, so an edge (the CLI, the HTTP service) maps any of them
without knowing the cases; the codes are the table in ``docs/controller.md`` ("Exit codes")::

    class                        exit  transient  e.g.
    ControllerError
    ├── InvalidInput               2     no        an id or namespace Kubernetes would refuse,
    │   │                                           an unreadable spec file
    │   ├── KubeconfigError        2     no        missing, empty or garbage kubeconfig
    │   ├── SubmitError            2     no        a credential Secret missing: nothing created
    │   ├── IdConflict             2     no        the id is taken by a different invocation
    │   └── InvocationNotFound     2     no        no invocation with that id (any more)
    └── KubeError                                   talking to the API server failed
        ├── ApiUnreachable         3     yes       refused, reset, TLS, no answer in time
        ├── WatchesNotSynced       3     yes       the shared watches did not list in time
        └── ApiError(status, ...)                   the API server answered non-2xx
            ├── ApiClientError     2     no        4xx, with one class per status we act on:
            │   ├── Unauthorized       401
            │   ├── Forbidden          403
            │   ├── NotFound           404
            │   ├── Conflict           409
            │   ├── Gone               410
            │   └── TooManyRequests    429   3  yes
            └── ApiServerError     3     yes       5xx

``api_error(status, reason, message)`` is the one place a status becomes a class (after
kopf's ``check_response``). A failed connection is ``ApiUnreachable``, never an ``ApiError``
with an invented status. Messages name the object and never a credential.
"""

from __future__ import annotations

from typing import ClassVar

from runner.contract import EXIT_PERMANENT, EXIT_TRANSIENT


class ControllerError(Exception):
    """Root of every error the controller reports; ``exit_code`` is the CLI's."""

    exit_code: ClassVar[int] = EXIT_PERMANENT
    transient: ClassVar[bool] = False

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class InvalidInput(ControllerError):
    """Input refused before anything was requested or created."""


class KubeconfigError(InvalidInput):
    """No usable kubeconfig (and not running inside a cluster)."""


class SubmitError(InvalidInput):
    """The invocation cannot be submitted as it is (a credential is missing)."""


class IdConflict(InvalidInput):
    """The id's record was made for a different invocation (``controller.records``)."""


class InvocationNotFound(InvalidInput):
    """No invocation with that id exists (any more)."""


class KubeError(ControllerError):
    """Talking to the API server failed."""


class ApiUnreachable(KubeError):
    exit_code = EXIT_TRANSIENT
    transient = True


class WatchesNotSynced(KubeError):
    exit_code = EXIT_TRANSIENT
    transient = True


class ApiError(KubeError):
    """The API server answered with a status that is not 2xx."""

    def __init__(self, status: int, reason: str, message: str) -> None:
        super().__init__(f"{status} {reason}: {message}" if reason else f"{status}: {message}")
        self.status, self.reason = status, reason


class ApiClientError(ApiError):
    pass


class Unauthorized(ApiClientError):
    pass


class Forbidden(ApiClientError):
    pass


class NotFound(ApiClientError):
    pass


class Conflict(ApiClientError):
    pass


class Gone(ApiClientError):
    pass


class TooManyRequests(ApiClientError):
    exit_code = EXIT_TRANSIENT
    transient = True


class ApiServerError(ApiError):
    exit_code = EXIT_TRANSIENT
    transient = True


_BY_STATUS: dict[int, type[ApiError]] = {
    401: Unauthorized,
    403: Forbidden,
    404: NotFound,
    409: Conflict,
    410: Gone,
    429: TooManyRequests,
}


def api_error(status: int, reason: str, message: str) -> ApiError:
    """The error for an answer with ``status`` (>= 300), of the class that status maps to."""
    cls = _BY_STATUS.get(status) or (ApiServerError if status >= 500 else ApiClientError)
    return cls(status, reason, message)
