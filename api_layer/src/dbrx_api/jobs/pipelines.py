"""Sharing pipelines: list, read, create, edit, full refresh and delete (docs/API.md §7, §11.4-11.7).

Every function takes the workspace's `WorkspaceClient` first and makes the minimal upstream calls the spec lists.
Pipeline edits are a full replacement upstream (PUT): `_edit` re-sends every field of the current spec with only the
intended change, guarded by `expected_last_modified` so a concurrent edit becomes 409 `conflict`.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Mapping, Sequence
from typing import Any

from databricks.sdk import WorkspaceClient
from databricks.sdk.service.catalog import TableInfo
from databricks.sdk.service.pipelines import (
    FileLibrary,
    GetPipelineResponse,
    NotebookLibrary,
    Notifications,
    PipelineCluster,
    PipelineClusterAutoscale,
    PipelineLibrary,
    PipelinesAPI,
    PipelineSpec,
    PipelineState,
    PipelineStateInfo,
    PipelineStateInfoHealth,
    StartUpdateCause,
    UpdateStateInfo,
    UpdateStateInfoState,
)
from databricks.sdk.service.workspace import ObjectType

from dbrx_api.errors import (
    INTERNAL_ERROR_DETAIL,
    AppError,
    ConflictError,
    InvalidRequest,
    NotFoundError,
    upstream,
)
from dbrx_api.jobs import schedules as schedule_service
from dbrx_api.jobs.deferred import DeferredStarter, active_update
from dbrx_api.jobs.resolution import (
    PIPELINES_PAGE,
    PIPELINES_PATH,
    PipelineRef,
    find_pipelines_by_name,
    resolve_pipeline,
)
from dbrx_api.passthrough import Item, enum_values, known_enum, list_all
from dbrx_api.schemas.common import (
    ListQuery,
    enum_text,
    from_epoch_ms,
    from_rfc3339,
    list_body,
    rfc3339_text,
)
from dbrx_api.schemas.paths import path_segment
from dbrx_api.schemas.pipelines import (
    AutoscaleInfo,
    ClusterInfo,
    ConfigurationResult,
    ConfigurationUpdate,
    ContinuousResult,
    FullRefreshResult,
    JobRef,
    KeptJob,
    LibrariesResult,
    LibrariesUpdate,
    LibraryRef,
    NotificationsAdded,
    NotificationSettings,
    NotificationsRemoved,
    PipelineCreate,
    PipelineDeleted,
    PipelineDetail,
    UpdateRef,
)
from dbrx_api.settings import PipelineDefaults

logger = logging.getLogger(__name__)

SOURCE_TABLE_KEY = "pipelines.source_table"
TARGET_TABLE_KEY = "pipelines.target_table"
KEYS_KEY = "pipelines.keys"
SCD_TYPE_KEY = "pipelines.scd_type"
SEQUENCE_BY_KEY = "pipelines.sequence_by"
DELETE_EXPR_KEY = "pipelines.delete_expr"
CDF_PROPERTY = "delta.enableChangeDataFeed"
NO_ALERTS_WARNING = "the pipeline has no notification recipients left: nobody is alerted"

# Every settable field of a pipeline edit, read from the SDK so a new field is never dropped on re-send.
_EDIT_FIELDS = tuple(
    name
    for name in inspect.signature(PipelinesAPI.update).parameters
    if name not in {"self", "pipeline_id", "expected_last_modified", "allow_duplicate_names"}
)
# Fields of the edit that live on the `get` response rather than inside `spec`.
_TOP_LEVEL_FIELDS = ("run_as", "parameters")


# ------------------------------------------------------------------------------------------ conversions


def update_ref(info: UpdateStateInfo) -> UpdateRef:
    """The API's short view of an update (`creation_time` is an RFC 3339 string here)."""
    return UpdateRef(
        update_id=info.update_id,
        state=enum_text(info.state),
        creation_time=from_rfc3339(info.creation_time),
    )


