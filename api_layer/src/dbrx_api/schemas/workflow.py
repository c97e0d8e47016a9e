"""Share-pack workflow responses (docs/API.md §10, §12; docs/WORKFLOW.md §3)."""

from __future__ import annotations

from typing import Annotated, Any, Literal
from uuid import UUID

from pydantic import (
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    field_validator,
)
from pydantic_core import PydanticCustomError

from dbrx_api.schemas.common import RequestModel, ResponseModel, Timestamp, uc_name_problem


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


class ApprovalPlan(ResponseModel):
    """The plan a version waits with for an approver: what an approval binds to (docs/GOVERNANCE.md §1)."""

    model_config = ConfigDict(extra="allow")

    digest: str = Field(
        description="Pass it as `plan_digest` when approving to bind the decision to it"
    )
    destructive_changes: list[str] = Field(default_factory=list)
    changes: JsonObjects = Field(default_factory=list)
    policy: str | None = None
    computed_at: Timestamp | None = None


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
    owners: list[Principal] = Field(
        default_factory=list, description="Principals that may store new versions of the pack"
    )
    approval_plan: ApprovalPlan | None = Field(
        None,
        description="PENDING_APPROVAL held by the worker: the plan an approver decides on",
    )
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


class ApprovalRecord(ResponseModel):
    decision: Literal["approve", "decline"]
    decided_by: Principal
    decided_at: Timestamp
    comment: str | None = None
    plan_digest: str | None = None
    approved_changes: list[str] = Field(default_factory=list)


class OwnerChange(ResponseModel):
    principal: Principal
    change: Literal["added", "removed"]
    actor: str
    at: Timestamp


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
    approvals: list[ApprovalRecord] = Field(default_factory=list)
    runs: list[Run] = Field(default_factory=list)


class PolicyRotation(ResponseModel):
    """A token rotation the worker's sweep made under the pack's policy (docs/WORKFLOW.md §9.6); no secret."""

    workspace_url: str
    recipient: str
    outcome: str | None = Field(
        None, description="rotated, or already_rotated (a crashed claimer's rotation recorded)"
    )
    rotated_at: Timestamp
    performed_by: str
    token_id: str | None = None
    token_expiration_time: Timestamp | None = None
    previous_token_id: str
    previous_token_expiration_time: Timestamp | None = Field(
        None, description="The old token's end of grace"
    )


class PackHistory(ResponseModel):
    share_pack_id: UUID
    pack_key: str
    owners: list[Principal] = Field(default_factory=list)
    owner_changes: list[OwnerChange] = Field(default_factory=list)
    token_rotations: list[PolicyRotation] = Field(default_factory=list)
    versions: list[PackVersion]


class ApprovalRequest(RequestModel):
    """An approver's decision on a PENDING_APPROVAL version (docs/GOVERNANCE.md §1.4)."""

    decision: Literal["approve", "decline"]
    comment: Annotated[
        str | None, StringConstraints(max_length=2000, pattern=r"^[^\x00-\x08\x0b-\x1f\x7f]*$")
    ] = None
    plan_digest: Annotated[str | None, StringConstraints(pattern=r"^sha256:[0-9a-f]{64}$")] = Field(
        None,
        description="The `approval_plan.digest` you reviewed; a different current plan is a 409 `plan_changed`",
    )


class ApprovalResponse(ResponseModel):
    share_pack_id: UUID
    version: int
    decision: Literal["approve", "decline"]
    status: str
    decided_by: Principal
    decided_at: Timestamp
    comment: str | None = None
    plan_digest: str | None = None
    approved_changes: list[str] = Field(default_factory=list)
    enqueue: Literal["sent", "deferred", "none"] = "none"


class WithdrawRequest(RequestModel):
    """Withdraw a QUEUED or PENDING_APPROVAL version (docs/API.md §12.3.3); the body may be empty (`{}`)."""

    comment: Annotated[
        str | None, StringConstraints(max_length=2000, pattern=r"^[^\x00-\x08\x0b-\x1f\x7f]*$")
    ] = None


class WithdrawResponse(ResponseModel):
    share_pack_id: UUID
    version: int
    previous_status: Literal["QUEUED", "PENDING_APPROVAL"]
    status: Literal["WITHDRAWN"]
    withdrawn_by: Principal
    withdrawn_at: Timestamp
    comment: str | None = None


class DocumentChange(ResponseModel):
    path: str = Field(
        description="Dotted path in the canonical document; list entries by name: `shares[sales_share].comment`"
    )
    change: Literal["added", "removed", "changed"]
    from_: Any = Field(None, alias="from")
    to: Any = None


class DocumentDiff(ResponseModel):
    changes: list[DocumentChange]
    count: int


