"""The pipeline kind in one room: a share's DLT pipeline copying a source table into the sharing schema
(docs/SHAREPACK.md §8; docs/WORKFLOW.md §9.3, §9.5, §9.8, §11). Its target schema (`resources.schema`) and its
schedule job (`resources.schedule`) are rooms of their own.

* its desired state from the canonical pack, in Databricks terms: the target (`pipeline_target`) and the managed
  spec (`desired_pipeline_spec`);
* its managed fields, normalised once (`managed_fields`): plan compares the desired spec with the live one
  (`pipeline_differences`), drift the recorded row (`recorded_fields`, `drift_differences`) and, for the fields the
  settings set, the spec the current settings give it (`recorded_pipeline_spec`);
* its actions in the graph (`plan`): `pipeline:<name>` (create / update of the managed spec) and
  `delete_pipeline:<name>` (a recorded pipeline the pack no longer wants, its schedule job and target table with it);
* its Databricks calls: the pipeline with the `jobs.pipelines` spec and edit arguments;
* its SCD2 row (`record_of`, written with `db.repositories.pipelines`; the schedule step adds the job to it);
* its pack fields read back from a live pipeline, for the export (`exported_pipeline_fields`, docs/WORKFLOW.md §15);
* its live checks before anything is planned (`check_pipeline`: source table, target catalog and schema, the
  immutable source and SCD type), run by `orchestrator.checks`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from databricks.sdk.service.pipelines import GetPipelineResponse, PipelineLibrary, PipelineSpec

from dbrx_api.errors import ConflictError
from dbrx_api.jobs.pipelines import (
    DELETE_EXPR_KEY,
    KEYS_KEY,
    SCD_TYPE_KEY,
    SEQUENCE_BY_KEY,
    SOURCE_TABLE_KEY,
    TARGET_TABLE_KEY,
    build_pipeline_spec,
    cdf_enabled,
    edit_arguments,
    library_for,
    sdk_create_pipeline,
    sdk_delete_pipeline,
    sdk_update_pipeline,
    split_keys,
)
from dbrx_api.jobs.schedules import sdk_delete_job
from dbrx_api.settings import PipelineDefaults
from dbrx_api.workflow.db.repositories import pipelines
from dbrx_api.workflow.db.repositories.pipelines import PipelineRecord
from dbrx_api.workflow.db.repositories.provisioning_steps import StepOutcome
from dbrx_api.workflow.db.repositories.records import RecordWrite
from dbrx_api.workflow.models.pack import SCD_TYPES, Pipeline, Share, SharePack
from dbrx_api.workflow.orchestrator.actions import (
    ORDER,
    Action,
    AnyAction,
    StepType,
    Verb,
    step_key,
)
from dbrx_api.workflow.orchestrator.live import LiveReader, job_pipeline_id
from dbrx_api.workflow.orchestrator.steps import (
    RunContext,
    StepFailure,
    StepResult,
    already_gone,
    record_reason,
)
from dbrx_api.workflow.resources import Warn, own_previous, set_difference
from dbrx_api.workflow.resources.share import TABLE_TYPES, table_type
from dbrx_api.workflow.validators.fields import is_email, split_tag

if TYPE_CHECKING:
    from uuid import UUID

    from databricks.sdk.service.catalog import TableInfo

    from dbrx_api.settings import Settings
    from dbrx_api.workflow.db.connection import DictConnection
    from dbrx_api.workflow.orchestrator.checks import LiveChecker
    from dbrx_api.workflow.orchestrator.diff import GraphBuilder
    from dbrx_api.workflow.validators.locator import PackLocator

RESOURCE_TYPE = StepType.PIPELINE
DELETE_STEP = StepType.DELETE_PIPELINE  # a pipeline deletion: `delete_pipeline:<name>`

# Pack pipelines alert on failures only (docs/WORKFLOW.md §9.5).
FAILURE_ALERTS = ("on-update-failure", "on-update-fatal-failure", "on-flow-failure")
# The configuration keys a pack manages; others (set by hand) are kept on update.
MANAGED_CONFIGURATION_KEYS = (
    SOURCE_TABLE_KEY,
    TARGET_TABLE_KEY,
    SCD_TYPE_KEY,
    KEYS_KEY,
    SEQUENCE_BY_KEY,
    DELETE_EXPR_KEY,
)


# ------------------------------------------------------------------------------------------ desired pipeline


@dataclass(frozen=True)
class PipelineTarget:
    """Where a pipeline writes."""

    catalog: str
    schema: str
    table: str

    @property
    def full_name(self) -> str:
        """`catalog.schema.table`."""
        return f"{self.catalog}.{self.schema}.{self.table}"

    @property
    def schema_full_name(self) -> str:
        """`catalog.schema`."""
        return f"{self.catalog}.{self.schema}"


def pipeline_target(share: Share, pipeline: Pipeline) -> PipelineTarget:
    """Target catalog/schema (pipeline override, else `delta_share`) and table (validated offline)."""
    delta = share.delta_share
    catalog = pipeline.ext_catalog_name or (delta.ext_catalog_name if delta else "")
    schema = pipeline.ext_schema_name or (delta.ext_schema_name if delta else "")
    return PipelineTarget(
        catalog=catalog.lower(), schema=schema.lower(), table=pipeline.target_asset.lower()
    )


def merged_tags(share: Share, pipeline: Pipeline) -> dict[str, str]:
    """`delta_share.tags` merged with the pipeline's tags (the pipeline wins); a bare key has an empty value."""
    tags: dict[str, str] = {}
    for item in (share.delta_share.tags if share.delta_share else None) or []:
        key, value = split_tag(item)
        tags[key.strip()] = (value or "").strip()
    tags.update(pipeline.tags or {})
    return tags


