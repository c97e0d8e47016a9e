"""Share-pack workflow (docs/API.md §10, §12): thin routes over `workflow.service` and the orchestrator.

Registered only when `workflow.enabled`; otherwise every `/workflow/...` path answers 404 `workflow_disabled`.
Static paths are declared before `/workflow/sharepack/{id}`.
"""

from __future__ import annotations

import hashlib
import json
from functools import lru_cache
from typing import Annotated, Literal
from uuid import UUID

from fastapi import (
    APIRouter,
    Body,
    Depends,
    File,
    Header,
    Path,
    Query,
    Request,
    Response,
    UploadFile,
    status,
)
from pydantic import BeforeValidator, StringConstraints

from dbrx_api.dependencies import (
    WORKSPACE_HEADER,
    PrincipalDep,
    RequestIdDep,
    WorkflowDep,
    WorkspaceDep,
)
from dbrx_api.errors import ServiceUnavailable, ValidationFailed
from dbrx_api.routes.common import operation, problem_responses
from dbrx_api.schemas.metrics import QueryTimestamp
from dbrx_api.schemas.workflow import (
    ApprovalRequest,
    ApprovalResponse,
    DriftResponse,
    ExportRequest,
    ExportResponse,
    ExportWarning,
    OwnersRequest,
    OwnersResponse,
    PackHistory,
    PackList,
    PackStatus,
    PlanResponse,
    UploadResponse,
    VersionDiff,
    WithdrawRequest,
    WithdrawResponse,
    WorkflowHealth,
)
from dbrx_api.workflow import export as export_flow
from dbrx_api.workflow import service as workflow_service
from dbrx_api.workflow.models.json_schema import sharepack_json_schema
from dbrx_api.workflow.orchestrator import drift as drift_flow
from dbrx_api.workflow.orchestrator import plan as plan_flow
from dbrx_api.workflow.sharepack_template import build_template_xlsx

router = APIRouter(prefix="/workflow", tags=["Workflow"])

XLSX_MEDIA_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
OptionalWorkspaceHeader = Annotated[
    str | None,
    Header(
        alias=WORKSPACE_HEADER,
        description="Optional; when sent it must equal the pack's metadata.workspace_url.",
    ),
]
# Filter values compared in PostgreSQL, which refuses NUL in text (a 500 found by schemathesis): no control
# characters, stated in the OpenAPI document as a pattern.
PlainText = Annotated[str, StringConstraints(pattern=r"^[^\x00-\x1f\x7f]*$")]
# Version states (docs/WORKFLOW.md §4.2); an unknown value is a 422 rather than an empty page.
StatusFilter = Annotated[
    Literal[
        "RECEIVED",
        "VALIDATED",
        "PENDING_APPROVAL",
        "REJECTED",
        "QUEUED",
        "IN_PROGRESS",
        "COMPLETED",
        "FAILED",
        "SUPERSEDED",
        "WITHDRAWN",
    ],
    BeforeValidator(lambda value: value.upper() if isinstance(value, str) else value),
]
PackFileField = Annotated[
    UploadFile, File(description="The share pack: .yaml, .yml or .xlsx (at most 5 MiB)")
]


async def single_pack_file(request: Request, file: PackFileField) -> UploadFile:
    """The one `file` part of the upload; 422 when the form holds several (docs/API.md §10.2).

    FastAPI binds the last of repeated parts, so a second file would silently replace the first. The form is
    already parsed (and cached on the request) when dependencies run: reading it again costs nothing.
    """
    parts = len((await request.form()).getlist("file"))
    if parts > 1:
        message = f"send exactly one file in the form field 'file' (got {parts})"
        raise ValidationFailed(
            f"The request is invalid: body.file: {message}.",
            errors=[{"loc": ["body", "file"], "msg": message, "type": "duplicate_value"}],
        )
    return file


PackFile = Annotated[UploadFile, Depends(single_pack_file)]


def _read(file: UploadFile, limit: int) -> bytes:
    # One byte past the limit is enough to tell "too large" (the middleware already capped the request).
    return file.file.read(limit + 1)


