"""Delta Sharing shares: list, read, create, delete, objects and recipient grants (docs/API.md §4).

Every function takes the workspace's `WorkspaceClient` first and makes the minimal upstream calls the spec lists;
validation happens before the first write, writes are batched (≤ 100 object updates per `shares.update`).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Protocol

from databricks.sdk import WorkspaceClient
from databricks.sdk.errors import NotFound
from databricks.sdk.service.catalog import TableInfo
from databricks.sdk.service.sharing import (
    Partition,
    PartitionValue,
    PartitionValueOp,
    PermissionsChange,
    PrivilegeAssignment,
    SharedDataObject,
    SharedDataObjectDataObjectType,
    SharedDataObjectHistoryDataSharingStatus,
    SharedDataObjectUpdate,
    SharedDataObjectUpdateAction,
    ShareInfo,
)
from databricks.sdk.service.workspace import ExportFormat

from dbrx_api.concurrency import DEFAULT_MAX_PARALLEL, bounded_map
from dbrx_api.errors import AppError, ConflictError, InvalidRequest, NotFoundError, upstream
from dbrx_api.passthrough import Item, list_all
from dbrx_api.schemas.common import (
    DeleteResult,
    ListQuery,
    enum_text,
    epoch_ms_text,
    from_epoch_ms,
    list_body,
)
from dbrx_api.schemas.paths import path_segment
from dbrx_api.schemas.shares import (
    TABLE_LIKE_TYPES,
    VOLUME_MODEL_TYPES,
    ObjectRef,
    ObjectsAdded,
    ObjectsRemoved,
    ObjectsRequest,
    PartitionOut,
    PartitionValueOut,
    RecipientNames,
    RecipientsAdded,
    RecipientsRemoved,
    ShareCreate,
    ShareDetail,
    SharedObject,
    SharedObjectType,
    ShareGrant,
)

logger = logging.getLogger(__name__)

MAX_UPDATES_PER_CALL = 100
SELECT = "SELECT"

# Unity Catalog table types and the share object type they are shared as (docs/API.md §4.5 step 2).
_SHARE_TYPE_BY_TABLE_TYPE = {
    "MANAGED": SharedObjectType.TABLE,
    "EXTERNAL": SharedObjectType.TABLE,
    "MANAGED_SHALLOW_CLONE": SharedObjectType.TABLE,
    "EXTERNAL_SHALLOW_CLONE": SharedObjectType.TABLE,
    "VIEW": SharedObjectType.VIEW,
    "MATERIALIZED_VIEW": SharedObjectType.MATERIALIZED_VIEW,
    "STREAMING_TABLE": SharedObjectType.STREAMING_TABLE,
    "FOREIGN": SharedObjectType.FOREIGN_TABLE,
}


# ------------------------------------------------------------------------------------------ conversions


def shared_object_from_sdk(obj: SharedDataObject) -> SharedObject:
    """The API's view of a shared object."""
    partitions = None
    if obj.partitions is not None:
        partitions = [
            PartitionOut(
                values=[
                    PartitionValueOut(
                        name=v.name,
                        op=enum_text(v.op),
                        value=v.value,
                        recipient_property_key=v.recipient_property_key,
                    )
                    for v in (p.values or [])
                ]
            )
            for p in obj.partitions
        ]
    return SharedObject(
        name=obj.name,
        type=enum_text(obj.data_object_type),
        shared_as=obj.shared_as,
        string_shared_as=obj.string_shared_as,
        cdf_enabled=obj.cdf_enabled,
        history_data_sharing_status=enum_text(obj.history_data_sharing_status),
        start_version=obj.start_version,
        partitions=partitions,
        comment=obj.comment,
        added_at=from_epoch_ms(obj.added_at),
        added_by=obj.added_by,
        status=enum_text(obj.status),
    )


def _summary_fields(info: ShareInfo) -> dict[str, object]:
    return {
        "name": info.name or "",
        "owner": info.owner,
        "comment": info.comment,
        "storage_root": info.storage_root,
        "created_at": from_epoch_ms(info.created_at),
        "updated_at": from_epoch_ms(info.updated_at),
        "created_by": info.created_by,
        "updated_by": info.updated_by,
    }


def _grants(assignments: Sequence[PrivilegeAssignment]) -> list[ShareGrant]:
    grants = [
        ShareGrant(
            recipient=a.principal or "",
            privileges=sorted(enum_text(p) or "" for p in (a.privileges or [])),
        )
        for a in assignments
    ]
    return sorted(grants, key=lambda g: g.recipient.lower())


