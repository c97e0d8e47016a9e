"""Counted Databricks calls of one run (or one plan / drift check).

`CountedWorkspace` wraps the cached `WorkspaceClient` of a workspace: every SDK call made through
`CountedWorkspace.client` is counted as a read or a mutating call, waits for a slot of the process-wide
per-workspace limit (`workflow.worker.workspace_max_inflight`), and, when mutating, first runs the run's
`before_mutation` check (cancel set, pack lock lost → `RunCancelled`; plan and drift forbid mutations outright).

`post_once` sends a POST that the SDK must not replay (`dbrx_api.once`), counted and guarded like the others.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, cast

from databricks.sdk import WorkspaceClient

from dbrx_api import once

# SDK method names that change state; every other method of a service is a read.
MUTATING_METHODS = frozenset(
    {
        "create",
        "update",
        "delete",
        "update_permissions",
        "rotate_token",
        "reset",
        "run_now",
        "start_update",
        "stop",
    }
)

_limit_guard = threading.Lock()
_limits: dict[str, threading.BoundedSemaphore] = {}


def workspace_limiter(workspace_url: str, limit: int) -> threading.BoundedSemaphore:
    """The process-wide semaphore bounding parallel Databricks calls to one workspace (docs/WORKFLOW.md §9.3)."""
    with _limit_guard:
        semaphore = _limits.get(workspace_url)
        if semaphore is None:
            semaphore = threading.BoundedSemaphore(limit)
            _limits[workspace_url] = semaphore
        return semaphore


class MutationForbidden(RuntimeError):
    """A read-only flow (plan, drift) attempted a mutating Databricks call: a programming error."""


def forbid_mutations() -> None:
    """`before_mutation` of read-only flows."""
    raise MutationForbidden("this flow makes read-only Databricks calls only")


@dataclass
class CallCounter:
    """Thread-safe counts of reads and mutating calls, per operation too (`service.method`)."""

    reads: int = 0
    mutations: int = 0
    operations: dict[str, int] = field(default_factory=dict)
    _guard: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def count(self, operation: str, *, mutating: bool) -> None:
        """Record one call."""
        with self._guard:
            if mutating:
                self.mutations += 1
            else:
                self.reads += 1
            self.operations[operation] = self.operations.get(operation, 0) + 1


class _CountedService:
    """Proxy of one SDK service (`ws.shares`, …): counts, limits and guards each method call."""

    def __init__(self, owner: CountedWorkspace, name: str, service: Any) -> None:
        self._owner = owner
        self._name = name
        self._service = service

    def __getattr__(self, method: str) -> Any:
        target = getattr(self._service, method)
        if not callable(target):
            return target
        return self._owner.wrap(f"{self._name}.{method}", target, method in MUTATING_METHODS)


class _ClientProxy:
    """Attribute access of a `WorkspaceClient`, with services replaced by counting proxies."""

    def __init__(self, owner: CountedWorkspace) -> None:
        self._owner = owner

    def __getattr__(self, name: str) -> Any:
        value = getattr(self._owner.raw, name)
        if name in {"config", "api_client"}:
            return value
        return _CountedService(self._owner, name, value)


class CountedWorkspace:
    """A workspace client whose calls are counted, bounded per workspace and guarded before mutations."""

    def __init__(
        self,
        raw: WorkspaceClient,
        *,
        workspace_url: str,
        limiter: threading.BoundedSemaphore,
        before_mutation: Callable[[], None],
        counter: CallCounter | None = None,
    ) -> None:
        self.raw = raw
        self.workspace_url = workspace_url
        self.counter = counter or CallCounter()
        self._limiter = limiter
        self._before_mutation = before_mutation
        # Typed as the SDK client so call sites keep the SDK's signatures; services accept it unchanged.
        self.client = cast(WorkspaceClient, _ClientProxy(self))

    def wrap(
        self, operation: str, target: Callable[..., Any], mutating: bool
    ) -> Callable[..., Any]:
        """`target` counted, limited and (when mutating) guarded; lazy iterators are read inside the limit."""

        def call(*args: Any, **kwargs: Any) -> Any:
            if mutating:
                self._before_mutation()
            self.counter.count(operation, mutating=mutating)
            with self._limiter:
                result = target(*args, **kwargs)
                if isinstance(result, Iterator):
                    # SDK list methods page lazily: fetch every page while holding the slot.
                    return list(result)
                return result

        return call

    def post_once(self, operation: str, path: str, body: dict[str, Any]) -> dict[str, Any]:
        """POST `body` to `path` exactly once (`dbrx_api.once`), counted as `operation` and guarded like every
        mutating call."""
        self._before_mutation()
        self.counter.count(operation, mutating=True)
        with self._limiter:
            return once.post_once(self.raw, path, body)
