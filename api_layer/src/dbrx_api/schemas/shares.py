"""Share request and response models (docs/API.md §2.1, §4)."""

from __future__ import annotations

import re
from enum import StrEnum
from typing import Annotated, Literal, Self

from pydantic import Field, field_validator, model_validator
from pydantic_core import PydanticCustomError

from dbrx_api.schemas.common import (
    INTEGRAL_FLOATS,
    RequestModel,
    ResponseModel,
    Timestamp,
    uc_full_name_problem,
    uc_name_problem,
)

MAX_OBJECTS_PER_REQUEST = 1000
_SHARED_AS = re.compile(r"^[A-Za-z0-9_]+\.[A-Za-z0-9_]+$")
_NOTEBOOK_PREFIXES = ("/Workspace/", "/Repos/")


class SharedObjectType(StrEnum):
    TABLE = "TABLE"
    VIEW = "VIEW"
    MATERIALIZED_VIEW = "MATERIALIZED_VIEW"
    STREAMING_TABLE = "STREAMING_TABLE"
    FOREIGN_TABLE = "FOREIGN_TABLE"
    SCHEMA = "SCHEMA"
    NOTEBOOK_FILE = "NOTEBOOK_FILE"
    VOLUME = "VOLUME"
    MODEL = "MODEL"
    FUNCTION = "FUNCTION"
    FEATURE_SPEC = "FEATURE_SPEC"


# Three-part objects that are not table-like: named by `string_shared_as` (`<schema>.<name>`), no table options.
VOLUME_MODEL_TYPES = frozenset({SharedObjectType.VOLUME, SharedObjectType.MODEL})
_TABLE_OPTIONS = ("cdf_enabled", "history_data_sharing_status", "start_version", "partitions")

TABLE_LIKE_TYPES = frozenset(
    {
        SharedObjectType.TABLE,
        SharedObjectType.VIEW,
        SharedObjectType.MATERIALIZED_VIEW,
        SharedObjectType.STREAMING_TABLE,
        SharedObjectType.FOREIGN_TABLE,
    }
)


class PartitionValue(RequestModel):
    name: str = Field(min_length=1, max_length=255)
    op: Literal["EQUAL", "LIKE"]
    value: str | None = None
    recipient_property_key: str | None = None

    @model_validator(mode="after")
    def _value_xor_property(self) -> Self:
        if (self.value is None) == (self.recipient_property_key is None):
            raise PydanticCustomError(
                "mutually_exclusive", "give exactly one of 'value' and 'recipient_property_key'"
            )
        return self


class Partition(RequestModel):
    values: list[PartitionValue] = Field(min_length=1)


class PartitionValueOut(ResponseModel):
    name: str | None = None
    op: str | None = None
    value: str | None = None
    recipient_property_key: str | None = None


class PartitionOut(ResponseModel):
    values: list[PartitionValueOut] = Field(default_factory=list)


class ObjectRef(RequestModel):
    """One asset to add to (or remove from) a share; a bare string is shorthand for `{"name": "<string>"}`."""

    name: str = Field(min_length=1, max_length=1000)
    type: SharedObjectType | None = Field(None, strict=False)  # an enum: see RequestModel
    shared_as: str | None = Field(None, min_length=1, max_length=255)
    cdf_enabled: bool | None = None
    history_data_sharing_status: Literal["ENABLED", "DISABLED"] | None = None
    start_version: Annotated[int, Field(ge=0), INTEGRAL_FLOATS] | None = None
    partitions: list[Partition] | None = None
    comment: str | None = Field(None, max_length=1000)

    @property
    def is_notebook(self) -> bool:
        """A workspace path names a notebook file."""
        return self.name.startswith(_NOTEBOOK_PREFIXES)

    @property
    def is_schema(self) -> bool:
        """A two-part name names a schema."""
        return not self.is_notebook and self.name.count(".") == 1

    @model_validator(mode="after")
    def _check(self) -> Self:
        if self.is_notebook:
            if self.type not in (None, SharedObjectType.NOTEBOOK_FILE):
                raise PydanticCustomError(
                    "name_invalid", "a workspace path can only name a NOTEBOOK_FILE"
                )
            if self.type is None:
                raise PydanticCustomError(
                    "missing", 'notebooks need "type": "NOTEBOOK_FILE" next to their workspace path'
                )
        else:
            parts = 2 if self.is_schema else 3
            problem = uc_full_name_problem(self.name, parts)
            if problem:
                raise PydanticCustomError(
                    "name_invalid",
                    "'{name}' {problem}; use catalog.schema.table, catalog.schema or a /Workspace/ path",
                    {"name": self.name, "problem": problem},
                )
            if self.is_schema and self.type not in (None, SharedObjectType.SCHEMA):
                raise PydanticCustomError("name_invalid", "a two-part name can only name a SCHEMA")
        if self.type in VOLUME_MODEL_TYPES:
            given = [o for o in ("shared_as", *_TABLE_OPTIONS) if getattr(self, o) is not None]
            if given:
                raise PydanticCustomError(
                    "option_not_allowed",
                    "{fields} cannot be set on a {type}: Databricks shares it as <schema>.<name> and without "
                    "table options",
                    {"fields": ", ".join(given), "type": self.type.value},
                )
        if (
            self.shared_as is not None
            and not self.is_notebook
            and not _SHARED_AS.match(self.shared_as)
        ):
            raise PydanticCustomError(
                "name_invalid",
                "shared_as must be two parts of letters, digits and '_' (schema.table)",
            )
        if self.cdf_enabled and self.history_data_sharing_status is not None:
            raise PydanticCustomError(
                "mutually_exclusive",
                "cdf_enabled cannot be combined with history_data_sharing_status",
            )
        return self