def notification_emails(pipeline: Pipeline) -> list[str]:
    """The e-mail entries of `notification` (groups are recorded but never sent)."""
    return [entry for entry in pipeline.notification or [] if is_email(entry)]


def key_columns_as_in_table(keys: Sequence[str], columns: Sequence[str]) -> list[str]:
    """Key columns spelled as the source table spells them (the live checks matched them case-insensitively)."""
    by_lower = {column.lower(): column for column in columns}
    return [by_lower.get(key.lower(), key) for key in keys]


def desired_pipeline_spec(
    share: Share,
    pipeline: Pipeline,
    *,
    defaults: PipelineDefaults,
    source_columns: Sequence[str] = (),
) -> PipelineSpec:
    """The managed specification of a pack pipeline (docs/WORKFLOW.md §9.5)."""
    target = pipeline_target(share, pipeline)
    keys = list(pipeline.key_columns or []) if pipeline.scd_type != "full_refresh" else []
    tags = merged_tags(share, pipeline)
    return build_pipeline_spec(
        name=pipeline.name_prefix,
        catalog=target.catalog,
        schema=target.schema,
        source_table=pipeline.source_asset,
        target_table=target.table,
        scd_type=pipeline.scd_type,
        key_columns=key_columns_as_in_table(keys, source_columns),
        continuous=pipeline.is_continuous,
        serverless=pipeline.serverless,
        notifications=notification_emails(pipeline),
        tags=tags or None,
        defaults=defaults,
        notification_alerts=FAILURE_ALERTS,
        cluster_tags=tags or None,
    )


def _libraries(libraries: Sequence[PipelineLibrary] | None) -> list[tuple[str, str]]:
    refs = []
    for library in libraries or []:
        if library.file is not None:
            refs.append(("file", library.file.path or ""))
        elif library.notebook is not None:
            refs.append(("notebook", library.notebook.path or ""))
        elif library.glob is not None:
            refs.append(("glob", library.glob.include or ""))
    return refs


def managed_fields(spec: PipelineSpec | None) -> dict[str, Any]:
    """The fields a pack manages on a pipeline, normalised (names and the SCD type lower-case, lists sorted, unset
    as empty).

    The one comparison of this kind: plan compares the desired spec with the live one, drift the recorded row
    (`recorded_fields`) with the live one (docs/WORKFLOW.md §9.5, §11). Unmanaged and server-filled fields never count.
    """
    spec = spec or PipelineSpec()
    configuration = spec.configuration or {}
    scd_type = configuration.get(SCD_TYPE_KEY)
    return {
        "catalog": (spec.catalog or "").lower(),
        "schema": (spec.schema or spec.target or "").lower(),
        "source_table": (configuration.get(SOURCE_TABLE_KEY) or "").lower(),
        "target_table": (configuration.get(TARGET_TABLE_KEY) or "").lower(),
        # Read ignoring case, as the live checks always have (`immutable_changes`).
        "scd_type": scd_type.lower() if scd_type is not None else None,
        "key_columns": split_keys(configuration.get(KEYS_KEY)),
        "configuration": {
            key: configuration[key]
            for key in (SEQUENCE_BY_KEY, DELETE_EXPR_KEY)
            if key in configuration
        },
        "libraries": _libraries(spec.libraries),
        "root_path": spec.root_path,
        "continuous": bool(spec.continuous),
        "serverless": bool(spec.serverless),
        "notifications": sorted(
            {e.lower() for block in spec.notifications or [] for e in block.email_recipients or []}
        ),
        "alerts": sorted({a for block in spec.notifications or [] for a in block.alerts or []}),
        "tags": dict(spec.tags or {}),
    }


def recorded_fields(row: PipelineRecord) -> dict[str, Any]:
    """The managed fields a pipeline's SCD2 row records, named and normalised as `managed_fields`."""
    # The library is the code writing the shared table; the row records the path it was set to (none: unknown).
    library = {"libraries": _libraries([library_for(row.library_path)])} if row.library_path else {}
    return {
        **library,
        "catalog": row.target_catalog,
        "schema": row.target_schema,
        "source_table": row.source_table,
        "target_table": row.target_table,
        "scd_type": row.scd_type,
        "key_columns": list(row.key_columns or []),
        "continuous": row.continuous,
        "serverless": row.serverless,
        "notifications": sorted(e.lower() for e in row.notifications or []),
        "tags": dict(row.tags or {}),
    }


