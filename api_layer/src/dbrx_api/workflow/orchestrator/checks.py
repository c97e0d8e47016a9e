"""Stage 5: live checks of a valid pack against the workspace (docs/SHAREPACK.md §7.3, §13.4), read-only.

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
from dbrx_api.jobs.pipelines import SCD_TYPE_KEY, SOURCE_TABLE_KEY, cdf_enabled
from dbrx_api.schemas.common import enum_text
from dbrx_api.workflow.models.issues import Issue, IssueCollector, Severity
from dbrx_api.workflow.models.pack import (
    VOLUME_MODEL_TYPES,
    AnySharePack,
    Asset,
    CronSchedule,
    Pipeline,
    Recipient,
    Share,
    SharePack,
)
from dbrx_api.workflow.orchestrator.live import job_name_of, job_pipeline_id, recipient_ips
from dbrx_api.workflow.resources.recipient import AUTH_TYPES
from dbrx_api.workflow.validators.fields import (
    MAX_IP_ENTRIES,
    AssetName,
    parse_asset_name,
    schema_overlaps,
    share_limit_problems,
)
from dbrx_api.workflow.validators.locator import PackLocator

T = TypeVar("T")

# Unity Catalog `table_type` -> share data-object type (docs/SHAREPACK.md §7.3).
TABLE_TYPES: dict[str, str] = {
    "MANAGED": "TABLE",
    "EXTERNAL": "TABLE",
    "VIEW": "VIEW",
    "MATERIALIZED_VIEW": "MATERIALIZED_VIEW",
    "STREAMING_TABLE": "STREAMING_TABLE",
}
# What a missing three-part asset is called: its declared type, else "table" (docs/SHAREPACK.md §13.4).
_MISSING_NOUNS = {
    "VIEW": "view",
    "MATERIALIZED_VIEW": "materialized view",
    "STREAMING_TABLE": "streaming table",
}


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


def _table_type(table: TableInfo) -> str:
    return (enum_text(table.table_type) or "").upper()


def _configured(pipeline: GetPipelineResponse, key: str) -> str | None:
    """A key of the pipeline's configuration (its source table, its SCD type)."""
    return ((pipeline.spec.configuration if pipeline.spec else None) or {}).get(key)


class _Abort(Exception):
    """The workspace cannot be checked any further (unreachable, credentials rejected)."""


# ------------------------------------------------------------------------------------------ checker


