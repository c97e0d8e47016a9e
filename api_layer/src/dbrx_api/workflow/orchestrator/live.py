"""Live state of a workspace as one run sees it (docs/WORKFLOW.md §9.2): each object read at most once, on demand.

`LiveReader` caches every read (value, "absent" as None, or the failure) so that the stage-5 checks, the diff and
the actions share one read per object; actions replace cached values with what their mutating calls answered.
The stage-5 checks (`checks.py`) read through the reader itself, and `prefetch` warms the cache with bounded
concurrency before the (sequential) checks run.
"""

from __future__ import annotations

import contextlib
import threading
import weakref
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from functools import partial
from typing import Any, TypeVar

from databricks.sdk import WorkspaceClient
from databricks.sdk.errors import InvalidParameterValue, NotFound
from databricks.sdk.service.catalog import TableInfo as SdkTableInfo
from databricks.sdk.service.jobs import BaseJob, Job
from databricks.sdk.service.pipelines import GetPipelineResponse, PipelineStateInfo
from databricks.sdk.service.sharing import RecipientInfo as SdkRecipientInfo
from databricks.sdk.service.sharing import ShareInfo as SdkShareInfo
from databricks.sdk.service.workspace import ExportFormat

from dbrx_api.dltshr.shares import iter_share_permissions
from dbrx_api.errors import AppError, ForbiddenError, InvalidRequest, NotFoundError, upstream
from dbrx_api.jobs.resolution import JOBS_PAGE, PIPELINES_PAGE, like_filter, pipeline_ids_of
from dbrx_api.schemas.common import enum_text
from dbrx_api.schemas.paths import path_segment
from dbrx_api.workflow.models.pack import CronSchedule, Share, SharePack
from dbrx_api.workflow.orchestrator.calls import CountedWorkspace
from dbrx_api.workflow.validators.fields import parse_asset_name

T = TypeVar("T")

SELECT = "SELECT"
# Page size asked of `tables.list` (the server answers at most its own cap; the SDK follows the pages).
TABLES_PAGE = 1000

# `current_user.me()` is asked once per client (a process-wide cache of the service principal's user name).
_identities: weakref.WeakKeyDictionary[WorkspaceClient, str] = weakref.WeakKeyDictionary()
_identity_guard = threading.Lock()


def job_pipeline_id(job: BaseJob | Job | None) -> str | None:
    """The pipeline the job's first `pipeline_task` runs."""
    ids = pipeline_ids_of(job.settings if job is not None else None)
    return ids[0] if ids else None


def job_name_of(job: BaseJob | Job) -> str:
    """The job's name ("" when unset)."""
    return (job.settings.name if job.settings else None) or ""


@dataclass(frozen=True)
class _TablePlan:
    """How one table is read: through the listing of `schema` (with `details` or not) planned for `names` tables."""

    schema: str
    details: bool
    names: int


@dataclass(frozen=True)
class _SchemaTables:
    """A schema listing: the tables it reached by lower-case full name; `missing_schema` when the schema or its
    catalog does not exist."""

    tables: dict[str, SdkTableInfo]
    missing_schema: bool = False