def _pack_errors(*statuses: int) -> list[int]:
    return [400, 403, 404, 413, 415, 422, *statuses]


@router.post(
    "/sharepack/upload_and_validate",
    status_code=status.HTTP_202_ACCEPTED,
    **operation("workflow_upload", "writer", workspace=False, errors=_pack_errors(503)),
)
def upload_and_validate(
    file: PackFile,
    ctx: WorkflowDep,
    principal: PrincipalDep,
    request_id: RequestIdDep,
    request: Request,
    response: Response,
    x_workspace_url: OptionalWorkspaceHeader = None,
) -> UploadResponse:
    """Validate a share pack and store it as a new version; approved versions are queued for provisioning."""
    result = workflow_service.upload_sharepack(
        ctx,
        principal=principal,
        request_id=request_id,
        filename=file.filename or "",
        data=_read(file, ctx.settings.upload.max_bytes),
        workspace_header=x_workspace_url,
    )
    if not result.accepted:
        response.status_code = status.HTTP_200_OK
    response.headers["Location"] = request.url_for(
        "get_sharepack", id=str(result.response.share_pack_id)
    ).path
    return result.response


@router.post(
    "/sharepack/plan",
    **operation("workflow_plan", "reader", workspace=False, errors=_pack_errors(502, 503)),
)
def plan(
    file: PackFile,
    ctx: WorkflowDep,
    principal: PrincipalDep,
    offline: Annotated[
        bool, Query(description="Validation only: no Databricks call, no database read")
    ] = False,
    x_workspace_url: OptionalWorkspaceHeader = None,
) -> PlanResponse:
    """Validate a share pack and list the changes provisioning would make now; stores and changes nothing."""
    loaded = workflow_service.load_for_request(
        ctx,
        principal=principal,
        filename=file.filename or "",
        data=_read(file, ctx.settings.upload.max_bytes),
        workspace_header=x_workspace_url,
    )
    result = plan_flow.plan_pack(
        ctx, loaded, principal_id=principal.id, principal_roles=principal.roles, offline=offline
    )
    return PlanResponse.model_validate(result.body())


YAML_MEDIA_TYPE = "application/yaml"
EXPORT_WARNINGS_HEADER = "X-Export-Warnings"


@router.post(
    "/export",
    response_class=Response,
    **operation(
        "workflow_export",
        "reader",
        body=True,
        errors=[502, 503],
        success={
            "content": {
                YAML_MEDIA_TYPE: {},
                XLSX_MEDIA_TYPE: {},
                "application/json": {},
            },
            "description": "The share pack describing the live resources (YAML by default)",
        },
    ),
)
def export(
    body: ExportRequest,
    ctx: WorkflowDep,
    workspace: WorkspaceDep,
    accept: Annotated[str | None, Header(description="YAML (default), Excel or JSON")] = None,
) -> Response:
    """Describe live shares, recipients and pipelines as a share pack to adopt them (reads only)."""
    result = export_flow.export_workspace(
        ctx,
        workspace.url,
        export_flow.ExportRequest(
            shares=tuple(body.shares),
            recipients=tuple(body.recipients),
            all_shares=body.all_shares,
            include_pipelines=body.include_pipelines,
            include_grantees=body.include_grantees,
        ),
    )
    headers = {EXPORT_WARNINGS_HEADER: str(len(result.warnings))}
    wanted = (accept or "").lower()
    if XLSX_MEDIA_TYPE in wanted:
        headers["Content-Disposition"] = 'attachment; filename="sharepack_export.xlsx"'
        return Response(result.xlsx(), media_type=XLSX_MEDIA_TYPE, headers=headers)
    if "application/json" in wanted:
        envelope = ExportResponse(
            document=result.yaml(),
            warnings=[ExportWarning.model_validate(w.body()) for w in result.warnings],
            read_calls=result.read_calls,
            mutating_calls=result.mutating_calls,
        )
        return Response(envelope.model_dump_json(), media_type="application/json", headers=headers)
    headers["Content-Disposition"] = 'attachment; filename="sharepack_export.yaml"'
    return Response(result.yaml(), media_type=YAML_MEDIA_TYPE, headers=headers)


