"""The share kind in one room: the share, its objects and its grants (docs/SHAREPACK.md §5, §9;
docs/WORKFLOW.md §9.3-§9.4, §9.8, §11).

Everything provisioning, plan, DELETE and drift know about a share is here:

* its desired state from the canonical pack: the comment, the asset set (`desired_assets`, keyed by `asset_key`)
  and the grant set (`desired_grants`);
* its managed fields and the one comparison each: the comment (`comment_change`), an object's options
  (`option_differences`) and its alias (`shared_as_differs`); the diff runs them against the pack, drift against the
  recorded row;
* its actions in the graph (`plan`): `share:<name>` (create / comment), `share_objects:<name>` (REMOVE, ADD, UPDATE
  batched in as few `shares.update` calls as the limit allows, `ObjectChanges`) and `share_grants:<name>` (one
  `update_permissions`);
* its Databricks calls, all through the `dltshr.shares` gateway (create, update, grants, delete);
* its SCD2 row (`record_of`, written with `db.repositories.shares`);
* its pack entry read back from a live share, for the export (`exported_share`, `exported_asset`,
  docs/WORKFLOW.md §15);
* its live checks before anything is planned (`check_share`: presence, each asset resolved to its object type, the
  set after this version; `check_share_grants`: the grantees exist), run by `orchestrator.checks`.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from databricks.sdk.service.sharing import (
    SharedDataObject,
    SharedDataObjectDataObjectType,
    SharedDataObjectUpdate,
    SharedDataObjectUpdateAction,
)
from databricks.sdk.service.sharing import ShareInfo as SdkShareInfo

from dbrx_api.dltshr.shares import (
    object_update_batches,
    sdk_create_share,
    sdk_delete_share,
    sdk_get_share,
    sdk_history_status,
    sdk_partitions,
    sdk_update_share,
    update_grants,
)
from dbrx_api.errors import ConflictError, NotFoundError
from dbrx_api.schemas.common import enum_text, from_epoch_ms
from dbrx_api.workflow.db.repositories import shares
from dbrx_api.workflow.db.repositories.provisioning_steps import StepOutcome
from dbrx_api.workflow.db.repositories.records import RecordWrite
from dbrx_api.workflow.db.repositories.shares import ShareRecord
from dbrx_api.workflow.models.pack import (
    TABLE_LIKE_TYPES,
    VOLUME_MODEL_TYPES,
    Asset,
    PartitionSpec,
    Share,
    SharePack,
)
from dbrx_api.workflow.orchestrator.actions import (
    Action,
    AnyAction,
    StepType,
    Verb,
    step_key,
)
from dbrx_api.workflow.orchestrator.live import LiveReader
from dbrx_api.workflow.orchestrator.steps import (
    RunContext,
    StepResult,
    already_gone,
    kept_recreated,
    record_reason,
)
from dbrx_api.workflow.resources import Warn, deletion_row, own_previous, set_difference, work_of
from dbrx_api.workflow.resources.recipient import RESOURCE_TYPE as RECIPIENT_TYPE
from dbrx_api.workflow.validators.fields import (
    AssetKind,
    AssetName,
    parse_asset_name,
    schema_overlaps,
    share_limit_problems,
)

if TYPE_CHECKING:
    from uuid import UUID

    from databricks.sdk.service.catalog import TableInfo

    from dbrx_api.settings import Settings
    from dbrx_api.workflow.db.connection import DictConnection
    from dbrx_api.workflow.models.pack import Pipeline
    from dbrx_api.workflow.orchestrator.checks import LiveChecker
    from dbrx_api.workflow.orchestrator.diff import GraphBuilder
    from dbrx_api.workflow.validators.locator import PackLocator

RESOURCE_TYPE = StepType.SHARE
OBJECTS = StepType.SHARE_OBJECTS  # the objects action (step key `share_objects:<name>`)
GRANTS = StepType.SHARE_GRANTS  # the grants action (step key `share_grants:<name>`)
OPTIONS = ("comment", "cdf_enabled", "history_data_sharing_status", "start_version")
_GRANT_KEYS = ("recipients", "recipients_to_add", "recipients_to_remove")
_LIVE_TYPES = {"VIEW", "MATERIALIZED_VIEW", "STREAMING_TABLE"}
# Object types a pack declares with `type` (a view-like object needs no pipeline; a volume or model is only ever
# declared, docs/SHAREPACK.md §7.3-§7.4). Tables and schemas go without a type.
_DECLARED_TYPES = _LIVE_TYPES | set(VOLUME_MODEL_TYPES)
# Unity Catalog `table_type` -> share data-object type (docs/SHAREPACK.md §7.3).
TABLE_TYPES: dict[str, str] = {"MANAGED": "TABLE", "EXTERNAL": "TABLE"} | {
    t: t for t in _LIVE_TYPES
}
# The asset kind of a live object that is not table-like (the others are three-part names).
_LIVE_KINDS: dict[str, AssetKind] = {"SCHEMA": "schema", "NOTEBOOK_FILE": "notebook"}
# What a missing three-part asset is called: its declared type, else "table" (docs/SHAREPACK.md §13.4).
_MISSING_NOUNS = {t: t.lower().replace("_", " ") for t in _LIVE_TYPES}
# The step detail's count of each object update action.
_COUNTED_AS = {"ADD": "added", "REMOVE": "removed", "UPDATE": "updated"}


# ------------------------------------------------------------------------------------------ assets


def asset_key(asset: Asset) -> str:
    """Identity of an asset inside its share: the full name (lower-case), a notebook's shared file name."""
    parsed = parse_asset_name(asset.name)
    if parsed.kind == "notebook":
        return (asset.shared_as or asset.name.rstrip("/").rsplit("/", 1)[-1]).lower()
    return parsed.name


