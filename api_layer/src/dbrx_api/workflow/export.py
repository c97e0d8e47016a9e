"""Export live shares, recipients and pipelines as a share pack (docs/WORKFLOW.md §15, docs/API.md §12.7).

The way in for a workspace whose resources were made by hand: `export_workspace` reads the named shares (each once,
through the `LiveReader` of plans and runs), their grants, the recipients asked for or granted, and — when asked —
the pipelines whose source table is a shared table with their schedule jobs, and turns them into a canonical
`SharePack`. Uploading that pack with strategy NEW adopts every resource with zero mutating calls
(docs/WORKFLOW.md §9.10), and a second export gives the same document.

What the workspace cannot know (requestor, approver, ticket, the recipients' contact addresses, ...) is written as
`FILL-ME`, which validation refuses with `placeholder_unfilled` at its location until a person fills it in
(docs/SHAREPACK.md §13.4). What a pack cannot represent is a located warning of the export, never dropped silently.
Secrets are never read into the pack: no token, no activation link.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from databricks.sdk.service.pipelines import GetPipelineResponse
from databricks.sdk.service.sharing import ShareInfo as SdkShareInfo

from dbrx_api.errors import upstream
from dbrx_api.jobs.pipelines import SOURCE_TABLE_KEY
from dbrx_api.jobs.resolution import PIPELINES_PAGE
from dbrx_api.settings import Settings
from dbrx_api.workflow.context import WorkflowContext
from dbrx_api.workflow.db.connection import database_unavailable
from dbrx_api.workflow.db.repositories import pipelines, recipients, share_packs, shares
from dbrx_api.workflow.db.repositories.records import AnyRecord
from dbrx_api.workflow.models.pack import (
    PLACEHOLDER,
    DeltaShare,
    Metadata,
    Pipeline,
    Recipient,
    Share,
    SharePack,
)
from dbrx_api.workflow.orchestrator.calls import forbid_mutations
from dbrx_api.workflow.orchestrator.live import LiveReader
from dbrx_api.workflow.orchestrator.prepare import counted_workspace
from dbrx_api.workflow.parsers.xlsx_writer import export_excel
from dbrx_api.workflow.parsers.yaml_writer import export_yaml
from dbrx_api.workflow.resources import Warn
from dbrx_api.workflow.resources.pipeline import desired_pipeline_spec, pipeline_differences
from dbrx_api.workflow.resources.recipient import exported_recipient
from dbrx_api.workflow.resources.schedule import (
    desired_job_settings,
    exported_pipeline,
    job_change,
    running_job,
)
from dbrx_api.workflow.resources.share import exported_share


@dataclass(frozen=True)
class ExportRequest:
    """What to export: named shares (or all of them), named recipients, and whether pipelines come along."""

    shares: tuple[str, ...] = ()
    recipients: tuple[str, ...] = ()
    all_shares: bool = False
    include_pipelines: bool = True
    include_grantees: bool = True


@dataclass(frozen=True)
class ExportWarning:
    """Something the pack cannot represent, located at the entry of the exported document it concerns."""

    code: str
    loc: str
    msg: str

    def body(self) -> dict[str, str]:
        """JSON-ready member of the export's `warnings`."""
        return {"type": self.code, "severity": "warning", "loc": self.loc, "msg": self.msg}


@dataclass(frozen=True)
class ExportResult:
    """The exported pack, its warnings and the reads it took (never a mutating call)."""

    pack: SharePack
    warnings: list[ExportWarning]
    read_calls: int = 0
    mutating_calls: int = 0

    def yaml(self) -> str:
        """The pack as YAML (docs/SHAREPACK.md §14.4 round trip), with a header naming the placeholders."""
        return _HEADER + export_yaml(self.pack)

    def xlsx(self) -> bytes:
        """The pack as the canonical workbook (docs/SHAREPACK.md §14)."""
        return export_excel(self.pack)


_HEADER = (
    "# Exported by DeltaShare from the live workspace. Replace every FILL-ME (validation refuses it with\n"
    "# placeholder_unfilled), then upload with strategy NEW: the plan adopts each resource without changing it.\n"
)