def _summary_fields(
    source: PipelineStateInfo | GetPipelineResponse,
) -> dict[str, Any]:
    latest = [update_ref(u) for u in source.latest_updates or []]
    return {
        "pipeline_id": source.pipeline_id or "",
        "name": source.name or "",
        "state": enum_text(source.state),
        "health": enum_text(source.health),
        "creator_user_name": source.creator_user_name,
        "run_as_user_name": source.run_as_user_name,
        "latest_update": latest[0] if latest else None,
    }


def _library_ref(library: PipelineLibrary) -> LibraryRef | None:
    if library.file is not None and library.file.path:
        return LibraryRef(kind="file", path=library.file.path)
    if library.notebook is not None and library.notebook.path:
        return LibraryRef(kind="notebook", path=library.notebook.path)
    if library.glob is not None and library.glob.include:
        return LibraryRef(kind="glob", path=library.glob.include)
    return None  # jar/whl/maven libraries are not part of this API's model


def _libraries(spec: PipelineSpec) -> list[LibraryRef]:
    refs = (_library_ref(library) for library in spec.libraries or [])
    return [ref for ref in refs if ref is not None]


def notification_recipients(spec: PipelineSpec) -> list[str]:
    """E-mail recipients over every notification block, first occurrence order."""
    recipients: list[str] = []
    for block in spec.notifications or []:
        for recipient in block.email_recipients or []:
            if recipient.lower() not in {r.lower() for r in recipients}:
                recipients.append(recipient)
    return recipients


def _notification_settings(spec: PipelineSpec) -> NotificationSettings:
    alerts: list[str] = []
    for block in spec.notifications or []:
        alerts.extend(a for a in block.alerts or [] if a not in alerts)
    return NotificationSettings(recipients=notification_recipients(spec), alerts=alerts)


def _cluster(spec: PipelineSpec) -> ClusterInfo | None:
    if spec.serverless or not spec.clusters:
        return None
    cluster = next((c for c in spec.clusters if c.label == "default"), spec.clusters[0])
    autoscale = None
    if cluster.autoscale is not None:
        autoscale = AutoscaleInfo(
            min_workers=cluster.autoscale.min_workers, max_workers=cluster.autoscale.max_workers
        )
    return ClusterInfo(
        node_type_id=cluster.node_type_id, num_workers=cluster.num_workers, autoscale=autoscale
    )


def split_keys(value: str | None) -> list[str]:
    """`pipelines.keys` as a list (comma-separated, trimmed)."""
    return [part.strip() for part in (value or "").split(",") if part.strip()]


def _spec_fields(spec: PipelineSpec) -> dict[str, Any]:
    configuration = dict(spec.configuration or {})
    return {
        "catalog": spec.catalog,
        "schema": spec.schema or spec.target,
        "continuous": bool(spec.continuous),
        "serverless": bool(spec.serverless),
        "development": bool(spec.development),
        "photon": bool(spec.photon),
        "channel": spec.channel,
        "edition": spec.edition,
        "libraries": _libraries(spec),
        "root_path": spec.root_path,
        "configuration": configuration,
        "source_table": configuration.get(SOURCE_TABLE_KEY),
        "target_table": configuration.get(TARGET_TABLE_KEY),
        "scd_type": configuration.get(SCD_TYPE_KEY),
        "key_columns": split_keys(configuration.get(KEYS_KEY)),
        "notifications": _notification_settings(spec),
        "tags": dict(spec.tags or {}),
        "cluster": _cluster(spec),
    }


def pipeline_detail(response: GetPipelineResponse) -> PipelineDetail:
    """The API's full view of a pipeline from its `get` response."""
    return PipelineDetail.model_validate(
        {
            **_summary_fields(response),
            **_spec_fields(response.spec or PipelineSpec()),
            "last_modified": from_epoch_ms(response.last_modified),
            "latest_updates": [update_ref(u) for u in response.latest_updates or []],
        }
    )


# ------------------------------------------------------------------------------------------ reads


_PIPELINE_STATES = enum_values(PipelineState)
_PIPELINE_HEALTH = enum_values(PipelineStateInfoHealth)
_UPDATE_STATES = enum_values(UpdateStateInfoState)