def object_key(obj: SharedDataObject) -> str:
    """Identity of a live shared object (the same key space as `asset_key`)."""
    return (obj.name or "").lower()


def desired_assets(
    share: Share, live_objects: Iterable[SharedDataObject]
) -> dict[str, Asset | None]:
    """`(base | to_add) - to_remove` of docs/SHAREPACK.md §9.1, keyed by `asset_key`.

    The value is the asset whose options the pack manages, or None for an object kept as it is: without a
    declarative list the base is the live share, whose objects stay unmanaged unless an explicit addition with
    options names them.
    """
    wanted: dict[str, Asset | None] = {}
    if share.share_assets is not None:
        for asset in share.share_assets:
            wanted[asset_key(asset)] = asset
    else:
        for obj in live_objects:
            wanted[object_key(obj)] = None
    for asset in share.share_assets_to_add or []:
        key = asset_key(asset)
        if key not in wanted or not asset.is_name_only:
            wanted[key] = asset
    for asset in share.share_assets_to_remove or []:
        wanted.pop(asset_key(asset), None)
    return wanted


def _partitions_json(partitions: Iterable[Any] | None) -> list[list[dict[str, Any]]]:
    result = []
    for spec in partitions or []:
        values = []
        for value in getattr(spec, "values", None) or []:
            values.append(
                {
                    k: v
                    for k, v in {
                        "name": value.name,
                        "op": enum_text(value.op),
                        "value": value.value,
                        "recipient_property_key": value.recipient_property_key,
                    }.items()
                    if v is not None
                }
            )
        result.append(values)
    return result


def alias_of(obj: SharedDataObject) -> str | None:
    """The name recipients see (`shared_as`, or `string_shared_as` for non-table objects)."""
    alias = obj.shared_as or obj.string_shared_as
    return alias.lower() if alias else None


def shared_as_differs(asset: Asset, obj: SharedDataObject) -> bool:
    """A changed `shared_as` needs REMOVE + ADD (it cannot be updated in place)."""
    if asset.shared_as is None or parse_asset_name(asset.name).kind == "notebook":
        return False
    return alias_of(obj) != asset.shared_as.lower()


def option_differences(asset: Asset, obj: SharedDataObject) -> dict[str, dict[str, Any]]:
    """The one comparison of an object's options: the managed ones of `asset` (desired or recorded) that differ
    on the live object, `{field: {from: live, to: wanted}}`."""
    differences: dict[str, dict[str, Any]] = {}
    if asset.comment is not None and (obj.comment or "") != asset.comment:
        differences["comment"] = {"from": obj.comment, "to": asset.comment}
    if asset.cdf_enabled is not None and bool(obj.cdf_enabled) != asset.cdf_enabled:
        differences["cdf_enabled"] = {"from": bool(obj.cdf_enabled), "to": asset.cdf_enabled}
    if asset.history_data_sharing_status is not None:
        live_history = enum_text(obj.history_data_sharing_status) or "DISABLED"
        if live_history != asset.history_data_sharing_status:
            differences["history_data_sharing_status"] = {
                "from": live_history,
                "to": asset.history_data_sharing_status,
            }
    if asset.start_version is not None and obj.start_version != asset.start_version:
        differences["start_version"] = {"from": obj.start_version, "to": asset.start_version}
    if asset.partitions is not None:
        wanted = _partitions_json(asset.partitions)
        have = _partitions_json(obj.partitions)
        if wanted != have:
            differences["partitions"] = {"from": have, "to": wanted}
    return differences


def sdk_object(
    asset: Asset, object_type: str, *, content: str | None = None, for_update: bool = False
) -> SharedDataObject:
    """The `SharedDataObject` of an ADD (every managed option) or an UPDATE (no alias, no content)."""
    kind = parse_asset_name(asset.name).kind
    partitions = sdk_partitions(asset.partitions)
    history = sdk_history_status(asset.history_data_sharing_status)
    name = (
        asset_key(asset)
        if kind != "notebook"
        else (asset.shared_as or asset.name.rsplit("/", 1)[-1])
    )
    shared_as = string_shared_as = None
    # A volume or a model goes without an alias: Databricks names it <schema>.<name> (docs/SHAREPACK.md §7.2).
    if not for_update and asset.shared_as is not None and object_type not in VOLUME_MODEL_TYPES:
        if kind == "table":
            shared_as = asset.shared_as
        elif kind == "schema":
            string_shared_as = asset.shared_as
    return SharedDataObject(
        name=name,
        data_object_type=SharedDataObjectDataObjectType(object_type),
        shared_as=shared_as,
        string_shared_as=string_shared_as,
        cdf_enabled=asset.cdf_enabled,
        history_data_sharing_status=history,
        start_version=asset.start_version,
        partitions=partitions,
        comment=asset.comment,
        content=content if kind == "notebook" and not for_update else None,
    )


def recorded_asset(obj: SharedDataObject, managed: Asset | None) -> dict[str, Any]:
    """The `shares.assets` entry of a live object: name, type, alias and the options the pack manages."""
    entry: dict[str, Any] = {
        "name": object_key(obj),
        "type": enum_text(obj.data_object_type) or "TABLE",
        "shared_as": alias_of(obj),
    }
    if managed is not None:
        for option in OPTIONS:
            value = getattr(managed, option)
            if value is not None:
                entry[option] = value
        if managed.partitions is not None:
            entry["partitions"] = _partitions_json(managed.partitions)
    return {k: v for k, v in entry.items() if v is not None}


