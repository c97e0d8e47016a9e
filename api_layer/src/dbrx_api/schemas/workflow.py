"""Share-pack workflow responses (docs/API.md §10, §12; docs/WORKFLOW.md §3)."""

from __future__ import annotations

from typing import Annotated, Any, Literal
from uuid import UUID

from pydantic import BeforeValidator, ConfigDict, Field

from dbrx_api.schemas.common import ResponseModel, Timestamp


def _empty_when_null(value: Any, empty: Any) -> Any:
    return empty if value is None else value


# Stored JSON columns may be NULL; responses show `{}` / `[]` instead (docs/API.md §1.6).
JsonObject = Annotated[dict[str, Any], BeforeValidator(lambda v: _empty_when_null(v, {}))]
JsonObjects = Annotated[list[dict[str, Any]], BeforeValidator(lambda v: _empty_when_null(v, []))]


class PackIssue(ResponseModel):
    """A share-pack validation issue (docs/API.md §10.1)."""

    model_config = ConfigDict(extra="allow")

    type: str
    severity: Literal["error", "warning"]
    msg: str
    loc: str | None = None
    line: int | None = None
    column: int | str | None = None
    sheet: str | None = None
    row: int | None = None
    cell: str | None = None
    input: str | None = None
    hint: str | None = None


class UploadResponse(ResponseModel):
    share_pack_id: UUID
    version: int
    status: str
    created_version: bool
    rerun: bool
    enqueue: Literal["sent", "deferred", "none"]
    warnings: list[PackIssue] = Field(default_factory=list)
    status_url: str


class Principal(ResponseModel):
    id: str
    name: str | None = None


class Governance(ResponseModel):
    approver_status: str | None = None
    approver: list[str] = Field(default_factory=list)
    servicenow: str | None = None


class VersionError(ResponseModel):
    model_config = ConfigDict(extra="allow")

    code: str | None = None
    message: str | None = None
    step: str | None = None


class StepCounts(ResponseModel):
    total: int = 0
    succeeded: int = 0
    noop: int = 0
    failed: int = 0
    skipped: int = 0


class LatestRun(ResponseModel):
    run_id: UUID
    attempt: int
    started_at: Timestamp | None = None
    ended_at: Timestamp | None = None
    outcome: str | None = None
    steps: StepCounts | None = None


class PackStatus(ResponseModel):
    """Status object of a pack's current version."""

    share_pack_id: UUID
    pack_key: str
    workspace_url: str
    current_version: int
    strategy: str
    status: str
    status_detail: str | None = None
    attempts: int
    requested_by: Principal
    created_at: Timestamp
    updated_at: Timestamp
    last_completed_version: int | None = None
    governance: Governance
    warnings: JsonObjects = Field(default_factory=list)
    error: VersionError | None = None
    latest_run: LatestRun | None = None


class PackList(ResponseModel):
    items: list[PackStatus]
    count: int
    next_cursor: str | None = None


class Transition(ResponseModel):
    from_status: str | None = None
    to_status: str
    at: Timestamp
    actor: str | None = None
    reason: str | None = None
    run_id: UUID | None = None


class Step(ResponseModel):
    seq: int
    step_key: str
    resource_type: str
    resource_name: str | None = None
    action: str
    started_at: Timestamp | None = None
    ended_at: Timestamp | None = None
    outcome: str | None = None
    databricks_ids: JsonObject = Field(default_factory=dict)
    detail: JsonObject = Field(default_factory=dict)
    error_code: str | None = None
    error_message: str | None = None


class Run(ResponseModel):
    run_id: UUID
    attempt: int
    worker_id: str | None = None
    started_at: Timestamp | None = None
    ended_at: Timestamp | None = None
    outcome: str | None = None
    error_code: str | None = None
    error_message: str | None = None
    read_calls: int | None = None
    mutating_calls: int | None = None
    steps: list[Step] = Field(default_factory=list)


class FileInfo(ResponseModel):
    name: str | None = None
    format: str | None = None
    sha256: str | None = None
    size: int | None = None


class PackVersion(ResponseModel):
    version: int
    effective_from: Timestamp
    effective_to: Timestamp | None = None
    is_current: bool
    record_hash: str
    changed_by: str | None = None
    change_reason: str | None = None
    strategy: str
    approver_status: str | None = None
    requested_by: Principal
    file: FileInfo
    warnings: JsonObjects = Field(default_factory=list)
    config: dict[str, Any] | None = None
    transitions: list[Transition] = Field(default_factory=list)
    runs: list[Run] = Field(default_factory=list)


class PackHistory(ResponseModel):
    share_pack_id: UUID
    pack_key: str
    versions: list[PackVersion]


class QueueHealth(ResponseModel):
    ok: bool
    kind: str
    durable: bool
    approximate_message_count: int | None = None
    poison_approximate_message_count: int | None = None
    detail: str | None = None


class DatabaseHealth(ResponseModel):
    ok: bool
    latency_ms: int
    schema_version: int | None = None
    expected_schema_version: int
    detail: str | None = None


class WorkerHealth(ResponseModel):
    ok: bool
    mode: Literal["inline", "external"]


class WorkflowChecks(ResponseModel):
    database: DatabaseHealth
    queue: QueueHealth
    worker: WorkerHealth


class WorkflowHealth(ResponseModel):
    status: Literal["ok", "not_ready"]
    checks: WorkflowChecks


class PlanPack(ResponseModel):
    model_config = ConfigDict(extra="allow")

    pack_key: str
    share_pack_id: UUID | None = None
    workspace_url: str
    strategy: str
    record_hash: str
    current_version: int | None = None
    would_create_version: bool
    would_queue: bool


class PlanChange(ResponseModel):
    """One action of the plan: `create`, `update`, `delete`, `rotate_token`, `set_expiry` or `no_op`."""

    model_config = ConfigDict(extra="allow")

    seq: int
    action: str
    resource_type: str
    name: str
    diff: dict[str, Any] | None = None
    reason: str | None = None
    destructive: bool = False
    drops_tables: list[str] = Field(default_factory=list)
    calls: int = 0


class PlanSummary(ResponseModel):
    create: int = 0
    update: int = 0
    delete: int = 0
    no_op: int = 0
    rotate_token: int = 0
    mutating_calls: int = 0


class PlanResponse(ResponseModel):
    valid: bool
    pack: PlanPack
    errors: list[PackIssue] = Field(default_factory=list)
    warnings: list[PackIssue] = Field(default_factory=list)
    summary: PlanSummary | None = None
    changes: list[PlanChange] | None = None
    checked_at: Timestamp | None = None


class DriftItem(ResponseModel):
    model_config = ConfigDict(extra="allow")

    resource_type: str
    name: str
    share_pack_id: UUID | None = None
    version: int | None = None
    state: Literal["in_sync", "drifted", "missing", "error"]
    differences: JsonObjects = Field(default_factory=list)


class DriftSummary(ResponseModel):
    resources: int = 0
    in_sync: int = 0
    drifted: int = 0
    missing: int = 0
    error: int = 0


class DriftResponse(ResponseModel):
    workspace_url: str
    checked_at: Timestamp
    summary: DriftSummary
    items: list[DriftItem]