def immutable_changes(pipeline: Pipeline, spec: PipelineSpec | None) -> list[tuple[str, str, str]]:
    """`(pack field, code, message)` for each immutable field (`source_asset`, `scd_type`, docs/SHAREPACK.md §8.1)
    that an existing pipeline sets to another value than `pipeline`, compared as `managed_fields` reads them; one it
    leaves unset or empty is set by the update like any managed field, not changed. The live checks report them,
    and the run refuses a pipeline made between the checks and its create for them."""
    fields = managed_fields(spec)
    configuration = (spec.configuration if spec else None) or {}
    name = pipeline.name_prefix
    found: list[tuple[str, str, str]] = []
    if fields["source_table"] and fields["source_table"] != pipeline.source_asset:
        source = configuration.get(SOURCE_TABLE_KEY)
        message = f'pipeline "{name}" already reads "{source}"; the source cannot change.'
        found.append(("source_asset", "pipeline_source_immutable", message))
    if fields["scd_type"] and fields["scd_type"] != pipeline.scd_type:
        message = (
            f'pipeline "{name}" is SCD {configuration.get(SCD_TYPE_KEY)}; the type cannot change.'
        )
        found.append(("scd_type", "pipeline_scd_type_immutable", message))
    return found


def pipeline_differences(desired: PipelineSpec, live: PipelineSpec) -> dict[str, dict[str, Any]]:
    """Managed fields whose live value differs: `{field: {from, to}}` (docs/WORKFLOW.md §9.3)."""
    wanted, current = managed_fields(desired), managed_fields(live)
    return {
        name: {"from": current[name], "to": value}
        for name, value in wanted.items()
        if current[name] != value
    }


def pipeline_update_arguments(
    desired: PipelineSpec, edit_arguments: Mapping[str, Any]
) -> dict[str, Any]:
    """The full edit request: the live specification with every managed field replaced (docs/WORKFLOW.md §9.5).

    Edits replace the whole specification, so unmanaged fields (clusters, photon, channel, other configuration
    keys, …) are re-sent as they are; managed fields the desired state leaves unset are removed.
    """
    arguments = dict(edit_arguments)
    arguments.pop("target", None)
    configuration = {
        key: value
        for key, value in (arguments.get("configuration") or {}).items()
        if key not in MANAGED_CONFIGURATION_KEYS
    }
    configuration.update(desired.configuration or {})
    replaced: dict[str, Any] = {
        "name": desired.name,
        "catalog": desired.catalog,
        "schema": desired.schema,
        "libraries": desired.libraries,
        "root_path": desired.root_path,
        "configuration": configuration,
        "continuous": desired.continuous,
        "serverless": desired.serverless,
        "notifications": desired.notifications,
        "tags": desired.tags,
    }
    for key, value in replaced.items():
        if value is None:
            arguments.pop(key, None)
        else:
            arguments[key] = value
    if not desired.serverless and not arguments.get("clusters") and desired.clusters:
        arguments["clusters"] = desired.clusters
    return arguments


def exported_pipeline_fields(
    detail: GetPipelineResponse, table: str, warn: Warn
) -> dict[str, Any] | None:
    """The pack fields of a live pipeline reading `table` (docs/WORKFLOW.md §15), as `managed_fields` reads them.

    `schedule` is set only for a continuous pipeline: a triggered one's schedule and description are its job's
    (`schedule.exported_pipeline`). None when a pack cannot describe the pipeline: without a spec or a name, or (with
    a warning) with an SCD type a pack does not know.
    """
    spec = detail.spec
    name = detail.name or (spec.name if spec else None) or ""
    if spec is None or not name:
        return None
    fields = managed_fields(spec)
    scd_type = fields["scd_type"] or ""
    if scd_type not in SCD_TYPES:
        warn(
            "export_unrepresentable",
            f'pipeline "{name}" has pipelines.scd_type "{scd_type}"; a pack knows {", ".join(SCD_TYPES)}.',
        )
        return None
    values: dict[str, Any] = {
        "name_prefix": name,
        "source_asset": table,
        "target_asset": fields["target_table"] or table.rsplit(".", 1)[-1].lower(),
        "scd_type": scd_type,
        "serverless": fields["serverless"],
        "ext_catalog_name": fields["catalog"],
        "ext_schema_name": fields["schema"],
    }
    if fields["continuous"]:
        values["schedule"] = "continuous"
    if scd_type != "full_refresh" and fields["key_columns"]:
        values["key_columns"] = fields["key_columns"]
    # The addresses as the pipeline spells them (`managed_fields` compares them lower-case).
    emails = sorted({e for block in spec.notifications or [] for e in block.email_recipients or []})
    if emails:
        values["notification"] = emails
    if spec.tags:
        values["tags"] = dict(sorted(spec.tags.items()))
    return values


