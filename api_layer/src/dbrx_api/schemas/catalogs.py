"""Catalog request and response models (docs/API.md §2.3, §6, §11.1)."""

from __future__ import annotations

from typing import Self

from pydantic import Field, model_validator
from pydantic_core import PydanticCustomError

from dbrx_api.schemas.common import RequestModel, ResponseModel, Timestamp


class CatalogSummary(ResponseModel):
    name: str
    catalog_type: str | None = None
    owner: str | None = None
    comment: str | None = None
    storage_root: str | None = None
    created_at: Timestamp | None = None
    updated_at: Timestamp | None = None


class CatalogDetail(CatalogSummary):
    created_by: str | None = None
    updated_by: str | None = None
    isolation_mode: str | None = None
    properties: dict[str, str] = Field(default_factory=dict)
    provider_name: str | None = None
    share_name: str | None = None
    metastore_id: str | None = None
    schemas: list[str] | None = None


class CatalogList(ResponseModel):
    items: list[CatalogSummary]
    count: int
    total: int
    next_offset: int | None = None


class CatalogCreate(RequestModel):
    description: str | None = Field(None, max_length=1000)
    storage_root: str | None = Field(None, max_length=2048)
    external_location: str | None = Field(None, min_length=1, max_length=255)

    @model_validator(mode="after")
    def _one_storage_source(self) -> Self:
        if self.storage_root and self.external_location:
            raise PydanticCustomError(
                "mutually_exclusive", "give storage_root or external_location, not both"
            )
        if self.storage_root and not self.storage_root.startswith(("abfss://", "s3://", "gs://")):
            raise PydanticCustomError(
                "storage_root_invalid", "storage_root must be an abfss://, s3:// or gs:// URL"
            )
        return self