def recorded_options(name: str, entry: Mapping[str, Any]) -> Asset:
    """The options a `shares.assets` entry (`recorded_asset`) records as managed, as an asset for
    `option_differences`: drift compares what the plan compares, partitions included."""
    options: dict[str, Any] = {option: entry[option] for option in OPTIONS if option in entry}
    if "partitions" in entry:
        options["partitions"] = [
            PartitionSpec.model_validate({"values": values}) for values in entry["partitions"]
        ]
    return Asset.model_construct(name=name, **options)


def resolve_type(
    reader: LiveReader, resolved: Mapping[tuple[str, str], str], share: Share, asset: Asset
) -> str:
    """The object type of an asset: as the live checks resolved it, as declared (a VOLUME or MODEL is only ever
    declared, docs/SHAREPACK.md §7.3), else from its name / table."""
    found = resolved.get((share.name, asset.name))
    if found is not None:
        return found
    if asset.type is not None:
        return asset.type
    parsed = parse_asset_name(asset.name)
    if parsed.kind == "schema":
        return "SCHEMA"
    if parsed.kind == "notebook":
        return "NOTEBOOK_FILE"
    table = reader.table(parsed.name)
    table_type = enum_text(table.table_type) if table is not None else None
    return table_type if table_type in _LIVE_TYPES else "TABLE"


# ------------------------------------------------------------------------------------------ object changes


@dataclass
class ObjectChanges:
    """Object updates of one share: `(action, asset or live object)` in the order REMOVE, ADD, UPDATE."""

    removes: list[SharedDataObject]
    adds: list[tuple[Asset, str]]  # asset and its resolved object type
    updates: list[tuple[Asset, str]]
    update_fields: dict[str, dict[str, Any]]

    @property
    def empty(self) -> bool:
        """Nothing to change."""
        return not (self.removes or self.adds or self.updates)

    def count(self) -> int:
        """Number of object updates."""
        return len(self.removes) + len(self.adds) + len(self.updates)

    def calls(self) -> int:
        """`shares.update` calls needed (≤ 100 updates each, one object at most once per call)."""
        placeholders = [
            SharedDataObjectUpdate(action=SharedDataObjectUpdateAction.REMOVE, data_object=obj)
            for obj in self.removes
        ] + [
            SharedDataObjectUpdate(
                action=SharedDataObjectUpdateAction.ADD,
                data_object=SharedDataObject(name=asset_key(asset)),
            )
            for asset, _ in [*self.adds, *self.updates]
        ]
        return len(object_update_batches(placeholders))

    def diff(self) -> dict[str, Any]:
        """`{add, remove, update}` for plan."""
        return {
            "add": sorted(asset.name for asset, _ in self.adds),
            "remove": sorted(obj.name or "" for obj in self.removes),
            "update": [
                {"name": asset.name, "fields": self.update_fields[asset_key(asset)]}
                for asset, _ in self.updates
            ],
        }

    def materialise(self, reader: LiveReader) -> list[SharedDataObjectUpdate]:
        """The object updates to send; a notebook's content is exported only when it is added."""
        updates = [
            SharedDataObjectUpdate(action=SharedDataObjectUpdateAction.REMOVE, data_object=obj)
            for obj in self.removes
        ]
        for asset, object_type in self.adds:
            content = None
            if parse_asset_name(asset.name).kind == "notebook":
                content = reader.notebook_content(asset.name)
            updates.append(
                SharedDataObjectUpdate(
                    action=SharedDataObjectUpdateAction.ADD,
                    data_object=sdk_object(asset, object_type, content=content),
                )
            )
        for asset, object_type in self.updates:
            updates.append(
                SharedDataObjectUpdate(
                    action=SharedDataObjectUpdateAction.UPDATE,
                    data_object=sdk_object(asset, object_type, for_update=True),
                )
            )
        return updates


TypeResolver = Callable[[Share, Asset], str]


def object_changes(
    share: Share, live_objects: Iterable[SharedDataObject], resolve_type: TypeResolver
) -> ObjectChanges:
    """REMOVE / ADD / UPDATE needed to turn the live objects into the desired set (docs/SHAREPACK.md §9, docs/WORKFLOW.md §9.4)."""
    live = {object_key(obj): obj for obj in live_objects}
    wanted = desired_assets(share, live.values())
    removes: list[SharedDataObject] = []
    adds: list[tuple[Asset, str]] = []
    updates: list[tuple[Asset, str]] = []
    fields: dict[str, dict[str, Any]] = {}
    recreated = 0
    for key, present in sorted(live.items()):
        if key not in wanted:
            removes.append(SharedDataObject(name=present.name))
    for key, asset in sorted(wanted.items()):
        current = live.get(key)
        if asset is None:
            continue
        if current is None:
            adds.append((asset, resolve_type(share, asset)))
            continue
        object_type = enum_text(current.data_object_type) or "TABLE"
        if shared_as_differs(asset, current):
            # Removed first, so that its re-addition rarely needs a call of its own.
            removes.insert(recreated, SharedDataObject(name=current.name))
            recreated += 1
            adds.append((asset, object_type))
            continue
        differences = option_differences(asset, current)
        if differences:
            updates.append((asset, object_type))
            fields[key] = differences
    return ObjectChanges(removes, adds, updates, fields)


# ------------------------------------------------------------------------------------------ comment and grants


def comment_change(wanted: str | None, live_comment: str | None) -> str | None:
    """The one comparison of the managed comment (desired or recorded): the comment to set, None when equal or
    not managed."""
    if wanted is not None and (live_comment or "") != wanted:
        return wanted
    return None