def _as_refs(value: object) -> object:
    if isinstance(value, list):
        return [{"name": item} if isinstance(item, str) else item for item in value]
    return value


class ObjectsRequest(RequestModel):
    """Body of `PUT /shares/{name}/dataobject/add` and `/revoke`."""

    objects: list[ObjectRef] = Field(default_factory=list)
    tables: list[str] = Field(default_factory=list)
    views: list[str] = Field(default_factory=list)
    schemas: list[str] = Field(default_factory=list)

    @field_validator("objects", mode="before")
    @classmethod
    def _shorthand(cls, value: object) -> object:
        return _as_refs(value)

    @field_validator("tables", "views")
    @classmethod
    def _three_part(cls, value: list[str]) -> list[str]:
        for item in value:
            problem = uc_full_name_problem(item, 3)
            if problem:
                raise PydanticCustomError(
                    "name_invalid", "'{name}' {problem}", {"name": item, "problem": problem}
                )
        return value

    @field_validator("schemas")
    @classmethod
    def _two_part(cls, value: list[str]) -> list[str]:
        for item in value:
            problem = uc_full_name_problem(item, 2)
            if problem:
                raise PydanticCustomError(
                    "name_invalid", "'{name}' {problem}", {"name": item, "problem": problem}
                )
        return value

    @model_validator(mode="after")
    def _limits(self) -> Self:
        refs = self.all_refs()
        if not refs:
            raise PydanticCustomError(
                "at_least_one_required",
                "give at least one entry in objects, tables, views or schemas",
            )
        if len(refs) > MAX_OBJECTS_PER_REQUEST:
            raise PydanticCustomError(
                "too_long",
                "at most {limit} objects per request",
                {"limit": MAX_OBJECTS_PER_REQUEST},
            )
        # One rule with share packs (docs/API.md §4.5, docs/SHAREPACK.md §7.4): an exact repeat is harmless and
        # collapsed by `unique_refs`; the same name with different options is ambiguous and refused.
        seen: dict[str, ObjectRef] = {}
        for ref in refs:
            key = ref.name.lower()
            first = seen.setdefault(key, ref)
            if first is not ref and _options(first) != _options(ref):
                raise PydanticCustomError(
                    "duplicate_entry_conflict",
                    "'{name}' is listed more than once with different options",
                    {"name": ref.name},
                )
        return self

    def unique_refs(self) -> tuple[list[ObjectRef], list[str]]:
        """Every requested object once (first occurrence kept) and a warning per collapsed repeat."""
        unique: dict[str, ObjectRef] = {}
        warnings: list[str] = []
        for ref in self.all_refs():
            key = ref.name.lower()
            if key in unique:
                warnings.append(f"'{key}' is listed more than once; the repeat was ignored.")
                continue
            unique[key] = ref
        return list(unique.values()), warnings

    def all_refs(self) -> list[ObjectRef]:
        """Every requested object as an ObjectRef (shorthand lists expanded)."""
        return [
            *self.objects,
            *(ObjectRef(name=n) for n in self.tables),
            *(ObjectRef(name=n) for n in self.views),
            *(ObjectRef(name=n) for n in self.schemas),
        ]


