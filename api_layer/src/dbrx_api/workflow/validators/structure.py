"""Stages 2 and 3: read every entry of the located tree into drafts holding canonical values and locations.

A draft keeps, for each value, the model path and file position it came from, so that the cross-reference
checks (stage 4) and later the live checks can point at the right place, and `bad`, the fields whose value
was reported as wrong (checks depending on them are skipped).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pydantic_core import PydanticCustomError

from dbrx_api.workflow.models.issues import SourcePos
from dbrx_api.workflow.models.pack import (
    VOLUME_MODEL_TYPES,
)
from dbrx_api.workflow.models.raw import RawMap, RawScalar, RawSeq
from dbrx_api.workflow.validators.fields import (
    AssetName,
    FieldError,
    name_problem,
    parse_asset_name,
    split_tag,
)
from dbrx_api.workflow.validators.inputs import (
    ASSET,
    DELTA_SHARE,
    DOCUMENT,
    METADATA,
    PIPELINE,
    PIPELINE_REF,
    RECIPIENT,
    RECIPIENT_REF,
    SHARE,
    SHARE_REF,
    AssetIn,
    DeltaShareIn,
    DocumentIn,
    MetadataIn,
    PipelineIn,
    PipelineRefIn,
    RecipientIn,
    RecipientRefIn,
    ShareIn,
    ShareRefIn,
)
from dbrx_api.workflow.validators.lenient import (
    Context,
    Item,
    Located,
    Outcome,
    describe,
    field_issue,
    item_text,
    list_items,
    report,
    run,
)

ASSET_LISTS = ("share_assets", "share_assets_to_add", "share_assets_to_remove")
GRANT_LISTS = ("recipients", "recipients_to_add", "recipients_to_remove")
_PIPELINE_FREE_TYPES = frozenset(
    {"VIEW", "MATERIALIZED_VIEW", "STREAMING_TABLE", *VOLUME_MODEL_TYPES}
)


# ------------------------------------------------------------------------------------------ drafts


ASSET_OPTIONS = (
    "type",
    "shared_as",
    "cdf_enabled",
    "history_data_sharing_status",
    "start_version",
    "partitions",
    "comment",
)


def asset_of(asset: Outcome[AssetIn]) -> AssetName:
    """The name of a read asset entry."""
    name: AssetName = asset.values["name"]
    return name


def asset_data(asset: Outcome[AssetIn]) -> dict[str, Any]:
    """The canonical values of a read asset entry (the options given)."""
    options = {key: asset.values.get(key) for key in ASSET_OPTIONS}
    return {"name": asset_of(asset).name, **{k: v for k, v in options.items() if v is not None}}


def needs_pipeline(asset: Outcome[AssetIn]) -> bool:
    """Table-like entries need a pipeline unless declared as a view-like type, a volume or a model (docs/SHAREPACK.md §7.4)."""
    return asset_of(asset).kind == "table" and asset.values.get("type") not in _PIPELINE_FREE_TYPES


@dataclass(slots=True)
class ShareDraft:
    index: int
    path: str
    pos: SourcePos
    name: Located | None
    read: Outcome[ShareIn] | None = None  # None in the DELETE shape
    values: dict[str, Any] = field(default_factory=dict)
    assets: dict[str, list[Outcome[AssetIn]]] = field(default_factory=dict)
    grants: dict[str, list[Located]] = field(default_factory=dict)
    delta_share: Outcome[DeltaShareIn] | None = None
    pipelines: list[Outcome[PipelineIn]] | None = None
    pipeline_names: list[Located] | None = None  # DELETE shape


@dataclass(slots=True)
class DocumentDraft:
    metadata: Outcome[MetadataIn] | None
    recipients: list[Outcome[Any]]  # RecipientIn, RecipientRefIn in the DELETE shape
    shares: list[ShareDraft]
    recipients_ok: bool
    shares_ok: bool

    @property
    def delete(self) -> bool:
        """True for the DELETE shape."""
        return self.metadata is not None and self.metadata.values.get("strategy") == "DELETE"


# ------------------------------------------------------------------------------------------ document


def read_document(ctx: Context, root: RawMap) -> DocumentDraft:
    """Read the whole document into drafts, reporting stage-2 and stage-3 issues."""
    read = run(ctx, DocumentIn, DOCUMENT, root, "")
    metadata_node = read.values.get("metadata")
    metadata = (
        run(
            ctx,
            MetadataIn,
            METADATA,
            metadata_node,
            "metadata",
            {"allow_local_urls": ctx.allow_local_urls},
        )
        if metadata_node is not None
        else None
    )
    delete = metadata is not None and metadata.values.get("strategy") == "DELETE"
    recipients: list[Outcome[Any]] = []
    for item in _entries(read, "recipient"):
        recipient: Outcome[Any] | None
        if delete:
            recipient = read_recipient_ref(ctx, item, item.path)
        else:
            node = _entry_map(ctx, item, "recipient")
            recipient = None if node is None else run(ctx, RecipientIn, RECIPIENT, node, item.path)
        if recipient is not None:
            recipients.append(recipient)
    shares: list[ShareDraft] = []
    for index, item in enumerate(_entries(read, "share")):
        share = (read_share_ref if delete else read_share)(ctx, item, item.path)
        if share is not None:
            share.index = index
            shares.append(share)
    return DocumentDraft(
        metadata=metadata,
        recipients=recipients,
        shares=shares,
        recipients_ok="recipient" not in read.bad,
        shares_ok="share" not in read.bad,
    )


def _entry_map(ctx: Context, item: Item, what: str) -> RawMap | None:
    if isinstance(item.node, RawMap):
        return item.node
    ctx.error(
        "type_mismatch",
        item.path,
        f"expected a {what} entry (a mapping with name, ...), got {describe(item.node)}.",
        item.pos,
    )
    ctx.sweep(item.node, item.path)
    return None


# ------------------------------------------------------------------------------------------ names


def _item_name(ctx: Context, item: Item, what: str, *, lower: bool = True) -> Located | None:
    """A list item that is a name (rule N); None when blank or reported."""
    try:
        text = item_text(item.node, f"a {what} name", names=True)
    except PydanticCustomError as exc:
        report(ctx, exc, item.path, item.node)
        return None
    if not text:
        return None
    problem = name_problem(text)
    if problem:
        ctx.error(
            "name_invalid",
            item.path,
            f'"{text}" is not a valid name: {problem}.',
            item.pos,
            input_value=text,
        )
        return None
    return Located(text.lower() if lower else text, item.path, item.pos)


# ------------------------------------------------------------------------------------------ recipients


def _overlaps(
    ctx: Context, to_remove: list[Located] | None, others: list[tuple[list[Located] | None, str]]
) -> None:
    """docs/SHAREPACK.md §9.2: an item in `_to_remove` may not also be in `_to_add` or in the declarative list."""
    if not to_remove:
        return
    for item in to_remove:
        for other, key in others:
            if other is not None and any(entry.value == item.value for entry in other):
                ctx.error(
                    "list_overlap",
                    item.path,
                    f'"{item.value}" is also in {key}.',
                    item.pos,
                    input_value=item.value,
                )
                break


# ------------------------------------------------------------------------------------------ shares


def read_share(ctx: Context, item: Item, path: str) -> ShareDraft | None:
    """docs/SHAREPACK.md §6: one share entry of a NEW/UPDATE pack (the pydantic input model `ShareIn`), then its assets, grants,
    delta_share and pipelines entry by entry."""
    node = _entry_map(ctx, item, "share")
    if node is None:
        return None
    read = run(ctx, ShareIn, SHARE, node, path)
    got = read.values
    name = got.get("name")
    draft = ShareDraft(
        index=0,
        path=path,
        pos=node.pos,
        name=read.located("name"),
        read=read,
    )
    if name:
        draft.values["name"] = name
    draft.values["description"] = got.get("description")
    for key in ASSET_LISTS:
        assets = _read_assets(ctx, read, key)
        if assets is not None:
            draft.assets[key] = assets
    for key in GRANT_LISTS:
        if got.get(key) is not None:
            draft.grants[key] = _located_names(read, key)
    if got.get("delta_share") is not None:
        delta_path = read.path_of("delta_share")
        draft.delta_share = run(ctx, DeltaShareIn, DELTA_SHARE, got["delta_share"], delta_path)
    if got.get("pipelines") is not None:
        draft.pipelines = []
        for entry in _entries(read, "pipelines"):
            node = _entry_map(ctx, entry, "pipeline")
            pipeline = None if node is None else run(ctx, PipelineIn, PIPELINE, node, entry.path)
            if pipeline is None:
                read.bad.add("pipelines")
            else:
                draft.pipelines.append(pipeline)
    return draft


def _entries(read: Outcome[Any], key: str) -> list[Item]:
    """The items of a valid list field as written, with their model paths and positions."""
    if read.values.get(key) is None:
        return []
    list_path = read.path_of(key)
    return [
        Item(node, f"{list_path}[{index}]", node.pos)
        for index, node in enumerate(list_items(read.index.nodes[list_path]) or [])
    ]


def _located_names(read: Outcome[ShareIn], key: str) -> list[Located]:
    """The names of a valid grant list with the path and position of their first occurrence."""
    result: list[Located] = []
    for entry in _entries(read, key):
        value = item_text(entry.node, "").lower()
        if value and all(name.value != value for name in result):
            result.append(Located(value, entry.path, entry.pos))
    return result


def tag_keys(tags: list[str] | None) -> set[str]:
    """Keys of canonical share tags (`key` or `key=value`)."""
    return {split_tag(tag)[0] for tag in tags or []}


# ------------------------------------------------------------------------------------------ assets


def _read_assets(ctx: Context, read: Outcome[ShareIn], key: str) -> list[Outcome[AssetIn]] | None:
    if read.values.get(key) is None:
        return None
    removal = key == "share_assets_to_remove"
    result: list[Outcome[AssetIn]] = []
    by_name: dict[str, dict[str, Any]] = {}
    for item in _entries(read, key):
        asset = _read_asset(ctx, item, removal=removal)
        if asset is None:
            if not (isinstance(item.node, RawScalar) and item.node.is_null):
                read.bad.add(key)
            continue
        name, data = asset_of(asset).name, asset_data(asset)
        earlier = by_name.get(name)
        if earlier is not None:
            if earlier == data:
                ctx.warning(
                    "duplicate_entry",
                    asset.path,
                    f'"{name}" is listed twice; the duplicate was dropped.',
                    asset.pos,
                    input_value=name,
                )
            else:
                ctx.error(
                    "duplicate_entry_conflict",
                    asset.path,
                    f'"{name}" is listed twice with different options.',
                    asset.pos,
                    input_value=name,
                )
                read.bad.add(key)
            continue
        by_name[name] = data
        result.append(asset)
    if key in read.bad:
        return None
    if key == "share_assets" and not result:
        read.bad.add(key)
        ctx.error(
            "empty_list",
            read.path_of(key),
            "a declarative list cannot be empty; omit it, or list items in share_assets_to_remove.",
            read.pos_of(key),
        )
        return None
    return result


def _read_asset(ctx: Context, item: Item, *, removal: bool) -> Outcome[AssetIn] | None:
    """docs/SHAREPACK.md §7.2: an asset name, or a mapping read by the pydantic input model `AssetIn`."""
    node = item.node
    if isinstance(node, RawScalar):
        try:
            text = item_text(node, "an asset name", names=True)
            asset = parse_asset_name(text) if text else None
        except PydanticCustomError as exc:
            report(ctx, exc, item.path, node)
            return None
        except FieldError as exc:
            report(ctx, field_issue(exc, text), item.path, node)
            return None
        if asset is None:
            return None
        ctx.remember(item.path, item.pos)
        return Outcome.scalar({"name": asset}, Located(asset.name, item.path, item.pos))
    if isinstance(node, RawSeq):
        ctx.error(
            "type_mismatch", item.path, "expected an asset name or mapping, got a list.", item.pos
        )
        return None
    read = run(ctx, AssetIn, ASSET, node, item.path, {"removal": removal, "options": {}})
    return read if read.model is not None else None


# ------------------------------------------------------------------------------------------ pipelines


# ------------------------------------------------------------------------------------------ DELETE shape


def read_recipient_ref(ctx: Context, item: Item, path: str) -> Outcome[RecipientRefIn] | None:
    """docs/SHAREPACK.md §10.2: a recipient name, or a mapping of which only `name` is read."""
    if isinstance(item.node, RawMap):
        return run(ctx, RecipientRefIn, RECIPIENT_REF, item.node, path)
    name = _item_name(ctx, item, "recipient")
    if name is None:
        return None
    ctx.remember(path, item.pos)
    return Outcome.scalar({}, name)


def read_share_ref(ctx: Context, item: Item, path: str) -> ShareDraft | None:
    """docs/SHAREPACK.md §10.2: a share name, or a mapping with `name` and the pipelines expected to be removed (names or
    mappings of which only `name_prefix` is read)."""
    if not isinstance(item.node, RawMap):
        share_name = _item_name(ctx, item, "share")
        if share_name is None:
            return None
        ctx.remember(path, item.pos)
        return ShareDraft(index=0, path=path, pos=item.pos, name=share_name)
    read = run(ctx, ShareRefIn, SHARE_REF, item.node, path)
    draft = ShareDraft(index=0, path=path, pos=item.node.pos, name=read.located("name"))
    if read.values.get("pipelines") is None:
        return draft
    draft.pipeline_names = []
    seen: set[str] = set()
    for entry in _entries(read, "pipelines"):
        name: Located | None
        if isinstance(entry.node, RawMap):
            pipeline = run(ctx, PipelineRefIn, PIPELINE_REF, entry.node, entry.path)
            name = pipeline.located("name_prefix")
        else:
            name = _item_name(ctx, entry, "pipeline", lower=False)
        if name is None:
            continue
        if name.value.lower() in seen:
            ctx.warning(
                "duplicate_entry", name.path, f'pipeline "{name.value}" is listed twice.', name.pos
            )
            continue
        seen.add(name.value.lower())
        draft.pipeline_names.append(name)
    return draft