def grants_managed(share: Share | None) -> bool:
    """The pack sets the share's grants (an unknown spec: compare them)."""
    return share is None or any(getattr(share, key) is not None for key in _GRANT_KEYS)


def desired_grants(share: Share, live: Iterable[str]) -> set[str]:
    """`(base | to_add) - to_remove` of the SELECT grantees (the base: the declarative list, else the live one)."""
    base = set(share.recipients) if share.recipients is not None else set(live)
    return (base | set(share.recipients_to_add or [])) - set(share.recipients_to_remove or [])


# ------------------------------------------------------------------------------------------ recorded state


def record_of(ctx: RunContext, work: ShareWork) -> ShareRecord:
    """The SCD2 row of an applied share (`deltashare.shares`)."""
    share = work.share
    info = work.live or SdkShareInfo()
    wanted = desired_assets(share, info.objects or [])
    assets = [recorded_asset(obj, wanted.get(object_key(obj))) for obj in info.objects or []]
    previous = own_previous(work.previous, ctx.share_pack_id)
    if work.grants is not None:
        granted = sorted(work.grants)
    else:
        granted = list(previous.recipients or []) if previous else []
    delta = share.delta_share
    tags: dict[str, str] | None = None
    if delta is not None and delta.tags:
        tags = {}
        for item in delta.tags:
            key, _, value = item.partition("=")
            tags[key.strip()] = value.strip()
    return ShareRecord(
        workspace_url=ctx.workspace_url,
        share_name=share.name,
        created_by_pack=work.created_by_pack,
        share_pack_id=ctx.share_pack_id,
        databricks_created_at=from_epoch_ms(info.created_at),
        description=share.description,
        assets=assets,
        recipients=granted,
        ext_catalog_name=delta.ext_catalog_name if delta else None,
        ext_schema_name=delta.ext_schema_name if delta else None,
        tags=tags,
    )


def _write(ctx: RunContext, work: ShareWork) -> RecordWrite:
    reason = record_reason(work.created_by_pack, work.previous, ctx.share_pack_id)
    return shares.write_of(
        record_of(ctx, work), changed_by=ctx.actor, reason=reason, **ctx.bookkeeping()
    )


@dataclass
class LiveShare:
    """A live share as drift reads it: the share, and its grants read only when compared."""

    info: SdkShareInfo
    grants: Callable[[], frozenset[str]]


# ------------------------------------------------------------------------------------------ actions


@dataclass
class ShareWork:
    """Executor data shared by the three actions of one share (they run one after the other)."""

    share: Share
    live: SdkShareInfo | None
    created_by_pack: bool
    previous: ShareRecord | None
    comment_rides: bool = False  # the comment goes with the first objects call
    grants_managed: bool = False
    grants: frozenset[str] | None = None  # live SELECT grantees when known
    resolved_types: Mapping[tuple[str, str], str] | None = None  # object types from the live checks


def _plan_one(graph: GraphBuilder, share: Share) -> None:
    inputs = graph.i
    path = inputs.locator.share(share.name)
    live = graph.reader.share(share.name)
    row = graph.recorded.shares.get(share.name)
    graph.other_pack(row, RESOURCE_TYPE, share.name, path)
    if live is None:
        owned = True
    else:
        recorded_at = row.databricks_created_at if row else None
        same_object = recorded_at is None or recorded_at == from_epoch_ms(live.created_at)
        if graph.recorded.created(row) and same_object:
            owned = True
        else:
            owned = inputs.adoption(RESOURCE_TYPE, share.name, live.created_by).created_by_pack
    work = ShareWork(
        share,
        live,
        owned,
        row,
        grants_managed=grants_managed(share),
        resolved_types=inputs.resolved_types,
    )
    changes = object_changes(
        share,
        (live.objects if live else None) or [],
        lambda s, asset: resolve_type(graph.reader, inputs.resolved_types, s, asset),
    )
    comment = comment_change(share.description, live.comment) if live is not None else None
    share_diff = (
        {"comment": {"from": live.comment, "to": comment}}
        if live is not None and comment is not None
        else None
    )
    if live is None:
        after = {"comment": share.description} if share.description is not None else None
        graph.add(
            Action(
                RESOURCE_TYPE,
                share.name,
                Verb.CREATE,
                work,
                calls=1,
                after=after,
            )
        )
    elif comment is not None and changes.empty:
        share_action = graph.add(
            Action(
                RESOURCE_TYPE,
                share.name,
                Verb.UPDATE,
                work,
                calls=1,
                diff=share_diff,
            )
        )
        graph.adopting(share_action, row, owned)
    else:
        work.comment_rides = comment is not None
        share_action = graph.add(Action(RESOURCE_TYPE, share.name, Verb.NOOP, work))
        graph.adopting(share_action, row, owned)
    objects_diff: dict[str, Any] | None = None
    if not changes.empty or work.comment_rides:
        objects_diff = changes.diff()
        if work.comment_rides and share_diff:
            objects_diff = {**objects_diff, **share_diff}
    graph.add(
        Action(
            OBJECTS,
            share.name,
            Verb.NOOP if objects_diff is None else Verb.UPDATE,
            work,
            deps={step_key(RESOURCE_TYPE, share.name)},
            calls=changes.calls() if objects_diff is not None else 0,
            diff=objects_diff,
        )
    )
    _plan_grants(graph, share, work)


