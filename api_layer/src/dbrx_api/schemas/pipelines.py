"""Pipeline request and response models (docs/API.md §2.4, §7, §11.4-11.7)."""

from __future__ import annotations

import re
from typing import Literal, Self

from pydantic import Field, field_validator, model_validator
from pydantic_core import PydanticCustomError

from dbrx_api.schemas.common import (
    RequestModel,
    ResponseModel,
    Timestamp,
    reserved_name_problem,
    uc_full_name_problem,
    uc_name_problem,
)

MAX_NOTIFICATIONS = 50
MAX_TAGS = 25
ScdType = Literal["1", "2", "full_refresh"]
LibraryKind = Literal["file", "notebook", "glob"]
WORKSPACE_PREFIXES = ("/Workspace/", "/Repos/")

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_TARGET_TABLE = re.compile(r"^[A-Za-z0-9_]{1,255}$")


def pipeline_name_problem(value: str) -> str | None:
    """Why `value` is not a valid pipeline or job name (None when valid).

    1-255 characters; spaces and dots are allowed inside (Databricks allows them), but not the characters that
    change what a URL addresses (`/ ? # %`), control characters or whitespace at either end (docs/API.md §1.6).
    """
    if not 1 <= len(value) <= 255:
        return "must be 1-255 characters"
    return reserved_name_problem(value)


def email_or_group_problem(value: str) -> str | None:
    """Why `value` is neither an e-mail address nor an Entra ID group name (None when it is one)."""
    if not value or len(value) > 255 or _CONTROL.search(value) or "," in value:
        return "must be 1-255 characters without commas or control characters"
    if "@" in value and not _EMAIL.match(value):
        return "is not a valid e-mail address"
    return None


def check_principals(values: list[str], field: str) -> list[str]:
    """Validate e-mail/group entries: each valid, no duplicates (case-insensitive); returns them trimmed."""
    seen: set[str] = set()
    result: list[str] = []
    for index, raw in enumerate(values):
        value = raw.strip()
        problem = email_or_group_problem(value)
        if problem:
            raise PydanticCustomError(
                "email_or_group_invalid",
                "{field}[{index}] '{value}' {problem}",
                {"field": field, "index": index, "value": value, "problem": problem},
            )
        if value.lower() in seen:
            raise PydanticCustomError(
                "duplicate_value", "'{value}' appears more than once", {"value": value}
            )
        seen.add(value.lower())
        result.append(value)
    return result


def check_tags(value: dict[str, str] | None) -> dict[str, str] | None:
    """At most 25 tags; keys 1-255 characters, values at most 255."""
    if value is None:
        return None
    if len(value) > MAX_TAGS:
        raise PydanticCustomError("too_long", "at most {limit} tags", {"limit": MAX_TAGS})
    for key, item in value.items():
        if not 1 <= len(key) <= 255 or len(item) > 255:
            raise PydanticCustomError(
                "tag_invalid",
                "tag '{key}': keys need 1-255 characters and values at most 255",
                {"key": key[:50]},
            )
    return value


def split_key_columns(value: object) -> object:
    """Accept `["a", "b"]` or `"a, b"`; returns a list of trimmed names (validation follows)."""
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    if isinstance(value, list):
        return [item.strip() if isinstance(item, str) else item for item in value]
    return value


def check_key_columns(value: list[str] | None) -> list[str] | None:
    """Key columns: non-empty names without commas, no duplicates (case-insensitive)."""
    if value is None:
        return None
    seen: set[str] = set()
    for name in value:
        if not name or "," in name or len(name) > 255 or _CONTROL.search(name):
            raise PydanticCustomError(
                "name_invalid", "key column '{name}' is not a valid column name", {"name": name}
            )
        if name.lower() in seen:
            raise PydanticCustomError(
                "duplicate_value", "key column '{name}' appears more than once", {"name": name}
            )
        seen.add(name.lower())
    return value


def _check_target_table(value: str | None) -> str | None:
    if value is not None and not _TARGET_TABLE.match(value):
        raise PydanticCustomError(
            "name_invalid", "target_table must be 1-255 letters, digits or '_'"
        )
    return value


def _check_workspace_path(value: str | None, field: str) -> str | None:
    if value is None:
        return None
    if not value.startswith(WORKSPACE_PREFIXES) or _CONTROL.search(value) or "/../" in value:
        raise PydanticCustomError(
            "path_invalid",
            "{field} must be a workspace path starting with /Workspace/ or /Repos/",
            {"field": field},
        )
    return value.rstrip("/") if field == "root_path" else value


