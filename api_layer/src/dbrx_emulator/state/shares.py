"""Delta Sharing shares with their objects and grants: the Delta Sharing area `SharingState` (docs/EMULATOR.md §7.4).

The rules live here (not in the routes) because the seed loader applies seeded share objects through the very same
`apply_updates` the PATCH handler uses: a seed cannot hold a share the API would have refused. Grants are the
shares' (`Share.grants`, by recipient name); the recipients and their tokens are in `recipients.RecipientsArea`, the
base class of `SharingState`.
"""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass, field

from dbrx_emulator.api import Body, Json
from dbrx_emulator.errors import (
    ApiError,
    invalid,
    not_owner,
    permission_denied,
    resource_does_not_exist,
    uc_already_exists,
)
from dbrx_emulator.names import check_uc_name, parse_enum
from dbrx_emulator.paging import SortedIndex
from dbrx_emulator.seed import Seed, SeedError, ShareSeed
from dbrx_emulator.state.recipients import RecipientsArea
from dbrx_emulator.state.sharing_common import omit_none
from dbrx_emulator.state.uc import SHARE_TYPE_OF_TABLE, Audit, UcState

MAX_SHARES = 1000
MAX_UPDATES_PER_PATCH = 100
TABLE_LIKE = frozenset({"TABLE", "VIEW", "MATERIALIZED_VIEW", "STREAMING_TABLE", "FOREIGN_TABLE"})
DATA_OBJECT_TYPES = frozenset(
    TABLE_LIKE | {"SCHEMA", "VOLUME", "MODEL", "FUNCTION", "NOTEBOOK_FILE", "FEATURE_SPEC"}
)
PER_SHARE_LIMITS = {
    "table": 1000,
    "VOLUME": 1000,
    "MODEL": 1000,
    "SCHEMA": 500,
    "NOTEBOOK_FILE": 100,
}
# Objects of a schema (a shared schema and one of them cannot both be in a share).
IN_SCHEMA = TABLE_LIKE | {"VOLUME", "MODEL"}
# Table options a volume or a registered model cannot carry (docs/EMULATOR.md §7.4).
_TABLE_OPTIONS = ("cdf_enabled", "history_data_sharing_status", "start_version", "partitions")
ACTIONS = frozenset({"ADD", "REMOVE", "UPDATE"})
HISTORY_STATUSES = frozenset({"ENABLED", "DISABLED"})
PARTITION_OPS = frozenset({"EQUAL", "LIKE"})
SHARE_PRIVILEGES = frozenset({"SELECT"})
# Every Privilege enum value the SDK knows: anything else is an unknown value, these are just not for shares.
KNOWN_PRIVILEGES = frozenset(
    {
        "ACCESS",
        "ALL_PRIVILEGES",
        "APPLY_TAG",
        "CREATE",
        "CREATE_CATALOG",
        "MODIFY",
        "READ_FILES",
        "SELECT",
        "USAGE",
        "USE_CATALOG",
        "USE_SCHEMA",
        "USE_SHARE",
        "USE_RECIPIENT",
        "WRITE_FILES",
        "EXECUTE",
    }
)
_SHARED_AS = re.compile(r"^[A-Za-z0-9_]+\.[A-Za-z0-9_]+$")
_KIND_TEXT = {
    "TABLE": "Table",
    "VIEW": "View",
    "MATERIALIZED_VIEW": "Materialized View",
    "STREAMING_TABLE": "Streaming Table",
    "FOREIGN_TABLE": "Foreign Table",
    "SCHEMA": "Schema",
    "NOTEBOOK_FILE": "Notebook File",
    "VOLUME": "Volume",
    "MODEL": "Model",
}


def _type_text(data_object_type: str, *, requested: bool) -> str:
    """Type as the wire messages spell it: `is a VIEW and not a Table` / `is a table and not a VIEW`."""
    if data_object_type == "TABLE":
        return "Table" if requested else "table"
    return data_object_type


