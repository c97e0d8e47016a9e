"""Stage 5: live checks of a valid pack against the workspace (docs/SHAREPACK.md §7.3, §13.4), read-only.

This is the engine: the workspace allowlist, the `LiveChecker` plumbing and the order of the kinds. What is checked
of a recipient, a share, a pipeline or a schedule job is in that kind's room (`resources/<kind>.py`, `check_*`).
The checks read the workspace through a `LiveLookup`: the run's `LiveReader` (plan, provisioning and drift share
its cache and its SDK types) or, in unit tests, an in-memory fake. Every object is looked up at most once per
run. Lookups report upstream failures by raising the service's `AppError`s (as produced by
`dbrx_api.errors.upstream`): a permission error becomes a `permission_denied` issue on the object concerned;
unreachable or failing workspaces and rejected service credentials end the checks with `workspace_unreachable` /
`upstream_auth_failed`.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol, TypeVar

from databricks.sdk.service.catalog import TableInfo
from databricks.sdk.service.jobs import BaseJob, Job
from databricks.sdk.service.pipelines import GetPipelineResponse
from databricks.sdk.service.sharing import RecipientInfo, ShareInfo

from dbrx_api.errors import AppError
from dbrx_api.workflow.models.issues import Issue, IssueCollector, Severity
from dbrx_api.workflow.models.pack import AnySharePack, SharePack
from dbrx_api.workflow.resources.pipeline import check_pipeline
from dbrx_api.workflow.resources.recipient import check_recipient
from dbrx_api.workflow.resources.schedule import check_schedule_job
from dbrx_api.workflow.resources.share import check_share, check_share_grants
from dbrx_api.workflow.validators.locator import PackLocator

T = TypeVar("T")


class LiveLookup(Protocol):
    """The reads of the checks, in SDK types: `LiveReader` is one; the unit tests pass an in-memory workspace.

    Methods return None / False / [] for "does not exist" and raise `AppError` for upstream failures.
    """

    def table(self, full_name: str) -> TableInfo | None:
        """`tables.get(full_name)`."""
        ...

    def schema_exists(self, full_name: str) -> bool:
        """`schemas.get("catalog.schema")` succeeded."""
        ...

    def volume_exists(self, full_name: str) -> bool:
        """`volumes.read("catalog.schema.volume")` succeeded."""
        ...

    def model_exists(self, full_name: str) -> bool:
        """`registered_models.get("catalog.schema.model")` succeeded."""
        ...

    def catalog_exists(self, name: str) -> bool:
        """`catalogs.get(name)` succeeded."""
        ...

    def workspace_object_type(self, path: str) -> str | None:
        """`workspace.get_status(path).object_type` (NOTEBOOK, FILE, DIRECTORY, ...), None when absent."""
        ...

    def recipient(self, name: str) -> RecipientInfo | None:
        """`recipients.get(name)`."""
        ...

    def recipients_with_org(self, org: str) -> list[str]:
        """Names of recipients bound to this D2D sharing identifier."""
        ...

    def share(self, name: str) -> ShareInfo | None:
        """`shares.get(name, include_shared_data=True)`."""
        ...

    def pipeline(self, pipeline_id: str) -> GetPipelineResponse | None:
        """`pipelines.get(pipeline_id)` (used for pipelines recorded by this pack)."""
        ...

    def pipelines_named(self, name: str) -> list[GetPipelineResponse]:
        """Every pipeline whose name equals `name` exactly (case-insensitive)."""
        ...

    def job(self, job_id: int) -> Job | None:
        """`jobs.get(job_id)` (used for schedule jobs recorded by this pack)."""
        ...

    def jobs_named(self, name: str) -> list[BaseJob]:
        """Every job whose name equals `name` (case-insensitive)."""
        ...


@dataclass(frozen=True, slots=True)
class RecordedState:
    """What the workflow database records as created by this pack (empty for a pack never provisioned).

    A recorded schedule job is read by id, not looked up by name (docs/WORKFLOW.md §9.7).
    """

    pipeline_ids: dict[str, str] = field(default_factory=dict)  # lower-case pipeline name -> id
    job_ids: dict[str, int] = field(default_factory=dict)  # lower-case job name -> id


@dataclass(frozen=True, slots=True)
class LiveCheckResult:
    """Issues of the live checks plus the object types resolved on the way (share name, asset name) -> type."""

    errors: list[Issue]
    warnings: list[Issue]
    resolved_types: dict[tuple[str, str], str]

    @property
    def valid(self) -> bool:
        """True when no live check failed."""
        return not self.errors


class _Abort(Exception):
    """The workspace cannot be checked any further (unreachable, credentials rejected)."""


class LiveChecker:
    """The checks' plumbing, handed to each kind's check function (`resources/<kind>.py`).

    It locates issues in the uploaded file (`add`), looks every object up at most once (`call`) and collects the
    object types the share checks resolve (`resolved`, read by the plan).
    """

    def __init__(
        self,
        lookup: LiveLookup,
        locator: PackLocator,
        recorded: RecordedState,
        job_name_suffix: str,
    ) -> None:
        self.lookup = lookup
        self.locator = locator
        self.recorded = recorded
        self.job_name_suffix = job_name_suffix
        self.issues = IssueCollector()
        self.resolved: dict[tuple[str, str], str] = {}
        self._cache: dict[tuple[str, str], object] = {}
        self._failed: set[tuple[str, str]] = set()

    def add(
        self, severity: Severity, code: str, path: str, msg: str, *, input_value: object = None
    ) -> None:
        """Record an issue at the model path `path`, placed in the file by the locator."""
        self.issues.add(
            severity, code, path, msg, self.locator.position(path), input_value=input_value
        )

    def call(self, kind: str, key: str, path: str, fetch: Callable[[], T]) -> T | None:
        """One cached lookup; upstream failures become issues (see the module docstring)."""
        cache_key = (kind, key)
        if cache_key in self._cache:
            return self._cache[cache_key]  # type: ignore[return-value]
        try:
            value = fetch()
        except AppError as exc:
            if exc.code == "upstream_permission_denied":
                self.add(
                    "error",
                    "permission_denied",
                    path,
                    f'permission denied reading {kind} "{key}": {exc.detail}',
                )
                self._cache[cache_key] = None
                self._failed.add(cache_key)
                return None
            if exc.code == "upstream_auth_failed":
                self.add(
                    "error",
                    "upstream_auth_failed",
                    "metadata.workspace_url",
                    "the service principal could not authenticate to the workspace.",
                )
                raise _Abort from exc
            if exc.status_code >= 500:
                self.add(
                    "error",
                    "workspace_unreachable",
                    "metadata.workspace_url",
                    f"the workspace did not answer ({exc.detail})",
                )
                raise _Abort from exc
            raise
        self._cache[cache_key] = value
        return value

    def absent(self, kind: str, key: str) -> bool:
        """True when a finished lookup answered "does not exist" (not when it failed)."""
        return (kind, key) in self._cache and (kind, key) not in self._failed

    def missing(self, kind: str, key: str, path: str, noun: str) -> None:
        """`asset_not_found` for `key` (called `noun`) when its `kind` lookup answered "does not exist"; a failed
        lookup was reported already."""
        if self.absent(kind, key):
            msg = f'{noun} "{key}" does not exist.'
            self.add("error", "asset_not_found", path, msg, input_value=key)

    def recipient(self, name: str, path: str) -> RecipientInfo | None:
        """The live recipient `name` (a pack's recipient, or a share's grantee)."""
        return self.call("recipient", name, path, lambda: self.lookup.recipient(name))

    def table(self, full_name: str, path: str) -> TableInfo | None:
        """The live table `full_name` (a share's asset, or a pipeline's source)."""
        return self.call("table", full_name, path, lambda: self.lookup.table(full_name))


def _check_resources(checker: LiveChecker, pack: SharePack) -> None:
    """Each kind's checks, in the pack's order: recipients, then each share with its pipelines before its grants."""
    strategy = pack.metadata.strategy
    declared = {recipient.name for recipient in pack.recipient}
    for recipient in pack.recipient:
        check_recipient(checker, recipient, strategy)
    for share in pack.share:
        live_types = check_share(checker, share, strategy)
        for pipeline in share.pipelines or []:
            existing = check_pipeline(checker, share, pipeline, live_types)
            check_schedule_job(checker, pipeline, existing)
        check_share_grants(checker, share, declared)


def run_live_checks(
    pack: AnySharePack,
    lookup: LiveLookup,
    *,
    allowed: Callable[[str], bool],
    locator: PackLocator | None = None,
    recorded: RecordedState | None = None,
    job_name_suffix: str = "_schedule",
) -> LiveCheckResult:
    """Stage-5 checks of a valid pack (plan, and provisioning before any mutation).

    Args:
        pack: the canonical model (from `load_sharepack` or `parse_canonical`).
        lookup: read-only workspace access (see `LiveLookup`).
        allowed: whether a workspace URL is in the allowlist (`live.allowlist_check`; no request).
        locator: `LoadedPack.locator` to report file positions; by default paths in canonical order.
        recorded: pipelines and jobs this pack created, from the workflow database.
        job_name_suffix: the schedule job suffix (`databricks.schedules.job_name_suffix`).

    A DELETE pack is only checked against the workspace allowlist; what it deletes depends on the records.
    """
    locator = locator or PackLocator.from_model(pack)
    checker = LiveChecker(lookup, locator, recorded or RecordedState(), job_name_suffix)
    url = pack.metadata.workspace_url
    if not allowed(url):
        checker.add(
            "error",
            "workspace_not_allowed",
            "metadata.workspace_url",
            f'workspace "{url}" is not in the allowlist.',
            input_value=url,
        )
    elif isinstance(pack, SharePack):
        with contextlib.suppress(_Abort):
            _check_resources(checker, pack)
    return LiveCheckResult(
        errors=checker.issues.errors(),
        warnings=checker.issues.warnings(),
        resolved_types=checker.resolved,
    )