def pipeline_summary_item(pipeline: Item) -> Item:
    """A **PipelineSummary** (docs/API.md §2.4) from a `list_pipelines` status as Databricks sends it, members in
    the model's order."""
    get = pipeline.get
    latest = get("latest_updates") or []
    update = latest[0] if latest else None
    return {
        "pipeline_id": get("pipeline_id") or "",
        "name": get("name") or "",
        "state": known_enum(get("state"), _PIPELINE_STATES),
        "health": known_enum(get("health"), _PIPELINE_HEALTH),
        "creator_user_name": get("creator_user_name"),
        "run_as_user_name": get("run_as_user_name"),
        "latest_update": None
        if update is None
        else {
            "update_id": update.get("update_id"),
            "state": known_enum(update.get("state"), _UPDATE_STATES),
            "creation_time": rfc3339_text(update.get("creation_time")),
        },
    }


def list_pipelines(ws: WorkspaceClient, query: ListQuery) -> bytes:
    """The JSON body of `GET /pipelines` (a **PipelineList**): every pipeline (all pages, no `LIKE` filter),
    filtered and sliced by `query` (literal, case-insensitive).

    A pass-through read (`dbrx_api.passthrough`): the pages the SDK's `list_pipelines(max_results=100)` requests,
    shaped from the decoded JSON, serialised once (docs/API.md §7.1).
    """
    with upstream("pipeline"):
        pipelines = list_all(ws, PIPELINES_PATH, "statuses", {"max_results": PIPELINES_PAGE})
    return list_body(
        [pipeline_summary_item(pipeline) for pipeline in pipelines],
        query,
        sort_key=lambda item: (item["name"].lower(), item["pipeline_id"]),
    )


def get_pipeline(ws: WorkspaceClient, pipeline: str) -> PipelineDetail:
    """One pipeline by id or exact name (1-2 upstream calls)."""
    ref = resolve_pipeline(ws, pipeline, with_spec=True)
    return pipeline_detail(ref.require_detail())


# ------------------------------------------------------------------------------------------ create


def library_for(path: str) -> PipelineLibrary:
    """A `file` library for `.py`/`.sql` sources, a `notebook` library otherwise."""
    if path.lower().endswith((".py", ".sql")):
        return PipelineLibrary(file=FileLibrary(path=path))
    return PipelineLibrary(notebook=NotebookLibrary(path=path))


def _table_columns(table: TableInfo) -> list[str]:
    return [column.name for column in table.columns or [] if column.name]


def canonical_key_columns(keys: Sequence[str], table: TableInfo, source: str) -> list[str]:
    """Key columns spelled as the source table spells them; 400 `key_columns_invalid` for unknown ones."""
    columns = _table_columns(table)
    by_lower = {column.lower(): column for column in columns}
    unknown = [key for key in keys if key.lower() not in by_lower]
    if unknown:
        raise InvalidRequest(
            f"Key column(s) {', '.join(unknown)} are not columns of {source}; "
            f"available: {', '.join(columns) or 'none'}.",
            code="key_columns_invalid",
            unknown=unknown,
            available=columns,
        )
    return [by_lower[key.lower()] for key in keys]


def _require_keys(scd_type: str | None, keys: Sequence[str]) -> None:
    if scd_type == "2" and not keys:
        raise InvalidRequest(
            "SCD type 2 pipelines need at least one key column (key_columns).",
            code="key_columns_invalid",
            unknown=[],
            available=[],
        )


def cdf_enabled(table: TableInfo) -> bool:
    """Whether the table's Change Data Feed is on (its `delta.enableChangeDataFeed` property)."""
    return str((table.properties or {}).get(CDF_PROPERTY, "")).lower() == "true"


def _check_cdf(table: TableInfo, source: str) -> None:
    if not cdf_enabled(table):
        raise InvalidRequest(
            f"Source table {source} does not have change data feed enabled ({CDF_PROPERTY} is not 'true'); "
            "SCD type 1 and 2 pipelines read its change feed. Enable it on the table first (ALTER TABLE … SET "
            "TBLPROPERTIES); this service never changes table properties.",
            code="cdf_not_enabled",
        )