class LiveReader:
    """Cached reads of one workspace for one run; thread-safe, one upstream call per object."""

    def __init__(self, workspace: CountedWorkspace) -> None:
        self.workspace = workspace
        self.ws = workspace.client
        self._guard = threading.Lock()
        self._entries: dict[tuple[str, str], Future[Any]] = {}
        # Tables served by their schema's listing: lower-case full name -> how.
        self._listed_tables: dict[str, _TablePlan] = {}
        # Names whose pipeline / schedule job is looked for in the run's one listing (docs/WORKFLOW.md §9.2).
        self._listed_pipelines: frozenset[str] = frozenset()
        self._listed_jobs: frozenset[str] = frozenset()

    # ---------------------------------------------------------------- cache plumbing

    def _cached(self, kind: str, key: str, fetch: Callable[[], T]) -> T:
        with self._guard:
            future = self._entries.get((kind, key))
            owner = future is None
            if future is None:
                future = Future()
                self._entries[(kind, key)] = future
        if owner:
            try:
                future.set_result(fetch())
            except BaseException as exc:  # noqa: BLE001 - kept for every reader of the key, re-raised below
                future.set_exception(exc)
        result: T = future.result()
        return result

    def put(self, kind: str, key: str, value: Any) -> None:
        """Replace a cached value (an action learned the new state from its own call)."""
        future: Future[Any] = Future()
        future.set_result(value)
        with self._guard:
            self._entries[(kind, key)] = future

    def forget(self, kind: str, key: str) -> None:
        """Drop a cached value so the next access reads again."""
        with self._guard:
            self._entries.pop((kind, key), None)

    @staticmethod
    def _absent_as_none(resource: str, name: str, fetch: Callable[[], T]) -> T | None:
        """`fetch()`, None when the object does not exist; other failures become `AppError`s.

        "Does not exist" is recognised by exception class (`NotFound`; for jobs also the 400
        `InvalidParameterValue` "Job <id> does not exist."), before translation, so that an expected absence is
        not logged as an upstream failure.
        """
        try:
            with upstream(resource, name):
                try:
                    return fetch()
                except NotFound:
                    return None
                except InvalidParameterValue as exc:
                    if resource == "job" and "does not exist" in str(exc).lower():
                        return None
                    raise
        except NotFoundError:
            return None

    def _read(self, kind: str, key: str, fetch: Callable[[], T]) -> T | None:
        """`fetch()` once per run under `(kind, key)`, None when the object does not exist."""
        return self._cached(kind, key, lambda: self._absent_as_none(kind, key, fetch))

    def _exists(self, kind: str, name: str, get: Callable[[str], object]) -> bool:
        """Whether `get(path_segment(name))` finds the object, asked once per run."""
        key = name.lower()

        def fetch() -> bool:
            return self._absent_as_none(kind, key, lambda: get(path_segment(key))) is not None

        return self._cached(kind, key, fetch)

    # ---------------------------------------------------------------- reads of docs/WORKFLOW.md §9.2

    def identity(self) -> str:
        """The service principal's user name (`current_user.me().user_name`), asked once per client."""
        raw = self.workspace.raw
        with _identity_guard:
            cached = _identities.get(raw)
        if cached is not None:
            return cached
        with upstream("user"):
            me = self.ws.current_user.me()
        name = me.user_name or ""
        with _identity_guard:
            _identities[raw] = name
        return name

    def recipient(self, name: str) -> SdkRecipientInfo | None:
        """`recipients.get(name)`, None when absent."""
        key = name.lower()
        return self._read("recipient", key, lambda: self.ws.recipients.get(path_segment(key)))

    def recipients_with_org(self, org: str) -> list[str]:
        """Names of recipients bound to a D2D sharing identifier (`recipients.list` filtered by it)."""

        def fetch() -> list[str]:
            with upstream("recipient"):
                found = self.ws.recipients.list(data_recipient_global_metastore_id=org)
            return sorted((info.name or "").lower() for info in found)

        return self._cached("recipients_with_org", org.lower(), fetch)

    def share(self, name: str) -> SdkShareInfo | None:
        """`shares.get(name, include_shared_data=True)`, None when absent."""
        key = name.lower()
        return self._read(
            "share", key, lambda: self.ws.shares.get(path_segment(key), include_shared_data=True)
        )

    def share_grants(self, name: str) -> frozenset[str]:
        """Recipients holding SELECT on an existing share (every permissions page, followed by hand)."""
        key = name.lower()

        def fetch() -> frozenset[str]:
            return frozenset(
                assignment.principal.lower()
                for assignment in iter_share_permissions(self.ws, key)
                if assignment.principal
                and SELECT in {enum_text(p) for p in assignment.privileges or []}
            )

        return self._cached("share_grants", key, fetch)

    def table(self, full_name: str) -> SdkTableInfo | None:
        """The table (type, properties, columns), None when absent (serves asset types and pipeline sources).

        A table planned into its schema's listing (`list_schema_tables`) is taken from it. One the listing does
        not hold (absent, hidden from the listing by its privileges, or on a page the listing did not reach) is
        read alone with `tables.get`, whose answer is exactly the one a run without the listing gets. Any other
        table: `tables.get(full_name)`.
        """
        key = full_name.lower()

        def fetch() -> SdkTableInfo | None:
            with self._guard:
                planned = self._listed_tables.get(key)
            if planned is not None:
                listing = self._schema_tables(planned)
                if listing.missing_schema:
                    return None  # the schema (or its catalog) does not exist: no table in it does
                found = listing.tables.get(key)
                if found is not None:
                    return found
            return self._absent_as_none("table", key, lambda: self.ws.tables.get(path_segment(key)))

        return self._cached("table", key, fetch)

    def list_schema_tables(self, schema: str, names: Iterable[str], *, details: bool) -> None:
        """Read the tables `names` of one schema with one hand-paged `tables.list` (docs/WORKFLOW.md §9.2).

        Without `details` the listing omits columns, properties and user names (asset types only), and serves the
        names for their type only: a later `table()` of any other table of the schema still reads it alone. The
        listing stops when it could no longer cost fewer calls than one `tables.get` per name (after
        `len(names) - 1` pages); the names it did not reach are then read alone. A failed listing stays cached
        and is raised for each of the names (the same issue per object as their single reads).
        """
        key = schema.lower()
        wanted = sorted({name.lower() for name in names})
        if not wanted:
            return
        with self._guard:
            for name in wanted:
                self._listed_tables[name] = _TablePlan(key, details, len(wanted))
        self._schema_tables(self._listed_tables[wanted[0]])

    def _schema_tables(self, plan: _TablePlan) -> _SchemaTables:
        def fetch() -> _SchemaTables:
            catalog_name, schema_name = plan.schema.split(".", 1)
            query: dict[str, Any] = {
                "catalog_name": catalog_name,
                "schema_name": schema_name,
                "max_results": TABLES_PAGE,
            }
            if not plan.details:
                query.update(omit_columns=True, omit_properties=True, omit_username=True)
            paged = self._absent_as_none(
                "table",
                plan.schema,
                partial(
                    self._paged,
                    "tables.list",
                    "/api/2.1/unity-catalog/tables",
                    query,
                    "tables",
                    budget=plan.names - 1,
                ),
            )
            if paged is None:
                return _SchemaTables({}, missing_schema=True)
            tables = (SdkTableInfo.from_dict(item) for item in paged[0])
            return _SchemaTables({(t.full_name or "").lower(): t for t in tables if t.full_name})

        return self._cached("schema_tables", f"{plan.schema}|{plan.details}", fetch)

    def schema_exists(self, full_name: str) -> bool:
        """`schemas.get("catalog.schema")` found it."""
        return self._exists("schema", full_name, self.ws.schemas.get)

    def volume_exists(self, full_name: str) -> bool:
        """`volumes.read("catalog.schema.volume")` found it (read once per run)."""
        return self._exists("volume", full_name, self.ws.volumes.read)

    def model_exists(self, full_name: str) -> bool:
        """`registered_models.get("catalog.schema.model")` found it (read once per run)."""
        return self._exists("model", full_name, self.ws.registered_models.get)

    def catalog_exists(self, name: str) -> bool:
        """`catalogs.get(name)` found it."""
        return self._exists("catalog", name, self.ws.catalogs.get)

    def workspace_object_type(self, path: str) -> str | None:
        """`workspace.get_status(path).object_type` (NOTEBOOK, FILE, …), None when absent."""

        def fetch() -> str | None:
            info = self._absent_as_none(
                "notebook", path, lambda: self.ws.workspace.get_status(path)
            )
            return None if info is None else enum_text(info.object_type)

        return self._cached("workspace_object", path, fetch)

    def notebook_content(self, path: str) -> str:
        """Base64 source of a notebook (`workspace.export(path, format=SOURCE)`), read only when it is added."""

        def fetch() -> str:
            with upstream("notebook", path):
                exported = self.ws.workspace.export(path, format=ExportFormat.SOURCE)
            return exported.content or ""

        return self._cached("notebook_content", path, fetch)

    def pipeline(self, pipeline_id: str) -> GetPipelineResponse | None:
        """`pipelines.get(id)`, None when absent."""
        return self._read(
            "pipeline", pipeline_id, lambda: self.ws.pipelines.get(path_segment(pipeline_id))
        )

    def pipelines_named(self, name: str, *, fresh: bool = False) -> list[GetPipelineResponse]:
        """Pipelines whose name equals `name` (case-insensitive), then `get` per match.

        A name planned into the run's pipeline listing (`list_pipelines_for`) is looked for there when the listing
        finished within its budget; otherwise (and always when `fresh`: after a create that found the name
        taken) one filtered `list_pipelines`.
        """
        key = name.lower()

        def fetch() -> list[GetPipelineResponse]:
            listed = (
                self._pipeline_listing() if not fresh and key in self._listed_pipelines else None
            )
            infos: Iterable[PipelineStateInfo]
            if listed is not None:
                infos = listed.get(key, [])
            else:
                with upstream("pipeline", name):
                    infos = self.ws.pipelines.list_pipelines(
                        filter=like_filter(name), max_results=PIPELINES_PAGE
                    )
            matches = [
                info.pipeline_id
                for info in infos
                if (info.name or "").lower() == key and info.pipeline_id
            ]
            found = [self.pipeline(pipeline_id) for pipeline_id in matches]
            return [detail for detail in found if detail is not None]

        if fresh:
            self.forget("pipelines_named", key)
        return self._cached("pipelines_named", key, fetch)

    def list_pipelines_for(self, names: Iterable[str]) -> None:
        """Look for these pipeline names in one unfiltered, paged `list_pipelines` of the workspace.

        The listing may take fewer pages than the names it serves (one filtered list each otherwise): past that
        budget it is abandoned and every name gets its filtered list (docs/WORKFLOW.md §9.7 rule 2).
        """
        wanted = frozenset(name.lower() for name in names)
        with self._guard:
            self._listed_pipelines = self._listed_pipelines | wanted
        self._pipeline_listing()

    def _pipeline_listing(self) -> dict[str, list[PipelineStateInfo]] | None:
        def fetch() -> dict[str, list[PipelineStateInfo]] | None:
            with upstream("pipeline"):
                items, complete = self._paged(
                    "pipelines.list_pipelines",
                    "/api/2.0/pipelines",
                    {"max_results": PIPELINES_PAGE},
                    "statuses",
                    budget=len(self._listed_pipelines) - 1,
                )
            if not complete:  # past its budget: one filtered list per name is fewer calls
                return None
            by_name: dict[str, list[PipelineStateInfo]] = {}
            for item in items:
                info = PipelineStateInfo.from_dict(item)
                by_name.setdefault((info.name or "").lower(), []).append(info)
            return by_name

        return self._cached("pipeline_listing", "", fetch)

    def _paged(
        self, operation: str, path: str, query: dict[str, Any], items_field: str, *, budget: int
    ) -> tuple[list[dict[str, Any]], bool]:
        """The items of a listing paged by hand, each page one counted read (docs/WORKFLOW.md §9.7), at most
        `budget` pages: `(items, True)` when the listing ended within them, `(items read so far, False)` otherwise.
        """
        items: list[dict[str, Any]] = []
        token: str | None = None
        api = self.workspace.raw.api_client
        headers = {"Accept": "application/json"}  # as the SDK's own list methods send
        workspace_id = getattr(self.workspace.raw.config, "workspace_id", None)
        if workspace_id:
            headers["X-Databricks-Workspace-Id"] = str(workspace_id)
        for _ in range(max(0, budget)):
            page_query = {**query, **({"page_token": token} if token else {})}
            page: dict[str, Any] = self.workspace.wrap(
                operation, partial(api.do, "GET", path, query=page_query, headers=headers), False
            )()
            items.extend(page.get(items_field) or [])
            token = page.get("next_page_token")
            if not token:
                return items, True
        return items, False

    def job(self, job_id: int) -> Job | None:
        """`jobs.get(job_id)`, None when the job does not exist."""
        return self._read("job", str(job_id), lambda: self.ws.jobs.get(job_id))

    def jobs_named(self, name: str) -> list[BaseJob]:
        """Jobs named exactly `name` (case-insensitive), with their tasks.

        A name planned into the run's job listing (`list_jobs_for`) is looked for there when the listing finished
        within its budget; otherwise one `jobs.list(name=…)`.
        """
        key = name.lower()

        def fetch() -> list[BaseJob]:
            listed = self._job_listing() if key in self._listed_jobs else None
            if listed is not None:
                return listed.get(key, [])
            with upstream("job", name):
                found = self.ws.jobs.list(name=name, expand_tasks=True)
            return [job for job in found if job_name_of(job).lower() == key]

        return self._cached("jobs_named", key, fetch)

    def list_jobs_for(self, names: Iterable[str]) -> None:
        """Look for these job names in one paged `jobs.list` of the workspace (with tasks), within the same
        budget as `list_pipelines_for`."""
        wanted = frozenset(name.lower() for name in names)
        with self._guard:
            self._listed_jobs = self._listed_jobs | wanted
        self._job_listing()

    def _job_listing(self) -> dict[str, list[BaseJob]] | None:
        def fetch() -> dict[str, list[BaseJob]] | None:
            with upstream("job"):
                items, complete = self._paged(
                    "jobs.list",
                    "/api/2.2/jobs/list",
                    {"limit": JOBS_PAGE, "expand_tasks": True},
                    "jobs",
                    budget=len(self._listed_jobs) - 1,
                )
            if not complete:  # past its budget: one filtered list per name is fewer calls
                return None
            by_name: dict[str, list[BaseJob]] = {}
            for item in items:
                job = BaseJob.from_dict(item)
                key = job_name_of(job).lower()
                if key not in self._listed_jobs:
                    continue
                if job.has_more and job.job_id is not None and job.settings is not None:
                    # More than 100 tasks: the listing shows the first ones; the job read gives them all.
                    whole = self.job(job.job_id)
                    if whole is not None and whole.settings is not None:
                        job.settings.tasks = whole.settings.tasks
                by_name.setdefault(key, []).append(job)
            return by_name

        return self._cached("job_listing", "", fetch)