# ------------------------------------------------------------------------------------------ gateway
# Each Databricks call on a share, built once: the REST service below and the share-pack orchestrator
# (workflow/orchestrator/apply.py, delete.py) both call these (grants: `update_grants`). They take the workspace's
# `WorkspaceClient` (or the orchestrator's counted `CountedWorkspace.client`, typed as one) and plain values, put
# names into URL paths through `path_segment` and return the SDK's object; SDK errors leave as `AppError`.


def sdk_get_share(ws: WorkspaceClient, name: str, *, include_shared_data: bool = True) -> ShareInfo:
    """`shares.get`, with its objects unless `include_shared_data` is False."""
    with upstream("share", name):
        return ws.shares.get(path_segment(name), include_shared_data=include_shared_data)


def sdk_create_share(
    ws: WorkspaceClient, name: str, *, comment: str | None, storage_root: str | None = None
) -> ShareInfo:
    """`shares.create`."""
    with upstream("share", name):
        return ws.shares.create(name, comment=comment, storage_root=storage_root)


def sdk_update_share(
    ws: WorkspaceClient,
    name: str,
    *,
    updates: Sequence[SharedDataObjectUpdate] | None = None,
    comment: str | None = None,
) -> ShareInfo:
    """One `shares.update`: object updates (none sent when empty) and/or the comment (None: not sent)."""
    with upstream("share", name):
        return ws.shares.update(
            path_segment(name), updates=list(updates) if updates else None, comment=comment
        )


def sdk_delete_share(ws: WorkspaceClient, name: str) -> None:
    """`shares.delete` (its grants go with it)."""
    with upstream("share", name):
        ws.shares.delete(path_segment(name))


# ------------------------------------------------------------------------------------------ reads


SHARES_PATH = "/api/2.1/unity-catalog/shares"


def share_summary_item(share: Item) -> Item:
    """A **ShareSummary** (docs/API.md §2.1) from a share as Databricks sends it, members in the model's order."""
    get = share.get
    return {
        "name": get("name") or "",
        "owner": get("owner"),
        "comment": get("comment"),
        "storage_root": get("storage_root"),
        "created_at": epoch_ms_text(get("created_at")),
        "updated_at": epoch_ms_text(get("updated_at")),
        "created_by": get("created_by"),
        "updated_by": get("updated_by"),
    }


def list_shares(ws: WorkspaceClient, query: ListQuery) -> bytes:
    """The JSON body of `GET /shares` (a **ShareList**): every share (all upstream pages), filtered and sliced.

    A pass-through read (`dbrx_api.passthrough`): the pages the SDK's `shares.list_shares()` requests, shaped
    from the decoded JSON without SDK dataclasses or pydantic, serialised once (docs/API.md §4.1).
    """
    with upstream("share"):
        shares = list_all(ws, SHARES_PATH, "shares", {"max_results": 0})
    return list_body([share_summary_item(share) for share in shares], query)


def iter_share_permissions(ws: WorkspaceClient, name: str) -> Iterator[PrivilegeAssignment]:
    """Every privilege assignment of a share, following `next_page_token` (the SDK returns one page)."""
    page_token: str | None = None
    while True:
        with upstream("share", name):
            response = ws.shares.share_permissions(path_segment(name), page_token=page_token)
        yield from response.privilege_assignments or []
        page_token = response.next_page_token
        if not page_token:
            return


def share_grants(ws: WorkspaceClient, name: str) -> list[ShareGrant]:
    """The recipients granted on a share (every permissions page)."""
    return _grants(list(iter_share_permissions(ws, name)))


def get_share(
    ws: WorkspaceClient, name: str, *, include_objects: bool = True, include_recipients: bool = True
) -> ShareDetail:
    """A share with its objects and grants (1-2 upstream calls)."""
    info = sdk_get_share(ws, name, include_shared_data=include_objects)
    objects = [shared_object_from_sdk(o) for o in info.objects or []] if include_objects else []
    recipients = share_grants(ws, name) if include_recipients else []
    return ShareDetail.model_validate(
        {**_summary_fields(info), "objects": _sorted_objects(objects), "recipients": recipients}
    )


def _sorted_objects(objects: list[SharedObject]) -> list[SharedObject]:
    return sorted(objects, key=lambda o: o.name.lower())


# ------------------------------------------------------------------------------------------ create / delete


