"""Share-pack flows called by the HTTP routes: upload (docs/WORKFLOW.md §7), status, list, history and health.

Each function takes the `WorkflowContext` and plain values, opens its own short transaction and returns a response
model. The queue message of a new or re-run version is sent only after its transaction committed.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from dbrx_api.dbrx_auth.principal import Principal
from dbrx_api.dbrx_auth.workspaces import normalise_workspace_url
from dbrx_api.errors import (
    AppError,
    ConflictError,
    ForbiddenError,
    InvalidRequest,
    NotFoundError,
    ValidationFailed,
)
from dbrx_api.schemas.workflow import (
    ApprovalRequest,
    ApprovalResponse,
    OwnersRequest,
    OwnersResponse,
    PackHistory,
    PackList,
    PackStatus,
    UploadResponse,
    VersionDiff,
    WithdrawResponse,
    WorkflowHealth,
)
from dbrx_api.workflow import approvals, version_diff
from dbrx_api.workflow.context import WorkflowContext
from dbrx_api.workflow.db import migrate, scd2, views
from dbrx_api.workflow.db.connection import DictConnection, transaction
from dbrx_api.workflow.db.operations import admit_version, rerun_version
from dbrx_api.workflow.db.repositories import audit_trail, owners, share_packs, version_status
from dbrx_api.workflow.db.repositories.share_packs import PackVersionInput
from dbrx_api.workflow.db.repositories.version_status import Status
from dbrx_api.workflow.models.errors import PackWorkspaceNotAllowed
from dbrx_api.workflow.models.issues import Issue
from dbrx_api.workflow.ownership import reject_managed_elsewhere
from dbrx_api.workflow.queue.messages import WorkMessage
from dbrx_api.workflow.sharepack import LoadedPack, load_sharepack

logger = logging.getLogger(__name__)

_RERUNNABLE = {Status.COMPLETED.value, Status.FAILED.value}


@dataclass(frozen=True, slots=True)
class UploadResult:
    """The upload response and whether a new version (or a re-run) was created (202) or nothing changed (200)."""

    response: UploadResponse
    accepted: bool


def status_path(share_pack_id: UUID) -> str:
    """Path of a pack's status resource (relative to `api_prefix`)."""
    return f"/workflow/sharepack/{share_pack_id}"


def load_for_request(
    ctx: WorkflowContext,
    *,
    principal: Principal,
    filename: str,
    data: bytes,
    workspace_header: str | None,
) -> LoadedPack:
    """Offline stages of an upload or a plan: parse, validate, DELETE needs admin, workspace allowlisted/matching."""
    loaded = load_sharepack(
        filename, data, ctx.settings.upload, allow_local_urls=ctx.settings.is_local
    )
    metadata = loaded.model.metadata
    if metadata.strategy == "DELETE" and not principal.has_role("admin"):
        raise ForbiddenError(
            "Share packs with strategy DELETE need the 'admin' role.",
            code="role_missing",
            required_role="admin",
        )
    try:
        workspace = ctx.clients.resolve(metadata.workspace_url)
    except ForbiddenError as exc:
        if exc.code != "workspace_not_allowed":
            raise
        field = "metadata.workspace_url"
        hint = (
            "make run-dev writes a sample pack for its ports to api_layer/.local/"
            if ctx.settings.is_local
            else None
        )
        issue = Issue.at(
            "workspace_not_allowed",
            "error",
            field,
            exc.detail,
            loaded.locator.position(field),
            input_value=metadata.workspace_url,
            hint=hint,
        )
        raise PackWorkspaceNotAllowed(issue) from None
    header_url = (
        normalise_workspace_url(workspace_header)
        if workspace_header and workspace_header.strip()
        else None
    )
    if header_url is not None and header_url != workspace.url:
        raise ValidationFailed(
            f"X-Workspace-URL ({header_url}) differs from the pack's metadata.workspace_url ({workspace.url}).",
            code="workspace_mismatch",
        )
    return loaded


