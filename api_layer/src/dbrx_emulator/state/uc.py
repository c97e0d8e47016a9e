"""Unity Catalog state: catalogs, schemas, tables, volumes and registered models (metadata only) and external
locations."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from dbrx_emulator.api import Json
from dbrx_emulator.errors import uc_not_found
from dbrx_emulator.names import column_type
from dbrx_emulator.paging import SortedIndex
from dbrx_emulator.seed import ColumnSeed, ModelSeed, Seed, TableSeed, VolumeSeed
from dbrx_emulator.store import StateArea

# table_type -> the data_object_type a share must use for it (None: cannot be shared).
SHARE_TYPE_OF_TABLE = {
    "MANAGED": "TABLE",
    "EXTERNAL": "TABLE",
    "MANAGED_SHALLOW_CLONE": "TABLE",
    "EXTERNAL_SHALLOW_CLONE": "TABLE",
    "VIEW": "VIEW",
    "MATERIALIZED_VIEW": "MATERIALIZED_VIEW",
    "STREAMING_TABLE": "STREAMING_TABLE",
    "FOREIGN": "FOREIGN_TABLE",
    "METRIC_VIEW": None,
}
INFORMATION_SCHEMA = "information_schema"
# (name, owner, comment) of the schemas Unity Catalog creates with every catalog; `None` owner = the creator.
BUILTIN_SCHEMAS = (
    ("default", None, "Default schema (auto-created)"),
    (INFORMATION_SCHEMA, "System user", "Information schema (auto-created)"),
)
_STORED_TYPES = ("MANAGED", "EXTERNAL", "MANAGED_SHALLOW_CLONE", "EXTERNAL_SHALLOW_CLONE")
_FORMATLESS_TYPES = ("VIEW", "METRIC_VIEW")


def _omit_none(data: dict[str, Any]) -> Json:
    return {k: v for k, v in data.items() if v is not None}


@dataclass
class Audit:
    """Owner and creation/update stamps shared by UC objects."""

    owner: str
    created_at: int
    created_by: str
    updated_at: int
    updated_by: str

    def stamps(self) -> Json:
        """The audit fields of a response."""
        return {
            "owner": self.owner,
            "created_at": self.created_at,
            "created_by": self.created_by,
            "updated_at": self.updated_at,
            "updated_by": self.updated_by,
        }


@dataclass
class Catalog:
    """A catalog."""

    name: str
    audit: Audit
    comment: str | None = None
    storage_root: str | None = None
    catalog_type: str = "MANAGED_CATALOG"
    properties: dict[str, str] = field(default_factory=dict)
    visible_from: int = 0  # read-after-write lag (behaviour.read_after_write_lag_ms)


@dataclass
class Schema:
    """A schema."""

    catalog_name: str
    name: str
    schema_id: str
    audit: Audit
    comment: str | None = None
    storage_root: str | None = None
    properties: dict[str, str] = field(default_factory=dict)
    visible_from: int = 0

    @property
    def full_name(self) -> str:
        """`catalog.schema`."""
        return f"{self.catalog_name}.{self.name}"


@dataclass
class Column:
    """A column of a table."""

    name: str
    type_text: str
    nullable: bool = True
    comment: str | None = None

    def to_json(self, position: int) -> Json:
        """ColumnInfo."""
        type_name, precision, scale = column_type(self.type_text)
        return _omit_none(
            {
                "name": self.name,
                "type_text": self.type_text,
                "type_name": type_name,
                "type_precision": precision,
                "type_scale": scale,
                "position": position,
                "nullable": self.nullable,
                "comment": self.comment,
            }
        )


@dataclass
class Table:
    """A table, view or other table-like object (metadata only)."""

    catalog_name: str
    schema_name: str
    name: str
    table_id: str
    table_type: str
    audit: Audit
    data_source_format: str | None = None
    columns: list[Column] = field(default_factory=list)
    properties: dict[str, str] = field(default_factory=dict)
    current_version: int = 0
    row_count: int = 1000
    owner_can_select: bool = True
    comment: str | None = None
    view_definition: str | None = None
    storage_location: str | None = None
    pipeline_id: str | None = None

    @property
    def full_name(self) -> str:
        """`catalog.schema.table`."""
        return f"{self.catalog_name}.{self.schema_name}.{self.name}"

    @property
    def cdf_enabled(self) -> bool:
        """Whether change data feed is on (`delta.enableChangeDataFeed = "true"`)."""
        return self.properties.get("delta.enableChangeDataFeed", "").lower() == "true"


@dataclass
class Volume:
    """A volume (metadata only)."""

    catalog_name: str
    schema_name: str
    name: str
    volume_id: str
    volume_type: str
    audit: Audit
    storage_location: str
    comment: str | None = None

    @property
    def full_name(self) -> str:
        """`catalog.schema.volume`."""
        return f"{self.catalog_name}.{self.schema_name}.{self.name}"


@dataclass
class RegisteredModel:
    """A registered model (metadata only; no versions or aliases)."""

    catalog_name: str
    schema_name: str
    name: str
    audit: Audit
    storage_location: str
    comment: str | None = None

    @property
    def full_name(self) -> str:
        """`catalog.schema.model`."""
        return f"{self.catalog_name}.{self.schema_name}.{self.name}"


@dataclass
class ExternalLocation:
    """An external location."""

    name: str
    url: str
    credential_name: str
    audit: Audit
    comment: str | None = None
    read_only: bool = False


class UcState(StateArea):
    """Catalogs, schemas, tables and external locations; keys are lower-case (full) names."""

    name = "unity_catalog"

    def __init__(self, rt: Any) -> None:
        super().__init__(rt)
        self.catalogs: SortedIndex[str, Catalog] = SortedIndex()
        self.schemas: SortedIndex[str, Schema] = SortedIndex()
        self.tables: SortedIndex[str, Table] = SortedIndex()
        self.volumes: SortedIndex[str, Volume] = SortedIndex()
        self.models: SortedIndex[str, RegisteredModel] = SortedIndex()
        self.external_locations: dict[str, ExternalLocation] = {}

    # ------------------------------------------------------------------------------------------ building

    def audit(self, owner: str | None, at_ms: int) -> Audit:
        """Audit stamps for an object created by the principal at `at_ms`."""
        principal = self.rt.principal
        return Audit(owner or principal, at_ms, principal, at_ms, principal)

    def load_seed(self, seed: Seed) -> None:
        """Catalogs, schemas, tables and external locations of the seed, in file order."""
        at = self.rt.seed_origin_ms
        for catalog_seed in seed.catalogs:
            catalog = Catalog(
                name=catalog_seed.name,
                audit=self.audit(catalog_seed.owner, at),
                comment=catalog_seed.comment,
                storage_root=catalog_seed.storage_root,
                catalog_type=catalog_seed.catalog_type,
                properties=dict(catalog_seed.properties),
            )
            self.catalogs.put(catalog.name, catalog)
            for schema_seed in catalog_seed.schemas:
                schema = Schema(
                    catalog_name=catalog.name,
                    name=schema_seed.name,
                    schema_id=self.rt.rng.uuid4(),
                    audit=self.audit(schema_seed.owner, at),
                    comment=schema_seed.comment,
                    storage_root=schema_seed.storage_root,
                    properties=dict(schema_seed.properties),
                )
                self.schemas.put(schema.full_name, schema)
                for table_seed in schema_seed.tables:
                    self._add_seed_table(schema, table_seed)
                for volume_seed in schema_seed.volumes:
                    self.create_volume(schema, volume_seed)
                for model_seed in schema_seed.models:
                    self.create_model(schema, model_seed)
        for loc in seed.external_locations:
            self.external_locations[loc.name] = ExternalLocation(
                name=loc.name,
                url=loc.url,
                credential_name=loc.credential_name,
                audit=self.audit(loc.owner, at),
                comment=loc.comment,
                read_only=loc.read_only,
            )

    def _add_seed_table(self, schema: Schema, spec: TableSeed) -> None:
        created = (
            self.rt.seed_time(spec.created) if spec.created is not None else self.rt.seed_origin_ms
        )
        pipeline_id = spec.pipeline_id
        if pipeline_id is None and spec.table_type in ("MATERIALIZED_VIEW", "STREAMING_TABLE"):
            pipeline_id = self.rt.rng.uuid4()
        self.create_table(
            schema.catalog_name,
            schema.name,
            spec.name,
            spec.table_type,
            columns=spec.columns,
            at_ms=created,
            owner=spec.owner,
            data_source_format=spec.data_source_format,
            properties=spec.properties,
            current_version=spec.current_version,
            row_count=spec.row_count,
            owner_can_select=spec.owner_can_select,
            comment=spec.comment,
            view_definition=spec.view_definition,
            storage_location=spec.storage_location,
            pipeline_id=pipeline_id,
        )

    def create_table(
        self,
        catalog_name: str,
        schema_name: str,
        name: str,
        table_type: str,
        *,
        columns: list[ColumnSeed] | list[Column],
        at_ms: int,
        owner: str | None = None,
        data_source_format: str | None = None,
        properties: dict[str, str] | None = None,
        current_version: int = 0,
        row_count: int = 1000,
        owner_can_select: bool = True,
        comment: str | None = None,
        view_definition: str | None = None,
        storage_location: str | None = None,
        pipeline_id: str | None = None,
    ) -> Table:
        """Create (or replace) a table in an existing schema; used by the seed and by simulators.

        The pipelines simulator uses it for the STREAMING_TABLE a first successful update creates.
        """
        table_id = self.rt.rng.uuid4()
        if data_source_format is None and table_type not in _FORMATLESS_TYPES:
            data_source_format = "DELTA"
        if storage_location is None and table_type in _STORED_TYPES:
            storage_location = (
                f"{self._storage_root(catalog_name, schema_name)}/__unitystorage/tables/{table_id}"
            )
        table = Table(
            catalog_name=catalog_name.lower(),
            schema_name=schema_name.lower(),
            name=name.lower(),
            table_id=table_id,
            table_type=table_type,
            audit=self.audit(owner, at_ms),
            data_source_format=data_source_format,
            columns=[
                c if isinstance(c, Column) else Column(c.name, c.type, c.nullable, c.comment)
                for c in columns
            ],
            properties=dict(properties or {}),
            current_version=current_version,
            row_count=row_count,
            owner_can_select=owner_can_select,
            comment=comment,
            view_definition=view_definition,
            storage_location=storage_location,
            pipeline_id=pipeline_id,
        )
        self.tables.put(table.full_name, table)
        return table

    def create_volume(self, schema: Schema, spec: VolumeSeed) -> Volume:
        """Create a volume of the seed in an existing schema (a MANAGED one under the schema's storage root)."""
        at = self.rt.seed_time(spec.created) if spec.created is not None else self.rt.seed_origin_ms
        volume_id = self.rt.rng.uuid4()
        location = spec.storage_location
        if location is None:
            root = self._storage_root(schema.catalog_name, schema.name)
            location = f"{root}/__unitystorage/volumes/{volume_id}"
        volume = Volume(
            catalog_name=schema.catalog_name,
            schema_name=schema.name,
            name=spec.name,
            volume_id=volume_id,
            volume_type=spec.volume_type,
            audit=self.audit(spec.owner, at),
            storage_location=location,
            comment=spec.comment,
        )
        self.volumes.put(volume.full_name, volume)
        return volume

    def create_model(self, schema: Schema, spec: ModelSeed) -> RegisteredModel:
        """Create a registered model of the seed in an existing schema."""
        at = self.rt.seed_time(spec.created) if spec.created is not None else self.rt.seed_origin_ms
        root = self._storage_root(schema.catalog_name, schema.name)
        model = RegisteredModel(
            catalog_name=schema.catalog_name,
            schema_name=schema.name,
            name=spec.name,
            audit=self.audit(spec.owner, at),
            storage_location=f"{root}/__unitystorage/models/{spec.name}",
            comment=spec.comment,
        )
        self.models.put(model.full_name, model)
        return model

    def add_builtin_schemas(self, catalog: Catalog, now_ms: int) -> None:
        """`default` and `information_schema`, which Unity Catalog puts in every catalog it creates."""
        for name, owner, comment in BUILTIN_SCHEMAS:
            schema = Schema(
                catalog_name=catalog.name,
                name=name,
                schema_id=self.rt.rng.uuid4(),
                audit=self.audit(owner, now_ms),
                comment=comment,
                visible_from=catalog.visible_from,
            )
            self.schemas.put(schema.full_name, schema)

    def user_schemas(self, catalog: Catalog) -> list[Schema]:
        """Schemas of a catalog other than `information_schema` (what makes a catalog "not empty")."""
        lo, hi = self.schemas.prefix_range(catalog.name + ".")
        keys = self.schemas.keys()[lo:hi]
        return [self.schemas[k] for k in keys if self.schemas[k].name != INFORMATION_SCHEMA]

    def tables_in(self, schema: Schema) -> list[Table]:
        """Tables of one schema."""
        lo, hi = self.tables.prefix_range(schema.full_name + ".")
        return [self.tables[k] for k in self.tables.keys()[lo:hi]]

    def contents_of(self, schema: Schema) -> str | None:
        """What makes a schema "not empty" for a delete without `force` (None when it holds nothing)."""
        counts = [
            (len(self.tables_in(schema)), "table(s)"),
            (self._count_in(self.volumes, schema), "volume(s)"),
            (self._count_in(self.models, schema), "registered model(s)"),
        ]
        held = [f"{count} {noun}" for count, noun in counts if count]
        return ", ".join(held) or None

    @staticmethod
    def _count_in(index: SortedIndex[str, Any], schema: Schema) -> int:
        lo, hi = index.prefix_range(schema.full_name + ".")
        return hi - lo

    def drop_schema(self, schema: Schema) -> None:
        """Remove a schema with its tables, volumes and models."""
        for table in self.tables_in(schema):
            self.tables.pop(table.full_name)
        for index in (self.volumes, self.models):
            lo, hi = index.prefix_range(schema.full_name + ".")
            for key in list(index.keys()[lo:hi]):
                index.pop(key)
        self.schemas.pop(schema.full_name)

    def drop_catalog(self, catalog: Catalog) -> None:
        """Remove a catalog, its schemas and their tables."""
        lo, hi = self.schemas.prefix_range(catalog.name + ".")
        for key in list(self.schemas.keys()[lo:hi]):
            self.drop_schema(self.schemas[key])
        self.catalogs.pop(catalog.name)

    def drop_table(self, full_name: str) -> Table | None:
        """Remove a table (None when it does not exist)."""
        return self.tables.pop(full_name) if full_name in self.tables else None

    def tables_of_pipeline(self, pipeline_id: str) -> list[Table]:
        """Tables whose `pipeline_id` is `pipeline_id` (MV/ST a pipeline maintains)."""
        return [t for t in self.tables.values() if t.pipeline_id == pipeline_id]

    def _storage_root(self, catalog_name: str, schema_name: str) -> str:
        schema = self.schemas.get(f"{catalog_name}.{schema_name}")
        catalog = self.catalogs.get(catalog_name)
        root = (
            (schema.storage_root if schema else None)
            or (catalog.storage_root if catalog else None)
            or self.rt.workspace.metastore_storage_root
            or "abfss://uc@storage.dfs.core.windows.net/root"
        )
        return root.rstrip("/")

    # ------------------------------------------------------------------------------------------ lookups

    @staticmethod
    def visible(visible_from: int, now_ms: int | None) -> bool:
        """Whether an object created with read-after-write lag is visible (`now_ms` None: ignore the lag)."""
        return now_ms is None or now_ms >= visible_from

    def require_catalog(self, name: str, now_ms: int | None = None) -> Catalog:
        """The catalog (404 CATALOG_DOES_NOT_EXIST); with `now_ms`, objects hidden by lag count as missing."""
        catalog = self.catalogs.get(name.lower())
        if catalog is None or not self.visible(catalog.visible_from, now_ms):
            raise uc_not_found(self.rt.behaviour.not_found_style, "Catalog", name.lower())
        return catalog

    def require_schema(self, full_name: str, now_ms: int | None = None) -> Schema:
        """The schema (404 with the catalog or schema code)."""
        catalog_name, _, _ = full_name.lower().partition(".")
        self.require_catalog(catalog_name, now_ms)
        schema = self.schemas.get(full_name.lower())
        if schema is None or not self.visible(schema.visible_from, now_ms):
            raise uc_not_found(self.rt.behaviour.not_found_style, "Schema", full_name.lower())
        return schema

    def require_table(self, full_name: str, now_ms: int | None = None) -> Table:
        """The table (404 with the catalog, schema or table code)."""
        lowered = full_name.lower()
        self.require_schema(lowered.rsplit(".", 1)[0], now_ms)
        table = self.tables.get(lowered)
        if table is None:
            raise uc_not_found(self.rt.behaviour.not_found_style, "Table", lowered)
        return table

    def require_volume(self, full_name: str, now_ms: int | None = None) -> Volume:
        """The volume (404 with the catalog, schema or volume code)."""
        lowered = full_name.lower()
        self.require_schema(lowered.rsplit(".", 1)[0], now_ms)
        volume = self.volumes.get(lowered)
        if volume is None:
            raise uc_not_found(self.rt.behaviour.not_found_style, "Volume", lowered)
        return volume

    def require_model(self, full_name: str, now_ms: int | None = None) -> RegisteredModel:
        """The registered model (404 with the catalog, schema or model code)."""
        lowered = full_name.lower()
        self.require_schema(lowered.rsplit(".", 1)[0], now_ms)
        model = self.models.get(lowered)
        if model is None:
            raise uc_not_found(self.rt.behaviour.not_found_style, "Registered model", lowered)
        return model

    # ------------------------------------------------------------------------------------------ rendering

    def catalog_json(self, catalog: Catalog) -> Json:
        """CatalogInfo."""
        return _omit_none(
            {
                "name": catalog.name,
                "full_name": catalog.name,
                "catalog_type": catalog.catalog_type,
                "comment": catalog.comment,
                "storage_root": catalog.storage_root,
                "properties": catalog.properties or None,
                "isolation_mode": "OPEN",
                "securable_type": "CATALOG",
                "metastore_id": self.rt.workspace.metastore_id,
                "browse_only": False,
                **catalog.audit.stamps(),
            }
        )

    def schema_json(self, schema: Schema) -> Json:
        """SchemaInfo."""
        catalog = self.catalogs.get(schema.catalog_name)
        return _omit_none(
            {
                "name": schema.name,
                "catalog_name": schema.catalog_name,
                "full_name": schema.full_name,
                "schema_id": schema.schema_id,
                "catalog_type": catalog.catalog_type if catalog else None,
                "comment": schema.comment,
                "storage_root": schema.storage_root,
                "properties": schema.properties or None,
                "metastore_id": self.rt.workspace.metastore_id,
                "browse_only": False,
                **schema.audit.stamps(),
            }
        )

    def table_json(
        self,
        table: Table,
        *,
        omit_columns: bool = False,
        omit_properties: bool = False,
        omit_username: bool = False,
    ) -> Json:
        """TableInfo (`tables.list` may leave out the columns, the properties and the user names)."""
        body = _omit_none(
            {
                "name": table.name,
                "catalog_name": table.catalog_name,
                "schema_name": table.schema_name,
                "full_name": table.full_name,
                "table_id": table.table_id,
                "table_type": table.table_type,
                "data_source_format": table.data_source_format,
                "storage_location": table.storage_location,
                "view_definition": table.view_definition,
                "pipeline_id": table.pipeline_id,
                "comment": table.comment,
                "metastore_id": self.rt.workspace.metastore_id,
                "browse_only": False,
                **table.audit.stamps(),
            }
        )
        if not omit_columns:
            body["columns"] = [column.to_json(index) for index, column in enumerate(table.columns)]
        if not omit_properties:
            body["properties"] = dict(sorted(table.properties.items()))
        if omit_username:
            for key in ("owner", "created_by", "updated_by"):
                body.pop(key, None)
        return body

    def volume_json(self, volume: Volume) -> Json:
        """VolumeInfo."""
        return _omit_none(
            {
                "name": volume.name,
                "catalog_name": volume.catalog_name,
                "schema_name": volume.schema_name,
                "full_name": volume.full_name,
                "volume_id": volume.volume_id,
                "volume_type": volume.volume_type,
                "storage_location": volume.storage_location,
                "comment": volume.comment,
                "metastore_id": self.rt.workspace.metastore_id,
                "browse_only": False,
                **volume.audit.stamps(),
            }
        )

    def model_json(self, model: RegisteredModel) -> Json:
        """RegisteredModelInfo (without aliases: the emulator keeps no model versions)."""
        return _omit_none(
            {
                "name": model.name,
                "catalog_name": model.catalog_name,
                "schema_name": model.schema_name,
                "full_name": model.full_name,
                "storage_location": model.storage_location,
                "comment": model.comment,
                "metastore_id": self.rt.workspace.metastore_id,
                "browse_only": False,
                **model.audit.stamps(),
            }
        )

    def external_location_json(self, loc: ExternalLocation) -> Json:
        """ExternalLocationInfo."""
        return _omit_none(
            {
                "name": loc.name,
                "url": loc.url,
                "credential_name": loc.credential_name,
                "comment": loc.comment,
                "read_only": loc.read_only,
                "isolation_mode": "ISOLATION_MODE_OPEN",
                "metastore_id": self.rt.workspace.metastore_id,
                "browse_only": False,
                **loc.audit.stamps(),
            }
        )

    def dump(self) -> Json:
        """Everything, rendered as the API would."""
        return {
            "catalogs": [self.catalog_json(c) for c in self.catalogs.values()],
            "schemas": [self.schema_json(s) for s in self.schemas.values()],
            "tables": [
                {
                    **self.table_json(t),
                    "current_version": t.current_version,
                    "row_count": t.row_count,
                    "owner_can_select": t.owner_can_select,
                }
                for t in self.tables.values()
            ],
            "volumes": [self.volume_json(v) for v in self.volumes.values()],
            "models": [self.model_json(m) for m in self.models.values()],
            "external_locations": [
                self.external_location_json(loc)
                for _, loc in sorted(self.external_locations.items())
            ],
        }