@lru_cache(maxsize=1)
def _template() -> tuple[bytes, str]:
    content = build_template_xlsx()
    return content, f'"{hashlib.sha256(content).hexdigest()[:32]}"'


@lru_cache(maxsize=1)
def _schema() -> tuple[bytes, str]:
    content = json.dumps(sharepack_json_schema(), indent=2, sort_keys=True).encode()
    return content, f'"{hashlib.sha256(content).hexdigest()[:32]}"'


@router.get(
    "/sharepack/template.xlsx",
    response_class=Response,
    **operation(
        "workflow_template",
        None,
        workspace=False,
        success={"content": {XLSX_MEDIA_TYPE: {}}, "description": "The Excel template"},
    ),
)
def template() -> Response:
    """The canonical Excel template of a share pack (headers, examples, drop-downs; no formulas or macros)."""
    content, etag = _template()
    return Response(
        content,
        media_type=XLSX_MEDIA_TYPE,
        headers={
            "Content-Disposition": 'attachment; filename="sharepack_template.xlsx"',
            "ETag": etag,
        },
    )


@router.get(
    "/sharepack/schema.json",
    response_class=Response,
    **operation(
        "workflow_schema",
        None,
        workspace=False,
        success={"content": {"application/schema+json": {}}, "description": "JSON Schema"},
    ),
)
def schema() -> Response:
    """JSON Schema (draft 2020-12) of the YAML form of a share pack."""
    content, etag = _schema()
    return Response(content, media_type="application/schema+json", headers={"ETag": etag})


@router.get("/sharepacks", **operation("workflow_list", "reader", workspace=False, errors=[503]))
def list_sharepacks(
    ctx: WorkflowDep,
    status_filter: Annotated[
        list[StatusFilter] | None,
        Query(
            alias="status",
            description="Status of the current version (repeatable, case-insensitive), e.g. PENDING_APPROVAL",
        ),
    ] = None,
    requested_by: Annotated[
        PlainText | None, Query(max_length=255, description="Uploader id or name")
    ] = None,
    since: Annotated[
        QueryTimestamp | None, Query(description="Last status change at or after (RFC 3339)")
    ] = None,
    workspace: Annotated[
        PlainText | None,
        Query(
            min_length=1,
            max_length=2048,
            description="Workspace URL of the pack (normalised as X-Workspace-URL)",
            json_schema_extra={"format": "uri"},
        ),
    ] = None,
    pack_key: Annotated[
        PlainText | None, Query(max_length=1024, description="Pack key (exact, case-insensitive)")
    ] = None,
    project: Annotated[
        PlainText | None,
        Query(max_length=255, description="Project name (metadata.project_name, case-insensitive)"),
    ] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    cursor: Annotated[
        str | None, Query(max_length=512, description="Opaque cursor of the next page")
    ] = None,
) -> PackList:
    """Share packs (current version each), newest status change first, with keyset pagination."""
    return workflow_service.list_packs(
        ctx,
        statuses=status_filter,
        requested_by=requested_by,
        since=since,
        limit=limit,
        cursor=cursor,
        workspace=workspace,
        pack_key=pack_key,
        project=project,
    )


@router.get(
    "/sharepack/{id}", **operation("workflow_get", "reader", workspace=False, errors=[404, 503])
)
def get_sharepack(id: str, ctx: WorkflowDep) -> PackStatus:
    """Status of the pack's current version: status, progress, attempts, errors, latest run."""
    return workflow_service.get_status(ctx, id)


@router.post(
    "/sharepack/{id}/versions/{version}/approval",
    **operation(
        "workflow_approval", "approver", workspace=False, body=True, errors=[404, 409, 503]
    ),
)
def decide_version(
    id: str,
    version: Annotated[int, Path(ge=1, le=2_147_483_647)],
    body: ApprovalRequest,
    ctx: WorkflowDep,
    principal: PrincipalDep,
    request_id: RequestIdDep,
) -> ApprovalResponse:
    """Approve (queue) or decline (reject) a PENDING_APPROVAL version; never by its uploader.

    Approving binds to the version's content and to the plan it waits with (`approval_plan.digest`, which you
    may pass as `plan_digest`); a run whose plan holds a destructive change that was not approved goes back to
    PENDING_APPROVAL with reason `plan_changed_since_approval`.
    """
    return workflow_service.decide_version(
        ctx,
        principal=principal,
        raw_id=id,
        version=version,
        request=body,
        request_id=request_id,
    )