def _target_schema_missing(ws: WorkspaceClient, catalog: str, schema: str, create: bool) -> bool:
    """Whether the target schema must be created; 404 `catalog_not_found` / `schema_not_found` otherwise."""
    try:
        with upstream("schema", f"{catalog}.{schema}"):
            ws.schemas.get(path_segment(f"{catalog}.{schema}"))
        return False
    except NotFoundError:
        pass
    # Tell a missing catalog from a missing schema (a catalog is never created here).
    with upstream("catalog", catalog):
        ws.catalogs.get(path_segment(catalog))
    if not create:
        raise NotFoundError(
            f"Schema '{catalog}.{schema}' does not exist; create it or set create_target_schema.",
            code="schema_not_found",
        )
    return True


def build_pipeline_spec(
    *,
    name: str,
    catalog: str,
    schema: str,
    source_table: str,
    target_table: str,
    scd_type: str,
    key_columns: Sequence[str],
    continuous: bool,
    serverless: bool | None,
    notifications: Sequence[str],
    tags: Mapping[str, str] | None,
    defaults: PipelineDefaults,
    notification_alerts: Sequence[str] | None = None,
    cluster_tags: Mapping[str, str] | None = None,
) -> PipelineSpec:
    """The specification of a sharing pipeline from its parts and the configured defaults (docs/SHAREPACK.md §8.3).

    Shared by the pipeline endpoint and share-pack provisioning. `serverless=None` takes the configured default;
    without serverless compute the cluster comes from the defaults, with `cluster_tags` as its custom tags.
    `notification_alerts` defaults to `defaults.notification_alerts`. Fails (logged, 500) when no library path is
    configured: the library is never hard-coded.
    """
    if not defaults.library_path:
        logger.error("databricks.pipelines.library_path is not configured; cannot create pipelines")
        raise AppError(INTERNAL_ERROR_DETAIL)
    use_serverless = defaults.serverless if serverless is None else serverless
    configuration = {
        SOURCE_TABLE_KEY: source_table,
        TARGET_TABLE_KEY: target_table,
        SCD_TYPE_KEY: scd_type,
    }
    if key_columns:
        configuration[KEYS_KEY] = ",".join(key_columns)
    if scd_type in ("1", "2"):
        # Only change-feed pipelines sequence and delete by the feed's columns (docs/SHAREPACK.md §8.3).
        configuration[SEQUENCE_BY_KEY] = defaults.sequence_by
        configuration[DELETE_EXPR_KEY] = defaults.delete_expr
    clusters = None
    if not use_serverless:
        clusters = [
            PipelineCluster(
                label="default",
                node_type_id=defaults.cluster.node_type_id,
                autoscale=PipelineClusterAutoscale(
                    min_workers=defaults.cluster.autoscale.min_workers,
                    max_workers=defaults.cluster.autoscale.max_workers,
                ),
                custom_tags=dict(cluster_tags) if cluster_tags else None,
            )
        ]
    blocks = None
    if notifications:
        alerts = (
            defaults.notification_alerts if notification_alerts is None else notification_alerts
        )
        blocks = [Notifications(email_recipients=list(notifications), alerts=list(alerts))]
    return PipelineSpec(
        name=name,
        catalog=catalog,
        schema=schema,
        continuous=continuous,
        serverless=use_serverless,
        development=defaults.development,
        channel=defaults.channel,
        edition=defaults.edition,
        photon=defaults.photon,
        libraries=[library_for(defaults.library_path)],
        root_path=defaults.root_path,
        clusters=clusters,
        notifications=blocks,
        tags=dict(tags) if tags else None,
        configuration=configuration,
    )


def spec_arguments(spec: PipelineSpec) -> dict[str, Any]:
    """Keyword arguments of `pipelines.create` / `pipelines.update` carrying every field set in `spec`."""
    return {
        name: getattr(spec, name)
        for name in _EDIT_FIELDS
        if hasattr(spec, name) and getattr(spec, name) is not None
    }


# ------------------------------------------------------------------------------------------ gateway
# Each change to a pipeline or its target schema, written once: the REST service below and the share pack's
# pipeline and schema rooms (workflow/resources/pipeline.py, schema.py) both call these.