# ------------------------------------------------------------------------------------------ entry point


def export_workspace(
    ctx: WorkflowContext, workspace_url: str, request: ExportRequest
) -> ExportResult:
    """Read the requested resources of an allow-listed workspace and describe them as a share pack.

    Raises:
        ForbiddenError: 403 `workspace_not_allowed` (no request is sent).
        AppError: an upstream failure of a read, mapped as for every Databricks call.
    """
    workspace = ctx.clients.resolve(workspace_url)
    managed = _managed(ctx, workspace.url)
    counted = counted_workspace(
        ctx.clients.client_for(workspace),
        workspace_url=workspace.url,
        settings=ctx.settings,
        before_mutation=forbid_mutations,
    )
    reader = LiveReader(counted)
    pack, warnings = build_pack(
        reader, workspace.url, workspace.region, request, ctx.settings, managed=managed
    )
    return ExportResult(
        pack=pack,
        warnings=warnings,
        read_calls=counted.counter.reads,
        mutating_calls=counted.counter.mutations,
    )


def _managed(ctx: WorkflowContext, workspace_url: str) -> dict[tuple[str, str], str]:
    """`(resource type, name) -> pack key` of the resources a pack already manages (docs/WORKFLOW.md §9.10).

    One read-only transaction, closed before any Databricks call.
    """
    found: dict[tuple[str, str], str] = {}
    with database_unavailable(), ctx.pool.connection() as conn, conn.transaction():
        conn.execute("SET TRANSACTION READ ONLY")
        keys: dict[Any, str] = {}
        recorded: list[tuple[str, AnyRecord]] = [
            *(("recipient", r) for r in recipients.list_current(conn, workspace_url=workspace_url)),
            *(("share", s) for s in shares.list_current(conn, workspace_url=workspace_url)),
            *(("pipeline", p) for p in pipelines.list_current(conn, workspace_url=workspace_url)),
        ]
        for resource_type, row in recorded:
            pack_id = row.share_pack_id
            if pack_id not in keys:
                current = share_packs.get_current(conn, pack_id) if pack_id else None
                keys[pack_id] = str(current.pack_key) if current else str(pack_id)
            found[(resource_type, row.key)] = keys[pack_id]
    return found


# ------------------------------------------------------------------------------------------ assembly


@dataclass
class _Draft:
    """Entries collected before they are sorted into the pack (warnings keyed by entry until located)."""

    shares: dict[str, Share] = field(default_factory=dict)
    recipients: dict[str, Recipient] = field(default_factory=dict)
    notes: list[tuple[str, tuple[str, ...], str]] = field(default_factory=list)

    def note(self, code: str, where: tuple[str, ...], msg: str) -> None:
        """A warning about the entry `where`: `("share", name)`, `("recipient", name)` or
        `("pipeline", share, name)`; a share or recipient left out of the pack stands for the request's."""
        self.notes.append((code, where, msg))

    def warner(self, *where: str) -> Warn:
        """`note` about the entry `where`, for a kind's export function."""
        return lambda code, msg: self.note(code, where, msg)