@router.post(
    "/sharepack/{id}/versions/{version}/withdraw",
    **operation("workflow_withdraw", "reader", workspace=False, body=True, errors=[404, 409, 503]),
)
def withdraw_version(
    id: str,
    version: Annotated[int, Path(ge=1, le=2_147_483_647)],
    ctx: WorkflowDep,
    principal: PrincipalDep,
    request_id: RequestIdDep,
    body: Annotated[WithdrawRequest | None, Body()] = None,
) -> WithdrawResponse:
    """Withdraw a QUEUED or PENDING_APPROVAL version: its uploader, an owner of the pack or an admin.

    The version becomes WITHDRAWN (terminal); a worker that receives its queue message drops it.
    """
    return workflow_service.withdraw_version(
        ctx,
        principal=principal,
        raw_id=id,
        version=version,
        comment=(body.comment if body else None) or None,
        request_id=request_id,
    )


@router.get(
    "/sharepack/{id}/versions/{a}/diff/{b}",
    **operation("workflow_diff", "reader", workspace=False, errors=[404, 503]),
)
def diff_versions(
    id: str,
    a: Annotated[int, Path(ge=1, le=2_147_483_647, description="The older version")],
    b: Annotated[int, Path(ge=1, le=2_147_483_647, description="The newer version")],
    ctx: WorkflowDep,
) -> VersionDiff:
    """Differences from version `a` to version `b`: the documents, and the plans when both hold one."""
    return workflow_service.diff_versions(ctx, id, a, b)


@router.put(
    "/sharepack/{id}/owners",
    **operation("workflow_owners", "admin", workspace=False, body=True, errors=[404, 503]),
)
def set_owners(
    id: str,
    body: OwnersRequest,
    ctx: WorkflowDep,
    principal: PrincipalDep,
    request_id: RequestIdDep,
) -> OwnersResponse:
    """Replace the owners of a pack (principal ids): only owners and admins may store its new versions."""
    return workflow_service.set_owners(
        ctx, principal=principal, raw_id=id, request=body, request_id=request_id
    )


@router.get(
    "/sharepack/{id}/history",
    **operation("workflow_history", "reader", workspace=False, errors=[404, 503]),
)
def get_history(
    id: str,
    ctx: WorkflowDep,
    include_config: Annotated[
        bool, Query(description="Include each version's canonical content")
    ] = False,
) -> PackHistory:
    """Every version with its status transitions, runs and steps."""
    return workflow_service.get_history(ctx, id, include_config=include_config)


@router.get(
    "/drift",
    **operation("workflow_drift", "reader", workspace=False, errors=[400, 403, 404, 502, 503]),
)
def drift(
    ctx: WorkflowDep,
    workspace: Annotated[
        str,
        Query(
            min_length=1,
            max_length=2048,
            description="Workspace URL to check",
            json_schema_extra={"format": "uri"},  # as X-Workspace-URL: a non-URL is a 400
        ),
    ],
    share_pack_id: Annotated[UUID | None, Query(description="Limit to one pack")] = None,
) -> DriftResponse:
    """Recorded state of the packs' resources compared with the live workspace (read-only)."""
    report = drift_flow.detect_drift(ctx, workspace, share_pack_id=share_pack_id)
    return DriftResponse.model_validate(report.body())


_health_kwargs = operation("workflow_health", "reader", workspace=False)
_health_kwargs["responses"] |= problem_responses([503])


@router.get("/health", **_health_kwargs)
def health(ctx: WorkflowDep) -> WorkflowHealth:
    """Database, migrations, queue and worker mode of the workflow subsystem."""
    result = workflow_service.workflow_health(ctx)
    if result.status != "ok":
        raise ServiceUnavailable(
            "The workflow subsystem is not ready.",
            code="not_ready",
            checks=result.checks.model_dump(),
        )
    return result