def sdk_create_schema(
    ws: WorkspaceClient, catalog: str, schema: str, *, comment: str | None = None
) -> bool:
    """`schemas.create`; False when the schema already exists (made meanwhile: the goal is reached)."""
    try:
        with upstream("schema", f"{catalog}.{schema}"):
            ws.schemas.create(name=schema, catalog_name=catalog, comment=comment)
    except ConflictError as exc:
        if exc.code != "schema_already_exists":
            raise
        return False
    return True


def sdk_create_pipeline(ws: WorkspaceClient, name: str, spec: PipelineSpec) -> str:
    """`pipelines.create` refusing a duplicate name (a replay finds the first one: `pipeline_already_exists`)."""
    with upstream("pipeline", name):
        created = ws.pipelines.create(allow_duplicate_names=False, **spec_arguments(spec))
    return created.pipeline_id or ""


def sdk_update_pipeline(
    ws: WorkspaceClient,
    name: str,
    pipeline_id: str,
    *,
    expected_last_modified: int | None,
    arguments: Mapping[str, Any],
) -> None:
    """`pipelines.update`, a full replacement of the spec guarded by `expected_last_modified`."""
    with upstream("pipeline", name):
        ws.pipelines.update(
            path_segment(pipeline_id), expected_last_modified=expected_last_modified, **arguments
        )


def sdk_delete_pipeline(
    ws: WorkspaceClient,
    name: str,
    pipeline_id: str,
    *,
    cascade: bool | None = None,
    missing_ok: bool = False,
) -> None:
    """`pipelines.delete` (`cascade`: its tables too); with `missing_ok` a gone pipeline counts as deleted."""
    try:
        with upstream("pipeline", name):
            ws.pipelines.delete(path_segment(pipeline_id), cascade=cascade)
    except NotFoundError:
        if not missing_ok:
            raise


def _new_spec(body: PipelineCreate, keys: list[str], defaults: PipelineDefaults) -> PipelineSpec:
    return build_pipeline_spec(
        name=body.name,
        catalog=body.target_catalog_name,
        schema=body.target_schema_name,
        source_table=body.source_table,
        target_table=body.effective_target_table,
        scd_type=body.scd_type,
        key_columns=keys,
        continuous=body.continuous,
        serverless=body.serverless,
        notifications=list(body.notifications or []),
        tags=dict(body.tags) if body.tags else None,
        defaults=defaults,
    )


def create_pipeline(
    ws: WorkspaceClient, body: PipelineCreate, *, defaults: PipelineDefaults
) -> PipelineDetail:
    """Create a sharing pipeline (not started), after every check of docs/API.md §7.3.

    Checks run before any write, in the spec's order: name unused, target schema, source table, change data feed
    (SCD 1/2), key columns. The target schema is created (when asked) only after all checks passed.
    """
    keys = list(body.key_columns or [])
    _require_keys(body.scd_type, keys)
    if find_pipelines_by_name(ws, body.name):
        raise ConflictError(
            f"A pipeline named '{body.name}' already exists.", code="pipeline_already_exists"
        )
    catalog, schema = body.target_catalog_name, body.target_schema_name
    create_schema = _target_schema_missing(ws, catalog, schema, body.create_target_schema)
    with upstream("table", body.source_table):
        table = ws.tables.get(path_segment(body.source_table))
    if body.scd_type in ("1", "2"):
        _check_cdf(table, body.source_table)
    if keys:
        keys = canonical_key_columns(keys, table, body.source_table)
    spec = _new_spec(body, keys, defaults)
    applied: list[str] = []
    if create_schema:
        sdk_create_schema(ws, catalog, schema)
        applied.append(f"schema {catalog}.{schema} created")
    try:
        pipeline_id = sdk_create_pipeline(ws, body.name, spec)
    except AppError as exc:
        if applied:
            exc.with_extra(applied=applied)
        raise
    return PipelineDetail.model_validate(
        {
            "pipeline_id": pipeline_id,
            "name": body.name,
            "state": None,
            **_spec_fields(spec),
        }
    )


