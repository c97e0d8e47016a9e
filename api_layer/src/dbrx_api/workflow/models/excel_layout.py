"""The canonical Excel layout of a share pack (docs/SHAREPACK.md §14), shared by the reader, writer and template.

A sheet's columns are the fields of its canonical model (models/pack.py) by a few layout rules stated below.
"""

from __future__ import annotations

import re
from typing import get_args

from pydantic import BaseModel

from dbrx_api.workflow.models.pack import (
    Asset,
    CronSchedule,
    DeltaShare,
    Metadata,
    Pipeline,
    Recipient,
    Share,
    TokenRotationPolicy,
)

METADATA_SHEET = "metadata"
RECIPIENT_SHEET = "recipient"
SHARE_SHEET = "share"
PIPELINES_SHEET = "pipelines"
ASSETS_SHEET = "assets"
HELP_SHEET = "help"

CANONICAL_SHEETS: tuple[str, ...] = (
    METADATA_SHEET,
    RECIPIENT_SHEET,
    SHARE_SHEET,
    PIPELINES_SHEET,
    ASSETS_SHEET,
)


def _columns(model: type[BaseModel], **replace: tuple[str, ...]) -> tuple[str, ...]:
    """The model's field names in declaration order, a field named in `replace` swapped for the columns given."""
    return tuple(column for field in model.model_fields for column in replace.get(field, (field,)))


def _holds(annotation: object, model: type[BaseModel]) -> bool:
    """True when `model` appears anywhere in a field type (`Annotated[list[Asset], ...] | None` holds `Asset`)."""
    return annotation is model or any(_holds(arg, model) for arg in get_args(annotation))


# A plain field added to a model is a column of its sheet; only these rules (docs/SHAREPACK.md §14.2) are by hand.

METADATA_FIELDS: tuple[str, ...] = _columns(Metadata)
METADATA_COLUMNS: tuple[str, ...] = ("field", "value")

# A bare `grace_hours` header on the recipient sheet would not say what the grace is of.
_POLICY_COLUMN_NAMES = {"grace_hours": "rotation_grace_hours"}
# Columns of the recipient sheet that together form the recipient's `token_rotation` policy mapping (column -> key).
TOKEN_ROTATION_POLICY_COLUMNS: dict[str, str] = {
    _POLICY_COLUMN_NAMES.get(key, key): key for key in TokenRotationPolicy.model_fields
}
# `token_rotation` itself stays a column (its one-shot true/false form); the policy columns come last.
RECIPIENT_COLUMNS: tuple[str, ...] = (*_columns(Recipient), *TOKEN_ROTATION_POLICY_COLUMNS)

# Columns of the share sheet that together form the share's `delta_share` mapping.
DELTA_SHARE_COLUMNS: tuple[str, ...] = _columns(DeltaShare)
# The share's asset lists: string-form assets in their cell of the share sheet, mapping-form ones as assets rows.
ASSET_LIST_KEYS: tuple[str, ...] = tuple(
    name for name, field in Share.model_fields.items() if _holds(field.annotation, Asset)
)
# `delta_share` flattened into its fields; the pipelines live on the pipelines sheet.
SHARE_COLUMNS: tuple[str, ...] = _columns(Share, delta_share=DELTA_SHARE_COLUMNS, pipelines=())

# Columns of the pipelines sheet that together form the pipeline's `schedule` mapping (column -> key), named
# `schedule_<key>`; `schedule_cron` alone may instead hold the word `continuous` (docs/SHAREPACK.md §14.2).
SCHEDULE_COLUMNS: dict[str, str] = {f"schedule_{key}": key for key in CronSchedule.model_fields}
# `share_name` links a row to its share.
PIPELINE_COLUMNS: tuple[str, ...] = (
    "share_name",
    *_columns(Pipeline, schedule=tuple(SCHEDULE_COLUMNS)),
)

# `share_name` and `list` (one of ASSET_LIST_KEYS) link a row to its share's asset list.
ASSET_COLUMNS: tuple[str, ...] = ("share_name", "list", *_columns(Asset))

# Accepted alternative headers (alias -> canonical column), per sheet. These and the deprecated columns repeat the
# input models' sections (validators/inputs.py), which the models package does not import.
COLUMN_ALIASES: dict[str, dict[str, str]] = {
    METADATA_SHEET: {},
    RECIPIENT_SHEET: {"comment": "description"},
    SHARE_SHEET: {"comment": "description"},
    PIPELINES_SHEET: {"comment": "description"},
    ASSETS_SHEET: {},
}
# Deprecated columns that are ignored with warning `field_deprecated`.
DEPRECATED_COLUMNS: dict[str, frozenset[str]] = {
    METADATA_SHEET: frozenset(),
    RECIPIENT_SHEET: frozenset(),
    SHARE_SHEET: frozenset(),
    PIPELINES_SHEET: frozenset({"prefix_assetname"}),
    ASSETS_SHEET: frozenset(),
}

SHEET_COLUMNS: dict[str, tuple[str, ...]] = {
    METADATA_SHEET: METADATA_COLUMNS,
    RECIPIENT_SHEET: RECIPIENT_COLUMNS,
    SHARE_SHEET: SHARE_COLUMNS,
    PIPELINES_SHEET: PIPELINE_COLUMNS,
    ASSETS_SHEET: ASSET_COLUMNS,
}
# Columns a sheet with data rows must have (`xlsx_column_missing`): the keys naming a row, which a DELETE pack has
# too, not the models' required fields.
REQUIRED_COLUMNS: dict[str, tuple[str, ...]] = {
    METADATA_SHEET: ("field", "value"),
    RECIPIENT_SHEET: ("name",),
    SHARE_SHEET: ("name",),
    PIPELINES_SHEET: ("share_name", "name_prefix"),
    ASSETS_SHEET: ("share_name", "name"),
}

# Maximum characters Excel keeps in one cell; longer list cells are written as rows of the assets sheet.
EXCEL_CELL_MAX_CHARS = 32_767

_HEADER_SEPARATORS = re.compile(r"[ \-]+")


def normalise_header(text: str) -> str:
    """Trim, lower-case and turn each run of spaces or hyphens into `_` (`Share Name` -> `share_name`)."""
    return _HEADER_SEPARATORS.sub("_", text.strip().lower())


def normalise_sheet_name(text: str) -> str:
    """Sheet names are matched case-insensitively after trimming."""
    return text.strip().lower()