# ------------------------------------------------------------------------------------------ requests


class PipelineCreate(RequestModel):
    """Body of `POST /pipelines` (docs/API.md §7.3)."""

    name: str = Field(min_length=1, max_length=255)
    target_catalog_name: str = Field(min_length=1, max_length=255)
    target_schema_name: str = Field(min_length=1, max_length=255)
    source_table: str = Field(min_length=5, max_length=800)
    target_table: str | None = None
    scd_type: ScdType = "2"
    key_columns: list[str] | None = None
    serverless: bool | None = None
    continuous: bool = False
    notifications: list[str] | None = Field(None, max_length=MAX_NOTIFICATIONS)
    tags: dict[str, str] | None = None
    create_target_schema: bool = False

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        problem = pipeline_name_problem(value)
        if problem:
            raise PydanticCustomError(
                "name_invalid", "pipeline name {problem}", {"problem": problem}
            )
        return value

    @field_validator("target_catalog_name", "target_schema_name")
    @classmethod
    def _uc_names(cls, value: str) -> str:
        problem = uc_name_problem(value)
        if problem:
            raise PydanticCustomError("name_invalid", "name {problem}", {"problem": problem})
        return value.lower()

    @field_validator("source_table")
    @classmethod
    def _source(cls, value: str) -> str:
        problem = uc_full_name_problem(value, 3)
        if problem:
            raise PydanticCustomError(
                "name_invalid", "source_table {problem}", {"problem": problem}
            )
        return value.lower()

    @field_validator("target_table")
    @classmethod
    def _target(cls, value: str | None) -> str | None:
        return _check_target_table(value)

    @field_validator("scd_type", mode="before")
    @classmethod
    def _scd_as_text(cls, value: object) -> object:
        # 1 and 2 sent as JSON numbers are accepted, as share packs accept them.
        return str(value) if isinstance(value, int) and not isinstance(value, bool) else value

    @field_validator("key_columns", mode="before")
    @classmethod
    def _split_keys(cls, value: object) -> object:
        return split_key_columns(value)

    @field_validator("key_columns")
    @classmethod
    def _keys(cls, value: list[str] | None) -> list[str] | None:
        return check_key_columns(value)

    @field_validator("notifications")
    @classmethod
    def _notifications(cls, value: list[str] | None) -> list[str] | None:
        return None if value is None else check_principals(value, "notifications")

    @field_validator("tags")
    @classmethod
    def _tags(cls, value: dict[str, str] | None) -> dict[str, str] | None:
        return check_tags(value)

    @property
    def effective_target_table(self) -> str:
        """`target_table`, defaulting to the last part of `source_table`."""
        return self.target_table or self.source_table.rsplit(".", 1)[-1]


class ContinuousUpdate(RequestModel):
    """Body of `PATCH /pipelines/{name}/continuous`."""

    continuous: bool


class ConfigurationUpdate(RequestModel):
    """Body of `PUT /pipelines/{name}/configuration` (docs/API.md §11.4)."""

    key_columns: list[str] | None = None
    target_table: str | None = None
    source_table: str | None = None
    scd_type: ScdType | None = None

    @field_validator("key_columns", mode="before")
    @classmethod
    def _split_keys(cls, value: object) -> object:
        return split_key_columns(value)

    @field_validator("key_columns")
    @classmethod
    def _keys(cls, value: list[str] | None) -> list[str] | None:
        return check_key_columns(value)

    @field_validator("target_table")
    @classmethod
    def _target(cls, value: str | None) -> str | None:
        return _check_target_table(value)

    @field_validator("source_table")
    @classmethod
    def _source(cls, value: str | None) -> str | None:
        return None if value is None else value.lower()

    @field_validator("scd_type", mode="before")
    @classmethod
    def _scd_as_text(cls, value: object) -> object:
        return str(value) if isinstance(value, int) and not isinstance(value, bool) else value

    @model_validator(mode="after")
    def _at_least_one(self) -> Self:
        if self.key_columns is None and self.target_table is None:
            raise PydanticCustomError(
                "at_least_one_required", "give key_columns and/or target_table"
            )
        return self