# ------------------------------------------------------------------------------------------ edits


def edit_arguments(detail: GetPipelineResponse) -> dict[str, Any]:
    """Keyword arguments of `pipelines.update` re-sending every field of the current spec."""
    spec = detail.spec or PipelineSpec()
    arguments: dict[str, Any] = {}
    for name in _EDIT_FIELDS:
        if name in _TOP_LEVEL_FIELDS:
            value = getattr(detail, name, None)
        else:
            value = getattr(spec, name, None)
        if value is not None:
            arguments[name] = value
    return arguments


def _edit(ws: WorkspaceClient, ref: PipelineRef, **changes: Any) -> None:
    """One full-replacement edit with only `changes` differing; a `None` change removes the field."""
    detail = ref.require_detail()
    arguments = edit_arguments(detail)
    for name, value in changes.items():
        if value is None:
            arguments.pop(name, None)
        else:
            arguments[name] = value
    try:
        sdk_update_pipeline(
            ws,
            ref.name,
            ref.pipeline_id,
            expected_last_modified=detail.last_modified,
            arguments=arguments,
        )
    except ConflictError as exc:
        if exc.code == "conflict":
            raise ConflictError(
                f"Pipeline '{ref.name}' was modified by someone else meanwhile; read it again and retry.",
                code="conflict",
            ) from exc
        raise


def _spec_of(ref: PipelineRef) -> PipelineSpec:
    return ref.require_detail().spec or PipelineSpec()


def set_continuous(ws: WorkspaceClient, pipeline: str, continuous: bool) -> ContinuousResult:
    """Switch continuous/triggered mode; no write when already in that mode. Schedules are not touched."""
    ref = resolve_pipeline(ws, pipeline, with_spec=True)
    changed = bool(_spec_of(ref).continuous) != continuous
    if changed:
        _edit(ws, ref, continuous=continuous)
    return ContinuousResult(
        pipeline_id=ref.pipeline_id,
        name=ref.name,
        continuous=continuous,
        mode="continuous" if continuous else "triggered",
        changed=changed,
    )


def full_refresh(
    ws: WorkspaceClient,
    pipeline: str,
    *,
    stop_if_running: bool,
    starter: DeferredStarter,
    defaults: PipelineDefaults,
) -> FullRefreshResult:
    """Start a full refresh now, or stop the active update and defer the start (never waits in the request).

    Raises:
        ConflictError: `pipeline_busy` (with `active_update_id`) when the pipeline is busy and `stop_if_running`
            is false, or when another update starts first.
    """
    ref = resolve_pipeline(ws, pipeline, with_spec=True)
    busy, active_id = active_update(ref.require_detail())
    if not busy:
        try:
            with upstream("pipeline", ref.name):
                response = ws.pipelines.start_update(
                    path_segment(ref.pipeline_id),
                    full_refresh=True,
                    cause=StartUpdateCause.API_CALL,
                )
        except ConflictError as exc:
            raise _busy(ref, None) from exc
        return FullRefreshResult(
            pipeline_id=ref.pipeline_id,
            name=ref.name,
            status="started",
            update_id=response.update_id,
        )
    if not stop_if_running:
        raise _busy(ref, active_id)
    deferred, is_new = starter.submit(
        ws,
        ref.pipeline_id,
        name=ref.name,
        poll_s=defaults.stop_poll_s,
        timeout_s=defaults.stop_timeout_s,
    )
    try:
        with upstream("pipeline", ref.name):
            ws.pipelines.stop(
                path_segment(ref.pipeline_id)
            )  # its waiter is deliberately not awaited
    except AppError:
        if is_new:  # a start pending from an earlier request stays scheduled
            deferred.cancel()
        raise
    logger.info(
        "full refresh deferred until the pipeline is idle",
        extra={"pipeline_id": ref.pipeline_id, "stopped_update_id": active_id},
    )
    return FullRefreshResult(
        pipeline_id=ref.pipeline_id,
        name=ref.name,
        status="stopping_then_start",
        update_id=None,
        stopped_update_id=active_id,
    )