class _Checker:
    def __init__(
        self,
        pack: SharePack,
        lookup: LiveLookup,
        locator: PackLocator,
        allowed: Callable[[str], bool],
        recorded: RecordedState,
        job_name_suffix: str,
    ) -> None:
        self.pack = pack
        self.lookup = lookup
        self.allowed = allowed
        self.locator = locator
        self.recorded = recorded
        self.job_name_suffix = job_name_suffix
        self.issues = IssueCollector()
        self.cache: dict[tuple[str, str], object] = {}
        self.failed: set[tuple[str, str]] = set()
        self.resolved: dict[tuple[str, str], str] = {}
        self.declared = {recipient.name for recipient in pack.recipient}

    # ---------------------------------------------------------------- plumbing

    def add(
        self, severity: Severity, code: str, path: str, msg: str, *, input_value: object = None
    ) -> None:
        self.issues.add(
            severity, code, path, msg, self.locator.position(path), input_value=input_value
        )

    def call(self, kind: str, key: str, path: str, fetch: Callable[[], T]) -> T | None:
        """One cached lookup; upstream failures become issues (see the module docstring)."""
        cache_key = (kind, key)
        if cache_key in self.cache:
            return self.cache[cache_key]  # type: ignore[return-value]
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
                self.cache[cache_key] = None
                self.failed.add(cache_key)
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
        self.cache[cache_key] = value
        return value

    def absent(self, kind: str, key: str) -> bool:
        """True when a finished lookup answered "does not exist" (not when it failed)."""
        return (kind, key) in self.cache and (kind, key) not in self.failed

    def recipient(self, name: str, path: str) -> RecipientInfo | None:
        return self.call("recipient", name, path, lambda: self.lookup.recipient(name))

    def org_users(self, org: str, path: str) -> list[str]:
        found = self.call(
            "recipients_with_org", org, path, lambda: self.lookup.recipients_with_org(org)
        )
        return found or []

    def table(self, full_name: str, path: str) -> TableInfo | None:
        return self.call("table", full_name, path, lambda: self.lookup.table(full_name))

    def schedule_jobs(self, job_name: str) -> list[BaseJob] | list[Job]:
        """The jobs named `job_name`: the one this pack recorded, read by id, else a lookup by name."""
        recorded = self.recorded.job_ids.get(job_name.lower())
        job = self.lookup.job(recorded) if recorded is not None else None
        return [job] if job is not None else self.lookup.jobs_named(job_name)

    # ---------------------------------------------------------------- checks

    def run(self) -> None:
        url = self.pack.metadata.workspace_url
        if not self.allowed(url):
            self.add(
                "error",
                "workspace_not_allowed",
                "metadata.workspace_url",
                f'workspace "{url}" is not in the allowlist.',
                input_value=url,
            )
            return
        strategy = self.pack.metadata.strategy
        for recipient in self.pack.recipient:
            self.check_recipient(recipient, strategy)
        for share in self.pack.share:
            self.check_share(share, strategy)

    def check_recipient(self, recipient: Recipient, strategy: str) -> None:
        path = self.locator.recipient(recipient.name)
        live = self.recipient(recipient.name, path)
        if live is None:
            if strategy == "UPDATE":
                self.add(
                    "warning",
                    "update_created_missing",
                    path,
                    f'recipient "{recipient.name}" does not exist; it will be created.',
                )
            org = recipient.recipient_databricks_org
            if org is not None:
                users = self.org_users(org, path)
                others = [name for name in users if name != recipient.name]
                if others:
                    self.add(
                        "error",
                        "recipient_org_in_use",
                        f"{path}.recipient_databricks_org",
                        f'already used by recipient "{others[0]}".',
                        input_value=org,
                    )
            return
        if strategy == "NEW":
            self.add(
                "warning",
                "new_on_existing",
                path,
                f'recipient "{recipient.name}" already exists; it will be updated.',
            )
        authentication = (enum_text(live.authentication_type) or "").upper()
        if authentication != AUTH_TYPES[recipient.type]:
            other = "D2D" if authentication == "DATABRICKS" else "D2O"
            self.add(
                "error",
                "recipient_type_immutable",
                f"{path}.type",
                f'recipient "{recipient.name}" exists as {other}; the type cannot change.',
            )
            return
        org = recipient.recipient_databricks_org
        if org is not None and (live.data_recipient_global_metastore_id or "").lower() != org:
            self.add(
                "error",
                "recipient_org_immutable",
                f"{path}.recipient_databricks_org",
                f'recipient "{recipient.name}" is bound to another metastore.',
                input_value=org,
            )
        if recipient.type == "D2O":
            base = (
                set(recipient.recipient_ips)
                if recipient.recipient_ips is not None
                else set(recipient_ips(live))
            )
            effective = (base | set(recipient.recipient_ips_to_add or [])) - set(
                recipient.recipient_ips_to_remove or []
            )
            if len(effective) > MAX_IP_ENTRIES:
                self.add(
                    "error",
                    "ip_list_too_long",
                    f"{path}.recipient_ips_to_add"
                    if recipient.recipient_ips is None
                    else f"{path}.recipient_ips",
                    f"the allowlist would hold {len(effective)} entries; Databricks allows at most {MAX_IP_ENTRIES}.",
                )
            managed = (
                recipient.recipient_ips is not None or recipient.recipient_ips_to_add is not None
            )
            if not effective and (managed or recipient.recipient_ips_to_remove):
                self.add(
                    "warning",
                    "d2o_without_ip_allowlist",
                    path,
                    "after this version the recipient has no IP allowlist: its token is usable from any network.",
                )

    # ---------------------------------------------------------------- shares

    def check_share(self, share: Share, strategy: str) -> None:
        path = self.locator.share(share.name)
        live = self.call("share", share.name, path, lambda: self.lookup.share(share.name))
        if live is None and strategy == "UPDATE":
            self.add(
                "warning",
                "update_created_missing",
                path,
                f'share "{share.name}" does not exist; it will be created.',
            )
        if live is not None and strategy == "NEW":
            self.add(
                "warning",
                "new_on_existing",
                path,
                f'share "{share.name}" already exists; it will be updated.',
            )
        live_types = {
            (obj.name or "").lower(): enum_text(obj.data_object_type) or "TABLE"
            for obj in (live.objects or [] if live else [])
        }
        for list_key in ("share_assets", "share_assets_to_add"):
            for asset in getattr(share, list_key) or []:
                self.check_asset(share, list_key, asset, live_types)
        if share.share_assets is None:
            self.check_explicit_set(share, live_types)
        for pipeline in share.pipelines or []:
            self.check_pipeline(share, pipeline, live_types)
        for list_key in ("recipients", "recipients_to_add"):
            for name in getattr(share, list_key) or []:
                if name in self.declared:
                    continue
                grant_path = self.locator.grant(share.name, list_key, name)
                if self.recipient(name, grant_path) is None:
                    self.add(
                        "error",
                        "recipient_not_found",
                        grant_path,
                        f'recipient "{name}" does not exist and is not declared in this pack.',
                        input_value=name,
                    )

    def resolve(
        self,
        asset: AssetName,
        path: str,
        live_types: dict[str, str],
        declared: str | None = None,
    ) -> str | None:
        """The object type of docs/SHAREPACK.md §7.3, or None after reporting why it cannot be shared.

        `declared` is the entry's `type`, which names a missing object (a missing VIEW is "view ... does not exist").
        """
        if asset.name.lower() in live_types:
            return live_types[asset.name.lower()]
        if asset.kind == "table" and declared in VOLUME_MODEL_TYPES:
            return self.resolve_volume_or_model(asset, path, declared)
        if asset.kind == "table":
            table = self.table(asset.name, path)
            if table is None:
                if self.absent("table", asset.name):
                    self.add(
                        "error",
                        "asset_not_found",
                        path,
                        f'{_MISSING_NOUNS.get(declared or "", "table")} "{asset.name}" does not exist.',
                        input_value=asset.name,
                    )
                return None
            resolved = TABLE_TYPES.get(_table_type(table))
            if resolved is None:
                self.add(
                    "error",
                    "asset_type_unsupported",
                    path,
                    f'"{asset.name}" is a {_table_type(table)}, which share packs do not share.',
                    input_value=asset.name,
                )
            return resolved
        if asset.kind == "schema":
            exists = self.call(
                "schema", asset.name, path, lambda: self.lookup.schema_exists(asset.name)
            )
            if not exists:
                if exists is False:
                    self.add(
                        "error",
                        "asset_not_found",
                        path,
                        f'schema "{asset.name}" does not exist.',
                        input_value=asset.name,
                    )
                return None
            return "SCHEMA"
        object_type = self.call(
            "notebook", asset.name, path, lambda: self.lookup.workspace_object_type(asset.name)
        )
        if object_type is None:
            if self.absent("notebook", asset.name):
                self.add(
                    "error",
                    "asset_not_found",
                    path,
                    f'notebook "{asset.name}" does not exist.',
                    input_value=asset.name,
                )
            return None
        if object_type.upper() != "NOTEBOOK":
            self.add(
                "error",
                "asset_type_unsupported",
                path,
                f'"{asset.name}" is a {object_type}, not a notebook.',
                input_value=asset.name,
            )
            return None
        return "NOTEBOOK_FILE"

    def resolve_volume_or_model(self, asset: AssetName, path: str, declared: str) -> str | None:
        """A declared VOLUME or MODEL: `volumes.read` / `registered_models.get`; when it is absent, a table of that
        name makes the issue `asset_type_mismatch` (one more read, only on this error path)."""
        kind = "volume" if declared == "VOLUME" else "model"
        lookup = self.lookup.volume_exists if declared == "VOLUME" else self.lookup.model_exists
        exists = self.call(kind, asset.name, path, lambda: lookup(asset.name))
        if exists:
            return declared
        if exists is False:
            table = self.table(asset.name, path)
            if table is not None:
                # check_asset reports the mismatch against the declared type.
                return TABLE_TYPES.get(_table_type(table), _table_type(table))
            if self.absent("table", asset.name):
                self.add(
                    "error",
                    "asset_not_found",
                    path,
                    f'{kind} "{asset.name}" does not exist.',
                    input_value=asset.name,
                )
        return None

    def check_asset(
        self, share: Share, list_key: str, asset: Asset, live_types: dict[str, str]
    ) -> None:
        path = self.locator.asset(share.name, list_key, asset.name)
        parsed = parse_asset_name(asset.name)
        resolved = self.resolve(parsed, path, live_types, asset.type)
        if resolved is None:
            return
        self.resolved[(share.name, asset.name)] = resolved
        if asset.type is not None and asset.type != resolved:
            self.add(
                "error",
                "asset_type_mismatch",
                f"{path}.type",
                f'declared {asset.type} but "{asset.name}" is a {resolved}.',
                input_value=asset.type,
            )
            return
        if resolved != "TABLE":
            for option in ("cdf_enabled", "partitions"):
                if getattr(asset, option) is not None:
                    self.add(
                        "error",
                        "asset_option_invalid",
                        f"{path}.{option}",
                        f"{option} applies to tables only; this asset is a {resolved}.",
                    )

    def check_explicit_set(self, share: Share, live_types: dict[str, str]) -> None:
        """Without a declarative list the desired set is live + to_add - to_remove: check overlap and limits."""
        removed = {asset.name for asset in share.share_assets_to_remove or []}
        desired: dict[str, str] = {name: "" for name in live_types if name not in removed}
        for asset in share.share_assets_to_add or []:
            if asset.name not in removed:
                desired[asset.name] = self.locator.asset(
                    share.name, "share_assets_to_add", asset.name
                )
        kinds = {name: parse_asset_name(name) for name in desired}
        types: dict[str, str | None] = {name: live_types.get(name) for name in desired}
        for asset in share.share_assets_to_add or []:
            if asset.name in desired and asset.type is not None:
                types[asset.name] = asset.type
        for table, schema in schema_overlaps(list(kinds.values())):
            path = desired[table.name] or desired[schema]
            if path:  # an overlap only among live objects is not this pack's doing
                self.add(
                    "error",
                    "asset_schema_overlap",
                    path,
                    f'"{table.name}" is inside schema "{schema}"; both would be in share "{share.name}".',
                    input_value=table.name,
                )
        for count, limit, label in share_limit_problems(list(kinds.values()), types):
            self.add(
                "error",
                "share_limit_exceeded",
                f"{self.locator.share(share.name)}.share_assets_to_add",
                f"the share would hold {count} {label}; Databricks allows {limit} per share.",
            )

    # ---------------------------------------------------------------- pipelines

    def check_pipeline(self, share: Share, pipeline: Pipeline, live_types: dict[str, str]) -> None:
        path = self.locator.pipeline(pipeline.name_prefix)
        source_path = f"{path}.source_asset"
        table = self.table(pipeline.source_asset, source_path)
        if table is None:
            if self.absent("table", pipeline.source_asset):
                self.add(
                    "error",
                    "asset_not_found",
                    source_path,
                    f'table "{pipeline.source_asset}" does not exist.',
                    input_value=pipeline.source_asset,
                )
        else:
            self.check_source(pipeline, table, path)
        if share.share_assets is None:
            added = {asset.name for asset in share.share_assets_to_add or []}
            if pipeline.source_asset not in added and pipeline.source_asset not in live_types:
                self.add(
                    "warning",
                    "pipeline_source_not_shared",
                    source_path,
                    f'"{pipeline.source_asset}" is not in share "{share.name}" and is not added by this pack.',
                )
        self.check_target(share, pipeline, path)
        self.check_existing_pipeline(pipeline, path)

    def check_source(self, pipeline: Pipeline, table: TableInfo, path: str) -> None:
        source_path = f"{path}.source_asset"
        table_type = _table_type(table)
        resolved = TABLE_TYPES.get(table_type)
        if pipeline.scd_type in {"1", "2"} and resolved != "TABLE":
            self.add(
                "error",
                "source_type_unsupported",
                source_path,
                f'"{pipeline.source_asset}" is a {resolved or table_type}; SCD pipelines read tables.',
            )
            return
        if resolved is None:
            self.add(
                "error",
                "source_type_unsupported",
                source_path,
                f'"{pipeline.source_asset}" is a {table_type}, which a pipeline cannot read.',
            )
            return
        if pipeline.scd_type in {"1", "2"} and not cdf_enabled(table):
            self.add(
                "error",
                "source_cdf_disabled",
                source_path,
                f'Change Data Feed is off on "{pipeline.source_asset}"; its owner must run ALTER TABLE ... SET '
                "TBLPROPERTIES (delta.enableChangeDataFeed = true).",
            )
        columns = {column.name.lower() for column in table.columns or [] if column.name}
        if columns:
            for index, column in enumerate(pipeline.key_columns or []):
                if column.lower() not in columns:
                    self.add(
                        "error",
                        "key_column_not_found",
                        f"{path}.key_columns[{index}]",
                        f'"{column}" is not a column of "{pipeline.source_asset}".',
                        input_value=column,
                    )

    def check_target(self, share: Share, pipeline: Pipeline, path: str) -> None:
        delta = share.delta_share
        catalog = pipeline.ext_catalog_name or (delta.ext_catalog_name if delta else None)
        schema = pipeline.ext_schema_name or (delta.ext_schema_name if delta else None)
        if catalog is None or schema is None:
            return
        share_path = self.locator.share(share.name)
        catalog_path = (
            f"{path}.ext_catalog_name"
            if pipeline.ext_catalog_name
            else f"{share_path}.delta_share.ext_catalog_name"
        )
        schema_path = (
            f"{path}.ext_schema_name"
            if pipeline.ext_schema_name
            else f"{share_path}.delta_share.ext_schema_name"
        )
        if not self.call(
            "catalog", catalog, catalog_path, lambda: self.lookup.catalog_exists(catalog)
        ):
            if self.cache.get(("catalog", catalog)) is False:
                self.add(
                    "error",
                    "catalog_not_found",
                    catalog_path,
                    f'catalog "{catalog}" does not exist; create it first (POST /catalogs/{{name}}).',
                    input_value=catalog,
                )
            return
        full = f"{catalog}.{schema}"
        exists = self.call("schema", full, schema_path, lambda: self.lookup.schema_exists(full))
        create = delta.create_schema_if_missing if delta is not None else False
        if exists is False and not create:
            self.add(
                "error",
                "schema_not_found",
                schema_path,
                f'schema "{full}" does not exist; set create_schema_if_missing: true or create it.',
                input_value=full,
            )

    def check_existing_pipeline(self, pipeline: Pipeline, path: str) -> None:
        name = pipeline.name_prefix
        recorded_id = self.recorded.pipeline_ids.get(name.lower())
        existing: GetPipelineResponse | None = None
        if recorded_id is not None:
            existing = self.call(
                "pipeline", recorded_id, path, lambda: self.lookup.pipeline(recorded_id)
            )
        if existing is None:
            matches = (
                self.call("pipelines_named", name, path, lambda: self.lookup.pipelines_named(name))
                or []
            )
            if len(matches) > 1:
                self.add(
                    "error",
                    "pipeline_name_ambiguous",
                    f"{path}.name_prefix",
                    f'{len(matches)} pipelines are named "{name}"; rename or remove one.',
                    input_value=name,
                )
                return
            existing = matches[0] if matches else None
        if existing is not None:
            source_table = _configured(existing, SOURCE_TABLE_KEY)
            scd_type = _configured(existing, SCD_TYPE_KEY)
            if source_table is not None and source_table.lower() != pipeline.source_asset:
                self.add(
                    "error",
                    "pipeline_source_immutable",
                    f"{path}.source_asset",
                    f'pipeline "{name}" already reads "{source_table}"; the source cannot change.',
                )
            if scd_type is not None and scd_type.lower() != pipeline.scd_type.lower():
                self.add(
                    "error",
                    "pipeline_scd_type_immutable",
                    f"{path}.scd_type",
                    f'pipeline "{name}" is SCD {scd_type}; the type cannot change.',
                )
        if not isinstance(pipeline.schedule, CronSchedule):
            return
        job_name = f"{name}{self.job_name_suffix}"
        jobs = self.call("jobs_named", job_name, path, lambda: self.schedule_jobs(job_name)) or []
        pipeline_id = existing.pipeline_id if existing is not None else None
        recorded_jobs = set(self.recorded.job_ids.values())
        for job in jobs:
            if job.job_id in recorded_jobs or (
                pipeline_id is not None and job_pipeline_id(job) == pipeline_id
            ):
                continue
            self.add(
                "error",
                "schedule_job_conflict",
                path,
                f'job "{job_name_of(job)}" (id {job.job_id}) runs another pipeline.',
                input_value=job_name_of(job),
            )
            break


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
    if not isinstance(pack, SharePack):
        issues = IssueCollector()
        url = pack.metadata.workspace_url
        if not allowed(url):
            issues.error(
                "workspace_not_allowed",
                "metadata.workspace_url",
                f'workspace "{url}" is not in the allowlist.',
                locator.position("metadata.workspace_url"),
                input_value=url,
            )
        return LiveCheckResult(
            errors=issues.errors(), warnings=issues.warnings(), resolved_types={}
        )
    checker = _Checker(pack, lookup, locator, allowed, recorded or RecordedState(), job_name_suffix)
    with contextlib.suppress(_Abort):
        checker.run()
    return LiveCheckResult(
        errors=checker.issues.errors(),
        warnings=checker.issues.warnings(),
        resolved_types=checker.resolved,
    )