# ------------------------------------------------------------------------------------------ stage-5 helpers


def recipient_ips(info: SdkRecipientInfo) -> list[str]:
    """The live IP allowlist of a recipient (empty when none)."""
    return list(info.ip_access_list.allowed_ip_addresses or []) if info.ip_access_list else []


def allowlist_check(resolve: Callable[[str], object]) -> Callable[[str], bool]:
    """The live checks' allowlist test from an allowlist resolver that raises for a URL it refuses (no network)."""

    def allowed(url: str) -> bool:
        try:
            resolve(url)
        except (ForbiddenError, InvalidRequest):
            return False
        return True

    return allowed


# ------------------------------------------------------------------------------------------ prefetch


@dataclass(frozen=True)
class PrefetchPlan:
    """What the stage-5 checks and the diff will read, grouped in two waves (the second needs the first)."""

    pack: SharePack
    recorded_pipeline_ids: dict[str, str]  # lower-case pipeline name -> id
    recorded_jobs: dict[str, int]  # lower-case job name -> id
    job_name_suffix: str


def prefetch(reader: LiveReader, plan: PrefetchPlan, parallel: int) -> None:
    """Warm the cache with every read the checks and the diff need, `parallel` at a time (docs/WORKFLOW.md §9.2, §9.7).

    Independent reads: recipients (declared and granted), shares, target catalogs and schemas, pipelines (by
    recorded id; the others by name: one listing of the workspace for several names, else a filtered list) and
    schedule jobs (the same way). Reads that need another one start as soon as it is answered: the grants of an
    existing share whose recipients are managed and the type of every asset not yet in it (after the share; a
    declared volume or model is read as such), the in-use check of a D2D identifier (after its recipient turned out
    absent). Once every share is read, the tables the run needs (assets not yet in their share, pipeline sources)
    are read per schema: one `tables.list` for a schema where several are needed, `tables.get` for a lone one.
    """
    pack = plan.pack
    tasks = _Tasks(parallel)
    guard = threading.Lock()
    # Tables the run needs, by schema: lower-case full name -> needs details (a pipeline source).
    needed: dict[str, dict[str, bool]] = {}
    pending_shares = [len(pack.share)]

    def need(full_name: str, *, details: bool) -> None:
        name = full_name.lower()
        schema = name.rsplit(".", 1)[0]
        with guard:
            tables = needed.setdefault(schema, {})
            tables[name] = tables.get(name, False) or details

    def tables_then() -> None:
        for schema, tables in sorted(needed.items()):
            if len(tables) == 1:
                tasks.submit(partial(reader.table, next(iter(tables))))
            else:
                tasks.submit(
                    partial(
                        reader.list_schema_tables,
                        schema,
                        sorted(tables),
                        details=any(tables.values()),
                    )
                )

    def share_then(share: Share) -> None:
        try:
            share_assets(share)
        finally:
            with guard:
                pending_shares[0] -= 1
                last = pending_shares[0] == 0
            if last:
                tasks.submit(tables_then)

    def share_assets(share: Share) -> None:
        live = _peek(partial(reader.share, share.name))
        managed_grants = any(
            getattr(share, key) is not None
            for key in ("recipients", "recipients_to_add", "recipients_to_remove")
        )
        if live is not None and managed_grants:
            tasks.submit(partial(reader.share_grants, share.name))
        in_share = {(obj.name or "").lower() for obj in (live.objects if live else None) or []}
        for asset in [*(share.share_assets or []), *(share.share_assets_to_add or [])]:
            if asset.name.lower() in in_share:
                continue
            parsed = parse_asset_name(asset.name)
            if asset.type == "VOLUME":
                tasks.submit(partial(reader.volume_exists, parsed.name))
            elif asset.type == "MODEL":
                tasks.submit(partial(reader.model_exists, parsed.name))
            elif parsed.kind == "table":
                need(parsed.name, details=False)
            elif parsed.kind == "schema":
                tasks.submit(partial(reader.schema_exists, parsed.name))
            else:
                tasks.submit(partial(reader.workspace_object_type, asset.name))

    def recipient_then(name: str, org: str | None) -> None:
        if _peek(partial(reader.recipient, name)) is None and org is not None:
            tasks.submit(partial(reader.recipients_with_org, org))

    def by_name_then(
        list_for: Callable[[Iterable[str]], None],
        named: Callable[[str], object],
        names: list[str],
    ) -> None:
        try:
            list_for(names)
        finally:  # a failed listing stays cached: each name's read raises it where it is used
            for name in names:
                tasks.submit(partial(named, name))

    with tasks:
        for share in pack.share:
            for pipeline in share.pipelines or []:
                need(pipeline.source_asset, details=True)
        if not pack.share:
            tasks.submit(tables_then)
        for share in pack.share:
            tasks.submit(partial(share_then, share))
        orgs = {recipient.name: recipient.recipient_databricks_org for recipient in pack.recipient}
        names = set(orgs)
        for share in pack.share:
            for key in ("recipients", "recipients_to_add"):
                names.update(getattr(share, key) or [])
        for name in sorted(names):
            tasks.submit(partial(recipient_then, name, orgs.get(name)))
        targets: set[tuple[str, str]] = set()
        pipeline_names: list[str] = []
        job_names: list[str] = []
        for share in pack.share:
            for pipeline in share.pipelines or []:
                delta = share.delta_share
                catalog = pipeline.ext_catalog_name or (delta.ext_catalog_name if delta else None)
                schema = pipeline.ext_schema_name or (delta.ext_schema_name if delta else None)
                if catalog and schema:
                    targets.add((catalog, schema))
                recorded = plan.recorded_pipeline_ids.get(pipeline.name_prefix.lower())
                if recorded is not None:
                    tasks.submit(partial(reader.pipeline, recorded))
                else:
                    pipeline_names.append(pipeline.name_prefix)
                if isinstance(pipeline.schedule, CronSchedule):
                    job_name = f"{pipeline.name_prefix}{plan.job_name_suffix}"
                    job_id = plan.recorded_jobs.get(job_name.lower())
                    if job_id is not None:
                        tasks.submit(partial(reader.job, job_id))
                    else:
                        job_names.append(job_name)
        # Several names: one listing of the workspace (within its budget) serves them all; one name: its
        # filtered list (docs/WORKFLOW.md §9.7 rule 2).
        for found, list_for, named in (
            (pipeline_names, reader.list_pipelines_for, reader.pipelines_named),
            (job_names, reader.list_jobs_for, reader.jobs_named),
        ):
            if len(found) > 1:
                tasks.submit(partial(by_name_then, list_for, named, found))
            else:
                for name in found:
                    tasks.submit(partial(named, name))
        for catalog in sorted({catalog for catalog, _ in targets}):
            tasks.submit(partial(reader.catalog_exists, catalog))
        for catalog, schema in sorted(targets):
            tasks.submit(partial(reader.schema_exists, f"{catalog}.{schema}"))