def _options(ref: ObjectRef) -> dict[str, object]:
    """What an entry asks for besides its (case-insensitive) name."""
    return ref.model_dump(exclude={"name"})


class ShareCreate(RequestModel):
    name: str = Field(min_length=1, max_length=255)
    description: str | None = Field(None, max_length=1000)
    storage_root: str | None = Field(None, max_length=2048)

    @field_validator("name")
    @classmethod
    def _uc_name(cls, value: str) -> str:
        problem = uc_name_problem(value)
        if problem:
            raise PydanticCustomError("name_invalid", "share name {problem}", {"problem": problem})
        return value

    @field_validator("storage_root")
    @classmethod
    def _storage_root(cls, value: str | None) -> str | None:
        if value is None or value == "":
            return None
        if not value.startswith(("abfss://", "s3://", "gs://")):
            raise PydanticCustomError(
                "storage_root_invalid", "storage_root must be an abfss://, s3:// or gs:// URL"
            )
        return value


class RecipientNames(RequestModel):
    """Body of `PUT /shares/{name}/recipients/add|remove`."""

    recipients: list[str] = Field(min_length=1, max_length=100)

    @field_validator("recipients")
    @classmethod
    def _names(cls, value: list[str]) -> list[str]:
        for name in value:
            problem = uc_name_problem(name)
            if problem:
                raise PydanticCustomError(
                    "name_invalid",
                    "recipient '{name}' {problem}",
                    {"name": name, "problem": problem},
                )
        return value

    def unique_names(self) -> tuple[list[str], list[str]]:
        """Every recipient once, lower-cased as Unity Catalog stores it, and a warning per collapsed repeat.

        The rule of share objects and of share packs (docs/API.md §4.5): an exact repeat is harmless.
        """
        unique: dict[str, None] = {}
        warnings: list[str] = []
        for name in self.recipients:
            key = name.lower()
            if key in unique:
                warnings.append(f"'{key}' is listed more than once; the repeat was ignored.")
            unique.setdefault(key)
        return list(unique), warnings


# ------------------------------------------------------------------------------------------ responses


class SharedObject(ResponseModel):
    name: str
    type: str | None = None
    shared_as: str | None = None
    string_shared_as: str | None = None
    cdf_enabled: bool | None = None
    history_data_sharing_status: str | None = None
    start_version: int | None = None
    partitions: list[PartitionOut] | None = None
    comment: str | None = None
    added_at: Timestamp | None = None
    added_by: str | None = None
    status: str | None = None


class ShareGrant(ResponseModel):
    recipient: str
    privileges: list[str] = Field(default_factory=list)


class ShareSummary(ResponseModel):
    name: str
    owner: str | None = None
    comment: str | None = None
    storage_root: str | None = None
    created_at: Timestamp | None = None
    updated_at: Timestamp | None = None
    created_by: str | None = None
    updated_by: str | None = None


class ShareDetail(ShareSummary):
    objects: list[SharedObject] = Field(default_factory=list)
    recipients: list[ShareGrant] = Field(default_factory=list)


class ShareList(ResponseModel):
    items: list[ShareSummary]
    count: int
    total: int
    next_offset: int | None = None


class ObjectsAdded(ResponseModel):
    share: str
    added: list[str] = Field(description="Names as the share stores them (lower case)")
    updated: list[str]
    already_present: list[str]
    objects: list[SharedObject]
    warnings: list[str] = Field(
        default_factory=list, description="e.g. an entry listed twice (collapsed)"
    )


class ObjectsRemoved(ResponseModel):
    share: str
    removed: list[str] = Field(description="Names as the share stored them (lower case)")
    not_present: list[str]
    objects: list[SharedObject]
    warnings: list[str] = Field(
        default_factory=list, description="e.g. an entry listed twice (collapsed)"
    )


class RecipientsAdded(ResponseModel):
    share: str
    added: list[str] = Field(
        description="Recipient names as Unity Catalog stores them (lower case)"
    )
    already_present: list[str]
    recipients: list[ShareGrant]
    warnings: list[str] = Field(
        default_factory=list, description="e.g. a recipient listed twice (collapsed)"
    )


class RecipientsRemoved(ResponseModel):
    share: str
    removed: list[str] = Field(
        description="Recipient names as Unity Catalog stores them (lower case)"
    )
    not_present: list[str]
    recipients: list[ShareGrant]
    warnings: list[str] = Field(
        default_factory=list, description="e.g. a recipient listed twice (collapsed)"
    )