# ------------------------------------------------------------------------------------------ live checks


def check_pipeline(
    checker: LiveChecker, share: Share, pipeline: Pipeline, live_types: Mapping[str, str]
) -> list[GetPipelineResponse]:
    """Stage-5 checks of a share's pipeline (docs/SHAREPACK.md §8, §13.4): its source table, its target catalog and
    schema, and the immutable source and SCD type of the pipeline it already is.

    `live_types` are the share's live objects (`share.check_share`). Returns the live pipelines the entry may be:
    the recorded one, else those of its name (more than one: reported as ambiguous); its schedule job is checked
    against them (`schedule.check_schedule_job`).
    """
    path = checker.locator.pipeline(pipeline.name_prefix)
    source_path = f"{path}.source_asset"
    table = checker.table(pipeline.source_asset, source_path)
    if table is None:
        checker.missing("table", pipeline.source_asset, source_path, "table")
    else:
        _check_source(checker, pipeline, table, path)
    if share.share_assets is None:
        added = {asset.name for asset in share.share_assets_to_add or []}
        if pipeline.source_asset not in added and pipeline.source_asset not in live_types:
            checker.add(
                "warning",
                "pipeline_source_not_shared",
                source_path,
                f'"{pipeline.source_asset}" is not in share "{share.name}" and is not added by this pack.',
            )
    _check_target(checker, share, pipeline, path)
    existing = _existing_pipelines(checker, pipeline, path)
    if len(existing) == 1:
        _check_immutable(checker, pipeline, existing[0], path)
    return existing


def _check_source(checker: LiveChecker, pipeline: Pipeline, table: TableInfo, path: str) -> None:
    source_path = f"{path}.source_asset"
    kind = table_type(table)
    resolved = TABLE_TYPES.get(kind)
    if pipeline.scd_type in {"1", "2"} and resolved != "TABLE":
        checker.add(
            "error",
            "source_type_unsupported",
            source_path,
            f'"{pipeline.source_asset}" is a {resolved or kind}; SCD pipelines read tables.',
        )
        return
    if resolved is None:
        checker.add(
            "error",
            "source_type_unsupported",
            source_path,
            f'"{pipeline.source_asset}" is a {kind}, which a pipeline cannot read.',
        )
        return
    if pipeline.scd_type in {"1", "2"} and not cdf_enabled(table):
        checker.add(
            "error",
            "source_cdf_disabled",
            source_path,
            f'Change Data Feed is off on "{pipeline.source_asset}"; its owner must run ALTER TABLE ... SET '
            "TBLPROPERTIES (delta.enableChangeDataFeed = true).",
        )
    columns = [column.name for column in table.columns or [] if column.name]
    if columns:
        keys = pipeline.key_columns or []
        # Matched as the spec spells them (`key_columns_as_in_table`): a key no column matches stays as written.
        spelled = key_columns_as_in_table(keys, columns)
        for index, (column, as_in_table) in enumerate(zip(keys, spelled, strict=True)):
            if as_in_table not in columns:
                checker.add(
                    "error",
                    "key_column_not_found",
                    f"{path}.key_columns[{index}]",
                    f'"{column}" is not a column of "{pipeline.source_asset}".',
                    input_value=column,
                )


def _check_target(checker: LiveChecker, share: Share, pipeline: Pipeline, path: str) -> None:
    """The target catalog exists, and the schema too unless the pack creates it (`resources.schema`)."""
    # The pack's names are lower-case already (validation), so these are the names the pack writes to.
    target = pipeline_target(share, pipeline)
    if not target.catalog or not target.schema:
        return
    # A name the pipeline overrides is reported there, else at the share's `delta_share`.
    delta_path = f"{checker.locator.share(share.name)}.delta_share"
    catalog_path = f"{path if pipeline.ext_catalog_name else delta_path}.ext_catalog_name"
    schema_path = f"{path if pipeline.ext_schema_name else delta_path}.ext_schema_name"
    catalog, full = target.catalog, target.schema_full_name
    lookup = checker.lookup
    if not checker.call("catalog", catalog, catalog_path, lambda: lookup.catalog_exists(catalog)):
        if checker.absent("catalog", catalog):
            checker.add(
                "error",
                "catalog_not_found",
                catalog_path,
                f'catalog "{catalog}" does not exist; create it first (POST /catalogs/{{name}}).',
                input_value=catalog,
            )
        return
    exists = checker.call("schema", full, schema_path, lambda: lookup.schema_exists(full))
    if exists is False and not (share.delta_share and share.delta_share.create_schema_if_missing):
        checker.add(
            "error",
            "schema_not_found",
            schema_path,
            f'schema "{full}" does not exist; set create_schema_if_missing: true or create it.',
            input_value=full,
        )