def version_input(loaded: LoadedPack, principal: Principal, workspace_url: str) -> PackVersionInput:
    """What an upload by `principal` stores for a validated pack (the tests and benchmarks store through it too)."""
    metadata = loaded.model.metadata
    return PackVersionInput(
        pack_key=loaded.pack_key,
        business_line=metadata.business_line,
        project_name=metadata.project_name or "default",
        requestor=",".join(metadata.requestor),
        strategy=metadata.strategy,
        workspace_url=workspace_url,
        approver_status=metadata.approver_status,
        servicenow=metadata.servicenow,
        config=loaded.config,
        record_hash=loaded.record_hash,
        file_format=loaded.file_format,
        file_name=loaded.file_name,
        file_sha256=loaded.file_sha256,
        file_size=loaded.file_size,
        requested_by=principal.id,
        requested_by_name=principal.name,
        requested_by_roles=sorted(principal.roles),
        warnings=loaded.warning_members,
        locator=loaded.locator.to_json(),
    )


def upload_sharepack(
    ctx: WorkflowContext,
    *,
    principal: Principal,
    request_id: str | None,
    filename: str,
    data: bytes,
    workspace_header: str | None = None,
) -> UploadResult:
    """Validate and store an uploaded pack as a new SCD2 version (or re-run an identical one), then queue it."""
    loaded = load_for_request(
        ctx, principal=principal, filename=filename, data=data, workspace_header=workspace_header
    )
    workspace = ctx.clients.resolve(loaded.model.metadata.workspace_url)
    pack_version = version_input(loaded, principal, workspace.url)
    message: WorkMessage | None = None
    rerun = False
    with transaction(ctx.pool) as conn:
        _check_owner(conn, loaded.pack_key, principal)
        reject_managed_elsewhere(conn, loaded, workspace_url=workspace.url)
        stored = share_packs.store_version(conn, pack_version, changed_by=principal.id)
        share_pack_id: UUID = stored.row["share_pack_id"]
        version: int = stored.row["version"]
        if stored.created and stored.previous_version is None:
            owners.add(
                conn,
                share_pack_id,
                principal.id,
                principal.name,
                actor=principal.id,
                at=stored.at,
                request_id=request_id,
            )
        if stored.created:
            admission = admit_version(
                conn,
                share_pack_id,
                version,
                approver_status=pack_version.approver_status,
                at=stored.at,
                actor=principal.id,
                request_id=request_id,
            )
            status = admission.status.value
            if admission.status == Status.QUEUED:
                message = WorkMessage(share_pack_id, version, attempt=1, request_id=request_id)
        else:
            current = version_status.get(conn, share_pack_id, version, for_update=True)
            status = str(current.status) if current else Status.RECEIVED.value
            if status in _RERUNNABLE:
                row = rerun_version(
                    conn,
                    share_pack_id,
                    version,
                    at=stored.at,
                    actor=principal.id,
                    request_id=request_id,
                )
                if row is not None:
                    rerun = True
                    status = Status.QUEUED.value
                    message = WorkMessage(
                        share_pack_id,
                        version,
                        attempt=int(row.attempts) + 1,
                        request_id=request_id,
                    )
        if stored.created or rerun:
            audit_trail.record_pack_event(
                conn,
                actor=principal,
                action="sharepack.upload" if stored.created else "sharepack.rerun",
                pack_key=loaded.pack_key,
                workspace_url=workspace.url,
                share_pack_id=share_pack_id,
                version=version,
                request_id=request_id,
                new_values={
                    "record_hash": loaded.record_hash,
                    "status": status,
                    "file_name": loaded.file_name,
                    "file_size": loaded.file_size,
                },
            )
    enqueue = "none" if message is None else _send_after_commit(ctx, message)
    response = UploadResponse.model_validate(
        {
            "share_pack_id": share_pack_id,
            "version": version,
            "status": status,
            "created_version": stored.created,
            "rerun": rerun,
            "enqueue": enqueue,
            "warnings": loaded.warning_members,
            "status_url": status_path(share_pack_id),
        }
    )
    return UploadResult(response=response, accepted=stored.created or rerun)


def _check_owner(conn: DictConnection, pack_key: str, principal: Principal) -> None:
    """403 `pack_not_owned` unless the pack is new, the caller owns it, or the caller is an admin.

    Takes the pack-key lock first, so the owners read here are the ones in force when the version is stored.
    """
    share_packs.lock_pack_key(conn, pack_key)
    current = share_packs.get_current_by_key(conn, pack_key)
    if current is None or principal.has_role("admin"):
        return
    share_pack_id = current.share_pack_id
    if principal.id not in {o.id for o in owners.list_owners(conn, share_pack_id)}:
        raise ForbiddenError(
            f"Share pack '{pack_key}' ({share_pack_id}) has other owners: only an owner or an admin may store "
            "a version of it. An admin can add owners with PUT /workflow/sharepack/{id}/owners.",
            code="pack_not_owned",
            share_pack_id=str(share_pack_id),
        )