def _busy(ref: PipelineRef, active_id: str | None) -> ConflictError:
    return ConflictError(
        f"Pipeline '{ref.name}' has an active update{f' ({active_id})' if active_id else ''}; "
        "wait for it to finish or repeat with stop_if_running=true.",
        code="pipeline_busy",
        active_update_id=active_id,
    )


def set_configuration(
    ws: WorkspaceClient, pipeline: str, body: ConfigurationUpdate
) -> ConfigurationResult:
    """Change key columns and/or target table; other configuration keys are preserved (docs/API.md §11.4)."""
    ref = resolve_pipeline(ws, pipeline, with_spec=True)
    configuration = dict(_spec_of(ref).configuration or {})
    source = configuration.get(SOURCE_TABLE_KEY)
    scd_type = configuration.get(SCD_TYPE_KEY)
    for field, requested, current in (
        ("source_table", body.source_table, source),
        ("scd_type", body.scd_type, scd_type),
    ):
        if requested is not None and requested != (current or "").lower():
            raise InvalidRequest(
                f"{field} of pipeline '{ref.name}' is '{current}' and cannot change; "
                "create a new pipeline instead.",
                code="pipeline_immutable_field",
                field=field,
            )
    updated = dict(configuration)
    fields_updated: list[str] = []
    if body.key_columns is not None:
        current_keys = split_keys(configuration.get(KEYS_KEY))
        if [k.lower() for k in body.key_columns] != [k.lower() for k in current_keys]:
            _require_keys(scd_type, body.key_columns)
            keys = list(body.key_columns)
            if keys:
                if not source:
                    raise InvalidRequest(
                        f"Pipeline '{ref.name}' has no {SOURCE_TABLE_KEY}; its key columns cannot be checked.",
                        code="key_columns_invalid",
                    )
                with upstream("table", source):
                    table = ws.tables.get(path_segment(source))
                keys = canonical_key_columns(keys, table, source)
                updated[KEYS_KEY] = ",".join(keys)
            else:
                updated.pop(KEYS_KEY, None)
            fields_updated.append("key_columns")
    if body.target_table is not None and body.target_table != configuration.get(TARGET_TABLE_KEY):
        updated[TARGET_TABLE_KEY] = body.target_table
        fields_updated.append("target_table")
    changed = updated != configuration
    if changed:
        _edit(ws, ref, configuration=updated)
    return ConfigurationResult(
        pipeline_id=ref.pipeline_id,
        name=ref.name,
        changed=changed,
        fields_updated=fields_updated if changed else [],
        configuration=updated,
    )


def _check_workspace_object(
    ws: WorkspaceClient, path: str, expected: tuple[ObjectType, ...], what: str
) -> None:
    try:
        with upstream("library", path):
            info = ws.workspace.get_status(path)
    except NotFoundError as exc:
        raise NotFoundError(
            f"{what} '{path}' does not exist in the workspace.", code="library_not_found"
        ) from exc
    if info.object_type not in expected:
        kind = enum_text(info.object_type) or "object of unknown type"
        wanted = " or ".join(t.value for t in expected)
        raise NotFoundError(
            f"{what} '{path}' is a {kind}, not a {wanted}.", code="library_not_found"
        )


def set_libraries(ws: WorkspaceClient, pipeline: str, body: LibrariesUpdate) -> LibrariesResult:
    """Replace the pipeline library and/or root path after checking they exist (docs/API.md §11.5)."""
    ref = resolve_pipeline(ws, pipeline, with_spec=True)
    spec = _spec_of(ref)
    if body.library_path is not None:
        wanted = library_for(body.library_path)
        kind = (ObjectType.FILE,) if wanted.file is not None else (ObjectType.NOTEBOOK,)
        _check_workspace_object(ws, body.library_path, kind, "Library")
    if body.root_path is not None:
        _check_workspace_object(
            ws, body.root_path, (ObjectType.DIRECTORY, ObjectType.REPO), "Root path"
        )
    current_libraries = _libraries(spec)
    libraries = current_libraries
    changes: dict[str, Any] = {}
    if body.library_path is not None:
        new_library = library_for(body.library_path)
        new_ref = _library_ref(new_library)
        if new_ref is not None and current_libraries != [new_ref]:
            changes["libraries"] = [new_library]
            libraries = [new_ref]
    root_path = spec.root_path
    if body.root_path is not None and body.root_path != spec.root_path:
        changes["root_path"] = body.root_path
        root_path = body.root_path
    if changes:
        _edit(ws, ref, **changes)
    return LibrariesResult(
        pipeline_id=ref.pipeline_id,
        name=ref.name,
        libraries=libraries,
        root_path=root_path,
        changed=bool(changes),
    )