def _existing_pipelines(
    checker: LiveChecker, pipeline: Pipeline, path: str
) -> list[GetPipelineResponse]:
    """The pipeline this pack recorded, read by id, else the pipelines of its name (several: an error)."""
    name = pipeline.name_prefix
    lookup = checker.lookup
    recorded_id = checker.recorded.pipeline_ids.get(name.lower())
    if recorded_id is not None:
        recorded = checker.call("pipeline", recorded_id, path, lambda: lookup.pipeline(recorded_id))
        if recorded is not None:
            return [recorded]
    matches = (
        checker.call("pipelines_named", name, path, lambda: lookup.pipelines_named(name)) or []
    )
    if len(matches) > 1:
        checker.add(
            "error",
            "pipeline_name_ambiguous",
            f"{path}.name_prefix",
            f'{len(matches)} pipelines are named "{name}"; rename or remove one.',
            input_value=name,
        )
    return matches


def _check_immutable(
    checker: LiveChecker, pipeline: Pipeline, existing: GetPipelineResponse, path: str
) -> None:
    """A pipeline's source and SCD type cannot change (docs/SHAREPACK.md §8): `immutable_changes`."""
    for field, code, message in immutable_changes(pipeline, existing.spec):
        checker.add("error", code, f"{path}.{field}", message)


# ------------------------------------------------------------------------------------------ executor data


@dataclass
class PipelineWork:
    """Executor data of a pipeline action (its schedule action's `ScheduleWork` refers to it)."""

    share: Share
    pipeline: Pipeline
    target: PipelineTarget
    desired: PipelineSpec
    live: GetPipelineResponse | None
    created_by_pack: bool
    previous: PipelineRecord | None
    pipeline_id: str | None = None


@dataclass
class DeleteWork:
    """Executor data of a pipeline deletion (its schedule job first)."""

    row: PipelineRecord
    reason: str


def deletion(
    row: PipelineRecord, reason: str, *, job_calls: int, deps: set[str] | None = None
) -> AnyAction:
    """The `delete_pipeline:<name>` action of a recorded pipeline: the job calls, the pipeline, its target table."""
    target = f"{row.target_catalog}.{row.target_schema}.{row.target_table}"
    return Action(
        RESOURCE_TYPE,
        row.pipeline_name,
        Verb.DELETE,
        DeleteWork(row, reason),
        order=ORDER["delete"],
        deps=deps or set(),
        calls=job_calls + 1,
        reason=reason,
        drops_tables=[target],
        step_prefix=DELETE_STEP,
    )


# ------------------------------------------------------------------------------------------ plan


def _plan_pipeline(graph: GraphBuilder, share: Share, pipeline: Pipeline) -> None:
    name = pipeline.name_prefix
    path = graph.i.locator.pipeline(name)
    row = graph.recorded.pipelines.get(name.lower())
    graph.other_pack(row, RESOURCE_TYPE, name, path)
    recorded_id = (
        str(row.databricks_pipeline_id)
        if graph.recorded.owned(row) and row and row.databricks_pipeline_id
        else None
    )
    live = graph.reader.pipeline(recorded_id) if recorded_id else None
    if live is None:
        matches = graph.reader.pipelines_named(name)
        live = matches[0] if len(matches) == 1 else None
    table = graph.reader.table(pipeline.source_asset)
    columns = [c.name for c in (table.columns if table else None) or [] if c.name]
    target = pipeline_target(share, pipeline)
    desired = desired_pipeline_spec(
        share, pipeline, defaults=graph.i.databricks.pipelines, source_columns=columns
    )
    deps = {step_key(StepType.SCHEMA, target.schema_full_name)}
    graph.presence_warning(RESOURCE_TYPE, name, path, exists=live is not None)
    if live is None:
        work = PipelineWork(share, pipeline, target, desired, None, True, row)
        after = {
            "catalog": target.catalog,
            "schema": target.schema,
            "target_table": target.full_name,
            "source_table": pipeline.source_asset,
            "scd_type": pipeline.scd_type,
            "continuous": pipeline.is_continuous,
        }
        action = Action(
            RESOURCE_TYPE,
            name,
            Verb.CREATE,
            work,
            deps=deps,
            calls=1,
            after=after,
        )
    else:
        if (
            recorded_id is not None
            and recorded_id == live.pipeline_id
            and graph.recorded.created(row)
        ):
            owned = True
        else:
            owned = graph.i.adoption(RESOURCE_TYPE, name, live.creator_user_name).created_by_pack
        work = PipelineWork(
            share, pipeline, target, desired, live, owned, row, pipeline_id=live.pipeline_id
        )
        differences = pipeline_differences(desired, live.spec or PipelineSpec())
        action = Action(
            RESOURCE_TYPE,
            name,
            Verb.UPDATE if differences else Verb.NOOP,
            work,
            deps=deps,
            calls=1 if differences else 0,
            diff=differences or None,
        )
        graph.adopting(action, row, owned)
    graph.add(action)