class PlanEntryChange(ResponseModel):
    key: str = Field(description="`<action> <resource_type> <name>`")
    change: Literal["added", "removed", "changed"]
    from_: dict[str, Any] | None = Field(None, alias="from")
    to: dict[str, Any] | None = None


class PlanDiff(ResponseModel):
    from_digest: str | None = None
    to_digest: str | None = None
    changes: list[PlanEntryChange]
    destructive_added: list[str] = Field(default_factory=list)
    destructive_removed: list[str] = Field(default_factory=list)


class VersionDiff(ResponseModel):
    """Differences from version `from_version` to `to_version` of one pack (docs/API.md §12.3.4)."""

    share_pack_id: UUID
    from_version: int
    to_version: int
    from_record_hash: str
    to_record_hash: str
    document: DocumentDiff
    plan: PlanDiff | None = Field(
        None, description="Present when both versions hold a plan (`approval_plan`)"
    )


PrincipalId = Annotated[
    str, StringConstraints(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9._@:-]+$")
]


class OwnersRequest(RequestModel):
    """The complete new set of a pack's owners (principal ids, the token's `oid`)."""

    owners: list[PrincipalId] = Field(min_length=1, max_length=50)


class OwnersResponse(ResponseModel):
    share_pack_id: UUID
    owners: list[Principal]
    added: list[str] = Field(default_factory=list)
    removed: list[str] = Field(default_factory=list)


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
    release: int = 0
    mutating_calls: int = 0


class PlanApproval(ResponseModel):
    """Whether the plan would wait for an approver under the service's policy (docs/GOVERNANCE.md §1.2)."""

    required: bool
    policy: str
    plan_digest: str
    destructive_changes: list[str] = Field(default_factory=list)


class PlanTokenRotation(ResponseModel):
    """An upcoming rotation of a recipient with a token rotation policy (docs/WORKFLOW.md §10, §9.6)."""

    recipient: str
    policy: dict[str, int] = Field(
        description="{rotate_before_expiry_days, grace_hours} as the pack declares it."
    )
    token_id: str | None = Field(
        None, description="The newest active token; null when the recipient has none yet."
    )
    expires_at: Timestamp | None = None
    rotate_at: Timestamp | None = Field(
        None, description="From when the sweep rotates it (now when already due)."
    )
    due: bool = False
    blocked: bool = Field(
        False, description="Two active tokens: the sweep waits for the older one to expire."
    )
    lead_exceeds_lifetime: bool = Field(
        False,
        description="The token lives no longer than the lead time: every token a rotation issues would be due at "
        "once, so the sweep rotates once and then refuses (lower rotate_before_expiry_days).",
    )


class PlanResponse(ResponseModel):
    valid: bool
    pack: PlanPack
    errors: list[PackIssue] = Field(default_factory=list)
    warnings: list[PackIssue] = Field(default_factory=list)
    summary: PlanSummary | None = None
    changes: list[PlanChange] | None = None
    approval: PlanApproval | None = None
    token_rotations: list[PlanTokenRotation] | None = None
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


def _uc_names(what: str, values: list[str]) -> list[str]:
    for name in values:
        problem = uc_name_problem(name)
        if problem:
            raise PydanticCustomError(
                "name_invalid",
                "{what} '{name}' {problem}",
                {"what": what, "name": name, "problem": problem},
            )
    return values


class ExportRequest(RequestModel):
    """Body of `POST /workflow/export` (docs/API.md §12.7): what to describe as a share pack."""

    shares: list[str] = Field(default_factory=list, max_length=500, description="Share names")
    recipients: list[str] = Field(
        default_factory=list, max_length=500, description="Recipient names (besides the grantees)"
    )
    all_shares: bool = Field(False, description="Every share of the workspace")
    include_pipelines: bool = Field(
        True, description="The pipelines reading the shared tables, with their schedule jobs"
    )
    include_grantees: bool = Field(
        True, description="The recipients holding SELECT on an exported share"
    )

    @field_validator("shares")
    @classmethod
    def _share_names(cls, value: list[str]) -> list[str]:
        return _uc_names("share", value)

    @field_validator("recipients")
    @classmethod
    def _recipient_names(cls, value: list[str]) -> list[str]:
        return _uc_names("recipient", value)


class ExportWarning(ResponseModel):
    """Something the exported pack cannot represent, at the entry it concerns."""

    type: str
    severity: Literal["warning"] = "warning"
    loc: str
    msg: str


class ExportResponse(ResponseModel):
    """The JSON form of an export (`Accept: application/json`): the YAML document and its warnings."""

    format: Literal["yaml"] = "yaml"
    document: str
    warnings: list[ExportWarning] = Field(default_factory=list)
    read_calls: int = 0
    mutating_calls: int = 0
