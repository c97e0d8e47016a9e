"""Seed files (docs/EMULATOR.md §5): YAML loading, validation and the packaged seeds.

A seed is validated in full before any state is built: unknown keys, wrong types, invalid names and broken
references are reported together as `SeedError`, each problem prefixed with its path
(`catalogs[0].schemas[1].tables[2].table_type: …`). Times are RFC 3339 or relative to the clock's start (`-2d`,
`+80d`, `-3h`, `-90m`, `-45s`); they stay as written here and are resolved when state is built.

Seeds may start with `extends: <packaged name or path>`: the base is loaded first, then the mappings
(`workspace`, `behaviour`, `simulation`) are deep-merged and the lists appended. The packaged `default` seed
extends `minimal` this way.
"""

from __future__ import annotations

import re
from datetime import datetime
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
)

from dbrx_emulator.clock import parse_relative, parse_rfc3339
from dbrx_emulator.config import Behaviour, Simulation, deep_merge
from dbrx_emulator.names import column_type, ip_problem, is_valid_uc_name

SEEDS_DIR = Path(__file__).parent / "seeds"
PACKAGED_SEEDS = {
    "default": SEEDS_DIR / "default_seed.yaml",
    "minimal": SEEDS_DIR / "minimal_seed.yaml",
}
DEFAULT_METASTORE_ID = "6f1e2d3c-4b5a-4978-8a9b-0c1d2e3f4a5b"
DEFAULT_ACCOUNT_ID = "0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d"
DEFAULT_KNOWN_METASTORES = [
    "aws:us-east-1:0f1e2d3c-4b5a-4978-8a9b-0c1d2e3f4a5b",
    "azure:northeurope:1a2b3c4d-5e6f-4a0b-9c1d-2e3f4a5b6c7d",
]
_MERGED_SECTIONS = ("workspace", "behaviour", "simulation")
_MAX_EXTENDS_DEPTH = 5
_SHARING_ID = re.compile(r"^[a-z0-9]+:[a-z0-9-]+:[0-9a-fA-F-]{36}$")


class SeedError(Exception):
    """A seed that cannot be loaded; `problems` lists `path: message` strings."""

    def __init__(self, problems: list[str], source: str = "seed") -> None:
        super().__init__(f"invalid {source}:\n  " + "\n  ".join(problems))
        self.problems = problems
        self.source = source


def _time_value(value: object) -> object:
    if isinstance(value, datetime | int) and not isinstance(value, bool):
        return value
    if isinstance(value, str):
        if parse_relative(value) is not None:
            return value
        try:
            parse_rfc3339(value)
        except ValueError:
            pass
        else:
            return value
    raise ValueError(
        "expected an RFC 3339 time or a relative time such as -2d, +80d, -3h, -90m, -45s"
    )


def _uc_name(value: str) -> str:
    if not is_valid_uc_name(value):
        raise ValueError(f"'{value}' is not a valid Unity Catalog name")
    return value.lower()


def _full_name(parts: int) -> Any:
    def check(value: str) -> str:
        pieces = value.split(".")
        if len(pieces) != parts or not all(is_valid_uc_name(p) for p in pieces):
            raise ValueError(f"'{value}' is not a {parts}-part Unity Catalog name")
        return value.lower()

    return check