def _plan_grants(graph: GraphBuilder, share: Share, work: ShareWork) -> None:
    live_grants: frozenset[str] = frozenset()
    if work.live is not None and (work.grants_managed or not graph.recorded.owned(work.previous)):
        # Grants the pack leaves alone are read too while the share has no record of this pack (adopted): the
        # record must name who reads it, or the history would say nobody could (docs/API.md §16.2.1).
        live_grants = graph.reader.share_grants(share.name)
        work.grants = live_grants
    elif work.live is None:
        work.grants = frozenset()
    adds: list[str] = []
    removes: list[str] = []
    if work.grants_managed:
        desired = desired_grants(share, live_grants)
        adds = sorted(desired - live_grants)
        removes = sorted(live_grants - desired)
    # A grant to a recipient the pack declares waits for it (recipients come first in the canonical order).
    deps = {step_key(OBJECTS, share.name)}
    declared = {r.name for r in graph.i.pack.recipient}
    deps |= {step_key(RECIPIENT_TYPE, name) for name in adds if name in declared}
    changed = bool(adds or removes)
    # A share this version creates has no grantee to revoke, unless one of its name is made before the create and
    # found after the conflict (`run_share`): the step then runs to revoke what the pack removes from that share.
    revokes_on_found = (
        work.live is None
        and work.grants_managed
        and (share.recipients is not None or bool(share.recipients_to_remove))
    )
    runs = changed or revokes_on_found
    graph.add(
        Action(
            GRANTS,
            share.name,
            Verb.UPDATE if runs else Verb.NOOP,
            work,
            deps=deps,
            calls=1 if runs else 0,
            diff={"add": adds, "remove": removes} if changed else None,
        )
    )


# ------------------------------------------------------------------------------------------ executors


def run_share(ctx: RunContext, action: AnyAction) -> StepResult:
    """Create the share (with its comment) or set its comment alone; "already exists" continues as an update."""
    work = work_of(action, ShareWork, "share")
    share = work.share
    ws = ctx.workspace.client
    calls = 0
    if action.kind == Verb.CREATE:
        try:
            info = sdk_create_share(ws, share.name, comment=share.description)
            calls += 1
        except ConflictError as exc:
            if exc.code != "share_already_exists":
                raise
            calls += 1
            info = sdk_get_share(ws, share.name)
            work.created_by_pack = (info.created_by or "") == ctx.reader.identity()
            # The plan took the grants of no share; the share found may hold others, which the grants step
            # revokes or keeps by the plan's rule (`desired_grants`) only when it starts from them, and which the
            # record names even when the pack leaves them alone (docs/API.md §16.2.1).
            work.grants = ctx.reader.share_grants(share.name)
            if comment_change(share.description, info.comment) is not None:
                info = sdk_update_share(ws, share.name, comment=share.description)
                calls += 1
        if info.objects is None:
            info.objects = []
        work.live = info
        if work.grants is None:
            work.grants = frozenset()
    elif action.kind == Verb.UPDATE:
        work.live = sdk_update_share(ws, share.name, comment=share.description)
        calls += 1
    if work.live is not None:
        ctx.reader.put(RESOURCE_TYPE, share.name, work.live)
    return StepResult.after(
        calls,
        ids={"share": share.name},
        writes=[_write(ctx, work)],
        audit_action=f"share.{action.kind}",
    )


def run_share_objects(ctx: RunContext, action: AnyAction) -> StepResult:
    """Object updates in as few `shares.update` calls as the limit allows (REMOVE, ADD, UPDATE; ≤ 100 each).

    A call failing with "already exists" / "does not exist" (a replay whose first response was lost) makes the
    step re-read the share once and recompute the remaining changes; a second failure fails the step.
    """
    work = work_of(action, ShareWork, "share")
    share = work.share
    ws = ctx.workspace.client
    resolved = work.resolved_types or {}

    def resolve(s: Share, asset: Asset) -> str:
        return resolve_type(ctx.reader, resolved, s, asset)

    calls = 0
    comment = share.description if work.comment_rides else None
    reread = False
    counts = {"added": 0, "removed": 0, "updated": 0}
    if action.kind != Verb.NOOP:
        while True:
            live_objects = (work.live.objects if work.live else None) or []
            changes = object_changes(share, live_objects, resolve)
            batches = (
                object_update_batches(changes.materialise(ctx.reader)) if not changes.empty else []
            )
            if not batches and comment is not None:
                batches = [[]]
            try:
                for batch in batches:
                    work.live = sdk_update_share(ws, share.name, updates=batch, comment=comment)
                    calls += 1
                    comment = None
                    for update in batch:
                        counts[_COUNTED_AS[update.action.value if update.action else "UPDATE"]] += 1
                break
            except (ConflictError, NotFoundError):
                if reread:
                    raise
                reread = True
                work.live = sdk_get_share(ws, share.name)
        if work.live is not None:
            ctx.reader.put(RESOURCE_TYPE, share.name, work.live)
    return StepResult.after(
        calls,
        detail={**counts, "reread": reread} if calls else {},
        writes=[_write(ctx, work)],
        audit_action="share.update_objects",
    )


def run_share_grants(ctx: RunContext, action: AnyAction) -> StepResult:
    """One `update_permissions` with every SELECT grant and revoke of the share (none when unchanged)."""
    work = work_of(action, ShareWork, "share")
    share = work.share
    calls = 0
    detail: dict[str, Any] = {}
    if action.kind != Verb.NOOP and work.grants_managed:
        live = work.grants or frozenset()
        desired = desired_grants(share, live)
        adds, removes = sorted(desired - live), sorted(live - desired)
        if adds or removes:
            update_grants(ctx.workspace.client, share.name, add=adds, remove=removes)
            calls = 1
            work.grants = frozenset(desired)
            # What was sent: the plan's diff unless the share was found after its create conflicted.
            detail = {"add": adds, "remove": removes}
    return StepResult.after(
        calls,
        detail=detail,
        writes=[_write(ctx, work)],
        audit_action="share.update_grants",
    )