def _plan_deletions(graph: GraphBuilder) -> None:
    """Recorded pipelines of this pack that a share no longer wants (docs/SHAREPACK.md §9.3)."""
    recorded = graph.recorded
    listed = {
        pipeline.name_prefix.lower()
        for share in graph.i.pack.share
        for pipeline in share.pipelines or []
    }
    writers = {
        action.work.target.full_name: action
        for action in graph.actions
        if action.resource_type == RESOURCE_TYPE and isinstance(action.work, PipelineWork)
    }
    for share in graph.i.pack.share:
        if share.share_assets is None and share.share_assets_to_remove is None:
            continue
        removed = {asset.name.lower() for asset in share.share_assets_to_remove or []}
        for key, row in sorted(recorded.pipelines.items()):
            if key in listed or not recorded.created(row) or row.share_name != share.name:
                continue
            source = row.source_table.lower()
            if share.share_assets is None and source not in removed:
                continue
            reason = (
                f"source asset {source} removed from {share.name}"
                if source in removed
                else f"pipeline no longer listed in {share.name}"
            )
            action = graph.add(
                deletion(
                    row,
                    reason,
                    job_calls=1 if row.schedule_job_id is not None else 0,
                    deps={step_key("share_objects", share.name)},
                )
            )
            writer = writers.get((action.drops_tables or [""])[0])
            if writer is not None:  # the pipeline writing the same table waits for the drop
                writer.deps.add(action.key)


# ------------------------------------------------------------------------------------------ record


def record_of(ctx: RunContext, work: PipelineWork) -> PipelineRecord:
    """The SCD2 row of a provisioned pipeline; the schedule fields carried from this pack's previous row."""
    pipeline = work.pipeline
    previous = own_previous(work.previous, ctx.share_pack_id)
    keys = split_keys((work.desired.configuration or {}).get(KEYS_KEY))
    schedule = pipeline.schedule
    carried: dict[str, Any] = {}
    if previous is not None:
        carried = {
            "schedule_job_id": previous.schedule_job_id,
            "schedule_job_created_by_pack": previous.schedule_job_created_by_pack,
            "cron": previous.cron,
            "timezone": previous.timezone,
        }
    if isinstance(schedule, str):
        carried.update(cron=None, timezone=None)
    return PipelineRecord(
        workspace_url=ctx.workspace_url,
        pipeline_name=pipeline.name_prefix,
        share_name=work.share.name,
        created_by_pack=work.created_by_pack,
        source_table=pipeline.source_asset,
        target_catalog=work.target.catalog,
        target_schema=work.target.schema,
        target_table=work.target.table,
        scd_type=pipeline.scd_type,
        serverless=bool(work.desired.serverless),
        continuous=pipeline.is_continuous,
        library_path=ctx.databricks.pipelines.library_path or "",
        share_pack_id=ctx.share_pack_id,
        databricks_pipeline_id=work.pipeline_id,
        key_columns=tuple(keys),
        notifications=tuple(notification_emails(pipeline)),
        tags=dict(work.desired.tags or {}),
        **carried,
    )


def write_record(ctx: RunContext, record: PipelineRecord, reason: str) -> RecordWrite:
    """The write of a pipeline's SCD2 row (its schedule fields included), done with the step's bookkeeping."""
    return pipelines.write_of(record, changed_by=ctx.actor, reason=reason, **ctx.bookkeeping())


# ------------------------------------------------------------------------------------------ executors


def run_pipeline(ctx: RunContext, action: AnyAction) -> StepResult:
    """Create (no duplicate names) or update (full edit with the managed fields replaced) a pipeline."""
    work: PipelineWork = action.work
    name = work.pipeline.name_prefix
    ws = ctx.workspace.client
    calls = 0
    detail: dict[str, Any] = {}
    if action.kind == Verb.CREATE:
        try:
            work.pipeline_id = sdk_create_pipeline(ws, name, work.desired)
            calls += 1
        except ConflictError as exc:
            if exc.code != "pipeline_already_exists":
                raise
            calls += 1
            matches = ctx.reader.pipelines_named(name, fresh=True)
            if len(matches) != 1:
                raise StepFailure(
                    "pipeline_name_ambiguous", f'{len(matches)} pipelines are named "{name}".'
                ) from exc
            live = matches[0]
            # Made between the checks and this call: the checks' immutability rule, else it would be rewritten.
            refused = immutable_changes(work.pipeline, live.spec)
            if refused:
                _field, code, message = refused[0]
                raise StepFailure(code, message) from exc
            work.live, work.pipeline_id = live, live.pipeline_id
            work.created_by_pack = (live.creator_user_name or "") == ctx.reader.identity()
            detail["adopted_after_conflict"] = True
            if pipeline_differences(work.desired, live.spec or type(work.desired)()):
                _update_pipeline(ctx, work)
                calls += 1
    elif action.kind == Verb.UPDATE:
        _update_pipeline(ctx, work)
        calls += 1
        detail["fields"] = sorted(action.diff or {})
    record = record_of(ctx, work)
    ctx.remember(RESOURCE_TYPE, name, record)
    return StepResult.after(
        calls,
        ids={"pipeline_id": work.pipeline_id} if work.pipeline_id else None,
        detail=detail,
        writes=[
            write_record(
                ctx, record, record_reason(work.created_by_pack, work.previous, ctx.share_pack_id)
            )
        ],
        audit_action=f"pipeline.{action.kind}",
    )