def decide_version(
    ctx: WorkflowContext,
    *,
    principal: Principal,
    raw_id: str,
    version: int,
    request: ApprovalRequest,
    request_id: str | None,
) -> ApprovalResponse:
    """An approver approves (queues) or declines (rejects) a PENDING_APPROVAL version (docs/GOVERNANCE.md §1.4)."""
    result = approvals.decide(
        ctx,
        principal=principal,
        share_pack_id=_pack_id(raw_id),
        version=version,
        decision=request.decision,
        comment=request.comment or None,
        plan_digest_seen=request.plan_digest,
        request_id=request_id,
    )
    enqueue = "none" if result.message is None else _send_after_commit(ctx, result.message)
    return ApprovalResponse.model_validate({**result.body, "enqueue": enqueue})


def set_owners(
    ctx: WorkflowContext,
    *,
    principal: Principal,
    raw_id: str,
    request: OwnersRequest,
    request_id: str | None,
) -> OwnersResponse:
    """Replace the owners of a pack (admin); each addition and removal is recorded in its history."""
    share_pack_id = _pack_id(raw_id)
    wanted = list(dict.fromkeys(request.owners))
    with transaction(ctx.pool) as conn:
        current = share_packs.get_current(conn, share_pack_id)
        if current is None:
            raise _not_found(share_pack_id)
        share_packs.lock_pack_key(conn, str(current.pack_key))
        existing = [o.id for o in owners.list_owners(conn, share_pack_id)]
        at = scd2.clock(conn)
        added = [
            owner_id
            for owner_id in wanted
            if owner_id not in existing
            and owners.add(
                conn,
                share_pack_id,
                owner_id,
                None,
                actor=principal.id,
                at=at,
                request_id=request_id,
            )
        ]
        removed = [
            owner_id
            for owner_id in existing
            if owner_id not in wanted
            and owners.remove(
                conn, share_pack_id, owner_id, actor=principal.id, at=at, request_id=request_id
            )
        ]
        if added or removed:
            audit_trail.record_pack_event(
                conn,
                actor=principal,
                action="sharepack.owners",
                pack_key=str(current.pack_key),
                workspace_url=str(current.workspace_url),
                share_pack_id=share_pack_id,
                request_id=request_id,
                old_values={"owners": existing},
                new_values={"owners": wanted},
            )
        now_owners = owners.list_owners(conn, share_pack_id)
    return OwnersResponse.model_validate(
        {"share_pack_id": share_pack_id, "owners": now_owners, "added": added, "removed": removed}
    )


def _send_after_commit(ctx: WorkflowContext, message: WorkMessage) -> str:
    """Send the work message; a failure leaves the version QUEUED for the sweeper (`deferred`)."""
    try:
        ctx.queue.send(message.to_json())
    except Exception:
        logger.exception(
            "queue send failed after commit; the sweeper will re-send",
            extra={"share_pack_id": str(message.share_pack_id), "version": message.version},
        )
        return "deferred"
    return "sent"


def _not_found(share_pack_id: UUID | str) -> NotFoundError:
    return NotFoundError(f"No share pack with id '{share_pack_id}'.", code="sharepack_not_found")


def _pack_id(raw: str) -> UUID:
    try:
        return uuid.UUID(raw)
    except ValueError:
        raise _not_found(raw[:64]) from None


def get_status(ctx: WorkflowContext, raw_id: str) -> PackStatus:
    """The status object of a pack's current version (404 for an unknown or malformed id)."""
    share_pack_id = _pack_id(raw_id)
    with transaction(ctx.pool) as conn:
        view = views.status_view(conn, share_pack_id)
    if view is None:
        raise _not_found(share_pack_id)
    return PackStatus.model_validate(view)