def create_share(ws: WorkspaceClient, body: ShareCreate) -> ShareDetail:
    """Create a share; "already exists" upstream becomes 409 `share_already_exists`."""
    info = sdk_create_share(ws, body.name, comment=body.description, storage_root=body.storage_root)
    return ShareDetail.model_validate({**_summary_fields(info), "objects": [], "recipients": []})


def delete_share(ws: WorkspaceClient, name: str) -> DeleteResult:
    """Delete a share (its grants disappear with it)."""
    sdk_delete_share(ws, name)
    return DeleteResult(name=name.lower(), deleted=True)


# ------------------------------------------------------------------------------------------ objects


@dataclass(frozen=True, slots=True)
class _Resolved:
    """A requested object after its Unity Catalog lookup."""

    ref: ObjectRef
    object_type: SharedObjectType | None  # None: missing upstream
    cdf_property: bool = False
    content: str | None = None  # notebooks: base64 source


def _notebook_file_name(ref: ObjectRef) -> str:
    return ref.shared_as or ref.name.rstrip("/").rsplit("/", 1)[-1]


def _share_key(ref: ObjectRef) -> str:
    """The name the object has inside the share (notebooks are stored under their file name)."""
    return (_notebook_file_name(ref) if ref.is_notebook else ref.name).lower()


def _canonical_name(ref: ObjectRef) -> str:
    """Unity Catalog names in lower case, as Databricks stores them; workspace paths are case-sensitive."""
    return ref.name if ref.is_notebook else ref.name.lower()


def _effective_shared_as(ref: ObjectRef) -> str | None:
    if ref.is_notebook or ref.is_schema:
        return None
    if ref.shared_as:
        return ref.shared_as.lower()
    _, schema, table = ref.name.lower().split(".")
    return f"{schema}.{table}"


def _resolve(ws: WorkspaceClient, ref: ObjectRef) -> _Resolved:
    """Look the object up in Unity Catalog or the workspace (one read); missing objects are collected, not raised."""
    with upstream("object", ref.name):
        try:
            if ref.is_notebook:
                exported = ws.workspace.export(ref.name, format=ExportFormat.SOURCE)
                return _Resolved(
                    ref, SharedObjectType.NOTEBOOK_FILE, content=exported.content or ""
                )
            if ref.is_schema:
                ws.schemas.get(path_segment(ref.name))
                return _Resolved(ref, SharedObjectType.SCHEMA)
            if ref.type in VOLUME_MODEL_TYPES:
                found = _volume_or_model(ws, ref)
                if found is not None:
                    return found
            # Also for a declared volume or model that is not one: a table of that name is a type mismatch.
            table = ws.tables.get(path_segment(ref.name))
        except NotFound:
            return _Resolved(ref, None)
    return _resolve_table(ref, table)


def _volume_or_model(ws: WorkspaceClient, ref: ObjectRef) -> _Resolved | None:
    """A declared VOLUME (`volumes.read`) or MODEL (`registered_models.get`); None when absent."""
    try:
        if ref.type == SharedObjectType.VOLUME:
            ws.volumes.read(path_segment(ref.name))
        else:
            ws.registered_models.get(path_segment(ref.name))
    except NotFound:
        return None
    return _Resolved(ref, ref.type)


def _resolve_table(ref: ObjectRef, table: TableInfo) -> _Resolved:
    table_type = enum_text(table.table_type) or ""
    share_type = _SHARE_TYPE_BY_TABLE_TYPE.get(table_type)
    if share_type is None:
        raise InvalidRequest(
            f"'{ref.name}' is a {table_type or 'object of unknown type'}, which Delta Sharing cannot share.",
            code="object_type_unsupported",
        )
    properties = table.properties or {}
    cdf = str(properties.get("delta.enableChangeDataFeed", "")).lower() == "true"
    return _Resolved(ref, share_type, cdf_property=cdf)


def _check_resolved(resolved: Sequence[_Resolved]) -> None:
    missing = [r.ref.name for r in resolved if r.object_type is None]
    if missing:
        raise NotFoundError(
            f"{len(missing)} requested object(s) do not exist: {', '.join(missing)}.",
            code="object_not_found",
            missing=missing,
        )
    for r in resolved:
        if r.ref.type is not None and r.object_type is not None and r.ref.type != r.object_type:
            raise InvalidRequest(
                f"'{r.ref.name}' is a {r.object_type.value}, not a {r.ref.type.value}.",
                code="object_type_mismatch",
            )
        if r.ref.cdf_enabled and r.object_type in TABLE_LIKE_TYPES and not r.cdf_property:
            raise InvalidRequest(
                f"cdf_enabled was requested for '{r.ref.name}', but its table property "
                "delta.enableChangeDataFeed is not 'true'. Enable change data feed on the table first; "
                "this service never changes table properties.",
                code="cdf_not_enabled",
            )