def _update_pipeline(ctx: RunContext, work: PipelineWork) -> None:
    live = work.live
    if live is None or work.pipeline_id is None:
        raise StepFailure("internal_error", "pipeline update without a live pipeline")
    arguments = pipeline_update_arguments(work.desired, edit_arguments(live))
    sdk_update_pipeline(
        ctx.workspace.client,
        work.pipeline.name_prefix,
        work.pipeline_id,
        expected_last_modified=live.last_modified,
        arguments=arguments,
    )


def delete_job(ctx: RunContext, job_id: int) -> None:
    """`jobs.delete`; a job that no longer exists counts as deleted."""
    sdk_delete_job(ctx.workspace.client, job_id, missing_ok=True)


def delete_recorded_job(ctx: RunContext, row: PipelineRecord, pipeline_id: str) -> int:
    """Delete the schedule job recorded on a pipeline's row before the pipeline goes; the calls made (0 or 1).

    One rule for a DELETE pack and for a pipeline a version no longer lists (docs/WORKFLOW.md §9.8 step 2): the job
    goes while it still runs this pipeline, when this pack created it or, adopted, when every task of it runs this
    pipeline (left behind, it would only run a pipeline that no longer exists); an adopted job that also runs other
    tasks is kept with warning `delete_job_kept`. A job pointed at another pipeline since is not this pipeline's.
    """
    job_id = row.schedule_job_id
    if job_id is None:
        return 0
    job = ctx.reader.job(int(job_id))
    if job is None or job_pipeline_id(job) != pipeline_id:
        return 0
    if not (row.schedule_job_created_by_pack or _runs_only(job, pipeline_id)):
        name = row.pipeline_name
        ctx.warn(
            "delete_job_kept",
            f"pipeline[{name}]",
            f'schedule job {job_id} of pipeline "{name}" was adopted and also runs other tasks; it is kept.',
        )
        return 0
    delete_job(ctx, int(job_id))
    return 1


def run_dropped(ctx: RunContext, action: AnyAction) -> StepResult:
    """A pipeline the pack no longer wants: its schedule job first (`delete_recorded_job`), then the pipeline;
    gone objects count as deleted."""
    work: DeleteWork = action.work
    row = work.row
    job_id = row.schedule_job_id
    pipeline_id = row.databricks_pipeline_id
    calls = delete_recorded_job(ctx, row, str(pipeline_id or ""))
    if pipeline_id:
        sdk_delete_pipeline(
            ctx.workspace.client, row.pipeline_name, str(pipeline_id), missing_ok=True
        )
        calls += 1
    write = ctx.deletion_write(pipelines.soft_delete, row.pipeline_name)
    return StepResult(
        StepOutcome.SUCCEEDED,
        calls=calls,
        ids={"pipeline_id": pipeline_id, "job_id": job_id},
        detail={"reason": work.reason, "dropped_tables": action.drops_tables or []},
        writes=[write],
        audit_action="pipeline.delete",
    )


def _runs_only(job: Any, pipeline_id: str) -> bool:
    """Every task of the job runs this pipeline (an adopted job is deleted only then)."""
    tasks = (job.settings.tasks if job.settings else None) or []
    return bool(tasks) and all(
        task.pipeline_task is not None and task.pipeline_task.pipeline_id == pipeline_id
        for task in tasks
    )


# ------------------------------------------------------------------------------------------ drift


# The managed fields a plan takes from the settings (`PipelineDefaults`), not from the pack; the row does not
# record them, so drift compares them with what the current settings would set (docs/WORKFLOW.md §11).
SETTINGS_FIELDS = ("root_path", "configuration", "alerts")


def recorded_pipeline_spec(row: PipelineRecord, defaults: PipelineDefaults) -> PipelineSpec:
    """The spec a plan would set for a recorded pipeline under the current settings, built as
    `desired_pipeline_spec` builds it, from the row's values instead of the pack's.

    The row records the library it was set to; it stands in for the configured one (drift compares the library with
    the row, docs/WORKFLOW.md §11).
    """
    library_path = row.library_path or defaults.library_path
    tags = dict(row.tags or {}) or None
    return build_pipeline_spec(
        name=row.pipeline_name,
        catalog=row.target_catalog,
        schema=row.target_schema,
        source_table=row.source_table,
        target_table=row.target_table,
        scd_type=row.scd_type,
        key_columns=list(row.key_columns or []),
        continuous=row.continuous,
        serverless=row.serverless,
        notifications=list(row.notifications or []),
        tags=tags,
        defaults=defaults.model_copy(update={"library_path": library_path}),
        notification_alerts=FAILURE_ALERTS,
        cluster_tags=tags,
    )


