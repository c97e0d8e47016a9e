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
from typing import Any

from databricks.sdk.service.jobs import BaseJob
from databricks.sdk.service.pipelines import GetPipelineResponse
from databricks.sdk.service.sharing import RecipientInfo as SdkRecipientInfo
from databricks.sdk.service.sharing import SharedDataObject
from databricks.sdk.service.sharing import ShareInfo as SdkShareInfo

from dbrx_api.dltshr.recipients import recipient_properties
from dbrx_api.errors import upstream
from dbrx_api.jobs.pipelines import (
    KEYS_KEY,
    SCD_TYPE_KEY,
    SOURCE_TABLE_KEY,
    TARGET_TABLE_KEY,
    split_keys,
)
from dbrx_api.jobs.resolution import PIPELINES_PAGE
from dbrx_api.schemas.common import enum_text
from dbrx_api.settings import Settings
from dbrx_api.workflow.context import WorkflowContext
from dbrx_api.workflow.db.connection import database_unavailable
from dbrx_api.workflow.db.repositories import pipelines, recipients, share_packs, shares
from dbrx_api.workflow.db.repositories.records import AnyRecord
from dbrx_api.workflow.models.pack import (
    PLACEHOLDER,
    SCD_TYPES,
    CronSchedule,
    DeltaShare,
    Metadata,
    PartitionSpec,
    PartitionValue,
    Pipeline,
    Recipient,
    Share,
    SharePack,
)
from dbrx_api.workflow.orchestrator.calls import forbid_mutations
from dbrx_api.workflow.orchestrator.live import LiveReader, job_pipeline_id
from dbrx_api.workflow.orchestrator.prepare import counted_workspace
from dbrx_api.workflow.parsers.xlsx_writer import export_excel
from dbrx_api.workflow.parsers.yaml_writer import export_yaml
from dbrx_api.workflow.resources.pipeline import desired_pipeline_spec, pipeline_differences
from dbrx_api.workflow.resources.recipient import live_ips
from dbrx_api.workflow.resources.schedule import desired_job_settings, job_change