@dataclass
class SharedObject:
    """An object of a share."""

    name: str
    data_object_type: str
    added_at: int
    added_by: str
    shared_as: str | None = None
    string_shared_as: str | None = None
    cdf_enabled: bool | None = None
    history_data_sharing_status: str | None = None
    start_version: int | None = None
    partitions: list[Json] | None = None
    comment: str | None = None
    content: str | None = None
    status: str = "ACTIVE"

    @property
    def alias(self) -> str:
        """`shared_as`, or `string_shared_as` for non-table objects."""
        return self.shared_as or self.string_shared_as or self.name

    def to_json(self) -> Json:
        """SharedDataObject with the server-filled fields (notebook content is not echoed)."""
        return omit_none(
            {
                "name": self.name,
                "data_object_type": self.data_object_type,
                "shared_as": self.shared_as,
                "string_shared_as": self.string_shared_as,
                "cdf_enabled": self.cdf_enabled,
                "history_data_sharing_status": self.history_data_sharing_status,
                "start_version": self.start_version,
                "partitions": copy.deepcopy(self.partitions) if self.partitions else None,
                "comment": self.comment,
                "added_at": self.added_at,
                "added_by": self.added_by,
                "status": self.status,
            }
        )


Grants = dict[str, set[str]]


@dataclass
class Share:
    """A share."""

    name: str
    audit: Audit
    comment: str | None = None
    storage_root: str | None = None
    objects: dict[str, SharedObject] = field(default_factory=dict)  # key: lower-case object name
    grants: Grants = field(default_factory=dict)  # recipient name -> privileges
    visible_from: int = 0
    readback_grants: Grants | None = (
        None  # what share_permissions shows while readback_until is ahead
    )
    readback_until: int = 0

    def grants_seen_at(self, now_ms: int) -> Grants:
        """Grants as read back at `now_ms` (behaviour.permissions_readback_lag_ms)."""
        if self.readback_grants is not None and now_ms < self.readback_until:
            return self.readback_grants
        return self.grants