def drift_differences(
    row: PipelineRecord, live: GetPipelineResponse, defaults: PipelineDefaults
) -> list[dict[str, Any]]:
    """Recorded vs live pipeline (docs/WORKFLOW.md §11): the recorded managed fields compared as plan compares them,
    and the fields the settings set (`SETTINGS_FIELDS`) compared with what the current settings would set."""
    current = managed_fields(live.spec)
    wanted = managed_fields(recorded_pipeline_spec(row, defaults))
    expected = {
        **recorded_fields(row),
        **{name: wanted[name] for name in SETTINGS_FIELDS},
    }
    found: list[dict[str, Any]] = []
    for name, recorded in expected.items():
        if name == "notifications":
            difference = set_difference(name, recorded, current[name])
            if difference:
                found.append(difference)
        elif recorded != current[name]:
            found.append({"field": name, "recorded": recorded, "live": current[name]})
    return found


# ------------------------------------------------------------------------------------------ the kind


class PipelineKind:
    """The pipeline as a `ResourceKind`: its actions are `pipeline:<name>` and `delete_pipeline:<name>`."""

    resource_type = RESOURCE_TYPE
    action_types = frozenset({RESOURCE_TYPE, DELETE_STEP})

    def plan(self, graph: GraphBuilder) -> None:
        """Every declared pipeline, then the pipelines no longer wanted."""
        for share in graph.i.pack.share:
            for pipeline in share.pipelines or []:
                _plan_pipeline(graph, share, pipeline)
        _plan_deletions(graph)

    def leftovers(self, graph: GraphBuilder) -> None:
        """Nothing: a pipeline the pack no longer lists is deleted (`delete_pipeline:`), not left in place."""

    def execute(self, ctx: RunContext, action: AnyAction) -> StepResult:
        """Run a NEW/UPDATE action of this kind."""
        if action.step_type == DELETE_STEP:
            return run_dropped(ctx, action)
        return run_pipeline(ctx, action)

    def delete(self, ctx: RunContext, action: AnyAction) -> StepResult:
        """DELETE pack: `pipelines.get(id)`, the recorded schedule job (`delete_recorded_job`), then
        `pipelines.delete(id)`."""
        work: DeleteWork = action.work
        row = work.row
        name = row.pipeline_name
        ws = ctx.workspace.client
        pipeline_id = str(row.databricks_pipeline_id or "")

        soft_delete = ctx.deletion_write(pipelines.soft_delete, name)

        live = ctx.reader.pipeline(pipeline_id) if pipeline_id else None
        if live is None:
            return already_gone({RESOURCE_TYPE: name}, soft_delete)
        job_id = row.schedule_job_id
        calls = delete_recorded_job(ctx, row, pipeline_id)
        sdk_delete_pipeline(ws, name, pipeline_id, missing_ok=True)
        calls += 1
        return StepResult(
            StepOutcome.SUCCEEDED,
            calls=calls,
            ids={"pipeline_id": pipeline_id, "job_id": job_id},
            detail={"dropped_tables": action.drops_tables or []},
            writes=[soft_delete],
            audit_action="pipeline.delete",
        )

    def locate(self, action: AnyAction, locator: PackLocator) -> str:
        """A pipeline's entry; "" for a dropped pipeline (the pack no longer lists it)."""
        if isinstance(action.work, PipelineWork):
            return locator.pipeline(action.work.pipeline.name_prefix)
        return ""

    def read(self, reader: LiveReader, name: str) -> GetPipelineResponse | None:
        """The live pipeline by its recorded id (`name` is the `databricks_pipeline_id`), None when absent."""
        return reader.pipeline(name) if name else None

    def drift(
        self,
        row: PipelineRecord,
        pack: SharePack | None,
        live: GetPipelineResponse,
        settings: Settings,
    ) -> list[dict[str, Any]]:
        """Recorded vs live differences of the pipeline (its schedule job: `schedule_differences`); the row records
        every field the pack sets and the settings give the others, so the recording pack version is not needed."""
        del pack
        return drift_differences(row, live, settings.databricks.pipelines)

    def recorded(
        self, conn: DictConnection, workspace_url: str, share_pack_id: UUID | None
    ) -> list[PipelineRecord]:
        """Current recorded pipelines."""
        return pipelines.list_current(
            conn, workspace_url=workspace_url, share_pack_id=share_pack_id
        )

    def drift_target(self, row: PipelineRecord, settings: Settings) -> tuple[str, str] | None:
        """A pipeline is read by its recorded id (an empty id reads as missing)."""
        del settings
        return row.pipeline_name, str(row.databricks_pipeline_id or "")


PIPELINE = PipelineKind()