class _Tasks:
    """A thread pool whose tasks may submit follow-up tasks; leaving the block waits for all of them.

    Read failures stay in the reader's cache (they surface where the value is used), so tasks never fail here.
    """

    def __init__(self, parallel: int) -> None:
        self._pool = ThreadPoolExecutor(max_workers=max(1, parallel), thread_name_prefix="live")
        self._futures: list[Future[None]] = []
        self._guard = threading.Lock()

    def submit(self, read: Callable[[], object]) -> None:
        """Run `read` for its cache effect; failures stay cached and surface where the value is used."""

        def run() -> None:
            with contextlib.suppress(AppError):
                read()

        future = self._pool.submit(run)
        with self._guard:
            self._futures.append(future)

    def __enter__(self) -> _Tasks:
        return self

    def __exit__(self, *exc_info: object) -> None:
        try:
            index = 0
            while True:
                with self._guard:
                    if index >= len(self._futures):
                        break
                    future = self._futures[index]
                # A task submits its follow-ups before it completes: once every known task has completed, no
                # further task can appear.
                future.result()
                index += 1
        finally:
            self._pool.shutdown(wait=True)


def _peek[V](read: Callable[[], V]) -> V | None:
    """A cached value, None when its read failed."""
    try:
        return read()
    except AppError:
        return None