def build_pack(
    reader: LiveReader,
    workspace_url: str,
    region: str,
    request: ExportRequest,
    settings: Settings,
    *,
    managed: Mapping[tuple[str, str], str] | None = None,
) -> tuple[SharePack, list[ExportWarning]]:
    """The exported pack and its located warnings, from reads through `reader` only.

    `managed` maps `(resource type, name)` to the pack key of the pack that already manages it: such entries are
    exported as they are, with warning `export_managed_by_pack` (only that pack may declare them).
    """
    draft = _Draft()
    if not (request.shares or request.recipients or request.all_shares):
        draft.note(
            "export_empty",
            ("share", ""),
            "nothing was named: give shares or recipients, or set all_shares.",
        )
    share_names = _share_names(reader, request)
    live_shares: dict[str, SdkShareInfo] = {}
    for name in share_names:
        live = reader.share(name)
        if live is None:
            draft.note("export_not_found", ("share", name), f'share "{name}" does not exist.')
            continue
        live_shares[name] = live
    wanted_recipients = {name.lower() for name in request.recipients}
    grants: dict[str, list[str]] = {}
    for name in live_shares:
        grants[name] = sorted(reader.share_grants(name))
        if request.include_grantees:
            wanted_recipients.update(grants[name])
    for name in sorted(wanted_recipients):
        warn = draft.warner("recipient", name)
        live_recipient = reader.recipient(name)
        if live_recipient is None:
            warn("export_not_found", f'recipient "{name}" does not exist.')
            continue
        recipient = exported_recipient(name, live_recipient, warn)
        if recipient is not None:
            draft.recipients[name] = recipient
    by_source = (
        _pipelines_by_source(reader, settings.workflow.worker.workspace_max_inflight)
        if request.include_pipelines
        else {}
    )
    # A pipeline goes to the first share reading it: a pack declares it once.
    taken: set[str] = set()
    for name, live in live_shares.items():
        pipeline_of = partial(_pipeline_for, draft, reader, settings, name, by_source, taken)
        warn = draft.warner("share", name)
        draft.shares[name] = exported_share(name, live, grants[name], pipeline_of, warn)
    share_of = {
        p.name_prefix.lower(): share_name
        for share_name, share in draft.shares.items()
        for p in share.pipelines or []
    }
    exported: dict[str, Mapping[str, object]] = {
        "recipient": draft.recipients,
        "share": draft.shares,
        "pipeline": share_of,
    }
    for (resource_type, name), key in sorted((managed or {}).items()):
        if name in exported[resource_type]:
            where = (
                ("pipeline", share_of[name], name)
                if resource_type == "pipeline"
                else (resource_type, name)
            )
            draft.note(
                "export_managed_by_pack",
                where,
                f'{resource_type} "{name}" is managed by share pack "{key}"; only that pack may declare it '
                "(resource_managed_by_other_pack): fill this export in as that pack, or leave the entry out.",
            )
    pack = SharePack(
        metadata=_metadata(workspace_url, region),
        recipient=list(draft.recipients.values()),
        share=list(draft.shares.values()),
    )
    return pack, _located(pack, draft.notes)


def _share_names(reader: LiveReader, request: ExportRequest) -> list[str]:
    names = {name.lower() for name in request.shares}
    if request.all_shares:
        with upstream("share"):
            names.update((info.name or "").lower() for info in reader.ws.shares.list_shares())
    names.discard("")
    return sorted(names)


def _metadata(workspace_url: str, region: str) -> Metadata:
    """Governance the workspace cannot know is a placeholder; the region is the allowlist's, the strategy NEW,
    the approval pending."""
    return Metadata(
        requestor=[PLACEHOLDER],
        project_name=PLACEHOLDER,
        business_line=PLACEHOLDER,
        strategy="NEW",
        description="Exported from the live workspace.",
        delta_share_region="AM" if region == "AM" else "EMEA",
        configurator=[PLACEHOLDER],
        approver=[PLACEHOLDER],
        executive_team=[PLACEHOLDER],
        approver_status="pending",
        workspace_url=workspace_url,
        servicenow=PLACEHOLDER,
        contact_email=[PLACEHOLDER],
    )


# ------------------------------------------------------------------------------------------ pipelines


def _pipelines_by_source(reader: LiveReader, parallel: int) -> dict[str, list[GetPipelineResponse]]:
    """Every pipeline of the workspace with a pack-style source table, by that table (one list, one get each).

    A pipeline's spec says which table it reads only in its detail, so the export lists the pipelines once and
    reads each one once, `parallel` at a time as provisioning's reads are (the `LiveReader` cache serves later
    reads of the same id).
    """
    with upstream("pipeline"):
        ids = [
            info.pipeline_id
            for info in reader.ws.pipelines.list_pipelines(max_results=PIPELINES_PAGE)
            if info.pipeline_id
        ]
    by_source: dict[str, list[GetPipelineResponse]] = {}
    with ThreadPoolExecutor(max_workers=max(1, parallel), thread_name_prefix="export") as pool:
        details = list(pool.map(reader.pipeline, sorted(ids)))
    for detail in details:
        spec = detail.spec if detail is not None else None
        source = ((spec.configuration or {}).get(SOURCE_TABLE_KEY) if spec else None) or ""
        if detail is not None and source:
            by_source.setdefault(source.lower(), []).append(detail)
    return by_source