# ------------------------------------------------------------------------------------------ export


def _alias_default(name: str, kind: str) -> str | None:
    """The name recipients see when an object is added without an alias (`schema.table`, or the schema's name)."""
    parts = name.split(".")
    if kind in TABLE_LIKE_TYPES and len(parts) == 3:
        return f"{parts[1]}.{parts[2]}"
    if kind == "SCHEMA" and len(parts) == 2:
        return parts[1]
    return None


def _exported_partitions(obj: SharedDataObject) -> list[dict[str, Any]]:
    return [
        {
            "values": [
                {
                    "name": value.name or "",
                    "op": "LIKE" if enum_text(value.op) == "LIKE" else "EQUAL",
                    "value": value.value,
                    "recipient_property_key": value.recipient_property_key,
                }
                for value in partition.values or []
            ]
        }
        for partition in obj.partitions or []
    ]


def exported_asset(obj: SharedDataObject) -> Asset:
    """The pack asset of a live shared object with the options it has set (docs/WORKFLOW.md §15); unset options stay
    unmanaged, an alias Databricks would give anyway is left out."""
    name = object_key(obj)
    kind = enum_text(obj.data_object_type) or "TABLE"
    values: dict[str, Any] = {"name": name}
    if kind in _DECLARED_TYPES:
        values["type"] = kind
    alias = alias_of(obj)
    if alias and kind not in VOLUME_MODEL_TYPES and alias != _alias_default(name, kind):
        values["shared_as"] = alias
    history = enum_text(obj.history_data_sharing_status)
    if kind in TABLE_LIKE_TYPES and history == "ENABLED":
        values["history_data_sharing_status"] = "ENABLED"
    elif kind == "TABLE" and obj.cdf_enabled:
        values["cdf_enabled"] = True
    if kind in TABLE_LIKE_TYPES and obj.start_version is not None:
        values["start_version"] = obj.start_version
    if kind == "TABLE":
        values["partitions"] = _exported_partitions(obj) or None
    if obj.comment:
        values["comment"] = obj.comment
    return Asset.model_validate(values)


def exported_share(
    name: str,
    live: SdkShareInfo,
    grants: list[str],
    pipeline_of: Callable[[str], Pipeline | None],
    warn: Warn,
) -> Share:
    """The pack entry of the live share `name` (docs/WORKFLOW.md §15): its comment, its objects (`exported_asset`), its
    SELECT grantees `grants`, and the pipelines its tables are shared through.

    A pack shares a table through its pipeline (docs/SHAREPACK.md §7.4): `pipeline_of(table)` is the pipeline entry
    describing it, None when there is none. An object a pack cannot declare (a notebook, a table without a pipeline)
    is left out with a warning; the other objects are then listed as `share_assets_to_add`, so that the pack does not
    remove it.
    """
    assets: list[Asset] = []
    chosen: list[Pipeline] = []
    complete = True
    for obj in sorted(live.objects or [], key=object_key):
        kind = enum_text(obj.data_object_type) or "TABLE"
        if kind == "NOTEBOOK_FILE":
            complete = False
            warn(
                "export_unrepresentable",
                f'notebook "{obj.name}" of share "{name}": the live share does not say which workspace path it '
                "came from, so the pack cannot name it; it is left out and the share's objects are listed as "
                "share_assets_to_add.",
            )
            continue
        if kind == "TABLE":
            pipeline = pipeline_of(object_key(obj))
            if pipeline is None:
                complete = False
                warn(
                    "export_unrepresentable",
                    f'table "{object_key(obj)}" of share "{name}" has no pipeline a pack can describe (a pack shares '
                    "a table through its pipeline, docs/SHAREPACK.md §7.4); it is left out and the share's other "
                    "objects are listed as share_assets_to_add.",
                )
                continue
            chosen.append(pipeline)
        assets.append(exported_asset(obj))
    values: dict[str, Any] = {"name": name, "description": live.comment or None}
    if assets:
        values["share_assets" if complete else "share_assets_to_add"] = assets
    values["recipients"] = grants or None
    if chosen:
        # `delta_share` from the first pipeline's target; pipelines writing elsewhere keep their own override (the
        # inverse of `pipeline.pipeline_target`).
        target = (chosen[0].ext_catalog_name or "", chosen[0].ext_schema_name or "")
        values["delta_share"] = {"ext_catalog_name": target[0], "ext_schema_name": target[1]}
        values["pipelines"] = [
            p.model_copy(update={"ext_catalog_name": None, "ext_schema_name": None})
            if (p.ext_catalog_name, p.ext_schema_name) == target
            else p
            for p in chosen
        ]
    return Share.model_validate(values)


# ------------------------------------------------------------------------------------------ live checks


def table_type(table: TableInfo) -> str:
    """A live table's Unity Catalog `table_type`, upper-case ("" when unset)."""
    return (enum_text(table.table_type) or "").upper()


def check_share(checker: LiveChecker, share: Share, strategy: str) -> dict[str, str]:
    """Stage-5 checks of a share and its objects (docs/SHAREPACK.md §7.3, §13.4): presence against the strategy,
    each asset resolved to its object type (kept in `checker.resolved`), the set after this version.

    Returns the live objects' types by lower-case name (the share's pipelines are checked against them).
    """
    path = checker.locator.share(share.name)
    live = checker.call("share", share.name, path, lambda: checker.lookup.share(share.name))
    if live is None and strategy == "UPDATE":
        checker.add(
            "warning",
            "update_created_missing",
            path,
            f'share "{share.name}" does not exist; it will be created.',
        )
    if live is not None and strategy == "NEW":
        checker.add(
            "warning",
            "new_on_existing",
            path,
            f'share "{share.name}" already exists; it will be updated.',
        )
    live_types = {
        object_key(obj): enum_text(obj.data_object_type) or "TABLE"
        for obj in (live.objects or [] if live else [])
    }
    for list_key in ("share_assets", "share_assets_to_add"):
        for asset in getattr(share, list_key) or []:
            _check_asset(checker, share, list_key, asset, live_types)
    if share.share_assets is None:
        _check_explicit_set(checker, share, (live.objects or []) if live else [])
    return live_types


