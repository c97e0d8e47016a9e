"""Problems raised when an uploaded share pack is rejected (docs/API.md §10.1).

Each carries the issue objects as the `errors` extension member (and `warnings` for 422), so the problem
handler of `main` renders them without knowing about share packs.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

from dbrx_api.errors import AppError, ForbiddenError
from dbrx_api.workflow.models.issues import Issue


class SharePackRejected(AppError):
    """Base of every share-pack upload rejection; `issues` are the errors, `warnings` the warnings."""

    status_code: ClassVar[int] = 422
    default_code: ClassVar[str] = "sharepack_invalid"
    carries_warnings: ClassVar[bool] = False

    def __init__(
        self,
        issues: Sequence[Issue],
        warnings: Sequence[Issue] = (),
        *,
        code: str | None = None,
        detail: str | None = None,
    ) -> None:
        self.issues = list(issues)
        self.warnings = list(warnings)
        super().__init__(
            detail or _summary(self.issues),
            code=code,
            errors=[issue.as_problem_member() for issue in self.issues],
        )
        if self.carries_warnings:
            self.extra["warnings"] = [issue.as_problem_member() for issue in self.warnings]


class SharePackTooLarge(SharePackRejected):
    """413 `file_too_large`: the upload exceeds `upload.max_bytes`."""

    status_code = 413
    default_code = "file_too_large"


class SharePackTypeUnsupported(SharePackRejected):
    """415 `file_type_unsupported` (or `xls_not_supported` passed as `code`)."""

    status_code = 415
    default_code = "file_type_unsupported"


class SharePackInvalid(SharePackRejected):
    """422 `sharepack_invalid`: unsafe or unreadable content, or any offline validation error."""

    status_code = 422
    default_code = "sharepack_invalid"
    carries_warnings = True


def _summary(issues: Sequence[Issue]) -> str:
    if not issues:
        return "The share pack was rejected."
    first = issues[0].display()
    if len(issues) == 1:
        return f"The share pack was rejected: {first}"
    return f"The share pack has {len(issues)} errors; the first: {first}"


class PackWorkspaceNotAllowed(ForbiddenError):
    """403 `workspace_not_allowed` for an uploaded pack: names `metadata.workspace_url` and its line or cell.

    The one issue is the `errors` member (as for a 422), so a client can point at the field to fix (docs/API.md §10).
    """

    def __init__(self, issue: Issue) -> None:
        super().__init__(
            f"The share pack's {issue.display()}",
            code="workspace_not_allowed",
            errors=[issue.as_problem_member()],
        )
