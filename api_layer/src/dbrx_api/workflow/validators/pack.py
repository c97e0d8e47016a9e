"""Offline validation of a located document (stages 2-4) and assembly of the canonical model."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from dbrx_api.workflow.models.issues import Issue, IssueCollector, SourcePos
from dbrx_api.workflow.models.pack import (
    PLACEHOLDER,
    AnySharePack,
    DeleteSharePack,
    Metadata,
    Recipient,
    RecipientRef,
    Share,
    SharePack,
    ShareRef,
)
from dbrx_api.workflow.models.raw import RawMap, RawNode, RawScalar, RawSeq, split_list_text
from dbrx_api.workflow.validators.crossref import check_document, document_parts
from dbrx_api.workflow.validators.inputs import (
    ASSET_LISTS,
    DOCUMENT,
    GRANT_LISTS,
    DocumentIn,
    ShareIn,
    asset_data,
    asset_of,
    grants,
    is_delete,
    share_assets,
    share_delta,
    share_pipelines,
)
from dbrx_api.workflow.validators.lenient import Context, Located, Outcome, run
from dbrx_api.workflow.validators.locator import PackLocator


@dataclass(frozen=True, slots=True)
class ValidationResult:
    """Outcome of offline validation: the model when there is no error, all errors and warnings."""

    model: AnySharePack | None
    errors: list[Issue]
    warnings: list[Issue]
    locator: PackLocator

    @property
    def valid(self) -> bool:
        """True when there is no error."""
        return not self.errors


def validate_document(
    root: RawMap, *, issues: IssueCollector | None = None, allow_local_urls: bool = False
) -> ValidationResult:
    """Validate a parsed document (stages 2-4) and, when it has no error, build the canonical model.

    Args:
        root: the located tree produced by `parse_yaml` or `parse_xlsx`.
        issues: a collector already holding issues found while reading the file (Excel reader issues).
        allow_local_urls: accept `http://127.0.0.1:<port>` workspace URLs (environment `local`).
    """
    collector = issues or IssueCollector()
    ctx = Context(collector)
    doc = run(ctx, DocumentIn, DOCUMENT, root, "", {"allow_local_urls": allow_local_urls})
    check_document(ctx, doc)
    _refuse_placeholders(collector, root)
    locator = _locator(ctx, doc)
    model = None if collector.has_errors else assemble(doc)
    return ValidationResult(
        model=model, errors=collector.errors(), warnings=collector.warnings(), locator=locator
    )


def find_placeholders(node: RawNode, path: str = "") -> list[tuple[str, SourcePos]]:
    """Every scalar (or item of a comma-separated list text) that is still the export's `FILL-ME`, with its path."""
    if isinstance(node, RawMap):
        return [
            found
            for key, entry in node.entries.items()
            for found in find_placeholders(entry.value, f"{path}.{key}" if path else key)
        ]
    if isinstance(node, RawSeq):
        # An item of a list of scalars is reported at the list, as the Excel list cell is (one path for both).
        return [
            found
            for index, item in enumerate(node.items)
            for found in find_placeholders(
                item, path if isinstance(item, RawScalar) else f"{path}[{index}]"
            )
        ]
    # The substring test first: a 5,000-row workbook has 75,000 scalars, and splitting each costs more.
    if (
        node.kind == "str"
        and PLACEHOLDER in node.text
        and PLACEHOLDER in split_list_text(node.text)
    ):
        return [(path, node.pos)]
    return []


def _related(loc: str, path: str) -> bool:
    return any(
        longer == shorter or longer.startswith((f"{shorter}[", f"{shorter}."))
        for longer, shorter in ((loc, path), (path, loc))
    )


def _refuse_placeholders(collector: IssueCollector, root: RawMap) -> None:
    """An unfilled placeholder is one located error `placeholder_unfilled` (docs/SHAREPACK.md §13.4).

    The other errors at the same place (a placeholder is no e-mail address) are dropped: they say less.
    """
    found = find_placeholders(root)
    if not found:
        return
    collector.drop_errors(lambda issue: any(_related(issue.loc, path) for path, _ in found))
    for path, pos in found:
        collector.error(
            "placeholder_unfilled",
            path,
            f"{path} still holds the export placeholder {PLACEHOLDER}: replace it with the real value.",
            pos,
            input_value=PLACEHOLDER,
        )


def _locator(ctx: Context, doc: Outcome[DocumentIn]) -> PackLocator:
    locator = PackLocator(positions=dict(ctx.positions))

    def add[K](paths: dict[K, str], key: K, entry: Located | Outcome[Any]) -> None:
        # The first occurrence keeps the path (a repeat is dropped or reported as a duplicate).
        paths.setdefault(key, entry.path)
        locator.positions.setdefault(entry.path, entry.pos)

    _, recipients, shares = document_parts(doc)
    for recipient in recipients:
        if recipient.name is not None:
            add(locator.recipients, recipient.name.value, recipient)
    for share in shares:
        if share.name is None:
            continue
        name = share.name.value
        add(locator.shares, name, share)
        if is_delete(doc.values):
            continue
        for list_key in ASSET_LISTS:
            for asset in share_assets(share, list_key) or []:
                add(locator.assets, (name, list_key, asset_of(asset).name), asset)
        for list_key in GRANT_LISTS:
            for grant in grants(share, list_key) or []:
                add(locator.grants, (name, list_key, grant.value), grant)
        for pipeline in share_pipelines(share):
            if pipeline.name is not None:
                add(locator.pipelines, pipeline.name.value.lower(), pipeline)
    return locator


def _dump(read: Outcome[Any]) -> dict[str, Any]:
    """The values of an error-free section (those of its model, without a serialisation round)."""
    return {key: value for key, value in read.values.items() if value is not None}


def assemble(doc: Outcome[DocumentIn]) -> AnySharePack:
    """Build the canonical model from an error-free read document (sorting happens in the models)."""
    metadata_read, recipients, shares = document_parts(doc)
    assert metadata_read is not None  # noqa: S101 - a missing metadata mapping is an error
    metadata = Metadata.model_validate(_dump(metadata_read))
    if is_delete(doc.values):
        return DeleteSharePack(
            metadata=metadata,
            recipient=[RecipientRef(name=r.name.value) for r in recipients if r.name is not None],
            share=[_share_ref(share) for share in shares],
        )
    return SharePack(
        metadata=metadata,
        recipient=[Recipient.model_validate(_dump(r)) for r in recipients],
        share=[Share.model_validate(_share_values(share)) for share in shares],
    )


def _share_ref(share: Outcome[Any]) -> ShareRef:
    assert share.name is not None  # noqa: S101
    names: list[Located] | None = share.values.get("pipelines")
    return ShareRef(name=share.name.value, pipelines=[p.value for p in names] if names else None)


def _share_values(share: Outcome[ShareIn]) -> dict[str, Any]:
    # Plain fields pass as read (a new one needs no edit here); the nested sections are turned into their values.
    nested = {*ASSET_LISTS, *GRANT_LISTS, "delta_share", "pipelines"}
    values = {key: value for key, value in share.values.items() if key not in nested}
    for key in ASSET_LISTS:
        assets = share_assets(share, key)
        if assets is not None:
            values[key] = [asset_data(asset) for asset in assets]
    for key in GRANT_LISTS:
        names = grants(share, key)
        if names is not None:
            values[key] = [name.value for name in names]
    delta = share_delta(share)
    if delta is not None:
        values["delta_share"] = _dump(delta)
    if share_pipelines(share):
        values["pipelines"] = [_dump(pipeline) for pipeline in share_pipelines(share)]
    return {key: value for key, value in values.items() if value is not None}