def _conflicts(new: Sequence[ObjectRef], existing: Sequence[SharedObject]) -> list[str]:
    """Schema-vs-table overlaps and `shared_as` clashes between new objects and the share (docs/API.md §4.5 step 4)."""
    conflicts: list[str] = []
    schemas = {r.name.lower() for r in new if r.is_schema}
    schemas |= {o.name.lower() for o in existing if o.type == SharedObjectType.SCHEMA}
    tables = [(r.name.lower(), True) for r in new if not r.is_schema and not r.is_notebook]
    tables += [
        (o.name.lower(), False)
        for o in existing
        if o.type in TABLE_LIKE_TYPES or o.type in VOLUME_MODEL_TYPES
    ]
    new_schemas = {r.name.lower() for r in new if r.is_schema}
    for table, is_new in tables:
        schema = table.rsplit(".", 1)[0]
        if schema in schemas and (is_new or schema in new_schemas):
            conflicts.append(f"'{table}' overlaps with shared schema '{schema}'")
    aliases: dict[str, str] = {o.shared_as.lower(): o.name for o in existing if o.shared_as}
    aliases |= {
        o.string_shared_as.lower(): o.name
        for o in existing
        if o.string_shared_as and o.type in VOLUME_MODEL_TYPES
    }
    for ref in new:
        alias = _effective_shared_as(ref)
        if alias is None:
            continue
        owner = aliases.get(alias)
        if owner is not None and owner.lower() != ref.name.lower():
            conflicts.append(f"shared_as '{alias}' of '{ref.name}' is already used by '{owner}'")
        aliases[alias] = ref.name
    return conflicts


def _requested_differs(ref: ObjectRef, current: SharedObject) -> list[str]:
    """Attributes given in the request that differ from the object already in the share."""
    differing: list[str] = []
    if ref.cdf_enabled is not None and bool(current.cdf_enabled) != ref.cdf_enabled:
        differing.append("cdf_enabled")
    if ref.history_data_sharing_status is not None and (
        (current.history_data_sharing_status or "DISABLED") != ref.history_data_sharing_status
    ):
        differing.append("history_data_sharing_status")
    if ref.start_version is not None and current.start_version != ref.start_version:
        differing.append("start_version")
    if ref.comment is not None and (current.comment or "") != ref.comment:
        differing.append("comment")
    if ref.partitions is not None:
        wanted = [p.model_dump() for p in ref.partitions]
        have = [{"values": [v.model_dump() for v in p.values]} for p in (current.partitions or [])]
        if wanted != have:
            differing.append("partitions")
    return differing


class _PartitionValueSpec(Protocol):
    @property
    def name(self) -> str: ...
    @property
    def op(self) -> str: ...
    @property
    def value(self) -> str | None: ...
    @property
    def recipient_property_key(self) -> str | None: ...


class _PartitionSpec(Protocol):
    @property
    def values(self) -> Sequence[_PartitionValueSpec]: ...


def sdk_partitions(specs: Sequence[_PartitionSpec] | None) -> list[Partition] | None:
    """Partition specs (of an API request or a share pack) as the SDK's `Partition` objects."""
    if specs is None:
        return None
    return [
        Partition(
            values=[
                PartitionValue(
                    name=v.name,
                    op=PartitionValueOp(v.op),
                    value=v.value,
                    recipient_property_key=v.recipient_property_key,
                )
                for v in spec.values
            ]
        )
        for spec in specs
    ]


def sdk_history_status(status: str | None) -> SharedDataObjectHistoryDataSharingStatus | None:
    """`ENABLED`/`DISABLED` as the SDK enum (None when the option is not managed)."""
    return SharedDataObjectHistoryDataSharingStatus(status) if status else None


def _sdk_object(
    ref: ObjectRef, object_type: SharedObjectType | None, content: str | None
) -> SharedDataObject:
    partitions = sdk_partitions(ref.partitions)
    history = sdk_history_status(ref.history_data_sharing_status)
    if ref.is_notebook:
        return SharedDataObject(
            name=_notebook_file_name(ref),
            data_object_type=SharedDataObjectDataObjectType.NOTEBOOK_FILE,
            content=content,
            comment=ref.comment,
        )
    return SharedDataObject(
        name=ref.name.lower(),
        data_object_type=SharedDataObjectDataObjectType(object_type.value) if object_type else None,
        shared_as=ref.shared_as if not ref.is_schema else None,
        cdf_enabled=ref.cdf_enabled,
        history_data_sharing_status=history,
        start_version=ref.start_version,
        partitions=partitions,
        comment=ref.comment,
    )


