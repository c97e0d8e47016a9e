"""Stage 4: rules across entries (docs/SHAREPACK.md §6-§9, §10.2, §13.4): uniqueness, list conflicts, assets and
pipelines, targets, recipient references and per-type rules. Checks skip values already reported as bad.
"""

from __future__ import annotations

from typing import Any

from dbrx_api.workflow.models.issues import NO_POS
from dbrx_api.workflow.models.pack import VOLUME_MODEL_TYPES
from dbrx_api.workflow.validators.fields import (
    default_shared_as,
    schema_overlaps,
    share_limit_problems,
    split_tag,
)
from dbrx_api.workflow.validators.inputs import (
    ASSET_LISTS,
    AssetIn,
    DeltaShareIn,
    DocumentIn,
    PipelineIn,
    ShareIn,
    asset_of,
    grants,
    is_delete,
    share_assets,
    share_delta,
    share_pipelines,
)
from dbrx_api.workflow.validators.lenient import Context, Located, Outcome, where

MAX_TAGS = 25
_PIPELINE_FREE_TYPES = frozenset(
    {"VIEW", "MATERIALIZED_VIEW", "STREAMING_TABLE", *VOLUME_MODEL_TYPES}
)


def document_parts(
    doc: Outcome[DocumentIn],
) -> tuple[Outcome[Any] | None, list[Outcome[Any]], list[Outcome[Any]]]:
    """The metadata, recipient and share entries of a read document."""
    return (
        doc.values.get("metadata"),
        doc.values.get("recipient") or [],
        doc.values.get("share") or [],
    )


def check_document(ctx: Context, doc: Outcome[DocumentIn]) -> None:
    """Run every stage-4 rule on the read document."""
    _, recipients, shares = document_parts(doc)
    if not recipients and not shares and not {"recipient", "share"} & doc.bad:
        ctx.error("pack_empty", "", "the pack declares no recipient and no share.", NO_POS)
    _unique_names(ctx, [r.name for r in recipients], "recipient")
    _unique_names(ctx, [s.name for s in shares], "share")
    if is_delete(doc.values):
        return
    pipelines = [p for share in shares for p in share_pipelines(share)]
    _unique_names(ctx, [p.name for p in pipelines], "pipeline")
    for share in shares:
        _check_share(ctx, share)
    _check_targets(ctx, shares)
    _check_recipient_references(ctx, recipients, shares, doc.bad)


def _unique_names(
    ctx: Context,
    names: list[Located | None],
    what: str,
) -> None:
    first: dict[str, Located] = {}
    for name in names:
        if name is None:
            continue
        key = name.value.lower()
        earlier = first.get(key)
        if earlier is None:
            first[key] = name
            continue
        owner = (
            earlier.path.rsplit(".", 1)[0]
            if earlier.path.endswith((".name", ".name_prefix"))
            else earlier.path
        )
        ctx.error(
            "duplicate_name",
            name.path,
            f'{what} "{name.value}" is already defined at {where(owner, earlier.pos)}; names are case-insensitive.',
            name.pos,
            input_value=name.value,
        )


# ------------------------------------------------------------------------------------------ shares