def check_share_grants(checker: LiveChecker, share: Share, declared: Collection[str]) -> None:
    """Every recipient the share grants to is `declared` in the pack or exists (docs/SHAREPACK.md §13.4)."""
    for list_key in ("recipients", "recipients_to_add"):
        for name in getattr(share, list_key) or []:
            if name in declared:
                continue
            grant_path = checker.locator.grant(share.name, list_key, name)
            if checker.recipient(name, grant_path) is None:
                checker.add(
                    "error",
                    "recipient_not_found",
                    grant_path,
                    f'recipient "{name}" does not exist and is not declared in this pack.',
                    input_value=name,
                )


def _resolve(
    checker: LiveChecker,
    asset: AssetName,
    path: str,
    live_type: str | None,
    declared: str | None = None,
) -> str | None:
    """The object type of docs/SHAREPACK.md §7.3, or None after reporting why it cannot be shared.

    `live_type` is the type of the share's live object of this asset (None when absent): an object already shared
    is kept or updated as it is, never read again from its source. `declared` is the entry's `type`, which names a
    missing object (a missing VIEW is "view ... does not exist").
    """
    lookup = checker.lookup
    if live_type is not None:
        return live_type
    if asset.kind == "table" and declared in VOLUME_MODEL_TYPES:
        return _resolve_volume_or_model(checker, asset, path, declared)
    if asset.kind == "table":
        table = checker.table(asset.name, path)
        if table is None:
            checker.missing("table", asset.name, path, _MISSING_NOUNS.get(declared or "", "table"))
            return None
        resolved = TABLE_TYPES.get(table_type(table))
        if resolved is None:
            checker.add(
                "error",
                "asset_type_unsupported",
                path,
                f'"{asset.name}" is a {table_type(table)}, which share packs do not share.',
                input_value=asset.name,
            )
        return resolved
    if asset.kind == "schema":
        exists = checker.call("schema", asset.name, path, lambda: lookup.schema_exists(asset.name))
        if not exists:
            checker.missing("schema", asset.name, path, "schema")
            return None
        return "SCHEMA"
    object_type = checker.call(
        "notebook", asset.name, path, lambda: lookup.workspace_object_type(asset.name)
    )
    if object_type is None:
        checker.missing("notebook", asset.name, path, "notebook")
        return None
    if object_type.upper() != "NOTEBOOK":
        checker.add(
            "error",
            "asset_type_unsupported",
            path,
            f'"{asset.name}" is a {object_type}, not a notebook.',
            input_value=asset.name,
        )
        return None
    return "NOTEBOOK_FILE"


def _resolve_volume_or_model(
    checker: LiveChecker, asset: AssetName, path: str, declared: str
) -> str | None:
    """A declared VOLUME or MODEL: `volumes.read` / `registered_models.get`; when it is absent, a table of that
    name makes the issue `asset_type_mismatch` (one more read, only on this error path)."""
    kind = "volume" if declared == "VOLUME" else "model"
    lookup = checker.lookup.volume_exists if declared == "VOLUME" else checker.lookup.model_exists
    exists = checker.call(kind, asset.name, path, lambda: lookup(asset.name))
    if exists:
        return declared
    if exists is False:
        table = checker.table(asset.name, path)
        if table is not None:
            # _check_asset reports the mismatch against the declared type.
            return TABLE_TYPES.get(table_type(table), table_type(table))
        checker.missing("table", asset.name, path, kind)
    return None