TimeValue = Annotated[str | datetime | int, BeforeValidator(_time_value)]
UcName = Annotated[str, AfterValidator(_uc_name)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class CurrentUserSeed(_Strict):
    """The principal of every token."""

    user_name: str = "00000000-0000-0000-0000-00000000c0de"
    display_name: str = "deltashare-sp"
    kind: Literal["service_principal", "user"] = "service_principal"
    id: str = "7315029461820394"
    emails: list[str] = Field(default_factory=list)
    groups: list[str] = Field(default_factory=list)
    entitlements: list[str] = Field(default_factory=list)


class WorkspaceSeed(_Strict):
    """The `workspace` section (docs/EMULATOR.md §5.1)."""

    workspace_id: str = "1234567890123456"
    account_id: str = DEFAULT_ACCOUNT_ID
    metastore_id: str = DEFAULT_METASTORE_ID
    cloud: str = "azure"
    region: str = "westeurope"
    sharing_identifier: str | None = None
    known_metastores: list[str] = Field(default_factory=lambda: list(DEFAULT_KNOWN_METASTORES))
    current_user: CurrentUserSeed = Field(default_factory=CurrentUserSeed)
    metastore_admin: bool = False
    metastore_storage_root: str | None = "abfss://uc@storage.dfs.core.windows.net/root"
    token_lifetime_seconds: int = Field(default=7_776_000, ge=1)

    @property
    def own_sharing_identifier(self) -> str:
        """This metastore's sharing identifier."""
        return self.sharing_identifier or f"{self.cloud}:{self.region}:{self.metastore_id}"


class ColumnSeed(_Strict):
    """A column; also written as a `"name TYPE"` string."""

    name: str
    type: str
    nullable: bool = True
    comment: str | None = None

    @field_validator("type")
    @classmethod
    def _known_type(cls, value: str) -> str:
        column_type(value)  # ValueError for unknown types
        return value


def _column(value: object) -> object:
    if isinstance(value, str):
        pieces = value.strip().split(None, 1)
        if len(pieces) != 2:
            raise ValueError("a column string must read 'name TYPE'")
        name, type_text = pieces
        nullable = True
        if type_text.upper().endswith(" NOT NULL"):
            type_text, nullable = type_text[: -len(" NOT NULL")].strip(), False
        return {"name": name, "type": type_text, "nullable": nullable}
    return value


TableTypeName = Literal[
    "MANAGED",
    "EXTERNAL",
    "VIEW",
    "MATERIALIZED_VIEW",
    "STREAMING_TABLE",
    "METRIC_VIEW",
    "FOREIGN",
    "EXTERNAL_SHALLOW_CLONE",
    "MANAGED_SHALLOW_CLONE",
]


class TableSeed(_Strict):
    """A table, view or other table-like object."""

    name: UcName
    table_type: TableTypeName = "MANAGED"
    data_source_format: str | None = None
    columns: list[Annotated[ColumnSeed, BeforeValidator(_column)]] = Field(default_factory=list)
    properties: dict[str, str] = Field(default_factory=dict)
    current_version: int = Field(default=0, ge=0)
    row_count: int = Field(default=1000, ge=0)
    owner_can_select: bool = True
    owner: str | None = None
    comment: str | None = None
    view_definition: str | None = None
    storage_location: str | None = None
    pipeline_id: str | None = None
    created: TimeValue | None = None


class VolumeSeed(_Strict):
    """A Unity Catalog volume (metadata only)."""

    name: UcName
    volume_type: Literal["MANAGED", "EXTERNAL"] = "MANAGED"
    storage_location: str | None = None
    comment: str | None = None
    owner: str | None = None
    created: TimeValue | None = None


class ModelSeed(_Strict):
    """A Unity Catalog registered model (metadata only; no versions)."""

    name: UcName
    comment: str | None = None
    owner: str | None = None
    created: TimeValue | None = None


class SchemaSeed(_Strict):
    """A schema, its tables, volumes and registered models."""

    name: UcName
    comment: str | None = None
    owner: str | None = None
    storage_root: str | None = None
    properties: dict[str, str] = Field(default_factory=dict)
    tables: list[TableSeed] = Field(default_factory=list)
    volumes: list[VolumeSeed] = Field(default_factory=list)
    models: list[ModelSeed] = Field(default_factory=list)


class CatalogSeed(_Strict):
    """A catalog and its schemas."""

    name: UcName
    comment: str | None = None
    owner: str | None = None
    storage_root: str | None = None
    catalog_type: Literal["MANAGED_CATALOG", "DELTASHARING_CATALOG", "FOREIGN_CATALOG"] = (
        "MANAGED_CATALOG"
    )
    properties: dict[str, str] = Field(default_factory=dict)
    schemas: list[SchemaSeed] = Field(default_factory=list)


class ExternalLocationSeed(_Strict):
    """An external location."""

    name: UcName
    url: str
    credential_name: str
    comment: str | None = None
    owner: str | None = None
    read_only: bool = False


class WorkspaceObjectSeed(_Strict):
    """A FILE or NOTEBOOK workspace object (parent folders are implied)."""

    path: str = Field(pattern=r"^/\S.*$")
    type: Literal["FILE", "NOTEBOOK", "DIRECTORY"] = "FILE"
    language: Literal["PYTHON", "SQL", "SCALA", "R"] | None = None
    content: str = ""


class PartitionValueSeed(_Strict):
    """A partition filter value of a shared table."""

    name: str
    op: Literal["EQUAL", "LIKE"]
    value: str | None = None
    recipient_property_key: str | None = None


class PartitionSeed(_Strict):
    """A partition specification of a shared table."""

    values: list[PartitionValueSeed]


class SharedObjectSeed(_Strict):
    """An object of a seeded share (same fields as `SharedDataObject`)."""

    name: str
    data_object_type: str = "TABLE"
    shared_as: str | None = None
    string_shared_as: str | None = None
    history_data_sharing_status: Literal["ENABLED", "DISABLED"] | None = None
    cdf_enabled: bool | None = None
    start_version: int | None = None
    partitions: list[PartitionSeed] | None = None
    comment: str | None = None
    content: str | None = None


_SELECT_ONLY: tuple[Literal["SELECT"]] = ("SELECT",)


class GrantSeed(_Strict):
    """A grant of a seeded share to a recipient."""

    principal: UcName
    privileges: list[Literal["SELECT"]] = Field(default_factory=lambda: list(_SELECT_ONLY))


class ShareSeed(_Strict):
    """A pre-existing share (docs/EMULATOR.md §5.3)."""

    name: UcName
    comment: str | None = None
    owner: str | None = None
    storage_root: str | None = None
    created: TimeValue | None = None
    objects: list[SharedObjectSeed] = Field(default_factory=list)
    grants: list[GrantSeed] = Field(default_factory=list)


class TokenSeed(_Strict):
    """A recipient token with its history."""

    created: TimeValue = "-0s"
    expires: TimeValue | None = None
    activated: bool = False


class RecipientSeed(_Strict):
    """A pre-existing recipient (docs/EMULATOR.md §5.3)."""

    name: UcName
    authentication_type: Literal["TOKEN", "DATABRICKS"]
    comment: str | None = None
    owner: str | None = None
    created: TimeValue | None = None
    ip_access_list: list[str] | None = None
    properties: dict[str, str] = Field(default_factory=dict)
    sharing_code: str | None = None
    data_recipient_global_metastore_id: str | None = None
    expiration_time: TimeValue | None = None
    tokens: list[TokenSeed] | None = None  # None: one fresh token for TOKEN recipients


def _duration_ms(value: object) -> object:
    """A positive duration: `1h`, `90m`, `1d`, `45s`, `500ms` (a leading sign is ignored) or milliseconds."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str):
        text = value.strip()
        offset = parse_relative(text if text[:1] in "+-" else "+" + text)
        if offset is not None:
            return abs(offset)
    raise ValueError("expected a duration such as 1h, 90m, 1d, 45s or 500ms")


Duration = Annotated[int, BeforeValidator(_duration_ms), Field(gt=0)]


def _as_list(value: object) -> object:
    """A single mapping stands for a one-element list (`history: {count: 10, every: 1h}`)."""
    return [value] if isinstance(value, dict) else value


class UpdateRowsSeed(_Strict):
    """Row metrics of a seeded pipeline update."""

    output: int = Field(ge=0)
    upserted: int = Field(ge=0)
    deleted: int = Field(default=0, ge=0)
    dropped: int = Field(default=0, ge=0)


class UpdateSeed(_Strict):
    """A historical pipeline update (docs/EMULATOR.md §5.4)."""

    start: TimeValue
    cause: str = "API_CALL"
    outcome: Literal["COMPLETED", "FAILED", "CANCELED"] = "COMPLETED"
    full_refresh: bool = False
    validate_only: bool = False
    error: str | None = None
    rows: UpdateRowsSeed | None = None


class UpdateHistorySeed(_Strict):
    """Generated update history: `count` updates `every` apart, the newest starting at `last`.

    Every `failed_every`-th update (counting from the oldest) fails, every `full_refresh_every`-th is a full refresh;
    rows are simulated.
    """

    count: int = Field(ge=1, le=1_000_000)
    every: Duration
    last: TimeValue = "-1h"
    cause: str = "API_CALL"
    outcome: Literal["COMPLETED", "FAILED", "CANCELED"] = "COMPLETED"
    failed_every: int | None = Field(default=None, ge=1)
    full_refresh_every: int | None = Field(default=None, ge=1)


class PipelineSeed(_Strict):
    """A pipeline with update history (docs/EMULATOR.md §5.4); `spec` holds CreatePipeline fields.

    With `count`, the entry stands for `count` pipelines: `{n}` (or a format such as `{n:03d}`) in any string of
    `name`, `spec` and `flows` is replaced by 0 … count-1.
    """

    name: str
    count: int | None = Field(default=None, ge=1, le=100_000)
    pipeline_id: str | None = None
    created: TimeValue | None = None
    spec: dict[str, Any] = Field(default_factory=dict)
    flows: list[str] | None = None
    updates: list[UpdateSeed] = Field(default_factory=list)
    history: Annotated[list[UpdateHistorySeed], BeforeValidator(_as_list)] = Field(
        default_factory=list
    )


class RunSeed(_Strict):
    """A historical job run (docs/EMULATOR.md §5.4)."""

    start: TimeValue
    trigger: Literal["PERIODIC", "ONE_TIME", "RETRY"] = "PERIODIC"
    outcome: Literal["SUCCESS", "FAILED", "CANCELED", "SKIPPED"] = "SUCCESS"


class RunHistorySeed(_Strict):
    """Generated run history: `count` runs `every` apart, the newest starting at `last`.

    Every `failed_every`-th run (counting from the oldest) fails. A run of a pipeline job gets a `JOB_TASK` update.
    """

    count: int = Field(ge=1, le=1_000_000)
    every: Duration
    last: TimeValue = "-1h"
    trigger: Literal["PERIODIC", "ONE_TIME", "RETRY"] = "PERIODIC"
    outcome: Literal["SUCCESS", "FAILED", "CANCELED", "SKIPPED"] = "SUCCESS"
    failed_every: int | None = Field(default=None, ge=1)


class JobSeed(_Strict):
    """A job with run history (docs/EMULATOR.md §5.4); `settings` holds JobSettings fields.

    Pipeline tasks may name a seeded pipeline (`pipeline_task: {pipeline: <name>}`). `count` expands the entry as
    for pipelines (`{n}` in `name` and `settings`).
    """

    name: str
    count: int | None = Field(default=None, ge=1, le=100_000)
    job_id: int | None = None
    created: TimeValue | None = None
    settings: dict[str, Any] = Field(default_factory=dict)
    runs: list[RunSeed] = Field(default_factory=list)
    history: Annotated[list[RunHistorySeed], BeforeValidator(_as_list)] = Field(
        default_factory=list
    )


class Seed(_Strict):
    """A whole seed file."""

    extends: str | None = None
    workspace: WorkspaceSeed = Field(default_factory=WorkspaceSeed)
    catalogs: list[CatalogSeed] = Field(default_factory=list)
    external_locations: list[ExternalLocationSeed] = Field(default_factory=list)
    workspace_objects: list[WorkspaceObjectSeed] = Field(default_factory=list)
    shares: list[ShareSeed] = Field(default_factory=list)
    recipients: list[RecipientSeed] = Field(default_factory=list)
    pipelines: list[PipelineSeed] = Field(default_factory=list)
    jobs: list[JobSeed] = Field(default_factory=list)
    behaviour: Behaviour = Field(default_factory=Behaviour)
    simulation: Simulation = Field(default_factory=Simulation)


# ------------------------------------------------------------------------------------------------ loading


class _UniqueKeyLoader(yaml.SafeLoader):
    """SafeLoader that rejects duplicate mapping keys (PyYAML would keep the last silently)."""


def _construct_mapping(loader: _UniqueKeyLoader, node: yaml.MappingNode) -> dict[Any, Any]:
    seen: set[Any] = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node)
        if key in seen:
            raise yaml.constructor.ConstructorError(
                None,
                None,
                f"duplicate key '{key}' (line {key_node.start_mark.line + 1})",
                key_node.start_mark,
            )
        seen.add(key)
    return loader.construct_mapping(node)


_UniqueKeyLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def _path(loc: tuple[int | str, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif not part.startswith(("function-", "str", "datetime", "int", "json-or-python")):
            out += f".{part}" if out else part
    return out or "<root>"


def resolve_seed_path(name_or_path: str, relative_to: Path | None = None) -> Path:
    """The file of a packaged seed name (`default`, `minimal`) or a path (relative to `relative_to`)."""
    packaged = PACKAGED_SEEDS.get(name_or_path)
    if packaged is not None:
        return packaged
    path = Path(name_or_path).expanduser()
    if not path.is_absolute() and relative_to is not None:
        path = relative_to / path
    return path


def _read_yaml(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise SeedError([f"<file>: cannot read {path}: {exc.strerror}"], str(path)) from None
    try:
        data = yaml.load(text, Loader=_UniqueKeyLoader)  # noqa: S506 - a SafeLoader subclass
    except yaml.YAMLError as exc:
        raise SeedError([f"<yaml>: {exc}"], str(path)) from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise SeedError(["<root>: a seed must be a mapping"], str(path))
    return data


def _expand(raw: dict[str, Any], base_dir: Path | None, depth: int = 0) -> dict[str, Any]:
    """Resolve `extends` chains into one raw mapping."""
    parent_name = raw.get("extends")
    if parent_name is None:
        return raw
    if not isinstance(parent_name, str):
        raise SeedError(["extends: expected a seed name or path"])
    if depth >= _MAX_EXTENDS_DEPTH:
        raise SeedError([f"extends: more than {_MAX_EXTENDS_DEPTH} levels (a cycle?)"])
    parent_path = resolve_seed_path(parent_name, base_dir)
    parent = _expand(_read_yaml(parent_path), parent_path.parent, depth + 1)
    merged = {k: v for k, v in parent.items() if k != "extends"}
    for key, value in raw.items():
        if key == "extends":
            continue
        current = merged.get(key)
        if key in _MERGED_SECTIONS and isinstance(current, dict) and isinstance(value, dict):
            merged[key] = deep_merge(current, value)
        elif isinstance(current, list) and isinstance(value, list):
            merged[key] = current + value
        else:
            merged[key] = value
    return merged


def parse_seed(raw: dict[str, Any], base_dir: Path | None = None, source: str = "seed") -> Seed:
    """Validate a raw seed mapping (after resolving `extends`); SeedError lists every problem."""
    try:
        seed = Seed.model_validate(_expand(raw, base_dir))
    except ValidationError as exc:
        problems = [f"{_path(err['loc'])}: {err['msg']}" for err in exc.errors()]
        raise SeedError(problems, source) from None
    seed = expand_counts(seed, source)
    problems = check_references(seed)
    if problems:
        raise SeedError(problems, source)
    return seed


@lru_cache(maxsize=16)
def _load_file(path: Path, mtime_ns: int) -> Seed:  # noqa: ARG001 - mtime is part of the cache key
    return parse_seed(_read_yaml(path), path.parent, str(path))


def load_seed(source: str | Path) -> Seed:
    """Load a packaged seed by name or a YAML file (cached while the file is unchanged)."""
    path = resolve_seed_path(str(source))
    try:
        mtime = path.stat().st_mtime_ns
    except OSError:
        raise SeedError([f"<file>: seed file {path} does not exist"], str(path)) from None
    return _load_file(path.resolve(), mtime)


# ------------------------------------------------------------------------------------------------ counts

_PLACEHOLDER = re.compile(r"\{n(?::([^{}]*))?\}")


def _fill(value: Any, n: int) -> Any:
    """`value` with `{n}` / `{n:<format>}` in every string replaced by `n`."""
    if isinstance(value, str):
        return _PLACEHOLDER.sub(lambda m: format(n, m.group(1) or ""), value)
    if isinstance(value, dict):
        return {_fill(k, n): _fill(v, n) for k, v in value.items()}
    if isinstance(value, list):
        return [_fill(v, n) for v in value]
    return value


def expand_counts(seed: Seed, source: str = "seed") -> Seed:
    """Replace every pipeline or job entry that has a `count` by `count` entries (`{n}` = 0 … count-1)."""
    if not any(p.count for p in seed.pipelines) and not any(j.count for j in seed.jobs):
        return seed
    problems: list[str] = []
    pipelines: list[PipelineSeed] = []
    for index, pipeline in enumerate(seed.pipelines):
        if pipeline.count is None:
            pipelines.append(pipeline)
            continue
        if pipeline.pipeline_id is not None:
            problems.append(f"pipelines[{index}].pipeline_id: not allowed together with count")
            continue
        try:
            pipelines.extend(
                pipeline.model_copy(
                    update={
                        "count": None,
                        "name": _fill(pipeline.name, n),
                        "spec": _fill(pipeline.spec, n),
                        "flows": _fill(pipeline.flows, n),
                    }
                )
                for n in range(pipeline.count)
            )
        except ValueError as exc:
            problems.append(f"pipelines[{index}].name: invalid {{n}} format: {exc}")
    jobs: list[JobSeed] = []
    for index, job in enumerate(seed.jobs):
        if job.count is None:
            jobs.append(job)
            continue
        if job.job_id is not None:
            problems.append(f"jobs[{index}].job_id: not allowed together with count")
            continue
        try:
            jobs.extend(
                job.model_copy(
                    update={
                        "count": None,
                        "name": _fill(job.name, n),
                        "settings": _fill(job.settings, n),
                    }
                )
                for n in range(job.count)
            )
        except ValueError as exc:
            problems.append(f"jobs[{index}].name: invalid {{n}} format: {exc}")
    if problems:
        raise SeedError(problems, source)
    return seed.model_copy(update={"pipelines": pipelines, "jobs": jobs})


# ------------------------------------------------------------------------------------------------ references


def check_references(seed: Seed) -> list[str]:
    """Problems with references between seed sections (duplicates, unknown objects, unknown metastores)."""
    problems: list[str] = []
    tables: dict[str, TableSeed] = {}
    volumes: set[str] = set()
    models: set[str] = set()
    schemas: set[str] = set()
    catalogs: set[str] = set()
    for ci, catalog in enumerate(seed.catalogs):
        if catalog.name in catalogs:
            problems.append(f"catalogs[{ci}].name: duplicate catalog '{catalog.name}'")
        catalogs.add(catalog.name)
        for si, schema in enumerate(catalog.schemas):
            schema_name = f"{catalog.name}.{schema.name}"
            if schema_name in schemas:
                problems.append(
                    f"catalogs[{ci}].schemas[{si}].name: duplicate schema '{schema_name}'"
                )
            schemas.add(schema_name)
            for ti, table in enumerate(schema.tables):
                full = f"{schema_name}.{table.name}"
                if full in tables:
                    problems.append(
                        f"catalogs[{ci}].schemas[{si}].tables[{ti}].name: duplicate table '{full}'"
                    )
                tables[full] = table
            # Tables, volumes and models share one namespace per schema, as in Unity Catalog.
            named: list[tuple[str, int, str]] = [
                *(("volumes", i, v.name) for i, v in enumerate(schema.volumes)),
                *(("models", i, m.name) for i, m in enumerate(schema.models)),
            ]
            for section, index, item_name in named:
                full = f"{schema_name}.{item_name}"
                if full in tables or full in volumes or full in models:
                    problems.append(
                        f"catalogs[{ci}].schemas[{si}].{section}[{index}].name: name '{full}' is already used"
                    )
                (volumes if section == "volumes" else models).add(full)
    _check_unique(problems, "external_locations", [loc.name for loc in seed.external_locations])
    _check_unique(
        problems, "workspace_objects", [obj.path for obj in seed.workspace_objects], "path"
    )
    _check_unique(problems, "shares", [share.name for share in seed.shares])
    _check_unique(problems, "recipients", [recipient.name for recipient in seed.recipients])

    known = set(seed.workspace.known_metastores)
    recipient_names = {recipient.name for recipient in seed.recipients}
    for ri, recipient in enumerate(seed.recipients):
        where = f"recipients[{ri}]"
        if recipient.authentication_type == "DATABRICKS":
            target = recipient.data_recipient_global_metastore_id
            if target is None:
                problems.append(
                    f"{where}.data_recipient_global_metastore_id: required for DATABRICKS"
                )
            elif not _SHARING_ID.match(target) or target not in known:
                problems.append(
                    f"{where}.data_recipient_global_metastore_id: '{target}' is not in workspace.known_metastores"
                )
            if recipient.ip_access_list or recipient.tokens:
                problems.append(f"{where}: ip_access_list and tokens are for TOKEN recipients only")
        for index, address in enumerate(recipient.ip_access_list or []):
            message = ip_problem(address)
            if message:
                problems.append(f"{where}.ip_access_list[{index}]: {message}")

    for si, share in enumerate(seed.shares):
        for oi, obj in enumerate(share.objects):
            where = f"shares[{si}].objects[{oi}].name"
            kind = obj.data_object_type
            name = obj.name.lower()
            if kind == "SCHEMA" and name not in schemas:
                problems.append(f"{where}: schema '{obj.name}' is not in the seed")
            elif kind == "VOLUME" and name not in volumes:
                problems.append(f"{where}: volume '{obj.name}' is not in the seed")
            elif kind == "MODEL" and name not in models:
                problems.append(f"{where}: model '{obj.name}' is not in the seed")
            elif kind not in ("SCHEMA", "NOTEBOOK_FILE", "VOLUME", "MODEL") and name not in tables:
                problems.append(f"{where}: table '{obj.name}' is not in the seed")
        for gi, grant in enumerate(share.grants):
            if grant.principal not in recipient_names:
                problems.append(
                    f"shares[{si}].grants[{gi}].principal: recipient '{grant.principal}' is not in the seed"
                )

    name_counts: dict[str, int] = {}
    for pipeline in seed.pipelines:
        name_counts[pipeline.name] = name_counts.get(pipeline.name, 0) + 1
    _check_unique(
        problems,
        "pipelines",
        [p.pipeline_id for p in seed.pipelines if p.pipeline_id is not None],
        "pipeline_id",
    )
    _check_unique(
        problems, "jobs", [str(j.job_id) for j in seed.jobs if j.job_id is not None], "job_id"
    )
    for ji, job in enumerate(seed.jobs):
        tasks = job.settings.get("tasks") or []
        if not isinstance(tasks, list):
            continue
        for ti, task in enumerate(tasks):
            pipeline_task = task.get("pipeline_task") if isinstance(task, dict) else None
            if not isinstance(pipeline_task, dict) or "pipeline" not in pipeline_task:
                continue
            where = f"jobs[{ji}].settings.tasks[{ti}].pipeline_task.pipeline"
            count = name_counts.get(str(pipeline_task["pipeline"]), 0)
            if count == 0:
                problems.append(
                    f"{where}: pipeline '{pipeline_task['pipeline']}' is not in the seed"
                )
            elif count > 1:
                problems.append(
                    f"{where}: {count} seeded pipelines are named '{pipeline_task['pipeline']}'"
                )
    return problems


def _check_unique(
    problems: list[str], section: str, values: list[str], field: str = "name"
) -> None:
    seen: set[str] = set()
    for index, value in enumerate(values):
        if value in seen:
            problems.append(f"{section}[{index}].{field}: duplicate '{value}'")
        seen.add(value)