def _check_share(ctx: Context, share: Outcome[ShareIn]) -> None:
    declared = share_assets(share, "share_assets")
    to_add = share_assets(share, "share_assets_to_add")
    to_remove = share_assets(share, "share_assets_to_remove")
    asset_lists_ok = not any(key in share.bad for key in ASSET_LISTS)
    given = [*(declared or []), *(to_add or [])]
    removed = {asset_of(a).name for a in to_remove or []}

    def located(assets: list[Outcome[AssetIn]] | None) -> list[Located] | None:
        return (
            None if assets is None else [Located(asset_of(a).name, a.path, a.pos) for a in assets]
        )

    _overlaps(
        ctx,
        located(to_remove),
        [(located(to_add), "share_assets_to_add"), (located(declared), "share_assets")],
    )
    _overlaps(
        ctx,
        grants(share, "recipients_to_remove"),
        [
            (grants(share, "recipients_to_add"), "recipients_to_add"),
            (grants(share, "recipients"), "recipients"),
        ],
    )
    if asset_lists_ok:
        limit_key = "share_assets" if declared is not None else "share_assets_to_add"
        _check_desired_assets(ctx, share, given, removed, limit_key)
    pipelines = share_pipelines(share)
    pipelines_ok = "pipelines" not in share.bad and all(
        p.values.get("source_asset") is not None for p in pipelines
    )
    if pipelines_ok and asset_lists_ok:
        sources = {p.values.get("source_asset") for p in pipelines}
        for asset in given:
            name = asset_of(asset).name
            if needs_pipeline(asset) and name not in sources:
                message = (
                    f'"{name}" has no pipeline with this source_asset in share '
                    f'"{share.name.value if share.name else share.path}"; add one, or declare type '
                    "VIEW/MATERIALIZED_VIEW/STREAMING_TABLE/VOLUME/MODEL."
                )
                ctx.error(
                    "asset_without_pipeline", asset.path, message, asset.pos, input_value=name
                )
    shared = None if declared is None else {asset_of(a).name for a in given}
    # A volume or a model of this share is no table a pipeline could read (docs/SHAREPACK.md §7.4).
    not_tables = {
        asset_of(a).name: a.values["type"]
        for a in given
        if a.values.get("type") in VOLUME_MODEL_TYPES
    }
    for pipeline in pipelines:
        _check_pipeline(ctx, share, pipeline, shared, removed, asset_lists_ok)
        source = pipeline.values.get("source_asset")
        if source is not None and source in not_tables:
            message = (
                f'"{source}" is declared as a {not_tables[source]} in this share; a pipeline '
                "reads a table."
            )
            _field_error(ctx, pipeline, "source_asset", "source_type_unsupported", message, source)
    delta = share_delta(share)
    if delta is not None and not pipelines and "pipelines" not in share.bad:
        message = "delta_share has no effect: this share has no pipelines."
        ctx.warning("delta_share_unused", delta.path, message, delta.pos)


def _check_desired_assets(
    ctx: Context,
    share: Outcome[ShareIn],
    given: list[Outcome[AssetIn]],
    removed: set[str],
    limit_key: str,
) -> None:
    """The assets the share will hold (`given` less `removed`): schema overlaps, aliases and per-share limits,
    the limits reported at the list `limit_key`."""
    desired: dict[str, Outcome[AssetIn]] = {}
    for asset in given:
        name = asset_of(asset).name
        if name not in removed:
            desired.setdefault(name, asset)
    for asset_name, schema in schema_overlaps([asset_of(a) for a in desired.values()]):
        asset = desired[asset_name.name]
        message = f'"{asset_name.name}" is inside schema "{schema}", which is also shared.'
        ctx.error(
            "asset_schema_overlap", asset.path, message, asset.pos, input_value=asset_name.name
        )
    aliases: dict[str, Outcome[AssetIn]] = {}
    for asset in desired.values():
        asset_name = asset_of(asset)
        alias = str(asset.values.get("shared_as") or default_shared_as(asset_name))
        alias_key = alias if asset_name.kind == "notebook" else alias.lower()
        earlier = aliases.get(alias_key)
        if earlier is not None:
            path = asset.path_of("shared_as") if asset.values.get("shared_as") else asset.path
            ctx.error(
                "shared_as_duplicate",
                path,
                f'alias "{alias}" is already used by {where(earlier.path, earlier.pos)}.',
                asset.pos,
                input_value=alias,
            )
        else:
            aliases[alias_key] = asset
    types = {asset_of(a).name: a.values.get("type") for a in desired.values()}
    for count, limit, label in share_limit_problems([asset_of(a) for a in desired.values()], types):
        message = f"{count:,} {label}; Databricks allows {limit:,} per share.".replace(",", " ")
        _field_error(ctx, share, limit_key, "share_limit_exceeded", message)


def _check_pipeline(
    ctx: Context,
    share: Outcome[ShareIn],
    pipeline: Outcome[PipelineIn],
    shared: set[str] | None,
    removed: set[str],
    asset_lists_ok: bool,
) -> None:
    """`shared`: names of share_assets + share_assets_to_add (None without a declarative list)."""
    shown = pipeline.name.value if pipeline.name else pipeline.path
    source = pipeline.values.get("source_asset")
    if source is not None and asset_lists_ok:
        if shared is not None and source not in shared:
            message = f'"{source}" is not in this share\'s share_assets.'
            _field_error(
                ctx, pipeline, "source_asset", "pipeline_source_not_in_share", message, source
            )
        if source in removed:
            message = f'"{source}" is being removed from the share.'
            _field_error(ctx, pipeline, "source_asset", "pipeline_source_removed", message, source)
    delta = share_delta(share)
    delta_given = delta is not None or "delta_share" in share.bad
    catalog, schema = _target_schema(pipeline, delta)
    overrides_bad = "ext_catalog_name" in pipeline.bad or "ext_schema_name" in pipeline.bad
    if (
        (catalog is None or schema is None)
        and not overrides_bad
        and not (delta_given and (delta is None or delta.bad))
    ):
        ctx.error(
            "delta_share_required",
            pipeline.path,
            f'pipeline "{shown}" has no ext_catalog_name/ext_schema_name; add delta_share to the share or set '
            "both on the pipeline.",
            pipeline.pos,
        )
    delta_tags = delta.values.get("tags") if delta else None
    if "tags" not in pipeline.bad and not (delta is not None and delta_tags is None and delta.bad):
        tags = pipeline.values.get("tags")
        merged = set(tags or {}) | tag_keys(delta_tags)
        if len(merged) > MAX_TAGS:
            key_path = pipeline.path_of("tags") if tags else pipeline.path
            message = f"{len(merged)} tags after merging delta_share.tags; limit {MAX_TAGS}."
            ctx.error("too_many_tags", key_path, message, pipeline.pos_of("tags"))