def _check_asset(
    checker: LiveChecker, share: Share, list_key: str, asset: Asset, live_types: dict[str, str]
) -> None:
    path = checker.locator.asset(share.name, list_key, asset.name)
    parsed = parse_asset_name(asset.name)
    # Keyed as the plan keys it (`asset_key`): a shared notebook is its file name, not its workspace path.
    resolved = _resolve(checker, parsed, path, live_types.get(asset_key(asset)), asset.type)
    if resolved is None:
        return
    checker.resolved[(share.name, asset.name)] = resolved
    if asset.type is not None and asset.type != resolved:
        checker.add(
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
                checker.add(
                    "error",
                    "asset_option_invalid",
                    f"{path}.{option}",
                    f"{option} applies to tables only; this asset is a {resolved}.",
                )


def _check_explicit_set(
    checker: LiveChecker, share: Share, live_objects: Iterable[SharedDataObject]
) -> None:
    """Without a declarative list the desired set is live + to_add - to_remove: check overlap and limits.

    The set is the plan's own (`desired_assets`, keyed by `asset_key`): a notebook is its shared file name, live
    or added, and a live object is known by its type (a notebook's name is no asset name).
    """
    live = {object_key(obj): obj for obj in live_objects}
    wanted = desired_assets(share, live.values())
    # Entries this pack adds (or adds again) are located; the others are live objects kept as they are.
    paths = {
        asset_key(asset): checker.locator.asset(share.name, "share_assets_to_add", asset.name)
        for asset in share.share_assets_to_add or []
        if asset_key(asset) in wanted
    }
    kinds: dict[str, AssetName] = {}
    types: dict[str, str | None] = {}
    for key, asset in wanted.items():
        obj = live.get(key)
        live_type = (enum_text(obj.data_object_type) or "TABLE") if obj is not None else None
        if asset is not None:
            kinds[key] = parse_asset_name(asset.name)
        else:  # kept live object: `live_type` is set
            kinds[key] = AssetName(_LIVE_KINDS.get(live_type or "", "table"), key)
        types[kinds[key].name] = asset.type if asset is not None and asset.type else live_type
    located = {kind.name: paths.get(key, "") for key, kind in kinds.items()}
    for table, schema in schema_overlaps(list(kinds.values())):
        path = located[table.name] or located[schema]
        if path:  # an overlap only among live objects is not this pack's doing
            checker.add(
                "error",
                "asset_schema_overlap",
                path,
                f'"{table.name}" is inside schema "{schema}"; both would be in share "{share.name}".',
                input_value=table.name,
            )
    for count, limit, label in share_limit_problems(list(kinds.values()), types):
        checker.add(
            "error",
            "share_limit_exceeded",
            f"{checker.locator.share(share.name)}.share_assets_to_add",
            f"the share would hold {count} {label}; Databricks allows {limit} per share.",
        )


# ------------------------------------------------------------------------------------------ the kind


class ShareKind:
    """The share as a `ResourceKind`: its actions are `share:<name>`, `share_objects:<name>`, `share_grants:<name>`."""

    resource_type = RESOURCE_TYPE
    action_types = frozenset({RESOURCE_TYPE, OBJECTS, GRANTS})

    def plan(self, graph: GraphBuilder) -> None:
        """The share, objects and grants actions of every declared share, in pack order."""
        for share in graph.i.pack.share:
            _plan_one(graph, share)

    def leftovers(self, graph: GraphBuilder) -> None:
        """Warn about shares an earlier version of the pack managed and this one no longer lists."""
        graph.no_longer_in_pack(
            RESOURCE_TYPE, (share.name for share in graph.i.pack.share), graph.recorded.shares
        )

    def execute(self, ctx: RunContext, action: AnyAction) -> StepResult:
        """Run a NEW/UPDATE action of this kind."""
        executors = {RESOURCE_TYPE: run_share, OBJECTS: run_share_objects, GRANTS: run_share_grants}
        return executors[action.resource_type](ctx, action)

    def delete(self, ctx: RunContext, action: AnyAction) -> StepResult:
        """`shares.get`: a different `created_at` keeps the share (`delete_identity_mismatch`); else delete it."""
        row = deletion_row(action, ShareRecord)
        name = action.name
        ws = ctx.workspace.client
        soft_delete = ctx.deletion_write(shares.soft_delete, name)
        live = ctx.reader.share(name)
        if live is None:
            ctx.note_deleted(RESOURCE_TYPE, name)
            return already_gone({RESOURCE_TYPE: name}, soft_delete)
        recorded_at = row.databricks_created_at
        if recorded_at is not None and recorded_at != from_epoch_ms(live.created_at):
            return kept_recreated(ctx, RESOURCE_TYPE, name)
        with contextlib.suppress(NotFoundError):  # already gone counts as deleted
            sdk_delete_share(ws, name)
        ctx.note_deleted(RESOURCE_TYPE, name)
        return StepResult(
            StepOutcome.SUCCEEDED, calls=1, writes=[soft_delete], audit_action="share.delete"
        )

    def locate(self, action: AnyAction, locator: PackLocator) -> str:
        """The share's entry (its objects and grants included)."""
        return locator.share(action.name)

    def read(self, reader: LiveReader, name: str) -> LiveShare | None:
        """The live share (None when absent), its grants read on demand."""
        info = reader.share(name)
        if info is None:
            return None
        return LiveShare(info, lambda: reader.share_grants(name))

    def drift(
        self, row: ShareRecord, pack: SharePack | None, live: LiveShare, settings: Settings
    ) -> list[dict[str, Any]]:
        """Recorded vs live (docs/WORKFLOW.md §11): objects, their managed options, grants (when managed), comment."""
        del settings
        info = live.info
        live_objects = {object_key(obj): obj for obj in info.objects or []}
        recorded_assets = {str(entry["name"]).lower(): entry for entry in row.assets or []}
        found: list[dict[str, Any]] = []
        difference = set_difference("objects", recorded_assets, live_objects)
        if difference:
            found.append(difference)
        for name, entry in sorted(recorded_assets.items()):
            obj = live_objects.get(name)
            if obj is None:
                continue
            for option, change in option_differences(recorded_options(name, entry), obj).items():
                found.append(
                    {
                        "field": f"objects.{name}.{option}",
                        "recorded": change["to"],
                        "live": change["from"],
                    }
                )
        name = row.share_name
        spec = next((s for s in pack.share if s.name == name), None) if pack else None
        if grants_managed(spec):
            difference = set_difference("recipients", row.recipients or [], live.grants())
            if difference:
                found.append(difference)
        if comment_change(row.description, info.comment) is not None:
            found.append({"field": "comment", "recorded": row.description, "live": info.comment})
        return found

    def recorded(
        self, conn: DictConnection, workspace_url: str, share_pack_id: UUID | None
    ) -> list[ShareRecord]:
        """Current recorded shares."""
        return shares.list_current(conn, workspace_url=workspace_url, share_pack_id=share_pack_id)

    def drift_target(self, row: ShareRecord, settings: Settings) -> tuple[str, str] | None:
        """A share is read by its name."""
        del settings
        return row.share_name, row.share_name


SHARE = ShareKind()