# Object types a pack declares with `type` (a view-like object needs no pipeline; a volume or model is only ever
# declared, docs/SHAREPACK.md §7.3-§7.4). Tables and schemas go without a type.
_DECLARED_TYPES = frozenset({"VIEW", "MATERIALIZED_VIEW", "STREAMING_TABLE", "VOLUME", "MODEL"})
_TABLE_OPTION_TYPES = frozenset({"TABLE", "VIEW", "MATERIALIZED_VIEW", "STREAMING_TABLE"})
_AUTH_TO_TYPE = {"DATABRICKS": "D2D", "TOKEN": "D2O"}


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

    shares: dict[str, dict[str, Any]] = field(default_factory=dict)
    recipients: dict[str, dict[str, Any]] = field(default_factory=dict)
    notes: list[tuple[str, tuple[str, ...], str]] = field(default_factory=list)

    def note(self, code: str, where: tuple[str, ...], msg: str) -> None:
        """A warning about the entry `where` (`("share", name[, asset])`, `("recipient", name)`, ...)."""
        self.notes.append((code, where, msg))


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
            ("request", "share", ""),
            "nothing was named: give shares or recipients, or set all_shares.",
        )
    share_names = _share_names(reader, request)
    live_shares: dict[str, SdkShareInfo] = {}
    for name in share_names:
        live = reader.share(name)
        if live is None:
            draft.note(
                "export_not_found", ("request", "share", name), f'share "{name}" does not exist.'
            )
            continue
        live_shares[name] = live
    wanted_recipients = {name.lower() for name in request.recipients}
    grants: dict[str, list[str]] = {}
    for name in live_shares:
        grants[name] = sorted(reader.share_grants(name))
        if request.include_grantees:
            wanted_recipients.update(grants[name])
    for name in sorted(wanted_recipients):
        _recipient(draft, reader, name)
    by_source = (
        _pipelines_by_source(reader, settings.workflow.worker.workspace_max_inflight)
        if request.include_pipelines
        else {}
    )
    for name, live in live_shares.items():
        _share(draft, reader, settings, name, live, grants[name], by_source)
    share_of = {
        p.name_prefix.lower(): share_name
        for share_name, values in draft.shares.items()
        for p in values.get("pipelines", [])
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
        recipient=[Recipient.model_validate(values) for values in draft.recipients.values()],
        share=[Share.model_validate(values) for values in draft.shares.values()],
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


# ------------------------------------------------------------------------------------------ recipients


def _recipient(draft: _Draft, reader: LiveReader, name: str) -> None:
    live: SdkRecipientInfo | None = reader.recipient(name)
    if live is None:
        draft.note(
            "export_not_found",
            ("request", "recipient", name),
            f'recipient "{name}" does not exist.',
        )
        return
    auth = enum_text(live.authentication_type) or ""
    kind = _AUTH_TO_TYPE.get(auth)
    if kind is None:
        draft.note(
            "export_unrepresentable",
            ("request", "recipient", name),
            f'recipient "{name}" uses authentication type {auth or "unknown"}; a pack declares D2D or D2O only.',
        )
        return
    values: dict[str, Any] = {"name": name, "type": kind, "recipient": [PLACEHOLDER]}
    if live.comment:
        values["description"] = live.comment
    if kind == "D2D":
        values["recipient_databricks_org"] = (live.data_recipient_global_metastore_id or "").lower()
    else:
        ips = live_ips(live)
        if ips:
            values["recipient_ips"] = ips
    properties = recipient_properties(live)
    if properties:
        values["properties"] = properties
    if live.expiration_time:
        draft.note(
            "export_expiry_unmanaged",
            ("recipient", name),
            f'recipient "{name}" expires at epoch ms {live.expiration_time}; token_expiry counts days from '
            "provisioning and cannot state a fixed date, so the expiry is left unmanaged.",
        )
    draft.recipients[name] = values


# ------------------------------------------------------------------------------------------ shares


def _alias_default(name: str, kind: str) -> str | None:
    parts = name.split(".")
    if kind in _TABLE_OPTION_TYPES and len(parts) == 3:
        return f"{parts[1]}.{parts[2]}"
    if kind == "SCHEMA" and len(parts) == 2:
        return parts[1]
    return None


def _partitions(obj: SharedDataObject) -> list[PartitionSpec] | None:
    specs = []
    for partition in obj.partitions or []:
        values = [
            PartitionValue(
                name=value.name or "",
                op="LIKE" if enum_text(value.op) == "LIKE" else "EQUAL",
                value=value.value,
                recipient_property_key=value.recipient_property_key,
            )
            for value in partition.values or []
        ]
        specs.append(PartitionSpec(values=values))
    return specs or None


def _asset(obj: SharedDataObject) -> dict[str, Any]:
    """The mapping form of a live object with the options it has set (unset options stay unmanaged)."""
    name = (obj.name or "").lower()
    kind = enum_text(obj.data_object_type) or "TABLE"
    values: dict[str, Any] = {"name": name}
    if kind in _DECLARED_TYPES:
        values["type"] = kind
    alias = (obj.shared_as or obj.string_shared_as or "").lower() or None
    if alias and kind not in ("VOLUME", "MODEL") and alias != _alias_default(name, kind):
        values["shared_as"] = alias
    history = enum_text(obj.history_data_sharing_status)
    if kind in _TABLE_OPTION_TYPES and history == "ENABLED":
        values["history_data_sharing_status"] = "ENABLED"
    elif kind == "TABLE" and obj.cdf_enabled:
        values["cdf_enabled"] = True
    if kind in _TABLE_OPTION_TYPES and obj.start_version is not None:
        values["start_version"] = obj.start_version
    if kind == "TABLE":
        partitions = _partitions(obj)
        if partitions:
            values["partitions"] = partitions
    if obj.comment:
        values["comment"] = obj.comment
    return values


def _share(
    draft: _Draft,
    reader: LiveReader,
    settings: Settings,
    name: str,
    live: SdkShareInfo,
    grants: list[str],
    pipelines: dict[str, list[GetPipelineResponse]],
) -> None:
    values: dict[str, Any] = {"name": name}
    if live.comment:
        values["description"] = live.comment
    assets: list[dict[str, Any]] = []
    chosen: list[Pipeline] = []
    complete = True
    taken = {p.name_prefix.lower() for s in draft.shares.values() for p in s.get("pipelines", [])}
    for obj in sorted(live.objects or [], key=lambda o: (o.name or "").lower()):
        kind = enum_text(obj.data_object_type) or "TABLE"
        obj_name = (obj.name or "").lower()
        if kind == "NOTEBOOK_FILE":
            complete = False
            draft.note(
                "export_unrepresentable",
                ("share", name),
                f'notebook "{obj.name}" of share "{name}": the live share does not say which workspace path it '
                "came from, so the pack cannot name it; it is left out and the share's objects are listed as "
                "share_assets_to_add.",
            )
            continue
        if kind == "TABLE":
            pipeline = _pipeline_for(draft, reader, settings, name, obj_name, pipelines, taken)
            if pipeline is None:
                complete = False
                draft.note(
                    "export_unrepresentable",
                    ("share", name),
                    f'table "{obj_name}" of share "{name}" has no pipeline a pack can describe (a pack shares a '
                    "table through its pipeline, docs/SHAREPACK.md §7.4); it is left out and the share's other "
                    "objects are listed as share_assets_to_add.",
                )
                continue
            chosen.append(pipeline)
            taken.add(pipeline.name_prefix.lower())
        assets.append(_asset(obj))
    if assets:
        values["share_assets" if complete else "share_assets_to_add"] = assets
    if grants:
        values["recipients"] = grants
    if chosen:
        values["pipelines"] = _with_targets(values, chosen)
    draft.shares[name] = values


def _with_targets(values: dict[str, Any], chosen: list[Pipeline]) -> list[Pipeline]:
    """`delta_share` from the first pipeline's target; pipelines writing elsewhere keep their own override."""
    first = chosen[0]
    catalog, schema = first.ext_catalog_name or "", first.ext_schema_name or ""
    values["delta_share"] = DeltaShare(ext_catalog_name=catalog, ext_schema_name=schema)
    result = []
    for pipeline in chosen:
        if (pipeline.ext_catalog_name, pipeline.ext_schema_name) == (catalog, schema):
            pipeline = pipeline.model_copy(
                update={"ext_catalog_name": None, "ext_schema_name": None}
            )
        result.append(pipeline)
    return result


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


def _schedule_job(
    reader: LiveReader, settings: Settings, name: str, pipeline_id: str
) -> BaseJob | None:
    """The job `<name>_schedule` running this pipeline, as `jobs.list(name=…)` gives it (settings and tasks)."""
    job_name = f"{name}{settings.databricks.schedules.job_name_suffix}"
    running = [job for job in reader.jobs_named(job_name) if job_pipeline_id(job) == pipeline_id]
    return running[0] if running else None


def _pipeline_for(
    draft: _Draft,
    reader: LiveReader,
    settings: Settings,
    share: str,
    table: str,
    pipelines: dict[str, list[GetPipelineResponse]],
    taken: set[str],
) -> Pipeline | None:
    """The pack entry of the one pipeline reading `table`, None (with a warning) when none can be described."""
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
    spec = detail.spec
    name = detail.name or (spec.name if spec else None) or ""
    if spec is None or not name:
        return None
    configuration = spec.configuration or {}
    scd_type = configuration.get(SCD_TYPE_KEY) or ""
    if scd_type not in SCD_TYPES:
        draft.note(
            "export_unrepresentable",
            ("share", share),
            f'pipeline "{name}" has pipelines.scd_type "{scd_type}"; a pack knows {", ".join(SCD_TYPES)}.',
        )
        return None
    schedule: CronSchedule | str = "continuous"
    job = None
    if not spec.continuous:
        job = _schedule_job(reader, settings, name, detail.pipeline_id or "")
        cron = job.settings.schedule if job is not None and job.settings else None
        if cron is None or not cron.quartz_cron_expression:
            draft.note(
                "export_unrepresentable",
                ("share", share),
                f'pipeline "{name}" is triggered but has no schedule job "{name}'
                f'{settings.databricks.schedules.job_name_suffix}" running it; a pack pipeline is continuous or '
                "scheduled, so it is left out.",
            )
            return None
        schedule = CronSchedule(
            cron=cron.quartz_cron_expression, timezone=cron.timezone_id or "UTC"
        )
    emails = sorted({e for block in spec.notifications or [] for e in block.email_recipients or []})
    keys = split_keys(configuration.get(KEYS_KEY)) if scd_type != "full_refresh" else []
    job_settings = job.settings if job is not None else None
    values: dict[str, Any] = {
        "name_prefix": name,
        "source_asset": table,
        "target_asset": (configuration.get(TARGET_TABLE_KEY) or table.rsplit(".", 1)[-1]).lower(),
        "scd_type": scd_type,
        "serverless": bool(spec.serverless),
        "schedule": schedule,
        "ext_catalog_name": (spec.catalog or "").lower(),
        "ext_schema_name": (spec.schema or spec.target or "").lower(),
    }
    if keys:
        values["key_columns"] = keys
    if emails:
        values["notification"] = emails
    if spec.tags:
        values["tags"] = dict(sorted(spec.tags.items()))
    if job_settings is not None and job_settings.description:
        values["description"] = job_settings.description
    pipeline = Pipeline.model_validate(values)
    _check_pipeline(draft, settings, share, pipeline, detail, job)
    return pipeline


def _check_pipeline(
    draft: _Draft,
    settings: Settings,
    share: str,
    pipeline: Pipeline,
    detail: GetPipelineResponse,
    job: BaseJob | None,
) -> None:
    """Warn when adopting would change the pipeline or its job (docs/WORKFLOW.md §9.5): fields a pack sets otherwise."""
    holder = Share(
        name=share,
        delta_share=DeltaShare(
            ext_catalog_name=pipeline.ext_catalog_name or "",
            ext_schema_name=pipeline.ext_schema_name or "",
        ),
    )
    desired = desired_pipeline_spec(holder, pipeline, defaults=settings.databricks.pipelines)
    differences = pipeline_differences(desired, detail.spec) if detail.spec else {}
    if differences:
        draft.note(
            "export_pipeline_differs",
            ("pipeline", share, pipeline.name_prefix),
            f'pipeline "{pipeline.name_prefix}" differs from what a pack makes of it in '
            f"{', '.join(sorted(differences))}; uploading this pack updates those fields.",
        )
    if job is not None:
        schedules = settings.databricks.schedules
        wanted = desired_job_settings(
            holder, pipeline, detail.pipeline_id or "", defaults=schedules
        )
        change = job_change(wanted, job, schedules.task_key)
        if not change.empty:
            draft.note(
                "export_pipeline_differs",
                ("pipeline", share, pipeline.name_prefix),
                f'schedule job of pipeline "{pipeline.name_prefix}" differs from what a pack makes of it in '
                f"{', '.join(sorted(change.diff))}; uploading this pack updates those fields.",
            )


# ------------------------------------------------------------------------------------------ warnings


def _located(
    pack: SharePack, notes: Iterable[tuple[str, tuple[str, ...], str]]
) -> list[ExportWarning]:
    """Warnings with the path of their entry in the exported document (`share[1]`, `recipient[0]`, ...)."""
    share_index = {share.name: index for index, share in enumerate(pack.share)}
    recipient_index = {recipient.name: index for index, recipient in enumerate(pack.recipient)}
    pipeline_paths: dict[str, str] = {}
    for index, share in enumerate(pack.share):
        for p_index, pipeline in enumerate(share.pipelines or []):
            pipeline_paths[pipeline.name_prefix.lower()] = f"share[{index}].pipelines[{p_index}]"
    located = []
    for code, where, msg in notes:
        if where[0] == "share":
            loc = f"share[{share_index[where[1]]}]" if where[1] in share_index else ""
        elif where[0] == "recipient":
            loc = f"recipient[{recipient_index[where[1]]}]" if where[1] in recipient_index else ""
        elif where[0] == "pipeline":
            loc = pipeline_paths.get(where[2].lower(), "")
        else:
            loc = f"request.{where[1]}s"
        located.append(ExportWarning(code, loc, msg))
    return sorted(located, key=lambda w: (w.loc, w.code, w.msg))