def _target_schema(
    pipeline: Outcome[PipelineIn], delta: Outcome[DeltaShareIn] | None
) -> tuple[str | None, str | None]:
    """The catalog and schema a pipeline writes to: its own, else the share's delta_share."""
    own, shared = pipeline.values, delta.values if delta is not None else {}
    catalog = own.get("ext_catalog_name") or shared.get("ext_catalog_name")
    return catalog, own.get("ext_schema_name") or shared.get("ext_schema_name")


def _check_targets(ctx: Context, shares: list[Outcome[ShareIn]]) -> None:
    written: dict[str, Outcome[PipelineIn]] = {}
    for share in shares:
        for pipeline in share_pipelines(share):
            catalog, schema = _target_schema(pipeline, share_delta(share))
            table = pipeline.values.get("target_asset")
            if catalog is None or schema is None or table is None:
                continue
            target = f"{catalog}.{schema}.{table}"
            if pipeline.values.get("source_asset") == target:
                message = f'target "{target}" is the pipeline\'s own source.'
                _field_error(ctx, pipeline, "target_asset", "target_conflict", message, target)
            earlier = written.get(target)
            if earlier is not None:
                message = (
                    f'target "{target}" is already written by {where(earlier.path, earlier.pos)}.'
                )
                _field_error(ctx, pipeline, "target_asset", "target_conflict", message, target)
            else:
                written[target] = pipeline


def _check_recipient_references(
    ctx: Context, recipients: list[Outcome[Any]], shares: list[Outcome[ShareIn]], bad: set[str]
) -> None:
    declared = {r.name.value: r for r in recipients if r.name is not None}
    granted: set[str] = set()
    for share in shares:
        for key in ("recipients", "recipients_to_add"):
            for name in grants(share, key) or []:
                granted.add(name.value)
                if name.value not in declared and "recipient" not in bad:
                    message = (
                        f'recipient "{name.value}" is not declared in this pack; it must already '
                        "exist in the workspace."
                    )
                    ctx.warning(
                        "recipient_not_in_pack",
                        name.path,
                        message,
                        name.pos,
                        input_value=name.value,
                    )
    if "share" in bad:
        return
    for recipient in recipients:
        if recipient.name is not None and recipient.name.value not in granted:
            message = (
                f'recipient "{recipient.name.value}" is not granted on any share of this pack.'
            )
            ctx.warning("recipient_unused", recipient.path, message, recipient.pos)


def _overlaps(
    ctx: Context, to_remove: list[Located] | None, others: list[tuple[list[Located] | None, str]]
) -> None:
    """docs/SHAREPACK.md §9.2: an item in `_to_remove` may not also be in `_to_add` or in the declarative list."""
    if not to_remove:
        return
    for item in to_remove:
        for other, key in others:
            if other is not None and any(entry.value == item.value for entry in other):
                message = f'"{item.value}" is also in {key}.'
                ctx.error("list_overlap", item.path, message, item.pos, input_value=item.value)
                break


def _field_error(
    ctx: Context, entry: Outcome[Any], key: str, code: str, message: str, value: str | None = None
) -> None:
    """An error at the field `key` of a read entry (under the alias it was written with)."""
    ctx.error(code, entry.path_of(key), message, entry.pos_of(key), input_value=value)


def tag_keys(tags: list[str] | None) -> set[str]:
    """Keys of canonical share tags (`key` or `key=value`)."""
    return {split_tag(tag)[0] for tag in tags or []}


def needs_pipeline(asset: Outcome[AssetIn]) -> bool:
    """Table-like entries need a pipeline unless declared as a view-like type, a volume or a model (docs/SHAREPACK.md §7.4)."""
    return asset_of(asset).kind == "table" and asset.values.get("type") not in _PIPELINE_FREE_TYPES
