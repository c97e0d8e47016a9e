"""Offline validation of a located document (stages 2-4) and assembly of the canonical model."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from dbrx_api.workflow.models.issues import Issue, IssueCollector
from dbrx_api.workflow.models.pack import (
    AnySharePack,
    DeleteSharePack,
    Metadata,
    Recipient,
    RecipientRef,
    Share,
    SharePack,
    ShareRef,
)
from dbrx_api.workflow.models.raw import RawMap
from dbrx_api.workflow.validators.crossref import check_document
from dbrx_api.workflow.validators.locator import PackLocator
from dbrx_api.workflow.validators.reader import Context
from dbrx_api.workflow.validators.structure import (
    ASSET_LISTS,
    GRANT_LISTS,
    DocumentDraft,
    ShareDraft,
    read_document,
)


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
    ctx = Context(collector, allow_local_urls=allow_local_urls)
    draft = read_document(ctx, root)
    check_document(ctx, draft)
    locator = _locator(ctx, draft)
    model = None if collector.has_errors else assemble(draft)
    return ValidationResult(
        model=model, errors=collector.errors(), warnings=collector.warnings(), locator=locator
    )


def _locator(ctx: Context, draft: DocumentDraft) -> PackLocator:
    locator = PackLocator(positions=dict(ctx.positions))
    for recipient in draft.recipients:
        if recipient.name is not None:
            locator.recipients.setdefault(recipient.name.value, recipient.path)
            locator.positions.setdefault(recipient.path, recipient.pos)
    for share in draft.shares:
        if share.name is None:
            continue
        name = share.name.value
        locator.shares.setdefault(name, share.path)
        locator.positions.setdefault(share.path, share.pos)
        for list_key, assets in share.assets.items():
            for asset in assets:
                locator.assets.setdefault((name, list_key, asset.asset.name), asset.path)
                locator.positions.setdefault(asset.path, asset.pos)
        for list_key, grants in share.grants.items():
            for grant in grants:
                locator.grants.setdefault((name, list_key, grant.value), grant.path)
                locator.positions.setdefault(grant.path, grant.pos)
        for pipeline in share.pipelines or []:
            if pipeline.name is not None:
                locator.pipelines.setdefault(pipeline.name.value.lower(), pipeline.path)
                locator.positions.setdefault(pipeline.path, pipeline.pos)
    return locator


def _clean(values: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in values.items() if value is not None}


def assemble(draft: DocumentDraft) -> AnySharePack:
    """Build the canonical model from error-free drafts (sorting happens in the models)."""
    assert draft.metadata is not None  # noqa: S101 - a missing metadata mapping is an error
    metadata = Metadata.model_validate(draft.metadata.values)
    if draft.delete:
        return DeleteSharePack(
            metadata=metadata,
            recipient=[
                RecipientRef(name=r.name.value) for r in draft.recipients if r.name is not None
            ],
            share=[_share_ref(share) for share in draft.shares],
        )
    return SharePack(
        metadata=metadata,
        recipient=[Recipient.model_validate(_clean(r.values)) for r in draft.recipients],
        share=[Share.model_validate(_share_values(share)) for share in draft.shares],
    )


def _share_ref(share: ShareDraft) -> ShareRef:
    assert share.name is not None  # noqa: S101
    pipelines = [p.value for p in share.pipeline_names] if share.pipeline_names else None
    return ShareRef(name=share.name.value, pipelines=pipelines)


def _share_values(share: ShareDraft) -> dict[str, Any]:
    values = dict(share.values)
    for key in ASSET_LISTS:
        if key in share.assets:
            values[key] = [asset.data for asset in share.assets[key]]
    for key in GRANT_LISTS:
        if key in share.grants:
            values[key] = [name.value for name in share.grants[key]]
    if share.delta_share is not None:
        values["delta_share"] = _clean(share.delta_share.data)
    if share.pipelines:
        values["pipelines"] = [_clean(pipeline.data) for pipeline in share.pipelines]
    return _clean(values)