def add_notifications(
    ws: WorkspaceClient,
    pipeline: str,
    recipients: Sequence[str],
    *,
    defaults: PipelineDefaults,
) -> NotificationsAdded:
    """Add e-mail/group recipients to the pipeline's notifications (idempotent; docs/API.md §11.6)."""
    ref = resolve_pipeline(ws, pipeline, with_spec=True)
    spec = _spec_of(ref)
    current = notification_recipients(spec)
    present = {r.lower() for r in current}
    added = [r for r in recipients if r.lower() not in present]
    already_present = [r for r in recipients if r.lower() in present]
    if added:
        blocks = [
            Notifications(email_recipients=list(b.email_recipients or []), alerts=b.alerts)
            for b in spec.notifications or []
        ]
        if blocks:
            blocks[0].email_recipients = [*(blocks[0].email_recipients or []), *added]
        else:
            blocks = [
                Notifications(
                    email_recipients=list(added), alerts=list(defaults.notification_alerts)
                )
            ]
        _edit(ws, ref, notifications=blocks)
    return NotificationsAdded(
        pipeline_id=ref.pipeline_id,
        name=ref.name,
        added=added,
        already_present=already_present,
        notifications=[*current, *added],
    )


def remove_notifications(
    ws: WorkspaceClient, pipeline: str, recipients: Sequence[str]
) -> NotificationsRemoved:
    """Remove recipients from every notification block; blocks left empty are dropped (docs/API.md §11.7)."""
    ref = resolve_pipeline(ws, pipeline, with_spec=True)
    spec = _spec_of(ref)
    current = notification_recipients(spec)
    present = {r.lower() for r in current}
    removed = [r for r in recipients if r.lower() in present]
    not_present = [r for r in recipients if r.lower() not in present]
    gone = {r.lower() for r in removed}
    remaining = [r for r in current if r.lower() not in gone]
    if removed:
        blocks = []
        for block in spec.notifications or []:
            kept = [r for r in block.email_recipients or [] if r.lower() not in gone]
            if kept:
                blocks.append(Notifications(email_recipients=kept, alerts=block.alerts))
        # An edit is a full replacement: leaving the field out removes the notifications block.
        _edit(ws, ref, notifications=blocks or None)
    return NotificationsRemoved(
        pipeline_id=ref.pipeline_id,
        name=ref.name,
        removed=removed,
        not_present=not_present,
        notifications=remaining,
        warnings=[NO_ALERTS_WARNING] if removed and not remaining else [],
    )


# ------------------------------------------------------------------------------------------ delete


def delete_pipeline(
    ws: WorkspaceClient, pipeline: str, *, delete_schedules: bool, drop_tables: bool
) -> PipelineDeleted:
    """Delete a pipeline, first its schedule jobs (when asked); its tables are kept unless `drop_tables`."""
    ref = resolve_pipeline(ws, pipeline, with_spec=False)
    deleted: list[JobRef] = []
    kept: list[KeptJob] = []
    if delete_schedules:
        deleted, kept = schedule_service.delete_schedule_jobs(ws, ref)
    try:
        sdk_delete_pipeline(ws, ref.name, ref.pipeline_id, cascade=drop_tables)
    except AppError as exc:
        if deleted:
            exc.with_extra(applied=[schedule_service.applied_text(job) for job in deleted])
        raise
    return PipelineDeleted(
        pipeline_id=ref.pipeline_id,
        name=ref.name,
        deleted_schedules=deleted,
        kept_jobs=kept,
    )