def object_update_batches(
    updates: Sequence[SharedDataObjectUpdate], limit: int = MAX_UPDATES_PER_CALL
) -> list[list[SharedDataObjectUpdate]]:
    """Cut updates, in their order, into `shares.update` calls of at most `limit` updates.

    Databricks rejects a call that names one object twice, so an update whose object is already in the current
    batch starts a new one: a `REMOVE` followed later by an `ADD` of the same name (a re-created object) always
    lands in an earlier call than the `ADD`. Names are compared case-insensitively.
    """
    batches: list[list[SharedDataObjectUpdate]] = []
    current: list[SharedDataObjectUpdate] = []
    names: set[str] = set()
    for update in updates:
        name = (update.data_object.name or "").lower() if update.data_object else ""
        if len(current) >= limit or name in names:
            batches.append(current)
            current, names = [], set()
        current.append(update)
        names.add(name)
    if current:
        batches.append(current)
    return batches


def apply_object_updates(
    ws: WorkspaceClient, share: str, updates: Sequence[SharedDataObjectUpdate]
) -> ShareInfo | None:
    """Write object updates in batches of at most 100 (each object once per call, see `object_update_batches`).

    A failure after some batches carries `applied` (the object names already written). Returns the share as the
    last call answered it, or None when there was nothing to write.
    """
    applied: list[str] = []
    info: ShareInfo | None = None
    for batch in object_update_batches(updates):
        try:
            info = sdk_update_share(ws, share, updates=batch)
        except AppError as exc:
            if applied:
                exc.extra["applied"] = list(applied)
            raise
        applied.extend(u.data_object.name for u in batch if u.data_object is not None)
    return info


def add_objects(
    ws: WorkspaceClient,
    share: str,
    request: ObjectsRequest,
    *,
    max_parallel: int = DEFAULT_MAX_PARALLEL,
) -> ObjectsAdded:
    """Add (or update) objects idempotently: validate everything, then write only the differences."""
    info = sdk_get_share(ws, share)
    current = {o.name.lower(): o for o in (shared_object_from_sdk(x) for x in info.objects or [])}
    added: list[ObjectRef] = []
    updated: list[tuple[ObjectRef, SharedObject]] = []
    already_present: list[str] = []
    refs, warnings = request.unique_refs()
    for ref in refs:
        existing = current.get(_share_key(ref))
        if existing is None:
            added.append(ref)
            continue
        if ref.type is not None and existing.type is not None and ref.type.value != existing.type:
            raise InvalidRequest(
                f"'{ref.name}' is shared as a {existing.type}, not a {ref.type.value}.",
                code="object_type_mismatch",
            )
        if ref.shared_as is not None and (
            existing.shared_as or existing.string_shared_as or ""
        ).lower() != (ref.shared_as.lower()):
            raise ConflictError(
                f"'{ref.name}' is already shared as '{existing.shared_as}'; shared_as cannot change. "
                "Revoke the object and add it again to rename it.",
                code="share_object_conflict",
                conflicts=[f"shared_as of '{ref.name}' cannot change"],
            )
        if _requested_differs(ref, existing):
            updated.append((ref, existing))
        else:
            already_present.append(existing.name)

    resolved = bounded_map(lambda r: _resolve(ws, r), added, max_parallel)
    _check_resolved(resolved)
    conflicts = _conflicts(added, list(current.values()))
    if conflicts:
        raise ConflictError(
            "Some objects conflict with each other or with the share: "
            + "; ".join(conflicts)
            + ".",
            code="share_object_conflict",
            conflicts=conflicts,
        )
    updates = [
        SharedDataObjectUpdate(
            action=SharedDataObjectUpdateAction.ADD,
            data_object=_sdk_object(r.ref, r.object_type, r.content),
        )
        for r in resolved
    ] + [
        SharedDataObjectUpdate(
            action=SharedDataObjectUpdateAction.UPDATE,
            data_object=_sdk_object(
                ref, SharedObjectType(existing.type) if existing.type else None, None
            ),
        )
        for ref, existing in updated
    ]
    result = apply_object_updates(ws, share, updates)
    objects = (
        [shared_object_from_sdk(o) for o in result.objects or []]
        if result
        else list(current.values())
    )
    stored = {o.name.lower(): o.name for o in objects}
    return ObjectsAdded(
        share=info.name or share.lower(),
        # Names as the share stores them, not as typed ("MAIN.SALES.ORDERS" is stored main.sales.orders).
        added=[stored.get(_share_key(r), _canonical_name(r)) for r in added],
        updated=[existing.name for _, existing in updated],
        already_present=already_present,
        objects=_sorted_objects(objects),
        warnings=warnings,
    )