class SharingState(RecipientsArea):
    """The Delta Sharing area: shares keyed by lower-case name, plus the recipients of `RecipientsArea`."""

    shares: SortedIndex[str, Share]

    def load_seed(self, seed: Seed) -> None:
        """Recipients first (grants name them), then shares, their objects and grants."""
        self.shares = SortedIndex()
        super().load_seed(seed)
        for index, share_spec in enumerate(seed.shares):
            self._seed_share(index, share_spec)

    # ------------------------------------------------------------------------------------------ helpers

    @property
    def uc(self) -> UcState:
        """The Unity Catalog area (shared objects refer to it)."""
        return self.rt.store.area(UcState)

    def require_share(self, name: str, now_ms: int | None = None) -> Share:
        """The share; with `now_ms`, a share still hidden by read-after-write lag counts as missing."""
        share = self.shares.get(name.lower())
        if share is None or (now_ms is not None and now_ms < share.visible_from):
            raise self._not_found("Share", name.lower())
        return share

    # ------------------------------------------------------------------------------------------ shares

    def create_share(self, body: Body, now_ms: int) -> Share:
        """`shares.create`."""
        name = check_uc_name(
            body.require_str("name"), "CreateShare", "managedcatalog.ShareInfo.name"
        )
        if name in self.shares:
            raise uc_already_exists(self.rt.behaviour.already_exists_status, "Share", name)
        if len(self.shares) >= MAX_SHARES:
            raise invalid(f"Cannot create more than {MAX_SHARES} shares in a metastore.")
        share = Share(
            name=name,
            audit=self.audit(None, now_ms),
            comment=body.str_("comment"),
            storage_root=body.str_("storage_root"),
            visible_from=self._visible_lag(now_ms),
        )
        self.shares.put(name, share)
        return share

    def update_share(self, share: Share, body: Body, now_ms: int) -> Share:
        """`shares.update`: validate the whole request, then apply it (nothing is applied on error)."""
        self._check_owner("Share", share.name, share.audit.owner, body)
        updates = body.objects("updates")
        objects = self.apply_updates(share, updates, now_ms) if updates else share.objects
        new_name = body.str_("new_name")
        if new_name is not None:
            new_name = check_uc_name(new_name, "UpdateShare", "managedcatalog.UpdateShare.new_name")
            if new_name != share.name and new_name in self.shares:
                raise uc_already_exists(self.rt.behaviour.already_exists_status, "Share", new_name)
        storage_root = body.str_("storage_root")
        holds_notebooks = any(o.data_object_type == "NOTEBOOK_FILE" for o in share.objects.values())
        if storage_root is not None and storage_root != share.storage_root and holds_notebooks:
            raise invalid(
                f"The storage root of share '{share.name}' cannot change once the share holds notebooks."
            )
        comment, owner = body.str_("comment"), body.str_("owner")
        # Everything is valid: apply.
        share.objects = objects
        if comment is not None:
            share.comment = comment
        if owner is not None:
            share.audit.owner = owner
        if storage_root is not None:
            share.storage_root = storage_root
        if new_name is not None and new_name != share.name:
            self.shares.pop(share.name)
            share.name = new_name
            self.shares.put(new_name, share)
        share.audit.updated_at, share.audit.updated_by = now_ms, self.rt.principal
        return share

    def apply_updates(
        self, share: Share, updates: list[Body], now_ms: int
    ) -> dict[str, SharedObject]:
        """The share's objects after `updates` (ADD/REMOVE/UPDATE); raises on the first invalid update."""
        if len(updates) > MAX_UPDATES_PER_PATCH:
            raise invalid(
                f"UpdateShare number of data objects to update exceeds limit {MAX_UPDATES_PER_PATCH}"
            )
        parsed: list[tuple[str, Body]] = []
        seen: set[str] = set()
        for update in updates:
            action = parse_enum(
                update.data.get("action"),
                ACTIONS,
                update.field_name("action"),
                strict=self._strict(),
            )
            data_object = update.obj("data_object")
            if data_object is None:
                raise invalid(f"Missing required field: {update.field_name('data_object')}")
            name = data_object.require_str("name")
            if name.lower() in seen:
                kind = data_object.data.get("data_object_type") or "TABLE"
                raise invalid(
                    "UpdateShare duplicate updates on the same data object with data object type: "
                    f"{kind}, names: [{name}]."
                )
            seen.add(name.lower())
            parsed.append((action, data_object))
        work = dict(share.objects)
        for action, data_object in parsed:
            key = data_object.require_str("name").lower()
            if action == "ADD":
                added = self._add_object(share, work, data_object, now_ms)
                work[added.name.lower()] = added
            elif key not in work:
                raise resource_does_not_exist(
                    f"Shared object '{data_object.require_str('name')}' does not exist in share '{share.name}'."
                )
            elif action == "REMOVE":
                del work[key]
            else:
                work[key] = self._update_object(work[key], data_object)
        return work

    def _add_object(
        self, share: Share, work: dict[str, SharedObject], data: Body, now_ms: int
    ) -> SharedObject:
        name = data.require_str("name")
        kind = parse_enum(
            data.data.get("data_object_type") or "TABLE",
            DATA_OBJECT_TYPES,
            data.field_name("data_object_type"),
            strict=self._strict(),
        )
        existing = work.get(name.lower())
        if existing is not None:
            raise ApiError(
                self.rt.behaviour.already_exists_status,
                "RESOURCE_ALREADY_EXISTS",
                f"Shared {_KIND_TEXT.get(existing.data_object_type, 'Object')} '{existing.alias}' already exists",
            )
        history = data.data.get("history_data_sharing_status")
        if history is not None:
            history = parse_enum(
                history,
                HISTORY_STATUSES,
                data.field_name("history_data_sharing_status"),
                strict=self._strict(),
            )
        obj = SharedObject(
            name=name.lower(),
            data_object_type=kind,
            added_at=now_ms,
            added_by=self.rt.principal,
            cdf_enabled=data.bool_("cdf_enabled"),
            history_data_sharing_status=history,
            start_version=data.int_("start_version"),
            comment=data.str_("comment"),
        )
        if kind in TABLE_LIKE:
            self._add_table_like(share, work, data, obj)
        elif kind == "SCHEMA":
            self._add_schema(work, data, obj)
        elif kind == "NOTEBOOK_FILE":
            self._add_notebook(work, data, obj)
        elif kind in ("VOLUME", "MODEL"):
            self._add_volume_or_model(share, work, data, obj)
        else:
            raise invalid(f"Sharing data objects of type {kind} is not supported by the emulator.")
        return obj

    def _add_table_like(
        self, share: Share, work: dict[str, SharedObject], data: Body, obj: SharedObject
    ) -> None:
        if obj.name.count(".") != 2:
            raise invalid(
                f"'{obj.name}' is not a valid table name: expected <catalog>.<schema>.<table>."
            )
        table = self.uc.require_table(obj.name)
        expected = SHARE_TYPE_OF_TABLE.get(table.table_type)
        if expected is None:
            raise invalid(f"{obj.name} is a {table.table_type} and cannot be shared.")
        if expected != obj.data_object_type:
            raise invalid(
                f"{obj.name} is a {_type_text(expected, requested=False)} and not a "
                f"{_type_text(obj.data_object_type, requested=True)}"
            )
        if data.data.get("string_shared_as") is not None:
            raise invalid(
                f"string_shared_as is not allowed for {obj.data_object_type} '{obj.name}': use shared_as."
            )
        alias = data.str_("shared_as")
        if alias is None:
            alias = f"{table.schema_name}.{table.name}"
        obj.shared_as = self._alias_in_schema(
            share,
            work,
            obj,
            "shared_as",
            alias,
            f"{table.catalog_name}.{table.schema_name}",
            "table",
        )
        self._check_table_options(
            obj, data, table.cdf_enabled, table.current_version, [c.name for c in table.columns]
        )
        if (
            sum(o.data_object_type in TABLE_LIKE for o in work.values())
            >= PER_SHARE_LIMITS["table"]
        ):
            raise invalid(f"A share can hold at most {PER_SHARE_LIMITS['table']} tables.")
        if not table.owner_can_select:
            raise permission_denied(f"User does not have SELECT on Table '{table.full_name}'.")

    @staticmethod
    def _alias_in_schema(
        share: Share,
        work: dict[str, SharedObject],
        obj: SharedObject,
        field_name: str,
        alias: str,
        schema_name: str,
        noun: str,
    ) -> str:
        """The `<schema>.<name>` alias of an object inside a schema, lower-cased: well formed, unique in the share
        (tables, volumes and models share one name space), and its schema not shared whole."""
        if not _SHARED_AS.match(alias):
            raise invalid(
                f"Invalid {field_name} '{alias}' for '{obj.name}': expected <schema>.<{noun}> with letters, "
                "digits and underscores."
            )
        alias = alias.lower()
        for other in work.values():
            if other.data_object_type in IN_SCHEMA and other.alias == alias:
                raise invalid(
                    f"The name '{alias}' is already used by '{other.name}' in share '{share.name}'."
                )
        shared_schema = work.get(schema_name)
        if shared_schema is not None and shared_schema.data_object_type == "SCHEMA":
            raise invalid(
                f"Cannot share {obj.name} because its schema {schema_name} is already shared"
            )
        return alias

    def _check_table_options(
        self,
        obj: SharedObject,
        data: Body,
        cdf_on_table: bool,
        current_version: int,
        columns: list[str],
    ) -> None:
        """CDF/history, start_version and partition rules (ADD and UPDATE)."""
        if obj.cdf_enabled and obj.history_data_sharing_status == "ENABLED":
            raise invalid(
                f"cdf_enabled and history_data_sharing_status ENABLED cannot be combined for '{obj.name}'."
            )
        if obj.cdf_enabled and not cdf_on_table:
            raise invalid(
                f"Cannot enable CDF sharing for '{obj.name}': change data feed is not enabled on the table "
                "(delta.enableChangeDataFeed)."
            )
        if obj.start_version is not None and not 0 <= obj.start_version <= current_version:
            raise invalid(
                f"start_version {obj.start_version} of '{obj.name}' is greater than the table's current version "
                f"{current_version}."
                if obj.start_version > current_version
                else f"start_version of '{obj.name}' must not be negative."
            )
        if data.has("partitions"):
            obj.partitions = self._partitions(obj, data, columns) or None

    def _partitions(self, obj: SharedObject, data: Body, columns: list[str]) -> list[Json]:
        if obj.data_object_type != "TABLE":
            raise invalid(f"Partitions are only supported for tables, not for '{obj.name}'.")
        known = {c.lower() for c in columns}
        out: list[Json] = []
        for partition in data.objects("partitions"):
            values: list[Json] = []
            for value in partition.objects("values"):
                column = value.require_str("name")
                op = parse_enum(
                    value.data.get("op"),
                    PARTITION_OPS,
                    value.field_name("op"),
                    strict=self._strict(),
                )
                literal, key = value.str_("value"), value.str_("recipient_property_key")
                if (literal is None) == (key is None):
                    raise invalid(
                        f"Partition value of column '{column}' needs exactly one of value and recipient_property_key."
                    )
                if column.lower() not in known:
                    raise invalid(
                        f"Partition column '{column}' does not exist in table '{obj.name}'."
                    )
                values.append(
                    omit_none(
                        {
                            "name": column.lower(),
                            "op": op,
                            "value": literal,
                            "recipient_property_key": key,
                        }
                    )
                )
            out.append({"values": values})
        return out

    def _add_schema(self, work: dict[str, SharedObject], data: Body, obj: SharedObject) -> None:
        if obj.name.count(".") != 1:
            raise invalid(f"'{obj.name}' is not a valid schema name: expected <catalog>.<schema>.")
        schema = self.uc.require_schema(obj.name)
        if data.data.get("shared_as") is not None:
            raise invalid(
                f"shared_as is not allowed for SCHEMA '{obj.name}': use string_shared_as."
            )
        obj.string_shared_as = data.str_("string_shared_as") or schema.name
        prefix = obj.name + "."
        for other in work.values():
            if other.data_object_type in IN_SCHEMA and other.name.startswith(prefix):
                raise invalid(
                    f"Cannot share schema {obj.name} because its table {other.name} is already shared"
                )
        if data.has("partitions"):
            raise invalid(f"Partitions are only supported for tables, not for '{obj.name}'.")
        if sum(o.data_object_type == "SCHEMA" for o in work.values()) >= PER_SHARE_LIMITS["SCHEMA"]:
            raise invalid(f"A share can hold at most {PER_SHARE_LIMITS['SCHEMA']} schemas.")

    def _add_volume_or_model(
        self, share: Share, work: dict[str, SharedObject], data: Body, obj: SharedObject
    ) -> None:
        """A VOLUME or MODEL: the UC object must exist; it is aliased by `string_shared_as` (`<schema>.<name>`)
        and carries none of the table options."""
        kind = obj.data_object_type
        noun = "volume" if kind == "VOLUME" else "model"
        if obj.name.count(".") != 2:
            raise invalid(
                f"'{obj.name}' is not a valid {noun} name: expected <catalog>.<schema>.<{noun}>."
            )
        found = (
            self.uc.require_volume(obj.name)
            if kind == "VOLUME"
            else self.uc.require_model(obj.name)
        )
        if data.data.get("shared_as") is not None:
            raise invalid(
                f"shared_as is not allowed for {kind} '{obj.name}': use string_shared_as."
            )
        for option in _TABLE_OPTIONS:
            if data.data.get(option) is not None:
                raise invalid(f"{option} is not supported for {kind} '{obj.name}'.")
        alias = data.str_("string_shared_as")
        if alias is None:
            alias = f"{found.schema_name}.{found.name}"
        obj.string_shared_as = self._alias_in_schema(
            share,
            work,
            obj,
            "string_shared_as",
            alias,
            f"{found.catalog_name}.{found.schema_name}",
            noun,
        )
        limit = PER_SHARE_LIMITS[kind]
        if sum(o.data_object_type == kind for o in work.values()) >= limit:
            raise invalid(f"A share can hold at most {limit} {noun}s.")

    def _add_notebook(self, work: dict[str, SharedObject], data: Body, obj: SharedObject) -> None:
        if data.data.get("shared_as") is not None:
            raise invalid(
                f"shared_as is not allowed for NOTEBOOK_FILE '{obj.name}': use string_shared_as."
            )
        content = data.str_("content")
        if not content:
            raise invalid(f"content is required to share the notebook '{obj.name}'.")
        obj.name = data.require_str("name")
        obj.content = content
        obj.string_shared_as = data.str_("string_shared_as") or obj.name
        if (
            sum(o.data_object_type == "NOTEBOOK_FILE" for o in work.values())
            >= PER_SHARE_LIMITS["NOTEBOOK_FILE"]
        ):
            raise invalid(
                f"A share can hold at most {PER_SHARE_LIMITS['NOTEBOOK_FILE']} notebooks."
            )

    def _update_object(self, current: SharedObject, data: Body) -> SharedObject:
        updated = copy.deepcopy(current)
        kind = data.data.get("data_object_type")
        if kind is not None:
            kind = parse_enum(
                kind, DATA_OBJECT_TYPES, data.field_name("data_object_type"), strict=self._strict()
            )
            if kind != current.data_object_type:
                raise invalid(
                    f"The data_object_type of '{current.name}' cannot change ({current.data_object_type})."
                )
        for alias_field in ("shared_as", "string_shared_as"):
            value = data.str_(alias_field)
            if value is not None and value.lower() != (getattr(current, alias_field) or "").lower():
                raise invalid(f"{alias_field} of '{current.name}' cannot be changed.")
        if current.data_object_type in ("VOLUME", "MODEL"):
            for option in _TABLE_OPTIONS:
                if data.data.get(option) is not None:
                    raise invalid(
                        f"{option} is not supported for {current.data_object_type} '{current.name}'."
                    )
        if data.has("comment"):
            updated.comment = data.str_("comment")
        if data.has("cdf_enabled"):
            updated.cdf_enabled = data.bool_("cdf_enabled")
        if data.has("history_data_sharing_status"):
            value = data.data.get("history_data_sharing_status")
            updated.history_data_sharing_status = (
                None
                if value is None
                else parse_enum(
                    value,
                    HISTORY_STATUSES,
                    data.field_name("history_data_sharing_status"),
                    strict=self._strict(),
                )
            )
        if data.has("start_version"):
            updated.start_version = data.int_("start_version")
        if data.has("content") and current.data_object_type == "NOTEBOOK_FILE":
            updated.content = data.str_("content") or current.content
        if current.data_object_type in TABLE_LIKE:
            table = self.uc.require_table(current.name)
            self._check_table_options(
                updated,
                data,
                table.cdf_enabled,
                table.current_version,
                [c.name for c in table.columns],
            )
        return updated

    def delete_share(self, share: Share) -> None:
        """`shares.delete` (its grants go with it)."""
        if share.audit.owner != self.rt.principal:
            raise not_owner("Share", share.name)
        self.shares.pop(share.name)

    def share_json(self, share: Share, *, include_objects: bool) -> Json:
        """ShareInfo; objects sorted by name only when asked for."""
        body = omit_none(
            {
                "name": share.name,
                "comment": share.comment,
                "storage_root": share.storage_root,
                "storage_location": share.storage_root,
                **share.audit.stamps(),
            }
        )
        if include_objects:
            body["objects"] = [share.objects[k].to_json() for k in sorted(share.objects)]
        return body

    # ------------------------------------------------------------------------------------------ grants

    def update_permissions(self, share: Share, body: Body, now_ms: int) -> None:
        """`shares.update_permissions`: validate every change, then apply them."""
        if share.audit.owner != self.rt.principal:
            raise not_owner("Share", share.name)
        planned: list[tuple[str, set[str], set[str]]] = []
        for change in body.objects("changes"):
            principal = change.require_str("principal").lower()
            recipient = self.require_recipient(principal)
            add = self._privileges(change, "add")
            remove = self._privileges(change, "remove")
            if add and recipient.audit.owner != self.rt.principal:
                raise not_owner("Recipient", recipient.name)
            planned.append((principal, add, remove))
        lag = self.rt.behaviour.permissions_readback_lag_ms
        if lag > 0:
            if share.readback_grants is None or now_ms >= share.readback_until:
                share.readback_grants = {p: set(v) for p, v in share.grants.items()}
            share.readback_until = now_ms + lag
        for principal, add, remove in planned:
            privileges = share.grants.setdefault(principal, set())
            privileges |= add
            privileges -= remove
            if not privileges:
                del share.grants[principal]

    def _privileges(self, change: Body, field_name: str) -> set[str]:
        out = set()
        for index, value in enumerate(change.list_(field_name) or []):
            where = f"{change.field_name(field_name)}[{index}]"
            privilege = parse_enum(value, KNOWN_PRIVILEGES, where, strict=self._strict())
            if privilege not in SHARE_PRIVILEGES:
                raise invalid(f"Privilege {privilege} is not applicable to shares; only SELECT is.")
            out.add(privilege)
        return out

    @staticmethod
    def assignments(grants: Grants, principals: list[str] | None = None) -> list[Json]:
        """`privilege_assignments` sorted by principal."""
        names = principals if principals is not None else sorted(grants)
        return [{"principal": p, "privileges": sorted(grants[p])} for p in names if grants.get(p)]

    def _grantee_renamed(self, old: str, new: str) -> None:
        """A renamed recipient keeps its grants (also those still being read back)."""
        for share in self.shares.values():
            for grants in (share.grants, share.readback_grants):
                if grants is not None and old in grants:
                    grants[new] = grants.pop(old)

    def _grantee_deleted(self, name: str) -> None:
        """A deleted recipient's grants on every share go too."""
        for share in self.shares.values():
            share.grants.pop(name, None)

    # ------------------------------------------------------------------------------------------ seed

    def _seed_share(self, index: int, spec: ShareSeed) -> None:
        created = (
            self.rt.seed_time(spec.created) if spec.created is not None else self.rt.seed_origin_ms
        )
        share = Share(
            name=spec.name,
            audit=self.audit(spec.owner, created),
            comment=spec.comment,
            storage_root=spec.storage_root,
        )
        updates = [
            Body(
                {"action": "ADD", "data_object": obj.model_dump(exclude_none=True)},
                f"shares[{index}].objects[{i}]",
            )
            for i, obj in enumerate(spec.objects)
        ]
        # Applied in batches of the PATCH limit: a seed may hold more objects than one request could add.
        for start in range(0, len(updates), MAX_UPDATES_PER_PATCH):
            batch = updates[start : start + MAX_UPDATES_PER_PATCH]
            try:
                share.objects = self.apply_updates(share, batch, created)
            except ApiError as exc:
                raise SeedError([f"shares[{index}].objects: {exc.message}"]) from None
        for grant in spec.grants:
            share.grants.setdefault(grant.principal, set()).update(grant.privileges)
        self.shares.put(share.name, share)

    def dump(self) -> Json:
        """Shares with objects and grants, recipients with tokens and activation codes (test tool)."""
        return {
            "shares": [
                {**self.share_json(s, include_objects=True), "grants": self.assignments(s.grants)}
                for s in self.shares.values()
            ],
            "recipients": self._dump_recipients(),
        }