class LibrariesUpdate(RequestModel):
    """Body of `PUT /pipelines/{name}/libraries` (docs/API.md §11.5)."""

    library_path: str | None = Field(None, max_length=4096)
    root_path: str | None = Field(None, max_length=4096)

    @field_validator("library_path")
    @classmethod
    def _library(cls, value: str | None) -> str | None:
        return _check_workspace_path(value, "library_path")

    @field_validator("root_path")
    @classmethod
    def _root(cls, value: str | None) -> str | None:
        return _check_workspace_path(value, "root_path")

    @model_validator(mode="after")
    def _at_least_one(self) -> Self:
        if self.library_path is None and self.root_path is None:
            raise PydanticCustomError("at_least_one_required", "give library_path and/or root_path")
        return self


class NotificationsRequest(RequestModel):
    """Body of `PUT /pipelines/{name}/notifications/add|remove` (docs/API.md §11.6-11.7)."""

    notifications: list[str] = Field(min_length=1, max_length=MAX_NOTIFICATIONS)

    @field_validator("notifications")
    @classmethod
    def _principals(cls, value: list[str]) -> list[str]:
        return check_principals(value, "notifications")


# ------------------------------------------------------------------------------------------ responses


class UpdateRef(ResponseModel):
    update_id: str | None = None
    state: str | None = None
    creation_time: Timestamp | None = None


class PipelineSummary(ResponseModel):
    pipeline_id: str
    name: str
    state: str | None = None
    health: str | None = None
    creator_user_name: str | None = None
    run_as_user_name: str | None = None
    latest_update: UpdateRef | None = None


class LibraryRef(ResponseModel):
    kind: LibraryKind
    path: str


class NotificationSettings(ResponseModel):
    recipients: list[str] = Field(default_factory=list)
    alerts: list[str] = Field(default_factory=list)


class AutoscaleInfo(ResponseModel):
    min_workers: int | None = None
    max_workers: int | None = None


class ClusterInfo(ResponseModel):
    node_type_id: str | None = None
    num_workers: int | None = None
    autoscale: AutoscaleInfo | None = None


class PipelineDetail(PipelineSummary):
    catalog: str | None = None
    schema_: str | None = Field(None, alias="schema", serialization_alias="schema")
    continuous: bool = False
    serverless: bool = False
    development: bool = False
    photon: bool = False
    channel: str | None = None
    edition: str | None = None
    libraries: list[LibraryRef] = Field(default_factory=list)
    root_path: str | None = None
    configuration: dict[str, str] = Field(default_factory=dict)
    source_table: str | None = None
    target_table: str | None = None
    scd_type: str | None = None
    key_columns: list[str] = Field(default_factory=list)
    notifications: NotificationSettings = Field(default_factory=NotificationSettings)
    tags: dict[str, str] = Field(default_factory=dict)
    cluster: ClusterInfo | None = None
    last_modified: Timestamp | None = None
    latest_updates: list[UpdateRef] = Field(default_factory=list)


class PipelineList(ResponseModel):
    items: list[PipelineSummary]
    count: int
    total: int
    next_offset: int | None = None


class ContinuousResult(ResponseModel):
    pipeline_id: str
    name: str
    continuous: bool
    mode: Literal["continuous", "triggered"]
    changed: bool


class FullRefreshResult(ResponseModel):
    pipeline_id: str
    name: str
    action: Literal["full_refresh"] = "full_refresh"
    status: Literal["started", "stopping_then_start"]
    update_id: str | None = None
    stopped_update_id: str | None = None


class JobRef(ResponseModel):
    job_id: int
    job_name: str


class KeptJob(ResponseModel):
    job_id: int
    job_name: str
    reason: str


class PipelineDeleted(ResponseModel):
    pipeline_id: str
    name: str
    deleted: bool = True
    deleted_schedules: list[JobRef] = Field(default_factory=list)
    kept_jobs: list[KeptJob] = Field(default_factory=list)


class ConfigurationResult(ResponseModel):
    pipeline_id: str
    name: str
    changed: bool
    fields_updated: list[str]
    configuration: dict[str, str]


class LibrariesResult(ResponseModel):
    pipeline_id: str
    name: str
    libraries: list[LibraryRef]
    root_path: str | None = None
    changed: bool


class NotificationsAdded(ResponseModel):
    pipeline_id: str
    name: str
    added: list[str]
    already_present: list[str]
    notifications: list[str]


class NotificationsRemoved(ResponseModel):
    pipeline_id: str
    name: str
    removed: list[str]
    not_present: list[str]
    notifications: list[str]
    warnings: list[str] = Field(default_factory=list)