def _pipeline_for(
    draft: _Draft,
    reader: LiveReader,
    settings: Settings,
    share: str,
    pipelines: dict[str, list[GetPipelineResponse]],
    taken: set[str],
    table: str,
) -> Pipeline | None:
    """The pack entry of the one pipeline reading `table` not `taken` yet (then taken), None when none can be
    described."""
    candidates = [p for p in pipelines.get(table, []) if (p.name or "").lower() not in taken]
    if not candidates:
        return None
    if len(candidates) > 1:
        draft.note(
            "export_ambiguous",
            ("share", share),
            f'table "{table}" is read by {len(candidates)} pipelines '
            f"({', '.join(sorted(p.name or '' for p in candidates))}); only the first is exported.",
        )
    detail = candidates[0]
    schedules = settings.databricks.schedules
    pipeline = exported_pipeline(reader, detail, table, schedules, draft.warner("share", share))
    if pipeline is not None:
        taken.add(pipeline.name_prefix.lower())
        _check_pipeline(draft, reader, settings, share, pipeline, detail)
    return pipeline


def _check_pipeline(
    draft: _Draft,
    reader: LiveReader,
    settings: Settings,
    share: str,
    pipeline: Pipeline,
    detail: GetPipelineResponse,
) -> None:
    """Warn when adopting would change the pipeline or its job (docs/WORKFLOW.md §9.5): fields a pack sets otherwise."""
    holder = Share(
        name=share,
        delta_share=DeltaShare(
            ext_catalog_name=pipeline.ext_catalog_name or "",
            ext_schema_name=pipeline.ext_schema_name or "",
        ),
    )
    warn = draft.warner("pipeline", share, pipeline.name_prefix)
    desired = desired_pipeline_spec(holder, pipeline, defaults=settings.databricks.pipelines)
    differences = pipeline_differences(desired, detail.spec) if detail.spec else {}
    if differences:
        warn(
            "export_pipeline_differs",
            f'pipeline "{pipeline.name_prefix}" differs from what a pack makes of it in '
            f"{', '.join(sorted(differences))}; uploading this pack updates those fields.",
        )
    if pipeline.is_continuous:
        return
    schedules = settings.databricks.schedules
    # The job the export read (the reader answers from its cache).
    job = running_job(reader, pipeline.name_prefix, detail.pipeline_id or "", schedules)
    if job is not None:
        wanted = desired_job_settings(
            holder, pipeline, detail.pipeline_id or "", defaults=schedules
        )
        change = job_change(wanted, job, schedules.task_key)
        if not change.empty:
            warn(
                "export_pipeline_differs",
                f'schedule job of pipeline "{pipeline.name_prefix}" differs from what a pack makes of it in '
                f"{', '.join(sorted(change.diff))}; uploading this pack updates those fields.",
            )


# ------------------------------------------------------------------------------------------ warnings


def _located(
    pack: SharePack, notes: Iterable[tuple[str, tuple[str, ...], str]]
) -> list[ExportWarning]:
    """Warnings with the path of their entry in the exported document (`share[1]`, `recipient[0]`, ...)."""
    indexes = {
        "share": {share.name: index for index, share in enumerate(pack.share)},
        "recipient": {recipient.name: index for index, recipient in enumerate(pack.recipient)},
    }
    pipeline_paths: dict[str, str] = {}
    for index, share in enumerate(pack.share):
        for p_index, pipeline in enumerate(share.pipelines or []):
            pipeline_paths[pipeline.name_prefix.lower()] = f"share[{index}].pipelines[{p_index}]"
    located = []
    for code, where, msg in notes:
        if where[0] == "pipeline":
            loc = pipeline_paths.get(where[2].lower(), "")
        else:
            position = indexes[where[0]].get(where[1])
            # Not found, or not representable: located at what the request asked for.
            loc = f"{where[0]}[{position}]" if position is not None else f"request.{where[0]}s"
        located.append(ExportWarning(code, loc, msg))
    return sorted(located, key=lambda w: (w.loc, w.code, w.msg))