def list_packs(
    ctx: WorkflowContext,
    *,
    statuses: Sequence[str] | None,
    requested_by: str | None,
    since: datetime | None,
    limit: int,
    cursor: str | None,
    workspace: str | None = None,
    pack_key: str | None = None,
    project: str | None = None,
) -> PackList:
    """Current versions of the packs, newest status change first, keyset-paged (docs/API.md §12.1).

    `workspace` is normalised as `X-Workspace-URL` is (packs store the normalised URL), so
    `https://ADB-1.2.azuredatabricks.net/` finds the packs of `https://adb-1.2.azuredatabricks.net`.
    """
    workspace_url = None
    if workspace is not None:
        try:
            workspace_url = normalise_workspace_url(workspace)
        except InvalidRequest:
            message = "must be an absolute workspace URL without user-info, path, query or fragment"
            raise ValidationFailed(
                f"The request is invalid: query.workspace {message}.",
                errors=[
                    {"loc": ["query", "workspace"], "msg": message, "type": "workspace_url_invalid"}
                ],
            ) from None
    with transaction(ctx.pool) as conn:
        page = views.list_status_views(
            conn,
            statuses=statuses,
            requested_by=requested_by,
            since=since,
            workspace_url=workspace_url,
            pack_key=pack_key,
            project=project,
            limit=limit,
            cursor=cursor,
        )
    items = [PackStatus.model_validate(item) for item in page.items]
    return PackList(items=items, count=len(items), next_cursor=page.next_cursor)


def get_history(ctx: WorkflowContext, raw_id: str, *, include_config: bool) -> PackHistory:
    """Every version of a pack with its transitions, runs and steps."""
    share_pack_id = _pack_id(raw_id)
    with transaction(ctx.pool) as conn:
        view = views.history_view(conn, share_pack_id, include_config=include_config)
    if view is None:
        raise _not_found(share_pack_id)
    return PackHistory.model_validate(view)


def workflow_health(ctx: WorkflowContext) -> WorkflowHealth:
    """Database (`SELECT 1`, schema version), queue properties and worker mode; no table scans."""
    started = time.perf_counter()
    database: dict[str, Any] = {
        "ok": False,
        "latency_ms": 0,
        "schema_version": None,
        "expected_schema_version": migrate.EXPECTED_SCHEMA_VERSION,
    }
    try:
        with ctx.pool.connection(timeout=2) as conn:
            conn.execute("SELECT 1")
            database["schema_version"] = migrate.schema_version(conn)
        database["ok"] = database["schema_version"] == migrate.EXPECTED_SCHEMA_VERSION
        if not database["ok"]:
            database["detail"] = "schema version differs from the version the code expects"
    except Exception as exc:  # noqa: BLE001 - reported as a failed check
        database["detail"] = f"unreachable ({type(exc).__name__})"
    database["latency_ms"] = int((time.perf_counter() - started) * 1000)
    queue: dict[str, Any] = {"ok": False, "kind": ctx.queue.kind, "durable": ctx.queue.durable}
    try:
        work, poison = ctx.queue.approximate_counts()
        queue.update(
            ok=True, approximate_message_count=work, poison_approximate_message_count=poison
        )
        if not ctx.queue.durable:
            queue["detail"] = "in-process queue, not durable"
    except Exception as exc:  # noqa: BLE001 - reported as a failed check
        queue["detail"] = f"unreachable ({type(exc).__name__})"
    worker = {"ok": True, "mode": ctx.worker_mode}
    ok = database["ok"] and queue["ok"]
    return WorkflowHealth.model_validate(
        {
            "status": "ok" if ok else "not_ready",
            "checks": {"database": database, "queue": queue, "worker": worker},
        }
    )


_WITHDRAWABLE = (Status.QUEUED, Status.PENDING_APPROVAL)


def withdraw_refusal(
    principal: Principal, *, status: str, uploader_id: str, owner_ids: set[str]
) -> AppError | None:
    """Why `principal` may not withdraw a version now, or None when they may (docs/API.md §12.3.3).

    The one rule the API applies and the console applies to show its button: the uploader of the version, an
    owner of the pack or an admin, and a version that has not started (`QUEUED` or `PENDING_APPROVAL`).
    """
    if not (
        principal.id == uploader_id or principal.id in owner_ids or principal.has_role("admin")
    ):
        return ForbiddenError(
            "Only the uploader of a version, an owner of its pack or an admin may withdraw it.",
            code="withdraw_not_allowed",
        )
    if status not in _WITHDRAWABLE:
        return ConflictError(
            f"The version is {status}; only a QUEUED or PENDING_APPROVAL version can be withdrawn.",
            code="not_withdrawable",
            version_status=status,
        )
    return None