def revoke_objects(ws: WorkspaceClient, share: str, request: ObjectsRequest) -> ObjectsRemoved:
    """Remove objects; names not in the share are reported in `not_present`, not as an error."""
    info = sdk_get_share(ws, share)
    current = [shared_object_from_sdk(x) for x in info.objects or []]
    by_name = {o.name.lower(): o for o in current}
    by_alias = {(o.string_shared_as or "").lower(): o for o in current if o.string_shared_as}
    removed: list[str] = []
    not_present: list[str] = []
    updates: list[SharedDataObjectUpdate] = []
    refs, warnings = request.unique_refs()
    for ref in refs:
        target = by_name.get(_share_key(ref)) or by_alias.get(_share_key(ref))
        if target is None:
            not_present.append(_canonical_name(ref))
            continue
        removed.append(target.name)
        updates.append(
            SharedDataObjectUpdate(
                action=SharedDataObjectUpdateAction.REMOVE,
                data_object=SharedDataObject(name=target.name),
            )
        )
    result = apply_object_updates(ws, share, updates)
    objects = [shared_object_from_sdk(o) for o in result.objects or []] if result else current
    return ObjectsRemoved(
        share=info.name or share.lower(),
        removed=removed,
        not_present=not_present,
        objects=_sorted_objects(objects),
        warnings=warnings,
    )


# ------------------------------------------------------------------------------------------ grants


def _granted(grants: Sequence[ShareGrant]) -> set[str]:
    return {g.recipient.lower() for g in grants if SELECT in g.privileges}


def update_grants(
    ws: WorkspaceClient, share: str, *, add: Sequence[str] = (), remove: Sequence[str] = ()
) -> list[ShareGrant]:
    """One `update_permissions` call granting/revoking SELECT; returns the resulting grants."""
    changes = [PermissionsChange(principal=r, add=[SELECT]) for r in add]
    changes += [PermissionsChange(principal=r, remove=[SELECT]) for r in remove]
    with upstream("share", share):
        response = ws.shares.update_permissions(path_segment(share), changes=changes)
    return _grants(response.privilege_assignments or [])


def add_recipients(
    ws: WorkspaceClient,
    share: str,
    request: RecipientNames,
    *,
    max_parallel: int = DEFAULT_MAX_PARALLEL,
) -> RecipientsAdded:
    """Grant SELECT to recipients not yet granted, in one upstream write (k + 2 calls for k new)."""
    recipients, warnings = request.unique_names()
    grants = share_grants(ws, share)
    granted = _granted(grants)
    to_add = [r for r in recipients if r.lower() not in granted]
    already_present = [r for r in recipients if r.lower() in granted]

    def exists(name: str) -> bool:
        with upstream("recipient", name):
            try:
                ws.recipients.get(path_segment(name))
            except NotFound:
                return False
        return True

    missing = [
        name
        for name, ok in zip(to_add, bounded_map(exists, to_add, max_parallel), strict=True)
        if not ok
    ]
    if missing:
        raise NotFoundError(
            f"Unknown recipient(s): {', '.join(missing)}; nothing was granted.",
            code="recipient_not_found",
            missing=missing,
        )
    if to_add:
        grants = update_grants(ws, share, add=to_add)
    return RecipientsAdded(
        share=share.lower(),
        added=list(to_add),
        already_present=already_present,
        recipients=grants,
        warnings=warnings,
    )


def remove_recipients(
    ws: WorkspaceClient, share: str, request: RecipientNames
) -> RecipientsRemoved:
    """Revoke SELECT from granted recipients in one upstream write; others are `not_present`."""
    recipients, warnings = request.unique_names()
    grants = share_grants(ws, share)
    granted = _granted(grants)
    to_remove = [r for r in recipients if r.lower() in granted]
    not_present = [r for r in recipients if r.lower() not in granted]
    if to_remove:
        grants = update_grants(ws, share, remove=to_remove)
    return RecipientsRemoved(
        share=share.lower(),
        removed=to_remove,
        not_present=not_present,
        recipients=grants,
        warnings=warnings,
    )
