"""The contract between the consumer loop and the provisioning function it runs.

The consumer calls `handler(share_pack_id, version, cancel)` and commits the returned `Outcome` (docs/WORKFLOW.md §8.4). `cancel`
is a `RunControl`: a `threading.Event` (set on shutdown, lost lease, lost message or lost lock) that also carries
the claim (run id, attempt, reference time T) and the pack-lock check to perform before every mutating call
(docs/SHAREPACK.md §8.2: "the run checks that its lock connection is alive and that cancel is not set").
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, TypedDict, Unpack
from uuid import UUID

from dbrx_api.workflow.db.locks import PackLock
from dbrx_api.workflow.db.operations import Claim

OutcomeKind = Literal["COMPLETED", "FAILED", "RETRY", "INTERRUPTED", "AWAITING_APPROVAL"]


class Figures(TypedDict, total=False):
    """What a run counted and summarised, whatever its outcome."""

    summary: Mapping[str, Any] | None
    read_calls: int | None
    mutating_calls: int | None


class RunCancelled(Exception):
    """Raised by `RunControl.check_before_mutation` when the run must stop before its next mutating call."""

    def __init__(self, reason: str) -> None:
        super().__init__(f"run cancelled: {reason}")
        self.reason = reason


@dataclass(frozen=True)
class Outcome:
    """What a run ended with. `error_*` describe the first failed step (FAILED) or the retriable error (RETRY)."""

    result: OutcomeKind
    error_code: str | None = None
    error_message: str | None = None
    error_step: str | None = None
    summary: Mapping[str, Any] | None = None
    status_detail: str | None = None
    read_calls: int | None = None
    mutating_calls: int | None = None
    approval_plan: Mapping[str, Any] | None = None
    # Every problem of a FAILED run as located issues (docs/SHAREPACK.md §13.4); `error_*` name the first one.
    issues: Sequence[Mapping[str, Any]] | None = None

    @classmethod
    def completed(cls, *, status_detail: str | None = None, **figures: Unpack[Figures]) -> Outcome:
        """Every action succeeded or was a no-op."""
        return cls("COMPLETED", status_detail=status_detail, **figures)

    @classmethod
    def failed(
        cls,
        code: str,
        message: str,
        *,
        step: str | None = None,
        issues: Sequence[Mapping[str, Any]] | None = None,
        **figures: Unpack[Figures],
    ) -> Outcome:
        """A non-retriable failure (the version becomes FAILED); `issues` lists every problem, first one first."""
        return cls("FAILED", code, message, step, issues=issues, **figures)

    @classmethod
    def retry(
        cls, code: str, message: str, *, step: str | None = None, **figures: Unpack[Figures]
    ) -> Outcome:
        """A retriable failure (backoff, or FAILED `retries_exhausted` on the last allowed dequeue)."""
        return cls("RETRY", code, message, step, **figures)

    @classmethod
    def interrupted(cls, **figures: Unpack[Figures]) -> Outcome:
        """The run stopped at an action boundary because `cancel` was set."""
        return cls("INTERRUPTED", **figures)

    @classmethod
    def awaiting_approval(
        cls, reason: str, plan: Mapping[str, Any], **figures: Unpack[Figures]
    ) -> Outcome:
        """The plan needs an approver's decision first (the version goes back to PENDING_APPROVAL)."""
        return cls("AWAITING_APPROVAL", error_code=reason, approval_plan=plan, **figures)

    def error(self) -> dict[str, Any]:
        """`{code, message, step}` for the status row, plus `issues` (every problem) when the run listed them."""
        error: dict[str, Any] = {
            "code": self.error_code,
            "message": self.error_message,
            "step": self.error_step,
        }
        if self.issues:
            error["issues"] = [dict(issue) for issue in self.issues]
        return error


class RunControl(threading.Event):
    """Cancellation event of one run, plus its claim and pack lock.

    Set means: stop before the next mutating call. `reason` says why (`shutdown`, `lease_lost`, `message_lost`,
    `lock_lost`, `database_unavailable`).
    """

    def __init__(self, claim: Claim | None = None, lock: PackLock | None = None) -> None:
        super().__init__()
        self.claim = claim
        self.lock = lock
        self.reason: str | None = None
        self._reason_guard = threading.Lock()

    @property
    def run_id(self) -> UUID | None:
        """Run id to record steps under (None outside the consumer)."""
        return None if self.claim is None else self.claim.run_id

    def cancel(self, reason: str) -> None:
        """Ask the run to stop; the first reason is kept."""
        with self._reason_guard:
            if self.reason is None:
                self.reason = reason
        self.set()

    def may_mutate(self) -> bool:
        """False when cancelled or when the pack lock connection is gone (then the run is cancelled)."""
        if self.is_set():
            return False
        if self.lock is not None and not self.lock.is_alive(max_age_s=5.0):
            self.cancel("lock_lost")
            return False
        return True

    def check_before_mutation(self) -> None:
        """Raise `RunCancelled` unless the run may make its next mutating call."""
        if not self.may_mutate():
            raise RunCancelled(self.reason or "cancelled")


Handler = Callable[[UUID, int, threading.Event], Outcome]
"""`handle(share_pack_id, version, cancel) -> Outcome`; `cancel` is a `RunControl` when called by the consumer."""