def withdraw_version(
    ctx: WorkflowContext,
    *,
    principal: Principal,
    raw_id: str,
    version: int,
    comment: str | None,
    request_id: str | None,
) -> WithdrawResponse:
    """`QUEUED | PENDING_APPROVAL → WITHDRAWN` by the uploader, an owner or an admin (docs/WORKFLOW.md §4.3).

    A worker that later receives the version's queue message drops it: only a `QUEUED` version is claimed.
    """
    share_pack_id = _pack_id(raw_id)
    with transaction(ctx.pool) as conn:
        status = version_status.get(conn, share_pack_id, version, for_update=True)
        pack_row = share_packs.get_version(conn, share_pack_id, version)
        if status is None or pack_row is None:
            raise _version_not_found(share_pack_id, version)
        refusal = withdraw_refusal(
            principal,
            status=str(status.status),
            uploader_id=str(pack_row.requested_by),
            owner_ids={o.id for o in owners.list_owners(conn, share_pack_id)},
        )
        if refusal is not None:
            raise refusal
        at = scd2.clock(conn)
        reason = f"withdrawn by {principal.name}" + (f": {comment}" if comment else "")
        moved = version_status.transition(
            conn,
            share_pack_id,
            version,
            Status.WITHDRAWN,
            from_statuses=_WITHDRAWABLE,
            at=at,
            actor=principal.id,
            reason=reason,
            request_id=request_id,
            changes={"next_visible_at": None},
        )
        if moved is None:  # pragma: no cover - the row is locked FOR UPDATE above
            raise ConflictError("The version changed state meanwhile.", code="not_withdrawable")
        audit_trail.record_pack_event(
            conn,
            actor=principal,
            action="sharepack.withdraw",
            pack_key=str(pack_row.pack_key),
            workspace_url=str(pack_row.workspace_url),
            share_pack_id=share_pack_id,
            version=version,
            request_id=request_id,
            old_values={"status": str(status.status)},
            new_values={"status": Status.WITHDRAWN.value, "comment": comment},
        )
    return WithdrawResponse.model_validate(
        {
            "share_pack_id": share_pack_id,
            "version": version,
            "previous_status": str(status.status),
            "status": Status.WITHDRAWN.value,
            "withdrawn_by": {"id": principal.id, "name": principal.name},
            "withdrawn_at": at,
            "comment": comment,
        }
    )


def _version_not_found(share_pack_id: UUID, version: int) -> NotFoundError:
    return NotFoundError(
        f"No version {version} of share pack '{share_pack_id}'.", code="sharepack_not_found"
    )


def diff_versions(
    ctx: WorkflowContext, raw_id: str, from_version: int, to_version: int
) -> VersionDiff:
    """Document-level differences between two stored versions of a pack, and plan-level ones when both
    versions hold a plan (`approval_plan`, docs/API.md §12.3.4). Reads only; no Databricks call."""
    share_pack_id = _pack_id(raw_id)
    rows: list[tuple[share_packs.PackVersion, dict[str, Any] | None]] = []
    with transaction(ctx.pool) as conn:
        for version in (from_version, to_version):
            pack_row = share_packs.get_version(conn, share_pack_id, version)
            if pack_row is None:
                if share_packs.get_current(conn, share_pack_id) is None:
                    raise _not_found(share_pack_id)
                raise _version_not_found(share_pack_id, version)
            status = version_status.get(conn, share_pack_id, version)
            rows.append((pack_row, (status.approval_plan if status else None) or None))
    (old, old_plan), (new, new_plan) = rows
    body = {
        "share_pack_id": share_pack_id,
        "from_version": from_version,
        "to_version": to_version,
        "from_record_hash": old.record_hash,
        "to_record_hash": new.record_hash,
        "document": version_diff.document_changes(old.config or {}, new.config or {}),
        "plan": (
            version_diff.plan_changes(old_plan, new_plan)
            if old_plan is not None and new_plan is not None
            else None
        ),
    }
    return VersionDiff.model_validate(body)
